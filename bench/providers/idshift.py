#!/usr/bin/env python3
"""idshift.py - move a tree's owners into an unprivileged container's id map.

  idshift.py DIR [--offset 100000] [--count 65536]

Every entry of DIR (DIR itself included) whose uid (gid) is below OFFSET gets
uid + OFFSET (gid + OFFSET), so the tree is what an unprivileged container
with `lxc.idmap = u 0 OFFSET COUNT` / `g 0 OFFSET COUNT` sees as its own ids.
Entries already at or above OFFSET are left alone, so a second run shifts only
what was added since (the change set's new files, created by host root).
Character and block devices are removed: an unprivileged container cannot
have them (mknod is refused in a user namespace; LXC mounts /dev).

chown(2) clears setuid/setgid bits and file capabilities; the mode is set
again after the chown (so setuid bits survive), capabilities are not (they are
counted). Hard-linked inodes are shifted once. Ids at or above OFFSET + COUNT
are refused. Prints a JSON summary. Standard library only.
"""
import argparse
import json
import os
import stat
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--offset", type=int, default=100000)
    ap.add_argument("--count", type=int, default=65536)
    args = ap.parse_args()
    off, cnt = args.offset, args.count
    summary = {"shifted": 0, "kept": 0, "devices_removed": 0, "capabilities_dropped": 0}
    seen = set()

    def shift(uid):
        if uid >= off:
            return uid
        if uid >= cnt:
            raise SystemExit(f"id {uid} does not fit the map (count {cnt})")
        return uid + off

    def visit(path):
        st = os.lstat(path)
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            os.unlink(path)
            summary["devices_removed"] += 1
            return
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) in seen:
                return
            seen.add((st.st_dev, st.st_ino))
        uid, gid = shift(st.st_uid), shift(st.st_gid)
        if (uid, gid) == (st.st_uid, st.st_gid):
            summary["kept"] += 1
            return
        islink = stat.S_ISLNK(st.st_mode)
        if not islink and stat.S_ISREG(st.st_mode):
            try:
                os.getxattr(path, "security.capability", follow_symlinks=False)
                summary["capabilities_dropped"] += 1
            except OSError:
                pass
        os.lchown(path, uid, gid)
        if not islink:
            os.chmod(path, stat.S_IMODE(st.st_mode))   # chown cleared setuid/setgid
        summary["shifted"] += 1

    root = args.dir
    visit(root)
    for cur, dirs, files in os.walk(root):
        for name in dirs + files:
            visit(os.path.join(cur, name))
    json.dump(summary, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
