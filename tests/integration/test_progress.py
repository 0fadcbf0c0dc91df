"""Progress of long work (issue 12, part 4) on real containers: a suspend-mode
backup (the copier's passes "rsync-first"/"rsync-final", the archive "backup",
the copy's removal) and a restore ("restore", counting files), with stderr in
a log (a line every 10 s, a closing line for a phase longer than 10 s) and on
a terminal (a bar drawn in place and cleared).

The phases are made to last longer than 10 s with --bwlimit, computed from the
tree's size: a lower bound on their duration (the token bucket), never an
assertion on timings."""
import fcntl
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import termios
import unittest

import harness
from test_restore import MAP2

# A phase's work at this rate takes at least this long (plus the bucket's
# one-second burst): more than the 10 s between log lines.
MIN_SECONDS = 14


def allocated_bytes(root):
    """File data the copier and the tar writer read (holes are not read)."""
    total = 0
    for d, dirs, files in os.walk(root):
        for f in files:
            try:
                st = os.lstat(os.path.join(d, f))
            except FileNotFoundError:
                continue
            if not os.path.islink(os.path.join(d, f)):
                total += st.st_blocks * 512
    return total


def bwlimit_kib(nbytes):
    return str(max(64, nbytes // 1024 // MIN_SECONDS))


class ProgressTest(harness.IntegrationTest):

    def setUp(self):
        super().setUp()
        with open(os.path.join(self.ws.config, "storage.cfg"), "w") as f:
            f.write("dir: local\n\tpath %s\n" % self.ws.target)
        os.makedirs(os.path.join(self.ws.target, "dump"))
        self.created = []

    def tearDown(self):
        for name in self.created:
            subprocess.run(["lxc-stop", "-P", self.env["LXCPATH"], "-n", name, "-k"],
                           capture_output=True, stdin=subprocess.DEVNULL)
            subprocess.run(["lxc-destroy", "-P", self.env["LXCPATH"], "-n", name],
                           capture_output=True, stdin=subprocess.DEVNULL)
            shutil.rmtree(os.path.join(self.env["LXCPATH"], name), ignore_errors=True)
        subprocess.run(["rm", "-rf", "--one-file-system", self.ws.tmp])
        super().tearDown()

    def archives(self, ct):
        d = os.path.join(self.ws.target, "dump")
        return sorted(os.path.join(d, x) for x in os.listdir(d)
                      if x.startswith("vzdump-lxc-%s-" % ct) and x.endswith(".tar.zst"))

    def backup(self, ct, *extra):
        return self.ws.run("backup", ct, "--storage", "local", "--tmpdir", self.ws.tmp, *extra,
                           timeout=900)

    def test_suspend_backup_and_restore_in_a_log(self):
        ct = self.env["CT_UNPRIV"]
        limit = bwlimit_kib(allocated_bytes(self.env["ROOTFS_UNPRIV"]))
        r = self.backup(ct, "--mode", "suspend", "--bwlimit", limit)
        self.assertOk(r)
        err = r.stderr
        # Not a terminal: no bar, no carriage returns or escape sequences.
        self.assertNotIn("\r", err)
        self.assertNotIn("\x1b", err)
        # The first pass copies the whole tree at the limit: periodic lines and
        # a closing line, in vzdump's log style.
        self.assertRegex(err, r"INFO: rsync-first: [\d.]+ [KMG]?i?B, \d+ files, [\d.]+ [KMG]?i?B/s, "
                              r"elapsed \d+:\d\d:\d\d\n")
        m = re.search(r"INFO: rsync-first finished: [\d.]+ [KMG]?i?B, (\d+) files in \d+:\d\d:\d\d", err)
        self.assertIsNotNone(m, err[-4000:])
        first_entries = re.search(r"INFO: first sync finished - (\d+) entries", err)
        self.assertEqual(m.group(1), first_entries.group(1))
        # The archive: the first backup has no previous size, so no percentage.
        self.assertRegex(err, r"INFO: backup: [\d.]+ [KMG]?i?B, \d+ files, [\d.]+ [KMG]?i?B/s, "
                              r"elapsed \d+:\d\d:\d\d\n")
        self.assertRegex(err, r"INFO: backup finished: [\d.]+ [KMG]?i?B, \d+ files in ")
        # A second backup knows the first one's size: percentage and ETA.
        r = self.backup(ct, "--mode", "snapshot", "--bwlimit", limit)
        self.assertOk(r)
        self.assertRegex(r.stderr, r"INFO: backup: [\d.]+ [KMG]?i?B of [\d.]+ [KMG]?i?B \(\d+%\), \d+ files, "
                                   r"[\d.]+ [KMG]?i?B/s, elapsed \d+:\d\d:\d\d(, ETA \d+:\d\d:\d\d)?\n")
        self.assertIn(", ETA ", r.stderr)

        # Restore: the file count is the true one (it said "0 files").
        archive = self.archives(ct)[0]
        listing = subprocess.run(["tar", "-I", "zstd", "-tf", archive], capture_output=True, text=True,
                                 check=True).stdout
        members = len(listing.splitlines())
        name = self.env["CT_UNPRIV"].replace("-unpriv", "-rp")
        self.created.append(name)
        size = os.path.getsize(archive)
        r = self.ws.run("restore", "local:" + os.path.basename(archive), name, *MAP2,
                        "--bwlimit", bwlimit_kib(size), timeout=900)
        self.assertOk(r)
        extracted = re.search(r"INFO: extracted (\d+) entries", r.stderr)
        self.assertIsNotNone(extracted, r.stderr[-4000:])
        # Members below /dev are not extracted (as vzdump's restore).
        self.assertLessEqual(int(extracted.group(1)), members)
        self.assertGreater(int(extracted.group(1)), 100)
        self.assertRegex(r.stderr, r"INFO: restore: [\d.]+ [KMG]?i?B of [\d.]+ [KMG]?i?B \(\d+%\), [1-9]\d* files")
        done = re.search(r"INFO: restore finished: [\d.]+ [KMG]?i?B, (\d+) files in ", r.stderr)
        self.assertIsNotNone(done, r.stderr[-4000:])
        self.assertEqual(done.group(1), extracted.group(1))
        self.assertNoLeftovers()

    def test_quiet_suppresses_progress(self):
        ct = self.env["CT_PRIV"]
        limit = bwlimit_kib(allocated_bytes(self.env["ROOTFS_PRIV"]))
        r = self.backup(ct, "--mode", "stop", "--bwlimit", limit, "--quiet", "1")
        self.assertOk(r)
        self.assertNotIn("INFO:", r.stderr)

    def run_on_pty(self, *args, columns=100):
        """Runs ctdump with stderr (and stdout) on a pseudo-terminal of
        `columns` columns; returns (exit code, everything it wrote)."""
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        p = subprocess.Popen(self.ws.cmd(*args), stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                             env=self.ws.environ(), start_new_session=True)
        os.close(slave)
        out = b""
        while True:
            ready, _, _ = select.select([master], [], [], 900)
            if not ready:
                p.kill()
                self.fail("ctdump on a terminal did not finish:\n%r" % out[-2000:])
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        return p.wait(), out.decode(errors="replace")

    def test_bar_on_a_terminal_is_drawn_and_cleared(self):
        ct = self.env["CT_UNPRIV"]
        limit = bwlimit_kib(allocated_bytes(self.env["ROOTFS_UNPRIV"]) * 4)  # a few seconds
        code, out = self.run_on_pty("backup", ct, "--storage", "local", "--tmpdir", self.ws.tmp,
                                    "--mode", "suspend", "--bwlimit", limit)
        self.assertEqual(code, 0, out[-4000:])
        out = out.replace("\r\n", "\n")  # the terminal's newline translation
        bars = re.findall(r"\r((?:rsync-first|rsync-final|backup)[^\r\n\x1b]*)\x1b\[K", out)
        self.assertTrue(bars, out[-4000:])
        for bar in bars:
            self.assertLessEqual(len(bar), 99, bar)  # within the terminal's width
            self.assertRegex(bar, r"\d+ files")
        # The current path shows on a bar wide enough for it.
        self.assertTrue(any(" /" in b for b in bars), bars[:20])
        # Every bar is cleared ("\r" ESC[K) before the next log line and at the end.
        for m in re.finditer(r"\r(?:rsync-first|rsync-final|backup)[^\r\n\x1b]*\x1b\[K", out):
            rest = out[m.end():]
            nl = rest.find("\n")
            cr = rest.find("\r")
            self.assertNotEqual(cr, -1, "the last bar was never cleared")
            self.assertTrue(nl == -1 or cr < nl, "a log line was written over a bar: %r" % rest[:200])
        # Nothing drawn after the last clearing.
        self.assertNotRegex(out[out.rindex("\r\x1b[K") + 4:], r"\r(rsync-first|rsync-final|backup) ")


if __name__ == "__main__":
    unittest.main()
