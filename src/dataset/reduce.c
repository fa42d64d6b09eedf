/*
 * reduce: the event → action reducer (docs/ACTIONS.md).
 *
 * One pass over the events, in recorded order, with a small amount of state: the
 * action being built (`cur`: a click that may still become a double click, a typing
 * run, a scroll run, a key that may repeat, a hotkey whose modifiers are still
 * held), the button gesture in progress (`held`), the pointer path since the last
 * action, the keys held down, and a queue of completed actions the caller takes.
 * Only one action is ever being built, so actions come out in the order they
 * began. Nothing here reads a clock: every timeout is measured in event time, by
 * the next event that arrives, which keeps the reduction deterministic.
 *
 * The renderers at the end turn an action into pyautogui code, a computer-use tool
 * call and the step JSON; they format numbers by hand so that a locale with a
 * decimal comma can never change an export.
 */
#include "reduce.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define NS_PER_MS INT64_C(1000000)

/* Source bits while an action is built; turned into enum reduce_source on emit. */
#define SRC_HUMAN 1u
#define SRC_SYNTH 2u

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

/* ------------------------------------------------------------------------- */
/* Parameters                                                                 */

void
reduce_params_defaults(struct reduce_params *p)
{
	p->double_click_ms = 500;
	p->double_click_px = 5;
	p->drag_min_px = 5;
	p->type_gap_ms = 1000;
	p->scroll_gap_ms = 300;
	p->wait_ms = 3000;
	p->focus_follow_ms = 1000;
	p->path_max = 64;
}

int
reduce_params_check(const struct reduce_params *p, char **cause)
{
	static const char *const names[] = {
		"double_click_ms", "double_click_px", "drag_min_px", "type_gap_ms",
		"scroll_gap_ms", "wait_ms", "focus_follow_ms",
	};
	int v[7];
	size_t i;

	if (p == NULL)
		return util_fail(cause, -EINVAL, "no reducer parameters");
	v[0] = p->double_click_ms;
	v[1] = p->double_click_px;
	v[2] = p->drag_min_px;
	v[3] = p->type_gap_ms;
	v[4] = p->scroll_gap_ms;
	v[5] = p->wait_ms;
	v[6] = p->focus_follow_ms;
	for (i = 0; i < 7; i++) {
		/* An hour is far beyond any sensible threshold, and keeps the
		 * arithmetic in nanoseconds and squared pixels far from overflow. */
		if (v[i] < 0 || v[i] > 3600 * 1000)
			return util_fail(cause, -EINVAL, "reducer parameter %s out of range: %d",
			                 names[i], v[i]);
	}
	if (p->path_max < 2 || p->path_max > REDUCE_PATH_MAX || p->path_max % 2 != 0)
		return util_fail(cause, -EINVAL,
		                 "reducer parameter path_max must be even and in 2..%d: %d",
		                 REDUCE_PATH_MAX, p->path_max);
	return 0;
}

/* ------------------------------------------------------------------------- */
/* Output buffer for the renderers                                           */

struct sb {
	char *p;
	size_t n, len;
	bool over;
};

static void
sb_init(struct sb *b, char *buf, size_t n)
{
	b->p = buf;
	b->n = n;
	b->len = 0;
	b->over = false;
	buf[0] = '\0';
}

static void
sb_putn(struct sb *b, const char *s, size_t k)
{
	size_t room;

	if (b->over)
		return;
	room = b->n - 1 - b->len;
	if (k > room) {
		k = room;
		b->over = true;
	}
	memcpy(b->p + b->len, s, k);
	b->len += k;
	b->p[b->len] = '\0';
}

static void
sb_puts(struct sb *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void
sb_putc(struct sb *b, char c)
{
	sb_putn(b, &c, 1);
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Only for integers and strings: doubles go through sb_fixed (locale-free). */
static void
sb_printf(struct sb *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	if ((size_t)k >= sizeof tmp)
		k = sizeof tmp - 1;
	sb_putn(b, tmp, (size_t)k);
}

/*
 * Writes v with `dec` decimals (rounded half away from zero), with a '.' whatever
 * the locale; with trim, trailing zeros (and a bare '.') are dropped: 3.5, 3, 0.25.
 */
static void
sb_fixed(struct sb *b, double v, int dec, bool trim)
{
	static const int64_t pow10[] = { 1, 10, 100, 1000, 10000, 100000, 1000000 };
	int64_t scale = pow10[dec], whole, frac;
	char tmp[64];
	int k;
	bool neg = v < 0;

	if (!isfinite(v) || fabs(v) > 1e12)
		v = 0;
	if (neg)
		v = -v;
	whole = llround(v * (double)scale);
	frac = whole % scale;
	whole /= scale;
	if (neg && (whole != 0 || frac != 0))
		sb_putc(b, '-');
	if (dec == 0) {
		sb_printf(b, "%lld", (long long)whole);
		return;
	}
	k = snprintf(tmp, sizeof tmp, "%lld.%0*lld", (long long)whole, dec, (long long)frac);
	if (trim) {
		while (k > 0 && tmp[k - 1] == '0')
			k--;
		if (k > 0 && tmp[k - 1] == '.')
			k--;
	}
	sb_putn(b, tmp, (size_t)k);
}

static int
sb_result(const struct sb *b)
{
	return b->over ? -ENOSPC : 0;
}

/*
 * Decodes one UTF-8 character from s (k bytes available). Returns the bytes used
 * (>= 1); an invalid, overlong or truncated sequence or a surrogate uses one byte
 * and gives U+FFFD, so any byte string renders as valid UTF-8.
 */
static size_t
utf8_next(const unsigned char *s, size_t k, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		*cp = 0xfffd;
		return 1;
	}
	if (len > k)
		goto bad;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto bad;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		goto bad;
	*cp = c;
	return len;
bad:
	*cp = 0xfffd;
	return 1;
}

static void
sb_utf8(struct sb *b, uint32_t c)
{
	char u[4];

	if (c < 0x80) {
		u[0] = (char)c;
		sb_putn(b, u, 1);
	} else if (c < 0x800) {
		u[0] = (char)(0xc0 | (c >> 6));
		u[1] = (char)(0x80 | (c & 0x3f));
		sb_putn(b, u, 2);
	} else if (c < 0x10000) {
		u[0] = (char)(0xe0 | (c >> 12));
		u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f));
		sb_putn(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | (c >> 18));
		u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[3] = (char)(0x80 | (c & 0x3f));
		sb_putn(b, u, 4);
	}
}

/* A JSON string literal (RFC 8259): quotes, backslash and C0 controls escaped. */
static void
sb_json_str(struct sb *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k = strlen(s), i = 0;
	uint32_t c;

	sb_putc(b, '"');
	while (i < k) {
		i += utf8_next(u + i, k - i, &c);
		switch (c) {
		case '"': sb_puts(b, "\\\""); break;
		case '\\': sb_puts(b, "\\\\"); break;
		case '\n': sb_puts(b, "\\n"); break;
		case '\r': sb_puts(b, "\\r"); break;
		case '\t': sb_puts(b, "\\t"); break;
		case '\b': sb_puts(b, "\\b"); break;
		case '\f': sb_puts(b, "\\f"); break;
		default:
			if (c < 0x20)
				sb_printf(b, "\\u%04x", (unsigned)c);
			else
				sb_utf8(b, c);
		}
	}
	sb_putc(b, '"');
}

/* A Python 3 str literal in single quotes; controls (C0, DEL, C1) as \xNN. */
static void
sb_py_str(struct sb *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k = strlen(s), i = 0;
	uint32_t c;

	sb_putc(b, '\'');
	while (i < k) {
		i += utf8_next(u + i, k - i, &c);
		switch (c) {
		case '\'': sb_puts(b, "\\'"); break;
		case '\\': sb_puts(b, "\\\\"); break;
		case '\n': sb_puts(b, "\\n"); break;
		case '\r': sb_puts(b, "\\r"); break;
		case '\t': sb_puts(b, "\\t"); break;
		default:
			if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
				sb_printf(b, "\\x%02x", (unsigned)c);
			else
				sb_utf8(b, c);
		}
	}
	sb_putc(b, '\'');
}

int
reduce_params_json(const struct reduce_params *p, char *buf, size_t n)
{
	struct sb b;

	if (p == NULL || buf == NULL || n == 0)
		return -EINVAL;
	sb_init(&b, buf, n);
	sb_printf(&b, "{\"double_click_ms\":%d,\"double_click_px\":%d,\"drag_min_px\":%d,"
	          "\"type_gap_ms\":%d,\"scroll_gap_ms\":%d,\"wait_ms\":%d,"
	          "\"focus_follow_ms\":%d,\"path_max\":%d}",
	          p->double_click_ms, p->double_click_px, p->drag_min_px, p->type_gap_ms,
	          p->scroll_gap_ms, p->wait_ms, p->focus_follow_ms, p->path_max);
	return sb_result(&b);
}

