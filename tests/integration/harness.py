"""Shared helpers for ctdump's integration tests on real LXC containers.

The CTest fixture `realenv` (tests/realenv/setup.sh) has built a privileged and
an unprivileged container with tricky content under $CTDUMP_IT_ROOT; its
variables are in $CTDUMP_IT_ROOT/env.sh. Every test gets its own Workspace: a
config dir (storage.cfg pointing at the example provider), a backup target, and
private log and run dirs, all removed afterwards.
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import unittest

BIN = os.environ.get("CTDUMP_BIN", "")
ROOT = os.environ.get("CTDUMP_IT_ROOT", "")
SRC = os.environ.get("CTDUMP_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
EXAMPLE = os.path.join(SRC, "examples/providers/dir-example.py")

_VARS = ["LXCPATH", "CT_PRIV", "CT_UNPRIV", "ROOTFS_PRIV", "ROOTFS_UNPRIV", "MANIFEST_PRIV", "MANIFEST_UNPRIV",
         "BTRFS_MNT"]


def load_env():
    if not BIN or not ROOT:
        raise unittest.SkipTest("run through ctest (CTDUMP_BIN / CTDUMP_IT_ROOT unset)")
    script = '. "$1"; printf "%s\\0" ' + " ".join('"$%s"' % v for v in _VARS)
    out = subprocess.run(["bash", "-c", script, "x", os.path.join(ROOT, "env.sh")],
                         check=True, capture_output=True).stdout.decode()
    return dict(zip(_VARS, out.split("\0")))


ENV = None


def env():
    global ENV
    if ENV is None:
        ENV = load_env()
    return ENV


def ct_state(name):
    r = subprocess.run(["lxc-info", "-P", env()["LXCPATH"], "-n", name, "-s", "-H"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    state = r.stdout.strip()
    # lxc-info does not notice a freezer written directly (as ctdump does).
    freezer = "/sys/fs/cgroup/freezer/lxc.payload.%s/freezer.state" % name
    if state == "RUNNING":
        try:
            with open(freezer) as f:
                if f.read().strip() in ("FROZEN", "FREEZING"):
                    return "FROZEN"
        except FileNotFoundError:
            # No freezer cgroup, or it went away since lxc-info looked (the
            # container is stopping): ask again instead of failing the test.
            r = subprocess.run(["lxc-info", "-P", env()["LXCPATH"], "-n", name, "-s", "-H"],
                               capture_output=True, text=True, stdin=subprocess.DEVNULL)
            return r.stdout.strip()
    return state


def ensure_running(name):
    if ct_state(name) == "FROZEN":
        with open("/sys/fs/cgroup/freezer/lxc.payload.%s/freezer.state" % name, "w") as f:
            f.write("THAWED")
    if ct_state(name) != "RUNNING":
        subprocess.run(["lxc-start", "-P", env()["LXCPATH"], "-n", name, "-d"], check=True,
                       stdin=subprocess.DEVNULL)
        subprocess.run(["lxc-wait", "-P", env()["LXCPATH"], "-n", name, "-s", "RUNNING", "-t", "20"],
                       check=True, stdin=subprocess.DEVNULL)


def destroy_containers(names):
    """Stops and destroys the containers a test created (restore targets),
    whatever state they are in, and removes what is left of their
    directories."""
    for name in names:
        subprocess.run(["lxc-stop", "-P", env()["LXCPATH"], "-n", name, "-k"], capture_output=True,
                       stdin=subprocess.DEVNULL)
        subprocess.run(["lxc-destroy", "-P", env()["LXCPATH"], "-n", name], capture_output=True,
                       stdin=subprocess.DEVNULL)
        shutil.rmtree(os.path.join(env()["LXCPATH"], name), ignore_errors=True)


def read_manifest(path):
    """{path: dict(type, uid, gid, mode, size, sha256, nlink, mtime, target, attrs)} (raw bytes keys)."""
    entries = {}
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if not line or line.startswith(b"#"):
                continue
            cols = line.split(b"\t")
            entries[cols[0]] = dict(type=cols[1].decode(), uid=int(cols[2]), gid=int(cols[3]),
                                    mode=int(cols[4], 8), size=cols[5].decode(), sha256=cols[6].decode(),
                                    target=cols[9], attrs=cols[10].decode())
    return entries


def unescape(raw):
    """Manifest paths use C-style octal escapes (\\ooo) for special bytes."""
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x5C and i + 3 <= len(raw) - 1 + 1 and raw[i + 1:i + 4].isdigit() and len(raw[i + 1:i + 4]) == 3:
            out.append(int(raw[i + 1:i + 4], 8))
            i += 4
        elif c == 0x5C and i + 1 < len(raw):
            out.append(raw[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return bytes(out)


@contextlib.contextmanager
def extra_config(ct, line):
    """Appends `line` to the container's LXC config for the duration."""
    cfg = os.path.join(env()["LXCPATH"], ct, "config")
    with open(cfg) as f:
        original = f.read()
    try:
        with open(cfg, "a") as f:
            f.write(line + "\n")
        yield
    finally:
        with open(cfg, "w") as f:
            f.write(original)


