/*
 * uia_map: the elements of the window a person is working in, read ahead of time.
 *
 * A press is looked up after it happened. When the press closes its window (the OK
 * button of a dialog, which GTK acts on at the release that follows at once), the
 * application tears the window down while the lookup runs, and the lookup then finds
 * the dialog, a filler or nothing. So whenever an element of an ordinary window is
 * resolved (a hover, a press), and the window's map is older than MAP_REBUILD_NS or of
 * another window, the uia thread reads that window's actionable elements (buttons,
 * entries, combo boxes, check boxes, links, items...) in full, after the result was
 * handed on. A press whose own lookup then finds no element, or only a layout container
 * or the window itself, takes the map's element at its point, provided X showed the
 * same window (id and pid) under the pointer at the press and the map is recent
 * (`source` `map`). The live lookup stays the first answer, and the check.
 *
 * Bounds: one map, of MAP_ELEMENTS_MAX elements (the nearest to the pointer of at most
 * MAP_CANDIDATES_MAX showing actionable elements that one Collection call returns), so
 * its memory is fixed and its cost to the application is one Collection call, one
 * extents call per candidate and one element read per kept element, at most once per
 * MAP_REBUILD_NS while the person rests or presses in the window.
 */
#include "uia_int.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "testbreak.h"

/* Roles a press acts on: what the map keeps. */
static const AtspiRole map_roles[] = {
	ATSPI_ROLE_PUSH_BUTTON, ATSPI_ROLE_TOGGLE_BUTTON, ATSPI_ROLE_CHECK_BOX,
	ATSPI_ROLE_RADIO_BUTTON, ATSPI_ROLE_COMBO_BOX, ATSPI_ROLE_TEXT, ATSPI_ROLE_PASSWORD_TEXT,
	ATSPI_ROLE_ENTRY, ATSPI_ROLE_SPIN_BUTTON, ATSPI_ROLE_SLIDER, ATSPI_ROLE_LINK,
	ATSPI_ROLE_PAGE_TAB, ATSPI_ROLE_MENU_ITEM, ATSPI_ROLE_CHECK_MENU_ITEM,
	ATSPI_ROLE_RADIO_MENU_ITEM, ATSPI_ROLE_LIST_ITEM, ATSPI_ROLE_TREE_ITEM,
	ATSPI_ROLE_PUSH_BUTTON_MENU, ATSPI_ROLE_TABLE_CELL,
};

AtspiMatchRule *uia_map_rule(void)
{
	AtspiStateSet *ss = atspi_state_set_new(NULL);
	GArray *ra = g_array_new(FALSE, FALSE, sizeof(AtspiRole));
	AtspiMatchRule *rule;

	atspi_state_set_add(ss, ATSPI_STATE_SHOWING);
	g_array_append_vals(ra, map_roles, (guint)(sizeof map_roles / sizeof map_roles[0]));
	rule = atspi_match_rule_new(ss, ATSPI_Collection_MATCH_ALL, NULL,
	                            ATSPI_Collection_MATCH_NONE, ra, ATSPI_Collection_MATCH_ANY,
	                            NULL, ATSPI_Collection_MATCH_NONE, FALSE);
	g_object_unref(ss);
	g_array_free(ra, TRUE);
	return rule;
}

/* The smallest of the n elements els whose bounds hold (x, y), or NULL. */
static const struct uia_element *elements_at(const struct uia_element *els, int n, int32_t x,
                                             int32_t y)
{
	const struct uia_element *best = NULL;
	int64_t best_area = 0;

	for (int i = 0; i < n; i++) {
		const struct uia_element *e = &els[i];
		int64_t area = (int64_t)e->w * e->h;

		if (x < e->x || y < e->y || x >= e->x + e->w || y >= e->y + e->h)
			continue;
		/* A lookup names a combo box, not the button GTK draws inside it. */
		if (e->n_ancestors > 0 && strcmp(e->ancestors[0].role, "combo box") == 0)
			continue;
		if (best == NULL || area < best_area) {
			best = e;
			best_area = area;
		}
	}
	return best;
}

