"""Tests for dir-example.py: pure helpers in-process, the protocol through a real subprocess.

Run: python3 -m unittest discover -s examples/providers -p 'test_*.py'
No ctdump, no root and no namespaces needed: the worker role runs as the current user.
"""

import importlib.util
import io
import json
import os
import selectors
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PROVIDER = os.path.join(HERE, "dir-example.py")

_spec = importlib.util.spec_from_file_location("dir_example", PROVIDER)
dx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dx)

START = 1743773524  # 2025-04-04T13:32:04Z
STAMP = "2025-04-04T13:32:04Z"
REPLY_TIMEOUT = 30.0


# --------------------------------------------------------------------------------------------
# Pure helpers


class ArchiveNameTest(unittest.TestCase):
    def test_timestamp_format(self):
        self.assertEqual(dx.archive_timestamp(START), STAMP)
        self.assertEqual(dx.archive_timestamp(0), "1970-01-01T00:00:00Z")

    def test_timestamp_round_trip(self):
        self.assertEqual(dx.timestamp_to_epoch(STAMP), START)

    def test_archive_name_uses_only_allowed_characters(self):
        self.assertRegex(f"101/{dx.archive_timestamp(START)}", r"^[A-Za-z0-9\-.+=_/:]+$")


class ExcludeArgsTest(unittest.TestCase):
    def test_no_patterns(self):
        args, warnings = dx.tar_exclude_args([])
        self.assertEqual(args, ["--no-anchored", "--exclude=lost+found", "--anchored"])
        self.assertEqual(warnings, [])

    def test_standard_excludes_are_anchored(self):
        args, _ = dx.tar_exclude_args(["/tmp/?*", "/var/tmp/?*", "/var/run/?*.pid"])
        self.assertEqual(args, ["--no-anchored", "--exclude=lost+found", "--anchored",
                                "--exclude=./tmp/?*", "--exclude=./var/tmp/?*",
                                "--exclude=./var/run/?*.pid"])

    def test_unanchored_before_anchored_in_input_order(self):
        args, _ = dx.tar_exclude_args(["/a", "b", "/c/**", "*.log"])
        self.assertEqual(args, ["--no-anchored", "--exclude=lost+found", "--exclude=b",
                                "--exclude=*.log", "--anchored", "--exclude=./a",
                                "--exclude=./c/**"])

    def test_trailing_slash_warns_and_is_kept(self):
        args, warnings = dx.tar_exclude_args(["/tmp/", "cache/"])
        self.assertIn("--exclude=./tmp/", args)
        self.assertIn("--exclude=cache/", args)
        self.assertEqual(warnings, [
            "tar does not match exclusion with a trailing slash '/tmp/'",
            "tar does not match exclusion with a trailing slash 'cache/'"])

    def test_empty_pattern_is_skipped(self):
        args, _ = dx.tar_exclude_args(["", "x"])
        self.assertEqual(args.count("--exclude="), 0)
        self.assertIn("--exclude=x", args)

    def test_full_command(self):
        argv, _ = dx.tar_command(["./", "./mnt/data"], ["/tmp/?*"])
        self.assertEqual(argv[:3], ["tar", "-cpf", "-"])
        for flag in ("--numeric-owner", "--sparse", "--acls", "--xattrs",
                     "--xattrs-include=user.*", "--xattrs-include=security.capability",
                     "--one-file-system", "--warning=no-file-ignored", "--ignore-failed-read"):
            self.assertIn(flag, argv)
        self.assertLess(argv.index("--ignore-failed-read"), argv.index("--no-anchored"))
        self.assertEqual(argv[-4:], ["--anchored", "--exclude=./tmp/?*", "./", "./mnt/data"])


class TokenBucketTest(unittest.TestCase):
    def test_within_burst_no_delay(self):
        bucket = dx.TokenBucket(1000, now=0.0, burst=500)
        self.assertEqual(bucket.reserve(500, 0.0), 0.0)

    def test_debt_gives_delay(self):
        bucket = dx.TokenBucket(1000, now=0.0, burst=500)
        self.assertAlmostEqual(bucket.reserve(1500, 0.0), 1.0)  # 1000 bytes of debt at 1000 B/s

    def test_refill_pays_debt(self):
        bucket = dx.TokenBucket(1000, now=0.0, burst=500)
        bucket.reserve(1500, 0.0)
        self.assertEqual(bucket.reserve(0, 1.0), 0.0)  # debt paid after the delay
        self.assertAlmostEqual(bucket.reserve(1000, 1.0), 1.0)

    def test_credit_is_capped_at_burst(self):
        bucket = dx.TokenBucket(1000, now=0.0, burst=500)
        self.assertAlmostEqual(bucket.reserve(1500, 100.0), 1.0)  # idling banks only 500

    def test_time_going_backwards_is_harmless(self):
        bucket = dx.TokenBucket(1000, now=10.0, burst=500)
        self.assertAlmostEqual(bucket.reserve(1500, 5.0), 1.0)

    def test_simulated_throughput_never_exceeds_rate(self):
        rate, chunk = 10000, 1250
        bucket = dx.TokenBucket(rate, now=0.0, burst=2500)
        now, sent = 0.0, 0
        for _ in range(400):
            now += bucket.reserve(chunk, now)  # sleep as told, then the chunk goes out
            sent += chunk
        self.assertLessEqual(sent, rate * now + 2500 + chunk)
        self.assertGreaterEqual(sent, rate * now)  # and does not throttle below the rate

    def test_rejects_non_positive_rate(self):
        with self.assertRaises(ValueError):
            dx.TokenBucket(0, now=0.0)

    def test_read_chunk_size(self):
        self.assertEqual(dx.read_chunk_size(None), 1 << 20)
        self.assertEqual(dx.read_chunk_size(1024), 512)
        self.assertEqual(dx.read_chunk_size(80000), 10000)
        self.assertEqual(dx.read_chunk_size(1 << 40), 1 << 20)

    def test_rate_gate(self):
        gate = dx.RateGate(0.5)
        self.assertTrue(gate.ready(0.0))
        self.assertFalse(gate.ready(0.2))
        self.assertTrue(gate.ready(0.5))
        self.assertFalse(gate.ready(0.9))


