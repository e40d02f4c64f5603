#!/usr/bin/env bash
# Webhook throughput and latency; prints numbers, asserts nothing.
#
#   tests/bench/webhook_bench.sh [SECONDS_PER_RUN=10] [PODS=300]
#
# Starts its own control plane and a gtoken-operator (webhook only) on
# 127.0.0.1, registered with clientConfig.url for one labelled namespace, then:
#   1. wrk over TLS keep-alive, POSTing a real AdmissionReview (a pod of an
#      annotated ServiceAccount: the answer carries the full patch) at
#      concurrency 1, 16 and 64: admissions/s, p50, p99;
#   2. the operator's peak resident memory (VmHWM);
#   3. pod creations through the apiserver, one at a time, in a namespace the
#      webhook is not called for and in one it is: the added latency.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${GTOKEN_BUILD_DIR:-$repo/build}"
seconds="${1:-10}"
pods="${2:-300}"
command -v wrk >/dev/null || { echo "webhook_bench: needs wrk (apt-get install wrk)" >&2; exit 1; }

if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" gtoken-operator >/dev/null

dir="$build/cp-bench-webhook"
work="$(mktemp -d)"
op_pid=""
cleanup() {
  [[ -n "$op_pid" ]] && kill "$op_pid" 2>/dev/null && wait "$op_pid" 2>/dev/null
  "$repo/tests/controlplane/cp.sh" stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$repo/tests/controlplane/cp.sh" stop "$dir" >/dev/null 2>&1 || true
"$repo/tests/controlplane/cp.sh" start "$dir" 2>/dev/null
export KUBECONFIG="$dir/kubeconfig"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

# A small stdlib-only client of the apiserver (admin certificate).
cat >"$work/kube.py" <<'PY'
import http.client, json, os, ssl, statistics, sys, threading, time
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
def pod(name):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"serviceAccountName": "bound",
                     "containers": [{"name": "app", "image": "busybox"}]}}
cmd = sys.argv[1]
if cmd == "setup":
    webhook_port = sys.argv[2]
    for ns, labels in (("bench-on", {"gtoken-bench": "on"}), ("bench-off", {}), ("gtoken-system", {})):
        call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": ns, "labels": labels}})
    for ns in ("bench-on", "bench-off"):
        call("POST", f"/api/v1/namespaces/{ns}/serviceaccounts", {"apiVersion": "v1",
             "kind": "ServiceAccount", "metadata": {"name": "bound", "annotations":
             {"amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/bench"}}})
    call("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "gtoken-webhook"},
        "webhooks": [{"name": "pods.gtoken.io",
            "clientConfig": {"url": f"https://127.0.0.1:{webhook_port}/mutate"},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                       "resources": ["pods"]}],
            "sideEffects": "None", "admissionReviewVersions": ["v1"], "failurePolicy": "Fail",
            "timeoutSeconds": 5, "reinvocationPolicy": "IfNeeded",
            "namespaceSelector": {"matchLabels": {"gtoken-bench": "on"}}}]})
elif cmd == "review":
    print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "bench-0001", "operation": "CREATE", "namespace": "bench-on",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "object": pod("bench-pod")}}))
elif cmd == "pods":
    n = int(sys.argv[2])
    for ns in ("bench-off", "bench-on"):
        for i in range(20):  # warm up connections and caches
            call("POST", f"/api/v1/namespaces/{ns}/pods", pod(f"warm-{i}"))
        lat = []
        injected = 0
        for i in range(n):
            t = time.perf_counter()
            p = call("POST", f"/api/v1/namespaces/{ns}/pods", pod(f"p-{i}"))
            lat.append((time.perf_counter() - t) * 1000)
            injected += any(c["name"] == "gtoken" for c in p["spec"].get("initContainers", []))
        lat.sort()
        print(f"  {ns:9s} webhook {'called' if ns == 'bench-on' else 'not called':10s} "
              f"p50 {statistics.median(lat):6.2f} ms  p99 {lat[int(len(lat) * 0.99) - 1]:6.2f} ms  "
              f"mean {statistics.mean(lat):6.2f} ms  ({n} pods, {injected} injected)")
PY

python3 "$work/kube.py" setup "$port"
"$build/cmd/gtoken-operator/gtoken-operator" --controller=false --namespace=gtoken-system \
  --webhook-port="$port" --webhook-bind-address=127.0.0.1 --webhook-config-name=gtoken-webhook \
  --webhook-extra-ip=127.0.0.1 --webhook-threads=4 --metrics-port=0 --log-level=warn \
  2>"$work/operator.log" &
op_pid=$!
for _ in $(seq 1 300); do
  curl -skf "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -skf "https://127.0.0.1:$port/readyz" >/dev/null || { cat "$work/operator.log"; exit 1; }

python3 "$work/kube.py" review >"$work/review.json"
answer="$(curl -sk -H 'Content-Type: application/json' --data-binary @"$work/review.json" \
  "https://127.0.0.1:$port/mutate")"
[[ "$answer" == *'"patchType":"JSONPatch"'* ]] || { echo "unexpected answer: $answer" >&2; exit 1; }
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/review.json", "r")
wrk.body = f:read("*a")
f:close()
LUA

# wrk's latency figures like "612.00us", "1.23ms", "2.01s" → milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "%s", v }'
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -m);" \
  "kube-apiserver $(grep K8S_VERSION "$repo/tests/controlplane/versions.env" | cut -d= -f2);" \
  "wrk and the operator (4 server threads) on the same machine"
echo "AdmissionReview body: $(wc -c <"$work/review.json") bytes; answer: $(printf %s "$answer" | wc -c) bytes (patch)"
echo "admissions over TLS keep-alive (wrk, ${seconds}s per run):"
for c in 1 16 64; do
  threads=$((c < 2 ? 1 : 2))
  out="$(wrk -t "$threads" -c "$c" -d "${seconds}s" --latency -s "$work/post.lua" \
    "https://127.0.0.1:$port/mutate")"
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
  p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
  errors="$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')"
  printf '  concurrency %3d: %9.0f admissions/s  p50 %8s ms  p99 %8s ms  %s\n' \
    "$c" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" "$errors"
done
echo "operator peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' "/proc/$op_pid/status")"
echo "pod creations through the apiserver, one at a time:"
python3 "$work/kube.py" pods "$pods"
echo "operator peak RSS after the pods: $(awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' "/proc/$op_pid/status")"
