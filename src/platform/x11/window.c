/*
 * window: the focused top-level window as a struct context, followed through
 * EWMH properties when a window manager runs and through the input focus and the
 * pointer when none does.
 */
#include "window.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "testbreak.h"
#include "util.h"

/*
 * Window managers clear _NET_ACTIVE_WINDOW while they switch windows. A "no
 * window" that lasts less than this is that blip, not a real state. The same
 * grace applies when the focused window is unmapped or destroyed: the window
 * manager then picks another one (or, like openbox after the last window closed,
 * leaves _NET_ACTIVE_WINDOW naming the dead window).
 */
#define GRACE_NS (150 * 1000000LL)

/* How far below a top-level frame to look for the client window with WM_STATE. */
#define CLIENT_SEARCH_DEPTH 3
#define CLIENT_SEARCH_MAX 64

enum {
	ATOM_NET_SUPPORTING_WM_CHECK,
	ATOM_NET_ACTIVE_WINDOW,
	ATOM_NET_WM_NAME,
	ATOM_NET_WM_PID,
	ATOM_UTF8_STRING,
	ATOM_COMPOUND_TEXT,
	ATOM_WM_STATE,
	ATOM_COUNT
};

static const char *const atom_names[ATOM_COUNT] = {
	"_NET_SUPPORTING_WM_CHECK", "_NET_ACTIVE_WINDOW", "_NET_WM_NAME", "_NET_WM_PID",
	"UTF8_STRING", "COMPOUND_TEXT", "WM_STATE",
};

struct window {
	xcb_connection_t *conn;
	xcb_window_t root;
	xcb_atom_t atoms[ATOM_COUNT];
	int has_wm;
	xcb_window_t wm_check;     /* the window manager's check window, 0 = none */
	xcb_window_t watched;      /* window with our PropertyChange selection, 0 = none */
	int pending;               /* focus may be gone: look again after the grace */
	int64_t pending_since;
	int32_t seq;
	struct context ctx;
	char host[256];            /* this machine, to trust _NET_WM_PID only for local windows */
};

/* --- text ------------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 when invalid. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		len = 2;
		cp = p[0] & 0x1F;
	} else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		len = 3;
		cp = p[0] & 0x0F;
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

/*
 * Copies n bytes of UTF-8 from another client into dst (size > 0): invalid bytes
 * become U+FFFD, control characters a space, and the result is cut at a
 * character boundary and NUL-terminated.
 */
static void copy_utf8(char *dst, size_t size, const char *src, size_t n)
{
	static const char repl[] = "\xEF\xBF\xBD";
	const unsigned char *p = (const unsigned char *)src;
	size_t o = 0, i = 0;

	while (i < n && p[i] != '\0') {
		size_t len = utf8_seq_len(p + i, n - i);
		const char *piece = (const char *)p + i;
		size_t plen = len;

		if (len == 0) {
			piece = repl;
			plen = 3;
			len = 1;
		} else if (len == 1 && (p[i] < 0x20 || p[i] == 0x7f)) {
			piece = " ";
		}
		if (o + plen >= size)
			break;
		memcpy(dst + o, piece, plen);
		o += plen;
		i += len;
	}
	dst[o] = '\0';
}

/*
 * Copies Latin-1 (STRING properties) or COMPOUND_TEXT as UTF-8. COMPOUND_TEXT is
 * Latin-1 until an escape sequence switches the character set: the sequences are
 * dropped and bytes of other sets become '?', which is enough for a title.
 */
static void copy_latin1(char *dst, size_t size, const char *src, size_t n, int compound)
{
	const unsigned char *p = (const unsigned char *)src;
	int other_set = 0;
	size_t o = 0;

	for (size_t i = 0; i < n && p[i] != '\0'; i++) {
		char buf[2];
		size_t len = 1;

		if (compound && p[i] == 0x1b) {
			size_t j = i + 1;
			while (j < n && p[j] >= 0x20 && p[j] <= 0x2f)
				j++;
			/* "ESC ( B" and "ESC - A" select ASCII and Latin-1 again. */
			other_set = !(j < n && (p[j] == 'B' || p[j] == 'A'));
			i = j;
			continue;
		}
		if (p[i] < 0x20 || p[i] == 0x7f) {
			buf[0] = ' ';
		} else if (p[i] < 0x80) {
			buf[0] = (char)p[i];
		} else if (compound && other_set) {
			buf[0] = '?';
		} else {
			buf[0] = (char)(0xC0 | (p[i] >> 6));
			buf[1] = (char)(0x80 | (p[i] & 0x3F));
			len = 2;
		}
		if (o + len >= size)
			break;
		memcpy(dst + o, buf, len);
		o += len;
	}
	dst[o] = '\0';
}

