"""Proves that the tests can fail: each guarding test against its deliberate fault.

tests/breaks/breaks.txt lists faults compiled into a -Dtest_break=true build
(src/base/testbreak.h) and the test case that must catch each. Every line becomes one
case here: it runs that test case with MIMIC_TEST_BREAK=<fault> and asserts that it
FAILED by an assertion (not an error, a crash or a skip). The ordinary suites show
the same case passing without the fault.

Two more cases show that a missing tool fails CI instead of passing: a unit test
and an integration test that need Xvfb, run with CI=true and a PATH without it.

An integration test that passes with its fault is run once more before the case
fails: some faults show only when the test's timing meets them (a press read while
the browser is between two pages), and one failure by an assertion in two runs
still proves the test can catch the fault.

The faulty runs are started MIMIC_BREAKS_JOBS (default 2) at a time as the class
begins, as meson runs the ordinary suites, and each case waits for its own run: the
table grows with every guarding test, and one run after the other took most of the
suite's time.

Environment (set by tests/breaks/meson.build): MIMIC_BUILD, the break build's
directory; MIMIC_SRCDIR; MIMIC_BIN, MIMIC_OCR_IMAGE and MIMIC_URL_SESSION for the integration
tests.
"""

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
BUILD = os.environ.get("MIMIC_BUILD", "")
sys.path.insert(0, os.path.join(TESTS, "integration"))
import xenv  # noqa: E402  (for the CI rule on skips)


def read_table():
    rows = []
    with open(os.path.join(HERE, "breaks.txt")) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 3)
            if len(parts) < 4:
                raise SystemExit("breaks.txt:%d: want 'fault test case what'" % n)
            rows.append((n, *parts))
    return rows


def command(test):
    """The argv that runs a test of the table in the break build."""
    if test.endswith(".py"):
        return [sys.executable, os.path.join(TESTS, test)]
    return [os.path.join(BUILD, "tests", test)]


def run(test, env_extra, timeout=900):
    env = dict(os.environ)
    env.update(env_extra)
    return subprocess.run(command(test), env=env, capture_output=True, text=True,
                          timeout=timeout)


def failed_by_assertion(test, case, out):
    if test.endswith(".py"):
        return (re.search(r"^FAIL: %s \(" % re.escape(case), out, re.M) is not None and
                re.search(r"^ERROR: ", out, re.M) is None)
    # cmocka reports an assertion as "[  ERROR   ] --- what"; a crash as an exception.
    return (re.search(r"^\[  FAILED  \] %s$" % re.escape(case), out, re.M) is not None and
            "Test failed with exception" not in out)


class Breaks(unittest.TestCase):
    pool = None
    runs = {}

    @classmethod
    def setUpClass(cls):
        """Starts the faulty runs of the cases selected (all, unless -k narrows them)."""
        wanted = {t._testMethodName for t in _SELECTED} if _SELECTED else None
        cls.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, int(os.environ.get("MIMIC_BREAKS_JOBS", "2"))))
        for _n, fault, test, case, _what in read_table():
            name = case_name(fault, case)
            if wanted is not None and name not in wanted:
                continue
            cls.runs[name] = cls.pool.submit(
                run, test, {"MIMIC_TEST_BREAK": fault, "MIMIC_TEST_ONLY": case})

    @classmethod
    def tearDownClass(cls):
        cls.pool.shutdown(wait=True, cancel_futures=True)


_SELECTED = []


def case_name(fault, case):
    return "test_%s__%s" % (fault.replace("-", "_"), case)


def make_case(fault, test, case, what):
    def t(self):
        name = case_name(fault, case)
        if name in Breaks.runs:
            r = Breaks.runs[name].result()
        else:
            r = run(test, {"MIMIC_TEST_BREAK": fault, "MIMIC_TEST_ONLY": case})
        if r.returncode == 0 and test.endswith(".py"):
            # An integration test meets some faults only when its timing does (a press
            # read while a browser is between two pages): one more run, and the test
            # must still fail by an assertion in one of the two.
            r = run(test, {"MIMIC_TEST_BREAK": fault, "MIMIC_TEST_ONLY": case})
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0,
                            "%s %s passed with the fault '%s' (%s):\n%s"
                            % (test, case, fault, what, out[-3000:]))
        self.assertTrue(failed_by_assertion(test, case, out),
                        "%s %s did not fail by an assertion with the fault '%s':\n%s"
                        % (test, case, fault, out[-3000:]))
    t.__doc__ = "%s catches: %s" % (case, what)
    return t


def load_tests(loader, tests, pattern):
    """Notes which cases of Breaks the runner was asked for (after -k), to start only those."""
    def walk(suite):
        for t in suite:
            if isinstance(t, unittest.TestSuite):
                walk(t)
            elif isinstance(t, Breaks):
                _SELECTED.append(t)
    walk(tests)
    return tests


for _n, _fault, _test, _case, _what in read_table():
    setattr(Breaks, case_name(_fault, _case), make_case(_fault, _test, _case, _what))


class MissingTool(unittest.TestCase):
    """With CI=true a missing tool is a failure that names the tool, never a pass."""

    def path_without(self, tool):
        d = tempfile.mkdtemp(prefix="mimic-path-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        for p in os.environ["PATH"].split(":"):
            if not os.path.isdir(p):
                continue
            for name in os.listdir(p):
                src = os.path.join(p, name)
                if name != tool and not os.path.exists(os.path.join(d, name)) and \
                        os.access(src, os.X_OK):
                    os.symlink(src, os.path.join(d, name))
        return d

    def test_unit_test_without_xvfb_fails_in_ci(self):
        r = run("unit/test_grab", {"PATH": self.path_without("Xvfb"), "CI": "true"})
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0, out[-2000:])
        self.assertNotEqual(r.returncode, 77, out[-2000:])
        self.assertIn("Xvfb", out)
        self.assertIn("may not skip", out)

    def test_unit_test_without_xvfb_skips_outside_ci(self):
        env = {"PATH": self.path_without("Xvfb"), "CI": ""}
        r = run("unit/test_grab", env)
        self.assertEqual(r.returncode, 77, (r.stdout + r.stderr)[-2000:])
        self.assertIn("Xvfb", r.stdout + r.stderr)

    def test_integration_test_without_xvfb_fails_in_ci(self):
        r = run("integration/test_record.py", {"PATH": self.path_without("Xvfb"), "CI": "true"})
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0, out[-2000:])
        self.assertNotEqual(r.returncode, 77, out[-2000:])
        self.assertIn("Xvfb", out)


if __name__ == "__main__":
    unittest.main(verbosity=2, testRunner=unittest.TextTestRunner(
        resultclass=xenv._Result, verbosity=2))
