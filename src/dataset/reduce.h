/*
 * reduce: turns a session's raw input events (docs/EVENTS.md) into the actions an
 * agent is trained on: clicks, drags, scrolls, typed text, hotkeys, key presses,
 * pointer moves, waits and window switches (docs/ACTIONS.md).
 *
 * The reducer is pure and deterministic: its output depends only on the events
 * pushed and the parameters, never on the clock or the X server, so a recording
 * reduces to the same actions every time and the reduction is unit-testable. It
 * is streaming and allocation-light: events are pushed one at a time in recorded
 * order, memory does not grow with the session (only the queue of completed
 * actions the caller has not taken yet), and nothing is allocated per event.
 *
 * Use:
 *   reduce_new(&params, &r);
 *   for each event: reduce_push(r, &ev); while ((a = reduce_take(r))) use(a);
 *   reduce_finish(r); while ((a = reduce_take(r))) use(a);
 *   reduce_free(r);
 *
 * Nothing here logs: actions hold typed text, which must never reach a log.
 */
#ifndef MIMIC_REDUCE_H
#define MIMIC_REDUCE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "event.h"

/* Most points kept of a pointer path (thinned evenly; the first and last are kept). */
#define REDUCE_PATH_MAX 64
/* Most event ids listed in an action's provenance (the first ones and the last). */
#define REDUCE_IDS_MAX 32
/* Bytes of typed text one `type` action holds; a longer run is split there. */
#define REDUCE_TEXT_MAX 1024

/*
 * The thresholds. They are plain data so the exporter can take them from the
 * settings and write them into every export (reduce_params_json). Defaults, from
 * reduce_params_defaults, and why (docs/ACTIONS.md has the long form):
 */
struct reduce_params {
	int double_click_ms; /* 500: a press this soon after the last one (press to press) ... */
	int double_click_px; /* 5: ... and this close continues a double / triple click */
	int drag_min_px;     /* 5: a release farther than this from its press is a drag */
	int type_gap_ms;     /* 1000: a pause this long between keys ends a typing run */
	int scroll_gap_ms;   /* 300: a pause this long between wheel clicks ends a scroll */
	int wait_ms;         /* 3000: no input for this long is a `wait` action */
	int focus_follow_ms; /* 1000: a focus change this soon after a click or key is its result */
	int path_max;        /* 64: points kept of a pointer path, even, 2..REDUCE_PATH_MAX */
};

/* Fills *p with the defaults above. */
void reduce_params_defaults(struct reduce_params *p /* OUT */);

/*
 * Checks p: every time and distance >= 0, path_max even and in 2..REDUCE_PATH_MAX.
 * Returns 0 or -EINVAL with *cause naming the bad field (cause may be NULL).
 */
int reduce_params_check(const struct reduce_params *p, char **cause);

/*
 * Writes p as one compact JSON object ({"double_click_ms":500,...}) into buf of
 * size n, NUL-terminated. Returns 0, or -ENOSPC when buf is too small (the text
 * is cut), -EINVAL when p or buf is NULL.
 */
int reduce_params_json(const struct reduce_params *p, char *buf, size_t n);

/* What an action is. Values are written into exports by name (reduce_action_name). */
enum reduce_kind {
	REDUCE_CLICK = 1,  /* press+release in place; `count` 1..3 clicks, `button` */
	REDUCE_DRAG = 2,   /* press, move farther than drag_min_px, release */
	REDUCE_SCROLL = 3, /* a run of wheel clicks in one direction */
	REDUCE_TYPE = 4,   /* a run of keys that produced text, after its edits */
	REDUCE_HOTKEY = 5, /* a key with Ctrl, Alt or Super held (`mods`, `key`) */
	REDUCE_PRESS = 6,  /* a key that produced no text: Return, Tab, arrows, ... */
	REDUCE_MOVE = 7,   /* pointer motion that no action followed before a wait */
	REDUCE_WAIT = 8,   /* no input for wait_ms or more */
	REDUCE_SWITCH = 9, /* the focused window changed and no input of ours caused it */
};

/* What kind of interaction an action is (set when the action is taken). */
enum reduce_interaction {
	REDUCE_I_OTHER = 0,
	REDUCE_I_CLICK,              /* a click on nothing more specific (or no element known) */
	REDUCE_I_DROPDOWN_SELECTION, /* combo box opened, or an item picked from it */
	REDUCE_I_MENU_NAVIGATION,    /* menu bar, menu, menu item */
	REDUCE_I_KEYBOARD_SHORTCUT,  /* a hotkey */
	REDUCE_I_TEXT_ENTRY,         /* typed text */
	REDUCE_I_FORM_NAVIGATION,    /* Tab, Shift+Tab, Return */
	REDUCE_I_BUTTON_PRESS,       /* push / toggle button, check box, radio button */
	REDUCE_I_DRAG_AND_DROP,
	REDUCE_I_SCROLLING,
	REDUCE_I_WINDOW_SWITCH,      /* focus change, Alt+Tab, a click into another window */
	REDUCE_I_MAX_
};

