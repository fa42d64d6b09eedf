"""Screenshots under a real X server: what `mimic frames` and `mimic frame` show.

Drives xterm and a zenity dialog under Xvfb + openbox with xdotool and checks,
from the JSON Lines of `mimic frames` and the PNGs `mimic frame` writes (read
here with zlib, standard library only): every button press and every typing run
has a frame taken before it; the frame before a click on a dialog's OK button
still shows the dialog, the frame after it no longer does; a focus change takes
a `focus` frame for its focus event, and a screen that changes by itself, with
no input, an `idle` frame with no event; an unchanging screen produces no
frames (and no grabs); a kept rectangle leaves the rest of the image flat; a
patched frame decodes to the same pixels as a full one in the in-scope terminal,
and both are the mask colour everywhere else; and a frames directory removed, or
a file system filled (a small tmpfs mounted as root), mid-session stops frame
storage with a reason in `mimic status` while typing is still recorded. The background scanner
(`mimic-data scan-worker`) runs in its own process, also under a policy that adds
redaction rules, and applies them: an employee id shown on screen drops the
frames in the store, with the fingerprint of the policy's rule set, which an
export with other rules scans again.
"""

import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402

BACKGROUND = (0x33, 0x66, 0x99)
MASKED = (0, 0, 0)  # the default mask_color: what frames show outside in-scope windows


