#!/usr/bin/env python3
"""bench/redact_ui_kinds: redaction measured per UI kind with an independent reading (issue 14).

For each UI kind, under its own Xvfb + openbox with a private session bus (UI
elements on, as test_redaction_forms.FieldLabelsTest records), mimic records
(screenshots on) while the bench puts personal data of the validator-backed types
on the screen (cards Luhn-valid in any grouping, IBANs, SSNs, e-mail addresses,
phone numbers; bench/redact_eval.py's generator):

- gtk-form: a zenity --forms dialog with narrow entries, the values typed into them;
- gtk-text: a zenity --text-info --editable text view, the values typed on lines;
- browser: Chromium (headful) on a page served on 127.0.0.1 under a policy that
  allows the site, showing the values in a table and with a form into which the
  same values are typed.

After typing, a pause longer than the typing window and a key that changes the
screen, so that frames showing the values are taken that only pixel redaction can
keep out. Then `mimic export --format jsonl` (timed), and the independent reading:
the tesseract command-line program (not mimic's OCR path) on every exported image
and on every stored, unredacted frame (`mimic frame`), each enlarged 2x (Leptonica's
pixScale, through ctypes). Per type:

- shown: items the bench put on the screen; readable: of them, items the same
  reading reads in at least one stored frame (the control); leaked: items it reads
  in at least one exported image; pixel recall = 1 - leaked / shown;
- typed: items typed, and of them those whose digits (4 in a row) or address
  (local part) are in a typed step's text; typed recall = 1 - that / typed;

and per kind: frames stored, frames showing high-risk data (a card, IBAN or SSN of
the bench read in the stored frame), of them kept (scan state scrubbed: exported
with the findings filled) and dropped; retention = kept / showing high-risk data;
the export's wall time per stored frame.

A value is read when 4 consecutive digits of it (of a phone number: of its last 7
digits) are among the digits of one line the reading gives, or, for an address, its
local part is in the reading (blanks left out, l/I/| taken as 1 in both).

Each kind is recorded twice (--variants): GTK in Adwaita and Adwaita dark, the page
at 16 px and 12 px. Frames dropped for typing (scan reason "typed": taken while
high-risk text was being typed into a field the recorder did not know) are counted
apart as well; a frame taken while it was typed into a known field is kept with the
field filled.

usage: python3 bench/redact_ui_kinds.py BUILD_DIR [--kinds gtk-form,gtk-text,browser]
       [--variants default,alt] [--per-type N] [--seed S] [--keep DIR]
Needs Xvfb, openbox, xdotool, zenity, dbus-daemon, chromium, tesseract (scripts/install-deps).
"""

import argparse
import ctypes
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

TYPES = ["CARD", "IBAN", "SSN", "EMAIL", "PHONE"]
HIGH = ["CARD", "IBAN", "SSN"]
KINDS = ["gtk-form", "gtk-text", "browser"]
VARIANTS = {"gtk-form": {"default": "Adwaita", "alt": "Adwaita dark"},
            "gtk-text": {"default": "Adwaita", "alt": "Adwaita dark"},
            "browser": {"default": "16 px", "alt": "12 px"}}

_lept = None


def enlarge(src, dst, invert=False):
    """Writes src enlarged 2x (Leptonica, linear interpolation) to dst as a PNG, its
    colours inverted when invert is true."""
    global _lept
    if _lept is None:
        _lept = ctypes.CDLL("liblept.so.5")
        _lept.pixRead.restype = ctypes.c_void_p
        _lept.pixRead.argtypes = [ctypes.c_char_p]
        _lept.pixScale.restype = ctypes.c_void_p
        _lept.pixScale.argtypes = [ctypes.c_void_p, ctypes.c_float, ctypes.c_float]
        _lept.pixWrite.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
        _lept.pixDestroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        _lept.pixInvert.restype = ctypes.c_void_p
        _lept.pixInvert.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    pix = _lept.pixRead(src.encode())
    if not pix:
        raise SystemExit("cannot read %s" % src)
    big = _lept.pixScale(pix, 2.0, 2.0)
    if big and invert:
        _lept.pixInvert(big, big)
    p = ctypes.c_void_p(pix)
    _lept.pixDestroy(ctypes.byref(p))
    if not big or _lept.pixWrite(dst.encode(), big, 3) != 0:  # 3: IFF_PNG
        raise SystemExit("cannot enlarge %s" % src)
    b = ctypes.c_void_p(big)
    _lept.pixDestroy(ctypes.byref(b))


