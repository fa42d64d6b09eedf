/*
 * overlay: a small always-on-top label the person cannot miss, a global hotkey,
 * and whether the screen is locked: what the recording indicator (guard's
 * indicator.h, which decides what it says) needs of the display. Part of the
 * platform seam (docs/ARCHITECTURE.md, "The platform seam"): this header is the
 * contract, platform/<backend>/overlay.c its one implementation.
 *
 * The X11 backend: its own xcb connection, an override-redirect window in the
 * top-right corner of the screen raised again whenever anything is stacked above
 * it and mapped again whenever something unmaps it, drawn with the core font
 * "fixed"; the hotkey grabbed with XGrabKey on the root window (also with Lock
 * and NumLock on); the lock state from the MIT-SCREEN-SAVER extension.
 */
#ifndef MIMIC_OVERLAY_H
#define MIMIC_OVERLAY_H

#include <stdint.h>

/* Hotkey modifiers (the same bits as guard's POLICY_MOD_*). */
enum {
	OVERLAY_MOD_SHIFT = 1 << 0,
	OVERLAY_MOD_CTRL = 1 << 2,
	OVERLAY_MOD_ALT = 1 << 3,
	OVERLAY_MOD_SUPER = 1 << 6,
};

/* What the overlay shows: colours as 0xRRGGBB, and a one-line label. */
struct overlay_look {
	uint32_t bg, fg;
	const char *label;         /* static: the overlay keeps the pointer */
};

struct overlay_opts {
	const char *display;       /* NULL: $DISPLAY */
	const char *name;          /* the window's title, for tests and people */
	const char *instance;      /* its WM_CLASS */
	const char *class_name;
	struct overlay_look look;  /* shown first */
	const char *hotkey_sym;    /* an X keysym name such as "F9"; NULL: no hotkey */
	uint32_t hotkey_mods;      /* OVERLAY_MOD_* bits */
};

struct overlay;

/*
 * Connects, creates and shows the overlay with o->look and waits until the
 * display reports it shown. A hotkey that is not on the keyboard is left out; one
 * another client holds is left out with a warning in the log. The overlay is drawn
 * before the call returns, so that its first drawing is not a change of the screen
 * seen later. Errors with a one-line *cause: -ENXIO no display, -EIO the overlay
 * could not be created or shown.
 */
int overlay_open(const struct overlay_opts *o, struct overlay **out /* OUT */, char **cause);

/* Removes the overlay, closes the connection, frees ov. NULL is allowed. */
void overlay_close(struct overlay *ov);

/* The connection's file descriptor, to poll for readability. */
int overlay_fd(struct overlay *ov);

/* Shows look from now on (drawn at once). */
void overlay_show(struct overlay *ov, const struct overlay_look *look);

/*
 * Handles the events received: redraws, keeps the overlay on top and shown,
 * counts the hotkey. do_read as for desktop_dispatch: one read from the
 * connection first, or (0) only the events already read, with no system call.
 * Returns the number of hotkey presses seen (0 or more), or -EPIPE when the
 * connection was lost.
 */
int overlay_dispatch(struct overlay *ov, int do_read);

/* The keycode of the hotkey in input events (0 when none). */
uint32_t overlay_hotkey_keycode(const struct overlay *ov);

/* 1 when the screen saver (and with it a screen locker) is on, 0 when not or unknown. */
int overlay_screen_locked(struct overlay *ov);

/* The display's id of the overlay's window. */
uint32_t overlay_window(const struct overlay *ov);

#endif
