"""The consistent-view modes on real storage: snapshot (btrfs), snapshot's
fallback to suspend (ext4), suspend; consistency under a writer; nothing left
behind after success or SIGTERM."""
import glob
import os
import shutil
import signal
import subprocess
import tarfile
import time
import unittest

import harness


def attach(ct, *cmd):
    return subprocess.run(["lxc-attach", "-P", harness.env()["LXCPATH"], "-n", ct, "--"] + list(cmd),
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)


# Writes the counter, then logs it: at any instant counter == last log line or
# last log line + 1. ~100 updates a second, so the machine is not saturated.
WRITER = ("i=0; while :; do i=$((i+1)); echo $i > /srv/counter.tmp; mv /srv/counter.tmp /srv/counter; "
          "echo $i >> /srv/counter.log; sleep 0.01; done")


def start_writer(ct):
    """Runs WRITER in container `ct` until stop_writer; returns once it counts."""
    subprocess.Popen(["lxc-attach", "-P", harness.env()["LXCPATH"], "-n", ct, "--", "sh", "-c", WRITER],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
    deadline = time.time() + 10
    while attach(ct, "cat", "/srv/counter").stdout.strip() in ("", "0") and time.time() < deadline:
        time.sleep(0.05)


def stop_writer(ct):
    # minbase has no pkill/pidof: walk /proc, sparing init and ourselves.
    attach(ct, "sh", "-c", "for p in /proc/[0-9]*; do n=${p#/proc/}; "
                           "[ $n = 1 ] || [ $n = $$ ] && continue; "
                           "grep -q counter.log $p/cmdline 2>/dev/null && kill -9 $n; done; true")
    attach(ct, "rm", "-f", "/srv/counter", "/srv/counter.log", "/srv/counter.tmp")


class ModesTest(harness.IntegrationTest):

    def snapshots_left(self):
        btrfs = os.path.dirname(self.env["ROOTFS_UNPRIV"])
        return glob.glob(os.path.join(btrfs, ".ctdump-*"))

    def start_writer(self, ct):
        start_writer(ct)

    def stop_writer(self, ct):
        stop_writer(ct)

    def counter_consistent(self, archive):
        with tarfile.open(archive) as tf:
            counter = int(tf.extractfile("./srv/counter").read())
            log = tf.extractfile("./srv/counter.log").read().split()
        self.assertIn(counter - int(log[-1]), (0, 1),
                      "counter %d and its log (last %s) disagree: not one instant" % (counter, log[-1].decode()))
        return counter

    def test_snapshot_on_btrfs_under_a_writer(self):
        ct = self.env["CT_UNPRIV"]
        self.start_writer(ct)
        try:
            r = self.ws.backup(ct, extra=["--mode", "snapshot"])
            self.assertOk(r)
            self.assertIn("INFO: backup mode: snapshot", r.stderr)
            self.assertRegex(r.stderr, r"INFO: guest was frozen for \d+ ms")
            self.assertIn("INFO: cleanup temporary 'vzdump' snapshot", r.stderr)
            n = self.counter_consistent(os.path.join(self.ws.only_backup(ct), "archive.tar"))
            time.sleep(0.3)
            self.assertGreater(int(attach(ct, "cat", "/srv/counter").stdout), n, "writer stopped")
        finally:
            self.stop_writer(ct)
        self.assertRunning(ct)
        self.assertEqual(self.snapshots_left(), [])
        self.assertNoLeftovers()

    def test_every_mode_on_btrfs_is_one_instant(self):
        ct = self.env["CT_UNPRIV"]
        for mode in ("suspend", "snapshot", "stop"):
            with self.subTest(mode=mode):
                self.start_writer(ct)
                try:
                    time.sleep(1.1)
                    r = self.ws.backup(ct, extra=["--mode", mode])
                    self.assertOk(r)
                    newest = sorted(self.ws.backups_of(ct))[-1]
                    n = self.counter_consistent(os.path.join(newest, "archive.tar"))
                    if mode != "stop":  # stop ends the writer with the container
                        time.sleep(0.3)
                        self.assertGreater(int(attach(ct, "cat", "/srv/counter").stdout), n)
                finally:
                    self.stop_writer(ct)
                self.assertRunning(ct)
        self.assertEqual(self.snapshots_left(), [])
        self.assertNoLeftovers()

    def test_sigterm_before_the_interruption_and_sigkill_during_the_provider(self):
        """More kill points: SIGTERM while the pre-stop hook runs (nothing was
        interrupted yet), SIGKILL while the provider runs (then `cleanup`)."""
        ct = self.env["CT_UNPRIV"]
        hook = os.path.join(self.ws.dir, "term.sh")
        with open(hook, "w") as f:
            f.write('#!/bin/sh\n[ "$1" = pre-stop ] && kill -TERM $PPID && sleep 2\nexit 0\n')
        os.chmod(hook, 0o755)
        for mode in ("stop", "suspend", "snapshot"):
            with self.subTest(mode=mode, kill="TERM at pre-stop"):
                time.sleep(1.1)
                r = self.ws.backup(ct, extra=["--mode", mode, "--script", hook])
                self.assertEqual(r.returncode, 1, r.stderr[-2000:])
                self.assertIn("interrupted by signal", r.stderr)
                self.assertRunning(ct)
                self.assertEqual(self.snapshots_left(), [])
                self.assertNoLeftovers()
            with self.subTest(mode=mode, kill="KILL in backup_container"):
                self.ws.write_storage({"test-hang": "backup_container"})
                time.sleep(1.1)
                p = self.ws.start("backup", ct, "--storage", "test", "--tmpdir", self.ws.tmp, "--mode", mode)
                self.ws.wait_for_worker(ct)
                p.send_signal(signal.SIGKILL)
                p.communicate(timeout=60)
                r = self.ws.run("cleanup")
                self.assertOk(r)
                self.assertRunning(ct)
                self.assertEqual(self.snapshots_left(), [])
                self.assertEqual([x for x in os.listdir(self.ws.tmp) if x.startswith("ctdumptmp")], [])
                self.ws.write_storage({})

    def test_snapshot_falls_back_to_suspend_on_ext4(self):
        ct = self.env["CT_PRIV"]
        self.start_writer(ct)
        try:
            r = self.ws.backup(ct, extra=["--mode", "snapshot"])
            self.assertOk(r)
            self.assertIn("INFO: mode failure - some volumes do not support snapshots", r.stderr)
            self.assertIn("INFO: trying 'suspend' mode instead", r.stderr)
            self.assertIn("INFO: backup mode: suspend", r.stderr)
            self.counter_consistent(os.path.join(self.ws.only_backup(ct), "archive.tar"))
        finally:
            self.stop_writer(ct)
        self.assertRunning(ct)
        self.assertNoLeftovers()

    def test_snapshot_by_reflink_copy_on_xfs(self):
        """A container on xfs (no subvolumes, but reflinks): snapshot mode takes a
        reflink copy under the freeze instead of falling back to suspend."""
        name = self.env["CT_PRIV"].replace("-priv", "-xfs")
        with harness.running_copy_on_xfs(self.ws.dir, self.env["CT_PRIV"], name) as mnt:
            self.start_writer(name)
            r = self.ws.backup(name, extra=["--mode", "snapshot"])
            self.assertOk(r)
            self.assertIn("INFO: backup mode: snapshot", r.stderr)
            self.assertNotIn("trying 'suspend'", r.stderr)
            self.assertRegex(r.stderr, r"INFO: guest was frozen for \d+ ms")
            self.counter_consistent(os.path.join(self.ws.only_backup(name), "archive.tar"))
            self.assertEqual(harness.ct_state(name), "RUNNING")
            self.assertEqual(glob.glob(os.path.join(mnt, ".ctdump-*")), [])

    def test_snapshot_of_a_btrfs_mount_point_too(self):
        ct = self.env["CT_UNPRIV"]
        vol = os.path.join(self.env["BTRFS_MNT"], ct + "-data")
        subprocess.run(["btrfs", "subvolume", "create", vol], check=True, capture_output=True)
        with open(os.path.join(vol, "file.txt"), "w") as f:
            f.write("on a second subvolume\n")
        os.chown(vol, 100000, 100000)
        os.chown(os.path.join(vol, "file.txt"), 101000, 101000)
        target = os.path.join(self.env["ROOTFS_UNPRIV"], "srv/bdata")
        os.makedirs(target, exist_ok=True)
        entry = "lxc.mount.entry = %s srv/bdata none bind,optional,x-ctdump.backup 0 0" % vol
        try:
            with harness.extra_config(ct, entry):
                r = self.ws.backup(ct, extra=["--mode", "snapshot"])
            self.assertOk(r)
            self.assertIn("including mount point lxc.mount.entry:1 ('/srv/bdata') in backup", r.stderr)
            self.assertNotIn("trying 'suspend'", r.stderr)
            with tarfile.open(os.path.join(self.ws.only_backup(ct), "archive.tar")) as tf:
                m = tf.getmember("./srv/bdata/file.txt")
                self.assertEqual((m.uid, m.gid), (1000, 1000))
            self.assertEqual(self.snapshots_left(), [])
        finally:
            shutil.rmtree(target, ignore_errors=True)
            subprocess.run(["btrfs", "subvolume", "delete", vol], capture_output=True)

    def test_suspend_keeps_container_view(self):
        ct = self.env["CT_UNPRIV"]
        r = self.ws.backup(ct, extra=["--mode", "suspend"])
        self.assertOk(r)
        self.assertRegex(r.stderr, r"INFO: guest was frozen for \d+ ms")
        with tarfile.open(os.path.join(self.ws.only_backup(ct), "archive.tar")) as tf:
            m = tf.getmember("./etc/shadow")
            self.assertEqual((m.uid, m.gid), (0, 42))
            self.assertNotIn("./tmp/should-be-excluded", tf.getnames())
        self.assertRunning(ct)
        self.assertNoLeftovers()

    def test_leftover_snapshot_is_removed_first(self):
        ct = self.env["CT_UNPRIV"]
        rootfs = self.env["ROOTFS_UNPRIV"]
        leftover = os.path.join(os.path.dirname(rootfs), ".ctdump-snap." + os.path.basename(rootfs))
        subprocess.run(["btrfs", "subvolume", "snapshot", "-r", rootfs, leftover], check=True,
                       capture_output=True)
        r = self.ws.backup(ct, extra=["--mode", "snapshot"])
        self.assertOk(r)
        self.assertIn("INFO: removing leftover snapshot '%s' of an interrupted backup" % leftover, r.stderr)
        self.assertEqual(self.snapshots_left(), [])

    def test_sigterm_in_each_mode_leaves_container_running_and_thawed(self):
        ct = self.env["CT_UNPRIV"]
        for mode in ("snapshot", "suspend", "stop"):
            with self.subTest(mode=mode):
                self.ws.cleanup()
                self.ws = harness.Workspace()
                self.ws.write_storage({"test-hang": "backup_container"})
                p = self.ws.start("backup", ct, "--storage", "test", "--tmpdir", self.ws.tmp, "--mode", mode)
                self.ws.wait_for_worker(ct)
                p.send_signal(signal.SIGTERM)
                _, err = p.communicate(timeout=60)
                self.assertEqual(p.returncode, 1, err)
                self.assertIn("interrupted by signal", err)
                self.assertRunning(ct)
                self.assertEqual(self.snapshots_left(), [])
                self.assertNoLeftovers()

    def test_sigkill_then_cleanup_repairs_every_mode(self):
        """SIGKILL at the worst moment of each mode (a pre-restart hook kills
        ctdump while the container is stopped or frozen): `ctdump cleanup`,
        or the next job, restarts/thaws it and removes snapshots and copies."""
        ct = self.env["CT_UNPRIV"]
        hook = os.path.join(self.ws.dir, "killer.sh")
        with open(hook, "w") as f:
            f.write('#!/bin/sh\n[ "$1" = pre-restart ] && kill -9 $PPID\nexit 0\n')
        os.chmod(hook, 0o755)
        for mode, broken, repair_by_job in (("stop", "STOPPED", False), ("snapshot", "FROZEN", False),
                                            ("suspend", "FROZEN", True)):
            with self.subTest(mode=mode):
                time.sleep(1.1)  # archive names have one-second resolution
                r = self.ws.backup(ct, extra=["--mode", mode, "--script", hook])
                self.assertEqual(r.returncode, -9, r.stderr[-2000:])
                self.assertEqual(harness.ct_state(ct), broken)
                if repair_by_job:
                    time.sleep(1.1)
                    r = self.ws.backup(ct, extra=["--mode", "stop"])
                    self.assertOk(r)
                    self.assertIn("interrupted backup", r.stderr)
                else:
                    r = self.ws.run("cleanup")
                    self.assertOk(r)
                    self.assertIn("repaired 1 interrupted backup(s)", r.stderr)
                self.assertRunning(ct)
                self.assertEqual(self.snapshots_left(), [])
                self.assertEqual([x for x in os.listdir(self.ws.tmp) if x.startswith("ctdumptmp")], [])
                self.assertEqual(os.listdir(self.ws.journal_dir), [])


if __name__ == "__main__":
    unittest.main()
