#!/usr/bin/env bash
# bench/rados/run.sh - benchmark (not a test: nothing is asserted) of ctdump's
# datastore on Ceph RADOS beside the local datastore, on bench/datastore's
# corpus and change set, in one run (issue 13): full backup, incremental,
# restore, verify and gc into (a) a local datastore and (b) a RADOS datastore
# (one bluestore OSD on a sparse file on the same disk, pool size 1); then two
# "hosts" backing up two containers into one pool at once (dedup across them,
# verify); then objects/s of the backend's listing (rados_list_bench). See
# README.md here.
#
# Usage (as root):
#   bash bench/rados/run.sh [--size small|full] [--out DIR] [--work DIR]
#                           [--list-chunks N] [--no-content-check] [--keep]
#
#   --size small     ~0.5 GB corpus (default); full: ~5 GB (bench/datastore)
#   --out DIR        results.md, results.json, logs/ (default:
#                    <repo>/bench/results/rados)
#   --work DIR       corpora (shared with bench/datastore, kept) and this
#                    run's scratch space (removed); default /var/tmp/ctdump-bench
#   --list-chunks N  chunk objects written for the listing measurement
#                    (default 200000; 1000000 for the issue's target)
#   --no-content-check  compare restored trees by metadata only
#   --keep           leave the scratch space and the cluster up (debugging)
# Environment:
#   CTDUMP_BIN       ctdump binary (default <repo>/build/ctdump), copied first
#   RADOS_LIST_BENCH the listing tool (default <repo>/build/src/objstore/
#                    rados_list_bench; built with `ninja rados_list_bench`)
#   OSD_BLOCK_SIZE   the bluestore file (default: 4 x the corpus, >= 10G; sparse)
set -euo pipefail
exec </dev/null
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
dsbench=$repo/bench/datastore

log() { printf '[rados-bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { sed -n '/^# Usage/,/^# Environment/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' | sed '$d'; }

size=small
out=$repo/bench/results/rados
work=/var/tmp/ctdump-bench
list_chunks=200000 content=1 keep=0
while [ $# -gt 0 ]; do
    case $1 in
        --size) size=${2:?--size needs a value}; shift 2 ;;
        --out) out=${2:?--out needs a value}; shift 2 ;;
        --work) work=${2:?--work needs a value}; shift 2 ;;
        --list-chunks) list_chunks=${2:?--list-chunks needs a value}; shift 2 ;;
        --no-content-check) content=0; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
case $size in small|full) ;; *) die "--size must be small or full, not '$size'" ;; esac
[[ $list_chunks =~ ^[0-9]+$ ]] || die "--list-chunks must be a number"
[ "$(id -u)" = 0 ] || die "must run as root (ctdump reads every file and restores owners)"
out=$(realpath -m -- "$out")
work=$(realpath -m -- "$work")
[ "$work" != / ] || die "--work must not be /"
ctdump_src=${CTDUMP_BIN:-$repo/build/ctdump}
list_bench=${RADOS_LIST_BENCH:-$repo/build/src/objstore/rados_list_bench}
[ -x "$ctdump_src" ] || die "no ctdump binary at $ctdump_src (scripts/build.sh)"
for b in ceph-mon ceph-osd rados; do
    command -v "$b" >/dev/null || die "$b not found: scripts/install-deps.sh installs the Ceph packages"
done
T_START=$EPOCHSECONDS

# --- the corpus: bench/datastore builds it (or finds it built) --------------
bash "$dsbench/run.sh" --size "$size" --work "$work" --tools ctdump --prepare-only
corpus=$work/corpus-$size
[ -d "$corpus/base" ] || die "bench/datastore/run.sh left no corpus at $corpus/base"
mkdir -p "$work"
exec 8>"$work/.lock"   # the same lock as bench/datastore: never both at once
flock -n 8 || die "another benchmark run holds $work/.lock"

