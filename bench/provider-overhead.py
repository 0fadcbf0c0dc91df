#!/usr/bin/env python3
"""Measurement engine of bench/provider-overhead.sh (run that script, not this file).

It expects a test environment made by tests/realenv/setup.sh (both containers RUNNING) and its
variables in the environment (LXCPATH, CT_PRIV, CT_UNPRIV, ROOTFS_PRIV, ROOTFS_UNPRIV), and
prints a markdown report on stdout. Progress goes to stderr. It never judges the numbers: a run
that fails (non-zero exit, a job that is not ok, a container left stopped) aborts the benchmark,
because its timings would mean nothing.

Clocks: every timestamp is time.time() (CLOCK_REALTIME), so that ctdump's JSON events (stamped
here when their line arrives on the pipe; ctdump flushes after each) and the null provider's
trace files (stamped inside the provider processes) can be subtracted from each other.
"""

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

ENV = {k: os.environ[k] for k in ("LXCPATH", "CT_PRIV", "CT_UNPRIV", "ROOTFS_PRIV", "ROOTFS_UNPRIV")}

WROTE_RE = re.compile(r"wrote archive\.tar: (\d+) bytes, (\d+) entries in ([\d.]+) s \(([\d.]+) MiB/s\)")
MiB = 1048576.0


