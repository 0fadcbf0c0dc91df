# shellcheck shell=bash disable=SC2034  # the settings are used by the sourcing scripts
# tests/realenv/lib.sh - settings and helpers shared by the real-environment
# test scripts (make-rootfs-cache.sh, setup.sh, teardown.sh, selftest.sh).
# Source it; do not execute it.  Every setting can be overridden from the
# environment.
#
# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------
#   CTDUMP_TEST_ROOT  the test environment's root directory.  There is no
#                     default: setup.sh/teardown.sh take it as their first
#                     argument and export it; realenv_paths ROOT sets it.
#   ROOTFS_CACHE      /var/cache/ctdump          survives teardown
#   ROOTFS_TAR        $ROOTFS_CACHE/rootfs-$SUITE-minbase.tar
#   SUITE             bookworm
#   MIRROR            first `URIs:` of /etc/apt/sources.list.d/debian.sources
#                     (fallback http://deb.debian.org/debian)
#   MAP_HOST/MAP_COUNT   100000/65536  idmap of the unprivileged container
#   MAP2_HOST            200000        second map (restore tests); also the
#                                      host uid of unpriv's unmapped.txt
#   BTRFS_SIZE        2G (sparse loop image)
#
# After `realenv_paths ROOT [PREFIX]` these are set (setup.sh also writes them,
# shell-quoted, to ROOT/env.sh so tests can `. ROOT/env.sh`):
#   LXCPATH=ROOT/lxc  BTRFS_IMG=ROOT/btrfs.img  BTRFS_MNT=ROOT/btrfs
#   BTRFS_LOOP_FILE=ROOT/btrfs.loop (holds e.g. /dev/loop3)
#   CT_PRIV=PREFIX-priv      ROOTFS_PRIV=ROOT/rootfs/PREFIX-priv     (dir, ext4)
#   CT_UNPRIV=PREFIX-unpriv  ROOTFS_UNPRIV=ROOT/btrfs/PREFIX-unpriv  (btrfs subvol)
#   MANIFEST_PRIV=ROOT/PREFIX-priv.expected  MANIFEST_UNPRIV=ROOT/PREFIX-unpriv.expected
#
# ---------------------------------------------------------------------------
# Manifest format  (ROOT/<ct>.expected, written by realenv_manifest)
# ---------------------------------------------------------------------------
# Text, one entry per line, lines sorted by the raw bytes of the path.  Lines
# starting with '#' are comments (the first is "# ctdump-realenv-manifest v1").
# Entry lines have exactly 11 TAB-separated columns:
#
#   1 path    container-view absolute path, e.g. /srv/tricky/hello.txt
#   2 type    f regular, d directory, l symlink, p fifo, s socket,
#             c char device, b block device
#   3 uid     container-view numeric owner (decimal).  In the unprivileged
#   4 gid     container ids the kernel cannot map show as 65534 (overflow id):
#             hostroot.txt and unmapped.txt
#   5 mode    permission + setuid/setgid/sticky bits, 4 octal digits (4755)
#   6 size    st_size in bytes for f and l (l: length of the target); '-' else
#   7 sha256  lowercase hex of the content for f; 'unreadable' when the
#             container's root cannot open it (unprivileged hostroot.txt);
#             '-' for other types
#   8 nlink   link count for non-directories; '-' for d (fs-dependent)
#   9 mtime   whole seconds since the epoch (lstat, floor)
#  10 target  symlink target (escaped like path) for l; '-' else
#  11 attrs   '-' or a ';'-separated list of key=value items, in this order:
#             link=PATH        hard link: PATH is the first path (in manifest
#                              order) of the same inode
#             sparse=1         regular file with far fewer blocks than its size
#             acl=TEXT         access ACL, short text form in stored order,
#                              e.g. u::rw-,u:1000:r--,g::r--,g:1000:rw-,m::rw-,o::r--
#             dacl=TEXT        default ACL (directories), same form
#             cap=TEXT         file capabilities, getcap style: cap_net_raw=ep
#                              (groups with different flags separated by ' ')
#             caprootid=N      only when a v3 capability is seen (not in the
#                              container view: the kernel shows ns caps as v2)
#             xattr.NAME=0xHEX one per other xattr (user.*, ...), names sorted;
#                              value is the raw bytes in lowercase hex ('0x'
#                              alone for an empty value)
#             xattr=unreadable listing/reading the xattrs was refused
#
# Escaping (columns 1, 10 and xattr names): every byte outside 0x21..0x7e,
# and the backslash itself, is written as a backslash followed by exactly
# three octal digits: space -> \040, TAB -> \011, newline -> \012,
# '\' -> \134, 0xff -> \377.  Everything else is literal, so the escaped
# form is unambiguous and decodes byte-exactly; paths never contain TAB or
# newline in the file.  Example: the non-UTF-8 name "bad-\xff\xfe.txt" is
# written /srv/tricky/bad-\377\376.txt
#
# Entries: /srv/tricky itself and everything below it (recursively), plus
# /tmp/should-be-excluded and /var/tmp/also-excluded.

