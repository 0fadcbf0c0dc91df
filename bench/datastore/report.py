#!/usr/bin/env python3
"""report.py - turn the records of bench/datastore/run.sh into results.

  report.py REC-DIR OUT-DIR

REC-DIR holds what run.sh recorded:
  meta.tsv        key<TAB>value (host, versions, options, ctdump state)
  steps.tsv       tool step status wall_s maxrss_kib user_s sys_s sync_s
  stored.tsv      tool phase bytes          (phase: full | incremental)
  corpus.json     treecheck stats of the source before the change set
  changed.json    ... and after it
  mutate.json     the change set's summary (mutate.py apply)
  many.json       treecheck stats of the 1 M-file tree (--many-files only)
  check-TOOL.json restore comparison (treecheck.py compare)

Writes OUT-DIR/results.json (raw numbers), OUT-DIR/results.md (the tables
and the issue's targets) and REC-DIR/chart.dat + REC-DIR/chart.gp (gnuplot
script rendering OUT-DIR/chart.png).  Standard library only.
"""
import json
import os
import sys

TOOLS = [
    ("ctdump", "ctdump datastore"),
    ("tar", "tar | zstd -1 -T2"),
    ("borg", "borg create (zstd,3)"),
    ("restic", "restic backup (v2, auto)"),
]
STEPS = [
    ("full", "full backup"),
    ("incremental", "incremental backup"),
    ("restore", "restore"),
    ("verify", "verify / check"),
    ("many", "backup of the 1 M-file tree"),
]
# what each tool runs in each step (shown under the table)
COMMANDS = {
    "ctdump": {"full": "ctdump backup --mode stop", "incremental": "ctdump backup (same container)",
               "restore": "ctdump restore --rootfs DIR", "verify": "ctdump verify",
               "many": "ctdump backup --mode stop"},
    "tar": {"full": "tar -cf - . | zstd -1 -T2", "incremental": "full again (no incremental)",
            "restore": "zstd -dc | tar -xf -", "verify": "zstd -t (both archives)"},
    "borg": {"full": "borg create", "incremental": "borg create (files cache)",
             "restore": "borg extract", "verify": "borg check --verify-data"},
    "restic": {"full": "restic backup", "incremental": "restic backup (parent)",
               "restore": "restic restore latest", "verify": "restic check --read-data"},
}
MIB = 1024 * 1024


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def read_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def load(rec):
    meta = dict((r[0], r[1] if len(r) > 1 else "") for r in read_tsv(os.path.join(rec, "meta.tsv")))
    steps = {}
    for r in read_tsv(os.path.join(rec, "steps.tsv")):
        r += [""] * (9 - len(r))
        tool, step, status = r[0], r[1], r[2]
        steps[(tool, step)] = {
            "tool": tool, "step": step, "status": status,
            "wall_s": num(r[3]), "maxrss_kib": num(r[4]),
            "user_s": num(r[5]), "sys_s": num(r[6]), "sync_s": num(r[7]),
            "note": r[8],
        }
    stored = {}
    for tool, phase, value in read_tsv(os.path.join(rec, "stored.tsv")):
        stored.setdefault(tool, {})[phase] = int(value)
    checks = {t: read_json(os.path.join(rec, f"check-{t}.json")) for t, _ in TOOLS}
    return {
        "meta": meta, "steps": steps, "stored": stored, "checks": checks,
        "corpus": read_json(os.path.join(rec, "corpus.json")),
        "changed": read_json(os.path.join(rec, "changed.json")),
        "mutate": read_json(os.path.join(rec, "mutate.json")),
        "many": read_json(os.path.join(rec, "many.json")),
    }


def logical_bytes(d, step):
    src = {"full": d["corpus"], "many": d["many"]}.get(step, d["changed"])
    return src["logical_bytes"] if src else None


def ok(d, tool, step):
    s = d["steps"].get((tool, step))
    return s if s and s["status"] == "ok" and s["wall_s"] is not None else None


def derive(d):
    """Add MB/s and the ratio to ctdump's time to every measured step."""
    for (tool, step), s in d["steps"].items():
        lb = logical_bytes(d, step)
        s["logical_bytes"] = lb
        s["mb_s"] = lb / s["wall_s"] / 1e6 if ok(d, tool, step) and lb and s["wall_s"] > 0 else None
        ct = ok(d, "ctdump", step)
        s["time_vs_ctdump"] = (s["wall_s"] / ct["wall_s"]
                               if ok(d, tool, step) and ct and ct["wall_s"] > 0 else None)


