"""Press coverage: the share of presses whose UI element is known, by how long the pointer
rested before the click (issue 13's table in bench/RESULTS.md).

Starts Xvfb + openbox + a private session bus (accessibility bus on demand) and records
with UI elements on (screenshots off). Each round opens a zenity form (an entry "Name" and
a combo box "Region") and clicks through it as a person or an agent does: the entry (then
types two letters), the combo box (its list opens), the list's item "Asia" (the list
closes at the click), and OK (the form closes at the release). Before each click the
pointer moves onto the widget and rests there REST ms (`xdotool mousemove X Y sleep S
click 1`, one xdotool run; REST 0 is `mousemove X Y click 1`). The form prints what it
received, which the bench checks, so every counted click reached its widget.

Then it reads the session back with `mimic events` and prints, per rest, how many presses
carry their element (status ok, the expected role, and for the item and OK their name),
by widget and by how it was found (`source`), and the CPU time the forms used from their
first click to their last (the lookups' cost to the application: compare with a run with
--no-elements, which records the same clicks with lookups off).

Usage: python3 bench/press_coverage.py [--rounds N] [--rests 0,50,150] [--no-elements]
(MIMIC_BIN=path).
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import xenv  # noqa: E402
sys.path.insert(0, os.path.dirname(__file__))
import elements_session  # noqa: E402

# What each click of a round must be recorded as: (widget, role, name or None).
EXPECTED = [("entry", "text", None), ("combo box", "combo box", None),
            ("list item", "menu item", "Asia"), ("OK (closes)", "push button", "OK")]


def find(x, pid, role, name):
    return elements_session.find(x, pid, role, name, interval=0.1)


cpu_ms = elements_session.cpu_ms


def click(x, rect, rest_ms):
    cx, cy = str(rect[0] + rect[2] // 2), str(rect[1] + rect[3] // 2)
    if rest_ms > 0:
        x.xdotool("mousemove", cx, cy, "sleep", "%.3f" % (rest_ms / 1000.0), "click", "1")
    else:
        x.xdotool("mousemove", cx, cy, "click", "1")


def one_round(x, rest_ms):
    """Clicks through one form; returns the forms' CPU ms from the first click to before
    the last (OK ends the process)."""
    forms = subprocess.Popen(["zenity", "--forms", "--title=Coverage", "--add-entry=Name",
                              "--add-combo=Region", "--combo-values=Europe|Asia|Africa"],
                             env=x.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    try:
        entry = find(x, forms.pid, "text", "*")
        combo = find(x, forms.pid, "combo box", "*")
        ok = find(x, forms.pid, "push button", "OK")
        # The pointer starts away from the form, as after other work.
        x.xdotool("mousemove", "5", "5")
        time.sleep(0.3)
        cpu0 = cpu_ms(forms.pid)
        click(x, entry, rest_ms)
        x.xdotool("type", "--delay", "20", "ab")
        time.sleep(0.2)
        click(x, combo, rest_ms)
        item = find(x, forms.pid, "menu item", "Asia")
        click(x, item, rest_ms)
        # The list has closed and the choice shows before OK is clicked.
        find(x, forms.pid, "combo box", "Asia")
        cpu1 = cpu_ms(forms.pid)
        click(x, ok, rest_ms)
        out, _ = forms.communicate(timeout=20)
        if out.strip() != "ab|Asia":
            raise SystemExit("the form printed %r, not 'ab|Asia'" % out)
        return cpu1 - cpu0
    finally:
        if forms.poll() is None:
            forms.kill()
            forms.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=25, help="forms clicked through per rest")
    ap.add_argument("--rests", default="0,50,150", help="rests before each click, ms")
    ap.add_argument("--no-elements", action="store_true",
                    help="record with UI element lookups off (the forms' CPU baseline)")
    args = ap.parse_args()
    rests = [int(v) for v in args.rests.split(",")]
    x = xenv.XServer(size="1280x800x24")
    bus = xenv.SessionBus(x)
    x.env["GTK_THEME"] = "Adwaita"
    m = xenv.Mimic(x)
    cpu = {r: [] for r in rests}
    try:
        m.start("--no-frames", *(["--no-elements"] if args.no_elements else []))
        if not args.no_elements and m.status()["accessibility"]["state"] != "ok":
            raise SystemExit("UI elements are not on: %r" % m.status()["accessibility"])
        for r in rests:
            for _ in range(args.rounds):
                cpu[r].append(one_round(x, r))
        time.sleep(1.5)
        m.stop()
        events = m.events()
    finally:
        m.close()
        x.close()
        bus.close()

    presses = [e for e in events if e["kind"] == "button_press"]
    want = len(rests) * args.rounds * len(EXPECTED)
    print("Press coverage: %d rounds per rest, %d presses sent, %d stored (%s)%s" %
          (args.rounds, want, len(presses), "zero loss" if len(presses) == want else "LOSS",
           " -- lookups off" if args.no_elements else ""))
    if len(presses) != want:
        return 1
    per = args.rounds * len(EXPECTED)
    print("| rest before the click | %s | all | forms CPU ms per round (4 clicks) |" %
          " | ".join(w for w, _, _ in EXPECTED))
    print("|---|%s---|---|" % ("---|" * len(EXPECTED)))
    worst = 1.0
    for k, r in enumerate(rests):
        chunk = presses[k * per:(k + 1) * per]
        hits = [0] * len(EXPECTED)
        sources = {}
        for i, e in enumerate(chunk):
            _, role, name = EXPECTED[i % len(EXPECTED)]
            el = e.get("element", {})
            good = (el.get("status") == "ok" and el.get("role") == role and
                    (name is None or el.get("name") == name))
            hits[i % len(EXPECTED)] += good
            key = el.get("source", "none") if good else "miss:%s/%s" % (
                el.get("status"), el.get("role", "-"))
            sources[key] = sources.get(key, 0) + 1
        share = sum(hits) / float(len(chunk))
        worst = min(worst, share)
        c = sorted(cpu[r])
        print("| %d ms | %s | **%.1f %%** | %.1f |" % (
            r, " | ".join("%d/%d" % (h, args.rounds) for h in hits), 100 * share,
            c[len(c) // 2]))
        print("|   by source | %s |" % ", ".join("%s %d" % kv for kv in sorted(sources.items())))
    return 0 if args.no_elements or worst >= 0.99 else 2


if __name__ == "__main__":
    sys.exit(main())
