"""Space accounting on the real containers (issue 12, item 2): `list --sizes`
(logical, unique and stored size per backup), `df` (total, referenced,
reclaimable by gc, dedup factor, per container) and what `delete` and
`prune` say a gc would free, checked against what gc then frees; `df` and
`delete` of a dir storage."""
import json
import os
import re
import time

import harness
import json_events

UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
SIZE = r"([\d.]+ (?:B|KiB|MiB|GiB|TiB))"
UNREFERENCED_RE = re.compile(SIZE + r" no longer referenced by any backup; run 'ctdump gc ds' to free it")
GC_RE = re.compile(r"removed (\d+) unreferenced chunks \(" + SIZE + r"\)")


def parse_size(text):
    num, unit = text.split()
    return float(num) * UNITS[unit]


def close(a, b):
    """Equal up to HumanBytes' rounding (one decimal)."""
    return abs(a - b) <= max(0.06 * max(a, b), 2048)


class SpaceTest(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        self.store = os.path.join(self.ws.dir, "ds")
        self.dumps = os.path.join(self.ws.dir, "dumps")
        os.makedirs(self.store)
        os.makedirs(self.dumps)
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("datastore: ds\n\tpath %s\n\ndir: local\n\tpath %s\n" % (self.store, self.dumps))
        self.ct = self.env["CT_UNPRIV"]
        self.extra = os.path.join(self.env["ROOTFS_UNPRIV"], "root", "space-test.bin")
        self.last = 0

    def tearDown(self):
        if os.path.exists(self.extra):
            os.unlink(self.extra)
        super().tearDown()

    def backup(self, storage="ds"):
        while int(time.time()) <= self.last:  # volume names have one-second resolution
            time.sleep(0.05)
        r = self.ws.run("backup", self.ct, "--storage", storage, "--tmpdir", self.ws.tmp)
        self.assertOk(r)
        self.last = int(time.time())

    def json_of(self, *args):
        r = self.ws.run("--output-format", "json", *args)
        self.assertOk(r)
        return json_events.result(r.stdout)

    def timed_json(self, *args):
        start = time.monotonic()
        out = self.json_of(*args)
        return out, time.monotonic() - start

    def test_datastore_sizes_df_delete_prune_gc(self):
        self.backup()
        (first,), t_list = self.timed_json("list", "ds", "--sizes")
        self.assertGreater(first["size"], 0)
        self.assertGreater(first["stored-size"], 0)
        # Alone in the store: all of it is its own; compressed, it is smaller.
        self.assertEqual(first["unique-size"], first["stored-size"])
        self.assertLess(first["stored-size"], first["size"])
        df1, t_df = self.timed_json("df", "ds")
        self.assertEqual(df1["type"], "datastore")
        self.assertEqual(df1["referenced"], first["stored-size"])
        self.assertLessEqual(df1["referenced"], df1["chunk-bytes"])
        self.assertLess(df1["chunk-bytes"], df1["total"])
        self.assertEqual(df1["metadata-bytes"], df1["total"] - df1["chunk-bytes"])
        self.assertEqual(df1["reclaimable"], 0)
        self.assertEqual(df1["logical"], first["size"])
        self.assertAlmostEqual(df1["dedup-factor"], first["size"] / first["stored-size"], places=6)
        self.assertEqual(df1["containers"], [{"vmid": self.ct, "backups": 1, "size": first["size"],
                                               "unique-size": df1["referenced"],
                                               "stored-size": df1["referenced"]}])
        # Without --sizes no index is read: the fields are there, null.
        (plain,) = self.json_of("list", "ds")
        self.assertIsNone(plain["unique-size"])
        self.assertIsNone(plain["stored-size"])

        # New data (incompressible, 3 MiB) in the second backup; the rest is shared.
        with open(self.extra, "wb") as f:
            f.write(os.urandom(3 << 20))
        os.chown(self.extra, os.stat(self.env["ROOTFS_UNPRIV"]).st_uid, os.stat(self.env["ROOTFS_UNPRIV"]).st_gid)
        self.backup()
        listed = self.json_of("list", "ds", "--sizes")
        self.assertEqual(len(listed), 2)
        a, b = listed
        self.assertEqual(a["volid"], first["volid"])
        self.assertEqual(a["stored-size"], first["stored-size"])
        self.assertLess(a["unique-size"], first["unique-size"])  # the second shares most of it
        self.assertGreaterEqual(b["unique-size"], 3 << 20)
        df2 = self.json_of("df", "ds")
        self.assertLessEqual(df2["referenced"], df2["total"])
        self.assertLess(df2["referenced"], a["stored-size"] + b["stored-size"])  # dedup
        self.assertGreaterEqual(df2["referenced"], a["unique-size"] + b["unique-size"])
        self.assertEqual(df2["logical"], a["size"] + b["size"])
        self.assertGreater(df2["dedup-factor"], df1["dedup-factor"])
        (row,) = df2["containers"]
        self.assertEqual((row["backups"], row["unique-size"], row["stored-size"]),
                         (2, df2["referenced"], df2["referenced"]))
        # The text forms.
        r = self.ws.run("list", "ds", "--sizes")
        self.assertOk(r)
        self.assertRegex(r.stdout.splitlines()[0], r"VOLID\s+VMID\s+SIZE\s+UNIQUE\s+STORED")
        r = self.ws.run("df", "ds")
        self.assertOk(r)
        print("\n" + r.stdout)
        self.assertIn("deduplication factor", r.stdout)
        self.assertIn("reclaimable by gc now", r.stdout)

        # Deleting the first says what a gc would free: its unique chunks.
        r = self.ws.run("delete", "ds:" + a["volid"].split(":", 1)[1])
        self.assertOk(r)
        m = UNREFERENCED_RE.search(r.stderr)
        self.assertIsNotNone(m, r.stderr)
        said = parse_size(m.group(1))
        self.assertTrue(close(said, a["unique-size"]), (said, a["unique-size"]))
        df3 = self.json_of("df", "ds")
        self.assertEqual(df3["reclaimable"] + df3["unreferenced-recent"], a["unique-size"])
        time.sleep(1.1)  # gc spares chunks written within its last second
        r = self.ws.run("gc", "ds")
        self.assertOk(r)
        g = GC_RE.search(r.stderr)
        self.assertIsNotNone(g, r.stderr)
        self.assertTrue(close(parse_size(g.group(2)), said), (g.group(2), said))
        df4 = self.json_of("df", "ds")
        self.assertEqual(df4["reclaimable"], 0)
        self.assertEqual(df4["chunk-bytes"], df4["referenced"])
        self.assertEqual(df4["referenced"], b["stored-size"])

        # prune: the same report, after the removals.
        os.unlink(self.extra)
        self.backup()
        (kept_before, newest) = self.json_of("list", "ds", "--sizes")
        r = self.ws.run("prune", "ds", self.ct, "--prune-backups", "keep-last=1")
        self.assertOk(r)
        self.assertIn("pruned 1 backup(s)", r.stderr)
        m = UNREFERENCED_RE.search(r.stderr)
        self.assertIsNotNone(m, r.stderr)
        self.assertTrue(close(parse_size(m.group(1)), kept_before["unique-size"]),
                        (m.group(1), kept_before["unique-size"]))
        self.assertGreaterEqual(kept_before["unique-size"], 3 << 20)  # the random file
        print("timing on the test store (%d objects, %s): list --sizes %.2f s, df %.2f s"
              % (df2["objects"], df2["total"], t_list, t_df))

    def test_dir_storage_df_and_delete(self):
        self.backup("local")
        self.backup("local")
        listed = self.json_of("list", "local")
        self.assertEqual(len(listed), 2)
        df = self.json_of("df", "local")
        self.assertEqual(df["type"], "dir")
        self.assertEqual(df["total"], sum(b["size"] for b in listed))
        self.assertEqual(df["containers"], [{"vmid": self.ct, "backups": 2, "size": df["total"],
                                              "unknown-size": 0}])
        r = self.ws.run("df", "local")
        self.assertOk(r)
        self.assertIn("no deduplication", r.stdout)
        # --sizes on a dir storage adds nothing, and says so.
        r = self.ws.run("--output-format", "json", "list", "local", "--sizes")
        self.assertOk(r)
        self.assertIsNone(json_events.result(r.stdout)[0]["unique-size"])
        r = self.ws.run("delete", listed[0]["volid"])
        self.assertOk(r)
        m = re.search("freed " + SIZE, r.stderr)
        self.assertIsNotNone(m, r.stderr)
        self.assertTrue(close(parse_size(m.group(1)), listed[0]["size"]))
        self.assertEqual(self.json_of("df", "local")["total"], listed[1]["size"])


if __name__ == "__main__":
    import unittest
    unittest.main()
