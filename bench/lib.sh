# bench/lib.sh - shell functions the benchmarks share (sourced, not run):
# the scratch file system, timing a step, comparing a restored tree, the
# machine facts. The caller sets, before using them:
#   scratch  the scratch mount point      img   its loop file
#   rec      record directory (meta.tsv, steps.tsv, check-*.json)
#   logs     step logs                    src   the source tree (restore_check)
#   content  1: restore_check compares file contents too
#   log      a function printing a progress line to stderr
# and may define bench_extra_cpu (prints CPU seconds used so far by processes
# measure cannot see, e.g. a Ceph cluster's daemons): measure then appends
# their use during the step as a tenth column.
# shellcheck shell=bash disable=SC2154  # the variables above are the caller's

bench_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

meta() { printf '%s\t%s\n' "$1" "$2" >>"$rec/meta.tsv"; }

# meta_machine: the facts every benchmark records first.
meta_machine() {
    meta date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    meta cpu "$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    meta nproc "$(nproc)"
    meta mem "$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
    meta kernel "$(uname -r)"
    meta load_start "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# unmount_under DIR: it and every mount below it, deepest first.
unmount_under() {
    local m
    while IFS= read -r m; do
        [ -n "$m" ] && { umount "$m" 2>/dev/null || umount -l "$m" || true; }
    done < <(findmnt -rn -o TARGET | awk -v p="$1" '$0 == p || index($0, p "/") == 1' | sort -r)
}

# remove_scratch: unmount and delete the scratch space (kept when a mount
# below it will not go).
remove_scratch() {
    unmount_under "$scratch"
    if findmnt -rn -o TARGET | awk -v p="$scratch" '$0 == p || index($0, p "/") == 1' | grep -q .; then
        log "mounts left under $scratch; not deleting it"
        return 0
    fi
    rm -rf --one-file-system "$scratch"
    rm -f "$img"
}

# make_scratch SIZE-BYTES [ext4|xfs|ext4-nojournal]: a fresh file system
# (default: journaled ext4) on the sparse loop file $img, mounted on
# $scratch. (On ext4 without a journal, as the root fs of these VMs, every
# inode allocation scans the inodes deleted in the last minutes
# (recently_deleted()): the same `tar -x` took 2.5 s or 22 s depending on
# what was removed before it.)
make_scratch() {
    make_fs "$img" "$scratch" "$1" "${2:-ext4}"
}

# make_fs IMG MOUNTPOINT SIZE-BYTES FSTYPE: the file system behind make_scratch
make_fs() {
    local fimg=$1 mnt=$2 bytes=$3 fs=$4 opts=loop
    truncate -s "$bytes" "$fimg"
    case $fs in
        # -i 4096: room for trees of many small files (a source copy and
        # its restore of 200,000 files: more than the default ratio gives)
        ext4) mkfs.ext4 -q -F -E nodiscard -i 4096 "$fimg"
              opts=loop,noinit_itable ;;   # no background inode-table zeroing during the run
        ext4-nojournal) mkfs.ext4 -q -F -E nodiscard -i 4096 -O ^has_journal "$fimg"
              opts=loop,noinit_itable ;;
        xfs) mkfs.xfs -q -f -K "$fimg" ;;
        *) log "make_fs: unknown file system type '$fs' (ext4, ext4-nojournal or xfs)"; return 1 ;;
    esac
    mkdir -p "$mnt"
    # -o loop: the loop device goes with the unmount (autoclear)
    mount -o "$opts" "$fimg" "$mnt"
    # direct I/O on the backing file: the data is not cached twice, and a
    # dropped page cache means real reads
    losetup --direct-io=on "$(findmnt -n -o SOURCE --mountpoint "$mnt")" 2>/dev/null \
        || log "note: no direct I/O on the loop device of $mnt (data cached twice)"
}

