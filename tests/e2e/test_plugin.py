"""kubectl gtoken (the kubectl plugin kubectl-gtoken) against a real
kube-apiserver, through kubectl's own plugin lookup, with the chain of
test_chain.py: the operator reconciles a binding, the webhook mutates a pod,
and the pod's agent container runs as a host process.

One test per failing link, each breaking exactly that link and checking
that it is the first one the plugin reports broken, with a fix. There is no
kubelet here, so two things stand in for the node and are written by the
test: the pod's status (what the kubelet would report for the agent
container, through the status subresource), and `kubectl exec` (the
plugin's --kubectl names a script that runs the command the plugin asked
for, `gtoken probe --claims`, against the host-run agent's token file,
with the pod's mounts mapped as chain.PodProcesses maps them). What a real
node adds (the exec through the kubelet, the kubelet's own statuses) is left
to tests/node."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest
import yaml

from arbutil import binding, wait_ready
from chain import AGENT_BIN, ChainSetup, create_pod, app_pod_manifest
from cluster import BUILD, eventually
from standins.harness import google_trust_policy

PLUGIN_DIR = os.path.join(BUILD, "plugin")


@pytest.fixture(scope="module")
def chain(cp, tmp_path_factory):
    with ChainSetup(cp, str(tmp_path_factory.mktemp("plugin")), id_token_lifetime=600,
                    max_credential_seconds=900, ns_prefix="plugin") as c:
        yield c


def agent_status(started: bool = True, restarts: int = 0) -> dict:
    return {"name": "gtoken", "image": "gtoken:latest", "imageID": "", "ready": started,
            "started": started, "restartCount": restarts,
            "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}


def report_status(cp, pod: dict, native: bool, started: bool = True):
    """What the kubelet would report for a running pod whose agent started."""
    app = {"name": "app", "image": "registry.example/chain/app:1", "imageID": "",
           "ready": started, "started": started, "restartCount": 0,
           "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}}}
    status = {"phase": "Running", "containerStatuses": [app]}
    if native:
        status["initContainerStatuses"] = [agent_status(started)]
    else:
        status["containerStatuses"].append(agent_status(started))
    cp.kubectl("patch", "pod", pod["metadata"]["name"], "-n", pod["metadata"]["namespace"],
               "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))


@pytest.fixture(scope="module")
def fake_exec(chain, tmp_path_factory):
    """A stand-in for `kubectl exec` into the chain's pod: checks it is asked
    for that pod's agent container, then runs the asked command on the host
    (/gtoken is the build's agent, the container's mounts are the host dirs
    the running agent writes to)."""
    d = tmp_path_factory.mktemp("exec")
    agent = chain.run.agent_container()
    spec = {"namespace": chain.ns, "pod": chain.pod["metadata"]["name"], "container": "gtoken",
            "agent": AGENT_BIN, "mounts": chain.run.mounts(agent)}
    (d / "spec.json").write_text(json.dumps(spec))
    (d / "calls.log").write_text("")
    script = d / "kubectl"
    script.write_text(f"""#!{sys.executable}
import json, os, subprocess, sys
spec = json.load(open({str(d / 'spec.json')!r}))
args = sys.argv[1:]
open({str(d / 'calls.log')!r}, "a").write(json.dumps(args) + "\\n")
args = [a for a in args if not a.startswith(("--kubeconfig=", "--context="))]
i = args.index("--")
want = ["exec", "--namespace=" + spec["namespace"], spec["pod"], "--container=" + spec["container"]]
if args[:i] != want:
    sys.exit("fake kubectl: unexpected " + " ".join(args[:i]))
cmd = args[i + 1:]
if cmd[0] == "/gtoken":
    cmd[0] = spec["agent"]
for j, a in enumerate(cmd):
    for mp, host in spec["mounts"]:
        a = a.replace("=" + mp + "/", "=" + host + "/")
    cmd[j] = a
sys.exit(subprocess.run(cmd, env={{"PATH": "/usr/bin:/bin"}}).returncode)
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), d / "calls.log"


