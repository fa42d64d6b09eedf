/*
 * Tests for clockmap: server event times mapped onto the monotonic clock keep
 * the gaps the server saw, however late each event is read; a wrap of the 32-bit
 * server time is a small step; drift is followed, slowly; and no event is ever
 * placed after the moment it was read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <stdlib.h>

#include "clockmap.h"

#define MS INT64_C(1000000)

/*
 * Whether a is within tol of b. Between reads the estimate may rise by the drift
 * allowed (CLOCKMAP_DRIFT_PPM: 20 us per 100 ms), so exact equality is not the rule.
 */
static int
near(int64_t a, int64_t b, int64_t tol)
{
	return a - b <= tol && b - a <= tol;
}

/* The reading is late by 1, 300, 5 and 40 ms: the times keep the server's 100 ms gaps. */
static void
test_late_reads_change_nothing(void **state)
{
	static const int64_t late_ms[] = { 1, 300, 5, 40, 0, 250 };
	struct clockmap *m = clockmap_new();
	int64_t base = INT64_C(5000) * 1000 * MS, prev = 0;

	(void)state;
	for (size_t i = 0; i < sizeof late_ms / sizeof late_ms[0]; i++) {
		uint32_t server = 70000 + (uint32_t)(100 * i);
		int64_t happened = base + (int64_t)(100 * i) * MS;
		int64_t read = happened + late_ms[i] * MS;
		int64_t t = clockmap_map(m, server, read);

		assert_true(t <= read);
		/* Off by at most the smallest delay seen so far (1 ms, then 0), and the drift. */
		assert_true(t >= happened && t <= happened + 1 * MS + MS / 5);
		if (i > 0 && i != 4)
			assert_true(near(t - prev, 100 * MS, MS / 5));
		prev = t;
	}
	clockmap_free(m);
}

/* The first event read late is placed late; the next one read promptly corrects the rest. */
static void
test_smaller_delay_wins(void **state)
{
	struct clockmap *m = clockmap_new();
	int64_t t1, t2, t3;

	(void)state;
	t1 = clockmap_map(m, 1000, 10000 * MS + 80 * MS);  /* happened at 10000 ms, read 80 late */
	assert_true(t1 == 10080 * MS);
	t2 = clockmap_map(m, 1100, 10100 * MS + 2 * MS);
	assert_true(t2 == 10102 * MS);
	t3 = clockmap_map(m, 1200, 10200 * MS + 500 * MS);
	assert_true(near(t3, 10202 * MS, MS / 5));
	clockmap_free(m);
}

/* 2^32 ms after its start the server's time wraps to 0: a step of a few ms, not 49 days. */
static void
test_wrap(void **state)
{
	struct clockmap *m = clockmap_new();
	int64_t a, b, c;

	(void)state;
	a = clockmap_map(m, UINT32_C(0xFFFFFFF0), 900 * MS);
	b = clockmap_map(m, UINT32_C(0x00000010), 932 * MS);
	assert_true(near(b - a, 32 * MS, MS / 100));
	/* An event stamped a little before the last one (another device) steps back. */
	c = clockmap_map(m, UINT32_C(0x0000000C), 940 * MS);
	assert_true(near(b - c, 4 * MS, MS / 100));
	clockmap_free(m);
}

/*
 * A server clock that runs 100 ppm slow (a remote X server): the offset grows,
 * and the estimate follows it within the drift allowed, never ahead of a read.
 */
static void
test_drift_followed(void **state)
{
	struct clockmap *m = clockmap_new();
	int64_t worst = 0;

	(void)state;
	for (int64_t s = 0; s <= 3600; s++) {
		int64_t happened = (INT64_C(1000) + s) * 1000 * MS;
		uint32_t server = (uint32_t)(s * 1000 - s / 10); /* loses 0.1 ms a second */
		int64_t read = happened + (s % 7) * MS;          /* read up to 6 ms late */
		int64_t t = clockmap_map(m, server, read);
		int64_t err = t > happened ? t - happened : happened - t;

		assert_true(t <= read);
		if (s > 10 && err > worst)
			worst = err;
	}
	/* One read in seven is prompt: the error stays about a millisecond. */
	assert_true(worst <= 2 * MS);
	clockmap_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_late_reads_change_nothing),
		cmocka_unit_test(test_smaller_delay_wins),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_drift_followed),
	};
	return testenv_run(tests, NULL, NULL);
}
