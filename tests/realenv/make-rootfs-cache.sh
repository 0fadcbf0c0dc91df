#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# make-rootfs-cache.sh - create the cached Debian minbase rootfs tarball
# ($ROOTFS_TAR, default /var/cache/ctdump/rootfs-bookworm-minbase.tar) unless
# it already exists.  ~30 s with network; a no-op when cached.
#
# Safe when several runs race: the work happens under an exclusive flock on
# $ROOTFS_CACHE/.rootfs-$SUITE.lock, the tarball is written to a temporary
# name in the cache dir and renamed into place, so readers only ever see a
# complete tarball.  Options: --force  rebuild even if the tarball exists.
set -euo pipefail
exec </dev/null
# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

force=0
case ${1:-} in
    --force) force=1 ;;
    "") ;;
    *) die "usage: $0 [--force]" ;;
esac

need_root
need_cmds debootstrap tar flock

if [ "$force" = 0 ] && [ -s "$ROOTFS_TAR" ]; then
    log "cached: $ROOTFS_TAR"
    exit 0
fi

mkdir -p "$ROOTFS_CACHE"
[ "$(dirname "$ROOTFS_TAR")" -ef "$ROOTFS_CACHE" ] || mkdir -p "$(dirname "$ROOTFS_TAR")"
lock=$ROOTFS_CACHE/.rootfs-$SUITE.lock
exec 9>"$lock"
if ! flock -n 9; then
    log "another run is building the rootfs; waiting for $lock"
    flock -w 900 9 || die "timed out waiting for $lock"
fi
if [ "$force" = 0 ] && [ -s "$ROOTFS_TAR" ]; then
    log "cached (built by a concurrent run): $ROOTFS_TAR"
    exit 0
fi

work=$(mktemp -d "$ROOTFS_CACHE/.debootstrap.XXXXXX")
tmp_tar=$(mktemp "$(dirname "$ROOTFS_TAR")/.$(basename "$ROOTFS_TAR").XXXXXX")
cleanup() {
    local m
    # debootstrap mounts proc/sys in the target; never delete through a mount
    while IFS= read -r m; do
        [ -n "$m" ] && { umount "$m" 2>/dev/null || umount -l "$m" || true; }
    done < <(mounts_under "$work")
    if [ -n "$(mounts_under "$work")" ]; then
        warn "mounts left under $work; not deleting it"
    else
        rm -rf --one-file-system "$work"
    fi
    rm -f "$tmp_tar"
    [ "$keep_log" = 1 ] || rm -f "$work.log"
}
keep_log=0
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

log "debootstrap --variant=minbase $SUITE from $MIRROR (log: $work.log)"
t0=$EPOCHREALTIME
if ! debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$MIRROR" >"$work.log" 2>&1; then
    tail -n 30 "$work.log" >&2
    keep_log=1
    die "debootstrap failed (full log: $work.log)"
fi
_realenv_time "debootstrap" "$t0"

t0=$EPOCHREALTIME
# apt caches are useless in a test container and make up 80 MB
rm -f "$work"/rootfs/var/cache/apt/archives/*.deb \
      "$work"/rootfs/var/cache/apt/*.bin \
      "$work"/rootfs/var/lib/apt/lists/*_Packages \
      "$work"/rootfs/var/lib/apt/lists/*Release* \
      "$work"/rootfs/var/lib/apt/lists/*Sources
tar "${ROOTFS_TAR_FLAGS[@]}" -cf "$tmp_tar" -C "$work/rootfs" .
chmod 0644 "$tmp_tar"
sync -f "$tmp_tar"
mv -f "$tmp_tar" "$ROOTFS_TAR"
_realenv_time "tar + rename" "$t0"
log "created $ROOTFS_TAR ($(du -h "$ROOTFS_TAR" | cut -f1))"
