"""charts/gtoken without a cluster: `helm lint`, and the chart renders the
objects of kustomize's config/ field by field (Helm's labels aside), so the
two installs cannot drift apart: with the default values exactly
config/default, with monitoring config/overlays/monitoring, with the values
of config/overlays/example's knobs exactly that overlay."""

from __future__ import annotations

import os
import shutil
import tarfile

import pytest
import yaml

from chartutil import CHART, REPO, drift, helm, key, kustomize, render, values_args

# config/overlays/example's knobs as the chart's values.
EXAMPLE_VALUES = {
    "image": {"repository": "europe-docker.pkg.dev/my-project/gtoken/gtoken-operator",
              "tag": "v0.1.0"},
    "agentImage": {"repository": "europe-docker.pkg.dev/my-project/gtoken/gtoken",
                   "tag": "v0.1.0"},
    "project": "my-project",
    "webhook": {"failurePolicy": "Fail"},
    "networkPolicy": {"controlPlaneCidr": "172.16.0.0/28", "metricsNamespace": "gmp-system"},
}


def config(target: str) -> str:
    return os.path.join(REPO, "config", target)


@pytest.mark.parametrize("values", [None, {"monitoring": {"enabled": True}},
                                    {"examples": {"policy": True}}, EXAMPLE_VALUES],
                         ids=["defaults", "monitoring", "examples", "example-overlay"])
def test_lint(values):
    p = helm("lint", "--strict", CHART, "--namespace", "gtoken-system", *values_args(values))
    assert "1 chart(s) linted, 0 chart(s) failed" in p.stdout, p.stdout


@pytest.mark.parametrize("value,named", [("webhook.failurePolicy=fail", "failurePolicy"),
                                         ("replica=3", "replica"),
                                         ("logLevel=verbose", "logLevel")])
def test_the_schema_refuses_what_the_chart_does_not_know(value, named):
    p = helm("lint", "--strict", CHART, "--namespace", "gtoken-system", "--set", value,
             check=False)
    assert p.returncode != 0 and named in p.stdout + p.stderr, p.stdout + p.stderr


def test_default_values_render_config_default():
    assert drift(render(), kustomize(config("default"))) == []


def test_monitoring_renders_config_overlays_monitoring():
    assert drift(render({"monitoring": {"enabled": True}}),
                 kustomize(config("overlays/monitoring"))) == []


def test_example_values_render_config_overlays_example():
    assert drift(render(EXAMPLE_VALUES), kustomize(config("overlays/example"))) == []


def test_examples_policy_adds_exactly_the_sample_policy():
    sample = yaml.safe_load(open(config("samples/awsrolebindingpolicy.yaml")))
    assert drift(render({"examples": {"policy": True}}),
                 kustomize(config("default")) + [sample]) == []


def test_monitoring_labels_reach_the_selected_objects():
    labels = {"release": "kube-prometheus-stack"}
    objs = {o["kind"]: o for o in render({"monitoring": {"enabled": True, "labels": labels}})}
    for kind in ("ServiceMonitor", "PrometheusRule"):
        assert objs[kind]["metadata"]["labels"]["release"] == "kube-prometheus-stack", kind
    assert "release" not in objs["Service"]["metadata"]["labels"]


def test_values_set_the_fields_they_name():
    objs = {o["kind"]: o for o in render({
        "replicas": 3, "logLevel": "debug", "extraArgs": ["--resync=5m"],
        "serviceAccount": {"gcpServiceAccount": "ops@other.iam.gserviceaccount.com"},
        "resources": {"requests": {"cpu": "100m"}}, "image": {"pullPolicy": "Always"}})}
    deploy = objs["Deployment"]
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    assert deploy["spec"]["replicas"] == 3
    assert c["args"][-2:] == ["--log-level=debug", "--resync=5m"], c["args"]
    # Helm merges a map value into the default one.
    assert c["resources"] == {"requests": {"cpu": "100m", "memory": "64Mi"},
                              "limits": {"cpu": "1", "memory": "256Mi"}}, c["resources"]
    assert c["imagePullPolicy"] == "Always"
    sa = objs["ServiceAccount"]["metadata"]["annotations"]
    assert sa["iam.gke.io/gcp-service-account"] == "ops@other.iam.gserviceaccount.com"
    kinds = {o["kind"] for o in render({"networkPolicy": {"enabled": False},
                                        "namespace": {"create": False}})}
    assert "NetworkPolicy" not in kinds and "Namespace" not in kinds and "Deployment" in kinds


