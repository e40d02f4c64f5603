#!/usr/bin/env bash
# Watch-and-cache throughput from a real kube-apiserver (see watch_bench.cpp).
#   tests/bench/watch_bench.sh [N=10000]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${GTOKEN_BUILD_DIR:-$repo/build}"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" watch_bench >/dev/null
dir="$build/cp-bench-watch"
trap '"$repo/tests/controlplane/cp.sh" stop "$dir" >/dev/null 2>&1' EXIT
"$repo/tests/controlplane/cp.sh" start "$dir"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; kube-apiserver $(grep K8S_VERSION "$repo/tests/controlplane/versions.env" | cut -d= -f2)"
"$build/tests/bench/watch_bench" "$dir/kubeconfig" "${1:-10000}"
