/*
 * Tests of window against a private X server: what a recording says about the
 * focused window (its class, title, pid, program and place on the screen) and
 * when it says that something changed. The window manager's side is played by
 * the test itself (a check window, _NET_ACTIVE_WINDOW on root) where exact
 * control matters, and by a real openbox with a real xterm where what matters is
 * that mimic agrees with them. Events reach window only after a round trip on
 * both connections, so no case waits on a clock; the grace periods are driven
 * by the now_ns that the test passes in.
 *
 * Every case needs Xvfb; the openbox and xterm cases need those too. A missing
 * tool is a skip through testenv, which makes it a failure in CI.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xcb/xcb.h>

#include "log.h"
#include "util.h"
#include "window.h"

#define MS_NS 1000000LL
/* Far beyond any grace period window.h speaks of ("a moment"). */
#define LATER_NS (2000 * MS_NS)
/* The bound of every wait on a real client (openbox, xterm) to do something. */
#define WAIT_MS 20000

static struct testenv_x X;   /* the private X server; X.why says why there is none */

/* One case: the recorder's connection, an "applications" connection, window. */
struct fx {
	xcb_connection_t *conn;   /* the one window_open gets, as capture's */
	xcb_connection_t *app;    /* creates windows and sets their properties */
	xcb_window_t root;
	struct window *w;
	char trigger[64];         /* a file that tells an xterm to rename itself */
};

/* ---- the X server ---------------------------------------------------------- */

/* Starts Xvfb on a display it picks; X.why says why when it cannot. */
static int group_setup(void **state)
{
	(void)state;
	testenv_xvfb_start(&X, "1280x800x24");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	testenv_xvfb_stop(&X);
	return 0;
}

/* ---- applications ---------------------------------------------------------- */

static xcb_atom_t atom(xcb_connection_t *c, const char *name)
{
	xcb_intern_atom_reply_t *r;
	xcb_atom_t a;

	r = xcb_intern_atom_reply(c, xcb_intern_atom(c, 0, (uint16_t)strlen(name), name), NULL);
	assert_non_null(r);
	a = r->atom;
	free(r);
	return a;
}

/* A round trip: every request sent before it has been carried out. */
static void sync_conn(xcb_connection_t *c)
{
	free(xcb_get_input_focus_reply(c, xcb_get_input_focus(c), NULL));
}

static void set_prop(struct fx *f, xcb_window_t win, xcb_atom_t prop, xcb_atom_t type, int format,
                     const void *data, size_t n)
{
	xcb_change_property(f->app, XCB_PROP_MODE_REPLACE, win, prop, type, (uint8_t)format,
	                    (uint32_t)n, data);
}

static void set_text(struct fx *f, xcb_window_t win, const char *prop, const char *type,
                     const char *text, size_t n)
{
	set_prop(f, win, atom(f->app, prop), atom(f->app, type), 8, text, n);
}

static void del_prop(struct fx *f, xcb_window_t win, const char *prop)
{
	xcb_delete_property(f->app, win, atom(f->app, prop));
}

/* An unmapped window of the application at x,y (relative to parent). */
static xcb_window_t make_window(struct fx *f, xcb_window_t parent, int x, int y, int w, int h,
                                int border)
{
	xcb_window_t win = xcb_generate_id(f->app);

	xcb_create_window(f->app, XCB_COPY_FROM_PARENT, win, parent, (int16_t)x, (int16_t)y,
	                  (uint16_t)w, (uint16_t)h, (uint16_t)border, XCB_WINDOW_CLASS_INPUT_OUTPUT,
	                  XCB_COPY_FROM_PARENT, 0, NULL);
	return win;
}

/* A mapped top-level window with WM_CLASS "instance\0class\0" (no window manager maps it). */
static xcb_window_t app_window(struct fx *f, int x, int y, int w, int h, const char *instance,
                               const char *class)
{
	xcb_window_t win = make_window(f, f->root, x, y, w, h, 0);
	char buf[256];
	int n = snprintf(buf, sizeof buf, "%s%c%s", instance, '\0', class);

	set_prop(f, win, XCB_ATOM_WM_CLASS, XCB_ATOM_STRING, 8, buf, (size_t)n + 1);
	xcb_map_window(f->app, win);
	return win;
}

static void focus(struct fx *f, xcb_window_t win)
{
	xcb_set_input_focus(f->app, XCB_INPUT_FOCUS_POINTER_ROOT, win, XCB_CURRENT_TIME);
}

static void pointer_to(struct fx *f, int x, int y)
{
	xcb_warp_pointer(f->app, XCB_NONE, f->root, 0, 0, 0, 0, (int16_t)x, (int16_t)y);
}

/* What a window manager announces: a check window that names itself, named on root. */
static xcb_window_t fake_wm(struct fx *f)
{
	xcb_window_t check = make_window(f, f->root, -10, -10, 1, 1, 0);
	xcb_atom_t prop = atom(f->app, "_NET_SUPPORTING_WM_CHECK");

	set_prop(f, check, prop, XCB_ATOM_WINDOW, 32, &check, 1);
	set_prop(f, f->root, prop, XCB_ATOM_WINDOW, 32, &check, 1);
	return check;
}

static void set_active(struct fx *f, xcb_window_t win)
{
	set_prop(f, f->root, atom(f->app, "_NET_ACTIVE_WINDOW"), XCB_ATOM_WINDOW, 32, &win, 1);
}

