/*
 * uia_atspi: every AT-SPI call of a lookup goes through here. A struct lookup
 * carries the lookup's budget and the application asked: a call as slow as
 * libatspi's timeout marks that application as hung (it is skipped for a while),
 * and once the lookup has stopped no further call is made. Also the applications
 * on the desktop (from the registry, with their pids) and small geometry helpers.
 */
#include "uia_int.h"

#include <string.h>

#include "log.h"

double uia_iou(const AtspiRect *r, const struct uia_window_hint *h)
{
	int64_t x0 = r->x > h->x ? r->x : h->x;
	int64_t y0 = r->y > h->y ? r->y : h->y;
	int64_t x1 = (int64_t)r->x + r->width < (int64_t)h->x + h->w ?
	             (int64_t)r->x + r->width : (int64_t)h->x + h->w;
	int64_t y1 = (int64_t)r->y + r->height < (int64_t)h->y + h->h ?
	             (int64_t)r->y + r->height : (int64_t)h->y + h->h;
	int64_t inter, uni;

	if (x1 <= x0 || y1 <= y0 || r->width <= 0 || r->height <= 0)
		return 0.0;
	inter = (x1 - x0) * (y1 - y0);
	uni = (int64_t)r->width * r->height + (int64_t)h->w * h->h - inter;
	return uni > 0 ? (double)inter / (double)uni : 0.0;
}

/* 1 when (x, y) lies in r, allowing `slack` pixels around it. */
int uia_rect_has(const AtspiRect *r, int32_t x, int32_t y, int slack)
{
	return r->width > 0 && r->height > 0 &&
	       x >= r->x - slack && x < r->x + r->width + slack &&
	       y >= r->y - slack && y < r->y + r->height + slack;
}

int uia_same_obj(AtspiAccessible *a, AtspiAccessible *b)
{
	if (a == NULL || b == NULL)
		return 0;
	if (a == b)
		return 1;
	return ATSPI_OBJECT(a)->app != NULL && ATSPI_OBJECT(b)->app != NULL &&
	       strcmp(ATSPI_OBJECT(a)->app->bus_name, ATSPI_OBJECT(b)->app->bus_name) == 0 &&
	       strcmp(ATSPI_OBJECT(a)->path, ATSPI_OBJECT(b)->path) == 0;
}

const char *uia_bus_of(AtspiAccessible *a)
{
	AtspiApplication *app = ATSPI_OBJECT(a)->app;

	return app != NULL && app->bus_name != NULL ? app->bus_name : "";
}

void uia_lk_init(struct lookup *lk, struct uia *u, int64_t budget_ns)
{
	memset(lk, 0, sizeof *lk);
	lk->u = u;
	lk->deadline = util_now_mono_ns() + budget_ns;
}

static void mark_hung(struct uia *u, struct app *app)
{
	if (app == NULL)
		return;
	app->hung_until = util_now_mono_ns() + (int64_t)UIA_HUNG_COOLDOWN_MS * MS_NS;
	pthread_mutex_lock(&u->mu);
	u->stats.hung_marks++;
	pthread_mutex_unlock(&u->mu);
	log_info("uia: application pid %d did not answer within %d ms; skipped for %d ms",
	         (int)app->pid, UIA_CALL_TIMEOUT_MS, UIA_HUNG_COOLDOWN_MS);
}

/*
 * After each call: a call as slow as libatspi's timeout means the application
 * hangs (it is skipped for a while); an error ends the lookup when `hard`; the
 * budget ends it too. Returns 1 when the lookup must stop.
 */
int uia_lk_after(struct lookup *lk, GError **err, int64_t t0, int hard)
{
	int64_t now = util_now_mono_ns();

	if (now - t0 >= HANG_NS) {
		if (!lk->no_hang_mark)
			mark_hung(lk->u, lk->app);
		lk->stop = UIA_TIMEOUT;
	}
	if (err != NULL && *err != NULL) {
		if (hard && lk->stop == 0)
			lk->stop = UIA_NO_ELEMENT;
		g_clear_error(err);
	}
	if (lk->stop == 0 && now > lk->deadline)
		lk->stop = UIA_TIMEOUT;
	return lk->stop != 0;
}