/* --- properties ------------------------------------------------------------------ */

static xcb_get_property_cookie_t get_prop(struct window *w, xcb_window_t win, xcb_atom_t atom,
                                          xcb_atom_t type, uint32_t words)
{
	return xcb_get_property(w->conn, 0, win, atom, type, 0, words);
}

/* Reads a one-value WINDOW or CARDINAL property reply; 0 when missing. */
static uint32_t reply_u32(xcb_connection_t *conn, xcb_get_property_cookie_t ck)
{
	xcb_get_property_reply_t *r = xcb_get_property_reply(conn, ck, NULL);
	uint32_t v = 0;

	if (r != NULL && r->format == 32 && xcb_get_property_value_length(r) >= 4)
		v = *(const uint32_t *)xcb_get_property_value(r);
	free(r);
	return v;
}

/* 1 when the reply holds 8-bit text; sets *p and *n. */
static int reply_text(xcb_get_property_reply_t *r, const char **p, size_t *n)
{
	if (r == NULL || r->format != 8 || xcb_get_property_value_length(r) <= 0)
		return 0;
	*p = xcb_get_property_value(r);
	*n = (size_t)xcb_get_property_value_length(r);
	return 1;
}

/* Whether a WM_CLIENT_MACHINE value names this machine (short or full name). */
static int is_local_host(const struct window *w, const char *p, size_t n)
{
	size_t hl = strlen(w->host);
	size_t m = n;

	if (hl == 0)
		return 0;
	if (memchr(p, '\0', n) != NULL)
		m = strlen(p);
	if (m == hl && memcmp(p, w->host, m) == 0)
		return 1;
	if (m > hl && memcmp(p, w->host, hl) == 0 && p[hl] == '.')
		return 1;
	if (hl > m && memcmp(p, w->host, m) == 0 && w->host[m] == '.')
		return 1;
	return 0;
}

/* What describe found about the window itself. */
enum { WIN_GONE = -1, WIN_UNMAPPED = 0, WIN_VIEWABLE = 1 };

/*
 * Describes win into ctx with one round trip (every request is sent before any
 * reply is read) and returns WIN_*. A window that vanished meanwhile gives
 * WIN_GONE and what could be read.
 */
