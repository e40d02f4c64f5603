#!/usr/bin/env bash
# A real etcd + kube-apiserver on loopback, for tests and for people.
#
#   cp.sh start [DIR]               build if needed, start, wait for /readyz
#   cp.sh stop [DIR]                stop everything started from DIR
#   cp.sh stop-apiserver [DIR] [N]  kill apiserver N (default 0) only
#   cp.sh start-apiserver [DIR] [N] start it again on the same port
#   cp.sh compact [DIR]             compact etcd history up to its current revision
#   cp.sh env [DIR]                 print KUBECONFIG=... and the endpoints
#   cp.sh certs [DIR]               only write DIR/pki (CA, apiserver, admin, SA
#                                   keys), as start does (used by tests/node)
#
# DIR defaults to <repo>/.run/controlplane. Knobs (environment):
#   GTOKEN_CP_APISERVERS=N      start N apiservers on the same etcd (default 1)
#   GTOKEN_CP_WATCH_CACHE=false serve watches straight from etcd (so etcd
#                               compaction shows up as 410 Gone)
#   GTOKEN_CP_OWNER=PID         stop everything when PID exits (test runners)
#   GTOKEN_CP_EXTRA_ARGS        more kube-apiserver flags
#   GTOKEN_K8S_VERSION=v1.N.P   another release than versions.env's, with
#   GTOKEN_ETCD_VERSION=v3.N.P  its etcd (built once by build-version.sh)
#   GTOKEN_CP_AUDIT=true        audit log of every request at level Metadata,
#                               one JSON event per line in DIR/audit-N.log
#                               (blocking mode: written by the request's
#                               handler, no batching delay)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cmd="${1:-}"
dir="${2:-$repo/.run/controlplane}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

