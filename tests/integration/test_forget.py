"""Forgetting, retention, encryption at rest and the audit log, as a person sees them.

A marker typed into xterm while recording must be in `mimic events` (so the
search for it below can fail), and after `mimic forget` it must be in no file
of the data directory, in no encoding and not even in part, and no longer in
`mimic events`. The audit log records the deletion and `mimic audit --verify`
names the line someone changed.
"""

import json
import os
import random
import string
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402


def new_marker():
    # Letters only: xdotool types them the same on any layout the tests set.
    return "zq" + "".join(random.choice(string.ascii_lowercase) for _ in range(10))


def forms(marker):
    """The byte strings a trace of the marker could take in a file."""
    out = set()
    for s in (marker, marker[:6], marker[-6:], marker[3:9]):
        out.add(s.encode())
        out.add(s.encode("utf-16-le"))
        out.add(s.encode("utf-16-be"))
        out.add(s.upper().encode())
    return out


def traces(data_dir, marker):
    """The files of data_dir (every one, at any depth) that hold any form of marker."""
    found = []
    pats = forms(marker)
    for root, _dirs, files in os.walk(data_dir):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                data = f.read()
            for p in pats:
                if p in data:
                    found.append((path, p))
    return found


class ForgetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer()
        cls.term = cls.x.xterm(name="forgetterm", title="forget test terminal")

    @classmethod
    def tearDownClass(cls):
        cls.x.close()

    def setUp(self):
        self.m = xenv.Mimic(self.x)
        self.x.focus(self.term)

    def tearDown(self):
        # Leave the shell's line empty for the next test.
        self.x.xdotool("key", "ctrl+u")
        self.m.close()

    def type_and_wait(self, text):
        """Types text into xterm and waits until `mimic events` shows it (while recording)."""
        self.x.xdotool("type", "--delay", "10", text)
        xenv.wait_for(lambda: text in xenv.typed_text(self.m.events()), timeout=20,
                      what="the typed text in mimic events")

    def record_text(self, text, *args):
        self.m.start(*args)
        self.type_and_wait(text)
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        return self.m.sessions()[-1]["id"]

    def forget(self, *args):
        return self.m.run("forget", "--data-dir", self.m.data_dir, *args)

    def audit(self, *args, check=True):
        return self.m.run("audit", "--data-dir", self.m.data_dir, *args, check=check)

    def assert_no_trace(self, marker):
        self.assertEqual(traces(self.m.data_dir, marker), [])
        for s in self.m.sessions():
            self.assertNotIn(marker[:6], xenv.typed_text(self.m.events(str(s["id"]))))

    def test_forget_last_while_recording(self):
        marker = new_marker()
        self.m.start()
        self.type_and_wait(marker)
        # Encrypted at rest: the raw files never held it in the clear.
        self.assertEqual(traces(self.m.data_dir, marker), [])
        r = self.forget("--last", "5m")
        self.assertIn("forgot the last 5m", r.stdout)
        # Recording goes on after the deletion, frames included.
        self.type_and_wait("after")
        st = self.m.status()
        self.assertEqual(st["state"], "recording")
        self.assertIsNone(st["write_error"])
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        self.assert_no_trace(marker)
        text = xenv.typed_text(self.m.events())
        self.assertIn("after", text)
        self.assertNotIn(marker[:6], text)
        self.assertTrue(os.path.getsize(os.path.join(self.m.data_dir, "mimic.db")) > 0)
        # Every frame left can still be shown: no patch lost the frame it goes over.
        frames = [json.loads(line) for line in self.m.run(
            "frames", "last", "--data-dir", self.m.data_dir).stdout.splitlines()]
        for f in frames:
            out = os.path.join(self.m.tmp, "f.png")
            self.m.run("frame", "last", str(f["id"]), "-o", out, "--data-dir", self.m.data_dir)
        log = [json.loads(line) for line in self.audit("--json").stdout.splitlines()]
        forgets = [rec for rec in log if rec["what"] == "forget"]
        self.assertEqual(len(forgets), 1, log)
        self.assertEqual(forgets[0]["details"]["last_s"], 300)
        self.assertGreater(forgets[0]["details"]["events"], len(marker))
        self.assertEqual(self.audit("--verify").returncode, 0)

    def test_forget_session_without_recorder(self):
        marker = new_marker()
        gone = self.record_text(marker)
        self.assertIn(marker, xenv.typed_text(self.m.events(str(gone))))
        kept = self.record_text("keepme")
        r = self.forget("--session", str(gone))
        self.assertIn("forgot session %d" % gone, r.stdout)
        ids = [s["id"] for s in self.m.sessions()]
        self.assertEqual(ids, [kept])
        self.assertIn("keepme", xenv.typed_text(self.m.events(str(kept))))
        self.assert_no_trace(marker)
        r = self.m.run("events", str(gone), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no session", r.stderr)

    def test_forget_all(self):
        marker = new_marker()
        self.record_text(marker)
        self.record_text(marker[::-1])
        r = self.forget("--all")
        self.assertIn("2 sessions", r.stdout)
        self.assertEqual(self.m.sessions(), [])
        self.assert_no_trace(marker)
        self.assert_no_trace(marker[::-1])
        frames_dir = os.path.join(self.m.data_dir, "frames")
        left = [f for _r, _d, fs in os.walk(frames_dir) for f in fs]
        self.assertEqual(left, [])
        self.assertEqual(os.path.getsize(os.path.join(self.m.data_dir, "mimic.db-wal"))
                         if os.path.exists(os.path.join(self.m.data_dir, "mimic.db-wal"))
                         else 0, 0)

    def test_retention_by_size_at_start(self):
        marker = new_marker()
        self.record_text(marker, "--session-name", "old")
        conf = os.path.join(self.m.tmp, "tiny.conf")
        with open(conf, "w") as f:
            f.write("[retention]\nmax_size = 1K\n")
        self.m.start("--config", conf, "--session-name", "new")
        self.type_and_wait("fresh")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        self.assertEqual([s["name"] for s in self.m.sessions()], ["new"])
        self.assert_no_trace(marker)
        log = [json.loads(line) for line in self.audit("--json").stdout.splitlines()]
        ret = [rec for rec in log if rec["what"] == "retention"]
        self.assertTrue(ret, log)
        self.assertGreaterEqual(ret[0]["details"]["sessions"], 1)
        self.assertEqual(ret[0]["details"]["max_bytes"], 1000)

    def test_tampered_audit_log_fails_verify(self):
        self.m.start()
        self.m.run("pause")
        self.m.run("resume")
        self.m.run("pause", "--for", "1h")
        self.m.run("resume")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        self.assertEqual(self.audit("--verify").returncode, 0)
        human = self.audit().stdout
        self.assertIn("pause", human)
        self.assertIn("for_s=3600", human)
        path = os.path.join(self.m.data_dir, "audit.log")
        with open(path) as f:
            lines = f.read().splitlines()
        # The consent given before recording (xenv), then two pauses and resumes.
        self.assertEqual(len(lines), 5)
        self.assertIn('"consent"', lines[0])
        # Someone hides that the recording was paused for an hour.
        lines[3] = lines[3].replace('"for_s":3600', '"for_s":60')
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = self.audit("--verify", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 4", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        # Removing a line breaks the chain at the line after it.
        with open(path, "w") as f:
            f.write("\n".join(lines[:2] + lines[3:]) + "\n")
        r = self.audit("--verify", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 3", r.stderr)

    def test_wrong_key_is_one_line(self):
        self.record_text("secret")
        keys = os.path.join(self.m.env["XDG_CONFIG_HOME"], "mimic", "keys")
        (name,) = os.listdir(keys)
        self.assertEqual(os.stat(os.path.join(keys, name)).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(self.m.data_dir).st_mode & 0o777, 0o700)
        with open(os.path.join(keys, name), "w") as f:
            f.write("ab" * 32 + "\n")
        r = self.m.run("events", "last", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("key", r.stderr)
        os.remove(os.path.join(keys, name))
        r = self.m.run("events", "last", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("missing", r.stderr)


if __name__ == "__main__":
    xenv.main()
