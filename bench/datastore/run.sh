#!/usr/bin/env bash
# bench/datastore/run.sh - benchmark (not a test: nothing is asserted) of
# ctdump's deduplicating datastore against `tar | zstd -1 -T2`, borg 1.2 and
# restic 0.14 on the same data in one run (issues 5 and 14): full backup,
# incremental backup after a deterministic 1 % change set, ctdump compact,
# restore (fresh and aged file system), verify/check, stored bytes, peak RSS,
# CPU seconds; optionally suspend mode on a running container and a per-stage
# CPU profile of ctdump.  Checks the issues' targets.  See README.md here.
#
# Usage (as root):
#   bash bench/datastore/run.sh [--corpus LIST] [--size small|full] [--out DIR]
#                               [--work DIR] [--tools LIST] [--cold] [--fs ext4|xfs]
#                               [--aged] [--aged-fs TYPE] [--aged-files N] [--suspend] [--profile]
#                               [--no-settle]
#                               [--compact-level N] [--compression C] [--baseline-stored BYTES]
#                               [--many-files]
#                               [--prepare-only] [--no-content-check] [--keep]
#
#   --corpus LIST    comma-separated corpora, each runs every step (default dedup):
#                    dedup   the minbase rootfs + copies of the host's /usr (--size)
#                    unique  the host's /usr/share + /usr/include once (~1 GB,
#                            ~74 k unique small files), no rootfs
#                    tiny    200,000 files of 0.1-2 KB compressible text in
#                            2,000 directories (corpus.py tiny, seed 42)
#   --size small     dedup corpus of ~0.5 GB (default): the minbase rootfs + one
#                    copy of a slice of the host's /usr
#   --size full      dedup corpus of ~5 GB: the rootfs + two copies of most of /usr
#   --out DIR        results.md, results.json, chart-CORPUS.png, logs/
#                    (default: <repo>/bench/results/datastore)
#   --work DIR       corpora (kept, reused) and the run's scratch space
#                    (removed on exit); default /var/tmp/ctdump-bench
#   --tools LIST     comma-separated subset of ctdump,tar,borg,restic
#   --cold           drop the page cache before each step (default: warm it)
#   --no-settle      warm cache: do not fill the free memory with a sparse
#                    file's page cache before each step (settle_memory in
#                    bench/lib.sh: on these VMs fresh pages cost the host a
#                    fault, 2.2-2.5 CPU s per GB, charged to the step)
#   --fs ext4|xfs    file system of the scratch space (default ext4, journaled)
#   --aged           also restore (ctdump, tar) onto an aged file system: a
#                    second loop file system, made afresh for each tool, on
#                    which files are created and deleted right before the restore
#   --aged-files N   files created and deleted to age it (default 50000)
#   --aged-fs TYPE   its type: ext4-nojournal (default with --fs ext4: the VMs'
#                    root fs), ext4 or xfs (default with --fs xfs)
#   --suspend        ctdump --mode suspend vs --mode stop vs vzdump's suspend
#                    (rsync twice + tar | zstd) on a running privileged LXC
#                    container holding the corpus (needs lxc and rsync)
#   --profile        one more (untimed) ctdump full backup under perf record:
#                    CPU seconds per GB per stage
#   --compact-level N  passed to `ctdump compact` as --level N (default: its own)
#   --compression C  the ctdump storage's `compression` (lz4, zstd or none;
#                    default: the storage's own, lz4): what backups write
#                    before `ctdump compact` recompresses them
#   --baseline-stored BYTES  stored bytes of a reference ctdump (e.g. main
#                    before issue 14) after the incremental, for the
#                    stored-size target
#   --many-files     also back up a tree of 1,000,000 small files with ctdump
#                    (the peak-RSS target); built once, kept in the work dir
#   --prepare-only   install packages and build the corpora, then stop
#   --no-content-check  compare restored trees by metadata only
#   --keep           leave the last scratch space (repositories, logs) in place
# Environment:
#   CTDUMP_BIN       ctdump binary (default <repo>/build/ctdump); copied into
#                    the work dir so a rebuild cannot swap it mid-run
#   ROOTFS_TAR       minbase rootfs tarball (default: the one tests/realenv
#                    caches in /var/cache/ctdump, created with its script)
#   BENCH_CTDUMP_STORE_TYPE  section type of the ctdump storage (datastore);
#                    `dir` exercises this harness against the vzdump-style
#                    storage when the datastore is not built (no verify)
#
# ctdump is skipped with a message, and the peers still measured, when the
# binary is missing, has no `verify` subcommand, or does not accept the
# datastore section; a failing ctdump step skips ctdump's remaining steps.
set -euo pipefail
exec </dev/null
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# the scratch file system, measure, restore_check, meta (shared with bench/rados)
. "$repo/bench/lib.sh"

