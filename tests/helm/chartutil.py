"""The chart's tests' helpers: the pinned helm (tests/helm/build.sh, or the
binary GTOKEN_HELM names), rendering the chart and kustomize's config/, and
the comparison of the two, object by object and field by field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))  # cluster.py
sys.path.insert(0, os.path.dirname(HERE))  # the `standins` package

from cluster import REPO  # noqa: E402

CHART = os.path.join(REPO, "charts", "gtoken")
NAMESPACE = "gtoken-system"
RELEASE = "gtoken"
# What the chart adds to every object's metadata.labels (templates/_helpers.tpl)
# and nothing else: the comparison takes exactly these off.
HELM_LABELS = ("app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "helm.sh/chart")


def _built(script: str) -> str:
    p = subprocess.run([script], capture_output=True, text=True)
    assert p.returncode == 0, f"{script} failed:\n{p.stderr[-3000:]}"
    return p.stdout.strip().splitlines()[-1]


_helm: str | None = None
_kubectl: str | None = None


def helm_binary() -> str:
    global _helm
    if _helm is None:
        _helm = os.environ.get("GTOKEN_HELM") or os.path.join(
            _built(os.path.join(HERE, "build.sh")), "helm")
    return _helm


def kubectl_binary() -> str:
    global _kubectl
    if _kubectl is None:
        _kubectl = os.path.join(_built(os.path.join(REPO, "tests", "controlplane", "build.sh")),
                                "kubectl")
    return _kubectl


# Helm's own state (repositories, plugins, cache) stays out of $HOME.
_HELM_HOME = tempfile.mkdtemp(prefix="gtoken-helm-")


def helm(*args: str, kubeconfig: str | None = None, check: bool = True,
         timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, HELM_CACHE_HOME=os.path.join(_HELM_HOME, "cache"),
               HELM_CONFIG_HOME=os.path.join(_HELM_HOME, "config"),
               HELM_DATA_HOME=os.path.join(_HELM_HOME, "data"))
    if kubeconfig:
        env["KUBECONFIG"] = kubeconfig
    p = subprocess.run([helm_binary(), *args], capture_output=True, text=True, env=env,
                       timeout=timeout)
    if check:
        assert p.returncode == 0, f"helm {' '.join(args)} exited {p.returncode}:\n{p.stderr}{p.stdout}"
    return p


def values_args(values: dict | None) -> list[str]:
    """--set-json per top-level value (exact types, no string guessing)."""
    return [a for k, v in (values or {}).items() for a in ("--set-json", f"{k}={json.dumps(v)}")]


def render(values: dict | None = None, chart: str = CHART, namespace: str = NAMESPACE,
           crds: bool = True) -> list[dict]:
    args = ["template", RELEASE, chart, "--namespace", namespace, *values_args(values)]
    out = helm(*args, *(["--include-crds"] if crds else [])).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def kustomize(target: str) -> list[dict]:
    p = subprocess.run([kubectl_binary(), "kustomize", target], capture_output=True, text=True)
    assert p.returncode == 0, f"kubectl kustomize {target}: {p.stderr}"
    return [d for d in yaml.safe_load_all(p.stdout) if d]


def key(obj: dict) -> tuple[str, str, str, str]:
    m = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], m.get("namespace", ""), m["name"])


def without_helm_labels(obj: dict, release: str = RELEASE) -> dict:
    """A copy of a rendered object without the chart's labels, which must all
    be there with their values (CRDs come from crds/, untemplated: none)."""
    obj = json.loads(json.dumps(obj))
    if obj["kind"] == "CustomResourceDefinition":
        return obj
    labels = obj["metadata"].get("labels", {})
    missing = [k for k in HELM_LABELS if k not in labels]
    assert not missing, f"{key(obj)}: the chart's labels {missing} are missing"
    assert labels["app.kubernetes.io/managed-by"] == "Helm", key(obj)
    assert labels["app.kubernetes.io/instance"] == release, key(obj)
    for k in HELM_LABELS:
        del labels[k]
    if not labels:
        del obj["metadata"]["labels"]
    return obj


def field_differences(a, b, path: str = "") -> list[str]:
    """Every path at which a and b differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            p = f"{path}.{k}"
            if k not in a:
                out.append(f"{p}: only in kustomize: {json.dumps(b[k])[:200]}")
            elif k not in b:
                out.append(f"{p}: only in the chart: {json.dumps(a[k])[:200]}")
            else:
                out += field_differences(a[k], b[k], p)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in field_differences(x, y, f"{path}[{i}]")]
    if a != b or type(a) is not type(b):
        return [f"{path}: chart {json.dumps(a)[:200]} != kustomize {json.dumps(b)[:200]}"]
    return []


def drift(chart_objects: list[dict], kustomize_objects: list[dict]) -> list[str]:
    """What tells the chart's objects from kustomize's, Helm's labels aside:
    objects only on one side, and every differing field of the others."""
    ours = {key(o): without_helm_labels(o) for o in chart_objects}
    theirs = {key(o): o for o in kustomize_objects}
    assert len(ours) == len(chart_objects), "the chart renders one object twice"
    assert len(theirs) == len(kustomize_objects), "kustomize renders one object twice"
    out = [f"{k}: only in the chart" for k in sorted(set(ours) - set(theirs))]
    out += [f"{k}: only in kustomize" for k in sorted(set(theirs) - set(ours))]
    for k in sorted(set(ours) & set(theirs)):
        out += [f"{k} {d}" for d in field_differences(ours[k], theirs[k])]
    return out
