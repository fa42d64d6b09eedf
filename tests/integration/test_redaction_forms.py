"""Redaction on real GTK screens (issue 14): a form with narrow entries and a text view.

Under Xvfb + openbox, records a zenity form (GTK3) whose entries are narrower than
what is typed into them: an e-mail address, whose start scrolls out of view, and a
Luhn-valid card number typed in an unusual grouping (four digits, eight, four).
Then a zenity text view (GTK3 GtkTextView) in which the same address and card are
typed on lines of their own. After each, a pause longer than the typing window
(docs/REDACTION.md), then a key that changes the screen, so that frames showing the
values are taken that only pixel redaction can keep out of the export. Then exports
the session as JSON Lines and checks what a person receiving it would see:

- no exported file holds the address, its domain, or the card's digits (with the
  typed grouping or none); the typed steps carry <EMAIL> and <CARD>, and no step's
  text holds a run of the card's digits;
- mimic's OCR (the ocr_image helper) of every exported image reads neither the
  domain of the address nor the card's digits, while the same OCR reads both in the
  unredacted frames of the same screens (`mimic frame`): the check can fail;
- the frames that show the card after its typing window are kept with the card
  filled (scan state scrubbed), not dropped whole.

FieldLabelsTest: a form whose fields are labelled Name, Address, Date of birth, an
organisation's own label and City, recorded with UI elements and exported with a
rules file that adds that label: the labelled fields' text is <FIELD:label> and
their pixels are filled, City's text and pixels are kept (docs/REDACTION.md,
"Sensitive field labels").
"""

import json
import os
import re
import shutil
import sqlite3
import struct
import sys
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402
from test_frames import read_png, pixel  # noqa: E402
from test_redaction import ocr  # noqa: E402

OCR_IMAGE = os.environ.get("MIMIC_OCR_IMAGE")

EMAIL = "alice.smith.longname@example.com"
CARD = "4111 11111111 1111"           # Luhn-valid Visa, grouped 4-8-4
DIGITS = CARD.replace(" ", "")
SECRETS = [EMAIL, "example.com", CARD, DIGITS, "11111111", "4111 1111"]


def squeeze(text):
    """Text without blanks, with the usual OCR confusions of digits undone."""
    return re.sub(r"\s+", "", text).replace("l", "1").replace("I", "1").replace("|", "1")


def have_tools():
    return OCR_IMAGE and all(shutil.which(t) for t in ("Xvfb", "openbox", "xdotool", "zenity"))


