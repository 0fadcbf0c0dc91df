#!/usr/bin/env bash
# ceph-cluster.sh - a throw-away single-node Ceph cluster (Debian 12's Pacific
# packages) for ctdump's tests, the demo and the RADOS bench. No cephadm, no
# containers, no systemd, nothing in /etc/ceph or /var/lib/ceph: the config,
# keyrings, daemon data, sockets, logs and pid files all live under $CEPH_DIR,
# every daemon listens on 127.0.0.1 only (msgr2, cephx on).
#
# Usage: CEPH_DIR=DIR scripts/ceph-cluster.sh COMMAND
#   start             bootstrap from nothing: a monitor, NUM_OSDS OSDs, the pool
#                     $POOL; returns once a real write to it succeeds. Writes
#                     $CEPH_DIR/env (source it: CEPH_CONF, CEPH_POOL, ...). On
#                     failure prints the log tails, stops what it started and
#                     removes $CEPH_DIR.
#   stop              SIGTERM every daemon of this cluster (SIGKILL after
#                     STOP_GRACE s), then remove $CEPH_DIR
#   status            the daemons and `ceph -s`
#   osd-stop N        SIGTERM osd.N, wait until it has exited and the monitor
#                     has marked it down
#   osd-kill N        SIGKILL osd.N (no goodbye), wait until the monitor has
#                     marked it down (heartbeat grace: about 10 s)
#   osd-start N       start osd.N again (bluestore keeps its data; a memstore
#                     OSD comes back empty), wait until it is up
#   pool NAME [SIZE]  create a replicated pool (pg_num 8, size SIZE, default
#                     POOL_SIZE, min_size 1, application rados) and wait until
#                     a real write to it succeeds
#
# A librados client needs only `ceph_conf=$CEPH_DIR/ceph.conf` and a user name:
# the conf names each user's keyring ($CEPH_DIR/ceph.client.<user>.keyring).
#   client.admin    all caps
#   client.ctdump   mon 'allow r', osd 'allow rwx pool=$POOL' (least privilege; x: cls_lock, the leases)
#
# Environment:
#   CEPH_DIR          the cluster's directory (required; must not exist or be
#                     empty at start; stop removes it)
#   NUM_OSDS=1        1..3
#   OSD_STORE=memstore  memstore (RAM, capped at MEMSTORE_BYTES) | bluestore
#                     (a sparse file of OSD_BLOCK_SIZE per OSD in $CEPH_DIR)
#   MEMSTORE_BYTES=2147483648, OSD_BLOCK_SIZE=10G
#   WITH_MGR=0        1: start a ceph-mgr (HEALTH_OK, pg statistics)
#   POOL=ctdump       pool created at start ("" = none), POOL_SIZE=1
#   MON_PORT          the monitor's port (default: random free in 20000-29999,
#                     below the kernel's ephemeral range)
#   STOP_GRACE=5      seconds a daemon gets after SIGTERM before SIGKILL
#
# Needs: ceph-mon ceph-osd ceph-common uuid-runtime (ceph-mgr with WITH_MGR=1).
set -euo pipefail
exec </dev/null

