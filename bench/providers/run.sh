#!/usr/bin/env bash
# bench/providers/run.sh - benchmark (not a test: nothing is asserted) of
# ctdump's storage targets through the real `ctdump` binary, on the same data
# in one run (docs/design/third-party-providers.md §10): the built-in
# deduplicating `datastore`, the vzdump-style `dir` storage (.tar.zst), the
# external providers borg and restic (providers/), and the example provider
# dir-example (examples/providers/).  Per corpus: a stopped unprivileged LXC
# container whose rootfs is the corpus; a full backup into every storage, the
# fixed-seed 1 % change set, an incremental into every storage, a restore
# through every restore mechanism each storage has (compared with the source,
# then destroyed), the stored bytes.  Wall time, CPU seconds and peak RSS per
# step.  See README.md here.
#
# Usage (as root):
#   bash bench/providers/run.sh [--corpus LIST] [--size small|full] [--storages LIST]
#                               [--out DIR] [--work DIR] [--cold] [--no-settle]
#                               [--no-content-check] [--keep] [--prepare-only]
#
#   --corpus LIST    comma-separated corpora of bench/datastore (dedup, unique,
#                    tiny), each on its own fresh loop file system (default dedup)
#   --size small|full  size of the dedup corpus (default small, ~0.5 GB)
#   --storages LIST  comma-separated subset of datastore,dir,borg,restic,dir-example
#                    (default: all five)
#   --out DIR        results.md, results.json, logs/ (default
#                    <repo>/bench/results/providers)
#   --work DIR       corpora (kept, reused), binaries and the scratch file
#                    system (default /var/tmp/ctdump-bench-prov-work)
#   --cold           drop the page cache before each step (default: warm it)
#   --no-settle      warm cache: do not settle memory before each step
#                    (settle_memory in bench/lib.sh)
#   --no-content-check  compare restored trees by metadata only
#   --keep           leave the last corpus's scratch file system mounted
#   --prepare-only   build the corpora, then stop
# Environment:
#   CTDUMP_BIN       ctdump binary (default <repo>/build/ctdump); copied into
#                    the work dir first, as are the providers, so a rebuild or
#                    an edit during the run cannot swap them
#   ROOTFS_TAR       minbase rootfs tarball (as bench/datastore)
# shellcheck disable=SC2030,SC2031  # corpora.sh is sourced in subshells on purpose (its $here)
set -euo pipefail
exec </dev/null
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# the scratch file system, measure, restore_check, meta, settle_memory
. "$repo/bench/lib.sh"

log() { printf '[providers-bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { sed -n '/^# Usage/,/^#   ROOTFS_TAR/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

orig_args="$*"
size=small
out=$repo/bench/results/providers
work=/var/tmp/ctdump-bench-prov-work
corpora=dedup
storages=datastore,dir,borg,restic,dir-example
cold=0 settle=1 content=1 keep=0 prepare_only=0
while [ $# -gt 0 ]; do
    case $1 in
        --size|--out|--work|--corpus|--storages)
            [ $# -ge 2 ] || die "$1 needs a value"
            set -- "$1=$2" "${@:3}"; continue ;;
        --size=*) size=${1#*=} ;;
        --out=*) out=${1#*=} ;;
        --work=*) work=${1#*=} ;;
        --corpus=*) corpora=${1#*=} ;;
        --storages=*) storages=${1#*=} ;;
        --cold) cold=1 ;;
        --no-settle) settle=0 ;;
        --no-content-check) content=0 ;;
        --keep) keep=1 ;;
        --prepare-only) prepare_only=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done
case $size in small|full) ;; *) die "--size must be small or full, not '$size'" ;; esac
for c in ${corpora//,/ }; do
    case $c in dedup|unique|tiny) ;; *) die "unknown corpus in --corpus: $c (dedup, unique, tiny)" ;; esac
done
for s in ${storages//,/ }; do
    case $s in datastore|dir|borg|restic|dir-example) ;;
        *) die "unknown storage in --storages: $s (datastore, dir, borg, restic, dir-example)" ;;
    esac
