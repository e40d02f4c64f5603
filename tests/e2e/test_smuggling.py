"""Request smuggling through names, against the real kube-apiserver.

Every input that ends up as a name in an apiserver request path is given
hostile bytes: a CR/LF followed by a second request line (a DELETE of a
ServiceAccount in another namespace), percent-encoded forms of the same, and
"../" traversals. The inputs are

  - a pod's spec.serviceAccountName and the request.namespace of an
    AdmissionReview POSTed straight to the webhook port (any caller can);
  - the gtoken.io/binding annotation of a ServiceAccount named by an
    AwsRoleBinding (a namespace editor can set it);
  - status.appliedTargets[].serviceAccountName of an AwsRoleBinding, written
    through the status subresource, then a spec change and a delete.

After each attempt: the victim ServiceAccount is still there and unchanged;
the apiserver's audit log (level Metadata, every request) holds no request
made with the operator's identity that is a DELETE it had no reason to make,
touches the victim namespace, carries the hostile bytes, or lacks the
operator's user agent (a smuggled request brings its own headers); the
webhook answered allowed with no patch and a warning (or 400) and still
serves; and later legitimate lookups get their own answers (a pooled
connection that was fed a second request would answer the next lookup with
the response to that one).

The operator runs under its own client certificate (user OPERATOR_USER), so
the audit log tells its requests apart from the test's."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import uuid
import warnings

import pytest
import requests
import urllib3

from arbutil import Api, PROJECT, binding, is_ready, wait_ready
from chain import free_port
from cluster import BUILD, REPO, ControlPlane, KubectlError, Operator, eventually
from standins.harness import GoogleStandin

OPERATOR_USER = "gtoken-operator-e2e"
OPERATOR_NS = "gtoken-system"
EDITOR = "ns-editor"
ACCOUNT = "123456789012"
VICTIM_ROLE = f"arn:aws:iam::{ACCOUNT}:role/victim"
SMUGGLE = "smuggl"  # in every fragment of a payload that could become a request path

urllib3.disable_warnings()
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def hostile_names(victim: str) -> dict[str, str]:
    """Hostile values for a name, by variant."""
    delete = f"DELETE /api/v1/namespaces/{victim}/serviceaccounts/target HTTP/1.1"
    tail = f"GET /api/v1/namespaces/{victim}/serviceaccounts/smuggled-2"
    return {
        "crlf": f"smuggled-1 HTTP/1.1\r\nHost: a\r\n\r\n{delete}\r\nHost: a\r\n"
                f"User-Agent: smuggler\r\nContent-Length: 0\r\n\r\n{tail}",
        "lf": f"smuggled-1 HTTP/1.1\nHost: a\n\n{delete}\nHost: a\nUser-Agent: smuggler\n\n{tail}",
        "pct": "smuggled-1%20HTTP/1.1%0d%0aHost:%20a%0d%0a%0d%0a"
               + delete.replace(" ", "%20") + "%0d%0aHost:%20a%0d%0a%0d%0a"
               + tail.replace(" ", "%20"),
        "dotdot": f"../../{victim}/serviceaccounts/target",
        "dotdot-pct": f"..%2f..%2f{victim}%2fserviceaccounts%2ftarget",
        "nul": "smuggled-1\x00/../../" + victim,
    }


def sa_manifest(ns: str, name: str, annotations: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations or {}}}


def pod(ns: str, sa: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"p-{uuid.uuid4().hex[:8]}", "namespace": ns},
            "spec": {"serviceAccountName": sa,
                     "containers": [{"name": "app", "image": "registry.example/app:1"}]}}


def admission_review(ns: str, obj: dict) -> dict:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": str(uuid.uuid4()),
                        "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "resource": {"group": "", "version": "v1", "resource": "pods"},
                        "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
                        "namespace": ns, "operation": "CREATE",
                        "userInfo": {"username": "someone"}, "object": obj,
                        "dryRun": False}}


def patch_of(review_response: dict) -> list | None:
    p = review_response.get("response", {}).get("patch")
    return json.loads(base64.b64decode(p)) if p else None


def env_values(node, name: str) -> list[str]:
    """Every value of an env var `name` anywhere in a JSON patch."""
    out = []
    if isinstance(node, dict):
        if node.get("name") == name and "value" in node:
            out.append(node["value"])
        for v in node.values():
            out += env_values(v, name)
    elif isinstance(node, list):
        for v in node:
            out += env_values(v, name)
    return out


# Bytes that must never reach a request path, as sent or as the apiserver
# decoded it (the audit log holds the decoded objectRef and the raw URI).
PATH_MARKERS = ("\r", "\n", "\x00", "%0d", "%0a", "%00", "%20", " ", "..", "%2e", "%25",
                "http/1.1", SMUGGLE)


class World:
    def __init__(self, cp: ControlPlane, google: GoogleStandin, new_operator, port: int,
                 metrics_port: int, victim_ns: str):
        self.cp, self.google = cp, google
        self.new_operator = new_operator
        self.op: Operator | None = None
        self.clean = True  # False while a test runs and after it failed
        self.hostile_namespaces: list[str] = []
        self.api = Api(cp)
        self.url = f"https://127.0.0.1:{port}"
        # /metrics has a port of its own (older builds: on the webhook port).
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics" if metrics_port \
            else self.url + "/metrics"
        self.web = requests.Session()
        # Any caller: nobody checks who POSTs, and we check no certificate
        # (trust_env off, or a REQUESTS_CA_BUNDLE would win over verify).
        self.web.trust_env = False
        self.web.verify = False
        self.victim_ns = victim_ns
        self.victim = self.api.service_account(victim_ns, "target")
        self.gsa = google.create_sa("smuggling")["email"]
        self.offset = 0
        self.live_found = 0  # legitimate reviews answered by a live GET (cache miss)

    def start_operator(self):
        self.op = self.new_operator().start()
        eventually(lambda: self.web.get(self.url + "/readyz", timeout=5).status_code == 200,
                   90, 0.5, what="the webhook ready" + self.log_tail())

    def restore(self):
        """After a failed test: a new operator process (its pooled connections
        may be desynchronised) and the victim ServiceAccount as it was, so
        the next test's result is its own."""
        if self.op is not None:
            self.op.stop()
        # Take away the hostile input the failed test left, so that the new
        # operator's reconciles do not run into it.
        for ns in self.hostile_namespaces:
            for b in self.api.bindings(ns):
                path = f"/apis/gtoken.io/v1alpha1/namespaces/{ns}/awsrolebindings/" \
                       + b["metadata"]["name"]
                self.api.request("PATCH", path, {"metadata": {"finalizers": None}},
                                 content_type="application/merge-patch+json")
                self.api.request("DELETE", path, ok=(200, 202, 404))
            for sa in self.api.service_accounts(ns):
                self.api.request("DELETE", f"/api/v1/namespaces/{ns}/serviceaccounts/"
                                 + sa["metadata"]["name"], ok=(200, 202, 404))
        self.hostile_namespaces.clear()
        if self.api.service_account(self.victim_ns, "target") is None:
            self.cp.apply(sa_manifest(self.victim_ns, "target",
                                      {"amazonaws.com/role-arn": VICTIM_ROLE}))
        self.victim = self.api.service_account(self.victim_ns, "target")
        self.start_operator()

    # -- the webhook ---------------------------------------------------------

    def post_review(self, review: dict) -> tuple[int, dict]:
        r = self.web.post(self.url + "/mutate", json=review, timeout=15)
        try:
            body = r.json()
        except ValueError:
            body = {"raw": r.text[:500]}
        return r.status_code, body

    def metric(self, name: str, **labels) -> float:
        text = self.web.get(self.metrics_url, timeout=10).text
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        total = 0.0
        for line in text.splitlines():
            m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
            if m and m.group(1) == name and (not want or sorted_labels(m.group(2)) == want):
                total += float(m.group(3))
        return total

    def assert_unmutated_with_warning(self, status: int, body: dict, what: str):
        if status == 400:
            return  # a malformed review may be refused outright
        assert status == 200, f"{what}: webhook answered HTTP {status}: {body}"
        resp = body.get("response", {})
        assert resp.get("allowed") is True, f"{what}: not allowed: {body}"
        assert "patch" not in resp, f"{what}: the webhook patched the pod: {patch_of(body)}"
        assert resp.get("warnings"), f"{what}: no warning in {body}"

    # -- the audit log -------------------------------------------------------

    def barrier(self):
        """Returns once every request the apiserver finished before now is in
        the audit log: a request of our own, looked for in the log."""
        marker = f"audit-barrier-{uuid.uuid4().hex}"
        self.api.request("GET", f"/api/v1/namespaces/{marker}")
        eventually(lambda: any(marker in e.get("requestURI", "")
                               for e in self.cp.audit_events(self.offset)[0]),
                   30, 0.1, what="the audit barrier in the audit log")

    def mark(self) -> int:
        self.barrier()
        _, self.offset = self.cp.audit_events(self.offset)
        return self.offset

    def operator_events(self, since: int) -> list[dict]:
        events, _ = self.cp.audit_events(since)
        last: dict[str, dict] = {}
        for e in events:
            if e.get("user", {}).get("username") == OPERATOR_USER:
                last[e["auditID"]] = e  # the latest stage of each request
        return list(last.values())

    def violations(self, since: int, allowed_deletes: set[tuple[str, str]] = frozenset()
                   ) -> list[str]:
        bad = []
        for e in self.operator_events(since):
            uri = e.get("requestURI", "")
            ref = e.get("objectRef", {})
            path = uri.split("?", 1)[0].lower()
            where = f"{e.get('verb')} {uri!r} (ua {e.get('userAgent')!r}, " \
                    f"code {e.get('responseStatus', {}).get('code')})"
            if not str(e.get("userAgent", "")).startswith("gtoken"):
                bad.append("request without the operator's user agent: " + where)
            if self.victim_ns in uri or ref.get("namespace") == self.victim_ns:
                bad.append("request to the victim namespace: " + where)
            for m in PATH_MARKERS:
                if m in path or m in str(ref.get("name", "")).lower() or \
                        m in str(ref.get("namespace", "")).lower():
                    bad.append(f"hostile bytes {m!r} in a request: " + where)
                    break
            if e.get("verb") in ("delete", "deletecollection") and \
                    (ref.get("namespace"), ref.get("name")) not in allowed_deletes:
                bad.append("unexpected delete: " + where)
        return bad

    # -- checks after every attempt ------------------------------------------

    def assert_unharmed(self, since: int, what: str,
                        allowed_deletes: set[tuple[str, str]] = frozenset()):
        self.barrier()
        now = self.api.service_account(self.victim_ns, "target")
        assert now is not None, f"{what}: the victim ServiceAccount was deleted"
        for k in ("uid", "resourceVersion", "annotations", "labels"):
            assert now["metadata"].get(k) == self.victim["metadata"].get(k), \
                f"{what}: the victim ServiceAccount changed ({k})"
        bad = self.violations(since, allowed_deletes)
        assert not bad, f"{what}: operator requests that should not exist:\n  " + \
            "\n  ".join(bad[:20]) + self.log_tail()
        assert self.op.alive(), f"{what}: the operator exited" + self.log_tail()
        r = self.web.get(self.url + "/healthz", timeout=10)
        assert r.status_code == 200, f"{what}: webhook /healthz answered {r.status_code}"

    def log_tail(self) -> str:
        if self.op is None:
            return ""
        state = "" if self.op.alive() else " (exited)"
        return f"\n--- operator log (tail){state} ---\n" + \
            "\n".join(self.op.logs().splitlines()[-30:])

    def assert_webhook_lookups_answer_correctly(self, tag: str):
        """Live lookups after an attempt get their own answers: a ServiceAccount
        that does not exist (never in the cache: always a live GET) is not
        found, and ServiceAccounts created just before their review (a live
        GET when the cache has not caught up) give their own role ARN."""
        ns = self.cp.create_namespace("legit")
        not_found = self.metric("gtoken_webhook_service_account_cache_misses_total",
                                result="not_found")
        for i in range(2):
            status, body = self.post_review(admission_review(ns, pod(ns, f"nosuch-{i}")))
            assert status == 200, (status, body)
            resp = body["response"]
            assert resp["allowed"] is True and "patch" not in resp, \
                f"{tag}: a review of a missing ServiceAccount got a patch: {patch_of(body)}"
            assert any("not found" in w for w in resp.get("warnings", [])), body
        assert self.metric("gtoken_webhook_service_account_cache_misses_total",
                           result="not_found") == not_found + 2, \
            "the reviews of missing ServiceAccounts were not answered by live GETs"
        misses = self.metric("gtoken_webhook_service_account_cache_misses_total", result="found")
        for i in range(4):
            arn = f"arn:aws:iam::{ACCOUNT}:role/legit-{tag}-{i}"
            self.api.create(f"/api/v1/namespaces/{ns}/serviceaccounts", sa_manifest(
                ns, f"app-{i}", {"amazonaws.com/role-arn": arn,
                                 "iam.gke.io/gcp-service-account": self.gsa}))
            status, body = self.post_review(admission_review(ns, pod(ns, f"app-{i}")))
            assert status == 200, (status, body)
            p = patch_of(body)
            assert p, f"{tag}: ServiceAccount app-{i} with a role: no patch: {body}"
            assert env_values(p, "AWS_ROLE_ARN") == [arn], \
                f"{tag}: app-{i}: the patch names {env_values(p, 'AWS_ROLE_ARN')}, not {arn}"
        self.live_found += int(self.metric("gtoken_webhook_service_account_cache_misses_total",
                                           result="found") - misses)

    def assert_controller_answers_correctly(self, tag: str):
        """A fresh binding still becomes Ready with its own ServiceAccount."""
        ns = self.cp.create_namespace("legit")
        arn = f"arn:aws:iam::{ACCOUNT}:role/legit-{tag}"
        self.cp.apply(binding("ok", ns, "worker", self.gsa, role=arn))
        b = wait_ready(self.cp, "ok", ns, op=self.op)
        assert [t["serviceAccountName"] for t in b["status"]["appliedTargets"]] == ["worker"]
        sa = self.api.service_account(ns, "worker")
        assert sa["metadata"]["annotations"]["amazonaws.com/role-arn"] == arn
        assert sa["metadata"]["annotations"]["gtoken.io/binding"] == "ok"

    def editor_namespace(self, prefix: str) -> str:
        """A namespace where EDITOR may edit ServiceAccounts and bindings,
        status included (no more: no cluster role, nothing elsewhere)."""
        ns = self.cp.create_namespace(prefix)
        self.hostile_namespaces.append(ns)
        self.cp.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                       "metadata": {"name": "editor", "namespace": ns},
                       "rules": [{"apiGroups": [""], "resources": ["serviceaccounts"],
                                  "verbs": ["*"]},
                                 {"apiGroups": ["gtoken.io"],
                                  "resources": ["awsrolebindings", "awsrolebindings/status"],
                                  "verbs": ["*"]}]})
        self.cp.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                       "metadata": {"name": "editor", "namespace": ns},
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                   "name": "editor"},
                       "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                     "name": EDITOR}]})
        return ns

    def as_editor(self, *args: str, input: str | None = None) -> str:
        return self.cp.kubectl(*args, f"--as={EDITOR}", input=input)