@contextlib.contextmanager
def loop_fs(directory, name, size, mkfs):
    """A fresh file system of `size` made by `mkfs` (argv) on a loop file,
    mounted at directory/name for the duration."""
    img = os.path.join(directory, name + ".img")
    mnt = os.path.join(directory, name)
    os.makedirs(mnt)
    subprocess.run(["truncate", "-s", size, img], check=True)
    subprocess.run(mkfs + [img], check=True)
    subprocess.run(["mount", "-o", "loop", img, mnt], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", mnt], check=True)


@contextlib.contextmanager
def running_copy_on_xfs(directory, source_ct, name):
    """Container `source_ct` copied as `name` onto a fresh xfs (reflinks, no
    subvolumes) on a loop file below `directory`, started; yields the xfs
    mount point. Stopped and removed afterwards."""
    ctdir = os.path.join(env()["LXCPATH"], name)
    with loop_fs(directory, "xfs", "600M", ["mkfs.xfs", "-q"]) as mnt:
        try:
            rootfs = os.path.join(mnt, "rootfs")
            src_rootfs = env()["ROOTFS_PRIV"] if source_ct == env()["CT_PRIV"] else env()["ROOTFS_UNPRIV"]
            subprocess.run(["cp", "-a", src_rootfs, rootfs], check=True)
            os.makedirs(ctdir)
            with open(os.path.join(env()["LXCPATH"], source_ct, "config")) as f:
                cfg = f.read()
            cfg = "\n".join(l for l in cfg.splitlines()
                            if not l.startswith(("lxc.rootfs.path", "lxc.uts.name", "lxc.log.file")))
            with open(os.path.join(ctdir, "config"), "w") as f:
                f.write(cfg + "\nlxc.rootfs.path = dir:%s\nlxc.uts.name = %s\n" % (rootfs, name))
            subprocess.run(["lxc-start", "-P", env()["LXCPATH"], "-n", name, "-d"], check=True,
                           stdin=subprocess.DEVNULL)
            yield mnt
        finally:
            subprocess.run(["lxc-stop", "-P", env()["LXCPATH"], "-n", name, "-k"],
                           capture_output=True, stdin=subprocess.DEVNULL)
            shutil.rmtree(ctdir, ignore_errors=True)


def trusted(volid, *extra):
    """Restore arguments for a backup the test made itself: a privileged
    container's backup is restored privileged only when asked to
    (--unprivileged 0), unless the test chose otherwise."""
    extra = list(extra)
    if "--unprivileged" not in extra and env()["CT_PRIV"] in volid:
        extra += ["--unprivileged", "0"]
    return extra


def quit_all(drivers):
    """Quits every WebDriver in `drivers`, ignoring one that is already gone."""
    for d in drivers:
        try:
            d.quit()
        except Exception:
            pass


class Workspace:
    """A private configuration + target for one test."""

    def __init__(self, storage_id="test", extra=None, conf="mode: stop\n"):
        self.dir = tempfile.mkdtemp(prefix="ctdump-it-ws.", dir="/var/tmp")
        os.chmod(self.dir, 0o755)
        self.config = os.path.join(self.dir, "etc")
        self.target = os.path.join(self.dir, "backups")
        self.logs = os.path.join(self.dir, "log")
        self.run_dir = os.path.join(self.dir, "run")
        # the crash journals (<state_dir>/journal, CTDUMP_STATE_DIR below)
        self.journal_dir = os.path.join(self.dir, "state", "journal")
        self.tmp = os.path.join(self.dir, "tmp")
        for d in (self.config, self.target, self.tmp):
            os.makedirs(d)
        os.chmod(self.target, 0o755)
        self.storage_id = storage_id
        self.write_storage(extra or {})
        with open(os.path.join(self.config, "ctdump.conf"), "w") as f:
            f.write(conf)

    def write_storage(self, extra):
        lines = ["provider: %s" % self.storage_id, "\tcommand %s" % EXAMPLE, "\tpath %s" % self.target]
        lines += ["\t%s %s" % (k, v) for k, v in extra.items()]
        with open(os.path.join(self.config, "storage.cfg"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def cmd(self, *args):
        return [BIN, "--lxcpath", env()["LXCPATH"], "--config-dir", self.config] + list(args)

    def environ(self):
        e = dict(os.environ)
        e["CTDUMP_LOG_DIR"] = self.logs
        e["CTDUMP_RUN_DIR"] = self.run_dir
        # each container's last result (ctdump status), the scheduler's job
        # states: never the host's /var/lib/ctdump
        e["CTDUMP_STATE_DIR"] = os.path.join(self.dir, "state")
        return e

    def run(self, *args, timeout=300):
        return subprocess.run(self.cmd(*args), capture_output=True, text=True, errors="replace",
                              env=self.environ(), timeout=timeout, stdin=subprocess.DEVNULL)

    def backup(self, *cts, extra=()):
        return self.run("backup", *cts, "--storage", self.storage_id, "--tmpdir", self.tmp, *extra)

    def start(self, *args):
        return subprocess.Popen(self.cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, errors="replace", env=self.environ(),
                                stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_for_worker(self, ct, timeout=60):
        """Waits until the container's task log shows the provider's worker
        about to start, then a second more (it is inside backup_container)."""
        log = os.path.join(self.logs, "lxc-%s.log" % ct)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(log) and "using backup mechanism" in open(log, errors="replace").read():
                break
            time.sleep(0.05)
        time.sleep(1.0)

    def backups_of(self, ct):
        d = os.path.join(self.target, ct)
        if not os.path.isdir(d):
            return []
        return sorted(os.path.join(d, x) for x in os.listdir(d))

    def only_backup(self, ct):
        b = [x for x in self.backups_of(ct) if not x.endswith(".failed")]
        assert len(b) == 1, "expected one backup of %s, found %r" % (ct, self.backups_of(ct))
        return b[0]

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class IntegrationTest(unittest.TestCase):
    """Base: a fresh workspace per test; containers running before and after."""

    def setUp(self):
        self.env = env()
        for ct in (self.env["CT_PRIV"], self.env["CT_UNPRIV"]):
            ensure_running(ct)
        self.ws = Workspace()

    def tearDown(self):
        self.ws.cleanup()
        for ct in (self.env["CT_PRIV"], self.env["CT_UNPRIV"]):
            ensure_running(ct)

    def assertRunning(self, ct):
        self.assertEqual(ct_state(ct), "RUNNING", "container %s is not running" % ct)

    def assertNoLeftovers(self):
        self.assertEqual([x for x in os.listdir(self.ws.tmp) if x.startswith("ctdumptmp")], [],
                         "temporary directories left behind")
        mnt = os.path.join(self.ws.run_dir, "mnt")
        if os.path.isdir(mnt):
            self.assertEqual(os.listdir(mnt), [], "job mount directories left behind")
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(self.ws.run_dir, f.read(), "a job mount is visible to the host")

    def assertOk(self, r):
        self.assertEqual(r.returncode, 0, "ctdump failed:\n" + r.stderr[-4000:])
