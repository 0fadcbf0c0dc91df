#!/usr/bin/python3
"""What `prune-backups` keeps, as ctdump selects it (PVE/PBS semantics, the same on every
storage), beside what `borg prune` and `restic forget` would keep with the same keep-* options
on the same list of backups. Not a test: it prints a table for docs/providers/*.md and the
design's open question 1 (docs/design/third-party-providers.md §14).

    sudo /usr/bin/python3 bench/providers/retention.py [--ctdump build/ctdump]

The backup times are a fixed, irregular schedule: every 8 hours for 60 days, with a gap of
three days and two extra backups on one day. ctdump's choice comes from `ctdump prune --dry-run`
on a `dir` storage holding empty archives of those names; borg's from `borg prune --dry-run
--list` on a repository with one tiny archive per time (`borg create --timestamp`); restic's
from `restic forget --dry-run --json` on snapshots made with `restic backup --time`. All in UTC.
"""
import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

POLICIES = [
    "keep-last=3",
    "keep-daily=7",
    "keep-daily=7,keep-weekly=4",
    "keep-last=2,keep-daily=7,keep-weekly=4,keep-monthly=2",
    "keep-hourly=12,keep-daily=5",
]
END = dt.datetime(2026, 11, 30, 22, 0, 0, tzinfo=dt.timezone.utc)


def schedule():
    times = []
    t = END - dt.timedelta(days=60)
    while t <= END:
        if not (END - dt.timedelta(days=20) <= t < END - dt.timedelta(days=17)):  # a gap
            times.append(t)
        t += dt.timedelta(hours=8)
    day = END - dt.timedelta(days=5)
    times += [day.replace(hour=3, minute=30), day.replace(hour=4, minute=45)]
    return sorted(set(times))


def tool_args(policy, style):
    out = []
    for item in policy.split(","):
        k, v = item.split("=")
        name = k.replace("keep-", "")
        if style == "borg":
            out += ["--keep-" + {"last": "last"}.get(name, name), v]
        else:
            out += ["--keep-" + name, v]
    return out


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def ctdump_keeps(ctdump, work, times, policy):
    d = os.path.join(work, "dir")
    dump = os.path.join(d, "dump")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(dump)
    names = {}
    for t in times:
        n = "vzdump-lxc-101-%s.tar.zst" % t.strftime("%Y_%m_%d-%H_%M_%S")
        open(os.path.join(dump, n), "wb").close()
        names[n] = t
    cfg = os.path.join(work, "etc")
    os.makedirs(cfg, exist_ok=True)
    with open(os.path.join(cfg, "storage.cfg"), "w") as f:
        f.write("dir: r\n\tpath %s\n" % d)
    env = dict(os.environ, TZ="UTC", CTDUMP_LOG_DIR=os.path.join(work, "log"),
               CTDUMP_RUN_DIR=os.path.join(work, "run"), CTDUMP_STATE_DIR=os.path.join(work, "state"))
    r = subprocess.run([ctdump, "--config-dir", cfg, "--output-format", "json", "prune", "r", "101",
                        "--prune-backups", policy, "--dry-run"], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit("ctdump prune failed: " + r.stdout[-2000:] + r.stderr[-2000:])
    text = r.stdout
    removed = set(re.findall(r"vzdump-lxc-101-[0-9_-]+\.tar\.zst", " ".join(
        l for l in text.splitlines() if "remove" in l.lower())))
    if not removed:
        # the result event lists each backup with its fate
        for line in text.splitlines():
            ev = json.loads(line)
            if ev.get("event") == "result":
                for b in ev.get("data") or []:
                    if b.get("mark") == "remove":
                        removed.add(b["volid"].split("/")[-1])
    return {names[n] for n in names if n not in removed}


def borg_keeps(work, times, policy):
    repo = os.path.join(work, "borg")
    env = dict(os.environ, TZ="UTC", BORG_PASSPHRASE="", BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes",
               BORG_BASE_DIR=os.path.join(work, "borg-base"))
    if not os.path.isdir(repo):
        run(["borg", "init", "-e", "none", repo], env=env)
        src = os.path.join(work, "src")
        os.makedirs(src, exist_ok=True)
        open(os.path.join(src, "f"), "w").write("x")
        for t in times:
            run(["borg", "create", "--timestamp", t.strftime("%Y-%m-%dT%H:%M:%S"),
                 "%s::a-%s" % (repo, t.strftime("%Y%m%d%H%M%S")), "."], cwd=src, env=env)
    r = run(["borg", "prune", "--dry-run", "--list"] + tool_args(policy, "borg") + [repo], env=env)
    kept = set()
    for line in (r.stdout + r.stderr).splitlines():
        m = re.match(r"Keeping archive.*?a-(\d{14})", line)
        if m:
            kept.add(dt.datetime.strptime(m.group(1), "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone.utc))
    return kept


def restic_keeps(work, times, policy):
    repo = os.path.join(work, "restic")
    pw = os.path.join(work, "restic.pw")
    env = dict(os.environ, TZ="UTC", RESTIC_PASSWORD_FILE=pw, RESTIC_REPOSITORY=repo,
               RESTIC_CACHE_DIR=os.path.join(work, "restic-cache"))
    if not os.path.isdir(repo):
        open(pw, "w").write("x\n")
        run(["restic", "init"], env=env)
        src = os.path.join(work, "src")
        os.makedirs(src, exist_ok=True)
        open(os.path.join(src, "f"), "w").write("x")
        for t in times:
            run(["restic", "backup", "--host", "h", "--time", t.strftime("%Y-%m-%d %H:%M:%S"), src],
                env=env)
    r = run(["restic", "forget", "--dry-run", "--json"] + tool_args(policy, "restic"), env=env)
    kept = set()
    for group in json.loads(r.stdout):
        for s in group.get("keep") or []:
            t = dt.datetime.fromisoformat(s["time"].replace("Z", "+00:00")[:19])
            kept.add(t.replace(tzinfo=dt.timezone.utc))
    return kept


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctdump", default=os.path.join(os.path.dirname(__file__), "../../build/ctdump"))
    args = ap.parse_args()
    times = schedule()
    work = tempfile.mkdtemp(prefix="ctdump-retention.", dir="/var/tmp")
    try:
        print("%d backups, %s .. %s (UTC)\n" % (len(times), times[0], times[-1]))
        print("| prune-backups | ctdump keeps | borg prune keeps | restic forget keeps | differences |")
        print("|---|---:|---:|---:|---|")
        for policy in POLICIES:
            c = ctdump_keeps(os.path.abspath(args.ctdump), work, times, policy)
            b = borg_keeps(work, times, policy)
            r = restic_keeps(work, times, policy)
            diffs = []
            for name, other in (("borg", b), ("restic", r)):
                extra, missing = sorted(other - c), sorted(c - other)
                if extra or missing:
                    diffs.append("%s: +%s -%s" % (name, ",".join(t.strftime("%m-%d %H:%M") for t in extra) or "0",
                                                 ",".join(t.strftime("%m-%d %H:%M") for t in missing) or "0"))
            print("| `%s` | %d | %d | %d | %s |" % (policy, len(c), len(b), len(r),
                                                  "; ".join(diffs) or "same set"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