/* Where an action's events came from (the same numbers as enum event_source). */
enum reduce_source {
	REDUCE_SOURCE_HUMAN = 0,
	REDUCE_SOURCE_SYNTHETIC = 1,
	REDUCE_SOURCE_MIXED = 2, /* events of more than one source */
	REDUCE_SOURCE_AGENT = 3, /* from the agent server's devices (docs/AGENTS.md) */
};

/* Modifier bits of reduce_action.mods: the xkb mask values of docs/EVENTS.md. */
#define REDUCE_MOD_SHIFT 1u
#define REDUCE_MOD_CTRL 4u
#define REDUCE_MOD_ALT 8u
#define REDUCE_MOD_SUPER 64u

struct reduce_point {
	int32_t x, y;   /* root coordinates */
	int64_t t_ns;   /* when the recorder received the motion sample */
};

/*
 * What the UI-element module knows of the element an event hit (the element under
 * the pointer for a button, the focused one for a key). Roles are compared without
 * case, spaces, '_' or '-', so AT-SPI "combo box", "combo_box" and UIA "ComboBox"
 * all match. The strings only need to live until the lookup's next call.
 */
struct reduce_element {
	int64_t id;                   /* the element's id in the store; 0 = none */
	const char *role;             /* "push button", "combo box", "menu item", ... */
	const char *name;             /* accessible name; may be NULL */
	const char *const *ancestors; /* roles of the ancestors, nearest first; may be NULL */
	size_t n_ancestors;
};

/*
 * Returns the element for the raw event with this id, or NULL when unknown. Called
 * once per action, with its anchor event, when the action is taken.
 */
typedef const struct reduce_element *(*reduce_element_fn)(void *arg, int64_t event_id);

/*
 * One action. Plain data; fields that do not apply to the kind are 0.
 */
struct reduce_action {
	int kind;               /* enum reduce_kind */
	int interaction;        /* enum reduce_interaction */
	int source;             /* enum reduce_source, over the action's own events */
	int32_t context;        /* context seq (window) when the action began; 0 = unknown */
	int32_t context_after;  /* the window focused as a result of the action; 0 = none */
	int64_t t_start_ns;     /* the anchor event (first press, first key, first wheel click) */
	int64_t t_end_ns;       /* the last event of the action */
	int32_t x, y;           /* click / scroll / move position; drag start */
	int32_t x2, y2;         /* drag: end */
	int button;             /* click, drag: 1 left, 2 middle, 3 right, 8 back, 9 forward */
	int count;              /* click: 1..3 clicks; press, hotkey: times pressed; else 1 */
	uint32_t mods;          /* REDUCE_MOD_* held (click, drag, scroll, press, hotkey) */
	char key[EVENT_KEYSYM_MAX]; /* press, hotkey: the xkb keysym name ("s", "Return") */
	int scroll_dir;         /* scroll: enum scroll_dir */
	double scroll_amount;   /* scroll: wheel clicks (fractional when smooth) */
	double scroll_dx;       /* scroll: clicks, > 0 right */
	double scroll_dy;       /* scroll: clicks, > 0 down */
	int64_t duration_ns;    /* wait: how long nothing happened */
	size_t text_len;        /* type: bytes in text */
	/* Provenance. anchor_id is the event the action is "at" (its element and its
	 * pre-action frame belong to it). ev_first..ev_last and ev_count cover every raw
	 * event the action consumed, motion of its path and releases included; ids lists
	 * the action's own events (not path motion) in order: when there are more than
	 * REDUCE_IDS_MAX, the first REDUCE_IDS_MAX - 1 and the last, ids_truncated set. */
	int64_t anchor_id;
	int64_t ev_first, ev_last;
	uint32_t ev_count;
	int n_ids;
	int ids_truncated;
	/* Filled later by the exporter (element_id also by the lookup); 0 = none. */
	int64_t element_id;
	int64_t pre_frame;
	int64_t post_frame;
	/* The pointer path: for a drag, the trajectory while the button was held; for any
	 * other action, the motion since the previous action. path_seen counts all raw
	 * samples, of which path_len are kept (evenly thinned, first and last kept). */
	int path_len;
	uint32_t path_seen;
	/* The arrays come last so that starting an action clears only the fields above. */
	int64_t ids[REDUCE_IDS_MAX];
	struct reduce_point path[REDUCE_PATH_MAX];
	char text[REDUCE_TEXT_MAX]; /* type: the final UTF-8 text, NUL-terminated */
};

