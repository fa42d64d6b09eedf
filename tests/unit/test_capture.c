/*
 * Tests of capture against a real X server: each run starts its own Xvfb (and,
 * for the window tests, openbox and xterm), drives it with xdotool and setxkbmap,
 * and checks what a person would see in the recording: the text typed, where a
 * click landed, which way a wheel turned, which window had the focus. A case
 * that needs a tool which is not installed (Xvfb, xdotool, setxkbmap, openbox,
 * xterm) is skipped through testenv, which makes that a failure in CI.
 *
 * The file includes capture.c itself so that it can also feed capture crafted
 * events that Xvfb cannot produce (smooth scrolling from a touchpad) and cut its
 * connection; the library's copy of capture.o is then not linked.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testenv.h"

#include "capture.c"

#define MAX_EVENTS 8192
#define MAX_CONTEXTS 128
#define MAX_DEVS 64

/* --- what the sink saw ------------------------------------------------------------- */

static struct {
	struct event ev[MAX_EVENTS];
	int n_ev;
	struct context ctx[MAX_CONTEXTS];
	int n_ctx;
	struct {
		int32_t id;
		char name[128];
		int synthetic;
	} dev[MAX_DEVS];
	int n_dev;
	int misordered;   /* a focus/title event that did not follow its context */
} seen;

static void on_event(void *arg, const struct event *ev)
{
	(void)arg;
	if ((ev->kind == EVENT_FOCUS || ev->kind == EVENT_TITLE) &&
	    (seen.n_ctx == 0 || seen.ctx[seen.n_ctx - 1].seq != ev->context))
		seen.misordered++;
	if (seen.n_ev < MAX_EVENTS)
		seen.ev[seen.n_ev++] = *ev;
}

static void on_context(void *arg, const struct context *ctx)
{
	(void)arg;
	if (seen.n_ctx < MAX_CONTEXTS)
		seen.ctx[seen.n_ctx++] = *ctx;
}

static void on_device(void *arg, int32_t id, const char *name, int synthetic)
{
	(void)arg;
	if (seen.n_dev < MAX_DEVS) {
		seen.dev[seen.n_dev].id = id;
		snprintf(seen.dev[seen.n_dev].name, sizeof seen.dev[0].name, "%s", name);
		seen.dev[seen.n_dev].synthetic = synthetic;
		seen.n_dev++;
	}
}

static const struct capture_sink sink = { on_event, on_context, on_device };

static void forget(void)
{
	memset(&seen, 0, sizeof seen);
}

/* --- the X server and its clients ------------------------------------------------ */

static struct testenv_x X;   /* the private X server; X.why says why there is none */

static int64_t now_ms(void)
{
	return util_now_mono_ns() / 1000000;
}

/* Clients started by a test are stopped by its teardown, even when it failed. */
static int stop_children(void **state)
{
	(void)state;
	testenv_stop_all();
	return 0;
}

/* A private Xvfb on a display number of its own (never a person's :0). */
static int start_xvfb(void **state)
{
	(void)state;
	testenv_xvfb_start(&X, "1280x800x24");
	return 0;
}

static int stop_xvfb(void **state)
{
	stop_children(state);
	testenv_xvfb_stop(&X);
	return 0;
}

static struct capture *open_capture(void)
{
	struct capture *c = NULL;
	char *cause = NULL;
	int rc;

	forget();
	rc = capture_open(NULL, &sink, NULL, &c, &cause);
	if (rc != 0) {
		int status = 0;
		pid_t gone = waitpid(X.pid, &status, WNOHANG);
		fail_msg("capture_open: %d %s (Xvfb %s, signal %d)", rc, cause != NULL ? cause : "",
		         gone == X.pid ? "exited" : "running",
		         gone == X.pid && WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	}
	return c;
}

/*
 * Runs the capture loop as the recorder does until nothing new arrived for
 * quiet_ms, or until `done` says so, or max_ms passed.
 */
static void pump_until(struct capture *c, int (*done)(void), int quiet_ms, int max_ms)
{
	int64_t start = now_ms(), last_change = start;
	int last_n = seen.n_ev + seen.n_ctx;

	for (;;) {
		char *cause = NULL;
		struct pollfd p;
		int timeout;

		if (capture_dispatch(c, &cause) != 0)
			fail_msg("capture_dispatch: %s", cause);
		timeout = capture_tick(c, util_now_mono_ns());
		if (seen.n_ev + seen.n_ctx != last_n) {
			last_n = seen.n_ev + seen.n_ctx;
			last_change = now_ms();
		}
		if (done != NULL && done())
			return;
		if (now_ms() - last_change >= quiet_ms && done == NULL)
			return;
		if (now_ms() - start >= max_ms)
			return;
		p = (struct pollfd){ .fd = capture_fd(c), .events = POLLIN };
		poll(&p, 1, timeout < 0 || timeout > 20 ? 20 : timeout);
	}
}

static void pump(struct capture *c)
{
	pump_until(c, NULL, 300, 5000);
}

static pid_t async_pid;

static int async_done(void)
{
	return testenv_ended(async_pid, NULL);
}

/* Runs a shell command while capture keeps running, as it would in the recorder. */
static void run_while_capturing(struct capture *c, const char *cmd)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };

	async_pid = testenv_spawn(argv);
	pump_until(c, async_done, 0, 10000);
	pump(c);
}

