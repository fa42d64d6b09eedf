"""UI element lookups in a recorded session: how long the element of a press took.

Starts Xvfb + openbox + a private session bus (accessibility bus on demand), a
zenity forms dialog (an entry and a combo box) and a second zenity dialog that is
stopped with SIGSTOP (an application whose accessibility interface hangs). Records
with UI elements on (screenshots off) while xdotool:

  - clicks the entry and the combo box alternately, half of the time after letting
    the pointer rest (the element is resolved ahead of time), half of the time
    clicking at once after moving (looked up after the press), and types a word
    after each entry click (a typing run);
  - clicks the stopped dialog in between (its lookups must time out without
    delaying or losing anything).

Then reads the session back with `mimic events` and prints the lookup time per
press (from the press to the answer, `element.lookup_ms`), median and p99, after a
rest and clicked at once, by how it was found, and checks that every press and key
was stored. It also prints the CPU time the live dialog (the application answering
the lookups) and the recorder used while the presses were driven (/proc).

It also prints the input path's latency: from just before xdotool is started for a
press to the press's recorder timestamp (CLOCK_MONOTONIC on both sides; xdotool's
own start-up is included). Run once more with --no-elements (the same session, the
recorder started with --no-elements) to see that lookups leave it unchanged.

Usage: python3 bench/elements_session.py [--presses N] [--no-elements] (MIMIC_BIN=path).
"""

import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import xenv  # noqa: E402
from test_elements import FIND, GI_PYTHON  # noqa: E402


def find(x, pid, role, name, interval=0.2):
    def look():
        r = subprocess.run([GI_PYTHON, "-c", FIND, str(pid), role, name], env=x.env,
                           capture_output=True, text=True, timeout=30)
        return tuple(int(v) for v in r.stdout.split()) if r.returncode == 0 else None
    return xenv.wait_for(look, timeout=30, interval=interval, what="%s %r" % (role, name))


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def summary(name, vals):
    if not vals:
        print("  %-34s n=0" % name)
        return
    print("  %-34s n=%-4d median %6.2f ms  p99 %7.2f ms  max %7.2f ms" %
          (name, len(vals), pct(vals, 50), pct(vals, 99), max(vals)))


