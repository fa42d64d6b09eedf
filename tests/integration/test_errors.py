"""Bad input and failures: each gets one clear line, a non-zero exit, and no data lost.

Covers no display, an unreachable X server, a server without XInput 2, a data
directory that cannot be written, a second recorder, a database from a newer
schema, a corrupt database, the X server dying mid-session, SIGTERM, kill -9, a
recording indicator that cannot be shown, a disk that fills up while recording
(exit status 4), and that no keystroke text or window title ever reaches the log.
"""

import os
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402


def one_line_error(testcase, r, *needles):
    """Asserts a failed run printed exactly one line on stderr containing needles."""
    testcase.assertNotEqual(r.returncode, 0, "expected a failure: " + r.stdout)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    testcase.assertEqual(len(lines), 1, "expected one line, got: %r" % r.stderr)
    testcase.assertTrue(lines[0].startswith("mimic: "), lines[0])
    for n in needles:
        testcase.assertIn(n, lines[0])


class StartErrorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer(wm=False)

    @classmethod
    def tearDownClass(cls):
        cls.x.close()

    def setUp(self):
        self.m = xenv.Mimic(self.x)

    def tearDown(self):
        self.m.close()

    def test_no_display(self):
        env = dict(self.m.env)
        del env["DISPLAY"]
        r = subprocess.run([xenv.MIMIC, "record", "--data-dir", self.m.data_dir], env=env,
                           capture_output=True, text=True, timeout=30)
        one_line_error(self, r, "DISPLAY")

    def test_unreachable_display(self):
        r = self.m.run("record", check=False, env={"DISPLAY": ":4711"})
        one_line_error(self, r, ":4711")

    def test_server_without_xinput2(self):
        # XInput 2 events travel as generic events: without that extension there is none.
        x = xenv.XServer(wm=False, extra_args=("-extension", "Generic Event Extension"))
        try:
            r = self.m.run("record", check=False, env={"DISPLAY": x.display})
            one_line_error(self, r, "XInput")
        finally:
            x.close()

    def test_data_dir_not_writable(self):
        ro = os.path.join(self.m.tmp, "readonly")
        os.mkdir(ro, 0o555)
        target = os.path.join(ro, "data")
        if os.geteuid() == 0:
            # Permission bits do not stop root: run the recorder as nobody.
            os.chmod(self.m.tmp, 0o755)
            os.chmod(self.m.runtime, 0o777)
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    xenv.MIMIC, "record", "--data-dir", target]
            env = dict(self.m.env)
            env["XDG_RUNTIME_DIR"] = os.path.join(self.m.tmp, "nobody-run")
            os.mkdir(env["XDG_RUNTIME_DIR"], 0o700)
            os.chown(env["XDG_RUNTIME_DIR"], 65534, 65534)
            r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
        else:
            r = self.m.run("record", "--data-dir", target, check=False, data_dir=False)
        one_line_error(self, r, target, "--data-dir")
        self.assertFalse(os.path.exists(target))

    def test_data_dir_is_a_file(self):
        f = os.path.join(self.m.tmp, "afile")
        open(f, "w").close()
        r = self.m.run("record", "--data-dir", os.path.join(f, "data"), check=False,
                       data_dir=False)
        one_line_error(self, r, "afile")

    def test_second_recorder_is_refused(self):
        self.m.start()
        r = self.m.run("record", check=False)
        one_line_error(self, r, "already running", "mimic stop")
        # The first one is unharmed.
        self.assertEqual(self.m.status()["state"], "recording")
        self.assertEqual(self.m.stop(), 0)

    def test_newer_schema_is_refused(self):
        os.makedirs(self.m.data_dir, 0o700)
        db = os.path.join(self.m.data_dir, "mimic.db")
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE keep(x)")
        con.execute("INSERT INTO keep VALUES ('precious')")
        con.execute("PRAGMA user_version = 99")
        con.commit()
        con.close()
        r = self.m.run("record", check=False)
        one_line_error(self, r, "99", "upgrade mimic")
        r = self.m.run("sessions", check=False)
        one_line_error(self, r, "99")
        con = sqlite3.connect(db)
        self.assertEqual(con.execute("SELECT x FROM keep").fetchall(), [("precious",)])
        self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 99)
        con.close()

    def test_corrupt_database_is_refused(self):
        os.makedirs(self.m.data_dir, 0o700)
        db = os.path.join(self.m.data_dir, "mimic.db")
        junk = b"this is not a database " * 500
        with open(db, "wb") as f:
            f.write(junk)
        r = self.m.run("record", check=False)
        one_line_error(self, r, db)
        with open(db, "rb") as f:
            self.assertEqual(f.read(), junk)

    def test_sessions_without_data(self):
        r = self.m.run("sessions", check=False)
        one_line_error(self, r, self.m.data_dir)

    def test_unknown_session(self):
        self.m.start()
        self.m.stop()
        r = self.m.run("events", "nosuchsession", check=False)
        one_line_error(self, r, "nosuchsession")


