#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang, ASan and UBSan into build-fuzz/, and runs
# each for a short while from its seed corpus. Fails when a target crashes, leaks, trips a
# sanitizer or times out; the input that did it is left in $FUZZ_ARTIFACTS (default
# build-fuzz/artifacts/). The repo's corpora are never modified: each run grows a temporary copy.
#   scripts/fuzz-smoke.sh [seconds per target (20)] [target...]
# Longer runs: see tests/fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(proc_net net_stats tcp_info cgroup pod_list cri_info api_query api_handler)
BUILD_DIR=${BUILD_DIR:-build-fuzz}
SOURCE_DIR=${FUZZ_SOURCE_DIR:-.}  # a tree whose CMakeLists.txt adds tests/fuzz
artifacts=${FUZZ_ARTIFACTS:-$BUILD_DIR/artifacts}

bash scripts/install-deps.sh --fuzz
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  # -O1 -g1 as in scripts/sanitize.sh: half the build's CPU, and a crash still names its lines.
  CXX=clang++-14 cmake -S "$SOURCE_DIR" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DPODNETSTAT_FUZZ=ON -DPODNETSTAT_SANITIZE=address -DPODNETSTAT_BUILD_TESTS=OFF \
    -DPODNETSTAT_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$BUILD_DIR" -j"${JOBS:-$(nproc)}" --target fuzz_targets

mkdir -p "$artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=()
for t in "${targets[@]}"; do
  bin=$(find "$BUILD_DIR" -name "${t}_fuzz" -type f -perm -u+x | head -n1)
  mkdir -p "$work/$t"
  cp -r tests/fuzz/corpus/"$t"/. "$work/$t/"
  echo "=== fuzz $t: ${seconds}s"
  if ! "$bin" "$work/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts/${t}-" \
      >"$work/$t.log" 2>&1; then
    tail -n 60 "$work/$t.log"
    failed+=("$t")
  fi
  grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$work/$t.log" || true
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz-smoke: FAILED: ${failed[*]} (inputs in $artifacts/; add each to" \
    "tests/fuzz/regressions/<target>/)" >&2
  exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} targets ran ${seconds}s without a finding"
