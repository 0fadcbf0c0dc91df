"""A host crash or power loss mid-backup or mid-restore, then the reboot's
`ctdump cleanup` (ctdump-cleanup.service, before lxc.service): the journals
are on disk (<state_dir>/journal), so snapshots, copies, temporary
directories and half-restored containers are removed; the containers the
reboot stopped are not started by cleanup (lxc-autostart's job). A reboot is
simulated: ctdump killed with SIGKILL, the journal's boot id rewritten to
another one (the pid to a live unrelated process, as after a reboot it may
be), the container stopped, the run directory (a tmpfs at /run) emptied."""
import json
import os
import shutil
import signal
import subprocess
import time
import unittest

import harness
import test_modes
from test_restore import MAP2, RestoreBase

OTHER_BOOT = "00000000-1111-2222-3333-444444444444"


def simulate_reboot(journal_path):
    """What a reboot looks like to cleanup: another boot id; the pid may be
    any live process's now (1 here)."""
    with open(journal_path) as f:
        j = json.load(f)
    assert j["boot_id"] and j["boot_id"] != OTHER_BOOT, j
    j["boot_id"] = OTHER_BOOT
    j["pid"] = 1
    with open(journal_path, "w") as f:
        json.dump(j, f)
    return j


def stop_ct(ct):
    lxcpath = harness.env()["LXCPATH"]
    if harness.ct_state(ct) == "FROZEN":
        subprocess.run(["lxc-unfreeze", "-P", lxcpath, "-n", ct], check=True, capture_output=True)
    subprocess.run(["lxc-stop", "-P", lxcpath, "-n", ct, "-k"], capture_output=True)
    assert harness.ct_state(ct) == "STOPPED", harness.ct_state(ct)


class CrashRebootTest(RestoreBase):

    snapshots_left = test_modes.ModesTest.snapshots_left

    def empty_run_dir(self):
        """The reboot empties /run (a tmpfs). The job's mounts lived in its
        private mount namespace: none is visible here."""
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(self.ws.run_dir, f.read())
        shutil.rmtree(self.ws.run_dir, ignore_errors=True)

    def test_backup_killed_in_each_mode_then_rebooted(self):
        ct = self.env["CT_UNPRIV"]
        hook = os.path.join(self.ws.dir, "killer.sh")
        with open(hook, "w") as f:
            f.write('#!/bin/sh\n[ "$1" = pre-restart ] && kill -9 $PPID\nexit 0\n')
        os.chmod(hook, 0o755)
        journal = os.path.join(self.ws.journal_dir, "lxc-%s.json" % ct)
        for mode, broken, skipped in (("snapshot", "FROZEN", "thawing"), ("suspend", "FROZEN", "thawing"),
                                      ("stop", "STOPPED", "starting")):
            with self.subTest(mode=mode):
                harness.ensure_running(ct)
                time.sleep(1.1)  # archive names have one-second resolution
                r = self.ws.backup(ct, extra=["--mode", mode, "--script", hook])
                self.assertEqual(r.returncode, -9, r.stderr[-2000:])
                self.assertEqual(harness.ct_state(ct), broken)
                # On disk, not in the run directory (a tmpfs at /run).
                self.assertTrue(os.path.exists(journal), os.listdir(self.ws.journal_dir))
                self.assertFalse(os.path.exists(os.path.join(self.ws.run_dir, "state", "lxc-%s.json" % ct)))
                j = simulate_reboot(journal)
                made = [p for p in j["snapshots"] + j["copies"] + [j["tmpdir"]] if p and os.path.exists(p)]
                if mode == "snapshot":
                    self.assertNotEqual(self.snapshots_left(), [], "no snapshot to repair")
                self.assertNotEqual(made, [], "nothing on disk to repair: %r" % j)
                stop_ct(ct)
                self.empty_run_dir()

                r = self.ws.run("cleanup")
                self.assertOk(r)
                self.assertIn("repaired 1 interrupted backup(s)", r.stderr)
                self.assertIn("not %s container '%s': its backup (pid 1) was interrupted by a reboot" % (skipped, ct),
                              r.stderr)
                self.assertNotIn("starting container '%s'" % ct, r.stderr.replace("not starting", ""))
                self.assertEqual(harness.ct_state(ct), "STOPPED", "cleanup started the container")
                self.assertEqual([p for p in made if os.path.exists(p)], [])
                self.assertEqual(self.snapshots_left(), [])
                self.assertEqual(os.listdir(self.ws.journal_dir), [])
                self.assertNoLeftovers()
                # Nothing left to repair: a second run does nothing.
                r = self.ws.run("cleanup")
                self.assertOk(r)
                self.assertIn("repaired 0 interrupted backup(s)", r.stderr)

    def test_restore_killed_then_rebooted(self):
        volid = self.backup_volid(self.env["CT_UNPRIV"])
        name = self.new_name("boot")
        ct_dir = os.path.join(self.env["LXCPATH"], name)
        # Slow enough to be killed while extracting.
        p = self.ws.start("restore", volid, name, *MAP2, "--bwlimit", "4096")
        usr = os.path.join(ct_dir, "rootfs", "usr")
        deadline = time.time() + 60
        while not os.path.exists(usr) and time.time() < deadline and p.poll() is None:
            time.sleep(0.01)
        self.assertIsNone(p.poll(), "the restore ended before the kill")
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate(timeout=60)
        self.assertTrue(os.path.isdir(usr))
        self.assertFalse(os.path.exists(os.path.join(ct_dir, "config")))
        journal = os.path.join(self.ws.journal_dir, "restore-%s.json" % name)
        self.assertTrue(os.path.exists(journal), os.listdir(self.ws.journal_dir))
        simulate_reboot(journal)
        self.empty_run_dir()

        r = self.ws.run("cleanup")
        self.assertOk(r)
        self.assertIn("removed 1 interrupted restore(s)", r.stderr)
        self.assertFalse(os.path.exists(ct_dir), "the half-restored container was left")
        self.assertEqual(os.listdir(self.ws.journal_dir), [])


if __name__ == "__main__":
    unittest.main()
