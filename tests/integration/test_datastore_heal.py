"""The datastore heals: verify moves a damaged chunk aside (to <chunk>.bad),
the next backup (incremental or --force-full) stores it again, and every
backup that needs it verifies and restores again; gc removes the damaged
copy afterwards."""
import glob
import json
import os
import shutil
import signal
import stat
import time

import harness


class DatastoreHealTest(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        self.created = []
        self.store = os.path.join(self.ws.dir, "ds")
        os.makedirs(self.store)
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("datastore: ds\n\tpath %s\n" % self.store)
        self.last_start = 0

    def tearDown(self):
        harness.destroy_containers(self.created)
        super().tearDown()

    def backup(self, ct, *extra):
        while int(time.time()) <= self.last_start:  # volume names have one-second resolution
            time.sleep(0.05)
        self.last_start = int(time.time())
        r = self.ws.run("backup", ct, "--storage", "ds", "--tmpdir", self.ws.tmp, *extra)
        self.last_start = int(time.time())  # its name may be of any second up to now
        self.assertOk(r)
        with open(os.path.join(self.ws.logs, "lxc-%s.log" % ct), errors="replace") as f:
            return f.read()

    def volids(self, ct):
        r = self.ws.run("list", "ds", "--vmid", ct)
        self.assertOk(r)
        return [l.split()[0] for l in r.stdout.splitlines() if l.startswith("ds:")]

    def chunks(self):
        return sorted(p for p in glob.glob(os.path.join(self.store, "chunks", "*", "*"))
                      if not p.endswith(".bad"))

    def bad_files(self):
        return sorted(glob.glob(os.path.join(self.store, "chunks", "*", "*.bad")))

    def damage_largest_chunk(self, skip=0):
        """Flips a byte in the middle of a large chunk (file data the
        container still has); returns its object name."""
        path = sorted(self.chunks(), key=os.path.getsize)[-1 - skip]
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0xFF]))
        return os.path.relpath(path, self.store)

    def verify_finds(self, obj, volids):
        r = self.ws.run("verify", "ds")
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        self.assertIn(obj, r.stderr)
        self.assertIn(obj + ".bad", r.stderr)
        for v in volids:
            self.assertIn("backup '%s' is damaged" % v, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.store, obj)))
        self.assertTrue(os.path.exists(os.path.join(self.store, obj + ".bad")))

    def verify_clean(self, *volids):
        r = self.ws.run("verify", "ds")
        self.assertOk(r)
        self.assertIn("no problems found", r.stderr)
        for v in volids:
            self.assertOk(self.ws.run("verify", "ds", v))

    def test_verify_moves_damage_aside_and_the_next_backups_heal(self):
        ct = self.env["CT_PRIV"]
        self.backup(ct)
        [v1] = self.volids(ct)

        # Incremental: the parent misses a chunk, so everything is read.
        obj = self.damage_largest_chunk()
        self.verify_finds(obj, [v1])
        name = self.env["CT_UNPRIV"].replace("-unpriv", "-dsheal")
        self.created.append(name)
        r = self.ws.run("restore", v1, name, *harness.trusted(v1), timeout=600)
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        self.assertIn(obj + ".bad", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.env["LXCPATH"], name)))
        log = self.backup(ct)
        self.assertIn("which is missing: verify found it damaged; reading everything", log)
        self.assertNotIn("incremental backup", log)
        v1, v2 = self.volids(ct)
        self.assertTrue(os.path.exists(os.path.join(self.store, obj)))
        self.verify_clean(v1, v2)
        # With every chunk back, the next backup is incremental again.
        self.assertIn("incremental backup", self.backup(ct))

        # --force-full heals too.
        obj2 = self.damage_largest_chunk(skip=1)
        vols = self.volids(ct)
        self.verify_finds(obj2, vols)
        self.assertIn("full backup (--force-full)", self.backup(ct, "--force-full"))
        vols = self.volids(ct)
        self.assertEqual(len(vols), 4)
        self.verify_clean(*vols)

        # The oldest backup restores again.
        r = self.ws.run("restore", v1, name, *harness.trusted(v1), timeout=600)
        self.assertOk(r)
        self.assertTrue(os.path.isdir(os.path.join(self.env["LXCPATH"], name, "rootfs", "usr")))

        # gc removes the damaged copies once the chunks are stored again.
        self.assertEqual(len(self.bad_files()), 2)
        r = self.ws.run("gc", "ds")
        self.assertOk(r)
        self.assertIn("2 damaged chunk copies (.bad) removed", r.stderr)
        self.assertEqual(self.bad_files(), [])
        self.verify_clean()

    def test_verify_of_a_nonexistent_backup_says_it_does_not_exist(self):
        ct = self.env["CT_PRIV"]
        self.backup(ct)
        [v1] = self.volids(ct)
        typo = v1[:-3] + ("00Z" if not v1.endswith("00Z") else "01Z")
        for arg in (typo, typo.split(":", 1)[1]):
            r = self.ws.run("verify", "ds", arg)
            self.assertEqual(r.returncode, 1, r.stderr[-3000:])
            self.assertIn("backup '%s' does not exist" % typo.split(":", 1)[1], r.stderr)
            self.assertNotIn("damaged", r.stderr)
        r = self.ws.run("verify", "ds", "ct/%s/not-a-time" % ct)
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        self.assertIn("is not a datastore volume", r.stderr)
        self.assertNotIn("damaged", r.stderr)
        self.verify_clean(v1)

    def test_verify_fails_for_a_chunk_flag_that_breaks_restore(self):
        # A chunk of a plain store whose flags byte claims encryption: restore
        # fails, so verify must too (it passed with a warning before).
        ct = self.env["CT_PRIV"]
        self.backup(ct)
        [v1] = self.volids(ct)
        path = sorted(self.chunks(), key=os.path.getsize)[-1]
        obj = os.path.relpath(path, self.store)
        with open(path, "r+b") as f:
            f.seek(9)
            flags = f.read(1)[0]
            f.seek(9)
            f.write(bytes([flags ^ 0x02]))
        r = self.ws.run("verify", "ds", v1)
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        self.assertIn(obj, r.stderr)
        self.assertIn("backup '%s' is damaged" % v1, r.stderr)
        self.assertNotIn("encrypted with another key", r.stderr)
        # Moved aside, and healed by the next backup.
        self.assertTrue(os.path.exists(path + ".bad"))
        self.backup(ct)
        self.verify_clean(*self.volids(ct))

    def slow_backup(self, ct, lock):
        """Starts a full backup slowed down by a bandwidth limit; returns once
        it holds its lock and streams."""
        while int(time.time()) <= self.last_start:
            time.sleep(0.05)
        self.last_start = int(time.time())
        p = self.ws.start("backup", ct, "--storage", "ds", "--mode", "snapshot", "--tmpdir", self.ws.tmp,
                          "--force-full", "--bwlimit", "8000")
        deadline = time.time() + 60
        while p.poll() is None and time.time() < deadline:
            try:
                with open(lock) as f:
                    if json.load(f).get("pid") == p.pid:
                        break
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        time.sleep(0.5)
        return p

    def test_gc_and_cleanup_remove_what_killed_writers_leave(self):
        ct = self.env["CT_UNPRIV"]
        snap = ("--mode", "snapshot")
        self.backup(ct, *snap)
        # A backup SIGKILLed while it streams.
        lock = os.path.join(self.store, "locks", "backup." + ct)
        p = self.slow_backup(ct, lock)
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate(timeout=60)
        self.assertOk(self.ws.run("cleanup"))
        # A deleted backup leaves its (empty) directory.
        self.backup(ct, *snap)
        v2 = self.volids(ct)[-1]
        self.assertOk(self.ws.run("delete", v2))
        deleted_dir = os.path.join(self.store, "snapshots", v2.split(":", 1)[1])
        self.assertEqual(os.listdir(deleted_dir), [])
        # Temporaries of killed writes: in the store and of the journals.
        ghost = os.path.join(self.store, "snapshots/ct/ghost/2020-01-01T00_00_00Z")
        os.makedirs(os.path.join(self.store, "chunks/0000"), exist_ok=True)
        os.makedirs(ghost)
        state = self.ws.journal_dir
        os.makedirs(state, exist_ok=True)
        made = [os.path.join(self.store, "chunks/0000", "0" * 64 + "~tmp.AAAAAAAAAAAA"),
                os.path.join(ghost, "data.didx~tmp.BBBBBBBBBBBB"),
                os.path.join(self.store, "config~tmp.CCCCCCCCCCCC"),
                os.path.join(state, "lxc-%s.json.tmp.DDDDDD" % ct),
                os.path.join(state, "restore-x.json.tmp.EEEEEE")]
        for f in made:
            with open(f, "w") as fh:
                fh.write("half")
        old = time.time() - 7200
        for dp, _, fns in os.walk(self.store):
            for fn in fns:
                if "~tmp." in fn:
                    os.utime(os.path.join(dp, fn), (old, old))
        for f in made[3:]:
            os.utime(f, (old, old))
        live_journal = os.path.join(state, "lxc-other.json.tmp.FFFFFF")
        with open(live_journal, "w") as fh:
            fh.write("being written")
        r = self.ws.run("cleanup")
        self.assertOk(r)
        self.assertFalse(os.path.exists(made[3]), r.stderr)
        self.assertFalse(os.path.exists(made[4]), r.stderr)
        self.assertTrue(os.path.exists(live_journal), "a live journal write was removed")

        # gc beside a live backup: old temporaries and empty directories go,
        # the live backup's (and a fresh one) stay, the backup succeeds.
        live_temp = os.path.join(self.store, "chunks/0000", "0" * 63 + "1~tmp.GGGGGGGGGGGG")
        with open(live_temp, "w") as fh:
            fh.write("being written")
        p = self.slow_backup(ct, lock)
        try:
            self.assertIsNone(p.poll(), "the backup ended before gc")
            r = self.ws.run("gc", "ds")
            self.assertOk(r)
        finally:
            _, err = p.communicate(timeout=300)
        self.assertEqual(p.returncode, 0, err[-3000:])
        self.assertRegex(r.stderr, r"removed [1-9]\d* temporary files of interrupted writes and [1-9]\d* empty "
                                   r"snapshot directories")
        for f in made[:3]:
            self.assertFalse(os.path.exists(f), f)
        self.assertTrue(os.path.exists(live_temp), "a fresh temporary was removed")
        self.assertFalse(os.path.exists(deleted_dir))
        self.assertFalse(os.path.exists(os.path.dirname(ghost)))
        for dp, dns, fns in os.walk(os.path.join(self.store, "snapshots")):
            self.assertTrue(dns or fns, "empty directory left: %s" % dp)
        os.unlink(live_temp)
        self.verify_clean(*self.volids(ct))

    def test_no_file_in_place_of_a_store_object_hangs_anything(self):
        # A FIFO blocks a plain open(), /dev/zero never ends: each must fail
        # at once, naming the object, for verify, restore-file and list.
        ct = self.env["CT_PRIV"]
        self.backup(ct)
        [v1] = self.volids(ct)
        target = os.path.join(self.ws.dir, "files")
        chunk = sorted(self.chunks(), key=os.path.getsize)[-1]
        manifest = os.path.join(self.store, "snapshots", v1.split(":", 1)[1], "manifest")
        config = os.path.join(self.store, "config")
        for path in (chunk, manifest, config):
            for kind in ("fifo", "zero"):
                with self.subTest(object=os.path.relpath(path, self.store), kind=kind):
                    saved = os.path.join(self.ws.dir, "saved-object")
                    os.rename(path, saved)
                    try:
                        if kind == "fifo":
                            os.mkfifo(path, 0o600)
                        else:
                            os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
                        for args in (("verify", "ds"), ("list", "ds"),
                                     ("restore-file", v1, "/", "--target", target)):
                            if args[0] == "list" and path == chunk:
                                continue
                            r = self.ws.run(*args, timeout=60)
                            if args[0] == "list" and path == manifest:
                                self.assertOk(r)  # a manifest that is no file is no backup
                                self.assertNotIn(v1, r.stdout)
                                continue
                            self.assertEqual(r.returncode, 1, "%s: %s" % (args, r.stderr[-2000:]))
                            self.assertIn(path, r.stderr, args)
                            self.assertIn("not a regular file", r.stderr, args)
                    finally:
                        os.unlink(path)
                        os.rename(saved, path)
                        shutil.rmtree(target, ignore_errors=True)
        self.verify_clean(v1)

    def test_datastore_create_and_no_store_written_into_other_files(self):
        # An existing directory with someone's files configured as a
        # datastore: list, verify, gc and backup refuse it and write nothing.
        ct = self.env["CT_PRIV"]
        mine = os.path.join(self.store, "important.txt")
        with open(mine, "w") as f:
            f.write("not a backup\n")
        for args in (("list", "ds"), ("verify", "ds"), ("gc", "ds"),
                     ("backup", ct, "--storage", "ds", "--tmpdir", self.ws.tmp)):
            r = self.ws.run(*args)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn("ctdump datastore create", r.stdout + r.stderr, args)
            self.assertEqual(os.listdir(self.store), ["important.txt"], args)
        r = self.ws.run("datastore", "create", self.store)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not empty", r.stderr)
        self.assertEqual(os.listdir(self.store), ["important.txt"])

        # An empty directory: list writes nothing; the first backup creates it.
        os.unlink(mine)
        r = self.ws.run("list", "ds")
        self.assertOk(r)
        self.assertEqual(os.listdir(self.store), [])
        self.backup(ct)
        self.assertTrue(os.path.exists(os.path.join(self.store, "config")))
        r = self.ws.run("datastore", "create", self.store)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("a datastore already", r.stderr)

        # `datastore create` on a missing directory; the store works.
        new = os.path.join(self.ws.dir, "new", "store")
        r = self.ws.run("datastore", "create", new)
        self.assertOk(r)
        self.assertTrue(os.path.exists(os.path.join(new, "config")))
        self.assertEqual(stat.S_IMODE(os.stat(new).st_mode), 0o700)
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("datastore: ds\n\tpath %s\n" % new)
        self.store = new
        self.backup(ct)
        self.verify_clean(*self.volids(ct))
        r = self.ws.run("datastore", "create", "relative/path")
        self.assertEqual(r.returncode, 2, r.stderr)  # a usage error
        self.assertIn("absolute", r.stderr)


if __name__ == "__main__":
    import unittest
    unittest.main()
