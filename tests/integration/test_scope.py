"""Consent, scope and the indicator under a real X server (docs/POLICY.md).

Under Xvfb + openbox with a private session bus (AT-SPI), drives xterms and zenity
dialogs with xdotool and checks what a person would see in the data directory and
on the screen:

- an application not on the allowlist yields no stored event (only the bare
  out_of_scope marker) and no frame while text is typed and clicked into it; the
  text typed into it and its names are in nothing a person can read back (the
  decoded events of every session, the sessions and an export), where the text
  typed after switching to an allowlisted window, which records again, is;
- with an allowlisted and a non-allowlisted window side by side, frames (decoded
  with `mimic frame`) show the allowlisted window and the mask colour where the
  other one is;
- typing into a zenity password field stores no key content (one secret_input
  marker; the decoded events and an export hold none of it, though they hold what
  was typed into a terminal just before) and the field is masked in the frames:
  with AT-SPI the field's own area (found over AT-SPI) is the mask colour while
  the rest of the dialog shows, and without a session bus the title heuristic
  masks the whole window, `mimic status` then saying protection is degraded;
- `record` without consent refuses with one line naming `mimic consent`; after
  `mimic consent --accept` it records; a changed notice asks again; `consent
  --withdraw` stops the recorder and names `mimic forget --all`;
- the indicator is an override-redirect window, viewable while recording and gone
  after; the pause hotkey pauses and its key is not stored; a locked screen
  (screen saver on) pauses by itself, and so does idle time (the next input
  resumes);
- with keystroke text off for an application, keys are stored without their text;
- a malformed policy is refused with FILE:LINE.
"""

import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402
from test_frames import read_png, pixel, mean_colour, close_to  # noqa: E402
from test_elements import FIND, GI_PYTHON  # noqa: E402

MASKED = (0, 0, 0)       # the default mask_color
GREEN = (0, 0xff, 0)     # the background of the non-allowlisted terminal
WHITE = (0xff, 0xff, 0xff)


