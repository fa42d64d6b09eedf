#!/usr/bin/env python3
"""The distributed engines through src/fleet/ (s3 and stream), against the real
engines of scripts/test-services: a single-node Ceph radosgw and a 3-node NATS
JetStream cluster (R=3) on loopback.

S3: bytes PUT come back by GET byte for byte, HEAD gives their size, a listing by
prefix finds them, DELETE removes them; a presigned PUT URL works with curl(1) and a
tampered one (another key, another signature) gets 403. JetStream: the same bundle
hash published twice is stored once; a durable pull consumer gets every message
once, also across two consumers' runs; with one NATS node killed, publishing and
consuming go on.

CollectorOnEngines: `mimic-collector serve --s3 ... --nats ...` with a device that
records a session in an xterm and uploads it: the bundle is an object of the bucket
(ciphertext: no typed text, no image signature) and not a file of the collector's
directory, one announcement of it is on the stream, and `build-dataset --s3` reads it
back from the bucket into shards that tarfile opens, with the typed text.

The engines are started here and stopped at the end, under a fresh state
directory; with MIMIC_TEST_SERVICES_DIR set, the set already running there is used
(and left running), which is how a developer iterates.
"""

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fleetenv  # noqa: E402
import xenv  # noqa: E402

SRC = os.environ.get("MIMIC_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
CLIENT = os.environ.get("MIMIC_ENGINES_CLIENT", "")
SERVICES = os.path.join(SRC, "scripts", "test-services")

state = None
started = False
env = dict(os.environ)


def run(*args, check=True, stdin=None):
    p = subprocess.run([CLIENT, *args], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, input=stdin, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("engines_client %s failed (%d): %s"
                             % (" ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p


def services(*args):
    p = subprocess.run([SERVICES, *args, state], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=600)
    if p.returncode != 0:
        raise AssertionError("test-services %s: %s" % (" ".join(args), p.stderr.decode()))
    return p.stdout.decode()


def alive(pid):
    """Whether pid runs (a zombie does not)."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def setUpModule():
    global state, started
    if not CLIENT:
        raise unittest.SkipTest("MIMIC_ENGINES_CLIENT is not set (run through meson)")
    missing = [t for t in ("radosgw", "ceph-mon", "nats-server", "curl")
               if subprocess.run(["sh", "-c", "command -v " + t],
                                 stdout=subprocess.DEVNULL).returncode != 0]
    if missing:
        msg = "not installed: %s (scripts/install-deps)" % " ".join(missing)
        if os.environ.get("CI") in ("true", "1"):
            raise AssertionError(msg)
        raise unittest.SkipTest(msg)
    state = os.environ.get("MIMIC_TEST_SERVICES_DIR")
    if not state:
        state = tempfile.mkdtemp(prefix="mimic-engines-")
        started = True
    out = services("up")
    for line in out.splitlines():
        k, _, v = line.partition("=")
        if k.startswith("MIMIC_TEST_"):
            env[k] = v


def tearDownModule():
    if started and state:
        services("down")


class Linking(unittest.TestCase):
    def test_recorder_needs_no_nats(self):
        """The `mimic` program, which records and uploads, never loads libnats."""
        mimic = os.environ.get("MIMIC_BIN")
        if not mimic:
            self.skipTest("MIMIC_BIN is not set (run through meson)")
        out = subprocess.run(["ldd", mimic], stdout=subprocess.PIPE, check=True).stdout.decode()
        self.assertIn("libsodium", out)  # ldd did list the libraries
        self.assertNotIn("libnats", out)


class S3(unittest.TestCase):
    def test_put_get_head_list_delete(self):
        data = os.urandom(3 * 1024 * 1024 + 17)
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            run("put", "t1/a b+c.bin", f.name)
        self.assertEqual(run("get", "t1/a b+c.bin").stdout, data)
        self.assertEqual(run("head", "t1/a b+c.bin").stdout.decode().split()[0],
                         "size=%d" % len(data))
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"second")
            f.flush()
            run("put", "t1/z", f.name)
            run("put", "t2/other", f.name)
        listing = run("list", "t1/", "100").stdout.decode().splitlines()
        self.assertEqual(listing, ["t1/a b+c.bin %d" % len(data), "t1/z 6", "truncated=0"])
        # A bounded listing says that more keys exist.
        self.assertEqual(run("list", "t1/", "1").stdout.decode().splitlines(),
                         ["t1/a b+c.bin %d" % len(data), "truncated=1"])
        run("delete", "t1/a b+c.bin")
        self.assertEqual(run("head", "t1/a b+c.bin").stdout.decode().strip(), "missing")
        p = run("get", "t1/a b+c.bin", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("HTTP 404 NoSuchKey", p.stderr.decode())
        self.assertIn(env["MIMIC_TEST_S3_URL"], p.stderr.decode())

    def curl_put(self, url, body):
        with tempfile.NamedTemporaryFile() as f:
            f.write(body)
            f.flush()
            p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                "-T", f.name, url], stdout=subprocess.PIPE, timeout=60)
        return p.stdout.decode()

    def test_presigned_put(self):
        url = run("presign", "PUT", "dev/bundle-1", "300").stdout.decode().strip()
        body = os.urandom(200000)
        self.assertEqual(self.curl_put(url, body), "200")
        self.assertEqual(run("get", "dev/bundle-1").stdout, body)
        # Another key with the same signature, or a changed signature: refused, nothing stored.
        self.assertEqual(self.curl_put(url.replace("bundle-1", "bundle-2"), b"x"), "403")
        sig = url.rsplit("=", 1)[1]
        bad = url[:-len(sig)] + ("0" if sig[0] != "0" else "1") + sig[1:]
        self.assertEqual(self.curl_put(bad, b"x"), "403")
        self.assertEqual(run("head", "dev/bundle-2").stdout.decode().strip(), "missing")
        self.assertEqual(run("get", "dev/bundle-1").stdout, body)
        # A GET URL does not let anyone PUT.
        get = run("presign", "GET", "dev/bundle-1", "300").stdout.decode().strip()
        self.assertEqual(self.curl_put(get, b"y"), "403")


class JetStream(unittest.TestCase):
    def count(self, stream):
        return int(run("count", stream).stdout.decode().strip().split("=")[1])

    def consume(self, stream, durable, n):
        out = run("consume", stream, durable, str(n)).stdout.decode().splitlines()
        return [line.split(" ", 1) for line in out]

    def test_dedupe_and_consume_once(self):
        name = "T%d" % (time.time_ns() % 10**9)
        subj = "mimic.%s.manifests" % name.lower()
        run("ensure", name, subj + ".>", "3")
        first = run("publish", subj + ".a", "hash-1", "manifest-1").stdout.decode().split()
        again = run("publish", subj + ".a", "hash-1", "manifest-1").stdout.decode().split()
        self.assertEqual(first[1], "duplicate=0")
        self.assertEqual(again, [first[0], "duplicate=1"])
        for i in range(2, 11):
            run("publish", subj + ".b", "hash-%d" % i, "manifest-%d" % i)
        self.assertEqual(self.count(name), 10)
        got = self.consume(name, "builders", 4) + self.consume(name, "builders", 100)
        self.assertEqual(sorted(got), sorted([["hash-%d" % i, "manifest-%d" % i]
                                              for i in range(1, 11)]))
        # All acknowledged: nothing comes again.
        self.assertEqual(self.consume(name, "builders", 100), [])

    def test_one_node_down(self):
        name = "K%d" % (time.time_ns() % 10**9)
        subj = "mimic.%s.manifests" % name.lower()
        run("ensure", name, subj + ".>", "3")
        run("publish", subj + ".a", "before", "m-before")
        pids = env["MIMIC_TEST_NATS_PIDS"].split(",")
        services("stop", "nats1")
        try:
            self.assertFalse(alive(pids[0]), "nats1 (pid %s) is still running" % pids[0])
            # The client may reach the dead node first and move on; a publish that times
            # out meanwhile is sent again with the same id (the stream keeps it once).
            deadline = time.time() + 60
            while True:
                p = run("publish", subj + ".a", "after", "m-after", check=False)
                if p.returncode == 0 or time.time() > deadline:
                    break
                time.sleep(1)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            self.assertEqual(self.count(name), 2)
            got = self.consume(name, "builders", 10)
            self.assertEqual(sorted(got), [["after", "m-after"], ["before", "m-before"]])
        finally:
            services("start", "nats1")


class CollectorOnEngines(fleetenv.CollectorDesktopTest):
    WORD = "enginesupload"
    ORG_POLICY = "[allow]\napp = XTerm\n"
    SERIAL = 1

    @classmethod
    def serve_args(cls):
        if not fleetenv.COLLECTOR:
            raise AssertionError("MIMIC_COLLECTOR is not set (run through meson)")
        # The bucket's credentials, from the environment as for any S3 tool.
        os.environ["AWS_ACCESS_KEY_ID"] = env["MIMIC_TEST_S3_ACCESS"]
        os.environ["AWS_SECRET_ACCESS_KEY"] = env["MIMIC_TEST_S3_SECRET"]
        cls.stream = "C%d" % (time.time_ns() % 10**9)
        cls.s3 = ["--s3", env["MIMIC_TEST_S3_URL"], "--s3-bucket", env["MIMIC_TEST_S3_BUCKET"]]
        return cls.s3 + ["--nats", env["MIMIC_TEST_NATS_URLS"], "--stream", cls.stream,
                         "--stream-replicas", "3"]

    def mimic(self, *args, check=True):
        r = super().mimic(*args)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def collector(self, *args):
        return subprocess.run([fleetenv.COLLECTOR, *args], capture_output=True, text=True,
                              timeout=120)

    def record(self, word):
        """Records word typed into an xterm; returns the session's id."""
        wid = self.x.xterm(name="enginesterm", title="engines upload test")
        self.x.focus(wid)
        self.m.start()
        self.x.xdotool("type", "--delay", "40", word)
        self.x.xdotool("key", "Return")
        xenv.wait_for(lambda: word in xenv.typed_text(self.m.events()), timeout=30,
                      what="the typed word to be stored")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        self.x.run(["xdotool", "windowkill", wid], check=False)
        type(self).words = getattr(type(self), "words", []) + [word]
        return self.m.sessions()[-1]["id"]

    def upload(self, check=True):
        return self.mimic("upload", "--now", "--policy", self.m.policy, "--retry-after",
                          "100ms", "--attempts", "3", check=check)

    def record_and_upload(self, word):
        sid = self.record(word)
        self.assertIn("uploaded 1 session", self.upload().stdout)
        return sid

    def bundles(self):
        return {r["session"]: r for r in (json.loads(x) for x in self.collector(
            "list", "--data", self.data).stdout.splitlines() if x.strip())}

    def msgs(self):
        return int(run("count", self.stream).stdout.decode().strip().split("=")[1])

    def enrol(self):
        """Enrols the device once (each case may run alone); returns its id."""
        if getattr(type(self), "device", None) is None:
            token = self.collector("token", "new", "--data", self.data).stdout.strip()
            r = self.mimic("enroll", self.url, "--token", token, "--ca",
                           os.path.join(self.dir, "tls.crt"))
            type(self).device = re.search(r"enrolled as device (d[0-9a-f]{32})",
                                          r.stdout).group(1)
        return self.device

    def test_1_upload_to_the_bucket_and_the_stream(self):
        dev = self.enrol()
        sid = self.record_and_upload(self.WORD)
        rows = [json.loads(x) for x in self.collector("list", "--data", self.data)
                .stdout.splitlines() if x.strip()]
        self.assertEqual([(r["device"], r["session"]) for r in rows], [(dev, str(sid))])
        h, size = rows[0]["bundle"], rows[0]["size"]
        # In the bucket, under the embedded layout's name; not in the collector's directory.
        key = "bundles/%s/%s" % (h[:2], h)
        self.assertEqual(run("head", key).stdout.decode().split()[0], "size=%d" % size)
        data = run("get", key).stdout
        self.assertEqual(len(data), size)
        for needle in (self.WORD.encode(), b"\x89PNG", b"RIFF", b"WEBP", b"JFIF"):
            self.assertNotIn(needle, data)
        self.assertFalse(os.path.exists(os.path.join(self.data, "bundles", h[:2], h)))
        # One announcement on the stream, named by the bundle's hash.
        xenv.wait_for(lambda: self.msgs() == 1, timeout=30,
                      what="the bundle's announcement on the stream")
        got = run("consume", self.stream, "builders", "10").stdout.decode().splitlines()
        self.assertEqual(len(got), 1, got)
        msg_id, body = got[0].split(" ", 1)
        self.assertEqual(msg_id, h)
        note = json.loads(body)
        self.assertEqual((note["bundle"], note["device"], note["session"], note["size"],
                          note["storage"]), (h, dev, str(sid), size, "s3"))
        self.assertEqual((self.metric("mimic_collector_stream_published_total"),
                          self.metric("mimic_collector_stream_pending")), (1, 0))
        # The dataset builder reads it back from the bucket.
        out = os.path.join(self.dir, "built")
        r = self.collector("build-dataset", "--data", self.data, "--key",
                           os.path.join(self.dir, "dataset.key"), "--out", out, *self.s3)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1 bundles opened", r.stdout)
        found = False
        for name in os.listdir(out):
            if name.endswith(".tar"):
                with tarfile.open(os.path.join(out, name)) as t:
                    for mem in t.getmembers():
                        if mem.name.endswith(".json") and \
                                self.WORD.encode() in t.extractfile(mem).read():
                            found = True
        self.assertTrue(found, "the typed text is in no shard's JSON: %s" % os.listdir(out))


    def test_2_one_nats_node_down(self):
        """With one of the three NATS nodes killed, a new bundle is stored and announced."""
        self.enrol()
        services("stop", "nats1")
        try:
            n = self.msgs()
            sid = self.record_and_upload(self.WORD + "two")
            self.assertIn(str(sid), self.bundles())
            xenv.wait_for(lambda: self.msgs() == n + 1, timeout=60,
                          what="the second announcement with a NATS node down")
            self.assertEqual(self.metric("mimic_collector_stream_pending"), 0)
        finally:
            services("start", "nats1")

    def test_3_s3_down(self):
        """S3 down: the upload fails in one line, the bundle waits in the device's spool;
        S3 back: the next upload stores it, once, and it is announced."""
        self.enrol()
        sid = self.record(self.WORD + "three")
        n = self.msgs()
        spool = os.path.join(self.m.data_dir, "fleet", "spool")
        before = self.metric("mimic_collector_rejects_total{reason=\"storage_unavailable\"}")
        services("stop", "s3")
        try:
            r = self.upload(check=False)
            self.assertNotEqual(r.returncode, 0, r.stdout)
            lines = [x for x in r.stderr.splitlines() if x.strip()]
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn("could not be stored", lines[0])
            self.assertEqual(os.listdir(spool), ["S%d.bundle" % sid])
            self.assertNotIn(str(sid), self.bundles())
            self.assertGreater(self.metric(
                "mimic_collector_rejects_total{reason=\"storage_unavailable\"}"), before)
        finally:
            services("start", "s3")
        self.assertIn("uploaded 1 session", self.upload().stdout)
        self.assertEqual(os.listdir(spool), [])
        row = self.bundles()[str(sid)]
        h = row["bundle"]
        self.assertEqual(run("head", "bundles/%s/%s" % (h[:2], h)).stdout.decode().split()[0],
                         "size=%d" % row["size"])
        xenv.wait_for(lambda: self.msgs() == n + 1, timeout=30,
                      what="the announcement of the bundle stored after S3 came back")


    def test_4_builders_from_the_stream(self):
        """build-dataset --out s3://: shards of every announced bundle, written back to the
        bucket; each announcement is built once."""
        self.enrol()
        if not self.bundles():
            self.record_and_upload(self.WORD + "four")
        stored = self.bundles()
        prefix = "shards-%s/" % self.stream.lower()
        args = ["build-dataset", "--key", os.path.join(self.dir, "dataset.key"), "--out",
                "s3://%s/%s" % (env["MIMIC_TEST_S3_BUCKET"], prefix), *self.s3,
                "--nats", env["MIMIC_TEST_NATS_URLS"], "--stream", self.stream,
                "--durable", "shards", "--idle", "2"]
        r = self.collector(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("%d bundles opened" % len(stored), r.stdout)
        keys = [line.rsplit(" ", 1)[0] for line in run("list", prefix, "1000").stdout.decode()
                .splitlines() if not line.startswith("truncated=")]
        hashes = {row["bundle"][:16] for row in stored.values()}
        self.assertEqual({k[len(prefix):].split("-", 1)[0] for k in keys}, hashes)
        words = set()
        for k in keys:
            if k.endswith(".tar"):
                with tarfile.open(fileobj=io.BytesIO(run("get", k).stdout)) as t:
                    for mem in t.getmembers():
                        if mem.name.endswith(".json"):
                            body = t.extractfile(mem).read()
                            words |= {w for w in self.words if w.encode() in body}
        # The text typed in every session uploaded is in the shards written back.
        self.assertEqual(words, set(self.words), keys)
        # Every announcement was acknowledged: a second builder finds nothing to do.
        r = self.collector(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("0 bundles opened", r.stdout)

if __name__ == "__main__":
    unittest.main(verbosity=2)