/* The window map's element at (x, y), or NULL. */
static const struct uia_element *map_at(const struct uia *u, int32_t x, int32_t y)
{
	return elements_at(u->map.el, u->map.n, x, y);
}

void uia_map_note(struct uia *u, const struct request *r, AtspiAccessible *root,
                  const struct uia_element *el)
{
	if (u->map.el == NULL || u->map_rule == NULL || root == NULL || !r->has_hint ||
	    r->hint.popup || r->hint.window == 0 || r->hint.w <= 0)
		return;
	if (r->kind == REQ_HOVER && u->map.valid && u->map.geom.window == r->hint.window) {
		/* The live lookup of a resting pointer is the check: a map that names another
		 * element at this point (or none where the lookup found an actionable one) is
		 * out of date. A press's lookup is not: the press may have changed the window
		 * already (a button that hides itself), which is what the map is for. */
		const struct uia_element *m = map_at(u, r->x, r->y);
		int agree = m != NULL ? strcmp(m->role, el->role) == 0 &&
		                        strcmp(m->name, el->name) == 0 && m->x == el->x &&
		                        m->y == el->y && m->w == el->w && m->h == el->h
		                      : uia_role_name_is_weak(el->role);

		/* An element without bounds was read while the application tore it down (a
		 * dialog closed by the click that followed the rest at once): it says nothing
		 * of what the window showed before, which the press needs. */
		if (el->w <= 0 || el->h <= 0)
			agree = 1;

		/* The hover's lookup may have ended after a press that changed the window
		 * (a submit that navigates at once): the map is read again right away,
		 * and kept, as the map before, for a press made before that. */
		if (!agree)
			u->map_dirty = 1;
	}
	unref(&u->map_root);
	u->map_root = g_object_ref(root);
	u->map_hint = r->hint;
	u->map_x = r->x;
	u->map_y = r->y;
}

/* A candidate: its index in the Collection's answer and its distance to the pointer. */
struct cand {
	int i;
	int64_t d2;
};

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return x->d2 < y->d2 ? -1 : x->d2 > y->d2;
}

/* Squared distance from (x, y) to the rectangle r (0 inside). */
static int64_t dist2(const AtspiRect *r, int32_t x, int32_t y)
{
	int64_t dx = 0, dy = 0;

	if (x < r->x)
		dx = r->x - x;
	else if (x >= r->x + r->width)
		dx = x - (r->x + r->width - 1);
	if (y < r->y)
		dy = r->y - y;
	else if (y >= r->y + r->height)
		dy = y - (r->y + r->height - 1);
	return dx * dx + dy * dy;
}

/*
 * Reads the showing actionable elements below root into out (MAP_ELEMENTS_MAX): the
 * nearest to (x, y) of at most MAP_CANDIDATES_MAX, only those inside within (NULL:
 * anywhere), each stamped with window. Returns how many were kept; *nc the candidates.
 */
static int read_items(struct uia *u, struct lookup *lk, AtspiAccessible *root, int32_t x,
                      int32_t y, const struct uia_window_hint *within, uint32_t window,
                      struct uia_element *out, int *nc_out, int *failed)
{
	struct cand cands[MAP_CANDIDATES_MAX];
	GArray *m;
	int nc = 0, kept = 0;

