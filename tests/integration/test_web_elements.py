"""Web elements in real browsers (docs/ELEMENTS.md, "Web pages in browsers").

Chromium and Firefox ESR (one start each) show a form served by the test on
127.0.0.1 (web/allowed/fields.html) under a policy that allows the site. The test
clicks and types as a person does, and checks what `mimic events` recorded of each
element: the text field's role, name and label, the password field as a secret (a
secret_input marker carrying the field, no key text), the select's combo box with
its current value and the option chosen from its popup, the check box with its
state before the click, the link with its target URL, the button, and on each the
URL of its document.

Where an element is on screen is asked of AT-SPI by a helper run under Debian's
python3 (python3-gi), as test_elements.py does. MIMIC_WEB_LOG=FILE copies the
recorder's log.
"""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402
from test_web_scope import WebSiteTest  # noqa: E402

GI_PYTHON = "/usr/bin/python3"
SECRET = "hunt7ge"  # no letter of "paris", typed in the text field

# Prints "x y w h" of the first showing element with ROLE ("*": any) and NAME in the
# applications whose name is APP, searching depth first; exits 2 when there is none.
FIND = r"""
import sys
import gi
gi.require_version("Atspi", "2.0")
from gi.repository import Atspi
app_name, role, name = sys.argv[1], sys.argv[2], sys.argv[3]
Atspi.set_timeout(2000, 0)
def walk(a, depth, want):
    try:
        r, n = a.get_role_name(), a.get_name()
        showing = a.get_state_set().contains(Atspi.StateType.SHOWING)
    except Exception:
        return None
    if showing and want(r, n):
        e = a.get_extents(Atspi.CoordType.SCREEN)
        if e.width > 1 and e.x > -100000:
            return a, e
    if depth < 40:
        for i in range(min(a.get_child_count(), 100)):
            c = a.get_child_at_index(i)
            if c is not None:
                f = walk(c, depth + 1, want)
                if f is not None:
                    return f
    return None
def match(r, n):
    return (role == "*" or r == role) and (name == "*" or n == name)
d = Atspi.get_desktop(0)
for i in range(d.get_child_count()):
    app = d.get_child_at_index(i)
    if app is None or not app.get_name().lower().startswith(app_name):
        continue
    # The page's elements first (the browser's own bar has text fields too), then
    # the whole application (Firefox shows a select's options outside the page).
    doc = walk(app, 0, lambda r, n: r == "document web")
    f = walk(doc[0], 0, match) if doc is not None else None
    if f is None and name != "*":
        f = walk(app, 0, match)
    if f is not None:
        e = f[1]
        print(e.x, e.y, e.width, e.height)
        sys.exit(0)
sys.exit(2)
"""

APP_NAMES = {"chromium": "chromium", "firefox": "firefox"}