def geometry(x, wid):
    """(x, y, w, h) of a client window in root coordinates."""
    out = x.run(["xwininfo", "-id", wid])
    v = {k: int(re.search(r"%s:\s+(-?\d+)" % k, out).group(1))
         for k in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")}
    return (v["Absolute upper-left X"], v["Absolute upper-left Y"], v["Width"], v["Height"])


def tree_bytes(path):
    """Every byte of every file under path."""
    blobs = []
    for root, _dirs, files in os.walk(path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                blobs.append(fh.read())
    return b"".join(blobs)


class ScopeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer(size="1024x768x24")
        cls.x.run(["xsetroot", "-solid", "#336699"])
        # New keys go to a key file: a keyring the private bus would start has no
        # unlocked collection here, and asking it would hold every start up.
        cls.x.env["MIMIC_KEY_STORE"] = "file"
        try:
            cls.bus = xenv.SessionBus(cls.x)
        except Exception:
            cls.x.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.x.close()
        cls.bus.close()

    def setUp(self):
        self.m = xenv.Mimic(self.x, env={
            "LSAN_OPTIONS": "suppressions=" + os.path.join(xenv.SRCDIR, "tests", "unit",
                                                            "lsan.supp"),
        })
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        self.m.close()

    # --- helpers -------------------------------------------------------------------------

    def term(self, name, cls, geom, bg="white"):
        """An xterm with its own WM_CLASS (instance name, class cls); returns its window id."""
        p = self.x.spawn(["xterm", "-name", name, "-class", cls, "-T", name, "-bg", bg,
                          "-geometry", geom])
        self.procs.append(p)
        return xenv.wait_for(lambda: self.x.run(["xdotool", "search", "--onlyvisible",
                                                 "--classname", name], check=False).split(),
                             what="xterm %s" % name)[-1]

    def frames(self):
        out = self.m.run("frames", "last", "--data-dir", self.m.data_dir, data_dir=False).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def png(self, frame_id):
        path = os.path.join(self.m.tmp, "f%d.png" % frame_id)
        self.m.run("frame", "last", str(frame_id), "-o", path, "--data-dir", self.m.data_dir,
                   data_dir=False)
        return read_png(path)

    def readable(self):
        """What a person can read back of the data directory, decoded.

        Returns (typed, text): the text the stored key presses produced, joined
        over every session (a word typed is one event per key, so it is only whole
        there), and the decoded events and sessions as JSON.
        """
        typed, text = [], [self.m.run("sessions", "--json").stdout]
        for s in self.m.sessions():
            typed.append(xenv.typed_text(self.m.events(str(s["id"]))))
            text.append(self.m.run("events", str(s["id"])).stdout)
        return "".join(typed), "".join(text)

    def export_bytes(self):
        """Every byte of a JSON Lines export of every session."""
        out = os.path.join(self.m.tmp, "export-%d" % time.monotonic_ns())
        self.m.run("export", "--all", "--format", "jsonl", "--out", out, "--data-dir",
                   self.m.data_dir, data_dir=False, timeout=600)
        return tree_bytes(out)

    def wait_typed(self, text):
        """Waits until the typed text of the session being recorded ends with text."""
        xenv.wait_for(lambda: xenv.typed_text(self.m.events()).endswith(text), timeout=20,
                      what="%r in mimic events" % text)

    def wait_quiet(self):
        last, since = -1, time.monotonic()

        def still():
            nonlocal last, since
            n = self.m.status()["frames"]["stored"]
            if n != last:
                last, since = n, time.monotonic()
            return time.monotonic() - since > 1.0
        xenv.wait_for(still, timeout=20, interval=0.1, what="frames to settle")

    # --- tests ---------------------------------------------------------------------------

    def test_out_of_scope_app_stores_nothing(self):
        other = self.term("othertool", "OtherTool", "60x15+0+0")
        allowed = self.term("worktool", "XTerm", "60x15+500+300")
        self.x.focus(other)
        self.m.start()
        g = geometry(self.x, other)
        self.x.xdotool("mousemove", str(g[0] + 50), str(g[1] + 40), "click", "1")
        self.x.xdotool("type", "--delay", "20", "Forbidden4711")
        self.x.xdotool("key", "Return")
        self.x.xdotool("mousemove", str(g[0] + 120), str(g[1] + 80), "click", "3")
        self.x.xdotool("key", "Escape")
        self.x.xdotool("click", "5")
        # Whether a frame was taken meanwhile is judged by the frames' times below.
        st = xenv.wait_for(lambda: (lambda st: st["safeguards"]["scope"] == "out" and st)(
            self.m.status()), what="the status to say out of scope")
        self.assertEqual(st["frames"]["stored"], 0, st)
        self.assertIn("out of scope", self.m.run("status").stdout)
        # Back in an allowlisted window: recorded again.
        self.x.focus(allowed)
        self.x.xdotool("type", "--delay", "20", "okay")
        self.wait_typed("okay")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        # Nothing of the other application in what can be read back, decoded: the
        # same checks find what was typed into the allowlisted terminal, and its name.
        typed, text = self.readable()
        self.assertIn("okay", typed)
        self.assertIn("worktool", text)
        self.assertNotIn("Forbidden", typed)
        self.assertNotIn("4711", typed)
        for name in ("othertool", "OtherTool"):
            self.assertNotIn(name, text)
        exported = self.export_bytes()
        self.assertIn(b"okay", exported)
        self.assertNotIn(b"Forbidden", exported)
        self.assertNotIn(b"othertool", exported)
        self.assertNotIn(b"OtherTool", exported)
        ev = self.m.events()
        first_in = [i for i, e in enumerate(ev) if e["kind"] == "in_scope"]
        self.assertTrue(first_in, ev)
        before = ev[:first_in[0]]
        self.assertTrue(before, ev)
        self.assertEqual({e["kind"] for e in before}, {"out_of_scope"}, before)
        for e in before:
            self.assertNotIn("window", e)
            self.assertNotIn("context", e)
        self.assertEqual(xenv.typed_text(ev), "okay")
        # Frames only after the switch.
        for f in self.frames():
            self.assertGreater(f["t_ns"], ev[first_in[0]]["t_ns"], f)

    def test_frames_mask_the_non_allowlisted_window(self):
        allowed = self.term("worktool", "XTerm", "60x20+0+0", bg="white")
        other = self.term("othertool", "OtherTool", "60x20+520+0", bg="#00ff00")
        self.x.focus(allowed)
        ga, go = geometry(self.x, allowed), geometry(self.x, other)
        self.m.start()
        self.x.xdotool("mousemove", str(ga[0] + 40), str(ga[1] + 60), "click", "1")
        self.x.xdotool("type", "--delay", "30", "visible text")
        self.wait_quiet()
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        fr = self.frames()
        self.assertTrue(fr)
        img = self.png(fr[-1]["id"])
        # The allowlisted terminal shows; the other one and the desktop are masked.
        self.assertTrue(close_to(mean_colour(img, ga[0] + 200, ga[1] + 150, ga[0] + 230,
                                             ga[1] + 170), WHITE, 20))
        cx, cy = go[0] + go[2] // 2, go[1] + go[3] // 2
        self.assertEqual(pixel(img, cx, cy), MASKED)
        self.assertTrue(close_to(mean_colour(img, go[0] + 5, go[1] + 5, go[0] + go[2] - 5,
                                             go[1] + go[3] - 5), MASKED, 1))
        self.assertEqual(pixel(img, 900, 700), MASKED)  # the desktop
        # Not one green pixel anywhere in any frame.
        for f in fr:
            im = self.png(f["id"])
            _w, _h, bpp, rows = im
            for row in rows[::4]:
                for i in range(0, len(row) - 2, bpp * 4):
                    self.assertFalse(row[i] < 40 and row[i + 1] > 200 and row[i + 2] < 40,
                                     "a pixel of the non-allowlisted window in frame %d" %
                                     f["id"])

    def password_run(self, title, *args):
        """Types into a terminal, then a password into a zenity dialog.

        Returns (events, frames, dialog geometry, the dialog's pid); the events and
        frames are those from the dialog's focus on.
        """
        p = self.x.spawn(["zenity", "--password", "--title=" + title])
        self.procs.append(p)
        wid = xenv.wait_for(lambda: self.x.run(["xdotool", "search", "--onlyvisible", "--name",
                                                "^%s$" % title], check=False).split(),
                            timeout=20, what="the password dialog")[-1]
        g = geometry(self.x, wid)
        # What is typed in scope before the dialog: what the checks must find.
        term = self.term("worktool", "XTerm", "30x3+0+0")
        self.x.focus(term)
        self.m.start(*args)
        self.x.xdotool("type", "--delay", "20", "plain1")
        self.wait_typed("plain1")
        # The recorder runs when the dialog takes the focus: AT-SPI tells it that the
        # field has it.
        self.x.focus(wid)

        def stored(pred, what):
            xenv.wait_for(lambda: [e for e in self.m.events() if pred(e)], timeout=20,
                          what=what)
        stored(lambda e: e["kind"] == "focus" and e.get("window", {}).get("title") == title,
               "the dialog's focus in mimic events")
        label = (str(g[0] + 24), str(g[1] + 20))     # the dialog's text, not the field
        self.x.xdotool("mousemove", *label, "click", "1")
        stored(lambda e: e["kind"] == "button_release", "the click in mimic events")
        self.x.xdotool("type", "--delay", "60", "hunter2x")
        stored(lambda e: e["kind"] == "secret_input", "the secret_input marker")
        self.x.xdotool("mousemove", *label, "click", "1")  # a frame with the dots in it
        self.wait_quiet()
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        ev = self.m.events()
        focus = [i for i, e in enumerate(ev) if e["kind"] == "focus" and
                 e.get("window", {}).get("title") == title]
        self.assertTrue(focus, ev)
        t0 = ev[focus[0]]["t_ns"]
        return ev[focus[0]:], [f for f in self.frames() if f["t_ns"] >= t0], g, p.pid

    def check_secret(self, ev):
        keys = [e for e in ev if e["kind"] in ("key_press", "key_release")]
        self.assertEqual([e for e in keys if e.get("text")], [], keys)
        self.assertEqual([e for e in keys if e.get("keysym") not in ("Tab", "ISO_Left_Tab",
                                                                      "Shift_L")], [], keys)
        self.assertEqual(len([e for e in ev if e["kind"] == "secret_input"]), 1, ev)
        # Nothing of the password in what can be read back, decoded, where the same
        # checks find what was typed into the terminal.
        typed, text = self.readable()
        self.assertIn("plain1", typed)
        self.assertNotIn("hunter", typed)
        self.assertNotIn("2x", typed)
        self.assertNotIn("hunter", text)
        exported = self.export_bytes()
        self.assertIn(b"plain1", exported)
        self.assertNotIn(b"hunter", exported)

    def field_rect(self, pid):
        """(x, y, w, h) of the password field of application pid, asked of AT-SPI."""
        r = subprocess.run([GI_PYTHON, "-c", "import gi; gi.require_version('Atspi', '2.0')"],
                           capture_output=True) if os.path.exists(GI_PYTHON) else None
        if r is None or r.returncode != 0:
            self.skipTest("python3-gi with gir1.2-atspi-2.0 not installed for %s "
                          "(scripts/install-deps installs it)" % GI_PYTHON)

        def look():
            r = subprocess.run([GI_PYTHON, "-c", FIND, str(pid), "password text", "*"],
                               env=self.x.env, capture_output=True, text=True, timeout=30)
            return tuple(int(v) for v in r.stdout.split()) if r.returncode == 0 else None
        return xenv.wait_for(look, timeout=20, interval=0.2, what="the password field")

    def test_password_field_with_accessibility(self):
        ev, fr, g, pid = self.password_run("Sign in")
        self.check_secret(ev)
        fx, fy, fw, fh = self.field_rect(pid)
        self.assertGreater(fw * fh, 0)
        marker = [e for e in ev if e["kind"] == "secret_input"][0]
        # Every frame from the password's first key on masks the field's own area,
        # and the dialog around it shows.
        after = [f for f in fr if f["t_ns"] > marker["t_ns"]]
        self.assertTrue(after, "no frame of the dialog after the password: %s" % fr)
        for f in after:
            img = self.png(f["id"])
            inner = (fx + 2, fy + 2, fx + fw - 2, fy + fh - 2)
            self.assertTrue(close_to(mean_colour(img, *inner), MASKED, 1),
                            "frame %d shows the password field: %s" %
                            (f["id"], mean_colour(img, *inner)))
            lit = [(x, y) for y in range(inner[1], inner[3]) for x in range(inner[0], inner[2])
                   if max(pixel(img, x, y)) > 24]
            self.assertEqual(lit[:10], [], "frame %d: pixels of the password field" % f["id"])
            masked = [pixel(img, x, y) == MASKED for x in range(g[0] + 10, g[0] + g[2] - 10, 4)
                      for y in range(g[1] + 10, g[1] + g[3] - 10, 4)
                      if not (fx <= x < fx + fw and fy <= y < fy + fh)]
            self.assertFalse(all(masked), "the whole dialog is masked, not just the field")

    def test_password_prompt_without_accessibility(self):
        # --no-elements: no accessibility, as on a desktop without an AT-SPI bus.
        ev, fr, g, _pid = self.password_run("Password", "--no-elements")
        self.check_secret(ev)
        self.assertTrue(fr, "no frame of the dialog")
        for f in fr:
            img = self.png(f["id"])
            self.assertTrue(close_to(mean_colour(img, g[0] + 5, g[1] + 5, g[0] + g[2] - 5,
                                                 g[1] + g[3] - 5), MASKED, 1))

    def test_status_says_protection_is_degraded_without_accessibility(self):
        t = self.term("worktool", "XTerm", "60x15+0+0")
        self.x.focus(t)
        self.m.start("--no-frames", "--no-elements")
        self.assertEqual(self.m.status()["safeguards"]["password_protection"], "degraded")
        self.assertIn("protection: degraded", self.m.run("status").stdout)
        self.assertEqual(self.m.stop(), 0)

    def test_consent(self):
        m = xenv.Mimic(self.x, consent=False)
        try:
            t = self.term("worktool", "XTerm", "60x15+0+0")
            self.x.focus(t)
            r = m.run("record", check=False)
            self.assertEqual(r.returncode, 1)
            lines = [line for line in r.stderr.splitlines() if line.strip()]
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn("`mimic consent`", lines[0])
            self.assertEqual(m.run("sessions", "--json", check=False).stdout.strip(), "")
            out = m.run("consent", "--accept").stdout
            self.assertIn("Test notice: mimic records", out)
            self.assertEqual(m.sessions(), [])  # agreeing alone records nothing
            m.start("--no-frames")
            self.x.xdotool("type", "--delay", "20", "agreed")
            # Withdrawing stops the recorder and says how to delete.
            out = m.run("consent", "--withdraw").stdout
            self.assertIn("mimic forget --all", out)
            self.assertEqual(m.rec.wait(timeout=30), 0)
            self.assertEqual(xenv.typed_text(m.events()), "agreed")
            r = m.run("record", check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn("withdrew", r.stderr)
            # A changed notice needs a new agreement.
            m.run("consent", "--accept")
            with open(m.notice, "a") as f:
                f.write("Changed: screenshots too.\n")
            r = m.run("record", check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn("notice changed", r.stderr)
            self.assertIn("`mimic consent`", r.stderr)
        finally:
            m.close()

    def test_indicator_hotkey_and_lock(self):
        t = self.term("worktool", "XTerm", "60x15+0+0")
        self.x.focus(t)
        self.m.start("--no-frames")
        wid = self.m.status()["safeguards"]["indicator"]
        self.assertGreater(wid, 0)
        info = self.x.run(["xwininfo", "-id", str(wid)])
        self.assertIn("Override Redirect State: yes", info)
        self.assertIn("Map State: IsViewable", info)
        self.assertIn("mimic recording indicator", self.x.run(["xprop", "-id", str(wid),
                                                               "WM_NAME"]))
        # The pause hotkey: paused, and its key is not stored.
        self.x.xdotool("key", "ctrl+alt+shift+p")
        xenv.wait_for(lambda: self.m.status()["state"] == "paused", what="the hotkey pause")
        self.x.xdotool("type", "hidden")
        self.x.xdotool("key", "ctrl+alt+shift+p")
        xenv.wait_for(lambda: self.m.status()["state"] == "recording", what="the hotkey resume")
        self.x.xdotool("type", "shown")
        # The screen saver (as a locker turns it on) pauses by itself, and resumes after.
        self.x.run(["xset", "s", "activate"])
        xenv.wait_for(lambda: self.m.status()["safeguards"]["auto_paused"] == "screen-locked",
                      what="the pause on screen lock")
        self.x.run(["xset", "s", "reset"])
        xenv.wait_for(lambda: self.m.status()["state"] == "recording", what="the unlock")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        ev = self.m.events()
        self.assertEqual(xenv.typed_text(ev), "shown")
        self.assertFalse([e for e in ev if e["kind"].startswith("key") and
                          e.get("keysym") in ("p", "P")], ev)
        self.assertGreaterEqual(len([e for e in ev if e["kind"] == "pause"]), 2)
        # Gone with the recorder.
        r = self.x.run(["xwininfo", "-id", str(wid)], check=False)
        self.assertNotIn("IsViewable", r)

    def test_keystroke_text_off(self):
        m = xenv.Mimic(self.x)
        try:
            with open(m.policy, "w") as f:  # the test policy, with text off for worktool
                f.write("[allow]\napp = XTerm\n[capture]\nno_keystroke_text = worktool\n"
                        "[consent]\nnotice = %s\n" % m.notice)
            t = self.term("worktool", "XTerm", "60x15+0+0")
            self.x.focus(t)
            m.start("--no-frames")
            self.x.xdotool("type", "--delay", "20", "abc")
            self.x.xdotool("key", "Return")
            xenv.wait_for(lambda: [e for e in m.events() if e["kind"] == "key_release" and
                                   e["keysym"] == "Return"], timeout=20,
                          what="the release of Return in mimic events")
            self.assertEqual(m.stop(), 0, m.stderr())
            keys = [e for e in m.events() if e["kind"] in ("key_press", "key_release")]
            self.assertEqual(len(keys), 8, keys)  # that keys were typed is kept ...
            self.assertEqual(xenv.typed_text(keys), "")  # ... not which
            self.assertEqual([e["keysym"] for e in keys if e["keysym"]], ["Return", "Return"])
        finally:
            m.close()

    def test_idle_pause(self):
        with open(self.m.policy, "a") as f:
            f.write("[controls]\nidle_pause = 10s\n")
        t = self.term("worktool", "XTerm", "60x15+0+0")
        self.x.focus(t)
        self.m.start("--no-frames")
        self.x.xdotool("type", "one")
        xenv.wait_for(lambda: self.m.status()["safeguards"]["auto_paused"] == "idle",
                      timeout=30, interval=0.5, what="the idle pause")
        self.assertEqual(self.m.status()["state"], "paused")
        self.x.xdotool("type", "two")  # the first input resumes, and is kept
        xenv.wait_for(lambda: self.m.status()["state"] == "recording", what="the resume")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        ev = self.m.events()
        self.assertEqual(xenv.typed_text(ev), "onetwo")
        kinds = [e["kind"] for e in ev if e["kind"] in ("pause", "resume")]
        self.assertEqual(kinds, ["pause", "resume"])

    def test_malformed_policy(self):
        path = os.path.join(self.m.tmp, "bad.conf")
        with open(path, "w") as f:
            f.write("[allow]\napp = XTerm\nwebsite = https://*\n")
        r = self.m.run("record", "--policy", path, check=False)
        self.assertEqual(r.returncode, 1)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("mimic: %s:3: " % path), lines[0])
        self.assertIn("website", lines[0])


if __name__ == "__main__":
    xenv.main()
