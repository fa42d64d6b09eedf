/*
 * reduce_pointer: the reducer's pointer (reduce_int.h lists its other files). A
 * button pressed and released in place is a click, which a press soon after and
 * close by turns into a double or triple click; released farther away it is a
 * drag. Wheel clicks in one direction make a scroll; pointer motion is kept as a
 * path, evenly thinned, that the next action takes (or a `move` when none comes).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "reduce_int.h"

/* ------------------------------------------------------------------------- */
/* Pointer paths                                                              */

void reduce_path_reset(struct path *p)
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
static void path_add(struct path *p, int max, int32_t ox, int32_t oy, const struct event *ev,
                     int64_t t)
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
static void path_copy(const struct path *p, int max, struct reduce_action *a)
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

static bool path_moved(const struct reduce *r, const struct path *p)
{
	return p->seen > 0 && dist2(p->ox, p->oy, p->last.x, p->last.y) > r->drag_px2;
}


/* Takes the motion since the last action into a: its points when keep, else ids only. */
void reduce_absorb_pre(struct reduce *r, struct reduce_action *a, bool keep)
{
	struct path *p = &r->pre;

	if (p->seen == 0)
		return;
	prov_range(a, p->first_id, p->last_id, p->seen);
	if (keep)
		path_copy(p, r->p.path_max, a);
	reduce_path_reset(p);
}

/* Emits the motion since the last action as a `move` when it went anywhere. */
void reduce_emit_move(struct reduce *r)
{
	struct path *p = &r->pre;
	struct reduce_action *a;
	struct event ev;

	if (path_moved(r, p)) {
		memset(&ev, 0, sizeof ev);
		ev.id = p->last_id;
		ev.context = r->ctx;
		a = reduce_cur_start(r, REDUCE_MOVE, &ev, p->pts[0].t_ns, p->src);
		a->t_end_ns = p->last.t_ns;
		a->x = p->last.x;
		a->y = p->last.y;
		reduce_absorb_pre(r, a, true);
		reduce_cur_flush(r);
	}
	reduce_path_reset(p);
}

/* ------------------------------------------------------------------------- */
/* Buttons, motion, scroll                                                    */

static void set_ptr(struct reduce *r, int32_t x, int32_t y)
{
	r->ptr_x = x;
	r->ptr_y = y;
	r->ptr_known = true;
}

/* The held button is released at (rx, ry) by rel (NULL: never released). */
static void resolve_held(struct reduce *r, const struct event *rel, int64_t t, int32_t rx,
                         int32_t ry)
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
		reduce_cur_flush(r);
		a = reduce_cur_start(r, drag ? REDUCE_DRAG : REDUCE_CLICK,
		                     &(struct event){ .id = h->id, .context = h->ctx }, h->t,
		                     h->src);
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
	reduce_absorb_pre(r, a, a->kind == REDUCE_CLICK && a->count == 1);
	if (r->drag.seen > 0) {
		prov_range(a, r->drag.first_id, r->drag.last_id, r->drag.seen);
		if (a->kind == REDUCE_DRAG)
			path_copy(&r->drag, r->p.path_max, a);
	}
	reduce_path_reset(&r->drag);
	if (a->kind == REDUCE_DRAG) {
		reduce_cur_flush(r);
		return;
	}
	r->cur_press_t = h->t;
	r->cur_press_x = h->x;
	r->cur_press_y = h->y;
	r->cur_deadline = h->t + r->dc_ns + 1;
}

void reduce_button_press(struct reduce *r, const struct event *ev, int64_t t)
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
		reduce_cur_flush(r);
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
	reduce_path_reset(&r->drag);
}

void reduce_button_release(struct reduce *r, const struct event *ev, int64_t t)
{
	int b = ev->detail;

	if (b <= 0 || (b >= 4 && b <= 7))
		return;
	set_ptr(r, ev->x, ev->y);
	if (!r->held.on || r->held.button != b)
		return; /* a release without its press */
	resolve_held(r, ev, t, ev->x, ev->y);
}

void reduce_motion(struct reduce *r, const struct event *ev, int64_t t)
{
	if (r->held.on)
		path_add(&r->drag, r->p.path_max, r->held.x, r->held.y, ev, t);
	else
		path_add(&r->pre, r->p.path_max, r->ptr_known ? r->ptr_x : ev->x,
		         r->ptr_known ? r->ptr_y : ev->y, ev, t);
	set_ptr(r, ev->x, ev->y);
}

void reduce_scroll(struct reduce *r, const struct event *ev, int64_t t)
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
		reduce_absorb_pre(r, a, false);
	} else {
		r->open = false;
		reduce_cur_flush(r);
		a = reduce_cur_start(r, REDUCE_SCROLL, ev, t, src);
		a->x = ev->x;
		a->y = ev->y;
		a->mods = mods;
		a->scroll_dir = dir;
		reduce_absorb_pre(r, a, true);
		reduce_take_modp(r, a);
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

