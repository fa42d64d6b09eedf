/*
 * uia_x: asks X for the window under the pointer (uia_hint_from_pointer), and the
 * pointer thread of uia_attach_x, which does so for hovers and presses off the
 * caller's thread and follows the override-redirect windows (popups) being
 * mapped, unmapped and moved.
 */
#include "uia_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "window.h"

/* --- asking X for the window under the pointer ---------------------------------------- */

static int hint_query(xcb_connection_t *conn, xcb_window_t root, struct uia_window_hint *out,
                      int32_t *x, int32_t *y, xcb_window_t *top_out);

int
uia_hint_from_pointer(xcb_connection_t *conn, xcb_window_t root, struct uia_window_hint *out,
                      int32_t *x, int32_t *y)
{
	return hint_query(conn, root, out, x, y, NULL);
}

/* uia_hint_from_pointer, also giving the top-level window under the pointer (0: none). */
static int
hint_query(xcb_connection_t *conn, xcb_window_t root, struct uia_window_hint *out,
           int32_t *x, int32_t *y, xcb_window_t *top_out)
{
	xcb_intern_atom_cookie_t cs = xcb_intern_atom(conn, 1, 8, "WM_STATE");
	xcb_intern_atom_cookie_t cp = xcb_intern_atom(conn, 1, 11, "_NET_WM_PID");
	xcb_query_pointer_cookie_t cq = xcb_query_pointer(conn, root);
	xcb_intern_atom_reply_t *as = xcb_intern_atom_reply(conn, cs, NULL);
	xcb_intern_atom_reply_t *ap = xcb_intern_atom_reply(conn, cp, NULL);
	xcb_query_pointer_reply_t *q = xcb_query_pointer_reply(conn, cq, NULL);
	xcb_atom_t wm_state = as != NULL ? as->atom : XCB_ATOM_NONE;
	xcb_atom_t net_pid = ap != NULL ? ap->atom : XCB_ATOM_NONE;
	xcb_window_t top, client;
	xcb_get_window_attributes_reply_t *wa;
	xcb_get_geometry_reply_t *g;
	xcb_translate_coordinates_reply_t *tr;
	int ret = 0;

	free(as);
	free(ap);
	memset(out, 0, sizeof *out);
	if (q == NULL)
		return -EIO;
	if (x != NULL)
		*x = q->root_x;
	if (y != NULL)
		*y = q->root_y;
	top = q->child;
	free(q);
	if (top_out != NULL)
		*top_out = top;
	if (top == XCB_WINDOW_NONE)
		return 0;

	wa = xcb_get_window_attributes_reply(conn, xcb_get_window_attributes(conn, top), NULL);
	if (wa == NULL)
		return -EIO;
	if (wa->override_redirect) {
		client = top;
		out->popup = 1;
	} else {
		client = window_client_of(conn, top, wm_state);
	}
	free(wa);
	out->window = client;

	if (net_pid != XCB_ATOM_NONE) {
		xcb_get_property_reply_t *p = xcb_get_property_reply(conn,
		        xcb_get_property(conn, 0, client, net_pid, XCB_ATOM_CARDINAL, 0, 1), NULL);
		if (p != NULL && p->format == 32 && xcb_get_property_value_length(p) >= 4)
			out->pid = (int32_t)*(uint32_t *)xcb_get_property_value(p);
		free(p);
	}
	g = xcb_get_geometry_reply(conn, xcb_get_geometry(conn, client), NULL);
	tr = xcb_translate_coordinates_reply(conn,
	        xcb_translate_coordinates(conn, client, root, 0, 0), NULL);
	if (g != NULL && tr != NULL) {
		out->x = tr->dst_x;
		out->y = tr->dst_y;
		out->w = g->width;
		out->h = g->height;
	} else {
		ret = -EIO;
	}
	free(g);
	free(tr);
	return ret;
}

/* --- the pointer thread: X hints for presses and hovers off the caller's thread ------- */

/* Posts r with hint (NULL: unknown) as the request it stands for. */
static void
post_with_hint(struct uia *u, const struct request *r, const struct uia_window_hint *hint)
{
	struct request q = *r;

	q.has_hint = hint != NULL;
	if (hint != NULL)
		q.hint = *hint;
	else
		memset(&q.hint, 0, sizeof q.hint);
	uia_post(u, &q);
}

/*
 * The hint for a press at the point of the last hover: X's view now, unless a
 * popup appeared or vanished there in between. GTK maps a combo box's list or a
 * menu while it handles the press, and closes a menu when an item is clicked, both
 * within a millisecond or two, i.e. before this thread gets to ask X; the window
 * under the pointer *at* the press is then the one the hover saw. A new ordinary
 * window (a dialog that came up under the resting pointer) is believed.
 */
