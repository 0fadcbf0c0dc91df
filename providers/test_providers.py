#!/usr/bin/python3
"""Tests of the borg and restic providers, driven through protocol v1 as ctdump
drives them, without ctdump: a main instance as host root, a worker instance as the
container's root in a user namespace with the container's ID map (made here the way
ctdump's userns module makes it: unshare, uid_map/gid_map written by the parent, setgroups,
setresuid 0), a tree with tricky content, then listing, notes, protection, both restore
mechanisms compared with the tree as the container sees it, deletion, a failed backup, and
the isolation of one container's worker from another container's repository.

Needs root, the tools (borgbackup; restic and rclone) and /var/tmp; skips otherwise.

    python3 -m unittest discover -s providers -p 'test_*.py' -v
    python3 providers/test_providers.py --userns-exec BASE COUNT -- CMD...   (helper mode)
"""

import ctypes
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PROVIDERS = {
    "borg": (os.path.join(HERE, "borg", "ctdump-provider-borg"), ("borg",)),
    "restic": (os.path.join(HERE, "restic", "ctdump-provider-restic"), ("restic", "rclone")),
}
MAP_A = (1000000, 131072)  # container ids 0..131071 -> host 1000000..; 70000 is above 65535
MAP_B = (2000000, 131072)
START = 1765000000  # 2025-12-06T05:46:40Z


