"""ctdump_provider: what the borg and restic providers share (issue 16).

The protocol-v1 plumbing (docs/provider-protocol.md): the channel, parameter checks, errors, the
repository server a main instance runs for one worker behind a Unix socket, the
connector the worker's tool runs to reach it, file helpers, the derived per-container
passphrases, and ProviderBase with the methods both providers answer alike. Design:
docs/design/third-party-providers.md. Standard-library Python 3 only.

A provider calls configure(name, tool, features) once, subclasses ProviderBase and ends
with `sys.exit(main(Provider, __doc__))`.
"""

import calendar
import ctypes
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

API_VERSION = 1
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, FAILURE = (
    -32700, -32600, -32601, -32602, 1)
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
VMID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=-]*\Z")
STORAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
GUEST_CONFIG = "guest.config"
FIREWALL_CONFIG = "firewall.config"
FILESYSTEM = "filesystem"
META_DIR = ".ctdump"
MAX_CONFIG_SIZE = 1 << 20
PROGRESS_INTERVAL = 0.5
RESTORE_MECHANISMS = ("directory", "tar")

# Set by configure(): the provider's name (hello's provider-name, log prefix), the tool
# (paths, the passphrase derivation's label) and the optional methods it claims.
PROVIDER_NAME = None
TOOL = None
FEATURES = []


def configure(name, tool, features):
    global PROVIDER_NAME, TOOL, FEATURES
    PROVIDER_NAME, TOOL, FEATURES = name, tool, list(features)



class RpcError(Exception):
    def __init__(self, message, code=FAILURE):
        super().__init__(message)
        self.code = code
        self.message = message


class ParamError(RpcError):
    def __init__(self, message):
        super().__init__("invalid params: " + message, INVALID_PARAMS)


def archive_timestamp(start_time):
    return time.strftime(TIMESTAMP_FORMAT, time.gmtime(start_time))


def timestamp_to_epoch(stamp):
    return calendar.timegm(time.strptime(stamp, TIMESTAMP_FORMAT))


def parse_volname(volname):
    """'<vmid>/<timestamp>' (or PVE's 'backup/<vmid>/<timestamp>') -> (vmid, timestamp) or None."""
    if not isinstance(volname, str):
        return None
    name = volname[len("backup/"):] if volname.startswith("backup/") else volname
    vmid, _, stamp = name.partition("/")
    if not VMID_RE.match(vmid) or not TIMESTAMP_RE.match(stamp):
        return None
    return vmid, stamp


def derive_passphrase(master, vmid, tool=None):
    """One container's repository passphrase: hex HMAC-SHA256(master, 'ctdump-<tool>\\0' + vmid),
    `tool` the configured one unless given.

    A worker gets only its own container's passphrase; the master never leaves the main
    instance. Independent of the storage id, so renaming the storage keeps repositories
    readable."""
    return hmac.new(master.encode("utf-8"), f"ctdump-{tool or TOOL}\0{vmid}".encode("utf-8"),
                    hashlib.sha256).hexdigest()


