#!/usr/bin/env bash
# bench/datastore/run.sh - benchmark (not a test: nothing is asserted) of
# ctdump's deduplicating datastore against `tar | zstd -1 -T2`, borg 1.2 and
# restic 0.14 on the same data in one run (issue 5): full backup, incremental
# backup after a deterministic 1 % change set, restore, verify/check, stored
# bytes and peak RSS; checks the issue's targets.  See README.md here.
#
# Usage (as root):
#   bash bench/datastore/run.sh [--size small|full] [--out DIR] [--work DIR]
#                               [--many-files] [--tools LIST] [--prepare-only]
#                               [--no-content-check] [--keep]
#
#   --size small     ~0.5 GB corpus (default): the minbase rootfs + one copy of
#                    a slice of the host's /usr
#   --size full      ~5 GB: the rootfs + two copies of most of /usr
#   --out DIR        results.md, results.json, chart.png, logs/
#                    (default: <repo>/bench/results/datastore)
#   --work DIR       corpora (kept, reused) and the run's scratch space
#                    (removed on exit); default /var/tmp/ctdump-bench
#   --many-files     also back up a tree of 1,000,000 small files with ctdump
#                    (the peak-RSS target); built once, kept in the work dir
#   --tools LIST     comma-separated subset of ctdump,tar,borg,restic
#   --prepare-only   install packages and build the corpora, then stop
#   --no-content-check  compare restored trees by metadata only
#   --keep           leave the scratch space (repositories, logs) in place
# Environment:
#   CTDUMP_BIN       ctdump binary (default <repo>/build/ctdump); copied into
#                    the scratch space so a rebuild cannot swap it mid-run
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

size=small
out=$repo/bench/results/datastore
work=/var/tmp/ctdump-bench
many=0 prepare_only=0 content=1 keep=0
tools=ctdump,tar,borg,restic
while [ $# -gt 0 ]; do
    case $1 in
        --size) size=${2:?--size needs a value}; shift 2 ;;
        --size=*) size=${1#*=}; shift ;;
        --out) out=${2:?--out needs a value}; shift 2 ;;
        --out=*) out=${1#*=}; shift ;;
        --work) work=${2:?--work needs a value}; shift 2 ;;
        --work=*) work=${1#*=}; shift ;;
        --tools) tools=${2:?--tools needs a value}; shift 2 ;;
        --tools=*) tools=${1#*=}; shift ;;
        --many-files) many=1; shift ;;
        --prepare-only) prepare_only=1; shift ;;
        --no-content-check) content=0; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
case $size in small|full) ;; *) die "--size must be small or full, not '$size'" ;; esac
for t in ${tools//,/ }; do
    case $t in ctdump|tar|borg|restic) ;; *) die "unknown tool in --tools: $t" ;; esac
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
    local p missing=()
    for p in borgbackup restic zstd debootstrap gnuplot-nox time tar python3 coreutils; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
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

# --- corpora ---------------------------------------------------------------
# slices of the host's /usr copied into base/usrcopy-N/ (missing ones skipped)
if [ "$size" = small ]; then
    usr_copies=1
    usr_dirs=(sbin include lib/python3 lib/python3.11 share/doc share/perl)
else
    usr_copies=2
    usr_dirs=(bin sbin include lib/x86_64-linux-gnu lib/python3 lib/python3.11 share)
fi

rootfs_source() {   # prints a description of the rootfs source; creates the tarball if needed
    local d
    if [ ! -s "$ROOTFS_TAR" ]; then
        for d in /var/cache/ctdump/rootfs-*minbase*; do
            [ -d "$d" ] && { echo "dir $d"; return 0; }
        done
        log "no cached rootfs; creating $ROOTFS_TAR (tests/realenv/make-rootfs-cache.sh)"
        ROOTFS_TAR=$ROOTFS_TAR bash "$repo/tests/realenv/make-rootfs-cache.sh" >&2
    fi
    echo "tar $ROOTFS_TAR $(stat -c '%s %Y' "$ROOTFS_TAR")"
}

