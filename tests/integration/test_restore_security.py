"""Restores of crafted backups: what a backup carries must never reach the
host (config keys, ID maps, privileged files, resource exhaustion)."""
import os
import subprocess
import unittest

import harness
from test_restore import MAP2, RestoreBase


class RestoreSecurityTest(RestoreBase):

    def crafted_volid(self, extra_config):
        """A backup of the unprivileged container through the example
        provider whose stored guest config gets `extra_config` appended."""
        volid = self.backup_volid(self.env["CT_UNPRIV"])
        conf = os.path.join(self.ws.only_backup(self.env["CT_UNPRIV"]), "guest.conf")
        with open(conf, "a") as f:
            f.write(extra_config)
        return volid

    def test_config_keys_that_reach_the_host_are_not_restored(self):
        marker = os.path.join(self.ws.dir, "host-root-was-here")
        script = os.path.join(self.ws.dir, "evil.sh")
        with open(script, "w") as f:
            f.write("#!/bin/sh\ntouch %s\n" % marker)
        os.chmod(script, 0o755)
        volid = self.crafted_volid(
            "lxc.net.0.type = empty\n"
            "lxc.net.0.script.up = %s\n"
            "lxc.hook.pre-start = %s\n"
            "lxc.console.logfile = %s.log\n"
            "lxc.include = /usr/share/lxc/config/../../../..%s.conf\n" % (script, script, marker, self.ws.dir))
        name = self.new_name("k")
        r = self.restore(volid, name, *MAP2, "--start")
        self.assertOk(r)
        self.assertEqual(harness.ct_state(name), "RUNNING")
        self.assertFalse(os.path.exists(marker), "the backup's script ran on the host")
        self.assertFalse(os.path.exists(marker + ".log"), "the backup chose a host log file")
        for key in ("'lxc.net.0.script.up = %s'" % script, "'lxc.hook.pre-start = %s'" % script,
                    "'lxc.console.logfile = %s.log'" % marker):
            self.assertIn("WARN: not restoring %s from the backup's config" % key, r.stderr)
        with open(os.path.join(self.env["LXCPATH"], name, "config")) as f:
            config = f.read()
        self.assertNotIn(script, config)
        self.assertIn("lxc.net.0.type = empty\n", config)


if __name__ == "__main__":
    unittest.main()
