#!/usr/bin/env python3
"""AwsRoleBinding controller benchmark: prints numbers, asserts nothing.

Each scale runs on its own fresh control plane (etcd + kube-apiserver built
by tests/controlplane), Google stand-in (subprocess) and gtoken-operator:

  1. N bindings created at once (concurrent creates through the API) over
     N / --per-gsa Google service accounts, half of them on ServiceAccounts
     that exist already: time until every binding is Ready (seen on a
     watch), peak RSS of the operator (VmHWM), API calls per binding:
     Kubernetes from the apiserver's audit log (requests whose user agent is
     gtoken-operator's), Google from the stand-in's counters.
  2. (first scale only) one binding at a time, --latency-runs times:
     create -> Ready latency, p50/p90/p99.
  3. The floor, on the same apiserver once the operator has stopped: a
     minimal client creates N bindings the same way (same threads, a fresh
     namespace, the same half of ServiceAccounts existing) and, with as many
     workers as the operator has, makes for each only the writes no
     controller can avoid: the finalizer (merge patch), the ServiceAccount
     (create, or server-side apply of the annotations when it exists) and
     one status write (Ready). gtoken's time-to-all-Ready is printed as a
     ratio of the floor's.

With --pods P, P pods (no agent; Pending, no scheduler runs) of the
existing ServiceAccounts are created before the operator starts, so its
peak RSS includes the pod cache.

    .venv/bin/python tests/bench/controller_bench.py                 # 1,000
    .venv/bin/python tests/bench/controller_bench.py --bindings 1000,10000
    .venv/bin/python tests/bench/controller_bench.py --workers 8 --latency-runs 0

Needs the operator built (GTOKEN_BUILD_DIR, default build/) and the Python
venv (scripts/setup-python.sh).
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "e2e"))

from arbutil import ALLOW_ALL, Api, binding, is_ready  # noqa: E402
from cluster import BUILD, ControlPlane, Operator  # noqa: E402
from standins.harness import GoogleStandin  # noqa: E402

AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
  - level: Metadata
"""