corpus_recipe() {   # the stamp: a corpus is reused only if this matches
    echo "recipe 1"
    echo "rootfs $1"
    echo "usr-copies $usr_copies"
    echo "usr-dirs ${usr_dirs[*]}"
}

build_corpus() {   # sets $corpus (the directory holding base/)
    local src stamp tmp i d
    corpus=$work/corpus-$size
    src=$(rootfs_source)
    stamp=$(corpus_recipe "$src")
    if [ -d "$corpus/base" ] && [ -f "$corpus/stamp" ] && [ "$(cat "$corpus/stamp")" = "$stamp" ]; then
        log "reusing corpus $corpus/base"
        return 0
    fi
    tmp=$corpus.tmp
    rm -rf --one-file-system "$corpus" "$tmp"
    mkdir -p "$tmp/base"
    log "building corpus $corpus/base (${src%% *} rootfs + $usr_copies × /usr/{$(IFS=,; echo "${usr_dirs[*]}")})"
    case $src in
        tar\ *) tar --numeric-owner --xattrs '--xattrs-include=*' --acls -xpf "$ROOTFS_TAR" -C "$tmp/base" ;;
        dir\ *) cp -a "${src#dir }/." "$tmp/base/" ;;
    esac
    for ((i = 1; i <= usr_copies; i++)); do
        for d in "${usr_dirs[@]}"; do
            [ -d "/usr/$d" ] || continue
            mkdir -p "$tmp/base/usrcopy-$i/$(dirname "$d")"
            cp -a "/usr/$d" "$tmp/base/usrcopy-$i/$d"
        done
    done
    python3 "$here/treecheck.py" stats "$tmp/base" >"$tmp/stats.json"
    printf '%s\n' "$stamp" >"$tmp/stamp"
    sync -f "$tmp/stamp"
    mv "$tmp" "$corpus"
}

build_many() {   # sets $many_dir
    local stamp="many 1 dirs=1000 files=1000 seed=42" dir=$work/corpus-many
    many_dir=$dir/many
    if [ -d "$many_dir" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
        log "reusing $many_dir"
        return 0
    fi
    rm -rf --one-file-system "$dir" "$dir.tmp"
    mkdir -p "$dir.tmp"
    log "building $many_dir (1,000,000 files; a few minutes)"
    python3 "$here/mutate.py" many "$dir.tmp/many" --dirs 1000 --files 1000 --seed 42 >/dev/null
    python3 "$here/treecheck.py" stats "$dir.tmp/many" >"$dir.tmp/stats.json"
    printf '%s\n' "$stamp" >"$dir.tmp/stamp"
    mv "$dir.tmp" "$dir"
}

build_corpus
[ "$many" = 1 ] && build_many
if [ "$prepare_only" = 1 ]; then
    log "corpora ready under $work (--prepare-only)"
    exit 0
fi

# --- scratch space and cleanup --------------------------------------------
# The run's scratch space (source copy, repositories, restores) is a fresh
# journaled ext4 on a loop file, made for each run: every tool writes to the
# same clean file system whatever the host's looks like.  (This matters: on
# ext4 without a journal, as the root fs of these VMs, every inode allocation
# scans the inodes deleted in the last minutes (recently_deleted()), which
# made the same `tar -x` take 2.5 s or 22 s depending on what was removed
# before it.)
scratch=$work/run
img=$work/run.img
rec=$scratch/rec
logs=$scratch/logs

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ -d "$logs" ]; then
        mkdir -p "$out"
        rm -rf "$out/logs"
        cp -r "$logs" "$out/logs" 2>/dev/null || true
    fi
    if [ "$keep" = 1 ]; then
        log "--keep: leaving $scratch mounted (remove: umount $scratch; rm -r $scratch $img)"
    else
        remove_scratch
    fi
    [ "$rc" = 0 ] || log "failed (exit $rc); logs in $out/logs"
    exit "$rc"
}
remove_scratch   # a killed earlier run may have left it
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# room for the source copy, one restore, four repositories (tar's two
# archives), the many-files store; sparse, so only what is written counts
corpus_bytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["logical_bytes"])' "$corpus/stats.json")
scratch_bytes=$(( corpus_bytes * 5 + (many ? 6 : 4) * 1024 * 1024 * 1024 ))
make_scratch "$scratch_bytes"
mkdir -p "$scratch/bin" "$rec" "$logs" "$out"
rm -f "$out/results.md" "$out/results.json" "$out/chart.png"
src=$scratch/src

