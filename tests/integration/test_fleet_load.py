"""mimic-collector under load on loopback over TLS (issue 18, docs/FLEET.md "Load").

10,000 simulated devices, each with its own one-time token (`token new --count`)
and Ed25519 key, enrol and send a signed heartbeat; 200 of them upload a real
sealed bundle in chunks, all at once (bench/collector_load, which speaks the
protocol in C). Nothing may be lost: every request succeeds, the collector's own
listing holds the 200 bundles with the sizes sent, and /metrics counts every
enrolment, heartbeat and upload with no refusal. The latency percentiles and
error rate of each phase are printed with the test's output. Also: a heartbeat
with an unknown state, or unsigned, is refused and counted.
"""

import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleetenv  # noqa: E402

COLLECTOR = fleetenv.COLLECTOR
SIGN = os.environ.get("MIMIC_FLEET_SIGN", "")
LOAD = os.environ.get("MIMIC_COLLECTOR_LOAD", "")

DEVICES = 10000
UPLOADERS = 200


metric = fleetenv.metric


class FleetLoad(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mimic-fleet-load-")
        d = cls.dir
        fleetenv.make_org(d)
        cls.data = d + "/data"
        os.mkdir(cls.data)
        cls.proc, cls.err, cls.port = fleetenv.serve(d, cls.data, log="warn")
        cls.ctx = ssl.create_default_context(cafile=d + "/tls.crt")

    @classmethod
    def tearDownClass(cls):
        cls.proc.kill()
        cls.proc.wait()
        cls.proc.stdout.close()
        cls.err.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def request(self, method, path, body=b"", headers=None):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def metrics(self):
        status, text = self.request("GET", "/metrics")
        self.assertEqual(status, 200)
        return text.decode()

    def test_1_load(self):
        tokens = os.path.join(self.dir, "tokens")
        with open(tokens, "w") as f:
            subprocess.run([COLLECTOR, "token", "new", "--data", self.data, "--count",
                            str(DEVICES)], check=True, stdout=f)
        with open(tokens) as f:
            lines = f.read().split()
        self.assertEqual(len(set(lines)), DEVICES)
        self.assertTrue(all(re.fullmatch(r"[0-9a-f]{64}", t) for t in lines))

        r = subprocess.run([LOAD, "--url", "https://127.0.0.1:%d" % self.port,
                            "--ca", self.dir + "/tls.crt", "--tokens", tokens,
                            "--dataset-pub", self.dir + "/dataset.pub", "--heartbeats", "1",
                            "--uploaders", str(UPLOADERS), "--bundle", "64K", "--chunk", "16K",
                            "--threads", "8", "--collector-pid", str(self.proc.pid)],
                           capture_output=True, text=True, timeout=600)
        # The figures (error rate, latency percentiles, rates) are the test's report.
        print("\n" + r.stdout, end="")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        phases = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in
                  re.finditer(r"^(\w+) +requests=(\d+) errors=(\d+)", r.stdout, re.M)}
        self.assertEqual(phases["enrol"], (DEVICES, 0))
        self.assertEqual(phases["heartbeat"], (DEVICES, 0))
        self.assertEqual(phases["manifest"], (UPLOADERS, 0))
        self.assertEqual(phases["chunk"][1], 0)

        # No loss: the collector holds every bundle, each once, with its size.
        listing = subprocess.run([COLLECTOR, "list", "--data", self.data], check=True,
                                 capture_output=True, text=True).stdout
        sessions = re.findall(r"\bload-(\d+)\b", listing)
        self.assertEqual(sorted(map(int, sessions)), list(range(UPLOADERS)), listing[:2000])
        m = self.metrics()
        self.assertEqual(metric(m, "mimic_collector_enrolments_total"), DEVICES)
        self.assertEqual(metric(m, "mimic_collector_heartbeats_total"), DEVICES)
        self.assertEqual(metric(m, "mimic_collector_uploads_total"), UPLOADERS)
        self.assertEqual(metric(m, "mimic_collector_devices_seen"), DEVICES)
        self.assertEqual(metric(m, "mimic_collector_queue_depth"), 0)
        self.assertEqual(sum(int(v) for v in re.findall(
            r"^mimic_collector_rejects_total\{[^}]*\} (\d+)$", m, re.M)), 0)

    def test_2_bad_heartbeats(self):
        # A device of its own, enrolled through the protocol with the fleet_sign helper.
        d = tempfile.mkdtemp(dir=self.dir)
        dev = subprocess.run([SIGN, "keygen", d], check=True, capture_output=True,
                             text=True).stdout.strip()
        token = subprocess.run([COLLECTOR, "token", "new", "--data", self.data], check=True,
                               capture_output=True, text=True).stdout.strip()
        with open(d + "/device.pub") as f:
            pub = f.read().strip()
        status, body = self.request("POST", "/v1/enroll", json.dumps(
            {"token": token, "public_key": pub}).encode())
        self.assertEqual((status, json.loads(body)["device"]), (200, dev))

        def signed(body):
            with open(d + "/body", "wb") as f:
                f.write(body)
            h = json.loads(subprocess.run([SIGN, "sign", d + "/device.key", "POST",
                                           "/v1/heartbeat", d + "/body"], check=True,
                                          capture_output=True).stdout)
            return self.request("POST", "/v1/heartbeat", body, h)

        before = self.metrics()
        status, body = signed(b'{"state": "asleep"}')
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["reason"], "malformed")
        self.assertIn("recording", json.loads(body)["error"])
        status, body = self.request("POST", "/v1/heartbeat", b'{"state": "recording"}')
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(body)["reason"], "unsigned")
        status, body = signed(b'{"state": "paused", "spool_bytes": 12}')
        self.assertEqual(status, 200)
        self.assertLessEqual(abs(json.loads(body)["time"] - int(time.time())), 5)
        after = self.metrics()
        for reason, n in (("malformed", 1), ("unsigned", 1)):
            name = 'mimic_collector_rejects_total{reason="%s"}' % reason
            self.assertEqual(metric(after, name) - metric(before, name), n)
        self.assertEqual(metric(after, "mimic_collector_heartbeats_total") -
                         metric(before, "mimic_collector_heartbeats_total"), 1)


if __name__ == "__main__":
    unittest.main()
