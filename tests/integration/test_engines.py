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

The engines are started here and stopped at the end, under a fresh state
directory; with MIMIC_TEST_SERVICES_DIR set, the set already running there is used
(and left running), which is how a developer iterates.
"""

import os
import subprocess
import sys
import tempfile
import time
import unittest

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


if __name__ == "__main__":
    unittest.main(verbosity=2)
