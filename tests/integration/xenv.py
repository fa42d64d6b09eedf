"""Test environment for mimic's integration tests.

Starts a real X server (Xvfb, on a display number it picks itself), optionally a
window manager (openbox) and applications, and runs the real `mimic` binary with
its own data and runtime directories, so tests never touch a user's data and can
run beside each other. Standard library only.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

MIMIC = os.environ.get("MIMIC_BIN") or shutil.which("mimic")
SRCDIR = os.environ.get("MIMIC_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))


CI = os.environ.get("CI") in ("true", "1")


def need_tools(testcase, *tools):
    """Skips the case unless every program in tools is in PATH (a failure in CI).

    Outside CI a missing tool is a skip, reported as such; with CI=true a case may
    not skip (main() turns every skip into a failure), and the message names the
    missing tool.
    """
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        testcase.skipTest("%s not installed (not found in PATH; scripts/install-deps "
                          "installs it)" % ", ".join(missing))


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


class XServer:
    """An Xvfb server with an optional openbox, and the processes started on it."""

    def __init__(self, size="1280x800x24", wm=True, extra_args=()):
        self.tmp = tempfile.mkdtemp(prefix="mimic-x-")
        r, w = os.pipe()
        self.xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(w), "-screen", "0", size, "-nolisten", "tcp",
             "-noreset", *extra_args],
            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(w)
        num = b""
        deadline = time.monotonic() + 15
        while not num.endswith(b"\n"):
            if time.monotonic() > deadline:
                raise RuntimeError("Xvfb did not report a display number")
            chunk = os.read(r, 16)
            if not chunk:
                raise RuntimeError("Xvfb exited before it was ready")
            num += chunk
        os.close(r)
        self.display = ":" + num.decode().strip()
        self.procs = []
        self.env = dict(os.environ)
        self.env["DISPLAY"] = self.display
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        if wm:
            self.spawn(["openbox", "--sm-disable"])
            wait_for(lambda: "window id" in self.run(
                ["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], check=False),
                what="openbox to start")

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, env=self.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def run(self, argv, check=True, timeout=30):
        r = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (" ".join(argv), r.returncode, r.stderr))
        return r.stdout

    def xdotool(self, *args):
        return self.run(["xdotool", *args])

    def xterm(self, name="mimicterm", title="mimic test terminal", geometry="80x24+0+0"):
        """Starts an xterm and waits until it is mapped; returns its window id."""
        self.spawn(["xterm", "-name", name, "-T", title, "-geometry", geometry])
        out = wait_for(lambda: self.run(["xdotool", "search", "--onlyvisible", "--classname",
                                         name], check=False).split(),
                       what="xterm %s to map" % name)
        return out[-1]

    def focus(self, wid):
        self.xdotool("windowactivate", "--sync", wid)
        wait_for(lambda: self.run(["xdotool", "getactivewindow"], check=False).strip() == wid,
                 what="window %s to be active" % wid)

    def kill(self):
        """Kills the X server abruptly (the recorder must survive it)."""
        self.xvfb.kill()
        self.xvfb.wait()

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.xvfb.poll() is None:
            self.xvfb.terminate()
            self.xvfb.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


# The policy every test records under unless it passes its own (docs/POLICY.md): the
# applications the tests drive, and a consent notice of the test's own.
TEST_POLICY = """[allow]
app = XTerm
app = Zenity
[consent]
notice = %(notice)s
"""


class Mimic:
    """Runs the mimic binary with private data and runtime directories.

    Recording needs a policy and the person's consent: `record` gets --policy
    (self.policy, allowing xterm and zenity, unless the test passes its own) and,
    before the first recording, `mimic consent --accept` is run once
    (consent=False leaves it out, to test the refusal). The vault key goes to a
    file unless keyring=True.
    """

    def __init__(self, x=None, env=None, policy=None, consent=True, keyring=False):
        self.tmp = tempfile.mkdtemp(prefix="mimic-home-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.runtime = os.path.join(self.tmp, "run")
        os.mkdir(self.runtime, 0o700)
        self.env = dict(x.env if x else os.environ)
        self.env["XDG_RUNTIME_DIR"] = self.runtime
        self.env["XDG_DATA_HOME"] = os.path.join(self.tmp, "xdg-data")
        # No settings file of the person running the tests may change what is recorded.
        self.env["XDG_CONFIG_HOME"] = os.path.join(self.tmp, "xdg-config")
        # A session bus can start gnome-keyring on demand, whose "create a keyring"
        # prompt would wait for a person: tests keep the key in a file unless they
        # test the keyring itself (keyring=True).
        if not keyring:
            self.env.setdefault("MIMIC_KEY_STORE", "file")
        if env:
            self.env.update(env)
        self.notice = os.path.join(self.tmp, "notice.txt")
        with open(self.notice, "w") as f:
            f.write("Test notice: mimic records the allowlisted test applications.\n")
        self.policy = os.path.join(self.tmp, "policy.conf")
        with open(self.policy, "w") as f:
            f.write(policy if policy is not None else TEST_POLICY % {"notice": self.notice})
        self.consent = consent
        self.consented = False
        self.rec = None
        self.rec_out = os.path.join(self.tmp, "record.out")
        self.rec_err = os.path.join(self.tmp, "record.err")

    def _record_args(self, args):
        """--policy for record and consent, unless given; consent before the first record."""
        extra = [] if "--policy" in args else ["--policy", self.policy]
        if self.consent and not self.consented:
            self.consented = True
            # Failures are left to the recorder to report (a corrupt database, ...).
            subprocess.run([MIMIC, "consent", "--accept", "--data-dir", self.data_dir,
                            "--policy", self.policy], env=self.env, capture_output=True,
                           timeout=60)
        return extra

    def run(self, *args, check=True, timeout=60, env=None, data_dir=True):
        argv = [MIMIC, *args]
        if data_dir and args and args[0] in ("record", "sessions", "events", "consent"):
            argv += ["--data-dir", self.data_dir]
        if args and args[0] == "record":
            argv += self._record_args(args)
        elif args and args[0] == "consent" and "--policy" not in args:
            argv += ["--policy", self.policy]
        e = dict(self.env)
        if env:
            e.update(env)
        r = subprocess.run(argv, env=e, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("mimic %s exited %d: %s" % (" ".join(args), r.returncode,
                                                              r.stderr.strip()))
        return r

    def start(self, *args, wait=True):
        """Starts `mimic record` in the background and waits until it answers."""
        argv = [MIMIC, "record", "--data-dir", self.data_dir, *args, *self._record_args(args)]
        with open(self.rec_out, "w") as out, open(self.rec_err, "w") as err:
            self.rec = subprocess.Popen(argv, env=self.env, stdout=out, stderr=err)
        if wait:
            wait_for(lambda: self.rec.poll() is not None or
                     self.run("status", "--json", check=False).returncode == 0,
                     what="the recorder to answer")
            if self.rec.poll() is not None:
                raise AssertionError("recorder exited %d: %s" % (self.rec.returncode,
                                                                  self.stderr()))
        return self.rec

    def stop(self):
        """Stops the recorder with `mimic stop` and returns its exit status."""
        self.run("stop")
        return self.rec.wait(timeout=30)

    def stderr(self):
        with open(self.rec_err) as f:
            return f.read()

    def stdout(self):
        with open(self.rec_out) as f:
            return f.read()

    def status(self):
        return json.loads(self.run("status", "--json").stdout)

    def events(self, session="last"):
        out = self.run("events", session).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def settled(self, text):
        """Waits until text was typed and the screen after it was stored as a frame.

        Returns the last key press of text and that frame.
        """
        def look():
            keys = [e for e in self.events() if e["kind"] == "key_press"]
            if not typed_text(keys).endswith(text):
                return None
            out = self.run("frames", "last", "--data-dir", self.data_dir).stdout
            after = [f for f in (json.loads(line) for line in out.splitlines() if line.strip())
                     if f["t_ns"] > keys[-1]["t_ns"]]
            return after and (keys[-1], after[-1])
        return wait_for(look, timeout=30, interval=0.1, what="%r and the frame after it" % text)

    def sessions(self):
        out = self.run("sessions", "--json").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def close(self):
        if self.rec is not None and self.rec.poll() is None:
            self.rec.kill()
            self.rec.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


class SessionBus:
    """A private D-Bus session bus for the applications on x (and the recorder).

    It activates the accessibility bus and registry when a GTK application or the
    recorder asks for them. Sets DBUS_SESSION_BUS_ADDRESS in x.env (create Mimic(x)
    afterwards), lets GTK load its accessibility bridge, and tags x.env so that
    close() also stops what the bus activated.
    """

    def __init__(self, x):
        self.tag = "%d-%d" % (os.getpid(), time.monotonic_ns())
        env = x.env
        env["MIMIC_TEST_TAG"] = self.tag
        env["NO_AT_BRIDGE"] = "0"
        env.pop("GTK_MODULES", None)
        env.pop("AT_SPI_BUS_ADDRESS", None)
        r, w = os.pipe()
        self.proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork",
                                      "--print-address=%d" % w],
                                     env=env, pass_fds=(w,), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(w)
        addr = b""
        deadline = time.monotonic() + 10
        while not addr.endswith(b"\n") and time.monotonic() < deadline:
            chunk = os.read(r, 256)
            if not chunk:
                break
            addr += chunk
        os.close(r)
        if not addr.endswith(b"\n"):
            self.close()
            raise RuntimeError("dbus-daemon did not print its address")
        env["DBUS_SESSION_BUS_ADDRESS"] = addr.decode().strip()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        mark = ("MIMIC_TEST_TAG=" + self.tag).encode()
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/environ" % d, "rb") as f:
                    if mark in f.read().split(b"\0"):
                        os.kill(int(d), signal.SIGTERM)
            except (OSError, ProcessLookupError):
                pass


class WebServer:
    """Serves the files of root (default: tests/integration/web) on host, on a port
    of its own, from a thread of this process; url(path) names a page. paths lists
    every path asked for, query included, in order (what a submitted form sent)."""

    def __init__(self, root=None, host="127.0.0.1"):
        import functools
        import http.server
        import threading
        root = root or os.path.join(os.path.dirname(os.path.abspath(__file__)), "web")
        self.paths = []
        paths = self.paths

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                paths.append(self.path)
                super().do_GET()

            def end_headers(self):
                # Every fetch reaches the server: a test may count what was asked for.
                self.send_header("Cache-Control", "no-store")
                super().end_headers()

        handler = functools.partial(Quiet, directory=root)
        self.httpd = http.server.ThreadingHTTPServer((host, 0), handler)
        self.host, self.port = host, self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/"):
        return "http://%s:%d%s" % (self.host, self.port, path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# The browsers the tests drive: scripts/browser's name for each, and its executable.
BROWSERS = {"chromium": "chromium", "firefox": "firefox-esr"}


class Browser:
    """A real browser (Chromium or Firefox ESR) started on x by scripts/browser, the
    way a person starts it, with a fresh profile; its top-level window is found by
    the browser's pid. Needs a SessionBus on x for accessibility."""

    def __init__(self, x, kind, url, private=False, timeout=60.0):
        self.x, self.kind = x, kind
        self.profile = tempfile.mkdtemp(prefix="mimic-%s-" % kind)
        argv = [os.path.join(SRCDIR, "scripts", "browser"), kind, "--profile", self.profile]
        if private:
            argv.append("--private")
        # A session of its own: a browser is a tree of processes, stopped together.
        self.proc = subprocess.Popen(argv + [url], env=x.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        self.wid = wait_for(self._window, timeout=timeout,
                            what="%s to map its window" % kind)

    def _window(self):
        out = self.x.run(["xdotool", "search", "--onlyvisible", "--pid", str(self.proc.pid)],
                         check=False).split()
        # Chromium maps small helper windows too: the browser window is the largest.
        best, area = None, 0
        for wid in out:
            geo = self.x.run(["xdotool", "getwindowgeometry", "--shell", wid], check=False)
            kv = dict(l.split("=", 1) for l in geo.split() if "=" in l)
            a = int(kv.get("WIDTH", 0)) * int(kv.get("HEIGHT", 0))
            if a > area:
                best, area = wid, a
        return best if area >= 200 * 200 else None

    def title(self):
        return self.x.run(["xdotool", "getwindowname", self.wid], check=False).strip()

    def close(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # Helpers of a browser may outlive its main process for a moment.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(self.profile, ignore_errors=True)


def typed_text(events, source=None):
    """The text the key presses produced, in order."""
    return "".join(e.get("text", "") for e in events
                   if e["kind"] == "key_press" and (source is None or e["source"] == source))


class _Result(unittest.TextTestResult):
    """A skip is reported as such outside CI and is a failure with CI=true."""

    def addSkip(self, test, reason):
        if CI:
            try:
                raise AssertionError("CI=true, so a case may not skip: %s" % reason)
            except AssertionError:
                self.addFailure(test, sys.exc_info())
            return
        super().addSkip(test, reason)


def main():
    """Runs the module's cases; exits 0, 1 when a case failed, 77 when one skipped.

    MIMIC_TEST_ONLY (a case name, or Class.case) runs only that case.
    """
    if MIMIC is None or not os.path.exists(MIMIC):
        raise SystemExit("MIMIC_BIN is not set to the mimic binary")
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    argv = list(sys.argv)
    only = os.environ.get("MIMIC_TEST_ONLY")
    if only:
        argv += ["-k", only]
    prog = unittest.main(argv=argv, verbosity=2, exit=False,
                         testRunner=unittest.TextTestRunner(resultclass=_Result, verbosity=2))
    r = prog.result
    if not r.wasSuccessful() or r.testsRun == 0:
        sys.exit(1)
    sys.exit(77 if r.skipped else 0)
