"""The policy's promises end to end (docs/POLICY.md, docs/PRIVACY.md).

Under Xvfb + openbox, the real recorder records xterms whose WM_CLASS, title and
executable the test chooses (`xterm -name`, `-class`, `-T`, and a copy of the
xterm binary under another name), driven by xdotool. What is checked is what a
person reading the data directory sees: the decoded events of `mimic events` and
the screenshots of `mimic frames`. Every case has a positive control: the same
kind of window or setting that is recorded, in the same session or in a session
beside it, so that a check that sees nothing proves something.

- `[deny]` wins over `[allow]`: a window allowed by its class but denied by its
  instance name, or by a title expression, is not recorded;
- the built-in exclusions: password managers by WM_CLASS and by executable name,
  and private/incognito windows by title, are not recorded even when `[allow]`
  names them;
- `[browsers]`: a window of a browser class is judged by the URL in its title,
  recorded only on an allowed site (full URL or host form) and not on another
  site, a denied site or without a URL, even when its class is allowed;
- `[allow] exe`: a window is in scope by its executable, and the same program
  under another path is not;
- `[capture] screenshots = false`: no frame is stored; `keystroke_text = false`:
  keys are stored without their text;
- a custom `pause_hotkey` pauses (nothing typed after it is stored, its key is
  not stored) and resumes;
- the keyring key store: with a Secret Service (GNOME Keyring, unlocked, on a
  private D-Bus session bus of the test) the data directory's key is kept there,
  not in a file; the data reads back with it, not without it.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402

# Every program these cases run besides mimic.
X_TOOLS = ("Xvfb", "openbox", "xterm", "xdotool", "xprop", "xwininfo", "xsetroot")
KEYRING_TOOLS = ("dbus-daemon", "dbus-send", "gnome-keyring-daemon", "secret-tool")

LSAN = {"LSAN_OPTIONS": "suppressions=" + os.path.join(xenv.SRCDIR, "tests", "unit",
                                                       "lsan.supp")}


def data_dir_bytes(path):
    """Every byte of every file under path."""
    blobs = []
    for root, _dirs, files in os.walk(path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                blobs.append(fh.read())
    return b"".join(blobs)


def windows_of(events):
    """The window objects of the focus and title events, as JSON text (for assertNotIn)."""
    return json.dumps([e["window"] for e in events if "window" in e])


class PolicyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.x = None
        if any(shutil.which(t) is None for t in X_TOOLS):
            return  # each case reports the missing tool (need_tools)
        cls.x = xenv.XServer(size="1024x768x24")
        cls.x.run(["xsetroot", "-solid", "#336699"])

    @classmethod
    def tearDownClass(cls):
        if cls.x is not None:
            cls.x.close()

    def setUp(self):
        xenv.need_tools(self, *X_TOOLS)
        self.procs = []
        self.mimics = []
        self.names = {}
        self.tmp = tempfile.mkdtemp(prefix="mimic-policy-")

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        for m in self.mimics:
            m.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helpers -------------------------------------------------------------------------

    def mimic(self, policy):
        """A Mimic recording under `policy` (the [consent] section is added)."""
        m = xenv.Mimic(self.x, env=LSAN)
        self.mimics.append(m)
        with open(m.policy, "w") as f:
            f.write(policy + "\n[consent]\nnotice = %s\n" % m.notice)
        return m

    def term(self, name, cls, title, geom, program="xterm"):
        """An xterm (or a copy of it) with the WM_CLASS name.cls and title; its window id.

        It runs cat, which never sets the window's title, so the title stays the one
        given here.
        """
        p = self.x.spawn([program, "-name", name, "-class", cls, "-T", title,
                          "-geometry", geom, "-e", "cat"])
        self.procs.append(p)
        wid = xenv.wait_for(lambda: self.x.run(["xdotool", "search", "--onlyvisible",
                                                "--classname", "^%s$" % name],
                                               check=False).split(),
                            what="xterm %s to map" % name)[-1]
        self.names[wid] = name
        return wid

    def xterm_copy(self, name):
        """A copy of the xterm binary called `name`: a program with its own executable path."""
        d = os.path.join(self.tmp, "bin")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, name)
        shutil.copy2(shutil.which("xterm"), path)
        return path

    def wait_scope(self, m, want, what):
        xenv.wait_for(lambda: m.status()["safeguards"]["scope"] == want, timeout=20,
                      what=what)

    def wait_judged(self, m, wid, scope):
        """Waits until the recorder has judged the focused window wid.

        That is: the recorder says it is `scope` ("in" or "out"), or, for a window
        that should be out of scope, its focus event was stored (it was taken as in
        scope). The wait does not decide the outcome: what was stored does, and a
        window wrongly in scope fails the checks of the events, not this wait.
        """
        name = self.names[wid]

        def judged():
            if m.status()["safeguards"]["scope"] == scope:
                return True
            return scope == "out" and any(
                e["kind"] == "focus" and e["window"]["wm_instance"] == name
                for e in m.events())
        xenv.wait_for(judged, timeout=20, interval=0.1,
                      what="the recorder to judge window %s (%s)" % (wid, name))

    def visit(self, m, wid, scope, text):
        """Focuses wid, waits until the recorder judged it (scope "in" or "out"), types text."""
        self.x.focus(wid)
        self.wait_judged(m, wid, scope)
        self.x.xdotool("type", "--delay", "15", text)

    def record_visits(self, m, start_wid, visits, *args):
        """Records one session of visits [(wid, scope, text)]; returns its events.

        The session starts on start_wid, which must be out of scope, so that the first
        change of scope the recorder reports is an observable one.
        """
        self.x.focus(start_wid)
        m.start("--no-elements", *args)
        self.wait_judged(m, start_wid, "out")
        for wid, scope, text in visits:
            self.visit(m, wid, scope, text)
        self.assertEqual(m.stop(), 0, m.stderr())
        return m.events()

    def frames(self, m):
        out = m.run("frames", "last", "--data-dir", m.data_dir, data_dir=False).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def assert_only_markers_between(self, ev):
        """Between an out_of_scope and the next in_scope marker there is nothing else."""
        out = False
        for e in ev:
            if e["kind"] == "out_of_scope":
                out = True
            elif e["kind"] == "in_scope":
                out = False
            elif out:
                self.fail("%s stored while out of scope: %s" % (e["kind"], e))
        for e in ev:
            if e["kind"] in ("out_of_scope", "in_scope"):
                self.assertEqual(set(e) & {"window", "context"}, set(), e)

    # --- [deny] --------------------------------------------------------------------------

    def test_deny_wins_over_allow(self):
        # All three are XTerm, which [allow] allows; secretterm is also allowed by name.
        work = self.term("worktool", "XTerm", "work notes", "50x8+0+0")
        denied_app = self.term("secretterm", "XTerm", "team chat", "50x8+420+0")
        denied_title = self.term("reviewterm", "XTerm", "Salary review 2024", "50x8+0+300")
        m = self.mimic("[allow]\napp = XTerm\napp = secretterm\n"
                       "[deny]\napp = secretterm\ntitle = \\bsalary\\b\n")
        ev = self.record_visits(m, denied_app, [
            (work, "in", "alpha"),
            (denied_app, "out", "DeniedByApp"),
            (work, "in", "beta"),
            (denied_title, "out", "DeniedByTitle"),
            (work, "in", "gamma"),
        ])
        # Only what was typed into the allowed window; it shows, so the check sees text.
        self.assertEqual(xenv.typed_text(ev), "alphabetagamma")
        self.assert_only_markers_between(ev)
        self.assertEqual(len([e for e in ev if e["kind"] == "out_of_scope"]), 3, ev)
        wins = windows_of(ev)
        self.assertIn("worktool", wins)       # the positive control: windows are shown
        self.assertIn("work notes", wins)
        for s in ("secretterm", "team chat", "reviewterm", "Salary"):
            self.assertNotIn(s, wins)
            self.assertNotIn(s, json.dumps(ev))

    # --- built-in exclusions -------------------------------------------------------------

    def test_password_managers_never_recorded(self):
        work = self.term("worktool", "XTerm", "work notes", "50x8+0+0")
        # A password manager by its WM_CLASS, and one by its executable's name.
        by_class = self.term("keepassxc", "KeePassXC", "Team vault.kdbx", "50x8+420+0")
        vault_exe = self.xterm_copy("bitwarden")
        by_exe = self.term("vaultterm", "XTerm", "vault", "50x8+0+300", program=vault_exe)
        # [allow] names all of them: the class, and every executable in the test's bin/.
        m = self.mimic("[allow]\napp = XTerm\napp = KeePassXC\napp = keepassxc\n"
                       "exe = %s/*\n" % os.path.dirname(vault_exe))
        ev = self.record_visits(m, by_class, [
            (work, "in", "alpha"),
            (by_exe, "out", "ByExeSecret"),
            (work, "in", "beta"),
            (by_class, "out", "ByClassSecret"),
            (work, "in", "gamma"),
        ])
        self.assertEqual(xenv.typed_text(ev), "alphabetagamma")
        self.assert_only_markers_between(ev)
        wins = windows_of(ev)
        self.assertIn("worktool", wins)
        for s in ("keepassxc", "KeePassXC", "Team vault", "vaultterm", "bitwarden"):
            self.assertNotIn(s, wins)

    def test_private_windows_never_recorded(self):
        work = self.term("worktool", "XTerm", "work notes", "50x8+0+0")
        private = self.term("privterm", "XTerm", "Quarterly plan - Private Browsing",
                            "50x8+420+0")
        incognito = self.term("incogterm", "XTerm", "New Tab (Incognito)", "50x8+0+300")
        inprivate = self.term("inprivterm", "XTerm", "Bank - InPrivate", "50x8+420+300")
        m = self.mimic("[allow]\napp = XTerm\napp = privterm\napp = incogterm\n"
                       "app = inprivterm\n")
        ev = self.record_visits(m, private, [
            (work, "in", "alpha"),
            (incognito, "out", "IncognitoText"),
            (work, "in", "beta"),
            (inprivate, "out", "InPrivateText"),
            (work, "in", "gamma"),
        ])
        self.assertEqual(xenv.typed_text(ev), "alphabetagamma")
        self.assert_only_markers_between(ev)
        wins = windows_of(ev)
        self.assertIn("work notes", wins)
        for s in ("privterm", "incogterm", "inprivterm", "Private", "Incognito"):
            self.assertNotIn(s, wins)

    # --- [browsers], [allow] site and exe --------------------------------------------------

    def test_browser_sites(self):
        work = self.term("worktool", "XTerm", "work notes", "40x6+0+0")
        geo = iter(["40x6+340+0", "40x6+680+0", "40x6+0+250", "40x6+340+250", "40x6+680+250"])
        ok = self.term("brsite", "WorkBrowser",
                       "Team https://intranet.example.com/wiki/team - Work Browser", next(geo))
        host = self.term("brhost", "WorkBrowser",
                         "intranet.example.com/wiki/howto - Work Browser", next(geo))
        other = self.term("brother", "WorkBrowser",
                          "https://news.example.org/today - Work Browser", next(geo))
        nourl = self.term("brnourl", "WorkBrowser", "Team page - Work Browser", next(geo))
        denied = self.term("brdeny", "WorkBrowser",
                           "https://intranet.example.com/wiki/payroll/2024 - Work Browser",
                           next(geo))
        # WorkBrowser is a browser by [browsers]; allowing its class allows no site.
        m = self.mimic("[allow]\napp = XTerm\napp = WorkBrowser\n"
                       "site = https://intranet.example.com/wiki/*\n"
                       "[deny]\nsite = https://intranet.example.com/wiki/payroll/*\n"
                       "[browsers]\napp = WorkBrowser\n")
        ev = self.record_visits(m, other, [
            (ok, "in", "onsite"),
            (nourl, "out", "NoUrlText"),
            (host, "in", "hostform"),
            (denied, "out", "PayrollText"),
            (work, "in", "end"),
            (other, "out", "OtherSiteText"),
        ])
        self.assertEqual(xenv.typed_text(ev), "onsitehostformend")
        self.assert_only_markers_between(ev)
        wins = windows_of(ev)
        self.assertIn("wiki/team", wins)
        self.assertIn("wiki/howto", wins)
        for s in ("news.example.org", "Team page", "payroll", "brother", "brnourl", "brdeny"):
            self.assertNotIn(s, wins)

    def test_allow_exe(self):
        exe = self.xterm_copy("worktool-term")
        by_exe = self.term("exeterm", "XTerm", "by executable", "50x8+0+0", program=exe)
        plain = self.term("plainterm", "XTerm", "plain xterm", "50x8+420+0")
        # Only the copy's path is allowed; /usr/bin/xterm (the same program) is not.
        m = self.mimic("[allow]\nexe = %s/worktool-*\n" % os.path.dirname(exe))
        ev = self.record_visits(m, plain, [
            (by_exe, "in", "byexe"),
            (plain, "out", "PlainText"),
        ])
        self.assertEqual(xenv.typed_text(ev), "byexe")
        self.assert_only_markers_between(ev)
        focus = [e["window"] for e in ev if e["kind"] == "focus"]
        self.assertTrue(focus, ev)
        self.assertEqual({w["exe"] for w in focus}, {exe}, focus)
        self.assertNotIn("plainterm", windows_of(ev))

    # --- [capture] -----------------------------------------------------------------------

    def capture_session(self, capture):
        """Records typing and a click into an allowed xterm with `capture` in the policy."""
        work = self.term("worktool", "XTerm", "work notes", "60x15+0+0")
        other = self.term("othertool", "OtherTool", "other", "30x5+600+500")
        m = self.mimic("[allow]\napp = XTerm\n[capture]\n" + capture)
        self.x.focus(other)
        m.start("--no-elements")
        self.wait_scope(m, "out", "the other window to be out of scope")
        self.visit(m, work, "in", "abc")
        self.x.xdotool("key", "Return")
        self.x.xdotool("mousemove", "100", "100", "click", "1")
        return m

    def test_screenshots_off(self):
        # The positive control: the same actions with screenshots on store frames.
        on = self.capture_session("screenshots = true\n")
        xenv.wait_for(lambda: on.status()["frames"]["stored"] > 0, timeout=30,
                      what="a frame with screenshots on")
        self.assertEqual(on.stop(), 0, on.stderr())
        self.assertTrue(self.frames(on))
        for p in self.procs:
            p.terminate()
            p.wait(timeout=10)
        self.procs = []

        off = self.capture_session("screenshots = false\n")
        # What was typed is stored (the session works) ...
        xenv.wait_for(lambda: "abc" in xenv.typed_text(off.events()), timeout=30,
                      what="the typed text to be stored")
        st = off.status()
        self.assertEqual(off.stop(), 0, off.stderr())
        # ... and no screenshot at all, nor the means to take one.
        self.assertEqual(self.frames(off), [])
        self.assertFalse(st["frames"]["enabled"], st)
        sess = off.sessions()[-1]
        self.assertFalse(sess["config"]["frames"]["enabled"], sess)

    def test_keystroke_text_off(self):
        # The positive control: with keystroke text on, the text is stored.
        on = self.capture_session("keystroke_text = true\n")
        self.assertEqual(on.stop(), 0, on.stderr())
        self.assertEqual(xenv.typed_text(on.events()), "abc")
        for p in self.procs:
            p.terminate()
            p.wait(timeout=10)
        self.procs = []

        off = self.capture_session("keystroke_text = false\n")
        self.assertEqual(off.stop(), 0, off.stderr())
        ev = off.events()
        keys = [e for e in ev if e["kind"] in ("key_press", "key_release")]
        # That four keys were typed is kept, not which: no text, keysym or keycode ...
        self.assertEqual(len(keys), 8, keys)
        self.assertEqual(xenv.typed_text(keys), "")
        self.assertEqual([e["keysym"] for e in keys if e["keysym"]], ["Return", "Return"])
        self.assertEqual([e for e in keys if e["keysym"] == "" and e["keycode"] != 0], [])
        # ... and the letters are nowhere in what `mimic events` shows.
        for e in keys:
            self.assertNotIn(e.get("keysym"), ("a", "b", "c"), e)

    # --- [controls] pause_hotkey -----------------------------------------------------------

    def test_custom_pause_hotkey(self):
        work = self.term("worktool", "XTerm", "work notes", "60x15+0+0")
        other = self.term("othertool", "OtherTool", "other", "30x5+600+500")
        m = self.mimic("[allow]\napp = XTerm\n[controls]\npause_hotkey = ctrl+shift+F9\n")
        self.x.focus(other)
        m.start("--no-elements", "--no-frames")
        self.wait_scope(m, "out", "the other window to be out of scope")
        self.visit(m, work, "in", "before")
        self.x.xdotool("key", "ctrl+shift+F9")
        # Paused, or (not taken as the hotkey) the key stored: what follows decides.
        xenv.wait_for(lambda: m.status()["state"] == "paused" or
                      any(e.get("keysym") == "F9" for e in m.events()), interval=0.1,
                      what="the hotkey to pause")
        self.x.xdotool("type", "--delay", "15", "hidden")
        self.x.xdotool("key", "ctrl+shift+F9")
        xenv.wait_for(lambda: m.status()["state"] == "recording", what="the hotkey to resume")
        self.x.xdotool("type", "--delay", "15", "after")
        self.assertEqual(m.stop(), 0, m.stderr())
        ev = m.events()
        self.assertEqual(xenv.typed_text(ev), "beforeafter")
        self.assertEqual([e["kind"] for e in ev if e["kind"] in ("pause", "resume")],
                         ["pause", "resume"])
        # The hotkey's own key is never stored (the modifiers before it are).
        self.assertEqual([e for e in ev if e["kind"].startswith("key") and
                          e.get("keysym") == "F9"], [])
        self.assertIn("Control_L", [e.get("keysym") for e in ev])


class KeyringTest(unittest.TestCase):
    """The data key in a real Secret Service: GNOME Keyring on a private session bus.

    The bus has no service directory, so nothing is activated behind the test's
    back: the keyring daemon is the one the test starts (unlocked with a password on
    its standard input, as a login does), with its own HOME, and when the test stops
    it, nobody answers for the Secret Service.
    """

    def setUp(self):
        xenv.need_tools(self, *X_TOOLS, *KEYRING_TOOLS)
        self.tmp = tempfile.mkdtemp(prefix="mimic-keyring-")
        self.procs = []
        self.keyring = None
        self.x = xenv.XServer(size="800x600x24")
        self.env = self.start_bus()

    def tearDown(self):
        self.stop_keyring()
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        self.x.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_bus(self):
        conf = os.path.join(self.tmp, "bus.conf")
        with open(conf, "w") as f:
            f.write('<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration '
                    '1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
                    "<busconfig><type>session</type><listen>unix:dir=%s</listen>"
                    "<auth>EXTERNAL</auth><policy context=\"default\">"
                    "<allow send_destination=\"*\" eavesdrop=\"true\"/>"
                    "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n"
                    % self.tmp)
        r, w = os.pipe()
        p = subprocess.Popen(["dbus-daemon", "--config-file=" + conf, "--nofork",
                              "--print-address=%d" % w], pass_fds=(w,),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        os.close(w)
        addr = b""
        with os.fdopen(r, "rb") as f:
            addr = f.readline()
        self.assertTrue(addr.endswith(b"\n"), "dbus-daemon did not print its address")
        env = dict(self.x.env)
        env["DBUS_SESSION_BUS_ADDRESS"] = addr.decode().strip()
        env.pop("MIMIC_KEY_STORE", None)
        return env

    def keyring_env(self):
        """The keyring daemon's environment: its own home, no display (no prompt)."""
        home = os.path.join(self.tmp, "keyring-home")
        run = os.path.join(self.tmp, "keyring-run")
        for d in (home, run):
            os.makedirs(d, mode=0o700, exist_ok=True)
        env = dict(self.env)
        env.pop("DISPLAY", None)
        env.update({"HOME": home, "XDG_DATA_HOME": os.path.join(home, "data"),
                    "XDG_CONFIG_HOME": os.path.join(home, "config"),
                    "XDG_CACHE_HOME": os.path.join(home, "cache"), "XDG_RUNTIME_DIR": run})
        return env

    def secrets_owned(self):
        r = subprocess.run(["dbus-send", "--session", "--print-reply",
                            "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                            "org.freedesktop.DBus.NameHasOwner",
                            "string:org.freedesktop.secrets"],
                           env=self.env, capture_output=True, text=True, timeout=30)
        return "boolean true" in r.stdout

    def start_keyring(self):
        """Starts GNOME Keyring unlocked (its login keyring made, or opened, with a password)."""
        self.keyring = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            env=self.keyring_env(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.keyring.stdin.write(b"keyring test password")
        self.keyring.stdin.close()
        xenv.wait_for(self.secrets_owned, timeout=30, interval=0.1,
                      what="GNOME Keyring to own org.freedesktop.secrets")

    def stop_keyring(self):
        if self.keyring is not None and self.keyring.poll() is None:
            self.keyring.terminate()
            self.keyring.wait(timeout=10)
        self.keyring = None

    def secret_tool(self, *args):
        return subprocess.run(["secret-tool", *args], env=self.keyring_env(),
                              capture_output=True, text=True, timeout=30)

    def test_key_kept_in_the_keyring(self):
        self.start_keyring()
        m = xenv.Mimic(self.x, env=dict(self.env, **LSAN), keyring=True)
        try:
            self.run_keyring_case(m)
        finally:
            m.close()

    def run_keyring_case(self, m):
        term = self.x.xterm(name="worktool", title="work notes", geometry="60x10+0+0")
        self.x.focus(term)
        m.start("--no-elements", "--no-frames")
        self.x.xdotool("type", "--delay", "15", "keyringtext")
        self.assertEqual(m.stop(), 0, m.stderr())
        self.assertEqual(xenv.typed_text(m.events()), "keyringtext")

        # key.id says where the key is: the keyring; no key file was written.
        with open(os.path.join(m.data_dir, "key.id")) as f:
            kid = json.load(f)
        self.assertEqual(kid["store"], "keyring", kid)
        keys_dir = os.path.join(m.env["XDG_CONFIG_HOME"], "mimic", "keys")
        self.assertFalse(os.path.exists(keys_dir) and os.listdir(keys_dir),
                         "a key file was written beside the keyring")

        # The Secret Service holds it, and no file of the data directory does.
        r = self.secret_tool("lookup", "mimic-key-id", kid["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        key = r.stdout.strip()
        self.assertRegex(key, r"^[0-9a-f]{64}$")
        raw = data_dir_bytes(m.data_dir)
        self.assertIn(kid["id"].encode(), raw)   # the scan sees key.id's contents
        self.assertNotIn(key.encode(), raw)
        self.assertNotIn(bytes.fromhex(key), raw)

        # Without the Secret Service: one line, and nothing is read.
        self.stop_keyring()
        r = m.run("events", "last", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "")
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("desktop keyring", lines[0])
        self.assertIn("cannot be reached", lines[0])

        # The keyring started again (as at the next login) still has it: readable again.
        self.start_keyring()
        self.assertEqual(xenv.typed_text(m.events()), "keyringtext")

        # Taken out of the keyring: one line saying so, and nothing is read.
        r = self.secret_tool("clear", "mimic-key-id", kid["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        r = m.run("events", "last", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "")
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("does not hold it", lines[0])


if __name__ == "__main__":
    xenv.main()
