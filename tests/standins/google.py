"""Google stand-in: GKE metadata server, JWKS, IAM, IAM Credentials, OAuth.

One process, one port (plus optional per-workload metadata listeners), all
on loopback. It behaves like Google on the wire for what gtoken uses; see
docs/standins.md for the endpoints and the /_admin API.

    python -m standins.google --port 0 --project my-project --state-dir DIR

Workload identity is modelled like GKE: a caller is a Kubernetes service
account (KSA) "NAMESPACE/NAME", named by the listener it reached, by the
header X-Gtoken-Test-Workload, or by the configured default workload. Its
Google service account (GSA) is the KSA's annotation (registered through
/_admin/annotations or header X-Gtoken-Test-GSA); without one, the single GSA
whose IAM policy grants the KSA roles/iam.workloadIdentityUser. The GSA's
policy must grant serviceAccount:PROJECT.svc.id.goog[NS/KSA] that role, so
the IAM writes the operator makes decide whether a pod gets tokens.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import time
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .pod_identity import ApiUnavailable, PodIdentity
from .common import App, Fault, bind_allowed, HttpError, Request, Response, Server, as_bool, serve_cli, write_atomic

ISSUER = "https://accounts.google.com"
WI_ROLE = "roles/iam.workloadIdentityUser"
TOKEN_CREATOR_ROLES = ("roles/iam.serviceAccountTokenCreator",
                       "roles/iam.serviceAccountOpenIdTokenCreator")
GOOGLE_TOKEN_AUD = "https://oauth2.googleapis.com/token"
EMPTY_ETAG = "ACAB"
SA_ETAG = "MDEwMjE5MjA="
MD = "/computeMetadata/v1"
SA_PATH = MD + "/instance/service-accounts"
WORKLOAD_HEADER = "X-Gtoken-Test-Workload"
GSA_HEADER = "X-Gtoken-Test-GSA"
CONCURRENT_MSG = ("There were concurrent policy changes. Please retry the whole "
                  "read-modify-write with exponential backoff.")

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 409: "ABORTED", 412: "FAILED_PRECONDITION",
                429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
                501: "NOT_IMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
DEFAULT_MESSAGES = {429: "Quota exceeded.", 500: "Internal error encountered.",
                    503: "The service is currently unavailable.",
                    504: "The request deadline was exceeded."}
VALID_MEMBER_PREFIXES = ("user:", "serviceAccount:", "group:", "domain:", "principal:",
                         "principalSet:", "deleted:")
UNAUTH_MISSING = ("Request is missing required authentication credential. Expected OAuth 2 "
                  "access token, login cookie or other valid authentication credential. See "
                  "https://developers.google.com/identity/sign-in/web/devconsole-project.")
UNAUTH_INVALID = ("Request had invalid authentication credentials. Expected OAuth 2 access "
                  "token, login cookie or other valid authentication credential. See "
                  "https://developers.google.com/identity/sign-in/web/devconsole-project.")


def _b64url_uint(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_etag() -> str:
    # Google policy etags are base64 of a few bytes starting 0x07 ("BwX...")
    return base64.b64encode(b"\x07" + secrets.token_bytes(7)).decode()


class SigningKey:
    def __init__(self):
        self.kid = secrets.token_hex(20)
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.created = time.time()

    def jwk(self) -> dict:
        pub = self.private.public_key().public_numbers()
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                "n": _b64url_uint(pub.n), "e": _b64url_uint(pub.e)}

    def sign(self, claims: dict) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256",
                          headers={"kid": self.kid, "typ": "JWT"})


class ServiceAccount:
    def __init__(self, email: str, project: str, unique_id: str, display_name: str = "",
                 description: str = "", disabled: bool = False):
        self.email = email
        self.project = project
        self.unique_id = unique_id
        self.display_name = display_name
        self.description = description
        self.disabled = disabled
        self.policy = {"version": 1, "etag": EMPTY_ETAG, "bindings": []}
        # (time, bindings) of every write, oldest first: for propagation delay
        # and stale reads
        self.history: list[tuple[float, dict]] = [(0.0, json.loads(json.dumps(self.policy)))]
        self.keys: dict[str, Any] = {}  # private_key_id -> public key

    def resource(self) -> dict:
        d = {"name": f"projects/{self.project}/serviceAccounts/{self.email}",
             "projectId": self.project, "uniqueId": self.unique_id, "email": self.email,
             "displayName": self.display_name, "etag": SA_ETAG,
             "oauth2ClientId": self.unique_id}
        if self.description:
            d["description"] = self.description
        if self.disabled:
            d["disabled"] = True
        return d


def render_policy(policy: dict, requested_version: int) -> dict:
    """A policy as getIamPolicy returns it for a requested version."""
    out: dict = {"version": policy.get("version", 1), "etag": policy["etag"]}
    bindings = []
    has_cond = False
    for b in policy.get("bindings", []):
        b = json.loads(json.dumps(b))
        if "condition" in b:
            has_cond = True
            if requested_version < 3:
                # what Google does for v1 readers of a conditional policy
                h = hashlib.sha256(json.dumps(b["condition"], sort_keys=True).encode()).hexdigest()
                b["role"] = f"{b['role']}_withcond_{h[:20]}"
                del b["condition"]
        bindings.append(b)
    if has_cond and requested_version < 3:
        out["version"] = 1
    if bindings:
        out["bindings"] = bindings
    return out


class GoogleApp(App):
    name = "google"

    def __init__(self, project: str = "gtoken-test", project_number: str | None = None):
        super().__init__()
        self.project = project
        self.project_number = project_number or str(100000000000 + secrets.randbelow(899999999999))
        self.keys: list[SigningKey] = [SigningKey()]
        self.state_dir: str | None = None
        # Callable[[ip], pod_identity.Caller | None]: identify metadata callers
        # by source address through the apiserver (a real node), as GKE does.
        self.pod_identity = None
        self._reset_state()
        self._routes()

    def _reset_state(self):
        self.sas: dict[str, ServiceAccount] = {}
        self.annotations: dict[str, str] = {}
        self.default_workload: str | None = None
        self.instance_sa: str | None = None
        self.access_tokens: dict[str, dict] = {}
        self.conflicts_pending = 0
        self.stale_reads_pending = 0
        self.config = {
            "id_token_lifetime": 3600,     # seconds, exp - iat of ID tokens
            "access_token_lifetime": 3599,  # seconds, expires_in of access tokens
            "clock_offset": 0,              # seconds added to "now" when minting
            "propagation_seconds": 0,       # IAM grants count for identity only after this
            "require_annotation": False,    # no GSA inference from IAM policies
            "iam_callers": None,            # list of emails allowed to use the IAM API
            "workload_pools": None,         # extra valid PROJECT.svc.id.goog pools
        }

    # -- helpers ------------------------------------------------------------

    @property
    def current_key(self) -> SigningKey:
        return self.keys[-1]

    def now(self) -> int:
        return int(time.time() + self.config["clock_offset"])

    def base_url(self) -> str:
        return self.server.url if self.server else "http://127.0.0.1"

    def pool(self) -> str:
        return f"{self.project}.svc.id.goog"

    def wi_member(self, workload: str) -> str:
        return f"serviceAccount:{self.pool()}[{workload}]"

    def new_unique_id(self) -> str:
        while True:
            uid = "1" + "".join(str(secrets.randbelow(10)) for _ in range(20))
            if all(sa.unique_id != uid for sa in self.sas.values()):
                return uid

    def find_sa(self, ident: str) -> ServiceAccount | None:
        sa = self.sas.get(ident)
        if sa is None:
            for s in self.sas.values():
                if s.unique_id == ident:
                    return s
        return sa

    def create_sa(self, spec: dict) -> ServiceAccount:
        email = spec.get("email")
        if not email:
            account_id = spec.get("account_id") or spec.get("accountId")
            if not account_id:
                raise HttpError(400, "email or account_id is required")
            email = f"{account_id}@{self.project}.iam.gserviceaccount.com"
        if "@" not in email:
            raise HttpError(400, f"invalid service account email {email!r}")
        with self.lock:
            if email in self.sas:
                raise HttpError(409, f"Service account {email.split('@')[0]} already exists "
                                     f"within project projects/{self.project}.", "ALREADY_EXISTS")
            uid = str(spec.get("unique_id") or spec.get("uniqueId") or self.new_unique_id())
            sa = ServiceAccount(email, spec.get("project") or self.project, uid,
                                spec.get("display_name") or spec.get("displayName") or "",
                                spec.get("description") or "", as_bool(spec.get("disabled", False)))
            self.sas[email] = sa
            if spec.get("policy"):
                self.write_policy(sa, spec["policy"], check_etag=False)
            return sa

    def normalise_policy(self, policy: dict) -> dict:
        if not isinstance(policy, dict):
            raise HttpError(400, "Invalid JSON payload received. 'policy' must be an object.")
        version = int(policy.get("version", 1) or 1)
        if version not in (1, 2, 3):
            raise HttpError(400, f"Invalid policy version {version}.")
        merged: dict[str, dict] = {}
        order: list[str] = []
        has_cond = False
        bindings = policy.get("bindings") or []
        if not isinstance(bindings, list):
            raise HttpError(400, "Invalid JSON payload received. 'bindings' must be a list.")
        for b in bindings:
            role = b.get("role") if isinstance(b, dict) else None
            if not role or not isinstance(role, str):
                raise HttpError(400, "Role must be specified in a binding.")
            if not (role.startswith("roles/") or role.startswith("projects/")
                    or role.startswith("organizations/")) or "_withcond_" in role:
                raise HttpError(400, f"Role ({role}) does not exist in the resource's hierarchy.")
            members = b.get("members") or []
            if not isinstance(members, list):
                raise HttpError(400, "Invalid JSON payload received. 'members' must be a list.")
            for m in members:
                self.validate_member(m)
            cond = b.get("condition")
            if cond is not None:
                has_cond = True
                if not isinstance(cond, dict) or not cond.get("expression"):
                    raise HttpError(400, "Condition expression must be specified.")
            key = role + "\x00" + (json.dumps(cond, sort_keys=True) if cond else "")
            if key not in merged:
                merged[key] = {"role": role, "members": set()}
                if cond:
                    merged[key]["condition"] = cond
                order.append(key)
            merged[key]["members"].update(members)
        if has_cond and version < 3:
            raise HttpError(400, "Conditional bindings require policy version 3; "
                                 f"got version {version}.")
        out_bindings = []
        for key in sorted(order, key=lambda k: merged[k]["role"]):
            b = merged[key]
            if not b["members"]:
                continue
            nb = {"role": b["role"], "members": sorted(b["members"])}
            if "condition" in b:
                nb["condition"] = b["condition"]
            out_bindings.append(nb)
        return {"version": 3 if has_cond else version, "bindings": out_bindings}

    def validate_member(self, m: Any):
        if not isinstance(m, str) or not m:
            raise HttpError(400, f"Invalid member {m!r}.")
        if m in ("allUsers", "allAuthenticatedUsers"):
            return
        if not m.startswith(VALID_MEMBER_PREFIXES):
            raise HttpError(400, f"Invalid member type for member {m}.")
        if m.startswith("serviceAccount:") and ".svc.id.goog[" in m:
            pool = m[len("serviceAccount:"):].split("[", 1)[0]
            valid = {self.pool()} | set(self.config.get("workload_pools") or [])
            if pool not in valid:
                raise HttpError(400, f"Identity Pool does not exist ({pool}). Please check that "
                                     "you specified a valid resource name as returned in the "
                                     "`name` attribute in the configuration API.")
            inner = m.split("[", 1)[1]
            if not inner.endswith("]") or inner[:-1].count("/") != 1 or \
                    not all(inner[:-1].split("/")):
                raise HttpError(400, f"Invalid form of account ID {m[len('serviceAccount:'):]}. "
                                     "Should be [Gaia ID |Email |Unique ID |] of the account")
        elif m.startswith("serviceAccount:") and "@" not in m:
            raise HttpError(400, f"Invalid form of account ID {m[len('serviceAccount:'):]}. "
                                 "Should be [Gaia ID |Email |Unique ID |] of the account")
        elif m.startswith("user:") and "@" not in m:
            raise HttpError(400, f"Invalid member {m}.")

    def write_policy(self, sa: ServiceAccount, policy: dict, check_etag: bool = True) -> dict:
        norm = self.normalise_policy(policy)
        with self.lock:
            sent = policy.get("etag")
            if check_etag and sent is not None and sent != sa.policy["etag"]:
                raise HttpError(409, CONCURRENT_MSG, "ABORTED")
            norm["etag"] = new_etag()
            sa.policy = norm
            sa.history.append((time.time(), json.loads(json.dumps(norm))))
            if len(sa.history) > 200:
                del sa.history[: len(sa.history) - 200]
            return render_policy(norm, 3)

    def effective_policy(self, sa: ServiceAccount) -> dict:
        """The policy identity checks see (after the propagation delay)."""
        delay = float(self.config["propagation_seconds"] or 0)
        if delay <= 0:
            return sa.policy
        cutoff = time.time() - delay
        eff = sa.history[0][1]
        for t, p in sa.history:
            if t <= cutoff:
                eff = p
        return eff

    def grants(self, sa: ServiceAccount, member: str, roles=(WI_ROLE,)) -> bool:
        for b in self.effective_policy(sa).get("bindings", []):
            # conditional grants are not evaluated: treat them as not granting
            if b["role"] in roles and member in b["members"] and "condition" not in b:
                return True
        return False

    # -- errors -------------------------------------------------------------

    def error(self, req: Request, err: HttpError) -> Response:
        if req.path.startswith(MD) or req.path == "/":
            # the metadata server answers plain text
            return Response(err.status, err.message + ("" if err.message.endswith("\n") else "\n"),
                            "text/plain; charset=utf-8",
                            {"Metadata-Flavor": "Google", "Server": "GKE Metadata Server"})
        if req.path == "/token":
            body = {"error": err.code or "invalid_request", "error_description": err.message}
            return Response.json(body, err.status)
        status = err.code if err.code and err.code.isupper() else STATUS_NAMES.get(err.status, "UNKNOWN")
        e: dict = {"code": err.status, "message": err.message, "status": status}
        if err.extra.get("permission"):
            e["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                             "reason": "IAM_PERMISSION_DENIED", "domain": "iam.googleapis.com",
                             "metadata": {"permission": err.extra["permission"]}}]
        headers = {}
        if err.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/"'
        return Response.json({"error": e}, err.status, headers)

    def fault_error(self, req: Request, fault: Fault) -> HttpError:
        msg = fault.message or DEFAULT_MESSAGES.get(fault.status) or "Injected fault."
        if fault.status == 409 and not fault.message:
            msg = CONCURRENT_MSG
        return HttpError(fault.status, msg, fault.code)

    def not_found(self, req: Request) -> HttpError:
        if req.path.startswith(MD):
            return HttpError(404, "Not Found")
        return HttpError(404, f"The requested URL {req.path} was not found on this server.")

    # -- routes ---------------------------------------------------------------

    def _routes(self):
        a = self.add
        a("GET", "/", self.md_root, "metadata.root")
        a("GET", MD + "/project/project-id", self.md_project_id, "metadata.project-id")
        a("GET", MD + "/project/numeric-project-id", self.md_project_number,
          "metadata.numeric-project-id")
        a("GET", SA_PATH + "/", self.md_sa_list, "metadata.service-accounts")
        a("GET", SA_PATH + "/{sa}/", self.md_sa_info, "metadata.service-account")
        a("GET", SA_PATH + "/{sa}/identity", self.md_identity, "metadata.identity")
        a("GET", SA_PATH + "/{sa}/token", self.md_token, "metadata.token")
        a("GET", SA_PATH + "/{sa}/email", self.md_email, "metadata.email")
        a("GET", SA_PATH + "/{sa}/aliases", self.md_aliases, "metadata.aliases")
        a("GET", SA_PATH + "/{sa}/scopes", self.md_scopes, "metadata.scopes")
        a("GET", "/oauth2/v3/certs", self.jwks, "jwks")
        a("GET", "/.well-known/openid-configuration", self.oidc_config, "openid-configuration")
        a("POST", "/token", self.oauth_token, "oauth.token")
        a("GET", "/v1/projects/{project}/serviceAccounts/{sa}", self.iam_get, "iam.get")
        a("POST", "/v1/projects/{project}/serviceAccounts/{sa}:getIamPolicy",
          self.iam_get_policy, "iam.getIamPolicy")
        a("POST", "/v1/projects/{project}/serviceAccounts/{sa}:setIamPolicy",
          self.iam_set_policy, "iam.setIamPolicy")
        a("POST", "/v1/projects/{project}/serviceAccounts/{sa}:generateIdToken",
          self.iamcred_id_token, "iamcredentials.generateIdToken")
        a("POST", "/v1/projects/{project}/serviceAccounts/{sa}:generateAccessToken",
          self.iamcred_access_token, "iamcredentials.generateAccessToken")
        # admin
        A = lambda m, p, h, n: self.add(m, p, h, "admin." + n, True)  # noqa: E731
        A("GET", "/_admin/state", self.adm_state, "state")
        A("POST", "/_admin/reset", self.adm_reset, "reset")
        A("GET", "/_admin/config", self.adm_config_get, "config")
        A("POST", "/_admin/config", self.adm_config_set, "config")
        A("GET", "/_admin/service-accounts", self.adm_sa_list, "service-accounts")
        A("POST", "/_admin/service-accounts", self.adm_sa_create, "service-accounts")
        A("GET", "/_admin/service-accounts/{sa}", self.adm_sa_get, "service-accounts")
        A("PATCH", "/_admin/service-accounts/{sa}", self.adm_sa_patch, "service-accounts")
        A("DELETE", "/_admin/service-accounts/{sa}", self.adm_sa_delete, "service-accounts")
        A("GET", "/_admin/service-accounts/{sa}/policy", self.adm_policy_get, "policy")
        A("PUT", "/_admin/service-accounts/{sa}/policy", self.adm_policy_put, "policy")
        A("POST", "/_admin/service-accounts/{sa}/keys", self.adm_sa_key, "keys")
        A("POST", "/_admin/workload", self.adm_workload, "workload")
        A("GET", "/_admin/annotations", self.adm_annotations_get, "annotations")
        A("POST", "/_admin/annotations", self.adm_annotations_set, "annotations")
        A("GET", "/_admin/listeners", self.adm_listeners_get, "listeners")
        A("POST", "/_admin/listeners", self.adm_listeners_add, "listeners")
        A("DELETE", "/_admin/listeners/{port}", self.adm_listeners_del, "listeners")
        A("POST", "/_admin/keys/rotate", self.adm_rotate, "keys")
        A("POST", "/_admin/tokens/access", self.adm_access_token, "tokens")
        A("POST", "/_admin/tokens/id", self.adm_id_token, "tokens")
        A("DELETE", "/_admin/tokens/access", self.adm_revoke_tokens, "tokens")
        A("POST", "/_admin/outage", self.adm_outage, "outage")
        A("POST", "/_admin/iam/conflicts", self.adm_conflicts, "iam")
        A("POST", "/_admin/iam/stale-reads", self.adm_stale_reads, "iam")

    # -- metadata server ------------------------------------------------------

    def md_check(self, req: Request):
        if req.header("X-Forwarded-For"):
            raise HttpError(403, "Requests with X-Forwarded-For header are forbidden.")
        flavor = req.header("Metadata-Flavor")
        legacy = req.header("X-Google-Metadata-Request")
        if flavor != "Google" and (legacy or "").lower() != "true":
            raise HttpError(403, 'Missing required header "Metadata-Flavor": "Google"')

    def md_text(self, text: str, content_type: str = "application/text") -> Response:
        return Response(200, text, content_type,
                        {"Metadata-Flavor": "Google", "Server": "GKE Metadata Server"})

    def md_root(self, req):
        # google-auth pings "/" and looks at the Metadata-Flavor response header
        return self.md_text("computeMetadata/\n")

    def md_project_id(self, req):
        self.md_check(req)
        return self.md_text(self.project)

    def md_project_number(self, req):
        self.md_check(req)
        return self.md_text(self.project_number)

    def pod_caller(self, req: Request):
        """GKE's way, when pod_identity is set: the pod whose IP the request
        comes from (see standins/pod_identity.py); 404 when no pod has it."""
        if getattr(req, "pod", None) is None:
            req.note["client"] = req.client
            try:
                req.pod = self.pod_identity(req.client)
            except ApiUnavailable as e:
                raise HttpError(503, f"Unable to identify the calling pod: {e}") from None
            if req.pod is None:
                raise HttpError(404, f"No running pod on this node has IP {req.client}.")
        return req.pod

    def caller_workload(self, req: Request) -> str | None:
        wl = req.header(WORKLOAD_HEADER) or req.context.get("workload")
        if wl is None and self.pod_identity is not None:
            wl = self.pod_caller(req).workload
        wl = wl or self.default_workload
        if wl is not None and (wl.count("/") != 1 or not all(wl.split("/"))):
            raise HttpError(400, f"invalid workload {wl!r}: want NAMESPACE/KSA")
        return wl

    def md_resolve(self, req: Request, purpose: str) -> ServiceAccount:
        """The GSA the calling workload acts as, or an HttpError like GKE's."""
        wl = self.caller_workload(req)
        with self.lock:
            if wl is None:
                if self.instance_sa and self.instance_sa in self.sas:
                    sa = self.sas[self.instance_sa]
                    req.resource = sa.email
                    return sa
                raise HttpError(404, "No service account is available to this caller: set a "
                                     "default workload, an instance service account, or send "
                                     f"{WORKLOAD_HEADER}: NAMESPACE/KSA.")
            req.note["workload"] = wl
            gsa = req.header(GSA_HEADER) or req.context.get("gsa")
            pod = getattr(req, "pod", None)
            if gsa is None and pod is not None:
                gsa = pod.gsa  # the live annotation, as GKE reads it
            elif gsa is None:
                gsa = self.annotations.get(wl)
            ns, ksa = wl.split("/")
            member = self.wi_member(wl)
            if gsa is None:
                # GKE never guesses: on a real node the annotation decides.
                if not self.config["require_annotation"] and pod is None:
                    cands = [s for s in self.sas.values() if self.grants(s, member)]
                    if len(cands) == 1:
                        gsa = cands[0].email
                if gsa is None:
                    raise HttpError(404, (
                        f"Your Kubernetes service account ({ns}/{ksa}) is not annotated with a "
                        "target Google service account, which is a requirement for retrieving "
                        f"{purpose}. Please add the iam.gke.io/gcp-service-account=[GSA_NAME]@"
                        "[PROJECT_ID] annotation to your Kubernetes service account.\nRefer to "
                        "https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity"))
            req.resource = gsa
            sa = self.sas.get(gsa)
            permission = ("iam.serviceAccounts.getOpenIdToken" if purpose == "Identity Tokens"
                          else "iam.serviceAccounts.getAccessToken")
            if sa is None or sa.disabled or not self.grants(sa, member):
                what = "identity token" if purpose == "Identity Tokens" else "access token"
                raise HttpError(403, (
                    f"Unable to generate {what}; IAM returned 403 Forbidden: Permission "
                    f"'{permission}' denied on resource (or it may not exist).\nThis error "
                    "could be caused by a missing IAM policy binding on the target IAM service "
                    f"account.\nFor more information, refer to the Workload Identity "
                    "documentation:\n\thttps://cloud.google.com/kubernetes-engine/docs/how-to/"
                    "workload-identity#authenticating_to\n"))
            return sa

    def md_sa_alias(self, req: Request, sa: ServiceAccount):
        alias = req.params["sa"]
        if alias not in ("default", sa.email):
            raise HttpError(404, "Not Found")

    def md_sa_list(self, req):
        self.md_check(req)
        try:
            sa = self.md_resolve(req, "Access Tokens")
        except HttpError:
            return self.md_text("default/\n")
        return self.md_text(f"default/\n{sa.email}/\n")

    def md_sa_info(self, req):
        self.md_check(req)
        sa = self.md_resolve(req, "Access Tokens")
        self.md_sa_alias(req, sa)
        if as_bool(req.q("recursive", "false")):
            return Response.json({"aliases": ["default"], "email": sa.email,
                                  "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
                                 headers={"Metadata-Flavor": "Google"})
        return self.md_text("aliases\nemail\nidentity\nscopes\ntoken\n")

    def md_email(self, req):
        self.md_check(req)
        sa = self.md_resolve(req, "Access Tokens")
        self.md_sa_alias(req, sa)
        return self.md_text(sa.email)

    def md_aliases(self, req):
        self.md_check(req)
        sa = self.md_resolve(req, "Access Tokens")
        self.md_sa_alias(req, sa)
        return self.md_text("default")

    def md_scopes(self, req):
        self.md_check(req)
        sa = self.md_resolve(req, "Access Tokens")
        self.md_sa_alias(req, sa)
        return self.md_text("https://www.googleapis.com/auth/cloud-platform\n")

    def md_identity(self, req):
        self.md_check(req)
        audience = req.q("audience", "")
        if not audience:
            raise HttpError(400, "non-empty audience parameter required")
        fmt = req.q("format", "standard")
        if fmt not in ("standard", "full"):
            raise HttpError(400, f"invalid format parameter {fmt!r}: want standard or full")
        sa = self.md_resolve(req, "Identity Tokens")
        self.md_sa_alias(req, sa)
        token = self.mint_id_token(sa, audience, include_email=(fmt == "full"))
        return self.md_text(token, "text/html; charset=utf-8")

    def md_token(self, req):
        self.md_check(req)
        sa = self.md_resolve(req, "Access Tokens")
        self.md_sa_alias(req, sa)
        tok, lifetime = self.mint_access_token(sa.email, req.q("scopes"))
        return Response.json({"access_token": tok, "expires_in": lifetime, "token_type": "Bearer"},
                             headers={"Metadata-Flavor": "Google"})

    # -- tokens ---------------------------------------------------------------

    def mint_id_token(self, sa: ServiceAccount, audience: str, include_email: bool) -> str:
        iat = self.now()
        claims: dict = {"aud": audience, "azp": sa.unique_id}
        if include_email:
            claims["email"] = sa.email
            claims["email_verified"] = True
        claims.update({"exp": iat + int(self.config["id_token_lifetime"]), "iat": iat,
                       "iss": ISSUER, "sub": sa.unique_id})
        with self.lock:
            key = self.current_key
        return key.sign(claims)

    def mint_access_token(self, email: str, scopes: str | None = None) -> tuple[str, int]:
        lifetime = int(self.config["access_token_lifetime"])
        tok = "ya29.c." + secrets.token_urlsafe(96)
        with self.lock:
            now = time.time()
            # drop long-expired tokens now and then
            if len(self.access_tokens) > 5000:
                self.access_tokens = {k: v for k, v in self.access_tokens.items()
                                      if v["expires"] > now}
            self.access_tokens[tok] = {"email": email, "expires": now + lifetime,
                                       "scopes": scopes}
        return tok, lifetime

    def caller(self, req: Request) -> str:
        """The email behind the bearer token, or 401."""
        auth = req.header("Authorization")
        if not auth:
            raise HttpError(401, UNAUTH_MISSING)
        parts = auth.split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise HttpError(401, UNAUTH_INVALID)
        with self.lock:
            info = self.access_tokens.get(parts[1].strip())
            if info is None or info["expires"] <= time.time():
                raise HttpError(401, UNAUTH_INVALID)
            req.note["caller"] = info["email"]
            return info["email"]

    # -- JWKS / discovery ----------------------------------------------------

    def jwks(self, req):
        with self.lock:
            keys = [k.jwk() for k in reversed(self.keys)]
        return Response.json({"keys": keys},
                             headers={"Cache-Control": "public, max-age=21600, must-revalidate, "
                                                       "no-transform"})

    def oidc_config(self, req):
        base = self.base_url()
        return Response.json({"issuer": ISSUER, "jwks_uri": base + "/oauth2/v3/certs",
                              "token_endpoint": base + "/token",
                              "id_token_signing_alg_values_supported": ["RS256"],
                              "subject_types_supported": ["public"],
                              "response_types_supported": ["id_token"],
                              "claims_supported": ["aud", "azp", "email", "email_verified",
                                                   "exp", "iat", "iss", "sub"]})

    # -- OAuth token endpoint -------------------------------------------------

    def oauth_token(self, req):
        ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/json":
            try:
                form = {k: str(v) for k, v in req.json().items()}
            except (AttributeError, HttpError):
                raise HttpError(400, "Invalid request body.", "invalid_request") from None
        else:
            form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace"),
                                                  keep_blank_values=True).items()}
        grant = form.get("grant_type")
        if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            raise HttpError(400, "Invalid grant_type: " + (grant or ""), "unsupported_grant_type")
        assertion = form.get("assertion")
        if not assertion:
            raise HttpError(400, "Missing required parameter: assertion", "invalid_request")
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise HttpError(400, "Invalid JWT: Token must be a short-lived token (60 minutes) "
                                 "and in a reasonable timeframe. Check your iat and exp values "
                                 "in the JWT claim.", "invalid_grant") from None
        iss = unverified.get("iss")
        with self.lock:
            sa = self.sas.get(iss or "")
            pub = sa.keys.get(header.get("kid", "")) if sa else None
            if sa is not None and pub is None and not header.get("kid") and len(sa.keys) == 1:
                pub = next(iter(sa.keys.values()))
        if sa is None:
            raise HttpError(400, "Invalid grant: account not found", "invalid_grant")
        if pub is None:
            raise HttpError(400, "Invalid JWT Signature.", "invalid_grant")
        my_aud = [GOOGLE_TOKEN_AUD, self.base_url() + "/token",
                  "https://www.googleapis.com/oauth2/v4/token"]
        try:
            claims = jwt.decode(assertion, pub, algorithms=["RS256"], audience=my_aud,
                                options={"require": ["iss", "aud", "iat", "exp"]}, leeway=300)
        except jwt.InvalidSignatureError:
            raise HttpError(400, "Invalid JWT Signature.", "invalid_grant") from None
        except jwt.InvalidAudienceError:
            raise HttpError(400, "Invalid JWT: Failed audience check.", "invalid_grant") from None
        except jwt.PyJWTError:
            raise HttpError(400, "Invalid JWT: Token must be a short-lived token (60 minutes) "
                                 "and in a reasonable timeframe. Check your iat and exp values "
                                 "in the JWT claim.", "invalid_grant") from None
        if int(claims["exp"]) - int(claims["iat"]) > 3600:
            raise HttpError(400, "Invalid JWT: Token must be a short-lived token (60 minutes) "
                                 "and in a reasonable timeframe. Check your iat and exp values "
                                 "in the JWT claim.", "invalid_grant")
        req.resource = sa.email
        req.note["caller"] = sa.email
        if sa.disabled:
            raise HttpError(400, "Invalid grant: account not found", "invalid_grant")
        if claims.get("target_audience"):
            return Response.json({"id_token": self.mint_id_token(sa, claims["target_audience"],
                                                                 True)})
        tok, lifetime = self.mint_access_token(sa.email, claims.get("scope"))
        return Response.json({"access_token": tok, "expires_in": lifetime,
                              "token_type": "Bearer"})

    # -- IAM ------------------------------------------------------------------

    def iam_lookup(self, req: Request, permission: str) -> ServiceAccount:
        caller = self.caller(req)
        allowed = self.config.get("iam_callers")
        ident = req.params["sa"]
        project = req.params["project"]
        req.resource = ident
        with self.lock:
            sa = self.find_sa(ident)
            if sa is not None:
                req.resource = sa.email
        denied = HttpError(403, f"Permission '{permission}' denied on resource (or it may not "
                                "exist).", "PERMISSION_DENIED", permission=permission)
        if allowed is not None and caller not in allowed:
            raise denied
        if sa is None or (project != "-" and project not in (sa.project, self.project_number)):
            if project == "-":
                raise denied
            raise HttpError(404, "Unknown service account", "NOT_FOUND")
        return sa

    def iam_get(self, req):
        sa = self.iam_lookup(req, "iam.serviceAccounts.get")
        return Response.json(sa.resource())

    def iam_get_policy(self, req):
        sa = self.iam_lookup(req, "iam.serviceAccounts.getIamPolicy")
        rv = req.q("options.requestedPolicyVersion")
        if rv is None and req.body:
            body = req.json(required=False)
            if isinstance(body, dict):
                rv = (body.get("options") or {}).get("requestedPolicyVersion")
        try:
            version = int(rv) if rv not in (None, "") else 1
        except ValueError:
            raise HttpError(400, f"Invalid value at 'options.requested_policy_version' "
                                 f"(TYPE_INT32), \"{rv}\"") from None
        if version not in (0, 1, 2, 3):
            raise HttpError(400, f"Invalid requested policy version {version}.")
        with self.lock:
            policy = sa.policy
            if self.stale_reads_pending > 0 and len(sa.history) >= 2:
                self.stale_reads_pending -= 1
                policy = sa.history[-2][1]
                req.note["stale"] = True
            return Response.json(render_policy(policy, version))

    def iam_set_policy(self, req):
        sa = self.iam_lookup(req, "iam.serviceAccounts.setIamPolicy")
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("policy"), dict):
            raise HttpError(400, "Invalid JSON payload received. 'policy' is required.")
        policy = body["policy"]
        with self.lock:
            if self.conflicts_pending > 0:
                self.conflicts_pending -= 1
                req.note["storm"] = True
                raise HttpError(409, CONCURRENT_MSG, "ABORTED")
            req.note["blind"] = "etag" not in policy
            return Response.json(self.write_policy(sa, policy))

    def iamcred_lookup(self, req: Request, permission: str) -> tuple[ServiceAccount, str]:
        caller = self.caller(req)
        ident = req.params["sa"]
        req.resource = ident
        with self.lock:
            sa = self.find_sa(ident)
            denied = HttpError(403, f"Permission '{permission}' denied on resource (or it may "
                                    "not exist).", "PERMISSION_DENIED", permission=permission)
            if sa is None:
                raise denied
            req.resource = sa.email
            if not self.grants(sa, f"serviceAccount:{caller}", TOKEN_CREATOR_ROLES):
                raise denied
            if sa.disabled:
                raise HttpError(400, f"Service account {sa.email} is disabled.",
                                "FAILED_PRECONDITION")
        return sa, caller

    def iamcred_id_token(self, req):
        sa, _ = self.iamcred_lookup(req, "iam.serviceAccounts.getOpenIdToken")
        body = req.json(required=False) or {}
        audience = body.get("audience")
        if not audience:
            raise HttpError(400, "Audience is required.")
        return Response.json({"token": self.mint_id_token(sa, audience,
                                                          as_bool(body.get("includeEmail")))})

    def iamcred_access_token(self, req):
        sa, _ = self.iamcred_lookup(req, "iam.serviceAccounts.getAccessToken")
        body = req.json(required=False) or {}
        tok, lifetime = self.mint_access_token(sa.email, " ".join(body.get("scope") or []))
        exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + lifetime))
        return Response.json({"accessToken": tok, "expireTime": exp})

    # -- admin ----------------------------------------------------------------

    def sa_admin(self, sa: ServiceAccount) -> dict:
        d = sa.resource()
        d["disabled"] = sa.disabled
        d["policy"] = render_policy(sa.policy, 3)
        d["key_ids"] = sorted(sa.keys)
        return d

    def adm_sa_or_404(self, req) -> ServiceAccount:
        with self.lock:
            sa = self.find_sa(req.params["sa"])
        if sa is None:
            raise HttpError(404, f"no service account {req.params['sa']}")
        return sa

    def adm_state(self, req):
        with self.lock:
            return Response.json({
                "project": self.project, "project_number": self.project_number,
                "url": self.base_url(), "config": dict(self.config),
                "default_workload": self.default_workload, "instance_sa": self.instance_sa,
                "annotations": dict(self.annotations),
                "service_accounts": [self.sa_admin(s) for s in self.sas.values()],
                "signing_kids": [k.kid for k in self.keys], "current_kid": self.current_key.kid,
                "listeners": self.listeners_info(),
                "conflicts_pending": self.conflicts_pending,
                "stale_reads_pending": self.stale_reads_pending,
                "faults": [f.describe() for f in self.faults]})

    def adm_reset(self, req):
        body = req.json(required=False) or {}
        if self.server:
            for port in list(self.server.extra):
                self.server.remove_listener(port)
        with self.lock:
            self._reset_state()
            self.reset_common()
            if as_bool(body.get("keys", False)):
                self.keys = [SigningKey()]
        return Response.json({})

    def adm_config_get(self, req):
        with self.lock:
            return Response.json(dict(self.config))

    def adm_config_set(self, req):
        body = req.json()
        if not isinstance(body, dict):
            raise HttpError(400, "config must be an object")
        with self.lock:
            for k, v in body.items():
                if k == "instance_sa":
                    self.instance_sa = v
                    continue
                if k == "default_workload":
                    self.default_workload = v
                    continue
                if k not in self.config:
                    raise HttpError(400, f"unknown config key {k!r}; known: "
                                         f"{sorted(self.config) + ['default_workload', 'instance_sa']}")
                if k in ("require_annotation",):
                    v = as_bool(v)
                elif k in ("iam_callers", "workload_pools"):
                    if v is not None and not isinstance(v, list):
                        raise HttpError(400, f"{k} must be a list or null")
                else:
                    v = float(v) if k == "propagation_seconds" else int(v)
                self.config[k] = v
            return Response.json(dict(self.config))

    def adm_sa_list(self, req):
        with self.lock:
            return Response.json({"service_accounts": [self.sa_admin(s) for s in self.sas.values()]})

    def adm_sa_create(self, req):
        body = req.json()
        sa = self.create_sa(body)
        out = self.sa_admin(sa)
        if as_bool(body.get("key", False)):
            out["key_file"] = self.make_key(sa)
        return Response.json(out, 201)

    def adm_sa_get(self, req):
        with self.lock:
            return Response.json(self.sa_admin(self.adm_sa_or_404(req)))

    def adm_sa_patch(self, req):
        sa = self.adm_sa_or_404(req)
        body = req.json()
        with self.lock:
            if "disabled" in body:
                sa.disabled = as_bool(body["disabled"])
            for k, attr in (("display_name", "display_name"), ("displayName", "display_name"),
                            ("description", "description")):
                if k in body:
                    setattr(sa, attr, body[k])
            return Response.json(self.sa_admin(sa))

    def adm_sa_delete(self, req):
        sa = self.adm_sa_or_404(req)
        with self.lock:
            self.sas.pop(sa.email, None)
            self.access_tokens = {k: v for k, v in self.access_tokens.items()
                                  if v["email"] != sa.email}
        return Response.json({})

    def adm_policy_get(self, req):
        sa = self.adm_sa_or_404(req)
        with self.lock:
            return Response.json(render_policy(sa.policy, 3))

    def adm_policy_put(self, req):
        """Write a policy as another party would (honours etag if given)."""
        sa = self.adm_sa_or_404(req)
        body = req.json()
        policy = body.get("policy", body) if isinstance(body, dict) else body
        return Response.json(self.write_policy(sa, policy))

    def make_key(self, sa: ServiceAccount) -> dict:
        priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_hex(20)
        pem = priv.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
        with self.lock:
            sa.keys[key_id] = priv.public_key()
        return {"type": "service_account", "project_id": sa.project,
                "private_key_id": key_id, "private_key": pem, "client_email": sa.email,
                "client_id": sa.unique_id,
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": self.base_url() + "/token",
                "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
                "universe_domain": "googleapis.com"}

    def adm_sa_key(self, req):
        sa = self.adm_sa_or_404(req)
        key = self.make_key(sa)
        body = req.json(required=False) or {}
        path = body.get("path")
        if path is None and as_bool(body.get("write", False)) and self.state_dir:
            path = os.path.join(self.state_dir, "keys", sa.email + ".json")
        if path:
            write_atomic(path, json.dumps(key, indent=2) + "\n")
            os.chmod(path, 0o600)
            key = dict(key, path=path)
        return Response.json(key, 201)

    def adm_workload(self, req):
        body = req.json()
        wl = body.get("workload")
        with self.lock:
            self.default_workload = wl or None
            return Response.json({"workload": self.default_workload})

    def adm_annotations_get(self, req):
        with self.lock:
            return Response.json({"annotations": dict(self.annotations)})

    def adm_annotations_set(self, req):
        body = req.json()
        items = body if isinstance(body, list) else [body]
        with self.lock:
            for it in items:
                wl = it.get("workload")
                if not wl or wl.count("/") != 1:
                    raise HttpError(400, "workload must be NAMESPACE/KSA")
                if it.get("gsa"):
                    self.annotations[wl] = it["gsa"]
                else:
                    self.annotations.pop(wl, None)
            return Response.json({"annotations": dict(self.annotations)})

    def listeners_info(self) -> list:
        if not self.server:
            return []
        return [{"port": p, "url": f"http://{self.server.host}:{p}", **lst.context}
                for p, lst in self.server.extra.items()]

    def adm_listeners_get(self, req):
        with self.lock:
            return Response.json({"listeners": self.listeners_info()})

    def adm_listeners_add(self, req):
        body = req.json()
        wl = body.get("workload")
        if not wl or wl.count("/") != 1:
            raise HttpError(400, "workload must be NAMESPACE/KSA")
        ctx = {"workload": wl}
        if body.get("gsa"):
            ctx["gsa"] = body["gsa"]
        if not self.server:
            raise HttpError(500, "no server")
        lst = self.server.add_listener(ctx, int(body.get("port", 0) or 0))
        return Response.json({"port": lst.port, "url": f"http://{self.server.host}:{lst.port}",
                              "host": f"{self.server.host}:{lst.port}", **ctx}, 201)

    def adm_listeners_del(self, req):
        if not self.server or not self.server.remove_listener(int(req.params["port"])):
            raise HttpError(404, "no such listener")
        return Response.json({})

    def adm_rotate(self, req):
        body = req.json(required=False) or {}
        key = SigningKey()
        with self.lock:
            keep = int(body.get("keep", 2))  # keys published, newest included
            self.keys.append(key)
            if keep > 0:
                self.keys = self.keys[-keep:]
            return Response.json({"kid": key.kid, "kids": [k.kid for k in self.keys]})

    def adm_access_token(self, req):
        body = req.json()
        email = body.get("email")
        with self.lock:
            if email not in self.sas:
                raise HttpError(404, f"no service account {email}")
        tok, lifetime = self.mint_access_token(email)
        return Response.json({"access_token": tok, "expires_in": lifetime,
                              "token_type": "Bearer"}, 201)

    def adm_id_token(self, req):
        body = req.json()
        with self.lock:
            sa = self.find_sa(body.get("email", ""))
        if sa is None:
            raise HttpError(404, f"no service account {body.get('email')}")
        aud = body.get("audience")
        if not aud:
            raise HttpError(400, "audience is required")
        return Response.json({"token": self.mint_id_token(sa, aud, as_bool(body.get("include_email", True)))}, 201)

    def adm_revoke_tokens(self, req):
        body = req.json(required=False) or {}
        with self.lock:
            email = body.get("email")
            self.access_tokens = {k: v for k, v in self.access_tokens.items()
                                  if email is not None and v["email"] != email}
        return Response.json({})

    def adm_outage(self, req):
        body = req.json(required=False) or {}
        spec = {"prefix": body.get("prefix", "/"),
                "endpoint": body.get("endpoint", "metadata.identity" if "prefix" not in body
                                     and "regex" not in body else None),
                "regex": body.get("regex"),
                "status": int(body.get("status", 503)),
                "seconds": float(body.get("seconds", 10)),
                "count": body.get("count"),
                "action": body.get("action", "respond"),
                "message": body.get("message")}
        return Response.json(self.add_fault(spec).describe(), 201)

    def adm_conflicts(self, req):
        body = req.json(required=False) or {}
        with self.lock:
            self.conflicts_pending = int(body.get("count", 1))
            return Response.json({"pending": self.conflicts_pending})

    def adm_stale_reads(self, req):
        body = req.json(required=False) or {}
        with self.lock:
            self.stale_reads_pending = int(body.get("count", 1))
            return Response.json({"pending": self.stale_reads_pending})

    # -- seeding ----------------------------------------------------------------

    def seed(self, data: dict, state_dir: str | None = None) -> list[dict]:
        """Apply a seed document; returns key files made (with their paths)."""
        made = []
        for spec in data.get("service_accounts", []):
            sa = self.create_sa(spec)
            if as_bool(spec.get("key", False)):
                key = self.make_key(sa)
                if state_dir:
                    path = os.path.join(state_dir, "keys", sa.email + ".json")
                    write_atomic(path, json.dumps(key, indent=2) + "\n")
                    os.chmod(path, 0o600)
                    key = dict(key, path=path)
                made.append(key)
        for wl, gsa in (data.get("annotations") or {}).items():
            self.annotations[wl] = gsa
        if data.get("default_workload"):
            self.default_workload = data["default_workload"]
        if data.get("instance_sa"):
            self.instance_sa = data["instance_sa"]
        for k, v in (data.get("config") or {}).items():
            if k not in self.config:
                raise ValueError(f"unknown config key {k!r}")
            self.config[k] = v
        return made