def load_module(path):
    loader = importlib.machinery.SourceFileLoader(os.path.basename(path).replace("-", "_"), path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------------------------------------
# The worker's user namespace (helper mode of this file)


def userns_exec(base, count, argv):
    """Runs argv as uid/gid 0 of a new user + mount namespace mapping 0..count-1 to base..,
    host supplementary groups dropped, mounts private: ctdump's worker set-up."""
    libc = ctypes.CDLL(None, use_errno=True)
    r, w = os.pipe()
    r2, w2 = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.close(r2)
        os.setgroups([])
        if libc.unshare(0x10000000 | 0x00020000) != 0:  # CLONE_NEWUSER | CLONE_NEWNS
            os._exit(120)
        os.write(w2, b"x")
        os.close(w2)
        os.read(r, 1)
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        os.setgroups([])
        libc.mount(None, b"/", None, 16384 | (1 << 18), None)  # MS_REC | MS_PRIVATE
        os.execvp(argv[0], argv)
    os.close(r)
    os.close(w2)
    os.read(r2, 1)
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(f"0 {base} {count}\n")
    os.write(w, b"x")
    os.close(w)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


SYSTEM_PYTHON = "/usr/bin/python3"  # readable by container root (a pyenv under /root is not)


def in_userns(idmap):
    return [SYSTEM_PYTHON, os.path.abspath(__file__), "--userns-exec", str(idmap[0]),
            str(idmap[1]), "--"]


# ---------------------------------------------------------------------------------------------
# The container tree and its description as the container sees it

MKTREE = r'''
set -euo pipefail
r=$1; umask 022
# mnt first: a lower inode, so borg walks it before the other top-level directories and a
# restore has to keep its mtime although the mount point below it is a source of its own
mkdir -p "$r/mnt/data" "$r/srv/tricky" "$r/tmp" "$r/var/tmp" "$r/var/cache/apt" "$r/etc" "$r/sbin"
d=$r/srv/tricky
printf 'ct\n' > "$r/etc/hostname"
printf 'hello, ctdump\n' >"$d/hello.txt"
printf 'one inode, two names\n' >"$d/hl1"; ln "$d/hl1" "$d/hl2"
truncate -s 64M "$d/sparse.img"
printf 'ctdump-sparse-A%.0s' {1..256} | dd of="$d/sparse.img" bs=4096 conv=notrunc status=none
printf 'ctdump-sparse-B%.0s' {1..256} | dd of="$d/sparse.img" bs=4096 seek=$((32*1024*1024)) oflag=seek_bytes conv=notrunc status=none
mkfifo -m 0644 "$d/fifo"
cp /bin/true "$d/suid-true"; chmod 4755 "$d/suid-true"
cp /bin/true "$d/cap-true"; chmod 0755 "$d/cap-true"; setcap cap_net_raw+ep "$d/cap-true"
printf 'acl file\n' >"$d/acl.txt"; setfacl -m u:1000:r,g:1000:rw "$d/acl.txt"
mkdir "$d/acldir"; setfacl -m u:1000:rwx "$d/acldir"; setfacl -d -m u:1000:rwx,g:1000:rx "$d/acldir"
printf 'inherits\n' >"$d/acldir/inherited.txt"
printf 'has xattrs\n' >"$d/xattr.txt"; setfattr -n user.ctdump -v hello "$d/xattr.txt"
setfattr -n user.bin -v 0x00fffe0a5c01 "$d/xattr.txt"
printf 'secret-1000\n' >"$d/uid1000.txt"; chown 1000:1000 "$d/uid1000.txt"; chmod 0600 "$d/uid1000.txt"
printf 'big id\n' >"$d/uid70000.txt"; chown 70000:70001 "$d/uid70000.txt"; setfacl -m u:70002:r "$d/uid70000.txt"
name=long-; for ((i=${#name}; i<255; i++)); do name+=x; done; printf '255\n' >"$d/$name"
printf 'not utf-8\n' >"$d/bad-"$'\xff\xfe'".txt"
printf 'newline\n' >"$d/new"$'\n'"line.txt"
printf 'glob\n' >"$d/star*?[x].txt"
ln -s hello.txt "$d/symlink"; ln -s does/not/exist "$d/dangling"
mkdir "$d/emptydir"
mkdir -m 0700 "$d/private1000"; printf 'inner\n' >"$d/private1000/inner.txt"; chown -R 1000:1000 "$d/private1000"
touch -d '2001-02-03 04:05:06.123456789' "$d/hello.txt"
printf 'tmp file\n' >"$r/tmp/should-be-excluded"
printf 'var tmp\n' >"$r/var/tmp/also-excluded"
printf 'apt cache\n' >"$r/var/cache/apt/pkg.bin"
printf 'mp data\n' >"$r/mnt/data/on-mp.txt"
chmod 0751 "$r"
'''

EXCLUDES = ["/tmp/?*", "/var/tmp/?*", "/var/run/?*.pid", "/var/cache/"]
EXCLUDED = {"tmp/should-be-excluded", "var/tmp/also-excluded", "var/cache/apt",
            "var/cache/apt/pkg.bin", "srv/tricky/hostroot.txt"}
# "/var/cache/" (directories only): restic 0.14 drops the directory, borg 1.2 keeps it empty
EITHER = {"var/cache"}


def _acl(value):
    out = []
    for i in range(4, len(value), 8):
        tag, perm, ident = struct.unpack("<HHI", value[i:i + 8])
        out.append(f"{tag}:{ident if tag in (2, 8) else ''}:{perm}")
    return ",".join(out)


def _cap(value):
    magic, perm, inh = struct.unpack("<III", value[:12])
    return f"eff={magic & 1},perm={perm:#x},inh={inh:#x}"


def scan(root):
    """{path: description} of the tree below root, as the calling process sees it."""
    result, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [None] + dirnames + filenames:
            if name is None and dirpath != root:
                continue
            path = dirpath if name is None else os.path.join(dirpath, name)
            rel = os.fsencode(os.path.relpath(path, root))
            st = os.lstat(path)
            kind = stat.filemode(st.st_mode)[0]
            d = {"type": kind, "uid": st.st_uid, "gid": st.st_gid,
                 "mode": stat.S_IMODE(st.st_mode)}
            if kind == "-":
                try:
                    with open(path, "rb") as f:
                        d["sha"] = hashlib.sha256(f.read()).hexdigest()[:16]
                except OSError:
                    d["sha"] = "unreadable"
                d["size"] = st.st_size
                d["sparse"] = st.st_blocks * 512 < st.st_size // 2
                if st.st_nlink > 1:
                    d["link"] = inodes.setdefault((st.st_dev, st.st_ino), rel).decode(
                        errors="surrogateescape")
            if kind == "l":
                d["target"] = os.readlink(path)
            else:
                d["mtime_ns"] = st.st_mtime_ns
            try:
                names = os.listxattr(path, follow_symlinks=False)
            except OSError:
                names = []
            for xname in sorted(names):
                try:
                    value = os.getxattr(path, xname, follow_symlinks=False)
                except OSError:
                    continue
                if xname.startswith("system.posix_acl"):
                    d[xname] = _acl(value)
                elif xname == "security.capability":
                    d[xname] = _cap(value)
                else:
                    d[xname] = value.hex()
            result[rel.decode(errors="surrogateescape")] = d
    return result


def scan_tar(path):
    """{path: description} of a tar file (owners as stored)."""
    result = {}
    with tarfile.open(path) as t:
        for m in t:
            name = m.name[2:] if m.name.startswith("./") else m.name
            name = name.rstrip("/") or "."
            d = {"type": {tarfile.REGTYPE: "-", tarfile.DIRTYPE: "d", tarfile.SYMTYPE: "l",
                          tarfile.LNKTYPE: "h", tarfile.FIFOTYPE: "p"}.get(m.type, "?"),
                 "uid": m.uid, "gid": m.gid, "mode": m.mode & 0o7777}
            if m.isreg():
                d["sha"] = hashlib.sha256(t.extractfile(m).read()).hexdigest()[:16]
                d["size"] = m.size
            if m.issym() or m.islnk():
                d["target"] = m.linkname
            d["mtime"] = int(m.mtime)
            for key, value in m.pax_headers.items():
                if key.startswith("SCHILY."):
                    d[key] = value
            result[name] = d
    return result


# ---------------------------------------------------------------------------------------------
# Protocol driver


class ProtocolError(Exception):
    pass


class Instance:
    def __init__(self, command, role, storage_id, config, idmap=None):
        argv = ([] if idmap is None else in_userns(idmap)) + [command]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, cwd="/")
        self.next_id = 1
        self.logs, self.progress = [], []
        r = self.call("hello", {"api-version": 1, "ctdump-version": "0.1.0-test",
                                "role": role, "storage-id": storage_id,
                                "storage-config": config})
        assert r["api-version"] == 1, r

    def call(self, method, params=None, timeout=600):
        req = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            req["params"] = params
        self.next_id += 1
        self.proc.stdin.write((json.dumps(req) + "\n").encode())
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                err = self.proc.stderr.read().decode(errors="replace")
                raise ProtocolError(f"provider exited during {method}: {err[-2000:]}")
            msg = json.loads(line)
            if "id" not in msg:
                if msg["method"] == "log":
                    self.logs.append((msg["params"]["level"], msg["params"]["message"]))
                else:
                    self.progress.append(msg["params"])
                continue
            assert msg["id"] == req["id"], msg
            if "error" in msg:
                raise ProtocolError(msg["error"]["message"])
            return msg["result"]

    def close(self):
        try:
            self.call("shutdown")
        except (ProtocolError, BrokenPipeError):
            pass
        self.proc.stdin.close()
        rc = self.proc.wait(30)
        self.stderr = self.proc.stderr.read().decode(errors="replace")
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()


