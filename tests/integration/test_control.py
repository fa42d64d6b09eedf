"""Controlling a running recorder: status, pause, resume, stop, the socket's protection,
`mimic forget` of the session being recorded, and retention checks while recording."""

import json
import os
import socket
import sqlite3
import stat
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402


class ControlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer()
        cls.term = cls.x.xterm()
        cls.x.focus(cls.term)

    @classmethod
    def tearDownClass(cls):
        cls.x.close()

    def setUp(self):
        self.m = xenv.Mimic(self.x)

    def tearDown(self):
        self.m.close()

    def test_status(self):
        self.m.start("--session-name", "stat")
        self.x.xdotool("type", "--delay", "5", "abc")
        st = xenv.wait_for(lambda: (lambda s: s if s["events_stored"] >= 6 else None)(
            self.m.status()), what="events to be stored")
        self.assertEqual(st["state"], "recording")
        self.assertEqual(st["session_name"], "stat")
        self.assertEqual(st["data_dir"], self.m.data_dir)
        self.assertEqual(st["pid"], self.m.rec.pid)
        self.assertEqual(st["events_dropped"], 0)
        self.assertIsNone(st["write_error"])
        human = self.m.run("status").stdout
        self.assertIn("recording", human)
        self.assertIn(self.m.data_dir, human)
        self.m.stop()

    def test_status_without_recorder(self):
        r = self.m.run("status", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no recorder is running", r.stderr)
        r = self.m.run("status", "--json", check=False)
        self.assertEqual(json.loads(r.stdout)["state"], "stopped")
        r = self.m.run("stop", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)

    def test_pause_keeps_nothing(self):
        self.m.start()
        self.x.xdotool("type", "--delay", "5", "one")
        self.m.run("pause")
        self.assertEqual(self.m.status()["state"], "paused")
        self.x.xdotool("type", "--delay", "5", "hidden")
        self.x.xdotool("mousemove", "300", "300", "click", "1")
        time.sleep(0.3)
        self.m.run("resume")
        self.x.xdotool("type", "--delay", "5", "two")
        self.m.stop()
        ev = self.m.events()
        self.assertEqual(xenv.typed_text(ev), "onetwo")
        kinds = [e["kind"] for e in ev]
        self.assertEqual(kinds.count("pause"), 1)
        self.assertEqual(kinds.count("resume"), 1)
        p, r = kinds.index("pause"), kinds.index("resume")
        self.assertEqual(kinds[p + 1:r], [], "nothing is stored while paused")

    def test_pause_for_a_while(self):
        self.m.start()
        self.m.run("pause", "--for", "1s")
        st = self.m.status()
        self.assertEqual(st["state"], "paused")
        self.assertLessEqual(st["paused_for_ms"], 1000)
        xenv.wait_for(lambda: self.m.status()["state"] == "recording", timeout=5,
                      what="the pause to end by itself")
        self.x.xdotool("type", "--delay", "5", "after")
        self.m.stop()
        self.assertEqual(xenv.typed_text(self.m.events()), "after")

    def test_bad_duration(self):
        r = self.m.run("pause", "--for", "soon", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--for", r.stderr)

    def test_socket_is_private_and_versioned(self):
        self.m.start()
        sdir = os.path.join(self.m.runtime, "mimic")
        path = os.path.join(sdir, "control.sock")
        self.assertEqual(stat.S_IMODE(os.stat(sdir).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)

        def raw(msg):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(path)
            s.sendall(msg)
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.close()
            return json.loads(data)

        r = raw(b'{"v":2,"cmd":"status"}\n')
        self.assertFalse(r["ok"])
        self.assertIn("2", r["error"])
        r = raw(b'{"v":1,"cmd":"launch-missiles"}\n')
        self.assertFalse(r["ok"])
        r = raw(b'{"v":1,"cmd":"status","pad":"' + b"x" * 10000 + b'"}\n')
        self.assertFalse(r["ok"])
        r = raw(b'{"v":1,"cmd":"status"}\n')
        self.assertTrue(r["ok"])
        self.assertEqual(self.m.stop(), 0)
        self.assertFalse(os.path.exists(path))

    def audit(self, what):
        path = os.path.join(self.m.data_dir, "audit.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [a for a in map(json.loads, f) if a["what"] == what]

    def wait_stored(self, n):
        xenv.wait_for(lambda: self.m.status()["events_stored"] >= n,
                      what="%d events to be stored" % n)

    def test_forget_of_the_recorded_session_is_refused(self):
        """docs/CLI.md: the session being recorded cannot be forgotten with --session."""
        self.m.start("--no-frames")
        before = self.m.status()["events_stored"]
        self.x.xdotool("type", "--delay", "5", "kept")
        self.wait_stored(before + 8)
        sid = self.m.status()["session"]
        for spec in ("last", str(sid)):
            r = self.m.run("forget", "--session", spec, "--data-dir", self.m.data_dir,
                           check=False)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            lines = [line for line in r.stderr.splitlines() if line.strip()]
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn("being recorded", lines[0])
            self.assertIn("mimic stop", lines[0])
            self.assertIn("--last", lines[0])
        # Nothing was deleted, and the recording goes on in the same session.
        st = self.m.status()
        self.assertEqual((st["state"], st["session"]), ("recording", sid))
        self.assertEqual(self.audit("forget"), [])
        self.x.xdotool("type", "--delay", "5", "more")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        self.assertEqual(xenv.typed_text(self.m.events(str(sid))), "keptmore")
        # The control: once stopped, the same request deletes the session.
        r = self.m.run("forget", "--session", str(sid), "--data-dir", self.m.data_dir)
        self.assertNotIn(sid, [s["id"] for s in self.m.sessions()])
        self.assertEqual(len(self.audit("forget")), 1)

    def test_retention_while_recording(self):
        """docs/PRIVACY.md: retention is checked every check_interval while recording."""
        conf = os.path.join(self.m.tmp, "mimic.conf")
        with open(conf, "w") as f:
            f.write("[retention]\ncheck_interval = 10s\n")
        self.m.start("--no-frames", "--config", conf)
        self.x.xdotool("type", "--delay", "5", "old")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        old = self.m.sessions()[-1]["id"]
        self.m.start("--no-frames", "--config", conf)
        sid = self.m.status()["session"]
        before = self.m.status()["events_stored"]
        self.x.xdotool("type", "--delay", "5", "new")
        self.wait_stored(before + 6)
        # The check at the start kept the old session: it was recorded a moment ago.
        self.assertIn(old, [s["id"] for s in self.m.sessions()])
        self.assertEqual(xenv.typed_text(self.m.events(str(old))), "old")
        self.assertEqual(self.audit("retention"), [])
        # Now it is dated back past the retention period (30 days), while the recorder
        # runs: only a check made while recording can delete it.
        day = 86400 * 10**9
        con = sqlite3.connect(os.path.join(self.m.data_dir, "mimic.db"), timeout=30)
        con.execute("UPDATE sessions SET start_wall_ns = start_wall_ns - ?, "
                    "end_wall_ns = end_wall_ns - ? WHERE id = ?", (40 * day, 40 * day, old))
        con.commit()
        con.close()
        xenv.wait_for(lambda: old not in [s["id"] for s in self.m.sessions()], timeout=60,
                      interval=0.5, what="retention to delete the old session while recording")
        r = self.m.run("events", str(old), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("old", r.stdout)
        records = xenv.wait_for(lambda: self.audit("retention"), what="the retention record")
        self.assertGreaterEqual(records[0]["details"]["sessions"], 1, records)
        # The recording goes on untouched.
        st = self.m.status()
        self.assertEqual((st["state"], st["session"]), ("recording", sid))
        self.x.xdotool("type", "--delay", "5", "on")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        self.assertEqual(xenv.typed_text(self.m.events(str(sid))), "newon")


if __name__ == "__main__":
    xenv.main()
