"""The datastore on Ceph RADOS, written by two "hosts" at once (issue 13).

A host is a ctdump process with its own run, log and state directories, as
two machines sharing one pool would have. The cluster is the CTest fixture
`ceph` (scripts/ceph-cluster.sh, CTDUMP_TEST_CEPH_DIR); each test gets a
namespace of its own in the fixture's pool and removes it afterwards. The
test of an OSD stopped mid-backup starts a private three-OSD cluster.

What is checked: two hosts backing up at once into one pool (dedup across
them, verify clean, list, catalog, restore-file and a whole restore from the
other host); gc on one host while the other backs up; a gc killed while it
holds the gc lock (the other host is refused until the lease expires, then
its gc runs); a SIGKILLed backup leaves nothing visible and gc on the other
host collects its leftovers; an object damaged with `rados put` is named by
verify; an OSD stopped mid-backup (pool size 2 of 3 OSDs); a wrong pool,
wrong credentials and an unreachable cluster fail clearly with the
containers running and nothing written.
"""
import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import time
import unittest

import ceph
import datastore_base
import harness
from test_restore import MAP2


def closed_port():
    """A port on 127.0.0.1 nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RadosBase(datastore_base.DatastoreBase):
    """A `datastore: ds` storage in a namespace of its own of the fixture's
    pool, a second host, helpers (no tests of its own)."""

    shared = None  # ceph.Cluster of the fixture

    def setUp(self):
        if RadosBase.shared is None:
            RadosBase.shared = ceph.shared()
        self.ns = "it-%d-%s" % (os.getpid(), self._testMethodName[5:][:40])
        self.rados_cluster = self.cluster()
        self.cfg_extra = {}
        super().setUp()

    def tearDown(self):
        try:
            self.rados_cluster.purge_namespace(self.ns)
        finally:
            super().tearDown()

    def write_cfg(self, key=None, extra=None, more=""):
        c = self.rados_cluster
        options = {"backend": "rados", "pool": c.pool, "ceph-conf": c.conf, "username": "admin",
                   "namespace": self.ns, "lock-lease": "6", "rados-timeout": "3", "max-clock-skew": "0"}
        options.update(getattr(self, "cfg_extra", {}))
        options.update(extra or {})
        lines = ["datastore: ds"] + ["\t%s %s" % (k, v) for k, v in options.items() if v is not None]
        if key:
            lines.append("\tencryption-key %s" % key)
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("\n".join(lines) + "\n" + more)

    # --- helpers -----------------------------------------------------------

    def objects(self, prefix=""):
        return [o for o in self.rados_cluster.objects(namespace=self.ns) if o.startswith(prefix)]

    def host_b(self):
        """The environment of a second host: its own run, log and state directories."""
        e = self.ws.environ()
        for k, d in (("CTDUMP_RUN_DIR", "run-b"), ("CTDUMP_LOG_DIR", "log-b"), ("CTDUMP_STATE_DIR", "state-b")):
            e[k] = os.path.join(self.ws.dir, d)
        return e

    def run_b(self, *args, timeout=300):
        return subprocess.run(self.ws.cmd(*args), capture_output=True, text=True, errors="replace",
                              env=self.host_b(), timeout=timeout, stdin=subprocess.DEVNULL)

    def start_b(self, *args):
        return subprocess.Popen(self.ws.cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                errors="replace", env=self.host_b(), stdin=subprocess.DEVNULL,
                                start_new_session=True)

    def log_b(self, ct):
        with open(os.path.join(self.ws.dir, "log-b", "lxc-%s.log" % ct), errors="replace") as f:
            return f.read()

    def assertVerifyClean(self, r):
        self.assertOk(r)
        self.assertIn("no problems found", r.stderr)

    def assertFilesEqual(self, volid, rootfs, files, run=None):
        run = run or self.ws.run
        target = os.path.join(self.ws.dir, "files-" + re.sub(r"[^A-Za-z0-9]", "_", volid))
        self.assertOk(run("restore-file", volid, *["/" + f for f in files], "--target", target))
        for f in files:
            with open(os.path.join(target, f), "rb") as a, open(os.path.join(rootfs, f), "rb") as b:
                self.assertEqual(a.read(), b.read(), f)

    def cluster(self):
        return RadosBase.shared

    def wait_for_object(self, p, name, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline and p.poll() is None:
            if name in self.objects(name):
                return True
            time.sleep(0.05)
        return False


class RadosTest(RadosBase):

    # --- many hosts, one pool --------------------------------------------------

    def test_two_hosts_back_up_at_once_and_share_chunks(self):
        priv, unpriv = self.env["CT_PRIV"], self.env["CT_UNPRIV"]
        common = ["--storage", "ds", "--tmpdir", self.ws.tmp, "--mode", "snapshot"]
        for ct in (priv, unpriv):
            self.wait_next_second(ct, "ds")
        a = self.ws.start("backup", priv, *common)
        b = self.start_b("backup", unpriv, *common)
        _, err_a = a.communicate(timeout=600)
        _, err_b = b.communicate(timeout=600)
        self.assertEqual(a.returncode, 0, err_a[-3000:])
        self.assertEqual(b.returncode, 0, err_b[-3000:])
        for ct in (priv, unpriv):
            self.backup_ended(ct, "ds")
        with open(os.path.join(self.ws.logs, "lxc-%s.log" % priv), errors="replace") as f:
            sa = self.stats(f.read())
        sb = self.stats(self.log_b(unpriv))
        # Both containers come from one rootfs: together they stored much
        # less than they hold (the chunk one host stored, the other found).
        self.assertGreater(sa["dedup_chunks"] + sb["dedup_chunks"], 0.3 * (sa["chunks"] + sb["chunks"]), (sa, sb))
        self.assertLess(sa["new_bytes"] + sb["new_bytes"], 0.75 * (sa["file_bytes"] + sb["file_bytes"]), (sa, sb))
        # Every host sees every backup; verify from either is clean.
        self.assertEqual(len(self.volids(priv)), 1)
        r = self.run_b("list", "ds")
        self.assertOk(r)
        self.assertEqual(len([l for l in r.stdout.splitlines() if l.startswith("ds:")]), 2, r.stdout)
        self.assertVerifyClean(self.run_b("verify", "ds"))
        # Incremental backups, crossing over: each host backs up the other's container.
        _, log = self.backup(unpriv, "--mode", "snapshot")
        self.assertIn("incremental", log)
        self.wait_next_second(priv, "ds")
        r = self.run_b("backup", priv, *common)
        self.backup_ended(priv, "ds")
        self.assertOk(r)
        self.assertIn("incremental", self.log_b(priv))
        self.assertVerifyClean(self.ws.run("verify", "ds"))
        # catalog and restore-file from the host that did not write it.
        volid = self.volids(priv)[0]
        r = self.run_b("catalog", volid, "/etc")
        self.assertOk(r)
        self.assertIn("passwd", r.stdout)
        self.assertFilesEqual(volid, self.env["ROOTFS_PRIV"], ["etc/passwd", "etc/hostname", "usr/bin/ls"],
                              run=self.run_b)
        # mount on host B (read-only FUSE, until unmounted).
        mnt = os.path.join(self.ws.dir, "mnt")
        os.makedirs(mnt)
        m = self.start_b("mount", volid, mnt)
        try:
            deadline = time.time() + 60
            while not os.path.exists(os.path.join(mnt, "etc/passwd")) and m.poll() is None \
                    and time.time() < deadline:
                time.sleep(0.05)
            with open(os.path.join(mnt, "etc/passwd"), "rb") as a, \
                    open(os.path.join(self.env["ROOTFS_PRIV"], "etc/passwd"), "rb") as b:
                self.assertEqual(a.read(), b.read())
        finally:
            subprocess.run(["umount", mnt], capture_output=True, stdin=subprocess.DEVNULL)
            _, err = m.communicate(timeout=60)
        self.assertEqual(m.returncode, 0, err[-3000:])
        # prune from host B of host A's backups.
        self.assertEqual(len(self.volids(unpriv)), 2)
        self.assertOk(self.run_b("prune", "ds", unpriv, "--prune-backups", "keep-last=1"))
        self.assertEqual(len(self.volids(unpriv)), 1)
        # A whole restore on host B of host A's backup of the unprivileged container.
        volid = self.volids(unpriv)[0]
        name = self.new_name("rb")
        r = self.run_b("restore", volid, name, *harness.trusted(volid, *MAP2), timeout=600)
        self.assertOk(r)
        self.assertSameTree(self.fixture_lines("UNPRIV"), os.path.join(self.ct_dir(name), "rootfs"), 200000)
        self.assertNoLeftovers()

    def test_gc_on_one_host_beside_a_backup_on_the_other(self):
        priv, unpriv = self.env["CT_PRIV"], self.env["CT_UNPRIV"]
        self.backup(priv)
        self.backup(priv)
        first, second = self.volids(priv)
        self.assertOk(self.ws.run("delete", first))
        time.sleep(1.2)  # the deleted backup's chunks older than the next backup's start
        self.wait_next_second(unpriv, "ds")
        p = self.start_b("backup", unpriv, "--storage", "ds", "--mode", "snapshot", "--tmpdir", self.ws.tmp,
                         "--bwlimit", "40000")
        removed = runs = 0
        try:
            while p.poll() is None:
                r = self.ws.run("gc", "ds")
                self.assertOk(r)
                m = re.search(r"; removed (\d+) unreferenced chunks", r.stderr)
                self.assertIsNotNone(m, r.stderr)
                removed += int(m.group(1))
                runs += 1
                time.sleep(0.3)
        finally:
            _, err = p.communicate(timeout=600)
        self.backup_ended(unpriv, "ds")
        self.assertEqual(p.returncode, 0, err[-3000:])
        self.assertGreaterEqual(runs, 2)
        r = self.ws.run("gc", "ds")
        self.assertOk(r)
        removed += int(re.search(r"; removed (\d+) unreferenced chunks", r.stderr).group(1))
        self.assertGreater(removed, 0, "gc removed nothing of the deleted backup")
        r = self.run_b("verify", "ds")
        self.assertVerifyClean(r)
        self.assertIn("verified 2 backup(s)", r.stderr)
        self.assertFilesEqual(self.volids(unpriv)[0], self.env["ROOTFS_UNPRIV"], ["etc/passwd", "etc/shadow"])
        self.assertFilesEqual(second, self.env["ROOTFS_PRIV"], ["etc/passwd", "etc/hostname"], run=self.run_b)

    def test_a_host_killed_holding_the_gc_lock(self):
        priv, unpriv = self.env["CT_PRIV"], self.env["CT_UNPRIV"]
        self.backup(priv)
        self.backup(unpriv)
        # Every chunk garbage: the gc below has a sweep of hundreds of deletes.
        for v in self.volids():
            self.assertOk(self.ws.run("delete", v))
        time.sleep(1.2)
        # Host A's gc, killed while it holds locks/gc, as a host that dies: its
        # first progress event (gc-mark) comes after it took the lock; stop
        # it there, check the lock is there, kill it.
        p = self.ws.start("--output-format", "json", "gc", "ds")
        for line in p.stdout:
            e = json.loads(line)
            if e.get("event") == "progress" and (e.get("phase") or "").startswith("gc-"):
                os.killpg(p.pid, signal.SIGSTOP)
                break
        else:
            self.fail("gc ended without a progress event: %s" % p.stderr.read()[-3000:])
        self.assertTrue(self.objects("locks/gc"), "the stopped gc does not hold locks/gc")
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate(timeout=60)
        killed = time.time()
        # Host B: refused while the lease runs, naming the holder; then gc runs.
        r = self.run_b("gc", "ds")
        if time.time() - killed < 5:
            self.assertNotEqual(r.returncode, 0, r.stderr)
            self.assertIn("locks/gc", r.stderr)
            self.assertIn("pid %d" % p.pid, r.stderr)
        deadline = killed + 30
        while True:
            r = self.run_b("gc", "ds")
            if r.returncode == 0 or time.time() > deadline:
                break
            time.sleep(1)
        self.assertOk(r)
        self.assertGreater(time.time() - killed, 5.5, "gc ran before the dead host's lease (6 s) expired")
        self.assertIn("taking over lock 'locks/gc' of pid %d" % p.pid, r.stderr)
        self.assertEqual(self.objects("locks/"), [])
        self.assertVerifyClean(self.ws.run("verify", "ds"))

    def test_a_killed_backup_leaves_nothing_and_the_other_host_collects_it(self):
        unpriv = self.env["CT_UNPRIV"]
        self.wait_next_second(unpriv, "ds")
        p = self.ws.start("backup", unpriv, "--storage", "ds", "--mode", "snapshot", "--tmpdir", self.ws.tmp,
                          "--bwlimit", "20000")
        self.assertTrue(self.wait_for_object(p, "locks/backup." + unpriv), "the backup never took its lock")
        deadline = time.time() + 60
        while not self.objects("chunks/") and time.time() < deadline and p.poll() is None:
            time.sleep(0.1)
        time.sleep(1.0)
        self.assertIsNone(p.poll(), "the backup ended before it was killed")
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate(timeout=60)
        self.backup_ended(unpriv, "ds")
        self.assertOk(self.ws.run("cleanup"))
        self.assertRunning(unpriv)
        leftovers = self.objects("snapshots/")
        self.assertGreater(len(self.objects("chunks/")), 0)
        # Nothing visible from either host.
        self.assertEqual(self.volids(), [])
        r = self.run_b("list", "ds")
        self.assertOk(r)
        self.assertNotIn("ds:", r.stdout)
        # Host B's gc: the dead backup's lock counts until its lease expires,
        # then its chunks and snapshot objects go.
        time.sleep(7)
        r = self.run_b("gc", "ds")
        self.assertOk(r)
        self.assertEqual(self.objects("locks/"), [], r.stderr)
        self.assertEqual(self.objects("snapshots/"), [], "leftovers %r survived gc:\n%s" % (leftovers, r.stderr))
        self.assertEqual(self.objects("chunks/"), [], r.stderr)
        # And the next backup works.
        self.backup(unpriv, "--mode", "snapshot")
        self.assertVerifyClean(self.run_b("verify", "ds"))

    # --- damage and errors ---------------------------------------------------

    def test_an_object_damaged_with_rados_put_is_named_by_verify(self):
        priv = self.env["CT_PRIV"]
        self.backup(priv)
        [volid] = self.volids(priv)
        c = self.rados_cluster
        chunks = [o for o in self.objects("chunks/") if not o.endswith(".bad")]
        victim = random.Random(13).choice(chunks)
        data = bytearray(c.get(victim, namespace=self.ns))
        data[len(data) // 2] ^= 0x40
        c.put(victim, bytes(data), namespace=self.ns)
        r = self.run_b("verify", "ds")
        self.assertNotEqual(r.returncode, 0, r.stderr)
        self.assertIn(victim, r.stderr)
        self.assertIn(volid.split(":", 1)[1], r.stderr)

    def assertFailsCleanly(self, r, *needles):
        self.assertNotEqual(r.returncode, 0, r.stderr[-3000:])
        for n in needles:
            self.assertIn(n, r.stderr)
        self.assertRunning(self.env["CT_UNPRIV"])
        self.assertNoLeftovers()

    def test_wrong_pool_credentials_or_an_unreachable_cluster_fail_clearly(self):
        ct = self.env["CT_UNPRIV"]
        c = self.rados_cluster
        # A pool that does not exist.
        self.write_cfg(extra={"pool": "nosuchpool-" + self.ns})
        r = self.ws.run("backup", ct, "--storage", "ds", "--tmpdir", self.ws.tmp, "--mode", "snapshot")
        self.assertFailsCleanly(r, "nosuchpool-" + self.ns, "does not exist")
        # Wrong credentials: a keyring with another secret.
        keyring = os.path.join(self.ws.dir, "wrong.keyring")
        with open(keyring, "w") as f:
            f.write("[client.admin]\n\tkey = AQBHJSVl8M3uJBAAwv2AfyY0b6w0ZtWfdC6kCw==\n")
        self.write_cfg(extra={"keyring": keyring})
        r = self.ws.run("backup", ct, "--storage", "ds", "--tmpdir", self.ws.tmp, "--mode", "snapshot")
        self.assertFailsCleanly(r, "admin", keyring)
        # A user that does not exist.
        self.write_cfg(extra={"username": "nosuchuser"})
        r = self.ws.run("backup", ct, "--storage", "ds", "--tmpdir", self.ws.tmp, "--mode", "snapshot")
        self.assertFailsCleanly(r, "nosuchuser")
        # A cluster that does not answer: a conf naming a port nobody listens on.
        conf = os.path.join(self.ws.dir, "down.conf")
        with open(c.conf) as f:
            text = f.read()
        text = re.sub(r"mon[ _]host\s*=.*", "mon host = v2:127.0.0.1:%d" % closed_port(), text)
        with open(conf, "w") as f:
            f.write(text)
        self.write_cfg(extra={"ceph-conf": conf, "rados-timeout": "3"})
        started = time.time()
        r = self.ws.run("backup", ct, "--storage", "ds", "--tmpdir", self.ws.tmp, "--mode", "snapshot")
        self.assertLess(time.time() - started, 60)
        self.assertFailsCleanly(r, conf)
        r = self.ws.run("list", "ds")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(conf, r.stderr)
        # A conf that does not exist.
        self.write_cfg(extra={"ceph-conf": conf + ".missing"})
        r = self.ws.run("list", "ds")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(conf + ".missing", r.stderr)
        # Nothing was written into the real namespace by any of them.
        self.write_cfg()
        self.assertEqual(self.objects(), [])
        # `datastore create --storage` makes the store in the empty namespace, once.
        self.assertOk(self.ws.run("datastore", "create", "--storage", "ds"))
        self.assertIn("config", self.objects())
        r = self.run_b("datastore", "create", "--storage", "ds")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("holds a datastore already", r.stderr)
        self.backup(ct, "--mode", "snapshot")
        self.assertEqual(len(self.volids(ct)), 1)


class RadosOsdFailureTest(RadosBase):
    """A private cluster of three OSDs with a pool of size 2: an OSD stopped
    in the middle of a backup."""

    @classmethod
    def setUpClass(cls):
        cls.stack = contextlib.ExitStack()
        cls.private = cls.stack.enter_context(ceph.private(num_osds=3, pool_size=2))

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def cluster(self):
        return self.private

    def test_an_osd_stopped_mid_backup(self):
        unpriv = self.env["CT_UNPRIV"]
        self.wait_next_second(unpriv, "ds")
        p = self.ws.start("backup", unpriv, "--storage", "ds", "--mode", "snapshot", "--tmpdir", self.ws.tmp,
                          "--bwlimit", "40000")
        self.assertTrue(self.wait_for_object(p, "locks/backup." + unpriv))
        time.sleep(1.5)
        self.assertIsNone(p.poll(), "the backup ended before the OSD was stopped")
        self.private.osd_stop(1)
        _, err = p.communicate(timeout=600)
        self.backup_ended(unpriv, "ds")
        self.assertEqual(p.returncode, 0, err[-3000:])
        self.assertVerifyClean(self.ws.run("verify", "ds"))
        [volid] = self.volids(unpriv)
        self.assertFilesEqual(volid, self.env["ROOTFS_UNPRIV"], ["etc/passwd", "usr/bin/ls"])


if __name__ == "__main__":
    unittest.main()
