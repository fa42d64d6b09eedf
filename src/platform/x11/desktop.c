/*
 * desktop, X11 backend: follows the top-level windows on its own xcb connection
 * (see desktop.h).
 *
 * Every change of the window tree (a window mapped, unmapped, moved, resized,
 * restacked, reparented) or of a client's title or class makes desktop_dispatch
 * say so; desktop_read then reads the tree again: one QueryTree of the root, the
 * attributes and geometry of every child (pipelined), and for each viewable
 * child its client window (window_client_of: the child itself, or a descendant
 * for a window manager's frame) with its properties. With a few dozen windows
 * that is a handful of round trips, done only when something changed.
 */
#include "desktop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xcb/xcb.h>

#include "util.h"
#include "window.h"

enum { A_WM_CLASS, A_NET_WM_NAME, A_WM_NAME, A_NET_WM_PID, A_UTF8, A_WM_STATE, A_COUNT_ };

static const char *const atom_names[A_COUNT_] = {
	"WM_CLASS", "_NET_WM_NAME", "WM_NAME", "_NET_WM_PID", "UTF8_STRING", "WM_STATE",
};

struct desktop {
	xcb_connection_t *conn;
	xcb_window_t root;
	xcb_atom_t atoms[A_COUNT_];
	int dirty;
	uint32_t watched[DESKTOP_WINDOWS_MAX]; /* clients whose PropertyChange we selected */
	size_t n_watched;
};

/* What is known about one viewable child of the root. */
struct top {
	xcb_window_t win;
	struct image_rect frame;    /* the child's outer rectangle (border included) */
};

static void watch(struct desktop *s, xcb_window_t w)
{
	uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE | XCB_EVENT_MASK_STRUCTURE_NOTIFY;

	for (size_t i = 0; i < s->n_watched; i++)
		if (s->watched[i] == w)
			return;
	if (s->n_watched == DESKTOP_WINDOWS_MAX)
		s->n_watched = 0; /* start over; selecting twice does no harm */
	s->watched[s->n_watched++] = w;
	xcb_change_window_attributes(s->conn, w, XCB_CW_EVENT_MASK, &mask);
}

static xcb_get_property_cookie_t prop(struct desktop *s, xcb_window_t w, int atom, uint32_t len)
{
	return xcb_get_property(s->conn, 0, w, s->atoms[atom], XCB_GET_PROPERTY_TYPE_ANY, 0, len);
}

/* Copies a text property into out (NUL-terminated); "" when missing. */
static void text_of(xcb_get_property_reply_t *r, char *out, size_t size)
{
	int n;

	out[0] = '\0';
	if (r == NULL || r->format != 8)
		return;
	n = xcb_get_property_value_length(r);
	if (n <= 0)
		return;
	if ((size_t)n >= size)
		n = (int)size - 1;
	memcpy(out, xcb_get_property_value(r), (size_t)n);
	out[n] = '\0';
}

/* Reads a client's properties into w and hands it to each. */
static void describe(struct desktop *s, const struct top *t, xcb_window_t client,
                     void (*each)(void *arg, const struct desktop_window *w), void *arg)
{
	char inst_class[512], title[1024], exe[1024], path[64];
	xcb_get_property_cookie_t c_class, c_name, c_wmname, c_pid;
	xcb_get_geometry_cookie_t c_geom;
	xcb_translate_coordinates_cookie_t c_pos;
	xcb_get_property_reply_t *r;
	xcb_get_geometry_reply_t *g;
	xcb_translate_coordinates_reply_t *tr;
	struct desktop_window w = {.frame = t->frame, .window = client, .instance = "",
	                           .class_name = "", .title = title, .exe = exe};
	ssize_t len;

	c_class = prop(s, client, A_WM_CLASS, 128);
	c_name = prop(s, client, A_NET_WM_NAME, 256);
	c_wmname = prop(s, client, A_WM_NAME, 256);
	c_pid = prop(s, client, A_NET_WM_PID, 1);
	c_geom = xcb_get_geometry(s->conn, client);
	c_pos = xcb_translate_coordinates(s->conn, client, s->root, 0, 0);

	r = xcb_get_property_reply(s->conn, c_class, NULL);
	text_of(r, inst_class, sizeof(inst_class));
	if (r != NULL && r->format == 8 && xcb_get_property_value_length(r) > 0) {
		size_t n = (size_t)xcb_get_property_value_length(r);
		size_t il = strnlen(inst_class, sizeof(inst_class));

		w.has_class = 1;
		w.instance = inst_class;
		if (il + 1 < n && il + 1 < sizeof(inst_class))
			w.class_name = inst_class + il + 1;
	}
	free(r);
	r = xcb_get_property_reply(s->conn, c_name, NULL);
	text_of(r, title, sizeof(title));
	free(r);
	r = xcb_get_property_reply(s->conn, c_wmname, NULL);
	if (title[0] == '\0')
		text_of(r, title, sizeof(title));
	free(r);
	r = xcb_get_property_reply(s->conn, c_pid, NULL);
	if (r != NULL && r->format == 32 && xcb_get_property_value_length(r) >= 4)
		w.pid = (int32_t)*(const uint32_t *)xcb_get_property_value(r);
	free(r);
	g = xcb_get_geometry_reply(s->conn, c_geom, NULL);
	tr = xcb_translate_coordinates_reply(s->conn, c_pos, NULL);
	if (g != NULL && tr != NULL)
		w.client = (struct image_rect){tr->dst_x, tr->dst_y, g->width, g->height};
	else
		w.client = t->frame;
	free(g);
	free(tr);

	exe[0] = '\0';
	if (w.pid > 0) {
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)w.pid);
		len = readlink(path, exe, sizeof(exe) - 1);
		exe[len > 0 ? len : 0] = '\0';
	}
	if (w.has_class)
		watch(s, client);
	each(arg, &w);
}

