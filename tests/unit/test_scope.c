/*
 * Unit tests for scope's rectangle arithmetic: what is left of the kept area
 * when a window (or a password field) is cut out of it. The X side of scope is
 * covered by tests/integration/test_scope.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testenv.h"

#include "scope.h"

static int64_t total_area(const struct image_rect *r, size_t n)
{
	int64_t a = 0;

	for (size_t i = 0; i < n; i++)
		a += (int64_t)r[i].w * r[i].h;
	return a;
}

static int covers(const struct image_rect *r, size_t n, int32_t x, int32_t y)
{
	for (size_t i = 0; i < n; i++)
		if (x >= r[i].x && y >= r[i].y && x < r[i].x + (int32_t)r[i].w &&
		    y < r[i].y + (int32_t)r[i].h)
			return 1;
	return 0;
}

static void test_hole_in_the_middle(void **state)
{
	struct image_rect r[SCOPE_RECTS_MAX] = { {0, 0, 100, 100} };
	struct image_rect hole = {40, 40, 20, 20};
	size_t n = scope_subtract(r, 1, SCOPE_RECTS_MAX, &hole);

	assert_int_equal(n, 4);
	assert_int_equal(total_area(r, n), 100 * 100 - 20 * 20);
	assert_false(covers(r, n, 50, 50));
	assert_false(covers(r, n, 40, 40));
	assert_true(covers(r, n, 39, 50));
	assert_true(covers(r, n, 60, 50));
	assert_true(covers(r, n, 50, 0));
	assert_true(covers(r, n, 50, 99));
}

static void test_disjoint_and_covering(void **state)
{
	struct image_rect r[SCOPE_RECTS_MAX] = { {0, 0, 10, 10}, {100, 100, 10, 10} };
	struct image_rect far = {50, 50, 5, 5}, all = {-5, -5, 200, 200};
	size_t n = scope_subtract(r, 2, SCOPE_RECTS_MAX, &far);

	assert_int_equal(n, 2);
	assert_int_equal(total_area(r, n), 200);
	n = scope_subtract(r, n, SCOPE_RECTS_MAX, &all);
	assert_int_equal(n, 0);
}

static void test_edge_overlap(void **state)
{
	struct image_rect r[SCOPE_RECTS_MAX] = { {0, 0, 100, 50} };
	struct image_rect right = {80, -10, 100, 100};
	size_t n = scope_subtract(r, 1, SCOPE_RECTS_MAX, &right);

	assert_int_equal(n, 1);
	assert_int_equal(r[0].x, 0);
	assert_int_equal(r[0].w, 80);
	assert_int_equal(r[0].h, 50);
}

static void test_never_more_than_max(void **state)
{
	/* Cutting many holes can need more pieces than fit: the smallest are masked. */
	struct image_rect r[4] = { {0, 0, 1000, 1000} };
	size_t n = 1;

	for (int i = 0; i < 10; i++) {
		struct image_rect hole = {50 + i * 90, 50 + i * 90, 10, 10};
		n = scope_subtract(r, n, 4, &hole);
		assert_true(n <= 4);
		for (int k = 0; k <= i; k++)
			assert_false(covers(r, n, 55 + k * 90, 55 + k * 90));
	}
	assert_true(total_area(r, n) < 1000 * 1000);
	assert_true(n > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hole_in_the_middle),
		cmocka_unit_test(test_disjoint_and_covering),
		cmocka_unit_test(test_edge_overlap),
		cmocka_unit_test(test_never_more_than_max),
	};
	return testenv_run(tests, NULL, NULL);
}
