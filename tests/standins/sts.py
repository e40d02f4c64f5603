"""AWS STS stand-in: AssumeRoleWithWebIdentity and GetCallerIdentity.

    python -m standins.sts --port 0 --state-dir DIR \
        --jwks-url http://127.0.0.1:GPORT/oauth2/v3/certs [--role ARN=POLICY.json] \
        [--oidc-provider https://ISSUER=sts.amazonaws.com --oidc-ca-file CA.pem \
         --connect-to ISSUER_HOST:443:127.0.0.1:PORT]

Web identity tokens are verified independently of gtoken, by their `iss`:

- Google (https://accounts.google.com or accounts.google.com): RS256 with
  PyJWT against the JWKS fetched over HTTP from --jwks-url (cached; fetched
  again when a token names an unknown kid), then `exp`. The role's trust
  policy is evaluated for Principal {"Federated": "accounts.google.com"}
  and conditions on accounts.google.com:sub / :aud (azp) / :oaud (aud).
- A registered IAM OIDC provider (--oidc-provider, /_admin/oidc-providers;
  standins.oidc), such as a Kubernetes ServiceAccount issuer: its discovery
  document and JWKS over HTTPS (TLS verified against --oidc-ca-file; issuer
  names connect only through --resolve/--connect-to, to loopback), then
  RS256, `exp`/`nbf`, `aud` against the provider's client ids. The trust
  policy is evaluated for Principal {"Federated": PROVIDER_ARN} and
  conditions on HOST/PATH:sub and HOST/PATH:aud (azp, else aud).
- Anything else: "No OpenIDConnect provider found in your account for ISS".

A statement must allow sts:AssumeRoleWithWebIdentity (Principal or
NotPrincipal, Action or NotAction); its conditions use the String* operators,
with ForAnyValue:/ForAllValues: and IfExists, and Null. Other operators fail
closed: never true in an Allow, always in a Deny. gtoken's C++ evaluator
(aws/trust_evaluation) decides the same way: differential.trust_evaluation. Answers are the XML shapes of the Query API,
as botocore and aws-sdk-go-v2 parse them.

GetCallerIdentity must be SigV4-signed (header or query string) with issued
session credentials; the signature is recomputed with the stored secret.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import string
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qsl, quote
from xml.sax.saxutils import escape

import jwt

from .common import (HttpError, Request, Response, Server, as_bool, bind_allowed, remove_entry,
                     serve_cli)
from .query_api import QueryApiApp
from .oidc import (IdpMisconfigured, IdpUnreachable, OidcProvider, Resolver, fetch_json,
                   provider_arn)

NS = "https://sts.amazonaws.com/doc/2011-06-15/"
VERSION = "2011-06-15"
GOOGLE_PROVIDER = "accounts.google.com"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
ACTION_WI = "sts:AssumeRoleWithWebIdentity"
DENIED_MSG = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
INVALID_TOKEN_MSG = ("The web identity token that was passed could not be validated by AWS. "
                     "Get a new identity token from the identity provider and then retry the "
                     "request.")
IDP_MSG = ("The request could not be fulfilled because the identity provider (IDP) that was "
           "asked to verify the incoming identity token could not be reached. Retry the request "
           "a few times; if it still fails, contact the administrator of the identity provider.")
VERIFY_KEY_MSG = ("Couldn't retrieve verification key from your identity provider, please "
                  "reference AssumeRoleWithWebIdentity documentation for requirements")
AUDIENCE_MSG = "Incorrect token audience"
OIDC_REQUIRED_CLAIMS = ["exp", "iss", "sub", "aud"]
SESSION_NAME_RE = re.compile(r"^[\w+=,.@-]*$")
ROLE_ARN_RE = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)$")
DEFAULT_CODES = {400: "InvalidParameterValue", 403: "AccessDenied", 429: "Throttling",
                 500: "InternalFailure", 503: "ServiceUnavailable"}
DEFAULT_FAULT_MSGS = {"Throttling": "Rate exceeded", "InternalFailure": "An internal error occurred.",
                      "ServiceUnavailable": "Service is unavailable.",
                      "AccessDenied": DENIED_MSG,
                      "IDPCommunicationError": IDP_MSG}


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def iso8601(t: float) -> str:
    return dt.datetime.fromtimestamp(int(t), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_list(v: Any) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


# ---------------------------------------------------------------------------
# Trust policy evaluation


def _matches_one(base: str, actual: str, expected: list[str]) -> bool:
    """base is a positive String operator: StringEquals[IgnoreCase] or StringLike."""
    if base == "StringEqualsIgnoreCase":
        return any(actual.lower() == e.lower() for e in expected)
    if base == "StringEquals":
        return any(actual == e for e in expected)
    if base == "StringLike":
        return any(_like(actual, e) for e in expected)
    raise ValueError(base)


def _str_match(op: str, actual: list[str], expected: list[str], qualifier: str = "") -> bool:
    """A String operator on a key's values. Without a qualifier some value
    must match (negated: none may); ForAnyValue: some value passes,
    ForAllValues: every value passes."""
    negated = op.startswith("StringNot")
    base = op.replace("StringNot", "String", 1) if negated else op
    passes = [_matches_one(base, a, expected) != negated for a in actual]
    if qualifier == "ForAnyValue":
        return any(passes)
    if qualifier == "ForAllValues":
        return all(passes)
    matched = any(_matches_one(base, a, expected) for a in actual)
    return not matched if negated else matched


def _like(value: str, pattern: str) -> bool:
    # IAM wildcards: * any run, ? one char; nothing else is special
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.S) is not None


SUPPORTED_OPS = {"StringEquals", "StringNotEquals", "StringLike", "StringNotLike",
                 "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"}


def _parse_op(op: str) -> tuple[str, str, bool] | None:
    """(qualifier, base, if_exists), None for an operator not evaluated here."""
    qualifier = ""
    for q in ("ForAnyValue:", "ForAllValues:"):
        if op.startswith(q):
            qualifier, op = q[:-1], op[len(q):]
            break
    if_exists = op.endswith("IfExists")
    base = op[: -len("IfExists")] if if_exists else op
    if base == "Null":
        return None if (qualifier or if_exists) else ("", base, False)
    return (qualifier, base, if_exists) if base in SUPPORTED_OPS else None


def condition_holds(conditions: dict, context: dict[str, list[str]],
                    unsupported_holds: bool = False) -> tuple[bool, str]:
    """All operators and all keys must hold; a key's values are ORed. An
    operator not evaluated here fails closed: it fails in an Allow and, with
    unsupported_holds (a Deny), counts as holding."""
    ctx = {k.lower(): v for k, v in context.items()}
    for op, block in (conditions or {}).items():
        parsed = _parse_op(op)
        if parsed is None:
            if unsupported_holds:
                continue
            return False, f"unsupported condition operator {op}"
        qualifier, base_op, if_exists = parsed
        if base_op == "Null":
            for key, want in block.items():
                is_null = not ctx.get(key.lower())
                if not any(is_null == as_bool(w) for w in _as_list(want)):
                    return False, f"Null {key}"
            continue
        for key, expected in block.items():
            actual = ctx.get(key.lower())
            if not actual:
                if if_exists or qualifier == "ForAllValues" or (
                        not qualifier and base_op.startswith("StringNot")):
                    continue
                return False, f"{op} {key}: key absent"
            if not _str_match(base_op, actual, [_text(e) for e in _as_list(expected)], qualifier):
                return False, f"{op} {key}: {actual} vs {expected}"
    return True, "ok"


def _text(v: Any) -> str:
    """A policy value as IAM compares it: JSON's spelling of booleans."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _action_matches(patterns: list[str], action: str) -> bool:
    return any(_like(action.lower(), p.lower()) for p in patterns)