done
[ "$(id -u)" = 0 ] || die "must run as root (containers, loop devices, every file read and restored)"
out=$(realpath -m -- "$out")
work=$(realpath -m -- "$work")
[ "$work" != / ] || die "--work must not be /"
ctdump_src=${CTDUMP_BIN:-$repo/build/ctdump}
ROOTFS_TAR=${ROOTFS_TAR:-/var/cache/ctdump/rootfs-bookworm-minbase.tar}
T_START=$EPOCHSECONDS
# the unprivileged container's id map (tests/realenv's; root owns it in /etc/subuid)
MAP_HOST=100000 MAP_COUNT=65536

missing=()
for cmd in borg restic rclone zstd python3 /usr/bin/time lxc-usernsexec; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
done
[ ${#missing[@]} = 0 ] || die "missing: ${missing[*]} (apt-get install borgbackup restic rclone zstd time lxc)"
for f in /etc/subuid /etc/subgid; do
    grep -qxF "root:$MAP_HOST:$MAP_COUNT" "$f" 2>/dev/null \
        || log "note: $f has no root:$MAP_HOST:$MAP_COUNT (ctdump does not need it for a stopped container)"
done

mkdir -p "$work"
chmod 0755 "$work"   # the containers' root uid must traverse it (rootfs, providers)
exec 8>"$work/.lock"
flock -n 8 || die "another run holds $work/.lock"

# --- corpora: bench/datastore's (<work>/corpus-NAME/{base/,stats.json,stamp}) ---
# corpora.sh uses $here for corpus.py and treecheck.py
ds_here=$repo/bench/datastore
(
    here=$ds_here
    # shellcheck source=bench/datastore/corpora.sh
    . "$ds_here/corpora.sh"
    for c in ${corpora//,/ }; do build_corpus "$c"; done
)
corpus_path() {   # NAME: the directory holding base/
    case $1 in dedup) echo "$work/corpus-$size" ;; *) echo "$work/corpus-$1" ;; esac
}
corpus_desc() {
    (
        here=$ds_here
        # shellcheck source=bench/datastore/corpora.sh
        . "$ds_here/corpora.sh"
        corpus_desc "$1"
    )
}
if [ "$prepare_only" = 1 ]; then
    log "corpora ready under $work (--prepare-only)"
    exit 0
fi

# --- binaries: private copies -------------------------------------------------
bindir=$work/bin
rm -rf "$bindir"
mkdir -p "$bindir/providers"
if [ ! -x "$ctdump_src" ] && [ -z "${CTDUMP_BIN:-}" ]; then
    log "no $ctdump_src; building it (flock /tmp/ctdump-build.lock ninja -C build)"
    flock /tmp/ctdump-build.lock ninja -C "$repo/build" ctdump >&2 || die "the build failed"
fi
[ -x "$ctdump_src" ] || die "no ctdump binary at $ctdump_src"
cp "$ctdump_src" "$bindir/ctdump"
ct=$bindir/ctdump
# the providers find their shared module in ../lib beside their directory
cp -r "$repo/providers/borg" "$repo/providers/restic" "$repo/providers/lib" "$bindir/providers/"
cp "$repo/examples/providers/dir-example.py" "$bindir/providers/"
find "$bindir" -name __pycache__ -prune -exec rm -rf {} +
chmod -R a+rX "$bindir"
ctdump_desc="$("$ct" --version 2>&1 | head -n1) (binary of $(date -u -r "$ctdump_src" '+%Y-%m-%d %H:%M UTC'))"
# `ctdump restore --mechanism` (newer binaries) asks the provider for a
# mechanism and refuses another answer; the providers answer with their
# section's `restore-mechanism` key, so the script keeps one section per
# mechanism and, when the option exists, also passes it (a check that the
# restore used the mechanism the step is named after)
mech_opt=0
restore_help=$("$ct" restore --help 2>&1) || true
[[ $restore_help == *--mechanism* ]] && mech_opt=1

# --- run -----------------------------------------------------------------------
scratch=$work/run
img=$work/run.img
recroot=$work/rec
rec="" logs=""
ctname=ctbp$$              # host-unique container names (cgroup lxc.payload.NAME)
rsname=ctbp$$r
lxcp="" etc=""

copy_logs() {
    local c
    rm -rf "$out/logs" "$out/rec"
    mkdir -p "$out/rec"
    for c in "$recroot"/*/; do
        [ -d "$c" ] || continue
        c=${c%/}
        if [ -d "$c/logs" ]; then
            mkdir -p "$out/logs/$(basename "$c")"
            cp -r "$c/logs/." "$out/logs/$(basename "$c")/" 2>/dev/null || true
        fi
        mkdir -p "$out/rec/$(basename "$c")"
        find "$c" -maxdepth 1 -type f -exec cp -t "$out/rec/$(basename "$c")/" {} + 2>/dev/null || true
    done
    cp "$recroot/run.tsv" "$out/rec/" 2>/dev/null || true
}
# save_task_logs: ctdump's own task logs (CTDUMP_LOG_DIR) next to the step logs
save_task_logs() {
    [ -n "$logs" ] && [ -d "${CTDUMP_LOG_DIR:-/nonexistent}" ] || return 0
    mkdir -p "$logs/ctdump-task-logs"
    cp -r "$CTDUMP_LOG_DIR/." "$logs/ctdump-task-logs/" 2>/dev/null || true
}
# destroy_containers: the source and restored containers (never started:
# their config directories and the restored root file systems)
destroy_containers() {
    [ -n "$lxcp" ] && [ -d "$lxcp" ] || return 0
    local n
    for n in "$lxcp"/*/; do
        [ -d "$n" ] || continue
        n=$(basename "$n")
        lxc-stop -P "$lxcp" -n "$n" -k >/dev/null 2>&1 || true
        rm -rf --one-file-system "${lxcp:?}/$n"
    done
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    save_task_logs
    destroy_containers
    [ -d "$recroot" ] && mkdir -p "$out" && copy_logs
    if [ "$keep" = 1 ]; then
        log "--keep: leaving $scratch mounted (remove: umount -R $scratch; rm -r $scratch $img)"
    else
        remove_scratch
    fi
    rm -f "$work"/settle.*
    [ "$rc" = 0 ] || log "failed (exit $rc); logs in $out/logs"
    exit "$rc"
}
remove_scratch   # a killed earlier run may have left it
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
rm -rf "$recroot"
mkdir -p "$recroot" "$out"
rm -f "$out"/results.md "$out"/results.json

want() { [[ ,$storages, == *",$1,"* ]]; }
ctdump() { "$ct" --lxcpath "$lxcp" --config-dir "$etc" "$@"; }
skip_step() {   # STORAGE STEP REASON
    printf '%s\t%s\tskipped\t\t\t\t\t\t%s\n' "$1" "$2" "$3" >>"$rec/steps.tsv"
}
stored() {   # STORAGE PHASE KIND PATH...: du of the paths (missing ones count 0)
    local b=0 p
    for p in "${@:4}"; do
        [ -e "$p" ] && b=$((b + $(du -sb "$p" | cut -f1)))
    done
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$b" >>"$rec/stored.tsv"
}
prep() {   # PATH...: warm the page cache with PATH (or drop it with --cold)
    local p
    if [ "$cold" = 1 ]; then
        drop_caches
        return 0
    fi
    [ "$settle" = 1 ] && settle_memory "$work/settle"
    for p in "$@"; do
        [ -e "$p" ] || continue
        if [ -d "$p" ]; then warm "$p"; else cat "$p" >/dev/null; fi
    done
}

# storage ids in storage.cfg: one section per storage and restore mechanism
# (a provider answers restore_get_mechanism with its section's
# `restore-mechanism` key, so a second section names the same repository)
sid() { echo "bp-$1${2:+-$2}"; }
repo_paths() {   # STORAGE: what it stores (for du)
    case $1 in
        datastore) echo "$scratch/store-datastore" ;;
        dir) echo "$scratch/store-dir" ;;
        borg) echo "$scratch/store-borg" ;;
        restic) echo "$scratch/store-restic" ;;
        dir-example) echo "$scratch/store-dir-example" ;;
    esac
}
cache_paths() {   # STORAGE: the client caches and state a provider keeps beside it
    case $1 in
        borg|restic) echo "$scratch/prov-cache/$1 $scratch/prov-state/$1" ;;
    esac
}
mechanisms() {   # STORAGE: the restore mechanisms measured
    case $1 in
        datastore|dir) echo native ;;
        borg|restic|dir-example) echo "directory tar" ;;
    esac
}
provider_section() {   # STORAGE MECHANISM
    local s=$1 m=$2
    printf 'provider: %s\n' "$(sid "$s" "$([ "$m" = tar ] && echo tar)")"
    case $s in
        borg|restic)
            printf '\tcommand %s\n' "$bindir/providers/$s/ctdump-provider-$s"
            printf '\trepository %s\n' "$scratch/store-$s"
            printf '\tpassphrase-file %s\n' "$etc/priv/$s.pw"
            # the same state and cache for both sections (cache-dir gets the storage id appended)
            printf '\tstate-dir %s\n' "$scratch/prov-state/$s"
            printf '\tcache-dir %s\n' "$scratch/prov-cache/$s"
            printf '\trun-dir %s\n' "$scratch/prov-run/$s" ;;
        dir-example)
            printf '\tcommand %s\n' "$bindir/providers/dir-example.py"
            printf '\tpath %s\n' "$scratch/store-dir-example" ;;
    esac
    printf '\trestore-mechanism %s\n' "$m"
}
write_storage_cfg() {
    local s m
    mkdir -p "$etc/priv"
    chmod 0700 "$etc/priv"
    : >"$etc/storage.cfg"
    for s in ${storages//,/ }; do
        case $s in
            datastore)
                mkdir -p "$scratch/store-datastore"
                printf 'datastore: %s\n\tpath %s\n\n' "$(sid datastore)" "$scratch/store-datastore" >>"$etc/storage.cfg" ;;
            dir)
                mkdir -p "$scratch/store-dir"
                printf 'dir: %s\n\tpath %s\n\n' "$(sid dir)" "$scratch/store-dir" >>"$etc/storage.cfg" ;;
            borg|restic|dir-example)
                if [ "$s" != dir-example ]; then
                    (umask 077; head -c 32 /dev/urandom | base64 >"$etc/priv/$s.pw")
                else
                    mkdir -p "$scratch/store-dir-example"
                    chmod 0755 "$scratch/store-dir-example"
                fi
                for m in $(mechanisms "$s"); do
                    { provider_section "$s" "$m"; echo; } >>"$etc/storage.cfg"
                done ;;
        esac
    done
}
write_ct_config() {   # NAME ROOTFS
    mkdir -p "$lxcp/$1"
    chmod 0755 "$lxcp/$1"
    {
        echo "# written by bench/providers/run.sh: never started"
        echo "lxc.include = /usr/share/lxc/config/common.conf"
        echo "lxc.include = /usr/share/lxc/config/userns.conf"
        echo "lxc.idmap = u 0 $MAP_HOST $MAP_COUNT"
        echo "lxc.idmap = g 0 $MAP_HOST $MAP_COUNT"
        echo "lxc.arch = amd64"
        echo "lxc.uts.name = $1"
        echo "lxc.rootfs.path = dir:$2"
        echo "lxc.net.0.type = empty"
        echo "lxc.apparmor.profile = unconfined"
    } >"$lxcp/$1/config"
}
newest_volid() {   # STORAGE-ID VMID
    ctdump --output-format json list "$1" --vmid "$2" | python3 -c '
import json, sys
vols = []
for line in sys.stdin:
    e = json.loads(line)
    if e.get("event") == "result":
        vols = e["data"]
print(max(vols, key=lambda v: v["ctime"])["volid"] if vols else "")'
}

