#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# teardown.sh ROOT-DIR - remove a test environment made by setup.sh.
#
# Idempotent, and safe on a half-built environment (setup killed at any
# point).  Touches nothing outside ROOT-DIR:
#   1. every container under ROOT/lxc: thaw if FROZEN, lxc-stop -k,
#      lxc-destroy (only when its rootfs lies inside ROOT-DIR; otherwise just
#      its config directory is removed and the rootfs is left alone)
#   2. unmount everything mounted at or below ROOT-DIR, deepest first
#      (from /proc/self/mountinfo; lazily if busy)
#   3. detach the loop device recorded in ROOT/btrfs.loop, if `losetup -j`
#      confirms it is still backed by ROOT/btrfs.img
#   4. rm -rf --one-file-system ROOT-DIR, only if nothing is mounted below it
#      any more
# It does nothing at all to a ROOT-DIR without setup.sh's marker file
# (.ctdump-realenv) except removing it when it is an empty directory.
# Exit status 0 when ROOT-DIR is gone (or never existed).  Steps that fail
# are reported and the rest still runs (each step runs with errexit off).
set -euo pipefail
exec </dev/null
# shellcheck source=lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

[ $# = 1 ] || die "usage: $0 ROOT-DIR"
case $1 in
    /*) ;;
    *) die "ROOT-DIR must be an absolute path: $1" ;;
esac
need_root
if [ ! -e "$1" ]; then
    log "$1 does not exist; nothing to do"
    exit 0
fi
if [ ! -d "$1" ] || [ -L "$1" ]; then
    die "$1 is not a directory"
fi
root=$(realpath -e "$1") || die "cannot resolve $1"
[ "$root" != / ] || die "refusing to tear down /"
# Nothing is touched (not even unmounted) unless ROOT-DIR carries setup.sh's
# marker; setup.sh writes it before anything else, so an environment without
# it is at most an empty directory.
if [ ! -e "$root/$REALENV_MARKER" ]; then
    if [ -z "$(ls -A "$root")" ] && [ -z "$(mounts_under "$root")" ]; then
        rmdir "$root" || die "could not remove $root"
        log "removed empty $root"
        exit 0
    fi
    die "$root has no $REALENV_MARKER marker (not made by setup.sh?); not touching it"
fi
realenv_paths "$root"
T_ALL=$EPOCHREALTIME
failed=0

# is_inside PATH: PATH (absolute, normalised lexically) is ROOT or below it
is_inside() {
    local p
    p=$(realpath -m -- "$1") || return 1
    case $p in
        "$root" | "$root"/*) return 0 ;;
        *) return 1 ;;
    esac
}

# rootfs_paths CONFIG: the absolute paths named by lxc.rootfs.path (for
# overlay specs "overlay:/lower:/upper" every component), one per line
rootfs_paths() {
    local spec
    spec=$(sed -n 's/^[[:space:]]*lxc\.rootfs\.path[[:space:]]*=[[:space:]]*//p' "$1" | tail -n 1)
    spec=${spec%"${spec##*[![:space:]]}"}
    [ -n "$spec" ] || return 0
    case $spec in
        [a-z]*:*) spec=${spec#*:} ;;   # dir:, btrfs:, overlay:, ...
    esac
    tr ':' '\n' <<<"$spec"
}

