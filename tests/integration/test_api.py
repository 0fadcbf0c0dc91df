"""The API end to end on real containers with a real PVE client (issue 15).

Debian's python3-proxmoxer 1.2.0 (hence /usr/bin/python3) talks HTTPS to a
real `ctdump serve` (api_server.ApiServer) with an API token and, for the
permission checks, a ticket of a real PAM user with CtdumpBackupOperator: a
backup as a task (UPID, polled status, the log), the storage's content with
notes and protection, a restore into a new container with another ID map that
then starts, a deletion with `delay`, an abort, and the 403s.
"""
import os
import subprocess
import time
import unittest

from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

import api_server
import harness

MAP2 = ["u 0 200000 65536", "g 0 200000 65536"]


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = harness.env()
        for ct in (cls.env["CT_PRIV"], cls.env["CT_UNPRIV"]):
            harness.ensure_running(ct)
        cls.user = api_server.PamUser()
        cls.ws, cls.store, cls.server = api_server.workspace_server(cls.env["LXCPATH"])
        cls.created = []
        try:
            cls.server.write_user_cfg("user:%s:1:0::::::\nacl:1:/:%s:CtdumpBackupOperator:\n"
                                      % (cls.user.userid, cls.user.userid))
            _, cls.secret = cls.server.add_token("root@pam", "it", "--privsep", "0")
            cls.server.start()
        except Exception:
            cls.tearDownClass()
            raise
        cls.node = api_server.node_name()
        cls.pve = cls.server.token_client("it", cls.secret)

    @classmethod
    def tearDownClass(cls):
        for name in getattr(cls, "created", []):
            subprocess.run(["lxc-stop", "-P", cls.env["LXCPATH"], "-n", name, "-k"],
                           capture_output=True, stdin=subprocess.DEVNULL)
            subprocess.run(["lxc-destroy", "-P", cls.env["LXCPATH"], "-n", name],
                           capture_output=True, stdin=subprocess.DEVNULL)
        cls.server.cleanup()
        cls.user.cleanup()
        cls.ws.cleanup()
        for ct in (cls.env["CT_PRIV"], cls.env["CT_UNPRIV"]):
            harness.ensure_running(ct)

    def wait(self, upid, timeout=600, api=None):
        """Polls a task as a PVE client does until it stopped; its status."""
        return api_server.wait_task(api or self.pve, self.node, upid, timeout)

    def assertSucceeded(self, st, upid):
        """OK, or OK with warnings (the fixture's unprivileged container holds
        a file its root may not read: one warning, as vzdump gives)."""
        self.assertRegex(st["exitstatus"], r"^(OK|WARNINGS: \d+)$", self.log_text(upid)[-20:])
        self.assertRegex(self.log_text(upid)[-1], r"^TASK (OK|WARNINGS: \d+)$")

    def log_text(self, upid):
        lines = self.pve.nodes(self.node).tasks(upid).log.get(limit=0)
        self.assertEqual([l["n"] for l in lines], list(range(1, len(lines) + 1)))
        return [l["t"] for l in lines]

    def backups(self, storage, vmid):
        return [c for c in self.pve.nodes(self.node).storage(storage).content.get(content="backup")
                if str(c["vmid"]) == vmid]

    def test_backup_notes_restore_delete(self):
        ct = self.env["CT_UNPRIV"]
        node = self.pve.nodes(self.node)
        upid = node.vzdump.post(vmid=ct, storage="local", mode="stop", **{"notes-template":
                                                                             "api {{guestname}}"})
        self.assertRegex(upid, r"^UPID:%s:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:vzdump:%s:"
                               r"root@pam!it:$" % (self.node, ct))
        st = self.wait(upid)
        self.assertSucceeded(st, upid)
        self.assertEqual((st["type"], st["id"], st["user"], st["tokenid"]),
                         ("vzdump", ct, "root@pam", "it"))
        log = self.log_text(upid)
        self.assertTrue(any(l.startswith("INFO: Starting Backup of VM %s" % ct) for l in log), log)
        self.assertIn(upid, [t["upid"] for t in node.tasks.get()])
        harness.ensure_running(ct)

        [b] = self.backups("local", ct)
        volid = b["volid"]
        self.assertTrue(volid.startswith("local:backup/vzdump-lxc-%s-" % ct), volid)
        self.assertEqual((b["content"], b["format"], b["notes"]), ("backup", "tar.zst",
                                                                  "api " + ct))
        self.assertGreater(b["size"], 0)
        content = node.storage("local").content(volid)
        content.put(notes="kept by the API test", protected=1)
        got = content.get()
        self.assertEqual((got["notes"], got["protected"]), ("kept by the API test", 1))
        # A protected backup is not deleted.
        with self.assertRaises(ResourceException) as e:
            r = content.delete(delay=20)
            if r is None or str(r).startswith("UPID:"):
                raise AssertionError("deleted a protected backup: %r" % r)
        self.assertIn("protected", str(e.exception))

        # Restore into a new container with another ID map, started.
        new = ct.replace("-unpriv", "-rapi")
        type(self).created.append(new)
        upid = node.lxc.post(vmid=new, ostemplate=volid, restore=1, idmap=MAP2, start=1,
                             unprivileged=1)
        st = self.wait(upid)
        self.assertSucceeded(st, upid)
        self.assertEqual(st["type"], "vzrestore")
        self.assertEqual(node.lxc(new).status.current.get()["status"], "running")
        shadow = os.stat(os.path.join(self.env["LXCPATH"], new, "rootfs/etc/shadow"))
        self.assertEqual((shadow.st_uid, shadow.st_gid), (200000, 200042))
        self.assertIn(new, [str(c["vmid"]) for c in node.lxc.get()])
        # Restoring over an existing container is refused before any task.
        with self.assertRaises(ResourceException) as e:
            node.lxc.post(vmid=new, ostemplate=volid, restore=1)
        self.assertEqual(e.exception.status_code, 400)

        content.put(protected=0)
        self.assertIsNone(content.delete(delay=30))
        self.assertEqual(self.backups("local", ct), [])

    def test_datastore_backup_is_listed_as_pbs_like(self):
        ct = self.env["CT_PRIV"]
        node = self.pve.nodes(self.node)
        upid = node.vzdump.post(vmid=ct, storage="ds", mode="stop")
        st = self.wait(upid)
        self.assertSucceeded(st, upid)
        harness.ensure_running(ct)
        [b] = self.backups("ds", ct)
        self.assertTrue(b["volid"].startswith("ds:backup/ct/%s/" % ct), b)
        self.assertEqual(b["format"], "pbs-ct")
        storages = {s["storage"]: s for s in node.storage.get()}
        self.assertEqual(set(storages), {"local", "ds"})
        self.assertEqual(storages["ds"]["type"], "datastore")

    def test_abort_a_running_backup(self):
        # A hook script is root@pam's (with a ticket) only; a token makes a
        # backup slow with bwlimit instead.
        ct = self.env["CT_PRIV"]
        node = self.pve.nodes(self.node)
        upid = node.vzdump.post(vmid=ct, storage="local", mode="stop", bwlimit=64)
        deadline = time.time() + 60
        while time.time() < deadline:
            if any("using backup mechanism" in l for l in self.log_text(upid)):
                break
            time.sleep(0.2)
        time.sleep(1)
        self.assertEqual(node.tasks(upid).status.get()["status"], "running")
        self.assertIsNone(node.tasks(upid).delete())
        st = self.wait(upid, timeout=120)
        self.assertIn(st["exitstatus"], ("interrupted by signal", "job errors"))
        log = self.log_text(upid)
        self.assertTrue(log[-1].startswith("TASK ERROR:"), log[-5:])
        self.assertTrue(any("interrupted by signal" in l for l in log), log[-10:])
        # The container was given back (stop mode restarts it on abort).
        deadline = time.time() + 30
        while time.time() < deadline and harness.ct_state(ct) != "RUNNING":
            time.sleep(0.2)
        self.assertEqual(harness.ct_state(ct), "RUNNING")
        self.assertEqual([b for b in self.backups("local", ct)], [])

    def test_a_backup_operator_is_limited(self):
        op = ProxmoxAPI("127.0.0.1", port=self.server.port, user=self.user.userid,
                        password=self.user.password, verify_ssl=self.server.ca, timeout=60)
        node = op.nodes(self.node)
        # bwlimit needs Sys.Modify, tmpdir is root@pam's only.
        for extra in ({"bwlimit": 1000}, {"tmpdir": "/tmp"}):
            with self.assertRaises(ResourceException) as e:
                node.vzdump.post(vmid=self.env["CT_PRIV"], storage="local", **extra)
            self.assertIn(e.exception.status_code, (400, 403), extra)
        # Root's tasks: the operator sees them (Sys.Audit) but may not stop
        # them (Sys.Modify).
        root_upid = self.pve.nodes(self.node).vzdump.post(vmid="no-such-ct", storage="local")
        # (source=all: PVE's default lists finished tasks only.)
        self.assertIn(root_upid, [t["upid"] for t in node.tasks.get(source="all")])
        with self.assertRaises(ResourceException) as e:
            node.tasks(root_upid).delete()
        self.assertEqual(e.exception.status_code, 403)
        self.wait(root_upid)
        # Its own backup works, and it sees that task.
        upid = node.vzdump.post(vmid="no-such-ct", storage="local")
        st = self.wait(upid, api=op)
        self.assertEqual(st["exitstatus"], "job errors")
        self.assertIn(upid, [t["upid"] for t in node.tasks.get()])


if __name__ == "__main__":
    unittest.main()