class ReadyWatch:
    """Watches the bindings of one namespace and notes when each first turns
    Ready for its current generation."""

    def __init__(self, api: Api, ns: str, op: Operator | None = None):
        self.op = op
        self.api = api
        self.ns = ns
        self.ready_at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        path = f"/apis/gtoken.io/v1alpha1/namespaces/{self.ns}/awsrolebindings"
        self.rv = self.api.request("GET", path, limit="1")["metadata"]["resourceVersion"]
        self.thread.start()
        return self

    def _run(self):
        path = f"/apis/gtoken.io/v1alpha1/namespaces/{self.ns}/awsrolebindings"
        rv = self.rv
        while not self.stop:
            try:
                r = self.api.s.get(self.api.server + path,
                                   params={"watch": "1", "resourceVersion": rv,
                                           "allowWatchBookmarks": "true",
                                           "timeoutSeconds": "300"},
                                   stream=True, timeout=330, verify=self.api.verify)
                for line in r.iter_lines():
                    if self.stop:
                        return
                    if not line:
                        continue
                    ev = json.loads(line)
                    obj = ev["object"]
                    if ev["type"] == "ERROR":
                        rv = self.api.request("GET", path, limit="1")["metadata"][
                            "resourceVersion"]
                        break
                    rv = obj["metadata"]["resourceVersion"]
                    if ev["type"] in ("ADDED", "MODIFIED") and is_ready(obj):
                        name = obj["metadata"]["name"]
                        with self.lock:
                            if name not in self.ready_at:
                                self.ready_at[name] = time.monotonic()
                                self.cond.notify_all()
            except Exception as e:  # noqa: BLE001 - reconnect
                if not self.stop:
                    print(f"  (watch reconnect: {e})", file=sys.stderr)
                    time.sleep(0.5)

    def wait_count(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.ready_at) < n:
                left = deadline - time.monotonic()
                if left <= 0 or (self.op is not None and not self.op.alive()):
                    return False
                self.cond.wait(min(left, 1.0))
        return True

    def wait_name(self, name: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while name not in self.ready_at:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.ready_at[name]


def vm_hwm_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def audit_counts(path: str, since_line: int = 0) -> tuple[collections.Counter, int]:
    """Requests by the operator (user agent gtoken-operator/*) in the audit log."""
    counts: collections.Counter = collections.Counter()
    n = 0
    if not os.path.exists(path):
        return counts, 0
    with open(path) as f:
        for i, line in enumerate(f):
            n = i + 1
            if i < since_line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if not ev.get("userAgent", "").startswith("gtoken-operator"):
                continue
            ref = ev.get("objectRef") or {}
            res = ref.get("resource", "?") + ("/" + ref["subresource"]
                                              if ref.get("subresource") else "")
            counts[f"{ev.get('verb')} {res}"] += 1
    return counts, n


def floor_run(api: Api, n: int, args) -> dict:
    """The unavoidable writes for n new bindings, by a minimal client: see
    the module docstring."""
    ns = "floor"
    api.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    with cf.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: api.create(f"/api/v1/namespaces/{ns}/serviceaccounts",
                                           {"metadata": {"name": f"ksa-{i}",
                                                         "labels": {"team": "bench"}}}),
                      range(0, n, 2)))
    gsa = "floor-gsa@my-project.iam.gserviceaccount.com"
    base = f"/apis/gtoken.io/v1alpha1/namespaces/{ns}/awsrolebindings"
    sas = f"/api/v1/namespaces/{ns}/serviceaccounts"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def writes(i: int, created: dict):
        name = f"f-{i}"
        ksa = f"ksa-{i}"
        b = api.request("PATCH", f"{base}/{name}",
                        {"metadata": {"finalizers": ["gtoken.io/cleanup"],
                                      "resourceVersion": created["metadata"]["resourceVersion"]}},
                        content_type="application/merge-patch+json")
        annotations = {"iam.gke.io/gcp-service-account": gsa,
                       "amazonaws.com/role-arn": created["spec"]["awsRoleArn"],
                       "gtoken.io/binding": name}
        if i % 2 == 0:  # exists: apply the annotations
            api.request("PATCH", f"{sas}/{ksa}",
                        {"apiVersion": "v1", "kind": "ServiceAccount",
                         "metadata": {"name": ksa, "namespace": ns, "annotations": annotations}},
                        content_type="application/apply-patch+yaml",
                        fieldManager="floor", force="true")
        else:
            api.request("POST", sas, {"metadata": {"name": ksa, "annotations": annotations}})
        b["status"] = {"observedGeneration": 1,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
                                       "message": "floor", "lastTransitionTime": now,
                                       "observedGeneration": 1}]}
        api.request("PUT", f"{base}/{name}/status", b)

    workers = cf.ThreadPoolExecutor(args.workers)
    futures = []
    lock = threading.Lock()

    def create(i: int):
        obj = api.create_binding(binding(f"f-{i}", ns, f"ksa-{i}", gsa))
        with lock:
            futures.append(workers.submit(writes, i, obj))

    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(args.create_threads) as pool:
        list(pool.map(create, range(n)))
    for f in list(futures):
        f.result()
    t = time.monotonic() - t0
    workers.shutdown()
    print(f"  floor: {n} bindings created and written (finalizer, ServiceAccount, status) "
          f"in {t:.1f}s ({n / t:.0f}/s)")
    return {"floor_seconds": round(t, 2)}


