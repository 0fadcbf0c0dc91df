"""`ctdump restore-test` on the real containers: backups on the `dir` storage,
the built-in datastore and the example provider (both restore mechanisms)
restored into a throw-away container, started, checked and destroyed; a check
that fails, a damaged backup, SIGTERM and SIGKILL: nothing is left behind."""
import glob
import json
import os
import signal
import subprocess
import time
import unittest

import harness

PREFIX = "ctdump-rt-"


class RestoreTestTest(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        self.store = os.path.join(self.ws.dir, "ds")
        os.makedirs(self.store)
        os.makedirs(os.path.join(self.ws.target, "dump"))
        self.provider = os.path.join(self.ws.dir, "prov")
        os.makedirs(self.provider)
        self.write_cfg()

    def tearDown(self):
        # Whatever a failed test left: stopped and removed, then reported.
        left = self.leftovers()
        for name in self.rt_containers():
            subprocess.run(["lxc-stop", "-P", self.env["LXCPATH"], "-n", name, "-k"], capture_output=True,
                           stdin=subprocess.DEVNULL)
            subprocess.run(["lxc-destroy", "-P", self.env["LXCPATH"], "-n", name], capture_output=True,
                           stdin=subprocess.DEVNULL)
        super().tearDown()
        self.assertEqual(left, [], "restore test containers left behind")

    def write_cfg(self, mechanism="tar"):
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("dir: local\n\tpath %s\n" % self.ws.target)
            f.write("datastore: ds\n\tpath %s\n" % self.store)
            f.write("provider: ext\n\tcommand %s\n\tpath %s\n\trestore-mechanism %s\n"
                    % (harness.EXAMPLE, self.provider, mechanism))

    # --- helpers ---------------------------------------------------------

    def rt_containers(self):
        return sorted(x for x in os.listdir(self.env["LXCPATH"]) if x.startswith(PREFIX))

    def leftovers(self):
        """Everything of a restore test that could stay: the container
        directory, its journal, mounts, cgroups, processes' containers, lock
        files (ctdump's and liblxc's)."""
        left = ["lxcpath: " + x for x in self.rt_containers()]
        left += ["journal: " + x for x in glob.glob(os.path.join(self.ws.journal_dir, "restore-*"))]
        left += ["restore lock: " + x for x in glob.glob(os.path.join(self.ws.run_dir, "lock", "lxc-" + PREFIX + "*"))]
        left += ["lxc lock: " + x for x in glob.glob("/run/lxc/lock/%s/.%s*" % (self.env["LXCPATH"], PREFIX))]
        with open("/proc/self/mountinfo") as f:
            left += ["mount: " + l.strip() for l in f if PREFIX in l]
        for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/freezer"):
            if os.path.isdir(root):
                left += ["cgroup: " + x for x in os.listdir(root) if PREFIX in x]
        return left

    def assertNothingLeft(self):
        self.assertEqual(self.leftovers(), [])

    def backup(self, ct, storage, *extra):
        r = self.ws.run("backup", ct, "--storage", storage, "--tmpdir", self.ws.tmp, *extra)
        self.assertOk(r)
        r = self.ws.run("list", storage, "--vmid", ct)
        self.assertOk(r)
        volids = [l.split()[0] for l in r.stdout.splitlines() if l.startswith(storage + ":")]
        self.assertEqual(len(volids), 1, r.stdout)
        return volids[0]

    def restore_test(self, volid, *extra, timeout=600):
        """Runs it with JSON output; returns (exit code, the result event,
        the log messages)."""
        r = self.ws.run("--output-format", "json", "restore-test", volid, *extra, timeout=timeout)
        events = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
        # The result event (docs/json-events.md): its data with its "ok".
        ends = [dict(e["data"], ok=e["ok"]) for e in events
                if e["event"] == "result" and e["command"] == "restore-test"]
        self.assertEqual(len(ends), 1, r.stdout[-3000:] + r.stderr[-3000:])
        self.assertEqual(events[-1]["event"], "result")
        log = [e["message"] for e in events if e["event"] == "log"]
        return r.returncode, ends[0], log

    def assertPassed(self, code, end, log):
        self.assertEqual((code, end["ok"]), (0, True), "\n".join(log[-40:]))
        self.assertEqual([p["phase"] for p in end["phases"]],
                         ["restore", "compare", "start", "init", "check", "destroy"])
        self.assertTrue(all(p["ok"] and p["seconds"] >= 0 for p in end["phases"]))
        self.assertTrue(end["cleaned"])
        self.assertGreater(end["compare"]["entries"], 1000)
        self.assertEqual(end["compare"]["files-sampled"], 64)
        self.assertEqual(end["compare"]["mismatches"], 0)
        self.assertTrue(end["container"].startswith(PREFIX))
        # A map of root's subordinate ids other than the original's (100000).
        self.assertNotIn(" 100000 ", end["idmap"])
        self.assertTrue(any(m.startswith("timings: restore ") and "total" in m for m in log), log)
        print("\n%s: restore-test %.1f s (%s)" % (end["volume"], end["total-seconds"],
              ", ".join("%s %.2f s" % (p["phase"], p["seconds"]) for p in end["phases"])))

    def start(self, volid, *extra):
        return self.ws.start("restore-test", volid, *extra)

    def wait_for(self, predicate, p, what, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate():
                return
            if p.poll() is not None:
                self.fail("restore-test ended before %s:\n%s" % (what, p.stderr.read()[-3000:]))
            time.sleep(0.02)
        self.fail("timed out waiting for " + what)

    def marker_exists(self):
        return bool(glob.glob(os.path.join(self.env["LXCPATH"], PREFIX + "*", "rootfs", "rt-marker")))

    # --- tests -----------------------------------------------------------

    def test_passes_on_dir_datastore_and_provider_backups(self):
        ct = self.env["CT_UNPRIV"]
        volids = [self.backup(ct, "local"), self.backup(ct, "ds"), self.backup(ct, "ext")]
        for volid in volids:
            with self.subTest(volid=volid):
                self.assertPassed(*self.restore_test(volid))
                self.assertNothingLeft()
        # The example provider's directory mechanism.
        self.write_cfg("directory")
        self.assertPassed(*self.restore_test(volids[2]))
        self.assertNothingLeft()
        # The source is untouched.
        self.assertRunning(ct)

    def test_privileged_backup_is_tested_unprivileged(self):
        volid = self.backup(self.env["CT_PRIV"], "local")
        code, end, log = self.restore_test(volid, "--check", "cat /proc/self/uid_map")
        self.assertPassed(code, end, log)
        # Container root is not host root.
        self.assertRegex(end["check-output"], r"^\s*0\s+[1-9]\d*\s+65536\s*$")
        self.assertNothingLeft()

    def test_text_output_logs_each_phase_with_its_time(self):
        volid = self.backup(self.env["CT_UNPRIV"], "ds")
        r = self.ws.run("restore-test", volid)
        self.assertOk(r)
        for needle in ("INFO: starting restore test of '%s'" % volid, "INFO: restore finished (",
                       "INFO: compared ", "INFO: container started (", "INFO: init ready: RUNNING",
                       "INFO: check passed (", "INFO: destroyed container '" + PREFIX,
                       "INFO: restore test of '%s' passed (" % volid, "INFO: timings: restore "):
            self.assertIn(needle, r.stderr)
        self.assertNothingLeft()

    def test_a_failing_check_fails_the_test_and_is_reported(self):
        volid = self.backup(self.env["CT_UNPRIV"], "ds")
        code, end, log = self.restore_test(volid, "--check", "echo 'boom from inside'; exit 3")
        self.assertEqual(code, 1)
        self.assertFalse(end["ok"])
        self.assertEqual(end["failed-phase"], "check")
        self.assertEqual(end["check-exit"], 3)
        self.assertEqual(end["check-output"], "boom from inside\n")
        self.assertIn("check command exited with 3", end["error"])
        self.assertTrue(end["cleaned"])
        self.assertEqual(end["phases"][-1]["phase"], "destroy")
        self.assertIn("check: boom from inside", log)
        self.assertNothingLeft()

    def test_a_check_that_does_not_finish_times_out(self):
        volid = self.backup(self.env["CT_UNPRIV"], "ds")
        t = time.time()
        code, end, log = self.restore_test(volid, "--check", "sleep 600", "--timeout", "2")
        self.assertEqual(code, 1)
        self.assertEqual(end["failed-phase"], "check")
        self.assertIn("did not finish within 2 s", end["error"])
        self.assertLess(time.time() - t, 120)
        self.assertNothingLeft()

    def test_the_container_has_no_network_and_its_own_id_map(self):
        ct = self.env["CT_UNPRIV"]
        # The source gets a veth interface for the backup: the backup's config
        # has a network the test container must not get.
        with harness.extra_config(ct, "lxc.net.1.type = veth\nlxc.net.1.name = eth7\nlxc.net.1.flags = up"):
            volid = self.backup(ct, "ds")
        harness.ensure_running(ct)
        code, end, log = self.restore_test(volid, "--check", "ls /sys/class/net; cat /proc/self/uid_map")
        self.assertPassed(code, end, log)
        lines = end["check-output"].split("\n")
        self.assertEqual(lines[0], "lo")
        self.assertRegex(lines[1], r"^\s*0\s+\d+\s+65536$")
        self.assertNotRegex(lines[1], r"\s100000\s")
        # ... and a check that looks for the backed-up interface fails.
        code, end, log = self.restore_test(volid, "--check", "test -e /sys/class/net/eth7")
        self.assertEqual((code, end["failed-phase"], end["check-exit"]), (1, "check", 1))
        self.assertNothingLeft()

    def test_a_damaged_dir_archive_fails(self):
        volid = self.backup(self.env["CT_UNPRIV"], "local")
        [archive] = glob.glob(os.path.join(self.ws.target, "dump", "*.tar.zst"))
        with open(archive, "r+b") as f:
            f.seek(os.path.getsize(archive) // 2)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0xFF]))
        code, end, log = self.restore_test(volid)
        self.assertEqual(code, 1)
        self.assertFalse(end["ok"])
        self.assertIn(end["failed-phase"], ("restore", "compare"))
        self.assertTrue(end["cleaned"])
        self.assertNothingLeft()

    def test_a_damaged_datastore_chunk_fails(self):
        volid = self.backup(self.env["CT_UNPRIV"], "ds")
        chunks = sorted(glob.glob(os.path.join(self.store, "chunks", "*", "*")), key=os.path.getsize)
        self.assertGreater(len(chunks), 10)
        victim = chunks[-1]
        with open(victim, "r+b") as f:
            f.seek(os.path.getsize(victim) // 2)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0xFF]))
        code, end, log = self.restore_test(volid)
        self.assertEqual(code, 1)
        self.assertEqual(end["failed-phase"], "restore")
        self.assertIn(os.path.basename(victim), end["error"])
        self.assertNothingLeft()

    def test_sigterm_during_the_restore_and_during_the_check_leaves_nothing(self):
        volid = self.backup(self.env["CT_UNPRIV"], "local")

        def extracting():
            # The extraction has begun (it takes seconds on the test container).
            return bool(glob.glob(os.path.join(self.env["LXCPATH"], PREFIX + "*", "rootfs", "etc")))

        for what, args, ready in (("restore", (), extracting),
                                  ("check", ("--check", "touch /rt-marker; sleep 600"), self.marker_exists)):
            with self.subTest(during=what):
                p = self.start(volid, *args)
                self.wait_for(ready, p, what)
                os.killpg(p.pid, signal.SIGTERM)
                _, err = p.communicate(timeout=120)
                self.assertEqual(p.returncode, 1, err[-3000:])
                self.assertIn("FAILED in phase %s" % what, err)
                self.assertIn("interrupted by signal", err)
                self.assertNothingLeft()

    def test_sigkill_leaves_what_ctdump_cleanup_removes(self):
        volid = self.backup(self.env["CT_UNPRIV"], "ds")
        p = self.start(volid, "--check", "touch /rt-marker; sleep 600")
        self.wait_for(self.marker_exists, p, "the check")
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate(timeout=60)
        [name] = self.rt_containers()
        self.assertEqual(harness.ct_state(name), "RUNNING")
        r = self.ws.run("cleanup")
        self.assertOk(r)
        self.assertIn("stopping container '%s' of interrupted restore test" % name, r.stderr)
        self.assertIn("removed 1 interrupted restore(s)", r.stderr)
        self.assertNothingLeft()

    def test_bad_input(self):
        r = self.ws.run("restore-test", "nocolon")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("is not of the form <storage>:<volname>", r.stderr)
        r = self.ws.run("restore-test", "ds:ct/nothing/2026-01-01T00_00_00Z")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("FAILED in phase restore", r.stderr)
        r = self.ws.run("restore-test", "nosuch:x")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertNothingLeft()


if __name__ == "__main__":
    unittest.main()
