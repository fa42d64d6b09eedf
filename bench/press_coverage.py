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

With --app chromium or firefox (or several, comma-separated, one after the other) the
same round runs in a real browser (scripts/browser, a fresh profile, accessibility turned
on by the recorder) on a form page the bench serves on 127.0.0.1 under a policy that
allows the site, as tests/integration/test_web_elements.py does: the text field "Name"
(then two letters), the <select> "Region" (its popup opens), the popup's option "Asia",
and the submit button "Send", which navigates to a page of its own (the form goes, as
GTK's OK closes its dialog). The bench's server must receive name=ab&region=Asia from
every round's submit; that page then goes back to a fresh form for the next round. The
browser's CPU is that of all its processes (its session). Presses before the browser's
page is known (its accessibility tree switching on) are dropped by the recorder, as
they must be, so a warm-up round that is not counted comes first.

Usage: python3 bench/press_coverage.py [--app gtk|chromium|firefox[,...]] [--rounds N]
[--rests 0,50,150] [--no-elements] (MIMIC_BIN=path; MIMIC_COVERAGE_LOG=FILE copies the
recorder's log). --no-elements is for --app gtk only: with lookups off nothing switches a
browser's page tree on, and the bench finds the form's fields in that tree.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import xenv  # noqa: E402
sys.path.insert(0, os.path.dirname(__file__))
import elements_session  # noqa: E402
from elements_session import GI_PYTHON  # noqa: E402
from test_web_elements import APP_NAMES, FIND as WEB_FIND  # noqa: E402

# What each click of a round must be recorded as: (widget, roles, name or None).
EXPECTED = [("entry", ("text",), None), ("combo box", ("combo box",), None),
            ("list item", ("menu item",), "Asia"), ("OK (closes)", ("push button",), "OK")]
# The same in a browser: the form's text field, select, the select's option, and the
# submit button that replaces the page.
WEB_EXPECTED = [("text field", ("entry",), None), ("select", ("combo box",), None),
                ("option", ("menu item",), "Asia"),
                ("submit (navigates)", ("push button", "button"), "Send")]

FORM_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Coverage form</title>
<style>body{margin:20px;background:#fff;font:28px sans-serif}
input,select,button{font:28px sans-serif} input[type=text]{width:400px}
div{margin:18px 0}</style></head>
<body><form action="/allowed/done.html" method="get" autocomplete="off">
<div><label for="name">Name</label> <input type="text" id="name" name="name"></div>
<div><label for="region">Region</label> <select id="region" name="region">
<option>Europe</option><option>Asia</option><option>Africa</option></select></div>
<div><button type="submit" id="send">Send</button></div>
</form></body></html>
"""
# The submit's page: the server has the form's values; a fresh form follows.
DONE_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Coverage sent</title></head>
<body style="font:28px sans-serif">Sent.
<script>setTimeout(function () { location.replace("/allowed/form.html"); }, 300);</script>
</body></html>
"""


def find(x, pid, role, name):
    return elements_session.find(x, pid, role, name, interval=0.1)


cpu_ms = elements_session.cpu_ms


def session_cpu_ms(sid):
    """User + system CPU ms so far of the live processes of session sid (a browser)."""
    total = 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:
            total += (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")
    return total


# Every counted click: (CLOCK_MONOTONIC ns just before xdotool ran, rest ms, which
# widget of EXPECTED), to match the stored presses (their t_ns is on the same clock).
SENT = []


def click(x, rect, rest_ms, widget=None):
    cx, cy = str(rect[0] + rect[2] // 2), str(rect[1] + rect[3] // 2)
    if widget is not None:
        SENT.append((time.monotonic_ns(), rest_ms, widget))
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
        click(x, entry, rest_ms, 0)
        x.xdotool("type", "--delay", "20", "ab")
        time.sleep(0.2)
        click(x, combo, rest_ms, 1)
        item = find(x, forms.pid, "menu item", "Asia")
        click(x, item, rest_ms, 2)
        # The list has closed and the choice shows before OK is clicked.
        find(x, forms.pid, "combo box", "Asia")
        cpu1 = cpu_ms(forms.pid)
        click(x, ok, rest_ms, 3)
        out, _ = forms.communicate(timeout=20)
        if out.strip() != "ab|Asia":
            raise SystemExit("the form printed %r, not 'ab|Asia'" % out)
        return cpu1 - cpu0
    finally:
        if forms.poll() is None:
            forms.kill()
            forms.wait()


def web_find(x, kind, role, name, timeout=30):
    """The screen rectangle of a showing element of the browser's page (or of the
    browser, for Firefox's popup), as test_web_elements.py finds it."""
    def look():
        r = subprocess.run([GI_PYTHON, "-c", WEB_FIND, APP_NAMES[kind], role, name],
                           env=x.env, capture_output=True, text=True, timeout=60)
        return tuple(int(v) for v in r.stdout.split()) if r.returncode == 0 else None
    return xenv.wait_for(look, timeout=timeout, interval=0.1,
                         what="%s %r in %s" % (role, name, kind))


def web_form(x, kind, browser):
    """Waits for a fresh form; returns the rectangles of its field, select and button."""
    xenv.wait_for(lambda: "Coverage form" in browser.title(), timeout=30, what="the form")
    time.sleep(0.3)
    return (web_find(x, kind, "entry", "Name"), web_find(x, kind, "combo box", "*"),
            web_find(x, kind, "push button", "Send"))


def web_round(x, web, kind, browser, rest_ms):
    """Clicks through one form page; returns the browser's CPU ms from the first click
    to before the submit, after the server has the round's values."""
    entry, combo, send = web_form(x, kind, browser)
    sent = len([p for p in web.paths if p.startswith("/allowed/done.html")])
    # The pointer starts off the browser's window, as after other work.
    x.xdotool("mousemove", "1275", "795")
    time.sleep(0.3)
    cpu0 = session_cpu_ms(browser.proc.pid)
    click(x, entry, rest_ms, 0)
    x.xdotool("type", "--delay", "20", "ab")
    time.sleep(0.2)
    click(x, combo, rest_ms, 1)
    item = web_find(x, kind, "menu item", "Asia", timeout=10)
    click(x, item, rest_ms, 2)
    # The popup closes and the select shows the choice before Send is clicked (the
    # select's accessible name is not its value here: the server checks the choice).
    time.sleep(0.4)
    cpu1 = session_cpu_ms(browser.proc.pid)
    click(x, send, rest_ms, 3)
    done = xenv.wait_for(lambda: [p for p in web.paths
                                  if p.startswith("/allowed/done.html")][sent:],
                         timeout=20, what="the form's submit")
    if done[0] != "/allowed/done.html?name=ab&region=Asia":
        raise SystemExit("the server received %r, not name=ab&region=Asia" % done[0])
    return cpu1 - cpu0


def run_web(kind, args, rests):
    """One browser's rounds; returns (presses of the counted rounds, CPU per rest)."""
    root = tempfile.mkdtemp(prefix="mimic-coverage-web-")
    os.mkdir(os.path.join(root, "allowed"))
    for name, text in (("form.html", FORM_HTML), ("done.html", DONE_HTML)):
        with open(os.path.join(root, "allowed", name), "w") as f:
            f.write(text)
    x = xenv.XServer(size="1280x800x24")
    x.env["MIMIC_KEY_STORE"] = "file"
    bus = xenv.SessionBus(x)
    web = xenv.WebServer(root=root)
    m = xenv.Mimic(x, policy="")
    with open(m.policy, "w") as f:
        f.write("[allow]\nsite = http://127.0.0.1:%d/allowed/*\n[consent]\nnotice = %s\n"
                % (web.port, m.notice))
    browser = None
    cpu = {r: [] for r in rests}
    try:
        m.start("--no-frames", *(["--no-elements"] if args.no_elements else []))
        browser = xenv.Browser(x, kind, web.url("/allowed/form.html"))
        x.focus(browser.wid)
        # Warm-up, not counted: the text field until a press on it is stored (with its
        # element unless lookups are off), then the submit.
        entry, _, send = web_form(x, kind, browser)
        deadline = time.monotonic() + 90

        def stored():
            return [e for e in m.events() if e["kind"] == "button_press" and
                    (args.no_elements or e.get("element", {}).get("role") == "entry")]
        while not stored():
            if time.monotonic() > deadline:
                raise SystemExit("no press on the text field was stored:\n%s" %
                                 m.stderr()[-3000:])
            click(x, entry, 300)
            x.xdotool("type", "--delay", "20", "ab")
            time.sleep(1)
        click(x, send, 300)
        web_form(x, kind, browser)
        for r in rests:
            for _ in range(args.rounds):
                cpu[r].append(web_round(x, web, kind, browser, r))
        web_form(x, kind, browser)
        time.sleep(1.5)
        m.stop()
        events = m.events()
    finally:
        if browser is not None:
            browser.close()
        if os.environ.get("MIMIC_COVERAGE_LOG"):
            shutil.copy(m.rec_err, os.environ["MIMIC_COVERAGE_LOG"])
        m.close()
        web.close()
        x.close()
        bus.close()
        shutil.rmtree(root, ignore_errors=True)
    return [e for e in events if e["kind"] == "button_press"], cpu


def run_gtk(args, rests):
    """The zenity rounds; returns (presses, CPU per rest)."""
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
        if os.environ.get("MIMIC_COVERAGE_LOG"):
            shutil.copy(m.rec_err, os.environ["MIMIC_COVERAGE_LOG"])
        m.close()
        x.close()
        bus.close()
    return [e for e in events if e["kind"] == "button_press"], cpu


def report(app, presses, cpu, expected, args, rests):
    """Prints the app's rows; returns the worst share of covered presses. Each click sent
    is matched with the first press stored after it and before the next click; a click
    without one is counted as a miss (`dropped`)."""
    sent = SENT[:]
    del SENT[:]
    presses = sorted(presses, key=lambda e: e["t_ns"])
    matched = []
    k = 0
    for n, (t, rest, widget) in enumerate(sent):
        end = sent[n + 1][0] if n + 1 < len(sent) else None
        while k < len(presses) and presses[k]["t_ns"] < t:
            k += 1
        hit = presses[k] if k < len(presses) and (end is None or
                                                  presses[k]["t_ns"] < end) else None
        matched.append((rest, widget, hit))
    stored = sum(1 for _, _, e in matched if e is not None)
    print("Press coverage, %s: %d rounds per rest, %d presses sent, %d stored (%s)%s" %
          (app, args.rounds, len(sent), stored, "zero loss" if stored == len(sent)
           else "LOSS", " -- lookups off" if args.no_elements else ""))
    print("| rest before the click | %s | all | %s CPU ms per round (4 clicks) |" %
          (" | ".join(w for w, _, _ in expected), "forms" if app == "gtk" else app))
    print("|---|%s---|---|" % ("---|" * len(expected)))
    worst = 1.0
    for r in rests:
        chunk = [(w, e) for rest, w, e in matched if rest == r]
        hits = [0] * len(expected)
        sources = {}
        misses = []
        for n, (w, e) in enumerate(chunk):
            _, roles, name = expected[w]
            el = (e or {}).get("element", {})
            good = (el.get("status") == "ok" and el.get("role") in roles and
                    (name is None or el.get("name") == name))
            hits[w] += good
            key = el.get("source", "none") if good else "dropped" if e is None else \
                "miss:%s/%s" % (el.get("status"), el.get("role", "-"))
            sources[key] = sources.get(key, 0) + 1
            if not good and (not args.no_elements or e is None):
                misses.append((n // len(expected), expected[w][0], e))
        share = sum(hits) / float(max(1, len(chunk)))
        worst = min(worst, share)
        c = sorted(cpu[r])
        print("| %d ms | %s | **%.1f %%** | %.1f |" % (
            r, " | ".join("%d/%d" % (h, args.rounds) for h in hits), 100 * share,
            c[len(c) // 2]))
        print("|   by source | %s |" % ", ".join("%s %d" % kv for kv in sorted(sources.items())))
        for n, widget, e in misses:
            print("    missed: rest %d ms, round %d, %s: %s" % (
                r, n, widget, "no press stored" if e is None else
                "press %s %s" % (e.get("id"), json.dumps(e.get("element")))))
    return worst if stored == len(sent) else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", default="gtk",
                    help="gtk, chromium or firefox, or several comma-separated")
    ap.add_argument("--rounds", type=int, default=25, help="forms clicked through per rest")
    ap.add_argument("--rests", default="0,50,150", help="rests before each click, ms")
    ap.add_argument("--no-elements", action="store_true",
                    help="record with UI element lookups off (the forms' CPU baseline)")
    args = ap.parse_args()
    rests = [int(v) for v in args.rests.split(",")]
    apps = args.app.split(",")
    for app in apps:
        if app not in ("gtk", "chromium", "firefox"):
            raise SystemExit("--app %s: not one of gtk, chromium, firefox" % app)
        if app != "gtk" and args.no_elements:
            raise SystemExit("--no-elements with --app %s: a browser's page tree is off "
                             "without lookups, and the bench finds the form in it: use "
                             "--app gtk" % app)
        if app != "gtk" and not os.path.exists("/usr/bin/" + xenv.BROWSERS[app]):
            raise SystemExit("--app %s: /usr/bin/%s is missing: run scripts/install-deps"
                             % (app, xenv.BROWSERS[app]))
    code = 0
    for app in apps:
        if app == "gtk":
            presses, cpu = run_gtk(args, rests)
        else:
            presses, cpu = run_web(app, args, rests)
        worst = report(app, presses, cpu, EXPECTED if app == "gtk" else WEB_EXPECTED,
                       args, rests)
        if worst is None:
            code = 1
        elif not args.no_elements and worst < 0.99 and code == 0:
            code = 2
    return code


if __name__ == "__main__":
    sys.exit(main())
