"""The credential chain as processes, for end-to-end tests: the gtoken agent run
the way a pod's sidecar runs it, a stored pod turned into processes the way
the kubelet would (env expansion, downward API, volume paths), the STS
stand-in, and the real AWS SDKs (boto3, the AWS CLI from PyPI,
aws-sdk-go-v2) with exactly the pod's environment.

    from chain import PodProcesses, sdk_env, run_boto3, sts  # noqa: F401 (fixture)

    pod = cp.get("pod", name, ns)                    # the stored, mutated pod
    run = PodProcesses(pod, tmp_dir, metadata_host=listener["host"])
    with run.agent() as agent:                        # the gtoken container's command
        agent.wait_written(1)
        env = sdk_env(run.app_env("app"), sts.url, tmp_dir)
        out = run_boto3(env)

Everything talks to 127.0.0.1 only: the agent always gets GCE_METADATA_HOST,
the SDKs AWS_ENDPOINT_URL_STS, AWS_EC2_METADATA_DISABLED=true and empty AWS
config files, and neither inherits the test runner's environment.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Callable

import pytest
import yaml

from cluster import BUILD, REPO, free_port  # noqa: F401 (test_smuggling imports it from here)
from standins.harness import GoogleStandin, StsStandin

AGENT_BIN = os.path.join(BUILD, "agent", "gtoken")
GOLDEN_DIR = os.path.join(REPO, "tests", "golden", "webhook")
HERE = os.path.dirname(os.path.abspath(__file__))
BOTO3_RUNNER = os.path.join(HERE, "sdk_boto3.py")
GOSDK_DIR = os.path.join(HERE, "gosdk")
VENV_BIN = os.path.dirname(sys.executable)
AWS_CLI = os.path.join(VENV_BIN, "aws")
DEFAULT_AUDIENCE = "gtoken/sts/assume-role-with-web-identity"
PROJECT = "my-project"
OPERATOR_SA = "gtoken-operator"
JWT_RE = re.compile(rb"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


# -- stand-ins ------------------------------------------------------------------------

def start_google(**config) -> GoogleStandin:
    """The Google stand-in as conftest's `google` fixture sets it up (operator SA as the
    instance identity), plus config (e.g. id_token_lifetime=60)."""
    g = GoogleStandin(project=PROJECT)
    g.start()
    g.create_sa(OPERATOR_SA)
    g.config(instance_sa=f"{OPERATOR_SA}@{PROJECT}.iam.gserviceaccount.com", **config)
    return g


@pytest.fixture
def sts(google):
    """STS stand-in verifying tokens against the `google` fixture's JWKS."""
    s = StsStandin(jwks_url=google.jwks_url)
    s.start()
    yield s
    s.stop()


# -- JWT and files --------------------------------------------------------------------

def jwt_claims(token: str | bytes) -> dict:
    if isinstance(token, bytes):
        token = token.decode()
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def token_sha16(token: str | bytes) -> str:
    """What the STS stand-in logs as token_sha256."""
    if isinstance(token, str):
        token = token.encode()
    return hashlib.sha256(token).hexdigest()[:16]


def golden_pod(name: str) -> dict:
    """The mutated pod of a webhook golden case (tests/golden/webhook/NAME.out.yaml)."""
    with open(os.path.join(GOLDEN_DIR, name + ".out.yaml")) as f:
        return yaml.safe_load(f)


class FileWatcher(threading.Thread):
    """Reads a file over and over while the agent rewrites it and records every
    content seen. Checks that a reader never sees the file missing (once it
    existed), empty, or anything but a whole JWT.

    Reads about every `interval` seconds, and back to back (no pause) while
    `busy()` says a rewrite is due, to hit the rename's moment."""

    def __init__(self, path: str, interval: float = 0.002,
                 busy: Callable[[], bool] | None = None, check_valid: bool = True):
        super().__init__(daemon=True)
        self.path = path
        self.check_valid = check_valid
        self.interval = interval
        self.busy = busy or (lambda: False)
        self.reads = 0
        self.tokens: list[bytes] = []  # distinct contents, in order
        self.bad: list[str] = []
        self._stop_evt = threading.Event()
        self._seen_file = False

    def run(self):
        while not self._stop_evt.is_set():
            try:
                with open(self.path, "rb") as f:
                    data = f.read()
                self._seen_file = True
                self.reads += 1
                if not data:
                    self.bad.append("empty file")
                elif not JWT_RE.match(data):
                    self.bad.append(f"not a whole JWT ({len(data)} bytes)")
                else:
                    try:
                        exp = jwt_claims(data)["exp"]
                        if self.check_valid and exp <= time.time():
                            self.bad.append(f"expired token in the file (exp {exp})")
                    except Exception as e:  # noqa: BLE001
                        self.bad.append(f"unreadable claims: {e}")
                if data and (not self.tokens or self.tokens[-1] != data):
                    self.tokens.append(data)
            except FileNotFoundError:
                if self._seen_file:
                    self.bad.append("file missing after it existed")
            if len(self.bad) > 20:
                return
            if not self.busy():
                self._stop_evt.wait(self.interval)

    def stop(self):
        self._stop_evt.set()
        self.join(10)


