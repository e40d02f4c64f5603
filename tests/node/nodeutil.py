"""A real node for pytest (issue #10): tests/node/node.sh started and
stopped, the test process moved into the node's network namespace, the
gtoken images imported into its containerd, and the stand-ins listening
where a pod finds Google and AWS.

    with Node("node-pods") as node:          # node.sh start, netns entered
        node.kubectl("get", "nodes")          # ControlPlane's helpers work
        node.import_images(["gtoken-operator.tar", ...])

Everything a test sends goes to loopback or to addresses of that namespace
(it has no route out). The stand-ins run in this process, in threads started
after the move, so their sockets live in the namespace too.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
for p in (TESTS, os.path.join(TESTS, "e2e")):
    if p not in sys.path:
        sys.path.insert(0, p)

from cluster import BUILD, REPO, ControlPlane  # noqa: E402

NODE_SH = os.path.join(HERE, "node.sh")
NODE_IP = "10.200.0.1"        # node.sh's node0 address: stand-ins listen here for pods
METADATA_IP = "169.254.169.254"  # node.sh puts it on node0, as GKE intercepts it
CLONE_NEWNET = 0x40000000
STS_PORT = 8090               # the STS stand-in, at NODE_IP
OPERATOR_NS = "gtoken-system"
OPERATOR_IMAGE = "gtoken.local/gtoken-operator:dev"  # images/build.sh's names
AGENT_IMAGE = "gtoken.local/gtoken:dev"


def _setns(fd: int):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


class Node(ControlPlane):
    """node.sh's cluster: a ControlPlane (kubectl, get, apply, ...) that also
    runs pods. Enter it from the main thread before any server thread."""

    def __init__(self, name: str, dir: str | None = None, owned: bool = True,
                 apiserver_args: str = ""):
        """owned: the node stops when this process exits (node.sh's watchdog);
        False leaves it running (the sandbox's --keep). apiserver_args: more
        kube-apiserver flags (GTOKEN_NODE_APISERVER_ARGS)."""
        super().__init__(name)
        self.apiserver_args = apiserver_args
        self.dir = dir or os.path.join(BUILD, name)
        self.owned = owned
        self.cp_dir = os.path.join(self.dir, "cp")
        self.netns = ""
        self._home_ns: int | None = None

    @property
    def kubeconfig(self) -> str:
        return os.path.join(self.cp_dir, "kubeconfig")

    def node_sh(self, *args: str, check: bool = True, timeout: float = 600,
                **kw) -> subprocess.CompletedProcess:
        return subprocess.run([NODE_SH, *args], check=check, timeout=timeout, text=True, **kw)

    def start(self):
        env = dict(os.environ, GTOKEN_NODE_OWNER=str(os.getpid()) if self.owned else "")
        if self.apiserver_args:
            env["GTOKEN_NODE_APISERVER_ARGS"] = self.apiserver_args
        t0 = time.monotonic()
        p = self.node_sh("start", self.dir, env=env, check=False, capture_output=True,
                         timeout=1200)
        if p.returncode != 0:
            raise RuntimeError(f"node.sh start failed ({p.returncode}):\n{p.stderr[-4000:]}")
        info = dict(line.split("=", 1) for line in
                    self.node_sh("env", self.dir, capture_output=True).stdout.splitlines())
        self.netns = info["NETNS"]
        self.bin = os.path.dirname(info["KUBECTL"])
        self.started_in = time.monotonic() - t0
        self.enter()
        self.kubectl("wait", "--for=condition=Ready", "node/gtoken-node", "--timeout=120s")
        return self

    def enter(self):
        """Moves this thread (the main one) into the node's network namespace."""
        self._home_ns = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{self.netns}", os.O_RDONLY)
        try:
            _setns(fd)
        finally:
            os.close(fd)

    def leave(self):
        if self._home_ns is not None:
            _setns(self._home_ns)
            os.close(self._home_ns)
            self._home_ns = None

    def stop(self):
        self.leave()
        self.node_sh("stop", self.dir, check=False, capture_output=True, timeout=300)

    def exec(self, *cmd: str, timeout: float = 300) -> str:
        """cmd inside the node (its mount namespace too: /run/containerd)."""
        p = self.node_sh("exec", self.dir, *cmd, capture_output=True, check=False,
                         timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr[-2000:]}")
        return p.stdout

    def import_images(self, archives: list[str]):
        for a in archives:
            self.exec("ctr", "--address", "/run/containerd/containerd.sock", "-n", "k8s.io",
                      "images", "import", "--platform", "linux/amd64", a)

    def logs_hint(self) -> str:
        return f"(node logs: {self.dir}/*.log, pod logs {self.dir}/pod-logs)"


def build_gtoken_images(out: str) -> dict[str, str]:
    """images/build.sh over this build tree: {image name: archive path}."""
    p = subprocess.run([os.path.join(REPO, "images", "build.sh"), BUILD, out], check=True,
                       capture_output=True, text=True, timeout=600)
    names = {}
    for line in p.stdout.split():
        if line.endswith(".tar"):
            names[os.path.basename(line)[:-4]] = line
    return names


# -- gtoken installed on the node, as a cluster administrator would ----------------


def write_overlay(node: Node, project: str, operator_gsa: str, args: list[str] = (),
                  failure_policy: str = "Fail") -> str:
    """A kustomize overlay of config/default for this node: the local images
    (never pulled), the project, the operator's GSA, the stand-in's IAM URL,
    failurePolicy, and `args` appended to the operator's. Returns its folder."""
    d = os.path.join(node.dir, "overlay")
    os.makedirs(d, exist_ok=True)
    base = os.path.relpath(os.path.join(REPO, "config", "default"), d)
    c = "/spec/template/spec/containers/0"
    ops = [{"op": "replace", "path": f"{c}/args/2", "value": f"--project={project}"},
           {"op": "replace", "path": f"{c}/args/4", "value": f"--agent-image={AGENT_IMAGE}"},
           {"op": "replace", "path": f"{c}/imagePullPolicy", "value": "Never"}]
    ops += [{"op": "add", "path": f"{c}/args/-", "value": a}
            for a in ["--agent-image-pull-policy=Never", f"--iam-endpoint=http://{NODE_IP}:80",
                      *args]]
    name, tag = OPERATOR_IMAGE.rsplit(":", 1)
    kust = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [base],
        "images": [{"name": "gtoken-operator", "newName": name, "newTag": tag}],
        "patches": [
            {"target": {"kind": "Deployment", "name": "gtoken-operator"}, "patch": json.dumps(ops)},
            {"target": {"kind": "ServiceAccount", "name": "gtoken-operator"},
             "patch": json.dumps([{"op": "replace",
                                   "path": "/metadata/annotations/iam.gke.io~1gcp-service-account",
                                   "value": operator_gsa}])},
            {"target": {"kind": "MutatingWebhookConfiguration", "name": "gtoken-webhook"},
             "patch": json.dumps([{"op": "replace", "path": "/webhooks/0/failurePolicy",
                                   "value": failure_policy}])},
        ]}
    with open(os.path.join(d, "kustomization.yaml"), "w") as f:
        json.dump(kust, f, indent=1)
    return d


def install_gtoken(node: Node, overlay: str):
    node.kubectl("create", "namespace", OPERATOR_NS)
    node.kubectl("apply", "-k", overlay)


def operator_pods(node: Node) -> list[dict]:
    return json.loads(node.kubectl(
        "get", "pods", "-n", OPERATOR_NS, "-l", "app.kubernetes.io/component=operator",
        "-o", "json"))["items"]


def operator_logs(node: Node) -> str:
    out = []
    for p in operator_pods(node):
        n = p["metadata"]["name"]
        out.append(f"--- {n} ---\n" + node.kubectl("logs", "-n", OPERATOR_NS, n, "--tail=30",
                                                    check=False))
    return "\n".join(out)[-6000:]


def wait_rollout(node: Node, timeout: int = 240):
    try:
        node.kubectl("rollout", "status", "-n", OPERATOR_NS, "deployment/gtoken-operator",
                     f"--timeout={timeout}s", timeout=timeout + 10)
    except Exception as e:  # noqa: BLE001 - reported with the pods' logs
        raise AssertionError(f"operator rollout: {e}\n{operator_logs(node)}") from None
