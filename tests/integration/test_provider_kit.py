"""`ctdump provider-test`, the provider conformance kit
(docs/design/third-party-providers.md §8), against the built-in `dir` and
`datastore` storages, the example provider and the borg and restic providers
(providers/), each in a private config dir.

Each run's text table goes to $CTDUMP_ARTIFACTS/provider-test/<storage>.txt
when that variable is set; any FAIL fails the test. The failure rows 16-19
(crash, hang, garbage, abort through the fault shim `ctdump __provider-fault`)
must PASS for the external providers and be skipped for the built-in ones. The
JSON run's every line must be valid against docs/json-events.schema.json."""
import glob
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
import json_events


class ProviderKitTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.env = harness.env()
        cls.started = time.time()
        cls.dir = tempfile.mkdtemp(prefix="ctdump-it-kit.", dir="/var/tmp")
        os.chmod(cls.dir, 0o755)
        cls.config = os.path.join(cls.dir, "etc")
        for d in ("etc", "dir", "ds", "example", "run", "state", "log"):
            os.makedirs(os.path.join(cls.dir, d))
        with open(os.path.join(cls.config, "storage.cfg"), "w") as f:
            f.write("dir: kit-dir\n\tpath %s\n\n" % os.path.join(cls.dir, "dir"))
            f.write("datastore: kit-ds\n\tpath %s\n\n" % os.path.join(cls.dir, "ds"))
            f.write("provider: kit-example\n\tcommand %s\n\tpath %s\n" %
                    (harness.EXAMPLE, os.path.join(cls.dir, "example")))
        priv = os.path.join(cls.config, "priv")
        os.makedirs(priv, mode=0o700)
        with open(os.path.join(cls.config, "storage.cfg"), "a") as f:
            for tool in ("borg", "restic"):
                pw = os.path.join(priv, tool + ".pw")
                with open(pw, "w") as p:
                    p.write("kit-master-%s-%d\n" % (tool, os.getpid()))
                os.chmod(pw, 0o600)
                d = os.path.join(cls.dir, tool)
                f.write("\nprovider: kit-%s\n\tcommand %s/providers/%s/ctdump-provider-%s\n"
                        "\trepository %s/repo\n\tpassphrase-file %s\n\tstate-dir %s/state\n"
                        "\tcache-dir %s/cache\n\trun-dir %s/run\n"
                        % (tool, harness.SRC, tool, tool, d, pw, d, d, d))
        with open(os.path.join(cls.config, "ctdump.conf"), "w") as f:
            f.write("mode: stop\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def run_kit(self, storage, *extra, json=False):
        e = dict(os.environ)
        e["CTDUMP_RUN_DIR"] = os.path.join(self.dir, "run")
        e["CTDUMP_STATE_DIR"] = os.path.join(self.dir, "state")
        e["CTDUMP_LOG_DIR"] = os.path.join(self.dir, "log")
        cmd = [harness.BIN, "--lxcpath", self.env["LXCPATH"], "--config-dir", self.config]
        if json:
            cmd += ["--output-format", "json"]
        cmd += ["provider-test", storage] + list(extra)
        return subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=e,
                              timeout=900, stdin=subprocess.DEVNULL)

    def save(self, storage, text):
        art = os.environ.get("CTDUMP_ARTIFACTS")
        if not art:
            return
        d = os.path.join(art, "provider-test")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, storage + ".txt"), "w") as f:
            f.write(text)

    def assert_nothing_left(self):
        lxc = self.env["LXCPATH"]
        left = [n for n in os.listdir(lxc) if n.startswith("ctdump-pt-")]
        self.assertEqual(left, [], "the kit left containers under %s" % lxc)
        journal = os.path.join(self.dir, "state", "journal")
        if os.path.isdir(journal):
            self.assertEqual([n for n in os.listdir(journal) if "ctdump-pt-" in n], [])
        faults = [d for d in glob.glob("/var/tmp/ctdump-pt-*-fault.*")
                  if os.path.getmtime(d) >= self.started - 1]
        self.assertEqual(faults, [], "the kit left its fault shim directories")

    FAILURE_ROWS = ("16  provider crash \\(backup_container\\)",
                    "16  provider crash \\(backup_cleanup\\)",
                    "16  provider crash \\(restore_container_init\\)",
                    "17  hang", "18  garbage \\(list_backups\\)", "18  garbage \\(backup_init\\)",
                    "19  abort")

    def check_text_run(self, storage, want_mechanisms, external=True):
        r = self.run_kit(storage)
        self.save(storage, r.stdout)
        table = r.stdout[r.stdout.index("\nprovider-test "):] if "\nprovider-test " in r.stdout \
            else r.stdout
        self.assertNotIn(" FAIL ", table, "%s:\n%s\n%s" % (storage, r.stdout, r.stderr[-3000:]))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr[-3000:])
        for m in want_mechanisms:
            self.assertRegex(table, r"\n12  fidelity \(%s\) +(PASS|LOSS) " % m)
        for row in ("1  hello", "2  full backup", "3  worker view", "4  exclusions",
                    "6  incremental", "7  listing", "8  notes", "9  protected",
                    "10  retention", "15  delete", "20  leftovers"):
            self.assertRegex(table, r"\n ?%s +(PASS|LOSS) " % row, row)
        if external:
            for row in self.FAILURE_ROWS:
                self.assertRegex(table, r"\n%s +PASS " % row, row)
        else:
            for row in ("16  provider crash", "17  hang", "18  garbage", "19  abort"):
                self.assertRegex(table, r"\n%s +SKIP .*built-in storage: no process to fault"
                                 % row, row)
        self.assertRegex(table, r"\n\d+ checks: \d+ passed, 0 failed, \d+ skipped, \d+ with declared "
                                r"losses\n")
        self.assert_nothing_left()

    def test_dir(self):
        self.check_text_run("kit-dir", ["tar"], external=False)

    def test_datastore(self):
        self.check_text_run("kit-ds", ["tar"], external=False)

    def test_example_provider(self):
        self.check_text_run("kit-example", ["tar", "directory"])

    @unittest.skipUnless(shutil.which("borg"), "borg is not installed")
    def test_borg(self):
        self.check_text_run("kit-borg", ["directory", "tar"])

    @unittest.skipUnless(shutil.which("restic") and shutil.which("rclone"),
                         "restic or rclone is not installed")
    def test_restic(self):
        self.check_text_run("kit-restic", ["directory", "tar"])

    def test_killed_kit_is_cleaned_up(self):
        """SIGKILL to the kit in its failure checks (the OOM killer's way): its children end
        on their own; `ctdump cleanup` then removes its container and its fault directory."""
        e = dict(os.environ)
        e["CTDUMP_RUN_DIR"] = os.path.join(self.dir, "run")
        e["CTDUMP_STATE_DIR"] = os.path.join(self.dir, "state")
        e["CTDUMP_LOG_DIR"] = os.path.join(self.dir, "log")
        base = [harness.BIN, "--lxcpath", self.env["LXCPATH"], "--config-dir", self.config]
        kit = subprocess.Popen(base + ["provider-test", "kit-example"], env=e,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        name = "ctdump-pt-%d" % kit.pid
        pattern = "/var/tmp/%s-fault.*" % name
        deadline = time.monotonic() + 600
        while not glob.glob(pattern) and kit.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertTrue(glob.glob(pattern), "the kit never reached its failure checks")
        time.sleep(1)  # inside a failure check, a child command running
        kit.kill()
        kit.wait()
        self.assertTrue(glob.glob(pattern))
        self.assertTrue(os.path.isdir(os.path.join(self.env["LXCPATH"], name)))

        def running():
            out = []
            for pid in os.listdir("/proc"):
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        if name.encode() in f.read():
                            out.append(pid)
                except (OSError, ValueError):
                    pass
            return out
        deadline = time.monotonic() + 120
        while running() and time.monotonic() < deadline:
            time.sleep(0.5)
        self.assertEqual(running(), [], "the killed kit's commands did not end")
        r = subprocess.run(base + ["cleanup"], capture_output=True, text=True, env=e, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("left by a killed provider-test", r.stderr + r.stdout)
        self.assertEqual(glob.glob(pattern), [])
        lxc = self.env["LXCPATH"]
        self.assertEqual([n for n in os.listdir(lxc) if n.startswith(name)], [])
        journal = os.path.join(self.dir, "state", "journal")
        if os.path.isdir(journal):
            self.assertEqual([n for n in os.listdir(journal) if name in n], [])
        # Its backups stay on the storage (the kit's own end never ran): listed, deletable.
        ls = subprocess.run(base + ["--output-format", "json", "list", "kit-example",
                                    "--vmid", name], capture_output=True, text=True, env=e)
        self.assertEqual(ls.returncode, 0, ls.stderr)
        left = [x["volid"] for x in json_events.events(ls.stdout)[-1]["data"]]
        self.assertTrue(left)
        for volid in left:
            d = subprocess.run(base + ["delete", volid], capture_output=True, text=True, env=e)
            self.assertEqual(d.returncode, 0, d.stderr)

    def test_json_events_and_usage(self):
        r = self.run_kit("kit-ds", json=True)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        v = json_events.validator()
        evs = json_events.events(r.stdout)
        for e in evs:
            v.validate(e)
        checks = [e for e in evs if e["event"] == "check"]
        self.assertEqual(sorted({c["id"] for c in checks}), list(range(1, 21)))
        self.assertTrue(all(c["storage"] == "kit-ds" for c in checks))
        last = evs[-1]
        self.assertEqual((last["event"], last["command"], last["ok"], last["exit"]),
                         ("result", "provider-test", True, 0))
        self.assertEqual(len(last["data"]), len(checks))
        self.assert_nothing_left()
        # Usage errors: exit 2, nothing prepared.
        bad = self.run_kit("kit-ds", "--mechanism", "zip")
        self.assertEqual(bad.returncode, 2, bad.stderr)
        bad = self.run_kit("kit-ds", "--skip", "restore")
        self.assertEqual(bad.returncode, 2, bad.stderr)
        unknown = self.run_kit("no-such-storage")
        self.assertEqual(unknown.returncode, 1, unknown.stdout + unknown.stderr)
        self.assertIn("FAIL  1 hello", unknown.stdout)
        self.assert_nothing_left()


if __name__ == "__main__":
    unittest.main()
