#!/usr/bin/env bash
# Webhook throughput, latency, CPU and memory, side by side; prints numbers,
# asserts nothing.
#
#   tests/bench/webhook_bench.sh [SECONDS_PER_RUN=10] [PODS=300] [REPETITIONS=2] [EKS_CHECKOUT]
#
# EKS_CHECKOUT (or GTOKEN_BENCH_EKS_SRC) is the path of a checkout of
# github.com/aws/amazon-eks-pod-identity-webhook; it is built once with the Go
# module proxy and the binary cached in $build/bench-cache by the checkout's
# commit (or the hash of its sources). Without one the EKS webhook's rows are
# left out and the script says so.
#
# Starts its own control plane, then on 127.0.0.1:
#   - min_webhook (tests/bench/min_webhook.cpp): parses the body, answers a
#     fixed patch; the yardstick;
#   - gtoken-operator serving only the webhook, at --log-level=info (one line
#     per admission), its thread count left to its default;
#   - the EKS webhook (-v=3: one line per admission).
# Each server is pinned to CPU 1 (taskset), `wrk -t1` to CPU 0; TLS 1.3
# keep-alive; the same AdmissionReview (a pod of a ServiceAccount with
# eks.amazonaws.com/role-arn, which gtoken's Kubernetes token source and the
# EKS webhook patch alike), and for gtoken also one of an
# amazonaws.com/role-arn ServiceAccount (the Google source: the agent
# container too). Servers alternate within each repetition, in a rotated
# order; figures are medians over the repetitions: req/s, p50, p99, CPU per
# 10k requests (utime+stime of the server), and peak RSS (VmHWM) at the end.
# Then pod creations through the apiserver, one at a time, in a namespace no
# webhook is called for, one gtoken is called for, and one the EKS webhook is.
#
# GTOKEN_BENCH_SYSCALLS=1 adds each server's system calls per request,
# GTOKEN_BENCH_CALLGRIND=1 its user-space instructions per admission (see below).
# GTOKEN_BENCH_BASELINE=<another gtoken-operator binary> (an older build, say)
# adds it as server "gtoken-base", run the same way in a namespace of its own
# (gtoken-base, with a webhook configuration no pod is sent to), so that old
# and new are compared in the same run.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${GTOKEN_BUILD_DIR:-$repo/build}"
seconds="${1:-10}"
pods="${2:-300}"
reps="${3:-2}"
eks_src="${4:-${GTOKEN_BENCH_EKS_SRC:-}}"
for tool in wrk taskset openssl curl; do
  command -v "$tool" >/dev/null || { echo "webhook_bench: needs $tool" >&2; exit 1; }
done
[[ "$(nproc)" -ge 2 ]] || { echo "webhook_bench: needs 2 CPUs (server on one, wrk on the other)" >&2; exit 1; }
server_cpu=1
load_cpu=0

if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" gtoken-operator min_webhook >/dev/null

# The EKS webhook, built once per source version.
eks_bin=""
if [[ -n "$eks_src" ]]; then
  [[ -f "$eks_src/go.mod" ]] || { echo "webhook_bench: $eks_src is not a checkout (no go.mod)" >&2; exit 1; }
  command -v go >/dev/null || { echo "webhook_bench: building the EKS webhook needs go" >&2; exit 1; }
  # The checkout's commit when it is a git checkout of its own, else its sources' hash.
  if [[ "$(git -C "$eks_src" rev-parse --show-toplevel 2>/dev/null)" == "$(cd "$eks_src" && pwd -P)" ]]; then
    key="$(git -C "$eks_src" rev-parse HEAD)"
  else
    key="$(cd "$eks_src" && find . -name '*.go' -o -name go.mod -o -name go.sum | LC_ALL=C sort |
      xargs sha256sum | sha256sum | cut -c1-16)"
  fi
  eks_bin="$build/bench-cache/amazon-eks-pod-identity-webhook-$key"
  if [[ ! -x "$eks_bin" ]]; then
    mkdir -p "$build/bench-cache"
    echo "building the EKS webhook from $eks_src (Go module proxy) ..."
    (cd "$eks_src" && GOFLAGS=-mod=mod go build -o "$eks_bin.tmp" .) && mv "$eks_bin.tmp" "$eks_bin"
  fi
fi

