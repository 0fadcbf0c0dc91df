#!/usr/bin/env python3
"""The layering check: every #include edge between modules is one the module
table in docs/architecture.md allows, and CMake links exactly those edges.

The law lives in docs/architecture.md, which humans read:
  - "## Modules": a table | module | what | depends on |. "depends on" lists
    the module's direct module dependencies (ctdump modules only, comma
    separated, "—" for none).
  - "## Public headers": a table | header | module | ... | that assigns every
    include/ctdump/<x>.h to the module that owns it.

This program maps every `#include "..."` in src/** and include/ctdump/** to a
module and fails (exit 1, one line per finding, file:line first) when
  - a file includes a module its module may not depend on,
  - the table lists an edge no file uses (the table is stale),
  - the table misses a module under src/ or lists one that does not exist,
  - the table's edges have a cycle,
  - a public header has no owner in the header table (or the table names a
    header that does not exist), or includes a header from src/,
  - an include maps to no module,
  - src/<m>/CMakeLists.txt's ctdump_module(<m> ...) links other modules than
    the table's row (PUBLIC_DEPS/PRIVATE_DEPS), or with the wrong visibility:
    PUBLIC_DEPS exactly when a header of <m> (src/<m>/*.h or a public header
    owned by <m>) includes the dependency, PRIVATE_DEPS otherwise,
  - the top-level CMakeLists.txt does not add a module's directory.

Test files (see IsTestFile: *_test.cc, *_fuzz.cc, *_test_*.h fixtures,
*conformance* suites; not cmd_*.cc, the CLI's subcommands) may include their own module and every module their
module reaches through the table (transitively, downwards), never a module
above or beside it. They add no edge to the table.

Usage: check_layering.py [--root DIR] [--print-table]
  --print-table  print the "depends on" column computed from the includes
                 (to regenerate the table after a design decision).
Only the Python standard library is used.
"""

import argparse
import os
import re
import sys

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
SOURCE_SUFFIXES = ('.h', '.hh', '.hpp', '.inc', '.cc', '.cpp', '.c')
HEADER_SUFFIXES = ('.h', '.hh', '.hpp', '.inc')
NONE_MARKS = {'', '-', '—', '–', 'none', '(none)'}


def IsTestFile(path):
    """Test code: unit tests, fuzz targets, their fixtures and the shared
    conformance suites (test-support libraries). A CLI subcommand's file
    (cmd_<subcommand>.cc) is production code even when the subcommand is
    named after tests (restore-test, provider-test)."""
    stem = os.path.basename(path).rsplit('.', 1)[0]
    if stem.startswith('cmd_'):
        return False
    return (re.search(r'(^|_)(test|fuzz)(_|$)', stem) is not None or
            'conformance' in stem)


class Finding:

    def __init__(self, where, message):
        self.where = where
        self.message = message

    def __str__(self):
        return f'{self.where}: {self.message}' if self.where else self.message