# -- the agent as a process -----------------------------------------------------------

class Agent:
    """The gtoken agent as a child process; stderr (its JSON log) goes to a file."""

    def __init__(self, argv: list[str], env: dict, log_path: str):
        assert env.get("GCE_METADATA_HOST", "").startswith("127.0.0.1:"), \
            "the agent must be pointed at a stand-in"
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.returncode: int | None = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.started = time.time()
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self.log,
                                     stderr=self.log, stdin=subprocess.DEVNULL)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        self.returncode = self.proc.wait(timeout)
        return self.returncode

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> tuple[int | None, float]:
        """Sends sig and waits; returns (exit code, seconds from signal to exit)."""
        if self.proc is None:
            return self.returncode, 0.0
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        took = time.monotonic() - t0
        self.returncode = self.proc.returncode
        self.proc = None
        self.log.close()
        return self.returncode, took

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def text(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def records(self) -> list[dict]:
        """The log, one JSON object per line; anything else fails the test."""
        out = []
        for line in self.text().splitlines():
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"agent log line is not JSON: {line!r}") from None
        return out

    def written(self) -> list[dict]:
        return [r for r in self.records() if r["msg"] == "token written"]

    def wait_written(self, n: int, timeout: float) -> list[dict]:
        """Waits until the agent has logged n "token written" records."""
        deadline = time.monotonic() + timeout
        while True:
            w = self.written()
            if len(w) >= n:
                return w
            if not self.alive() or time.monotonic() > deadline:
                raise AssertionError(f"agent wrote {len(w)} tokens, wanted {n} "
                                     f"(alive={self.alive()}):\n{self.text()[-3000:]}")
            time.sleep(0.1)

    def assert_no_token_in_log(self, tokens: list[bytes | str]):
        """No token, nor its payload or signature part, appears in the log."""
        text = self.text()
        for t in tokens:
            t = t.decode() if isinstance(t, bytes) else t
            _, payload, sig = t.split(".")
            assert t not in text and payload not in text and sig not in text, \
                "the agent's log contains a token"


