"""Monitoring that ships (config/prometheus) against a real operator's /metrics.

One control plane, the Google stand-in and gtoken-operator (controller,
leader election, the mutating and validating webhooks registered in URL mode
on loopback). A Ready binding, a binding whose GSA does not exist (reconcile
errors), pods that are patched and skipped (NoRoleAnnotation, InvalidRoleArn),
unreadable bodies posted to /mutate and /validate (admission and review
errors) make the counters move; then /metrics is scraped from
127.0.0.1:<metrics port> and:

- every family has # HELP text, and docs/reference.md lists exactly the
  families served (with their labels), docs/webhook.md every webhook family;
- every metric, label and label value the PrometheusRule and the Grafana
  dashboard query exists in the scrape (regex alternatives of `reason` are
  real skip reasons from webhook/skip_reason.cpp);
- every input series of the promtool rule tests (tests/monitoring/*.test.yaml)
  is a scraped series, label for label (plus the target labels Prometheus
  adds), so the unit tests run over what the operator really exports;
- promtool check rules / test rules pass (scripts/promtool.sh fetches
  promtool), and the dashboard's queries parse (as recording rules);
- kubectl kustomize renders config/default and config/overlays/monitoring,
  whose PrometheusRule is the file checked here; the metrics Service passes
  a server-side dry run. (The ServiceMonitor and PrometheusRule are not
  dry-run on the server: their CRDs belong to the Prometheus Operator.)
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import urllib.request

import pytest
import yaml

from arbutil import binding, is_ready
from chain import app_pod_manifest, create_pod, is_mutated, start_google
from cluster import REPO, Operator, eventually, free_port

PROM_DIR = os.path.join(REPO, "config", "prometheus")
RULE_FILE = os.path.join(PROM_DIR, "prometheusrule.yaml")
DASHBOARD = os.path.join(PROM_DIR, "dashboard.json")
RULE_TESTS_DIR = os.path.join(REPO, "tests", "monitoring")
OPERATIONS = os.path.join(REPO, "docs", "operations.md")
ROLE = "arn:aws:iam::123456789012:role/monitoring"

# Labels Prometheus adds to every series of a ServiceMonitor target; rules may
# group by them although /metrics does not carry them.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "endpoint", "container"}
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
SELECTOR_RE = re.compile(r'\b(gtoken_[a-z0-9_]+)\s*(\{([^}]*)\})?')
MATCHER_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
GROUPING_RE = re.compile(r'\b(?:by|without|on|ignoring)\s*\(([^)]*)\)')


# -- the live operator --------------------------------------------------------------

def _register_webhooks(cp, ns: str, port: int) -> str:
    """A Mutating- and a ValidatingWebhookConfiguration of one name (the
    operator fills in both caBundles), URL mode on 127.0.0.1, for this
    test's namespace only."""
    config = f"gtoken-webhook-{ns}"
    common = {"sideEffects": "None", "admissionReviewVersions": ["v1"],
              "failurePolicy": "Ignore", "timeoutSeconds": 5,
              "namespaceSelector": {"matchLabels": {"gtoken-e2e": ns}}}
    cp.apply({"apiVersion": "admissionregistration.k8s.io/v1",
              "kind": "MutatingWebhookConfiguration", "metadata": {"name": config},
              "webhooks": [dict(common, name="pods.gtoken.io",
                                clientConfig={"url": f"https://127.0.0.1:{port}/mutate"},
                                reinvocationPolicy="IfNeeded",
                                rules=[{"operations": ["CREATE"], "apiGroups": [""],
                                        "apiVersions": ["v1"], "resources": ["pods"]}])]})
    cp.apply({"apiVersion": "admissionregistration.k8s.io/v1",
              "kind": "ValidatingWebhookConfiguration", "metadata": {"name": config},
              "webhooks": [dict(common, name="awsrolebindings.gtoken.io",
                                clientConfig={"url": f"https://127.0.0.1:{port}/validate"},
                                rules=[{"operations": ["CREATE", "UPDATE"],
                                        "apiGroups": ["gtoken.io"],
                                        "apiVersions": ["v1alpha1"],
                                        "resources": ["awsrolebindings"]}])]})
    return config


