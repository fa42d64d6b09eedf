"""The files mimic writes keep their promises (docs/PRIVACY.md, "Files").

`mimic frame -o` never writes a screenshot through a symbolic link and replaces
a person's existing file by a new 0600 one; an existing data directory left open
(0644 files, 0755 directories) is made private when the recorder opens it, and
one holding another user's file is refused with the chown that fixes it; a key
file others can read is refused with the chmod that fixes it; `export --out`
refuses another user's directory. Error lines that quote a policy file show its
control bytes written out, never raw; a 247-character title pattern is valid;
`mimic sessions` prints one line per failure.
"""

import glob
import json
import os
import sqlite3
import stat
import sys
import types
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402
from test_errors import one_line_error  # noqa: E402

NOBODY = 65534


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


class FilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer()
        cls.term = cls.x.xterm(name="filesterm", title="files terminal",
                               geometry="60x15+0+0")

    @classmethod
    def tearDownClass(cls):
        cls.x.close()

    def setUp(self):
        self.m = xenv.Mimic(self.x)
        self.x.focus(self.term)

    def tearDown(self):
        self.m.close()

    def record(self):
        """Records a short session with at least one frame; returns a frame id."""
        self.m.start()
        # Frames are taken around input: a click and a few keys.
        self.x.xdotool("mousemove", "100", "60", "click", "1")
        self.x.xdotool("type", "--delay", "30", "ls")
        xenv.wait_for(lambda: self.m.status()["frames"]["stored"] >= 1, timeout=30,
                      what="a stored frame")
        self.assertEqual(self.m.stop(), 0)
        out = self.m.run("frames", "last", "--data-dir", self.m.data_dir,
                         data_dir=False).stdout
        frames = [json.loads(line) for line in out.splitlines() if line.strip()]
        self.assertTrue(frames)
        return frames[0]["id"]

    def refused_record(self, what):
        """Runs `record` in the background, expecting a refusal; returns its result.

        A recorder that starts (the fault) would not return: it is stopped and the
        test fails saying what it did.
        """
        rec = self.m.start(wait=False)
        xenv.wait_for(lambda: rec.poll() is not None or
                      self.m.run("status", "--json", check=False).returncode == 0,
                      timeout=30, what="the recorder to refuse or answer")
        if rec.poll() is None:
            self.m.stop()
            self.fail("the recorder " + what)
        return types.SimpleNamespace(returncode=rec.returncode, stdout=self.m.stdout(),
                                     stderr=self.m.stderr())

    def frame(self, frame_id, path):
        return self.m.run("frame", "last", str(frame_id), "-o", path, "--data-dir",
                          self.m.data_dir, check=False, data_dir=False)

    def test_frame_output_never_through_a_symlink(self):
        fid = self.record()
        victim = os.path.join(self.m.tmp, "victim.txt")
        with open(victim, "w") as f:
            f.write("keep me")
        os.chmod(victim, 0o644)
        link = os.path.join(self.m.tmp, "shot.png")
        os.symlink(victim, link)
        r = self.frame(fid, link)
        one_line_error(self, r, link, "symbolic link")
        with open(victim) as f:
            self.assertEqual(f.read(), "keep me")
        self.assertEqual(mode(victim), 0o644)

        # The person's own existing file: replaced by the screenshot, now 0600.
        mine = os.path.join(self.m.tmp, "mine.png")
        with open(mine, "w") as f:
            f.write("old")
        os.chmod(mine, 0o644)
        r = self.frame(fid, mine)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(mine, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        self.assertEqual(mode(mine), 0o600)

    def test_existing_data_dir_made_private(self):
        self.record()
        d = self.m.data_dir
        opened = []
        for root, dirs, files in os.walk(d):
            os.chmod(root, 0o755)
            opened.append(root)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
                opened.append(os.path.join(root, name))
        for name in ("mimic.db", "audit.log", "key.id", "frames"):
            self.assertIn(os.path.join(d, name), opened)
        self.m.start()
        self.assertEqual(self.m.stop(), 0)
        for root, dirs, files in os.walk(d):
            self.assertEqual(mode(root), 0o700, root)
            for name in files:
                p = os.path.join(root, name)
                self.assertEqual(mode(p), 0o600, p)

    def test_file_of_another_user_refused(self):
        if os.geteuid() != 0:
            self.skipTest("a file of another user needs root")
        self.record()
        audit = os.path.join(self.m.data_dir, "audit.log")
        os.chown(audit, NOBODY, NOBODY)
        r = self.refused_record("wrote into a data directory holding another user's file")
        one_line_error(self, r, audit, "belongs to uid 65534", "chown")
        self.assertEqual(os.stat(audit).st_uid, NOBODY)

    def test_key_file_open_to_others_refused(self):
        self.record()
        keys = glob.glob(os.path.join(self.m.env["XDG_CONFIG_HOME"], "mimic", "keys", "*.key"))
        self.assertEqual(len(keys), 1)
        os.chmod(keys[0], 0o644)
        r = self.refused_record("used a key file others can read")
        one_line_error(self, r, "chmod 600 " + keys[0])
        self.assertEqual(len(self.m.sessions()), 1)

    def test_export_into_another_users_directory_refused(self):
        if os.geteuid() != 0:
            self.skipTest("a directory of another user needs root")
        self.record()
        out = os.path.join(self.m.tmp, "out")
        os.mkdir(out, 0o777)
        os.chown(out, NOBODY, NOBODY)
        r = self.m.run("export", "last", "--format", "jsonl", "--out", out, "--data-dir",
                       self.m.data_dir, check=False, data_dir=False)
        one_line_error(self, r, out, "belongs to uid 65534")
        self.assertEqual(os.listdir(out), [])

    def test_policy_error_escapes_control_bytes(self):
        policy = os.path.join(self.m.tmp, "evil.conf")
        with open(policy, "w") as f:
            f.write("[allow]\napp = XTerm\n[deny]\ntitle = (\x1b[2J\x1b]0;pwned\x07\x9b\n")
        r = self.m.run("record", "--policy", policy, check=False)
        one_line_error(self, r, policy + ":4")
        for raw in ("\x1b", "\x07", "\x9b"):
            self.assertNotIn(raw, r.stderr)
        self.assertIn("\\x1b[2J\\x1b]0;pwned\\x07", r.stderr)

    def test_long_title_pattern_is_valid(self):
        pattern = "Quarterly report " + "x" * 230
        self.assertEqual(len(pattern), 247)
        policy = os.path.join(self.m.tmp, "long.conf")
        with open(policy, "w") as f:
            f.write(xenv.TEST_POLICY % {"notice": self.m.notice})
            f.write("[deny]\ntitle = %s\n" % pattern)
        self.m.start("--policy", policy)
        self.assertEqual(self.m.stop(), 0)

    def test_sessions_prints_one_error_line(self):
        self.record()
        db = sqlite3.connect(os.path.join(self.m.data_dir, "mimic.db"))
        db.execute("ALTER TABLE events RENAME TO events_gone")
        db.commit()
        db.close()
        r = self.m.run("sessions", check=False)
        one_line_error(self, r, "events")
        self.assertNotIn("no reason given", r.stderr)


if __name__ == "__main__":
    xenv.main()
