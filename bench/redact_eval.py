#!/usr/bin/env python3
"""bench/redact: measures redaction (docs/REDACTION.md, safeguard 11).

1. Text: runs BUILD/bench/redact_text (generated labelled corpus, generated and
   machine technical text; per type precision, recall, F2, false positives per
   10,000 tokens, throughput).
2. Screenshots: generates pages of labelled sentences with personal data of each
   type (a seeded generator of its own: Luhn-valid cards, mod-97 IBANs, SSNs in the
   valid ranges, e-mail, IPv4/IPv6, MAC, phone numbers, AWS and GitHub tokens),
   interleaved with lines of technical text from this repository (source lines,
   file paths, version strings, log lines with hashes), shows each page in a real
   xterm under its own Xvfb, and runs BUILD/bench/redact_ocr on the screen: the
   OCR path of the scrubber (scrub_read: both readings). A labelled line counts as
   found when a finding of its type lies on it; findings on technical lines are
   false positives. Also reports OCR time per window (a whole terminal) and per
   two-line band (the typical changed region of a typing frame), single-threaded
   and pinned to one core, in all and for the first reading alone.

With --any-grouping, card numbers, IBANs and SSNs on the pages (and in the text
corpus, bench/redact_text -g) are written as people type them into forms: groups
of 2 to 8 characters anywhere, spaces, dashes or dots, one kind or mixed (issue 14).

usage: python3 bench/redact_eval.py BUILD_DIR [--pages N] [--seed S] [--no-text]
       [--any-grouping]
Standard library only; needs Xvfb and xterm (scripts/install-deps).
"""

import argparse
import glob
import json
import os
import random
import re
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = ["CARD", "IBAN", "SSN", "EMAIL", "PHONE", "IP", "MAC", "SECRET"]
ROWS, COLS = 24, 100
SCALE = 0  # OCR enlargement: 0 is ocr.h's automatic choice

# ---- the generator ----------------------------------------------------------


def luhn_complete(digits):
    s = 0
    for i, d in enumerate(reversed(digits)):
        d = int(d)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        s += d
    return digits + str((10 - s % 10) % 10)


ANY_GROUPING = False


def regroup(r, s, seps, first_min=2):
    """s's characters (blanks, dashes and dots left out) in groups of 2 to 8, no group of one."""
    c = [ch for ch in s if ch not in " -."]
    mixed, sep, out, i = r.random() < 1 / 3, r.choice(seps), [], 0
    while i < len(c):
        g = r.randint(first_min if i == 0 else 2, 8)
        if g + 1 >= len(c) - i:
            g = len(c) - i
        if out:
            out.append(r.choice(seps) if mixed else sep)
        out.append("".join(c[i:i + g]))
        i += g
    return "".join(out)


def gen_card(r):
    if ANY_GROUPING:
        return regroup(r, gen_card_printed(r), " -.")
    return gen_card_printed(r)


def gen_card_printed(r):
    kind = r.choice(["visa", "mc", "amex", "disc"])
    if kind == "visa":
        num = luhn_complete("4" + "".join(r.choice(string.digits) for _ in range(14)))
    elif kind == "mc":
        num = luhn_complete(str(r.randint(51, 55)) + "".join(r.choice(string.digits)
                                                              for _ in range(13)))
    elif kind == "disc":
        num = luhn_complete("6011" + "".join(r.choice(string.digits) for _ in range(11)))
    else:
        num = luhn_complete(r.choice(["34", "37"]) + "".join(r.choice(string.digits)
                                                             for _ in range(12)))
        return r.choice([num, "%s %s %s" % (num[:4], num[4:10], num[10:])])
    sep = r.choice(["", " ", "-"])
    return sep.join(num[i:i + 4] for i in range(0, 16, 4)) if sep else num


IBAN_LEN = {"DE": 22, "GB": 22, "FR": 27, "NL": 18, "ES": 24, "IT": 27, "CH": 21, "BE": 16}


def gen_iban(r):
    cc = r.choice(sorted(IBAN_LEN))
    n = IBAN_LEN[cc] - 4
    if cc == "GB":
        bban = "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + \
            "".join(r.choice(string.digits) for _ in range(n - 4))
    elif cc == "NL":
        bban = "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + \
            "".join(r.choice(string.digits) for _ in range(n - 4))
    else:
        bban = "".join(r.choice(string.digits) for _ in range(n))
    conv = "".join(str(int(ch, 36)) for ch in bban + cc + "00")
    iban = cc + "%02d" % (98 - int(conv) % 97) + bban
    if ANY_GROUPING:
        return regroup(r, iban, " -")
    if r.random() < 0.5:
        iban = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    return iban


