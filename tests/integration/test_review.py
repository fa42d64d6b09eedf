"""`mimic review`, the local page where the person recorded sees and deletes.

Records two sessions in xterm under Xvfb + openbox (the first with two tasks, so
two episodes; the second short), starts `mimic review` on a free port and reads
its pages the way a person does, through real headless Chromium (its rendered
DOM, --dump-dom): the session's steps are listed in words, with the typed e-mail
address redacted as in an export, each with its screenshot, which is fetched and
decoded (a PNG of the screen's size). Deleting an episode through the page (the
confirmation page's form, posted with its CSRF token) removes it: a following
`mimic export` has none of its steps, its frames are gone from `mimic frames`
and their files from the data directory, and the audit log records it. Requests
without the token, with another Host, a forged or missing CSRF token, ids of the
other session, path traversal or oversized bodies are refused. A screenshot of
the page is taken with Chromium (MIMIC_REVIEW_SCREENSHOT: where to keep it).
"""

import html.parser
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402
from test_export import EXPORT_CONF, png_size  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Rows(html.parser.HTMLParser):
    """The step rows of a session page: (row id, words, image src or None)."""

    def __init__(self):
        super().__init__()
        self.rows, self.cur, self.in_words, self.forms = [], None, False, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and a.get("class") == "step":
            self.cur = [a["id"], "", None]
            self.rows.append(self.cur)
        elif tag == "td" and a.get("class") == "words" and self.cur is not None:
            self.in_words = True
        elif tag == "img" and self.cur is not None:
            self.cur[2] = a.get("src")
        elif tag == "input":
            self.forms.append(a)

    def handle_endtag(self, tag):
        if tag == "td":
            self.in_words = False
        elif tag == "tr":
            self.cur = None

    def handle_data(self, data):
        if self.in_words and self.cur is not None:
            self.cur[1] += data


def parse(page):
    p = Rows()
    p.feed(page)
    return p


class ReviewTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer()
        cls.m = xenv.Mimic(cls.x)
        cls.conf = os.path.join(cls.m.tmp, "runs.conf")
        with open(cls.conf, "w") as f:
            f.write(EXPORT_CONF)
        wid = cls.x.xterm(name="reviewterm", title="review test")
        cls.x.focus(wid)
        x = cls.x
        x.xdotool("mousemove", "200", "150")
        # Session one: two tasks, so two episodes.
        cls.m.start()
        cls.m.run("task", "start", "Greet the world")
        x.xdotool("click", "1")
        x.xdotool("key", "--delay", "60", "h", "e", "l", "l", "o", "space", "w", "o", "r",
                  "l", "d", "Return")
        cls.wait_typed("hello world")
        cls.m.run("task", "end", "--success")
        cls.m.run("task", "start", "Write to Bob")
        x.xdotool("key", "--delay", "60", "m", "a", "i", "l", "space", "b", "o", "b", "at",
                  "e", "x", "a", "m", "p", "l", "e", "period", "c", "o", "m", "Return")
        cls.wait_typed("mail bob@example.com")
        cls.m.run("task", "end", "--success")
        cls.m.stop()
        # Session two: one short typing run.
        cls.m.start()
        x.xdotool("key", "--delay", "60", "o", "t", "h", "e", "r", "Return")
        cls.wait_typed("other")
        cls.m.stop()
        sessions = cls.m.sessions()
        cls.s1, cls.s2 = sessions[-2]["id"], sessions[-1]["id"]
        cls.start_review()

    @classmethod
    def wait_typed(cls, text):
        xenv.wait_for(lambda: text in xenv.typed_text(cls.m.events()), timeout=30,
                      what="%r in mimic events" % text)

    @classmethod
    def start_review(cls):
        cls.out = os.path.join(cls.m.tmp, "review.out")
        with open(cls.out, "w") as out:
            cls.review = subprocess.Popen(
                [xenv.MIMIC, "review", "--port", "0", "--no-open", "--config", cls.conf,
                 "--data-dir", cls.m.data_dir], env=cls.m.env, stdout=out,
                stderr=subprocess.STDOUT)

        def url():
            if cls.review.poll() is not None:
                with open(cls.out) as f:
                    raise AssertionError("mimic review exited: %s" % f.read())
            with open(cls.out) as f:
                m = re.search(r"http://127\.0\.0\.1:(\d+)/\?t=([0-9a-f]{64})", f.read())
            return m
        m = xenv.wait_for(url, timeout=30, what="mimic review to print its address")
        cls.port, cls.token = int(m.group(1)), m.group(2)
        cls.base = "http://127.0.0.1:%d" % cls.port

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "review", None) is not None:
            if cls.review.poll() is None:
                cls.review.terminate()
            code = cls.review.wait(timeout=30)
            with open(cls.out) as f:
                # What the server said (its address, errors), for a failure's log.
                sys.stderr.write("mimic review (exit %d): %s" % (code, f.read()[-4000:]))
        cls.m.close()
        cls.x.close()

    # ---- requests ----

    def request(self, method, target, body=None, host=None, headers=None):
        """(status, body bytes, headers) of one request, sent as given (no normalising)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            c.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            c.putheader("Host", host if host is not None else "127.0.0.1:%d" % self.port)
            for k, v in (headers or {}).items():
                c.putheader(k, v)
            if body is not None:
                c.putheader("Content-Type", "application/x-www-form-urlencoded")
                c.putheader("Content-Length", str(len(body)))
            c.endheaders(body.encode() if body is not None else None)
            r = c.getresponse()
            return r.status, r.read(), dict(r.getheaders())
        finally:
            c.close()

    def get(self, path, **params):
        q = urllib.parse.urlencode(dict(t=self.token, **params))
        return self.request("GET", "%s?%s" % (path, q))

    def dump_dom(self, url):
        """The DOM of url as headless Chromium renders it."""
        if CHROMIUM is None:
            self.skipTest("chromium is not installed (scripts/install-deps)")
        profile = os.path.join(self.m.tmp, "chromium-%d" % time.monotonic_ns())
        r = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--no-first-run", "--user-data-dir=" + profile, "--dump-dom", url],
                           capture_output=True, text=True, timeout=180, env=self.m.env)
        shutil.rmtree(profile, ignore_errors=True)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        return r.stdout

    def session_url(self, s):
        return "%s/session?t=%s&s=%d" % (self.base, self.token, s)

    def export_steps(self, session):
        out = os.path.join(self.m.tmp, "export-%d" % time.monotonic_ns())
        self.m.run("export", str(session), "--format", "jsonl", "--out", out, "--config",
                   self.conf, "--data-dir", self.m.data_dir, timeout=600)
        with open(os.path.join(out, "steps.jsonl")) as f:
            return [json.loads(line) for line in f]

    def frames(self, session):
        """{frame id: its file} of the session (`mimic frames`)."""
        out = self.m.run("frames", str(session), "--data-dir", self.m.data_dir).stdout
        return {f["id"]: f["file"] for f in map(json.loads, out.splitlines())}

    def frame_ids(self, session):
        return set(self.frames(session))

    def frame_files(self):
        root = os.path.join(self.m.data_dir, "frames")
        return {os.path.join(r, f) for r, _d, fs in os.walk(root) for f in fs}

    # ---- cases (in name order: the deletion comes last) ----

    def test_a_listing_in_chromium(self):
        dom = self.dump_dom(self.session_url(self.s1))
        p = parse(dom)
        words = [w for _i, w, _s in p.rows]
        self.assertIn("typed hello world in review test", words)
        self.assertTrue(any(w.startswith("typed mail <EMAIL>") for w in words), words)
        self.assertNotIn("bob@example.com", dom)
        self.assertTrue(any(w.startswith("clicked at (200, 150)") for w in words), words)
        # Episodes are headed by their tasks.
        self.assertRegex(dom, r"Episode \d+: Greet the world \(XTerm, \d+ steps\)")
        self.assertRegex(dom, r"Episode \d+: Write to Bob \(XTerm, \d+ steps\)")
        # Every typing run has its screenshot, as in an export; each decodes to the screen.
        srcs = [s for _i, w, s in p.rows if w.startswith("typed")]
        self.assertTrue(srcs and all(srcs), p.rows)
        for src in srcs:
            self.assertTrue(src.startswith("/image?t=%s&" % self.token), src)
            status, body, hdr = self.request("GET", src)
            self.assertEqual(status, 200)
            self.assertEqual(hdr["Content-Type"], "image/png")
            self.assertEqual(png_size(body), (1280, 800))
        # The day view lists both sessions, with counts of what was not recorded.
        home = self.dump_dom("%s/?t=%s" % (self.base, self.token))
        self.assertIn("Session %d" % self.s1, home)
        self.assertIn("Session %d" % self.s2, home)
        self.assertIn("Password fields", home)
        audit = self.dump_dom("%s/audit?t=%s" % (self.base, self.token))
        self.assertIn("consent", audit)
        shot = os.environ.get("MIMIC_REVIEW_SCREENSHOT") or os.path.join(self.m.tmp, "r.png")
        profile = os.path.join(self.m.tmp, "chromium-shot")
        r = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--no-first-run", "--hide-scrollbars", "--user-data-dir=" + profile,
                            "--window-size=1280,800", "--screenshot=" + shot,
                            self.session_url(self.s1)], capture_output=True, text=True,
                           timeout=180, env=self.m.env)
        shutil.rmtree(profile, ignore_errors=True)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        with open(shot, "rb") as f:
            self.assertEqual(png_size(f.read()), (1280, 800))

    def test_b_headers(self):
        status, _body, hdr = self.get("/")
        self.assertEqual(status, 200)
        self.assertEqual(hdr["Cache-Control"], "no-store")
        self.assertTrue(hdr["Content-Security-Policy"].startswith("default-src 'self';"))
        self.assertNotIn("unsafe", hdr["Content-Security-Policy"])
        self.assertEqual(hdr["X-Content-Type-Options"], "nosniff")
        self.assertEqual(hdr["Referrer-Policy"], "no-referrer")
        # Only the loopback address listens.
        self.assertEqual(self.request("GET", "/?t=%s" % self.token,
                                      host="localhost:%d" % self.port)[0], 200)

    def test_c_refusals(self):
        t = self.token
        # No token, a wrong one, a token of the wrong length.
        self.assertEqual(self.request("GET", "/")[0], 403)
        self.assertEqual(self.request("GET", "/session?s=%d" % self.s1)[0], 403)
        self.assertEqual(self.request("GET", "/?t=" + "0" * 64)[0], 403)
        self.assertEqual(self.request("GET", "/?t=" + t[:-1])[0], 403)
        # Another Host (a page of another site whose name resolves to 127.0.0.1).
        self.assertEqual(self.request("GET", "/?t=" + t, host="evil.example:%d" % self.port)[0],
                         403)
        self.assertEqual(self.request("GET", "/?t=" + t, host="127.0.0.1:1")[0], 403)
        # A refusal holds none of the run's secrets.
        for target in ("/", "/?t=" + "0" * 64, "/" + "a" * 3000):
            status, body, _h = self.request("GET", target)
            self.assertNotIn(t.encode(), body)
        # Path traversal and encodings of it; no file is ever served.
        for target in ("/../../etc/passwd?t=" + t, "/%2e%2e/%2e%2e/etc/passwd?t=" + t,
                       "/session/..%2f..%2fmimic.db?t=" + t, "/mimic.db?t=" + t,
                       "/frames?t=" + t, "/image/../audit?t=" + t, "/session?t=%s&s=..%%2f1" % t,
                       "/?t=%s&s=1%%00" % t, "/" + "a" * 3000 + "?t=" + t):
            status = self.request("GET", target)[0]
            self.assertIn(status, (400, 404, 414), target)
        # Ids: of no session, out of range, not numbers; a step of session one asked as
        # session two's.
        self.assertEqual(self.get("/session", s="999999")[0], 404)
        self.assertEqual(self.get("/session", s="99999999999999999999")[0], 400)
        self.assertEqual(self.get("/session", s="-1")[0], 400)
        dom = self.get("/session", s=str(self.s1))[1].decode()
        rows = parse(dom).rows
        ep_last = max(int(re.match(r"e(\d+)-k(\d+)", i).group(1)) for i, _w, _s in rows)
        k_last = max(int(re.match(r"e(\d+)-k(\d+)", i).group(2)) for i, _w, _s in rows)
        self.assertEqual(self.get("/image", s=str(self.s1), e=str(ep_last), k="0")[0], 200)
        self.assertEqual(self.get("/image", s=str(self.s2), e=str(ep_last),
                                  k=str(k_last))[0], 404)
        self.assertEqual(self.get("/confirm", what="episode", s=str(self.s2),
                                  e=str(ep_last))[0], 404)
        # Changes: POST only, the CSRF token in the body, bodies bounded.
        csrf = [f["value"] for f in parse(self.get("/confirm", what="session",
                                                   s=str(self.s2))[1].decode()).forms
                if f.get("name") == "csrf"][0]
        self.assertEqual(self.get("/delete", what="session", s=str(self.s2))[0], 405)
        body = "what=session&s=%d" % self.s2
        self.assertEqual(self.request("POST", "/delete?t=" + t, body=body)[0], 403)
        self.assertEqual(self.request("POST", "/delete?t=" + t,
                                      body=body + "&csrf=" + "1" * 64)[0], 403)
        self.assertEqual(self.request("POST", "/delete", body=body + "&csrf=" + csrf)[0], 403)
        self.assertEqual(self.request("POST", "/delete?t=" + t, body=body + "&csrf=" + csrf,
                                      host="evil.example:%d" % self.port)[0], 403)
        self.assertEqual(self.request("POST", "/delete?t=" + t,
                                      body=body + "&csrf=" + csrf + "&e=" + "1" * 5000)[0],
                         413)
        self.assertEqual(self.request("POST", "/delete?t=%s&csrf=%s" % (t, csrf),
                                      body=body)[0], 400)
        # Nothing of session two was deleted by any of these.
        self.assertIn(self.s2, [s["id"] for s in self.m.sessions()])
        self.assertIn("typed other", self.get("/session", s=str(self.s2))[1].decode())

    def test_cx_do_not_use(self):
        before = self.export_steps(self.s1)
        bob = [s for s in before if s["task"] == "Write to Bob"]
        self.assertTrue(bob)
        ep = int(bob[0]["episode"].rsplit("-e", 1)[1])
        page = self.get("/session", s=str(self.s1))[1].decode()
        fields = [f for f in parse(page).forms if f.get("type") == "hidden"]
        csrf = [f["value"] for f in fields if f["name"] == "csrf"][0]

        def mark(undo):
            body = "csrf=%s&s=%d&e=%d%s" % (csrf, self.s1, ep, "&undo=1" if undo else "")
            status, text, _h = self.request("POST", "/exclude?t=" + self.token, body=body)
            self.assertEqual(status, 200, text)
        mark(False)
        out = os.path.join(self.m.tmp, "export-excl")
        r = self.m.run("export", str(self.s1), "--format", "jsonl", "--out", out, "--config",
                       self.conf, "--data-dir", self.m.data_dir, timeout=600)
        with open(os.path.join(out, "steps.jsonl")) as f:
            steps = [json.loads(line) for line in f]
        self.assertEqual([s for s in steps if s["task"] == "Write to Bob"], [])
        self.assertEqual(len(steps), len(before) - len(bob))
        self.assertIn("left out %d steps" % len(bob), r.stderr)
        # Webdataset too: no export includes it.
        out = os.path.join(self.m.tmp, "export-excl-wds")
        self.m.run("export", str(self.s1), "--format", "webdataset", "--out", out, "--config",
                   self.conf, "--data-dir", self.m.data_dir, timeout=600)
        blob = b"".join(open(os.path.join(out, n), "rb").read() for n in os.listdir(out))
        self.assertNotIn(b"Write to Bob", blob)
        self.assertIn(b"Greet the world", blob)
        # The page still shows it, marked, and it can be used again.
        dom = self.dump_dom(self.session_url(self.s1))
        self.assertIn("Do not use:", dom)
        self.assertIn("Use this episode again", dom)
        mark(True)
        self.assertEqual(len(self.export_steps(self.s1)), len(before))

    def test_d_delete_episode(self):
        before = self.export_steps(self.s1)
        self.assertGreaterEqual(len({s["episode"] for s in before}), 2, before)
        gone = [s for s in before if s["task"] == "Greet the world"]
        kept = [s for s in before if s["task"] == "Write to Bob"]
        self.assertTrue(gone and kept)
        gone_frames = {s["frames"]["pre"] for s in gone if s["frames"]["pre"] is not None}
        self.assertTrue(gone_frames)
        self.assertTrue(gone_frames <= self.frame_ids(self.s1))
        files_before = self.frame_files()
        gone_files = {self.frames(self.s1)[i] for i in gone_frames}
        ep = int(gone[0]["episode"].rsplit("-e", 1)[1])
        # The page's own confirmation link and form, as a person would follow them.
        dom = self.dump_dom(self.session_url(self.s1))
        link = "/confirm?t=%s&amp;what=episode&amp;s=%d&amp;e=%d" % (self.token, self.s1, ep)
        self.assertIn(link, dom)
        confirm = self.dump_dom(self.base + link.replace("&amp;", "&"))
        self.assertIn("Delete episode %d of session %d?" % (ep, self.s1), confirm)
        fields = {f["name"]: f["value"] for f in parse(confirm).forms if f.get("type") == "hidden"}
        self.assertEqual(fields["what"], "episode")
        status, body, _h = self.request("POST", "/delete?t=" + self.token,
                                        body=urllib.parse.urlencode(fields))
        self.assertEqual(status, 200, body)
        self.assertIn(b"Deleted episode", body)
        after = self.export_steps(self.s1)
        self.assertEqual([s for s in after if s["task"] == "Greet the world"], [])
        self.assertNotIn("hello world", json.dumps(after))
        # The other episode keeps its steps. A screenshot of the deleted episode's screen
        # (its last settled frame, which the next steps may have shown as theirs) is gone.
        left = [s for s in after if s["task"] == "Write to Bob"]
        self.assertEqual([(s["kind"], s["action"].get("text")) for s in left],
                         [(s["kind"], s["action"].get("text")) for s in kept])
        # Every frame left is whole: one that was a patch over deleted frames became a
        # key frame, so it (and what patches it) still puts together to the screen.
        left_frames = sorted(self.frame_ids(self.s1))
        self.assertTrue(left_frames)
        for i in left_frames:
            path = os.path.join(self.m.tmp, "left-%d.png" % i)
            self.m.run("frame", str(self.s1), str(i), "-o", path, "--data-dir", self.m.data_dir)
            with open(path, "rb") as f:
                self.assertEqual(png_size(f.read()), (1280, 800))
        self.assertEqual(gone_frames & self.frame_ids(self.s1), set())
        # Their files are gone, unless a frame left has the same pixels (one file).
        self.assertEqual(gone_files & self.frame_files(),
                         gone_files & set(self.frames(self.s1).values()))
        self.assertTrue(gone_files - self.frame_files())
        self.assertLess(len(self.frame_files() & files_before), len(files_before))
        audit = self.m.run("audit", "--json", "--data-dir", self.m.data_dir).stdout
        recs = [json.loads(line) for line in audit.splitlines()]
        mine = [r for r in recs if r["what"] == "forget" and
                r["details"]["what"] == "episode %d of session %d" % (ep, self.s1)]
        self.assertEqual(len(mine), 1, recs)
        self.assertGreater(mine[0]["details"]["events"], 0)
        # The page no longer lists it.
        words = [w for _i, w, _s in parse(self.dump_dom(self.session_url(self.s1))).rows]
        self.assertNotIn("typed hello world in review test", words)
        self.assertTrue(any(w.startswith("typed mail <EMAIL>") for w in words), words)


if __name__ == "__main__":
    xenv.main()