def read_png(path):
    """Decodes an 8-bit RGB or RGBA PNG; returns (width, height, channels, rows of bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError("%s is not a PNG" % path)
    pos, idat = 8, []
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _c, _f, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        pos += 12 + n
    if depth != 8 or ctype not in (2, 6) or interlace != 0:
        raise AssertionError("unexpected PNG format %d/%d/%d" % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ft == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ft == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, prev))
        elif ft == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ft == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 0xFF
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def pixel(img, x, y):
    _w, _h, bpp, rows = img
    return tuple(rows[y][x * bpp:x * bpp + 3])


def mean_colour(img, x0, y0, x1, y1):
    acc, n = [0, 0, 0], 0
    for y in range(y0, y1):
        for x in range(x0, x1):
            p = pixel(img, x, y)
            for i in range(3):
                acc[i] += p[i]
            n += 1
    return tuple(a / n for a in acc)


def close_to(a, b, tol):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


class FramesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer(size="1024x768x24")
        cls.x.run(["xsetroot", "-solid", "#336699"])
        cls.term = cls.x.xterm(name="frameterm", title="frames terminal",
                               geometry="60x15+0+0")

    @classmethod
    def tearDownClass(cls):
        cls.x.close()

    def setUp(self):
        self.m = xenv.Mimic(self.x)
        self.x.focus(self.term)
        self.tmp = self.m.tmp

    def tearDown(self):
        self.m.close()

    def config(self, text):
        path = os.path.join(self.tmp, "mimic.conf")
        with open(path, "w") as f:
            f.write("[frames]\n" + text)
        return path

    def frames(self):
        out = self.m.run("frames", "last", "--data-dir", self.m.data_dir, data_dir=False).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def png(self, frame_id, name):
        path = os.path.join(self.tmp, name)
        self.m.run("frame", "last", str(frame_id), "-o", path, "--data-dir", self.m.data_dir,
                   data_dir=False)
        return read_png(path)

    def stored(self):
        return self.m.status()["frames"]["stored"]

    def wait_quiet(self, what):
        """Waits until the frame count has not moved for a second (settle frames done)."""
        last, since = -1, time.monotonic()
        def still():
            nonlocal last, since
            n = self.stored()
            if n != last:
                last, since = n, time.monotonic()
            return time.monotonic() - since > 1.0
        xenv.wait_for(still, timeout=20, interval=0.1, what=what)

    def wait_typed(self, text):
        """Waits until the stored key presses end with text; returns the last one."""
        def look():
            keys = [e for e in self.m.events() if e["kind"] == "key_press"]
            return keys and xenv.typed_text(keys).endswith(text) and keys[-1]
        return xenv.wait_for(look, timeout=20, what="%r in mimic events" % text)

    def geometry(self, wid):
        """(x, y, w, h) of a window in root coordinates."""
        out = self.x.run(["xwininfo", "-id", wid])
        v = {k: int(re.search(r"%s:\s+(-?\d+)" % k, out).group(1))
             for k in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")}
        return (v["Absolute upper-left X"], v["Absolute upper-left Y"], v["Width"], v["Height"])

    def test_every_press_and_typing_run_has_a_frame_from_before_it(self):
        conf = self.config("typing_pause_ms = 400\n")
        self.m.start("--config", conf)
        self.x.xdotool("mousemove", "100", "60", "click", "1")
        self.x.xdotool("type", "--delay", "30", "echo one")
        # A pause longer than typing_pause_ms on the recorder's clock (CLOCK_MONOTONIC,
        # that of the events' t_ns): the next keys are a new run.
        last = self.wait_typed("echo one")
        xenv.wait_for(lambda: time.monotonic_ns() - last["t_ns"] > 600_000_000, timeout=10,
                      what="the pause after the first run")
        self.x.xdotool("type", "--delay", "30", " two")
        self.x.xdotool("key", "Return")
        self.x.xdotool("mousemove", "200", "120", "click", "1")
        self.x.xdotool("click", "3")
        time.sleep(0.5)
        self.x.xdotool("key", "Escape")                  # closes xterm's menu if it opened
        # On the background: no application, so out of scope and not stored.
        self.x.xdotool("mousemove", "600", "500", "click", "1")
        self.x.xdotool("type", "--delay", "30", "zz")
        self.wait_quiet("the settle frames")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        ev = self.m.events()
        fr = self.frames()
        pre = {f["event"]: f for f in fr if f["trigger"] == "pre"}

        presses = [e for e in ev if e["kind"] == "button_press"]
        self.assertEqual(len(presses), 3)
        self.assertNotIn((600, 500), [(e["x"], e["y"]) for e in presses])
        runs, last_key, in_run = [], None, False
        for e in ev:
            if e["kind"] in ("button_press", "focus", "scroll"):
                in_run = False
            if e["kind"] == "key_press":
                if not in_run or e["t_ns"] - last_key >= 400_000_000:
                    runs.append(e)
                in_run, last_key = True, e["t_ns"]
        self.assertGreaterEqual(len(runs), 3)
        for e in presses + runs:
            self.assertIn(e["id"], pre, "no pre-action frame for %s" % e)
            self.assertLessEqual(pre[e["id"]]["t_ns"], e["t_ns"], e)
        # Keys inside a run have none of their own.
        firsts = {e["id"] for e in runs}
        for e in ev:
            if e["kind"] == "key_press" and e["id"] not in firsts:
                self.assertNotIn(e["id"], pre)
        # The fields documented in docs/FRAMES.md, and files that exist.
        for f in fr:
            for k in ("id", "t_ns", "offset_ns", "trigger", "event", "file", "format", "width",
                      "height", "bytes", "damage", "base", "patch", "cursor"):
                self.assertIn(k, f)
            self.assertEqual((f["width"], f["height"]), (1024, 768))
            self.assertIn(f["trigger"], ("pre", "settle", "focus", "idle"))
            self.assertTrue(os.path.isfile(f["file"]), f)
            self.assertEqual(os.path.getsize(f["file"]), f["bytes"])
            self.assertEqual(os.stat(f["file"]).st_mode & 0o777, 0o600)
        self.assertIn("settle", [f["trigger"] for f in fr])
        # The session records the settings and the monitors.
        s = self.m.sessions()[-1]
        self.assertEqual(s["config"]["frames"]["typing_pause_ms"], 400)
        self.assertEqual(s["monitors"][0]["width"], 1024)

    def test_frame_before_a_click_shows_the_screen_before_its_effect(self):
        env = dict(self.x.env)
        env["NO_AT_BRIDGE"] = "1"
        dialog = subprocess.Popen(
            ["dbus-run-session", "--", "zenity", "--info", "--title", "mimicdialog",
             "--text", "Click OK", "--width", "300"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def find():
                return self.x.run(["xdotool", "search", "--onlyvisible", "--name",
                                   "mimicdialog"], check=False).split()
            wid = xenv.wait_for(find, timeout=20, what="the zenity dialog")[-1]
            g = dict(l.split("=") for l in self.x.xdotool("getwindowgeometry", "--shell",
                                                          wid).split())
            # OK sits in the bottom right corner (xdotool's y is off by openbox's title bar).
            bx = int(g["X"]) + int(g["WIDTH"]) - 51
            by = int(g["Y"]) + int(g["HEIGHT"]) - 45
            self.m.start()
            self.x.xdotool("mousemove", str(bx), str(by))
            time.sleep(0.8)                  # the button lights up under the pointer
            self.x.xdotool("click", "1")
            xenv.wait_for(lambda: not find(), timeout=10, what="the dialog to close")
            self.wait_quiet("the frame after the click")
            self.assertEqual(self.m.stop(), 0, self.m.stderr())
        finally:
            if dialog.poll() is None:
                dialog.terminate()
            dialog.wait(timeout=10)
        press = [e for e in self.m.events() if e["kind"] == "button_press"][-1]
        fr = self.frames()
        pre = [f for f in fr if f["trigger"] == "pre" and f["event"] == press["id"]]
        self.assertEqual(len(pre), 1, fr)
        self.assertLessEqual(pre[0]["t_ns"], press["t_ns"])
        after = [f for f in fr if f["trigger"] in ("settle", "focus") and
                 f["t_ns"] > press["t_ns"]]
        self.assertTrue(after, fr)
        before_img = self.png(pre[0]["id"], "before.png")
        after_img = self.png(after[-1]["id"], "after.png")
        # Left of and above the pointer, so that the cursor drawn in does not count.
        box = (bx - 30, by - 10, bx - 8, by - 3)
        before = mean_colour(before_img, *box)
        later = mean_colour(after_img, *box)
        self.assertFalse(close_to(before, BACKGROUND, 40), "the dialog is missing: %s" %
                         (before,))
        self.assertGreater(min(before), 150, before)   # the light grey button
        # Where the dialog was, the background shows: out of scope, so masked.
        self.assertTrue(close_to(later, MASKED, 12), "the dialog is still there: %s" %
                        (later,))

    def test_idle_screen_produces_no_frames(self):
        time.sleep(0.5)
        self.m.start()
        time.sleep(3)
        st = self.m.status()["frames"]
        self.assertEqual(st["stored"], 0, st)
        self.assertEqual(st["grabs"], 1, st)          # the one at the start, kept in memory
        self.assertIsNone(st["error"])
        self.assertEqual(self.m.stop(), 0)
        self.assertEqual(self.frames(), [])

    def test_keep_rectangle_leaves_the_rest_flat(self):
        conf = self.config("keep = 96,64,320,240\nmask_color = #00ff00\nformat = jpeg\n")
        self.m.start("--config", conf)
        self.x.xdotool("mousemove", "150", "100", "click", "1")
        xenv.wait_for(lambda: self.stored() >= 1, what="a frame")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        fr = self.frames()[0]
        w, h, bpp, rows = img = self.png(fr["id"], "masked.png")
        self.assertEqual((w, h), (1024, 768))
        margin = 8   # JPEG rings next to the rectangle's edges
        bad = 0
        for y in range(h):
            row = rows[y]
            near_y = 64 - margin <= y < 64 + 240 + margin
            for x in range(0, w):
                if near_y and 96 - margin <= x < 96 + 320 + margin:
                    continue
                r, g, b = row[x * bpp], row[x * bpp + 1], row[x * bpp + 2]
                if r > 8 or g < 247 or b > 8:
                    bad += 1
        self.assertEqual(bad, 0)
        # Inside, the terminal's text: not flat.
        inside = {pixel(img, x, y) for y in range(70, 290, 3) for x in range(100, 400, 3)}
        self.assertGreater(len(inside), 5)

    def test_patched_frame_decodes_to_the_same_screen_as_a_full_frame(self):
        self.m.start()
        self.x.xdotool("type", "--delay", "30", "echo patches")
        self.wait_quiet("the settle frame")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        last = self.frames()[-1]
        self.assertIsNotNone(last["base"], "expected a patch: %s" % last)
        self.assertTrue(last["patch"])
        patched = self.png(last["id"], "patched.png")
        # The same screen again, this time as one full frame (Shift types nothing).
        conf = self.config("patches = false\n")
        self.m.start("--config", conf)
        self.x.xdotool("key", "shift")
        xenv.wait_for(lambda: self.stored() >= 1, what="a frame")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        full_f = self.frames()[0]
        self.assertIsNone(full_f["base"])
        full = self.png(full_f["id"], "full.png")
        # The terminal (in scope): the same pixels in both, and not a flat area.
        wx, wy, ww, wh = self.geometry(self.term)
        diff, n, seen = 0, 0, set()
        for y in range(wy, wy + wh):
            for x in range(wx, wx + ww, 3):
                p, q = pixel(patched, x, y), pixel(full, x, y)
                diff += sum(abs(a - b) for a, b in zip(p, q))
                n += 3
                seen.add(p)
        self.assertLess(diff / n, 3.0)
        self.assertGreater(len(seen), 5, "the terminal is not in the frame")
        # Where the text was typed, both show it the same.
        self.assertLess(sum(abs(p - q) for p, q in zip(mean_colour(patched, 0, 0, 400, 120),
                                                      mean_colour(full, 0, 0, 400, 120))), 6)
        # Everywhere else (the desktop, out of scope) both are the mask colour, but for
        # the pointer drawn in.
        for img, f in ((patched, last), (full, full_f)):
            cx, cy = f["cursor"]["x"], f["cursor"]["y"]
            shown = [(x, y) for y in range(0, 768, 2) for x in range(0, 1024, 2)
                     if not (wx <= x < wx + ww and wy <= y < wy + wh) and
                     not (cx - 4 <= x < cx + 40 and cy - 4 <= y < cy + 40) and
                     max(pixel(img, x, y)) > 16]
            self.assertEqual(shown[:10], [], "frame %d shows pixels outside the terminal"
                             % f["id"])

    def test_removed_frames_directory_stops_frames_not_recording(self):
        self.m.start()
        self.x.xdotool("mousemove", "100", "60", "click", "1")
        xenv.wait_for(lambda: self.stored() >= 1, what="a first frame")
        shutil.rmtree(os.path.join(self.m.data_dir, "frames"))
        self.x.xdotool("type", "--delay", "20", "ls")
        self.x.xdotool("key", "Return")
        xenv.wait_for(lambda: self.m.status()["frames"]["error"], timeout=15,
                      what="a frames error in the status")
        err = self.m.status()["frames"]["error"]
        self.assertIn(os.path.join(self.m.data_dir, "frames"), err)
        text = self.m.run("status").stdout
        self.assertIn("frames", text)
        self.assertIn(err, text)
        self.x.xdotool("type", "--delay", "20", "still here")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        self.assertIn("still here", xenv.typed_text(self.m.events()))
        logs = [l for l in self.m.stderr().splitlines() if "frame storage stopped" in l]
        self.assertEqual(len(logs), 1, self.m.stderr())
        # What was stored before the error is still listed.
        self.assertGreaterEqual(len(self.frames()), 1)
        self.x.xdotool("key", "ctrl+u")


    def test_full_disk_stops_frames_not_recording(self):
        frames_dir = os.path.join(self.m.data_dir, "frames")
        os.makedirs(frames_dir, 0o700)
        # A 48 KiB file system for the frames only (the database stays on the real disk).
        # Mounting needs root, as CI runs; elsewhere this is a skip, and in CI a failure
        # (xenv.main).
        xenv.need_tools(self, "mount", "umount")
        if os.geteuid() != 0:
            self.skipTest("mounting the small tmpfs this test fills needs root (CI runs as root)")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k,mode=0700", "tmpfs",
                            frames_dir], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a small tmpfs here: %s" % r.stderr.strip())
        try:
            conf = self.config("patches = false\nformat = jpeg\nquality = 95\n")
            self.m.start("--config", conf)
            for i in range(6):
                self.x.xdotool("type", "--delay", "10", "fill%d" % i)
                self.x.xdotool("mousemove", str(100 + 10 * i), "60", "click", "1")
                # Each click stored (its frame taken or refused) before the next.
                xenv.wait_for(lambda: len([e for e in self.m.events()
                                           if e["kind"] == "button_release"]) > i,
                              timeout=20, what="click %d in mimic events" % i)
            xenv.wait_for(lambda: self.m.status()["frames"]["error"], timeout=15,
                          what="a frames error in the status")
            err = self.m.status()["frames"]["error"]
            self.assertIn("No space left", err)
            self.assertIn(frames_dir, err)
            self.x.xdotool("type", "--delay", "20", "after full")
            self.assertEqual(self.m.stop(), 0, self.m.stderr())
            self.assertIn("after full", xenv.typed_text(self.m.events()))
            fr = self.frames()
            self.assertGreaterEqual(len(fr), 1)
            for f in fr:
                self.assertTrue(os.path.isfile(f["file"]), f)
        finally:
            subprocess.run(["umount", frames_dir], capture_output=True)
        self.x.xdotool("key", "ctrl+u")

    def test_focus_change_and_idle_screen_each_take_their_frame(self):
        # A second terminal to move the focus to, and a third whose text changes by
        # itself, without input: the screen changes while nothing is done.
        term2 = subprocess.Popen(["xterm", "-name", "frameterm2", "-T", "second terminal",
                                  "-geometry", "40x5+0+420"], env=self.x.env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def close():
            term2.terminate()
            term2.wait(timeout=10)
        self.addCleanup(close)
        other = xenv.wait_for(lambda: self.x.run(["xdotool", "search", "--onlyvisible",
                                                  "--classname", "frameterm2"],
                                                 check=False).split(),
                              what="the second terminal")[-1]
        self.x.focus(self.term)
        self.m.start("--config", self.config("idle_ms = 1000\n"))
        xenv.wait_for(lambda: self.m.status()["frames"]["grabs"] >= 1, what="the first grab")
        # The focus moves (no click, no key): a frame with the trigger `focus` for it.
        self.x.focus(other)
        focus = xenv.wait_for(lambda: [e for e in self.m.events() if e["kind"] == "focus" and
                                       e["window"]["wm_instance"] == "frameterm2"],
                              timeout=20, what="the focus event")[-1]
        fr = xenv.wait_for(lambda: [f for f in self.frames() if f["trigger"] == "focus" and
                                    f["event"] == focus["id"]], timeout=20,
                           what="the frame of the focus change")
        self.assertEqual(len(fr), 1, self.frames())
        ticker = subprocess.Popen(
            ["xterm", "-name", "frameticker", "-T", "ticker", "-geometry", "30x3+600+420",
             "-e", "sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2; done"],
            env=self.x.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            tw = xenv.wait_for(lambda: self.x.run(["xdotool", "search", "--onlyvisible",
                                                   "--classname", "frameticker"],
                                                  check=False).split(),
                               what="the ticking terminal")[-1]
            tg = self.geometry(tw)
            idle = xenv.wait_for(lambda: [f for f in self.frames() if f["trigger"] == "idle"],
                                 timeout=30, interval=0.2, what="an idle frame")
            self.assertEqual(self.m.stop(), 0, self.m.stderr())
        finally:
            ticker.terminate()
            ticker.wait(timeout=10)
        fr = self.frames()
        ev = self.m.events()
        # Each idle frame: no event of its own, and what changed is the ticking text.
        for f in idle:
            self.assertIsNone(f["event"], f)
            dx, dy, dw, dh = f["damage"]
            self.assertTrue(dw > 0 and dh > 0 and dx < tg[0] + tg[2] and tg[0] < dx + dw and
                            dy < tg[1] + tg[3] and tg[1] < dy + dh,
                            "idle frame %s, ticking terminal at %s" % (f, tg))
        # No input came before the first of them (after the focus change): the screen
        # changing by itself made it.
        actions = [e for e in ev if e["kind"] in ("button_press", "key_press", "scroll")]
        self.assertEqual([e for e in actions if e["t_ns"] < idle[0]["t_ns"]], [], actions)
        self.assertEqual(self.m.sessions()[-1]["config"]["frames"]["idle_ms"], 1000)

    def test_no_frames_option(self):
        self.m.start("--no-frames")
        self.x.xdotool("mousemove", "100", "60", "click", "1")
        time.sleep(0.5)
        st = self.m.status()["frames"]
        self.assertFalse(st["enabled"])
        self.assertEqual(st["stored"], 0)
        self.assertIn("frames:   off", self.m.run("status").stdout)
        self.assertEqual(self.m.stop(), 0)
        self.assertEqual(self.frames(), [])
        self.assertFalse(os.path.exists(os.path.join(self.m.data_dir, "frames")))
        self.assertFalse(self.m.sessions()[-1]["config"]["frames"]["enabled"])

    def test_background_scan_runs_in_its_own_process(self):
        def scanners():
            found = []
            for d in os.listdir("/proc"):
                if not d.isdigit():
                    continue
                try:
                    with open("/proc/%s/cmdline" % d, "rb") as f:
                        argv = f.read().split(b"\0")
                except OSError:
                    continue
                if b"scan-worker" in argv and self.m.data_dir.encode() in argv:
                    found.append(int(d))
            return found

        def maps(pid):
            with open("/proc/%d/maps" % pid) as f:
                return f.read()

        # Off by default: no scanner, and the recorder never loads Tesseract.
        self.m.start()
        time.sleep(0.5)
        self.assertEqual(scanners(), [])
        self.assertNotIn("libtesseract", maps(self.m.rec.pid))
        self.assertEqual(self.m.stop(), 0)
        self.assertFalse(self.m.sessions()[-1]["config"]["frames"]["scan_while_recording"])

        self.m.start("--config", self.config("scan_while_recording = true\n"))
        xenv.wait_for(lambda: len(scanners()) == 1, what="the scanner process")
        pid = scanners()[0]
        with open("/proc/%d/stat" % pid) as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        self.assertEqual(ppid, self.m.rec.pid)
        self.assertNotIn("libtesseract", maps(self.m.rec.pid))
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
        # It reads the recorder's policy.
        self.assertEqual(argv[argv.index(b"--policy") + 1], self.m.policy.encode())
        self.assertEqual(self.m.stop(), 0)
        self.assertEqual(scanners(), [])
        self.assertTrue(self.m.sessions()[-1]["config"]["frames"]["scan_while_recording"])

        # A policy that adds redaction rules: the scanner runs under it too, with them
        # (test_background_scan_applies_the_policy_rules).
        pol = self.rules_policy()
        self.m.start("--config", self.config("scan_while_recording = true\n"), "--policy", pol)
        xenv.wait_for(lambda: len(scanners()) == 1, what="the scanner under a policy with rules")
        with open("/proc/%d/cmdline" % scanners()[0], "rb") as f:
            argv = f.read().split(b"\0")
        self.assertEqual(argv[argv.index(b"--policy") + 1], pol.encode())
        self.assertEqual(self.m.stop(), 0)
        self.assertEqual(scanners(), [])
        # Rules it cannot read stop it with the reason (the export would refuse them too).
        os.unlink(os.path.join(self.tmp, "org.rules"))
        r = subprocess.run([self.data_exe(), "scan-worker", "--data-dir", self.m.data_dir,
                            "--session", "1", "--policy", pol], env=self.m.env,
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("org.rules", r.stderr)

    def rules_policy(self):
        """The test policy with [redaction] rules for employee ids (EMP-123456), high risk."""
        rules = os.path.join(self.tmp, "org.rules")
        with open(rules, "w") as f:
            f.write("employee_id  NATIONAL_ID  high  -  (?<![A-Z0-9])EMP-[0-9]{6}(?![0-9])\n")
        with open(self.m.policy) as f:
            base = f.read()
        pol = os.path.join(self.tmp, "policy-rules.conf")
        with open(pol, "w") as f:
            f.write(base + "[redaction]\nrules = %s\n" % rules)
        return pol

    def data_exe(self):
        return os.path.join(os.path.dirname(xenv.MIMIC), "mimic-data")

    def scans(self, session):
        """(id, scan, scan_reason, scan_rules) of every frame of session, from the store."""
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.m.data_dir, "mimic.db"),
                             uri=True)
        try:
            return db.execute("SELECT id, scan, scan_reason, scan_rules FROM frames "
                              "WHERE session = ? ORDER BY id", (session,)).fetchall()
        finally:
            db.close()

    def test_background_scan_applies_the_policy_rules(self):
        # An employee id shown on screen, never typed: only OCR of the frames finds it.
        term = subprocess.Popen(
            ["xterm", "-name", "idterm", "-T", "ids", "-fa", "DejaVu Sans Mono", "-fs", "14",
             "-geometry", "40x4+0+420", "-e", "sh", "-c", "echo staff EMP-123456; exec cat"],
            env=self.x.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wid = xenv.wait_for(lambda: self.x.run(["xdotool", "search", "--onlyvisible",
                                                    "--classname", "idterm"],
                                                   check=False).split(),
                                what="the id terminal")[-1]
            pol = self.rules_policy()
            self.m.start("--config", self.config("scan_while_recording = true\n"),
                         "--policy", pol)
            self.x.focus(wid)
            self.x.xdotool("mousemove", "100", "460", "click", "1")
            self.wait_quiet("the frames of the click")
            self.assertEqual(self.m.stop(), 0, self.m.stderr())
        finally:
            term.terminate()
            term.wait(timeout=10)
        session = self.m.sessions()[-1]["id"]
        rows = self.scans(session)
        self.assertGreater(len(rows), 0)
        # The recorder's scanner looks once a minute; the same command, every second here.
        worker = subprocess.Popen([self.data_exe(), "scan-worker", "--data-dir",
                                   self.m.data_dir, "--session", str(session), "--policy", pol,
                                   "--interval", "1"], env=self.m.env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            xenv.wait_for(lambda: all(r[1] != 0 for r in self.scans(session)), timeout=240,
                          interval=0.5, what="the background scan")
        finally:
            worker.terminate()
            _out, err = worker.communicate(timeout=30)
        self.assertEqual(worker.returncode, 0, err)
        rows = self.scans(session)
        # Every frame carries the fingerprint of one rule set, the policy's: 64 hex digits.
        rules = {r[3] for r in rows}
        self.assertEqual(len(rules), 1, rows)
        fp = rules.pop()
        self.assertRegex(fp, "^[0-9a-f]{64}$")
        # The organisation's rule found the id in the pixels: those frames are kept with
        # it filled (scrubbed), as every high-risk finding that is found whole is
        # (docs/REDACTION.md), not passed as clean.
        filled = [r for r in rows if r[1] == 2]
        self.assertGreater(len(filled), 0, rows)
        # The control: an export with the built-in rules only scans them again (another
        # fingerprint), and finds nothing else on screen: they are clean.
        out = os.path.join(self.tmp, "export-plain")
        self.m.run("export", str(session), "--format", "jsonl", "--out", out, "--data-dir",
                   self.m.data_dir, "--policy", self.m.policy, data_dir=False, timeout=240)
        again = dict((r[0], r) for r in self.scans(session))
        for r in filled:
            self.assertNotEqual(again[r[0]][3], fp)
            self.assertRegex(again[r[0]][3], "^[0-9a-f]{64}$")
            self.assertEqual(again[r[0]][1], 1, again[r[0]])

    def test_bad_settings_file_is_refused(self):
        self.m.consent = False  # consent would create the database this test looks for
        conf = self.config("quality = 80\nquality = 800\n")
        r = self.m.run("record", "--config", conf, check=False)
        self.assertEqual(r.returncode, 1)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("mimic: %s:3: " % conf), lines[0])
        self.assertIn("already set on line 2", lines[0])
        r = self.m.run("record", "--config", os.path.join(self.tmp, "missing.conf"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing.conf", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.m.data_dir, "mimic.db")))


if __name__ == "__main__":
    xenv.main()
