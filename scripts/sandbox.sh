#!/usr/bin/env bash
# The README's first command: the whole gtoken story on this machine.
# Installs what is missing, builds the control plane (once, cached) and
# gtoken, then runs scripts/sandbox.py (see it for --keep and --stop).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
if [[ "${1:-}" == "--stop" ]]; then
  exec "$repo/.venv/bin/python" "$repo/scripts/sandbox.py" --stop
fi
echo "==> installing what is missing (Debian packages, .venv)"
"$repo/scripts/setup.sh"
echo "==> building kube-apiserver, etcd and kubectl from source (first time only: several minutes)"
"$repo/tests/controlplane/build.sh" >/dev/null
# The real node (kubelet, containerd, ...; tests/node), where this host can run it.
if [[ " $* " != *" --host-processes "* ]] && "$repo/tests/node/node.sh" check "$repo/.run/sandbox/node" 2>/dev/null; then
  echo "==> building kubelet, controller-manager, scheduler, kube-proxy, containerd (first time only)"
  "$repo/tests/node/build.sh" >/dev/null
fi
echo "==> building gtoken-operator, gtoken and kubectl-gtoken"
build="${GTOKEN_BUILD_DIR:-$repo/build}"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" gtoken-operator gtoken gtoken-https kubectl-gtoken | grep -E '^\[[0-9]+/[0-9]+\]' | awk 'NR % 10 == 1' || true
ninja -C "$build" gtoken-operator gtoken gtoken-https kubectl-gtoken >/dev/null
export GTOKEN_BUILD_DIR="$build"
exec "$repo/.venv/bin/python" "$repo/scripts/sandbox.py" "$@"