def info_for(tree, idmap, bwlimit=None):
    info = {"directory": tree, "sources": ["./", "./mnt/data"],
            "backup-user-id": idmap[0] if idmap else 0,
            "firewall-config": "[OPTIONS]\nenable: 1\n"}
    if bwlimit:
        info["bandwidth-limit"] = bwlimit
    return info


GUEST = "arch: amd64\nhostname: ct\nunprivileged: 1\nlxc.idmap: u 0 1000000 131072\n"


# ---------------------------------------------------------------------------------------------


class ProviderTestBase:
    NAME = None

    @classmethod
    def setUpClass(cls):
        try:
            cls._set_up()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _set_up(cls):
        cls.command, tools = PROVIDERS[cls.NAME]
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root (user namespaces, chown)")
        for tool in tools:
            if shutil.which(tool) is None:
                raise unittest.SkipTest(f"{tool} is not installed")
        cls.base = tempfile.mkdtemp(prefix=f"t16-{cls.NAME}-", dir="/var/tmp")
        os.chmod(cls.base, 0o755)  # the workers must pass on the way to the run directory
        cls.tree = os.path.join(cls.base, "ct-a")
        os.mkdir(cls.tree)
        os.chown(cls.tree, MAP_A[0], MAP_A[0])
        subprocess.run(in_userns(MAP_A) + ["bash", "-c", MKTREE, "mktree", cls.tree], check=True)
        cls.mounted = []
        # mnt/data as a file system of its own, as a mount point source
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs",
                        os.path.join(cls.tree, "mnt/data")], check=True)
        cls.mounted.append(os.path.join(cls.tree, "mnt/data"))
        os.chown(os.path.join(cls.tree, "mnt/data"), MAP_A[0], MAP_A[0])
        subprocess.run(in_userns(MAP_A) + ["sh", "-c", "printf 'on tmpfs\\n' > \"$1\"", "sh",
                                           os.path.join(cls.tree, "mnt/data/on-mp.txt")],
                       check=True)
        with open(os.path.join(cls.tree, "srv/tricky/hostroot.txt"), "w") as f:
            f.write("host-secret\n")
        os.chmod(os.path.join(cls.tree, "srv/tricky/hostroot.txt"), 0o600)
        cls.pwfile = os.path.join(cls.base, "master.pw")
        with open(cls.pwfile, "w") as f:
            f.write("correct horse battery staple\n")
        os.chmod(cls.pwfile, 0o600)
        cls.config = {"command": cls.command, "repository": os.path.join(cls.base, "repo"),
                      "passphrase-file": cls.pwfile,
                      "state-dir": os.path.join(cls.base, "state"),
                      "cache-dir": os.path.join(cls.base, "cache"),
                      "run-dir": os.path.join(cls.base, "run")}
        cls.source_view = cls.scan_in_userns(cls.tree, MAP_A)

    @classmethod
    def tearDownClass(cls):
        for m in reversed(getattr(cls, "mounted", [])):
            subprocess.run(["umount", m], check=False)
        if getattr(cls, "base", None):
            shutil.rmtree(cls.base, ignore_errors=True)

    @classmethod
    def scan_in_userns(cls, tree, idmap):
        out = subprocess.run(in_userns(idmap) + [SYSTEM_PYTHON, os.path.abspath(__file__),
                                                 "--scan", tree],
                             check=True, stdout=subprocess.PIPE).stdout
        return json.loads(out)

    def main(self, **extra):
        return Instance(self.command, "main", "t16", dict(self.config, **extra))

    def backup(self, vmid, start, tree, idmap, fail_worker=False, bwlimit=None):
        """One container through the job's calls. Returns (volname, size, main logs, worker)."""
        m = self.main()
        m.call("job_init", {"start-time": start})
        volname = m.call("backup_init", {"vmid": vmid, "vmtype": "lxc",
                                         "start-time": start})["archive-name"]
        self.assertEqual(m.call("backup_get_mechanism", {"vmid": vmid, "vmtype": "lxc"}),
                         {"mechanism": "directory"})
        info = info_for(tree, idmap, bwlimit)
        prep = m.call("backup_container_prepare", {"vmid": vmid, "info": info})
        w = Instance(self.command, "worker", "t16", self.config, idmap)
        ok = True
        started = time.monotonic()
        try:
            if fail_worker:
                w.kill()  # a worker that dies mid-backup
                ok = False
            else:
                w.call("backup_container", {"vmid": vmid, "guest-config": GUEST,
                                            "exclude-patterns": EXCLUDES, "info": info,
                                            "worker-state": prep["worker-state"]})
                self.assertEqual(w.close(), 0, w.stderr)
        except ProtocolError as err:
            ok = False
            self.worker_error = str(err)
        elapsed = time.monotonic() - started
        r = m.call("backup_cleanup", {"vmid": vmid, "vmtype": "lxc", "success": ok,
                                      "info": {} if ok else {"error": "worker failed"}})
        log = os.path.join(self.base, "task.log")
        with open(log, "w") as f:
            f.write("task log\n")
        m.call("backup_handle_log_file", {"vmid": vmid, "filename": log})
        m.call("job_cleanup", {})
        m.call("job_cleanup", {})
        self.main_logs = m.logs
        self.assertEqual(m.close(), 0, m.stderr)
        return volname, (r or {}).get("stats", {}).get("archive-size"), w, elapsed

    # ---- the cases -------------------------------------------------------------------------

    def test_1_backup_list_attributes_restore(self):
        vol, size, worker, _ = self.backup("101", START, self.tree, MAP_A)
        self.assertTrue(any("hostroot.txt" in msg for lvl, msg in worker.logs if lvl == "warn"),
                        worker.logs)
        self.assertGreater(size, 64 << 20)
        m = self.main()
        listed = m.call("list_backups", {"vmid": "101"})
        self.assertEqual([b["volname"] for b in listed], [vol])
        self.assertEqual(listed[0]["ctime"], START)
        m.call("update_attribute", {"volname": vol, "name": "notes",
                                    "value": "nightly \u2014 Gr\u00fc\u00dfe\nline 2"})
        m.call("update_attribute", {"volname": vol, "name": "protected", "value": True})
        with self.assertRaisesRegex(ProtocolError, "protected"):
            m.call("delete_backup", {"volname": vol})
        entry = m.call("list_backups", {"vmid": None})[0]
        self.assertEqual(entry["notes"], "nightly \u2014 Gr\u00fc\u00dfe\nline 2")
        self.assertTrue(entry["protected"])
        self.assertEqual(m.call("archive_get_guest_config", {"volname": vol}),
                         {"config": GUEST})
        self.assertEqual(m.call("archive_get_firewall_config", {"volname": vol}),
                         {"config": "[OPTIONS]\nenable: 1\n"})
        with self.assertRaisesRegex(ProtocolError, "101/2020-01-01T00:00:00Z"):
            m.call("restore_get_mechanism", {"volname": "101/2020-01-01T00:00:00Z"})
        m.close()
        self.restore_directory(vol)
        self.restore_tar(vol)

    def expected(self):
        return {p: d for p, d in self.source_view.items() if p not in EXCLUDED}

    def compare(self, got, want, ignore=()):
        """Differences between two scans, as readable lines."""
        diffs = []
        for path in sorted((set(got) | set(want)) - EITHER):
            if path not in got:
                diffs.append(f"missing {path!r}")
                continue
            if path not in want:
                diffs.append(f"extra {path!r}")
                continue
            for key in sorted(set(got[path]) | set(want[path])):
                if key in ignore:
                    continue
                if got[path].get(key) != want[path].get(key):
                    diffs.append(f"{path!r} {key}: got {got[path].get(key)!r}, "
                                 f"want {want[path].get(key)!r}")
        return diffs

    def restore_directory(self, vol):
        m = self.main(**{"restore-mechanism": "directory"})
        self.assertEqual(m.call("restore_get_mechanism", {"volname": vol}),
                         {"mechanism": "directory", "vmtype": "lxc"})
        d = m.call("restore_container_init", {"volname": vol, "info": {}})["archive-directory"]
        parent = os.path.dirname(d)
        self.assertEqual(stat.S_IMODE(os.stat(parent).st_mode), 0o700)
        got = scan(d)  # host root, extracted with the stored (container) ids
        diffs = self.compare(got, self.expected())
        print(f"\n[{self.NAME}] directory restore vs source (container view): "
              f"{len(diffs)} differences", file=sys.stderr)
        for line in diffs:
            print("   ", line, file=sys.stderr)
        self.__class__.directory_diffs = diffs
        m.call("restore_container_cleanup", {"volname": vol, "info": {}})
        self.assertFalse(os.path.exists(d))
        m.call("restore_container_cleanup", {"volname": vol, "info": {}})  # idempotent
        m.close()
        allowed = self.DIRECTORY_LOSSES
        unexpected = [l for l in diffs if not any(a in l for a in allowed)]
        self.assertEqual(unexpected, [])

    def restore_tar(self, vol):
        m = self.main(**{"restore-mechanism": "tar"})
        path = m.call("restore_container_init", {"volname": vol, "info": {}})["tar-path"]
        got = scan_tar(path)
        want = {}
        for p, d in self.expected().items():
            w = {k: v for k, v in d.items() if k in ("type", "uid", "gid", "mode", "sha",
                                                      "size", "target")}
            if "mtime_ns" in d:
                w["mtime"] = d["mtime_ns"] // 10**9
            want[p] = w
        got_cmp = {p: {k: v for k, v in d.items() if not k.startswith("SCHILY.")}
                   for p, d in got.items()}
        diffs = self.compare(got_cmp, want)
        xattrs = sorted({k for d in got.values() for k in d if k.startswith("SCHILY.")})
        print(f"\n[{self.NAME}] tar restore vs source: {len(diffs)} differences; pax keys: "
              f"{xattrs}", file=sys.stderr)
        for line in diffs:
            print("   ", line, file=sys.stderr)
        m.call("restore_container_cleanup", {"volname": vol, "info": {}})
        self.assertFalse(os.path.exists(path))
        m.close()

    def test_2_incremental_and_delete(self):
        vol1, _, _, t1 = self.backup("102", START + 86400, self.tree, MAP_A)
        vol2, _, w, t2 = self.backup("102", START + 2 * 86400, self.tree, MAP_A)
        print(f"\n[{self.NAME}] backup 1: {t1:.2f} s, backup 2 (unchanged tree): {t2:.2f} s",
              file=sys.stderr)
        m = self.main()
        self.assertEqual([b["volname"] for b in m.call("list_backups", {"vmid": "102"})],
                         [vol1, vol2])
        m.call("delete_backup", {"volname": vol1})
        self.assertEqual([b["volname"] for b in m.call("list_backups", {"vmid": "102"})],
                         [vol2])
        with self.assertRaisesRegex(ProtocolError, "not found"):
            m.call("delete_backup", {"volname": vol1})
        with self.assertRaises(ProtocolError):
            m.call("delete_backup", {"volname": "../etc/passwd"})
        # A job's deletions (its pruning) compact once, in job_cleanup.
        vol3, _, _, _ = self.backup("102", START + 3 * 86400, self.tree, MAP_A)
        m.call("job_init", {"start-time": START + 4 * 86400})
        m.call("delete_backup", {"volname": vol2})
        m.call("delete_backup", {"volname": vol3})
        compacted = [msg for _, msg in m.logs if "compacted" in msg]
        self.assertEqual(compacted, [])
        m.call("job_cleanup", {})
        compacted = [msg for _, msg in m.logs if "compacted" in msg]
        self.assertEqual(compacted, ["compacted the repository of '102'"])
        self.assertEqual(m.call("list_backups", {"vmid": "102"}), [])
        m.close()

    def test_3_failed_worker_leaves_nothing(self):
        vol, size, _, _ = self.backup("103", START + 3 * 86400, self.tree, MAP_A,
                                      fail_worker=True)
        self.assertIsNone(size)
        m = self.main()
        self.assertEqual(m.call("list_backups", {"vmid": "103"}), [])
        m.close()
        # and the next backup works (no stale lock, no stale session)
        vol2, size2, _, _ = self.backup("103", START + 4 * 86400, self.tree, MAP_A)
        self.assertGreater(size2, 0)

    def test_4_isolation(self):
        """Container B's worker (another ID map) cannot reach A's repository, A's session
        socket or the master passphrase; A's worker cannot reach B's."""
        self.backup("104", START + 5 * 86400, self.tree, MAP_A)
        repo_a = os.path.join(self.config["repository"], "104")
        m = self.main()
        m.call("job_init", {"start-time": START + 6 * 86400})
        m.call("backup_init", {"vmid": "104", "vmtype": "lxc", "start-time": START + 6 * 86400})
        prep = m.call("backup_container_prepare",
                      {"vmid": "104", "info": info_for(self.tree, MAP_A)})
        session = prep["worker-state"]["session"]
        probe = (
            "import os, socket, sys\n"
            "res = {}\n"
            "for p in sys.argv[1:-1]:\n"
            "    try:\n"
            "        os.listdir(p) if os.path.isdir(p) else open(p).read(1); res[p] = 'readable'\n"
            "    except OSError as e: res[p] = e.strerror\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try: s.connect(sys.argv[-1]); res['socket'] = 'connected'\n"
            "except OSError as e: res['socket'] = e.strerror\n"
            "print(__import__('json').dumps(res))\n")
        cache_a = prep["worker-state"]["cache"]
        targets = [repo_a, self.pwfile, os.path.join(session, "passphrase"), cache_a,
                   os.path.join(session, "repo.sock")]
        out_b = subprocess.run(in_userns(MAP_B) + [SYSTEM_PYTHON, "-c", probe] + targets,
                               stdout=subprocess.PIPE, check=True).stdout
        out_a = subprocess.run(in_userns(MAP_A) + [SYSTEM_PYTHON, "-c", probe] + targets,
                               stdout=subprocess.PIPE, check=True).stdout
        m.call("backup_cleanup", {"vmid": "104", "vmtype": "lxc", "success": False,
                                  "info": {"error": "test"}})
        m.close()
        res_b, res_a = json.loads(out_b), json.loads(out_a)
        print(f"\n[{self.NAME}] worker of another container: {res_b}\n"
              f"[{self.NAME}] worker of the container itself: {res_a}", file=sys.stderr)
        for path in targets[:4]:
            self.assertEqual(res_b[path], "Permission denied", path)
        self.assertEqual(res_a[cache_a], "readable")  # its own cache, for this backup only
        self.assertEqual(os.stat(cache_a).st_uid, 0)  # root's again after the backup
        self.assertEqual(res_b["socket"], "Permission denied")
        self.assertEqual(res_a[repo_a], "Permission denied")   # not even its own repository
        self.assertEqual(res_a[self.pwfile], "Permission denied")
        self.assertEqual(res_a[targets[2]], "readable")        # its own passphrase only
        self.assertEqual(res_a["socket"], "connected")

    def test_5_bandwidth_limit(self):
        big = os.path.join(self.base, "ct-bw")
        os.mkdir(big)
        with open(os.path.join(big, "random.bin"), "wb") as f:
            f.write(os.urandom(6 << 20))
        os.makedirs(os.path.join(big, "mnt/data"))
        for root, dirs, files in os.walk(big):
            for n in dirs + files + [""]:
                os.lchown(os.path.join(root, n), MAP_A[0], MAP_A[0])
        _, _, _, elapsed = self.backup("105", START + 7 * 86400, big, MAP_A, bwlimit=2 << 20)
        print(f"\n[{self.NAME}] 6 MiB of random data at 2 MiB/s: {elapsed:.2f} s",
              file=sys.stderr)
        self.assertGreater(elapsed, 2.5)