me=${0##*/}
die() { printf '[%s] ERROR: %s\n' "$me" "$*" >&2; exit 1; }
[ -n "${CEPH_DIR:-}" ] || die "CEPH_DIR is not set: name the cluster's directory (e.g. CEPH_DIR=/tmp/ceph-test)"
CEPH_DIR=$(realpath -m -- "$CEPH_DIR")
[ "$CEPH_DIR" != / ] || die "CEPH_DIR must not be /"
NUM_OSDS=${NUM_OSDS:-1}
OSD_STORE=${OSD_STORE:-memstore}
MEMSTORE_BYTES=${MEMSTORE_BYTES:-2147483648}
OSD_BLOCK_SIZE=${OSD_BLOCK_SIZE:-10G}
WITH_MGR=${WITH_MGR:-0}
POOL=${POOL-ctdump}
POOL_SIZE=${POOL_SIZE:-1}
STOP_GRACE=${STOP_GRACE:-5}
CONF=$CEPH_DIR/ceph.conf
# Written first at start: stop removes only a directory that has it.
MARKER=$CEPH_DIR/.ctdump-ceph-cluster

T0=$(date +%s.%N)
ts() { awk -v t0="$T0" -v now="$(date +%s.%N)" -v m="$*" -v me="$me" \
           'BEGIN{printf "[%s %6.2fs] %s\n", me, now-t0, m}' >&2; }
# The ceph CLI (python, ~0.25 s a call); a dead monitor fails it in 10 s.
C() { ceph -c "$CONF" --connect-timeout 10 "$@"; }
# Cq: C without its chatter ("pool 'x' created" on stderr) unless it fails.
Cq() {
    local out
    out=$(C "$@" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
}

# free_port BASE: a random port in [BASE, BASE+10000) that no socket uses,
# listening or not (a port that is the local end of an outgoing connection
# passes a connect test but fails bind()).
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$(($1 + RANDOM % 10000))
        if [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then
            echo "$p"
            return 0
        fi
    done
    die "no free port in $1-$(($1 + 9999))"
}

# ours PID: is PID a process of this cluster (its command line has "-c $CONF")?
# Guards every signal we send against PID reuse.
ours() {
    local args
    [ -r "/proc/$1/cmdline" ] || return 1
    mapfile -d '' -t args <"/proc/$1/cmdline" 2>/dev/null || return 1
    local i
    for ((i = 0; i + 1 < ${#args[@]}; i++)); do
        [ "${args[i]}" = -c ] && [ "${args[i + 1]}" = "$CONF" ] && return 0
    done
    return 1
}

# cluster_pids: every live process of this cluster: the pid files, and any
# process whose command line names the conf (a mkfs, a daemon whose pid file
# was never written).
cluster_pids() {
    local f p
    {
        for f in "$CEPH_DIR"/run/*.pid; do
            [ -f "$f" ] && cat "$f"
        done
        for f in /proc/[0-9]*/cmdline; do
            p=${f#/proc/}
            p=${p%/cmdline}
            [ "$p" != $$ ] && grep -qF -- "$CONF" "$f" 2>/dev/null && echo "$p"
        done
    } | sort -un | while read -r p; do
        ours "$p" && echo "$p"
    done
}

# term_and_wait PID...: SIGTERM, wait up to STOP_GRACE s, then SIGKILL and wait.
term_and_wait() {
    local p end
    [ $# -gt 0 ] || return 0
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    end=$(($(date +%s) + STOP_GRACE))
    for p in "$@"; do
        while ours "$p"; do
            if [ "$(date +%s)" -ge "$end" ]; then
                printf '[%s] pid %s ignored SIGTERM for %s s: SIGKILL\n' "$me" "$p" "$STOP_GRACE" >&2
                kill -KILL "$p" 2>/dev/null || true
                local i
                for ((i = 0; i < 100; i++)); do
                    ours "$p" || break
                    sleep 0.05
                done
                break
            fi
            sleep 0.05
        done
    done
}

pid_of() { [ -f "$CEPH_DIR/run/$1.pid" ] && cat "$CEPH_DIR/run/$1.pid"; }

do_stop() {
    if [ ! -e "$CEPH_DIR" ]; then
        echo "no cluster at $CEPH_DIR"
        return 0
    fi
    if [ ! -e "$MARKER" ] && [ -n "$(ls -A "$CEPH_DIR")" ]; then
        die "$CEPH_DIR is not a cluster of this script (no $MARKER): not touching it"
    fi
    local t0=$SECONDS f p daemons=() mons=()
    # The OSDs and the mgr first (they tell the monitor they go), then the monitor.
    for f in "$CEPH_DIR"/run/osd.*.pid "$CEPH_DIR"/run/mgr.*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        ours "$p" && daemons+=("$p")
    done
    term_and_wait "${daemons[@]}"
    for f in "$CEPH_DIR"/run/mon.*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        ours "$p" && mons+=("$p")
    done
    term_and_wait "${mons[@]}"
    # Whatever else still names the conf (a mkfs of a failed start).
    mapfile -t rest < <(cluster_pids)
    term_and_wait "${rest[@]}"
    rm -rf -- "$CEPH_DIR"
    echo "stopped $((${#daemons[@]} + ${#mons[@]} + ${#rest[@]})) process(es) in $((SECONDS - t0)) s, removed $CEPH_DIR"
}

# wait_for TIMEOUT WHAT COMMAND...: retry COMMAND; fail at once when a daemon
# we started has died.
wait_for() {
    local t=$1 what=$2 end f
    shift 2
    end=$(($(date +%s) + t))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || die "timeout (${t} s) waiting for $what"
        for f in "$CEPH_DIR"/run/*.pid; do
            [ -f "$f" ] || continue
            kill -0 "$(cat "$f")" 2>/dev/null || die "$(basename "$f" .pid) died while waiting for $what (log: $CEPH_DIR/log/$(basename "$f" .pid).log)"
        done
        sleep 0.2
    done
}

# spawn NAME COMMAND...: run a daemon in the foreground (-f) in its own
# session, detached from us; its pid goes to run/NAME.pid. setsid execs (the
# background child is no group leader), so the pid is the daemon's.
spawn() {
    local name=$1
    shift
    setsid "$@" -f -c "$CONF" </dev/null >>"$CEPH_DIR/log/$name.stdout" 2>&1 &
    echo $! >"$CEPH_DIR/run/$name.pid"
}

osd_is() {  # osd_is N up|down
    C osd dump 2>/dev/null | grep -q "^osd\.$1 $2 "
}

# probe_write POOL: one real write and its removal.
probe_write() {
    timeout 20 rados -c "$CONF" -p "$1" put ".ctdump-probe" "$CONF" && timeout 20 rados -c "$CONF" -p "$1" rm ".ctdump-probe"
}

do_pool() {
    local name=${1:?usage: $me pool NAME [SIZE]} size=${2:-$POOL_SIZE}
    [ -f "$CONF" ] || die "no cluster at $CEPH_DIR (run start first)"
    [[ $size =~ ^[1-3]$ ]] || die "pool size '$size': must be 1, 2 or 3"
    Cq osd pool create "$name" 8 8 replicated
    Cq osd pool set "$name" size "$size" --yes-i-really-mean-it
    Cq osd pool set "$name" min_size 1
    Cq osd pool application enable "$name" rados
    wait_for 60 "a write to pool '$name'" probe_write "$name"
    ts "pool '$name' (size $size) writable"
}

write_conf() {
    local fsid=$1 mon_port=$2 daemon
    # Daemon-only settings: a client (ctdump, rados) keeps Ceph's client
    # defaults (no log file, no admin socket that two clients would share).
    daemon="log file = $CEPH_DIR/log/\$name.log
admin socket = $CEPH_DIR/run/\$name.asok
pid file = $CEPH_DIR/run/\$name.daemonpid
log to stderr = false
err to stderr = true"
    cat >"$CONF" <<EOF
# Throw-away test cluster of ctdump's scripts/ceph-cluster.sh
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
# every user's keyring: ceph.client.admin.keyring, ceph.client.ctdump.keyring, ...
keyring = $CEPH_DIR/ceph.\$name.keyring
run dir = $CEPH_DIR/run
crash dir = $CEPH_DIR/crash
# one node: no host failure domain, small PG counts
osd pool default size = $POOL_SIZE
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
# map changes batched every 0.1 s (default 1 s): halves the bootstrap
paxos propose interval = 0.1
# a nearly full CI disk neither warns nor shuts the monitor down
mon data avail warn = 1
mon data avail crit = 0
mon osd full ratio = 0.97
mon osd backfillfull ratio = 0.96
mon osd nearfull ratio = 0.95
# An OSD that dies without a goodbye (a hang, SIGSTOP: its sockets stay open)
# is marked down within about 10 s: its peers miss 6 s of heartbeats (all OSDs
# share one host: each OSD is its own reporter subtree and one report is
# enough), or, with no peer, its beacons stop for 10 s. (A killed OSD's peers
# get "connection refused" and report it at once.)
osd heartbeat interval = 1
osd heartbeat grace = 6
mon osd adjust heartbeat grace = false
mon osd min down reporters = 1
mon osd reporter subtree level = osd
osd beacon report interval = 2
mon osd report timeout = 10

[client.admin]
keyring = $CEPH_DIR/ceph.client.admin.keyring

[client.ctdump]
keyring = $CEPH_DIR/ceph.client.ctdump.keyring

[mon]
mon data = $CEPH_DIR/mon.\$id
keyring = $CEPH_DIR/mon.\$id/keyring
mon cluster log file = $CEPH_DIR/log/cluster.log
$daemon

[osd]
osd data = $CEPH_DIR/osd.\$id
osd objectstore = $OSD_STORE
osd memory target = 1073741824
# 5 shards by default on a "rotational" device (a file), each re-opening it at
# start (~0.3 s each); 2 x 2 threads suit a 2-core machine
osd op num shards = 2
osd op num threads per shard = 2
bluestore block create = true
bluestore block size = $(numfmt --from=iec "$OSD_BLOCK_SIZE")
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mkfs = false
memstore device bytes = $MEMSTORE_BYTES
$daemon

[mgr]
mgr data = $CEPH_DIR/mgr.\$id
$daemon
EOF
}

# make_keys POOL: the monitor's keyring holds every key the monitor starts
# with (mkfs imports them): mon., client.admin, client.ctdump, mgr.x.
make_keys() {
    local k=$CEPH_DIR/mon.keyring
    ceph-authtool --create-keyring "$k" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    ceph-authtool --create-keyring "$CEPH_DIR/ceph.client.admin.keyring" --gen-key -n client.admin \
        --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
    ceph-authtool --create-keyring "$CEPH_DIR/ceph.client.ctdump.keyring" --gen-key -n client.ctdump \
        --cap mon 'allow r' --cap osd "allow rwx pool=${POOL:-ctdump}" >/dev/null
    ceph-authtool --create-keyring "$CEPH_DIR/ceph.mgr.x.keyring" --gen-key -n mgr.x \
        --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *' >/dev/null
    local u
    for u in client.admin client.ctdump mgr.x; do
        ceph-authtool "$k" --import-keyring "$CEPH_DIR/ceph.$u.keyring" >/dev/null
    done
    chmod 0600 "$CEPH_DIR"/*.keyring
}

start_osds() {
    local i uuid secret id pids=() ids=()
    for ((i = 0; i < NUM_OSDS; i++)); do
        uuid=$(uuidgen)
        secret=$(ceph-authtool --gen-print-key)
        printf '{"cephx_secret": "%s"}' "$secret" >"$CEPH_DIR/osd-new.json"
        id=$(C osd new "$uuid" -i "$CEPH_DIR/osd-new.json")
        mkdir -p "$CEPH_DIR/osd.$id"
        printf '[osd.%s]\n\tkey = %s\n' "$id" "$secret" >"$CEPH_DIR/ceph.osd.$id.keyring"
        chmod 0600 "$CEPH_DIR/ceph.osd.$id.keyring"
        # mkfs of all OSDs in parallel; bluestore creates the sparse file
        # osd.N/block itself (block create; no block path, or mkfs makes a
        # symlink to itself).
        ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid" >>"$CEPH_DIR/log/osd.$id.mkfs" 2>&1 &
        pids+=($!)
        ids+=("$id")
    done
    rm -f "$CEPH_DIR/osd-new.json"
    for i in "${!pids[@]}"; do
        # an explicit pid: a bare wait would also wait for the daemons
        wait "${pids[i]}" || die "mkfs of osd.${ids[i]} failed, see $CEPH_DIR/log/osd.${ids[i]}.mkfs"
        spawn "osd.${ids[i]}" ceph-osd -i "${ids[i]}"
    done
    wait_for 120 "$NUM_OSDS OSD(s) up" bash -c \
        "ceph -c '$CONF' --connect-timeout 10 osd stat -f json | grep -q '\"num_up_osds\":$NUM_OSDS,'"
    ts "$NUM_OSDS $OSD_STORE OSD(s) up"
}

write_env() {
    local mon_port=$1
    {
        echo "# source me: the cluster of scripts/ceph-cluster.sh in $CEPH_DIR"
        printf 'export CEPH_CONF=%q\n' "$CONF"
        printf 'export CEPH_POOL=%q\n' "$POOL"
        printf 'export CEPH_MON_HOST=%q\n' "v2:127.0.0.1:$mon_port"
        printf 'export CEPH_ADMIN_KEYRING=%q\n' "$CEPH_DIR/ceph.client.admin.keyring"
        printf 'export CEPH_CTDUMP_KEYRING=%q\n' "$CEPH_DIR/ceph.client.ctdump.keyring"
        printf 'export CEPH_NUM_OSDS=%q\n' "$NUM_OSDS"
        printf 'export CEPH_OSD_STORE=%q\n' "$OSD_STORE"
    } >"$CEPH_DIR/env.tmp"
    mv "$CEPH_DIR/env.tmp" "$CEPH_DIR/env"
}

on_start_exit() {
    local rc=$? f
    [ $rc -ne 0 ] || return 0
    trap - EXIT
    printf '[%s] start failed (rc %s); log tails:\n' "$me" "$rc" >&2
    for f in "$CEPH_DIR"/log/*; do
        [ -f "$f" ] || continue
        printf '== %s\n' "$f" >&2
        tail -n 15 "$f" >&2
    done
    do_stop >&2 || true
    exit $rc
}

do_start() {
    local b
    for b in ceph-mon ceph-osd ceph-authtool monmaptool ceph rados uuidgen ss numfmt; do
        command -v "$b" >/dev/null || die "$b not found: run scripts/install-deps.sh (Ceph packages)"
    done
    [ "$WITH_MGR" = 0 ] || command -v ceph-mgr >/dev/null || die "ceph-mgr not found: run scripts/install-deps.sh"
    [[ $NUM_OSDS =~ ^[1-3]$ ]] || die "NUM_OSDS=$NUM_OSDS: must be 1, 2 or 3"
    [[ $POOL_SIZE =~ ^[1-3]$ ]] || die "POOL_SIZE=$POOL_SIZE: must be 1, 2 or 3"
    case $OSD_STORE in memstore | bluestore) ;; *) die "OSD_STORE=$OSD_STORE: must be memstore or bluestore" ;; esac
    if [ -e "$CEPH_DIR" ] && [ -n "$(ls -A "$CEPH_DIR" 2>/dev/null)" ]; then
        die "$CEPH_DIR exists and is not empty (a running cluster? '$me stop' first)"
    fi
    mkdir -p "$CEPH_DIR"
    : >"$MARKER"
    trap on_start_exit EXIT
    trap 'exit 130' INT TERM
    mkdir -p "$CEPH_DIR"/{run,log,crash,mon.a}
    chmod 0700 "$CEPH_DIR"

    local fsid mon_port=${MON_PORT:-$(free_port 20000)}
    fsid=$(uuidgen)
    write_conf "$fsid" "$mon_port"
    make_keys

    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$CEPH_DIR/monmap" >/dev/null
    ceph-mon -c "$CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" --keyring "$CEPH_DIR/mon.keyring" \
        >>"$CEPH_DIR/log/mon.a.mkfs" 2>&1 || die "mkfs of mon.a failed, see $CEPH_DIR/log/mon.a.mkfs"
    cp "$CEPH_DIR/mon.keyring" "$CEPH_DIR/mon.a/keyring"
    spawn mon.a ceph-mon -i a
    wait_for 60 "the monitor's quorum" C quorum_status
    ts "mon.a up on 127.0.0.1:$mon_port"

    if [ "$WITH_MGR" = 1 ]; then
        mkdir -p "$CEPH_DIR/mgr.x"
        spawn mgr.x ceph-mgr -i x
    fi
    start_osds
    if [ -n "$POOL" ]; then
        do_pool "$POOL" "$POOL_SIZE"
    fi
    write_env "$mon_port"
    trap - EXIT
    ts "ready: source $CEPH_DIR/env"
}

do_status() {
    [ -f "$CONF" ] || die "no cluster at $CEPH_DIR"
    local f p
    for f in "$CEPH_DIR"/run/*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        if ours "$p"; then echo "$(basename "$f" .pid): running (pid $p)"; else echo "$(basename "$f" .pid): not running"; fi
    done
    C -s
}

osd_arg() {
    [[ ${1:-} =~ ^[0-9]+$ ]] || die "usage: $me $2 N (the OSD's id)"
    [ -f "$CONF" ] || die "no cluster at $CEPH_DIR"
}

do_osd_stop() {
    local n=$1 sig=$2 p
    p=$(pid_of "osd.$n") || die "no osd.$n in $CEPH_DIR"
    ours "$p" || die "osd.$n is not running"
    kill "-$sig" "$p"
    if [ "$sig" = TERM ]; then
        term_and_wait "$p"
    else
        while ours "$p"; do sleep 0.05; done
    fi
    # gone on purpose: no longer a daemon whose death fails a wait
    rm -f "$CEPH_DIR/run/osd.$n.pid"
    wait_for 60 "the monitor to mark osd.$n down" osd_is "$n" down
    ts "osd.$n stopped (SIG$sig), marked down"
}

do_osd_start() {
    local n=$1 p
    [ -d "$CEPH_DIR/osd.$n" ] || die "no osd.$n in $CEPH_DIR"
    if p=$(pid_of "osd.$n") && ours "$p"; then die "osd.$n is running (pid $p)"; fi
    spawn "osd.$n" ceph-osd -i "$n"
    wait_for 120 "osd.$n up" osd_is "$n" up
    ts "osd.$n up"
}

case "${1:-}" in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    pool) do_pool "${2:-}" "${3:-}" ;;
    osd-stop) osd_arg "${2:-}" osd-stop && do_osd_stop "$2" TERM ;;
    osd-kill) osd_arg "${2:-}" osd-kill && do_osd_stop "$2" KILL ;;
    osd-start) osd_arg "${2:-}" osd-start && do_osd_start "$2" ;;
    *) die "usage: CEPH_DIR=DIR $me start|stop|status|osd-stop N|osd-kill N|osd-start N|pool NAME [SIZE]" ;;
esac
