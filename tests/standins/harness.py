"""Start/stop the stand-ins (in-process or as subprocesses) and drive their
admin APIs. Used by the stand-ins' own tests; e2e tests may use it too.

    from standins.harness import GoogleStandin, StsStandin, google_trust_policy

    with GoogleStandin(project="p") as g, StsStandin(jwks_url=g.jwks_url) as s:
        gsa = g.create_sa("app")
        g.bind_workload(gsa["email"], "ns/ksa")
        ...

Only the standard library is needed here.
"""

from __future__ import annotations

import http.client as httpclient
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any
from urllib.parse import quote, urlsplit

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WI_ROLE = "roles/iam.workloadIdentityUser"


class HttpResult:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self):
        return f"<HttpResult {self.status} {self.text[:200]!r}>"


def http(method: str, url: str, body: Any = None, headers: dict | None = None,
         timeout: float = 30) -> HttpResult:
    """One HTTP request; dict/list bodies are sent as JSON, str/bytes as is."""
    parts = urlsplit(url)
    conn = httpclient.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    hdrs = dict(headers or {})
    data = None
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        data = body.encode()
    elif isinstance(body, bytes):
        data = body
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        conn.request(method, target, body=data, headers=hdrs)
        r = conn.getresponse()
        return HttpResult(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


class AdminError(RuntimeError):
    pass


class _Standin:
    module = ""
    name = ""

    def __init__(self, in_process: bool = True, state_dir: str | None = None,
                 extra_args: list[str] | None = None, log_path: str | None = None):
        self.in_process = in_process
        # Subprocess mode: stderr to this file instead of ours, so the server
        # can outlive the caller without holding its output open.
        self.log_path = log_path
        self.state_dir = state_dir
        self.extra_args = extra_args or []
        self.server = None
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.info: dict = {}
        self._tmp: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _make_server(self):
        raise NotImplementedError

    def _cli_args(self) -> list[str]:
        raise NotImplementedError

    def start(self):
        if self.in_process:
            self.server = self._make_server().start()
            self.port = self.server.port
            return self
        if self.state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"standin-{self.name}-")
            self.state_dir = self._tmp.name
        env = dict(os.environ)
        env["PYTHONPATH"] = TESTS_DIR + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-m", self.module, "--port", "0",
               "--state-dir", self.state_dir] + self._cli_args() + self.extra_args
        stderr = open(self.log_path, "a") if self.log_path else None
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, cwd=TESTS_DIR,
                                     text=True, stderr=stderr, start_new_session=bool(stderr))
        if stderr is not None:
            stderr.close()
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self.proc.wait(10)
            raise RuntimeError(f"{self.module} exited with {self.proc.returncode} before "
                               "reporting its port")
        self.info = json.loads(line)
        self.port = int(self.info["port"])
        return self

    def stop(self) -> int | None:
        if self.server is not None:
            self.server.stop()
            self.server = None
            return 0
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    rc = self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    rc = self.proc.wait(5)
            else:
                rc = self.proc.returncode
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- admin ----------------------------------------------------------------

    def admin(self, method: str, path: str, body: Any = None, ok=(200, 201)) -> Any:
        r = http(method, self.url + "/_admin" + path, body)
        if r.status not in ok:
            raise AdminError(f"{method} /_admin{path}: {r.status} {r.text}")
        return r.json() if r.body else None

    def reset(self, **kw):
        return self.admin("POST", "/reset", kw)

    def config(self, **kw) -> dict:
        return self.admin("POST", "/config", kw) if kw else self.admin("GET", "/config")

    def state(self) -> dict:
        return self.admin("GET", "/state")

    def fault(self, prefix: str, status: int = 503, count: int | None = 1, **kw) -> dict:
        spec = {"prefix": prefix, "status": status, "count": count, **kw}
        return self.admin("POST", "/faults", spec)

    def latency(self, prefix: str, latency_ms: int, count: int | None = None,
                seconds: float | None = None) -> dict:
        spec: dict = {"prefix": prefix, "latency_ms": latency_ms, "action": "delay"}
        if count is not None:
            spec["count"] = count
        if seconds is not None:
            spec["seconds"] = seconds
        if count is None and seconds is None:
            spec["seconds"] = 3600
        return self.admin("POST", "/faults", spec)

    def clear_faults(self):
        return self.admin("DELETE", "/faults")

    def counters(self) -> dict:
        return self.admin("GET", "/counters")

    def count(self, endpoint: str, resource: str | None = None) -> int:
        c = self.counters()
        if resource is None:
            return c["counters"].get(endpoint, 0)
        return c["by_resource"].get(endpoint, {}).get(resource, 0)

    def calls(self, since: int = 0, endpoint: str | None = None) -> list[dict]:
        q = f"?since={since}" + (f"&endpoint={endpoint}" if endpoint else "")
        return self.admin("GET", "/calls" + q)["calls"]

    def clear_calls(self):
        return self.admin("DELETE", "/calls")


