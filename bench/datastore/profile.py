#!/usr/bin/env python3
"""profile.py - CPU seconds per stage of a ctdump backup from a perf recording.

  profile.py PERF-DATA MAIN-PID LOGICAL-BYTES [--encrypted] > profile.json

PERF-DATA was recorded with `perf record -e cpu-clock -g` around one ctdump
backup whose process id is MAIN-PID (its worker is a forked child: another
pid).  Each sample's period is the CPU nanoseconds it stands for, so the
sums are CPU seconds.  A sample is charged to the first stage that matches:

  walk+read   any process other than MAIN-PID (the worker that walks the
              tree and reads the files, in its user namespace)
  chunk       FastCDC: symbols of ctdump's Chunker (ctdump::...Chunker...,
              FastCdc, Advance)
  hash        SHA-256 (libcrypto's sha256 block functions, SHA256_*; Debian's
              libcrypto has no symbols, so its unnamed code counts as hash
              unless --encrypted is given, then as encrypt)
  compress    libzstd, liblz4 (ZSTD_*, HUF_*, FSE_*, LZ4_*)
  encrypt     AES / GCM (libcrypto aes*, gcm*, AES_*, EVP cipher code)
  write       kernel time of ctdump's threads other than the main thread
              (the chunk pool: writing chunk files, mkdir, rename)
  pipe+other  everything else: the main thread's kernel time (reading the
              worker's pipe), memcpy, the archive framing, malloc

It runs `perf script -F comm,pid,tid,period,ip,sym,dso -G` and prints JSON:
{"stages": {name: cpu_s}, "total_cpu_s", "logical_bytes", "per_gb": {...},
"samples", "top": [[symbol, dso, cpu_s], ...]}.  Standard library only.
"""
import json
import re
import subprocess
import sys

STAGES = ["walk+read", "chunk", "hash", "compress", "encrypt", "write", "pipe+other"]
LINE = re.compile(r"^\s*(?P<comm>.*?)\s+(?P<pid>\d+)/(?P<tid>\d+)\s+(?P<period>\d+)\s+"
                  r"(?P<ip>[0-9a-f]+)\s+(?P<sym>.*?)\s+\((?P<dso>[^()]*)\)\s*$")
CHUNK = re.compile(r"Chunker|FastCdc|FastCDC|fastcdc|Gear|::Advance")
HASH = re.compile(r"sha256|SHA256|sha2", re.I)
COMPRESS_SYM = re.compile(r"^(ZSTD_|HUF_|FSE_|LZ4_|LZ4F_|ZSTDMT_|POOL_)")
ENCRYPT = re.compile(r"aes|gcm|ghash|AES_|chacha|poly1305|EVP_(Encrypt|Cipher)", re.I)


def stage(pid, tid, sym, dso, main_pid, encrypted):
    if pid != main_pid:
        return "walk+read"
    if CHUNK.search(sym):
        return "chunk"
    lib = dso.rsplit("/", 1)[-1]
    if HASH.search(sym):
        return "hash"
    if lib.startswith(("libzstd", "liblz4")) or COMPRESS_SYM.search(sym):
        return "compress"
    if ENCRYPT.search(sym) and (lib.startswith("libcrypto") or "ctdump" in lib):
        return "encrypt"
    if lib.startswith("libcrypto"):   # no symbols in Debian's libcrypto: hash unless named
        return "encrypt" if encrypted else "hash"
    if dso == "[kernel.kallsyms]" and tid != main_pid:
        return "write"
    return "pipe+other"


def main():
    args = [a for a in sys.argv[1:] if a != "--encrypted"]
    encrypted = len(args) != len(sys.argv) - 1
    if len(args) != 3:
        sys.exit(__doc__)
    data, main_pid, logical = args[0], int(args[1]), int(args[2])
    p = subprocess.run(["perf", "script", "-i", data, "-F", "comm,pid,tid,period,ip,sym,dso", "-G"],
                       capture_output=True, text=True, check=True)
    ns = {s: 0 for s in STAGES}
    top = {}
    samples = 0
    for line in p.stdout.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        samples += 1
        pid, tid, period = int(m["pid"]), int(m["tid"]), int(m["period"])
        sym, dso = m["sym"], m["dso"]
        ns[stage(pid, tid, sym, dso, main_pid, encrypted)] += period
        key = (sym if sym != "[unknown]" else "?", dso.rsplit("/", 1)[-1])
        top[key] = top.get(key, 0) + period
    total = sum(ns.values())
    gb = logical / 1e9 if logical else None
    out = {
        "stages": {s: round(v / 1e9, 3) for s, v in ns.items()},
        "total_cpu_s": round(total / 1e9, 3),
        "logical_bytes": logical,
        "per_gb": {s: (round(v / 1e9 / gb, 3) if gb else None) for s, v in ns.items()},
        "samples": samples,
        "top": [[k[0], k[1], round(v / 1e9, 3)]
                for k, v in sorted(top.items(), key=lambda kv: -kv[1])[:15]],
    }
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
