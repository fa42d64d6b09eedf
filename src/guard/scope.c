/*
 * scope: follows the top-level windows on its own X connection and computes
 * the visible area of in-scope windows (see scope.h).
 *
 * Every change of the window tree (a window mapped, unmapped, moved, resized,
 * restacked, reparented) or of a client's title or class marks the state dirty;
 * scope_dispatch then reads the tree again: one QueryTree of the root, the
 * attributes and geometry of every child (pipelined), and for each viewable
 * child its client window (window_client_of: the child itself, or a descendant
 * for a window manager's frame) with its properties. With a few dozen windows
 * that is a handful of round trips, done only when something changed.
 */
#include "scope.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xcb/xcb.h>

#include "util.h"
#include "window.h"

/* Most top-level windows looked at; the rest (above) are treated as occluders. */
#define SCOPE_WINDOWS_MAX 512

enum { A_WM_CLASS, A_NET_WM_NAME, A_WM_NAME, A_NET_WM_PID, A_UTF8, A_WM_STATE, A_COUNT_ };

static const char *const atom_names[A_COUNT_] = {
	"WM_CLASS", "_NET_WM_NAME", "WM_NAME", "_NET_WM_PID", "UTF8_STRING", "WM_STATE",
};

struct scope {
	xcb_connection_t *conn;
	xcb_window_t root;
	xcb_atom_t atoms[A_COUNT_];
	const struct policy *pol;
	int dirty;
	size_t n_keep;
	struct image_rect keep[SCOPE_RECTS_MAX];
	uint32_t watched[SCOPE_WINDOWS_MAX]; /* clients whose PropertyChange we selected */
	size_t n_watched;
};

/* What is known about one viewable child of the root. */
struct top {
	xcb_window_t win;
	struct image_rect frame;    /* the child's outer rectangle (border included) */
	struct image_rect client;   /* the client's area, when in scope */
	int32_t pid;
	int has_class;
	int in_scope;
};

static int64_t area(const struct image_rect *r)
{
	return (int64_t)r->w * (int64_t)r->h;
}

/* Adds r to rects; when full, replaces the smallest piece if r is larger. */
static size_t add_piece(struct image_rect *rects, size_t n, size_t max, const struct image_rect *r)
{
	size_t small = 0;

	if (r->w == 0 || r->h == 0)
		return n;
	if (n < max) {
		rects[n] = *r;
		return n + 1;
	}
	if (max == 0)
		return 0;
	for (size_t i = 1; i < n; i++)
		if (area(&rects[i]) < area(&rects[small]))
			small = i;
	if (area(r) > area(&rects[small]))
		rects[small] = *r;
	return n;
}

size_t scope_subtract(struct image_rect *rects, size_t n, size_t max, const struct image_rect *hole)
{
	struct image_rect tmp[SCOPE_RECTS_MAX * 4];
	size_t m = 0, out = 0;

	if (max > SCOPE_RECTS_MAX)
		max = SCOPE_RECTS_MAX;
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		const struct image_rect *r = &rects[i];
		struct image_rect in;
		int64_t rx1 = (int64_t)r->x + r->w, ry1 = (int64_t)r->y + r->h;
		int64_t ix1, iy1;

		if (!image_rect_intersect(r, hole, &in)) {
			tmp[m++] = *r;
			continue;
		}
		ix1 = (int64_t)in.x + in.w;
		iy1 = (int64_t)in.y + in.h;
		/* Up to four pieces: above, below, left and right of the hole. */
		if (in.y > r->y)
			tmp[m++] = (struct image_rect){r->x, r->y, r->w, (uint32_t)(in.y - r->y)};
		if (iy1 < ry1)
			tmp[m++] = (struct image_rect){r->x, (int32_t)iy1, r->w, (uint32_t)(ry1 - iy1)};
		if (in.x > r->x)
			tmp[m++] = (struct image_rect){r->x, in.y, (uint32_t)(in.x - r->x), in.h};
		if (ix1 < rx1)
			tmp[m++] = (struct image_rect){(int32_t)ix1, in.y, (uint32_t)(rx1 - ix1), in.h};
	}
	for (size_t i = 0; i < m; i++)
		out = add_piece(rects, out, max, &tmp[i]);
	return out;
}

static void watch(struct scope *s, xcb_window_t w)
{
	uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE | XCB_EVENT_MASK_STRUCTURE_NOTIFY;

	for (size_t i = 0; i < s->n_watched; i++)
		if (s->watched[i] == w)
			return;
	if (s->n_watched == SCOPE_WINDOWS_MAX)
		s->n_watched = 0; /* start over; selecting twice does no harm */
	s->watched[s->n_watched++] = w;
	xcb_change_window_attributes(s->conn, w, XCB_CW_EVENT_MASK, &mask);
}

static xcb_get_property_cookie_t prop(struct scope *s, xcb_window_t w, int atom, uint32_t len)
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

