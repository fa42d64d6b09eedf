"""UI elements (docs/ELEMENTS.md): what a press or a typing run acted on, as
`mimic events` shows it, recorded from real GTK dialogs (zenity) under Xvfb with a
private session bus, which activates the accessibility bus.

Where a widget is on screen is asked of AT-SPI by a helper run under Debian's
python3 (python3-gi, gir1.2-atspi-2.0): the test itself uses the standard
library only. The session bus is xenv.SessionBus.
"""

import json
import os
import shutil
import select
import subprocess
import tempfile
import time
import unittest

import xenv

GI_PYTHON = "/usr/bin/python3"

# Prints "x y w h" of the first showing element of application PID with ROLE and
# NAME ("*": any), searching depth first; exits 2 when there is none.
FIND = r"""
import sys
import gi
gi.require_version("Atspi", "2.0")
from gi.repository import Atspi
pid, role, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
Atspi.set_timeout(1000, 0)
def walk(a, depth):
    try:
        r, n = a.get_role_name(), a.get_name()
        showing = a.get_state_set().contains(Atspi.StateType.SHOWING)
    except Exception:
        return None
    if showing and r == role and (name == "*" or n == name):
        e = a.get_extents(Atspi.CoordType.SCREEN)
        if e.width > 1 and e.x > -100000:
            return e
    if depth < 24:
        for i in range(min(a.get_child_count(), 200)):
            c = a.get_child_at_index(i)
            if c is not None:
                f = walk(c, depth + 1)
                if f is not None:
                    return f
    return None
d = Atspi.get_desktop(0)
for i in range(d.get_child_count()):
    app = d.get_child_at_index(i)
    if app is not None and app.get_process_id() == pid:
        e = walk(app, 0)
        if e is not None:
            print(e.x, e.y, e.width, e.height)
            sys.exit(0)
sys.exit(2)
"""

# A GTK window "Vanish" with an entry and a button "Dismiss" that hides itself at the
# press (as dismiss buttons of banners do); prints "pressed" then.
VANISH = r"""
import sys
import gi
gi.require_version("Gtk", "3.0")
from gi.repository import GLib, Gtk
GLib.set_prgname("vanish")  # WM_CLASS "vanish", "Vanish": the test allows it
w = Gtk.Window(title="Vanish")
w.set_default_size(320, 160)
box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=12)
box.set_border_width(24)
box.pack_start(Gtk.Entry(), False, False, 0)
b = Gtk.Button(label="Dismiss")
def pressed(widget, event):
    widget.hide()
    print("pressed", flush=True)
    return True
b.connect("button-press-event", pressed)
box.pack_start(b, False, False, 0)
w.add(box)
w.connect("destroy", Gtk.main_quit)
w.show_all()
Gtk.main()
"""


def have_tools():
    if not all(shutil.which(t) for t in ("Xvfb", "openbox", "xdotool", "zenity",
                                         "dbus-daemon")):
        return False
    r = subprocess.run([GI_PYTHON, "-c", "import gi; gi.require_version('Atspi', '2.0'); "
                        "gi.require_version('Gtk', '3.0')"],
                       capture_output=True) if os.path.exists(GI_PYTHON) else None
    return r is not None and r.returncode == 0


@unittest.skipUnless(have_tools(), "needs Xvfb, openbox, xdotool, zenity, dbus-daemon and "
                     "python3-gi with gir1.2-atspi-2.0 and gir1.2-gtk-3.0 "
                     "(scripts/install-deps)")