def gen_ssn(r):
    area = r.choice([a for a in range(1, 900) if a != 666])
    sep = r.choice(" .-") if ANY_GROUPING else "-"
    return "%03d%s%02d%s%04d" % (area, sep, r.randint(1, 99), sep, r.randint(1, 9999))


FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "oscar", "peggy", "trent", "victor", "walter", "maria", "jose", "li", "yuki"]
LAST = ["smith", "jones", "garcia", "muller", "rossi", "tanaka", "nguyen", "kowalski", "dubois"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "uni-example.de",
           "example.co.uk", "shop.example.io"]


def gen_email(r):
    user = r.choice(FIRST) + r.choice([".", "_", ""]) + r.choice(LAST)
    if r.random() < 0.3:
        user += str(r.randint(1, 99))
    return user + "@" + r.choice(DOMAINS)


def gen_phone(r):
    k = r.randint(0, 3)
    if k == 0:
        return "+1 %d%02d %d%02d %04d" % (r.randint(2, 9), r.randint(0, 99), r.randint(2, 9),
                                          r.randint(0, 99), r.randint(0, 9999))
    if k == 1:
        return "(%d%02d) %d%02d-%04d" % (r.randint(2, 9), r.randint(0, 99), r.randint(2, 9),
                                         r.randint(0, 99), r.randint(0, 9999))
    if k == 2:
        return "+49 30 %d" % r.randint(1000000, 99999999)
    return "+44 20 %04d %04d" % (r.randint(0, 9999), r.randint(0, 9999))


def gen_ip(r):
    if r.random() < 0.7:
        while True:
            a = r.randint(11, 223)
            if a not in (127,):
                break
        return "%d.%d.%d.%d" % (a, r.randint(0, 255), r.randint(0, 255), r.randint(1, 254))
    return "2001:db8:%x:%x::%x" % (r.randint(1, 0xffff), r.randint(1, 0xffff),
                                   r.randint(1, 0xffff))


def gen_mac(r):
    sep = r.choice([":", "-"])
    return sep.join("%02x" % r.randint(0, 255) for _ in range(6))


def gen_secret(r):
    if r.random() < 0.5:
        return "AKIA" + "".join(r.choice(string.ascii_uppercase + "234567") for _ in range(16))
    return "ghp_" + "".join(r.choice(string.ascii_letters + string.digits) for _ in range(36))


GEN = {"CARD": gen_card, "IBAN": gen_iban, "SSN": gen_ssn, "EMAIL": gen_email,
       "PHONE": gen_phone, "IP": gen_ip, "MAC": gen_mac, "SECRET": gen_secret}

TEMPLATES = ["Please send it to %s today.", "value: %s", "%s", "ref %s ok",
             "The account is %s, thanks!", "from %s at noon", "> %s"]


def technical_lines():
    """Lines of technical text from this repository, with nothing personal in them."""
    lines = []
    for path in sorted(glob.glob(os.path.join(ROOT, "src", "*.c")))[:12]:
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip().replace("\t", " ")
                if 8 < len(line) < COLS - 4 and "@" not in line:
                    lines.append(line)
    r = random.Random(7)
    for _ in range(200):
        lines.append("/usr/lib/x86_64-linux-gnu/lib%s.so.%d.%d.%d" % (
            r.choice(["png16", "xcb", "sqlite3", "webp", "sodium"]), r.randint(0, 9),
            r.randint(0, 40), r.randint(0, 9)))
        lines.append("2026-11-30 15:%02d:%02d INFO build %s done in %d ms" % (
            r.randint(0, 59), r.randint(0, 59), "%040x" % r.getrandbits(160), r.randint(1, 999)))
        lines.append("version %d.%d.%d-%d (commit %07x)" % (r.randint(0, 9), r.randint(0, 30),
                                                             r.randint(0, 30), r.randint(1, 9),
                                                             r.getrandbits(28)))
    return lines


