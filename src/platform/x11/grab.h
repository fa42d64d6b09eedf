/*
 * grab: takes screenshots of the whole X11 root window, with the mouse cursor
 * drawn in.
 *
 * The image is read into one MIT-SHM segment that is reused for every frame
 * (about 1 ms for 1080p); when MIT-SHM cannot be used (a remote display, a
 * server without the extension) grab falls back to a plain GetImage, ten times
 * slower, and logs a warning once. The cursor is not part of the root window's
 * pixels: grab reads it with XFixesGetCursorImageAndName and blends it in, and
 * reports its position and name (such as "xterm" or "left_ptr") as data.
 *
 * The images are struct image (image.h: BGRX pixels); the X byte is whatever the
 * X server left there.
 *
 * Threads: a struct grab uses the connection it was opened on and nothing else,
 * so a worker thread can own a connection and a grab. One struct grab must not
 * be used by two threads at the same time.
 */
#ifndef MIMIC_GRAB_H
#define MIMIC_GRAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <xcb/xcb.h>

#include "image.h"
#include "screen.h"

/*
 * The monitors (from RandR) and the cursor are screen.h's struct screen_monitor and
 * struct screen_cursor: grab is how the X11 backend of screen takes its pixels.
 */

/* grab_open flags. */
enum {
	GRAB_OPEN_NO_SHM = 1u << 0,   /* never use MIT-SHM (tests, benchmarks) */
};

/* grab_frame flags. */
enum {
	GRAB_FRAME_CURSOR = 1u << 0,  /* blend the cursor into the image */
};

struct grab;

/*
 * Prepares to grab screen `screen` (the number xcb_connect returned) of conn.
 * The caller keeps ownership of conn, which must outlive the grab. On success
 * *out is a new grab to release with grab_close. Errors: -EINVAL (no such
 * screen), -ENOTSUP (a pixel format other than 24/32-bit TrueColor with 32 bits
 * per pixel in little-endian order), -EIO (the connection failed), each with
 * *cause set. Without XFixes grab works but reports no cursor (and logs a
 * warning); without MIT-SHM it falls back to GetImage (and logs a warning).
 */
int grab_open(xcb_connection_t *conn, int screen, unsigned flags, struct grab **out /* OUT */,
	      char **cause);

/* Detaches and frees the shared memory and everything else. NULL is allowed. */
void grab_close(struct grab *g);

/* True when grab_open could set up MIT-SHM. */
bool grab_uses_shm(const struct grab *g);

/*
 * Grabs the whole root window. *img is set to a view of grab-owned pixels that
 * stay valid (and may be written to, e.g. by image_apply_mask) until the next
 * grab_frame or grab_close. cursor may be NULL; otherwise it receives the cursor
 * position and name (also when GRAB_FRAME_CURSOR is not set). When the root
 * window's size changes (RandR), the next frame has the new size.
 * Errors: -EIO (the connection failed or the server refused), -ENOMEM, with
 * *cause set. On error *img is zeroed.
 */
int grab_frame(struct grab *g, unsigned flags, struct image *img /* OUT */,
	       struct screen_cursor *cursor /* OUT, may be NULL */, char **cause);

/*
 * Reads only the cursor position and name (one round trip, no pixels), e.g. to
 * log where a click happened. Errors: -EIO with *cause set.
 */
int grab_query_cursor(struct grab *g, struct screen_cursor *cursor /* OUT */, char **cause);

/*
 * Sets *out to a malloc'ed array of the monitors (the caller frees it) and *n to
 * their number, at least 1: without RandR 1.5 the whole root is one monitor
 * named "screen". Errors: -EIO with *cause set; then *out is NULL and *n 0.
 */
int grab_monitors(struct grab *g, struct screen_monitor **out /* OUT */, size_t *n /* OUT */,
		  char **cause);

#endif