def ReadText(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        return f.read()


def SplitRow(line):
    cells = line.strip()
    if cells.startswith('|'):
        cells = cells[1:]
    if cells.endswith('|'):
        cells = cells[:-1]
    return [c.strip() for c in cells.split('|')]


def Unquote(cell):
    return cell.replace('`', '').strip()


def ParseTable(text, heading, key_column, value_column, doc):
    """Returns ({key: (value cell, line number)}, findings) for the first
    markdown table after the heading line that starts with `heading`."""
    lines = text.split('\n')
    findings = []
    start = None
    for i, line in enumerate(lines):
        if line.strip().lower().startswith(heading.lower()):
            start = i
            break
    if start is None:
        return None, [Finding(doc, f'no "{heading}" section')]
    header = None
    rows = {}
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.startswith('#'):
            break
        if not line.lstrip().startswith('|'):
            if header is not None:
                break
            continue
        cells = SplitRow(line)
        if header is None:
            header = [c.lower() for c in cells]
            if key_column not in header or value_column not in header:
                return None, [Finding(f'{doc}:{i + 1}',
                                      f'the "{heading}" table needs columns "{key_column}" '
                                      f'and "{value_column}"')]
            continue
        if all(re.fullmatch(r':?-+:?', c) for c in cells):
            continue
        if len(cells) != len(header):
            findings.append(Finding(f'{doc}:{i + 1}', f'row has {len(cells)} cells, '
                                    f'the header {len(header)} (a "|" inside a cell?)'))
            continue
        key = Unquote(cells[header.index(key_column)])
        if key in rows:
            findings.append(Finding(f'{doc}:{i + 1}', f'"{key}" listed twice'))
        rows[key] = (cells[header.index(value_column)], i + 1)
    if header is None:
        return None, [Finding(doc, f'no table under "{heading}"')]
    return rows, findings


def ParseDeps(cell):
    cell = Unquote(cell)
    if cell.lower() in NONE_MARKS:
        return []
    return [d.strip() for d in cell.split(',') if d.strip()]


def StripCMakeComments(text):
    out = []
    for line in text.split('\n'):
        in_string = False
        for j, ch in enumerate(line):
            if ch == '"':
                in_string = not in_string
            elif ch == '#' and not in_string:
                line = line[:j]
                break
        out.append(line)
    return '\n'.join(out)


def FindCall(text, command):
    """Returns (argument tokens, line number) of the first command(...) call."""
    m = re.search(r'(^|\s)' + re.escape(command) + r'\s*\(', text)
    if not m:
        return None, None
    depth = 1
    i = m.end()
    while i < len(text) and depth:
        if text[i] == '(':
            depth += 1
        elif text[i] == ')':
            depth -= 1
        i += 1
    return text[m.end():i - 1].split(), text.count('\n', 0, m.start()) + 1


def ParseModuleCall(tokens):
    keywords = ('SOURCES', 'DEPS', 'PUBLIC_DEPS', 'PRIVATE_DEPS')
    args = {k: [] for k in keywords}
    current = None
    for t in tokens[1:]:
        if t in keywords:
            current = t
        elif current:
            args[current].append(t)
    return tokens[0] if tokens else None, args


class Layering:

    def __init__(self, root):
        self.root = root
        self.findings = []
        self.doc = 'docs/architecture.md'

    def Add(self, where, message):
        self.findings.append(Finding(where, message))

    # -- what exists -------------------------------------------------------
    def ScanTree(self):
        src = os.path.join(self.root, 'src')
        self.modules = sorted(d for d in os.listdir(src)
                              if os.path.isdir(os.path.join(src, d)) and not d.startswith('.'))
        self.files = {}  # relative path -> module (None for an unowned public header)
        for m in self.modules:
            for dirpath, dirnames, filenames in os.walk(os.path.join(src, m)):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
                for f in sorted(filenames):
                    if f.endswith(SOURCE_SUFFIXES):
                        rel = os.path.relpath(os.path.join(dirpath, f), self.root)
                        self.files[rel] = m
        pub = os.path.join(self.root, 'include', 'ctdump')
        self.public_headers = sorted(f for f in os.listdir(pub) if f.endswith(HEADER_SUFFIXES)) \
            if os.path.isdir(pub) else []

    # -- the law -----------------------------------------------------------
    def ReadTables(self):
        path = os.path.join(self.root, self.doc)
        text = ReadText(path)
        rows, findings = ParseTable(text, '## Modules', 'module', 'depends on', self.doc)
        self.findings += findings
        self.table = {}
        self.table_line = {}
        if rows is None:
            return False
        for module, (cell, line) in rows.items():
            self.table[module] = ParseDeps(cell)
            self.table_line[module] = line
        for m in self.modules:
            if m not in self.table:
                self.Add(self.doc, f'module "{m}" (src/{m}/) is missing from the module table; '
                         f'add a row with what it is and its "depends on"')
        for m in sorted(self.table):
            where = f'{self.doc}:{self.table_line[m]}'
            if m not in self.modules:
                self.Add(where, f'the module table lists "{m}" but there is no src/{m}/; '
                         f'remove the row (or rename it to the module\'s directory)')
            for d in self.table[m]:
                if d not in self.modules:
                    self.Add(where, f'"{m}" depends on "{d}", which is not a module '
                             f'(no src/{d}/); only ctdump modules go in "depends on"')
                if d == m:
                    self.Add(where, f'"{m}" lists itself in "depends on"')

        heads, findings = ParseTable(text, '## Public headers', 'header', 'module', self.doc)
        self.findings += findings
        self.header_owner = {}
        if heads is None:
            return False
        for header, (cell, line) in heads.items():
            name = header.split('/')[-1]
            owner = Unquote(cell)
            where = f'{self.doc}:{line}'
            if name not in self.public_headers:
                self.Add(where, f'the public header table lists "{header}" but '
                         f'include/ctdump/{name} does not exist; remove the row')
            if owner not in self.modules:
                self.Add(where, f'public header "{header}" is assigned to "{owner}", '
                         f'which is not a module')
                continue
            self.header_owner[name] = owner
        for h in self.public_headers:
            if h not in self.header_owner and h not in {k.split('/')[-1] for k in heads}:
                self.Add(f'include/ctdump/{h}', f'public header without an owner: add a row '
                         f'to the "Public headers" table of {self.doc} naming the module '
                         f'that implements it')
        for h, m in self.header_owner.items():
            if h in self.public_headers:
                self.files[f'include/ctdump/{h}'] = m
        return True

    def CheckCycles(self):
        state = {}
        stack = []
        reported = set()

        def Visit(m):
            state[m] = 1
            stack.append(m)
            for d in self.table.get(m, []):
                if d not in self.table or d == m:
                    continue
                if state.get(d) == 1:
                    cycle = stack[stack.index(d):] + [d]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        self.Add(f'{self.doc}:{self.table_line[m]}',
                                 'the module table has a cycle: ' + ' -> '.join(cycle) +
                                 '; dependencies must point down only: move the shared '
                                 'code into a lower module')
                elif d not in state:
                    Visit(d)
            stack.pop()
            state[m] = 2

        for m in sorted(self.table):
            if m not in state:
                Visit(m)

    def Closure(self, m):
        seen = set()
        todo = list(self.table.get(m, []))
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo += self.table.get(d, [])
        return seen

    # -- the includes ------------------------------------------------------
    def ResolveInclude(self, includer, target):
        if target.startswith('ctdump/'):
            name = target[len('ctdump/'):]
            if name in self.header_owner:
                return self.header_owner[name], None
            if name in self.public_headers:
                return None, None  # reported once as a header without owner
            return None, f'"{target}" is not a file in include/ctdump/'
        first = target.split('/')[0]
        if '/' in target and first in self.modules:
            return first, None
        local = os.path.normpath(os.path.join(os.path.dirname(includer), target))
        if os.path.exists(os.path.join(self.root, local)) and local in self.files:
            return self.files[local], None
        return None, (f'"{target}" maps to no module: include module headers as '
                      f'"<module>/<file>.h" and public ones as "ctdump/<file>.h"')

    def CollectEdges(self):
        self.edges = []  # (from, to, file, line, is_header, is_test, text)
        for rel in sorted(self.files):
            m = self.files[rel]
            if m is None:
                continue
            text = ReadText(os.path.join(self.root, rel))
            for n, line in enumerate(text.split('\n'), 1):
                match = INCLUDE_RE.match(line)
                if not match:
                    continue
                if rel.startswith('include/') and not match.group(1).startswith('ctdump/'):
                    self.Add(f'{rel}:{n}', f'public header includes "{match.group(1)}": a public '
                             f'header includes only other ctdump/ headers (move what it needs '
                             f'into include/ctdump/ or keep this header in src/{m}/)')
                target, error = self.ResolveInclude(rel, match.group(1))
                if error:
                    self.Add(f'{rel}:{n}', error)
                if target is None or target == m:
                    continue
                self.edges.append((m, target, rel, n, rel.endswith(HEADER_SUFFIXES),
                                   IsTestFile(rel), match.group(1)))

    def CheckEdges(self):
        used = {}
        forbidden = {}  # edge -> [locations], reported together with one fix line
        for m, d, rel, n, _, is_test, inc in self.edges:
            if is_test:
                if m in self.table and d not in self.Closure(m):
                    self.Add(f'{rel}:{n}', f'test file of "{m}" includes "{inc}" of module '
                             f'"{d}", which "{m}" does not reach in the module table; a test '
                             f'may use its own module and the modules below it: test it '
                             f'from "{d}"\'s side, or move the helper down')
                continue
            used.setdefault((m, d), (rel, n))
            if m in self.table and d not in self.table[m]:
                forbidden.setdefault((m, d), []).append((rel, n, inc))
        for (m, d), places in sorted(forbidden.items()):
            for rel, n, inc in places:
                self.Add(f'{rel}:{n}', f'forbidden edge {m} -> {d} ("{inc}")')
            self.Add(None, f'  fix: add "{d}" to the "depends on" of "{m}" in {self.doc} (a design '
                     f'decision; say why in the commit) and to src/{m}/CMakeLists.txt, or move '
                     f'the code so that "{m}" no longer needs "{d}"')
        for m in sorted(self.table):
            for d in self.table[m]:
                if d in self.modules and m in self.modules and (m, d) not in used:
                    self.Add(f'{self.doc}:{self.table_line[m]}',
                             f'the table says {m} -> {d} but no file of "{m}" includes a '
                             f'header of "{d}"; remove it from the row and from '
                             f'src/{m}/CMakeLists.txt')

    def PublicNeeds(self, m):
        """Dependencies of m that m's headers include: consumers of m see them."""
        return {d: (rel, n) for (mm, d, rel, n, is_header, is_test, _) in reversed(self.edges)
                if mm == m and is_header and not is_test}

    # -- CMake -------------------------------------------------------------
    def CheckCMake(self):
        for m in self.modules:
            rel = f'src/{m}/CMakeLists.txt'
            path = os.path.join(self.root, rel)
            if not os.path.exists(path):
                self.Add(rel, f'module "{m}" has no CMakeLists.txt; add '
                         f'ctdump_module({m} SOURCES ... PUBLIC_DEPS ... PRIVATE_DEPS ...)')
                continue
            tokens, line = FindCall(StripCMakeComments(ReadText(path)), 'ctdump_module')
            if tokens is None:
                self.Add(rel, f'no ctdump_module({m} ...) call')
                continue
            name, args = ParseModuleCall(tokens)
            where = f'{rel}:{line}'
            if m not in self.table:
                continue  # reported once as missing from the table
            if name != m:
                self.Add(where, f'ctdump_module({name} ...) in src/{m}/: the library must be '
                         f'named after its directory')
                continue
            as_module = lambda t: t[len('ctdump_'):] if (
                t.startswith('ctdump_') and t[len('ctdump_'):] in self.modules) else None
            for t in args['DEPS']:
                if as_module(t):
                    self.Add(where, f'{t} is in DEPS; list module dependencies under '
                             f'PUBLIC_DEPS or PRIVATE_DEPS (DEPS is for external libraries)')
            public = {as_module(t) for t in args['PUBLIC_DEPS'] if as_module(t)}
            private = {as_module(t) for t in args['PRIVATE_DEPS'] if as_module(t)}
            linked = public | private | {as_module(t) for t in args['DEPS'] if as_module(t)}
            allowed = {d for d in self.table.get(m, []) if d in self.modules}
            for d in sorted(allowed - linked):
                self.Add(where, f'"{m}" depends on "{d}" in the module table but does not '
                         f'link ctdump_{d}; add it to PUBLIC_DEPS or PRIVATE_DEPS')
            for d in sorted(linked - allowed):
                self.Add(where, f'links ctdump_{d}, but the module table has no edge '
                         f'{m} -> {d}; remove it (do not rely on it transitively either) '
                         f'or add the edge to the table')
            for d in sorted(public & private):
                self.Add(where, f'ctdump_{d} is both PUBLIC_DEPS and PRIVATE_DEPS')
            needs = self.PublicNeeds(m)
            for d in sorted(private):
                if d in needs:
                    frel, n = needs[d]
                    self.Add(where, f'ctdump_{d} must be PUBLIC_DEPS: the header '
                             f'{frel}:{n} includes it, so users of "{m}" compile it too')
            for d in sorted(public - private):
                if d not in needs and d in allowed:
                    self.Add(where, f'ctdump_{d} should be PRIVATE_DEPS: no header of "{m}" '
                             f'includes "{d}" (only its .cc files do)')

        top = os.path.join(self.root, 'CMakeLists.txt')
        if os.path.exists(top):
            text = StripCMakeComments(ReadText(top))
            m = re.search(r'foreach\s*\(\s*module\s+([^)]*)\)', text)
            if m:
                listed = set(m.group(1).split())
                for mod in self.modules:
                    if mod not in listed:
                        self.Add('CMakeLists.txt', f'module "{mod}" is not in the top-level '
                                 f'foreach(module ...) list, so it is never built')

    # -- output ------------------------------------------------------------
    def RealEdges(self):
        real = {m: set() for m in self.modules}
        for m, d, _, _, _, is_test, _ in self.edges:
            if not is_test:
                real[m].add(d)
        return real

    def Run(self):
        self.ScanTree()
        if self.ReadTables():
            self.CheckCycles()
            self.CollectEdges()
            self.CheckEdges()
            self.CheckCMake()
        return self.findings


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', default=os.path.join(os.path.dirname(__file__), '..', '..'))
    parser.add_argument('--print-table', action='store_true')
    args = parser.parse_args()
    layering = Layering(os.path.abspath(args.root))
    findings = layering.Run()
    if args.print_table:
        real = layering.RealEdges()
        public = {m: layering.PublicNeeds(m) for m in layering.modules}
        for m in layering.modules:
            deps = sorted(real[m])
            print(f'{m}: {", ".join(deps) or "—"}    '
                  f'[public: {", ".join(d for d in deps if d in public[m]) or "—"}]')
        return 0
    for f in findings:
        print(f)
    if findings:
        count = sum(1 for f in findings if f.where)
        print(f'layering check: {count} finding(s); the law is the module table in '
              f'docs/architecture.md', file=sys.stderr)
        return 1
    edges = sum(len(v) for v in layering.table.values())
    print(f'layering check: {len(layering.modules)} modules, {edges} allowed edges, '
          f'{len(layering.edges)} cross-module includes: all allowed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
