"""Agent round trip: `mimic agent serve` actions on a zenity form, call to answer.

Starts Xvfb + openbox, a recorder (--no-frames --no-elements) and a zenity form,
then sends N calls of each of mouse_move, left_click, key and screenshot through
the MCP server (stdio) and prints, per action kind, the round trip the client
sees (median, p99), and over all calls the server's own split from its debug log:
checks and injection, waiting for the screen to settle, masking and PNG encoding.
Usage: python3 bench/agent_roundtrip.py [-n N] (MIMIC_BIN=path).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import xenv  # noqa: E402
import test_agent  # noqa: E402


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=50, help="calls per action kind")
    n = ap.parse_args().n
    x = xenv.XServer()
    m = xenv.Mimic(x, env={"MIMIC_LOG": "debug"})
    form = None
    try:
        m.start("--no-frames", "--no-elements")
        form = subprocess.Popen(["zenity", "--forms", "--title=Bench", "--add-entry=Name"],
                                env=x.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wid = xenv.wait_for(lambda: x.run(["xdotool", "search", "--onlyvisible", "--pid",
                                           str(form.pid)], check=False).split(), timeout=30)[-1]
        x.focus(wid)
        f = xenv.wait_for(lambda: [e for e in m.events() if e["kind"] == "focus" and
                                   e["window"]["wm_class"] == "Zenity"])[-1]
        wx, wy, _, wh = f["window"]["geometry"]
        log = os.path.join(m.tmp, "agent.err")
        c = test_agent.Client(m, log)
        actions = [("mouse_move", lambda i: {"action": "mouse_move",
                                              "coordinate": [wx + 20 + i % 2 * 5, wy + 20]}),
                   ("left_click", lambda i: {"action": "left_click",
                                              "coordinate": [wx + 12, wy + wh // 2]}),
                   ("key", lambda i: {"action": "key", "text": "shift"}),
                   ("screenshot", lambda i: {"action": "screenshot"})]
        for name, make in actions:
            ts = []
            for i in range(n):
                t = time.monotonic()
                ans = c.call(make(i))
                ts.append((time.monotonic() - t) * 1000)
                assert not ans["result"].get("isError"), ans
            print("%-11s round trip median %6.1f ms  p99 %6.1f ms  (%d calls)"
                  % (name, statistics.median(ts), pct(ts, 0.99), n))
        c.close()
        ex, st, en = [], [], []
        with open(log) as fh:
            for line in fh:
                mm = re.search(r"carried out in ([\d.]+) ms", line)
                if mm:
                    ex.append(float(mm.group(1)))
                mm = re.search(r"settled in ([\d.]+) ms, masked and encoded \(\d+ bytes\) in "
                               r"([\d.]+) ms", line)
                if mm:
                    st.append(float(mm.group(1)))
                    en.append(float(mm.group(2)))
        for name, v in (("checks + injection", ex), ("screen settling", st),
                        ("masking + PNG", en)):
            print("%-19s median %6.1f ms  p99 %6.1f ms" % (name, statistics.median(v),
                                                           pct(v, 0.99)))
    finally:
        if form is not None and form.poll() is None:
            form.terminate()
            form.wait(timeout=10)
        m.close()
        x.close()


if __name__ == "__main__":
    main()
