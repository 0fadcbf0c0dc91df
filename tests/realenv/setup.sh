#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# setup.sh ROOT-DIR NAME-PREFIX - build a real LXC test environment under
# ROOT-DIR (created if missing; must not already hold an environment):
#
#   ROOT/lxc                      private lxcpath (lxc-* -P ROOT/lxc)
#   ROOT/btrfs.img, ROOT/btrfs    2G sparse btrfs image, loop-mounted
#                                 (autoclear loop; device in ROOT/btrfs.loop)
#   PREFIX-priv    privileged,    rootfs dir:ROOT/rootfs/PREFIX-priv (ext4)
#   PREFIX-unpriv  unprivileged,  lxc.idmap u/g 0 100000 65536,
#                                 rootfs btrfs:ROOT/btrfs/PREFIX-unpriv
#   ROOT/PREFIX-{priv,unpriv}.expected   manifests of /srv/tricky (lib.sh)
#   ROOT/env.sh                   the paths above as shell variables
#
# Both containers are left RUNNING.  Container names must be unique host-wide
# (cgroup lxc.payload.NAME): pass a unique PREFIX such as "ct$$" (at most 13
# characters).  Tear down with teardown.sh ROOT-DIR (also after a failure).
# Needs scripts/install-deps.sh to have run.  Per-step timings go to stderr.
set -euo pipefail
exec </dev/null
# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

