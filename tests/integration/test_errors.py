"""Bad input and failures: each gets one clear line, a non-zero exit, and no data lost.

Covers no display, an unreachable X server, a server without XInput 2, a data
directory that cannot be written, a second recorder, a database from a newer
schema, a corrupt database, the X server dying mid-session, SIGTERM, kill -9,
and that no keystroke text or window title ever reaches the log.
"""

import os
import signal
import sqlite3
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
        self.x.xdotool("type", "--delay", "5", "survives")
        time.sleep(0.3)  # longer than the 250 ms that may be lost
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


if __name__ == "__main__":
    xenv.main()
