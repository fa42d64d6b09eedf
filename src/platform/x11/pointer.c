/*
 * pointer, X11 backend: the window under the pointer and the override-redirect
 * windows (popups) being mapped, unmapped and moved, on an xcb connection of its
 * own (see pointer.h).
 */
#include "pointer.h"
#include "pointer_x11.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xcb/xcb.h>
#include <xcb/xinput.h>

#include "util.h"
#include "window.h"

#define OR_MAX 64             /* override-redirect windows (popups) tracked as mapped */
#define PRESS_MAX 16          /* button presses remembered with the popups at them */
#define GONE_MAX 16           /* top-level windows remembered as hidden or destroyed */

struct pointer {
	xcb_connection_t *conn;
	xcb_window_t root;
	/* Override-redirect windows (menus, popups, tooltips) mapped. */
	struct {
		xcb_window_t w;
		int32_t x, y, w_, h;   /* its outer rectangle in root coordinates */
	} or[OR_MAX];
	int n_or;
	int or_overflow;           /* more than OR_MAX: treated as a popup being mapped */
	uint64_t popup_gen;        /* maps and unmaps of override-redirect windows seen */
	/* The last button presses (XInput raw events, in the display's order with the
	 * maps and unmaps above): the server's time of each and popup_gen at it. */
	/* The newest popup shown and still shown (window 0: none known): what a press
	 * in its rectangle was made in, whatever X shows there by the time it is asked. */
	struct uia_window_hint top;
	int top_new;               /* shown since pointer_new_popup last handed it out */
	/* Top-level windows hidden or destroyed lately, with gone_gen after each. */
	struct {
		xcb_window_t w;
		uint64_t gen;
	} gone[GONE_MAX];
	uint64_t gone_gen;         /* top-level windows hidden or destroyed so far */
	uint8_t xi_opcode;         /* 0: presses not followed */
	struct {
		uint32_t ms;
		uint64_t gen;
		uint64_t gone_gen;         /* gone_gen then */
		struct uia_window_hint top; /* the newest popup then */
	} press[PRESS_MAX];
	unsigned n_press;          /* presses seen; the newest is press[(n_press - 1) % MAX] */
};

static int hint_query(xcb_connection_t *conn, xcb_window_t root, struct uia_window_hint *out,
                      int32_t *x, int32_t *y, xcb_window_t *top_out);

int pointer_x11_hint(xcb_connection_t *conn, xcb_window_t root, struct uia_window_hint *out,
                     int32_t *x, int32_t *y)
{
	return hint_query(conn, root, out, x, y, NULL);
}

