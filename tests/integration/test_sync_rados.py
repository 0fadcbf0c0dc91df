"""`ctdump sync` local datastore -> RADOS -> local datastore on the real
containers and the CTest fixture's Ceph cluster (issue 13: "sync local ->
RADOS -> local with a restore from the last copy"; tests/integration/ceph.py).

A sync into RADOS SIGKILLed mid-way leaves nothing visible; its lock's lease
keeps the container's lock until it expires (the next run says who holds it),
then the next run completes the copy sending only the missing chunks; the
copy is synced on to a local store and a container restored from there is
compared with the fixture; verify and gc of the RADOS store are clean."""
import os
import signal
import time

import ceph
from test_rados import RadosBase
from test_restore import MAP2


class SyncRadosTest(RadosBase):

    def setUp(self):
        self.src = None
        super().setUp()
        self.src = os.path.join(self.ws.dir, "src")
        self.back = os.path.join(self.ws.dir, "back")
        os.makedirs(self.src)
        os.makedirs(self.back)
        self.write_cfg()

    def write_cfg(self, key=None, extra=None, more=""):
        local = ""
        if self.src:
            local = ("\ndatastore: src\n\tpath %s\n\ndatastore: back\n\tpath %s\n"
                     % (self.src, self.back))
        super().write_cfg(key, extra, more + local)

    def chunk_objects(self):
        return self.objects("chunks/")

    def sync(self, *args):
        return self.ws.run("sync", *args, timeout=600)

    def test_local_to_rados_to_local_with_a_restore_from_the_last_copy(self):
        self.assertIsInstance(self.cluster(), ceph.Cluster)
        ct = self.env["CT_UNPRIV"]
        self.backup(ct, "--mode", "snapshot", storage="src")
        self.backup(ct, "--mode", "snapshot", storage="src")
        names = [v.split(":", 1)[1] for v in self.volids(ct, "src")]
        self.assertEqual(len(names), 2)

        # Killed while it sends chunks into the pool: nothing visible.
        p = self.ws.start("sync", "src", "ds")
        deadline = time.time() + 120
        while not self.chunk_objects() and time.time() < deadline and p.poll() is None:
            time.sleep(0.02)
        self.assertIsNone(p.poll(), "the sync ended before the signal")
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate(timeout=60)
        killed_at = time.time()
        self.assertEqual(self.volids(ct, "ds"), [])
        self.assertEqual([o for o in self.objects("snapshots/") if o.endswith("/manifest")], [])
        left = len(self.chunk_objects())
        self.assertGreater(left, 0)

        # The dead process's lease holds the container's lock until it expires
        # (lock-lease 6): a run before then names the lock; one after takes it.
        r = self.sync("src", "ds")
        if time.time() - killed_at < 5:
            self.assertEqual(r.returncode, 1, r.stderr[-3000:])
            self.assertIn("locks/backup.%s" % ct, r.stderr)
            self.assertEqual(self.volids(ct, "ds"), [])
        while time.time() - killed_at < 8:
            time.sleep(0.5)
        r = self.sync("src", "ds")
        self.assertOk(r)
        self.assertIn("sync finished: 2 backup(s) copied", r.stderr)
        m = [l for l in r.stderr.splitlines() if "sync finished" in l][0]
        present = int(m.split(" chunks sent")[1].split("), ")[1].split()[0])
        self.assertGreaterEqual(present, left, m)
        self.assertEqual(self.volids(ct, "ds"), ["ds:" + n for n in names])
        self.assertEqual(self.objects("locks/"), [])
        self.assertVerifyClean(self.ws.run("verify", "ds"))

        # Up to date: nothing sent.
        r = self.sync("src", "ds")
        self.assertOk(r)
        self.assertIn("0 backup(s) copied, 2 skipped", r.stderr)
        self.assertIn("0 chunks sent", r.stderr)

        # From the pool to a local store, and a restore from the last copy.
        r = self.sync("ds", "back")
        self.assertOk(r)
        self.assertEqual(self.volids(ct, "back"), ["back:" + n for n in names])
        name = self.new_name("r")
        self.assertOk(self.restore("back:" + names[1], name, *MAP2))
        self.assertSameTree(self.fixture_lines("UNPRIV"), os.path.join(self.ct_dir(name), "rootfs"), 200000)

        # gc of the pool keeps every copied backup whole.
        self.assertOk(self.ws.run("gc", "ds"))
        self.assertVerifyClean(self.ws.run("verify", "ds"))
        self.assertRunning(ct)


if __name__ == "__main__":
    import unittest
    unittest.main()