/* The window the window manager names in _NET_ACTIVE_WINDOW, as the server holds it now. */
static xcb_window_t active_on_server(struct fx *f)
{
	xcb_get_property_reply_t *r = xcb_get_property_reply(
	    f->app, xcb_get_property(f->app, 0, f->root, atom(f->app, "_NET_ACTIVE_WINDOW"),
	                             XCB_ATOM_WINDOW, 0, 1), NULL);
	xcb_window_t win = XCB_WINDOW_NONE;

	if (r != NULL && r->format == 32 && xcb_get_property_value_length(r) >= 4)
		memcpy(&win, xcb_get_property_value(r), sizeof win);
	free(r);
	return win;
}

/* 1 when the text property prop of win holds exactly text on the server. */
static int prop_is(struct fx *f, xcb_window_t win, const char *prop, const char *text)
{
	xcb_get_property_reply_t *r = xcb_get_property_reply(
	    f->app, xcb_get_property(f->app, 0, win, atom(f->app, prop), XCB_GET_PROPERTY_TYPE_ANY,
	                             0, 256), NULL);
	size_t n = strlen(text);
	int same = r != NULL && r->format == 8 && (size_t)xcb_get_property_value_length(r) == n &&
	           memcmp(xcb_get_property_value(r), text, n) == 0;

	free(r);
	return same;
}

/* Asks the window manager to activate win, as a pager does (EWMH source 2). */
static void activate(struct fx *f, xcb_window_t win)
{
	xcb_client_message_event_t ev;

	memset(&ev, 0, sizeof ev);
	ev.response_type = XCB_CLIENT_MESSAGE;
	ev.format = 32;
	ev.window = win;
	ev.type = atom(f->app, "_NET_ACTIVE_WINDOW");
	ev.data.data32[0] = 2;
	xcb_send_event(f->app, 0, f->root,
	               XCB_EVENT_MASK_SUBSTRUCTURE_REDIRECT | XCB_EVENT_MASK_SUBSTRUCTURE_NOTIFY,
	               (const char *)&ev);
	sync_conn(f->app);
}

/* ---- window's side --------------------------------------------------------- */

static int64_t now(void)
{
	return util_now_mono_ns();
}

/* Hands window every event waiting on its connection; returns the WINDOW_CHANGED_* bits. */
static int drain(struct fx *f, int64_t t)
{
	xcb_generic_event_t *ev;
	int changed = 0;

	while ((ev = xcb_poll_for_event(f->conn)) != NULL) {
		changed |= window_handle_event(f->w, ev, t);
		free(ev);
	}
	assert_int_equal(xcb_connection_has_error(f->conn), 0);
	return changed;
}

/*
 * Makes what the application did so far reach window: a round trip on the
 * application's connection (its requests are done and their events sent), then
 * one on window's (those events arrive before that reply). Returns the bits.
 */
static int feed(struct fx *f, int64_t t)
{
	sync_conn(f->app);
	sync_conn(f->conn);
	return drain(f, t);
}

static const struct context *ctx(struct fx *f)
{
	return window_context(f->w);
}

static void open_window(struct fx *f, int64_t t)
{
	char *cause = NULL;
	int rc;

	sync_conn(f->app);
	rc = window_open(f->conn, f->root, t, &f->w, &cause);
	if (rc != 0)
		fail_msg("window_open: %d %s", rc, cause != NULL ? cause : "");
	assert_non_null(f->w);
	assert_null(cause);
}

/* Runs window as the capture loop does until done() or WAIT_MS; done() may ask again. */
static bool wait_until(struct fx *f, bool (*done)(struct fx *))
{
	int64_t deadline = now() + WAIT_MS * MS_NS;

	for (;;) {
		xcb_generic_event_t *ev;
		struct pollfd p[2] = {
			{ xcb_get_file_descriptor(f->conn), POLLIN, 0 },
			{ xcb_get_file_descriptor(f->app), POLLIN, 0 },
		};
		int next;

		drain(f, now());
		window_tick(f->w, now(), &next);
		while ((ev = xcb_poll_for_event(f->app)) != NULL)
			free(ev);
		if (done(f))
			return true;
		if (now() > deadline)
			return false;
		poll(p, 2, next < 0 || next > 50 ? 50 : next);
	}
}

/* ---- fixtures ------------------------------------------------------------- */

static void clear_root(struct fx *f)
{
	del_prop(f, f->root, "_NET_SUPPORTING_WM_CHECK");
	del_prop(f, f->root, "_NET_ACTIVE_WINDOW");
	focus(f, XCB_INPUT_FOCUS_POINTER_ROOT);
	pointer_to(f, 1270, 790);   /* over the bare root: no window there */
	sync_conn(f->app);
}

