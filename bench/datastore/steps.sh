# bench/datastore/steps.sh - the step set run.sh runs on each corpus (sourced,
# not run): run_corpus NAME CORPUS-DIR.  Uses run.sh's options and paths
# ($scratch $img $recroot $ctbin $tools $cold $fs $aged $aged_fs $profile
# $suspend $many ...) and bench/lib.sh.
# shellcheck shell=bash disable=SC2154

first_line() { "$@" 2>&1 | head -n1 || true; }
skip_step() {   # TOOL STEP REASON
    printf '%s\t%s\tskipped\t\t\t\t\t\t%s\n' "$1" "$2" "$3" >>"$rec/steps.tsv"
}
stored() { printf '%s\t%s\t%s\n' "$1" "$2" "$(du -scb "${@:3}" | tail -n1 | cut -f1)" >>"$rec/stored.tsv"; }
# prep PATH...: before a step, warm the page cache with PATH (directories are
# read with tar, files with cat) or, with --cold, drop it
prep() {
    local p
    if [ "$cold" = 1 ]; then
        drop_caches
        return 0
    fi
    [ "$settle" = 1 ] && settle_memory "$work/settle"
    for p in "$@"; do
        if [ -d "$p" ]; then warm "$p"; else cat "$p" >/dev/null; fi
    done
}

# --- ctdump ------------------------------------------------------------------
ct_skip() { ct_state=skipped ct_reason=$1; log "ctdump skipped: $1"; }
ctdump() { "$ct" --lxcpath "$lxcp" --config-dir "$etc" "$@"; }
write_ct_config() {   # NAME ROOTFS
    mkdir -p "$lxcp/$1"
    {
        echo "# written by bench/datastore/run.sh (never started)"
        echo "lxc.uts.name = $1"
        echo "lxc.rootfs.path = dir:$2"
    } >"$lxcp/$1/config"
}
add_storage() {   # ID PATH: a datastore section in the run's storage.cfg
    mkdir -p "$2"
    printf '%s: %s\n\tpath %s\n' "$store_type" "$1" "$2" >>"$etc/storage.cfg"
    [ -z "$compression" ] || printf '\tcompression %s\n' "$compression" >>"$etc/storage.cfg"
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
    ct_state=ok ct_reason=""
    want ctdump || { ct_skip "not selected (--tools)"; return 0; }
    [ -x "$ct" ] || { ct_skip "no ctdump binary at $ctdump_src (build it first)"; return 0; }
    meta ctdump_version "$("$ct" --version 2>&1 | head -n1) (binary built $(date -u -r "$ctdump_src" '+%Y-%m-%d %H:%M UTC'))"
    "$ct" --version >/dev/null 2>&1 || { ct_skip "$ctdump_src --version fails"; return 0; }
    if [ "$store_type" = datastore ] \
        && ! "$ct" --help 2>&1 | grep -Eq '^[[:space:]]+verify([[:space:]]|$)'; then
        ct_skip "this ctdump has no 'verify' subcommand: the datastore is not built in yet"
        return 0
    fi
    mkdir -p "$lxcp" "$etc" "$CTDUMP_LOG_DIR" "$CTDUMP_RUN_DIR"
    : >"$etc/storage.cfg"
    add_storage bench "$scratch/ctdump-store"
    write_ct_config bench-ct "$src"
    local msg
    if ! msg=$(ctdump list bench 2>&1); then
        ct_skip "ctdump does not accept a '$store_type' storage: $(printf '%s' "$msg" | tail -n1)"
        return 0
    fi
}
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
peer() {   # TOOL STEP CMD...: measure a peer's step; a failure is recorded, the run goes on
    want "$1" || return 0
    measure "$@" || true
}

