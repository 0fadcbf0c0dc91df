#!/usr/bin/env bash
# sanitize.sh asan|tsan - build the unit tests with sanitizers in a tree of
# their own (clang 14) and run them; part of scripts/test.sh.
#   asan  AddressSanitizer (with LeakSanitizer) + UndefinedBehaviorSanitizer in
#         build-asan: every test labelled "unit", and the fuzz targets, each
#         run for a short time over its seed corpus (label "fuzz",
#         scripts/fuzz-smoke.sh) on the same instrumented libraries.
#   tsan  ThreadSanitizer in build-tsan: the unit tests of the modules that
#         start threads (CTDUMP_TSAN_MODULES in cmake/CtdumpModule.cmake).
# Tests labelled "root" are not built there: they clone into user namespaces,
# mount FUSE file systems and loop devices and run real containers, which the
# main build's run covers. Any report fails the run (-fno-sanitize-recover,
# halt_on_error); suppressions, each with its reason, are in
# scripts/sanitizers/.
# Usage: scripts/sanitize.sh asan|tsan [ctest args]
# Environment: CTDUMP_FUZZ_SECONDS (default 15) per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: sanitize.sh asan|tsan [ctest args]}
shift
cxx=${CTDUMP_SANITIZE_CXX:-clang++-14}
case $kind in
    asan) args=(-DCTDUMP_SANITIZE=address,undefined -DCTDUMP_FUZZ=ON
                -DCTDUMP_FUZZ_SECONDS="${CTDUMP_FUZZ_SECONDS:-15}")
          targets=(unit_tests fuzz_targets) labels='^(unit|fuzz)$' ;;
    tsan) args=(-DCTDUMP_SANITIZE=thread -DCTDUMP_FUZZ=OFF)
          targets=(unit_tests) labels='^unit$' ;;
    *) echo "sanitize.sh: unknown kind '$kind' (asan or tsan)" >&2; exit 2 ;;
esac
dir=build-$kind
export CCACHE_DIR=${CCACHE_DIR:-/var/cache/ctdump/ccache}
# -O1: the sanitizers' usual level (fast enough, few false reports from
# optimisation); -g1: line numbers in reports at a fraction of -g's cost.
cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=None \
    -DCMAKE_CXX_FLAGS="-O1 -g1" "${args[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"

supp=$PWD/scripts/sanitizers
export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp
export LSAN_OPTIONS=suppressions=$supp/lsan.supp
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp
ctest --test-dir "$dir" -L "$labels" --output-on-failure --timeout 900 -j "$(nproc)" "$@"
