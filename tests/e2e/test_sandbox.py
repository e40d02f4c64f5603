"""The README's first command without a node (--host-processes: what it
falls back to on a host that cannot run containers): scripts/sandbox.sh runs
the whole story and exits 0; with --keep everything stays reachable until
--stop. tests/node/test_sandbox.py runs the default, on a real node."""

from __future__ import annotations

import os
import re
import subprocess

from cluster import BUILD, REPO

SANDBOX = os.path.join(REPO, "scripts", "sandbox.sh")


def run(*args, timeout=900):
    env = dict(os.environ, GTOKEN_BUILD_DIR=BUILD)
    return subprocess.run([SANDBOX, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_sandbox_runs_the_whole_story_and_cleans_up():
    p = run("--host-processes")
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    out = p.stdout
    assert "10 passed, 0 failed" in out
    # deny by default: the sample policy lets jobs in, and namespace evil is refused
    assert "AwsRoleBindingPolicy jobs" in out
    assert re.search(r"evil/thief.*NotAllowed|refused at admission.*NotAllowed", out), out[-3000:]
    assert '"accounts.google.com:oaud": "gtoken/sts/assume-role-with-web-identity"' in out
    assert re.search(r"assumed-role/my-data-uploader/jobs\.uploader-\w+", out)
    assert not os.path.exists(os.path.join(BUILD, "cp-sandbox", "etcd.pid"))


def test_sandbox_keep_then_stop():
    p = run("--keep", "--host-processes")
    try:
        assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
        kubeconfig = re.search(r"export KUBECONFIG=(\S+)", p.stdout).group(1)
        kubectl_dir = re.search(r"export PATH=([^:]+):", p.stdout).group(1)
        got = subprocess.run([os.path.join(kubectl_dir, "kubectl"), "--kubeconfig", kubeconfig,
                              "get", "arb", "-n", "jobs", "uploader", "-o", "name"],
                             capture_output=True, text=True, timeout=30)
        assert got.stdout.strip() == "awsrolebinding.gtoken.io/uploader", got.stderr
    finally:
        stop = run("--stop", timeout=120)
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert not os.path.exists(os.path.join(BUILD, "cp-sandbox", "etcd.pid"))