def ratelimit_kib(bandwidth_limit):
    """bytes/s (the protocol's unit) -> KiB/s, the unit of borg's --upload-ratelimit and restic's --limit-upload (0 = unlimited)."""
    if not bandwidth_limit:
        return 0
    return max(1, bandwidth_limit // 1024)


def params_object(params):
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ParamError("params must be an object")
    return params


def get_param(params, key, kind, optional=False, where=""):
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
        raise ParamError(f"'{name}' has the wrong type")
    return value


def get_vmid(params):
    vmid = get_param(params, "vmid", str)
    if not VMID_RE.match(vmid):
        raise ParamError(f"'vmid' has an invalid value '{vmid}'")
    return vmid


def get_volname(params):
    volname = get_param(params, "volname", str)
    parsed = parse_volname(volname)
    if parsed is None:
        raise ParamError(f"'volname' must look like '<vmid>/<YYYY-MM-DDTHH:MM:SSZ>', "
                         f"got '{volname}'")
    return parsed


def get_string_list(params, key, where=""):
    value = get_param(params, key, list, where=where)
    if not all(isinstance(v, str) for v in value):
        raise ParamError(f"'{where}{key}' must be an array of strings")
    return value


def stderr(message):
    print(f"{PROVIDER_NAME}[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


def makedirs_owned(path, mode, uid=0):
    os.makedirs(path, mode=mode, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise RpcError(f"'{path}' is not a directory")
    os.chmod(path, mode)
    os.chown(path, uid, uid)


def traversable_base(path):
    """Creates a base directory (root 0711) the worker must pass through; an existing one is
    left as it is (it may be the administrator's) but must be searchable by others."""
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o711, exist_ok=True)
        os.chmod(path, 0o711)
    st = os.stat(path)
    if not st.st_mode & 0o001:
        raise RpcError(f"directory '{path}' is not searchable by the container's root "
                       "(needs o+x)")


def remove_tree(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def chown_tree(path, uid):
    """lchown every entry below `path` (and `path`) to uid:uid without following symlinks.

    Used to hand a cache to the worker and back. Anything but directories and regular files
    with one link is removed first: the tools' caches hold no others, and a hard link the worker
    planted must not make root chown a file elsewhere."""
    for root, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            p = os.path.join(root, name)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                os.unlink(p)
                continue
            os.lchown(p, uid, uid)
        for name in dirs:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                os.lchown(p, uid, uid)
    os.lchown(path, uid, uid)


def write_file(path, text, mode=0o600):
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def read_first_line(path):
    with open(path, encoding="utf-8") as f:
        line = f.readline().rstrip("\n")
    if not line:
        raise RpcError(f"passphrase file '{path}' is empty")
    return line


def secret_pipe(secret):
    """A pipe whose read end yields `secret` (for BORG_PASSPHRASE_FD); returns the read fd."""
    r, w = os.pipe()
    data = secret.encode("utf-8")
    if len(data) >= 65536:
        raise RpcError("passphrase too long")
    os.write(w, data)
    os.close(w)
    return r


class Tool:
    """Runs the backup tool with a passphrase on a pipe (never argv, never the environment),
    collecting or streaming stdout and relaying stderr.

    The pipe's read end reaches the tool as BORG_PASSPHRASE_FD, and as /dev/fd/N wherever an
    argument contains '{passfile}' (restic's --password-file). One pipe per process: a
    passphrase fd is read to its end, so it cannot be shared by two commands (measured)."""

    def __init__(self, channel, env):
        self.ch = channel
        self.env = env

    def run(self, argv, passphrase=None, cwd=None, check=True, stdout_file=None,
            on_stderr=None, on_stdout=None, ok_codes=(0,)):
        env = dict(self.env)
        fds = ()
        pfd = None
        if passphrase is not None:
            pfd = secret_pipe(passphrase)
            env["BORG_PASSPHRASE_FD"] = str(pfd)
            argv = [a.replace("{passfile}", f"/dev/fd/{pfd}") for a in argv]
            fds = (pfd,)
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=stdout_file or subprocess.PIPE,
                                    stderr=subprocess.PIPE, pass_fds=fds)
        except OSError as err:
            raise RpcError(f"cannot run {argv[0]}: {err.strerror}")
        finally:
            if pfd is not None:
                os.close(pfd)
        err_lines = []

        def drain():
            for raw in iter(proc.stderr.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                if on_stderr is None or not on_stderr(line):
                    err_lines.append(line)

        t = threading.Thread(target=drain, daemon=True)
        t.start()
        out = b""
        if stdout_file is None:
            if on_stdout is None:
                out = proc.stdout.read()
            else:
                for raw in iter(proc.stdout.readline, b""):
                    on_stdout(raw.decode("utf-8", errors="replace").rstrip("\n"))
        rc = proc.wait()
        t.join()
        if check and rc not in ok_codes:
            last = next((l for l in reversed(err_lines) if l.strip()), "no message")
            raise RpcError(f"{' '.join(argv[:2])} failed with exit code {rc}: {last}")
        return rc, out, err_lines


class SessionServer:
    """Listens on a Unix socket in the worker's session directory; for each connection from
    the worker's uid it runs `argv` as host root with the connection as stdin and stdout."""

    def __init__(self, path, uid, argv, env):
        self.path, self.uid, self.argv, self.env = path, uid, argv, env
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.sock.bind(path)
        os.chown(path, uid, uid)
        os.chmod(path, 0o600)
        self.sock.listen(4)
        self.children = []
        self.messages = []
        self.lock = threading.Lock()
        self.closed = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                pid, uid, _gid = struct.unpack(
                    "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
                if uid != self.uid:
                    stderr(f"refused a repository connection from pid {pid} uid {uid} "
                           f"(expected uid {self.uid})")
                    continue
                with self.lock:
                    if self.closed:
                        return
                    try:
                        child = subprocess.Popen(
                            self.argv, stdin=conn.fileno(), stdout=conn.fileno(),
                            stderr=subprocess.PIPE, env=self.env,
                            preexec_fn=lambda: os.umask(0o077))
                    except OSError as err:
                        stderr(f"cannot run {self.argv[0]}: {err}")
                        continue
                    self.children.append(child)
                threading.Thread(target=self._relay, args=(child,), daemon=True).start()

    def _relay(self, child):
        # While the worker runs ctdump reads neither of the main instance's pipes: writing the
        # server's messages out now could fill a pipe and stall the server. Keep them
        # (bounded); backup_cleanup logs them.
        for raw in iter(child.stderr.readline, b""):
            with self.lock:
                if len(self.messages) < 200:
                    self.messages.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    def close(self, grace=10.0):
        with self.lock:
            self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        deadline = time.monotonic() + grace
        for child in self.children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


class Channel:
    def __init__(self, fd):
        self.fd = fd
        self.lock = threading.Lock()

    def _write(self, data):
        with self.lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]

    def send(self, obj):
        self._write((json.dumps(obj, ensure_ascii=True, separators=(",", ":")) + "\n").encode())

    def result(self, req_id, result):
        self.send({"jsonrpc": "2.0", "id": req_id, "result": result})

    def error(self, req_id, code, message):
        self.send({"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}})

    def log(self, level, message):
        for line in str(message).splitlines() or [""]:
            self.send({"jsonrpc": "2.0", "method": "log",
                       "params": {"level": level, "message": line}})

    def progress(self, nbytes, files, total=None):
        self.send({"jsonrpc": "2.0", "method": "progress",
                   "params": {"bytes": nbytes, "files": files, "total-bytes": total}})


def bind_mount(source, target):
    """mount --rbind source target, in the worker's own mount namespace (it is root of its
    user namespace there). Recursive, so mount points below `source` come along (the sources
    list names them, and the tools stay on one file system per source into others)."""
    libc = ctypes.CDLL(None, use_errno=True)
    ms_bind, ms_rec = 4096, 16384
    if libc.mount(source.encode(), target.encode(), None, ms_bind | ms_rec, None) != 0:
        e = ctypes.get_errno()
        raise RpcError(f"cannot bind-mount '{source}' on '{target}': {os.strerror(e)}")


def connect_main(argv):
    """Relays stdin/stdout to the session's Unix socket; any further args are ignored."""
    if len(argv) < 1:
        print(f"usage: ctdump-provider-{TOOL} connect SOCKET [...]", file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(argv[0])
    except OSError as err:
        print(f"ctdump-provider-{TOOL} connect: {argv[0]}: {err.strerror}", file=sys.stderr)
        return 255

    def upstream():
        while True:
            data = os.read(0, 1 << 20)
            if not data:
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            sock.sendall(data)

    threading.Thread(target=upstream, daemon=True).start()
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return 0
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]


def main(provider_class, doc):
    if len(sys.argv) > 1:
        if sys.argv[1] == "connect":
            return connect_main(sys.argv[2:])
        if sys.argv[1] == "passphrase" and len(sys.argv) == 4:
            print(derive_passphrase(read_first_line(sys.argv[2]), sys.argv[3]))
            return 0
        print(doc, file=sys.stderr)
        return 2
    proto_fd = os.dup(1)
    os.set_inheritable(proto_fd, False)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    provider = provider_class(Channel(proto_fd))
    try:
        for line in iter(sys.stdin.buffer.readline, b""):
            if not line.strip():
                continue
            provider.handle_line(line)
            if provider.shutdown_requested:
                provider.abort()
                return 0
        stderr("stdin closed without shutdown, aborting")
        provider.abort()
        return 0
    except BrokenPipeError:
        provider.abort()
        return 1


class ProviderBase:
    """The methods both providers answer alike; subclasses add the rest."""

    # What a restore through each mechanism loses (hello's restore-losses, the vocabulary
    # of docs/provider-protocol.md section 6); set by each provider, checked by
    # `ctdump provider-test`.
    RESTORE_LOSSES = {}

    def __init__(self, channel):
        self.ch = channel
        self.role = None
        self.storage_id = None
        self.config = {}
        self.master = None
        self.sessions = {}
        self.restores = {}
        self.shutdown_requested = False
        # Between job_init and job_cleanup deletions (a job's pruning) only mark their
        # container's repository; it is compacted once, in job_cleanup.
        self.in_job = False
        self.compact_pending = set()

    def dispatch(self, method, params):
        if method == "hello":
            if self.role is not None:
                raise RpcError("hello was already received")
            return self.hello(params_object(params))
        if self.role is None:
            raise RpcError(f"protocol error: '{method}' before 'hello'")
        if method == "shutdown":
            self.shutdown_requested = True
            return None
        if method not in self.MAIN_METHODS | self.WORKER_METHODS:
            raise RpcError(f"method '{method}' not found", METHOD_NOT_FOUND)
        allowed = self.WORKER_METHODS if self.role == "worker" else self.MAIN_METHODS
        if method not in allowed:
            raise RpcError(f"method '{method}' is not available in role '{self.role}'",
                           METHOD_NOT_FOUND)
        return getattr(self, method)(params_object(params))

    def hello(self, params):
        version = get_param(params, "api-version", "int")
        role = get_param(params, "role", str)
        if role not in ("main", "worker"):
            raise ParamError(f"'role' must be 'main' or 'worker', got '{role}'")
        storage_id = get_param(params, "storage-id", str)
        config = get_param(params, "storage-config", dict)
        if version < 1:
            raise RpcError(f"unsupported api-version {version} (this provider speaks 1)")
        if role == "main":
            for key in ("repository", "passphrase-file"):
                if not config.get(key):
                    raise RpcError(f"storage '{storage_id}': required key '{key}' is missing "
                                   "in the storage configuration")
                if not os.path.isabs(config[key]):
                    raise RpcError(f"storage '{storage_id}': '{key}' must be an absolute path")
            mech = config.get("restore-mechanism", "directory")
            if mech not in RESTORE_MECHANISMS:
                raise RpcError(f"storage '{storage_id}': invalid restore-mechanism '{mech}' "
                               "(expected 'directory' or 'tar')")
            if not STORAGE_RE.match(storage_id):
                raise RpcError(f"storage id '{storage_id}' has characters this provider "
                               "cannot use in paths")
        self.role, self.storage_id, self.config = role, storage_id, config
        return {"api-version": min(version, API_VERSION), "provider-name": PROVIDER_NAME,
                "features": list(FEATURES),
                "restore-mechanisms": list(RESTORE_MECHANISMS),
                "restore-losses": {m: list(w) for m, w in self.RESTORE_LOSSES.items() if w}}

    def restore_mechanism(self, params):
        """The mechanism of this restore: the optional param 'mechanism' (ctdump restore
        --mechanism), else the storage's restore-mechanism key (default directory)."""
        mech = params.get("mechanism")
        if mech is None:
            return self.config.get("restore-mechanism", "directory")
        if mech not in RESTORE_MECHANISMS:
            raise ParamError(f"'mechanism' must be 'directory' or 'tar', got {mech!r}")
        return mech

    @property
    def repository(self):
        return os.path.normpath(self.config["repository"])

    @property
    def state_dir(self):
        return self.config.get("state-dir") or f"/var/lib/ctdump/providers/{TOOL}/{self.storage_id}"

    @property
    def cache_root(self):
        """Per-container client caches (and borg's security directories): on disk, below
        directories the worker may traverse (0711); each container's is 0700 and root's
        between backups, chowned to the worker for its backup only."""
        return os.path.join(self.config.get("cache-dir") or f"/var/cache/ctdump-provider-{TOOL}",
                            self.storage_id)

    @property
    def run_dir(self):
        return os.path.join(self.config.get("run-dir") or f"/run/ctdump-provider-{TOOL}",
                            self.storage_id)

    def repo(self, vmid):
        return os.path.join(self.repository, vmid)

    def passphrase(self, vmid):
        if self.master is None:
            try:
                self.master = read_first_line(self.config["passphrase-file"])
            except OSError as err:
                raise RpcError(f"storage '{self.storage_id}': cannot read passphrase file "
                               f"'{self.config['passphrase-file']}': {err.strerror}")
        return derive_passphrase(self.master, vmid)

    def repo_exists(self, vmid):
        return os.path.isfile(os.path.join(self.repo(vmid), "config"))

    def clear_incomplete_repo(self, vmid):
        """Before creating `vmid`'s repository: a directory there without the tool's config is
        what an interrupted init (the main instance killed in backup_container_prepare) leaves;
        the tool refuses to init into it. An empty one is removed; anything else is moved aside
        to <repository>/.incomplete/<vmid>.<time> (never deleted) with a warning naming it."""
        repo = self.repo(vmid)
        if not os.path.lexists(repo) or self.repo_exists(vmid):
            return
        if os.path.isdir(repo) and not os.path.islink(repo) and not os.listdir(repo):
            os.rmdir(repo)
            return
        aside_dir = os.path.join(self.repository, ".incomplete")
        makedirs_owned(aside_dir, 0o700)
        aside = os.path.join(aside_dir, f"{vmid}.{int(time.time())}")
        os.rename(repo, aside)
        self.ch.log("warn", f"'{repo}' is not a {TOOL} repository (no config: an interrupted "
                            f"init?); moved it to '{aside}' and creating a new one")

    def job_cleanup(self, params):
        for session in list(self.sessions.values()):
            self._end_session(session)
        self.in_job = False
        pending, self.compact_pending = sorted(self.compact_pending), set()
        for vmid in pending:
            self.compact(vmid)
            self.ch.log("info", f"compacted the repository of '{vmid}'")
        return None

    # ---- unfinished backups -------------------------------------------------------------
    # backup_init marks the backup it names as pending (<state-dir>/pending/<vmid>, root-only);
    # only a successful backup_cleanup clears the mark. A pending backup is never listed; a
    # failed one is discarded by backup_cleanup, also in a new main instance after the old
    # one died (it knows the name from the mark), and one left by a killed job is discarded by
    # the container's next backup_init. So a backup is listed only once it was reported made.

    def _pending_path(self, vmid):
        return os.path.join(self.state_dir, "pending", vmid)

    def pending_stamp(self, vmid):
        try:
            with open(self._pending_path(vmid), encoding="utf-8") as f:
                stamp = f.read().strip()
        except OSError:
            return None
        return stamp if TIMESTAMP_RE.match(stamp) else None

    def mark_pending(self, vmid, stamp):
        makedirs_owned(self.state_dir, 0o700)
        makedirs_owned(os.path.dirname(self._pending_path(vmid)), 0o700)
        write_file(self._pending_path(vmid), stamp + "\n")

    def clear_pending(self, vmid):
        try:
            os.unlink(self._pending_path(vmid))
        except FileNotFoundError:
            pass

    def hidden_pending(self, vmid, stamp):
        """Whether `stamp` is a pending backup of `vmid` that requests must not see: every
        pending one except the backup this instance is making (whose notes and protection the
        job sets before backup_cleanup, --notes-template and --protected)."""
        if stamp != self.pending_stamp(vmid):
            return False
        session = self.sessions.get(vmid)
        return session is None or session.stamp != stamp

    def discard_pending(self, vmid, why):
        """Discards the pending backup of `vmid` (if its archive exists) and its mark."""
        stamp = self.pending_stamp(vmid)
        if stamp is None:
            self.clear_pending(vmid)
            return
        if self.repo_exists(vmid) and self.discard(vmid, stamp):
            self.ch.log("info", f"discarded the unfinished backup '{vmid}/{stamp}' ({why})")
        self.clear_pending(vmid)

    def discard(self, vmid, stamp):
        """Removes the archive `stamp` of `vmid` if it exists; True if it did."""
        raise NotImplementedError

    def deleted(self, vmid):
        """After a deletion from `vmid`'s repository: compact it now, or in job_cleanup when a
        job runs (a job's pruning deletes several)."""
        if self.in_job:
            self.compact_pending.add(vmid)
        else:
            self.compact(vmid)


    def compact(self, vmid):
        """Frees the space of deleted backups in `vmid`'s repository (the tool's own way)."""
        raise NotImplementedError

    def backup_get_mechanism(self, params):
        get_vmid(params)
        if get_param(params, "vmtype", str) != "lxc":
            raise RpcError("only 'lxc' guests are supported")
        return {"mechanism": "directory"}

    def hand_over_cache(self, vmid, uid):
        """The container's persistent cache, chowned to the worker's uid for this backup."""
        root = self.cache_root
        traversable_base(os.path.dirname(root))
        makedirs_owned(root, 0o711)
        cache = os.path.join(root, vmid)
        os.makedirs(cache, mode=0o700, exist_ok=True)
        st = os.lstat(cache)
        if not stat.S_ISDIR(st.st_mode):
            raise RpcError(f"'{cache}' is not a directory")
        os.chmod(cache, 0o700)
        chown_tree(cache, uid)
        return cache

    def abort(self):
        for session in list(self.sessions.values()):
            try:
                self._end_session(session, in_request=False)
            except Exception as err:
                stderr(f"abort: {err}")
        for vol in list(self.restores):
            remove_tree(self.restores.pop(vol))

    def _vmids(self):
        try:
            names = sorted(os.listdir(self.repository))
        except FileNotFoundError:
            return []
        return [n for n in names if VMID_RE.match(n) and self.repo_exists(n)]

    def restore_container_cleanup(self, params):
        vmid, stamp = get_volname(params)
        rdir = self.restores.pop(f"{vmid}/{stamp}", None)
        if rdir:
            remove_tree(rdir)
        return None