class BorgTest(ProviderTestBase, unittest.TestCase):
    NAME = "borg"
    # measured: borg extract does not restore the mtime of the extraction root
    DIRECTORY_LOSSES = ["'.' mtime_ns"]


    def test_7_quota(self):
        """quota: borg serve --storage-quota; a backup beyond it fails and leaves nothing."""
        big = os.path.join(self.base, "ct-quota")
        os.mkdir(big)
        with open(os.path.join(big, "random.bin"), "wb") as f:
            f.write(os.urandom(24 << 20))  # beyond the smallest quota borg takes, 10M
        for root, dirs, files in os.walk(big):
            for n in dirs + files + [""]:
                os.lchown(os.path.join(root, n), MAP_A[0], MAP_A[0])
        self.config["quota"] = "10M"
        try:
            self.backup("107", START + 10 * 86400, big, MAP_A)
        finally:
            del self.config["quota"]
        # The worker's borg is told by the server that the quota is exceeded.
        self.assertIn("borg create failed", self.worker_error)
        self.assertIn("storage quota", self.worker_error + " ".join(m for _, m in self.main_logs))
        m = self.main()
        self.assertEqual(m.call("list_backups", {"vmid": "107"}), [])
        m.close()
        for bad in ("lots", "1M", "9999K"):
            self.config["quota"] = bad
            try:
                m = self.main()
                with self.assertRaisesRegex(ProtocolError, "invalid quota '%s'" % bad):
                    m.call("job_init", {"start-time": START})
                m.close()
            finally:
                del self.config["quota"]

    def test_6_vanished_archive_fails_the_backup(self):
        """borg serve --append-only still lets the worker delete an archive logically; the
        main instance notices, fails the backup (its archive discarded) and stops compacting
        that repository."""
        vol1, _, _, _ = self.backup("106", START + 8 * 86400, self.tree, MAP_A)
        stamp1 = vol1.split("/", 1)[1]
        m = self.main()
        m.call("job_init", {"start-time": START + 9 * 86400})
        m.call("backup_init", {"vmid": "106", "vmtype": "lxc", "start-time": START + 9 * 86400})
        info = info_for(self.tree, MAP_A)
        ws = m.call("backup_container_prepare", {"vmid": "106", "info": info})["worker-state"]
        attack = ('BORG_RSH="$1 connect $2/repo.sock" BORG_BASE_DIR="$3" '
                  'BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_PASSPHRASE_FD=3 '
                  'borg delete "ssh://ctdump-main$4::$5" 3<"$2/passphrase"')
        rc = subprocess.run(in_userns(MAP_A) + ["sh", "-c", attack, "sh", self.command,
                                                ws["session"], ws["cache"],
                                                ws["repository-path"], stamp1]).returncode
        self.assertEqual(rc, 0)  # append-only does not prevent it (facts §8)
        w = Instance(self.command, "worker", "t16", self.config, MAP_A)
        w.call("backup_container", {"vmid": "106", "guest-config": GUEST,
                                    "exclude-patterns": [], "info": info, "worker-state": ws})
        w.close()
        with self.assertRaisesRegex(ProtocolError, "deleted archives of its repository"):
            m.call("backup_cleanup", {"vmid": "106", "vmtype": "lxc", "success": True,
                                      "info": {}})
        errors = [msg for lvl, msg in m.logs if lvl == "err"]
        self.assertTrue(any(stamp1 in e and "disappeared" in e for e in errors), m.logs)
        marker = os.path.join(self.config["repository"], ".ctdump", "106", "archives-vanished")
        self.assertTrue(os.path.exists(marker))
        # Neither the deleted archive nor the discarded one is listed.
        listed = [b["volname"] for b in m.call("list_backups", {"vmid": "106"})]
        m.close()
        self.assertNotIn("106/" + stamp1, listed)
        self.assertEqual(listed, [], listed)


