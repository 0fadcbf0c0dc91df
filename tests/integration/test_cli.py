"""The command line: which containers a job selects (PVE's vmid lists, options
that take one value each, empty selections, LXC's lxcpath) and exit codes."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import harness
import json_events


def init_pid(ct):
    r = subprocess.run(["lxc-info", "-P", harness.env()["LXCPATH"], "-n", ct, "-p", "-H"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, check=True)
    return r.stdout.strip()


class SelectionTest(harness.IntegrationTest):

    def test_exclude_list_is_split_and_never_stops_the_excluded(self):
        priv, unpriv = self.env["CT_PRIV"], self.env["CT_UNPRIV"]
        pid = init_pid(priv)
        # Every container but the unprivileged one is excluded (other tests may
        # have containers of their own in the lxcpath: never stop those).
        others = sorted(n for n in os.listdir(self.env["LXCPATH"])
                        if n != unpriv and os.path.exists(os.path.join(self.env["LXCPATH"], n, "config")))
        self.assertIn(priv, others)
        r = self.ws.run("--output-format", "json", "backup", "--all", "--exclude", ",".join(others + ["no-such-ct"]),
                        "--mode", "stop", "--storage", "test", "--tmpdir", self.ws.tmp)
        # The job ran, but an exclude that names nothing fails it.
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        events = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertIn({"level": "warn", "message": "--exclude: no container named 'no-such-ct' in "
                       "lxcpath \"%s\"" % self.env["LXCPATH"]},
                      [{k: e[k] for k in ("level", "message")} for e in events if e["event"] == "log"])
        end = events[-1]
        self.assertEqual(end["event"], "job-end")
        self.assertFalse(end["ok"])
        self.assertEqual([(g["vmid"], g["ok"]) for g in end["guests"]], [(unpriv, True)])
        # The excluded container was never stopped (its init is the same process).
        self.assertEqual(init_pid(priv), pid)
        self.assertEqual(self.ws.backups_of(priv), [])
        self.ws.only_backup(unpriv)

    def test_repeatable_options_take_one_value_each(self):
        ct = self.env["CT_UNPRIV"]
        r = self.ws.run("backup", "--exclude-path", "/srv/x", ct, "--storage", "test", "--tmpdir", self.ws.tmp)
        self.assertOk(r)
        self.ws.only_backup(ct)
        # --exclude no longer eats the following names.
        r = self.ws.run("backup", "--all", "--exclude", "a", ct, "--storage", "test")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--exclude: give it with --all (or alone, which means --all), not with container "
                      "names", r.stderr)
        # restore --idmap before the positional arguments.
        r = self.ws.run("restore", "--idmap", "u 0 100000 65536", "--idmap", "g 0 100000 65536",
                        "nostore:vzdump-lxc-x-2026_01_01-00_00_00.tar.zst", "newct")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("storage 'nostore' does not exist", r.stderr)
        self.assertNotIn("required", r.stderr)

    def test_names_as_a_comma_list(self):
        ct = self.env["CT_UNPRIV"]
        r = self.ws.run("backup", ct + ",no-such-ct", "--storage", "test", "--tmpdir", self.ws.tmp)
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        self.assertIn("INFO: Finished Backup of VM %s" % ct, r.stderr)
        self.assertIn("ERROR: Backup of VM no-such-ct failed - container 'no-such-ct' does not exist", r.stderr)

    def test_all_on_an_empty_lxcpath_fails(self):
        empty = tempfile.mkdtemp(prefix="ctdump-it-emptylxc.", dir="/var/tmp")
        try:
            r = subprocess.run([harness.BIN, "--lxcpath", empty, "--config-dir", self.ws.config, "backup",
                                "--all", "--storage", "test"], capture_output=True, text=True,
                               env=self.ws.environ(), stdin=subprocess.DEVNULL, timeout=60)
        finally:
            shutil.rmtree(empty)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("ERROR: --all: no containers in lxcpath \"%s\": nothing to back up" % empty, r.stderr)

    def test_everything_excluded_fails(self):
        lxcpath = tempfile.mkdtemp(prefix="ctdump-it-lxc2.", dir="/var/tmp")
        try:
            for name in ("web", "db"):
                os.makedirs(os.path.join(lxcpath, name))
                with open(os.path.join(lxcpath, name, "config"), "w") as f:
                    f.write("lxc.uts.name = %s\n" % name)
            r = subprocess.run([harness.BIN, "--lxcpath", lxcpath, "--config-dir", self.ws.config, "backup",
                                "--all", "--exclude", "web db", "--storage", "test"], capture_output=True,
                               text=True, env=self.ws.environ(), stdin=subprocess.DEVNULL, timeout=60)
        finally:
            shutil.rmtree(lxcpath)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("ERROR: --all: every container in lxcpath \"%s\" is excluded: nothing to back up" % lxcpath,
                      r.stderr)

    def test_default_lxcpath_is_lxcs_configured_one(self):
        """Without --lxcpath, ctdump uses lxc.lxcpath from /etc/lxc/lxc.conf (here
        replaced in a private mount namespace, invisible to the host)."""
        lxcdir = tempfile.mkdtemp(prefix="ctdump-it-lxcconf.", dir="/var/tmp")
        empty = os.path.join(lxcdir, "containers")
        os.makedirs(empty)
        script = ('mount -t tmpfs none /etc/lxc && echo "lxc.lxcpath = %s" > /etc/lxc/lxc.conf && '
                  'exec "$@"' % empty)
        try:
            r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                                harness.BIN, "--config-dir", self.ws.config, "backup", "--all",
                                "--storage", "test"], capture_output=True, text=True, env=self.ws.environ(),
                               stdin=subprocess.DEVNULL, timeout=60)
        finally:
            shutil.rmtree(lxcdir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no containers in lxcpath \"%s\"" % empty, r.stderr)


class ExitCodeTest(harness.IntegrationTest):
    """README's table: 0 ok, 1 the job or command failed, 2 usage error; the
    message names what is wrong."""

    def test_exit_codes_of_bad_invocations(self):
        ct = self.env["CT_UNPRIV"]
        bk = ["backup", ct, "--storage", "test", "--tmpdir", self.ws.tmp]
        cases = [
            ([], 2, "subcommand"),
            (["frobnicate"], 2, "frobnicate"),
            (["backup", "--bogus"], 2, "--bogus"),
            (["--output-format", "xml", "list", "test"], 2, "xml"),
            (bk + ["--mode", "fast"], 2, "fast"),
            (bk + ["--compress", "brotli"], 2, "brotli"),
            (bk + ["--prune-backups", "keep-lots=3"], 2, "keep-lots"),
            (bk + ["--bwlimit", "abc"], 2, "--bwlimit"),
            (bk[:4] + ["--tmpdir", "relative"], 2, "tmpdir 'relative' must be an absolute path"),
            (bk + ["--script", "/nonexistent/hook"], 2, "hook script '/nonexistent/hook' does not exist"),
            (bk + ["--include-mount", "relative"], 2, "--include-mount 'relative'"),
            (bk + ["--notes-template", "{{bogus}}"], 2, "unknown variable 'bogus'"),
            (bk + ["--exclude-path", ""], 2, "pattern is empty"),
            (bk + ["--exclude", "x"], 2, "--exclude: give it with --all (or alone"),
            (bk + ["--all"], 2, "give either container names or --all, not both"),
            (["backup", "--storage", "test"], 2, "no container given"),
            (["backup", ct], 2, "no storage given"),
            (["prune", "test"], 2, "vmid"),
            (["prune", "test", ct, "--prune-backups", "keep-lots=1"], 2, "keep-lots"),
            (["delete", "novolume"], 2, "volume 'novolume' is not of the form <storage>:<volname>"),
            (["restore", "novolume", "newct"], 2, "volume 'novolume' is not of the form"),
            (["catalog", "novolume"], 2, "volume 'novolume' is not of the form"),
            (["mount", "store:", "/mnt"], 2, "volume 'store:' is not of the form"),
            (["restore-file", ":vol", "/etc", "--target", "/tmp/x"], 2, "volume ':vol' is not of the form"),
            (["restore", "test:x", "newct", "--idmap", "u 0 100000"], 2, "--idmap"),
            (["restore", "test:x", "newct", "--rootfs", "/a", "--rootfs-storage", "btrfs:/b"], 2,
             "give either --rootfs or --rootfs-storage, not both"),
            (["restore", "test:x", "newct", "--unprivileged", "2"], 2, "--unprivileged"),
            (["restore", "test:x", "bad/name"], 2, "invalid container name 'bad/name'"),
            (["restore", "test:x", "newct", "--hostname", ""], 2, "--hostname must not be empty"),
            # Not usage errors: the command ran and failed.
            (["list", "nosuch"], 1, "storage 'nosuch' does not exist"),
            (["backup", ct, "--storage", "nosuch", "--tmpdir", self.ws.tmp], 1, "'nosuch'"),
            (["backup", "no-such-ct", "--storage", "test", "--tmpdir", self.ws.tmp], 1,
             "container 'no-such-ct' does not exist"),
        ]
        wrong = []
        for args, code, message in cases:
            r = self.ws.run(*args, timeout=120)
            if r.returncode != code or message not in r.stderr:
                wrong.append("%r: exit %d (want %d), %r (want %r)" % (args, r.returncode, code,
                                                                    r.stderr[-600:], message))
        self.assertEqual(wrong, [], "\n".join(wrong))

    def test_ctdump_conf_errors_are_usage_errors_naming_file_and_line(self):
        conf = os.path.join(self.ws.config, "ctdump.conf")
        with open(conf, "w") as f:
            f.write("mode: stop\nbwlimit: fast\n")
        r = self.ws.backup(self.env["CT_UNPRIV"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("%s:2: bwlimit: 'fast' is not a non-negative integer" % conf, r.stderr)
        with open(conf, "w") as f:
            f.write("mode: stop\n\nfrobnicate: 1\n")
        r = self.ws.backup(self.env["CT_UNPRIV"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("%s:3: unknown key 'frobnicate'" % conf, r.stderr)


class OutputTest(harness.IntegrationTest):
    """Names with escape codes, newlines and non-UTF-8 bytes never reach the
    terminal or the logs raw, and JSON output never aborts on them."""

    ESC_NAME = b"esc\x1b[31mred\nline"
    BAD_NAME = b"bad\xff\xfe"
    HIDDEN_NAME = b"secret\x1b]0;pwned\x07"

    def setUp(self):
        super().setUp()
        self.store = os.path.join(self.ws.dir, "ds")
        os.makedirs(self.store)
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("datastore: ds\n\tpath %s\n" % self.store)
        self.sub = "srv/ctdump-out-%d" % os.getpid()
        self.tree = os.path.join(self.env["ROOTFS_UNPRIV"], self.sub).encode()
        os.makedirs(self.tree)
        os.chown(self.tree, 100000, 100000)
        for name in (self.ESC_NAME, self.BAD_NAME):
            p = os.path.join(self.tree, name)
            with open(p, "wb") as f:
                f.write(b"x\n")
            os.chown(p, 100000, 100000)
        # Host root's 0600 file: the container's root cannot read it (a warning naming it).
        hidden = os.path.join(self.tree, self.HIDDEN_NAME)
        with open(hidden, "wb") as f:
            f.write(b"y\n")
        os.chmod(hidden, 0o600)

    def tearDown(self):
        shutil.rmtree(self.tree, ignore_errors=True)
        super().tearDown()

    def run_bytes(self, *args):
        return subprocess.run(self.ws.cmd(*args), capture_output=True, env=self.ws.environ(),
                              stdin=subprocess.DEVNULL, timeout=300)

    def assertNoControls(self, data, what):
        bad = [c for c in data if c < 0x20 and c not in (0x0a, 0x09)]
        self.assertEqual(bad, [], "%s has raw control characters: %r" % (what, data[-3000:]))

    def test_names_and_notes_are_escaped_and_json_never_aborts(self):
        ct = self.env["CT_UNPRIV"]
        notes = "note \udcff \x1b[2J done"  # a non-UTF-8 byte and an escape code
        r = self.run_bytes("backup", ct, "--storage", "ds", "--tmpdir", self.ws.tmp, "--notes-template", notes)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertNoControls(r.stderr, "backup's stderr")
        self.assertIn(b"secret\\x1b]0;pwned\\x07", r.stderr)
        with open(os.path.join(self.ws.logs, "lxc-%s.log" % ct), "rb") as f:
            log = f.read()
        self.assertNoControls(log, "the task log")
        self.assertIn(b"secret\\x1b]0;pwned\\x07", log)

        r = self.run_bytes("--output-format", "json", "list", "ds")
        self.assertEqual(r.returncode, 0, r.stderr)
        backups = json_events.result(r.stdout)
        self.assertEqual(len(backups), 1)
        self.assertEqual(backups[0]["notes"], "note \ufffd \x1b[2J done")
        volid = backups[0]["volid"]

        r = self.run_bytes("catalog", volid, "/" + self.sub)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNoControls(r.stdout, "catalog's output")
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 3, lines)  # the directory and its two readable files
        self.assertTrue(any(l.endswith(b"/esc\\x1b[31mred\\nline") for l in lines), lines)
        self.assertTrue(any(l.endswith(b"/bad\\xff\\xfe") for l in lines), lines)

        r = self.run_bytes("--output-format", "json", "catalog", volid, "/" + self.sub)
        self.assertEqual(r.returncode, 0, r.stderr)
        entries = {e["path"]: e for e in json_events.result(r.stdout)}
        base = "/" + self.sub + "/"
        self.assertIn(base + "esc\x1b[31mred\nline", entries)
        self.assertNotIn("path-hex", entries[base + "esc\x1b[31mred\nline"])
        bad = entries[base + "bad\ufffd\ufffd"]
        self.assertEqual(bytes.fromhex(bad["path-hex"]), (base.encode() + self.BAD_NAME))


class ConfigFileTest(harness.IntegrationTest):
    """A FIFO or /dev/zero in place of a configuration file is an error naming
    the file, never a hang or an unbounded read."""

    def replace_with(self, path, kind):
        os.unlink(path)
        if kind == "fifo":
            os.mkfifo(path)
        else:
            os.symlink("/dev/zero", path)

    def test_storage_cfg_fifo_or_dev_zero(self):
        cfg = os.path.join(self.ws.config, "storage.cfg")
        for kind in ("fifo", "zero"):
            self.replace_with(cfg, kind)
            r = self.ws.run("list", "test", timeout=30)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("ERROR: \"%s\" is not a regular file" % cfg, r.stderr)

    def test_ctdump_conf_fifo_or_dev_zero(self):
        conf = os.path.join(self.ws.config, "ctdump.conf")
        for kind in ("fifo", "zero"):
            self.replace_with(conf, kind)
            r = self.ws.run("backup", self.env["CT_UNPRIV"], "--storage", "test", timeout=30)
            self.assertEqual(r.returncode, 1, r.stderr)  # a broken file, not a usage error
            self.assertIn("ERROR: \"%s\" is not a regular file" % conf, r.stderr)

    def test_firewall_config_fifo_fails_the_guest(self):
        ct = self.env["CT_UNPRIV"]
        fw = os.path.join(self.env["LXCPATH"], ct, "ctdump.fw")
        os.mkfifo(fw)
        try:
            r = self.ws.run("backup", ct, "--storage", "test", "--tmpdir", self.ws.tmp, timeout=60)
        finally:
            os.unlink(fw)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("\"%s\" is not a regular file" % fw, r.stderr)
        self.assertRunning(ct)


class FirstRunTest(harness.IntegrationTest):
    """A fresh host: the first command names the missing storage.cfg, with the
    path and a section to start from; an unknown id names the file and the
    ids it has."""

    def test_missing_storage_cfg_is_named(self):
        cfg = os.path.join(self.ws.config, "storage.cfg")
        os.unlink(cfg)
        ct = self.env["CT_UNPRIV"]
        hint = ("storage 'local' does not exist: no storage.cfg at %s; create it, e.g. with the line "
                "\"dir: local\" and below it the indented line \"path /var/lib/vz\"" % cfg)
        for args in (["backup", ct, "--storage", "local", "--tmpdir", self.ws.tmp], ["list", "local"],
                     ["delete", "local:vzdump-lxc-%s-2026_01_01-00_00_00.tar.zst" % ct],
                     ["restore", "local:vzdump-lxc-%s-2026_01_01-00_00_00.tar.zst" % ct, "newct"],
                     ["verify", "local"], ["gc", "local"], ["prune", "local", ct],
                     ["prune", "local", ct, "--prune-backups", "keep-last=1"]):
            r = self.ws.run(*args, timeout=60)
            self.assertEqual(r.returncode, 1, args)
            self.assertIn(hint, r.stderr, args)
        self.assertEqual(self.ws.backups_of(ct), [])
        self.assertRunning(ct)
        # The hint's section works as it says.
        target = os.path.join(self.ws.dir, "vz")
        with open(cfg, "w") as f:
            f.write("dir: local\n\tpath %s\n" % target)
        os.makedirs(os.path.join(target, "dump"))
        r = self.ws.run("list", "local")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.ws.run("list", "nope")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("storage 'nope' does not exist in %s (it has: local)" % cfg, r.stderr)
        # prune of an unknown storage is an error, also when the retention keeps everything
        r = self.ws.run("prune", "nope", ct)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("storage 'nope' does not exist in %s (it has: local)" % cfg, r.stderr)


if __name__ == "__main__":
    unittest.main()