	m = uia_lk_matches(lk, root, u->map_rule, MAP_CANDIDATES_MAX, failed);
	for (guint i = 0; m != NULL && i < m->len && nc < MAP_CANDIDATES_MAX && !lk->stop; i++) {
		AtspiAccessible *a = g_array_index(m, AtspiAccessible *, i);
		AtspiRect r;

		if (uia_lk_extents(lk, a, &r) != 0 || r.width <= 0 || r.height <= 0)
			continue;
		if (within != NULL &&
		    (r.x < within->x - 4 || r.y < within->y - 4 ||
		     r.x + r.width > within->x + within->w + 4 ||
		     r.y + r.height > within->y + within->h + 4))
			continue;
		cands[nc].i = (int)i;
		cands[nc].d2 = dist2(&r, x, y);
		nc++;
	}
	qsort(cands, (size_t)nc, sizeof cands[0], cand_cmp);
	for (int k = 0; k < nc && kept < MAP_ELEMENTS_MAX && !lk->stop; k++) {
		AtspiAccessible *a = g_array_index(m, AtspiAccessible *, cands[k].i);
		struct uia_element *el = &out[kept];

		memset(el, 0, sizeof *el);
		if (uia_read_element(lk, a, lk->app, el) != 0)
			break;
		el->window = window;
		kept++;
	}
	uia_free_matches(m);
	*nc_out = nc;
	return kept;
}

/* 1 when a and b name the same window of the same process. */
static int same_window(const struct uia_window_hint *a, const struct uia_window_hint *b)
{
	return a->window == b->window && a->pid == b->pid;
}

/*
 * The window noted could not be read again. A map a hover found out of date says
 * nothing sure about a press to come, but still what was there for a press made
 * before now (the click that closed the window, or navigated away from the page,
 * while the hover was looked up): it is kept for those only.
 */
static void unreadable(struct uia *u)
{
	if (u->map_dirty && u->map.valid && u->map.until_ns == 0)
		u->map.until_ns = util_now_mono_ns();
	u->map_dirty = 0;
}

void uia_map_refresh(struct uia *u)
{
	struct lookup lk;
	AtspiAccessible *root = u->map_root;
	int64_t now = util_now_mono_ns(), t0 = now;
	int failed = 0, nc = 0, kept;

	if (root == NULL)
		return;
	u->map_root = NULL;
	if (u->map.valid && same_window(&u->map.geom, &u->map_hint) &&
	    now - u->map.built_ns < MAP_REBUILD_NS && !u->map_dirty && u->map.until_ns == 0) {
		g_object_unref(root);
		return;
	}
	uia_lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
	lk.app = uia_app_by_bus(u, uia_bus_of(root));
	if (lk.app == NULL || uia_app_hung(lk.app)) {
		g_object_unref(root);
		unreadable(u);
		return;
	}
	/* Read into the spare buffer: the map before stays whole for a press made before
	 * the current one was read, also when nothing is read now. */
	kept = read_items(u, &lk, root, u->map_x, u->map_y, NULL, u->map_hint.window,
	                  u->map_spare, &nc, &failed);
	g_object_unref(root);
	if (kept == 0) {
		/* Nothing read (the window is going away, or the application did not answer):
		 * the map of this window, read before, still says what was there; another
		 * window's map says nothing about this one. */
		if (!same_window(&u->map.geom, &u->map_hint))
			u->map.valid = 0;
		unreadable(u);
		return;
	}
	/* The new map replaces the old one whole: a press never sees half of each. The old
	 * one is kept beside it for a press made before the new one was read, and the one
	 * before that is the spare now. */
	{
		struct uia_element *spare = u->prev.el;

		/* Another window's map: the page it was matched to is not this window's. */
		if (!same_window(&u->map.geom, &u->map_hint))
			u->map_page[0] = '\0';
		u->prev = u->map;
		u->map = (struct wmap){ .el = u->map_spare, .n = kept, .valid = 1,
		                        .geom = u->map_hint, .built_ns = util_now_mono_ns() };
		u->map_spare = spare;
	}
	u->map_dirty = 0;
	pthread_mutex_lock(&u->mu);
	u->stats.maps++;
	pthread_mutex_unlock(&u->mu);
	log_debug("uia: window 0x%x mapped: %d of %d elements kept in %lld us%s",
	          (unsigned)u->map.geom.window, kept, nc,
	          (long long)((u->map.built_ns - t0) / 1000), failed ? " (no Collection)" : "");
}

