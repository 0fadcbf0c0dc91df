"""The built-in `dir` storage: vzdump-compatible .tar.zst archives that GNU
tar reads, restored by ctdump; and vzdump-layout archives made by GNU tar
restored by ctdump."""
import glob
import os
import subprocess
import time
import unittest

import harness
from test_restore import MAP2, manifest_lines, manifest, strip_sparse


class DirStorageTest(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        self.created = []
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("dir: local\n\tpath %s\n\tprune-backups keep-last=2\n" % self.ws.target)
        os.makedirs(os.path.join(self.ws.target, "dump"))

    def tearDown(self):
        harness.destroy_containers(self.created)
        super().tearDown()

    def backup(self, ct, *extra):
        r = self.ws.run("backup", ct, "--storage", "local", "--tmpdir", self.ws.tmp, *extra)
        self.assertOk(r)
        return r

    def archives(self, ct):
        return sorted(glob.glob(os.path.join(self.ws.target, "dump", "vzdump-lxc-%s-*.tar.zst" % ct)))

    def test_archive_layout_and_gnu_tar(self):
        ct = self.env["CT_UNPRIV"]
        self.backup(ct, "--notes-template", "{{guestname}}", "--protected", "1")
        [archive] = self.archives(ct)
        base = archive[:-len(".tar.zst")]
        self.assertRegex(os.path.basename(archive), r"^vzdump-lxc-%s-\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d\.tar\.zst$" % ct)
        self.assertTrue(os.path.exists(base + ".log"))
        self.assertTrue(os.path.exists(archive + ".protected"))
        with open(archive + ".notes") as f:
            self.assertEqual(f.read().strip(), ct)
        self.assertEqual(glob.glob(os.path.join(self.ws.target, "dump", "*.tmp")), [])
        out = subprocess.run(["tar", "-I", "zstd", "--numeric-owner", "-tvf", archive],
                             capture_output=True, text=True, check=True).stdout.splitlines()
        names = [l.split()[-1] for l in out]
        self.assertEqual(names[:2], ["./etc/vzdump/pct.conf", "./etc/vzdump/pct.fw"])
        shadow = [l for l in out if l.endswith(" ./etc/shadow")][0]
        self.assertIn(" 0/42 ", shadow)
        # GNU tar + zstd extract it (as the container's root would see it).
        dest = os.path.join(self.ws.dir, "gnu")
        os.makedirs(dest)
        r = subprocess.run(["tar", "-I", "zstd", "--numeric-owner", "--xattrs", "--acls", "-xpf", archive,
                            "-C", dest, "--exclude=./dev/*"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        st = os.stat(os.path.join(dest, "srv/tricky/uid1000.txt"))
        self.assertEqual(st.st_uid, 1000)

    def test_round_trip_into_new_unprivileged_container(self):
        ct = self.env["CT_UNPRIV"]
        self.backup(ct)
        [archive] = self.archives(ct)
        name = self.env["CT_UNPRIV"].replace("-unpriv", "-rd")
        self.created.append(name)
        r = self.ws.run("restore", "local:" + os.path.basename(archive), name, *MAP2, "--start", timeout=600)
        self.assertOk(r)
        self.assertEqual(harness.ct_state(name), "RUNNING")
        rootfs = os.path.join(self.env["LXCPATH"], name, "rootfs")
        want = {k: v for k, v in manifest_lines(self.env["MANIFEST_UNPRIV"]).items()
                if not k.startswith((b"/tmp/", b"/var/tmp/")) and b"\tunreadable\t" not in v}
        got = manifest(rootfs, 200000)
        for path, line in want.items():
            self.assertIn(path, got, path)
            self.assertEqual(strip_sparse(got[path]), strip_sparse(line), path)
            if b"sparse=1" in line:
                self.assertIn(b"sparse=1", got[path], path)

    def test_incomplete_archive_of_a_killed_job_is_removed(self):
        stale = os.path.join(self.ws.target, "dump", "vzdump-lxc-gone-2020_01_01-00_00_00.tar.zst.tmp")
        with open(stale, "w") as f:
            f.write("half")
        r = self.backup(self.env["CT_PRIV"])
        self.assertIn("removing incomplete archive '%s' of an interrupted backup" % os.path.basename(stale),
                      r.stderr)
        self.assertFalse(os.path.exists(stale))

    def test_retention_of_the_storage(self):
        ct = self.env["CT_PRIV"]
        for i in range(3):
            if i:
                time.sleep(1.1)
            r = self.backup(ct)
        self.assertIn("pruned 1 backup(s)", r.stderr)
        self.assertEqual(len(self.archives(ct)), 2)

    def test_gnu_tar_archive_in_vzdump_layout_restores(self):
        src = self.env["ROOTFS_PRIV"]
        dump = os.path.join(self.ws.target, "dump")
        name = "vzdump-lxc-%s-2020_01_02-03_04_05.tar.gz" % self.env["CT_PRIV"]
        etc = os.path.join(self.ws.dir, "meta/etc/vzdump")
        os.makedirs(etc)
        with open(os.path.join(self.env["LXCPATH"], self.env["CT_PRIV"], "config")) as f, \
                open(os.path.join(etc, "pct.conf"), "w") as out:
            out.write(f.read())
        open(os.path.join(etc, "pct.fw"), "w").close()
        subprocess.run(["tar", "-czpf", os.path.join(dump, name), "--numeric-owner", "--sparse", "--acls",
                        "--xattrs", "--xattrs-include=user.*", "-C", os.path.join(self.ws.dir, "meta"),
                        "./etc/vzdump/pct.conf", "./etc/vzdump/pct.fw", "-C", src, "--exclude=./dev/*",
                        "."], check=True)
        newct = self.env["CT_PRIV"].replace("-priv", "-rg")
        self.created.append(newct)
        r = self.ws.run("restore", "local:" + name, newct, "--unprivileged", "1", *MAP2, timeout=600)
        self.assertOk(r)
        st = os.stat(os.path.join(self.env["LXCPATH"], newct, "rootfs/etc/shadow"))
        self.assertEqual((st.st_uid, st.st_gid), (200000, 200042))
        self.assertIn("cannot represent", r.stderr)  # the privileged CT's uid 4000000000 file

    def test_lzo_compression_as_vzdump(self):
        """compress lzo (vzdump's `compress 1`) writes .tar.lzo through lzop;
        it restores without a stray 'Broken pipe' from lzop."""
        with open(os.path.join(self.ws.config, "storage.cfg"), "a") as f:
            f.write("\tcompress lzo\n")
        ct = self.env["CT_UNPRIV"]
        self.backup(ct)
        [archive] = glob.glob(os.path.join(self.ws.target, "dump", "vzdump-lxc-%s-*.tar.lzo" % ct))
        self.assertTrue(os.path.exists(archive[:-len(".tar.lzo")] + ".log"))
        subprocess.run(["lzop", "-t", archive], check=True)
        names = subprocess.run(["tar", "--lzop", "-tf", archive], capture_output=True, text=True,
                               check=True).stdout.splitlines()
        self.assertEqual(names[0], "./etc/vzdump/pct.conf")
        name = ct.replace("-unpriv", "-rl")
        self.created.append(name)
        r = self.ws.run("restore", "local:" + os.path.basename(archive), name, *MAP2, timeout=600)
        self.assertOk(r)
        self.assertNotIn("Broken pipe", r.stderr)
        st = os.stat(os.path.join(self.env["LXCPATH"], name, "rootfs/srv/tricky/uid1000.txt"))
        self.assertEqual(st.st_uid, 201000)

    def _vzdump_tree(self):
        """A small tree in vzdump's layout: ./etc/vzdump/pct.conf first."""
        tree = os.path.join(self.ws.dir, "tree")
        os.makedirs(os.path.join(tree, "etc/vzdump"))
        os.makedirs(os.path.join(tree, "srv"))
        with open(os.path.join(tree, "etc/vzdump/pct.conf"), "w") as f:
            f.write("arch: amd64\nhostname: made-by-gnu-tar\nunprivileged: 1\n")
        with open(os.path.join(tree, "srv/data"), "wb") as f:
            f.write(os.urandom(300000))
        os.chown(os.path.join(tree, "srv/data"), 1000, 1000)
        return tree

    def test_vzdump_archive_names_and_compressions_restore(self):
        """Names PVE accepts (.tar.lzo, .tar.bz2, .tgz, .tar.gz, .tar) made by
        GNU tar and the compressor programs vzdump uses restore with ctdump."""
        tree = self._vzdump_tree()
        with open(os.path.join(tree, "srv/data"), "rb") as f:
            data = f.read()
        dump = os.path.join(self.ws.target, "dump")
        for i, (suffix, flag) in enumerate([(".tar.lzo", "--lzop"), (".tar.bz2", "--bzip2"),
                                            (".tgz", "--gzip"), (".tar", None)]):
            name = "vzdump-lxc-gnu%d-2020_01_02-03_04_05%s" % (i, suffix)
            cmd = ["tar", "-cpf", os.path.join(dump, name), "--numeric-owner", "-C", tree, "./etc/vzdump/pct.conf",
                   "./srv"]
            if flag:
                cmd.insert(1, flag)
            subprocess.run(cmd, check=True)
            r = self.ws.run("list", "local")
            self.assertOk(r)
            self.assertIn("local:" + name, r.stdout)
            newct = self.env["CT_PRIV"].replace("-priv", "-g%d" % i)
            self.created.append(newct)
            r = self.ws.run("restore", "local:" + name, newct, *MAP2, timeout=600)
            self.assertOk(r)
            self.assertNotIn("Broken pipe", r.stderr)
            restored = os.path.join(self.env["LXCPATH"], newct, "rootfs/srv/data")
            with open(restored, "rb") as f:
                self.assertEqual(f.read(), data, suffix)
            self.assertEqual(os.stat(restored).st_uid, 201000, suffix)

    def test_damaged_lzo_archive_fails_restore_naming_lzop(self):
        tree = self._vzdump_tree()
        name = "vzdump-lxc-bad-2020_01_02-03_04_05.tar.lzo"
        path = os.path.join(self.ws.target, "dump", name)
        subprocess.run(["tar", "--lzop", "-cpf", path, "-C", tree, "./etc/vzdump/pct.conf", "./srv"], check=True)
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            f.write(b"\xff" * 64)
        newct = self.env["CT_PRIV"].replace("-priv", "-gb")
        self.created.append(newct)
        r = self.ws.run("restore", "local:" + name, newct, *MAP2, timeout=600)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("lzop", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.env["LXCPATH"], newct)))


    def test_verify_reads_dir_archives_whole(self):
        ct = self.env["CT_PRIV"]
        self.backup(ct)
        [archive] = self.archives(ct)
        vol = "local:" + os.path.basename(archive)
        r = self.ws.run("verify", "local")
        self.assertOk(r)
        self.assertIn("backup '%s' is intact" % vol, r.stderr)
        r = self.ws.run("verify", "local", os.path.basename(archive).replace("20", "19", 1))
        self.assertEqual(r.returncode, 1)
        self.assertIn("does not exist", r.stderr)
        self.assertNotIn("damaged", r.stderr)
        # One flipped byte in the middle: zstd's frame checksum catches it.
        size = os.path.getsize(archive)
        with open(archive, "r+b") as f:
            f.seek(size // 2)
            b = f.read(1)
            f.seek(size // 2)
            f.write(bytes([b[0] ^ 0x01]))
        r = self.ws.run("verify", "local", vol)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("backup '%s' is damaged" % vol, r.stderr)

    def test_fifo_or_device_in_dump_never_hangs(self):
        dump = os.path.join(self.ws.target, "dump")
        fifo = "vzdump-lxc-fifo-2020_01_02-03_04_05.tar.zst"
        os.mkfifo(os.path.join(dump, fifo))
        zero = "vzdump-lxc-zero-2020_01_02-03_04_05.tar"
        os.symlink("/dev/zero", os.path.join(dump, zero))
        tree = self._vzdump_tree()
        good = "vzdump-lxc-good-2020_01_02-03_04_05.tar"
        subprocess.run(["tar", "-cpf", os.path.join(dump, good), "-C", tree, "./etc/vzdump/pct.conf", "./srv"],
                       check=True)
        os.mkfifo(os.path.join(dump, good + ".notes"))
        r = self.ws.run("list", "local", timeout=60)
        self.assertOk(r)
        self.assertIn("local:" + good, r.stdout)
        self.assertNotIn(fifo, r.stdout)
        self.assertNotIn(zero, r.stdout)
        for vol in (fifo, zero):
            newct = self.env["CT_PRIV"].replace("-priv", "-fz")
            r = self.ws.run("restore", "local:" + vol, newct, *MAP2, timeout=60)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("not a regular file", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.env["LXCPATH"], newct)))
        r = self.ws.run("verify", "local", timeout=60)
        self.assertOk(r)
        self.assertIn("verified 1 backup(s)", r.stderr)

    def test_verify_through_an_external_provider(self):
        ct = self.env["CT_PRIV"]
        self.ws.write_storage({})
        r = self.ws.backup(ct)
        self.assertOk(r)
        r = self.ws.run("verify", self.ws.storage_id)
        self.assertOk(r)
        self.assertIn("is intact", r.stderr)
        self.assertIn("verified 1 backup(s)", r.stderr)


if __name__ == "__main__":
    unittest.main()
