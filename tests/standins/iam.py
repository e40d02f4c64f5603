"""AWS IAM stand-in: the roles' trust policies and the OIDC identity providers.

Served beside the STS stand-in (`python -m standins.sts --iam-port 0`, or
`standins.iam.make_server(sts_app)` in process) and sharing its state: the
roles whose trust policies STS evaluates, the OIDC providers STS trusts, the
sessions STS issued. So an `UpdateAssumeRolePolicy` here changes what
`AssumeRoleWithWebIdentity` there accepts, and only STS's credentials can
call IAM.

IAM's wire format (botocore `data/iam/2010-05-08/service-2.json`): query
API, form-encoded POST `/` (a GET's query string works too),
`Action=...&Version=2010-05-08`, SigV4-signed for service `iam` with session
credentials of the STS stand-in (verified with sts.py's verifier), XML
answers in the IAM namespace, policy documents URL-encoded in answers.

Actions: GetRole, UpdateAssumeRolePolicy, CreateOpenIDConnectProvider,
GetOpenIDConnectProvider, ListOpenIDConnectProviders,
AddClientIDToOpenIDConnectProvider. Errors as `ErrorResponse/Error{Type,
Code,Message}`: NoSuchEntity 404, MalformedPolicyDocument 400,
LimitExceeded 409 (the trust policy's 2048-character quota, not counting
whitespace; the client-id, thumbprint and provider quotas), ValidationError
and InvalidInput 400, EntityAlreadyExists 409, AccessDenied 403, and by
fault injection Throttling 400, ServiceFailure 500, ServiceUnavailable 503.

Authorization: each calling role (the role whose session signed) has an
identity policy, set by the test (`POST /_admin/identity-policies`);
statements {Effect, Action, Resource} with IAM's wildcards, explicit Deny
wins, no policy means no access. Resources are the role's ARN (its path
included, so `arn:aws:iam::ACCOUNT:role/gtoken/*` names an IAM path), the
provider's ARN, and `*` for ListOpenIDConnectProviders, as in IAM's service
authorization reference.

Faults beyond common.py's (5xx, throttling storms, drops, delays):
`POST /_admin/foreign-edits` changes or deletes a role right after a GetRole
of it has been answered, i.e. between a client's read and its write.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from .common import HttpError, Request, Response, Server, remove_entry
from .oidc import validate_provider_url
from .query_api import QueryApiApp
from .sts import ROLE_ARN_RE, Role, StsApp, _as_list, _like, iso8601

NS = "https://iam.amazonaws.com/doc/2010-05-08/"
VERSION = "2010-05-08"
ROLE_NAME_RE = re.compile(r"^[\w+=,.@-]+$")
POLICY_CHARS_RE = re.compile(r"^[\u0009\u000A\u000D\u0020-\u00FF]+$")
THUMBPRINT_RE = re.compile(r"^[0-9A-Fa-f]{40}$")
PROVIDER_ARN_RE = re.compile(r"^arn:(aws[\w-]*):iam::(\d{12}):oidc-provider/(.+)$")
POLICY_VERSIONS = ("2012-10-17", "2008-10-17")
DEFAULT_CODES = {400: "InvalidInput", 403: "AccessDenied", 404: "NoSuchEntity",
                 409: "LimitExceeded", 429: "Throttling", 500: "ServiceFailure",
                 503: "ServiceUnavailable"}
DEFAULT_FAULT_MSGS = {"Throttling": "Rate exceeded",
                      "ServiceFailure": "The request processing has failed because of an "
                                        "unknown error, exception or failure.",
                      "ServiceUnavailable": "Service is unavailable."}
ACTIONS = ("GetRole", "UpdateAssumeRolePolicy", "CreateOpenIDConnectProvider",
           "GetOpenIDConnectProvider", "ListOpenIDConnectProviders",
           "AddClientIDToOpenIDConnectProvider")


def policy_size(text: str) -> int:
    """IAM's size of a policy: its characters without the white space
    between JSON tokens (white space inside a string is part of a value and
    counts): IAM's quota page says white space is not counted."""
    size, in_string, escaped = 0, False, False
    for c in text:
        if in_string:
            size += 1
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c in " \t\n\r":
            continue
        else:
            size += 1
            in_string = c == '"'
    return size