class ResticTest(ProviderTestBase, unittest.TestCase):
    NAME = "restic"
    # measured: restic 0.14 restore writes no holes
    DIRECTORY_LOSSES = ["'srv/tricky/sparse.img' sparse"]


class PureTest(unittest.TestCase):
    def test_exclusions(self):
        borg = load_module(PROVIDERS["borg"][0])
        args, warnings = borg.borg_exclude_args(["/tmp/?*", "bar", "/var/cache/", "**/x"], True)
        self.assertEqual(args, ["-e", "sh:filesystem/tmp/?*", "-e", "sh:filesystem/**/bar",
                                "-e", "sh:filesystem/var/cache/", "-e",
                                "sh:filesystem/**/**/x", "-e", "sh:filesystem/**/lost+found"])
        self.assertEqual(len(warnings), 1)
        restic = load_module(PROVIDERS["restic"][0])
        args, _ = restic.restic_exclude_args(["/tmp/?*", "bar"], "/run/p/s/101/backup/filesystem",
                                             False)
        self.assertEqual(args, ["--exclude", "/run/p/s/101/backup/filesystem/tmp/?*",
                                "--exclude", "bar"])

    def test_passphrases_differ_per_container(self):
        lib = load_module(os.path.join(HERE, "lib", "ctdump_provider.py"))
        self.assertNotEqual(lib.derive_passphrase("m", "101", "borg"),
                            lib.derive_passphrase("m", "102", "borg"))
        self.assertNotEqual(lib.derive_passphrase("m", "101", "borg"),
                            lib.derive_passphrase("m", "101", "restic"))
        self.assertEqual(lib.ratelimit_kib(204800), 200)
        self.assertEqual(lib.ratelimit_kib(None), 0)

    def test_restore_mechanism_param_overrides_the_storage_key(self):
        borg = load_module(PROVIDERS["borg"][0])
        p = borg.Provider(None)
        p.config = {"restore-mechanism": "tar"}
        self.assertEqual(p.restore_mechanism({}), "tar")
        self.assertEqual(p.restore_mechanism({"mechanism": "directory"}), "directory")
        with self.assertRaises(borg.ParamError):
            p.restore_mechanism({"mechanism": "fuse"})
        p.config = {}
        self.assertEqual(p.restore_mechanism({}), "directory")
        for tool in ("borg", "restic"):
            mod = load_module(PROVIDERS[tool][0])
            for mech, words in mod.Provider.RESTORE_LOSSES.items():
                self.assertIn(mech, ("tar", "directory"))
                for w in words:
                    self.assertRegex(w, r"^[a-z0-9-]{1,64}$")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--userns-exec":
        rest = sys.argv[4:]
        sys.exit(userns_exec(int(sys.argv[2]), int(sys.argv[3]),
                             rest[1:] if rest and rest[0] == "--" else rest))
    if len(sys.argv) > 1 and sys.argv[1] == "--scan":
        print(json.dumps(scan(sys.argv[2])))
        sys.exit(0)
    unittest.main()