void uia_map_page(struct uia *u, uint32_t window, const char *url, AtspiAccessible *doc)
{
	const char *mapped = NULL;

	/* The map is of another window (its geometry would be unknown), or this page was
	 * matched already: a page loaded again at the same address is taken to show the
	 * same elements. */
	if (u->map.geom.window != window || u->map_rule == NULL || doc == NULL || url[0] == '\0' ||
	    strcmp(u->map_page, url) == 0 || testbreak("map-page-ignored"))
		return;
	set_str(u->map_page, url, sizeof u->map_page);
	for (int i = 0; u->map.valid && u->map.until_ns == 0 && i < u->map.n && mapped == NULL;
	     i++)
		if (u->map.el[i].url[0] != '\0')
			mapped = u->map.el[i].url;
	if (mapped != NULL && strcmp(mapped, url) == 0)
		return;
	/* Another page (or none mapped yet in this window): its elements are not the old
	 * page's, which a press on the new page must never be named from (a form field
	 * where the old page had a link), and a first press at once on a page whose tree is
	 * still being built finds only the document. */
	unref(&u->map_root);
	u->map_root = g_object_ref(doc);
	u->map_hint = u->map.geom;
	u->map_dirty = 1;
	log_debug("uia: window 0x%x shows another page: mapped again", (unsigned)window);
	uia_map_refresh(u);
}

/* Asks for r's popup to be mapped again a little later, unless a newer one came. */
static void popup_again(struct uia *u, const struct request *r)
{
	pthread_mutex_lock(&u->mu);
	if (!u->popup_pending && ++u->popup_tries < POPUP_MAP_TRIES) {
		u->popup_req = *r;
		u->popup_pending = 1;
		u->popup_due = util_now_mono_ns() + (int64_t)POPUP_MAP_RETRY_MS * MS_NS;
	}
	pthread_mutex_unlock(&u->mu);
}

void uia_map_popup(struct uia *u, const struct request *r)
{
	struct lookup lk;
	struct app *apps[4];
	int n_apps, nc = 0, kept = 0, failed = 0;
	int32_t pid = r->hint.pid > 0 ? r->hint.pid : u->map.geom.pid;
	int64_t t0 = util_now_mono_ns();

	if (u->pmap_el == NULL || u->map_rule == NULL || !r->has_hint || pid <= 0)
		return;
	/* Another popup now: this one's map, if any, says nothing about it. */
	if (u->pmap_valid && u->pmap_hint.window != r->hint.window)
		u->pmap_valid = 0;
	uia_lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
	n_apps = uia_apps_by_pid(&lk, pid, apps, 4);
	for (int i = 0; i < n_apps && kept == 0 && !lk.stop; i++) {
		AtspiAccessible *c;

		if (uia_app_hung(apps[i]))
			continue;
		c = uia_popup_container(&lk, apps[i], &r->hint);
		if (c == NULL)
			continue;
		lk.app = apps[i];
		kept = read_items(u, &lk, c, r->x, r->y, &r->hint, r->hint.window, u->pmap_next, &nc,
		                  &failed);
		g_object_unref(c);
	}
	if (kept == 0) {
		/* The application shows the popup in AT-SPI a little after X does. */
		if (!lk.stop || lk.stop == UIA_TIMEOUT)
			popup_again(u, r);
		return;
	}
	for (int i = 0; i < kept; i++)
		u->pmap_next[i].popup = 1;
	{
		struct uia_element *t = u->pmap_el;
		u->pmap_el = u->pmap_next;
		u->pmap_next = t;
	}
	u->pmap_valid = 1;
	u->pmap_n = kept;
	u->pmap_hint = r->hint;
	pthread_mutex_lock(&u->mu);
	u->stats.popup_maps++;
	pthread_mutex_unlock(&u->mu);
	log_debug("uia: popup 0x%x mapped: %d of %d items kept in %lld us",
	          (unsigned)r->hint.window, kept, nc,
	          (long long)((util_now_mono_ns() - t0) / 1000));
}

/* Roles that say a lookup did not reach an element: layout containers, the window, and
 * a browser's page as a whole (a submit button or link that navigates is looked up
 * after the next page replaced it, and the lookup finds that page's document). */
