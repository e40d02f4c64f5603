#!/usr/bin/env bash
# Builds the control plane (kube-apiserver, kubectl, etcd) of another
# Kubernetes release than the pinned one, for compatibility tests:
#
#   GTOKEN_K8S_VERSION=v1.29.15 GTOKEN_ETCD_VERSION=v3.5.16 tests/controlplane/build-version.sh
#
# Prints the bin directory on its last line of stdout, like build.sh. With
# neither variable set it is exactly build.sh (the pinned release, same cache
# folder). With one or both set it runs build.sh from a staged copy of this
# folder whose versions.env and wrapper go.mod files carry the override
# (the release's k8s.io staging modules at v0.MINOR.PATCH), so the build recipe is
# build.sh's own and the cache folder, $GTOKEN_CACHE/k8s-VERSION-KEY, is
# keyed by the overridden inputs: the pinned release's key never changes,
# and each version is built once per machine. Run at nice 19.
#
# build.sh itself is left unchanged on purpose: its own bytes are part of the
# pinned release's cache key (and tests/node/build.sh hashes versions.env),
# so editing either would rebuild every machine's cache.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${GTOKEN_K8S_VERSION:-}" && -z "${GTOKEN_ETCD_VERSION:-}" ]]; then
  exec "$here/build.sh"
fi

# shellcheck source=versions.env
source "$here/versions.env"
k8s="${GTOKEN_K8S_VERSION:-$K8S_VERSION}"
etcd="${GTOKEN_ETCD_VERSION:-$ETCD_VERSION}"
[[ "$k8s" =~ ^v1\.[0-9]+\.[0-9]+$ ]] || { echo "GTOKEN_K8S_VERSION: want v1.N.P, got '$k8s'" >&2; exit 2; }
[[ "$etcd" =~ ^v3\.[0-9]+\.[0-9]+$ ]] || { echo "GTOKEN_ETCD_VERSION: want v3.N.P, got '$etcd'" >&2; exit 2; }
if [[ "$k8s" == "$K8S_VERSION" && "$etcd" == "$ETCD_VERSION" ]]; then
  exec "$here/build.sh"
fi

cache="${GTOKEN_CACHE:-$HOME/.cache/gtoken}"
mkdir -p "$cache"
stage="$(mktemp -d "$cache/.stage-k8s-$k8s.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
cp "$here/build.sh" "$stage/"
cp -r "$here/wrapper" "$stage/"
printf '# Staged by build-version.sh from %s/versions.env (override).\nK8S_VERSION=%s\nETCD_VERSION=%s\n' \
  "$here" "$k8s" "$etcd" >"$stage/versions.env"
# The replace block: the release's own go.mod replaces every k8s.io staging
# module with ./staging/src/k8s.io/X; outside its tree that is k8s.io/X at
# v0.N.P (the list differs between releases, hence read from the release).
staging="v0.${k8s#v1.}"
export GOMODCACHE="$cache/go/mod" GOFLAGS=-mod=mod
gomod="$(cd "$stage" && go mod download -json "k8s.io/kubernetes@$k8s" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
{
  printf 'module gtoken.io/testcontrolplane/kube\n\n%s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' \
    "$(grep -m1 '^go ' "$here/wrapper/kube/go.mod")" "$k8s"
  sed -n "s#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*\$#\t\1 => \1 $staging#p" "$gomod"
  printf ')\n'
} >"$stage/wrapper/kube/go.mod"
sed -i "s#^require go.etcd.io/etcd/server/v3 .*#require go.etcd.io/etcd/server/v3 $etcd#" \
  "$stage/wrapper/etcd/go.mod"
if ! grep -q "k8s.io/kubernetes $k8s\$" "$stage/wrapper/kube/go.mod" ||
  ! grep -q "server/v3 $etcd\$" "$stage/wrapper/etcd/go.mod" ||
  (($(grep -c " => k8s.io/" "$stage/wrapper/kube/go.mod") < 10)); then
  echo "build-version.sh: could not rewrite the wrapper go.mod files" >&2
  exit 1
fi
nice -n 19 "$stage/build.sh"