first_line() { "$@" 2>&1 | head -n1 || true; }

skip_step() {   # TOOL STEP REASON
    printf '%s\t%s\tskipped\t\t\t\t\t\t%s\n' "$1" "$2" "$3" >>"$rec/steps.tsv"
}
stored() { printf '%s\t%s\t%s\n' "$1" "$2" "$(du -scb "${@:3}" | tail -n1 | cut -f1)" >>"$rec/stored.tsv"; }
# --- environment facts -----------------------------------------------------
meta_machine
meta size "$size"
meta fstype "$(findmnt -n -o FSTYPE -T "$scratch") on a loop file, made for this run"
meta tar_version "$(first_line tar --version)"
meta zstd_version "$(first_line zstd --version | sed 's/^\*\*\* //; s/, by .*//')"
meta borg_version "$(first_line borg --version)"
meta restic_version "$(first_line restic version | cut -d' ' -f1-2)"
meta git "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
meta corpus_desc "minbase rootfs + ${usr_copies}× /usr/{$(IFS=,; echo "${usr_dirs[*]}")}"
meta content_check "$content"
meta store_type "$store_type"
load1=$(cut -d' ' -f1 /proc/loadavg)
awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }' \
    && log "load average is $load1: other work is running, numbers will be noisy"

log "copying the corpus to $src"
cp -a "$corpus/base" "$src"
python3 "$here/treecheck.py" stats "$src" >"$rec/corpus.json"

# --- ctdump set-up ---------------------------------------------------------
ct_state=ok ct_reason=""
ct_skip() { ct_state=skipped ct_reason=$1; log "ctdump skipped: $1"; }
lxcp=$scratch/lxc
etc=$scratch/etc
export CTDUMP_LOG_DIR=$scratch/ctdump-log CTDUMP_RUN_DIR=$scratch/ctdump-run
ct=$scratch/bin/ctdump
ctdump() { "$ct" --lxcpath "$lxcp" --config-dir "$etc" "$@"; }
write_ct_config() {   # NAME ROOTFS
    mkdir -p "$lxcp/$1"
    {
        echo "# written by bench/datastore/run.sh (never started)"
        echo "lxc.uts.name = $1"
        echo "lxc.rootfs.path = dir:$2"
    } >"$lxcp/$1/config"
}
newest_volid() {
    ctdump --output-format json list bench --vmid "$1" | python3 -c '
import json, sys
# JSON event lines (docs/json-events.md): the listing is the result event
vols = []
for line in sys.stdin:
    e = json.loads(line)
    if e.get("event") == "result":
        vols = e["data"]
print(max(vols, key=lambda v: v["ctime"])["volid"] if vols else "")'
}
ctdump_prepare() {
    want ctdump || { ct_skip "not selected (--tools)"; return 0; }
    [ -x "$ctdump_src" ] || { ct_skip "no ctdump binary at $ctdump_src (build it first)"; return 0; }
    cp "$ctdump_src" "$ct"
    meta ctdump_version "$("$ct" --version 2>&1 | head -n1) (binary built $(date -u -r "$ctdump_src" '+%Y-%m-%d %H:%M UTC'))"
    "$ct" --version >/dev/null 2>&1 || { ct_skip "$ctdump_src --version fails"; return 0; }
    if [ "$store_type" = datastore ] \
        && ! "$ct" --help 2>&1 | grep -Eq '^[[:space:]]+verify([[:space:]]|$)'; then
        ct_skip "this ctdump has no 'verify' subcommand: the datastore is not built in yet"
        return 0
    fi
    mkdir -p "$lxcp" "$etc" "$scratch/ctdump-store" "$CTDUMP_LOG_DIR" "$CTDUMP_RUN_DIR"
    printf '%s: bench\n\tpath %s\n' "$store_type" "$scratch/ctdump-store" >"$etc/storage.cfg"
    write_ct_config bench-ct "$src"
    local msg
    if ! msg=$(ctdump list bench 2>&1); then
        ct_skip "ctdump does not accept a '$store_type' storage: $(printf '%s' "$msg" | tail -n1)"
        return 0
    fi
}
ctdump_prepare
ct_ok() { [ "$ct_state" = ok ]; }
ct_step() {   # STEP CMD...: measure a ctdump step unless ctdump is out; a failure puts it out
    local step=$1
    shift
    if ! ct_ok; then
        skip_step ctdump "$step" "$ct_reason"
        return 0
    fi
    if ! measure ctdump "$step" "$@"; then
        ct_state=failed ct_reason="ctdump $step failed (see logs/ctdump-$step.log)"
    fi
}
ctb=("$ct" --lxcpath "$lxcp" --config-dir "$etc")