def create_pods(api: Api, ns: str, n: int, ksas: int):
    pods = f"/api/v1/namespaces/{ns}/pods"
    with cf.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: api.create(pods, {
            "metadata": {"name": f"pod-{i}", "labels": {"app": "bench"}},
            "spec": {"serviceAccountName": f"ksa-{(2 * i) % ksas}",
                     "containers": [{"name": "app", "image": "registry.invalid/app:1",
                                     "command": ["sleep", "infinity"],
                                     "env": [{"name": "FOO", "value": "bar"}]}]}}),
            range(n)))


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def run_scale(n: int, args) -> dict:
    name = f"bench-{n}"
    cp = ControlPlane(name)
    os.makedirs(cp.dir, exist_ok=True)
    audit_log = os.path.join(cp.dir, "audit.log")
    if os.path.exists(audit_log):
        os.remove(audit_log)
    if not args.no_audit:
        policy = os.path.join(cp.dir, "audit-policy.yaml")
        with open(policy, "w") as f:
            f.write(AUDIT_POLICY)
        cp.env["GTOKEN_CP_EXTRA_ARGS"] = (cp.env.get("GTOKEN_CP_EXTRA_ARGS", "") +
                                          f" --audit-policy-file={policy}"
                                          f" --audit-log-path={audit_log}"
                                          " --audit-log-maxsize=0 --audit-log-format=json")
    result: dict = {"bindings": n, "workers": args.workers, "per_gsa": args.per_gsa,
                    "google_quota_pacing": args.google_quota,
                    "google_latency_ms": args.google_latency_ms}
    print(f"\n== {n} bindings (workers={args.workers}, {args.per_gsa} bindings per GSA, "
          f"IAM pacing {'default' if args.google_quota else 'off'}, "
          f"Google latency +{args.google_latency_ms} ms) ==")
    t_cp = time.monotonic()
    cp.start()
    google = GoogleStandin(project="my-project", in_process=False)
    op = None
    try:
        cp.install_crds()
        # Deny by default: one open AwsRoleBindingPolicy, as the e2e suites run under.
        cp.apply(ALLOW_ALL)
        print(f"  control plane up in {time.monotonic() - t_cp:.1f}s")
        google.start()
        google.create_sa("gtoken-operator")
        google.config(instance_sa="gtoken-operator@my-project.iam.gserviceaccount.com")
        if args.google_latency_ms:
            google.latency("/v1/", args.google_latency_ms)
        gsas = [google.create_sa(f"bench-gsa-{i:04d}")["email"]
                for i in range((n + args.per_gsa - 1) // args.per_gsa)]
        api = Api(cp)
        ns = "bench"
        api.create("/api/v1/namespaces", {"metadata": {"name": ns}})
        # Half the bindings name a ServiceAccount that exists already.
        with cf.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: api.create(f"/api/v1/namespaces/{ns}/serviceaccounts",
                                               {"metadata": {"name": f"ksa-{i}",
                                                             "labels": {"team": "bench"}}}),
                          range(0, n, 2)))
        if args.pods:
            t_pods = time.monotonic()
            create_pods(api, ns, args.pods, n)
            print(f"  {args.pods} pods created in {time.monotonic() - t_pods:.1f}s")
        result["pods"] = args.pods
        log_level = [] if any(a.startswith("--log-level") for a in args.operator_arg) \
            else ["--log-level=warn"]
        # The stand-in has no quota: unless asked, measure the operator's own
        # capacity, not its client-side pacing under Google's quotas.
        pacing = [] if args.google_quota else ["--iam-read-qps=0", "--iam-write-qps=0"]
        op = Operator(cp, google, name="operator",
                      args=["--leader-elect=false", "--webhook=false",
                            f"--workers={args.workers}", *pacing, *log_level,
                            *args.operator_arg])
        op.start()
        time.sleep(1.0)  # informers listed, controller started
        if not op.alive():
            raise SystemExit("gtoken-operator exited:\n" + op.logs())
        args._op = op
        google.clear_calls()
        _, audit_start = audit_counts(audit_log)
        cpu0 = cpu_seconds(op.proc.pid)

        watch = ReadyWatch(api, ns, op).start()
        time.sleep(0.5)
        objs = [binding(f"b-{i}", ns, f"ksa-{i}", gsas[i % len(gsas)]) for i in range(n)]
        t0 = time.monotonic()
        with cf.ThreadPoolExecutor(args.create_threads) as pool:
            list(pool.map(api.create_binding, objs))
        t_created = time.monotonic() - t0
        ok = watch.wait_count(n, args.timeout)
        t_ready = time.monotonic() - t0
        ready = len(watch.ready_at)
        # Let trailing writes (events) land before counting.
        time.sleep(2.0)
        cpu = cpu_seconds(op.proc.pid) - cpu0
        hwm = vm_hwm_kib(op.proc.pid)
        kube, _ = audit_counts(audit_log, audit_start)
        gc = google.counters()["counters"]
        google_calls = {k: v for k, v in gc.items() if k.startswith(("iam.", "metadata."))}
        kube_total = sum(kube.values())
        google_total = sum(google_calls.values())
        result.update({
            "created_seconds": round(t_created, 2),
            "all_ready_seconds": round(t_ready, 2) if ok else None,
            "ready": ready,
            "bindings_per_second": round(n / t_ready, 1) if ok else None,
            "operator_vmhwm_mib": round(hwm / 1024, 1),
            "operator_cpu_seconds": round(cpu, 1),
            "kube_calls": dict(sorted(kube.items(), key=lambda kv: -kv[1])),
            "kube_calls_per_binding": round(kube_total / n, 2) if not args.no_audit else None,
            "google_calls": google_calls,
            "google_calls_per_binding": round(google_total / n, 2),
        })
        print(f"  created {n} in {t_created:.1f}s; "
              + (f"all Ready after {t_ready:.1f}s ({n / t_ready:.0f}/s)" if ok
                 else f"only {ready} Ready after {args.timeout}s"))
        print(f"  operator peak RSS (VmHWM) {hwm / 1024:.1f} MiB, CPU {cpu:.1f}s")
        if not args.no_audit:
            print(f"  Kubernetes API calls: {kube_total} = {kube_total / n:.2f} per binding")
            for k, v in result["kube_calls"].items():
                print(f"    {v / n:6.2f}/binding  {v:7d}  {k}")
        print(f"  Google API calls: {google_total} = {google_total / n:.2f} per binding")
        for k, v in sorted(google_calls.items()):
            print(f"    {v / n:6.2f}/binding  {v:7d}  {k}")

        if args.latency_runs and args.latency_first and not args._latency_done:
            args._latency_done = True
            result["latency"] = latency(api, google, args)
        watch.stop = True
        op.stop()
        op = None
        if args.floor:
            result.update(floor_run(api, n, args))
            if ok:
                result["ratio_to_floor"] = round(t_ready / result["floor_seconds"], 2)
                print(f"  gtoken time-to-all-Ready / floor = {result['ratio_to_floor']:.2f}")
    finally:
        if op is not None:
            op.stop()
        google.stop()
        if not args.keep:
            cp.stop()
    return result


