/*
 * Tests for event: the names are part of mimic's output format, so each one is
 * checked by its exact spelling, and every name maps back to its number.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <string.h>

#include "event.h"

static void
test_kind_names(void **state)
{
	static const struct {
		int kind;
		const char *name;
	} want[] = {
		{ EVENT_KEY_PRESS, "key_press" },
		{ EVENT_KEY_RELEASE, "key_release" },
		{ EVENT_BUTTON_PRESS, "button_press" },
		{ EVENT_BUTTON_RELEASE, "button_release" },
		{ EVENT_MOTION, "motion" },
		{ EVENT_SCROLL, "scroll" },
		{ EVENT_FOCUS, "focus" },
		{ EVENT_TITLE, "title" },
		{ EVENT_PAUSE, "pause" },
		{ EVENT_RESUME, "resume" },
		{ EVENT_LAYOUT, "layout" },
		{ EVENT_DEVICES, "devices" },
		{ EVENT_SCOPE_OUT, "out_of_scope" },
		{ EVENT_SCOPE_IN, "in_scope" },
		{ EVENT_SECRET_INPUT, "secret_input" },
	};
	size_t i;

	(void)state;
	/* Every kind below EVENT_KIND_MAX_ has a name: a new kind needs one too. */
	assert_int_equal(sizeof want / sizeof want[0], EVENT_KIND_MAX_ - 1);
	for (i = 0; i < sizeof want / sizeof want[0]; i++) {
		assert_non_null(event_kind_name(want[i].kind));
		assert_string_equal(event_kind_name(want[i].kind), want[i].name);
		assert_int_equal(event_kind_from_name(want[i].name), want[i].kind);
	}
}

static void
test_kind_unknown(void **state)
{
	(void)state;
	assert_null(event_kind_name(0));
	assert_null(event_kind_name(-1));
	assert_null(event_kind_name(EVENT_KIND_MAX_));
	assert_null(event_kind_name(1000));
	assert_int_equal(event_kind_from_name("Key_Press"), 0);
	assert_int_equal(event_kind_from_name("key_press "), 0);
	assert_int_equal(event_kind_from_name("key"), 0);
	assert_int_equal(event_kind_from_name(""), 0);
	assert_int_equal(event_kind_from_name(NULL), 0);
}

static void
test_source_names(void **state)
{
	(void)state;
	assert_string_equal(event_source_name(EVENT_SOURCE_HUMAN), "human");
	assert_string_equal(event_source_name(EVENT_SOURCE_SYNTHETIC), "synthetic");
	assert_null(event_source_name(2));
	assert_null(event_source_name(-1));
}

static void
test_scroll_names(void **state)
{
	(void)state;
	assert_string_equal(event_scroll_dir_name(SCROLL_UP), "up");
	assert_string_equal(event_scroll_dir_name(SCROLL_DOWN), "down");
	assert_string_equal(event_scroll_dir_name(SCROLL_LEFT), "left");
	assert_string_equal(event_scroll_dir_name(SCROLL_RIGHT), "right");
	assert_null(event_scroll_dir_name(0));
	assert_null(event_scroll_dir_name(5));
	assert_null(event_scroll_dir_name(-3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_kind_unknown),
		cmocka_unit_test(test_source_names),
		cmocka_unit_test(test_scroll_names),
	};
	return testenv_run(tests, NULL, NULL);
}
