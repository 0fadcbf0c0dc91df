#!/usr/bin/python3
"""gen-man.py - the man pages from docs/man/*.rst[.in], at build time.

  gen-man.py --ctdump BIN --version V --out-dir DIR SOURCE...

Each SOURCE is reStructuredText named <page>.<section>.rst or .rst.in
(docs/man/); the page DIR/<page>.<section> is troff, written by docutils'
man page writer (Debian's python3-docutils, the library behind rst2man).

In the sources, @VERSION@ is the version; ctdump.8.rst.in also holds
@GLOBAL_OPTIONS@ and @COMMANDS@, which become the global options and one
subsection per command (nested ones too) with its synopsis, arguments and
options, generated from `BIN __cli-dump` (src/cli/cmd_cli_dump.cc): the same
CLI11 tree that prints --help, so the page cannot drift from it
(docs/man/test_man.py compares them). The generated reStructuredText is kept
beside each page as <page>.<section>.rst for inspection.

Any docutils warning (a markup error in a source) fails the run.
"""
import argparse
import json
import os
import re
import subprocess
import sys

from docutils.core import publish_string

SPECIAL = re.compile(r"([\\*`|_\[\]<>:])")


def esc(text):
    """Text shown literally in reStructuredText inline context."""
    return SPECIAL.sub(r"\\\1", text)


def term_type(opt):
    """The type column of --help (CLI11's formatter: type, "...", REQUIRED,
    Needs:, Excludes:) without the default, which the page gives apart."""
    t = opt["opts"]
    if opt["default"]:
        t = t.replace("=" + opt["default"], "", 1)
    return t.strip()


def option_term(opt, positional):
    if positional:
        head = "*%s*" % esc(opt["name"])
    else:
        head = ", ".join("**%s**" % esc(n) for n in opt["names"])
    t = term_type(opt)
    return head + (" *%s*" % esc(t) if t else "")


def option_entry(opt, positional):
    lines = [option_term(opt, positional)]
    desc = opt["description"] or "(no description)"
    lines.append("    " + esc(desc))
    # A default the help text does not already state (--lxcpath's depends on
    # the build host's lxc.conf and its help says so).
    if opt["default"] and "default" not in desc:
        lines += ["", "    Default: %s" % esc(opt["default"])]
    lines.append("")
    return lines


def synopsis(cmd):
    parts = ["**%s**" % esc(cmd["path"])]
    if any(o["names"] != ["-h", "--help"] for o in cmd["options"]):
        parts.append("[*OPTIONS*]")
    for p in cmd["positionals"]:
        word = "*%s*" % esc(p["name"]) + ("..." if p["multiple"] else "")
        parts.append(word if p["required"] else "[%s]" % word)
    if cmd["subcommands"]:
        parts.append("*COMMAND*" if cmd["require_subcommand"] else "[*COMMAND*]")
    return " ".join(parts)


def command_section(cmd):
    title = cmd["path"]
    out = [esc(title), "-" * len(esc(title)), "", synopsis(cmd), ""]
    if cmd["description"]:
        out += [esc(cmd["description"][0].upper() + cmd["description"][1:]) +
                ("" if cmd["description"].endswith(".") else "."), ""]
    if cmd["footer"].strip():
        out += [esc(cmd["footer"].strip()), ""]
    if cmd["positionals"]:
        out += ["Arguments:", ""]
        for p in cmd["positionals"]:
            out += option_entry(p, True)
    opts = [o for o in cmd["options"] if o["names"] != ["-h", "--help"]]
    if opts:
        out += ["Options:", ""]
        for o in opts:
            out += option_entry(o, False)
    if cmd["subcommands"]:
        out += ["Commands:", ""]
        for s in cmd["subcommands"]:
            out += ["**%s**" % esc(s["path"]), "    " + esc(s["description"] or "-"), ""]
    for s in cmd["subcommands"]:
        out += command_section(s)
    return out


def expand(text, dump, version):
    text = text.replace("@VERSION@", version)
    if "@COMMANDS@" in text or "@GLOBAL_OPTIONS@" in text:
        if dump is None:
            sys.exit("gen-man.py: a source uses @COMMANDS@ or @GLOBAL_OPTIONS@: give --ctdump")
        root = dump["command"]
        glob = []
        for o in root["options"]:
            glob += option_entry(o, False)
        cmds = []
        for s in root["subcommands"]:
            cmds += command_section(s)
        text = text.replace("@GLOBAL_OPTIONS@", "\n".join(glob))
        text = text.replace("@COMMANDS@", "\n".join(cmds))
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ctdump", help="the built ctdump binary (for @COMMANDS@)")
    ap.add_argument("--version", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("sources", nargs="+")
    a = ap.parse_args()
    dump = None
    if a.ctdump:
        out = subprocess.run([a.ctdump, "__cli-dump"], check=True, stdout=subprocess.PIPE)
        dump = json.loads(out.stdout)
        if dump["version"] != a.version:
            sys.exit("gen-man.py: %s says version %s, the build %s" %
                     (a.ctdump, dump["version"], a.version))
    os.makedirs(a.out_dir, exist_ok=True)
    for src in a.sources:
        name = os.path.basename(src)
        name = name[:-len(".in")] if name.endswith(".in") else name
        if not re.fullmatch(r"[A-Za-z0-9._-]+\.[1-8]\.rst", name):
            sys.exit("gen-man.py: %s: not named <page>.<section>.rst[.in]" % src)
        with open(src, encoding="utf-8") as f:
            rst = expand(f.read(), dump, a.version)
        page = os.path.join(a.out_dir, name[:-len(".rst")])
        with open(page + ".rst", "w", encoding="utf-8") as f:
            f.write(rst)
        try:
            troff = publish_string(rst, source_path=page + ".rst", writer_name="manpage",
                                   settings_overrides={"halt_level": 2, "report_level": 2,
                                                       "output_encoding": "utf-8"})
        except Exception as e:  # docutils' SystemMessage: the warning, with the line
            sys.exit("gen-man.py: %s: %s" % (src, e))
        with open(page + ".tmp", "wb") as f:
            f.write(troff)
        os.replace(page + ".tmp", page)


if __name__ == "__main__":
    main()