/* ------------------------------------------------------------------------- */
/* Small helpers                                                              */

static unsigned
src_bit(const struct event *ev)
{
	return ev->source == EVENT_SOURCE_SYNTHETIC ? SRC_SYNTH : SRC_HUMAN;
}

static int
src_enum(unsigned mask)
{
	if (mask == (SRC_HUMAN | SRC_SYNTH))
		return REDUCE_SOURCE_MIXED;
	return mask == SRC_SYNTH ? REDUCE_SOURCE_SYNTHETIC : REDUCE_SOURCE_HUMAN;
}

static int64_t
dist2(int32_t x1, int32_t y1, int32_t x2, int32_t y2)
{
	int64_t dx = (int64_t)x1 - x2, dy = (int64_t)y1 - y2;

	return dx * dx + dy * dy;
}

static void
prov_add(struct reduce_action *a, int64_t id, bool own)
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

static void
prov_range(struct reduce_action *a, int64_t first, int64_t last, uint32_t count)
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

/* ------------------------------------------------------------------------- */
/* Pointer paths                                                              */

static void
path_reset(struct path *p)
{
	p->n = 0;
	p->stride = 1;
	p->seen = 0;
	p->src = 0;
}

/*
 * Adds a sample. Samples 0, s, 2s, ... are kept; when the buffer is full every
 * other kept point is dropped and the stride doubles, so the kept points stay
 * evenly spread over the whole path in O(1) amortised time.
 */
static void
path_add(struct path *p, int max, int32_t ox, int32_t oy, const struct event *ev, int64_t t)
{
	uint32_t idx = p->seen;
	int i;

	if (p->seen == 0) {
		p->ox = ox;
		p->oy = oy;
		p->first_id = ev->id;
	}
	p->seen++;
	p->last_id = ev->id;
	p->src |= src_bit(ev);
	p->last.x = ev->x;
	p->last.y = ev->y;
	p->last.t_ns = t;
	if (idx % (uint32_t)p->stride != 0)
		return;
	if (p->n == max) {
		for (i = 0; i < max / 2; i++)
			p->pts[i] = p->pts[2 * i];
		p->n = max / 2;
		p->stride *= 2;
		if (idx % (uint32_t)p->stride != 0)
			return;
	}
	p->pts[p->n++] = p->last;
}

/* Copies the kept points into a, making sure the final sample is the last point. */
static void
path_copy(const struct path *p, int max, struct reduce_action *a)
{
	const struct reduce_point *lp;

	a->path_seen = p->seen;
	a->path_len = p->n;
	if (p->n == 0)
		return;
	memcpy(a->path, p->pts, (size_t)p->n * sizeof p->pts[0]);
	lp = &p->pts[p->n - 1];
	if (lp->t_ns != p->last.t_ns || lp->x != p->last.x || lp->y != p->last.y) {
		if (a->path_len < max)
			a->path_len++;
		a->path[a->path_len - 1] = p->last;
	}
}

static bool
path_moved(const struct reduce *r, const struct path *p)
{
	return p->seen > 0 && dist2(p->ox, p->oy, p->last.x, p->last.y) > r->drag_px2;
}

/* ------------------------------------------------------------------------- */
/* The queue of completed actions                                             */

static bool
focus_eligible(int kind)
{
	return kind == REDUCE_CLICK || kind == REDUCE_DRAG || kind == REDUCE_PRESS ||
	       kind == REDUCE_HOTKEY;
}

/* Appends a (its source still a mask of SRC_* bits) to the queue. */
static void
emit(struct reduce *r, const struct reduce_action *a)
{
	struct reduce_action *d;

	if (r->q_tail == r->q_cap) {
		if (r->q_head > 0) {
			memmove(r->q, r->q + r->q_head, (r->q_tail - r->q_head) * sizeof r->q[0]);
			r->q_tail -= r->q_head;
			r->q_head = 0;
		} else {
			r->q_cap = r->q_cap ? 2 * r->q_cap : 8;
			r->q = util_xrealloc(r->q, r->q_cap * sizeof r->q[0]);
		}
	}
	d = &r->q[r->q_tail++];
	/* Copy the used part of the text only: the rest is never read. */
	memcpy(d, a, offsetof(struct reduce_action, text));
	memcpy(d->text, a->text, a->text_len + 1);
	d->source = src_enum((unsigned)a->source);
	r->open = focus_eligible(d->kind) && r->now - d->t_end_ns <= r->follow_ns;
}

/* Starts building cur: kind, anchor ev at time t, source bits src. */
static struct reduce_action *
cur_start(struct reduce *r, int kind, const struct event *ev, int64_t t, unsigned src)
{
	struct reduce_action *a = &r->cur;

	memset(a, 0, offsetof(struct reduce_action, ids));
	a->text[0] = '\0';
	a->kind = kind;
	a->source = (int)src;
	a->context = ev->context ? ev->context : r->ctx;
	a->t_start_ns = a->t_end_ns = t;
	a->anchor_id = ev->id;
	a->count = 1;
	r->cur_on = true;
	r->cur_hot_held = false;
	/* A newer action began: a focus change now cannot be the queued one's. */
	r->open = false;
	return a;
}

/* Completes cur. A typing run erased to nothing is dropped; a lone space is a press. */
static void
flush_cur(struct reduce *r)
{
	struct reduce_action *a = &r->cur;

	if (!r->cur_on)
		return;
	r->cur_on = false;
	if (a->kind == REDUCE_TYPE) {
		if (a->text_len == 0)
			return;
		if (a->text_len == 1 && a->text[0] == ' ') {
			a->kind = REDUCE_PRESS;
			util_strlcpy_utf8(a->key, "space", sizeof a->key);
			a->text_len = 0;
			a->text[0] = '\0';
		}
	}
	emit(r, a);
}

/* Takes the motion since the last action into a: its points when keep, else ids only. */
static void
absorb_pre(struct reduce *r, struct reduce_action *a, bool keep)
{
	struct path *p = &r->pre;

	if (p->seen == 0)
		return;
	prov_range(a, p->first_id, p->last_id, p->seen);
	if (keep)
		path_copy(p, r->p.path_max, a);
	path_reset(p);
}

/* Emits the motion since the last action as a `move` when it went anywhere. */
static void
emit_move(struct reduce *r)
{
	struct path *p = &r->pre;
	struct reduce_action *a;
	struct event ev;

	if (path_moved(r, p)) {
		memset(&ev, 0, sizeof ev);
		ev.id = p->last_id;
		ev.context = r->ctx;
		a = cur_start(r, REDUCE_MOVE, &ev, p->pts[0].t_ns, p->src);
		a->t_end_ns = p->last.t_ns;
		a->x = p->last.x;
		a->y = p->last.y;
		absorb_pre(r, a, true);
		flush_cur(r);
	}
	path_reset(p);
}

/* Adds the unconsumed modifier presses to a (they are part of its chord). */
static void
take_modp(struct reduce *r, struct reduce_action *a)
{
	int i;

	for (i = 0; i < r->n_modp; i++) {
		prov_add(a, r->modp[i].id, true);
		r->key_owner[r->modp[i].keycode] = a->anchor_id;
	}
	r->n_modp = 0;
}

/* ------------------------------------------------------------------------- */
/* Keys                                                                       */

/* The modifier bit of a keysym: 0 not a modifier, -1 a lock or group key (ignored). */
static int
mod_bit(const char *ks)
{
	switch (ks[0]) {
	case 'S':
		if (strncmp(ks, "Shift_", 6) == 0)
			return strcmp(ks + 6, "Lock") == 0 ? -1 : (int)REDUCE_MOD_SHIFT;
		if (strncmp(ks, "Super_", 6) == 0)
			return REDUCE_MOD_SUPER;
		return 0;
	case 'C':
		if (strncmp(ks, "Control_", 8) == 0)
			return REDUCE_MOD_CTRL;
		return strcmp(ks, "Caps_Lock") == 0 ? -1 : 0;
	case 'A':
		return strncmp(ks, "Alt_", 4) == 0 ? (int)REDUCE_MOD_ALT : 0;
	case 'M':
		if (strncmp(ks, "Meta_", 5) == 0)
			return REDUCE_MOD_ALT;
		return strcmp(ks, "Mode_switch") == 0 ? (int)MOD_ALTGR : 0;
	case 'H':
		return strncmp(ks, "Hyper_", 6) == 0 ? (int)REDUCE_MOD_SUPER : 0;
	case 'N':
		return strcmp(ks, "Num_Lock") == 0 ? -1 : 0;
	case 'I':
		if (strcmp(ks, "ISO_Level3_Shift") == 0 || strcmp(ks, "ISO_Level5_Shift") == 0)
			return MOD_ALTGR;
		if (strncmp(ks, "ISO_", 4) == 0 && (strstr(ks, "_Lock") || strstr(ks, "Group")))
			return -1;
		return 0;
	default:
		return 0;
	}
}

