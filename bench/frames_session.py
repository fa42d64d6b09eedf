"""Frames session: a scripted, busy 1920x1080 session with screenshots on.

Starts Xvfb 1920x1080 + openbox with three xterms full of text and a small one
whose clock changes every 10 s, records, and for --minutes drives them like a
busy person: clicks into a terminal (focus change), types a command at about
10 characters a second, reads its output, scrolls back and forth, selects a
word with a double click, sometimes switches windows with the keyboard. Then it
reports the recorder's CPU % and peak RSS, the frames stored, the MB stored per
hour (blobs + database growth), the pre-action coverage (presses, typing runs
and scroll runs with a "pre" frame taken at or before them) and the engine's
grab / encode timings.

Usage: python3 bench/frames_session.py [--minutes 10] [--config FILE] [--json]
(MIMIC_BIN=path to mimic).
"""

import argparse
import json
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import xenv  # noqa: E402

COMMANDS = [
    "ls -la /usr/share | head -45",
    "cat /etc/services | head -60",
    "ls -l /usr/lib/x86_64-linux-gnu | tail -50",
    "grep -n tcp /etc/services | head -40",
    "dmesg 2>/dev/null | tail -30; df -h",
    "ps aux | head -40",
    "find /usr/include -name '*.h' | head -50",
    "echo the quick brown fox jumps over the lazy dog",
    "git --version; python3 --version; uname -a",
    "wc -l /etc/services /etc/protocols /etc/passwd",
]

# Terminal windows: (name, geometry in characters and pixels).
TERMS = [
    ("benchA", "110x45+0+0"),
    ("benchB", "110x45+960+0"),
    ("benchC", "200x20+200+640"),
]


