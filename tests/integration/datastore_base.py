"""Shared base of the integration tests of the built-in `datastore` storage:
a private store per test and helpers to back up, list, restore and parse the
statistics of the backup log. Subclasses may put the store elsewhere (a
RADOS pool) by overriding write_cfg."""
import glob
import os
import re
import time

import harness
from test_restore import manifest, manifest_lines, strip_sparse

UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
SIZE = r"([\d.]+ (?:B|KiB|MiB|GiB|TiB))"
FILES_RE = re.compile(r"(\d+) entries, %s in files: read %s, %s of (\d+) unchanged files taken from the "
                      r"previous backup" % (SIZE, SIZE, SIZE))
CHUNKS_RE = re.compile(r"(\d+) chunks hashed, (\d+) new \(%s of data, %s stored\), (\d+) already in the store"
                       % (SIZE, SIZE))


def parse_size(text):
    num, unit = text.split()
    return int(float(num) * UNITS[unit])


def tree_bytes(directory):
    total = 0
    for dp, _, fns in os.walk(directory):
        for fn in fns:
            total += os.lstat(os.path.join(dp, fn)).st_size
    return total


def without_excluded(lines):
    return {k: v for k, v in lines.items()
            if not k.startswith((b"/tmp/", b"/var/tmp/")) and b"\tunreadable\t" not in v}


class DatastoreBase(harness.IntegrationTest):
    """A `datastore: ds` storage on a private directory, and helpers for
    backups, listings and restores through it (no tests of its own)."""

    def setUp(self):
        super().setUp()
        self.created = []
        self.store = os.path.join(self.ws.dir, "ds")
        os.makedirs(self.store)
        self.last_start = {}
        self.write_cfg()

    def tearDown(self):
        harness.destroy_containers(self.created)
        super().tearDown()

    # --- helpers -----------------------------------------------------------

    def write_cfg(self, key=None, extra=None, more=""):
        lines = ["datastore: ds", "\tpath %s" % self.store]
        if key:
            lines.append("\tencryption-key %s" % key)
        lines += ["\t%s %s" % kv for kv in (extra or {}).items()]
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("\n".join(lines) + "\n" + more)

    def new_name(self, suffix):
        name = self.env["CT_UNPRIV"].replace("-unpriv", "-ds" + suffix)
        self.created.append(name)
        return name

    def ct_dir(self, name):
        return os.path.join(self.env["LXCPATH"], name)

    def wait_next_second(self, ct, storage):
        # Volume names have one-second resolution. The job takes its start time
        # a moment after the process starts, so the previous backup's name may
        # be of any second up to the one it ended in.
        last = self.last_start.get((ct, storage))
        while last is not None and int(time.time()) <= last:
            time.sleep(0.05)
        self.last_start[(ct, storage)] = int(time.time())

    def backup_ended(self, ct, storage):
        self.last_start[(ct, storage)] = int(time.time())

    def backup(self, ct, *extra, storage="ds", ok=True):
        """Runs a backup; returns (result, the container's task log)."""
        self.wait_next_second(ct, storage)
        r = self.ws.run("backup", ct, "--storage", storage, "--tmpdir", self.ws.tmp, *extra)
        self.backup_ended(ct, storage)
        if ok:
            self.assertOk(r)
        log = os.path.join(self.ws.logs, "lxc-%s.log" % ct)
        with open(log, errors="replace") as f:
            return r, f.read()

    def stats(self, log):
        m = FILES_RE.search(log)
        self.assertIsNotNone(m, "no file statistics in the log:\n" + log[-3000:])
        c = CHUNKS_RE.search(log)
        self.assertIsNotNone(c, "no chunk statistics in the log:\n" + log[-3000:])
        return dict(entries=int(m.group(1)), file_bytes=parse_size(m.group(2)), read=parse_size(m.group(3)),
                    reused_bytes=parse_size(m.group(4)), reused_files=int(m.group(5)),
                    chunks=int(c.group(1)), new_chunks=int(c.group(2)), new_bytes=parse_size(c.group(3)),
                    dedup_chunks=int(c.group(5)))

    def list_volids(self, storage="ds", ct=None, allow_fail=False):
        r = self.ws.run("list", storage, *(["--vmid", ct] if ct else []))
        if allow_fail and r.returncode != 0:
            return r, None
        self.assertOk(r)
        return r, [l.split()[0] for l in r.stdout.splitlines() if l.startswith(storage + ":")]

    def volids(self, ct=None, storage="ds"):
        return self.list_volids(storage, ct)[1]

    def only_volid(self, ct, storage="ds"):
        v = self.volids(ct, storage)
        self.assertEqual(len(v), 1, v)
        return v[0]

    def restore(self, volid, name, *extra):
        return self.ws.run("restore", volid, name, *harness.trusted(volid, *extra), timeout=600)

    def assertSameTree(self, want_lines, rootfs, map_host):
        want = without_excluded(want_lines)
        got = manifest(rootfs, map_host)
        self.assertGreater(len(want), 20)
        for path, line in want.items():
            self.assertIn(path, got, "missing after restore: %r" % path)
            if b"sparse=1" in line:
                self.assertIn(b"sparse=1", got[path], path)
            self.assertEqual(strip_sparse(got[path]), strip_sparse(line), "differs after restore: %r" % path)
        extra = set(k for k in got if not k.startswith((b"/tmp/", b"/var/tmp/"))) - set(want_lines)
        self.assertEqual(extra, set(), "unexpected paths after restore")

    def signal_mid_restore(self, volid, name, sig):
        """Starts a restore, sends `sig` once it is extracting; returns
        (exit code, stderr)."""
        p = self.ws.start("restore", volid, name, *harness.trusted(volid))
        usr = os.path.join(self.ct_dir(name), "rootfs", "usr")
        deadline = time.time() + 60
        while not os.path.exists(usr) and time.time() < deadline and p.poll() is None:
            time.sleep(0.01)
        self.assertIsNone(p.poll(), "the restore ended before the signal")
        os.killpg(p.pid, sig)
        _, err = p.communicate(timeout=60)
        return p.returncode, err

    def assertNoContainer(self, name):
        self.assertFalse(os.path.exists(self.ct_dir(name)), "a partially restored container was left: %s" % name)

    def assertFailedNaming(self, r, *needles):
        self.assertEqual(r.returncode, 1, r.stderr[-3000:])
        for n in needles:
            self.assertIn(n, r.stderr)

    def chunk_files(self):
        return sorted(glob.glob(os.path.join(self.store, "chunks", "*", "*")))

    def snapshot_dir(self, volid):
        return os.path.join(self.store, "snapshots", volid.split(":", 1)[1])

    def fixture_lines(self, which):
        return manifest_lines(self.env["MANIFEST_" + which])
