"""docs/json-events.md against docs/json-events.schema.json, without
containers or root: every example event of the document validates, and the
command-line errors (a parse error, an unknown command, a wrong value) are
one valid `error` event on stdout with exit code 2 whenever JSON was asked for
(before or after the subcommand), and text only otherwise. Debian's
python3-jsonschema: run under /usr/bin/python3."""
import json
import os
import re
import subprocess
import tempfile
import unittest

import json_events

DOC = os.path.join(os.path.dirname(json_events.SCHEMA), "json-events.md")
BIN = os.environ.get("CTDUMP_BIN", "")


class DocTest(unittest.TestCase):

    def setUp(self):
        self.validator = json_events.validator()

    def assertValid(self, event):
        errors = ["%s at %s" % (e.message, list(e.path)) for e in self.validator.iter_errors(event)]
        self.assertEqual(errors, [], event)

    def test_every_example_of_the_document_is_valid(self):
        with open(DOC) as f:
            blocks = re.findall(r"```json\n(.*?)```", f.read(), re.S)
        examples = [json.loads(line) for b in blocks for line in b.splitlines() if line.strip()]
        self.assertGreaterEqual(len(examples), 10)
        for e in examples:
            self.assertValid(e)
        kinds = {e["event"] for e in examples}
        self.assertEqual(kinds, {"log", "progress", "job-start", "guest-start", "guest-end",
                                 "job-end", "check", "result", "error"})

    def test_the_schema_rejects_what_the_document_excludes(self):
        good = {"v": 1, "event": "log", "time": 1, "level": "info", "message": "m"}
        self.assertValid(good)
        for bad in (dict(good, v=2), dict(good, level="debug"), dict(good, surprise=1),
                    {k: v for k, v in good.items() if k != "time"},
                    {"v": 1, "event": "result", "time": 1, "command": "list", "ok": True,
                     "exit": 0, "data": [{"volid": "x"}]},
                    {"v": 1, "event": "frobnicated", "time": 1}):
            self.assertTrue(list(self.validator.iter_errors(bad)), bad)

    @unittest.skipUnless(BIN, "run through ctest (CTDUMP_BIN unset)")
    def test_command_line_errors(self):
        with tempfile.TemporaryDirectory() as cfg:
            for args, words in ((["--output-format", "json", "frobnicate"], "frobnicate"),
                                (["--output-format", "json", "list"], "storage is required"),
                                (["list", "x", "--bogus", "--output-format=json"], "--bogus"),
                                (["--output-format", "json", "backup", "--mode", "fast"], "fast"),
                                (["--output-format", "json", "job"], "subcommand"),
                                (["--output-format", "json", "datastore", "create", "rel"],
                                 "absolute path")):
                r = subprocess.run([BIN, "--config-dir", cfg] + args, capture_output=True,
                                   text=True, stdin=subprocess.DEVNULL)
                self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
                evs = json_events.events(r.stdout)
                self.assertEqual(len(evs), 1, (args, r.stdout))
                self.assertValid(evs[0])
                self.assertEqual((evs[0]["event"], evs[0]["exit"]), ("error", 2))
                self.assertIn(words, evs[0]["message"])
            r = subprocess.run([BIN, "--config-dir", cfg, "list", "x", "--bogus"], capture_output=True,
                               text=True, stdin=subprocess.DEVNULL)
            self.assertEqual((r.returncode, r.stdout), (2, ""))
            self.assertIn("--bogus", r.stderr)
            r = subprocess.run([BIN, "--config-dir", cfg, "--output-format", "json", "list", "x"],
                               capture_output=True, text=True, stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 1)
            [e] = json_events.events(r.stdout)
            self.assertValid(e)
            self.assertEqual((e["event"], e["command"], e["exit"]), ("error", "list", 1))
            self.assertIn("storage.cfg", e["message"])
            # --help is no error, also with JSON asked for.
            r = subprocess.run([BIN, "--output-format", "json", "--help"], capture_output=True,
                               text=True, stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 0)
            self.assertIn("Usage", r.stdout)


if __name__ == "__main__":
    unittest.main()