AtspiRole uia_lk_role(struct lookup *lk, AtspiAccessible *a, int hard)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	AtspiRole role;

	if (lk->stop)
		return ATSPI_ROLE_INVALID;
	role = atspi_accessible_get_role(a, &err);
	if (err != NULL)
		role = ATSPI_ROLE_INVALID;
	uia_lk_after(lk, &err, t0, hard);
	return role;
}

/* A text property read with get (never NULL; g_free it). */
static char *lk_text(struct lookup *lk, AtspiAccessible *a, gchar *(*get)(AtspiAccessible *,
                     GError **))
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	char *s;

	if (lk->stop)
		return g_strdup("");
	s = get(a, &err);
	uia_lk_after(lk, &err, t0, 0);
	return s != NULL ? s : g_strdup("");
}

/* The accessible name (never NULL; g_free it). */
char *uia_lk_name(struct lookup *lk, AtspiAccessible *a)
{
	return lk_text(lk, a, atspi_accessible_get_name);
}

/* The accessible description (never NULL; g_free it). */
char *uia_lk_description(struct lookup *lk, AtspiAccessible *a)
{
	return lk_text(lk, a, atspi_accessible_get_description);
}

/* The AT-SPI state bits (0 when unknown). */
uint64_t uia_lk_states(struct lookup *lk, AtspiAccessible *a)
{
	int64_t t0 = util_now_mono_ns();
	AtspiStateSet *ss;
	uint64_t bits = 0;

	if (lk->stop)
		return 0;
	ss = atspi_accessible_get_state_set(a);
	if (ss != NULL) {
		bits = (uint64_t)ss->states;
		g_object_unref(ss);
	}
	uia_lk_after(lk, NULL, t0, 0);
	return bits;
}

/* Screen extents; 0 when known, -1 when not (r is then zeroed). */
int uia_lk_extents(struct lookup *lk, AtspiAccessible *a, AtspiRect *r)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	AtspiRect *e;

	memset(r, 0, sizeof *r);
	if (lk->stop)
		return -1;
	e = atspi_component_get_extents(ATSPI_COMPONENT(a), ATSPI_COORD_TYPE_SCREEN, &err);
	uia_lk_after(lk, &err, t0, 0);
	if (e == NULL)
		return -1;
	*r = *e;
	g_free(e);
	/* Hidden GTK widgets report INT_MIN positions and 1x1 sizes. */
	if (r->x <= -1000000 || r->y <= -1000000 || r->width <= 0 || r->height <= 0) {
		memset(r, 0, sizeof *r);
		return -1;
	}
	return 0;
}

AtspiAccessible *uia_lk_parent(struct lookup *lk, AtspiAccessible *a)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	AtspiAccessible *p;

	if (lk->stop)
		return NULL;
	p = atspi_accessible_get_parent(a, &err);
	uia_lk_after(lk, &err, t0, 0);
	return p;
}

int uia_lk_child_count(struct lookup *lk, AtspiAccessible *a)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	int n;

	if (lk->stop)
		return 0;
	n = atspi_accessible_get_child_count(a, &err);
	uia_lk_after(lk, &err, t0, 0);
	return n < 0 ? 0 : n;
}

AtspiAccessible *uia_lk_child(struct lookup *lk, AtspiAccessible *a, int i)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	AtspiAccessible *c;

	if (lk->stop)
		return NULL;
	c = atspi_accessible_get_child_at_index(a, i, &err);
	uia_lk_after(lk, &err, t0, 0);
	return c;
}

AtspiAccessible *uia_lk_at_point(struct lookup *lk, AtspiAccessible *a, int32_t x, int32_t y)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	AtspiAccessible *c;

	if (lk->stop)
		return NULL;
	c = atspi_component_get_accessible_at_point(ATSPI_COMPONENT(a), x, y,
	                                            ATSPI_COORD_TYPE_SCREEN, &err);
	uia_lk_after(lk, &err, t0, 0);
	return c;
}

/* Collection.GetMatches under a rule; NULL when unsupported or failed (*failed = 1). */
GArray *uia_lk_matches(struct lookup *lk, AtspiAccessible *a, AtspiMatchRule *rule, int count,
                       int *failed)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	GArray *m;

	*failed = 1;
	if (lk->stop)
		return NULL;
	/* The application walks its whole tree for this: slow is not hung. */
	lk->no_hang_mark = 1;
	m = atspi_collection_get_matches(ATSPI_COLLECTION(a), rule,
	                                 ATSPI_Collection_SORT_ORDER_CANONICAL, count, TRUE, &err);
	*failed = err != NULL;
	uia_lk_after(lk, &err, t0, 0);
	lk->no_hang_mark = 0;
	return m;
}