def sorted_labels(text: str | None) -> str:
    if not text:
        return ""
    return ",".join(sorted(re.findall(r'\w+="[^"]*"', text)))


@pytest.fixture(scope="module")
def world():
    name = "smuggling-" + os.environ.get("PYTEST_XDIST_WORKER", "main")
    cp = ControlPlane(name, audit=True)
    cp.start()
    google = None
    op = None
    config = "gtoken-webhook-smuggling"
    try:
        cp.install_crds()
        if os.path.exists(os.path.join(REPO, "crds", "gtoken.io_awsrolebindingpolicies.yaml")):
            # Bindings act only where a policy allows them: allow every
            # namespace this test's project GSAs and account's roles.
            policy = {"apiVersion": "gtoken.io/v1alpha1", "kind": "AwsRoleBindingPolicy",
                      "metadata": {"name": "smuggling-allow-all"},
                      "spec": {"namespaces": {"selector": {}},
                               "gcpServiceAccounts": [f"*@{PROJECT}.iam.gserviceaccount.com"],
                               "awsRoles": [ACCOUNT]}}
            eventually(lambda: cp.apply(policy) or True, 60, 0.5,
                       what="the AwsRoleBindingPolicy applied")
        google = GoogleStandin(project=PROJECT)
        google.start()
        google.create_sa("gtoken-operator")
        google.config(instance_sa=f"gtoken-operator@{PROJECT}.iam.gserviceaccount.com")

        victim = cp.create_namespace("victim")
        cp.apply(sa_manifest(victim, "target", {"amazonaws.com/role-arn": VICTIM_ROLE}))
        cp.kubectl("create", "namespace", OPERATOR_NS)

        # URL-mode registration that selects no namespace: the apiserver never
        # calls the webhook here; the operator keeps its caBundle, and the
        # reviews come straight from the test, as from any caller.
        port, metrics_port = free_port(), free_port()
        help_text = subprocess.run([os.path.join(BUILD, "cmd", "gtoken-operator", "gtoken-operator"), "--help"],
                                   capture_output=True, text=True, timeout=30).stdout
        metrics_args = [f"--metrics-port={metrics_port}", "--metrics-bind-address=127.0.0.1"]
        if "--metrics-port" not in help_text:
            metrics_port, metrics_args = 0, []
        cp.apply({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": config},
            "webhooks": [{
                "name": "pods.gtoken.io",
                "clientConfig": {"url": f"https://127.0.0.1:{port}/mutate"},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                           "resources": ["pods"]}],
                "sideEffects": "None", "admissionReviewVersions": ["v1"],
                "failurePolicy": "Ignore", "timeoutSeconds": 5,
                "namespaceSelector": {"matchLabels": {"gtoken-e2e-smuggling": "never"}}}]})

        kubeconfig = cp.client_kubeconfig(OPERATOR_USER, ("system:masters",))
        def new_operator() -> Operator:
            return Operator(cp, google, kubeconfig=kubeconfig, name="op-smuggling", args=[
                "--leader-elect=false", "--log-level=debug", f"--namespace={OPERATOR_NS}",
                f"--webhook-port={port}", "--webhook-bind-address=127.0.0.1",
                f"--webhook-config-name={config}", "--webhook-extra-ip=127.0.0.1",
                *metrics_args])
        w = World(cp, google, new_operator, port, metrics_port, victim)
        assert w.victim is not None
        w.start_operator()
        yield w
        op = w.op
        print(f"\nlegitimate reviews answered by a live GET (cache miss): {w.live_found}")
        if w.live_found == 0:
            warnings.warn("no legitimate review of an existing ServiceAccount was answered "
                          "by a live GET (all cache hits); missing ones always were")
    finally:
        if op is not None:
            op.stop()
        if google is not None:
            google.stop()
        cp.stop()


