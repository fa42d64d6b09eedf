/*
 * reduce_int.h: what the reducer's own files share, and nothing outside them may
 * include. The reducer (reduce.h) is one module in several files, one concern each:
 *
 *   reduce.c          parameters, the public entry points, the action being built
 *                     and the queue of completed ones, focus changes, pauses, waits
 *   reduce_keys.c     the keyboard: typing runs, key presses, hotkeys, modifiers
 *   reduce_pointer.c  the pointer: paths, clicks, drags, scrolls, moves
 *   reduce_label.c    names and interaction labels of completed actions
 *   reduce_text.c     text both renderers write: a bounded string builder, UTF-8
 *                     repair, locale-free numbers, xdotool key syntax
 *   reduce_py.c       the pyautogui rendering
 *   reduce_json.c     the computer-use tool call and the step JSON (jansson)
 *
 * The state machine (the first four files) renders nothing, so the renderers' cost
 * never reaches the per-event path; the renderers see only struct reduce_action.
 */
#ifndef MIMIC_REDUCE_INT_H
#define MIMIC_REDUCE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "reduce.h"

#define NS_PER_MS INT64_C(1000000)

/* Source bits while an action is built; turned into enum reduce_source on emit. */
#define SRC_HUMAN 1u
#define SRC_SYNTH 2u
#define SRC_AGENT 4u

#define MOD_ALTGR 128u
#define MODS_CHORD (REDUCE_MOD_CTRL | REDUCE_MOD_ALT | REDUCE_MOD_SUPER)
#define MODS_ALL (MODS_CHORD | REDUCE_MOD_SHIFT)

/* Modifier presses not yet consumed by an action (Shift before a letter, ...). */
#define MODP_MAX 8

/* A pointer path being collected, thinned evenly as it grows. */
struct path {
	int n;                 /* points kept */
	int stride;            /* keep every stride-th sample */
	uint32_t seen;         /* samples offered */
	unsigned src;          /* SRC_* of the samples */
	int32_t ox, oy;        /* where the pointer was before the first sample */
	int64_t first_id, last_id;
	struct reduce_point last;
	struct reduce_point pts[REDUCE_PATH_MAX];
};

/* A mouse button that is down: becomes a click (maybe joining `cur`) or a drag. */
struct held {
	bool on;
	bool merge;            /* may continue the pending click in cur */
	int button;
	unsigned src;
	uint32_t mods;
	int64_t id, t;
	int32_t x, y;
	int32_t ctx;
	int32_t ctx_after;     /* the focus moved while the button was down */
	int64_t focus_id;
	int n_modp;
	int64_t modp[MODP_MAX];
};

struct modp {
	int keycode;
	int64_t id;
};

struct reduce {
	struct reduce_params p;
	int64_t dc_ns, type_ns, scroll_ns, wait_ns, follow_ns;
	int64_t dc_px2, drag_px2;
	reduce_element_fn el_fn;
	void *el_arg;
	bool finished;

	int64_t now;           /* time of the latest event (never goes back) */
	bool have_input;
	int64_t last_input_t;  /* the latest key, button, motion or scroll */
	unsigned last_src;
	bool ctx_known;
	bool after_pause;      /* the next focus event re-establishes the window */
	int32_t ctx;
	bool ptr_known;
	int32_t ptr_x, ptr_y;

	/* The action being built. */
	bool cur_on;
	bool cur_hot_held;     /* hotkey: its modifiers have stayed down since */
	int64_t cur_deadline;  /* an event at or after this time completes cur */
	int64_t cur_press_t;   /* click: the last press, for the double-click test */
	int32_t cur_press_x, cur_press_y;
	struct reduce_action cur;

	struct held held;
	struct path pre;       /* motion since the last action */
	struct path drag;      /* motion while a button is held */

	/* Keyboard state, by keycode. */
	uint8_t down[256];
	uint8_t modbit[256];   /* the modifier bit a held key contributes, 0 none */
	int64_t key_owner[256]; /* anchor of the action that took the key's press */
	int modcnt[8];
	uint32_t held_mods;
	int n_modp;
	struct modp modp[MODP_MAX];
	int tap_kc;            /* a modifier pressed with nothing else since; -1 none */
	int64_t tap_id, tap_t;
	unsigned tap_src;
	char tap_key[EVENT_KEYSYM_MAX];

	/* Completed actions. The last one stays back while `open`. */
	struct reduce_action *q;
	size_t q_cap, q_head, q_tail;
	bool open;

	bool combo_open;       /* labels: a combo box was clicked and is open */
};

/*
 * Small helpers every state-machine file calls for nearly every event: inline, so
 * that the split into files costs the hot path no calls.
 */
static inline unsigned src_bit(const struct event *ev)
{
	return ev->source == EVENT_SOURCE_SYNTHETIC ? SRC_SYNTH :
	       ev->source == EVENT_SOURCE_AGENT ? SRC_AGENT : SRC_HUMAN;
}

static inline int64_t dist2(int32_t x1, int32_t y1, int32_t x2, int32_t y2)
{
	int64_t dx = (int64_t)x1 - x2, dy = (int64_t)y1 - y2;

	return dx * dx + dy * dy;
}

