"""charts/gtoken on the real apiserver: `helm template | kubectl apply
--dry-run=server`, then `helm install` and a binding's life under the
installed objects (as tests/e2e/test_install.py does for config/default:
no node, so gtoken-operator runs here, with a token of the installed
ServiceAccount and the flags of the installed Deployment), `helm upgrade`
keeping the caBundle the operator wrote, and `helm uninstall`."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from chartutil import CHART, NAMESPACE, RELEASE, REPO, helm, key, render, values_args
from cluster import ControlPlane, Operator, eventually, free_port
from standins.harness import GoogleStandin

from arbutil import ROLE, binding, is_ready, member, wi_members  # noqa: E402
from test_install import sa_kubeconfig  # tests/e2e: a kubeconfig of the installed ServiceAccount

WEBHOOKS = ("mutatingwebhookconfiguration", "validatingwebhookconfiguration")


@pytest.fixture(scope="module")
def plane():
    with ControlPlane("helm-" + os.environ.get("GTOKEN_E2E_NAME", "release")) as cp:
        if cp.get("namespace", NAMESPACE) is None:
            cp.kubectl("create", "namespace", NAMESPACE)
        yield cp


@pytest.fixture
def google():
    with GoogleStandin(project="my-project") as g:
        g.create_sa("gtoken-operator")
        g.config(instance_sa="gtoken-operator@my-project.iam.gserviceaccount.com")
        yield g


def test_template_passes_server_side_dry_run(plane):
    """Everything the chart renders, monitoring on, except the Prometheus
    Operator's kinds (no such CRDs here; test_chart compares them with
    config/prometheus) and the example policy (its CRD must exist first:
    the install below applies it)."""
    objs = [o for o in render({"monitoring": {"enabled": True}})
            if not o["apiVersion"].startswith("monitoring.coreos.com/")]
    out = plane.kubectl("apply", "--dry-run=server", "-f", "-",
                        input="\n---\n".join(yaml.safe_dump(o) for o in objs))
    assert out.count("(server dry run)") == len(objs), out
    for name in ("customresourcedefinition.apiextensions.k8s.io/awsrolebindings.gtoken.io",
                 "deployment.apps/gtoken-operator", "service/gtoken-operator-metrics",
                 "mutatingwebhookconfiguration.admissionregistration.k8s.io/gtoken-webhook",
                 "networkpolicy.networking.k8s.io/gtoken-operator"):
        assert name in out, out


def operator_args(deploy: dict, webhook_port: int, iam: str) -> list[str]:
    """The installed Deployment's flags, on loopback: the webhook on a free
    port with 127.0.0.1 in its certificate (URL mode), the stand-in's IAM;
    Operator adds the identity and the metrics port."""
    args = []
    for a in deploy["spec"]["template"]["spec"]["containers"][0]["args"]:
        if a.startswith(("--identity=", "--webhook-port=", "--metrics-port=")):
            continue
        args.append(a.replace("$(POD_NAMESPACE)", NAMESPACE))
    return args + [f"--webhook-port={webhook_port}", "--webhook-bind-address=127.0.0.1",
                   "--webhook-extra-ip=127.0.0.1", f"--iam-endpoint={iam}"]


def url_mode(plane, port: int):
    """The apiserver calls the operator on loopback (no Service routing
    without a node)."""
    for kind, path in zip(WEBHOOKS, ("/mutate", "/validate")):
        plane.kubectl("patch", kind, "gtoken-webhook", "--type=json", "-p", json.dumps([
            {"op": "remove", "path": "/webhooks/0/clientConfig/service"},
            {"op": "add", "path": "/webhooks/0/clientConfig/url",
             "value": f"https://127.0.0.1:{port}{path}"}]))


def service_mode(plane):
    """Back to the chart's Service reference, keeping the caBundle."""
    for kind, path in zip(WEBHOOKS, ("/mutate", "/validate")):
        plane.kubectl("patch", kind, "gtoken-webhook", "--type=json", "-p", json.dumps([
            {"op": "remove", "path": "/webhooks/0/clientConfig/url"},
            {"op": "add", "path": "/webhooks/0/clientConfig/service",
             "value": {"name": "gtoken-webhook", "namespace": NAMESPACE, "path": path,
                       "port": 443}}]))


def ca_bundles(plane) -> list[str]:
    return [(plane.get(kind, "gtoken-webhook") or {}).get("webhooks", [{}])[0]
            .get("clientConfig", {}).get("caBundle", "") for kind in WEBHOOKS]


def injected_pod(plane, ns: str, ksa: str):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "app-", "namespace": ns},
           "spec": {"serviceAccountName": ksa, "containers": [{"name": "app", "image": "busybox"}]}}
    stored = json.loads(plane.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(pod)))
    names = [c["name"] for c in stored["spec"].get("initContainers", []) + stored["spec"]["containers"]]
    if not {"gtoken", "gtoken-init"} & set(names):
        plane.kubectl("delete", "pod", "-n", ns, stored["metadata"]["name"], "--wait=false")
        return None
    return stored


