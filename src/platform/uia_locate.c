/*
 * uia_locate: finds the element under the pointer. AT-SPI has no z-order, so the
 * element must come from the application and the window that X shows there (the
 * hint), or from a showing popup (a menu, a combo box list) that matches the
 * popup X shows; what is found is cross-checked with X before it is reported.
 */
#include "uia_int.h"

#include <string.h>

/* The deepest element at (x, y) below from (a new reference; from itself when none). */
AtspiAccessible *uia_descend(struct lookup *lk, AtspiAccessible *from, int32_t x, int32_t y)
{
	AtspiAccessible *cur = g_object_ref(from);

	for (int i = 0; i < DESCEND_MAX && !lk->stop; i++) {
		AtspiAccessible *next = uia_lk_at_point(lk, cur, x, y);
		if (next == NULL)
			break;
		if (uia_same_obj(next, cur)) {
			g_object_unref(next);
			break;
		}
		g_object_unref(cur);
		cur = next;
	}
	return cur;
}

void uia_found_clear(struct found *f)
{
	unref(&f->root);
	unref(&f->obj);
	f->app = NULL;
	f->popup = 0;
}

void uia_windows_free(struct window_list *wl)
{
	for (int i = 0; i < wl->n; i++)
		unref(&wl->w[i]);
	wl->n = 0;
}

/* The application's showing top-level windows. */
void uia_list_windows(struct lookup *lk, struct app *app, struct window_list *wl)
{
	int n = uia_lk_child_count(lk, app->root);

	for (int i = 0; i < n && i < CHILDREN_MAX && !lk->stop; i++) {
		AtspiAccessible *w = uia_lk_child(lk, app->root, i);
		uint64_t st;

		if (w == NULL)
			continue;
		st = uia_lk_states(lk, w);
		if (!(st & UIA_STATE_SHOWING) || uia_lk_extents(lk, w, &wl->r[wl->n]) != 0) {
			g_object_unref(w);
			continue;
		}
		wl->states[wl->n] = st;
		wl->w[wl->n++] = w;
	}
}

static int role_is_popup(AtspiRole r)
{
	return r == ATSPI_ROLE_MENU || r == ATSPI_ROLE_POPUP_MENU || r == ATSPI_ROLE_LIST ||
	       r == ATSPI_ROLE_LIST_BOX || r == ATSPI_ROLE_TREE || r == ATSPI_ROLE_TREE_TABLE ||
	       r == ATSPI_ROLE_TABLE || r == ATSPI_ROLE_WINDOW || r == ATSPI_ROLE_TOOL_TIP ||
	       r == ATSPI_ROLE_SCROLL_PANE;
}

static int role_is_popup_item(AtspiRole r)
{
	return uia_role_is_menu_item(r) || r == ATSPI_ROLE_LIST_ITEM || r == ATSPI_ROLE_TABLE_CELL ||
	       r == ATSPI_ROLE_TREE_ITEM;
}

/*
 * How well a showing element at r fits the popup under the pointer; < 0 when it
 * does not. A container (menu, list...) must cover the popup's X geometry (IoU);
 * an item (menu item, list item...) must contain the point and lie inside the
 * popup, the smallest winning. Containers rank above items.
 */
static double popup_score(const AtspiRect *r, int32_t x, int32_t y,
                          const struct uia_window_hint *h, int item)
{
	double area_rank = 1.0 / (2.0 + (double)r->width * r->height);

	if (!uia_rect_has(r, x, y, 0))
		return -1.0;
	if (h == NULL || h->w <= 0)
		return area_rank;
	if (!item) {
		double s = uia_iou(r, h);
		return s >= MIN_IOU ? 1.0 + s : -1.0;
	}
	if (r->x < h->x - 4 || r->y < h->y - 4 || r->x + r->width > h->x + h->w + 4 ||
	    r->y + r->height > h->y + h->h + 4)
		return -1.0;
	return area_rank;
}

struct popup_best {
	AtspiAccessible *obj;      /* a reference */
	double score;
};

static void popup_consider(struct lookup *lk, struct popup_best *b, AtspiAccessible *c, int32_t x,
                           int32_t y,
            const struct uia_window_hint *h, int item)
{
	AtspiRect r;
	double score;

	if (c == NULL || uia_lk_extents(lk, c, &r) != 0)
		return;
	score = popup_score(&r, x, y, h, item);
	if (score > b->score) {
		if (b->obj != NULL)
			g_object_unref(b->obj);
		b->obj = g_object_ref(c);
		b->score = score;
	}
}