/* The text of every key press since `from`, joined. */
static void typed_text(int from, char *out, size_t size)
{
	size_t o = 0;

	out[0] = '\0';
	for (int i = from; i < seen.n_ev; i++) {
		size_t n = strlen(seen.ev[i].text);
		if (seen.ev[i].kind != EVENT_KEY_PRESS || o + n >= size)
			continue;
		memcpy(out + o, seen.ev[i].text, n + 1);
		o += n;
	}
}

static const char *device_name(int32_t id)
{
	for (int i = 0; i < seen.n_dev; i++)
		if (seen.dev[i].id == id)
			return seen.dev[i].name;
	return NULL;
}

static int count_kind(int kind)
{
	int n = 0;

	for (int i = 0; i < seen.n_ev; i++)
		n += seen.ev[i].kind == kind;
	return n;
}

/* --- tests ----------------------------------------------------------------------- */

static void test_open_errors(void **state)
{
	struct capture *c = (struct capture *)1;
	char *saved = getenv("DISPLAY") != NULL ? strdup(getenv("DISPLAY")) : NULL;
	char *cause = NULL;

	(void)state;
	unsetenv("DISPLAY");
	assert_int_equal(capture_open(NULL, &sink, NULL, &c, &cause), -ENXIO);
	assert_null(c);
	assert_string_equal(cause, "no X display: DISPLAY is not set; run inside an X session "
	                    "or set DISPLAY");
	free(cause);
	cause = NULL;
	if (saved != NULL) {
		setenv("DISPLAY", saved, 1);
		free(saved);
	}

	assert_int_equal(capture_open(":4917", &sink, NULL, &c, &cause), -ENXIO);
	assert_string_equal(cause, "cannot connect to X display ':4917'; is the X server running?");
	free(cause);
	capture_close(NULL);
}

static void test_open_info_devices(void **state)
{
	struct capture_info info;
	struct capture *c;
	int xtest_kbd = 0, xvfb_kbd = 0;

	(void)state;
	testenv_need_x(&X);
	c = open_capture();
	capture_get_info(c, &info);
	assert_int_equal(info.screen_w, 1280);
	assert_int_equal(info.screen_h, 800);
	assert_string_equal(info.keymap, "evdev/pc105/us");
	assert_int_equal(info.has_wm, 0);
	assert_true(capture_fd(c) >= 0);
	/* Slaves only, tagged by name. */
	for (int i = 0; i < seen.n_dev; i++) {
		assert_string_not_equal(seen.dev[i].name, "Virtual core pointer");
		if (strcmp(seen.dev[i].name, "Virtual core XTEST keyboard") == 0)
			xtest_kbd = seen.dev[i].synthetic;
		if (strcmp(seen.dev[i].name, "Xvfb keyboard") == 0)
			xvfb_kbd = 1 + seen.dev[i].synthetic;
	}
	assert_int_equal(xtest_kbd, 1);
	assert_int_equal(xvfb_kbd, 1);
	/* A first context (no window focused yet) and its focus event, before any input. */
	assert_int_equal(seen.n_ctx, 1);
	assert_int_equal(seen.ctx[0].seq, 1);
	assert_int_equal(seen.ctx[0].window, 0);
	assert_int_equal(seen.n_ev, 1);
	assert_int_equal(seen.ev[0].kind, EVENT_FOCUS);
	assert_int_equal(seen.ev[0].context, 1);
	capture_close(c);
}

static void test_type_text(void **state)
{
	struct capture *c;
	char text[256];
	int presses = 0, releases = 0;

	(void)state;
	testenv_need_x(&X);
	testenv_need_tools("xdotool");
	c = open_capture();
	assert_int_equal(testenv_shell("xdotool type 'Hello, World!'"), 0);
	pump(c);
	typed_text(0, text, sizeof text);
	assert_string_equal(text, "Hello, World!");
	for (int i = 0; i < seen.n_ev; i++) {
		const struct event *e = &seen.ev[i];
		if (e->kind != EVENT_KEY_PRESS && e->kind != EVENT_KEY_RELEASE)
			continue;
		presses += e->kind == EVENT_KEY_PRESS;
		releases += e->kind == EVENT_KEY_RELEASE;
		assert_int_equal(e->source, EVENT_SOURCE_SYNTHETIC);
		assert_non_null(device_name(e->device));
		assert_non_null(strstr(device_name(e->device), "XTEST"));
		assert_int_equal(e->context, 1);
		assert_true(e->t_ns > 0);
		if (e->kind == EVENT_KEY_RELEASE)
			assert_string_equal(e->text, "");
		if (e->kind == EVENT_KEY_PRESS && strcmp(e->text, "H") == 0) {
			assert_string_equal(e->keysym, "H");
			assert_true(e->mods & 1);   /* Shift */
		}
		if (e->kind == EVENT_KEY_PRESS && strcmp(e->text, ",") == 0)
			assert_string_equal(e->keysym, "comma");
	}
	/* 13 characters, three of them shifted. */
	assert_int_equal(presses, 16);
	assert_true(releases >= presses);
	capture_close(c);
}