static const struct uia_window_hint *
press_hint(const struct uia_window_hint *now, const struct uia_window_hint *hover)
{
	if (hover != NULL && now->window != hover->window && (now->popup || hover->popup))
		return hover;
	return now;
}

/* 1 when the pointer is at (x, y) over the top-level window top (one round trip). */
static int
pointer_still(struct uia *u, int32_t x, int32_t y, xcb_window_t top)
{
	xcb_query_pointer_reply_t *q = xcb_query_pointer_reply(u->x_conn,
	        xcb_query_pointer(u->x_conn, u->x_root), NULL);
	int still = q != NULL && q->root_x == x && q->root_y == y && q->child == top && top != 0;

	free(q);
	return still;
}

/* Pointer thread: forgets w as a mapped popup; returns 1 when it was one. */
static int
or_forget(struct uia *u, xcb_window_t w)
{
	for (int i = 0; i < u->x_n_or; i++) {
		if (u->x_or[i].w == w) {
			u->x_or[i] = u->x_or[--u->x_n_or];
			return 1;
		}
	}
	return 0;
}

static void
or_add(struct uia *u, xcb_window_t w, const int32_t rect[4])
{
	int i;

	for (i = 0; i < u->x_n_or && u->x_or[i].w != w; i++)
		;
	if (i == OR_MAX) {
		u->x_or_overflow = 1;
		return;
	}
	if (i == u->x_n_or)
		u->x_n_or++;
	u->x_or[i].w = w;
	u->x_or[i].x = rect[0];
	u->x_or[i].y = rect[1];
	u->x_or[i].w_ = rect[2];
	u->x_or[i].h = rect[3];
}

/* Pointer thread: 1 when a mapped popup window covers (x, y), or when that is unknown. */
static int
or_covers(struct uia *u, int32_t x, int32_t y)
{
	if (u->x_or_overflow)
		return 1;
	for (int i = 0; i < u->x_n_or; i++)
		if (x >= u->x_or[i].x && x < u->x_or[i].x + u->x_or[i].w_ &&
		    y >= u->x_or[i].y && y < u->x_or[i].y + u->x_or[i].h)
			return 1;
	return 0;
}

/*
 * Pointer thread: 1 when an override-redirect window can show something: an
 * input-only window (GTK keeps one mapped off screen per application) or one
 * entirely off screen cannot.
 */
static int
or_visible(struct uia *u, xcb_window_t w, int32_t rect[4])
{
	xcb_get_window_attributes_cookie_t ca = xcb_get_window_attributes(u->x_conn, w);
	xcb_get_geometry_cookie_t cg = xcb_get_geometry(u->x_conn, w);
	xcb_get_window_attributes_reply_t *wa = xcb_get_window_attributes_reply(u->x_conn, ca, NULL);
	xcb_get_geometry_reply_t *g = xcb_get_geometry_reply(u->x_conn, cg, NULL);
	int visible = 1;

	/* Unknown (the window is gone already): anywhere. */
	rect[0] = rect[1] = INT16_MIN;
	rect[2] = rect[3] = 2 * (INT16_MAX + 1);
	if (wa != NULL && wa->_class == XCB_WINDOW_CLASS_INPUT_ONLY)
		visible = 0;
	if (g != NULL) {
		rect[0] = g->x;
		rect[1] = g->y;
		rect[2] = (int32_t)g->width + 2 * (int32_t)g->border_width;
		rect[3] = (int32_t)g->height + 2 * (int32_t)g->border_width;
		if (rect[0] + rect[2] <= 0 || rect[1] + rect[3] <= 0)
			visible = 0;
	}
	free(wa);
	free(g);
	return visible;
}

/*
 * Pointer thread: takes the events X has sent (SubstructureNotify on the root
 * window) and follows the override-redirect windows (menus, combo box lists,
 * tooltips) being mapped and unmapped. Called right after a request's round trips,
 * it has then seen every map and unmap X made before answering them.
 */