dir="$build/cp-bench-webhook"
work="$(mktemp -d)"
pids=()
cleanup() {
  # Not `kill && wait`: wait gives the server's signal status, which set -e takes as a failure.
  for p in "${pids[@]}"; do { kill "$p" && wait "$p"; } 2>/dev/null || true; done
  "$repo/tests/controlplane/cp.sh" stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$repo/tests/controlplane/cp.sh" stop "$dir" >/dev/null 2>&1 || true
"$repo/tests/controlplane/cp.sh" start "$dir" 2>/dev/null
export KUBECONFIG="$dir/kubeconfig"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gtoken_port="$(free_port)"
min_port="$(free_port)"
eks_port="$(free_port)"

# One serving certificate for min_webhook and the EKS webhook (gtoken makes its own).
(cd "$work" &&
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null &&
  openssl req -x509 -new -key ca.key -days 2 -subj "/CN=bench-ca" -out ca.crt 2>/dev/null &&
  openssl ecparam -name prime256v1 -genkey -noout -out tls.key 2>/dev/null &&
  openssl req -new -key tls.key -subj "/CN=127.0.0.1" -out tls.csr 2>/dev/null &&
  printf 'subjectAltName=IP:127.0.0.1\n' >san.ext &&
  openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile san.ext -out tls.crt 2>/dev/null)

# A small stdlib-only client of the apiserver (admin certificate).
cat >"$work/kube.py" <<'PY'
import base64, http.client, json, os, ssl, statistics, sys, threading, time
d = os.path.dirname(os.environ["KUBECONFIG"])
port = open(f"{d}/apiserver-0.port").read().strip()
ctx = ssl.create_default_context(cafile=f"{d}/pki/ca.crt")
ctx.load_cert_chain(f"{d}/pki/admin.crt", f"{d}/pki/admin.key")
_local = threading.local()
def call(method, path, body=None, ok=(200, 201)):
    c = getattr(_local, "c", None)
    if c is None:
        c = _local.c = http.client.HTTPSConnection("127.0.0.1", int(port), context=ctx)
    c.request(method, path, json.dumps(body) if body is not None else None,
              {"Content-Type": "application/json"})
    r = c.getresponse(); data = r.read()
    if r.status not in ok: raise SystemExit(f"{method} {path}: {r.status} {data[:300]!r}")
    return json.loads(data) if data else None
def pod(name, sa):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"serviceAccountName": sa,
                     "containers": [{"name": "app", "image": "busybox"}]}}
def hook(name, url, labels, ca=None):
    h = {"name": name, "clientConfig": {"url": url},
         "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                    "resources": ["pods"]}],
         "sideEffects": "None", "admissionReviewVersions": ["v1"], "failurePolicy": "Fail",
         "timeoutSeconds": 5, "reinvocationPolicy": "IfNeeded",
         "namespaceSelector": {"matchLabels": labels}}
    if ca: h["clientConfig"]["caBundle"] = base64.b64encode(open(ca, "rb").read()).decode()
    return h
cmd = sys.argv[1]
if cmd == "setup":
    gtoken_port, eks_port, ca = sys.argv[2], sys.argv[3], sys.argv[4]
    for ns, labels in (("bench-on", {"gtoken-bench": "on"}), ("bench-eks", {"eks-bench": "on"}),
                       ("bench-off", {}), ("gtoken-system", {}), ("gtoken-base", {})):
        call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": ns, "labels": labels}})
    for ns in ("bench-on", "bench-eks", "bench-off"):
        for sa, key in (("bound", "amazonaws.com/role-arn"), ("eks", "eks.amazonaws.com/role-arn")):
            call("POST", f"/api/v1/namespaces/{ns}/serviceaccounts", {"apiVersion": "v1",
                 "kind": "ServiceAccount", "metadata": {"name": sa, "annotations":
                 {key: "arn:aws:iam::123456789012:role/bench"}}})
    call("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "gtoken-webhook"},
        "webhooks": [hook("pods.gtoken.io", f"https://127.0.0.1:{gtoken_port}/mutate",
                          {"gtoken-bench": "on"})]})
    if len(sys.argv) > 5 and sys.argv[5] != "-":
        call("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "gtoken-base-webhook"},
            "webhooks": [hook("pods.gtoken.io", f"https://127.0.0.1:{sys.argv[5]}/mutate",
                              {"gtoken-bench": "never"})]})
    if eks_port != "-":
        call("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", {
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "eks-bench"},
            "webhooks": [hook("pod-identity-webhook.amazonaws.com",
                              f"https://127.0.0.1:{eks_port}/mutate", {"eks-bench": "on"}, ca)]})
