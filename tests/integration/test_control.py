"""Controlling a running recorder: status, pause, resume, stop, the socket's protection,
`mimic forget` of the session being recorded, retention checks while recording, and
clients that connect and loiter: they stall neither recording nor `mimic pause`, and
events keep the times the X server gave them however late the recorder reads them."""

import json
import os
import select
import signal
import socket
import sqlite3
import stat
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402


class RawKeyWitness:
    """A second X client that sees every key press as the X server stamped it.

    Speaks just enough of the X11 protocol (standard library only) to select the
    XInput 2 raw key presses on the root window, as the recorder does, and keeps
    (server time in ms, keycode) of each: what the server saw, whoever reads late.
    """

    def __init__(self, display):
        num = int(display.lstrip(":").split(".")[0])
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect("/tmp/.X11-unix/X%d" % num)
        self.buf = b""
        self.presses = []
        self.lock = threading.Lock()
        self.sock.sendall(struct.pack("<BxHHHHxx", 0x6C, 11, 0, 0, 0))
        head = self._read(8)
        if head[0] != 1:
            raise RuntimeError("the X server refused the witness's connection")
        extra = self._read(struct.unpack_from("<H", head, 6)[0] * 4)
        vendor_len, = struct.unpack_from("<H", extra, 16)
        n_formats = extra[21]
        screen = 32 + (vendor_len + 3) // 4 * 4 + 8 * n_formats
        root, = struct.unpack_from("<I", extra, screen)
        name = b"XInputExtension"
        pad = (4 - len(name) % 4) % 4
        self.sock.sendall(struct.pack("<BxHH2x", 98, 2 + (len(name) + pad) // 4, len(name)) +
                          name + b"\0" * pad)
        reply = self._reply()
        if not reply[8]:
            raise RuntimeError("the X server has no XInput")
        op = reply[9]
        self.sock.sendall(struct.pack("<BBHHH", op, 47, 2, 2, 2))  # XIQueryVersion 2.2
        self._reply()
        # XISelectEvents on the root: all master devices, RawKeyPress (13).
        self.sock.sendall(struct.pack("<BBHIHxxHHI", op, 46, 5, root, 1, 1, 1, 1 << 13))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the X server closed the witness's connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _packet(self):
        p = self._read(32)
        if p[0] in (1, 35):  # a reply or a generic event may be longer
            p += self._read(struct.unpack_from("<I", p, 4)[0] * 4)
        return p

    def _reply(self):
        while True:
            p = self._packet()
            if p[0] == 0:
                raise RuntimeError("X error %d in the witness" % p[1])
            if p[0] == 1:
                return p

    def _run(self):
        try:
            while True:
                p = self._packet()
                if p[0] & 0x7F == 35 and struct.unpack_from("<H", p, 8)[0] == 13:
                    t, keycode = struct.unpack_from("<II", p, 12)
                    with self.lock:
                        self.presses.append((t, keycode))
        except (EOFError, OSError):
            pass

    def seen(self):
        with self.lock:
            return list(self.presses)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Loiterers:
    """Holds `silent` connections to the control socket that send nothing, and one
    that sends a byte a second and never a whole request; each is opened again as
    soon as the recorder drops it. Keeps what the recorder said to them."""

    def __init__(self, path, silent=4):
        self.path = path
        self.replies = []
        self.connects = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(silent,), daemon=True)
        self.thread.start()

    def _connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1)
        try:
            s.connect(self.path)
        except OSError:
            s.close()
            return None
        s.setblocking(False)
        self.connects += 1
        return s

    def _run(self, silent):
        conns = {}  # socket -> is the trickler
        next_byte = time.monotonic()
        while not self.done.is_set():
            if sum(1 for t in conns.values() if not t) < silent:
                s = self._connect()
                if s is not None:
                    conns[s] = False
            if True not in conns.values():
                s = self._connect()
                if s is not None:
                    conns[s] = True
                    next_byte = time.monotonic()
            if time.monotonic() >= next_byte:
                next_byte += 1.0
                for s, trickler in list(conns.items()):
                    if trickler:
                        try:
                            s.send(b" ", socket.MSG_NOSIGNAL)
                        except OSError:
                            pass
            ready, _, _ = select.select(list(conns), [], [], 0.05)
            for s in ready:
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    self.replies.append(data)
                    continue
                del conns[s]
                s.close()
        for s in conns:
            s.close()

    def open(self):
        return self.connects

    def close(self):
        self.done.set()
        self.thread.join(timeout=10)


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

    def test_pause_hotkey_in_input_order(self):
        """The pause hotkey takes effect at its own place among the keys: what is typed
        after it is not stored, even when the recorder reads it all at once, late."""
        self.m.start("--no-frames", "--no-elements")
        before = self.m.status()["events_stored"]
        self.x.xdotool("type", "--delay", "20", "ab")
        self.wait_stored(before + 4)
        # A recorder busy elsewhere (stopped, here) reads the keys around the hotkey together.
        os.kill(self.m.rec.pid, signal.SIGSTOP)
        try:
            self.x.xdotool("type", "--delay", "20", "cd")
            self.x.xdotool("key", "ctrl+alt+shift+p")
            self.x.xdotool("type", "--delay", "20", "hidden")
        finally:
            os.kill(self.m.rec.pid, signal.SIGCONT)
        xenv.wait_for(lambda: self.m.status()["state"] == "paused", what="the hotkey pause")
        self.x.xdotool("key", "ctrl+alt+shift+p")
        xenv.wait_for(lambda: self.m.status()["state"] == "recording", what="the hotkey resume")
        self.x.xdotool("type", "--delay", "20", "ef")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        ev = self.m.events()
        self.assertEqual(xenv.typed_text(ev), "abcdef")
        self.assertEqual([e["kind"] for e in ev if e["kind"] in ("pause", "resume")],
                         ["pause", "resume"])

    def test_loitering_clients_stall_nothing(self):
        """Issue 15: four silent clients and one that sends a byte a second stall neither
        recording nor `mimic pause`; keys keep the X server's times, even when the
        recorder reads them late; nothing typed after `pause` returned is stored."""
        witness = RawKeyWitness(self.x.display)
        self.addCleanup(witness.close)
        self.m.start("--no-frames", "--no-elements")
        path = os.path.join(self.m.runtime, "mimic", "control.sock")
        loit = Loiterers(path)
        self.addCleanup(loit.close)
        xenv.wait_for(lambda: loit.open() >= 5, what="the loitering clients to connect")
        # A few keys first: the recorder learns the X server's clock from the events it
        # reads with the least delay, and on a loaded machine the first may come late.
        warm = "mnbv"
        before = self.m.status()["events_stored"]
        self.x.xdotool("type", "--delay", "200", warm)
        self.wait_stored(before + 2 * len(warm))
        before = self.m.status()["events_stored"]
        text = "qwertyuiopasdfghjkl"
        # xdotool waits half its delay after a press and half after the release.
        typing = subprocess.Popen(["xdotool", "type", "--delay", "200", text], env=self.x.env)
        # A recorder busy elsewhere for half a second (stopped, here) reads those keys late.
        xenv.wait_for(lambda: len(witness.seen()) >= len(warm) + 4,
                      what="the first keys to be typed")
        os.kill(self.m.rec.pid, signal.SIGSTOP)
        try:
            xenv.wait_for(lambda: len(witness.seen()) >= len(warm) + 9,
                          what="keys typed while stopped")
        finally:
            os.kill(self.m.rec.pid, signal.SIGCONT)
        self.assertEqual(typing.wait(timeout=60), 0)
        # Each key is a press and a release.
        self.wait_stored(before + 2 * len(text))
        t0 = time.monotonic()
        r = self.m.run("pause", check=False)
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(took, 1.0, "mimic pause took %.2f s" % took)
        n = len(witness.seen())
        self.x.xdotool("type", "--delay", "20", "zzzz")
        xenv.wait_for(lambda: len(witness.seen()) >= n + 4, what="the keys after the pause")
        # The recorder drops the loiterers when their time is up, and tells them why.
        xenv.wait_for(lambda: b"no request arrived within" in b"".join(loit.replies),
                      what="the loitering clients to be dropped")
        loit.close()
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        ev = self.m.events()
        self.assertEqual(xenv.typed_text(ev), warm + text, "all of it, and nothing after pause")
        stored = [e for e in ev if e["kind"] == "key_press"][len(warm):]
        seen = witness.seen()[len(warm):len(warm) + len(text)]
        self.assertEqual([e["keycode"] for e in stored], [k for _, k in seen])
        checked = 0
        for i in range(1, len(stored)):
            gap_ms = (stored[i]["t_ns"] - stored[i - 1]["t_ns"]) / 1e6
            server_ms = seen[i][0] - seen[i - 1][0]
            self.assertLessEqual(abs(gap_ms - server_ms), 5, "key %d: stored %.1f ms after the "
                                 "one before, the X server saw %d ms" % (i, gap_ms, server_ms))
            if abs(server_ms - 100) <= 5:
                checked += 1
                self.assertLessEqual(abs(gap_ms - 100), 20, "key %d: %.1f ms" % (i, gap_ms))
        self.assertGreaterEqual(checked, 5, "too few keys 100 ms apart as the server saw them "
                                "to judge: %s" % [b[0] - a[0] for a, b in zip(seen, seen[1:])])


if __name__ == "__main__":
    xenv.main()