def ratio_target(name, goal, value, cmp, fmt, why_missing):
    if value is None:
        return {"target": name, "goal": goal, "value": None, "met": None,
                "shown": f"not measured ({why_missing})"}
    return {"target": name, "goal": goal, "value": value, "met": cmp(value),
            "shown": fmt(value)}


def targets(d):
    meta = d["meta"]
    ct_reason = f'ctdump {meta.get("ctdump_state") or "not run"}'
    w = lambda tool, step: (ok(d, tool, step) or {}).get("wall_s")  # noqa: E731
    out = []

    def quotient(a, b):
        return a / b if a is not None and b else None

    def missing(*pairs):
        for tool, step in pairs:
            if w(tool, step) is None:
                s = d["steps"].get((tool, step))
                return f'{tool} {step}: {s["status"] if s else "not run"}'
        return ""

    v = quotient(w("tar", "full"), w("ctdump", "full"))
    out.append(ratio_target("full backup: throughput ≥ 2× `tar | zstd -1 -T2`", "≥ 2×", v,
                            lambda x: x >= 2.0, lambda x: f"{x:.2f}×",
                            missing(("ctdump", "full"), ("tar", "full"))))
    v = quotient(w("ctdump", "incremental"), w("ctdump", "full"))
    out.append(ratio_target("incremental: ≤ 10 % of ctdump's full backup time", "≤ 10 %", v,
                            lambda x: x <= 0.10, lambda x: f"{100 * x:.1f} %",
                            missing(("ctdump", "incremental"), ("ctdump", "full"))))
    v = quotient(w("restic", "incremental"), w("ctdump", "incremental"))
    out.append(ratio_target("incremental: ≥ 5× faster than restic with parent", "≥ 5×", v,
                            lambda x: x >= 5.0, lambda x: f"{x:.2f}×",
                            missing(("ctdump", "incremental"), ("restic", "incremental"))))
    v = quotient(w("tar", "restore"), w("ctdump", "restore"))
    out.append(ratio_target("restore: ≥ 1.5× `zstd -d | tar -x`", "≥ 1.5×", v,
                            lambda x: x >= 1.5, lambda x: f"{x:.2f}×",
                            missing(("ctdump", "restore"), ("tar", "restore"))))
    lb = logical_bytes(d, "verify")
    v = quotient(lb, w("ctdump", "verify"))
    out.append(ratio_target("verify: ≥ 1.2 GB/s (logical bytes / time)", "≥ 1.2 GB/s", v,
                            lambda x: x >= 1.2e9, lambda x: f"{x / 1e9:.2f} GB/s",
                            missing(("ctdump", "verify"))))
    many = ok(d, "ctdump", "many")
    if many:
        rss = many["maxrss_kib"] * 1024
        name = "peak RSS ≤ 256 MiB (backup of the 1 M-file tree)"
    else:
        rss_all = [s["maxrss_kib"] for (t, _), s in d["steps"].items()
                   if t == "ctdump" and s["status"] == "ok" and s["maxrss_kib"]]
        rss = max(rss_all) * 1024 if rss_all else None
        name = "peak RSS ≤ 256 MiB (corpus steps only; run with --many-files for the 1 M-file target)"
    out.append(ratio_target(name, "≤ 256 MiB", rss, lambda x: x <= 256 * MIB,
                            lambda x: f"{x / MIB:.0f} MiB",
                            "ctdump many: " + ((d["steps"].get(("ctdump", "many")) or {}).get("status") or "not run")
                            if d["many"] else ct_reason))
    return out


def esc(text):
    """A Markdown table cell: a '|' must be escaped, even inside code spans."""
    return str(text).replace("|", "\\|")


def fmt(x, spec, dash="—"):
    return dash if x is None else format(x, spec)


def human(n):
    if n is None:
        return "—"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000


def check_summary(c):
    if c is None:
        return "—"
    if c["identical"]:
        return "identical" + ("" if c["content_checked"] else " (metadata only)")
    parts = [f'{k} {v["count"]}' for k, v in sorted(c["differences"].items())]
    return "differs: " + ", ".join(parts)


