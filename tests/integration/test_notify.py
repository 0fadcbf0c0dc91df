"""Notifications end to end, without containers (issue 11 item 4).

Real servers on 127.0.0.1 (ports chosen by the kernel): aiosmtpd (Debian's
python3-aiosmtpd, hence /usr/bin/python3) in three flavours — plain, STARTTLS
with AUTH required, implicit TLS with AUTH — an http.server receiving webhook
and gotify requests, and msmtp as the sendmail program (a wrapper script set
through CTDUMP_SENDMAIL, relaying to the plain SMTP server). TLS is verified
against a throw-away CA given through CTDUMP_NOTIFY_CA_FILE. The real `ctdump`
binary is driven through `notify test`, `notify send` (Dispatch through the
matchers) and `notify list`.
"""
import asyncio
import base64
import email
import email.policy
import http.server
import json
import json_events
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

BIN = os.environ.get("CTDUMP_BIN", "")
USER, PASSWORD = "ctdump", "s3cret pass"


class Inbox:
    """aiosmtpd handler: keeps every message it is handed."""

    def __init__(self):
        self.messages = []  # (mail_from, rcpt_tos, email.message.Message, session.authenticated, tls)
        self.cond = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.cond:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg,
                                  session.authenticated, session.ssl is not None))
            self.cond.notify_all()
        return "250 OK"

    def wait(self, count=1, timeout=20):
        with self.cond:
            self.cond.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and \
        auth_data.password == PASSWORD.encode()
    # handled=False: aiosmtpd answers 535 itself.
    return AuthResult(success=ok, handled=False)


class SmtpServer:
    """An aiosmtpd server on its own event loop thread; port from the kernel."""

    def __init__(self, tls_context=None, starttls=False, implicit_tls=False, auth=False):
        self.inbox = Inbox()
        self.loop = asyncio.new_event_loop()
        kwargs = {}
        if starttls:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        if auth:
            kwargs.update(authenticator=authenticator, auth_required=True,
                          auth_require_tls=starttls)
        factory = lambda: SMTP(self.inbox, hostname="localhost", loop=self.loop, **kwargs)  # noqa: E731
        ssl_ctx = tls_context if implicit_tls else None
        if implicit_tls and auth:
            # aiosmtpd sees an implicitly wrapped connection as TLS only through
            # its transport; allow AUTH there.
            kwargs["auth_require_tls"] = False
        self.server = self.loop.run_until_complete(
            self.loop.create_server(factory, "127.0.0.1", 0, ssl=ssl_ctx))
        self.port = self.server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self):
        def stop():
            self.server.close()
            self.loop.stop()
        self.loop.call_soon_threadsafe(stop)
        self.thread.join(10)
        self.loop.close()


class HttpRecorder(http.server.BaseHTTPRequestHandler):
    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append({"method": self.command, "path": self.path,
                                     "headers": dict(self.headers.items()), "body": body})
        status = 500 if self.path.startswith("/fail") else 403 if self.path.startswith("/forbidden") else 200
        if self.path.startswith("/strict"):
            # A strict server: a body that is not UTF-8 JSON is a client error.
            try:
                json.loads(body.decode("utf-8"))
            except ValueError:
                status = 400
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error":"broken on purpose"}' if status == 500 else b"{}")

    do_POST = do_PUT = do_GET = _handle

    def log_message(self, *args):
        pass