class EndingsTest(unittest.TestCase):
    """How a session ends: X server death, signals, kill -9."""

    def setUp(self):
        self.x = xenv.XServer()
        self.term = self.x.xterm()
        self.x.focus(self.term)
        self.m = xenv.Mimic(self.x, env={"MIMIC_LOG": "debug"})

    def tearDown(self):
        self.m.close()
        self.x.close()

    def test_x_server_dies(self):
        self.m.start()
        self.x.xdotool("type", "--delay", "5", "before death")
        time.sleep(0.3)
        self.x.kill()
        rc = self.m.rec.wait(timeout=30)
        self.assertEqual(rc, 3, self.m.stderr())
        last = [l for l in self.m.stderr().splitlines() if l.strip()][-1]
        self.assertIn("X server", last)
        self.assertIn("closed", last)
        s = self.m.sessions()[-1]
        self.assertEqual(s["end_reason"], "x-server-gone")
        self.assertIsNotNone(s["end_wall_ns"])
        self.assertEqual(xenv.typed_text(self.m.events()), "before death")

    def test_sigterm_closes_the_session(self):
        self.m.start()
        self.x.xdotool("type", "--delay", "5", "term")
        time.sleep(0.3)
        self.m.rec.send_signal(signal.SIGTERM)
        self.assertEqual(self.m.rec.wait(timeout=30), 0, self.m.stderr())
        s = self.m.sessions()[-1]
        self.assertEqual(s["end_reason"], "stopped")
        self.assertEqual(xenv.typed_text(self.m.events()), "term")

    def test_kill_9_loses_at_most_the_last_250ms(self):
        self.m.start()
        before = self.m.status()["events_stored"]
        self.x.xdotool("type", "--delay", "5", "survives")
        # The writer commits on its own every flush interval, without a stop: what the
        # status reports as stored (8 presses and 8 releases) must survive kill -9.
        xenv.wait_for(lambda: self.m.status()["events_stored"] >= before + 16,
                      what="the typed keys to be committed")
        self.m.rec.send_signal(signal.SIGKILL)
        self.m.rec.wait(timeout=30)
        db = os.path.join(self.m.data_dir, "mimic.db")
        con = sqlite3.connect(db)
        self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        con.close()
        self.assertEqual(xenv.typed_text(self.m.events()), "survives")
        # The next recorder closes the killed session as interrupted.
        self.m.start()
        self.m.stop()
        ss = self.m.sessions()
        self.assertEqual(len(ss), 2)
        self.assertEqual(ss[0]["end_reason"], "interrupted")
        self.assertIsNotNone(ss[0]["end_wall_ns"])

    def test_logs_hold_no_keystrokes_or_titles(self):
        secret = "Xylophone42Zebra"
        title = "Quarterly Secret Plans"
        other = self.x.xterm(name="titled", title=title, geometry="40x10+400+300")
        self.m.start()
        self.x.focus(other)
        self.x.xdotool("type", "--delay", "5", secret)
        self.x.xdotool("set_window", "--name", title + " 2", other)
        self.x.focus(self.term)
        self.m.run("pause")
        self.m.run("resume")
        self.m.stop()
        self.assertIn(secret, xenv.typed_text(self.m.events()))
        logs = self.m.stderr() + self.m.stdout()
        self.assertIn("debug", logs.lower())  # the log really was on
        self.assertNotIn(secret, logs)
        self.assertNotIn("Xylophone", logs)
        self.assertNotIn(title, logs)