def _post(port: int, path: str, body: bytes, content_type: str) -> int:
    """POSTs to the webhook port on loopback (its CA is the operator's own:
    not verified here, this only drives the error counters)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        c.request("POST", path, body=body, headers={"Content-Type": content_type})
        return c.getresponse().status
    finally:
        c.close()


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        return r.read().decode()


class Scrape:
    """A parsed Prometheus text exposition."""

    def __init__(self, text: str):
        self.text = text
        self.help: dict[str, str] = {}
        self.type: dict[str, str] = {}
        self.series: list[tuple[str, dict[str, str]]] = []
        for line in text.splitlines():
            if line.startswith("# HELP "):
                name, _, help_text = line[7:].partition(" ")
                self.help[name] = help_text
            elif line.startswith("# TYPE "):
                name, _, t = line[7:].partition(" ")
                self.type[name] = t
            elif line and not line.startswith("#"):
                m = SAMPLE_RE.match(line)
                assert m, f"unparsable sample line: {line!r}"
                self.series.append((m.group(1), dict(LABEL_RE.findall(m.group(3) or ""))))

    @property
    def families(self) -> set[str]:
        return set(self.type)

    def family_of(self, name: str) -> str | None:
        if name in self.type:
            return name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[: -len(suffix)]
            if name.endswith(suffix) and self.type.get(base) == "histogram":
                return base
        return None

    def label_sets(self, name: str) -> list[dict[str, str]]:
        return [labels for n, labels in self.series if n == name]

    def family_labels(self, family: str) -> set[str]:
        """Label names on any series of the family (le of histograms included)."""
        out: set[str] = set()
        for n, labels in self.series:
            if self.family_of(n) == family:
                out |= set(labels)
        return out


@pytest.fixture(scope="module")
def live(cp):
    google = start_google()
    ns = cp.create_namespace("mon")
    cp.kubectl("label", "namespace", ns, f"gtoken-e2e={ns}")
    if cp.get("namespace", "gtoken-system") is None:
        cp.kubectl("create", "namespace", "gtoken-system")
    webhook_port, metrics_port = free_port(), free_port()
    config = _register_webhooks(cp, ns, webhook_port)
    op = Operator(cp, google, name="monitoring", args=[
        "--namespace=gtoken-system", "--log-level=debug", "--resync=5s",
        f"--webhook-port={webhook_port}", "--webhook-bind-address=127.0.0.1",
        f"--webhook-config-name={config}", "--webhook-extra-ip=127.0.0.1",
        f"--metrics-port={metrics_port}", "--metrics-bind-address=127.0.0.1"]).start()
    try:
        eventually(lambda: "gtoken_webhook_ready 1" in scrape(metrics_port), 60,
                   what="gtoken_webhook_ready 1\n" + op.logs()[-3000:])
        gsa = google.create_sa("monitored")["email"]
        cp.apply(binding("good", ns, "app", gsa, ROLE))
        cp.apply(binding("missing", ns, "lost", f"not-there@{google.project}"
                                                 ".iam.gserviceaccount.com", ROLE))
        eventually(lambda: is_ready(cp.get("awsrolebinding", "good", ns)), 60,
                   what="binding good Ready\n" + op.logs()[-3000:])
        # Patched: the bound ServiceAccount (the webhook's caches see the
        # annotation shortly after the binding is Ready).
        def patched():
            pod = create_pod(cp, app_pod_manifest(ns, "app", "bound-"))
            if not is_mutated(pod):
                cp.kubectl("delete", "pod", "-n", ns, pod["metadata"]["name"], "--wait=false")
                return None
            return pod
        eventually(patched, 60, interval=1, what="a patched pod\n" + op.logs()[-3000:])
        # Allowed: a binding review that reached /validate. The two bindings
        # above may have been created before the apiserver saw the
        # ValidatingWebhookConfiguration's caBundle (failurePolicy Ignore lets
        # them through unreviewed), so a server-side dry run is retried until
        # one is counted.
        def reviewed():
            cp.kubectl("create", "--dry-run=server", "-f", "-",
                       input=json.dumps(binding("dry", ns, "app", gsa, ROLE)))
            return 'gtoken_webhook_binding_reviews_total{outcome="allowed"}' in scrape(metrics_port)
        eventually(reviewed, 60, interval=1, what="an allowed binding review\n" + op.logs()[-3000:])
        # Skipped: NoRoleAnnotation (ServiceAccount without a role) and
        # InvalidRoleArn (a role annotation set by hand, wrong).
        cp.kubectl("create", "serviceaccount", "plain", "-n", ns)
        cp.kubectl("create", "serviceaccount", "typo", "-n", ns)
        cp.kubectl("annotate", "serviceaccount", "typo", "-n", ns,
                   "amazonaws.com/role-arn=arn:aws:iam::123:role/short-account")
        for ksa in ("plain", "typo"):
            create_pod(cp, app_pod_manifest(ns, ksa, f"{ksa}-"))
        # A cache miss: the apiserver only sends pods of ServiceAccounts that
        # exist (and the cache has them within milliseconds), so the review
        # of a pod naming a missing one is posted directly; the webhook reads
        # it live (gtoken_webhook_service_account_cache_misses_total, not
        # found) and skips with ServiceAccountNotFound.
        ghost = app_pod_manifest(ns, "ghost", "ghost-")
        review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                  "request": {"uid": "3f1c2f4e-0000-4000-8000-00000000abcd",
                              "kind": {"group": "", "version": "v1", "kind": "Pod"},
                              "resource": {"group": "", "version": "v1", "resource": "pods"},
                              "operation": "CREATE", "namespace": ns, "object": ghost,
                              "userInfo": {"username": "monitoring-test"}}}
        assert _post(webhook_port, "/mutate", json.dumps(review).encode(),
                     "application/json") == 200
        # A dry run (dry_run="true"): the apiserver calls the webhook, stores nothing.
        cp.kubectl("create", "--dry-run=server", "-f", "-",
                   input=json.dumps(app_pod_manifest(ns, "typo", "typo-dry-")))
        # Errors: bodies that are no AdmissionReview.
        assert _post(webhook_port, "/mutate", b"{not json", "application/json") == 400
        assert _post(webhook_port, "/validate", b"{not json", "application/json") == 400
        # A Secret whose certificate does not match its key (tls.crt := the
        # CA's certificate): every replica keeps serving what it has and
        # counts a reload error; the leader then issues a new pair.
        secret = cp.get("secret", "gtoken-webhook-cert", "gtoken-system")
        cp.kubectl("patch", "secret", "gtoken-webhook-cert", "-n", "gtoken-system", "--type=merge",
                   "-p", json.dumps({"data": {"tls.crt": secret["data"]["ca.crt"]}}))
        metrics = eventually(lambda: (lambda t: t if all(s in t for s in (
            'gtoken_webhook_certificate_reloads_total{result="error"}',
            'reason="InvalidRoleArn"', 'reason="NoRoleAnnotation"', 'outcome="patched"',
            'gtoken_reconcile_total{result="error"}', 'outcome="error"',
            'gtoken_webhook_service_account_cache_misses_total{',
            'reason="ServiceAccountNotFound"', 'dry_run="true"'))
            else None)(scrape(metrics_port)), 60,
            what="the counters to move\n" + op.logs()[-3000:])
        # Kept beside the control plane's logs: the series the rule tests copy.
        with open(os.path.join(cp.dir, "monitoring-metrics.txt"), "w") as f:
            f.write(metrics)
        yield Scrape(metrics)
    finally:
        op.stop()
        google.stop()
        for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
            cp.kubectl("delete", kind, config, "--ignore-not-found", check=False)


# -- what the checked-in files query ------------------------------------------------

def rule_file() -> dict:
    with open(RULE_FILE) as f:
        return yaml.safe_load(f)


def rules() -> list[dict]:
    return [r for g in rule_file()["spec"]["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[str]:
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append(t["expr"])
    return out


def skip_reasons() -> set[str]:
    src = open(os.path.join(REPO, "webhook", "skip_reason.cpp")).read()
    return set(re.findall(r'return "([A-Za-z]+)";', src))


def check_expr(expr: str, s: Scrape, where: str) -> list[str]:
    """What in expr does not exist in the scrape."""
    problems = []
    families = set()
    for m in SELECTOR_RE.finditer(expr):
        name = m.group(1)
        family = s.family_of(name)
        if family is None:
            problems.append(f"{where}: {name} is not served")
            continue
        families.add(family)
        names_sets = s.label_sets(name)
        for label, op, value in MATCHER_RE.findall(m.group(3) or ""):
            if label in TARGET_LABELS:
                continue
            values = {ls[label] for ls in names_sets if label in ls}
            if not values:
                problems.append(f"{where}: {name} has no label {label} in the scrape")
            elif op == "=" and value not in values:
                problems.append(f"{where}: {name}{{{label}={value!r}}} not in the scrape "
                                f"(seen: {sorted(values)})")
            elif op == "=~":
                real = skip_reasons() if label == "reason" else values
                for alt in value.split("|"):
                    if alt not in real:
                        problems.append(f"{where}: {label} value {alt!r} does not exist")
    known = set().union(*(s.family_labels(f) for f in families)) if families else set()
    for g in GROUPING_RE.findall(expr):
        for label in filter(None, (x.strip() for x in g.split(","))):
            if label not in TARGET_LABELS and label not in known:
                problems.append(f"{where}: grouping label {label} is on none of "
                                f"{sorted(families)}")
    return problems


# -- the checks ---------------------------------------------------------------------

def test_every_family_has_help(live):
    assert live.families, live.text
    missing = sorted(f for f in live.families if not live.help.get(f, "").strip())
    assert not missing, f"families without # HELP: {missing}"
    assert live.families == set(live.help)


def _doc_table(path: str, section: str) -> dict[str, set[str]]:
    """metric -> labels, from the `name{a,b}` or `name` + Labels-column
    cells of a markdown section's table."""
    text = open(path).read()
    m = re.search(rf"^## {section}\n(.*?)(?=^## )", text, re.S | re.M)
    assert m, f"{path}: no section {section}"
    out: dict[str, set[str]] = {}
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or not cells[0].startswith("`gtoken_"):
            continue
        name_m = re.match(r"`(gtoken_[a-z0-9_]+)(\{([a-z_,\s]*)\})?`", cells[0])
        assert name_m, line
        labels = {x.strip() for x in (name_m.group(3) or "").split(",") if x.strip()}
        out[name_m.group(1)] = labels
    return out


