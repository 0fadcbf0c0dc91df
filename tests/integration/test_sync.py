"""`ctdump sync` between local datastores on the real containers
(datastore/sync.h, docs/operations.md "Sync between datastores"): backups
copied to a second store and from there to a third, a container restored
from the last copy and compared with the fixture; only new chunks sent the
next time; notes and protection copied; remove-vanished; an encrypted backup
copied without its key and restored with it; a plain backup refused by a
target with a key; a sync killed with SIGKILL (and one stopped with SIGTERM)
leaves nothing visible and the next run completes it; gc on both stores and a
backup into the source while a sync runs (the target's old unreferenced
chunks that the sync relies on are swept meanwhile); the `sync:` job type
through `ctdump job run` and the scheduler (with its notification)."""
import base64
import glob
import json
import os
import re
import signal
import threading
import time

import datastore_base
import json_events
import test_scheduler
from test_restore import MAP2


class SyncTest(datastore_base.DatastoreBase):

    def setUp(self):
        super().setUp()
        self.far = os.path.join(self.ws.dir, "far")
        self.back = os.path.join(self.ws.dir, "back")
        self.key = None
        self.far_key = None
        os.makedirs(self.far)
        os.makedirs(self.back)
        self.write_all_cfg()

    def write_all_cfg(self):
        far = "\ndatastore: far\n\tpath %s\n" % self.far
        if self.far_key:
            far += "\tencryption-key %s\n" % self.far_key
        self.write_cfg(key=self.key, more=far + "\ndatastore: back\n\tpath %s\n" % self.back)

    def sync(self, *args, ok=True):
        """Runs `ctdump sync` with JSON output; returns (the result's data, the
        log messages, the process)."""
        r = self.ws.run("--output-format", "json", "sync", *args, timeout=600)
        events = json_events.events(r.stdout)
        validator = json_events.validator()
        for e in events:
            self.assertEqual(list(validator.iter_errors(e)), [], e)
        if ok:
            self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr[-2000:])
        log = [e["message"] for e in events if e["event"] == "log"]
        results = [e for e in events if e["event"] == "result"]
        return (results[0]["data"] if results else None), log, r

    def locks(self, store):
        d = os.path.join(store, "locks")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def chunks_of(self, store):
        """The chunk objects (not the temporaries of puts a kill interrupted)."""
        return sorted(p for p in glob.glob(os.path.join(store, "chunks", "*", "*"))
                      if re.fullmatch(r"[0-9a-f]{64}", os.path.basename(p)))

    def restore_and_compare(self, volid, which="UNPRIV"):
        name = self.new_name("s")
        r = self.restore(volid, name, *MAP2)
        self.assertOk(r)
        rootfs = os.path.join(self.ct_dir(name), "rootfs")
        self.assertSameTree(self.fixture_lines(which), rootfs, 200000)

    def test_local_to_local_to_local_then_restore_from_the_last_copy(self):
        ct = self.env["CT_UNPRIV"]
        self.backup(ct, "--mode", "snapshot")
        self.backup(ct, "--mode", "snapshot")
        first, second = self.volids(ct)
        self.assertOk(self.ws.run("notes", first, "--set", "before the upgrade"))
        self.assertOk(self.ws.run("protect", first, "1"))

        self.assertOk(self.ws.run("verify", "ds"))
        data, log, _ = self.sync("ds", "far")
        names = [v.split(":", 1)[1] for v in (first, second)]
        self.assertEqual(data["copied"], ["far:" + n for n in names])
        self.assertEqual((data["skipped"], data["failed"], data["removed"]), (0, [], []))
        self.assertGreater(data["chunks-sent"], 10)
        self.assertGreater(data["chunks-present"], 0, "the second backup shares the first's chunks")
        self.assertTrue(any("sync backup '%s'" % names[0] in l for l in log), log)
        self.assertEqual(self.volids(ct, "far"), ["far:" + n for n in names])
        # Byte for byte, and verify.json stays behind.
        for n in names:
            for f in ("manifest", "meta.didx", "data.didx", "task.log"):
                with open(os.path.join(self.store, "snapshots", n, f), "rb") as a, \
                        open(os.path.join(self.far, "snapshots", n, f), "rb") as b:
                    self.assertEqual(a.read(), b.read(), (n, f))
            self.assertTrue(os.path.exists(os.path.join(self.store, "snapshots", n, "verify.json")))
            self.assertFalse(os.path.exists(os.path.join(self.far, "snapshots", n, "verify.json")))
        r = self.ws.run("notes", "far:" + names[0])
        self.assertOk(r)
        self.assertIn("before the upgrade", r.stdout)
        self.assertTrue(os.path.exists(os.path.join(self.far, "snapshots", names[0], "protected")))
        self.assertEqual(self.locks(self.far), [])

        # Nothing new: nothing sent.
        data, _, _ = self.sync("ds", "far")
        self.assertEqual((data["copied"], data["skipped"], data["chunks-sent"]), ([], 2, 0))

        # A third backup: only its new chunks go.
        self.backup(ct, "--mode", "snapshot")
        third = self.volids(ct)[-1].split(":", 1)[1]
        before = set(self.chunks_of(self.far))
        data, _, _ = self.sync("ds", "far", "--vmid", ct)
        self.assertEqual(data["copied"], ["far:" + third])
        self.assertEqual(len(set(self.chunks_of(self.far)) - before), data["chunks-sent"])
        self.assertLess(data["chunks-sent"], data["chunks-present"])

        # On to a third store, then restore from there.
        data, _, _ = self.sync("far", "back", "--transfer-last", "2")
        self.assertEqual(data["copied"], ["back:" + n for n in (names[1], third)])
        self.assertOk(self.ws.run("verify", "back"))
        self.restore_and_compare("back:" + third)

        # remove-vanished: the source's first backup pruned away; protected
        # on the target, it stays (said so); unprotected, it goes.
        self.assertOk(self.ws.run("protect", first, "0"))
        self.assertOk(self.ws.run("delete", first))
        data, log, _ = self.sync("ds", "far", "--remove-vanished")
        self.assertEqual((data["removed"], data["kept-protected"]), ([], ["far:" + names[0]]))
        self.assertTrue(any("protected" in l for l in log), log)
        self.assertOk(self.ws.run("protect", "far:" + names[0], "0"))
        data, _, _ = self.sync("ds", "far", "--remove-vanished")
        self.assertEqual(data["removed"], ["far:" + names[0]])
        self.assertEqual(self.volids(ct, "far"), ["far:" + n for n in (names[1], third)])
        self.assertOk(self.ws.run("verify", "far"))
        self.assertRunning(ct)

    def start_sync_and_signal(self, sig):
        """Starts a sync ds -> far; sends `sig` once it has stored a chunk on
        the target. Returns (exit code, stderr)."""
        before = len(self.chunks_of(self.far))
        p = self.ws.start("sync", "ds", "far")
        deadline = time.time() + 60
        while len(self.chunks_of(self.far)) <= before and time.time() < deadline and p.poll() is None:
            time.sleep(0.001)
        self.assertIsNone(p.poll(), "the sync ended before the signal")
        os.killpg(p.pid, sig)
        _, err = p.communicate(timeout=60)
        return p.returncode, err

    def assertNothingVisible(self):
        r, vols = self.list_volids("far")
        self.assertEqual(vols, [])
        self.assertEqual(glob.glob(os.path.join(self.far, "snapshots", "ct", "*", "*", "manifest")), [])

    def test_killed_or_stopped_sync_leaves_nothing_visible_and_resumes(self):
        ct = self.env["CT_UNPRIV"]
        self.backup(ct, "--mode", "snapshot")
        volid = self.only_volid(ct)
        total = len(self.chunks_of(self.store))

        code, err = self.start_sync_and_signal(signal.SIGTERM)
        self.assertNotEqual(code, 0, err)
        self.assertIn("interrupted", err)
        self.assertNothingVisible()
        self.assertEqual(self.locks(self.far), [], "the lock was not released")

        code, _ = self.start_sync_and_signal(signal.SIGKILL)
        self.assertEqual(code, -signal.SIGKILL)
        self.assertNothingVisible()
        self.assertEqual(self.locks(self.far), ["backup.%s" % ct])
        there = len(self.chunks_of(self.far))
        self.assertGreater(there, 0)
        self.assertLess(there, total)

        data, log, _ = self.sync("ds", "far")
        self.assertEqual(data["copied"], ["far:" + volid.split(":", 1)[1]])
        # Every chunk file the killed run left is whole (written to a temporary, renamed).
        self.assertEqual(data["chunks-present"], there)
        self.assertEqual(data["chunks-sent"] + data["chunks-present"], total)
        self.assertTrue(any("stale lock" in l for l in log), log)
        self.assertEqual(self.locks(self.far), [])
        self.assertOk(self.ws.run("verify", "far"))
        # gc on the target removes what a killed run left and nothing else.
        self.assertOk(self.ws.run("gc", "far"))
        self.assertOk(self.ws.run("verify", "far"))
        self.restore_and_compare("far:" + volid.split(":", 1)[1])

    def test_gc_and_backups_on_both_sides_during_a_sync(self):
        ct, other = self.env["CT_UNPRIV"], self.env["CT_PRIV"]
        self.backup(ct, "--mode", "snapshot")
        volid = self.only_volid(ct)
        # The target holds the backup's chunks, unreferenced and old (its copy
        # was deleted two days ago): the sync finds and touches them while gc
        # sweeps them.
        self.sync("ds", "far")
        self.assertOk(self.ws.run("delete", "far:" + volid.split(":", 1)[1]))
        old = time.time() - 2 * 86400
        for c in self.chunks_of(self.far):
            os.utime(c, (old, old))
        stop = []
        gcs = {"far": 0, "ds": 0}

        def gc_loop():
            while not stop:
                for store in ("far", "ds"):
                    r = self.ws.run("gc", store)
                    self.assertEqual(r.returncode, 0, r.stderr[-2000:])
                    gcs[store] += 1

        t = threading.Thread(target=gc_loop)
        t.start()
        try:
            p = self.ws.start("sync", "ds", "far")
            self.backup(other)  # into the source, while it is read
            _, err = p.communicate(timeout=600)
            self.assertEqual(p.returncode, 0, err[-3000:])
        finally:
            stop.append(True)
            t.join(600)
        self.assertGreater(gcs["far"], 0)
        self.assertEqual(self.volids(ct, "far"), ["far:" + volid.split(":", 1)[1]])
        self.assertOk(self.ws.run("verify", "far"))
        self.assertOk(self.ws.run("verify", "ds"))
        # The backup made meanwhile goes with the next run.
        data, _, _ = self.sync("ds", "far")
        self.assertEqual(len(data["copied"]), 1)
        self.assertOk(self.ws.run("verify", "far"))

    def test_encrypted_backup_is_copied_without_the_key(self):
        ct = self.env["CT_UNPRIV"]
        key = os.path.join(self.ws.dir, "k.key")
        self.assertOk(self.ws.run("key", "create", key, "--kdf", "none"))
        self.key = key
        self.write_all_cfg()
        self.backup(ct, "--mode", "snapshot")
        volid = self.only_volid(ct)
        name = volid.split(":", 1)[1]
        # The source storage without its key: the sync needs none.
        self.key = None
        self.write_all_cfg()
        data, _, _ = self.sync("ds", "far")
        self.assertEqual(data["copied"], ["far:" + name])
        # On the target: restored with the key.
        self.far_key = key
        self.write_all_cfg()
        self.assertOk(self.ws.run("verify", "far"))
        self.restore_and_compare("far:" + name)

        # A plain backup into a store with a key: refused, naming why.
        other = self.env["CT_PRIV"]
        self.backup(other)
        data, log, r = self.sync("ds", "far", "--vmid", other, ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(data["copied"], [])
        self.assertEqual(len(data["failed"]), 1)
        self.assertIn("encryption key", data["failed"][0])
        self.assertEqual(self.volids(other, "far"), [])

    def test_sync_job(self):
        ct = self.env["CT_UNPRIV"]
        self.backup(ct, "--mode", "snapshot")
        with open(os.path.join(self.ws.config, "jobs.cfg"), "w") as f:
            f.write("sync: offsite\n\tsource ds\n\ttarget far\n\tvmid %s\n\tschedule 03:00\n"
                    "\tremove-vanished 1\n\ttransfer-last 3\n" % ct)
        r = self.ws.run("job", "run", "offsite", timeout=600)
        self.assertOk(r)
        self.assertIn("sync finished: 1 backup(s) copied", r.stderr)
        self.assertEqual(self.volids(ct, "far"), ["far:" + self.only_volid(ct).split(":", 1)[1]])
        r = self.ws.run("--output-format", "json", "job", "show", "offsite")
        self.assertOk(r)
        job = json_events.result(r.stdout)
        self.assertEqual((job["type"], job["result"]), ("sync", "ok"))
        # The scheduler runs it (a run missed since yesterday, repeat-missed 1)
        # and its notification is PBS's sync notification.
        self.backup(ct, "--mode", "snapshot")
        newest = self.volids(ct)[-1].split(":", 1)[1]
        hook = test_scheduler.Webhook()
        self.addCleanup(hook.close)
        with open(os.path.join(self.ws.config, "notifications.cfg"), "w") as f:
            f.write("webhook: hook\n\turl http://127.0.0.1:%d/notify\n\tmethod post\n\tbody %s\n\n"
                    "matcher: everything\n\ttarget hook\n"
                    % (hook.port, base64.b64encode(test_scheduler.BODY.encode()).decode()))
        with open(os.path.join(self.ws.config, "jobs.cfg"), "a") as f:
            f.write("\nsync: nightly\n\tsource ds\n\ttarget far\n\tschedule 02:00\n\trepeat-missed 1\n")
        states = os.path.join(self.ws.dir, "state", "jobs")
        os.makedirs(states, exist_ok=True)
        with open(os.path.join(states, "sync-nightly.json"), "w") as f:
            json.dump({"created": int(time.time()) - 86400 - 3600}, f)
        r = self.ws.run("scheduler", "--once", timeout=600)
        self.assertOk(r)
        sent = hook.wait(lambda n: n["type"] == "sync")
        self.assertEqual(len(sent), 1, sent)
        self.assertEqual(sent[0]["severity"], "info", sent[0])
        self.assertEqual(sent[0]["title"], "Sync datastore 'far' from 'ds' successful")
        self.assertEqual((sent[0]["fields"]["job-id"], sent[0]["fields"]["datastore"]), ("nightly", "far"))
        self.assertIn("far:" + newest, self.volids(ct, "far"))
        # A job whose target is no datastore storage fails and says so.
        with open(os.path.join(self.ws.config, "jobs.cfg"), "a") as f:
            f.write("\nsync: broken\n\tsource ds\n\ttarget nowhere\n")
        r = self.ws.run("job", "run", "broken")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("nowhere", r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