elif cmd == "review":
    print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "operation": "CREATE",
            "namespace": "bench-on",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod("bench-pod", sys.argv[2])}}))
elif cmd == "pods":
    n = int(sys.argv[2])
    rows = [("bench-off", "eks", "no webhook"), ("bench-on", "eks", "gtoken, Kubernetes source"),
            ("bench-on", "bound", "gtoken, Google source")]
    if sys.argv[3] == "eks":
        rows.append(("bench-eks", "eks", "EKS webhook"))
    base = None
    for ns, sa, label in rows:
        for i in range(20):  # warm up connections and caches
            call("POST", f"/api/v1/namespaces/{ns}/pods", pod(f"warm-{sa}-{i}", sa))
        lat = []
        mutated = 0
        for i in range(n):
            t = time.perf_counter()
            p = call("POST", f"/api/v1/namespaces/{ns}/pods", pod(f"p-{sa}-{i}", sa))
            lat.append((time.perf_counter() - t) * 1000)
            mutated += any(v["name"] in ("aws-iam-token", "gtoken-volume")
                           for v in p["spec"].get("volumes", []))
        lat.sort()
        p50 = statistics.median(lat)
        base = p50 if base is None else base
        print(f"  {label:27s} p50 {p50:6.2f} ms  p99 {lat[int(len(lat) * 0.99) - 1]:6.2f} ms  "
              f"mean {statistics.mean(lat):6.2f} ms  added (p50) {p50 - base:+5.2f} ms  "
              f"({n} pods, {mutated} mutated)")
PY

base_bin="${GTOKEN_BENCH_BASELINE:-}"
[[ -z "$base_bin" || -x "$base_bin" ]] || { echo "webhook_bench: $base_bin is not executable" >&2; exit 1; }
base_port="$(free_port)"
python3 "$work/kube.py" setup "$gtoken_port" "$([[ -n "$eks_bin" ]] && echo "$eks_port" || echo -)" \
  "$work/ca.crt" "$([[ -n "$base_bin" ]] && echo "$base_port" || echo -)"

taskset -c "$server_cpu" "$build/tests/bench/min_webhook" "$min_port" "$work/tls.crt" "$work/tls.key" &
pids+=($!); min_pid=$!
taskset -c "$server_cpu" "$build/cmd/gtoken-operator/gtoken-operator" --controller=false \
  --namespace=gtoken-system --webhook-port="$gtoken_port" --webhook-bind-address=127.0.0.1 \
  --webhook-config-name=gtoken-webhook --webhook-extra-ip=127.0.0.1 --metrics-port=0 \
  --log-level=info 2>"$work/gtoken.log" &
pids+=($!); gtoken_pid=$!
base_pid=""
if [[ -n "$base_bin" ]]; then
  taskset -c "$server_cpu" "$base_bin" --controller=false \
    --namespace=gtoken-base --webhook-port="$base_port" --webhook-bind-address=127.0.0.1 \
    --webhook-config-name=gtoken-base-webhook --webhook-extra-ip=127.0.0.1 --metrics-port=0 \
    --log-level=info 2>"$work/gtoken-base.log" &
  pids+=($!); base_pid=$!
fi
eks_pid=""
if [[ -n "$eks_bin" ]]; then
  taskset -c "$server_cpu" "$eks_bin" --in-cluster=false --kubeconfig="$KUBECONFIG" \
    --port="$eks_port" --metrics-port="$(free_port)" --tls-cert="$work/tls.crt" \
    --tls-key="$work/tls.key" --logtostderr -v=3 2>"$work/eks.log" &
  pids+=($!); eks_pid=$!
fi
wait_ready() {  # URL
  for _ in $(seq 1 300); do curl -skf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
wait_ready "https://127.0.0.1:$gtoken_port/readyz" || { cat "$work/gtoken.log"; exit 1; }
wait_ready "https://127.0.0.1:$min_port/mutate" || { echo "min_webhook did not start" >&2; exit 1; }
[[ -z "$eks_pid" ]] || wait_ready "https://127.0.0.1:$eks_port/healthz" || { tail -20 "$work/eks.log"; exit 1; }
[[ -z "$base_pid" ]] || wait_ready "https://127.0.0.1:$base_port/readyz" || { tail -20 "$work/gtoken-base.log"; exit 1; }

python3 "$work/kube.py" review eks >"$work/review-eks.json"
python3 "$work/kube.py" review bound >"$work/review-google.json"
for f in review-eks review-google; do
  cat >"$work/$f.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/$f.json", "r")