def test_reference_lists_every_metric_with_its_labels(live):
    doc = _doc_table(os.path.join(REPO, "docs", "reference.md"), "Metrics")
    assert set(doc) == live.families, (
        f"docs/reference.md, Metrics: missing {sorted(live.families - set(doc))}, "
        f"not served {sorted(set(doc) - live.families)}")
    for name, labels in doc.items():
        served = live.family_labels(name) - {"le"}
        if served:  # families with series: the labels must agree
            assert labels == served, f"{name}: doc says {sorted(labels)}, served {sorted(served)}"


def test_webhook_doc_lists_every_webhook_metric(live):
    text = open(os.path.join(REPO, "docs", "webhook.md")).read()
    section = re.search(r"^## Metrics\n(.*?)(?=^## )", text, re.S | re.M).group(1)
    documented = set(re.findall(r"^\| `(gtoken_webhook_[a-z0-9_]+)`", section, re.M))
    served = {f for f in live.families if f.startswith("gtoken_webhook_")}
    assert documented == served


def test_rules_query_only_what_is_served(live):
    problems = []
    for r in rules():
        problems += check_expr(r["expr"], live, r["alert"])
    assert not problems, "\n".join(problems)


def test_dashboard_queries_only_what_is_served(live):
    problems = []
    exprs = dashboard_exprs()
    assert len(exprs) >= 10
    for e in exprs:
        problems += check_expr(e, live, e)
    assert not problems, "\n".join(problems)


