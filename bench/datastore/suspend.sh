# bench/datastore/suspend.sh - suspend mode and stop-mode downtime on a
# running container (sourced by run.sh, not run; --suspend).
#
# run_suspend CORPUS-DIR: a privileged LXC container (lxc.net.0.type = empty,
# a shell loop as init, as tests/realenv/setup.sh makes them) whose rootfs on
# the scratch file system is the cached minbase rootfs + the corpus under
# /srv/corpus; started, then backed up:
#   ctdump stop-running   ctdump backup --mode stop (stops, backs up, starts)
#   ctdump suspend        ctdump backup --mode suspend (its own copy passes)
#   tar stop-running      vzdump's stop mode: lxc-stop; tar | zstd -1 -T2; lxc-start
#   tar suspend           vzdump's suspend mode: rsync -aHAX --numeric-ids
#                         --sparse to a temporary copy; lxc-freeze; the same
#                         rsync with --delete; lxc-unfreeze; tar | zstd of the copy
# Each ctdump backup goes into a fresh storage.  suspend_cleanup (run.sh's
# exit trap) stops the container on every exit.
# shellcheck shell=bash disable=SC2154

susp_ct="" susp_lxcp=""

suspend_cleanup() {
    [ -n "$susp_ct" ] || return 0
    local st
    st=$(lxc-info -P "$susp_lxcp" -n "$susp_ct" -s -H 2>/dev/null </dev/null || true)
    [ "$st" = FROZEN ] && lxc-unfreeze -P "$susp_lxcp" -n "$susp_ct" </dev/null 2>/dev/null
    [ -n "$st" ] && [ "$st" != STOPPED ] && lxc-stop -k -P "$susp_lxcp" -n "$susp_ct" </dev/null 2>/dev/null
    lxc-destroy -P "$susp_lxcp" -n "$susp_ct" </dev/null >/dev/null 2>&1 || true
    susp_ct=""
}

susp_state() { lxc-info -P "$susp_lxcp" -n "$susp_ct" -s -H 2>/dev/null </dev/null || true; }
susp_start() {   # start the container unless it runs
    [ "$(susp_state)" = RUNNING ] && return 0
    lxc-start -P "$susp_lxcp" -n "$susp_ct" -d </dev/null \
        && lxc-wait -P "$susp_lxcp" -n "$susp_ct" -s RUNNING -t 20 </dev/null
}

# the vzdump stand-ins; $1 lxcpath, $2 name, $3 rootfs, $4 archive, $5 copy dir,
# $6 file for the times (epoch seconds: stop/freeze and start/thaw)
# shellcheck disable=SC2016  # expanded by bash -c
vz_stop='set -eo pipefail
lxc-stop -P "$1" -n "$2" </dev/null; echo "down $EPOCHREALTIME" >"$6"
tar --numeric-owner -cf - -C "$3" . | zstd -1 -T2 -q -f -o "$4"
lxc-start -P "$1" -n "$2" -d </dev/null; lxc-wait -P "$1" -n "$2" -s RUNNING -t 20 </dev/null
echo "up $EPOCHREALTIME" >>"$6"'
# shellcheck disable=SC2016
vz_suspend='set -eo pipefail
rs=(rsync -aHAX --numeric-ids --sparse --one-file-system)
mkdir -p "$5"
"${rs[@]}" "$3/" "$5/"
lxc-freeze -P "$1" -n "$2" </dev/null; echo "down $EPOCHREALTIME" >"$6"
"${rs[@]}" --delete "$3/" "$5/"
lxc-unfreeze -P "$1" -n "$2" </dev/null; echo "up $EPOCHREALTIME" >>"$6"
tar --numeric-owner -cf - -C "$5" . | zstd -1 -T2 -q -f -o "$4"
rm -rf --one-file-system "$5"'

# downtime FILE: seconds between the "down" and "up" lines (empty if absent)
downtime() {
    awk '$1 == "down" { d = $2 } $1 == "up" { u = $2 } END { if (d != "" && u != "") printf "%.2f", u - d }' "$1" 2>/dev/null
}

# ctdump_downtime LOG: the container's downtime from ctdump's log: "guest
# was frozen for N ms" (suspend), else the seconds between the task log's
# "stopping virtual guest" and "restarting vm" lines (whole seconds: +-1 s)
ctdump_downtime() {
    python3 - "$1" <<'PY' 2>/dev/null || true
import re, sys, datetime
down = up = None
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r"guest was frozen for (\d+) ms", line)
    if m:
        print(f"{int(m[1]) / 1000:.3f}")
        sys.exit(0)
    m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) ", line)
    if not m:
        continue
    t = datetime.datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S")
    if "stopping virtual guest" in line:
        down = t
    elif "restarting vm" in line and down is not None:
        up = t
if down is not None and up is not None:
    print(f"{(up - down).total_seconds():.0f}")
PY
}

