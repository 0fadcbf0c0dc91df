"""report_targets.py - the issues' targets for report.py (and the helpers
both use).  Issue 14's targets, per corpus; issue 5's verify and memory
targets stay (\"incremental, verify and memory keep today's results\").
Standard library only."""

TOOLS = [
    ("ctdump", "ctdump datastore"),
    ("tar", "tar | zstd -1 -T2"),
    ("borg", "borg create (zstd,3)"),
    ("restic", "restic backup (v2, auto)"),
]
MIB = 1024 * 1024
# full backup: ctdump's throughput over tar | zstd's, per corpus
FULL_GOAL = {"dedup": 2.0, "unique": 1.5, "tiny": 1.5}


def esc(text):
    """A Markdown table cell: a '|' must be escaped, even inside code spans."""
    return str(text).replace("|", "\\|")


def fmt(x, spec, dash="—"):
    return dash if x is None or x is False else format(x, spec)


def human(n):
    if n is None:
        return "—"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000


def ok(d, tool, step):
    s = d["steps"].get((tool, step))
    return s if s and s["status"] == "ok" and s["wall_s"] is not None else None


def step_cpu(s):
    return (s["user_s"] or 0) + (s["sys_s"] or 0)


def target(name, goal, value, cmp, show, why_missing):
    if value is None:
        return {"target": name, "goal": goal, "value": None, "met": None,
                "shown": f"not measured ({why_missing})"}
    return {"target": name, "goal": goal, "value": value, "met": cmp(value), "shown": show(value)}


def targets(d, corpus):
    meta = d["meta"]
    cache = meta.get("cache", "warm")
    w = lambda tool, step: (ok(d, tool, step) or {}).get("wall_s")  # noqa: E731

    def quotient(a, b):
        return a / b if a is not None and b else None

    def missing(*pairs):
        for tool, step in pairs:
            if w(tool, step) is None:
                s = d["steps"].get((tool, step))
                why = s["note"] if s and s["status"] == "skipped" and s["note"] else (s["status"] if s else "not run")
                return f"{tool} {step}: {why}"
        return ""

    times = lambda x: f"{x:.2f}×"  # noqa: E731
    out = []
    goal = FULL_GOAL.get(corpus, 1.5)
    out.append(target(f"full backup ≥ {goal:g}× `tar | zstd -1 -T2` ({cache} cache)", f"≥ {goal:g}×",
                      quotient(w("tar", "full"), w("ctdump", "full")), lambda x: x >= goal, times,
                      missing(("ctdump", "full"), ("tar", "full"))))
    cpg = lambda tool: (ok(d, tool, "full") or {}).get("cpu_s_per_gb_new")  # noqa: E731
    v = quotient(cpg("ctdump"), cpg("tar"))
    out.append(target("CPU s per GB of new data (full backup) ≤ 0.75× tar | zstd's", "≤ 0.75×", v,
                      lambda x: x <= 0.75,
                      lambda x: f"{x:.2f}× ({cpg('ctdump'):.2f} vs {cpg('tar'):.2f} CPU s/GB)",
                      missing(("ctdump", "full"), ("tar", "full"))))
    v = quotient(w("ctdump", "stop-running"), w("tar", "stop-running"))
    if v is None:   # no running container: the full backup is the stop-mode downtime
        v = quotient(w("ctdump", "full"), w("tar", "full"))
        how = "full backup of the stopped tree"
    else:
        how = "running container stopped, backed up, started"
    out.append(target(f"stop-mode downtime: ctdump / vzdump's (tar | zstd) ({how}; lower is better)",
                      "< 1×", v, lambda x: x < 1.0, times, missing(("ctdump", "full"), ("tar", "full"))))
    st = d["stored"].get("ctdump", {})
    comp, inc = st.get("compact"), st.get("incremental")
    why = missing(("ctdump", "compact")) or "no stored bytes"
    out.append(target("stored after compact ≤ 1.1× stored after the incremental, same run "
                      "(stand-in for \"today's\": before the maintenance job)", "≤ 1.1×",
                      quotient(comp, inc), lambda x: x <= 1.1,
                      lambda x: f"{x:.3f}× ({human(comp)} vs {human(inc)})", why))
    base = meta.get("baseline_stored")
    if base:
        base = int(base)
        out.append(target(f"stored after compact ≤ 1.1× the reference (--baseline-stored {base})",
                          "≤ 1.1×", quotient(comp, base), lambda x: x <= 1.1,
                          lambda x: f"{x:.3f}× ({human(comp)} vs {human(base)})", why))
    out.append(target("suspend-mode backup ≤ 2× stop mode (same running container)", "≤ 2×",
                      quotient(w("ctdump", "suspend"), w("ctdump", "stop-running")),
                      lambda x: x <= 2.0, times,
                      missing(("ctdump", "suspend"), ("ctdump", "stop-running"))
                      if d["steps"].get(("ctdump", "suspend")) else "run with --suspend"))
    for sfx, label in (("", "fresh"), ("-before-compact", "before compact, fresh"), ("-aged", "aged")):
        step = "restore" + sfx
        if sfx == "-before-compact" and not d["steps"].get(("ctdump", step)):
            continue
        tar_step = "restore-aged" if sfx == "-aged" else "restore"
        fs = meta.get("fs", "ext4") if sfx != "-aged" else meta.get("aged_fs", "?")
        out.append(target(f"restore ≥ 1.3× `zstd -dc | tar -x` ({label} {fs})", "≥ 1.3×",
                          quotient(w("tar", tar_step), w("ctdump", step)), lambda x: x >= 1.3, times,
                          missing(("ctdump", step), ("tar", tar_step))
                          if d["steps"].get(("ctdump", step)) or not sfx else "run with --aged"))
    out.append(target("incremental ≤ 10 % of ctdump's full backup time", "≤ 10 %",
                      quotient(w("ctdump", "incremental"), w("ctdump", "full")),
                      lambda x: x <= 0.10, lambda x: f"{100 * x:.1f} %",
                      missing(("ctdump", "incremental"), ("ctdump", "full"))))
    out.append(target("incremental ≥ 5× faster than restic with parent", "≥ 5×",
                      quotient(w("restic", "incremental"), w("ctdump", "incremental")),
                      lambda x: x >= 5.0, times,
                      missing(("ctdump", "incremental"), ("restic", "incremental"))))
    lb = (d["changed"] or {}).get("logical_bytes")
    out.append(target("verify ≥ 1.2 GB/s (logical bytes / time)", "≥ 1.2 GB/s",
                      quotient(lb, w("ctdump", "verify")), lambda x: x >= 1.2e9,
                      lambda x: f"{x / 1e9:.2f} GB/s", missing(("ctdump", "verify"))))
    many = ok(d, "ctdump", "many")
    if many:
        rss = many["maxrss_kib"] * 1024
        name = "peak RSS ≤ 256 MiB (backup of the 1 M-file tree)"
    else:
        rss_all = [s["maxrss_kib"] for (t, _), s in d["steps"].items()
                   if t == "ctdump" and s["status"] == "ok" and s["maxrss_kib"]]
        rss = max(rss_all) * 1024 if rss_all else None
        name = "peak RSS ≤ 256 MiB (corpus steps only; --many-files for the 1 M-file target)"
    out.append(target(name, "≤ 256 MiB", rss, lambda x: x <= 256 * MIB,
                      lambda x: f"{x / MIB:.0f} MiB", f'ctdump {meta.get("ctdump_state") or "not run"}'))
    return out