static int setup(void **state)
{
	struct fx *f;

	*state = NULL;
	if (X.pid <= 0)
		return 0;
	f = util_xcalloc(1, sizeof *f);
	f->conn = xcb_connect(X.display, NULL);
	f->app = xcb_connect(X.display, NULL);
	if (xcb_connection_has_error(f->conn) || xcb_connection_has_error(f->app))
		return -1;
	f->root = xcb_setup_roots_iterator(xcb_get_setup(f->conn)).data->root;
	clear_root(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (f == NULL)
		return 0;
	window_close(f->w);
	testenv_stop_all();
	if (f->trigger[0] != '\0')
		unlink(f->trigger);
	clear_root(f);
	xcb_disconnect(f->conn);
	xcb_disconnect(f->app);
	free(f);
	return 0;
}

static struct fx *need_x(void **state)
{
	testenv_need_x(&X);
	assert_non_null(*state);
	return *state;
}

/* Starts a client; the teardown stops it should the case not. */
static pid_t spawn(char *const argv[])
{
	pid_t pid = testenv_spawn(argv);

	assert_true(pid >= 0);
	return pid;
}

/* ---- opening ------------------------------------------------------------- */

/* A connection the server has dropped is "the X server does not answer". */
static void test_open_server_gone(void **state)
{
	struct fx *f = need_x(state);
	xcb_connection_t *dead = xcb_connect(X.display, NULL);
	xcb_window_t victim;
	struct window *w = (struct window *)1;
	char *cause = NULL;

	assert_int_equal(xcb_connection_has_error(dead), 0);
	/* KillClient needs a resource of the client to kill. */
	victim = xcb_generate_id(dead);
	xcb_create_window(dead, XCB_COPY_FROM_PARENT, victim, f->root, 0, 0, 1, 1, 0,
	                  XCB_WINDOW_CLASS_INPUT_ONLY, XCB_COPY_FROM_PARENT, 0, NULL);
	sync_conn(dead);
	xcb_kill_client(f->app, victim);
	sync_conn(f->app);

	assert_int_equal(window_open(dead, f->root, now(), &w, &cause), -EIO);
	assert_null(w);
	assert_non_null(cause);
	assert_string_equal(cause, "the X server did not answer InternAtom");
	free(cause);
	xcb_disconnect(dead);
	window_close(NULL);
}

/* Nothing focused: the first snapshot is number 1, no window, taken at now_ns. */
static void test_first_snapshot_nothing_focused(void **state)
{
	struct fx *f = need_x(state);
	int64_t t = now();
	int next = 0;

	open_window(f, t);
	assert_int_equal(window_has_wm(f->w), 0);
	assert_int_equal(ctx(f)->seq, 1);
	assert_true(ctx(f)->t_ns == t);
	assert_int_equal(ctx(f)->window, 0);
	assert_int_equal(ctx(f)->pid, 0);
	assert_string_equal(ctx(f)->title, "");
	assert_string_equal(ctx(f)->wm_class, "");
	assert_string_equal(ctx(f)->exe, "");
	/* Nothing is pending, and asking again finds nothing new. */
	assert_int_equal(window_tick(f->w, t, &next), 0);
	assert_int_equal(next, -1);
	assert_int_equal(window_recheck(f->w, t + MS_NS), 0);
	assert_int_equal(ctx(f)->seq, 1);
}

/* Everything a context holds, read from the focused window's properties. */
static void test_describes_focused_window(void **state)
{
	struct fx *f = need_x(state);
	uint32_t pid = (uint32_t)getpid();
	char host[256], self[512];
	ssize_t len;
	xcb_window_t win;

	win = app_window(f, 500, 400, 200, 100, "mimic-inst", "MimicClass");
	set_text(f, win, "_NET_WM_NAME", "UTF8_STRING", "Grüße", strlen("Grüße"));
	set_text(f, win, "WM_NAME", "STRING", "old name", 8);
	set_prop(f, win, atom(f->app, "_NET_WM_PID"), XCB_ATOM_CARDINAL, 32, &pid, 1);
	assert_int_equal(gethostname(host, sizeof host), 0);
	set_text(f, win, "WM_CLIENT_MACHINE", "STRING", host, strlen(host));
	focus(f, win);
	open_window(f, now());

	assert_int_equal(ctx(f)->seq, 1);
	assert_int_equal(ctx(f)->window, win);
	assert_string_equal(ctx(f)->wm_instance, "mimic-inst");
	assert_string_equal(ctx(f)->wm_class, "MimicClass");
	/* _NET_WM_NAME (UTF-8) is the title while it is there, not WM_NAME. */
	assert_string_equal(ctx(f)->title, "Grüße");
	assert_int_equal(ctx(f)->pid, getpid());
	len = readlink("/proc/self/exe", self, sizeof self - 1);
	assert_true(len > 0);
	self[len] = '\0';
	assert_string_equal(ctx(f)->exe, self);
	assert_int_equal(ctx(f)->x, 500);
	assert_int_equal(ctx(f)->y, 400);
	assert_int_equal(ctx(f)->w, 200);
	assert_int_equal(ctx(f)->h, 100);
}

/* A pid is trusted only for a window of this machine; another's names some other process. */
static void test_pid_only_for_local_windows(void **state)
{
	static const struct {
		const char *machine;   /* NULL: no WM_CLIENT_MACHINE */
		int local;
	} cases[] = {
		{ NULL, 1 },
		{ "", 1 },   /* replaced by the host name below */
		{ ".mimic-test.invalid", 1 },   /* appended to the host name */
		{ "elsewhere.invalid", 0 },
	};
	struct fx *f = need_x(state);
	uint32_t pid = (uint32_t)getpid();
	char host[256];

	assert_int_equal(gethostname(host, sizeof host), 0);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		xcb_window_t win = app_window(f, 10, 10, 50, 50, "inst", "Class");
		char machine[512];

		set_prop(f, win, atom(f->app, "_NET_WM_PID"), XCB_ATOM_CARDINAL, 32, &pid, 1);
		if (cases[i].machine != NULL) {
			snprintf(machine, sizeof machine, "%s%s", cases[i].local ? host : "",
			         cases[i].machine);
			set_text(f, win, "WM_CLIENT_MACHINE", "STRING", machine, strlen(machine));
		}
		focus(f, win);
		open_window(f, now());
		assert_int_equal(ctx(f)->window, win);
		if (cases[i].local) {
			assert_int_equal(ctx(f)->pid, getpid());
			assert_true(ctx(f)->exe[0] == '/');
		} else {
			assert_int_equal(ctx(f)->pid, 0);
			assert_string_equal(ctx(f)->exe, "");
		}
		window_close(f->w);
		f->w = NULL;
		xcb_destroy_window(f->app, win);
	}
}