class GoogleStandin(_Standin):
    module = "standins.google"
    name = "google"

    def __init__(self, project: str = "gtoken-test", host: str = "127.0.0.1", port: int = 0,
                 pod_identity=None, **kw):
        """host/port/pod_identity: in-process only. pod_identity identifies
        metadata callers by source IP (standins.pod_identity), for a real
        node; a host other than loopback only works inside its netns."""
        super().__init__(**kw)
        self.project = project
        self.host = host
        self.bind_port = port
        self.pod_identity = pod_identity

    def _make_server(self):
        from standins import google
        server = google.make_server(self.project, self.host, self.bind_port)
        server.app.pod_identity = self.pod_identity
        return server

    def _cli_args(self):
        return ["--project", self.project]

    @property
    def metadata_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return self.url + "/oauth2/v3/certs"

    def create_sa(self, account_id: str, **kw) -> dict:
        spec = {"account_id": account_id} if "@" not in account_id else {"email": account_id}
        spec.update(kw)
        return self.admin("POST", "/service-accounts", spec)

    def sa(self, email: str) -> dict:
        return self.admin("GET", f"/service-accounts/{email}")

    def patch_sa(self, email: str, **kw) -> dict:
        return self.admin("PATCH", f"/service-accounts/{email}", kw)

    def delete_sa(self, email: str):
        return self.admin("DELETE", f"/service-accounts/{email}")

    def policy(self, email: str) -> dict:
        return self.admin("GET", f"/service-accounts/{email}/policy")

    def put_policy(self, email: str, policy: dict) -> dict:
        return self.admin("PUT", f"/service-accounts/{email}/policy", {"policy": policy})

    def key_file(self, email: str, path: str | None = None) -> dict:
        return self.admin("POST", f"/service-accounts/{email}/keys",
                          {"path": path} if path else {})

    def wi_member(self, workload: str) -> str:
        return f"serviceAccount:{self.project}.svc.id.goog[{workload}]"

    def bind_workload(self, email: str, workload: str, role: str = WI_ROLE) -> dict:
        """Grant NS/KSA the role on the GSA, as another writer would."""
        return self.add_member(email, role, self.wi_member(workload))

    def add_member(self, email: str, role: str, member: str) -> dict:
        pol = self.policy(email)
        bindings = pol.get("bindings", [])
        for b in bindings:
            if b["role"] == role and "condition" not in b:
                if member not in b["members"]:
                    b["members"].append(member)
                break
        else:
            bindings.append({"role": role, "members": [member]})
        pol["bindings"] = bindings
        pol["version"] = 3
        return self.put_policy(email, pol)

    def unbind_workload(self, email: str, workload: str, role: str = WI_ROLE) -> dict:
        pol = self.policy(email)
        member = self.wi_member(workload)
        for b in pol.get("bindings", []):
            if b["role"] == role:
                b["members"] = [m for m in b["members"] if m != member]
        pol["version"] = 3
        return self.put_policy(email, pol)

    def annotate(self, workload: str, gsa: str | None):
        return self.admin("POST", "/annotations", {"workload": workload, "gsa": gsa})

    def set_default_workload(self, workload: str | None):
        return self.admin("POST", "/workload", {"workload": workload})

    def add_listener(self, workload: str, gsa: str | None = None) -> dict:
        body = {"workload": workload}
        if gsa:
            body["gsa"] = gsa
        return self.admin("POST", "/listeners", body)

    def rotate_keys(self, keep: int = 2) -> dict:
        return self.admin("POST", "/keys/rotate", {"keep": keep})

    def access_token(self, email: str) -> str:
        return self.admin("POST", "/tokens/access", {"email": email})["access_token"]

    def id_token(self, email: str, audience: str, include_email: bool = True) -> str:
        return self.admin("POST", "/tokens/id", {"email": email, "audience": audience,
                                                 "include_email": include_email})["token"]

    def outage(self, seconds: float, status: int = 503, **kw) -> dict:
        return self.admin("POST", "/outage", {"seconds": seconds, "status": status, **kw})

    def conflicts(self, count: int) -> dict:
        return self.admin("POST", "/iam/conflicts", {"count": count})

    def stale_reads(self, count: int) -> dict:
        return self.admin("POST", "/iam/stale-reads", {"count": count})

    # -- plain calls, as a client would make them --------------------------------

    def metadata(self, path: str, workload: str | None = None, flavor: bool = True,
                 port: int | None = None, headers: dict | None = None) -> HttpResult:
        hdrs = dict(headers or {})
        if flavor:
            hdrs["Metadata-Flavor"] = "Google"
        if workload:
            hdrs["X-Gtoken-Test-Workload"] = workload
        base = f"http://127.0.0.1:{port or self.port}"
        return http("GET", base + "/computeMetadata/v1/" + path.lstrip("/"), headers=hdrs)

    def identity(self, audience: str, workload: str | None = None, full: bool = True,
                 **kw) -> HttpResult:
        from urllib.parse import quote
        q = f"audience={quote(audience, safe='')}" + ("&format=full" if full else "")
        return self.metadata(f"instance/service-accounts/default/identity?{q}", workload, **kw)

    def iam(self, method: str, path: str, token: str | None, body: Any = None) -> HttpResult:
        hdrs = {"Authorization": f"Bearer {token}"} if token else {}
        if method == "POST" and body is None:
            body = b""
        return http(method, self.url + path, body, hdrs)


