"""The whole Kubernetes-token chain against a real kube-apiserver, with real
AWS SDKs: an AwsRoleBinding with tokenSource Kubernetes, gtoken-operator
(controller and webhook) annotates its ServiceAccount and reports the
cluster's issuer and trust policy; the STS stand-in is set up exactly from
that status (the OIDC provider from status.oidcIssuer and the audience, the
role's trust policy = status.awsTrustPolicy), as a user would with
status.awsOidcProviderCommand; a pod created through the apiserver is
stored with the projected token volume and no agent; the token the kubelet
would project (TokenRequest with the volume's audience and lifetime, bound
to the pod) is traded by boto3 and aws-sdk-go-v2 with exactly the app
container's environment. A ServiceAccount annotated by hand for EKS (no
binding) works the same way; the trust policy's sub keeps each
ServiceAccount to its own role.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from arbutil import ALLOW_ALL, kubernetes_binding
from chain import (ChainSetup, PodProcesses, app_pod_manifest, assumed_role_arn, binding_ready,
                   create_pod, run_boto3, run_gosdk, sdk_env)
from cluster import Operator, eventually
from oidc_plane import DISCOVERY_BINDING, ISSUER, oidc_control_plane, sts_connect_to
from standins.harness import GoogleStandin, StsStandin, oidc_trust_policy

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/reports"
HAND_ROLE = f"arn:aws:iam::{ACCOUNT}:role/eks-style"
MOUNT = "/var/run/secrets/eks.amazonaws.com/serviceaccount"


def projected(pod: dict) -> dict | None:
    for v in pod["spec"].get("volumes", []):
        if v["name"] == "aws-iam-token":
            return v
    return None


class KubernetesChain(ChainSetup):
    """The operator (controller + webhook, URL mode on loopback) on an
    OIDC-capable control plane, and the STS stand-in trusting its issuer."""

    def _setup(self):
        cp, st = self.cp, self._stack
        self.google = GoogleStandin(project="my-project").start()
        st.callback(self.google.stop)
        self.google.create_sa("gtoken-operator")
        self.google.config(instance_sa="gtoken-operator@my-project.iam.gserviceaccount.com")
        self.sts = StsStandin().start()
        st.callback(self.sts.stop)
        self.sts.config(**sts_connect_to(cp))
        self.ns = cp.create_namespace(self.ns_prefix)
        args = ["--leader-elect=false"] + self._register_webhook()
        self.operator = Operator(cp, self.google, args=args, name=f"op-{self.ns}").start()
        st.callback(self.operator.stop)

    def mutated_pod(self, ksa: str) -> dict:
        deadline = time.monotonic() + 60
        while True:
            pod = create_pod(self.cp, app_pod_manifest(self.ns, ksa))
            if projected(pod):
                return pod
            self.cp.kubectl("delete", "pod", "-n", self.ns, pod["metadata"]["name"],
                            "--wait=false")
            assert time.monotonic() < deadline, "no mutated pod\n" + self.operator.logs()[-3000:]
            time.sleep(1)

    def pod_env(self, pod: dict, root: str, extra: dict | None = None) -> dict:
        """The app container's environment as the kubelet resolves it (the
        pod's volumes are directories under `root`), after writing what the
        kubelet projects into the token volume: a TokenRequest for the pod's
        ServiceAccount with the volume's audience and lifetime, bound to the
        pod."""
        src = projected(pod)["projected"]["sources"][0]["serviceAccountToken"]
        tok = self.cp.kubectl(
            "create", "token", pod["spec"]["serviceAccountName"], "-n", self.ns,
            "--audience", src["audience"], "--duration", f"{src['expirationSeconds']}s",
            "--bound-object-kind", "Pod", "--bound-object-name", pod["metadata"]["name"],
            "--bound-object-uid", pod["metadata"]["uid"]).strip()
        run = PodProcesses(pod, root, metadata_host="127.0.0.1:9")  # no agent: never asked
        app = run.container("app")
        with open(run.host_path(app, f"{MOUNT}/{src['path']}"), "w") as f:
            f.write(tok)
        assert run.env(app)["AWS_WEB_IDENTITY_TOKEN_FILE"] == f"{MOUNT}/token"
        return sdk_env(run.app_env("app"), self.sts.url, root, extra)


@pytest.fixture(scope="module")
def plane():
    with oidc_control_plane("e2e-" + os.environ.get("GTOKEN_E2E_NAME", "kchain")) as cp:
        cp.install_crds()
        cp.apply(ALLOW_ALL)
        cp.apply(DISCOVERY_BINDING)
        yield cp


@pytest.fixture(scope="module")
def chain(plane, tmp_path_factory):
    with KubernetesChain(plane, str(tmp_path_factory.mktemp("kchain")), 0, 0,
                         ns_prefix="kchain") as c:
        yield c


def test_binding_pod_token_sdks(chain, tmp_path):
    cp = chain.cp
    cp.apply(kubernetes_binding("reports", chain.ns, "reports", ROLE, region="us-east-1",
                                tokenExpirationSeconds=3600))
    b = eventually(lambda: binding_ready(cp, "reports", chain.ns), 60,
                   what="binding Ready\n" + chain.operator.logs()[-3000:])
    st = b["status"]
    assert st["oidcIssuer"] == ISSUER
    # AWS's side, exactly as the status says (what the user pastes).
    assert st["awsOidcProviderCommand"].split("--client-id-list ")[1] == "sts.amazonaws.com"
    assert chain.sts.add_oidc_provider(st["oidcIssuer"], ["sts.amazonaws.com"])["arn"] == \
        st["awsOidcProviderArn"]
    chain.sts.add_role(ROLE, json.loads(st["awsTrustPolicy"]))

    pod = chain.mutated_pod("reports")
    names = [c["name"] for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]]
    assert names == ["app"], names  # no agent
    src = projected(pod)["projected"]["sources"][0]["serviceAccountToken"]
    assert (src["audience"], src["expirationSeconds"], src["path"]) == \
        ("sts.amazonaws.com", 3600, "token")
    (app,) = pod["spec"]["containers"]
    assert {"name": "aws-iam-token", "mountPath": MOUNT, "readOnly": True} in app["volumeMounts"]

    env = chain.pod_env(pod, str(tmp_path))
    assert env["AWS_ROLE_ARN"] == ROLE and env["AWS_REGION"] == "us-east-1"
    session = env["AWS_ROLE_SESSION_NAME"]
    (out,) = run_boto3(env)
    assert out["ok"], out
    assert out["arn"] == assumed_role_arn(ROLE, session)
    rc, results, stderr = run_gosdk(env)
    assert rc == 0 and results and all(r["ok"] for r in results), stderr
    assert results[0]["arn"] == out["arn"]
    # STS saw the pod's ServiceAccount as the subject.
    ok = [c for c in chain.sts.calls() if c.get("endpoint") == "sts.AssumeRoleWithWebIdentity"
          and c.get("status") == 200]
    assert ok and ok[-1]["token_sub"] == f"system:serviceaccount:{chain.ns}:reports"


def test_eks_style_service_account_without_binding(chain, tmp_path):
    """A manifest written for EKS: a ServiceAccount with eks.amazonaws.com/
    role-arn only. The role trusts that ServiceAccount; another
    ServiceAccount's token is refused for it."""
    cp = chain.cp
    if not chain.sts.oidc_providers():
        chain.sts.add_oidc_provider(ISSUER, ["sts.amazonaws.com"])
    provider = chain.sts.oidc_providers()[0]["arn"]
    chain.sts.add_role(HAND_ROLE, oidc_trust_policy(
        provider, f"system:serviceaccount:{chain.ns}:eks-app", "sts.amazonaws.com"))
    for ksa in ("eks-app", "eks-other"):
        cp.kubectl("create", "serviceaccount", ksa, "-n", chain.ns)
        cp.kubectl("annotate", "serviceaccount", ksa, "-n", chain.ns,
                   f"eks.amazonaws.com/role-arn={HAND_ROLE}",
                   "eks.amazonaws.com/sts-regional-endpoints=true")
    pod = chain.mutated_pod("eks-app")
    # No region on the ServiceAccount: the app sets its own (EKS clusters
    # usually have the webhook's --aws-default-region).
    region = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}
    env = chain.pod_env(pod, str(tmp_path / "a"), region)
    assert env["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"
    (out,) = run_boto3(env)
    assert out["ok"], out
    assert out["arn"] == assumed_role_arn(HAND_ROLE, env["AWS_ROLE_SESSION_NAME"])

    other = chain.mutated_pod("eks-other")
    env = chain.pod_env(other, str(tmp_path / "b"), region)
    (out,) = run_boto3(env)
    assert not out["ok"]
    assert "AccessDenied" in json.dumps(out), out


def test_wrong_audience_is_refused(chain, tmp_path):
    """A projected token for another audience than the provider's client id."""
    if not chain.sts.oidc_providers():
        chain.sts.add_oidc_provider(ISSUER, ["sts.amazonaws.com"])
    chain.cp.kubectl("create", "serviceaccount", "aud-app", "-n", chain.ns)
    chain.cp.kubectl("annotate", "serviceaccount", "aud-app", "-n", chain.ns,
                     f"eks.amazonaws.com/role-arn={HAND_ROLE}",
                     "eks.amazonaws.com/audience=not-sts")
    pod = chain.mutated_pod("aud-app")
    src = projected(pod)["projected"]["sources"][0]["serviceAccountToken"]
    assert src["audience"] == "not-sts"
    env = chain.pod_env(pod, str(tmp_path))
    (out,) = run_boto3(env)
    assert not out["ok"] and "Incorrect token audience" in json.dumps(out), out
