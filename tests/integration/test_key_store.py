"""Keys and the datastore on the real containers (issue 12): a
passphrase-protected key; list, verify, gc and df with the key file removed;
key rotation (also SIGKILLed midway) with backups and restores of old and new
backups; a lost key file recovered with the RSA master key."""
import os
import re
import shutil
import signal
import subprocess
import time
import unittest

import harness
from test_restore import manifest, manifest_lines, strip_sparse

PASSPHRASE = "correct horse battery staple"


class KeyStoreTest(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        self.created = []
        self.store = os.path.join(self.ws.dir, "ds")
        os.makedirs(self.store)
        self.passfile = os.path.join(self.ws.dir, "passphrase")
        with open(self.passfile, "w") as f:
            f.write(PASSPHRASE + "\n")
        self.use_passphrase(True)
        self.addCleanup(self.use_passphrase, False)
        self.last = 0

    def tearDown(self):
        harness.destroy_containers(self.created)
        super().tearDown()

    def use_passphrase(self, on):
        if on:
            os.environ["CTDUMP_KEY_PASSPHRASE_FILE"] = self.passfile
        else:
            os.environ.pop("CTDUMP_KEY_PASSPHRASE_FILE", None)

    def write_cfg(self, text):
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write(text)

    def cfg(self):
        with open(os.path.join(self.ws.config, "storage.cfg")) as f:
            return f.read()

    def backup(self, ct):
        while int(time.time()) <= self.last:  # volume names have one-second resolution
            time.sleep(0.05)
        r = self.ws.run("backup", ct, "--storage", "ds", "--tmpdir", self.ws.tmp)
        self.last = int(time.time())
        self.assertOk(r)
        with open(os.path.join(self.ws.logs, "lxc-%s.log" % ct), errors="replace") as f:
            return f.read()

    def volids(self):
        r = self.ws.run("list", "ds")
        self.assertOk(r)
        return r, [l.split()[0] for l in r.stdout.splitlines() if l.startswith("ds:")]

    def new_name(self, suffix):
        name = self.env["CT_UNPRIV"].replace("-unpriv", "-ks" + suffix)
        self.created.append(name)
        return name

    def restore_and_compare(self, volid, suffix):
        name = self.new_name(suffix)
        r = self.ws.run("restore", volid, name, *harness.trusted(volid), timeout=600)
        self.assertOk(r)
        rootfs = os.path.join(self.env["LXCPATH"], name, "rootfs")
        want = manifest_lines(self.env["MANIFEST_PRIV"])
        got = manifest(rootfs, 0)
        for path, line in want.items():
            if path.startswith((b"/tmp/", b"/var/tmp/")) or b"\tunreadable\t" in line:
                continue
            self.assertIn(path, got, "missing after restore: %r" % path)
            self.assertEqual(strip_sparse(got[path]), strip_sparse(line), path)
        shutil.rmtree(os.path.join(self.env["LXCPATH"], name))

    def make_key(self, name, *extra):
        path = os.path.join(self.ws.dir, name)
        r = self.ws.run("key", "create", path, *extra)
        self.assertOk(r)
        m = re.search(r"([0-9a-f]{2}(?::[0-9a-f]{2}){7})", r.stderr + r.stdout)
        self.assertIsNotNone(m, r.stderr)
        return path, m.group(1)

    def test_without_the_key_rotation_and_restores(self):
        ct = self.env["CT_PRIV"]
        key1, fp1 = self.make_key("k1.key")  # scrypt, the passphrase from the file
        self.write_cfg("# the store\ndatastore: ds\n\tpath %s\n\tencryption-key %s\n" % (self.store, key1))
        self.backup(ct)
        _, [old] = self.volids()

        # A passphrase-protected key and no way to give the passphrase: list,
        # gc, df and verify never ask for it.
        self.use_passphrase(False)
        for args in (["list", "ds"], ["gc", "ds"], ["df", "ds"]):
            r = self.ws.run(*args)
            self.assertOk(r)
            self.assertNotIn("passphrase", r.stderr, args)
        # The key file removed: the same, and verify checks what it can.
        hidden = key1 + ".away"
        os.rename(key1, hidden)
        r, listed = self.volids()
        self.assertEqual(listed, [old])
        self.assertNotIn("unreadable", r.stdout + r.stderr)
        for args in (["gc", "ds"], ["df", "ds"]):
            self.assertOk(self.ws.run(*args))
        r = self.ws.run("verify", "ds")
        self.assertOk(r)
        self.assertIn("verified without their key", r.stderr)
        self.assertIn("NOT checked", r.stderr)
        # ... and finds a flipped byte of an encrypted chunk (by its CRC).
        chunks = sorted((os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(self.store, "chunks"))
                         for f in fs), key=os.path.getsize)
        victim = chunks[-1]
        with open(victim, "r+b") as f:
            original = f.read()
            f.seek(len(original) // 2)
            f.write(bytes([original[len(original) // 2] ^ 0x20]))
        r = self.ws.run("verify", "ds")
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        self.assertIn(os.path.basename(victim), r.stderr)
        self.assertIn("CRC mismatch", r.stderr)
        os.rename(victim + ".bad", victim)
        with open(victim, "wb") as f:
            f.write(original)
        # Restore needs the key: named.
        name = self.new_name("x")
        r = self.ws.run("restore", old, name, *harness.trusted(old))
        self.assertEqual(r.returncode, 1)
        self.assertIn(fp1, r.stderr)
        self.assertIn("encryption-key", r.stderr)
        os.rename(hidden, key1)
        self.use_passphrase(True)
        self.assertOk(self.ws.run("verify", "ds"))

        # Rotation killed after each step: the old key works either way.
        before = self.cfg()
        for step in ("key-written", "config-written"):
            self.write_cfg(before)
            key2 = os.path.join(self.ws.dir, "k2-%s.key" % step)
            env = self.ws.environ()
            env["CTDUMP_TEST_KEY_ROTATE_PAUSE"] = step
            p = subprocess.Popen(self.ws.cmd("key", "rotate", "ds", "--new-key", key2, "--kdf", "none"),
                                 stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
            line = p.stderr.readline()
            self.assertIn("paused after " + step, line)
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            p.stderr.close()
            self.assertIn(("encryption-key-old %s" % key1) in self.cfg(), [step == "config-written"])
            r = self.ws.run("catalog", old, "/etc/hostname")
            self.assertOk(r)

        # A real rotation, a backup with the new key (full), both restore.
        self.write_cfg(before)
        key2 = os.path.join(self.ws.dir, "k2.key")
        r = self.ws.run("key", "rotate", "ds", "--new-key", key2, "--kdf", "none")
        self.assertOk(r)
        cfg = self.cfg()
        self.assertIn("\tencryption-key %s\n" % key2, cfg)
        self.assertIn("\tencryption-key-old %s\n" % key1, cfg)
        self.assertTrue(cfg.startswith("# the store\n"), cfg)
        log = self.backup(ct)
        self.assertIn("full backup (no previous backup of this container is usable for change detection: "
                      "made with another key", log)
        _, listed = self.volids()
        self.assertEqual(len(listed), 2)
        new = [v for v in listed if v != old][0]
        self.assertOk(self.ws.run("verify", "ds"))
        self.restore_and_compare(old, "o")
        self.restore_and_compare(new, "n")

    def test_master_key_recovers_a_lost_key(self):
        ct = self.env["CT_PRIV"]
        key, fp = self.make_key("k.key", "--kdf", "none")
        mdir = os.path.join(self.ws.dir, "master")
        os.makedirs(mdir)
        self.assertOk(self.ws.run("key", "create-master-key", "--dir", mdir))  # passphrase: the file
        pub, priv = os.path.join(mdir, "master-public.pem"), os.path.join(mdir, "master-private.pem")
        # A backup before the master key: nothing to recover from it.
        self.write_cfg("datastore: ds\n\tpath %s\n\tencryption-key %s\n" % (self.store, key))
        self.backup(ct)
        _, [before] = self.volids()
        self.write_cfg("datastore: ds\n\tpath %s\n\tencryption-key %s\n\tmaster-pubkey %s\n"
                       % (self.store, key, pub))
        self.backup(ct)
        _, listed = self.volids()
        vol = [v for v in listed if v != before][0]

        os.unlink(key)  # lost
        recovered = os.path.join(self.ws.dir, "recovered.key")
        r = self.ws.run("key", "import-with-master-key", before, "--master-key", priv, recovered,
                        "--kdf", "none")
        self.assertEqual(r.returncode, 1)
        self.assertIn("master-pubkey", r.stderr)
        r = self.ws.run("key", "import-with-master-key", vol, "--master-key", pub, recovered, "--kdf", "none")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("public key", r.stderr)
        self.assertFalse(os.path.exists(recovered))
        other = os.path.join(self.ws.dir, "other")
        os.makedirs(other)
        self.assertOk(self.ws.run("key", "create-master-key", "--dir", other))
        r = self.ws.run("key", "import-with-master-key", vol, "--master-key",
                        os.path.join(other, "master-private.pem"), recovered, "--kdf", "none")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not to", r.stderr)
        self.assertFalse(os.path.exists(recovered))

        r = self.ws.run("key", "import-with-master-key", vol, "--master-key", priv, recovered, "--kdf", "none")
        self.assertOk(r)
        self.assertIn(fp, r.stderr)
        self.assertEqual(os.stat(recovered).st_mode & 0o777, 0o600)
        os.rename(recovered, key)
        self.assertOk(self.ws.run("verify", "ds"))
        self.restore_and_compare(before, "m")


if __name__ == "__main__":
    unittest.main()