void uia_free_matches(GArray *m)
{
	if (m == NULL)
		return;
	for (guint i = 0; i < m->len; i++) {
		AtspiAccessible *a = g_array_index(m, AtspiAccessible *, i);
		if (a != NULL)
			g_object_unref(a);
	}
	g_array_free(m, TRUE);
}

/* --- applications --------------------------------------------------------------- */

struct app *uia_app_by_bus(struct uia *u, const char *bus)
{
	for (int i = 0; i < u->n_apps; i++)
		if (strcmp(u->apps[i].bus, bus) == 0)
			return &u->apps[i];
	return NULL;
}

void uia_app_drop(struct uia *u, int i)
{
	unref(&u->apps[i].root);
	u->apps[i] = u->apps[u->n_apps - 1];
	memset(&u->apps[u->n_apps - 1], 0, sizeof u->apps[0]);
	u->n_apps--;
}

/*
 * Lists the applications on the desktop (asking the registry, and the bus for
 * the pid of each new one) and forgets those that are gone.
 */
void uia_scan_desktop(struct lookup *lk)
{
	struct uia *u = lk->u;
	AtspiAccessible *desktop = atspi_get_desktop(0);
	int n;

	if (desktop == NULL)
		return;
	u->scan_gen++;
	n = uia_lk_child_count(lk, desktop);
	for (int i = 0; i < n && i < APPS_MAX && !lk->stop; i++) {
		AtspiAccessible *root = uia_lk_child(lk, desktop, i);
		struct app *app;

		if (root == NULL)
			continue;
		app = uia_app_by_bus(u, uia_bus_of(root));
		if (app == NULL && u->n_apps < APPS_MAX && uia_bus_of(root)[0] != '\0') {
			GError *err = NULL;
			int64_t t0 = util_now_mono_ns();
			guint pid = atspi_accessible_get_process_id(root, &err);

			uia_lk_after(lk, &err, t0, 0);
			app = &u->apps[u->n_apps++];
			memset(app, 0, sizeof *app);
			set_str(app->bus, uia_bus_of(root), sizeof app->bus);
			app->pid = (int32_t)pid;
			app->root = g_object_ref(root);
		}
		if (app != NULL)
			app->gen = u->scan_gen;
		g_object_unref(root);
	}
	if (!lk->stop) {
		for (int i = u->n_apps - 1; i >= 0; i--)
			if (u->apps[i].gen != u->scan_gen)
				uia_app_drop(u, i);
	}
	g_object_unref(desktop);
}

/* The applications with pid (rescanning the desktop when none is known). */
int uia_apps_by_pid(struct lookup *lk, int32_t pid, struct app **out, int max)
{
	struct uia *u = lk->u;
	int64_t now = util_now_mono_ns();
	int n = 0;

	for (int pass = 0; pass < 2 && n == 0; pass++) {
		if (pass == 1) {
			for (int i = 0; i < NEG_MAX; i++)
				if (u->neg[i].pid == pid && u->neg[i].until > now)
					return 0;
			uia_scan_desktop(lk);
		}
		for (int i = 0; i < u->n_apps && n < max; i++)
			if (u->apps[i].pid == pid)
				out[n++] = &u->apps[i];
	}
	if (n == 0) {
		int slot = 0;
		for (int i = 0; i < NEG_MAX; i++)
			if (u->neg[i].until < u->neg[slot].until)
				slot = i;
		u->neg[slot].pid = pid;
		u->neg[slot].until = now + NEG_TTL_NS;
	}
	return n;
}

int uia_app_hung(const struct app *app)
{
	return app->hung_until > util_now_mono_ns();
}

void uia_app_name(struct lookup *lk, struct app *app, char *dst, size_t n)
{
	if (!app->have_name && !lk->stop) {
		char *s = uia_lk_name(lk, app->root);
		set_str(app->name, s, sizeof app->name);
		g_free(s);
		app->have_name = 1;
	}
	set_str(dst, app->name, n);
}