# state per storage: ok, or failed with a reason (its later steps are skipped)
declare -A st_state=() st_reason=()
st_ok() { [ "${st_state[$1]}" = ok ]; }
st_step() {   # STORAGE STEP CMD...: measure unless the storage is out; a failed backup puts it out
    local s=$1 step=$2
    shift 2
    if ! st_ok "$s"; then
        skip_step "$s" "$step" "${st_reason[$s]}"
        return 1
    fi
    if ! measure "$s" "$step" "$@"; then
        case $step in
            full|incremental)
                st_state[$s]=failed
                st_reason[$s]="$step backup failed (see logs/$s-$step.log)" ;;
        esac
        return 1
    fi
}

backup_all() {   # PHASE (full | incremental)
    local s phase=$1
    for s in ${storages//,/ }; do
        prep "$src"
        st_step "$s" "$phase" "${ctb[@]}" backup "$ctname" --storage "$(sid "$s")" --mode stop \
            --remove 0 --tmpdir "$scratch/tmp" || true
        if st_ok "$s"; then
            # shellcheck disable=SC2046  # word lists of paths
            stored "$s" "$phase" repository $(repo_paths "$s")
            if [ -n "$(cache_paths "$s")" ]; then
                # shellcheck disable=SC2046
                stored "$s" "$phase" cache $(cache_paths "$s")
            fi
        fi
    done
}

restore_all() {
    local s m id volid vol step dir excl mopt
    for s in ${storages//,/ }; do
        for m in $(mechanisms "$s"); do
            step=restore-$m
            [ "$m" = native ] && step=restore
            if ! st_ok "$s"; then
                skip_step "$s" "$step" "${st_reason[$s]}"
                continue
            fi
            id=$(sid "$s" "$([ "$m" = tar ] && echo tar)")
            volid=$(newest_volid "$id" "$ctname" 2>"$logs/$s-$step-list.log") || true
            [ -s "$logs/$s-$step-list.log" ] || rm -f "$logs/$s-$step-list.log"
            if [ -z "$volid" ]; then
                skip_step "$s" "$step" "ctdump list $id shows no backup of $ctname (logs/$s-$step-list.log)"
                log "$s: no backup to restore in ctdump list $id"
                continue
            fi
            vol=${volid#*:}
            dir=$scratch/restore-$s-$m
            # shellcheck disable=SC2046
            prep $(repo_paths "$s")
            mopt=()
            [ "$mech_opt" = 1 ] && [ "$m" != native ] && mopt=(--mechanism "$m")
            if measure "$s" "$step" "${ctb[@]}" restore "$id:$vol" "$rsname" --rootfs "$dir" "${mopt[@]}"; then
                # no device nodes in an unprivileged container; a restore may add
                # etc/vzdump/ (vzdump-format archives), which the source lacks
                excl=(--exclude 'dev/*')
                if [ -e "$dir/etc/vzdump" ] && [ ! -e "$src/etc/vzdump" ]; then
                    excl+=(--exclude etc --exclude etc/vzdump --exclude 'etc/vzdump/*')
                fi
                restore_check "$s-$m" "$dir" "${excl[@]}"
                cp "$lxcp/$rsname/config" "$rec/restored-config-$s-$m.txt" 2>/dev/null || true
            fi
            # destroy the restored container (never started)
            lxc-stop -P "$lxcp" -n "$rsname" -k >/dev/null 2>&1 || true
            rm -rf --one-file-system "$dir" "${lxcp:?}/$rsname"
        done
    done
}

run_corpus() {   # NAME CORPUS-DIR
    local name=$1 cdir=$2 corpus_bytes scratch_bytes s load1
    rec=$recroot/$name
    logs=$rec/logs
    mkdir -p "$rec" "$logs"
    log "=== corpus $name ($cdir/base) ==="
    remove_scratch
    corpus_bytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["logical_bytes"])' "$cdir/stats.json")
    # the source, five storages (dir's two archives), a restore and a
    # provider's staging copy; sparse, only what is written counts
    scratch_bytes=$(( corpus_bytes * 8 + 4 * 1024 * 1024 * 1024 ))
    make_scratch "$scratch_bytes" ext4
    chmod 0755 "$scratch"
    src=$scratch/src
    lxcp=$scratch/lxc
    etc=$scratch/etc
    mkdir -p "$lxcp" "$etc" "$scratch/tmp"
    chmod 0755 "$lxcp"
    export CTDUMP_LOG_DIR=$scratch/ctdump-log CTDUMP_RUN_DIR=$scratch/ctdump-run \
        CTDUMP_STATE_DIR=$scratch/ctdump-state
    mkdir -p "$CTDUMP_LOG_DIR" "$CTDUMP_RUN_DIR" "$CTDUMP_STATE_DIR"
    ctb=("$ct" --lxcpath "$lxcp" --config-dir "$etc")

    meta_machine
    meta corpus "$name"
    meta corpus_desc "$(corpus_desc "$name")"
    meta size "$size"
    meta fstype "$(findmnt -n -o FSTYPE -T "$scratch") on a loop file (direct I/O), made for this corpus"
    meta cache "$([ "$cold" = 1 ] && echo cold || echo warm)"
    meta settle "$([ "$cold" = 0 ] && [ "$settle" = 1 ] && echo 1 || echo 0)"
    meta ctdump_version "$ctdump_desc"
    meta restore_mechanism_option "$([ "$mech_opt" = 1 ] && echo "ctdump restore --mechanism M, with the section whose restore-mechanism is M" || echo "no ctdump restore --mechanism: the section whose restore-mechanism is M")"
    meta borg_version "$(borg --version 2>&1 | head -n1)"
    meta restic_version "$(restic version 2>&1 | head -n1 | cut -d' ' -f1-2)"
    meta rclone_version "$(rclone version 2>&1 | head -n1)"
    meta zstd_version "$(zstd --version 2>&1 | head -n1 | sed 's/^\*\*\* //; s/, by .*//')"
    meta python_version "$(python3 --version 2>&1)"
    meta git "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
    meta content_check "$content"
    meta storages "$storages"
    meta container "$ctname (unprivileged, lxc.idmap u/g 0 $MAP_HOST $MAP_COUNT, stopped, never started)"
    load1=$(cut -d' ' -f1 /proc/loadavg)
    awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }' \
        && log "load average is $load1: other work is running, numbers will be noisy"

    log "copying the corpus to $src and shifting its owners into the container's map"
    cp -a "$cdir/base" "$src"
    python3 "$here/idshift.py" "$src" --offset "$MAP_HOST" --count "$MAP_COUNT" >"$rec/idshift.json"
    # ctdump's tar-mechanism restore (as PVE's) refuses an archive without
    # `sbin` ("no 'sbin' directory (or link) found in archive"): the corpora
    # that are no root file system (unique, tiny) get an empty one
    if [ ! -e "$src/sbin" ] && [ ! -L "$src/sbin" ]; then
        mkdir -m 0755 "$src/sbin"
        chown "$MAP_HOST:$MAP_HOST" "$src/sbin"
        meta added_sbin "an empty sbin/ (ctdump's tar-mechanism restore refuses an archive without one)"
    fi
    python3 "$repo/bench/datastore/treecheck.py" stats "$src" >"$rec/corpus.json"
    write_ct_config "$ctname" "$src"
    write_storage_cfg
    cp "$etc/storage.cfg" "$rec/storage.cfg.txt"
    cp "$lxcp/$ctname/config" "$rec/container-config.txt"

    for s in ${storages//,/ }; do st_state[$s]=ok; st_reason[$s]=""; done

    # --- 1. full backups
    backup_all full

    # --- 2. the change set, in place (untouched files keep their inodes); the
    # new files (host root's) into the container's map like the rest
    log "applying the change set (bench/datastore/mutate.py, seed 42)"
    python3 "$repo/bench/datastore/mutate.py" apply "$src" --seed 42 >"$rec/mutate.json"
    python3 "$here/idshift.py" "$src" --offset "$MAP_HOST" --count "$MAP_COUNT" >"$rec/idshift-changed.json"
    python3 "$repo/bench/datastore/treecheck.py" stats "$src" >"$rec/changed.json"

    # --- 3. incremental backups
    backup_all incremental
    # the provider names the parent snapshot ("with restic (parent 1234abcd)")
    if want restic && [ -f "$logs/restic-incremental.log" ]; then
        if grep -q '(parent [0-9a-f]*)' "$logs/restic-incremental.log"; then
            meta restic_parent "named in the log: $(grep -o '(parent [0-9a-f]*)' "$logs/restic-incremental.log" | head -n1)"
        else
            log "note: restic's incremental log names no parent snapshot"
            meta restic_parent "NOT named in the log (a full re-read?)"
        fi
    fi

    # --- 4. restores of the changed state, through each mechanism
    restore_all

    for s in ${storages//,/ }; do
        meta "state_$s" "${st_state[$s]}${st_reason[$s]:+: ${st_reason[$s]}}"
    done
    meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
    save_task_logs
    destroy_containers
    [ "$keep" = 1 ] || remove_scratch
}

for c in ${corpora//,/ }; do
    run_corpus "$c" "$(corpus_path "$c")"
done

# --- report ------------------------------------------------------------------
printf '%s\t%s\n' duration_s "$((EPOCHSECONDS - T_START))" >"$recroot/run.tsv"
printf '%s\t%s\n' command "run.sh $orig_args" >>"$recroot/run.tsv"
copy_logs
python3 "$here/report.py" "$recroot" "$out"
log "results: $out/results.md, $out/results.json, $out/logs/"