static void
recompute_mods(struct reduce *r)
{
	uint32_t m = 0;
	int i;

	for (i = 0; i < 8; i++)
		if (r->modcnt[i] > 0)
			m |= 1u << i;
	r->held_mods = m;
}

static int
bit_index(uint32_t bit)
{
	int i = 0;

	while (bit > 1) {
		bit >>= 1;
		i++;
	}
	return i;
}

/* Printable key text: non-empty and no control characters. */
static bool
printable(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	if (u[0] == '\0')
		return false;
	for (; *u; u++)
		if (*u < 0x20 || *u == 0x7f)
			return false;
	return true;
}

static void
type_text(struct reduce *r, const struct event *ev, int64_t t, unsigned src)
{
	struct reduce_action *a = &r->cur;
	size_t k = strnlen(ev->text, sizeof ev->text - 1);

	if (!(r->cur_on && a->kind == REDUCE_TYPE && (unsigned)a->source == src &&
	      a->text_len + k < REDUCE_TEXT_MAX)) {
		flush_cur(r);
		a = cur_start(r, REDUCE_TYPE, ev, t, src);
		absorb_pre(r, a, true);
	} else {
		absorb_pre(r, a, false);
	}
	take_modp(r, a);
	memcpy(a->text + a->text_len, ev->text, k);
	a->text_len += k;
	a->text[a->text_len] = '\0';
	prov_add(a, ev->id, true);
	a->t_end_ns = t;
	r->cur_deadline = t + r->type_ns;
}

/* BackSpace inside a typing run: removes the last UTF-8 character of its text. */
static void
type_backspace(struct reduce *r, const struct event *ev, int64_t t)
{
	struct reduce_action *a = &r->cur;

	while (a->text_len > 0 && ((unsigned char)a->text[a->text_len - 1] & 0xc0) == 0x80)
		a->text_len--;
	if (a->text_len > 0)
		a->text_len--;
	a->text[a->text_len] = '\0';
	absorb_pre(r, a, false);
	take_modp(r, a);
	prov_add(a, ev->id, true);
	a->t_end_ns = t;
	r->cur_deadline = t + r->type_ns;
}

/* A key without text: one press, or one more of the same key (autorepeat, Down Down). */
static void
key_press_action(struct reduce *r, const struct event *ev, int64_t t, uint32_t mods,
                 unsigned src)
{
	struct reduce_action *a = &r->cur;

	if (r->cur_on && a->kind == REDUCE_PRESS && a->mods == mods &&
	    (unsigned)a->source == src && strcmp(a->key, ev->keysym) == 0) {
		a->count++;
		absorb_pre(r, a, false);
	} else {
		flush_cur(r);
		a = cur_start(r, REDUCE_PRESS, ev, t, src);
		a->mods = mods;
		util_strlcpy_utf8(a->key, ev->keysym, sizeof a->key);
		absorb_pre(r, a, true);
	}
	take_modp(r, a);
	prov_add(a, ev->id, true);
	a->t_end_ns = t;
	r->cur_deadline = t + r->type_ns;
}

static void
hotkey_action(struct reduce *r, const struct event *ev, int64_t t, uint32_t mods, unsigned src)
{
	struct reduce_action *a = &r->cur;

	if (r->cur_on && a->kind == REDUCE_HOTKEY && r->cur_hot_held && a->mods == mods &&
	    (unsigned)a->source == src && strcmp(a->key, ev->keysym) == 0) {
		a->count++;
		absorb_pre(r, a, false);
	} else {
		flush_cur(r);
		a = cur_start(r, REDUCE_HOTKEY, ev, t, src);
		a->mods = mods;
		util_strlcpy_utf8(a->key, ev->keysym, sizeof a->key);
		absorb_pre(r, a, true);
	}
	take_modp(r, a);
	prov_add(a, ev->id, true);
	a->t_end_ns = t;
	/* While its modifiers stay down the hotkey may repeat (Alt+Tab Tab, Ctrl+Z Z)
	 * and the focus change it causes comes when they are released; when they were
	 * pressed before we saw them, it ends like any other key. */
	r->cur_hot_held = (r->held_mods & mods & MODS_CHORD) != 0;
	r->cur_deadline = r->cur_hot_held ? INT64_MAX : t + r->type_ns;
}

static void
on_key_press(struct reduce *r, const struct event *ev, int64_t t)
{
	int kc = ev->detail, mb;
	bool kcv = kc >= 0 && kc < 256;
	uint32_t all, chord;
	unsigned src = src_bit(ev);

	mb = mod_bit(ev->keysym);
	if (mb < 0)
		return;
	if (mb > 0) {
		if (!kcv)
			return;
		if (!r->down[kc]) {
			r->down[kc] = 1;
			r->modbit[kc] = (uint8_t)mb;
			r->modcnt[bit_index((uint32_t)mb)]++;
			recompute_mods(r);
			if (r->n_modp < MODP_MAX) {
				r->modp[r->n_modp].keycode = kc;
				r->modp[r->n_modp].id = ev->id;
				r->n_modp++;
			}
		}
		r->tap_kc = kc;
		r->tap_id = ev->id;
		r->tap_t = t;
		r->tap_src = src;
		util_strlcpy_utf8(r->tap_key, ev->keysym, sizeof r->tap_key);
		return;
	}
	r->tap_kc = -1;
	r->open = false;
	if (kcv) {
		r->down[kc] = 1;
		r->modbit[kc] = 0;
	}
	all = ev->mods | r->held_mods;
	chord = all & MODS_CHORD;
	if (chord) {
		hotkey_action(r, ev, t, all & MODS_ALL, src);
	} else if (printable(ev->text)) {
		type_text(r, ev, t, src);
	} else if (strcmp(ev->keysym, "BackSpace") == 0 && r->cur_on &&
	           r->cur.kind == REDUCE_TYPE && (unsigned)r->cur.source == src &&
	           r->cur.text_len > 0) {
		type_backspace(r, ev, t);
	} else if (strncmp(ev->keysym, "dead_", 5) == 0) {
		/* A dead key only prepares the next character, whose text we get. */
		if (r->cur_on && r->cur.kind == REDUCE_TYPE)
			prov_add(&r->cur, ev->id, true);
		else
			return;
	} else {
		key_press_action(r, ev, t, all & REDUCE_MOD_SHIFT, src);
	}
	if (kcv && r->cur_on)
		r->key_owner[kc] = r->cur.anchor_id;
}

static void
modp_remove(struct reduce *r, int kc)
{
	int i;

	for (i = 0; i < r->n_modp; i++) {
		if (r->modp[i].keycode == kc) {
			r->modp[i] = r->modp[--r->n_modp];
			return;
		}
	}
}

/* A modifier pressed and released with nothing in between: a press of it. */
static void
tap_action(struct reduce *r, const struct event *ev, int64_t t)
{
	struct reduce_action *a = &r->cur;
	struct event pe;

	/* A lone Shift does nothing inside typing; AltGr alone does nothing at all. */
	if (r->modbit[ev->detail] == MOD_ALTGR ||
	    (r->modbit[ev->detail] == REDUCE_MOD_SHIFT && r->cur_on &&
	     a->kind == REDUCE_TYPE))
		return;
	memset(&pe, 0, sizeof pe);
	pe.id = r->tap_id;
	pe.context = ev->context;
	util_strlcpy_utf8(pe.keysym, r->tap_key, sizeof pe.keysym);
	key_press_action(r, &pe, r->tap_t, 0, r->tap_src);
	a = &r->cur;
	a->source = (int)((unsigned)a->source | src_bit(ev));
	prov_add(a, ev->id, true);
	a->t_end_ns = t;
}

static void
on_key_release(struct reduce *r, const struct event *ev, int64_t t)
{
	int kc = ev->detail;
	int64_t owner;
	struct reduce_action *tail;

	/* Releases of keys we never saw go down (xdotool repeats modifier releases,
	 * and keys held when recording began) belong to nothing. */
	if (kc < 0 || kc >= 256 || !r->down[kc])
		return;
	r->down[kc] = 0;
	owner = r->key_owner[kc];
	r->key_owner[kc] = 0;
	if (r->modbit[kc]) {
		r->modcnt[bit_index(r->modbit[kc])]--;
		recompute_mods(r);
		if (r->tap_kc == kc) {
			r->tap_kc = -1;
			modp_remove(r, kc);
			tap_action(r, ev, t);
			r->modbit[kc] = 0;
			return;
		}
		r->modbit[kc] = 0;
		modp_remove(r, kc);
		if (r->cur_on && r->cur.kind == REDUCE_HOTKEY && r->cur_hot_held &&
		    (r->held_mods & r->cur.mods & MODS_CHORD) == 0) {
			prov_add(&r->cur, ev->id, true);
			r->cur.t_end_ns = t;
			flush_cur(r);
			return;
		}
	}
	if (owner == 0)
		return;
	if (r->cur_on && r->cur.anchor_id == owner) {
		prov_add(&r->cur, ev->id, true);
		r->cur.t_end_ns = t;
	} else if (r->q_tail > r->q_head && r->q[r->q_tail - 1].anchor_id == owner) {
		/* The release came after its action completed but before it was taken. */
		tail = &r->q[r->q_tail - 1];
		prov_add(tail, ev->id, true);
	}
}

