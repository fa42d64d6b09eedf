/*
 * keymap: turns X keycodes into keysym names and text with xkbcommon-x11, for
 * the core keyboard of one X connection.
 *
 * The keymap and the keyboard state come from the X server, not from guesses:
 * the state follows XKB StateNotify events (modifiers, locks, groups exactly as
 * the server sees them), and the keymap is rebuilt after XKB NewKeyboardNotify
 * and MapNotify, so that after `setxkbmap de` the next keys give 'ä', and '@'
 * through AltGr. Used by capture on the input thread; not thread-safe.
 */
#ifndef MIMIC_KEYMAP_H
#define MIMIC_KEYMAP_H

#include <stddef.h>
#include <stdint.h>
#include <xcb/xcb.h>

struct keymap;

/*
 * Sets up XKB on conn, reads the core keyboard's keymap and state, selects the
 * XKB events that keep them current, and reads the rules names from the
 * _XKB_RULES_NAMES property of root. The caller keeps conn open for the life of
 * the keymap and must pass every event it receives to keymap_handle_event (and
 * select PropertyChange on root, for layout names). Errors with a one-line
 * *cause: -ENOTSUP when the server lacks XKB, -EIO when the keymap cannot be read.
 */
int keymap_open(xcb_connection_t *conn, xcb_window_t root, struct keymap **out /* OUT */,
                char **cause);

/* Frees km (NULL is allowed); conn stays open. */
void keymap_close(struct keymap *km);

/*
 * Looks at one X event: XKB StateNotify updates the state, NewKeyboardNotify and
 * MapNotify mark the keymap for a rebuild (done by keymap_update, so that a burst
 * of them costs one rebuild), PropertyNotify of _XKB_RULES_NAMES on root marks the
 * names for a re-read. Other events are ignored. Returns 1 when the layout in
 * effect changed (a group switch), else 0.
 */
int keymap_handle_event(struct keymap *km, const xcb_generic_event_t *ev);

/* 1 when keymap_update has work to do. */
int keymap_pending(const struct keymap *km);

/*
 * Does the work keymap_handle_event deferred: rebuilds the keymap and state from
 * the server (round trips) and re-reads the rules names. Returns 1 when the
 * summary or the layout in effect changed, 0 when nothing changed, or a negative
 * code when the server could not be read (the previous keymap stays in use).
 * Call it before translating a key and after each batch of events.
 */
int keymap_update(struct keymap *km);

/*
 * Translates the key with X keycode `keycode` in the current state: the keysym
 * name (xkb_keysym_get_name, "" for none) and, when `text` is not NULL, the
 * printable UTF-8 it produces ("" for control characters such as Return, Tab,
 * BackSpace or Ctrl+S: those are told by their keysym). Does not change the state;
 * the server's StateNotify does. Outputs are always NUL-terminated.
 */
void keymap_key(struct keymap *km, uint32_t keycode, char *keysym /* OUT */, size_t keysym_size,
                char *text /* OUT */, size_t text_size);

/*
 * keymap_key for the agent server's keyboard (inject.h): a master of its own,
 * whose modifiers the core keyboard's state does not show. Its state is followed
 * here from its own key events: translates keycode in it (text only on a press),
 * sets *mods to its modifiers before the key, then applies the press or release.
 */
void keymap_agent_key(struct keymap *km, uint32_t keycode, int press, char *keysym /* OUT */,
                      size_t keysym_size, char *text /* OUT */, size_t text_size,
                      uint32_t *mods /* OUT */);

/* The agent keyboard's effective modifiers (for its pointer's clicks). */
uint32_t keymap_agent_mods(const struct keymap *km);

/* The effective modifier mask (xkb_state_serialize_mods, XKB_STATE_MODS_EFFECTIVE). */
uint32_t keymap_mods(const struct keymap *km);

/* The effective layout index (XKB group), 0 for the first layout. */
int keymap_group(const struct keymap *km);

/*
 * "rules/model/layout[/variant]" from _XKB_RULES_NAMES, e.g. "evdev/pc105/us" or
 * "evdev/pc105/de/nodeadkeys"; when the property is missing, "?/?/" followed by
 * xkbcommon's name of the first layout. Valid until the next keymap_update.
 */
const char *keymap_summary(const struct keymap *km);

/*
 * The layout in effect as its code from the rules names (the group's entry of the
 * comma-separated layout list, e.g. "de"), with "(variant)" when it has one; "" when
 * unknown. Cut to fit; always NUL-terminated.
 */
void keymap_layout(const struct keymap *km, char *out /* OUT */, size_t size);

#endif
