"""Real pods on a real node (issue #10): gtoken installed from
config/default (plus a local overlay), its images run by containerd, the
webhook reached through its Service, the agent really injected, and an AWS
SDK inside a non-root, read-only container getting credentials from the STS
stand-in. The Google stand-in answers at 169.254.169.254 and knows each pod
by its IP, as GKE's metadata server does, so a token exists only while the
IAM grant the operator wrote exists.

One node for the whole module (node.sh start takes ~20 s, the install
~30 s); the tests run in file order and each uses its own namespace.
"""

from __future__ import annotations

import calendar
import json
import os
import threading
import time

import pytest

from nodeutil import (AGENT_IMAGE, NODE_IP, OPERATOR_IMAGE, OPERATOR_NS, STS_PORT, Node,
                      build_gtoken_images, install_gtoken, operator_logs, operator_pods,
                      wait_rollout, write_overlay)

from arbutil import (Api, binding, condition, events_for, is_ready, kubernetes_binding, member,
                     policy, wi_members)
from chain import jwt_claims
from cluster import eventually
from oidc_plane import DISCOVERY_BINDING, ISSUER_HOST
from standins.harness import GoogleStandin, StsStandin, google_trust_policy
from standins.pod_identity import PodIdentity

PROJECT = "my-project"
OPERATOR_GSA = f"gtoken-operator@{PROJECT}.iam.gserviceaccount.com"
ACCOUNT = "123456789012"
LIFETIME = 90  # stand-in ID tokens: the agent refreshes every 45-54 s
AUDIENCE = "gtoken/sts/assume-role-with-web-identity"
WORKLOAD_IMAGE = "gtoken.local/gosdk:1"
BUSYBOX_IMAGE = "gtoken.local/busybox:1"
PACE = 1.5  # seconds between one burst thread's creates (4 threads)
APP_LABEL = "gtoken.io/node-test"


# -- the world: node, images, stand-ins, gtoken installed ------------------------


