"""The JSON event stream (docs/json-events.md) of real commands on the real
containers: every line of every command is checked against
docs/json-events.schema.json (Debian's python3-jsonschema, hence run under
/usr/bin/python3), and the stream's structure as the document states it:
job-start ... guest-start ... guest-end ... job-end for a backup, a result or
error event as the last line of every other command, log and progress
events inside a container's bracket carrying its name, usage errors as error
events with exit code 2."""
import os
import shutil
import subprocess
import time

import harness
import json_events


class JsonEventsTest(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        self.validator = json_events.validator()
        self.store = os.path.join(self.ws.dir, "ds")
        self.dumps = os.path.join(self.ws.dir, "dumps")
        os.makedirs(self.store)
        os.makedirs(self.dumps)
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("datastore: ds\n\tpath %s\n\ndir: local\n\tpath %s\n" % (self.store, self.dumps))
        self.ct = self.env["CT_UNPRIV"]
        self.created = []
        self.commands = set()

    def tearDown(self):
        for name in self.created:
            subprocess.run(["lxc-stop", "-P", self.env["LXCPATH"], "-n", name, "-k"],
                           capture_output=True, stdin=subprocess.DEVNULL)
            subprocess.run(["lxc-destroy", "-P", self.env["LXCPATH"], "-n", name],
                           capture_output=True, stdin=subprocess.DEVNULL)
            shutil.rmtree(os.path.join(self.env["LXCPATH"], name), ignore_errors=True)
        super().tearDown()

    def json_run(self, *args, rc=0, timeout=600):
        """Runs `ctdump --output-format json <args>`; checks the exit code,
        that stdout is nothing but events, each valid against the schema, and
        that the last one carries the exit code. Returns the events."""
        r = self.ws.run("--output-format", "json", *args, timeout=timeout)
        what = "%r: exit %d\nstdout:\n%s\nstderr:\n%s" % (args, r.returncode, r.stdout[-4000:],
                                                         r.stderr[-3000:])
        self.assertEqual(r.returncode, rc, what)
        evs = json_events.events(r.stdout)
        self.assertTrue(evs, what)
        for e in evs:
            errors = sorted(self.validator.iter_errors(e), key=lambda x: list(x.path))
            self.assertEqual([], ["%s at %s" % (x.message, list(x.path)) for x in errors],
                             "event %r of %r" % (e, args))
        self.assertEqual(evs[-1]["exit"], rc, what)
        self.assertIn(evs[-1]["event"], ("result", "error", "job-end"), what)
        self.assertEqual([e for e in evs[:-1] if e["event"] in ("result", "job-end")], [], what)
        if evs[-1]["event"] == "result":
            self.commands.add(evs[-1]["command"])
        return evs

    def result(self, *args, rc=0, ok=True, command=None):
        evs = self.json_run(*args, rc=rc)
        end = evs[-1]
        self.assertEqual((end["event"], end["ok"]), ("result", ok), end)
        self.assertEqual(end["command"], command or args[0])
        return end["data"]

    def assertBackupStream(self, evs, vmids, ok):
        """job-start first, one guest bracket per container in order, every
        event inside a bracket tagged with its container, job-end last."""
        self.assertEqual(evs[0]["event"], "job-start", evs[0])
        self.assertEqual(evs[0]["vmids"], vmids)
        self.assertEqual(evs[0]["command"], "backup")
        inside, seen, progress = None, [], 0
        for e in evs[1:-1]:
            if e["event"] == "guest-start":
                self.assertIsNone(inside, e)
                inside = e["vmid"]
                seen.append(inside)
            elif e["event"] == "guest-end":
                self.assertEqual(e["vmid"], inside, e)
                inside = None
            elif e["event"] in ("log", "progress"):
                self.assertEqual(e.get("vmid"), inside, e)
                if e["event"] == "progress":
                    progress += 1
                    self.assertIsNotNone(e["vmid"])
            else:
                self.fail("unexpected event inside a backup: %r" % e)
        self.assertIsNone(inside)
        self.assertEqual(seen, vmids)
        end = evs[-1]
        self.assertEqual((end["event"], end["ok"], end["exit"]), ("job-end", ok, 0 if ok else 1))
        ends = [e for e in evs if e["event"] == "guest-end"]
        self.assertEqual([{k: v for k, v in e.items() if k not in ("v", "event", "time")} for e in ends],
                         end["guests"])
        return progress

    def test_every_command_on_real_backups(self):
        # A suspend-mode backup of a real container and one of a container
        # that does not exist: the job fails, the stream is still complete.
        evs = self.json_run("backup", self.ct, "no-such-ct", "--storage", "ds", "--mode", "suspend",
                            "--tmpdir", self.ws.tmp, rc=1)
        progress = self.assertBackupStream(evs, [self.ct, "no-such-ct"], ok=False)
        self.assertGreater(progress, 0, "no progress events")
        good, bad = evs[-1]["guests"]
        self.assertTrue(good["ok"])
        self.assertFalse(bad["ok"])
        self.assertIn("no-such-ct", bad["error"])
        phases = {e["phase"] for e in evs if e["event"] == "progress"}
        # suspend mode into a datastore: a first pass over the running
        # container, a second one over the frozen container, no copy
        self.assertLessEqual({"backup", "backup-final"}, phases)
        self.assertFalse(phases & {"rsync-first", "rsync-final", "remove-copy"}, phases)
        time.sleep(1.1)  # volume names have one-second resolution
        # snapshot mode (falls back to suspend off btrfs) into the dir storage
        evs = self.json_run("backup", self.ct, "--storage", "local", "--mode", "snapshot",
                            "--tmpdir", self.ws.tmp)
        self.assertBackupStream(evs, [self.ct], ok=True)
        evs = self.json_run("backup", self.ct, "--storage", "ds", "--mode", "snapshot",
                            "--tmpdir", self.ws.tmp)
        self.assertBackupStream(evs, [self.ct], ok=True)

        listed = self.result("list", "ds")
        self.assertEqual(len(listed), 2, listed)
        self.assertTrue(all(b["vmid"] == self.ct and b["volid"].startswith("ds:") for b in listed))
        sized = self.result("list", "ds", "--sizes")
        self.assertTrue(all(b["unique-size"] is not None for b in sized), sized)
        [dumped] = self.result("list", "local")
        newest = max(listed, key=lambda b: b["ctime"])["volid"]

        df = self.result("df", "ds")
        self.assertEqual((df["type"], df["backups"]), ("datastore", 2))
        self.assertGreater(df["dedup-factor"], 1.0)
        self.assertEqual(self.result("df", "local")["backups"], 1)

        v = self.result("verify", "ds")
        self.assertEqual((v["backups"], v["damaged"], v["problems"]), (2, [], []))
        v = self.result("verify", "local")
        self.assertEqual((v["backups"], v["damaged"]), (1, []))
        gc = self.result("gc", "ds", "--dry-run")
        self.assertTrue(gc["dry-run"])
        pr = self.result("prune", "ds", self.ct, "--prune-backups", "keep-last=1", "--dry-run")
        self.assertEqual((pr["pruned"], pr["dry-run"]), (1, True))

        # The container's tricky file is unreadable: its last job had a
        # warning, the check says WARNING (exit 1, ok false).
        status = self.result("status", self.ct, "--storage", "ds", rc=1, ok=False)
        self.assertEqual(status["state"], "WARNING")
        self.assertEqual([c["vmid"] for c in status["containers"]], [self.ct])
        entries = self.result("catalog", newest, "/etc/hostname")
        self.assertEqual([e["path"] for e in entries], ["/etc/hostname"])
        self.assertEqual(self.result("protect", newest, "1"), {"volid": newest, "protected": True})
        self.assertEqual(self.result("notes", newest, "--set", "n"), {"volid": newest, "notes": "n"})

        # A restore: the new container's bracket, its progress tagged, the result.
        name = self.ct.replace("-unpriv", "-rj")
        self.created.append(name)
        evs = self.json_run("restore", newest, name)
        self.assertEqual(evs[0]["event"], "guest-start")
        self.assertEqual(evs[0]["vmid"], name)
        self.assertEqual(evs[-2]["event"], "guest-end")
        self.assertTrue(evs[-2]["ok"])
        self.assertTrue(all(e.get("vmid") == name for e in evs[:-1] if e["event"] in ("log", "progress")))
        self.assertEqual(evs[-1]["data"]["vmid"], name)
        self.commands.add("restore")

        d = self.result("delete", dumped["volid"])
        self.assertGreater(d["freed-bytes"], 0)
        gc = self.result("gc", "ds")
        self.assertFalse(gc["dry-run"])
        self.assertLessEqual({"list", "df", "verify", "gc", "prune", "status", "restore", "catalog",
                              "delete"}, self.commands)

        # A failing command: an error event with exit 1.
        evs = self.json_run("list", "nosuch", rc=1)
        self.assertEqual((evs[-1]["event"], evs[-1]["command"]), ("error", "list"))
        self.assertIn("storage 'nosuch' does not exist", evs[-1]["message"])
        # verify of a damaged datastore: a result, ok false, exit 1.
        chunks = os.path.join(self.store, "chunks")
        victim = None
        for root, _, files in os.walk(chunks):
            for f in files:
                if not f.endswith(".bad"):
                    victim = os.path.join(root, f)
                    break
            if victim:
                break
        with open(victim, "r+b") as f:
            f.seek(20)
            byte = f.read(1)
            f.seek(20)
            f.write(bytes([byte[0] ^ 0xFF]))
        v = self.result("verify", "ds", rc=1, ok=False)
        self.assertTrue(v["problems"], v)

    def test_usage_errors_are_error_events(self):
        bk = ["backup", self.ct, "--storage", "ds", "--tmpdir", self.ws.tmp]
        cases = [
            ([], "subcommand"),
            (["frobnicate"], "frobnicate"),
            (["backup", "--bogus"], "--bogus"),
            (bk + ["--mode", "fast"], "fast"),
            (bk + ["--prune-backups", "keep-lots=3"], "keep-lots"),
            (bk + ["--bwlimit", "abc"], "--bwlimit"),
            (bk + ["--mailto", ","], "names nobody"),
            (bk + ["--exclude", "x"], "--exclude: give it with --all"),
            (["backup", self.ct], "no storage given"),
            (["prune", "ds"], "vmid"),
            (["prune", "ds", self.ct, "--prune-backups", "keep-lots=1"], "keep-lots"),
            (["delete", "novolume"], "is not of the form <storage>:<volname>"),
            (["restore", "novolume", "newct"], "is not of the form"),
            (["restore", "ds:x", "newct", "--idmap", "u 0 100000"], "--idmap"),
            (["restore", "ds:x", "newct", "--rootfs-storage", "zfs:/tank"], "only 'btrfs:<path>'"),
            (["restore", "ds:x", "newct", "--rootfs-storage", "btrfs:rel"], "must be absolute"),
            (["restore", "ds:x", "newct", "--rootfs", "rel/dir"], "must be an absolute path"),
            (["restore", "ds:x", "newct", "--rootfs", "//"], "other than /"),
            (["catalog", "novolume"], "is not of the form"),
            (["catalog", "ds:x", "../etc"], ".."),
            (["mount", "ds:", "/mnt"], "is not of the form"),
            (["restore-file", ":vol", "/etc", "--target", "/tmp/x"], "is not of the form"),
            (["restore-file", "ds:x", "/etc", "--target", "relative"], "must be an absolute path"),
            (["protect", "ds:x", "2"], "not 0 or 1"),
            (["protect", "novolume", "1"], "is not of the form"),
            (["restore-test", "novolume"], "is not of the form"),
            (["datastore", "create", "relative"], "must be an absolute path"),
            (["datastore"], "subcommand"),
            (["job", "show"], "id"),
            (["status", "--forget", "x", "--storage", "ds"], "--forget checks nothing"),
            (["notify", "send", "--title", "t", "--severity", "loud"], "invalid severity"),
            (["notify", "send", "--title", "t", "--field", "novalue"], "--field 'novalue'"),
            (["verify", "ds", "--outdated-after", "3"], "--ignore-verified"),
            (["gc"], "storage"),
        ]
        wrong = []
        for args, message in cases:
            evs = self.json_run(*args, rc=2, timeout=120)
            end = evs[-1]
            if end["event"] != "error" or message not in end["message"]:
                wrong.append("%r: %r (want an error event naming %r)" % (args, end, message))
        self.assertEqual(wrong, [], "\n".join(wrong))

        # --output-format json after the subcommand counts too.
        r = self.ws.run("list", "--bogus", "--output-format", "json")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(json_events.last(r.stdout)["event"], "error")

        # A bad ctdump.conf is a usage error naming file and line.
        conf = os.path.join(self.ws.config, "ctdump.conf")
        with open(conf, "w") as f:
            f.write("mode: stop\nbwlimit: fast\n")
        evs = self.json_run(*bk, rc=2)
        self.assertEqual(evs[-1]["event"], "error")
        self.assertIn("%s:2: bwlimit" % conf, evs[-1]["message"])
        self.assertNotIn("job-start", [e["event"] for e in evs])

        # status: its own option errors are Nagios' UNKNOWN (3), as a result.
        data = self.result("status", "--max-age", "soon", rc=3, ok=False)
        self.assertEqual((data["state"], data["exit"]), ("UNKNOWN", 3))


if __name__ == "__main__":
    import unittest
    unittest.main()