static int describe(struct window *w, xcb_window_t win, struct context *ctx)
{
	xcb_get_window_attributes_cookie_t c_attr;
	xcb_get_property_cookie_t c_class, c_net_name, c_name, c_pid, c_host;
	xcb_get_geometry_cookie_t c_geom;
	xcb_translate_coordinates_cookie_t c_pos;
	xcb_get_window_attributes_reply_t *a;
	xcb_get_property_reply_t *r;
	xcb_get_geometry_reply_t *g;
	xcb_translate_coordinates_reply_t *t;
	const char *p;
	size_t n;
	int local = 1, state;

	memset(ctx, 0, sizeof *ctx);
	ctx->window = win;
	if (win == XCB_WINDOW_NONE)
		return WIN_VIEWABLE;

	c_attr = xcb_get_window_attributes(w->conn, win);

	c_class = get_prop(w, win, XCB_ATOM_WM_CLASS, XCB_ATOM_STRING, 64);
	c_net_name = get_prop(w, win, w->atoms[ATOM_NET_WM_NAME], w->atoms[ATOM_UTF8_STRING],
	                      CONTEXT_STR_MAX / 4 + 1);
	c_name = get_prop(w, win, XCB_ATOM_WM_NAME, XCB_GET_PROPERTY_TYPE_ANY,
	                  CONTEXT_STR_MAX / 4 + 1);
	c_pid = get_prop(w, win, w->atoms[ATOM_NET_WM_PID], XCB_ATOM_CARDINAL, 1);
	c_host = get_prop(w, win, XCB_ATOM_WM_CLIENT_MACHINE, XCB_GET_PROPERTY_TYPE_ANY, 64);
	c_geom = xcb_get_geometry(w->conn, win);
	c_pos = xcb_translate_coordinates(w->conn, win, w->root, 0, 0);

	a = xcb_get_window_attributes_reply(w->conn, c_attr, NULL);
	state = a == NULL ? WIN_GONE
	                  : a->map_state == XCB_MAP_STATE_VIEWABLE ? WIN_VIEWABLE : WIN_UNMAPPED;
	free(a);

	/* WM_CLASS is "instance\0class\0". */
	r = xcb_get_property_reply(w->conn, c_class, NULL);
	if (reply_text(r, &p, &n)) {
		size_t ilen = strnlen(p, n);
		copy_latin1(ctx->wm_instance, sizeof ctx->wm_instance, p, ilen, 0);
		if (ilen + 1 < n)
			copy_latin1(ctx->wm_class, sizeof ctx->wm_class, p + ilen + 1,
			            strnlen(p + ilen + 1, n - ilen - 1), 0);
	}
	free(r);

	r = xcb_get_property_reply(w->conn, c_net_name, NULL);
	if (reply_text(r, &p, &n) && !testbreak("window-net-wm-name-ignored"))
		copy_utf8(ctx->title, sizeof ctx->title, p, n);
	free(r);
	r = xcb_get_property_reply(w->conn, c_name, NULL);
	if (ctx->title[0] == '\0' && reply_text(r, &p, &n)) {
		if (r->type == w->atoms[ATOM_UTF8_STRING])
			copy_utf8(ctx->title, sizeof ctx->title, p, n);
		else
			copy_latin1(ctx->title, sizeof ctx->title, p, n,
			            r->type == w->atoms[ATOM_COMPOUND_TEXT]);
	}
	free(r);

	ctx->pid = (int32_t)reply_u32(w->conn, c_pid);
	r = xcb_get_property_reply(w->conn, c_host, NULL);
	if (reply_text(r, &p, &n))
		local = is_local_host(w, p, n);
	free(r);

	g = xcb_get_geometry_reply(w->conn, c_geom, NULL);
	if (g != NULL) {
		ctx->w = g->width;
		ctx->h = g->height;
	}
	free(g);
	t = xcb_translate_coordinates_reply(w->conn, c_pos, NULL);
	if (t != NULL) {
		ctx->x = t->dst_x;
		ctx->y = t->dst_y;
	}
	free(t);

	/* A pid from another machine names some unrelated local process. */
	if (ctx->pid > 0 && !local && !testbreak("window-remote-pid-trusted"))
		ctx->pid = 0;
	if (ctx->pid > 0) {
		char path[64];
		ssize_t len;

		snprintf(path, sizeof path, "/proc/%d/exe", (int)ctx->pid);
		len = readlink(path, ctx->exe, sizeof ctx->exe - 1);
		ctx->exe[len > 0 ? len : 0] = '\0';
	}
	return state;
}

/* --- finding the focused window -------------------------------------------------- */

/*
 * Whether an EWMH window manager runs: _NET_SUPPORTING_WM_CHECK names a window
 * that names itself (not a stale property). A window manager killed without
 * cleaning up leaves the property behind, so its check window is watched for
 * destruction.
 */
static int detect_wm(struct window *w)
{
	xcb_atom_t check = w->atoms[ATOM_NET_SUPPORTING_WM_CHECK];
	uint32_t win, again, mask = XCB_EVENT_MASK_STRUCTURE_NOTIFY;

	w->wm_check = XCB_WINDOW_NONE;
	win = reply_u32(w->conn, get_prop(w, w->root, check, XCB_ATOM_WINDOW, 1));
	if (win == 0)
		return 0;
	xcb_change_window_attributes(w->conn, win, XCB_CW_EVENT_MASK, &mask);
	again = reply_u32(w->conn, get_prop(w, win, check, XCB_ATOM_WINDOW, 1));
	if (again != win)
		return 0;
	w->wm_check = win;
	return 1;
}