/* ------------------------------------------------------------------------- */
/* Buttons, motion, scroll                                                    */

static void
set_ptr(struct reduce *r, int32_t x, int32_t y)
{
	r->ptr_x = x;
	r->ptr_y = y;
	r->ptr_known = true;
}

/* The held button is released at (rx, ry) by rel (NULL: never released). */
static void
resolve_held(struct reduce *r, const struct event *rel, int64_t t, int32_t rx, int32_t ry)
{
	struct held *h = &r->held;
	struct reduce_action *a = &r->cur;
	bool drag = dist2(h->x, h->y, rx, ry) > r->drag_px2;
	int i;

	h->on = false;
	if (!drag && h->merge && r->cur_on && a->kind == REDUCE_CLICK) {
		a->count++;
		a->source = (int)((unsigned)a->source | h->src);
	} else {
		flush_cur(r);
		a = cur_start(r, drag ? REDUCE_DRAG : REDUCE_CLICK, &(struct event){ .id = h->id,
		              .context = h->ctx }, h->t, h->src);
		a->x = h->x;
		a->y = h->y;
		a->button = h->button;
		a->mods = h->mods;
		if (drag) {
			a->x2 = rx;
			a->y2 = ry;
		}
	}
	for (i = 0; i < h->n_modp; i++)
		prov_add(a, h->modp[i], true);
	prov_add(a, h->id, true);
	if (rel != NULL) {
		prov_add(a, rel->id, true);
		a->source = (int)((unsigned)a->source | src_bit(rel));
	}
	a->t_end_ns = t;
	if (h->ctx_after) {
		a->context_after = h->ctx_after;
		prov_add(a, h->focus_id, false);
	}
	/* A drag's path is its trajectory; a click's is the motion before it. */
	absorb_pre(r, a, a->kind == REDUCE_CLICK && a->count == 1);
	if (r->drag.seen > 0) {
		prov_range(a, r->drag.first_id, r->drag.last_id, r->drag.seen);
		if (a->kind == REDUCE_DRAG)
			path_copy(&r->drag, r->p.path_max, a);
	}
	path_reset(&r->drag);
	if (a->kind == REDUCE_DRAG) {
		flush_cur(r);
		return;
	}
	r->cur_press_t = h->t;
	r->cur_press_x = h->x;
	r->cur_press_y = h->y;
	r->cur_deadline = h->t + r->dc_ns + 1;
}

static void
on_button_press(struct reduce *r, const struct event *ev, int64_t t)
{
	struct held *h = &r->held;
	struct reduce_action *a = &r->cur;
	int b = ev->detail;
	uint32_t mods = (ev->mods | r->held_mods) & MODS_ALL;
	unsigned src = src_bit(ev);
	int i;

	if (b <= 0 || (b >= 4 && b <= 7))
		return;
	r->tap_kc = -1;
	r->open = false;
	if (h->on)
		resolve_held(r, NULL, t, r->ptr_x, r->ptr_y);
	set_ptr(r, ev->x, ev->y);
	h->merge = r->cur_on && a->kind == REDUCE_CLICK && a->button == b && a->count < 3 &&
	           t - r->cur_press_t <= r->dc_ns && (unsigned)a->source == src &&
	           a->mods == mods &&
	           dist2(ev->x, ev->y, r->cur_press_x, r->cur_press_y) <= r->dc_px2;
	if (!h->merge)
		flush_cur(r);
	h->on = true;
	h->button = b;
	h->src = src;
	h->mods = mods;
	h->id = ev->id;
	h->t = t;
	h->x = ev->x;
	h->y = ev->y;
	h->ctx = ev->context ? ev->context : r->ctx;
	h->ctx_after = 0;
	h->n_modp = r->n_modp;
	for (i = 0; i < r->n_modp; i++) {
		h->modp[i] = r->modp[i].id;
		r->key_owner[r->modp[i].keycode] = 0;
	}
	r->n_modp = 0;
	path_reset(&r->drag);
}

static void
on_button_release(struct reduce *r, const struct event *ev, int64_t t)
{
	int b = ev->detail;

	if (b <= 0 || (b >= 4 && b <= 7))
		return;
	set_ptr(r, ev->x, ev->y);
	if (!r->held.on || r->held.button != b)
		return; /* a release without its press */
	resolve_held(r, ev, t, ev->x, ev->y);
}

static void
on_motion(struct reduce *r, const struct event *ev, int64_t t)
{
	if (r->held.on)
		path_add(&r->drag, r->p.path_max, r->held.x, r->held.y, ev, t);
	else
		path_add(&r->pre, r->p.path_max, r->ptr_known ? r->ptr_x : ev->x,
		         r->ptr_known ? r->ptr_y : ev->y, ev, t);
	set_ptr(r, ev->x, ev->y);
}

static void
on_scroll(struct reduce *r, const struct event *ev, int64_t t)
{
	struct reduce_action *a = &r->cur;
	int dir = ev->detail;
	uint32_t mods = (ev->mods | r->held_mods) & MODS_ALL;
	unsigned src = src_bit(ev);
	double amt = ev->amount;

	if (dir < SCROLL_UP || dir > SCROLL_RIGHT)
		return;
	if (!(amt > 0) || amt > 1e6)
		amt = 1.0;
	set_ptr(r, ev->x, ev->y);
	r->tap_kc = -1;
	if (r->cur_on && a->kind == REDUCE_SCROLL && a->scroll_dir == dir &&
	    (unsigned)a->source == src && a->mods == mods) {
		absorb_pre(r, a, false);
	} else {
		r->open = false;
		flush_cur(r);
		a = cur_start(r, REDUCE_SCROLL, ev, t, src);
		a->x = ev->x;
		a->y = ev->y;
		a->mods = mods;
		a->scroll_dir = dir;
		absorb_pre(r, a, true);
		take_modp(r, a);
	}
	a->scroll_amount += amt;
	switch (dir) {
	case SCROLL_UP: a->scroll_dy -= amt; break;
	case SCROLL_DOWN: a->scroll_dy += amt; break;
	case SCROLL_LEFT: a->scroll_dx -= amt; break;
	default: a->scroll_dx += amt; break;
	}
	prov_add(a, ev->id, true);
	a->t_end_ns = t;
	r->cur_deadline = t + r->scroll_ns;
}

/* ------------------------------------------------------------------------- */
/* Focus, pause, idle                                                         */

static void
emit_marker(struct reduce *r, int kind, int64_t t0, int64_t t1, int64_t id)
{
	struct reduce_action *a;
	struct event ev;

	memset(&ev, 0, sizeof ev);
	ev.id = id;
	ev.context = r->ctx;
	a = cur_start(r, kind, &ev, t0, r->last_src ? r->last_src : SRC_HUMAN);
	a->t_end_ns = t1;
	if (kind == REDUCE_WAIT)
		a->duration_ns = t1 - t0;
	if (id != 0)
		prov_add(a, id, true);
	r->cur_on = false;
	emit(r, a);
}

static void on_idle(struct reduce *r, int64_t t);

static void
on_focus(struct reduce *r, const struct event *ev, int64_t t)
{
	int32_t seq = ev->context;
	struct reduce_action *a;

	if (seq == 0)
		return;
	if (!r->ctx_known || r->after_pause) {
		r->ctx = seq;
		r->ctx_known = true;
		r->after_pause = false;
		return;
	}
	if (seq == r->ctx)
		return;
	if (r->held.on) {
		r->held.ctx_after = seq;
		r->held.focus_id = ev->id;
	} else if (r->cur_on && focus_eligible(r->cur.kind) &&
	           t - r->cur.t_end_ns <= r->follow_ns) {
		r->cur.context_after = seq;
		prov_add(&r->cur, ev->id, false);
	} else if (r->open) {
		a = &r->q[r->q_tail - 1];
		a->context_after = seq;
		prov_add(a, ev->id, false);
	} else {
		/* A switch nothing of ours caused is something that happened while the
		 * person (or agent) waited: the wait comes first, and ends here. */
		if (r->have_input && t - r->last_input_t >= r->wait_ns)
			on_idle(r, t);
		if (r->have_input)
			r->last_input_t = t;
		flush_cur(r);
		emit_marker(r, REDUCE_SWITCH, t, t, ev->id);
		r->q[r->q_tail - 1].context_after = seq;
	}
	r->ctx = seq;
}

