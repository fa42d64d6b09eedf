/*
 * pointer_x11: the X11 backend's pointer query on a connection the caller
 * brings (tests and benchmarks that make their own windows); everything else
 * asks through pointer.h.
 */
#ifndef MIMIC_POINTER_X11_H
#define MIMIC_POINTER_X11_H

#include <stdint.h>
#include <xcb/xcb.h>

#include "uia.h"

/*
 * pointer_hint on conn, whose root window is root: fills *out for the window under
 * the pointer, *x and *y (NULL allowed) with the pointer's position. Returns 0, or
 * -EIO when the server did not answer.
 */
int pointer_x11_hint(xcb_connection_t *conn, xcb_window_t root,
                     struct uia_window_hint *out /* OUT */, int32_t *x, int32_t *y);

#endif