@pytest.fixture
def w(world):
    """The world, restored first if the previous test failed."""
    if not world.clean:
        world.restore()
    world.clean = False
    yield world


VARIANTS = list(hostile_names("victim"))


@pytest.mark.parametrize("variant", VARIANTS)
def test_webhook_service_account_name(w, variant):
    ns = w.cp.create_namespace("atk")
    hostile = hostile_names(w.victim_ns)[variant]
    since = w.mark()
    status, body = w.post_review(admission_review(ns, pod(ns, hostile)))
    w.assert_unmutated_with_warning(status, body, f"serviceAccountName {variant}")
    # The deprecated alias reaches the same lookup.
    p = pod(ns, "ignored")
    del p["spec"]["serviceAccountName"]
    p["spec"]["serviceAccount"] = hostile
    status, body = w.post_review(admission_review(ns, p))
    w.assert_unmutated_with_warning(status, body, f"serviceAccount {variant}")
    w.assert_unharmed(since, f"webhook serviceAccountName {variant}")
    w.assert_webhook_lookups_answer_correctly(f"sa-{variant}")
    w.clean = True


@pytest.mark.parametrize("variant", VARIANTS)
def test_webhook_request_namespace(w, variant):
    ns = w.cp.create_namespace("atk")
    hostile = hostile_names(w.victim_ns)[variant]
    since = w.mark()
    for sa in ("default", "app"):
        review = admission_review(hostile, pod(ns, sa))
        status, body = w.post_review(review)
        w.assert_unmutated_with_warning(status, body, f"request.namespace {variant}")
    # No request.namespace: the pod's own metadata.namespace is used instead.
    p = pod(ns, "app")
    p["metadata"]["namespace"] = hostile
    review = admission_review("", p)
    review["request"].pop("namespace")
    status, body = w.post_review(review)
    w.assert_unmutated_with_warning(status, body, f"metadata.namespace {variant}")
    w.assert_unharmed(since, f"webhook request.namespace {variant}")
    w.assert_webhook_lookups_answer_correctly(f"ns-{variant}")
    w.clean = True


