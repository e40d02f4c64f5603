#!/usr/bin/env bash
# A real single-node cluster inside a network namespace (issue #10):
# etcd + kube-apiserver (tests/controlplane/cp.sh), kube-controller-manager,
# kube-scheduler, containerd + runc, kubelet and kube-proxy.
#
#   node.sh start DIR        build if needed, start everything, wait for the
#                            Node to register (smoke.sh waits for Ready)
#   node.sh stop DIR         stop everything, unmount, delete the netns
#   node.sh exec DIR cmd...  run cmd inside the node (its netns and mounts),
#                            with KUBECONFIG and PATH set (kubectl, ctr)
#   node.sh env DIR          print NETNS=, KUBECONFIG=, KUBECTL=, ...
#   node.sh check DIR        exit 0 if this host can run a node, else say why
#
# Isolation: every process runs in the network namespace gtoken-node-<id>
# (id from DIR), which has only `lo`, a bridge `node0` (the node IP,
# 10.200.0.1) and the pod bridge `cni0` (10.88.0.1/16); Services are
# 10.0.0.0/24. No veth to the host, no NAT, no default route in the netns
# (pods' default route is cni0, which leads nowhere further). node0 also
# holds 169.254.169.254, where a pod finds the (stand-in) metadata server.
# The processes
# also share one private mount namespace (held by a pause process), where
# /sys is the netns's own sysfs, and /run/containerd and /var/lib/cni are
# bind mounts of DIR's folders, so nothing the node mounts or writes leaks to
# the host; it all goes away at stop. Processes are grouped in the cgroup
# <caller's cgroup>/gtoken-node-<id> (kubelet's cgroupRoot), which stop
# empties and removes.
#
# Logs: DIR/*.log (cp/ for etcd and the apiserver); pod logs DIR/pod-logs.
# Knobs: GTOKEN_NODE_OWNER=PID  stop the node when PID exits.
#        GTOKEN_NODE_APISERVER_ARGS  more kube-apiserver flags.
set -Eeuo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:-}"
[[ -n "$cmd" && -n "${2:-}" ]] || { sed -n '2,/^set -/p' "$0" | sed '$d' >&2; exit 2; }
mkdir -p "$2"
dir="$(cd "$2" && pwd)"
shift 2

id="$(printf %s "$dir" | sha256sum | cut -c1-8)"
ns="gtoken-node-$id"
node_name=gtoken-node
node_ip=10.200.0.1
pod_cidr=10.88.0.0/16
pod_gw=10.88.0.1
svc_cidr=10.0.0.0/24 # cp.sh's --service-cluster-ip-range