def _members(form: dict, name: str) -> list[str]:
    """NAME.member.N fields in the order of N."""
    prefix = name + ".member."
    found = []
    for k, v in form.items():
        if k.startswith(prefix) and k[len(prefix):].isdigit():
            found.append((int(k[len(prefix):]), v))
    return [v for _, v in sorted(found)]


# ---------------------------------------------------------------------------
# Identity policies of the callers


def validate_identity_policy(policy: Any) -> dict:
    """The subset the stand-in evaluates: Effect, Action, Resource."""
    if isinstance(policy, str):
        try:
            policy = json.loads(policy)
        except ValueError:
            raise HttpError(400, "identity policy is not valid JSON", "ValidationError") from None
    if not isinstance(policy, dict) or "Statement" not in policy:
        raise HttpError(400, "identity policy needs a Statement", "ValidationError")
    for st in _as_list(policy["Statement"]):
        if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny"):
            raise HttpError(400, "each statement needs Effect Allow or Deny", "ValidationError")
        extra = set(st) - {"Sid", "Effect", "Action", "Resource"}
        if extra:
            raise HttpError(400, f"unsupported statement fields {sorted(extra)}",
                            "ValidationError")
        if not st.get("Action") or not st.get("Resource"):
            raise HttpError(400, "each statement needs Action and Resource", "ValidationError")
    return policy