def _tar_bytes(fmt, members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = data
                tar.addfile(info)
            elif kind == tarfile.DIRTYPE:
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


MEMBERS = [
    ("./", tarfile.DIRTYPE, None),
    ("./etc", tarfile.DIRTYPE, None),
    ("./etc/hostname", tarfile.REGTYPE, b"ct101\n"),
    ("./" + "d" * 150 + "/long-name-file", tarfile.REGTYPE, b"x" * 1000),
    ("./big", tarfile.REGTYPE, b"\0" * 5000),
    ("./link", tarfile.SYMTYPE, "l" * 200),
    ("./pax-\u00e9", tarfile.REGTYPE, b"utf8 name"),
]


class TarEntryCounterTest(unittest.TestCase):
    def count(self, data, chunk):
        counter = dx.TarEntryCounter()
        for i in range(0, len(data), chunk):
            counter.feed(data[i:i + chunk])
        self.assertTrue(counter.in_sync)
        return counter.entries

    def test_pax_and_gnu_formats_any_chunking(self):
        for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
            data = _tar_bytes(fmt, MEMBERS)
            for chunk in (1, 7, 512, 513, 10240, len(data)):
                with self.subTest(fmt=fmt, chunk=chunk):
                    self.assertEqual(self.count(data, chunk), len(MEMBERS))

    def test_pax_size_override(self):
        # A pax 'size' record overrides the ustar field (tar does that for files >= 8 GiB).
        data = bytearray(_tar_bytes(tarfile.PAX_FORMAT, [("./a", tarfile.REGTYPE, b"y" * 600),
                                                         ("./b", tarfile.REGTYPE, b"z")]))
        pax = b"12 size=600\n"
        header = tarfile.TarInfo("././@PaxHeader")
        header.type, header.size = tarfile.XHDTYPE, len(pax)
        block = header.tobuf(tarfile.USTAR_FORMAT) + pax + b"\0" * (512 - len(pax))
        first = tarfile.TarInfo("./a")
        first.size = 0  # wrong on purpose: only the pax record says 600
        first_header = first.tobuf(tarfile.USTAR_FORMAT)
        rest = data[512:]  # data of ./a, then ./b
        self.assertEqual(self.count(block + first_header + rest, 100), 2)

    def test_real_gnu_tar_stream_with_sparse_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "sparse"), "wb") as f:
                for i in range(8):
                    f.seek(i * 65536)
                    f.write(b"data")
            os.mkdir(os.path.join(tmp, "dir"))
            os.symlink("sparse", os.path.join(tmp, "sym"))
            argv, _ = dx.tar_command(["./"], [])
            data = subprocess.run(argv, cwd=tmp, stdout=subprocess.PIPE, check=True).stdout
            expected = len(tarfile.open(fileobj=io.BytesIO(data)).getmembers())
            self.assertEqual(self.count(data, 4096), expected)
            self.assertEqual(expected, 4)

    def test_corrupt_header_stops_counting(self):
        data = bytearray(_tar_bytes(tarfile.PAX_FORMAT, MEMBERS))
        data[0] ^= 0xFF
        counter = dx.TarEntryCounter()
        counter.feed(bytes(data))
        self.assertFalse(counter.in_sync)
        self.assertEqual(counter.entries, 0)


class RestoreHelpersTest(unittest.TestCase):
    def test_parse_volname(self):
        self.assertEqual(dx.parse_volname(f"101/{STAMP}"), f"101/{STAMP}")
        self.assertEqual(dx.parse_volname(f"backup/101/{STAMP}"), f"101/{STAMP}")
        for bad in BAD_VOLNAMES:
            with self.subTest(volname=bad):
                self.assertIsNone(dx.parse_volname(bad))

    def test_run_directory_name_is_one_plain_component(self):
        self.assertEqual(dx.restore_run_name(f"101/{STAMP}", 4242),
                         "101_2025-04-04T13_32_04Z.4242")

    def test_extract_command(self):
        self.assertEqual(dx.tar_extract_command("/s/.restore/x.1"), [
            "tar", "-xpf", "-", "--numeric-owner", "--acls", "--xattrs", "--xattrs-include=*",
            "--sparse", "-C", "/s/.restore/x.1"])

    def test_hook_vmid(self):
        self.assertEqual(dx.hook_vmid({"vmid": "7"}), "7")
        self.assertEqual(dx.hook_vmid({"volname": f"backup/102/{STAMP}"}), "102")
        self.assertIsNone(dx.hook_vmid({"volname": "../x"}))
        self.assertIsNone(dx.hook_vmid(None))

    def test_remove_tree_handles_unwritable_directories_and_symlinks(self):
        with tempfile.TemporaryDirectory() as tmp:
            outside = os.path.join(tmp, "outside")
            os.mkdir(outside)
            open(os.path.join(outside, "keep"), "w").close()
            tree = os.path.join(tmp, "tree")
            os.makedirs(os.path.join(tree, "ro", "deep"))
            open(os.path.join(tree, "ro", "deep", "f"), "w").close()
            os.symlink(outside, os.path.join(tree, "ro", "link"))
            os.chmod(os.path.join(tree, "ro", "deep"), 0o000)
            os.chmod(os.path.join(tree, "ro"), 0o500)
            dx.remove_tree(tree)
            self.assertFalse(os.path.lexists(tree))
            self.assertTrue(os.path.exists(os.path.join(outside, "keep")))
            self.assertEqual(stat.S_IMODE(os.stat(outside).st_mode) & 0o700, 0o700)
            dx.remove_tree(tree)  # missing: fine


# Volnames every volname-taking method must refuse as invalid params (path safety).
BAD_VOLNAMES = [
    "", "101", f"../101/{STAMP}", f"101/../../{STAMP}", f"/101/{STAMP}", "/etc/passwd",
    f"101/{STAMP}/../x", f"101/{STAMP}/", f"101/{STAMP}.failed", "101/latest",
    f"1..1/{STAMP}", f"101\n/{STAMP}", f"backup/../101/{STAMP}", f"backup//101/{STAMP}",
    f"10 1/{STAMP}", f"101/{STAMP}\0", f"101/{STAMP}\n",
]


# --------------------------------------------------------------------------------------------
# The protocol, through a subprocess