/* ---- titles --------------------------------------------------------------- */

/* Sets a property of win and expects a title change to `want` (a new snapshot). */
static void expect_title(struct fx *f, const char *want)
{
	int32_t seq = ctx(f)->seq;
	uint32_t win = ctx(f)->window;

	assert_int_equal(feed(f, now()), WINDOW_CHANGED_TITLE);
	assert_string_equal(ctx(f)->title, want);
	assert_int_equal(ctx(f)->seq, seq + 1);
	assert_int_equal(ctx(f)->window, win);
}

/* Where the title comes from: _NET_WM_NAME first, else WM_NAME in its encoding. */
static void test_title_sources(void **state)
{
	struct fx *f = need_x(state);
	static const char compound[] = "caf\xe9 \x1b$)C\xb0\xa1\x1b-A\xe9";
	char longer[1 + 400 * 2 + 1], want[512];
	xcb_window_t win;
	size_t o;

	win = app_window(f, 20, 20, 100, 100, "inst", "Class");
	set_text(f, win, "_NET_WM_NAME", "UTF8_STRING", "net name", 8);
	set_text(f, win, "WM_NAME", "STRING", "plain name", 10);
	focus(f, win);
	open_window(f, now());
	assert_string_equal(ctx(f)->title, "net name");

	/* Without _NET_WM_NAME: WM_NAME, converted from Latin-1. */
	del_prop(f, win, "_NET_WM_NAME");
	expect_title(f, "plain name");
	set_text(f, win, "WM_NAME", "STRING", "caf\xe9", 4);
	expect_title(f, "café");
	set_text(f, win, "WM_NAME", "UTF8_STRING", "naïve", strlen("naïve"));
	expect_title(f, "naïve");
	/* COMPOUND_TEXT: Latin-1 until an escape selects another set, whose bytes are '?'. */
	set_text(f, win, "WM_NAME", "COMPOUND_TEXT", compound, strlen(compound));
	expect_title(f, "café ??é");

	/* Back to _NET_WM_NAME, with an invalid byte and a tab in it. */
	set_text(f, win, "_NET_WM_NAME", "UTF8_STRING", "a\xff" "b\tc", 5);
	expect_title(f, "a\xef\xbf\xbd" "b c");

	/* A long title is cut at a character boundary. */
	longer[0] = 'a';
	for (o = 1; o < sizeof longer - 1; o += 2)
		memcpy(longer + o, "é", 2);
	set_text(f, win, "_NET_WM_NAME", "UTF8_STRING", longer, sizeof longer - 1);
	memcpy(want, longer, 511);
	want[511] = '\0';   /* "a" and 255 times "é": the most that fits in 511 bytes */
	expect_title(f, want);

	/* No title at all. */
	del_prop(f, win, "_NET_WM_NAME");
	del_prop(f, win, "WM_NAME");
	expect_title(f, "");
}

/* A title change is a new snapshot of the same window; a non-change is none. */
static void test_title_change(void **state)
{
	struct fx *f = need_x(state);
	xcb_window_t win, other;
	int next;

	win = app_window(f, 20, 20, 100, 100, "inst", "Class");
	other = app_window(f, 300, 20, 100, 100, "inst", "Other");
	set_text(f, win, "WM_NAME", "STRING", "draft", 5);
	set_text(f, other, "WM_NAME", "STRING", "other", 5);
	focus(f, win);
	open_window(f, now());
	assert_int_equal(ctx(f)->seq, 1);
	assert_string_equal(ctx(f)->title, "draft");

	/* The application renames its window (WM_NAME, as xterm does). */
	set_text(f, win, "WM_NAME", "STRING", "Inbox (3)", 9);
	expect_title(f, "Inbox (3)");
	assert_int_equal(ctx(f)->seq, 2);
	/* And with _NET_WM_NAME, as GTK and Qt do. */
	set_text(f, win, "_NET_WM_NAME", "UTF8_STRING", "Inbox (4)", 9);
	expect_title(f, "Inbox (4)");
	assert_int_equal(ctx(f)->seq, 3);

	/* The same title written again, or a title of a window without focus: nothing. */
	set_text(f, win, "_NET_WM_NAME", "UTF8_STRING", "Inbox (4)", 9);
	assert_int_equal(feed(f, now()), 0);
	set_text(f, other, "WM_NAME", "STRING", "other renamed", 13);
	assert_int_equal(feed(f, now()), 0);
	assert_int_equal(ctx(f)->seq, 3);
	assert_string_equal(ctx(f)->title, "Inbox (4)");
	assert_int_equal(window_tick(f->w, now(), &next), 0);
	assert_int_equal(next, -1);
}

/* ---- without a window manager ---------------------------------------------- */

/*
 * Without a window manager: the focus window, or the top-level window under the
 * pointer when focus follows the pointer; inside a frame, the client with
 * WM_CLASS. Looked at again only when asked (window_recheck).
 */
