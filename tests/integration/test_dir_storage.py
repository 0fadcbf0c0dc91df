"""The built-in `dir` storage: vzdump-compatible .tar.zst archives that GNU
tar reads, restored by ctdump; and vzdump-layout archives made by GNU tar
restored by ctdump."""
import glob
import os
import shutil
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
        for name in self.created:
            subprocess.run(["lxc-stop", "-P", self.env["LXCPATH"], "-n", name, "-k"], capture_output=True,
                           stdin=subprocess.DEVNULL)
            subprocess.run(["lxc-destroy", "-P", self.env["LXCPATH"], "-n", name], capture_output=True,
                           stdin=subprocess.DEVNULL)
            shutil.rmtree(os.path.join(self.env["LXCPATH"], name), ignore_errors=True)
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


if __name__ == "__main__":
    unittest.main()