# --- peers set-up ----------------------------------------------------------
export BORG_BASE_DIR=$scratch/borg-home BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes \
    BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export RESTIC_PASSWORD=ctdump-bench RESTIC_REPOSITORY=$scratch/restic \
    RESTIC_CACHE_DIR=$scratch/restic-cache
mkdir -p "$BORG_BASE_DIR"
if want borg; then
    borg init --encryption=none "$scratch/borg" >"$logs/borg-init.log" 2>&1 \
        || die "borg init failed: $(tail -n3 "$logs/borg-init.log")"
fi
if want restic; then
    restic init --repository-version 2 --cache-dir "$RESTIC_CACHE_DIR" >"$logs/restic-init.log" 2>&1 \
        || die "restic init failed: $(tail -n3 "$logs/restic-init.log")"
fi
# shellcheck disable=SC2016  # expanded by bash -c
tar_create='set -o pipefail; tar --numeric-owner -cf - -C "$1" . | zstd -1 -T2 -q -f -o "$2"'
# shellcheck disable=SC2016
tar_extract='set -o pipefail; zstd -dc "$1" | tar --numeric-owner -xf - -C "$2"'
peer() {   # TOOL STEP CMD...: measure a peer's step; a failure is recorded, the run goes on
    want "$1" || return 0
    measure "$@" || true
}

# --- 1. full backups -------------------------------------------------------
warm "$src"; ct_step full "${ctb[@]}" backup bench-ct --storage bench --mode stop --stdexcludes 0
warm "$src"; peer tar full bash -c "$tar_create" \
    tar "$src" "$scratch/base.tar.zst"
warm "$src"; peer borg full env -C "$scratch" borg create --stats --compression zstd,3 "$scratch/borg::full" src
warm "$src"; peer restic full restic backup --cache-dir "$RESTIC_CACHE_DIR" --host bench "$src"
ct_ok && stored ctdump full "$scratch/ctdump-store"
want tar && stored tar full "$scratch/base.tar.zst"
want borg && stored borg full "$scratch/borg"
want restic && stored restic full "$scratch/restic"

# --- 2. the change set, in place (inodes of untouched files stay) -----------
log "applying the change set (mutate.py, seed 42)"
python3 "$here/mutate.py" apply "$src" --seed 42 >"$rec/mutate.json"
python3 "$here/treecheck.py" stats "$src" >"$rec/changed.json"

# --- 3. incremental backups ------------------------------------------------
warm "$src"; ct_step incremental "${ctb[@]}" backup bench-ct --storage bench --mode stop --stdexcludes 0
warm "$src"; peer tar incremental bash -c "$tar_create" \
    tar "$src" "$scratch/changed.tar.zst"
warm "$src"; peer borg incremental env -C "$scratch" borg create --stats --compression zstd,3 "$scratch/borg::inc" src
warm "$src"; peer restic incremental restic backup --cache-dir "$RESTIC_CACHE_DIR" --host bench "$src"
ct_ok && stored ctdump incremental "$scratch/ctdump-store"
want tar && stored tar incremental "$scratch/base.tar.zst" "$scratch/changed.tar.zst"
want borg && stored borg incremental "$scratch/borg"
want restic && stored restic incremental "$scratch/restic"
if want restic && ! grep -q 'using parent snapshot' "$logs/restic-incremental.log"; then
    log "warning: restic's incremental run names no parent snapshot"
