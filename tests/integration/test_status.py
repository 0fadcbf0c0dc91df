"""`ctdump status` as a monitoring check and verify's skipping of recently
verified backups, on the real containers: a backup recorded in the guest
state makes status OK (exit 0) with the backup's volume, age, size and the
last job; a tiny --max-age and a job whose storage fails make it CRITICAL
(exit 2) with the reason; verify --ignore-verified skips what it verified."""
import json
import os
import shutil
import subprocess
import time

import harness
import json_events


class StatusWorkspace(harness.Workspace):
    """A workspace with its own state dir (guest records) and a datastore."""

    def __init__(self):
        super().__init__()
        self.state = os.path.join(self.dir, "state")
        self.store = os.path.join(self.dir, "ds")
        os.makedirs(self.store)
        with open(os.path.join(self.config, "storage.cfg"), "a") as f:
            f.write("\ndatastore: ds\n\tpath %s\n" % self.store)

    def environ(self):
        e = super().environ()
        e["CTDUMP_STATE_DIR"] = self.state
        return e

    def add_broken_storage(self):
        with open(os.path.join(self.config, "storage.cfg"), "a") as f:
            f.write("\nprovider: broken\n\tcommand %s\n" % os.path.join(self.dir, "no-such-provider"))


class StatusTest(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        self.ws.cleanup()
        self.ws = StatusWorkspace()
        self.ct = self.env["CT_UNPRIV"]

    # The test container holds a file its root cannot read (a tar warning):
    # left out here, so that the job has no warnings.
    UNREADABLE = "/srv/tricky/hostroot.txt"

    def backup(self, storage="test"):
        return self.ws.run("backup", self.ct, "--storage", storage, "--tmpdir", self.ws.tmp,
                           "--exclude-path", self.UNREADABLE)

    def status(self, *args):
        return self.ws.run("--output-format", "json", "status", *args)

    def status_json(self, *args, rc):
        r = self.status(*args)
        if rc is not None:
            self.assertEqual(r.returncode, rc, "stdout:\n%s\nstderr:\n%s" % (r.stdout, r.stderr[-3000:]))
        return json_events.result(r.stdout)

    def record(self, ct):
        with open(os.path.join(self.ws.state, "guests", ct + ".json")) as f:
            return json.load(f)

    def test_backup_makes_status_ok_tiny_max_age_critical(self):
        before = int(time.time())
        self.assertOk(self.backup())
        rec = self.record(self.ct)
        self.assertEqual(rec["result"], "ok")
        self.assertEqual(rec["storage"], "test")
        self.assertGreaterEqual(rec["time"], before)

        out = self.status_json(self.ct, rc=0)
        self.assertEqual(out["state"], "OK")
        self.assertEqual(out["exit"], 0)
        self.assertEqual(out["summary"], "CTDUMP OK - 1 container backed up within 26h")
        self.assertEqual(out["max-age"], 26 * 3600)
        self.assertEqual(len(out["containers"]), 1)
        c = out["containers"][0]
        self.assertEqual(c["vmid"], self.ct)
        self.assertTrue(c["configured"])
        self.assertEqual(c["reasons"], [])
        newest = c["newest"]
        self.assertEqual(newest["storage"], "test")
        self.assertTrue(newest["volid"].startswith("test:"), newest)
        self.assertLess(abs(newest["ctime"] - before), 120)
        self.assertGreaterEqual(newest["age"], 0)
        self.assertLess(newest["age"], 600)
        self.assertGreater(newest["size"], 0)
        self.assertEqual(c["last-job"]["result"], "ok")
        self.assertEqual(c["last-job"]["storage"], "test")
        self.assertIsNotNone(c["last-job"]["size"])
        storages = {s["id"]: s for s in out["storages"]}
        self.assertTrue(storages["test"]["ok"])
        self.assertTrue(storages["ds"]["ok"])

        # The text form: the Nagios line first, then the table.
        r = self.ws.run("status", self.ct)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "CTDUMP OK - 1 container backed up within 26h")
        self.assertTrue(any(line.startswith(self.ct) and newest["volid"] in line for line in lines), r.stdout)

        # Older than a tiny max-age: critical, saying why.
        time.sleep(2)
        out = self.status_json(self.ct, "--max-age", "1s", rc=2)
        self.assertEqual(out["state"], "CRITICAL")
        self.assertTrue(out["summary"].startswith("CTDUMP CRITICAL - 1 of 1 container not ok: %s: no backup "
                                                  "within 1s" % self.ct), out["summary"])
        r = self.ws.run("status", self.ct, "--max-age", "1s")
        self.assertEqual(r.returncode, 2)
        self.assertTrue(r.stdout.startswith("CTDUMP CRITICAL - "), r.stdout)
        # Only the datastore (which has no backup of it): critical too.
        out = self.status_json(self.ct, "--storage", "ds", rc=2)
        self.assertEqual(out["containers"][0]["reasons"], ["no backup on storage 'ds'"])
        # A bad duration: UNKNOWN (3), naming it.
        r = self.ws.run("status", "--max-age", "36")
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("invalid duration '36'", r.stdout)

    def test_every_container_and_one_without_backup_is_critical(self):
        self.assertOk(self.backup())
        out = self.status_json(rc=2)
        by = {c["vmid"]: c for c in out["containers"]}
        self.assertEqual(by[self.ct]["state"], "OK")
        other = by[self.env["CT_PRIV"]]
        self.assertEqual(other["state"], "CRITICAL")
        self.assertEqual(other["reasons"], ["no backup on any storage"])
        self.assertIsNone(other["newest"])
        # A restore test's throw-away container is not checked.
        throwaway = os.path.join(self.env["LXCPATH"], "ctdump-rt-0-0")
        os.makedirs(throwaway)
        try:
            open(os.path.join(throwaway, "config"), "w").close()
            out = self.status_json(rc=2)
            self.assertNotIn("ctdump-rt-0-0", {c["vmid"] for c in out["containers"]})
        finally:
            shutil.rmtree(throwaway)
        # Left out with --exclude (a PVE list): the rest decides.
        out = self.status_json("--exclude", "%s,no-such-ct" % self.env["CT_PRIV"], rc=None)
        self.assertNotIn(self.env["CT_PRIV"], {c["vmid"] for c in out["containers"]})
        self.assertIn(self.ct, {c["vmid"] for c in out["containers"]})
        if {c["vmid"] for c in out["containers"]} == {self.ct}:  # no other test's container around
            self.assertEqual(out["state"], "OK", out["summary"])

    def test_job_with_warnings_is_a_warning(self):
        r = self.ws.backup(self.ct)  # reads the unreadable file: tar warns
        self.assertOk(r)
        warns = [line for line in r.stderr.splitlines() if line.startswith("WARN:")]
        self.assertTrue(any(self.UNREADABLE in w for w in warns), r.stderr[-3000:])
        rec = self.record(self.ct)
        self.assertEqual(rec["result"], "warning")
        self.assertEqual(rec["warnings"], len(warns))
        out = self.status_json(self.ct, rc=1)
        self.assertEqual(out["state"], "WARNING")
        self.assertEqual(out["containers"][0]["last-job"]["warnings"], len(warns))
        self.assertTrue(out["containers"][0]["reasons"][0].startswith(
            "last backup job had %d warning(s)" % len(warns)), out["containers"][0]["reasons"])
        self.assertTrue(out["summary"].startswith("CTDUMP WARNING - 1 of 1 container not ok: "), out["summary"])

    def test_failed_job_is_critical_with_its_error(self):
        self.assertOk(self.backup())
        self.ws.add_broken_storage()
        r = self.ws.run("backup", self.ct, "--storage", "broken", "--tmpdir", self.ws.tmp)
        self.assertNotEqual(r.returncode, 0)
        rec = self.record(self.ct)
        self.assertEqual(rec["result"], "error")
        self.assertEqual(rec["storage"], "broken")
        self.assertIn("the backup job failed before this container's backup", rec["message"])
        self.assertIn("no-such-provider", rec["message"])

        out = self.status_json(self.ct, rc=2)
        c = out["containers"][0]
        self.assertEqual(c["state"], "CRITICAL")
        self.assertEqual(c["last-job"]["result"], "error")
        self.assertTrue(any(x.startswith("last backup job failed") and "no-such-provider" in x
                            for x in c["reasons"]), c["reasons"])
        # The backup on `test` is still there and recent: only the job failed.
        self.assertEqual(c["newest"]["storage"], "test")
        self.assertIn("no-such-provider", out["summary"])
        # The storage that cannot be listed is a warning of its own.
        self.assertTrue(any(w.startswith("storage 'broken' cannot be listed") for w in out["warnings"]),
                        out["warnings"])
        broken = [s for s in out["storages"] if s["id"] == "broken"][0]
        self.assertFalse(broken["ok"])
        # Only storage `test`: the failed job on `broken` does not count.
        out = self.status_json(self.ct, "--storage", "test", rc=0)
        self.assertEqual(out["state"], "OK")
        # A later good job replaces the record (a second later: the example
        # provider names backups by the second).
        time.sleep(1.1)
        self.assertOk(self.backup())
        self.assertEqual(self.record(self.ct)["result"], "ok")
        out = self.status_json(self.ct, rc=1)  # `broken` still cannot be listed: a warning
        self.assertEqual(out["state"], "WARNING")
        self.assertEqual(out["containers"][0]["state"], "OK")

    def test_gone_or_mistyped_container_ages_out_or_is_forgotten(self):
        # A typo: the job fails and records an error for a container that never existed.
        r = self.ws.run("backup", "wbe", "--storage", "test", "--tmpdir", self.ws.tmp)
        self.assertNotEqual(r.returncode, 0)
        rec = self.record("wbe")
        self.assertEqual(rec["result"], "error")
        # Its failure shows while the record is younger than max-age ...
        out = self.status_json(rc=2)
        by = {c["vmid"]: c for c in out["containers"]}
        self.assertIn("wbe", by)
        wbe = by["wbe"]
        self.assertFalse(wbe["configured"])
        self.assertEqual(wbe["state"], "CRITICAL")
        self.assertTrue(wbe["reasons"][0].startswith("last backup job failed"), wbe["reasons"])
        self.assertTrue(wbe["reasons"][1].startswith("not under lxcpath"), wbe["reasons"])
        self.assertIn("'ctdump status --forget wbe'", wbe["reasons"][1])
        # ... and not once it is older (here: than a 1s max-age).
        time.sleep(2)
        out = self.status_json("--max-age", "1s", rc=None)
        self.assertNotIn("wbe", {c["vmid"] for c in out["containers"]})
        # Named, it is checked whatever its record's age.
        out = self.status_json("wbe", "--max-age", "1s", rc=2)
        self.assertEqual([c["vmid"] for c in out["containers"]], ["wbe"])
        # A restore test's throw-away container's record is never checked.
        rt = dict(rec, vmid="ctdump-rt-0-1")
        with open(os.path.join(self.ws.state, "guests", "ctdump-rt-0-1.json"), "w") as f:
            json.dump(rt, f)
        out = self.status_json(rc=2)
        self.assertNotIn("ctdump-rt-0-1", {c["vmid"] for c in out["containers"]})
        self.assertIn("wbe", {c["vmid"] for c in out["containers"]})

        # --forget removes the record at once, and checks nothing.
        r = self.ws.run("--output-format", "json", "status", "--forget", "wbe,ctdump-rt-0-1")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(json_events.result(r.stdout), {"forgotten": ["wbe", "ctdump-rt-0-1"]})
        self.assertFalse(os.path.exists(os.path.join(self.ws.state, "guests", "wbe.json")))
        out = self.status_json(rc=None)
        self.assertNotIn("wbe", {c["vmid"] for c in out["containers"]})
        r = self.ws.run("status", "--forget", "wbe")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("container 'wbe' has no recorded last job", r.stderr)
        r = self.ws.run("status", "--forget", "wbe", self.ct)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)

    def verify(self, *args):
        r = self.ws.run("verify", "ds", *args)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        return r.stderr

    def test_verify_skips_recently_verified_backups(self):
        self.assertOk(self.backup("ds"))
        first = self.verify("--ignore-verified", "--outdated-after", "7")
        self.assertIn("skipped 0 backup(s) verified ok within 7 day(s)", first)
        self.assertIn("verified 1 backup(s)", first)
        states = []
        for dp, _, fns in os.walk(os.path.join(self.ws.store, "snapshots")):
            states += [os.path.join(dp, f) for f in fns if f == "verify.json"]
        self.assertEqual(len(states), 1, states)
        with open(states[0]) as f:
            state = json.load(f)
        self.assertEqual(state["state"], "ok")
        self.assertEqual(state["problems"], 0)
        self.assertLess(abs(state["time"] - time.time()), 600)

        second = self.verify("--ignore-verified", "--outdated-after", "7")
        self.assertIn("skipped 1 backup(s) verified ok within 7 day(s)", second)
        self.assertIn("verified 0 backup(s), 0 chunks", second)
        never = self.verify("--ignore-verified")
        self.assertIn("skipped 1 backup(s) verified ok before", never)
        # No skipping: without the option, and with 0 days.
        self.assertIn("verified 1 backup(s)", self.verify())
        zero = self.verify("--ignore-verified", "--outdated-after", "0")
        self.assertIn("skipped 0 backup(s)", zero)
        self.assertIn("verified 1 backup(s)", zero)
        # --outdated-after alone is a usage error.
        r = self.ws.run("verify", "ds", "--outdated-after", "3")
        self.assertEqual(r.returncode, 2, r.stderr)
        # gc leaves the record of the live backup alone.
        r = self.ws.run("gc", "ds")
        self.assertOk(r)
        self.assertTrue(os.path.exists(states[0]))
        # One container only: the other has no backups here.
        self.assertIn("verified 0 backup(s)", self.verify("--vmid", self.env["CT_PRIV"]))


if __name__ == "__main__":
    import unittest
    unittest.main()