# drop_caches: write back and drop the page cache, dentries and inodes
# (a cold-cache step reads from the device).
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# settle_memory FILE: fill the free memory (MemFree less 1 GiB) with the page
# cache of the sparse file FILE before a warm-cache step (--no-settle: not).
# These VMs hand freed memory back to their host (virtio-balloon free page
# reporting: page_reporting.page_reporting_order=11 on the kernel command
# line), and the guest's first touch of such a page makes the host fault it
# in again: 2.2-2.5 CPU s per GB, charged to whichever process touches it
# (reading a 17 GB sparse file into the page cache took 38 s of system time;
# faulting and zeroing recycled memory takes 0.42 s per GB). A step writing
# 0.5 GB of new files paid that for every page, as nothing on a host that
# has been up a while does: there free memory is mostly clean page cache,
# which allocations reclaim. Reading the file leaves memory so (its pages
# are clean and reclaimed first); a later call tops it up, faulting only
# what the steps in between freed. The file costs no disk space.
settle_memory() {
    local f=$1 free_kb fill_kb
    free_kb=$(awk '/^MemFree:/ {print $2}' /proc/meminfo)
    fill_kb=$((free_kb - 1048576))
    [ "$fill_kb" -gt 262144 ] || return 0
    # a new file each time: the pages of the earlier ones stay cached
    f=$f.$((${settle_n:-0} + 1))
    settle_n=$((${settle_n:-0} + 1))
    truncate -s "${fill_kb}K" "$f"
    cat "$f" >/dev/null
}

# measure TOOL STEP CMD...: time CMD (wall s, max RSS KiB, user s, sys s)
# with output in logs/TOOL-STEP.log; a `sync` before and after, the second
# timed apart. A line in steps.tsv: tool, step, status, wall, rss, user, sys,
# sync, note[, extra CPU s]. Returns CMD's status.
measure() {
    local tool=$1 step=$2 rc=0 tf t0 sync_s status=ok note="" wall="" rss=0 user="" sys=""
    local x0="" extra=""
    shift 2
    tf=$scratch/time.$tool.$step
    sync
    log "$tool: $step"
    declare -F bench_extra_cpu >/dev/null && x0=$(bench_extra_cpu)
    /usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" >"$logs/$tool-$step.log" 2>&1 || rc=$?
    [ -n "$x0" ] && extra=$(awk -v a="$x0" -v b="$(bench_extra_cpu)" 'BEGIN { printf "%.2f", b - a }')
    read -r wall rss user sys < <(tail -n1 "$tf") || true
    t0=$EPOCHREALTIME
    sync
    sync_s=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    if [ "$rc" != 0 ]; then
        status=failed note="exit $rc, see logs/$tool-$step.log"
        log "$tool $step FAILED (exit $rc); last lines of logs/$tool-$step.log:"
        tail -n 15 "$logs/$tool-$step.log" | sed 's/^/    /' >&2
    else
        log "  $wall s, max RSS $((rss / 1024)) MiB${extra:+, other processes $extra CPU-s}"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s%s\n' "$tool" "$step" "$status" "$wall" "$rss" \
        "$user" "$sys" "$sync_s" "$note" "${x0:+	$extra}" >>"$rec/steps.tsv"
    return "$rc"
}

warm() { tar -cf - -C "$1" . | cat >/dev/null; }   # (tar skips reading when writing to /dev/null)

# restore_check TOOL RESTORED-DIR [treecheck compare options]: compare with
# $src; the result in rec/check-TOOL.json.
restore_check() {
    local tool=$1 dir=$2 opts=("${@:3}")
    [ "$content" = 1 ] || opts+=(--no-content)
    if python3 "$bench_lib_dir/datastore/treecheck.py" compare "$src" "$dir" "${opts[@]}" \
        >"$rec/check-$tool.json" 2>"$scratch/check.txt"; then
        log "  restored tree matches the source"
    else
        log "  restored tree DIFFERS from the source: $(cat "$scratch/check.txt")"
    fi
}
