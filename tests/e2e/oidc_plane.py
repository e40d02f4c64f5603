"""A private control plane whose kube-apiserver can be trusted as an OIDC
issuer by the STS stand-in, as AWS trusts a GKE cluster's issuer.

cp.sh starts the apiserver with --service-account-issuer
https://kubernetes.default.svc.cluster.local and it serves its own
/.well-known/openid-configuration and /openid/v1/jwks. Two things are added
here without changing cp.sh:
- a serving certificate naming kubernetes.default.svc.cluster.local: cp.sh's
  apiserver.crt has only localhost, kubernetes, kubernetes.default.svc,
  127.0.0.1 and 10.0.0.1, so the stand-in (which verifies the issuer's
  certificate for the issuer's name, as AWS does) would refuse it. One more
  is signed (same key and CSR, cp.sh's CA, the extra name) and passed with
  GTOKEN_CP_EXTRA_ARGS=--tls-cert-file (the later flag wins).
- anonymous access to the discovery endpoints (DISCOVERY_BINDING): the
  apiserver runs with anonymous auth on (its default), but the default
  binding of system:service-account-issuer-discovery names only
  system:serviceaccounts; GKE serves them publicly.

The issuer's name does not resolve here: the stand-in connects through
`sts_connect_to(cp)` (a --connect-to entry for ISSUER_HOST:443).
"""

from __future__ import annotations

import contextlib
import os
import subprocess

from cluster import CP_SCRIPT, ControlPlane

ISSUER = "https://kubernetes.default.svc.cluster.local"
ISSUER_HOST = ISSUER[len("https://"):]
DISCOVERY_BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
    "metadata": {"name": "gtoken-test:service-account-issuer-discovery:unauthenticated"},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": "system:service-account-issuer-discovery"},
    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                  "name": "system:unauthenticated"}]}


def issuer_serving_cert(cp_dir: str) -> str:
    """cp.sh's apiserver certificate again, with the issuer's host name added."""
    pki = os.path.join(cp_dir, "pki")
    with open(os.path.join(pki, "apiserver.ext")) as f:
        ext = f.read()
    ext = "".join(line + (f",DNS:{ISSUER_HOST}" if line.startswith("subjectAltName=") else "")
                  + "\n" for line in ext.splitlines())
    ext_path = os.path.join(pki, "apiserver-issuer.ext")
    crt = os.path.join(pki, "apiserver-issuer.crt")
    with open(ext_path, "w") as f:
        f.write(ext)
    subprocess.run(["openssl", "x509", "-req", "-in", os.path.join(pki, "apiserver.csr"),
                    "-CA", os.path.join(pki, "ca.crt"), "-CAkey", os.path.join(pki, "ca.key"),
                    "-CAcreateserial", "-days", "2", "-extfile", ext_path, "-out", crt],
                   check=True, capture_output=True)
    return crt


@contextlib.contextmanager
def oidc_control_plane(name: str):
    """A ControlPlane (started, `port` set) serving the issuer's name."""
    cp = ControlPlane(name)
    subprocess.run([CP_SCRIPT, "stop", cp.dir], capture_output=True)
    subprocess.run([CP_SCRIPT, "certs", cp.dir], check=True, capture_output=True)
    extra = cp.env.get("GTOKEN_CP_EXTRA_ARGS", "")
    cp.env["GTOKEN_CP_EXTRA_ARGS"] = f"{extra} --tls-cert-file {issuer_serving_cert(cp.dir)}"
    with cp:
        with open(os.path.join(cp.dir, "apiserver-0.port")) as f:
            cp.port = int(f.read())
        yield cp


def sts_connect_to(cp) -> dict:
    """StsStandin.config() settings that make it reach the issuer on `cp`."""
    return {"connect_to": [f"{ISSUER_HOST}:443:127.0.0.1:{cp.port}"],
            "oidc_ca_file": os.path.join(cp.dir, "pki", "ca.crt")}