int uia_role_name_is_weak(const char *role)
{
	static const char *const weak[] = {
		"filler", "panel", "section", "unknown", "redundant object", "viewport",
		"layered pane", "root pane", "glass pane", "scroll pane", "frame", "dialog",
		"window", "alert", "file chooser", "invalid", "menu", "popup menu", "list",
		"list box", "menu bar", "tool bar", "document web", "document frame",
		"internal frame",
	};

	for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++)
		if (strcmp(role, weak[i]) == 0)
			return 1;
	return 0;
}

/* 1 when a found element says the lookup did not reach what was pressed: a container,
 * the window, or an element without bounds (read while the application tore it down). */
static int live_weak(const struct uia_element *el)
{
	return uia_role_name_is_weak(el->role) || el->w <= 0 || el->h <= 0;
}

/* The element at r's point of the window map m, if it describes r's window as it was
 * before the press, recently, at the same place; else NULL. */
static const struct uia_element *window_map_at(const struct request *r, const struct wmap *m)
{
	const struct uia_window_hint *geom = &m->geom;

	if (!m->valid || r->hint.window != geom->window ||
	    (r->hint.pid > 0 && geom->pid > 0 && r->hint.pid != geom->pid))
		return NULL;
	if (m->built_ns > r->t_ns || r->t_ns - m->built_ns > MAP_USE_MAX_NS ||
	    (m->until_ns != 0 && r->t_ns > m->until_ns))
		return NULL;
	/* A window moved or resized since the map was made: its elements moved too. */
	if (r->hint.w > 0 && (r->hint.x != geom->x || r->hint.y != geom->y ||
	                      r->hint.w != geom->w || r->hint.h != geom->h))
		return NULL;
	return elements_at(m->el, m->n, r->x, r->y);
}

const struct uia_element *uia_map_for_press(struct uia *u, const struct request *r,
                                            const struct uia_element *live)
{
	const struct uia_window_hint *t = &r->at_press_top;

	if (testbreak("map-ignored"))
		return NULL;
	if (live->status == UIA_DEGRADED || live->status == UIA_DROPPED)
		return NULL;
	/*
	 * A press in the newest popup (X, following the display's events in order, had
	 * shown it at the press, and the point lies in it), closed by the click before
	 * the lookup: the popup's map names the item, unless the lookup found one in it.
	 */
	if (u->pmap_valid && r->at_press_top_known && t->window != 0 &&
	    t->window == u->pmap_hint.window && r->x >= t->x && r->y >= t->y &&
	    r->x < t->x + t->w && r->y < t->y + t->h) {
		if (live->status == UIA_OK && live->popup && !live_weak(live))
			return NULL;
		if (testbreak("popup-map-ignored"))
			return NULL;
		/* The popup moved since it was mapped: its items moved too. */
		if (t->x != u->pmap_hint.x || t->y != u->pmap_hint.y || t->w != u->pmap_hint.w ||
		    t->h != u->pmap_hint.h)
			return NULL;
		return elements_at(u->pmap_el, u->pmap_n, r->x, r->y);
	}
	if (!r->has_hint || r->hint.popup)
		return NULL;
	if (live->status == UIA_OK && !live_weak(live))
		return NULL;
	/* The window's map, or the one before it when the map was read again after the
	 * press (its hover's lookup was followed by a new read while the press came). */
	return window_map_at(r, u->map.built_ns <= r->t_ns ? &u->map : &u->prev);
}

void uia_map_free(struct uia *u)
{
	unref(&u->map_root);
	if (u->map_rule != NULL) {
		g_object_unref(u->map_rule);
		u->map_rule = NULL;
	}
	free(u->map.el);
	free(u->prev.el);
	free(u->map_spare);
	free(u->pmap_el);
	free(u->pmap_next);
	u->map.el = NULL;
	u->prev.el = NULL;
	u->map_spare = NULL;
	u->pmap_el = NULL;
	u->pmap_next = NULL;
	u->pmap_valid = 0;
	u->map.valid = 0;
	u->prev.valid = 0;
}