def gtoken(cp, *args: str, kubeconfig: str | None = None) -> tuple[int, dict | str, str]:
    """`kubectl gtoken ARGS` through kubectl's plugin lookup (kubectl-gtoken on
    PATH); -o json output parsed."""
    env = dict(os.environ, KUBECONFIG=kubeconfig or cp.kubeconfig,
               PATH=PLUGIN_DIR + os.pathsep + cp.bin + os.pathsep + os.environ["PATH"])
    p = subprocess.run([os.path.join(cp.bin, "kubectl"), "gtoken", *args], env=env,
                       capture_output=True, text=True, timeout=90)
    out: dict | str = p.stdout
    if "-o" in args and args[args.index("-o") + 1] == "json":
        out = json.loads(p.stdout)
    return p.returncode, out, p.stderr


def first_broken(report: dict) -> dict:
    """The first link that fails (links before it hold, do not apply, or could
    not be judged for want of what it depends on)."""
    broken = [l for l in report["links"] if l["state"] == "fail"]
    assert broken and not report["ok"], report
    assert broken[0].get("fix"), broken[0]
    return broken[0]


def doctor_pod(cp, ns: str, name: str, *extra: str, kubeconfig: str | None = None) -> tuple[int, dict]:
    code, report, err = gtoken(cp, "doctor", "pod", name, "-n", ns, "-o", "json", *extra,
                               kubeconfig=kubeconfig)
    assert isinstance(report, dict), err
    assert code == (0 if report["ok"] else 1), (code, report, err)
    return code, report


@pytest.fixture(scope="module")
def running(chain, cp):
    report_status(cp, chain.pod, "gtoken" in [c["name"] for c in
                                             chain.pod["spec"].get("initContainers", [])])
    return chain


def test_every_link_holds(cp, running, fake_exec):
    kubectl, calls = fake_exec
    code, report = doctor_pod(cp, running.ns, running.pod["metadata"]["name"], "--kubectl", kubectl)
    assert code == 0, json.dumps(report, indent=1)
    links = {l["id"]: l for l in report["links"]}
    assert list(links) == ["namespace", "serviceAccount", "policy", "binding", "injected",
                           "agent", "claims", "trustPolicy"]
    assert "by binding uploader" in links["serviceAccount"]["detail"]
    assert "e2e-allow-all" in links["policy"]["detail"]
    uid = running.binding["status"]["gcpServiceAccountUniqueId"]
    assert f"sub {uid}" in links["claims"]["detail"]
    assert running.gsa["email"] in links["claims"]["detail"]
    assert "allows sts:AssumeRoleWithWebIdentity for accounts.google.com" in links["trustPolicy"]["detail"]
    # The claims came from inside "the pod", asked for exactly as kubectl exec takes it ...
    asked = [json.loads(l) for l in calls.read_text().splitlines()][-1]
    assert asked[asked.index("--") + 1:][:3] == ["/gtoken", "probe", "--claims"]
    # ... and the token itself is printed nowhere.
    token = open(running.env["AWS_WEB_IDENTITY_TOKEN_FILE"]).read()
    _, text, _ = gtoken(cp, "doctor", "pod", running.pod["metadata"]["name"], "-n", running.ns,
                        "--kubectl", kubectl)
    for part in token.split("."):
        assert part not in json.dumps(report) and part not in text
    assert "\u2713" in text and "\x1b[" not in text  # no colour off a terminal


def stand_in_sessions(sts, session_name: str) -> list[dict]:
    """The STS stand-in's own records of the sessions of that name,
    credentials included (it runs in this process), to look for them in
    what the plugin printed."""
    with sts.server.app.lock:
        return [dict(v) for v in sts.server.app.sessions.values()
                if v["session_name"] == session_name]


