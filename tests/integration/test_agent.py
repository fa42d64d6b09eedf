#!/usr/bin/env python3
"""`mimic agent serve`: an MCP client (written here, stdlib only) drives a real GTK
form through the agent server while xdotool plays the person; the recorder tells
the agent's events (source "agent", from mimic's own input devices) from
xdotool's (synthetic), and bad input gets JSON-RPC errors while the server goes on.
"""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xenv  # noqa: E402
from agentenv import Client, close_form, ok_result, open_form  # noqa: E402,F401


class AgentForm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        xenv.need_tools(cls, "zenity", "xdotool")
        cls.x = xenv.XServer()
        cls.m = xenv.Mimic(cls.x)
        cls.m.start("--no-frames", "--no-elements")
        cls.form, cls.wid, cls.geo = open_form(cls.x, cls.m, "Agent")
        # Only `mimic agent handback` gives control back after the person's typing (test_1).
        cls.agent = Client(cls.m, os.path.join(cls.m.tmp, "agent.err"), "--handback-idle", "0")

    @classmethod
    def tearDownClass(cls):
        cls.agent.close()
        close_form(cls.form)
        cls.m.close()
        cls.x.close()

    def test_1_form_filled_by_agent_and_person(self):
        c = self.agent
        ans = c.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                       "clientInfo": {"name": "test", "version": "1"}})
        self.assertEqual(ans["result"]["protocolVersion"], "2025-06-18")
        self.assertIn("tools", ans["result"]["capabilities"])
        c.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        tools = c.request("tools/list")["result"]["tools"]
        self.assertEqual([t["name"] for t in tools], ["computer"])
        self.assertIn("left_click", tools[0]["inputSchema"]["properties"]["action"]["enum"])
        self.assertEqual(c.request("ping")["result"], {})

        ok_result(self, c.call({"action": "screenshot", "task": "Fill in the form"}))
        # The agent's task is the recorder's task (an episode, ended as a person's is).
        self.assertTrue(self.m.status()["task"])
        # A click inside the form (on its left, where the labels are), then the name.
        g = self.geo
        ok_result(self, c.call({"action": "left_click", "intent": "focus the form",
                                "coordinate": [g["X"] + 12, g["Y"] + g["HEIGHT"] // 2]}))
        ok_result(self, c.call({"action": "type", "text": "Ada"}))
        ok_result(self, c.call({"action": "key", "text": "Tab"}))
        res = ok_result(self, c.call({"action": "cursor_position"}))
        self.assertIn("X=%d,Y=%d" % (g["X"] + 12, g["Y"] + g["HEIGHT"] // 2),
                      [t["text"] for t in res["content"] if t["type"] == "text"])
        # "The person" types the city with xdotool on the core XTEST devices.
        self.x.xdotool("key", "--delay", "30", "P", "a", "r", "i", "s")
        # That input took over from the agent (docs/AGENTS.md); the person hands back.
        xenv.wait_for(lambda: self.m.status()["agent"]["takeover"],
                      what="the recorder to see the person take over")
        self.m.run("agent", "handback")
        self.assertFalse(self.m.status()["agent"]["takeover"])
        # The agent presses OK (bottom right; the form's entries do not activate it).
        ok = (g["X"] + g["WIDTH"] - 51, g["Y"] + g["HEIGHT"] - 25)
        ok_result(self, c.call({"action": "left_click", "coordinate": list(ok)}))
        out, _ = self.form.communicate(timeout=30)
        self.assertEqual(out.strip(), "Ada|Paris")

        # The agent's events come from devices no other event comes from, and the
        # person's (xdotool's) from the core XTEST devices, never tagged agent.
        # The click on OK may still be on its way to the database when the form has exited.
        events = xenv.wait_for(
            lambda: (lambda ev: ev if any(e["kind"] == "button_release" and
                                          e.get("source") == "agent" and
                                          (e["x"], e["y"]) == ok for e in ev) else None)(
                self.m.events()), what="the agent's click on OK to be stored")
        agent = [e for e in events if e.get("source") == "agent"]
        agent_devs = {e["device"] for e in agent}
        self.assertTrue(agent_devs)
        self.assertNotIn(0, agent_devs)
        for e in events:
            if "device" in e and e["device"] in agent_devs:
                self.assertEqual(e["source"], "agent", e)
        self.assertEqual(xenv.typed_text(events, "agent"), "Ada")
        self.assertEqual(xenv.typed_text(events, "synthetic"), "Paris")
        self.assertEqual([e["keysym"] for e in agent if e["kind"] == "key_press"],
                         ["Shift_L", "A", "d", "a", "Tab"])
        presses = [e for e in agent if e["kind"] == "button_press"]
        self.assertEqual([(e["x"], e["y"], e["button"]) for e in presses],
                         [(g["X"] + 12, g["Y"] + g["HEIGHT"] // 2, 1), (*ok, 1)])
        for e in events:
            if e["kind"] == "key_press" and e.get("source") != "agent":
                self.assertIn(e["source"], ("synthetic", "human"))
                self.assertNotIn(e["device"], agent_devs)
        type(self).agent_devs = agent_devs

    def in_scope_term(self):
        """Focuses an xterm (allowlisted): with the form gone nothing would be recorded."""
        if getattr(type(self), "term", None) is None:
            type(self).term = self.x.xterm(geometry="60x10+0+0")
        self.x.focus(self.term)
        xenv.wait_for(lambda: self.m.status()["safeguards"]["scope"] == "in",
                      what="the xterm to be in scope")

    def test_2_bad_input(self):
        c = self.agent
        # With the form gone (test_1) the focus is on no allowlisted window: keys are refused.
        if self.form.poll() is not None:
            xenv.wait_for(lambda: self.m.status()["safeguards"]["scope"] == "out",
                          what="the recorder to see no window in scope")
            ans = c.call({"action": "type", "text": "secret"})
            self.assertTrue(ans["result"]["isError"])
            self.assertIn("outside the recording policy", ans["result"]["content"][0]["text"])
        self.in_scope_term()
        c.send_raw(b"{this is not json\n")
        ans = c.recv()
        self.assertEqual(ans["error"]["code"], -32700)
        self.assertIsNone(ans["id"])
        c.send_raw(b"[1, 2]\n")
        self.assertEqual(c.recv()["error"]["code"], -32600)
        self.assertEqual(c.request("no/such")["error"]["code"], -32601)
        ans = c.request("tools/call", {"name": "paint", "arguments": {}})
        self.assertEqual(ans["error"]["code"], -32602)
        self.assertIn("unknown tool", ans["error"]["message"])
        ans = c.call({"action": "fly"})
        self.assertEqual(ans["error"]["code"], -32602)
        self.assertIn("unknown action", ans["error"]["message"])
        ans = c.call({"action": "left_click", "coordinate": [5000, 5000]})
        self.assertEqual(ans["error"]["code"], -32602)
        self.assertIn("off the screen", ans["error"]["message"])
        ans = c.call({"action": "type", "text": "x" * 20000})
        self.assertEqual(ans["error"]["code"], -32602)
        self.assertIn("at most", ans["error"]["message"])
        ans = c.call({"action": "key", "text": "ctrl+nosuchkey"})
        self.assertIn("unknown key", ans["error"]["message"])
        # A character on no key of the layout: refused before anything is typed.
        ans = c.call({"action": "type", "text": "ok\u4e2d"})
        self.assertEqual(ans["error"]["code"], -32602)
        self.assertIn("U+4E2D", ans["error"]["message"])
        # A line over 1 MB is answered and dropped; the server goes on.
        c.send_raw(b'{"jsonrpc":"2.0","id":99,"method":"ping","params":{"pad":"'
                   + b"a" * (1100 * 1024) + b'"}}\n')
        ans = c.recv()
        self.assertEqual(ans["error"]["code"], -32600)
        self.assertIn("1 MB", ans["error"]["message"])
        # Out of scope: the bare desktop (no allowlisted window there) is refused.
        before = len(self.m.events())
        ans = c.call({"action": "left_click", "coordinate": [1270, 790]})
        self.assertTrue(ans["result"]["isError"])
        self.assertIn("refused", ans["result"]["content"][0]["text"])
        self.assertEqual(c.request("ping")["result"], {})
        after = [e for e in self.m.events()[before:] if e.get("source") == "agent"]
        self.assertEqual([e for e in after if e["kind"].startswith("button")], [])

    def test_2b_other_actions(self):
        """Drag, scroll, hold_key and wait on the xterm, recorded as the agent's."""
        c = self.agent
        self.in_scope_term()
        term = xenv.wait_for(lambda: [e for e in self.m.events() if e["kind"] == "focus" and
                                      e["window"]["wm_class"] == "XTerm"])[-1]
        x, y, w, h = term["window"]["geometry"]
        before = len(self.m.events())
        a, b = [x + 20, y + 20], [x + w // 2, y + h // 2]
        ok_result(self, c.call({"action": "left_click_drag", "start_coordinate": a,
                                "coordinate": b}))
        ok_result(self, c.call({"action": "scroll", "coordinate": b, "scroll_direction": "down",
                                "scroll_amount": 2}))
        ok_result(self, c.call({"action": "hold_key", "text": "shift", "duration": 0.1}))
        ok_result(self, c.call({"action": "wait", "duration": 0.1}))
        events = xenv.wait_for(lambda: [e for e in self.m.events()[before:]
                                        if e.get("source") == "agent" and
                                        e["kind"] == "key_release"],
                               what="the agent's events to be stored")
        events = [e for e in self.m.events()[before:] if e.get("source") == "agent"]
        buttons = [(e["kind"], e["x"], e["y"]) for e in events if e["kind"].startswith("button")]
        self.assertEqual(buttons, [("button_press", *a), ("button_release", *b)])
        scrolls = [e for e in events if e["kind"] == "scroll"]
        self.assertEqual([(e["x"], e["y"]) for e in scrolls], [tuple(b)] * 2)
        self.assertEqual([e["keysym"] for e in events if e["kind"].startswith("key")],
                         ["Shift_L", "Shift_L"])

    def test_3_disconnect_mid_action(self):
        # A second client that goes away while its action runs: the server ends cleanly
        # and removes its devices (the recorder sees the slave count go back).
        # At the end of its input the server ends cleanly (status 0: no leak either, under ASan).
        self.assertEqual(self.agent.close(), 0)
        self.in_scope_term()
        # The first change of devices in the session was the first server's pair (two
        # XTEST slaves) appearing: the count before it is the first count less two.
        first = [e["count"] for e in self.m.events() if e["kind"] == "devices"][0]
        c = Client(self.m, os.path.join(self.m.tmp, "agent2.err"))
        c.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                 "clientInfo": {"name": "t", "version": "1"}})
        c.send({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                "params": {"name": "computer", "arguments": {"action": "wait", "duration": 1}}})
        c.p.stdin.close()
        c.p.stdout.close()
        self.assertEqual(c.p.wait(timeout=30), 0)
        c.err.close()
        xenv.wait_for(lambda: [e["count"] for e in self.m.events()
                               if e["kind"] == "devices"][-1] == first - 2,
                      timeout=15, what="the agent's devices to be removed")
        self.assertEqual(self.m.status()["state"], "recording")
        # The session names the agent's devices, as "agent".
        self.assertEqual(self.m.stop(), 0)
        devs = self.m.sessions()[-1]["devices"]
        named = {d["id"]: d for d in devs if d["name"].startswith("mimic agent ")}
        self.assertTrue(set(getattr(self, "agent_devs", set())) <= set(named), devs)
        self.assertEqual({d["source"] for d in named.values()}, {"agent"})


class AgentNeedsRecorder(unittest.TestCase):
    def test_refuses_without_recorder(self):
        x = xenv.XServer(wm=False)
        m = xenv.Mimic(x)
        try:
            r = subprocess.run([xenv.MIMIC, "agent", "serve", "--policy", m.policy], env=m.env,
                               input=b"", capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"no recorder is running", r.stderr)
            self.assertIn(b"mimic record", r.stderr)
            self.assertEqual(r.stdout, b"")
        finally:
            m.close()
            x.close()


if __name__ == "__main__":
    xenv.main()
