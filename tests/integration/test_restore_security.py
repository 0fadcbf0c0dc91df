"""Restores of crafted backups: what a backup carries must never reach the
host (config keys, ID maps, privileged files, resource exhaustion)."""
import os
import subprocess
import sys
import time
import unittest

import harness
from test_restore import MAP2, RestoreBase


def tar_header(name, size, typ=b"0", mode=0o644):
    """A ustar header, written byte by byte (crafted archives need fields
    tarfile will not write)."""
    h = bytearray(512)
    h[0:len(name)] = name.encode()
    h[100:108] = b"%07o\0" % mode
    h[108:116] = b"%07o\0" % 0
    h[116:124] = b"%07o\0" % 0
    h[124:136] = b"%011o\0" % size if size < 8 ** 11 else b"\x80" + size.to_bytes(11, "big")
    h[136:148] = b"%011o\0" % 1700000000
    h[148:156] = b" " * 8
    h[156:157] = typ
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def tar_pad(n):
    return b"\0" * (-n % 512)


def pax_record(key, value):
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    return str(n).encode() + body


def old_gnu_sparse_bomb(out, blocks):
    """A GNU 'S' (old sparse) member whose map goes on for `blocks` extension
    blocks of 21 regions each: identical 512-byte blocks that zstd shrinks a
    thousandfold, and that libarchive keeps in memory (~100 bytes a region)."""
    octal = lambda v: b"%011o\0" % v
    h = bytearray(tar_header("./sparse", 1, b"S"))
    h[386:398], h[398:410] = octal(0), octal(1)
    h[482] = 1  # extended
    h[483:495] = octal(1)  # real size
    h[257:265] = b"ustar  \0"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    out.write(bytes(h))
    ext = bytearray(512)
    for i in range(21):
        ext[i * 24:i * 24 + 12], ext[i * 24 + 12:i * 24 + 24] = octal(0), octal(1)
    ext[504] = 1
    chunk = bytes(ext) * 2048
    for _ in range(blocks // 2048):
        out.write(chunk)
    ext[504] = 0
    out.write(bytes(ext) + b"x" + tar_pad(1))


class RestoreSecurityTest(RestoreBase):

    def raw_dir_storage_archive(self, write_members):
        """A zstd vzdump-layout archive on a `dir` storage `local` whose
        members after ./etc/vzdump/pct.conf and ./sbin/ are written by
        `write_members(file)` as raw tar bytes. Returns its volid."""
        with open(os.path.join(self.ws.config, "storage.cfg"), "a") as f:
            f.write("\ndir: local\n\tpath %s\n" % self.ws.target)
        dump = os.path.join(self.ws.target, "dump")
        os.makedirs(dump, exist_ok=True)
        name = "vzdump-lxc-crafted-2021_01_02-03_04_%02d.tar.zst" % len(os.listdir(dump))
        zstd = subprocess.Popen(["zstd", "-q", "-o", os.path.join(dump, name)], stdin=subprocess.PIPE)
        conf = b"lxc.uts.name = crafted\n"
        zstd.stdin.write(tar_header("./etc/vzdump/pct.conf", len(conf)) + conf + tar_pad(len(conf)))
        zstd.stdin.write(tar_header("./sbin/", 0, b"5", 0o755))
        write_members(zstd.stdin)
        for i in range(10):
            zstd.stdin.write(tar_header("./f%d" % i, 1) + b"x" + tar_pad(1))
        zstd.stdin.write(b"\0" * 1024)
        zstd.stdin.close()
        self.assertEqual(zstd.wait(), 0)
        return "local:" + name

    def dir_storage_archive(self, config, members=None, tree=None):
        """A vzdump-layout archive made by GNU tar on a `dir` storage `local`
        (a built-in, trusted storage): ./etc/vzdump/pct.conf = `config`, then
        `tree` (default: a tiny root file system). Returns its volid."""
        cfg = os.path.join(self.ws.config, "storage.cfg")
        with open(cfg) as f:
            known = "\ndir: local\n" in f.read()
        if not known:
            with open(cfg, "a") as f:
                f.write("\ndir: local\n\tpath %s\n" % self.ws.target)
        dump = os.path.join(self.ws.target, "dump")
        os.makedirs(dump, exist_ok=True)
        meta = os.path.join(self.ws.dir, "meta-%d" % len(os.listdir(dump)))
        os.makedirs(os.path.join(meta, "etc/vzdump"))
        with open(os.path.join(meta, "etc/vzdump/pct.conf"), "w") as f:
            f.write(config)
        if tree is None:
            tree = os.path.join(meta, "tree")
            for d in ("sbin", "etc", "root"):
                os.makedirs(os.path.join(tree, d))
            with open(os.path.join(tree, "etc/hostname"), "w") as f:
                f.write("crafted\n")
        name = "vzdump-lxc-crafted-2020_01_02-03_04_%02d.tar.gz" % len(os.listdir(dump))
        subprocess.run(["tar", "-czpf", os.path.join(dump, name), "--numeric-owner", "-C", meta,
                        "./etc/vzdump/pct.conf", "-C", tree] + (members or ["."]), check=True)
        return "local:" + name

    def crafted_volid(self, extra_config):
        """A backup of the unprivileged container through the example
        provider whose stored guest config gets `extra_config` appended."""
        volid = self.backup_volid(self.env["CT_UNPRIV"])
        conf = os.path.join(self.ws.only_backup(self.env["CT_UNPRIV"]), "guest.conf")
        with open(conf, "a") as f:
            f.write(extra_config)
        return volid

    def test_config_keys_that_reach_the_host_are_not_restored(self):
        marker = os.path.join(self.ws.dir, "host-root-was-here")
        script = os.path.join(self.ws.dir, "evil.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\ntouch %s\n" % marker)
        os.chmod(script, 0o755)
        volid = self.crafted_volid(
            "lxc.net.0.type = empty\n"
            "lxc.net.0.script.up = %s\n"
            "lxc.hook.pre-start = %s\n"
            "lxc.console.logfile = %s.log\n"
            "lxc.include = /usr/share/lxc/config/../../../..%s.conf\n" % (script, script, marker, self.ws.dir))
        name = self.new_name("k")
        r = self.restore(volid, name, *MAP2, "--start")
        self.assertOk(r)
        self.assertEqual(harness.ct_state(name), "RUNNING")
        self.assertFalse(os.path.exists(marker), "the backup's script ran on the host")
        self.assertFalse(os.path.exists(marker + ".log"), "the backup chose a host log file")
        for key in ("'lxc.net.0.script.up = %s'" % script, "'lxc.hook.pre-start = %s'" % script,
                    "'lxc.console.logfile = %s.log'" % marker):
            self.assertIn("WARN: not restoring %s from the backup's config" % key, r.stderr)
        with open(os.path.join(self.env["LXCPATH"], name, "config")) as f:
            config = f.read()
        self.assertNotIn(script, config)
        self.assertIn("lxc.net.0.type = empty\n", config)

    def test_backed_up_id_map_outside_the_delegated_ids_is_refused(self):
        volid = self.dir_storage_archive("lxc.uts.name = crafted\nlxc.idmap = u 0 1000 65536\n"
                                         "lxc.idmap = g 0 1000 65536\n")
        name = self.new_name("m")
        r = self.restore(volid, name)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not using the ID map stored in the backup (u 0 1000 65536, g 0 1000 65536): "
                      "ID map entry 'u 0 1000 65536' uses host uids 1000-66535, which are not delegated "
                      "to root in /etc/subuid; pass --idmap", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.env["LXCPATH"], name)))
        # An explicit map is the admin's choice.
        r = self.restore(volid, name, *MAP2)
        self.assertOk(r)
        self.assertEqual(os.stat(os.path.join(self.env["LXCPATH"], name, "rootfs/etc/hostname")).st_uid,
                         200000)

    def test_privileged_backup_is_restored_privileged_only_when_asked(self):
        """A config without an ID map (or pct's unprivileged: 0) makes a
        privileged container, whose root is host root: a crafted backup must
        not get one without --unprivileged 0."""
        for config in ("lxc.uts.name = crafted\n", "arch: amd64\nhostname: crafted\nunprivileged: 0\n",
                       "lxc.uts.name = crafted\nlxc.id_map = u 0 0 65536\n"):
            volid = self.dir_storage_archive(config)
            name = self.new_name("p")
            r = self.restore(volid, name, "--start")
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("is the backup of a privileged container", r.stderr)
            self.assertIn("--unprivileged 1", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(self.env["LXCPATH"], name)))
        # Unprivileged on request; privileged when the admin says so.
        r = self.restore(volid, name, "--unprivileged", "1", *MAP2)
        self.assertOk(r)
        self.assertEqual(os.stat(os.path.join(self.env["LXCPATH"], name, "rootfs/etc/hostname")).st_uid,
                         200000)
        other = self.new_name("q")
        r = self.restore(volid, other, "--unprivileged", "0")
        self.assertOk(r)
        self.assertEqual(os.stat(os.path.join(self.env["LXCPATH"], other, "rootfs/etc/hostname")).st_uid, 0)

    def test_backed_up_id_map_inside_the_delegated_ids_is_used(self):
        with open("/etc/subuid") as f:
            if "root:200000:65536" not in f.read().split():
                self.skipTest("root has no subuid range 200000:65536")
        volid = self.dir_storage_archive("lxc.uts.name = crafted\nlxc.idmap = u 0 200000 65536\n"
                                         "lxc.idmap = g 0 200000 65536\n")
        name = self.new_name("n")
        r = self.restore(volid, name)
        self.assertOk(r)
        st = os.stat(os.path.join(self.env["LXCPATH"], name, "rootfs/etc/hostname"))
        self.assertEqual((st.st_uid, st.st_gid), (200000, 200000))

    def datastore_volid(self, ct):
        """A backup of `ct` on a built-in datastore `ds` (beside the example provider)."""
        store = os.path.join(self.ws.dir, "ds")
        os.makedirs(store)
        with open(os.path.join(self.ws.config, "storage.cfg"), "a") as f:
            f.write("\ndatastore: ds\n\tpath %s\n" % store)
        self.assertOk(self.ws.run("backup", ct, "--storage", "ds", "--tmpdir", self.ws.tmp))
        r = self.ws.run("list", "ds", "--vmid", ct)
        self.assertOk(r)
        [volid] = [l.split()[0] for l in r.stdout.splitlines() if l.startswith("ds:")]
        return volid

    def test_restore_file_strips_setuid_and_capabilities_unless_asked(self):
        # The fixture's container root made a setuid-root file and a file
        # with a capability (cap_net_raw+ep) in /srv/tricky.
        volid = self.datastore_volid(self.env["CT_UNPRIV"])
        files = ["/srv/tricky/suid-true", "/srv/tricky/cap-true"]
        target = os.path.join(self.ws.dir, "files")
        r = self.ws.run("restore-file", volid, *files, "--target", target)
        self.assertOk(r)
        self.assertIn("WARN: removed setuid/setgid bits or file capabilities from 2 files (give "
                      "--keep-setuid-and-caps to keep them)", r.stderr)
        suid = os.stat(os.path.join(target, "srv/tricky/suid-true"))
        self.assertEqual((suid.st_uid, suid.st_mode & 0o7777), (0, 0o755))
        cap = os.path.join(target, "srv/tricky/cap-true")
        self.assertEqual(os.stat(cap).st_uid, 0)
        self.assertNotIn("security.capability", os.listxattr(cap))
        # Asked for: as stored.
        kept = os.path.join(self.ws.dir, "kept")
        r = self.ws.run("restore-file", volid, *files, "--target", kept, "--keep-setuid-and-caps")
        self.assertOk(r)
        self.assertNotIn("removed setuid", r.stderr)
        self.assertEqual(os.stat(os.path.join(kept, "srv/tricky/suid-true")).st_mode & 0o7777, 0o4755)
        out = subprocess.run(["getcap", os.path.join(kept, "srv/tricky/cap-true")], capture_output=True,
                             text=True)
        self.assertIn("cap_net_raw", out.stdout)

    def test_directory_mechanism_refuses_a_symlinked_directory(self):
        # A provider whose archive-directory is a symlink to "/": the physical
        # walk copied the symlink alone, and the restore reported success.
        self.ws.write_storage({"restore-mechanism": "directory"})
        volid = self.backup_volid(self.env["CT_UNPRIV"])
        link = os.path.join(self.ws.dir, "to-root")
        os.symlink("/", link)
        provider = os.path.join(self.ws.dir, "symlink-provider.py")
        with open(provider, "w") as f:
            f.write("#!/usr/bin/python3\n"
                    "import importlib.util, sys\n"
                    "spec = importlib.util.spec_from_file_location('example', %r)\n"
                    "m = importlib.util.module_from_spec(spec)\n"
                    "spec.loader.exec_module(m)\n"
                    "init = m.Provider.restore_container_init\n"
                    "def symlinked(self, params):\n"
                    "    init(self, params)\n"
                    "    return {'archive-directory': %r}\n"
                    "m.Provider.restore_container_init = symlinked\n"
                    "sys.exit(m.main())\n" % (harness.EXAMPLE, link))
        os.chmod(provider, 0o755)
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("provider: test\n\tcommand %s\n\tpath %s\n\trestore-mechanism directory\n"
                    % (provider, self.ws.target))
        name = self.new_name("d")
        r = self.restore(volid, name, *MAP2)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("restore directory '%s' is a symbolic link: refusing it" % link, r.stderr)
        self.assertNotIn("extracted 0 entries", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.env["LXCPATH"], name)))

    def restore_measured(self, volid, name, *extra):
        """Runs a restore; returns (result, the largest RSS in KiB of any of
        its processes, the extraction child included)."""
        probe = ("import resource, subprocess, sys\n"
                 "r = subprocess.run(sys.argv[1:], capture_output=True, text=True, errors='replace',"
                 " stdin=subprocess.DEVNULL)\n"
                 "sys.stdout.write(r.stderr)\n"
                 "print('maxrss=%d' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
                 "sys.exit(r.returncode)\n")
        r = subprocess.run([sys.executable, "-c", probe] + self.ws.cmd("restore", volid, name, *extra),
                           capture_output=True, text=True, env=self.ws.environ(), timeout=600)
        rss = int(r.stdout.rsplit("maxrss=", 1)[1])
        r.stderr = r.stdout
        return r, rss

    def test_crafted_header_data_cannot_exhaust_memory(self):
        # 120 KB of zstd: 2.4 million sparse regions that libarchive keeps in
        # memory (2.4 GiB before the extraction's memory was limited).
        volid = self.raw_dir_storage_archive(lambda out: old_gnu_sparse_bomb(out, 2048 * 1200))
        self.assertLess(os.path.getsize(os.path.join(self.ws.target, "dump", volid[6:])), 400 << 10)
        name = self.new_name("o")
        r, rss = self.restore_measured(volid, name, *MAP2)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("Out of memory' (the extraction's memory is limited; a crafted or damaged archive?)",
                      r.stderr)
        self.assertLess(rss, 2200 << 10, "the restore used %d MiB" % (rss >> 10))
        self.assertFalse(os.path.exists(os.path.join(self.env["LXCPATH"], name)))

    def test_a_huge_hole_is_not_written(self):
        def members(out):
            # A pax sparse file (GNU 1.0) of 1 TiB that is one hole.
            real = 1 << 40
            sparse_map = b"1\n%d\n0\n" % real
            sparse_map += tar_pad(len(sparse_map))
            pax = (pax_record(b"GNU.sparse.major", b"1") + pax_record(b"GNU.sparse.minor", b"0") +
                   pax_record(b"GNU.sparse.name", b"./hole") + pax_record(b"GNU.sparse.realsize", b"%d" % real))
            out.write(tar_header("./PaxHeaders/hole", len(pax), b"x") + pax + tar_pad(len(pax)))
            out.write(tar_header("./GNUSparseFile.0/hole", len(sparse_map)) + sparse_map)
        volid = self.raw_dir_storage_archive(members)
        name = self.new_name("z")
        started = time.monotonic()
        r = self.restore(volid, name, *MAP2)
        took = time.monotonic() - started
        self.assertOk(r)
        rootfs = os.path.join(self.env["LXCPATH"], name, "rootfs")
        hole = os.stat(os.path.join(rootfs, "hole"))
        self.assertEqual(hole.st_size, 1 << 40)
        self.assertEqual(hole.st_blocks, 0, "the hole was written")
        self.assertLess(took, 60)


if __name__ == "__main__":
    unittest.main()