def free_closed_port():
    """A port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def b64(s):
    return base64.b64encode(s.encode()).decode()


class NotifyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BIN:
            raise unittest.SkipTest("run through ctest (CTDUMP_BIN unset)")
        cls.tmp = tempfile.mkdtemp(prefix="ctdump-notify-it.")
        # A CA and a server certificate for 127.0.0.1 signed by it.
        ca_key, ca_crt = cls.path("ca.key"), cls.path("ca.crt")
        key, csr, crt = cls.path("srv.key"), cls.path("srv.csr"), cls.path("srv.crt")
        ext = cls.path("ext.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        for cmd in (
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt,
                 "-days", "2", "-subj", "/CN=ctdump test CA"],
                ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                 "-subj", "/CN=127.0.0.1"],
                ["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
                 "-out", crt, "-days", "2", "-extfile", ext]):
            subprocess.run(cmd, check=True, capture_output=True)
        cls.ca = ca_crt
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(crt, key)
        cls.plain = SmtpServer()
        cls.starttls = SmtpServer(tls_context=ctx, starttls=True, auth=True)
        tls_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_ctx.load_cert_chain(crt, key)
        cls.tls = SmtpServer(tls_context=tls_ctx, implicit_tls=True, auth=True)
        cls.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HttpRecorder)
        cls.http.requests = []
        cls.http_thread = threading.Thread(target=cls.http.serve_forever, daemon=True)
        cls.http_thread.start()
        cls.http_port = cls.http.server_address[1]
        # A socket that accepts connections and never answers (a hung server).
        cls.silent = socket.socket()
        cls.silent.bind(("127.0.0.1", 0))
        cls.silent.listen(16)
        cls.silent_port = cls.silent.getsockname()[1]
        # msmtp as sendmail, relaying to the plain server.
        conf = cls.path("msmtprc")
        with open(conf, "w") as f:
            f.write("defaults\nauth off\ntls off\nlogfile %s\n\naccount default\nhost 127.0.0.1\n"
                    "port %d\nfrom ctdump@localhost\n" % (cls.path("msmtp.log"), cls.plain.port))
        os.chmod(conf, 0o600)
        cls.sendmail = cls.path("sendmail")
        with open(cls.sendmail, "w") as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$*" >> %s\nexec msmtp -C %s "$@"\n' % (cls.path("sendmail.args"), conf))
        os.chmod(cls.sendmail, 0o755)

    @classmethod
    def tearDownClass(cls):
        for server in (cls.plain, cls.starttls, cls.tls):
            server.close()
        cls.http.shutdown()
        cls.http.server_close()
        cls.silent.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def path(cls, name):
        return os.path.join(cls.tmp, name)

    def setUp(self):
        self.cfg = tempfile.mkdtemp(dir=self.tmp)
        os.mkdir(os.path.join(self.cfg, "priv"), 0o700)
        self.http.requests.clear()
        for server in (self.plain, self.starttls, self.tls):
            server.inbox.messages.clear()

    def write(self, text, priv=""):
        with open(os.path.join(self.cfg, "notifications.cfg"), "w") as f:
            f.write(text)
        priv_path = os.path.join(self.cfg, "priv", "notifications.cfg")
        with open(priv_path, "w") as f:
            f.write(priv)
        os.chmod(priv_path, 0o600)

    def ctdump(self, *args, env=None, json_output=False):
        e = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        e.update({"CTDUMP_SENDMAIL": self.sendmail, "CTDUMP_NOTIFY_CA_FILE": self.ca})
        # Never the host's state, logs or locks, whatever a test runs.
        e.update({"CTDUMP_STATE_DIR": self.path("state"), "CTDUMP_LOG_DIR": self.path("log"),
                  "CTDUMP_RUN_DIR": self.path("run")})
        e.update(env or {})
        cmd = [BIN, "--config-dir", self.cfg] + (["--output-format", "json"] if json_output else []) + list(args)
        start = time.monotonic()
        r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", env=e, stdin=subprocess.DEVNULL,
                           timeout=120)
        r.elapsed = time.monotonic() - start
        return r

    # --- SMTP -------------------------------------------------------------

    def smtp_target(self, name, server, mode, auth=True):
        text = ("smtp: %s\n\tserver 127.0.0.1\n\tport %d\n\tmode %s\n\tmailto ops@example.com\n"
                "\tmailto-user root@pam\n\tfrom-address ctdump@example.com\n\tauthor Backup Host\n"
                % (name, server.port, mode))
        priv = ""
        if auth:
            text += "\tusername %s\n" % USER
            priv = "smtp: %s\n\tpassword %s\n" % (name, PASSWORD)
        return text, priv

    def check_mail(self, msg, to_header):
        self.assertEqual(msg["Subject"], "Test notification")
        self.assertEqual(msg["From"], "Backup Host <ctdump@example.com>")
        self.assertEqual(msg["To"], to_header)
        self.assertTrue(msg["Message-ID"].endswith(">"))
        self.assertIsNotNone(email.utils.parsedate_to_datetime(msg["Date"]))
        self.assertEqual(msg["Auto-Submitted"], "auto-generated;")
        self.assertIn("This is a test of the notification target", msg.get_content())

    def test_smtp_insecure(self):
        text, priv = self.smtp_target("relay", self.plain, "insecure", auth=False)
        self.write(text, priv)
        r = self.ctdump("notify", "test", "relay")
        self.assertEqual(r.returncode, 0, r.stderr)
        (mail_from, rcpts, msg, authed, tls), = self.plain.inbox.wait()
        self.assertEqual(mail_from, "ctdump@example.com")
        self.assertEqual(rcpts, ["ops@example.com", "root"])
        self.assertFalse(tls)
        self.check_mail(msg, "ops@example.com, root")

    def test_smtp_message_text_arrives_unchanged(self):
        # Lines starting with dots (SMTP's end marker), non-ASCII, a long line.
        text, priv = self.smtp_target("relay", self.plain, "insecure", auth=False)
        self.write(text + "\nmatcher: all\n\ttarget relay\n", priv)
        message = ".\n..two dots\nUmlaute: \u00e4\u00f6\u00fc\n" + "x" * 1500 + "\nend"
        r = self.ctdump("notify", "send", "--title", "Sicherung \u00fcberpr\u00fcft", "--message", message)
        self.assertEqual(r.returncode, 0, r.stderr)
        (_, _, msg, _, _), = self.plain.inbox.wait()
        self.assertEqual(msg["Subject"], "Sicherung \u00fcberpr\u00fcft")
        self.assertEqual(msg.get_content().replace("\r\n", "\n").rstrip("\n"), message)

    def test_dot_lines_and_line_ends_arrive_intact(self):
        # Through SMTP (libcurl dot-stuffs the upload) and sendmail (msmtp, given -i
        # so that a real Postfix/Exim would not end the message at the "." line): a
        # line "." or ".x" is text; a CR before LF is the message's own line end.
        text, priv = self.smtp_target("relay", self.plain, "insecure", auth=False)
        self.write(text + "\nsendmail: mail\n\tmailto admin@example.com\n\tfrom-address b@example.com\n\n"
                   "matcher: all\n\ttarget relay\n\ttarget mail\n", priv)
        message = "first\n.\n.x\n..\ncr\r\nlf\n. \nlast"
        r = self.ctdump("notify", "send", "--title", "dots", "--message", message)
        self.assertEqual(r.returncode, 0, r.stderr)
        msgs = self.plain.inbox.wait(2)
        self.assertEqual(len(msgs), 2)
        for (_, _, msg, _, _) in msgs:
            self.assertEqual(msg.get_content().replace("\r\n", "\n").rstrip("\n"),
                             "first\n.\n.x\n..\ncr\nlf\n. \nlast")
        with open(self.path("sendmail.args")) as f:
            self.assertIn("-i -B 8BITMIME -f b@example.com -- admin@example.com", f.read())

    def test_title_cannot_inject_mail_headers(self):
        # The title becomes the Subject: a CR/LF in it must not start a header
        # (Bcc) in the mail, whether sent over SMTP or through sendmail.
        text, priv = self.smtp_target("relay", self.plain, "insecure", auth=False)
        self.write(text + "\nsendmail: mail\n\tmailto admin@example.com\n\tfrom-address b@example.com\n\n"
                   "matcher: all\n\ttarget relay\n\ttarget mail\n", priv)
        r = self.ctdump("notify", "send", "--title", "backup ok\r\nBcc: evil@x\nX-Evil: 1", "--message", "m")
        self.assertEqual(r.returncode, 0, r.stderr)
        msgs = self.plain.inbox.wait(2)
        self.assertEqual(len(msgs), 2)
        for (_, rcpts, msg, _, _) in msgs:
            self.assertNotIn("evil@x", rcpts)
            self.assertIsNone(msg["Bcc"])
            self.assertIsNone(msg["X-Evil"])
            self.assertEqual(" ".join(msg["Subject"].split()), "backup ok Bcc: evil@x X-Evil: 1")
            self.assertEqual(msg.get_content().strip(), "m")

    @unittest.skipUnless(os.geteuid() == 0, "ctdump backup runs as root only")
    def test_backup_log_lines_are_escaped_in_the_mail(self):
        # The job's log in the notification is escaped as the task log is: a
        # name with line breaks (here the command line; inside a job, e.g. a
        # path from a container) cannot forge log lines or a lone "." line.
        state = tempfile.mkdtemp(dir=self.tmp)
        env = {"CTDUMP_STATE_DIR": state, "CTDUMP_LOG_DIR": os.path.join(state, "log"),
               "CTDUMP_RUN_DIR": os.path.join(state, "run")}
        forged = "x\n.\nINFO: backup successful\x1b[2J"
        r = self.ctdump("backup", forged, "--mailto", "root", "--storage", "nope", env=env)
        self.assertEqual(r.returncode, 1, r.stderr)
        (_, rcpts, msg, _, _), = self.plain.inbox.wait()
        self.assertEqual(rcpts, ["root"])
        body = msg.get_content()
        self.assertIn("backup 'x\\n.\\nINFO: backup successful\\x1b[2J'", body)
        lines = body.replace("\r\n", "\n").split("\n")
        self.assertNotIn(".", lines)
        self.assertNotIn("INFO: backup successful", lines)
        self.assertNotIn("\x1b", body)
        self.assertIn("storage 'nope' does not exist", body)

    def test_smtp_starttls_with_auth(self):
        text, priv = self.smtp_target("relay", self.starttls, "starttls")
        self.write(text, priv)
        r = self.ctdump("notify", "test", "relay")
        self.assertEqual(r.returncode, 0, r.stderr)
        (mail_from, rcpts, msg, authed, tls), = self.starttls.inbox.wait()
        self.assertTrue(authed)
        self.assertTrue(tls)
        self.check_mail(msg, "ops@example.com, root")

    def test_smtp_tls_with_auth(self):
        text, priv = self.smtp_target("relay", self.tls, "tls")
        self.write(text, priv)
        r = self.ctdump("notify", "test", "relay")
        self.assertEqual(r.returncode, 0, r.stderr)
        (mail_from, rcpts, msg, authed, tls), = self.tls.inbox.wait()
        self.assertTrue(authed)
        self.check_mail(msg, "ops@example.com, root")

    def test_smtp_wrong_password_fails_clearly(self):
        text, _ = self.smtp_target("relay", self.starttls, "starttls")
        self.write(text, "smtp: relay\n\tpassword wrong\n")
        r = self.ctdump("notify", "test", "relay")
        self.assertEqual(r.returncode, 1)
        self.assertIn("notification target 'relay' (smtp)", r.stderr)
        self.assertIn("Login denied", r.stderr)
        self.assertIn("failed after 1 attempt:", r.stderr)  # a refused login is not retried
        self.assertNotIn("wrong", r.stderr.replace("Login denied", ""))
        self.assertEqual(self.starttls.inbox.messages, [])

    def test_smtp_untrusted_certificate_fails(self):
        text, priv = self.smtp_target("relay", self.starttls, "starttls")
        self.write(text, priv)
        r = self.ctdump("notify", "test", "relay", env={"CTDUMP_NOTIFY_CA_FILE": ""})
        self.assertEqual(r.returncode, 1)
        self.assertIn("certificate", r.stderr.lower())
        self.assertIn("failed after 1 attempt:", r.stderr)
        self.assertEqual(self.starttls.inbox.messages, [])

    # --- sendmail (msmtp) ---------------------------------------------------

    def test_sendmail_through_msmtp(self):
        self.write("sendmail: mail\n\tmailto admin@example.com\n\tmailto-user root@pam\n"
                   "\tfrom-address backup@example.com\n")
        r = self.ctdump("notify", "test", "mail")
        self.assertEqual(r.returncode, 0, r.stderr)
        (mail_from, rcpts, msg, _, _), = self.plain.inbox.wait()
        self.assertEqual(mail_from, "backup@example.com")
        self.assertEqual(rcpts, ["admin@example.com", "root"])
        self.assertEqual(msg["From"], "ctdump <backup@example.com>")
        self.assertIn("This is a test of the notification target 'mail'.", msg.get_content())
        with open(self.path("sendmail.args")) as f:
            self.assertIn("-i -B 8BITMIME -f backup@example.com -- admin@example.com root", f.read())

    def test_default_config_mails_root(self):
        # No notifications.cfg: PVE's default target mail-to-root and default-matcher.
        os.unlink(os.path.join(self.cfg, "priv", "notifications.cfg")) if os.path.exists(
            os.path.join(self.cfg, "priv", "notifications.cfg")) else None
        r = self.ctdump("notify", "send", "--title", "vzdump backup status (pve1): backup successful",
                        "--message", "ok", "--field", "type=vzdump")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sent to 1 of 1 matching target(s): mail-to-root", r.stderr)
        (mail_from, rcpts, msg, _, _), = self.plain.inbox.wait()
        self.assertEqual(rcpts, ["root"])
        self.assertEqual(msg["Subject"], "vzdump backup status (pve1): backup successful")

    def test_default_config_without_sendmail_is_one_info_line(self):
        r = self.ctdump("notify", "send", "--title", "t", env={"CTDUMP_SENDMAIL": self.path("no-such-sendmail")})
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [l for l in r.stderr.splitlines() if l]
        self.assertEqual(len([l for l in lines if "mail-to-root is skipped" in l]), 1, r.stderr)
        self.assertNotIn("WARN", r.stderr)
        self.assertIn("sent to 0 of 0 matching target(s)", r.stderr)

    def test_legacy_sendmail_exit_code(self):
        # A sendmail that fails: notify test reports it and exits 1.
        self.write("sendmail: mail\n\tmailto admin@example.com\n")
        r = self.ctdump("notify", "test", "mail", env={"CTDUMP_SENDMAIL": "/bin/false"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("/bin/false exited with code 1", r.stderr)
        self.assertIn("failed after 3 attempts", r.stderr)

    # --- HTTP ----------------------------------------------------------------

    def test_gotify(self):
        self.write("gotify: phone\n\tserver http://127.0.0.1:%d\n" % self.http_port,
                   "gotify: phone\n\ttoken tok123\n")
        r = self.ctdump("notify", "test", "phone")
        self.assertEqual(r.returncode, 0, r.stderr)
        req, = self.http.requests
        self.assertEqual(req["method"], "POST")
        self.assertEqual(req["path"], "/message")
        self.assertEqual(req["headers"]["X-Gotify-Key"], "tok123")
        self.assertEqual(req["headers"]["Authorization"], "Bearer tok123")
        self.assertEqual(req["headers"]["Content-Type"], "application/json")
        body = json.loads(req["body"])
        self.assertEqual(body["title"], "Test notification")
        self.assertEqual(body["priority"], 1)
        self.assertEqual(body["message"], "```\nThis is a test of the notification target 'phone'.\n```")
        self.assertEqual(body["extras"], {"client::display": {"contentType": "text/markdown"}})

    def test_invalid_utf8_and_controls_give_valid_json(self):
        # Text from inside a container may hold ESC and bytes that are not
        # UTF-8: gotify and webhook bodies stay UTF-8 JSON (U+FFFD), so a strict
        # server takes them (a 4xx would not be retried: the notification lost).
        text, priv = self.webhook(path="/strict")
        self.write(text + "\ngotify: phone\n\tserver http://127.0.0.1:%d/strict\n\n"
                   "matcher: all\n\ttarget hook\n\ttarget phone\n" % self.http_port,
                   priv + "\ngotify: phone\n\ttoken tok\n")
        r = self.ctdump("notify", "send", "--title", "ct\x1b[2J\udcff", "--message", "/srv/\udcfe\u00e4",
                        "--field", "type=vzdump", "--field", "hostname=a\"<>\\^`{|}", "--field", "path=/x\udcfd")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.http.requests), 2, r.stderr)
        by_path = {req["path"].split("?")[0]: req for req in self.http.requests}
        gotify = json.loads(by_path["/strict/message"]["body"].decode("utf-8"))
        self.assertEqual(gotify["title"], "ct\x1b[2J\ufffd")
        self.assertEqual(gotify["message"], "```\n/srv/\ufffd\u00e4\n```")
        # url-encode leaves only RFC 3986's unreserved characters.
        hook = by_path["/strict/a%22%3C%3E%5C%5E%60%7B%7C%7D"]
        body = json.loads(hook["body"].decode("utf-8"))
        self.assertEqual(body["title"], "ct\x1b[2J\ufffd")
        self.assertEqual(body["message"], "/srv/\ufffd\u00e4")
        self.assertEqual(body["fields"]["path"], "/x\ufffd")

    def webhook(self, name="hook", path="/hook", method="post"):
        body = ('{"title":"{{ escape title }}","message":"{{ escape message }}","severity":"{{ severity }}",'
                '"ts":{{ timestamp }},"type":{{ json fields.type }},"fields":{{ json fields }}}')
        text = ("webhook: %s\n\turl http://127.0.0.1:%d%s/{{ url-encode fields.hostname }}?token={{ url-encode secrets.token }}\n"
                "\tmethod %s\n\theader name=Content-Type,value=%s\n\theader name=X-Severity,value=%s\n\tbody %s\n"
                % (name, self.http_port, path, method, b64("application/json"), b64("{{ severity }}"), b64(body)))
        priv = "webhook: %s\n\tsecret name=token,value=%s\n" % (name, b64("t/k n"))
        return text, priv

    def test_webhook_renders_url_headers_and_body(self):
        text, priv = self.webhook(method="put")
        self.write(text + "\nmatcher: all\n\ttarget hook\n", priv)
        message = 'line 1\nline "2"\ttab'
        before = int(time.time())
        r = self.ctdump("notify", "send", "--severity", "error", "--title", "backup failed: ct 101",
                        "--message", message, "--field", "type=vzdump", "--field", "hostname=pve 1",
                        "--field", "job-id=daily")
        self.assertEqual(r.returncode, 0, r.stderr)
        req, = self.http.requests
        self.assertEqual(req["method"], "PUT")
        self.assertEqual(req["path"], "/hook/pve%201?token=t%2Fk%20n")
        self.assertEqual(req["headers"]["X-Severity"], "error")
        self.assertEqual(req["headers"]["Content-Type"], "application/json")
        body = json.loads(req["body"])
        self.assertEqual(body["title"], "backup failed: ct 101")
        self.assertEqual(body["message"], message)
        self.assertEqual(body["severity"], "error")
        self.assertEqual(body["type"], "vzdump")
        self.assertEqual(body["fields"], {"hostname": "pve 1", "job-id": "daily", "type": "vzdump"})
        self.assertGreaterEqual(body["ts"], before)

    def test_webhook_http_error_is_reported(self):
        text, priv = self.webhook(path="/fail")
        self.write(text, priv)
        r = self.ctdump("notify", "test", "hook")
        self.assertEqual(r.returncode, 1)
        self.assertIn("HTTP status 500", r.stderr)
        self.assertIn("?token=<masked>", r.stderr)  # the secret in the URL
        self.assertNotIn("t%2Fk", r.stderr)
        self.assertEqual(len(self.http.requests), 3)  # three attempts

    def test_webhook_client_error_is_not_retried(self):
        text, priv = self.webhook(path="/forbidden")
        self.write(text, priv)
        r = self.ctdump("notify", "test", "hook")
        self.assertEqual(r.returncode, 1)
        self.assertIn("HTTP status 403", r.stderr)
        self.assertIn("failed after 1 attempt:", r.stderr)
        self.assertEqual(len(self.http.requests), 1)

    # --- Dispatch: matchers, unreachable targets, retries ----------------------

    def test_unreachable_target_does_not_stop_the_others(self):
        closed = free_closed_port()
        text, priv = self.webhook()
        self.write(text + "\ngotify: dead\n\tserver http://127.0.0.1:%d\n\n"
                   "sendmail: mail\n\tmailto admin@example.com\n\n"
                   "matcher: errors\n\tmatch-severity error\n\tmatch-field exact:type=vzdump,gc\n"
                   "\ttarget dead\n\ttarget hook\n\ttarget mail\n\n"
                   "matcher: infos\n\tmatch-severity info\n\ttarget mail\n" % closed,
                   priv + "\ngotify: dead\n\ttoken x\n")
        r = self.ctdump("notify", "send", "--severity", "error", "--title", "t", "--field", "type=vzdump",
                        "--field", "hostname=h")
        self.assertEqual(r.returncode, 1)  # not everything arrived ...
        self.assertIn("sent to 2 of 3 matching target(s): hook, dead, mail", r.stderr)
        # ... but the others did, and the dead one was retried and named.
        self.assertEqual(len(self.http.requests), 1)
        self.assertEqual(len(self.plain.inbox.wait()), 1)
        self.assertIn("notification target 'dead' (gotify): attempt 1/3 failed", r.stderr)
        self.assertIn("retrying in 1 s", r.stderr)
        self.assertIn("retrying in 4 s", r.stderr)
        warnings = [l for l in r.stderr.splitlines() if l.startswith("WARN")]
        self.assertEqual(len(warnings), 1, r.stderr)
        self.assertIn("notification target 'dead' (gotify) failed after 3 attempts", warnings[0])
        self.assertIn("127.0.0.1:%d" % closed, warnings[0])
        # Bounded: 1 s + 4 s of backoff, connection refused at once.
        self.assertGreaterEqual(r.elapsed, 5)
        self.assertLess(r.elapsed, 15)
        print("\nDispatch with one refused target (3 attempts): %.2f s" % r.elapsed)
        # An info notification only goes to mail (matcher infos); a gc warning to nobody.
        self.plain.inbox.messages.clear()
        r = self.ctdump("notify", "send", "--severity", "info", "--title", "fine", "--field", "type=vzdump")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sent to 1 of 1 matching target(s): mail", r.stderr)
        r = self.ctdump("notify", "send", "--severity", "warning", "--title", "meh", "--field", "type=gc")
        self.assertIn("sent to 0 of 0 matching target(s)", r.stderr)

    def test_hung_target_is_bounded(self):
        self.write("webhook: hung\n\turl http://127.0.0.1:%d/\n\nmatcher: all\n\ttarget hung\n"
                   % self.silent_port)
        r = self.ctdump("notify", "send", "--title", "t")
        self.assertEqual(r.returncode, 1)
        self.assertIn("failed after 3 attempts", r.stderr)
        self.assertIn("Operation timed out", r.stderr)
        # 3 attempts of at most 10 s plus 5 s of backoff: the documented bound of 35 s.
        self.assertGreaterEqual(r.elapsed, 30)
        self.assertLess(r.elapsed, 40)
        print("\nDispatch with one hung target (3 timeouts): %.2f s" % r.elapsed)

    # --- config errors and list ----------------------------------------------------

    def test_bad_config_names_file_and_line(self):
        self.write("sendmail: mail\n\tmailto a@example.com\n\nmatcher: m\n\ttarget nowhere\n")
        r = self.ctdump("notify", "list")
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s/notifications.cfg:5: matcher 'm': unknown target 'nowhere'" % self.cfg, r.stderr)
        text, priv = self.webhook()
        self.write(text.replace(b64("{{ severity }}"), b64("{{ severity | upper }}")), priv)
        r = self.ctdump("notify", "test", "hook")
        self.assertEqual(r.returncode, 1)
        self.assertIn("notifications.cfg:5: webhook 'hook': header X-Severity: template", r.stderr)
        self.write("webhook: w\n\turl http://127.0.0.1/{{ titel }}\n")
        r = self.ctdump("notify", "list")
        self.assertIn("notifications.cfg:2: webhook 'w': url: template '{{ titel }}': unknown variable 'titel'",
                      r.stderr)

    def test_unknown_target(self):
        self.write("sendmail: mail\n\tmailto a@example.com\n")
        r = self.ctdump("notify", "test", "nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn("notification target 'nope' does not exist", r.stderr)

    def test_list_json(self):
        text, priv = self.webhook()
        self.write(text + "\nmatcher: m\n\tmatch-field regex:hostname=^pve\n\tmode any\n\ttarget hook\n", priv)
        r = self.ctdump("notify", "list", json_output=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json_events.result(r.stdout)
        hook, = out["targets"]
        self.assertEqual(hook["type"], "webhook")
        self.assertEqual(hook["secret"], ["token"])
        self.assertNotIn("t/k", r.stdout)
        m, = out["matchers"]
        self.assertEqual(m["rules"], ["match-field regex:hostname=^pve"])
        self.assertEqual(m["mode"], "any")
        self.assertEqual(m["target"], ["hook"])


if __name__ == "__main__":
    unittest.main()
