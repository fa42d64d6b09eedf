"""What the collector's tests share (test_fleet, test_upload, test_fleet_load): the
organisation's keys, a self-signed TLS certificate made with the openssl command, a
signed policy, and a `mimic-collector serve` on a loopback port.
"""

import os
import re
import shutil
import ssl
import subprocess
import tempfile
import unittest
import urllib.request

COLLECTOR = os.environ.get("MIMIC_COLLECTOR", "")


def make_cert(d, name="tls"):
    """d/NAME.key and d/NAME.crt: a P-256 certificate for localhost and 127.0.0.1."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", os.path.join(d, name + ".key"),
                    "-out", os.path.join(d, name + ".crt"), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)


def make_org(d, policy=None, serial=1):
    """The organisation's keys (dataset.*, policy.*) and tls.* in d; with policy text,
    d/policy.conf signed into d/policy.signed with that serial."""
    subprocess.run([COLLECTOR, "keys", "new", "--out", d], check=True, capture_output=True)
    make_cert(d)
    if policy is not None:
        with open(os.path.join(d, "policy.conf"), "w") as f:
            f.write(policy)
        subprocess.run([COLLECTOR, "policy", "sign", "--key", d + "/policy.key", "--serial",
                        str(serial), "--out", d + "/policy.signed", d + "/policy.conf"],
                       check=True, capture_output=True)


def serve(d, data, port=0, args=(), log="info"):
    """Starts `mimic-collector serve` over TLS with the files of make_org (the signed
    policy when there is one), its log appended to d/collector.log. Returns
    (process, log file, port); the caller kills the process and closes both."""
    policy = []
    if os.path.exists(os.path.join(d, "policy.signed")):
        policy = ["--policy", d + "/policy.signed", "--policy-pub", d + "/policy.pub"]
    err = open(os.path.join(d, "collector.log"), "ab")
    proc = subprocess.Popen(
        [COLLECTOR, "serve", "--listen", "127.0.0.1:%d" % port, "--data", data,
         "--dataset-pub", d + "/dataset.pub", "--tls-cert", d + "/tls.crt",
         "--tls-key", d + "/tls.key", *policy, *args],
        stdout=subprocess.PIPE, stderr=err, env=dict(os.environ, MIMIC_LOG=log))
    line = proc.stdout.readline().decode()
    m = re.search(r"port (\d+) \(https\)", line)
    assert m, "collector did not start: %r" % line
    return proc, err, int(m.group(1))


def metrics_text(url, cafile):
    """The collector's /metrics page, over TLS checked with cafile."""
    ctx = ssl.create_default_context(cafile=cafile)
    with urllib.request.urlopen(url + "/metrics", context=ctx, timeout=30) as r:
        return r.read().decode()


def metric(text, name):
    """The value of the metric name (with its labels, if any) in a /metrics page."""
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, "no %s in /metrics" % name
    return int(m.group(1))


class CollectorDesktopTest(unittest.TestCase):
    """The fixture of the device policy tests: a collector serving an organisation whose
    signed policy is ORG_POLICY (serial SERIAL), an X server, and a Mimic (cls.m) whose
    data directory `mimic()` passes."""

    ORG_POLICY = ""
    SERIAL = 5

    @classmethod
    def serve_args(cls):
        """More options of `mimic-collector serve` (a subclass's engines)."""
        return []

    @classmethod
    def setUpClass(cls):
        import xenv
        cls.dir = tempfile.mkdtemp(prefix="mimic-%s-" % cls.__name__.lower())
        make_org(cls.dir, cls.ORG_POLICY, serial=cls.SERIAL)
        cls.data = cls.dir + "/collector"
        cls.proc, cls.err, cls.port = serve(cls.dir, cls.data, args=cls.serve_args())
        cls.url = "https://127.0.0.1:%d" % cls.port
        cls.x = xenv.XServer()
        cls.m = xenv.Mimic(cls.x)

    @classmethod
    def tearDownClass(cls):
        cls.proc.kill()
        cls.proc.wait()
        cls.proc.stdout.close()
        cls.err.close()
        cls.m.close()
        cls.x.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def mimic(self, *args, check=False, timeout=120):
        return self.m.run(*args, "--data-dir", self.m.data_dir, check=check, timeout=timeout)

    def metric(self, name):
        """A metric of the collector (name with the mimic_collector_ prefix)."""
        return metric(metrics_text(self.url, os.path.join(self.dir, "tls.crt")), name)

    def sign(self, text, serial):
        """Makes text, signed with serial, the policy the collector serves."""
        with open(os.path.join(self.dir, "policy.conf"), "w") as f:
            f.write(text)
        subprocess.run([COLLECTOR, "policy", "sign", "--key", self.dir + "/policy.key",
                        "--serial", str(serial), "--out", self.dir + "/policy.signed.new",
                        self.dir + "/policy.conf"], check=True, capture_output=True)
        os.replace(self.dir + "/policy.signed.new", self.dir + "/policy.signed")
