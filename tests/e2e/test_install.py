"""The install manifests: accepted by the real apiserver, and their RBAC is
enough. The operator runs with a token of exactly the installed
ServiceAccount (as it would in the cluster) through a whole binding's life
and a pod's admission, with no permission to spare."""

from __future__ import annotations

import json
import os

from arbutil import binding, is_ready, member, wi_members
from cluster import REPO, Operator, eventually, free_port

OPERATOR_NS = "gtoken-system"


def test_manifests_pass_server_side_dry_run(cp):
    cp.kubectl("create", "namespace", OPERATOR_NS)
    for target in ("config/default", "config/overlays/example"):
        out = cp.kubectl("apply", "--dry-run=server", "-k", os.path.join(REPO, target))
        for kind in ("customresourcedefinition.apiextensions.k8s.io/awsrolebindings.gtoken.io",
                     "deployment.apps/gtoken-operator", "clusterrole.rbac.authorization.k8s.io/gtoken-operator",
                     "mutatingwebhookconfiguration.admissionregistration.k8s.io/gtoken-webhook",
                     "poddisruptionbudget.policy/gtoken-operator", "service/gtoken-webhook"):
            assert kind in out, f"{target}: {kind} missing from\n{out}"


def test_rbac_has_no_wildcards():
    import yaml
    for name in ("clusterrole.yaml", "role.yaml"):
        role = yaml.safe_load(open(os.path.join(REPO, "config", "rbac", name)))
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(field, []), (name, rule)


def test_tenants_manage_bindings_but_never_policies_or_status(cp):
    """A namespace's editors get gtoken-binding-editor (aggregated into `edit`
    and `admin` by the controller-manager; bound directly here, where none
    runs): they may write the namespace's AwsRoleBindings, not their status,
    and no AwsRoleBindingPolicy."""
    import yaml
    roles = {d["metadata"]["name"]: d for d in yaml.safe_load_all(
        open(os.path.join(REPO, "config", "rbac", "user-roles.yaml")))}
    labels = roles["gtoken-binding-editor"]["metadata"]["labels"]
    assert labels["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert labels["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    cp.kubectl("apply", "-f", os.path.join(REPO, "config", "rbac", "user-roles.yaml"))
    ns = cp.create_namespace("tenant")
    cp.kubectl("create", "rolebinding", "alice-edit", "-n", ns,
               "--clusterrole=gtoken-binding-editor", "--user=alice")

    def can(*args) -> bool:
        out = cp.kubectl("auth", "can-i", *args, "--as=alice", check=False).strip()
        return out.splitlines()[-1] == "yes" if out else False
    eventually(lambda: can("create", "awsrolebindings.gtoken.io", "-n", ns), 30,
               what="alice's RoleBinding in effect")
    assert can("delete", "awsrolebindings.gtoken.io", "-n", ns)
    assert not can("update", "awsrolebindings.gtoken.io", "--subresource=status", "-n", ns)
    assert not can("create", "awsrolebindingpolicies.gtoken.io")
    assert not can("update", "awsrolebindingpolicies.gtoken.io")
    assert not can("create", "awsrolebindings.gtoken.io", "-n", "default")


def sa_kubeconfig(cp, path: str) -> str:
    """A kubeconfig holding a token of the installed ServiceAccount."""
    token = cp.kubectl("create", "token", "gtoken-operator", "-n", OPERATOR_NS,
                       "--duration=2h").strip()
    admin = json.loads(cp.kubectl("config", "view", "--raw", "-o", "json"))
    cluster = admin["clusters"][0]["cluster"]
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "sa",
           "clusters": [{"name": "c", "cluster": cluster}],
           "users": [{"name": "sa", "user": {"token": token}}],
           "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa",
                                                   "namespace": OPERATOR_NS}}]}
    with open(path, "w") as f:
        json.dump(cfg, f)
    os.chmod(path, 0o600)
    return path


class SaOperator(Operator):
    def __init__(self, *a, kubeconfig: str, **kw):
        super().__init__(*a, **kw)
        self.sa_kubeconfig = kubeconfig

    def command(self):
        cmd = super().command()
        cmd[cmd.index("--kubeconfig") + 1] = self.sa_kubeconfig
        return cmd


