/*
 * indicator: what the person sees of the recorder and the controls it takes
 * from the keyboard (docs/POLICY.md).
 *
 * Through the platform's overlay (overlay.h; with X11 on its own connection): a
 * small window in the top-right corner of the screen, always raised above other
 * windows, whose colour and label say "REC" (recording), "PAUSED", "NOT IN
 * SCOPE" or "PAUSED  new notice" (a new policy's notice awaits `mimic consent`); the global pause hotkey; and whether the screen is locked. There is no
 * way to hide the window: mimic does not record when it cannot show it.
 */
#ifndef MIMIC_INDICATOR_H
#define MIMIC_INDICATOR_H

#include <stdint.h>

struct indicator;

enum indicator_state {
	INDICATOR_RECORDING = 0,
	INDICATOR_PAUSED = 1,
	INDICATOR_OUT_OF_SCOPE = 2,
	INDICATOR_CONSENT = 3,       /* paused until the person agrees to a new notice */
};

/* The window's WM_NAME and WM_CLASS (instance, class), for tests and people. */
#define INDICATOR_NAME "mimic recording indicator"
#define INDICATOR_INSTANCE "mimic-indicator"
#define INDICATOR_CLASS "Mimic"

/*
 * Connects to display (NULL: $DISPLAY), creates and maps the window and waits
 * until the server reports it viewable. hotkey_sym (an X keysym name, NULL for
 * none) with hotkey_mods (POLICY_MOD_* bits) is grabbed as the pause hotkey.
 * A hotkey another client has grabbed is left out with a warning in the log.
 * Errors with a one-line *cause: -ENXIO no display, -EIO the window could not
 * be created or shown.
 */
int indicator_open(const char *display, const char *hotkey_sym, uint32_t hotkey_mods,
                   struct indicator **out /* OUT */, char **cause);

/* Unmaps the window, closes the connection, frees ind. NULL is allowed. */
void indicator_close(struct indicator *ind);

/* The overlay's connection's file descriptor, to poll for readability. */
int indicator_fd(struct indicator *ind);

/* Shows state (redraws only when it changed). */
void indicator_set_state(struct indicator *ind, enum indicator_state state);

/*
 * Handles the events received: redraws, keeps the window on top, reports
 * the hotkey. do_read as for desktop_dispatch. Returns the number of hotkey
 * presses seen (0 or more), or -EPIPE when the connection was lost.
 */
int indicator_dispatch(struct indicator *ind, int do_read);

/* The keycode of the pause hotkey (0 when none), so the recorder can drop its keys. */
uint32_t indicator_hotkey_keycode(const struct indicator *ind);

/* 1 when the screen saver (and with it a screen locker) is on, 0 when not or unknown. */
int indicator_screen_locked(struct indicator *ind);

/* The display's window id of the indicator (X11: the X window). */
uint32_t indicator_window(const struct indicator *ind);

#endif