log() { printf '[datastore-bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { sed -n '/^# Usage/,/^# ctdump is skipped/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' | sed '$d'; }

orig_args="$*"
size=small
out=$repo/bench/results/datastore
work=/var/tmp/ctdump-bench
many=0 prepare_only=0 content=1 keep=0 cold=0 settle=1 aged=0 suspend=0 profile=0
tools=ctdump,tar,borg,restic
corpora=dedup fs=ext4 aged_fs="" aged_files=50000 baseline_stored="" compact_level="" compression=""
while [ $# -gt 0 ]; do
    case $1 in
        --size|--out|--work|--tools|--corpus|--fs|--aged-fs|--aged-files|--baseline-stored|--compact-level|--compression)
            [ $# -ge 2 ] || die "$1 needs a value"
            set -- "$1=$2" "${@:3}"; continue ;;
        --size=*) size=${1#*=} ;;
        --out=*) out=${1#*=} ;;
        --work=*) work=${1#*=} ;;
        --tools=*) tools=${1#*=} ;;
        --corpus=*) corpora=${1#*=} ;;
        --fs=*) fs=${1#*=} ;;
        --aged-fs=*) aged_fs=${1#*=} ;;
        --aged-files=*) aged_files=${1#*=} ;;
        --baseline-stored=*) baseline_stored=${1#*=} ;;
        --compact-level=*) compact_level=${1#*=} ;;
        --compression=*) compression=${1#*=} ;;
        --cold) cold=1 ;;
        --no-settle) settle=0 ;;
        --aged) aged=1 ;;
        --suspend) suspend=1 ;;
        --profile) profile=1 ;;
        --many-files) many=1 ;;
        --prepare-only) prepare_only=1 ;;
        --no-content-check) content=0 ;;
        --keep) keep=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done
case $size in small|full) ;; *) die "--size must be small or full, not '$size'" ;; esac
case $fs in ext4|xfs) ;; *) die "--fs must be ext4 or xfs, not '$fs'" ;; esac
[ -n "$aged_fs" ] || { [ "$fs" = xfs ] && aged_fs=xfs || aged_fs=ext4-nojournal; }
case $aged_fs in ext4|ext4-nojournal|xfs) ;; *) die "--aged-fs must be ext4, ext4-nojournal or xfs, not '$aged_fs'" ;; esac
[[ $aged_files =~ ^[0-9]+$ ]] || die "--aged-files must be a number, not '$aged_files'"
case $compression in
    ""|lz4|zstd|none) ;;
    *) die "--compression must be lz4, zstd or none, not '$compression'" ;;
esac
[ -z "$compact_level" ] || [[ $compact_level =~ ^-?[0-9]+$ ]] \
    || die "--compact-level must be a number, not '$compact_level'"
[ -z "$baseline_stored" ] || [[ $baseline_stored =~ ^[0-9]+$ ]] \
    || die "--baseline-stored must be a byte count, not '$baseline_stored'"
for t in ${tools//,/ }; do
    case $t in ctdump|tar|borg|restic) ;; *) die "unknown tool in --tools: $t" ;; esac
done
for c in ${corpora//,/ }; do
    case $c in dedup|unique|tiny) ;; *) die "unknown corpus in --corpus: $c (dedup, unique, tiny)" ;; esac
done
want() { [[ ,$tools, == *",$1,"* ]]; }
[ "$(id -u)" = 0 ] || die "must run as root (every tool must read every file and restore owners)"
out=$(realpath -m -- "$out")
work=$(realpath -m -- "$work")
[ "$work" != / ] || die "--work must not be /"
ctdump_src=${CTDUMP_BIN:-$repo/build/ctdump}
store_type=${BENCH_CTDUMP_STORE_TYPE:-datastore}
ROOTFS_TAR=${ROOTFS_TAR:-/var/cache/ctdump/rootfs-bookworm-minbase.tar}
T_START=$EPOCHSECONDS

