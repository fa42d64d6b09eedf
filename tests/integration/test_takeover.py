#!/usr/bin/env python3
"""Takeovers of an agent run (docs/AGENTS.md) and their exports (docs/EXPORT.md).

An MCP client (agentenv's) drives a real GTK form through `mimic agent serve`
and makes a deliberate mistake; "the person" corrects it with xdotool. xdotool's
input is synthetic (the core XTEST devices), and input of any device but the
agent's takes over: that is the product's rule (a person at a remote desktop
types through XTEST too), so the test goes through the real path. The agent's
next call is refused with human_control and moves nothing; `mimic agent
handback` lets it finish; the intervention is stored and exported as an SFT
sample and a preference pair whose rejected action is the refused call.
"""

import json
import os
import subprocess
import sys
import tarfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xenv  # noqa: E402
from agentenv import Client, close_form, ok_result, open_form  # noqa: E402

IMAGE_MAGIC = {"webp": b"RIFF", "png": b"\x89PNG", "jpg": b"\xff\xd8\xff"}


def refused(test, ans):
    """Asserts a human_control refusal; returns its text."""
    test.assertNotIn("error", ans)
    res = ans["result"]
    # Not the whole result in the message: a screenshot is megabytes of base64.
    test.assertTrue(res.get("isError"), "carried out: %s" % [c["type"] for c in res["content"]])
    text = res["content"][0]["text"]
    test.assertTrue(text.startswith("human_control: the person took over"), text)
    return text