# profile_full: ctdump's full backup once more (into a fresh storage, not
# timed) under perf record; CPU seconds per stage into rec/profile.json
profile_full() {
    local data=$scratch/perf.data pidf=$scratch/perf.pid lb
    if ! ct_ok; then
        log "profile: skipped ($ct_reason)"
        return 0
    fi
    if ! command -v perf >/dev/null; then
        log "profile: no perf (apt-get install linux-perf)"
        return 0
    fi
    add_storage benchprof "$scratch/ctdump-prof-store"
    prep "$src"
    log "ctdump: full backup under perf record (not timed)"
    # shellcheck disable=SC2016  # expanded by bash -c
    if ! perf record -e cpu-clock -F 999 -g -o "$data" -- bash -c 'echo $$ >"$1"; shift; exec "$@"' \
        sh "$pidf" "${ctb[@]}" backup bench-ct --storage benchprof --mode stop --stdexcludes 0 \
        >"$logs/ctdump-profile.log" 2>&1; then
        log "profile: perf record or the backup failed; see logs/ctdump-profile.log"
        return 0
    fi
    lb=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["logical_bytes"])' "$rec/corpus.json")
    python3 "$here/profile.py" "$data" "$(cat "$pidf")" "$lb" >"$rec/profile.json" 2>>"$logs/ctdump-profile.log" \
        || log "profile: profile.py failed; see logs/ctdump-profile.log"
    rm -rf --one-file-system "$data" "$scratch/ctdump-prof-store"
}

# aged_fs_setup: a fresh aged file system on $aged_mnt for one tool's
# restore (each tool gets the same state): made, then $aged_files files
# created and deleted (corpus.py age)
aged_fs_setup() {
    aged_fs_remove
    make_fs "$aged_img" "$aged_mnt" "$aged_bytes" "$aged_fs"
    log "ageing $aged_mnt ($aged_fs): corpus.py age, $aged_files files created and deleted"
    python3 "$here/corpus.py" age "$aged_mnt" --files "$aged_files" >>"$rec/aging.jsonl"
}
aged_fs_remove() {
    findmnt -rn --mountpoint "$aged_mnt" >/dev/null && umount "$aged_mnt"
    rm -f "$aged_img"
}

