/*
 * uia_web: the page a browser window shows, read from the browser over AT-SPI
 * (see struct uia_page in uia.h and docs/ELEMENTS.md), so that the safeguards
 * judge a browser window by its URL rather than guess it from the title.
 *
 * Measured (docs/POLICY.md): the top-level frame with the ACTIVE state, its
 * EMBEDS relation to the `document web`, and the document attribute `URI`
 * (Chromium) or `DocURL` (Firefox), about 1 ms; Firefox's frame can lose EMBEDS
 * after a back navigation, when a Collection match (SHOWING + DOCUMENT_WEB) finds
 * it in about 3 ms. Nothing is cached between reads: a document handle goes stale
 * when the page navigates. A read is asked for by uia_page_check (the guard asks
 * at every press and key in a browser window) and happens again on the browser's
 * own events: document load, frame name changes (Chromium renames the frame when
 * the History API changes the URL), children-changed (what Firefox sends then)
 * and shortly after each asked-for read. Everything but uia_page_check and
 * uia_page_get runs on the uia thread. Never logs URLs or names.
 */
#include "uia_int.h"

#include <string.h>

#include "log.h"

#define WEB_EVENT_DELAY_MS 30   /* a burst of events is read once, this long after the first */
#define WEB_RETRY_MS 250        /* no document yet: read again this long after */
#define WEB_TIMEOUT_RETRY_MS 50 /* a read that timed out: read again this long after */
#define WEB_RETRIES 20          /* ... this many times (a page tree switching on, a load) */
#define WEB_DOCS_MAX 8          /* documents looked at in a Collection match */

/* The browser events after which the page is read again. */
static const char *const web_events[] = {
	"document:load-complete", "document:reload", "object:property-change:accessible-name",
	"object:children-changed", "window:activate",
};

/* The re-reads following an asked-for one (ms): a History API change sends no document event. */
static const int follow_ms[] = { 150, 600 };

uint64_t uia_page_check(struct uia *u, const struct uia_window_hint *hint)
{
	uint64_t seq;

	pthread_mutex_lock(&u->mu);
	seq = ++u->page_req;
	if (u->n_page_wait == PAGE_WAIT_MAX) {
		/* The oldest is covered by any later read: forget it. */
		memmove(&u->page_wait[0], &u->page_wait[1],
		        (PAGE_WAIT_MAX - 1) * sizeof u->page_wait[0]);
		u->n_page_wait--;
	}
	u->page_wait[u->n_page_wait].seq = seq;
	u->page_wait[u->n_page_wait++].due = util_now_mono_ns() + UIA_PAGE_SETTLE_MS * MS_NS;
	if (hint != NULL)
		u->page_hint = *hint;
	else
		memset(&u->page_hint, 0, sizeof u->page_hint);
	if (u->state == ST_DEGRADED) {
		memset(&u->page, 0, sizeof u->page);
		u->page.seq = seq;
		u->page.gen = seq;
		u->page.status = UIA_DEGRADED;
		u->page.pid = u->page_hint.pid;
		u->page.window = u->page_hint.window;
		u->page.read_ns = util_now_mono_ns();
		uia_wake(u->result_fd);
	} else {
		uia_wake(u->wake_fd);
	}
	pthread_mutex_unlock(&u->mu);
	return seq;
}

uint64_t uia_page_get(struct uia *u, struct uia_page *out)
{
	uint64_t gen;

	pthread_mutex_lock(&u->mu);
	*out = u->page;
	gen = u->page.gen;
	pthread_mutex_unlock(&u->mu);
	return gen;
}

static gboolean page_timer_cb(gpointer data);

/* Arms the timer for the earliest re-read due. */
static void arm(struct uia *u)
{
	int64_t first = 0, now = util_now_mono_ns();

	for (int i = 0; i < PAGE_DUE_MAX; i++)
		if (u->page_due[i] != 0 && (first == 0 || u->page_due[i] < first))
			first = u->page_due[i];
	if (u->page_timer != NULL) {
		g_source_destroy(u->page_timer);
		g_source_unref(u->page_timer);
		u->page_timer = NULL;
	}
	if (first == 0)
		return;
	u->page_timer = g_timeout_source_new(first > now ? (guint)((first - now) / MS_NS + 1) : 0);
	g_source_set_callback(u->page_timer, page_timer_cb, u, NULL);
	g_source_attach(u->page_timer, NULL);
}

