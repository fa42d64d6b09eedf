/*
 * uia_focus: the focused element, for typing runs and for uia_focused. AT-SPI
 * focus events are read a moment after they come (the click that moved the focus
 * goes first); a typing run takes the element of the latest one, or searches the
 * focused window's application for a FOCUSED element when there is none.
 * A focus event whose element cannot be read (the application is slow or was
 * found hung) leaves the focus unknown-but-maybe-secret, so that the keys that
 * follow are kept as a password field's would be until a read succeeds.
 */
#include "uia_int.h"

#include <string.h>

#include "log.h"

static gboolean focus_idle_cb(gpointer data);

/*
 * The focus moved to a (a reference, taken over) that could not be read:
 * whatever was focused before is forgotten, and until a focus event is read the
 * focus counts as a password field (fail closed: it may be one). a is read again
 * every FOCUS_RETRY_MS (a hung application is skipped without a call), as the
 * keys typed meanwhile are one secret_input marker that asks nothing more of uia.
 */
static void focus_unread(struct uia *u, const struct app *app, AtspiAccessible *a)
{
	struct uia_element el;

	if (u->focus_pending == NULL && ++u->focus_retries <= FOCUS_RETRIES) {
		u->focus_pending = a;
		if (u->focus_idle == 0)
			u->focus_idle = g_timeout_add(FOCUS_RETRY_MS, focus_idle_cb, u);
	} else {
		g_object_unref(a);
	}
	uia_snap_clear(&u->focus_snap);
	memset(&el, 0, sizeof el);
	el.pid = app != NULL ? app->pid : 0;
	el.states = UIA_STATE_PASSWORD;
	uia_publish_focus(u, &el, util_now_mono_ns());
}

/* Resolves the newest focus event into the focus snapshot. */
static void flush_focus(struct uia *u)
{
	AtspiAccessible *a = u->focus_pending;
	struct lookup lk;
	struct app *app;
	struct uia_element *el = &u->work;

	if (a == NULL)
		return;
	u->focus_pending = NULL;
	uia_lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
	app = uia_app_by_bus(u, uia_bus_of(a));
	if (app == NULL) {
		uia_scan_desktop(&lk);
		app = uia_app_by_bus(u, uia_bus_of(a));
	}
	if (app != NULL && uia_app_hung(app)) {
		log_debug("uia: focus event of a hung application: not read");
		focus_unread(u, app, a);
		return;
	}
	lk.app = app;
	memset(el, 0, sizeof *el);
	if (uia_read_element(&lk, a, app, el) == 0) {
		log_debug("uia: focus moved to a %s", el->role);
		u->focus_retries = 0;
		uia_snap_clear(&u->focus_snap);
		u->focus_snap.valid = 1;
		u->focus_snap.el = *el;
		u->focus_snap.el.read_ns = u->focus_pending_ns;
		u->focus_snap.obj = a;
		uia_publish_focus(u, el, u->focus_pending_ns);
		return;
	}
	log_debug("uia: focus event not read: %s", uia_status_name(lk.stop));
	focus_unread(u, app, a);
}

static gboolean focus_idle_cb(gpointer data)
{
	struct uia *u = data;

	u->focus_idle = 0;
	flush_focus(u);
	return G_SOURCE_REMOVE;
}

void uia_on_focus(AtspiEvent *ev, void *data)
{
	struct uia *u = data;

	if (ev->source != NULL)
		uia_recent_focus(u, ev->source, ev->detail1 != 0);
	if (ev->source != NULL) {
		if (ev->detail1) {
			unref(&u->focus_pending);
			u->focus_pending = g_object_ref(ev->source);
			u->focus_retries = 0;
			u->focus_pending_ns = util_now_mono_ns();
			/* Read it a moment later: the click that moved the focus is usually
			 * still on its way here as a press, which goes first (reading the
			 * element now would wait for the application to handle that click). */
			if (u->focus_idle == 0)
				u->focus_idle = g_timeout_add(FOCUS_DEFER_MS, focus_idle_cb, u);
		} else {
			if (uia_same_obj(u->focus_pending, ev->source))
				unref(&u->focus_pending);
			if (u->focus_snap.valid && uia_same_obj(u->focus_snap.obj, ev->source)) {
				uia_snap_clear(&u->focus_snap);
				uia_publish_focus(u, NULL, 0);
			}
		}
	}
	g_boxed_free(ATSPI_TYPE_EVENT, ev);
}

/* Searches the focused window's application for its FOCUSED element. */
static int search_focus(struct uia *u, const struct uia_window_hint *h, struct uia_element *el)
{
	struct lookup lk;
	struct app *apps[8];
	int n, st = UIA_NO_ELEMENT;

	uia_lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
	n = uia_apps_by_pid(&lk, h->pid, apps, 8);
	for (int ai = 0; ai < n && st != UIA_OK && !lk.stop; ai++) {
		struct window_list wl;

		if (uia_app_hung(apps[ai])) {
			st = UIA_TIMEOUT;
			continue;
		}
		lk.app = apps[ai];
		memset(&wl, 0, sizeof wl);
		uia_list_windows(&lk, apps[ai], &wl);
		for (int i = 0; i < wl.n && st != UIA_OK && !lk.stop; i++) {
			int failed;
			GArray *m;

			if (h->w > 0 && uia_iou(&wl.r[i], h) < MIN_IOU)
				continue;
			m = uia_lk_matches(&lk, wl.w[i], u->focus_rule, 1, &failed);
			if (m != NULL && m->len > 0 && g_array_index(m, AtspiAccessible *, 0) != NULL) {
				AtspiAccessible *a = g_array_index(m, AtspiAccessible *, 0);
				if (uia_read_element(&lk, a, apps[ai], el) == 0) {
					st = UIA_OK;
					uia_snap_clear(&u->focus_snap);
					u->focus_snap.valid = 1;
					u->focus_snap.el = *el;
					u->focus_snap.obj = g_object_ref(a);
					uia_publish_focus(u, el, el->read_ns);
				}
			}
			uia_free_matches(m);
		}
		uia_windows_free(&wl);
	}
	if (st != UIA_OK && lk.stop)
		st = lk.stop;
	return st;
}

void uia_do_typing(struct uia *u, const struct request *r)
{
	struct uia_element *el = &u->work;
	const struct uia_window_hint *h = r->has_hint ? &r->hint : NULL;
	struct snapshot *s = &u->focus_snap;

	/* Keys may change what is under the resting pointer: confirm at the next press. */
	u->hover_snap.fresh = 0;
	flush_focus(u);
	if (s->valid && (h == NULL || h->pid <= 0 || s->el.pid == h->pid)) {
		*el = s->el;
		el->source = UIA_SOURCE_FOCUS_EVENT;
		el->status = UIA_OK;
	} else if (h != NULL && h->pid > 0) {
		uia_base_result(el, r);
		el->status = search_focus(u, h, el);
		el->source = el->status == UIA_OK ? UIA_SOURCE_FOCUS_SEARCH : UIA_SOURCE_NONE;
	} else {
		uia_base_result(el, r);
		el->status = UIA_NO_ELEMENT;
	}
	if (el->status != UIA_OK) {
		int st = el->status;
		uia_base_result(el, r);
		el->status = st;
	}
	el->event_id = r->event_id;
	el->t_ns = r->t_ns;
	el->kind = UIA_KIND_TYPING;
	el->window = h != NULL ? h->window : 0;
	uia_push_result(u, el);
}
