"""The collector's signed policy on the device (docs/FLEET.md, "The device side";
docs/POLICY.md, "The collector's policy"), against mimic-collector over TLS on
loopback.

The local policy allows XTerm and Zenity; the organisation's, signed with serial 5,
allows only Zenity. Before enrolment what is typed in xterm is recorded; `mimic
enroll` fetches and verifies the collector's policy and the next recording under
the stricter of both records nothing of xterm; `mimic status` says the merged
policy applies. The collector then serves a policy rightly signed but with the
lower serial 3 that allows xterm again: `mimic upload` refuses it in one line,
the audit log and `mimic status` say so, and xterm stays unrecorded under serial
5. A stored copy changed on disk is refused by `mimic record` in one line naming
the file, and recording does not start.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import fleetenv  # noqa: E402
import xenv  # noqa: E402

COLLECTOR = fleetenv.COLLECTOR
ORG_POLICY = "[allow]\napp = Zenity\n"


class DevicePolicy(fleetenv.CollectorDesktopTest):
    ORG_POLICY = ORG_POLICY
    SERIAL = 5

    def typed_in_xterm(self, word):
        """Records a session with word typed in a focused xterm; returns the text stored."""
        m, x = self.m, self.x
        if getattr(self, "wid", None) is None:
            type(self).wid = x.xterm(name="policyterm", title="device policy test")
        x.focus(self.wid)
        time.sleep(0.3)
        m.start()
        time.sleep(0.5)
        x.xdotool("type", "--delay", "50", word)
        time.sleep(1.0)
        self.assertEqual(m.stop(), 0)
        return xenv.typed_text(m.events())

    def one_line(self, r, *needles):
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        for n in needles:
            self.assertIn(n, lines[0])
        return lines[0]

    def audit(self):
        out = self.mimic("audit", "--json", check=True).stdout
        return [json.loads(x) for x in out.splitlines() if x.strip()]

    def test_1_collector_narrows_then_rollback_and_tamper_refused(self):
        m = self.m
        # Before enrolment: the local policy alone, xterm is recorded.
        self.assertIn("localword", self.typed_in_xterm("localword"))

        # Enrolment fetches the organisation's policy (serial 5), verified and kept 0600.
        token = subprocess.run([COLLECTOR, "token", "new", "--data", self.data], check=True,
                               capture_output=True, text=True).stdout.strip()
        r = self.mimic("enroll", self.url, "--token", token, "--ca", self.dir + "/tls.crt")
        self.assertEqual(r.returncode, 0, r.stderr)
        stored = os.path.join(m.data_dir, "fleet", "policy.signed")
        self.assertEqual(os.stat(stored).st_mode & 0o777, 0o600)
        with open(stored) as f, open(self.dir + "/policy.signed") as g:
            self.assertEqual(f.read(), g.read())
        self.assertIn(5, [a["details"].get("serial") for a in self.audit()
                          if a["what"] == "policy-applied"])
        # Status tells what `mimic record` applies without --policy: no /etc/mimic/policy.conf
        # here, so the collector's alone; with the person's own file, the two merged.
        st = json.loads(self.mimic("status", "--json").stdout)["upload"]["policy"]
        self.assertEqual(st, {"applies": "collector", "serial": 5, "error": None})
        self.assertIn("policy:   collector serial 5\n", self.mimic("status").stdout)
        personal = os.path.join(m.env["XDG_CONFIG_HOME"], "mimic", "policy.conf")
        os.makedirs(os.path.dirname(personal), exist_ok=True)
        with open(personal, "w") as f:
            f.write("[deny]\napp = Gedit\n")
        st = json.loads(self.mimic("status", "--json").stdout)["upload"]["policy"]
        self.assertEqual(st, {"applies": "merged", "serial": 5, "error": None})
        self.assertIn("policy:   merged: the local files and collector serial 5",
                      self.mimic("status").stdout)

        # The stricter of both: xterm is allowed locally but not by the collector.
        self.assertNotIn("fleetword", self.typed_in_xterm("fleetword"))

        # A rollback: rightly signed, but serial 3, which would allow xterm again.
        self.sign("[allow]\napp = XTerm\napp = Zenity\n", 3)
        r = self.mimic("upload", "--policy", m.policy, "--now", "--attempts", "1")
        line = self.one_line(r, "collector policy: serial 3 is older than serial 5",
                             "keeping serial 5")
        st = json.loads(self.mimic("status", "--json").stdout)["upload"]["policy"]
        self.assertEqual(st["serial"], 5)
        self.assertEqual(st["error"], line.split("mimic: ", 1)[-1])
        self.assertIn("policy refused: collector policy: serial 3", self.mimic("status").stdout)
        refused = [a["details"] for a in self.audit() if a["what"] == "policy-refused"]
        self.assertEqual(refused, [{"refused": 3, "kept": 5, "why": "rollback"}])
        with open(stored) as f:
            self.assertIn("mimic-policy-signature v1 k", f.readline())
            self.assertEqual(f.read(), ORG_POLICY)
        # The last verified policy stays in force.
        self.assertNotIn("rollbackword", self.typed_in_xterm("rollbackword"))

        # The collector unreachable: the upload fails, serial 5 stays in force.
        self.proc.kill()
        self.proc.wait()
        r = self.mimic("upload", "--policy", m.policy, "--now", "--attempts", "1")
        self.one_line(r, "cannot reach the collector")
        st = json.loads(self.mimic("status", "--json").stdout)["upload"]["policy"]
        self.assertEqual(st["serial"], 5)
        self.assertNotIn("unreachword", self.typed_in_xterm("unreachword"))
        self.proc.stdout.close()
        self.err.close()
        type(self).proc, type(self).err, _ = fleetenv.serve(self.dir, self.data, self.port)

        # The organisation's serial 5 served again: accepted, the refusal cleared.
        self.sign(ORG_POLICY, 5)
        r = self.mimic("upload", "--policy", m.policy, "--now", "--attempts", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = json.loads(self.mimic("status", "--json").stdout)["upload"]["policy"]
        self.assertEqual(st, {"applies": "merged", "serial": 5, "error": None})

        # The stored copy changed on disk to allow xterm: nothing is recorded on it.
        with open(stored) as f:
            text = f.read()
        with open(stored, "w") as f:
            f.write(text.replace("app = Zenity", "app = XTerm"))
        r = m.run("record", "--data-dir", m.data_dir, check=False, timeout=60)
        self.one_line(r, stored, "signature does not verify with the enrolled key",
                      "mimic upload")
        # `mimic upload` after removing it fetches the organisation's policy again.
        os.unlink(stored)
        r = self.mimic("upload", "--policy", m.policy, "--now", "--attempts", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(stored) as f, open(self.dir + "/policy.signed") as g:
            self.assertEqual(f.read(), g.read())


if __name__ == "__main__":
    if not COLLECTOR:
        raise SystemExit("MIMIC_COLLECTOR is not set")
    xenv.main()
