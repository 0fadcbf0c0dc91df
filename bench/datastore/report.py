#!/usr/bin/env python3
"""report.py - turn the records of bench/datastore/run.sh into results.

  report.py REC-ROOT OUT-DIR

REC-ROOT holds run.tsv (duration, command) and one directory per corpus
(dedup, unique, tiny) with what run.sh recorded for it:
  meta.tsv        key<TAB>value (host, versions, options, ctdump state)
  steps.tsv       tool step status wall_s maxrss_kib user_s sys_s sync_s note
  stored.tsv      tool phase bytes          (phase: full | incremental | compact)
  corpus.json     treecheck stats of the source before the change set
  changed.json    ... and after it
  mutate.json     the change set's summary (mutate.py apply)
  many.json       treecheck stats of the 1 M-file tree (--many-files only)
  check-TOOL.json restore comparison (treecheck.py compare; TOOL-aged too)
  profile.json    CPU seconds per stage (profile.py; --profile only)
  suspend.json    suspend-mode facts (--suspend only)

Writes OUT-DIR/results.json (raw numbers), OUT-DIR/results.md (per corpus:
the issues' targets, the steps, stored bytes, the profile) and, per corpus,
REC-ROOT/CORPUS/chart.dat + chart.gp (gnuplot script rendering
OUT-DIR/chart-CORPUS.png).  Standard library only.
"""
import json
import os
import sys

from report_targets import TOOLS, esc, fmt, human, ok, step_cpu, targets