def make_server(project: str = "gtoken-test", host: str = "127.0.0.1", port: int = 0,
                **kw) -> Server:
    return Server(GoogleApp(project, **kw), host, port)


def parse_sa_flag(value: str, project: str) -> dict:
    """NAME_OR_EMAIL[:UNIQUE_ID]"""
    name, _, uid = value.partition(":")
    spec: dict = {"email": name} if "@" in name else {"account_id": name}
    if uid:
        spec["unique_id"] = uid
    return spec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m standins.google", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1",
                   help="bind address: loopback, or any address inside a private network "
                        "namespace (a test node's)")
    p.add_argument("--port", type=int, default=0, help="port, 0 picks a free one")
    p.add_argument("--project", default="gtoken-test", help="Google project id")
    p.add_argument("--project-number", default=None, help="numeric project id")
    p.add_argument("--state-dir", default=None,
                   help="writes google.port and google.json here (and key files under keys/)")
    p.add_argument("--seed", default=None, help="JSON seed file (see docs/standins.md)")
    p.add_argument("--sa", action="append", default=[], metavar="NAME[:UNIQUE_ID]",
                   help="create a service account (account id or email); repeatable")
    p.add_argument("--sa-key", action="append", default=[], metavar="NAME",
                   help="like --sa, and write a key file to STATE_DIR/keys/EMAIL.json")
    p.add_argument("--instance-sa", default=None,
                   help="GSA used by metadata callers that name no workload (account id or email)")
    p.add_argument("--default-workload", default=None, metavar="NS/KSA",
                   help="workload assumed for metadata calls without a workload header")
    p.add_argument("--token-lifetime", type=int, default=3600, help="ID token lifetime, seconds")
    p.add_argument("--access-token-lifetime", type=int, default=3599)
    p.add_argument("--workload-listener", action="append", default=[], metavar="NS/KSA[=PORT]",
                   help="open an extra metadata listener that stands for this workload")
    p.add_argument("--pod-identity-kubeconfig", default=None, metavar="PATH",
                   help="identify metadata callers by source IP through this apiserver, "
                        "as GKE's metadata server does (a real node)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    a = p.parse_args(argv)
    if not bind_allowed(a.host):
        p.error("--host must be a loopback address outside a private network namespace")

    server = make_server(a.project, a.host, a.port, project_number=a.project_number)
    app: GoogleApp = server.app  # type: ignore[assignment]
    app.verbose = app.verbose or a.verbose
    app.state_dir = a.state_dir
    if a.pod_identity_kubeconfig:
        app.pod_identity = PodIdentity.from_kubeconfig(a.pod_identity_kubeconfig)
    app.config["id_token_lifetime"] = a.token_lifetime
    app.config["access_token_lifetime"] = a.access_token_lifetime
    seed: dict = {"service_accounts": []}
    if a.seed:
        with open(a.seed) as f:
            seed = json.load(f)
        seed.setdefault("service_accounts", [])
    for v in a.sa:
        seed["service_accounts"].append(parse_sa_flag(v, a.project))
    for v in a.sa_key:
        seed["service_accounts"].append(dict(parse_sa_flag(v, a.project), key=True))
    if a.default_workload:
        seed["default_workload"] = a.default_workload
    if a.instance_sa:
        isa = a.instance_sa if "@" in a.instance_sa else \
            f"{a.instance_sa}@{a.project}.iam.gserviceaccount.com"
        seed["instance_sa"] = isa
    app.seed(seed, a.state_dir)
    extra = []
    for v in a.workload_listener:
        wl, _, port = v.partition("=")
        lst = server.add_listener({"workload": wl}, int(port or 0))
        extra.append({"workload": wl, "port": lst.port})
    info = {"project": a.project, "project_number": app.project_number,
            "metadata_host": f"{a.host}:{server.port}",
            "jwks_url": f"http://{a.host}:{server.port}/oauth2/v3/certs"}
    if extra:
        info["workload_listeners"] = extra
    if app.sas:
        info["service_accounts"] = {s.email: s.unique_id for s in app.sas.values()}
    return serve_cli(server, a.state_dir, "google", info)


if __name__ == "__main__":
    sys.exit(main())