@pytest.mark.parametrize("variant", VARIANTS)
def test_binding_annotation_on_service_account(w, variant):
    """A namespace editor names a hostile owner in the gtoken.io/binding
    annotation of the ServiceAccount a binding names: the controller reads
    the owner it records there."""
    ns = w.editor_namespace("ann")
    hostile = hostile_names(w.victim_ns)[variant]
    since = w.mark()
    w.as_editor("apply", "-f", "-", input=json.dumps(
        sa_manifest(ns, "shared", {"gtoken.io/binding": hostile})))
    w.as_editor("apply", "-f", "-", input=json.dumps(binding("b", ns, "shared", w.gsa)))
    # Let the controller act on it: the binding gets a condition either way.
    eventually(lambda: (w.cp.get("awsrolebinding", "b", ns) or {}).get("status", {})
               .get("conditions"), 60, 0.3, what="binding b reconciled" + w.log_tail())
    time.sleep(2)  # retries of a failed reconcile, if any
    w.assert_unharmed(since, f"annotation on a new ServiceAccount, {variant}")

    # The same edit on a ServiceAccount the controller created and owns.
    w.as_editor("apply", "-f", "-", input=json.dumps(binding("own", ns, "owned", w.gsa)))
    wait_ready(w.cp, "own", ns, op=w.op)
    since = w.mark()
    w.as_editor("patch", "serviceaccount", "owned", "-n", ns, "--type=merge", "-p",
                json.dumps({"metadata": {"annotations": {"gtoken.io/binding": hostile}}}))
    time.sleep(3)  # the ServiceAccount's change triggers a reconcile of "own"
    w.assert_unharmed(since, f"annotation edited on an owned ServiceAccount, {variant}")
    # Take the hostile input away and the bindings with it, so that retries
    # of these reconciles do not run into the next test's checks.
    for sa in ("shared", "owned"):
        w.as_editor("patch", "serviceaccount", sa, "-n", ns, "--type=merge", "-p",
                    json.dumps({"metadata": {"annotations": {"gtoken.io/binding": None}}}))
    w.as_editor("delete", "awsrolebinding", "--all", "-n", ns, "--wait=false")
    try:
        eventually(lambda: not json.loads(w.as_editor("get", "awsrolebinding", "-n", ns,
                                                      "-o", "json"))["items"], 30, 0.5)
    except AssertionError:
        pass  # not what this test is about; the next tests' checks would show it
    w.clean = True
    w.assert_controller_answers_correctly(f"ann-{variant}")
    w.assert_webhook_lookups_answer_correctly(f"ann-{variant}")