static void
reset_keys(struct reduce *r)
{
	memset(r->down, 0, sizeof r->down);
	memset(r->modbit, 0, sizeof r->modbit);
	memset(r->key_owner, 0, sizeof r->key_owner);
	memset(r->modcnt, 0, sizeof r->modcnt);
	r->held_mods = 0;
	r->n_modp = 0;
	r->tap_kc = -1;
}

/* Everything pending ends: at a pause and at the end of the session. */
static void
flush_all(struct reduce *r)
{
	r->held.on = false; /* its release was not recorded: no action */
	path_reset(&r->drag);
	flush_cur(r);
	emit_move(r);
	r->open = false;
	reset_keys(r);
	r->have_input = false;
}

/* No input from last_input_t to t: pending actions end, then a wait. */
static void
on_idle(struct reduce *r, int64_t t)
{
	flush_cur(r);
	emit_move(r);
	r->open = false;
	emit_marker(r, REDUCE_WAIT, r->last_input_t, t, 0);
	r->open = false;
}

/* ------------------------------------------------------------------------- */
/* The public entry points                                                    */

int
reduce_new(const struct reduce_params *p, struct reduce **out)
{
	struct reduce_params d;
	struct reduce *r;

	if (out == NULL)
		return -EINVAL;
	if (p == NULL) {
		reduce_params_defaults(&d);
		p = &d;
	}
	if (reduce_params_check(p, NULL) < 0)
		return -EINVAL;
	r = util_xcalloc(1, sizeof *r);
	r->p = *p;
	r->dc_ns = p->double_click_ms * NS_PER_MS;
	r->type_ns = p->type_gap_ms * NS_PER_MS;
	r->scroll_ns = p->scroll_gap_ms * NS_PER_MS;
	r->wait_ns = p->wait_ms * NS_PER_MS;
	r->follow_ns = p->focus_follow_ms * NS_PER_MS;
	r->dc_px2 = (int64_t)p->double_click_px * p->double_click_px;
	r->drag_px2 = (int64_t)p->drag_min_px * p->drag_min_px;
	r->now = INT64_MIN;
	path_reset(&r->pre);
	path_reset(&r->drag);
	reset_keys(r);
	*out = r;
	return 0;
}

void
reduce_set_elements(struct reduce *r, reduce_element_fn fn, void *arg)
{
	if (r == NULL)
		return;
	r->el_fn = fn;
	r->el_arg = arg;
}

int
reduce_push(struct reduce *r, const struct event *ev)
{
	int64_t t;
	bool input;

	if (r == NULL || ev == NULL || r->finished)
		return -EINVAL;
	t = ev->t_ns < r->now ? r->now : ev->t_ns;
	r->now = t;
	if (r->open && t - r->q[r->q_tail - 1].t_end_ns > r->follow_ns)
		r->open = false;
	/* A pending action whose time is up completes, except a click whose next
	 * press is still held: that press decides whether it was a double click. */
	if (r->cur_on && t >= r->cur_deadline && !(r->held.on && r->held.merge))
		flush_cur(r);
	input = ev->kind >= EVENT_KEY_PRESS && ev->kind <= EVENT_SCROLL;
	if (input) {
		if (r->have_input && t - r->last_input_t >= r->wait_ns && !r->held.on)
			on_idle(r, t);
		r->have_input = true;
		r->last_input_t = t;
		if (ev->kind != EVENT_MOTION)
			r->last_src = src_bit(ev);
	}
	switch (ev->kind) {
	case EVENT_MOTION:
		on_motion(r, ev, t);
		break;
	case EVENT_KEY_PRESS:
		on_key_press(r, ev, t);
		break;
	case EVENT_KEY_RELEASE:
		on_key_release(r, ev, t);
		break;
	case EVENT_BUTTON_PRESS:
		on_button_press(r, ev, t);
		break;
	case EVENT_BUTTON_RELEASE:
		on_button_release(r, ev, t);
		break;
	case EVENT_SCROLL:
		on_scroll(r, ev, t);
		break;
	case EVENT_FOCUS:
		on_focus(r, ev, t);
		break;
	case EVENT_TITLE:
		/* Same window, new title: a new context, no action. */
		if (ev->context != 0) {
			r->ctx = ev->context;
			r->ctx_known = true;
		}
		break;
	case EVENT_PAUSE:
	case EVENT_SCOPE_OUT:
		flush_all(r);
		r->after_pause = true;
		break;
	default:
		/* resume, layout, devices: nothing to reduce. */
		break;
	}
	return 0;
}

int
reduce_finish(struct reduce *r)
{
	if (r == NULL || r->finished)
		return -EINVAL;
	flush_all(r);
	r->finished = true;
	return 0;
}

void
reduce_free(struct reduce *r)
{
	if (r == NULL)
		return;
	free(r->q);
	free(r);
}

/* ------------------------------------------------------------------------- */
/* Interaction labels                                                         */

enum role {
	ROLE_NONE, ROLE_OTHER, ROLE_COMBO, ROLE_MENU, ROLE_MENU_ITEM, ROLE_LIST_ITEM,
	ROLE_BUTTON,
};

static enum role
role_of(const char *s)
{
	static const struct {
		const char *name;
		enum role role;
	} roles[] = {
		{ "combobox", ROLE_COMBO },
		{ "menu", ROLE_MENU },
		{ "menubar", ROLE_MENU },
		{ "popupmenu", ROLE_MENU },
		{ "menuitem", ROLE_MENU_ITEM },
		{ "checkmenuitem", ROLE_MENU_ITEM },
		{ "radiomenuitem", ROLE_MENU_ITEM },
		{ "tearoffmenuitem", ROLE_MENU_ITEM },
		{ "menuitemcheckbox", ROLE_MENU_ITEM },
		{ "menuitemradio", ROLE_MENU_ITEM },
		{ "listitem", ROLE_LIST_ITEM },
		{ "option", ROLE_LIST_ITEM },
		{ "listboxitem", ROLE_LIST_ITEM },
		{ "pushbutton", ROLE_BUTTON },
		{ "button", ROLE_BUTTON },
		{ "togglebutton", ROLE_BUTTON },
		{ "checkbox", ROLE_BUTTON },
		{ "radiobutton", ROLE_BUTTON },
	};
	char norm[32];
	size_t k = 0, i;

	if (s == NULL || s[0] == '\0')
		return ROLE_NONE;
	for (; *s && k < sizeof norm - 1; s++) {
		if (*s == ' ' || *s == '_' || *s == '-')
			continue;
		norm[k++] = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
	}
	norm[k] = '\0';
	for (i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (strcmp(norm, roles[i].name) == 0)
			return roles[i].role;
	return ROLE_OTHER;
}

static bool
key_is(const char *k, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(k, *set) == 0)
			return true;
	return false;
}

static void
label(struct reduce *r, struct reduce_action *a)
{
	static const char *const list_keys[] = {
		"Up", "Down", "KP_Up", "KP_Down", "Home", "End", "Prior", "Next", "Page_Up",
		"Page_Down", NULL,
	};
	static const char *const enter_keys[] = { "Return", "KP_Enter", NULL };
	static const char *const form_keys[] = { "Tab", "ISO_Left_Tab", "Return", "KP_Enter",
		NULL };
	const struct reduce_element *el = NULL;
	enum role role = ROLE_NONE;
	bool anc_combo = false, anc_menu = false, open = r->combo_open;
	enum role ar;
	size_t i;
	int l;

	if (r->el_fn != NULL && a->anchor_id != 0)
		el = r->el_fn(r->el_arg, a->anchor_id);
	if (el != NULL) {
		if (el->id != 0)
			a->element_id = el->id;
		role = role_of(el->role);
		for (i = 0; el->ancestors != NULL && i < el->n_ancestors; i++) {
			ar = role_of(el->ancestors[i]);
			anc_combo |= ar == ROLE_COMBO;
			anc_menu |= ar == ROLE_MENU || ar == ROLE_MENU_ITEM;
		}
	}
	r->combo_open = false;
	switch (a->kind) {
	case REDUCE_CLICK:
		if (role == ROLE_COMBO) {
			l = REDUCE_I_DROPDOWN_SELECTION;
			r->combo_open = true;
		} else if (anc_combo || (open && (role == ROLE_MENU_ITEM ||
		                                  role == ROLE_LIST_ITEM))) {
			l = REDUCE_I_DROPDOWN_SELECTION;
		} else if (role == ROLE_MENU || role == ROLE_MENU_ITEM || anc_menu) {
			l = REDUCE_I_MENU_NAVIGATION;
		} else if (role == ROLE_BUTTON) {
			l = REDUCE_I_BUTTON_PRESS;
		} else if (a->context_after != 0) {
			l = REDUCE_I_WINDOW_SWITCH;
		} else {
			l = REDUCE_I_CLICK;
		}
		break;
	case REDUCE_DRAG:
		l = REDUCE_I_DRAG_AND_DROP;
		break;
	case REDUCE_SCROLL:
		l = REDUCE_I_SCROLLING;
		r->combo_open = open; /* scrolling an open list keeps it open */
		break;
	case REDUCE_TYPE:
		l = REDUCE_I_TEXT_ENTRY;
		break;
	case REDUCE_HOTKEY:
		if ((a->mods & (REDUCE_MOD_ALT | REDUCE_MOD_SUPER)) &&
		    (strcmp(a->key, "Tab") == 0 || strcmp(a->key, "ISO_Left_Tab") == 0))
			l = REDUCE_I_WINDOW_SWITCH;
		else
			l = REDUCE_I_KEYBOARD_SHORTCUT;
		break;
	case REDUCE_PRESS:
		if (open && key_is(a->key, list_keys)) {
			l = REDUCE_I_DROPDOWN_SELECTION;
			r->combo_open = true;
		} else if (open && key_is(a->key, enter_keys)) {
			l = REDUCE_I_DROPDOWN_SELECTION;
		} else if (role == ROLE_MENU || role == ROLE_MENU_ITEM || anc_menu) {
			l = REDUCE_I_MENU_NAVIGATION;
		} else if (key_is(a->key, form_keys)) {
			l = REDUCE_I_FORM_NAVIGATION;
		} else {
			l = REDUCE_I_OTHER;
		}
		break;
	case REDUCE_SWITCH:
		l = REDUCE_I_WINDOW_SWITCH;
		break;
	default:
		/* move, wait: nothing was operated; an open list stays open. */
		l = REDUCE_I_OTHER;
		r->combo_open = open;
		break;
	}
	a->interaction = l;
}