def unfilled(path, boxes):
    """For each (x, y, w, h) of boxes, the pixels of path in it that are not black."""
    lib = ctypes.CDLL("liblept.so.5")
    lib.pixRead.restype = ctypes.c_void_p
    lib.pixRead.argtypes = [ctypes.c_char_p]
    lib.pixConvertTo32.restype = ctypes.c_void_p
    lib.pixConvertTo32.argtypes = [ctypes.c_void_p]
    lib.pixGetPixel.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                ctypes.POINTER(ctypes.c_uint32)]
    lib.pixDestroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    pix = lib.pixRead(path.encode())
    p32 = lib.pixConvertTo32(pix)
    v = ctypes.c_uint32()
    out = []
    for bx, by, bw, bh in boxes:
        n = 0
        for y in range(by, by + bh):
            for x in range(bx, bx + bw):
                if lib.pixGetPixel(p32, x, y, ctypes.byref(v)) == 0 and v.value >> 8:
                    n += 1
        out.append(n)
    for q in (pix, p32):
        c = ctypes.c_void_p(q)
        lib.pixDestroy(ctypes.byref(c))
    return out


def reading(path, tmp):
    """The lines the tesseract command reads on path enlarged 2x."""
    lines = []
    for invert in (False,):
        big = os.path.join(tmp, "big.png")
        enlarge(path, big, invert)
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        out = subprocess.run(["tesseract", big, "stdout"], capture_output=True, text=True,
                             timeout=300, env=env)
        if out.returncode != 0:
            raise SystemExit("tesseract failed on %s: %s" % (path, out.stderr.strip()))
        lines += [l for l in out.stdout.splitlines() if l.strip()]
    return lines


def squeeze(text):
    return re.sub(r"\s+", "", text).lower().replace("|", "1")


def digits_of(t, value):
    d = re.sub(r"\D", "", value)
    return d[-7:] if t == "PHONE" else d


def read_in(t, value, lines):
    """Whether value is readable in lines (see the module comment)."""
    if t == "EMAIL":
        local = squeeze(value.split("@")[0])
        return local in squeeze(" ".join(lines))
    want = digits_of(t, value)
    for line in lines:
        got = re.sub(r"\D", "", line.replace("l", "1").replace("I", "1").replace("|", "1")
                     .replace("O", "0").replace("o", "0"))
        if any(want[k:k + 4] in got for k in range(len(want) - 3)):
            return True
    return False


def in_typed(t, value, texts):
    if t == "EMAIL":
        return any(value.split("@")[0] in s for s in texts)
    want = digits_of(t, value)
    for s in texts:
        got = re.sub(r"\D", "", s)
        if any(want[k:k + 4] in got for k in range(len(want) - 3)):
            return True
    return False


def make_values(r, per_type):
    import redact_eval
    redact_eval.ANY_GROUPING = True
    vals = []
    for t in TYPES:
        for _ in range(per_type):
            vals.append((t, redact_eval.GEN[t](r)))
    r.shuffle(vals)
    return vals


