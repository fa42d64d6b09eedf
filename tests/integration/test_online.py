#!/usr/bin/env python3
"""`mimic eval --online`: an agent evaluated by doing tasks on the live desktop
(docs/AGENTS.md, "Online evaluation").

The example tasks shipped in data/tasks/examples.json (zenity dialogs: a text
entry, a form of two fields, a question answered No) are run under a real
recorder with agent commands speaking the JSON-lines protocol: a scripted agent
that knows the solutions passes every task, one that answers done at once
passes none. Each task is recorded as an agent episode whose task is the
instruction, ended with the check's outcome, and exports like any other. Bad
task files get one clear line and a non-zero exit, before anything starts.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xenv  # noqa: E402

EXAMPLES = os.path.join(xenv.SRCDIR, "data", "tasks", "examples.json")

# The scripted agent: per task, the actions that solve it, then done. It checks
# its observations (a PNG screenshot each turn, the history of what was carried
# out) and logs them for the test.
SCRIPTED = """\
import json, sys
PLANS = {
    "name-entry": [{"action": "type", "text": "Ada"}, {"action": "key", "text": "Return"}],
    "trip-form": [{"action": "type", "text": "Ada"}, {"action": "key", "text": "Tab"},
                  {"action": "type", "text": "Paris"},
                  {"action": "key", "text": "Tab Tab Return"}],  # past Cancel to OK
    "decline-delete": [{"action": "key", "text": "Escape"}],
}
log = open(sys.argv[1], "w")
for line in sys.stdin:
    obs = json.loads(line)
    png = open(obs["image"], "rb").read(4) if obs["image"] else b""
    log.write(json.dumps({"task_id": obs["task_id"], "step": obs["step"],
                          "task": obs["task"], "png": png[1:4].decode(),
                          "history": obs["history"], "last": obs["last_result"],
                          "screen": obs["screen"]}) + "\\n")
    log.flush()
    plan = PLANS[obs["task_id"]]
    act = plan[obs["step"]] if obs["step"] < len(plan) else {"action": "done"}
    print(json.dumps(act), flush=True)
