"""Processes for end-to-end tests: a real control plane (tests/controlplane/cp.sh),
gtoken-operator, and kubectl, on loopback.

    with ControlPlane("e2e") as cp:
        cp.kubectl("apply", "-f", "crds/")
        with Operator(cp, google, args=[...]) as op:
            ...
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from typing import Any, Callable

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("GTOKEN_BUILD_DIR", os.path.join(REPO, "build"))
# Where control planes get their folders (cp-NAME): the build tree, unless a
# runner keeps its own apart (scripts/compat.sh, beside the e2e suites).
CP_ROOT = os.environ.get("GTOKEN_CP_ROOT", BUILD)
CP_SCRIPT = os.path.join(REPO, "tests", "controlplane", "cp.sh")


def eventually(pred: Callable[[], Any], timeout: float = 60, interval: float = 0.2,
               what: str = "condition") -> Any:
    """Polls pred until it returns a truthy value; raises with `what` on timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f" (last error: {last_exc})" if last_exc else ""))


class KubectlError(RuntimeError):
    def __init__(self, args, code, out, err):
        super().__init__(f"kubectl {' '.join(args)} exited {code}: {err.strip() or out.strip()}")
        self.code = code
        self.stdout = out
        self.stderr = err


class ControlPlane:
    """etcd + kube-apiserver of the pinned release (or of GTOKEN_K8S_VERSION,
    which cp.sh passes to tests/controlplane/build-version.sh), private to one
    test session."""

    def __init__(self, name: str, apiservers: int = 1, watch_cache: bool = True,
                 audit: bool = False):
        """audit=True: every request is written to the apiserver's audit log
        (level Metadata, blocking mode; see audit_events())."""
        self.dir = os.path.join(CP_ROOT, f"cp-{name}")
        self.audit = audit
        self.env = dict(os.environ, GTOKEN_CP_APISERVERS=str(apiservers),
                        GTOKEN_CP_WATCH_CACHE="true" if watch_cache else "false",
                        GTOKEN_CP_AUDIT="true" if audit else "false")

    def start(self):
        subprocess.run([CP_SCRIPT, "stop", self.dir], capture_output=True)
        subprocess.run([CP_SCRIPT, "start", self.dir], check=True, env=self.env,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(self.dir, "bin")) as f:
            self.bin = f.read().strip()
        return self

    def stop(self):
        subprocess.run([CP_SCRIPT, "stop", self.dir], capture_output=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def server_version(self) -> tuple[int, int]:
        """(major, minor) of the apiserver's /version: the pinned release, or
        the one GTOKEN_K8S_VERSION picked (scripts/compat.sh)."""
        if not hasattr(self, "_version"):
            v = json.loads(self.kubectl("get", "--raw", "/version"))
            self._version = (int(v["major"]), int("".join(c for c in v["minor"] if c.isdigit())))
        return self._version

    def native_sidecars_auto(self) -> bool:
        """What the webhook's --native-sidecars=auto picks on this apiserver:
        native from 1.33 (SidecarContainers GA), else the classic pair."""
        return self.server_version() >= (1, 33)

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.dir, "kubeconfig")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> str:
        cmd = [os.path.join(self.bin, "kubectl"), "--kubeconfig", self.kubeconfig, *args]
        p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise KubectlError(args, p.returncode, p.stdout, p.stderr)
        return p.stdout

    def audit_log_path(self, n: int = 0) -> str:
        return os.path.join(self.dir, f"audit-{n}.log")

    def audit_events(self, offset: int = 0, n: int = 0) -> tuple[list[dict], int]:
        """Audit events (one JSON object per line) from byte `offset` of
        apiserver n's audit log, and the offset after the last whole line."""
        if not self.audit:
            raise RuntimeError("this ControlPlane was started without audit=True")
        with open(self.audit_log_path(n), "rb") as f:
            f.seek(offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        events = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
        return events, offset + end

    def client_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> str:
        """A kubeconfig with a client certificate for `user` (CN) in `groups`
        (O), signed by the control plane's CA: a distinct identity, e.g. so
        an audit log tells one process's requests apart."""
        pki = os.path.join(self.dir, "pki")
        out = os.path.join(self.dir, f"user-{user}")
        os.makedirs(out, exist_ok=True)
        key, csr, crt = (os.path.join(out, f) for f in ("client.key", "client.csr", "client.crt"))
        ext = os.path.join(out, "client.ext")
        subj = "".join(f"/O={g}" for g in groups) + f"/CN={user}"
        run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
        run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
        os.chmod(key, 0o600)
        run("openssl", "req", "-new", "-key", key, "-subj", subj, "-out", csr)
        with open(ext, "w") as f:
            f.write("extendedKeyUsage=clientAuth\n")
        run("openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(pki, "ca.crt"),
            "-CAkey", os.path.join(pki, "ca.key"), "-CAcreateserial", "-days", "2",
            "-extfile", ext, "-out", crt)
        with open(self.kubeconfig) as f:
            text = f.read()
        admin = os.path.join(pki, "admin")
        text = text.replace(admin + ".crt", crt).replace(admin + ".key", key)
        path = os.path.join(out, "kubeconfig")
        with open(path, "w") as f:
            f.write(text.replace("gtoken-admin", user))
        os.chmod(path, 0o600)
        return path

    def get(self, kind: str, name: str, ns: str | None = None) -> dict | None:
        args = ["get", kind, name, "-o", "json"] + (["-n", ns] if ns else [])
        try:
            return json.loads(self.kubectl(*args))
        except KubectlError as e:
            if "NotFound" in e.stderr or "not found" in e.stderr:
                return None
            raise

    def apply(self, obj: dict | str, ns: str | None = None) -> str:
        text = obj if isinstance(obj, str) else json.dumps(obj)
        return self.kubectl("apply", "-f", "-", *(["-n", ns] if ns else []), input=text)

    def create_namespace(self, prefix: str) -> str:
        name = f"{prefix}-{os.getpid() % 1000}-{int(time.time() * 1000) % 100000}"
        self.kubectl("create", "namespace", name)
        return name

    def install_crds(self):
        crds = os.path.join(REPO, "crds")
        # crds/ doubles as a kustomization (the install uses it): apply it as one then.
        kustomized = os.path.exists(os.path.join(crds, "kustomization.yaml"))
        self.kubectl("apply", "-k" if kustomized else "-f", crds)
        # `kubectl wait` fails at once ("conditions accessor error") when it
        # reads the CRD before the apiserver gave it any condition: retry that.
        deadline = time.monotonic() + 60
        while True:
            try:
                self.kubectl("wait", "--for=condition=Established",
                             "crd/awsrolebindings.gtoken.io",
                             "crd/awsrolebindingpolicies.gtoken.io", "--timeout=60s")
                return
            except KubectlError as e:
                if "accessor error" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (the one helper every suite uses)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Operator:
    """gtoken-operator as a child process; logs go to a file in the build tree."""

    def __init__(self, cp: ControlPlane, google=None, args: list[str] | None = None,
                 name: str = "operator", env: dict | None = None,
                 kubeconfig: str | None = None):
        self.cp = cp
        self.kubeconfig = kubeconfig or cp.kubeconfig
        self.google = google
        self.args = list(args or [])
        self.name = name
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(cp.dir, f"{name}-{os.getpid()}-{int(time.time()*1000)}.log")

    def command(self) -> list[str]:
        cmd = [os.path.join(BUILD, "cmd", "gtoken-operator", "gtoken-operator"),
               "--kubeconfig", self.kubeconfig, "--identity", self.name]
        if self.google is not None:
            cmd += ["--project", self.google.project, "--iam-endpoint", self.google.url]
        if not any(a.startswith("--metrics-port") for a in self.args):
            # Suites run in parallel: no fixed metrics port (8080 by default), and
            # only on loopback.
            cmd += [f"--metrics-port={free_port()}", "--metrics-bind-address=127.0.0.1"]
        if not any(a.startswith("--aws-credentials") for a in self.args):
            # Never whatever AWS credentials the host has: a suite that
            # verifies trust policies names its own.
            cmd += ["--aws-credentials=none"]
        if not any(a.startswith("--shutdown-delay") for a in self.args):
            # Loopback URL mode: no Service to drop out of before stopping.
            cmd += ["--shutdown-delay=0s"]
        return cmd + self.args

    def start(self):
        env = dict(os.environ, **self.extra_env)
        if self.google is not None:
            env["GCE_METADATA_HOST"] = self.google.metadata_host
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        self.log.close()
        return code

    def kill(self):
        return self.stop(signal.SIGKILL)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logs(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