def note(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ------------------------------------------------------------------------------------------
# statistics


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def p90(xs):
    """Nearest-rank 90th percentile (N=10: the 9th smallest value)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def ms(x):
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * 1000:.0f}"


def fmt_ratio(a, b):
    if not b or math.isnan(a) or math.isnan(b):
        return "–"
    return f"{a / b:.2f}×"


# ------------------------------------------------------------------------------------------
# running things


def lxc(tool, *args, check=True):
    return subprocess.run([f"lxc-{tool}", "-P", ENV["LXCPATH"], *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, check=check)


def ct_state(ct):
    return lxc("info", "-n", ct, "-s", "-H", check=False).stdout.strip()


def ensure_running(ct):
    st = ct_state(ct)
    if st == "FROZEN":
        lxc("unfreeze", "-n", ct)
    if ct_state(ct) != "RUNNING":
        note(f"{ct} is {st or 'unknown'}; starting it")
        lxc("start", "-n", ct, "-d")
        lxc("wait", "-n", ct, "-s", "RUNNING", "-t", "20")


def timed(argv, **kw):
    t0 = time.time()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, **kw)
    t1 = time.time()
    if r.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr[-2000:]!r}")
    return t1 - t0


class Workspace:
    def __init__(self, root, ctdump, null_provider, example_provider):
        self.root = root
        self.ctdump = ctdump
        self.null_provider = null_provider
        self.trace = os.path.join(root, "trace")
        self.target = os.path.join(root, "target")
        self.null_target = os.path.join(root, "null-target")
        self.baseline = os.path.join(root, "baseline")
        self.log = os.path.join(root, "log")
        self.run = os.path.join(root, "run")
        self.tmp = os.path.join(root, "tmp")
        self.etc = os.path.join(root, "etc")
        for d in (self.trace, self.target, self.null_target, self.baseline, self.log, self.tmp,
                  self.etc):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        with open(os.path.join(self.etc, "storage.cfg"), "w") as f:
            f.write(f"provider: null\n\tcommand {null_provider}\n\tpath {self.null_target}\n"
                    f"\ttrace-dir {self.trace}\n\n"
                    f"provider: dir\n\tcommand {example_provider}\n\tpath {self.target}\n")
        open(os.path.join(self.etc, "ctdump.conf"), "w").close()

    def clear_trace(self):
        for name in os.listdir(self.trace):
            os.unlink(os.path.join(self.trace, name))

    def read_trace(self):
        main, workers = None, {}
        for name in sorted(os.listdir(self.trace)):
            with open(os.path.join(self.trace, name)) as f:
                recs = [json.loads(line) for line in f if line.strip()]
            if name == "main.jsonl":
                main = recs[-1] if recs else None
            elif name.startswith("worker-") and recs:
                workers[name[len("worker-"):-len(".jsonl")]] = recs[-1]
        return main, workers

    def backup(self, storage, cts):
        """One `ctdump backup` run; returns its wall time and the time-stamped JSON events."""
        for ct in (ENV["CT_PRIV"], ENV["CT_UNPRIV"]):
            ensure_running(ct)
        self.clear_trace()
        argv = [self.ctdump, "--lxcpath", ENV["LXCPATH"], "--config-dir", self.etc,
                "--output-format", "json", "backup", *cts, "--storage", storage,
                "--mode", "stop", "--tmpdir", self.tmp]
        env = dict(os.environ, CTDUMP_LOG_DIR=self.log, CTDUMP_RUN_DIR=self.run)
        errpath = os.path.join(self.root, "last-stderr.txt")
        with open(errpath, "wb") as err:
            t0 = time.time()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=err, env=env)
            events, buf = [], b""
            fd = proc.stdout.fileno()
            while True:
                chunk = os.read(fd, 65536)
                now = time.time()
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        events.append((now, json.loads(line)))
            rc = proc.wait()
            t1 = time.time()
        end = next((e for _, e in events if e.get("event") == "job-end"), None)
        if rc != 0 or not end or not end.get("ok"):
            msgs = "\n".join(f"  {e.get('level')}: {e.get('message')}" for _, e in events
                             if e.get("event") == "log")
            with open(errpath, errors="replace") as f:
                stderr = f.read()[-2000:]
            raise BenchError(f"ctdump backup {' '.join(cts)} --storage {storage} failed (exit {rc})"
                             f"\n{msgs}\nstderr: {stderr}")
        for ct in cts:
            if ct_state(ct) != "RUNNING":
                raise BenchError(f"{ct} is not running after its backup")
        run = {"t0": t0, "t1": t1, "wall": t1 - t0, "events": events, "end": end}
        if storage == "null":
            run["trace"] = self.read_trace()
        return run


def log_events(run):
    return [(t, e["message"]) for t, e in run["events"] if e.get("event") == "log"]


def first(run, prefix, after=0.0):
    for t, m in log_events(run):
        if t >= after and m.startswith(prefix):
            return t
    return None


def trace_time(rec, method, vmid=None, nth=0):
    if not rec:
        return None
    hits = [t for m, v, t in rec["events"] if m == method and (vmid is None or v in (vmid, None))]
    return hits[nth] if len(hits) > nth else None


def guest_segments(run, ct):
    """Breakdown of one container inside a run (times in seconds, None if unknown)."""
    main, workers = run.get("trace") or (None, {})
    worker = workers.get(ct)
    t_guest = first(run, f"Starting Backup of VM {ct} ")
    t_stop = first(run, "stopping virtual guest", t_guest or 0)
    t_create = first(run, "creating ", t_stop or 0)
    t_mech = first(run, "using backup mechanism", t_create or 0)
    t_restart = first(run, "restarting vm", t_create or 0)
    t_online = first(run, "guest is online again", t_restart or 0)
    t_finished = first(run, f"Finished Backup of VM {ct} ", t_online or 0)
    prep_reply = trace_time(main, "backup_container_prepare:reply") if main else None
    if main and len(run["end"]["guests"]) > 1:
        # several guests: the n-th prepare belongs to the n-th guest of the job
        idx = [g["vmid"] for g in run["end"]["guests"]].index(ct)
        prep_reply = trace_time(main, "backup_container_prepare:reply", nth=idx)
    w_start = trace_time(worker, "start")
    w_hello = trace_time(worker, "hello")
    w_shutdown = trace_time(worker, "shutdown")

    def d(a, b):
        return b - a if a is not None and b is not None else None

    return {
        "downtime": d(t_stop, t_online),
        "stop+mount": d(t_stop, t_create),
        "provider window": d(t_create, t_restart),
        "get_mechanism": d(t_create, t_mech),
        "worker spawn→python": d(prep_reply, w_start),
        "python→worker hello": d(w_start, w_hello),
        "worker hello→shutdown": d(w_hello, w_shutdown),
        "worker exit+unmount": d(w_shutdown, t_restart),
        "start (lxc start+wait)": d(t_restart, t_online),
        "guest start→stop": d(t_guest, t_stop),
        "online→finished": d(t_online, t_finished),
    }


def job_segments(run):
    main, _ = run.get("trace") or (None, {})
    t_hello = trace_time(main, "hello")
    t_first_guest = first(run, "Starting Backup of VM ")
    t_shutdown = trace_time(main, "shutdown")
    t_job_end = next((t for t, e in run["events"] if e.get("event") == "job-end"), None)
    onl = [t for t, m in log_events(run) if m.startswith("guest is online again")]
    last_online = onl[-1] if onl else None

    def d(a, b):
        return b - a if a is not None and b is not None else None

    return {
        "exec→provider hello": d(run["t0"], t_hello),
        "hello→first guest": d(t_hello, t_first_guest),
        "last online→shutdown": d(last_online, t_shutdown),
        "shutdown→job-end": d(t_shutdown, t_job_end),
        "job-end→exit": d(t_job_end, run["t1"]),
    }


# ------------------------------------------------------------------------------------------
# the benchmark


def bench_null(ws, n, warmup):
    u, p = ENV["CT_UNPRIV"], ENV["CT_PRIV"]
    runs = {"unpriv": [], "priv": [], "both": []}
    for ct in (u, p):
        for _ in range(warmup):
            ws.backup("null", [ct])
    for i in range(n):
        note(f"null provider, round {i + 1}/{n}")
        runs["unpriv"].append(ws.backup("null", [u]))
        runs["priv"].append(ws.backup("null", [p]))
        runs["both"].append(ws.backup("null", [u, p]))
    return runs


def bench_pieces(ws, n):
    u, p = ENV["CT_UNPRIV"], ENV["CT_PRIV"]
    res = {f"{k}-{w}": [] for k in ("unpriv", "priv") for w in ("stop", "start")}
    res["python-provider"] = []
    res["python-bare"] = []
    res["ctdump-version"] = []
    py = [ws.null_provider]  # run like ctdump runs it (shebang)
    for i in range(n):
        note(f"lxc-stop / lxc-start, round {i + 1}/{n}")
        for key, ct in (("unpriv", u), ("priv", p)):
            ensure_running(ct)
            res[f"{key}-stop"].append(timed(["lxc-stop", "-P", ENV["LXCPATH"], "-n", ct]))
            if ct_state(ct) != "STOPPED":
                raise BenchError(f"{ct} not STOPPED after lxc-stop")
            t0 = time.time()
            timed(["lxc-start", "-P", ENV["LXCPATH"], "-n", ct, "-d"])
            timed(["lxc-wait", "-P", ENV["LXCPATH"], "-n", ct, "-s", "RUNNING", "-t", "20"])
            res[f"{key}-start"].append(time.time() - t0)
        # process start-up of the pieces ctdump spawns / is
        res["python-provider"].append(timed(py))  # stdin /dev/null: EOF, exits at once
        res["python-bare"].append(timed(["python3", "-c", "pass"]))
        res["ctdump-version"].append(timed([ws.ctdump, "--version"]))
    return res


BASELINE_FLAGS = ["--numeric-owner", "--sparse", "--acls", "--xattrs"]


def fsync_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def baseline_tar(ws, rootfs, name, piped):
    """GNU tar of the host rootfs path as root, to a file on the target's file system, fsynced.

    piped=False: `tar -cpf FILE …`; piped=True: `tar -cpf - … | cat > FILE` (tar writing into a
    pipe, like the provider's tar does). Returns bytes and the times without and with the fsync.
    """
    out = os.path.join(ws.baseline, f"{name}.tar")
    if os.path.exists(out):
        os.unlink(out)
    env = dict(os.environ, LC_ALL="C")
    t0 = time.time()
    if piped:
        with open(out, "wb") as f:
            tar = subprocess.Popen(["tar", "-cpf", "-", *BASELINE_FLAGS, "-C", rootfs, "."],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=env)
            cat = subprocess.Popen(["cat"], stdin=tar.stdout, stdout=f)
            tar.stdout.close()
            err = tar.stderr.read().decode(errors="replace")
            rc, rc_cat = tar.wait(), cat.wait()
        if rc_cat != 0:
            raise BenchError(f"baseline cat for {rootfs} failed ({rc_cat})")
    else:
        r = subprocess.run(["tar", "-cpf", out, *BASELINE_FLAGS, "-C", rootfs, "."],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
        rc, err = r.returncode, r.stderr
    t1 = time.time()
    if rc not in (0, 1):
        raise BenchError(f"baseline tar of {rootfs} failed ({rc}): {err[-2000:]}")
    fsync_path(out)
    t2 = time.time()
    size = os.path.getsize(out)
    os.unlink(out)
    return {"bytes": size, "tar": t1 - t0, "tar+fsync": t2 - t0}


def bench_throughput(ws, n, warmup):
    cts = (("unpriv", ENV["CT_UNPRIV"], ENV["ROOTFS_UNPRIV"]),
           ("priv", ENV["CT_PRIV"], ENV["ROOTFS_PRIV"]))
    res = {k: {"ctdump": [], "baseline": [], "baseline-pipe": []} for k, _, _ in cts}

    def one(key, ct, rootfs, keep):
        b = baseline_tar(ws, rootfs, key, piped=False)
        bp = baseline_tar(ws, rootfs, key, piped=True)
        run = ws.backup("dir", [ct])
        wrote = None
        for _, m in log_events(run):
            mm = WROTE_RE.search(m)
            if mm:
                wrote = mm
        if not wrote:
            raise BenchError(f"no 'wrote archive.tar' line in the backup of {ct}")
        t_begin = first(run, "backing up ")
        t_wrote = next(t for t, m in log_events(run) if WROTE_RE.search(m))
        rec = {"wall": run["wall"], "bytes": int(wrote.group(1)), "entries": int(wrote.group(2)),
               "prov_s": float(wrote.group(3)), "prov_mibs": float(wrote.group(4)),
               "tar_window": t_wrote - t_begin if t_begin else None,
               "downtime": guest_segments(run, ct)["downtime"],
               "size": run["end"]["guests"][0].get("size")}
        shutil.rmtree(os.path.join(ws.target, ct), ignore_errors=True)
        if keep:
            res[key]["baseline"].append(b)
            res[key]["baseline-pipe"].append(bp)
            res[key]["ctdump"].append(rec)

    for key, ct, rootfs in cts:
        for _ in range(warmup):
            one(key, ct, rootfs, False)
    for i in range(n):
        note(f"dir-example throughput, round {i + 1}/{n}")
        for key, ct, rootfs in cts:
            one(key, ct, rootfs, True)
    return res


# ------------------------------------------------------------------------------------------
# report


def sysinfo(ctdump):
    def cmd(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL).stdout.strip()
        except OSError:
            return "?"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rev = cmd(["git", "-C", src, "rev-parse", "--short", "HEAD"]) or "?"
    dirty = cmd(["git", "-C", src, "status", "--porcelain", "--untracked-files=no"])
    return {
        "kernel": platform.release(),
        "cpu": f"{cpu}, {os.cpu_count()} CPUs",
        "lxc": cmd(["lxc-start", "--version"]),
        "ctdump": cmd([ctdump, "--version"]) + f", binary built {time.strftime('%Y-%m-%d %H:%M', time.localtime(os.path.getmtime(ctdump)))}"
                  f"; source tree at git {rev}{' + uncommitted changes' if dirty else ''}",
        "tar": cmd(["tar", "--version"]).splitlines()[0] if cmd(["tar", "--version"]) else "?",
        "python": f"{shutil.which('python3')} "
                  f"({cmd(['python3', '-c', 'import platform; print(platform.python_version())'])})",
    }


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def report(info, args, null, pieces, tp, load0, load1, started, elapsed):
    L = []
    w = L.append
    w("# Provider-path overhead and example-provider throughput")
    w("")
    w(f"Generated by `bench/provider-overhead.sh` on {time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(started))}"
      f" in {elapsed:.0f} s. Benchmark, not a test: nothing here is asserted.")
    w("")
    w(f"* host: {info['cpu']}, kernel {info['kernel']}, LXC {info['lxc']}, {info['tar']}")
    w(f"* `python3` on PATH (runs both providers): {info['python']}; PATH={os.environ.get('PATH')}")
    w(f"* ctdump: {info['ctdump']}")
    w(f"* load average at start / end: {load0} / {load1} (other work on the machine makes numbers noisy)")
    w(f"* containers: tests/realenv minbase bookworm, `unpriv` = unprivileged, btrfs subvolume on a loop image;"
      f" `priv` = privileged, dir rootfs on ext4; minimal sh PID 1 that exits on SIGPWR")
    w(f"* N = {args.n_null} (null provider, per case), {args.n_pieces} (lxc-stop/lxc-start), {args.n_tp} (throughput),"
      f" after {args.warmup} unreported warm-up run(s) per case. p90 is nearest-rank (N=10: 9th of 10).")
    w("")

    # ---- 1. null provider
    u_stop, u_start = median(pieces["unpriv-stop"]), median(pieces["unpriv-start"])
    p_stop, p_start = median(pieces["priv-stop"]), median(pieces["priv-start"])
    w("## 1. Provider-path overhead, stop mode, empty provider (`bench/null-provider.py`)")
    w("")
    w("Wall time of `ctdump backup <ct>… --storage null --mode stop` (exec to exit), in ms. "
      "\"stop+start\" is the median `lxc-stop` (clean, SIGPWR) plus the median `lxc-start -d` + `lxc-wait RUNNING` "
      "of the same container(s), measured directly; \"overhead\" is median wall minus that.")
    w("")
    w("| case | median | p90 | min | downtime (median) | lxc stop+start | overhead beyond stop+start | wall / (stop+start) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    ss = {"unpriv": u_stop + u_start, "priv": p_stop + p_start, "both": u_stop + u_start + p_stop + p_start}
    for key, label in (("unpriv", "unpriv (btrfs, userns worker)"), ("priv", "priv (ext4 dir, root worker)"),
                       ("both", "job of both (unpriv, priv)")):
        walls = [r["wall"] for r in null[key]]
        if key == "both":
            dts = [sum(guest_segments(r, ct)["downtime"] for ct in (ENV["CT_UNPRIV"], ENV["CT_PRIV"])) for r in null[key]]
        else:
            ct = ENV["CT_UNPRIV"] if key == "unpriv" else ENV["CT_PRIV"]
            dts = [guest_segments(r, ct)["downtime"] for r in null[key]]
        m = median(walls)
        w(f"| {label} | {ms(m)} | {ms(p90(walls))} | {ms(min(walls))} | {ms(median(dts))}"
          f"{' (sum of both)' if key == 'both' else ''} | {ms(ss[key])} | {ms(m - ss[key])} | {fmt_ratio(m, ss[key])} |")
    sum_single = median([r["wall"] for r in null["unpriv"]]) + median([r["wall"] for r in null["priv"]])
    both = median([r["wall"] for r in null["both"]])
    w("")
    w(f"Job of both vs two single jobs: {ms(both)} ms vs {ms(sum_single)} ms "
      f"(saves {ms(sum_single - both)} ms: one ctdump + one main provider instance instead of two).")
    w("")

    # breakdown
    w("### Where the time goes (medians, ms)")
    w("")
    w("From the arrival times of ctdump's JSON events (flushed per line) and the null provider's trace "
      "(`trace-dir`: request arrival times inside the provider processes). Segments of one container:")
    w("")
    keys = ["guest start→stop", "stop+mount", "get_mechanism", "worker spawn→python", "python→worker hello",
            "worker hello→shutdown", "worker exit+unmount", "provider window", "start (lxc start+wait)",
            "downtime", "online→finished"]
    desc = {
        "guest start→stop": "`Starting Backup` → `stopping virtual guest` (config, lock, `backup_init`)",
        "stop+mount": "`stopping virtual guest` → `creating … archive` (clean shutdown + bind mounts)",
        "get_mechanism": "→ `using backup mechanism` (privileged warning, `backup_get_mechanism`)",
        "worker spawn→python": "`backup_container_prepare` reply → worker's first Python line (fork, userns/idmap, exec, interpreter start)",
        "python→worker hello": "worker interpreter start → `hello` arrives (imports, main())",
        "worker hello→shutdown": "worker `hello` → `shutdown` (incl. the empty `backup_container`)",
        "worker exit+unmount": "worker `shutdown` → `restarting vm` (exit, reap, unmount)",
        "provider window": "`creating … archive` → `restarting vm` (all of the above from get_mechanism)",
        "start (lxc start+wait)": "`restarting vm` → `guest is online again`",
        "downtime": "`stopping virtual guest` → `guest is online again`",
        "online→finished": "→ `Finished Backup` (`backup_cleanup`, local cleanup)",
    }
    segs = {k: [guest_segments(r, ENV["CT_UNPRIV"] if k == "unpriv" else ENV["CT_PRIV"]) for r in null[k]]
            for k in ("unpriv", "priv")}
    segs_both = {ct: [guest_segments(r, ct) for r in null["both"]] for ct in (ENV["CT_UNPRIV"], ENV["CT_PRIV"])}

    def col(lst, k):
        vals = [s[k] for s in lst if s[k] is not None]
        return median(vals) if vals else None

    w("| segment | unpriv | priv | unpriv in job of both | priv in job of both | what |")
    w("|---|---:|---:|---:|---:|---|")
    for k in keys:
        w(f"| {k} | {ms(col(segs['unpriv'], k))} | {ms(col(segs['priv'], k))} | "
          f"{ms(col(segs_both[ENV['CT_UNPRIV']], k))} | {ms(col(segs_both[ENV['CT_PRIV']], k))} | {desc[k]} |")
    w("")
    w("Job-level segments (medians, ms):")
    w("")
    w("| segment | unpriv | priv | job of both | what |")
    w("|---|---:|---:|---:|---|")
    jdesc = {
        "exec→provider hello": "ctdump exec, option/config parsing, spawning the main provider (Python start-up)",
        "hello→first guest": "`job_init`, hooks, private mount namespace",
        "last online→shutdown": "last `guest is online again` → main `shutdown` (`backup_cleanup`, log file, `job_cleanup`)",
        "shutdown→job-end": "main provider `shutdown`, its exit and reaping",
        "job-end→exit": "ctdump exit",
    }
    js = {k: [job_segments(r) for r in null[k]] for k in ("unpriv", "priv", "both")}
    for k in jdesc:
        w(f"| {k} | {ms(col(js['unpriv'], k))} | {ms(col(js['priv'], k))} | {ms(col(js['both'], k))} | {jdesc[k]} |")
    w("")

    # attribution per run
    w("Attribution of the whole wall time (median of per-run values, ms):")
    w("")
    w("| part | unpriv | priv | job of both | what |")
    w("|---|---:|---:|---:|---|")

    def attribution(run):
        cts = [g["vmid"] for g in run["end"]["guests"]]
        gs = [guest_segments(run, ct) for ct in cts]
        j = job_segments(run)

        def tot(key):
            vals = [g[key] for g in gs]
            return None if any(v is None for v in vals) else sum(vals)
        parts = {
            "container stop + start": (tot("stop+mount") or 0) + (tot("start (lxc start+wait)") or 0),
            "provider start-ups": (j["exec→provider hello"] or 0) + (tot("worker spawn→python") or 0)
                                  + (tot("python→worker hello") or 0),
            "provider exits": (tot("worker exit+unmount") or 0) + (j["shutdown→job-end"] or 0),
        }
        parts["everything else"] = run["wall"] - sum(parts.values())
        parts["wall"] = run["wall"]
        return parts

    adesc = {
        "container stop + start": "`stop+mount` + `start` segments above (liblxc shutdown/start, bind mounts)",
        "provider start-ups": "exec→main `hello` (includes ctdump's own ~3 ms exec) + each worker's spawn→`hello`",
        "provider exits": "worker `shutdown`→`restarting vm` (includes the unmount) + main `shutdown`→job-end",
        "everything else": "ctdump's own work between those: config, locks, logs, protocol round trips, cleanup, exit",
        "wall": "total",
    }
    att = {k: [attribution(r) for r in null[k]] for k in ("unpriv", "priv", "both")}
    for k in adesc:
        w(f"| {k} | {ms(median([a[k] for a in att['unpriv']]))} | {ms(median([a[k] for a in att['priv']]))} | "
          f"{ms(median([a[k] for a in att['both']]))} | {adesc[k]} |")
    w("")

    # pieces
    w("### The pieces, measured directly (ms)")
    w("")
    w("| piece | median | p90 | min |")
    w("|---|---:|---:|---:|")
    plabels = [("unpriv-stop", "`lxc-stop` unpriv (clean shutdown)"), ("unpriv-start", "`lxc-start -d` + `lxc-wait RUNNING` unpriv"),
               ("priv-stop", "`lxc-stop` priv"), ("priv-start", "`lxc-start -d` + `lxc-wait RUNNING` priv"),
               ("python-provider", "`python3 null-provider.py` to EOF (one provider instance's start-up + exit)"),
               ("python-bare", "`python3 -c pass` (bare interpreter start-up + exit)"),
               ("ctdump-version", "`ctdump --version` (exec + dynamic linking)")]
    for k, label in plabels:
        xs = pieces[k]
        w(f"| {label} | {ms(median(xs))} | {ms(p90(xs))} | {ms(min(xs))} |")
    w("")

    # ---- 2. throughput
    w("## 2. Example provider throughput (`examples/providers/dir-example.py`, stop mode)")
    w("")
    w("Archive bytes as the provider reports them (`wrote archive.tar: N bytes …`). \"tar window\" = arrival of the "
      "worker's `backing up …` line → its `wrote archive.tar` line: tar into a pipe, the provider's Python copy loop "
      "(1 MiB reads, tar header parsing for the file count, progress) and the fsync of archive.tar. "
      "\"provider MiB/s\" is the figure the provider prints itself. Medians of N runs; MiB/s = bytes / median time "
      "(MiB = 2^20 bytes). All reads come from the page cache (the same trees are read over and over).")
    w("")
    w("| container | archive MiB | entries | tar window s | MiB/s (tar window) | provider MiB/s | ctdump wall s | MiB/s (whole ctdump run) | downtime s |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = {}
    for key, label in (("unpriv", "unpriv (btrfs, userns worker)"), ("priv", "priv (ext4 dir, root worker)")):
        c = tp[key]["ctdump"]
        nbytes = median([r["bytes"] for r in c])
        tw = median([r["tar_window"] for r in c])
        wall = median([r["wall"] for r in c])
        rows[key] = (nbytes / tw / MiB, nbytes / wall / MiB)
        w(f"| {label} | {nbytes / MiB:.1f} | {median([r['entries'] for r in c]):.0f} | {tw:.2f} | {nbytes / tw / MiB:.0f} | "
          f"{median([r['prov_mibs'] for r in c]):.0f} | {wall:.2f} | {nbytes / wall / MiB:.0f} | "
          f"{median([r['downtime'] for r in c]):.2f} |")
    w("")
    w("Baseline, interleaved with the ctdump runs: GNU tar as root on the host rootfs path "
      "(`--numeric-owner --sparse --acls --xattrs -C <rootfs> .`), written to a file on the target's file system "
      "and fsynced (the provider fsyncs too); \"piped\" is `tar -cpf - … | cat > file` "
      "(tar writing into a pipe, as the provider's tar does; a real file, because GNU tar skips reading file data when its archive is /dev/null), \"direct\" is `tar -cpf file`.")
    w("")
    w("| container | baseline | tar s | tar+fsync s | MiB/s (tar+fsync) | provider tar window / baseline | whole ctdump run / baseline |")
    w("|---|---|---:|---:|---:|---:|---:|")
    for key, label in (("unpriv", "unpriv"), ("priv", "priv")):
        for bk, blabel in (("baseline-pipe", "piped"), ("baseline", "direct")):
            b = tp[key][bk]
            bbytes = median([r["bytes"] for r in b])
            btf = median([r["tar+fsync"] for r in b])
            rb = bbytes / btf / MiB
            w(f"| {label} | {blabel} | {median([r['tar'] for r in b]):.2f} | {btf:.2f} | {rb:.0f} | "
              f"{rows[key][0] / rb:.2f} | {rows[key][1] / rb:.2f} |")
    w("")
    w("Baseline archive sizes: " + ", ".join(
        f"{k} {median([r['bytes'] for r in tp[k]['baseline']]) / MiB:.1f} MiB" for k in ("unpriv", "priv"))
      + " (the provider skips the standard excludes and lost+found, keeps only user.* and "
        "security.capability xattrs, and the unprivileged worker cannot read host-root-only files).")
    w("")
    w("Per-run times (s): " + "; ".join(
        f"{k}: tar window " + " ".join(f"{r['tar_window']:.2f}" for r in tp[k]["ctdump"])
        + ", piped baseline tar+fsync " + " ".join(f"{r['tar+fsync']:.2f}" for r in tp[k]["baseline-pipe"])
        + ", direct " + " ".join(f"{r['tar+fsync']:.2f}" for r in tp[k]["baseline"])
        for k in ("unpriv", "priv")) + ".")
    w("")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctdump", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--null-provider", required=True)
    ap.add_argument("--example-provider", required=True)
    ap.add_argument("--n-null", type=int, default=10)
    ap.add_argument("--n-pieces", type=int, default=10)
    ap.add_argument("--n-tp", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--raw", help="write all raw measurements as JSON here")
    args = ap.parse_args()

    started = time.time()
    load0 = loadavg()
    info = sysinfo(args.ctdump)
    ws = Workspace(args.work, args.ctdump, args.null_provider, args.example_provider)
    try:
        null = bench_null(ws, args.n_null, args.warmup)
        pieces = bench_pieces(ws, args.n_pieces)
        tp = bench_throughput(ws, args.n_tp, args.warmup)
    except BenchError as err:
        note(f"ERROR: {err}")
        return 1
    load1 = loadavg()
    if args.raw:
        def slim(run):
            return {"wall": run["wall"], "t0": run["t0"], "t1": run["t1"],
                    "events": [[t, e] for t, e in run["events"] if e.get("event") != "progress"],
                    "trace": run.get("trace")}
        with open(args.raw, "w") as f:
            json.dump({"null": {k: [slim(r) for r in v] for k, v in null.items()},
                       "pieces": pieces, "throughput": tp}, f)
    sys.stdout.write(report(info, args, null, pieces, tp, load0, load1, started, time.time() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