static void test_no_wm_focus_and_pointer(void **state)
{
	struct fx *f = need_x(state);
	xcb_window_t frame, client, plain;
	int32_t seq;

	/* A frame as a reparenting window manager would draw it, with its client inside. */
	frame = make_window(f, f->root, 100, 50, 320, 240, 0);
	client = make_window(f, frame, 4, 20, 300, 200, 0);
	set_prop(f, client, XCB_ATOM_WM_CLASS, XCB_ATOM_STRING, 8, "client\0Client", 14);
	set_text(f, client, "WM_NAME", "STRING", "in a frame", 10);
	xcb_map_window(f->app, client);
	xcb_map_window(f->app, frame);
	plain = app_window(f, 600, 300, 100, 100, "plain", "Plain");
	set_text(f, plain, "WM_NAME", "STRING", "plain", 5);
	open_window(f, now());
	assert_int_equal(window_has_wm(f->w), 0);
	assert_int_equal(ctx(f)->window, 0);

	/* Focus follows the pointer: the window under it, found in its frame. */
	pointer_to(f, 150, 150);
	sync_conn(f->app);
	assert_int_equal(window_recheck(f->w, now()), WINDOW_CHANGED_FOCUS);
	assert_int_equal(ctx(f)->seq, 2);
	assert_int_equal(ctx(f)->window, client);
	assert_string_equal(ctx(f)->wm_class, "Client");
	assert_string_equal(ctx(f)->title, "in a frame");
	assert_int_equal(ctx(f)->x, 104);
	assert_int_equal(ctx(f)->y, 70);
	assert_int_equal(ctx(f)->w, 300);
	assert_int_equal(ctx(f)->h, 200);
	/* Asking again with nothing changed gives nothing. */
	assert_int_equal(window_recheck(f->w, now()), 0);
	assert_int_equal(ctx(f)->seq, 2);

	pointer_to(f, 650, 350);
	sync_conn(f->app);
	assert_int_equal(window_recheck(f->w, now()), WINDOW_CHANGED_FOCUS);
	assert_int_equal(ctx(f)->window, plain);
	assert_int_equal(ctx(f)->seq, 3);

	pointer_to(f, 1000, 700);
	sync_conn(f->app);
	assert_int_equal(window_recheck(f->w, now()), WINDOW_CHANGED_FOCUS);
	assert_int_equal(ctx(f)->window, 0);
	assert_string_equal(ctx(f)->title, "");

	/* An explicit focus wins over the pointer; a focused frame means its client. */
	pointer_to(f, 650, 350);
	focus(f, frame);
	sync_conn(f->app);
	assert_int_equal(window_recheck(f->w, now()), WINDOW_CHANGED_FOCUS);
	assert_int_equal(ctx(f)->window, client);
	seq = ctx(f)->seq;

	/* Events alone do not move the focus without a window manager: window_recheck does. */
	focus(f, plain);
	assert_int_equal(feed(f, now()), 0);
	assert_int_equal(ctx(f)->window, client);
	assert_int_equal(window_recheck(f->w, now()), WINDOW_CHANGED_FOCUS);
	assert_int_equal(ctx(f)->window, plain);
	assert_int_equal(ctx(f)->seq, seq + 1);
}

/* ---- with a window manager ------------------------------------------------- */

/* _NET_ACTIVE_WINDOW is followed by events; window_recheck does nothing. */
static void test_ewmh_follows_active_window(void **state)
{
	struct fx *f = need_x(state);
	xcb_window_t a, b;

	a = app_window(f, 10, 10, 100, 100, "a", "A");
	b = app_window(f, 200, 10, 100, 100, "b", "B");
	set_text(f, a, "WM_NAME", "STRING", "window a", 8);
	set_text(f, b, "WM_NAME", "STRING", "window b", 8);
	fake_wm(f);
	set_active(f, a);
	/* The input focus and the pointer say b: with a window manager they do not count. */
	focus(f, b);
	pointer_to(f, 250, 50);
	open_window(f, now());
	assert_int_equal(window_has_wm(f->w), 1);
	assert_int_equal(ctx(f)->seq, 1);
	assert_int_equal(ctx(f)->window, a);
	assert_string_equal(ctx(f)->title, "window a");
	assert_int_equal(window_recheck(f->w, now()), 0);
	assert_int_equal(ctx(f)->window, a);

	set_active(f, b);
	assert_int_equal(feed(f, now()), WINDOW_CHANGED_FOCUS);
	assert_int_equal(ctx(f)->seq, 2);
	assert_int_equal(ctx(f)->window, b);
	assert_string_equal(ctx(f)->title, "window b");
	assert_string_equal(ctx(f)->wm_class, "B");

	/* The title of the active window is followed; the other's is not. */
	set_text(f, b, "WM_NAME", "STRING", "b renamed", 9);
	expect_title(f, "b renamed");
	set_text(f, a, "WM_NAME", "STRING", "a renamed", 9);
	assert_int_equal(feed(f, now()), 0);
	assert_int_equal(ctx(f)->seq, 3);
}

/*
 * Window managers clear _NET_ACTIVE_WINDOW during every switch: a 0 is held back
 * and only becomes "no window" when it lasts; a switch through 0 has no "no
 * window" snapshot in between.
 */
