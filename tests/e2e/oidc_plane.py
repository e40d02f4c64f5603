"""A private control plane whose kube-apiserver can be trusted as an OIDC
issuer by the STS stand-in, as AWS trusts a GKE cluster's issuer.

cp.sh starts the apiserver with --service-account-issuer
https://kubernetes.default.svc.cluster.local and it serves its own
/.well-known/openid-configuration and /openid/v1/jwks. What this adds:
- cp.sh's serving certificate names kubernetes.default.svc.cluster.local
  (the stand-in verifies the issuer's certificate for the issuer's name, as
  AWS does); a control-plane folder whose pki predates that is made anew.
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
import shutil
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


@contextlib.contextmanager
def oidc_control_plane(name: str):
    """A ControlPlane (started, `port` set) serving the issuer's name."""
    cp = ControlPlane(name)
    subprocess.run([CP_SCRIPT, "stop", cp.dir], capture_output=True)
    # cp.sh's certificate names the issuer's host; a pki made before it did
    # is made again.
    ext = os.path.join(cp.dir, "pki", "apiserver.ext")
    if os.path.exists(ext) and f"DNS:{ISSUER_HOST}" not in open(ext).read():
        shutil.rmtree(os.path.join(cp.dir, "pki"))
    with cp:
        with open(os.path.join(cp.dir, "apiserver-0.port")) as f:
            cp.port = int(f.read())
        yield cp


def sts_connect_to(cp) -> dict:
    """StsStandin.config() settings that make it reach the issuer on `cp`."""
    return {"connect_to": [f"{ISSUER_HOST}:443:127.0.0.1:{cp.port}"],
            "oidc_ca_file": os.path.join(cp.dir, "pki", "ca.crt")}