log() { echo "[node] $*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- cgroups
cgroup_v2() { [[ "$(stat -fc %T /sys/fs/cgroup)" == cgroup2fs ]]; }
# Hierarchy mount points the node uses: v2 the one, v1 each controller's.
cgroup_mounts() {
  if cgroup_v2; then echo /sys/fs/cgroup; return; fi
  # v1 (or hybrid: the v1 hierarchies and the unified one, which runc uses too)
  awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts
}
# Our cgroup, relative to each hierarchy: under the caller's (v2: its
# unified path; v1: its memory cgroup, so the node stays inside whatever
# memory limit the caller has), recorded at the first start.
cg_rel() {
  if [[ -f "$dir/cgroup" ]]; then cat "$dir/cgroup"; return; fi
  local base
  if cgroup_v2; then
    base="$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)"
  else
    base="$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)"
  fi
  base="${base%/}"
  echo "$base/$ns" >"$dir/cgroup"
  echo "$base/$ns"
}

# CAP_SYS_RESOURCE (bit 24) in our bounding set? Without it no process may
# lower an oom_score_adj (some sandboxed machines withhold it).
has_cap_sys_resource() {
  local bnd
  bnd="$(awk '/^CapBnd:/ {print $2}' /proc/self/status)"
  (( (16#$bnd >> 24) & 1 ))
}

check_host() {
  [[ "$(id -u)" == 0 ]] || die "must run as root (network namespaces, mounts, cgroups, runc)"
  local t
  for t in ip nsenter unshare mount iptables iptables-restore runc python3 openssl curl; do
    command -v "$t" >/dev/null || die "missing $t on this host (tests/node/build.sh installs the Debian ones)"
  done
  local c
  for c in bridge host-local loopback; do
    [[ -x /usr/lib/cni/$c ]] || die "missing CNI plugin /usr/lib/cni/$c (Debian: containernetworking-plugins)"
  done
  grep -qw overlay /proc/filesystems ||
    die "the kernel has no overlay filesystem (containerd's overlayfs snapshotter needs it; modprobe overlay)"
  if cgroup_v2; then
    local have
    have="$(cat /sys/fs/cgroup/cgroup.controllers)"
    for c in cpu memory pids cpuset; do
      [[ " $have " == *" $c "* ]] || die "cgroup v2 controller '$c' is not available (have: $have)"
    done
  else
    for c in cpu cpuacct cpuset memory pids devices freezer; do
      awk -v c="$c" '$3 == "cgroup" && ("," $4 ",") ~ ("," c ",") {f=1} END {exit !f}' /proc/self/mounts ||
        die "cgroup v1 controller '$c' is not mounted under /sys/fs/cgroup (kubelet and runc need it)"
    done
    log "host has cgroup v1: kubelet runs with failCgroupV1: false"
  fi
  has_cap_sys_resource ||
    log "no CAP_SYS_RESOURCE here: containerd clamps pod oom_score_adj at its own (restrict_oom_score_adj)"
}

# Creates DIR's cgroup in every hierarchy (v1 cpuset: copies cpus/mems down).
make_cgroups() {
  local rel h p part
  rel="$(cg_rel)"
  while read -r h; do
    p="$h"
    IFS=/ read -ra parts <<<"${rel#/}"
    for part in "${parts[@]}"; do
      p="$p/$part"
      if [[ ! -d "$p" ]]; then
        mkdir "$p"
        echo "$p" >>"$dir/cgroup-created"
      fi
      if [[ -f "$p/cpuset.cpus" && -z "$(cat "$p/cpuset.cpus")" ]]; then
        cat "$(dirname "$p")/cpuset.cpus" >"$p/cpuset.cpus"
        cat "$(dirname "$p")/cpuset.mems" >"$p/cpuset.mems"
      fi
    done
    mkdir -p "$p/daemons"
    if [[ -f "$p/daemons/cpuset.cpus" && -z "$(cat "$p/daemons/cpuset.cpus")" ]]; then
      cat "$p/cpuset.cpus" >"$p/daemons/cpuset.cpus"
      cat "$p/cpuset.mems" >"$p/daemons/cpuset.mems"
    fi
  done < <(cgroup_mounts)
  if cgroup_v2; then
    # v2: controllers must be delegated down to our cgroup (and kubepods below).
    local c path=/sys/fs/cgroup
    IFS=/ read -ra parts <<<"${rel#/}"
    for part in "${parts[@]}"; do
      for c in cpu cpuset memory pids io hugetlb; do
        grep -qw "$c" "$path/cgroup.controllers" && echo "+$c" >"$path/cgroup.subtree_control" 2>/dev/null || true
      done
      path="$path/$part"
    done
    for c in cpu cpuset memory pids io hugetlb; do
      grep -qw "$c" "$path/cgroup.controllers" && echo "+$c" >"$path/cgroup.subtree_control" 2>/dev/null || true
    done
  fi
}

# Every pid in our cgroup tree (v2: unified; v1: the pids hierarchy).
cg_pids() {
  local root rel
  rel="$(cat "$dir/cgroup" 2>/dev/null)" || return 0
  if cgroup_v2; then root="/sys/fs/cgroup$rel"; else root="/sys/fs/cgroup/pids$rel"; fi
  [[ -d "$root" ]] || return 0
  find "$root" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u
}

remove_cgroups() {
  local rel h
  rel="$(cat "$dir/cgroup" 2>/dev/null)" || return 0
  while read -r h; do
    [[ -d "$h$rel" ]] && find "$h$rel" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done < <(cgroup_mounts)
  if [[ -f "$dir/cgroup-created" ]]; then
    tac "$dir/cgroup-created" | while read -r p; do rmdir "$p" 2>/dev/null || true; done
    rm -f "$dir/cgroup-created"
  fi
}

# ---------------------------------------------------------------- processes
holder_pid() { cat "$dir/holder.pid" 2>/dev/null; }

# launch NAME cmd...: runs cmd in the node (netns + mount ns + our cgroup),
# detached, output in DIR/NAME.log, pid in DIR/NAME.pid.
launch() {
  local name="$1"
  shift
  nsenter -t "$(holder_pid)" -m -n -- setsid bash -c '
    for h in $(cat "$1"); do echo $$ >"$h/cgroup.procs"; done
    shift; exec "$@"' _ "$dir/cgroup-daemons" "$@" >"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

in_node() { # cmd...: run in the node's namespaces, in the foreground
  nsenter -t "$(holder_pid)" -m -n -- env KUBECONFIG="$dir/cp/kubeconfig" \
    PATH="$(cat "$dir/bin"):$(cat "$dir/cp-bin"):$PATH" "$@"
}

alive() { [[ -f "$dir/$1.pid" ]] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

wait_for() { # what seconds name cmd...
  local what="$1" secs="$2" name="$3" i
  shift 3
  for ((i = 0; i < secs * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [[ -n "$name" ]] && ! alive "$name"; then
      tail -30 "$dir/$name.log" >&2
      die "$name exited while waiting for $what (log: $dir/$name.log)"
    fi
    sleep 0.2
  done
  [[ -n "$name" ]] && tail -30 "$dir/$name.log" >&2
  die "timed out after ${secs}s waiting for $what"
}

# ---------------------------------------------------------------- config
client_cert() { # name CN [O]
  local p="$dir/cp/pki" subj="/CN=$2"
  [[ -n "${3:-}" ]] && subj="/O=$3/CN=$2"
  [[ -f "$p/$1.crt" ]] && return 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$p/$1.key" 2>/dev/null
  openssl req -new -key "$p/$1.key" -subj "$subj" -out "$p/$1.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$p/$1.ext"
  openssl x509 -req -in "$p/$1.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 30 \
    -extfile "$p/$1.ext" -out "$p/$1.crt" 2>/dev/null
  chmod 600 "$p/$1.key"
}

kubeconfig() { # name -> DIR/name.kubeconfig for the client cert "name"
  local server
  server="$(awk '/server:/ {print $2}' "$dir/cp/kubeconfig")"
  cat >"$dir/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: node
clusters:
- name: node
  cluster: {server: "$server", certificate-authority: "$dir/cp/pki/ca.crt"}
users:
- name: $1
  user: {client-certificate: "$dir/cp/pki/$1.crt", client-key: "$dir/cp/pki/$1.key"}
contexts:
- name: node
  context: {cluster: node, user: $1}
EOF
  chmod 600 "$dir/$1.kubeconfig"
}

write_configs() {
  local rel restrict_oom=false
  rel="$(cg_rel)"
  has_cap_sys_resource || restrict_oom=true
  mkdir -p "$dir/containerd" "$dir/run-containerd" "$dir/var-lib-cni" "$dir/cni/net.d" "$dir/pod-logs" "$dir/kubelet"
  # containerd config version 4 (containerd 2.4); nothing is read from /etc.
  cat >"$dir/containerd/config.toml" <<EOF
version = 4
root = "$dir/containerd/root"
state = "$dir/containerd/state"
imports = []
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs",
  "io.containerd.differ.v1.erofs", "io.containerd.mount-handler.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp"]

[debug]
  level = "info"

[plugins]
  [plugins.'io.containerd.server.v1.grpc']
    address = "/run/containerd/containerd.sock"
  [plugins.'io.containerd.server.v1.ttrpc']
    address = "/run/containerd/containerd.sock.ttrpc"
  [plugins.'io.containerd.internal.v1.opt']
    path = "$dir/containerd/opt"
  [plugins.'io.containerd.image-verifier.v1.bindir']
    bin_dir = "$dir/containerd/image-verifier"
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "gtoken.local/pause:1"
  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    netns_mounts_under_state_dir = true
    # Where the host withholds CAP_SYS_RESOURCE, nothing may lower its
    # oom_score_adj (kubelet asks -998 for sandboxes): clamp at containerd's.
    restrict_oom_score_adj = $restrict_oom
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "$(command -v runc)"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["/usr/lib/cni"]
      conf_dir = "$dir/cni/net.d"
      max_conf_num = 1
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
EOF
  cat >"$dir/cni/net.d/10-gtoken.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$ns",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "/var/lib/cni/networks",
              "ranges": [[{"subnet": "$pod_cidr", "gateway": "$pod_gw", "rangeStart": "10.88.0.10"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
  cat >"$dir/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: "$rel"
failCgroupV1: false
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
address: "$node_ip"
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$dir/cp/pki/ca.crt"}
authorization: {mode: Webhook}
clusterDomain: cluster.local
resolvConf: ""
podLogsDir: "$dir/pod-logs"
failSwapOn: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
registerNode: true
EOF
  cat >"$dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$dir/kube-proxy.kubeconfig"}
mode: iptables
hostnameOverride: $node_name
clusterCIDR: $pod_cidr
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
nodePortAddresses: ["$node_ip/32"]
# Leave the host-wide conntrack table size alone.
conntrack: {maxPerCore: 0, min: 0}
EOF
}

# ---------------------------------------------------------------- netns
make_netns() {
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add node0 type bridge
  ip -n "$ns" addr add "$node_ip/24" dev node0
  # The metadata server's fixed address, local to the netns (GKE intercepts
  # it on each node): tests run the Google stand-in's metadata there.
  ip -n "$ns" addr add 169.254.169.254/32 dev node0
  ip -n "$ns" link set node0 up
  ip -n "$ns" link add cni0 type bridge
  ip -n "$ns" addr add "$pod_gw/16" dev cni0
  ip -n "$ns" link set cni0 up
  # Service IPs are only DNAT targets of kube-proxy: route them locally.
  ip -n "$ns" route add "$svc_cidr" dev node0
  # kube-proxy needs working iptables. This only lists the nat table inside
  # the netns (nothing is added, the host's tables are never touched); the
  # Service DNAT kube-proxy installs later lives in this netns too, which has
  # no route and no interface to the host, so nothing is translated outward.
  ip netns exec "$ns" iptables -w -t nat -S >/dev/null 2>&1 ||
    die "iptables does not work in a network namespace here (kube-proxy needs it): $(ip netns exec "$ns" iptables -w -t nat -S 2>&1 | head -1)"
  ip netns exec "$ns" sh -c '
    echo 1 >/proc/sys/net/ipv4/ip_forward
    if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
      echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
    fi'
}

# The holder: a pause process in the netns and a private (slave) mount
# namespace with the netns's own /sys, the host's cgroup hierarchies mounted
# again, and DIR's folders over /run/containerd and /var/lib/cni.
start_holder() {
  mkdir -p /run/containerd /var/lib/cni
  local mounts
  mounts="$(awk '$2 == "/sys/fs/cgroup" || $3 == "cgroup" || $3 == "cgroup2" {print $2, $3, $4}' /proc/self/mounts)"
  nsenter --net="/run/netns/$ns" -- unshare --mount --propagation slave -- bash -c '
    set -e
    umount -l /sys
    mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
    while read -r target type opts; do
      [ -n "$target" ] || continue
      mkdir -p "$target"
      mount -t "$type" -o "$opts" "$type" "$target"
    done <<<"$1"
    mount --bind "$2/run-containerd" /run/containerd
    mount --bind "$2/var-lib-cni" /var/lib/cni
    for h in $(cat "$2/cgroup-daemons"); do echo $$ >"$h/cgroup.procs"; done
    exec setsid "$3"' _ "$mounts" "$dir" "$(cat "$dir/bin")/pause" \
    >"$dir/holder.log" 2>&1 </dev/null &
  echo $! >"$dir/holder.pid"
  # Ready when its mount namespace differs from ours and pause runs.
  local i
  for ((i = 0; i < 50; i++)); do
    if [[ "$(readlink "/proc/$(holder_pid)/exe" 2>/dev/null)" == */pause ]]; then return 0; fi
    kill -0 "$(holder_pid)" 2>/dev/null || { cat "$dir/holder.log" >&2; die "could not set up the node's namespaces"; }
    sleep 0.1
  done
  die "the namespace holder did not start (log: $dir/holder.log)"
}

# ---------------------------------------------------------------- stop
stop_all() {
  local pid i
  # Graceful first: kubelet and containerd's shims (so runc cleans up), then
  # the rest; everything left in our cgroup tree is killed.
  for n in kube-proxy kubelet kube-scheduler kube-controller-manager containerd; do
    if alive "$n"; then kill -TERM "$(cat "$dir/$n.pid")" 2>/dev/null || true; fi
  done
  for ((i = 0; i < 25; i++)); do
    alive kubelet || alive containerd || break
    sleep 0.2
  done
  if [[ -f "$dir/cp-bin" ]] && alive holder; then
    nsenter -t "$(holder_pid)" -m -n -- "$here/../controlplane/cp.sh" stop "$dir/cp" 2>/dev/null || true
  fi
  for ((i = 0; i < 50; i++)); do
    pids="$(cg_pids)"
    [[ -z "$pids" ]] && break
    # shellcheck disable=SC2086
    if ((i < 10)); then kill -TERM $pids 2>/dev/null || true; else kill -KILL $pids 2>/dev/null || true; fi
    sleep 0.2
  done
  alive holder && kill -KILL "$(holder_pid)" 2>/dev/null || true
  for f in "$dir"/*.pid "$dir"/cp/*.pid; do
    [[ -f "$f" && "$f" != */watchdog.pid ]] || continue
    pid="$(cat "$f")"
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
  # (The watchdog itself runs this stop: it must not kill itself.)
  if [[ -f "$dir/watchdog.pid" ]]; then
    [[ "$(cat "$dir/watchdog.pid")" != "$$" ]] && kill "$(cat "$dir/watchdog.pid")" 2>/dev/null || true
    rm -f "$dir/watchdog.pid"
  fi
  # Mounts live in the holder's mount namespace and vanish with it; anything
  # that reached the host's (it should not) is unmounted here.
  local m
  for ((i = 0; i < 3; i++)); do
    m="$(awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)"
    [[ -z "$m" ]] && break
    while read -r p; do umount -l "$p" 2>/dev/null || true; done <<<"$m"
  done
  remove_cgroups
  if ip netns list | grep -qw "^$ns"; then ip netns del "$ns"; fi
  rm -f "$dir/cgroup-daemons" "$dir/cgroup"
}

start_watchdog() {
  local owner="${GTOKEN_NODE_OWNER:-}"
  [[ -n "$owner" ]] || return 0
  setsid bash -c '
    while kill -0 "$1" 2>/dev/null && [[ -f "$2/holder.pid" ]]; do sleep 1; done
    [[ -f "$2/holder.pid" ]] && exec "$3" stop "$2"' _ "$owner" "$dir" "$here/node.sh" \
    >/dev/null 2>&1 </dev/null &
  echo $! >"$dir/watchdog.pid"
}

# ---------------------------------------------------------------- start
start() {
  check_host
  if alive holder; then
    die "a node is already running in $dir (stop it first: $0 stop $dir)"
  fi
  # Whatever a killed run left behind goes first.
  if [[ -f "$dir/holder.pid" || -f "$dir/cgroup" ]] || ip netns list | grep -qw "^$ns"; then
    log "cleaning up what a previous run left in $dir"
    stop_all
  fi
  local cpbin bin
  cpbin="$("$here/../controlplane/build.sh" | tail -1)"
  bin="$("$here/build.sh" | tail -1)"
  echo "$cpbin" >"$dir/cp-bin"
  echo "$bin" >"$dir/bin"
  rm -rf "$dir"/*.log "$dir/cp" "$dir/kubelet" "$dir/containerd" "$dir/run-containerd" "$dir/var-lib-cni" \
    "$dir/pod-logs" "$dir/cni"
  # Any failure or interruption from here on stops what was started.
  local why="start failed"
  trap 'rc=$?; trap - EXIT; if ((rc)); then log "$why; stopping"; stop_all; fi; exit $rc' EXIT
  trap 'why=interrupted; exit 130' INT TERM
  make_cgroups
  local rel
  rel="$(cg_rel)"
  cgroup_mounts | sed "s|\$|$rel/daemons|" >"$dir/cgroup-daemons"
  write_configs
  make_netns
  start_holder

  # Control plane: cp.sh, inside the node, advertising the node IP.
  mkdir -p "$dir/cp"
  "$here/../controlplane/cp.sh" certs "$dir/cp"
  client_cert kubelet "system:node:$node_name" system:nodes
  client_cert kube-controller-manager system:kube-controller-manager
  client_cert kube-scheduler system:kube-scheduler
  client_cert kube-proxy system:kube-proxy
  log "starting etcd and kube-apiserver ..."
  nsenter -t "$(holder_pid)" -m -n -- bash -c '
    for h in $(cat "$1"); do echo $$ >"$h/cgroup.procs"; done
    shift; exec "$@"' _ "$dir/cgroup-daemons" env GTOKEN_CP_OWNER= \
    GTOKEN_CP_EXTRA_ARGS="--bind-address=0.0.0.0 --advertise-address=$node_ip \
--enable-admission-plugins=NodeRestriction --kubelet-preferred-address-types=InternalIP \
--kubelet-client-certificate=$dir/cp/pki/admin.crt --kubelet-client-key=$dir/cp/pki/admin.key ${GTOKEN_NODE_APISERVER_ARGS:-}" \
    "$here/../controlplane/cp.sh" start "$dir/cp" >"$dir/controlplane.log" 2>&1 ||
    { tail -20 "$dir/controlplane.log" >&2; die "the control plane did not start (log: $dir/controlplane.log)"; }
  for c in kubelet kube-controller-manager kube-scheduler kube-proxy; do kubeconfig "$c"; done
  # cp.sh authorizes with RBAC only (no Node authorizer): the group
  # system:nodes gets the system:node role (NodeRestriction still applies).
  in_node kubectl create clusterrolebinding gtoken-node:system:nodes --clusterrole system:node \
    --group system:nodes >/dev/null

  log "starting kube-controller-manager, kube-scheduler ..."
  launch kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$dir/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$dir/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$dir/kube-controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file "$dir/cp/pki/sa.key" --root-ca-file "$dir/cp/pki/ca.crt" \
    --cluster-cidr "$pod_cidr" --service-cluster-ip-range "$svc_cidr" \
    --controllers serviceaccount-token-controller,serviceaccount-controller,namespace-controller,job-controller,cronjob-controller,replicaset-controller,deployment-controller,statefulset-controller,daemonset-controller,disruption-controller,endpointslice-controller,endpointslice-mirroring-controller,garbage-collector-controller,root-ca-certificate-publisher-controller,pod-garbage-collector-controller,ttl-after-finished-controller,clusterrole-aggregation-controller,node-lifecycle-controller,taint-eviction-controller
  launch kube-scheduler "$bin/kube-scheduler" --kubeconfig "$dir/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig "$dir/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "$dir/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false

  log "starting containerd ..."
  launch containerd env PATH="$bin:$PATH" "$bin/containerd" --config "$dir/containerd/config.toml"
  wait_for "containerd's socket" 60 containerd in_node "$bin/ctr" --address /run/containerd/containerd.sock version
  local img images
  images="$("$here/build.sh" --images | tail -1)"
  for img in pause busybox gosdk; do
    in_node "$bin/ctr" --address /run/containerd/containerd.sock -n k8s.io images import \
      --platform linux/amd64 "$images/$img.tar" >>"$dir/images.log" 2>&1 ||
      { cat "$dir/images.log" >&2; die "importing image $img failed"; }
  done

  log "starting kubelet, kube-proxy ..."
  launch kubelet "$bin/kubelet" --config "$dir/kubelet/config.yaml" \
    --kubeconfig "$dir/kubelet.kubeconfig" --root-dir "$dir/kubelet" --cert-dir "$dir/kubelet/pki" \
    --hostname-override "$node_name" --node-ip "$node_ip" -v 2
  launch kube-proxy "$bin/kube-proxy" --config "$dir/kube-proxy.yaml" -v 2
  wait_for "Node $node_name to register" 120 kubelet in_node kubectl get node "$node_name"
  for c in kube-controller-manager kube-scheduler kube-proxy; do
    alive "$c" || { tail -20 "$dir/$c.log" >&2; die "$c exited (log: $dir/$c.log)"; }
  done
  start_watchdog
  trap - EXIT INT TERM
  log "ready: node $node_name in netns $ns; $0 exec $dir kubectl get nodes"
}

case "$cmd" in
  start) start ;;
  check)
    check_host
    log "this host can run the node"
    ;;
  stop)
    stop_all
    log "stopped ($dir)"
    ;;
  exec)
    alive holder || die "the node in $dir is not running"
    in_node "$@"
    ;;
  env)
    echo "NETNS=$ns"
    echo "KUBECONFIG=$dir/cp/kubeconfig"
    echo "KUBECTL=$(cat "$dir/cp-bin")/kubectl"
    echo "HOLDER_PID=$(holder_pid)"
    echo "NODE_IP=$node_ip"
    ;;
  *)
    sed -n '2,/^set -/p' "$0" | sed '$d' >&2
    exit 2
    ;;
esac