class Takeover(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        xenv.need_tools(cls, "zenity", "xdotool")
        cls.x = xenv.XServer()
        cls.m = xenv.Mimic(cls.x)
        # Frames on: the samples' observation is the screen before the person's action.
        cls.m.start("--no-elements")
        cls.form, cls.wid, cls.geo = open_form(cls.x, cls.m, "Takeover")
        # Only the command hands back here: a loaded machine must not hand back for it.
        cls.agent = Client(cls.m, os.path.join(cls.m.tmp, "agent.err"), "--handback-idle", "0")
        ans = cls.agent.request("initialize", {"protocolVersion": "2025-06-18",
                                               "capabilities": {},
                                               "clientInfo": {"name": "test", "version": "1"}})
        assert ans["result"]["protocolVersion"] == "2025-06-18", ans

    @classmethod
    def tearDownClass(cls):
        cls.agent.close()
        close_form(cls.form)
        cls.m.close()
        cls.x.close()

    def test_1_takeover_handback_export(self):
        c, g = self.agent, self.geo
        self.assertTrue(self.m.status()["agent"]["attached"])
        ok_result(self, c.call({"action": "left_click", "task": "Enter Ada from Paris",
                                "coordinate": [g["X"] + 12, g["Y"] + g["HEIGHT"] // 2]}))
        # The deliberate mistake: the agent types the wrong name.
        ok_result(self, c.call({"action": "type", "text": "Bob", "intent": "the name"}))
        xenv.wait_for(lambda: xenv.typed_text(self.m.events(), "agent") == "Bob",
                      what="the agent's typing to be recorded")
        agent_keys = len([e for e in self.m.events() if e.get("source") == "agent" and
                          e["kind"] == "key_press"])
        self.assertFalse(self.m.status()["agent"]["takeover"])

        # The person corrects it: three BackSpaces and the right name.
        self.x.xdotool("key", "--delay", "30", "BackSpace", "BackSpace", "BackSpace")
        st = xenv.wait_for(lambda: (lambda s: s["agent"]["takeover"] and s)(self.m.status()),
                           what="the recorder to see the person take over")
        self.assertEqual(st["agent"]["refused"], 0)
        self.x.xdotool("type", "--delay", "30", "Ada")
        xenv.wait_for(lambda: xenv.typed_text(self.m.events(), "synthetic").endswith("Ada"),
                      what="the person's typing to be recorded")

        # The agent's next step is refused and carried out nowhere, whatever it is.
        text = refused(self, c.call({"action": "key", "text": "Tab", "intent": "to the city"}))
        self.assertIn("mimic agent handback", text)
        self.assertNotIn("after their last input", text)
        refused(self, c.call({"action": "screenshot"}))
        self.assertEqual(self.m.status()["agent"]["refused"], 2)
        self.assertEqual(len([e for e in self.m.events() if e.get("source") == "agent" and
                              e["kind"] == "key_press"]), agent_keys)
        self.assertIn("you have taken over", self.m.run("status").stdout)

        # The hand-back; a second one has nothing to hand back.
        r = self.m.run("agent", "handback")
        self.assertIn("handed back", r.stdout)
        r = self.m.run("agent", "handback", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nothing to hand back", r.stderr)
        st = self.m.status()["agent"]
        self.assertFalse(st["takeover"])
        self.assertEqual(st["interventions"], 1)

        # The agent goes on from where the person left it.
        ok_result(self, c.call({"action": "key", "text": "Tab"}))
        ok_result(self, c.call({"action": "type", "text": "Paris"}))
        ok = (g["X"] + g["WIDTH"] - 51, g["Y"] + g["HEIGHT"] - 25)
        ok_result(self, c.call({"action": "left_click", "coordinate": list(ok)}))
        out, _ = self.form.communicate(timeout=30)
        self.assertEqual(out.strip(), "Ada|Paris")
        self.m.run("task", "end", "--success")
        self.assertEqual(c.close(), 0)
        self.assertEqual(self.m.stop(), 0)

        # Stored: the span from the person's first event to the hand-back, and the
        # agent's pending (first refused) call.
        events = self.m.events()
        r = self.m.run("events", "last", "--interventions")
        ivs = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(len(ivs), 1, ivs)
        iv = ivs[0]
        self.assertEqual(iv["handback"], "command")
        self.assertEqual(iv["refused"], 2)
        self.assertEqual(iv["pending"], {"action": "key", "intent": "to the city", "text": "Tab"})
        by_id = {e["id"]: e for e in events if "id" in e}
        first = by_id[iv["first_event"]]
        self.assertEqual((first["kind"], first["keysym"], first["source"]),
                         ("key_press", "BackSpace", "synthetic"))
        span = [e for e in events if iv["first_event"] <= e.get("id", 0) < iv["end_event"]]
        self.assertEqual([e for e in span if e.get("source") == "agent"], [])
        self.assertEqual(xenv.typed_text(span), "Ada")
        self.assertLessEqual(iv["t_ms"], iv["end_ms"])

        # Exported: steps.jsonl as ever, and interventions.jsonl.
        outdir = os.path.join(self.m.tmp, "export")
        self.m.run("export", "last", "--format", "jsonl", "--out", outdir,
                   "--data-dir", self.m.data_dir)
        steps = [json.loads(line) for line in open(os.path.join(outdir, "steps.jsonl"))]
        with open(os.path.join(outdir, "interventions.jsonl"), "rb") as f:
            raw = f.read()
        lines = [json.loads(line) for line in raw.decode().splitlines()]
        self.assertEqual([s["type"] for s in lines], ["sft", "preference"])
        sft, pref = lines
        # The person's actions: the step numbers and actions of steps.jsonl, none of the agent's.
        mine = {(s["episode"], s["step"]): s for s in steps}
        human = [mine[(sft["episode"], n)] for n in sft["human_steps"]]
        self.assertTrue(human)
        for s in human:
            self.assertNotEqual(s["action"]["source"], "agent", s)
        self.assertEqual(sft["human_actions"], [s["action"]["computer_use"] for s in human])
        self.assertEqual(sft["human_actions"],
                         [{"action": "key", "text": "BackSpace BackSpace BackSpace"},
                          {"action": "type", "text": "Ada"}])
        # The agent's context: its actions before the takeover, the mistake last.
        self.assertEqual(sft["agent_actions"],
                         [{"action": "left_click",
                           "coordinate": [g["X"] + 12, g["Y"] + g["HEIGHT"] // 2]},
                          {"action": "type", "text": "Bob"}])
        self.assertEqual(sft["task"], "Enter Ada from Paris")
        self.assertEqual(sft["messages"][0]["role"], "user")
        self.assertEqual(json.loads(sft["messages"][1]["content"][0]["text"]),
                         sft["human_actions"])
        # The preference pair: rejected is the refused call, chosen the person's first action.
        self.assertEqual(pref["rejected_from"], "pending")
        self.assertEqual(pref["rejected_action"], {"action": "key", "text": "Tab"})
        self.assertEqual(json.loads(pref["rejected"][0]["content"][0]["text"]),
                         {"action": "key", "text": "Tab"})
        self.assertEqual(pref["chosen_action"], sft["human_actions"][0])
        self.assertEqual(json.loads(pref["chosen"][0]["content"][0]["text"]),
                         sft["human_actions"][0])
        self.assertEqual(pref["prompt"], sft["messages"][:1])
        # The observation: the screen before the person's first action, the very file of
        # that step in steps.jsonl, an image as the export writes them.
        self.assertEqual(pref["images"], [human[0]["images"]["pre"]])
        self.assertEqual(sft["images"], pref["images"])
        img = os.path.join(outdir, pref["images"][0])
        with open(img, "rb") as f:
            data = f.read()
        ext = img.rsplit(".", 1)[1]
        self.assertTrue(data.startswith(IMAGE_MAGIC[ext]), data[:8])
        self.assertEqual(pref["prompt"][0]["content"][0], {"type": "image"})
        card = open(os.path.join(outdir, "README.md")).read()
        self.assertIn("1 interventions, 2 samples", card)
        self.assertIn("| Zenity | %s | 1 |" % sft["interaction"], card)

        # WebDataset: the same samples, the observation named as the shards' member.
        wds = os.path.join(self.m.tmp, "export-wds")
        self.m.run("export", "last", "--format", "webdataset", "--out", wds,
                   "--data-dir", self.m.data_dir)
        with open(os.path.join(wds, "interventions.jsonl")) as f:
            wlines = [json.loads(line) for line in f]
        self.assertEqual([s["type"] for s in wlines], ["sft", "preference"])
        self.assertEqual(wlines[1]["rejected_action"], {"action": "key", "text": "Tab"})
        self.assertEqual(wlines[0]["human_actions"], sft["human_actions"])
        members = {}
        for shard in sorted(os.listdir(wds)):
            if shard.endswith(".tar"):
                with tarfile.open(os.path.join(wds, shard)) as t:
                    for mem in t.getmembers():
                        members[mem.name] = t.extractfile(mem).read()
        name = wlines[1]["images"][0]
        self.assertTrue(members[name].startswith(IMAGE_MAGIC[name.rsplit(".", 1)[1]]))
        step = json.loads(members[name.rsplit(".", 1)[0] + ".json"])
        self.assertEqual(step["step"], wlines[1]["observation_step"])
        self.assertEqual(step["action"]["computer_use"], wlines[1]["chosen_action"])


class IdleHandback(unittest.TestCase):
    """Without the command, control comes back after the agent's idle time."""

    def test_idle_handback(self):
        xenv.need_tools(self, "xdotool")
        x = xenv.XServer()
        m = xenv.Mimic(x)
        try:
            m.start("--no-frames", "--no-elements")
            term = x.xterm(geometry="60x10+0+0")
            x.focus(term)
            xenv.wait_for(lambda: m.status()["safeguards"]["scope"] == "in",
                          what="the xterm to be in scope")
            c = Client(m, os.path.join(m.tmp, "agent.err"), "--handback-idle", "2.5")
            try:
                c.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                         "clientInfo": {"name": "test", "version": "1"}})
                ok_result(self, c.call({"action": "type", "text": "echo one"}))
                # One agent server per recorder: a second one is refused, the first goes on.
                r = subprocess.run([xenv.MIMIC, "agent", "serve", "--policy", m.policy],
                                   env=m.env, stdin=subprocess.DEVNULL, capture_output=True,
                                   text=True, timeout=30)
                self.assertEqual(r.returncode, 1)
                self.assertIn("another agent server is attached", r.stderr)
                self.assertTrue(m.status()["agent"]["attached"])
                x.xdotool("key", "x")
                xenv.wait_for(lambda: m.status()["agent"]["takeover"],
                              what="the person to take over")
                # The pending call is stored whatever its size: a long text is cut to fit.
                # (A key of the person's right before each call: still their turn, however
                # long the wait above took on a loaded machine.)
                x.xdotool("key", "x")
                text = refused(self, c.call({"action": "type", "text": "y" * 5000}))
                self.assertIn("2.5 s after their last input", text)
                x.xdotool("key", "x")
                t0 = time.monotonic()
                refused(self, c.call({"action": "key", "text": "Return"}))
                xenv.wait_for(lambda: not m.status()["agent"]["takeover"], timeout=30,
                              what="the idle hand-back")
                self.assertGreater(time.monotonic() - t0, 1.5)
                ok_result(self, c.call({"action": "key", "text": "BackSpace"}))
                self.assertEqual(c.close(), 0)
                # Detached: the person's input takes over from nobody.
                x.xdotool("key", "y")
                self.assertFalse(m.status()["agent"]["attached"])
                self.assertFalse(m.status()["agent"]["takeover"])
            finally:
                c.close()
            self.assertEqual(m.stop(), 0)
            ivs = [json.loads(line) for line in
                   m.run("events", "last", "--interventions").stdout.splitlines()]
            self.assertEqual([(i["handback"], i["refused"]) for i in ivs], [("idle", 2)])
            pending = ivs[0]["pending"]
            self.assertEqual((pending["action"], pending["truncated"]), ("type", True))
            self.assertGreater(len(pending["text"]), 900)
            self.assertLessEqual(len(json.dumps(pending, separators=(",", ":"))), 1000)
            self.assertEqual(pending["text"], "y" * len(pending["text"]))
        finally:
            m.close()
            x.close()


if __name__ == "__main__":
    xenv.main()