def _principal_matches(principal: Any, provider: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    if "*" in _as_list(principal.get("AWS")):
        return True
    return provider in _as_list(principal.get("Federated"))


def _applies(st: dict, provider: str) -> tuple[bool, str]:
    if "NotPrincipal" in st:
        if _principal_matches(st["NotPrincipal"], provider):
            return False, "NotPrincipal names the provider"
    elif not _principal_matches(st.get("Principal"), provider):
        return False, "principal does not match"
    if "NotAction" in st:
        if _action_matches(_as_list(st["NotAction"]), ACTION_WI):
            return False, "NotAction names the action"
    elif not _action_matches(_as_list(st.get("Action")), ACTION_WI):
        return False, "action does not match"
    return True, ""


def evaluate_trust(policy: dict, provider: str, context: dict[str, list[str]]) -> tuple[bool, list[str]]:
    """(allowed, reasons). Explicit Deny wins; otherwise some Allow must match."""
    allowed = False
    why = []
    for i, st in enumerate(_as_list(policy.get("Statement"))):
        effect = st.get("Effect")
        applies, reason = _applies(st, provider)
        if not applies:
            why.append(f"statement {i}: {reason}")
            continue
        ok, reason = condition_holds(st.get("Condition") or {}, context,
                                     unsupported_holds=effect == "Deny")
        if not ok:
            why.append(f"statement {i}: {reason}")
            continue
        if effect == "Deny":
            return False, why + [f"statement {i}: explicit deny"]
        if effect == "Allow":
            allowed = True
            why.append(f"statement {i}: allow")
    return allowed, why


def google_context(claims: dict) -> dict[str, list[str]]:
    """Condition keys of a Google ID token: :aud is azp when present."""
    auds = [str(a) for a in _as_list(claims.get("aud"))]
    azp = claims.get("azp")
    ctx = {f"{GOOGLE_PROVIDER}:aud": [str(azp)] if azp else auds,
           f"{GOOGLE_PROVIDER}:oaud": auds}
    if claims.get("sub") is not None:
        ctx[f"{GOOGLE_PROVIDER}:sub"] = [str(claims["sub"])]
    return ctx


def oidc_context(key_prefix: str, claims: dict) -> dict[str, list[str]]:
    """Condition keys of an IAM OIDC provider's token (HOST/PATH:...)."""
    auds = [str(a) for a in _as_list(claims.get("aud"))]
    azp = claims.get("azp")
    ctx = {f"{key_prefix}:aud": [str(azp)] if azp else auds}
    if claims.get("sub") is not None:
        ctx[f"{key_prefix}:sub"] = [str(claims["sub"])]
    return ctx


# ---------------------------------------------------------------------------
# JWKS cache


class JwksCache:
    def __init__(self, url: str | None, max_age: float = 3600.0):
        self.url = url
        self.max_age = max_age
        self.keys: dict[str, Any] = {}
        self.fetched_at = 0.0
        self.fetches = 0
        self.lock = threading.Lock()

    def _fetch(self):
        if not self.url:
            raise HttpError(400, IDP_MSG, "IDPCommunicationError")
        self.fetches += 1
        try:
            with urllib.request.urlopen(self.url, timeout=5) as r:
                doc = json.loads(r.read())
            keys = {}
            for k in doc.get("keys", []):
                if k.get("kty") == "RSA" and k.get("kid"):
                    keys[k["kid"]] = jwt.PyJWK(k, algorithm="RS256").key
        except (urllib.error.URLError, OSError, ValueError, KeyError, jwt.PyJWTError):
            raise HttpError(400, IDP_MSG, "IDPCommunicationError") from None
        self.keys = keys
        self.fetched_at = time.time()

    def key(self, kid: str):
        with self.lock:
            fetched = False
            if not self.keys or time.time() - self.fetched_at > self.max_age:
                self._fetch()
                fetched = True
            if kid not in self.keys and not fetched:
                self._fetch()  # unknown kid: the IdP may have rotated
            return self.keys.get(kid)

    def clear(self):
        with self.lock:
            self.keys = {}
            self.fetched_at = 0.0


# ---------------------------------------------------------------------------


class Role:
    """A role of the shared store: STS evaluates its trust policy, the IAM
    stand-in (standins.iam) reads and writes it."""

    def __init__(self, arn: str, trust_policy: dict, max_session_duration: int = 3600,
                 policy_text: str | None = None):
        m = ROLE_ARN_RE.match(arn)
        if not m:
            raise HttpError(400, f"invalid role ARN {arn!r}", "ValidationError")
        self.arn = arn
        self.account = m.group(1)
        self.name = m.group(2)
        # role/PATH/NAME: IAM paths begin and end with '/'
        self.path = "/" + arn.split(":role/", 1)[1][: -len(self.name)].lstrip("/")
        self.trust_policy = trust_policy
        # the document as written: IAM hands back the text it was given
        self.policy_text = policy_text if policy_text is not None else json.dumps(trust_policy)
        self.max_session_duration = max_session_duration
        self.role_id = "AROA" + _rand(string.ascii_uppercase + string.digits, 17)
        self.created = time.time()

    def set_trust_policy(self, policy: dict, text: str):
        self.trust_policy = policy
        self.policy_text = text

    def describe(self) -> dict:
        return {"arn": self.arn, "name": self.name, "account": self.account, "path": self.path,
                "role_id": self.role_id, "max_session_duration": self.max_session_duration,
                "trust_policy": self.trust_policy, "trust_policy_text": self.policy_text}


class StsApp(QueryApiApp):
    name = "sts"
    NS = NS
    DEFAULT_CODES = DEFAULT_CODES
    DEFAULT_FAULT_MSGS = DEFAULT_FAULT_MSGS

    def __init__(self, jwks_url: str | None = None, account_id: str = "123456789012"):
        super().__init__()
        self.default_account = account_id
        self.jwks = JwksCache(jwks_url)
        self._reset_state()
        A = lambda m, p, h, n: self.add(m, p, h, "admin." + n, True)  # noqa: E731
        A("GET", "/_admin/roles", self.adm_roles_get, "roles")
        A("POST", "/_admin/roles", self.adm_roles_add, "roles")
        A("DELETE", "/_admin/roles", self.adm_roles_del, "roles")
        A("GET", "/_admin/sessions", self.adm_sessions, "sessions")
        A("POST", "/_admin/sessions/expire", self.adm_sessions_expire, "sessions")
        A("POST", "/_admin/jwks/flush", self.adm_jwks_flush, "jwks")
        A("GET", "/_admin/oidc-providers", self.adm_oidc_get, "oidc-providers")
        A("POST", "/_admin/oidc-providers", self.adm_oidc_add, "oidc-providers")
        A("DELETE", "/_admin/oidc-providers", self.adm_oidc_del, "oidc-providers")

    def _reset_state(self):
        self.roles: dict[str, Role] = {}
        self.sessions: dict[str, dict] = {}
        self.oidc_providers: dict[str, OidcProvider] = {}  # by ARN
        self.config = {
            "max_credential_seconds": 0,  # >0 caps the lifetime of issued credentials
            "leeway_seconds": 0,          # clock skew allowed on exp/iat (and nbf)
            "verify_signature_v4": True,  # GetCallerIdentity signature check
            "max_request_skew_seconds": 900,
        }
        # how OIDC issuers are reached (standins.oidc)
        self.oidc_config = {"oidc_ca_file": None, "resolve": [], "connect_to": []}
        self.resolver = Resolver()

    # -- dispatch --------------------------------------------------------------

    def query_api(self, req: Request) -> Response:
        form = req.form()
        action = form.get("Action")
        req.note["action"] = action
        if not action:
            raise HttpError(400, "Missing Action", "MissingAction")
        version = form.get("Version")
        if version and version != VERSION:
            raise HttpError(400, f"Could not find operation {action} for version {version}",
                            "InvalidAction")
        req.endpoint = f"sts.{action}"
        if action == "AssumeRoleWithWebIdentity":
            return self.assume_role_wi(req, form)
        if action == "GetCallerIdentity":
            return self.get_caller_identity(req, form)
        raise HttpError(400, f"Could not find operation {action} for version {VERSION}",
                        "InvalidAction")

    # -- AssumeRoleWithWebIdentity --------------------------------------------

    @staticmethod
    def validate(form: dict) -> list[str]:
        errs = []

        def length(name, field, lo, hi, show=True):
            v = form.get(name)
            if v is None:
                errs.append(f"Value null at '{field}' failed to satisfy constraint: "
                            "Member must not be null")
                return None
            shown = f"'{v}'" if show else "'***'"
            if len(v) < lo:
                errs.append(f"Value {shown} at '{field}' failed to satisfy constraint: "
                            f"Member must have length greater than or equal to {lo}")
            elif len(v) > hi:
                errs.append(f"Value {shown} at '{field}' failed to satisfy constraint: "
                            f"Member must have length less than or equal to {hi}")
            return v

        length("RoleArn", "roleArn", 20, 2048)
        sn = length("RoleSessionName", "roleSessionName", 2, 64)
        if sn is not None and not SESSION_NAME_RE.match(sn):
            errs.append(f"Value '{sn}' at 'roleSessionName' failed to satisfy constraint: "
                        r"Member must satisfy regular expression pattern: [\w+=,.@-]*")
        length("WebIdentityToken", "webIdentityToken", 4, 20000, show=False)
        ds = form.get("DurationSeconds")
        if ds is not None:
            try:
                n = int(ds)
            except ValueError:
                errs.append(f"Value '{ds}' at 'durationSeconds' failed to satisfy constraint: "
                            "Member must be an integer")
            else:
                if n < 900:
                    errs.append(f"Value '{n}' at 'durationSeconds' failed to satisfy "
                                "constraint: Member must have value greater than or equal to 900")
                elif n > 43200:
                    errs.append(f"Value '{n}' at 'durationSeconds' failed to satisfy "
                                "constraint: Member must have value less than or equal to 43200")
        pol = form.get("Policy")
        if pol is not None and not (1 <= len(pol) <= 2048):
            errs.append("Value at 'policy' failed to satisfy constraint: Member must have "
                        "length less than or equal to 2048")
        return errs

    def verify_token(self, token: str, req: Request,
                     role_arn: str) -> tuple[dict, OidcProvider | None]:
        """(claims, provider): provider None for a Google token. An OIDC
        provider is looked up in the account (and partition) of role_arn."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise HttpError(400, INVALID_TOKEN_MSG, "InvalidIdentityToken") from None
        iss = unverified.get("iss")
        req.note["token_iss"] = iss
        req.note["token_sha256"] = hashlib.sha256(token.encode()).hexdigest()[:16]
        req.note["token_kid"] = header.get("kid")
        req.note["token_sub"] = unverified.get("sub")
        if isinstance(iss, str) and iss in GOOGLE_ISSUERS:
            return self.verify_google_token(token, header, unverified), None
        provider = self.oidc_provider_for(iss, role_arn) if isinstance(iss, str) else None
        if provider is None:
            raise HttpError(400, f"No OpenIDConnect provider found in your account for {iss}",
                            "InvalidIdentityToken")
        return self.verify_oidc_token(token, header, unverified, provider, req), provider

    def verify_google_token(self, token: str, header: dict, unverified: dict) -> dict:
        if header.get("alg") != "RS256":
            raise HttpError(400, INVALID_TOKEN_MSG, "InvalidIdentityToken")
        key = self.jwks.key(str(header.get("kid", "")))
        if key is None:
            raise HttpError(400, INVALID_TOKEN_MSG, "InvalidIdentityToken")
        leeway = int(self.config["leeway_seconds"])
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"], leeway=leeway,
                                options={"verify_aud": False,
                                         "require": ["exp", "iat", "iss", "sub", "aud"]})
        except jwt.ExpiredSignatureError:
            raise self._expired(unverified) from None
        except jwt.PyJWTError:
            raise HttpError(400, INVALID_TOKEN_MSG, "InvalidIdentityToken") from None
        return claims

    @staticmethod
    def _expired(unverified: dict) -> HttpError:
        exp = unverified.get("exp")
        return HttpError(400, f"Token expired: current date/time {int(time.time())} must be "
                              f"before the expiration date/time{exp}", "ExpiredTokenException")

    def oidc_provider_for(self, iss: str, role_arn: str) -> OidcProvider | None:
        """The provider whose URL is iss, in the role's account: AWS looks a
        provider up in the account whose role is assumed."""
        if not iss.startswith("https://"):
            return None
        m = ROLE_ARN_RE.match(role_arn)
        if not m:
            return None
        arn = provider_arn(role_arn.split(":")[1], m.group(1), iss)
        with self.lock:
            p = self.oidc_providers.get(arn)
        return p if p is not None and p.url == iss else None

    def fetch_issuer_document(self, url: str):
        with self.lock:
            resolver = self.resolver
            ca_file = self.oidc_config["oidc_ca_file"]
        return fetch_json(url, resolver, ca_file)

    def verify_oidc_token(self, token: str, header: dict, unverified: dict,
                          provider: OidcProvider, req: Request) -> dict:
        """AWS's order: keys (discovery, its issuer, JWKS), signature,
        exp/nbf, then aud against the provider's client ids."""
        req.note["token_provider"] = provider.arn
        if header.get("alg") != "RS256" or not header.get("kid"):
            raise HttpError(400, INVALID_TOKEN_MSG, "InvalidIdentityToken")
        try:
            key = provider.keys.key(str(header["kid"]))
        except IdpUnreachable as e:
            req.note["idp_error"] = str(e)
            raise HttpError(400, IDP_MSG, "IDPCommunicationError") from None
        except IdpMisconfigured as e:
            req.note["idp_error"] = str(e)
            raise HttpError(400, VERIFY_KEY_MSG, "InvalidIdentityToken") from None
        if key is None:
            raise HttpError(400, INVALID_TOKEN_MSG, "InvalidIdentityToken")
        leeway = int(self.config["leeway_seconds"])
        try:
            claims = jwt.decode(token, key, algorithms=["RS256"], leeway=leeway,
                                options={"verify_aud": False, "require": OIDC_REQUIRED_CLAIMS})
        except jwt.ExpiredSignatureError:
            raise self._expired(unverified) from None
        except jwt.MissingRequiredClaimError as e:
            raise HttpError(400, f"Missing a required claim: {e.claim}",
                            "InvalidIdentityToken") from None
        except jwt.PyJWTError:
            raise HttpError(400, INVALID_TOKEN_MSG, "InvalidIdentityToken") from None
        auds = [str(a) for a in _as_list(claims.get("aud"))]
        if not any(a in provider.client_ids for a in auds):
            raise HttpError(400, AUDIENCE_MSG, "InvalidIdentityToken")
        return claims

    def assume_role_wi(self, req: Request, form: dict) -> Response:
        errs = self.validate(form)
        if errs:
            n = len(errs)
            raise HttpError(400, f"{n} validation error{'s' if n > 1 else ''} detected: "
                                 + "; ".join(errs), "ValidationError")
        arn = form["RoleArn"]
        session_name = form["RoleSessionName"]
        req.resource = arn
        req.note["session_name"] = session_name
        if not ROLE_ARN_RE.match(arn):
            raise HttpError(400, "Request ARN is invalid", "ValidationError")
        claims, oidc = self.verify_token(form["WebIdentityToken"], req, arn)
        aud = claims.get("aud")
        auds = [str(a) for a in _as_list(aud)]
        azp = claims.get("azp")
        sub = str(claims["sub"])
        if oidc is None:
            principal = GOOGLE_PROVIDER
            context = google_context(claims)
            audience = str(azp) if azp else (auds[0] if auds else "")
        else:
            principal = oidc.arn
            context = oidc_context(oidc.key_prefix, claims)
            audience = str(azp) if azp else next(a for a in auds if a in oidc.client_ids)
        req.note["token_aud"] = aud
        req.note["token_azp"] = azp
        with self.lock:
            role = self.roles.get(arn)
        if role is None:
            req.note["deny"] = ["no such role"]
            raise HttpError(403, DENIED_MSG, "AccessDenied")
        allowed, why = evaluate_trust(role.trust_policy, principal, context)
        req.note["trust"] = why
        if not allowed:
            raise HttpError(403, DENIED_MSG, "AccessDenied")
        duration = int(form.get("DurationSeconds") or 3600)
        if duration > role.max_session_duration:
            raise HttpError(400, "The requested DurationSeconds exceeds the MaxSessionDuration "
                                 "set for this role.", "ValidationError")
        granted = duration
        cap = int(self.config["max_credential_seconds"] or 0)
        if cap > 0:
            granted = min(granted, cap)
        now = time.time()
        akid = "ASIA" + _rand(string.ascii_uppercase + string.digits, 16)
        secret = _rand(string.ascii_letters + string.digits + "+/", 40)
        token = "IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(300).replace("-", "+").replace("_", "/")
        assumed_arn = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{session_name}"
        assumed_id = f"{role.role_id}:{session_name}"
        with self.lock:
            expired = [k for k, s in self.sessions.items() if s["expires"] < now - 3600]
            for k in expired:
                del self.sessions[k]
            self.sessions[akid] = {"access_key_id": akid, "secret": secret, "token": token,
                                   "expires": now + granted, "issued": now, "arn": assumed_arn,
                                   "user_id": assumed_id, "account": role.account,
                                   "role_arn": arn, "session_name": session_name,
                                   "subject": sub, "audience": audience, "provider": principal}
        req.note["access_key_id"] = akid
        req.note["duration_requested"] = duration
        req.note["duration_granted"] = granted
        inner = (f"    <SubjectFromWebIdentityToken>{escape(sub)}</SubjectFromWebIdentityToken>\n"
                 f"    <Audience>{escape(audience)}</Audience>\n"
                 f"    <AssumedRoleUser>\n      <Arn>{escape(assumed_arn)}</Arn>\n"
                 f"      <AssumedRoleId>{escape(assumed_id)}</AssumedRoleId>\n"
                 f"    </AssumedRoleUser>\n"
                 f"    <Credentials>\n      <SessionToken>{escape(token)}</SessionToken>\n"
                 f"      <SecretAccessKey>{escape(secret)}</SecretAccessKey>\n"
                 f"      <Expiration>{iso8601(now + granted)}</Expiration>\n"
                 f"      <AccessKeyId>{akid}</AccessKeyId>\n    </Credentials>\n"
                 f"    <Provider>{escape(principal)}</Provider>\n")
        return self.ok("AssumeRoleWithWebIdentity", inner)

    # -- GetCallerIdentity (SigV4) --------------------------------------------

    def get_caller_identity(self, req: Request, form: dict) -> Response:
        sess = self.authenticate(req)
        req.resource = sess["arn"]
        inner = (f"    <Arn>{escape(sess['arn'])}</Arn>\n"
                 f"    <UserId>{escape(sess['user_id'])}</UserId>\n"
                 f"    <Account>{sess['account']}</Account>\n")
        return self.ok("GetCallerIdentity", inner)

    def authenticate(self, req: Request, service: str = "sts") -> dict:
        """The session of a SigV4-signed request (header or presigned query)
        for `service`, whose signature is recomputed with its stored secret;
        HttpError as AWS answers otherwise."""
        q = dict(parse_qsl(req.raw_query, keep_blank_values=True))
        auth = req.header("Authorization")
        presigned = auth is None and "X-Amz-Signature" in q
        if presigned:
            if q.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
                raise HttpError(400, "Unsupported signing algorithm", "IncompleteSignature")
            credential = q.get("X-Amz-Credential", "")
            signed_headers = q.get("X-Amz-SignedHeaders", "")
            signature = q.get("X-Amz-Signature", "")
            amz_date = q.get("X-Amz-Date", "")
            token = q.get("X-Amz-Security-Token")
        elif auth:
            m = re.match(r"^AWS4-HMAC-SHA256\s+(.*)$", auth.strip())
            if not m:
                raise HttpError(400, "Authorization header requires 'Credential', "
                                     "'SignedHeaders' and 'Signature'", "IncompleteSignature")
            parts = {}
            for piece in m.group(1).split(","):
                k, _, v = piece.strip().partition("=")
                parts[k] = v
            if not {"Credential", "SignedHeaders", "Signature"} <= parts.keys():
                raise HttpError(400, "Authorization header requires 'Credential', "
                                     "'SignedHeaders' and 'Signature'", "IncompleteSignature")
            credential = parts["Credential"]
            signed_headers = parts["SignedHeaders"]
            signature = parts["Signature"]
            amz_date = req.header("X-Amz-Date") or ""
            token = req.header("X-Amz-Security-Token")
        else:
            raise HttpError(403, "Request is missing Authentication Token",
                            "MissingAuthenticationToken")
        scope = credential.split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise HttpError(400, "Credential should be scoped to a valid region.",
                            "IncompleteSignature")
        akid, date = scope[:2]
        req.note["access_key_id"] = akid
        with self.lock:
            sess = self.sessions.get(akid)
        if sess is None or token != sess["token"]:
            raise HttpError(403, "The security token included in the request is invalid.",
                            "InvalidClientTokenId")
        if scope[3] != service:
            raise HttpError(403, f"Credential should be scoped to correct service: '{service}'.",
                            "SignatureDoesNotMatch")
        if time.time() >= sess["expires"]:
            raise HttpError(403, "The security token included in the request is expired",
                            "ExpiredToken")
        try:
            t = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        except ValueError:
            raise HttpError(400, "Authorization header requires existence of either a "
                                 "'X-Amz-Date' or a 'Date' header.", "IncompleteSignature") from None
        if not amz_date.startswith(date):
            raise HttpError(403, "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                                 "version of date from HTTP", "SignatureDoesNotMatch")
        skew = abs(time.time() - t.timestamp())
        if not presigned and skew > float(self.config["max_request_skew_seconds"]):
            raise HttpError(403, f"Signature expired: {amz_date} is now earlier than the "
                                 "allowed window", "SignatureDoesNotMatch")
        if presigned:
            expires = int(q.get("X-Amz-Expires", "0") or 0)
            if time.time() > t.timestamp() + expires:
                raise HttpError(403, "Request has expired", "AccessDenied")
        if self.config["verify_signature_v4"]:
            want = self.signatures(req, sess["secret"], amz_date, "/".join(scope[1:]),
                                   signed_headers, presigned)
            if not any(hmac.compare_digest(w, signature) for w in want):
                raise HttpError(403, "The request signature we calculated does not match the "
                                     "signature you provided. Check your AWS Secret Access Key "
                                     "and signing method. Consult the service documentation for "
                                     "details.", "SignatureDoesNotMatch")
        return sess

    @staticmethod
    def _canonical_query(raw: str, drop_signature: bool) -> str:
        pairs = []
        for k, v in parse_qsl(raw, keep_blank_values=True):
            if drop_signature and k == "X-Amz-Signature":
                continue
            pairs.append((quote(k, safe="-_.~"), quote(v, safe="-_.~")))
        pairs.sort()
        return "&".join(f"{k}={v}" for k, v in pairs)

    def signatures(self, req: Request, secret: str, amz_date: str, scope_tail: str,
                   signed_headers: str, presigned: bool) -> list[str]:
        raw_path = req.target.split("?", 1)[0] or "/"
        path = quote(raw_path, safe="/~")
        query = self._canonical_query(req.raw_query, presigned)
        lines = []
        for name in signed_headers.split(";"):
            values = req.headers.get_all(name) or []
            joined = ",".join(" ".join(v.split()) for v in values)
            lines.append(f"{name}:{joined}\n")
        canonical_headers = "".join(lines)
        payloads = []
        sent = req.header("X-Amz-Content-SHA256")
        if sent:
            payloads.append(sent)
        payloads.append(hashlib.sha256(req.body).hexdigest())
        payloads.append("UNSIGNED-PAYLOAD")
        date, region, service = scope_tail.split("/")[:3]

        def h(key: bytes, msg: str) -> bytes:
            return hmac.new(key, msg.encode(), hashlib.sha256).digest()

        k = h(h(h(h(("AWS4" + secret).encode(), date), region), service), "aws4_request")
        out = []
        for payload in dict.fromkeys(payloads):
            creq = "\n".join([req.method, path, query, canonical_headers, signed_headers, payload])
            sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope_tail,
                             hashlib.sha256(creq.encode()).hexdigest()])
            out.append(hmac.new(k, sts.encode(), hashlib.sha256).hexdigest())
        return out

    # -- admin --------------------------------------------------------------------

    def add_role(self, spec: dict) -> Role:
        arn = spec.get("arn")
        if not arn:
            raise HttpError(400, "arn is required", "ValidationError")
        tp = spec.get("trust_policy")
        text = tp if isinstance(tp, str) else None
        if isinstance(tp, str):
            try:
                tp = json.loads(tp)
            except ValueError:
                raise HttpError(400, "trust_policy is not valid JSON", "MalformedPolicyDocument") from None
        if not isinstance(tp, dict) or "Statement" not in tp:
            raise HttpError(400, "trust_policy must be a policy document with Statement",
                            "MalformedPolicyDocument")
        msd = int(spec.get("max_session_duration", 3600))
        if not 3600 <= msd <= 43200:
            raise HttpError(400, "max_session_duration must be 3600..43200", "ValidationError")
        role = Role(arn, tp, msd, text)
        with self.lock:
            old = self.roles.get(arn)
            if old is not None:
                role.role_id = old.role_id  # updating the trust policy keeps the role
                role.created = old.created
            self.roles[arn] = role
        return role

    def adm_state(self, req):
        with self.lock:
            return Response.json({"config": self._config_view(), "jwks_url": self.jwks.url,
                                  "jwks_fetches": self.jwks.fetches,
                                  "jwks_kids": sorted(self.jwks.keys),
                                  "default_account": self.default_account,
                                  "roles": [r.describe() for r in self.roles.values()],
                                  "oidc_providers": [p.describe()
                                                     for p in self.oidc_providers.values()],
                                  "sessions": self._sessions_public(),
                                  "faults": [f.describe() for f in self.faults]})

    def _sessions_public(self) -> list:
        now = time.time()
        return [{k: v for k, v in s.items() if k not in ("secret", "token")}
                | {"expired": now >= s["expires"], "expiration": iso8601(s["expires"])}
                for s in self.sessions.values()]

    def adm_reset(self, req):
        with self.lock:
            self._reset_state()
            self.reset_common()
            self.jwks.clear()
            self.jwks.fetches = 0
        return Response.json({})

    def _config_view(self) -> dict:
        return (dict(self.config) | {k: (list(v) if isinstance(v, list) else v)
                                     for k, v in self.oidc_config.items()})

    def set_oidc_config(self, key: str, value: Any):
        """oidc_ca_file (a PEM file or null), resolve (["HOST:PORT:ADDR"]),
        connect_to (["HOST:PORT:ADDR:PORT"]); a list replaces the old one."""
        if key == "oidc_ca_file":
            if value is not None and (not isinstance(value, str) or not os.path.isfile(value)):
                raise HttpError(400, f"oidc_ca_file {value!r} is not a file", "ValidationError")
            with self.lock:
                self.oidc_config[key] = value
            return
        if not isinstance(value, list):
            value = [value]
        merged = dict(self.oidc_config, **{key: [str(v) for v in value]})
        try:
            resolver = Resolver(merged["resolve"], merged["connect_to"])
        except ValueError as e:
            raise HttpError(400, f"{key}: {e}", "ValidationError") from None
        with self.lock:
            self.oidc_config = merged
            self.resolver = resolver

    def adm_config_get(self, req):
        with self.lock:
            return Response.json(self._config_view() | {"jwks_url": self.jwks.url})

    def adm_config_set(self, req):
        body = req.json()
        with self.lock:
            for k, v in body.items():
                if k == "jwks_url":
                    self.jwks.url = v
                    self.jwks.clear()
                elif k in self.oidc_config:
                    self.set_oidc_config(k, v)
                elif k == "verify_signature_v4":
                    self.config[k] = as_bool(v)
                elif k in self.config:
                    self.config[k] = int(v)
                else:
                    raise HttpError(400, f"unknown config key {k!r}", "ValidationError")
            return Response.json(self._config_view() | {"jwks_url": self.jwks.url})

    def adm_roles_get(self, req):
        with self.lock:
            return Response.json({"roles": [r.describe() for r in self.roles.values()]})

    def adm_roles_add(self, req):
        body = req.json()
        specs = body if isinstance(body, list) else [body]
        out = [self.add_role(s).describe() for s in specs]
        return Response.json(out if isinstance(body, list) else out[0], 201)

    def adm_roles_del(self, req):
        with self.lock:
            remove_entry(self.roles, req.q("arn"), "no such role")
        return Response.json({})

    def adm_sessions(self, req):
        with self.lock:
            return Response.json({"sessions": self._sessions_public()})

    def adm_sessions_expire(self, req):
        body = req.json(required=False) or {}
        akid = body.get("access_key_id")
        n = 0
        with self.lock:
            for k, s in self.sessions.items():
                if akid is None or k == akid:
                    s["expires"] = min(s["expires"], time.time() - 1)
                    n += 1
        return Response.json({"expired": n})

    def adm_jwks_flush(self, req):
        self.jwks.clear()
        with self.lock:
            providers = list(self.oidc_providers.values())
        for p in providers:
            p.keys.clear()
        return Response.json({})

    def add_oidc_provider(self, spec: dict) -> OidcProvider:
        """CreateOpenIDConnectProvider: {"url", "client_ids", "account"?, "partition"?}."""
        if not isinstance(spec, dict):
            raise HttpError(400, "an OIDC provider is an object", "InvalidInput")
        account = str(spec.get("account") or self.default_account)
        partition = str(spec.get("partition") or "aws")
        if not re.fullmatch(r"\d{12}", account) or not re.fullmatch(r"aws[\w-]*", partition):
            raise HttpError(400, "account must be 12 digits and partition aws or aws-*",
                            "InvalidInput")
        try:
            provider = OidcProvider(spec.get("url"), spec.get("client_ids"), account, partition,
                                    self.fetch_issuer_document)
        except ValueError as e:
            raise HttpError(400, str(e), "InvalidInput") from None
        with self.lock:
            if provider.arn in self.oidc_providers:
                raise HttpError(409, f"Provider with url {provider.url} already exists.",
                                "EntityAlreadyExists")
            self.oidc_providers[provider.arn] = provider
        return provider

    def adm_oidc_get(self, req):
        with self.lock:
            return Response.json({"oidc_providers": [p.describe()
                                                     for p in self.oidc_providers.values()]})

    def adm_oidc_add(self, req):
        body = req.json()
        specs = body if isinstance(body, list) else [body]
        out = [self.add_oidc_provider(s).describe() for s in specs]
        return Response.json(out if isinstance(body, list) else out[0], 201)

    def adm_oidc_del(self, req):
        arn = req.q("arn")
        with self.lock:
            remove_entry(self.oidc_providers, arn, f"OpenIDConnect provider {arn} not found")
        return Response.json({})