# ---------------------------------------------------------------------------
ROOTFS_CACHE=${ROOTFS_CACHE:-/var/cache/ctdump}
SUITE=${SUITE:-bookworm}
ROOTFS_TAR=${ROOTFS_TAR:-$ROOTFS_CACHE/rootfs-$SUITE-minbase.tar}
if [ -z "${MIRROR:-}" ]; then
    MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
MAP_HOST=${MAP_HOST:-100000}
MAP_COUNT=${MAP_COUNT:-65536}
MAP2_HOST=${MAP2_HOST:-200000}
BTRFS_SIZE=${BTRFS_SIZE:-2G}
REALENV_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# tar flags used for the rootfs tarball, both ways
ROOTFS_TAR_FLAGS=(--numeric-owner --xattrs "--xattrs-include=*" --acls)
# marker written first by setup.sh; teardown.sh refuses to delete a
# non-empty directory without it
REALENV_MARKER=.ctdump-realenv

export ROOTFS_CACHE SUITE ROOTFS_TAR MIRROR MAP_HOST MAP_COUNT MAP2_HOST BTRFS_SIZE

# ---------------------------------------------------------------------------
# Messages and timing
# ---------------------------------------------------------------------------
_realenv_me=${0##*/}
log()  { printf '[%s] %s\n' "$_realenv_me" "$*" >&2; }
warn() { printf '[%s] WARNING: %s\n' "$_realenv_me" "$*" >&2; }
die()  { printf '[%s] ERROR: %s\n' "$_realenv_me" "$*" >&2; exit 1; }

# step NAME CMD...: run CMD, print its wall time to stderr, die if it fails.
# CMD runs in a background subshell and is waited for: a function called as
# `f || rc=$?` would run with `set -e` silently disabled, this way errexit
# stays in force inside CMD.  Hence CMD cannot set variables of the caller.
step() {
    local name=$1 t0 rc=0
    shift
    t0=$EPOCHREALTIME
    "$@" &
    wait "$!" || rc=$?
    _realenv_time "$name" "$t0"
    [ "$rc" = 0 ] || die "step '$name' failed (exit $rc)"
}
# _realenv_time NAME T0: print "TIME NAME  N.NNNs" for EPOCHREALTIME T0..now
_realenv_time() {
    local t1=$EPOCHREALTIME
    awk -v n="$1" -v a="$2" -v b="$t1" \
        'BEGIN { printf "[%s] TIME %-38s %7.3fs\n", "'"$_realenv_me"'", n, b - a }' >&2
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }
need_cmds() {
    local c missing=()
    for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
    [ "${#missing[@]}" = 0 ] || die "missing commands: ${missing[*]} (run scripts/install-deps.sh)"
}
# need_subid RANGE: root must own "root:RANGE" in /etc/subuid and /etc/subgid
need_subid() {
    local f
    for f in /etc/subuid /etc/subgid; do
        grep -qxF "root:$1" "$f" 2>/dev/null \
            || die "root:$1 missing from $f (run scripts/install-deps.sh)"
    done
}

# ---------------------------------------------------------------------------
# Paths of one environment
# ---------------------------------------------------------------------------
# realenv_paths ROOT [PREFIX]: set (and export) the variables listed above.
# Without PREFIX only the prefix-independent ones are set (teardown.sh).
realenv_paths() {
    CTDUMP_TEST_ROOT=$1
    LXCPATH=$CTDUMP_TEST_ROOT/lxc
    BTRFS_IMG=$CTDUMP_TEST_ROOT/btrfs.img
    BTRFS_MNT=$CTDUMP_TEST_ROOT/btrfs
    BTRFS_LOOP_FILE=$CTDUMP_TEST_ROOT/btrfs.loop
    export CTDUMP_TEST_ROOT LXCPATH BTRFS_IMG BTRFS_MNT BTRFS_LOOP_FILE
    if [ -n "${2:-}" ]; then
        CT_PRIV=$2-priv
        CT_UNPRIV=$2-unpriv
        ROOTFS_PRIV=$CTDUMP_TEST_ROOT/rootfs/$CT_PRIV
        ROOTFS_UNPRIV=$BTRFS_MNT/$CT_UNPRIV
        MANIFEST_PRIV=$CTDUMP_TEST_ROOT/$CT_PRIV.expected
        MANIFEST_UNPRIV=$CTDUMP_TEST_ROOT/$CT_UNPRIV.expected
        export CT_PRIV CT_UNPRIV ROOTFS_PRIV ROOTFS_UNPRIV MANIFEST_PRIV MANIFEST_UNPRIV
    fi
}

# realenv_write_env FILE: the environment's variables, shell-quoted
realenv_write_env() {
    local v
    {
        echo "# written by tests/realenv/setup.sh; source it"
        for v in CTDUMP_TEST_ROOT LXCPATH BTRFS_IMG BTRFS_MNT BTRFS_LOOP_FILE \
                 CT_PRIV CT_UNPRIV ROOTFS_PRIV ROOTFS_UNPRIV \
                 MANIFEST_PRIV MANIFEST_UNPRIV MAP_HOST MAP_COUNT MAP2_HOST ROOTFS_TAR; do
            printf '%s=%q\n' "$v" "${!v}"
        done
        if [ -s "$BTRFS_LOOP_FILE" ]; then
            printf 'BTRFS_LOOP=%q\n' "$(cat "$BTRFS_LOOP_FILE")"
        fi
    } >"$1"
}

# ---------------------------------------------------------------------------
# LXC and user namespaces
# ---------------------------------------------------------------------------
# lxcw TOOL ARGS...: lxc-TOOL on this environment's lxcpath, stdin /dev/null
lxcw() { local tool=$1; shift; "lxc-$tool" -P "$LXCPATH" "$@" </dev/null; }

# in_userns CMD...: run CMD as root of the unprivileged container's user
# namespace (map 0:MAP_HOST:MAP_COUNT for uids and gids, setuid/setgid 0,
# host groups dropped).  stdout/stderr stay the caller's.
in_userns() { lxc-usernsexec -m "b:0:$MAP_HOST:$MAP_COUNT" -- "$@"; }

# ct_state NAME: RUNNING / FROZEN / STOPPED / ... ('' if unknown)
ct_state() { lxcw info -n "$1" -s -H 2>/dev/null || true; }

# ct_freezer_state_file NAME: the freezer control file (cgroup v1 or v2), or ''
ct_freezer_state_file() {
    local f
    for f in "/sys/fs/cgroup/freezer/lxc.payload.$1/freezer.state" \
             "/sys/fs/cgroup/lxc.payload.$1/cgroup.freeze"; do
        [ -e "$f" ] && { echo "$f"; return 0; }
    done
    echo ""
}

# ct_thaw NAME: unfreeze through the cgroup file (fast), else lxc-unfreeze
ct_thaw() {
    local f
    f=$(ct_freezer_state_file "$1")
    case $f in
        */freezer.state) echo THAWED >"$f" 2>/dev/null && return 0 ;;
        */cgroup.freeze) echo 0 >"$f" 2>/dev/null && return 0 ;;
    esac
    lxcw unfreeze -n "$1"
}

