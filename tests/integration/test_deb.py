"""The Debian package end to end (docs/FLEET.md, "Package and autostart").

Builds the .deb with scripts/make-deb, installs it with dpkg -i (root only; the
package is purged at the end and /etc/mimic put back as it was), checks its files
and its manual page, then runs the XDG autostart entry's Exec line and the user
unit's ExecStart line under a private Xvfb + openbox: without consent they exit 0
with one "not recording" line and create nothing; after `mimic consent --accept`
the autostart line records what is typed into an xterm the policy allows, with the
indicator shown. The policy is written to /etc/mimic/policy.conf before the install,
as an administrator pre-seeds it, and must survive the install.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import xenv  # noqa: E402

TOOLS = ("dpkg", "dpkg-deb", "meson", "ninja", "man", "Xvfb", "openbox", "xterm", "xdotool",
         "xprop")


def installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
    return "install ok installed" in r.stdout


class DebTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mimic-deb-")
        cls.deb = None
        cls.etc_backup = None
        if os.geteuid() != 0 or any(shutil.which(t) is None for t in TOOLS) or installed("mimic"):
            return  # each case says why (setUp)
        r = subprocess.run([os.path.join(xenv.SRCDIR, "scripts", "make-deb"), "--build-dir",
                            os.path.join(cls.tmp, "build"), "--out", cls.tmp],
                           capture_output=True, text=True, timeout=1200)
        if r.returncode != 0:
            raise AssertionError("make-deb failed: " + r.stderr)
        cls.deb = r.stdout.split()[0]
        if os.path.exists("/etc/mimic"):
            cls.etc_backup = os.path.join(cls.tmp, "etc-mimic")
            shutil.move("/etc/mimic", cls.etc_backup)
        os.makedirs("/etc/mimic")
        cls.notice = "/etc/mimic/notice.txt"
        with open(cls.notice, "w") as f:
            f.write("Test notice of test_deb.\n")
        cls.policy = "[allow]\napp = XTerm\n[consent]\nnotice = /etc/mimic/notice.txt\n"
        with open("/etc/mimic/policy.conf", "w") as f:
            f.write(cls.policy)
        r = subprocess.run(["dpkg", "--force-confdef", "--force-confold", "-i", cls.deb],
                           capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        cls.install_out = r.stdout + r.stderr
        cls.install_rc = r.returncode

    @classmethod
    def tearDownClass(cls):
        if cls.deb is not None:
            subprocess.run(["dpkg", "--purge", "mimic"], capture_output=True, timeout=300)
            shutil.rmtree("/etc/mimic", ignore_errors=True)
            if cls.etc_backup:
                shutil.move(cls.etc_backup, "/etc/mimic")
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        xenv.need_tools(self, *TOOLS)
        if os.geteuid() != 0:
            self.skipTest("installing a package needs root")
        if self.deb is None:
            self.fail("the mimic package is already installed on this machine; "
                      "remove it (dpkg --purge mimic) to run this test")
        self.assertEqual(self.install_rc, 0, self.install_out)

    def login_lines(self):
        """The autostart entry's Exec line and the user unit's ExecStart line."""
        with open("/etc/xdg/autostart/mimic.desktop") as f:
            desk = dict(l.split("=", 1) for l in f.read().splitlines() if "=" in l)
        with open("/usr/lib/systemd/user/mimic.service") as f:
            unit = [l.split("=", 1)[1] for l in f.read().splitlines()
                    if l.startswith("ExecStart=")]
        return shlex.split(desk["Exec"]), shlex.split(unit[0])

    def test_files_control_and_manual(self):
        fields = subprocess.run(["dpkg-deb", "-f", self.deb, "Package", "Version", "Depends"],
                                capture_output=True, text=True, check=True).stdout
        self.assertIn("Package: mimic\n", fields)
        self.assertIn("libsqlite3-0", fields)
        self.assertIn("libxcb1", fields)
        # The recorder loads AT-SPI's client as a module and reaches the keyring through
        # a child: both are in the package, and their libraries are in Depends.
        self.assertIn("libatspi2.0-0", fields)
        self.assertIn("libsecret-1-0", fields)
        arch = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True,
                              text=True).stdout.strip() or "x86_64-linux-gnu"
        self.assertTrue(os.path.exists("/usr/lib/%s/mimic/mimic-uia.so" % arch))
        ldd = subprocess.run(["ldd", "/usr/bin/mimic"], capture_output=True, text=True).stdout
        self.assertIn("libsqlite3", ldd)
        self.assertNotRegex(ldd, r"libatspi|libglib|libsecret")
        for path in ("/usr/bin/mimic", "/usr/bin/mimic-data", "/usr/bin/mimic-keyring",
                     "/usr/lib/systemd/user/mimic.service",
                     "/etc/xdg/autostart/mimic.desktop", "/usr/share/doc/mimic/copyright",
                     "/usr/share/doc/mimic/examples/policy.conf"):
            self.assertTrue(os.path.exists(path), path)
        # The pre-seeded policy survived the install; the package's copy is beside it.
        with open("/etc/mimic/policy.conf") as f:
            self.assertEqual(f.read(), self.policy)
        self.assertTrue(os.path.exists("/etc/mimic/policy.conf.dpkg-dist"))
        # The user unit is enabled for every user.
        self.assertTrue(os.path.islink(
            "/etc/systemd/user/graphical-session.target.wants/mimic.service"))
        ver = subprocess.run(["/usr/bin/mimic", "--version"], capture_output=True, text=True)
        self.assertIn(ver.stdout.split()[1], fields)
        # `man mimic` shows every command `mimic --help` lists (from the .deb's page:
        # a minimal system may exclude /usr/share/man from installs).
        ex = os.path.join(self.tmp, "ex")
        subprocess.run(["dpkg-deb", "-x", self.deb, ex], check=True)
        page = subprocess.run(["man", "-l", ex + "/usr/share/man/man1/mimic.1.gz"],
                              capture_output=True, text=True, env=dict(os.environ, MANWIDTH="200",
                                                                       MAN_KEEP_FORMATTING="0"))
        self.assertEqual(page.returncode, 0, page.stderr)
        text = re.sub(".\x08", "", page.stdout)  # man's overstrike bold and underline
        self.assertIn("EXIT STATUS", text)
        helptext = subprocess.run(["/usr/bin/mimic", "--help"], capture_output=True,
                                  text=True).stdout
        cmds = [l.split()[0] for l in helptext.splitlines() if l.startswith("  ")]
        self.assertGreater(len(cmds), 10)
        for c in cmds:
            self.assertRegex(text, r"(?m)^\s+%s\b" % c, "man page lacks command " + c)

    def test_login_starts_only_after_consent(self):
        x = xenv.XServer(size="1024x768x24")
        home = os.path.join(self.tmp, "home")
        os.makedirs(home, exist_ok=True)
        env = dict(x.env, HOME=home, XDG_RUNTIME_DIR=os.path.join(self.tmp, "run"),
                   MIMIC_KEY_STORE="file")
        env.pop("XDG_DATA_HOME", None)
        env.pop("XDG_CONFIG_HOME", None)
        env.pop("XDG_SESSION_TYPE", None)
        os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700, exist_ok=True)
        data = os.path.join(home, ".local", "share", "mimic")
        rec = None
        try:
            autostart, unit = self.login_lines()
            self.assertIn("--if-consented", autostart)
            self.assertIn("--if-consented", unit)
            for argv in (autostart, unit):
                r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                lines = r.stderr.splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn("not recording", lines[0])
                self.assertIn("mimic consent", lines[0])
                self.assertFalse(os.path.exists(data), "a login without consent created " + data)
            r = subprocess.run(["/usr/bin/mimic", "consent", "--accept"], env=env,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            wid = x.xterm()
            rec = subprocess.Popen(autostart, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
            status = lambda: subprocess.run(["/usr/bin/mimic", "status", "--json"], env=env,
                                            capture_output=True, text=True).returncode == 0
            xenv.wait_for(lambda: rec.poll() is not None or status(), timeout=60,
                          what="the recorder started at login to answer")
            if rec.poll() is not None:
                self.fail("the recorder started at login exited %d: %s"
                          % (rec.returncode, rec.stderr.read()))
            # Visibly: the indicator is on the screen.
            xenv.wait_for(lambda: x.run(["xdotool", "search", "--onlyvisible", "--classname",
                                         "mimic-indicator"], check=False).strip(),
                          timeout=30, what="the recording indicator")
            # A second login start (unit and autostart both) exits 0 saying why.
            r = subprocess.run(unit, env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("already running", r.stderr)
            x.focus(wid)
            x.xdotool("type", "--delay", "30", "pkgtest")

            def typed():
                out = subprocess.run(["/usr/bin/mimic", "events", "last"], env=env,
                                     capture_output=True, text=True).stdout
                import json
                evs = [json.loads(l) for l in out.splitlines() if l.strip()]
                return xenv.typed_text(evs).endswith("pkgtest")
            xenv.wait_for(typed, timeout=30, interval=0.2, what="the typed keys in mimic events")
            # The installed recorder found its UI element module (without a session
            # bus it then says the bus is missing, not the module).
            st = subprocess.run(["/usr/bin/mimic", "status", "--json"], env=env,
                                capture_output=True, text=True)
            import json
            acc = json.loads(st.stdout)["accessibility"]
            self.assertNotIn("cannot load UI element support", acc.get("reason") or "", acc)
            subprocess.run(["/usr/bin/mimic", "stop"], env=env, capture_output=True, timeout=60)
            self.assertEqual(rec.wait(timeout=30), 0)
        finally:
            if rec is not None and rec.poll() is None:
                rec.kill()
                rec.wait()
            x.close()


if __name__ == "__main__":
    xenv.main()
