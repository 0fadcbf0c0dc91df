"""The API server's front door, without containers (issue 15, items 1, 2, 5).

A real `ctdump serve` (api_server.ApiServer: TLS on 127.0.0.1, the proxy
confined as nobody), a real PAM user, Debian's python3-proxmoxer 1.2.0 and
python3-requests (hence /usr/bin/python3), and raw sockets for what clients
would not send: logins by ticket and token, renewal, the identical 401s with
their 3 s delay, CSRF, PVE's error shapes, the request limits, plain HTTP,
the proxy's confinement and its restart, the audit log.
"""
import concurrent.futures
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import unittest

import requests
from proxmoxer import ProxmoxAPI
from proxmoxer.backends.https import AuthenticationError

import api_server


class ApiAccessTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not api_server.BIN:
            raise unittest.SkipTest("run through ctest (CTDUMP_BIN unset)")
        cls.user = api_server.PamUser()
        cls.server = api_server.ApiServer()
        try:
            cls.server.write_user_cfg(
                "user:%s:1:0::::::\nacl:1:/:%s:PVEAuditor:\n" % (cls.user.userid, cls.user.userid))
            cls.tokenid, cls.secret = cls.server.add_token("root@pam", "ci")
            cls.server.start()
        except Exception:
            cls.server.cleanup()
            cls.user.cleanup()
            raise
        cls.node = socket.gethostname().split(".")[0]

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.user.cleanup()

    def api(self, **kw):
        return ProxmoxAPI("127.0.0.1", port=self.server.port, verify_ssl=self.server.ca, **kw)

    def token_api(self):
        return self.api(user="root@pam", token_name="ci", token_value=self.secret)

    def get(self, path, **kw):
        return requests.get(self.server.url + "/api2/json" + path, verify=self.server.ca,
                            timeout=30, **kw)

    def token_header(self, secret=None, tokenid=None):
        return {"Authorization": "PVEAPIToken=%s=%s" % (tokenid or self.tokenid,
                                                       secret or self.secret)}

    # ---- logins ----

    def test_token_and_ticket_logins_through_proxmoxer(self):
        v = self.token_api().version.get()
        self.assertEqual(v["repoid"], "ctdump")
        self.assertTrue(v["version"])
        p = self.api(user=self.user.userid, password=self.user.password)
        self.assertEqual(p.version.get(), v)
        # The directory index, as PVE answers it.
        self.assertIn({"subdir": "nodes"}, p.get(""))
        self.assertIn("login-ok client=127.0.0.1 user=%s" % self.user.userid, self.server.audit())

    def test_ticket_renewal_with_the_ticket_as_password(self):
        r = requests.post(self.server.url + "/api2/json/access/ticket", verify=self.server.ca,
                          data={"username": self.user.userid, "password": self.user.password})
        self.assertEqual(r.status_code, 200, r.text)
        data = r.json()["data"]
        self.assertEqual(data["username"], self.user.userid)
        self.assertRegex(data["ticket"], r"^PVE:%s:[0-9A-F]{8}::[A-Za-z0-9+/]+=*$"
                         % self.user.userid)
        self.assertRegex(data["CSRFPreventionToken"], r"^[0-9A-F]{8}:[A-Za-z0-9+/]{43}$")
        self.assertEqual(data["cap"]["dc"].get("Sys.Audit"), 1)
        self.assertNotIn("Sys.Modify", data["cap"]["dc"])
        # The console's cookie: HttpOnly, Secure, SameSite.
        cookie = r.headers["Set-Cookie"]
        self.assertIn("PVEAuthCookie=", cookie)
        for attr in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
            self.assertIn(attr, cookie)
        renewed = requests.post(self.server.url + "/api2/json/access/ticket",
                                verify=self.server.ca,
                                data={"username": self.user.userid, "password": data["ticket"]})
        self.assertEqual(renewed.status_code, 200, renewed.text)
        self.assertIn("login-renew client=127.0.0.1 user=%s" % self.user.userid,
                      self.server.audit())
        # The ticket works as a cookie and as the Authorization header.
        t = data["ticket"]
        self.assertEqual(self.get("/version", cookies={"PVEAuthCookie": t}).status_code, 200)
        self.assertEqual(self.get("/version",
                                  headers={"Authorization": "PVEAuthCookie=" + t}).status_code, 200)

    def test_wrong_credentials_all_look_alike_and_are_slow(self):
        bad = {
            "wrong secret": self.token_header(secret="00000000-0000-4000-8000-000000000000"),
            "unknown token": self.token_header(tokenid="root@pam!nope"),
            "unknown user": self.token_header(tokenid="nobody@pam!ci"),
            "garbage ticket": {"Cookie": "PVEAuthCookie=PVE:root@pam:00000000::AAAA"},
            "forged ticket": {"Cookie": "PVEAuthCookie=PVE:root@pam:%08X::%s" % (
                int(time.time()), "A" * 43 + "=")},
        }

        def call(headers):
            start = time.monotonic()
            r = self.get("/version", headers=headers)
            return r, time.monotonic() - start

        with concurrent.futures.ThreadPoolExecutor(len(bad) + 1) as ex:
            futures = {k: ex.submit(call, h) for k, h in bad.items()}
            login = ex.submit(lambda: (time.monotonic(), requests.post(
                self.server.url + "/api2/json/access/ticket", verify=self.server.ca,
                data={"username": self.user.userid, "password": "wrong"})))
            results = {k: f.result() for k, f in futures.items()}
            login_start, login_r = login.result()
            login_elapsed = time.monotonic() - login_start
        for what, (r, elapsed) in results.items():
            self.assertEqual(r.status_code, 401, what)
            self.assertEqual(r.reason, "Authentication failed!", what)
            self.assertEqual(r.content, b"", what)
            self.assertGreaterEqual(elapsed, 2.9, what)
        self.assertEqual(login_r.status_code, 401)
        self.assertEqual(login_r.reason, "authentication failure")
        self.assertEqual(login_r.json(), {"data": None, "message": "authentication failure\n"})
        self.assertGreaterEqual(login_elapsed, 2.9)
        # No credentials at all.
        r = self.get("/version")
        self.assertEqual((r.status_code, r.reason), (401, "No ticket"))
        # proxmoxer reports a wrong password as such.
        with self.assertRaises(AuthenticationError):
            self.api(user=self.user.userid, password="wrong")
        # The reasons are in the audit log, the secrets nowhere.
        audit = self.server.audit()
        self.assertIn("wrong secret", audit)
        self.assertIn("login-fail client=127.0.0.1 user=%s" % self.user.userid, audit)
        for secret in (self.secret, self.user.password, "wrong\n"):
            self.assertNotIn(secret, audit)

    def test_csrf_is_required_for_writes_by_ticket_not_by_token(self):
        r = requests.post(self.server.url + "/api2/json/access/ticket", verify=self.server.ca,
                          data={"username": self.user.userid, "password": self.user.password})
        data = r.json()["data"]
        cookies = {"PVEAuthCookie": data["ticket"]}
        url = self.server.url + "/api2/json/nodes/%s/vzdump" % self.node
        for headers in ({}, {"CSRFPreventionToken": "%08X:%s" % (int(time.time()), "A" * 43)}):
            r = requests.post(url, cookies=cookies, headers=headers, verify=self.server.ca,
                              data={"vmid": "x", "storage": "local"})
            self.assertEqual((r.status_code, r.reason),
                             (401, "Permission denied - invalid csrf token"), headers)
        # With the token the request reaches the permission check (an
        # auditor may not back up): 403, not 401.
        r = requests.post(url, cookies=cookies, verify=self.server.ca,
                          headers={"CSRFPreventionToken": data["CSRFPreventionToken"]},
                          data={"vmid": "x", "storage": "local"})
        self.assertNotEqual(r.status_code, 401, r.text)
        self.assertIn("csrf-fail", self.server.audit())

    # ---- PVE's error shapes ----

    def test_errors_have_pve_shapes(self):
        h = self.token_header()
        r = self.get("/nodes/other-node/tasks", headers=h)
        self.assertEqual(r.status_code, 400)
        body = r.json()
        self.assertIsNone(body["data"])
        self.assertIn("node", body["errors"])
        r = self.get("/no/such/path", headers=h)
        self.assertEqual((r.status_code, r.reason),
                         (501, "Method 'GET /no/such/path' not implemented"))
        r = requests.put(self.server.url + "/api2/json/version", headers=h, verify=self.server.ca)
        self.assertEqual(r.status_code, 501)
        # An unknown parameter, as PVE's schema check words it.
        r = self.get("/version?bogus=1", headers=h)
        self.assertEqual((r.status_code, r.reason), (400, "Parameter verification failed."))
        self.assertEqual(r.json()["errors"]["bogus"],
                         "property is not defined in schema and the schema does not allow "
                         "additional properties")

    def test_openapi_document(self):
        r = requests.get(self.server.url + "/api2/openapi.json", verify=self.server.ca)
        self.assertEqual(r.status_code, 200)
        doc = r.json()
        self.assertTrue(doc["openapi"].startswith("3."))
        self.assertIn("/version", doc["paths"])
        self.assertIn("post", doc["paths"]["/access/ticket"])

    # ---- the HTTP front ----

    def raw(self, data, tls=True):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=20)
        if tls:
            ctx = ssl.create_default_context(cafile=self.server.ca)
            s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the server answered (413) and closed before the whole body was sent
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not chunk:
                break
            out += chunk
        s.close()
        return out

    def test_plain_http_is_told_to_use_https(self):
        out = self.raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", tls=False)
        self.assertTrue(out.startswith(b"HTTP/1.1 400 use https\r\n"), out)

    def test_request_limits(self):
        h = "Authorization: PVEAPIToken=%s=%s\r\n" % (self.tokenid, self.secret)
        big = b"x" * (600 * 1024)
        out = self.raw(("POST /api2/json/nodes/%s/vzdump HTTP/1.1\r\nHost: x\r\n%s"
                        "Content-Type: application/x-www-form-urlencoded\r\n"
                        "Content-Length: %d\r\n\r\n" % (self.node, h, len(big))).encode() + big)
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out[:100])
        out = self.raw(("GET /api2/json/version?x=%s HTTP/1.1\r\nHost: x\r\n\r\n"
                        % ("a" * 9000)).encode())
        self.assertTrue(out.startswith(b"HTTP/1.1 414 "), out[:100])
        fields = "".join("X-F%d: v\r\n" % i for i in range(120))
        out = self.raw(("GET /api2/json/version HTTP/1.1\r\nHost: x\r\n%s\r\n" % fields).encode())
        self.assertTrue(out.startswith(b"HTTP/1.1 431 "), out[:100])
        out = self.raw(("GET /api2/json/version HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n"
                        % ("v" * 20000)).encode())
        self.assertTrue(out.startswith(b"HTTP/1.1 431 "), out[:100])
        out = self.raw(b"PATCH /api2/json/version HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 501 "), out[:100])

    def test_console_files_and_headers(self):
        r = requests.get(self.server.url + "/", verify=self.server.ca)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.headers["Cache-Control"], "no-cache")
        self.assertIn("default-src 'self'", r.headers["Content-Security-Policy"])
        self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
        static = [p for p in r.text.split('"') if p.startswith("/static/")]
        self.assertTrue(static, r.text)
        a = requests.get(self.server.url + static[0], verify=self.server.ca,
                         headers={"Accept-Encoding": "gzip"})
        self.assertEqual(a.status_code, 200)
        self.assertIn("immutable", a.headers["Cache-Control"])
        self.assertEqual(requests.get(self.server.url + "/static/000000000000/app.js",
                                      verify=self.server.ca).status_code, 404)
        self.assertEqual(requests.get(self.server.url + "/../../etc/passwd",
                                      verify=self.server.ca).status_code, 404)

    # ---- the split ----

    def test_proxy_is_confined(self):
        pid = self.server.proxy_pid()
        self.assertIsNotNone(pid)
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
        self.assertIn("Uid:\t65534\t65534\t65534\t65534", status)
        self.assertIn("CapEff:\t0000000000000000", status)
        self.assertIn("NoNewPrivs:\t1", status)
        root = os.readlink("/proc/%d/root" % pid)
        self.assertEqual(root, os.path.join(self.server.run_dir, "api-root"))
        self.assertEqual(os.listdir(root), [])

    def test_zz_proxy_restarts_after_a_crash(self):
        pid = self.server.proxy_pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 20
        while time.time() < deadline:
            new = self.server.proxy_pid()
            if new and new != pid:
                break
            time.sleep(0.1)
        self.assertNotEqual(self.server.proxy_pid(), pid)
        for _ in range(100):
            try:
                if self.get("/version", headers=self.token_header()).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        self.assertEqual(self.get("/version", headers=self.token_header()).status_code, 200)
        self.assertRegex(self.server.log(), r"API proxy (exited|closed its control socket).*: restarting it")


class ApiDaemonDeathTest(unittest.TestCase):
    def test_proxy_ends_with_the_privileged_part(self):
        if not api_server.BIN:
            raise unittest.SkipTest("run through ctest (CTDUMP_BIN unset)")
        server = api_server.ApiServer()
        try:
            server.start()
            pid = server.proxy_pid()
            self.assertIsNotNone(pid)
            server.proc.kill()
            server.proc.wait()
            deadline = time.time() + 10
            while time.time() < deadline and os.path.exists("/proc/%d" % pid):
                with open("/proc/%d/stat" % pid) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break
                time.sleep(0.05)
            alive = os.path.exists("/proc/%d" % pid)
            if alive:
                with open("/proc/%d/stat" % pid) as f:
                    alive = f.read().rsplit(")", 1)[1].split()[0] != "Z"
            self.assertFalse(alive, "the proxy outlived the privileged part")
            with self.assertRaises(requests.ConnectionError):
                requests.get(server.url + "/", verify=server.ca, timeout=5)
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
