#!/usr/bin/env bash
# test.sh - the whole test suite on a Debian 12 machine, as root (CI runs
# exactly this, .ci/run): installs what is missing, then
#   format  every tracked C++ file is clang-format 14 clean (scripts/check-format.sh)
#   build   the main GCC build with -Werror (scripts/build.sh, ./build)
#   tests   every test of that build: unit tests, tests that need root and user
#           namespaces, and the integration tests on real LXC containers (CTest
#           sets them up and tears them down as a fixture)
#   asan    the unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#           (GCC, ./build-asan; scripts/sanitize.sh asan)
#   tsan    the unit tests of the modules that start threads under
#           ThreadSanitizer (GCC, ./build-tsan; scripts/sanitize.sh tsan)
#   fuzz    every fuzz target (clang, libFuzzer, ASan + UBSan, ./build-fuzz) for
#           a short time over its seed corpus in fuzz/corpus
#           (scripts/sanitize.sh fuzz)
# Each step prints its time; the first failing step ends the run.
# Usage: sudo scripts/test.sh [ctest args for the "tests" step]
# Environment: CTDUMP_SKIP="asan tsan fuzz" leaves steps out (local runs only);
#   CTDUMP_FUZZ_SECONDS (default 10) per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null
skip=" ${CTDUMP_SKIP:-} "
step() {
    local name=$1 start=$SECONDS
    shift
    if [[ $skip == *" $name "* ]]; then
        echo "== $name: skipped (CTDUMP_SKIP)"
        return 0
    fi
    echo "== $name"
    "$@"
    echo "== $name: passed in $((SECONDS - start)) s"
}
bash scripts/install-deps.sh
step format bash scripts/check-format.sh
bash tests/realenv/make-rootfs-cache.sh
step build bash scripts/build.sh -DCTDUMP_WERROR=ON
step tests ctest --test-dir build --output-on-failure --timeout 900 "$@"
step asan bash scripts/sanitize.sh asan
step tsan bash scripts/sanitize.sh tsan
step fuzz bash scripts/sanitize.sh fuzz
echo "== all steps passed in $SECONDS s"
