#!/usr/bin/env bash
# The node's test images as OCI archives (issue #10), for node.sh's
# `ctr images import`; never pulled:
#   pause.tar    gtoken.local/pause:1    containerd's sandbox image (./pause)
#   busybox.tar  gtoken.local/busybox:1  Debian's busybox-static, /bin/sh
#   gosdk.tar    gtoken.local/gosdk:1    tests/e2e/gosdk: aws-sdk-go-v2 calling
#                                        sts:GetCallerIdentity, static, user 65532
# written by images/oci-image.py (the writer images/build.sh uses for
# gtoken's own images) into $GTOKEN_CACHE/node-images-<hash of this script,
# the writer and the Go sources>, apart from the node's binaries, so changing
# an image rebuilds no Kubernetes binary. Go module and build caches are the
# ones tests/node/build.sh uses. Run by tests/node/build.sh (which installs
# busybox-static); prints the images folder on its last line of stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
gosdk="$repo/tests/e2e/gosdk"
writer="$repo/images/oci-image.py"
cache="${GTOKEN_CACHE:-$HOME/.cache/gtoken}"
key="$(cat "$here/build.sh" "$writer" "$here/pause/go.mod" "$here/pause/main.go" \
  "$gosdk/go.mod" "$gosdk/go.sum" "$gosdk/main.go" | sha256sum | cut -c1-12)"
out="$cache/node-images-$key"
names=(pause busybox gosdk)

log() { echo "[node-images] $*" >&2; }
die() { log "error: $*"; exit 1; }

complete() {
  local n
  for n in "${names[@]}"; do [[ -f "$out/$n.tar" ]] || return 1; done
}

if complete; then
  echo "$out"
  exit 0
fi
command -v go >/dev/null || die "go is required (Debian: golang, or the machine's Go)"
[[ -x /bin/busybox ]] || die "/bin/busybox missing (Debian: busybox-static; tests/node/build.sh installs it)"

export GOMODCACHE="$cache/go/mod"
export GOCACHE="$cache/go/build"
export GOFLAGS="-mod=mod"
export CGO_ENABLED=0
mkdir -p "$out" "$GOMODCACHE" "$GOCACHE"

exec 9>"$cache/.build-node-images.lock"
flock 9
if complete; then
  echo "$out"
  exit 0
fi

# Build from copies: -mod=mod may rewrite go.mod, and the tree stays as it is.
work="$out/src"
rm -rf "$work"
mkdir -p "$work/gosdk"
cp -r "$here/pause" "$work/pause"
cp "$gosdk/go.mod" "$gosdk/go.sum" "$gosdk/main.go" "$work/gosdk/"
for m in pause gosdk; do
  log "building $m ..."
  (cd "$work/$m" && nice -n 19 go build -trimpath -ldflags="-s -w" -o "$work/$m.bin" .)
done

python3 "$writer" --name gtoken.local/pause:1 --out "$out/pause.tar" \
  --entrypoint /pause --user 65535:65535 --dir /tmp:1777 "$work/pause.bin:/pause:0755" >/dev/null
python3 "$writer" --name gtoken.local/busybox:1 --out "$out/busybox.tar" \
  --entrypoint /bin/sh --dir /tmp:1777 --symlink /bin/sh:busybox "/bin/busybox:/bin/busybox:0755" >/dev/null
python3 "$writer" --name gtoken.local/gosdk:1 --out "$out/gosdk.tar" \
  --entrypoint /gosdk --user 65532:65532 "$work/gosdk.bin:/gosdk:0755" >/dev/null
rm -rf "$work"
log "images in $out: pause.tar (gtoken.local/pause:1), busybox.tar (gtoken.local/busybox:1), gosdk.tar (gtoken.local/gosdk:1)"
echo "$out"
