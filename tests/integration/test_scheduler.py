"""Scheduled jobs on real containers (issue 11 items 1, 3, 4, 8): `ctdump job
list|show|run` and `ctdump scheduler` as a real process that lets a `minutely`
job fire for real, SIGTERM during a running job, a job process that dies, and
the notifications of jobs, received by a real HTTP server on 127.0.0.1 as a
webhook target of notifications.cfg.
"""
import base64
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import fcntl
import unittest

import harness
import json_events

# Every notification as one JSON object (proxmox-notify's template helpers).
BODY = ('{"title": {{ json title }}, "severity": {{ json severity }}, "type": {{ json fields.type }}, '
        '"hostname": {{ json fields.hostname }}, "message": {{ json message }}, '
        '"fields": {{ json fields }}}')


class Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.cond:
            self.server.received.append(json.loads(body))
            self.server.cond.notify_all()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Webhook:
    """An HTTP server on 127.0.0.1 (port from the kernel) keeping every notification."""

    def __init__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        self.server.received = []
        self.server.cond = threading.Condition()
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, pred, timeout=60):
        with self.server.cond:
            self.server.cond.wait_for(lambda: any(pred(n) for n in self.server.received), timeout)
            return [n for n in self.server.received if pred(n)]

    def all(self):
        with self.server.cond:
            return list(self.server.received)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class SchedulerTest(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        self.state = os.path.join(self.ws.dir, "state")
        self.hook = Webhook()
        with open(os.path.join(self.ws.config, "notifications.cfg"), "w") as f:
            f.write("webhook: hook\n\turl http://127.0.0.1:%d/notify\n\tmethod post\n\tbody %s\n\n"
                    "matcher: everything\n\ttarget hook\n"
                    % (self.hook.port, base64.b64encode(BODY.encode()).decode()))
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        # The tests' own cleanups (chattr -i of a state directory) before the
        # workspace goes: unittest would run them after tearDown, when the
        # removal of an immutable directory has already failed.
        self.doCleanups()
        self.hook.close()
        super().tearDown()

    def environ(self):
        e = self.ws.environ()
        e["CTDUMP_STATE_DIR"] = self.state
        return e

    def run_ctdump(self, *args, timeout=300):
        return subprocess.run(self.ws.cmd(*args), capture_output=True, text=True, errors="replace",
                              env=self.environ(), timeout=timeout, stdin=subprocess.DEVNULL)

    def start_scheduler(self, *extra):
        p = subprocess.Popen(self.ws.cmd("scheduler", *extra), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, errors="replace", env=self.environ(),
                             stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        return p

    def write_jobs(self, text):
        with open(os.path.join(self.ws.config, "jobs.cfg"), "w") as f:
            f.write(text)

    def job_state(self, key):
        path = os.path.join(self.state, "jobs", key + ".json")
        if not os.path.exists(path):
            return {}
        with open(path) as f:
            return json.load(f)

    def write_state(self, key, state):
        os.makedirs(os.path.join(self.state, "jobs"), exist_ok=True)
        with open(os.path.join(self.state, "jobs", key + ".json"), "w") as f:
            json.dump(state, f)

    def wait_for(self, pred, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                return
            time.sleep(0.2)
        self.fail("timed out waiting for " + what)

    def assertGlobalLockFree(self):
        lock = os.path.join(self.ws.run_dir, "ctdump.lock")
        r = subprocess.run(["flock", "-n", lock, "true"])
        self.assertEqual(r.returncode, 0, "the global job lock is still held")

    def stop(self, p, timeout=120):
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=timeout)
        return out, err

    # -- the scheduler lets a minutely job fire for real -------------------------------------

    def test_minutely_job_fires_and_sigterm_stops_the_scheduler(self):
        ct = self.env["CT_UNPRIV"]
        self.write_jobs("vzdump: every-minute\n\tschedule minutely\n\tvmid %s\n\tstorage test\n"
                        "\ttmpdir %s\n\n"
                        "vzdump: broken\n\tschedule minutely\n\tvmid %s\n\tfrobnicate 1\n"
                        % (ct, self.ws.tmp, ct))
        p = self.start_scheduler()
        started = time.time()
        # Fires at the first minute boundary after the scheduler saw the job.
        self.wait_for(lambda: self.job_state("vzdump-every-minute").get("result") == "ok"
                      or p.poll() is not None, 200, "the minutely job's first run")
        self.assertIsNone(p.poll(), "the scheduler exited")
        state = self.job_state("vzdump-every-minute")
        self.assertEqual(state["result"], "ok", state)
        self.assertNotIn("pid", state)
        self.assertGreaterEqual(state["last-start"], state["created"])
        self.assertLessEqual(state["last-start"] % 60, 2, "started at a minute boundary")
        self.assertLessEqual(state["last-start"], state["last-end"])
        self.assertLess(state["last-start"] - started, 62)
        print("\nminutely job: started %.1f s after the scheduler, ran %d s"
              % (state["last-start"] - started, state["last-end"] - state["last-start"]))
        self.assertEqual(len([b for b in self.ws.backups_of(ct) if not b.endswith(".failed")]), 1)
        # Its notification: one per job, info, type vzdump, with the job's id.
        sent = self.hook.wait(lambda n: n["type"] == "vzdump")
        self.assertEqual(sent[0]["severity"], "info")
        self.assertEqual(sent[0]["fields"]["job-id"], "every-minute")
        self.assertRegex(sent[0]["title"], r"^vzdump backup status \(.+\): backup successful$")
        self.assertIn("Total running time:", sent[0]["message"])
        self.assertIn(ct, sent[0]["message"])
        # The broken section was reported once (type system), naming file:line.
        system = self.hook.wait(lambda n: n["type"] == "system")
        self.assertEqual(len(system), 1)
        self.assertIn("jobs.cfg:10: unknown key 'frobnicate' in vzdump job 'broken'", system[0]["message"])
        self.assertEqual(system[0]["severity"], "error")
        # SIGTERM: a running job (if the next minute started one) is aborted; exit 0.
        out, err = self.stop(p)
        self.assertEqual(p.returncode, 0, err[-3000:])
        self.assertIn("INFO: starting vzdump job 'every-minute'", err)
        self.assertIn("INFO: ctdump scheduler stopped by signal", err)
        self.assertEqual(err.count("unknown key 'frobnicate'"), 1, "reported every minute")
        self.assertEqual(len([n for n in self.hook.all() if n["type"] == "system"]), 1)
        self.assertRunning(ct)
        self.assertGlobalLockFree()
        self.assertNoLeftovers()

    def test_sigterm_during_a_running_job(self):
        ct = self.env["CT_UNPRIV"]
        self.ws.write_storage({"test-hang": "backup_container"})
        # Missed while the scheduler was down, repeat-missed 1: runs at startup.
        self.write_jobs("vzdump: nightly\n\tschedule 02:00\n\tvmid %s\n\tstorage test\n\ttmpdir %s\n"
                        "\trepeat-missed 1\n" % (ct, self.ws.tmp))
        self.write_state("vzdump-nightly", {"created": int(time.time()) - 3 * 86400})
        # A job running longer than --warn-after is reported once (type system), not stopped.
        p = self.start_scheduler("--warn-after", "3")
        self.wait_for(lambda: harness.ct_state(ct) == "STOPPED" or p.poll() is not None, 60,
                      "the backup to stop the container")
        self.assertIsNone(p.poll(), "the scheduler exited")
        time.sleep(1.0)  # inside backup_container, hanging
        self.assertIn("pid", self.job_state("vzdump-nightly"))
        slow = self.hook.wait(lambda n: n["type"] == "system", 30)
        self.assertEqual(len(slow), 1, slow)
        self.assertEqual(slow[0]["severity"], "warning")
        self.assertEqual(slow[0]["fields"]["job-id"], "nightly")
        self.assertRegex(slow[0]["title"], r"job 'nightly' running for \d+s$")
        self.assertIn("It is not stopped", slow[0]["message"])
        self.assertEqual(harness.ct_state(ct), "STOPPED", "the job was stopped")
        self.assertNotIn("result", self.job_state("vzdump-nightly"), "the job ended")
        out, err = self.stop(p)
        self.assertEqual(p.returncode, 0, err[-3000:])
        self.assertIn("running a run missed while the scheduler was not running (repeat-missed 1)", err)
        self.assertIn("sending SIGTERM to job 'nightly'", err)
        self.assertIn("interrupted by signal", err)
        self.assertEqual(err.count("has been running for"), 1, err[-3000:])
        self.assertRunning(ct)
        self.assertGlobalLockFree()
        self.assertNoLeftovers()
        state = self.job_state("vzdump-nightly")
        self.assertEqual(state["result"], "error", state)
        self.assertNotIn("pid", state)

    def test_missed_run_is_skipped_without_repeat_missed(self):
        self.write_jobs("gc: nightly\n\tschedule 02:00\n\tstorage test\n")
        created = int(time.time()) - 3 * 86400
        self.write_state("gc-nightly", {"created": created})
        r = self.run_ctdump("scheduler", "--once")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("gc job 'nightly': a run was missed while the scheduler was not running; skipped "
                      "(repeat-missed 0)", r.stderr)
        state = self.job_state("gc-nightly")
        self.assertNotIn("last-start", state)
        self.assertGreaterEqual(state["last-skip"], created)
        self.assertEqual(self.hook.all(), [])

    def test_a_job_process_that_dies_is_recorded_and_the_scheduler_goes_on(self):
        ct = self.env["CT_UNPRIV"]
        self.ws.write_storage({"test-hang": "backup_container"})
        self.write_jobs("vzdump: nightly\n\tschedule 02:00\n\tvmid %s\n\tstorage test\n\ttmpdir %s\n"
                        "\trepeat-missed 1\n" % (ct, self.ws.tmp))
        self.write_state("vzdump-nightly", {"created": int(time.time()) - 86400 - 3600})
        p = self.start_scheduler()
        self.wait_for(lambda: "pid" in self.job_state("vzdump-nightly") or p.poll() is not None, 60,
                      "the job to start")
        child = self.job_state("vzdump-nightly")["pid"]
        self.wait_for(lambda: harness.ct_state(ct) == "STOPPED", 60, "the backup to stop the container")
        time.sleep(1.0)
        os.kill(child, signal.SIGKILL)
        self.wait_for(lambda: self.job_state("vzdump-nightly").get("result") == "error", 30,
                      "the scheduler to record the lost run")
        state = self.job_state("vzdump-nightly")
        self.assertIn("killed by signal 9", state["message"])
        self.assertNotIn("pid", state)
        sent = self.hook.wait(lambda n: n["type"] == "vzdump")
        self.assertEqual(sent[0]["severity"], "error")
        self.assertIn("killed by signal 9", sent[0]["message"])
        self.assertEqual(sent[0]["fields"]["job-id"], "nightly")
        self.assertIsNone(p.poll(), "the scheduler died with its job")
        out, err = self.stop(p)
        self.assertEqual(p.returncode, 0, err[-3000:])
        # The kernel dropped the dead job's locks.
        self.assertGlobalLockFree()

    # -- what "running" means, and a state that cannot be written -------------------------------

    def hold_job_lock(self, key):
        os.makedirs(self.ws.run_dir, exist_ok=True)
        f = open(os.path.join(self.ws.run_dir, "job-%s.lock" % key), "a+")
        self.addCleanup(f.close)
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return f

    def test_running_is_the_job_lock_not_a_reused_pid(self):
        self.write_jobs("gc: g\n\tstorage no-such-storage\n\tschedule 02:00\n")
        # After power loss the state names a pid that now belongs to another process (this one).
        started = int(time.time()) - 600
        self.write_state("gc-g", {"created": started - 86400, "last-start": started,
                                  "pid": os.getpid()})
        j = self.run_ctdump("--output-format", "json", "job", "list")
        self.assertEqual(j.returncode, 0, j.stderr)
        self.assertEqual(json_events.result(j.stdout)[0]["result"], "aborted")
        # The scheduler records the lost run (once) instead of skipping the job forever.
        r = self.run_ctdump("scheduler", "--once")
        self.assertEqual(r.returncode, 0, r.stderr)
        state = self.job_state("gc-g")
        self.assertEqual(state["result"], "error", state)
        self.assertIn("is gone without recording its end", state["message"])
        self.assertNotIn("pid", state)
        sent = self.hook.wait(lambda n: n["type"] == "gc")
        self.assertEqual((len(sent), sent[0]["severity"]), (1, "error"))
        # `job run` holds the job's lock: while it is held the job is running, and a second
        # `job run` is refused.
        lock = self.hold_job_lock("gc-g")
        j = self.run_ctdump("--output-format", "json", "job", "list")
        self.assertEqual(json_events.result(j.stdout)[0]["result"], "running")
        r = self.run_ctdump("job", "run", "g")
        self.assertEqual(r.returncode, 1)
        self.assertIn("job 'g' is already running", r.stderr)
        # The scheduler leaves a running job's state alone.
        before = self.job_state("gc-g")
        self.write_state("gc-g", dict(before, **{"last-start": int(time.time()), "pid": os.getpid()}))
        before = self.job_state("gc-g")
        r = self.run_ctdump("scheduler", "--once")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.job_state("gc-g"), before)
        fcntl.flock(lock, fcntl.LOCK_UN)
        r = self.run_ctdump("job", "run", "g")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertNotIn("already running", r.stderr)
        self.assertIn("storage 'no-such-storage' does not exist", self.job_state("gc-g")["message"])

    def test_a_state_that_cannot_be_written_does_not_run_the_job_every_minute(self):
        if not shutil.which("chattr"):
            self.skipTest("no chattr")
        self.write_jobs("gc: g\n\tstorage no-such-storage\n\tschedule 02:00\n\trepeat-missed 1\n")
        self.write_state("gc-g", {"created": int(time.time()) - 86400 - 3600})
        jobs_dir = os.path.join(self.state, "jobs")
        # Immutable: nothing can be created in it, not even by root (as on a full disk).
        subprocess.run(["chattr", "+i", jobs_dir], check=True)
        self.addCleanup(subprocess.run, ["chattr", "-i", jobs_dir])
        p = self.start_scheduler()
        self.hook.wait(lambda n: n["type"] == "gc", 60)
        # More passes (SIGHUP), each must not find the same occurrence due again.
        for _ in range(2):
            p.send_signal(signal.SIGHUP)
            time.sleep(2.0)
        out, err = self.stop(p)
        self.assertEqual(p.returncode, 0, err[-3000:])
        self.assertEqual(err.count("INFO: starting gc job 'g'"), 1, err[-3000:])
        self.assertEqual(len([n for n in self.hook.all() if n["type"] == "gc"]), 1)
        self.assertIn("cannot record the job's start", err)

    def test_a_future_last_start_does_not_suspend_the_job(self):
        # Written while the clock was a day ahead; 02:00 was due yesterday.
        now = int(time.time())
        self.write_jobs("gc: g\n\tstorage no-such-storage\n\tschedule 02:00\n")
        self.write_state("gc-g", {"created": now - 3 * 86400, "last-start": now + 86400,
                                  "last-end": now + 86400 + 5, "result": "ok"})
        r = self.run_ctdump("scheduler", "--once")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("gc job 'g': its state has times in the future", r.stderr)
        state = self.job_state("gc-g")
        self.assertLessEqual(state["last-start"], int(time.time()))
        j = self.run_ctdump("--output-format", "json", "job", "list")
        nxt = json_events.result(j.stdout)[0]["next-run"]
        self.assertLessEqual(nxt, int(time.time()) + 86400)

    def test_restore_test_containers_are_not_selected_by_all(self):
        # A restore test's throw-away container left behind (SIGKILL): all 1 leaves it out.
        left = os.path.join(self.env["LXCPATH"], "ctdump-rt-999999-0")
        if os.path.exists(left):
            self.skipTest("a real leftover exists")
        os.makedirs(left)
        self.addCleanup(shutil.rmtree, left, True)
        with open(os.path.join(left, "config"), "w") as f:
            f.write("lxc.uts.name = ctdump-rt-999999-0\n")
        store = os.path.join(self.ws.dir, "ds")
        os.makedirs(store)
        with open(os.path.join(self.ws.config, "storage.cfg"), "a") as f:
            f.write("\ndatastore: ds\n\tpath %s\n" % store)
        self.write_jobs("restore-test: rt\n\tstorage ds\n\tall 1\n")
        r = self.run_ctdump("job", "run", "rt")
        self.assertNotIn("ctdump-rt-999999-0", r.stderr)

    def test_sighup_reads_jobs_cfg_at_once(self):
        self.write_jobs("")
        p = self.start_scheduler()
        pidfile = os.path.join(self.ws.run_dir, "scheduler.pid")
        self.wait_for(lambda: os.path.exists(pidfile), 20, "the scheduler to start")
        time.sleep(0.5)
        # Due since yesterday; not the scheduler's first pass, so not "missed": it runs.
        self.write_jobs("gc: g\n\tstorage no-such-storage\n\tschedule 02:00\n")
        self.write_state("gc-g", {"created": int(time.time()) - 86400 - 3600})
        p.send_signal(signal.SIGHUP)
        self.wait_for(lambda: self.job_state("gc-g").get("result") == "error", 20, "the job after SIGHUP")
        self.assertIn("storage 'no-such-storage' does not exist", self.job_state("gc-g")["message"])
        sent = self.hook.wait(lambda n: n["type"] == "gc")
        self.assertEqual((sent[0]["severity"], sent[0]["title"]),
                         ("error", "Garbage Collect Datastore 'no-such-storage' failed"))
        self.assertIn("storage 'no-such-storage' does not exist", sent[0]["message"])
        out, err = self.stop(p)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("SIGHUP: reading jobs.cfg again", err)
        self.assertIn("INFO: starting gc job 'g'", err)

    def test_sighup_during_a_job_reads_jobs_cfg_before_the_next_job(self):
        ct = self.env["CT_UNPRIV"]
        hook = os.path.join(self.ws.dir, "slow-hook.sh")
        with open(hook, "w") as f:
            f.write('#!/bin/sh\nif [ "$1" = job-init ]; then sleep 4; exit 1; fi\nexit 0\n')
        os.chmod(hook, 0o755)
        slow = ("vzdump: slow\n\tschedule 02:00\n\tvmid %s\n\tstorage test\n\tscript %s\n"
                "\trepeat-missed 1\n" % (ct, hook))
        self.write_jobs(slow)
        self.write_state("vzdump-slow", {"created": int(time.time()) - 86400 - 3600})
        p = self.start_scheduler()
        self.wait_for(lambda: "pid" in self.job_state("vzdump-slow") or p.poll() is not None, 30,
                      "the slow job to start")
        # While it runs: a new job, due, and SIGHUP. It runs right after the slow one, in the
        # same pass, not at the next minute.
        self.write_jobs(slow + "\ngc: g\n\tstorage no-such-storage\n\tschedule 02:00\n"
                        "\trepeat-missed 1\n")
        self.write_state("gc-g", {"created": int(time.time()) - 86400 - 3600})
        p.send_signal(signal.SIGHUP)
        self.wait_for(lambda: self.job_state("gc-g").get("result") == "error", 70, "the new job")
        first, then = self.job_state("vzdump-slow"), self.job_state("gc-g")
        self.assertEqual(first["result"], "error", first)
        self.assertLessEqual(then["last-start"] - first["last-end"], 2, (first, then))
        out, err = self.stop(p)
        self.assertEqual(p.returncode, 0, err[-3000:])
        self.assertIn("SIGHUP: jobs.cfg is read again before the next job", err)

    def test_second_scheduler_is_refused(self):
        self.write_jobs("")
        p = self.start_scheduler()
        pidfile = os.path.join(self.ws.run_dir, "scheduler.pid")
        def pid_written():
            if not os.path.exists(pidfile):
                return False
            with open(pidfile) as f:
                return f.read().strip() != ""
        self.wait_for(pid_written, 20, "the first scheduler's pid file")
        r = self.run_ctdump("scheduler", "--once")
        self.assertEqual(r.returncode, 1)
        self.assertIn("another scheduler is running", r.stderr)
        self.assertIn(str(p.pid), r.stderr)
        out, err = self.stop(p)
        self.assertEqual(p.returncode, 0, err)

    # -- job run / list / show ------------------------------------------------------------------

    def test_job_run_of_a_failing_job_exits_1_and_notifies(self):
        self.write_jobs("vzdump: ghost\n\tschedule daily\n\tvmid no-such-ct\n\tstorage test\n\ttmpdir %s\n"
                        "\tenabled 0\n" % self.ws.tmp)
        r = self.run_ctdump("job", "run", "ghost")
        self.assertEqual(r.returncode, 1, r.stderr)
        sent = self.hook.wait(lambda n: n["type"] == "vzdump")
        self.assertEqual(len(sent), 1)
        n = sent[0]
        self.assertEqual(n["severity"], "error")
        self.assertRegex(n["title"], r"^vzdump backup status \(.+\): backup failed$")
        self.assertEqual(n["fields"]["job-id"], "ghost")
        self.assertIn("no-such-ct: ", n["message"])
        self.assertIn("VMID", n["message"])
        state = self.job_state("vzdump-ghost")
        self.assertEqual(state["result"], "error")
        self.assertIn("no-such-ct", state["message"])
        show = self.run_ctdump("job", "show", "ghost")
        self.assertEqual(show.returncode, 0, show.stderr)
        self.assertIn("vzdump: ghost\n\tschedule daily\n", show.stdout)
        self.assertRegex(show.stdout, r"result\s+error\n")

    def test_a_job_that_selects_nothing_fails_and_notifies(self):
        a, b = self.env["CT_PRIV"], self.env["CT_UNPRIV"]
        others = [c for c in os.listdir(self.env["LXCPATH"])
                  if os.path.exists(os.path.join(self.env["LXCPATH"], c, "config"))]
        self.write_jobs("vzdump: nothing\n\tschedule daily\n\tall 1\n\texclude %s\n\tstorage test\n"
                        % ",".join(sorted(set(others + [a, b]))))
        r = self.run_ctdump("job", "run", "nothing")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("is excluded: nothing to back up", r.stderr)
        sent = self.hook.wait(lambda n: n["type"] == "vzdump")
        self.assertEqual(sent[0]["severity"], "error")
        self.assertIn("nothing to back up", sent[0]["message"])

    def test_backup_command_mailto_uses_sendmail(self):
        # vzdump's legacy mail: --mailto goes to sendmail (a recording script), not the matchers.
        ct = self.env["CT_UNPRIV"]
        mails = os.path.join(self.ws.dir, "mails")
        sendmail = os.path.join(self.ws.dir, "sendmail")
        with open(sendmail, "w") as f:
            f.write('#!/bin/sh\n{ echo "ARGS: $*"; cat; } >> %s\n' % mails)
        os.chmod(sendmail, 0o755)
        env = self.environ()
        env["CTDUMP_SENDMAIL"] = sendmail
        r = subprocess.run(self.ws.cmd("backup", ct, "--storage", "test", "--tmpdir", self.ws.tmp,
                                       "--mailto", "admin@example.com,ops@example.com"),
                           capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300)
        self.assertOk(r)
        with open(mails) as f:
            mail = f.read()
        self.assertIn("admin@example.com", mail)
        self.assertIn("ops@example.com", mail)
        self.assertIn("backup successful", mail)
        self.assertEqual(self.hook.all(), [], "mailto mode must not use the notification system")
        # mailnotification failure: nothing on success.
        os.unlink(mails)
        time.sleep(1.1)  # archive names have one-second resolution
        r = subprocess.run(self.ws.cmd("backup", ct, "--storage", "test", "--tmpdir", self.ws.tmp,
                                       "--mailto", "admin@example.com", "--mailnotification", "failure"),
                           capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=300)
        self.assertOk(r)
        self.assertFalse(os.path.exists(mails))

    def test_job_list_shows_broken_sections_and_the_good_jobs(self):
        self.write_jobs("vzdump: good\n\tschedule sat 02:00\n\tall 1\n\tstorage test\n\n"
                        "vzdump: typo\n\tschedule daily\n\tall 1\n\tstorrage test\n\n"
                        "gc: badtime\n\tstorage test\n\tschedule mon..fri 25:61\n\n"
                        "verify: v\n\tstorage test\n\tenabled 0\n\tschedule hourly\n")
        cfg = os.path.join(self.ws.config, "jobs.cfg")
        r = self.run_ctdump("job", "list")
        self.assertEqual(r.returncode, 1)
        self.assertIn("ERROR: %s:9: unknown key 'storrage' in vzdump job 'typo'" % cfg, r.stderr)
        self.assertIn("ERROR: %s:13: schedule: invalid calendar event 'mon..fri 25:61'" % cfg, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "TYPE", "SCHEDULE", "ENABLED", "NEXT-RUN", "LAST-RUN",
                                            "RESULT"])
        self.assertRegex(lines[1], r"^good\s+vzdump\s+sat 02:00\s+1\s+\d{4}-\d\d-\d\d 02:00:00\s+-\s+-$")
        self.assertRegex(lines[2], r"^v\s+verify\s+hourly\s+0\s+-\s+-\s+-$")
        self.assertEqual(len(lines), 3)
        j = self.run_ctdump("--output-format", "json", "job", "list")
        self.assertEqual(j.returncode, 1)
        jobs = json_events.result(j.stdout)
        self.assertEqual([x["id"] for x in jobs], ["good", "v"])
        good = jobs[0]
        self.assertEqual((good["type"], good["schedule"], good["enabled"], good["storage"], good["all"]),
                         ("vzdump", "sat 02:00", 1, "test", "1"))
        self.assertIsInstance(good["next-run"], int)
        self.assertGreater(good["next-run"], time.time())
        self.assertLessEqual(good["next-run"], time.time() + 7 * 86400)
        self.assertEqual(time.localtime(good["next-run"]).tm_wday, 5)
        self.assertNotIn("next-run", jobs[1])
        # A broken job cannot be run.
        r = self.run_ctdump("job", "run", "typo")
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown key 'storrage'", r.stderr)
        self.assertIn("no job 'typo' in %s" % cfg, r.stderr)

    def test_verify_gc_and_restore_test_jobs_notify(self):
        ct = self.env["CT_UNPRIV"]
        store = os.path.join(self.ws.dir, "ds")
        os.makedirs(store)
        with open(os.path.join(self.ws.config, "storage.cfg"), "a") as f:
            f.write("\ndatastore: ds\n\tpath %s\n" % store)
        self.assertOk(self.ws.run("backup", ct, "--storage", "ds", "--tmpdir", self.ws.tmp))
        self.write_jobs("verify: v\n\tstorage ds\n\tignore-verified 1\n\tschedule sat 04:00\n\n"
                        "gc: g\n\tstorage ds\n\n"
                        "restore-test: rt\n\tstorage ds\n\tvmid %s\n\tcheck test -d /etc\n\n"
                        "restore-test: none\n\tstorage ds\n\tvmid %s\n" % (ct, self.env["CT_PRIV"]))
        expected = {"v": ("verify", "Verify Datastore 'ds' successful"),
                    "g": ("gc", "Garbage Collect Datastore 'ds' successful")}
        for job, (kind, title) in expected.items():
            r = self.run_ctdump("job", "run", job)
            self.assertEqual(r.returncode, 0, r.stderr[-3000:])
            sent = self.hook.wait(lambda n, kind=kind: n["type"] == kind)
            self.assertEqual(len(sent), 1, sent)
            self.assertEqual((sent[0]["severity"], sent[0]["title"], sent[0]["fields"]["job-id"]),
                             ("info", title, job))
            self.assertEqual(sent[0]["fields"]["datastore"], "ds")  # as PBS's
            self.assertIn("Logs", sent[0]["message"])
            self.assertEqual(self.job_state("%s-%s" % (kind, job))["result"], "ok")
        r = self.run_ctdump("job", "run", "rt", timeout=900)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        sent = self.hook.wait(lambda n: n["type"] == "restore-test")
        self.assertEqual(sent[0]["severity"], "info")
        self.assertRegex(sent[0]["title"], r"^restore test \(.+\): job 'rt' successful$")
        self.assertIn("ds:", sent[0]["message"])
        # A container without a backup on the storage fails the job.
        r = self.run_ctdump("job", "run", "none")
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        self.assertIn("no backup of container '%s' on storage 'ds'" % self.env["CT_PRIV"], r.stderr)
        sent = self.hook.wait(lambda n: n["type"] == "restore-test" and n["severity"] == "error")
        self.assertIn("no backup of container", sent[0]["message"])
        self.assertEqual(self.job_state("restore-test-none")["result"], "error")
        self.assertGlobalLockFree()

    # -- the systemd unit ---------------------------------------------------------------------

    def test_unit_file_starts_an_existing_subcommand(self):
        # Configured by CMake with the install prefix: it starts the binary `ninja install` puts
        # there and names the operations.md installed beside it.
        build = os.path.dirname(harness.BIN)
        unit = os.path.join(build, "packaging/systemd/ctdump-scheduler.service")
        with open(unit) as f:
            text = f.read()
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", f.read(), re.M).group(1)
        m = re.search(r"^ExecStart=(\S+) (.*)$", text, re.M)
        self.assertIsNotNone(m)
        self.assertEqual(m.group(1), prefix + "/sbin/ctdump")
        self.assertIn("\nDocumentation=file://%s/share/doc/ctdump/operations.md\n" % prefix, text)
        self.assertNotIn("@", text)
        self.assertEqual(m.group(2), "scheduler")
        self.assertIn("\nType=simple\n", text)
        r = subprocess.run([harness.BIN] + m.group(2).split() + ["--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("--once", r.stdout)
        analyze = shutil.which("systemd-analyze")
        if analyze:
            d = tempfile.mkdtemp(prefix="ctdump-unit.")
            try:
                copy = os.path.join(d, "ctdump-scheduler.service")
                with open(copy, "w") as f:
                    f.write(text.replace(prefix + "/sbin/ctdump", harness.BIN))
                r = subprocess.run([analyze, "verify", copy], capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertNotIn("ctdump-scheduler.service:", r.stderr)
            finally:
                shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