/* Reads a client's properties and judges it. Fills pid, has_class, in_scope, client. */
static void judge(struct scope *s, struct top *t, xcb_window_t client)
{
	char inst_class[512], title[1024], exe[1024], path[64];
	const char *inst = "", *cls = "";
	xcb_get_property_cookie_t c_class, c_name, c_wmname, c_pid;
	xcb_get_geometry_cookie_t c_geom;
	xcb_translate_coordinates_cookie_t c_pos;
	xcb_get_property_reply_t *r;
	xcb_get_geometry_reply_t *g;
	xcb_translate_coordinates_reply_t *tr;
	struct policy_window pw;
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

		t->has_class = 1;
		inst = inst_class;
		if (il + 1 < n && il + 1 < sizeof(inst_class))
			cls = inst_class + il + 1;
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
		t->pid = (int32_t)*(const uint32_t *)xcb_get_property_value(r);
	free(r);
	g = xcb_get_geometry_reply(s->conn, c_geom, NULL);
	tr = xcb_translate_coordinates_reply(s->conn, c_pos, NULL);
	if (g != NULL && tr != NULL)
		t->client = (struct image_rect){tr->dst_x, tr->dst_y, g->width, g->height};
	else
		t->client = t->frame;
	free(g);
	free(tr);

	exe[0] = '\0';
	if (t->pid > 0) {
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)t->pid);
		len = readlink(path, exe, sizeof(exe) - 1);
		exe[len > 0 ? len : 0] = '\0';
	}
	if (!t->has_class)
		return;
	watch(s, client);
	pw = (struct policy_window){inst, cls, exe, title, NULL};
	t->in_scope = policy_check(s->pol, &pw) == POLICY_IN;
}

/* Reads the window tree again and recomputes the kept rectangles. */
static int refresh(struct scope *s)
{
	xcb_query_tree_reply_t *tree;
	xcb_window_t *kids;
	struct top *tops = NULL;
	xcb_get_window_attributes_cookie_t *ca = NULL;
	xcb_get_geometry_cookie_t *cg = NULL;
	struct image_rect keep[SCOPE_RECTS_MAX];
	size_t n_keep = 0, n_tops = 0;
	int n, changed;

	tree = xcb_query_tree_reply(s->conn, xcb_query_tree(s->conn, s->root), NULL);
	if (tree == NULL)
		return -EPIPE;
	kids = xcb_query_tree_children(tree);
	n = xcb_query_tree_children_length(tree);
	if (n > SCOPE_WINDOWS_MAX)
		n = SCOPE_WINDOWS_MAX;
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
	/* A window without WM_CLASS (a popup) is judged too: its pid may tie it to an
	 * application. */
	for (size_t i = 0; i < n_tops; i++)
		judge(s, &tops[i], window_client_of(s->conn, tops[i].win, s->atoms[A_WM_STATE]));
	/* Popups without a class belong to an in-scope application when their pid says so. */
	for (size_t i = 0; i < n_tops; i++) {
		if (tops[i].has_class || tops[i].pid <= 0)
			continue;
		for (size_t j = 0; j < n_tops; j++) {
			if (tops[j].has_class && tops[j].in_scope && tops[j].pid == tops[i].pid) {
				tops[i].in_scope = 1;
				tops[i].client = tops[i].frame;
				break;
			}
		}
	}
	/* Bottom to top: each window covers what is below it; in-scope clients add area. */
	for (size_t i = 0; i < n_tops; i++) {
		n_keep = scope_subtract(keep, n_keep, SCOPE_RECTS_MAX, &tops[i].frame);
		if (tops[i].in_scope) {
			struct image_rect c;
			if (image_rect_intersect(&tops[i].client, &tops[i].frame, &c))
				n_keep = add_piece(keep, n_keep, SCOPE_RECTS_MAX, &c);
		}
	}
	changed = n_keep != s->n_keep || memcmp(keep, s->keep, n_keep * sizeof(keep[0])) != 0;
	memcpy(s->keep, keep, n_keep * sizeof(keep[0]));
	s->n_keep = n_keep;
	free(tops);
	free(ca);
	free(cg);
	free(tree);
	return changed;
}

int scope_open(const char *display, const struct policy *pol, struct scope **out, char **cause)
{
	struct scope *s = util_xcalloc(1, sizeof(*s));
	xcb_intern_atom_cookie_t ck[A_COUNT_];
	uint32_t mask = XCB_EVENT_MASK_SUBSTRUCTURE_NOTIFY;
	int screen_num = 0, rc;

	*out = NULL;
	s->pol = pol;
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
	if (refresh(s) < 0) {
		rc = util_fail(cause, -EIO, "the X server did not list its windows");
		goto fail;
	}
	*out = s;
	return 0;
fail:
	scope_close(s);
	return rc;
}

void scope_close(struct scope *s)
{
	if (s == NULL)
		return;
	if (s->conn != NULL)
		xcb_disconnect(s->conn);
	free(s);
}

int scope_fd(struct scope *s)
{
	return xcb_get_file_descriptor(s->conn);
}

int scope_dispatch(struct scope *s)
{
	xcb_generic_event_t *ev;

	while ((ev = xcb_poll_for_event(s->conn)) != NULL) {
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
	return refresh(s);
}

size_t scope_keep_rects(const struct scope *s, struct image_rect *out, size_t max)
{
	size_t n = s->n_keep < max ? s->n_keep : max;

	memcpy(out, s->keep, n * sizeof(*out));
	return n;
}

int scope_point_kept(const struct scope *s, int32_t x, int32_t y)
{
	struct image_rect p = {x, y, 1, 1};

	for (size_t i = 0; i < s->n_keep; i++)
		if (image_rect_intersect(&s->keep[i], &p, NULL))
			return 1;
	return 0;
}