struct reduce_action *
reduce_take(struct reduce *r)
{
	struct reduce_action *a;
	size_t avail;

	if (r == NULL)
		return NULL;
	avail = r->q_tail - r->q_head;
	if (r->open && avail > 0)
		avail--;
	if (avail == 0)
		return NULL;
	a = &r->q[r->q_head++];
	if (r->q_head == r->q_tail)
		r->q_head = r->q_tail = 0; /* a stays readable until the next push */
	label(r, a);
	return a;
}

/* ------------------------------------------------------------------------- */
/* Names                                                                      */

const char *
reduce_action_name(const struct reduce_action *a)
{
	static const char *const clicks[] = { "click", "double_click", "triple_click" };

	if (a == NULL)
		return "unknown";
	switch (a->kind) {
	case REDUCE_CLICK:
		switch (a->button) {
		case 2: return "middle_click";
		case 3: return "right_click";
		case 8: return "back_click";
		case 9: return "forward_click";
		default:
			return clicks[a->count >= 3 ? 2 : a->count == 2 ? 1 : 0];
		}
	case REDUCE_DRAG: return "drag";
	case REDUCE_SCROLL: return "scroll";
	case REDUCE_TYPE: return "type";
	case REDUCE_HOTKEY: return "hotkey";
	case REDUCE_PRESS: return "press";
	case REDUCE_MOVE: return "move";
	case REDUCE_WAIT: return "wait";
	case REDUCE_SWITCH: return "switch";
	default: return "unknown";
	}
}

const char *
reduce_interaction_name(int interaction)
{
	static const char *const names[REDUCE_I_MAX_] = {
		[REDUCE_I_OTHER] = "other",
		[REDUCE_I_CLICK] = "click",
		[REDUCE_I_DROPDOWN_SELECTION] = "dropdown_selection",
		[REDUCE_I_MENU_NAVIGATION] = "menu_navigation",
		[REDUCE_I_KEYBOARD_SHORTCUT] = "keyboard_shortcut",
		[REDUCE_I_TEXT_ENTRY] = "text_entry",
		[REDUCE_I_FORM_NAVIGATION] = "form_navigation",
		[REDUCE_I_BUTTON_PRESS] = "button_press",
		[REDUCE_I_DRAG_AND_DROP] = "drag_and_drop",
		[REDUCE_I_SCROLLING] = "scrolling",
		[REDUCE_I_WINDOW_SWITCH] = "window_switch",
	};

	if (interaction < 0 || interaction >= REDUCE_I_MAX_)
		return NULL;
	return names[interaction];
}

const char *
reduce_source_name(int source)
{
	switch (source) {
	case REDUCE_SOURCE_HUMAN: return "human";
	case REDUCE_SOURCE_SYNTHETIC: return "synthetic";
	case REDUCE_SOURCE_MIXED: return "mixed";
	default: return NULL;
	}
}

/* ------------------------------------------------------------------------- */
/* Key names in the two action spaces                                         */

/* xkb keysym names of punctuation → the character pyautogui names the key by. */
static const struct {
	const char *keysym;
	const char *name;
} py_keys[] = {
	{ "Return", "enter" }, { "KP_Enter", "enter" }, { "Tab", "tab" },
	{ "ISO_Left_Tab", "tab" }, { "Escape", "esc" }, { "BackSpace", "backspace" },
	{ "Delete", "delete" }, { "KP_Delete", "delete" }, { "Insert", "insert" },
	{ "KP_Insert", "insert" }, { "Up", "up" }, { "Down", "down" }, { "Left", "left" },
	{ "Right", "right" }, { "KP_Up", "up" }, { "KP_Down", "down" }, { "KP_Left", "left" },
	{ "KP_Right", "right" }, { "Home", "home" }, { "End", "end" }, { "KP_Home", "home" },
	{ "KP_End", "end" }, { "Prior", "pageup" }, { "Page_Up", "pageup" },
	{ "KP_Prior", "pageup" }, { "Next", "pagedown" }, { "Page_Down", "pagedown" },
	{ "KP_Next", "pagedown" }, { "space", "space" }, { "Print", "printscreen" },
	{ "Menu", "apps" }, { "Pause", "pause" }, { "Scroll_Lock", "scrolllock" },
	{ "Caps_Lock", "capslock" }, { "Num_Lock", "numlock" }, { "Control_L", "ctrl" },
	{ "Control_R", "ctrl" }, { "Shift_L", "shift" }, { "Shift_R", "shift" },
	{ "Alt_L", "alt" }, { "Alt_R", "alt" }, { "Meta_L", "alt" }, { "Meta_R", "alt" },
	{ "Super_L", "win" }, { "Super_R", "win" }, { "Hyper_L", "win" }, { "Hyper_R", "win" },
	{ "XF86AudioMute", "volumemute" }, { "XF86AudioLowerVolume", "volumedown" },
	{ "XF86AudioRaiseVolume", "volumeup" }, { "XF86AudioPlay", "playpause" },
	{ "XF86AudioNext", "nexttrack" }, { "XF86AudioPrev", "prevtrack" },
	{ "exclam", "!" }, { "quotedbl", "\"" }, { "numbersign", "#" }, { "dollar", "$" },
	{ "percent", "%" }, { "ampersand", "&" }, { "apostrophe", "'" }, { "parenleft", "(" },
	{ "parenright", ")" }, { "asterisk", "*" }, { "plus", "+" }, { "comma", "," },
	{ "minus", "-" }, { "period", "." }, { "slash", "/" }, { "colon", ":" },
	{ "semicolon", ";" }, { "less", "<" }, { "equal", "=" }, { "greater", ">" },
	{ "question", "?" }, { "at", "@" }, { "bracketleft", "[" }, { "backslash", "\\" },
	{ "bracketright", "]" }, { "asciicircum", "^" }, { "underscore", "_" }, { "grave", "`" },
	{ "braceleft", "{" }, { "bar", "|" }, { "braceright", "}" }, { "asciitilde", "~" },
};

/* The pyautogui key name of a keysym: "enter", "f5", "s", "!"; else lower case. */
static void
py_key_name(const char *ks, char *out, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof py_keys / sizeof py_keys[0]; i++) {
		if (strcmp(ks, py_keys[i].keysym) == 0) {
			util_strlcpy_utf8(out, py_keys[i].name, n);
			return;
		}
	}
	/* F1..F24, KP_0..KP_9 ("num0"), letters and anything else: lower case. */
	if (strncmp(ks, "KP_", 3) == 0 && ks[3] >= '0' && ks[3] <= '9' && ks[4] == '\0') {
		snprintf(out, n, "num%c", ks[3]);
		return;
	}
	for (i = 0; ks[i] && i < n - 1; i++)
		out[i] = (char)(ks[i] >= 'A' && ks[i] <= 'Z' ? ks[i] - 'A' + 'a' : ks[i]);
	out[i] = '\0';
}

/* The xdotool name of the key: keysyms as they are, but one letter in lower case
 * (the chord carries Shift) and ISO_Left_Tab as Tab. */
static const char *
xdo_key_name(const char *ks, char *tmp)
{
	if (strcmp(ks, "ISO_Left_Tab") == 0)
		return "Tab";
	if (ks[0] >= 'A' && ks[0] <= 'Z' && ks[1] == '\0') {
		tmp[0] = (char)(ks[0] - 'A' + 'a');
		tmp[1] = '\0';
		return tmp;
	}
	return ks;
}

