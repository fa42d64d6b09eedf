/*
 * Tests of keymap against a real X server: a private Xvfb whose keyboard state
 * is changed with xdotool, setxkbmap and XKB requests, checking that keycodes
 * give the keysyms and characters a person would see on that keyboard (Shift,
 * Caps Lock, AltGr, German layout, layout groups). When Xvfb, xdotool or
 * setxkbmap is not installed every case is skipped through testenv, naming it
 * (a failure in CI).
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
#include <xcb/xcb.h>
#include <xcb/xkb.h>

#include <cmocka.h>

#include "testenv.h"

#include "keymap.h"

/* Keycodes of the evdev keymap (the X keycode is the evdev code + 8). */
enum { KC_Q = 24, KC_Y_US = 29, KC_A = 38, KC_S = 39, KC_APOSTROPHE = 48, KC_RETURN = 36 };

static struct testenv_x X;   /* the private X server; X.why says why there is none */

/* The server, unless a tool every case needs is missing. */
static int start_xvfb(void **state)
{
	const char *missing = testenv_missing("Xvfb", "xdotool", "setxkbmap");

	(void)state;
	if (missing != NULL)
		snprintf(X.why, sizeof X.why, "%s is not installed (not found in PATH)", missing);
	else
		testenv_xvfb_start(&X, "1024x768x24");
	return 0;
}

static int stop_xvfb(void **state)
{
	(void)state;
	testenv_xvfb_stop(&X);
	return 0;
}

struct fixture {
	xcb_connection_t *conn;
	xcb_window_t root;
	struct keymap *km;
	int layout_changes;   /* what keymap_handle_event reported */
};

static int setup(void **state)
{
	struct fixture *f;
	uint32_t mask = XCB_EVENT_MASK_PROPERTY_CHANGE;
	char *cause = NULL;

	if (X.pid <= 0) {
		*state = NULL;
		return 0;
	}
	/* Every test starts from the US layout with no modifier held. */
	if (testenv_shell("setxkbmap -display %s -layout us -variant '' -option ''", X.display) != 0)
		return -1;
	f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->conn = xcb_connect(X.display, NULL);
	assert_int_equal(xcb_connection_has_error(f->conn), 0);
	f->root = xcb_setup_roots_iterator(xcb_get_setup(f->conn)).data->root;
	/* keymap reads the layout names from root: its caller selects their changes. */
	xcb_change_window_attributes(f->conn, f->root, XCB_CW_EVENT_MASK, &mask);
	if (keymap_open(f->conn, f->root, &f->km, &cause) != 0)
		fail_msg("keymap_open: %s", cause);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f == NULL)
		return 0;
	keymap_close(f->km);
	xcb_disconnect(f->conn);
	free(f);
	return 0;
}

static struct fixture *need(void **state)
{
	testenv_need_x(&X);
	return *state;
}

/*
 * Hands keymap every event caused by what other clients did so far: a round trip
 * on our connection comes back after them. Then does the deferred rebuild.
 */
static int sync_events(struct fixture *f)
{
	xcb_generic_event_t *ev;

	free(xcb_get_input_focus_reply(f->conn, xcb_get_input_focus(f->conn), NULL));
	while ((ev = xcb_poll_for_queued_event(f->conn)) != NULL) {
		f->layout_changes += keymap_handle_event(f->km, ev);
		free(ev);
	}
	return keymap_update(f->km);
}

/* The keysym name and text of keycode in the current state, as "name text". */
static const char *key(struct fixture *f, uint32_t keycode)
{
	static char out[64];
	char keysym[32], text[16];

	keymap_key(f->km, keycode, keysym, sizeof keysym, text, sizeof text);
	snprintf(out, sizeof out, "%s %s", keysym, text);
	return out;
}

static void test_us_keys(void **state)
{
	struct fixture *f = need(state);
	char layout[32], keysym[32];

	assert_string_equal(keymap_summary(f->km), "evdev/pc105/us");
	keymap_layout(f->km, layout, sizeof layout);
	assert_string_equal(layout, "us");
	assert_int_equal(keymap_group(f->km), 0);
	assert_int_equal(keymap_mods(f->km), 0);
	assert_string_equal(key(f, KC_A), "a a");
	assert_string_equal(key(f, KC_Y_US), "y y");
	assert_string_equal(key(f, KC_APOSTROPHE), "apostrophe '");
	/* Keys that make control characters are told by their keysym, not text. */
	assert_string_equal(key(f, KC_RETURN), "Return ");
	/* The text is optional. */
	keymap_key(f->km, KC_A, keysym, sizeof keysym, NULL, 0);
	assert_string_equal(keysym, "a");
	/* A keycode with nothing on it. */
	assert_string_equal(key(f, 8), " ");
	assert_int_equal(sync_events(f), 0);
	assert_int_equal(keymap_pending(f->km), 0);
}

