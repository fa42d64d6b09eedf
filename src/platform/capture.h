/*
 * capture: input events and window contexts on the input thread. Part of the
 * platform seam (docs/ARCHITECTURE.md, "The platform seam"): this header is the
 * contract, platform/<backend>/capture.c its one implementation.
 *
 * The contract: every key, button, motion and scroll the person makes, with the
 * pointer position, the key's keysym name and text in the layout in effect, and a
 * human or synthetic tag from its source device; motion thinned to at most ~60
 * samples/s (never dropping the sample right before a press or release); the
 * focused top-level window as a struct context (class, title, pid, executable,
 * geometry), with a new one at every change of focus or title; the keyboard
 * layout and the input devices. Everything goes to the caller through a sink; it
 * never blocks on anything but the display. An input event's t_ns is when it
 * happened, as the display stamped it, on CLOCK_MONOTONIC: handling it late does
 * not change it.
 *
 * The X11 backend: its own xcb connection, XInput 2.2 raw key, button and motion
 * events on the root window for all master devices (and hierarchy changes on all
 * devices) with their server times mapped by clockmap.h, keys turned into keysym names and text with xkbcommon-x11 (keymap.h,
 * following layout changes through XKB events), pointer positions from
 * QueryPointer, wheel buttons 4-7 and smooth-scroll valuators as scroll events,
 * and the focused window followed by window.h (EWMH when a window manager runs, a
 * pointer-based fallback without one).
 */
#ifndef MIMIC_CAPTURE_H
#define MIMIC_CAPTURE_H

#include <stdint.h>

#include "event.h"

struct capture;

/* Where capture delivers what it sees. Called on the thread that calls capture_dispatch/tick. */
struct capture_sink {
	/* An input event, or a focus/title/layout/devices event. ev->context is set. */
	void (*event)(void *arg, const struct event *ev);
	/* A new context snapshot; called before the focus/title event that refers to it. */
	void (*context)(void *arg, const struct context *ctx);
	/* An input device seen (at open, and when devices are added). */
	void (*device)(void *arg, int32_t id, const char *name, int synthetic);
};

struct capture_info {
	int32_t screen_w, screen_h;  /* root window size */
	char keymap[256];            /* e.g. "evdev/pc105/us" (rules/model/layout[/variant]) */
	int has_wm;                  /* 1 when an EWMH window manager was found */
};

/*
 * Connects to display (NULL: $DISPLAY) and starts listening. Errors with a
 * one-line *cause: -ENXIO no display set or it cannot be reached; -ENOTSUP the
 * display cannot give what capture needs (X11: XInput 2.2 or XKB). The sink's device callback is
 * called for each current device and a first context is delivered before return.
 */
int capture_open(const char *display, const struct capture_sink *sink, void *arg,
                 struct capture **out /* OUT */, char **cause);

/* Fills what a session records about the screen and keyboard. */
void capture_get_info(struct capture *c, struct capture_info *out /* OUT */);

/* The connection's file descriptor, to poll for readability. */
int capture_fd(struct capture *c);

/*
 * Reads from the connection once (unless events are already queued) and handles
 * every event received. What that read left unread keeps capture_fd readable.
 * Returns 0, or -EPIPE with a cause when the connection was lost.
 */
int capture_dispatch(struct capture *c, char **cause);

/*
 * Handles only the events already received (read while waiting for a reply),
 * without a system call. Same returns as capture_dispatch.
 */
int capture_dispatch_queued(struct capture *c, char **cause);

/* How many events (input, focus, keyboard) were handled since capture_open. */
uint64_t capture_handled(const struct capture *c);

/*
 * Makes a round trip to the display and handles every event it generated before
 * that, so nothing the person did before a stop request is left unread. Same
 * returns as capture_dispatch.
 */
int capture_sync(struct capture *c, char **cause);

/*
 * Does time-driven work (pointer polling while it moves, flushing a held motion
 * sample). Returns how many milliseconds may pass before it wants to be called
 * again, or -1 when it has nothing pending.
 */
int capture_tick(struct capture *c, int64_t now_mono_ns);

/* Closes the connection and frees c. NULL is allowed. */
void capture_close(struct capture *c);

#endif
