#!/usr/bin/env bash
# Prints the path of a promtool (Prometheus's rule checker) on its last line
# of stdout, installing it once per machine if needed.
#
# A promtool on PATH wins. Otherwise Debian's `prometheus` package is fetched
# with `apt-get download` and only /usr/bin/promtool is unpacked into
# $GTOKEN_CACHE (default ~/.cache/gtoken), keyed by the package version:
# installing the package itself would also start a Prometheus server on
# 0.0.0.0:9090, which the tests do not want. Exits non-zero, saying why, when
# neither a promtool nor apt is available (the monitoring checks fail rather
# than skip).
set -euo pipefail

log() { echo "[promtool] $*" >&2; }

if command -v promtool >/dev/null; then
  command -v promtool
  exit 0
fi
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
  log "no promtool on PATH and no apt-get/dpkg-deb to fetch Debian's prometheus package"
  exit 1
}
version="$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}')"
if [[ -z $version || $version == "(none)" ]]; then
  log "apt knows no prometheus package (run apt-get update, or put promtool on PATH)"
  exit 1
fi
cache="${GTOKEN_CACHE:-$HOME/.cache/gtoken}"
out="$cache/promtool-${version//[^A-Za-z0-9.+-]/_}"
if [[ -x $out/promtool ]]; then
  echo "$out/promtool"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.promtool.lock"
flock 9
if [[ ! -x $out/promtool ]]; then
  tmp="$(mktemp -d "$cache/.promtool.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  log "fetching Debian's prometheus $version for promtool"
  (cd "$tmp" && apt-get download -qq "prometheus=$version" >&2 2>/dev/null) ||
    (cd "$tmp" && apt-get download "prometheus=$version" >&2)
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
  mkdir -p "$out"
  install -m 0755 "$tmp/root/usr/bin/promtool" "$out/promtool.new"
  mv "$out/promtool.new" "$out/promtool"
fi
echo "$out/promtool"
