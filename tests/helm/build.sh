#!/usr/bin/env bash
# Builds the helm binary of HELM_VERSION (tests/helm/versions.env) from the Go
# module proxy, once per machine, for the chart's tests (charts/gtoken).
#
# `go install helm.sh/helm/v3/cmd/helm@VERSION` builds exactly the release's
# own go.mod and go.sum, with the version stamps of Helm's Makefile (the
# release, and the Kubernetes minor of its client-go as the default
# .Capabilities.KubeVersion of `helm template` and `helm lint`).
# The binary lives in $GTOKEN_CACHE/helm-VERSION-KEY/bin (default
# ~/.cache/gtoken), keyed by this script, versions.env and tests/lib/gobuild.sh;
# the Go module and build caches are the ones the control plane and the node
# share. A second run only checks a stamp file.
#
#   build.sh     prints the bin directory on its last line of stdout
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
# shellcheck source=../lib/gobuild.sh
source "$here/../lib/gobuild.sh"

log() { echo "[helm-build] $*" >&2; }

cache="$(gobuild_cache)"
key="$(cat "$here/build.sh" "$here/versions.env" "$here/../lib/gobuild.sh" | sha256sum | cut -c1-12)"
out="$cache/helm-$HELM_VERSION-$key"
bin="$out/bin"
built() { [[ -x "$bin/helm" && -f "$out/stamp" ]]; }

if built; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
gobuild_env "$cache"
# Outside any module (go install of pkg@version takes no -mod flag), whatever
# the caller's GOFLAGS say.
export GOFLAGS=-buildvcs=false
cd "$cache"
gobuild_lock "$cache" "helm-$HELM_VERSION"
if built; then
  echo "$bin"
  exit 0
fi

module=helm.sh/helm/${HELM_VERSION%%.*}
# The Kubernetes minor Helm's Makefile stamps: client-go v0.N.P is Kubernetes 1.N.
gomod="$(go mod download -json "$module@$HELM_VERSION" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
client_go="$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$gomod")"
[[ "$client_go" =~ ^v0\.([0-9]+)\.[0-9]+$ ]] || { log "no k8s.io/client-go v0.N.P in $gomod"; exit 1; }
k8s_minor="${BASH_REMATCH[1]}"
ldflags="-s -w -X $module/internal/version.version=$HELM_VERSION"
ldflags+=" -X $module/internal/version.gitTreeState=clean"
for pkg in pkg/lint/rules pkg/chartutil; do
  ldflags+=" -X $module/$pkg.k8sVersionMajor=1 -X $module/$pkg.k8sVersionMinor=$k8s_minor"
done

rm -rf "$bin"
mkdir -p "$bin"
GOBIN="$bin" gobuild_run "helm $HELM_VERSION" \
  go install -trimpath -ldflags="$ldflags" "$module/cmd/helm@$HELM_VERSION"
"$bin/helm" version --template '{{.Version}}' | grep -qx "$HELM_VERSION" ||
  { log "$bin/helm does not report $HELM_VERSION"; exit 1; }
date -u +%FT%TZ >"$out/stamp"
log "helm $HELM_VERSION in $bin"
echo "$bin"
