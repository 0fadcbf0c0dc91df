#!/usr/bin/env python3
"""report.py - turn the records of bench/providers/run.sh into results.

  report.py REC-ROOT OUT-DIR

REC-ROOT holds run.tsv (duration, command) and one directory per corpus with
what run.sh recorded for it:
  meta.tsv          key<TAB>value (host, versions, options, each storage's state)
  steps.tsv         storage step status wall_s maxrss_kib user_s sys_s sync_s note
  stored.tsv        storage phase kind bytes   (phase: full | incremental;
                    kind: repository | cache: the provider's client cache and state)
  corpus.json       treecheck stats of the source before the change set
  changed.json      ... and after it
  mutate.json       the change set's summary (bench/datastore/mutate.py apply)
  idshift.json      what moving the owners into the container's map did
  check-STORAGE-MECH.json  restore comparison (treecheck.py compare)
  logs/             every step's output

Writes OUT-DIR/results.json (raw numbers) and OUT-DIR/results.md: per corpus
the summary table (full, incremental, restore per mechanism, stored), the
per-step table, stored bytes, restore checks and the failures' messages.
Standard library only.
"""
import importlib.util
import json
import os
import re
import sys

# The record readers are bench/datastore's (same meta.tsv/steps.tsv format); its report.py is
# loaded under another name (this file is report.py too).
_DS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "datastore")
sys.path.append(_DS)
_spec = importlib.util.spec_from_file_location("datastore_report", os.path.join(_DS, "report.py"))
_ds_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ds_report)
num, read_json, read_tsv = _ds_report.num, _ds_report.read_json, _ds_report.read_tsv

STORAGES = [
    ("datastore", "datastore"),
    ("dir", "dir (`tar | zstd`)"),
    ("borg", "borg (lz4)"),
    ("restic", "restic (auto)"),
    ("dir-example", "dir-example (tar)"),
]
# steps, and the mechanisms a restore step stands for
STEPS = [
    ("full", "full backup"),
    ("incremental", "incremental (1 % changed)"),
    ("restore", "restore (native)"),
    ("restore-directory", "restore `directory`"),
    ("restore-tar", "restore `tar`"),
]
COMMANDS = {
    "full": "ctdump backup CT --storage S --mode stop",
    "incremental": "ctdump backup CT --storage S --mode stop (again)",
    "restore": "ctdump restore S:VOL NEW --rootfs DIR",
    "restore-directory": "ctdump restore S:VOL NEW --rootfs DIR (restore-mechanism directory)",
    "restore-tar": "ctdump restore S-tar:VOL NEW --rootfs DIR (restore-mechanism tar)",
}
CHECK_NAME = {"restore": "native", "restore-directory": "directory", "restore-tar": "tar"}


def esc(text):
    """A Markdown table cell: a '|' must be escaped, even inside code spans."""
    return str(text).replace("|", "\\|")


def fmt(x, spec, dash="—"):
    return dash if x is None else format(x, spec)


def mb(n):
    return "—" if n is None else f"{n / 1e6:,.0f} MB" if n >= 10e6 else f"{n / 1e6:,.1f} MB"


def load(rec):
    meta = {}
    for r in read_tsv(os.path.join(rec, "meta.tsv")):
        meta[r[0]] = r[1] if len(r) > 1 else ""
    steps = {}
    for r in read_tsv(os.path.join(rec, "steps.tsv")):
        r += [""] * (9 - len(r))
        s = {"storage": r[0], "step": r[1], "status": r[2], "wall_s": num(r[3]),
             "maxrss_kib": num(r[4]), "user_s": num(r[5]), "sys_s": num(r[6]),
             "sync_s": num(r[7]), "note": r[8]}
        s["cpu_s"] = (s["user_s"] or 0) + (s["sys_s"] or 0) if s["status"] == "ok" else None
        steps[(r[0], r[1])] = s
    stored = {}
    for r in read_tsv(os.path.join(rec, "stored.tsv")):
        stored.setdefault(r[0], {}).setdefault(r[2], {})[r[1]] = int(r[3])
    checks = {}
    for name in os.listdir(rec):
        m = re.match(r"check-(.+)\.json$", name)
        if m:
            checks[m.group(1)] = read_json(os.path.join(rec, name))
    return {"meta": meta, "steps": steps, "stored": stored, "checks": checks,
            "corpus": read_json(os.path.join(rec, "corpus.json")),
            "changed": read_json(os.path.join(rec, "changed.json")),
            "mutate": read_json(os.path.join(rec, "mutate.json")),
            "idshift": read_json(os.path.join(rec, "idshift.json")),
            "logs": os.path.join(rec, "logs")}