int desktop_read(struct desktop *s, void (*each)(void *arg, const struct desktop_window *w),
                 void *arg)
{
	xcb_query_tree_reply_t *tree;
	xcb_window_t *kids;
	struct top *tops = NULL;
	xcb_get_window_attributes_cookie_t *ca = NULL;
	xcb_get_geometry_cookie_t *cg = NULL;
	size_t n_tops = 0;
	int n;

	tree = xcb_query_tree_reply(s->conn, xcb_query_tree(s->conn, s->root), NULL);
	if (tree == NULL)
		return -EPIPE;
	kids = xcb_query_tree_children(tree);
	n = xcb_query_tree_children_length(tree);
	if (n > DESKTOP_WINDOWS_MAX)
		n = DESKTOP_WINDOWS_MAX;
	tops = util_xcalloc((size_t)n + 1, sizeof(*tops));
	ca = util_xcalloc((size_t)n + 1, sizeof(*ca));
	cg = util_xcalloc((size_t)n + 1, sizeof(*cg));
	for (int i = 0; i < n; i++) {
		ca[i] = xcb_get_window_attributes(s->conn, kids[i]);
		cg[i] = xcb_get_geometry(s->conn, kids[i]);
	}
	for (int i = 0; i < n; i++) {
		xcb_get_window_attributes_reply_t *a = xcb_get_window_attributes_reply(s->conn, ca[i],
		                                                                        NULL);
		xcb_get_geometry_reply_t *g = xcb_get_geometry_reply(s->conn, cg[i], NULL);

		if (a != NULL && g != NULL && a->map_state == XCB_MAP_STATE_VIEWABLE &&
		    a->_class == XCB_WINDOW_CLASS_INPUT_OUTPUT) {
			struct top *t = &tops[n_tops++];
			t->win = kids[i];
			t->frame = (struct image_rect){g->x, g->y, (uint32_t)g->width + 2u * g->border_width,
			                              (uint32_t)g->height + 2u * g->border_width};
		}
		free(a);
		free(g);
	}
	/* A window without WM_CLASS (a popup) is described too: its pid may tie it to an
	 * application. */
	for (size_t i = 0; i < n_tops; i++)
		describe(s, &tops[i], window_client_of(s->conn, tops[i].win, s->atoms[A_WM_STATE]),
		         each, arg);
	free(tops);
	free(ca);
	free(cg);
	free(tree);
	return (int)n_tops;
}