static void test_hotkey_has_no_text(void **state)
{
	struct capture *c;
	int found = 0;

	(void)state;
	testenv_need_x(&X);
	testenv_need_tools("xdotool");
	c = open_capture();
	assert_int_equal(testenv_shell("xdotool key ctrl+s Return"), 0);
	pump(c);
	for (int i = 0; i < seen.n_ev; i++) {
		const struct event *e = &seen.ev[i];
		if (e->kind == EVENT_KEY_PRESS && strcmp(e->keysym, "s") == 0) {
			assert_true(e->mods & 4);   /* Control */
			assert_string_equal(e->text, "");
			found |= 1;
		}
		if (e->kind == EVENT_KEY_PRESS && strcmp(e->keysym, "Return") == 0) {
			assert_string_equal(e->text, "");
			assert_int_equal(e->mods & 4, 0);
			found |= 2;
		}
	}
	assert_int_equal(found, 3);
	capture_close(c);
}

static void test_click_position(void **state)
{
	struct capture *c;
	int press = -1, release = -1;

	(void)state;
	testenv_need_x(&X);
	testenv_need_tools("xdotool");
	c = open_capture();
	assert_int_equal(testenv_shell("xdotool mousemove 321 234 click 1"), 0);
	pump(c);
	for (int i = 0; i < seen.n_ev; i++) {
		if (seen.ev[i].kind == EVENT_BUTTON_PRESS)
			press = i;
		if (seen.ev[i].kind == EVENT_BUTTON_RELEASE)
			release = i;
	}
	assert_true(press > 0);
	assert_true(release > press);
	assert_int_equal(seen.ev[press].detail, 1);
	assert_int_equal(seen.ev[press].x, 321);
	assert_int_equal(seen.ev[press].y, 234);
	assert_int_equal(seen.ev[press].source, EVENT_SOURCE_SYNTHETIC);
	assert_int_equal(seen.ev[release].x, 321);
	assert_int_equal(seen.ev[release].y, 234);
	/* The warp made no raw motion, yet the sample right before the press is there. */
	assert_int_equal(seen.ev[press - 1].kind, EVENT_MOTION);
	assert_int_equal(seen.ev[press - 1].x, 321);
	assert_int_equal(seen.ev[press - 1].y, 234);
	assert_int_equal(seen.ev[press - 1].source, EVENT_SOURCE_SYNTHETIC);
	capture_close(c);
}

static void test_wheel_buttons(void **state)
{
	static const int dirs[] = { SCROLL_UP, SCROLL_DOWN, SCROLL_LEFT, SCROLL_RIGHT };
	struct capture *c;
	int n = 0;

	(void)state;
	testenv_need_x(&X);
	testenv_need_tools("xdotool");
	c = open_capture();
	assert_int_equal(testenv_shell("xdotool mousemove 200 300 click 4 click 5 click 6 click 7"),
	                 0);
	pump(c);
	for (int i = 0; i < seen.n_ev; i++) {
		const struct event *e = &seen.ev[i];
		/* Wheel buttons are scrolls, never button events, and their releases are dropped. */
		assert_int_not_equal(e->kind, EVENT_BUTTON_PRESS);
		assert_int_not_equal(e->kind, EVENT_BUTTON_RELEASE);
		if (e->kind != EVENT_SCROLL)
			continue;
		assert_true(n < 4);
		assert_int_equal(e->detail, dirs[n]);
		assert_true(e->amount == 1.0);
		assert_int_equal(e->x, 200);
		assert_int_equal(e->y, 300);
		assert_int_equal(e->source, EVENT_SOURCE_SYNTHETIC);
		n++;
	}
	assert_int_equal(n, 4);
	capture_close(c);
}

static void test_motion_thinning(void **state)
{
	struct capture *c;
	char cmd[12288];
	size_t o;
	int64_t t0;
	int samples = 0, press = -1, last_motion = -1;

	(void)state;
	testenv_need_x(&X);
	testenv_need_tools("xdotool");
	assert_int_equal(testenv_shell("xdotool mousemove 100 100"), 0);
	c = open_capture();
	/* 200 relative moves in one process: far more raw motion than 60 per second. */
	o = (size_t)snprintf(cmd, sizeof cmd, "xdotool");
	for (int i = 0; i < 200; i++)
		o += (size_t)snprintf(cmd + o, sizeof cmd - o, " mousemove_relative 1 2 sleep 0.002");
	snprintf(cmd + o, sizeof cmd - o, " click 3");
	t0 = util_now_mono_ns();
	run_while_capturing(c, cmd);
	for (int i = 0; i < seen.n_ev; i++) {
		const struct event *e = &seen.ev[i];
		if (e->kind == EVENT_BUTTON_PRESS && press < 0)
			press = i;
		if (e->kind != EVENT_MOTION || press >= 0)
			continue;
		/* Physical-style motion comes from the XTEST pointer, not "a warp". */
		assert_int_equal(e->source, EVENT_SOURCE_SYNTHETIC);
		assert_non_null(device_name(e->device));
		if (last_motion >= 0 && i + 1 < seen.n_ev &&
		    seen.ev[i + 1].kind != EVENT_BUTTON_PRESS)
			assert_true(e->t_ns - seen.ev[last_motion].t_ns >= MOTION_MIN_NS);
		last_motion = i;
		samples++;
	}
	assert_true(press > 0);
	/* At most 60 per second (plus the one before the press), and it did follow. */
	assert_true(samples <= (seen.ev[press].t_ns - t0) * 60 / 1000000000 + 2);
	assert_true(samples >= 10);
	assert_int_equal(seen.ev[press - 1].kind, EVENT_MOTION);
	assert_int_equal(seen.ev[press - 1].x, 300);
	assert_int_equal(seen.ev[press - 1].y, 500);
	assert_int_equal(seen.ev[press].x, 300);
	assert_int_equal(seen.ev[press].y, 500);
	assert_int_equal(seen.ev[press].detail, 3);
	capture_close(c);
}