static xcb_window_t active_window(struct window *w)
{
	return reply_u32(w->conn, get_prop(w, w->root, w->atoms[ATOM_NET_ACTIVE_WINDOW],
	                                   XCB_ATOM_WINDOW, 1));
}

/*
 * Without a window manager: the focus window, or the top-level window under the
 * pointer when focus follows the pointer; walked up to the child of root, then
 * down to its client (window_client_of).
 */
static xcb_window_t focused_without_wm(struct window *w)
{
	xcb_get_input_focus_reply_t *f;
	xcb_window_t win;

	f = xcb_get_input_focus_reply(w->conn, xcb_get_input_focus(w->conn), NULL);
	if (f == NULL)
		return XCB_WINDOW_NONE;
	win = f->focus;
	free(f);
	if (win == XCB_NONE || win == XCB_INPUT_FOCUS_POINTER_ROOT || win == w->root) {
		xcb_query_pointer_reply_t *q;

		q = xcb_query_pointer_reply(w->conn, xcb_query_pointer(w->conn, w->root), NULL);
		win = q != NULL && q->same_screen ? q->child : XCB_WINDOW_NONE;
		free(q);
		if (win == XCB_WINDOW_NONE)
			return XCB_WINDOW_NONE;
	}
	/* Walk up to the top-level window (the child of root). */
	for (int guard = 0; guard < 64; guard++) {
		xcb_query_tree_reply_t *tr;
		xcb_window_t parent;

		tr = xcb_query_tree_reply(w->conn, xcb_query_tree(w->conn, win), NULL);
		if (tr == NULL)
			return XCB_WINDOW_NONE;
		parent = tr->parent;
		free(tr);
		if (parent == w->root || parent == XCB_WINDOW_NONE)
			break;
		win = parent;
	}
	return window_client_of(w->conn, win, w->atoms[ATOM_WM_STATE]);
}

/* --- snapshots ------------------------------------------------------------------- */

/*
 * Moves our selection to win: PropertyChange for its title, StructureNotify to
 * learn when it is unmapped or destroyed.
 */
static void watch(struct window *w, xcb_window_t win)
{
	uint32_t mask;

	if (win == w->watched)
		return;
	if (w->watched != XCB_WINDOW_NONE) {
		/* The window may be gone: the error that comes back is ignored. */
		mask = XCB_EVENT_MASK_NO_EVENT;
		xcb_change_window_attributes(w->conn, w->watched, XCB_CW_EVENT_MASK, &mask);
	}
	w->watched = XCB_WINDOW_NONE;
	if (win != XCB_WINDOW_NONE && win != w->root) {
		mask = XCB_EVENT_MASK_PROPERTY_CHANGE | XCB_EVENT_MASK_STRUCTURE_NOTIFY;
		xcb_change_window_attributes(w->conn, win, XCB_CW_EVENT_MASK, &mask);
		w->watched = win;
	}
}

/*
 * Makes win the focused window: selects its property changes first (so a title
 * set meanwhile is not missed), describes it, and starts a new snapshot when the
 * window or its title differ from the current one. A window that no longer
 * exists, or (with `need_viewable`) is not mapped, counts as no window. Returns
 * WINDOW_CHANGED_* bits.
 */
static int set_focus(struct window *w, xcb_window_t win, int64_t now_ns, int force,
                     int need_viewable)
{
	struct context c;
	int changed = 0, state;

	watch(w, win);
	state = describe(w, win, &c);
	if (state == WIN_GONE || (need_viewable && state != WIN_VIEWABLE)) {
		watch(w, XCB_WINDOW_NONE);
		describe(w, XCB_WINDOW_NONE, &c);
	}
	if (c.window != w->ctx.window)
		changed = WINDOW_CHANGED_FOCUS;
	else if (strcmp(c.title, w->ctx.title) != 0)
		changed = WINDOW_CHANGED_TITLE;
	if (changed == 0 && !force)
		return 0;
	c.seq = ++w->seq;
	c.t_ns = now_ns;
	w->ctx = c;
	log_debug("context %d: window 0x%x pid %d", (int)c.seq, (unsigned)c.window, (int)c.pid);
	return changed != 0 ? changed : WINDOW_CHANGED_FOCUS;
}