/* A re-read at `at`; one already due no later than at + 10 ms covers it. */
static void schedule(struct uia *u, int64_t at)
{
	int slot = -1;

	for (int i = 0; i < PAGE_DUE_MAX; i++) {
		if (u->page_due[i] != 0 && u->page_due[i] <= at + 10 * MS_NS && u->page_due[i] >= at - 10 * MS_NS)
			return;
		if (u->page_due[i] == 0 && slot < 0)
			slot = i;
	}
	if (slot < 0) {
		/* Full: the latest one moves up to at (reading sooner is never wrong). */
		slot = 0;
		for (int i = 1; i < PAGE_DUE_MAX; i++)
			if (u->page_due[i] > u->page_due[slot])
				slot = i;
		if (u->page_due[slot] < at)
			return;
	}
	u->page_due[slot] = at;
	arm(u);
}

static void on_web_event(AtspiEvent *ev, void *data)
{
	struct uia *u = data;

	if (ev->source != NULL && u->page_bus[0] != '\0' &&
	    strcmp(uia_bus_of(ev->source), u->page_bus) == 0)
		schedule(u, util_now_mono_ns() + WEB_EVENT_DELAY_MS * MS_NS);
	g_boxed_free(ATSPI_TYPE_EVENT, ev);
}

void uia_web_start(struct uia *u)
{
	AtspiStateSet *ss = atspi_state_set_new(NULL);
	AtspiRole role = ATSPI_ROLE_DOCUMENT_WEB;
	GArray *ra = g_array_new(FALSE, FALSE, sizeof(AtspiRole));

	atspi_state_set_add(ss, ATSPI_STATE_SHOWING);
	g_array_append_vals(ra, &role, 1);
	u->doc_rule = atspi_match_rule_new(ss, ATSPI_Collection_MATCH_ALL, NULL,
	                                   ATSPI_Collection_MATCH_NONE, ra,
	                                   ATSPI_Collection_MATCH_ANY, NULL,
	                                   ATSPI_Collection_MATCH_NONE, FALSE);
	g_object_unref(ss);
	g_array_free(ra, TRUE);
	u->web_listener = atspi_event_listener_new(on_web_event, u, NULL);
	for (size_t i = 0; i < sizeof web_events / sizeof web_events[0]; i++) {
		GError *err = NULL;

		if (!atspi_event_listener_register(u->web_listener, web_events[i], &err)) {
			/* Reads asked for still happen; only the browser's own changes go unseen. */
			log_warn("uia: cannot follow %s: %s", web_events[i],
			         err != NULL ? err->message : "?");
			g_clear_error(&err);
		}
	}
}

void uia_web_stop(struct uia *u)
{
	if (u->page_timer != NULL) {
		g_source_destroy(u->page_timer);
		g_source_unref(u->page_timer);
		u->page_timer = NULL;
	}
	if (u->web_listener != NULL) {
		for (size_t i = 0; i < sizeof web_events / sizeof web_events[0]; i++)
			atspi_event_listener_deregister(u->web_listener, web_events[i], NULL);
		g_object_unref(u->web_listener);
		u->web_listener = NULL;
	}
	if (u->doc_rule != NULL)
		g_object_unref(u->doc_rule);
	u->doc_rule = NULL;
}

/* The target of frame's EMBEDS relation (a new reference), or NULL. */
static AtspiAccessible *embedded(struct lookup *lk, AtspiAccessible *frame)
{
	AtspiAccessible *doc = NULL;
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	GArray *rels;

	if (lk->stop)
		return NULL;
	rels = atspi_accessible_get_relation_set(frame, &err);
	uia_lk_after(lk, &err, t0, 0);
	if (rels == NULL)
		return NULL;
	for (guint i = 0; i < rels->len; i++) {
		AtspiRelation *rel = g_array_index(rels, AtspiRelation *, i);

		if (doc == NULL && rel != NULL &&
		    atspi_relation_get_relation_type(rel) == ATSPI_RELATION_EMBEDS &&
		    atspi_relation_get_n_targets(rel) > 0)
			doc = atspi_relation_get_target(rel, 0);
		if (rel != NULL)
			g_object_unref(rel);
	}
	g_array_free(rels, TRUE);
	return doc;
}

