/*
 * uia_handle: hovers and presses on the uia thread. A hover resolves the element
 * under the resting pointer ahead of time; a press takes that element (or a
 * remembered one) when X confirms nothing changed, confirms it with the
 * application when something may have, and otherwise looks it up afresh.
 */
#include "uia_int.h"

#include <string.h>

#include "log.h"

/*
 * Resolves the element at the request's point into el and, when found, keeps it
 * as the hover snapshot (and among the remembered elements). Returns the status.
 */
static int resolve_at(struct uia *u, const struct request *r, struct uia_element *el)
{
	const struct uia_window_hint *h = r->has_hint ? &r->hint : NULL;
	struct lookup lk;
	struct found f;
	struct check_gens g;
	int st;

	uia_gens_now(u, &g);
	uia_lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
	st = uia_locate(&lk, r->x, r->y, h, &f);
	if (st != 0)
		return st;
	lk.app = f.app;
	if (h != NULL && h->w > 0 && !h->popup && !f.popup) {
		AtspiAccessible *owner = uia_popup_owner(&lk, f.obj);
		if (owner != NULL) {
			g_object_unref(f.obj);
			f.obj = owner;
		}
	}
	st = uia_read_element(&lk, f.obj, f.app, el);
	if (st == 0)
		st = uia_cross_check(el, r->x, r->y, h);
	el->popup = f.popup;
	if (st == 0) {
		uia_snap_clear(&u->hover_snap);
		u->hover_snap.valid = 1;
		u->hover_snap.el = *el;
		u->hover_snap.obj = g_object_ref(f.obj);
		u->hover_snap.root = g_object_ref(f.root);
		u->hover_snap.x = r->x;
		u->hover_snap.y = r->y;
		u->hover_snap.window = h != NULL ? h->window : 0;
		u->hover_snap.popup = f.popup;
		u->hover_snap.fresh = r->kind == REQ_HOVER;
		u->hover_snap.gen = r->gen;
		u->hover_snap.press_seq = r->press_seq;
		uia_recent_put(u, r, &g, f.obj, f.root, f.popup, el);
	}
	if (st == 0 && !f.popup)
		uia_map_note(u, r, f.root, el);
	uia_found_clear(&f);
	return st;
}

void uia_do_hover(struct uia *u, const struct request *r)
{
	struct uia_element *el = &u->work;
	int st, rechecked;

	uia_base_result(el, r);
	uia_snap_clear(&u->hover_snap);
	st = resolve_at(u, r, el);
	rechecked = uia_recheck_window(u, r);
	log_debug("uia: hover at %d,%d (window 0x%x, popup %d, popups known %d): %s in %lld us, "
	          "%d remembered checked again", (int)r->x, (int)r->y,
	          (unsigned)(r->has_hint ? r->hint.window : 0),
	          r->has_hint ? (int)r->hint.popup : 0, r->popup_known, uia_status_name(st),
	          (long long)((util_now_mono_ns() - r->t_ns) / 1000), rechecked);
	uia_map_refresh(u);
	pthread_mutex_lock(&u->mu);
	u->stats.hovers_resolved++;
	pthread_mutex_unlock(&u->mu);
}

/* 1 when obj is a (near) descendant of anc. */
static int inside(struct lookup *lk, AtspiAccessible *obj, AtspiAccessible *anc)
{
	AtspiAccessible *cur = g_object_ref(obj);
	int found = 0;

	for (int i = 0; i < 6 && cur != NULL && !found && !lk->stop; i++) {
		AtspiAccessible *p = uia_lk_parent(lk, cur);

		g_object_unref(cur);
		cur = p;
		found = uia_same_obj(cur, anc);
	}
	if (cur != NULL)
		g_object_unref(cur);
	return found;
}

/*
 * Hands on a press's element. When what was found is no element, or only a container
 * or the window (a hover's lookup that caught the window changing, a lookup run while
 * the press closed its window or popup), the map of that window or popup names the
 * element at the point, if it holds one there (uia_map.c).
 */
static void press_done(struct uia *u, const struct request *r, struct uia_element *el)
{
	const struct uia_element *m = uia_map_for_press(u, r, el);

	if (m != NULL) {
		/*
		 * X showed the mapped window or popup at the press, so the map's element at
		 * the point was pressed: the dialog's OK, acted on at the release, or a
		 * list's item, torn down by the application while it was asked.
		 */
		log_debug("uia: press at %d,%d named from the %s map (found: %s, %s)",
		          (int)r->x, (int)r->y, m->popup ? "popup's" : "window's",
		          uia_status_name(el->status), el->role);
		*el = *m;
		el->event_id = r->event_id;
		el->t_ns = r->t_ns;
		el->kind = UIA_KIND_PRESS;
		el->status = UIA_OK;
		el->source = UIA_SOURCE_MAP;
	}
	uia_push_result(u, el);
}

