#!/usr/bin/env bash
# Builds what a real node needs, once per machine (issue #10):
#   - kubelet, kube-controller-manager, kube-scheduler, kube-proxy of the
#     pinned release (tests/controlplane/versions.env), from source through
#     the Go module proxy, like tests/controlplane/build.sh builds
#     kube-apiserver (wrapper module: tests/node/wrapper/kube);
#   - containerd, containerd-shim-runc-v2 and ctr of CONTAINERD_VERSION
#     (tests/node/versions.env) from the module proxy;
#   - pause, the holder of the node's namespaces (and the sandbox image's
#     program);
#   - the node's test images (pause, busybox, gosdk) as OCI archives, by
#     tests/node/images/build.sh, for `ctr images import`;
# and installs runc, the CNI plugins, iptables and busybox-static from Debian
# when they are missing.
#
# Everything lives under $GTOKEN_CACHE (default ~/.cache/gtoken): binaries in
# node-<k8s version>-<hash of this script, the versions, the wrapper and
# pause's sources>/bin, images in node-images-<their own hash>, so changing an
# image rebuilds no binary. The Go module and build caches are shared with
# tests/controlplane/build.sh. Builds run at nice 19. The control plane's own
# build (and its cache key) is not touched: run it separately.
#
#   build.sh            prints the bin directory on its last line of stdout
#   build.sh --images   prints the images directory instead
set -euo pipefail

print=bin
case "${1:-}" in
  "") ;;
  --images) print=images ;;
  *) echo "usage: tests/node/build.sh [--images]" >&2; exit 2 ;;
esac
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../controlplane/versions.env
source "$here/../controlplane/versions.env"
# shellcheck source=versions.env
source "$here/versions.env"

cache="${GTOKEN_CACHE:-$HOME/.cache/gtoken}"
key="$(cat "$here/build.sh" "$here/versions.env" "$here/../controlplane/versions.env" \
  "$here"/wrapper/kube/go.mod "$here"/wrapper/kube/cmd/*/main.go \
  "$here"/wrapper/containerd/go.mod "$here"/wrapper/containerd/tools.go \
  "$here"/images/pause/go.mod "$here"/images/pause/main.go |
  sha256sum | cut -c1-12)"
out="$cache/node-$K8S_VERSION-$key"
bin="$out/bin"
wanted=(kubelet kube-controller-manager kube-scheduler kube-proxy containerd containerd-shim-runc-v2 ctr pause)

log() { echo "[node-build] $*" >&2; }
die() { log "error: $*"; exit 1; }

# Debian packages the node uses as they are: command/file -> package.
debian_deps() {
  local missing=()
  command -v runc >/dev/null || missing+=(runc)
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] ||
    missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  [[ -x /bin/busybox ]] || missing+=(busybox-static)
  ((${#missing[@]})) || return 0
  [[ "$(id -u)" == 0 ]] || die "missing Debian packages (${missing[*]}); install them as root: apt-get install ${missing[*]}"
  log "installing from Debian: ${missing[*]}"
  exec 8>"$cache/.apt.lock"
  flock 8
  DEBIAN_FRONTEND=noninteractive nice -n 19 apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || {
    nice -n 19 apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive nice -n 19 apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  }
  exec 8>&-
}

complete() {
  [[ -f "$out/stamp" ]] || return 1
  local b
  for b in "${wanted[@]}"; do [[ -x "$bin/$b" ]] || return 1; done
}

# The images (their own cache folder), then what to print.
finish() {
  local images
  images="$("$here/images/build.sh" | tail -1)"
  if [[ "$print" == images ]]; then echo "$images"; else echo "$bin"; fi
  exit 0
}

mkdir -p "$cache"
debian_deps
if complete; then finish; fi

command -v go >/dev/null || die "go is required (Debian: golang, or the machine's Go)"

export GOMODCACHE="$cache/go/mod"
export GOCACHE="$cache/go/build"
export GOFLAGS="-mod=mod"
export CGO_ENABLED=0
mkdir -p "$bin" "$GOMODCACHE" "$GOCACHE"

# Serialise concurrent builds on one machine (two test runs at once).
exec 9>"$cache/.build-node-$K8S_VERSION.lock"
flock 9
if complete; then
  exec 9>&-
  finish
fi

work="$out/src"
rm -rf "$work"
mkdir -p "$work"
cp -r "$here/wrapper/." "$work/"
cp -r "$here/images/pause" "$work/pause"

build() { # module-dir package output [extra go flags...]
  local dir="$1" pkg="$2" name="$3" start
  shift 3
  start=$(date +%s)
  log "building $name (the first build on a machine takes several minutes) ..."
  # A heartbeat, so a person watching knows the long first build is alive.
  (while sleep 30; do log "... still building $name ($(( $(date +%s) - start ))s)"; done) &
  local ticker=$!
  (cd "$dir" && nice -n 19 go build -trimpath "$@" -o "$bin/$name.tmp" "$pkg") || {
    kill "$ticker" 2>/dev/null
    return 1
  }
  kill "$ticker" 2>/dev/null || true
  mv "$bin/$name.tmp" "$bin/$name"
  log "built $name in $(( $(date +%s) - start ))s"
}

# Stamp the release into the binaries as the upstream build does (the same
# flags as tests/controlplane/build.sh).
minor="${K8S_VERSION#v1.}"
minor="${minor%%.*}"
vpkg=k8s.io/component-base/version
kflags="-X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor"
kflags+=" -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
kflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
cpkg=github.com/containerd/containerd/v2/version
cflags="-X $cpkg.Version=$CONTAINERD_VERSION -X $cpkg.Revision=gtoken -X $cpkg.Package=github.com/containerd/containerd/v2"

log "resolving modules for Kubernetes $K8S_VERSION and containerd $CONTAINERD_VERSION ..."
(cd "$work/kube" && nice -n 19 go mod tidy >&2)
(cd "$work/containerd" && go mod edit -require="github.com/containerd/containerd/v2@$CONTAINERD_VERSION" &&
  nice -n 19 go mod tidy >&2)

for c in kubelet kube-controller-manager kube-scheduler kube-proxy; do
  build "$work/kube" "./cmd/$c" "$c" -ldflags="-s -w $kflags"
done
# containerd's own release build tags: no cgo-only snapshotters.
ctags="no_btrfs no_devmapper no_zfs"
build "$work/containerd" github.com/containerd/containerd/v2/cmd/containerd containerd -tags "$ctags" -ldflags="-s -w $cflags"
build "$work/containerd" github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 containerd-shim-runc-v2 -tags "$ctags" -ldflags="-s -w $cflags"
build "$work/containerd" github.com/containerd/containerd/v2/cmd/ctr ctr -tags "$ctags" -ldflags="-s -w $cflags"

build "$work/pause" . pause -ldflags="-s -w"

rm -rf "$work"
date -u +%FT%TZ >"$out/stamp"
log "binaries in $bin"
exec 9>&-
finish
