#!/usr/bin/env bash
# fuzz-smoke.sh - run one libFuzzer target for a short time over its checked-in
# seed corpus (the CTest fuzz_<target> tests, see cmake/CtdumpModule.cmake).
# Usage: scripts/fuzz-smoke.sh FUZZER SEED_DIR OUT_DIR SECONDS
#
# The seeds are only read: inputs the run finds go to OUT_DIR/corpus, and a
# crashing input to OUT_DIR/crash-* (libFuzzer's artifact), which the failure
# names together with the command that replays it. Fails on a crash, a leak,
# undefined behaviour (built with -fno-sanitize-recover), a timeout of one
# input or an empty seed directory.
set -euo pipefail
fuzzer=$1 seeds=$2 out=$3 seconds=$4
name=${fuzzer##*/}

if ! compgen -G "$seeds/*" >/dev/null; then
    echo "$name: no seed corpus in $seeds (add small valid inputs there)" >&2
    exit 1
fi
rm -rf "$out"
mkdir -p "$out/corpus"
# -timeout: one input taking longer than 10 s is a hang. -rss_limit_mb: the
# largest legitimate allocation in these parsers is far below 2 GiB.
if ! "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$out/" -print_final_stats=1 "$out/corpus" "$seeds" \
        >"$out/log" 2>&1; then
    tail -n 60 "$out/log" >&2
    for a in "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*; do
        [ -e "$a" ] && echo "$name: failing input $a; replay: $fuzzer $a" >&2
    done
    exit 1
fi
grep -E '^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+.*DONE)' "$out/log" || true
echo "$name: $(find "$seeds" -type f | wc -l) seeds, no crash in ${seconds}s"