class World:
    def __init__(self, tmp: str):
        self.tmp = tmp
        # The discovery document names the JWKS under the issuer's host (by
        # default it is the advertised node IP, which the serving certificate
        # does not name): AWS fetches both from the issuer, as from GKE's.
        self.node = Node("node-pods", apiserver_args=f"--service-account-jwks-uri="
                                                     f"https://{ISSUER_HOST}/openid/v1/jwks")
        self.google: GoogleStandin | None = None
        # (namespace, pod, role, start) of the Kubernetes-source Deployment,
        # whose token renewal the last test checks.
        self.projected_app: tuple[str, str, str, float] | None = None
        self.sts: StsStandin | None = None
        self.images: dict[str, str] = {}

    def start(self):
        # Built before the node starts (the node's owner watchdog must not
        # see a half-built state), imported once it runs.
        self.archives = build_gtoken_images(os.path.join(self.tmp, "images"))
        self.node.start()
        self.node.import_images(list(self.archives.values()))
        self.api = Api(self.node)
        # Inside the node's netns from here: the stand-ins' sockets are too.
        self.google = GoogleStandin(project=PROJECT, host="0.0.0.0", port=80,
                                    pod_identity=PodIdentity.from_kubeconfig(self.node.kubeconfig))
        self.google.start()
        self.google.config(id_token_lifetime=LIFETIME, iam_callers=[OPERATOR_GSA])
        self.google.create_sa("gtoken-operator")
        self.google.bind_workload(OPERATOR_GSA, f"{OPERATOR_NS}/gtoken-operator")
        self.sts = StsStandin(jwks_url="http://127.0.0.1:80/oauth2/v3/certs", account_id=ACCOUNT,
                              host="0.0.0.0", port=STS_PORT)
        self.sts.start()
        # Short STS sessions: the SDK re-assumes the role (reading the token
        # file again) every 30 s.
        self.sts.config(max_credential_seconds=30)
        # The node's apiserver is also an OIDC issuer AWS (the stand-in) can
        # trust for tokenSource Kubernetes: its discovery documents are
        # public, as on GKE, and the stand-in reaches the issuer's name on
        # the apiserver's loopback port, inside the node.
        self.node.apply(DISCOVERY_BINDING)
        with open(os.path.join(self.node.cp_dir, "apiserver-0.port")) as f:
            api_port = int(f.read())
        self.sts.config(connect_to=[f"{ISSUER_HOST}:443:127.0.0.1:{api_port}"],
                        oidc_ca_file=os.path.join(self.node.cp_dir, "pki", "ca.crt"))
        self.install()
        return self

    operator_image = OPERATOR_IMAGE
    agent_image = AGENT_IMAGE

    def install(self):
        install_gtoken(self.node, write_overlay(self.node, PROJECT, OPERATOR_GSA, args=[
            # Failover in seconds, and certificates that rotate during the run.
            "--lease-duration=6s", "--renew-deadline=4s", "--retry-period=1s",
            "--cert-validity=40s", "--cert-lookahead=20s", "--ca-validity=120s",
            "--ca-lookahead=60s", "--ca-publish-delay=2s", "--ca-retire-grace=3s",
            "--webhook-replica-lease-duration=10s", "--resync=20s"]))
        self.wait_rollout()

    def wait_rollout(self, timeout: int = 240):
        wait_rollout(self.node, timeout)

    def operator_pods(self) -> list[dict]:
        return operator_pods(self.node)

    def operator_logs(self) -> str:
        return operator_logs(self.node)

    def leader(self) -> str:
        lease = self.node.get("lease", "gtoken-operator", OPERATOR_NS)
        return (lease or {}).get("spec", {}).get("holderIdentity", "")

    def stop(self):
        for s in (self.sts, self.google):
            if s is not None:
                s.stop()
        self.node.stop()

    # -- per test ----------------------------------------------------------------

    def namespace(self, prefix: str) -> str:
        ns = self.node.create_namespace(prefix)
        self.node.kubectl("label", "namespace", ns, f"{APP_LABEL}=true")
        eventually(lambda: self.node.get("serviceaccount", "default", ns), 60,
                   what=f"default ServiceAccount in {ns}")
        return ns

    def bound(self, ns: str, ksa: str, gsa_name: str, role_name: str) -> tuple[dict, str, str]:
        """A GSA, an AwsRoleBinding for ns/ksa, and an STS role trusting
        exactly the binding's status.awsTrustPolicy."""
        gsa = self.google.create_sa(gsa_name)["email"]
        role = f"arn:aws:iam::{ACCOUNT}:role/{role_name}"
        self.node.apply(binding(gsa_name, ns, ksa, gsa, role))
        b = eventually(lambda: (lambda b: b if is_ready(b) else None)(
            self.node.get("awsrolebinding", gsa_name, ns)), 120, interval=0.5,
            what=f"binding {ns}/{gsa_name} Ready\n{self.operator_logs()}")
        self.sts.add_role(role, json.loads(b["status"]["awsTrustPolicy"]))
        return b, gsa, role

    def sdk_container(self, args: list[str], uid: int = 1000) -> dict:
        return {
            "name": "app", "image": WORKLOAD_IMAGE, "imagePullPolicy": "Never", "args": args,
            # The one thing a user would not set: where STS is.
            "env": [{"name": "AWS_ENDPOINT_URL_STS", "value": f"http://{NODE_IP}:{STS_PORT}"}],
            "securityContext": {"runAsUser": uid, "runAsGroup": uid, "runAsNonRoot": True,
                                "readOnlyRootFilesystem": True,
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]}}}

    def pod_logs(self, ns: str, pod: str, container: str = "app") -> list[dict]:
        out = self.node.kubectl("logs", "-n", ns, pod, "-c", container, check=False)
        lines = []
        for line in out.splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
        return lines

    def pods(self, ns: str, selector: str) -> list[dict]:
        return json.loads(self.node.kubectl("get", "pods", "-n", ns, "-l", selector,
                                            "-o", "json"))["items"]

    def wait_pod(self, ns: str, selector: str, cond: str = "Ready", timeout: int = 180) -> dict:
        def ready():
            for p in self.pods(ns, selector):
                for c in p.get("status", {}).get("conditions", []):
                    if c["type"] == cond and c["status"] == "True":
                        return p
            return None
        try:
            return eventually(ready, timeout, interval=1, what=f"a {cond} pod {ns}/{selector}")
        except AssertionError:
            desc = self.node.kubectl("describe", "pods", "-n", ns, "-l", selector, check=False)
            raise AssertionError(f"no {cond} pod {selector} in {ns}:\n{desc[-4000:]}\n"
                                 f"{self.node.logs_hint()}") from None

    def run_job(self, ns: str, name: str, ksa: str, args: list[str]) -> dict:
        """A one-pod Job of the SDK image under `ksa`, waited for to
        complete; its pod."""
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": name, "namespace": ns},
               "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": {"run": name}},
                        "spec": {"serviceAccountName": ksa, "restartPolicy": "Never",
                                 "containers": [self.sdk_container(args)]}}}}
        self.node.apply(job)
        try:
            self.node.kubectl("wait", "--for=condition=Complete", f"job/{name}", "-n", ns,
                              "--timeout=180s", timeout=190)
        except Exception:
            desc = self.node.kubectl("describe", "pods", "-n", ns, "-l", f"run={name}",
                                     check=False)
            raise AssertionError(f"Job {name} did not complete:\n{desc[-4000:]}") from None
        return self.pods(ns, f"run={name}")[0]

    def identity_calls(self, since: int = 0) -> list[dict]:
        return self.google.calls(since=since, endpoint="metadata.identity")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = World(str(tmp_path_factory.mktemp("node")))
    try:
        w.start()
        w.node.apply(policy("node-tests", {"selector": {"matchLabels": {APP_LABEL: "true"}}},
                            [f"*@{PROJECT}.iam.gserviceaccount.com"], [f"{ACCOUNT}"],
                            token_sources=["Google", "Kubernetes"]))
        yield w
    finally:
        w.stop()