def make_server(jwks_url: str | None = None, host: str = "127.0.0.1", port: int = 0,
                account_id: str = "123456789012") -> Server:
    return Server(StsApp(jwks_url, account_id), host, port)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m standins.sts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1",
                   help="bind address: loopback, or any address inside a private network "
                        "namespace (a test node's)")
    p.add_argument("--port", type=int, default=0, help="port, 0 picks a free one")
    p.add_argument("--state-dir", default=None, help="writes sts.port and sts.json here")
    p.add_argument("--jwks-url", default=None,
                   help="JWKS of the Google stand-in, e.g. http://127.0.0.1:P/oauth2/v3/certs")
    p.add_argument("--google-url", default=None,
                   help="shorthand: JWKS at GOOGLE_URL/oauth2/v3/certs")
    p.add_argument("--account-id", default="123456789012",
                   help="account of roles given by name only")
    p.add_argument("--role", action="append", default=[], metavar="ARN=POLICY_FILE",
                   help="register a role with the trust policy in POLICY_FILE; repeatable")
    p.add_argument("--roles", default=None,
                   help='JSON file: [{"arn":..., "trust_policy":{...}, "max_session_duration":N}]')
    p.add_argument("--max-credential-seconds", type=int, default=0,
                   help="cap the lifetime of issued credentials (0: DurationSeconds)")
    p.add_argument("--oidc-provider", action="append", default=[],
                   metavar="URL=CLIENTID[,CLIENTID...]",
                   help="register an IAM OIDC identity provider (https URL, no trailing slash) "
                        "in --account-id; repeatable")
    p.add_argument("--oidc-ca-file", default=None, metavar="PEM",
                   help="CA bundle that OIDC issuers' certificates are verified against "
                        "(default: the system's roots)")
    p.add_argument("--resolve", action="append", default=[], metavar="HOST:PORT:ADDR",
                   help="issuer fetches to HOST:PORT connect to ADDR (loopback), as curl's; "
                        "repeatable")
    p.add_argument("--connect-to", action="append", default=[], metavar="HOST:PORT:ADDR:PORT",
                   help="issuer fetches to HOST:PORT connect to ADDR:PORT (loopback), as "
                        "curl's; repeatable")
    p.add_argument("--iam-port", type=int, default=None, metavar="PORT",
                   help="also serve the IAM stand-in (standins.iam) on PORT (0 picks one), "
                        "sharing these roles, providers and sessions")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request to stderr")
    a = p.parse_args(argv)
    if not bind_allowed(a.host):
        p.error("--host must be a loopback address outside a private network namespace")
    jwks_url = a.jwks_url or (a.google_url.rstrip("/") + "/oauth2/v3/certs" if a.google_url else None)
    server = make_server(jwks_url, a.host, a.port, a.account_id)
    app: StsApp = server.app  # type: ignore[assignment]
    app.verbose = app.verbose or a.verbose
    app.config["max_credential_seconds"] = a.max_credential_seconds
    specs = []
    if a.roles:
        with open(a.roles) as f:
            loaded = json.load(f)
        specs.extend(loaded if isinstance(loaded, list) else loaded.get("roles", []))
    for v in a.role:
        arn, sep, path = v.partition("=")
        if not sep:
            p.error("--role wants ARN=POLICY_FILE")
        with open(path) as f:
            specs.append({"arn": arn, "trust_policy": json.load(f)})
    for s in specs:
        try:
            app.add_role(s)
        except HttpError as e:
            p.error(e.message)
    try:
        app.set_oidc_config("resolve", a.resolve)
        app.set_oidc_config("connect_to", a.connect_to)
        if a.oidc_ca_file:
            app.set_oidc_config("oidc_ca_file", a.oidc_ca_file)
        for v in a.oidc_provider:
            url, sep, ids = v.partition("=")
            if not sep:
                p.error("--oidc-provider wants URL=CLIENTID[,CLIENTID...]")
            app.add_oidc_provider({"url": url, "client_ids": [c for c in ids.split(",") if c]})
    except HttpError as e:
        p.error(e.message)
    info = {"jwks_url": jwks_url, "endpoint_url": server.url}
    if app.oidc_providers:
        info["oidc_providers"] = sorted(app.oidc_providers)
    iam_server = None
    if a.iam_port is not None:
        from .iam import make_server as make_iam_server
        iam_server = make_iam_server(app, a.host, a.iam_port).start()
        iam_server.app.verbose = app.verbose
        info["iam_url"] = iam_server.url
        info["iam_port"] = iam_server.port
    try:
        return serve_cli(server, a.state_dir, "sts", info)
    finally:
        if iam_server is not None:
            iam_server.stop()


if __name__ == "__main__":
    sys.exit(main())