log() { echo "[controlplane] $*" >&2; }
die() { log "error: $*"; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Stops a process recorded in a pid file: TERM, then KILL after a grace period.
stop_pidfile() {
  local f="$1" pid
  [[ -f "$f" ]] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

gen_certs() {
  local p="$dir/pki"
  [[ -f "$p/done" ]] && return 0
  mkdir -p "$p"
  chmod 700 "$p"
  (
    cd "$p"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -days 30 -subj "/CN=gtoken-test-ca" -out ca.crt 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out apiserver.key 2>/dev/null
    openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1\nextendedKeyUsage=serverAuth\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out admin.key 2>/dev/null
    openssl req -new -key admin.key -subj "/O=system:masters/CN=gtoken-admin" -out admin.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >admin.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile admin.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 600 ./*.key
    touch done
  )
}

write_kubeconfig() {
  local port="$1"
  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: gtoken-test
clusters:
- name: gtoken-test
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority: $dir/pki/ca.crt
users:
- name: gtoken-admin
  user:
    client-certificate: $dir/pki/admin.crt
    client-key: $dir/pki/admin.key
contexts:
- name: gtoken-test
  context:
    cluster: gtoken-test
    user: gtoken-admin
    namespace: default
EOF
  chmod 600 "$dir/kubeconfig"
}

start_etcd() {
  local cport pport
  cport="$(cat "$dir/etcd.port" 2>/dev/null || free_port)"
  pport="$(cat "$dir/etcd-peer.port" 2>/dev/null || free_port)"
  echo "$cport" >"$dir/etcd.port"
  echo "$pport" >"$dir/etcd-peer.port"
  setsid "$BIN/etcd" --name gtoken-test --data-dir "$dir/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "gtoken-test=http://127.0.0.1:$pport" \
    --unsafe-no-fsync --log-level warn >"$dir/etcd.log" 2>&1 </dev/null &
  echo $! >"$dir/etcd.pid"
  for _ in $(seq 1 150); do
    if curl -sf "http://127.0.0.1:$cport/health" >/dev/null 2>&1; then return 0; fi
    kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null || { tail -20 "$dir/etcd.log" >&2; die "etcd exited"; }
    sleep 0.2
  done
  die "etcd did not become healthy (see $dir/etcd.log)"
}

# Off unless GTOKEN_CP_AUDIT=true: a policy logging every request (all
# stages) at level Metadata, and flags writing it to DIR/audit-N.log.
audit_args() {
  local n="$1"
  [[ "${GTOKEN_CP_AUDIT:-false}" == "true" ]] || return 0
  printf 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n' \
    >"$dir/audit-policy.yaml"
  echo "--audit-policy-file $dir/audit-policy.yaml --audit-log-path $dir/audit-$n.log" \
    "--audit-log-format json --audit-log-mode blocking"
}

start_apiserver() {
  local n="${1:-0}" port
  port="$(cat "$dir/apiserver-$n.port" 2>/dev/null || free_port)"
  echo "$port" >"$dir/apiserver-$n.port"
  local p="$dir/pki"
  local audit
  audit="$(audit_args "$n")"
  # shellcheck disable=SC2086
  setsid "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$(cat "$dir/etcd.port")" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$port" \
    --cert-dir "$dir/apiserver-$n-certs" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" \
    --client-ca-file "$p/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 --authorization-mode RBAC --allow-privileged=true \
    --watch-cache="${GTOKEN_CP_WATCH_CACHE:-true}" --profiling=false \
    $audit ${GTOKEN_CP_EXTRA_ARGS:-} >"$dir/apiserver-$n.log" 2>&1 </dev/null &
  echo $! >"$dir/apiserver-$n.pid"
  wait_ready "$n"
}

wait_ready() {
  local n="$1" port
  port="$(cat "$dir/apiserver-$n.port")"
  for _ in $(seq 1 600); do
    if curl -sf --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
      "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$(cat "$dir/apiserver-$n.pid")" 2>/dev/null || {
      tail -30 "$dir/apiserver-$n.log" >&2
      die "kube-apiserver $n exited"
    }
    sleep 0.2
  done
  die "kube-apiserver $n not ready after 120s (see $dir/apiserver-$n.log)"
}

start_watchdog() {
  local owner="${GTOKEN_CP_OWNER:-}"
  [[ -n "$owner" ]] || return 0
  # Detached from the caller's stdout so a test runner waiting on it is not held open.
  setsid bash -c '
    while kill -0 "$1" 2>/dev/null && [[ -f "$2/etcd.pid" ]]; do sleep 1; done
    [[ -f "$2/etcd.pid" ]] && exec "$3" stop "$2"' _ "$owner" "$dir" "$here/cp.sh" \
    >/dev/null 2>&1 </dev/null &
  echo $! >"$dir/watchdog.pid"
}

stop_all() {
  local f
  for f in "$dir"/apiserver-*.pid; do [[ -e "$f" ]] && stop_pidfile "$f"; done
  stop_pidfile "$dir/etcd.pid"
  if [[ -f "$dir/watchdog.pid" ]]; then
    local w
    w="$(cat "$dir/watchdog.pid")"
    rm -f "$dir/watchdog.pid"
    [[ "$w" != "$PPID" ]] && kill "$w" 2>/dev/null || true
  fi
}

case "$cmd" in
  start)
    if [[ -f "$dir/etcd.pid" ]] && kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null; then
      die "already running in $dir (stop it first: $0 stop $dir)"
    fi
    BIN="$("$here/build-version.sh" | tail -1)"
    echo "$BIN" >"$dir/bin"
    rm -rf "$dir/etcd-data" "$dir"/*.port "$dir"/*.log
    trap 'stop_all' ERR
    gen_certs
    start_etcd
    n_api="${GTOKEN_CP_APISERVERS:-1}"
    for ((i = 0; i < n_api; i++)); do start_apiserver "$i"; done
    write_kubeconfig "$(cat "$dir/apiserver-0.port")"
    for ((i = 1; i < n_api; i++)); do
      sed "s/127.0.0.1:$(cat "$dir/apiserver-0.port")/127.0.0.1:$(cat "$dir/apiserver-$i.port")/" \
        "$dir/kubeconfig" >"$dir/kubeconfig-$i"
      chmod 600 "$dir/kubeconfig-$i"
    done
    start_watchdog
    trap - ERR
    log "ready: KUBECONFIG=$dir/kubeconfig (apiserver https://127.0.0.1:$(cat "$dir/apiserver-0.port"))"
    ;;
  stop)
    stop_all
    log "stopped ($dir)"
    ;;
  stop-apiserver)
    stop_pidfile "$dir/apiserver-${3:-0}.pid"
    ;;
  kill-apiserver)
    n="${3:-0}"
    [[ -f "$dir/apiserver-$n.pid" ]] && kill -KILL "$(cat "$dir/apiserver-$n.pid")" 2>/dev/null || true
    rm -f "$dir/apiserver-$n.pid"
    ;;
  start-apiserver)
    BIN="$(cat "$dir/bin")"
    start_apiserver "${3:-0}"
    ;;
  compact)
    port="$(cat "$dir/etcd.port")"
    rev="$(curl -sf -X POST "http://127.0.0.1:$port/v3/kv/range" -d '{"key":"AA=="}' |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')"
    curl -sf -X POST "http://127.0.0.1:$port/v3/kv/compaction" \
      -d "{\"revision\":\"$rev\",\"physical\":true}" >/dev/null
    echo "$rev"
    ;;
  certs)
    gen_certs
    ;;
  env)
    echo "KUBECONFIG=$dir/kubeconfig"
    echo "APISERVER=https://127.0.0.1:$(cat "$dir/apiserver-0.port")"
    echo "ETCD=http://127.0.0.1:$(cat "$dir/etcd.port")"
    echo "KUBECTL=$(cat "$dir/bin")/kubectl"
    if [[ -f "$dir/audit-policy.yaml" ]]; then echo "AUDIT_LOG=$dir/audit-0.log"; fi
    ;;
  *)
    sed -n '2,24p' "$0" >&2
    exit 2
    ;;
esac