def container_status(pod: dict, name: str) -> dict:
    st = pod["status"]
    for c in st.get("initContainerStatuses", []) + st.get("containerStatuses", []):
        if c["name"] == name:
            return c
    raise KeyError(name)


def started_at(pod: dict, name: str) -> str:
    s = container_status(pod, name)["state"]
    return (s.get("running") or s.get("terminated") or {}).get("startedAt", "")


# -- install ------------------------------------------------------------------------


def test_install_two_ready_replicas_one_leader_in_cluster_credentials(world):
    pods = world.operator_pods()
    assert len(pods) == 2, [p["metadata"]["name"] for p in pods]
    for p in pods:
        assert all(c["ready"] for c in p["status"]["containerStatuses"]), p["status"]
        spec = p["spec"]["containers"][0]
        assert spec["image"] == world.operator_image
        assert spec["securityContext"]["readOnlyRootFilesystem"] is True
        # The projected, rotating ServiceAccount token of the installed KSA.
        assert p["spec"]["serviceAccountName"] == "gtoken-operator"
        vols = [v for v in p["spec"]["volumes"] if "projected" in v]
        assert any(s.get("serviceAccountToken") for v in vols
                   for s in v["projected"]["sources"]), p["spec"]["volumes"]
    names = {p["metadata"]["name"] for p in pods}
    leader = eventually(lambda: world.leader() in names and world.leader(), 60,
                        what="a replica holding the Lease")
    assert leader in names
    # The webhook's Service has both replicas as ready endpoints.
    slices = json.loads(world.node.kubectl(
        "get", "endpointslices", "-n", OPERATOR_NS, "-l",
        "kubernetes.io/service-name=gtoken-webhook", "-o", "json"))["items"]
    ready = [e for s in slices for e in s.get("endpoints", [])
             if e.get("conditions", {}).get("ready")]
    assert len(ready) == 2, slices
    # Exactly the installed RBAC: nothing was forbidden.
    assert "forbidden" not in world.operator_logs().lower()


# -- the SDK in a Deployment --------------------------------------------------------


