"""Helpers for the AwsRoleBinding controller's end-to-end tests: binding
objects, condition checks, IAM policy checks, and a direct REST client for
the bulk tests (kubectl takes ~0.2 s per call; 100 bindings want faster).

    from arbutil import binding, start_operator, wait_ready, wi_members

    with start_operator(cp, google) as op:
        cp.apply(binding("b", ns, "ksa", gsa))
        wait_ready(cp, "b", ns, op=op)
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import requests
import urllib3
import yaml

from cluster import ControlPlane, Operator, eventually

PROJECT = "my-project"
WI_ROLE = "roles/iam.workloadIdentityUser"
ROLE = "arn:aws:iam::123456789012:role/my-data-uploader"
ROLE2 = "arn:aws:iam::123456789012:role/other-role"
DEFAULT_AUDIENCE = "gtoken/sts/assume-role-with-web-identity"
GTOKEN_KEYS = ("iam.gke.io/gcp-service-account", "amazonaws.com/role-arn", "gtoken.io/binding",
               "gtoken.io/audience", "gtoken.io/region", "gtoken.io/containers",
               "gtoken.io/created-by")
API = "/apis/gtoken.io/v1alpha1"


def policy(name: str, namespaces: dict, gsas: list[str], roles: list[str],
           audiences: list[str] | None = None, exclusive: bool = False,
           token_sources: list[str] | None = None) -> dict:
    """An AwsRoleBindingPolicy (cluster-scoped)."""
    spec: dict[str, Any] = {"namespaces": namespaces, "gcpServiceAccounts": gsas,
                            "awsRoles": roles}
    if audiences is not None:
        spec["audiences"] = audiences
    if token_sources is not None:
        spec["tokenSources"] = token_sources
    if exclusive:
        spec["exclusive"] = True
    return {"apiVersion": "gtoken.io/v1alpha1", "kind": "AwsRoleBindingPolicy",
            "metadata": {"name": name}, "spec": spec}


# What the suites that are not about tenancy run under: every namespace may
# bind any GSA of the test projects to any role and audience.
ALLOW_ALL = policy("e2e-allow-all", {"selector": {}},
                   [f"*@{PROJECT}.iam.gserviceaccount.com", "*@y.iam.gserviceaccount.com"],
                   ["*"], ["*"], token_sources=["Google", "Kubernetes"])


def binding(name: str, ns: str, ksa: str, gsa: str, role: str = ROLE, **spec) -> dict:
    return {"apiVersion": "gtoken.io/v1alpha1", "kind": "AwsRoleBinding",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"serviceAccountName": ksa, "gcpServiceAccount": gsa, "awsRoleArn": role,
                     **spec}}


def member(ns: str, ksa: str, project: str = PROJECT) -> str:
    return f"serviceAccount:{project}.svc.id.goog[{ns}/{ksa}]"


def condition(b: dict | None, ctype: str) -> dict | None:
    if not b:
        return None
    for c in b.get("status", {}).get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


def is_ready(b: dict | None) -> bool:
    """Ready=True for the current generation."""
    c = condition(b, "Ready")
    return bool(c and c["status"] == "True"
                and c.get("observedGeneration") == b["metadata"]["generation"]
                and b["status"].get("observedGeneration") == b["metadata"]["generation"])


def operator_args(*extra: str) -> list[str]:
    return ["--leader-elect=false", "--webhook=false", "--log-level=debug", *extra]


def start_operator(cp: ControlPlane, google, *extra: str, name: str = "operator",
                   args: list[str] | None = None) -> Operator:
    return Operator(cp, google, args=args if args is not None else operator_args(*extra),
                    name=name)


def _logs(op: Operator | None) -> str:
    if op is None:
        return ""
    try:
        return "\n--- operator log (tail) ---\n" + "\n".join(op.logs().splitlines()[-40:])
    except OSError:
        return ""


def wait_ready(cp: ControlPlane, name: str, ns: str, timeout: float = 60,
               op: Operator | None = None) -> dict:
    return eventually(lambda: (lambda b: b if is_ready(b) else None)(
        cp.get("awsrolebinding", name, ns)), timeout, interval=0.3,
        what=f"binding {ns}/{name} Ready" + _logs(op))


def wait_condition(cp: ControlPlane, name: str, ns: str, reason: str, status: str = "False",
                   ctype: str = "Ready", timeout: float = 60, op: Operator | None = None) -> dict:
    def check():
        b = cp.get("awsrolebinding", name, ns)
        c = condition(b, ctype)
        if c and c["status"] == status and c["reason"] == reason and \
                c.get("observedGeneration") == b["metadata"]["generation"]:
            return b
        return None
    return eventually(check, timeout, interval=0.3,
                      what=f"binding {ns}/{name} {ctype}={status} reason {reason}" + _logs(op))


def wait_gone(cp: ControlPlane, kind: str, name: str, ns: str, timeout: float = 60,
              op: Operator | None = None):
    eventually(lambda: cp.get(kind, name, ns) is None, timeout, interval=0.3,
               what=f"{kind} {ns}/{name} gone" + _logs(op))


def wi_members(google, gsa: str) -> list[str]:
    """Members of the unconditional roles/iam.workloadIdentityUser binding(s), in order,
    duplicates kept (so a test can see them)."""
    out: list[str] = []
    for b in google.policy(gsa).get("bindings", []):
        if b["role"] == WI_ROLE and "condition" not in b:
            out.extend(b["members"])
    return out


def gtoken_annotations(sa: dict | None) -> dict:
    ann = ((sa or {}).get("metadata") or {}).get("annotations") or {}
    return {k: v for k, v in ann.items() if k in GTOKEN_KEYS}


def other_annotations(sa: dict | None) -> dict:
    """A ServiceAccount's annotations that are neither gtoken's nor kubectl's bookkeeping."""
    ann = ((sa or {}).get("metadata") or {}).get("annotations") or {}
    return {k: v for k, v in ann.items()
            if k not in GTOKEN_KEYS and k != "kubectl.kubernetes.io/last-applied-configuration"}