/* Asks window_tick to look at the focus again once the grace period is over. */
static void look_later(struct window *w, int64_t now_ns)
{
	if (!w->pending) {
		w->pending = 1;
		w->pending_since = now_ns;
	}
}

/* Follows _NET_ACTIVE_WINDOW; holds back a 0 for GRACE_NS. */
static int follow_active(struct window *w, int64_t now_ns)
{
	xcb_window_t win = active_window(w);

	if (win == XCB_WINDOW_NONE && w->ctx.window != XCB_WINDOW_NONE &&
	    !testbreak("window-active-zero-shown")) {
		look_later(w, now_ns);
		return 0;
	}
	w->pending = 0;
	return set_focus(w, win, now_ns, 0, 0);
}

/* Looks for the window manager again; returns WINDOW_CHANGED_* bits. */
static int redetect(struct window *w, int64_t now_ns)
{
	int had = w->has_wm;

	w->has_wm = detect_wm(w);
	if (w->has_wm != had)
		log_info("window manager %s", w->has_wm ? "found: following _NET_ACTIVE_WINDOW"
		                                        : "gone: following the input focus");
	w->pending = 0;
	if (w->has_wm)
		return follow_active(w, now_ns);
	return set_focus(w, focused_without_wm(w), now_ns, 0, 0);
}

int window_open(xcb_connection_t *conn, xcb_window_t root, int64_t now_ns, struct window **out,
                char **cause)
{
	struct window *w = util_xcalloc(1, sizeof *w);
	xcb_intern_atom_cookie_t ck[ATOM_COUNT];
	xcb_generic_error_t *err;
	uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE;
	int rc;

	*out = NULL;
	w->conn = conn;
	w->root = root;
	if (gethostname(w->host, sizeof w->host - 1) != 0)
		w->host[0] = '\0';
	for (int i = 0; i < ATOM_COUNT; i++)
		ck[i] = xcb_intern_atom(conn, 0, (uint16_t)strlen(atom_names[i]), atom_names[i]);
	for (int i = 0; i < ATOM_COUNT; i++) {
		xcb_intern_atom_reply_t *r = xcb_intern_atom_reply(conn, ck[i], NULL);
		if (r == NULL) {
			rc = util_fail(cause, -EIO, "the X server did not answer InternAtom");
			goto fail;
		}
		w->atoms[i] = r->atom;
		free(r);
	}
	/* Select before reading, so that a change in between arrives as an event. */
	err = xcb_request_check(conn, xcb_change_window_attributes_checked(conn, root,
	                                                                 XCB_CW_EVENT_MASK, &mask));
	if (err != NULL) {
		rc = util_fail(cause, -EIO, "cannot watch the root window's properties (X error %d)",
		               err->error_code);
		free(err);
		goto fail;
	}
	w->has_wm = detect_wm(w);
	log_info("%s", w->has_wm ? "EWMH window manager found: following _NET_ACTIVE_WINDOW"
	                         : "no EWMH window manager: following the input focus");
	set_focus(w, w->has_wm ? active_window(w) : focused_without_wm(w), now_ns, 1, 0);
	*out = w;
	return 0;

fail:
	window_close(w);
	return rc;
}

void window_close(struct window *w)
{
	if (w == NULL)
		return;
	watch(w, XCB_WINDOW_NONE);
	free(w);
}

int window_has_wm(const struct window *w)
{
	return w->has_wm;
}

int window_handle_event(struct window *w, const xcb_generic_event_t *ev, int64_t now_ns)
{
	const xcb_property_notify_event_t *pn = (const void *)ev;
	uint8_t type = ev->response_type & 0x7f;

	if (type == XCB_DESTROY_NOTIFY || type == XCB_UNMAP_NOTIFY) {
		/* Same layout for both: the window that went away is in `window`. */
		const xcb_unmap_notify_event_t *un = (const void *)ev;
		if (type == XCB_DESTROY_NOTIFY && un->window == w->wm_check &&
		    un->window != XCB_WINDOW_NONE)
			return redetect(w, now_ns);
		if (un->window == w->watched && un->window == w->ctx.window) {
			log_debug("focused window 0x%x %s", (unsigned)un->window,
			          type == XCB_DESTROY_NOTIFY ? "destroyed" : "unmapped");
			look_later(w, now_ns);
		}
		return 0;
	}
	if (type != XCB_PROPERTY_NOTIFY)
		return 0;
	if (pn->window == w->root) {
		if (pn->atom == w->atoms[ATOM_NET_SUPPORTING_WM_CHECK])
			return redetect(w, now_ns);
		if (pn->atom == w->atoms[ATOM_NET_ACTIVE_WINDOW])
			return w->has_wm ? follow_active(w, now_ns) : redetect(w, now_ns);
		return 0;
	}
	if (pn->window == w->ctx.window && pn->window == w->watched &&
	    (pn->atom == w->atoms[ATOM_NET_WM_NAME] || pn->atom == XCB_ATOM_WM_NAME) &&
	    !testbreak("window-title-change-ignored"))
		return set_focus(w, pn->window, now_ns, 0, 0);
	return 0;
}

