"""Compression of the datastore on the real containers: backups store LZ4
chunks (storage.cfg compression; or none), `ctdump compact` recompresses
them to zstd in place (plain and encrypted stores, beside a running backup,
as a job), and every backup restores to the fixture before and after."""
import os
import shutil
import unittest

import datastore_base
import json_events
from datastore_base import tree_bytes
from test_restore import MAP2

LZ4, ZSTD, ENCRYPTED = 0x08, 0x01, 0x02


class CompactTest(datastore_base.DatastoreBase):

    def flags(self):
        """The blob flags of every chunk file, by path."""
        out = {}
        for path in self.chunk_files():
            with open(path, "rb") as f:
                head = f.read(10)
            self.assertEqual(head[:7], b"CTDBLOB", path)
            out[path] = head[9]
        self.assertTrue(out, "no chunks stored")
        return out

    def compact(self, *extra, ok=True):
        """`ctdump compact ds` with JSON output, every event checked against
        the schema; returns (the process, the result's data)."""
        r = self.ws.run("--output-format", "json", "compact", "ds", *extra, timeout=600)
        if ok:
            self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        events = json_events.events(r.stdout)
        validator = json_events.validator()
        for e in events:
            self.assertEqual(list(validator.iter_errors(e)), [], e)
        self.assertIn("compact", [e.get("phase") for e in events if e["event"] == "progress"])
        return r, json_events.result(r.stdout)

    def restore_and_compare(self, volid, which, *extra, map_host=0):
        name = self.new_name("c")
        self.assertOk(self.restore(volid, name, *extra))
        self.assertSameTree(self.fixture_lines(which), os.path.join(self.ct_dir(name), "rootfs"), map_host)
        shutil.rmtree(self.ct_dir(name))

    def test_backups_store_lz4_and_compact_makes_them_zstd(self):
        ct = self.env["CT_PRIV"]
        _, log = self.backup(ct)
        before = self.flags()
        lz4 = [p for p, f in before.items() if f & LZ4]
        raw = [p for p, f in before.items() if not f & (LZ4 | ZSTD)]  # not worth LZ4
        self.assertGreater(len(lz4), len(before) // 2, "most chunks of a container's tree compress")
        self.assertFalse(any(f & ZSTD for f in before.values()), "a backup wrote zstd chunks")
        size_before = tree_bytes(os.path.join(self.store, "chunks"))
        volid = self.only_volid(ct)

        # A dry run changes nothing.
        _, dry = self.compact("--dry-run")
        self.assertGreater(dry["recompressed"], 0)
        self.assertEqual(self.flags(), before)
        self.assertFalse(os.path.exists(os.path.join(self.store, "compact.json")))

        r, res = self.compact()
        self.assertIn("compacting storage 'ds' to zstd level 3", r.stdout)  # a JSON log event
        self.assertFalse(res["incremental"])
        self.assertEqual(res["read"], len(before))
        self.assertEqual(res["recompressed"] + res["kept"], len(lz4) + len(raw))
        self.assertLess(res["bytes-after"], res["bytes-before"])
        after = self.flags()
        self.assertEqual(sorted(after), sorted(before), "compaction renamed, added or removed chunks")
        self.assertEqual(sum(1 for f in after.values() if f & ZSTD), res["recompressed"])
        self.assertEqual(sum(1 for f in after.values() if not f & ZSTD), res["kept"])
        self.assertLess(tree_bytes(os.path.join(self.store, "chunks")), size_before)
        self.assertOk(self.ws.run("verify", "ds"))
        self.restore_and_compare(volid, "PRIV")

        # An incremental backup adds LZ4 chunks; the next compaction reads
        # what changed since the last one, not the whole store. (The chunks
        # compact rewrote are newer than its mark too: made old here, so
        # that only the backup's count.)
        old = os.stat(os.path.join(self.store, "compact.json")).st_mtime - 3600
        for path in self.chunk_files():
            os.utime(path, (old, old))
        marker = os.path.join(self.env["ROOTFS_PRIV"], "srv/compact-new.txt")
        with open(marker, "w") as f:
            f.write("compact me\n" * 20000)
        self.addCleanup(os.unlink, marker)
        self.backup(ct)
        _, res2 = self.compact()
        self.assertTrue(res2["incremental"])
        self.assertLess(res2["read"], res2["chunks"])
        self.assertGreater(res2["recompressed"], 0)
        # LZ4 or raw chunks are left only where zstd was not smaller (a
        # chunk the backup touched may be counted by both runs).
        left = sum(1 for f in self.flags().values() if not f & ZSTD)
        self.assertLessEqual(left, res["kept"] + res2["kept"])
        self.assertGreaterEqual(left, res2["kept"])
        self.assertOk(self.ws.run("verify", "ds"))
        self.restore_and_compare(max(self.volids(ct)), "PRIV")

    def test_compression_setting_and_level(self):
        ct = self.env["CT_PRIV"]
        self.write_cfg(extra={"compression": "zstd"})
        self.backup(ct)
        flags = self.flags()
        self.assertFalse(any(f & LZ4 for f in flags.values()))
        self.assertTrue(any(f & ZSTD for f in flags.values()))
        zstd_bytes = {}
        for path, f in flags.items():
            if f & ZSTD:
                with open(path, "rb") as fh:
                    zstd_bytes[path] = fh.read()
        _, res = self.compact()
        # Only the chunks level 1 did not compress are tried again.
        self.assertEqual(res["recompressed"] + res["kept"], len(flags) - len(zstd_bytes))
        for path, data in zstd_bytes.items():
            with open(path, "rb") as fh:
                self.assertEqual(fh.read(), data, "zstd chunk %s was rewritten" % path)

        self.write_cfg(extra={"compression": "gzip"})
        r = self.ws.run("backup", ct, "--storage", "ds", "--tmpdir", self.ws.tmp)
        self.assertFailedNaming(r, "storage 'ds'", "unknown compression 'gzip'", "lz4, zstd or none")
        self.write_cfg(extra={"compact-level": "25"})
        r = self.ws.run("compact", "ds")
        self.assertFailedNaming(r, "storage 'ds'", "compact-level '25'", "from 1 to 19")
        r = self.ws.run("compact", "ds", "--level", "0")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--level", r.stderr)

    def test_store_without_compression_gets_it_from_compact(self):
        # `compression none`: the backup runs no codec at all; compact
        # compresses afterwards, and both forms restore to the fixture.
        ct = self.env["CT_PRIV"]
        self.write_cfg(extra={"compression": "none"})
        self.backup(ct)
        before = self.flags()
        self.assertFalse(any(f & (LZ4 | ZSTD) for f in before.values()), "the backup compressed chunks")
        size_before = tree_bytes(os.path.join(self.store, "chunks"))
        volid = self.only_volid(ct)
        self.restore_and_compare(volid, "PRIV")
        _, res = self.compact()
        self.assertEqual(res["read"], len(before))
        self.assertGreater(res["recompressed"], len(before) // 2, "most chunks of a container's tree compress")
        self.assertEqual(res["recompressed"] + res["kept"], len(before))
        after = self.flags()
        self.assertEqual(sorted(after), sorted(before))
        self.assertEqual(sum(1 for f in after.values() if f & ZSTD), res["recompressed"])
        self.assertLess(tree_bytes(os.path.join(self.store, "chunks")), size_before * 0.75)
        self.assertOk(self.ws.run("verify", "ds"))
        self.restore_and_compare(volid, "PRIV")

    def test_encrypted_store_beside_a_running_backup(self):
        ct = self.env["CT_UNPRIV"]
        key = self.make_key("c.key")
        self.write_cfg(key=key)
        self.backup(ct)
        # A slow backup (bandwidth limit) runs while compact rewrites.
        self.wait_next_second(ct, "ds")
        slow = self.ws.start("backup", ct, "--storage", "ds", "--tmpdir", self.ws.tmp, "--bwlimit", "20000",
                             "--force-full")
        try:
            _, res = self.compact("--all")
            self.assertGreater(res["recompressed"], 0)
            out, err = slow.communicate(timeout=600)
        finally:
            if slow.poll() is None:
                slow.kill()
                slow.communicate()
        self.backup_ended(ct, "ds")
        self.assertEqual(slow.returncode, 0, err[-3000:])
        for path, f in self.flags().items():
            self.assertTrue(f & ENCRYPTED, "%s lost its encryption" % path)
        self.assertOk(self.ws.run("verify", "ds"))
        volids = self.volids(ct)
        self.assertEqual(len(volids), 2, volids)
        for v in volids:
            self.restore_and_compare(v, "UNPRIV", *MAP2, map_host=200000)

    def make_key(self, name):
        path = os.path.join(self.ws.dir, name)
        self.assertOk(self.ws.run("key", "create", "--kdf", "none", path))
        return path

    def test_compact_job(self):
        ct = self.env["CT_PRIV"]
        self.backup(ct)
        with open(os.path.join(self.ws.config, "jobs.cfg"), "w") as f:
            f.write("compact: squeeze\n\tstorage ds\n")
        r = self.ws.run("job", "run", "squeeze", timeout=600)
        self.assertOk(r)
        self.assertIn("recompressed", r.stderr)
        self.assertTrue(any(f & ZSTD for f in self.flags().values()))
        self.assertTrue(os.path.exists(os.path.join(self.store, "compact.json")))


if __name__ == "__main__":
    unittest.main()