def events_for(cp: ControlPlane, name: str, ns: str) -> list[dict]:
    out = json.loads(cp.kubectl("get", "events", "-n", ns, "-o", "json",
                                "--field-selector", f"involvedObject.name={name}"))
    return out["items"]


class Api:
    """Plain REST calls with the admin client certificate of a ControlPlane."""

    def __init__(self, cp: ControlPlane):
        with open(cp.kubeconfig) as f:
            kc = yaml.safe_load(f)
        cluster = kc["clusters"][0]["cluster"]
        user = kc["users"][0]["user"]
        self.server = cluster["server"]
        self.s = requests.Session()
        # Passed on every call: a REQUESTS_CA_BUNDLE in the environment would
        # otherwise win over Session.verify.
        self.verify = cluster["certificate-authority"]
        self.s.cert = (user["client-certificate"], user["client-key"])
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
        self.s.mount("https://", adapter)
        urllib3.disable_warnings()

    def request(self, method: str, path: str, body: Any = None, ok=(200, 201, 202),
                content_type: str = "application/json", **params) -> dict | None:
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        r = self.s.request(method, self.server + path, data=data, params=params or None,
                           headers={"Content-Type": content_type}, timeout=60,
                           verify=self.verify)
        if r.status_code == 404 and method == "GET":
            return None
        if r.status_code not in ok:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else None

    def bindings(self, ns: str) -> list[dict]:
        return self.request("GET", f"{API}/namespaces/{ns}/awsrolebindings")["items"]

    def binding(self, ns: str, name: str) -> dict | None:
        return self.request("GET", f"{API}/namespaces/{ns}/awsrolebindings/{name}")

    def create_binding(self, obj: dict) -> dict:
        ns = obj["metadata"]["namespace"]
        return self.request("POST", f"{API}/namespaces/{ns}/awsrolebindings", obj)

    def delete_binding(self, ns: str, name: str):
        return self.request("DELETE", f"{API}/namespaces/{ns}/awsrolebindings/{name}",
                            ok=(200, 202, 404))

    def service_accounts(self, ns: str) -> list[dict]:
        return self.request("GET", f"/api/v1/namespaces/{ns}/serviceaccounts")["items"]

    def service_account(self, ns: str, name: str) -> dict | None:
        return self.request("GET", f"/api/v1/namespaces/{ns}/serviceaccounts/{name}")

    def create(self, path: str, obj: dict) -> dict:
        return self.request("POST", path, obj)


def wait_all_ready(api: Api, ns: str, count: int, timeout: float, op: Operator | None = None,
                   interval: float = 1.0) -> list[dict]:
    def check():
        items = api.bindings(ns)
        if len(items) == count and all(is_ready(b) for b in items):
            return items
        return None
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            items = api.bindings(ns)
            not_ready = [(b["metadata"]["name"], condition(b, "Ready"))
                         for b in items if not is_ready(b)][:5]
            raise AssertionError(f"{len(not_ready)} of {len(items)} bindings not Ready after "
                                 f"{timeout}s, e.g. {not_ready}" + _logs(op))
        time.sleep(interval)


def operator_pid_rss_kib(op: Operator) -> int:
    """Peak resident set size (VmHWM) of the operator process, KiB."""
    with open(f"/proc/{op.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def tmp_path_of(cp: ControlPlane, name: str) -> str:
    return os.path.join(cp.dir, name)


def kubernetes_binding(name: str, ns: str, ksa: str, role: str = ROLE, **spec) -> dict:
    """A tokenSource: Kubernetes binding (no GSA)."""
    return {"apiVersion": "gtoken.io/v1alpha1", "kind": "AwsRoleBinding",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"tokenSource": "Kubernetes", "serviceAccountName": ksa, "awsRoleArn": role,
                     **spec}}