void uia_do_press(struct uia *u, const struct request *r)
{
	struct uia_element *el = &u->work;
	struct snapshot *s = &u->hover_snap;
	uint32_t win = r->has_hint ? r->hint.window : 0;

	if (s->valid && s->fresh && s->gen == r->gen && s->press_seq == r->press_seq &&
	    s->x == r->x && s->y == r->y &&
	    s->window == win &&
	    s->el.read_ns <= r->t_ns && r->t_ns - s->el.read_ns < HOVER_FRESH_NS &&
	    uia_cross_check(&s->el, r->x, r->y, r->has_hint ? &r->hint : NULL) == 0) {
		/*
		 * The first press where the pointer came to rest, soon after, with nothing
		 * typed or pressed in between: X has just confirmed the pointer is still there over the
		 * same window, so the element read at the hover is the one pressed. Asking the
		 * application again would only wait for it to finish handling the click.
		 */
		*el = s->el;
		el->event_id = r->event_id;
		el->t_ns = r->t_ns;
		el->kind = UIA_KIND_PRESS;
		el->status = UIA_OK;
		el->source = UIA_SOURCE_HOVER;
		s->fresh = 0;
		press_done(u, r, el);
		return;
	}
	if ((s = uia_recent_for_press(u, r)) != NULL) {
		/*
		 * A point looked at before, checked again after everything that came before
		 * this press, and X shows the same window there with no popup come or gone:
		 * the element is known without waiting for the application to handle the
		 * click (an agent moving and clicking at once).
		 */
		*el = s->el;
		el->states = uia_recent_states_at(s, r->t_ns);
		uia_format_states(el->states, el->state_names, sizeof el->state_names);
		el->event_id = r->event_id;
		el->t_ns = r->t_ns;
		el->kind = UIA_KIND_PRESS;
		el->status = UIA_OK;
		el->source = UIA_SOURCE_RECENT;
		el->window = r->hint.window;
		press_done(u, r, el);
		return;
	}
	s = &u->hover_snap;
	if (s->valid && s->x == r->x && s->y == r->y && s->window == win &&
	    s->el.read_ns <= r->t_ns + 50 * MS_NS &&
	    uia_cross_check(&s->el, r->x, r->y, r->has_hint ? &r->hint : NULL) == 0) {
		/* The pointer has not moved since it came to rest: confirm that element. */
		struct lookup lk;
		AtspiAccessible *now;
		int same;

		uia_lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
		lk.app = uia_app_by_bus(u, uia_bus_of(s->obj));
		now = uia_descend(&lk, s->root, r->x, r->y);
		/* An element found directly (a popup item) is its own root: it must still show. */
		same = uia_same_obj(now, s->obj) && (uia_lk_states(&lk, s->obj) & UIA_STATE_SHOWING);
		/* The press opened something inside the element (a combo box's list, which
		 * GTK puts below the combo box, under the pointer): still the element pressed. */
		if (!same && !lk.stop && !uia_same_obj(now, s->root) && inside(&lk, now, s->obj))
			same = 1;
		if (same || lk.stop || uia_same_obj(now, s->root)) {
			*el = s->el;
			el->event_id = r->event_id;
			el->t_ns = r->t_ns;
			el->kind = UIA_KIND_PRESS;
			el->status = UIA_OK;
			el->source = same ? UIA_SOURCE_HOVER : UIA_SOURCE_HOVER_GONE;
			g_object_unref(now);
			press_done(u, r, el);
			return;
		}
		g_object_unref(now);
		/* Something else is there now: look again below. */
	}
	log_debug("uia: press at %d,%d (window 0x%x, popup %d, popups known %d) looked up again "
	          "(hover %s, %d remembered)", (int)r->x, (int)r->y, (unsigned)win,
	          r->has_hint ? (int)r->hint.popup : 0, r->popup_known,
	          s->valid ? "elsewhere" : "none", uia_recent_count(u));
	uia_base_result(el, r);
	el->status = resolve_at(u, r, el);
	el->source = el->status == UIA_OK ? UIA_SOURCE_PRESS : UIA_SOURCE_NONE;
	if (el->status != UIA_OK) {
		struct uia_element keep = *el;
		uia_base_result(el, r);
		el->status = keep.status;
	}
	press_done(u, r, el);
	uia_map_refresh(u);
}