"""


class Online(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        xenv.need_tools(cls, "zenity")
        cls.x = xenv.XServer()
        cls.m = xenv.Mimic(cls.x)
        cls.m.start("--no-elements")
        cls.tmp = tempfile.mkdtemp(prefix="mimic-online-")
        cls.agent = os.path.join(cls.tmp, "agent.py")
        with open(cls.agent, "w") as f:
            f.write(SCRIPTED)
        cls.tasks = json.load(open(EXAMPLES))["tasks"]

    @classmethod
    def tearDownClass(cls):
        cls.m.close()
        cls.x.close()

    def online(self, *args, check=True, timeout=300):
        r = subprocess.run([xenv.MIMIC, "eval", "--online", *args, "--policy", self.m.policy],
                           env=self.m.env, capture_output=True, text=True, timeout=timeout)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def test_1_scripted_agent_passes_then_idle_agent_fails(self):
        log = os.path.join(self.tmp, "seen.jsonl")
        r = self.online(EXAMPLES, "--agent", "%s %s %s" % (sys.executable, self.agent, log),
                        "--json")
        rep = json.loads(r.stdout)
        self.assertEqual([t["id"] for t in rep["tasks"]], [t["id"] for t in self.tasks])
        self.assertEqual(rep["overall"], {"tasks": 3, "success": 3, "success_rate": 1.0},
                         rep["tasks"])
        by = {t["id"]: t for t in rep["tasks"]}
        self.assertEqual(by["name-entry"]["steps"], 2)
        self.assertEqual(by["trip-form"]["steps"], 4)
        self.assertEqual(by["decline-delete"]["exit_status"], 1)
        for t in rep["tasks"]:
            # The application ended by itself once the agent's last action was done.
            self.assertIn(t["ended"], ("app_exited", "done"), t)
            self.assertEqual((t["refused"], t["invalid"]), (0, 0), t)
        # Every turn got a live screenshot and the history of what was carried out.
        seen = [json.loads(line) for line in open(log)]
        self.assertEqual({s["png"] for s in seen}, {"PNG"})
        self.assertEqual({tuple(s["screen"]) for s in seen}, {(1280, 800)})
        form = [s for s in seen if s["task_id"] == "trip-form"]
        self.assertEqual([len(s["history"]) for s in form][:4], [0, 1, 2, 3])
        self.assertEqual(form[1]["last"], "ok")
        self.assertEqual(form[0]["task"], self.tasks[1]["instruction"])

        # The table form: one row per task and the overall line.
        r = self.online(EXAMPLES, "--task", "decline-delete", "--agent",
                        "%s %s %s" % (sys.executable, self.agent, log))
        self.assertRegex(r.stdout, r"decline-delete\s+success\s+1\s+")
        self.assertIn("overall: 1 of 1 tasks succeeded (100.0 %)", r.stdout)

        # An agent that does nothing fails every task (the check, not the agent, decides).
        r = self.online(EXAMPLES, "--agent", "yes '{\"action\":\"done\"}'", "--json")
        rep = json.loads(r.stdout)
        self.assertEqual(rep["overall"], {"tasks": 3, "success": 0, "success_rate": 0.0})
        self.assertEqual({t["ended"] for t in rep["tasks"]}, {"done"})
        self.assertEqual({t["steps"] for t in rep["tasks"]}, {0})
        self.assertTrue(all(t["why"] for t in rep["tasks"]))

        # Each run is an agent episode with the instruction as its task and the check's
        # outcome; the export holds the agent's steps under that task.
        self.assertEqual(self.m.stop(), 0)
        out = os.path.join(self.m.tmp, "online")
        self.m.run("export", "last", "--format", "jsonl", "--out", out,
                   "--data-dir", self.m.data_dir)
        steps = [json.loads(line) for line in open(os.path.join(out, "steps.jsonl"))]
        acting = [s for s in steps if s["action"]["computer_use"] is not None]
        self.assertEqual({s["action"]["source"] for s in acting}, {"agent"})
        instructions = {t["instruction"] for t in self.tasks}
        self.assertEqual({s["task"] for s in acting}, instructions)
        typed = [s["action"]["computer_use"]["text"] for s in acting
                 if s["action"]["computer_use"]["action"] == "type"]
        self.assertEqual(typed, ["Ada", "Ada", "Paris"])
        # Three episodes of the scripted run and the one of the single task, each ended
        # with the check's outcome (the idle agent's acted nowhere, so they have no steps).
        episodes = {(s["episode"], s["task"], s["outcome"]) for s in acting}
        self.assertEqual(len(episodes), 4, episodes)
        self.assertEqual({e[2] for e in episodes}, {"success"})

    def test_2_bad_task_files(self):
        def bad(text, *expect):
            path = os.path.join(self.tmp, "bad.json")
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run([xenv.MIMIC, "eval", "--online", path, "--agent", "true"],
                               capture_output=True, text=True, timeout=60,
                               env=dict(self.m.env, DISPLAY=":99999"))
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
            for e in expect:
                self.assertIn(e, r.stderr)

        good = {"id": "t", "app": "true", "instruction": "Do it", "success": {"output": "x"}}

        def one(**kw):
            t = dict(good, **kw)
            return json.dumps({"tasks": [{k: v for k, v in t.items() if v is not None}]})

        bad("{not json", "bad.json:1: not JSON")
        bad('{"tasks": []}', "one field, \"tasks\", a list of 1 to 100 tasks")
        bad(one(success=None), "task 1 (t): success is missing")
        bad(one(success={}), "success checks nothing")
        bad(one(success={"exit_code": 0}), "exit_code is not a check of success")
        bad(one(max_steps=0), "max_steps must be an integer from 1 to 1000")
        bad(one(instruction=""), "instruction is empty")
        bad(one(id="a b"), "id may hold only letters")
        bad(one(success={"output_matches": "("}), "not a POSIX extended regular expression")
        bad(one(colour="red"), "colour is not a field of a task")
        bad(json.dumps({"tasks": [good, good]}), "the id t is task 1's too")
        r = subprocess.run([xenv.MIMIC, "eval", "--online", os.path.join(self.tmp, "none.json"),
                            "--agent", "true"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot read the task file", r.stderr)
        r = subprocess.run([xenv.MIMIC, "eval", "--online", EXAMPLES, "--agent", "oracle"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("oracle and random are offline agents", r.stderr)
        r = subprocess.run([xenv.MIMIC, "eval", "--online", EXAMPLES, "--task", "nope",
                            "--agent", "true"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no task 'nope'", r.stderr)


if __name__ == "__main__":
    xenv.main()
