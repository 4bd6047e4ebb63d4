#!/usr/bin/env bash
# Builds the suite under a sanitizer and runs it through ctest, as root like scripts/test.sh:
#   scripts/sanitize.sh [address|thread] [ctest arguments...]
# address (the default): ASan+UBSan into build-asan/; thread: TSan into build-tsan/, with
# tests/tsan.supp (Debian's uninstrumented gRPC/OpenSSL only). Any report fails the test that
# caused it. The Helm chart test and the cluster suite (no C++ of the build under test: the
# cluster runs the image) are left to scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-address}
[ $# -gt 0 ] && shift
case "$kind" in
  address) BUILD_DIR=${BUILD_DIR:-build-asan} ;;
  thread) BUILD_DIR=${BUILD_DIR:-build-tsan} ;;
  *)
    echo "sanitize: unknown sanitizer '$kind' (address, thread)" >&2
    exit 2
    ;;
esac
jobs=${JOBS:-$(nproc)}
werror=OFF
[ "${CI:-}" = true ] && werror=ON

bash scripts/install-deps.sh
# The benchmarks say nothing a sanitizer would check that the tests do not. -O1 -g1 (line tables):
# what the sanitizers' own documentation advises, and the build (most of this script's time)
# takes less than half the CPU of -O2 -g; reports still name every frame's function and line.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
  -DPODNETSTAT_SANITIZE="$kind" -DPODNETSTAT_BUILD_BENCH=OFF -DPODNETSTAT_WERROR="$werror" >/dev/null
cmake --build "$BUILD_DIR" -j"$jobs"

# Reports abort the process (the test fails) and carry a stack; the options reach the agent the
# tests start as a child process too. intercept_tls_get_addr=0: GCC 12's runtime (and LLVM's up
# to 16) takes a dynamic TLS block that malloc happened to place 16 bytes past a page boundary for
# a glibc-2.19 block header and reads a bogus range from it, so LeakSanitizer's exit-time check
# crashed at random ("Tracer caught signal 11") in processes with the dlopen'ed CRI module's
# thread-locals. Since glibc 2.25 those blocks are malloc'ed and reached from the thread's static
# TLS, so the leak check still sees what they hold.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=0:intercept_tls_get_addr=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$PWD/tests/tsan.supp}

cd "$BUILD_DIR"
# Sanitized code runs 2x (ASan) to 5-15x (TSan) slower: tests/CMakeLists.txt gives every test
# 900 s in a sanitized build (--timeout covers any test without a limit of its own). No chart test,
# no document lint and no cluster suite (labels chart, lint, cluster): they run no C++ of a
# sanitized build.
ctest --output-on-failure --timeout 900 -j"$jobs" -LE 'chart|lint|cluster' "$@"
