#!/usr/bin/env python3
"""Self-test of check_layering.py: fake trees in a temporary directory, one
per rule, each of which the checker must reject (and a clean one it must
accept), so the layering test can be seen to fail."""

import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_layering  # noqa: E402

CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'check_layering.py')

# A clean three-module tree: app -> lib (public: app.h includes lib.h) -> base.
MODULE_ROWS = {
    'app': 'lib, base',
    'lib': 'base',
    'base': '—',
}
HEADER_ROWS = {'ctdump/status.h': 'base'}
CMAKE = {
    'app': 'ctdump_module(app SOURCES app.cc PUBLIC_DEPS ctdump_lib PRIVATE_DEPS ctdump_base)',
    'lib': 'ctdump_module(lib SOURCES lib.cc\n  PUBLIC_DEPS ctdump_base DEPS fmt::fmt)',
    'base': 'ctdump_module(base SOURCES status.cc DEPS fmt::fmt)  # (no module deps)',
}
FILES = {
    'include/ctdump/status.h': '#pragma once\n#include <string>\n',
    'src/base/status.cc': '#include "ctdump/status.h"\n',
    'src/lib/lib.h': '#pragma once\n#include "ctdump/status.h"\n',
    'src/lib/lib.cc': '#include "lib/lib.h"\n',
    'src/app/app.h': '#pragma once\n#include "lib/lib.h"\n',
    'src/app/app.cc': '#include "app/app.h"\n\n#include "ctdump/status.h"\n',
    # A test may use its own module and everything below it.
    'src/app/app_test.cc': '#include "app/app.h"\n#include "ctdump/status.h"\n',
    'src/lib/lib_test_fixture.h': '#include "lib/lib.h"\n',
}


def Doc(modules, headers):
    rows = '\n'.join(f'| `{m}` | the {m} module | {deps} |' for m, deps in modules.items())
    heads = '\n'.join(f'| `{h}` | {m} | what |' for h, m in headers.items())
    return textwrap.dedent('''\
        # architecture

        ## Modules

        One CMake library per module.

        | module | what | depends on |
        |---|---|---|
        {rows}

        ## Public headers

        | header | module | what |
        |---|---|---|
        {heads}

        ## Later
        ''').format(rows=rows, heads=heads)


class FakeTree:

    def __init__(self, root, modules=None, headers=None, cmake=None, files=None, top=None):
        self.root = root
        modules = dict(MODULE_ROWS if modules is None else modules)
        headers = dict(HEADER_ROWS if headers is None else headers)
        cmake = dict(CMAKE if cmake is None else cmake)
        files = dict(FILES if files is None else files)
        self.Write('docs/architecture.md', Doc(modules, headers))
        for m, text in cmake.items():
            self.Write(f'src/{m}/CMakeLists.txt', text + '\n')
        for rel, text in files.items():
            self.Write(rel, text)
        if top is None:
            top = 'foreach(module base lib app)\n  add_subdirectory(src/${module})\nendforeach()\n'
        self.Write('CMakeLists.txt', top)

    def Write(self, rel, text):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)


class CheckLayeringTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def Findings(self, **kwargs):
        root = tempfile.mkdtemp(dir=self.tmp.name)  # a fresh tree per call
        FakeTree(root, **kwargs)
        return [str(f) for f in check_layering.Layering(root).Run()]

    def AssertFinds(self, findings, *fragments):
        text = '\n'.join(findings)
        for fragment in fragments:
            self.assertIn(fragment, text)

    def testCleanTreePasses(self):
        self.assertEqual(self.Findings(), [])

    def testForbiddenEdgeNamesFileLineEdgeAndFix(self):
        files = dict(FILES)
        files['src/lib/lib.cc'] = '#include "lib/lib.h"\n#include "app/app.h"\n'
        findings = self.Findings(files=files)
        self.AssertFinds(findings, 'src/lib/lib.cc:2: forbidden edge lib -> app ("app/app.h")',
                         'fix: add "app" to the "depends on" of "lib"', 'or move the code')

    def testUpwardEdgeAddedToTableIsACycle(self):
        modules = dict(MODULE_ROWS, lib='base, app')
        files = dict(FILES)
        files['src/lib/lib.cc'] = '#include "lib/lib.h"\n#include "app/app.h"\n'
        cmake = dict(CMAKE)
        cmake['lib'] = 'ctdump_module(lib SOURCES lib.cc PUBLIC_DEPS ctdump_base ' \
                       'PRIVATE_DEPS ctdump_app)'
        findings = self.Findings(modules=modules, files=files, cmake=cmake)
        self.AssertFinds(findings, 'the module table has a cycle: app -> lib -> app')

    def testModuleMissingFromTable(self):
        cmake = dict(CMAKE, extra='ctdump_module(extra SOURCES extra.cc)')
        files = dict(FILES)
        files['src/extra/extra.cc'] = '\n'
        findings = self.Findings(cmake=cmake, files=files)
        self.AssertFinds(findings, 'module "extra" (src/extra/) is missing from the module table',
                         'module "extra" is not in the top-level foreach')

    def testTableListsModuleThatDoesNotExist(self):
        modules = dict(MODULE_ROWS, ghost='base')
        findings = self.Findings(modules=modules)
        self.AssertFinds(findings, 'the module table lists "ghost" but there is no src/ghost/')

    def testDependencyThatIsNoModule(self):
        modules = dict(MODULE_ROWS, base='fmt')
        self.AssertFinds(self.Findings(modules=modules),
                         '"base" depends on "fmt", which is not a module')

    def testStaleTableEdge(self):
        modules = dict(MODULE_ROWS, app='lib, base, ')
        files = dict(FILES)
        files['src/app/app.cc'] = '#include "app/app.h"\n'
        self.AssertFinds(self.Findings(modules=modules, files=files),
                         'the table says app -> base but no file of "app" includes')

    def testCMakeMustLinkExactlyTheTableRow(self):
        cmake = dict(CMAKE)
        cmake['app'] = 'ctdump_module(app SOURCES app.cc PUBLIC_DEPS ctdump_lib)'
        self.AssertFinds(self.Findings(cmake=cmake),
                         '"app" depends on "base" in the module table but does not link '
                         'ctdump_base')
        cmake['app'] = ('ctdump_module(app SOURCES app.cc PUBLIC_DEPS ctdump_lib '
                        'PRIVATE_DEPS ctdump_base)')
        cmake['lib'] = 'ctdump_module(lib SOURCES lib.cc PUBLIC_DEPS ctdump_base ctdump_app)'
        self.AssertFinds(self.Findings(cmake=cmake),
                         'links ctdump_app, but the module table has no edge lib -> app')

    def testModuleDepsNotInPlainDeps(self):
        cmake = dict(CMAKE)
        cmake['lib'] = 'ctdump_module(lib SOURCES lib.cc DEPS ctdump_base fmt::fmt)'
        self.AssertFinds(self.Findings(cmake=cmake), 'ctdump_base is in DEPS')

    def testVisibilityFollowsTheHeaders(self):
        cmake = dict(CMAKE)
        cmake['app'] = 'ctdump_module(app SOURCES app.cc PRIVATE_DEPS ctdump_lib ctdump_base)'
        self.AssertFinds(self.Findings(cmake=cmake), 'ctdump_lib must be PUBLIC_DEPS: the '
                         'header src/app/app.h:2 includes it')
        cmake['app'] = 'ctdump_module(app SOURCES app.cc PUBLIC_DEPS ctdump_lib ctdump_base)'
        self.AssertFinds(self.Findings(cmake=cmake), 'ctdump_base should be PRIVATE_DEPS')

    def testPublicHeaderNeedsAnOwner(self):
        files = dict(FILES)
        files['include/ctdump/orphan.h'] = '#pragma once\n'
        self.AssertFinds(self.Findings(files=files),
                         'include/ctdump/orphan.h: public header without an owner')
        headers = dict(HEADER_ROWS)
        headers['ctdump/gone.h'] = 'lib'
        self.AssertFinds(self.Findings(headers=headers),
                         'lists "ctdump/gone.h" but include/ctdump/gone.h does not exist')

    def testPublicHeaderIncludesCountForItsModule(self):
        files = dict(FILES)
        files['include/ctdump/status.h'] = '#pragma once\n#include "lib/lib.h"\n'
        self.AssertFinds(self.Findings(files=files),
                         'include/ctdump/status.h:2: forbidden edge base -> lib',
                         'include/ctdump/status.h:2: public header includes "lib/lib.h"')

    def testTestFileMayNotIncludeUpwards(self):
        files = dict(FILES)
        files['src/lib/lib_test.cc'] = '#include "lib/lib.h"\n#include "app/app.h"\n'
        self.AssertFinds(self.Findings(files=files),
                         'src/lib/lib_test.cc:2: test file of "lib" includes "app/app.h" of '
                         'module "app"')
        # Below, transitively: allowed without a table edge.
        files = dict(FILES)
        files['src/app/app_fuzz.cc'] = '#include "lib/lib.h"\n#include "ctdump/status.h"\n'
        files['src/app/app.cc'] = '#include "app/app.h"\n#include "ctdump/status.h"\n'
        self.assertEqual(self.Findings(files=files), [])

    def testCommandFileNamedAfterTestsIsNoTest(self):
        self.assertTrue(check_layering.IsTestFile('src/cli/command_test.cc'))
        self.assertFalse(check_layering.IsTestFile('src/cli/cmd_provider_test.cc'))
        self.assertFalse(check_layering.IsTestFile('src/cli/cmd_restore_test.cc'))

    def testIncludeThatMapsToNoModule(self):
        files = dict(FILES)
        files['src/app/app.cc'] += '#include "nowhere/x.h"\n#include "ctdump/nope.h"\n'
        self.AssertFinds(self.Findings(files=files), 'src/app/app.cc:4: "nowhere/x.h" maps to '
                         'no module', 'src/app/app.cc:5: "ctdump/nope.h" is not a file')

    def testCommandLineExitCodes(self):
        FakeTree(self.tmp.name)
        ok = subprocess.run([sys.executable, CHECKER, '--root', self.tmp.name],
                            capture_output=True, text=True)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        with open(os.path.join(self.tmp.name, 'src/lib/lib.cc'), 'a') as f:
            f.write('#include "app/app.h"\n')
        bad = subprocess.run([sys.executable, CHECKER, '--root', self.tmp.name],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 1)
        self.assertIn('src/lib/lib.cc:2: forbidden edge lib -> app', bad.stdout)


if __name__ == '__main__':
    unittest.main()