# ---- a minimal X client (standard library only), to fill the server's client slots ----

def _recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError("the X server closed the connection")
        data += chunk
    return data


def x_connect(display):
    """Opens a raw X connection; returns (socket, None), or (None, the server's reason)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("/tmp/.X11-unix/X" + display.lstrip(":"))
    s.sendall(struct.pack("<BxHHHHxx", 0x6C, 11, 0, 0, 0))  # little-endian, X11.0, no auth
    head = _recv_exact(s, 8)
    extra = _recv_exact(s, struct.unpack("<H", head[6:8])[0] * 4)
    if head[0] != 1:
        s.close()
        return None, extra[:head[1]].decode(errors="replace")
    return s, None


def _x_reply(s):
    head = _recv_exact(s, 32)
    if head[0] == 0:
        raise AssertionError("X error %d" % head[1])
    return head + _recv_exact(s, struct.unpack("<I", head[4:8])[0] * 4)


def x_client_count(s):
    """How many clients the X server has, asked over s (X-Resource QueryClients)."""
    name = b"X-Resource"
    pad = (-len(name)) % 4
    s.sendall(struct.pack("<BxHHxx", 98, 2 + (len(name) + pad) // 4, len(name)) + name +
              b"\0" * pad)
    r = _x_reply(s)
    if r[8] != 1:
        raise AssertionError("the X server has no X-Resource extension")
    s.sendall(struct.pack("<BBH", r[9], 1, 1))
    return struct.unpack("<I", _x_reply(s)[8:12])[0]


class IndicatorTest(unittest.TestCase):
    """No indicator, no recording (docs/POLICY.md, "Always visible")."""

    def setUp(self):
        # The smallest client limit an X server takes: few connections fill it.
        self.x = xenv.XServer(wm=False, extra_args=("-maxclients", "64"))
        self.m = xenv.Mimic(self.x)
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        self.m.close()
        self.x.close()

    def free_slots(self, n):
        """Closes n of the connections and waits until the server has let them go."""
        ctl = self.conns[0]
        count = x_client_count(ctl)
        for _ in range(n):
            self.conns.pop().close()
        xenv.wait_for(lambda: x_client_count(ctl) == count - n,
                      what="the X server to let %d connections go" % n)

    def test_refuses_without_indicator(self):
        # Fill every client slot of the X server, then free exactly one: the
        # recorder's input connection gets it, the indicator's own connection does not.
        while True:
            c, why = x_connect(self.x.display)
            if c is None:
                break
            self.conns.append(c)
            self.assertLess(len(self.conns), 2048, "the X server takes any number of clients")
        self.assertIn("Maximum number of clients", why)
        self.free_slots(1)
        rec = self.m.start("--no-frames", "--no-elements", wait=False)
        # It must exit; were it recording, it would answer `mimic status`.
        answered = xenv.wait_for(
            lambda: "exited" if rec.poll() is not None else
            "answered" if self.m.run("status", "--json", check=False).returncode == 0 else None,
            timeout=30, what="the recorder to exit or answer")
        if answered == "answered":
            st = self.m.status()
            rec.kill()
            self.fail("the recorder records without its indicator: %r" % st["safeguards"])
        self.assertEqual(rec.wait(timeout=30), 1, self.m.stderr())
        # libxcb prints the server's refusal itself; mimic's own line is the last one.
        last = [line for line in self.m.stderr().splitlines() if line.strip()][-1]
        self.assertTrue(last.startswith("mimic: cannot show the recording indicator"), last)
        # Nothing was recorded: no session exists.
        r = self.m.run("sessions", "--json", check=False)
        self.assertEqual([line for line in r.stdout.splitlines() if line.strip()], [],
                         r.stdout)
        # The control: with the X server's slots free, the same command records, and
        # shows its indicator.
        for c in self.conns:
            c.close()
        self.conns = []
        self.m.start("--no-frames", "--no-elements")
        self.assertNotEqual(self.m.status()["safeguards"]["indicator"], 0)
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        self.assertEqual(len(self.m.sessions()), 1)


class DiskFullTest(unittest.TestCase):
    """Exit status 4 (docs/CLI.md): events could not be stored, the session was closed."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("root is needed to mount a small file system to fill up")
        self.x = xenv.XServer()
        self.m = xenv.Mimic(self.x)
        self.mnt = os.path.join(self.m.tmp, "small")
        os.mkdir(self.mnt, 0o700)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", self.mnt],
                       check=True)
        self.m.data_dir = os.path.join(self.mnt, "data")

    def tearDown(self):
        self.m.close()
        subprocess.run(["umount", "-l", self.mnt], check=False)
        self.x.close()

    def fill(self):
        fd = os.open(os.path.join(self.mnt, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError:
            pass
        try:
            while True:
                os.write(fd, b"\0")
        except OSError:
            pass
        finally:
            os.close(fd)

    def test_disk_full_exits_4(self):
        term = self.x.xterm()
        self.x.focus(term)
        self.m.start("--no-frames", "--no-elements")
        before = self.m.status()["events_stored"]
        self.x.xdotool("type", "--delay", "5", "before")
        xenv.wait_for(lambda: self.m.status()["events_stored"] >= before + 12,
                      what="the first keys to be stored")
        self.fill()
        self.x.xdotool("type", "--delay", "5", "after the disk filled up")
        # The person sees why in the status while it happens.
        st = xenv.wait_for(lambda: (lambda s: s if s["write_error"] else None)(
            self.m.status()), what="the write error in the status")
        self.assertIn("disk is full", st["write_error"])
        self.assertEqual(st["state"], "recording")
        self.m.run("stop")
        self.assertEqual(self.m.rec.wait(timeout=60), 4, self.m.stderr())
        last = [line for line in self.m.stderr().splitlines() if line.strip()][-1]
        self.assertTrue(last.startswith("mimic: "), last)
        self.assertRegex(last, r"\d+ events could not be stored")
        self.assertIn("disk is full", last)
        self.assertIn("some events were not stored", last)
        # With room again: what was stored before the disk filled is all there, readable.
        os.unlink(os.path.join(self.mnt, "filler"))
        con = sqlite3.connect(os.path.join(self.m.data_dir, "mimic.db"))
        self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        con.close()
        self.assertTrue(xenv.typed_text(self.m.events()).startswith("before"))
        s = self.m.sessions()[-1]
        # It did not end as an ordinary stop.
        self.assertNotEqual(s["end_reason"], "stopped", s)

    def test_full_disk_session_closed(self):
        """The session a full disk stopped is closed, as the message says, not left recording."""
        term = self.x.xterm()
        self.x.focus(term)
        self.m.start("--no-frames", "--no-elements")
        # The room kept to close a session on a full disk (docs/CLI.md).
        reserve = os.path.join(self.m.data_dir, "mimic.db-reserve")
        reserved = os.path.getsize(reserve) if os.path.exists(reserve) else 0
        before = self.m.status()["events_stored"]
        self.x.xdotool("type", "--delay", "5", "before")
        xenv.wait_for(lambda: self.m.status()["events_stored"] >= before + 12,
                      what="the first keys to be stored")
        session = self.m.status()["session"]
        self.fill()
        self.x.xdotool("type", "--delay", "5", "after the disk filled up")
        xenv.wait_for(lambda: self.m.status()["write_error"], what="the write error")
        self.m.run("stop")
        self.assertEqual(self.m.rec.wait(timeout=60), 4, self.m.stderr())
        self.assertIn("session %d was closed" % session, self.m.stderr())
        # The person frees some room and looks: the session is closed, with the reason.
        os.unlink(os.path.join(self.mnt, "filler"))
        s = [s for s in self.m.sessions() if s["id"] == session][0]
        self.assertEqual(s["end_reason"], "write-failed", s)
        self.assertIsNotNone(s["end_wall_ns"], s)
        self.assertGreaterEqual(s["end_wall_ns"], s["start_wall_ns"], s)
        line = [l for l in self.m.run("sessions").stdout.splitlines()
                if l.split()[:1] == [str(session)]]
        self.assertEqual(len(line), 1, self.m.run("sessions").stdout)
        self.assertIn("write-failed", line[0])
        self.assertNotIn("recording", line[0])
        # The reserve was there, and was spent on the close; the next writer makes it again.
        self.assertEqual(reserved, 1 << 20)
        self.assertFalse(os.path.exists(reserve))


class DamagedDatabaseTest(unittest.TestCase):
    """A database or write-ahead log that is damaged is refused with the remedy, never used."""

    def setUp(self):
        self.x = xenv.XServer()
        self.m = xenv.Mimic(self.x)
        self.db = os.path.join(self.m.data_dir, "mimic.db")

    def tearDown(self):
        self.m.close()
        self.x.close()

    def type_stored(self, text):
        before = self.m.status()["events_stored"]
        self.x.xdotool("type", "--delay", "5", text)
        xenv.wait_for(lambda: self.m.status()["events_stored"] >= before + 2 * len(text),
                      what="%r to be stored" % text)

    def record_refused(self, *needles):
        """Starts `mimic record`: it must exit at once with one error line, never record."""
        rec = self.m.start("--no-frames", "--no-elements", wait=False)
        xenv.wait_for(lambda: rec.poll() is not None or
                      self.m.run("status", "--json", check=False).returncode == 0,
                      timeout=30, what="the recorder to refuse or to answer")
        if rec.poll() is None:
            self.m.stop()
            self.fail("record started on a damaged database: " + self.m.stdout())
        r = subprocess.CompletedProcess(rec.args, rec.returncode, self.m.stdout(),
                                        self.m.stderr())
        one_line_error(self, r, *needles)

    def test_record_runs_integrity_check(self):
        term = self.x.xterm()
        self.x.focus(term)
        self.m.start("--no-frames", "--no-elements")
        self.type_stored("kept")
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        # A page no recording reads (the UI elements table, with --no-elements) is damaged.
        con = sqlite3.connect(self.db)
        root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'elements'")
        root = root.fetchone()[0]
        size = con.execute("PRAGMA page_size").fetchone()[0]
        con.close()
        with open(self.db, "r+b") as f:
            f.seek((root - 1) * size)
            f.write(b"\xa5" * size)
        with open(self.db, "rb") as f:
            damaged = f.read()
        self.record_refused(self.db, "integrity check", ".recover")
        # Nothing was written into it.
        with open(self.db, "rb") as f:
            self.assertEqual(f.read(), damaged)
        self.assertEqual(len(self.m.sessions()), 1)

    def test_damaged_wal_is_an_error(self):
        term = self.x.xterm()
        self.x.focus(term)
        self.m.start("--no-frames", "--no-elements")
        for word in ("one", "two", "three", "four"):
            self.type_stored(word)
        # Killed: what it wrote stays in the write-ahead log, not yet in mimic.db.
        self.m.rec.send_signal(signal.SIGKILL)
        self.m.rec.wait(timeout=30)
        wal = self.db + "-wal"
        with open(wal, "rb") as f:
            data = bytearray(f.read())
        page = struct.unpack(">I", data[8:12])[0]
        frames = (len(data) - 32) // (24 + page)
        commits = [i for i in range(frames)
                   if struct.unpack(">I", data[32 + i * (24 + page) + 4:][:4])[0] != 0]
        self.assertGreaterEqual(len(commits), 3, commits)
        # A frame after the first commit is damaged: the commits behind it are intact.
        bad = commits[0] + 1
        at = 32 + bad * (24 + page) + 24 + page // 2
        data[at:at + 16] = bytes(b ^ 0xff for b in data[at:at + 16])
        with open(wal, "wb") as f:
            f.write(data)
        for cmd in (("sessions",), ("events", "last")):
            r = self.m.run(*cmd, check=False)
            one_line_error(self, r, "write-ahead log", "damaged at frame %d" % (bad + 1),
                           "wal_checkpoint")
        self.record_refused("write-ahead log", "damaged")
        # The log is left as it was, for whoever repairs it.
        with open(wal, "rb") as f:
            self.assertEqual(f.read(), bytes(data))


if __name__ == "__main__":
    xenv.main()
