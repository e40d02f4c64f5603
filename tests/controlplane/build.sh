#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd of the pinned release from source
# through the Go module proxy, once per machine.
#
# Everything (module downloads, Go build cache, binaries) lives under
# $GTOKEN_CACHE (default ~/.cache/gtoken), keyed by the Kubernetes version and
# a hash of the wrapper modules, so a second run only checks a stamp file.
# Prints the bin directory on its last line of stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache="${GTOKEN_CACHE:-$HOME/.cache/gtoken}"
key="$(cat "$here/build.sh" "$here/versions.env" "$here"/wrapper/kube/go.mod "$here"/wrapper/etcd/go.mod \
  "$here"/wrapper/kube/cmd/*/main.go "$here"/wrapper/etcd/main.go | sha256sum | cut -c1-12)"
out="$cache/k8s-$K8S_VERSION-$key"
bin="$out/bin"

log() { echo "[controlplane-build] $*" >&2; }

if [[ -x "$bin/kube-apiserver" && -x "$bin/kubectl" && -x "$bin/etcd" && -f "$out/stamp" ]]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { log "go is required (Debian: golang, or the machine's Go)"; exit 1; }

export GOMODCACHE="$cache/go/mod"
export GOCACHE="$cache/go/build"
export GOFLAGS="-mod=mod"
export CGO_ENABLED=0
mkdir -p "$bin" "$GOMODCACHE" "$GOCACHE"

# Serialise concurrent builds on one machine (two test runs at once).
exec 9>"$cache/.build-$K8S_VERSION.lock"
flock 9
if [[ -x "$bin/kube-apiserver" && -x "$bin/kubectl" && -x "$bin/etcd" && -f "$out/stamp" ]]; then
  echo "$bin"
  exit 0
fi

work="$out/src"
rm -rf "$work"
mkdir -p "$work"
cp -r "$here/wrapper/." "$work/"

build() { # module-dir package output
  local dir="$1" pkg="$2" name="$3" start
  start=$(date +%s)
  log "building $name (first build on a machine takes several minutes) ..."
  # A heartbeat, so a person watching knows the long first build is alive.
  (while sleep 30; do log "... still building $name ($(( $(date +%s) - start ))s)"; done) &
  local ticker=$!
  (cd "$dir" && go build -trimpath -ldflags="-s -w $ldflags" -o "$bin/$name.tmp" "$pkg") || {
    kill "$ticker" 2>/dev/null
    return 1
  }
  kill "$ticker" 2>/dev/null || true
  mv "$bin/$name.tmp" "$bin/$name"
  log "built $name in $(( $(date +%s) - start ))s"
}

# Stamp the release into the binaries as the upstream build does, so
# /version, kubectl version and feature detection see v1.N.P, not v0.0.0.
minor="${K8S_VERSION#v1.}"
minor="${minor%%.*}"
vpkg=k8s.io/component-base/version
ldflags="-X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor"
ldflags+=" -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"

log "resolving modules for Kubernetes $K8S_VERSION and etcd $ETCD_VERSION ..."
(cd "$work/etcd" && go mod tidy >&2)
(cd "$work/kube" && go mod tidy >&2)

build "$work/etcd" . etcd
build "$work/kube" ./cmd/kube-apiserver kube-apiserver
build "$work/kube" ./cmd/kubectl kubectl

date -u +%FT%TZ >"$out/stamp"
log "binaries in $bin"
echo "$bin"
