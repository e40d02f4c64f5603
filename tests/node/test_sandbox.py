"""The README's first command on a host that can run the node (this one):
scripts/sandbox.sh --keep runs the story on a real node, its summary shows a
real pod's SDK call and a completed Job, kubectl reaches the kept node, and
--stop removes everything (no netns, no mount left)."""

from __future__ import annotations

import os
import re
import subprocess

from nodeutil import NODE_SH, REPO

from cluster import BUILD

SANDBOX = os.path.join(REPO, "scripts", "sandbox.sh")
NODE_DIR = os.path.join(REPO, ".run", "sandbox", "node")


def run(*args, timeout=900):
    env = dict(os.environ, GTOKEN_BUILD_DIR=BUILD)
    return subprocess.run([SANDBOX, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def netns_of_node() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [ln.split()[0] for ln in out.splitlines() if ln.startswith("gtoken-node-")]


def sandbox_netns() -> str:
    """node.sh's name for the sandbox node's netns (gtoken-node-<id of its dir>):
    other suites may run nodes of their own meanwhile."""
    out = subprocess.run([NODE_SH, "env", NODE_DIR], capture_output=True, text=True).stdout
    return dict(ln.split("=", 1) for ln in out.splitlines() if "=" in ln)["NETNS"]


def test_sandbox_on_a_real_node_keep_then_stop():
    p = run("--keep")
    netns = ""
    try:
        out = p.stdout
        assert p.returncode == 0, out[-4000:] + p.stderr[-2000:]
        netns = sandbox_netns()
        assert netns in netns_of_node()
        assert "9 passed, 0 failed" in out
        # gtoken wrote the role's trust policy itself (the Job below needs it),
        # and only verified the binding of a policy without trustPolicy: Apply.
        assert "TrustPolicyVerified=True Verified" in out, out[-3000:]
        assert re.search(r"reports/reporter: TrustPolicyVerified=False TrustPolicyMismatch", out), \
            out[-3000:]
        assert "2 replicas Ready" in out
        assert re.search(r"NotAllowed.*namespace \"evil\"|evil/thief.*NotAllowed", out), out[-3000:]
        # A real pod's SDK call, and the Job that ran it completed.
        assert re.search(r"Job uploader-call completed; aws-sdk-go-v2 sts:GetCallerIdentity -> "
                         r"arn:aws:sts::123456789012:assumed-role/my-data-uploader/"
                         r"jobs\.uploader-call-\w+", out), out[-3000:]
        assert "phase Succeeded" in out
        # kubectl gtoken doctor on a running pod: every link, the in-pod claims
        # included (kubectl exec of the agent's probe), and no token printed.
        assert "kubectl gtoken doctor pod uploader-doctor --sts: every link holds" in out, out[-3000:]
        assert re.search(r"claims.*iss", out, re.I), out[-3000:]
        # --sts: STS (the stand-in) answered the agent inside the pod.
        assert re.search(r"AssumeRoleWithWebIdentity from inside the pod.*"
                         r"assumed-role/my-data-uploader/", out), out[-3000:]
        assert "eyJ" not in out
        # --keep: the commands it prints reach the kept node.
        assert f"exec {os.path.relpath(NODE_DIR, REPO)} kubectl get pods -A" in out
        got = subprocess.run([NODE_SH, "exec", NODE_DIR, "kubectl", "get", "arb", "-n", "jobs",
                              "uploader", "-o", "name"], capture_output=True, text=True, timeout=60)
        assert got.stdout.strip() == "awsrolebinding.gtoken.io/uploader", got.stderr
    finally:
        stop = run("--stop", timeout=300)
    assert stop.returncode == 0 and "stopped" in stop.stdout, stop.stdout + stop.stderr
    assert netns and netns not in netns_of_node()
    with open("/proc/self/mounts") as f:
        assert NODE_DIR + "/" not in f.read()
