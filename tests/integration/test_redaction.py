"""Redaction end to end: what was typed and shown never leaves in an export.

Under Xvfb + openbox, in an xterm running `cat` (so what is typed stays visible),
types an e-mail address, a Luhn-valid card number in two pieces with a pause
between them (two typing runs to the reducer), and an AWS access key id. Then
exports the session as JSON Lines and as WebDataset and checks what a person
receiving the dataset would see:

- none of the three values (nor the card's digits without spaces) occurs in any
  byte of any exported file;
- the typed text carries the placeholders of docs/REDACTION.md in their place:
  <EMAIL>, <CARD> (in both pieces) and <SECRET>;
- every frame taken while the card was being typed is marked dropped in the
  store and no step of the card has an image; a line typed seconds later, while
  the card and the key are still on screen, has frames that only pixel redaction
  can keep out of the export;
- OCR (the same ocr module, through the ocr_image helper) of every exported image
  finds none of the values, while the same OCR does read each of them (the
  e-mail address, the card number and the AWS key) in the unredacted frames
  written by `mimic frame`: the check can fail;
- an export cannot be made to trust a scan state forged in the store (every
  frame marked clean by hand): it scans them again and leaks nothing.
"""

import json
import os
import re
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402

OCR_IMAGE = os.environ.get("MIMIC_OCR_IMAGE")

EMAIL = "alice.smith@example.com"
CARD_1, CARD_2 = "4111 1111 ", "1111 1111"
CARD = CARD_1 + CARD_2
AWS = "AKIAQYLPMN5HHHFPZAM2"
SECRETS = [EMAIL, CARD, CARD.replace(" ", ""), AWS, "example.com", "4111 1111 1111"]


def ocr(paths):
    """The text mimic's OCR reads in the image files."""
    if not paths:
        return ""
    r = subprocess.run([OCR_IMAGE, *paths], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, OMP_THREAD_LIMIT="1"))
    if r.returncode != 0:
        raise AssertionError("ocr_image failed: %s" % r.stderr)
    return r.stdout


def squeeze(text):
    """Text without blanks and with the usual OCR confusions undone, for searching.

    Terminal fonts make OCR read a comma for a full stop and a capital S for a 5
    (in the AWS key): both sides of a search are folded the same way.
    """
    return re.sub(r"\s+", "", text).replace(",", ".").replace("S", "5")


class RedactionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer(size="900x500x24")
        cls.m = xenv.Mimic(cls.x)
        try:
            cls.record()
        except BaseException:
            cls.m.close()
            cls.x.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        cls.x.close()

    @classmethod
    def record(cls):
        x, m = cls.x, cls.m
        # A large font, as on a real desktop: what OCR reads in a frame is what a
        # person reading the dataset would read.
        x.spawn(["xterm", "-name", "redactterm", "-T", "redaction test", "-fa",
                 "DejaVu Sans Mono", "-fs", "14", "-geometry", "56x8+0+0", "-e", "cat"])
        wid = xenv.wait_for(lambda: x.run(["xdotool", "search", "--onlyvisible", "--classname",
                                          "redactterm"], check=False).split(),
                            what="xterm to map")[-1]
        x.focus(wid)
        x.xdotool("mousemove", "300", "100")
        m.start()
        # The first action needs the grab taken at the start.
        xenv.wait_for(lambda: m.status()["frames"]["grabs"] >= 1, what="the first grab")
        x.xdotool("type", "--delay", "50", "mail " + EMAIL)
        x.xdotool("key", "Return")
        cls.m.settled("mail " + EMAIL)
        # The card in two pieces: a pause longer than a typing run's gap (1 s, on the
        # recorder's clock, which is CLOCK_MONOTONIC) ends the first run.
        x.xdotool("type", "--delay", "50", "card " + CARD_1)
        last, _frame = cls.m.settled("card " + CARD_1)
        xenv.wait_for(lambda: time.monotonic_ns() - last["t_ns"] > 1_500_000_000,
                      timeout=10, what="the first piece's run to end")
        x.xdotool("type", "--delay", "50", CARD_2)
        x.xdotool("key", "Return")
        cls.m.settled(CARD_2)
        x.xdotool("type", "--delay", "50", "key " + AWS)
        x.xdotool("key", "Return")
        last, cls.final_frame = cls.m.settled("key " + AWS)
        # Once the frames after the key's typing no longer count as taken while it was
        # typed (2.5 s on the recorder's clock, docs/REDACTION.md), one more line: its
        # frames still show the card and the key above it, and only their pixels can
        # keep them out of the export.
        xenv.wait_for(lambda: time.monotonic_ns() - last["t_ns"] > 3_000_000_000,
                      timeout=10, what="the end of the key's typing window")
        x.xdotool("type", "--delay", "50", "done")
        x.xdotool("key", "Return")
        cls.m.settled("done")
        m.stop()
        cls.session = str(m.sessions()[-1]["id"])
        cls.events = m.events(cls.session)

    def export(self, fmt):
        out = os.path.join(self.m.tmp, "export-" + fmt)
        if not os.path.exists(out):
            self.m.run("export", self.session, "--format", fmt, "--out", out,
                       "--data-dir", self.m.data_dir, timeout=600)
        return out

    def files(self, out):
        for root, _dirs, names in os.walk(out):
            for n in names:
                yield os.path.join(root, n)

    def assert_no_secret_bytes(self, out):
        n = 0
        for path in self.files(out):
            with open(path, "rb") as f:
                data = f.read()
            n += 1
            for s in SECRETS:
                self.assertNotIn(s.encode(), data, "%s holds %r" % (path, s))
        self.assertGreater(n, 1)

    def steps(self, out):
        with open(os.path.join(out, "steps.jsonl")) as f:
            return [json.loads(line) for line in f if line.strip()]

    def test_jsonl(self):
        out = self.export("jsonl")
        self.assert_no_secret_bytes(out)
        steps = self.steps(out)
        typed = [s["action"]["text"] for s in steps if s["kind"] == "type"]
        self.assertIn("mail <EMAIL>", typed)
        self.assertIn("card <CARD>", typed)   # the first piece
        self.assertIn("<CARD>", typed)        # the second piece
        self.assertIn("key <SECRET>", typed)
        # No image taken after the card's first key is exported: its steps have no
        # image after them, and the second piece none before it either.
        card = [s for s in steps if s["kind"] == "type" and "<CARD>" in s["action"]["text"]]
        self.assertEqual(len(card), 2)
        for s in card:
            self.assertIsNone(s["images"]["post"], s)
        self.assertIsNone(card[1]["images"]["pre"], card[1])
        images = [p for p in self.files(os.path.join(out, "images"))]
        self.assertGreater(len(images), 0)
        self.assert_ocr_clean(images)

    def test_webdataset(self):
        out = self.export("webdataset")
        self.assert_no_secret_bytes(out)
        shards = [p for p in self.files(out) if p.endswith(".tar")]
        self.assertGreater(len(shards), 0)
        tmp = tempfile.mkdtemp(dir=self.m.tmp)
        images, texts = [], []
        for shard in shards:
            with tarfile.open(shard) as tar:
                for member in tar.getmembers():
                    data = tar.extractfile(member).read()
                    for s in SECRETS:
                        self.assertNotIn(s.encode(), data, member.name)
                    if member.name.endswith((".png", ".webp", ".jpg", ".jpeg")):
                        path = os.path.join(tmp, member.name.replace("/", "_"))
                        with open(path, "wb") as f:
                            f.write(data)
                        images.append(path)
                    elif member.name.endswith(".json"):
                        texts.append(data.decode())
        # Shards leave out steps whose pre-action image was dropped (docs/EXPORT.md):
        # the card's second piece and the key; the address's step is there.
        joined = "\n".join(texts)
        self.assertIn('"mail <EMAIL>"', joined)
        self.assertGreater(len(images), 0)
        self.assert_ocr_clean(images)

    def assert_ocr_clean(self, images):
        text = squeeze(ocr(images))
        for s in SECRETS:
            self.assertNotIn(squeeze(s), text)
        self.assertNotIn("AKIA", text)

    def test_card_frames_dropped(self):
        self.export("jsonl")  # scans the session
        keys = [e for e in self.events if e["kind"] == "key_press" and e.get("text")]
        typed = "".join(e["text"] for e in keys)
        start = typed.index("card ") + len("card ")
        end = start + len(CARD)
        t0, t1 = keys[start]["t_ns"], keys[end - 1]["t_ns"]
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.m.data_dir, "mimic.db"),
                             uri=True)
        rows = db.execute("SELECT id, t_ns, scan, scan_reason FROM frames WHERE session = ?",
                          (int(self.session),)).fetchall()
        db.close()
        self.assertGreater(len(rows), 3)
        self.assertNotIn(0, [r[2] for r in rows], "a frame was left unscanned")
        during = [r for r in rows if t0 <= r[1] <= t1]
        self.assertGreater(len(during), 0)
        for r in during:
            self.assertEqual(r[2], 3, "frame %d taken while the card was typed: %r" % (r[0], r))
        # After the e-mail address and before the card, frames were scrubbed, not dropped.
        t_mail = keys[typed.index(EMAIL) + len(EMAIL) - 1]["t_ns"]
        between = [r for r in rows if t_mail < r[1] < t0]
        self.assertIn(2, [r[2] for r in between], rows)

    def test_forged_scan_state_is_not_trusted(self):
        # An export trusts only scans made with its own rules: frames marked clean
        # in the store by hand (no scrubbed image, no fingerprint of the rules that
        # scanned them) are read again, and nothing of the three values leaves.
        self.export("jsonl")  # every frame has been scanned once
        db = sqlite3.connect(os.path.join(self.m.data_dir, "mimic.db"))
        n = db.execute("UPDATE frames SET scan = 1, scan_reason = '', scan_boxes = '[]', "
                       "scan_blob = NULL, scan_rules = '' WHERE session = ?",
                       (int(self.session),)).rowcount
        db.commit()
        db.close()
        self.assertGreater(n, 3)
        out = os.path.join(self.m.tmp, "export-forged")
        self.m.run("export", self.session, "--format", "jsonl", "--out", out,
                   "--data-dir", self.m.data_dir, timeout=600)
        self.assert_no_secret_bytes(out)
        images = list(self.files(os.path.join(out, "images")))
        self.assertGreater(len(images), 0)
        self.assert_ocr_clean(images)

    def test_ocr_reads_the_card_and_key_in_the_unredacted_frame(self):
        # The controls for the card and the key: the same OCR, and the same squeezed
        # search as assert_ocr_clean, read both in the stored frame of the screen once
        # the key was typed (all three lines showing), written by `mimic frame`.
        path = os.path.join(self.m.tmp, "raw-last.png")
        self.m.run("frame", self.session, str(self.final_frame["id"]), "-o", path,
                   "--data-dir", self.m.data_dir)
        text = squeeze(ocr([path]))
        for s in (CARD, CARD.replace(" ", ""), "4111 1111 1111", AWS):
            self.assertIn(squeeze(s), text)
        self.assertIn("AKIA", text)

    def test_ocr_reads_the_unredacted_frame(self):
        # The control: the same OCR reads the address in the stored, unredacted frame.
        frames = [json.loads(line) for line in
                  self.m.run("frames", self.session, "--data-dir",
                             self.m.data_dir).stdout.splitlines() if line.strip()]
        keys = [e for e in self.events if e["kind"] == "key_press" and e.get("text")]
        typed = "".join(e["text"] for e in keys)
        t_card = keys[typed.index("card ")]["t_ns"]
        fr = [f for f in frames if f["t_ns"] < t_card][-1]
        path = os.path.join(self.m.tmp, "raw.png")
        self.m.run("frame", self.session, str(fr["id"]), "-o", path, "--data-dir",
                   self.m.data_dir)
        self.assertIn("example.com", squeeze(ocr([path])))


if __name__ == "__main__":
    xenv.main()