run_corpus() {   # NAME CORPUS-DIR
    local name=$1 cdir=$2 corpus_bytes scratch_bytes load1 msg
    rec=$recroot/$name
    logs=$rec/logs
    mkdir -p "$rec" "$logs"
    log "=== corpus $name ($cdir/base) ==="
    remove_scratch
    corpus_bytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["logical_bytes"])' "$cdir/stats.json")
    # room for the source copy, one restore, four repositories (tar's two
    # archives), the many-files store, the suspend-mode container and its
    # copies; sparse, so only what is written counts
    scratch_bytes=$(( corpus_bytes * (suspend ? 10 : 5) + (many ? 6 : 4) * 1024 * 1024 * 1024 ))
    make_scratch "$scratch_bytes" "$fs"
    mkdir -p "$scratch/bin"
    src=$scratch/src
    lxcp=$scratch/lxc
    etc=$scratch/etc
    export CTDUMP_LOG_DIR=$scratch/ctdump-log CTDUMP_RUN_DIR=$scratch/ctdump-run
    ct=$ctbin
    ctb=("$ct" --lxcpath "$lxcp" --config-dir "$etc")

    # --- environment facts
    meta_machine
    meta corpus "$name"
    meta corpus_desc "$(corpus_desc "$name")"
    meta size "$size"
    meta fs "$fs"
    meta fstype "$(findmnt -n -o FSTYPE -T "$scratch") on a loop file (direct I/O), made for this corpus"
    meta cache "$([ "$cold" = 1 ] && echo cold || echo warm)"
    meta settle "$([ "$cold" = 0 ] && [ "$settle" = 1 ] && echo 1 || echo 0)"
    meta aged "$aged"
    meta aged_fs "$aged_fs"
    meta baseline_stored "$baseline_stored"
    meta compact_level "$compact_level"
    meta compression "$compression"
    meta tar_version "$(first_line tar --version)"
    meta zstd_version "$(first_line zstd --version | sed 's/^\*\*\* //; s/, by .*//')"
    meta borg_version "$(first_line borg --version)"
    meta restic_version "$(first_line restic version | cut -d' ' -f1-2)"
    meta git "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
    meta content_check "$content"
    meta store_type "$store_type"
    load1=$(cut -d' ' -f1 /proc/loadavg)
    awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }' \
        && log "load average is $load1: other work is running, numbers will be noisy"

    log "copying the corpus to $src"
    cp -a "$cdir/base" "$src"
    python3 "$here/treecheck.py" stats "$src" >"$rec/corpus.json"
    ctdump_prepare

    # --- peers set-up
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

    # --- 1. full backups
    prep "$src"; ct_step full "${ctb[@]}" backup bench-ct --storage bench --mode stop --stdexcludes 0
    prep "$src"; peer tar full bash -c "$tar_create" tar "$src" "$scratch/base.tar.zst"
    prep "$src"; peer borg full env -C "$scratch" borg create --stats --compression zstd,3 "$scratch/borg::full" src
    prep "$src"; peer restic full restic backup --cache-dir "$RESTIC_CACHE_DIR" --host bench "$src"
    ct_ok && stored ctdump full "$scratch/ctdump-store"
    want tar && stored tar full "$scratch/base.tar.zst"
    want borg && stored borg full "$scratch/borg"
    want restic && stored restic full "$scratch/restic"
    [ "$profile" = 1 ] && profile_full

    # --- 2. the change set, in place (inodes of untouched files stay)
    log "applying the change set (mutate.py, seed 42)"
    python3 "$here/mutate.py" apply "$src" --seed 42 >"$rec/mutate.json"
    python3 "$here/treecheck.py" stats "$src" >"$rec/changed.json"

    # --- 3. incremental backups
    prep "$src"; ct_step incremental "${ctb[@]}" backup bench-ct --storage bench --mode stop --stdexcludes 0
    prep "$src"; peer tar incremental bash -c "$tar_create" tar "$src" "$scratch/changed.tar.zst"
    prep "$src"; peer borg incremental env -C "$scratch" borg create --stats --compression zstd,3 "$scratch/borg::inc" src
    prep "$src"; peer restic incremental restic backup --cache-dir "$RESTIC_CACHE_DIR" --host bench "$src"
    ct_ok && stored ctdump incremental "$scratch/ctdump-store"
    want tar && stored tar incremental "$scratch/base.tar.zst" "$scratch/changed.tar.zst"
    want borg && stored borg incremental "$scratch/borg"
    want restic && stored restic incremental "$scratch/restic"
    if want restic && ! grep -q 'using parent snapshot' "$logs/restic-incremental.log"; then
        log "warning: restic's incremental run names no parent snapshot"
    fi

    # --- 3b. ctdump compact (the maintenance job): recompress the chunks
    # stored with the fast backup-time codec; a failure is recorded and the
    # restores still run (they then read whatever the store holds)
    if ! ct_ok; then
        skip_step ctdump compact "$ct_reason"
    elif ! "$ct" --help 2>&1 | grep -Eq '^[[:space:]]+compact([[:space:]]|$)' \
        || ! msg=$("$ct" compact --help 2>&1); then
        skip_step ctdump compact "this ctdump has no 'compact' subcommand (ctdump --help does not list it)"
    else
        # ctdump's restore from the store as the backups left it (fast codec)
        restore_ctdump "$scratch" -before-compact
        prep "$scratch/ctdump-store"
        measure ctdump compact "${ctb[@]}" compact bench ${compact_level:+--level "$compact_level"} \
            && stored ctdump compact "$scratch/ctdump-store"
    fi

    # --- 4. restores (of the changed state), each compared with the source
    restore_all "$scratch" ""
    if [ "$aged" = 1 ]; then
        aged_mnt=$scratch/aged
        aged_bytes=$(( corpus_bytes * 3 + 2 * 1024 * 1024 * 1024 ))
        meta aged_files "$aged_files"
        restore_all "$aged_mnt" -aged
        aged_fs_remove
    fi

    # --- 5. verify / check
    if [ "$store_type" != datastore ] && ct_ok; then
        skip_step ctdump verify "storage type $store_type has no verify"
    else
        ct_ok && prep "$scratch/ctdump-store"
        ct_step verify "${ctb[@]}" verify bench
    fi
    if want tar; then
        prep "$scratch/base.tar.zst" "$scratch/changed.tar.zst"
        peer tar verify zstd -tq "$scratch/base.tar.zst" "$scratch/changed.tar.zst"
    fi
    want borg && prep "$scratch/borg"
    peer borg verify borg check --verify-data "$scratch/borg"
    want restic && prep "$scratch/restic"
    peer restic verify restic check --read-data --cache-dir "$RESTIC_CACHE_DIR"

    # --- 6. peak RSS on 1,000,000 files (ctdump only; with the first corpus)
    if [ "$many" = 1 ] && [ ! -e "$recroot/.many-done" ]; then
        : >"$recroot/.many-done"
        cp "$work/corpus-many/stats.json" "$rec/many.json"
        if ct_ok; then
            write_ct_config bench-many "$many_dir"
            prep "$many_dir"
        fi
        ct_step many "${ctb[@]}" backup bench-many --storage bench --mode stop --stdexcludes 0
    fi

    # --- 7. suspend mode and stop-mode downtime on a running container
    [ "$suspend" = 1 ] && run_suspend "$cdir"

    meta ctdump_state "$ct_state"
    meta ctdump_reason "$ct_reason"
    meta load_end "$(cut -d' ' -f1-3 /proc/loadavg)"
    [ "$keep" = 1 ] || remove_scratch
}

