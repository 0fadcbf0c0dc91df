"""File restore of a datastore backup through the API (issue 15, milestone 10).

A real `ctdump serve` (api_server.ApiServer), a datastore backup of the
privileged container made through the API, then GET .../file-restore/list and
.../download with an API token through proxmoxer and requests: a file's bytes
are the container's, a directory comes as a .tar.zst that `zstd -dc | tar -t`
reads, hostile `filepath` and `volume` values are 400s, and a symlink to
/etc/shadow inside the container is listed but never followed (neither the
download nor the archive holds the host's file).
"""
import base64
import os
import shutil
import subprocess
import time
import unittest
import urllib.parse

import requests
from proxmoxer.core import ResourceException

import api_server
import harness

SUBDIR = "srv/ctdump-files-it"
MANY = 20000
# Names a hostile container may hold, in their own directory: each is listed
# as text, downloads with its own bytes, and never splits a header.
HOSTILE = {
    b"two\nlines": b"newline\n",
    b"cr\rlf\r\nX-Injected: 1": b"crlf\n",
    b"<img src=x onerror=alert(1)>": b"html\n",
    b'quote"back\\slash%2e': b"quote\n",
    b"n" * 255: b"long\n",
    b"caf\xc3\xa9 \xe2\x98\x83": b"utf8\n",
}


def b64(path):
    return base64.b64encode(path if isinstance(path, bytes) else path.encode()).decode()


def inside(path):
    return b64(b"/root.pxar.didx/" + (path if isinstance(path, bytes) else path.encode()))


class ApiFilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = harness.env()
        cls.ct = cls.env["CT_PRIV"]
        harness.ensure_running(cls.ct)
        cls.rootfs = cls.env["ROOTFS_PRIV"]
        cls.tree = os.path.join(cls.rootfs, SUBDIR)
        shutil.rmtree(cls.tree, ignore_errors=True)
        os.makedirs(os.path.join(cls.tree, "sub", "deeper"))
        os.makedirs(os.path.join(cls.tree, "many"))
        cls.data = os.urandom(3 * 1024 * 1024 + 17)
        with open(os.path.join(cls.tree, "data.bin"), "wb") as f:
            f.write(cls.data)
        with open(os.path.join(cls.tree, "sub", "deeper", "note.txt"), "w") as f:
            f.write("deep\n")
        with open(os.path.join(cls.tree.encode(), b"bad-\xff-name"), "wb") as f:
            f.write(b"not utf-8 name\n")
        os.symlink("/etc/shadow", os.path.join(cls.tree, "shadow-link"))
        os.makedirs(os.path.join(cls.tree, "hostile"))
        for name, data in HOSTILE.items():
            with open(os.path.join(cls.tree.encode(), b"hostile", name), "wb") as f:
                f.write(data)
        for i in range(MANY):
            open(os.path.join(cls.tree, "many", "f%06d" % i), "w").close()

        cls.ws, cls.store, cls.server = api_server.workspace_server(cls.env["LXCPATH"])
        try:
            _, cls.secret = cls.server.add_token("root@pam", "it", "--privsep", "0")
            _, cls.weak_secret = cls.server.add_token("root@pam", "weak", "--privsep", "1")
            cls.server.start()
        except Exception:
            cls.tearDownClass()
            raise
        cls.node = api_server.node_name()
        cls.pve = cls.server.token_client("it", cls.secret, timeout=120)
        node = cls.pve.nodes(cls.node)
        upid = node.vzdump.post(vmid=cls.ct, storage="ds", mode="stop")
        api_server.wait_task(cls.pve, cls.node, upid)
        harness.ensure_running(cls.ct)
        backups = [c for c in node.storage("ds").content.get(content="backup")
                   if str(c["vmid"]) == cls.ct]
        assert len(backups) == 1, (backups, node.tasks(upid).log.get(limit=0)[-10:])
        cls.volid = backups[0]["volid"]

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "server"):
            cls.server.cleanup()
        if hasattr(cls, "ws"):
            cls.ws.cleanup()
        shutil.rmtree(getattr(cls, "tree", "/nonexistent"), ignore_errors=True)
        harness.ensure_running(cls.ct)

    # ---- helpers ----

    def files(self):
        return self.pve.nodes(self.node).storage("ds")("file-restore")

    def listing(self, filepath, volume=None):
        return self.files().list.get(volume=volume or self.volid, filepath=filepath)

    def raw(self, what, query, secret=None, token="it"):
        """GET .../file-restore/<what>?<query> (query already encoded)."""
        url = "%s/api2/json/nodes/%s/storage/ds/file-restore/%s?%s" % (
            self.server.url, self.node, what, query)
        return requests.get(url, verify=self.server.ca, stream=True, timeout=120, headers={
            "Authorization": "PVEAPIToken=root@pam!%s=%s" % (token, secret or self.secret)})

    def download(self, filepath, tar=False, volume=None):
        q = requests.compat.urlencode({"volume": volume or self.volid, "filepath": filepath})
        return self.raw("download", q + ("&tar=1" if tar else ""))

    # ---- tests ----

    def test_archive_level_and_listing(self):
        self.assertEqual(self.listing("/"), [{"filepath": "L3Jvb3QucHhhci5kaWR4",
                                              "text": "root.pxar.didx", "type": "d", "leaf": 0}])
        top = {e["text"]: e for e in self.listing(inside(""))}
        self.assertEqual(top["etc"]["type"], "d")
        entries = {e["text"]: e for e in self.listing(inside(SUBDIR))}
        self.assertEqual(set(entries), {"data.bin", "sub", "many", "shadow-link",
                                        "bad-\ufffd-name", "hostile"})
        self.assertEqual(entries["data.bin"]["type"], "f")
        self.assertEqual(entries["data.bin"]["size"], len(self.data))
        self.assertEqual(entries["data.bin"]["leaf"], 1)
        self.assertIn("mtime", entries["data.bin"])
        self.assertEqual((entries["sub"]["type"], entries["sub"]["leaf"]), ("d", 0))
        # The symlink is listed as one, never followed.
        self.assertEqual(entries["shadow-link"]["type"], "l")
        self.assertNotIn("size", entries["shadow-link"])
        # A name that is not UTF-8: U+FFFD shown, the exact bytes in filepath.
        bad = entries["bad-\ufffd-name"]
        self.assertEqual(base64.b64decode(bad["filepath"]),
                         b"/root.pxar.didx/" + SUBDIR.encode() + b"/bad-\xff-name")
        r = self.download(bad["filepath"])
        self.assertEqual((r.status_code, r.content), (200, b"not utf-8 name\n"))
        # Going down with the answer's filepath.
        sub = {e["text"]: e for e in self.listing(entries["sub"]["filepath"])}
        self.assertEqual(set(sub), {"deeper"})

    def test_hostile_names_are_text_and_download_safely(self):
        entries = self.listing(inside(SUBDIR + "/hostile"))
        by_path = {base64.b64decode(e["filepath"]): e for e in entries}
        prefix = b"/root.pxar.didx/" + SUBDIR.encode() + b"/hostile/"
        self.assertEqual(set(by_path), {prefix + n for n in HOSTILE})
        for name, data in HOSTILE.items():
            e = by_path[prefix + name]
            self.assertEqual(e["text"], name.decode("utf-8", "replace"))
            self.assertEqual((e["type"], e["size"]), ("f", len(data)))
            r = self.download(e["filepath"])
            self.assertEqual((r.status_code, r.content), (200, data), name)
            cd = r.headers["Content-Disposition"]
            # One header, printable ASCII: no CR/LF split, nothing injected.
            self.assertNotIn("X-Injected", r.headers)
            self.assertTrue(all(0x20 <= ord(c) < 0x7f for c in cd), cd)
            self.assertTrue(cd.startswith('attachment; filename="'), cd)
            # RFC 8187's filename* carries the exact name back.
            encoded = cd.split("filename*=UTF-8''", 1)[1]
            self.assertEqual(urllib.parse.unquote_to_bytes(encoded), name, cd)

    def test_file_bytes_are_the_containers(self):
        r = self.download(inside(SUBDIR + "/data.bin"))
        self.assertEqual(r.status_code, 200, r.text[:200])
        self.assertEqual(r.headers["Content-Type"], "application/octet-stream")
        self.assertEqual(int(r.headers["Content-Length"]), len(self.data))
        self.assertIn('filename="data.bin"', r.headers["Content-Disposition"])
        self.assertTrue(r.content == self.data)
        with open(os.path.join(self.rootfs, "etc/hostname"), "rb") as f:
            hostname = f.read()
        r = self.download(inside("etc/hostname"))
        self.assertEqual((r.status_code, r.content), (200, hostname))

    def test_directory_as_tar_zst(self):
        r = self.download(inside(SUBDIR), tar=True)
        self.assertEqual(r.status_code, 200, r.text[:200])
        self.assertIn('filename="ctdump-files-it.tar.zst"', r.headers["Content-Disposition"])
        path = os.path.join(self.ws.tmp, "dir.tar.zst")
        with open(path, "wb") as f:
            for chunk in r.iter_content(1 << 16):
                f.write(chunk)
        out = subprocess.run("zstd -dc '%s' | tar -tvf -" % path, shell=True, check=True,
                             capture_output=True, text=True, errors="replace").stdout
        self.assertIn("./%s/sub/deeper/note.txt" % SUBDIR, out)
        self.assertIn("./%s/data.bin" % SUBDIR, out)
        self.assertIn("./%s/shadow-link -> /etc/shadow" % SUBDIR, out)
        self.assertEqual(out.count("./%s/many/f" % SUBDIR), MANY)
        # The symlink is stored as one: no member holds the host's shadow.
        whole = subprocess.run("zstd -dc '%s'" % path, shell=True, check=True,
                               capture_output=True).stdout
        with open("/etc/shadow", "rb") as f:
            host_shadow = f.read()
        self.assertNotIn(host_shadow.splitlines()[0], whole)
        self.assertIn(self.data[:4096], whole)

    def test_refusals(self):
        r = self.download(inside(SUBDIR))
        self.assertEqual(r.status_code, 400)
        self.assertIn("pass tar=1", r.reason)
        r = self.download(inside(SUBDIR + "/data.bin"), tar=True)
        self.assertEqual((r.status_code, r.reason), (400, "cannot extract single files as archive"))
        # The symlink to /etc/shadow is not downloadable (nor followed).
        r = self.download(inside(SUBDIR + "/shadow-link"))
        self.assertEqual(r.status_code, 400)
        with open("/etc/shadow", "rb") as f:
            self.assertNotIn(f.read().splitlines()[0], r.content)
        # No permission: a privilege-separated token without ACLs.
        q = requests.compat.urlencode({"volume": self.volid, "filepath": "/"})
        self.assertEqual(self.raw("list", q, secret=self.weak_secret, token="weak").status_code,
                         403)

    def test_hostile_filepaths_are_400(self):
        vol = requests.compat.quote(self.volid, safe="")
        hostile = [
            inside("../../../etc/shadow"), inside(SUBDIR + "/../../../../etc/shadow"),
            inside(SUBDIR + "/.."), b64("/etc/shadow"), b64("/../etc/shadow"),
            b64(b"/root.pxar.didx/etc/shadow\0x"), b64(b"/root.pxar.didx\0/etc"),
        ]
        raw = ["%2e%2e", "%2e%2e%2f%2e%2e%2fetc%2fshadow", "..", "../../etc/shadow",
               "%00", "L3Jvb3QucHhhci5kaWR4%00", "/etc/shadow", "not%20base64!",
               "%2Fetc%2Fshadow", "L3Jvb3QucHhhci5kaWR4L2V0Yy9zaGFkb3c%3D%3D%3D",
               "A" * 6000]
        for fp in hostile:
            raw.append(requests.compat.quote(fp, safe=""))
        for what in ("list", "download"):
            for q in raw:
                r = self.raw(what, "volume=%s&filepath=%s" % (vol, q))
                self.assertEqual(r.status_code, 400, (what, q, r.status_code, r.content[:200]))
                self.assertNotIn(b"root:", r.content)

    def test_hostile_volumes_are_400(self):
        for volume in ["ct/../x", "../../etc/shadow", "ds:../../../etc", "ds:backup/../../etc",
                       "ct/%s/../../../../etc" % self.ct, "local:backup/x", "/etc/shadow",
                       "ct/%s/2000-01-01T00:00:00Z" % self.ct, "ct/%s" % self.ct]:
            with self.assertRaises(ResourceException) as e:
                self.listing("/", volume=volume)
            self.assertEqual(e.exception.status_code, 400, volume)
        r = self.raw("list", "volume=ct%2F..%00%2Fx&filepath=%2F")
        self.assertEqual(r.status_code, 400)
        # A storage that is not a datastore.
        with self.assertRaises(ResourceException) as e:
            self.pve.nodes(self.node).storage("local")("file-restore").list.get(
                volume=self.volid, filepath="/")
        self.assertEqual(e.exception.status_code, 400)
        self.assertIn("not a datastore", str(e.exception))

    def test_listing_time_of_a_large_directory(self):
        start = time.monotonic()
        entries = self.listing(inside(SUBDIR + "/many"))
        took = time.monotonic() - start
        self.assertEqual(len(entries), MANY)
        print("\nlisting %d entries took %.2f s" % (MANY, took))
        self.assertLess(took, 30)


if __name__ == "__main__":
    unittest.main()