class FormRecording(unittest.TestCase):
    """What both cases share: a recorder on an X server with zenity forms on it.

    setUpClass makes the X server and the recorder (setup_x and mimic_env may change
    them), runs record() and tears everything down if it fails.
    """
    bus = None

    @classmethod
    def setup_x(cls):
        pass

    @classmethod
    def mimic_env(cls):
        return None

    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer(size="900x500x24")
        cls.apps = []
        cls.m = None
        try:
            cls.setup_x()
            cls.m = xenv.Mimic(cls.x, env=cls.mimic_env())
            cls.record()
        except BaseException:
            cls.cleanup()
            raise

    @classmethod
    def cleanup(cls):
        for p in cls.apps:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        if cls.m is not None:
            cls.m.close()
        cls.x.close()
        if cls.bus is not None:
            cls.bus.close()

    @classmethod
    def tearDownClass(cls):
        cls.cleanup()

    @classmethod
    def window(cls, title):
        return xenv.wait_for(lambda: cls.x.run(["xdotool", "search", "--onlyvisible", "--name",
                                                "^%s$" % title], check=False).split(),
                             timeout=30, what="the %s window to map" % title)[-1]

    @classmethod
    def frames(cls, session="last"):
        out = cls.m.run("frames", session, "--data-dir", cls.m.data_dir).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    @classmethod
    def frames_quiet(cls):
        """Waits until no frame was stored for a second."""
        seen = [len(cls.frames()), time.monotonic()]

        def quiet():
            n = len(cls.frames())
            if n != seen[0]:
                seen[:] = [n, time.monotonic()]
            return time.monotonic() - seen[1] >= 1.0
        xenv.wait_for(quiet, timeout=30, interval=0.2, what="the frames to stop coming")

    @classmethod
    def tab_and_back(cls, after_ns):
        """Tab, then shift+Tab once the screen has settled; returns the "pre" frame of
        the key back: the screen as it stays after the Tab.

        The Tab must be stored first, and a typing pause (1 s) must pass after it: only
        then is the key back the first of a new run, the kind of key that takes a "pre"
        frame. On a loaded machine the recorder may handle the Tab late.
        """
        m = cls.m
        cls.x.xdotool("key", "Tab")
        tab = xenv.wait_for(lambda: [e for e in m.events() if e["kind"] == "key_press" and
                                     e["keysym"] == "Tab" and e["t_ns"] > after_ns],
                            timeout=30, what="the Tab to be stored")[-1]
        xenv.wait_for(lambda: [f for f in cls.frames() if (f.get("event") or 0) >= tab["id"] or
                               f["t_ns"] > tab["t_ns"]],
                      timeout=30, what="a frame of the Tab")
        cls.frames_quiet()
        xenv.wait_for(lambda: time.monotonic_ns() - tab["t_ns"] > 1_500_000_000,
                      timeout=15, what="a typing pause after the Tab")
        last = max(f["id"] for f in cls.frames())
        cls.x.xdotool("key", "shift+Tab")

        def pre_frame():
            return [f for f in cls.frames() if f["id"] > last and f["trigger"] == "pre"]
        try:
            return xenv.wait_for(pre_frame, timeout=60, what="the frame before the key back")[0]
        except AssertionError as e:
            # What the recorder made of the key, for the one who reads the failure.
            keys = [(ev["id"], ev["t_ns"], ev["keysym"]) for ev in m.events()
                    if ev["kind"] == "key_press" and ev["t_ns"] >= tab["t_ns"]]
            later = [(f["id"], f["t_ns"], f["trigger"], f.get("event"))
                     for f in cls.frames() if f["id"] > last - 3]
            raise AssertionError("%s; keys since the Tab %r; frames %r; status %r" % (
                e, keys, later, m.status().get("frames"))) from None