def identity_allows(policy: dict | None, action: str, resource: str) -> bool:
    """IAM's rule for one identity policy: an explicit Deny wins, else some
    Allow must match. Actions match case-insensitively, resources not."""
    if policy is None:
        return False
    allowed = False
    for st in _as_list(policy.get("Statement")):
        if not any(_like(action.lower(), a.lower()) for a in _as_list(st.get("Action"))):
            continue
        if not any(_like(resource, r) for r in _as_list(st.get("Resource"))):
            continue
        if st["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


# ---------------------------------------------------------------------------


class ForeignEdit:
    """Someone else's change to a role, made right after a GetRole of it."""

    def __init__(self, spec: dict):
        self.role = spec.get("role")
        if not isinstance(self.role, str) or not self.role:
            raise HttpError(400, "role (a name or ARN) is required", "ValidationError")
        self.policy = spec.get("policy")
        self.add_statement = spec.get("add_statement")
        self.delete_role = bool(spec.get("delete_role"))
        given = [k for k in ("policy", "add_statement", "delete_role")
                 if spec.get(k) not in (None, False)]
        if len(given) != 1:
            raise HttpError(400, "give one of policy, add_statement, delete_role",
                            "ValidationError")
        self.remaining = int(spec.get("count", 1))
        self.applied = 0

    def matches(self, role: Role) -> bool:
        return self.remaining > 0 and self.role in (role.name, role.arn)

    def describe(self) -> dict:
        return {"role": self.role, "policy": self.policy, "add_statement": self.add_statement,
                "delete_role": self.delete_role, "remaining": self.remaining,
                "applied": self.applied}


class IamApp(QueryApiApp):
    name = "iam"
    NS = NS
    DEFAULT_CODES = DEFAULT_CODES
    FALLBACK_CODE = "ServiceFailure"
    DEFAULT_FAULT_MSGS = DEFAULT_FAULT_MSGS

    def __init__(self, sts: StsApp):
        super().__init__()
        self.sts = sts
        self._reset_state()
        A = lambda m, p, h, n: self.add(m, p, h, "admin." + n, True)  # noqa: E731
        A("GET", "/_admin/identity-policies", self.adm_policies_get, "identity-policies")
        A("POST", "/_admin/identity-policies", self.adm_policies_set, "identity-policies")
        A("DELETE", "/_admin/identity-policies", self.adm_policies_del, "identity-policies")
        A("GET", "/_admin/foreign-edits", self.adm_edits_get, "foreign-edits")
        A("POST", "/_admin/foreign-edits", self.adm_edits_add, "foreign-edits")
        A("DELETE", "/_admin/foreign-edits", self.adm_edits_clear, "foreign-edits")

    def _reset_state(self):
        # by the calling role's ARN (arn:aws:iam::ACCOUNT:role/[PATH/]NAME)
        self.identity_policies: dict[str, dict] = {}
        self.foreign_edits: list[ForeignEdit] = []
        self.config = {
            "trust_policy_max_chars": 2048,  # IAM's default quota (raisable to 4096)
            "max_client_ids": 100,
            "max_thumbprints": 5,
            "max_providers": 100,
            # a Federated principal naming an OIDC provider must exist, as IAM checks
            "validate_federated_principals": True,
        }
        # provider ARN -> what IAM keeps beside the STS stand-in's provider
        self.provider_extra: dict[str, dict] = {}
        # the state lock is STS's: one lock for the shared roles and providers
        self.lock = self.sts.lock

    def _apply_faults(self, req: Request) -> Response | None:
        # name the action before faults are matched, so a fault can hit one
        # action (endpoint "iam.UpdateAssumeRolePolicy": a storm on writes only)
        if req.endpoint == "iam":
            action = req.form().get("Action")
            if action in ACTIONS:
                req.endpoint = f"iam.{action}"
        return super()._apply_faults(req)

    # -- dispatch ----------------------------------------------------------------

    def query_api(self, req: Request) -> Response:
        form = req.form()
        action = form.get("Action")
        req.note["action"] = action
        if not action:
            raise HttpError(400, "Missing Action", "MissingAction")
        if form.get("Version") != VERSION or action not in ACTIONS:
            raise HttpError(400, f"Could not find operation {action} for version "
                                 f"{form.get('Version')}", "InvalidAction")
        req.endpoint = f"iam.{action}"
        sess = self.sts.authenticate(req, "iam")
        req.note["caller"] = sess["arn"]
        caller = {"role_arn": sess["role_arn"], "arn": sess["arn"], "account": sess["account"],
                  "partition": sess["role_arn"].split(":")[1]}
        handler = getattr(self, "do_" + action)
        return handler(req, form, caller)

    def authorize(self, caller: dict, action: str, resource: str):
        with self.lock:
            policy = self.identity_policies.get(caller["role_arn"])
        if not identity_allows(policy, f"iam:{action}", resource):
            raise HttpError(403, f"User: {caller['arn']} is not authorized to perform: "
                                 f"iam:{action} on resource: {resource}", "AccessDenied")

    # -- roles ---------------------------------------------------------------------

    @staticmethod
    def _role_name(form: dict) -> str:
        name = form.get("RoleName")
        if name is None:
            raise HttpError(400, "1 validation error detected: Value null at 'roleName' "
                                 "failed to satisfy constraint: Member must not be null",
                            "ValidationError")
        if not 1 <= len(name) <= 64 or not ROLE_NAME_RE.match(name):
            raise HttpError(400, f"1 validation error detected: Value '{name}' at 'roleName' "
                                 "failed to satisfy constraint: Member must satisfy regular "
                                 r"expression pattern: [\w+=,.@-]+", "ValidationError")
        return name

    def _find_role(self, caller: dict, name: str) -> Role | None:
        with self.lock:
            for r in self.sts.roles.values():
                if (r.account == caller["account"] and r.name == name
                        and r.arn.split(":")[1] == caller["partition"]):
                    return r
        return None

    def _role_for(self, req: Request, form: dict, caller: dict, action: str) -> Role:
        name = self._role_name(form)
        role = self._find_role(caller, name)
        # IAM authorizes on the role's ARN (with its path) before saying it is missing
        resource = (role.arn if role else
                    f"arn:{caller['partition']}:iam::{caller['account']}:role/{name}")
        req.resource = resource
        self.authorize(caller, action, resource)
        if role is None:
            raise HttpError(404, f"The role with name {name} cannot be found.", "NoSuchEntity")
        return role

    @staticmethod
    def _role_xml(role: Role) -> str:
        doc = quote(role.policy_text, safe="-_.~")
        return (f"    <Role>\n      <Path>{escape(role.path)}</Path>\n"
                f"      <AssumeRolePolicyDocument>{doc}</AssumeRolePolicyDocument>\n"
                f"      <MaxSessionDuration>{role.max_session_duration}</MaxSessionDuration>\n"
                f"      <RoleId>{role.role_id}</RoleId>\n"
                f"      <RoleName>{escape(role.name)}</RoleName>\n"
                f"      <Arn>{escape(role.arn)}</Arn>\n"
                f"      <CreateDate>{iso8601(role.created)}</CreateDate>\n"
                f"      <RoleLastUsed/>\n    </Role>\n")

    def do_GetRole(self, req: Request, form: dict, caller: dict) -> Response:
        role = self._role_for(req, form, caller, "GetRole")
        with self.lock:
            answer = self.ok("GetRole", self._role_xml(role))
            self._foreign_edits_after_read(role, req)
        return answer

    def _foreign_edits_after_read(self, role: Role, req: Request):
        for edit in self.foreign_edits:
            if not edit.matches(role):
                continue
            edit.remaining -= 1
            edit.applied += 1
            req.note["foreign_edit"] = True
            if edit.delete_role:
                self.sts.roles.pop(role.arn, None)
            elif edit.policy is not None:
                text = edit.policy if isinstance(edit.policy, str) else json.dumps(edit.policy)
                role.set_trust_policy(json.loads(text), text)
            else:
                policy = json.loads(role.policy_text)
                policy["Statement"] = _as_list(policy.get("Statement")) + [edit.add_statement]
                role.set_trust_policy(policy, json.dumps(policy))
        self.foreign_edits = [e for e in self.foreign_edits if e.remaining > 0]

    def check_trust_policy(self, text: str, caller: dict) -> dict:
        """The document as UpdateAssumeRolePolicy accepts it, or IAM's error."""
        if not 1 <= len(text) <= 131072 or not POLICY_CHARS_RE.match(text):
            raise HttpError(400, "1 validation error detected: Value at 'policyDocument' failed "
                                 "to satisfy constraint: Member must satisfy regular expression "
                                 r"pattern: [\u0009\u000A\u000D\u0020-\u00FF]+",
                            "ValidationError")
        limit = int(self.config["trust_policy_max_chars"])
        if policy_size(text) > limit:
            raise HttpError(409, f"Cannot exceed quota for ACLSizePerRole: {limit}",
                            "LimitExceeded")
        try:
            policy = json.loads(text)
        except ValueError:
            raise HttpError(400, "This policy contains invalid Json",
                            "MalformedPolicyDocument") from None
        if not isinstance(policy, dict) or not policy.get("Statement"):
            raise HttpError(400, "Syntax errors in policy.", "MalformedPolicyDocument")
        if "Version" in policy and policy["Version"] not in POLICY_VERSIONS:
            raise HttpError(400, "The policy must contain a valid version string",
                            "MalformedPolicyDocument")
        for st in _as_list(policy["Statement"]):
            if not isinstance(st, dict):
                raise HttpError(400, "Syntax errors in policy.", "MalformedPolicyDocument")
            if st.get("Effect") not in ("Allow", "Deny"):
                raise HttpError(400, f"Invalid effect: {st.get('Effect')}",
                                "MalformedPolicyDocument")
            for field in ("Resource", "NotResource"):
                if field in st:
                    raise HttpError(400, f"Has prohibited field {field}",
                                    "MalformedPolicyDocument")
            if "Principal" not in st and "NotPrincipal" not in st:
                raise HttpError(400, "Missing required field Principal",
                                "MalformedPolicyDocument")
            if "Action" not in st and "NotAction" not in st:
                raise HttpError(400, "Missing required field Action", "MalformedPolicyDocument")
            self._check_federated(st.get("Principal"), caller)
        return policy

    def _check_federated(self, principal: Any, caller: dict):
        if not self.config["validate_federated_principals"] or not isinstance(principal, dict):
            return
        for fed in _as_list(principal.get("Federated")):
            if not isinstance(fed, str):
                raise HttpError(400, "Invalid principal in policy", "MalformedPolicyDocument")
            if ":oidc-provider/" in fed:
                with self.lock:
                    known = fed in self.sts.oidc_providers
                if not known:
                    raise HttpError(400, f'Invalid principal in policy: "FEDERATED":"{fed}"',
                                    "MalformedPolicyDocument")

    def do_UpdateAssumeRolePolicy(self, req: Request, form: dict, caller: dict) -> Response:
        role = self._role_for(req, form, caller, "UpdateAssumeRolePolicy")
        text = form.get("PolicyDocument")
        if text is None:
            raise HttpError(400, "1 validation error detected: Value null at 'policyDocument' "
                                 "failed to satisfy constraint: Member must not be null",
                            "ValidationError")
        policy = self.check_trust_policy(text, caller)
        with self.lock:
            if self.sts.roles.get(role.arn) is not role:
                raise HttpError(404, f"The role with name {role.name} cannot be found.",
                                "NoSuchEntity")
            role.set_trust_policy(policy, text)
        req.note["policy_size"] = policy_size(text)
        return self.ok("UpdateAssumeRolePolicy", None)

    # -- OIDC providers ----------------------------------------------------------------

    def _provider_arn(self, req: Request, form: dict) -> str:
        arn = form.get("OpenIDConnectProviderArn")
        if arn is None:
            raise HttpError(400, "1 validation error detected: Value null at "
                                 "'openIDConnectProviderArn' failed to satisfy constraint: "
                                 "Member must not be null", "ValidationError")
        if not 20 <= len(arn) <= 2048 or not PROVIDER_ARN_RE.match(arn):
            raise HttpError(400, f"ARN {arn} is not valid.", "InvalidInput")
        req.resource = arn
        return arn

    def _provider(self, caller: dict, arn: str):
        with self.lock:
            p = self.sts.oidc_providers.get(arn)
        if p is None or p.account != caller["account"] or p.partition != caller["partition"]:
            raise HttpError(404, f"OpenIDConnect Provider not found for arn {arn}",
                            "NoSuchEntity")
        return p

    def do_CreateOpenIDConnectProvider(self, req: Request, form: dict,
                                       caller: dict) -> Response:
        url = form.get("Url")
        try:
            url = validate_provider_url(url)
        except ValueError as e:
            raise HttpError(400, str(e), "InvalidInput") from None
        arn = f"arn:{caller['partition']}:iam::{caller['account']}:oidc-provider/{url[8:]}"
        req.resource = arn
        self.authorize(caller, "CreateOpenIDConnectProvider", arn)
        client_ids = _members(form, "ClientIDList")
        thumbprints = _members(form, "ThumbprintList")
        if len(client_ids) > int(self.config["max_client_ids"]):
            raise HttpError(409, "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: "
                                 f"{self.config['max_client_ids']}", "LimitExceeded")
        if len(thumbprints) > int(self.config["max_thumbprints"]):
            raise HttpError(409, "Cannot exceed quota for ThumbprintsPerOpenIdConnectProvider: "
                                 f"{self.config['max_thumbprints']}", "LimitExceeded")
        for t in thumbprints:
            if not THUMBPRINT_RE.match(t):
                raise HttpError(400, f"Thumbprint {t} is not 40 hex characters.",
                                "InvalidInput")
        with self.lock:
            mine = [p for p in self.sts.oidc_providers.values()
                    if p.account == caller["account"]]
            if arn not in self.sts.oidc_providers and len(mine) >= int(self.config["max_providers"]):
                raise HttpError(409, "Cannot exceed quota for OpenIdConnectProvidersPerAccount: "
                                     f"{self.config['max_providers']}", "LimitExceeded")
            provider = self.sts.add_oidc_provider({"url": url, "client_ids": client_ids,
                                                   "account": caller["account"],
                                                   "partition": caller["partition"]})
            self.provider_extra[provider.arn] = {"thumbprints": thumbprints,
                                                 "created_by": caller["arn"]}
        inner = f"    <OpenIDConnectProviderArn>{escape(provider.arn)}</OpenIDConnectProviderArn>\n"
        return self.ok("CreateOpenIDConnectProvider", inner)

    def do_GetOpenIDConnectProvider(self, req: Request, form: dict, caller: dict) -> Response:
        arn = self._provider_arn(req, form)
        self.authorize(caller, "GetOpenIDConnectProvider", arn)
        p = self._provider(caller, arn)
        with self.lock:
            extra = self.provider_extra.get(arn, {})
            client_ids = list(p.client_ids)
        members = lambda vs: "".join(f"<member>{escape(v)}</member>" for v in vs)  # noqa: E731
        inner = (f"    <ThumbprintList>{members(extra.get('thumbprints', []))}</ThumbprintList>\n"
                 f"    <CreateDate>{iso8601(p.created)}</CreateDate>\n"
                 f"    <ClientIDList>{members(client_ids)}</ClientIDList>\n"
                 f"    <Url>{escape(p.url[len('https://'):])}</Url>\n")
        return self.ok("GetOpenIDConnectProvider", inner)

    def do_ListOpenIDConnectProviders(self, req: Request, form: dict, caller: dict) -> Response:
        self.authorize(caller, "ListOpenIDConnectProviders", "*")
        with self.lock:
            arns = sorted(a for a, p in self.sts.oidc_providers.items()
                          if p.account == caller["account"] and p.partition == caller["partition"])
        entries = "".join(f"      <member>\n        <Arn>{escape(a)}</Arn>\n      </member>\n"
                          for a in arns)
        inner = f"    <OpenIDConnectProviderList>\n{entries}    </OpenIDConnectProviderList>\n"
        return self.ok("ListOpenIDConnectProviders", inner)

    def do_AddClientIDToOpenIDConnectProvider(self, req: Request, form: dict,
                                              caller: dict) -> Response:
        arn = self._provider_arn(req, form)
        self.authorize(caller, "AddClientIDToOpenIDConnectProvider", arn)
        client_id = form.get("ClientID")
        if client_id is None or not 1 <= len(client_id) <= 255:
            raise HttpError(400, "1 validation error detected: Value at 'clientID' failed to "
                                 "satisfy constraint: Member must have length between 1 and 255",
                            "ValidationError")
        p = self._provider(caller, arn)
        with self.lock:
            if client_id not in p.client_ids:  # adding one it has changes nothing
                if len(p.client_ids) >= int(self.config["max_client_ids"]):
                    raise HttpError(409, "Cannot exceed quota for "
                                         "ClientIdsPerOpenIdConnectProvider: "
                                         f"{self.config['max_client_ids']}", "LimitExceeded")
                p.client_ids = list(p.client_ids) + [client_id]
        return self.ok("AddClientIDToOpenIDConnectProvider", None)

    # -- admin -------------------------------------------------------------------------

    def adm_state(self, req):
        with self.lock:
            return Response.json({"config": dict(self.config),
                                  "identity_policies": dict(self.identity_policies),
                                  "foreign_edits": [e.describe() for e in self.foreign_edits],
                                  "roles": [r.describe() for r in self.sts.roles.values()],
                                  "oidc_providers": [p.describe() | self.provider_extra.get(a, {})
                                                     for a, p in self.sts.oidc_providers.items()],
                                  "faults": [f.describe() for f in self.faults]})

    def adm_reset(self, req):
        """IAM's own state (identity policies, foreign edits, config, faults,
        calls); the roles and providers are STS's, reset there."""
        with self.lock:
            self._reset_state()
            self.reset_common()
        return Response.json({})

    def adm_config_get(self, req):
        with self.lock:
            return Response.json(dict(self.config))

    def adm_config_set(self, req):
        body = req.json()
        with self.lock:
            for k, v in body.items():
                if k not in self.config:
                    raise HttpError(400, f"unknown config key {k!r}", "ValidationError")
                self.config[k] = bool(v) if isinstance(self.config[k], bool) else int(v)
            return Response.json(dict(self.config))

    def adm_policies_get(self, req):
        with self.lock:
            return Response.json({"identity_policies": dict(self.identity_policies)})

    def adm_policies_set(self, req):
        """{"role_arn": ARN, "policy": {...}}: what sessions of that role may do."""
        body = req.json()
        arn = body.get("role_arn")
        if not isinstance(arn, str) or not ROLE_ARN_RE.match(arn):
            raise HttpError(400, "role_arn must be a role ARN", "ValidationError")
        policy = validate_identity_policy(body.get("policy"))
        with self.lock:
            self.identity_policies[arn] = policy
        return Response.json({"role_arn": arn, "policy": policy}, 201)

    def adm_policies_del(self, req):
        with self.lock:
            remove_entry(self.identity_policies, req.q("role_arn"),
                         "no identity policy for that role")
        return Response.json({})

    def adm_edits_get(self, req):
        with self.lock:
            return Response.json({"foreign_edits": [e.describe() for e in self.foreign_edits]})

    def adm_edits_add(self, req):
        """{"role": NAME|ARN, one of "policy": {...}|TEXT, "add_statement": {...},
        "delete_role": true; "count": N (default 1)}: applied right after the
        next N GetRole answers for that role."""
        edit = ForeignEdit(req.json())
        with self.lock:
            self.foreign_edits.append(edit)
        return Response.json(edit.describe(), 201)

    def adm_edits_clear(self, req):
        with self.lock:
            self.foreign_edits.clear()
        return Response.json({})


def make_server(sts: StsApp, host: str = "127.0.0.1", port: int = 0) -> Server:
    return Server(IamApp(sts), host, port)


def start_beside(sts_server: Server, port: int = 0) -> Server:
    """The IAM stand-in on its own port, sharing `sts_server`'s state."""
    return make_server(sts_server.app, sts_server.host, port).start()  # type: ignore[arg-type]