def log_time(rec: dict) -> float:
    """A log record's ts (RFC 3339, ms, UTC) as a Unix time."""
    import datetime as dt
    return dt.datetime.strptime(rec["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.timezone.utc).timestamp()


def agent_env(metadata_host: str, extra: dict | None = None) -> dict:
    """A container's environment: nothing from the test runner but PATH."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "GCE_METADATA_HOST": metadata_host}
    env.update(extra or {})
    return env


# -- a stored pod as processes (what the kubelet would do) -----------------------------

def expand(value: str, defined: dict) -> str:
    """Kubernetes' $(VAR) expansion of env values, command and args: $(NAME) of a
    variable defined earlier is replaced, an undefined one kept as is, $$ is $."""
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "$" and i + 1 < len(value):
            n = value[i + 1]
            if n == "$":
                out.append("$")
                i += 2
                continue
            if n == "(":
                j = value.find(")", i + 2)
                if j != -1:
                    name = value[i + 2:j]
                    out.append(defined[name] if name in defined else value[i:j + 1])
                    i = j + 1
                    continue
        out.append(c)
        i += 1
    return "".join(out)


def field_ref(pod: dict, path: str) -> str:
    m = pod["metadata"]
    simple = {"metadata.name": m.get("name", ""), "metadata.namespace": m.get("namespace", ""),
              "metadata.uid": m.get("uid", ""),
              "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "")}
    if path in simple:
        return simple[path]
    mm = re.match(r"^metadata\.(labels|annotations)\['(.+)'\]$", path)
    if mm:
        return m.get(mm.group(1), {}).get(mm.group(2), "")
    raise AssertionError(f"fieldRef {path} is not emulated")


class PodProcesses:
    """Runs a (stored) pod's containers as local processes.

    Each volume mounted by a container becomes a directory under `root`;
    paths under a mount in env values, command and args are rewritten to it.
    The agent's `/gtoken` becomes the built binary."""

    def __init__(self, pod: dict, root: str, metadata_host: str):
        self.pod = pod
        self.root = root
        self.metadata_host = metadata_host
        self.volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        for name in self.volumes:
            os.makedirs(os.path.join(root, "volumes", name), exist_ok=True)

    @property
    def name(self) -> str:
        return self.pod["metadata"]["name"]

    @property
    def namespace(self) -> str:
        return self.pod["metadata"]["namespace"]

    def containers(self) -> list[dict]:
        return self.pod["spec"].get("initContainers", []) + self.pod["spec"]["containers"]

    def container(self, name: str) -> dict:
        for c in self.containers():
            if c["name"] == name:
                return c
        raise AssertionError(f"pod has no container {name}: "
                             f"{[c['name'] for c in self.containers()]}")

    def mounts(self, container: dict) -> list[tuple[str, str]]:
        """(mountPath, host dir), longest mountPath first."""
        out = []
        for m in container.get("volumeMounts", []):
            assert m["name"] in self.volumes, f"mount of unknown volume {m['name']}"
            out.append((m["mountPath"].rstrip("/"), os.path.join(self.root, "volumes", m["name"])))
        return sorted(out, key=lambda p: -len(p[0]))

    def host_path(self, container: dict, path: str) -> str:
        for mp, host in self.mounts(container):
            if path == mp or path.startswith(mp + "/"):
                return host + path[len(mp):]
        raise AssertionError(f"{path} is not on a volume of {container['name']}")

    def remap(self, container: dict, s: str) -> str:
        """Rewrites every container path under a mount in s (a whole value, or
        the value part of --flag=PATH)."""
        for mp, host in self.mounts(container):
            s = re.sub(r"(^|=)" + re.escape(mp) + r"(?=/|$)", lambda m: m.group(1) + host, s)
        return s

    def env(self, container: dict) -> dict:
        """The container's env as the kubelet resolves it (value with $(VAR)
        expansion, fieldRef), before path remapping."""
        out: dict[str, str] = {}
        for e in container.get("env", []):
            if "value" in e:
                out[e["name"]] = expand(e["value"], out)
            elif "valueFrom" in e and "fieldRef" in e["valueFrom"]:
                out[e["name"]] = field_ref(self.pod, e["valueFrom"]["fieldRef"]["fieldPath"])
            elif "valueFrom" in e:
                raise AssertionError(f"valueFrom {e['valueFrom']} is not emulated")
            else:
                out[e["name"]] = ""
        assert not container.get("envFrom"), "envFrom is not emulated"
        return out

    def app_env(self, name: str) -> dict:
        """An app container's resolved env with token paths remapped: what its
        AWS SDK sees."""
        c = self.container(name)
        return {k: self.remap(c, v) for k, v in self.env(c).items()}

    def argv(self, container: dict, argv: list[str] | None = None) -> list[str]:
        """command + args (or argv), expanded and remapped; /gtoken -> the build."""
        env = self.env(container)
        if argv is None:
            argv = list(container.get("command", [])) + list(container.get("args", []))
        argv = [self.remap(container, expand(a, env)) for a in argv]
        if argv and argv[0] == "/gtoken":
            argv[0] = AGENT_BIN
        return argv

    def agent_container(self, name: str = "gtoken") -> dict:
        return self.container(name)

    def agent(self, name: str = "gtoken", log_path: str | None = None,
              extra_args: list[str] | None = None, replace_args: dict | None = None) -> Agent:
        """The agent container as a process (not started). replace_args maps a flag
        prefix such as "--audience=" to a whole new argument (negative tests)."""
        c = self.agent_container(name)
        argv = self.argv(c)
        for prefix, new in (replace_args or {}).items():
            hits = [i for i, a in enumerate(argv) if a.startswith(prefix)]
            assert hits, f"no {prefix} in {argv}"
            for i in hits:
                argv[i] = new
        argv += extra_args or []
        env = agent_env(self.metadata_host, {k: self.remap(c, v) for k, v in self.env(c).items()})
        return Agent(argv, env, log_path or os.path.join(self.root, f"{name}.log"))

    def probe_argv(self, name: str = "gtoken") -> list[str]:
        c = self.agent_container(name)
        return self.argv(c, c["startupProbe"]["exec"]["command"])

    def token_file(self, app: str) -> str:
        return self.app_env(app)["AWS_WEB_IDENTITY_TOKEN_FILE"]


# -- AWS SDKs -------------------------------------------------------------------------

def sdk_env(app_env: dict, sts_url: str, home: str, extra: dict | None = None) -> dict:
    """Exactly the app container's env (plus extra, e.g. a region the app would
    set itself), plus the STS stand-in's endpoint, plus what keeps the host's
    AWS setup and every non-loopback address out."""
    assert sts_url.startswith("http://127.0.0.1:")
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}
    env.update(app_env)
    env.update(extra or {})
    env.update({"AWS_ENDPOINT_URL_STS": sts_url, "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        assert k not in env, f"{k} must not reach the SDKs"
    return env


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def run_boto3(env: dict, calls: int = 1, interval: float = 1.0, timeout: float = 60) -> list[dict]:
    """boto3 sts.get_caller_identity() `calls` times; one result dict per call."""
    p = subprocess.run([sys.executable, BOTO3_RUNNER, "--calls", str(calls),
                        "--interval", str(interval)],
                       env=env, capture_output=True, text=True, timeout=timeout)
    res = _json_lines(p.stdout)
    assert len(res) == calls, f"boto3 runner: rc={p.returncode}\n{p.stdout}\n{p.stderr}"
    return res


class Boto3Loop:
    """boto3 calling get_caller_identity every `interval` s in a child process
    until stopped; results (one JSON line per call) go to a file."""

    def __init__(self, env: dict, out_path: str, interval: float = 1.0):
        self.env = env
        self.out_path = out_path
        self.interval = interval
        self.proc: subprocess.Popen | None = None

    def start(self):
        self.out = open(self.out_path, "w")
        self.err_path = self.out_path + ".stderr"
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([sys.executable, BOTO3_RUNNER, "--forever",
                                      "--interval", str(self.interval)],
                                     env=self.env, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        return self

    def results(self) -> list[dict]:
        with open(self.out_path) as f:
            return _json_lines(f.read())

    def stop(self) -> list[dict]:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            self.out.close()
            self.err.close()
        return self.results()

    def stderr(self) -> str:
        with open(self.err_path) as f:
            return f.read()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def run_aws_cli(env: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The AWS CLI v1 from PyPI (the venv's `aws`), never the distribution's."""
    assert os.path.exists(AWS_CLI), f"{AWS_CLI} missing: run scripts/setup-python.sh"
    return subprocess.run([AWS_CLI, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def gosdk_binary() -> str:
    """Builds tests/e2e/gosdk (aws-sdk-go-v2) once per source hash; module
    downloads and the build cache live under $GTOKEN_CACHE (~/.cache/gtoken)."""
    cache = os.environ.get("GTOKEN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                           "gtoken")
    h = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        with open(os.path.join(GOSDK_DIR, name), "rb") as f:
            h.update(name.encode() + b"\0" + f.read())
    out = os.path.join(cache, "gosdk", h.hexdigest()[:12], "gosdk")
    if os.path.exists(out):
        return out
    go = None
    for cand in [os.environ.get("GO"), "/usr/local/go/bin/go", "/usr/lib/go/bin/go"]:
        if cand and os.path.exists(cand):
            go = cand
            break
    if go is None:
        from shutil import which
        go = which("go")
    if go is None:
        pytest.fail("Go is needed to build tests/e2e/gosdk (aws-sdk-go-v2)")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    env = dict(os.environ, GOMODCACHE=os.path.join(cache, "go", "mod"),
               GOCACHE=os.path.join(cache, "go", "build"), GOFLAGS="-mod=mod", CGO_ENABLED="0")
    tmp = out + f".tmp{os.getpid()}"
    p = subprocess.run([go, "build", "-p", "1", "-trimpath", "-o", tmp, "."], cwd=GOSDK_DIR,
                       env=env, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        pytest.fail(f"building tests/e2e/gosdk failed:\n{p.stdout}\n{p.stderr}")
    os.replace(tmp, out)
    return out


def run_gosdk(env: dict, calls: int = 1, interval: str = "1s", timeout: float = 120
              ) -> tuple[int, list[dict], str]:
    p = subprocess.run([gosdk_binary(), "-n", str(calls), "-interval", interval], env=env,
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, _json_lines(p.stdout), p.stderr


class GoLoop:
    """The Go program calling every second in the background."""

    def __init__(self, env: dict, out_path: str, calls: int, interval: str = "1s"):
        self.argv = [gosdk_binary(), "-n", str(calls), "-interval", interval]
        self.env = env
        self.out_path = out_path
        self.proc: subprocess.Popen | None = None

    def start(self):
        self.out = open(self.out_path, "w")
        self.err = open(self.out_path + ".stderr", "w")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self.out, stderr=self.err,
                                     stdin=subprocess.DEVNULL)
        return self

    def results(self) -> list[dict]:
        with open(self.out_path) as f:
            return _json_lines(f.read())

    def stop(self) -> list[dict]:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None
            self.out.close()
            self.err.close()
        return self.results()


def assumed_role_arn(role_arn: str, session: str) -> str:
    m = re.match(r"^arn:aws:iam::(\d{12}):role/(?:.*/)?([^/]+)$", role_arn)
    assert m, role_arn
    return f"arn:aws:sts::{m.group(1)}:assumed-role/{m.group(2)}/{session}"


def sts_failures(sts_standin: StsStandin, since: int = 0) -> list[dict]:
    """STS calls that did not answer 200 (every retry hidden by an SDK shows here)."""
    return [c for c in sts_standin.calls(since=since) if c["status"] != 200]


def trust_policy_of(binding: dict) -> dict:
    return json.loads(binding["status"]["awsTrustPolicy"])


def wait_until(t: float):
    d = t - time.time()
    if d > 0:
        time.sleep(d)


# -- the whole chain: control plane, operator (controller + webhook), binding, pod -----

ACCOUNT = "123456789012"
WEBHOOK_NOT_READY = "the webhook did not mutate the pod within a minute"


def binding_manifest(name: str, ns: str, ksa: str, gsa: str, role: str, **spec) -> dict:
    return {"apiVersion": "gtoken.io/v1alpha1", "kind": "AwsRoleBinding",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"serviceAccountName": ksa, "gcpServiceAccount": gsa, "awsRoleArn": role,
                     **spec}}


def binding_ready(cp, name: str, ns: str) -> dict | None:
    b = cp.get("awsrolebinding", name, ns)
    if not b:
        return None
    for c in b.get("status", {}).get("conditions", []):
        if c["type"] == "Ready" and c["status"] == "True" and \
                c.get("observedGeneration") == b["metadata"]["generation"]:
            return b
    return None


def app_pod_manifest(ns: str, ksa: str, generate_name: str = "app-") -> dict:
    """A pod as a Deployment would create it: generateName, one app container."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": generate_name, "namespace": ns,
                         "labels": {"app": "chain"}},
            "spec": {"serviceAccountName": ksa,
                     "containers": [{"name": "app", "image": "registry.example/chain/app:1",
                                     "command": ["/app"]}]}}


def is_mutated(pod: dict) -> bool:
    names = [c["name"] for c in pod["spec"].get("initContainers", []) +
             pod["spec"].get("containers", [])]
    return "gtoken" in names or "gtoken-init" in names


def create_pod(cp, manifest: dict) -> dict:
    """Creates the pod and returns it as stored (GET after create)."""
    created = json.loads(cp.kubectl("create", "-o", "json", "-f", "-",
                                    input=json.dumps(manifest)))
    stored = cp.get("pod", created["metadata"]["name"], created["metadata"]["namespace"])
    assert stored is not None
    return stored


class ChainSetup:
    """One AwsRoleBinding's whole chain for a test module:

    Google + STS stand-ins; gtoken-operator (controller and webhook) on the
    private control plane; the binding applied and Ready; its trust policy
    (status.awsTrustPolicy) registered as the role's in STS; a pod created
    under the KSA and read back as stored; a metadata listener standing for
    the KSA (with the GSA the KSA is annotated with, as GKE's metadata server
    reads it); the pod's agent container running as a process; and `env`,
    the app container's environment for the SDKs."""

    role = f"arn:aws:iam::{ACCOUNT}:role/chain-uploader"
    region = "us-east-1"
    ksa = "uploader"

    def __init__(self, cp, root: str, id_token_lifetime: int, max_credential_seconds: int,
                 ns_prefix: str = "chain"):
        self.cp = cp
        self.root = root
        self.lifetime = id_token_lifetime
        self.max_cred = max_credential_seconds
        self.ns_prefix = ns_prefix
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        try:
            self._setup()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc):
        self._stack.close()

    def _setup(self):
        from cluster import Operator, eventually
        cp, st = self.cp, self._stack
        self.google = start_google(id_token_lifetime=self.lifetime)
        st.callback(self.google.stop)
        self.sts = StsStandin(jwks_url=self.google.jwks_url).start()
        st.callback(self.sts.stop)
        self.sts.config(max_credential_seconds=self.max_cred)
        self.gsa = self.google.create_sa("chain-uploader")
        self.ns = cp.create_namespace(self.ns_prefix)

        args = ["--leader-elect=false"] + self._register_webhook()
        self.operator = Operator(cp, self.google, args=args, name=f"op-{self.ns}").start()
        st.callback(self.operator.stop)

        cp.apply(binding_manifest("uploader", self.ns, self.ksa, self.gsa["email"], self.role,
                                  region=self.region))
        self.binding = eventually(lambda: binding_ready(cp, "uploader", self.ns), 60,
                                  what="binding Ready\n" + self.operator.logs()[-3000:])
        self.audience = self.binding["spec"].get("audience", DEFAULT_AUDIENCE)
        self.trust = trust_policy_of(self.binding)
        self.sts.add_role(self.role, self.trust)
        sa = cp.get("serviceaccount", self.ksa, self.ns)
        annotated_gsa = sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]

        self.pod = self._create_mutated_pod(app_pod_manifest(self.ns, self.ksa))

        self.listener = self.google.add_listener(f"{self.ns}/{self.ksa}", gsa=annotated_gsa)
        self.run = PodProcesses(self.pod, self.root, self.listener["host"])
        self.agent = self.run.agent().start()
        st.callback(self.agent.stop)
        self.agent.wait_written(1, 20)
        self.env = sdk_env(self.run.app_env("app"), self.sts.url, self.root)

    def _register_webhook(self) -> list[str]:
        """URL-mode registration, as on a cluster whose apiserver reaches the
        operator on loopback: a MutatingWebhookConfiguration for pods in this
        test's namespace pointing at https://127.0.0.1:PORT/mutate; the
        operator makes the certificates and fills in its caBundle."""
        cp = self.cp
        self.operator_ns = "gtoken-system"
        if cp.get("namespace", self.operator_ns) is None:
            cp.kubectl("create", "namespace", self.operator_ns)
        cp.kubectl("label", "namespace", self.ns, f"gtoken-e2e={self.ns}")
        port = free_port()
        config = f"gtoken-webhook-{self.ns}"
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
                "reinvocationPolicy": "IfNeeded",
                "namespaceSelector": {"matchLabels": {"gtoken-e2e": self.ns}}}]})
        self._stack.callback(lambda: cp.kubectl("delete", "mutatingwebhookconfiguration", config,
                                                "--ignore-not-found", check=False))
        return [f"--namespace={self.operator_ns}", f"--webhook-port={port}",
                "--webhook-bind-address=127.0.0.1", f"--webhook-config-name={config}",
                "--webhook-extra-ip=127.0.0.1"]

    def _create_mutated_pod(self, manifest: dict) -> dict:
        """Creates the pod; until the webhook is registered and serving, pods are
        admitted unmutated (failurePolicy Ignore), so those are deleted and
        the pod created again, for up to a minute."""
        deadline = time.monotonic() + 60
        while True:
            pod = create_pod(self.cp, manifest)
            if is_mutated(pod):
                return pod
            self.cp.kubectl("delete", "pod", "-n", self.ns, pod["metadata"]["name"],
                            "--wait=false")
            if time.monotonic() > deadline:
                raise AssertionError(WEBHOOK_NOT_READY + "\n" + self.operator.logs()[-3000:])
            time.sleep(1)

    @property
    def session_name(self) -> str:
        return f"{self.ns}.{self.pod['metadata']['name']}"

    @property
    def assumed_arn(self) -> str:
        return assumed_role_arn(self.role, self.session_name)