def test_deployment_sdk_gets_credentials_and_keeps_them_across_token_refreshes(world):
    ns = world.namespace("deploy")
    b, gsa, role = world.bound(ns, "app-sa", "deploy-app", "deploy-app")
    # The operator wrote the grant with an access token the metadata server
    # minted for the operator pod's own GSA, known by its IP (no key file).
    calls = [c for c in world.google.calls(endpoint="metadata.token") if c["status"] == 200]
    assert calls and {c["workload"] for c in calls} == {f"{OPERATOR_NS}/gtoken-operator"}, calls
    assert member(ns, "app-sa", PROJECT) in wi_members(world.google, gsa)
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "app", "namespace": ns},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "sdk"}},
                    "template": {"metadata": {"labels": {"app": "sdk"}},
                                 "spec": {"serviceAccountName": "app-sa",
                                          "containers": [world.sdk_container(
                                              ["-n", "100000", "-interval", "5s"])]}}}}
    world.node.apply(dep)
    pod = world.wait_pod(ns, "app=sdk")
    name = pod["metadata"]["name"]
    # Injected through the Service: a native sidecar with a startup probe.
    agent = next(c for c in pod["spec"].get("initContainers", []) if c["name"] == "gtoken")
    assert agent["restartPolicy"] == "Always" and agent["startupProbe"]
    assert agent["image"] == world.agent_image
    # The app started only after the agent's startup probe saw a token: its
    # very first SDK call succeeded.
    assert started_at(pod, "gtoken") <= started_at(pod, "app")
    first = eventually(lambda: world.pod_logs(ns, name)[:1], 60, interval=1,
                       what="the SDK's first call")[0]
    assert first["ok"], first
    assert first["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy-app/" + \
        first["arn"].rsplit("/", 1)[1]
    # Two token refreshes later (LIFETIME 90 s: one each 45-54 s), still
    # credentials, from tokens minted for this pod's GSA.
    t0 = time.time()
    start = len(world.identity_calls())

    def refreshed_twice():
        ok = [c for c in world.identity_calls()[start:]
              if c["status"] == 200 and c.get("workload") == f"{ns}/app-sa"]
        return len(ok) >= 2
    eventually(refreshed_twice, 3 * LIFETIME, interval=2,
               what="two token refreshes by the pod's agent")
    time.sleep(40)  # STS sessions last 30 s: the SDK re-assumes with a new token
    lines = world.pod_logs(ns, name)
    assert lines and all(r["ok"] for r in lines), [r for r in lines if not r["ok"]][:3]
    assumed = [c for c in world.sts.calls() if c["endpoint"] == "sts.AssumeRoleWithWebIdentity"
               and c["status"] == 200 and c["resource"] == role]
    tokens = {c["token_sha256"] for c in assumed if c["time"] >= t0}
    assert len(tokens) >= 2, assumed[-5:]
    claims = jwt_claims(world.google.id_token(gsa, AUDIENCE))
    assert claims["email"] == gsa
    # The agent's small memory request and limit are enough: after the
    # refreshes it never restarted and was never OOM-killed.
    agent_spec = next(c for c in pod["spec"]["initContainers"] if c["name"] == "gtoken")
    assert agent_spec["resources"]["requests"]["memory"] == "4Mi"
    assert agent_spec["resources"]["limits"]["memory"] == "16Mi"
    now = next(p for p in world.pods(ns, "app=sdk") if p["metadata"]["name"] == name)
    st = container_status(now, "gtoken")
    assert st["restartCount"] == 0 and "terminated" not in st.get("lastState", {}), st


# -- a Job completes ----------------------------------------------------------------


def test_job_runs_one_call_and_completes_twice(world):
    ns = world.namespace("job")
    world.bound(ns, "batch-sa", "batch-app", "batch-app")
    for run in ("first", "second"):
        pod = world.run_job(ns, f"call-{run}", "batch-sa", ["-n", "1"])
        lines = world.pod_logs(ns, pod["metadata"]["name"])
        assert len(lines) == 1 and lines[0]["ok"], lines
        assert "/batch-app/" in lines[0]["arn"]
        # The native sidecar ended with the app: the pod Succeeded.
        assert pod["status"]["phase"] == "Succeeded"


# -- tokenSource Kubernetes: the kubelet's projected token, no agent ----------------


def test_kubernetes_source_deployment_and_job_without_an_agent(world):
    ns = world.namespace("ksrc")
    role = f"arn:aws:iam::{ACCOUNT}:role/kube-reports"
    # The shortest lifetime the apiserver allows: the kubelet renews the
    # file at 80 % of it, 480 s in (the last test of the file checks that).
    world.node.apply(kubernetes_binding("reports", ns, "reports-sa", role,
                                        tokenExpirationSeconds=600))
    b = eventually(lambda: (lambda b: b if is_ready(b) else None)(
        world.node.get("awsrolebinding", "reports", ns)), 120, interval=0.5,
        what=f"binding {ns}/reports Ready\n{world.operator_logs()}")
    st = b["status"]
    # AWS's side exactly as the status says: the provider for the issuer the
    # operator discovered from its apiserver, and the role's trust policy.
    if not any(p["url"] == st["oidcIssuer"] for p in world.sts.oidc_providers()):
        assert world.sts.add_oidc_provider(st["oidcIssuer"], ["sts.amazonaws.com"])["arn"] == \
            st["awsOidcProviderArn"]
    world.sts.add_role(role, json.loads(st["awsTrustPolicy"]))
    t0 = time.time()
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "reports", "namespace": ns},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "reports"}},
                    "template": {"metadata": {"labels": {"app": "reports"}},
                                 "spec": {"serviceAccountName": "reports-sa",
                                          "containers": [world.sdk_container(
                                              ["-n", "100000", "-interval", "5s"])]}}}}
    world.node.apply(dep)
    pod = world.wait_pod(ns, "app=reports")
    name = pod["metadata"]["name"]
    names = [c["name"] for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]]
    assert names == ["app"], names  # no agent
    vol = next(v for v in pod["spec"]["volumes"] if v["name"] == "aws-iam-token")
    src = vol["projected"]["sources"][0]["serviceAccountToken"]
    assert (src["audience"], src["expirationSeconds"]) == ("sts.amazonaws.com", 600)
    world.projected_app = (ns, name, role, time.time())
    first = eventually(lambda: world.pod_logs(ns, name)[:1], 60, interval=1,
                       what="the SDK's first call")[0]
    assert first["ok"], first
    assert "/kube-reports/" in first["arn"], first
    # STS sessions last 30 s: the SDK re-assumes the role from the file the
    # kubelet keeps, as the pod's own ServiceAccount.
    time.sleep(40)
    lines = world.pod_logs(ns, name)
    assert lines and all(r["ok"] for r in lines), [r for r in lines if not r["ok"]][:3]
    assumed = [c for c in world.sts.calls() if c["endpoint"] == "sts.AssumeRoleWithWebIdentity"
               and c["status"] == 200 and c["resource"] == role and c["time"] >= t0]
    assert len(assumed) >= 2, assumed[-3:]
    assert {c["token_sub"] for c in assumed} == {f"system:serviceaccount:{ns}:reports-sa"}

    # A Job: nothing runs beside the app, so it completes by itself.
    jp = world.run_job(ns, "report-once", "reports-sa", ["-n", "1"])
    out = world.pod_logs(ns, jp["metadata"]["name"])
    assert len(out) == 1 and out[0]["ok"] and "/kube-reports/" in out[0]["arn"], out
    assert jp["status"]["phase"] == "Succeeded"


