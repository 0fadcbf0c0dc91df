"""The commented sample configuration files (packaging/etc: installed as
/usr/share/doc/ctdump/examples, ctdump.conf also as the Debian package's
/etc/ctdump/ctdump.conf) stay true: uncommented, ctdump accepts every section
and key and backs up with them, and ctdump.conf names every key ctdump
implements. The systemd boot unit ctdump-cleanup.service is a valid unit that
starts `ctdump cleanup`."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import unittest

import harness

SAMPLES = os.path.join(harness.SRC, "packaging/etc")


def uncomment(text, pattern):
    """Removes the leading '#' of each line matching `pattern` (after the '#')."""
    out = []
    for line in text.splitlines():
        if line.startswith("#") and re.match(pattern, line[1:]):
            line = line[1:]
        out.append(line)
    return "\n".join(out) + "\n"


class SampleConfigTest(harness.IntegrationTest):

    def read(self, name):
        with open(os.path.join(SAMPLES, name)) as f:
            return f.read()

    def test_ctdump_conf_names_every_implemented_key_once(self):
        with open(os.path.join(harness.SRC, "src/config/vzdump_conf.cc")) as f:
            implemented = re.findall(r'\{"([a-z-]+)", KeyKind::kImplemented', f.read())
        self.assertGreater(len(implemented), 20)
        keys = re.findall(r"^#([a-z-]+): ", self.read("ctdump.conf"), re.M)
        self.assertEqual(sorted(keys), sorted(set(keys)), "a key is in the sample twice")
        self.assertEqual(sorted(keys), sorted(implemented))

    def test_ctdump_conf_uncommented_backs_up(self):
        text = uncomment(self.read("ctdump.conf"), r"[a-z-]+: ")
        hook = os.path.join(self.ws.dir, "hook.sh")
        with open(hook, "w") as f:
            f.write("#!/bin/sh\necho \"hook $1\" >> %s/hook.log\n" % self.ws.dir)
        os.chmod(hook, 0o755)
        node = socket.gethostname().split(".")[0]
        # What names this host or this test's files; every other line stays
        # as the sample has it. maxfiles is the deprecated spelling of
        # prune-backups (the sample says: not both).
        replace = {"storage": self.ws.storage_id, "tmpdir": self.ws.tmp, "script": hook,
                   "node": node, "dumpdir": self.ws.target, "maxfiles": None,
                   "mailnotification": "failure"}
        lines = []
        for line in text.splitlines():
            m = re.match(r"^([a-z-]+): ", line)
            if m and m.group(1) in replace:
                if replace[m.group(1)] is None:
                    continue
                line = "%s: %s" % (m.group(1), replace[m.group(1)])
            lines.append(line)
        with open(os.path.join(self.ws.config, "ctdump.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")
        ct = self.env["CT_UNPRIV"]
        # No --storage: the sample's `storage` line names it.
        r = self.ws.run("backup", ct)
        self.assertOk(r)
        self.ws.only_backup(ct)
        with open(os.path.join(self.ws.dir, "hook.log")) as f:
            self.assertIn("hook job-end", f.read())
        self.assertRunning(ct)
        self.assertNoLeftovers()

    def test_storage_cfg_uncommented_every_storage_takes_a_backup(self):
        # Section headers ("#dir: local") and their keys ("#\tpath ...");
        # the explanations ("# ...") stay comments.
        text = uncomment(self.read("storage.cfg"), r"([a-z]+: [A-Za-z][\w.-]*$|\t)")
        root = os.path.join(self.ws.dir, "sample")
        key = None
        lines = []
        for line in text.splitlines():
            m = re.match(r"^\t(path|encryption-key|command) (/\S+)$", line)
            if m and m.group(1) == "command":
                self.assertTrue(m.group(2).endswith("/dir-example.py"), line)
                line = "\tcommand %s" % harness.EXAMPLE
            elif m:
                line = "\t%s %s%s" % (m.group(1), root, m.group(2))
                if m.group(1) == "path":
                    os.makedirs(root + m.group(2), exist_ok=True)
                else:
                    key = root + m.group(2)
            lines.append(line)
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("\n".join(lines) + "\n")
        self.assertIsNotNone(key)
        os.makedirs(os.path.dirname(key), exist_ok=True)
        # A key for unattended backups: no passphrase (as the sample says).
        self.assertOk(self.ws.run("key", "create", "--kdf", "none", key))
        ids = re.findall(r"^([a-z]+): (\S+)$", "\n".join(lines), re.M)
        self.assertEqual([t for t, _ in ids], ["datastore", "dir", "provider"])
        ct = self.env["CT_UNPRIV"]
        for _, sid in ids:
            r = self.ws.run("backup", ct, "--storage", sid, "--mode", "stop", "--tmpdir", self.ws.tmp)
            self.assertOk(r)
            r = self.ws.run("--output-format", "json", "list", sid)
            self.assertOk(r)
            self.assertIn(ct, r.stdout, sid)
        self.assertRunning(ct)


class CleanupUnitTest(unittest.TestCase):

    def test_unit_runs_cleanup_before_lxc_autostart(self):
        build = os.path.dirname(harness.BIN)
        if not build:
            raise unittest.SkipTest("run through ctest (CTDUMP_BIN unset)")
        with open(os.path.join(build, "packaging/systemd/ctdump-cleanup.service")) as f:
            text = f.read()
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            prefix = re.search(r"^CMAKE_INSTALL_PREFIX:PATH=(.*)$", f.read(), re.M).group(1)
        self.assertNotIn("@", text)
        self.assertIn("\nExecStart=%s/sbin/ctdump cleanup\n" % prefix, text)
        self.assertIn("\nType=oneshot\n", text)
        before = re.search(r"^Before=(.*)$", text, re.M).group(1).split()
        self.assertIn("lxc.service", before)
        self.assertIn("ctdump-scheduler.service", before)
        self.assertIn("local-fs.target", re.search(r"^After=(.*)$", text, re.M).group(1).split())
        self.assertIn("\nWantedBy=multi-user.target\n", text)
        # The subcommand exists and, with nothing to repair, succeeds.
        d = tempfile.mkdtemp(prefix="ctdump-unit.")
        try:
            r = subprocess.run([harness.BIN, "cleanup"], capture_output=True, text=True,
                               env=dict(os.environ, CTDUMP_RUN_DIR=os.path.join(d, "run"),
                                        CTDUMP_LOG_DIR=os.path.join(d, "log"),
                                        CTDUMP_STATE_DIR=os.path.join(d, "state")))
            self.assertEqual(r.returncode, 0, r.stderr)
            analyze = shutil.which("systemd-analyze")
            if analyze:
                copy = os.path.join(d, "ctdump-cleanup.service")
                with open(copy, "w") as f:
                    f.write(text.replace(prefix + "/sbin/ctdump", harness.BIN))
                # --man=no: the man page is checked on the installed package
                # (scripts/deb.sh --test), not in the build tree.
                r = subprocess.run([analyze, "verify", "--man=no", copy], capture_output=True,
                                   text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertNotIn("ctdump-cleanup.service:", r.stderr)
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