static void test_layout_change(void **state)
{
	struct capture_info info;
	struct capture *c;
	char text[64];
	int layout = -1, from;

	(void)state;
	testenv_need_x(&X);
	testenv_need_tools("setxkbmap", "xdotool");
	c = open_capture();
	assert_int_equal(testenv_shell("setxkbmap -display %s de", X.display), 0);
	pump(c);
	for (int i = 0; i < seen.n_ev; i++)
		if (seen.ev[i].kind == EVENT_LAYOUT)
			layout = i;
	assert_true(layout >= 0);
	assert_string_equal(seen.ev[layout].keysym, "de");
	capture_get_info(c, &info);
	assert_string_equal(info.keymap, "evdev/pc105/de");

	from = seen.n_ev;
	assert_int_equal(testenv_shell("xdotool type 'äö@yz'"), 0);
	pump(c);
	typed_text(from, text, sizeof text);
	assert_string_equal(text, "äö@yz");
	for (int i = from; i < seen.n_ev; i++) {
		const struct event *e = &seen.ev[i];
		if (e->kind == EVENT_KEY_PRESS && strcmp(e->text, "ä") == 0)
			assert_string_equal(e->keysym, "adiaeresis");
		if (e->kind == EVENT_KEY_PRESS && strcmp(e->text, "@") == 0)
			assert_string_equal(e->keysym, "at");
		/* German keyboards swap Y and Z: keycode 29 is 'z'. */
		if (e->kind == EVENT_KEY_PRESS && strcmp(e->text, "z") == 0)
			assert_int_equal(e->detail, 29);
	}

	assert_int_equal(testenv_shell("setxkbmap -display %s us", X.display), 0);
	pump(c);
	capture_get_info(c, &info);
	assert_string_equal(info.keymap, "evdev/pc105/us");
	assert_string_equal(seen.ev[seen.n_ev - 1].keysym, "us");
	capture_close(c);
}

/* Adds (name != NULL) or removes (id) a master device pair, as `xinput` would. */
static void change_hierarchy(xcb_connection_t *conn, const char *name, int id)
{
	uint8_t buf[64] = { 0 };
	xcb_input_add_master_t *add = (void *)buf;
	xcb_input_remove_master_t *rm = (void *)buf;
	xcb_generic_error_t *err;

	if (name != NULL) {
		size_t n = strlen(name);
		add->type = XCB_INPUT_HIERARCHY_CHANGE_TYPE_ADD_MASTER;
		add->len = (uint16_t)((sizeof *add + n + 3) / 4);
		add->name_len = (uint16_t)n;
		add->send_core = 1;
		add->enable = 1;
		memcpy(buf + sizeof *add, name, n);
	} else {
		rm->type = XCB_INPUT_HIERARCHY_CHANGE_TYPE_REMOVE_MASTER;
		rm->len = sizeof *rm / 4;
		rm->deviceid = (xcb_input_device_id_t)id;
		rm->return_mode = XCB_INPUT_CHANGE_MODE_FLOAT;
	}
	err = xcb_request_check(conn, xcb_input_xi_change_hierarchy_checked(
	                                      conn, 1, (const xcb_input_hierarchy_change_t *)buf));
	assert_null(err);
}

static void test_device_hierarchy(void **state)
{
	xcb_connection_t *other;
	struct capture *c;
	int xtest_id = 0, master_id = 0, n_before;

	(void)state;
	testenv_need_x(&X);
	c = open_capture();
	n_before = seen.n_dev;
	other = xcb_connect(NULL, NULL);
	assert_int_equal(xcb_connection_has_error(other), 0);
	change_hierarchy(other, "mimic test", 0);
	pump(c);
	for (int i = n_before; i < seen.n_dev; i++) {
		if (strcmp(seen.dev[i].name, "mimic test XTEST keyboard") == 0) {
			xtest_id = seen.dev[i].id;
			assert_int_equal(seen.dev[i].synthetic, 1);
		}
		assert_string_not_equal(seen.dev[i].name, "mimic test keyboard");   /* a master */
	}
	assert_true(xtest_id > 0);
	assert_int_equal(count_kind(EVENT_DEVICES), 1);
	/* Four slaves under Xvfb at start, and the new master pair's two XTEST slaves. */
	assert_int_equal(seen.ev[seen.n_ev - 1].detail, 6);

	for (int i = 0; i < c->n_devs; i++)
		if (strcmp(c->devs[i].name, "mimic test pointer") == 0)
			master_id = c->devs[i].id;
	assert_true(master_id > 0);
	change_hierarchy(other, NULL, master_id);
	pump(c);
	assert_int_equal(count_kind(EVENT_DEVICES), 2);
	assert_int_equal(seen.ev[seen.n_ev - 1].detail, 4);
	xcb_disconnect(other);
	capture_close(c);
}

/* A raw event of `type` from `source` with valuators: bit i of mask has values[k]. */
struct fake_raw {
	xcb_input_raw_motion_event_t head;
	uint32_t mask;
	xcb_input_fp3232_t values[2 * 4];
};

