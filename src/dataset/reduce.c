/*
 * reduce: the event → action reducer (docs/ACTIONS.md). This file holds its
 * parameters, its public entry points, the action being built and the queue of
 * completed ones, and what focus changes, pauses and idle time do; reduce_int.h
 * lists the other files.
 *
 * One pass over the events, in recorded order, with a small amount of state: the
 * action being built (`cur`: a click that may still become a double click, a typing
 * run, a scroll run, a key that may repeat, a hotkey whose modifiers are still
 * held), the button gesture in progress (`held`), the pointer path since the last
 * action, the keys held down, and a queue of completed actions the caller takes.
 * Only one action is ever being built, so actions come out in the order they
 * began. Nothing here reads a clock: every timeout is measured in event time, by
 * the next event that arrives, which keeps the reduction deterministic.
 */
#include "reduce.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reduce_int.h"
#include "util.h"

/* ------------------------------------------------------------------------- */
/* Parameters                                                                 */

void reduce_params_defaults(struct reduce_params *p)
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

int reduce_params_check(const struct reduce_params *p, char **cause)
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

int reduce_params_json(const struct reduce_params *p, char *buf, size_t n)
{
	int k;

	if (p == NULL || buf == NULL || n == 0)
		return -EINVAL;
	k = snprintf(buf, n, "{\"double_click_ms\":%d,\"double_click_px\":%d,\"drag_min_px\":%d,"
	             "\"type_gap_ms\":%d,\"scroll_gap_ms\":%d,\"wait_ms\":%d,"
	             "\"focus_follow_ms\":%d,\"path_max\":%d}",
	             p->double_click_ms, p->double_click_px, p->drag_min_px, p->type_gap_ms,
	             p->scroll_gap_ms, p->wait_ms, p->focus_follow_ms, p->path_max);
	return k < 0 || (size_t)k >= n ? -ENOSPC : 0;
}

/* ------------------------------------------------------------------------- */
/* The action being built and the queue of completed actions                 */

static int src_enum(unsigned mask)
{
	if (mask == SRC_SYNTH)
		return REDUCE_SOURCE_SYNTHETIC;
	if (mask == SRC_AGENT)
		return REDUCE_SOURCE_AGENT;
	return mask == SRC_HUMAN || mask == 0 ? REDUCE_SOURCE_HUMAN : REDUCE_SOURCE_MIXED;
}


static bool focus_eligible(int kind)
{
	return kind == REDUCE_CLICK || kind == REDUCE_DRAG || kind == REDUCE_PRESS ||
	       kind == REDUCE_HOTKEY;
}

/* Appends a (its source still a mask of SRC_* bits) to the queue. */
static void emit(struct reduce *r, const struct reduce_action *a)
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
struct reduce_action *reduce_cur_start(struct reduce *r, int kind, const struct event *ev,
                                       int64_t t, unsigned src)
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
void reduce_cur_flush(struct reduce *r)
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

/* ------------------------------------------------------------------------- */
/* Focus, pause, idle                                                         */

static void emit_marker(struct reduce *r, int kind, int64_t t0, int64_t t1, int64_t id)
{
	struct reduce_action *a;
	struct event ev;

	memset(&ev, 0, sizeof ev);
	ev.id = id;
	ev.context = r->ctx;
	a = reduce_cur_start(r, kind, &ev, t0, r->last_src ? r->last_src : SRC_HUMAN);
	a->t_end_ns = t1;
	if (kind == REDUCE_WAIT)
		a->duration_ns = t1 - t0;
	if (id != 0)
		prov_add(a, id, true);
	r->cur_on = false;
	emit(r, a);
}

static void on_idle(struct reduce *r, int64_t t);

static void on_focus(struct reduce *r, const struct event *ev, int64_t t)
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
		reduce_cur_flush(r);
		emit_marker(r, REDUCE_SWITCH, t, t, ev->id);
		r->q[r->q_tail - 1].context_after = seq;
	}
	r->ctx = seq;
}

/* Everything pending ends: at a pause and at the end of the session. */
static void flush_all(struct reduce *r)
{
	r->held.on = false; /* its release was not recorded: no action */
	reduce_path_reset(&r->drag);
	reduce_cur_flush(r);
	reduce_emit_move(r);
	r->open = false;
	reduce_keys_reset(r);
	r->have_input = false;
}

/* No input from last_input_t to t: pending actions end, then a wait. */
static void on_idle(struct reduce *r, int64_t t)
{
	reduce_cur_flush(r);
	reduce_emit_move(r);
	r->open = false;
	emit_marker(r, REDUCE_WAIT, r->last_input_t, t, 0);
	r->open = false;
}

/* ------------------------------------------------------------------------- */
/* The public entry points                                                    */

int reduce_new(const struct reduce_params *p, struct reduce **out)
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
	reduce_path_reset(&r->pre);
	reduce_path_reset(&r->drag);
	reduce_keys_reset(r);
	*out = r;
	return 0;
}

void reduce_set_elements(struct reduce *r, reduce_element_fn fn, void *arg)
{
	if (r == NULL)
		return;
	r->el_fn = fn;
	r->el_arg = arg;
}

int reduce_push(struct reduce *r, const struct event *ev)
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
		reduce_cur_flush(r);
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
		reduce_motion(r, ev, t);
		break;
	case EVENT_KEY_PRESS:
		reduce_key_press(r, ev, t);
		break;
	case EVENT_KEY_RELEASE:
		reduce_key_release(r, ev, t);
		break;
	case EVENT_BUTTON_PRESS:
		reduce_button_press(r, ev, t);
		break;
	case EVENT_BUTTON_RELEASE:
		reduce_button_release(r, ev, t);
		break;
	case EVENT_SCROLL:
		reduce_scroll(r, ev, t);
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

int reduce_finish(struct reduce *r)
{
	if (r == NULL || r->finished)
		return -EINVAL;
	flush_all(r);
	r->finished = true;
	return 0;
}

void reduce_free(struct reduce *r)
{
	if (r == NULL)
		return;
	free(r->q);
	free(r);
}

struct reduce_action *reduce_take(struct reduce *r)
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
	reduce_label(r, a);
	return a;
}
