"""Recording under a real X server: what `mimic events` shows for what xdotool did.

Each test drives xterm under Xvfb + openbox with xdotool and asserts, from the
JSON Lines of `mimic events`, the text typed, the clicks, the scrolls, the
focused application and the synthetic tag.
"""

import os
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402


class RecordTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer()
        cls.term = cls.x.xterm(name="mimicterm", title="mimic test terminal")

    @classmethod
    def tearDownClass(cls):
        cls.x.close()

    def setUp(self):
        self.m = xenv.Mimic(self.x)
        self.x.run(["setxkbmap", "us"])
        self.x.focus(self.term)

    def tearDown(self):
        self.m.close()

    def record(self, actions, *args):
        self.m.start(*args)
        actions()
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        return self.m.events()

    def test_typed_text_with_shifted_characters(self):
        text = "Hello, World! {A_b} ~$%^&*()+?"
        ev = self.record(lambda: self.x.xdotool("type", "--delay", "5", text))
        self.assertEqual(xenv.typed_text(ev), text)
        keys = [e for e in ev if e["kind"] in ("key_press", "key_release")]
        self.assertTrue(keys)
        for e in keys:
            self.assertEqual(e["source"], "synthetic", e)
        self.assertIn("Shift_L", [e["keysym"] for e in keys])

    def test_non_us_layout(self):
        self.x.run(["setxkbmap", "de"])
        text = "äöü ß @€ Zy"
        ev = self.record(lambda: self.x.xdotool("type", "--delay", "5", text))
        self.assertEqual(xenv.typed_text(ev), text)
        syms = [e["keysym"] for e in ev if e["kind"] == "key_press"]
        self.assertIn("adiaeresis", syms)
        self.assertIn("EuroSign", syms)

    def test_layout_change_while_recording(self):
        def act():
            self.x.xdotool("type", "--delay", "5", "zy")
            self.x.run(["setxkbmap", "de"])
            time.sleep(0.3)
            self.x.xdotool("type", "--delay", "5", "zyä")
        ev = self.record(act)
        self.assertEqual(xenv.typed_text(ev), "zyzyä")
        self.assertIn("layout", [e["kind"] for e in ev])

    def test_clicks_have_position_and_button(self):
        def act():
            self.x.xdotool("mousemove", "200", "150", "click", "1")
            self.x.xdotool("mousemove", "321", "123", "click", "3")
            self.x.xdotool("mousemove", "50", "60", "click", "2")
        ev = self.record(act)
        presses = [(e["button"], e["x"], e["y"]) for e in ev if e["kind"] == "button_press"]
        self.assertEqual(presses, [(1, 200, 150), (3, 321, 123), (2, 50, 60)])
        releases = [e["button"] for e in ev if e["kind"] == "button_release"]
        self.assertEqual(releases, [1, 3, 2])
        for e in ev:
            if e["kind"].startswith("button"):
                self.assertEqual(e["source"], "synthetic")

    def test_scroll_direction_and_amount(self):
        def act():
            self.x.xdotool("mousemove", "100", "100")
            self.x.xdotool("click", "--repeat", "3", "--delay", "10", "5")
            self.x.xdotool("click", "4")
            self.x.xdotool("click", "6")
            self.x.xdotool("click", "7")
        ev = self.record(act)
        scrolls = [(e["direction"], e["amount"]) for e in ev if e["kind"] == "scroll"]
        self.assertEqual(scrolls, [("down", 1.0)] * 3 + [("up", 1.0), ("left", 1.0),
                                                         ("right", 1.0)])
        # Wheel clicks are scrolls, not button presses.
        self.assertEqual([e for e in ev if e["kind"] == "button_press"], [])
        s = [e for e in ev if e["kind"] == "scroll"][0]
        self.assertEqual((s["x"], s["y"]), (100, 100))

    def test_focused_window_context(self):
        other = self.x.xterm(name="othertool", title="second window", geometry="40x10+500+300")
        def act():
            self.x.focus(other)
            self.x.xdotool("type", "--delay", "5", "in other")
            self.x.focus(self.term)
            self.x.xdotool("type", "--delay", "5", "back")
        ev = self.record(act)
        focus = [e for e in ev if e["kind"] == "focus"]
        self.assertGreaterEqual(len(focus), 2)
        classes = [(f["window"]["wm_instance"], f["window"]["wm_class"]) for f in focus]
        self.assertIn(("othertool", "XTerm"), classes)
        self.assertEqual(classes[-1], ("mimicterm", "XTerm"))
        last = focus[-1]["window"]
        self.assertEqual(last["title"], "mimic test terminal")
        self.assertTrue(last["exe"].endswith("xterm"), last)
        self.assertGreater(last["pid"], 0)
        self.assertGreater(last["geometry"][2], 0)
        # Every key press refers to the context that was focused when it happened.
        ctx_of = {f["context"]: f["window"]["wm_instance"] for f in focus}
        by_ctx = {}
        for e in ev:
            if e["kind"] == "key_press":
                by_ctx.setdefault(ctx_of[e["context"]], []).append(e["text"])
        self.assertEqual("".join(by_ctx["othertool"]), "in other")
        self.assertEqual("".join(by_ctx["mimicterm"]), "back")
        self.x.run(["xdotool", "windowclose", other], check=False)
        self.x.run(["xdotool", "windowkill", other], check=False)

    def test_title_change_is_recorded(self):
        def act():
            self.x.xdotool("set_window", "--name", "renamed terminal", self.term)
            time.sleep(0.3)
        ev = self.record(act)
        titles = [e["window"]["title"] for e in ev if e["kind"] == "title"]
        self.assertIn("renamed terminal", titles)
        self.x.xdotool("set_window", "--name", "mimic test terminal", self.term)

    def test_motion_is_thinned_and_kept_before_press(self):
        def act():
            self.x.xdotool("mousemove", "10", "10")
            for i in range(40):
                self.x.xdotool("mousemove_relative", "2", "1")
            self.x.xdotool("click", "1")
        ev = self.record(act)
        where = self.x.xdotool("getmouselocation", "--shell")
        pos = dict(line.split("=") for line in where.split())
        motion = [e for e in ev if e["kind"] == "motion"]
        self.assertGreater(len(motion), 3)
        press = [e for e in ev if e["kind"] == "button_press"][0]
        self.assertEqual((press["x"], press["y"]), (int(pos["X"]), int(pos["Y"])))
        before = [e for e in ev if e["kind"] == "motion" and e["id"] < press["id"]]
        self.assertEqual((before[-1]["x"], before[-1]["y"]), (press["x"], press["y"]))
        # No more than ~60 samples per second, except the sample taken right
        # before a press or release, which is never dropped.
        forced = set()
        for i, e in enumerate(ev):
            if e["kind"] in ("button_press", "button_release"):
                prior = [m for m in ev[:i] if m["kind"] == "motion"]
                if prior:
                    forced.add(prior[-1]["id"])
        for a, b in zip(motion, motion[1:]):
            if b["id"] in forced:
                continue
            if b["t_ns"] - a["t_ns"] < 16_000_000:
                self.fail("motion samples %d ns apart: %r %r" % (b["t_ns"] - a["t_ns"], a, b))

    def test_shortcut_keys(self):
        ev = self.record(lambda: self.x.xdotool("key", "ctrl+shift+t", "Escape"))
        presses = [e["keysym"] for e in ev if e["kind"] == "key_press"]
        self.assertEqual(presses[:3], ["Control_L", "Shift_L", "T"])
        self.assertIn("Escape", presses)
        t = [e for e in ev if e["kind"] == "key_press" and e["keysym"] == "T"][0]
        self.assertTrue(t["mods"] & 4 and t["mods"] & 1, t)  # Control and Shift held

    def test_session_metadata(self):
        self.record(lambda: self.x.xdotool("type", "x"), "--session-name", "meta")
        s = self.m.sessions()[-1]
        self.assertEqual(s["name"], "meta")
        self.assertEqual(s["screen"], [1280, 800])
        self.assertEqual(s["end_reason"], "stopped")
        self.assertIn("us", s["keymap"])
        names = {d["name"]: d["source"] for d in s["devices"]}
        self.assertEqual(names.get("Virtual core XTEST keyboard"), "synthetic")
        self.assertEqual(names.get("Xvfb keyboard"), "human")
        self.assertEqual(self.m.events("meta"), self.m.events(str(s["id"])))

    def test_key_text_and_titles_sealed_at_rest(self):
        """What was typed and the window titles are encrypted in the database file.

        `mimic events` with the key is the positive control: it must show the word
        and the title. The rows themselves, read with SQLite, must not: a key event
        keeps no keycode, keysym or text in the clear and carries a sealed value
        that holds no copy of them; a window context keeps no title in the clear.
        """
        word = "Zebra42qx"
        ev = self.record(lambda: self.x.xdotool("type", "--delay", "5", word))
        self.assertEqual(xenv.typed_text(ev), word)
        self.assertIn("mimic test terminal",
                      [e["window"]["title"] for e in ev if e["kind"] == "focus"])
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.m.data_dir, "mimic.db"),
                             uri=True)
        try:
            keys = db.execute("SELECT detail, keysym, text, sealed FROM events "
                              "WHERE sealed IS NOT NULL OR text != '' OR keysym != ''"
                              ).fetchall()
            titles = db.execute("SELECT title, sealed FROM contexts "
                                "WHERE sealed IS NOT NULL OR title != ''").fetchall()
        finally:
            db.close()
        # Presses and releases of every key typed (at least the word's presses).
        self.assertGreaterEqual(len(keys), len(word), keys)
        for detail, keysym, text, sealed in keys:
            self.assertEqual((detail, keysym, text), (0, "", ""), "a key stored in the clear")
            # A nonce and a tag (40 bytes) besides the sealed payload.
            self.assertGreater(len(sealed), 40)
        self.assertGreater(len(titles), 0)
        for title, sealed in titles:
            self.assertEqual(title, "", "a window title stored in the clear")
            self.assertGreater(len(sealed), 40 + len("mimic test terminal") - 1)
            self.assertNotIn(b"mimic test", bytes(sealed))


if __name__ == "__main__":
    xenv.main()