static const struct {
	uint32_t bit;
	const char *py, *xdo;
} mod_names[] = {
	{ REDUCE_MOD_CTRL, "ctrl", "ctrl" },
	{ REDUCE_MOD_ALT, "alt", "alt" },
	{ REDUCE_MOD_SHIFT, "shift", "shift" },
	{ REDUCE_MOD_SUPER, "win", "super" },
};
#define N_MODS (sizeof mod_names / sizeof mod_names[0])

/* "ctrl+shift+t", "Return", "alt+Tab": one press in xdotool key syntax. */
static void
sb_xdo_chord(struct sb *b, uint32_t mods, const char *key)
{
	char tmp[2];
	size_t i;

	for (i = 0; i < N_MODS; i++) {
		if (mods & mod_names[i].bit) {
			sb_puts(b, mod_names[i].xdo);
			sb_putc(b, '+');
		}
	}
	sb_puts(b, xdo_key_name(key, tmp));
}

/* "ctrl+shift": the modifiers held during a click or scroll, in xdotool syntax. */
static void
sb_xdo_mods(struct sb *b, uint32_t mods)
{
	bool first = true;
	size_t i;

	for (i = 0; i < N_MODS; i++) {
		if (mods & mod_names[i].bit) {
			if (!first)
				sb_putc(b, '+');
			sb_puts(b, mod_names[i].xdo);
			first = false;
		}
	}
}

/* ------------------------------------------------------------------------- */
/* pyautogui                                                                  */

struct coords {
	int w, h;
	bool norm;
};

static void
sb_xy(struct sb *b, const struct coords *c, int32_t x, int32_t y)
{
	if (c->norm) {
		sb_puts(b, "x=");
		sb_fixed(b, (double)x / c->w, 4, false);
		sb_puts(b, ", y=");
		sb_fixed(b, (double)y / c->h, 4, false);
	} else {
		sb_printf(b, "x=%d, y=%d", (int)x, (int)y);
	}
}

static void
py_mods_down(struct sb *b, uint32_t mods)
{
	size_t i;

	for (i = 0; i < N_MODS; i++)
		if (mods & mod_names[i].bit)
			sb_printf(b, "pyautogui.keyDown('%s')\n", mod_names[i].py);
}

static void
py_mods_up(struct sb *b, uint32_t mods)
{
	size_t i;

	for (i = N_MODS; i-- > 0;)
		if (mods & mod_names[i].bit)
			sb_printf(b, "\npyautogui.keyUp('%s')", mod_names[i].py);
}

static const char *
py_button(int button)
{
	switch (button) {
	case 1: return "left";
	case 2: return "middle";
	case 3: return "right";
	default: return NULL;
	}
}

/* Whole wheel clicks for APIs that take integers: rounded, at least one. */
static long
whole_clicks(double amount)
{
	long n = lround(amount);

	return n < 1 ? 1 : n;
}

static int
py_keys_action(struct sb *b, const struct reduce_action *a)
{
	char key[EVENT_KEYSYM_MAX + 8];
	size_t i;

	py_key_name(a->key, key, sizeof key);
	if (a->mods == 0) {
		sb_puts(b, "pyautogui.press(");
		sb_py_str(b, key);
		if (a->count > 1)
			sb_printf(b, ", presses=%d", a->count);
		sb_putc(b, ')');
	} else if (a->count == 1) {
		sb_puts(b, "pyautogui.hotkey(");
		for (i = 0; i < N_MODS; i++)
			if (a->mods & mod_names[i].bit)
				sb_printf(b, "'%s', ", mod_names[i].py);
		sb_py_str(b, key);
		sb_putc(b, ')');
	} else {
		/* Held modifiers, the key pressed n times: Alt+Tab Tab Tab. */
		py_mods_down(b, a->mods);
		sb_puts(b, "pyautogui.press(");
		sb_py_str(b, key);
		sb_printf(b, ", presses=%d)", a->count);
		py_mods_up(b, a->mods);
	}
	return 0;
}

int
reduce_action_pyautogui(const struct reduce_action *a, int screen_w, int screen_h,
                        int normalised, char *buf, size_t n)
{
	struct coords c = { screen_w, screen_h, normalised != 0 };
	struct sb b;
	const char *btn;
	long clicks;

	if (a == NULL || buf == NULL || n == 0 || (normalised && (screen_w <= 0 || screen_h <= 0)))
		return -EINVAL;
	sb_init(&b, buf, n);
	switch (a->kind) {
	case REDUCE_CLICK:
		btn = py_button(a->button);
		if (btn == NULL)
			return -ENOTSUP;
		py_mods_down(&b, a->mods);
		if (a->button == 1 && a->count <= 3) {
			sb_printf(&b, "pyautogui.%s(", a->count == 3 ? "tripleClick" :
			          a->count == 2 ? "doubleClick" : "click");
			sb_xy(&b, &c, a->x, a->y);
			sb_putc(&b, ')');
		} else if (a->count == 1) {
			sb_printf(&b, "pyautogui.%s(", a->button == 3 ? "rightClick" : "middleClick");
			sb_xy(&b, &c, a->x, a->y);
			sb_putc(&b, ')');
		} else {
			sb_puts(&b, "pyautogui.click(");
			sb_xy(&b, &c, a->x, a->y);
			sb_printf(&b, ", clicks=%d, button='%s')", a->count, btn);
		}
		py_mods_up(&b, a->mods);
		break;
	case REDUCE_DRAG:
		btn = py_button(a->button);
		if (btn == NULL)
			return -ENOTSUP;
		py_mods_down(&b, a->mods);
		sb_puts(&b, "pyautogui.moveTo(");
		sb_xy(&b, &c, a->x, a->y);
		sb_puts(&b, ")\npyautogui.dragTo(");
		sb_xy(&b, &c, a->x2, a->y2);
		sb_printf(&b, ", button='%s')", btn);
		py_mods_up(&b, a->mods);
		break;
	case REDUCE_SCROLL:
		clicks = whole_clicks(a->scroll_amount);
		py_mods_down(&b, a->mods);
		/* pyautogui: scroll(n > 0) is up, hscroll(n > 0) is right. */
		if (a->scroll_dir == SCROLL_UP || a->scroll_dir == SCROLL_DOWN)
			sb_printf(&b, "pyautogui.scroll(%ld, ",
			          a->scroll_dir == SCROLL_UP ? clicks : -clicks);
		else
			sb_printf(&b, "pyautogui.hscroll(%ld, ",
			          a->scroll_dir == SCROLL_RIGHT ? clicks : -clicks);
		sb_xy(&b, &c, a->x, a->y);
		sb_putc(&b, ')');
		py_mods_up(&b, a->mods);
		break;
	case REDUCE_TYPE:
		sb_puts(&b, "pyautogui.write(message=");
		sb_py_str(&b, a->text);
		sb_putc(&b, ')');
		break;
	case REDUCE_PRESS:
	case REDUCE_HOTKEY:
		py_keys_action(&b, a);
		break;
	case REDUCE_MOVE:
		sb_puts(&b, "pyautogui.moveTo(");
		sb_xy(&b, &c, a->x, a->y);
		sb_putc(&b, ')');
		break;
	case REDUCE_WAIT:
		sb_puts(&b, "time.sleep(");
		sb_fixed(&b, (double)a->duration_ns / 1e9, 3, true);
		sb_putc(&b, ')');
		break;
	default:
		return -ENOTSUP;
	}
	return sb_result(&b);
}

/* ------------------------------------------------------------------------- */
/* Computer-use tool calls                                                    */

static void
cu_coord(struct sb *b, const char *name, int32_t x, int32_t y)
{
	sb_printf(b, ",\"%s\":[%d,%d]", name, (int)x, (int)y);
}

static void
cu_mods(struct sb *b, uint32_t mods)
{
	if (mods == 0)
		return;
	sb_puts(b, ",\"text\":\"");
	sb_xdo_mods(b, mods);
	sb_putc(b, '"');
}

