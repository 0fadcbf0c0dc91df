"""The borg and restic providers (providers/) under the real ctdump, on the
fixture's real containers: a stop-mode backup of the unprivileged container
(its worker in the container's user namespace) and an incremental one, the
listing, notes and protection, pruning, a restore through each mechanism the
provider offers (`ctdump restore --mechanism`) into a new container with
another ID map, compared with the fixture's manifest except for the losses
the provider declares for that mechanism, `verify`, deletion; and a kill of
the provider's main instance in the middle of a backup: the job fails naming
the provider, the container runs again, nothing half-made is listed and the
next backup works (no stale repository lock)."""
import os
import signal
import subprocess
import time
import unittest

import harness
from datastore_base import DatastoreBase, without_excluded
from test_restore import manifest, strip_sparse

PROVIDERS = os.path.join(harness.SRC, "providers")
MAP2 = ["--idmap", "u 0 200000 65536", "--idmap", "g 0 200000 65536"]
NOTES = "nightly \u2014 Gr\u00fc\u00dfe\nsecond line"

# What each declared loss word excuses in a manifest line (tests/realenv/lib.sh).
LOSS_ATTRS = {"acl": (b"acl=", b"dacl="), "xattr": (b"xattr",), "fcaps": (b"cap=", b"caprootid="),
              "sparse": (b"sparse=",), "hardlink": (b"link=",)}


def lossy(line, losses):
    """`line` with the columns and attributes that `losses` excuse blanked."""
    cols = line.split(b"\t")
    drop = tuple(p for w in losses for p in LOSS_ATTRS.get(w, ()))
    attrs = [a for a in cols[10].split(b";") if a != b"-" and not a.startswith(drop)]
    cols[10] = b";".join(attrs) or b"-"
    if "hardlink" in losses:
        cols[7] = b"-"  # nlink
    if "mtime-subsecond" in losses:
        cols[8] = b"-"  # whole seconds, rounded or truncated: compared apart
    return cols


def tool_missing(*tools):
    for t in tools:
        if subprocess.run(["sh", "-c", "command -v " + t], capture_output=True).returncode:
            return t
    return None


