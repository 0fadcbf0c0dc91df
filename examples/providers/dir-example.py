#!/usr/bin/env python3
"""dir-example: a ctdump external backup provider that stores container backups in a directory.

It speaks ctdump provider protocol v1 (docs/provider-protocol.md): newline-delimited JSON-RPC 2.0
on stdin/stdout, one request at a time, `log` and `progress` notifications while a request runs,
diagnostics on stderr. It mirrors Proxmox VE's DirectoryExample provider (tar mode) and needs only
the Python standard library and GNU tar.

Layout on the storage (`path` from the storage configuration):

    <path>/<vmid>/<YYYY-MM-DDTHH:MM:SSZ>/        one backup, volname "<vmid>/<timestamp>"
        guest.conf        the container configuration (pct.conf text)
        firewall.conf     the firewall configuration, only if non-empty
        archive.tar       the file tree, container-perspective owners (GNU tar, POSIX format)
        worker-view.json  what the worker process saw (uid, gid, groups, probes)
        backup.log        the per-guest task log, added after the backup
        notes             optional notes (update_attribute)
        protected         present if the backup is protected
    <path>/<vmid>/<timestamp>.failed/            a failed backup kept for inspection (never listed)

    <path>/.restore/<vmid>_<timestamp>.<pid>/     a tree extracted for a `directory` restore
                                                  (the `.restore` directory has mode 0700)

Two instances run per container backup:
  * main (host root): job_init, backup_init, backup_get_mechanism, backup_container_prepare
    (creates the backup directory and chowns it to the container's root uid), backup_cleanup,
    backup_handle_log_file, job_cleanup, and the optional list_backups / delete_backup /
    update_attribute;
  * worker (container root inside a user namespace): backup_container only. It learns where to
    write from the `worker-state` the main instance returned from backup_container_prepare.

A restore uses one main instance: restore_get_mechanism, restore_container_init,
restore_container_cleanup, archive_get_guest_config and archive_get_firewall_config. The storage
key `restore-mechanism` chooses how the tree is handed over: `tar` (default) returns the path of
archive.tar; `directory` extracts archive.tar (GNU tar, as host root, owners kept numerically)
into a private run directory and returns that, removed again by restore_container_cleanup.

Test hooks (storage configuration keys, each a method name or a comma-separated list of them):
  test-fail, test-crash, test-hang, test-garbage; plus test-archive-name and test-mechanism.
  test-vmid restricts the method hooks to requests whose params name that vmid, directly or as
  the first part of `volname` (so a job of several containers can fail one and back up the next).
"""

import calendar
import errno
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
import traceback

API_VERSION = 1
PROVIDER_NAME = "dir-example"
FEATURES = ["list_backups", "delete_backup", "update_attribute"]

# JSON-RPC error codes used by the protocol.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
FAILURE = 1

ARCHIVE_FILE = "archive.tar"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
VMID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*\Z")  # \Z: no trailing newline
ARCHIVE_NAME_RE = re.compile(r"^[A-Za-z0-9\-.+=_/:]+$")
FAILED_SUFFIX = ".failed"
PENDING_FILE = ".pending"
GUEST_CONFIG_FILE = "guest.conf"
FIREWALL_CONFIG_FILE = "firewall.conf"
RESTORE_DIR = ".restore"  # below `path`; starts with '.', so list_backups never sees it
RESTORE_MECHANISMS = ("tar", "directory")
MAX_CONFIG_SIZE = 1 << 20  # guest.conf / firewall.conf larger than this are refused
MAX_RELAYED_TAR_LINES = 50
PROGRESS_INTERVAL = 0.5  # seconds between progress notifications (at most ~2/s)
TEST_HOOKS = ("test-fail", "test-crash", "test-hang", "test-garbage")
_GARBAGE = object()  # dispatch result meaning "answer with a non-JSON line" (test-garbage)


# --------------------------------------------------------------------------------------------
# Errors


class RpcError(Exception):
    """An error response: the message is the failure reason ctdump shows to the user."""

    def __init__(self, message, code=FAILURE):
        super().__init__(message)
        self.code = code
        self.message = message


class ParamError(RpcError):
    def __init__(self, message):
        super().__init__("invalid params: " + message, INVALID_PARAMS)


# --------------------------------------------------------------------------------------------
# Pure helpers (unit-tested without a process)


def archive_timestamp(start_time):
    """The UTC timestamp used in archive names and directory names, e.g. 2025-04-04T13:32:04Z."""
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(start_time))


def timestamp_to_epoch(timestamp):
    return calendar.timegm(time.strptime(timestamp, TIMESTAMP_FORMAT))


def tar_exclude_args(patterns):
    """Translates vzdump exclude-path globs into GNU tar arguments, exactly as vzdump does.

    A leading '/' anchors a pattern at the container root (`/x` becomes `./x`, matched with
    --anchored against member names such as `./x/y`); other patterns match at any depth
    (--no-anchored). lost+found is always excluded, like PVE's DirectoryExample. Returns
    (args, warnings): tar never matches a pattern with a trailing slash; like vzdump we pass it on
    anyway and warn about it.
    """
    unanchored, anchored, warnings = [], [], []
    for pattern in patterns:
        if not pattern:
            continue
        if pattern.endswith("/"):
            warnings.append(f"tar does not match exclusion with a trailing slash '{pattern}'")
        if pattern.startswith("/"):
            anchored.append("." + pattern)
        else:
            unanchored.append(pattern)
    args = ["--no-anchored", "--exclude=lost+found"]
    args += [f"--exclude={p}" for p in unanchored]
    args.append("--anchored")
    args += [f"--exclude={p}" for p in anchored]
    return args, warnings