static void
x_drain(struct uia *u)
{
	xcb_generic_event_t *ev;

	while ((ev = xcb_poll_for_event(u->x_conn)) != NULL) {
		switch (ev->response_type & 0x7f) {
		case XCB_MAP_NOTIFY: {
			xcb_map_notify_event_t *m = (xcb_map_notify_event_t *)ev;
			int32_t rect[4];

			if (m->override_redirect && or_visible(u, m->window, rect)) {
				or_add(u, m->window, rect);
				u->x_popup_gen++;
			}
			break;
		}
		case XCB_CONFIGURE_NOTIFY: {
			/* A popup that moves or changes size (a tooltip following the pointer). */
			xcb_configure_notify_event_t *c = (xcb_configure_notify_event_t *)ev;
			int32_t rect[4] = { c->x, c->y, (int32_t)c->width + 2 * c->border_width,
			                    (int32_t)c->height + 2 * c->border_width };

			/* Restacking alone (same rectangle) changes nothing under the pointer
			 * that X would not report as the window there. */
			for (int i = 0; i < u->x_n_or; i++) {
				if (u->x_or[i].w == c->window &&
				    (u->x_or[i].x != rect[0] || u->x_or[i].y != rect[1] ||
				     u->x_or[i].w_ != rect[2] || u->x_or[i].h != rect[3])) {
					or_add(u, c->window, rect);
					u->x_popup_gen++;
				}
			}
			break;
		}
		case XCB_UNMAP_NOTIFY:
			if (or_forget(u, ((xcb_unmap_notify_event_t *)ev)->window))
				u->x_popup_gen++;
			break;
		case XCB_DESTROY_NOTIFY:
			if (or_forget(u, ((xcb_destroy_notify_event_t *)ev)->window))
				u->x_popup_gen++;
			break;
		default:
			break;
		}
		free(ev);
	}
}

/*
 * Pointer thread: stamps r with what it knows of popups, after x_drain: how many
 * came, went or moved so far, and whether none covers r's point.
 */
static void
x_stamp_popups(struct uia *u, struct request *r)
{
	x_drain(u);
	r->popup_gen = u->x_popup_gen;
	r->popup_known = !or_covers(u, r->x, r->y);
}

/* Pointer thread, at attach: the override-redirect windows mapped now. */
static void
x_scan_popups(struct uia *u)
{
	uint32_t mask = XCB_EVENT_MASK_SUBSTRUCTURE_NOTIFY;
	xcb_query_tree_reply_t *t;

	xcb_change_window_attributes(u->x_conn, u->x_root, XCB_CW_EVENT_MASK, &mask);
	t = xcb_query_tree_reply(u->x_conn, xcb_query_tree(u->x_conn, u->x_root), NULL);
	if (t == NULL) {
		u->x_or_overflow = 1; /* unknown: never taken as "no popup" */
		return;
	}
	{
		xcb_window_t *kids = xcb_query_tree_children(t);
		int n = xcb_query_tree_children_length(t);

		for (int i = 0; i < n; i++) {
			xcb_get_window_attributes_reply_t *wa = xcb_get_window_attributes_reply(
			        u->x_conn, xcb_get_window_attributes(u->x_conn, kids[i]), NULL);
			int32_t rect[4];

			if (wa != NULL && wa->override_redirect &&
			    wa->map_state == XCB_MAP_STATE_VIEWABLE && or_visible(u, kids[i], rect))
				or_add(u, kids[i], rect);
			free(wa);
		}
	}
	free(t);
	x_drain(u);
}

static void *
x_main(void *arg)
{
	struct uia *u = arg;
	struct uia_window_hint hover_hint;
	int32_t hover_x = 0, hover_y = 0;
	xcb_window_t hover_top = 0;
	int have_hover = 0;

	x_scan_popups(u);
	pthread_mutex_lock(&u->x_mu);
	for (;;) {
		struct request r;
		struct uia_window_hint hint;
		int32_t px, py;
		int rc, degraded;

		while (!u->x_stopping && u->x_len == 0) {
			struct timespec ts;

			/* Wake now and then to take X's events, so that they never pile up. */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 500 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (pthread_cond_timedwait(&u->x_cond, &u->x_mu, &ts) == ETIMEDOUT &&
			    u->x_len == 0 && !u->x_stopping) {
				pthread_mutex_unlock(&u->x_mu);
				x_drain(u);
				pthread_mutex_lock(&u->x_mu);
			}
		}
		if (u->x_len == 0)
			break; /* stopping, and nothing left: every press has been posted */
		r = u->x_q[0];
		memmove(&u->x_q[0], &u->x_q[1], (u->x_len - 1) * sizeof u->x_q[0]);
		u->x_len--;
		if (u->x_stopping) {
			/* Answer the presses still waiting without asking X. */
			if (r.kind == REQ_PRESS)
				post_with_hint(u, &r, NULL);
			continue;
		}
		pthread_mutex_unlock(&u->x_mu);
		pthread_mutex_lock(&u->mu);
		degraded = u->state == ST_DEGRADED;
		pthread_mutex_unlock(&u->mu);
		if (degraded) {
			if (r.kind == REQ_PRESS)
				post_with_hint(u, &r, NULL);
		} else {
			xcb_window_t top = 0;

			if (xcb_connection_has_error(u->x_conn)) {
				rc = -EIO;
			} else if (r.kind == REQ_PRESS && have_hover && r.x == hover_x &&
			           r.y == hover_y && pointer_still(u, hover_x, hover_y, hover_top)) {
				/* One round trip: still there, over the same top-level window. The
				 * hint is the hover's, not asked again: no remembered element. */
				x_stamp_popups(u, &r);
				r.popup_known = 0;
				post_with_hint(u, &r, &hover_hint);
				pthread_mutex_lock(&u->x_mu);
				continue;
			} else {
				rc = hint_query(u->x_conn, u->x_root, &hint, &px, &py, &top);
				x_stamp_popups(u, &r);
			}
			if (r.kind == REQ_HOVER) {
				/* The pointer moved on since it rested: that hover is stale. */
				if (rc == 0 && px == r.x && py == r.y) {
					post_with_hint(u, &r, &hint);
					hover_hint = hint;
					hover_x = r.x;
					hover_y = r.y;
					hover_top = top;
					have_hover = 1;
				}
			} else if (rc == 0) {
				int at_hover = have_hover && r.x == hover_x && r.y == hover_y;

				post_with_hint(u, &r, press_hint(&hint, at_hover ? &hover_hint : NULL));
			} else {
				post_with_hint(u, &r, NULL);
			}
		}
		pthread_mutex_lock(&u->x_mu);
	}
	pthread_mutex_unlock(&u->x_mu);
	return NULL;
}