def latency(api: Api, google, args) -> dict:
    ns = "latency"
    api.create("/api/v1/namespaces", {"metadata": {"name": ns}})
    gsa = google.create_sa("latency-gsa")["email"]
    watch = ReadyWatch(api, ns).start()
    time.sleep(0.5)
    samples = []
    for i in range(args.latency_runs):
        obj = binding(f"l-{i}", ns, f"lat-{i}", gsa)
        t0 = time.monotonic()
        api.create_binding(obj)
        t = watch.wait_name(f"l-{i}", 30)
        if t is not None:
            samples.append((t - t0) * 1000)
            if samples[-1] > 2000:
                print(f"  (slow: l-{i} took {samples[-1]:.0f} ms)")
        else:
            print(f"  (l-{i} not Ready after 30 s)")
    watch.stop = True
    out = {"runs": len(samples)}
    if samples:
        out.update({"p50_ms": round(statistics.median(samples), 1),
                    "p90_ms": round(percentile(samples, 90), 1),
                    "p99_ms": round(percentile(samples, 99), 1),
                    "max_ms": round(max(samples), 1),
                    "mean_ms": round(statistics.mean(samples), 1)})
        print(f"\n== single binding create -> Ready, {len(samples)} runs (with the bindings "
              "above in the cache) ==")
        print(f"  p50 {out['p50_ms']} ms, p90 {out['p90_ms']} ms, p99 {out['p99_ms']} ms, "
              f"max {out['max_ms']} ms")
    return out


def machine() -> str:
    cores = os.cpu_count()
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    load = open("/proc/loadavg").read().split()[:3]
    try:
        cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                             capture_output=True, text=True).stdout.strip()
    except OSError:
        cpu = "?"
    return (f"{cores} cores ({cpu}), {mem_kib / 1024 / 1024:.0f} GiB RAM, "
            f"load average before the run {' '.join(load)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bindings", default="1000",
                    help="comma-separated scales, each on a fresh cluster (default 1000; "
                         "10000 takes several minutes on 2 cores)")
    ap.add_argument("--workers", type=int, default=16, help="operator --workers")
    ap.add_argument("--google-quota", action="store_true",
                    help="keep the operator's default --iam-read-qps/--iam-write-qps (paced under "
                         "Google's per-project quotas); default: no pacing")
    ap.add_argument("--per-gsa", type=int, default=100,
                    help="bindings per Google service account (Google caps a policy at 1,500 "
                         "principals)")
    ap.add_argument("--latency-runs", type=int, default=100)
    ap.add_argument("--create-threads", type=int, default=16)
    ap.add_argument("--google-latency-ms", type=int, default=0,
                    help="extra latency on every IAM call (real Google: ~50-150 ms)")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--no-audit", action="store_true",
                    help="no apiserver audit log (no Kubernetes call counts, a bit faster)")
    ap.add_argument("--no-floor", dest="floor", action="store_false",
                    help="skip the floor (the minimal client's unavoidable writes)")
    ap.add_argument("--pods", type=int, default=0,
                    help="pods (without the agent) created before the operator starts")
    ap.add_argument("--keep", action="store_true", help="leave the control planes running")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--operator-arg", action="append", default=[],
                    help="extra gtoken-operator flag (repeatable)")
    args = ap.parse_args()
    args.latency_first = True
    args._latency_done = False
    binary = os.path.join(BUILD, "cmd", "gtoken-operator", "gtoken-operator")
    if not os.path.exists(binary):
        print(f"build the operator first: {binary} is missing", file=sys.stderr)
        return 2
    print("machine:", machine())
    results = {"machine": machine(), "runs": []}
    for n in [int(x) for x in args.bindings.split(",") if x]:
        results["runs"].append(run_scale(n, args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    sys.exit(main())