def test_sts_assumes_the_role_from_inside_the_pod(cp, running, fake_exec):
    """doctor pod --sts: the agent's probe --sts run through kubectl exec does
    a real AssumeRoleWithWebIdentity against the STS stand-in; the assumed
    role is reported, the session's credentials appear nowhere."""
    kubectl, calls = fake_exec
    name = running.pod["metadata"]["name"]
    args = ("--kubectl", kubectl, "--sts", "--sts-endpoint", running.sts.url)
    code, report = doctor_pod(cp, running.ns, name, *args)
    assert code == 0, json.dumps(report, indent=1)
    links = {l["id"]: l for l in report["links"]}
    assert list(links)[-2:] == ["trustPolicy", "sts"]
    assert links["sts"]["title"] == "AssumeRoleWithWebIdentity from inside the pod"
    assumed = f"arn:aws:sts::{running.role.split(':')[4]}:assumed-role/chain-uploader/gtoken-doctor"
    assert f"assumed {assumed}" in links["sts"]["detail"]
    assert f"STS at {running.sts.url} (--sts-endpoint)" in links["sts"]["detail"]
    asked = [json.loads(l) for l in calls.read_text().splitlines()][-1]
    cmd = asked[asked.index("--") + 1:]
    assert cmd[:3] == ["/gtoken", "probe", "--sts"]
    assert f"--role-arn={running.role}" in cmd and f"--sts-endpoint={running.sts.url}" in cmd
    # Neither the credentials STS issued nor the token are printed, in either
    # output format.
    _, text, err = gtoken(cp, "doctor", "pod", name, "-n", running.ns, *args)
    assert "\u2713" in text and "AssumeRoleWithWebIdentity from inside the pod" in text
    sessions = stand_in_sessions(running.sts, "gtoken-doctor")
    assert len(sessions) >= 2  # one per run above
    token = open(running.env["AWS_WEB_IDENTITY_TOKEN_FILE"]).read()
    printed = json.dumps(report) + text + err
    for secret in ("AccessKeyId", "SecretAccessKey", "SessionToken", *token.split("."),
                   *(s[k] for s in sessions for k in ("access_key_id", "secret", "token"))):
        assert secret not in printed
    # Without --sts the link is not there at all.
    _, plain = doctor_pod(cp, running.ns, name, "--kubectl", kubectl)
    assert "sts" not in [l["id"] for l in plain["links"]]


def test_sts_refuses_by_trust_policy(cp, running, fake_exec):
    """The role's trust policy in AWS pins another sub than the binding's
    status says (edited by hand in IAM): the plugin's own evaluation of the
    binding's policy holds, STS's answer does not, and the plugin reports
    STS's AccessDenied with its exact message."""
    kubectl, _ = fake_exec
    name = running.pod["metadata"]["name"]
    running.sts.add_role(running.role, google_trust_policy("999999999999999999999",
                                                           oaud=running.audience))
    try:
        code, report = doctor_pod(cp, running.ns, name, "--kubectl", kubectl, "--sts",
                                  "--sts-endpoint", running.sts.url)
    finally:
        running.sts.add_role(running.role, running.trust)
    assert code == 1
    broken = first_broken(report)
    assert broken["id"] == "sts"
    links = {l["id"]: l for l in report["links"]}
    assert links["trustPolicy"]["state"] == "pass"
    assert ("answered AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity"
            in broken["detail"])
    assert "kubectl gtoken trust-policy uploader" in broken["fix"]


def test_no_policy(cp, chain):
    """A binding of a GSA no policy allows (another project): the policy link
    names the refusal."""
    cp.apply(binding("refused", chain.ns, "refused", "refused-sa@other-project.iam.gserviceaccount.com"))
    b = eventually(lambda: (lambda o: o if o and any(
        c["reason"] == "NotAllowed" for c in o.get("status", {}).get("conditions", [])) else None)(
        cp.get("awsrolebinding", "refused", chain.ns)), 60, what="refused binding NotAllowed")
    code, report, _ = gtoken(cp, "doctor", "binding", "refused", "-n", chain.ns, "-o", "json")
    assert code == 1
    broken = first_broken(report)
    assert broken["id"] == "policy", report
    assert "other-project" in broken["detail"] and "AwsRoleBindingPolicy" in broken["fix"]
    assert b["metadata"]["name"] == "refused"


def test_wrong_annotation(cp, chain):
    """A ServiceAccount annotated by hand with something that is no role ARN."""
    cp.apply({"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": {"name": "typo", "namespace": chain.ns,
                           "annotations": {"amazonaws.com/role-arn": "arn:aws:iam::12345:role/x",
                                           "iam.gke.io/gcp-service-account":
                                               chain.gsa["email"]}}})
    pod = create_pod(cp, app_pod_manifest(chain.ns, "typo", "typo-"))
    _, report = doctor_pod(cp, chain.ns, pod["metadata"]["name"])
    broken = first_broken(report)
    assert broken["id"] == "serviceAccount", report
    assert "is not an IAM role ARN" in broken["detail"]
    links = {l["id"]: l for l in report["links"]}
    assert links["injected"]["state"] == "fail" and "InvalidRoleArn" in links["injected"]["detail"]


