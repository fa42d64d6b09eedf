"""A running recorder applies a new policy (docs/POLICY.md, "A new policy while
recording"; docs/FLEET.md, "The device side"), against mimic-collector over TLS on
loopback.

The local policy and the organisation's (signed, serial 5) both allow XTerm and
Zenity. While one recording runs, text is typed into an xterm and a zenity entry;
the organisation then signs serial 6, which allows only XTerm, and `mimic upload`
(the code of every upload cycle) fetches and stores it. Once `mimic status` shows
serial 6 in force, text typed into both again: the events hold the zenity words
from before the change and none after, xterm's throughout. A collector policy
removed from the data directory while recording is not a way back to the local
files alone: the recorder keeps serial 6 and says why. A malformed local policy
file that would no longer allow xterm keeps the policy in force (xterm is still
recorded), status says why. A new consent notice pauses
recording, `mimic resume` cannot end that pause, `mimic consent` does.
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
BOTH = "[allow]\napp = XTerm\napp = Zenity\n"
# The local file: no upload cycle of the recorder's own (the test runs `mimic upload`).
LOCAL = BOTH + "[upload]\nupload_interval = off\n[consent]\nnotice = %s\n"


class LivePolicy(fleetenv.CollectorDesktopTest):
    ORG_POLICY = BOTH
    SERIAL = 5

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with open(cls.m.policy, "w") as f:
            f.write(LOCAL % cls.m.notice)
        cls.term = cls.x.xterm(name="liveterm", title="live policy terminal")
        cls.x.spawn(["zenity", "--entry", "--title=live policy entry", "--text=Type here"])
        cls.entry = xenv.wait_for(lambda: cls.x.run(
            ["xdotool", "search", "--onlyvisible", "--name", "^live policy entry$"],
            check=False).split(), timeout=20, what="the zenity entry")[-1]

    def tearDown(self):
        # A case that failed half-way leaves no recorder to the next.
        if self.m.rec is not None and self.m.rec.poll() is None:
            self.m.stop()

    def type_into(self, wid, word):
        self.x.focus(wid)
        time.sleep(0.3)
        self.x.xdotool("type", "--delay", "40", word)
        time.sleep(0.5)

    def in_force(self):
        return self.m.status()["safeguards"]["policy_in_force"]

    def wait_in_force(self, pred, what):
        """Waits until pred holds of the status's policy_in_force, and returns it."""
        def look():
            p = self.in_force()
            return p if pred(p) else None
        return xenv.wait_for(look, timeout=20, interval=0.2, what=what)

    def audit(self):
        out = self.mimic("audit", "--json", check=True).stdout
        return [json.loads(x) for x in out.splitlines() if x.strip()]

    def test_1_collector_narrows_while_recording(self):
        m = self.m
        token = subprocess.run([COLLECTOR, "token", "new", "--data", self.data], check=True,
                               capture_output=True, text=True).stdout.strip()
        r = self.mimic("enroll", self.url, "--token", token, "--ca", self.dir + "/tls.crt")
        self.assertEqual(r.returncode, 0, r.stderr)
        m.start()
        self.assertEqual(self.in_force()["serial"], 5)
        self.type_into(self.term, "termbefore ")
        self.type_into(self.entry, "zenbefore")

        # The organisation narrows the allowlist; the device's next upload cycle fetches it.
        self.sign("[allow]\napp = XTerm\n", 6)
        r = self.mimic("upload", "--policy", m.policy, "--attempts", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        pf = self.wait_in_force(lambda p: p["serial"] == 6, "serial 6 in force")
        self.assertIsNone(pf["error"])
        self.assertEqual(pf["applied_while_recording"], 1)
        self.assertIn("in force: collector serial 6", m.run("status").stdout)
        self.type_into(self.term, "termafter ")
        self.type_into(self.entry, "zenafter")

        # Removing the stored policy does not widen what a running recorder records.
        os.unlink(os.path.join(m.data_dir, "fleet", "policy.signed"))
        pf = self.wait_in_force(lambda p: p["error"] is not None, "the removal refused")
        self.assertEqual(pf["serial"], 6)
        self.assertIn("collector policy serial 6 is no longer stored", pf["error"])
        self.assertIn("new policy refused: collector policy serial 6 is no longer stored",
                      m.run("status").stdout)
        self.type_into(self.term, "termgone ")
        self.type_into(self.entry, "zengone")
        self.assertEqual(m.stop(), 0)

        text = xenv.typed_text(m.events())
        for word in ("termbefore", "zenbefore", "termafter", "termgone"):
            self.assertIn(word, text)
        self.assertNotIn("zenafter", text)
        self.assertNotIn("zengone", text)
        self.assertLess(text.index("zenbefore"), text.index("termafter"))
        live = [a["details"] for a in self.audit() if a["what"] == "policy-live"]
        self.assertEqual(live, [{"serial": 6, "while_recording": True}])
        refused = [a["details"] for a in self.audit() if a["what"] == "policy-refused"]
        self.assertEqual(refused, [{"refused": 0, "kept": 6, "why": "removed",
                                    "while_recording": True}])
        # Fetched again for the next cases.
        r = self.mimic("upload", "--policy", m.policy, "--attempts", "1")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_2_malformed_local_file_keeps_the_policy_in_force(self):
        m = self.m
        m.start()
        before = self.in_force()
        # Would no longer allow xterm, were its first lines taken.
        with open(m.policy, "w") as f:
            f.write("[allow]\napp = Zenity\n[allow\n")
        pf = self.wait_in_force(lambda p: p["error"] is not None, "the malformed file refused")
        self.assertIn(m.policy + ":3:", pf["error"])
        self.assertIn("keeping the policy in force", pf["error"])
        self.assertEqual((pf["serial"], pf["applied"]), (before["serial"], before["applied"]))
        self.assertIn("new policy refused: " + m.policy + ":3:", m.run("status").stdout)
        self.type_into(self.term, "termbad ")
        # Repaired, it applies.
        with open(m.policy, "w") as f:
            f.write(LOCAL % m.notice)
        self.wait_in_force(lambda p: p["error"] is None and p["applied_while_recording"] == 1,
                           "the repaired file applied")
        self.assertEqual(m.stop(), 0)
        text = xenv.typed_text(m.events())
        self.assertIn("termbad", text)
        refused = [a["details"] for a in self.audit() if a["what"] == "policy-refused"]
        self.assertEqual(refused[-1], {"kept": before["serial"], "why": "load",
                                       "while_recording": True})

    def test_3_new_notice_pauses_until_consent(self):
        m = self.m
        m.start()
        self.type_into(self.term, "termagreed ")
        with open(m.notice, "a") as f:
            f.write("From now on, the organisation also keeps the screenshots for a year.\n")
        xenv.wait_for(lambda: m.status()["safeguards"]["auto_paused"] == "consent",
                      timeout=20, interval=0.2, what="recording paused for the new notice")
        st = m.status()
        self.assertEqual(st["state"], "paused")
        self.assertTrue(st["safeguards"]["policy_in_force"]["consent_needed"])
        self.assertIn("until you agree to the organisation's new notice",
                      m.run("status").stdout)
        self.type_into(self.term, "termunagreed ")
        r = m.run("resume", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("run `mimic consent`", r.stderr)
        self.assertEqual(m.status()["state"], "paused")
        self.type_into(self.term, "termresumed ")
        r = m.run("consent", "--accept", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        xenv.wait_for(lambda: m.status()["state"] == "recording", timeout=20, interval=0.2,
                      what="recording to resume after consent")
        self.type_into(self.term, "termconsented ")
        self.assertEqual(m.stop(), 0)
        text = xenv.typed_text(m.events())
        self.assertIn("termagreed", text)
        self.assertIn("termconsented", text)
        self.assertNotIn("termunagreed", text)
        self.assertNotIn("termresumed", text)


if __name__ == "__main__":
    xenv.main()