wrk.body = f:read("*a")
f:close()
LUA
done
answer_of() {  # PORT REVIEW
  curl -sk -H 'Content-Type: application/json' --data-binary @"$work/$2.json" "https://127.0.0.1:$1/mutate"
}
# A cache that has not synced yet answers otherwise: wait for the patch.
for _ in $(seq 1 100); do
  [[ "$(answer_of "$gtoken_port" review-eks)" == *'"patchType":"JSONPatch"'* ]] && break; sleep 0.1
done
servers=("min|$min_port|review-eks|$min_pid" "gtoken|$gtoken_port|review-eks|$gtoken_pid"
         "gtoken-google|$gtoken_port|review-google|$gtoken_pid")
if [[ -n "$eks_pid" ]]; then
  for _ in $(seq 1 100); do
    [[ "$(answer_of "$eks_port" review-eks)" == *'"patchType":"JSONPatch"'* ]] && break; sleep 0.1
  done
  servers+=("eks|$eks_port|review-eks|$eks_pid")
fi
if [[ -n "$base_pid" ]]; then
  for _ in $(seq 1 100); do
    [[ "$(answer_of "$base_port" review-eks)" == *'"patchType":"JSONPatch"'* ]] && break; sleep 0.1
  done
  servers+=("gtoken-base|$base_port|review-eks|$base_pid")
fi
for s in "${servers[@]}"; do
  IFS='|' read -r name port review _ <<<"$s"
  a="$(answer_of "$port" "$review")"
  [[ "$a" == *'"patchType":"JSONPatch"'* ]] || { echo "$name: unexpected answer: $a" >&2; exit 1; }
  printf '%-14s answer %5d bytes, patch %5d bytes decoded\n' "$name" "${#a}" \
    "$(python3 -c 'import base64,json,sys; print(len(base64.b64decode(json.loads(sys.argv[1])["response"]["patch"])))' "$a")"
done

to_ms() {  # wrk's "612.00us", "1.23ms", "2.01s" → milliseconds
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "%s", v }'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"

echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), \
$(free -g | awk '/Mem:/{print $2}') GiB; load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
echo "servers pinned to CPU $server_cpu, wrk -t1 to CPU $load_cpu; ${seconds}s a run, $reps repetitions"
[[ -n "$eks_pid" ]] || echo "EKS webhook: no checkout given (4th argument or GTOKEN_BENCH_EKS_SRC); its rows are left out"
echo "gtoken: $(grep -o '"threads":[0-9]*' "$work/gtoken.log" | head -1 | cut -d: -f2) I/O thread(s) by default, log level info"
echo "AdmissionReview: $(wc -c <"$work/review-eks.json") bytes (eks.amazonaws.com ServiceAccount), \
$(wc -c <"$work/review-google.json") bytes (amazonaws.com, gtoken's Google source)"

