"""The generated man pages against what they describe (CTest: man_pages).

- ctdump(8) against `ctdump ... --help`, walked from the top through every
  "Subcommands:" list: every command has its subsection, with exactly the
  arguments, options and subcommands --help shows (names, types, help text)
  and in the same order; the global options likewise.
- Every page formats without a warning: groff -ww (tbl, man macros), man
  --warnings, and lexgrog (mandb's reading of the NAME section).
- The key lists of the section 5 pages against the keys the code takes:
  storage.cfg(5) against the keys the storage types read or accept,
  ctdump.conf(5) against the key table of src/config/vzdump_conf.cc,
  jobs.cfg(5) against src/jobs/job_config.cc and the backup job option table
  (`ctdump __cli-dump`), notifications.cfg(5) against the key tables of
  src/notify/config.cc.
- The ENVIRONMENT of ctdump(8) against every CTDUMP_* variable in src/ (but
  the integration tests' hooks, CTDUMP_TEST_*).

Environment: CTDUMP_BIN, CTDUMP_MAN_DIR (the built pages), CTDUMP_SOURCE_DIR.
"""
import glob
import json
import os
import re
import subprocess
import unittest

BIN = os.environ["CTDUMP_BIN"]
MAN_DIR = os.environ["CTDUMP_MAN_DIR"]
SRC = os.environ["CTDUMP_SOURCE_DIR"]
PAGES = ["ctdump.8", "storage.cfg.5", "ctdump.conf.5", "jobs.cfg.5", "notifications.cfg.5",
         "ctdump-provider.7"]
HELP_COLUMN = 30  # CLI11's default column of the help text


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def unescape(troff):
    """Plain text of a troff text line (the escapes docutils' writer uses)."""
    t = re.sub(r"\\f[BIRP]", "", troff)
    for a, b in (("\\(dq", '"'), ("\\(aq", "'"), ("\\(ga", "`"), ("\\(em", "--"),
                 ("\\(rs", "\\"), ("\\-", "-"), ("\\&", ""), ("\\ ", " "), ("\\e", "\\")):
        t = t.replace(a, b)
    return t


def bold_words(troff):
    return [unescape(w) for w in re.findall(r"\\fB(.*?)\\fP", troff)]


class Page:
    """A page's sections (.SH), subsections (.SS) and definition lists
    (.TP / .B term / description lines), from the troff docutils writes."""

    def __init__(self, path):
        self.text = read(path)
        # {(section, subsection): [(group, term troff, description text)]}
        self.entries = {}
        self.subsections = []
        section = sub = group = None
        lines = self.text.split("\n")
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.startswith(".SH "):
                section, sub, group = unescape(line[4:]).strip('"'), None, None
            elif line.startswith(".SS "):
                sub, group = unescape(line[4:]).strip('"'), None
                self.subsections.append(sub)
            elif line in ("Arguments:", "Options:", "Commands:"):
                group = line[:-1]
            elif line == ".TP" and lines[i + 1].startswith(".B "):
                term = lines[i + 1][3:]
                desc = []
                i += 2
                while i < len(lines) and not lines[i].startswith("."):
                    desc.append(unescape(lines[i]))
                    i += 1
                self.entries.setdefault((section, sub), []).append(
                    (group, term, " ".join(desc)))
                continue
            i += 1

    def keys(self, section, sub=None):
        """The bold words of the terms of one (sub)section: config keys."""
        out = []
        for _, term, _ in self.entries.get((section, sub), []):
            out += bold_words(term)
        return out


