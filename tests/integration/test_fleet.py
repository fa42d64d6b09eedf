"""mimic-collector end to end on loopback over TLS (docs/FLEET.md).

A self-signed certificate is made with the openssl command; the collector serves
with it; a device (keys and signatures by the fleet_sign helper) enrols with a
one-time token, fetches the signed policy, uploads a sealed bundle in chunks
(interrupted and resumed, then the same bundle again: stored once), and
build-dataset opens it into shards Python's tarfile reads. The stored bytes are
ciphertext. Faults: an unenrolled device, a replayed request, a tampered body,
a bundle over the cap, a body over the limit, a spent token and a tampered
policy are refused with a clear error and counted in /metrics by reason.
mimic-collector links no X library (ldd).
"""

import http.client
import io
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleetenv  # noqa: E402

COLLECTOR = fleetenv.COLLECTOR
SIGN = os.environ.get("MIMIC_FLEET_SIGN", "")


def reason_of(data):
    """The "reason" of a collector's JSON refusal, or None for anything else."""
    if isinstance(data, dict):
        return data.get("reason")
    try:
        o = json.loads(data)
    except ValueError:
        return None
    return o.get("reason") if isinstance(o, dict) else None


def wait_for(pred, timeout=20.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class Fleet(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("no openssl command")
        cls.dir = tempfile.mkdtemp(prefix="mimic-fleet-")
        d = cls.dir
        fleetenv.make_org(d, "[allow]\napps = xterm\n", serial=3)
        cls.data = d + "/data"
        cls.proc = None
        cls.port = 0
        cls.start()
        cls.ctx = ssl.create_default_context(cafile=d + "/tls.crt")

    @classmethod
    def start(cls):
        cls.proc, cls.err, cls.port = fleetenv.serve(cls.dir, cls.data, cls.port,
                                                     ["--max-bundle", "4M"])

    @classmethod
    def stop(cls):
        cls.proc.kill()
        cls.proc.wait()
        cls.proc.stdout.close()
        cls.err.close()

    @classmethod
    def tearDownClass(cls):
        if cls.proc:
            cls.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def request(self, method, path, body=b"", headers=None):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        return r.status, data

    def signed_headers(self, key, method, path, body=b""):
        bf = os.path.join(self.dir, "body")
        with open(bf, "wb") as f:
            f.write(body)
        out = subprocess.run([SIGN, "sign", key, method, path, bf], check=True,
                             capture_output=True).stdout
        return json.loads(out)

    def signed(self, key, method, path, body=b""):
        h = self.signed_headers(key, method, path, body)
        st, data = self.request(method, path, body, h)
        return st, json.loads(data) if data.startswith(b"{") else data

    def metric(self, name):
        st, data = self.request("GET", "/metrics")
        self.assertEqual(st, 200)
        m = re.search(r"^%s (\d+)$" % re.escape(name), data.decode(), re.M)
        self.assertIsNotNone(m, name)
        return int(m.group(1))

    def reject(self, reason):
        return self.metric('mimic_collector_rejects_total{reason="%s"}' % reason)

    def token(self):
        return subprocess.run([COLLECTOR, "token", "new", "--data", self.data], check=True,
                              capture_output=True, text=True).stdout.strip()

    def enrol(self, name):
        kd = os.path.join(self.dir, name)
        os.mkdir(kd)
        dev = subprocess.run([SIGN, "keygen", kd], check=True, capture_output=True,
                             text=True).stdout.strip()
        with open(kd + "/device.pub") as f:
            pk = f.read().strip()
        st, data = self.request("POST", "/v1/enroll",
                                json.dumps({"token": self.token(), "public_key": pk}).encode())
        self.assertEqual(st, 200, data)
        reply = json.loads(data)
        self.assertEqual(reply["device"], dev)
        with open(os.path.join(self.dir, "dataset.pub")) as f:
            self.assertEqual(reply["dataset_public_key"], f.read().strip())
        return kd + "/device.key", dev

    def export_dir(self, name, text):
        """A stand-in for one session's `mimic-data export`: a shard with a PNG and a card."""
        d = os.path.join(self.dir, name)
        os.mkdir(d)
        png = (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01"
               b"\x08\x02\x00\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00"
               b"\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82")
        with tarfile.open(os.path.join(d, "shard-000000.tar"), "w") as t:
            for i in range(40):
                for ext, data in (("png", png), ("json", json.dumps(
                        {"type": text, "pad": os.urandom(2000).hex()}).encode())):
                    ti = tarfile.TarInfo("%06d.%s" % (i, ext))
                    ti.size = len(data)
                    t.addfile(ti, io.BytesIO(data))
        with open(os.path.join(d, "README.md"), "w") as f:
            f.write("# dataset card\n")
        return d

    def seal(self, d):
        out = d + ".bundle"
        h, size = subprocess.run([SIGN, "seal", d, out, os.path.join(self.dir, "dataset.pub")],
                                 check=True, capture_output=True, text=True).stdout.split()
        with open(out, "rb") as f:
            return h, int(size), f.read()

    def upload(self, key, session, h, blob, chunk=16384, stop_after=None):
        st, r = self.signed(key, "POST", "/v1/bundles", json.dumps(
            {"v": 1, "bundle": h, "size": len(blob), "session": session}).encode())
        self.assertEqual(st, 200, r)
        off = r["received"]
        start = off
        sent = 0
        while not r["complete"] and off < len(blob):
            if stop_after is not None and sent >= stop_after:
                return start, off
            part = blob[off:off + chunk]
            st, r = self.signed(key, "PUT", "/v1/bundles/%s/%d" % (h, off), part)
            self.assertIn(st, (200, 201), r)
            off = r["received"]
            sent += 1
        return start, off

    def test_1_no_x_library(self):
        out = subprocess.run(["ldd", COLLECTOR], capture_output=True, text=True).stdout
        self.assertNotRegex(out, r"libX|libxcb|libtesseract|libatspi", out)
        self.assertIn("libmicrohttpd", out)

    def test_2_health_and_plain_errors(self):
        st, data = self.request("GET", "/v1/health")
        self.assertEqual((st, json.loads(data)["status"]), (200, "ok"))
        before = self.reject("not_found")
        st, data = self.request("GET", "/nothing")
        self.assertEqual(st, 404)
        self.assertEqual(reason_of(data), "not_found")
        self.assertEqual(self.reject("not_found"), before + 1)
        st, data = self.request("GET", "/v1/policy")
        self.assertEqual((st, reason_of(data)), (401, "unsigned"))
        # A body over the limit is refused before it is read.
        before = self.reject("too_large")
        # Only the headers are sent: the collector answers before reading a body.
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        c.putrequest("POST", "/v1/enroll")
        c.putheader("Content-Length", "20000")
        c.endheaders()
        r = c.getresponse()
        st, data = r.status, r.read()
        c.close()
        self.assertEqual((st, reason_of(data)), (413, "too_large"))
        self.assertEqual(self.reject("too_large"), before + 1)

    def test_3_enrol_upload_resume_build(self):
        key, dev = self.enrol("dev1")
        # The token is spent.
        # The signed policy arrives as the organisation signed it.
        st, pol = self.signed(key, "GET", "/v1/policy")
        self.assertEqual(st, 200)
        with open(os.path.join(self.dir, "policy.signed"), "rb") as f:
            self.assertEqual(pol, f.read())
        d = self.export_dir("s1", "TYPED-SECRET-TEXT")
        h, size, blob = self.seal(d)
        self.assertGreater(size, 5 * 16384)
        # Interrupted: three chunks, then the collector is killed.
        start, off = self.upload(key, "7", h, blob, stop_after=3)
        self.assertEqual((start, off), (0, 3 * 16384))
        self.stop()
        self.start()
        # Resumed where it stopped, then complete.
        start, off = self.upload(key, "7", h, blob)
        self.assertEqual((start, off), (3 * 16384, size))
        # The same bundle again: stored once.
        dup = self.metric("mimic_collector_duplicates_total")
        start, off = self.upload(key, "7", h, blob)
        self.assertEqual(start, size)
        self.assertEqual(self.metric("mimic_collector_duplicates_total"), dup + 1)
        lines = subprocess.run([COLLECTOR, "list", "--data", self.data], check=True,
                               capture_output=True, text=True).stdout.splitlines()
        rows = [json.loads(x) for x in lines]
        self.assertEqual([(r["bundle"], r["device"], r["session"], r["size"]) for r in rows],
                         [(h, dev, "7", size)])
        stored = os.path.join(self.data, "bundles", h[:2], h)
        with open(stored, "rb") as f:
            data = f.read()
        self.assertEqual(data, blob)
        for needle in (b"TYPED-SECRET-TEXT", b"\x89PNG", b"RIFF", b"WEBP", b"dataset card"):
            self.assertNotIn(needle, data)
        self.assertEqual(os.listdir(os.path.join(self.data, "incoming")), [])
        # build-dataset opens it into shards tarfile reads, with the PNGs whole.
        out = os.path.join(self.dir, "built")
        r = subprocess.run([COLLECTOR, "build-dataset", "--data", self.data, "--key",
                            os.path.join(self.dir, "dataset.key"), "--out", out],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        shards = [n for n in os.listdir(out) if n.endswith(".tar")]
        self.assertEqual(shards, [h[:16] + "-shard-000000.tar"])
        with tarfile.open(os.path.join(out, shards[0])) as t:
            names = t.getnames()
            self.assertEqual(len(names), 80)
            img = t.extractfile("000000.png").read()
            self.assertTrue(img.startswith(b"\x89PNG\r\n\x1a\n"))
            self.assertIn(b"IEND", img)
            self.assertEqual(json.loads(t.extractfile("000001.json").read())["type"],
                             "TYPED-SECRET-TEXT")
        # A deletion request removes the bundle and is audited.
        st, r = self.signed(key, "DELETE", "/v1/sessions/7")
        self.assertEqual((st, r["deleted"]), (200, 1))
        self.assertFalse(os.path.exists(stored))
        audit = subprocess.run([COLLECTOR, "audit", "--data", self.data], check=True,
                               capture_output=True, text=True).stdout
        self.assertIn('"what":"delete"', audit)

    def test_4_refusals(self):
        key, dev = self.enrol("dev2")
        # Unenrolled device.
        kd = os.path.join(self.dir, "stranger")
        os.mkdir(kd)
        subprocess.run([SIGN, "keygen", kd], check=True, capture_output=True)
        before = self.reject("unknown_device")
        st, r = self.signed(kd + "/device.key", "GET", "/v1/policy")
        self.assertEqual(st, 401)
        self.assertIn("not enrolled", r["error"])
        self.assertEqual(self.reject("unknown_device"), before + 1)
        # Replayed request.
        h = self.signed_headers(key, "GET", "/v1/policy")
        self.assertEqual(self.request("GET", "/v1/policy", b"", h)[0], 200)
        before = self.reject("replay")
        st, data = self.request("GET", "/v1/policy", b"", h)
        self.assertEqual((st, reason_of(data)), (401, "replay"))
        self.assertEqual(self.reject("replay"), before + 1)
        # Tampered body.
        body = json.dumps({"v": 1, "bundle": "a" * 64, "size": 10, "session": "9"}).encode()
        h = self.signed_headers(key, "POST", "/v1/bundles", body)
        before = self.reject("bad_signature")
        st, data = self.request("POST", "/v1/bundles", body.replace(b"10", b"11"), h)
        self.assertEqual((st, reason_of(data)), (401, "bad_signature"))
        self.assertIn(b"signature does not match", data)
        self.assertEqual(self.reject("bad_signature"), before + 1)
        # A bundle over the cap (4M).
        before = self.reject("too_large")
        st, r = self.signed(key, "POST", "/v1/bundles", json.dumps(
            {"v": 1, "bundle": "b" * 64, "size": 5 * 1024 * 1024, "session": "10"}).encode())
        self.assertEqual((st, reason_of(r)), (413, "too_large"))
        self.assertIn("cap", r.get("error", ""))
        self.assertEqual(self.reject("too_large"), before + 1)
        # A spent token.
        tok = self.token()
        pk = "00" * 32
        self.assertEqual(self.request("POST", "/v1/enroll", json.dumps(
            {"token": tok, "public_key": pk}).encode())[0], 200)
        before = self.reject("bad_token")
        st, data = self.request("POST", "/v1/enroll", json.dumps(
            {"token": tok, "public_key": "11" * 32}).encode())
        self.assertEqual((st, reason_of(data)), (403, "bad_token"))
        self.assertEqual(self.reject("bad_token"), before + 1)
        # A tampered policy is not served: the collector verifies it first.
        p = os.path.join(self.dir, "policy.signed")
        with open(p, "rb") as f:
            good = f.read()
        try:
            with open(p, "wb") as f:
                f.write(good.replace(b"xterm", b"xtern"))
            before = self.reject("bad_policy")
            st, r = self.signed(key, "GET", "/v1/policy")
            self.assertEqual(st, 500)
            self.assertIn("does not verify", r["error"])
            self.assertEqual(self.reject("bad_policy"), before + 1)
        finally:
            with open(p, "wb") as f:
                f.write(good)


if __name__ == "__main__":
    unittest.main(verbosity=2)
