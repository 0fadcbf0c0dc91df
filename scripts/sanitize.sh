#!/usr/bin/env bash
# sanitize.sh asan|tsan|fuzz - build with sanitizers in a tree of their own
# and run the tests there; part of scripts/test.sh.
#   asan  GCC, AddressSanitizer (with LeakSanitizer) + UndefinedBehaviorSanitizer
#         in build-asan: every test labelled "unit".
#   tsan  GCC, ThreadSanitizer in build-tsan: the unit tests of the modules that
#         start threads (CTDUMP_TSAN_MODULES in cmake/CtdumpModule.cmake).
#   fuzz  clang 14 (libFuzzer), ASan + UBSan in build-fuzz: every fuzz target
#         for CTDUMP_FUZZ_SECONDS (default 10) over its seeds in fuzz/corpus
#         (scripts/fuzz-smoke.sh, CTest label "fuzz").
# Not run under the sanitizers:
#   - tests labelled "root" (not even built): they clone into user namespaces,
#     mount FUSE file systems and loop devices and run real containers; the
#     main build's run covers them;
#   - CheckTarFileTest.* and CompareTarTest.* (the restore test's compare of
#     a tar archive): they read the archive in a child limited to 2 GiB of
#     address space (RLIMIT_AS), and ASan's and TSan's shadow memory alone is
#     terabytes of address space, so every allocation in that child fails.
#     The main build runs them.
# Any report fails the run (-fno-sanitize-recover, halt_on_error);
# suppressions, each with its reason, are in scripts/sanitizers/.
# Usage: scripts/sanitize.sh asan|tsan|fuzz [--build-only|--test-only] [ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: sanitize.sh asan|tsan|fuzz [--build-only|--test-only] [ctest args]}
shift
phase=all
case ${1:-} in
    --build-only) phase=build; shift ;;
    --test-only) phase=test; shift ;;
esac
# -O1: the sanitizers' usual level (fast enough, few false reports from
# optimisation); -g1: line numbers in reports at a fraction of -g's cost.
config=(-DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -g1")
exclude='^(CheckTarFileTest|CompareTarTest)\.'
case $kind in
    asan) config+=(-DCMAKE_CXX_COMPILER=g++ -DCTDUMP_SANITIZE=address,undefined)
          target=unit_tests labels='^unit$' ;;
    tsan) config+=(-DCMAKE_CXX_COMPILER=g++ -DCTDUMP_SANITIZE=thread)
          target=unit_tests labels='^unit$' ;;
    fuzz) config+=(-DCMAKE_CXX_COMPILER=clang++-14 -DCTDUMP_SANITIZE=address,undefined
                   -DCTDUMP_FUZZ=ON -DCTDUMP_FUZZ_SECONDS="${CTDUMP_FUZZ_SECONDS:-10}")
          target=fuzz_targets labels='^fuzz$' exclude='^$' ;;
    *) echo "sanitize.sh: unknown kind '$kind' (asan, tsan or fuzz)" >&2; exit 2 ;;
esac
dir=build-$kind
export CCACHE_DIR=${CCACHE_DIR:-/var/cache/ctdump/ccache}
# Paths relative to the checkout in ccache's hashes: CI's fresh clone in another
# directory still hits the objects of earlier runs on this machine.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
if [ "$phase" != test ]; then
    cmake -S . -B "$dir" -G Ninja "${config[@]}" >/dev/null
    cmake --build "$dir" -j "$(nproc)" --target "$target"
fi
[ "$phase" != build ] || exit 0

supp=$PWD/scripts/sanitizers
# Instrumented frames are 4-8 times larger: the tree walk's 2048 levels
# (archive/tree_walker.h kMaxWalkDepth) need 3-4 MiB of stack in the main
# build and 16-32 MiB under ASan (TreeWalkerTest.TreeDeeperThanTheOpenFileLimitAndTheWalk).
ulimit -s 65536
# fast_unwind_on_malloc=0: libarchive has no frame pointers, so the fast
# unwinder stops inside it and lsan.supp could not name the caller.
export ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp
export LSAN_OPTIONS=suppressions=$supp/lsan.supp
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp
ctest --test-dir "$dir" -L "$labels" -E "$exclude" --output-on-failure --timeout 900 \
    -j "$(nproc)" "$@"