@unittest.skipUnless(have_tools(), "needs Xvfb, openbox, xdotool, zenity and the ocr_image helper")
class RedactionFormsTest(FormRecording):
    @classmethod
    def past_typing_window(cls, last):
        """Waits until frames no longer count as taken while last's run was typed."""
        xenv.wait_for(lambda: time.monotonic_ns() - last["t_ns"] > 3_500_000_000,
                      timeout=15, what="the end of the typing window")

    @classmethod
    def record(cls):
        x, m = cls.x, cls.m
        # The form: the dialog is narrow, so are its entries (about 20 characters).
        form = x.spawn(["zenity", "--forms", "--title=Payment", "--text=Payment details",
                        "--add-entry=E-mail", "--add-entry=Card number", "--width=260"])
        cls.apps.append(form)
        wid = cls.window("Payment")
        x.focus(wid)
        m.start()
        xenv.wait_for(lambda: m.status()["frames"]["grabs"] >= 1, what="the first grab")
        # The first entry has the focus when the form opens.
        x.xdotool("type", "--delay", "60", EMAIL)
        x.xdotool("key", "Tab")
        # The card in two pieces with a pause shorter than the reducer's (1 s): one typed
        # step, and the screen settles in the pause, so a frame is taken while the card is
        # half typed. That frame is the step's own (no step before it shows it).
        x.xdotool("type", "--delay", "60", CARD[:9])
        time.sleep(0.7)
        x.xdotool("type", "--delay", "60", CARD[9:])
        last, _ = cls.m.settled(CARD)
        cls.form_card_end = last["t_ns"]
        cls.past_typing_window(last)
        # A key that changes the screen (the focus moves on to the next widget): its
        # frames show both entries, and only their pixels can keep them out. Once the
        # screen has settled (a slow recorder stores the key's frames one by one), one
        # key back: the frame taken right before it ("pre") is the form as it stays, and
        # the screen before that key's step in the export, whichever frames the window
        # opened next brings.
        cls.form_frame = cls.tab_and_back(cls.form_card_end)
        assert cls.form_frame["t_ns"] > cls.form_card_end + 3_500_000_000
        # The text view, over the form.
        view = x.spawn(["zenity", "--text-info", "--editable", "--title=Notes",
                        "--width=640", "--height=240"])
        cls.apps.append(view)
        cls.view_start = time.monotonic_ns()
        wid = cls.window("Notes")
        x.focus(wid)
        x.xdotool("click", "--window", wid, "1")
        x.xdotool("type", "--delay", "60", "mail " + EMAIL)
        x.xdotool("key", "Return")
        x.xdotool("type", "--delay", "60", "card " + CARD)
        last, _ = cls.m.settled("card " + CARD)
        cls.past_typing_window(last)
        x.xdotool("key", "Return")
        x.xdotool("type", "--delay", "60", "done")
        _, cls.view_frame = cls.m.settled("done")
        m.stop()
        cls.session = str(m.sessions()[-1]["id"])

    def export(self):
        out = os.path.join(self.m.tmp, "export-jsonl")
        if not os.path.exists(out):
            self.m.run("export", self.session, "--format", "jsonl", "--out", out,
                       "--data-dir", self.m.data_dir, timeout=900)
        return out

    def files(self, out):
        for root, _dirs, names in os.walk(out):
            for n in names:
                yield os.path.join(root, n)

    def raw(self, frame, name):
        path = os.path.join(self.m.tmp, name)
        self.m.run("frame", self.session, str(frame["id"]), "-o", path,
                   "--data-dir", self.m.data_dir)
        return path

    def test_no_bytes_and_placeholders(self):
        out = self.export()
        n = 0
        for path in self.files(out):
            with open(path, "rb") as f:
                data = f.read()
            n += 1
            for s in SECRETS:
                self.assertNotIn(s.encode(), data, "%s holds %r" % (path, s))
        self.assertGreater(n, 1)
        with open(os.path.join(out, "steps.jsonl")) as f:
            steps = [json.loads(line) for line in f if line.strip()]
        typed = [s["action"]["text"] for s in steps if s["kind"] == "type"]
        joined = "\n".join(typed)
        self.assertIn("<EMAIL>", joined)
        self.assertIn("<CARD>", joined)
        # No piece of the card's digits in any typed step, whatever its grouping.
        for t in typed:
            self.assertIsNone(re.search(r"[0-9][0-9 -]*[0-9]{2}", t.replace("<CARD>", "")),
                              "typed step holds digits: %r" % t)

    def test_images_unreadable(self):
        out = self.export()
        images = list(self.files(os.path.join(out, "images")))
        self.assertGreater(len(images), 0)
        text = squeeze(ocr(images))
        for s in ("example.com", "@example", DIGITS, "11111111", "41111"):
            self.assertNotIn(squeeze(s), text)

    def test_ocr_reads_the_unredacted_frames(self):
        # The control: the same OCR reads the address's domain and the card's digits
        # in the stored, unredacted frames of the form and of the text view.
        form = squeeze(ocr([self.raw(self.form_frame, "raw-form.png")]))
        self.assertIn(squeeze("@example.com"), form)
        self.assertIn("11111111", form)
        view = squeeze(ocr([self.raw(self.view_frame, "raw-view.png")]))
        self.assertIn(squeeze(EMAIL), view)
        self.assertIn(squeeze(CARD), view)

    def test_typed_fields_masked(self):
        # The entries flagged text was typed into are filled whole (their bounds, from
        # the element the typing went to) in the exported image of the form taken
        # after the card's typing window, whatever OCR read in them.
        out = self.export()
        with open(os.path.join(out, "steps.jsonl")) as f:
            steps = [json.loads(line) for line in f if line.strip()]
        fields = [s["element"]["bounds"] for s in steps if s["kind"] == "type" and
                  s["window_title"] == "Payment" and s.get("element")]
        self.assertEqual(len(fields), 2, "the two entries typed into")
        shown = [s["images"][k] for s in steps for k in ("pre", "post")
                 if s["frames"][k] == self.form_frame["id"] and s["images"][k]]
        self.assertTrue(shown, "the form's frame after the typing window is exported")
        img = read_png(os.path.join(out, shown[0]))
        w, h = img[0], img[1]
        for bx, by, bw, bh in fields:
            self.assertTrue(bw > 0 and bh > 0 and bx + bw <= w and by + bh <= h)
            lit = sum(1 for y in range(by, by + bh) for x in range(bx, bx + bw)
                      if pixel(img, x, y) != (0, 0, 0))
            self.assertEqual(lit, 0, "field %r has %d unfilled pixels" % ((bx, by, bw, bh), lit))

    def test_card_typing_step_keeps_its_frames(self):
        # The step that typed the card into the form's entry keeps its screens (before
        # the typing, they show the entry empty), since the typed text is masked where it
        # went. The frames taken in the card's typing window (until 2.5 s after its last
        # key) are kept with the entry filled, and so are the images made of them.
        out = self.export()
        with open(os.path.join(out, "steps.jsonl")) as f:
            steps = [json.loads(line) for line in f if line.strip()]
        # Its label says what it holds: the text is the field's placeholder.
        card = [s for s in steps if s["kind"] == "type" and s["window_title"] == "Payment" and
                s["action"]["text"] == "<FIELD:Card number>"]
        self.assertEqual(len(card), 1, [s["action"]["text"] for s in steps
                                        if s["kind"] == "type"])
        step = card[0]
        bx, by, bw, bh = step["element"]["bounds"]
        self.assertTrue(bw > 0 and bh > 0)
        for k in ("pre", "post"):
            self.assertTrue(step["images"][k], "the card's step lost its %s image: %r"
                            % (k, step["images"]))
        # Its post frame was taken while the card was half typed: the step's own.
        self.assertGreater(step["frames"]["post"], step["frames"]["pre"], step["frames"])
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.m.data_dir, "mimic.db"),
                             uri=True)
        rows = db.execute("SELECT id, scan, scan_reason FROM frames WHERE session = ? AND "
                          "id > ? AND t_ns <= ?",
                          (int(self.session), step["frames"]["pre"],
                           self.form_card_end + 2_500_000_000)).fetchall()
        db.close()
        self.assertTrue(rows, "frames taken in the card's typing window")
        self.assertEqual([r for r in rows if r[1] != 2], [],
                         "frames of the card's typing window not kept filled")
        # The images of the steps from the card's to the form's frame after the window
        # (the screen before the next key) show the entry filled.
        ids = {r[0] for r in rows}
        shown = {s["images"][k] for s in steps for k in ("pre", "post")
                 if s["frames"][k] is not None and s["images"][k] and
                 (s["frames"][k] in ids or
                  step["frames"]["pre"] < s["frames"][k] <= self.form_frame["id"])}
        self.assertTrue(shown, "no image of the form after the card's typing: %r" % rows)
        for name in sorted(shown):
            img = read_png(os.path.join(out, name))
            lit = sum(1 for y in range(by, by + bh) for x in range(bx, bx + bw)
                      if pixel(img, x, y) != (0, 0, 0))
            self.assertEqual(lit, 0, "the card's entry has %d unfilled pixels in %s"
                             % (lit, name))
        # The dataset card says how many frames were kept filled and how many dropped.
        with open(os.path.join(out, "README.md")) as f:
            card = f.read()
        filled = re.search(r"^\| frames kept with personal data or secrets filled \(black "
                           r"boxes\) \| (\d+) \|$", card, re.M)
        dropped = re.search(r"^\| frames dropped by redaction \| (\d+) \|$", card, re.M)
        self.assertTrue(filled and dropped, card)
        self.assertGreaterEqual(int(filled.group(1)), len(shown), card)

    def test_frames_with_the_card_kept_filled(self):
        self.export()  # scans the session
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.m.data_dir, "mimic.db"),
                             uri=True)
        rows = db.execute("SELECT id, t_ns, scan, scan_reason FROM frames WHERE session = ?",
                          (int(self.session),)).fetchall()
        db.close()
        self.assertNotIn(0, [r[2] for r in rows], "a frame was left unscanned")
        # The frames of the filled form after the card's typing window, and the last
        # one of the text view: kept with their findings filled (2), not dropped (3).
        shown = [r for r in rows if r[0] in (self.form_frame["id"], self.view_frame["id"])]
        self.assertEqual(len(shown), 2, rows)
        for r in shown:
            self.assertEqual(r[2], 2, "frame %d showing the card: %r" % (r[0], r))


