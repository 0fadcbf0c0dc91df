"""Backup jobs and notification targets through the API (issue 15, milestone 9).

A real `ctdump serve` (api_server.ApiServer), Debian's python3-proxmoxer 1.2.0
(hence /usr/bin/python3) with root's token and a real PAM user holding
CtdumpBackupOperator: /cluster/backup CRUD keeping jobs.cfg's comments and
other sections byte for byte, next-run, PVE's errors, 403 for the operator's
writes, /ctdump/jobs, notification targets without secrets and a test
notification to a webhook on 127.0.0.1. No containers are needed.
"""
import base64
import http.server
import os
import threading
import time
import unittest

from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

import api_server

JOBS_CFG = (
    "# jobs edited by hand and by the API\n"
    "vzdump: nightly\n"
    "\tschedule 02:00\n"
    "\t# only the web server\n"
    "\tvmid web\n"
    "\tmode snapshot\n"
    "\n"
    "# verification of the datastore\n"
    "verify: weekly\n"
    "\tstorage store\n"
    "\tschedule sat 04:00\n"
)


class Recorder(http.server.BaseHTTPRequestHandler):
    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append({"method": self.command, "path": self.path, "body": body})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    do_POST = do_PUT = do_GET = _handle

    def log_message(self, *args):
        pass


def b64(s):
    return base64.b64encode(s.encode()).decode()


class ApiJobsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not api_server.BIN:
            raise unittest.SkipTest("run through ctest (CTDUMP_BIN unset)")
        cls.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        cls.http.requests = []
        threading.Thread(target=cls.http.serve_forever, daemon=True).start()
        cls.user = api_server.PamUser()
        cls.server = api_server.ApiServer()
        try:
            cfg = cls.server.config_dir
            os.makedirs(os.path.join(cls.server.tmp, "store"))
            with open(os.path.join(cfg, "storage.cfg"), "w") as f:
                f.write("dir: local\n\tpath %s\n" % os.path.join(cls.server.tmp, "store"))
            with open(os.path.join(cfg, "jobs.cfg"), "w") as f:
                f.write(JOBS_CFG)
            with open(os.path.join(cfg, "notifications.cfg"), "w") as f:
                f.write("webhook: hook\n\turl http://127.0.0.1:%d/hook?t={{ url-encode secrets.token }}\n"
                        "\tmethod post\n\tbody %s\n\tcomment the test hook\n\n"
                        "sendmail: mail\n\tmailto root@example.com\n\tdisable 1\n"
                        % (cls.http.server_address[1], b64('{"title":"{{ escape title }}"}')))
            os.makedirs(os.path.join(cfg, "priv"), exist_ok=True)
            with open(os.path.join(cfg, "priv", "notifications.cfg"), "w") as f:
                f.write("webhook: hook\n\tsecret name=token,value=%s\n" % b64("s3cret-value"))
            cls.server.write_user_cfg("user:%s:1:0::::::\nacl:1:/:%s:CtdumpBackupOperator:\n"
                                      % (cls.user.userid, cls.user.userid))
            cls.tokenid, cls.secret = cls.server.add_token("root@pam", "ci", "--privsep", "0")
            cls.server.start()
        except Exception:
            cls.server.cleanup()
            cls.user.cleanup()
            cls.http.shutdown()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.user.cleanup()
        cls.http.shutdown()

    def root(self):
        return ProxmoxAPI("127.0.0.1", port=self.server.port, verify_ssl=self.server.ca,
                          user="root@pam", token_name="ci", token_value=self.secret)

    def operator(self):
        return ProxmoxAPI("127.0.0.1", port=self.server.port, verify_ssl=self.server.ca,
                          user=self.user.userid, password=self.user.password)

    def jobs_cfg(self):
        with open(os.path.join(self.server.config_dir, "jobs.cfg")) as f:
            return f.read()

    def test_1_list_with_next_run(self):
        jobs = self.root().cluster.backup.get()
        self.assertEqual([j["id"] for j in jobs], ["nightly"])
        j = jobs[0]
        self.assertEqual((j["type"], j["schedule"], j["vmid"], j["enabled"]),
                         ("vzdump", "02:00", "web", 1))
        now = time.time()
        self.assertGreater(j["next-run"], now)
        self.assertLessEqual(j["next-run"], now + 25 * 3600)
        self.assertNotIn("next-run", self.root().cluster.backup("nightly").get())
        self.assertIn({"subdir": "backup"}, self.root().cluster.get())

    def test_2_crud_keeps_comments(self):
        p = self.root()
        self.assertIsNone(p.cluster.backup.post(id="api-job", schedule="sat 21:00", all=1,
                                                exclude="db", storage="local",
                                                comment="made by the API"))
        text = self.jobs_cfg()
        self.assertTrue(text.startswith(JOBS_CFG), text)
        self.assertIn("\nvzdump: api-job\n\tschedule sat 21:00\n", text)
        listed = {j["id"]: j for j in p.cluster.backup.get()}
        self.assertIn("next-run", listed["api-job"])
        self.assertEqual(listed["api-job"]["exclude"], "db")

        # vmid replaces all and exclude; delete drops keys.
        p.cluster.backup("api-job").put(vmid="web,db", delete="comment")
        job = p.cluster.backup("api-job").get()
        self.assertEqual(job["vmid"], "web,db")
        for gone in ("all", "exclude", "comment"):
            self.assertNotIn(gone, job)
        # The hand-written job keeps its comment line.
        p.cluster.backup("nightly").put(schedule="03:15")
        self.assertIn("\tschedule 03:15\n\t# only the web server\n\tvmid web\n", self.jobs_cfg())

        # A generated id.
        p.cluster.backup.post(schedule="daily", vmid="web")
        ids = [j["id"] for j in p.cluster.backup.get()]
        generated = [i for i in ids if i.startswith("backup-")]
        self.assertEqual(len(generated), 1, ids)
        self.assertRegex(generated[0], r"^backup-[0-9a-f]{8}-[0-9a-f]{4}$")

        # Errors: an existing id, an unknown one, an invalid value.
        with self.assertRaises(ResourceException) as e:
            p.cluster.backup.post(id="nightly", schedule="1:00", all=1)
        self.assertEqual(e.exception.status_code, 400)
        self.assertIn("Job 'nightly' already exists", str(e.exception))
        with self.assertRaises(ResourceException) as e:
            p.cluster.backup("nope").delete()
        self.assertEqual(e.exception.status_code, 400)
        self.assertIn("No such job 'nope'", str(e.exception))
        with self.assertRaises(ResourceException) as e:
            p.cluster.backup("api-job").put(mode="fast")
        self.assertEqual(e.exception.status_code, 400)

        for job_id in ["api-job"] + generated:
            p.cluster.backup(job_id).delete()
        self.assertEqual(self.jobs_cfg(), JOBS_CFG.replace("02:00", "03:15"))

        # Every job type, with its state.
        everything = {j["id"]: j for j in p.ctdump.jobs.get()}
        self.assertEqual(everything["weekly"]["type"], "verify")
        self.assertIn("next-run", everything["weekly"])
        self.assertEqual(everything["weekly"]["result"], "-")

    def test_3_operator_reads_but_cannot_write(self):
        op = self.operator()
        self.assertEqual([j["id"] for j in op.cluster.backup.get()], ["nightly"])
        calls = [lambda: op.cluster.backup.post(id="op-job", schedule="1:00", all=1),
                 lambda: op.cluster.backup("nightly").put(schedule="4:00"),
                 lambda: op.cluster.backup("nightly").delete(),
                 lambda: op.cluster.notifications.targets("hook").test.post()]
        for call in calls:
            with self.assertRaises(ResourceException) as e:
                call()
            self.assertEqual(e.exception.status_code, 403)
        self.assertNotIn("op-job", self.jobs_cfg())

    def test_4_targets_and_a_test_notification(self):
        p = self.root()
        targets = p.cluster.notifications.targets.get()
        self.assertEqual(targets, [
            {"name": "hook", "type": "webhook", "comment": "the test hook", "disable": 0,
             "origin": "user-created"},
            {"name": "mail", "type": "sendmail", "disable": 1, "origin": "user-created"}])
        self.assertNotIn("s3cret", repr(targets))
        self.assertIn({"subdir": "targets"}, p.cluster.notifications.get())
        before = len(self.http.requests)
        self.assertIsNone(p.cluster.notifications.targets("hook").test.post())
        got = self.http.requests[before:]
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0]["method"], "POST")
        self.assertEqual(got[0]["path"], "/hook?t=s3cret-value")
        self.assertIn(b"Test notification", got[0]["body"])
        with self.assertRaises(ResourceException) as e:
            p.cluster.notifications.targets("nope").test.post()
        self.assertEqual(e.exception.status_code, 400)
        self.assertIn("'nope'", str(e.exception))


if __name__ == "__main__":
    unittest.main()
