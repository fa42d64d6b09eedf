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

/* The map's smallest element whose bounds hold (x, y), or NULL. */
static const struct uia_element *map_at(const struct uia *u, int32_t x, int32_t y)
{
	const struct uia_element *best = NULL;
	int64_t best_area = 0;

	for (int i = 0; i < u->map_n; i++) {
		const struct uia_element *e = &u->map_el[i];
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

void uia_map_note(struct uia *u, const struct request *r, AtspiAccessible *root,
                  const struct uia_element *el)
{
	if (u->map_el == NULL || u->map_rule == NULL || root == NULL || !r->has_hint ||
	    r->hint.popup || r->hint.window == 0 || r->hint.w <= 0)
		return;
	if (r->kind == REQ_HOVER && u->map_valid && u->map_window == r->hint.window) {
		/* The live lookup of a resting pointer is the check: a map that names another
		 * element at this point (or none where the lookup found an actionable one) is
		 * out of date. A press's lookup is not: the press may have changed the window
		 * already (a button that hides itself), which is what the map is for. */
		const struct uia_element *m = map_at(u, r->x, r->y);
		int agree = m != NULL ? strcmp(m->role, el->role) == 0 &&
		                        strcmp(m->name, el->name) == 0 && m->x == el->x &&
		                        m->y == el->y && m->w == el->w && m->h == el->h
		                      : uia_role_name_is_weak(el->role);

		if (!agree)
			u->map_built_ns = 0;
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
	AtspiRect r;
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

void uia_map_refresh(struct uia *u)
{
	struct cand cands[MAP_CANDIDATES_MAX];
	struct lookup lk;
	GArray *m;
	AtspiAccessible *root = u->map_root;
	int64_t now = util_now_mono_ns(), t0 = now;
	int failed = 0, nc = 0, kept = 0;

	if (root == NULL)
		return;
	u->map_root = NULL;
	if (u->map_valid && u->map_window == u->map_hint.window &&
	    u->map_pid == u->map_hint.pid && now - u->map_built_ns < MAP_REBUILD_NS) {
		g_object_unref(root);
		return;
	}
	uia_lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
	lk.app = uia_app_by_bus(u, uia_bus_of(root));
	if (lk.app == NULL || uia_app_hung(lk.app)) {
		g_object_unref(root);
		return;
	}
	m = uia_lk_matches(&lk, root, u->map_rule, MAP_CANDIDATES_MAX, &failed);
	for (guint i = 0; m != NULL && i < m->len && nc < MAP_CANDIDATES_MAX && !lk.stop; i++) {
		AtspiAccessible *a = g_array_index(m, AtspiAccessible *, i);
		AtspiRect r;

		if (uia_lk_extents(&lk, a, &r) != 0 || r.width <= 0 || r.height <= 0)
			continue;
		cands[nc].i = (int)i;
		cands[nc].r = r;
		cands[nc].d2 = dist2(&r, u->map_x, u->map_y);
		nc++;
	}
	qsort(cands, (size_t)nc, sizeof cands[0], cand_cmp);
	for (int k = 0; k < nc && kept < MAP_ELEMENTS_MAX && !lk.stop; k++) {
		AtspiAccessible *a = g_array_index(m, AtspiAccessible *, cands[k].i);
		struct uia_element *el = &u->map_next[kept];

		memset(el, 0, sizeof *el);
		if (uia_read_element(&lk, a, lk.app, el) != 0)
			break;
		el->window = u->map_hint.window;
		kept++;
	}
	uia_free_matches(m);
	g_object_unref(root);
	if (kept == 0) {
		/* Nothing read (the window is going away, or the application did not answer):
		 * the map of this window, read before, still says what was there; another
		 * window's map says nothing about this one. */
		if (u->map_window != u->map_hint.window || u->map_pid != u->map_hint.pid)
			u->map_valid = 0;
		return;
	}
	/* The new map replaces the old one whole: a press never sees half of each. */
	{
		struct uia_element *t = u->map_el;
		u->map_el = u->map_next;
		u->map_next = t;
	}
	u->map_valid = 1;
	u->map_n = kept;
	u->map_window = u->map_hint.window;
	u->map_pid = u->map_hint.pid;
	u->map_geom = u->map_hint;
	u->map_built_ns = util_now_mono_ns();
	log_debug("uia: window 0x%x mapped: %d of %d elements kept in %lld us%s",
	          (unsigned)u->map_window, kept, nc,
	          (long long)((u->map_built_ns - t0) / 1000), failed ? " (no Collection)" : "");
}

/* Roles that say a lookup did not reach an element: layout containers, the window. */
int uia_role_name_is_weak(const char *role)
{
	static const char *const weak[] = {
		"filler", "panel", "section", "unknown", "redundant object", "viewport",
		"layered pane", "root pane", "glass pane", "scroll pane", "frame", "dialog",
		"window", "alert", "file chooser", "invalid",
	};

	for (size_t i = 0; i < sizeof weak / sizeof weak[0]; i++)
		if (strcmp(role, weak[i]) == 0)
			return 1;
	return 0;
}

const struct uia_element *uia_map_for_press(struct uia *u, const struct request *r,
                                            const struct uia_element *live)
{
	if (testbreak("map-ignored"))
		return NULL;
	if (!u->map_valid || !r->has_hint || r->hint.popup || r->hint.window != u->map_window ||
	    (r->hint.pid > 0 && u->map_pid > 0 && r->hint.pid != u->map_pid))
		return NULL;
	if (live->status == UIA_OK && !uia_role_name_is_weak(live->role))
		return NULL;
	if (live->status == UIA_DEGRADED || live->status == UIA_DROPPED)
		return NULL;
	/* The map must describe the window as it was before the press, and recently. */
	if (u->map_built_ns > r->t_ns || r->t_ns - u->map_built_ns > MAP_USE_MAX_NS)
		return NULL;
	/* A window moved or resized since the map was made: its elements moved too. */
	if (r->hint.w > 0 && (r->hint.x != u->map_geom.x || r->hint.y != u->map_geom.y ||
	                      r->hint.w != u->map_geom.w || r->hint.h != u->map_geom.h))
		return NULL;
	return map_at(u, r->x, r->y);
}

void uia_map_free(struct uia *u)
{
	unref(&u->map_root);
	if (u->map_rule != NULL) {
		g_object_unref(u->map_rule);
		u->map_rule = NULL;
	}
	free(u->map_el);
	free(u->map_next);
	u->map_el = NULL;
	u->map_next = NULL;
	u->map_valid = 0;
}
