"""What the tests of `mimic agent serve` share (test_agent, test_takeover): a minimal
MCP client over the server's pipes, the check of a successful call, and a zenity
form placed where the recorder saw it.
"""

import base64
import json
import os
import select
import subprocess
import time

import xenv

PNG = b"\x89PNG\r\n\x1a\n"


class Client:
    """A minimal MCP client over the server's stdin/stdout pipes."""

    def __init__(self, m, log, *extra):
        self.err = open(log, "w")
        self.p = subprocess.Popen([xenv.MIMIC, "agent", "serve", "--policy", m.policy, *extra],
                                  env=m.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err)
        self.buf = b""
        self.next_id = 1

    def send_raw(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def send(self, obj):
        self.send_raw(json.dumps(obj).encode() + b"\n")

    def recv(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the agent server did not answer within %gs" % timeout)
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 1 << 20)
                if not chunk:
                    raise AssertionError("the agent server closed its output (exit %s)"
                                         % self.p.poll())
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, method, params=None, timeout=30.0):
        rid = self.next_id
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        ans = self.recv(timeout)
        assert ans.get("id") == rid, ans
        return ans

    def call(self, args, timeout=30.0):
        return self.request("tools/call", {"name": "computer", "arguments": args}, timeout)

    def close(self):
        """Ends the input; returns the server's exit status."""
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if not self.err.closed:
            self.err.close()
        return self.p.returncode


def ok_result(test, ans):
    """Asserts a successful tools/call answer with a PNG screenshot; returns the result."""
    test.assertNotIn("error", ans)
    res = ans["result"]
    test.assertFalse(res.get("isError"), res)
    images = [c for c in res["content"] if c["type"] == "image"]
    test.assertEqual(len(images), 1)
    test.assertEqual(images[0]["mimeType"], "image/png")
    test.assertTrue(base64.b64decode(images[0]["data"]).startswith(PNG))
    return res


def open_form(x, m, title, first="Name"):
    """Starts a zenity form with the entries first (Name) and City, focuses it and
    waits for the recorder to see it. Returns (process, window id, geometry), the
    geometry being the form's client area as the recorder saw it (xdotool's is off
    by the frame), as a dict of X, Y, WIDTH and HEIGHT."""
    form = subprocess.Popen(
        ["zenity", "--forms", "--title=" + title, "--add-entry=" + first, "--add-entry=City"],
        env=x.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    wid = xenv.wait_for(lambda: x.run(["xdotool", "search", "--onlyvisible",
                                       "--pid", str(form.pid)], check=False).split(),
                        timeout=30, what="the zenity form")[-1]
    x.focus(wid)
    focus = xenv.wait_for(lambda: [e for e in m.events() if e["kind"] == "focus" and
                                   e["window"]["wm_class"] == "Zenity"],
                          what="the recorder to see the form")[-1]
    gx, gy, w, h = focus["window"]["geometry"]
    return form, wid, {"X": gx, "Y": gy, "WIDTH": w, "HEIGHT": h}


def close_form(form):
    """Ends the form if it still runs."""
    if form.poll() is None:
        form.terminate()
    form.wait(timeout=10)
