"""Round trip of `mimic export` and `mimic stats` under a real X server.

Records a session in xterm (running `cat`) under Xvfb + openbox, driven by
xdotool, with a task marked by `mimic task start` / `mimic task end`; exports it
as JSON Lines and as WebDataset shards; validates every step against
docs/schema/step.schema.json with a small validator for the subset of JSON Schema
the schemas use (standard library only); reads the shards back with tarfile and
decodes every image (PNG fully, JPEG and WebP by their headers); and checks what
a person would look for: the typed text is a `type` action, an e-mail address
typed is redacted everywhere, the task and its outcome are on the steps, host and
user are pseudonyms. A second session is torn (recorder killed with SIGKILL, a
frame file deleted): it still exports, and the skipped frames are reported. A third
is exported under policies with a [redaction] section: the organisation's rules
redact a custom token (employee ids) and its pseudonym key gives the pseudonyms;
and a rule added after a session's frames were scanned and exported reaches them:
the next export scans them again (another rule-set fingerprint in the store) and
the token shown on screen is filled in the exported pixels (OCR-checked). A
session in a browser page, stored by the url_session helper without a browser:
`mimic events` shows its URL whole, and the export's bytes have it redacted, its
query kept only with the policy's [capture] url_query = on.
"""

import hashlib
import json
import os
import pwd
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tarfile
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402
from test_redaction import ocr, squeeze  # noqa: E402  (mimic's OCR of image files)

SCHEMA_DIR = os.path.join(xenv.SRCDIR, "docs", "schema")


# ---- a validator for the subset of JSON Schema (2020-12) the schemas use ----

def _load_schema(name, cache={}):
    if name not in cache:
        with open(os.path.join(SCHEMA_DIR, name)) as f:
            cache[name] = json.load(f)
    return cache[name]


def _pointer(doc, frag):
    for part in [p for p in frag.lstrip("/").split("/") if p]:
        doc = doc[part.replace("~1", "/").replace("~0", "~")]
    return doc


def _type_ok(v, t):
    if isinstance(t, list):
        return any(_type_ok(v, x) for x in t)
    return {
        "null": v is None,
        "boolean": isinstance(v, bool),
        "integer": isinstance(v, int) and not isinstance(v, bool),
        "number": isinstance(v, (int, float)) and not isinstance(v, bool),
        "string": isinstance(v, str),
        "array": isinstance(v, list),
        "object": isinstance(v, dict),
    }[t]


