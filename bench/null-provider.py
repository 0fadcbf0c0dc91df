#!/usr/bin/env python3
"""null-provider: a ctdump provider (protocol v1) that stores nothing.

Used by bench/provider-overhead.sh to measure what ctdump itself costs per container backup:
every method answers at once, backup_container returns null without reading the tree, and
backup_cleanup reports an archive size of 0. It implements the backup method set of
docs/provider-protocol.md (no optional methods, no restore: those answer -32601), validates the
params it uses, and follows the transport rules (one JSON object per line, flush after every line,
nothing but protocol lines on stdout, exit 0 after `shutdown` or at end-of-file).

Optional tracing (for the benchmark's breakdown; off unless configured): with the storage key
`trace-dir <dir>` (an existing directory, writable by root), each instance records the wall-clock
time (time.time()) at which it started, read every request and wrote every response, and writes
them as one JSON line when it ends:
  main:   <dir>/main.jsonl (appended)
  worker: <dir>/worker-<vmid>.jsonl (appended; the main instance creates it in
          backup_container_prepare, chowns it to info.backup-user-id and passes its path as
          worker-state, so the worker needs no access to anything else)
Timestamps are kept in memory and written once, at `shutdown`/end-of-file, so tracing adds no
I/O between requests.
"""

import json
import os
import sys
import time

T_START = time.time()

API_VERSION = 1
PROVIDER_NAME = "null"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
FAILURE = 1

MAIN_METHODS = {"job_init", "job_cleanup", "backup_init", "backup_get_mechanism",
                "backup_container_prepare", "backup_cleanup", "backup_handle_log_file"}
WORKER_METHODS = {"backup_container"}


class RpcError(Exception):
    def __init__(self, message, code=FAILURE):
        super().__init__(message)
        self.code = code
        self.message = message


def param(params, key, kind, where=""):
    value = params.get(key)
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        what = {str: "a string", int: "an integer", dict: "an object", bool: "a boolean"}[kind]
        raise RpcError(f"invalid params: '{where}{key}' must be {what}", INVALID_PARAMS)
    return value


class NullProvider:
    def __init__(self, out_fd):
        self.out = os.fdopen(out_fd, "w", encoding="utf-8", buffering=1)
        self.role = None
        self.config = {}
        self.trace_dir = None
        self.trace_file = None  # worker: from worker-state
        self.events = [["start", None, T_START]]
        self.done = False

    # -- transport ------------------------------------------------------------------------

    def send(self, obj):
        self.out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self.out.flush()

    def handle_line(self, line):
        t_in = time.time()
        try:
            req = json.loads(line)
        except ValueError as err:
            self.send({"jsonrpc": "2.0", "id": None,
                       "error": {"code": PARSE_ERROR, "message": f"parse error: {err}"}})
            return
        if not isinstance(req, dict) or not isinstance(req.get("method"), str):
            self.send({"jsonrpc": "2.0", "id": req.get("id") if isinstance(req, dict) else None,
                       "error": {"code": INVALID_REQUEST, "message": "invalid request"}})
            return
        method = req["method"]
        if "id" not in req:
            return  # a notification: version 1 defines none, ignore it
        params = req.get("params")
        if params is None:
            params = {}
        vmid = params.get("vmid") if isinstance(params, dict) else None
        try:
            if not isinstance(params, dict):
                raise RpcError("invalid params: params must be an object", INVALID_PARAMS)
            result = self.dispatch(method, params)
            reply = {"jsonrpc": "2.0", "id": req["id"], "result": result}
        except RpcError as err:
            reply = {"jsonrpc": "2.0", "id": req["id"],
                     "error": {"code": err.code, "message": err.message}}
        self.events.append([method, vmid if isinstance(vmid, str) else None, t_in])
        if method == "shutdown":
            self.done = True
            self.write_trace()
        self.send(reply)
        self.events.append([method + ":reply", None, time.time()])

    # -- methods --------------------------------------------------------------------------

    def dispatch(self, method, p):
        if method == "hello":
            return self.hello(p)
        if method == "shutdown":
            return None
        if self.role is None:
            raise RpcError(f"'{method}' before 'hello'", FAILURE)
        allowed = MAIN_METHODS if self.role == "main" else WORKER_METHODS
        if method not in allowed:
            raise RpcError(f"method '{method}' not found (role {self.role})", METHOD_NOT_FOUND)
        return getattr(self, method)(p)

    def hello(self, p):
        version = param(p, "api-version", int)
        if version < 1:
            raise RpcError(f"ctdump offers protocol version {version}, null speaks 1")
        role = param(p, "role", str)
        if role not in ("main", "worker"):
            raise RpcError(f"invalid params: unknown role '{role}'", INVALID_PARAMS)
        config = p.get("storage-config") or {}
        if not isinstance(config, dict):
            raise RpcError("invalid params: 'storage-config' must be an object", INVALID_PARAMS)
        self.role, self.config = role, config
        self.trace_dir = config.get("trace-dir") or None
        return {"api-version": API_VERSION, "provider-name": PROVIDER_NAME, "features": []}

    def job_init(self, p):
        param(p, "start-time", int)
        return None

    def job_cleanup(self, _p):
        return None

    def backup_init(self, p):
        vmid = param(p, "vmid", str)
        start = param(p, "start-time", int)
        return {"archive-name": f"{vmid}/{start}"}

    def backup_get_mechanism(self, p):
        param(p, "vmid", str)
        return {"mechanism": "directory"}

    def backup_container_prepare(self, p):
        vmid = param(p, "vmid", str)
        info = param(p, "info", dict)
        uid = param(info, "backup-user-id", int, "info.")
        if not self.trace_dir:
            return None
        path = os.path.join(self.trace_dir, f"worker-{vmid.replace('/', '_')}.jsonl")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            os.fchown(fd, uid, uid)
            os.close(fd)
        except OSError as err:
            raise RpcError(f"cannot prepare trace file '{path}': {err.strerror}")
        return {"worker-state": {"trace-file": path}}

    def backup_container(self, p):
        param(p, "vmid", str)
        param(p, "info", dict)
        state = p.get("worker-state")
        if isinstance(state, dict) and isinstance(state.get("trace-file"), str):
            self.trace_file = state["trace-file"]
        return None  # nothing is read

    def backup_cleanup(self, p):
        param(p, "vmid", str)
        success = param(p, "success", bool)
        return {"stats": {"archive-size": 0}} if success else None

    def backup_handle_log_file(self, p):
        param(p, "vmid", str)
        param(p, "filename", str)
        return None

    # -- tracing --------------------------------------------------------------------------

    def write_trace(self):
        if self.role == "main" and self.trace_dir:
            path = os.path.join(self.trace_dir, "main.jsonl")
        elif self.role == "worker" and self.trace_file:
            path = self.trace_file
        else:
            return
        record = {"role": self.role, "pid": os.getpid(), "uid": os.getuid(),
                  "events": self.events}
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as err:
            print(f"null-provider: cannot write trace '{path}': {err}", file=sys.stderr)


def main():
    # fd 1 is for protocol lines only: keep a private copy and point fd 1 at stderr.
    proto_fd = os.dup(1)
    os.set_inheritable(proto_fd, False)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    provider = NullProvider(proto_fd)
    try:
        for line in iter(sys.stdin.buffer.readline, b""):
            if not line.strip():
                continue
            provider.handle_line(line)
            if provider.done:
                return 0
        provider.events.append(["eof", None, time.time()])
        provider.write_trace()
        return 0
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
