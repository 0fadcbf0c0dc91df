"""Ceph clusters for ctdump's tests (scripts/ceph-cluster.sh).

shared() is the cluster of the CTest fixture `ceph` (tests/CMakeLists.txt: one
memstore OSD, pool "ctdump" of size 1), found through $CTDUMP_TEST_CEPH_DIR. A
test that needs it FAILS when it is missing: it was promised by the fixture.
Give each test its own namespace (unique_namespace) or pool (unique_pool) in it.

private(num_osds=3, pool_size=2) starts a cluster of the test's own (an OSD to
stop, a cluster to take down) and always stops it:

    with ceph.private(num_osds=3, pool_size=2, osd_store="bluestore") as c:
        cfg = c.storage_cfg("shared")
        ...
        c.osd_stop(1)

Both are a Cluster: its conf, env file variables, `rados` and `ceph` commands.
"""
import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid

SRC = os.environ.get("CTDUMP_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
SCRIPT = os.path.join(SRC, "scripts/ceph-cluster.sh")


class Cluster:
    """A running cluster of scripts/ceph-cluster.sh in `dir`."""

    def __init__(self, ceph_dir):
        self.dir = ceph_dir
        self.env = read_env(ceph_dir)
        self.conf = self.env["CEPH_CONF"]
        self.pool = self.env["CEPH_POOL"]
        self.num_osds = int(self.env["CEPH_NUM_OSDS"])

    def keyring(self, user="admin"):
        return os.path.join(self.dir, "ceph.client.%s.keyring" % user)

    def storage_cfg(self, storage_id, pool=None, namespace=None, username="admin", extra=""):
        """A storage.cfg stanza of a RADOS datastore on this cluster."""
        lines = ["datastore: %s" % storage_id, "\tbackend rados", "\tpool %s" % (pool or self.pool),
                 "\tceph-conf %s" % self.conf, "\tusername %s" % username]
        if namespace:
            lines.append("\tnamespace %s" % namespace)
        return "\n".join(lines) + "\n" + extra

    def rados(self, *args, pool=None, namespace=None, user="admin", check=True, input=None, timeout=60):
        """Runs `rados` as client.USER (pool: -p; namespace: -N); CompletedProcess (bytes)."""
        cmd = ["rados", "-c", self.conf, "--id", user]
        if pool:
            cmd += ["-p", pool]
        if namespace:
            cmd += ["-N", namespace]
        r = subprocess.run(cmd + [str(a) for a in args], capture_output=True, input=input, timeout=timeout,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (" ".join(cmd + [str(a) for a in args]), r.returncode,
                                                         r.stderr.decode(errors="replace").strip()))
        return r

    def ceph(self, *args, check=True, timeout=60):
        """Runs the `ceph` CLI as client.admin; its stdout (str)."""
        cmd = ["ceph", "-c", self.conf, "--connect-timeout", "10"] + [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
        return r.stdout

    def objects(self, pool=None, namespace=None):
        """The object names in POOL (default: the cluster's) and NAMESPACE (default: the default one)."""
        out = self.rados("ls", pool=pool or self.pool, namespace=namespace).stdout.decode()
        return sorted(line for line in out.splitlines() if line)

    def put(self, name, data, pool=None, namespace=None):
        self.rados("put", name, "-", pool=pool or self.pool, namespace=namespace, input=data)

    def get(self, name, pool=None, namespace=None):
        return self.rados("get", name, "-", pool=pool or self.pool, namespace=namespace).stdout

    def unique_namespace(self, prefix="t"):
        """A namespace name nobody else uses (RADOS namespaces need no creation)."""
        return "%s-%s" % (prefix, uuid.uuid4().hex[:12])

    def purge_namespace(self, namespace, pool=None):
        """Removes every object of NAMESPACE."""
        pool = pool or self.pool
        names = self.objects(pool, namespace)
        for i in range(0, len(names), 500):
            self.rados("rm", *names[i:i + 500], pool=pool, namespace=namespace, timeout=300)

    def create_pool(self, name, size=None):
        """Creates pool NAME (pg_num 8, min_size 1, application rados) and waits until it takes writes."""
        args = ["pool", name] + ([str(size)] if size else [])
        self._script(*args)

    def unique_pool(self, prefix="t", size=None):
        name = "%s-%s" % (prefix, uuid.uuid4().hex[:12])
        self.create_pool(name, size)
        return name

    def remove_pool(self, name):
        self.ceph("osd", "pool", "rm", name, name, "--yes-i-really-really-mean-it")

    def osd_stop(self, n):
        """SIGTERM osd.N; returns once it has exited and the monitor marked it down."""
        self._script("osd-stop", n)

    def osd_kill(self, n):
        """SIGKILL osd.N (no goodbye); returns once the monitor marked it down (about 10 s)."""
        self._script("osd-kill", n)

    def osd_start(self, n):
        """Starts osd.N again; returns once it is up."""
        self._script("osd-start", n)

    def _script(self, *args, timeout=300):
        run_script(self.dir, *args, timeout=timeout)


def read_env(ceph_dir):
    """The variables of CEPH_DIR/env (written by `ceph-cluster.sh start` once the cluster is ready)."""
    path = os.path.join(ceph_dir, "env")
    if not os.path.exists(path):
        raise AssertionError("no Ceph cluster at %s (%s missing): run through ctest (fixture 'ceph') or "
                             "start one with CEPH_DIR=%s scripts/ceph-cluster.sh start" % (ceph_dir, path, ceph_dir))
    out = subprocess.run(["bash", "-c", '. "$1"; env -0', "x", path], check=True, capture_output=True,
                         stdin=subprocess.DEVNULL).stdout.decode()
    env = dict(kv.split("=", 1) for kv in out.split("\0") if "=" in kv)
    return {k: v for k, v in env.items() if k.startswith("CEPH_")}


def run_script(ceph_dir, *args, extra_env=None, timeout=300):
    env = dict(os.environ, CEPH_DIR=ceph_dir, **(extra_env or {}))
    r = subprocess.run(["bash", SCRIPT] + [str(a) for a in args], env=env, capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise AssertionError("ceph-cluster.sh %s (CEPH_DIR=%s) failed (%d):\n%s" %
                             (" ".join(str(a) for a in args), ceph_dir, r.returncode, r.stderr[-4000:]))
    return r


def shared():
    """The fixture's cluster ($CTDUMP_TEST_CEPH_DIR); fails (not skips) when it is missing."""
    ceph_dir = os.environ.get("CTDUMP_TEST_CEPH_DIR", "")
    if not ceph_dir:
        raise AssertionError("CTDUMP_TEST_CEPH_DIR is not set: run this test through ctest, which starts "
                             "the fixture 'ceph' (tests/CMakeLists.txt)")
    return Cluster(ceph_dir)


@contextlib.contextmanager
def private(num_osds=1, pool_size=1, osd_store="memstore", pool="ctdump", with_mgr=False):
    """A cluster of the caller's own in a fresh directory; always stopped and removed."""
    parent = tempfile.mkdtemp(prefix="ctdump-ceph-")
    ceph_dir = os.path.join(parent, "cluster")
    extra = {"NUM_OSDS": str(num_osds), "POOL_SIZE": str(pool_size), "OSD_STORE": osd_store, "POOL": pool,
             "WITH_MGR": "1" if with_mgr else "0"}
    try:
        run_script(ceph_dir, "start", extra_env=extra)
        yield Cluster(ceph_dir)
    finally:
        try:
            run_script(ceph_dir, "stop", timeout=120)
        finally:
            shutil.rmtree(parent, ignore_errors=True)