int desktop_open(const char *display, struct desktop **out, char **cause)
{
	struct desktop *s = util_xcalloc(1, sizeof(*s));
	xcb_intern_atom_cookie_t ck[A_COUNT_];
	uint32_t mask = XCB_EVENT_MASK_SUBSTRUCTURE_NOTIFY;
	int screen_num = 0, rc;

	*out = NULL;
	s->conn = xcb_connect(display, &screen_num);
	if (s->conn == NULL || xcb_connection_has_error(s->conn)) {
		rc = util_fail(cause, -ENXIO, "cannot connect to the X server %s to follow windows",
		               display ? display : (getenv("DISPLAY") ? getenv("DISPLAY") : "(unset)"));
		goto fail;
	}
	{
		xcb_screen_iterator_t it = xcb_setup_roots_iterator(xcb_get_setup(s->conn));
		for (int i = 0; i < screen_num && it.rem > 0; i++)
			xcb_screen_next(&it);
		s->root = it.data->root;
	}
	for (int i = 0; i < A_COUNT_; i++)
		ck[i] = xcb_intern_atom(s->conn, 0, (uint16_t)strlen(atom_names[i]), atom_names[i]);
	for (int i = 0; i < A_COUNT_; i++) {
		xcb_intern_atom_reply_t *r = xcb_intern_atom_reply(s->conn, ck[i], NULL);
		s->atoms[i] = r != NULL ? r->atom : XCB_NONE;
		free(r);
	}
	xcb_change_window_attributes(s->conn, s->root, XCB_CW_EVENT_MASK, &mask);
	*out = s;
	return 0;
fail:
	desktop_close(s);
	return rc;
}

void desktop_close(struct desktop *s)
{
	if (s == NULL)
		return;
	if (s->conn != NULL)
		xcb_disconnect(s->conn);
	free(s);
}

int desktop_fd(struct desktop *s)
{
	return xcb_get_file_descriptor(s->conn);
}

int desktop_dispatch(struct desktop *s, int do_read)
{
	xcb_generic_event_t *ev;

	/*
	 * xcb_poll_for_event reads when its queue is empty: once, not again when the
	 * queue runs out, where the read would only say EAGAIN.
	 */
	while ((ev = do_read ? xcb_poll_for_event(s->conn) : xcb_poll_for_queued_event(s->conn))
	       != NULL) {
		do_read = 0;
		switch (ev->response_type & 0x7f) {
		case XCB_PROPERTY_NOTIFY: {
			xcb_property_notify_event_t *p = (xcb_property_notify_event_t *)ev;
			if (p->atom == s->atoms[A_WM_CLASS] || p->atom == s->atoms[A_NET_WM_NAME] ||
			    p->atom == s->atoms[A_WM_NAME] || p->atom == s->atoms[A_NET_WM_PID])
				s->dirty = 1;
			break;
		}
		case XCB_CREATE_NOTIFY:
			break;
		case 0: /* an error: a window went away between two requests */
			break;
		default:
			/* Map, unmap, configure, reparent, destroy, circulate, gravity. */
			s->dirty = 1;
			break;
		}
		free(ev);
	}
	if (xcb_connection_has_error(s->conn))
		return -EPIPE;
	if (!s->dirty)
		return 0;
	s->dirty = 0;
	return 1;
}

/* The AT_SPI_BUS property of the root window, as libatspi reads it ("" when none). */
void desktop_a11y_bus(char *dst, size_t n)
{
	const char *display = getenv("DISPLAY");
	xcb_connection_t *c;
	xcb_intern_atom_reply_t *ar;
	xcb_get_property_reply_t *pr;
	const xcb_setup_t *setup;

	dst[0] = '\0';
	if (display == NULL || display[0] == '\0' || getenv("WAYLAND_DISPLAY") != NULL)
		return;
	c = xcb_connect(NULL, NULL);
	if (xcb_connection_has_error(c)) {
		xcb_disconnect(c);
		return;
	}
	setup = xcb_get_setup(c);
	ar = xcb_intern_atom_reply(c, xcb_intern_atom(c, 1, 10, "AT_SPI_BUS"), NULL);
	if (ar != NULL && ar->atom != XCB_ATOM_NONE && setup != NULL) {
		xcb_screen_iterator_t it = xcb_setup_roots_iterator(setup);
		pr = xcb_get_property_reply(c, xcb_get_property(c, 0, it.data->root, ar->atom,
		                                                XCB_GET_PROPERTY_TYPE_ANY, 0, 1024),
		                            NULL);
		if (pr != NULL && pr->format == 8 && xcb_get_property_value_length(pr) > 0) {
			int len = xcb_get_property_value_length(pr);
			size_t m = (size_t)len < n - 1 ? (size_t)len : n - 1;
			memcpy(dst, xcb_get_property_value(pr), m);
			dst[m] = '\0';
		}
		free(pr);
	}
	free(ar);
	xcb_disconnect(c);
}