# ct_name_in_use NAME: does an lxc.payload.NAME cgroup exist anywhere?
ct_name_in_use() {
    [ -e "/sys/fs/cgroup/freezer/lxc.payload.$1" ] \
        || [ -e "/sys/fs/cgroup/unified/lxc.payload.$1" ] \
        || [ -e "/sys/fs/cgroup/lxc.payload.$1" ]
}

# ---------------------------------------------------------------------------
# Mounts
# ---------------------------------------------------------------------------
# mounts_under DIR: mount points at or below DIR (canonical path), one per
# line, deepest first, from /proc/self/mountinfo (octal escapes decoded).
# Names containing newlines are not supported (they are not ours).
mounts_under() {
    local dir=$1 m
    awk '{ print $5 }' /proc/self/mountinfo | while IFS= read -r m; do
        # mountinfo escapes space, TAB, newline and backslash as \ooo
        # (every backslash starts such an escape; %b wants \0ooo)
        m=$(printf '%b' "${m//\\/\\0}")
        case $m in
            "$dir" | "$dir"/*) printf '%d\t%s\n' "${#m}" "$m" ;;
        esac
    done | sort -t "$(printf '\t')" -k1,1nr | cut -f2-
}

# ---------------------------------------------------------------------------
# Test content
# ---------------------------------------------------------------------------
# realenv_tricky_content ROOTFS: create /srv/tricky and the standard exclude
# files in ROOTFS.  For an unprivileged container it must run
# as root of the container's user namespace (in_userns), so that owners,
# ACL ids and the file capability are stored shifted.  The two files that
# are owned by ids outside the container (hostroot.txt, unmapped.txt) are
# created by the host afterwards (realenv_tricky_host_files).
realenv_tricky_content() {
    set -euo pipefail
    local root=$1 d i name deep
    umask 022
    for d in srv tmp var/tmp; do
        if [ ! -d "$root/$d" ] || [ -L "$root/$d" ]; then
            echo "no directory $root/$d" >&2
            return 1
        fi
    done
    d=$root/srv/tricky
    mkdir "$d"
    chmod 0755 "$d"

    printf 'hello, ctdump\n' >"$d/hello.txt"

    printf 'one inode, two names\n' >"$d/hl1"
    ln "$d/hl1" "$d/hl2"

    # 64 MiB apparent; 3840 bytes of data at 0 and at 32 MiB
    truncate -s 64M "$d/sparse.img"
    printf 'ctdump-sparse-A%.0s' {1..256} | dd of="$d/sparse.img" bs=4096 conv=notrunc status=none
    printf 'ctdump-sparse-B%.0s' {1..256} \
        | dd of="$d/sparse.img" bs=4096 seek=$((32 * 1024 * 1024)) oflag=seek_bytes conv=notrunc status=none

    mkfifo -m 0644 "$d/fifo"

    cp /bin/true "$d/suid-true"
    chmod 4755 "$d/suid-true"

    cp /bin/true "$d/cap-true"
    chmod 0755 "$d/cap-true"
    setcap cap_net_raw+ep "$d/cap-true"

    printf 'acl file\n' >"$d/acl.txt"
    chmod 0644 "$d/acl.txt"
    setfacl -m u:1000:r,g:1000:rw "$d/acl.txt"
    mkdir "$d/acldir"
    setfacl -m u:1000:rwx "$d/acldir"
    setfacl -d -m u:1000:rwx,g:1000:rx "$d/acldir"
    printf 'inherits the default acl\n' >"$d/acldir/inherited.txt"

    printf 'has xattrs\n' >"$d/xattr.txt"
    setfattr -n user.ctdump -v hello "$d/xattr.txt"
    setfattr -n user.bin -v 0x00fffe0a5c01 "$d/xattr.txt"

    printf 'secret-1000\n' >"$d/uid1000.txt"
    chown 1000:1000 "$d/uid1000.txt"
    chmod 0600 "$d/uid1000.txt"

    name=long-
    for ((i = ${#name}; i < 255; i++)); do name+=x; done
    printf '255-byte name\n' >"$d/$name"

    deep=$d/deep
    for ((i = 1; i <= 20; i++)); do deep+=$(printf '/l%02d' "$i"); done
    mkdir -p "$deep"
    printf 'twenty levels down\n' >"$deep/leaf.txt"

    printf 'not utf-8\n' >"$d/bad-"$'\xff\xfe'".txt"

    ln -s hello.txt "$d/symlink"
    ln -s does/not/exist "$d/dangling"

    mkdir "$d/emptydir"

    mkdir -m 0700 "$d/private1000"
    printf 'inside a 0700 dir\n' >"$d/private1000/inner.txt"
    chmod 0600 "$d/private1000/inner.txt"
    chown -R 1000:1000 "$d/private1000"

    mkdir "$d/cache"
    dd if=/dev/zero of="$d/cache/big.bin" bs=1M count=4 status=none

    printf 'tmp file\n' >"$root/tmp/should-be-excluded"
    printf 'var tmp file\n' >"$root/var/tmp/also-excluded"
}

# realenv_tricky_host_files ROOTFS KIND: the files the container's root must
# not own (run as host root, after realenv_tricky_content)
realenv_tricky_host_files() {
    local root=$1 kind=$2 d=$1/srv/tricky
    ( umask 077; printf 'host-secret\n' >"$d/hostroot.txt" )
    chown 0:0 "$d/hostroot.txt"
    chmod 0600 "$d/hostroot.txt"
    printf 'owned by an id the container cannot map\n' >"$d/unmapped.txt"
    chmod 0644 "$d/unmapped.txt"
    if [ "$kind" = unpriv ]; then
        chown "$MAP2_HOST:$MAP2_HOST" "$d/unmapped.txt"
    else
        chown 4000000000:4000000000 "$d/unmapped.txt"
    fi
    : "$root"
}

# realenv_manifest ROOTFS CTNAME VIEW: print the manifest (format above) of
# ROOTFS to stdout.  Run it where the container's view applies: as host root
# for a privileged container, via in_userns for an unprivileged one.
realenv_manifest() {
    python3 -c "$REALENV_MANIFEST_PY" "$@"
}

REALENV_MANIFEST_PY=$(cat <<'PYEOF'
import hashlib, os, stat, struct, sys

root = os.fsencode(sys.argv[1]).rstrip(b"/")
ctname, view = sys.argv[2], sys.argv[3]
STARTS = [b"/srv/tricky", b"/tmp/should-be-excluded", b"/var/tmp/also-excluded"]
CAPS = ("chown dac_override dac_read_search fowner fsetid kill setgid setuid setpcap "
        "linux_immutable net_bind_service net_broadcast net_admin net_raw ipc_lock "
        "ipc_owner sys_module sys_rawio sys_chroot sys_ptrace sys_pacct sys_admin "
        "sys_boot sys_nice sys_resource sys_time sys_tty_config mknod lease "
        "audit_write audit_control setfcap mac_override mac_admin syslog wake_alarm "
        "block_suspend audit_read perfmon bpf checkpoint_restore").split()

def esc(b):
    return "".join(chr(c) if 0x21 <= c <= 0x7E and c != 0x5C else "\\%03o" % c for c in b)

def acl_text(v):
    out = []
    for off in range(4, len(v) - 7, 8):
        tag, perm, xid = struct.unpack_from("<HHI", v, off)
        p = ("r" if perm & 4 else "-") + ("w" if perm & 2 else "-") + ("x" if perm & 1 else "-")
        t = {1: "u", 2: "u", 4: "g", 8: "g", 0x10: "m", 0x20: "o"}.get(tag, "?%d" % tag)
        out.append("%s:%s:%s" % (t, xid if tag in (2, 8) else "", p))
    return ",".join(out)

def cap_text(v):
    magic = struct.unpack_from("<I", v, 0)[0]
    ver, eff = magic & 0xFF000000, magic & 1
    if ver == 0x01000000:
        perm, inh, rootid = struct.unpack_from("<II", v, 4) + (None,)
    else:
        p0, i0, p1, i1 = struct.unpack_from("<IIII", v, 4)
        perm, inh = p0 | p1 << 32, i0 | i1 << 32
        rootid = struct.unpack_from("<I", v, 20)[0] if ver == 0x03000000 else None
    groups = {}
    for bit in range(64):
        m = 1 << bit
        if not (perm | inh) & m:
            continue
        fl = ("e" if eff and perm & m else "") + ("i" if inh & m else "") + ("p" if perm & m else "")
        name = "cap_" + CAPS[bit] if bit < len(CAPS) else "cap_%d" % bit
        groups.setdefault(fl, []).append(name)
    return " ".join(",".join(n) + "=" + fl for fl, n in groups.items()), rootid

paths = []
def walk_error(e):
    raise e
for s in STARTS:
    p = root + s
    if not os.path.lexists(p):
        continue
    paths.append(s)
    if stat.S_ISDIR(os.lstat(p).st_mode):
        for dp, dns, fns in os.walk(p, onerror=walk_error):
            paths.extend(dp[len(root):] + b"/" + n for n in dns + fns)
paths.sort()

out = sys.stdout
out.write("# ctdump-realenv-manifest v1\n")
out.write("# ct=%s view=%s rootfs=%s\n" % (ctname, view, esc(root)))
out.write("# path\ttype\tuid\tgid\tmode\tsize\tsha256\tnlink\tmtime\ttarget\tattrs\n")
seen = {}
for rel in paths:
    p = root + rel
    st = os.lstat(p)
    m = st.st_mode
    t = ("f" if stat.S_ISREG(m) else "d" if stat.S_ISDIR(m) else "l" if stat.S_ISLNK(m)
         else "p" if stat.S_ISFIFO(m) else "s" if stat.S_ISSOCK(m) else "c" if stat.S_ISCHR(m)
         else "b" if stat.S_ISBLK(m) else "?")
    size = str(st.st_size) if t in "fl" else "-"
    digest = "-"
    if t == "f":
        try:
            h = hashlib.sha256()
            with open(p, "rb", buffering=0) as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            digest = h.hexdigest()
        except PermissionError:
            digest = "unreadable"
    target = esc(os.readlink(p)) if t == "l" else "-"
    attrs = []
    if t == "f" and st.st_nlink > 1:
        key = (st.st_dev, st.st_ino)
        if key in seen:
            attrs.append("link=" + esc(seen[key]))
        else:
            seen[key] = rel
    if t == "f" and st.st_blocks * 512 + 65536 < st.st_size:
        attrs.append("sparse=1")
    try:
        names = sorted(os.listxattr(p, follow_symlinks=False))
        vals = {n: os.getxattr(p, n, follow_symlinks=False) for n in names}
    except PermissionError:
        names, vals = [], {}
        attrs.append("xattr=unreadable")
    if "system.posix_acl_access" in vals:
        attrs.append("acl=" + acl_text(vals["system.posix_acl_access"]))
    if "system.posix_acl_default" in vals:
        attrs.append("dacl=" + acl_text(vals["system.posix_acl_default"]))
    if "security.capability" in vals:
        txt, rootid = cap_text(vals["security.capability"])
        attrs.append("cap=" + txt)
        if rootid is not None:
            attrs.append("caprootid=%d" % rootid)
    for n in names:
        if n in ("system.posix_acl_access", "system.posix_acl_default", "security.capability"):
            continue
        attrs.append("xattr.%s=0x%s" % (esc(os.fsencode(n)), vals[n].hex()))
    cols = [esc(rel), t, str(st.st_uid), str(st.st_gid), "%04o" % stat.S_IMODE(m), size,
            digest, "-" if t == "d" else str(st.st_nlink), str(st.st_mtime_ns // 1000000000),
            target, ";".join(attrs) if attrs else "-"]
    out.write("\t".join(cols) + "\n")
PYEOF
)