static void test_ewmh_zero_held_back(void **state)
{
	struct fx *f = need_x(state);
	xcb_window_t a, b;
	int64_t t = now();
	int next = 0;

	a = app_window(f, 10, 10, 100, 100, "a", "A");
	b = app_window(f, 200, 10, 100, 100, "b", "B");
	fake_wm(f);
	set_active(f, a);
	open_window(f, t);
	assert_int_equal(ctx(f)->window, a);

	/* A switch from a to b through 0. */
	set_active(f, XCB_WINDOW_NONE);
	assert_int_equal(feed(f, t), 0);
	assert_int_equal(ctx(f)->window, a);
	assert_int_equal(window_tick(f->w, t, &next), 0);
	assert_true(next > 0 && next <= 1000);
	set_active(f, b);
	assert_int_equal(feed(f, t + MS_NS), WINDOW_CHANGED_FOCUS);
	assert_int_equal(ctx(f)->window, b);
	assert_int_equal(ctx(f)->seq, 2);
	/* Nothing is pending any more: no "no window" comes later either. */
	assert_int_equal(window_tick(f->w, t + LATER_NS, &next), 0);
	assert_int_equal(next, -1);
	assert_int_equal(ctx(f)->seq, 2);

	/* A 0 that lasts is no window, once the moment is over. */
	t = now();
	set_active(f, XCB_WINDOW_NONE);
	assert_int_equal(feed(f, t), 0);
	assert_int_equal(window_tick(f->w, t, &next), 0);
	assert_true(next > 0);
	assert_int_equal(ctx(f)->window, b);
	assert_int_equal(window_tick(f->w, t + LATER_NS, &next), WINDOW_CHANGED_FOCUS);
	assert_int_equal(next, -1);
	assert_int_equal(ctx(f)->window, 0);
	assert_int_equal(ctx(f)->seq, 3);
	assert_true(ctx(f)->t_ns == t + LATER_NS);
}

/*
 * The focused window unmapped or destroyed is no window after the moment, even
 * when _NET_ACTIVE_WINDOW still names it (openbox after the last window closed).
 */
static void test_focused_window_goes_away(void **state)
{
	struct fx *f = need_x(state);
	xcb_window_t a, b, c;
	int64_t t = now();
	int next = 0;

	a = app_window(f, 10, 10, 100, 100, "a", "A");
	b = app_window(f, 200, 10, 100, 100, "b", "B");
	c = app_window(f, 400, 10, 100, 100, "c", "C");
	fake_wm(f);
	set_active(f, a);
	open_window(f, t);
	assert_int_equal(ctx(f)->window, a);

	/* Another window going away is no news. */
	xcb_unmap_window(f->app, c);
	assert_int_equal(feed(f, t), 0);
	assert_int_equal(window_tick(f->w, t, &next), 0);
	assert_int_equal(next, -1);

	xcb_unmap_window(f->app, a);
	assert_int_equal(feed(f, t), 0);
	assert_int_equal(ctx(f)->window, a);
	assert_int_equal(window_tick(f->w, t, &next), 0);
	assert_true(next > 0);
	assert_int_equal(window_tick(f->w, t + LATER_NS, &next), WINDOW_CHANGED_FOCUS);
	assert_int_equal(ctx(f)->window, 0);
	assert_int_equal(ctx(f)->seq, 2);

	t = now();
	set_active(f, b);
	assert_int_equal(feed(f, t), WINDOW_CHANGED_FOCUS);
	assert_int_equal(ctx(f)->window, b);
	xcb_destroy_window(f->app, b);
	assert_int_equal(feed(f, t), 0);
	assert_int_equal(ctx(f)->window, b);
	assert_int_equal(window_tick(f->w, t + LATER_NS, &next), WINDOW_CHANGED_FOCUS);
	assert_int_equal(ctx(f)->window, 0);
	assert_int_equal(ctx(f)->seq, 4);
}

/*
 * The window manager is found when it announces itself, a stale announcement is
 * not believed, and a window manager killed without cleaning up is noticed.
 */
static void test_wm_comes_and_goes(void **state)
{
	struct fx *f = need_x(state);
	xcb_atom_t check_prop;
	xcb_window_t a, b, check;

	a = app_window(f, 10, 10, 100, 100, "a", "A");
	b = app_window(f, 200, 10, 100, 100, "b", "B");
	focus(f, b);
	open_window(f, now());
	assert_int_equal(window_has_wm(f->w), 0);
	assert_int_equal(ctx(f)->window, b);

	/* Root names a check window that does not name itself: stale, no window manager. */
	check_prop = atom(f->app, "_NET_SUPPORTING_WM_CHECK");
	check = make_window(f, f->root, -10, -10, 1, 1, 0);
	set_active(f, a);
	set_prop(f, f->root, check_prop, XCB_ATOM_WINDOW, 32, &check, 1);
	assert_int_equal(feed(f, now()), 0);
	assert_int_equal(window_has_wm(f->w), 0);
	assert_int_equal(ctx(f)->window, b);

	/* It names itself, and root announces it again: followed, with its active window. */
	set_prop(f, check, check_prop, XCB_ATOM_WINDOW, 32, &check, 1);
	set_prop(f, f->root, check_prop, XCB_ATOM_WINDOW, 32, &check, 1);
	assert_int_equal(feed(f, now()), WINDOW_CHANGED_FOCUS);
	assert_int_equal(window_has_wm(f->w), 1);
	assert_int_equal(ctx(f)->window, a);

	/* Killed: its check window is gone, the property on root is left behind. */
	xcb_destroy_window(f->app, check);
	assert_int_equal(feed(f, now()), WINDOW_CHANGED_FOCUS);
	assert_int_equal(window_has_wm(f->w), 0);
	assert_int_equal(ctx(f)->window, b);
}