def cpu_ms(pid):
    """User + system CPU time of pid so far, in milliseconds (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--presses", type=int, default=200, help="presses on the live dialog")
    ap.add_argument("--no-elements", action="store_true",
                    help="record with UI element lookups off, for the latency baseline")
    args = ap.parse_args()
    sent = []  # (monotonic ns just before xdotool clicks, on the stopped dialog?)
    x = xenv.XServer(size="1280x800x24")
    bus = xenv.SessionBus(x)
    x.env["GTK_THEME"] = "Adwaita"
    m = xenv.Mimic(x)
    apps = []
    try:
        hung = x.spawn(["zenity", "--entry", "--title=Stopped", "--text=Hung:"])
        apps.append(hung)
        hung_text = find(x, hung.pid, "text", "*")
        forms = x.spawn(["zenity", "--forms", "--title=Bench", "--add-entry=Name",
                         "--add-combo=Region", "--combo-values=Europe|Asia|Africa"])
        apps.append(forms)
        entry = find(x, forms.pid, "text", "*")
        combo = find(x, forms.pid, "combo box", "*")
        # The stopped dialog must not lie under the forms' widgets.
        x.xdotool("search", "--sync", "--name", "^Stopped$", "windowmove", "0", "0")
        x.xdotool("search", "--sync", "--name", "^Bench$", "windowmove", "600", "300")
        time.sleep(0.5)
        hung_text = find(x, hung.pid, "text", "*")
        entry = find(x, forms.pid, "text", "*")
        combo = find(x, forms.pid, "combo box", "*")
        os.kill(hung.pid, signal.SIGSTOP)

        m.start("--no-frames", *(["--no-elements"] if args.no_elements else []))
        st = m.status()
        if not args.no_elements and st["accessibility"]["state"] != "ok":
            raise SystemExit("UI elements are not on: %r" % st["accessibility"])
        centre = lambda r: (str(r[0] + r[2] // 2), str(r[1] + r[3] // 2))  # noqa: E731
        keys = 0
        hung_presses = 0
        rests = []
        t0 = time.monotonic()
        cpu0 = (cpu_ms(forms.pid), cpu_ms(m.rec.pid))
        for i in range(args.presses):
            target = entry if i % 2 == 0 else combo
            rest = (i // 2) % 2 == 0
            rests.append(rest)
            x.xdotool("mousemove", *centre(target))
            time.sleep(0.45 if rest else 0.0)
            sent.append((time.monotonic_ns(), False))
            x.xdotool("click", "1")
            if target is entry:
                x.xdotool("type", "--delay", "20", "ab")
                keys += 2
            else:
                time.sleep(0.15)
                x.xdotool("key", "Escape")  # close the combo box's list
                keys += 1
            if i % 10 == 5:
                x.xdotool("mousemove", *centre(hung_text))
                sent.append((time.monotonic_ns(), True))
                x.xdotool("click", "1")
                hung_presses += 1
            time.sleep(0.1)
        driven_s = time.monotonic() - t0
        cpu1 = (cpu_ms(forms.pid), cpu_ms(m.rec.pid))
        time.sleep(1.5)
        st = m.status()
        m.stop()
        events = m.events()
    finally:
        for p in apps:
            try:
                os.kill(p.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        m.close()
        x.close()
        bus.close()

    presses = [e for e in events if e["kind"] == "button_press"]
    key_presses = [e for e in events if e["kind"] == "key_press"]
    hung_set = {e["id"] for e in presses if e["x"] < 600}
    live = [e for e in presses if e["id"] not in hung_set]
    els = [e["element"] for e in live if "element" in e]
    at_rest = [e.get("element", {}) for e, r in zip(live, rests) if r]
    at_once = [e.get("element", {}) for e, r in zip(live, rests) if not r]
    print("UI element lookups: %d presses on a live zenity dialog, %d on a stopped one, "
          "driven in %.1f s" % (len(live), len(hung_set), driven_s))
    print("  presses sent / stored:             %d / %d  (%s)" %
          (args.presses + hung_presses, len(presses),
           "zero loss" if len(presses) == args.presses + hung_presses else "LOSS"))
    print("  keys sent / stored:                %d / %d  (%s)" %
          (keys, len(key_presses), "zero loss" if len(key_presses) == keys else "LOSS"))
    status = {}
    for el in els:
        status[el["status"]] = status.get(el["status"], 0) + 1
    print("  live presses by status:            %s (no element row: %d)" %
          (status, len(live) - len(els)))
    ok = [el for el in els if el["status"] == "ok"]
    summary("lookup, every live press", [el["lookup_ms"] for el in els])
    summary("lookup, after a rest", [el["lookup_ms"] for el in at_rest if "lookup_ms" in el])
    summary("lookup, clicked at once", [el["lookup_ms"] for el in at_once if "lookup_ms" in el])
    for src in ("hover", "hover-gone", "recent", "press"):
        summary("  found by source %s" % src, [el["lookup_ms"] for el in ok
                                               if el["source"] == src])
    roles = {}
    for el, target in zip(els, ["text" if i % 2 == 0 else "combo box"
                                for i in range(len(els))]):
        if el.get("role") != target:
            roles[el.get("role")] = roles.get(el.get("role"), 0) + 1
    print("  live presses naming another role:  %s" % (roles or "none"))
    typing = [e["element"] for e in key_presses if "element" in e and
              e["element"]["kind"] == "typing"]
    summary("typing-run lookups", [el["lookup_ms"] for el in typing])
    hung_els = [e.get("element", {}) for e in presses if e["id"] in hung_set]
    summary("stopped app (answer: %s)" % sorted({el.get("status") for el in hung_els}),
            [el["lookup_ms"] for el in hung_els if "lookup_ms" in el])
    print("  status lookups:                    %s" % st["accessibility"].get("lookups"))
    print("  CPU while driven: live dialog %.0f ms (%.2f ms per press), recorder %.0f ms" %
          (cpu1[0] - cpu0[0], (cpu1[0] - cpu0[0]) / max(1, args.presses), cpu1[1] - cpu0[1]))
    if len(presses) == len(sent):
        lat = [(e["t_ns"] - t) / 1e6 for e, (t, _) in zip(presses, sent)]
        summary("input latency, live dialog%s" % (" (lookups off)" if args.no_elements else ""),
                [v for v, (_, h) in zip(lat, sent) if not h])
        summary("input latency, stopped dialog%s" % (" (lookups off)" if args.no_elements
                                                     else ""),
                [v for v, (_, h) in zip(lat, sent) if h])
    lost = len(presses) != args.presses + hung_presses or len(key_presses) != keys
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
