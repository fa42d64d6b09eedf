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
frame file deleted): it still exports, and the skipped frames are reported.
"""

import json
import os
import re
import signal
import struct
import sys
import tarfile
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402

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
        x.xdotool("type", "--delay", "60", "hellp")
        x.xdotool("key", "BackSpace")
        x.xdotool("type", "--delay", "60", "o world")
        time.sleep(1.3)
        x.xdotool("key", "Return")
        time.sleep(0.4)
        x.xdotool("type", "--delay", "60", "mail bob@example.com")
        time.sleep(1.3)
        x.xdotool("key", "ctrl+s")
        time.sleep(0.6)
        cls.m.run("task", "end", "--success")
        cls.second_end = cls.m.run("task", "end", "--fail", check=False)
        cls.status_after = cls.m.status()
        x.xdotool("mousemove", "300", "200")
        x.xdotool("click", "--repeat", "2", "--delay", "80", "1")
        time.sleep(0.8)
        cls.m.stop()
        cls.session = cls.m.sessions()[-1]["id"]

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        cls.x.close()

    def export(self, fmt, *extra, check=True):
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
        self.assertIn('"type_gap_ms":1000', card)
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
        with open(conf, "w") as f:
            f.write("[export]\ntype_gap_ms = soon\n")
        _, r = self.export("jsonl", "--config", conf, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("export.conf:2: type_gap_ms", r.stderr)

    def test_stats(self):
        r = self.m.run("stats", str(self.session), "--json", "--data-dir", self.m.data_dir)
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


if __name__ == "__main__":
    xenv.main()
