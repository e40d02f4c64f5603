#!/usr/bin/env bash
# Builds gtoken's two container images as OCI archives from a CMake build
# directory, without a container engine and without pulling anything:
#
#   images/build.sh [--tag TAG] [--repo REPO] BUILD_DIR OUT_DIR
#
#   OUT_DIR/gtoken-operator.tar  REPO/gtoken-operator:TAG  entrypoint /gtoken-operator
#   OUT_DIR/gtoken.tar           REPO/gtoken:TAG           entrypoint /gtoken (+ /gtoken-https)
#
# REPO defaults to gtoken.local, TAG to dev. Each image is one layer: stripped
# copies of the binaries (the build tree is not touched), exactly the shared
# libraries `ldd` reports for them at the paths it reports (and the dynamic
# loader), the host's CA bundle (/etc/ssl/certs/ca-certificates.crt, also
# where OpenSSL's default verify paths look), and a three-line /etc/passwd,
# /etc/group and /etc/nsswitch.conf. User 65532:65532, no shell. The same
# build directory gives the same digests. With a -DGTOKEN_STATIC_DEPS=ON
# build the library set shrinks to glibc's; with the default dynamic build
# the images carry Boost, yaml-cpp, OpenSSL and libstdc++ too.
#
# As root, each image is then checked: its layer is unpacked and every binary
# runs in a chroot of it as user 65532 (--help / --version), which fails if a
# library is missing. Prints the archive paths, one a line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tag=dev
repo=gtoken.local
usage() { echo "usage: images/build.sh [--tag TAG] [--repo REPO] BUILD_DIR OUT_DIR" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --tag) tag="${2:?}"; shift 2 ;;
    --repo) repo="${2:?}"; shift 2 ;;
    -h | --help) usage ;;
    -*) usage ;;
    *) break ;;
  esac
done
(($# == 2)) || usage
build="$(cd "$1" && pwd)"
mkdir -p "$2"
out="$(cd "$2" && pwd)"

log() { echo "[images] $*" >&2; }
die() { log "error: $*"; exit 1; }

ca=/etc/ssl/certs/ca-certificates.crt
[[ -s "$ca" ]] || die "$ca missing (Debian: apt-get install ca-certificates)"
command -v strip >/dev/null || die "strip missing (Debian: binutils)"
# Where the OpenSSL in use looks for CA certificates by default
# (set_default_verify_paths: OPENSSLDIR/cert.pem); Debian's is /usr/lib/ssl.
openssldir="$(openssl version -d 2>/dev/null | sed -n 's/^OPENSSLDIR: "\(.*\)"$/\1/p')"
openssldir="${openssldir:-/usr/lib/ssl}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The files every image shares.
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$tmp/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$tmp/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$tmp/nsswitch.conf"
common=(
  "$tmp/passwd:/etc/passwd:0644" "$tmp/group:/etc/group:0644"
  "$tmp/nsswitch.conf:/etc/nsswitch.conf:0644" "$ca:$ca:0644"
  --symlink "$openssldir/cert.pem:$ca"
)

# libs BINARY: the shared objects the loader maps for BINARY, one absolute
# path a line, as ldd reports them (the loader by its own path); nothing for
# a static binary.
libs() {
  local report
  report="$(LC_ALL=C ldd "$1" 2>&1)" || {
    grep -Eq 'not a dynamic executable|statically linked' <<<"$report" && return 0
    die "ldd $1: $report"
  }
  grep -q 'statically linked' <<<"$report" && return 0
  ! grep -q 'not found' <<<"$report" || die "ldd $1: a library is not found:"$'\n'"$report"
  awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }' <<<"$report"
}

# stage IMAGE NAME SRC: a stripped copy of SRC as $tmp/IMAGE/NAME, listed for
# the image as /NAME, and its libraries listed in $tmp/IMAGE.libs.
stage() {
  local image="$1" name="$2" src="$3" copy lib
  [[ -x "$src" ]] || die "$src missing: build it first (ninja -C $build gtoken-operator gtoken gtoken-https)"
  mkdir -p "$tmp/$image"
  copy="$tmp/$image/$name"
  strip --strip-all -o "$copy" "$src"
  echo "$copy:/$name:0755" >>"$tmp/$image.list"
  while read -r lib; do
    [[ -n "$lib" ]] && echo "$(readlink -f "$lib"):$lib" >>"$tmp/$image.libs"
  done < <(libs "$copy")
}

# image NAME ENTRYPOINT: writes OUT_DIR/NAME.tar.
image() {
  local image="$1" entry="$2"
  touch "$tmp/$image.libs"
  # A library two binaries need is listed once.
  sort -u "$tmp/$image.libs" >>"$tmp/$image.list"
  python3 "$here/oci-image.py" --name "$repo/$image:$tag" --out "$out/$image.tar" \
    --entrypoint "$entry" --user 65532:65532 --files-from "$tmp/$image.list" "${common[@]}" >/dev/null
}

# check NAME CMD...: as root, runs each CMD (a binary of the image and its
# arguments) in a chroot of the image's unpacked layer, as 65532.
check() {
  local image="$1" root layer
  root="$tmp/$image.root"
  shift
  mkdir -p "$root"
  layer="$(python3 - "$out/$image.tar" <<'EOF'
import json, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    blob = lambda d: t.extractfile("blobs/sha256/" + d.split(":")[1]).read()
    index = json.loads(t.extractfile("index.json").read())
    manifest = json.loads(blob(index["manifests"][0]["digest"]))
    print("blobs/sha256/" + manifest["layers"][0]["digest"].split(":")[1])
EOF
)"
  tar -xOf "$out/$image.tar" "$layer" | tar -xz -C "$root"
  local cmd
  for cmd in "$@"; do
    # shellcheck disable=SC2086 # each CMD is a binary and its arguments
    chroot --userspec=65532:65532 "$root" $cmd >/dev/null 2>"$tmp/check.err" ||
      die "$image: '$cmd' does not run in the image: $(cat "$tmp/check.err")"
  done
  log "$image: ran as 65532 in a chroot of its layer: $*"
}

sizes() { # image: layer size uncompressed, archive size
  local image="$1"
  python3 - "$out/$image.tar" <<'EOF'
import json, sys, tarfile, gzip
with tarfile.open(sys.argv[1]) as t:
    blob = lambda d: t.extractfile("blobs/sha256/" + d.split(":")[1]).read()
    index = json.loads(t.extractfile("index.json").read())
    manifest = json.loads(blob(index["manifests"][0]["digest"]))
    layer = blob(manifest["layers"][0]["digest"])
    print(f"{len(gzip.decompress(layer)) / 1e6:.1f} MB uncompressed, "
          f"{len(layer) / 1e6:.1f} MB compressed, manifest {index['manifests'][0]['digest'][:19]}")
EOF
}

stage gtoken-operator gtoken-operator "$build/cmd/gtoken-operator/gtoken-operator"
image gtoken-operator /gtoken-operator
stage gtoken gtoken "$build/agent/gtoken"
stage gtoken gtoken-https "$build/agent/gtoken-https"
image gtoken /gtoken

for i in gtoken-operator gtoken; do log "$out/$i.tar ($repo/$i:$tag): $(sizes "$i")"; done
if [[ "$(id -u)" == 0 ]]; then
  check gtoken-operator "/gtoken-operator --help"
  check gtoken "/gtoken --version" "/gtoken-https --version" "/gtoken --help"
else
  log "not root: the chroot check of the images is skipped"
fi
echo "$out/gtoken-operator.tar"
echo "$out/gtoken.tar"