struct reduce;

/*
 * Creates a reducer with parameters p (NULL: the defaults), copied. Returns 0, or
 * -EINVAL when p fails reduce_params_check (*out untouched). Never fails for memory.
 */
int reduce_new(const struct reduce_params *p, struct reduce **out /* OUT */);

/* Sets the element lookup used to label actions (fn NULL: none). */
void reduce_set_elements(struct reduce *r, reduce_element_fn fn, void *arg);

/*
 * Feeds one event, in recorded order. Events of unknown kinds are ignored; a time
 * that goes backwards is taken as the previous time. Returns 0, or -EINVAL when r
 * or ev is NULL or reduce_finish was called.
 */
int reduce_push(struct reduce *r, const struct event *ev);

/*
 * Ends the session: completes every pending action (a button still held is dropped:
 * its release was not recorded). Returns 0 or -EINVAL (NULL, or called twice).
 */
int reduce_finish(struct reduce *r);

/*
 * Returns the next completed action, labelled, in order, or NULL when none is ready.
 * The pointer is owned by r and valid until the next call to any reduce_ function
 * on r; the caller may fill element_id, pre_frame and post_frame in it. The most
 * recent click or key action is held back until focus_follow_ms of later events
 * (or reduce_finish) show whether it switched windows.
 */
struct reduce_action *reduce_take(struct reduce *r);

/* Frees r and everything it owns. NULL is allowed. */
void reduce_free(struct reduce *r);

/*
 * The action's stable name: "click", "double_click", "triple_click", "right_click",
 * "middle_click", "back_click", "forward_click", "drag", "scroll", "type",
 * "hotkey", "press", "move", "wait", "switch"; "unknown" for a bad kind.
 */
const char *reduce_action_name(const struct reduce_action *a);

/* "other", "click", "dropdown_selection", ...; NULL when out of range. */
const char *reduce_interaction_name(int interaction);

/* "human", "synthetic", "mixed"; NULL when out of range. */
const char *reduce_source_name(int source);

/*
 * Renders a as pyautogui code (OpenCUA style), one statement per line, no trailing
 * newline: `pyautogui.click(x=200, y=150)`, or with normalised != 0 the coordinates
 * divided by the screen size with 4 decimals: `pyautogui.click(x=0.1563, y=0.1875)`
 * (screen_w and screen_h must then be > 0). Returns 0; -ENOTSUP when the action has
 * no pyautogui form (a window switch, back/forward clicks), buf then ""; -ENOSPC when
 * buf is too small (cut, NUL-terminated); -EINVAL for bad arguments.
 */
int reduce_action_pyautogui(const struct reduce_action *a, int screen_w, int screen_h,
                            int normalised, char *buf, size_t n);

/*
 * Renders a as one computer-use tool call (Anthropic "computer" tool, 2025-01) as
 * compact JSON: {"action":"left_click","coordinate":[200,150]}. Same returns as
 * reduce_action_pyautogui (-ENOTSUP: no such call, e.g. a right-button drag), and
 * -ENOMEM when out of memory.
 */
int reduce_action_computer_use(const struct reduce_action *a, char *buf, size_t n);

/*
 * Builds the step JSON of docs/ACTIONS.md (docs/schema/action.schema.json) for a
 * into *out, a new reference the caller drops with json_decref: every field above,
 * and its pyautogui (absolute; normalised too when screen_w and screen_h are > 0)
 * and computer-use renderings, null where a has none (or where one would be longer
 * than 4 * REDUCE_TEXT_MAX + 512 bytes). Scroll amounts are rounded to 4 decimals,
 * durations to 3. Returns 0, -EINVAL (a or out NULL) or -ENOMEM.
 */
int reduce_action_step(const struct reduce_action *a, int screen_w, int screen_h,
                       json_t **out /* OUT */);

/*
 * Writes reduce_action_step's JSON as compact text into buf of size n (reals with
 * 15 significant digits, so a rounded amount reads as rounded). Same returns as
 * reduce_action_pyautogui (never -ENOTSUP); -ENOMEM when out of memory.
 */
int reduce_action_json(const struct reduce_action *a, int screen_w, int screen_h,
                       char *buf, size_t n);

#endif