: >"$work/results"
for rep in $(seq 1 "$reps"); do
  for c in 1 16 64; do
    n=${#servers[@]}
    for k in $(seq 0 $((n - 1))); do
      IFS='|' read -r name port review pid <<<"${servers[$(((k + rep + c) % n))]}"
      before="$(cpu_ticks "$pid")"
      out="$(taskset -c "$load_cpu" wrk -t1 -c "$c" -d "${seconds}s" --latency \
        -s "$work/$review.lua" "https://127.0.0.1:$port/mutate")"
      after="$(cpu_ticks "$pid")"
      requests="$(awk '/requests in/ {print $1}' <<<"$out")"
      rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
      p50="$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
      p99="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
      errors="$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr '\n' ' ')"
      cpu10k="$(awk -v t=$((after - before)) -v hz="$hz" -v r="$requests" 'BEGIN {printf "%.3f", t / hz / r * 10000}')"
      echo "$name $c $rps $p50 $p99 $cpu10k" >>"$work/results"
      printf '  rep %d c=%-3d %-14s %9.0f req/s  p50 %7s ms  p99 %7s ms  CPU/10k %6s s %s\n' \
        "$rep" "$c" "$name" "$rps" "$p50" "$p99" "$cpu10k" "$errors"
    done
  done
done

rss() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
{
  for s in "${servers[@]}"; do IFS='|' read -r name _ _ pid <<<"$s"; echo "rss $name $(rss "$pid")"; done
} >>"$work/results"
python3 - "$work/results" <<'PY'
import statistics, sys
rows, rss = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "rss":
        rss[f[1]] = float(f[2]); continue
    rows.setdefault((f[0], int(f[1])), []).append([float(x) for x in f[2:]])
med = {k: [statistics.median(col) for col in zip(*v)] for k, v in rows.items()}
names = [n for n in ("min", "gtoken", "gtoken-google", "gtoken-base", "eks") if (n, 1) in med]
print("medians:")
print(f"  {'server':14s} {'c=1 req/s':>10s} {'c=16 req/s':>10s} {'c=64 req/s':>10s} "
      f"{'c=16 p50':>9s} {'c=16 p99':>9s} {'c=64 p99':>9s} {'CPU/10k c=16':>12s} {'peak RSS':>9s}")
for n in names:
    print(f"  {n:14s} {med[n,1][0]:10.0f} {med[n,16][0]:10.0f} {med[n,64][0]:10.0f} "
          f"{med[n,16][1]:7.3f}ms {med[n,16][2]:7.3f}ms {med[n,64][2]:7.3f}ms "
          f"{med[n,16][3]:11.3f}s {rss[n]:6.1f}MiB")
def ratio(a, b, c, i):
    return med[a, c][i] / med[b, c][i]
print("ratios (targets of issue #15 in brackets):")
for g in ("gtoken", "gtoken-google", "gtoken-base"):
    if g not in names: continue
    print(f"  {g}/min req/s   c=1 {ratio(g,'min',1,0):.2f}  c=16 {ratio(g,'min',16,0):.2f}  "
          f"c=64 {ratio(g,'min',64,0):.2f}  [>= 0.8]")
    print(f"  {g}/min p99     c=1 {ratio(g,'min',1,2):.2f}  c=16 {ratio(g,'min',16,2):.2f}  "
          f"c=64 {ratio(g,'min',64,2):.2f}  [<= 1.5]")
    print(f"  {g}/min CPU per admission  c=1 {ratio(g,'min',1,3):.2f}  c=16 {ratio(g,'min',16,3):.2f}  "
          f"c=64 {ratio(g,'min',64,3):.2f}  [<= 1.25]")
    if "eks" in names:
        print(f"  {g}/eks req/s   c=1 {ratio(g,'eks',1,0):.2f}  c=16 {ratio(g,'eks',16,0):.2f}  "
              f"c=64 {ratio(g,'eks',64,0):.2f}  [c=16 >= 1.3]")
        print(f"  {g}/eks CPU per admission  c=16 {ratio(g,'eks',16,3):.2f}")
    print(f"  {g} peak RSS {rss[g]:.1f} MiB  [<= 24]")
if "gtoken-base" in names:
    print(f"  gtoken/gtoken-base CPU per admission  c=1 {ratio('gtoken','gtoken-base',1,3):.2f}  "
          f"c=16 {ratio('gtoken','gtoken-base',16,3):.2f}  c=64 {ratio('gtoken','gtoken-base',64,3):.2f}")
PY
# GTOKEN_BENCH_PROFILE=FILE: one more gtoken run at c=16 under perf (call graphs), its top entries.
if [[ -n "${GTOKEN_BENCH_PROFILE:-}" ]] && command -v perf >/dev/null; then
  perf record -q -F 999 --call-graph dwarf,16384 -o "$GTOKEN_BENCH_PROFILE" -p "$gtoken_pid" -- sleep "$seconds" 2>/dev/null &
  perf_pid=$!
  taskset -c "$load_cpu" wrk -t1 -c 16 -d "${seconds}s" -s "$work/review-eks.lua" \
    "https://127.0.0.1:$gtoken_port/mutate" >/dev/null
  wait "$perf_pid" || true
  echo "profile of gtoken at c=16 (self time, top 25): $GTOKEN_BENCH_PROFILE"
  perf report -i "$GTOKEN_BENCH_PROFILE" --no-children --sort symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9.]+%' | sed -e 's/  *- *- *$//' | cut -c1-150 | head -25 || true
