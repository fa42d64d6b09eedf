"""Websites in real browsers: scope by the page's URL over AT-SPI (docs/POLICY.md).

With a policy that allows one site (http://127.0.0.1:PORT/allowed/*) served by the
test, Chromium and Firefox ESR (one at a time) are started after the recorder, the
way a person starts them, and driven with xdotool:

- text typed on the allowed page is stored (`mimic events`);
- after following a link to a page outside the site, nothing is stored: no key, no
  press, and no frame shows the outside page (its background is magenta);
- back on the allowed page typing is stored again (Firefox then finds the document
  without the frame's EMBEDS relation);
- a single-page app that moves its URL outside the site with history.pushState:
  nothing typed afterwards is stored;
- a frame of the allowed page shows the page (OCR reads its link, the control) and not
  the title of the other tab (LEDGER), which the browser's tab strip shows;
- a private window records nothing, and `mimic status` says it is private;
- a click on a link to a page that keeps the browser busy before its first layout is
  stored when that page is allowed; keys typed on the way to such a page outside the
  site, and a click on it, are not.

For a look at what happened: MIMIC_WEB_KEEP=PREFIX copies the frames read by OCR to
PREFIX-KIND-N.png, MIMIC_WEB_LOG=FILE the recorder's log (with MIMIC_LOG=debug: each
page read's path, status and time).
"""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402
from test_frames import read_png, pixel  # noqa: E402
from test_redaction import ocr, squeeze  # noqa: E402

OUTSIDE = set("quirkbz")     # letters typed only on pages outside the site
MAGENTA = (0xff, 0, 0xff)


def have(exe):
    return os.path.exists(exe)


class WebSiteTest(unittest.TestCase):
    """The fixture of the browser tests: an X server with a session bus, the test's web
    server, and a recorder whose policy allows http://127.0.0.1:PORT/allowed/* only
    (test_web_elements.py uses it too). MIMIC_WEB_LOG=FILE copies the recorder's log."""

    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer(size="1280x800x24")
        cls.x.env["MIMIC_KEY_STORE"] = "file"
        # Under AddressSanitizer: libatspi leaks a little when a call times out.
        cls.x.env["LSAN_OPTIONS"] = "suppressions=" + os.path.join(
            xenv.SRCDIR, "tests", "unit", "lsan.supp") + ":fast_unwind_on_malloc=0"
        cls.bus = xenv.SessionBus(cls.x)
        cls.web = xenv.WebServer()

    @classmethod
    def tearDownClass(cls):
        cls.web.close()
        cls.bus.close()
        cls.x.close()

    def setUp(self):
        m = xenv.Mimic(self.x, policy="")
        with open(m.policy, "w") as f:
            f.write("[allow]\nsite = http://127.0.0.1:%d/allowed/*\n[consent]\nnotice = %s\n"
                    % (self.web.port, m.notice))
        self.m = m
        self.browser = None

    def tearDown(self):
        if self.browser is not None:
            self.browser.close()
        if self.m.rec is not None and self.m.rec.poll() is None:
            self.m.stop()
        if os.environ.get("MIMIC_WEB_LOG"):
            subprocess.run(["cp", self.m.rec_err, os.environ["MIMIC_WEB_LOG"]])
        self.m.close()


