"""The device side of the fleet end to end: `mimic enroll` and `mimic upload`
against mimic-collector over TLS on loopback (docs/FLEET.md, "The device side").

A session is recorded in xterm under Xvfb; while the recorder is paused nothing
uploads; the device enrols with a one-time token and the collector's CA; the
session is not sent before the policy's upload_delay and is after it; an upload
throttled with --max-rate is cut by killing the collector, and the next run
resumes where the collector stopped (fewer chunk bytes than the bundle) and
stores it once; a second run sends nothing. The collector's catalog lists the
session, its stored bytes are ciphertext, and build-dataset opens it into shards
tarfile reads that hold the typed text. `mimic status` shows the upload state
(and the error of the cut run). A forget of the uploaded session makes the
collector delete it (its audit says so). Errors: a bad token, a wrong CA, an
unreachable collector, plain http to a non-loopback host, upload before enrolment,
a spool at its cap. A running recorder with [upload] upload_interval uploads an
ended session by itself once the delay has passed; a forget of it while the
collector is down is queued and sent by the next `mimic upload`.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fleetenv  # noqa: E402
import xenv  # noqa: E402

COLLECTOR = fleetenv.COLLECTOR
DELAY_S = 4
WORD = "fleetupload"


class Upload(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mimic-upload-")
        d = cls.dir
        fleetenv.make_org(d, "[allow]\napp = XTerm\n", serial=1)
        fleetenv.make_cert(d, "other")
        cls.data = d + "/collector"
        cls.proc = None
        cls.port = 0
        cls.start()
        cls.x = xenv.XServer()
        cls.m = xenv.Mimic(cls.x)
        with open(cls.m.policy, "a") as f:
            f.write("[upload]\nupload_delay = %ds\n" % DELAY_S)

    @classmethod
    def start(cls):
        cls.proc, cls.err, cls.port = fleetenv.serve(cls.dir, cls.data, cls.port)
        cls.url = "https://127.0.0.1:%d" % cls.port

    @classmethod
    def stop(cls):
        cls.proc.kill()
        cls.proc.wait()
        cls.proc.stdout.close()
        cls.err.close()
        cls.proc = None

    @classmethod
    def tearDownClass(cls):
        if cls.proc:
            cls.stop()
        cls.m.close()
        cls.x.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def mimic(self, *args, check=False, timeout=120):
        return self.m.run(*args, "--data-dir", self.m.data_dir, check=check, timeout=timeout)

    def upload(self, *args, timeout=120):
        return self.mimic("upload", "--policy", self.m.policy, "--retry-after", "100ms",
                          "--attempts", "2", *args, timeout=timeout)

    def token(self):
        return subprocess.run([COLLECTOR, "token", "new", "--data", self.data], check=True,
                              capture_output=True, text=True).stdout.strip()

    def collector_list(self):
        out = subprocess.run([COLLECTOR, "list", "--data", self.data], check=True,
                             capture_output=True, text=True).stdout
        return [json.loads(x) for x in out.splitlines() if x.strip()]

    def metric(self, name):
        return fleetenv.metric(fleetenv.metrics_text(self.url, os.path.join(self.dir, "tls.crt")),
                               name)

    def one_line_error(self, r, *needles):
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        for n in needles:
            self.assertIn(n, lines[0])

    def test_1_errors(self):
        # Not enrolled yet: upload says what to do.
        self.one_line_error(self.upload("--now"), "not enrolled", "mimic enroll")
        # A token the collector never made.
        r = self.mimic("enroll", self.url, "--token", "not-a-token", "--ca",
                       os.path.join(self.dir, "tls.crt"))
        self.one_line_error(r, "refused the enrolment token", "token new")
        # The collector's certificate does not chain to the CA given.
        r = self.mimic("enroll", self.url, "--token", self.token(), "--ca",
                       os.path.join(self.dir, "other.crt"))
        self.one_line_error(r, "TLS", self.url)
        # Nothing listens there.
        r = self.mimic("enroll", "https://127.0.0.1:1", "--token", "t", "--ca",
                       os.path.join(self.dir, "tls.crt"))
        self.one_line_error(r, "cannot reach the collector")
        # Plain http to another machine is refused before anything is sent.
        r = self.mimic("enroll", "http://collector.example:8080", "--token", "t")
        self.one_line_error(r, "plain http", "loopback")
        self.assertFalse(os.path.exists(os.path.join(self.m.data_dir, "fleet", "enrolment.json")))

    def test_2_enrol_upload_resume_forget(self):
        m, x = self.m, self.x
        # Enrolment: a device key only this user may read, the audit says so.
        r = self.mimic("enroll", self.url, "--token", self.token(), "--ca",
                       os.path.join(self.dir, "tls.crt"))
        self.assertEqual(r.returncode, 0, r.stderr)
        dev = re.search(r"enrolled as device (d[0-9a-f]{32})", r.stdout).group(1)
        key = os.path.join(m.data_dir, "fleet", "device.key")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        audit = self.mimic("audit", "--json", check=True).stdout
        self.assertIn('"what":"enroll"', audit)
        self.assertIn(dev, audit)

        # A session, recorded; while the recorder is paused nothing uploads.
        wid = x.xterm(name="uploadterm", title="upload test")
        x.focus(wid)
        time.sleep(0.3)
        m.start()
        time.sleep(0.5)
        x.xdotool("type", "--delay", "60", WORD)
        x.xdotool("key", "Return")
        time.sleep(1.0)
        m.run("pause")
        r = self.upload("--now")
        self.one_line_error(r, "paused", "mimic resume")
        m.run("resume")
        time.sleep(0.3)
        self.assertEqual(m.stop(), 0)
        ended = time.monotonic()
        sid = m.sessions()[-1]["id"]

        # The spool at its cap: no bundle is made, said in one line.
        spool = os.path.join(m.data_dir, "fleet", "spool")
        os.makedirs(spool, exist_ok=True)
        filler = os.path.join(spool, "S999999.bundle")
        with open(filler, "wb") as f:
            f.write(b"\0" * (1 << 20))
        capped = os.path.join(m.tmp, "policy-cap.conf")
        with open(m.policy) as f, open(capped, "w") as g:
            g.write(f.read() + "spool_max = 1M\n")
        r = self.mimic("upload", "--now", "--policy", capped)
        self.one_line_error(r, "spool", "at its cap", "spool_max")
        os.unlink(filler)
        self.assertEqual(os.listdir(spool), [])

        # Before the delay: nothing sent, the session waits.
        r = self.upload()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("uploaded 0 sessions", r.stdout)
        self.assertIn("1 waiting for the upload delay", r.stdout)
        self.assertEqual(self.collector_list(), [])
        time.sleep(max(0.0, DELAY_S + 0.5 - (time.monotonic() - ended)))

        # A throttled upload cut by the collector's death mid-way.
        incoming = os.path.join(self.data, "incoming")
        p = subprocess.Popen([xenv.MIMIC, "upload", "--policy", m.policy, "--data-dir",
                              m.data_dir, "--chunk-size", "4K", "--max-rate", "8K",
                              "--attempts", "2", "--retry-after", "100ms"],
                             env=m.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def partial():
            try:
                return any(os.path.getsize(os.path.join(incoming, n)) >= 8192
                           for n in os.listdir(incoming))
            except OSError:
                return False
        xenv.wait_for(partial, timeout=90, what="a partial upload at the collector")
        self.stop()
        out, err = p.communicate(timeout=60)
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn("cannot reach the collector", err)
        bundles = [n for n in os.listdir(spool) if n.endswith(".bundle")]
        self.assertEqual(bundles, ["S%d.bundle" % sid])
        size = os.path.getsize(os.path.join(spool, bundles[0]))
        st = json.loads(self.mimic("status", "--json").stdout)["upload"]
        self.assertEqual((st["device"], st["waiting"], st["uploaded"]), (dev, 1, 0))
        self.assertIn("cannot reach the collector", st["last_error"])

        # Restarted: the next run resumes where the collector stopped and completes.
        self.start()
        r = self.upload("--chunk-size", "4K")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("uploaded 1 session", r.stdout)
        self.assertLess(self.metric("mimic_collector_chunk_bytes_total"), size)
        self.assertEqual(os.listdir(spool), [])
        rows = self.collector_list()
        self.assertEqual([(r["device"], r["session"], r["size"]) for r in rows],
                         [(dev, str(sid), size)])
        h = rows[0]["bundle"]
        with open(os.path.join(self.data, "bundles", h[:2], h), "rb") as f:
            data = f.read()
        self.assertEqual(len(data), size)
        for needle in (WORD.encode(), b"\x89PNG", b"RIFF", b"WEBP", b"JFIF"):
            self.assertNotIn(needle, data)
        # Uploaded once: a second run sends nothing.
        r = self.upload("--now")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("uploaded 0 sessions (0.0 MB sent)", r.stdout)
        self.assertEqual(len(self.collector_list()), 1)
        st = json.loads(self.mimic("status", "--json").stdout)["upload"]
        self.assertEqual((st["waiting"], st["uploaded"], st["last_error"]), (0, 1, None))
        self.assertIsNotNone(st["last_upload"])
        text = self.mimic("status").stdout
        self.assertIn("enrolled as %s with %s" % (dev, self.url), text)
        self.assertIn("1 uploaded, 0 waiting", text)
        audit = [json.loads(x) for x in self.mimic("audit", "--json", check=True).stdout.splitlines()]
        ups = [a for a in audit if a["what"] == "upload"]
        self.assertEqual(len(ups), 1)
        self.assertEqual((ups[0]["details"]["session"], ups[0]["details"]["bundle"]), (sid, h))

        # The dataset builder opens it: shards tarfile reads, with the typed text.
        out = os.path.join(self.dir, "built")
        r = subprocess.run([COLLECTOR, "build-dataset", "--data", self.data, "--key",
                            os.path.join(self.dir, "dataset.key"), "--out", out],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        shards = [n for n in os.listdir(out) if n.endswith(".tar")]
        self.assertTrue(shards, os.listdir(out))
        found = False
        for s in shards:
            with tarfile.open(os.path.join(out, s)) as t:
                for mem in t.getmembers():
                    body = t.extractfile(mem).read()
                    if mem.name.endswith(".json") and WORD.encode() in body:
                        found = True
                    if mem.name.endswith(".png"):
                        self.assertTrue(body.startswith(b"\x89PNG\r\n\x1a\n"))
        self.assertTrue(found, "the typed text is in no shard's JSON")

        # Forget: the collector deletes its copy and audits it.
        r = self.mimic("forget", "--session", str(sid))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("the collector deleted 1 forgotten session", r.stdout)
        self.assertEqual(self.collector_list(), [])
        self.assertFalse(os.path.exists(os.path.join(self.data, "bundles", h[:2], h)))
        caudit = subprocess.run([COLLECTOR, "audit", "--data", self.data], check=True,
                                capture_output=True, text=True).stdout
        self.assertIn('"what":"delete"', caudit)
        audit = self.mimic("audit", "--json", check=True).stdout
        self.assertIn('"what":"upload-delete"', audit)
        st = json.loads(self.mimic("status", "--json").stdout)["upload"]
        self.assertEqual(st["deletions_queued"], 0)

    def test_3_recorder_uploads_by_itself(self):
        m, x = self.m, self.x
        if not os.path.exists(os.path.join(m.data_dir, "fleet", "enrolment.json")):
            r = self.mimic("enroll", self.url, "--token", self.token(), "--ca",
                           os.path.join(self.dir, "tls.crt"))
            self.assertEqual(r.returncode, 0, r.stderr)
        wid = x.xterm(name="autoterm", title="automatic upload test")
        x.focus(wid)
        time.sleep(0.3)
        m.start()
        time.sleep(0.5)
        x.xdotool("type", "--delay", "60", "autoupload")
        time.sleep(0.8)
        self.assertEqual(m.stop(), 0)
        ended = m.sessions()[-1]["id"]
        # The next recording, with a policy that uploads every second: the session
        # that ended goes once the delay has passed, with no command.
        auto = os.path.join(m.tmp, "policy-auto.conf")
        with open(m.policy) as f, open(auto, "w") as g:
            g.write(f.read() + "upload_interval = 1s\n")
        m.start("--policy", auto)
        try:
            rows = xenv.wait_for(lambda: [r for r in self.collector_list()
                                          if r["session"] == str(ended)],
                                 timeout=90, interval=0.5,
                                 what="the recorder to upload session %d" % ended)
            self.assertEqual(len(rows), 1)
            recording = m.status()["session"]
            # The session being recorded is not sent: it has not ended.
            self.assertNotIn(str(recording), [r["session"] for r in self.collector_list()])
        finally:
            self.assertEqual(m.stop(), 0)
        audit = [json.loads(x) for x in self.mimic("audit", "--json", check=True).stdout.splitlines()]
        self.assertIn(ended, [a["details"].get("session") for a in audit if a["what"] == "upload"])

        # A forget while the collector is down: queued, said so, sent by the next upload.
        self.stop()
        try:
            r = self.mimic("forget", "--session", str(ended), timeout=180)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("deleted at the next `mimic upload`", r.stderr)
            st = json.loads(self.mimic("status", "--json").stdout)["upload"]
            self.assertEqual(st["deletions_queued"], 1)
        finally:
            self.start()
        self.assertIn(str(ended), [r["session"] for r in self.collector_list()])
        r = self.upload()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("the collector deleted 1 forgotten session", r.stdout)
        self.assertNotIn(str(ended), [r["session"] for r in self.collector_list()])
        st = json.loads(self.mimic("status", "--json").stdout)["upload"]
        self.assertEqual(st["deletions_queued"], 0)


if __name__ == "__main__":
    if not COLLECTOR:
        raise SystemExit("MIMIC_COLLECTOR is not set")
    xenv.main()
