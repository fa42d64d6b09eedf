"""Runs BUILD/bench/grab_encode on a 1920x1080 screen of text.

Starts Xvfb 1920x1080 + openbox with the same three xterms full of text as
bench/frames_session.py, then runs grab_encode (grab ms, encode ms and KB per
frame for each format and quality). With --crops DIR it also writes a PNG crop
of each setting's decoded frame there, to judge whether the text stays readable.

Usage: python3 bench/grab_encode_screen.py BUILD/bench/grab_encode [-n FRAMES] [--crops DIR]
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import xenv  # noqa: E402

TERMS = [
    ("benchA", "110x45+0+0", "ls -la /usr/bin | head -300"),
    ("benchB", "110x45+960+0", "cat /etc/services | head -200"),
    ("benchC", "200x20+200+640", "ps aux | head -60"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--crops")
    args = ap.parse_args()
    x = xenv.XServer(size="1920x1080x24")
    try:
        for name, geo, cmd in TERMS:
            x.spawn(["xterm", "-name", name, "-geometry", geo, "-e", cmd + "; exec sleep 600"])
            xenv.wait_for(lambda n=name: x.run(["xdotool", "search", "--onlyvisible",
                                                 "--classname", n], check=False).split(),
                          what="xterm " + name)
        time.sleep(1.5)
        argv = [args.binary, "-n", str(args.n)]
        if args.crops:
            os.makedirs(args.crops, exist_ok=True)
            argv += ["-o", args.crops, "-c", "0,0,800,500"]
        r = subprocess.run(argv, env=x.env, capture_output=True, text=True, timeout=600)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        return r.returncode
    finally:
        x.close()


if __name__ == "__main__":
    sys.exit(main())