def test_install_a_bindings_life_upgrade_uninstall(plane, google):
    kc = plane.kubeconfig
    values = {"project": "my-project", "logLevel": "debug", "examples": {"policy": True}}
    # The namespace exists (Helm keeps the release in it): the chart's
    # Namespace adopts it.
    helm("install", RELEASE, CHART, "--namespace", NAMESPACE, "--take-ownership",
         *values_args(values), kubeconfig=kc)
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                  "crd/awsrolebindings.gtoken.io", "crd/awsrolebindingpolicies.gtoken.io")
    ns_labels = plane.get("namespace", NAMESPACE)["metadata"]["labels"]
    assert ns_labels["pod-security.kubernetes.io/enforce"] == "restricted", ns_labels
    assert ns_labels["app.kubernetes.io/managed-by"] == "Helm", ns_labels
    assert plane.get("awsrolebindingpolicy", "jobs") is not None
    deploy = plane.get("deployment", "gtoken-operator", NAMESPACE)
    assert deploy["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE

    port = free_port()
    url_mode(plane, port)
    kubeconfig = sa_kubeconfig(plane, os.path.join(plane.dir, "chart-operator-sa.kubeconfig"))
    args = operator_args(deploy, port, google.url)
    assert "--project=my-project" in args and "--log-level=debug" in args, args
    gsa = google.create_sa("uploader")["email"]
    plane.kubectl("create", "namespace", "jobs")
    with Operator(plane, args=args, name="chart", kubeconfig=kubeconfig,
                  env={"GCE_METADATA_HOST": google.metadata_host}) as op:
        tail = lambda: "\n" + op.logs()[-3000:]  # noqa: E731
        # The example policy allows namespace jobs, GSAs of my-project, AWS
        # account 123456789012; the validating webhook checks it too.
        eventually(lambda: all(ca_bundles(plane)), 60, what="caBundle published" + tail())
        plane.apply(binding("uploader", "jobs", "orchestrator", gsa, role=ROLE))
        eventually(lambda: is_ready(plane.get("awsrolebinding", "uploader", "jobs")), 90,
                   what="binding Ready" + tail())
        ann = plane.get("serviceaccount", "orchestrator", "jobs")["metadata"]["annotations"]
        assert ann["iam.gke.io/gcp-service-account"] == gsa, ann
        assert ann["amazonaws.com/role-arn"] == ROLE, ann
        assert member("jobs", "orchestrator") in wi_members(google, gsa)
        eventually(lambda: injected_pod(plane, "jobs", "orchestrator"), 60, interval=1,
                   what="an injected pod" + tail())

        plane.kubectl("delete", "pod", "--all", "-n", "jobs", "--wait=false")
        plane.kubectl("delete", "awsrolebinding", "uploader", "-n", "jobs", "--wait=false")
        eventually(lambda: plane.get("awsrolebinding", "uploader", "jobs") is None, 90,
                   what="binding deleted" + tail())
        assert plane.get("serviceaccount", "orchestrator", "jobs") is None
        assert member("jobs", "orchestrator") not in wi_members(google, gsa)
        assert "forbidden" not in op.logs().lower(), tail()
    bundles = ca_bundles(plane)

    # An upgrade changes what the values say and keeps what the operator wrote.
    service_mode(plane)
    helm("upgrade", RELEASE, CHART, "--namespace", NAMESPACE, "--reuse-values",
         "--set", "replicas=3", kubeconfig=kc)
    assert plane.get("deployment", "gtoken-operator", NAMESPACE)["spec"]["replicas"] == 3
    assert ca_bundles(plane) == bundles
    assert plane.get("secret", "gtoken-webhook-cert", NAMESPACE) is not None

    helm("uninstall", RELEASE, "--namespace", NAMESPACE, kubeconfig=kc)
    for kind, name, ns in (("deployment", "gtoken-operator", NAMESPACE),
                           ("clusterrole", "gtoken-operator", None),
                           ("mutatingwebhookconfiguration", "gtoken-webhook", None),
                           ("awsrolebindingpolicy", "jobs", None)):
        eventually(lambda: plane.get(kind, name, ns) is None, 30, what=f"{kind}/{name} removed")
    # crds/: Helm never deletes them (nor the bindings stored under them).
    assert plane.get("crd", "awsrolebindings.gtoken.io") is not None


def test_install_takes_over_a_kustomize_install():
    """`helm install --take-ownership` over `kubectl apply -k config/default`:
    the same names and selectors (a Deployment's are immutable), so every
    object becomes the release's in place."""
    with ControlPlane("helm-adopt-" + os.environ.get("GTOKEN_E2E_NAME", "release")) as cp:
        cp.kubectl("apply", "-k", os.path.join(REPO, "config", "default"))
        before = cp.get("deployment", "gtoken-operator", NAMESPACE)["metadata"]["uid"]
        helm("install", RELEASE, CHART, "--namespace", NAMESPACE, "--take-ownership",
             kubeconfig=cp.kubeconfig)
        for obj in render(crds=False):
            _, kind, ns, name = key(obj)
            live = cp.get(kind.lower(), name, ns or None)
            assert live is not None, key(obj)
            assert live["metadata"].get("annotations", {}).get(
                "meta.helm.sh/release-name") == RELEASE, key(obj)
            assert live["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm", key(obj)
        assert cp.get("deployment", "gtoken-operator", NAMESPACE)["metadata"]["uid"] == before