@pytest.mark.parametrize("namespace", ["default", "kube-system"])
def test_a_namespace_of_kubernetes_is_never_taken_over(namespace):
    p = helm("template", "gtoken", CHART, "--namespace", namespace, check=False)
    assert p.returncode != 0 and f'relabel the namespace "{namespace}"' in p.stderr, p.stderr
    objs = render({"namespace": {"create": False}}, namespace=namespace, crds=False)
    assert "Namespace" not in {o["kind"] for o in objs}


def test_another_namespace_is_used_everywhere_config_names_gtoken_system():
    text = helm("template", "gtoken", CHART, "--namespace", "ops-gtoken", "--include-crds",
                "--set", "monitoring.enabled=true").stdout
    assert "gtoken-system" not in text
    objs = [d for d in yaml.safe_load_all(text) if d]
    by_kind = {o["kind"]: o for o in objs}
    assert by_kind["Namespace"]["metadata"]["name"] == "ops-gtoken"
    hook = by_kind["MutatingWebhookConfiguration"]["webhooks"][0]
    assert hook["clientConfig"]["service"]["namespace"] == "ops-gtoken"
    assert "ops-gtoken" in hook["namespaceSelector"]["matchExpressions"][1]["values"]
    assert by_kind["ServiceMonitor"]["spec"]["namespaceSelector"]["matchNames"] == ["ops-gtoken"]
    for o in objs:
        if "namespace" in o["metadata"]:
            assert o["metadata"]["namespace"] == "ops-gtoken", key(o)


@pytest.fixture
def tree(tmp_path):
    """A copy of the chart, config/ and crds/ (the chart's symlinks resolve
    inside the copy), to change one side."""
    for d in ("config", "crds"):
        shutil.copytree(os.path.join(REPO, d), tmp_path / d)
    shutil.copytree(CHART, tmp_path / "charts" / "gtoken", symlinks=True)
    return tmp_path


def test_a_change_to_config_reaches_both(tree):
    """One source: a file of config/ edited changes kustomize's output and the
    chart's alike."""
    role = tree / "config" / "rbac" / "clusterrole.yaml"
    role.write_text(role.read_text().replace("verbs: [list, watch]", "verbs: [get, list, watch]"))
    chart, default = render(chart=str(tree / "charts" / "gtoken")), kustomize(str(tree / "config" / "default"))
    assert drift(chart, default) == []
    assert drift(chart, kustomize(config("default"))) != []


def test_drift_is_caught_on_either_side(tree):
    """The comparison fails when only kustomize's side changes (a knob in
    config/default's kustomization, which the chart does not read) and when
    only the chart's does (a default value)."""
    chart_dir = str(tree / "charts" / "gtoken")
    kust = tree / "config" / "default" / "kustomization.yaml"
    kust.write_text(kust.read_text().replace("newTag: latest", "newTag: v9"))
    found = drift(render(chart=chart_dir), kustomize(str(tree / "config" / "default")))
    assert any("image: chart \"gtoken-operator:latest\" != kustomize \"gtoken-operator:v9\"" in d
               for d in found), found
    values = tree / "charts" / "gtoken" / "values.yaml"
    values.write_text(values.read_text().replace("replicas: 2", "replicas: 3"))
    found = drift(render(chart=chart_dir), kustomize(config("default")))
    assert [d for d in found if "replicas" in d] == [
        "('apps/v1', 'Deployment', 'gtoken-system', 'gtoken-operator') .spec.replicas: "
        "chart 3 != kustomize 2"], found
    assert drift(render(chart=chart_dir, crds=False), kustomize(config("default"))) != []


def test_the_packaged_chart_stands_alone(tmp_path):
    """`helm package` resolves the symlinks: the archive carries config/'s
    files themselves, without what .helmignore leaves out, and renders the
    same objects as the chart's folder."""
    helm("package", CHART, "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("gtoken-*.tgz")
    with tarfile.open(archive) as t:
        members = {m.name: m for m in t.getmembers()}
    assert all(m.isfile() or m.isdir() for m in members.values()), "links in the archive"
    names = set(members)
    assert {"gtoken/crds/gtoken.io_awsrolebindings.yaml",
            "gtoken/files/config/manager/deployment.yaml",
            "gtoken/files/config/prometheus/prometheusrule.yaml"} <= names, sorted(names)
    assert not [n for n in names if n.endswith("kustomization.yaml") or "/overlays/" in n
                or n.endswith("dashboard.json")], sorted(names)
    assert render(chart=str(archive)) == render()