/* Depth first over showing descendants, for applications without Collection. */
static void popup_dfs(struct lookup *lk, struct popup_best *b, AtspiAccessible *top, int32_t x,
                      int32_t y,
            const struct uia_window_hint *h)
{
	AtspiAccessible *stack[64];
	int sp = 0, nodes = 0;

	stack[sp++] = g_object_ref(top);
	while (sp > 0) {
		AtspiAccessible *cur = stack[--sp];
		int n = lk->stop ? 0 : uia_lk_child_count(lk, cur);

		for (int k = n - 1; k >= 0 && !lk->stop && nodes < DFS_NODES_MAX; k--) {
			AtspiAccessible *c = uia_lk_child(lk, cur, k);
			AtspiRole role;

			nodes++;
			if (c == NULL)
				continue;
			if (!(uia_lk_states(lk, c) & UIA_STATE_SHOWING)) {
				g_object_unref(c);
				continue;
			}
			role = uia_lk_role(lk, c, 0);
			if (role_is_popup(role))
				popup_consider(lk, b, c, x, y, h, 0);
			if (role_is_popup_item(role))
				popup_consider(lk, b, c, x, y, h, 1);
			if (sp < 64)
				stack[sp++] = c;
			else
				g_object_unref(c);
		}
		g_object_unref(cur);
	}
}

/*
 * Finds the popup (a menu, a combo box's list...) under the pointer among the
 * showing descendants of the application's windows: GTK does not expose popups
 * as top-level windows but as children of what opened them (a combo box's menu,
 * a menu bar item's items). Asks Collection.GetMatches for showing containers,
 * then for showing items; walks the tree itself when the application does not
 * implement Collection. Within UIA_POPUP_BUDGET_MS.
 */
static AtspiAccessible *find_popup(struct lookup *lk, struct window_list *wl, int32_t x, int32_t y,
                                   const struct uia_window_hint *h)
{
	struct popup_best b = { NULL, 0.0 };
	int64_t saved = lk->deadline;
	int64_t pd = util_now_mono_ns() + (int64_t)UIA_POPUP_BUDGET_MS * MS_NS;

	if (pd < lk->deadline)
		lk->deadline = pd;
	for (int i = 0; i < wl->n && !lk->stop; i++) {
		int failed;
		GArray *m = uia_lk_matches(lk, wl->w[i], lk->u->popup_rule, 0, &failed);

		for (guint j = 0; m != NULL && j < m->len && j < POPUP_MATCHES_MAX && !lk->stop; j++)
			popup_consider(lk, &b, g_array_index(m, AtspiAccessible *, j), x, y, h, 0);
		uia_free_matches(m);
		if (failed) {
			if (!lk->stop)
				popup_dfs(lk, &b, wl->w[i], x, y, h);
			continue;
		}
		if (b.obj != NULL || lk->stop)
			continue;
		m = uia_lk_matches(lk, wl->w[i], lk->u->item_rule, 0, &failed);
		for (guint j = 0; m != NULL && j < m->len && j < POPUP_MATCHES_MAX && !lk->stop; j++)
			popup_consider(lk, &b, g_array_index(m, AtspiAccessible *, j), x, y, h, 1);
		uia_free_matches(m);
	}
	lk->deadline = saved;
	if (lk->stop == UIA_TIMEOUT && b.obj != NULL && util_now_mono_ns() <= saved)
		lk->stop = 0; /* the popup budget ran out, but a popup was found */
	return b.obj;
}

/*
 * Finds the element at (x, y) inside the window described by h (may be NULL).
 * Returns 0 with f filled, or a uia_status.
 */
int uia_locate(struct lookup *lk, int32_t x, int32_t y, const struct uia_window_hint *h,
               struct found *f)
{
	struct uia *u = lk->u;
	struct app *apps[8];
	int n_apps = 0;
	int any_hung = 0;

	memset(f, 0, sizeof *f);
	if (h != NULL && h->pid > 0) {
		n_apps = uia_apps_by_pid(lk, h->pid, apps, 8);
	} else {
		uia_scan_desktop(lk);
		for (int i = 0; i < u->n_apps && n_apps < 8; i++)
			apps[n_apps++] = &u->apps[i];
	}
	if (lk->stop)
		return lk->stop;
	if (n_apps == 0)
		return UIA_NO_ELEMENT;

