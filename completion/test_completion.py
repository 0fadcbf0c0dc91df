"""The generated bash and zsh completion, run for real (CTest: shell_completion).

bash: Debian's bash-completion is loaded, then the generated file; each case
sets COMP_WORDS as bash splits the line (COMP_WORDBREAKS), calls _ctdump and
reads COMPREPLY. The values come from real files: a config dir with a
storage.cfg, jobs.cfg and notifications.cfg, an lxcpath with container
directories, and a dir storage holding an archive that `ctdump list` (the
built binary, run by the completion) reports.

zsh: the file parses (zsh -n), and an interactive zsh in a pseudo-terminal
(zsh/zpty) with compinit completes lines typed with TAB; the test reads what
the line became.

Environment: CTDUMP_BIN, CTDUMP_COMPLETION_DIR (the generated files).
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

BIN = os.environ["CTDUMP_BIN"]
DIR = os.environ["CTDUMP_COMPLETION_DIR"]
BASH = os.path.join(DIR, "ctdump.bash")
ZSH = os.path.join(DIR, "_ctdump")
WORDBREAKS = "\"'><=;|&(:"
ARCHIVE = "vzdump-lxc-web-2026_11_26-06_00_00.tar.zst"


def comp_words(line):
    """COMP_WORDS as bash builds them: split at blanks and at COMP_WORDBREAKS
    characters, a run of which is a word of its own."""
    words = re.findall(r"[^\s%s]+|[%s]+" % (re.escape(WORDBREAKS), re.escape(WORDBREAKS)), line)
    if line.endswith(" ") or not words:
        words.append("")
    return words


class Fixture:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="ctdump-completion-")
        self.conf = os.path.join(self.root, "etc")
        self.lxc = os.path.join(self.root, "lxc")
        dump = os.path.join(self.root, "dirstore", "dump")
        os.makedirs(dump)
        os.makedirs(self.conf)
        os.makedirs(os.path.join(self.root, "store"))
        open(os.path.join(dump, ARCHIVE), "w").close()
        for ct, config in (("web", True), ("db", True), ("not-a-container", False)):
            os.makedirs(os.path.join(self.lxc, ct))
            if config:
                open(os.path.join(self.lxc, ct, "config"), "w").close()
        self.write("storage.cfg", "datastore: store\n\tpath %s/store\n\n"
                   "dir: local\n\tpath %s/dirstore\n\tcompress zstd\n" % (self.root, self.root))
        self.write("jobs.cfg", "vzdump: nightly\n\tschedule 02:00\n\tall 1\n\tstorage local\n\n"
                   "gc: weekly-gc\n\tstorage store\n")
        self.write("notifications.cfg", "sendmail: admins\n\tmailto root@example.com\n\n"
                   "matcher: all\n\ttarget admins\n")

    def write(self, name, text):
        with open(os.path.join(self.conf, name), "w") as f:
            f.write(text)


class BashTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fx = Fixture()
        cls.dump = json.loads(subprocess.run([BIN, "__cli-dump"], stdout=subprocess.PIPE,
                                             check=True).stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.fx.root)

    def complete(self, line):
        """COMPREPLY of _ctdump for the cursor at the end of `line`
        ("ctdump" stands for the built binary)."""
        line = line.replace("ctdump", BIN, 1)
        words = comp_words(line)
        script = (
            'source /usr/share/bash-completion/bash_completion\n'
            'source "$1"; shift\n'
            'COMP_LINE=$1 COMP_POINT=${#1}; shift\n'
            'COMP_WORDS=("$@") COMP_CWORD=$(($# - 1))\n'
            '_ctdump "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
            'printf "%s\\n" "${COMPREPLY[@]}"\n')
        r = subprocess.run(["bash", "-c", script, "bash", BASH, line] + words,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.stderr, "", line)
        self.assertEqual(r.returncode, 0, line)
        return sorted(w for w in r.stdout.split("\n") if w)

    def cmd(self, path):
        c = self.dump["command"]
        for name in path:
            c = next(s for s in c["subcommands"] if s["name"] == name)
        return c

    def test_commands(self):
        want = sorted(s["name"] for s in self.dump["command"]["subcommands"])
        self.assertIn("backup", want)
        self.assertNotIn("__cli-dump", want)
        self.assertEqual(self.complete("ctdump "), want)
        self.assertEqual(self.complete("ctdump re"), ["restore", "restore-file", "restore-test"])
        self.assertEqual(self.complete("ctdump job "), ["list", "run", "show"])
        self.assertEqual(self.complete("ctdump --output-format json k"), ["key"])

    def test_every_option_of_every_command(self):
        def walk(c, path):
            yield c, path
            for s in c["subcommands"]:
                yield from walk(s, path + [s["name"]])

        n = 0
        for c, path in walk(self.dump["command"], []):
            want = sorted(name for o in c["options"] for name in o["names"] if name != "-h")
            with self.subTest(command=path):
                self.assertEqual(self.complete(" ".join(["ctdump"] + path + ["--"])), want)
            n += 1
        self.assertGreater(n, 25)

    def test_option_values(self):
        self.assertEqual(self.complete("ctdump backup --mode "), ["snapshot", "stop", "suspend"])
        self.assertEqual(self.complete("ctdump backup --stdexcludes "), ["0", "1"])
        self.assertEqual(self.complete("ctdump restore --unprivileged "), ["0", "1"])
        self.assertEqual(self.complete("ctdump protect s:v "), ["0", "1"])
        self.assertEqual(self.complete("ctdump --output-format "), ["json", "text"])
        self.assertEqual(self.complete("ctdump notify send --severity w"), ["warning"])

    def test_storage_ids_from_storage_cfg(self):
        c = "ctdump --config-dir %s " % self.fx.conf
        self.assertEqual(self.complete(c + "backup web --storage "), ["local", "store"])
        self.assertEqual(self.complete(c + "list "), ["local", "store"])
        self.assertEqual(self.complete(c + "gc s"), ["store"])
        self.assertEqual(self.complete(c + "sync "), ["local", "store"])
        self.assertEqual(self.complete(c + "sync local s"), ["store"])
        self.assertEqual(self.complete(c + "status --storage l"), ["local"])
        self.assertEqual(self.complete(c + "backup --storage=lo"), ["local"])
        self.assertEqual(self.complete(c + "backup --mode=st"), ["stop"])
        # Without --config-dir: /etc/ctdump's, whatever it holds; never ours.
        self.assertNotIn("store", self.complete("ctdump list "))

    def test_containers_from_the_lxcpath(self):
        c = "ctdump --lxcpath %s " % self.fx.lxc
        self.assertEqual(self.complete(c + "backup "), ["db", "web"])
        self.assertEqual(self.complete(c + "backup web "), ["db", "web"])
        self.assertEqual(self.complete(c + "backup --all --exclude w"), ["web"])
        self.assertEqual(self.complete(c + "backup web,d"), ["web,db"])
        self.assertEqual(self.complete(c + "status --exclude db,"), ["db,db", "db,web"])
        self.assertEqual(self.complete(c + "status "), ["db", "web"])
        self.assertEqual(self.complete(c + "prune local "), ["db", "web"])

    def test_volume_ids_from_list(self):
        c = "ctdump --config-dir %s " % self.fx.conf
        self.assertEqual(self.complete(c + "delete "), ["local:", "store:"])
        # bash-completion strips the "local:" bash already has as words.
        self.assertEqual(self.complete(c + "delete local:"), [ARCHIVE])
        self.assertEqual(self.complete(c + "restore local:vz"), [ARCHIVE])
        self.assertEqual(self.complete(c + "restore local:%s " % ARCHIVE), [])
        self.assertEqual(self.complete(c + "delete store:"), [])
        self.assertEqual(self.complete(c + "verify local "), [ARCHIVE])

    def test_jobs_and_notification_targets(self):
        c = "ctdump --config-dir %s " % self.fx.conf
        self.assertEqual(self.complete(c + "job run "), ["nightly", "weekly-gc"])
        self.assertEqual(self.complete(c + "job show n"), ["nightly"])
        self.assertEqual(self.complete(c + "notify test "), ["admins"])

    def test_paths(self):
        c = "ctdump --config-dir %s " % self.fx.conf
        self.assertEqual(self.complete(c + "datastore create %s/st" % self.fx.root),
                         [self.fx.root + "/store"])
        self.assertEqual(self.complete("ctdump --config-dir %s/e" % self.fx.root),
                         [self.fx.conf])


class ZshTest(unittest.TestCase):
    def test_syntax(self):
        r = subprocess.run(["zsh", "-n", ZSH], stderr=subprocess.PIPE, text=True)
        self.assertEqual((r.returncode, r.stderr), (0, ""))

    def typed(self, line):
        """What `line` + TAB becomes in an interactive zsh with compinit and
        the generated _ctdump (first in fpath): a widget bound to ^X^B writes
        the edited line to a file after the TAB."""
        tmp = tempfile.mkdtemp(prefix="ctdump-zsh-")
        try:
            shutil.copy(ZSH, tmp)
            out = os.path.join(tmp, "buffer")
            setup = ("PS1='> '; fpath=(%s $fpath); autoload -Uz compinit; compinit -u -d %s/dump; "
                     "bindkey -e; show() { print -r -- \"$BUFFER\" >%s.tmp && mv %s.tmp %s; "
                     "BUFFER=; }; zle -N show; bindkey '^X^B' show" % (tmp, tmp, out, out, out))
            script = r'''
zmodload zsh/zpty
zpty z 'env -i HOME=$1 TERM=dumb PATH=$PATH zsh -f -i'
zpty -w z $2
zpty -w -n z "$3"$'\t\x18\x02'
integer i
for ((i = 0; i < 200; i++)); do
  [[ -e $4 ]] && break
  zpty -rt z chunk
  sleep 0.05
done
zpty -d z
'''
            r = subprocess.run(["zsh", "-f", "-c", script, "zsh", tmp, setup, line, out],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(os.path.exists(out), "zsh wrote no buffer for %r" % line)
            with open(out) as f:
                return f.read().rstrip("\n")
        finally:
            shutil.rmtree(tmp)

    def test_completes_in_an_interactive_zsh(self):
        fx = Fixture()
        try:
            c = "%s --config-dir %s --lxcpath %s " % (BIN, fx.conf, fx.lxc)
            self.assertEqual(self.typed(c + "bac"), c + "backup ")
            self.assertEqual(self.typed(c + "backup --stor"), c + "backup --storage ")
            self.assertEqual(self.typed(c + "backup --storage lo"),
                             c + "backup --storage local ")
            self.assertEqual(self.typed(c + "backup w"), c + "backup web ")
            self.assertEqual(self.typed(c + "backup db,w"), c + "backup db,web ")
            self.assertEqual(self.typed(c + "backup --storage=st"), c + "backup --storage=store ")
            self.assertEqual(self.typed(c + "job run ni"), c + "job run nightly ")
            self.assertEqual(self.typed(c + "delete lo"), c + "delete local:")
            self.assertEqual(self.typed(c + "delete local:"), c + "delete local:%s " % ARCHIVE)
        finally:
            shutil.rmtree(fx.root)


if __name__ == "__main__":
    unittest.main()
