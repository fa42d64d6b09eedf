/*
 * inject: input that mimic's agent server (src/agent) sends to the display
 * through input devices of its own, so that the recorder can tell the agent's
 * events from a person's and from other programs' (docs/AGENTS.md).
 *
 * On X11 inject_open creates a dedicated XInput 2 master pointer/keyboard pair
 * named INJECT_DEVICE_NAME; the server gives it two XTEST slaves
 * ("mimic agent XTEST pointer", "mimic agent XTEST keyboard") and every event is
 * sent with XTEST on those, so the raw events carry their device ids. The pair is
 * a second pointer (MPX): it has its own position, which inject_move sets, and its
 * own keyboard focus, which inject_follow_focus sets to the window the person's
 * keyboard has focused. inject_close removes the pair.
 *
 * One thread; all coordinates are root (screen) coordinates.
 */
#ifndef MIMIC_INJECT_H
#define MIMIC_INJECT_H

#include <stdint.h>

/* The master pair's name; the recorder knows agent devices by this prefix. */
#define INJECT_DEVICE_NAME "mimic agent"

struct inject;

/*
 * Connects to display (NULL: $DISPLAY) and creates the master pair. Errors with a
 * one-line *cause: -ENXIO no display, -ENOTSUP no XInput 2.2 or XTEST, -EIO the
 * server refused the pair.
 */
int inject_open(const char *display, struct inject **out /* OUT */, char **cause);

/* Removes the master pair (its slaves go with it), closes the connection, frees in. NULL is fine. */
void inject_close(struct inject *in);

/* The screen's size in pixels. */
void inject_screen_size(const struct inject *in, int32_t *w /* OUT */, int32_t *h /* OUT */);

/* Moves the agent's pointer to (x, y), which must be on the screen (-EINVAL otherwise). */
int inject_move(struct inject *in, int32_t x, int32_t y, char **cause);

/* Presses (press 1) or releases (0) button 1..7 of the agent's pointer (4..7: wheel). */
int inject_button(struct inject *in, int button, int press, char **cause);

/*
 * Presses or releases the key that produces keysym on the agent's keyboard,
 * holding Shift around it when the keysym is on the key's shifted level (a
 * press only; the caller releases in reverse order). -ENOENT with a cause when
 * no key of the current layout produces it (mimic does not remap keys).
 */
int inject_keysym(struct inject *in, uint32_t keysym, int press, char **cause);

/* 1 when a key of the current layout produces keysym (on its plain or shifted level), else 0. */
int inject_has_keysym(struct inject *in, uint32_t keysym);

/* The keysym named name ("Return", "a", "ctrl" and the like as xdotool spells them); 0 if unknown. */
uint32_t inject_keysym_from_name(const char *name);

/* The keysym that types the Unicode code point cp; 0 if none. */
uint32_t inject_keysym_from_char(uint32_t cp);

/* Gives the agent's keyboard the focus of the person's keyboard (before typing). */
int inject_follow_focus(struct inject *in, char **cause);

/* The agent pointer's position. */
int inject_pointer(struct inject *in, int32_t *x /* OUT */, int32_t *y /* OUT */, char **cause);

/* Waits until the display has handled everything sent so far; -EPIPE when it is gone. */
int inject_sync(struct inject *in);

#endif
