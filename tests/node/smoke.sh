#!/usr/bin/env bash
# Smoke test of the real node (issue #10; ctest node.smoke):
# starts tests/node/node.sh in DIR, waits for the Node to be Ready, runs a
# pod of the local busybox image (non-root, read-only root filesystem) behind
# a Service, checks its logs through kubectl, reaches it through the Service's
# ClusterIP from inside the node's netns, connects from the pod to the
# `kubernetes` Service, runs a Job to completion, and stops the node.
#
#   smoke.sh [DIR]     DIR defaults to <repo>/.run/node-smoke (logs stay there)
#
# Bounded: GTOKEN_NODE_SMOKE_TIMEOUT seconds in all (default 600), then it
# stops the node and fails. The last line is "N passed, M failed".
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dir="${1:-$repo/.run/node-smoke}"
limit="${GTOKEN_NODE_SMOKE_TIMEOUT:-600}"
node="$here/node.sh"
passed=0
failed=0

log() { echo "[node-smoke] $*" >&2; }
ok() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
k() { "$node" exec "$dir" kubectl "$@"; }
in_node() { "$node" exec "$dir" "$@"; }

finish() {
  local rc=$?
  trap - EXIT INT TERM USR1
  [[ -n "${timer:-}" ]] && kill "$timer" 2>/dev/null
  "$node" stop "$dir" || fail "node stop"
  local ns
  ns="$(sed -n 's/^NETNS=//p' "$dir/env" 2>/dev/null)"
  if [[ -n "$ns" ]] && ip netns list | grep -qw "$ns"; then fail "netns $ns left after stop"; fi
  if grep -q " $dir/" /proc/self/mounts; then fail "mounts left under $dir after stop"; fi
  ((rc == 124)) && fail "timed out after ${limit}s (logs: $dir)"
  echo "$passed passed, $failed failed"
  ((failed == 0 && rc != 124)) && exit 0
  exit 1
}
trap finish EXIT
trap 'exit 124' USR1 # the time bound below
trap 'exit 143' TERM
trap 'exit 130' INT
# The time bound: USR1 to us when it is up (finish stops the node).
# It polls, so it ends with us even if we are killed, and holds none of our
# output open.
bash -c 'for ((i = 0; i < $1; i++)); do kill -0 "$2" 2>/dev/null || exit 0; sleep 1; done
  kill -USR1 "$2"' _ "$limit" $$ >/dev/null 2>&1 </dev/null &
timer=$!

start=$(date +%s)
if ! GTOKEN_NODE_OWNER=$$ "$node" start "$dir"; then
  fail "node start (logs: $dir)"
  exit 1
fi
"$node" env "$dir" >"$dir/env"
ok "node started in $(($(date +%s) - start))s ($(sed -n 's/^NETNS=//p' "$dir/env"))"

if k wait --for=condition=Ready node/gtoken-node --timeout=120s >/dev/null; then
  ok "Node gtoken-node Ready ($(k get node gtoken-node -o jsonpath='{.status.nodeInfo.containerRuntimeVersion} {.status.nodeInfo.kubeletVersion}'))"
else
  fail "Node not Ready: $(k get node gtoken-node -o jsonpath='{.status.conditions}' 2>&1)"
fi

# The namespace's default ServiceAccount and root CA come from the
# controller-manager; a pod is refused without them.
for _ in $(seq 1 60); do
  k get serviceaccount default >/dev/null 2>&1 && k get configmap kube-root-ca.crt >/dev/null 2>&1 && break
  sleep 1
done

k apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: hello, labels: {app: hello}}
spec:
  containers:
  - name: hello
    image: gtoken.local/busybox:1
    imagePullPolicy: Never
    command: ["/bin/busybox", "sh", "-c", "echo hello from a real pod; mkdir -p /tmp/www; echo served-by-pod >/tmp/www/index.html; exec /bin/busybox httpd -f -p 8080 -h /tmp/www"]
    ports: [{containerPort: 8080}]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
    securityContext: {runAsUser: 1000, runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}
    volumeMounts: [{name: tmp, mountPath: /tmp}]
  volumes: [{name: tmp, emptyDir: {medium: Memory}}]
---
apiVersion: v1
kind: Service
metadata: {name: hello}
spec:
  selector: {app: hello}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: once
        image: gtoken.local/busybox:1
        imagePullPolicy: Never
        command: ["/bin/busybox", "sh", "-c", "echo job done"]
        securityContext: {runAsUser: 1000, readOnlyRootFilesystem: true}
EOF

if k wait --for=condition=Ready pod/hello --timeout=120s >/dev/null; then
  ok "pod hello Ready on $(k get pod hello -o jsonpath='{.spec.nodeName} {.status.podIP}')"
else
  fail "pod hello not Ready: $(k describe pod hello | tail -8)"
fi

logs="$(k logs hello 2>&1)"
if [[ "$logs" == *"hello from a real pod"* ]]; then
  ok "kubectl logs hello: $logs"
else
  fail "kubectl logs hello: $logs"
fi

ip="$(k get service hello -o jsonpath='{.spec.clusterIP}')"
got=""
for _ in $(seq 1 30); do
  got="$(in_node curl -sS -m 3 "http://$ip/" 2>&1)" && [[ "$got" == served-by-pod ]] && break
  sleep 1
done
if [[ "$got" == served-by-pod ]]; then
  ok "Service ClusterIP $ip:80 answers from the netns: $got"
else
  fail "Service ClusterIP $ip:80 from the netns: $got"
fi

if got="$(k exec hello -- /bin/busybox sh -c '/bin/busybox nc -w 3 10.0.0.1 443 </dev/null && echo connected' 2>&1)" &&
  [[ "$got" == *connected* ]]; then
  ok "pod reaches the kubernetes Service (10.0.0.1:443)"
else
  fail "pod to the kubernetes Service: $got"
fi

if k wait --for=condition=Complete job/once --timeout=120s >/dev/null; then
  ok "Job once completed: $(k logs job/once 2>&1)"
else
  fail "Job once: $(k describe job once | tail -5)"
fi

log "took $(($(date +%s) - start))s; stopping"
