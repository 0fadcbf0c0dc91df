#!/usr/bin/env bash
# bench/provider-overhead.sh - benchmark (not a test: nothing is asserted) of
#   1. what ctdump's provider path costs per container in stop mode, with an
#      empty provider (bench/null-provider.py): wall time of `ctdump backup`
#      for the unprivileged and the privileged realenv container and for a job
#      of both, broken down by ctdump's JSON events and the provider's trace,
#      next to lxc-stop / lxc-start of the same containers measured directly;
#   2. the example provider's throughput (examples/providers/dir-example.py)
#      on the minbase rootfs, against a plain GNU tar of the same rootfs.
#
# Usage (as root, no TTY needed):  bench/provider-overhead.sh
# Environment:
#   CTDUMP_BIN     ctdump binary (default: <repo>/build/ctdump; waited for if
#                  missing, up to CTDUMP_BIN_WAIT seconds, default 300)
#   BENCH_N_NULL   runs per null-provider case (10)
#   BENCH_N_PIECES lxc-stop/lxc-start rounds (10)
#   BENCH_N_TP     throughput runs per container (5)
#   BENCH_WARMUP   unreported warm-up runs per case (1)
#   BENCH_OUT      report file (default: bench/results/provider-overhead.md)
#   BENCH_RAW      if set, also write every raw measurement as JSON there
#   BENCH_PATH     PATH for everything the benchmark runs (default: a plain
#                  root PATH, /usr/local/sbin:...:/bin; see below)
#   BENCH_KEEP=1   do not tear the environment down (debugging)
#
# The environment is built with tests/realenv/setup.sh under
# /var/tmp/ctdump-bench-<pid> (containers bn<pid>-priv / bn<pid>-unpriv) and
# always removed with tests/realenv/teardown.sh on exit.  The report is printed
# on stdout and written to BENCH_OUT; progress and setup timings go to stderr.
set -euo pipefail
exec </dev/null

# A plain root PATH, as ctdump has when it runs from systemd or cron: the
# providers' `#!/usr/bin/env python3` then finds the distribution's
# interpreter, not whatever a login shell put first (pyenv shims, venvs),
# whose start-up cost would be measured as provider overhead.  BENCH_PATH
# overrides it (e.g. BENCH_PATH=$PATH to measure with the caller's python3).
export PATH=${BENCH_PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}
unset PYTHONDONTWRITEBYTECODE PYTHONPATH PYTHONHOME PYTHONSTARTUP

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
realenv=$repo/tests/realenv

die() { printf '[provider-overhead] ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf '[provider-overhead] %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root"
ctdump=${CTDUMP_BIN:-$repo/build/ctdump}
out=${BENCH_OUT:-$here/results/provider-overhead.md}
null_provider=$here/null-provider.py
example_provider=$repo/examples/providers/dir-example.py
[ -x "$null_provider" ] || die "$null_provider is missing or not executable"
[ -x "$example_provider" ] || die "$example_provider is missing or not executable"

# another engineer may be rebuilding ctdump: wait for the binary
wait_left=${CTDUMP_BIN_WAIT:-300}
until [ -x "$ctdump" ] && "$ctdump" --version >/dev/null 2>&1; do
    (( wait_left > 0 )) || die "no usable ctdump binary at $ctdump"
    log "waiting for $ctdump to appear ..."
    sleep 5
    wait_left=$((wait_left - 5))
done
# a private copy, so a rebuild during the run cannot swap the binary under us
root=/var/tmp/ctdump-bench-$$
prefix=bn$$
prefix=${prefix:0:8}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        log "BENCH_KEEP=1: leaving $root in place (remove with $realenv/teardown.sh $root)"
    elif [ -e "$root" ]; then
        log "tearing down $root"
        "$realenv/teardown.sh" "$root" >&2 || { log "teardown of $root failed"; rc=1; }
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$EPOCHREALTIME
log "setting up $root (prefix $prefix)"
"$realenv/setup.sh" "$root" "$prefix" >&2
# shellcheck source=/dev/null
. "$root/env.sh"
export LXCPATH CT_PRIV CT_UNPRIV ROOTFS_PRIV ROOTFS_UNPRIV

work=$root/bench
mkdir -p "$work"
chmod 0755 "$work"
cp -p "$ctdump" "$work/ctdump"   # -p: the report shows the build time

raw_args=()
[ -z "${BENCH_RAW:-}" ] || raw_args=(--raw "$BENCH_RAW")

report=$work/report.md
python3 "$here/provider-overhead.py" \
    --ctdump "$work/ctdump" --work "$work" \
    --null-provider "$null_provider" --example-provider "$example_provider" \
    --n-null "${BENCH_N_NULL:-10}" --n-pieces "${BENCH_N_PIECES:-10}" \
    --n-tp "${BENCH_N_TP:-5}" --warmup "${BENCH_WARMUP:-1}" \
    "${raw_args[@]}" >"$report"

mkdir -p "$(dirname "$out")"
cp "$report" "$out.tmp"
mv "$out.tmp" "$out"
cat "$report"
log "report written to $out; total $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s including setup"