# -- the seed's flow: a hand-annotated ServiceAccount -------------------------------


def test_hand_annotated_service_account_works_the_same(world):
    ns = world.namespace("hand")
    gsa = world.google.create_sa("hand-app")["email"]
    role = f"arn:aws:iam::{ACCOUNT}:role/hand-app"
    # What an administrator does by hand: annotations and the IAM grant.
    world.node.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                      "metadata": {"name": "hand-sa", "namespace": ns,
                                   "annotations": {"iam.gke.io/gcp-service-account": gsa,
                                                   "amazonaws.com/role-arn": role}}})
    world.google.bind_workload(gsa, f"{ns}/hand-sa")
    sub = world.google.sa(gsa)["uniqueId"]
    world.sts.add_role(role, google_trust_policy(sub, oaud=AUDIENCE))
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "hand", "namespace": ns},
           "spec": {"backoffLimit": 0, "template": {"metadata": {"labels": {"run": "hand"}},
                    "spec": {"serviceAccountName": "hand-sa", "restartPolicy": "Never",
                             "containers": [world.sdk_container(["-n", "1"])]}}}}
    world.node.apply(job)
    world.node.kubectl("wait", "--for=condition=Complete", "job/hand", "-n", ns,
                       "--timeout=180s", timeout=190)
    pod = world.pods(ns, "run=hand")[0]
    lines = world.pod_logs(ns, pod["metadata"]["name"])
    assert len(lines) == 1 and lines[0]["ok"] and "/hand-app/" in lines[0]["arn"], lines