/* pointer_x11_hint, also giving the top-level window under the pointer (0: none). */
static int hint_query(xcb_connection_t *conn, xcb_window_t root, struct uia_window_hint *out,
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

int pointer_still(struct pointer *u, int32_t x, int32_t y, uint32_t top)
{
	xcb_query_pointer_reply_t *q = xcb_query_pointer_reply(u->conn,
	        xcb_query_pointer(u->conn, u->root), NULL);
	int still = q != NULL && q->root_x == x && q->root_y == y && q->child == top && top != 0;

	free(q);
	return still;
}

/* Makes w, at rect (root coordinates, border included), the newest popup. */
static void set_top(struct pointer *u, xcb_window_t w, const int32_t rect[4])
{
	if (u->top.window != w)
		memset(&u->top, 0, sizeof u->top);
	u->top.window = w;
	u->top.x = rect[0];
	u->top.y = rect[1];
	u->top.w = rect[2];
	u->top.h = rect[3];
	u->top.popup = 1;
}

/* w is no longer shown: when it was the newest popup, none is known (the one below
 * it, a menu under its submenu, is not followed: a press there is looked up as ever). */
static void top_gone(struct pointer *u, xcb_window_t w)
{
	if (u->top.window == w) {
		memset(&u->top, 0, sizeof u->top);
		u->top_new = 0;
	}
}

/* Remembers that the top-level window w was hidden or destroyed, in the display's order. */
static void note_gone(struct pointer *u, xcb_window_t w)
{
	unsigned i = (unsigned)(u->gone_gen++ % GONE_MAX);

	u->gone[i].w = w;
	u->gone[i].gen = u->gone_gen;
}

/* forgets w as a mapped popup; returns 1 when it was one. */
static int or_forget(struct pointer *u, xcb_window_t w)
{
	for (int i = 0; i < u->n_or; i++) {
		if (u->or[i].w == w) {
			u->or[i] = u->or[--u->n_or];
			return 1;
		}
	}
	return 0;
}

static void or_add(struct pointer *u, xcb_window_t w, const int32_t rect[4])
{
	int i;

	for (i = 0; i < u->n_or && u->or[i].w != w; i++)
		;
	if (i == OR_MAX) {
		u->or_overflow = 1;
		return;
	}
	if (i == u->n_or)
		u->n_or++;
	u->or[i].w = w;
	u->or[i].x = rect[0];
	u->or[i].y = rect[1];
	u->or[i].w_ = rect[2];
	u->or[i].h = rect[3];
}

/* 1 when a mapped popup window covers (x, y), or when that is unknown. */
static int or_covers(struct pointer *u, int32_t x, int32_t y)
{
	if (u->or_overflow)
		return 1;
	for (int i = 0; i < u->n_or; i++)
		if (x >= u->or[i].x && x < u->or[i].x + u->or[i].w_ &&
		    y >= u->or[i].y && y < u->or[i].y + u->or[i].h)
			return 1;
	return 0;
}

/*
 * 1 when an override-redirect window can show something: an
 * input-only window (GTK keeps one mapped off screen per application) or one
 * entirely off screen cannot.
 */
static int or_visible(struct pointer *u, xcb_window_t w, int32_t rect[4])
{
	xcb_get_window_attributes_cookie_t ca = xcb_get_window_attributes(u->conn, w);
	xcb_get_geometry_cookie_t cg = xcb_get_geometry(u->conn, w);
	xcb_get_window_attributes_reply_t *wa = xcb_get_window_attributes_reply(u->conn, ca, NULL);
	xcb_get_geometry_reply_t *g = xcb_get_geometry_reply(u->conn, cg, NULL);
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
 * takes the events X has sent (SubstructureNotify on the root
 * window) and follows the override-redirect windows (menus, combo box lists,
 * tooltips) being mapped and unmapped. Called right after a request's round trips,
 * it has then seen every map and unmap X made before answering them.
 */
void pointer_take_events(struct pointer *u)
{
	xcb_generic_event_t *ev;

	while ((ev = xcb_poll_for_event(u->conn)) != NULL) {
		switch (ev->response_type & 0x7f) {
		case XCB_MAP_NOTIFY: {
			xcb_map_notify_event_t *m = (xcb_map_notify_event_t *)ev;
			int32_t rect[4];

			if (m->override_redirect && or_visible(u, m->window, rect)) {
				or_add(u, m->window, rect);
				u->popup_gen++;
				set_top(u, m->window, rect);
				u->top_new = 1;
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
			for (int i = 0; i < u->n_or; i++) {
				if (u->or[i].w == c->window &&
				    (u->or[i].x != rect[0] || u->or[i].y != rect[1] ||
				     u->or[i].w_ != rect[2] || u->or[i].h != rect[3])) {
					or_add(u, c->window, rect);
					u->popup_gen++;
				}
			}
			/* The newest popup moved (placed after being shown): map it again. */
			if (u->top.window == c->window &&
			    (u->top.x != rect[0] || u->top.y != rect[1] || u->top.w != rect[2] ||
			     u->top.h != rect[3])) {
				set_top(u, c->window, rect);
				u->top_new = 1;
			}
			break;
		}
		case XCB_UNMAP_NOTIFY:
			note_gone(u, ((xcb_unmap_notify_event_t *)ev)->window);
			if (or_forget(u, ((xcb_unmap_notify_event_t *)ev)->window))
				u->popup_gen++;
			top_gone(u, ((xcb_unmap_notify_event_t *)ev)->window);
			break;
		case XCB_DESTROY_NOTIFY:
			note_gone(u, ((xcb_destroy_notify_event_t *)ev)->window);
			if (or_forget(u, ((xcb_destroy_notify_event_t *)ev)->window))
				u->popup_gen++;
			top_gone(u, ((xcb_destroy_notify_event_t *)ev)->window);
			break;
		case XCB_GE_GENERIC: {
			const xcb_ge_generic_event_t *ge = (const void *)ev;

			if (u->xi_opcode != 0 && ge->extension == u->xi_opcode &&
			    ge->event_type == XCB_INPUT_RAW_BUTTON_PRESS) {
				unsigned i = u->n_press++ % PRESS_MAX;

				u->press[i].ms = ((const xcb_input_raw_button_press_event_t *)ev)->time;
				u->press[i].gen = u->popup_gen;
				u->press[i].top = u->top;
				u->press[i].gone_gen = u->gone_gen;
			}
			break;
		}
		default:
			break;
		}
		free(ev);
	}
}

int pointer_popup_gen_at_press(struct pointer *u, uint32_t server_ms, uint64_t *gen,
                               struct uia_window_hint *top)
{
	unsigned n;

	pointer_take_events(u);
	n = u->n_press < PRESS_MAX ? u->n_press : PRESS_MAX;
	/* Newest first: two presses in one millisecond (a double click sent by a
	 * program) share the popups of the later one, which is the safer answer. */
	for (unsigned k = 1; server_ms != 0 && k <= n; k++) {
		unsigned i = (u->n_press - k) % PRESS_MAX;

		if (u->press[i].ms == server_ms) {
			*gen = u->press[i].gen;
			if (top != NULL)
				*top = u->press[i].top;
			return 0;
		}
	}
	return -ENOENT;
}

/*
 * Follows the button presses on this connection (XInput raw events), so that
 * pointer_popup_gen_at_press can place each among the popups' changes. Without
 * XInput 2.2 presses are not followed.
 */
static void follow_presses(struct pointer *u)
{
	const xcb_query_extension_reply_t *ext = xcb_get_extension_data(u->conn, &xcb_input_id);
	xcb_input_xi_query_version_reply_t *v;
	struct {
		xcb_input_event_mask_t head;
		uint32_t mask;
	} m = { { XCB_INPUT_DEVICE_ALL_MASTER, 1 }, XCB_INPUT_XI_EVENT_MASK_RAW_BUTTON_PRESS };
	xcb_generic_error_t *err;
	int ok;

	if (ext == NULL || !ext->present)
		return;
	v = xcb_input_xi_query_version_reply(u->conn, xcb_input_xi_query_version(u->conn, 2, 2),
	                                     NULL);
	ok = v != NULL && (v->major_version > 2 ||
	                   (v->major_version == 2 && v->minor_version >= 2));
	free(v);
	if (!ok)
		return;
	err = xcb_request_check(u->conn, xcb_input_xi_select_events_checked(u->conn, u->root, 1,
	                                                                    &m.head));
	if (err != NULL) {
		free(err);
		return;
	}
	u->xi_opcode = ext->major_opcode;
}

int pointer_popups_at(struct pointer *u, int32_t x, int32_t y, uint64_t *gen)
{
	pointer_take_events(u);
	*gen = u->popup_gen;
	return or_covers(u, x, y);
}

/* Follows the override-redirect windows mapped now, and selects the events of the rest. */
void pointer_follow_popups(struct pointer *u)
{
	uint32_t mask = XCB_EVENT_MASK_SUBSTRUCTURE_NOTIFY;
	xcb_query_tree_reply_t *t;

	xcb_change_window_attributes(u->conn, u->root, XCB_CW_EVENT_MASK, &mask);
	follow_presses(u);
	t = xcb_query_tree_reply(u->conn, xcb_query_tree(u->conn, u->root), NULL);
	if (t == NULL) {
		u->or_overflow = 1; /* unknown: never taken as "no popup" */
		return;
	}
	{
		xcb_window_t *kids = xcb_query_tree_children(t);
		int n = xcb_query_tree_children_length(t);

		for (int i = 0; i < n; i++) {
			xcb_get_window_attributes_reply_t *wa = xcb_get_window_attributes_reply(
			        u->conn, xcb_get_window_attributes(u->conn, kids[i]), NULL);
			int32_t rect[4];

			if (wa != NULL && wa->override_redirect &&
			    wa->map_state == XCB_MAP_STATE_VIEWABLE && or_visible(u, kids[i], rect))
				or_add(u, kids[i], rect);
			free(wa);
		}
	}
	free(t);
	pointer_take_events(u);
}

int pointer_open(const char *display, struct pointer **out, char **cause)
{
	struct pointer *p;
	xcb_screen_iterator_t it;
	int screen = 0;

	*out = NULL;
	p = util_xcalloc(1, sizeof(*p));
	p->conn = xcb_connect(display, &screen);
	if (xcb_connection_has_error(p->conn)) {
		xcb_disconnect(p->conn);
		free(p);
		return util_fail(cause, -ENXIO, "cannot connect to the X display %s",
		                 display != NULL ? display : "$DISPLAY");
	}
	it = xcb_setup_roots_iterator(xcb_get_setup(p->conn));
	for (int i = 0; i < screen && it.rem > 0; i++)
		xcb_screen_next(&it);
	p->root = it.data->root;
	*out = p;
	return 0;
}

void pointer_close(struct pointer *p)
{
	if (p == NULL)
		return;
	xcb_disconnect(p->conn);
	free(p);
}

int pointer_broken(struct pointer *p)
{
	return xcb_connection_has_error(p->conn) != 0;
}

int pointer_hint(struct pointer *p, struct uia_window_hint *out, int32_t *x, int32_t *y,
                 uint32_t *top)
{
	xcb_window_t t = 0;
	int rc = hint_query(p->conn, p->root, out, x, y, &t);

	if (top != NULL)
		*top = t;
	return rc;
}

int pointer_new_popup(struct pointer *u, struct uia_window_hint *out)
{
	xcb_intern_atom_reply_t *ap;
	xcb_get_property_reply_t *p;

	pointer_take_events(u);
	if (!u->top_new || u->top.window == 0)
		return 0;
	u->top_new = 0;
	if (u->top.pid == 0) {
		ap = xcb_intern_atom_reply(u->conn, xcb_intern_atom(u->conn, 1, 11, "_NET_WM_PID"),
		                           NULL);
		if (ap != NULL && ap->atom != XCB_ATOM_NONE) {
			p = xcb_get_property_reply(u->conn, xcb_get_property(u->conn, 0, u->top.window,
			        ap->atom, XCB_ATOM_CARDINAL, 0, 1), NULL);
			if (p != NULL && p->format == 32 && xcb_get_property_value_length(p) >= 4)
				u->top.pid = (int32_t)*(uint32_t *)xcb_get_property_value(p);
			free(p);
		}
		free(ap);
	}
	*out = u->top;
	return 1;
}

int pointer_gone_since_press(struct pointer *u, uint32_t server_ms, uint32_t top)
{
	unsigned n;
	uint64_t at = 0;
	int found = 0;

	pointer_take_events(u);
	n = u->n_press < PRESS_MAX ? u->n_press : PRESS_MAX;
	for (unsigned k = 1; server_ms != 0 && k <= n && !found; k++) {
		unsigned i = (u->n_press - k) % PRESS_MAX;

		if (u->press[i].ms == server_ms) {
			at = u->press[i].gone_gen;
			found = 1;
		}
	}
	if (!found || top == 0 || u->gone_gen - at > GONE_MAX)
		return 0;
	for (uint64_t g = at + 1; g <= u->gone_gen; g++)
		if (u->gone[(g - 1) % GONE_MAX].w == top)
			return 1;
	return 0;
}
