#!/usr/bin/env bash
# A brief libFuzzer run of the admission handler, for CI.
#
#   tests/fuzz/run_fuzz.sh BUILD_DIR [SECONDS]
#
# Configures BUILD_DIR with clang++ and GTOKEN_FUZZ=ON (a build of its own:
# the fuzzer needs clang's instrumentation), builds only the fuzz target,
# then fuzzes for SECONDS (default 30) from a copy of the checked-in corpus.
# Exit status: libFuzzer's (non-zero on a crash, leak or sanitizer report;
# the reproducer is left in BUILD_DIR/fuzz-artifacts/).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${1:?usage: run_fuzz.sh BUILD_DIR [SECONDS]}"
seconds="${2:-30}"
cxx="${GTOKEN_FUZZ_CXX:-clang++}"
command -v "$cxx" >/dev/null || { echo "run_fuzz: $cxx not found" >&2; exit 77; }

if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGTOKEN_FUZZ=ON >/dev/null
fi
ninja -C "$build" -j "${GTOKEN_JOBS:-2}" webhook_admission_fuzz >/dev/null

corpus="$build/fuzz-corpus"
rm -rf "$corpus" && mkdir -p "$corpus" "$build/fuzz-artifacts"
cp "$repo"/tests/fuzz/corpus/webhook_admission/* "$corpus"/
exec "$build/webhook/webhook_admission_fuzz" -max_total_time="$seconds" -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 -dict="$repo/tests/fuzz/webhook_admission.dict" \
  -artifact_prefix="$build/fuzz-artifacts/" "$corpus"
