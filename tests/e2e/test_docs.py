"""Every shell command shown in the docs runs here, so the docs cannot rot.

Each ```sh block of README.md and docs/*.md is run with bash, in order, per
document, against a fresh control plane with the CRD installed, the Google
stand-in holding the sample's GSA, and gtoken-operator running. Blocks marked
```sh-cloud need real Google Cloud or AWS and are not run. The README's two
top commands are covered elsewhere: scripts/test.sh is this suite itself and
scripts/sandbox.sh has test_sandbox.py.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess

import pytest

from cluster import BUILD, REPO, ControlPlane, Operator
from standins.harness import GoogleStandin

NOT_HERE = ("scripts/test.sh", "scripts/sandbox.sh")

# What a document assumes already exists before its first command.
PREAMBLE = {
    "troubleshooting.md": "kubectl apply -f config/samples/awsrolebindingpolicy.yaml && "
                          "kubectl create namespace jobs && "
                          "kubectl apply -f config/samples/awsrolebinding.yaml && "
                          "kubectl wait --for=condition=Ready arb/uploader -n jobs --timeout=60s",
}


def sh_blocks(path: str) -> list[str]:
    text = open(path).read()
    return [m.group(1) for m in re.finditer(r"^```sh\n(.*?)^```", text, re.S | re.M)]


def runnable(block: str) -> str:
    lines = [ln for ln in block.splitlines()
             if not any(ln.strip().startswith(c) for c in NOT_HERE)]
    return "\n".join(lines)


DOCS = sorted(p for p in [os.path.join(REPO, "README.md")] +
              glob.glob(os.path.join(REPO, "docs", "*.md"))
              if any(runnable(b).strip() for b in sh_blocks(p)))


def test_every_doc_with_commands_is_covered():
    assert DOCS, "no document with shell commands found"
    for required in ("user-guide.md", "troubleshooting.md", "development.md"):
        assert any(d.endswith(required) for d in DOCS), required


def _stop_nodes_left_by_docs():
    """A doc that starts a real node (tests/node/node.sh start .run/...) and
    fails before its stop must not leave the node running."""
    for env_file in glob.glob(os.path.join(REPO, ".run", "*", "env")):
        d = os.path.dirname(env_file)
        if os.path.exists(os.path.join(d, "holder.pid")):
            subprocess.run([os.path.join(REPO, "tests", "node", "node.sh"), "stop", d],
                           capture_output=True, timeout=120)


@pytest.mark.parametrize("doc", DOCS, ids=[os.path.basename(d) for d in DOCS])
def test_doc_commands_run(doc):
    name = os.path.basename(doc)
    with ControlPlane("docs-" + name.replace(".md", "")) as cp, \
            GoogleStandin(project="my-project") as google:
        cp.install_crds()
        google.create_sa("gtoken-operator")
        google.config(instance_sa="gtoken-operator@my-project.iam.gserviceaccount.com")
        google.create_sa("uploader")
        with Operator(cp, google, args=["--leader-elect=false", "--webhook=false"]) as op:
            # kubectl finds the kubectl gtoken plugin on PATH.
            env = dict(os.environ, KUBECONFIG=cp.kubeconfig,
                       PATH=os.pathsep.join([os.path.join(BUILD, "plugin"), cp.bin,
                                             os.environ["PATH"]]))
            script = "set -euo pipefail\n"
            if name in PREAMBLE:
                script += PREAMBLE[name] + "\n"
            for block in sh_blocks(doc):
                script += runnable(block) + "\n"
            try:
                p = subprocess.run(["bash", "-c", script], cwd=REPO, env=env,
                                   capture_output=True, text=True, timeout=600)
            finally:
                _stop_nodes_left_by_docs()
            assert p.returncode == 0, (
                f"commands of {name} failed (exit {p.returncode}):\n--- script\n{script}\n"
                f"--- stdout\n{p.stdout[-3000:]}\n--- stderr\n{p.stderr[-3000:]}\n"
                f"--- operator log\n{op.logs()[-2000:]}")