static void fake_raw(struct capture *c, struct fake_raw *e, int type, int source, uint32_t detail,
                     uint32_t flags, uint32_t mask, const double *values)
{
	int n = __builtin_popcount(mask);

	memset(e, 0, sizeof *e);
	e->head.response_type = XCB_GE_GENERIC;
	e->head.extension = c->xi_opcode;
	e->head.event_type = (uint16_t)type;
	e->head.deviceid = 2;
	e->head.sourceid = (xcb_input_device_id_t)source;
	e->head.detail = detail;
	e->head.flags = flags;
	e->head.valuators_len = 1;
	e->head.length = (uint32_t)(1 + 4 * n);
	e->mask = mask;
	for (int k = 0; k < n; k++) {
		double ip = floor(values[k]);
		e->values[k].integral = (int32_t)ip;
		e->values[k].frac = (uint32_t)((values[k] - ip) * 4294967296.0);
		e->values[n + k] = e->values[k];
	}
}

static void test_smooth_scroll(void **state)
{
	struct fake_raw e;
	struct capture *c;
	struct device *pad;
	const double both[] = { -7.5, 30.0 };
	const double up[] = { -15.0 };

	(void)state;
	testenv_need_x(&X);
	c = open_capture();
	/* A touchpad as libinput describes it: axes 2 (horizontal) and 3 (vertical). */
	assert_true(c->n_devs < MAX_DEVICES);
	pad = &c->devs[c->n_devs++];
	memset(pad, 0, sizeof *pad);
	pad->id = 42;
	pad->type = XCB_INPUT_DEVICE_TYPE_SLAVE_POINTER;
	snprintf(pad->name, sizeof pad->name, "Test touchpad");
	pad->n_scroll = 2;
	pad->scroll[0] = (struct scroll_axis){ 2, SCROLL_TYPE_HORIZONTAL, 15.0 };
	pad->scroll[1] = (struct scroll_axis){ 3, SCROLL_TYPE_VERTICAL, 15.0 };
	forget();

	fake_raw(c, &e, XCB_INPUT_RAW_MOTION, 42, 0, 0, (1u << 2) | (1u << 3), both);
	handle_event(c, (const xcb_generic_event_t *)&e);
	assert_int_equal(seen.n_ev, 2);
	assert_int_equal(seen.ev[0].kind, EVENT_SCROLL);
	assert_int_equal(seen.ev[0].detail, SCROLL_DOWN);
	assert_true(fabs(seen.ev[0].amount - 2.0) < 1e-6);
	assert_int_equal(seen.ev[0].device, 42);
	assert_int_equal(seen.ev[0].source, EVENT_SOURCE_HUMAN);
	assert_int_equal(seen.ev[1].detail, SCROLL_LEFT);
	assert_true(fabs(seen.ev[1].amount - 0.5) < 1e-6);

	/* The server's emulated wheel buttons for it are dropped, as is emulated motion. */
	fake_raw(c, &e, XCB_INPUT_RAW_BUTTON_PRESS, 42, 4,
	         XCB_INPUT_POINTER_EVENT_FLAGS_POINTER_EMULATED, 0, NULL);
	handle_event(c, (const xcb_generic_event_t *)&e);
	fake_raw(c, &e, XCB_INPUT_RAW_MOTION, 42, 0,
	         XCB_INPUT_POINTER_EVENT_FLAGS_POINTER_EMULATED, 1u << 3, up);
	handle_event(c, (const xcb_generic_event_t *)&e);
	assert_int_equal(seen.n_ev, 2);

	fake_raw(c, &e, XCB_INPUT_RAW_MOTION, 42, 0, 0, 1u << 3, up);
	handle_event(c, (const xcb_generic_event_t *)&e);
	assert_int_equal(seen.n_ev, 3);
	assert_int_equal(seen.ev[2].detail, SCROLL_UP);
	assert_true(fabs(seen.ev[2].amount - 1.0) < 1e-6);

	/* A wheel without smooth scrolling keeps its button, even if flagged. */
	fake_raw(c, &e, XCB_INPUT_RAW_BUTTON_PRESS, 4, 5,
	         XCB_INPUT_POINTER_EVENT_FLAGS_POINTER_EMULATED, 0, NULL);
	handle_event(c, (const xcb_generic_event_t *)&e);
	assert_int_equal(seen.n_ev, 4);
	assert_int_equal(seen.ev[3].kind, EVENT_SCROLL);
	assert_int_equal(seen.ev[3].detail, SCROLL_DOWN);
	assert_int_equal(seen.ev[3].source, EVENT_SOURCE_SYNTHETIC);

	/* Emulated from touch, button 1 is a click even on a device that scrolls smoothly. */
	fake_raw(c, &e, XCB_INPUT_RAW_BUTTON_PRESS, 42, 1,
	         XCB_INPUT_POINTER_EVENT_FLAGS_POINTER_EMULATED, 0, NULL);
	handle_event(c, (const xcb_generic_event_t *)&e);
	assert_int_equal(seen.ev[seen.n_ev - 1].kind, EVENT_BUTTON_PRESS);
	assert_int_equal(seen.ev[seen.n_ev - 1].detail, 1);
	assert_int_equal(seen.ev[seen.n_ev - 1].device, 42);
	capture_close(c);
}

/* Moves the pointer with a warp on c's connection and waits until the server did it. */
static void warp(struct capture *c, int16_t x, int16_t y)
{
	xcb_warp_pointer(c->conn, XCB_WINDOW_NONE, c->root, 0, 0, 0, 0, x, y);
	free(xcb_get_input_focus_reply(c->conn, xcb_get_input_focus(c->conn), NULL));
}