# The labelled form: the fields whose labels say what they hold (docs/REDACTION.md,
# "Sensitive field labels"), one whose label an organisation adds with a rules file,
# and a harmless one. None of the values is anything a detector finds.
LABELLED = [("Name", "Marguerite Vandenberg"), ("Address", "Wallaby Way"),
            ("Date of birth", "March Fourteenth"), ("Employee number", "Quokka")]
HARMLESS = ("City", "Lisbon")


def crop_2x(img, box, path, pad=4):
    """Writes box of img (read_png), padded, enlarged twice, to path as an RGB PNG."""
    w, h, bpp, rows = img
    x0, y0 = max(box[0] - pad, 0), max(box[1] - pad, 0)
    x1, y1 = min(box[0] + box[2] + pad, w), min(box[1] + box[3] + pad, h)
    raw = bytearray()
    for y in range(y0, y1):
        line = bytearray()
        for x in range(x0, x1):
            px = rows[y][x * bpp:x * bpp + 3]
            line += px + px
        raw += b"\0" + line + b"\0" + line
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" +
                chunk(b"IHDR", struct.pack(">IIBBBBB", 2 * (x1 - x0), 2 * (y1 - y0), 8, 2, 0,
                                           0, 0)) +
                chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))
    return path


def gi_tools():
    return have_tools() and shutil.which("dbus-daemon")


