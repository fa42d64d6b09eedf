/*
 * pointer: what the display shows under the mouse pointer, for UI elements (uia):
 * the window there (struct uia_window_hint: the client window, its pid and
 * geometry, or a popup), whether the pointer is still where it was, and the popups
 * (menus, combo box lists, tooltips) being shown, hidden and moved, which can put
 * another element under a resting pointer. Part of the platform seam
 * (docs/ARCHITECTURE.md, "The platform seam"): this header is the contract,
 * platform/<backend>/pointer.c its one implementation.
 *
 * The X11 backend: its own xcb connection; QueryPointer for the top-level window
 * under the pointer, window_client_of for the client inside a window manager's
 * frame, _NET_WM_PID, GetGeometry and TranslateCoordinates; popups are the
 * override-redirect children of the root, followed through SubstructureNotify on
 * the root window.
 *
 * Threads: a struct pointer is used by one thread (uia's pointer thread).
 */
#ifndef MIMIC_POINTER_H
#define MIMIC_POINTER_H

#include <stdint.h>

#include "uia.h"

struct pointer;

/*
 * Connects to display (NULL: $DISPLAY). Errors with a one-line *cause: -ENXIO when
 * the display cannot be reached.
 */
int pointer_open(const char *display, struct pointer **out /* OUT */, char **cause);

/* Closes the connection and frees p. NULL is allowed. */
void pointer_close(struct pointer *p);

/* 1 when the connection to the display is lost. */
int pointer_broken(struct pointer *p);

/*
 * Fills *out for the window under the pointer (a few round trips): the top-level
 * window under the pointer, and for a managed one (reparented by a window
 * manager) the client window inside it, its pid and its geometry in root
 * coordinates; a popup is reported itself with popup = 1. *x and *y (NULL allowed)
 * receive the pointer's position, *top (NULL allowed) the top-level window under
 * it (0: none), to hand to pointer_still. Returns 0, or -EIO when the display did
 * not answer. When no window is under the pointer, out->window is 0.
 */
int pointer_hint(struct pointer *p, struct uia_window_hint *out /* OUT */, int32_t *x, int32_t *y,
                 uint32_t *top);

/* 1 when the pointer is at (x, y) over the top-level window top (not 0); one round trip. */
int pointer_still(struct pointer *p, int32_t x, int32_t y, uint32_t top);

/*
 * Starts following the popups: those shown now, and from now on every one shown,
 * hidden or moved (taken in by pointer_take_events and pointer_popups_at).
 */
void pointer_follow_popups(struct pointer *p);

/* Takes in the events received, so that they never pile up. */
void pointer_take_events(struct pointer *p);

/*
 * Takes in the events received, then sets *gen to the number of times a popup was
 * shown, hidden or moved so far and returns 1 when a popup covers (x, y), or when
 * that is not known (more popups than can be followed), else 0. Called right after
 * pointer_hint, it has seen every change the display made before answering it.
 */
int pointer_popups_at(struct pointer *p, int32_t x, int32_t y, uint64_t *gen /* OUT */);

/*
 * Takes in the events received, then sets *gen to what pointer_popups_at gave at
 * the moment of the button press the display stamped server_ms (struct event's
 * server_ms). The pointer's connection follows button presses too, in the
 * display's own order with the popups shown and hidden, so a popup the press
 * opened (an application maps a combo box's list a millisecond after the press)
 * is told from one that was there before it, however late this is asked. Returns
 * 0, or -ENOENT when that press was not seen (server_ms 0, a display without
 * XInput 2.2, or more than a few presses ago). *top (NULL allowed) receives the
 * newest popup shown at that press (window 0: none).
 */
int pointer_popup_gen_at_press(struct pointer *p, uint32_t server_ms, uint64_t *gen /* OUT */,
                               struct uia_window_hint *top /* OUT, NULL allowed */);

/*
 * Takes in the events received; when a popup (override-redirect window) was shown
 * since the last call and is still the newest shown, fills *out with it (window,
 * rectangle in root coordinates with its border, its _NET_WM_PID or 0, popup = 1)
 * and returns 1; else returns 0. pointer_popup_gen_at_press's *top is the newest
 * popup at a press in the same form (window 0: none).
 */
int pointer_new_popup(struct pointer *p, struct uia_window_hint *out /* OUT */);

/*
 * Takes in the events received; 1 when the top-level window top (pointer_hint's
 * *top) was hidden or destroyed after the button press the display stamped
 * server_ms, in the display's own order: that press was made while it showed.
 * 0 when not, or not known (the press or the window too long ago).
 */
int pointer_gone_since_press(struct pointer *p, uint32_t server_ms, uint32_t top);

#endif