def test_operator_works_with_exactly_the_installed_rbac(cp, google):
    if cp.get("namespace", OPERATOR_NS) is None:
        cp.kubectl("create", "namespace", OPERATOR_NS)
    cp.kubectl("apply", "-k", os.path.join(REPO, "config", "default"))
    port = free_port()
    # URL mode for this loopback apiserver; everything else as installed.
    cp.kubectl("patch", "mutatingwebhookconfiguration", "gtoken-webhook", "--type=json", "-p",
               json.dumps([{"op": "replace", "path": "/webhooks/0/clientConfig",
                            "value": {"url": f"https://127.0.0.1:{port}/mutate"}}]))
    kubeconfig = sa_kubeconfig(cp, os.path.join(cp.dir, "operator-sa.kubeconfig"))
    gsa = google.create_sa("installed")["email"]
    ns = cp.create_namespace("rbac")
    # The lease flags in the spelling of releases before #14 (whole seconds,
    # as an overlay written for one would pass them): they still work, and
    # each says once what to write instead.
    args = ["--namespace", OPERATOR_NS, "--webhook-port", str(port),
            "--webhook-bind-address", "127.0.0.1", "--webhook-extra-ip", "127.0.0.1",
            "--lease-duration-seconds", "6", "--renew-deadline-seconds", "4",
            "--retry-period-seconds", "1"]
    with SaOperator(cp, google, args=args, kubeconfig=kubeconfig, name="installed") as op:
        # Controller: a binding with a KSA that does not exist yet.
        cp.apply(binding("app", ns, "app-sa", gsa))
        eventually(lambda: is_ready(cp.get("awsrolebinding", "app", ns)), 90,
                   what="binding Ready under the installed RBAC\n" + op.logs()[-3000:])
        assert member(ns, "app-sa") in wi_members(google, gsa)
        deprecated = [rec for rec in (json.loads(line) for line in op.logs().splitlines()
                                      if line.startswith("{"))
                      if "deprecated" in rec]
        assert sorted((rec["level"], rec["deprecated"], rec["use"]) for rec in deprecated) == [
            ("warn", "--lease-duration-seconds=6", "--lease-duration=6s"),
            ("warn", "--renew-deadline-seconds=4", "--renew-deadline=4s"),
            ("warn", "--retry-period-seconds=1", "--retry-period=1s")], op.logs()[-3000:]

        # Webhook: its certificate Secret, caBundle, and a mutated pod.
        def mutated():
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"generateName": "app-", "namespace": ns},
                   "spec": {"serviceAccountName": "app-sa",
                            "containers": [{"name": "app", "image": "busybox"}]}}
            stored = json.loads(cp.kubectl("create", "-o", "json", "-f", "-",
                                           input=json.dumps(pod)))
            names = [c["name"] for c in stored["spec"].get("initContainers", []) +
                     stored["spec"]["containers"]]
            if not {"gtoken", "gtoken-init"} & set(names):
                cp.kubectl("delete", "pod", "-n", ns, stored["metadata"]["name"], "--wait=false")
                return None
            return stored
        stored = eventually(mutated, 90, interval=1,
                            what="an injected pod under the installed RBAC\n" + op.logs()[-3000:])
        # --native-sidecars=auto, as installed: native from 1.33, the classic
        # pair (init container + sidecar) before.
        shape = ([c["name"] for c in stored["spec"]["initContainers"]],
                 [c["name"] for c in stored["spec"]["containers"]])
        if cp.native_sidecars_auto():
            assert shape == (["gtoken"], ["app"]), shape
        else:
            assert shape == (["gtoken-init"], ["app", "gtoken"]), shape

        # Cleanup: the KSA gtoken created goes, the member goes, the object goes.
        cp.kubectl("delete", "awsrolebinding", "app", "-n", ns, "--wait=false")
        eventually(lambda: cp.get("awsrolebinding", "app", ns) is None, 90,
                   what="binding deleted\n" + op.logs()[-3000:])
        assert cp.get("serviceaccount", "app-sa", ns) is None
        assert member(ns, "app-sa") not in wi_members(google, gsa)
        logs = op.logs()
        assert "forbidden" not in logs.lower(), logs[-3000:]
