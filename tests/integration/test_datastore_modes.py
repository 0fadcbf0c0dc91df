"""The consistent-view modes into a datastore on real running containers.

Suspend mode without a copy (docs/design/suspend-live-pass.md): a first pass
over the running container, then, frozen, a second pass that takes unchanged
files from the first. Under a writer: one instant, no copy in --tmpdir, the
second pass reads only what changed, warnings only from the frozen pass, a gc
between the passes removes nothing the backup needs, and the restore equals
the fixture.

Snapshot mode's reflink copy on xfs (new inodes and ctimes): incremental
backups still read only what changed."""
import os
import re
import time
import unittest

import datastore_base
import harness
from datastore_base import FILES_RE, parse_size
from test_modes import attach, start_writer, stop_writer
from test_restore import MAP2, manifest

SECOND_RE = re.compile(r"(\d+) entries, %s in files: read %s, %s of (\d+) unchanged files taken from the "
                       r"first pass" % ((datastore_base.SIZE,) * 3))


class DatastoreModesTest(datastore_base.DatastoreBase):

    def start_writer(self, ct):
        start_writer(ct)
        self.addCleanup(stop_writer, ct)

    def counter_of(self, volid):
        out = os.path.join(self.ws.dir, "counter-%d" % time.monotonic_ns())
        self.assertOk(self.ws.run("restore-file", volid, "/srv/counter", "/srv/counter.log", "--target", out))
        with open(os.path.join(out, "srv/counter")) as f:
            counter = int(f.read())
        with open(os.path.join(out, "srv/counter.log")) as f:
            last = int(f.read().split()[-1])
        self.assertIn(counter - last, (0, 1), "counter %d and its log (last %d) disagree: not one instant"
                      % (counter, last))
        return counter

    def test_two_passes_are_one_instant_without_a_copy(self):
        ct = self.env["CT_UNPRIV"]
        self.start_writer(ct)
        for run in (1, 2):
            with self.subTest(run=run):
                time.sleep(1.1)
                r, log = self.backup(ct, "--mode", "suspend")
                self.assertIn("INFO: backup mode: suspend", r.stderr)
                self.assertIn("first pass (container running): ", log)
                self.assertIn("second pass (container frozen): files unchanged since the first pass are "
                              "taken from it", log)
                self.assertRegex(log, r"INFO: guest was frozen for \d+ ms")
                self.assertNotIn("starting first sync", log)  # no copy
                # Warnings come from the frozen pass only (the first pass's are information).
                warns = [l for l in log.splitlines() if "WARN:" in l]
                self.assertEqual(len(warns), len(set(warns)), "\n".join(warns))
                first = FILES_RE.search(log)
                second = SECOND_RE.search(log)
                self.assertIsNotNone(second, log[-3000:])
                # The frozen pass reads what the writer changed, not the tree.
                self.assertGreater(int(second.group(5)), 1000, log[-3000:])
                self.assertLess(parse_size(second.group(3)), max(parse_size(first.group(3)) // 20, 1 << 20),
                                log[-3000:])
                if run == 2:
                    # The first pass of the next backup is incremental too.
                    self.assertIn("first pass (container running): incremental backup", log)
                    self.assertLess(parse_size(first.group(3)), 64 << 20, log[-3000:])
                volid = self.volids(ct)[-1]
                n = self.counter_of(volid)
                time.sleep(0.3)
                self.assertGreater(int(attach(ct, "cat", "/srv/counter").stdout), n, "writer stopped")
        self.assertEqual(harness.ct_state(ct), "RUNNING")
        self.assertEqual(os.listdir(self.ws.tmp), [])
        self.assertOk(self.ws.run("verify", "ds"))
        # Nothing of a first pass is a backup of its own.
        self.assertEqual(len(self.volids(ct)), 2)

    def test_restore_equals_the_fixture(self):
        ct = self.env["CT_UNPRIV"]
        r, log = self.backup(ct, "--mode", "suspend")
        self.assertIn("second pass (container frozen)", log)
        name = self.new_name("l")
        r = self.restore(self.only_volid(ct), name, *MAP2)
        self.assertOk(r)
        self.assertSameTree(self.fixture_lines("UNPRIV"), os.path.join(self.ct_dir(name), "rootfs"), 200000)

    def test_gc_between_the_passes_keeps_what_the_backup_needs(self):
        """A gc that runs while the container is frozen (after the first pass
        stored its chunks, before the second published) deletes none of them:
        the backup lock, taken for the first pass, covers both."""
        ct = self.env["CT_UNPRIV"]
        hook = os.path.join(self.ws.dir, "gc-hook.sh")
        ctdump = " ".join("'%s'" % a for a in self.ws.cmd("gc", "ds"))
        with open(hook, "w") as f:
            # gc keeps chunks written in the second before it starts: wait
            # until the first pass's are older than that.
            f.write("#!/bin/sh\n[ \"$1\" = pre-stop ] && { sleep 2; %s > %s/gc.out 2>&1 || exit 1; }\nexit 0\n"
                    % (ctdump, self.ws.dir))
        os.chmod(hook, 0o755)
        r, log = self.backup(ct, "--mode", "suspend", "--script", hook)
        with open(os.path.join(self.ws.dir, "gc.out")) as f:
            gc_out = f.read()
        self.assertIn("second pass (container frozen)", log)
        self.assertOk(self.ws.run("verify", "ds"))
        name = self.new_name("g")
        self.assertOk(self.restore(self.only_volid(ct), name, *MAP2))
        self.assertSameTree(self.fixture_lines("UNPRIV"), os.path.join(self.ct_dir(name), "rootfs"), 200000)
        self.assertTrue(gc_out.strip(), "the gc in the hook printed nothing")

    def test_incremental_on_a_copied_tree(self):
        """snapshot mode on xfs (a reflink copy: new inodes and ctimes) still
        reads only what changed: unchanged files are recognized by size,
        mtime, owner, mode, xattrs, ACLs and sparse map. (Suspend mode into a
        datastore reads the container's own tree: the tests above.)"""
        name = self.env["CT_PRIV"].replace("-priv", "-dsxfs")
        with harness.running_copy_on_xfs(self.ws.dir, self.env["CT_PRIV"], name):
            _, log1 = self.backup(name, "--mode", "snapshot")
            self.assertIn("INFO: backup mode: snapshot", log1)  # a reflink copy, no fallback
            s1 = self.stats(log1)
            _, log2 = self.backup(name, "--mode", "snapshot")
            s2 = self.stats(log2)
            self.assertIn("incremental backup", log2)
            self.assertGreater(s2["reused_files"], 1000, log2)
            self.assertLess(s2["read"], s1["read"] / 20, log2)
            self.assertOk(self.ws.run("verify", "ds"))
            # The second backup restores to the same tree as the first.
            v1, v2 = self.volids(name)
            a, b = os.path.join(self.ws.dir, "f1"), os.path.join(self.ws.dir, "f2")
            self.assertOk(self.ws.run("restore-file", v1, "/etc", "/srv", "--target", a))
            self.assertOk(self.ws.run("restore-file", v2, "/etc", "/srv", "--target", b))
            self.assertEqual(manifest(a, 0), manifest(b, 0))

if __name__ == "__main__":
    unittest.main()
