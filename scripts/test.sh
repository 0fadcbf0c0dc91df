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
#   deb     the Debian package: built from debian/ outside the tree, installed
#           with dpkg -i, smoke-tested (version, man page, units, the demo
#           against the installed binary), listed (dpkg -L) and purged
#           (scripts/deb.sh --test; the packages stay in /var/tmp/ctdump-deb)
# The sanitizer trees are built in the background, niced, while the step
# before runs its tests (which leave most of the 2 cores idle): asan's during
# "tests", tsan's during "asan", fuzz's during "tsan". Each step prints its
# time; the first failure ends the run.
# Usage: sudo scripts/test.sh [ctest args for the "tests" step]
# Environment: CTDUMP_SKIP="asan tsan fuzz deb" leaves steps out (local runs only);
#   CTDUMP_FUZZ_SECONDS (default 10) per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
exec </dev/null
skip=" ${CTDUMP_SKIP:-} "
skipped() { [[ $skip == *" $1 "* ]]; }
step() {
    local name=$1 start=$SECONDS
    shift
    if skipped "$name"; then
        echo "== $name: skipped (CTDUMP_SKIP)"
        return 0
    fi
    echo "== $name"
    "$@"
    echo "== $name: passed in $((SECONDS - start)) s"
}

logs=$(mktemp -d /tmp/ctdump-ci.XXXXXX)
declare -A builder
cleanup() {
    local pid
    for pid in "${builder[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$logs"
}
trap cleanup EXIT
# start_build KIND: builds the sanitizer tree KIND in the background.
start_build() {
    skipped "$1" && return 0
    nice -n 10 bash scripts/sanitize.sh "$1" --build-only >"$logs/$1.log" 2>&1 &
    builder[$1]=$!
}
# finish_build KIND: waits for it; a failed build ends the run with its log.
finish_build() {
    skipped "$1" && return 0
    local start=$SECONDS
    if ! wait "${builder[$1]}"; then
        unset "builder[$1]"
        tail -n 200 "$logs/$1.log"
        echo "== $1: build failed"
        exit 1
    fi
    unset "builder[$1]"
    echo "== $1: tree built (waited $((SECONDS - start)) s)"
}

bash scripts/install-deps.sh
step format bash scripts/check-format.sh
bash tests/realenv/make-rootfs-cache.sh
step build bash scripts/build.sh -DCTDUMP_WERROR=ON
start_build asan
step tests ctest --test-dir build --output-on-failure --timeout 900 "$@"
finish_build asan
start_build tsan
step asan bash scripts/sanitize.sh asan --test-only
finish_build tsan
start_build fuzz
step tsan bash scripts/sanitize.sh tsan --test-only
finish_build fuzz
step fuzz bash scripts/sanitize.sh fuzz --test-only
step deb bash scripts/deb.sh --test
echo "== all steps passed in $SECONDS s"