def derive(d):
    for (_, step), s in d["steps"].items():
        tree = d["corpus"] if step == "full" else d["changed"]
        lb = tree["logical_bytes"] if tree else None
        s["logical_bytes"] = lb
        s["mb_s"] = (lb / s["wall_s"] / 1e6 if s["status"] == "ok" and lb and s["wall_s"]
                     else None)


def present(d):
    return [(k, lbl) for k, lbl in STORAGES if any(st == k for st, _ in d["steps"])]


def check_of(d, storage, step):
    return d["checks"].get(f"{storage}-{CHECK_NAME[step]}")


def mechanism_used(d, storage, step):
    """ctdump's 'restore mechanism: M (asked for)' line of the step's log, if any."""
    path = os.path.join(d["logs"], f"{storage}-{step}.log")
    if not os.path.exists(path):
        return None
    with open(path, errors="replace") as f:
        for line in f:
            m = re.search(r"restore mechanism: (.*)$", line.rstrip("\n"))
            if m:
                return "restore mechanism: " + m.group(1)
    return None


def check_summary(c):
    if c is None:
        return "—"
    if c["identical"]:
        return "identical" + ("" if c["content_checked"] else " (metadata only)")
    return "differs: " + ", ".join(f'{k} {v["count"]} (e.g. `{esc(v["examples"][0])}`)'
                                   for k, v in sorted(c["differences"].items()))


def cell(d, storage, step, mark):
    s = d["steps"].get((storage, step))
    if s is None:
        return None
    if s["status"] == "skipped":
        return "skipped"
    if s["status"] != "ok":
        return "**failed**"
    c = check_of(d, storage, step) if step.startswith("restore") else None
    flag = ""
    if c is not None and not c["identical"]:
        flag = mark
    return f'{s["wall_s"]:.1f} s ({s["cpu_s"]:.1f}){flag}'


def summary_table(d, L):
    cols = present(d)
    L.append("| | " + " | ".join(esc(lbl) for _, lbl in cols) + " |")
    L.append("|---|" + "---:|" * len(cols))
    mark = " †"
    marked = False
    for step, label in (("full", "full backup"), ("incremental", "incremental (1 % changed)")):
        L.append(f"| {label} | " + " | ".join(cell(d, k, step, mark) or "—" for k, _ in cols) + " |")
    row = []
    for k, _ in cols:
        parts = [cell(d, k, st, mark) for st in ("restore", "restore-directory", "restore-tar")]
        parts = [p for p in parts if p is not None]
        marked |= any(p.endswith(mark) for p in parts)
        row.append(" / ".join(parts) if parts else "—")
    L.append("| restore `directory` / `tar` | " + " | ".join(row) + " |")
    row = []
    for k, _ in cols:
        rep = d["stored"].get(k, {}).get("repository", {})
        row.append(mb(rep.get("incremental")))
    L.append("| stored after both | " + " | ".join(row) + " |")
    L.append("")
    L.append("Wall seconds (CPU seconds, user + system, of the `ctdump` process tree: the "
             "providers, borg, restic, rclone, tar and zstd it runs included) through the real "
             "`ctdump` binary. datastore and dir have one restore path (their own); borg, restic and "
             "dir-example restore through `directory` / `tar` (the provider's `restore-mechanism`). "
             "Stored: the repository / directory after the full and the incremental backup (`du`), "
             "without the providers' client caches (below)."
             + (" † the restored tree differs from the source (see the restore checks)." if marked else ""))