def tar_command(sources, patterns):
    """The full tar command line (run with cwd = info.directory) and the exclusion warnings."""
    exclude_args, warnings = tar_exclude_args(patterns)
    argv = [
        "tar", "-cpf", "-",
        "--numeric-owner", "--sparse", "--acls", "--xattrs",
        "--xattrs-include=user.*", "--xattrs-include=security.capability",
        "--one-file-system", "--warning=no-file-ignored", "--ignore-failed-read",
    ]
    return argv + exclude_args + list(sources), warnings


class TokenBucket:
    """Rate limiter: `reserve(n, now)` takes n bytes and returns how long to sleep first.

    The bucket holds at most `burst` bytes of credit and refills at `rate` bytes/s. A reservation
    larger than the credit goes into debt, and the returned delay is the time the refill needs to
    pay it back, so the long-run throughput never exceeds `rate`. Time is passed in, which keeps
    the class pure and testable.
    """

    def __init__(self, rate, now, burst=None):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(rate / 4.0, 4096.0))
        self.tokens = self.burst
        self.stamp = now

    def reserve(self, nbytes, now):
        elapsed = max(0.0, now - self.stamp)
        self.stamp = max(self.stamp, now)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.tokens -= nbytes
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


def read_chunk_size(rate):
    """Bytes per read from tar: small enough that throttling stays smooth at low rates."""
    if not rate:
        return 1 << 20
    return int(min(1 << 20, max(512, rate // 8)))


class TarEntryCounter:
    """Counts the members of a tar stream fed in arbitrary chunks (for `progress.files`).

    Understands ustar/POSIX (pax `x`/`g` headers, including a pax `size` override), GNU long
    names (`L`/`K`) and old GNU sparse headers (`S` with extension blocks). If a header checksum
    does not match, it stops counting (`in_sync` becomes False) rather than guess.
    """

    BLOCK = 512
    _META_TYPES = b"xgLKXV"

    def __init__(self):
        self.entries = 0
        self.in_sync = True
        self._state = "header"  # header | pax | sparse-ext | skip
        self._need = self.BLOCK
        self._buf = bytearray()
        self._skip = 0
        self._pax_len = 0  # payload length of the pax header being read
        self._pax_size = None  # size override from the preceding pax header
        self._after_ext = 0  # data bytes to skip after sparse extension blocks

    def feed(self, data):
        view = memoryview(data)
        while view and self.in_sync:
            if self._state == "skip":
                n = min(self._skip, len(view))
                self._skip -= n
                view = view[n:]
                if self._skip == 0:
                    self._expect_header()
                continue
            n = min(self._need - len(self._buf), len(view))
            self._buf += view[:n]
            view = view[n:]
            if len(self._buf) == self._need:
                block = bytes(self._buf)
                self._buf.clear()
                self._consume(block)

    def _expect_header(self):
        self._state, self._need = "header", self.BLOCK

    def _skip_then_header(self, size):
        padded = (size + self.BLOCK - 1) // self.BLOCK * self.BLOCK
        if padded:
            self._state, self._skip = "skip", padded
        else:
            self._expect_header()

    def _consume(self, block):
        if self._state == "pax":
            self._pax_size = self._parse_pax_size(block[: self._pax_len])
            self._expect_header()
        elif self._state == "sparse-ext":
            if block[504] == 0:
                self._skip_then_header(self._after_ext)
        else:
            self._header(block)

    def _header(self, block):
        if block == bytes(self.BLOCK):
            return  # end-of-archive marker or record padding
        if not self._checksum_ok(block):
            self.in_sync = False
            return
        typeflag = block[156:157]
        size = self._parse_number(block[124:136])
        if typeflag in (b"x", b"X"):
            self._pax_len = size
            padded = (size + self.BLOCK - 1) // self.BLOCK * self.BLOCK
            if padded <= (1 << 20):
                self._state, self._need = "pax", padded
            else:
                self._skip_then_header(size)
            return
        if typeflag and typeflag in self._META_TYPES:
            self._skip_then_header(size)
            return
        self.entries += 1
        if self._pax_size is not None:
            size, self._pax_size = self._pax_size, None
        if typeflag == b"S" and block[482]:
            self._state, self._need, self._after_ext = "sparse-ext", self.BLOCK, size
            return
        self._skip_then_header(size)

    @staticmethod
    def _checksum_ok(block):
        try:
            expected = int(block[148:156].replace(b"\0", b" ").strip() or b"0", 8)
        except ValueError:
            return False
        actual = sum(block[:148]) + 32 * 8 + sum(block[156:])
        return expected == actual

    @staticmethod
    def _parse_number(field):
        if field[0] & 0x80:  # GNU base-256 encoding for large values
            return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
        text = field.replace(b"\0", b" ").strip()
        return int(text, 8) if text else 0

    @staticmethod
    def _parse_pax_size(payload):
        size = None
        pos = 0
        while pos < len(payload):
            space = payload.find(b" ", pos)
            if space < 0:
                break
            try:
                length = int(payload[pos:space])
            except ValueError:
                break
            if length <= 0:
                break
            record = payload[space + 1 : pos + length - 1]
            key, _, value = record.partition(b"=")
            if key == b"size":
                try:
                    size = int(value)
                except ValueError:
                    pass
            pos += length
        return size


class RateGate:
    """True at most once per `interval` seconds (the first call is always True)."""

    def __init__(self, interval):
        self.interval = interval
        self.last = None

    def ready(self, now):
        if self.last is None or now - self.last >= self.interval:
            self.last = now
            return True
        return False


def parse_hook_list(value):
    return {m.strip() for m in value.split(",") if m.strip()}


# --------------------------------------------------------------------------------------------
# Parameter validation


def params_object(params):
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ParamError("params must be an object")
    return params


def get_param(params, key, kind, optional=False, where=""):
    """Returns params[key] checked against `kind` (a type, tuple of types, or 'int')."""
    name = f"{where}{key}"
    if key not in params or params[key] is None:
        if optional:
            return None
        raise ParamError(f"missing parameter '{name}'")
    value = params[key]
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"'{name}' must be an integer")
    elif kind is bool:
        if not isinstance(value, bool):
            raise ParamError(f"'{name}' must be a boolean")
    elif not isinstance(value, kind):
        expected = {str: "a string", dict: "an object", list: "an array"}.get(kind, str(kind))
        raise ParamError(f"'{name}' must be {expected}")
    return value


def get_vmid(params):
    vmid = get_param(params, "vmid", str)
    if not VMID_RE.match(vmid):
        raise ParamError(f"'vmid' has an invalid value '{vmid}'")
    return vmid


def parse_volname(volname):
    """'<vmid>/<timestamp>' or PVE's 'backup/<vmid>/<timestamp>' → '<vmid>/<timestamp>', or None.

    The result is safe to join below `path`: no '..', no absolute path, no other characters than
    a vmid (VMID_RE) and a timestamp (TIMESTAMP_RE) separated by exactly one '/'.
    """
    if not isinstance(volname, str) or ".." in volname or volname.startswith("/"):
        return None
    name = volname[len("backup/"):] if volname.startswith("backup/") else volname
    vmid, _, stamp = name.partition("/")
    if not VMID_RE.match(vmid) or not TIMESTAMP_RE.match(stamp):
        return None
    return name


def get_volname(params):
    """Accepts '<vmid>/<timestamp>' (and PVE's 'backup/<vmid>/<timestamp>' form)."""
    volname = get_param(params, "volname", str)
    name = parse_volname(volname)
    if name is None:
        raise ParamError(f"'volname' must look like '<vmid>/<YYYY-MM-DDTHH:MM:SSZ>', "
                         f"got '{volname}'")
    return name


def restore_run_name(volname, pid):
    """Name of the private run directory of a `directory` restore: '<vmid>_<timestamp>.<pid>'.

    `volname` is a parsed volname; '/' and ':' become '_' so the name is one plain component.
    """
    return re.sub(r"[^A-Za-z0-9_.+=-]", "_", volname) + f".{pid}"


def tar_extract_command(run_dir):
    """GNU tar extracting the archive on stdin into `run_dir`, keeping numeric owners, modes,
    ACLs, all xattrs and holes (run as host root by the main instance)."""
    return ["tar", "-xpf", "-", "--numeric-owner", "--acls", "--xattrs", "--xattrs-include=*",
            "--sparse", "-C", run_dir]


def hook_vmid(params):
    """The vmid a request is about, for test-vmid: params.vmid or the vmid part of volname."""
    if not isinstance(params, dict):
        return None
    if isinstance(params.get("vmid"), str):
        return params["vmid"]
    name = parse_volname(params.get("volname"))
    return name.partition("/")[0] if name else None


def get_string_list(params, key, where=""):
    value = get_param(params, key, list, where=where)
    for item in value:
        if not isinstance(item, str):
            raise ParamError(f"'{where}{key}' must be an array of strings")
    return value


# --------------------------------------------------------------------------------------------
# File helpers


def tree_size(path):
    """Sum of the sizes of all regular files below `path`."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def write_file(path, text, mode=0o600):
    """Writes `text` to `path` via a temporary file and rename."""
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def os_error(what, err):
    return RpcError(f"{what}: {err.strerror or err}")


def open_regular_nofollow(path):
    """Opens `path` for reading without following a symlink in its last component and checks
    that it is a regular file. Returns the fd or raises OSError (ELOOP for a symlink)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_small_text(path, limit=MAX_CONFIG_SIZE):
    """The UTF-8 text of a small regular file (no symlink), or None if it does not exist."""
    try:
        fd = open_regular_nofollow(path)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise RpcError(f"'{path}' is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RpcError(f"'{path}' is not valid UTF-8: {err}")


def remove_tree(path):
    """Removes `path` without following symlinks; a missing `path` is fine.

    Host root removes anything. Without CAP_DAC_OVERRIDE (the unit tests), directories the
    archive made read-only or unsearchable are made accessible first and the removal retried.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    try:
        shutil.rmtree(path)
        return
    except PermissionError:
        pass
    os.chmod(path, 0o700)
    for root, dirs, _files in os.walk(path):  # top-down: fixed before os.walk lists them
        for name in dirs:
            sub = os.path.join(root, name)
            if not os.path.islink(sub):
                try:
                    os.chmod(sub, 0o700)
                except OSError:
                    pass
    shutil.rmtree(path)


def probe_path(directory, rel):
    """What the worker sees of `directory/rel`: owner, mode, and whether it can be read."""
    path = os.path.join(directory, rel.lstrip("/"))
    entry = {"path": rel}
    try:
        st = os.lstat(path)
    except OSError as err:
        entry.update({"exists": False, "error": err.strerror})
        return entry
    entry.update({"exists": True, "uid": st.st_uid, "gid": st.st_gid,
                  "mode": stat.S_IMODE(st.st_mode), "type": stat.filemode(st.st_mode)[0]})
    try:
        if stat.S_ISDIR(st.st_mode):
            with os.scandir(path) as it:
                next(it, None)
        elif stat.S_ISLNK(st.st_mode):
            os.readlink(path)
        else:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                os.read(fd, 1)
            finally:
                os.close(fd)
        entry["readable"] = True
    except OSError as err:
        entry["readable"] = False
        entry["error"] = err.strerror
    return entry


# --------------------------------------------------------------------------------------------
# Transport


class Channel:
    """Protocol output: one JSON object per line on the saved stdout, flushed, thread-safe."""

    def __init__(self, fd):
        self.fd = fd
        self.lock = threading.Lock()

    def _write_line(self, data):
        with self.lock:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]

    def send(self, obj):
        line = json.dumps(obj, ensure_ascii=True, separators=(",", ":")) + "\n"
        self._write_line(line.encode("ascii"))

    def send_raw(self, text):
        self._write_line(text.encode("utf-8") + b"\n")

    def result(self, req_id, result):
        self.send({"jsonrpc": "2.0", "id": req_id, "result": result})

    def error(self, req_id, code, message):
        self.send({"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}})

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def log(self, level, message):
        for line in str(message).splitlines() or [""]:
            self.notify("log", {"level": level, "message": line})

    def progress(self, nbytes, files, total=None):
        self.notify("progress", {"bytes": nbytes, "files": files, "total-bytes": total})


def stderr(message):
    print(f"dir-example[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The provider


class Backup:
    """Main-instance state of one container backup, kept from backup_init to the log file."""

    def __init__(self, vmid, archive_name, directory):
        self.vmid = vmid
        self.archive_name = archive_name
        self.dir = directory
        self.final_dir = None  # set by backup_cleanup: dir or dir.failed


class Provider:
    MAIN_METHODS = {
        "job_init", "job_cleanup", "backup_init", "backup_get_mechanism",
        "backup_container_prepare", "backup_cleanup", "backup_handle_log_file",
        "list_backups", "delete_backup", "update_attribute",
        "restore_get_mechanism", "archive_get_guest_config", "archive_get_firewall_config",
        "restore_container_init", "restore_container_cleanup",
    }
    WORKER_METHODS = {"backup_container"}

    def __init__(self, channel):
        self.ch = channel
        self.role = None
        self.storage_id = None
        self.config = {}
        self.hooks = {name: set() for name in TEST_HOOKS}
        self.backups = {}
        self.restores = {}  # parsed volname -> run directory of a `directory` restore
        self.shutdown_requested = False

    # ---- dispatch ------------------------------------------------------------------------

    def handle_line(self, line):
        try:
            msg = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            self.ch.error(None, PARSE_ERROR, f"parse error: {err}")
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("method"), str):
            self.ch.error(msg.get("id") if isinstance(msg, dict) else None,
                          INVALID_REQUEST, "invalid request: expected an object with 'method'")
            return
        if "id" not in msg:
            return  # a notification from ctdump: nothing defined yet, ignore
        req_id, method = msg["id"], msg["method"]
        try:
            result = self.dispatch(method, msg.get("params"))
        except RpcError as err:
            self.ch.error(req_id, err.code, err.message)
            return
        except Exception as err:  # a bug or an unexpected OS failure: still answer
            traceback.print_exc(file=sys.stderr)
            self.ch.error(req_id, FAILURE, f"{method} failed: {err}")
            return
        if result is _GARBAGE:
            self.ch.send_raw(f"this is not JSON: injected garbage in {method}")
            return
        self.ch.result(req_id, result)

    def dispatch(self, method, params):
        if method == "hello":
            if self.role is not None:
                raise RpcError("hello was already received")
            result = self.hello(params_object(params))
            return self.apply_hooks(method, result)
        if self.role is None:
            raise RpcError(f"protocol error: '{method}' before 'hello'")
        if method == "shutdown":
            result = self.apply_hooks(method, None)
            self.shutdown_requested = result is None
            return result
        if method not in self.MAIN_METHODS | self.WORKER_METHODS:
            raise RpcError(f"method '{method}' not found", METHOD_NOT_FOUND)
        allowed = self.WORKER_METHODS if self.role == "worker" else self.MAIN_METHODS
        if method not in allowed:
            raise RpcError(f"method '{method}' is not available in role '{self.role}'",
                           METHOD_NOT_FOUND)
        only = self.config.get("test-vmid")
        if not only or hook_vmid(params) == only:
            if self.apply_hooks(method, None) is _GARBAGE:
                return _GARBAGE
        return getattr(self, method)(params_object(params))

    def apply_hooks(self, method, result):
        if method in self.hooks["test-crash"]:
            stderr(f"test-crash: exiting with code 3 on '{method}'")
            os._exit(3)
        if method in self.hooks["test-hang"]:
            stderr(f"test-hang: hanging forever on '{method}'")
            while True:
                time.sleep(3600)
        if method in self.hooks["test-fail"]:
            raise RpcError(f"injected failure in {method}")
        if method in self.hooks["test-garbage"]:
            return _GARBAGE
        return result

    # ---- handshake -----------------------------------------------------------------------

    def hello(self, params):
        version = get_param(params, "api-version", "int")
        role = get_param(params, "role", str)
        if role not in ("main", "worker"):
            raise ParamError(f"'role' must be 'main' or 'worker', got '{role}'")
        storage_id = get_param(params, "storage-id", str)
        config = get_param(params, "storage-config", dict)
        for key, value in config.items():
            if not isinstance(value, str):
                raise ParamError(f"'storage-config.{key}' must be a string")
        if version < 1:
            raise RpcError(f"unsupported api-version {version} (this provider speaks 1)")
        mechanism = config.get("restore-mechanism")
        if mechanism is not None and mechanism not in RESTORE_MECHANISMS:
            raise RpcError(f"storage '{storage_id}': invalid restore-mechanism '{mechanism}' "
                           "(expected 'tar' or 'directory')")
        if role == "main":
            path = config.get("path")
            if not path:
                raise RpcError(f"storage '{storage_id}': required key 'path' is missing in the "
                               "storage configuration")
            if not os.path.isabs(path):
                raise RpcError(f"storage '{storage_id}': 'path' must be absolute, got '{path}'")
        self.role, self.storage_id, self.config = role, storage_id, config
        self.hooks = {name: parse_hook_list(config.get(name, "")) for name in TEST_HOOKS}
        return {"api-version": min(version, API_VERSION), "provider-name": PROVIDER_NAME,
                "features": list(FEATURES), "restore-mechanisms": list(RESTORE_MECHANISMS)}

    def hook_applies(self, vmid):
        only = self.config.get("test-vmid")
        return not only or only == vmid

    @property
    def path(self):
        return os.path.normpath(self.config["path"])

    # ---- job level -----------------------------------------------------------------------

    def job_init(self, params):
        get_param(params, "start-time", "int")
        path = self.path
        if not os.path.exists(path):
            raise RpcError(f"backup path '{path}' does not exist")
        if not os.path.isdir(path):
            raise RpcError(f"backup path '{path}' is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise RpcError(f"backup path '{path}' is not writable")
        return None

    def job_cleanup(self, params):
        return None  # nothing held between containers; trivially idempotent

    # ---- per container, main instance ----------------------------------------------------

    def backup_init(self, params):
        vmid = get_vmid(params)
        vmtype = get_param(params, "vmtype", str)
        start_time = get_param(params, "start-time", "int")
        if vmtype != "lxc":
            raise RpcError(f"guest type '{vmtype}' is not supported (only 'lxc')")
        volname = f"{vmid}/{archive_timestamp(start_time)}"
        directory = os.path.join(self.path, volname)
        if os.path.lexists(directory):
            raise RpcError(f"backup '{volname}' already exists in '{self.path}'")
        archive_name = volname
        if self.hook_applies(vmid):
            archive_name = self.config.get("test-archive-name", volname)
        leftover = self._pending(vmid)
        if leftover and leftover != volname:  # a job killed before its backup_cleanup
            if self._mark_failed(Backup(vmid, leftover, os.path.join(self.path, leftover))):
                self.ch.log("info", f"marked the unfinished backup '{leftover}' failed")
        self._set_pending(vmid, volname)
        self.backups[vmid] = Backup(vmid, archive_name, directory)
        return {"archive-name": archive_name}

    # A backup is pending from backup_init until a successful backup_cleanup: the mark
    # <path>/<vmid>/.pending (the volname) is on disk, so that a new main instance, started
    # after the old one died, can still mark a failed backup failed (protocol section 9), and
    # a pending backup is never listed or restored.

    def _pending_file(self, vmid):
        return os.path.join(self.path, vmid, PENDING_FILE)

    def _pending(self, vmid):
        try:
            with open(self._pending_file(vmid), encoding="utf-8") as f:
                volname = f.read().strip()
        except OSError:
            return None
        return volname if volname.startswith(vmid + "/") else None

    def _set_pending(self, vmid, volname):
        try:
            os.makedirs(os.path.join(self.path, vmid), mode=0o755, exist_ok=True)
            with open(self._pending_file(vmid), "w", encoding="utf-8") as f:
                f.write(volname + "\n")
        except OSError as err:
            raise os_error(f"cannot mark backup '{volname}' pending", err)

    def _clear_pending(self, vmid):
        try:
            os.unlink(self._pending_file(vmid))
        except FileNotFoundError:
            pass

    def backup_get_mechanism(self, params):
        vmid = get_vmid(params)
        vmtype = get_param(params, "vmtype", str)
        if "test-mechanism" in self.config and self.hook_applies(vmid):
            return {"mechanism": self.config["test-mechanism"]}
        if vmtype != "lxc":
            raise RpcError(f"guest type '{vmtype}' is not supported (only 'lxc')")
        return {"mechanism": "directory"}

    def _backup(self, vmid, method):
        backup = self.backups.get(vmid)
        if backup is None:
            raise RpcError(f"{method}: no backup of '{vmid}' in progress (missing backup_init)")
        return backup

    def backup_container_prepare(self, params):
        vmid = get_vmid(params)
        info = get_param(params, "info", dict)
        user_id = get_param(info, "backup-user-id", "int", where="info.")
        backup = self._backup(vmid, "backup_container_prepare")
        try:
            os.makedirs(os.path.dirname(backup.dir), mode=0o755, exist_ok=True)
            os.makedirs(backup.dir, mode=0o700, exist_ok=True)
            os.chmod(backup.dir, 0o700)
            os.chown(backup.dir, user_id, user_id)
        except OSError as err:
            raise os_error(f"cannot prepare backup directory '{backup.dir}'", err)
        self._warn_unreachable(backup.dir, user_id)
        return {"worker-state": {"backup-dir": backup.dir}}

    def _warn_unreachable(self, directory, uid):
        """The worker runs as `uid` on the host: every ancestor must let it pass."""
        if uid == 0:
            return
        parent = os.path.dirname(directory)
        while True:
            try:
                st = os.stat(parent)
            except OSError:
                break
            if st.st_uid == uid:
                ok = st.st_mode & stat.S_IXUSR
            elif st.st_gid == uid:
                ok = st.st_mode & stat.S_IXGRP
            else:
                ok = st.st_mode & stat.S_IXOTH
            if not ok:
                self.ch.log("warn", f"directory '{parent}' is not searchable by uid {uid}; "
                                    "the worker will not be able to write the backup")
                break
            if parent == "/":
                break
            parent = os.path.dirname(parent)

    def backup_cleanup(self, params):
        vmid = get_vmid(params)
        get_param(params, "vmtype", str, optional=True)
        success = get_param(params, "success", bool)
        get_param(params, "info", dict, optional=True)
        backup = self.backups.get(vmid)
        if success:
            backup = self._backup(vmid, "backup_cleanup")
            if not os.path.isdir(backup.dir):
                raise RpcError(f"backup directory '{backup.dir}' does not exist")
            if not os.path.isfile(os.path.join(backup.dir, ARCHIVE_FILE)):
                raise RpcError(f"backup '{backup.archive_name}' has no {ARCHIVE_FILE}")
            backup.final_dir = backup.dir
            self._clear_pending(vmid)
            return {"stats": {"archive-size": tree_size(backup.dir)}}
        if backup is None and self._pending(vmid):  # a new instance after a crash
            volname = self._pending(vmid)
            backup = Backup(vmid, volname, os.path.join(self.path, volname))
        if backup is not None and self._mark_failed(backup):
            self.ch.log("info", f"kept failed backup for inspection in '{backup.final_dir}'")
        self._clear_pending(vmid)
        return None

    def _mark_failed(self, backup):
        """Renames the backup directory to '<dir>.failed'; returns True if it did."""
        failed = backup.dir + FAILED_SUFFIX
        renamed = False
        if os.path.isdir(backup.dir):
            if os.path.lexists(failed):
                shutil.rmtree(failed, ignore_errors=True)  # an older failure of the same second
            try:
                os.rename(backup.dir, failed)
            except OSError as err:
                raise os_error(f"cannot rename '{backup.dir}' to '{failed}'", err)
            renamed = True
        backup.final_dir = failed if os.path.isdir(failed) else None
        return renamed

    def backup_handle_log_file(self, params):
        vmid = get_vmid(params)
        filename = get_param(params, "filename", str)
        backup = self.backups.pop(vmid, None)
        target = None
        if backup is not None:
            candidates = [backup.final_dir, backup.dir, backup.dir + FAILED_SUFFIX]
            target = next((d for d in candidates if d and os.path.isdir(d)), None)
        if target is None:
            self.ch.log("info", f"no backup directory for '{vmid}', log file not stored")
            return None
        try:
            shutil.copyfile(filename, os.path.join(target, "backup.log"))
        except OSError as err:
            raise os_error(f"cannot copy log file '{filename}' to '{target}'", err)
        return None

    def abort(self):
        """stdin closed without shutdown: keep unfinished backups as '.failed' and remove the
        run directories of restores that were not cleaned up.

        No request is running, so this reports on stderr only (no notifications)."""
        for name in list(self.restores):
            try:
                self._remove_restore(name)
                stderr(f"aborted: removed the restore directory of backup '{name}'")
            except RpcError as err:
                stderr(err.message)
        for backup in list(self.backups.values()):
            if backup.final_dir is None:
                try:
                    if self._mark_failed(backup):
                        stderr(f"aborted: kept unfinished backup in '{backup.final_dir}'")
                except RpcError as err:
                    stderr(err.message)

    # ---- optional methods ----------------------------------------------------------------

    def _backup_dir(self, volname):
        return os.path.join(self.path, volname)

    def list_backups(self, params):
        vmid = get_vmid(params) if params.get("vmid") is not None else None
        try:
            vmids = [vmid] if vmid is not None else sorted(os.listdir(self.path))
        except OSError as err:
            raise os_error(f"cannot list '{self.path}'", err)
        result = []
        for vm in vmids:
            vmdir = os.path.join(self.path, vm)
            if not VMID_RE.match(vm) or not os.path.isdir(vmdir):
                continue
            for stamp in sorted(os.listdir(vmdir)):
                bdir = os.path.join(vmdir, stamp)
                if not TIMESTAMP_RE.match(stamp) or not os.path.isfile(
                        os.path.join(bdir, ARCHIVE_FILE)) or self._pending(vm) == f"{vm}/{stamp}":
                    continue  # not a backup, unfinished, or '.failed'
                result.append(self._describe(vm, stamp, bdir))
        return result

    @staticmethod
    def _describe(vmid, stamp, bdir):
        notes = None
        try:
            with open(os.path.join(bdir, "notes"), encoding="utf-8") as f:
                notes = f.read()
        except FileNotFoundError:
            pass
        return {"volname": f"{vmid}/{stamp}", "vmid": vmid, "vmtype": "lxc",
                "ctime": timestamp_to_epoch(stamp), "size": tree_size(bdir), "notes": notes,
                "protected": os.path.exists(os.path.join(bdir, "protected"))}

    def _existing(self, volname):
        bdir = self._backup_dir(volname)
        if not os.path.isdir(bdir):
            raise RpcError(f"backup '{volname}' does not exist")
        return bdir

    def delete_backup(self, params):
        volname = get_volname(params)
        bdir = self._existing(volname)
        if os.path.exists(os.path.join(bdir, "protected")):
            raise RpcError(f"backup '{volname}' is protected")
        try:
            shutil.rmtree(bdir)
        except OSError as err:
            raise os_error(f"cannot delete backup '{volname}'", err)
        try:
            os.rmdir(os.path.dirname(bdir))  # drop the per-vmid directory once empty
        except OSError:
            pass
        return None

    def update_attribute(self, params):
        volname = get_volname(params)
        name = get_param(params, "name", str)
        if name not in ("notes", "protected"):
            raise ParamError(f"'name' must be 'notes' or 'protected', got '{name}'")
        if "value" not in params:
            raise ParamError("missing parameter 'value'")
        value = params["value"]
        bdir = self._existing(volname)
        try:
            if name == "notes":
                if value is not None and not isinstance(value, str):
                    raise ParamError("'value' must be a string for 'notes'")
                notes = os.path.join(bdir, "notes")
                if value:
                    write_file(notes, value, 0o644)
                elif os.path.exists(notes):
                    os.unlink(notes)
            else:
                flag = os.path.join(bdir, "protected")
                if isinstance(value, bool):
                    on = value
                elif value in ("1", "0", 1, 0):
                    on = value in ("1", 1)
                else:
                    raise ParamError("'value' must be a boolean for 'protected'")
                if on:
                    open(flag, "a").close()
                elif os.path.exists(flag):
                    os.unlink(flag)
        except OSError as err:
            raise os_error(f"cannot update {name} of backup '{volname}'", err)
        return None

    # ---- restore (main instance, host root) ----------------------------------------------

    def restore_mechanism(self, params):
        """The optional param 'mechanism' (ctdump restore --mechanism), else the storage's
        restore-mechanism key (default tar)."""
        mechanism = params.get("mechanism")
        if mechanism is None:
            return self.config.get("restore-mechanism", "tar")
        if mechanism not in RESTORE_MECHANISMS:
            raise ParamError(f"'mechanism' must be 'tar' or 'directory', got {mechanism!r}")
        return mechanism

    def _restore_source(self, params):
        """(parsed volname, backup directory) of a complete backup, or the 'not found' error.

        A backup is complete when its directory holds archive.tar, as in list_backups; an
        unfinished or '.failed' backup is not found."""
        volname = get_param(params, "volname", str)
        name = get_volname(params)
        bdir = self._backup_dir(name)
        try:
            st = os.lstat(os.path.join(bdir, ARCHIVE_FILE))
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode) or os.path.islink(bdir):
            raise RpcError(f"backup '{volname}' not found")
        return name, bdir

    def restore_get_mechanism(self, params):
        self._restore_source(params)
        return {"mechanism": self.restore_mechanism(params), "vmtype": "lxc"}

    def archive_get_guest_config(self, params):
        name, bdir = self._restore_source(params)
        try:
            config = read_small_text(os.path.join(bdir, GUEST_CONFIG_FILE))
        except OSError as err:
            raise os_error(f"cannot read the guest configuration of backup '{name}'", err)
        if config is None:
            raise RpcError(f"backup '{name}' has no {GUEST_CONFIG_FILE}")
        return {"config": config}

    def archive_get_firewall_config(self, params):
        name, bdir = self._restore_source(params)
        try:
            config = read_small_text(os.path.join(bdir, FIREWALL_CONFIG_FILE))
        except OSError as err:
            raise os_error(f"cannot read the firewall configuration of backup '{name}'", err)
        return {"config": config}

    def _restore_run_dir(self, name):
        return os.path.join(self.path, RESTORE_DIR, restore_run_name(name, os.getpid()))

    def restore_container_init(self, params):
        get_param(params, "info", dict, optional=True)
        name, bdir = self._restore_source(params)
        archive = os.path.join(bdir, ARCHIVE_FILE)
        if self.restore_mechanism(params) == "tar":
            self.ch.log("info", f"restoring backup '{name}' from '{archive}'")
            return {"tar-path": archive}
        self._remove_restore(name)  # a second init for the same backup starts afresh
        run_dir = self._restore_run_dir(name)
        try:
            fd = open_regular_nofollow(archive)
        except OSError as err:
            raise os_error(f"cannot open '{archive}'", err)
        try:
            self._make_run_dir(run_dir)
            self.restores[name] = run_dir
            self.ch.log("info", f"extracting '{archive}' into '{run_dir}'")
            self._extract(fd, run_dir)
        except BaseException:
            try:
                self._remove_restore(name)
            except RpcError as err:
                self.ch.log("warn", err.message)
            raise
        finally:
            os.close(fd)
        return {"archive-directory": run_dir}

    @staticmethod
    def _make_run_dir(run_dir):
        """Creates `<path>/.restore` (0700, host root's) and the run directory (0700) in it."""
        parent = os.path.dirname(run_dir)
        try:
            try:
                os.mkdir(parent, 0o700)
            except FileExistsError:
                pass
            st = os.lstat(parent)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                raise RpcError(f"'{parent}' is not a directory owned by uid {os.geteuid()}")
            os.chmod(parent, 0o700)
            remove_tree(run_dir)  # left over by a crashed process with the same pid
            os.mkdir(run_dir, 0o700)
        except OSError as err:
            raise os_error(f"cannot create restore directory '{run_dir}'", err)

    def _extract(self, fd, run_dir):
        """Runs GNU tar on the archive (fd on stdin) into `run_dir`; its stderr becomes warnings."""
        started = time.monotonic()
        env = dict(os.environ, LC_ALL="C")
        try:
            proc = subprocess.run(tar_extract_command(run_dir), stdin=fd,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        except OSError as err:
            raise os_error("cannot run tar", err)
        lines = [l for l in proc.stderr.decode("utf-8", errors="replace").splitlines() if l]
        for line in lines[:MAX_RELAYED_TAR_LINES]:
            self.ch.log("warn", line)
        if len(lines) > MAX_RELAYED_TAR_LINES:
            self.ch.log("warn", f"... {len(lines) - MAX_RELAYED_TAR_LINES} more tar messages")
        if proc.returncode < 0:
            raise RpcError(f"tar was killed by signal {-proc.returncode}")
        if proc.returncode != 0:
            last = lines[-1] if lines else "no message"
            raise RpcError(f"tar failed with exit code {proc.returncode}: {last}")
        self.ch.log("info", f"extracted in {time.monotonic() - started:.1f} s")

    def _remove_restore(self, name):
        """Removes the run directory of `name` (remembered, or this process's by its name).
        Returns whether there was one."""
        run_dir = self.restores.get(name) or self._restore_run_dir(name)
        existed = os.path.lexists(run_dir)
        try:
            remove_tree(run_dir)
        except OSError as err:
            raise os_error(f"cannot remove restore directory '{run_dir}'", err)
        self.restores.pop(name, None)
        try:
            os.rmdir(os.path.dirname(run_dir))  # drop '.restore' once empty
        except OSError:
            pass
        return existed

    def restore_container_cleanup(self, params):
        """Idempotent; fine without restore_container_init and for a deleted backup."""
        get_param(params, "info", dict, optional=True)
        name = get_volname(params)
        if name in self.restores or self.restore_mechanism(params) == "directory":
            if self._remove_restore(name):
                self.ch.log("info", f"removed the restore directory of backup '{name}'")
        return None

    # ---- worker --------------------------------------------------------------------------

    def backup_container(self, params):
        vmid = get_vmid(params)
        guest_config = get_param(params, "guest-config", str)
        patterns = get_string_list(params, "exclude-patterns")
        info = get_param(params, "info", dict)
        directory = get_param(info, "directory", str, where="info.")
        sources = get_string_list(info, "sources", where="info.")
        get_param(info, "backup-user-id", "int", where="info.")
        firewall = get_param(info, "firewall-config", str, optional=True, where="info.")
        bwlimit = get_param(info, "bandwidth-limit", "int", optional=True, where="info.")
        state = get_param(params, "worker-state", dict)
        backup_dir = get_param(state, "backup-dir", str, where="worker-state.")
        if not os.path.isabs(directory):
            raise ParamError(f"'info.directory' must be an absolute path, got '{directory}'")
        if not sources:
            raise ParamError("'info.sources' must not be empty")
        for src in sources:
            if src.startswith(("/", "-")) or ".." in src.split("/"):
                raise ParamError(f"'info.sources' entry '{src}' must be relative to the directory")
        if bwlimit is not None and bwlimit < 0:
            raise ParamError("'info.bandwidth-limit' must not be negative")

        try:
            self._write_worker_view(backup_dir, directory)
            write_file(os.path.join(backup_dir, "guest.conf"), guest_config)
            if firewall:
                write_file(os.path.join(backup_dir, "firewall.conf"), firewall)
        except OSError as err:
            raise os_error(f"cannot write to backup directory '{backup_dir}'", err)

        argv, warnings = tar_command(sources, patterns)
        for warning in warnings:
            self.ch.log("warn", warning)
        limit = f", bandwidth limit {bwlimit} B/s" if bwlimit else ""
        self.ch.log("info", f"backing up {', '.join(sources)} of CT {vmid} from {directory}"
                            f" to {backup_dir}{limit}")
        TarRun(self.ch, argv, directory, os.path.join(backup_dir, ARCHIVE_FILE), bwlimit).run()
        return None

    def _write_worker_view(self, backup_dir, directory):
        view = {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups()}
        probes = [p.strip() for p in self.config.get("probe-paths", "").split(",") if p.strip()]
        if probes:
            view["probes"] = [probe_path(directory, p) for p in probes]
        write_file(os.path.join(backup_dir, "worker-view.json"), json.dumps(view, indent=1) + "\n")


class TarRun:
    """Runs tar, copies its stdout to `target` (throttled), relays stderr and progress."""

    def __init__(self, channel, argv, cwd, target, bwlimit):
        self.ch = channel
        self.argv = argv
        self.cwd = cwd
        self.target = target
        self.bwlimit = bwlimit or None
        self.last_message = None

    def _relay_stderr(self, pipe):
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if line:
                self.last_message = line
                try:
                    self.ch.log("warn", line)
                except OSError:
                    pass  # ctdump is gone; keep draining so tar never blocks on stderr

    def run(self):
        partial = self.target + ".partial"
        env = dict(os.environ, LC_ALL="C")
        try:
            proc = subprocess.Popen(self.argv, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        except OSError as err:
            raise os_error(f"cannot run tar in '{self.cwd}'", err)
        relay = threading.Thread(target=self._relay_stderr, args=(proc.stderr,), daemon=True)
        relay.start()
        started = time.monotonic()
        try:
            total, entries = self._copy(proc, partial)
        except BaseException:
            proc.kill()
            proc.wait()
            relay.join()
            raise
        rc = proc.wait()
        relay.join()
        if rc < 0:
            raise RpcError(f"tar was killed by signal {-rc}")
        if rc == 1:
            self.ch.log("warn", "tar exited with code 1: some files changed while being read")
        elif rc != 0:
            raise RpcError(f"tar failed with exit code {rc}: {self.last_message or 'no message'}")
        os.rename(partial, self.target)
        fsync_dir(os.path.dirname(self.target))
        seconds = max(time.monotonic() - started, 1e-6)
        self.ch.log("info", f"wrote {os.path.basename(self.target)}: {total} bytes, {entries} "
                            f"entries in {seconds:.1f} s ({total / seconds / 1048576:.1f} MiB/s)")

    def _copy(self, proc, partial):
        counter = TarEntryCounter()
        gate = RateGate(PROGRESS_INTERVAL)
        bucket = TokenBucket(self.bwlimit, time.monotonic()) if self.bwlimit else None
        chunk = read_chunk_size(self.bwlimit)
        total = 0
        reported = None
        src = proc.stdout.fileno()
        try:
            out = open(partial, "wb")
        except OSError as err:
            raise os_error(f"cannot create '{partial}'", err)
        with out:
            while True:
                data = os.read(src, chunk)
                if not data:
                    break
                try:
                    out.write(data)
                except OSError as err:
                    raise os_error(f"writing '{partial}'", err)
                total += len(data)
                counter.feed(data)
                if bucket is not None:
                    delay = bucket.reserve(len(data), time.monotonic())
                    if delay > 0:
                        time.sleep(delay)
                if gate.ready(time.monotonic()):
                    self.ch.progress(total, counter.entries)
                    reported = total
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as err:
                raise os_error(f"writing '{partial}'", err)
        if reported != total:
            self.ch.progress(total, counter.entries)
        return total, counter.entries


# --------------------------------------------------------------------------------------------


def main():
    # Keep the real stdout for protocol lines only; anything else that writes to fd 1 (a stray
    # print, a child process) lands on stderr instead.
    proto_fd = os.dup(1)
    os.set_inheritable(proto_fd, False)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    provider = Provider(Channel(proto_fd))
    stdin = sys.stdin.buffer
    try:
        for line in iter(stdin.readline, b""):
            if not line.strip():
                continue
            provider.handle_line(line)
            if provider.shutdown_requested:
                return 0
        if provider.role == "main":
            stderr("stdin closed without shutdown, aborting")
            provider.abort()
        return 0
    except BrokenPipeError:
        stderr("ctdump closed the protocol pipe, exiting")
        return 1


if __name__ == "__main__":
    sys.exit(main())