def proc_cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def dir_bytes(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for n in files:
            try:
                total += os.path.getsize(os.path.join(root, n))
            except OSError:
                pass
    return total


def db_bytes(data_dir):
    return sum(os.path.getsize(os.path.join(data_dir, n)) for n in os.listdir(data_dir)
               if n.startswith("mimic.db") and os.path.isfile(os.path.join(data_dir, n)))


class Driver:
    """The scripted person."""

    def __init__(self, x, wins, rnd):
        self.x = x
        self.wins = wins
        self.rnd = rnd
        self.geom = {}
        for name, wid in wins.items():
            out = x.xdotool("getwindowgeometry", "--shell", wid)
            g = dict(line.split("=", 1) for line in out.split() if "=" in line)
            self.geom[name] = (int(g["X"]), int(g["Y"]), int(g["WIDTH"]), int(g["HEIGHT"]))

    def point_in(self, name):
        x, y, w, h = self.geom[name]
        return (x + self.rnd.randint(40, max(41, w - 40)), y + self.rnd.randint(40, max(41, h - 40)))

    def click_into(self, name):
        px, py = self.point_in(name)
        self.x.xdotool("mousemove", str(px), str(py))
        time.sleep(0.3)
        self.x.xdotool("click", "1")

    def cycle(self):
        name = self.rnd.choice(list(self.wins))
        self.click_into(name)                      # click: focus change and raise
        time.sleep(0.6)
        cmd = self.rnd.choice(COMMANDS)
        self.x.xdotool("type", "--delay", "90", cmd)   # ~10 characters a second
        self.x.xdotool("key", "Return")
        time.sleep(1.5)                            # read the output
        for _ in range(self.rnd.randint(3, 6)):     # scroll back
            self.x.xdotool("click", "4")
            time.sleep(0.08)
        time.sleep(0.8)
        for _ in range(self.rnd.randint(3, 6)):
            self.x.xdotool("click", "5")
            time.sleep(0.08)
        time.sleep(0.8)
        px, py = self.point_in(name)               # select a word
        self.x.xdotool("mousemove", str(px), str(py))
        time.sleep(0.2)
        self.x.xdotool("click", "--repeat", "2", "--delay", "80", "1")
        time.sleep(0.8)
        if self.rnd.random() < 0.3:                # switch windows by keyboard
            self.x.xdotool("key", "alt+Tab")
            time.sleep(0.8)
            self.x.xdotool("type", "--delay", "90", "clear")
            self.x.xdotool("key", "Return")
            time.sleep(0.8)


def typing_runs(events, pause_ns):
    """First key press of each typing run, per the engine's rule (docs/FRAMES.md)."""
    firsts, last_key, in_run = [], None, False
    for e in events:
        k = e["kind"]
        if k in ("button_press", "focus", "scroll"):
            in_run = False
        if k == "key_press":
            if not in_run or e["t_ns"] - last_key >= pause_ns:
                firsts.append(e)
            in_run = True
            last_key = e["t_ns"]
    return firsts


def scroll_runs(events, pause_ns):
    firsts, last, in_run = [], None, False
    for e in events:
        k = e["kind"]
        if k in ("button_press", "focus", "key_press"):
            in_run = False
        if k == "scroll":
            if not in_run or e["t_ns"] - last >= pause_ns:
                firsts.append(e)
            in_run = True
            last = e["t_ns"]
    return firsts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--config", help="a mimic settings file for the recorder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--a11y", action="store_true",
                    help="give the X session a session bus, so that UI element lookups run as "
                    "on a desktop (docs/ELEMENTS.md); without it they are degraded")
    args = ap.parse_args()

    x = xenv.XServer(size="1920x1080x24")
    bus = xenv.SessionBus(x) if args.a11y else None
    m = xenv.Mimic(x)
    try:
        wins = {}
        for name, geo in TERMS:
            x.spawn(["xterm", "-name", name, "-T", name, "-geometry", geo, "-e",
                     "ls -la /usr/bin | head -300; exec bash --norc"])
            wins[name] = xenv.wait_for(lambda n=name: x.run(
                ["xdotool", "search", "--onlyvisible", "--classname", n],
                check=False).split(), what="xterm " + name)[-1]
        # A small clock: the screen changes every 10 s without any input (idle frames).
        x.spawn(["xterm", "-name", "benchclock", "-geometry", "30x3+1600+900", "-e",
                 "while true; do date +%T; sleep 10; done"])
        time.sleep(1.5)
        drv = Driver(x, wins, random.Random(args.seed))
        x.focus(wins["benchA"])
        rec_args = ["--config", args.config] if args.config else []
        m.start(*rec_args)
        pid = m.rec.pid
        time.sleep(0.5)
        cpu0, t0 = proc_cpu_s(pid), time.monotonic()
        cycles = 0
        while time.monotonic() - t0 < args.minutes * 60:
            drv.cycle()
            cycles += 1
        time.sleep(2.5)   # let the last settle frame come
        wall = time.monotonic() - t0
        cpu = proc_cpu_s(pid) - cpu0
        hwm = proc_hwm_kb(pid)
        st = m.status()
        m.stop()
        ev = m.events()
        fr = [json.loads(line) for line in m.run("frames", "last", "--data-dir",
                                                 m.data_dir, data_dir=False).stdout.splitlines()]
        sess = m.sessions()[-1]
        cfg = sess.get("config", {}).get("frames", {})
        pause_ns = cfg.get("typing_pause_ms", 1000) * 1_000_000
        blob_b = dir_bytes(os.path.join(m.data_dir, "frames"))
        db_b = db_bytes(m.data_dir)   # a fresh data directory: all of it is this session

        pre = {}
        for f in fr:
            if f["trigger"] == "pre" and f["event"] is not None:
                pre[f["event"]] = f
        def covered(evs):
            return sum(1 for e in evs if e["id"] in pre and pre[e["id"]]["t_ns"] <= e["t_ns"])
        presses = [e for e in ev if e["kind"] == "button_press"]
        runs = typing_runs(ev, pause_ns)
        sruns = scroll_runs(ev, pause_ns)
        actions = len(presses) + len(runs) + len(sruns)
        cov = covered(presses) + covered(runs) + covered(sruns)
        triggers = {}
        for f in fr:
            triggers[f["trigger"]] = triggers.get(f["trigger"], 0) + 1
        blobs = {f["file"] for f in fr}
        keys = sum(1 for f in fr if f["base"] is None)
        fs = st["frames"]
        hours = wall / 3600
        res = {
            "minutes": round(wall / 60, 2),
            "cycles": cycles,
            "format": cfg.get("format"), "quality": cfg.get("quality"),
            "patches": cfg.get("patches"),
            "events": len(ev),
            "cpu_percent": round(100 * cpu / wall, 2),
            "peak_rss_mb": round(hwm / 1024, 1),
            "frames": len(fr),
            "frames_by_trigger": triggers,
            "distinct_images": len(blobs),
            "key_frame_records": keys,
            "grabs": fs.get("grabs"),
            "blob_mb": round(blob_b / 1e6, 2),
            "db_growth_mb": round(db_b / 1e6, 2),
            "mb_per_hour": round((blob_b + db_b) / 1e6 / hours, 1),
            "kb_per_image": round(blob_b / 1e3 / max(1, len(blobs)), 1),
            "actions": {"presses": len(presses), "typing_runs": len(runs),
                        "scroll_runs": len(sruns)},
            "pre_action_coverage": round(cov / actions, 4) if actions else None,
            "timing_ms": fs.get("timing_ms"),
            "frames_error": fs.get("error"),
            "notifications_dropped": fs.get("dropped"),
        }
        if args.json:
            print(json.dumps(res))
        else:
            print("frames session: %.1f min at 1920x1080, %d cycles, %s q%s, patches %s" %
                  (res["minutes"], cycles, res["format"], res["quality"], res["patches"]))
            print("  recorder CPU:               %.2f %% of one core" % res["cpu_percent"])
            print("  recorder peak RSS (VmHWM):  %.1f MB" % res["peak_rss_mb"])
            print("  events stored:              %d" % res["events"])
            print("  frame records:              %d %s" % (len(fr), triggers))
            print("  distinct images (blobs):    %d (%d records are key frames)" %
                  (len(blobs), keys))
            print("  screen grabs:               %s" % res["grabs"])
            print("  stored: blobs %.2f MB + database %.2f MB = %.1f MB per hour" %
                  (res["blob_mb"], res["db_growth_mb"], res["mb_per_hour"]))
            print("  KB per distinct image:      %.1f" % res["kb_per_image"])
            print("  pre-action coverage:        %d/%d (%d presses, %d typing runs, %d scroll "
                  "runs)" % (cov, actions, len(presses), len(runs), len(sruns)))
            t = res["timing_ms"] or {}
            for k in ("grab", "prep", "encode", "worker", "total"):
                if k in t:
                    print("  %-6s ms median / p90:     %6.2f / %6.2f  (n=%d)" %
                          (k, t[k]["median"], t[k]["p90"], t[k]["n"]))
            print("  frames error:               %s" % res["frames_error"])
        return 0 if res["frames_error"] is None else 1
    finally:
        m.close()
        if bus is not None:
            bus.close()
        x.close()


if __name__ == "__main__":
    sys.exit(main())
