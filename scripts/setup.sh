#!/usr/bin/env bash
# Installs what building and testing gtoken needs, idempotently: only the
# Debian packages that are missing, then the project's Python venv.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  g++ cmake ninja-build ccache pkg-config curl openssl
  libboost1.81-dev libboost-program-options1.81-dev
  libyaml-cpp-dev nlohmann-json3-dev doctest-dev libssl-dev
  clang libclang-rt-14-dev clang-format clang-tidy
  wrk nghttp2-client time
  awscli
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[setup] installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if ! command -v go >/dev/null; then
  for g in /usr/local/go/bin /usr/lib/go/bin; do [[ -x $g/go ]] && export PATH="$g:$PATH"; done
fi
command -v go >/dev/null || {
  echo "[setup] Go (1.26 or newer) is needed to build the test control plane" >&2
  exit 1
}

# promtool for the monitoring checks: only the binary out of Debian's
# prometheus package, cached (installing the package would start a server).
"$repo/scripts/promtool.sh" >/dev/null

if [[ -x "$repo/scripts/setup-python.sh" ]]; then
  "$repo/scripts/setup-python.sh"
fi