# -- pods before a binding; deleting a binding ---------------------------------------


def test_pod_before_binding_is_counted_and_deleting_the_binding_stops_new_tokens(world):
    ns = world.namespace("late")
    world.node.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                      "metadata": {"name": "late-sa", "namespace": ns}})
    world.node.apply({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "early", "namespace": ns, "labels": {"app": "early"}},
                      "spec": {"serviceAccountName": "late-sa",
                               # GKE's DNS answers this name; here a hosts entry does.
                               "hostAliases": [{"ip": "169.254.169.254",
                                                "hostnames": ["metadata.google.internal"]}],
                               "containers": [{
                          "name": "sleep", "image": BUSYBOX_IMAGE, "imagePullPolicy": "Never",
                          "command": ["/bin/busybox", "sleep", "3600"],
                          "securityContext": {"runAsUser": 1000,
                                              "readOnlyRootFilesystem": True}}]}})
    world.wait_pod(ns, "app=early")
    # The metadata server by its name, as Google's client libraries call it.
    got = world.node.kubectl("exec", "-n", ns, "early", "--", "/bin/busybox", "wget", "-qO-",
                             "--header", "Metadata-Flavor: Google",
                             "http://metadata.google.internal/computeMetadata/v1/project/project-id")
    assert got.strip() == PROJECT, got
    b, gsa, role = world.bound(ns, "late-sa", "late-app", "late-app")
    b = eventually(lambda: (lambda b: b if b.get("status", {}).get("podsMissingInjection")
                            else None)(world.node.get("awsrolebinding", "late-app", ns)),
                   60, interval=1, what="podsMissingInjection counted")
    assert b["status"]["podsMissingInjection"] == 1
    ev = [e for e in events_for(world.node, "late-app", ns)
          if e.get("reason") == "PodsMissingInjection"]
    assert ev and "early" in ev[0]["message"], ev

    # A pod created now is injected and gets tokens.
    world.node.apply({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "late", "namespace": ns, "labels": {"app": "late"}},
                      "spec": {"serviceAccountName": "late-sa",
                               "containers": [world.sdk_container(
                                   ["-n", "100000", "-interval", "5s"])]}})
    pod = world.wait_pod(ns, "app=late")
    ip = pod["status"]["podIP"]
    assert world.pod_logs(ns, "late")[:1] and world.pod_logs(ns, "late")[0]["ok"]

    # Delete the binding: the grant goes, and the running pod's agent is
    # refused at its next refresh, by the metadata server itself.
    since = len(world.identity_calls())
    world.node.kubectl("delete", "awsrolebinding", "late-app", "-n", ns, "--timeout=60s")
    assert member(ns, "late-sa", PROJECT) not in wi_members(world.google, gsa)

    def refused():
        return [c for c in world.identity_calls()[since:]
                if c.get("client") == ip and c["status"] in (403, 404)]
    got = eventually(refused, 2 * LIFETIME, interval=2,
                     what=f"the metadata server refusing the pod at {ip}")
    assert got[0]["status"] in (403, 404)


# -- failover under load, across certificate rotations ------------------------------


