/*
 * desktop: the top-level windows on the screen in stacking order, with the
 * class, title, pid and executable of each, for scope (guard's scope.h, which
 * judges them with the policy and computes what may be kept); and the
 * accessibility bus the desktop advertises, for uia. Part of the platform seam
 * (docs/ARCHITECTURE.md, "The platform seam"): this header is the contract,
 * platform/<backend>/desktop.c its one implementation.
 *
 * The X11 backend: its own xcb connection; the stacking order is the QueryTree
 * of the root window (bottom to top, with and without a window manager,
 * override-redirect popups included); for each viewable InputOutput child the
 * client window (window_client_of) with WM_CLASS, _NET_WM_NAME or WM_NAME,
 * _NET_WM_PID and its geometry; SubstructureNotify on the root and PropertyChange
 * on every client with a class tell it when to read again. The accessibility bus
 * is the AT_SPI_BUS property of the root window, as libatspi reads it.
 *
 * Used on one thread; never logs titles or classes.
 */
#ifndef MIMIC_DESKTOP_H
#define MIMIC_DESKTOP_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* Most top-level windows read; the rest (above them) are not reported. */
#define DESKTOP_WINDOWS_MAX 512

/* One viewable top-level window, as desktop_read reports it. */
struct desktop_window {
	struct image_rect frame;   /* its outer rectangle (border and decorations included) */
	struct image_rect client;  /* the client's area in root coordinates (frame: unknown) */
	int32_t pid;               /* the client's process, 0 when unknown */
	uint32_t window;           /* the client window's id */
	int has_class;             /* 1 when the client names its application (WM_CLASS) */
	/* Valid during the callback only; "" when unknown. */
	const char *instance;      /* WM_CLASS instance, e.g. "xterm" */
	const char *class_name;    /* WM_CLASS class, e.g. "XTerm" */
	const char *title;
	const char *exe;           /* the executable of pid (/proc/PID/exe) */
};

struct desktop;

/*
 * Connects to display (NULL: $DISPLAY) and starts following the windows. Errors
 * with a one-line *cause: -ENXIO no display.
 */
int desktop_open(const char *display, struct desktop **out /* OUT */, char **cause);

/* Closes the connection and frees d. NULL is allowed. */
void desktop_close(struct desktop *d);

/* The connection's file descriptor, to poll for readability. */
int desktop_fd(struct desktop *d);

/*
 * Handles the events received: with do_read, after one read from the connection
 * (call it so when desktop_fd polled readable, or when not polling); without,
 * only those already read while waiting for replies, with no system call.
 * Returns 1 when windows were mapped, unmapped, moved, resized, restacked or
 * renamed since the last desktop_read (read them again), 0 when not, -EPIPE when
 * the connection was lost.
 */
int desktop_dispatch(struct desktop *d, int do_read);

/*
 * Reads the windows again and calls each(arg, w) for every viewable top-level
 * window, bottom to top (at most DESKTOP_WINDOWS_MAX). Returns how many were
 * reported, or -EPIPE when the display did not list its windows.
 */
int desktop_read(struct desktop *d, void (*each)(void *arg, const struct desktop_window *w),
                 void *arg);

/*
 * Copies the address of the accessibility bus the desktop advertises into dst
 * (NUL-terminated, cut to n bytes); "" when it advertises none or cannot be
 * reached. Opens and closes a connection of its own to $DISPLAY.
 */
void desktop_a11y_bus(char *dst, size_t n);

#endif