/*
 * Button events handled in one batch share one pointer query, but only while no
 * raw motion came in between: a release after the pointer moved is placed where
 * it moved to, not where the press was.
 */
static void test_click_position_after_motion_in_batch(void **state)
{
	const double delta[] = { 50.0, 40.0 };
	struct fake_raw e;
	struct capture *c;
	int32_t mouse = 0;
	int16_t old_x, old_y;
	int press = -1, release = -1;

	(void)state;
	testenv_need_x(&X);
	c = open_capture();
	for (int i = 0; i < c->n_devs && mouse == 0; i++)
		if (c->devs[i].type == XCB_INPUT_DEVICE_TYPE_SLAVE_POINTER)
			mouse = c->devs[i].id;
	assert_true(mouse > 0);
	old_x = (int16_t)c->px;
	old_y = (int16_t)c->py;
	warp(c, 100, 100);
	forget();
	c->pos_batch = 0;   /* a new read, as capture_dispatch starts it */
	fake_raw(c, &e, XCB_INPUT_RAW_BUTTON_PRESS, mouse, 1, 0, 0, NULL);
	handle_event(c, (const xcb_generic_event_t *)&e);
	/* The device moves the pointer; the sample of it is held (one came just now). */
	warp(c, 150, 140);
	c->s_ns = util_now_mono_ns();
	fake_raw(c, &e, XCB_INPUT_RAW_MOTION, mouse, 0, 0, (1u << 0) | (1u << 1), delta);
	handle_event(c, (const xcb_generic_event_t *)&e);
	fake_raw(c, &e, XCB_INPUT_RAW_BUTTON_RELEASE, mouse, 1, 0, 0, NULL);
	handle_event(c, (const xcb_generic_event_t *)&e);
	for (int i = 0; i < seen.n_ev; i++) {
		if (seen.ev[i].kind == EVENT_BUTTON_PRESS)
			press = i;
		if (seen.ev[i].kind == EVENT_BUTTON_RELEASE)
			release = i;
	}
	assert_true(press >= 0);
	assert_true(release > press);
	assert_int_equal(seen.ev[press].x, 100);
	assert_int_equal(seen.ev[press].y, 100);
	assert_int_equal(seen.ev[release].x, 150);
	assert_int_equal(seen.ev[release].y, 140);
	/* Where it was: the tests after this one start windows under the pointer. */
	warp(c, old_x, old_y);
	capture_close(c);
}

static void test_connection_lost(void **state)
{
	xcb_connection_t *other;
	xcb_window_t victim;
	struct capture *c;
	char *cause = NULL;
	int rc = 0;

	(void)state;
	testenv_need_x(&X);
	c = open_capture();
	/* KillClient needs a resource of the client to kill: a window nobody sees. */
	victim = xcb_generate_id(c->conn);
	xcb_create_window(c->conn, XCB_COPY_FROM_PARENT, victim, c->root, 0, 0, 1, 1, 0,
	                  XCB_WINDOW_CLASS_INPUT_ONLY, XCB_COPY_FROM_PARENT, 0, NULL);
	free(xcb_get_input_focus_reply(c->conn, xcb_get_input_focus(c->conn), NULL));
	other = xcb_connect(NULL, NULL);
	assert_int_equal(xcb_connection_has_error(other), 0);
	/* What an X server going away looks like to a client. */
	xcb_kill_client(other, victim);
	free(xcb_get_input_focus_reply(other, xcb_get_input_focus(other), NULL));
	xcb_disconnect(other);
	for (int i = 0; i < 100 && rc == 0; i++) {
		struct pollfd p = { .fd = capture_fd(c), .events = POLLIN };
		poll(&p, 1, 20);
		rc = capture_dispatch(c, &cause);
	}
	assert_int_equal(rc, -EPIPE);
	assert_string_equal(cause, "lost the connection to the X server");
	assert_int_equal(capture_tick(c, util_now_mono_ns()), 0);
	free(cause);
	capture_close(c);
}

/* --- windows --------------------------------------------------------------------- */

static const char *want_title;

static int have_title(void)
{
	return seen.n_ctx > 0 && strcmp(seen.ctx[seen.n_ctx - 1].title, want_title) == 0;
}

static int have_no_window(void)
{
	return seen.n_ctx > 0 && seen.ctx[seen.n_ctx - 1].window == 0;
}

static pid_t start_xterm(const char *title, const char *geometry)
{
	char *argv[] = { "xterm", "-T", (char *)title, "-geometry", (char *)geometry, NULL };
	return testenv_spawn(argv);
}

