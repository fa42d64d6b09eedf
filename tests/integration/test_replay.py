#!/usr/bin/env python3
"""`mimic replay` and `mimic eval` on an export of a person's work (docs/AGENTS.md).

The round trip of issue 16: a person's run of a GTK form (zenity --forms, driven
by xdotool) is recorded and exported; `mimic replay` of the export into a fresh
Xvfb with a fresh form makes the form print the same values, and the replay,
recorded and exported in turn, reduces to the same actions (the agent's), and the
replay checks each click's recorded UI element before it acts: an export whose
element differs stops the replay at that step, without the click, unless --force. Then
`mimic eval` scores agents on the first export: the oracle 100 %, random near
nothing, and an agent command speaking the JSON-lines protocol exactly on the
steps it gets right. Bad exports get one clear line and a non-zero exit.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agentenv  # noqa: E402
import xenv  # noqa: E402

NAME, CITY = "Ada", "Paris"


def start_form(x, m):
    """Starts the zenity form, focused; returns the process and its client area.

    openbox places the first window of a fresh server at the same place each time,
    so the recorded points hit the same widgets in the replay's fresh server.
    """
    # Not "Name": recorded with elements, text typed into a field labelled Name is
    # exported as <FIELD:Name> (docs/REDACTION.md), which replay refuses to type.
    form, _, g = agentenv.open_form(x, m, "Replay", first="Team")
    return form, (g["X"], g["Y"], g["WIDTH"], g["HEIGHT"])


def desktop():
    """A fresh X server with a private session bus, so that the recorder reads the UI
    elements of the form through AT-SPI (docs/ELEMENTS.md), and a recorder's setup on it."""
    x = xenv.XServer()
    x.env["GTK_THEME"] = "Adwaita"
    try:
        bus = xenv.SessionBus(x)
    except Exception:
        x.close()
        raise
    m = xenv.Mimic(x, env={
        # The private bus would start the machine's keyring for the key: a file instead.
        "MIMIC_KEY_STORE": "file",
        # Under AddressSanitizer: libatspi leaks a little when a call times out.
        "LSAN_OPTIONS": "suppressions=" + os.path.join(xenv.SRCDIR, "tests", "unit",
                                                        "lsan.supp"),
    })
    return x, bus, m


def export(m, name):
    out = os.path.join(m.tmp, name)
    m.run("export", "last", "--format", "jsonl", "--out", out, "--data-dir", m.data_dir)
    return out, [json.loads(line) for line in open(os.path.join(out, "steps.jsonl"))]


def acting(steps):
    """The steps that act (no window switch, no wait): what a replay carries out."""
    return [s for s in steps if s["action"]["computer_use"] is not None and
            s["action"]["computer_use"]["action"] != "wait"]