class StsStandin(_Standin):
    """The STS stand-in; with iam=True also the IAM stand-in beside it
    (sharing its roles, providers and sessions), reached through .iam."""

    module = "standins.sts"
    name = "sts"

    def __init__(self, jwks_url: str | None = None, account_id: str = "123456789012",
                 host: str = "127.0.0.1", port: int = 0, iam: bool = False, **kw):
        super().__init__(**kw)
        self.jwks_url = jwks_url
        self.account_id = account_id
        self.host = host  # in-process only, like GoogleStandin's
        self.bind_port = port
        self.with_iam = iam
        self.iam: IamStandin | None = None
        self._iam_server = None

    def _make_server(self):
        from standins import sts
        return sts.make_server(self.jwks_url, host=self.host, port=self.bind_port,
                               account_id=self.account_id)

    def _cli_args(self):
        args = ["--account-id", self.account_id]
        if self.jwks_url:
            args += ["--jwks-url", self.jwks_url]
        if self.with_iam:
            args += ["--iam-port", "0"]
        return args

    def start(self):
        super().start()
        if self.with_iam:
            if self.server is not None:
                from standins import iam
                self._iam_server = iam.start_beside(self.server)
                self.iam = IamStandin(self._iam_server.port)
            else:
                self.iam = IamStandin(int(self.info["iam_port"]))
        return self

    def stop(self) -> int | None:
        if self._iam_server is not None:
            self._iam_server.stop()
            self._iam_server = None
        return super().stop()

    def add_role(self, arn: str, trust_policy: dict, max_session_duration: int = 3600) -> dict:
        return self.admin("POST", "/roles", {"arn": arn, "trust_policy": trust_policy,
                                             "max_session_duration": max_session_duration})

    def sessions(self) -> list[dict]:
        return self.admin("GET", "/sessions")["sessions"]

    def add_oidc_provider(self, url: str, client_ids: list[str], **kw) -> dict:
        """An IAM OIDC identity provider (kw: account, partition) → its
        description, with "arn"."""
        return self.admin("POST", "/oidc-providers", {"url": url, "client_ids": client_ids, **kw})

    def oidc_providers(self) -> list[dict]:
        return self.admin("GET", "/oidc-providers")["oidc_providers"]

    def delete_oidc_provider(self, arn: str | None = None):
        query = f"?arn={quote(arn, safe='')}" if arn else ""
        return self.admin("DELETE", "/oidc-providers" + query)

    def expire_sessions(self, access_key_id: str | None = None) -> dict:
        return self.admin("POST", "/sessions/expire",
                          {"access_key_id": access_key_id} if access_key_id else {})


