"""Notes, protection and retention through the provider's optional methods."""
import json
import os
import time
import unittest

import harness
import json_events


class LifecycleTest(harness.IntegrationTest):

    def listing(self):
        r = self.ws.run("--output-format", "json", "list", "test")
        self.assertOk(r)
        return sorted(json_events.result(r.stdout), key=lambda v: v["ctime"])

    def test_notes_protected_and_prune_after_backup(self):
        ct = self.env["CT_PRIV"]
        r = self.ws.backup(ct, extra=["--notes-template", "{{guestname}} on {{node}} ({{vmid}})",
                                      "--protected", "1"])
        self.assertOk(r)
        first = self.listing()
        self.assertEqual(len(first), 1)
        self.assertTrue(first[0]["protected"])
        self.assertEqual(first[0]["notes"], "%s on %s (%s)" % (ct, os.uname().nodename.split(".")[0], ct))
        for _ in range(3):
            time.sleep(1.1)  # archive names have one-second resolution
            r = self.ws.backup(ct, extra=["--prune-backups", "keep-last=2"])
            self.assertOk(r)
        self.assertIn("INFO: prune older backups with retention: keep-last=2", r.stderr)
        self.assertIn("INFO: pruned 1 backup(s)", r.stderr)
        vols = self.listing()
        # keep-last=2 keeps the two newest; the protected one never counts and stays.
        self.assertEqual(len(vols), 3)
        self.assertTrue(vols[0]["protected"])
        # A protected backup cannot be deleted.
        r = self.ws.run("delete", vols[0]["volid"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("is protected", r.stderr)

    def test_prune_command_and_dry_run(self):
        ct = self.env["CT_PRIV"]
        for i in range(3):
            if i:
                time.sleep(1.1)
            self.assertOk(self.ws.backup(ct))
        r = self.ws.run("prune", "test", ct, "--prune-backups", "keep-last=1", "--dry-run")
        self.assertOk(r)
        self.assertIn("would prune 2 backup(s)", r.stderr)
        self.assertEqual(len(self.listing()), 3)
        r = self.ws.run("prune", "test", ct, "--prune-backups", "keep-last=1")
        self.assertOk(r)
        self.assertEqual(len(self.listing()), 1)
        r = self.ws.run("prune", "test", ct, "--prune-backups", "keep-lots=1")
        self.assertEqual(r.returncode, 2)  # a usage error (README: exit codes)
        self.assertIn("keep-lots", r.stderr)

    def test_storage_retention_and_protected_limit(self):
        ct = self.env["CT_PRIV"]
        self.ws.write_storage({"prune-backups": "keep-last=1", "max-protected-backups": "1"})
        self.assertOk(self.ws.backup(ct, extra=["--protected", "1"]))
        time.sleep(1.1)
        r = self.ws.backup(ct, extra=["--protected", "1"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("The number of protected backups per guest is limited to 1 on storage 'test'", r.stderr)
        self.assertRunning(ct)
        time.sleep(1.1)
        self.assertOk(self.ws.backup(ct))
        time.sleep(1.1)
        r = self.ws.backup(ct)
        self.assertOk(r)
        self.assertIn("pruned 1 backup(s)", r.stderr)
        vols = self.listing()
        self.assertEqual([v["protected"] for v in vols], [True, False])


if __name__ == "__main__":
    unittest.main()