/* The largest showing web document below frame (a new reference), or NULL. */
static AtspiAccessible *matched(struct lookup *lk, struct uia *u, AtspiAccessible *frame)
{
	AtspiAccessible *best = NULL;
	int64_t best_area = -1;
	int failed;
	GArray *m = uia_lk_matches(lk, frame, u->doc_rule, WEB_DOCS_MAX, &failed);

	lk->no_hang_mark = 1; /* uia_lk_matches cleared it; see read_page */

	for (guint i = 0; m != NULL && i < m->len && !lk->stop; i++) {
		AtspiAccessible *d = g_array_index(m, AtspiAccessible *, i);
		AtspiRect r;
		int64_t a;

		if (d == NULL || uia_lk_extents(lk, d, &r) != 0)
			continue;
		a = (int64_t)r.width * r.height;
		if (a > best_area) {
			unref(&best);
			best = g_object_ref(d);
			best_area = a;
		}
	}
	uia_free_matches(m);
	return best;
}

static int private_name(const char *name)
{
	return strstr(name, "Incognito") != NULL || strstr(name, "Private Browsing") != NULL;
}

/* The window's frame (a new reference): ACTIVE first, then the best fit with the hint. */
static AtspiAccessible *find_frame(struct lookup *lk, const struct uia_window_hint *h,
                                   struct app **app_out, AtspiRect *fr)
{
	struct app *apps[4];
	AtspiAccessible *frame = NULL;
	double best = -1;
	int na = h->pid > 0 ? uia_apps_by_pid(lk, h->pid, apps, 4) : 0;

	for (int a = 0; a < na && !lk->stop; a++) {
		struct window_list wl = {0};

		lk->app = apps[a];
		uia_list_windows(lk, apps[a], &wl);
		for (int i = 0; i < wl.n; i++) {
			double score = (wl.states[i] & UIA_STATE_ACTIVE) ? 2.0 : 0.0;

			if (h->w > 0)
				score += uia_iou(&wl.r[i], h);
			if (score > best) {
				unref(&frame);
				frame = g_object_ref(wl.w[i]);
				*fr = wl.r[i];
				*app_out = apps[a];
				best = score;
			}
		}
		uia_windows_free(&wl);
	}
	return frame;
}

/* Switches the page tree on with a throw-away hit test, once per window. */
static void prime(struct lookup *lk, struct uia *u, uint32_t window, AtspiAccessible *frame,
                  const AtspiRect *fr)
{
	AtspiAccessible *hit;

	for (int i = 0; i < u->n_primed; i++)
		if (u->primed[i] == window)
			return;
	if (u->n_primed == PRIMED_MAX) {
		memmove(&u->primed[0], &u->primed[1], (PRIMED_MAX - 1) * sizeof u->primed[0]);
		u->n_primed--;
	}
	u->primed[u->n_primed++] = window;
	hit = uia_lk_at_point(lk, frame, fr->x + fr->width / 2, fr->y + fr->height / 2);
	unref(&hit);
}

/* Hands pg on as the newest page read. */
static void publish(struct uia *u, struct uia_page *pg)
{
	pg->read_ns = util_now_mono_ns();
	pthread_mutex_lock(&u->mu);
	pg->gen = u->page.gen + 1;
	if (pg->seq < u->page.seq)
		pg->seq = u->page.seq;
	u->page = *pg;
	uia_wake(u->result_fd);
	pthread_mutex_unlock(&u->mu);
}

