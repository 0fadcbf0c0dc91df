#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# selftest.sh - check setup.sh/teardown.sh: build an environment in a fresh
# mktemp directory with a unique container prefix, verify the containers run
# and the manifests hold what they should, tear it down (also on failure, via
# trap EXIT) and verify nothing is left behind.
#
#   selftest.sh                  full cycle
#   selftest.sh --kill-after S   start setup.sh, SIGKILL its whole process
#                                group after S seconds (e.g. 1.5), then check
#                                that teardown.sh cleans up the half-built env
# Prints PASS/FAIL lines; exit status 0 only if everything passed.
set -euo pipefail
exec </dev/null
# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

kill_after=
case ${1:-} in
    --kill-after) kill_after=${2:?--kill-after needs seconds} ;;
    "") ;;
    *) die "usage: $0 [--kill-after SECONDS]" ;;
esac
need_root

fails=0
pass() { printf 'PASS: %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; fails=$((fails + 1)); }
check() {   # DESCRIPTION CMD...
    local d=$1
    shift
    if "$@"; then pass "$d"; else fail "$d"; fi
}

# SELFTEST_BASE: where the mktemp directory goes (every parent must be o+x)
root=$(mktemp -d "${SELFTEST_BASE:-/var/tmp}/ctdump-selftest.XXXXXX")
chmod 0755 "$root"
prefix=st$$
prefix=${prefix:0:13}
realenv_paths "$root" "$prefix"
torn_down=0
loop=

teardown_now() {
    [ "$torn_down" = 0 ] || return 0
    torn_down=1
    # remember the loop device to check it is gone afterwards
    [ -s "$BTRFS_LOOP_FILE" ] && loop=$(cat "$BTRFS_LOOP_FILE")
    bash "$REALENV_DIR/teardown.sh" "$root"
}
trap 'teardown_now || echo "FAIL: teardown.sh (trap)"' EXIT

# --- setup (normal, or killed halfway) ------------------------------------
if [ -n "$kill_after" ]; then
    log "starting setup, killing it after ${kill_after}s"
    setsid bash "$REALENV_DIR/setup.sh" "$root" "$prefix" &
    spid=$!
    sleep "$kill_after"
    # setsid made it a process group leader: kill the whole group (setup and
    # its children: tar, lxc-usernsexec, ...), nothing else
    if kill -0 "$spid" 2>/dev/null; then
        kill -KILL -- "-$spid" 2>/dev/null || true
        log "killed setup (pgid $spid)"
    else
        log "setup had already finished"
    fi
    wait "$spid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pgrep -g "$spid" >/dev/null 2>&1 || break
        sleep 0.1
    done
    log "left behind: $(find "$root" -mindepth 1 -maxdepth 1 -printf '%f ') mounts: $(mounts_under "$root" | tr '\n' ' ')"
else
    t0=$EPOCHREALTIME
    check "setup.sh $root $prefix" bash "$REALENV_DIR/setup.sh" "$root" "$prefix"
    _realenv_time "selftest: setup.sh" "$t0"

    # containers
    for ct in "$CT_PRIV" "$CT_UNPRIV"; do
        check "$ct is RUNNING" test "$(ct_state "$ct")" = RUNNING
    done
    check "$CT_UNPRIV sees /etc/shadow as 0:42" \
        test "$(lxcw attach -n "$CT_UNPRIV" -- stat -c %u:%g /etc/shadow)" = 0:42
    check "$CT_UNPRIV init is our sh loop" \
        lxcw attach -n "$CT_UNPRIV" -- test -s /run/init.started
    check "$CT_UNPRIV: root cannot read hostroot.txt" \
        test "$(lxcw attach -n "$CT_UNPRIV" -- sh -c 'cat /srv/tricky/hostroot.txt 2>/dev/null || echo DENIED')" = DENIED
    check "host sees unpriv uid1000.txt as $((MAP_HOST + 1000))" \
        test "$(stat -c %u:%g "$ROOTFS_UNPRIV/srv/tricky/uid1000.txt")" = "$((MAP_HOST + 1000)):$((MAP_HOST + 1000))"
    check "host sees unpriv acl.txt ACL shifted" \
        bash -c "getfacl -n -c -p '$ROOTFS_UNPRIV/srv/tricky/acl.txt' | grep -qx 'user:$((MAP_HOST + 1000)):r--'"
    # raw security.capability: magic 0x03000001 (v3, effective), rootid last (LE)
    check "host sees unpriv cap-true as a v3 cap with rootid $MAP_HOST" \
        python3 -c 'import os, struct, sys
v = os.getxattr(sys.argv[1], "security.capability")
sys.exit(not (len(v) == 24 and struct.unpack_from("<I", v, 0)[0] == 0x03000001
              and struct.unpack_from("<I", v, 20)[0] == int(sys.argv[2])))' \
        "$ROOTFS_UNPRIV/srv/tricky/cap-true" "$MAP_HOST"
    check "btrfs is mounted at $BTRFS_MNT" mountpoint -q "$BTRFS_MNT"
    check "$ROOTFS_UNPRIV is a btrfs subvolume" bash -c "btrfs subvolume show '$ROOTFS_UNPRIV' >/dev/null"
    check "env.sh sources" bash -c ". '$root/env.sh' && test -n \"\$BTRFS_LOOP\" && test \"\$CT_UNPRIV\" = '$CT_UNPRIV'"

    # manifests
    mline() {   # MANIFEST PATH -> the entry line for PATH
        # (ENVIRON, not -v: awk -v would interpret the backslash escapes)
        P=$2 awk -F '\t' '$1 == ENVIRON["P"]' "$1"
    }
    mcheck() {  # MANIFEST PATH COLUMN WANT
        local got
        got=$(mline "$1" "$2" | cut -f "$3")
        if [ "$got" = "$4" ]; then
            pass "manifest ${1##*/} $2 col $3 = $4"
        else
            fail "manifest ${1##*/} $2 col $3: got '$got', want '$4'"
        fi
    }
    hello_sha=$(printf 'hello, ctdump\n' | sha256sum | cut -d' ' -f1)
    for m in "$MANIFEST_PRIV" "$MANIFEST_UNPRIV"; do
        check "manifest $m exists" test -s "$m"
        check "${m##*/}: 11 columns everywhere" \
            awk -F '\t' '!/^#/ && NF != 11 { bad = 1 } END { exit bad }' "$m"
        mcheck "$m" /srv/tricky/hello.txt 7 "$hello_sha"
        mcheck "$m" /srv/tricky/hello.txt 2 f
        mcheck "$m" /srv/tricky/uid1000.txt 3 1000
        mcheck "$m" /srv/tricky/uid1000.txt 5 0600
        mcheck "$m" /srv/tricky/suid-true 5 4755
        mcheck "$m" /srv/tricky/fifo 2 p
        mcheck "$m" /srv/tricky/symlink 10 hello.txt
        mcheck "$m" /srv/tricky/dangling 2 l
        mcheck "$m" /srv/tricky/hl2 11 link=/srv/tricky/hl1
        mcheck "$m" /srv/tricky/hl1 8 2
        mcheck "$m" /srv/tricky/sparse.img 6 67108864
        mcheck "$m" /srv/tricky/sparse.img 11 sparse=1
        mcheck "$m" /srv/tricky/cap-true 11 cap=cap_net_raw=ep
        mcheck "$m" /srv/tricky/acl.txt 11 'acl=u::rw-,u:1000:r--,g::r--,g:1000:rw-,m::rw-,o::r--'
        mcheck "$m" /srv/tricky/xattr.txt 11 'xattr.user.bin=0x00fffe0a5c01;xattr.user.ctdump=0x68656c6c6f'
        mcheck "$m" '/srv/tricky/bad-\377\376.txt' 2 f
        mcheck "$m" /srv/tricky/private1000 5 0700
        mcheck "$m" /srv/tricky/private1000/inner.txt 3 1000
        mcheck "$m" /tmp/should-be-excluded 2 f
        mcheck "$m" /var/tmp/also-excluded 2 f
        mcheck "$m" /srv/tricky/cache/big.bin 6 4194304
        check "${m##*/}: 255-byte name present" \
            grep -qE '^/srv/tricky/long-x{250}	' "$m"
        check "${m##*/}: deep leaf present" \
            grep -q '^/srv/tricky/deep/l01/l02/l03/l04/l05/l06/l07/l08/l09/l10/l11/l12/l13/l14/l15/l16/l17/l18/l19/l20/leaf.txt	' "$m"
        check "${m##*/}: acldir has a default ACL" \
            bash -c "awk -F '\t' '\$1 == \"/srv/tricky/acldir\"' '$m' | grep -q 'dacl=u::rwx,u:1000:rwx,g::r-x,g:1000:r-x,m::rwx,o::r-x'"
    done
    host_sha=$(printf 'host-secret\n' | sha256sum | cut -d' ' -f1)
    mcheck "$MANIFEST_PRIV" /srv/tricky/hostroot.txt 7 "$host_sha"
    mcheck "$MANIFEST_PRIV" /srv/tricky/unmapped.txt 3 4000000000
    mcheck "$MANIFEST_UNPRIV" /srv/tricky/hostroot.txt 7 unreadable
    mcheck "$MANIFEST_UNPRIV" /srv/tricky/hostroot.txt 3 65534
    mcheck "$MANIFEST_UNPRIV" /srv/tricky/unmapped.txt 3 65534
    mcheck "$MANIFEST_UNPRIV" /srv/tricky/unmapped.txt 5 0644
    check "unpriv unmapped.txt is host $MAP2_HOST" \
        test "$(stat -c %u "$ROOTFS_UNPRIV/srv/tricky/unmapped.txt")" = "$MAP2_HOST"
    check "unpriv hostroot.txt is host 0:0 0600" \
        test "$(stat -c %u:%g:%a "$ROOTFS_UNPRIV/srv/tricky/hostroot.txt")" = 0:0:600

    # freeze one container so teardown has to thaw it
    check "freeze $CT_UNPRIV for the teardown test" lxcw freeze -n "$CT_UNPRIV"
fi

# --- teardown ---------------------------------------------------------------
t0=$EPOCHREALTIME
check "teardown.sh" teardown_now
_realenv_time "selftest: teardown.sh" "$t0"
check "teardown.sh again (idempotent)" bash "$REALENV_DIR/teardown.sh" "$root"
check "$root is gone" test ! -e "$root"
check "nothing mounted under $root" test -z "$(mounts_under "$root")"
if [ -n "$loop" ]; then
    check "loop device $loop detached" \
        bash -c "! losetup -n -O BACK-FILE '$loop' 2>/dev/null | grep -qF '$root'"
fi
for ct in "$CT_PRIV" "$CT_UNPRIV"; do
    check "no cgroup lxc.payload.$ct left" bash -c "! [ -e /sys/fs/cgroup/freezer/lxc.payload.$ct ]"
done

if [ "$fails" = 0 ]; then
    log "all checks passed"
else
    log "$fails check(s) FAILED"
    exit 1
fi