# ---- recording one UI kind --------------------------------------------------------

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Customer record</title>
<style>body{margin:16px;background:#fff;font:%(px)dpx sans-serif}
td,th{padding:2px 10px;text-align:left} input{font:%(px)dpx sans-serif;width:%(w)dpx}
div{margin:6px 0}</style></head>
<body><div style="display:flex;gap:40px"><table><tr><th>Kind</th><th>Value</th></tr>
%(rows)s
</table>
<form>%(inputs)s</form></div></body></html>
"""


class Kind:
    def __init__(self, xenv, kind, variant, vals, tmp, verbose):
        self.xenv, self.kind, self.vals, self.tmp, self.verbose = xenv, kind, vals, tmp, verbose
        self.variant = variant
        self.apps, self.browser, self.web, self.m, self.bus = [], None, None, None, None
        self.x = xenv.XServer(size="1280x800x24")
        try:
            self.x.env["GTK_THEME"] = "Adwaita:dark" if variant == "alt" else "Adwaita"
            self.x.env["MIMIC_KEY_STORE"] = "file"
            self.bus = xenv.SessionBus(self.x)
            if kind == "browser":
                self.site = os.path.join(tmp, "site")
                os.makedirs(os.path.join(self.site, "allowed"))
                self.web = xenv.WebServer(root=self.site)
                self.m = xenv.Mimic(self.x, policy="")
                with open(self.m.policy, "w") as f:
                    f.write("[allow]\nsite = http://127.0.0.1:%d/allowed/*\n[consent]\n"
                            "notice = %s\n" % (self.web.port, self.m.notice))
            else:
                self.m = xenv.Mimic(self.x)
        except BaseException:
            self.close()
            raise

    def close(self):
        for p in self.apps:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        if self.browser is not None:
            self.browser.close()
        if self.m is not None:
            if self.m.rec is not None and self.m.rec.poll() is None:
                self.m.stop()
            self.m.close()
        if self.web is not None:
            self.web.close()
        if self.bus is not None:
            self.bus.close()
        self.x.close()

    def window(self, title):
        return self.xenv.wait_for(lambda: self.x.run(
            ["xdotool", "search", "--onlyvisible", "--name", "^%s$" % title],
            check=False).split(), timeout=30, what="the %s window" % title)[-1]

    def type(self, text):
        self.x.xdotool("type", "--delay", "60", text)

    def record(self):
        x, m, xenv = self.x, self.m, self.xenv
        if self.kind == "gtk-form":
            # Neutral labels: what is found is found by the detectors and the typed-into
            # field masks, not by sensitive field labels.
            form = x.spawn(["zenity", "--forms", "--title=Record", "--text=Details",
                            "--width=300"] +
                           ["--add-entry=Entry %d" % (i + 1) for i in range(len(self.vals))])
            self.apps.append(form)
            wid = self.window("Record")
            x.focus(wid)
            m.start()
            xenv.wait_for(lambda: m.status()["frames"]["grabs"] >= 1, what="the first grab")
            for i, (_t, v) in enumerate(self.vals):
                if i:
                    x.xdotool("key", "Tab")
                self.type(v)
                m.settled(v)
        elif self.kind == "gtk-text":
            view = x.spawn(["zenity", "--text-info", "--editable", "--title=Notes",
                            "--width=700", "--height=%d" % (120 + 24 * len(self.vals))])
            self.apps.append(view)
            wid = self.window("Notes")
            x.focus(wid)
            m.start()
            xenv.wait_for(lambda: m.status()["frames"]["grabs"] >= 1, what="the first grab")
            x.xdotool("click", "--window", wid, "1")
            for i, (_t, v) in enumerate(self.vals):
                if i:
                    x.xdotool("key", "Return")
                self.type("note " + v)
                m.settled("note " + v)
        else:
            rows = "\n".join("<tr><td>%s</td><td>%s</td></tr>" % (t.lower(), v)
                             for t, v in self.vals)
            inputs = "\n".join('<div><label for="f%d">Field %d</label> <input type="text" '
                               'id="f%d"%s></div>' % (i, i + 1, i, " autofocus" if i == 0 else "")
                               for i in range(len(self.vals)))
            with open(os.path.join(self.site, "allowed", "record.html"), "w") as f:
                f.write(PAGE % {"px": 12 if self.variant == "alt" else 16,
                               "w": 180 if self.variant == "alt" else 240, "rows": rows, "inputs": inputs})
            m.start()
            self.browser = xenv.Browser(x, "chromium", self.web.url("/allowed/record.html"))
            xenv.wait_for(lambda: "Customer record" in self.browser.title(), timeout=60,
                          what="the page")
            x.focus(self.browser.wid)
            # The browser builds its accessible tree at first; input before the page is
            # known is not stored.
            time.sleep(5)
            for i, (_t, v) in enumerate(self.vals):
                if i:
                    x.xdotool("key", "Tab")
                self.type(v)
                try:
                    m.settled(v)
                except AssertionError:
                    pass  # the key text may be missing (not on a known page yet)
        # Past the typing window, then a key that changes the screen: its frames show
        # every value, which only pixel redaction keeps out.
        time.sleep(4)
        x.xdotool("key", "Tab")
        time.sleep(3)
        x.xdotool("key", "shift+Tab")
        time.sleep(3)
        m.stop()
        self.session = str(m.sessions()[-1]["id"])

    def measure(self):
        m, tmp = self.m, self.tmp
        out = os.path.join(tmp, "export")
        t0 = time.monotonic()
        m.run("export", self.session, "--format", "jsonl", "--out", out,
              "--data-dir", m.data_dir, timeout=3600)
        export_s = time.monotonic() - t0
        frames = [json.loads(l) for l in m.run("frames", self.session, "--data-dir",
                                                m.data_dir).stdout.splitlines() if l.strip()]
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(m.data_dir, "mimic.db"), uri=True)
        scan = {r[0]: (r[1], r[2]) for r in db.execute(
            "SELECT id, scan, scan_reason FROM frames WHERE session = ?", (int(self.session),))}
        db.close()
        with open(os.path.join(out, "steps.jsonl")) as f:
            steps = [json.loads(l) for l in f if l.strip()]
        typed = [s["action"]["text"] for s in steps if s["kind"] == "type"]
        # The fields typed into, as the steps carry them (UI elements): an image whose
        # field is black all over had it filled by the element's mask, not by OCR's
        # word boxes.
        fields = {tuple(s["element"]["bounds"]) for s in steps if s["kind"] == "type" and
                  s.get("element") and s["element"].get("bounds")}
        images = sorted(os.listdir(os.path.join(out, "images")))
        res = {"frames": len(frames), "images": len(images), "export_s": export_s,
               "shown": {t: 0 for t in TYPES}, "readable": {t: 0 for t in TYPES},
               "leaked": {t: 0 for t in TYPES}, "typed_leaked": {t: 0 for t in TYPES},
               "leaks": [], "high": 0, "high_outside_typing": 0, "kept": 0, "dropped": 0, "reasons": {},
               "typed_texts": typed, "typed_steps": len(typed),
               "typed_with_field": sum(1 for s in steps if s["kind"] == "type" and
                                       s.get("element") and s["element"].get("bounds")),
               "fields": len(fields), "field_views": 0, "field_views_filled": 0}
        readable, leaked = set(), set()
        for fr in frames:
            raw = os.path.join(tmp, "raw.png")
            m.run("frame", self.session, str(fr["id"]), "-o", raw, "--data-dir", m.data_dir)
            lines = reading(raw, tmp)
            if self.verbose and fr is frames[-1]:
                shutil.copy(raw, os.path.join(self.verbose, "%s-%s-raw-f%d.png" % (
                    self.kind, self.variant, fr["id"])))
                with open(os.path.join(self.verbose, "%s-%s-raw-f%d.txt" % (
                        self.kind, self.variant, fr["id"])), "w") as f:
                    f.write("\n".join(lines) + "\n")
            here = [i for i, (t, v) in enumerate(self.vals) if read_in(t, v, lines)]
            readable.update(here)
            if any(self.vals[i][0] in HIGH for i in here):
                res["high"] += 1
                st, why = scan.get(fr["id"], (0, None))
                res["high_outside_typing"] += why != "typed"
                if st == 2:
                    res["kept"] += 1
                else:
                    res["dropped"] += 1
                    k = "%s:%s" % (st, why)
                    res["reasons"][k] = res["reasons"].get(k, 0) + 1
                if self.verbose:
                    print("frame %d (%s) shows %s: scan %r" % (
                        fr["id"], fr["trigger"], [self.vals[i][0] for i in here],
                        scan.get(fr["id"])), file=sys.stderr, flush=True)
        for name in images:
            path = os.path.join(out, "images", name)
            lines = reading(path, tmp)
            boxes = [b for b in fields if b[2] > 0 and b[3] > 0 and b[0] + b[2] <= 1280 and
                     b[1] + b[3] <= 800]
            counts = unfilled(path, boxes)
            res["field_views"] += len(boxes)
            res["field_views_filled"] += sum(1 for c in counts if c == 0)
            for i, (t, v) in enumerate(self.vals):
                if read_in(t, v, lines):
                    if i not in leaked:
                        res["leaks"].append((t, v, name, [l for l in lines
                                                          if read_in(t, v, [l])]))
                    leaked.add(i)
            if self.verbose:
                shutil.copy(os.path.join(out, "images", name), os.path.join(
                    self.verbose, "%s-%s-%s" % (self.kind, self.variant, name)))
        for i, (t, v) in enumerate(self.vals):
            res["shown"][t] += 1
            res["readable"][t] += i in readable
            res["leaked"][t] += i in leaked
            res["typed_leaked"][t] += in_typed(t, v, typed)
        return res


def table(kind, variant, res):
    lines = ["### %s, %s" % (kind, VARIANTS[kind][variant]), "",
             "| type | shown | readable in stored frames | leaked in export images | pixel recall "
             "| typed | typed leaked | typed recall |", "|---|---|---|---|---|---|---|---|"]
    for t in TYPES:
        sh, rd, lk, tl = (res["shown"][t], res["readable"][t], res["leaked"][t],
                          res["typed_leaked"][t])
        lines.append("| %s | %d | %d | %d | %.2f | %d | %d | %.2f |" % (
            t, sh, rd, lk, 1 - lk / sh if sh else 1, sh, tl, 1 - tl / sh if sh else 1))
    ret = res["kept"] / res["high"] if res["high"] else 1.0
    lines += ["", "typed steps %d, with their field (UI element) %d; fields %d; field x image "
              "%d, of them filled whole (the element's mask) %d" % (
                  res["typed_steps"], res["typed_with_field"], res["fields"],
                  res["field_views"], res["field_views_filled"])]
    out = res["high_outside_typing"]
    lines += ["frames stored %d, exported images %d; frames showing high-risk data %d, "
              "kept filled %d, dropped %d %s: retention %.2f; not dropped for typing %d, "
              "kept %d: retention %.2f; export %.1f s, %.0f ms per stored frame" % (
                  res["frames"], res["images"], res["high"], res["kept"], res["dropped"],
                  res["reasons"] or "", ret, out, res["kept"], res["kept"] / out if out else 1.0,
                  res["export_s"], 1000 * res["export_s"] / max(res["frames"], 1)), ""]
    for t, v, name, got in res["leaks"]:
        lines.append("leak %s %r in %s, read as %r" % (t, v, name, got))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--variants", default="default,alt",
                    help="default: GTK's Adwaita, pages at 16 px; alt: Adwaita dark, 12 px")
    ap.add_argument("--per-type", type=int, default=3)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--keep", help="copy the exported images to this directory")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    os.environ.setdefault("MIMIC_BIN", os.path.join(build, "src", "mimic"))
    os.environ.setdefault("MIMIC_SRCDIR", ROOT)
    import xenv
    for tool in ("Xvfb", "openbox", "xdotool", "zenity", "dbus-daemon", "chromium", "tesseract"):
        if shutil.which(tool) is None:
            raise SystemExit("%s is not installed: run scripts/install-deps" % tool)
    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
    r = random.Random(a.seed)
    for kind in a.kinds.split(","):
        if kind not in KINDS:
            raise SystemExit("unknown UI kind %r: use %s" % (kind, ", ".join(KINDS)))
        for variant in a.variants.split(","):
            if variant not in ("default", "alt"):
                raise SystemExit("unknown variant %r: use default, alt" % variant)
            vals = make_values(r, a.per_type)
            tmp = tempfile.mkdtemp(prefix="mimic-uikinds-")
            k = Kind(xenv, kind, variant, vals, tmp, a.keep)
            try:
                k.record()
                res = k.measure()
            finally:
                k.close()
                shutil.rmtree(tmp, ignore_errors=True)
            print(table(kind, variant, res), flush=True)
            print("typed steps: %r" % res["typed_texts"], file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
