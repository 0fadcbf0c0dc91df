"""A real `ctdump serve` for the API tests (issue 15).

ApiServer starts the daemon on 127.0.0.1 with a port the kernel picks, private
config, log, run and state directories, the proxy confined as `nobody`, and
the repository's web console (or, while a test wants its own, a given www
directory). Its certificate (made by the server at its first start) is what
clients verify against: `verify=server.ca`.

workspace_server() gives a harness.Workspace with a dir storage and a
datastore and an ApiServer on its configuration; node_name() and wait_task()
serve the tests' proxmoxer clients (ApiServer.token_client()).

PamUser creates a real Linux user with a password for ticket logins and
always removes it; it installs /etc/pam.d/ctdump from packaging/ only when the
host has none, and removes it again only then.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import harness

BIN = os.environ.get("CTDUMP_BIN", "")
SRC = os.environ.get("CTDUMP_SOURCE_DIR",
                     os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
PAM_FILE = "/etc/pam.d/ctdump"


class ApiServer:
    def __init__(self, lxcpath=None, config_dir=None, www_dir=None, extra_env=None):
        self.tmp = tempfile.mkdtemp(prefix="ctdump-api-it.", dir="/var/tmp")
        # The run dir holds job mounts an unprivileged container's root must
        # traverse (as harness.Workspace's).
        os.chmod(self.tmp, 0o755)
        self.config_dir = config_dir or os.path.join(self.tmp, "cfg")
        os.makedirs(self.config_dir, exist_ok=True)
        self.lxcpath = lxcpath or os.path.join(self.tmp, "lxc")
        os.makedirs(self.lxcpath, exist_ok=True)
        self.log_dir = os.path.join(self.tmp, "log")
        self.run_dir = os.path.join(self.tmp, "run")
        self.state_dir = os.path.join(self.tmp, "state")
        for d in (self.log_dir, self.run_dir, self.state_dir):
            os.makedirs(d)
        self.www_dir = www_dir or os.path.join(SRC, "www")
        if not os.path.exists(os.path.join(self.www_dir, "index.html")):
            self.www_dir = os.path.join(self.tmp, "www")
            os.makedirs(self.www_dir)
            with open(os.path.join(self.www_dir, "index.html"), "w") as f:
                f.write('<!doctype html><title>ctdump</title><script src="@ASSETS@/app.js">'
                        '</script>\n')
            with open(os.path.join(self.www_dir, "app.js"), "w") as f:
                f.write("// " + "console " * 300 + "\n")
        self.env = dict(os.environ, CTDUMP_LOG_DIR=self.log_dir, CTDUMP_RUN_DIR=self.run_dir,
                        CTDUMP_STATE_DIR=self.state_dir)
        self.env.update(extra_env or {})
        self.proc = None
        self.port = None
        self.stderr_path = os.path.join(self.tmp, "serve.log")

    # ---- the daemon ----

    def start(self):
        self._stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [BIN, "--config-dir", self.config_dir, "--lxcpath", self.lxcpath, "serve",
             "--listen", "127.0.0.1:0", "--www-dir", self.www_dir, "--proxy-user", "nobody"],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._stderr)
        deadline = time.time() + 30
        while time.time() < deadline:
            m = re.search(r"API listening on \S+ \(port (\d+)\)", self.log())
            if m:
                self.port = int(m.group(1))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("ctdump serve exited: " + self.log())
            time.sleep(0.05)
        raise RuntimeError("ctdump serve did not start: " + self.log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_stderr", None):
            self._stderr.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def audit(self):
        try:
            with open(os.path.join(self.log_dir, "audit.log"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def proxy_pid(self):
        """The proxy process (a child of the daemon running `__proxy`)."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % pid) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().split(b"\0")
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                continue
            if ppid == self.proc.pid and b"__proxy" in cmd:
                return int(pid)
        return None

    # ---- clients ----

    @property
    def ca(self):
        return os.path.join(self.config_dir, "api.pem")

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def ctdump(self, *args, check=True):
        r = subprocess.run([BIN, "--config-dir", self.config_dir, "--lxcpath", self.lxcpath]
                           + list(args), env=self.env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("ctdump %s failed (%d): %s" % (" ".join(args), r.returncode,
                                                               r.stderr))
        return r

    def add_token(self, userid, name, *extra):
        r = self.ctdump("token", "add", userid, name, "--output-format", "json", *extra)
        data = json.loads(r.stdout.splitlines()[-1])["data"]
        return data["full-tokenid"], data["value"]

    def token_client(self, token_name, secret, userid="root@pam", timeout=60):
        """A proxmoxer client of this server with the API token userid!token_name."""
        from proxmoxer import ProxmoxAPI  # Debian's, for /usr/bin/python3 only
        return ProxmoxAPI("127.0.0.1", port=self.port, user=userid, token_name=token_name,
                          token_value=secret, verify_ssl=self.ca, timeout=timeout)

    def write_user_cfg(self, text):
        """Appends `text` to user.cfg (token lines are kept)."""
        with open(os.path.join(self.config_dir, "user.cfg"), "a") as f:
            f.write(text)


def workspace_server(lxcpath):
    """A harness.Workspace whose storage.cfg holds a dir storage `local` (the
    workspace's target) and a datastore `ds`, and an ApiServer on its
    configuration (TMPDIR the workspace's tmp), not started. Returns
    (workspace, the datastore's path, server); the caller cleans both up."""
    ws = harness.Workspace()
    store = os.path.join(ws.dir, "ds")
    os.makedirs(store)
    with open(os.path.join(ws.config, "storage.cfg"), "w") as f:
        f.write("dir: local\n\tpath %s\n\ndatastore: ds\n\tpath %s\n" % (ws.target, store))
    server = ApiServer(lxcpath=lxcpath, config_dir=ws.config, extra_env={"TMPDIR": ws.tmp})
    return ws, store, server


def node_name():
    """This host's node name, as the server gives it (up to the first dot)."""
    return socket.gethostname().split(".")[0]


def wait_task(pve, node, upid, timeout=600):
    """Polls a task as a PVE client does until it stopped; its status.
    AssertionError when it still runs after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = pve.nodes(node).tasks(upid).status.get()
        if st["status"] == "stopped":
            return st
        time.sleep(0.5)
    raise AssertionError("task %s still running after %d s" % (upid, timeout))


class PamUser:
    """A real Linux user for PAM logins, removed again in cleanup()."""

    def __init__(self, password="Api-t3st pass"):
        self.name = "ctdumpapi%d" % os.getpid()
        self.password = password
        self.installed_pam = False
        subprocess.run(["userdel", self.name], capture_output=True)
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", self.name], check=True)
        subprocess.run(["chpasswd"], input="%s:%s\n" % (self.name, password), text=True,
                       check=True)
        if not os.path.exists(PAM_FILE):
            shutil.copy(os.path.join(SRC, "packaging/pam.d/ctdump"), PAM_FILE)
            self.installed_pam = True

    @property
    def userid(self):
        return self.name + "@pam"

    def cleanup(self):
        subprocess.run(["userdel", self.name], capture_output=True)
        if self.installed_pam:
            try:
                os.unlink(PAM_FILE)
            except FileNotFoundError:
                pass