fi

# --- 4. restores (of the changed state), each compared with the source ------
volid=""
if ct_ok; then
    volid=$(newest_volid bench-ct) || true
    [ -n "$volid" ] || { ct_state=failed ct_reason="ctdump list shows no backup of bench-ct"; }
fi
if ct_ok; then
    warm "$scratch/ctdump-store"
    ct_step restore "${ctb[@]}" restore "$volid" bench-restore --unprivileged 0 \
        --rootfs "$scratch/restore-ctdump"
    # ctdump's restore creates no device nodes (LXC mounts /dev); a restore
    # from a vzdump-format archive adds etc/vzdump/ (and so touches etc/)
    ct_excl=(--exclude 'dev/*')
    if [ -e "$scratch/restore-ctdump/etc/vzdump" ] && [ ! -e "$src/etc/vzdump" ]; then
        ct_excl+=(--exclude etc --exclude etc/vzdump --exclude 'etc/vzdump/*')
    fi
    ct_ok && restore_check ctdump "$scratch/restore-ctdump" "${ct_excl[@]}"
    rm -rf --one-file-system "$scratch/restore-ctdump" "$lxcp/bench-restore"
else
    skip_step ctdump restore "$ct_reason"
fi
if want tar; then
    mkdir "$scratch/restore-tar"
    cat "$scratch/changed.tar.zst" >/dev/null
    peer tar restore bash -c "$tar_extract" \
        tar "$scratch/changed.tar.zst" "$scratch/restore-tar" \
        && restore_check tar "$scratch/restore-tar"
    rm -rf --one-file-system "$scratch/restore-tar"
fi
if want borg; then
    mkdir "$scratch/restore-borg"
    warm "$scratch/borg"
    peer borg restore env -C "$scratch/restore-borg" borg extract "$scratch/borg::inc" \
        && restore_check borg "$scratch/restore-borg/src"
    rm -rf --one-file-system "$scratch/restore-borg"
fi
if want restic; then
    warm "$scratch/restic"
    peer restic restore restic restore latest --cache-dir "$RESTIC_CACHE_DIR" --target "$scratch/restore-restic" \
        && restore_check restic "$scratch/restore-restic$src"
    rm -rf --one-file-system "$scratch/restore-restic"
fi

# --- 5. verify / check ------------------------------------------------------
if [ "$store_type" != datastore ] && ct_ok; then
    skip_step ctdump verify "storage type $store_type has no verify"
else
    ct_ok && warm "$scratch/ctdump-store"
    ct_step verify "${ctb[@]}" verify bench
fi
if want tar; then
    cat "$scratch/base.tar.zst" "$scratch/changed.tar.zst" >/dev/null
    peer tar verify zstd -tq "$scratch/base.tar.zst" "$scratch/changed.tar.zst"
fi
want borg && warm "$scratch/borg"
peer borg verify borg check --verify-data "$scratch/borg"
want restic && warm "$scratch/restic"
peer restic verify restic check --read-data --cache-dir "$RESTIC_CACHE_DIR"

# --- 6. peak RSS on 1,000,000 files (ctdump only) ---------------------------
if [ "$many" = 1 ]; then
    cp "$work/corpus-many/stats.json" "$rec/many.json"
    if ct_ok; then
        write_ct_config bench-many "$many_dir"
        warm "$many_dir"
    fi
    ct_step many "${ctb[@]}" backup bench-many --storage bench --mode stop --stdexcludes 0
fi

# --- report ----------------------------------------------------------------
meta ctdump_state "$ct_state"
meta ctdump_reason "$ct_reason"
meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
meta duration_s "$((EPOCHSECONDS - T_START))"
python3 "$here/report.py" "$rec" "$out"
if [ ! -s "$rec/chart.gp" ]; then
    log "nothing measured: no chart"
elif command -v gnuplot >/dev/null; then
    gnuplot "$rec/chart.gp" 2>"$logs/gnuplot.log" || log "gnuplot failed: $(tail -n3 "$logs/gnuplot.log")"
else
    log "no gnuplot: no chart"
fi
log "results: $out/results.md, $out/results.json, $out/chart.png"