def test_annotation_names_a_binding_that_is_gone(cp, chain):
    cp.apply({"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": {"name": "orphan", "namespace": chain.ns,
                           "annotations": {"amazonaws.com/role-arn": chain.role,
                                           "iam.gke.io/gcp-service-account": chain.gsa["email"],
                                           "gtoken.io/binding": "ghost"}}})
    pod = create_pod(cp, app_pod_manifest(chain.ns, "orphan", "orphan-"))
    _, report = doctor_pod(cp, chain.ns, pod["metadata"]["name"])
    broken = first_broken(report)
    assert broken["id"] == "binding", report
    assert "ghost, which does not exist" in broken["detail"]


def test_pod_created_before_the_binding(cp, chain, google_gsa_for_early):
    ns = chain.ns
    cp.apply({"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": {"name": "early", "namespace": ns}})
    pod = create_pod(cp, app_pod_manifest(ns, "early", "early-"))
    assert "gtoken" not in json.dumps(pod["spec"])
    time.sleep(1.1)  # creation timestamps have whole seconds
    cp.apply(binding("early", ns, "early", google_gsa_for_early, role=chain.role))
    wait_ready(cp, "early", ns, op=chain.operator)
    _, report = doctor_pod(cp, ns, pod["metadata"]["name"])
    broken = first_broken(report)
    assert broken["id"] == "injected", report
    assert "before its binding was Ready" in broken["detail"]
    assert "rollout restart" in broken["fix"]
    assert all(l["state"] == "not checked" for l in report["links"][5:]), report


@pytest.fixture
def google_gsa_for_early(chain):
    return chain.google.create_sa("early-uploader")["email"]


def test_agent_not_started(cp, chain, tmp_path):
    """The agent runs but its startup probe has not passed (no token yet)."""
    pod = chain._create_mutated_pod(app_pod_manifest(chain.ns, chain.ksa, "noprobe-"))
    native = "gtoken" in [c["name"] for c in pod["spec"].get("initContainers", [])]
    report_status(cp, pod, native, started=False)
    _, report = doctor_pod(cp, chain.ns, pod["metadata"]["name"], "--no-exec")
    broken = first_broken(report)
    assert broken["id"] == "agent", report
    assert "startup probe not passed" in broken["detail"]
    assert f"kubectl logs {pod['metadata']['name']} -n {chain.ns} -c gtoken" in broken["fix"]


def trust_policy_file(tmp_path, policy: dict) -> str:
    p = tmp_path / "trust.json"
    p.write_text(json.dumps(policy))
    return str(p)


def test_trust_policy_with_the_wrong_sub(cp, running, fake_exec, tmp_path):
    kubectl, _ = fake_exec
    policy = json.loads(running.binding["status"]["awsTrustPolicy"])
    cond = policy["Statement"][0]["Condition"]["StringEquals"]
    cond["accounts.google.com:sub"] = "100000000000000000000"
    del cond["accounts.google.com:aud"]
    _, report = doctor_pod(cp, running.ns, running.pod["metadata"]["name"], "--kubectl", kubectl,
                           "--trust-policy", trust_policy_file(tmp_path, policy))
    broken = first_broken(report)
    assert broken["id"] == "trustPolicy", report
    uid = running.binding["status"]["gcpServiceAccountUniqueId"]
    assert f'accounts.google.com:sub: the token has ["{uid}"]' in broken["detail"]
    assert "100000000000000000000" in broken["detail"]
    assert "kubectl gtoken trust-policy uploader" in broken["fix"]