# --- packages --------------------------------------------------------------
install_missing() {
    local p missing=() pkgs=(borgbackup restic zstd debootstrap gnuplot-nox time tar python3 coreutils)
    [ "$fs" = xfs ] || [ "$aged_fs" = xfs ] && pkgs+=(xfsprogs)
    [ "$suspend" = 1 ] && pkgs+=(lxc rsync)
    [ "$profile" = 1 ] && pkgs+=(linux-perf)
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    # perf may come from elsewhere than Debian's linux-perf
    [ "$profile" = 1 ] && command -v perf >/dev/null && missing=("${missing[@]/linux-perf/}")
    read -ra missing <<<"${missing[*]}"
    [ ${#missing[@]} = 0 ] && return 0
    log "installing ${missing[*]}"
    local apt=(apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends)
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}" >/dev/null; then
        log "install failed; apt-get update and retry"
        apt-get -o DPkg::Lock::Timeout=600 update >/dev/null
        DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}" >/dev/null \
            || die "apt-get install ${missing[*]} failed"
    fi
}
install_missing

mkdir -p "$work"
exec 8>"$work/.lock"
flock -n 8 || die "another run holds $work/.lock"

# --- corpora (each: <work>/corpus-NAME/{base/,stats.json,stamp}) ------------
# shellcheck source=bench/datastore/corpora.sh
. "$here/corpora.sh"
declare -A corpus_dir=()
for c in ${corpora//,/ }; do
    build_corpus "$c"
    corpus_dir[$c]=$corpus
done
[ "$many" = 1 ] && build_many
if [ "$prepare_only" = 1 ]; then
    log "corpora ready under $work (--prepare-only)"
    exit 0
fi

# --- run ---------------------------------------------------------------------
# Per corpus: a fresh scratch file system (<work>/run on <work>/run.img), the
# records in <work>/rec/CORPUS (meta.tsv, steps.tsv, ...; logs/), then the
# scratch space is removed.  report.py turns <work>/rec into the results.
scratch=$work/run
img=$work/run.img
recroot=$work/rec
rec="" logs=""
aged_img=$work/aged.img
ctbin=$work/bin/ctdump

# copy_logs: the step logs to OUT/logs/CORPUS/ and the records (without
# logs) to OUT/rec/, so `report.py OUT/rec OUT` can redo the results
copy_logs() {
    local c
    rm -rf "$out/logs" "$out/rec"
    mkdir -p "$out/rec"
    for c in "$recroot"/*/; do
        [ -d "$c/logs" ] || continue
        mkdir -p "$out/logs/$(basename "$c")"
        cp -r "$c/logs/." "$out/logs/$(basename "$c")/" 2>/dev/null || true
        mkdir -p "$out/rec/$(basename "$c")"
        find "$c" -maxdepth 1 -type f ! -name 'chart.*' -exec cp -t "$out/rec/$(basename "$c")/" {} + 2>/dev/null || true
    done
    cp "$recroot/run.tsv" "$out/rec/" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    declare -F suspend_cleanup >/dev/null && suspend_cleanup
    [ -d "$recroot" ] && mkdir -p "$out" && copy_logs
    if [ "$keep" = 1 ]; then
        log "--keep: leaving $scratch mounted (remove: umount -R $scratch; rm -r $scratch $img $aged_img)"
    else
        remove_scratch
        rm -f "$aged_img"
    fi
    rm -f "$work"/settle.*
    [ "$rc" = 0 ] || log "failed (exit $rc); logs in $out/logs"
    exit "$rc"
}
remove_scratch   # a killed earlier run may have left it
rm -f "$aged_img"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
rm -rf "$recroot"
mkdir -p "$recroot" "$out" "$(dirname "$ctbin")"
rm -f "$out"/results.md "$out"/results.json "$out"/chart*.png
[ -x "$ctdump_src" ] && cp "$ctdump_src" "$ctbin"

# the steps of one corpus (run_corpus), suspend mode, the profile
# shellcheck source=bench/datastore/steps.sh
. "$here/steps.sh"
# shellcheck source=bench/datastore/suspend.sh
. "$here/suspend.sh"
for c in ${corpora//,/ }; do
    run_corpus "$c" "${corpus_dir[$c]}"
done

# --- report ----------------------------------------------------------------
printf '%s\t%s\n' duration_s "$((EPOCHSECONDS - T_START))" >"$recroot/run.tsv"
printf '%s\t%s\n' command "run.sh $orig_args" >>"$recroot/run.tsv"
copy_logs
python3 "$here/report.py" "$recroot" "$out"
for gp in "$recroot"/*/chart.gp; do
    [ -s "$gp" ] || continue
    if command -v gnuplot >/dev/null; then
        gnuplot "$gp" 2>"$recroot/gnuplot.log" || log "gnuplot failed: $(tail -n3 "$recroot/gnuplot.log")"
    else
        log "no gnuplot: no chart"
    fi
done
log "results: $out/results.md, $out/results.json, $out/chart-*.png"
