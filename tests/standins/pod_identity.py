"""Which pod is calling the metadata server: GKE's answer, for a real node.

GKE's metadata server runs on each node and knows a caller by its source
address: the pod with that IP, its ServiceAccount, and that ServiceAccount's
iam.gke.io/gcp-service-account annotation, all read from the apiserver. This
does the same against a real kube-apiserver, so a pod on the test node
(tests/node) gets tokens exactly when GKE would give them.

    resolve = PodIdentity.from_kubeconfig(path)
    resolve("10.88.0.12")  -> Caller(namespace, service_account, gsa) or None

Only the standard library and PyYAML (for the kubeconfig) are needed. Every
name that goes into a request path is checked first: a pod's namespace and
ServiceAccount come from the apiserver, but the path is built only from
names that are valid Kubernetes names.
"""

from __future__ import annotations

import ipaddress
import json
import re
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote, urlencode

GSA_ANNOTATION = "iam.gke.io/gcp-service-account"
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


@dataclass(frozen=True)
class Caller:
    namespace: str
    service_account: str
    gsa: str | None  # the ServiceAccount's annotation, None when it has none

    @property
    def workload(self) -> str:
        return f"{self.namespace}/{self.service_account}"


class ApiUnavailable(RuntimeError):
    """The apiserver could not be asked (the metadata server answers 503)."""


class PodIdentity:
    def __init__(self, server: str, ca_file: str, cert_file: str | None = None,
                 key_file: str | None = None, token: str | None = None, timeout: float = 5):
        self.server = server.rstrip("/")
        self.ctx = ssl.create_default_context(cafile=ca_file)
        if cert_file:
            self.ctx.load_cert_chain(cert_file, key_file)
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_kubeconfig(cls, path: str) -> "PodIdentity":
        import yaml
        with open(path) as f:
            cfg = yaml.safe_load(f)
        ctx_name = cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        return cls(cluster["server"], cluster["certificate-authority"],
                   user.get("client-certificate"), user.get("client-key"), user.get("token"))

    def _get(self, path: str) -> dict | None:
        req = urllib.request.Request(self.server + path, headers={"Accept": "application/json"})
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self.ctx) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise ApiUnavailable(f"apiserver GET {path.split('?')[0]}: {e.code}") from None
        except (OSError, ValueError) as e:
            raise ApiUnavailable(f"apiserver GET {path.split('?')[0]}: {e}") from None

    def __call__(self, ip: str) -> Caller | None:
        """The pod behind source address ip, or None when no live pod has it."""
        try:
            addr = str(ipaddress.ip_address(ip))
        except ValueError:
            return None
        q = urlencode({"fieldSelector": f"status.podIP={addr}"})
        pods = (self._get(f"/api/v1/pods?{q}") or {}).get("items", [])
        live = [p for p in pods
                if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
                and not p.get("spec", {}).get("hostNetwork")]
        if len(live) != 1:
            return None  # none, or an address two pods claim: trust neither
        pod = live[0]
        ns = pod["metadata"].get("namespace", "")
        ksa = pod["spec"].get("serviceAccountName") or "default"
        if not _DNS1123_LABEL.match(ns) or not _DNS1123_SUBDOMAIN.match(ksa):
            return None
        sa = self._get(f"/api/v1/namespaces/{quote(ns, safe='')}/serviceaccounts/"
                       f"{quote(ksa, safe='')}")
        gsa = None
        if sa is not None:
            gsa = (sa.get("metadata", {}).get("annotations") or {}).get(GSA_ANNOTATION) or None
        return Caller(ns, ksa, gsa)
