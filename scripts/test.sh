#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, builds
# the pinned kube-apiserver/etcd/kubectl once (cached), builds gtoken twice
# (RelWithDebInfo, and Debug with ASan+UBSan for the unit tests), then runs
# every test through one ctest invocation whose summary is the last output.
#
#   scripts/test.sh                 everything
#   scripts/test.sh -L unit         only unit tests (ctest arguments pass through)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

"$repo/scripts/setup.sh"
"$repo/tests/controlplane/build.sh" >/dev/null
# The real node's kubelet, controller-manager, scheduler, kube-proxy and
# containerd (tests/node): built once per machine and cached like the above.
"$repo/tests/node/build.sh" >/dev/null
# helm for the chart's tests (tests/helm), from the Go module proxy, cached alike.
"$repo/tests/helm/build.sh" >/dev/null

jobs="${GTOKEN_JOBS:-$(nproc)}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGTOKEN_ASAN_BUILD_DIR="$repo/build-asan" >/dev/null
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGTOKEN_SANITIZE=ON >/dev/null
echo "[test] building (RelWithDebInfo) ..." >&2
ninja -C build -j "$jobs" >/dev/null || ninja -C build -j 1
echo "[test] building unit tests with ASan+UBSan ..." >&2
ninja -C build-asan -j "$jobs" unit_tests >/dev/null || ninja -C build-asan -j 1 unit_tests

# Anything a test starts (control planes, stand-ins, operators) dies with us.
export GTOKEN_CP_OWNER=$$
cleanup() {
  for d in "$repo"/build/cp* "$repo"/build/tests/*/cp*; do
    [[ -f "$d/etcd.pid" ]] && "$repo/tests/controlplane/cp.sh" stop "$d" >/dev/null 2>&1
  done
  for d in "$repo"/build/node-*; do
    [[ -f "$d/holder.pid" ]] && "$repo/tests/node/node.sh" stop "$d" >/dev/null 2>&1
  done
  return 0
}
trap cleanup EXIT INT TERM

ctest --test-dir build --output-on-failure -j "${GTOKEN_TEST_JOBS:-2}" "$@"
