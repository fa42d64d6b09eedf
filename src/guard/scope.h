/*
 * scope: which parts of the screen show in-scope windows (docs/POLICY.md).
 *
 * Follows the top-level windows through the platform's desktop (desktop.h; with
 * X11 on its own connection: the stacking order, bottom to top, with and without
 * a window manager, override-redirect popups included) and their class, title
 * and executable, judges each with policy_check, and computes the
 * visible rectangles of in-scope windows: each in-scope client area minus
 * every window stacked above it. The recorder feeds these to
 * frames_set_keep so that pixels of anything else are masked before encoding,
 * and drops pointer events outside them.
 *
 * A window without WM_CLASS is kept only when it belongs (by _NET_WM_PID) to
 * an in-scope application (menus, tooltips); otherwise it is masked. (Password
 * fields and prompts are masked by the recorder, which knows the focus.) Used
 * on one thread; never logs titles or classes.
 */
#ifndef MIMIC_SCOPE_H
#define MIMIC_SCOPE_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "policy.h"

/* Most rectangles the visible in-scope area is described with. */
#define SCOPE_RECTS_MAX 64

struct scope;

/*
 * Connects to display (NULL: $DISPLAY) and reads the windows. pol must outlive
 * the scope. Errors with a one-line *cause: -ENXIO no display, -EIO.
 */
int scope_open(const char *display, const struct policy *pol, struct scope **out /* OUT */,
               char **cause);

/* Closes the connection and frees s. NULL is allowed. */
void scope_close(struct scope *s);

/*
 * Judges the windows by pol from now on (a policy applied while recording; pol
 * must outlive the scope or the next call) and recomputes the kept area at once.
 * Returns 1 when the area changed, 0 when not, -EPIPE when the connection was lost.
 */
int scope_set_policy(struct scope *s, const struct policy *pol);

/* The desktop's connection's file descriptor, to poll for readability. */
int scope_fd(struct scope *s);

/*
 * Handles the events received and, when windows were mapped, moved,
 * restacked or retitled, reads them again. do_read as for desktop_dispatch.
 * Returns 1 when the visible in-scope area changed, 0 when not, -EPIPE when
 * the connection was lost.
 */
int scope_dispatch(struct scope *s, int do_read);

/*
 * Copies the visible in-scope rectangles (root coordinates, at most max) and
 * returns how many. When the area needs more than max rectangles, the smallest
 * pieces are left out (masked): never more is kept than is in scope.
 */
size_t scope_keep_rects(const struct scope *s, struct image_rect *out /* OUT */, size_t max);

/*
 * The page the browser window `window` shows, as read from the browser (uia_page):
 * url ("" or NULL: unknown) judges that window instead of its title, a private
 * window is out of scope, and of an in-scope browser window only the document's
 * area doc (w = 0: unknown, the whole window) is kept: the tab strip and the rest
 * of the browser's own interface name other sites. One window at a time (the
 * focused one); window 0 forgets it. Returns 1 when the kept area changed.
 */
int scope_set_page(struct scope *s, uint32_t window, const char *url, int private_window,
                   const struct image_rect *doc);

/* 1 when (x, y) lies in the visible in-scope area. */
int scope_point_kept(const struct scope *s, int32_t x, int32_t y);

/*
 * Removes hole from the n rectangles in rects (capacity max) and returns the new
 * count; pieces that do not fit are left out (masked). Exported for tests.
 */
size_t scope_subtract(struct image_rect *rects, size_t n, size_t max,
                      const struct image_rect *hole);

#endif