class Replay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        xenv.need_tools(cls, "zenity", "xdotool", "dbus-daemon")
        # The person's run, recorded with frames (eval's observations are its screenshots)
        # and UI elements (the round trip compares them).
        cls.x, cls.bus, cls.m = desktop()
        cls.m.start()
        form, (x0, y0, w, h) = start_form(cls.x, cls.m)
        cls.m.run("task", "start", "Enter Ada from Paris")
        xd = cls.x.xdotool
        # A click into the form (the Team field keeps the focus), a wrong name, all of
        # it selected with a shortcut and typed over, Tab to the city, OK.
        xd("mousemove", "--sync", str(x0 + 12), str(y0 + h // 2))
        xd("click", "1")
        xd("type", "--delay", "40", "Bob")
        xd("key", "ctrl+a")
        xd("type", "--delay", "40", NAME)
        xd("key", "Tab")
        xd("type", "--delay", "40", CITY)
        cls.ok = (x0 + w - 51, y0 + h - 25)
        xd("mousemove", "--sync", str(cls.ok[0]), str(cls.ok[1]))
        # The pointer rests on OK before the click, as a person's does: the recorder reads
        # the button while the pointer rests, before the click closes its window.
        time.sleep(0.3)
        xd("click", "1")
        out, _ = form.communicate(timeout=30)
        assert out.strip() == NAME + "|" + CITY, out
        cls.m.run("task", "end", "--success")
        assert cls.m.stop() == 0
        cls.exp, cls.steps = export(cls.m, "person")
        cls.x.close()
        cls.bus.close()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def test_1_round_trip(self):
        person = acting(self.steps)
        self.assertEqual([s["action"]["computer_use"]["action"] for s in person],
                         ["left_click", "type", "key", "type", "key", "type", "left_click"])
        self.assertEqual({s["action"]["source"] for s in person}, {"synthetic"})

        # The person's steps hit real elements of the form: its panel for the first click,
        # the Team and then the City entry (another box) for the typing.
        els = [s["element"] for s in person]
        self.assertEqual((els[0]["role"], els[0]["name"]), ("panel", "Forms dialog"), els)
        typed = [e for s, e in zip(person, els) if s["action"]["computer_use"]["action"] == "type"]
        self.assertEqual({e["role"] for e in typed}, {"text"}, els)
        self.assertEqual({e["ancestors"][-1]["name"] for e in typed}, {"Replay"}, els)
        self.assertEqual(typed[0]["bounds"], typed[1]["bounds"])
        self.assertNotEqual(typed[1]["bounds"], typed[2]["bounds"])
        # The last click closes the form: it is still its OK button.
        self.assertEqual((els[-1]["role"], els[-1]["name"]), ("push button", "OK"), els)

        x, bus, m = desktop()
        try:
            m.start("--no-frames")
            form, _ = start_form(x, m)
            r = subprocess.run([xenv.MIMIC, "replay", self.exp, "--policy", m.policy,
                                "--speed", "2"], env=m.env, capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, "")
            # One progress line per step carried out, without the typed text; each click's
            # element was checked against the recorded one before the click.
            lines = r.stdout.splitlines()
            self.assertEqual(len(lines), len(person))
            self.assertIn("left_click at (%d, %d), element checked" % self.ok, lines[-1])
            self.assertTrue(lines[0].endswith("left_click at (%d, %d), element checked" % tuple(
                person[0]["action"]["computer_use"]["coordinate"])), lines)
            self.assertEqual(len([ln for ln in lines if "element checked" in ln]), 2, lines)
            self.assertNotIn(CITY, r.stdout)
            out, _ = form.communicate(timeout=30)
            self.assertEqual(out.strip(), NAME + "|" + CITY)

            # The step's window is gone now: the replay waits for it, then says so.
            r = subprocess.run([xenv.MIMIC, "replay", self.exp, "--policy", m.policy,
                                "--timeout", "1"], env=m.env, capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
            self.assertIn("no window of the application Zenity", r.stderr)
            self.assertIn("steps.jsonl:", r.stderr)
            self.assertEqual(m.stop(), 0)

            # Recorded and exported, the replay is the same actions, all the agent's.
            _, steps = export(m, "replayed")
            again = acting(steps)
            self.assertEqual({s["action"]["source"] for s in again}, {"agent"})
            self.assertEqual(len(again), len(person),
                             [s["action"]["computer_use"] for s in again])
            for p, a in zip(person, again):
                pc, ac = p["action"]["computer_use"], a["action"]["computer_use"]
                self.assertEqual(pc["action"], ac["action"])
                self.assertEqual(pc.get("text"), ac.get("text"))
                self.assertEqual(p["app"], a["app"])
                # Every element matches, the last click's (OK, which closes the form while
                # its element is looked up) too: it is named from the window's map.
                self.assertEqual(p["element"], a["element"], (pc, ac))
                if "coordinate" in pc:
                    for i in (0, 1):
                        self.assertLessEqual(abs(pc["coordinate"][i] - ac["coordinate"][i]), 2,
                                             (pc, ac))
        finally:
            m.close()
            x.close()
            bus.close()

    def run_eval(self, *args, check=True):
        r = subprocess.run([xenv.MIMIC, "eval", self.exp, *args], capture_output=True,
                           text=True, timeout=120)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def test_2_eval_oracle_random(self):
        n = len([s for s in self.steps if s["action"]["computer_use"] is not None])
        rep = json.loads(self.run_eval("--agent", "oracle", "--json").stdout)
        self.assertEqual(rep["overall"]["steps"], n)
        self.assertEqual(rep["overall"]["success"], n)
        self.assertEqual(rep["overall"]["success_rate"], 1.0)
        self.assertEqual(rep["by_kind"]["type"]["steps"], 3)
        self.assertEqual(rep["by_interaction"]["text_entry"]["success"], 3)
        table = self.run_eval("--agent", "oracle").stdout
        self.assertRegex(table, r"overall\s+%d\s+100\.0%%\s+100\.0%%" % n)

        rep = json.loads(self.run_eval("--agent", "random", "--json").stdout)
        self.assertEqual(rep["overall"]["steps"], n)
        self.assertLessEqual(rep["overall"]["action_accuracy"], 0.5)
        self.assertLessEqual(rep["overall"]["success_rate"], 0.2)
        # Another seed, another run: the floor is random, not fixed.
        other = json.loads(self.run_eval("--agent", "random", "--seed", "7", "--json").stdout)
        self.assertLessEqual(other["overall"]["success_rate"], 0.2)

    def test_3_eval_command(self):
        # An agent command that checks its observations and always presses Tab: it is
        # right exactly on the recorded Tab step.
        tmp = tempfile.mkdtemp(prefix="mimic-eval-")
        agent = os.path.join(tmp, "agent.py")
        log = os.path.join(tmp, "seen.jsonl")
        with open(agent, "w") as f:
            f.write(textwrap.dedent("""\
                import json, sys
                log = open(sys.argv[1], "w")
                for line in sys.stdin:
                    obs = json.loads(line)
                    png = open(obs["image"], "rb").read(8) if obs["image"] else b""
                    log.write(json.dumps({"step": obs["step"], "png": png[1:4].decode(),
                                          "history": len(obs["history"]),
                                          "task": obs["task"], "app": obs["app"],
                                          "screen": obs["screen"]}) + "\\n")
                    log.flush()
                    print(json.dumps({"action": "key", "text": "Tab"}), flush=True)
                """))
        rep = json.loads(self.run_eval("--agent", "%s %s %s" % (sys.executable, agent, log),
                                       "--json").stdout)
        n = len([s for s in self.steps if s["action"]["computer_use"] is not None])
        tabs = [s for s in self.steps if s["action"]["computer_use"] == {"action": "key",
                                                                          "text": "Tab"}]
        self.assertEqual(len(tabs), 1)
        self.assertEqual(rep["overall"]["steps"], n)
        self.assertEqual(rep["overall"]["success"], 1)
        self.assertEqual(rep["by_interaction"]["form_navigation"]["success"], 1)
        seen = [json.loads(line) for line in open(log)]
        self.assertEqual(len(seen), n)
        self.assertEqual({s["png"] for s in seen}, {"PNG"})
        self.assertEqual(seen[0]["task"], "Enter Ada from Paris")
        self.assertEqual(seen[0]["app"], "Zenity")
        self.assertEqual(seen[0]["screen"], [1280, 800])
        self.assertEqual([s["history"] for s in seen], list(range(n)))

        # The WebDataset form of the same session: the same steps (each has its image), the
        # observation's image copied out of the shard, and removed after the answer.
        wds = os.path.join(self.m.tmp, "person-wds")
        self.m.run("export", "last", "--format", "webdataset", "--out", wds,
                   "--data-dir", self.m.data_dir)
        self.assertFalse(os.path.exists(os.path.join(wds, "steps.jsonl")))
        log2 = os.path.join(tmp, "seen-wds.jsonl")
        r = subprocess.run([xenv.MIMIC, "eval", wds, "--json", "--agent",
                            "%s %s %s" % (sys.executable, agent, log2)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["overall"], rep["overall"])
        seen2 = [json.loads(line) for line in open(log2)]
        self.assertEqual([{k: v for k, v in s.items()} for s in seen2], seen)
        rep = json.loads(subprocess.run([xenv.MIMIC, "eval", wds, "--json", "--agent",
                                         "oracle"], capture_output=True, text=True,
                                        timeout=120).stdout)
        self.assertEqual(rep["overall"]["success"], n)

        # Answers that are no action are wrong and counted; a command that ends is an error.
        rep = json.loads(self.run_eval("--agent", "yes not-json", "--json").stdout)
        self.assertEqual((rep["overall"]["success"], rep["overall"]["invalid"]), (0, n))
        r = self.run_eval("--agent", "true", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(), "mimic: the agent command ended without answering")

    def test_4_bad_exports(self):
        tmp = tempfile.mkdtemp(prefix="mimic-bad-")
        good = open(os.path.join(self.exp, "steps.jsonl")).read().splitlines()

        def bad(lines, *expect, cmd=("replay",)):
            d = tempfile.mkdtemp(dir=tmp)
            with open(os.path.join(d, "steps.jsonl"), "w") as f:
                f.write("\n".join(lines) + "\n")
            for c in cmd:
                args = [xenv.MIMIC, c, d] + (["--agent", "oracle"] if c == "eval" else [])
                r = subprocess.run(args, capture_output=True, text=True, timeout=60,
                                   env=dict(self.m.env, DISPLAY=":99999"))
                self.assertEqual(r.returncode, 1, (c, r.stderr))
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                for e in expect:
                    self.assertIn(e, r.stderr)
            return r.stderr

        def edit(i, f):
            s = json.loads(good[i])
            f(s)
            return good[:i] + [json.dumps(s)] + good[i + 1:]

        both = ("replay", "eval")
        r = subprocess.run([xenv.MIMIC, "replay", os.path.join(tmp, "nothing")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nothing/steps.jsonl: No such file", r.stderr)
        bad(good[:1] + ["{not json"], "steps.jsonl:2: not JSON", cmd=both)
        bad([], "no steps", cmd=both)
        click = next(i for i, s in enumerate(good)
                     if json.loads(s)["action"]["computer_use"] not in (None,) and
                     json.loads(s)["action"]["computer_use"]["action"] == "left_click")
        bad(edit(click, lambda s: s["action"]["computer_use"].update(action="fly")),
            "steps.jsonl:%d: unknown action 'fly'" % (click + 1), cmd=both)
        bad(edit(click, lambda s: s["action"]["computer_use"].update(coordinate=[5000, 10])),
            "coordinate [5000, 10] is off the screen (1280x800)", cmd=both)
        # Typed text the export redacted is not typed as a placeholder: nothing is replayed.
        typed = next(i for i, s in enumerate(good)
                     if (json.loads(s)["action"]["computer_use"] or {}).get("action") == "type")
        msg = bad(edit(typed, lambda s: s["action"]["computer_use"].update(
            text="mail <EMAIL> now")), "cannot be replayed as typed", "nothing was replayed")
        self.assertNotIn("Xlib", msg)
        r = subprocess.run([xenv.MIMIC, "replay", self.exp, "--episode", "nope"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no episode 'nope'", r.stderr)
        # A good export without a recorder: the agent's path refuses to act unrecorded.
        r = subprocess.run([xenv.MIMIC, "replay", self.exp], capture_output=True, text=True,
                           timeout=60, env=self.m.env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no recorder is running", r.stderr)
        r = subprocess.run([xenv.MIMIC, "replay", self.exp, "--speed", "0"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--speed '0' is not a number", r.stderr)


    def replay_edited(self, *args, before=None):
        """Replays a copy of the export whose OK click recorded the element "Okay" into a
        fresh desktop with a fresh form; returns the replay's result, the form's output
        (it is ended if the replay left it open, so "" when it printed nothing), whether the
        replay left it open, the OK step's line in steps.jsonl and that step. before(d, m),
        when given, runs first, on the fresh desktop with the form open."""
        lines = open(os.path.join(self.exp, "steps.jsonl")).read().splitlines()
        i = max(i for i, ln in enumerate(lines)
                if (json.loads(ln)["action"]["computer_use"] or {}).get("action") == "left_click")
        st = json.loads(lines[i])
        self.assertEqual(st["element"]["name"], "OK")
        st["element"]["name"] = "Okay"
        d = tempfile.mkdtemp(prefix="mimic-okay-")
        with open(os.path.join(d, "steps.jsonl"), "w") as f:
            f.write("\n".join(lines[:i] + [json.dumps(st)] + lines[i + 1:]) + "\n")
        x, bus, m = desktop()
        try:
            m.start("--no-frames", "--no-elements")
            form, _ = start_form(x, m)
            if before is not None:
                before(d, m)
            r = subprocess.run([xenv.MIMIC, "replay", d, "--policy", m.policy, "--speed", "2",
                                "--timeout", "1", *args], env=m.env, capture_output=True,
                               text=True, timeout=120)
            still_open = False
            try:
                out, _ = form.communicate(timeout=3)
            except subprocess.TimeoutExpired:
                still_open = True
                form.terminate()
                out, _ = form.communicate(timeout=10)
            self.assertEqual(m.stop(), 0)
        finally:
            m.close()
            x.close()
            bus.close()
        return r, out.strip(), still_open, i + 1, st

    def test_5_element_differs(self):
        # The element at OK's point is the push button "OK", not the recorded "Okay": the
        # replay types the values, waits a second for the element, then stops before the
        # click, naming the step and both elements; the form got no click and printed nothing.
        def no_bus(d, m):
            # First without an accessibility bus: the elements cannot be checked, so nothing
            # is replayed (the form is left as it is for the replay below).
            r = subprocess.run([xenv.MIMIC, "replay", d, "--policy", m.policy],
                               env=dict(m.env, AT_SPI_BUS_ADDRESS="unix:path=/nonexistent"),
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
            self.assertIn("the UI elements recorded in %s cannot be checked" % d, r.stderr)
            self.assertIn("nothing was replayed", r.stderr)
            self.assertIn("--force", r.stderr)
            self.assertEqual(r.stdout, "")

        r, out, still_open, line, st = self.replay_edited(before=no_bus)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertIn("steps.jsonl:%d: step %d of episode %s (left_click) was not replayed" %
                      (line, st["step"], st["episode"]), r.stderr)
        self.assertIn('recorded push button "Okay", found push button "OK"', r.stderr)
        self.assertIn("--force", r.stderr)
        self.assertNotIn(CITY, r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), len(acting(self.steps)) - 1, r.stdout)
        self.assertTrue(still_open)
        self.assertEqual(out, "")

    def test_6_element_differs_force(self):
        # With --force the replay warns once for that step and carries on: the form gets its
        # OK click and prints the values.
        r, out, still_open, line, st = self.replay_edited("--force")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertRegex(r.stderr, r'^mimic: warning: .*steps\.jsonl:%d: step %d of episode %s '
                         r'\(left_click\): .*recorded push button "Okay", found push button '
                         r'"OK".*carried on \(--force\)$' % (line, st["step"], st["episode"]))
        self.assertIn("element differs (--force)", r.stdout.splitlines()[-1])
        self.assertFalse(still_open)
        self.assertEqual(out, NAME + "|" + CITY)


if __name__ == "__main__":
    xenv.main()