int window_recheck(struct window *w, int64_t now_ns)
{
	if (w->has_wm)
		return 0;
	return set_focus(w, focused_without_wm(w), now_ns, 0, 0);
}

int window_tick(struct window *w, int64_t now_ns, int *next_ms)
{
	int64_t left;

	*next_ms = -1;
	if (!w->pending)
		return 0;
	left = w->pending_since + GRACE_NS - now_ns;
	if (left > 0) {
		*next_ms = (int)(left / 1000000) + 1;
		return 0;
	}
	w->pending = 0;
	/* Ask again rather than trust old notifications; a hidden window is no focus. */
	if (w->has_wm)
		return set_focus(w, active_window(w), now_ns, 0, 1);
	return set_focus(w, focused_without_wm(w), now_ns, 0, 1);
}

const struct context *window_context(const struct window *w)
{
	return &w->ctx;
}

/* window_client_of below w, depth levels more at most; *budget: windows left to ask. */
static xcb_window_t client_below(xcb_connection_t *conn, xcb_window_t w, xcb_atom_t wm_state,
                                 int depth, int *budget)
{
	xcb_get_property_cookie_t cp;
	xcb_query_tree_cookie_t ct = { 0 };
	xcb_get_property_reply_t *p;
	xcb_query_tree_reply_t *t;
	xcb_window_t *kids;
	xcb_window_t found = XCB_WINDOW_NONE;
	int has;

	if (*budget <= 0)
		return XCB_WINDOW_NONE;
	(*budget)--;
	/* Both questions in one round trip; the tree is not needed when w is the client. */
	cp = xcb_get_property(conn, 0, w, wm_state, XCB_GET_PROPERTY_TYPE_ANY, 0, 0);
	if (depth > 0)
		ct = xcb_query_tree(conn, w);
	p = xcb_get_property_reply(conn, cp, NULL);
	has = p != NULL && p->type != XCB_ATOM_NONE;
	free(p);
	if (depth == 0)
		return has ? w : XCB_WINDOW_NONE;
	if (has) {
		xcb_discard_reply(conn, ct.sequence);
		return w;
	}
	t = xcb_query_tree_reply(conn, ct, NULL);
	if (t == NULL)
		return XCB_WINDOW_NONE;
	kids = xcb_query_tree_children(t);
	/* Topmost first: the client is usually the last child of its frame. */
	for (int i = xcb_query_tree_children_length(t) - 1; i >= 0 && found == XCB_WINDOW_NONE;
	     i--)
		found = client_below(conn, kids[i], wm_state, depth - 1, budget);
	free(t);
	return found;
}

xcb_window_t window_client_of(xcb_connection_t *conn, xcb_window_t top, xcb_atom_t wm_state)
{
	int budget = CLIENT_SEARCH_MAX;
	xcb_window_t client;

	if (top == XCB_WINDOW_NONE)
		return top;
	client = wm_state == XCB_ATOM_NONE ? XCB_WINDOW_NONE :
	         client_below(conn, top, wm_state, CLIENT_SEARCH_DEPTH, &budget);
	if (client == XCB_WINDOW_NONE) {
		/* No window manager manages anything here: the client names itself. */
		budget = CLIENT_SEARCH_MAX;
		client = client_below(conn, top, XCB_ATOM_WM_CLASS, CLIENT_SEARCH_DEPTH, &budget);
	}
	return client != XCB_WINDOW_NONE ? client : top;
}