/* window_close frees window's state; the connection stays open and usable. */
static void test_close_keeps_connection(void **state)
{
	struct fx *f = need_x(state);
	xcb_generic_event_t *ev;
	xcb_window_t win;
	int from_win = 0;

	win = app_window(f, 10, 10, 100, 100, "a", "A");
	focus(f, win);
	open_window(f, now());
	assert_int_equal(ctx(f)->window, win);
	window_close(f->w);
	f->w = NULL;
	/* The connection answers (and has sent what window_close asked for). */
	sync_conn(f->conn);
	assert_int_equal(xcb_connection_has_error(f->conn), 0);

	/* No more title events of the window it followed arrive on the connection. */
	set_text(f, win, "WM_NAME", "STRING", "after close", 11);
	sync_conn(f->app);
	sync_conn(f->conn);
	while ((ev = xcb_poll_for_event(f->conn)) != NULL) {
		const xcb_property_notify_event_t *pn = (const void *)ev;

		if ((ev->response_type & 0x7f) == XCB_PROPERTY_NOTIFY && pn->window == win)
			from_win++;
		free(ev);
	}
	assert_int_equal(from_win, 0);
	/* And window can start again on it. */
	open_window(f, now());
	assert_string_equal(ctx(f)->title, "after close");
}

/* ---- real clients ---------------------------------------------------------- */

static bool have_wm(struct fx *f)
{
	return window_has_wm(f->w) == 1;
}

static bool no_wm(struct fx *f)
{
	return window_has_wm(f->w) == 0;
}

static const char *want_title;

static bool has_title(struct fx *f)
{
	return strcmp(ctx(f)->title, want_title) == 0;
}

static bool no_window(struct fx *f)
{
	return ctx(f)->window == 0;
}

/* Without a window manager the caller asks again: as capture does on a click. */
static bool xterm_under_pointer(struct fx *f)
{
	window_recheck(f->w, now());
	return strcmp(ctx(f)->wm_class, "XTerm") == 0;
}

/* Where win's content is on the screen and how big, as the X server says. */
static void server_geometry(struct fx *f, xcb_window_t win, int *x, int *y, int *w, int *h)
{
	xcb_get_geometry_reply_t *g;
	xcb_translate_coordinates_reply_t *t;

	g = xcb_get_geometry_reply(f->app, xcb_get_geometry(f->app, win), NULL);
	t = xcb_translate_coordinates_reply(f->app,
	                                    xcb_translate_coordinates(f->app, win, f->root, 0, 0),
	                                    NULL);
	assert_non_null(g);
	assert_non_null(t);
	*x = t->dst_x;
	*y = t->dst_y;
	*w = g->width;
	*h = g->height;
	free(g);
	free(t);
}

static void assert_exe_is_xterm(const char *exe)
{
	size_t n = strlen(exe);

	if (n < 6 || strcmp(exe + n - 6, "/xterm") != 0)
		fail_msg("exe is \"%s\", not an xterm", exe);
}

/* An xterm without a window manager, found under the pointer. */
static void test_xterm_without_wm(void **state)
{
	struct fx *f = need_x(state);
	/* No shell: a prompt could set a title of its own. */
	char *argv[] = { "xterm", "-T", "no wm here", "-geometry", "40x10+100+100", "-e", "sleep",
	                 "600", NULL };
	xcb_get_geometry_reply_t *g;
	pid_t xterm;
	int x, y, w, h;

	testenv_need_tools("xterm");
	open_window(f, now());
	xterm = spawn(argv);
	pointer_to(f, 150, 150);
	sync_conn(f->app);
	if (!wait_until(f, xterm_under_pointer))
		fail_msg("no xterm under the pointer within %d ms", WAIT_MS);
	assert_int_equal(window_has_wm(f->w), 0);
	assert_string_equal(ctx(f)->wm_instance, "xterm");
	assert_string_equal(ctx(f)->title, "no wm here");
	assert_int_equal(ctx(f)->pid, xterm);
	assert_exe_is_xterm(ctx(f)->exe);
	/* Its content starts inside its border, where it asked to be. */
	g = xcb_get_geometry_reply(f->app, xcb_get_geometry(f->app, ctx(f)->window), NULL);
	assert_non_null(g);
	assert_int_equal(ctx(f)->x, 100 + g->border_width);
	assert_int_equal(ctx(f)->y, 100 + g->border_width);
	free(g);
	server_geometry(f, ctx(f)->window, &x, &y, &w, &h);
	assert_int_equal(ctx(f)->w, w);
	assert_int_equal(ctx(f)->h, h);
	assert_true(w > 100 && h > 50);

	pointer_to(f, 1000, 700);
	sync_conn(f->app);
	assert_int_equal(window_recheck(f->w, now()), WINDOW_CHANGED_FOCUS);
	assert_int_equal(ctx(f)->window, 0);
}

/*
 * openbox and xterm: the active xterm's class, title, pid, program and place;
 * the title it sets itself and the one it has with and without _NET_WM_NAME;
 * another xterm taking the focus and giving it back; openbox leaving.
 */
