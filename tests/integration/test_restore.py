"""Restore round trips into new unprivileged containers with a different ID
map, through the example provider's `tar` and `directory` mechanisms, and the
failure paths: nothing half-created is left behind."""
import os
import re
import shutil
import subprocess
import time
import unittest

import harness

MAP2 = ["--idmap", "u 0 200000 65536", "--idmap", "g 0 200000 65536"]


def manifest(rootfs, map_host):
    out = subprocess.run(["bash", os.path.join(harness.SRC, "tests/realenv/manifest.sh"), rootfs,
                          str(map_host)], check=True, capture_output=True).stdout
    return {l.split(b"\t")[0]: l for l in out.splitlines() if l and not l.startswith(b"#")}


class RestoreBase(harness.IntegrationTest):
    """Restore helpers; every container a test creates is destroyed."""

    def setUp(self):
        super().setUp()
        self.created = []

    def tearDown(self):
        for name in self.created:
            subprocess.run(["lxc-stop", "-P", self.env["LXCPATH"], "-n", name, "-k"],
                           capture_output=True, stdin=subprocess.DEVNULL)
            subprocess.run(["lxc-destroy", "-P", self.env["LXCPATH"], "-n", name],
                           capture_output=True, stdin=subprocess.DEVNULL)
            shutil.rmtree(os.path.join(self.env["LXCPATH"], name), ignore_errors=True)
        super().tearDown()

    def new_name(self, suffix):
        name = self.env["CT_UNPRIV"].replace("-unpriv", "-r" + suffix)
        self.created.append(name)
        return name

    def backup_volid(self, ct):
        self.assertOk(self.ws.backup(ct))
        return "test:" + os.path.relpath(self.ws.only_backup(ct), self.ws.target)

    def restore(self, volid, name, *extra):
        return self.ws.run("restore", volid, name, *extra, timeout=600)

    def assertSameTree(self, original_manifest, rootfs, map_host):
        want = {k: v for k, v in manifest_lines(original_manifest).items()
                if not k.startswith((b"/tmp/", b"/var/tmp/")) and b"\tunreadable\t" not in v}
        got = manifest(rootfs, map_host)
        for path, line in want.items():
            self.assertIn(path, got, "missing after restore: %r" % path)
            # tar --sparse turns runs of zeros into holes: a file may become
            # sparse, but a sparse one must stay sparse.
            if b"sparse=1" in line:
                self.assertIn(b"sparse=1", got[path], path)
            self.assertEqual(strip_sparse(got[path]), strip_sparse(line), "differs after restore: %r" % path)