# --- 1. containers ----------------------------------------------------------
teardown_containers() {
    local dir name state f p destroy t0
    [ -d "$LXCPATH" ] || return 0
    for dir in "$LXCPATH"/*/; do
        [ -d "$dir" ] || continue
        dir=${dir%/}
        name=${dir##*/}
        if [ -e "$dir/config" ]; then
            state=$(ct_state "$name")
            if [ "$state" = FROZEN ] || [ "$state" = FREEZING ]; then
                log "$name: $state -> thawing"
                ct_thaw "$name" || warn "$name: thaw failed"
            fi
            # also a payload cgroup left frozen behind LXC's back
            f=$(ct_freezer_state_file "$name")
            if [ -n "$f" ] && [ -w "$f" ] && grep -qE 'FROZEN|FREEZING|^1$' "$f" 2>/dev/null; then
                ct_thaw "$name" || true
            fi
            if [ -n "$state" ] && [ "$state" != STOPPED ]; then
                t0=$EPOCHREALTIME
                lxcw stop -n "$name" -k >/dev/null 2>&1 \
                    || { sleep 0.2; lxcw stop -n "$name" -k; } \
                    || warn "$name: lxc-stop -k failed"
                _realenv_time "  lxc-stop -k $name ($state)" "$t0"
            fi
            destroy=1
            while IFS= read -r p; do
                [ -n "$p" ] || continue
                if [[ $p != /* ]] || ! is_inside "$p"; then
                    warn "$name: rootfs '$p' (resolves to '$(realpath -m -- "$p" 2>/dev/null)') is outside $root; not destroying it, removing only the config"
                    destroy=0
                fi
            done < <(rootfs_paths "$dir/config")
            if [ "$destroy" = 1 ]; then
                t0=$EPOCHREALTIME
                lxcw destroy -n "$name" >/dev/null 2>&1 \
                    || warn "$name: lxc-destroy failed; removing its directory instead"
                _realenv_time "  lxc-destroy $name" "$t0"
            fi
        fi
        if [ -e "$dir" ]; then
            rm -rf --one-file-system -- "$dir" || warn "could not remove $dir"
        fi
        if ct_name_in_use "$name"; then
            warn "$name: cgroup lxc.payload.$name still exists"
        fi
    done
}

# --- 2. mounts --------------------------------------------------------------
teardown_mounts() {
    local m pass mounts
    for pass in 1 2 3 4 5; do
        mapfile -t mounts < <(mounts_under "$root")
        [ "${#mounts[@]}" -gt 0 ] || return 0
        for m in "${mounts[@]}"; do
            umount -- "$m" 2>/dev/null || umount -l -- "$m" \
                || warn "could not unmount $m (pass $pass)"
        done
    done
    [ -z "$(mounts_under "$root")" ]
}

# --- 3. loop device ---------------------------------------------------------
teardown_loop() {
    local loop
    [ -s "$BTRFS_LOOP_FILE" ] || return 0
    loop=$(head -n 1 "$BTRFS_LOOP_FILE")
    [[ $loop == /dev/loop[0-9]* ]] || { warn "ignoring odd $BTRFS_LOOP_FILE: '$loop'"; return 0; }
    [ -e "$BTRFS_IMG" ] || return 0
    # usually gone already: setup mounts with autoclear
    if losetup -j "$BTRFS_IMG" -n -O NAME 2>/dev/null | grep -qxF -- "$loop"; then
        losetup -d "$loop" || { warn "losetup -d $loop failed"; return 1; }
    fi
}

step_soft() {   # like step, but records failure instead of dying
    local name=$1 t0 rc=0
    shift
    t0=$EPOCHREALTIME
    "$@" || rc=$?
    _realenv_time "$name" "$t0"
    [ "$rc" = 0 ] || { warn "$name failed"; failed=1; }
}
step_soft "stop + destroy containers" teardown_containers
step_soft "unmount" teardown_mounts
step_soft "detach loop" teardown_loop

# --- 4. remove ROOT-DIR -----------------------------------------------------
if [ -n "$(mounts_under "$root")" ]; then
    die "still mounted under $root: $(mounts_under "$root" | tr '\n' ' '); not deleting it"
fi
t0=$EPOCHREALTIME
rm -rf --one-file-system -- "$root" || die "could not remove $root"
_realenv_time "remove $root" "$t0"
_realenv_time "teardown total" "$T_ALL"
[ "$failed" = 0 ] || die "teardown of $root finished with warnings (see above)"
log "removed $root"
