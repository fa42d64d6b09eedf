/*
 * Tests for util: clocks move the right way, formatted strings and causes read as
 * written, UTF-8 strings are never cut in the middle of a character, and durations
 * parse to the nanoseconds a person meant (and junk is refused).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

static void
test_clocks(void **state)
{
	struct timespec pause = { .tv_sec = 0, .tv_nsec = 20 * 1000 * 1000 };
	int64_t m1, m2, w;

	(void)state;
	m1 = util_now_mono_ns();
	nanosleep(&pause, NULL);
	m2 = util_now_mono_ns();
	assert_true(m2 - m1 >= 20 * 1000 * 1000);
	assert_true(m2 - m1 < 5 * INT64_C(1000000000));

	w = util_now_wall_ns();
	/* The wall clock agrees with time(2) to within two seconds. */
	assert_true(llabs(w / 1000000000 - (int64_t)time(NULL)) <= 2);
}

static void
test_alloc(void **state)
{
	char *s, *t;
	int *z;
	size_t i;

	(void)state;
	s = util_xmalloc(0);
	assert_non_null(s);
	free(s);
	z = util_xcalloc(100, sizeof *z);
	for (i = 0; i < 100; i++)
		assert_int_equal(z[i], 0);
	z = util_xrealloc(z, 1000 * sizeof *z);
	z[999] = 7;
	assert_int_equal(z[0], 0);
	free(z);
	t = util_xstrdup("räksmörgås");
	assert_string_equal(t, "räksmörgås");
	free(t);
}

static void
test_xasprintf(void **state)
{
	char *s;

	(void)state;
	s = util_xasprintf("%s=%d/%05.1f", "x", -3, 2.25);
	assert_string_equal(s, "x=-3/002.2");
	free(s);
	s = util_xasprintf("%s", "");
	assert_string_equal(s, "");
	free(s);
}

static void
test_fail_keeps_first_cause(void **state)
{
	char *cause = NULL;

	(void)state;
	assert_int_equal(util_fail(&cause, -EIO, "disk %s failed", "sda"), -EIO);
	assert_string_equal(cause, "disk sda failed");
	/* A later, more general failure does not overwrite the specific reason. */
	assert_int_equal(util_fail(&cause, -EINVAL, "something went wrong"), -EINVAL);
	assert_string_equal(cause, "disk sda failed");
	free(cause);
	/* A caller that does not want the text passes NULL. */
	assert_int_equal(util_fail(NULL, -ENOENT, "ignored %d", 1), -ENOENT);
}

static void
test_strlcpy_utf8(void **state)
{
	char buf[8];

	(void)state;
	/* Fits: copied whole. */
	assert_int_equal(util_strlcpy_utf8(buf, "abc", sizeof buf), 3);
	assert_string_equal(buf, "abc");
	/* Exactly n - 1 bytes fit. */
	assert_int_equal(util_strlcpy_utf8(buf, "abcdefg", sizeof buf), 7);
	assert_string_equal(buf, "abcdefg");
	/* ASCII too long: cut at n - 1. */
	assert_int_equal(util_strlcpy_utf8(buf, "abcdefghij", sizeof buf), 7);
	assert_string_equal(buf, "abcdefg");
	/* "abcdeä": ä is 2 bytes at 5..6; n - 1 = 7 fits it exactly. */
	assert_int_equal(util_strlcpy_utf8(buf, "abcde\xc3\xa4xyz", sizeof buf), 7);
	assert_string_equal(buf, "abcde\xc3\xa4");
	/* "abcdefä": ä would be cut after its first byte, so it is left out. */
	assert_int_equal(util_strlcpy_utf8(buf, "abcdef\xc3\xa4", sizeof buf), 6);
	assert_string_equal(buf, "abcdef");
	/* A 3-byte character (€) cut after one or two bytes. */
	assert_int_equal(util_strlcpy_utf8(buf, "abcde\xe2\x82\xac", sizeof buf), 5);
	assert_string_equal(buf, "abcde");
	assert_int_equal(util_strlcpy_utf8(buf, "abcdef\xe2\x82\xac", sizeof buf), 6);
	assert_string_equal(buf, "abcdef");
	/* A 4-byte character (U+1F600) cut after three bytes. */
	assert_int_equal(util_strlcpy_utf8(buf, "abcd\xf0\x9f\x98\x80", sizeof buf), 4);
	assert_string_equal(buf, "abcd");
	/* Four 2-byte characters into 8 bytes: three fit. */
	assert_int_equal(util_strlcpy_utf8(buf, "äöüß", sizeof buf), 6);
	assert_string_equal(buf, "äöü");
	/* n == 1: only the terminator. */
	assert_int_equal(util_strlcpy_utf8(buf, "\xc3\xa4", 1), 0);
	assert_string_equal(buf, "");
	/* n == 2 and a 2-byte character: nothing fits. */
	assert_int_equal(util_strlcpy_utf8(buf, "\xc3\xa4", 2), 0);
	assert_string_equal(buf, "");
	/* n == 0 writes nothing. */
	buf[0] = 'Z';
	assert_int_equal(util_strlcpy_utf8(buf, "abc", 0), 0);
	assert_int_equal(buf[0], 'Z');
	/* Invalid input (a run of continuation bytes) still terminates within n. */
	assert_int_equal(util_strlcpy_utf8(buf, "\x80\x80\x80\x80\x80\x80\x80\x80\x80", sizeof buf),
	                 7);
	assert_int_equal(strlen(buf), 7);
}