class ProviderProcess:
    """Drives one provider instance; every stdout line must be a JSON-RPC message."""

    def __init__(self, env=None):
        self.proc = subprocess.Popen([PROVIDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.next_id = 0
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        self.buf = b""

    def send_line(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def read_line(self, timeout=REPLY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sel.select(left):
                return None
            data = os.read(self.proc.stdout.fileno(), 65536)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def request(self, method, params=None, timeout=REPLY_TIMEOUT):
        """Returns (response, notifications); response is None if none came in time."""
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send_line(json.dumps(msg))
        notes = []
        while True:
            line = self.read_line(timeout)
            if line is None:
                return None, notes
            msg = json.loads(line)
            assert msg.get("jsonrpc") == "2.0", line
            if "id" in msg:
                assert msg["id"] == self.next_id, line
                return msg, notes
            notes.append(msg)

    def call(self, method, params=None):
        response, notes = self.request(method, params)
        if response is None or "error" in response:
            raise AssertionError(f"{method} failed: {response}")
        return response["result"], notes

    def hello(self, config, role="main", version=1):
        return self.request("hello", {"api-version": version, "ctdump-version": "0.1.0",
                                      "role": role, "storage-id": "dir1",
                                      "storage-config": config})

    def shutdown(self):
        result, _ = self.call("shutdown")
        self.proc.stdin.close()
        return result, self.proc.wait(10)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if not f.closed:
                f.close()
        self.sel.close()


class ProtocolTestCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name
        self.store = os.path.join(self.tmp, "store")
        os.mkdir(self.store)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.close()
        self._tmp.cleanup()

    def start(self, config=None, role="main", env=None):
        p = ProviderProcess(env)
        self.procs.append(p)
        cfg = {"command": PROVIDER, "path": self.store}
        cfg.update(config or {})
        response, _ = p.hello(cfg, role)
        self.assertIn("result", response, response)
        return p

    def assertError(self, response, code, text):
        self.assertIsNotNone(response, "no response")
        self.assertIn("error", response, response)
        self.assertEqual(response["error"]["code"], code, response)
        self.assertIn(text, response["error"]["message"])


class HandshakeTest(ProtocolTestCase):
    def test_provider_is_executable(self):
        self.assertTrue(os.access(PROVIDER, os.X_OK))
        with open(PROVIDER) as f:
            self.assertEqual(f.readline().rstrip(), "#!/usr/bin/env python3")

    def test_hello_and_shutdown(self):
        p = ProviderProcess()
        self.procs.append(p)
        response, notes = p.hello({"path": self.store, "restore-mechanism": "tar"})
        self.assertEqual(response["result"]["api-version"], 1)
        self.assertEqual(response["result"]["provider-name"], "dir-example")
        self.assertEqual(sorted(response["result"]["features"]),
                         ["delete_backup", "list_backups", "update_attribute"])
        self.assertEqual(notes, [])
        self.assertEqual(p.shutdown(), (None, 0))

    def test_newer_ctdump_gets_version_1(self):
        p = ProviderProcess()
        self.procs.append(p)
        response, _ = p.hello({"path": self.store}, version=2)
        self.assertEqual(response["result"]["api-version"], 1)

    def test_version_0_is_refused(self):
        p = ProviderProcess()
        self.procs.append(p)
        response, _ = p.hello({"path": self.store}, version=0)
        self.assertError(response, 1, "unsupported api-version 0")

    def test_missing_path_is_a_clear_error(self):
        p = ProviderProcess()
        self.procs.append(p)
        response, _ = p.hello({"command": PROVIDER})
        self.assertError(response, 1, "required key 'path' is missing")

    def test_worker_needs_no_path(self):
        p = ProviderProcess()
        self.procs.append(p)
        response, _ = p.hello({}, role="worker")
        self.assertIn("result", response)

    def test_invalid_restore_mechanism(self):
        p = ProviderProcess()
        self.procs.append(p)
        response, _ = p.hello({"path": self.store, "restore-mechanism": "rsync"})
        self.assertError(response, 1, "invalid restore-mechanism 'rsync'")

    def test_bad_hello_params(self):
        p = ProviderProcess()
        self.procs.append(p)
        response, _ = p.request("hello", {"api-version": "1", "role": "main"})
        self.assertError(response, -32602, "'api-version'")
        response, _ = p.hello({"path": 7})
        self.assertError(response, -32602, "storage-config.path")

    def test_request_before_hello(self):
        p = ProviderProcess()
        self.procs.append(p)
        response, _ = p.request("job_init", {"start-time": START})
        self.assertError(response, 1, "before 'hello'")

    def test_eof_without_shutdown_exits(self):
        p = self.start()
        p.proc.stdin.close()
        self.assertEqual(p.proc.wait(10), 0)


class ErrorCodeTest(ProtocolTestCase):
    def test_unknown_method(self):
        p = self.start()
        response, _ = p.request("frobnicate", {})
        self.assertError(response, -32601, "'frobnicate' not found")

    def test_restore_methods_are_main_only(self):
        w = self.start(role="worker")
        for method in ("restore_get_mechanism", "archive_get_guest_config",
                       "archive_get_firewall_config", "restore_container_init",
                       "restore_container_cleanup"):
            with self.subTest(method=method):
                response, _ = w.request(method, {"volname": f"101/{STAMP}", "info": {}})
                self.assertError(response, -32601, "not available in role 'worker'")

    def test_role_separation(self):
        p = self.start()
        response, _ = p.request("backup_container", {})
        self.assertError(response, -32601, "not available in role 'main'")
        w = self.start(role="worker")
        response, _ = w.request("job_init", {"start-time": START})
        self.assertError(response, -32601, "not available in role 'worker'")

    def test_invalid_params_name_the_param(self):
        p = self.start()
        cases = [
            ("job_init", {}, "'start-time'"),
            ("job_init", {"start-time": "now"}, "'start-time' must be an integer"),
            ("backup_init", {"vmtype": "lxc", "start-time": START}, "'vmid'"),
            ("backup_init", {"vmid": "../x", "vmtype": "lxc", "start-time": START}, "'vmid'"),
            ("backup_init", {"vmid": "101", "vmtype": "lxc", "start-time": True}, "'start-time'"),
            ("backup_container_prepare", {"vmid": "101", "info": {}}, "'info.backup-user-id'"),
            ("backup_cleanup", {"vmid": "101", "success": "yes"}, "'success'"),
            ("delete_backup", {"volname": "nope"}, "'volname'"),
            ("list_backups", {"vmid": "../etc"}, "'vmid'"),
            ("update_attribute", {"volname": f"101/{STAMP}", "name": "color", "value": "red"},
             "'name'"),
            ("job_init", [1, 2], "params must be an object"),
            ("restore_get_mechanism", {}, "'volname'"),
            ("restore_container_init", {"volname": f"101/{STAMP}", "info": "storeid"},
             "'info' must be an object"),
            ("restore_container_cleanup", {"volname": 101}, "'volname' must be a string"),
        ]
        for method, params, text in cases:
            with self.subTest(method=method, params=params):
                response, _ = p.request(method, params)
                self.assertError(response, -32602, text)

    def test_worker_params(self):
        w = self.start(role="worker")
        base = {"vmid": "101", "guest-config": "", "exclude-patterns": [],
                "info": {"directory": self.tmp, "sources": ["./"], "backup-user-id": 0},
                "worker-state": {"backup-dir": self.store}}
        cases = [
            ({"exclude-patterns": ["a", 1]}, "'exclude-patterns' must be an array of strings"),
            ({"info": dict(base["info"], sources=["/etc"])}, "'info.sources'"),
            ({"info": dict(base["info"], sources=["./../x"])}, "'info.sources'"),
            ({"info": dict(base["info"], directory="rel")}, "'info.directory'"),
            ({"info": dict(base["info"], **{"bandwidth-limit": "fast"})},
             "'info.bandwidth-limit'"),
            ({"worker-state": {}}, "'worker-state.backup-dir'"),
        ]
        for change, text in cases:
            with self.subTest(text=text):
                response, _ = w.request("backup_container", dict(base, **change))
                self.assertError(response, -32602, text)

    def test_parse_error_then_continue(self):
        p = self.start()
        p.send_line("{not json")
        msg = json.loads(p.read_line())
        self.assertEqual(msg["error"]["code"], -32700)
        self.assertIsNone(msg["id"])
        self.assertEqual(p.shutdown(), (None, 0))

    def test_invalid_request(self):
        p = self.start()
        p.send_line('{"jsonrpc": "2.0", "id": 5}')
        msg = json.loads(p.read_line())
        self.assertEqual(msg["error"]["code"], -32600)
        self.assertEqual(msg["id"], 5)

    def test_notifications_from_ctdump_are_ignored(self):
        p = self.start()
        p.send_line('{"jsonrpc": "2.0", "method": "something", "params": {}}')
        self.assertEqual(p.call("job_cleanup", {})[0], None)


class JobTest(ProtocolTestCase):
    def test_job_init_checks_path(self):
        p = self.start({"path": os.path.join(self.tmp, "missing")})
        response, _ = p.request("job_init", {"start-time": START})
        self.assertError(response, 1, "does not exist")
        afile = os.path.join(self.tmp, "file")
        open(afile, "w").close()
        p = self.start({"path": afile})
        response, _ = p.request("job_init", {"start-time": START})
        self.assertError(response, 1, "is not a directory")

    def test_job_cleanup_is_idempotent(self):
        p = self.start()
        self.assertEqual(p.call("job_init", {"start-time": START})[0], None)
        self.assertEqual(p.call("job_cleanup", {})[0], None)
        self.assertEqual(p.call("job_cleanup", {})[0], None)

    def test_backup_init_archive_name(self):
        p = self.start()
        result, _ = p.call("backup_init", {"vmid": "101", "vmtype": "lxc", "start-time": START})
        self.assertEqual(result, {"archive-name": f"101/{STAMP}"})
        self.assertRegex(result["archive-name"], r"^[A-Za-z0-9\-.+=_/:]+$")

    def test_backup_init_refuses_existing_backup(self):
        os.makedirs(os.path.join(self.store, "101", STAMP))
        p = self.start()
        response, _ = p.request("backup_init", {"vmid": "101", "vmtype": "lxc",
                                                "start-time": START})
        self.assertError(response, 1, "already exists")

    def test_mechanism(self):
        p = self.start()
        result, _ = p.call("backup_get_mechanism", {"vmid": "101", "vmtype": "lxc"})
        self.assertEqual(result, {"mechanism": "directory"})
        response, _ = p.request("backup_get_mechanism", {"vmid": "101", "vmtype": "qemu"})
        self.assertError(response, 1, "'qemu' is not supported")

    def test_prepare_without_init(self):
        p = self.start()
        response, _ = p.request("backup_container_prepare",
                                {"vmid": "101", "info": {"backup-user-id": os.getuid()}})
        self.assertError(response, 1, "missing backup_init")

    def test_cleanup_failure_without_init_is_fine(self):
        p = self.start()
        result, _ = p.call("backup_cleanup", {"vmid": "7", "vmtype": None, "success": False,
                                              "info": {"error": "unable to find CT"}})
        self.assertIsNone(result)
        result, notes = p.call("backup_handle_log_file", {"vmid": "7", "filename": "/nonexistent"})
        self.assertIsNone(result)
        self.assertIn("not stored", notes[0]["params"]["message"])


def make_container_tree(root):
    """A small container-like tree with things the standard excludes remove."""
    files = {
        "etc/hostname": b"ct101\n",
        "etc/passwd": b"root:x:0:0::/root:/bin/sh\n",
        "tmp/junk": b"junk",
        "var/tmp/junk2": b"junk",
        "var/run/sshd.pid": b"42\n",
        "var/log/app.log": b"log line\n",
        "home/user/data.bin": os.urandom(200000),
        "lost+found/orphan": b"x",
        "mnt/data/inside-mp": b"mount point data\n",
    }
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    os.symlink("/etc/hostname", os.path.join(root, "hostname-link"))
    return files


class BackupFlowTest(ProtocolTestCase):
    """One container backup as ctdump drives it, with the worker as the current user."""

    def setUp(self):
        super().setUp()
        self.ct = os.path.join(self.tmp, "ct")
        os.mkdir(self.ct)
        self.files = make_container_tree(self.ct)
        self.logfile = os.path.join(self.tmp, "lxc-101.log")
        with open(self.logfile, "w") as f:
            f.write("INFO: Starting Backup of VM 101 (lxc)\n")
        self.info = {"directory": self.ct, "sources": ["./"], "backup-user-id": os.getuid(),
                     "firewall-config": ""}

    def prepare(self, main, vmid="101"):
        result, _ = main.call("backup_init", {"vmid": vmid, "vmtype": "lxc", "start-time": START})
        self.assertEqual(main.call("backup_get_mechanism", {"vmid": vmid, "vmtype": "lxc"})[0],
                         {"mechanism": "directory"})
        prep, _ = main.call("backup_container_prepare", {"vmid": vmid, "info": self.info})
        return result["archive-name"], prep["worker-state"]

    def run_worker(self, state, excludes, config=None, info=None, env=None):
        worker = self.start(config or {}, role="worker", env=env)
        response, notes = worker.request("backup_container", {
            "vmid": "101", "guest-config": "arch: amd64\nhostname: ct101\n",
            "exclude-patterns": excludes, "info": info or self.info, "worker-state": state})
        if response is not None and "result" in response:
            self.assertEqual(worker.shutdown(), (None, 0))
        return response, notes

    def test_full_backup(self):
        main = self.start({"probe-paths": "etc/passwd,missing"})
        self.assertIsNone(main.call("job_init", {"start-time": START})[0])
        archive, state = self.prepare(main)
        bdir = os.path.join(self.store, "101", STAMP)
        self.assertEqual(archive, f"101/{STAMP}")
        self.assertEqual(state, {"backup-dir": bdir})
        st = os.stat(bdir)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        self.assertEqual((st.st_uid, st.st_gid), (os.getuid(), os.getuid()))

        info = dict(self.info, **{"firewall-config": "[OPTIONS]\nenable: 1\n",
                                  "bandwidth-limit": 50 << 20})
        response, notes = self.run_worker(
            state, ["/tmp/?*", "/var/tmp/?*", "/var/run/?*.pid", "*.log", "/home/"],
            config={"probe-paths": "etc/passwd,missing"}, info=info)
        self.assertEqual(response["result"], None)
        logs = [n["params"] for n in notes if n["method"] == "log"]
        self.assertIn({"level": "warn", "message":
                       "tar does not match exclusion with a trailing slash '/home/'"}, logs)
        progress = [n["params"] for n in notes if n["method"] == "progress"]
        self.assertTrue(progress)
        sizes = [p["bytes"] for p in progress]
        self.assertEqual(sizes, sorted(sizes))
        self.assertEqual(sizes[-1], os.path.getsize(os.path.join(bdir, "archive.tar")))
        self.assertIsNone(progress[-1]["total-bytes"])

        with tarfile.open(os.path.join(bdir, "archive.tar")) as tar:
            names = {m.name.rstrip("/") for m in tar.getmembers()}
            self.assertEqual(progress[-1]["files"], len(tar.getmembers()))
            self.assertEqual(tar.extractfile("./etc/hostname").read(), b"ct101\n")
            self.assertEqual(tar.getmember("./hostname-link").linkname, "/etc/hostname")
        for present in ("./etc/passwd", "./tmp", "./var/tmp", "./home/user/data.bin",
                        "./mnt/data/inside-mp", "./var/run"):
            self.assertIn(present, names)
        for absent in ("./tmp/junk", "./var/tmp/junk2", "./var/run/sshd.pid",
                       "./var/log/app.log", "./lost+found", "./lost+found/orphan"):
            self.assertNotIn(absent, names)
        with open(os.path.join(bdir, "guest.conf")) as f:
            self.assertEqual(f.read(), "arch: amd64\nhostname: ct101\n")
        with open(os.path.join(bdir, "firewall.conf")) as f:
            self.assertEqual(f.read(), "[OPTIONS]\nenable: 1\n")
        with open(os.path.join(bdir, "worker-view.json")) as f:
            view = json.load(f)
        self.assertEqual((view["uid"], view["gid"]), (os.getuid(), os.getgid()))
        self.assertEqual(sorted(view["groups"]), sorted(os.getgroups()))
        passwd = view["probes"][0]
        self.assertEqual(passwd["path"], "etc/passwd")
        self.assertTrue(passwd["readable"])
        self.assertEqual(passwd["uid"], os.getuid())
        self.assertEqual(passwd["mode"], stat.S_IMODE(os.stat(
            os.path.join(self.ct, "etc/passwd")).st_mode))
        self.assertEqual(view["probes"][1], {"path": "missing", "exists": False,
                                             "error": "No such file or directory"})

        result, _ = main.call("backup_cleanup", {"vmid": "101", "vmtype": "lxc",
                                                 "success": True, "info": {}})
        self.assertEqual(result, {"stats": {"archive-size": dx.tree_size(bdir)}})
        self.assertIsNone(main.call("backup_handle_log_file",
                                    {"vmid": "101", "filename": self.logfile})[0])
        with open(os.path.join(bdir, "backup.log")) as f:
            self.assertIn("Starting Backup", f.read())
        self.assertIsNone(main.call("job_cleanup", {})[0])
        self.assertEqual(main.shutdown(), (None, 0))

    def test_no_firewall_file_when_empty_and_mount_point_source(self):
        main = self.start()
        _, state = self.prepare(main)
        info = dict(self.info, sources=["./", "./mnt/data"])
        response, _ = self.run_worker(state, [], info=info)
        bdir = state["backup-dir"]
        self.assertEqual(response["result"], None)
        self.assertFalse(os.path.exists(os.path.join(bdir, "firewall.conf")))
        with tarfile.open(os.path.join(bdir, "archive.tar")) as tar:
            self.assertIn("./mnt/data/inside-mp", tar.getnames())

    def test_suspend_mode_source_dot(self):
        main = self.start()
        _, state = self.prepare(main)
        response, _ = self.run_worker(state, ["/tmp/?*"], info=dict(self.info, sources=["."]))
        self.assertEqual(response["result"], None)
        with tarfile.open(os.path.join(state["backup-dir"], "archive.tar")) as tar:
            names = tar.getnames()
        self.assertIn("./etc/hostname", names)
        self.assertNotIn("./tmp/junk", names)

    def test_tar_stderr_is_relayed_as_warnings(self):
        main = self.start()
        _, state = self.prepare(main)
        info = dict(self.info, sources=["./", "./not-there"])
        response, notes = self.run_worker(state, [], info=info)
        self.assertEqual(response["result"], None)
        warns = [n["params"]["message"] for n in notes
                 if n["method"] == "log" and n["params"]["level"] == "warn"]
        self.assertTrue(any(w.startswith("tar: ./not-there:") for w in warns), warns)

    def fake_tar_env(self, exit_code):
        fakebin = os.path.join(self.tmp, "fakebin")
        os.makedirs(fakebin, exist_ok=True)
        with open(os.path.join(fakebin, "tar"), "w") as f:
            f.write("#!/bin/sh\necho 'tar: ./x: some message' >&2\n"
                    f"echo 'tar: final words {exit_code}' >&2\nprintf data\nexit {exit_code}\n")
        os.chmod(os.path.join(fakebin, "tar"), 0o755)
        return dict(os.environ, PATH=fakebin + os.pathsep + os.environ.get("PATH", ""))

    def test_tar_exit_2_is_an_error_naming_its_last_message(self):
        main = self.start()
        _, state = self.prepare(main)
        response, _ = self.run_worker(state, [], env=self.fake_tar_env(2))
        self.assertError(response, 1, "tar failed with exit code 2: tar: final words 2")
        self.assertFalse(os.path.exists(os.path.join(state["backup-dir"], "archive.tar")))

    def test_tar_exit_1_is_a_warning(self):
        main = self.start()
        _, state = self.prepare(main)
        response, notes = self.run_worker(state, [], env=self.fake_tar_env(1))
        self.assertEqual(response["result"], None)
        messages = [n["params"]["message"] for n in notes if n["method"] == "log"]
        self.assertIn("tar exited with code 1: some files changed while being read", messages)

    def test_failed_backup_is_kept_and_not_listed(self):
        main = self.start()
        _, state = self.prepare(main)
        bdir = state["backup-dir"]
        self.assertIsNone(main.call("backup_cleanup", {
            "vmid": "101", "vmtype": "lxc", "success": False,
            "info": {"error": "tar failed"}})[0])
        self.assertFalse(os.path.exists(bdir))
        self.assertTrue(os.path.isdir(bdir + ".failed"))
        main.call("backup_handle_log_file", {"vmid": "101", "filename": self.logfile})
        self.assertTrue(os.path.isfile(os.path.join(bdir + ".failed", "backup.log")))
        self.assertEqual(main.call("list_backups", {"vmid": None})[0], [])

    def test_failed_cleanup_after_success_cleanup_error(self):
        main = self.start()
        _, state = self.prepare(main)  # no worker ran: no archive.tar
        response, _ = main.request("backup_cleanup", {"vmid": "101", "vmtype": "lxc",
                                                      "success": True, "info": {}})
        self.assertError(response, 1, "has no archive.tar")
        main.call("backup_cleanup", {"vmid": "101", "vmtype": "lxc", "success": False,
                                     "info": {"error": "x"}})
        self.assertTrue(os.path.isdir(state["backup-dir"] + ".failed"))

    def test_abort_keeps_unfinished_backup_as_failed(self):
        main = self.start()
        _, state = self.prepare(main)
        main.proc.stdin.close()
        self.assertEqual(main.proc.wait(10), 0)
        self.assertTrue(os.path.isdir(state["backup-dir"] + ".failed"))

    def test_prepare_for_another_uid_needs_root(self):
        if os.getuid() == 0:
            self.skipTest("running as root: chown to any uid works")
        main = self.start()
        main.call("backup_init", {"vmid": "101", "vmtype": "lxc", "start-time": START})
        response, _ = main.request("backup_container_prepare", {
            "vmid": "101", "info": dict(self.info, **{"backup-user-id": 100000})})
        self.assertError(response, 1, "cannot prepare backup directory")


class ManageTest(ProtocolTestCase):
    def make_backup(self, vmid, stamp, size=10):
        bdir = os.path.join(self.store, vmid, stamp)
        os.makedirs(bdir)
        with open(os.path.join(bdir, "archive.tar"), "wb") as f:
            f.write(b"x" * size)
        with open(os.path.join(bdir, "guest.conf"), "w") as f:
            f.write("arch: amd64\n")
        return bdir

    def test_list_backups(self):
        self.make_backup("101", STAMP, 100)
        self.make_backup("101", "2025-04-05T00:00:00Z", 5)
        self.make_backup("102", STAMP)
        os.makedirs(os.path.join(self.store, "101", "2025-04-06T00:00:00Z.failed"))
        os.makedirs(os.path.join(self.store, "101", "2025-04-07T00:00:00Z"))  # unfinished
        os.makedirs(os.path.join(self.store, "101", "junk"))
        open(os.path.join(self.store, "stray-file"), "w").close()
        p = self.start()
        result, _ = p.call("list_backups", {"vmid": "101"})
        self.assertEqual(result, [
            {"volname": f"101/{STAMP}", "vmid": "101", "vmtype": "lxc", "ctime": START,
             "size": 112, "notes": None, "protected": False},
            {"volname": "101/2025-04-05T00:00:00Z", "vmid": "101", "vmtype": "lxc",
             "ctime": 1743811200, "size": 17, "notes": None, "protected": False},
        ])
        result, _ = p.call("list_backups", {"vmid": None})
        self.assertEqual([b["volname"] for b in result],
                         [f"101/{STAMP}", "101/2025-04-05T00:00:00Z", f"102/{STAMP}"])
        self.assertEqual(p.call("list_backups", {"vmid": "999"})[0], [])

    def test_notes_and_protection(self):
        bdir = self.make_backup("101", STAMP)
        vol = f"101/{STAMP}"
        p = self.start()
        p.call("update_attribute", {"volname": vol, "name": "notes", "value": "before upgrade"})
        p.call("update_attribute", {"volname": vol, "name": "protected", "value": True})
        (entry,), _ = p.call("list_backups", {"vmid": "101"})
        self.assertEqual(entry["notes"], "before upgrade")
        self.assertTrue(entry["protected"])
        response, _ = p.request("delete_backup", {"volname": vol})
        self.assertError(response, 1, f"backup '{vol}' is protected")
        self.assertTrue(os.path.isdir(bdir))
        p.call("update_attribute", {"volname": vol, "name": "protected", "value": False})
        p.call("update_attribute", {"volname": vol, "name": "notes", "value": ""})
        (entry,), _ = p.call("list_backups", {"vmid": "101"})
        self.assertEqual((entry["notes"], entry["protected"]), (None, False))
        self.assertIsNone(p.call("delete_backup", {"volname": vol})[0])
        self.assertFalse(os.path.exists(os.path.join(self.store, "101")))
        self.assertEqual(p.call("list_backups", {"vmid": None})[0], [])

    def test_pve_style_volname_is_accepted(self):
        self.make_backup("101", STAMP)
        p = self.start()
        self.assertIsNone(p.call("delete_backup", {"volname": f"backup/101/{STAMP}"})[0])

    def test_missing_backup(self):
        p = self.start()
        vol = f"101/{STAMP}"
        response, _ = p.request("delete_backup", {"volname": vol})
        self.assertError(response, 1, f"backup '{vol}' does not exist")
        response, _ = p.request("update_attribute", {"volname": vol, "name": "notes",
                                                     "value": "x"})
        self.assertError(response, 1, "does not exist")

    def test_bad_attribute_values(self):
        self.make_backup("101", STAMP)
        p = self.start()
        vol = f"101/{STAMP}"
        response, _ = p.request("update_attribute", {"volname": vol, "name": "notes",
                                                     "value": 5})
        self.assertError(response, -32602, "'value'")
        response, _ = p.request("update_attribute", {"volname": vol, "name": "protected",
                                                     "value": "maybe"})
        self.assertError(response, -32602, "'value'")
        response, _ = p.request("update_attribute", {"volname": vol, "name": "protected"})
        self.assertError(response, -32602, "'value'")


RESTORE_METHODS = ("restore_get_mechanism", "archive_get_guest_config",
                   "archive_get_firewall_config", "restore_container_init",
                   "restore_container_cleanup")

# Members of the tarfile-built archive.tar: (name, type, mode, uid, gid, data or link target).
RESTORE_MEMBERS = [
    ("./", tarfile.DIRTYPE, 0o755, 0, 0, None),
    ("./etc", tarfile.DIRTYPE, 0o755, 0, 0, None),
    ("./etc/hostname", tarfile.REGTYPE, 0o644, 0, 0, b"ct101\n"),
    ("./etc/shadow", tarfile.REGTYPE, 0o640, 0, 42, b"root:*:1::::::\n"),
    ("./usr/bin", tarfile.DIRTYPE, 0o755, 0, 0, None),
    ("./usr/bin/tool", tarfile.REGTYPE, 0o4755, 0, 0, b"#!/bin/sh\n"),
    ("./home/user", tarfile.DIRTYPE, 0o700, 1000, 1000, None),
    ("./home/user/notes.txt", tarfile.REGTYPE, 0o600, 1000, 1000, b"hello\n"),
    ("./srv/ro", tarfile.DIRTYPE, 0o555, 33, 33, None),
    ("./srv/ro/data", tarfile.REGTYPE, 0o444, 33, 33, b"read only\n"),
    ("./hostname-link", tarfile.SYMTYPE, 0o777, 0, 0, "/etc/hostname"),
    ("./etc/hostname-hard", tarfile.LNKTYPE, 0o644, 0, 0, "./etc/hostname"),
]


def write_tarfile_archive(path, members, with_root=True):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, mode, uid, gid, data in members:
            if name == "./" and not with_root:
                continue
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, gid, START
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = data
                tar.addfile(info)
            elif kind == tarfile.DIRTYPE:
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


class RestoreTest(ProtocolTestCase):
    """The restore methods, both mechanisms, on real backup directories."""

    def make_backup(self, vmid="101", stamp=STAMP, firewall=None, archive=None):
        bdir = os.path.join(self.store, vmid, stamp)
        os.makedirs(bdir)
        if archive is None:
            write_tarfile_archive(os.path.join(bdir, "archive.tar"), RESTORE_MEMBERS)
        else:
            with open(os.path.join(bdir, "archive.tar"), "wb") as f:
                f.write(archive)
        with open(os.path.join(bdir, "guest.conf"), "w") as f:
            f.write("arch: amd64\nhostname: ct101\nunprivileged: 1\n")
        if firewall is not None:
            with open(os.path.join(bdir, "firewall.conf"), "w") as f:
                f.write(firewall)
        return bdir

    def restore_root(self):
        return os.path.join(self.store, ".restore")

    # ---- restore_get_mechanism ---------------------------------------------------------

    def test_mechanism_default_is_tar(self):
        self.make_backup()
        p = self.start()
        result, _ = p.call("restore_get_mechanism", {"volname": f"101/{STAMP}"})
        self.assertEqual(result, {"mechanism": "tar", "vmtype": "lxc"})

    def test_mechanism_from_storage_key(self):
        self.make_backup()
        for mechanism in ("tar", "directory"):
            with self.subTest(mechanism=mechanism):
                p = self.start({"restore-mechanism": mechanism})
                result, _ = p.call("restore_get_mechanism", {"volname": f"backup/101/{STAMP}"})
                self.assertEqual(result, {"mechanism": mechanism, "vmtype": "lxc"})

    def test_unknown_backup_is_not_found(self):
        os.makedirs(os.path.join(self.store, "101", "2025-04-07T00:00:00Z"))  # unfinished
        p = self.start({"restore-mechanism": "directory"})
        for volname in (f"101/{STAMP}", f"backup/102/{STAMP}", "101/2025-04-07T00:00:00Z"):
            for method in RESTORE_METHODS[:4]:
                with self.subTest(volname=volname, method=method):
                    response, _ = p.request(method, {"volname": volname, "info": {}})
                    self.assertError(response, 1, f"backup '{volname}' not found")
        self.assertFalse(os.path.exists(self.restore_root()))

    def test_symlinked_archive_is_not_a_backup(self):
        bdir = self.make_backup()
        os.rename(os.path.join(bdir, "archive.tar"), os.path.join(self.tmp, "elsewhere.tar"))
        os.symlink(os.path.join(self.tmp, "elsewhere.tar"), os.path.join(bdir, "archive.tar"))
        p = self.start()
        response, _ = p.request("restore_get_mechanism", {"volname": f"101/{STAMP}"})
        self.assertError(response, 1, f"backup '101/{STAMP}' not found")

    def test_unsafe_volnames_are_invalid_params(self):
        self.make_backup()
        p = self.start({"restore-mechanism": "directory"})
        for method in RESTORE_METHODS:
            for volname in BAD_VOLNAMES:
                with self.subTest(method=method, volname=volname):
                    response, _ = p.request(method, {"volname": volname, "info": {}})
                    self.assertError(response, -32602, "'volname'")
        self.assertFalse(os.path.exists(self.restore_root()))

    # ---- configurations ----------------------------------------------------------------

    def test_guest_and_firewall_config(self):
        self.make_backup(firewall="[OPTIONS]\nenable: 1\n")
        self.make_backup(vmid="102")
        p = self.start()
        result, _ = p.call("archive_get_guest_config", {"volname": f"101/{STAMP}"})
        self.assertEqual(result, {"config": "arch: amd64\nhostname: ct101\nunprivileged: 1\n"})
        result, _ = p.call("archive_get_firewall_config", {"volname": f"backup/101/{STAMP}"})
        self.assertEqual(result, {"config": "[OPTIONS]\nenable: 1\n"})
        result, _ = p.call("archive_get_firewall_config", {"volname": f"102/{STAMP}"})
        self.assertEqual(result, {"config": None})

    def test_missing_guest_config(self):
        bdir = self.make_backup()
        os.unlink(os.path.join(bdir, "guest.conf"))
        p = self.start()
        response, _ = p.request("archive_get_guest_config", {"volname": f"101/{STAMP}"})
        self.assertError(response, 1, f"backup '101/{STAMP}' has no guest.conf")

    def test_config_symlinks_are_not_followed(self):
        bdir = self.make_backup()
        secret = os.path.join(self.tmp, "secret")
        with open(secret, "w") as f:
            f.write("password\n")
        os.unlink(os.path.join(bdir, "guest.conf"))
        os.symlink(secret, os.path.join(bdir, "guest.conf"))
        os.symlink(secret, os.path.join(bdir, "firewall.conf"))
        p = self.start()
        for method in ("archive_get_guest_config", "archive_get_firewall_config"):
            with self.subTest(method=method):
                response, _ = p.request(method, {"volname": f"101/{STAMP}"})
                self.assertError(response, 1, "Too many levels of symbolic links")
                self.assertNotIn("password", json.dumps(response))

    def test_config_from_a_separate_instance_without_init(self):
        self.make_backup()
        p = self.start({"restore-mechanism": "directory"})
        result, _ = p.call("archive_get_guest_config", {"volname": f"101/{STAMP}"})
        self.assertIn("hostname: ct101", result["config"])
        self.assertEqual(p.shutdown(), (None, 0))
        self.assertFalse(os.path.exists(self.restore_root()))

    # ---- tar mechanism -----------------------------------------------------------------

    def test_tar_mechanism(self):
        bdir = self.make_backup()
        p = self.start()
        vol = f"101/{STAMP}"
        self.assertEqual(p.call("restore_get_mechanism", {"volname": vol})[0]["mechanism"], "tar")
        result, _ = p.call("restore_container_init", {"volname": vol, "info": {}})
        self.assertEqual(result, {"tar-path": os.path.join(bdir, "archive.tar")})
        with tarfile.open(result["tar-path"]) as tar:
            self.assertIn("./etc/hostname", tar.getnames())
        self.assertIsNone(p.call("restore_container_cleanup", {"volname": vol, "info": {}})[0])
        self.assertIsNone(p.call("restore_container_cleanup", {"volname": vol, "info": {}})[0])
        self.assertTrue(os.path.isfile(result["tar-path"]))  # the backup stays
        self.assertFalse(os.path.exists(self.restore_root()))
        self.assertEqual(p.shutdown(), (None, 0))

    def test_info_is_optional(self):
        self.make_backup()
        p = self.start()
        self.assertIn("tar-path", p.call("restore_container_init",
                                         {"volname": f"101/{STAMP}"})[0])
        self.assertIsNone(p.call("restore_container_cleanup", {"volname": f"101/{STAMP}"})[0])

    # ---- directory mechanism -----------------------------------------------------------

    def init_directory(self, p, vol=f"101/{STAMP}"):
        self.assertEqual(p.call("restore_get_mechanism", {"volname": vol})[0],
                         {"mechanism": "directory", "vmtype": "lxc"})
        result, notes = p.call("restore_container_init", {"volname": vol, "info": {}})
        self.assertEqual(list(result), ["archive-directory"])
        return result["archive-directory"], notes

    def test_directory_mechanism_extracts_and_cleans_up(self):
        self.make_backup()
        p = self.start({"restore-mechanism": "directory"})
        run_dir, notes = self.init_directory(p)
        self.assertEqual(run_dir, os.path.join(self.restore_root(),
                                               f"101_2025-04-04T13_32_04Z.{p.proc.pid}"))
        messages = [n["params"]["message"] for n in notes if n["method"] == "log"]
        self.assertTrue(any(m.startswith("extracting ") for m in messages), messages)
        self.assertEqual(stat.S_IMODE(os.stat(self.restore_root()).st_mode), 0o700)
        self.assertEqual(os.stat(self.restore_root()).st_uid, os.geteuid())
        root = os.lstat(run_dir)
        self.assertEqual(stat.S_IMODE(root.st_mode), 0o755)  # the archive's './' (container /)

        for name, kind, mode, uid, gid, data in RESTORE_MEMBERS:
            path = os.path.join(run_dir, name)
            with self.subTest(member=name):
                st = os.lstat(path)
                if kind == tarfile.SYMTYPE:
                    self.assertTrue(stat.S_ISLNK(st.st_mode))
                    self.assertEqual(os.readlink(path), data)
                    continue
                if kind == tarfile.LNKTYPE:
                    self.assertTrue(os.path.samefile(path, os.path.join(run_dir, data)))
                    continue
                self.assertEqual(stat.S_IMODE(st.st_mode), mode)
                if os.geteuid() == 0:  # numeric owners are kept (container perspective)
                    self.assertEqual((st.st_uid, st.st_gid), (uid, gid))
                if kind == tarfile.REGTYPE:
                    with open(path, "rb") as f:
                        self.assertEqual(f.read(), data)
                else:
                    self.assertTrue(stat.S_ISDIR(st.st_mode))

        result, notes = p.call("restore_container_cleanup", {"volname": f"101/{STAMP}",
                                                             "info": {}})
        self.assertIsNone(result)
        self.assertFalse(os.path.exists(run_dir))
        self.assertFalse(os.path.exists(self.restore_root()))  # dropped once empty
        self.assertIn("removed the restore directory", notes[0]["params"]["message"])
        self.assertEqual(p.call("restore_container_cleanup", {"volname": f"101/{STAMP}",
                                                              "info": {}}), (None, []))
        self.assertTrue(os.path.isfile(os.path.join(self.store, "101", STAMP, "archive.tar")))
        self.assertEqual(p.shutdown(), (None, 0))

    def test_directory_without_root_member_stays_private(self):
        bdir = self.make_backup()
        write_tarfile_archive(os.path.join(bdir, "archive.tar"), RESTORE_MEMBERS,
                              with_root=False)
        p = self.start({"restore-mechanism": "directory"})
        run_dir, _ = self.init_directory(p)
        self.assertEqual(stat.S_IMODE(os.stat(run_dir).st_mode), 0o700)
        self.assertTrue(os.path.isfile(os.path.join(run_dir, "etc", "hostname")))

    def test_directory_round_trip_of_a_gnu_tar_backup(self):
        """archive.tar written by GNU tar with the backup command line, then restored."""
        ct = os.path.join(self.tmp, "ct")
        os.mkdir(ct)
        files = make_container_tree(ct)
        os.chmod(os.path.join(ct, "etc", "passwd"), 0o600)
        bdir = self.make_backup()
        argv, _ = dx.tar_command(["./"], ["/tmp/?*"])
        with open(os.path.join(bdir, "archive.tar"), "wb") as out:
            subprocess.run(argv, cwd=ct, stdout=out, check=True)
        p = self.start({"restore-mechanism": "directory"})
        run_dir, _ = self.init_directory(p, f"backup/101/{STAMP}")
        for rel, data in files.items():
            with self.subTest(path=rel):
                path = os.path.join(run_dir, rel)
                if rel.startswith(("tmp/", "lost+found/")):
                    self.assertFalse(os.path.exists(path))
                    continue
                with open(path, "rb") as f:
                    self.assertEqual(f.read(), data)
                self.assertEqual(os.lstat(path).st_mode,
                                 os.lstat(os.path.join(ct, rel)).st_mode)
        self.assertEqual(os.readlink(os.path.join(run_dir, "hostname-link")), "/etc/hostname")
        self.assertIsNone(p.call("restore_container_cleanup",
                                 {"volname": f"backup/101/{STAMP}", "info": {}})[0])
        self.assertFalse(os.path.exists(run_dir))

    def test_cleanup_without_init_is_fine(self):
        self.make_backup()
        p = self.start({"restore-mechanism": "directory"})
        for vol in (f"101/{STAMP}", f"999/{STAMP}"):  # an existing and a missing backup
            with self.subTest(volname=vol):
                self.assertEqual(p.call("restore_container_cleanup",
                                        {"volname": vol, "info": {}}), (None, []))
        self.assertFalse(os.path.exists(self.restore_root()))

    def test_second_init_starts_afresh(self):
        self.make_backup()
        p = self.start({"restore-mechanism": "directory"})
        run_dir, _ = self.init_directory(p)
        with open(os.path.join(run_dir, "stray"), "w") as f:
            f.write("from the first attempt")
        self.assertEqual(self.init_directory(p)[0], run_dir)
        self.assertFalse(os.path.exists(os.path.join(run_dir, "stray")))
        self.assertTrue(os.path.isfile(os.path.join(run_dir, "etc", "hostname")))
        p.call("restore_container_cleanup", {"volname": f"101/{STAMP}", "info": {}})
        self.assertFalse(os.path.exists(run_dir))

    def test_two_backups_get_separate_directories(self):
        self.make_backup()
        self.make_backup(vmid="102")
        p = self.start({"restore-mechanism": "directory"})
        first, _ = self.init_directory(p)
        second, _ = self.init_directory(p, f"102/{STAMP}")
        self.assertNotEqual(first, second)
        p.call("restore_container_cleanup", {"volname": f"101/{STAMP}", "info": {}})
        self.assertFalse(os.path.exists(first))
        self.assertTrue(os.path.isdir(second))
        p.call("restore_container_cleanup", {"volname": f"102/{STAMP}", "info": {}})
        self.assertFalse(os.path.exists(self.restore_root()))

    def test_broken_archive_fails_and_leaves_nothing(self):
        self.make_backup(archive=b"this is not a tar archive\n" * 100)
        p = self.start({"restore-mechanism": "directory"})
        response, notes = p.request("restore_container_init",
                                    {"volname": f"101/{STAMP}", "info": {}})
        self.assertError(response, 1, "tar failed with exit code 2: ")
        warns = [n["params"]["message"] for n in notes
                 if n["method"] == "log" and n["params"]["level"] == "warn"]
        self.assertTrue(any(w.startswith("tar: ") for w in warns), warns)
        self.assertFalse(os.path.exists(self.restore_root()))
        self.assertIsNone(p.call("restore_container_cleanup",
                                 {"volname": f"101/{STAMP}", "info": {}})[0])

    def test_abort_removes_the_run_directory(self):
        self.make_backup()
        p = self.start({"restore-mechanism": "directory"})
        run_dir, _ = self.init_directory(p)
        p.proc.stdin.close()
        self.assertEqual(p.proc.wait(10), 0)
        self.assertFalse(os.path.exists(run_dir))
        self.assertIn(b"removed the restore directory", p.proc.stderr.read())

    def test_restore_directory_is_not_listed(self):
        self.make_backup()
        p = self.start({"restore-mechanism": "directory"})
        self.init_directory(p)
        self.assertEqual([b["volname"] for b in p.call("list_backups", {"vmid": None})[0]],
                         [f"101/{STAMP}"])


class TestHooksTest(ProtocolTestCase):
    def test_fail(self):
        p = self.start({"test-fail": "job_init,backup_cleanup"})
        response, _ = p.request("job_init", {"start-time": START})
        self.assertError(response, 1, "injected failure in job_init")
        response, _ = p.request("backup_cleanup", {"vmid": "1", "success": False})
        self.assertError(response, 1, "injected failure in backup_cleanup")
        self.assertIsNone(p.call("job_cleanup", {})[0])

    def test_fail_hello(self):
        p = ProviderProcess()
        self.procs.append(p)
        response, _ = p.hello({"path": self.store, "test-fail": "hello"})
        self.assertError(response, 1, "injected failure in hello")

    def test_crash(self):
        p = self.start({"test-crash": "backup_init"})
        p.call("job_init", {"start-time": START})
        response, _ = p.request("backup_init", {"vmid": "101", "vmtype": "lxc",
                                                "start-time": START})
        self.assertIsNone(response)
        self.assertEqual(p.proc.wait(10), 3)
        self.assertIn(b"test-crash", p.proc.stderr.read())

    def test_crash_worker(self):
        w = self.start({"test-crash": "backup_container"}, role="worker")
        response, _ = w.request("backup_container", {})
        self.assertIsNone(response)
        self.assertEqual(w.proc.wait(10), 3)

    def test_hang(self):
        p = self.start({"test-hang": "job_init"})
        response, _ = p.request("job_init", {"start-time": START}, timeout=1.0)
        self.assertIsNone(response)
        self.assertIsNone(p.proc.poll())

    def test_garbage(self):
        p = self.start({"test-garbage": "backup_get_mechanism"})
        p.send_line(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "backup_get_mechanism",
                                "params": {"vmid": "1", "vmtype": "lxc"}}))
        line = p.read_line()
        with self.assertRaises(ValueError):
            json.loads(line)
        self.assertIn("backup_get_mechanism", line)
        self.assertEqual(p.shutdown(), (None, 0))

    def test_restore_methods_take_hooks(self):
        bdir = os.path.join(self.store, "101", STAMP)
        os.makedirs(bdir)
        write_tarfile_archive(os.path.join(bdir, "archive.tar"), RESTORE_MEMBERS)
        with open(os.path.join(bdir, "guest.conf"), "w") as f:
            f.write("arch: amd64\n")
        p = self.start({"test-fail": ",".join(RESTORE_METHODS)})
        for method in RESTORE_METHODS:
            with self.subTest(method=method):
                response, _ = p.request(method, {"volname": f"101/{STAMP}", "info": {}})
                self.assertError(response, 1, f"injected failure in {method}")
        p = self.start({"test-crash": "restore_container_init"})
        p.call("restore_get_mechanism", {"volname": f"101/{STAMP}"})
        response, _ = p.request("restore_container_init", {"volname": f"101/{STAMP}",
                                                           "info": {}})
        self.assertIsNone(response)
        self.assertEqual(p.proc.wait(10), 3)

    def test_test_vmid_matches_the_volname(self):
        p = self.start({"test-fail": "restore_container_cleanup", "test-vmid": "102"})
        self.assertIsNone(p.call("restore_container_cleanup",
                                 {"volname": f"101/{STAMP}", "info": {}})[0])
        response, _ = p.request("restore_container_cleanup",
                                {"volname": f"backup/102/{STAMP}", "info": {}})
        self.assertError(response, 1, "injected failure in restore_container_cleanup")

    def test_archive_name_and_mechanism(self):
        p = self.start({"test-archive-name": "bad name!", "test-mechanism": "nbd"})
        result, _ = p.call("backup_init", {"vmid": "101", "vmtype": "lxc", "start-time": START})
        self.assertEqual(result, {"archive-name": "bad name!"})
        result, _ = p.call("backup_get_mechanism", {"vmid": "101", "vmtype": "lxc"})
        self.assertEqual(result, {"mechanism": "nbd"})


if __name__ == "__main__":
    unittest.main()