def make_pages(r, n_pages):
    tech = technical_lines()
    # Technical lines come from the sources, which change: a generator of their
    # own keeps the labelled items the same from one version to the next.
    rt = random.Random(r.random())
    pages = []
    for _ in range(n_pages):
        page = []
        for row in range(ROWS - 1):
            if row % 2 == 0:
                t = r.choice(TYPES)
                v = GEN[t](r)
                page.append((t, r.choice(TEMPLATES) % v, v))
            else:
                page.append((None, rt.choice(tech), None))
        pages.append(page)
    return pages


# ---- screenshots --------------------------------------------------------------

# The validator-backed types whose digits an independent reading looks for.
LEAK_TYPES = ["CARD", "IBAN", "SSN"]


def independent_reading(ppm, line_h):
    """Row -> the text the tesseract command reads there on the filled page (2x)."""
    out = subprocess.run(["tesseract", ppm, "stdout", "--psm", "6", "tsv"],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit("tesseract failed on %s: %s" % (ppm, out.stderr.strip()))
    rows = {}
    for line in out.stdout.splitlines()[1:]:
        f = line.split("\t")
        if len(f) < 12 or f[0] != "5" or not f[11].strip():
            continue
        top, height = int(f[7]), int(f[9])
        row = int(((top + height / 2) / 2 - 2) // line_h)
        rows[row] = (rows.get(row, "") + " " + f[11]).strip()
    return rows


def leaks(value, read):
    """Whether 4 consecutive digits of value are among the digits read on its line."""
    want = re.sub(r"\D", "", value)
    got = re.sub(r"\D", "", read)
    return any(want[k:k + 4] in got for k in range(len(want) - 3))



class Xvfb:
    def __init__(self):
        r, w = os.pipe()
        self.p = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x800x24",
                                   "-nolisten", "tcp"], pass_fds=(w,),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(w)
        num = b""
        while not num.endswith(b"\n"):
            chunk = os.read(r, 16)
            if not chunk:
                raise SystemExit("Xvfb did not start")
            num += chunk
        os.close(r)
        self.env = dict(os.environ, DISPLAY=":" + num.decode().strip())

    def close(self):
        self.p.terminate()
        self.p.wait()


def window_geometry(env, name, proc):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("xterm exited with status %d: %s" % (
                proc.returncode, proc.stderr.read().decode(errors="replace")))
        out = subprocess.run(["xdotool", "search", "--onlyvisible", "--classname", name],
                             env=env, capture_output=True, text=True).stdout.split()
        if out:
            g = subprocess.run(["xdotool", "getwindowgeometry", "--shell", out[-1]], env=env,
                               capture_output=True, text=True).stdout
            d = dict(line.split("=", 1) for line in g.split() if "=" in line)
            return int(d["X"]), int(d["Y"]), int(d["WIDTH"]), int(d["HEIGHT"])
        time.sleep(0.05)
    raise SystemExit("xterm did not map")


def run_pages(build, pages, font, tmp, bands_pages, verbose=False):
    x = Xvfb()
    taskset = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    found = {t: 0 for t in TYPES}
    total = {t: 0 for t in TYPES}
    found_any = {t: 0 for t in TYPES}
    hits = {t: 0 for t in TYPES}       # findings of type t on a line labelled t
    finds = {t: 0 for t in TYPES}      # findings of type t
    fp, neg_tokens, region_ms, band_ms, sizes = 0, 0, [], [], []
    region_first, band_first = [], []
    high_pages, kept_pages = 0, 0   # pages with high-risk findings; of them, kept filled
    covers, covers_tech = 0, 0      # unread words filled (scrub_cover_unread); on technical lines
    independent = shutil.which("tesseract") is not None
    ind_total = {t: 0 for t in LEAK_TYPES}   # items of the page as exported (kept or dropped)
    ind_leaks = {t: 0 for t in LEAK_TYPES}   # of them, read back by the tesseract command
    try:
        for i, page in enumerate(pages):
            path = os.path.join(tmp, "page%d.txt" % i)
            with open(path, "w") as f:
                f.write("\n".join(text for _t, text, _v in page) + "\n")
            name = "redactbench%d" % i
            argv = ["xterm", "-name", name, "-geometry", "%dx%d+0+0" % (COLS, ROWS)]
            if font:
                argv += ["-fa", font[0], "-fs", str(font[1])]
            # The cursor is hidden: its block below the last line is not text.
            argv += ["-e", "sh", "-c", "cat '%s'; printf '\\033[?25l'; exec sleep 600" % path]
            for attempt in range(5):
                # xterm fails now and then when the machine runs short of ptys: retry.
                xt = subprocess.Popen(argv, env=x.env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
                try:
                    geom = window_geometry(x.env, name, xt)
                    break
                except SystemExit:
                    if attempt == 4:
                        raise
                    time.sleep(1)
            try:
                wx, wy, ww, wh = geom
                time.sleep(0.6)
                cmd = taskset + [os.path.join(build, "bench", "redact_ocr"), str(wx), str(wy),
                                 str(ww), str(wh)]
                line_h = (wh - 4) / ROWS
                if i < bands_pages:
                    cmd += ["--bands", str(int(round(line_h * 2)))]
                if verbose:
                    cmd += ["--verbose"]
                if SCALE:
                    cmd += ["--scale", str(SCALE)]
                ppm = os.path.join(tmp, "page%d.ppm" % i)
                if independent:
                    cmd += ["--out", ppm]
                out = subprocess.run(cmd, env=x.env, capture_output=True, text=True,
                                     timeout=300)
                if out.returncode != 0:
                    raise SystemExit("redact_ocr failed: " + out.stderr)
            finally:
                xt.terminate()
                xt.wait()
            on_line, read = {}, {}
            for line in out.stdout.splitlines():
                o = json.loads(line)
                if "line" in o:
                    read[int((o["y"] - wy - 2) // line_h)] = o["line"]
                elif "find" in o:
                    fd = o["find"]
                    row = int((fd["y"] + fd["h"] / 2 - wy - 2) // line_h)
                    if fd["type"] == "UNREAD":
                        # Words OCR could not read, filled: no finding of a type.
                        covers += 1
                        covers_tech += 0 <= row < len(page) and page[row][0] is None
                        continue
                    on_line.setdefault(row, []).append(fd["type"])
                elif "region_ms" in o:
                    # A frame with high-risk findings is kept (filled) unless the scan
                    # left part of it unread (SCRUB_RISK_UNREAD, 0x100).
                    if "risk" in o and o["risk"] & 2:
                        high_pages += 1
                        kept_pages += not o["risk"] & 0x100
                    region_ms.append(o["region_ms"])
                    region_first.append(o["first_ms"])
                    sizes.append((o["w"], o["h"]))
                elif "band_ms" in o:
                    band_ms.append(o["band_ms"])
                    band_first.append(o["first_ms"])
            kept = True
            for line in out.stdout.splitlines():
                o = json.loads(line)
                if "region_ms" in o and "risk" in o:
                    kept = not o["risk"] & 0x100
            if independent and kept:
                seen = independent_reading(ppm, line_h)
                for row, (t, text, v) in enumerate(page):
                    if t in LEAK_TYPES:
                        ind_total[t] += 1
                        if leaks(v, seen.get(row, "")):
                            ind_leaks[t] += 1
                            if verbose:
                                print("leak %s: %r, the tesseract command read %r" % (
                                    t, text, seen.get(row, "")))
            elif independent:
                for t, _text, _v in page:
                    ind_total[t] += t in LEAK_TYPES
            for row, (t, text, _v) in enumerate(page):
                got = on_line.get(row, [])
                if t is None:
                    neg_tokens += len(text.split())
                    fp += len(got)
                    if verbose and got:
                        print("false positive %s: %r read as %r" % (got, text, read.get(row)))
                    continue
                total[t] += 1
                found[t] += t in got
                if verbose and t not in got:
                    print("miss %s: %r read as %r %s" % (t, text, read.get(row), got))
                found_any[t] += len(got) > 0
                for g in got:
                    if g in finds:
                        finds[g] += 1
                        hits[g] += g == t
            for row, got in on_line.items():
                if row >= len(page) or row < 0:
                    fp += len(got)
                    if verbose:
                        print("false positive %s on row %d, below the text: %r" % (
                            got, row, read.get(row)))
    finally:
        x.close()
    return dict(found=found, total=total, found_any=found_any, hits=hits, finds=finds, fp=fp,
                neg_tokens=neg_tokens, region_ms=region_ms, band_ms=band_ms, sizes=sizes,
                region_first=region_first, band_first=band_first, high_pages=high_pages,
                kept_pages=kept_pages, independent=independent, ind_total=ind_total,
                ind_leaks=ind_leaks, covers=covers, covers_tech=covers_tech)


def report(title, res):
    print("\n## Screenshots: %s" % title)
    print("| type | items | recall | recall (any type) | precision | F2 |")
    print("|---|---|---|---|---|---|")
    for t in TYPES:
        n = res["total"][t]
        if n == 0:
            continue
        rec = res["found"][t] / n
        prec = res["hits"][t] / res["finds"][t] if res["finds"][t] else 1.0
        f2 = 5 * prec * rec / (4 * prec + rec) if prec + rec > 0 else 0.0
        print("| %s | %d | %.3f | %.3f | %.3f | %.3f |" % (t, n, rec, res["found_any"][t] / n,
                                                           prec, f2))
    print("false positives on technical lines: %d in %d tokens = %.2f per 10,000 tokens" % (
        res["fp"], res["neg_tokens"], 1e4 * res["fp"] / max(1, res["neg_tokens"])))
    if res["high_pages"]:
        print("frame retention: %d of %d pages with high-risk findings kept with them filled "
              "(%.1f %%); the others had a finding that could not be placed" % (
                  res["kept_pages"], res["high_pages"],
                  100.0 * res["kept_pages"] / res["high_pages"]))
    print("words OCR could not read, filled with their neighbours: %d (%d on technical lines)" % (
        res["covers"], res["covers_tech"]))
    if res["independent"]:
        print("independent reading of the pages as exported (the tesseract command at 2x, "
              "--psm 6): an item leaks when 4 of its digits in a row are read on its line")
        print("| type | items | leaked | pixel recall |")
        print("|---|---|---|---|")
        for t in LEAK_TYPES:
            n = res["ind_total"][t]
            if n:
                print("| %s | %d | %d | %.3f |" % (t, n, res["ind_leaks"][t],
                                                   1 - res["ind_leaks"][t] / n))
    if res["region_ms"]:
        w, h = res["sizes"][0]
        print("OCR of a whole terminal window (%dx%d): median %.0f ms, p90 %.0f ms (n=%d); "
              "first reading alone median %.0f ms" % (
                  w, h, statistics.median(res["region_ms"]),
                  sorted(res["region_ms"])[int(0.9 * (len(res["region_ms"]) - 1))],
                  len(res["region_ms"]), statistics.median(res["region_first"])))
    if res["band_ms"]:
        print("OCR of a two-line band, full window width (typical changed region): "
              "median %.0f ms, p90 %.0f ms (n=%d); first reading alone median %.0f ms" % (
                  statistics.median(res["band_ms"]),
                  sorted(res["band_ms"])[int(0.9 * (len(res["band_ms"]) - 1))],
                  len(res["band_ms"]), statistics.median(res["band_first"])))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-text", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print the misses with what OCR read (generated text only)")
    ap.add_argument("--scale", type=int, default=0, help="OCR enlargement (default: automatic)")
    ap.add_argument("--small-only", action="store_true", help="only the 6x13 font pages")
    ap.add_argument("--any-grouping", action="store_true",
                    help="numbers grouped as typed into forms (issue 14)")
    a = ap.parse_args()
    global SCALE, ANY_GROUPING
    SCALE = a.scale
    ANY_GROUPING = a.any_grouping
    build = os.path.abspath(a.build)
    if not a.no_text:
        print("## Text (bench/redact_text -s %d -n 2000)" % a.seed, flush=True)
        subprocess.run([os.path.join(build, "bench", "redact_text"), "-s", str(a.seed),
                        "-n", "2000"] + (["-g"] if a.any_grouping else []), check=True)
    tmp = tempfile.mkdtemp(prefix="mimic-redact-bench-")
    try:
        r = random.Random(a.seed)
        for size in (14, 10):
            pages = make_pages(r, a.pages)
            if not a.small_only:
                report("xterm, DejaVu Sans Mono %d (%d pages of %d lines)" % (
                    size, a.pages, ROWS - 1),
                    run_pages(build, pages, ("DejaVu Sans Mono", size), tmp, 4, a.verbose))
        pages = make_pages(r, a.pages // 2)
        report("xterm, default 6x13 bitmap font (%d pages)" % (a.pages // 2),
               run_pages(build, pages, None, tmp, 2, a.verbose))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