class WebElementsTest(WebSiteTest):
    # --- helpers ---------------------------------------------------------------

    def find(self, role, name, timeout=40.0):
        """The screen rectangle (x, y, w, h) of a showing element, waiting for it."""
        def look():
            r = subprocess.run([GI_PYTHON, "-c", FIND, APP_NAMES[self.kind], role, name],
                               env=self.x.env, capture_output=True, text=True, timeout=60)
            return tuple(int(v) for v in r.stdout.split()) if r.returncode == 0 else None
        return xenv.wait_for(look, timeout=timeout, interval=0.5,
                             what="%s %r in %s" % (role, name, self.kind))

    def click(self, rect, rest=0.4):
        """Moves to the middle of rect, rests as a person does, and clicks."""
        self.x.run(["xdotool", "mousemove", str(rect[0] + rect[2] // 2),
                    str(rect[1] + rect[3] // 2)])
        time.sleep(rest)
        self.x.run(["xdotool", "click", "1"])
        time.sleep(0.4)

    def type(self, text):
        self.x.run(["xdotool", "type", "--delay", "60", text])

    def typed(self):
        return xenv.typed_text(self.m.events())

    def element(self, events, kind, pred, what):
        for e in events:
            if e["kind"] == kind and e.get("element", {}).get("status") == "ok" and \
                    pred(e["element"]):
                return e["element"]
        seen = [e.get("element") for e in events if e["kind"] in ("button_press", kind)]
        self.fail("%s: no %s with its element; elements seen:\n%s" %
                  (what, kind, json.dumps(seen, indent=1)))

    # --- the scenario --------------------------------------------------------------

    def scenario(self, kind):
        self.kind = kind
        if not os.path.exists("/usr/bin/" + xenv.BROWSERS[kind]):
            self.skipTest("%s is not installed (scripts/install-deps)" % kind)
        page = self.web.url("/allowed/fields.html")
        self.m.start("--no-frames")
        self.browser = xenv.Browser(self.x, kind, page)
        xenv.wait_for(lambda: "Allowed Fields" in self.browser.title(), timeout=30,
                      what="the form")
        self.x.focus(self.browser.wid)

        # The text field, until its press is stored with its element: input before the
        # page is known is dropped, and a browser busy building its tree at first lets
        # the first lookups time out.
        city = self.find("entry", "City")
        deadline = time.monotonic() + 60

        def city_known():
            return [e for e in self.m.events() if e["kind"] == "button_press" and
                    e.get("element", {}).get("role") == "entry"]
        while not city_known():
            self.assertLess(time.monotonic(), deadline, "no press on the text field is "
                            "stored with its element:\n%s" % self.m.stderr()[-3000:])
            self.click(city)
            self.type("paris")
            time.sleep(1)
        self.click(self.find("password text", "Secret"))
        self.type(SECRET)
        time.sleep(0.5)

        region = self.find("combo box", "*")
        if os.environ.get("MIMIC_WEB_PROBE"):
            subprocess.run([GI_PYTHON, os.environ["MIMIC_WEB_PROBE"], APP_NAMES[kind]],
                           env=self.x.env, timeout=60)
        self.click(region)
        self.click(self.find("*", "Asia", timeout=10))
        self.click(self.find("check box", "Accept terms"))
        self.click(self.find("push button", "Send order"))
        # The link's click stays on the page (the page cancels it): what is checked is
        # the press's element, not a navigation.
        self.click(self.find("link", "Billing help"))
        # A link that leaves for a page with nothing where it was; a press there, with
        # the pointer where it was, finds only that page's document: it must not be
        # named from what the page before had there (the window's map, docs/ELEMENTS.md).
        self.click(self.find("link", "Leave"))
        xenv.wait_for(lambda: "Blank Page" in self.browser.title(), timeout=30,
                      what="the blank page")
        time.sleep(1)
        self.x.run(["xdotool", "click", "1"])
        time.sleep(0.8)
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        events = self.m.events()
        if os.environ.get("MIMIC_WEB_DUMP"):
            print(json.dumps([e for e in events if "element" in e], indent=1))

        def on_page(el):
            return el.get("url") == page

        press = "button_press"
        el = self.element(events, press, lambda e: e["role"] == "entry" and on_page(e),
                          "the text field")
        self.assertEqual(el["label"], "City", el)

        # The password field: its keys are never stored; the marker carries the field.
        self.assertFalse(set(SECRET) & set(self.typed()), "keys of the password were stored")
        # (Keys typed while the browser's first focus events could not be read are
        # kept as secrets too: such markers carry no element.)
        el = self.element(events, "secret_input", lambda e: e.get("role") == "password text",
                          "the password field")
        self.assertEqual(el["role"], "password text", el)
        self.assertIn("password", el["states"], el)
        self.assertEqual(el["label"], "Secret", el)
        self.assertTrue(on_page(el), el)

        el = self.element(events, press, lambda e: e["role"] == "combo box",
                          "the select")
        # As for a GTK combo box: named by the option it shows, labelled by its label.
        self.assertEqual((el["name"], el["label"]), ("Europe", "Region"), el)
        self.assertTrue(on_page(el), el)
        el = self.element(events, press, lambda e: e["name"] == "Asia", "the option")
        self.assertEqual(el["role"], "menu item", el)
        # Chromium's options are below the page's combo box; Firefox's are in a dropdown
        # of the browser's own, outside the page, and take the select's page and label
        # from the press that opened it (docs/ELEMENTS.md).
        self.assertEqual(el["menu_path"], "Region > Asia", el)
        self.assertTrue(on_page(el), el)

        el = self.element(events, press, lambda e: e["role"] == "check box", "the check box")
        self.assertEqual(el["name"], "Accept terms", el)
        self.assertNotIn("checked", el["states"], "the state before the click: %r" % el)
        self.assertTrue(on_page(el), el)

        el = self.element(events, press, lambda e: e["role"] in ("push button", "button"),
                          "the button")
        self.assertEqual(el["name"], "Send order", el)
        self.assertTrue(on_page(el), el)

        el = self.element(events, press, lambda e: e["role"] == "link", "the link")
        self.assertEqual(el["name"], "Billing help", el)
        self.assertEqual(el.get("target"),
                         self.web.url("/allowed/help.html?topic=billing#refunds"), el)
        self.assertTrue(on_page(el), el)

        presses = [e for e in events if e["kind"] == press]
        el = presses[-2].get("element", {})
        self.assertEqual((el.get("role"), el.get("name")), ("link", "Leave"), el)
        self.assertEqual(el.get("target"), self.web.url("/allowed/blank.html"), el)
        el = presses[-1].get("element", {})
        self.assertNotEqual(el.get("name"), "Leave",
                            "a press on the next page named from the page before: %r" % el)
        if el.get("status") == "ok":
            self.assertEqual(el.get("url"), self.web.url("/allowed/blank.html"), el)

    def test_chromium(self):
        self.scenario("chromium")

    def test_firefox(self):
        self.scenario("firefox")


if __name__ == "__main__":
    xenv.main()