/* Reads the page of the window h describes and publishes it as an answer to seq. */
static void read_page(struct uia *u, const struct uia_window_hint *h, uint64_t seq)
{
	struct uia_page pg;
	struct lookup lk;
	struct app *app = NULL;
	AtspiAccessible *frame, *doc = NULL;
	AtspiRect fr = {0}, dr;
	const char *via = "none";
	int64_t t_start = util_now_mono_ns();

	memset(&pg, 0, sizeof pg);
	pg.seq = seq;
	pg.pid = h->pid;
	pg.window = h->window;
	pg.status = UIA_NO_ELEMENT;
	uia_lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
	/* A browser busy loading a page is slow, not hung: the guard holds input until an
	 * answer, so the page is asked even of an application skipped for element lookups. */
	lk.no_hang_mark = 1;
	if (h->window != u->page_window) {
		u->page_window = h->window;
		u->page_retries = WEB_RETRIES;
	}
	frame = find_frame(&lk, h, &app, &fr);
	if (frame != NULL) {
		char *name = uia_lk_name(&lk, frame);

		set_str(u->page_bus, uia_bus_of(frame), sizeof u->page_bus);
		pg.private_window = private_name(name);
		g_free(name);
		prime(&lk, u, h->window, frame, &fr);
		doc = embedded(&lk, frame);
		via = "embeds";
		if (doc == NULL) {
			doc = matched(&lk, u, frame);
			via = "collection";
		}
	}
	if (doc != NULL) {
		static const char *const attrs[] = { "URI", "DocURL" };

		for (size_t i = 0; i < 2 && pg.url[0] == '\0' && !lk.stop; i++) {
			GError *err = NULL;
			int64_t t0 = util_now_mono_ns();
			char *v = atspi_document_get_document_attribute_value(ATSPI_DOCUMENT(doc),
			                                                      (gchar *)attrs[i], &err);

			uia_lk_after(&lk, &err, t0, 0);
			if (v != NULL)
				set_str(pg.url, v, sizeof pg.url);
			g_free(v);
		}
		if (uia_lk_extents(&lk, doc, &dr) == 0) {
			pg.x = dr.x;
			pg.y = dr.y;
			pg.w = dr.width > 0 ? dr.width : 0;
			pg.h = dr.height > 0 ? dr.height : 0;
		}
		if (pg.url[0] != '\0')
			pg.status = UIA_OK;
	}
	pg.between_pages = frame != NULL && pg.url[0] == '\0' && !lk.stop;
	if (lk.stop == UIA_TIMEOUT)
		pg.status = UIA_TIMEOUT;
	if (pg.status != UIA_OK)
		pg.url[0] = '\0';
	if (pg.status == UIA_TIMEOUT) {
		/* No answer is no page: read again soon (the guard waits at most GUARD_HOLD_MS). */
		schedule(u, util_now_mono_ns() + WEB_TIMEOUT_RETRY_MS * MS_NS);
	} else if (pg.status != UIA_OK && u->page_retries > 0) {
		u->page_retries--;
		schedule(u, util_now_mono_ns() + WEB_RETRY_MS * MS_NS);
	} else if (pg.status == UIA_OK) {
		/* Every later navigation of the window may need its own reads again. */
		u->page_retries = WEB_RETRIES;
	}
	log_debug("uia: page of window 0x%x read through %s: %s (%d ms)", (unsigned)h->window, via,
	          uia_status_name(pg.status), (int)((util_now_mono_ns() - t_start) / MS_NS));
	/* Published before the map is read, which the guard does not wait for. */
	publish(u, &pg);
	if (pg.status == UIA_OK)
		uia_map_page(u, h->window, pg.url, doc);
	unref(&doc);
	unref(&frame);
}

void uia_web_drain(struct uia *u)
{
	struct uia_window_hint h;
	uint64_t req;
	int64_t now = util_now_mono_ns();
	int due = 0;
	int64_t next = 0;
	int k = 0;

	/* The newest request that is due; the rest wait for their own time. */
	pthread_mutex_lock(&u->mu);
	req = u->page_done;
	while (k < u->n_page_wait && u->page_wait[k].due <= now)
		req = u->page_wait[k++].seq;
	memmove(&u->page_wait[0], &u->page_wait[k], (size_t)(u->n_page_wait - k) * sizeof u->page_wait[0]);
	u->n_page_wait -= k;
	if (u->n_page_wait > 0)
		next = u->page_wait[0].due;
	h = u->page_hint;
	pthread_mutex_unlock(&u->mu);
	for (int i = 0; i < PAGE_DUE_MAX; i++) {
		if (u->page_due[i] != 0 && u->page_due[i] <= now) {
			u->page_due[i] = 0;
			due = 1;
		}
	}
	if (next != 0)
		schedule(u, next);
	if (req > u->page_done) {
		u->page_done = req;
		read_page(u, &h, req);
		for (size_t i = 0; i < sizeof follow_ms / sizeof follow_ms[0]; i++)
			schedule(u, now + follow_ms[i] * MS_NS);
	} else if (due && req > 0) {
		read_page(u, &h, u->page_done);
	}
	arm(u);
}

static gboolean page_timer_cb(gpointer data)
{
	struct uia *u = data;

	g_source_unref(u->page_timer);
	u->page_timer = NULL;
	uia_web_drain(u);
	return G_SOURCE_REMOVE;
}
