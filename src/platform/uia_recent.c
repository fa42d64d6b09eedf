/*
 * uia_recent: the elements remembered by their point. An element found where the
 * pointer rested is kept, checked again with the application when the pointer
 * rests in its window after something happened, and taken by a press at its
 * point when nothing came between that check and the press (see uia.h), so that
 * an agent moving and clicking at once is answered without waiting for the
 * application to handle the click. Also the snapshots' clean-up.
 */
#include "uia_int.h"

#include <string.h>

void uia_snap_clear(struct snapshot *s)
{
	unref(&s->obj);
	unref(&s->root);
	s->valid = 0;
}

void uia_gens_now(struct uia *u, struct check_gens *g)
{
	pthread_mutex_lock(&u->mu);
	g->gen = u->input_gen;
	g->press_seq = u->press_calls;
	pthread_mutex_unlock(&u->mu);
}

static int same_hint(const struct uia_window_hint *a, const struct uia_window_hint *b)
{
	return a->window == b->window && a->pid == b->pid && a->x == b->x && a->y == b->y &&
	       a->w == b->w && a->h == b->h && a->popup == b->popup;
}

/*
 * Remembers the element found at a hover's point (obj in root), checked from the
 * counters g until now. Only elements of an ordinary window, with X's view of
 * popups known (a popup's items vanish with it), and only read while the pointer
 * rested: an element read right after a press may show the press half handled.
 */
void uia_recent_put(struct uia *u, const struct request *r, const struct check_gens *g,
                    AtspiAccessible *obj, AtspiAccessible *root, int popup,
     const struct uia_element *el)
{
	struct snapshot *slot = NULL;

	if (r->kind != REQ_HOVER || !r->has_hint || r->hint.window == 0 || r->hint.popup ||
	    popup || !r->popup_known)
		return;
	/* A press or key came between the rest and the reading: the reading may show it
	 * half handled. */
	if (g->press_seq != r->press_seq || g->gen != r->gen)
		return;
	for (int i = 0; i < RECENT_MAX && slot == NULL; i++) {
		struct snapshot *e = &u->recent[i];
		if (e->valid && e->x == r->x && e->y == r->y && e->window == r->hint.window)
			slot = e;
	}
	for (int i = 0; i < RECENT_MAX && slot == NULL; i++)
		if (!u->recent[i].valid)
			slot = &u->recent[i];
	if (slot == NULL) {
		slot = &u->recent[0];
		for (int i = 1; i < RECENT_MAX; i++)
			if (u->recent[i].checked_ns < slot->checked_ns)
				slot = &u->recent[i];
	}
	uia_snap_clear(slot);
	slot->valid = 1;
	slot->el = *el;
	slot->obj = g_object_ref(obj);
	slot->root = g_object_ref(root);
	slot->x = r->x;
	slot->y = r->y;
	slot->window = r->hint.window;
	slot->hint = r->hint;
	slot->gen = g->gen;
	slot->press_seq = g->press_seq;
	slot->n_flog = 0;
	slot->popup_gen = r->popup_gen;
	slot->checked_ns = util_now_mono_ns();
}

/* A remembered element's states as of t_ns: as checked, then the focus changes before t_ns. */
uint64_t uia_recent_states_at(const struct snapshot *e, int64_t t_ns)
{
	uint64_t st = e->el.states;

	for (int i = 0; i < e->n_flog && e->flog[i].ns <= t_ns; i++)
		st = e->flog[i].states;
	return st;
}

/*
 * A focus event: the remembered elements' "focused" state follows it (the element
 * that gained or lost the focus, and the others of its application, which lost it).
 * Each change is kept with the time it arrived, so that a press gets the state as
 * it was at the press, not the one its own click caused (a focus event comes a few
 * milliseconds after the click that moved the focus, which may be before uia gets
 * to the press).
 */
void uia_recent_focus(struct uia *u, AtspiAccessible *src, int gained)
{
	int64_t now = util_now_mono_ns();

	for (int i = 0; i < RECENT_MAX; i++) {
		struct snapshot *e = &u->recent[i];
		uint64_t was, st;

		if (!e->valid || e->n_flog < 0)
			continue;
		was = st = uia_recent_states_at(e, INT64_MAX);
		if (uia_same_obj(e->obj, src))
			st = gained ? st | UIA_STATE_FOCUSED : st & ~UIA_STATE_FOCUSED;
		else if (gained && strcmp(uia_bus_of(e->obj), uia_bus_of(src)) == 0)
			st &= ~UIA_STATE_FOCUSED;
		if (st == was)
			continue;
		if (e->n_flog == FLOG_MAX) {
			e->n_flog = -1; /* too many to follow: checked again before it is taken */
			continue;
		}
		e->flog[e->n_flog].ns = now;
		e->flog[e->n_flog].states = st;
		e->n_flog++;
	}
}

int uia_recent_count(struct uia *u)
{
	int n = 0;

	for (int i = 0; i < RECENT_MAX; i++)
		n += u->recent[i].valid;
	return n;
}

