"""The built-in deduplicating `datastore` storage on the real containers:
round trips, incremental backups, dedup across containers, encryption,
damage found by verify and refused by restore, SIGKILLed backups, gc beside
a running backup, single-file restore and catalog, the store's permissions
and retention."""
import glob
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import time
import unittest

import datastore_base
import harness
import json_events
from datastore_base import tree_bytes, without_excluded
from test_restore import MAP2, manifest, strip_sparse


class DatastoreTest(datastore_base.DatastoreBase):

    # --- 1 ----------------------------------------------------------------

    def test_round_trips_unprivileged_and_privileged(self):
        ct = self.env["CT_UNPRIV"]
        r, log = self.backup(ct, "--mode", "snapshot")
        self.assertIn("full backup (no previous backup of this container)", log)
        self.assertIn("Finished Backup of VM %s" % ct, r.stderr)
        volid = self.only_volid(ct)
        self.assertRegex(volid, r"^ds:ct/%s/\d{4}-\d\d-\d\dT\d\d_\d\d_\d\dZ$" % re.escape(ct))
        snap = self.snapshot_dir(volid)
        self.assertEqual(sorted(os.listdir(snap)), ["data.didx", "manifest", "meta.didx", "task.log"])
        name = self.new_name("u")
        r = self.restore(volid, name, *MAP2, "--start")
        self.assertOk(r)
        self.assertEqual(harness.ct_state(name), "RUNNING")
        rootfs = os.path.join(self.ct_dir(name), "rootfs")
        st = os.stat(os.path.join(rootfs, "etc/shadow"))
        self.assertEqual((st.st_uid, st.st_gid), (200000, 200042))
        self.assertSameTree(self.fixture_lines("UNPRIV"), rootfs, 200000)
        out = subprocess.run(["lxc-attach", "-P", self.env["LXCPATH"], "-n", name, "--", "stat", "-c",
                              "%u:%g %a", "/etc/shadow", "/srv/tricky/uid1000.txt"],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL)
        self.assertEqual(out.stdout.split("\n")[:2], ["0:42 640", "1000:1000 600"])

        # The privileged container, restored privileged: host ids as they were.
        ct = self.env["CT_PRIV"]
        self.backup(ct)
        volid = self.only_volid(ct)
        name = self.new_name("p")
        r = self.restore(volid, name)
        self.assertOk(r)
        rootfs = os.path.join(self.ct_dir(name), "rootfs")
        with open(os.path.join(self.ct_dir(name), "config")) as f:
            self.assertNotIn("lxc.idmap", f.read())
        self.assertSameTree(self.fixture_lines("PRIV"), rootfs, 0)
        st = os.stat(os.path.join(rootfs, "srv/tricky/unmapped.txt"))
        self.assertEqual(st.st_uid, 4000000000)

    # --- 2 ----------------------------------------------------------------

    def test_incremental_backups_and_force_full(self):
        ct = self.env["CT_PRIV"]
        root = self.env["ROOTFS_PRIV"]
        tricky = os.path.join(root, "srv/tricky")
        d = os.path.join(tricky, "dsinc")
        st = os.stat(tricky)

        def restore_fixture():
            shutil.rmtree(d, ignore_errors=True)
            os.utime(tricky, ns=(st.st_atime_ns, st.st_mtime_ns))
        self.addCleanup(restore_fixture)
        os.mkdir(d)
        for n in "abcd":
            with open(os.path.join(d, n + ".txt"), "w") as f:
                f.write(("file %s\n" % n) * 200)
        with open(os.path.join(d, "random.bin"), "wb") as f:
            f.write(random.Random(2).randbytes(300 * 1024))

        _, log1 = self.backup(ct, "--mode", "stop")
        s1 = self.stats(log1)
        self.assertIn("full backup (no previous backup of this container)", log1)
        self.assertGreater(s1["read"], 50 << 20)

        _, log2 = self.backup(ct, "--mode", "stop")
        s2 = self.stats(log2)
        first = self.volids(ct)[0]
        self.assertIn("incremental backup: unchanged files are taken from '%s'" % first.split(":", 1)[1], log2)
        self.assertLess(s2["read"], s1["read"] / 20, log2)
        self.assertLess(s2["read"], s2["file_bytes"] / 20, log2)
        self.assertGreater(s2["reused_files"], 1000)
        want2 = manifest(root, 0)

        # Change the tree: new, appended, deleted, renamed, chmodded.
        with open(os.path.join(d, "e-new.txt"), "w") as f:
            f.write("a new file\n")
        with open(os.path.join(d, "a.txt"), "a") as f:
            f.write("appended\n")
        os.unlink(os.path.join(d, "b.txt"))
        os.rename(os.path.join(d, "c.txt"), os.path.join(d, "c-renamed.txt"))
        os.chmod(os.path.join(d, "d.txt"), 0o600)
        _, log3 = self.backup(ct, "--mode", "stop")
        s3 = self.stats(log3)
        self.assertIn("incremental backup: unchanged files are taken from '%s'"
                      % self.volids(ct)[1].split(":", 1)[1], log3)
        self.assertLess(s3["read"], s1["read"] / 20, log3)
        self.assertGreaterEqual(s3["read"], os.path.getsize(os.path.join(d, "a.txt")))
        want3 = manifest(root, 0)
        self.assertNotEqual(want2, want3)

        # --force-full reads everything again.
        _, log4 = self.backup(ct, "--mode", "stop", "--force-full")
        s4 = self.stats(log4)
        self.assertIn("full backup (--force-full)", log4)
        self.assertNotIn("incremental backup", log4)
        self.assertGreater(s4["read"], s1["read"] * 0.95)
        self.assertEqual(s4["reused_files"], 0)

        v1, v2, v3, v4 = self.volids(ct)
        for volid, want, tag in ((v3, want3, "3"), (v2, want2, "2")):
            name = self.new_name("i" + tag)
            self.assertOk(self.restore(volid, name))
            rootfs = os.path.join(self.ct_dir(name), "rootfs")
            self.assertSameTree(want, rootfs, 0)
            got = os.path.join(rootfs, "srv/tricky/dsinc")
            if tag == "3":
                self.assertFalse(os.path.exists(os.path.join(got, "b.txt")))
                self.assertFalse(os.path.exists(os.path.join(got, "c.txt")))
                with open(os.path.join(got, "c-renamed.txt")) as f:
                    self.assertEqual(f.read(), "file c\n" * 200)
                with open(os.path.join(got, "a.txt")) as f:
                    self.assertEqual(f.read(), "file a\n" * 200 + "appended\n")
                self.assertEqual(stat.S_IMODE(os.stat(os.path.join(got, "d.txt")).st_mode), 0o600)
            else:
                self.assertTrue(os.path.exists(os.path.join(got, "b.txt")))
                self.assertFalse(os.path.exists(os.path.join(got, "c-renamed.txt")))
                self.assertFalse(os.path.exists(os.path.join(got, "e-new.txt")))
            with open(os.path.join(got, "random.bin"), "rb") as f:
                self.assertEqual(f.read(), random.Random(2).randbytes(300 * 1024))

    # --- 3 ----------------------------------------------------------------

    def test_dedup_across_containers(self):
        _, log1 = self.backup(self.env["CT_PRIV"])
        s1 = self.stats(log1)
        size1 = tree_bytes(os.path.join(self.store, "chunks"))
        self.assertGreater(s1["new_bytes"], 50 << 20)
        _, log2 = self.backup(self.env["CT_UNPRIV"])
        s2 = self.stats(log2)
        size2 = tree_bytes(os.path.join(self.store, "chunks"))
        # Same Debian rootfs: the second container's data is mostly stored.
        self.assertIn("full backup (no previous backup of this container)", log2)
        self.assertGreater(s2["file_bytes"], 50 << 20)
        self.assertLess(s2["new_bytes"], s2["file_bytes"] / 10, log2)
        self.assertGreater(s2["dedup_chunks"], s2["new_chunks"], log2)
        self.assertLess(size2 - size1, size1 / 10)
        self.assertOk(self.ws.run("verify", "ds"))

    # --- 4 ----------------------------------------------------------------

    def make_key(self, name):
        path = os.path.join(self.ws.dir, name)
        # Unattended: in clear (a passphrase-protected key is test_key_store's).
        r = self.ws.run("key", "create", "--kdf", "none", path)
        self.assertOk(r)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        m = re.search(r"fingerprint ([0-9a-f]{2}(?::[0-9a-f]{2})+)", r.stderr)
        self.assertIsNotNone(m, r.stderr)
        return path, m.group(1)

    def test_encryption(self):
        ct = self.env["CT_PRIV"]
        key1, fp1 = self.make_key("k1.key")
        key2, fp2 = self.make_key("k2.key")
        self.assertNotEqual(fp1, fp2)
        r = self.ws.run("key", "create", "--kdf", "none", key1)
        self.assertEqual(r.returncode, 1, "key create overwrote an existing key")

        # Incompressible content with a marker every 4 KiB: it is stored as
        # is unless encrypted.
        marker = b"ctdump-plaintext-marker-%08x" % random.getrandbits(32)
        rnd = random.Random(4)
        content = b"".join(marker + rnd.randbytes(4096 - len(marker)) for _ in range(32))
        mfile = os.path.join(self.env["ROOTFS_PRIV"], "srv/ds-marker.bin")
        with open(mfile, "wb") as f:
            f.write(content)
        self.addCleanup(os.unlink, mfile)

        plain = os.path.join(self.ws.dir, "plain")
        os.makedirs(plain)
        self.write_cfg(key=key1, more="datastore: plain\n\tpath %s\n" % plain)
        _, log = self.backup(ct)
        self.backup(ct, storage="plain")

        def stores_marker(directory):
            for dp, _, fns in os.walk(directory):
                for fn in fns:
                    with open(os.path.join(dp, fn), "rb") as f:
                        if marker in f.read():
                            return True
            return False
        self.assertTrue(stores_marker(os.path.join(plain, "chunks")), "control: the marker is not in a plain store")
        self.assertFalse(stores_marker(self.store), "plaintext found in the encrypted store")

        volid = self.only_volid(ct)
        name = self.new_name("e")
        self.assertOk(self.restore(volid, name))
        rootfs = os.path.join(self.ct_dir(name), "rootfs")
        self.assertSameTree(self.fixture_lines("PRIV"), rootfs, 0)
        with open(os.path.join(rootfs, "srv/ds-marker.bin"), "rb") as f:
            self.assertEqual(f.read(), content)
        shutil.rmtree(self.ct_dir(name))

        # Without the key.
        self.write_cfg()
        r, listed = self.list_volids(allow_fail=True)
        self.assertIn("encrypted", r.stderr)
        self.assertIn(fp1, r.stderr)
        self.assertEqual(listed, [volid], "an unreadable backup is still listed (with a warning)")
        r = self.restore(volid, name)
        self.assertFailedNaming(r, "encrypted", fp1)
        self.assertNoContainer(name)
        r = self.ws.run("catalog", volid, "/etc/hostname")
        self.assertFailedNaming(r, "encrypted", fp1)

        # With another key.
        self.write_cfg(key=key2)
        r, listed = self.list_volids(allow_fail=True)
        self.assertIn(fp1, r.stderr)
        self.assertIn(fp2, r.stderr)
        self.assertEqual(listed, [volid], "an unreadable backup is still listed (with a warning)")
        r = self.restore(volid, name)
        self.assertFailedNaming(r, "encrypted", fp1, fp2)
        self.assertNoContainer(name)
        # Maintenance still works across keys: gc keeps the other key's chunks
        # (checked by the verify with the right key below), verify checks
        # their presence, but fails: the backup cannot be restored with the
        # configured key.
        self.assertOk(self.ws.run("gc", "ds"))
        r = self.ws.run("verify", "ds")
        self.assertFailedNaming(r, "encrypted with another key", fp1, fp2, volid)

        # A missing key file is named.
        self.write_cfg(key=os.path.join(self.ws.dir, "nokey"))
        r = self.restore(volid, name)
        self.assertFailedNaming(r, "encryption-key")
        self.assertNoContainer(name)

        # The right key again: all is well.
        self.write_cfg(key=key1)
        self.assertOk(self.ws.run("verify", "ds"))

    # --- 5 ----------------------------------------------------------------

    def test_damage_is_found_and_refused(self):
        ct = self.env["CT_PRIV"]
        self.backup(ct)
        volid = self.only_volid(ct)
        snap = self.snapshot_dir(volid)
        chunks = sorted(self.chunk_files(), key=os.path.getsize)
        self.assertGreater(len(chunks), 10)

        def flip(path):
            with open(path, "r+b") as f:
                f.seek(os.path.getsize(path) // 2)
                b = f.read(1)
                f.seek(-1, os.SEEK_CUR)
                f.write(bytes([b[0] ^ 0xFF]))

        def truncate(path):
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)

        cases = [("flipped chunk", chunks[-1], flip), ("truncated chunk", chunks[-2], truncate),
                 ("meta.didx", os.path.join(snap, "meta.didx"), flip),
                 ("data.didx", os.path.join(snap, "data.didx"), flip),
                 ("manifest", os.path.join(snap, "manifest"), flip)]
        name = self.new_name("c")
        for what, path, damage in cases:
            with self.subTest(damage=what):
                obj = os.path.relpath(path, self.store)
                saved = path + ".saved"
                shutil.copy2(path, saved)
                try:
                    damage(path)
                    r = self.ws.run("verify", "ds")
                    self.assertFailedNaming(r, obj)
                    self.assertIn("ERROR:", r.stderr)
                    r = self.ws.run("verify", "ds", volid)
                    self.assertFailedNaming(r, obj)
                    r = self.restore(volid, name)
                    self.assertFailedNaming(r, obj)
                    self.assertNoContainer(name)
                finally:
                    os.replace(saved, path)
                r = self.ws.run("verify", "ds")
                self.assertOk(r)
                self.assertIn("no problems found", r.stderr)
        # A missing chunk is named too.
        victim = chunks[len(chunks) // 2]
        os.rename(victim, victim + ".saved")
        try:
            r = self.ws.run("verify", "ds")
            self.assertFailedNaming(r, os.path.relpath(victim, self.store), "missing")
        finally:
            os.rename(victim + ".saved", victim)
        self.assertOk(self.ws.run("verify", "ds"))

    # --- 6 ----------------------------------------------------------------

    def test_sigkilled_backups_leave_no_visible_snapshot(self):
        ct = self.env["CT_UNPRIV"]
        rnd = random.Random(20261126)
        snap_leftover = os.path.join(os.path.dirname(self.env["ROOTFS_UNPRIV"]), ".ctdump-snap." +
                                     os.path.basename(self.env["ROOTFS_UNPRIV"]))
        killed_at = []
        for i in range(3):
            self.wait_next_second(ct, "ds")
            delay = rnd.uniform(0.05, 1.5)
            p = self.ws.start("backup", ct, "--storage", "ds", "--mode", "snapshot", "--tmpdir", self.ws.tmp)
            time.sleep(delay)
            finished = p.poll() is not None
            if not finished:
                os.killpg(p.pid, signal.SIGKILL)
            p.communicate(timeout=60)
            last_end = time.time()
            killed_at.append((round(delay, 2), finished))
            r = self.ws.run("cleanup")
            self.assertOk(r)
            self.assertRunning(ct)
            self.assertFalse(os.path.exists(snap_leftover), "snapshot left after cleanup")
            r = self.ws.run("verify", "ds")
            self.assertOk(r)
        listed = self.volids(ct)
        self.assertLessEqual(len(listed), 3, killed_at)
        target = os.path.join(self.ws.dir, "files")
        for v in listed:
            # A visible backup is a complete one.
            shutil.rmtree(target, ignore_errors=True)
            r = self.ws.run("restore-file", v, "/etc/hostname", "--target", target)
            self.assertOk(r)
            with open(os.path.join(target, "etc/hostname"), "rb") as a, \
                    open(os.path.join(self.env["ROOTFS_UNPRIV"], "etc/hostname"), "rb") as b:
                self.assertEqual(a.read(), b.read())
        r = self.ws.run("gc", "ds")
        self.assertOk(r)
        _, log = self.backup(ct, "--mode", "snapshot")
        self.assertEqual(len(self.volids(ct)), len(listed) + 1)
        r = self.ws.run("verify", "ds")
        self.assertOk(r)
        self.assertIn("no problems found", r.stderr)
        # With the killed backups' lock gone, gc now removes their leftovers,
        # once older than gc's start minus a second (younger objects may be an
        # in-flight backup's): the steps since the last kill can take less.
        time.sleep(max(0.0, last_end + 1.5 - time.time()))
        r = self.ws.run("gc", "ds")
        self.assertOk(r)
        self.assertEqual([x for x in os.listdir(os.path.join(self.store, "locks"))], [])
        for d in glob.glob(os.path.join(self.store, "snapshots/ct", ct, "*")):
            self.assertIn("manifest", os.listdir(d), "leftover of a killed backup after gc: %s\n%s" % (d, r.stderr))
        self.assertNoLeftovers()

    # --- 7 ----------------------------------------------------------------

    def gc(self):
        r = self.ws.run("gc", "ds")
        self.assertOk(r)
        m = re.search(r"; removed (\d+) unreferenced chunks", r.stderr)
        self.assertIsNotNone(m, r.stderr)
        return int(m.group(1))

    def age_chunks(self):
        old = time.time() - 7200
        for c in self.chunk_files():
            os.utime(c, (old, old))

    def backup_beside_gc(self, ct, streaming_first=False):
        """Backs up `ct` (slowed down by a bandwidth limit) while gc runs
        again and again, from the start or (streaming_first) once the backup
        has been streaming for a moment; returns (exit code, stderr, chunks
        removed, gc runs)."""
        self.wait_next_second(ct, "ds")
        removed = runs = 0
        p = self.ws.start("backup", ct, "--storage", "ds", "--mode", "snapshot", "--tmpdir", self.ws.tmp,
                          "--bwlimit", "40000")
        try:
            if streaming_first:
                lock = os.path.join(self.store, "locks", "backup." + ct)
                deadline = time.time() + 60
                while not os.path.exists(lock) and p.poll() is None and time.time() < deadline:
                    time.sleep(0.02)
                time.sleep(0.7)
            while p.poll() is None:
                removed += self.gc()
                runs += 1
                # A backup finishing waits for a moment without gc.
                time.sleep(0.3)
        finally:
            _, err = p.communicate(timeout=300)
        return p.returncode, err, removed, runs


    def test_gc_beside_a_running_backup(self):
        priv, unpriv = self.env["CT_PRIV"], self.env["CT_UNPRIV"]
        self.backup(priv)
        self.backup(priv)
        first, second = self.volids(priv)
        r = self.ws.run("delete", first)
        self.assertOk(r)
        self.assertEqual(self.volids(priv), [second])
        self.age_chunks()
        nchunks = len(self.chunk_files())

        rc, err, removed, runs = self.backup_beside_gc(unpriv)
        self.assertEqual(rc, 0, err[-3000:])
        self.assertGreaterEqual(runs, 2)
        removed += self.gc()
        self.assertGreater(removed, 0, "gc removed nothing of the deleted backup")
        self.assertLess(removed, nchunks)
        r = self.ws.run("verify", "ds")
        self.assertOk(r)
        self.assertIn("verified 2 backup(s)", r.stderr)
        for ct, rootfs in ((priv, self.env["ROOTFS_PRIV"]), (unpriv, self.env["ROOTFS_UNPRIV"])):
            [volid] = self.volids(ct)
            target = os.path.join(self.ws.dir, "etc-" + ct)
            r = self.ws.run("restore-file", volid, "/etc", "--target", target)
            self.assertOk(r)
            for f in ("etc/passwd", "etc/group", "etc/shadow", "etc/hostname", "etc/debian_version"):
                with open(os.path.join(target, f), "rb") as a, open(os.path.join(rootfs, f), "rb") as b:
                    self.assertEqual(a.read(), b.read(), f)

    def test_gc_racing_a_backup_that_finds_old_unreferenced_chunks(self):
        # Every chunk is old and unreferenced, and the backup finds most of
        # them stored: gc removes some before, some after the backup touched
        # them. The backup must either succeed with all its chunks kept or
        # fail without publishing anything.
        priv, unpriv = self.env["CT_PRIV"], self.env["CT_UNPRIV"]
        self.backup(priv)
        [volid] = self.volids(priv)
        self.assertOk(self.ws.run("delete", volid))
        self.age_chunks()
        rc, err, removed, runs = self.backup_beside_gc(unpriv, streaming_first=True)
        self.assertGreater(runs, 1)
        self.assertGreater(removed, 0)
        if rc != 0:
            self.assertIn("was removed by a concurrent garbage collection; the backup was not published", err)
            self.assertEqual(self.volids(unpriv), [])
        else:
            self.assertEqual(len(self.volids(unpriv)), 1)
        r = self.ws.run("verify", "ds")
        self.assertOk(r)
        self.assertIn("no problems found", r.stderr)
        self.gc()
        _, log = self.backup(unpriv, "--mode", "snapshot")
        self.assertOk(self.ws.run("verify", "ds"))
        for v in self.volids(unpriv):
            target = os.path.join(self.ws.dir, "etc-" + v.replace("/", "_"))
            self.assertOk(self.ws.run("restore-file", v, "/etc/passwd", "--target", target))
            with open(os.path.join(target, "etc/passwd"), "rb") as a, \
                    open(os.path.join(self.env["ROOTFS_UNPRIV"], "etc/passwd"), "rb") as b:
                self.assertEqual(a.read(), b.read())

    # --- 8 ----------------------------------------------------------------

    def test_catalog_and_restore_file(self):
        ct = self.env["CT_UNPRIV"]
        self.backup(ct)
        volid = self.only_volid(ct)
        r = self.ws.run("catalog", volid, "/etc/shadow")
        self.assertOk(r)
        [line] = r.stdout.splitlines()
        self.assertRegex(line, r"^-rw-r----- +0 +42 +\d+ \d{4}-\d\d-\d\d \d\d:\d\d /etc/shadow$")
        r = self.ws.run("--output-format", "json", "catalog", volid, "/srv/tricky/uid1000.txt")
        self.assertOk(r)
        [e] = json_events.result(r.stdout)
        self.assertEqual((e["path"], e["uid"], e["gid"], e["mode"], e["type"]),
                         ("/srv/tricky/uid1000.txt", 1000, 1000, 0o600, "-"))
        r = self.ws.run("catalog", volid, "/srv/tricky")
        self.assertOk(r)
        self.assertIn(" /srv/tricky/symlink -> hello.txt", r.stdout)
        self.assertRegex(r.stdout, r" /srv/tricky/hl2 link to /srv/tricky/hl1\n|"
                                   r" /srv/tricky/hl1 link to /srv/tricky/hl2\n")
        self.assertNotIn("/tmp/should-be-excluded", self.ws.run("catalog", volid).stdout)
        r = self.ws.run("catalog", volid, "/no/such/file")
        self.assertFailedNaming(r, "/no/such/file")

        target = os.path.join(self.ws.dir, "files")
        # Everything as stored, setuid bits and file capabilities too (removed
        # by default: test_restore_security).
        r = self.ws.run("restore-file", volid, "/etc/hostname", "/srv", "--target", target,
                        "--keep-setuid-and-caps")
        self.assertOk(r)
        self.assertEqual(sorted(os.listdir(target)), ["etc", "srv"])
        self.assertEqual(os.listdir(os.path.join(target, "etc")), ["hostname"])
        with open(os.path.join(target, "etc/hostname"), "rb") as a, \
                open(os.path.join(self.env["ROOTFS_UNPRIV"], "etc/hostname"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        # The container's view of owners, as in the fixture's manifest.
        got = manifest(target, 0)
        want = {k: v for k, v in without_excluded(self.fixture_lines("UNPRIV")).items() if k.startswith(b"/srv/")}
        self.assertGreater(len(want), 20)
        for path, line in want.items():
            self.assertIn(path, got, path)
            self.assertEqual(strip_sparse(got[path]), strip_sparse(line), path)

        # A path with ".." and a relative --target are usage errors (exit 2).
        for bad in ("/etc/../etc/passwd", "../x"):
            r = self.ws.run("restore-file", volid, bad, "--target", os.path.join(self.ws.dir, "bad"))
            self.assertEqual(r.returncode, 2, r.stderr[-3000:])
            self.assertIn('".."', r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.ws.dir, "bad", "etc")))
        r = self.ws.run("restore-file", volid, "/no/such", "--target", os.path.join(self.ws.dir, "bad2"))
        self.assertFailedNaming(r, "/no/such")
        r = self.ws.run("restore-file", volid, "/etc/hostname", "--target", "relative/dir")
        self.assertEqual(r.returncode, 2, r.stderr)

    # --- 9 ----------------------------------------------------------------

    def test_store_is_private_to_host_root(self):
        ct = self.env["CT_UNPRIV"]
        self.backup(ct)
        self.assertOk(self.ws.run("gc", "ds"))
        n = 0
        for dp, dns, fns in os.walk(self.store):
            for x in dns:
                st = os.lstat(os.path.join(dp, x))
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o700, os.path.join(dp, x))
                self.assertEqual((st.st_uid, st.st_gid), (0, 0), os.path.join(dp, x))
            for x in fns:
                st = os.lstat(os.path.join(dp, x))
                self.assertTrue(stat.S_ISREG(st.st_mode), os.path.join(dp, x))
                self.assertEqual(stat.S_IMODE(st.st_mode), 0o600, os.path.join(dp, x))
                self.assertEqual((st.st_uid, st.st_gid), (0, 0), os.path.join(dp, x))
                n += 1
        self.assertGreater(n, 10)
        # The container's root on the host (uid 100000) cannot look in.
        probe = ("import os, sys\n"
                 "for p in sys.argv[1:]:\n"
                 "    try:\n"
                 "        os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read(1)\n"
                 "        print('READABLE', p)\n"
                 "    except PermissionError:\n"
                 "        pass\n")
        some_chunk = self.chunk_files()[0]
        paths = [os.path.join(self.store, "chunks"), os.path.join(self.store, "snapshots"),
                 os.path.join(self.store, "config"), some_chunk]
        r = subprocess.run(["setpriv", "--reuid", "100000", "--regid", "100000", "--clear-groups",
                            "python3", "-c", probe] + paths, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")

    # --- 10 ---------------------------------------------------------------

    def test_retention_and_protection(self):
        ct = self.env["CT_PRIV"]
        self.write_cfg(extra={"prune-backups": "keep-last=2"})
        for i in range(3):
            r, _ = self.backup(ct)
        self.assertIn("pruned 1 backup(s)", r.stderr)
        kept = self.volids(ct)
        self.assertEqual(len(kept), 2)
        r, _ = self.backup(ct, "--protected", "1", "--notes-template", "{{guestname}} keep")
        r = self.ws.run("--output-format", "json", "list", "ds")
        entries = json_events.result(r.stdout)
        prot = [e for e in entries if e["protected"]]
        self.assertEqual(len(prot), 1, entries)
        self.assertEqual(prot[0]["notes"], "%s keep" % ct)
        self.assertTrue(os.path.exists(os.path.join(self.snapshot_dir(prot[0]["volid"]), "protected")))
        r = self.ws.run("delete", prot[0]["volid"])
        self.assertFailedNaming(r, "protected")
        self.assertIn(prot[0]["volid"], self.volids(ct))
        r = self.ws.run("prune", "ds", ct, "--prune-backups", "keep-last=1")
        self.assertOk(r)
        left = self.volids(ct)
        self.assertIn(prot[0]["volid"], left)
        self.assertLessEqual(len(left), 2, left)
        unprotected = [v for v in left if v != prot[0]["volid"]]
        for v in unprotected:
            self.assertOk(self.ws.run("delete", v))
        self.assertEqual(self.volids(ct), [prot[0]["volid"]])
        self.assertOk(self.ws.run("verify", "ds"))

    def test_full_store_fails_cleanly_and_the_next_backup_works(self):
        """A datastore that runs out of space mid-backup: the backup fails
        naming the cause, nothing is visible, no temporary file or lock is
        left, and once there is room again the next backup and verify work."""
        ct = self.env["CT_PRIV"]
        with harness.loop_fs(self.ws.dir, "small", "400M", ["mkfs.ext4", "-q", "-F", "-m", "0"]) as mnt:
            self.store = os.path.join(mnt, "ds")
            os.makedirs(self.store)
            self.write_cfg()
            # All but 12 MiB taken: the backup's chunks fill the rest.
            filler = os.path.join(mnt, "filler")
            st = os.statvfs(mnt)
            subprocess.run(["fallocate", "-l", str(st.f_bavail * st.f_frsize - (12 << 20)), filler], check=True)
            r, log = self.backup(ct, ok=False)
            self.assertEqual(r.returncode, 1, r.stderr[-3000:])
            self.assertIn("No space left on device", r.stderr)
            self.assertIn("No space left on device", log)
            # Names the object or its directory (whichever ran out of room), never a temp name.
            self.assertRegex(r.stderr, r'Failed to (write|create directory) "%s/chunks/' % re.escape(self.store))
            self.assertNotIn("~tmp.", r.stderr)
            _, listed = self.list_volids(ct=ct)
            self.assertEqual(listed, [])
            temps = [os.path.join(dp, f) for dp, _, fns in os.walk(self.store) for f in fns if f.startswith("~tmp.")]
            self.assertEqual(temps, [])
            self.assertEqual(os.listdir(os.path.join(self.store, "locks")), [])
            self.assertEqual(glob.glob(os.path.join(self.store, "snapshots/ct", ct, "*")), [],
                             "the failed backup left its snapshot directory")
            os.unlink(filler)  # room again
            r, log = self.backup(ct)
            volid = self.only_volid(ct)
            r = self.ws.run("verify", "ds")
            self.assertOk(r)
            self.assertIn("no problems found", r.stderr)
            target = os.path.join(self.ws.dir, "files")
            self.assertOk(self.ws.run("restore-file", volid, "/etc/hostname", "--target", target))
            with open(os.path.join(target, "etc/hostname"), "rb") as a, \
                    open(os.path.join(self.env["ROOTFS_PRIV"], "etc/hostname"), "rb") as b:
                self.assertEqual(a.read(), b.read())
        self.assertNoLeftovers()

    def test_interrupted_restore_leaves_nothing(self):
        """SIGTERM or SIGINT in the middle of a restore from the store: the
        half-restored container (its directory and root file system) is
        removed and no extraction process is left running."""
        ct = self.env["CT_PRIV"]
        self.backup(ct)
        volid = self.only_volid(ct)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig.name):
                name = self.new_name("i" + str(int(sig)))
                code, err = self.signal_mid_restore(volid, name, sig)
                self.assertNotEqual(code, 0, err[-2000:])
                self.assertIn("interrupted by signal", err)
                self.assertNoContainer(name)
                left = subprocess.run(["pgrep", "-f", name], capture_output=True, text=True).stdout
                self.assertEqual(left, "", "processes of the interrupted restore are still running")
        self.assertNoLeftovers()

    def test_sigkilled_restore_is_removed_by_cleanup_or_the_next_restore(self):
        """A restore killed with SIGKILL runs no destructor: its journal in the
        run directory lets `ctdump cleanup`, or the next restore of the same
        name, remove the half-restored container."""
        ct = self.env["CT_PRIV"]
        self.backup(ct)
        volid = self.only_volid(ct)
        name = self.new_name("k")

        def kill_mid_restore():
            self.signal_mid_restore(volid, name, signal.SIGKILL)
            self.assertTrue(os.path.isdir(os.path.join(self.ct_dir(name), "rootfs")))
            self.assertFalse(os.path.exists(os.path.join(self.ct_dir(name), "config")))

        kill_mid_restore()
        r = self.ws.run("cleanup")
        self.assertOk(r)
        self.assertIn("removed 1 interrupted restore(s)", r.stderr)
        self.assertNoContainer(name)
        self.assertEqual(os.listdir(self.ws.journal_dir), [])

        kill_mid_restore()
        r = self.restore(volid, name)  # no --force needed
        self.assertOk(r)
        self.assertIn("of interrupted restore of '%s'" % name, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.ct_dir(name), "config")))
        self.assertEqual(os.listdir(self.ws.journal_dir), [])
        # A finished restore is never touched again.
        self.assertOk(self.ws.run("cleanup"))
        self.assertTrue(os.path.exists(os.path.join(self.ct_dir(name), "config")))

    def test_tree_deeper_than_the_walk(self):
        """A container can nest directories deeper than a path can name (and
        deeper than the walk goes): the backup succeeds with a warning, and
        the restore brings back everything down to the walk's limit."""
        ct = self.env["CT_PRIV"]
        top = os.path.join(self.env["ROOTFS_PRIV"], "srv/deep")
        os.makedirs(top)
        try:
            fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
            for i in range(1, 2060):
                os.mkdir("d", dir_fd=fd)
                nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = nfd
                if i == 1500:
                    f = os.open("f", os.O_WRONLY | os.O_CREAT, 0o640, dir_fd=fd)
                    os.write(f, b"deep\n")
                    os.close(f)
            os.close(fd)
            r, log = self.backup(ct)
            self.assertIn("nested deeper than 2048 directories", log)
            volid = self.only_volid(ct)
        finally:
            subprocess.run(["rm", "-rf", "--one-file-system", top], check=True)
        name = self.new_name("deep")
        try:
            r = self.restore(volid, name)
            self.assertOk(r)
            fd = os.open(os.path.join(self.ct_dir(name), "rootfs/srv/deep"), os.O_RDONLY | os.O_DIRECTORY)
            depth = 0
            try:
                while True:
                    if depth == 1500:
                        f = os.open("f", os.O_RDONLY, dir_fd=fd)
                        self.assertEqual(os.read(f, 100), b"deep\n")
                        os.close(f)
                    try:
                        nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                    except FileNotFoundError:
                        break
                    os.close(fd)
                    fd = nfd
                    depth += 1
            finally:
                os.close(fd)
            # 2048 directories below the root: srv, deep and 2046 d.
            self.assertEqual(depth, 2046)
        finally:
            # Before tearDown, whose shutil.rmtree recurses too deep here.
            subprocess.run(["rm", "-rf", "--one-file-system", self.ct_dir(name)], check=True)

    def test_concurrent_backups_from_two_hosts_share_chunks_safely(self):
        """Two ctdump instances (separate run directories, as two hosts on a
        shared store would have) back up both containers into one store at
        the same time: they race to put the same chunks (both containers
        come from one rootfs), and both backups, verify and a restore from
        each come out right."""
        ct_a, ct_b = self.env["CT_PRIV"], self.env["CT_UNPRIV"]
        for _ in range(2):
            for ct in (ct_a, ct_b):
                self.wait_next_second(ct, "ds")
            env_b = self.ws.environ()
            env_b["CTDUMP_RUN_DIR"] = os.path.join(self.ws.dir, "run-b")
            env_b["CTDUMP_LOG_DIR"] = os.path.join(self.ws.dir, "log-b")
            common = ["backup", "--storage", "ds", "--tmpdir", self.ws.tmp, "--mode", "snapshot"]
            a = self.ws.start(*(common[:1] + [ct_a] + common[1:]))
            b = subprocess.Popen(self.ws.cmd(*(common[:1] + [ct_b] + common[1:])), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, errors="replace", env=env_b,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
            _, err_a = a.communicate(timeout=300)
            _, err_b = b.communicate(timeout=300)
            self.assertEqual(a.returncode, 0, err_a[-3000:])
            self.assertEqual(b.returncode, 0, err_b[-3000:])
        r = self.ws.run("verify", "ds")
        self.assertOk(r)
        self.assertIn("no problems found", r.stderr)
        target = os.path.join(self.ws.dir, "files")
        for ct, root in ((ct_a, "ROOTFS_PRIV"), (ct_b, "ROOTFS_UNPRIV")):
            volids = self.volids(ct)
            self.assertEqual(len(volids), 2, volids)
            shutil.rmtree(target, ignore_errors=True)
            self.assertOk(self.ws.run("restore-file", volids[-1], "/etc/hostname", "/usr/bin/ls", "--target", target))
            for rel in ("etc/hostname", "usr/bin/ls"):
                with open(os.path.join(target, rel), "rb") as x, open(os.path.join(self.env[root], rel), "rb") as y:
                    self.assertEqual(x.read(), y.read(), rel)
        self.assertNoLeftovers()


if __name__ == "__main__":
    unittest.main()