static void
test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		int64_t ns;
	} good[] = {
		{ "250ms", INT64_C(250000000) },
		{ "30s", INT64_C(30000000000) },
		{ "15m", INT64_C(900000000000) },
		{ "2h", INT64_C(7200000000000) },
		{ "7d", INT64_C(604800000000000) },
		{ "45", INT64_C(45000000000) },
		{ "0", 0 },
		{ "0ms", 0 },
		{ "007s", INT64_C(7000000000) },
		/* The largest whole number of seconds that fits. */
		{ "9223372036s", INT64_C(9223372036000000000) },
	};
	static const char *const bad[] = {
		"", "-5s", "+5s", " 5s", "5s ", "5 s", "5x", "s", "ms", "5sec", "1.5h", "5S",
		"0x10", "5mss", "5ss", "9223372037s", "99999999999999999999", "106752d",
		"9223372036854775807", "5\n", "5ms5",
	};
	int64_t ns;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		ns = -1;
		assert_int_equal(util_parse_duration(good[i].s, &ns), 0);
		assert_true(ns == good[i].ns);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ns = 12345;
		if (util_parse_duration(bad[i], &ns) != -EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_true(ns == 12345); /* untouched on failure */
	}
	assert_int_equal(util_parse_duration(NULL, &ns), -EINVAL);
}

/*
 * util_escape_ctl: what a terminal would act on (ESC sequences, BEL, CR, the C1
 * CSI) is written out; text, UTF-8 included, is kept.
 */
static void test_escape_ctl(void **state)
{
	char *s;

	(void)state;
	s = util_escape_ctl("t.conf:3: title: '\x1b[31mred\x1b]0;pwned\x07' \r\n\x7f");
	assert_string_equal(s, "t.conf:3: title: '\\x1b[31mred\\x1b]0;pwned\\x07' "
	                       "\\x0d\\x0a\\x7f");
	free(s);
	s = util_escape_ctl("caf\xc3\xa9 \xc2\x9b" "2J \xe2\x82\xac");
	assert_string_equal(s, "caf\xc3\xa9 \\u009b2J \xe2\x82\xac");
	free(s);
	s = util_escape_ctl(NULL);
	assert_string_equal(s, "");
	free(s);
}

static void test_parse_bool(void **state)
{
	static const char *const yes[] = { "true", "YES", "On", "1" };
	static const char *const no[] = { "false", "No", "OFF", "0" };
	static const char *const bad[] = { "", "2", "yess", "tru", "enabled", " yes" };
	bool b;

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		assert_int_equal(util_parse_bool(yes[i], &b), 0);
		assert_true(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		assert_int_equal(util_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = true;
		assert_int_equal(util_parse_bool(bad[i], &b), -EINVAL);
		assert_true(b);
	}
}

static void test_sibling_exe(void **state)
{
	char *path = NULL, *cause = NULL;

	(void)state;
	/* The test program's own name is beside it; a made-up one is not. */
	assert_int_equal(util_sibling_exe("test_util", &path, &cause), 0);
	assert_non_null(strstr(path, "/test_util"));
	free(path);
	assert_int_equal(util_sibling_exe("no-such-program", &path, &cause), -ENOENT);
	assert_null(path);
	assert_non_null(strstr(cause, "no-such-program is missing"));
	free(cause);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clocks),
		cmocka_unit_test(test_alloc),
		cmocka_unit_test(test_escape_ctl),
		cmocka_unit_test(test_xasprintf),
		cmocka_unit_test(test_fail_keeps_first_cause),
		cmocka_unit_test(test_strlcpy_utf8),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_sibling_exe),
	};
	return testenv_run(tests, NULL, NULL);
}