# restore_ctdump ROOT SUFFIX: ctdump's restore (step restore SUFFIX) of the
# newest backup into ROOT/restore-ctdump, compared with the source, removed
restore_ctdump() {
    local root=$1 sfx=$2 volid="" ct_excl
    if ct_ok; then
        volid=$(newest_volid bench-ct) || true
        [ -n "$volid" ] || { ct_state=failed ct_reason="ctdump list shows no backup of bench-ct"; }
    fi
    if ! ct_ok; then
        skip_step ctdump "restore$sfx" "$ct_reason"
        return 0
    fi
    [ "$sfx" = -aged ] && aged_fs_setup
    prep "$scratch/ctdump-store"
    ct_step "restore$sfx" "${ctb[@]}" restore "$volid" bench-restore --unprivileged 0 \
        --rootfs "$root/restore-ctdump"
    # ctdump's restore creates no device nodes (LXC mounts /dev); a restore
    # from a vzdump-format archive adds etc/vzdump/ (and so touches etc/)
    ct_excl=(--exclude 'dev/*')
    if [ -e "$root/restore-ctdump/etc/vzdump" ] && [ ! -e "$src/etc/vzdump" ]; then
        ct_excl+=(--exclude etc --exclude etc/vzdump --exclude 'etc/vzdump/*')
    fi
    ct_ok && restore_check "ctdump$sfx" "$root/restore-ctdump" "${ct_excl[@]}"
    rm -rf --one-file-system "$root/restore-ctdump" "$lxcp/bench-restore"
}

# restore_all ROOT SUFFIX: the restores onto the file system at ROOT (steps
# restore SUFFIX); with SUFFIX -aged only ctdump and tar, each after ageing
restore_all() {
    local root=$1 sfx=$2
    restore_ctdump "$root" "$sfx"
    if want tar; then
        [ -n "$sfx" ] && aged_fs_setup
        mkdir "$root/restore-tar"
        prep "$scratch/changed.tar.zst"
        peer tar "restore$sfx" bash -c "$tar_extract" \
            tar "$scratch/changed.tar.zst" "$root/restore-tar" \
            && restore_check "tar$sfx" "$root/restore-tar"
        rm -rf --one-file-system "$root/restore-tar"
    fi
    [ -n "$sfx" ] && return 0
    if want borg; then
        mkdir "$root/restore-borg"
        prep "$scratch/borg"
        peer borg restore env -C "$root/restore-borg" borg extract "$scratch/borg::inc" \
            && restore_check borg "$root/restore-borg/src"
        rm -rf --one-file-system "$root/restore-borg"
    fi
    if want restic; then
        prep "$scratch/restic"
        peer restic restore restic restore latest --cache-dir "$RESTIC_CACHE_DIR" --target "$root/restore-restic" \
            && restore_check restic "$root/restore-restic$src"
        rm -rf --one-file-system "$root/restore-restic"
    fi
}

# shellcheck disable=SC2016  # expanded by bash -c
tar_create='set -o pipefail; tar --numeric-owner -cf - -C "$1" . | zstd -1 -T2 -q -f -o "$2"'
# shellcheck disable=SC2016
tar_extract='set -o pipefail; zstd -dc "$1" | tar --numeric-owner -xf - -C "$2"'