def test_trust_policy_with_the_wrong_audience(cp, running, fake_exec, tmp_path):
    kubectl, _ = fake_exec
    policy = json.loads(running.binding["status"]["awsTrustPolicy"])
    policy["Statement"][0]["Condition"]["StringEquals"]["accounts.google.com:oaud"] = "other"
    _, report = doctor_pod(cp, running.ns, running.pod["metadata"]["name"], "--kubectl", kubectl,
                           "--trust-policy", trust_policy_file(tmp_path, policy))
    broken = first_broken(report)
    assert broken["id"] == "trustPolicy", report
    assert (f'accounts.google.com:oaud: the token has ["{running.audience}"], the policy wants '
            '["other"]') in broken["detail"]


def test_doctor_binding_and_trust_policy(cp, chain):
    code, report, _ = gtoken(cp, "doctor", "binding", "uploader", "-n", chain.ns, "-o", "json")
    assert code == 0, report
    code, out, _ = gtoken(cp, "trust-policy", "uploader", "-n", chain.ns)
    assert code == 0 and json.loads(out) == json.loads(chain.binding["status"]["awsTrustPolicy"])
    code, out, _ = gtoken(cp, "trust-policy", "uploader", "-n", chain.ns, "-o", "yaml")
    assert code == 0 and yaml.safe_load(out) == json.loads(chain.binding["status"]["awsTrustPolicy"])
    code, _, err = gtoken(cp, "trust-policy", "refused", "-n", chain.ns)
    assert code == 1 and "NotAllowed" in err


def test_callers_rbac_not_the_operators(cp, running):
    chain = running
    """A user who may read pods, ServiceAccounts and bindings in the namespace
    but not the cluster's policies, namespaces or exec: the plugin says which
    links it could not check, and never succeeds on what it did not see."""
    user = "plugin-reader"
    cp.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
              "metadata": {"name": user, "namespace": chain.ns},
              "rules": [{"apiGroups": [""], "resources": ["pods", "serviceaccounts"],
                         "verbs": ["get", "list"]},
                        {"apiGroups": ["gtoken.io"], "resources": ["awsrolebindings"],
                         "verbs": ["get", "list"]}]})
    cp.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
              "metadata": {"name": user, "namespace": chain.ns},
              "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
              "subjects": [{"kind": "User", "name": user}]})
    kc = cp.client_kubeconfig(user)
    code, report = doctor_pod(cp, chain.ns, chain.pod["metadata"]["name"], "--no-exec",
                              kubeconfig=kc)
    links = {l["id"]: l for l in report["links"]}
    assert code == 1
    assert links["namespace"]["state"] == "not checked" and "RBAC" in links["namespace"]["detail"]
    assert links["policy"]["state"] == "pass" and "RBAC" in links["policy"]["detail"]
    assert links["serviceAccount"]["state"] == "pass"


def test_status(cp, chain):
    """The chain's operator runs as a host process (no Deployment) without
    leader election (no Lease): those two links are broken and named; the
    certificate links hold, from the Secret, the configuration's caBundle
    and the replica's report. Then a replica report naming a CA the
    caBundle does not hold breaks exactly the caBundle link."""
    args = ("status", "--operator-namespace", chain.operator_ns,
            "--webhook-config-name", f"gtoken-webhook-{chain.ns}", "-o", "json")
    code, report, err = gtoken(cp, *args)
    assert code == 1, err
    links = {l["id"]: l for l in report["links"]}
    assert [l["id"] for l in report["links"] if l["state"] != "pass" and
            l["id"] != "bindings"] == ["replicas", "leader"], report
    assert "Deployment gtoken-operator not found" in links["replicas"]["detail"]
    assert "Lease gtoken-operator not found" in links["leader"]["detail"]
    assert links["caBundle"]["detail"] == "the replica matches"
    secret = cp.get("secret", "gtoken-webhook-cert", chain.operator_ns)
    assert secret is not None and "expires in 29 d" in links["servingCertificate"]["detail"]
    not_ready = [b["metadata"]["name"] for b in json.loads(cp.kubectl(
        "get", "awsrolebindings", "-A", "-o", "json"))["items"]
        if not any(c["type"] == "Ready" and c["status"] == "True"
                   for c in b.get("status", {}).get("conditions", []))]
    assert (links["bindings"]["state"] == "pass") == (not not_ready)
    assert all(f"/{n}" in links["bindings"]["detail"] for n in not_ready), links["bindings"]

    # A live replica serving a certificate of another CA.
    renew = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    cp.apply({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
              "metadata": {"name": "gtoken-webhook-ghost", "namespace": chain.operator_ns,
                           "labels": {"gtoken.io/webhook-replica": "true"},
                           "annotations": {"gtoken.io/serving-ca-sha256": "ab" * 32,
                                           "gtoken.io/serving-cert-sha256": "cd" * 32}},
              "spec": {"holderIdentity": "ghost-replica", "leaseDurationSeconds": 300,
                       "renewTime": renew}})
    try:
        code, report, _ = gtoken(cp, *args)
        links = {l["id"]: l for l in report["links"]}
        assert links["caBundle"]["state"] == "fail", report
        assert links["caBundle"]["detail"].startswith("ghost-replica serves")
        assert links["ca"]["state"] == links["servingCertificate"]["state"] == "pass"
    finally:
        cp.kubectl("delete", "lease", "gtoken-webhook-ghost", "-n", chain.operator_ns,
                   "--ignore-not-found")