/* Counts event id in a's provenance; own: one of a's own events (listed in ids). */
static inline void prov_add(struct reduce_action *a, int64_t id, bool own)
{
	if (a->ev_count == 0) {
		a->ev_first = a->ev_last = id;
	} else {
		if (id < a->ev_first)
			a->ev_first = id;
		if (id > a->ev_last)
			a->ev_last = id;
	}
	a->ev_count++;
	if (!own)
		return;
	if (a->n_ids < REDUCE_IDS_MAX) {
		a->ids[a->n_ids++] = id;
	} else {
		a->ids[REDUCE_IDS_MAX - 1] = id;
		a->ids_truncated = 1;
	}
}

/* Counts count events first..last (path motion) in a's provenance. */
static inline void prov_range(struct reduce_action *a, int64_t first, int64_t last, uint32_t count)
{
	if (count == 0)
		return;
	if (a->ev_count == 0) {
		a->ev_first = first;
		a->ev_last = last;
	} else {
		if (first < a->ev_first)
			a->ev_first = first;
		if (last > a->ev_last)
			a->ev_last = last;
	}
	a->ev_count += count;
}

/* reduce.c: the action being built and the queue. */
struct reduce_action *reduce_cur_start(struct reduce *r, int kind, const struct event *ev,
                                       int64_t t, unsigned src);
void reduce_cur_flush(struct reduce *r);

/* reduce_keys.c */
void reduce_key_press(struct reduce *r, const struct event *ev, int64_t t);
void reduce_key_release(struct reduce *r, const struct event *ev, int64_t t);
void reduce_keys_reset(struct reduce *r);
void reduce_take_modp(struct reduce *r, struct reduce_action *a);

/* reduce_pointer.c */
void reduce_path_reset(struct path *p);
void reduce_absorb_pre(struct reduce *r, struct reduce_action *a, bool keep);
void reduce_emit_move(struct reduce *r);
void reduce_button_press(struct reduce *r, const struct event *ev, int64_t t);
void reduce_button_release(struct reduce *r, const struct event *ev, int64_t t);
void reduce_motion(struct reduce *r, const struct event *ev, int64_t t);
void reduce_scroll(struct reduce *r, const struct event *ev, int64_t t);

/* reduce_label.c: sets a's interaction (and its element id) as it is taken. */
void reduce_label(struct reduce *r, struct reduce_action *a);

/* ------------------------------------------------------------------------- */
/* reduce_text.c: for the renderers                                           */

/*
 * The most bytes a pyautogui or computer-use rendering inside the step JSON may
 * take (NUL included); a longer one is null there. Python escapes take at most 4
 * bytes per byte of typed text.
 */
#define REDUCE_RENDER_MAX (4 * REDUCE_TEXT_MAX + 512)

/* A string builder over a caller's buffer: what does not fit is cut, and remembered. */
struct reduce_sb {
	char *p;
	size_t n, len;
	bool over;
};

void reduce_sb_init(struct reduce_sb *b, char *buf, size_t n);
void reduce_sb_putn(struct reduce_sb *b, const char *s, size_t k);
void reduce_sb_puts(struct reduce_sb *b, const char *s);
void reduce_sb_putc(struct reduce_sb *b, char c);
/* Only for integers and strings: doubles go through reduce_sb_fixed (locale-free). */
void reduce_sb_printf(struct reduce_sb *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* 0, or -ENOSPC when something was cut. */
int reduce_sb_result(const struct reduce_sb *b);

/*
 * Appends s as valid UTF-8: an invalid, overlong or truncated sequence or a
 * surrogate becomes U+FFFD. Each character goes through esc first when esc is not
 * NULL: esc appends an escaped form and returns true, or returns false for the
 * character to be written as it is.
 */
void reduce_sb_text(struct reduce_sb *b, const char *s,
                    bool (*esc)(struct reduce_sb *b, uint32_t c));

/*
 * v rounded half away from zero to dec (0..6) decimals, as a whole number of
 * 10^-dec (0 for a value that is not finite or beyond 1e12): 3.25 with 2 is 325.
 */
int64_t reduce_fixed(double v, int dec);

/* Writes reduce_fixed(v, dec) with a '.' whatever the locale; with trim, trailing
 * zeros (and a bare '.') are dropped: 3.5, 3, 0.25. */
void reduce_sb_fixed(struct reduce_sb *b, double v, int dec, bool trim);

/* Whole wheel clicks for APIs that take integers: rounded, at least one. */
long reduce_whole_clicks(double amount);

/* The modifiers in the order both renderings name them, with their names there. */
struct reduce_mod_name {
	uint32_t bit;
	const char *py, *xdo;
};
#define REDUCE_N_MODS 4
extern const struct reduce_mod_name reduce_mod_names[REDUCE_N_MODS];

/* "ctrl+shift+t", "Return", "alt+Tab": one press in xdotool key syntax. */
void reduce_sb_xdo_chord(struct reduce_sb *b, uint32_t mods, const char *key);

/* "ctrl+shift": the modifiers held during a click or scroll, in xdotool syntax. */
void reduce_sb_xdo_mods(struct reduce_sb *b, uint32_t mods);

#endif
