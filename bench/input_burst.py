"""Input burst: 10,000 key and button actions through xdotool at full speed.

Starts Xvfb + openbox + xterm, records, sends 5,000 key taps and 5,000 clicks
(20,000 raw press/release events) with no delay, and reports events sent vs
stored (must be equal), the recorder's CPU seconds per 1,000 events and its
peak RSS, with screenshots on (the default; their counts are printed too).
Usage: python3 bench/input_burst.py [--actions N] (MIMIC_BIN=path).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import xenv  # noqa: E402


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--actions", type=int, default=10000, help="key taps + clicks")
    ap.add_argument("--no-frames", action="store_true", help="record without screenshots")
    ap.add_argument("--a11y", action="store_true",
                    help="give the X session a session bus, so that UI element lookups run "
                    "(docs/ELEMENTS.md); without it they are degraded")
    args = ap.parse_args()
    keys = args.actions // 2
    clicks = args.actions - keys
    x = xenv.XServer(size="1920x1080x24")
    bus = xenv.SessionBus(x) if args.a11y else None
    m = xenv.Mimic(x)
    try:
        term = x.xterm(geometry="200x50+0+0")
        x.focus(term)
        x.xdotool("mousemove", "600", "400")
        m.start(*(["--no-frames"] if args.no_frames else []))
        pid = m.rec.pid
        time.sleep(0.5)
        cpu0 = proc_cpu_s(pid)
        t0 = time.monotonic()
        chunk = 500
        for i in range(0, keys, chunk):
            x.xdotool("key", "--delay", "0", *(["x"] * min(chunk, keys - i)))
        x.xdotool("click", "--repeat", str(clicks), "--delay", "0", "1")
        sent_s = time.monotonic() - t0
        expected = 2 * (keys + clicks)
        # Wait until the recorder has stored everything it will store.
        last, stable = -1, 0
        while stable < 10:
            st = m.status()
            n = st["events_stored"]
            stable = stable + 1 if n == last and st["events_queued"] == 0 else 0
            last = n
            time.sleep(0.1)
        cpu = proc_cpu_s(pid) - cpu0
        hwm = proc_hwm_kb(pid)
        m.stop()
        ev = m.events()
        kinds = {}
        for e in ev:
            kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
        stored = sum(kinds.get(k, 0) for k in
                     ("key_press", "key_release", "button_press", "button_release"))
        print("input burst: %d key taps + %d clicks sent by xdotool in %.2f s" %
              (keys, clicks, sent_s))
        print("  raw key/button events sent:   %d" % expected)
        print("  raw key/button events stored: %d  (%s)" %
              (stored, "zero loss" if stored == expected else "LOSS %d" % (expected - stored)))
        print("  dropped by the writer:        %d" % st["events_dropped"])
        print("  recorder CPU:                 %.3f s total, %.4f s per 1,000 events" %
              (cpu, cpu / stored * 1000 if stored else 0))
        print("  recorder peak RSS (VmHWM):    %.1f MB" % (hwm / 1024))
        fs = st.get("frames", {})
        if fs.get("enabled"):
            print("  frames (screenshots on):      %d records, %d images, %d actions not "
                  "looked at, error: %s" % (fs.get("stored", 0), fs.get("encoded", 0),
                                            fs.get("dropped", 0), fs.get("error")))
        else:
            print("  frames:                       off")
        acc = st.get("accessibility", {})
        print("  UI elements:                  %s%s, %d stored, lookups %s" %
              (acc.get("state"), " (%s)" % acc["reason"] if acc.get("reason") else "",
               acc.get("elements_stored", 0), acc.get("lookups")))
        return 0 if stored == expected else 1
    finally:
        m.close()
        x.close()
        if bus is not None:
            bus.close()


if __name__ == "__main__":
    sys.exit(main())
