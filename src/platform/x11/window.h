/*
 * window: follows the focused top-level window of one X connection and describes
 * it as a struct context (class, title, pid, executable, geometry).
 *
 * With an EWMH window manager (_NET_SUPPORTING_WM_CHECK present and valid) it
 * follows _NET_ACTIVE_WINDOW on the root window and the title properties of the
 * active window. Without one it asks GetInputFocus, and when focus follows the
 * pointer (PointerRoot or None) it takes the top-level window under the pointer;
 * the caller asks it to look again on button presses and on the first key of a
 * burst (window_recheck). Every change of the focused window or of its title
 * gives a new snapshot with the next sequence number. Used by capture on the
 * input thread; not thread-safe. Never logs titles.
 */
#ifndef MIMIC_WINDOW_H
#define MIMIC_WINDOW_H

#include <stdint.h>
#include <xcb/xcb.h>

#include "event.h"

struct window;

/* What a call found changed (a bit mask); each change comes with a new snapshot. */
enum {
	WINDOW_CHANGED_FOCUS = 1, /* another window (or none) is focused */
	WINDOW_CHANGED_TITLE = 2, /* the focused window's title changed */
};

/*
 * Starts tracking on conn (kept open by the caller for the life of w): selects
 * PropertyChange on root, finds the window manager and reads the first snapshot
 * (sequence number 1, window 0 when nothing is focused), taken at now_ns. The
 * caller passes every event it receives to window_handle_event. Errors with a
 * one-line *cause: -EIO when the X server does not answer.
 */
int window_open(xcb_connection_t *conn, xcb_window_t root, int64_t now_ns,
                struct window **out /* OUT */, char **cause);

/* Frees w (NULL is allowed); conn stays open. */
void window_close(struct window *w);

/* 1 when an EWMH window manager is followed, 0 in the pointer-based fallback. */
int window_has_wm(const struct window *w);

/*
 * Looks at one X event (PropertyNotify on root or on the focused window,
 * UnmapNotify and DestroyNotify of the focused window; others are ignored) and
 * returns WINDOW_CHANGED_* bits. A _NET_ACTIVE_WINDOW of 0 is held back for a
 * moment, because window managers clear it during every switch, and so is the
 * focused window going away: window_tick looks again after that moment.
 */
int window_handle_event(struct window *w, const xcb_generic_event_t *ev, int64_t now_ns);

/*
 * Without a window manager, asks the server again which top-level window has
 * the focus (round trips); with one, does nothing. Returns WINDOW_CHANGED_* bits.
 */
int window_recheck(struct window *w, int64_t now_ns);

/*
 * Time-driven work: once the grace period of a held-back "no window" or of a
 * vanished window is over, asks the server again (an unmapped or destroyed
 * window counts as no window). Returns WINDOW_CHANGED_* bits and sets *next_ms
 * to the milliseconds until it wants to be called again, or -1 when nothing is
 * pending.
 */
int window_tick(struct window *w, int64_t now_ns, int *next_ms /* OUT */);

/* The newest snapshot; valid until the next call that changes it. Never NULL. */
const struct context *window_context(const struct window *w);

/*
 * The client window of the top-level window top (a child of the root): the
 * window at or below top, topmost child first and at most three levels down (a
 * window manager's frame, its decorations, a container), that carries WM_STATE;
 * when none does, the first such window that carries WM_CLASS; top itself when
 * none does either. wm_state is the WM_STATE atom (XCB_ATOM_NONE: it does not
 * exist, so no window has it). Round trips: one per window looked at, at most 64
 * for each of the two searches.
 *
 * WM_STATE first is the rule of the ICCCM and of libXmu's XmuClientWindow (which
 * xprop and xwininfo use): a window manager puts WM_STATE on each client window it
 * manages and on nothing else, whereas some window managers set WM_CLASS on their
 * own frames too (i3 calls every frame "i3-frame"), and a search for WM_CLASS alone
 * would take such a frame for the client. Without a window manager nothing carries
 * WM_STATE, and a client is the window that names itself with WM_CLASS, which can
 * sit below a window that embeds it or a frame left by a window manager that quit.
 */
xcb_window_t window_client_of(xcb_connection_t *conn, xcb_window_t top, xcb_atom_t wm_state);

#endif