/*
 * A remembered element for a press: at the very point, checked after every press,
 * key, scroll and release before this press and finished before it, recently; X
 * shows the same window there, unmoved, with no popup covering the point and none
 * mapped, unmapped or moved since the check began (the hint was asked right after
 * the press). Or, when the pointer thread placed the press among the popups' changes
 * (at_press_known) and none came between the check and the press, the popup that
 * covers the point now came after the press (the press opened it): X's window
 * there at the press is the one the check saw. NULL when none fits.
 */
struct snapshot *uia_recent_for_press(struct uia *u, const struct request *r)
{
	int now_clear = r->popup_known && !r->hint.popup;

	if (!r->has_hint || r->hint.window == 0 || (!now_clear && !r->at_press_known))
		return NULL;
	for (int i = 0; i < RECENT_MAX; i++) {
		struct snapshot *e = &u->recent[i];
		const struct uia_window_hint *at_press;

		if (!e->valid || e->x != r->x || e->y != r->y)
			continue;
		if (now_clear && e->popup_gen == r->popup_gen && same_hint(&e->hint, &r->hint))
			at_press = &r->hint;
		else if (r->at_press_known && e->popup_gen == r->at_press_gen &&
		         (same_hint(&e->hint, &r->hint) || r->hint.popup || !r->popup_known))
			at_press = &e->hint;
		else
			continue;
		if (e->gen == r->gen && e->press_seq == r->press_seq && e->n_flog >= 0 &&
		    e->checked_ns <= r->t_ns && r->t_ns - e->checked_ns < RECENT_FRESH_NS &&
		    uia_cross_check(&e->el, r->x, r->y, at_press) == 0)
			return e;
	}
	return NULL;
}

/*
 * Checks a remembered element again (the pointer came to rest elsewhere in its
 * window after something happened): is it still the element at its point, and
 * what are its name, states and bounds now. Forgets it when it is not.
 */
static void recheck(struct uia *u, struct snapshot *e, uint64_t popup_gen)
{
	struct lookup lk;
	struct check_gens g;
	AtspiAccessible *now;
	AtspiRect rect;
	char *name, *desc;
	char cut_name[UIA_NAME_MAX], cut_desc[UIA_DESC_MAX];
	uint64_t states;
	int ok;

	uia_gens_now(u, &g);
	uia_lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
	lk.app = uia_app_by_bus(u, uia_bus_of(e->obj));
	if (lk.app == NULL || uia_app_hung(lk.app)) {
		uia_snap_clear(e);
		return;
	}
	now = uia_descend(&lk, e->root, e->x, e->y);
	ok = uia_same_obj(now, e->obj) && !lk.stop;
	g_object_unref(now);
	if (!ok) {
		uia_snap_clear(e);
		return;
	}
	name = uia_lk_name(&lk, e->obj);
	desc = uia_lk_description(&lk, e->obj);
	states = uia_lk_states(&lk, e->obj) & (UIA_STATE_BIT(ATSPI_STATE_LAST_DEFINED) - 1);
	uia_lk_extents(&lk, e->obj, &rect);
	set_str(cut_name, name, sizeof cut_name);
	set_str(cut_desc, desc, sizeof cut_desc);
	ok = !lk.stop && strcmp(cut_name, e->el.name) == 0 &&
	     strcmp(cut_desc, e->el.description) == 0 && rect.x == e->el.x &&
	     rect.y == e->el.y && rect.width == e->el.w && rect.height == e->el.h &&
	     (states & UIA_STATE_SHOWING);
	g_free(name);
	g_free(desc);
	if (!ok) {
		/* Renamed, moved or hidden: the next press there is looked up afresh (menu
		 * path, label and ancestors, read with the name, may have changed too). */
		uia_snap_clear(e);
		return;
	}
	e->el.states = states | (e->el.states & UIA_STATE_PASSWORD);
	uia_format_states(e->el.states, e->el.state_names, sizeof e->el.state_names);
	e->el.read_ns = util_now_mono_ns();
	e->gen = g.gen;
	e->press_seq = g.press_seq;
	e->n_flog = 0;
	e->popup_gen = popup_gen;
	e->checked_ns = e->el.read_ns;
}

/*
 * The pointer came to rest over an ordinary window, with X's view of popups known:
 * checks again the remembered elements of that window that something may have
 * changed since their last check (a press, key, scroll, focus change or popup), or
 * that are getting old, so that a press on one of them right after (an agent
 * moving and clicking at once) is known without waiting for the application to
 * handle the click. At most RECHECK_MAX of them.
 */
int uia_recheck_window(struct uia *u, const struct request *r)
{
	struct check_gens g;
	int64_t now = util_now_mono_ns();
	int n = 0;

	if (!r->has_hint || r->hint.window == 0 || r->hint.popup || !r->popup_known)
		return 0;
	uia_gens_now(u, &g);
	for (int i = 0; i < RECENT_MAX && n < RECHECK_MAX; i++) {
		struct snapshot *e = &u->recent[i];

		if (!e->valid || !same_hint(&e->hint, &r->hint))
			continue;
		if (e->gen == g.gen && e->press_seq == g.press_seq && e->n_flog == 0 &&
		    e->popup_gen == r->popup_gen && now - e->checked_ns < RECHECK_AGE_NS)
			continue;
		recheck(u, e, r->popup_gen);
		n++;
	}
	return n;
}
