#!/usr/bin/env python3
"""results.md and results.json of bench/rados/run.sh from its record directory.

report.py REC OUT: REC holds steps.tsv (target, step, status, wall s, max RSS
KiB, user s, sys s, sync s, note, Ceph daemons' CPU s; bench/lib.sh), meta.tsv, df-*.json
(`ctdump --output-format json df`), check-*.json (treecheck compare), the
corpus stats and the backup logs; writes OUT/results.md and OUT/results.json.
"""
import json
import os
import re
import sys

STEPS = ["full", "incremental", "restore", "verify", "gc"]
NEW_RE = re.compile(r"(\d+) chunks hashed, (\d+) new \(([^ ]+ [^ ]+) of data, ([^ ]+ [^ ]+) stored\)")
LIST_RE = re.compile(r'List\("chunks/"\): (\d+) objects in ([0-9.]+) s, (\d+) objects/s')


def load_tsv(path, ncols):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                rows.append(cols + [""] * (ncols - len(cols)))
    return rows


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def find_key(obj, key):
    """The first dict (depth first) in OBJ that has KEY."""
    if isinstance(obj, dict):
        if key in obj:
            return obj
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            r = find_key(v, key)
            if r is not None:
                return r
    return None


def load_df(rec, name):
    path = os.path.join(rec, "df-%s.json" % name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for line in f:
            try:
                d = find_key(json.loads(line), "dedup-factor")
            except ValueError:
                continue
            if d is not None:
                return d
    return None


def load_json(rec, name):
    path = os.path.join(rec, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        try:
            return json.load(f)
        except ValueError:
            return None


def backup_new(rec, log):
    path = os.path.join(rec, log)
    if not os.path.exists(path):
        return None
    with open(path, errors="replace") as f:
        m = NEW_RE.search(f.read())
    if not m:
        return None
    return {"chunks": int(m.group(1)), "new_chunks": int(m.group(2)), "new_data": m.group(3),
            "new_stored": m.group(4)}


def mib(b):
    return "%.0f MiB" % (b / 1048576) if b is not None else "?"


def fmt(v, spec="%.2f"):
    return spec % v if v is not None else "–"


def main():
    rec, out = sys.argv[1], sys.argv[2]
    meta = dict((r[0], r[1]) for r in load_tsv(os.path.join(rec, "meta.tsv"), 2))
    steps = {}
    for r in load_tsv(os.path.join(rec, "steps.tsv"), 10):
        target, step, status, wall, rss, user, sys_s, sync_s, note, ceph = r[:10]
        steps[(target, step)] = {"status": status, "wall": num(wall), "rss_kib": num(rss), "user": num(user),
                                 "sys": num(sys_s), "ceph_cpu": num(ceph), "sync": num(sync_s), "note": note}
    corpus = load_json(rec, "corpus.json") or {}
    changed = load_json(rec, "changed.json") or {}
    logical = {"full": corpus.get("logical_bytes"), "incremental": changed.get("logical_bytes"),
               "restore": changed.get("logical_bytes"), "verify": changed.get("logical_bytes")}

    lines = ["# RADOS datastore benchmark", "",
             "`bench/rados/run.sh --size %s`, %s, git %s. Not a test: one run, nothing asserted." %
             (meta.get("size", "?"), meta.get("date", "?"), meta.get("git", "?")), "",
             "* machine: %s, %s cores, %s, kernel %s" % (meta.get("cpu"), meta.get("nproc"), meta.get("mem"),
                                                        meta.get("kernel")),
             "* load average: %s at the start, %s at the end" % (meta.get("load_start"), meta.get("load_end")),
             "* %s" % meta.get("ctdump_version", "ctdump ?"),
             "* Ceph %s: %s" % (meta.get("ceph_version", "?"), meta.get("cluster", "?")),
             "* corpus: %s in %s files (bench/datastore's, changed by its mutate.py, seed 42)" %
             (mib(corpus.get("logical_bytes")), (corpus.get("by_type") or {}).get("file", "?")),
             "* run took %s s" % meta.get("duration_s", "?"), ""]

    def ratio(step):
        a, b = steps.get(("local", step)), steps.get(("rados", step))
        if a and b and a["status"] == b["status"] == "ok" and a["wall"] and b["wall"]:
            return b["wall"] / a["wall"]
        return None

    # --- targets ---
    lines += ["## Targets (issue 13)", "", "| target | measured | met |", "|---|---|---|"]
    r = ratio("full")
    if r:
        lines.append("| full backup to RADOS ≥ 80 %% of the local datastore's throughput | %.0f %% | %s |" %
                     (100 / r, "yes" if 1 / r >= 0.8 else "**no**"))
    r = ratio("incremental")
    if r:
        lines.append("| incremental ≤ 1.2× the local time | %.2f× | %s |" % (r, "yes" if r <= 1.2 else "**no**"))
    ha, hb = steps.get(("twohosts", "backup-a")), steps.get(("twohosts", "backup-b"))
    v = steps.get(("twohosts", "verify"))
    df2, df1 = load_df(rec, "twohosts"), load_df(rec, "full-rados")
    # Cross-host dedup: what both hosts stored against what one host's full
    # backup of (nearly) the same tree stored alone.
    cross = df2["total"] / df1["total"] if df2 and df1 and df1.get("total") else None
    if ha and hb:
        both = ha["status"] == hb["status"] == "ok"
        clean = v is not None and v["status"] == "ok"
        lines.append("| two hosts at once into one pool: both complete, dedup across them, verify clean | "
                     "both %s; both hosts stored %s, %s× one host's full backup alone (%s); verify %s | %s |" %
                     ("complete" if both else "**did not complete**", mib(df2.get("total") if df2 else None),
                      fmt(cross), mib(df1.get("total") if df1 else None), "clean" if clean else "**failed**",
                      "yes" if both and clean and cross and cross < 1.5 else "**no**"))
    lst = steps.get(("list", "chunks"))
    list_info = None
    if lst and lst["status"] == "ok":
        path = os.path.join(rec, "..", "logs", "list-chunks.log")
        if os.path.exists(path):
            with open(path) as f:
                m = LIST_RE.search(f.read())
            if m:
                n, secs, rate = int(m.group(1)), float(m.group(2)), int(m.group(3))
                list_info = {"objects": n, "seconds": secs, "objects_per_s": rate}
                est = 1e6 / rate if rate else None
                lines.append("| listing 1 M chunk objects for gc ≤ 30 s | %d objects in %.2f s = %d objects/s "
                             "(1 M: %s s%s) | %s |" %
                             (n, secs, rate, fmt(est, "%.1f"), "" if n >= 1000000 else ", extrapolated",
                              "yes" if est and est <= 30 else "**no**"))
    lines.append("")

    # --- per step ---
    lines += ["## Steps", "",
              "Wall seconds; CPU seconds of ctdump (user + sys, its children included) and of the Ceph daemons "
              "(mon + osd, from /proc) during the step; MB/s = logical bytes of the tree / wall time.", "",
              "| step | local s | RADOS s | RADOS / local | local MB/s | RADOS MB/s | local CPU-s | "
              "RADOS CPU-s ctdump + ceph | local RSS | RADOS RSS |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for step in STEPS:
        a, b = steps.get(("local", step)), steps.get(("rados", step))
        if not a and not b:
            continue

        def cell(x, key, spec="%.2f"):
            if not x:
                return "–"
            if x["status"] != "ok":
                return "**%s**" % x["status"]
            return fmt(x[key], spec)

        def mbs(x):
            lb = logical.get(step)
            if not x or x["status"] != "ok" or not x["wall"] or not lb:
                return "–"
            return "%.0f" % (lb / 1e6 / x["wall"])

        def cpu(x, with_ceph):
            if not x or x["status"] != "ok" or x["user"] is None:
                return "–"
            c = x["user"] + x["sys"]
            if with_ceph:
                return "%.1f + %.1f" % (c, x["ceph_cpu"] or 0)
            return "%.1f" % c

        def rss(x):
            return "%.0f MiB" % (x["rss_kib"] / 1024) if x and x["rss_kib"] else "–"

        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" %
                     (step, cell(a, "wall"), cell(b, "wall"), fmt(ratio(step), "%.2f×"), mbs(a), mbs(b),
                      cpu(a, False), cpu(b, True), rss(a), rss(b)))
    lines.append("")
    notes = [(k, s["note"]) for k, s in steps.items() if s["status"] != "ok" and s["note"]]
    for (target, step), note in notes:
        lines.append("* %s %s: %s" % (target, step, note))
    if notes:
        lines.append("")

    # --- restores ---
    for t in ("local", "rados"):
        chk = load_json(rec, "check-%s.json" % t)
        if chk is not None:
            lines.append("* %s restore compared with the source tree: %s" %
                         (t, "identical" if chk.get("identical") else
                          "**differs** (%d differences)" % len(chk.get("differences") or [])))
    lines.append("")

    # --- stored ---
    lines += ["## Stored", "", "| store | total | chunks | backups | logical | dedup factor |", "|---|---|---|---|---|---|"]
    dfs = {}
    for name, label in (("full-rados", "RADOS, after the full backup"), ("local", "local, after the incremental"),
                        ("rados", "RADOS, after the incremental"),
                        ("twohosts", "RADOS namespace twohosts (hosts a + b)")):
        d = load_df(rec, name)
        dfs[name] = d
        if d:
            lines.append("| %s | %s | %s | %s | %s | %s |" % (label, mib(d.get("total")), d.get("chunks"),
                                                              d.get("backups"), mib(d.get("logical")),
                                                              fmt(d.get("dedup-factor"))))
    lines.append("")

    # --- two hosts ---
    hosts = {}
    if ha and hb:
        both = steps.get(("twohosts", "both"))
        lines += ["## Two hosts at once", "",
                  "Host a backs up the changed tree (container bench-ct), host b a fresh copy of the original "
                  "corpus (bench-ct2), as two ctdump processes with their own run, state and log directories, "
                  "started together into one namespace of the pool.", "",
                  "| host | s | CPU-s | chunks hashed | new chunks | new data (stored) |", "|---|---|---|---|---|---|"]
        for h, x in (("a", ha), ("b", hb)):
            n = backup_new(rec, "twohosts-backup-%s.log" % h)
            hosts[h] = {"step": x, "new": n}
            lines.append("| %s | %s | %s | %s | %s | %s |" %
                         (h, fmt(x["wall"]) if x["status"] == "ok" else "**%s**" % x["status"],
                          fmt((x["user"] or 0) + (x["sys"] or 0), "%.1f"), n["chunks"] if n else "?",
                          n["new_chunks"] if n else "?", "%s (%s)" % (n["new_data"], n["new_stored"]) if n else "?"))
        if both:
            lines.append("")
            lines.append("Both finished after %s s; the Ceph daemons used %s CPU-s meanwhile. A single host's "
                         "full backup to RADOS took %s s. Chunks one host found stored by the other count as "
                         "'already in the store' in its log; the two hosts' new chunks add up to the namespace's "
                         "chunks." %
                         (fmt(both["wall"]), fmt(both["ceph_cpu"]), fmt((steps.get(("rados", "full")) or {}).get("wall"))))
        lines.append("")

    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"meta": meta, "steps": {"%s/%s" % k: v for k, v in steps.items()}, "df": dfs,
                   "two_hosts": hosts, "listing": list_info, "corpus": corpus, "changed": changed}, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