class OnBus(unittest.TestCase):
    """The fixture of the classes below: an X server and a session bus for the class,
    and a recorder for each test (self.m)."""

    @classmethod
    def setUpClass(cls):
        cls.x = xenv.XServer()
        cls.x.env["GTK_THEME"] = "Adwaita"
        try:
            cls.bus = xenv.SessionBus(cls.x)
            cls.set_up_desktop()
        except Exception:
            cls.x.close()
            raise

    @classmethod
    def set_up_desktop(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        cls.x.close()
        cls.bus.close()

    def setUp(self):
        self.m = xenv.Mimic(self.x, env={
            # The private session bus would start the machine's keyring for the
            # encryption key, which asks on screen to create one: keys go to a file.
            "MIMIC_KEY_STORE": "file",
            # Under AddressSanitizer: libatspi leaks a little when a call times out.
            "LSAN_OPTIONS": "suppressions=" + os.path.join(xenv.SRCDIR, "tests", "unit",
                                                            "lsan.supp"),
        })


class ElementsTest(OnBus):
    def setUp(self):
        super().setUp()
        self.apps = []

    def tearDown(self):
        for p in self.apps:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        self.m.close()

    # --- helpers -------------------------------------------------------------------------

    def zenity(self, *args):
        p = self.x.spawn(["zenity", *args])
        self.apps.append(p)
        return p

    def find(self, pid, role, name, timeout=20.0):
        """The screen rectangle (x, y, w, h) of a showing element, waiting for it."""
        def look():
            r = subprocess.run([GI_PYTHON, "-c", FIND, str(pid), role, name],
                               env=self.x.env, capture_output=True, text=True, timeout=30)
            return tuple(int(v) for v in r.stdout.split()) if r.returncode == 0 else None
        return xenv.wait_for(look, timeout=timeout, interval=0.2,
                             what="%s %r of pid %d" % (role, name, pid))

    def rest_on(self, rect):
        """Moves the pointer to the middle of rect and lets it rest there, as a person does."""
        x, y = rect[0] + rect[2] // 2, rect[1] + rect[3] // 2
        before = self.hovers()
        self.x.xdotool("mousemove", str(x), str(y))
        # The recorder notices the pointer resting and resolves the element under it.
        xenv.wait_for(lambda: self.hovers() > before, timeout=10, interval=0.1,
                      what="the element under the resting pointer to be looked up")
        return x, y

    def after_key(self, key):
        """Presses key and waits for the lookup the recorder makes once the pointer
        rests after it (docs/ELEMENTS.md), so that no lookup is pending afterwards."""
        before = self.hovers()
        self.x.xdotool("key", key)
        xenv.wait_for(lambda: self.hovers() > before, timeout=10, interval=0.1,
                      what="the lookup after the key %s" % key)

    def wait_no_popup(self, pid):
        """Waits until X shows no window of pid but its dialog (a popup list has gone)."""
        xenv.wait_for(lambda: len(self.x.run(["xdotool", "search", "--onlyvisible", "--pid",
                                              str(pid)], check=False).split()) == 1,
                      timeout=10, what="the popup of pid %d to close" % pid)

    def hovers(self):
        if self.m.rec is None:
            return 0
        return self.m.status()["accessibility"]["lookups"]["hovers"]

    def start(self):
        self.m.start("--no-frames")
        st = self.m.status()
        self.assertEqual(st["accessibility"]["state"], "ok", st["accessibility"])

    def stop_and_events(self):
        time.sleep(0.5)
        self.assertEqual(self.m.stop(), 0, self.m.stderr())
        return self.m.events()

    def element_at(self, events, kind, pred):
        """The element of the first event of kind whose element satisfies pred."""
        for e in events:
            if e["kind"] == kind and "element" in e and pred(e["element"]):
                return e["element"]
        elements = [e.get("element") for e in events if e["kind"] == kind]
        self.fail("no %s with the expected element; elements seen: %r\nrecorder log:\n%s" %
                  (kind, elements, self.m.stderr()[-3000:]))

    # --- tests ---------------------------------------------------------------------------

    def test_push_button(self):
        app = self.zenity("--question", "--title=Question", "--text=Proceed?")
        yes = self.find(app.pid, "push button", "Yes")
        self.start()
        x, y = self.rest_on(yes)
        self.x.xdotool("click", "1")
        app.wait(timeout=10)
        self.assertEqual(app.returncode, 0)  # zenity saw "Yes"
        events = self.stop_and_events()
        press = [e for e in events if e["kind"] == "button_press"]
        self.assertEqual(len(press), 1)
        self.assertEqual((press[0]["x"], press[0]["y"]), (x, y))
        el = press[0]["element"]
        self.assertEqual(el["kind"], "press")
        self.assertEqual(el["status"], "ok", el)
        self.assertEqual(el["role"], "push button")
        self.assertEqual(el["name"], "Yes")
        self.assertEqual(el["pid"], app.pid)
        self.assertEqual(el["app"], "zenity")
        self.assertEqual(el["bounds"], list(yes))
        self.assertIn({"role": "dialog", "name": "Question"}, el["ancestors"])
        self.assertIn("showing", el["states"])

    def test_combo_box_and_menu_item(self):
        app = self.zenity("--forms", "--title=Trip", "--add-combo=Region",
                          "--combo-values=Europe|Asia|Africa")
        combo = self.find(app.pid, "combo box", "*")
        self.start()
        self.rest_on(combo)
        self.x.xdotool("click", "1")
        item = self.find(app.pid, "menu item", "Asia", timeout=10)
        self.rest_on(item)
        self.x.xdotool("click", "1")
        # The choice shows in the combo box: the click reached the menu item.
        self.find(app.pid, "combo box", "Asia", timeout=10)
        events = self.stop_and_events()
        el = self.element_at(events, "button_press", lambda e: e.get("role") == "combo box")
        self.assertEqual(el["label"], "Region")
        self.assertFalse(el["popup"])
        el = self.element_at(events, "button_press", lambda e: e.get("role") == "menu item")
        self.assertEqual(el["name"], "Asia")
        self.assertEqual(el["menu_path"], "Region > Asia")
        self.assertTrue(el["popup"])
        self.assertEqual(el["pid"], app.pid)
        self.assertEqual(el["ancestors"][0]["role"], "menu")

    def test_press_at_once_after_moving(self):
        """An agent's clicks: the pointer moves onto a widget and presses at once.

        A widget looked at before (the pointer rested on it, or on another widget of
        the same window after the last click or key) is named from memory, as it was
        before the click; a press on another widget right after names that one.
        """
        app = self.zenity("--forms", "--title=Agent", "--add-entry=Name",
                          "--add-combo=Region", "--combo-values=Europe|Asia|Africa")
        entry = self.find(app.pid, "text", "*")
        combo = self.find(app.pid, "combo box", "*")
        centre = lambda r: (str(r[0] + r[2] // 2), str(r[1] + r[3] // 2))  # noqa: E731
        self.start()
        self.rest_on(entry)
        self.x.xdotool("click", "1")
        # One key, so that exactly one lookup follows it (the pointer rests after a key):
        # once it is done, nothing is pending when the pointer moves on.
        self.after_key("a")
        self.rest_on(combo)  # the entry, changed by the key, is checked again by now
        # Moves and presses in one xdotool run: no rest between them, as an agent does.
        self.x.xdotool("mousemove", *centre(entry), "click", "1")
        self.x.xdotool("mousemove", *centre(combo), "click", "1")  # opens the list
        self.find(app.pid, "menu item", "Asia", timeout=10)
        self.after_key("Escape")
        self.wait_no_popup(app.pid)
        self.rest_on(entry)  # the combo box is checked again, its list closed
        self.x.xdotool("mousemove", *centre(combo), "click", "1")
        self.find(app.pid, "menu item", "Asia", timeout=10)
        self.x.xdotool("key", "Escape")
        events = self.stop_and_events()
        presses = [e for e in events if e["kind"] == "button_press"]
        self.assertEqual(len(presses), 4, presses)
        els = [p.get("element", {}) for p in presses]
        for el in els:
            self.assertEqual(el.get("status"), "ok", els)
        self.assertEqual([el["role"] for el in els], ["text", "text", "combo box", "combo box"])
        self.assertEqual([el["label"] for el in els], ["Name", "Name", "Region", "Region"])
        self.assertEqual(els[0]["bounds"], list(entry))
        self.assertEqual(els[1]["bounds"], list(entry))
        self.assertEqual(els[2]["bounds"], list(combo))
        self.assertEqual(els[3]["bounds"], list(combo))
        # Pressed at once, known from memory (read before the press):
        self.assertEqual(els[1]["source"], "recent", els[1])
        self.assertEqual(els[3]["source"], "recent", els[3])
        # The combo box pressed right after another press is asked again, never
        # taken from memory (that press may have changed it).
        self.assertNotEqual(els[2]["source"], "recent", els[2])
        self.assertFalse(els[2]["popup"])

    def test_press_on_a_button_that_hides_itself(self):
        """A press whose element is gone by the time it is looked up is named from the
        window's map, read while the pointer rested in the window (docs/ELEMENTS.md).

        The button hides itself at the press, so the lookup finds the window's box;
        a dialog's OK that closes its dialog at the release is the same case.
        """
        app = subprocess.Popen([GI_PYTHON, "-c", VANISH], env=self.x.env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.apps.append(app)
        button = self.find(app.pid, "push button", "Dismiss")
        entry = self.find(app.pid, "text", "*")
        with open(self.m.policy) as f:
            policy = f.read().replace("[allow]\n", "[allow]\napp = Vanish\n")
        with open(self.m.policy, "w") as f:
            f.write(policy)
        self.start()
        self.rest_on(entry)  # the window's map is read after this lookup
        self.x.xdotool("mousemove", str(button[0] + button[2] // 2),
                       str(button[1] + button[3] // 2), "click", "1")
        ready, _, _ = select.select([app.stdout], [], [], 10)
        self.assertTrue(ready, "the button was not pressed")
        self.assertEqual(app.stdout.readline().strip(), b"pressed")
        events = self.stop_and_events()
        presses = [e for e in events if e["kind"] == "button_press"]
        self.assertEqual(len(presses), 1, presses)
        el = presses[0].get("element", {})
        self.assertEqual((el.get("status"), el.get("role"), el.get("name")),
                         ("ok", "push button", "Dismiss"), el)
        self.assertEqual(el["source"], "map", el)
        self.assertEqual(el["bounds"], list(button))
        self.assertEqual(el["pid"], app.pid)
        self.assertIn({"role": "frame", "name": "Vanish"}, el["ancestors"])

    def test_list_item_pressed_at_once(self):
        """An item of a combo box's list clicked at once after moving (as an agent does):
        the click closes the list before the lookup, which finds nothing there. The
        list's items were read when it was shown (the popup's map, docs/ELEMENTS.md)."""
        app = self.zenity("--forms", "--title=Trip", "--add-combo=Region",
                          "--combo-values=Europe|Asia|Africa")
        combo = self.find(app.pid, "combo box", "*")
        self.start()
        self.rest_on(combo)
        maps = self.m.status()["accessibility"]["lookups"]["popup_maps"]
        self.x.xdotool("click", "1")
        item = self.find(app.pid, "menu item", "Asia", timeout=10)
        xenv.wait_for(lambda: self.m.status()["accessibility"]["lookups"]["popup_maps"] > maps,
                      timeout=10, interval=0.1, what="the list's items to be read")
        self.x.xdotool("mousemove", str(item[0] + item[2] // 2), str(item[1] + item[3] // 2),
                       "click", "1")
        # The choice shows in the combo box: the click reached the item.
        self.find(app.pid, "combo box", "Asia", timeout=10)
        events = self.stop_and_events()
        presses = [e for e in events if e["kind"] == "button_press"]
        self.assertEqual(len(presses), 2, presses)
        el = presses[1].get("element", {})
        self.assertEqual((el.get("status"), el.get("role"), el.get("name")),
                         ("ok", "menu item", "Asia"), el)
        self.assertTrue(el["popup"], el)
        self.assertEqual(el["menu_path"], "Region > Asia", el)
        self.assertEqual(el["bounds"], list(item))
        self.assertEqual(el["pid"], app.pid)

    def test_typing_into_entry_and_shortcut(self):
        app = self.zenity("--entry", "--title=Entry", "--text=Your name:")
        text = self.find(app.pid, "text", "*")
        self.start()
        self.rest_on(text)
        self.x.xdotool("click", "1")
        time.sleep(0.3)
        self.x.xdotool("type", "--delay", "60", "Ada")
        time.sleep(0.3)
        self.x.xdotool("key", "ctrl+a")
        time.sleep(0.3)
        events = self.stop_and_events()
        self.assertEqual(xenv.typed_text(events), "Ada")
        first = [e for e in events if e["kind"] == "key_press" and e["text"] == "A"][0]
        el = first["element"]
        self.assertEqual(el["kind"], "typing")
        self.assertEqual(el["status"], "ok", el)
        self.assertEqual(el["role"], "text")
        self.assertEqual(el["label"], "Your name:")
        self.assertIn("editable", el["states"])
        self.assertIn("focused", el["states"])
        self.assertNotIn("password", el["states"])
        self.assertEqual(el["pid"], app.pid)
        # One element per typing run: the next letters of the run carry none.
        for e in events:
            if e["kind"] == "key_press" and e["text"] in ("d", "a"):
                self.assertNotIn("element", e)
        chord = [e for e in events if e["kind"] == "key_press" and e["keysym"] == "a" and
                 e["mods"] & 4][0]
        self.assertEqual(chord["element"]["kind"], "shortcut")
        self.assertEqual(chord["element"]["chord"], "ctrl+a")
        self.assertEqual(chord["element"]["role"], "text")

    def test_password_field(self):
        app = self.zenity("--password", "--title=Password")
        field = self.find(app.pid, "password text", "*")
        self.start()
        # No hover here: the safeguards keep no pointer positions inside a password field.
        self.x.xdotool("mousemove", str(field[0] + field[2] // 2),
                       str(field[1] + field[3] // 2))
        time.sleep(0.3)
        self.x.xdotool("click", "1")
        time.sleep(0.3)
        self.x.xdotool("type", "--delay", "60", "hunter2")
        time.sleep(0.3)
        events = self.stop_and_events()
        # The safeguards (docs/POLICY.md) store a secret_input marker instead of the keys;
        # it carries the field that took them.
        self.assertEqual(xenv.typed_text(events), "")
        marker = [e for e in events if e["kind"] == "secret_input"]
        self.assertTrue(marker, [e["kind"] for e in events])
        el = marker[0]["element"]
        self.assertEqual(el["kind"], "typing")
        self.assertEqual(el["status"], "ok", el)
        self.assertEqual(el["role"], "password text")
        self.assertIn("password", el["states"])
        self.assertIn("focused", el["states"])
        self.assertEqual(el["bounds"], list(field))
        self.assertEqual(el["pid"], app.pid)


class NoBusTest(unittest.TestCase):
    """Without a session bus the recorder records input and says why it has no elements."""

    def setUp(self):
        self.x = xenv.XServer()
        self.x.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        self.x.env.pop("AT_SPI_BUS_ADDRESS", None)
        self.m = xenv.Mimic(self.x)

    def tearDown(self):
        self.m.close()
        self.x.close()

    def test_degraded(self):
        launches = count_procs("dbus-launch", self.x.display)
        term = self.x.xterm()
        self.x.focus(term)
        self.m.start("--no-frames")
        st = self.m.status()
        self.assertEqual(st["accessibility"]["state"], "degraded")
        self.assertIn("session bus", st["accessibility"]["reason"])
        self.assertIn("elements: degraded: no session bus", self.m.run("status").stdout)
        self.x.xdotool("mousemove", "100", "100")
        self.x.xdotool("click", "1")
        self.x.xdotool("type", "--delay", "30", "echo hi")
        time.sleep(0.5)
        self.assertEqual(self.m.stop(), 0)
        events = self.m.events()
        self.assertEqual(xenv.typed_text(events), "echo hi")
        self.assertEqual(len([e for e in events if e["kind"] == "button_press"]), 1)
        self.assertFalse([e for e in events if "element" in e])
        # libdbus was never allowed to autolaunch a bus.
        self.assertEqual(count_procs("dbus-launch", self.x.display), launches)


def count_procs(name, display):
    """Processes called name on this test's display (other tests may run beside it)."""
    n = 0
    want = b"DISPLAY=" + display.encode()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/comm" % d) as f:
                    if f.read().strip() != name:
                        continue
                with open("/proc/%s/environ" % d, "rb") as f:
                    n += want in f.read().split(b"\0")
            except OSError:
                pass
    return n


# What a recorder that records no UI elements must not map (src/platform/uia_dl.c):
# AT-SPI's client and the GLib stack it brings, and libsecret (src/cli/keyring_main.c).
LOADED_WHEN_USED = ("mimic-uia.so", "libatspi", "libglib-2.0", "libgobject-2.0", "libgio-2.0",
                    "libdbus-1", "libsecret-1")


def mapped(pid):
    """The file names the process maps, one each."""
    with open("/proc/%d/maps" % pid) as f:
        return {os.path.basename(line.split()[5]) for line in f if len(line.split()) > 5}


class LoadedWhenUsedTest(OnBus):
    """uia is the module mimic-uia.so, which `mimic record` loads when it records UI
    elements: without them the recorder maps none of it (its peak RSS is measured by
    bench/input_burst.py); with them the module is loaded and works; without the
    module the recorder records all the same and its status says what to reinstall."""

    @classmethod
    def set_up_desktop(cls):
        cls.term = cls.x.xterm()

    def setUp(self):
        super().setUp()
        self.x.focus(self.term)

    def tearDown(self):
        self.m.close()

    def loaded(self):
        libs = mapped(self.m.rec.pid)
        return sorted(n for n in libs if any(n.startswith(w) for w in LOADED_WHEN_USED))

    def test_no_elements_maps_no_glib(self):
        self.m.start("--no-frames", "--no-elements")
        self.assertEqual(self.m.status()["accessibility"]["state"], "off")
        self.x.xdotool("type", "--delay", "20", "lean")
        xenv.wait_for(lambda: xenv.typed_text(self.m.events()) == "lean", timeout=20,
                      what="the typed keys")
        self.assertIn("libsqlite3.so.0", " ".join(mapped(self.m.rec.pid)))  # maps were read
        self.assertEqual(self.loaded(), [])
        self.assertEqual(self.m.stop(), 0, self.m.stderr())

    def test_elements_load_the_module(self):
        self.m.start("--no-frames")
        st = self.m.status()["accessibility"]
        self.assertEqual(st["state"], "ok", st)
        names = self.loaded()
        self.assertTrue(any(n == "mimic-uia.so" for n in names), names)
        self.assertTrue(any(n.startswith("libatspi") for n in names), names)
        # libsecret never: the keyring is a child's business.
        self.assertFalse(any(n.startswith("libsecret") for n in names), names)
        self.assertEqual(self.m.stop(), 0, self.m.stderr())

    def test_missing_module_is_named_and_recording_goes_on(self):
        # The program alone in a directory: no module beside it, none installed.
        lone = tempfile.mkdtemp(prefix="mimic-lone-")
        exe = os.path.join(lone, "mimic")
        shutil.copy2(xenv.MIMIC, exe)
        saved = xenv.MIMIC
        xenv.MIMIC = exe
        try:
            self.m.start("--no-frames")
            st = self.m.status()["accessibility"]
            self.assertEqual(st["state"], "degraded", st)
            self.assertIn("cannot load UI element support", st["reason"])
            self.assertIn("mimic-uia.so is missing: reinstall mimic", st["reason"])
            self.x.xdotool("type", "--delay", "20", "still")
            xenv.wait_for(lambda: xenv.typed_text(self.m.events()) == "still", timeout=20,
                          what="the typed keys")
            self.assertEqual(self.loaded(), [])
            self.assertEqual(self.m.stop(), 0, self.m.stderr())
        finally:
            xenv.MIMIC = saved
            shutil.rmtree(lone, ignore_errors=True)


if __name__ == "__main__":
    xenv.main()
