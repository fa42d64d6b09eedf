/*
 * screen: the pixels of the whole screen, for the frames engine (docs/FRAMES.md),
 * and the monitors it is made of. Part of the platform seam (docs/ARCHITECTURE.md,
 * "The platform seam"): this header is the contract, platform/<backend>/screen.c
 * its one implementation.
 *
 * A struct screen is one connection to the display of its own. Opened with
 * SCREEN_OPEN_CHANGES it reports that the screen changed (screen_dispatch calls
 * the caller back for each change notice) and, with every grab, the region that
 * changed since the previous one; the engine grabs only after a change. It holds
 * up to SCREEN_BUFFERS_MAX image buffers: a grab into one leaves the others'
 * images valid, so that the newest grab taken before a given moment is still in
 * memory while the next is taken.
 *
 * The X11 backend: an xcb connection, XDamage (NON_EMPTY) and an XFixes region
 * for the changes, one MIT-SHM grab per buffer (grab.h: GetImage without
 * MIT-SHM) with the XFixes cursor blended in, RandR 1.5 monitors.
 *
 * Threads: a struct screen is used by one thread at a time.
 */
#ifndef MIMIC_SCREEN_H
#define MIMIC_SCREEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* Most image buffers one screen holds. */
#define SCREEN_BUFFERS_MAX 2

/* One monitor of the screen. */
struct screen_monitor {
	int32_t x;         /* position on the screen (root coordinates) */
	int32_t y;
	uint32_t width;    /* pixels */
	uint32_t height;
	bool primary;
	char name[64];     /* output name such as "HDMI-1", or "screen"; NUL-terminated */
};

/* The mouse cursor at the time of a grab. */
struct screen_cursor {
	bool valid;        /* false when the display did not report a cursor */
	int32_t x;         /* pointer position (the cursor's hot spot) in root coordinates */
	int32_t y;
	uint32_t serial;   /* changes when the cursor image changes */
	/* The cursor's name ("left_ptr", "xterm", "hand2", ...); "" if unnamed. */
	char name[64];
};

/* screen_open flags. */
enum {
	SCREEN_OPEN_CHANGES = 1u << 0, /* report changes (screen_dispatch, screen_grab) */
	SCREEN_OPEN_NO_SHM = 1u << 1,  /* no shared memory: slower grabs (monitors only) */
};

/* screen_grab flags. */
enum {
	SCREEN_GRAB_CURSOR = 1u << 0,  /* blend the cursor into the image */
};

struct screen;

/*
 * Connects to display (NULL: $DISPLAY) and prepares n_buffers image buffers (1 to
 * SCREEN_BUFFERS_MAX). Errors with a one-line *cause: -ENXIO (no display),
 * -ENOTSUP (the display cannot report changes, an unsupported pixel format), -EIO
 * (the display refused), -EINVAL (no such screen).
 */
int screen_open(const char *display, unsigned flags, unsigned n_buffers,
                struct screen **out /* OUT */, char **cause);

/* Closes the connection and frees s. NULL is allowed. */
void screen_close(struct screen *s);

/* The connection's file descriptor, to poll for readability. */
int screen_fd(struct screen *s);

/* 1 when the connection to the display is lost. */
int screen_broken(struct screen *s);

/*
 * Handles the events received: changed(arg) is called for each change notice.
 * With queued_only, only what the connection has already read (while waiting for
 * a reply) is handled, without reading the socket. Returns how many events were
 * handled, or -EPIPE when the connection was lost.
 */
int screen_dispatch(struct screen *s, bool queued_only, void (*changed)(void *arg), void *arg);

/*
 * Grabs the whole screen into buffer `buffer`. *img is set to a view of pixels
 * that stay valid (and may be written to) until the next grab into the same
 * buffer or screen_close. cursor (NULL allowed) receives the cursor. *changed
 * receives the region that changed since the previous grab (the whole image when
 * that is unknown); the change notices so far are used up. Errors: -EIO, -ENOMEM
 * with *cause set; then *img is zeroed.
 */
int screen_grab(struct screen *s, unsigned buffer, unsigned flags, struct image *img /* OUT */,
                struct screen_cursor *cursor /* OUT, may be NULL */,
                struct image_rect *changed /* OUT */, char **cause);

/*
 * Sets *out to a malloc'ed array of the monitors (the caller frees it) and *n to
 * their number, at least 1 (one "screen" when the display does not list them).
 * Errors: -EIO with *cause set; then *out is NULL and *n 0.
 */
int screen_monitors(struct screen *s, struct screen_monitor **out /* OUT */, size_t *n /* OUT */,
                    char **cause);

#endif
