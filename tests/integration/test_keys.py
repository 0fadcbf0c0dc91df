"""Key files end to end with the real `ctdump key ...` binary (issue 12, keys).

No containers and no root: every command runs in a fresh session without a
controlling terminal (so a missing passphrase is an error, never a hang),
except the prompt tests, which give ctdump a real pseudo-terminal (python's
pty module) and type at its prompts. Passphrases come through the ways the
docs name: CTDUMP_KEY_PASSPHRASE_FD (a pipe), CTDUMP_KEY_PASSPHRASE_FILE,
CTDUMP_NEW_KEY_PASSPHRASE_FILE and the terminal. The SIGKILL test kills
`key change-passphrase` at many points and checks that the key file still
opens, with the old or the new passphrase, and is the same key.
"""
import json
import os
import pty
import re
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import termios
import time
import unittest

BIN = os.environ.get("CTDUMP_BIN", "")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTDUMP_")}
    env.update(extra)
    return env


class KeyTest(unittest.TestCase):
    def setUp(self):
        if not BIN:
            self.skipTest("CTDUMP_BIN is not set")
        self.dir = tempfile.mkdtemp(prefix="ctdump-keys-it.")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text, mode=0o600):
        with open(self.path(name), "w") as f:
            f.write(text)
        os.chmod(self.path(name), mode)
        return self.path(name)

    def run_ctdump(self, *args, env=None, pass_fds=(), stdin=subprocess.DEVNULL, input=None):
        kwargs = dict(env=env if env is not None else clean_env(), pass_fds=pass_fds,
                      capture_output=True, text=True, timeout=120, start_new_session=True)
        if input is not None:
            kwargs["input"] = input
        else:
            kwargs["stdin"] = stdin
        return subprocess.run([BIN, *args], **kwargs)

    def with_pass_file(self, passphrase, new=None, prefix=""):
        env = clean_env(
            CTDUMP_KEY_PASSPHRASE_FILE=self.write(prefix + "pass", passphrase + "\n"))
        if new is not None:
            env["CTDUMP_NEW_KEY_PASSPHRASE_FILE"] = self.write(prefix + "newpass", new + "\n")
        return env

    def show(self, name):
        r = self.run_ctdump("--output-format", "json", "key", "show", self.path(name))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        event = json.loads(r.stdout.splitlines()[-1])
        self.assertEqual(event["event"], "result")
        return event["data"]

    def create(self, name, passphrase="pass phrase", kdf=None):
        args = ["key", "create", self.path(name)] + (["--kdf", kdf] if kdf else [])
        r = self.run_ctdump(*args, env=self.with_pass_file(passphrase))
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    # Creating and showing.

    def test_create_with_fd_and_show(self):
        rfd, wfd = os.pipe()
        os.write(wfd, b"from a pipe\n")
        os.close(wfd)
        r = self.run_ctdump("key", "create", self.path("k"),
                            env=clean_env(CTDUMP_KEY_PASSPHRASE_FD=str(rfd)), pass_fds=(rfd,))
        os.close(rfd)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("fingerprint", r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(self.path("k")).st_mode), 0o600)
        with open(self.path("k")) as f:
            text = f.read()
        self.assertNotIn("from a pipe", text)
        key = json.loads(text)
        self.assertEqual((key["version"], key["kdf"]), (2, "scrypt"))
        self.assertEqual(key["scrypt"]["n"], 65536)
        self.assertNotIn("key", key)
        info = self.show("k")
        self.assertEqual(info["kdf"], "scrypt")
        self.assertEqual(info["fingerprint"], key["fingerprint"])
        self.assertEqual(info["created"], info["modified"])
        t = self.run_ctdump("key", "show", self.path("k"))
        self.assertEqual(t.returncode, 0)
        self.assertIn("fingerprint: " + key["fingerprint"], t.stdout)
        self.assertIn("kdf:         scrypt", t.stdout)
        # The passphrase opens it (change-passphrase to the same one).
        r = self.run_ctdump("key", "change-passphrase", self.path("k"),
                            env=self.with_pass_file("from a pipe", new="from a pipe"))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_create_kdf_none_warns(self):
        r = self.create("k", kdf="none")
        self.assertIn("WARN: the key in", r.stderr)
        self.assertIn("stored in clear", r.stderr)
        self.assertEqual(self.show("k")["kdf"], "none")

    def test_no_passphrase_source_is_an_error_naming_all_ways(self):
        r = self.run_ctdump("key", "create", self.path("k"))
        self.assertEqual(r.returncode, 1)
        for way in ("CTDUMP_KEY_PASSPHRASE_FD", "CTDUMP_KEY_PASSPHRASE_FILE", "terminal"):
            self.assertIn(way, r.stderr)
        self.assertFalse(os.path.exists(self.path("k")))

    def test_create_refuses_overwrite_before_asking(self):
        self.write("k", "precious")
        r = self.run_ctdump("key", "create", self.path("k"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("Refusing to overwrite", r.stderr)
        with open(self.path("k")) as f:
            self.assertEqual(f.read(), "precious")

    def test_bad_kdf_is_usage_error(self):
        r = self.run_ctdump("key", "create", self.path("k"), "--kdf", "argon2")
        self.assertEqual(r.returncode, 2)

    # Bad input.

    def test_wrong_passphrase(self):
        self.create("k", "right one")
        with open(self.path("k")) as f:
            before = f.read()
        r = self.run_ctdump("key", "change-passphrase", self.path("k"),
                            env=self.with_pass_file("wrong one", new="x"))
        self.assertEqual(r.returncode, 1)
        self.assertIn('wrong passphrase for key file "%s"' % self.path("k"), r.stderr)
        self.assertNotIn("wrong one", r.stderr + r.stdout)
        with open(self.path("k")) as f:
            self.assertEqual(f.read(), before)

    def test_corrupted_key_file(self):
        self.create("k")
        with open(self.path("k")) as f:
            key = json.load(f)
        cases = {
            "data": ("data", key["data"][:-1] + ("0" if key["data"][-1] != "0" else "1"),
                     "damaged: checksum mismatch"),
            "salt": ("scrypt", dict(key["scrypt"], salt="zz"),
                     'damaged: "scrypt"."salt" is not 64 hex digits'),
            "iv": ("iv", None, 'damaged: "iv" is missing or not a string'),
        }
        for name, (member, value, message) in cases.items():
            with self.subTest(member=name):
                bad = dict(key)
                if value is None:
                    del bad[member]
                else:
                    bad[member] = value
                p = self.write("bad-" + name, json.dumps(bad, indent=2))
                for args in (["key", "show", p], ["key", "change-passphrase", p]):
                    r = self.run_ctdump(*args, env=self.with_pass_file("pass phrase", new="n"))
                    self.assertEqual(r.returncode, 1, r.stderr)
                    self.assertIn('"%s": %s' % (p, message), r.stderr)
        r = self.run_ctdump("key", "show", self.write("junk", "\x00\x01garbage"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a ctdump key file", r.stderr)

    # change-passphrase.

    def test_change_passphrase_and_kdf(self):
        self.create("k", "one")
        before = self.show("k")
        time.sleep(1.1)
        r = self.run_ctdump("key", "change-passphrase", self.path("k"),
                            env=self.with_pass_file("one", new="two"))
        self.assertEqual(r.returncode, 0, r.stderr)
        after = self.show("k")
        self.assertEqual(after["fingerprint"], before["fingerprint"])
        self.assertEqual(after["created"], before["created"])
        self.assertGreater(after["modified"], before["modified"])
        r = self.run_ctdump("key", "change-passphrase", self.path("k"),
                            env=self.with_pass_file("one", new="three"))
        self.assertIn("wrong passphrase", r.stderr)
        r = self.run_ctdump("key", "change-passphrase", self.path("k"), "--kdf", "none",
                            env=self.with_pass_file("two"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("stored in clear", r.stderr)
        self.assertEqual(self.show("k")["kdf"], "none")
        self.assertEqual(self.show("k")["fingerprint"], before["fingerprint"])
        self.assertEqual(stat.S_IMODE(os.stat(self.path("k")).st_mode), 0o600)
        self.assertEqual(sorted(os.listdir(self.dir)), ["k", "newpass", "pass"])

    def test_sigkill_during_change_passphrase_leaves_a_working_key(self):
        self.create("k", "old")
        fingerprint = self.show("k")["fingerprint"]
        env = self.with_pass_file("old", new="new", prefix="kill-")
        # How long one run takes here (scrypt runs twice, open and seal).
        start = time.time()
        r = self.run_ctdump("key", "change-passphrase", self.path("k"),
                            env=self.with_pass_file("old", new="old"))
        self.assertEqual(r.returncode, 0, r.stderr)
        duration = time.time() - start
        outcomes = set()
        # Kill all along the run, and a little after its usual end.
        steps = 16
        for i in range(steps):
            delay = duration * 1.3 * i / (steps - 1)
            with open(self.path("k")) as f:
                current = f.read()
            p = subprocess.Popen([BIN, "key", "change-passphrase", self.path("k")], env=env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
            time.sleep(delay)
            p.send_signal(signal.SIGKILL)
            p.wait()
            # The file opens with one of the two passphrases and is the same key.
            self.assertEqual(self.show("k")["fingerprint"], fingerprint)
            opened = None
            for old in ("old", "new"):
                r = self.run_ctdump("key", "change-passphrase", self.path("k"),
                                    env=self.with_pass_file(old, new="old"))
                if r.returncode == 0:
                    opened = old
                    break
                self.assertIn("wrong passphrase", r.stderr)
            self.assertIsNotNone(opened, "delay %.2f: the key opens with neither" % delay)
            with open(self.path("k")) as f:
                self.assertNotEqual(f.read(), "")
            outcomes.add(opened)
            # The reset above removed any temp file the killed run left.
            self.assertEqual(sorted(os.listdir(self.dir)),
                             ["k", "kill-newpass", "kill-pass", "newpass", "pass"])
        # Both the old file (killed early) and the new one (killed late) were seen.
        self.assertEqual(outcomes, {"old", "new"})

    # Paper keys.

    def test_paperkey_round_trip_and_damage(self):
        self.create("k")
        r = self.run_ctdump("key", "paperkey", self.path("k"))
        self.assertEqual(r.returncode, 0, r.stderr)
        paper = r.stdout
        self.assertIn("-----BEGIN CTDUMP PAPER KEY-----", paper)
        self.assertIn("-----END CTDUMP PAPER KEY-----", paper)
        self.assertIn("fingerprint: " + self.show("k")["fingerprint"], paper)
        self.assertTrue(any(c in paper for c in "▀▄█"), "no QR code")
        self.write("paper.txt", paper)
        r = self.run_ctdump("key", "import", "--paperkey", self.path("paper.txt"),
                            self.path("restored"))
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.path("k")) as a, open(self.path("restored")) as b:
            self.assertEqual(a.read(), b.read())
        self.assertEqual(stat.S_IMODE(os.stat(self.path("restored")).st_mode), 0o600)
        # From stdin, retyped with other line breaks.
        begin = paper.index("-----BEGIN")
        end = paper.index("-----END")
        body = "".join(paper[begin + 32:end].split())
        typed = "-----BEGIN CTDUMP PAPER KEY-----\n" + "\n".join(
            body[i:i + 20] for i in range(0, len(body), 20)) + "\n-----END CTDUMP PAPER KEY-----\n"
        r = self.run_ctdump("key", "import-paperkey", "-", self.path("typed"), input=typed)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.show("typed")["fingerprint"], self.show("k")["fingerprint"])
        # Truncated: no END line.
        r = self.run_ctdump("key", "import-paperkey", "-", self.path("cut"), input=paper[:end])
        self.assertEqual(r.returncode, 1)
        self.assertIn("truncated", r.stderr)
        self.assertFalse(os.path.exists(self.path("cut")))
        # One typo in the data.
        data_at = paper.index('"data": "') + 12
        typo = paper[:data_at] + ("0" if paper[data_at] != "0" else "1") + paper[data_at + 1:]
        r = self.run_ctdump("key", "import-paperkey", "-", self.path("typo"), input=typo)
        self.assertEqual(r.returncode, 1)
        self.assertIn("checksum mismatch", r.stderr)
        self.assertFalse(os.path.exists(self.path("typo")))
        # The restored file refuses to overwrite.
        r = self.run_ctdump("key", "import", "--paperkey", self.path("paper.txt"),
                            self.path("restored"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("Refusing to overwrite", r.stderr)

    def test_paperkey_html_and_json(self):
        self.create("k")
        r = self.run_ctdump("key", "paperkey", self.path("k"), "--output-format", "html")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("<!DOCTYPE html>"))
        self.assertIn("<svg", r.stdout)
        r = self.run_ctdump("--output-format", "json", "key", "paperkey", self.path("k"))
        self.assertEqual(r.returncode, 0, r.stderr)
        event = json.loads(r.stdout.splitlines()[-1])
        self.assertIn("-----BEGIN CTDUMP PAPER KEY-----", event["data"]["paperkey"])

    # The QR codes scan (zbarimg, Debian's zbar-tools) to a paper key that imports.

    def scan(self, modules):
        """zbarimg's text of a module matrix (rows of booleans, dark = True)."""
        scale = 4
        width = max(len(r) for r in modules)
        pixels = bytearray()
        for row in modules:
            line = bytearray()
            for dark in row + [False] * (width - len(row)):
                line += bytes([0 if dark else 255]) * scale
            pixels += bytes(line) * scale
        image = self.path("qr.pgm")
        with open(image, "wb") as f:
            f.write(b"P5\n%d %d\n255\n" % (width * scale, len(modules) * scale) + pixels)
        self.assertIsNotNone(shutil.which("zbarimg"),
                             "zbarimg is missing: install zbar-tools (scripts/install-deps.sh)")
        r = subprocess.run(["zbarimg", "--raw", "-q", image], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_paperkey_qr_codes_scan(self):
        self.create("k")
        text = self.run_ctdump("key", "paperkey", self.path("k")).stdout
        qr = text[text.index("-----END CTDUMP PAPER KEY-----"):].split("\n", 1)[1]
        modules = []
        for line in qr.split("\n"):
            if line:
                modules.append([c in "█▀" for c in line])
                modules.append([c in "█▄" for c in line])
        scanned = self.scan(modules)
        self.assertTrue(scanned.startswith("-----BEGIN CTDUMP PAPER KEY-----\n{"), scanned)
        r = self.run_ctdump("key", "import-paperkey", "-", self.path("from-text-qr"), input=scanned)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.path("k")) as a, open(self.path("from-text-qr")) as b:
            self.assertEqual(a.read(), b.read())
        html = self.run_ctdump("key", "paperkey", self.path("k"), "--output-format", "html").stdout
        size = int(re.search(r'viewBox="0 0 (\d+) \d+"', html).group(1))
        modules = [[False] * size for _ in range(size)]
        for x, y in re.findall(r"M(\d+) (\d+)h1v1h-1z", html):
            modules[int(y)][int(x)] = True
        self.assertEqual(self.scan(modules), scanned)

    # The master key.

    def test_master_key(self):
        rfd, wfd = os.pipe()
        os.write(wfd, b"master pass")
        os.close(wfd)
        r = self.run_ctdump("key", "create-master-key", "--dir", self.dir,
                            env=clean_env(CTDUMP_KEY_PASSPHRASE_FD=str(rfd)), pass_fds=(rfd,))
        os.close(rfd)
        self.assertEqual(r.returncode, 0, r.stderr)
        pub, priv = self.path("master-public.pem"), self.path("master-private.pem")
        self.assertEqual(stat.S_IMODE(os.stat(pub).st_mode), 0o644)
        self.assertEqual(stat.S_IMODE(os.stat(priv).st_mode), 0o600)
        with open(priv) as f:
            self.assertIn("BEGIN ENCRYPTED PRIVATE KEY", f.read())
        # openssl agrees: RSA 4096, and the passphrase decrypts the private key.
        out = subprocess.run(["openssl", "pkey", "-pubin", "-in", pub, "-noout", "-text"],
                             capture_output=True, text=True)
        self.assertIn("4096 bit", out.stdout)
        out = subprocess.run(["openssl", "pkey", "-in", priv, "-passin", "pass:master pass",
                              "-noout"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        r = self.run_ctdump("--output-format", "json", "key", "show-master-pubkey", pub)
        fingerprint = json.loads(r.stdout.splitlines()[-1])["data"]["fingerprint"]
        self.assertRegex(fingerprint, r"^([0-9a-f]{2}:){7}[0-9a-f]{2}$")
        r = self.run_ctdump("key", "show-master-pubkey", priv)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is a private key", r.stderr)
        r = self.run_ctdump("key", "create-master-key", "--dir", self.dir,
                            env=self.with_pass_file("x"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("Refusing to overwrite", r.stderr)

    # The terminal prompt (a real pty).

    def pty_run(self, args, answers):
        """Runs ctdump on a new pty; answers each prompt (a substring of the
        output) in order. Returns (exit code, everything the terminal showed)."""
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execve(BIN, [BIN, *args], clean_env())
            finally:
                os._exit(127)
        shown = b""
        pending = list(answers)
        deadline = time.time() + 60
        while time.time() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
            if pending and pending[0][0].encode() in shown.split(b"\n")[-1] + b"":
                prompt, answer = pending.pop(0)
                shown += b"\n"  # a marker: later prompts come after it
                os.write(fd, (answer + "\n").encode())
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")

    def test_pty_prompt_create_and_change(self):
        code, shown = self.pty_run(["key", "create", self.path("k")],
                                   [("New passphrase for", "typed secret"),
                                    ("Verify passphrase", "typed secret")])
        self.assertEqual(code, 0, shown)
        self.assertNotIn("typed secret", shown)  # echo was off
        self.assertEqual(self.show("k")["kdf"], "scrypt")
        # The typed passphrase is the key's: the file route opens it.
        r = self.run_ctdump("key", "change-passphrase", self.path("k"),
                            env=self.with_pass_file("typed secret", new="typed secret"))
        self.assertEqual(r.returncode, 0, r.stderr)
        # Mismatched confirmation: nothing changes.
        with open(self.path("k")) as f:
            before = f.read()
        code, shown = self.pty_run(["key", "change-passphrase", self.path("k")],
                                   [("Current passphrase for", "typed secret"),
                                    ("New passphrase for", "new one"),
                                    ("Verify passphrase", "new onf")])
        self.assertEqual(code, 1, shown)
        self.assertIn("do not match", shown)
        with open(self.path("k")) as f:
            self.assertEqual(f.read(), before)
        # Wrong passphrase at the prompt.
        code, shown = self.pty_run(["key", "change-passphrase", self.path("k")],
                                   [("Current passphrase for", "not it")])
        self.assertEqual(code, 1, shown)
        self.assertIn("wrong passphrase for key file", shown)
        self.assertNotIn("not it", shown)

    def test_pty_ctrl_c_at_the_prompt_restores_echo(self):
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execve(BIN, [BIN, "key", "create", self.path("k")], clean_env())
            finally:
                os._exit(127)
        shown = b""
        deadline = time.time() + 30
        while b"New passphrase for" not in shown and time.time() < deadline:
            if select.select([fd], [], [], 0.5)[0]:
                shown += os.read(fd, 4096)
        self.assertIn(b"New passphrase for", shown)
        time.sleep(0.2)
        # At the prompt echo is off (the master sees the slave's settings).
        self.assertEqual(termios.tcgetattr(fd)[3] & termios.ECHO, 0)
        os.write(fd, b"half typed\x03")
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), -signal.SIGINT)
        self.assertNotEqual(termios.tcgetattr(fd)[3] & termios.ECHO, 0, "echo left off")
        os.close(fd)
        self.assertFalse(os.path.exists(self.path("k")))


if __name__ == "__main__":
    unittest.main()
