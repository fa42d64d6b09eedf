"""Counts test cases in a meson test log (testlog.json) for tests/run.

Prints "PASSED FAILED SKIPPED" over every case of every test: cmocka's summary
lines and unittest's "Ran N tests" / "OK (skipped=N)" / "FAILED (...)" give the
cases of a binary; a test with neither counts as one case by meson's result. A
binary that failed without reporting a failed case (a crash after its summary, a
timeout) adds one failure, and with CI=true every skip counts as a failure.
Each failed or skipped case is named on standard error.
"""

import json
import os
import re
import sys

CI = os.environ.get("CI") in ("true", "1")


def cmocka_counts(out):
    ran = re.findall(r"^\[==========\] (\d+) test\(s\) run\.", out, re.M)
    if not ran:
        return None
    p = sum(int(n) for n in re.findall(r"^\[  PASSED  \] (\d+) test", out, re.M))
    f = sum(int(n) for n in re.findall(r"^\[  FAILED  \] (\d+) test", out, re.M))
    s = sum(int(n) for n in re.findall(r"^\[  SKIPPED \] (\d+) test", out, re.M))
    named_f = re.findall(r"^\[  (?:FAILED|ERROR) \] (test_\w+)$", out, re.M)
    named_s = re.findall(r"^\[  SKIPPED \] (test_\w+)$", out, re.M)
    return p, f, s, named_f, named_s


def unittest_counts(out):
    ran = re.findall(r"^Ran (\d+) tests? in ", out, re.M)
    if not ran:
        return None
    n = sum(int(x) for x in ran)
    f = s = 0
    for verdict in re.findall(r"^(OK|FAILED)(?: \((.*)\))?$", out, re.M):
        for k, v in re.findall(r"([a-z ]+)=(\d+)", verdict[1]):
            k = k.strip()
            if k in ("failures", "errors", "unexpected successes"):
                f += int(v)
            elif k == "skipped":
                s += int(v)
    named_f = re.findall(r"^(?:FAIL|ERROR): (\S+)", out, re.M)
    named_s = re.findall(r"^(\S+) \(.*\) \.\.\. skipped", out, re.M)
    return n - f - s, f, s, named_f, named_s


def main(path):
    tp = tf = ts = 0
    for line in open(path):
        r = json.loads(line)
        out = (r.get("stdout") or "") + "\n" + (r.get("stderr") or "")
        c = cmocka_counts(out) or unittest_counts(out)
        ok = r.get("result") in ("OK", "EXPECTEDFAIL")
        if c is None:
            if ok:
                c = (1, 0, 0, [], [])
            elif r.get("result") == "SKIP":
                c = (0, 0, 1, [], ["(the whole test)"])
            else:
                c = (0, 1, 0, ["(the whole test: %s)" % r.get("result")], [])
        p, f, s, named_f, named_s = c
        if not ok and r.get("result") != "SKIP" and f == 0:
            f = 1
            named_f = named_f + ["(exited %s: %s)" % (r.get("returncode"), r.get("result"))]
        named_f, named_s = sorted(set(named_f)), sorted(set(named_s))
        for n in named_f:
            print("FAILED %s: %s" % (r["name"], n), file=sys.stderr)
        for n in named_s:
            print("%s %s: %s" % ("FAILED (skipped in CI)" if CI else "SKIPPED", r["name"], n),
                  file=sys.stderr)
        if CI:
            f, s = f + s, 0
        tp, tf, ts = tp + p, tf + f, ts + s
    print(tp, tf, ts)


if __name__ == "__main__":
    main(sys.argv[1])