@unittest.skipUnless(gi_tools(), "needs Xvfb, openbox, xdotool, zenity, dbus-daemon and the "
                     "ocr_image helper")
class FieldLabelsTest(FormRecording):
    """A GTK form whose entries are labelled Name, Address, Date of birth, ..., and City.

    Recorded with UI elements (AT-SPI on a private session bus), so that each typing
    run carries the entry it went into and that entry's label; exported with a rules
    file that adds the label "employee number". What a person receiving the export
    sees: the text typed into the labelled fields is <FIELD:label> in the steps and
    in the pyautogui code, and no exported file holds it; the fields are filled in
    the exported image of the form, and OCR reads none of their values there, while
    City's value is still in its step and readable in the same image; the stored,
    unredacted frame shows all the values (the control).
    """

    @classmethod
    def setup_x(cls):
        cls.x.env["GTK_THEME"] = "Adwaita"
        cls.x.env["MIMIC_KEY_STORE"] = "file"
        cls.bus = xenv.SessionBus(cls.x)

    @classmethod
    def mimic_env(cls):
        return {"LSAN_OPTIONS": "suppressions=" + os.path.join(xenv.SRCDIR, "tests", "unit",
                                                                "lsan.supp")}

    @classmethod
    def record(cls):
        x, m = cls.x, cls.m
        fields = LABELLED + [HARMLESS]
        form = x.spawn(["zenity", "--forms", "--title=Personnel", "--text=New employee",
                        "--width=520"] + ["--add-entry=%s" % label for label, _ in fields])
        cls.apps.append(form)
        wid = cls.window("Personnel")
        x.focus(wid)
        m.start()
        xenv.wait_for(lambda: m.status()["frames"]["grabs"] >= 1, what="the first grab")
        # The first entry has the focus when the form opens; Tab goes to the next.
        for i, (_label, value) in enumerate(fields):
            if i > 0:
                x.xdotool("key", "Tab")
            x.xdotool("type", "--delay", "60", value)
            last, _ = m.settled(value)
        # The focus moves on to the buttons; once the screen has settled, one key
        # back: the frame taken right before it ("pre") is the filled form as it stays.
        cls.form_frame = cls.tab_and_back(last["t_ns"])
        m.stop()
        cls.session = str(m.sessions()[-1]["id"])

    def export(self):
        out = os.path.join(self.m.tmp, "export-labels")
        if not os.path.exists(out):
            rules = os.path.join(self.m.tmp, "labels.rules")
            with open(rules, "w") as f:
                f.write("# this organisation's own sensitive fields\nlabel employee number\n")
            self.m.run("export", self.session, "--format", "jsonl", "--out", out,
                       "--rules", rules, "--data-dir", self.m.data_dir, timeout=900)
        with open(os.path.join(out, "steps.jsonl")) as f:
            steps = [json.loads(line) for line in f if line.strip()]
        return out, steps

    def typed(self, steps):
        """The typed steps into the form, in order: (text, action, bounds)."""
        return [(s["action"]["text"], s["action"],
                 s["element"]["bounds"] if s.get("element") else None)
                for s in steps if s["kind"] == "type" and s["window_title"] == "Personnel"]

    def test_typed_text_is_the_field(self):
        out, steps = self.export()
        typed = self.typed(steps)
        texts = [t for t, _a, _b in typed]
        want = ["<FIELD:%s>" % label for label, _ in LABELLED] + [HARMLESS[1]]
        self.assertEqual(texts, want)
        for path in (os.path.join(r, n) for r, _d, ns in os.walk(out) for n in ns):
            with open(path, "rb") as f:
                data = f.read()
            for _label, value in LABELLED:
                for word in value.split():
                    self.assertNotIn(word.encode(), data, "%s holds %r" % (path, word))
        # The same text wherever the step writes what was typed: the pyautogui code
        # and the computer-use tool call.
        for _t, action, _b in typed:
            self.assertIn(action["text"], action["pyautogui"])
            self.assertEqual(action["computer_use"]["text"], action["text"])

    def test_fields_filled_in_the_frames(self):
        out, steps = self.export()
        typed = self.typed(steps)
        self.assertEqual(len(typed), len(LABELLED) + 1)
        self.assertTrue(all(b for _t, _a, b in typed), "every typing run has its field")
        shown = [s["images"][k] for s in steps for k in ("pre", "post")
                 if s["frames"][k] == self.form_frame["id"] and s["images"][k]]
        self.assertTrue(shown, "the frame of the filled form is exported")
        path = os.path.join(out, shown[0])
        img = read_png(path)
        raw_path = os.path.join(self.m.tmp, "raw-labels.png")
        self.m.run("frame", self.session, str(self.form_frame["id"]), "-o", raw_path,
                   "--data-dir", self.m.data_dir)
        raw = read_png(raw_path)

        def unfilled(im, box):
            bx, by, bw, bh = box
            return sum(1 for y in range(by, by + bh) for x in range(bx, bx + bw)
                       if pixel(im, x, y) != (0, 0, 0))
        for (_t, _a, box), (label, _v) in zip(typed, LABELLED):
            self.assertGreater(unfilled(raw, box), 0, "the stored frame shows %s" % label)
            self.assertEqual(unfilled(img, box), 0, "field %s is not filled" % label)
        self.assertGreater(unfilled(img, typed[-1][2]), 0, "City's field is filled")
        # A reading of what a person would see: OCR of each field, cut out of the
        # exported image and enlarged twice, reads City's value and none of the
        # others; of the stored frame, all of them. And of the whole exported image,
        # none of them.
        for i, ((_t, _a, box), (label, value)) in enumerate(zip(typed, LABELLED + [HARMLESS])):
            got = squeeze(ocr([crop_2x(img, box, os.path.join(self.m.tmp, "e%d.png" % i))]))
            raw_got = squeeze(ocr([crop_2x(raw, box, os.path.join(self.m.tmp, "r%d.png" % i))]))
            self.assertIn(squeeze(value), raw_got)
            if label == HARMLESS[0]:
                self.assertIn(squeeze(value), got)
            else:
                self.assertEqual(got, "", "field %s reads %r" % (label, got))
        text = squeeze(ocr([path]))
        for _label, value in LABELLED:
            for word in value.split():
                self.assertNotIn(word, text)


if __name__ == "__main__":
    xenv.main()
