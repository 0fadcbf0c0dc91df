"""Backups of real containers through the example provider (protocol v1):
what the worker saw, what it stored, and the job's log and side effects."""
import json
import os
import stat
import tarfile
import unittest

import harness
import json_events

PROBES = "srv/tricky/hello.txt,srv/tricky/uid1000.txt,srv/tricky/hostroot.txt,srv/tricky/unmapped.txt,etc/shadow"


def members(tar_path):
    with tarfile.open(tar_path) as tf:
        return {m.name.encode("utf-8", "surrogateescape"): m for m in tf.getmembers()}


class BackupTest(harness.IntegrationTest):

    def backup_one(self, ct, **extra):
        self.ws.write_storage(dict({"probe-paths": PROBES}, **extra))
        r = self.ws.backup(ct)
        self.assertOk(r)
        self.assertRunning(ct)
        self.assertNoLeftovers()
        return r, self.ws.only_backup(ct)

    def test_unprivileged_worker_sees_container_view(self):
        ct = self.env["CT_UNPRIV"]
        r, bdir = self.backup_one(ct)
        with open(os.path.join(bdir, "worker-view.json")) as f:
            view = json.load(f)
        self.assertEqual((view["uid"], view["gid"]), (0, 0))
        self.assertEqual(view["groups"], [])
        probes = {p["path"]: p for p in view["probes"]}
        self.assertEqual((probes["etc/shadow"]["uid"], probes["etc/shadow"]["gid"]), (0, 42))
        self.assertTrue(probes["etc/shadow"]["readable"])
        self.assertEqual(probes["srv/tricky/uid1000.txt"]["uid"], 1000)
        self.assertTrue(probes["srv/tricky/uid1000.txt"]["readable"])
        self.assertEqual(probes["srv/tricky/hostroot.txt"]["uid"], 65534)
        self.assertFalse(probes["srv/tricky/hostroot.txt"]["readable"], "worker read a host-root file")
        self.assertEqual(probes["srv/tricky/unmapped.txt"]["uid"], 65534)
        # The job's log lines, in vzdump's words.
        for line in ["INFO: Starting Backup of VM %s (lxc)" % ct,
                     "INFO: backup mode: stop",
                     "INFO: stopping virtual guest",
                     "INFO: starting external backup via ",
                     "INFO: using backup mechanism 'directory'",
                     "INFO: restarting vm",
                     "INFO: Finished Backup of VM %s" % ct,
                     "INFO: Backup job finished successfully"]:
            self.assertIn(line, r.stderr)
        self.assertNotIn("privileged container", r.stderr)

    def test_unprivileged_archive_matches_manifest(self):
        ct = self.env["CT_UNPRIV"]
        _, bdir = self.backup_one(ct, **{"probe-paths": ""})
        m = members(os.path.join(bdir, "archive.tar"))
        manifest = harness.read_manifest(self.env["MANIFEST_UNPRIV"])
        self.assertIn(b"./etc/shadow", m)
        self.assertEqual((m[b"./etc/shadow"].uid, m[b"./etc/shadow"].gid), (0, 42))
        self.assertTrue(m[b"./usr/bin/su"].mode & stat.S_ISUID)
        checked = 0
        for raw, want in manifest.items():
            path = harness.unescape(raw)
            name = b"." + path
            if path.startswith((b"/tmp/", b"/var/tmp/")):
                self.assertFalse(name in m, "standard exclude not honored: %r" % path)
                continue
            if want["sha256"] == "unreadable":
                # Unreadable for container root: its data must not be in the archive.
                self.assertFalse(name in m and m[name].isfile() and m[name].size > 0,
                                 "host-root file %r was read" % path)
                continue
            self.assertTrue(name in m, "missing from archive: %r" % path)
            got = m[name]
            self.assertEqual((got.uid, got.gid), (want["uid"], want["gid"]), path)
            if want["type"] != "l":
                self.assertEqual(got.mode & 0o7777, want["mode"], path)
            checked += 1
        self.assertGreater(checked, 10)
        # Standard excludes honored.
        self.assertNotIn(b"./tmp/should-be-excluded", m)
        self.assertNotIn(b"./var/tmp/also-excluded", m)
        with open(os.path.join(bdir, "guest.conf")) as f:
            guest = f.read()
        with open(os.path.join(self.env["LXCPATH"], ct, "config")) as f:
            self.assertEqual(guest, f.read())
        with open(os.path.join(bdir, "backup.log")) as f:
            self.assertIn("Starting Backup of VM %s (lxc)" % ct, f.read())

    def test_privileged_container_runs_as_host_root_with_warning(self):
        ct = self.env["CT_PRIV"]
        r, bdir = self.backup_one(ct)
        self.assertIn("WARN: external backup of privileged container can only be restored as "
                      "unprivileged which might not work in all cases", r.stderr)
        with open(os.path.join(bdir, "worker-view.json")) as f:
            view = json.load(f)
        probes = {p["path"]: p for p in view["probes"]}
        self.assertEqual(view["uid"], 0)
        self.assertTrue(probes["srv/tricky/hostroot.txt"]["readable"])
        m = members(os.path.join(bdir, "archive.tar"))
        self.assertIn(b"./srv/tricky/hostroot.txt", m)

    def test_exclude_path_and_bwlimit_reach_the_provider(self):
        ct = self.env["CT_UNPRIV"]
        self.ws.write_storage({})
        r = self.ws.backup(ct, extra=["--exclude-path", "/srv/tricky/cache/", "--exclude-path",
                                      "hello.txt", "--bwlimit", "100000"])
        self.assertOk(r)
        self.assertIn("INFO: bandwidth limit: 100000 KiB/s", r.stderr)
        m = members(os.path.join(self.ws.only_backup(ct), "archive.tar"))
        self.assertNotIn(b"./srv/tricky/hello.txt", m)
        self.assertIn(b"./srv/tricky/hl1", m)

    def test_stopped_container_stays_stopped(self):
        ct = self.env["CT_PRIV"]
        import subprocess
        subprocess.run(["lxc-stop", "-P", self.env["LXCPATH"], "-n", ct], check=True,
                       stdin=subprocess.DEVNULL)
        r = self.ws.backup(ct)
        self.assertOk(r)
        self.assertIn("INFO: status = stopped", r.stderr)
        self.assertNotIn("stopping virtual guest", r.stderr)
        self.assertEqual(harness.ct_state(ct), "STOPPED")

    def test_both_containers_json_output_list_and_delete(self):
        a, b = self.env["CT_PRIV"], self.env["CT_UNPRIV"]
        r = self.ws.run("--output-format", "json", "backup", a, b, "--storage", "test",
                        "--tmpdir", self.ws.tmp)
        self.assertOk(r)
        events = [json.loads(l) for l in r.stdout.splitlines()]
        end = events[-1]
        self.assertEqual(end["event"], "job-end")
        self.assertTrue(end["ok"])
        self.assertEqual([g["vmid"] for g in end["guests"]], [a, b])
        self.assertTrue(all(g["size"] > 0 for g in end["guests"]))
        self.assertTrue(any(e["event"] == "log" for e in events))
        r = self.ws.run("--output-format", "json", "list", "test")
        self.assertOk(r)
        vols = json_events.result(r.stdout)
        self.assertEqual(sorted(v["vmid"] for v in vols), sorted([a, b]))
        r = self.ws.run("delete", vols[0]["volid"])
        self.assertOk(r)
        r = self.ws.run("--output-format", "json", "list", "test")
        self.assertEqual(len(json_events.result(r.stdout)), 1)


if __name__ == "__main__":
    unittest.main()