	for (int ai = 0; ai < n_apps && !lk->stop && f->obj == NULL; ai++) {
		struct app *app = apps[ai];
		struct window_list wl;
		int best = -1;
		double best_score = 0.0;

		if (uia_app_hung(app)) {
			any_hung = 1;
			continue;
		}
		lk->app = app;
		memset(&wl, 0, sizeof wl);
		uia_list_windows(lk, app, &wl);
		for (int i = 0; i < wl.n; i++) {
			double score;

			if (!uia_rect_has(&wl.r[i], x, y, 2))
				continue;
			if (h != NULL && h->w > 0) {
				score = uia_iou(&wl.r[i], h);
				if (score < MIN_IOU)
					continue;
			} else {
				/* No X geometry: prefer the active window, then the smallest. */
				score = ((wl.states[i] & UIA_STATE_ACTIVE) ? 1.0 : 0.0) +
				        1.0 / (2.0 + (double)wl.r[i].width * wl.r[i].height);
			}
			if (score > best_score) {
				best = i;
				best_score = score;
			}
		}
		if (!lk->stop && (best < 0 || (h != NULL && h->popup))) {
			AtspiAccessible *p = find_popup(lk, &wl, x, y, h);
			if (p != NULL) {
				f->root = p;
				f->popup = 1;
			}
		}
		if (f->root == NULL && best >= 0)
			f->root = g_object_ref(wl.w[best]);
		if (f->root != NULL) {
			f->app = app;
			f->obj = uia_descend(lk, f->root, x, y);
		}
		uia_windows_free(&wl);
	}
	if (f->obj == NULL) {
		uia_found_clear(f);
		if (lk->stop)
			return lk->stop;
		return any_hung ? UIA_TIMEOUT : UIA_NO_ELEMENT;
	}
	return 0;
}

AtspiAccessible *uia_popup_container(struct lookup *lk, struct app *app,
                                     const struct uia_window_hint *h)
{
	struct window_list wl;
	AtspiAccessible *p;
	int32_t cx = h->x + h->w / 2, cy = h->y + h->h / 2;

	memset(&wl, 0, sizeof wl);
	lk->app = app;
	uia_list_windows(lk, app, &wl);
	p = lk->stop ? NULL : find_popup(lk, &wl, cx, cy, h);
	uia_windows_free(&wl);
	if (p != NULL && role_is_popup_item(uia_lk_role(lk, p, 0))) {
		/* Only an item matched (no container in Collection's answer): its parent
		 * holds the popup's items. */
		AtspiAccessible *parent = uia_lk_parent(lk, p);

		g_object_unref(p);
		p = parent;
	}
	return p;
}

/*
 * X shows an ordinary window under the pointer, yet AT-SPI (which has no z-order)
 * found obj inside a popup that an element of that window owns: a combo box's list
 * or a menu bar's menu, mapped over the point since (the click being looked up
 * opened it). Returns the owner (a new reference), the element pressed, or NULL
 * when obj is not in such a popup.
 */
AtspiAccessible *uia_popup_owner(struct lookup *lk, AtspiAccessible *obj)
{
	AtspiRole role = uia_lk_role(lk, obj, 0);
	AtspiAccessible *prev;

	if (!role_is_popup_item(role) && !role_is_popup(role))
		return NULL;
	prev = g_object_ref(obj);
	for (int i = 0; i < 8 && !lk->stop; i++) {
		AtspiAccessible *p = uia_lk_parent(lk, prev);
		AtspiRole pr;

		if (p == NULL)
			break;
		pr = uia_lk_role(lk, p, 0);
		if (pr == ATSPI_ROLE_COMBO_BOX) {
			g_object_unref(prev);
			return p;
		}
		if (pr == ATSPI_ROLE_MENU_BAR) {
			/* A menu bar's own item is not in a popup; an item of its menu is. */
			g_object_unref(p);
			if (uia_same_obj(prev, obj))
				break;
			return prev;
		}
		if (!role_is_popup_item(pr) && !role_is_popup(pr) && !uia_role_is_noise(pr) &&
		    pr != ATSPI_ROLE_POPUP_MENU) {
			g_object_unref(p);
			break;
		}
		g_object_unref(prev);
		prev = p;
	}
	g_object_unref(prev);
	return NULL;
}

/* The X cross-check on a read element: the point in its bounds, its bounds in the window's. */
int uia_cross_check(const struct uia_element *el, int32_t x, int32_t y,
                    const struct uia_window_hint *h)
{
	AtspiRect r = { el->x, el->y, el->w, el->h };

	if (el->w > 0 && !uia_rect_has(&r, x, y, 2))
		return UIA_MISMATCH;
	if (h != NULL && h->w > 0 && el->w > 0 && uia_iou(&r, h) <= 0.0)
		return UIA_MISMATCH;
	if (h != NULL && h->pid > 0 && el->pid > 0 && el->pid != h->pid)
		return UIA_MISMATCH;
	return 0;
}