def validate(v, schema, doc, path="$"):
    """Returns a list of errors (empty when v is valid). doc is the file schema came from."""
    if schema is True:
        return []
    if schema is False:
        return ["%s: not allowed" % path]
    errs = []
    if "$ref" in schema:
        ref = schema["$ref"]
        name, _, frag = ref.partition("#")
        target_doc = _load_schema(name) if name else doc
        errs += validate(v, _pointer(target_doc, frag), target_doc, path)
    if "type" in schema and not _type_ok(v, schema["type"]):
        return errs + ["%s: %r is not of type %s" % (path, v, schema["type"])]
    if "enum" in schema and v not in schema["enum"]:
        errs.append("%s: %r not in %s" % (path, v, schema["enum"]))
    if "const" in schema and v != schema["const"]:
        errs.append("%s: %r is not %r" % (path, v, schema["const"]))
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "minimum" in schema and v < schema["minimum"]:
            errs.append("%s: %r < %r" % (path, v, schema["minimum"]))
        if "maximum" in schema and v > schema["maximum"]:
            errs.append("%s: %r > %r" % (path, v, schema["maximum"]))
        if "exclusiveMinimum" in schema and v <= schema["exclusiveMinimum"]:
            errs.append("%s: %r <= %r" % (path, v, schema["exclusiveMinimum"]))
    if isinstance(v, str):
        if "pattern" in schema and not re.search(schema["pattern"], v):
            errs.append("%s: %r does not match %s" % (path, v, schema["pattern"]))
        if "minLength" in schema and len(v) < schema["minLength"]:
            errs.append("%s: too short" % path)
    if isinstance(v, list):
        pre = schema.get("prefixItems", [])
        for i, item in enumerate(v):
            if i < len(pre):
                errs += validate(item, pre[i], doc, "%s[%d]" % (path, i))
            elif "items" in schema:
                errs += validate(item, schema["items"], doc, "%s[%d]" % (path, i))
        if "minItems" in schema and len(v) < schema["minItems"]:
            errs.append("%s: fewer than %d items" % (path, schema["minItems"]))
        if "maxItems" in schema and len(v) > schema["maxItems"]:
            errs.append("%s: more than %d items" % (path, schema["maxItems"]))
        if schema.get("uniqueItems") and len(set(map(json.dumps, v))) != len(v):
            errs.append("%s: items not unique" % path)
    if isinstance(v, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in v:
                errs.append("%s: %s is required" % (path, k))
        for k, item in v.items():
            if k in props:
                errs += validate(item, props[k], doc, "%s.%s" % (path, k))
            elif "additionalProperties" in schema:
                errs += validate(item, schema["additionalProperties"], doc, "%s.%s" % (path, k))
    for sub in schema.get("allOf", []):
        errs += validate(v, sub, doc, path)
    if "anyOf" in schema and not any(not validate(v, s, doc, path) for s in schema["anyOf"]):
        errs.append("%s: matches none of anyOf" % path)
    if "oneOf" in schema:
        n = sum(1 for s in schema["oneOf"] if not validate(v, s, doc, path))
        if n != 1:
            errs.append("%s: matches %d of oneOf, not 1" % (path, n))
    if "if" in schema and not validate(v, schema["if"], doc, path):
        if "then" in schema:
            errs += validate(v, schema["then"], doc, path)
    elif "if" in schema and "else" in schema:
        errs += validate(v, schema["else"], doc, path)
    return errs


# ---- images ----

def png_size(data):
    """Decodes a PNG fully (8-bit RGB/RGBA, no interlace); returns (width, height)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError("not a PNG")
    pos, idat, w = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if zlib.crc32(kind + chunk) != struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]:
            raise AssertionError("PNG chunk %r has a bad CRC" % kind)
        if kind == b"IHDR":
            w, h, depth, ctype, _c, _f, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
        pos += 12 + n
    if w is None or depth != 8 or ctype not in (2, 6) or interlace != 0:
        raise AssertionError("unexpected PNG header")
    raw = zlib.decompress(b"".join(idat))
    bpp = 3 if ctype == 2 else 4
    if len(raw) != h * (w * bpp + 1):
        raise AssertionError("PNG pixel data has %d bytes, not %d" % (len(raw), h * (w * bpp + 1)))
    for y in range(h):
        if raw[y * (w * bpp + 1)] > 4:
            raise AssertionError("bad PNG filter type on row %d" % y)
    return w, h


def image_size(data, ext):
    if ext == "png":
        return png_size(data)
    if ext == "jpg":
        if data[:3] != b"\xff\xd8\xff" or data[-2:] != b"\xff\xd9":
            raise AssertionError("not a complete JPEG")
        pos = 2
        while pos < len(data):
            marker, n = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                h, w = struct.unpack(">HH", data[pos + 5:pos + 9])
                return w, h
            pos += 2 + n
        raise AssertionError("JPEG without a frame header")
    if ext == "webp":
        if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
            raise AssertionError("not a WebP")
        if struct.unpack("<I", data[4:8])[0] + 8 != len(data):
            raise AssertionError("WebP size field does not match")
        if data[12:16] == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if data[12:16] == b"VP8L":
            b = int.from_bytes(data[21:25], "little")
            return (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
        raise AssertionError("unknown WebP chunk")
    raise AssertionError("unknown image extension %s" % ext)


# The settings of ExportTest's exports: a typing run ends at Return, a hotkey or a click,
# never at a pause (type_gap_ms at its maximum, one minute).
EXPORT_CONF = "[export]\ntype_gap_ms = 60000\n"


class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer()
        cls.m = xenv.Mimic(cls.x)
        cls.schema = _load_schema("step.schema.json")
        wid = cls.x.xterm(name="exportterm", title="export test")
        cls.x.focus(wid)
        cls.x.xdotool("mousemove", "200", "150")
        time.sleep(0.3)
        cls.m.start()
        time.sleep(0.5)
        cls.m.run("task", "start", "Write a greeting to bob@example.com into the terminal")
        cls.second_start = cls.m.run("task", "start", "another", check=False)
        cls.status_in_task = cls.m.status()
        x = cls.x
        x.xdotool("click", "1")
        time.sleep(0.4)
        # Each typing run, with its edit and the key that ends it, in one xdotool run.
        # The exports read EXPORT_CONF, whose type_gap_ms no pause here can reach: only
        # Return and Ctrl+S can end these runs, however the machine schedules xdotool.
        x.xdotool("key", "--delay", "60", "h", "e", "l", "l", "p", "BackSpace", "o", "space",
                  "w", "o", "r", "l", "d", "Return")
        time.sleep(0.4)
        x.xdotool("key", "--delay", "60", "m", "a", "i", "l", "space", "b", "o", "b", "at",
                  "e", "x", "a", "m", "p", "l", "e", "period", "c", "o", "m", "ctrl+s")
        time.sleep(0.6)
        cls.m.run("task", "end", "--success")
        cls.second_end = cls.m.run("task", "end", "--fail", check=False)
        cls.status_after = cls.m.status()
        x.xdotool("mousemove", "300", "200")
        x.xdotool("click", "--repeat", "2", "--delay", "80", "1")
        time.sleep(0.8)
        cls.m.stop()
        cls.session = cls.m.sessions()[-1]["id"]
        cls.conf = os.path.join(cls.m.tmp, "runs.conf")
        with open(cls.conf, "w") as f:
            f.write(EXPORT_CONF)

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        cls.x.close()

    def export(self, fmt, *extra, check=True):
        if "--config" not in extra:
            extra = ("--config", self.conf) + extra
        out = os.path.join(self.m.tmp, "export-%s-%d" % (fmt, time.monotonic_ns()))
        r = self.m.run("export", str(self.session), "--format", fmt, "--out", out,
                       "--data-dir", self.m.data_dir, *extra, check=check)
        return out, r

    def check_steps(self, steps):
        self.assertGreater(len(steps), 4)
        for s in steps:
            errs = validate(s, self.schema, self.schema)
            self.assertEqual(errs, [], "step %s %d: %s" % (s.get("episode"), s.get("step"), errs))
        types = [s["action"]["text"] for s in steps if s["kind"] == "type"]
        self.assertIn("hello world", types)
        blob = json.dumps(steps)
        self.assertNotIn("bob@example.com", blob)
        self.assertTrue(any("<EMAIL>" in t for t in types), types)
        task = [s for s in steps if s["labelled"]]
        self.assertTrue(task)
        self.assertEqual({s["task"] for s in task},
                         {"Write a greeting to <EMAIL> into the terminal"})
        self.assertEqual({s["outcome"] for s in task}, {"success"})
        self.assertEqual([s["step"] for s in task], list(range(len(task))))
        hot = [s for s in task if s["kind"] == "hotkey"]
        self.assertEqual([(h["action"]["keys"], h["interaction"]) for h in hot],
                         [("ctrl+s", "keyboard_shortcut")])
        self.assertEqual(hot[0]["action"]["computer_use"], {"action": "key", "text": "ctrl+s"})
        after = [s for s in steps if not s["labelled"]]
        self.assertIn("double_click", [s["kind"] for s in after])
        for s in steps:
            self.assertRegex(s["host"], "^[0-9a-f]{16}$")
            self.assertNotEqual(s["host"], os.uname().nodename)
            self.assertEqual(s["screen"], [1280, 800])
        typ = [s for s in task if s["kind"] == "type" and s["action"]["text"] == "hello world"][0]
        self.assertEqual(typ["action"]["pyautogui"], "pyautogui.write(message='hello world')")
        self.assertEqual(typ["interaction"], "text_entry")
        self.assertEqual(typ["app"], "XTerm")

    def test_jsonl(self):
        out, r = self.export("jsonl")
        with open(os.path.join(out, "steps.jsonl")) as f:
            steps = [json.loads(line) for line in f]
        self.check_steps(steps)
        n_images = 0
        for s in steps:
            for which in ("pre", "post"):
                name = s["images"][which]
                if name is None:
                    continue
                with open(os.path.join(out, name), "rb") as f:
                    self.assertEqual(png_size(f.read()), (1280, 800))
                n_images += 1
        with_pre = [s for s in steps if s["images"]["pre"] is not None]
        # Every click and typing run gets a pre-action frame while recording.
        for s in steps:
            if s["kind"] in ("click", "double_click", "type"):
                self.assertIsNotNone(s["images"]["pre"], s)
        self.assertGreater(len(with_pre), 3)
        self.assertGreater(n_images, 3)
        self.assertEqual(sorted(os.listdir(out)), ["README.md", "images", "steps.jsonl"])
        with open(os.path.join(out, "README.md")) as f:
            card = f.read()
        self.assertIn("| text_entry |", card)
        self.assertIn("| keyboard_shortcut |", card)
        self.assertIn("| XTerm |", card)
        self.assertIn('"type_gap_ms":60000', card)
        self.assertIn("mimic 0.", card)
        self.assertIn("exported %d steps" % len(steps), r.stderr)
        # The export is in the audit log, with counts and no content.
        with open(os.path.join(self.m.data_dir, "audit.log")) as f:
            audits = [json.loads(line) for line in f]
        mine = [a["details"] for a in audits if a["what"] == "export" and
                a["details"]["format"] == "jsonl" and a["details"]["steps"] == len(steps)]
        self.assertTrue(mine, audits)
        self.assertEqual(mine[0]["sessions"], [self.session])
        self.assertNotIn("hello", json.dumps(audits))

    def test_webdataset(self):
        # Small shards: frames are small, since all but the in-scope xterm is masked.
        out, _ = self.export("webdataset", "--image", "webp", "--shard-size", "8K")
        shards = sorted(n for n in os.listdir(out) if n.endswith(".tar"))
        self.assertGreater(len(shards), 1, "an 8 KB shard size must split the samples")
        self.assertEqual(shards[0], "shard-000000.tar")
        samples = {}
        order = []
        for name in shards:
            size = os.path.getsize(os.path.join(out, name))
            with tarfile.open(os.path.join(out, name)) as tar:
                keys = {m.name.split(".", 1)[0] for m in tar.getmembers()}
                # A shard stays under the size unless one sample alone is larger.
                self.assertTrue(size <= 8192 or len(keys) == 1, (name, size, keys))
            with tarfile.open(os.path.join(out, name)) as tar:
                for mem in tar.getmembers():
                    self.assertTrue(mem.isfile())
                    key, ext = mem.name.split(".", 1)
                    if key not in samples:
                        order.append(key)
                        samples[key] = {}
                    else:
                        self.assertEqual(order[-1], key, "a sample's files are adjacent")
                    samples[key][ext] = tar.extractfile(mem).read()
        steps = []
        for key in order:
            sample = samples[key]
            step = json.loads(sample["json"])
            steps.append(step)
            self.assertEqual(key, "%s-%06d" % (step["episode"], step["step"]))
            # Every sample has the same members, as the Hugging Face loader requires.
            self.assertEqual(sorted(sample), ["json", "webp"])
            self.assertEqual(step["images"]["pre"], key + ".webp")
            self.assertEqual(image_size(sample["webp"], "webp"), (1280, 800))
        self.check_steps(steps)

    def test_jpeg_images(self):
        out, _ = self.export("jsonl", "--image", "jpeg")
        with open(os.path.join(out, "steps.jsonl")) as f:
            steps = [json.loads(line) for line in f]
        names = {s["images"]["pre"] for s in steps if s["images"]["pre"]}
        self.assertTrue(names)
        for n in names:
            self.assertTrue(n.endswith(".jpg"))
            with open(os.path.join(out, n), "rb") as f:
                self.assertEqual(image_size(f.read(), "jpg"), (1280, 800))

    def test_config_thresholds(self):
        conf = os.path.join(self.m.tmp, "export.conf")
        with open(conf, "w") as f:
            f.write("[export]\nepisode_idle_ms = 60000\ntype_gap_ms = 900\n")
        out, _ = self.export("jsonl", "--config", conf)
        with open(os.path.join(out, "README.md")) as f:
            card = f.read()
        self.assertIn('"type_gap_ms":900', card)
        self.assertIn('"episode_idle_ms":60000', card)
        # Without a settings file: the defaults (docs/ACTIONS.md, docs/EXPORT.md).
        empty = os.path.join(self.m.tmp, "empty.conf")
        open(empty, "w").close()
        out, _ = self.export("jsonl", "--config", empty)
        with open(os.path.join(out, "README.md")) as f:
            card = f.read()
        self.assertIn('"type_gap_ms":1000', card)
        self.assertIn('"episode_idle_ms":120000', card)
        self.assertIn('"episode_split_app":true', card)
        with open(conf, "w") as f:
            f.write("[export]\ntype_gap_ms = soon\n")
        _, r = self.export("jsonl", "--config", conf, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("export.conf:2: type_gap_ms", r.stderr)

    def test_frame_to_stdout(self):
        """docs/CLI.md: `mimic frame SESSION ID -o -` writes the PNG to standard output."""
        frames = [json.loads(line) for line in self.m.run(
            "frames", str(self.session), "--data-dir", self.m.data_dir).stdout.splitlines()]
        # A patch, so that putting it back over its key frame is part of it.
        patches = [f for f in frames if f["base"] is not None]
        fid = str((patches or frames)[-1]["id"])
        r = subprocess.run([xenv.MIMIC, "frame", str(self.session), fid, "-o", "-",
                            "--data-dir", self.m.data_dir], env=self.m.env,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        data = r.stdout
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(png_size(data), (1280, 800))
        # Standard output holds the image and nothing else: it ends with IEND.
        self.assertEqual(data[-12:], b"\x00\x00\x00\x00IEND\xaeB`\x82")
        # The same image as written to a file.
        path = os.path.join(self.m.tmp, "frame-%s.png" % fid)
        self.m.run("frame", str(self.session), fid, "-o", path, "--data-dir", self.m.data_dir)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), data)

    def test_stats(self):
        r = self.m.run("stats", str(self.session), "--json", "--config", self.conf,
                       "--data-dir", self.m.data_dir)
        s = json.loads(r.stdout)
        self.assertGreaterEqual(s["total"]["actions"]["type"], 2)
        self.assertEqual(s["total"]["actions"]["hotkey"], 1)
        self.assertEqual(s["total"]["interactions"]["keyboard_shortcut"], 1)
        self.assertIn("XTerm", s["apps"])
        self.assertEqual(s["labelled_episodes"], 1)
        text = self.m.run("stats", "--data-dir", self.m.data_dir).stdout
        self.assertIn("text_entry", text)
        self.assertNotIn("hello", text)

    def test_task_markers(self):
        self.assertEqual(self.second_start.returncode, 1)
        self.assertIn("already running", self.second_start.stderr)
        self.assertEqual(self.second_end.returncode, 1)
        self.assertIn("no task is running", self.second_end.stderr)
        self.assertIs(self.status_in_task["task"], True)
        self.assertIs(self.status_after["task"], False)

    def test_refusals(self):
        out, _ = self.export("jsonl")
        r = self.m.run("export", str(self.session), "--format", "jsonl", "--out", out,
                       "--data-dir", self.m.data_dir, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not empty", r.stderr)
        r = self.m.run("export", "999", "--format", "jsonl", "--out", out + "-x",
                       "--data-dir", self.m.data_dir, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertFalse(os.path.exists(out + "-x"))
        r = self.m.run("task", "end", "--success", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no recorder", r.stderr)
        key = os.path.join(self.m.data_dir, "pseudonym.key")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        os.chmod(key, 0o644)
        try:
            r = self.m.run("export", str(self.session), "--format", "jsonl", "--out",
                           out + "-y", "--data-dir", self.m.data_dir, check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn("chmod 600", r.stderr)
        finally:
            os.chmod(key, 0o600)


class TornExportTest(unittest.TestCase):
    def test_killed_recorder_and_missing_frame(self):
        x = xenv.XServer()
        m = xenv.Mimic(x)
        try:
            wid = x.xterm(name="tornterm", title="torn")
            x.focus(wid)
            m.start()
            time.sleep(0.5)
            for word in ("one", "two", "three"):
                x.xdotool("mousemove", "100", "100")
                x.xdotool("click", "1")
                time.sleep(0.3)
                x.xdotool("type", "--delay", "50", word)
                time.sleep(1.2)
            time.sleep(0.5)
            m.rec.send_signal(signal.SIGKILL)
            m.rec.wait()
            frames = [json.loads(line) for line in
                      m.run("frames", "last", "--data-dir", m.data_dir).stdout.splitlines()]
            self.assertGreater(len(frames), 2)
            # The first frame is the key frame every patch of the session goes over.
            self.assertIsNone(frames[0]["base"])
            os.unlink(frames[0]["file"])
            out = os.path.join(m.tmp, "torn")
            r = m.run("export", "last", "--format", "jsonl", "--out", out,
                      "--data-dir", m.data_dir)
            self.assertIn("skipped", r.stderr)
            self.assertIn("frames missing", r.stderr)
            with open(os.path.join(out, "steps.jsonl")) as f:
                steps = [json.loads(line) for line in f]
            self.assertEqual([s["action"]["text"] for s in steps if s["kind"] == "type"],
                             ["one", "two", "three"])
            for s in steps:
                for name in s["images"].values():
                    if name is not None:
                        self.assertTrue(os.path.exists(os.path.join(out, name)))
            with open(os.path.join(out, "README.md")) as f:
                card = f.read()
            self.assertRegex(card, r"frames that could not be read or decoded.*\| [1-9]")
            self.assertRegex(card, r"sessions that did not close.*\| 1 \|")
            self.assertRegex(card, r"steps without a pre-action image \| [1-9]")
            self.assertTrue(any(s["images"]["pre"] is None for s in steps))
            # Without their images, steps are left out of the shards, and said so.
            out2 = os.path.join(m.tmp, "torn-wds")
            r = m.run("export", "last", "--format", "webdataset", "--out", out2,
                      "--data-dir", m.data_dir)
            left = re.search(r"\((\d+) left out of the shards\)", r.stderr)
            self.assertIsNotNone(left, r.stderr)
            self.assertEqual(int(left.group(1)),
                             sum(1 for s in steps if s["images"]["pre"] is None))
            for name in os.listdir(out2):
                if name.endswith(".tar"):
                    with tarfile.open(os.path.join(out2, name)) as tar:
                        exts = [mem.name.split(".", 1)[1] for mem in tar.getmembers()]
                        self.assertEqual(exts, ["json", "png"] * (len(exts) // 2))
        finally:
            m.close()
            x.close()


def _blake2b_id(key, domain, value):
    """A pseudonym as pseudo.c makes it: keyed BLAKE2b-64 of DOMAIN NUL VALUE, in hex."""
    return hashlib.blake2b(domain.encode() + b"\0" + value.encode(), digest_size=8,
                           key=key).hexdigest()


class PolicyExportTest(unittest.TestCase):
    """The organisation's [redaction] policy (docs/POLICY.md) applied by `mimic export`:
    its rules are added to the built-in ones, and its pseudonym key is the one used."""

    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer()
        cls.m = xenv.Mimic(cls.x)
        tmp = cls.m.tmp
        cls.rules = os.path.join(tmp, "org.rules")
        with open(cls.rules, "w") as f:
            f.write("# The organisation's employee ids.\n"
                    "employee_id  NATIONAL_ID  high  -  (?<![A-Z0-9])EMP-[0-9]{6}(?![0-9])\n")
        cls.extra_rules = os.path.join(tmp, "rooms.rules")
        with open(cls.extra_rules, "w") as f:
            f.write("room  NATIONAL_ID  low  -  (?<![A-Z0-9])ROOM-[0-9]{4}(?![0-9])\n")
        cls.keys, cls.policies = {}, {}
        base = xenv.TEST_POLICY % {"notice": cls.m.notice}
        for name in ("a", "b"):
            key = os.urandom(32)
            path = os.path.join(tmp, "org-%s.key" % name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, key)
            os.close(fd)
            cls.keys[name] = (path, key)
            cls.policies[name] = cls.write_policy(
                "policy-%s.conf" % name,
                base + "[redaction]\nrules = %s\npseudonym_key = %s\n" % (cls.rules, path))
        # The test policy without [redaction]: built-in rules, the data directory's key.
        cls.policies["plain"] = cls.m.policy
        wid = cls.x.xterm(name="policyterm", title="policy export test")
        cls.x.focus(wid)
        cls.x.xdotool("mousemove", "200", "150")
        time.sleep(0.3)
        # Recording reads the same policy: its [redaction] section is accepted there.
        cls.m.start("--policy", cls.policies["a"])
        time.sleep(0.5)
        cls.x.xdotool("click", "1")
        time.sleep(0.4)
        cls.x.xdotool("type", "--delay", "60", "staff EMP-123456 in ROOM-4711")
        time.sleep(1.5)
        # A click after typing: its pre-action frame, showing the id, is the typing's "post".
        cls.x.xdotool("click", "1")
        time.sleep(0.6)
        cls.m.stop()
        cls.session = cls.m.sessions()[-1]["id"]

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        cls.x.close()

    @classmethod
    def write_policy(cls, name, text):
        path = os.path.join(cls.m.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def export(self, policy, *extra, check=True, session=None):
        out = self.last_out = os.path.join(self.m.tmp, "export-%d" % time.monotonic_ns())
        r = self.m.run("export", str(session or self.session), "--format", "jsonl", "--out",
                       out, "--data-dir", self.m.data_dir, "--policy", policy, *extra,
                       check=check, timeout=240)
        if not check:
            return r, None
        with open(os.path.join(out, "steps.jsonl")) as f:
            return r, [json.loads(line) for line in f]

    def typed(self, steps):
        return [s for s in steps if s["kind"] == "type"]

    def test_policy_rules_redact(self):
        _, steps = self.export(self.policies["a"])
        blob = json.dumps(steps)
        self.assertNotIn("EMP-123456", blob)
        self.assertNotIn("123456", blob)
        hit = [s for s in self.typed(steps) if "<NATIONAL_ID>" in s["action"]["text"]]
        self.assertEqual(len(hit), 1, [s["action"]["text"] for s in self.typed(steps)])
        self.assertEqual(hit[0]["action"]["text"], "staff <NATIONAL_ID> in ROOM-4711")
        self.assertTrue(hit[0]["redacted"])
        # A high-risk rule of the organisation drops the screen that shows the id, like a
        # card number: the frame after typing exists but is not exported (the pre-action
        # screen, from before the first key, may stay).
        self.assertIsNotNone(hit[0]["frames"]["post"])
        self.assertIsNone(hit[0]["images"]["post"])
        # Under a policy without the rule, the id is left as typed (the rule did it).
        _, plain = self.export(self.policies["plain"])
        texts = [s["action"]["text"] for s in self.typed(plain)]
        self.assertIn("staff EMP-123456 in ROOM-4711", texts)
        step = [s for s in self.typed(plain) if "EMP-123456" in s["action"]["text"]][0]
        self.assertFalse(step["redacted"])

    def scans(self, session):
        """{frame id: (scan, scan_reason, scan_rules)} of session, from the store."""
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.m.data_dir, "mimic.db"),
                             uri=True)
        try:
            return {r[0]: r[1:] for r in db.execute(
                "SELECT id, scan, scan_reason, scan_rules FROM frames WHERE session = ?",
                (session,))}
        finally:
            db.close()

    def images(self, out, steps):
        return [os.path.join(out, s["images"][w]) for s in steps for w in ("pre", "post")
                if s["images"][w] is not None]

    def test_rule_added_later_reaches_scanned_frames(self):
        # A session of its own: a room number shown on screen (large, as on a desktop, so
        # that OCR reads it), never typed, so only the frames' scan can find it.
        term = subprocess.Popen(
            ["xterm", "-name", "roomterm", "-T", "rooms", "-fa", "DejaVu Sans Mono", "-fs",
             "14", "-geometry", "40x5+0+400", "-e", "sh", "-c",
             "echo desk ROOM-4711 today; exec cat"],
            env=self.x.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wid = xenv.wait_for(lambda: self.x.run(["xdotool", "search", "--onlyvisible",
                                                    "--classname", "roomterm"],
                                                   check=False).split(),
                                what="the room terminal")[-1]
            self.m.start()
            self.x.focus(wid)
            self.x.xdotool("mousemove", "100", "480", "click", "1")
            time.sleep(0.4)
            self.x.xdotool("type", "--delay", "60", "hello")
            self.x.xdotool("key", "Return")
            time.sleep(1.5)
            self.x.xdotool("click", "1")
            time.sleep(0.6)
            self.m.stop()
        finally:
            term.terminate()
            term.wait(timeout=10)
        session = self.m.sessions()[-1]["id"]
        self.assertNotEqual(session, self.session)
        # Exported once without the rule: every frame scanned with the built-in rules,
        # and the room is in the exported pixels (the control: this OCR reads it).
        _, steps = self.export(self.policies["plain"], session=session)
        before = self.scans(session)
        self.assertGreater(len(before), 0)
        self.assertEqual(len({v[2] for v in before.values()}), 1, before)
        self.assertNotIn(2, [v[0] for v in before.values()], before)
        images = self.images(self.last_out, steps)
        self.assertGreater(len(images), 0)
        self.assertIn("ROOM-4711", squeeze(ocr(images)))
        # The organisation adds a rule for rooms (low risk: filled, not dropped), and
        # the next export scans the frames again: another fingerprint, the room filled.
        base = xenv.TEST_POLICY % {"notice": self.m.notice}
        pol = self.write_policy("policy-rooms.conf",
                                base + "[redaction]\nrules = %s\n" % self.extra_rules)
        _, steps = self.export(pol, session=session)
        after = self.scans(session)
        self.assertEqual(after.keys(), before.keys())
        fps = {v[2] for v in after.values()}
        self.assertEqual(len(fps), 1, after)
        self.assertNotIn(next(iter(before.values()))[2], fps)
        self.assertIn(2, [v[0] for v in after.values()], after)  # scrubbed, none was before
        images = self.images(self.last_out, steps)
        self.assertGreater(len(images), 0)
        text = squeeze(ocr(images))
        self.assertNotIn("ROOM-4711", text)
        self.assertNotIn("4711", text)
        # The same rules again: nothing is scanned again (the scans are the same rows).
        self.export(pol, session=session)
        self.assertEqual(self.scans(session), after)

    def test_rules_option_adds_to_policy(self):
        _, steps = self.export(self.policies["a"], "--rules", self.extra_rules)
        texts = [s["action"]["text"] for s in self.typed(steps)]
        self.assertIn("staff <NATIONAL_ID> in <NATIONAL_ID>", texts)
        self.assertNotIn("ROOM-4711", json.dumps(steps))

    def test_pseudonyms_use_policy_key(self):
        ids = {}
        for run, policy in (("a1", "a"), ("a2", "a"), ("b", "b"), ("plain", "plain")):
            _, steps = self.export(self.policies[policy])
            self.assertTrue(steps)
            ids[run] = ({s["host"] for s in steps}, {s["user"] for s in steps})
            self.assertEqual(len(ids[run][0]), 1)
            self.assertEqual(len(ids[run][1]), 1)
        self.assertEqual(ids["a1"], ids["a2"])
        host_a, user_a = (next(iter(v)) for v in ids["a1"])
        host_b, user_b = (next(iter(v)) for v in ids["b"])
        host_p, user_p = (next(iter(v)) for v in ids["plain"])
        self.assertNotEqual(host_a, host_b)
        self.assertNotEqual(user_a, user_b)
        self.assertNotEqual(host_a, host_p)
        real_host = socket.gethostname()
        real_user = pwd.getpwuid(os.stat(self.m.data_dir).st_uid).pw_name
        for h, u in ((host_a, user_a), (host_b, user_b)):
            self.assertNotIn(real_host, (h, u))
            self.assertNotIn(real_user, (h, u))
        # They are the keyed hashes under the organisation's keys, not under another key.
        self.assertEqual(host_a, _blake2b_id(self.keys["a"][1], "host", real_host))
        self.assertEqual(user_a, _blake2b_id(self.keys["a"][1], "user", real_user))
        self.assertEqual(host_b, _blake2b_id(self.keys["b"][1], "host", real_host))

    def test_refusals(self):
        # The organisation's key wins: --key is refused, not silently ignored.
        r, _ = self.export(self.policies["a"], "--key", self.keys["b"][0], check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--key cannot be used", r.stderr)
        self.assertIn("policy-a.conf:8", r.stderr)
        # A key others may read is refused with the fix and the setting's place.
        path = self.keys["a"][0]
        os.chmod(path, 0o644)
        try:
            r, _ = self.export(self.policies["a"], check=False)
        finally:
            os.chmod(path, 0o600)
        self.assertEqual(r.returncode, 1)
        self.assertIn("chmod 600 %s" % path, r.stderr)
        self.assertIn("pseudonym_key, %s:8" % self.policies["a"], r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        base = xenv.TEST_POLICY % {"notice": self.m.notice}
        # A missing organisation key is not made up: every machine must use the same one.
        missing = os.path.join(self.m.tmp, "no-such.key")
        pol = self.write_policy("policy-nokey.conf",
                                base + "[redaction]\npseudonym_key = %s\n" % missing)
        r, _ = self.export(pol, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s does not exist" % missing, r.stderr)
        self.assertFalse(os.path.exists(missing))
        # A rules file that does not parse is named with its line; so is a bad policy line.
        bad_rules = os.path.join(self.m.tmp, "bad.rules")
        with open(bad_rules, "w") as f:
            f.write("# ids\nbadge  BADGE  high  -  B-[0-9]{5}\n")
        pol = self.write_policy("policy-badrules.conf",
                                base + "[redaction]\nrules = %s\n" % bad_rules)
        r, _ = self.export(pol, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad.rules:2: unknown type 'BADGE'", r.stderr)
        pol = self.write_policy("policy-relative.conf", base + "[redaction]\nrules = x.rules\n")
        r, _ = self.export(pol, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("policy-relative.conf:7: rules: 'x.rules' is not an absolute path",
                      r.stderr)
        # The person's own policy file may not set them.
        udir = os.path.join(self.m.env["XDG_CONFIG_HOME"], "mimic")
        os.makedirs(udir, exist_ok=True)
        upath = os.path.join(udir, "policy.conf")
        with open(upath, "w") as f:
            f.write("[redaction]\nrules = %s\n" % self.extra_rules)
        try:
            r, _ = self.export(self.policies["plain"], check=False)
        finally:
            os.unlink(upath)
        self.assertEqual(r.returncode, 1)
        self.assertIn("mimic/policy.conf:2: [redaction] rules: the personal policy may only "
                      "add exclusions", r.stderr)


def episodes_of(steps):
    """The steps grouped by episode, in order: [[(kind, text or app), ...], ...]."""
    eps, ids = [], []
    for st in steps:
        if not ids or ids[-1] != st["episode"]:
            ids.append(st["episode"])
            eps.append([])
        eps[-1].append((st["kind"], st["action"].get("text"), st["app"]))
    return eps


class ExportOptionsTest(unittest.TestCase):
    """`mimic export` with --all, --episode-idle and --no-split-app (docs/EXPORT.md), from
    the command line, checked on the bytes of the export."""

    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer()
        cls.m = xenv.Mimic(cls.x)
        term = cls.x.xterm(name="optterm", title="options")
        cls.zenity = cls.x.spawn(["zenity", "--entry", "--title=Other", "--text=Other:"])
        other = xenv.wait_for(lambda: cls.x.run(["xdotool", "search", "--onlyvisible", "--pid",
                                                 str(cls.zenity.pid)], check=False).split(),
                              timeout=30, what="the zenity window")[-1]
        cls.x.focus(term)
        # Session 1: typing in two applications, one after the other.
        cls.m.start("--no-frames", "--no-elements", "--session-name", "apps")
        cls.x.xdotool("mousemove", "100", "100", "click", "1")
        cls.x.xdotool("key", "--delay", "30", "a", "l", "p", "h", "a", "Return")
        cls.x.focus(other)
        cls.x.xdotool("key", "--delay", "30", "b", "e", "t", "a", "Tab")
        cls.x.focus(term)
        cls.x.xdotool("key", "--delay", "30", "g", "a", "m", "m", "a", "Return")
        cls.m.stop()
        # Session 2: one application, runs ended by clicks.
        cls.m.start("--no-frames", "--no-elements", "--session-name", "plain")
        for word in ("one", "two", "three"):
            cls.x.xdotool("mousemove", "120", "120", "click", "1")
            cls.x.xdotool("key", "--delay", "30", *word)
        cls.x.xdotool("mousemove", "140", "140", "click", "1")
        cls.m.stop()
        ss = cls.m.sessions()
        cls.apps, cls.plain = ss[-2]["id"], ss[-1]["id"]

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        cls.zenity.terminate()
        cls.zenity.wait(timeout=10)
        cls.x.close()

    def export(self, what, *extra):
        out = os.path.join(self.m.tmp, "export-%d" % time.monotonic_ns())
        self.m.run("export", *what, "--format", "jsonl", "--out", out,
                   "--data-dir", self.m.data_dir, *extra)
        with open(os.path.join(out, "steps.jsonl"), "rb") as f:
            raw = f.read()
        return raw, [json.loads(line) for line in raw.splitlines()]

    def test_all(self):
        raw, steps = self.export(["--all"])
        self.assertEqual(sorted({s["session"] for s in steps}), [self.apps, self.plain])
        texts = [s["action"]["text"] for s in steps if s["kind"] == "type"]
        self.assertEqual(texts, ["alpha", "beta", "gamma", "one", "two", "three"])
        # Byte for byte the two sessions' own exports, one after the other.
        raw1, _ = self.export([str(self.apps)])
        raw2, _ = self.export([str(self.plain)])
        self.assertEqual(raw, raw1 + raw2)
        # A single session is only that one.
        _, last = self.export(["last"])
        self.assertEqual({s["session"] for s in last}, {self.plain})

    def test_no_split_app(self):
        _, steps = self.export([str(self.apps)])
        eps = episodes_of(steps)
        # By default an episode ends where the application changes.
        for ep in eps:
            self.assertEqual(len({app for _, _, app in ep}), 1, eps)
        typed = [[t for k, t, _ in ep if k == "type"] for ep in eps]
        self.assertEqual([t for t in typed if t], [["alpha"], ["beta"], ["gamma"]], eps)
        # --no-split-app: one episode (no pause here is near episode_idle_ms, 2 minutes).
        _, joined = self.export([str(self.apps)], "--no-split-app")
        self.assertEqual(len(episodes_of(joined)), 1, episodes_of(joined))
        self.assertEqual(episodes_of(joined)[0], [x for ep in eps for x in ep])
        self.assertEqual({s["app"] for s in joined}, {"XTerm", "Zenity"})

    def test_episode_idle(self):
        _, base = self.export([str(self.plain)])
        self.assertEqual(len(episodes_of(base)), 1, episodes_of(base))
        # The threshold is the longest pause between two steps of this recording, read
        # from the steps' own times: the export must cut there, and only there.
        acts = [s["action"] for s in base]
        gaps = [b["t_start_ns"] - a["t_end_ns"] for a, b in zip(acts, acts[1:])]
        idle_ms = max(gaps) // 1000000
        self.assertGreater(idle_ms, 0, gaps)
        expected, last_end = [], None
        for st in base:
            a = st["action"]
            if st["kind"] == "wait" and a["t_end_ns"] - a["t_start_ns"] >= idle_ms * 1000000:
                last_end = None  # the gap itself: not exported, a new episode follows
                expected.append([])
                continue
            if not expected or (last_end is not None and
                                a["t_start_ns"] - last_end >= idle_ms * 1000000):
                expected.append([])
            expected[-1].append((st["kind"], a.get("text"), st["app"]))
            last_end = a["t_end_ns"]
        expected = [ep for ep in expected if ep]
        self.assertGreater(len(expected), 1)
        _, cut = self.export([str(self.plain)], "--episode-idle", "%dms" % idle_ms)
        self.assertEqual(episodes_of(cut), expected)
        # Every episode's times start again at its own start.
        for s in cut:
            if s["step"] == 0:
                self.assertEqual(s["t_ms"], 0, s)


# A page's URL as a browser gives it, with what an export must never keep.
PAGE_URL = ("https://bob:hunter2@shop.example.com/users/alice@example.org/orders"
            "?sort=new&to=carol%40example.net#top")


class UrlExportTest(unittest.TestCase):
    """A click in a browser page (stored by tests/integration/url_session.c, as the
    recorder stores it): `mimic events` shows the whole URL, decrypted; the export
    writes it redacted, with its query only when the policy sets [capture] url_query."""

    @classmethod
    def setUpClass(cls):
        helper = os.environ.get("MIMIC_URL_SESSION")
        if not helper:
            raise SystemExit("MIMIC_URL_SESSION is not set to the url_session helper")
        cls.m = xenv.Mimic()
        subprocess.run([helper, cls.m.data_dir, PAGE_URL], env=cls.m.env, check=True,
                       timeout=60)
        cls.schema = _load_schema("step.schema.json")

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def export(self, policy_text):
        policy = os.path.join(self.m.tmp, "policy-%d.conf" % time.monotonic_ns())
        with open(policy, "w") as f:
            f.write(policy_text)
        out = os.path.join(self.m.tmp, "export-%d" % time.monotonic_ns())
        self.m.run("export", "web", "--format", "jsonl", "--out", out, "--data-dir",
                   self.m.data_dir, "--policy", policy)
        with open(os.path.join(out, "steps.jsonl"), "rb") as f:
            raw = f.read()
        with open(os.path.join(out, "README.md")) as f:
            card = f.read()
        return raw, card

    def test_events_show_the_url(self):
        focus = [e for e in self.m.events("web") if e["kind"] == "focus"]
        self.assertEqual(len(focus), 1, focus)
        self.assertEqual(focus[0]["window"]["url"], PAGE_URL)
        self.assertEqual(focus[0]["window"]["title"], "Orders - Chromium")
        # Sealed at rest: the database holds no piece of it.
        for name in os.listdir(self.m.data_dir):
            if name.startswith("mimic.db"):
                with open(os.path.join(self.m.data_dir, name), "rb") as f:
                    data = f.read()
                self.assertNotIn(b"shop.example.com", data, name)
                self.assertNotIn(b"hunter2", data, name)

    def check_export(self, policy_text, want_url, card_says):
        raw, card = self.export(policy_text)
        lines = raw.decode().splitlines()
        self.assertEqual(len(lines), 1, raw)
        step = json.loads(lines[0])
        self.assertEqual(validate(step, self.schema, self.schema), [])
        # The bytes: the URL right after the window title, the step marked redacted.
        self.assertIn(b'"app":"Chromium","window_title":"Orders - Chromium","url":"'
                      + want_url.encode() + b'","element":null,', raw)
        self.assertTrue(raw.endswith(b'"redacted":true}\n'), raw)
        for gone in (b"hunter2", b"bob:", b"#top", b"alice", b"carol"):
            self.assertNotIn(gone, raw)
        self.assertIn(card_says, card)

    def test_export_leaves_the_query_out(self):
        self.check_export("[allow]\napp = *\n",
                          "https://shop.example.com/users/<EMAIL>/orders",
                          "no query string (the policy's `[capture] url_query` is off)")

    def test_export_keeps_the_query_with_url_query_on(self):
        self.check_export("[allow]\napp = *\n[capture]\nurl_query = on\n",
                          "https://shop.example.com/users/<EMAIL>/orders?sort=new&to=<EMAIL>",
                          "the query string kept with each parameter redacted")


if __name__ == "__main__":
    xenv.main()
