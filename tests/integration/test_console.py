"""The web console in a real browser (issue 15, item 4).

A real `ctdump serve` (api_server.ApiServer) on the realenv fixture's
lxcpath with a `dir` storage, a real PAM user with Administrator on /, the
repository's www/, and Debian's chromium + chromium-driver driven by
python3-selenium (hence /usr/bin/python3), headless, at a desktop size and a
phone size (375x812):

  log in; the ticket's renewal (the console's own code, as its hourly timer
  runs it); the containers with their state; a backup started from the
  backup dialog (mode, notes template, exclude paths), its live log followed
  to TASK OK, with the session cookie deleted while it runs (the login
  screen appears; after logging in again the same task's log is back and
  whole); the newest backup on the containers screen; the storage and its
  backups; the notes edited (hostile text stays text) and protection
  toggled; the restore dialog: a taken name (the server's message shown),
  then a new container with a host name and an ID map (destroyed
  afterwards); the task list; at the phone size every screen as cards in
  one column, the log's download link, and the backup deleted after a
  confirmation; the jobs screen (a backup job created, its next run shown,
  edited and deleted, jobs.cfg's comment kept; another job type read-only)
  and the notification targets with "Send test" to a webhook on 127.0.0.1.
  Browser console errors (scripts, CSP) fail the test.

A screenshot of every screen at both sizes goes to
$CTDUMP_ARTIFACTS/console/ (else <build dir>/artifacts/console/), named
<screen>-<size>.png.
"""
import base64
import http.server
import os
import re
import threading
import time
import unittest
import urllib.parse

import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

import api_server
import harness

CHROMEDRIVER = "/usr/bin/chromedriver"
SIZES = {"desktop": (1280, 900), "phone": (375, 812)}
HOSTILE_NOTES = 'from the console <img src=x onerror=alert(1)> & "quotes"'


def artifacts_dir():
    base = os.environ.get("CTDUMP_ARTIFACTS")
    if not base:
        # <build dir>/artifacts: CTDUMP_BIN is <build dir>/ctdump.
        base = os.path.join(os.path.dirname(os.path.abspath(api_server.BIN)), "artifacts")
    d = os.path.join(base, "console")
    os.makedirs(d, exist_ok=True)
    return d


def browser(size):
    o = webdriver.ChromeOptions()
    # Root needs --no-sandbox. The server's certificate is self-signed and
    # made at its first start; Chromium takes no CA file on the command line
    # (it would need an NSS database in a private HOME), so the test accepts
    # any certificate: what the console does over TLS is the same.
    for a in ("--headless=new", "--no-sandbox", "--ignore-certificate-errors", "--disable-gpu",
              "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
              "--lang=en-US"):
        o.add_argument(a)
    w, h = SIZES[size]
    if size == "phone":
        o.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": w, "height": h, "pixelRatio": 2.0, "touch": True},
            "userAgent": "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 "
                         "(KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"})
    else:
        o.add_argument("--window-size=%d,%d" % (w, h))
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    d.set_page_load_timeout(30)
    return d


class ConsoleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not api_server.BIN:
            raise unittest.SkipTest("run through ctest (CTDUMP_BIN unset)")
        if not os.path.exists(CHROMEDRIVER):
            raise unittest.SkipTest("chromium-driver is not installed")
        cls.env = harness.env()
        for ct in (cls.env["CT_PRIV"], cls.env["CT_UNPRIV"]):
            harness.ensure_running(ct)
        cls.started = time.monotonic()
        cls.restored = []
        cls.drivers = []
        cls.art = artifacts_dir()
        cls.user = api_server.PamUser(password="Console-t3st pass")
        cls.server = api_server.ApiServer(lxcpath=cls.env["LXCPATH"])
        try:
            # A dir storage beside the server's directories (0755, as
            # harness.Workspace's: containers' user namespaces reach it).
            cls.store = os.path.join(cls.server.tmp, "store")
            os.makedirs(cls.store, mode=0o755)
            with open(os.path.join(cls.server.config_dir, "storage.cfg"), "w") as f:
                f.write("dir: local\n\tpath %s\n" % cls.store)
            cls.server.write_user_cfg("user:%s:1:0::::::\nacl:1:/:%s:Administrator:\n"
                                      % (cls.user.userid, cls.user.userid))
            _, cls.secret = cls.server.add_token("root@pam", "console", "--privsep", "0")
            cls.server.start()
        except Exception:
            cls.server.cleanup()
            cls.user.cleanup()
            raise
        cls.node = "localhost"

    @classmethod
    def tearDownClass(cls):
        harness.quit_all(cls.drivers)
        harness.destroy_containers(cls.restored)
        cls.server.cleanup()
        cls.user.cleanup()
        for ct in (cls.env["CT_PRIV"], cls.env["CT_UNPRIV"]):
            harness.ensure_running(ct)
        print("\ntest_console: %.1f s" % (time.monotonic() - cls.started))

    # ---- helpers ----

    def api(self, path, **params):
        r = requests.get(self.server.url + "/api2/json" + path, params=params,
                         verify=self.server.ca, timeout=30,
                         headers={"Authorization": "PVEAPIToken=root@pam!console=" + self.secret})
        self.assertEqual(r.status_code, 200, r.text)
        return r.json()["data"]

    def open_browser(self, size):
        d = browser(size)
        self.drivers.append(d)
        d.size_name = size
        return d

    def wait(self, d, what, timeout=30, message=""):
        try:
            # Views re-render their tables after a change: an element may go
            # stale between finding and reading it; the wait tries again.
            return WebDriverWait(d, timeout, poll_frequency=0.2,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(what)
        except TimeoutException:
            self.shot(d, "FAILED")
            raise AssertionError("timed out: %s (at %s)\n%s" % (
                message, d.current_url, self.browser_log(d)))

    def css(self, d, selector, timeout=30):
        return self.wait(d, lambda d: (d.find_elements(By.CSS_SELECTOR, selector) or [None])[0],
                         timeout, "waiting for " + selector)

    def screen(self, d, name, timeout=30):
        """Waits until <main> shows screen `name` and its content is there."""
        self.wait(d, lambda d: d.find_element(By.ID, "main").get_attribute("data-screen") == name,
                  timeout, "screen " + name)

    def shot(self, d, name):
        """The whole page (not only the window), at most 4000 CSS px high."""
        d.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.2)  # fonts and layout settle
        path = os.path.join(self.art, "%s-%s.png" % (name, d.size_name))
        try:
            size = d.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
            png = d.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size["width"],
                         "height": min(size["height"], 4000), "scale": 1}})["data"]
            with open(path, "wb") as f:
                f.write(base64.b64decode(png))
        except Exception:
            d.save_screenshot(path)
        return path

    def browser_log(self, d):
        try:
            return "\n".join("%s %s" % (e["level"], e["message"]) for e in d.get_log("browser"))
        except Exception:
            return ""

    def assertNoScriptErrors(self, d):
        # HTTP errors are expected (the 401s of the deleted cookie, the 400
        # of a taken name): the test checks what the console makes of them.
        # Script errors and CSP violations are not.
        bad = [e["message"] for e in d.get_log("browser") if e["level"] == "SEVERE"
               and "Failed to load resource: the server responded with a status of"
               not in e["message"]]
        self.assertEqual(bad, [], "browser console errors")

    def hash(self, d):
        return urllib.parse.urlsplit(d.current_url).fragment

    def login(self, d, expect_notice=False):
        user = self.css(d, "#login-user")
        self.screen(d, "login")
        if expect_notice:
            self.css(d, "#login-expired")
        else:
            self.assertEqual(d.find_elements(By.ID, "login-expired"), [])
        user.clear()
        user.send_keys(self.user.name)
        Select(d.find_element(By.ID, "login-realm")).select_by_value("pam")
        d.find_element(By.ID, "login-password").send_keys(self.user.password)
        d.find_element(By.ID, "login-submit").click()
        self.wait(d, lambda d: d.find_element(By.ID, "main").get_attribute("data-screen")
                  not in ("login", None), 30, "the login to go through")

    def check_renewal(self, d):
        """The console's ticket renewal (what it does every 60 minutes),
        called through its own module: a new cookie and CSRF token."""
        src = d.find_element(By.CSS_SELECTOR, "script[type=module]").get_attribute("src")
        before = d.get_cookie("PVEAuthCookie")["value"]
        time.sleep(1.1)  # a ticket's time is in seconds
        s = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "import(arguments[0]).then((m) => m.renew()).then(done, (e) => done(String(e)));",
            src.rsplit("/", 1)[0] + "/api.js")
        self.assertIsInstance(s, dict, s)
        self.assertEqual(s["username"], self.user.userid)
        self.assertRegex(s["csrf"], r"^[0-9A-F]{8}:[A-Za-z0-9+/]{43}$")
        self.assertNotEqual(d.get_cookie("PVEAuthCookie")["value"], before)

    def follow_task(self, d, timeout=300):
        """On a task's log page: waits for its end, returns (exitstatus, log text)."""
        self.screen(d, "task")
        exit_el = self.wait(d, lambda d: [e for e in d.find_elements(By.ID, "task-exit")
                                          if e.get_attribute("data-exitstatus")],
                            timeout, "the task to end")[0]
        return exit_el.get_attribute("data-exitstatus"), d.find_element(By.ID, "task-log").text

    def row(self, d, attr, value):
        quoted = '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
        return self.css(d, "tr[data-%s=%s]" % (attr, quoted))

    # ---- the scenario ----

    def test_console(self):
        ct = self.env["CT_PRIV"]
        d = self.open_browser("desktop")

        # Log in.
        d.get(self.server.url + "/")
        self.css(d, "#login-user")
        self.shot(d, "login")
        self.login(d)

        # The containers with their states (both running: the fixture).
        self.screen(d, "containers")
        self.check_renewal(d)
        for name in (self.env["CT_PRIV"], self.env["CT_UNPRIV"]):
            r = self.row(d, "ct", name)
            self.assertEqual(r.get_attribute("data-state"), "running")
            self.assertIn("running", r.text)
            self.assertIn("never", r.text)  # no backup yet in this state dir
        self.shot(d, "containers")

        # The backup dialog (suspend: the privileged container's ext4 has no
        # snapshots); bwlimit is offered to an Administrator (Sys.Modify).
        self.row(d, "ct", ct).find_element(By.CSS_SELECTOR, "[data-action=backup]").click()
        self.screen(d, "backup")
        self.css(d, "#backup-bwlimit")
        Select(d.find_element(By.ID, "backup-mode")).select_by_value("suspend")
        notes = d.find_element(By.ID, "backup-notes")
        notes.clear()
        notes.send_keys("console {{guestname}}")
        d.find_element(By.ID, "backup-exclude").send_keys("/srv/no-such-dir/**\n/tmp/*.none")
        self.shot(d, "backup")
        d.find_element(By.ID, "backup-submit").click()

        # Its log, live; the session cookie goes away while it runs.
        self.screen(d, "task")
        task_hash = self.hash(d)
        self.assertTrue(task_hash.startswith("/task/UPID%3A"), task_hash)
        upid = urllib.parse.unquote(task_hash[len("/task/"):])
        self.assertIn(":vzdump:%s:%s:" % (ct, self.user.userid), upid)
        self.wait(d, lambda d: "starting new backup job" in
                  d.find_element(By.ID, "task-log").text, 60, "the first log lines")
        d.delete_cookie("PVEAuthCookie")
        # The next poll meets a 401 (after pveproxy's 3 s) and the login
        # shows. Should the task have ended before the cookie went away, no
        # poll follows: a reload then makes the call that meets the 401.
        seen = self.wait(d, lambda d: d.find_elements(By.ID, "login-expired") or
                         d.find_elements(By.CSS_SELECTOR, "#task-exit[data-exitstatus]"),
                         30, "the login or the task's end")
        if seen[0].get_attribute("id") != "login-expired":
            print("the backup ended before the cookie was deleted: reloading")
            d.refresh()
        self.css(d, "#login-expired", timeout=30)
        self.shot(d, "login-expired")
        self.login(d, expect_notice=True)
        self.assertEqual(self.hash(d), task_hash, "not back on the task after the login")
        status, log = self.follow_task(d)
        self.assertEqual(status, "OK", log)
        self.assertTrue(log.rstrip().endswith("TASK OK"), log)
        # The log is whole: read again from its first line after the login.
        self.assertEqual(log.count("starting new backup job"), 1, log)
        self.assertIn("--exclude-path=/srv/no-such-dir/**", log)
        self.assertIn("--exclude-path=/tmp/*.none", log)
        lines = self.api("/nodes/%s/tasks/%s/log" % (self.node, urllib.parse.quote(upid, safe="")),
                         limit=0)
        self.assertEqual([l.rstrip() for l in log.strip("\n").split("\n")],
                         [l["t"].rstrip() for l in lines])
        self.shot(d, "task")

        # The containers screen shows the new backup.
        d.find_element(By.CSS_SELECTOR, "a.nav-link[href='#/containers']").click()
        self.screen(d, "containers")
        self.wait(d, lambda d: "never" not in self.row(d, "ct", ct).text, 30, "last-backup")
        self.assertIn("local", self.row(d, "ct", ct).text)

        # The storage and its backups.
        d.find_element(By.CSS_SELECTOR, "a.nav-link[href='#/storage']").click()
        self.screen(d, "storage")
        self.css(d, "#storages a[data-storage=local]")
        self.shot(d, "storages")
        d.find_element(By.CSS_SELECTOR, "#storages a[data-storage=local]").click()
        self.screen(d, "storage-backups")
        content = self.api("/nodes/%s/storage/local/content" % self.node)
        self.assertEqual(len(content), 1, content)
        volid = content[0]["volid"]
        self.assertEqual(content[0]["notes"], "console " + ct)
        r = self.row(d, "volid", volid)
        self.assertIn("console " + ct, r.text)

        # Edit its notes: hostile text is stored and shown as text.
        r.find_element(By.CSS_SELECTOR, "[data-action=edit-notes]").click()
        box = self.css(d, "tr[data-volid] input.notes-input")
        box.clear()
        box.send_keys(HOSTILE_NOTES)
        d.find_element(By.CSS_SELECTOR, "[data-action=save-notes]").click()
        self.wait(d, lambda d: "Notes saved" in d.find_element(By.ID, "backups-status").text, 30,
                  "notes saved")
        self.assertEqual(self.api("/nodes/%s/storage/local/content" % self.node)[0]["notes"],
                         HOSTILE_NOTES)
        self.assertEqual(self.row(d, "volid", volid).find_element(
            By.CSS_SELECTOR, ".notes-text").text, HOSTILE_NOTES)
        self.assertEqual(d.find_elements(By.CSS_SELECTOR, "#main img"), [])

        # Protection on (Delete is then disabled) and off again.
        self.row(d, "volid", volid).find_element(By.CSS_SELECTOR, "[data-action=protect]").click()
        self.wait(d, lambda d: self.row(d, "volid", volid).find_element(
            By.CSS_SELECTOR, "[data-action=protect]").get_attribute("aria-pressed") == "true",
            30, "protected")
        self.assertEqual(self.api("/nodes/%s/storage/local/content" % self.node)[0].get("protected"), 1)
        self.assertFalse(self.row(d, "volid", volid).find_element(
            By.CSS_SELECTOR, "[data-action=delete]").is_enabled())
        self.shot(d, "backups")
        self.row(d, "volid", volid).find_element(By.CSS_SELECTOR, "[data-action=protect]").click()
        self.wait(d, lambda d: self.row(d, "volid", volid).find_element(
            By.CSS_SELECTOR, "[data-action=protect]").get_attribute("aria-pressed") == "false",
            30, "unprotected")
        self.assertNotIn("protected", self.api("/nodes/%s/storage/local/content" % self.node)[0])

        # Restore it into a new container from the restore dialog (from the
        # containers screen: the dialog offers that container's backups).
        target = ct.rsplit("-", 1)[0] + "-conrt"
        self.restored.append(target)
        harness.destroy_containers([target])
        d.find_element(By.CSS_SELECTOR, "a.nav-link[href='#/containers']").click()
        self.screen(d, "containers")
        self.row(d, "ct", ct).find_element(By.CSS_SELECTOR, "[data-action=restore]").click()
        self.screen(d, "restore")
        picked = Select(self.css(d, "#restore-backup")).first_selected_option
        self.assertEqual(picked.get_attribute("value"), volid)
        # A name that is taken: the server's message is shown, nothing starts.
        d.find_element(By.ID, "restore-vmid").send_keys(ct)
        d.find_element(By.ID, "restore-submit").click()
        err = self.wait(d, lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "#restore-form .error")
                                      if e.is_displayed() and e.text] or None, 30, "the error")[0]
        self.assertIn("already exists", err.text)
        self.shot(d, "restore-error")
        self.assertEqual(self.hash(d).split("?")[0], "/restore")
        d.find_element(By.ID, "restore-vmid").clear()
        d.find_element(By.ID, "restore-vmid").send_keys(target)
        d.find_element(By.ID, "restore-hostname").send_keys(target)
        d.find_element(By.ID, "restore-idmap").send_keys("u 0 200000 65536\ng 0 200000 65536")
        Select(d.find_element(By.ID, "restore-unprivileged")).select_by_value("1")
        d.find_element(By.ID, "restore-unique").click()
        d.find_element(By.ID, "restore-bwlimit").send_keys("512000")
        self.shot(d, "restore")
        d.find_element(By.ID, "restore-submit").click()
        status, log = self.follow_task(d)
        # Warnings are the fixture's: entries the new map cannot represent,
        # a config key not restored.
        self.assertRegex(status, r"^(OK|WARNINGS: \d+)$", log)
        self.assertIn("ID map u 0 200000 65536, g 0 200000 65536", log)
        self.assertIn("restore bandwidth limit: 512000 KiB/s", log)
        self.assertIn(":vzrestore:%s:" % target, urllib.parse.unquote(self.hash(d)))
        with open(os.path.join(self.env["LXCPATH"], target, "config")) as f:
            config = f.read()
        self.assertIn("lxc.idmap = u 0 200000 65536", config)
        self.assertRegex(config, r"(?m)^lxc\.uts\.name = %s$" % re.escape(target))
        self.shot(d, "task-restore")

        # The task list: both tasks, newest first.
        d.find_element(By.CSS_SELECTOR, "a.nav-link[href='#/tasks']").click()
        self.screen(d, "tasks")
        links = self.wait(d, lambda d: [a for a in d.find_elements(By.CSS_SELECTOR, "#tasks a[data-upid]")
                                        if a] or None, 30, "task rows")
        self.assertEqual(len(links), 2)
        self.assertIn(":vzrestore:", links[0].get_attribute("data-upid"))
        self.assertEqual(links[1].get_attribute("data-upid"), upid)
        self.shot(d, "tasks")
        self.assertNoScriptErrors(d)

        # ---- a phone: every screen, tables as cards ----
        p = self.open_browser("phone")
        p.get(self.server.url + "/")
        self.css(p, "#login-user")
        self.assertEqual(p.execute_script("return window.innerWidth"), 375)
        self.shot(p, "login")
        self.login(p)
        self.screen(p, "containers")
        self.row(p, "ct", ct)
        # One column: the table head is hidden, each cell labels itself.
        self.assertFalse(p.find_element(By.CSS_SELECTOR, "#containers thead").is_displayed())
        cell = self.row(p, "ct", ct).find_element(By.CSS_SELECTOR, "td.state")
        self.assertEqual(p.execute_script(
            "return getComputedStyle(arguments[0], '::before').content", cell), '"State"')
        self.assertLessEqual(p.execute_script("return document.documentElement.scrollWidth"), 375)
        self.shot(p, "containers")
        for hash_, screen, name, ready in (
                ("#/backup/" + ct, "backup", "backup", "#backup-storage"),
                ("#/restore?ct=" + ct, "restore", "restore", "#restore-backup option"),
                ("#/storage", "storage", "storages", "#storages a[data-storage]"),
                ("#/storage/local", "storage-backups", "backups", "#backups tr[data-volid]"),
                ("#/tasks", "tasks", "tasks", "#tasks a[data-upid]"),
                ("#/task/" + urllib.parse.quote(upid, safe=""), "task", "task",
                 "#task-exit[data-exitstatus]")):
            p.get(self.server.url + "/" + hash_)
            self.screen(p, screen)
            self.css(p, ready)
            self.assertLessEqual(p.execute_script("return document.documentElement.scrollWidth"),
                                 375, "%s is wider than the phone" % name)
            self.shot(p, name)
        self.assertIn("TASK OK", p.find_element(By.ID, "task-log").text)
        # Its download link (a GET with the cookie) gives the whole file.
        href = p.find_element(By.ID, "task-download").get_attribute("href")
        text = p.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {credentials: 'same-origin'}).then((r) => r.text())"
            ".then(done, (e) => done(String(e)));", href)
        self.assertTrue(text.rstrip().endswith("TASK OK"), text[-300:])

        # Delete the backup, confirmed in a dialog (an imgdel task; the
        # console waits for it with `delay`).
        p.get(self.server.url + "/#/storage/local")
        self.screen(p, "storage-backups")
        self.row(p, "volid", volid).find_element(By.CSS_SELECTOR, "[data-action=delete]").click()
        yes = self.css(p, "dialog[open] [data-confirm=yes]")
        self.shot(p, "delete-confirm")
        yes.click()
        self.wait(p, lambda p: "Deleted" in p.find_element(By.ID, "backups-status").text, 60,
                  "the backup deleted")
        self.assertEqual(self.api("/nodes/%s/storage/local/content" % self.node), [])
        self.assertEqual(p.find_elements(By.CSS_SELECTOR, "#backups tr[data-volid]"), [])

        # A new tab shares the login (the cookie and the session record): a
        # deep link opens its screen, and it can write (the CSRF token).
        first = p.current_window_handle
        p.switch_to.new_window("tab")
        p.get(self.server.url + "/#/storage/local")
        self.screen(p, "storage-backups")
        self.assertEqual(p.find_elements(By.ID, "login-expired"), [])
        self.assertEqual(p.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "const app = document.querySelector('script[type=module]').src;"
            "import(app.replace(/app[.]js([?].*)?$/, 'api.js$1')).then(api => api.renew())"
            ".then(s => done(s && s.username ? 'ok' : 'no session'), e => done(String(e)))"),
            "ok")
        p.close()
        p.switch_to.window(first)

        # Log out: the login, without the "session ended" notice.
        p.find_element(By.ID, "logout").click()
        self.screen(p, "login")
        self.assertEqual(p.find_elements(By.ID, "login-expired"), [])
        self.assertIsNone(p.execute_script("return localStorage.getItem('ctdump.session')"))
        # The HttpOnly cookie is gone too (the server removed it): a deep
        # link now lands on the login.
        self.assertIsNone(p.get_cookie("PVEAuthCookie"))
        self.assertNoScriptErrors(p)


    def test_jobs_and_notifications(self):
        """The jobs screen: a verify job read-only, a backup job created in the
        form (its next run shown; jobs.cfg's comment kept), edited and deleted
        after a confirmation; the notification targets with "Send test" to a
        webhook on 127.0.0.1; both screens at the phone size."""
        hits = []

        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                hits.append((self.path, self.rfile.read(n)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=hook.serve_forever, daemon=True).start()
        self.addCleanup(hook.shutdown)
        cfg = self.server.config_dir
        jobs_cfg = os.path.join(cfg, "jobs.cfg")
        with open(jobs_cfg, "w") as f:
            f.write("# by hand\nverify: weekly-verify\n\tstorage local\n\tschedule sat 04:00\n")
        with open(os.path.join(cfg, "notifications.cfg"), "w") as f:
            f.write("webhook: console-hook\n\turl http://127.0.0.1:%d/console\n\tmethod post\n"
                    "\tcomment from the console test\n" % hook.server_address[1])
        ct = self.env["CT_PRIV"]

        d = self.open_browser("desktop")
        d.get(self.server.url + "/#/jobs")
        self.login(d)
        self.screen(d, "jobs")
        self.assertIn("sat 04:00", self.row(d, "job", "weekly-verify").text)
        self.css(d, "#job-new").click()
        self.css(d, "#job-form")
        d.find_element(By.ID, "job-id").send_keys("console-job")
        schedule = d.find_element(By.ID, "job-schedule")
        schedule.clear()
        schedule.send_keys("mon..fri 21:00")
        d.find_element(By.ID, "job-vmid").send_keys(ct)
        Select(d.find_element(By.ID, "job-storage")).select_by_value("local")
        d.find_element(By.ID, "job-comment").send_keys("made in the <b>console</b>")
        self.shot(d, "job-new")
        d.find_element(By.ID, "job-submit").click()
        row = self.row(d, "job", "console-job")
        self.assertRegex(row.find_element(By.CSS_SELECTOR, ".next-run").text,
                         r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        with open(jobs_cfg) as f:
            text = f.read()
        self.assertTrue(text.startswith("# by hand\nverify: weekly-verify\n"), text)
        self.assertIn("\nvzdump: console-job\n\tschedule mon..fri 21:00\n", text)
        self.shot(d, "jobs")

        # Edit: the schedule changes, the emptied comment goes.
        self.row(d, "job", "console-job").find_element(By.LINK_TEXT, "Edit").click()
        schedule = self.css(d, "#job-form #job-schedule")
        self.assertEqual(d.find_element(By.ID, "job-comment").get_attribute("value"),
                         "made in the <b>console</b>")
        schedule.clear()
        schedule.send_keys("22:00")
        d.find_element(By.ID, "job-comment").clear()
        self.shot(d, "job-edit")
        d.find_element(By.ID, "job-submit").click()
        self.wait(d, lambda d: "22:00" in self.row(d, "job", "console-job").text, 30,
                  "the new schedule")
        job = self.api("/cluster/backup/console-job")
        self.assertEqual(job["schedule"], "22:00")
        self.assertNotIn("comment", job)

        # Delete, confirmed.
        self.row(d, "job", "console-job").find_element(By.CSS_SELECTOR, ".btn-danger").click()
        self.css(d, "dialog[open] [data-confirm=yes]").click()
        self.wait(d, lambda d: not d.find_elements(By.CSS_SELECTOR, "#backup-jobs tr[data-job]"),
                  30, "the job deleted")
        with open(jobs_cfg) as f:
            self.assertEqual(f.read(),
                             "# by hand\nverify: weekly-verify\n\tstorage local\n"
                             "\tschedule sat 04:00\n")

        # Notification targets, and a test send.
        d.get(self.server.url + "/#/notifications")
        self.screen(d, "notifications")
        self.assertIn("from the console test", self.row(d, "target", "console-hook").text)
        self.css(d, "button[data-test=console-hook]").click()
        self.wait(d, lambda d: "sent" in d.find_element(
            By.CSS_SELECTOR, ".test-status[data-target=console-hook]").text, 60, "the test sent")
        self.assertEqual([p for p, _ in hits], ["/console"])
        self.shot(d, "notifications")
        self.assertNoScriptErrors(d)

        p = self.open_browser("phone")
        p.get(self.server.url + "/#/jobs")
        self.login(p)
        self.screen(p, "jobs")
        self.row(p, "job", "weekly-verify")
        self.shot(p, "jobs")
        p.get(self.server.url + "/#/notifications")
        self.screen(p, "notifications")
        self.row(p, "target", "console-hook")
        self.shot(p, "notifications")
        self.assertNoScriptErrors(p)

class ConsoleSourceTest(unittest.TestCase):
    """What the CSP and the hostile-names rule forbid, checked in the files:
    no HTML parsed from strings, no inline script, style or handlers."""

    def test_no_html_from_strings_and_nothing_inline(self):
        www = os.path.join(api_server.SRC, "www")
        seen = 0
        for root, _, files in os.walk(www):
            for name in files:
                path = os.path.join(root, name)
                with open(path, errors="replace") as f:
                    text = f.read()
                if name.endswith(".js"):
                    seen += 1
                    bad = re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML\(|"
                                    r"document\.write|\beval\(|new Function|\.style\.|"
                                    r"setAttribute\(\s*['\"]style", text)
                elif name.endswith(".html"):
                    bad = re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", text)
                else:
                    continue
                self.assertIsNone(bad, "%s: %s" % (path, bad and bad.group(0)))
        self.assertGreater(seen, 5)


if __name__ == "__main__":
    unittest.main()