int
reduce_action_computer_use(const struct reduce_action *a, char *buf, size_t n)
{
	static const char *const dirs[] = { "", "up", "down", "left", "right" };
	const char *name = NULL;
	struct sb b, k;
	char keys[256];
	int i;

	if (a == NULL || buf == NULL || n == 0)
		return -EINVAL;
	sb_init(&b, buf, n);
	switch (a->kind) {
	case REDUCE_CLICK:
		if (a->button == 1)
			name = a->count == 3 ? "triple_click" : a->count == 2 ? "double_click" :
			       "left_click";
		else if (a->count == 1 && a->button == 3)
			name = "right_click";
		else if (a->count == 1 && a->button == 2)
			name = "middle_click";
		if (name == NULL)
			return -ENOTSUP;
		sb_printf(&b, "{\"action\":\"%s\"", name);
		cu_coord(&b, "coordinate", a->x, a->y);
		cu_mods(&b, a->mods);
		sb_putc(&b, '}');
		break;
	case REDUCE_DRAG:
		/* The tool drags with the left button only, and holds no keys while it does. */
		if (a->button != 1 || a->mods != 0)
			return -ENOTSUP;
		sb_puts(&b, "{\"action\":\"left_click_drag\"");
		cu_coord(&b, "start_coordinate", a->x, a->y);
		cu_coord(&b, "coordinate", a->x2, a->y2);
		sb_putc(&b, '}');
		break;
	case REDUCE_SCROLL:
		sb_puts(&b, "{\"action\":\"scroll\"");
		cu_coord(&b, "coordinate", a->x, a->y);
		sb_printf(&b, ",\"scroll_direction\":\"%s\",\"scroll_amount\":%ld",
		          dirs[a->scroll_dir >= 1 && a->scroll_dir <= 4 ? a->scroll_dir : 0],
		          whole_clicks(a->scroll_amount));
		cu_mods(&b, a->mods);
		sb_putc(&b, '}');
		break;
	case REDUCE_TYPE:
		sb_puts(&b, "{\"action\":\"type\",\"text\":");
		sb_json_str(&b, a->text);
		sb_putc(&b, '}');
		break;
	case REDUCE_PRESS:
	case REDUCE_HOTKEY:
		/* xdotool key takes several chords separated by spaces: Down Down Down. */
		sb_init(&k, keys, sizeof keys);
		for (i = 0; i < a->count && i < 100; i++) {
			if (i > 0)
				sb_putc(&k, ' ');
			sb_xdo_chord(&k, a->mods, a->key);
		}
		sb_puts(&b, "{\"action\":\"key\",\"text\":");
		sb_json_str(&b, keys);
		sb_putc(&b, '}');
		break;
	case REDUCE_MOVE:
		sb_puts(&b, "{\"action\":\"mouse_move\"");
		cu_coord(&b, "coordinate", a->x, a->y);
		sb_putc(&b, '}');
		break;
	case REDUCE_WAIT:
		sb_puts(&b, "{\"action\":\"wait\",\"duration\":");
		sb_fixed(&b, (double)a->duration_ns / 1e9, 3, true);
		sb_putc(&b, '}');
		break;
	default:
		return -ENOTSUP;
	}
	return sb_result(&b);
}

/* ------------------------------------------------------------------------- */
/* Step JSON                                                                  */

static void
json_opt_id(struct sb *b, const char *name, int64_t v)
{
	if (v != 0)
		sb_printf(b, ",\"%s\":%lld", name, (long long)v);
	else
		sb_printf(b, ",\"%s\":null", name);
}

int
reduce_action_json(const struct reduce_action *a, int screen_w, int screen_h, char *buf,
                   size_t n)
{
	static const char *const buttons[] = { "", "left", "middle", "right", "", "", "", "",
		"back", "forward" };
	static const char *const dirs[] = { "", "up", "down", "left", "right" };
	/* Python escapes take at most 4 bytes per byte of text. */
	char tmp[4 * REDUCE_TEXT_MAX + 512];
	const char *s;
	struct sb b, k;
	bool first;
	size_t i;
	int rc;

	if (a == NULL || buf == NULL || n == 0)
		return -EINVAL;
	sb_init(&b, buf, n);
	sb_puts(&b, "{\"kind\":");
	sb_json_str(&b, reduce_action_name(a));
	s = reduce_interaction_name(a->interaction);
	sb_printf(&b, ",\"interaction\":\"%s\"", s ? s : "other");
	s = reduce_source_name(a->source);
	sb_printf(&b, ",\"source\":\"%s\"", s ? s : "human");
	sb_printf(&b, ",\"t_start_ns\":%lld,\"t_end_ns\":%lld,\"context\":%d",
	          (long long)a->t_start_ns, (long long)a->t_end_ns, (int)a->context);
	if (a->context_after)
		sb_printf(&b, ",\"context_after\":%d", (int)a->context_after);
	switch (a->kind) {
	case REDUCE_CLICK:
	case REDUCE_DRAG:
		sb_printf(&b, ",\"x\":%d,\"y\":%d", (int)a->x, (int)a->y);
		if (a->kind == REDUCE_DRAG)
			sb_printf(&b, ",\"x2\":%d,\"y2\":%d", (int)a->x2, (int)a->y2);
		s = a->button >= 1 && a->button <= 9 ? buttons[a->button] : "";
		if (s[0])
			sb_printf(&b, ",\"button\":\"%s\"", s);
		else
			sb_printf(&b, ",\"button\":%d", a->button);
		if (a->kind == REDUCE_CLICK)
			sb_printf(&b, ",\"clicks\":%d", a->count);
		break;
	case REDUCE_SCROLL:
		sb_printf(&b, ",\"x\":%d,\"y\":%d,\"direction\":\"%s\",\"amount\":", (int)a->x,
		          (int)a->y, dirs[a->scroll_dir >= 1 && a->scroll_dir <= 4 ?
		                          a->scroll_dir : 0]);
		sb_fixed(&b, a->scroll_amount, 4, true);
		sb_puts(&b, ",\"dx\":");
		sb_fixed(&b, a->scroll_dx, 4, true);
		sb_puts(&b, ",\"dy\":");
		sb_fixed(&b, a->scroll_dy, 4, true);
		break;
	case REDUCE_TYPE:
		sb_puts(&b, ",\"text\":");
		sb_json_str(&b, a->text);
		break;
	case REDUCE_PRESS:
	case REDUCE_HOTKEY:
		sb_puts(&b, ",\"key\":");
		sb_json_str(&b, a->key);
		sb_init(&k, tmp, sizeof tmp);
		sb_xdo_chord(&k, a->mods, a->key);
		sb_puts(&b, ",\"keys\":");
		sb_json_str(&b, tmp);
		sb_printf(&b, ",\"count\":%d", a->count);
		break;
	case REDUCE_MOVE:
		sb_printf(&b, ",\"x\":%d,\"y\":%d", (int)a->x, (int)a->y);
		break;
	case REDUCE_WAIT:
		sb_puts(&b, ",\"duration_s\":");
		sb_fixed(&b, (double)a->duration_ns / 1e9, 3, true);
		break;
	default:
		break;
	}
	if (a->mods) {
		sb_puts(&b, ",\"mods\":[");
		first = true;
		for (i = 0; i < N_MODS; i++) {
			if (a->mods & mod_names[i].bit) {
				sb_printf(&b, "%s\"%s\"", first ? "" : ",", mod_names[i].xdo);
				first = false;
			}
		}
		sb_putc(&b, ']');
	}
	if (a->path_len > 0) {
		/* Points as [x, y, ms relative to t_start] (negative: before the action). */
		sb_printf(&b, ",\"path_seen\":%u,\"path\":[", (unsigned)a->path_seen);
		for (i = 0; i < (size_t)a->path_len; i++)
			sb_printf(&b, "%s[%d,%d,%lld]", i ? "," : "", (int)a->path[i].x,
			          (int)a->path[i].y,
			          (long long)((a->path[i].t_ns - a->t_start_ns) / NS_PER_MS));
		sb_putc(&b, ']');
	}
	sb_puts(&b, ",\"events\":{");
	if (a->anchor_id)
		sb_printf(&b, "\"anchor\":%lld,", (long long)a->anchor_id);
	sb_printf(&b, "\"first\":%lld,\"last\":%lld,\"count\":%u,\"ids\":[",
	          (long long)a->ev_first, (long long)a->ev_last, (unsigned)a->ev_count);
	for (i = 0; i < (size_t)a->n_ids; i++)
		sb_printf(&b, "%s%lld", i ? "," : "", (long long)a->ids[i]);
	sb_printf(&b, "],\"truncated\":%s}", a->ids_truncated ? "true" : "false");
	json_opt_id(&b, "element_id", a->element_id);
	json_opt_id(&b, "pre_frame", a->pre_frame);
	json_opt_id(&b, "post_frame", a->post_frame);
	sb_puts(&b, ",\"pyautogui\":");
	rc = reduce_action_pyautogui(a, screen_w, screen_h, 0, tmp, sizeof tmp);
	if (rc == 0)
		sb_json_str(&b, tmp);
	else
		sb_puts(&b, "null");
	if (screen_w > 0 && screen_h > 0) {
		sb_puts(&b, ",\"pyautogui_norm\":");
		rc = reduce_action_pyautogui(a, screen_w, screen_h, 1, tmp, sizeof tmp);
		if (rc == 0)
			sb_json_str(&b, tmp);
		else
			sb_puts(&b, "null");
	}
	sb_puts(&b, ",\"computer_use\":");
	rc = reduce_action_computer_use(a, tmp, sizeof tmp);
	if (rc == 0)
		sb_puts(&b, tmp);
	else
		sb_puts(&b, "null");
	sb_putc(&b, '}');
	return sb_result(&b);
}
