#!/usr/bin/env bash
# A brief libFuzzer run of one fuzz target, for CI.
#
#   tests/fuzz/run_fuzz.sh BUILD_DIR [SECONDS] [TARGET]
#
# TARGET: webhook_admission (the default: the admission handler) or
# aws_trust_policy (the trust-policy reader, evaluator and planner).
# Configures BUILD_DIR with clang++ and GTOKEN_FUZZ=ON (a build of its own:
# the fuzzer needs clang's instrumentation), builds only TARGET_fuzz, then
# fuzzes for SECONDS (default 30) from a copy of the checked-in corpus
# tests/fuzz/corpus/TARGET (with tests/fuzz/TARGET.dict when there is one).
# Exit status: libFuzzer's (non-zero on a crash, leak or sanitizer report;
# the reproducer is left in BUILD_DIR/fuzz-artifacts/).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${1:?usage: run_fuzz.sh BUILD_DIR [SECONDS] [TARGET]}"
seconds="${2:-30}"
target="${3:-webhook_admission}"
case "$target" in
  webhook_admission | aws_trust_policy) ;;
  *) echo "run_fuzz: unknown target $target" >&2; exit 2 ;;
esac
cxx="${GTOKEN_FUZZ_CXX:-clang++}"
command -v "$cxx" >/dev/null || { echo "run_fuzz: $cxx not found" >&2; exit 77; }

if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGTOKEN_FUZZ=ON >/dev/null
fi
ninja -C "$build" -j "${GTOKEN_JOBS:-2}" "${target}_fuzz" >/dev/null

# The library folder is the target's first word (webhook/, aws/).
binary="$build/${target%%_*}/${target}_fuzz"
corpus="$build/fuzz-corpus/$target"
rm -rf "$corpus" && mkdir -p "$corpus" "$build/fuzz-artifacts"
cp "$repo"/tests/fuzz/corpus/"$target"/* "$corpus"/
dict=()
[[ -f "$repo/tests/fuzz/$target.dict" ]] && dict=(-dict="$repo/tests/fuzz/$target.dict")
exec "$binary" -max_total_time="$seconds" -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
  -artifact_prefix="$build/fuzz-artifacts/" "$corpus"