def steps_table(d, L):
    L.append("| storage | step | wall s | CPU s (user+sys) | user s | sys s | peak RSS MiB | MB/s | "
             "restored tree vs. source |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for k, lbl in present(d):
        for step, slabel in STEPS:
            s = d["steps"].get((k, step))
            if s is None:
                continue
            if s["status"] != "ok":
                L.append(f'| {esc(lbl)} | {slabel} | {s["status"]} | — | — | — | — | — | '
                         f'{esc(s["note"])} |')
                continue
            chk = ""
            if step.startswith("restore"):
                chk = check_summary(check_of(d, k, step))
                used = mechanism_used(d, k, step)
                if used:
                    chk += f" (ctdump: `{esc(used)}`)"
            L.append(f'| {esc(lbl)} | {slabel} | {s["wall_s"]:.2f} | {s["cpu_s"]:.2f} | '
                     f'{s["user_s"]:.2f} | {s["sys_s"]:.2f} | {s["maxrss_kib"] / 1024:.0f} | '
                     f'{fmt(s["mb_s"], ".0f")} | {chk} |')


def stored_table(d, L):
    L.append("| storage | after full | after incremental | incremental added | after both / logical | "
             "client cache + state (after both) |")
    L.append("|---|---:|---:|---:|---:|---:|")
    lb = d["changed"]["logical_bytes"] if d["changed"] else None
    for k, lbl in present(d):
        rep = d["stored"].get(k, {}).get("repository", {})
        cache = d["stored"].get(k, {}).get("cache", {})
        full, inc = rep.get("full"), rep.get("incremental")
        added = inc - full if full is not None and inc is not None else None
        ratio = inc / lb if inc is not None and lb else None
        L.append(f'| {esc(lbl)} | {mb(full)} | {mb(inc)} | {mb(added)} | {fmt(ratio, ".3f")} | '
                 f'{mb(cache.get("incremental")) if cache else "—"} |')


def failures(d, L):
    bad = [s for s in d["steps"].values() if s["status"] == "failed"]
    if not bad:
        return
    L.append("### Failures")
    L.append("")
    for s in bad:
        path = os.path.join(d["logs"], f'{s["storage"]}-{s["step"]}.log')
        lines = []
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                lines = [l.rstrip("\n") for l in f]
        errors = [l for l in lines if re.search(r"ERROR|error|failed|Traceback", l)]
        show = (errors or lines)[-8:]
        L.append(f'* **{esc(s["storage"])} {s["step"]}**: {esc(s["note"])}')
        if show:
            L.append("")
            L.append("  ```")
            L.extend("  " + l[:300] for l in show)
            L.append("  ```")
    L.append("")


def facts(d, L):
    m, corpus, changed, mut, ids = d["meta"], d["corpus"], d["changed"], d["mutate"], d["idshift"]
    L.append(f'* container: {m.get("container", "?")}; every backup `--mode stop --remove 0`')
    if corpus:
        bt = corpus["by_type"]
        L.append(f'* corpus `{m.get("corpus", "?")}` ({m.get("corpus_desc", "?")}): '
                 f'{corpus["logical_bytes"] / 1e6:,.0f} MB logical (regular-file bytes, hard links '
                 f'once) in {bt.get("file", 0):,} files, {bt.get("dir", 0):,} directories, '
                 f'{bt.get("symlink", 0):,} symlinks')
    if ids:
        L.append(f'* owners moved into the map (idshift.py): {ids["shifted"]:,} entries; '
                 f'{ids["devices_removed"]} device nodes removed (an unprivileged container has '
                 f'none), {ids["capabilities_dropped"]} file capabilities lost to chown')
    if mut and changed:
        L.append(f'* change set (bench/datastore/mutate.py, seed {mut["seed"]}): {mut["modified"]:,} '
                 f'files modified ({mut["size_of_modified_files"] / 1e6:,.1f} MB in those files), '
                 f'{mut["added"]:,} added ({mut["bytes_added"] / 1e6:,.1f} MB random), '
                 f'{mut["deleted"]:,} deleted; {changed["logical_bytes"] / 1e6:,.0f} MB logical '
                 "afterwards")
    L.append(f'* scratch file system (source, repositories, restores, provider staging): '
             f'{m.get("fstype", "?")}; page cache **{m.get("cache", "warm")}** before each step'
             + ("; memory settled (bench/lib.sh `settle_memory`)" if m.get("settle") == "1" else ""))
    L.append(f'* load average at start / end: {m.get("load_start", "?")} / {m.get("load_end", "?")}; '
             f'{m.get("nproc", "?")} CPUs ({m.get("cpu", "?")}), {m.get("mem", "?")}')
    L.append(f'* ctdump {m.get("ctdump_version", "?")}, git {m.get("git", "?")}; '
             f'{m.get("borg_version", "?")}; {m.get("restic_version", "?")}; '
             f'{m.get("rclone_version", "?")}; {m.get("zstd_version", "?")}; '
             f'{m.get("python_version", "?")}')
    states = [f'{k} {m[f"state_{k}"]}' for k, _ in STORAGES if f"state_{k}" in m]
    if states:
        L.append("* storages: " + "; ".join(esc(s) for s in states))
    if m.get("added_sbin"):
        L.append(f'* added to the source before the backups: {m["added_sbin"]}')
    if m.get("restore_mechanism_option"):
        L.append(f'* restores: {m["restore_mechanism_option"]}')
    if m.get("restic_parent"):
        L.append(f'* restic incremental: parent snapshot {m["restic_parent"]}')


def main():
    rec_root, out_dir = sys.argv[1], sys.argv[2]
    run = dict((r[0], r[1]) for r in read_tsv(os.path.join(rec_root, "run.tsv")) if len(r) > 1)
    corpora = [c for c in ("dedup", "unique", "tiny")
               if os.path.isdir(os.path.join(rec_root, c))]
    all_d = {}
    for c in corpora:
        d = load(os.path.join(rec_root, c))
        derive(d)
        all_d[c] = d
    L = ["# Storage targets through ctdump: datastore, dir, borg, restic, dir-example", ""]
    first = all_d[corpora[0]]["meta"] if corpora else {}
    L.append(f'`bench/providers/{run.get("command", "run.sh")}` on {first.get("date", "?")}, '
             f'{int(run.get("duration_s", 0)) // 60} min {int(run.get("duration_s", 0)) % 60} s '
             "in all. A benchmark, not a test: one run, no repetitions; small-corpus times of a "
             "second or two are noise-dominated. See `bench/providers/README.md`.")
    L.append("")
    for c in corpora:
        d = all_d[c]
        L.append(f"## Corpus `{c}`")
        L.append("")
        summary_table(d, L)
        L.append("")
        facts(d, L)
        L.append("")
        L.append("### Steps")
        L.append("")
        L.append("Each step's command: " + "; ".join(f"{n}: `{esc(cmd)}`" for n, cmd in COMMANDS.items())
                 + ". Peak RSS: GNU time's `%M`, the largest single process. MB/s: the tree's "
                 "logical bytes / wall time.")
        L.append("")
        steps_table(d, L)
        L.append("")
        L.append("### Stored bytes")
        L.append("")
        stored_table(d, L)
        L.append("")
        failures(d, L)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write("\n".join(L).rstrip("\n") + "\n")
    results = {"run": run, "corpora": {
        c: {"meta": d["meta"], "corpus": d["corpus"], "changed": d["changed"],
            "mutate": d["mutate"], "idshift": d["idshift"],
            "steps": list(d["steps"].values()), "stored": d["stored"], "checks": d["checks"]}
        for c, d in all_d.items()}}
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
