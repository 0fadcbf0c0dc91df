"""The job around the provider: hook phases, locks, --all, pct.conf guests,
firewall config, included mount points."""
import json
import os
import shutil
import subprocess
import tarfile
import time
import unittest

import harness


def lxc(tool, *args):
    subprocess.run(["lxc-" + tool, "-P", harness.env()["LXCPATH"]] + list(args), check=True,
                   stdin=subprocess.DEVNULL, capture_output=True)


class JobTest(harness.IntegrationTest):

    def test_hook_phases_in_vzdump_order(self):
        ct = self.env["CT_UNPRIV"]
        hook = os.path.join(self.ws.dir, "hook.sh")
        trace = os.path.join(self.ws.dir, "trace")
        with open(hook, "w") as f:
            f.write('#!/bin/sh\necho "$* TARGET=${TARGET-} STOREID=$STOREID VMTYPE=${VMTYPE-}" >> %s\n' % trace)
        os.chmod(hook, 0o755)
        self.assertOk(self.ws.backup(ct, extra=["--script", hook]))
        with open(trace) as f:
            lines = f.read().splitlines()
        phases = [l.split()[0] for l in lines]
        self.assertEqual(phases, ["job-init", "job-start", "backup-start", "pre-stop", "pre-restart",
                                  "post-restart", "backup-end", "log-end", "job-end"])
        archive = os.path.relpath(self.ws.only_backup(ct), self.ws.target)
        self.assertEqual(lines[2], "backup-start stop %s TARGET=%s STOREID=test VMTYPE=lxc" % (ct, archive))
        self.assertEqual(lines[0], "job-init TARGET= STOREID=test VMTYPE=")

    def test_global_lock_waits_for_running_job(self):
        a, b = self.env["CT_UNPRIV"], self.env["CT_PRIV"]
        self.ws.write_storage({"test-hang": "backup_container", "test-vmid": a, "timeout": "4"})
        first = self.ws.start("backup", a, "--storage", "test", "--tmpdir", self.ws.tmp)
        deadline = time.time() + 30
        while harness.ct_state(a) != "STOPPED" and time.time() < deadline:
            time.sleep(0.05)
        second = self.ws.run("backup", b, "--storage", "test", "--tmpdir", self.ws.tmp, "--lockwait", "1")
        first.communicate(timeout=60)
        self.assertEqual(first.returncode, 1)
        self.assertOk(second)
        self.assertIn("INFO: trying to get global lock - waiting...", second.stderr)
        self.assertIn("INFO: got global lock", second.stderr)
        self.assertRunning(a)

    def test_stale_locks_are_taken_over_with_a_warning(self):
        ct = self.env["CT_UNPRIV"]
        os.makedirs(os.path.join(self.ws.run_dir, "lock"))
        dead = subprocess.Popen(["true"])
        dead.wait()
        for p in ("ctdump.lock", "lock/lxc-%s.lock" % ct):
            with open(os.path.join(self.ws.run_dir, p), "w") as f:
                f.write("%d\n" % dead.pid)
        r = self.ws.backup(ct)
        self.assertOk(r)
        self.assertIn("WARN: taking over lock \"%s/ctdump.lock\" left by dead process %d"
                      % (self.ws.run_dir, dead.pid), r.stderr)
        self.assertIn("lxc-%s.lock\" left by dead process %d" % (ct, dead.pid), r.stderr)

    def test_all_with_exclude(self):
        r = self.ws.run("--output-format", "json", "backup", "--all", "--exclude", self.env["CT_PRIV"],
                        "--storage", "test", "--tmpdir", self.ws.tmp)
        self.assertOk(r)
        end = json.loads(r.stdout.splitlines()[-1])
        self.assertEqual([g["vmid"] for g in end["guests"]], [self.env["CT_UNPRIV"]])

    def test_firewall_config_is_handed_over(self):
        ct = self.env["CT_PRIV"]
        fw = os.path.join(self.env["LXCPATH"], ct, "ctdump.fw")
        with open(fw, "w") as f:
            f.write("[OPTIONS]\nenable: 1\n")
        try:
            self.assertOk(self.ws.backup(ct))
        finally:
            os.unlink(fw)
        with open(os.path.join(self.ws.only_backup(ct), "firewall.conf")) as f:
            self.assertEqual(f.read(), "[OPTIONS]\nenable: 1\n")

    def test_pct_conf_guest(self):
        ct = self.env["CT_UNPRIV"]
        pct = os.path.join(self.env["LXCPATH"], ct, "pct.conf")
        text = ("#a container described in Proxmox syntax\narch: amd64\nhostname: pcthost\n"
                "lock: backup\nrootfs: %s,size=2G\nmp0: /srv/bindsrc,mp=/mnt/bind\n"
                "mp1: local:subvol-1-disk-1,mp=/mnt/vol,size=1G\nunprivileged: 1\n"
                "\n[snap1]\nhostname: old\n" % self.env["ROOTFS_UNPRIV"])
        with open(pct, "w") as f:
            f.write(text)
        try:
            r = self.ws.backup(ct)
        finally:
            os.unlink(pct)
        self.assertOk(r)
        self.assertIn("INFO: CT Name: pcthost", r.stderr)
        self.assertIn("INFO: excluding bind mount point mp0 ('/mnt/bind') from backup (not a volume)", r.stderr)
        self.assertIn("INFO: excluding volume mount point mp1 ('/mnt/vol') from backup (disabled)", r.stderr)
        with open(os.path.join(self.ws.only_backup(ct), "guest.conf")) as f:
            guest = f.read()
        self.assertNotIn("lock:", guest)
        self.assertNotIn("snap1", guest)
        self.assertIn("hostname: pcthost", guest)

    def test_included_bind_mount_point_is_a_source(self):
        ct = self.env["CT_UNPRIV"]
        data = os.path.join(self.ws.dir, "data")
        os.makedirs(data)
        with open(os.path.join(data, "file.txt"), "w") as f:
            f.write("mounted data\n")
        os.chown(os.path.join(data, "file.txt"), 101000, 101000)
        os.chown(data, 100000, 100000)
        target = os.path.join(self.env["ROOTFS_UNPRIV"], "srv/data")
        os.makedirs(target, exist_ok=True)
        os.chown(target, 100000, 100000)
        entry = "lxc.mount.entry = %s srv/data none bind,create=dir,x-ctdump.backup 0 0" % data
        try:
            with harness.extra_config(ct, entry):
                r = self.ws.backup(ct)
            self.assertOk(r)
            self.assertIn("INFO: including mount point lxc.mount.entry:1 ('/srv/data') in backup", r.stderr)
            with tarfile.open(os.path.join(self.ws.only_backup(ct), "archive.tar")) as tf:
                m = tf.getmember("./srv/data/file.txt")
                self.assertEqual((m.uid, m.gid), (1000, 1000))
                self.assertEqual(tf.extractfile(m).read(), b"mounted data\n")
        finally:
            # The restart after the backup mounted the entry (create=dir): start clean.
            lxc("stop", "-n", ct)
            lxc("start", "-n", ct, "-d")
            lxc("wait", "-n", ct, "-s", "RUNNING", "-t", "20")
            shutil.rmtree(target, ignore_errors=True)

    def test_include_mount_option(self):
        ct = self.env["CT_UNPRIV"]
        data = os.path.join(self.ws.dir, "data2")
        os.makedirs(data)
        with open(os.path.join(data, "f.txt"), "w") as f:
            f.write("x\n")
        target = os.path.join(self.env["ROOTFS_UNPRIV"], "srv/data2")
        os.makedirs(target, exist_ok=True)
        try:
            with harness.extra_config(ct, "lxc.mount.entry = %s srv/data2 none bind,optional 0 0" % data):
                r = self.ws.backup(ct)
                self.assertOk(r)
                self.assertIn("INFO: excluding bind mount point lxc.mount.entry:1 ('/srv/data2') from "
                              "backup (not a volume)", r.stderr)
                time.sleep(1.1)
                r = self.ws.backup(ct, extra=["--include-mount", "/srv/data2/"])
            self.assertOk(r)
            self.assertIn("INFO: including mount point lxc.mount.entry:1 ('/srv/data2') in backup", r.stderr)
            newest = sorted(self.ws.backups_of(ct))[-1]
            with tarfile.open(os.path.join(newest, "archive.tar")) as tf:
                self.assertEqual(tf.extractfile("./srv/data2/f.txt").read(), b"x\n")
        finally:
            shutil.rmtree(target, ignore_errors=True)

    def test_symlinked_mount_point_is_refused(self):
        """A container that turns a mount point into a symlink to a host path
        must not get ctdump to mount over that host path."""
        ct = self.env["CT_UNPRIV"]
        data = os.path.join(self.ws.dir, "data")
        os.makedirs(data)
        link = os.path.join(self.env["ROOTFS_UNPRIV"], "srv/evil")
        os.symlink("/etc", link)
        os.lchown(link, 100000, 100000)
        entry = "lxc.mount.entry = %s srv/evil none bind,optional,x-ctdump.backup 0 0" % data
        try:
            with harness.extra_config(ct, entry):
                r = self.ws.backup(ct)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("mount point 'srv/evil' is or passes through a symlink inside the container",
                          r.stderr.replace("'/srv/evil'", "'srv/evil'"))
            self.assertRunning(ct)
            self.assertNoLeftovers()
        finally:
            os.unlink(link)

    def test_provider_messages_reach_the_per_container_log(self):
        ct = self.env["CT_PRIV"]
        self.assertOk(self.ws.backup(ct))
        with open(os.path.join(self.ws.logs, "lxc-%s.log" % ct)) as f:
            log = f.read()
        self.assertRegex(log, r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d INFO: backing up \./ of CT %s" % ct)
        self.assertIn("INFO: Finished Backup of VM %s" % ct, log)
        # ... and the provider received that log file (backup_handle_log_file).
        with open(os.path.join(self.ws.only_backup(ct), "backup.log")) as f:
            self.assertIn("backing up ./ of CT %s" % ct, f.read())


class VzdumpKeysTest(harness.IntegrationTest):
    """ctdump.conf / job keys of vzdump that ctdump implements: ionice, remove,
    quiet, dumpdir, maxfiles, node; the rest warn or are refused."""

    def write_conf(self, text):
        with open(os.path.join(self.ws.config, "ctdump.conf"), "w") as f:
            f.write(text)

    def hook_reporting(self, command):
        hook = os.path.join(self.ws.dir, "hook.sh")
        out = os.path.join(self.ws.dir, "hook.out")
        with open(hook, "w") as f:
            f.write('#!/bin/sh\n[ "$1" = backup-start ] && %s >> %s\nexit 0\n' % (command, out))
        os.chmod(hook, 0o755)
        return hook, out

    def test_ionice_reaches_the_backup_processes(self):
        ct = self.env["CT_UNPRIV"]
        hook, out = self.hook_reporting("ionice -p $$")
        self.assertOk(self.ws.backup(ct, extra=["--script", hook, "--ionice", "8"]))
        self.write_conf("mode: stop\nionice: 3\n")
        time.sleep(1.1)
        r = self.ws.backup(ct, extra=["--script", hook])
        self.assertOk(r)
        self.assertIn("INFO: ionice priority: 3", r.stderr)
        with open(out) as f:
            self.assertEqual(f.read().splitlines(), ["idle", "best-effort: prio 3"])

    def test_remove_0_keeps_old_backups_and_enforces_the_limit(self):
        ct = self.env["CT_UNPRIV"]
        keep = ["--prune-backups", "keep-last=1", "--remove", "0"]
        self.assertOk(self.ws.backup(ct, extra=keep))
        time.sleep(1.1)
        r = self.ws.backup(ct, extra=keep)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("There is a max backup limit of 1 enforced by the target storage or the vzdump "
                      "parameters. Either increase the limit or delete old backups.", r.stderr)
        self.assertEqual(len(self.ws.backups_of(ct)), 1)
        self.write_conf("mode: stop\nremove: 0\n")
        r = self.ws.backup(ct, extra=["--prune-backups", "keep-last=2"])
        self.assertOk(r)
        self.assertNotIn("prune older backups", r.stderr)
        time.sleep(1.1)
        r = self.ws.backup(ct, extra=["--prune-backups", "keep-last=1", "--remove", "1"])
        self.assertOk(r)
        self.assertIn("INFO: pruned 2 backup(s)", r.stderr)
        self.assertEqual(len(self.ws.backups_of(ct)), 1)

    def test_maxfiles_is_keep_last_with_a_deprecation_warning(self):
        ct = self.env["CT_UNPRIV"]
        conf = os.path.join(self.ws.config, "ctdump.conf")
        self.write_conf("mode: stop\nmaxfiles: 1\n")
        self.assertOk(self.ws.backup(ct))
        time.sleep(1.1)
        r = self.ws.backup(ct)
        self.assertOk(r)
        self.assertIn("WARN: %s:2: maxfiles: parameter 'maxfiles' is deprecated" % conf, r.stderr)
        self.assertIn("INFO: prune older backups with retention: keep-last=1", r.stderr)
        self.assertEqual(len(self.ws.backups_of(ct)), 1)

    def test_storage_retention_comes_before_ctdump_conf(self):
        """vzdump: --prune-backups, then the storage's prune-backups, then vzdump.conf's."""
        ct = self.env["CT_UNPRIV"]
        self.ws.write_storage({"prune-backups": "keep-last=2"})
        self.write_conf("mode: stop\nprune-backups: keep-last=1\n")
        for _ in range(3):
            r = self.ws.backup(ct)
            self.assertOk(r)
            time.sleep(1.1)
        self.assertIn("INFO: prune older backups with retention: keep-last=2", r.stderr)
        self.assertEqual(len(self.ws.backups_of(ct)), 2)
        # Without one on the storage, ctdump.conf's applies.
        self.ws.write_storage({})
        r = self.ws.backup(ct)
        self.assertOk(r)
        self.assertIn("INFO: prune older backups with retention: keep-last=1", r.stderr)
        self.assertEqual(len(self.ws.backups_of(ct)), 1)

    def test_compress_values_as_vzdump(self):
        """vzdump's compress: 1 and lzo mean lzo, 0 none (command line and ctdump.conf)."""
        ct = self.env["CT_UNPRIV"]
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("dir: local\n\tpath %s\n" % self.ws.target)
        dump = os.path.join(self.ws.target, "dump")
        suffixes = []
        for extra, conf in ((["--compress", "1"], ""), ([], "compress: 0\n"), ([], "compress: lzo\n")):
            self.write_conf("mode: stop\n" + conf)
            before = set(os.listdir(dump)) if os.path.isdir(dump) else set()
            r = self.ws.run("backup", ct, "--storage", "local", "--tmpdir", self.ws.tmp, *extra)
            self.assertOk(r)
            new = [n for n in set(os.listdir(dump)) - before if not n.endswith(".log")]
            self.assertEqual(len(new), 1, new)
            suffixes.append(new[0][new[0].index(".tar"):])
            time.sleep(1.1)
        self.assertEqual(suffixes, [".tar.lzo", ".tar", ".tar.lzo"])

    def test_quiet_shows_only_warnings_and_errors(self):
        ct = self.env["CT_UNPRIV"]
        self.write_conf("mode: stop\nquiet: 1\nnotification-policy: always\n")
        r = self.ws.backup(ct)
        self.assertOk(r)
        conf = os.path.join(self.ws.config, "ctdump.conf")
        lines = r.stderr.splitlines()
        self.assertEqual(lines[0], "WARN: %s:3: 'notification-policy': deprecated since Proxmox VE 8.2 and "
                         "ignored: notifications go by notification-mode and the matchers of notifications.cfg"
                         % conf)
        self.assertEqual([l for l in lines if not l.startswith("WARN: ")], [])
        # The task log still has everything.
        with open(os.path.join(self.ws.logs, "lxc-%s.log" % ct)) as f:
            self.assertIn("INFO: Finished Backup of VM %s" % ct, f.read())

    def test_node_other_than_this_one_skips_the_job(self):
        ct = self.env["CT_UNPRIV"]
        r = self.ws.backup(ct, extra=["--node", "not-this-node"])
        self.assertOk(r)
        self.assertIn("skipping backup job: it is for node 'not-this-node'", r.stderr)
        self.assertEqual(self.ws.backups_of(ct), [])
        this = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip().split(".")[0]
        self.assertOk(self.ws.backup(ct, extra=["--node", this]))
        self.ws.only_backup(ct)

    def test_dumpdir_writes_the_dir_layout_there(self):
        ct = self.env["CT_UNPRIV"]
        dump = os.path.join(self.ws.dir, "dump-here")
        os.makedirs(dump)
        self.write_conf("mode: stop\ndumpdir: %s\n" % dump)
        r = self.ws.run("backup", ct, "--tmpdir", self.ws.tmp)
        self.assertOk(r)
        names = sorted(os.listdir(dump))
        self.assertEqual(len(names), 2, names)
        self.assertRegex(names[0], r"^vzdump-lxc-%s-\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d\.log$" % ct)
        self.assertRegex(names[1], r"^vzdump-lxc-%s-\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d\.tar\.zst$" % ct)
        r = self.ws.run("backup", ct, "--storage", "test", "--dumpdir", dump)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("cannot use options 'storage' and 'dumpdir' at the same time", r.stderr)

    def test_unsupported_keys_are_refused_naming_file_and_line(self):
        conf = os.path.join(self.ws.config, "ctdump.conf")
        self.write_conf("mode: stop\npigz: 4\n")
        r = self.ws.backup(self.env["CT_UNPRIV"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("ERROR: %s:2: 'pigz' is not supported by ctdump (" % conf, r.stderr)


class HookEnvironmentTest(harness.IntegrationTest):
    """The hook script's arguments and environment are vzdump's for every
    storage type (PVE::VZDump::run_hook_script)."""

    KEYS = ("STOREID", "DUMPDIR", "VMTYPE", "HOSTNAME", "TARGET", "LOGFILE")

    def run_with_hook(self, *args):
        hook = os.path.join(self.ws.dir, "hook.sh")
        trace = os.path.join(self.ws.dir, "trace")
        with open(hook, "w") as f:
            # One line per phase: the arguments, each variable (unset: '-'), and
            # whether TARGET and LOGFILE exist as files at that moment.
            f.write('#!/bin/sh\n{ printf "%%s" "$*"\n'
                    '  for v in %s; do eval "printf \\" $v=%%s\\" \\"\\${$v--}\\""; done\n'
                    '  [ -f "${TARGET-}" ] && printf " target-exists"\n'
                    '  [ -f "${LOGFILE-}" ] && printf " logfile-exists"\n'
                    '  echo; } >> %s\n' % (" ".join(self.KEYS), trace))
        os.chmod(hook, 0o755)
        r = self.ws.run(*args, "--script", hook, "--tmpdir", self.ws.tmp)
        self.assertOk(r)
        with open(trace) as f:
            return {l.split()[0]: l for l in f.read().splitlines()}

    def test_dir_storage_like_vzdump(self):
        ct = self.env["CT_UNPRIV"]
        dump = os.path.join(self.ws.target, "dump")
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("dir: local\n\tpath %s\n" % self.ws.target)
        lines = self.run_with_hook("backup", ct, "--storage", "local")
        archive = [n for n in os.listdir(dump) if n.endswith(".tar.zst")]
        self.assertEqual(len(archive), 1, os.listdir(dump))
        target = os.path.join(dump, archive[0])
        logfile = target[:-len(".tar.zst")] + ".log"
        guest = "STOREID=local DUMPDIR=%s VMTYPE=lxc HOSTNAME=%s TARGET=%s LOGFILE=%s" % (dump, ct, target,
                                                                                        logfile)
        self.assertEqual(lines["job-init"], "job-init STOREID=local DUMPDIR=- VMTYPE=- HOSTNAME=- TARGET=- "
                         "LOGFILE=-")
        for phase in ("job-start", "job-end"):
            self.assertEqual(lines[phase], "%s STOREID=local DUMPDIR=%s VMTYPE=- HOSTNAME=- TARGET=- "
                             "LOGFILE=-" % (phase, dump))
        self.assertEqual(lines["backup-start"], "backup-start stop %s %s" % (ct, guest))
        # The classic `scp $TARGET` hook: the archive is there at backup-end, the log at log-end.
        self.assertEqual(lines["backup-end"], "backup-end stop %s %s target-exists" % (ct, guest))
        self.assertEqual(lines["log-end"], "log-end stop %s %s target-exists logfile-exists" % (ct, guest))

    def test_dumpdir_has_no_storeid_and_dumpdir_everywhere(self):
        ct = self.env["CT_UNPRIV"]
        dump = os.path.join(self.ws.dir, "dumpdir")
        os.makedirs(dump)
        lines = self.run_with_hook("backup", ct, "--dumpdir", dump)
        archive = [n for n in os.listdir(dump) if n.endswith(".tar.zst")][0]
        self.assertEqual(lines["job-init"], "job-init STOREID=- DUMPDIR=%s VMTYPE=- HOSTNAME=- TARGET=- "
                         "LOGFILE=-" % dump)
        self.assertTrue(lines["backup-end"].endswith(
            "TARGET=%s/%s LOGFILE=%s/%s target-exists" % (dump, archive, dump, archive[:-8] + ".log")),
            lines["backup-end"])

    def test_provider_storage_has_no_dumpdir_or_logfile(self):
        ct = self.env["CT_UNPRIV"]
        lines = self.run_with_hook("backup", ct, "--storage", "test")
        archive = os.path.relpath(self.ws.only_backup(ct), self.ws.target)
        self.assertEqual(lines["backup-end"], "backup-end stop %s STOREID=test DUMPDIR=- VMTYPE=lxc "
                         "HOSTNAME=%s TARGET=%s LOGFILE=-" % (ct, ct, archive))


if __name__ == "__main__":
    unittest.main()