int
uia_attach_x(struct uia *u, const char *display, char **cause)
{
	xcb_screen_iterator_t it;
	int screen = 0, err;
	sigset_t all, old;

	if (u->x_started)
		return util_fail(cause, -EBUSY, "uia already has an X connection");
	u->x_conn = xcb_connect(display, &screen);
	if (xcb_connection_has_error(u->x_conn)) {
		xcb_disconnect(u->x_conn);
		u->x_conn = NULL;
		return util_fail(cause, -ENXIO, "cannot connect to the X display %s",
		                 display != NULL ? display : "$DISPLAY");
	}
	it = xcb_setup_roots_iterator(xcb_get_setup(u->x_conn));
	for (int i = 0; i < screen && it.rem > 0; i++)
		xcb_screen_next(&it);
	u->x_root = it.data->root;
	pthread_mutex_init(&u->x_mu, NULL);
	pthread_cond_init(&u->x_cond, NULL);
	/* Signals belong to the caller's main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&u->x_thread, NULL, x_main, u);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		pthread_mutex_destroy(&u->x_mu);
		pthread_cond_destroy(&u->x_cond);
		xcb_disconnect(u->x_conn);
		u->x_conn = NULL;
		return util_fail(cause, -err, "cannot start the pointer thread: %s", strerror(err));
	}
	u->x_started = 1;
	return 0;
}

void
uia_x_detach(struct uia *u)
{
	if (!u->x_started)
		return;
	pthread_mutex_lock(&u->x_mu);
	u->x_stopping = 1;
	pthread_cond_signal(&u->x_cond);
	pthread_mutex_unlock(&u->x_mu);
	pthread_join(u->x_thread, NULL);
	pthread_mutex_destroy(&u->x_mu);
	pthread_cond_destroy(&u->x_cond);
	xcb_disconnect(u->x_conn);
	u->x_conn = NULL;
	u->x_started = 0;
}

/* Queues r for the pointer thread; without one (or when it is full) posts it unhinted. */
static void
x_post(struct uia *u, const struct request *r)
{
	if (!u->x_started) {
		post_with_hint(u, r, NULL);
		return;
	}
	pthread_mutex_lock(&u->x_mu);
	if (r->kind == REQ_HOVER) {
		/* Only the newest hover matters: replace a waiting one. */
		for (size_t i = 0; i < u->x_len; i++) {
			if (u->x_q[i].kind == REQ_HOVER) {
				memmove(&u->x_q[i], &u->x_q[i + 1], (u->x_len - i - 1) * sizeof u->x_q[0]);
				u->x_len--;
				break;
			}
		}
	}
	if (u->x_len == QUEUE_MAX) {
		pthread_mutex_unlock(&u->x_mu);
		if (r->kind == REQ_PRESS)
			post_with_hint(u, r, NULL);
		return;
	}
	u->x_q[u->x_len++] = *r;
	pthread_cond_signal(&u->x_cond);
	pthread_mutex_unlock(&u->x_mu);
}

void
uia_hover_at(struct uia *u, int32_t x, int32_t y, int64_t t_ns)
{
	struct request r;

	uia_fill_request(u, &r, REQ_HOVER, 0, x, y, t_ns, NULL);
	x_post(u, &r);
}

void
uia_press_at(struct uia *u, int64_t event_id, int32_t x, int32_t y, int64_t t_ns)
{
	struct request r;

	uia_fill_request(u, &r, REQ_PRESS, event_id, x, y, t_ns, NULL);
	x_post(u, &r);
}