def test_every_served_family_is_on_the_dashboard(live):
    text = " ".join(dashboard_exprs())
    queried = {live.family_of(m.group(1)) for m in SELECTOR_RE.finditer(text)}
    assert live.families <= queried, sorted(live.families - queried)


def test_rule_test_series_are_scraped_series(live):
    files = sorted(f for f in os.listdir(RULE_TESTS_DIR) if f.endswith(".test.yaml"))
    assert files
    seen_names = set()
    for f in files:
        with open(os.path.join(RULE_TESTS_DIR, f)) as fh:
            doc = yaml.safe_load(fh)
        for t in doc["tests"]:
            for inp in t.get("input_series", []):
                m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?$", inp["series"].strip())
                assert m, inp["series"]
                name = m.group(1)
                labels = dict(LABEL_RE.findall(m.group(3) or ""))
                own = {k: v for k, v in labels.items() if k not in TARGET_LABELS}
                assert live.family_of(name), f"{f}: {name} is not served"
                assert own in live.label_sets(name), (
                    f"{f}: {inp['series']} is not a scraped series; scraped "
                    f"{name}: {live.label_sets(name)}")
                assert set(labels) - set(own) <= TARGET_LABELS
                seen_names.add(live.family_of(name))
    # Every family an alert stands on has unit-test input.
    alerting = {live.family_of(m.group(1)) for r in rules()
                for m in SELECTOR_RE.finditer(r["expr"])}
    assert alerting <= seen_names, sorted(alerting - seen_names)