fi
# GTOKEN_BENCH_SYSCALLS=1: each server's system calls per request at c=16,
# counted by strace -c (which slows the server: read the counts, not the rates).
if [[ -n "${GTOKEN_BENCH_SYSCALLS:-}" ]] && command -v strace >/dev/null; then
  echo "system calls per request at c=16 (strace -c):"
  for s in "${servers[@]}"; do
    IFS='|' read -r name port review pid <<<"$s"
    strace -c -f -p "$pid" -o "$work/strace-$name.txt" 2>/dev/null &
    strace_pid=$!
    sleep 0.5
    requests="$(taskset -c "$load_cpu" wrk -t1 -c 16 -d "${seconds}s" -s "$work/$review.lua" \
      "https://127.0.0.1:$port/mutate" | awk '/requests in/ {print $1}')"
    kill -INT "$strace_pid" 2>/dev/null || true
    wait "$strace_pid" 2>/dev/null || true
    awk -v name="$name" -v n="$requests" '
      $4 ~ /^[0-9]+$/ && $NF != "total" { line = line sprintf(" %s %.2f", $NF, $4 / n); sum += $4 }
      END { printf "  %-14s %5.2f:%s\n", name, sum / n, line }' "$work/strace-$name.txt"
  done
fi
echo "gtoken log lines at info during the runs: $(grep -c '"msg":"admission"' "$work/gtoken.log")"

# GTOKEN_BENCH_CALLGRIND=1: user-space instructions per admission of min_webhook,
# gtoken (and gtoken-base), each run once more under callgrind, which counts
# instructions, not time: the same figure on a quiet machine and a loaded one.
# Counted over ${seconds}s of wrk -c 4 after a warm-up; the kernel's share
# (TCP, the log's write) is not in it. The EKS webhook (Go) is left out.
if [[ -n "${GTOKEN_BENCH_CALLGRIND:-}" ]] && command -v valgrind >/dev/null; then
  echo "user-space instructions per admission (callgrind, ${seconds}s of wrk -c 4 each):"
  cg_port="$(free_port)"
  for name in min gtoken ${base_pid:+gtoken-base}; do
    out="$work/callgrind-$name"
    case "$name" in
      min) cmd=("$build/tests/bench/min_webhook" "$cg_port" "$work/tls.crt" "$work/tls.key") ;;
      *) bin="$build/cmd/gtoken-operator/gtoken-operator" ns=gtoken-system config=gtoken-webhook
         [[ "$name" == gtoken ]] || { bin="$base_bin" ns=gtoken-base config=gtoken-base-webhook; }
         cmd=("$bin" --controller=false --namespace="$ns" --webhook-port="$cg_port"
              --webhook-bind-address=127.0.0.1 --webhook-config-name="$config"
              --webhook-extra-ip=127.0.0.1 --metrics-port=0 --log-level=info) ;;
    esac
    taskset -c "$server_cpu" valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" \
      >"$work/callgrind-$name.log" 2>&1 &
    cg_pid=$!
    for _ in $(seq 1 300); do
      [[ "$(answer_of "$cg_port" review-eks 2>/dev/null)" == *'"patchType":"JSONPatch"'* ]] && break
      sleep 0.2
    done
    callgrind_control -z "$cg_pid" >/dev/null 2>&1
    requests="$(taskset -c "$load_cpu" wrk -t1 -c 4 -d "${seconds}s" -s "$work/review-eks.lua" \
      "https://127.0.0.1:$cg_port/mutate" | awk '/requests in/ {print $1}')"
    callgrind_control -d "$cg_pid" >/dev/null 2>&1
    { kill "$cg_pid" && wait "$cg_pid"; } 2>/dev/null || true
    total="$(callgrind_annotate "$out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
    awk -v name="$name" -v t="${total:-0}" -v n="${requests:-0}" \
      'BEGIN { if (n > 0) printf "  %-14s %8.0f  (%d requests)\n", name, t / n, n }' | tee -a "$work/instructions"
  done
  awk '{ v[$1] = $2 } END {
    base = ""
    if (v["gtoken-base"] > 0) base = sprintf("  gtoken-base/min %.2f  gtoken/gtoken-base %.2f",
      v["gtoken-base"] / v["min"], v["gtoken"] / v["gtoken-base"])
    if (v["min"] > 0) printf("  gtoken/min %.2f%s\n", v["gtoken"] / v["min"], base) }' "$work/instructions"
fi

echo "pod creations through the apiserver, one at a time:"
python3 "$work/kube.py" pods "$pods" "${eks_pid:+eks}"
echo "peak RSS after the pods: gtoken $(rss "$gtoken_pid") MiB${eks_pid:+, EKS webhook $(rss "$eks_pid") MiB}"
