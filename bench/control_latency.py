"""Control latency with loitering clients (issue 15): how long `mimic pause` and
`mimic resume` take while clients hold the control socket and say nothing.

Starts Xvfb + openbox + xterm, records (no frames, no UI elements), opens --silent
connections that send nothing and one that sends a byte a second (each opened again
whenever the recorder drops it, as test_control's Loiterers do), then times --rounds
pause/resume pairs from the command line (a whole `mimic` process each) and prints
the median and the slowest, and how many requests failed.
Usage: python3 bench/control_latency.py [--silent N] [--rounds N] (MIMIC_BIN=path).
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import xenv  # noqa: E402
from test_control import Loiterers  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--silent", type=int, default=4, help="connections that send nothing")
    ap.add_argument("--rounds", type=int, default=20, help="pause/resume pairs")
    args = ap.parse_args()
    x = xenv.XServer()
    m = None
    try:
        x.focus(x.xterm())
        m = xenv.Mimic(x)
        m.start("--no-frames", "--no-elements")
        loit = Loiterers(os.path.join(m.runtime, "mimic", "control.sock"), args.silent)
        xenv.wait_for(lambda: loit.open() >= args.silent + 1, what="the loiterers")
        took, failed = [], 0
        for _ in range(args.rounds):
            for cmd in ("pause", "resume"):
                t0 = time.monotonic()
                r = m.run(cmd, check=False)
                took.append((time.monotonic() - t0) * 1000)
                failed += r.returncode != 0
        loit.close()
        print("loitering connections: %d silent + 1 a byte a second (%d opened in all)"
              % (args.silent, loit.open()))
        print("requests: %d, failed: %d" % (len(took), failed))
        print("mimic pause/resume: median %.0f ms, slowest %.0f ms"
              % (statistics.median(took), max(took)))
    finally:
        if m is not None:
            m.close()
        x.close()


if __name__ == "__main__":
    main()