class WebScopeTest(WebSiteTest):
    # --- helpers ---------------------------------------------------------------

    def typed(self):
        return xenv.typed_text(self.m.events())

    def type(self, text, delay=60):
        self.x.run(["xdotool", "type", "--delay", str(delay), text])

    def type_until_stored(self, word):
        """Types word until the store has it: input before the browser's page is known
        (its accessibility tree switching on) is dropped, as it must be."""
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            self.type(word)
            try:
                xenv.wait_for(lambda: word in self.typed(), timeout=3, what=word)
                return
            except AssertionError:
                pass
        self.fail("%r typed on the allowed page was never stored; status: %s\n%s"
                  % (word, json.dumps(self.m.status().get("safeguards")), self.m.stderr()))

    def frames(self):
        out = self.m.run("frames", "last", "--data-dir", self.m.data_dir, data_dir=False).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def frame_png(self, fid):
        path = os.path.join(self.m.tmp, "f%d.png" % fid)
        self.m.run("frame", "last", str(fid), "-o", path, "--data-dir", self.m.data_dir,
                   data_dir=False)
        return path

    def open_tab(self, kind, url):
        """A second start with the same profile opens url in a new tab of the running browser."""
        subprocess.run([os.path.join(xenv.SRCDIR, "scripts", "browser"), kind, "--profile",
                        self.browser.profile, url], env=self.x.env, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def geometry(self):
        geo = self.x.run(["xdotool", "getwindowgeometry", "--shell", self.browser.wid])
        kv = dict(l.split("=", 1) for l in geo.split() if "=" in l)
        return int(kv["X"]), int(kv["Y"]), int(kv["WIDTH"]), int(kv["HEIGHT"])

    # --- the scenario --------------------------------------------------------------

    def scenario(self, kind):
        if not have("/usr/bin/" + xenv.BROWSERS[kind]):
            self.skipTest("%s is not installed (scripts/install-deps)" % kind)
        self.m.start()
        # The other tab first: its title (LEDGER) shows in the tab strip.
        self.browser = xenv.Browser(self.x, kind, self.web.url("/outside/ledger.html"))
        xenv.wait_for(lambda: "LEDGER" in self.browser.title(), timeout=30, what="ledger tab")
        self.open_tab(kind, self.web.url("/allowed/form.html"))
        xenv.wait_for(lambda: "Allowed Form" in self.browser.title(), timeout=30,
                      what="the allowed form")
        self.x.focus(self.browser.wid)
        self.type_until_stored("alpha")
        st = self.m.status()["safeguards"]
        self.assertEqual(st["browser"]["page"], "known", st)

        # Pixels: the page, not the other tab's title (LEDGER).
        fr = xenv.wait_for(self.frames, timeout=20, what="a frame of the allowed page")
        paths = [self.frame_png(f["id"]) for f in fr[-3:]]
        if os.environ.get("MIMIC_WEB_KEEP"):
            for i, p in enumerate(paths):
                subprocess.run(["cp", p, "%s-%s-%d.png" % (os.environ["MIMIC_WEB_KEEP"], kind, i)])
        text = squeeze(ocr(paths))
        # The control: the page's own link text (Tesseract reads it more reliably than a
        # lone word at the top of an almost empty page).
        self.assertIn("Gooutside", text, "OCR control: the page itself is not read")
        self.assertNotIn("LEDGER", text, "the other tab's title shows in a stored frame")

        # Follow the link (Tab to it, Return) to a page outside the site.
        n_events = len(self.m.events())
        n_frames = len(self.frames())
        self.x.run(["xdotool", "key", "Tab", "Return"])
        xenv.wait_for(lambda: "Outside Page" in self.browser.title(), timeout=30,
                      what="the outside page")
        self.type("quirk")
        x, y, w, h = self.geometry()
        self.x.run(["xdotool", "mousemove", str(x + w // 2), str(y + h // 2), "click", "1"])
        self.type("quirk")
        xenv.wait_for(lambda: self.m.status()["safeguards"]["scope"] == "out", timeout=10,
                      what="scope out on the outside page")
        later = self.m.events()[n_events:]
        self.assertFalse(OUTSIDE & set(self.typed()), "keys typed outside the site were stored")
        presses = [e for e in later if e["kind"] == "button_press"]
        self.assertEqual(presses, [], "a press outside the site was stored")
        for f in self.frames()[n_frames:]:
            img = read_png(self.frame_png(f["id"]))
            self.assertNotEqual(pixel(img, x + w // 2, y + h - 40), MAGENTA,
                                "a frame shows the outside page")

        # Back to the allowed page: recorded again.
        self.x.run(["xdotool", "key", "alt+Left"])
        xenv.wait_for(lambda: "Allowed Form" in self.browser.title(), timeout=30,
                      what="back on the allowed form")
        self.type_until_stored("ahha")

        # A single-page app moves its URL outside the site: nothing typed after is stored.
        self.type("#buzz", delay=15)
        xenv.wait_for(lambda: "Moved" in self.browser.title(), timeout=10, what="pushState")
        self.type("buzz")
        xenv.wait_for(lambda: self.m.status()["safeguards"]["scope"] == "out", timeout=10,
                      what="scope out after pushState")
        self.assertFalse(OUTSIDE & set(self.typed()),
                         "keys typed after pushState moved outside the site were stored")
        self.browser.close()
        self.browser = None

        # A private window records nothing.
        before = len(self.m.events())
        self.browser = xenv.Browser(self.x, kind, self.web.url("/allowed/form.html"),
                                    private=True)
        self.x.focus(self.browser.wid)
        # Each key asks the browser for its page again (until its tree is on).
        deadline = time.monotonic() + 40
        while not self.m.status()["safeguards"].get("browser", {}).get("private"):
            self.assertLess(time.monotonic(), deadline, "the window is never known as private: "
                            "%s" % json.dumps(self.m.status()["safeguards"]))
            self.type("quirk")
        xenv.wait_for(lambda: self.m.status()["safeguards"]["scope"] == "out", timeout=10,
                      what="scope out in a private window")
        keys = [e for e in self.m.events()[before:] if e["kind"] in ("key_press", "button_press")]
        self.assertEqual(keys, [], "input in a private window was stored")

    def busy_pages(self, kind):
        """A click on a link whose page keeps the browser busy (a second of script before
        its first layout) is judged by that page: between the two pages the browser's
        frame shows no document with a URL, and the press waits for the next page instead
        of being dropped as out of scope. Stored when the next page is allowed, not when
        it is outside the site."""
        if not have("/usr/bin/" + xenv.BROWSERS[kind]):
            self.skipTest("%s is not installed (scripts/install-deps)" % kind)
        self.m.start()
        self.browser = xenv.Browser(self.x, kind, self.web.url("/allowed/next.html"))
        xenv.wait_for(lambda: "Next Start" in self.browser.title(), timeout=30,
                      what="the allowed start page")
        self.x.focus(self.browser.wid)
        # The page is known once its tree is on: until then input is dropped, as it must be.
        deadline = time.monotonic() + 40
        while self.m.status()["safeguards"].get("browser", {}).get("page") != "known":
            self.assertLess(time.monotonic(), deadline, "the start page is never known: %s"
                            % json.dumps(self.m.status()["safeguards"]))
            self.x.run(["xdotool", "key", "shift"])
            time.sleep(0.3)
        x, y, w, h = self.geometry()
        # Both pages' links fill the top 500 px of the page, below the browser's toolbars.
        at = [str(x + w // 2), str(y + 250)]

        n = len(self.m.events())
        self.x.run(["xdotool", "mousemove"] + at + ["sleep", "0.15", "click", "1"])
        xenv.wait_for(lambda: "Busy Page" in self.browser.title(), timeout=30,
                      what="the busy page")
        try:
            xenv.wait_for(lambda: [e for e in self.m.events()[n:] if e["kind"] == "button_press"],
                          timeout=15, what="the click on the link to the busy page")
        except AssertionError:
            self.fail("the click on the link to the busy page (allowed) was not stored; "
                      "status: %s" % json.dumps(self.m.status()["safeguards"]))
        time.sleep(0.5)
        presses = [e for e in self.m.events()[n:] if e["kind"] == "button_press"]
        self.assertEqual(len(presses), 1, "the click was stored more than once: %s"
                         % json.dumps(presses))

        # Onward to a busy page outside the site, typing at once: the keys typed while the
        # browser is between the pages are held, then judged by the outside page.
        n = len(self.m.events())
        self.x.run(["xdotool", "mousemove"] + at + ["sleep", "0.15", "click", "1",
                    "type", "--delay", "60", "quirk"])
        xenv.wait_for(lambda: "Busy Outside" in self.browser.title(), timeout=30,
                      what="the busy page outside the site")
        self.x.run(["xdotool", "type", "--delay", "60", "quirk", "click", "1"])
        xenv.wait_for(lambda: self.m.status()["safeguards"]["scope"] == "out", timeout=10,
                      what="scope out on the busy page outside the site")
        later = self.m.events()[n:]
        self.assertFalse(OUTSIDE & set(xenv.typed_text(later)),
                         "keys typed on the way to the busy page outside the site, or on it, "
                         "were stored")
        # The click that left was made on the allowed page: Firefox can still show that page
        # when it is read, so it may be stored; the click made on the outside page may not.
        presses = [e for e in later if e["kind"] == "button_press"]
        self.assertLessEqual(len(presses), 1, "a click on the busy page outside the site was "
                             "stored: %s" % json.dumps(presses))

    def test_chromium(self):
        self.scenario("chromium")

    def test_chromium_busy_pages(self):
        self.busy_pages("chromium")

    def test_firefox_busy_pages(self):
        self.busy_pages("firefox")

    def test_firefox(self):
        self.scenario("firefox")


if __name__ == "__main__":
    xenv.main()
