"""Forgetting, retention and the audit log, as a person sees them.

A marker typed into xterm while recording must be in what a person can read back
of the data directory, decoded (the typed text of `mimic events` of every
session, an export's bytes), so that the search for it can fail; after `mimic
forget` no part of it is there any more, while the text typed to keep is. The
frames left after a forget are put back together with `mimic frame` and read
with mimic's OCR (the ocr_image helper): none shows the marker, which the same
OCR reads in a frame taken before the forget; and no frame file is left that no
frame names. The audit log records the deletion and `mimic audit --verify` names
the line someone changed.
"""

import json
import os
import random
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402

OCR_IMAGE = os.environ.get("MIMIC_OCR_IMAGE")

# Letters OCR does not confuse with each other (no i/l, o, rn/m, u/v/w, c/e).
LETTERS = "abdfghjkpqstxyz"


def new_marker(prefix="zq"):
    # Letters only: xdotool types them the same on any layout the tests set.
    return prefix + "".join(random.choice(LETTERS) for _ in range(10))


def pieces(marker):
    """The parts of the marker of which none may be left: itself and three slices."""
    return (marker, marker[:6], marker[-6:], marker[3:9])


def read_pieces(marker, seen):
    """The runs of five letters of marker that OCR read in a screen (seen).

    Tesseract may read one word on an almost empty screen as several lines in any
    order (`zqdxayszjxaf` as `jxaf fj jxa ysz zqdxa`), so a screen shows the marker
    when any five letters in a row of it are read: finer than pieces(), which the
    check for no trace needs, and still never read by chance (two markers share
    such a run with a chance of about 1 in 10,000 when their prefixes differ).
    """
    return sorted({marker[i:i + 5] for i in range(len(marker) - 4)} & {
        seen[i:i + 5] for i in range(len(seen) - 4)})


def files_under(path):
    return sorted(os.path.join(r, f) for r, _d, fs in os.walk(path) for f in fs)


class ForgetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer()
        # A large font, as on a real desktop: what OCR reads in a frame is what a
        # person looking at it would read.
        cls.x.spawn(["xterm", "-name", "forgetterm", "-T", "forget test terminal", "-fa",
                     "DejaVu Sans Mono", "-fs", "14", "-geometry", "60x10+0+0"])
        cls.term = xenv.wait_for(lambda: cls.x.run(["xdotool", "search", "--onlyvisible",
                                                    "--classname", "forgetterm"],
                                                   check=False).split(),
                                 what="xterm to map")[-1]

    @classmethod
    def tearDownClass(cls):
        cls.x.close()

    def setUp(self):
        self.m = xenv.Mimic(self.x)
        self.x.focus(self.term)

    def tearDown(self):
        # Leave the shell's line empty for the next test.
        self.x.xdotool("key", "ctrl+u")
        self.m.close()

    def type_and_wait(self, text):
        """Types text into xterm and waits until `mimic events` shows it (while recording)."""
        self.x.xdotool("type", "--delay", "10", text)
        xenv.wait_for(lambda: text in xenv.typed_text(self.m.events()), timeout=20,
                      what="the typed text in mimic events")

    def record_text(self, text, *args):
        self.m.start(*args)
        self.type_and_wait(text)
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        return self.m.sessions()[-1]["id"]

    def forget(self, *args):
        return self.m.run("forget", "--data-dir", self.m.data_dir, *args)

    def audit(self, *args, check=True):
        return self.m.run("audit", "--data-dir", self.m.data_dir, *args, check=check)

    def readable(self):
        """(typed text of every session, every byte of an export of every session).

        Key presses are stored one per event, so a typed word is only whole in the
        text they produce; frames are encrypted at rest, so the export is where
        their pixels and the steps' text can be read.
        """
        sessions = self.m.sessions()
        typed = "".join(xenv.typed_text(self.m.events(str(s["id"]))) for s in sessions)
        if not sessions:
            return typed, b""
        out = os.path.join(self.m.tmp, "export-%d" % time.monotonic_ns())
        self.m.run("export", "--all", "--format", "jsonl", "--out", out, "--data-dir",
                   self.m.data_dir, timeout=600)
        blobs = []
        for path in files_under(out):
            with open(path, "rb") as f:
                blobs.append(f.read())
        return typed, b"".join(blobs)

    def assert_readable(self, text):
        """The control: text is in the decoded events and in an export."""
        typed, exported = self.readable()
        self.assertIn(text, typed)
        self.assertIn(text.encode(), exported)

    def assert_no_trace(self, marker, kept=None):
        """No part of marker can be read back; kept, typed in scope too, can."""
        typed, exported = self.readable()
        if kept is not None:
            self.assertIn(kept, typed)
            self.assertIn(kept.encode(), exported)
        for p in pieces(marker):
            self.assertNotIn(p, typed)
            self.assertNotIn(p.encode(), exported)

    def ocr(self, frame_ids):
        """What mimic's OCR reads in the frames, put back together by `mimic frame`."""
        if OCR_IMAGE is None or not os.path.exists(OCR_IMAGE):
            xenv.need_tools(self, "tesseract")
        paths = []
        for i in frame_ids:
            path = os.path.join(self.m.tmp, "ocr-%d.png" % i)
            self.m.run("frame", "last", str(i), "-o", path, "--data-dir", self.m.data_dir)
            paths.append(path)
        if not paths:
            return ""
        texts = []
        if OCR_IMAGE is not None and os.path.exists(OCR_IMAGE):
            argvs = [[OCR_IMAGE, *paths]]
        else:
            argvs = [["tesseract", p, "-"] for p in paths]
        for argv in argvs:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                               env=dict(os.environ, OMP_THREAD_LIMIT="1"))
            if r.returncode != 0:
                raise AssertionError("%s failed: %s" % (argv[0], r.stderr))
            texts.append(r.stdout)
        # Blanks out: OCR may split a word.
        return re.sub(r"\s+", "", "".join(texts)).lower()

    def frames(self):
        out = self.m.run("frames", "last", "--data-dir", self.m.data_dir).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def wait_settled_after(self, t_ns):
        """Waits for a frame taken after t_ns (the screen once it settled) and returns it."""
        return xenv.wait_for(lambda: [f for f in self.frames() if f["t_ns"] > t_ns],
                             timeout=20, what="a frame after the typing")[-1]

    def assert_marker_shown(self, marker, t_ns):
        """Some frame taken after t_ns reads as showing marker (OCR)."""
        read = {}

        def shown():
            for f in self.frames():
                if f["t_ns"] > t_ns and f["id"] not in read:
                    read[f["id"]] = self.ocr([f["id"]])
                    if read_pieces(marker, read[f["id"]]):
                        return True
            return False
        try:
            xenv.wait_for(shown, timeout=30, interval=0.5, what="a frame showing the marker")
        except AssertionError:
            self.fail("OCR does not read %r in any frame after the typing: %r" % (marker, read))

    def last_key_ns(self):
        return [e for e in self.m.events() if e["kind"] == "key_press"][-1]["t_ns"]

    def test_forget_last_while_recording(self):
        marker = new_marker()
        self.m.start()
        # Blanks after each word keep the cursor block off it, which OCR reads as a letter.
        self.type_and_wait(marker + "  ")
        # The control: OCR reads the marker in a frame of the screen once it was typed.
        # The first frame after the last key may catch xterm half way through drawing
        # the line (seen under AddressSanitizer), so the frames taken after it are read
        # in turn until one shows the marker; without one, the check below is void.
        self.assert_marker_shown(marker, self.last_key_ns())
        # The screen no longer shows it (the line is emptied) before it is forgotten, so
        # that a frame taken after the forget cannot show it either.
        self.x.xdotool("key", "ctrl+u")
        xenv.wait_for(lambda: [e for e in self.m.events() if e["kind"] == "key_release" and
                               e["keysym"] == "Control_L"], timeout=20,
                      what="ctrl+u in mimic events")
        self.wait_settled_after(self.last_key_ns())
        r = self.forget("--last", "5m")
        self.assertIn("forgot the last 5m", r.stdout)
        # Recording goes on after the deletion, frames included.
        kept = new_marker("kx")
        self.type_and_wait(kept + "  ")
        self.wait_settled_after(self.last_key_ns())
        st = self.m.status()
        self.assertEqual(st["state"], "recording")
        self.assertIsNone(st["write_error"])
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        self.assert_no_trace(marker, kept=kept)
        self.assertTrue(os.path.getsize(os.path.join(self.m.data_dir, "mimic.db")) > 0)
        # Every frame left can still be shown (no patch lost the frame it goes over), and
        # none shows the marker.
        frames = self.frames()
        self.assertTrue(frames, "no frame after the forget")
        seen = self.ocr([f["id"] for f in frames])
        # The control for the check below, with its own sensitivity: a piece of the word
        # typed after the forget is read (OCR may split a word across the reading).
        self.assertTrue(read_pieces(kept, seen),
                        "OCR reads no piece of %r in the frames left: %r" % (kept, seen))
        self.assertEqual(read_pieces(marker, seen), [], seen)
        # No frame file is left that no frame names.
        named = sorted({f["file"] for f in frames})
        self.assertEqual(files_under(os.path.join(self.m.data_dir, "frames")), named)
        log = [json.loads(line) for line in self.audit("--json").stdout.splitlines()]
        forgets = [rec for rec in log if rec["what"] == "forget"]
        self.assertEqual(len(forgets), 1, log)
        self.assertEqual(forgets[0]["details"]["last_s"], 300)
        self.assertGreater(forgets[0]["details"]["events"], len(marker))
        self.assertEqual(self.audit("--verify").returncode, 0)

    def test_forget_session_without_recorder(self):
        marker = new_marker()
        gone = self.record_text(marker)
        self.assertIn(marker, xenv.typed_text(self.m.events(str(gone))))
        kept = self.record_text("keepme")
        self.assert_readable(marker)
        r = self.forget("--session", str(gone))
        self.assertIn("forgot session %d" % gone, r.stdout)
        ids = [s["id"] for s in self.m.sessions()]
        self.assertEqual(ids, [kept])
        self.assertIn("keepme", xenv.typed_text(self.m.events(str(kept))))
        self.assert_no_trace(marker, kept="keepme")
        r = self.m.run("events", str(gone), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no session", r.stderr)

    def test_forget_all(self):
        marker = new_marker()
        self.record_text(marker)
        self.record_text(marker[::-1])
        frames_dir = os.path.join(self.m.data_dir, "frames")
        # The controls: both can be read back, and frames were stored.
        self.assert_readable(marker)
        self.assert_readable(marker[::-1])
        self.assertTrue(files_under(frames_dir))
        r = self.forget("--all")
        self.assertIn("2 sessions", r.stdout)
        self.assertEqual(self.m.sessions(), [])
        self.assert_no_trace(marker)
        self.assert_no_trace(marker[::-1])
        self.assertEqual(files_under(frames_dir), [])
        self.assertEqual(os.path.getsize(os.path.join(self.m.data_dir, "mimic.db-wal"))
                         if os.path.exists(os.path.join(self.m.data_dir, "mimic.db-wal"))
                         else 0, 0)

    def test_retention_by_size_at_start(self):
        marker = new_marker()
        self.record_text(marker, "--session-name", "old")
        self.assert_readable(marker)
        conf = os.path.join(self.m.tmp, "tiny.conf")
        with open(conf, "w") as f:
            f.write("[retention]\nmax_size = 1K\n")
        self.m.start("--config", conf, "--session-name", "new")
        self.type_and_wait("fresh")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        self.assertEqual([s["name"] for s in self.m.sessions()], ["new"])
        self.assert_no_trace(marker, kept="fresh")
        log = [json.loads(line) for line in self.audit("--json").stdout.splitlines()]
        ret = [rec for rec in log if rec["what"] == "retention"]
        self.assertTrue(ret, log)
        self.assertGreaterEqual(ret[0]["details"]["sessions"], 1)
        self.assertEqual(ret[0]["details"]["max_bytes"], 1000)

    def test_tampered_audit_log_fails_verify(self):
        self.m.start()
        self.m.run("pause")
        self.m.run("resume")
        self.m.run("pause", "--for", "1h")
        self.m.run("resume")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        self.assertEqual(self.audit("--verify").returncode, 0)
        human = self.audit().stdout
        self.assertIn("pause", human)
        self.assertIn("for_s=3600", human)
        path = os.path.join(self.m.data_dir, "audit.log")
        with open(path) as f:
            lines = f.read().splitlines()
        # The consent given before recording (xenv), then two pauses and resumes.
        self.assertEqual(len(lines), 5)
        self.assertIn('"consent"', lines[0])
        # Someone hides that the recording was paused for an hour.
        lines[3] = lines[3].replace('"for_s":3600', '"for_s":60')
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = self.audit("--verify", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 4", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        # Removing a line breaks the chain at the line after it.
        with open(path, "w") as f:
            f.write("\n".join(lines[:2] + lines[3:]) + "\n")
        r = self.audit("--verify", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 3", r.stderr)

    def test_wrong_key_is_one_line(self):
        self.record_text("secret")
        keys = os.path.join(self.m.env["XDG_CONFIG_HOME"], "mimic", "keys")
        (name,) = os.listdir(keys)
        self.assertEqual(os.stat(os.path.join(keys, name)).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(self.m.data_dir).st_mode & 0o777, 0o700)
        with open(os.path.join(keys, name), "w") as f:
            f.write("ab" * 32 + "\n")
        r = self.m.run("events", "last", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("key", r.stderr)
        os.remove(os.path.join(keys, name))
        r = self.m.run("events", "last", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing", r.stderr)


if __name__ == "__main__":
    xenv.main()
