"""The reference technique for the input path: a Python recorder on pynput.

This is how OpenAdapt, DuckTrack and PC Tracker record input on X11 (see
../shared/notes/peers.md): pynput's keyboard and mouse listeners (the RECORD
extension, through python-xlib) call back on their own threads, each callback
puts a tuple on a queue.Queue, and a writer thread stores what is queued in
SQLite, one transaction a tenth of a second. bench/input_burst.py runs it beside
mimic on the same workload. It needs Debian's python3-pynput, so it runs under
/usr/bin/python3 (scripts/install-deps).

Usage: /usr/bin/python3 bench/pynput_recorder.py DB_PATH
Prints "ready" once both listeners run; on SIGTERM it stores what is queued,
prints "stored N" and exits.
"""

import os
import queue
import signal
import sqlite3
import sys
import threading
import time

from pynput import keyboard, mouse


def main():
    db_path = sys.argv[1]
    q = queue.Queue()
    stop = threading.Event()

    def on_press(key):
        q.put(("key_press", time.time_ns(), str(key), 0, 0))

    def on_release(key):
        q.put(("key_release", time.time_ns(), str(key), 0, 0))

    def on_move(x, y):
        q.put(("motion", time.time_ns(), "", x, y))

    def on_click(x, y, button, pressed):
        q.put(("button_press" if pressed else "button_release", time.time_ns(), str(button),
               x, y))

    def on_scroll(x, y, dx, dy):
        q.put(("scroll", time.time_ns(), "%d,%d" % (dx, dy), x, y))

    stored = [0]

    def writer():
        db = sqlite3.connect(db_path)
        db.execute("CREATE TABLE IF NOT EXISTS events (kind TEXT, t_ns INTEGER, detail TEXT, "
                   "x INTEGER, y INTEGER)")
        while True:
            rows = []
            try:
                rows.append(q.get(timeout=0.1))
                while True:
                    rows.append(q.get_nowait())
            except queue.Empty:
                pass
            if rows:
                db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
                db.commit()
                stored[0] += len(rows)
            elif stop.is_set():
                break
        db.close()

    kl = keyboard.Listener(on_press=on_press, on_release=on_release)
    ml = mouse.Listener(on_move=on_move, on_click=on_click, on_scroll=on_scroll)
    kl.start()
    ml.start()
    kl.wait()
    ml.wait()
    wt = threading.Thread(target=writer)
    wt.start()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    print("ready", flush=True)
    while not stop.is_set():
        stop.wait(0.5)
    wt.join()
    print("stored %d" % stored[0], flush=True)
    # The listeners' RECORD contexts stop only when one more event arrives: leave.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