class RestoreTest(RestoreBase):

    def round_trip(self, mechanism):
        src = self.env["CT_UNPRIV"]
        self.ws.write_storage({"restore-mechanism": mechanism})
        volid = self.backup_volid(src)
        name = self.new_name(mechanism[0])
        r = self.restore(volid, name, *MAP2, "--start")
        self.assertOk(r)
        self.assertEqual(harness.ct_state(name), "RUNNING")
        rootfs = os.path.join(self.env["LXCPATH"], name, "rootfs")
        st = os.stat(os.path.join(rootfs, "etc/shadow"))
        self.assertEqual((st.st_uid, st.st_gid), (200000, 200042))
        self.assertSameTree(self.env["MANIFEST_UNPRIV"], rootfs, 200000)
        # The restored container sees its own files as the original did.
        out = subprocess.run(["lxc-attach", "-P", self.env["LXCPATH"], "-n", name, "--",
                              "stat", "-c", "%u:%g %a", "/etc/shadow", "/srv/tricky/uid1000.txt",
                              "/usr/bin/su"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
        self.assertEqual(out.stdout.split("\n")[:3], ["0:42 640", "1000:1000 600", "0:0 4755"])
        # The hard links are still one inode, the sparse file still sparse.
        a = os.stat(os.path.join(rootfs, "srv/tricky/hl1"))
        b = os.stat(os.path.join(rootfs, "srv/tricky/hl2"))
        self.assertEqual(a.st_ino, b.st_ino)
        sp = os.stat(os.path.join(rootfs, "srv/tricky/sparse.img"))
        self.assertLess(sp.st_blocks * 512, sp.st_size // 4)
        return r

    def test_tar_mechanism_round_trip(self):
        r = self.round_trip("tar")
        self.assertIn("checking archive..", r.stderr)

    def test_directory_mechanism_round_trip(self):
        self.round_trip("directory")

    def test_privileged_backup_from_external_provider(self):
        volid = self.backup_volid(self.env["CT_PRIV"])
        name = self.new_name("p")
        r = self.restore(volid, name)
        self.assertEqual(r.returncode, 1)
        self.assertIn("refusing to restore privileged container backup from external source", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.env["LXCPATH"], name)))
        r = self.restore(volid, name, "--unprivileged", "1", *MAP2)
        self.assertOk(r)
        self.assertIn("cannot represent", r.stderr)
        self.assertIn("/srv/tricky/unmapped.txt", r.stderr)
        st = os.stat(os.path.join(self.env["LXCPATH"], name, "rootfs/srv/tricky/unmapped.txt"))
        self.assertEqual(st.st_uid, 200000 + 65534)

    def test_acl_entries_the_new_map_cannot_hold_go_to_nobody(self):
        # A privileged container's backup (host ids) made by GNU tar on a dir
        # storage, restored unprivileged: the ACL entry for uid 70000 goes to
        # 65534 inside the container, as the docs say, and is counted.
        tree = os.path.join(self.ws.dir, "tree")
        os.makedirs(os.path.join(tree, "sbin"))
        path = os.path.join(tree, "shared.txt")
        with open(path, "w") as f:
            f.write("x\n")
        subprocess.run(["setfacl", "-m", "u:70000:r,u:1000:rw", path], check=True)
        meta = os.path.join(self.ws.dir, "meta/etc/vzdump")
        os.makedirs(meta)
        with open(os.path.join(meta, "pct.conf"), "w") as f:
            f.write("lxc.uts.name = acl\n")
        with open(os.path.join(self.ws.config, "storage.cfg"), "a") as f:
            f.write("\ndir: local\n\tpath %s\n" % self.ws.target)
        os.makedirs(os.path.join(self.ws.target, "dump"))
        name = "vzdump-lxc-acl-2020_01_02-03_04_05.tar"
        subprocess.run(["tar", "-cpf", os.path.join(self.ws.target, "dump", name), "--numeric-owner", "--acls",
                        "-C", os.path.dirname(os.path.dirname(meta)), "./etc/vzdump/pct.conf", "-C", tree, "."],
                       check=True)
        ct = self.new_name("a")
        r = self.restore("local:" + name, ct, "--unprivileged", "1", *MAP2)
        self.assertOk(r)
        self.assertIn("1 entries had owners or ACL entries the new ID map (u 0 200000 65536, g 0 200000 65536) "
                      "cannot represent; they now belong to uid/gid 65534 inside the container (1 ACL entries "
                      "among them; first: ./shared.txt)", r.stderr)
        out = subprocess.run(["getfacl", "-n", "--omit-header",
                              os.path.join(self.env["LXCPATH"], ct, "rootfs/shared.txt")],
                             capture_output=True, text=True, check=True).stdout
        self.assertIn("user:265534:r--", out)
        self.assertIn("user:201000:rw-", out)

    def test_guest_config_found_at_the_end_of_a_gnu_tar_archive(self):
        # PVE finds ./etc/vzdump/pct.conf anywhere in the archive.
        tree = os.path.join(self.ws.dir, "tree")
        os.makedirs(os.path.join(tree, "sbin"))
        os.makedirs(os.path.join(tree, "etc/vzdump"))
        with open(os.path.join(tree, "etc/hostname"), "w") as f:
            f.write("last\n")
        with open(os.path.join(tree, "big"), "wb") as f:
            f.write(os.urandom(4 << 20))
        with open(os.path.join(tree, "etc/vzdump/pct.conf"), "w") as f:
            f.write("arch: amd64\nhostname: config-last\n")
        with open(os.path.join(self.ws.config, "storage.cfg"), "a") as f:
            f.write("\ndir: local\n\tpath %s\n" % self.ws.target)
        os.makedirs(os.path.join(self.ws.target, "dump"))
        name = "vzdump-lxc-last-2020_01_02-03_04_05.tar.gz"
        subprocess.run(["tar", "-czpf", os.path.join(self.ws.target, "dump", name), "--numeric-owner", "-C", tree,
                        "./sbin", "./big", "./etc/hostname", "./etc/vzdump/pct.conf"], check=True)
        out = subprocess.run(["tar", "-tzf", os.path.join(self.ws.target, "dump", name)], capture_output=True,
                             text=True, check=True).stdout.split()
        self.assertEqual(out[-1], "./etc/vzdump/pct.conf")
        ct = self.new_name("l")
        r = self.restore("local:" + name, ct, *MAP2)
        self.assertOk(r)
        with open(os.path.join(self.env["LXCPATH"], ct, "config")) as f:
            self.assertIn("lxc.uts.name = config-last\n", f.read())
        with open(os.path.join(self.env["LXCPATH"], ct, "pct.conf")) as f:
            self.assertIn("hostname: config-last\n", f.read())

    def test_btrfs_subvolume_rootfs_bwlimit_and_firewall(self):
        src = self.env["CT_UNPRIV"]
        fw = os.path.join(self.env["LXCPATH"], src, "ctdump.fw")
        with open(fw, "w") as f:
            f.write("[OPTIONS]\nenable: 1\n")
        try:
            volid = self.backup_volid(src)
        finally:
            os.unlink(fw)
        name = self.new_name("b")
        r = self.restore(volid, name, *MAP2, "--rootfs-storage", "btrfs:" + self.env["BTRFS_MNT"],
                         "--bwlimit", "1000000")
        self.assertOk(r)
        subvol = os.path.join(self.env["BTRFS_MNT"], name)
        try:
            out = subprocess.run(["btrfs", "subvolume", "show", subvol], capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            with open(os.path.join(self.env["LXCPATH"], name, "config")) as f:
                self.assertIn("lxc.rootfs.path = btrfs:%s\n" % subvol, f.read())
            with open(os.path.join(self.env["LXCPATH"], name, "ctdump.fw")) as f:
                self.assertEqual(f.read(), "[OPTIONS]\nenable: 1\n")
            st = os.stat(os.path.join(subvol, "etc/shadow"))
            self.assertEqual((st.st_uid, st.st_gid), (200000, 200042))
        finally:
            subprocess.run(["btrfs", "subvolume", "delete", subvol], capture_output=True)

    def test_unknown_volume_and_existing_container(self):
        r = self.restore("test:%s/2000-01-01T00:00:00Z" % self.env["CT_UNPRIV"], self.new_name("x"), *MAP2)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not found", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.env["LXCPATH"], self.created[-1])))
        r = self.restore("test:x", self.env["CT_PRIV"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("already exists", r.stderr)

    def test_unique_and_hostname(self):
        src = self.env["CT_UNPRIV"]
        volid = self.backup_volid(src)
        with open(os.path.join(self.ws.only_backup(src), "guest.conf"), "a") as f:
            f.write("lxc.net.1.type = veth\nlxc.net.1.name = eth1\nlxc.net.1.hwaddr = 00:16:3e:aa:bb:cc\n")
        name = self.new_name("u")
        r = self.restore(volid, name, *MAP2, "--unique", "--hostname", "clone-1", "--start")
        self.assertOk(r)
        with open(os.path.join(self.env["LXCPATH"], name, "config")) as f:
            config = f.read()
        [mac] = re.findall(r"^lxc\.net\.1\.hwaddr = (\S+)$", config, re.M)
        self.assertNotEqual(mac, "00:16:3e:aa:bb:cc")
        self.assertRegex(mac, r"^[0-9a-f][26ae](:[0-9a-f]{2}){5}$")  # locally administered unicast
        self.assertEqual(re.findall(r"^lxc\.uts\.name = (.*)$", config, re.M), ["clone-1"])
        out = subprocess.run(["lxc-attach", "-P", self.env["LXCPATH"], "-n", name, "--", "sh", "-c",
                              "hostname; cat /sys/class/net/eth1/address"],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL)
        self.assertEqual(out.stdout.split(), ["clone-1", mac], out.stderr)
        # A bad name fails before anything is created.
        r = self.restore(volid, self.new_name("v"), *MAP2, "--hostname", "bad;name")
        self.assertEqual(r.returncode, 2)  # a usage error
        self.assertIn("--hostname: invalid host name 'bad;name'", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.env["LXCPATH"], self.created[-1])))

    def assertNoRestoreJournal(self):
        """A failed restore removed what it made, and so its journal too."""
        state = self.ws.journal_dir
        self.assertEqual([f for f in os.listdir(state) if f.startswith("restore-")] if os.path.isdir(state) else [],
                         [])

    def test_truncated_archive_leaves_nothing_behind(self):
        volid = self.backup_volid(self.env["CT_UNPRIV"])
        archive = os.path.join(self.ws.only_backup(self.env["CT_UNPRIV"]), "archive.tar")
        with open(archive, "r+b") as f:
            f.truncate(os.path.getsize(archive) // 2)
        name = self.new_name("t")
        r = self.restore(volid, name, *MAP2)
        self.assertEqual(r.returncode, 1)
        self.assertIn("restore failed", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.env["LXCPATH"], name)))
        self.assertNoRestoreJournal()

    def test_full_target_file_system(self):
        volid = self.backup_volid(self.env["CT_UNPRIV"])
        with harness.loop_fs(self.ws.dir, "small", "40M", ["mkfs.ext4", "-q"]) as mnt:
            name = self.new_name("f")
            r = self.restore(volid, name, *MAP2, "--rootfs", os.path.join(mnt, "rootfs"))
            self.assertEqual(r.returncode, 1)
            self.assertIn("No space left on device", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.env["LXCPATH"], name)))
            self.assertFalse(os.path.exists(os.path.join(mnt, "rootfs")))
            self.assertNoRestoreJournal()

def strip_sparse(line):
    cols = line.split(b"\t")
    attrs = [a for a in cols[10].split(b";") if a not in (b"sparse=1", b"-")]
    return b"\t".join(cols[:10] + [b";".join(attrs) or b"-"])


def manifest_lines(path):
    with open(path, "rb") as f:
        return {l.split(b"\t")[0]: l.rstrip(b"\n") for l in f if l.strip() and not l.startswith(b"#")}


if __name__ == "__main__":
    unittest.main()