def test_every_alert_has_annotations_and_a_runbook_section():
    doc = open(OPERATIONS).read()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.+)$", doc, re.M)}
    tested = set()
    for f in os.listdir(RULE_TESTS_DIR):
        if f.endswith(".test.yaml"):
            tested |= set(re.findall(r"alertname: (\w+)", open(os.path.join(RULE_TESTS_DIR, f)).read()))
    for r in rules():
        a = r["annotations"]
        assert a.get("summary") and a.get("description"), r["alert"]
        assert r["labels"]["severity"] in ("warning", "critical"), r["alert"]
        path, _, anchor = a["runbook"].partition("#")
        assert path == "docs/operations.md" and anchor == r["alert"].lower(), a["runbook"]
        assert anchor in anchors, f"docs/operations.md has no section {r['alert']}"
        assert r["alert"] in tested, f"{r['alert']} has no promtool unit test"


# -- promtool -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def promtool():
    p = subprocess.run([os.path.join(REPO, "scripts", "promtool.sh")], capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, f"scripts/promtool.sh failed:\n{p.stderr}"
    return p.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory):
    """The PrometheusRule's spec as a plain rule file, beside the rule tests
    (whose rule_files name it relatively)."""
    d = str(tmp_path_factory.mktemp("rules"))
    with open(os.path.join(d, "gtoken-rules.yaml"), "w") as f:
        yaml.safe_dump({"groups": rule_file()["spec"]["groups"]}, f, sort_keys=False)
    for f in os.listdir(RULE_TESTS_DIR):
        if f.endswith(".test.yaml"):
            shutil.copy(os.path.join(RULE_TESTS_DIR, f), d)
    return d


def test_promtool_check_rules(promtool, rules_dir):
    p = subprocess.run([promtool, "check", "rules", "gtoken-rules.yaml"], cwd=rules_dir,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"SUCCESS: {len(rules())} rules found" in p.stdout, p.stdout


def test_promtool_test_rules(promtool, rules_dir):
    tests = sorted(f for f in os.listdir(rules_dir) if f.endswith(".test.yaml"))
    p = subprocess.run([promtool, "test", "rules", *tests], cwd=rules_dir,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_dashboard_queries_parse(promtool, tmp_path):
    """Grafana's $__rate_interval is 5m here; promtool parses each query as a
    recording rule's expression."""
    exprs = [e.replace("$__rate_interval", "5m") for e in dashboard_exprs()]
    path = tmp_path / "dashboard-rules.yaml"
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"gtoken:dashboard:{i}", "expr": e} for i, e in enumerate(exprs)]}]},
        open(path, "w"))
    p = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr


# -- kustomize ----------------------------------------------------------------------

def test_component_renders_and_the_service_dry_runs(cp, live):
    plain = list(yaml.safe_load_all(cp.kubectl("kustomize", os.path.join(REPO, "config", "default"))))
    with_mon = list(yaml.safe_load_all(
        cp.kubectl("kustomize", os.path.join(REPO, "config", "overlays", "monitoring"))))
    kinds = lambda docs: sorted((d["kind"], d["metadata"]["name"]) for d in docs)  # noqa: E731
    added = set(kinds(with_mon)) - set(kinds(plain))
    assert added == {("Service", "gtoken-operator-metrics"), ("ServiceMonitor", "gtoken-operator"),
                     ("PrometheusRule", "gtoken")}, added
    assert len(with_mon) == len(plain) + 3
    by_kind = {d["kind"]: d for d in with_mon if d["kind"] in ("PrometheusRule", "ServiceMonitor")}
    assert by_kind["PrometheusRule"]["spec"] == rule_file()["spec"]
    svc = next(d for d in with_mon if d["metadata"]["name"] == "gtoken-operator-metrics")
    sm = by_kind["ServiceMonitor"]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert [e["port"] for e in sm["spec"]["endpoints"]] == [p["name"] for p in svc["spec"]["ports"]]
    deploy = next(d for d in with_mon if d["kind"] == "Deployment")
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    ports = {p["name"]: p["containerPort"] for p in deploy["spec"]["template"]["spec"]
             ["containers"][0]["ports"]}
    assert ports["metrics"] == 8080 and svc["spec"]["ports"][0]["targetPort"] == "metrics"
    args = deploy["spec"]["template"]["spec"]["containers"][0].get("args", [])
    assert not any(a.startswith("--metrics-port=") and a != "--metrics-port=8080" for a in args)
    out = cp.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(svc))
    assert "gtoken-operator-metrics" in out