class ProviderBase(DatastoreBase):
    TOOL = None
    NEEDS = ()

    def setUp(self):
        missing = tool_missing(*self.NEEDS)
        if missing:
            self.skipTest("%s is not installed" % missing)
        super().setUp()
        self.sid = "p" + self.TOOL
        priv = os.path.join(self.ws.config, "priv")
        os.makedirs(priv, mode=0o700)
        pw = os.path.join(priv, self.TOOL + ".pw")
        with open(pw, "w") as f:
            f.write("master-secret-%d\n" % os.getpid())
        os.chmod(pw, 0o600)
        d = self.ws.dir
        self.repo = os.path.join(d, "repo")
        self.write_cfg(more=(
            "provider: %s\n\tcommand %s/%s/ctdump-provider-%s\n\trepository %s\n"
            "\tpassphrase-file %s\n\tstate-dir %s/pstate\n\tcache-dir %s/pcache\n"
            "\trun-dir %s/prun\n" % (self.sid, PROVIDERS, self.TOOL, self.TOOL, self.repo, pw,
                                      d, d, d)))

    def provider_procs(self, ancestor):
        """{pid: uid} of this provider's processes below `ancestor` (the main instance) or
        naming this test's directory (connectors: their socket is in its run-dir)."""
        parent, info = {}, {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid, "rb") as f:
                    stat = f.read()
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read()
                uid = os.stat("/proc/" + pid).st_uid
            except OSError:
                continue
            parent[int(pid)] = int(stat[stat.rindex(b")") + 2:].split()[1])
            info[int(pid)] = (cmd, uid)
        out = {}
        for pid, (cmd, uid) in info.items():
            p, seen = pid, 0
            while p > 1 and p != ancestor and seen < 64:
                p, seen = parent.get(p, 0), seen + 1
            mine = p == ancestor or self.ws.dir.encode() in cmd  # worker, connectors: run-dir
            if mine and ("ctdump-provider-" + self.TOOL).encode() in cmd:
                out[pid] = uid
        return out

    @staticmethod
    def alive(pids, tool):
        left = []
        for pid in pids:
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if ("ctdump-provider-" + tool).encode() in f.read():
                        left.append(pid)
            except OSError:
                pass
        return left

    def test_backup_attributes_prune_restore_verify_delete(self):
        ct = self.env["CT_UNPRIV"]
        # the job sets notes and protection before backup_cleanup, on the backup being made
        r, log = self.backup(ct, "--mode", "stop", "--notes-template", "{{guestname}} nightly",
                             storage=self.sid)
        self.assertIn("starting external backup via %s" % self.TOOL, log)
        self.assertNotIn("unable to add notes", log)
        self.assertRunning(ct)
        r, log = self.backup(ct, "--mode", "stop", "--protected", "1", storage=self.sid)
        vols = self.volids(ct, self.sid)
        self.assertEqual(len(vols), 2, vols)
        r = self.ws.run("notes", vols[0])
        self.assertOk(r)
        self.assertEqual(r.stdout.rstrip("\n"), "%s nightly" % ct)
        r = self.ws.run("delete", vols[1])
        self.assertNotEqual(r.returncode, 0, "the backup made with --protected 1 was deleted")
        self.assertIn("protected", r.stderr)
        self.assertOk(self.ws.run("protect", vols[1], "0"))

        # notes and protection, read back through new provider instances
        self.assertOk(self.ws.run("notes", vols[0], "--set", NOTES))
        r = self.ws.run("notes", vols[0])
        self.assertOk(r)
        self.assertEqual(r.stdout.rstrip("\n"), NOTES)
        self.assertOk(self.ws.run("protect", vols[0], "1"))
        r = self.ws.run("delete", vols[0])
        self.assertNotEqual(r.returncode, 0, "a protected backup was deleted")
        self.assertIn("protected", r.stderr)

        # keep-last=1 keeps the newest and spares the protected one
        r = self.ws.run("prune", self.sid, ct, "--prune-backups", "keep-last=1")
        self.assertOk(r)
        self.assertEqual(self.volids(ct, self.sid), vols)
        self.assertOk(self.ws.run("protect", vols[0], "0"))
        self.assertOk(self.ws.run("prune", self.sid, ct, "--prune-backups", "keep-last=1"))
        self.assertEqual(self.volids(ct, self.sid), vols[1:])
        volid = vols[1]

        # a restore through each mechanism, compared with the fixture
        want = without_excluded(self.fixture_lines("UNPRIV"))
        hello = self.hello()
        mechs = hello.get("restore-mechanisms") or []
        self.assertEqual(sorted(mechs), ["directory", "tar"])
        for mech in mechs:
            losses = (hello.get("restore-losses") or {}).get(mech, [])
            name = self.new_name(self.TOOL[0] + mech[0])
            r = self.restore(volid, name, *MAP2, "--mechanism", mech)
            self.assertOk(r)
            self.assertIn("restore mechanism: %s (asked for)" % mech, r.stderr)
            if losses:
                self.assertIn("loses: " + ", ".join(losses), r.stderr)
            got = manifest(os.path.join(self.ct_dir(name), "rootfs"), 200000)
            for path, line in want.items():
                if b"\tp\t" in line and "fifo" in losses:
                    continue
                self.assertIn(path, got, "%s: missing after a %s restore" % (path, mech))
                a, b = lossy(line, losses), lossy(got[path], losses)
                if "mtime-subsecond" in losses:
                    self.assertLessEqual(abs(int(line.split(b"\t")[8]) - int(got[path].split(b"\t")[8])),
                                         1, path)
                if not losses:
                    a, b = strip_sparse(line).split(b"\t"), strip_sparse(got[path]).split(b"\t")
                    if b"sparse=1" in line and "sparse" not in losses:
                        self.assertIn(b"sparse=1", got[path], "%s: holes lost (%s)" % (path, mech))
                self.assertEqual(b, a, "%s differs after a %s restore (declared losses: %s)"
                                 % (path, mech, losses))
            harness.destroy_containers([name])

        r = self.ws.run("verify", self.sid, timeout=900)
        self.assertOk(r)
        self.assertNotIn("0 entries", r.stdout + r.stderr)

        self.assertOk(self.ws.run("delete", volid))
        self.assertEqual(self.volids(ct, self.sid), [])
        r = self.ws.run("delete", volid)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(volid.split(":", 1)[1], r.stderr)

    def hello(self):
        """The provider's hello result, asked as ctdump asks (role main)."""
        import json
        cfg = {"command": "x", "repository": self.repo, "passphrase-file": "/nonexistent"}
        p = subprocess.run(
            [os.path.join(PROVIDERS, self.TOOL, "ctdump-provider-" + self.TOOL)],
            input=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "hello", "params": {
                "api-version": 1, "role": "main", "storage-id": self.sid,
                "storage-config": cfg}}) + "\n",
            capture_output=True, text=True, timeout=60)
        return json.loads(p.stdout.splitlines()[0])["result"]

    def killed_backup(self, ct):
        """A backup whose provider main instance is SIGKILLed once the worker is about to
        start (in prepare: perhaps creating the repository; or in backup_container)."""
        self.wait_next_second(ct, self.sid)
        job = self.ws.start("backup", ct, "--storage", self.sid, "--mode", "stop",
                            "--tmpdir", self.ws.tmp)
        self.ws.wait_for_worker(ct, timeout=120)
        procs = self.provider_procs(job.pid)
        mains = [pid for pid, uid in procs.items() if uid == 0]
        self.assertTrue(mains, "no main instance of the provider found: %r" % procs)
        os.kill(min(mains), signal.SIGKILL)  # the oldest: the main instance
        _, err = job.communicate(timeout=600)
        self.backup_ended(ct, self.sid)
        self.assertNotEqual(job.returncode, 0, "the backup succeeded without its provider")
        self.assertIn("provider '%s'" % self.sid, err)
        self.assertRunning(ct)
        deadline = time.time() + 30
        while self.alive(procs, self.TOOL) and time.time() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.alive(procs, self.TOOL), [], "provider processes were left")

    def test_main_instance_killed_mid_backup(self):
        ct = self.env["CT_UNPRIV"]
        # 1: the first backup, into a repository not there yet
        self.killed_backup(ct)
        self.assertEqual(self.volids(ct, self.sid), [], "a half-made backup is listed")
        self.backup(ct, "--mode", "stop", storage=self.sid)
        good = self.volids(ct, self.sid)
        self.assertEqual(len(good), 1)
        # 2: into the existing repository (the kill lands in backup_container or later)
        self.killed_backup(ct)
        self.assertEqual(self.volids(ct, self.sid), good, "a half-made backup is listed")
        r, log = self.backup(ct, "--mode", "stop", storage=self.sid)
        vols = self.volids(ct, self.sid)
        self.assertEqual(len(vols), 2, vols)
        self.assertEqual(vols[0], good[0])


class BorgUnderCtdump(ProviderBase, unittest.TestCase):
    TOOL = "borg"
    NEEDS = ("borg",)


class ResticUnderCtdump(ProviderBase, unittest.TestCase):
    TOOL = "restic"
    NEEDS = ("restic", "rclone")


del ProviderBase  # only its subclasses are test cases

if __name__ == "__main__":
    unittest.main()