class IamStandin(_Standin):
    """The admin side of the IAM stand-in that a StsStandin(iam=True)
    started; it lives and stops with that STS stand-in."""

    name = "iam"

    def __init__(self, port: int):
        super().__init__()
        self.port = port

    def start(self):
        return self

    def stop(self) -> int | None:
        return None

    def allow(self, role_arn: str, statements: list[dict]) -> dict:
        """The identity policy of role_arn's sessions: [{Effect, Action, Resource}]."""
        return self.admin("POST", "/identity-policies",
                          {"role_arn": role_arn,
                           "policy": {"Version": "2012-10-17", "Statement": statements}})

    def foreign_edit(self, role: str, **kw) -> dict:
        """After the next GetRole of role (name or ARN): kw policy=, add_statement=
        or delete_role=True (count=N for the next N reads)."""
        return self.admin("POST", "/foreign-edits", {"role": role, **kw})


def aws_cli_env(config_dir: str, **variables: str) -> dict:
    """An environment for the aws CLI as a subprocess: this process's,
    without its AWS_* variables, with no host configuration (files in
    config_dir that do not exist), region us-east-1, plus `variables`
    (AWS_ENDPOINT_URL_STS=..., AWS_ROLE_ARN=...)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_CONFIG_FILE": os.path.join(config_dir, "cfg"),
                "AWS_SHARED_CREDENTIALS_FILE": os.path.join(config_dir, "creds"),
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
    env.update(variables)
    return env


def iam_admin_policy(account: str) -> list[dict]:
    """The identity policy docs/user-guide.md gives the operator's AWS role:
    read any role, write trust policies only under /gtoken/, manage OIDC
    providers."""
    return [
        {"Effect": "Allow", "Action": "iam:GetRole", "Resource": f"arn:aws:iam::{account}:role/*"},
        {"Effect": "Allow", "Action": "iam:UpdateAssumeRolePolicy",
         "Resource": f"arn:aws:iam::{account}:role/gtoken/*"},
        {"Effect": "Allow", "Action": ["iam:CreateOpenIDConnectProvider",
                                       "iam:GetOpenIDConnectProvider",
                                       "iam:AddClientIDToOpenIDConnectProvider"],
         "Resource": f"arn:aws:iam::{account}:oidc-provider/*"},
        {"Effect": "Allow", "Action": "iam:ListOpenIDConnectProviders", "Resource": "*"},
    ]


def google_trust_policy(sub: str, oaud: str | None = None, aud: str | None = None,
                        like: bool = False) -> dict:
    """A trust policy for Google tokens pinning sub (and oaud, aud if given)."""
    cond = {"accounts.google.com:sub": sub}
    if oaud is not None:
        cond["accounts.google.com:oaud"] = oaud
    if aud is not None:
        cond["accounts.google.com:aud"] = aud
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow",
                           "Principal": {"Federated": "accounts.google.com"},
                           "Action": "sts:AssumeRoleWithWebIdentity",
                           "Condition": {"StringLike" if like else "StringEquals": cond}}]}


def oidc_trust_policy(provider_arn: str, sub: str, aud: str | None = None,
                      like: bool = False) -> dict:
    """A trust policy for an IAM OIDC provider's tokens pinning HOST/PATH:sub
    (and :aud if given), as EKS IRSA's are written."""
    prefix = provider_arn.split(":oidc-provider/", 1)[1]
    cond = {f"{prefix}:sub": sub}
    if aud is not None:
        cond[f"{prefix}:aud"] = aud
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow",
                           "Principal": {"Federated": provider_arn},
                           "Action": "sts:AssumeRoleWithWebIdentity",
                           "Condition": {"StringLike" if like else "StringEquals": cond}}]}


def wait_for(pred, timeout: float = 10.0, interval: float = 0.05):
    end = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > end:
            raise TimeoutError("condition not met in time")
        time.sleep(interval)
