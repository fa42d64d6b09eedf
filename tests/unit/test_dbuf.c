/*
 * Tests for dbuf: the bytes that go in come out, the maximum is a hard limit, and
 * a failed append leaves the buffer as it was.
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

#include "dbuf.h"

static void
test_empty_take(void **state)
{
	struct dbuf b;
	char *s;

	(void)state;
	dbuf_init(&b, 16);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	s = dbuf_take(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	dbuf_free(&b);
}

static void
test_add_and_take(void **state)
{
	struct dbuf b;
	char *s;

	(void)state;
	dbuf_init(&b, 1024);
	assert_int_equal(dbuf_add(&b, "hello", 5), 0);
	assert_int_equal(dbuf_adds(&b, ", "), 0);
	assert_int_equal(dbuf_printf(&b, "%s %d", "world", 42), 0);
	assert_int_equal(b.len, strlen("hello, world 42"));
	assert_string_equal(b.data, "hello, world 42");

	s = dbuf_take(&b);
	assert_string_equal(s, "hello, world 42");
	free(s);
	/* Taking empties the buffer; it stays usable with the same maximum. */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 1024);
	assert_int_equal(dbuf_adds(&b, "again"), 0);
	assert_string_equal(b.data, "again");
	dbuf_free(&b);
	assert_null(b.data);
}

static void
test_zero_length_add_terminates(void **state)
{
	struct dbuf b;

	(void)state;
	dbuf_init(&b, 8);
	assert_int_equal(dbuf_add(&b, "", 0), 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	dbuf_free(&b);
}

static void
test_binary_bytes(void **state)
{
	static const char bin[] = { 'a', '\0', 'b', '\n', (char)0xff };
	struct dbuf b;

	(void)state;
	dbuf_init(&b, 64);
	assert_int_equal(dbuf_add(&b, bin, sizeof bin), 0);
	assert_int_equal(b.len, sizeof bin);
	assert_memory_equal(b.data, bin, sizeof bin);
	assert_int_equal(b.data[b.len], '\0');
	dbuf_free(&b);
}

static void
test_max_is_hard_limit(void **state)
{
	struct dbuf b;

	(void)state;
	dbuf_init(&b, 10);
	assert_int_equal(dbuf_adds(&b, "0123456789"), 0); /* exactly max fits */
	assert_int_equal(b.len, 10);
	assert_int_equal(dbuf_adds(&b, "x"), -E2BIG);
	/* The failed append changed nothing. */
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "0123456789");
	assert_true(b.cap <= 11);

	dbuf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(dbuf_printf(&b, "%s", "01234567890"), -E2BIG);
	assert_int_equal(b.len, 0);
	assert_int_equal(dbuf_printf(&b, "%05d", 42), 0);
	assert_string_equal(b.data, "00042");
	assert_int_equal(dbuf_add(&b, "abcdef", 6), -E2BIG);
	assert_string_equal(b.data, "00042");
	/* A huge length must not wrap around the check. */
	assert_int_equal(dbuf_add(&b, "x", SIZE_MAX), -E2BIG);
	dbuf_free(&b);
}

static void
test_growth(void **state)
{
	struct dbuf b;
	size_t i;

	(void)state;
	dbuf_init(&b, 100000);
	for (i = 0; i < 10000; i++)
		assert_int_equal(dbuf_add(&b, "0123456789", 10), 0);
	assert_int_equal(b.len, 100000);
	assert_true(b.cap >= 100001);
	assert_true(b.cap <= 100001);
	for (i = 0; i < b.len; i++)
		assert_int_equal(b.data[i], '0' + (int)(i % 10));
	assert_int_equal(dbuf_add(&b, "x", 1), -E2BIG);
	dbuf_free(&b);
}

static void
test_max_zero(void **state)
{
	struct dbuf b;
	char *s;

	(void)state;
	dbuf_init(&b, 0);
	assert_int_equal(dbuf_adds(&b, "a"), -E2BIG);
	assert_int_equal(dbuf_adds(&b, ""), 0);
	s = dbuf_take(&b);
	assert_string_equal(s, "");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_take),
		cmocka_unit_test(test_add_and_take),
		cmocka_unit_test(test_zero_length_add_terminates),
		cmocka_unit_test(test_binary_bytes),
		cmocka_unit_test(test_max_is_hard_limit),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_max_zero),
	};
	return testenv_run(tests, NULL, NULL);
}