def markdown(d, tgts):
    m, corpus, changed, mut = d["meta"], d["corpus"], d["changed"], d["mutate"]
    L = []
    L.append("# Deduplicating datastore vs. tar | zstd, borg and restic")
    L.append("")
    L.append(f'Generated by `bench/datastore/run.sh --size {m.get("size", "?")}'
             f'{" --many-files" if d["many"] else ""}` on {m.get("date", "?")} in '
             f'{m.get("duration_s", "?")} s. Benchmark, not a test: nothing here is asserted.')
    L.append("")
    L.append(f'* host: {m.get("cpu", "?")}, {m.get("nproc", "?")} CPUs, {m.get("mem", "?")} RAM, '
             f'kernel {m.get("kernel", "?")}, scratch file system (source copy, repositories, restores): {m.get("fstype", "?")}')
    L.append(f'* load average at start / end: {m.get("load_start", "?")} / {m.get("load_end", "?")} '
             "(other work on the machine makes numbers noisy)")
    L.append(f'* ctdump: {m.get("ctdump_version", "—")}; {m.get("ctdump_state", "?")}'
             + (f' — {m["ctdump_reason"]}' if m.get("ctdump_reason") else ""))
    L.append(f'* peers: {m.get("tar_version", "?")}, {m.get("zstd_version", "?")}, '
             f'{m.get("borg_version", "?")}, {m.get("restic_version", "?")}')
    if corpus:
        bt = corpus["by_type"]
        L.append(f'* corpus (`{m.get("corpus_desc", "?")}`): {human(corpus["logical_bytes"])} logical '
                 f'(regular-file bytes, hard links once) in {bt.get("file", 0):,} files, '
                 f'{bt.get("dir", 0):,} directories, {bt.get("symlink", 0):,} symlinks')
    if mut and changed:
        L.append(f'* change set (mutate.py, seed {mut["seed"]}): {mut["modified"]:,} files modified '
                 f'({mut["overwritten"]:,} overwritten in the middle, {mut["appended"]:,} appended; '
                 f'{human(mut["size_of_modified_files"])} in those files), {mut["added"]:,} added '
                 f'({human(mut["bytes_added"])} random), {mut["deleted"]:,} deleted; '
                 f'{human(changed["logical_bytes"])} logical afterwards')
    if d["many"]:
        L.append(f'* 1 M-file tree: {d["many"]["by_type"].get("file", 0):,} files, '
                 f'{human(d["many"]["logical_bytes"])}')
    L.append("* every tool reads the same source directory, warm in the page cache (read once "
             "with tar before each backup; repositories likewise before restore and check); "
             "`sync` runs before each step, outside the timing")
    L.append("")
    L.append("## Targets (issue 5)")
    L.append("")
    if m.get("ctdump_state") != "ok":
        L.append(f'**ctdump {m.get("ctdump_state", "not run")}**: {m.get("ctdump_reason", "")}.')
        L.append("")
    L.append("| target | measured | met |")
    L.append("|---|---:|:---:|")
    for t in tgts:
        met = "—" if t["met"] is None else ("yes" if t["met"] else "**no**")
        L.append(f'| {esc(t["target"])} | {esc(t["shown"])} | {met} |')
    L.append("")
    L.append("## Steps")
    L.append("")
    L.append("MB/s = logical bytes of the tree / wall time (the incremental, restore and check "
             "rows use the changed tree). Peak RSS is GNU time's maximum resident set of the "
             "largest single process of the step (not a sum over a pipeline). "
             "\"× ctdump\" = the tool's wall time / ctdump's.")
    L.append("")
    L.append("| step | tool | command | wall s | MB/s | peak RSS MiB | CPU s (user+sys) | × ctdump |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|")
    # a tool none of whose steps ran (ctdump without the datastore) gets no rows
    shown = [(t, lbl) for t, lbl in TOOLS
             if any(s["status"] != "skipped" for (tt, _), s in d["steps"].items() if tt == t)]
    for step, step_label in STEPS:
        for tool, label in shown:
            s = d["steps"].get((tool, step))
            if s is None:
                continue
            label, cmd = esc(label), esc(COMMANDS[tool].get(step, ""))
            if s["status"] != "ok":
                why = esc(s["note"] or s["status"])
                L.append(f"| {step_label} | {label} | `{cmd}` | {s['status']} | — | — | — | {why} |")
                continue
            cpu = (s["user_s"] or 0) + (s["sys_s"] or 0)
            L.append(f'| {step_label} | {label} | `{cmd}` | {s["wall_s"]:.2f} | {fmt(s["mb_s"], ".0f")} | '
                     f'{s["maxrss_kib"] / 1024:.0f} | {cpu:.1f} | '
                     f'{fmt(s["time_vs_ctdump"], ".2f")}{"×" if s["time_vs_ctdump"] else ""} |')
    L.append("")
    L.append("## Stored bytes and restore check")
    L.append("")
    L.append("| tool | after full | after incremental | after incr. / logical | restored tree vs. source |")
    L.append("|---|---:|---:|---:|---|")
    for tool, label in TOOLS:
        st = d["stored"].get(tool, {})
        if not st and d["checks"].get(tool) is None:
            continue
        inc = st.get("incremental")
        frac = inc / changed["logical_bytes"] if inc and changed else None
        L.append(f'| {esc(label)} | {human(st.get("full"))} | {human(inc)} | '
                 f'{fmt(frac, ".3f")} | {check_summary(d["checks"].get(tool))} |')
    L.append("")
    L.append("Notes: tar has no incremental mode, so its \"incremental\" row is a second full "
             "archive of the changed tree and its stored bytes count both archives. restic always "
             "encrypts (AES-256 + Poly1305; repository v2, compression auto); borg runs with "
             "`--encryption=none`. borg and restic fsync their repository files, tar and zstd do "
             "not; the `sync` after each step is not timed. ctdump's restore does not create "
             "device nodes (`dev/*` is left out of its comparison; so are `etc/vzdump/` and `etc` "
             "itself when the restore adds vzdump's config files). Per-step logs: `logs/`.")
    L.append("")
    return "\n".join(L)