def test_kubernetes_token_source_has_no_agent_links(cp, chain):
    """A tokenSource Kubernetes binding: the pod gets a projected token and no
    agent, so the agent, claims and trust policy links do not apply and the
    rest hold."""
    cp.apply({"apiVersion": "gtoken.io/v1alpha1", "kind": "AwsRoleBinding",
              "metadata": {"name": "projected", "namespace": chain.ns},
              "spec": {"serviceAccountName": "projected", "tokenSource": "Kubernetes",
                       "awsRoleArn": chain.role}})
    wait_ready(cp, "projected", chain.ns, op=chain.operator)
    pod = eventually(lambda: (lambda p: p if "aws-iam-token" in json.dumps(p["spec"]) else
                              cp.kubectl("delete", "pod", "-n", chain.ns, p["metadata"]["name"],
                                         "--wait=false") and None)(
        create_pod(cp, app_pod_manifest(chain.ns, "projected", "projected-"))),
        60, interval=1, what="pod with the projected token")
    code, report = doctor_pod(cp, chain.ns, pod["metadata"]["name"])
    links = {l["id"]: l for l in report["links"]}
    assert code == 0, report
    assert "token source Kubernetes, by binding projected" in links["serviceAccount"]["detail"]
    assert links["injected"]["detail"] == "projected ServiceAccount token volume aws-iam-token"
    assert [links[i]["state"] for i in ("agent", "claims", "trustPolicy")] == ["n/a"] * 3
    code, report, _ = gtoken(cp, "doctor", "binding", "projected", "-n", chain.ns, "-o", "json")
    links = {l["id"]: l for l in report["links"]}
    assert links["WorkloadIdentityReady"]["state"] == "n/a"


def test_kubeconfig_with_an_exec_credential_plugin(cp, chain, tmp_path):
    """As on GKE (gke-gcloud-auth-plugin): the kubeconfig's user is an exec
    plugin; here one that prints the admin's client certificate as an
    ExecCredential. The plugin runs it and reads with what it returns."""
    kc = yaml.safe_load(open(cp.kubeconfig))
    user = kc["users"][0]["user"]
    cert, key = open(user["client-certificate"]).read(), open(user["client-key"]).read()
    cred = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
            "status": {"clientCertificateData": cert, "clientKeyData": key}}
    (tmp_path / "cred.json").write_text(json.dumps(cred))
    plugin = tmp_path / "auth-plugin"
    plugin.write_text(f"#!/bin/sh\n[ -n \"$KUBERNETES_EXEC_INFO\" ] || exit 5\n"
                      f"cat {tmp_path / 'cred.json'}\n")
    plugin.chmod(0o700)
    kc["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                       "command": str(plugin), "interactiveMode": "Never"}}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kc))
    code, report, err = gtoken(cp, "doctor", "binding", "uploader", "-n", chain.ns, "-o", "json",
                               kubeconfig=str(path))
    assert code == 0, (report, err)
    plugin.write_text("#!/bin/sh\necho 'run gcloud auth login' >&2\nexit 1\n")
    code, _, err = gtoken(cp, "doctor", "binding", "uploader", "-n", chain.ns, kubeconfig=str(path))
    assert code == 2 and "exited 1: run gcloud auth login" in err, err
