"""A backup's attributes after the fact (`ctdump protect <volid> 0|1`,
`ctdump notes <volid> [--set TEXT]`, PVE's `pvesh set .../content/<volid>
--protected --notes`) on every storage type that has them: the built-in dir
and datastore storages and the example external provider (update_attribute).
A protected backup is neither deleted nor pruned; max-protected-backups
limits how many a guest may have; a provider without update_attribute is
named in a clear error."""
import json
import os
import time
import unittest

import harness
import json_events

# The example provider without the optional update_attribute: what a
# minimal third-party provider looks like to ctdump.
NO_ATTRIBUTES = """#!/usr/bin/python3
import importlib.util, sys
spec = importlib.util.spec_from_file_location("dir_example", %r)
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
m.FEATURES = ["list_backups", "delete_backup"]
sys.exit(m.main())
"""


class AttributesTest(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        self.dir_path = os.path.join(self.ws.dir, "dir")
        self.ds_path = os.path.join(self.ws.dir, "ds")
        os.makedirs(os.path.join(self.dir_path, "dump"))
        os.makedirs(self.ds_path)
        minimal = os.path.join(self.ws.dir, "minimal-provider")
        with open(minimal, "w") as f:
            f.write(NO_ATTRIBUTES % harness.EXAMPLE)
        os.chmod(minimal, 0o755)
        cfg = ["dir: local", "\tpath %s" % self.dir_path, "\tmax-protected-backups 1", "",
               "datastore: ds", "\tpath %s" % self.ds_path, "\tmax-protected-backups 1", "",
               "provider: ext", "\tcommand %s" % harness.EXAMPLE, "\tpath %s" % self.ws.target,
               "\tmax-protected-backups 1", "",
               "provider: minimal", "\tcommand %s" % minimal, "\tpath %s" % self.ws.target, ""]
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("\n".join(cfg))

    def backup(self, ct, storage):
        r = self.ws.run("backup", ct, "--storage", storage, "--tmpdir", self.ws.tmp)
        self.assertOk(r)

    def entries(self, storage, ct):
        r = self.ws.run("--output-format", "json", "list", storage, "--vmid", ct)
        self.assertOk(r)
        return json_events.result(r.stdout)

    def two_backups(self, storage):
        """Two backups of the unprivileged container on `storage` (names have
        one-second resolution)."""
        ct = self.env["CT_UNPRIV"]
        self.backup(ct, storage)
        time.sleep(1.1)
        self.backup(ct, storage)
        volids = [e["volid"] for e in self.entries(storage, ct)]
        self.assertEqual(len(volids), 2, volids)
        return ct, volids

    def assertFails(self, r, code, *needles):
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        for n in needles:
            self.assertIn(n, r.stderr)

    def check_storage(self, storage, on_disk, external=False):
        """protect/notes/delete on `storage`; on_disk(volid) -> (protected, notes)
        as the storage's own files say."""
        ct, (first, second) = self.two_backups(storage)
        # Protect: JSON result, the storage's flag, `list`.
        r = self.ws.run("--output-format", "json", "protect", first, "1")
        self.assertOk(r)
        self.assertEqual(json_events.result(r.stdout), {"volid": first, "protected": True})
        self.assertEqual(on_disk(first)[0], True)
        self.assertEqual([e["protected"] for e in self.entries(storage, ct)], [True, False])
        # Again: nothing changes, the limit counts it once.
        self.assertOk(self.ws.run("protect", first, "1"))
        # max-protected-backups 1: a second protected backup of the guest is refused.
        r = self.ws.run("protect", second, "1")
        self.assertFails(r, 1, "The number of protected backups per guest is limited to 1 on "
                         "storage '%s'" % storage)
        self.assertEqual(on_disk(second)[0], False)
        # A protected backup is neither deleted nor pruned.
        self.assertFails(self.ws.run("delete", first), 1, "protected")
        self.assertOk(self.ws.run("prune", storage, ct, "--prune-backups", "keep-last=1"))
        self.assertEqual([e["volid"] for e in self.entries(storage, ct)], [first, second])
        # Notes: set, shown, replaced, removed with ''.
        r = self.ws.run("notes", first, "--set", "before the upgrade")
        self.assertOk(r)
        self.assertEqual(on_disk(first)[1], "before the upgrade")
        r = self.ws.run("notes", first)
        self.assertOk(r)
        self.assertEqual(r.stdout, "before the upgrade\n")
        r = self.ws.run("--output-format", "json", "notes", first)
        self.assertEqual(json_events.result(r.stdout), {"volid": first, "notes": "before the upgrade"})
        self.assertEqual(self.entries(storage, ct)[0]["notes"], "before the upgrade")
        # Several lines: the built-in stores' `list` shows the first (as
        # PVE's listing), `notes` all of them; through an external provider
        # `notes` shows what its list_backups reports (all the protocol has).
        self.assertOk(self.ws.run("notes", first, "--set", "line one\nline two"))
        listed = self.entries(storage, ct)[0]["notes"]
        if not external:
            self.assertEqual(listed, "line one")
        r = self.ws.run("notes", first)
        self.assertOk(r)
        want = listed if external else "line one\nline two"
        self.assertEqual(r.stdout, want + "\n")
        r = self.ws.run("--output-format", "json", "notes", first)
        self.assertEqual(json_events.result(r.stdout)["notes"], want)
        r = self.ws.run("--output-format", "json", "notes", first, "--set", "")
        self.assertOk(r)
        self.assertEqual(json_events.result(r.stdout), {"volid": first, "notes": None})
        self.assertEqual(on_disk(first)[1], None)
        r = self.ws.run("notes", first)
        self.assertOk(r)
        self.assertEqual(r.stdout, "")
        # Unprotected, it is deleted.
        r = self.ws.run("--output-format", "json", "protect", first, "0")
        self.assertEqual(json_events.result(r.stdout), {"volid": first, "protected": False})
        self.assertEqual(on_disk(first)[0], False)
        self.assertOk(self.ws.run("delete", first))
        self.assertEqual([e["volid"] for e in self.entries(storage, ct)], [second])
        # Bad input: a value not 0|1 is a usage error; an unknown volume names it.
        self.assertFails(self.ws.run("protect", second, "yes"), 2, "protect: 'yes' is not 0 or 1")
        self.assertFails(self.ws.run("protect", second), 2)
        self.assertFails(self.ws.run("protect", first, "1"), 1, "does not exist")
        self.assertFails(self.ws.run("notes", first, "--set", "x"), 1, "does not exist")
        self.assertFails(self.ws.run("notes", "no-colon"), 2, "is not of the form <storage>:<volname>")
        self.assertEqual(on_disk(second), (False, None))

    def test_dir_storage(self):
        def on_disk(volid):
            path = os.path.join(self.dir_path, "dump", volid.split(":", 1)[1])
            notes = None
            if os.path.exists(path + ".notes"):
                with open(path + ".notes") as f:
                    notes = f.read()
            return os.path.exists(path + ".protected"), notes
        self.check_storage("local", on_disk)

    def test_datastore(self):
        def on_disk(volid):
            # ct/<vmid>/<time>: the protected marker is a plain file; the notes
            # a blob, read back through `list` (which shows the first line).
            snap = os.path.join(self.ds_path, "snapshots", volid.split(":", 1)[1])
            self.assertTrue(os.path.isdir(snap), snap)
            notes = None
            if os.path.exists(os.path.join(snap, "notes")):
                [e] = [e for e in self.entries("ds", self.env["CT_UNPRIV"]) if e["volid"] == volid]
                notes = e["notes"]
            return os.path.exists(os.path.join(snap, "protected")), notes
        self.check_storage("ds", on_disk)

    def test_external_provider(self):
        def on_disk(volid):
            name = volid.split(":", 1)[1]
            bdir = os.path.join(self.ws.target, name[len("backup/"):] if name.startswith("backup/") else name)
            self.assertTrue(os.path.isdir(bdir), bdir)
            notes = None
            if os.path.exists(os.path.join(bdir, "notes")):
                with open(os.path.join(bdir, "notes")) as f:
                    notes = f.read()
            return os.path.exists(os.path.join(bdir, "protected")), notes
        self.check_storage("ext", on_disk, external=True)

    def test_provider_without_update_attribute(self):
        ct = self.env["CT_UNPRIV"]
        self.backup(ct, "minimal")
        [entry] = self.entries("minimal", ct)
        want = ("storage 'minimal' (type 'provider') does not support notes or protection: its "
                "provider does not implement update_attribute")
        for args in (["protect", entry["volid"], "1"], ["notes", entry["volid"], "--set", "x"],
                     ["notes", entry["volid"]]):
            self.assertFails(self.ws.run(*args), 1, want)
        self.assertEqual(self.entries("minimal", ct)[0]["protected"], False)

    def test_unknown_storage_names_the_file(self):
        r = self.ws.run("protect", "nope:x", "1")
        self.assertFails(r, 1, "storage 'nope' does not exist in %s/storage.cfg (it has: local, ds, "
                         "ext, minimal)" % self.ws.config)


if __name__ == "__main__":
    unittest.main()