def chart(d, rec, out_dir):
    tools = [(t, lbl) for t, lbl in TOOLS if any(ok(d, t, s) for s, _ in STEPS)]
    steps = [(s, lbl) for s, lbl in STEPS if any(ok(d, t, s) for t, _ in TOOLS)]
    if not tools:
        return
    with open(os.path.join(rec, "chart.dat"), "w") as f:
        f.write("step " + " ".join(f'"{lbl}"' for _, lbl in tools) + "\n")
        for step, lbl in steps:
            vals = []
            for tool, _ in tools:
                s = ok(d, tool, step)
                vals.append(f'{s["wall_s"]:.2f}' if s else "-")
            f.write(f'"{lbl}" ' + " ".join(vals) + "\n")
    n = len(tools)
    gp = f"""set terminal png size 1100,600 font ",11"
set output "{os.path.join(out_dir, 'chart.png')}"
set datafile missing "-"
set key autotitle columnheader
set title "ctdump datastore benchmark ({d['meta'].get('size', '?')} corpus): wall time per step, lower is better"
set ylabel "wall time [s]"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key below horizontal
set grid ytics
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
plot for [i=2:{n + 1}] "{os.path.join(rec, 'chart.dat')}" using i:xtic(1), \\
     for [i=2:{n + 1}] "" using ($0 + (i - 2 - {(n - 1) / 2}) / {n + 1}.0):i:(sprintf("%.1f", column(i))) \\
         with labels offset 0,0.7 font ",9" notitle
"""
    with open(os.path.join(rec, "chart.gp"), "w") as f:
        f.write(gp)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rec, out_dir = sys.argv[1], sys.argv[2]
    d = load(rec)
    store_type = d["meta"].get("store_type", "datastore")
    if store_type != "datastore":   # the harness run against another storage type
        TOOLS[0] = ("ctdump", f"ctdump ({store_type} storage)")
    derive(d)
    tgts = targets(d)
    results = {
        "meta": d["meta"], "corpus": d["corpus"], "changed": d["changed"],
        "change_set": d["mutate"], "many": d["many"],
        "steps": list(d["steps"].values()), "stored_bytes": d["stored"],
        "restore_checks": d["checks"], "targets": tgts,
    }
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
        f.write("\n")
    md = markdown(d, tgts)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(md)
    chart(d, rec, out_dir)
    sys.stdout.write(md)


if __name__ == "__main__":
    main()