STEPS = [
    ("full", "full backup"),
    ("incremental", "incremental backup"),
    ("restore-before-compact", "restore before compact (fresh fs)"),
    ("compact", "compact (maintenance)"),
    ("restore", "restore (fresh fs)"),
    ("restore-aged", "restore (aged fs)"),
    ("verify", "verify / check"),
    ("many", "backup of the 1 M-file tree"),
    ("stop-running", "stop mode, running container"),
    ("suspend", "suspend mode, running container"),
]
BACKUP_STEPS = ("full", "incremental", "many", "stop-running", "suspend")
# what each tool runs in each step (shown under the table)
COMMANDS = {
    "ctdump": {"full": "ctdump backup --mode stop", "incremental": "ctdump backup (same container)",
               "compact": "ctdump compact", "restore": "ctdump restore --rootfs DIR",
               "restore-before-compact": "ctdump restore --rootfs DIR",
               "restore-aged": "ctdump restore --rootfs DIR", "verify": "ctdump verify",
               "many": "ctdump backup --mode stop",
               "stop-running": "ctdump backup --mode stop (stop, back up, start)",
               "suspend": "ctdump backup --mode suspend"},
    "tar": {"full": "tar -cf - . | zstd -1 -T2", "incremental": "full again (no incremental)",
            "restore": "zstd -dc | tar -xf -", "restore-aged": "zstd -dc | tar -xf -",
            "verify": "zstd -t (both archives)",
            "stop-running": "lxc-stop; tar | zstd; lxc-start (vzdump stop)",
            "suspend": "rsync; freeze; rsync --delete; thaw; tar | zstd (vzdump suspend)"},
    "borg": {"full": "borg create", "incremental": "borg create (files cache)",
             "restore": "borg extract", "verify": "borg check --verify-data"},
    "restic": {"full": "restic backup", "incremental": "restic backup (parent)",
               "restore": "restic restore latest", "verify": "restic check --read-data"},
}
PROFILE_STAGES = ["walk+read", "chunk", "hash", "compress", "encrypt", "write", "pipe+other"]


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def read_json(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        text = f.read().strip()
    return json.loads(text) if text else None


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
    checks = {}
    for t, _ in TOOLS:
        for sfx in ("", "-aged", "-before-compact"):
            c = read_json(os.path.join(rec, f"check-{t}{sfx}.json"))
            if c is not None:
                checks[t + sfx] = c
    return {
        "meta": meta, "steps": steps, "stored": stored, "checks": checks,
        "corpus": read_json(os.path.join(rec, "corpus.json")),
        "changed": read_json(os.path.join(rec, "changed.json")),
        "mutate": read_json(os.path.join(rec, "mutate.json")),
        "many": read_json(os.path.join(rec, "many.json")),
        "profile": read_json(os.path.join(rec, "profile.json")),
        "suspend": read_json(os.path.join(rec, "suspend.json")),
    }


def logical_bytes(d, step):
    if step in ("stop-running", "suspend"):
        return (d["suspend"] or {}).get("logical_bytes")
    src = {"full": d["corpus"], "many": d["many"]}.get(step, d["changed"])
    return src["logical_bytes"] if src else None


def new_bytes(d, step):
    """The bytes a backup step has to take in: the whole tree for a full
    backup, the files of the change set for the incremental."""
    if step == "incremental":
        m = d["mutate"]
        return m["size_of_modified_files"] + m["bytes_added"] if m else None
    if step in BACKUP_STEPS:
        return logical_bytes(d, step)
    return None


def derive(d):
    """Add MB/s, CPU s, CPU s per GB of new data and the ratio to ctdump's time."""
    for (tool, step), s in d["steps"].items():
        lb = logical_bytes(d, step)
        s["logical_bytes"] = lb
        s["mb_s"] = lb / s["wall_s"] / 1e6 if ok(d, tool, step) and lb and s["wall_s"] > 0 else None
        s["cpu_s"] = step_cpu(s) if ok(d, tool, step) else None
        nb = new_bytes(d, step)
        s["new_bytes"] = nb
        s["cpu_s_per_gb_new"] = s["cpu_s"] / (nb / 1e9) if s["cpu_s"] is not None and nb else None
        ct = ok(d, "ctdump", step)
        s["time_vs_ctdump"] = (s["wall_s"] / ct["wall_s"]
                               if ok(d, tool, step) and ct and ct["wall_s"] > 0 else None)


def check_summary(c):
    if c is None:
        return "—"
    if c["identical"]:
        return "identical" + ("" if c["content_checked"] else " (metadata only)")
    parts = [f'{k} {v["count"]}' for k, v in sorted(c["differences"].items())]
    return "differs: " + ", ".join(parts)


def facts(d, L):
    m, corpus, changed, mut = d["meta"], d["corpus"], d["changed"], d["mutate"]
    L.append(f'* scratch file system (source copy, repositories, restores): {m.get("fstype", "?")}; '
             f'page cache **{m.get("cache", "warm")}** before each step'
             + (f'; aged restore target: {m.get("aged_fs")}' if m.get("aged") == "1" else ""))
    if m.get("settle") == "1":
        L.append("* memory settled before each step: free memory (less 1 GiB) filled with a sparse "
                 "file's clean page cache, so that the steps' new pages are reclaimed ones, as on a "
                 "host that has been up a while, and not pages the VM's host must fault in again "
                 "(2.2-2.5 CPU s per GB on these VMs; `settle_memory` in bench/lib.sh)")
    elif m.get("cache") == "warm":
        L.append("* memory **not** settled (--no-settle): steps pay the VM host's fault of every "
                 "fresh page (2.2-2.5 CPU s per GB; `settle_memory` in bench/lib.sh)")
    L.append(f'* load average at start / end: {m.get("load_start", "?")} / {m.get("load_end", "?")} '
             "(other work on the machine makes numbers noisy)")
    L.append(f'* ctdump: {m.get("ctdump_version", "—")}; {m.get("ctdump_state", "?")}'
             + (f' — {m["ctdump_reason"]}' if m.get("ctdump_reason") else ""))
    L.append(f'* ctdump storage: backups compress with **{m.get("compression") or "lz4"}** '
             + ("(`compression` in storage.cfg; " if m.get("compression") else "(the default; ")
             + "`ctdump compact` recompresses with zstd afterwards)")
    if corpus:
        bt = corpus["by_type"]
        L.append(f'* corpus `{m.get("corpus", "?")}` ({m.get("corpus_desc", "?")}): '
                 f'{human(corpus["logical_bytes"])} logical '
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


def steps_table(d, L):
    L.append("| step | tool | command | wall s | MB/s | peak RSS MiB | CPU s (user+sys) | "
             "CPU s / GB new | × ctdump |")
    L.append("|---|---|---|---:|---:|---:|---:|---:|---:|")
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
                L.append(f"| {step_label} | {label} | `{cmd}` | {s['status']} | — | — | — | — | {why} |")
                continue
            L.append(f'| {step_label} | {label} | `{cmd}` | {s["wall_s"]:.2f} | {fmt(s["mb_s"], ".0f")} | '
                     f'{s["maxrss_kib"] / 1024:.0f} | {s["cpu_s"]:.2f} | {fmt(s["cpu_s_per_gb_new"], ".2f")} | '
                     f'{fmt(s["time_vs_ctdump"], ".2f")}{"×" if s["time_vs_ctdump"] else ""} |')


def stored_table(d, L):
    L.append("| tool | after full | after incremental | after compact | after incr. / logical | "
             "restored tree vs. source (fresh) | (aged) |")
    L.append("|---|---:|---:|---:|---:|---|---|")
    changed = d["changed"]
    for tool, label in TOOLS:
        st = d["stored"].get(tool, {})
        if not st and d["checks"].get(tool) is None:
            continue
        inc = st.get("incremental")
        frac = inc / changed["logical_bytes"] if inc and changed else None
        aged = d["checks"].get(tool + "-aged")
        L.append(f'| {esc(label)} | {human(st.get("full"))} | {human(inc)} | {human(st.get("compact"))} | '
                 f'{fmt(frac, ".3f")} | {check_summary(d["checks"].get(tool))} | '
                 f'{check_summary(aged) if aged else "—"} |')


def profile_table(d, L):
    p = d["profile"]
    if not p:
        return
    L.append("### Where ctdump's CPU goes (full backup under `perf record -e cpu-clock -g`)")
    L.append("")
    L.append(f'One more full backup of the same tree into a fresh storage, not timed; {p["samples"]:,} '
             f'samples, {p["total_cpu_s"]:.2f} CPU s in all (perf adds some). Stages: walk+read = the '
             "forked worker process; chunk = FastCDC (`ctdump::Chunker`); hash = SHA-256; compress = "
             "libzstd/liblz4; encrypt = AES-GCM; write = kernel time of ctdump's threads other than the "
             "main thread (the chunk pool: chunk files, directories); pipe+other = the rest (the main "
             "thread's pipe reads, copies, framing, malloc).")
    L.append("")
    L.append("| stage | CPU s | CPU s / GB | share |")
    L.append("|---|---:|---:|---:|")
    total = p["total_cpu_s"] or 1
    for st in PROFILE_STAGES:
        v = p["stages"].get(st, 0)
        L.append(f'| {st} | {v:.2f} | {fmt(p["per_gb"].get(st), ".2f")} | {100 * v / total:.0f} % |')
    L.append(f'| **total** | {p["total_cpu_s"]:.2f} | '
             f'{fmt(p["total_cpu_s"] / (p["logical_bytes"] / 1e9) if p["logical_bytes"] else None, ".2f")} | 100 % |')
    L.append("")
    L.append("Top symbols: " + "; ".join(f"`{esc(sym[:60])}` ({dso}) {v:.2f} s" for sym, dso, v in p["top"][:8]))
    L.append("")


def suspend_facts(d, L):
    s = d["suspend"]
    if not s:
        return
    L.append(f'Suspend and stop mode ran on a running privileged LXC container (`{s.get("rootfs", "?")}`: '
             f'the minbase rootfs + the corpus under /srv/corpus, {human(s.get("logical_bytes"))} logical), '
             "each ctdump backup into a fresh storage. vzdump's suspend mode is reproduced with rsync "
             "(`-aHAX --numeric-ids --sparse` to a temporary copy, freeze, again with `--delete`, thaw) and "
             "`tar | zstd -1 -T2` of the copy; its stop mode stops the container for `tar | zstd`.")
    L.append("")
    L.append("| container unavailable | ctdump | vzdump's way |")
    L.append("|---|---:|---:|")
    L.append(f'| stop mode: stopped (ctdump: task log \"stopping virtual guest\" to \"restarting vm\", '
             f'whole seconds; vzdump: lxc-stop to lxc-start done) | {fmt(s.get("ctdump_stop_downtime_s"), ".2f")} s | '
             f'{fmt(s.get("vzdump_stop_downtime_s"), ".2f")} s |')
    L.append(f'| suspend mode: frozen (ctdump: \"guest was frozen for N ms\"; vzdump: the second rsync) | '
             f'{fmt(s.get("ctdump_suspend_frozen_s"), ".2f")} s | {fmt(s.get("vzdump_suspend_frozen_s"), ".2f")} s |')
    L.append("")
    if s.get("note"):
        L.append(f'* {s["note"]}')
    L.append("")


def corpus_section(name, d, tgts):
    m = d["meta"]
    L = [f"## Corpus `{name}`", ""]
    facts(d, L)
    L.append("")
    L.append(f"### Targets (issue 14; corpus `{name}`, {m.get('cache', 'warm')} cache, "
             f"{m.get('fs', 'ext4')})")
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
    L.append("### Steps")
    L.append("")
    steps_table(d, L)
    L.append("")
    L.append("### Stored bytes and restore check")
    L.append("")
    stored_table(d, L)
    L.append("")
    profile_table(d, L)
    suspend_facts(d, L)
    return L


def summary_table(all_d):
    L = ["| corpus | cache | fs | ctdump full s | tar full s | tar / ctdump | ctdump CPU s / GB | "
         "tar CPU s / GB | ctdump restore s | tar restore s |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, d in all_d.items():
        m = d["meta"]
        c, t = ok(d, "ctdump", "full"), ok(d, "tar", "full")
        cr, tr = ok(d, "ctdump", "restore"), ok(d, "tar", "restore")
        L.append(f'| {name} | {m.get("cache", "warm")} | {m.get("fs", "ext4")} | '
                 f'{fmt(c and c["wall_s"], ".2f")} | {fmt(t and t["wall_s"], ".2f")} | '
                 f'{fmt(c and t and t["wall_s"] / c["wall_s"], ".2f")} | '
                 f'{fmt(c and c["cpu_s_per_gb_new"], ".2f")} | {fmt(t and t["cpu_s_per_gb_new"], ".2f")} | '
                 f'{fmt(cr and cr["wall_s"], ".2f")} | {fmt(tr and tr["wall_s"], ".2f")} |')
    return L


def markdown(all_d, all_t, run):
    first = next(iter(all_d.values()))
    m = first["meta"]
    L = ["# Deduplicating datastore vs. tar | zstd, borg and restic", ""]
    L.append(f'Generated by `bench/datastore/{run.get("command", "run.sh")}` on {m.get("date", "?")} in '
             f'{run.get("duration_s", "?")} s. Benchmark, not a test: nothing here is asserted.')
    L.append("")
    L.append(f'* host: {m.get("cpu", "?")}, {m.get("nproc", "?")} CPUs, {m.get("mem", "?")} RAM, '
             f'kernel {m.get("kernel", "?")}')
    L.append(f'* peers: {m.get("tar_version", "?")}, {m.get("zstd_version", "?")}, '
             f'{m.get("borg_version", "?")}, {m.get("restic_version", "?")}')
    L.append("* every tool reads the same source directory; warm cache: read once with tar before "
             "each backup (repositories likewise before restore and check); cold cache: "
             "`sync; echo 3 > /proc/sys/vm/drop_caches` before each step instead (the loop device "
             "reads its backing file with direct I/O, so a dropped cache means real reads); `sync` "
             "runs before each step, outside the timing")
    L.append("* CPU s = user + system time of the step's processes (GNU time; a pipeline's "
             "processes summed). CPU s / GB new = CPU s per GB of new data: the tree's logical "
             "bytes for a full backup, the bytes of the change set's files (modified + added) for "
             "the incremental")
    L.append("")
    L.append("## Summary")
    L.append("")
    L += summary_table(all_d)
    L.append("")
    for name, d in all_d.items():
        L += corpus_section(name, d, all_t[name])
    L.append("## Notes")
    L.append("")
    L.append("tar has no incremental mode, so its \"incremental\" row is a second full "
             "archive of the changed tree and its stored bytes count both archives. restic always "
             "encrypts (AES-256 + Poly1305; repository v2, compression auto); borg runs with "
             "`--encryption=none`. borg and restic fsync their repository files, tar and zstd do "
             "not; the `sync` after each step is not timed. ctdump's \"restore\" rows run after `ctdump "
             "compact` (they read the store as it ends up); when compact exists, \"restore before "
             "compact\" reads the chunks as the backups stored them. ctdump's restore does not create "
             "device nodes (`dev/*` is left out of its comparison; so are `etc/vzdump/` and `etc` "
             "itself when the restore adds vzdump's config files). The aged restores run on a "
             "second file system, made afresh for each tool, on which `corpus.py age` created and "
             f'deleted {m.get("aged_files", "?")} files right before the restore. Per-step logs: `logs/CORPUS/`.')
    L.append("")
    return "\n".join(L)


def chart(name, d, rec, out_dir):
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
    m = d["meta"]
    gp = f"""set terminal png size 1300,600 font ",11"
set output "{os.path.join(out_dir, f'chart-{name}.png')}"
set datafile missing "-"
set key autotitle columnheader
set title "ctdump datastore benchmark, corpus {name} ({m.get('cache', 'warm')} cache, {m.get('fs', 'ext4')}): wall time per step, lower is better"
set ylabel "wall time [s]"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key below horizontal
set grid ytics
set yrange [0:*]
set xtics rotate by -20
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
    root, out_dir = sys.argv[1], sys.argv[2]
    run = dict((r[0], r[1] if len(r) > 1 else "") for r in read_tsv(os.path.join(root, "run.tsv")))
    order = ["dedup", "unique", "tiny"]
    names = sorted((n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "meta.tsv"))),
                   key=lambda n: (order.index(n) if n in order else 99, n))
    if not names:
        sys.exit(f"report.py: no corpus records under {root}")
    all_d, all_t = {}, {}
    for name in names:
        d = load(os.path.join(root, name))
        store_type = d["meta"].get("store_type", "datastore")
        if store_type != "datastore":   # the harness run against another storage type
            TOOLS[0] = ("ctdump", f"ctdump ({store_type} storage)")
        derive(d)
        all_d[name] = d
        all_t[name] = targets(d, name)
        chart(name, d, os.path.join(root, name), out_dir)
    results = {"run": run, "corpora": {
        name: {"meta": d["meta"], "corpus": d["corpus"], "changed": d["changed"],
               "change_set": d["mutate"], "many": d["many"],
               "steps": list(d["steps"].values()), "stored_bytes": d["stored"],
               "restore_checks": d["checks"], "profile": d["profile"], "suspend": d["suspend"],
               "targets": all_t[name]} for name, d in all_d.items()}}
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
        f.write("\n")
    md = markdown(all_d, all_t, run)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(md)
    sys.stdout.write(md)


if __name__ == "__main__":
    main()
