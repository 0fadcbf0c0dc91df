"""Suspend mode's copy of a running container (modes/tree_copy.h): paths
beyond PATH_MAX, a 1 TiB sparse file, written zeros, and files the copier
cannot read named in the log. Backed up to the built-in `dir` storage (ctdump's
own tar writer; GNU tar, which the example provider runs, takes minutes over
a 2060-level tree)."""
import glob
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import time
import unittest

import harness

ROOT = 100000  # the unprivileged container's root on the host (tests/realenv)


class SuspendCopyTest(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("dir: local\n\tpath %s\n" % self.ws.target)
        os.makedirs(os.path.join(self.ws.target, "dump"))

    def tearDown(self):
        # A copy left by a failed run is deeper than shutil.rmtree recurses.
        subprocess.run(["rm", "-rf", "--one-file-system", self.ws.tmp])
        super().tearDown()

    def make_deep(self, top, levels, file_at):
        """`levels` directories "dd" below `top`, a file at depth `file_at`,
        all owned by the container's root."""
        os.makedirs(top)
        os.chown(top, ROOT, ROOT)
        fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i in range(1, levels + 1):
                os.mkdir("dd", dir_fd=fd)
                os.chown("dd", ROOT, ROOT, dir_fd=fd)
                nfd = os.open("dd", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = nfd
                if i == file_at:
                    f = os.open("f", os.O_WRONLY | os.O_CREAT, 0o640, dir_fd=fd)
                    os.write(f, b"deep\n")
                    os.fchown(f, ROOT, ROOT)
                    os.close(f)
        finally:
            os.close(fd)

    def test_deep_tree_sparse_file_and_zeros(self):
        ct = self.env["CT_UNPRIV"]
        srv = os.path.join(self.env["ROOTFS_UNPRIV"], "srv/suspend-it")
        # 2060 levels of "dd/": the file at level 1500 lies 4.5 KB deep, beyond
        # PATH_MAX (rsync dropped it with exit 23); below 2048 levels the walk
        # stops with a warning, as in the other modes.
        deep = os.path.join(srv, "deep")
        try:
            os.makedirs(srv)
            os.chown(srv, ROOT, ROOT)
            self.make_deep(deep, 2060, 1500)
            sparse = os.path.join(srv, "sparse")
            with open(sparse, "wb") as f:
                f.truncate(1 << 40)
                f.seek(1 << 39)
                f.write(b"x" * 4096)
            zeros = os.path.join(srv, "zeros")
            with open(zeros, "wb") as f:
                f.write(b"\0" * (1 << 20))
                os.fsync(f.fileno())
            secret = os.path.join(srv, "host-secret")
            with open(secret, "w") as f:
                f.write("host root only\n")
            os.chmod(secret, 0o600)  # host root's: the container's root cannot read it
            for p in (sparse, zeros):
                os.chown(p, ROOT, ROOT)
            # The container's root may not create device nodes in its namespace.
            os.mknod(os.path.join(srv, "null"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            os.chown(os.path.join(srv, "null"), ROOT, ROOT)
            self.assertGreaterEqual(os.stat(zeros).st_blocks, 2048)

            # rsync read the holes of the 1 TiB file (not done after 240 s).
            r = self.ws.run("backup", ct, "--storage", "local", "--tmpdir", self.ws.tmp,
                            "--mode", "suspend", timeout=180)
            self.assertOk(r)
            self.assertIn("INFO: backup mode: suspend", r.stderr)
            self.assertRegex(r.stderr, r"INFO: first sync finished - \d+ entries, \d+ copied")
            self.assertRegex(r.stderr, r"INFO: final sync finished - \d+ entries, \d+ copied")
            self.assertRegex(r.stderr, r"WARN: unable to read '/srv/suspend-it/deep/(dd/)+dd': "
                                       r"nested deeper than 2048 directories")
            # The unreadable file is named, not a generic permissions message.
            self.assertIn("WARN: unable to read '/srv/suspend-it/host-secret': Permission denied",
                          r.stderr)
            self.assertIn("WARN: '/srv/suspend-it/null' not copied: mknod: Operation not permitted",
                          r.stderr)
            self.assertNotIn("rsync", r.stderr)
        finally:
            subprocess.run(["rm", "-rf", "--one-file-system", srv], check=True)
        [zst] = glob.glob(os.path.join(self.ws.target, "dump", "vzdump-lxc-%s-*.tar.zst" % ct))
        archive = os.path.join(self.ws.dir, "archive.tar")
        subprocess.run(["zstd", "-q", "-d", zst, "-o", archive], check=True)
        deep_file = "./srv/suspend-it/deep/" + "dd/" * 1500 + "f"
        self.assertGreater(len(deep_file), 4096)
        with tarfile.open(archive) as tf:
            names = set(tf.getnames())
            self.assertIn(deep_file, names)
            self.assertEqual(tf.extractfile(deep_file).read(), b"deep\n")
            self.assertIn("./srv/suspend-it/deep/" + "dd/" * 2039 + "dd", names)
            self.assertNotIn("./srv/suspend-it/host-secret", names)
        # GNU tar gives back what the archive holds: the zeros as data, the
        # 1 TiB file as holes around its 4 KiB.
        with tempfile.TemporaryDirectory(dir=self.ws.dir) as out:
            subprocess.run(["tar", "-xf", archive, "-C", out, "--sparse", "./srv/suspend-it/zeros",
                            "./srv/suspend-it/sparse"], check=True, capture_output=True)
            z = os.stat(os.path.join(out, "srv/suspend-it/zeros"))
            self.assertEqual(z.st_size, 1 << 20)
            self.assertGreaterEqual(z.st_blocks, 2048, "written zeros came back as holes")
            s = os.stat(os.path.join(out, "srv/suspend-it/sparse"))
            self.assertEqual(s.st_size, 1 << 40)
            self.assertLess(s.st_blocks, 1024, "holes came back as data")
            with open(os.path.join(out, "srv/suspend-it/sparse"), "rb") as f:
                f.seek(1 << 39)
                self.assertEqual(f.read(4096), b"x" * 4096)
        self.assertRunning(ct)
        self.assertNoLeftovers()

    def archive_members(self, zst):
        """name -> everything a member says but atime/ctime (a copy's are its own)."""
        plain = zst[:-len(".zst")]
        subprocess.run(["zstd", "-q", "-d", zst, "-o", plain], check=True)
        out = {}
        with tarfile.open(plain) as tf:
            for m in tf:
                pax = {k: v for k, v in m.pax_headers.items()
                       if k not in ("atime", "ctime", "path", "linkpath", "size")
                       and not k.startswith("GNU.sparse.")}
                data = hashlib.sha256(tf.extractfile(m).read()).hexdigest() if m.isreg() else None
                out[m.name] = (m.type, m.mode, m.uid, m.gid, m.size, m.mtime, m.linkname,
                               m.devmajor, m.devminor, m.sparse, sorted(pax.items()), data)
        os.unlink(plain)
        return out

    def test_suspend_archive_equals_stop_archive(self):
        """The copy changes nothing a backup holds: the fixture's tricky tree
        (hardlinks, sparse file, fifo, setuid, file capability, ACLs, xattrs,
        unmapped ids, long and non-UTF-8 names) archives the same from suspend
        mode's copy (made as the container's root in its user namespace) as
        from the stopped container's own tree."""
        ct = self.env["CT_UNPRIV"]
        archives = []
        for mode in ("suspend", "stop"):
            before = set(glob.glob(os.path.join(self.ws.target, "dump", "*.tar.zst")))
            r = self.ws.run("backup", ct, "--storage", "local", "--tmpdir", self.ws.tmp, "--mode", mode)
            self.assertOk(r)
            self.assertIn("INFO: backup mode: %s" % mode, r.stderr)
            [new] = set(glob.glob(os.path.join(self.ws.target, "dump", "*.tar.zst"))) - before
            archives.append(new)
            time.sleep(1.1)  # archive names have one-second resolution
        suspend, stop = (self.archive_members(a) for a in archives)
        self.assertGreater(len(stop), 1000)
        self.assertEqual(sorted(set(stop) ^ set(suspend)), [])
        # pct.conf and pct.fw are written by the job, not read from the tree.
        differ = {n: (suspend[n], stop[n]) for n in stop
                  if suspend[n] != stop[n] and not n.startswith("./etc/vzdump/")}
        self.assertEqual(differ, {})
        self.assertRunning(ct)
        self.assertNoLeftovers()

    def test_sigterm_during_the_copy(self):
        """SIGTERM while the copier is in its first pass (slowed by --bwlimit to
        take minutes) ends the backup within seconds: the copier process is
        gone, the container runs and is not frozen, the copy is removed."""
        ct = self.env["CT_UNPRIV"]
        p = self.ws.start("backup", ct, "--storage", "local", "--tmpdir", self.ws.tmp, "--mode", "suspend",
                          "--bwlimit", "1024")
        log = os.path.join(self.ws.logs, "lxc-%s.log" % ct)
        deadline = time.time() + 60
        while time.time() < deadline:
            if os.path.exists(log):
                with open(log, errors="replace") as f:
                    if "starting first sync" in f.read():
                        break
            time.sleep(0.1)
        time.sleep(2)
        self.assertIsNone(p.poll(), "the copy was over before the signal")
        t = time.time()
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
        self.assertLess(time.time() - t, 15, err[-2000:])
        self.assertEqual(p.returncode, 1, err[-2000:])
        self.assertIn("interrupted by signal", err)
        self.assertNotIn("starting final sync", err)
        for pid in os.listdir("/proc"):  # the forked copier has ctdump's command line
            if pid.isdigit():
                try:
                    with open("/proc/%s/cmdline" % pid, errors="replace") as f:
                        self.assertNotIn(self.ws.config, f.read(), "a ctdump process was left behind")
                except OSError:
                    pass
        self.assertRunning(ct)
        self.assertNoLeftovers()

    def test_included_mount_point(self):
        """A mount point marked for backup is copied below its path by its own
        walk; the second pass keeps it."""
        ct = self.env["CT_UNPRIV"]
        vol = os.path.join(self.ws.dir, "mp-data")
        os.makedirs(os.path.join(vol, "sub"))
        with open(os.path.join(vol, "sub/file.txt"), "w") as f:
            f.write("on a mount point\n")
        for p in (vol, os.path.join(vol, "sub"), os.path.join(vol, "sub/file.txt")):
            os.chown(p, ROOT + 1000, ROOT + 1000)
        target = os.path.join(self.env["ROOTFS_UNPRIV"], "srv/mdata")
        os.makedirs(target)
        entry = "lxc.mount.entry = %s srv/mdata none bind,optional,x-ctdump.backup 0 0" % vol
        try:
            with harness.extra_config(ct, entry):
                r = self.ws.run("backup", ct, "--storage", "local", "--tmpdir", self.ws.tmp,
                                "--mode", "suspend")
            self.assertOk(r)
            self.assertIn("including mount point lxc.mount.entry:1 ('/srv/mdata') in backup", r.stderr)
            self.assertRegex(r.stderr, r"INFO: final sync finished - \d+ entries, \d+ copied \(.*\), 0 deleted")
        finally:
            shutil.rmtree(target, ignore_errors=True)
        [zst] = glob.glob(os.path.join(self.ws.target, "dump", "vzdump-lxc-%s-*.tar.zst" % ct))
        members = subprocess.run(["tar", "-I", "zstd", "--numeric-owner", "-tvf", zst], capture_output=True,
                                 text=True, check=True).stdout.splitlines()
        f = [l for l in members if l.endswith(" ./srv/mdata/sub/file.txt")]
        self.assertEqual(len(f), 1, members[-20:])
        self.assertIn(" 1000/1000 ", f[0])
        self.assertRunning(ct)
        self.assertNoLeftovers()


if __name__ == "__main__":
    unittest.main()
