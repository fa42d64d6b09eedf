"""Controlling a running recorder: status, pause, resume, stop, and the socket's protection."""

import json
import os
import socket
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


if __name__ == "__main__":
    xenv.main()
