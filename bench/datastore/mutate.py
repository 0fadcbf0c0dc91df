#!/usr/bin/env python3
"""mutate.py - deterministic change sets and synthetic trees for bench/datastore.

  mutate.py apply DIR [--seed 42] [--modify 0.01] [--add 0.002] [--delete 0.002]
      Change the tree DIR in place, the same way on every run: of its regular
      files (sorted by path; none under dev/ proc/ sys/ run/ tmp/ var/tmp/,
      which ctdump's standard excludes or a restore would skip) a fraction is
      modified (half of them get 1-64 bytes overwritten in the middle, half
      get 1-64 bytes appended), a fraction deleted, and new files of random
      (incompressible) content, 0-64 KiB, mostly small, are added to
      directories chosen the same way.  Everything is drawn from
      random.Random(seed) over the sorted lists, so the same corpus always
      yields the same change set; inodes of untouched files stay, which is
      what every tool's change detection looks at.  Prints a JSON summary.

  mutate.py many DIR [--dirs 1000] [--files 1000] [--seed 42]
      Create DIR with DIRS directories of FILES files each, 0-2048 bytes of
      deterministic pseudo-random content per file (the 1 M-file tree of the
      peak-RSS target).  DIR must not exist.

Standard library only.
"""
import argparse
import json
import os
import random
import stat
import sys

SKIP_TOP = ("dev", "proc", "sys", "run", "tmp", os.path.join("var", "tmp"))


def skipped(rel):
    return any(rel == p or rel.startswith(p + os.sep) for p in SKIP_TOP)


def listing(root):
    """Sorted relative paths of the regular files and directories below root."""
    files, dirs = [], []
    for cur, subdirs, names in os.walk(root):
        rel_cur = os.path.relpath(cur, root)
        rel_cur = "" if rel_cur == "." else rel_cur
        if rel_cur and skipped(rel_cur):
            subdirs[:] = []
            continue
        subdirs.sort()
        dirs.append(rel_cur)
        for name in names:
            rel = os.path.join(rel_cur, name)
            if stat.S_ISREG(os.lstat(os.path.join(root, rel)).st_mode):
                files.append(rel)
    files.sort()
    dirs.sort()
    return files, dirs


def modify(path, rng):
    size = os.path.getsize(path)
    data = rng.randbytes(rng.randint(1, 64))
    if size > 0 and rng.random() < 0.5:
        off = size // 2
        data = data[: size - off]
        with open(path, "r+b") as f:
            f.seek(off)
            f.write(data)
        return "overwrite", len(data)
    with open(path, "ab") as f:
        f.write(data)
    return "append", len(data)


def added_size(rng):
    # mostly small files, a few up to 64 KiB
    return min(int(rng.expovariate(1 / 8192)), 65536)


def apply(root, seed, f_mod, f_add, f_del):
    rng = random.Random(seed)
    files, dirs = listing(root)
    n = len(files)
    n_mod = max(1, round(n * f_mod))
    n_del = max(1, round(n * f_del))
    n_add = max(1, round(n * f_add))
    picked = rng.sample(range(n), n_mod + n_del)
    summary = {"seed": seed, "files_before": n, "modified": n_mod,
               "deleted": n_del, "added": n_add, "overwritten": 0,
               "appended": 0, "bytes_written_to_modified": 0,
               "size_of_modified_files": 0, "bytes_deleted": 0,
               "bytes_added": 0}
    for i in picked[:n_mod]:
        path = os.path.join(root, files[i])
        summary["size_of_modified_files"] += os.path.getsize(path)
        how, count = modify(path, rng)
        summary["overwritten" if how == "overwrite" else "appended"] += 1
        summary["bytes_written_to_modified"] += count
    for i in picked[n_mod:]:
        path = os.path.join(root, files[i])
        summary["bytes_deleted"] += os.path.getsize(path)
        os.unlink(path)
    for i in range(n_add):
        d = dirs[rng.randrange(len(dirs))]
        data = rng.randbytes(added_size(rng))
        path = os.path.join(root, d, f"bench-added-{i:06d}.bin")
        with open(path, "xb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        summary["bytes_added"] += len(data)
    return summary


def many(root, n_dirs, n_files, seed):
    rng = random.Random(seed)
    os.mkdir(root)
    total = 0
    for d in range(n_dirs):
        dpath = os.path.join(root, f"d{d:04d}")
        os.mkdir(dpath)
        for i in range(n_files):
            data = rng.randbytes(rng.randint(0, 2048))
            with open(os.path.join(dpath, f"f{i:04d}"), "wb") as f:
                f.write(data)
            total += len(data)
    return {"seed": seed, "dirs": n_dirs, "files": n_dirs * n_files,
            "bytes": total}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("apply")
    p.add_argument("dir")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--modify", type=float, default=0.01)
    p.add_argument("--add", type=float, default=0.002)
    p.add_argument("--delete", type=float, default=0.002)
    p = sub.add_parser("many")
    p.add_argument("dir")
    p.add_argument("--dirs", type=int, default=1000)
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    if args.cmd == "apply":
        result = apply(args.dir, args.seed, args.modify, args.add, args.delete)
    else:
        result = many(args.dir, args.dirs, args.files, args.seed)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
