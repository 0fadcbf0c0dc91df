#!/usr/bin/env python3
"""corpus.py - synthetic trees for bench/datastore (deterministic, seed fixed).

  corpus.py tiny DIR [--files 200000] [--dirs 2000] [--seed 42]
      Create DIR with FILES files of 100-2048 bytes spread over DIRS
      directories (a two-level fan-out: top/sub, as a package tree has).
      The content is compressible text, not random bytes: lines of words
      drawn (Zipf-like weights) from a vocabulary of pseudo-words that the
      seed generates, so the tree does not depend on the host.  Prints a
      JSON summary.  DIR must not exist.

  corpus.py age DIR [--files 100000] [--dirs 500] [--seed 7]
      Age the file system holding DIR: create FILES files of 0-8 KiB in
      DIRS directories below DIR, then delete them all (the directories
      too).  What stays is an inode table and free-space map that has seen
      recent churn; on ext4 without a journal every inode allocation of the
      next minute checks the freshly deleted inodes (recently_deleted()).
      Prints a JSON summary with the time taken.

Standard library only.
"""
import argparse
import json
import os
import random
import shutil
import sys
import time

SYLLABLES = ["ka", "lo", "mi", "ne", "tor", "sa", "ver", "bi", "qu", "den", "ar", "il",
             "con", "fig", "ur", "at", "ion", "es", "pre", "un", "dat", "me", "ro", "x",
             "th", "ing", "po", "li", "cy", "st"]


def vocabulary(rng, n=4000):
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words)


def text(rng, words, weights, size):
    """About SIZE bytes of lines of words (cut to exactly SIZE)."""
    out, n = [], 0
    while n < size:
        line = " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(3, 12)))
        if rng.random() < 0.2:
            line = "    " + line + " = " + str(rng.randint(0, 9999)) + ";"
        out.append(line)
        n += len(line) + 1
    return ("\n".join(out) + "\n").encode()[:size]


def tiny(root, n_files, n_dirs, seed):
    rng = random.Random(seed)
    words = vocabulary(rng)
    # Zipf-like: word i has weight 1/(i+1)
    weights, acc = [], 0.0
    for i in range(len(words)):
        acc += 1.0 / (i + 1)
        weights.append(acc)
    os.mkdir(root)
    top = max(1, int(round(n_dirs ** 0.5)))
    dirs = []
    for d in range(n_dirs):
        rel = os.path.join(f"{words[d % top]}{d % top:02d}", f"{words[(d * 7) % len(words)]}-{d:04d}")
        os.makedirs(os.path.join(root, rel), exist_ok=True)
        dirs.append(rel)
    total = 0
    for i in range(n_files):
        size = rng.randint(100, 2048)
        data = text(rng, words, weights, size)
        name = f"{words[rng.randrange(len(words))]}-{i:06d}.{rng.choice(('txt', 'conf', 'h', 'py', 'md'))}"
        with open(os.path.join(root, dirs[i % n_dirs], name), "wb") as f:
            f.write(data)
        total += len(data)
    return {"seed": seed, "dirs": n_dirs, "files": n_files, "bytes": total}


def age(root, n_files, n_dirs, seed):
    rng = random.Random(seed)
    t0 = time.monotonic()
    base = os.path.join(root, ".bench-aging")
    os.mkdir(base)
    blob = rng.randbytes(8192)
    for d in range(n_dirs):
        dpath = os.path.join(base, f"d{d:04d}")
        os.mkdir(dpath)
        for i in range(n_files // n_dirs):
            fd = os.open(os.path.join(dpath, f"f{i:05d}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, blob[: rng.randint(0, 8192)])
            os.close(fd)
    os.sync()
    t1 = time.monotonic()
    shutil.rmtree(base)
    os.sync()
    t2 = time.monotonic()
    return {"seed": seed, "files": n_files // n_dirs * n_dirs, "dirs": n_dirs,
            "create_s": round(t1 - t0, 2), "delete_s": round(t2 - t1, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("tiny")
    p.add_argument("dir")
    p.add_argument("--files", type=int, default=200000)
    p.add_argument("--dirs", type=int, default=2000)
    p.add_argument("--seed", type=int, default=42)
    p = sub.add_parser("age")
    p.add_argument("dir")
    p.add_argument("--files", type=int, default=100000)
    p.add_argument("--dirs", type=int, default=500)
    p.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.cmd == "tiny":
        result = tiny(args.dir, args.files, args.dirs, args.seed)
    else:
        result = age(args.dir, args.files, args.dirs, args.seed)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
