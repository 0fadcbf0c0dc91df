"""Bad input and failing providers: each gives a clear error, cleanup is done,
the next container is still backed up, and every container keeps running."""
import os
import signal
import subprocess
import time
import unittest

import harness


class FailureTest(harness.IntegrationTest):

    def tearDown(self):
        # Cleanups (a ctdump still running after a failure) before the
        # workspace goes: unittest would run them after tearDown.
        self.doCleanups()
        super().tearDown()

    def job(self, storage_extra, first=None, second=None, extra=()):
        """Backs up [first, second] where the fault hits `first` only."""
        first = first or self.env["CT_UNPRIV"]
        second = second or self.env["CT_PRIV"]
        self.ws.write_storage(dict(storage_extra, **{"test-vmid": first}))
        r = self.ws.backup(first, second, extra=extra)
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        self.assertRunning(self.env["CT_UNPRIV"])
        self.assertRunning(self.env["CT_PRIV"])
        self.assertNoLeftovers()
        # The second container was still backed up.
        self.ws.only_backup(second)
        self.assertIn("INFO: Finished Backup of VM %s" % second, r.stderr)
        return r

    def assertFailed(self, r, ct, message):
        self.assertIn("ERROR: Backup of VM %s failed - %s" % (ct, message), r.stderr)

    def test_unknown_container(self):
        r = self.job({}, first="no-such-ct")
        self.assertFailed(r, "no-such-ct", "container 'no-such-ct' does not exist in lxcpath")

    def test_malformed_idmap(self):
        name = self.env["CT_UNPRIV"] + "-bad"
        d = os.path.join(self.env["LXCPATH"], name)
        os.makedirs(d)
        try:
            with open(os.path.join(d, "config"), "w") as f:
                f.write("lxc.rootfs.path = dir:/nonexistent\nlxc.idmap = u 0 100000\n")
            r = self.job({}, first=name)
            self.assertFailed(r, name, "failed to parse idmap 'u 0 100000'")
        finally:
            import shutil
            shutil.rmtree(d)

    def test_unknown_storage(self):
        r = self.ws.run("backup", self.env["CT_UNPRIV"], "--storage", "nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn("ERROR: Backup job failed - could not get storage information for 'nope': "
                      "storage 'nope' does not exist", r.stderr)
        self.assertRunning(self.env["CT_UNPRIV"])

    def test_provider_crashes_in_worker(self):
        r = self.job({"test-crash": "backup_container"})
        self.assertRegex(r.stderr, r"ERROR: Backup of VM %s failed - provider 'test' \(.*dir-example.py\) "
                         r"worker exited unexpectedly during 'backup_container' \(exited with code 3\)"
                         % self.env["CT_UNPRIV"])
        self.assertIn("INFO: restarting vm", r.stderr)

    def test_provider_crashes_in_prepare(self):
        r = self.job({"test-crash": "backup_container_prepare"})
        self.assertIn("exited unexpectedly during 'backup_container_prepare'", r.stderr)

    def test_provider_hangs(self):
        r = self.job({"test-hang": "backup_container", "timeout": "3"})
        self.assertIn("did not answer 'backup_container' within 3 s", r.stderr)

    def test_provider_prints_garbage(self):
        r = self.job({"test-garbage": "backup_get_mechanism"})
        self.assertIn("wrote an invalid message: 'this is not JSON", r.stderr)
        self.assertIn("' during 'backup_get_mechanism'", r.stderr)  # the method it broke

    def test_provider_fails_prepare(self):
        r = self.job({"test-fail": "backup_container_prepare"})
        self.assertFailed(r, self.env["CT_UNPRIV"], "injected failure in backup_container_prepare")

    def test_illegal_archive_name(self):
        r = self.job({"test-archive-name": "bad name!"})
        self.assertFailed(r, self.env["CT_UNPRIV"],
                          "backup init failed: illegal characters in archive name 'bad name!'")

    def test_mechanism_other_than_directory(self):
        r = self.job({"test-mechanism": "nbd"})
        self.assertFailed(r, self.env["CT_UNPRIV"],
                          "mechanism 'nbd' requested by backup provider is not supported for containers")

    def test_failing_hook_script(self):
        hook = os.path.join(self.ws.dir, "hook.sh")
        with open(hook, "w") as f:
            f.write('#!/bin/sh\necho "hook $1 $2 $3"\n'
                    '[ "$1" = backup-start ] && [ "$3" = "%s" ] && exit 7\nexit 0\n'
                    % self.env["CT_UNPRIV"])
        os.chmod(hook, 0o755)
        r = self.job({}, extra=["--script", hook])
        self.assertFailed(r, self.env["CT_UNPRIV"], "command '%s backup-start stop %s' failed: exit code 7"
                          % (hook, self.env["CT_UNPRIV"]))
        self.assertIn("INFO: hook backup-abort stop %s" % self.env["CT_UNPRIV"], r.stderr)
        self.assertIn("INFO: hook job-end", r.stderr)

    def test_sigterm_during_backup_restarts_container(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=sig):
                self.ws.cleanup()
                self.ws = harness.Workspace()  # archive names have one-second resolution
                ct = self.env["CT_UNPRIV"]
                self.ws.write_storage({"test-hang": "backup_container"})
                p = self.ws.start("backup", ct, "--storage", "test", "--tmpdir", self.ws.tmp)
                # If the test fails before ctdump ends, stop it as an admin would
                # (it restarts the container), never leave it running past the
                # workspace's removal.
                self.addCleanup(stop_process, p)
                deadline = time.time() + 30
                while harness.ct_state(ct) != "STOPPED" and time.time() < deadline:
                    time.sleep(0.05)
                time.sleep(1.0)  # now inside backup_container
                p.send_signal(sig)
                out, err = p.communicate(timeout=60)
                self.assertEqual(p.returncode, 1, err)
                self.assertIn("interrupted by signal", err)
                self.assertIn("INFO: restarting vm", err)
                self.assertRunning(ct)
                self.assertNoLeftovers()
                # Locks were released: the next backup works.
                self.ws.write_storage({})
                self.assertOk(self.ws.backup(ct))


def stop_process(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()


if __name__ == "__main__":
    unittest.main()