static void test_focus_without_wm(void **state)
{
	xcb_get_geometry_reply_t *geom;
	struct capture *c;
	pid_t xterm;
	int from;

	(void)state;
	testenv_need_x(&X);
	testenv_need_tools("xterm", "xdotool");
	xterm = start_xterm("no wm", "40x10+100+100");
	/* Wait for it to be mapped: xdotool finds it by name. */
	assert_int_equal(testenv_shell("xdotool search --sync --onlyvisible --name '^no wm$' "
	                               ">/dev/null"), 0);
	c = open_capture();
	assert_int_equal(window_has_wm(c->window), 0);

	/* Focus follows the pointer: a click on the window makes it the context. */
	assert_int_equal(testenv_shell("xdotool mousemove 150 150 click 1"), 0);
	pump(c);
	assert_true(seen.n_ctx >= 2);
	assert_string_equal(seen.ctx[seen.n_ctx - 1].wm_class, "XTerm");
	assert_string_equal(seen.ctx[seen.n_ctx - 1].wm_instance, "xterm");
	assert_string_equal(seen.ctx[seen.n_ctx - 1].title, "no wm");
	assert_int_equal(seen.ctx[seen.n_ctx - 1].pid, xterm);
	/* Where the content starts: inside the window's border. */
	geom = xcb_get_geometry_reply(c->conn, xcb_get_geometry(c->conn,
	                              seen.ctx[seen.n_ctx - 1].window), NULL);
	assert_non_null(geom);
	assert_int_equal(seen.ctx[seen.n_ctx - 1].x, 100 + geom->border_width);
	assert_int_equal(seen.ctx[seen.n_ctx - 1].y, 100 + geom->border_width);
	assert_int_equal(seen.ctx[seen.n_ctx - 1].w, geom->width);
	assert_int_equal(seen.ctx[seen.n_ctx - 1].h, geom->height);
	free(geom);
	for (int i = 0; i < seen.n_ev; i++)
		if (seen.ev[i].kind == EVENT_BUTTON_PRESS)
			assert_int_equal(seen.ev[i].context, seen.ctx[seen.n_ctx - 1].seq);

	/* Typing elsewhere: the first key looks again. */
	from = seen.n_ctx;
	assert_int_equal(testenv_shell("xdotool mousemove 900 700 type q"), 0);
	pump(c);
	assert_int_equal(seen.n_ctx, from + 1);
	assert_int_equal(seen.ctx[from].window, 0);
	assert_int_equal(seen.misordered, 0);
	capture_close(c);
	testenv_stop(xterm);
}

static xcb_atom_t atom(xcb_connection_t *conn, const char *name)
{
	xcb_intern_atom_reply_t *r;
	xcb_atom_t a;

	r = xcb_intern_atom_reply(conn, xcb_intern_atom(conn, 0, (uint16_t)strlen(name), name), NULL);
	assert_non_null(r);
	a = r->atom;
	free(r);
	return a;
}

static void set_prop(xcb_connection_t *conn, xcb_window_t win, xcb_atom_t prop, xcb_atom_t type,
                     int format, const void *data, size_t n)
{
	xcb_change_property(conn, XCB_PROP_MODE_REPLACE, win, prop, type, (uint8_t)format,
	                    (uint32_t)n, data);
}

static void test_window_properties(void **state)
{
	static const char wm_class[] = "mimic-inst\0MimicClass\0";
	xcb_connection_t *other;
	xcb_window_t win;
	xcb_screen_t *screen;
	uint32_t pid = (uint32_t)getpid();
	char self[512];
	ssize_t len;
	struct capture *c;
	const struct context *ctx;

	(void)state;
	testenv_need_x(&X);
	other = xcb_connect(NULL, NULL);
	assert_int_equal(xcb_connection_has_error(other), 0);
	screen = xcb_setup_roots_iterator(xcb_get_setup(other)).data;
	win = xcb_generate_id(other);
	xcb_create_window(other, XCB_COPY_FROM_PARENT, win, screen->root, 500, 400, 200, 100, 0,
	                  XCB_WINDOW_CLASS_INPUT_OUTPUT, XCB_COPY_FROM_PARENT, 0, NULL);
	set_prop(other, win, XCB_ATOM_WM_CLASS, XCB_ATOM_STRING, 8, wm_class, sizeof wm_class - 1);
	/* A title with an invalid byte and a control character in it. */
	set_prop(other, win, atom(other, "_NET_WM_NAME"), atom(other, "UTF8_STRING"), 8,
	         "Gr\xc3\xbc\xc3\x9f""e \xff\tend", 13);
	set_prop(other, win, atom(other, "_NET_WM_PID"), XCB_ATOM_CARDINAL, 32, &pid, 1);
	xcb_map_window(other, win);
	xcb_set_input_focus(other, XCB_INPUT_FOCUS_POINTER_ROOT, win, XCB_CURRENT_TIME);
	free(xcb_get_input_focus_reply(other, xcb_get_input_focus(other), NULL));

	/* Without a window manager the focus window itself is found at once. */
	c = open_capture();
	ctx = &seen.ctx[seen.n_ctx - 1];
	assert_int_equal(ctx->window, win);
	assert_string_equal(ctx->wm_instance, "mimic-inst");
	assert_string_equal(ctx->wm_class, "MimicClass");
	assert_string_equal(ctx->title, "Grüße \xef\xbf\xbd end");
	assert_int_equal(ctx->pid, getpid());
	len = readlink("/proc/self/exe", self, sizeof self - 1);
	assert_true(len > 0);
	self[len] = '\0';
	assert_string_equal(ctx->exe, self);
	assert_int_equal(ctx->x, 500);
	assert_int_equal(ctx->y, 400);
	assert_int_equal(ctx->w, 200);
	assert_int_equal(ctx->h, 100);

	/* Only WM_NAME, in Latin-1: converted; the change is a title event. */
	xcb_delete_property(other, win, atom(other, "_NET_WM_NAME"));
	set_prop(other, win, XCB_ATOM_WM_NAME, XCB_ATOM_STRING, 8, "caf\xe9", 4);
	xcb_flush(other);
	want_title = "café";
	pump_until(c, have_title, 0, 3000);
	assert_string_equal(seen.ctx[seen.n_ctx - 1].title, "café");
	assert_int_equal(seen.ctx[seen.n_ctx - 1].seq, 2);
	assert_int_equal(seen.ev[seen.n_ev - 1].kind, EVENT_TITLE);
	assert_int_equal(seen.ev[seen.n_ev - 1].context, 2);

	/* The window going away is no window, after the grace period. */
	xcb_destroy_window(other, win);
	xcb_flush(other);
	pump_until(c, have_no_window, 0, 3000);
	assert_int_equal(seen.ctx[seen.n_ctx - 1].window, 0);
	assert_int_equal(seen.misordered, 0);
	capture_close(c);
	xcb_disconnect(other);
}