# --- scratch space: a fresh ext4 on a loop file, as bench/datastore --------
scratch=$work/rados-run
img=$work/rados-run.img
rec=$scratch/rec
logs=$scratch/logs
# The OSD's sparse file beside the scratch file system, on the same disk but
# not inside it: bluestore manages its own space with O_DIRECT writes and
# flushes, and a loop device plus ext4 journal under it add a cost a real
# OSD on its own disk does not have.
export CEPH_DIR=$work/rados-ceph
cluster() { bash "$repo/scripts/ceph-cluster.sh" "$@"; }

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
stop_cluster() { if [ -d "$CEPH_DIR" ]; then cluster stop >&2 || true; fi; }
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ -d "$logs" ]; then
        mkdir -p "$out"
        rm -rf "$out/logs"
        cp -r "$logs" "$out/logs" 2>/dev/null || true
        [ -d "$CEPH_DIR/log" ] && { mkdir -p "$out/logs/ceph"; cp "$CEPH_DIR"/log/*.log "$out/logs/ceph/" 2>/dev/null || true; }
    fi
    if [ "$keep" = 1 ]; then
        log "--keep: cluster and $scratch left (CEPH_DIR=$CEPH_DIR scripts/ceph-cluster.sh stop; umount $scratch; rm -r $scratch $img)"
    else
        stop_cluster
        remove_scratch
    fi
    [ "$rc" = 0 ] || log "failed (exit $rc); logs in $out/logs"
    exit "$rc"
}
stop_cluster     # a killed earlier run may have left it
remove_scratch
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

corpus_bytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["logical_bytes"])' "$corpus/stats.json")
# the scratch fs: the source, a second host's copy, one restore, the local
# store; the OSD's file (both sparse: only what is written counts)
osd_bytes=$((corpus_bytes * 4 > 10 * 1024 ** 3 ? corpus_bytes * 4 : 10 * 1024 ** 3))
OSD_BLOCK_SIZE=${OSD_BLOCK_SIZE:-$osd_bytes}
make_scratch $((corpus_bytes * 5 + 4 * 1024 ** 3))
mkdir -p "$scratch/bin" "$rec" "$logs" "$out"
rm -f "$out/results.md" "$out/results.json"

# --- the cluster: 1 bluestore OSD on a sparse file in the work dir ---------
log "starting Ceph (1 bluestore OSD, pool ctdump of size 1) in $CEPH_DIR"
OSD_STORE=bluestore NUM_OSDS=1 POOL=ctdump POOL_SIZE=1 OSD_BLOCK_SIZE=$OSD_BLOCK_SIZE \
    cluster start 2>"$logs/ceph-start.log" || die "cluster start failed: $(tail -n 20 "$logs/ceph-start.log")"
conf=$CEPH_DIR/ceph.conf

clk_tck=$(getconf CLK_TCK)
# bench_extra_cpu: CPU seconds the cluster's daemons have used so far
# (utime+stime; measure records their use during a step)
bench_extra_cpu() {
    local f sum=0 p t
    for f in "$CEPH_DIR"/run/*.pid; do
        p=$(cat "$f")
        [ -r "/proc/$p/stat" ] || continue
        t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")
        sum=$((sum + t))
    done
    awk -v t="$sum" -v h="$clk_tck" 'BEGIN { printf "%.2f", t / h }'
}
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

meta_machine
meta size "$size"
meta ceph_version "$(ceph --version | cut -d' ' -f1-3)"
meta cluster "1 bluestore OSD on a sparse file of $(numfmt --to=iec "$(numfmt --from=iec "$OSD_BLOCK_SIZE")") in $work (the host's file system), pool size 1, mon + osd only, 127.0.0.1"
meta git "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
meta content_check "$content"

src=$scratch/src
log "copying the corpus to $src"
cp -a "$corpus/base" "$src"
python3 "$dsbench/treecheck.py" stats "$src" >"$rec/corpus.json"

# --- ctdump set-up ---------------------------------------------------------
ct=$scratch/bin/ctdump
cp "$ctdump_src" "$ct"
meta ctdump_version "$("$ct" --version 2>&1 | head -n1) (binary built $(date -u -r "$ctdump_src" '+%Y-%m-%d %H:%M UTC'))"
lxcp=$scratch/lxc
etc=$scratch/etc
mkdir -p "$etc" "$scratch/store-local"
cat >"$etc/storage.cfg" <<EOF
datastore: local
	path $scratch/store-local

datastore: rados
	backend rados
	pool ctdump
	ceph-conf $conf
	username admin

datastore: twohosts
	backend rados
	pool ctdump
	ceph-conf $conf
	username admin
	namespace twohosts
EOF
write_ct_config() {   # NAME ROOTFS
    mkdir -p "$lxcp/$1"
    printf '# bench/rados/run.sh (never started)\nlxc.uts.name = %s\nlxc.rootfs.path = dir:%s\n' \
        "$1" "$2" >"$lxcp/$1/config"
}
write_ct_config bench-ct "$src"
host_env() {   # NAME: a "host" of its own: run, state and log directories
    local h=$scratch/host-$1
    mkdir -p "$h/run" "$h/state" "$h/log"
    echo "CTDUMP_RUN_DIR=$h/run CTDUMP_STATE_DIR=$h/state CTDUMP_LOG_DIR=$h/log"
}
# host_cmd NAME: the command line of ctdump on host NAME (an array's words)
# shellcheck disable=SC2207  # host_env's words have no spaces
host_cmd() { hc=(env $(host_env "$1") "$ct" --lxcpath "$lxcp" --config-dir "$etc"); }
host_cmd main
ctm=("${hc[@]}")
ctdump() { "${ctm[@]}" "$@"; }
volids() {   # STORAGE VMID: its volids, oldest first
    ctdump --output-format json list "$1" --vmid "$2" | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e.get("event") == "result":
        for v in sorted(e["data"], key=lambda v: v["ctime"]):
            print(v["volid"])'
}
df_json() { ctdump --output-format json df "$1" >"$rec/df-$2.json" 2>"$logs/df-$2.log" || log "df $1 failed: $(tail -n2 "$logs/df-$2.log")"; }
targets=(local rados)
backup_args=(--mode stop --stdexcludes 0)

# --- 1. full backups, 2. the change set, 3. incrementals ----------------------
for t in "${targets[@]}"; do
    warm "$src"
    measure "$t" full "${ctm[@]}" backup bench-ct --storage "$t" "${backup_args[@]}" || true
done
full_end=$EPOCHREALTIME
df_json rados full-rados
log "applying the change set (bench/datastore/mutate.py, seed 42)"
python3 "$dsbench/mutate.py" apply "$src" --seed 42 >"$rec/mutate.json"
python3 "$dsbench/treecheck.py" stats "$src" >"$rec/changed.json"
for t in "${targets[@]}"; do
    warm "$src"
    measure "$t" incremental "${ctm[@]}" backup bench-ct --storage "$t" "${backup_args[@]}" || true
done
for t in "${targets[@]}"; do df_json "$t" "$t"; done

# --- 4. restores of the changed state, 5. verify ----------------------------
for t in "${targets[@]}"; do
    vol=$(volids "$t" bench-ct | tail -n1)
    if [ -z "$vol" ]; then
        log "$t: no backup to restore"
        continue
    fi
    [ "$t" = local ] && warm "$scratch/store-local"
    if measure "$t" restore "${ctm[@]}" restore "$vol" "bench-restore-$t" --unprivileged 0 \
        --rootfs "$scratch/restore-$t"; then
        restore_check "$t" "$scratch/restore-$t" --exclude 'dev/*'
    fi
    rm -rf --one-file-system "$scratch/restore-$t" "$lxcp/bench-restore-$t"
done
for t in "${targets[@]}"; do
    [ "$t" = local ] && warm "$scratch/store-local"
    measure "$t" verify "${ctm[@]}" verify "$t" || true
done

# --- 6. gc after deleting the full backup (its changed chunks go) -----------
# gc removes only what is older than its start less the clock skew the RADOS
# backend allows (max-clock-skew, 60 s by default): wait until the full
# backup's chunks are that old, so that gc has something to remove on both.
wait_s=$(awk -v e="$full_end" -v n="$EPOCHREALTIME" 'BEGIN { w = e + 62 - n; print (w > 0 ? int(w) + 1 : 0) }')
if [ "$wait_s" -gt 0 ]; then
    log "waiting $wait_s s: gc's horizon on RADOS is 60 s of clock skew behind its start"
    sleep "$wait_s"
fi
for t in "${targets[@]}"; do
    vol=$(volids "$t" bench-ct | sed -n 1p)
    [ -n "$vol" ] && { ctdump delete "$vol" >"$logs/$t-delete.log" 2>&1 || log "$t: delete $vol failed"; }
    measure "$t" gc "${ctm[@]}" gc "$t" || true
done

# --- 7. two hosts at once into one pool (namespace twohosts) ----------------
# host a backs up the changed tree (bench-ct), host b a fresh copy of the
# original corpus (bench-ct2): ~99 % the same data, written at the same time.
log "two hosts: copying the corpus for host b's container"
cp -a "$corpus/base" "$scratch/src2"
write_ct_config bench-ct2 "$scratch/src2"
warm "$src"
warm "$scratch/src2"
sync
log "twohosts: host a (bench-ct) and host b (bench-ct2) at once"
c0=$(bench_extra_cpu)
w0=$EPOCHREALTIME
pids=()
for h in a b; do
    ct_name=bench-ct
    [ $h = b ] && ct_name=bench-ct2
    host_cmd $h
    /usr/bin/time -f '%e %M %U %S' -o "$scratch/time.twohosts.$h" \
        "${hc[@]}" backup "$ct_name" --storage twohosts "${backup_args[@]}" \
        >"$logs/twohosts-backup-$h.log" 2>&1 &
    pids+=($!)
done
for h in a b; do
    rc=0
    wait "${pids[0]}" || rc=$?
    pids=("${pids[@]:1}")
    read -r wall rss user sys < <(tail -n1 "$scratch/time.twohosts.$h") || true
    status=ok note=""
    [ "$rc" = 0 ] || { status=failed note="exit $rc, see logs/twohosts-backup-$h.log"; log "host $h FAILED (exit $rc)"; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t\t%s\t\n' twohosts "backup-$h" "$status" "$wall" "$rss" \
        "$user" "$sys" "$note" >>"$rec/steps.tsv"
done
c1=$(bench_extra_cpu)
printf 'twohosts\tboth\tok\t%s\t\t\t\t\twall until both finished\t%s\n' "$(sub "$w0" "$EPOCHREALTIME")" \
    "$(sub "$c0" "$c1")" >>"$rec/steps.tsv"
measure twohosts verify "${ctm[@]}" verify twohosts || true
df_json twohosts twohosts
python3 "$dsbench/treecheck.py" stats "$scratch/src2" >"$rec/src2.json"

# --- 8. listing: objects/s of List("chunks/") -------------------------------
if [ "$list_chunks" -gt 0 ]; then
    if [ -x "$list_bench" ]; then
        measure list chunks "$list_bench" --conf "$conf" --pool ctdump --ns listbench \
            --chunks "$list_chunks" || true
    else
        log "no $list_bench (ninja -C build rados_list_bench): listing not measured"
        printf 'list\tchunks\tskipped\t\t\t\t\t\tno rados_list_bench binary\t\n' >>"$rec/steps.tsv"
    fi
fi

meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
meta duration_s "$((EPOCHSECONDS - T_START))"
cp "$logs"/*-full.log "$logs"/*-incremental.log "$logs"/twohosts-backup-*.log "$rec/" 2>/dev/null || true
python3 "$here/report.py" "$rec" "$out"
log "results: $out/results.md, $out/results.json"