def test_burst_of_pods_survives_leader_deletion_and_rotations(world):
    """200 pods created with failurePolicy Fail while the leading replica is
    deleted (graceful: the Service drops it while it drains) and while the
    serving certificate (40 s) and the CA (120 s, rotated every 60 s) rotate,
    the creates spread over ~75 s: every create succeeds and every stored pod
    carries the agent. The pods wait for a node that does not exist, so they
    are admitted but never run."""
    ns = world.namespace("burst")
    world.bound(ns, "burst-sa", "burst-app", "burst-app")
    secret0 = world.node.get("secret", "gtoken-webhook-cert", OPERATOR_NS)["data"]
    leader = world.leader()
    pods_total = 200
    errors: list[str] = []
    injected: list[bool] = []
    lock = threading.Lock()
    next_i = iter(range(pods_total))

    def create():
        while True:
            with lock:
                i = next(next_i, None)
            if i is None:
                return
            body = {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": f"b-{i:03d}", "namespace": ns,
                                 "labels": {"app": "burst"}},
                    "spec": {"serviceAccountName": "burst-sa", "restartPolicy": "Never",
                             "nodeSelector": {"gtoken.io/no-such-node": "true"},
                             "containers": [world.sdk_container(["-n", "1"])]}}
            try:
                got = world.api.create(f"/api/v1/namespaces/{ns}/pods", body)
                names = [c["name"] for c in got["spec"].get("initContainers", [])]
                with lock:
                    injected.append("gtoken" in names)
            except Exception as e:  # noqa: BLE001 - counted
                with lock:
                    errors.append(str(e)[:300])
            time.sleep(PACE)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(10)
    world.node.kubectl("delete", "pod", "-n", OPERATOR_NS, leader, "--wait=false")
    for t in threads:
        t.join(300)
    assert not errors, errors[:5]
    assert len(injected) == pods_total and all(injected)
    new_leader = eventually(lambda: (lambda h: h if h and h != leader else None)(world.leader()),
                            60, what="another replica leading")
    assert new_leader != leader
    world.wait_rollout()
    secret1 = world.node.get("secret", "gtoken-webhook-cert", OPERATOR_NS)["data"]
    assert secret1["tls.crt"] != secret0["tls.crt"], "no serving-certificate rotation in the burst"
    assert secret1["ca.crt"] != secret0["ca.crt"], "no CA rotation in the burst"
    world.node.kubectl("delete", "namespace", ns, "--wait=false")


def test_job_of_200_pods_survives_the_leader_killed_outright(world):
    """SIGKILL of the leading replica's process (no drain) while a Job makes
    200 pods, failurePolicy Fail: creations routed to the dead replica fail
    until its endpoint goes (the apiserver does not retry an admission call),
    the Job controller retries them, and in the end all 200 exist and every
    one carries the agent; no pod was admitted without it. The pods wait for
    a node that does not exist."""
    ns = world.namespace("killed")
    world.bound(ns, "kill-sa", "kill-app", "kill-app")
    leader = world.leader()
    pod = next(p for p in world.operator_pods() if p["metadata"]["name"] == leader)
    cid = container_status(pod, "operator")["containerID"].split("://", 1)[1]
    restarts = container_status(pod, "operator")["restartCount"]
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "many", "namespace": ns},
           "spec": {"completions": 200, "parallelism": 200, "backoffLimit": 0,
                    "template": {"spec": {
                        "serviceAccountName": "kill-sa", "restartPolicy": "Never",
                        "nodeSelector": {"gtoken.io/no-such-node": "true"},
                        "containers": [world.sdk_container(["-n", "1"])]}}}}
    world.node.apply(job)
    time.sleep(1)
    world.node.exec("ctr", "--address", "/run/containerd/containerd.sock", "-n", "k8s.io",
                    "tasks", "kill", "-s", "SIGKILL", cid)

    def all_there():
        pods = world.pods(ns, "job-name=many")
        return pods if len(pods) >= 200 else None
    pods = eventually(all_there, 300, interval=2, what="the Job's 200 pods")
    missing = [p["metadata"]["name"] for p in pods
               if "gtoken" not in [c["name"] for c in p["spec"].get("initContainers", [])]]
    assert not missing, missing[:5]
    failed = [e for e in json.loads(world.node.kubectl(
        "get", "events", "-n", ns, "--field-selector", "reason=FailedCreate", "-o", "json"))["items"]]
    print(f"FailedCreate events the Job controller retried: {sum(e.get('count', 1) for e in failed)}")
    eventually(lambda: container_status(next(
        p for p in world.operator_pods() if p["metadata"]["name"] == leader),
        "operator")["restartCount"] > restarts, 60, what="the killed replica restarted")
    world.wait_rollout()
    # Someone leads again: the other replica, or the restarted one, which
    # keeps its pod name as identity and may reclaim its own Lease.
    names = {p["metadata"]["name"] for p in world.operator_pods()}
    after = time.time()

    def renewed():
        spec = (world.node.get("lease", "gtoken-operator", OPERATOR_NS) or {}).get("spec", {})
        t = spec.get("renewTime", "")
        return spec.get("holderIdentity") in names and t and \
            calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) >= after - 1
    eventually(renewed, 60, interval=1, what="the Lease held and renewed after the kill")
    world.node.kubectl("delete", "namespace", ns, "--wait=false")


