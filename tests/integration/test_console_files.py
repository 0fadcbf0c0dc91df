"""The console's file browser of a datastore backup (issue 15, milestone 10).

A real `ctdump serve` with a datastore storage, a backup of the privileged
container made through the API, and Debian's chromium driven by
python3-selenium (hence /usr/bin/python3), headless: log in, the storage's
backups, "Files" of the backup, the archive's root, into /etc by its link,
the breadcrumbs back, a file's download link fetched by the page (its bytes
are the container's) and a directory's .tar.zst link. Browser console errors
fail the test. Screenshots go to $CTDUMP_ARTIFACTS/console/ as
files-<size>.png.
"""
import os
import unittest
import urllib.parse

from selenium.webdriver.common.by import By

import api_server
import harness
import test_console


# A file name that is HTML: shown as text, never markup.
HOSTILE = "<img src=x onerror=window.__pwned=1>"


class ConsoleFilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not api_server.BIN:
            raise unittest.SkipTest("run through ctest (CTDUMP_BIN unset)")
        if not os.path.exists(test_console.CHROMEDRIVER):
            raise unittest.SkipTest("chromium-driver is not installed")
        cls.env = harness.env()
        harness.ensure_running(cls.env["CT_PRIV"])
        cls.drivers = []
        cls.art = test_console.artifacts_dir()
        cls.hostile = os.path.join(cls.env["ROOTFS_PRIV"], HOSTILE)
        with open(cls.hostile, "w") as f:
            f.write("hostile\n")
        cls.user = api_server.PamUser(password="Files-t3st pass")
        cls.server = api_server.ApiServer(lxcpath=cls.env["LXCPATH"])
        try:
            ds = os.path.join(cls.server.tmp, "ds")
            os.makedirs(ds, mode=0o755)
            with open(os.path.join(cls.server.config_dir, "storage.cfg"), "w") as f:
                f.write("datastore: ds\n\tpath %s\n" % ds)
            cls.server.write_user_cfg("user:%s:1:0::::::\nacl:1:/:%s:Administrator:\n"
                                      % (cls.user.userid, cls.user.userid))
            _, secret = cls.server.add_token("root@pam", "files", "--privsep", "0")
            cls.server.start()
            node = api_server.node_name()
            pve = cls.server.token_client("files", secret, timeout=120)
            upid = pve.nodes(node).vzdump.post(vmid=cls.env["CT_PRIV"], storage="ds", mode="stop")
            api_server.wait_task(pve, node, upid)
        except Exception:
            cls.tearDownClass()
            raise
        finally:
            harness.ensure_running(cls.env["CT_PRIV"])

    @classmethod
    def tearDownClass(cls):
        harness.quit_all(cls.drivers)
        cls.server.cleanup()
        cls.user.cleanup()
        if os.path.exists(cls.hostile):
            os.unlink(cls.hostile)

    def test_file_browser(self):
        ct = self.env["CT_PRIV"]
        with open(os.path.join(self.env["ROOTFS_PRIV"], "etc/hostname"), "rb") as f:
            hostname = f.read()
        for size in ("desktop", "phone"):
            d = self.open_browser(size)
            d.get(self.server.url + "/#/storage/ds")
            self.login(d)
            self.screen(d, "storage-backups")
            row = self.row(d, "vmid", ct)
            row.find_element(By.CSS_SELECTOR, "a[data-action=files]").click()
            self.screen(d, "files")
            top = self.css(d, "tr[data-name=etc] a[data-dir]")
            # The HTML file name is a row's text, no element of it exists.
            self.assertTrue(d.execute_script(
                "return [...document.querySelectorAll('tr[data-name]')]"
                ".some((tr) => tr.dataset.name === arguments[0] &&"
                " tr.textContent.includes(arguments[0]))", HOSTILE))
            self.assertEqual(d.find_elements(By.CSS_SELECTOR, "#main img"), [])
            self.assertIsNone(d.execute_script("return window.__pwned"))
            # The archive's root is the container's "/".
            self.assertTrue(self.css(d, "#files-crumbs").text.endswith(": /"),
                            self.css(d, "#files-crumbs").text)
            top.click()
            hosts = self.css(d, "tr[data-name=hostname]")
            self.assertTrue(self.css(d, "#files-crumbs").text.endswith(": /etc"),
                            self.css(d, "#files-crumbs").text)
            link = hosts.find_element(By.CSS_SELECTOR, "a[data-action=download]")
            href = link.get_attribute("href")
            self.assertIn("/file-restore/download?", href)
            self.assertNotIn("tar=1", href)
            got = d.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "fetch(arguments[0], {credentials: 'same-origin'}).then((r) => r.arrayBuffer())"
                ".then((b) => done(Array.from(new Uint8Array(b))), (e) => done(String(e)));",
                href)
            self.assertEqual(bytes(got), hostname)
            tar = self.css(d, "a[data-action=download-dir]").get_attribute("href")
            self.assertIn("tar=1", tar)
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(tar).query)
            self.assertTrue(q["volume"][0].startswith("ds:backup/ct/%s/" % ct), q)
            self.shot(d, "files")
            # Back up by the breadcrumbs: the archive's root.
            self.css(d, "#files-crumbs a.mono").click()
            self.css(d, "tr[data-name=etc]")
            self.assertNoScriptErrors(d)
            d.quit()
            self.drivers.remove(d)


# test_console.py's helpers (browser, waits, screenshots, the login).
for _name in ("open_browser", "wait", "css", "screen", "shot", "browser_log",
              "assertNoScriptErrors", "row", "login"):
    setattr(ConsoleFilesTest, _name, getattr(test_console.ConsoleTest, _name))


if __name__ == "__main__":
    unittest.main()