def test_status_applied_targets(w):
    """A hostile status.appliedTargets[].serviceAccountName, written through
    the status subresource: the controller undoes applied targets the spec
    no longer wants (on every reconcile, a spec change, and the delete)."""
    ns = w.editor_namespace("status")
    w.as_editor("apply", "-f", "-", input=json.dumps(binding("b", ns, "app", w.gsa)))
    b = wait_ready(w.cp, "b", ns, op=w.op)
    good = b["status"]["appliedTargets"]
    assert [t["serviceAccountName"] for t in good] == ["app"]

    since = w.mark()
    hostile = [dict(good[0], serviceAccountName=v, createdServiceAccount=True)
               for v in hostile_names(w.victim_ns).values()]
    refused = None
    try:
        w.as_editor("patch", "awsrolebinding", "b", "-n", ns, "--subresource=status",
                    "--type=merge", "-p",
                    json.dumps({"status": {"appliedTargets": good + hostile}}))
    except KubectlError as e:  # refusing the write is a fine defence too
        refused = str(e)
    if refused is None:
        stored = w.cp.get("awsrolebinding", "b", ns)["status"].get("appliedTargets", [])
        print(f"hostile status stored; appliedTargets now has {len(stored)} entries")
    time.sleep(3)  # the status change itself triggers a reconcile
    w.assert_unharmed(since, "hostile appliedTargets, status write")

    # A spec change: make-before-break, then undo what the spec no longer wants.
    since = w.mark()
    w.as_editor("patch", "awsrolebinding", "b", "-n", ns, "--type=merge", "-p",
                json.dumps({"spec": {"awsRoleArn": f"arn:aws:iam::{ACCOUNT}:role/other"}}))
    eventually(lambda: is_ready(w.cp.get("awsrolebinding", "b", ns)), 60, 0.3,
               what="binding b Ready for generation 2" + w.log_tail())
    time.sleep(2)
    w.assert_unharmed(since, "hostile appliedTargets, spec change")

    # Delete: the cleanup walks every applied target. Deleting the
    # ServiceAccount the binding created ("app") is the one intended delete.
    since = w.mark()
    if refused is None:
        w.as_editor("patch", "awsrolebinding", "b", "-n", ns, "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": {"appliedTargets": (
                        w.cp.get("awsrolebinding", "b", ns)["status"]["appliedTargets"]
                        + hostile)}}))
    w.as_editor("delete", "awsrolebinding", "b", "-n", ns, "--wait=false")
    eventually(lambda: w.cp.get("awsrolebinding", "b", ns) is None, 60, 0.5,
               what="binding b gone (its finalizer released despite the hostile targets)"
               + w.log_tail())
    w.assert_unharmed(since, "hostile appliedTargets, delete", allowed_deletes={(ns, "app")})
    w.assert_controller_answers_correctly("status")
    w.assert_webhook_lookups_answer_correctly("status")
    w.clean = True