run_suspend() {   # CORPUS-DIR
    local cdir=$1 root lb st c dt_stop="" dt_susp="" vz_stop_dt vz_susp_dt note=""
    for c in lxc-start lxc-stop lxc-freeze lxc-info rsync; do
        command -v "$c" >/dev/null || { log "suspend: $c missing (apt-get install lxc rsync); skipped"; return 0; }
    done
    susp_ct=ctbench$$ susp_lxcp=$lxcp
    root=$scratch/ct-$susp_ct/rootfs
    if [ -e "/sys/fs/cgroup/freezer/lxc.payload.$susp_ct" ]; then
        log "suspend: container name $susp_ct is in use on this host; skipped"
        susp_ct=""
        return 0
    fi
    log "suspend: building container $susp_ct (minbase rootfs + the corpus under /srv/corpus)"
    mkdir -p "$root" "$susp_lxcp/$susp_ct" "$scratch/tmp"
    chmod 0755 "$scratch/ct-$susp_ct" "$root"
    extract_rootfs "$(rootfs_source)" "$root"
    mkdir -p "$root/srv"
    cp -a "$cdir/base" "$root/srv/corpus"
    # the minimal PID 1 of tests/realenv/setup.sh (minbase has no init)
    local init=$root/sbin/init
    [ -L "$root/sbin" ] && init=$root/usr/sbin/init
    rm -f "$init"
    # shellcheck disable=SC2016  # expanded by the container's sh
    printf '%s\n' '#!/bin/sh' 'trap "exit 0" TERM PWR INT' \
        'echo "init started $(date +%s)" > /run/init.started' \
        'while :; do sleep 1000 & wait $!; done' >"$init"
    chmod 0755 "$init"
    {
        echo "# written by bench/datastore/suspend.sh"
        echo "lxc.include = /usr/share/lxc/config/common.conf"
        echo "lxc.arch = amd64"
        echo "lxc.uts.name = $susp_ct"
        echo "lxc.rootfs.path = dir:$root"
        echo "lxc.net.0.type = empty"
        echo "lxc.apparmor.profile = unconfined"
        echo "lxc.init.cmd = /sbin/init"
        echo "lxc.log.file = $logs/lxc-$susp_ct.log"
        echo "lxc.log.level = INFO"
    } >"$susp_lxcp/$susp_ct/config"
    python3 "$here/treecheck.py" stats "$root" >"$scratch/susp-stats.json"
    lb=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["logical_bytes"])' "$scratch/susp-stats.json")
    if ! susp_start; then
        log "suspend: lxc-start $susp_ct failed (see logs/lxc-$susp_ct.log); skipped"
        suspend_cleanup
        return 0
    fi

    # ctdump: stop mode, then suspend mode, each into a fresh storage
    if ct_ok; then
        add_storage susp-stop "$scratch/store-stop"
        add_storage susp-susp "$scratch/store-susp"
        prep "$root"
        measure ctdump stop-running "${ctb[@]}" backup "$susp_ct" --storage susp-stop --mode stop \
            --stdexcludes 0 --tmpdir "$scratch/tmp" || true
        cp "$CTDUMP_LOG_DIR/lxc-$susp_ct.log" "$logs/ctdump-stop-running.task.log" 2>/dev/null || true
        st=$(susp_state)
        [ "$st" = RUNNING ] || { note="ctdump stop mode left the container $st; restarted"; susp_start; }
        prep "$root"
        measure ctdump suspend "${ctb[@]}" backup "$susp_ct" --storage susp-susp --mode suspend \
            --stdexcludes 0 --tmpdir "$scratch/tmp" || true
        cp "$CTDUMP_LOG_DIR/lxc-$susp_ct.log" "$logs/ctdump-suspend.task.log" 2>/dev/null || true
        st=$(susp_state)
        [ "$st" = RUNNING ] || { note="$note; ctdump suspend mode left the container $st"; susp_start; }
        dt_stop=$(ctdump_downtime "$logs/ctdump-stop-running.task.log")
        dt_susp=$(ctdump_downtime "$logs/ctdump-suspend.log")
        rm -rf --one-file-system "$scratch/store-stop" "$scratch/store-susp"
    else
        skip_step ctdump stop-running "$ct_reason"
        skip_step ctdump suspend "$ct_reason"
    fi
    # vzdump's way (always measured: the reference of the targets)
    prep "$root"
    measure tar stop-running bash -c "$vz_stop" vz "$susp_lxcp" "$susp_ct" "$root" \
        "$scratch/vz-stop.tar.zst" "" "$scratch/vz-stop.times" || true
    susp_start || true
    vz_stop_dt=$(downtime "$scratch/vz-stop.times")
    prep "$root"
    measure tar suspend bash -c "$vz_suspend" vz "$susp_lxcp" "$susp_ct" "$root" \
        "$scratch/vz-susp.tar.zst" "$scratch/tmp/vzdump-copy" "$scratch/vz-susp.times" || true
    vz_susp_dt=$(downtime "$scratch/vz-susp.times")
    rm -f "$scratch/vz-stop.tar.zst" "$scratch/vz-susp.tar.zst"
    suspend_cleanup
    python3 - "$rec/suspend.json" "$lb" "${dt_stop:-}" "${dt_susp:-}" "${vz_stop_dt:-}" \
        "${vz_susp_dt:-}" "$note" "rootfs + /srv/corpus" <<'PY'
import json, sys
f = lambda s: float(s) if s else None
out, lb, a, b, c, d, note, rootfs = sys.argv[1:]
json.dump({"logical_bytes": int(lb), "ctdump_stop_downtime_s": f(a), "ctdump_suspend_frozen_s": f(b),
           "vzdump_stop_downtime_s": f(c), "vzdump_suspend_frozen_s": f(d), "note": note.strip("; "),
           "rootfs": rootfs}, open(out, "w"))
PY
}