static void test_state_follows_server(void **state)
{
	struct fixture *f = need(state);

	assert_int_equal(testenv_shell("xdotool keydown shift"), 0);
	sync_events(f);
	assert_true(keymap_mods(f->km) & 1);
	assert_string_equal(key(f, KC_A), "A A");
	assert_int_equal(testenv_shell("xdotool keyup shift keydown ctrl"), 0);
	sync_events(f);
	assert_int_equal(keymap_mods(f->km), 4);
	/* Ctrl+S types nothing. */
	assert_string_equal(key(f, KC_S), "s ");
	assert_int_equal(testenv_shell("xdotool keyup ctrl key Caps_Lock"), 0);
	sync_events(f);
	assert_string_equal(key(f, KC_A), "A A");
	assert_int_equal(testenv_shell("xdotool key Caps_Lock"), 0);
	sync_events(f);
	assert_string_equal(key(f, KC_A), "a a");
	assert_int_equal(keymap_mods(f->km), 0);
	assert_int_equal(f->layout_changes, 0);
}

static void test_setxkbmap_de(void **state)
{
	struct fixture *f = need(state);
	char layout[32];

	assert_int_equal(testenv_shell("setxkbmap -display %s de", X.display), 0);
	assert_int_equal(sync_events(f), 1);
	assert_string_equal(keymap_summary(f->km), "evdev/pc105/de");
	keymap_layout(f->km, layout, sizeof layout);
	assert_string_equal(layout, "de");
	/* The same keys now give German characters. */
	assert_string_equal(key(f, KC_Y_US), "z z");
	assert_string_equal(key(f, KC_APOSTROPHE), "adiaeresis ä");
	assert_string_equal(key(f, KC_Q), "q q");
	assert_int_equal(testenv_shell("xdotool keydown ISO_Level3_Shift"), 0);
	sync_events(f);
	assert_string_equal(key(f, KC_Q), "at @");
	assert_int_equal(testenv_shell("xdotool keyup ISO_Level3_Shift"), 0);
	sync_events(f);
	assert_string_equal(key(f, KC_Q), "q q");

	/* A variant shows in the summary and the layout. */
	assert_int_equal(testenv_shell("setxkbmap -display %s -layout de -variant nodeadkeys",
	                               X.display), 0);
	assert_int_equal(sync_events(f), 1);
	assert_string_equal(keymap_summary(f->km), "evdev/pc105/de/nodeadkeys");
	keymap_layout(f->km, layout, sizeof layout);
	assert_string_equal(layout, "de(nodeadkeys)");
	/* The same keymap again is no change. */
	assert_int_equal(testenv_shell("setxkbmap -display %s -layout de -variant nodeadkeys",
	                               X.display), 0);
	assert_int_equal(sync_events(f), 0);
}

static void test_group_switch(void **state)
{
	struct fixture *f = need(state);
	char layout[32];

	assert_int_equal(testenv_shell("setxkbmap -display %s -layout us,de", X.display), 0);
	assert_int_equal(sync_events(f), 1);
	assert_string_equal(keymap_summary(f->km), "evdev/pc105/us,de");
	assert_string_equal(key(f, KC_Y_US), "y y");

	/* Lock the second group, as a layout switcher does. */
	xcb_xkb_latch_lock_state(f->conn, XCB_XKB_ID_USE_CORE_KBD, 0, 0, 1, 1, 0, 0, 0);
	assert_int_equal(sync_events(f), 0);
	assert_int_equal(f->layout_changes, 1);
	assert_int_equal(keymap_group(f->km), 1);
	keymap_layout(f->km, layout, sizeof layout);
	assert_string_equal(layout, "de");
	assert_string_equal(key(f, KC_Y_US), "z z");

	xcb_xkb_latch_lock_state(f->conn, XCB_XKB_ID_USE_CORE_KBD, 0, 0, 1, 0, 0, 0, 0);
	sync_events(f);
	assert_int_equal(f->layout_changes, 2);
	keymap_layout(f->km, layout, sizeof layout);
	assert_string_equal(layout, "us");
	assert_string_equal(key(f, KC_Y_US), "y y");
}

static void test_small_buffers(void **state)
{
	struct fixture *f = need(state);
	char keysym[4], text[2], layout[2];

	assert_int_equal(testenv_shell("setxkbmap -display %s de", X.display), 0);
	sync_events(f);
	/* Cut, never overrun, never half a character. */
	keymap_key(f->km, KC_APOSTROPHE, keysym, sizeof keysym, text, sizeof text);
	assert_string_equal(keysym, "adi");
	assert_string_equal(text, "");
	keymap_layout(f->km, layout, sizeof layout);
	assert_string_equal(layout, "d");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_us_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_follows_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setxkbmap_de, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_switch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_small_buffers, setup, teardown),
	};

	return testenv_run(tests, start_xvfb, stop_xvfb);
}
