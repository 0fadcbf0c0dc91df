#!/usr/bin/env python3
"""treecheck.py - tree statistics and restore comparison for bench/datastore.

  treecheck.py stats DIR
      JSON on stdout: entries by type and the logical size, i.e. the bytes of
      regular files with each hard-linked inode counted once (what a backup
      tool has to read).

  treecheck.py compare SRC DST [--exclude GLOB]... [--no-content]
      Compare the restored tree DST with the source SRC: presence, type, mode,
      owner, size, mtime (whole seconds: GNU tar's default format keeps no
      more), symlink target, device numbers, hard-link groups and, unless
      --no-content, the bytes of every regular file.  The roots themselves are
      not compared.  --exclude drops relative paths matching an fnmatch glob
      (e.g. 'dev/*': ctdump's restore does not create device nodes).
      Prints a JSON summary (counts per kind of difference, a few examples)
      on stdout and one line on stderr; exits 0 when the trees match, 1
      otherwise.

Standard library only.  Never modifies either tree.
"""
import argparse
import fnmatch
import json
import os
import stat
import sys

EXAMPLES = 5


def walk(root):
    """Yield (relative path, lstat) for every entry below root, sorted."""
    stack = [""]
    while stack:
        rel = stack.pop()
        path = os.path.join(root, rel) if rel else root
        with os.scandir(path) as it:
            names = sorted(e.name for e in it)
        subdirs = []
        for name in names:
            r = os.path.join(rel, name) if rel else name
            st = os.lstat(os.path.join(root, r))
            yield r, st
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(r)
        stack.extend(reversed(subdirs))


def kind(mode):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"),
                       (stat.S_ISLNK, "symlink"), (stat.S_ISCHR, "chardev"),
                       (stat.S_ISBLK, "blockdev"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "other"


def stats(root):
    counts = {}
    logical = 0
    seen = set()
    for _, st in walk(root):
        k = kind(st.st_mode)
        counts[k] = counts.get(k, 0) + 1
        if k == "file" and (st.st_dev, st.st_ino) not in seen:
            if st.st_nlink > 1:
                seen.add((st.st_dev, st.st_ino))
            logical += st.st_size
    return {"entries": sum(counts.values()), "by_type": counts,
            "logical_bytes": logical}


def snapshot(root, excludes):
    """Map relative path -> metadata tuple pieces, and hard-link groups."""
    entries = {}
    first_path = {}
    for rel, st in walk(root):
        if any(fnmatch.fnmatchcase(rel, g) for g in excludes):
            continue
        k = kind(st.st_mode)
        meta = {
            "type": k,
            "mode": stat.S_IMODE(st.st_mode),
            "owner": (st.st_uid, st.st_gid),
            "size": st.st_size if k == "file" else None,
            "mtime": int(st.st_mtime) if k != "symlink" else None,
            "target": os.readlink(os.path.join(root, rel)) if k == "symlink" else None,
            "rdev": st.st_rdev if k in ("chardev", "blockdev") else None,
        }
        if k == "file" and st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            meta["link"] = first_path.setdefault(key, rel)
        else:
            meta["link"] = None
        entries[rel] = meta
    return entries


def same_content(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x = fa.read(1 << 20)
            y = fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def compare(src, dst, excludes, content):
    a = snapshot(src, excludes)
    b = snapshot(dst, excludes)
    diffs = {}

    def note(what, rel, detail=None):
        d = diffs.setdefault(what, {"count": 0, "examples": []})
        d["count"] += 1
        if len(d["examples"]) < EXAMPLES:
            d["examples"].append(rel if detail is None else f"{rel}: {detail}")

    for rel in sorted(a.keys() - b.keys()):
        note("missing", rel)
    for rel in sorted(b.keys() - a.keys()):
        note("extra", rel)
    checked_inodes = set()
    for rel in sorted(a.keys() & b.keys()):
        x, y = a[rel], b[rel]
        if x["type"] != y["type"]:
            note("type", rel, f'{x["type"]} != {y["type"]}')
            continue
        for field in ("mode", "owner", "size", "target", "rdev", "link"):
            if x[field] != y[field]:
                note(field, rel, f"{x[field]!r} != {y[field]!r}")
        if x["mtime"] != y["mtime"]:
            note("dir_mtime" if x["type"] == "dir" else "mtime", rel,
                 f'{x["mtime"]} != {y["mtime"]}')
        if content and x["type"] == "file" and x["size"] == y["size"]:
            ident = x["link"] or rel
            if ident in checked_inodes:
                continue
            checked_inodes.add(ident)
            if not same_content(os.path.join(src, rel), os.path.join(dst, rel)):
                note("content", rel)
    return {"entries_src": len(a), "entries_dst": len(b),
            "content_checked": content, "excludes": excludes,
            "identical": not diffs, "differences": diffs}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("stats")
    p.add_argument("dir")
    p = sub.add_parser("compare")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--exclude", action="append", default=[])
    p.add_argument("--no-content", action="store_true")
    args = ap.parse_args()
    if args.cmd == "stats":
        json.dump(stats(args.dir), sys.stdout)
        print()
        return 0
    result = compare(args.src, args.dst, args.exclude, not args.no_content)
    json.dump(result, sys.stdout)
    print()
    # one line for the log
    diffs = result["differences"]
    print("identical" if not diffs else ", ".join(
        f'{k} {v["count"]} (e.g. {v["examples"][0]})' for k, v in sorted(diffs.items())),
        file=sys.stderr)
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
