/*
 * reduce_bench: measures the event → action reducer (src/dataset/reduce.c) on one core.
 *
 * It generates, from a seeded PRNG, a realistic session of N events (default 10
 * million) in memory, shaped like a day of office work: the pointer moving at ~60
 * samples/s toward targets and clicking them (single, double, triple, right), drags,
 * wheel runs, typing with Shift, corrections and pauses between words, Return /
 * Tab, hotkeys (Ctrl+S/C/V/Z), Alt+Tab with the focus change it causes, title
 * changes and idle stretches. Motion is about two thirds of the events, as in real
 * recordings. It then times reduce_push over the whole session (taking the actions
 * as they complete, as the exporter does), pinned to one CPU, and prints events/s,
 * ns/event and the actions produced by kind. The target is >= 2 million events/s.
 *
 * Build (from the top of the tree):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc/base -Isrc/dataset bench/reduce_bench.c \
 *      src/dataset/reduce*.c src/base/util.c src/base/log.c src/base/event.c -ljansson -lm \
 *      -o /tmp/reduce_bench
 * Run: /tmp/reduce_bench [-n events] [-s seed] [-r repetitions]
 */
#include "reduce.h"

#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MS INT64_C(1000000)

static uint64_t rng_state;

static uint64_t
rng(void)
{
	/* xorshift64*: fast, and the same session for the same seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

/* Uniform in [lo, hi]. */
static int
uni(int lo, int hi)
{
	return lo + (int)(rng() % (uint64_t)(hi - lo + 1));
}

struct gen {
	struct event *ev;
	size_t n, cap;
	int64_t t;       /* ns */
	int64_t id;
	int32_t ctx;
	int32_t x, y;
};

static struct event *
push(struct gen *g, int kind, int64_t dt_ms)
{
	struct event *e;

	if (g->n == g->cap)
		return NULL;
	e = &g->ev[g->n++];
	memset(e, 0, sizeof *e);
	g->t += dt_ms * MS + uni(0, 999) * 1000;
	e->id = ++g->id;
	e->t_ns = g->t;
	e->kind = kind;
	e->context = g->ctx;
	e->x = g->x;
	e->y = g->y;
	return e;
}

static void
key(struct gen *g, int64_t dt, int kc, const char *ks, const char *text, uint32_t mods,
    int press)
{
	struct event *e = push(g, press ? EVENT_KEY_PRESS : EVENT_KEY_RELEASE, dt);

	if (e == NULL)
		return;
	e->detail = kc;
	e->mods = mods;
	snprintf(e->keysym, sizeof e->keysym, "%s", ks);
	if (press)
		snprintf(e->text, sizeof e->text, "%s", text);
}

/* The pointer glides to (tx, ty) in 60 Hz samples. */
static void
move_to(struct gen *g, int tx, int ty)
{
	int steps = uni(8, 90), i;
	int32_t x0 = g->x, y0 = g->y;

	for (i = 1; i <= steps; i++) {
		g->x = x0 + (tx - x0) * i / steps + uni(-1, 1);
		g->y = y0 + (ty - y0) * i / steps + uni(-1, 1);
		push(g, EVENT_MOTION, 16);
	}
	g->x = tx;
	g->y = ty;
}

static void
button(struct gen *g, int64_t dt, int b, int press)
{
	struct event *e = push(g, press ? EVENT_BUTTON_PRESS : EVENT_BUTTON_RELEASE, dt);

	if (e != NULL)
		e->detail = b;
}

static void
gen_click(struct gen *g)
{
	int r = uni(0, 99), clicks = 1, b = 1, i;

	move_to(g, uni(0, 1919), uni(0, 1079));
	if (r < 12)
		clicks = 2;
	else if (r < 14)
		clicks = 3;
	else if (r < 20)
		b = 3;
	for (i = 0; i < clicks; i++) {
		button(g, uni(60, 150), b, 1);
		button(g, uni(40, 110), b, 0);
	}
}

static void
gen_drag(struct gen *g)
{
	int i, n = uni(10, 60);

	move_to(g, uni(0, 1919), uni(0, 1079));
	button(g, 100, 1, 1);
	for (i = 0; i < n; i++) {
		g->x += uni(-3, 12);
		g->y += uni(-3, 8);
		push(g, EVENT_MOTION, 16);
	}
	button(g, 80, 1, 0);
}

static void
gen_scroll(struct gen *g)
{
	int i, n = uni(2, 15), dir = uni(0, 3) == 0 ? SCROLL_UP : SCROLL_DOWN;
	struct event *e;

	move_to(g, uni(200, 1700), uni(200, 900));
	for (i = 0; i < n; i++) {
		e = push(g, EVENT_SCROLL, uni(30, 120));
		if (e != NULL) {
			e->detail = dir;
			e->amount = 1.0;
		}
		if (uni(0, 3) == 0) {
			g->x += uni(-2, 2);
			push(g, EVENT_MOTION, 16);
		}
	}
}

static void
gen_typing(struct gen *g)
{
	static const char letters[] = "etaoinshrdlucmfwypvbgkjqxz";
	int words = uni(1, 12), w, c, len;
	char s[2];

	for (w = 0; w < words; w++) {
		len = uni(2, 9);
		for (c = 0; c < len; c++) {
			int kc = uni(24, 58), shift = c == 0 && uni(0, 9) == 0;

			s[0] = letters[uni(0, 25)];
			s[1] = '\0';
			if (shift) {
				key(g, uni(60, 200), 50, "Shift_L", "", 0, 1);
				s[0] = (char)(s[0] - 'a' + 'A');
				key(g, 20, kc, s, s, 1, 1);
				key(g, 40, 50, "Shift_L", "", 1, 0);
				key(g, 5, kc, s, "", 0, 0);
			} else {
				key(g, uni(60, 250), kc, s, s, 0, 1);
				key(g, uni(30, 90), kc, s, "", 0, 0);
			}
			if (uni(0, 29) == 0) {
				key(g, uni(150, 400), 22, "BackSpace", "", 0, 1);
				key(g, 50, 22, "BackSpace", "", 0, 0);
			}
		}
		/* Usually a space; sometimes a pause to think that ends the run. */
		key(g, uni(0, 9) == 0 ? uni(900, 2500) : uni(80, 300), 65, "space", " ", 0, 1);
		key(g, 60, 65, "space", "", 0, 0);
	}
	if (uni(0, 1)) {
		const char *k = uni(0, 1) ? "Return" : "Tab";

		key(g, uni(100, 400), k[0] == 'R' ? 36 : 23, k, "", 0, 1);
		key(g, 70, k[0] == 'R' ? 36 : 23, k, "", 0, 0);
	}
}

static void
gen_hotkey(struct gen *g)
{
	static const char *const keys[] = { "s", "c", "v", "z", "a", "f" };
	const char *k = keys[uni(0, 5)];

	key(g, uni(100, 600), 37, "Control_L", "", 0, 1);
	key(g, uni(50, 150), 39, k, "", 4, 1);
	key(g, 60, 39, k, "", 4, 0);
	key(g, 40, 37, "Control_L", "", 4, 0);
}

static void
gen_alt_tab(struct gen *g)
{
	struct event *e;

	key(g, uni(200, 800), 64, "Alt_L", "", 0, 1);
	key(g, 80, 23, "Tab", "", 8, 1);
	key(g, 60, 23, "Tab", "", 8, 0);
	key(g, 100, 64, "Alt_L", "", 8, 0);
	g->ctx++;
	e = push(g, EVENT_FOCUS, 3);
	(void)e;
}

static void
generate(struct gen *g)
{
	while (g->n < g->cap) {
		int r = uni(0, 99);

		if (r < 45)
			gen_click(g);
		else if (r < 50)
			gen_drag(g);
		else if (r < 62)
			gen_scroll(g);
		else if (r < 80)
			gen_typing(g);
		else if (r < 86)
			gen_hotkey(g);
		else if (r < 89)
			gen_alt_tab(g);
		else if (r < 92) {
			g->ctx++;
			push(g, EVENT_TITLE, uni(100, 2000));
		} else if (r < 96) {
			g->t += (int64_t)uni(3000, 20000) * MS; /* idle */
		} else {
			move_to(g, uni(0, 1919), uni(0, 1079)); /* wandering pointer */
		}
	}
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	size_t n = 10 * 1000 * 1000, i, kinds[16], nact = 0, counts[16] = { 0 };
	int reps = 3, rep, opt, k;
	uint64_t seed = 42;
	double t0, dt[16], gen_s;
	struct gen g;
	struct reduce *r;
	struct reduce_action *a;
	cpu_set_t set;

	while ((opt = getopt(argc, argv, "n:s:r:")) != -1) {
		switch (opt) {
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'r': reps = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: reduce_bench [-n events] [-s seed] [-r reps]\n");
			return 2;
		}
	}
	if (reps < 1 || reps > 16 || n == 0) {
		fprintf(stderr, "reduce_bench: bad arguments\n");
		return 2;
	}
	/* One core: the reducer is single-threaded, and so is this measurement. */
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		perror("reduce_bench: sched_setaffinity (continuing unpinned)");

	rng_state = seed ? seed : 1;
	memset(&g, 0, sizeof g);
	g.cap = n;
	g.ev = calloc(n, sizeof *g.ev);
	if (g.ev == NULL) {
		fprintf(stderr, "reduce_bench: out of memory for %zu events\n", n);
		return 1;
	}
	g.t = INT64_C(1000000000000);
	g.ctx = 1;
	g.x = 960;
	g.y = 540;
	t0 = now_s();
	push(&g, EVENT_FOCUS, 0);
	generate(&g);
	gen_s = now_s() - t0;
	memset(kinds, 0, sizeof kinds);
	for (i = 0; i < n; i++)
		kinds[g.ev[i].kind & 15]++;
	printf("session: %zu events (%.1f h of recording, generated in %.2f s): "
	       "motion %.1f%%, keys %.1f%%, buttons %.1f%%, scroll %.1f%%, focus/title %.2f%%\n",
	       n, (double)(g.t - g.ev[0].t_ns) / 3.6e12, gen_s, 100.0 * kinds[EVENT_MOTION] / n,
	       100.0 * (kinds[EVENT_KEY_PRESS] + kinds[EVENT_KEY_RELEASE]) / n,
	       100.0 * (kinds[EVENT_BUTTON_PRESS] + kinds[EVENT_BUTTON_RELEASE]) / n,
	       100.0 * kinds[EVENT_SCROLL] / n,
	       100.0 * (kinds[EVENT_FOCUS] + kinds[EVENT_TITLE]) / n);

	for (rep = 0; rep < reps; rep++) {
		if (reduce_new(NULL, &r) != 0)
			return 1;
		nact = 0;
		memset(counts, 0, sizeof counts);
		t0 = now_s();
		for (i = 0; i < n; i++) {
			reduce_push(r, &g.ev[i]);
			while ((a = reduce_take(r)) != NULL) {
				nact++;
				counts[a->kind & 15]++;
			}
		}
		reduce_finish(r);
		while ((a = reduce_take(r)) != NULL) {
			nact++;
			counts[a->kind & 15]++;
		}
		dt[rep] = now_s() - t0;
		reduce_free(r);
		printf("run %d: %.3f s, %.2f M events/s, %.1f ns/event, %zu actions\n", rep + 1,
		       dt[rep], n / dt[rep] / 1e6, dt[rep] * 1e9 / n, nact);
	}
	qsort(dt, (size_t)reps, sizeof dt[0], cmp_double);
	printf("actions by kind:");
	for (k = REDUCE_CLICK; k <= REDUCE_SWITCH; k++) {
		struct reduce_action tmp;

		memset(&tmp, 0, sizeof tmp);
		tmp.kind = k;
		tmp.count = 1;
		tmp.button = 1;
		printf(" %s %zu", k == REDUCE_CLICK ? "click(all)" : reduce_action_name(&tmp),
		       counts[k]);
	}
	printf("\nmedian: %.2f M events/s (%.1f ns/event) on one core; target >= 2 M/s: %s\n",
	       n / dt[reps / 2] / 1e6, dt[reps / 2] * 1e9 / n,
	       n / dt[reps / 2] >= 2e6 ? "met" : "NOT met");
	free(g.ev);
	return n / dt[reps / 2] >= 2e6 ? 0 : 1;
}