static void test_focus_with_openbox(void **state)
{
	char *ob_argv[] = { "openbox", "--sm-disable", NULL };
	struct capture *c;
	pid_t openbox, first, second;
	int from;
	const struct context *ctx;

	(void)state;
	testenv_need_x(&X);
	testenv_need_tools("openbox", "xterm", "xdotool");
	c = open_capture();
	openbox = testenv_spawn(ob_argv);
	/* capture notices the window manager starting. */
	for (int i = 0; i < 100 && !window_has_wm(c->window); i++)
		pump_until(c, NULL, 50, 50);
	assert_int_equal(window_has_wm(c->window), 1);

	first = start_xterm("mimic first", "40x10+50+60");
	want_title = "mimic first";
	pump_until(c, have_title, 0, 8000);
	ctx = &seen.ctx[seen.n_ctx - 1];
	assert_string_equal(ctx->wm_class, "XTerm");
	assert_string_equal(ctx->wm_instance, "xterm");
	assert_int_equal(ctx->pid, first);
	assert_true(strlen(ctx->exe) > 6);
	assert_string_equal(ctx->exe + strlen(ctx->exe) - 6, "/xterm");
	assert_true(ctx->w > 100 && ctx->h > 50);
	/* The client's position, below the frame's title bar. */
	assert_true(ctx->y > 60);
	assert_int_equal(seen.ev[seen.n_ev - 1].kind, EVENT_FOCUS);
	assert_int_equal(seen.ev[seen.n_ev - 1].context, ctx->seq);

	/* Title changes of the active window (xterm sets WM_NAME only). */
	assert_int_equal(testenv_shell("xdotool set_window --name 'renamed' %u",
	                               (unsigned)ctx->window), 0);
	want_title = "renamed";
	pump_until(c, have_title, 0, 3000);
	assert_string_equal(seen.ctx[seen.n_ctx - 1].title, "renamed");
	assert_int_equal(seen.ctx[seen.n_ctx - 1].window, seen.ctx[seen.n_ctx - 2].window);
	assert_int_equal(count_kind(EVENT_TITLE), 1);
	assert_int_equal(seen.ev[seen.n_ev - 1].kind, EVENT_TITLE);

	/* A second window takes the focus; closing it gives it back with no "none" between. */
	second = start_xterm("mimic second", "40x10+400+300");
	want_title = "mimic second";
	pump_until(c, have_title, 0, 8000);
	assert_string_equal(seen.ctx[seen.n_ctx - 1].title, "mimic second");
	from = seen.n_ctx;
	testenv_stop(second);
	want_title = "renamed";
	pump_until(c, have_title, 0, 5000);
	pump(c);
	assert_int_equal(seen.n_ctx, from + 1);
	assert_string_equal(seen.ctx[from].title, "renamed");

	/* The last window closing: openbox leaves _NET_ACTIVE_WINDOW stale; still "none". */
	testenv_stop(first);
	pump_until(c, have_no_window, 0, 3000);
	assert_int_equal(seen.ctx[seen.n_ctx - 1].window, 0);
	assert_int_equal(seen.misordered, 0);

	testenv_stop(openbox);
	for (int i = 0; i < 100 && window_has_wm(c->window); i++)
		pump_until(c, NULL, 50, 50);
	assert_int_equal(window_has_wm(c->window), 0);
	capture_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_open_errors, stop_children),
		cmocka_unit_test_teardown(test_open_info_devices, stop_children),
		cmocka_unit_test_teardown(test_type_text, stop_children),
		cmocka_unit_test_teardown(test_hotkey_has_no_text, stop_children),
		cmocka_unit_test_teardown(test_click_position, stop_children),
		cmocka_unit_test_teardown(test_wheel_buttons, stop_children),
		cmocka_unit_test_teardown(test_motion_thinning, stop_children),
		cmocka_unit_test_teardown(test_layout_change, stop_children),
		cmocka_unit_test_teardown(test_device_hierarchy, stop_children),
		cmocka_unit_test_teardown(test_smooth_scroll, stop_children),
		cmocka_unit_test_teardown(test_click_position_after_motion_in_batch, stop_children),
		cmocka_unit_test_teardown(test_window_properties, stop_children),
		cmocka_unit_test_teardown(test_focus_without_wm, stop_children),
		cmocka_unit_test_teardown(test_focus_with_openbox, stop_children),
		cmocka_unit_test_teardown(test_connection_lost, stop_children),
	};

	log_init();
	return testenv_run(tests, start_xvfb, stop_xvfb);
}