# -- the classic shape, for real ----------------------------------------------------


def test_classic_init_container_and_sidecar_run_for_real(world):
    """--native-sidecars=false (what auto picks before 1.33): the init
    container gtoken-init fetches the first token before any app container
    starts, and the regular container gtoken keeps it fresh. Last in the
    file: it rolls the operator out with the flag."""
    world.node.kubectl("patch", "deployment", "gtoken-operator", "-n", OPERATOR_NS,
                       "--type=json", "-p", json.dumps([{
                           "op": "add", "path": "/spec/template/spec/containers/0/args/-",
                           "value": "--native-sidecars=false"}]))
    world.wait_rollout()

    # Rollout status returns while the old replicas still drain (they keep
    # answering reviews, with the native shape, for --shutdown-delay):
    # wait until only new replicas exist.
    def only_new():
        pods = world.operator_pods()
        return len(pods) == 2 and all(
            "--native-sidecars=false" in p["spec"]["containers"][0]["args"]
            and not p["metadata"].get("deletionTimestamp") for p in pods)
    eventually(only_new, 120, interval=1, what="only replicas with --native-sidecars=false")
    ns = world.namespace("classic")
    world.bound(ns, "classic-sa", "classic-app", "classic-app")
    world.node.apply({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": "classic", "namespace": ns,
                                   "labels": {"app": "classic"}},
                      "spec": {"serviceAccountName": "classic-sa",
                               "containers": [world.sdk_container(
                                   ["-n", "100000", "-interval", "5s"])]}})
    pod = world.wait_pod(ns, "app=classic")
    inits = [c["name"] for c in pod["spec"].get("initContainers", [])]
    containers = [c["name"] for c in pod["spec"]["containers"]]
    assert inits[:1] == ["gtoken-init"] and "gtoken" in containers, (inits, containers)
    init = container_status(pod, "gtoken-init")["state"]["terminated"]
    assert init["exitCode"] == 0
    # The init container finished before the app started, and the app's
    # first call had credentials.
    assert init["finishedAt"] <= started_at(pod, "app")
    first = eventually(lambda: world.pod_logs(ns, "classic")[:1], 60, interval=1,
                       what="the SDK's first call")[0]
    assert first["ok"] and "/classic-app/" in first["arn"], first
    assert container_status(pod, "gtoken")["ready"]


# -- last: the kubelet's renewal of a projected token ---------------------------------


def test_kubelet_renewed_projected_token_keeps_working(world):
    """The Kubernetes-source Deployment started earlier (600 s tokens): the
    kubelet writes a new token at 80 % of its life; the SDK, re-assuming
    every 30 s, picks it up and never fails. Waits (bounded) until 540 s
    after that pod ran."""
    assert world.projected_app, "the Kubernetes-source test ran first"
    ns, name, role, started = world.projected_app
    time.sleep(max(0.0, started + 540 - time.time()))

    def renewed():
        tokens = [c["token_sha256"] for c in world.sts.calls()
                  if c["endpoint"] == "sts.AssumeRoleWithWebIdentity" and c["status"] == 200
                  and c["resource"] == role and c["time"] >= started
                  and c["token_sub"] == f"system:serviceaccount:{ns}:reports-sa"]
        return len(set(tokens)) >= 2 and tokens
    eventually(renewed, 120, interval=5, what="a second projected token at STS")
    # No call was refused over the whole run, before or after the renewal
    # (a transport timeout of the loaded stand-in is not a refusal).
    lines = world.pod_logs(ns, name)
    refused = [r for r in lines if not r["ok"] and "deadline exceeded" not in r.get("error", "")]
    assert len(lines) > 90 and not refused, refused[:3]
    assert all(r["ok"] for r in lines[-3:]), lines[-3:]
    assert sum(r["ok"] for r in lines) >= len(lines) - 3, [r for r in lines if not r["ok"]]