static void test_openbox_and_xterm(void **state)
{
	struct fx *f = need_x(state);
	char *ob_argv[] = { "openbox", "--sm-disable", NULL };
	char script[256];
	char *first_argv[] = { "xterm", "-T", "mimic first", "-geometry", "40x10+50+60", "-e",
	                       "sh", "-c", script, NULL };
	char *second_argv[] = { "xterm", "-T", "mimic second", "-geometry", "40x10+400+300",
	                        "-e", "sleep", "600", NULL };
	pid_t openbox, first, second;
	xcb_window_t first_win;
	int32_t seq;
	int x, y, w, h, fd;

	testenv_need_tools("openbox", "xterm");
	snprintf(f->trigger, sizeof f->trigger, "/tmp/mimic-test-window-%d", (int)getpid());
	unlink(f->trigger);
	/* The xterm renames itself (an OSC 2 sequence) once the trigger file exists. */
	snprintf(script, sizeof script,
	         "while [ ! -e %s ]; do sleep 0.05; done; printf '\\033]2;%%s\\007' "
	         "'renamed by xterm'; exec sleep 600", f->trigger);

	open_window(f, now());
	assert_int_equal(window_has_wm(f->w), 0);
	openbox = spawn(ob_argv);
	if (!wait_until(f, have_wm))
		fail_msg("openbox was not noticed within %d ms", WAIT_MS);

	first = spawn(first_argv);
	want_title = "mimic first";
	if (!wait_until(f, has_title))
		fail_msg("the first xterm did not become the context within %d ms", WAIT_MS);
	first_win = ctx(f)->window;
	assert_string_equal(ctx(f)->wm_class, "XTerm");
	assert_string_equal(ctx(f)->wm_instance, "xterm");
	assert_int_equal(ctx(f)->pid, first);
	assert_exe_is_xterm(ctx(f)->exe);
	/* The client's own place, inside openbox's frame: below its title bar. */
	server_geometry(f, first_win, &x, &y, &w, &h);
	assert_int_equal(ctx(f)->x, x);
	assert_int_equal(ctx(f)->y, y);
	assert_int_equal(ctx(f)->w, w);
	assert_int_equal(ctx(f)->h, h);
	assert_true(ctx(f)->y > 60);
	assert_true(w > 100 && h > 50);

	/* The xterm renames itself. */
	seq = ctx(f)->seq;
	fd = open(f->trigger, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	want_title = "renamed by xterm";
	if (!wait_until(f, has_title))
		fail_msg("the xterm's new title did not arrive within %d ms", WAIT_MS);
	assert_int_equal(ctx(f)->window, first_win);
	assert_int_equal(ctx(f)->seq, seq + 1);
	/*
	 * xterm sets WM_NAME and _NET_WM_NAME in two requests, which a loaded machine
	 * can let arrive far apart: once both are there, nothing of xterm's can undo
	 * the titles this test sets next (seen in CI under the sanitizers: the late
	 * _NET_WM_NAME came back as the title after the focus returned).
	 */
	for (int64_t end = now() + (int64_t)WAIT_MS * 1000000;
	     !(prop_is(f, first_win, "WM_NAME", "renamed by xterm") &&
	       prop_is(f, first_win, "_NET_WM_NAME", "renamed by xterm"));) {
		if (now() > end)
			fail_msg("xterm did not set both of its title properties within %d ms", WAIT_MS);
		poll(NULL, 0, 20);
	}
	feed(f, now());

	/* With _NET_WM_NAME that is the title; without it, WM_NAME. */
	set_text(f, first_win, "_NET_WM_NAME", "UTF8_STRING", "net für xterm",
	         strlen("net für xterm"));
	set_text(f, first_win, "WM_NAME", "STRING", "plain xterm", 11);
	want_title = "net für xterm";
	sync_conn(f->app);
	if (!wait_until(f, has_title))
		fail_msg("_NET_WM_NAME was not the title within %d ms", WAIT_MS);
	del_prop(f, first_win, "_NET_WM_NAME");
	want_title = "plain xterm";
	sync_conn(f->app);
	if (!wait_until(f, has_title))
		fail_msg("WM_NAME was not the title within %d ms", WAIT_MS);
	assert_int_equal(ctx(f)->window, first_win);

	/* A second xterm takes the focus; closing it gives it back, with no "none" between. */
	second = spawn(second_argv);
	want_title = "mimic second";
	if (!wait_until(f, has_title))
		fail_msg("the second xterm did not become the context within %d ms", WAIT_MS);
	assert_int_equal(ctx(f)->pid, second);
	seq = ctx(f)->seq;
	testenv_stop(second);
	want_title = "plain xterm";
	if (!wait_until(f, has_title)) {
		/*
		 * openbox gives the focus back when it sees the input focus fall to
		 * the root; rarely, on a loaded machine, it does not (seen once in
		 * many CI runs). Then the context must say what the window manager
		 * says, and follow it when a pager activates the window.
		 */
		xcb_window_t named = active_on_server(f);

		if (named == first_win)
			fail_msg("openbox named the first xterm active but the context is window "
			         "0x%x titled \"%s\"", (unsigned)ctx(f)->window, ctx(f)->title);
		assert_int_not_equal(ctx(f)->window, first_win);
		print_message("openbox gave the focus to no window (it names 0x%x); activating "
		              "the first xterm as a pager would\n", (unsigned)named);
		activate(f, first_win);
		if (!wait_until(f, has_title))
			fail_msg("the activated xterm was not the context within %d ms", WAIT_MS);
		assert_int_equal(ctx(f)->window, first_win);
	} else {
		assert_int_equal(ctx(f)->window, first_win);
		assert_int_equal(ctx(f)->seq, seq + 1);
	}

	/* The last window closing: no window, although openbox leaves the old id. */
	testenv_stop(first);
	if (!wait_until(f, no_window))
		fail_msg("the closed xterm was still the context after %d ms", WAIT_MS);

	testenv_stop(openbox);
	if (!wait_until(f, no_wm))
		fail_msg("openbox leaving was not noticed within %d ms", WAIT_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_server_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_snapshot_nothing_focused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_describes_focused_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pid_only_for_local_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_title_sources, setup, teardown),
		cmocka_unit_test_setup_teardown(test_title_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_wm_focus_and_pointer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ewmh_follows_active_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ewmh_zero_held_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_focused_window_goes_away, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wm_comes_and_goes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_keeps_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xterm_without_wm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_openbox_and_xterm, setup, teardown),
	};

	log_init();
	/* A write to a connection the server dropped must not end the test. */
	signal(SIGPIPE, SIG_IGN);
	return testenv_run(tests, group_setup, group_teardown);
}