[ $# = 2 ] || die "usage: $0 ROOT-DIR NAME-PREFIX"
root_arg=$1 prefix=$2
case $root_arg in
    /*) ;;
    *) die "ROOT-DIR must be an absolute path: $root_arg" ;;
esac
[[ $prefix =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,12}$ ]] \
    || die "NAME-PREFIX must be 1-13 characters [A-Za-z0-9_-] starting alphanumeric: '$prefix'"

need_root
need_cmds lxc-start lxc-usernsexec lxc-attach mkfs.btrfs btrfs losetup setfacl \
    setfattr setcap python3 tar truncate flock
need_subid "$MAP_HOST:$MAP_COUNT"
export LC_ALL=C

umask 022
T_ALL=$EPOCHREALTIME
root=$(realpath -m -- "$root_arg")
[ "$root" != / ] || die "ROOT-DIR must not be /"
# an unprivileged container's root (uid MAP_HOST) must traverse every parent
p=$root
while p=$(dirname "$p"); [ "$p" != / ]; do
    [ -e "$p" ] || continue
    perm=$(stat -L -c %a "$p")
    (( (8#$perm & 1) == 1 )) || die "$p (mode $perm) is not traversable by others; the unprivileged container needs o+x on every parent of $root"
done
realenv_paths "$root" "$prefix"

for ct in "$CT_PRIV" "$CT_UNPRIV"; do
    ! ct_name_in_use "$ct" || die "container name $ct is in use on this host (cgroup lxc.payload.$ct exists); pick another prefix"
done
if [ -e "$LXCPATH" ] || [ -e "$BTRFS_IMG" ]; then
    die "$root already holds an environment; run teardown.sh $root first"
fi

# The marker goes first: teardown.sh only deletes directories that carry it.
mkdir -p "$root"
touch "$root/$REALENV_MARKER"
chmod 0755 "$root"

# --- rootfs tarball -------------------------------------------------------
if [ ! -s "$ROOTFS_TAR" ]; then
    step "make-rootfs-cache" bash "$REALENV_DIR/make-rootfs-cache.sh"
fi
[ -s "$ROOTFS_TAR" ] || die "no rootfs tarball at $ROOTFS_TAR"

# --- btrfs on a loop file -------------------------------------------------
make_btrfs() {
    truncate -s "$BTRFS_SIZE" "$BTRFS_IMG"
    mkfs.btrfs -q "$BTRFS_IMG" >/dev/null
    mkdir -p "$BTRFS_MNT"
    # mount -o loop sets LO_FLAGS_AUTOCLEAR: the loop device goes away with
    # the last unmount, so a setup killed at any point cannot leak it
    mount -o loop "$BTRFS_IMG" "$BTRFS_MNT"
    chmod 0755 "$BTRFS_MNT"
    local loop
    loop=$(findmnt -n -o SOURCE --mountpoint "$BTRFS_MNT")
    [[ $loop == /dev/loop* ]] || { echo "unexpected source of $BTRFS_MNT: '$loop'" >&2; return 1; }
    losetup -j "$BTRFS_IMG" -n -O NAME | grep -qxF "$loop" \
        || { echo "$loop is not backed by $BTRFS_IMG" >&2; return 1; }
    printf '%s\n' "$loop" >"$BTRFS_LOOP_FILE.tmp"
    mv "$BTRFS_LOOP_FILE.tmp" "$BTRFS_LOOP_FILE"
}
step "btrfs image + mkfs + mount" make_btrfs

mkdir -p "$LXCPATH" "$root/rootfs"
chmod 0755 "$LXCPATH" "$root/rootfs"
realenv_write_env "$root/env.sh"

# --- containers -----------------------------------------------------------
# shellcheck disable=SC2016  # expanded by the container's sh
INIT_SH='#!/bin/sh
# minimal PID 1 for a minbase container (written by ctdump tests/realenv/setup.sh)
trap "exit 0" TERM PWR INT
echo "init started $(date +%s)" > /run/init.started
while :; do sleep 1000 & wait $!; done'

# install_init ROOTFS: as /sbin/init (inside merged-/usr that is usr/sbin)
# shellcheck disable=SC2016  # a script for sh -c, gets ROOTFS as $1
install_init_cmd='set -eu
root=$1
if [ -L "$root/sbin" ]; then
    [ "$(readlink "$root/sbin")" = usr/sbin ] || { echo "unexpected $root/sbin symlink" >&2; exit 1; }
    f=$root/usr/sbin/init
else
    f=$root/sbin/init
fi
rm -f "$f"
cat >"$f"
chmod 0755 "$f"'

write_config() {   # NAME UNPRIV(0|1) ROOTFS-SPEC
    local name=$1 unpriv=$2 spec=$3 dir=$LXCPATH/$1
    mkdir -p "$dir"
    chmod 0755 "$dir"
    {
        echo "# written by ctdump tests/realenv/setup.sh"
        echo "lxc.include = /usr/share/lxc/config/common.conf"
        if [ "$unpriv" = 1 ]; then
            echo "lxc.include = /usr/share/lxc/config/userns.conf"
            echo "lxc.idmap = u 0 $MAP_HOST $MAP_COUNT"
            echo "lxc.idmap = g 0 $MAP_HOST $MAP_COUNT"
        fi
        echo "lxc.arch = amd64"
        echo "lxc.uts.name = $name"
        echo "lxc.rootfs.path = $spec"
        echo "lxc.net.0.type = empty"
        echo "lxc.apparmor.profile = unconfined"
        echo "lxc.init.cmd = /sbin/init"
        echo "lxc.log.file = $dir/$name.log"
        echo "lxc.log.level = INFO"
    } >"$dir/config"
}

tricky_cmd="$(declare -f realenv_tricky_content); realenv_tricky_content \"\$@\""

make_priv() {
    local t0=$EPOCHREALTIME
    mkdir -m 0755 "$ROOTFS_PRIV"
    tar "${ROOTFS_TAR_FLAGS[@]}" -xpf "$ROOTFS_TAR" -C "$ROOTFS_PRIV"
    chmod 0755 "$ROOTFS_PRIV"
    printf '%s\n' "$INIT_SH" | sh -c "$install_init_cmd" sh "$ROOTFS_PRIV"
    write_config "$CT_PRIV" 0 "dir:$ROOTFS_PRIV"
    _realenv_time "  create $CT_PRIV (ext4 dir)" "$t0"
}
make_unpriv() {
    local t0=$EPOCHREALTIME
    btrfs -q subvolume create "$ROOTFS_UNPRIV" >/dev/null
    chown "$MAP_HOST:$MAP_HOST" "$ROOTFS_UNPRIV"
    chmod 0755 "$ROOTFS_UNPRIV"
    # extracted as root of the container's user namespace: the kernel shifts
    # owners, ACL entries and v3 file capabilities; setuid bits survive.
    # mknod is not permitted there, so ./dev/* is skipped (LXC mounts /dev).
    in_userns tar "${ROOTFS_TAR_FLAGS[@]}" --exclude='./dev/*' \
        -xpf "$ROOTFS_TAR" -C "$ROOTFS_UNPRIV" </dev/null
    printf '%s\n' "$INIT_SH" | in_userns sh -c "$install_init_cmd" sh "$ROOTFS_UNPRIV"
    write_config "$CT_UNPRIV" 1 "btrfs:$ROOTFS_UNPRIV"
    _realenv_time "  create $CT_UNPRIV (btrfs, in userns)" "$t0"
}
# The two extractions are independent (ext4 vs btrfs): run them in parallel.
t0=$EPOCHREALTIME
# (background jobs also keep `set -e` in force inside the functions)
make_priv &
pid_priv=$!
make_unpriv &
pid_unpriv=$!
rc_unpriv=0
wait "$pid_unpriv" || rc_unpriv=$?
rc_priv=0
wait "$pid_priv" || rc_priv=$?
_realenv_time "extract rootfs (priv || unpriv)" "$t0"
[ "$rc_priv" = 0 ] || die "creating $CT_PRIV failed (exit $rc_priv)"
[ "$rc_unpriv" = 0 ] || die "creating $CT_UNPRIV failed (exit $rc_unpriv)"

# --- tricky content -------------------------------------------------------
fill_priv() {
    bash -c "$tricky_cmd" bash "$ROOTFS_PRIV"
    realenv_tricky_host_files "$ROOTFS_PRIV" priv
}
fill_unpriv() {
    in_userns bash -c "$tricky_cmd" bash "$ROOTFS_UNPRIV" </dev/null
    realenv_tricky_host_files "$ROOTFS_UNPRIV" unpriv
}
step "tricky content $CT_PRIV" fill_priv
step "tricky content $CT_UNPRIV" fill_unpriv

# --- manifests (container view) -------------------------------------------
write_manifests() {
    sync -f "$ROOTFS_PRIV" "$ROOTFS_UNPRIV"
    realenv_manifest "$ROOTFS_PRIV" "$CT_PRIV" host >"$MANIFEST_PRIV.tmp"
    # in the container's user namespace: ids, ACLs and caps as the container sees them
    in_userns python3 -c "$REALENV_MANIFEST_PY" "$ROOTFS_UNPRIV" "$CT_UNPRIV" \
        "userns 0:$MAP_HOST:$MAP_COUNT" </dev/null >"$MANIFEST_UNPRIV.tmp"
    mv "$MANIFEST_PRIV.tmp" "$MANIFEST_PRIV"
    mv "$MANIFEST_UNPRIV.tmp" "$MANIFEST_UNPRIV"
}
step "manifests" write_manifests

# --- start ----------------------------------------------------------------
start_ct() {
    local name=$1
    if ! lxcw start -n "$name" -d; then
        tail -n 30 "$LXCPATH/$name/$name.log" >&2 || true
        return 1
    fi
    lxcw wait -n "$name" -s RUNNING -t 20
}
step "lxc-start $CT_PRIV" start_ct "$CT_PRIV"
step "lxc-start $CT_UNPRIV" start_ct "$CT_UNPRIV"

# --- sanity ---------------------------------------------------------------
sanity() {
    local got
    got=$(lxcw attach -n "$CT_UNPRIV" -- stat -c %u:%g /etc/shadow)
    [ "$got" = 0:42 ] || { echo "$CT_UNPRIV: /etc/shadow is $got inside, want 0:42" >&2; return 1; }
    got=$(stat -c %u:%g "$ROOTFS_UNPRIV/etc/shadow")
    [ "$got" = "$MAP_HOST:$((MAP_HOST + 42))" ] \
        || { echo "$CT_UNPRIV: /etc/shadow is $got on the host" >&2; return 1; }
    got=$(lxcw attach -n "$CT_UNPRIV" -- stat -c %u:%g:%a /srv/tricky/uid1000.txt)
    [ "$got" = 1000:1000:600 ] || { echo "$CT_UNPRIV: uid1000.txt is $got inside" >&2; return 1; }
    got=$(lxcw attach -n "$CT_PRIV" -- stat -c %u:%g /etc/shadow)
    [ "$got" = 0:42 ] || { echo "$CT_PRIV: /etc/shadow is $got inside, want 0:42" >&2; return 1; }
}
step "sanity checks" sanity

_realenv_time "setup total" "$T_ALL"
log "ready: $CT_PRIV and $CT_UNPRIV running; lxcpath $LXCPATH; variables in $root/env.sh"