def help_of(path):
    out = subprocess.run([BIN] + path + ["--help"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    assert out.returncode == 0, out.stdout
    return out.stdout


def parse_help(text):
    """{"Positionals"|"Options"|"Subcommands": [(term, description)]}."""
    groups, group = {}, None
    lines = text.split("\n")
    for n, line in enumerate(lines):
        m = re.fullmatch(r"(\w+):", line)
        if m:
            group = m.group(1)
            groups[group] = []
            continue
        if group is None or not line.strip():
            continue
        if line.startswith(" " * HELP_COLUMN):  # the description of a long term
            t, d = groups[group][-1]
            groups[group][-1] = (t, (d + " " + line.strip()).strip())
        elif n + 1 < len(lines) and lines[n + 1].startswith(" " * HELP_COLUMN):
            groups[group].append((line.strip(), ""))  # a long term: the text follows
        elif len(line) > HELP_COLUMN and line[HELP_COLUMN - 1] == " ":
            groups[group].append((line[:HELP_COLUMN].strip(), line[HELP_COLUMN:].strip()))
        else:
            groups[group].append((line.strip(), ""))
    return groups


def normalize_term(term, positional):
    """'--lxcpath TEXT=/var/lib/lxc' -> ('--lxcpath', 'TEXT'); '-h, --help' ->
    ('-h,--help', ''); 'vmid TEXT ...' -> ('vmid', 'TEXT ...'). Defaults are
    left out: the page gives them apart."""
    term = term.replace(", ", ",")
    name, _, rest = term.partition(" ")
    rest = re.sub(r"^(\S+?)=\S+", r"\1", rest)
    return name, rest


class CtdumpPageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.page = Page(os.path.join(MAN_DIR, "ctdump.8"))

    def man_entries(self, sub, group):
        return [(normalize_term(unescape(t), group == "Arguments"), d)
                for g, t, d in self.page.entries.get(("COMMANDS", sub), []) if g == group]

    def walk(self, path):
        """Every command under `path` with its parsed --help."""
        h = parse_help(help_of(path))
        yield path, h
        for term, _ in h.get("Subcommands", []):
            yield from self.walk(path + [term])

    def test_every_command_and_option_as_in_help(self):
        commands = list(self.walk([]))
        self.assertGreater(len(commands), 20)
        documented = set(self.page.subsections)
        for path, h in commands[1:]:
            title = " ".join(["ctdump"] + path)
            with self.subTest(command=title):
                self.assertIn(title, documented, "no subsection in ctdump(8)")
                want_pos = [(normalize_term(t, True), d) for t, d in h.get("Positionals", [])]
                self.assertEqual(self.man_entries(title, "Arguments"), want_pos)
                want_opt = [(normalize_term(t, False), d) for t, d in h.get("Options", [])
                            if t != "-h,--help"]
                self.assertEqual(self.man_entries(title, "Options"), want_opt)
                subs = [(unescape(t).split(" ")[-1], d)
                        for g, t, d in self.page.entries.get(("COMMANDS", title), [])
                        if g == "Commands"]
                self.assertEqual(subs, h.get("Subcommands", []))
        self.assertEqual(documented, {" ".join(["ctdump"] + p) for p, _ in commands[1:]},
                         "ctdump(8) documents commands --help does not list")

    def test_global_options_as_in_help(self):
        want = [(normalize_term(t, False), d) for t, d in parse_help(help_of([]))["Options"]]
        got = [(normalize_term(unescape(t), False), d)
               for _, t, d in self.page.entries[("GLOBAL OPTIONS", None)]]
        self.assertEqual(got, want)

    def test_commands_every_page_names_exist(self):
        tree = {}
        for path, _ in self.walk([]):
            node = tree
            for w in path:
                node = node.setdefault(w, {})
        named = 0
        for name in PAGES:
            troff = read(os.path.join(MAN_DIR, name))
            for m in re.findall(r"\\fB(ctdump(?: [a-z\\-]+)+)\\fP", troff):
                words, node = unescape(m).split()[1:], tree
                with self.subTest(page=name, command=unescape(m)):
                    for w in words:
                        if w.startswith("-"):  # a global option: test_global_options
                            break
                        if not node:  # a command without subcommands: its arguments follow
                            break
                        self.assertIn(w, node)
                        node = node[w]
                named += 1
        self.assertGreater(named, 30)

    def test_hidden_dump_command_stays_out(self):
        self.assertNotIn("__cli-dump", help_of([]))
        self.assertNotIn("cli-dump", self.page.text)

    def test_environment_names_every_variable_the_code_reads(self):
        used = set()
        for f in glob.glob(os.path.join(SRC, "src", "**", "*.*"), recursive=True):
            if f.endswith((".cc", ".h")) and not re.search(r"_(test|fuzz)\.cc$|/fuzz/", f):
                used |= set(re.findall(r'"(CTDUMP_[A-Z_]+)"', read(f)))
        # CTDUMP_TEST_*: hooks of the integration tests (a pause at a step to
        # SIGKILL there), not for admins.
        used = {v for v in used if not v.startswith("CTDUMP_TEST_")}
        self.assertIn("CTDUMP_STATE_DIR", used)
        documented = set(self.page.keys("ENVIRONMENT"))
        self.assertEqual(documented, used)


class FormattingTest(unittest.TestCase):
    def test_pages_format_without_warnings(self):
        for name in PAGES:
            page = os.path.join(MAN_DIR, name)
            with self.subTest(page=name):
                for cmd, env in (
                    (["groff", "-t", "-man", "-Tutf8", "-ww", "-z", page], {}),
                    (["man", "--warnings", "-l", "-Tutf8", page], {"MANWIDTH": "80"}),
                    (["man", "--warnings", "-l", page], {"MANWIDTH": "80", "LC_ALL": "C"}),
                    (["man", "--warnings", "-l", page], {"MANWIDTH": "120"}),
                ):
                    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, env=dict(os.environ, **env))
                    self.assertEqual(r.returncode, 0, cmd)
                    self.assertEqual(r.stderr, "", cmd)
                # mandb's parse of the NAME section (man -k, whatis).
                r = subprocess.run(["lexgrog", page], stdout=subprocess.PIPE, text=True)
                self.assertEqual(r.returncode, 0, r.stdout)
                self.assertIn(": \"%s - " % name.rsplit(".", 1)[0], r.stdout)

    def test_every_page_is_built(self):
        built = sorted(os.path.basename(p) for p in glob.glob(os.path.join(MAN_DIR, "*.[1-8]")))
        self.assertEqual(built, sorted(PAGES))


def cc_block(path, start, end="\n}"):
    """The text of a C++ source from `start` to the next `end`."""
    text = read(os.path.join(SRC, path))
    i = text.index(start)
    return text[i:text.index(end, i)]


class ConfigKeysTest(unittest.TestCase):
    def test_ctdump_conf_keys_are_vzdump_confs_table(self):
        table = cc_block("src/config/vzdump_conf.cc", "constexpr KeyInfo kKeys[]", "};")
        code = {k: [] for k in ("kImplemented", "kIgnored", "kRejected")}
        for key, kind in re.findall(r'\{"([a-z-]+)",\s*KeyKind::(\w+)', table):
            code[kind].append(key)
        self.assertGreater(len(code["kImplemented"]), 20)
        page = Page(os.path.join(MAN_DIR, "ctdump.conf.5"))
        self.assertEqual(sorted(page.keys("KEYS")), sorted(code["kImplemented"]))
        self.assertEqual(sorted(page.keys("DEPRECATED KEYS")), sorted(code["kIgnored"]))
        self.assertEqual(sorted(page.keys("REFUSED KEYS")), sorted(code["kRejected"]))

    def test_storage_cfg_keys_are_the_ones_the_storages_read(self):
        def gets(*files):
            keys = set()
            for f in files:
                keys |= set(re.findall(r'\.Get\("([a-z-]+)"\)', read(os.path.join(SRC, f))))
            return keys

        page = Page(os.path.join(MAN_DIR, "storage.cfg.5"))
        common = set(page.keys("KEYS OF EVERY STORAGE"))
        # Every type: the registry's settings, status's `disable`.
        self.assertEqual(common, gets("src/registry/registry.cc", "src/cli/cmd_status.cc"))
        # The datastore refuses keys it does not know: its list is the page's.
        ds = cc_block("src/providers/datastore_provider.cc",
                      "constexpr std::string_view kCommonKeys[]", "bool In(")
        accepted = set(re.findall(r'"([a-z-]+)"', ds))
        self.assertGreater(len(accepted), 3)
        self.assertEqual(common | set(page.keys("DATASTORE")), accepted)
        self.assertTrue(gets("src/providers/datastore_provider.cc") <= accepted)
        self.assertEqual(common | set(page.keys("DIR")),
                         common | gets("src/providers/dir_provider.cc",
                                       "src/providers/storage_path.cc"))
        self.assertEqual(set(page.keys("PROVIDER")), gets("src/provider/external_provider.cc"))

    def test_jobs_cfg_keys_are_the_job_parsers(self):
        src = "src/jobs/job_config.cc"

        def table(name):
            block = cc_block(src, "static const std::map<std::string, KeyHandler> %s =" % name,
                             "};")
            return set(re.findall(r'\{"([a-z-]+)",', block))

        page = Page(os.path.join(MAN_DIR, "jobs.cfg.5"))
        conf = Page(os.path.join(MAN_DIR, "ctdump.conf.5"))
        self.assertEqual(set(page.keys("KEYS OF EVERY JOB")), table("keys"))
        dump = json.loads(subprocess.run([BIN, "__cli-dump"], stdout=subprocess.PIPE,
                                         check=True).stdout)
        vzdump = {o["name"] for o in dump["job_options"]} | table("vzdump")
        self.assertEqual(set(page.keys("VZDUMP JOBS")) | set(conf.keys("KEYS")), vzdump)
        self.assertEqual(set(page.keys("VERIFY JOBS")), table("verify"))
        self.assertEqual(set(page.keys("GC JOBS")), table("gc"))
        self.assertEqual(set(page.keys("COMPACT JOBS")), table("gc"))  # the same table
        self.assertEqual(set(page.keys("RESTORE-TEST JOBS")), table("restore_test"))

    def test_notifications_cfg_keys_are_notifys_tables(self):
        def table(fn):
            block = cc_block("src/notify/config.cc", "const KeyTable& %s()" % fn)
            return {t: {k.rstrip("*") for k in re.findall(r'"([a-z-]+\*?)"', keys)}
                    for t, keys in re.findall(r'\{"(\w+)",\s*\{([^}]*)\}\}', block)}

        public, private = table("PublicKeys"), table("PrivateKeys")
        self.assertEqual(set(public), {"sendmail", "smtp", "gotify", "webhook", "matcher"})
        page = Page(os.path.join(MAN_DIR, "notifications.cfg.5"))
        common = set(page.keys("KEYS OF EVERY SECTION"))
        for t in public:
            with self.subTest(type=t):
                self.assertEqual(common | set(page.keys(t.upper())), public[t])
                text = page.text[page.text.index(".SH %s" % t.upper()):]
                text = text[:text.index("\n.SH ", 1)]
                priv = set(re.findall(r"Priv file: \\fB([a-z-]+)\\fP", text))
                self.assertEqual(priv, private[t])


if __name__ == "__main__":
    unittest.main()
