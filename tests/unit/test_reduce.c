/*
 * Tests for reduce: the event → action reducer and its renderings.
 *
 * The golden tests load sessions recorded with the real recorder (Xvfb, openbox,
 * xterm, xdotool: tests/fixtures/reduce/record.py), reduce them and compare every
 * action, as the step JSON of docs/ACTIONS.md, with NAME.expected line by line.
 * They also assert the few things a person would check first (the typed text, the
 * hotkey, the labels) directly, so a regenerated golden file cannot hide a wrong
 * action. To regenerate after a deliberate change, run the test with
 * MIMIC_REDUCE_UPDATE=1 and read the diff of the .expected files.
 *
 * The other tests build small event sequences by hand for the edge cases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event.h"
#include "reduce.h"

#define MS INT64_C(1000000)
#define SCREEN_W 1280
#define SCREEN_H 800

/* ------------------------------------------------------------------------- */
/* Loading `mimic events` JSON Lines                                          */

struct session {
	struct event *ev;
	size_t n;
};

static int
dir_from_name(const char *s)
{
	int d;

	for (d = SCROLL_UP; d <= SCROLL_RIGHT; d++)
		if (strcmp(event_scroll_dir_name(d), s) == 0)
			return d;
	return 0;
}

/* Reads exactly the fields docs/EVENTS.md documents into struct event. */
static void
load_session(const char *name, struct session *s)
{
	const char *srcdir = getenv("MIMIC_SRCDIR");
	char path[4096], *line = NULL;
	size_t cap = 0, alloc = 0;
	json_error_t err;
	FILE *f;

	snprintf(path, sizeof path, "%s/tests/fixtures/reduce/%s.jsonl", srcdir ? srcdir : ".",
	         name);
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	s->ev = NULL;
	s->n = 0;
	while (getline(&line, &cap, f) > 0) {
		json_t *o = json_loads(line, 0, &err), *v;
		struct event *e;

		if (o == NULL)
			fail_msg("%s: %s", path, err.text);
		if (s->n == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			s->ev = realloc(s->ev, alloc * sizeof *s->ev);
			assert_non_null(s->ev);
		}
		e = &s->ev[s->n++];
		memset(e, 0, sizeof *e);
		e->id = json_integer_value(json_object_get(o, "id"));
		e->t_ns = json_integer_value(json_object_get(o, "t_ns"));
		e->kind = event_kind_from_name(json_string_value(json_object_get(o, "kind")));
		assert_int_not_equal(e->kind, 0);
		e->context = (int32_t)json_integer_value(json_object_get(o, "context"));
		v = json_object_get(o, "source");
		if (v != NULL && strcmp(json_string_value(v), "synthetic") == 0)
			e->source = EVENT_SOURCE_SYNTHETIC;
		e->device = (int32_t)json_integer_value(json_object_get(o, "device"));
		e->x = (int32_t)json_integer_value(json_object_get(o, "x"));
		e->y = (int32_t)json_integer_value(json_object_get(o, "y"));
		e->mods = (uint32_t)json_integer_value(json_object_get(o, "mods"));
		if ((v = json_object_get(o, "keycode")) != NULL)
			e->detail = (int32_t)json_integer_value(v);
		if ((v = json_object_get(o, "button")) != NULL)
			e->detail = (int32_t)json_integer_value(v);
		if ((v = json_object_get(o, "direction")) != NULL)
			e->detail = dir_from_name(json_string_value(v));
		if ((v = json_object_get(o, "amount")) != NULL)
			e->amount = json_number_value(v);
		if ((v = json_object_get(o, "keysym")) != NULL)
			snprintf(e->keysym, sizeof e->keysym, "%s", json_string_value(v));
		if ((v = json_object_get(o, "text")) != NULL)
			snprintf(e->text, sizeof e->text, "%s", json_string_value(v));
		json_decref(o);
	}
	free(line);
	fclose(f);
	assert_true(s->n > 0);
}

/* ------------------------------------------------------------------------- */
/* Running the reducer                                                        */

#define MAX_ACTIONS 256

struct run {
	struct reduce_action *a; /* copies of the actions taken, in order */
	size_t n;
};

static void
collect(struct reduce *r, struct run *out)
{
	struct reduce_action *a;

	while ((a = reduce_take(r)) != NULL) {
		assert_true(out->n < MAX_ACTIONS);
		out->a[out->n++] = *a;
	}
}

/* Reduces n events (taking actions after every push, as a streaming user would). */
static void
run_events(const struct event *ev, size_t n, const struct reduce_params *p,
           reduce_element_fn fn, void *arg, struct run *out)
{
	struct reduce *r = NULL;
	size_t i;

	out->a = calloc(MAX_ACTIONS, sizeof *out->a);
	assert_non_null(out->a);
	out->n = 0;
	assert_int_equal(reduce_new(p, &r), 0);
	reduce_set_elements(r, fn, arg);
	for (i = 0; i < n; i++) {
		assert_int_equal(reduce_push(r, &ev[i]), 0);
		collect(r, out);
	}
	assert_int_equal(reduce_finish(r), 0);
	collect(r, out);
	assert_int_equal(reduce_push(r, &ev[0]), -EINVAL);
	assert_int_equal(reduce_finish(r), -EINVAL);
	reduce_free(r);
}

static void
run_free(struct run *out)
{
	free(out->a);
	out->a = NULL;
}

/* "name/interaction[/detail]": what a person checks first about an action. */
static void
summary(const struct reduce_action *a, char *buf, size_t n)
{
	char d[2048];
	int rc;

	d[0] = '\0';
	if (a->kind == REDUCE_TYPE) {
		snprintf(d, sizeof d, "/%s", a->text);
	} else {
		rc = reduce_action_computer_use(a, d + 1, sizeof d - 1);
		if (rc == 0)
			d[0] = '/';
		else
			assert_int_equal(rc, -ENOTSUP);
	}
	snprintf(buf, n, "%s/%s%s", reduce_action_name(a), reduce_interaction_name(a->interaction),
	         d);
}

static void
assert_summaries(const struct run *out, const char *const *want, size_t n_want)
{
	char got[4096];
	size_t i;

	for (i = 0; i < out->n && i < n_want; i++) {
		summary(&out->a[i], got, sizeof got);
		if (strcmp(got, want[i]) != 0)
			fail_msg("action %zu:\n  got  %s\n  want %s", i, got, want[i]);
	}
	if (out->n != n_want) {
		for (i = 0; i < out->n; i++) {
			summary(&out->a[i], got, sizeof got);
			print_message("  %zu: %s\n", i, got);
		}
		fail_msg("got %zu actions, want %zu", out->n, n_want);
	}
}

/* Compares the step JSON of every action with tests/fixtures/reduce/NAME.expected. */
static void
assert_golden(const char *name, const struct run *out)
{
	const char *srcdir = getenv("MIMIC_SRCDIR");
	const char *update = getenv("MIMIC_REDUCE_UPDATE");
	static char json[65536];
	char path[4096], *line = NULL;
	size_t cap = 0, i = 0;
	ssize_t k;
	FILE *f;

	snprintf(path, sizeof path, "%s/tests/fixtures/reduce/%s.expected", srcdir ? srcdir : ".",
	         name);
	if (update != NULL && strcmp(update, "1") == 0) {
		/* Regenerating compares nothing: in CI that would be a pass that checked nothing. */
		if (testenv_ci())
			fail_msg("MIMIC_REDUCE_UPDATE=1 rewrites %s instead of comparing with it; "
			         "CI must compare", path);
		f = fopen(path, "w");
		assert_non_null(f);
		for (i = 0; i < out->n; i++) {
			assert_int_equal(reduce_action_json(&out->a[i], SCREEN_W, SCREEN_H, json,
			                                    sizeof json), 0);
			fprintf(f, "%s\n", json);
		}
		fclose(f);
		return;
	}
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	while ((k = getline(&line, &cap, f)) > 0) {
		if (line[k - 1] == '\n')
			line[k - 1] = '\0';
		if (i >= out->n)
			fail_msg("%s: line %zu: no action for it:\n  want %s", name, i + 1, line);
		assert_int_equal(reduce_action_json(&out->a[i], SCREEN_W, SCREEN_H, json,
		                                    sizeof json), 0);
		if (strcmp(json, line) != 0)
			fail_msg("%s: line %zu differs:\n  got  %s\n  want %s", name, i + 1, json, line);
		i++;
	}
	free(line);
	fclose(f);
	if (i != out->n)
		fail_msg("%s: %zu actions, %zu expected lines", name, out->n, i);
}

/* ------------------------------------------------------------------------- */
/* Golden tests on recorded sessions                                          */

static void
test_golden_pointer(void **state)
{
	static const char *const want[] = {
		"double_click/click/{\"action\":\"double_click\",\"coordinate\":[120,110]}",
		"triple_click/click/{\"action\":\"triple_click\",\"coordinate\":[150,140]}",
		"drag/drag_and_drop/{\"action\":\"left_click_drag\",\"start_coordinate\":[200,120],"
		"\"coordinate\":[300,200]}",
		"scroll/scrolling/{\"action\":\"scroll\",\"coordinate\":[300,250],"
		"\"scroll_direction\":\"down\",\"scroll_amount\":3}",
		"scroll/scrolling/{\"action\":\"scroll\",\"coordinate\":[300,250],"
		"\"scroll_direction\":\"up\",\"scroll_amount\":2}",
		"right_click/click/{\"action\":\"right_click\",\"coordinate\":[320,260]}",
		"middle_click/click/{\"action\":\"middle_click\",\"coordinate\":[320,260]}",
		"move/other/{\"action\":\"mouse_move\",\"coordinate\":[420,300]}",
		"wait/other/{\"action\":\"wait\",\"duration\":3.516}",
		/* Clicking into term B focused it: the click is the window switch. */
		"click/window_switch/{\"action\":\"left_click\",\"coordinate\":[700,400]}",
	};
	struct session s;
	struct run out;

	(void)state;
	load_session("pointer", &s);
	run_events(s.ev, s.n, NULL, NULL, NULL, &out);
	assert_summaries(&out, want, sizeof want / sizeof want[0]);
	/* The double click came from two presses and two releases after one motion. */
	assert_int_equal(out.a[0].n_ids, 4);
	assert_int_equal(out.a[0].ids[0], 3);
	assert_int_equal(out.a[0].ids[3], 6);
	assert_int_equal(out.a[0].ev_first, 2);
	assert_int_equal(out.a[0].source, REDUCE_SOURCE_SYNTHETIC);
	/* The drag keeps its trajectory. */
	assert_int_equal(out.a[2].path_len, 4);
	assert_int_equal(out.a[2].path[3].x, 300);
	assert_int_equal(out.a[9].context, 1);
	assert_int_equal(out.a[9].context_after, 2);
	assert_golden("pointer", &out);
	run_free(&out);
	free(s.ev);
}

static void
test_golden_keys(void **state)
{
	static const char *const want[] = {
		"type/text_entry/hello world",
		"hotkey/keyboard_shortcut/{\"action\":\"key\",\"text\":\"ctrl+s\"}",
		"hotkey/keyboard_shortcut/{\"action\":\"key\",\"text\":\"ctrl+q\"}",
		"press/form_navigation/{\"action\":\"key\",\"text\":\"Return\"}",
		"press/form_navigation/{\"action\":\"key\",\"text\":\"Tab\"}",
		"type/text_entry/Ab",
		"press/other/{\"action\":\"key\",\"text\":\"Left\"}",
		"type/text_entry/c",
		"wait/other/{\"action\":\"wait\",\"duration\":3.531}",
		"press/other/{\"action\":\"key\",\"text\":\"Escape\"}",
		"hotkey/window_switch/{\"action\":\"key\",\"text\":\"alt+Tab\"}",
	};
	struct session s;
	struct run out;
	char py[256];

	(void)state;
	load_session("keys", &s);
	run_events(s.ev, s.n, NULL, NULL, NULL, &out);
	assert_summaries(&out, want, sizeof want / sizeof want[0]);
	assert_int_equal(reduce_action_pyautogui(&out.a[0], SCREEN_W, SCREEN_H, 1, py, sizeof py), 0);
	assert_string_equal(py, "pyautogui.write(message='hello world')");
	assert_int_equal(reduce_action_pyautogui(&out.a[1], SCREEN_W, SCREEN_H, 1, py, sizeof py), 0);
	assert_string_equal(py, "pyautogui.hotkey('ctrl', 's')");
	assert_int_equal(reduce_action_pyautogui(&out.a[3], SCREEN_W, SCREEN_H, 1, py, sizeof py), 0);
	assert_string_equal(py, "pyautogui.press('enter')");
	/* ctrl+s: Control press, s press, Control release, s release (the repeated
	 * Control release xdotool sends belongs to nothing). */
	assert_int_equal(out.a[1].n_ids, 4);
	assert_int_equal(out.a[1].ids[0], 28);
	assert_int_equal(out.a[1].ids[1], 29);
	assert_int_equal(out.a[1].ids[2], 30);
	assert_int_equal(out.a[1].ids[3], 32);
	assert_int_equal(out.a[10].context_after, 2);
	assert_golden("keys", &out);
	run_free(&out);
	free(s.ev);
}

/* The element table for elements.jsonl: what the UI-element module would say. */
struct rect_el {
	int x0, y0, x1, y1;
	struct reduce_element el;
};

static const char *const anc_menu[] = { "menu", "menu bar", "frame" };
static const char *const anc_frame[] = { "panel", "frame" };

static const struct rect_el table[] = {
	{ 80, 90, 140, 110, { 11, "combo box", "Region", anc_frame, 2 } },
	/* The popup list's item: no combo ancestor; the previous click tells. */
	{ 80, 150, 180, 170, { 12, "list item", "Asia", NULL, 0 } },
	{ 280, 90, 340, 110, { 13, "push button", "OK", anc_frame, 2 } },
	{ 10, 30, 60, 50, { 14, "menu", "File", anc_menu + 1, 2 } },
	{ 20, 70, 120, 90, { 15, "menu item", "Save", anc_menu, 3 } },
	{ 150, 240, 260, 260, { 16, "text", "City", anc_frame, 2 } },
	{ 300, 150, 480, 300, { 17, "list", "Cities", anc_frame, 2 } },
};

static const struct reduce_element *
element_at(int x, int y)
{
	size_t i;

	for (i = 0; i < sizeof table / sizeof table[0]; i++)
		if (x >= table[i].x0 && x < table[i].x1 && y >= table[i].y0 && y < table[i].y1)
			return &table[i].el;
	return NULL;
}

/* Pointer events: the element under the pointer; keys: the last one clicked. */
static const struct reduce_element *
element_for(void *arg, int64_t id)
{
	const struct session *s = arg;
	size_t i;

	for (i = 0; i < s->n && s->ev[i].id != id; i++)
		;
	if (i == s->n)
		return NULL;
	if (s->ev[i].kind == EVENT_KEY_PRESS) {
		while (i > 0 && s->ev[i].kind != EVENT_BUTTON_PRESS)
			i--;
		if (s->ev[i].kind != EVENT_BUTTON_PRESS)
			return NULL;
	}
	return element_at(s->ev[i].x, s->ev[i].y);
}

static void
test_golden_elements(void **state)
{
	static const char *const want[] = {
		"click/dropdown_selection/{\"action\":\"left_click\",\"coordinate\":[100,100]}",
		"click/dropdown_selection/{\"action\":\"left_click\",\"coordinate\":[120,160]}",
		"click/button_press/{\"action\":\"left_click\",\"coordinate\":[300,100]}",
		"click/menu_navigation/{\"action\":\"left_click\",\"coordinate\":[30,40]}",
		"click/menu_navigation/{\"action\":\"left_click\",\"coordinate\":[50,80]}",
		"click/dropdown_selection/{\"action\":\"left_click\",\"coordinate\":[100,100]}",
		"press/dropdown_selection/{\"action\":\"key\",\"text\":\"Down Down\"}",
		"press/dropdown_selection/{\"action\":\"key\",\"text\":\"Return\"}",
		"click/click/{\"action\":\"left_click\",\"coordinate\":[200,250]}",
		"type/text_entry/Asia",
		"hotkey/keyboard_shortcut/{\"action\":\"key\",\"text\":\"ctrl+a\"}",
		"press/form_navigation/{\"action\":\"key\",\"text\":\"Tab\"}",
		"scroll/scrolling/{\"action\":\"scroll\",\"coordinate\":[350,200],"
		"\"scroll_direction\":\"down\",\"scroll_amount\":2}",
	};
	struct session s;
	struct run out;

	(void)state;
	load_session("elements", &s);
	run_events(s.ev, s.n, NULL, element_for, &s, &out);
	assert_summaries(&out, want, sizeof want / sizeof want[0]);
	assert_int_equal(out.a[0].element_id, 11);
	assert_int_equal(out.a[1].element_id, 12);
	assert_int_equal(out.a[12].element_id, 17);
	assert_golden("elements", &out);
	run_free(&out);

	/* Without elements every click is a generic click, the rest is unchanged. */
	run_events(s.ev, s.n, NULL, NULL, NULL, &out);
	assert_int_equal(out.n, 13);
	assert_int_equal(out.a[0].interaction, REDUCE_I_CLICK);
	assert_int_equal(out.a[1].interaction, REDUCE_I_CLICK);
	assert_int_equal(out.a[2].interaction, REDUCE_I_CLICK);
	assert_int_equal(out.a[6].interaction, REDUCE_I_OTHER);
	assert_int_equal(out.a[7].interaction, REDUCE_I_FORM_NAVIGATION);
	assert_int_equal(out.a[10].interaction, REDUCE_I_KEYBOARD_SHORTCUT);
	assert_int_equal(out.a[0].element_id, 0);
	run_free(&out);
	free(s.ev);
}

/* ------------------------------------------------------------------------- */
/* Hand-built sequences                                                       */

struct seq {
	struct event ev[4096];
	size_t n;
	int64_t t;   /* ms */
	int64_t id;
	int src;
};

static struct event *
add(struct seq *q, int kind, int64_t dt_ms)
{
	struct event *e;

	assert_true(q->n < sizeof q->ev / sizeof q->ev[0]);
	e = &q->ev[q->n++];
	memset(e, 0, sizeof *e);
	q->t += dt_ms;
	e->id = ++q->id;
	e->t_ns = INT64_C(1000000000000) + q->t * MS;
	e->kind = kind;
	e->source = q->src;
	e->context = 1;
	return e;
}

static void
key(struct seq *q, int64_t dt, int kc, const char *ks, const char *text, uint32_t mods)
{
	struct event *e = add(q, EVENT_KEY_PRESS, dt);

	e->detail = kc;
	e->mods = mods;
	snprintf(e->keysym, sizeof e->keysym, "%s", ks);
	snprintf(e->text, sizeof e->text, "%s", text);
}

static void
rel(struct seq *q, int64_t dt, int kc, const char *ks)
{
	struct event *e = add(q, EVENT_KEY_RELEASE, dt);

	e->detail = kc;
	snprintf(e->keysym, sizeof e->keysym, "%s", ks);
}

/* A key with text, pressed and released 20 ms later; the next comes 40 ms on. */
static void
tap(struct seq *q, int kc, const char *ks, const char *text)
{
	key(q, 40, kc, ks, text, 0);
	rel(q, 20, kc, ks);
}

static void
btn(struct seq *q, int64_t dt, int kind, int b, int x, int y)
{
	struct event *e = add(q, kind, dt);

	e->detail = b;
	e->x = x;
	e->y = y;
}

static void
click(struct seq *q, int64_t dt, int b, int x, int y)
{
	btn(q, dt, EVENT_BUTTON_PRESS, b, x, y);
	btn(q, 10, EVENT_BUTTON_RELEASE, b, x, y);
}

static void
motion(struct seq *q, int64_t dt, int x, int y)
{
	struct event *e = add(q, EVENT_MOTION, dt);

	e->x = x;
	e->y = y;
}

static void
scroll(struct seq *q, int64_t dt, int dir, double amount, int x, int y)
{
	struct event *e = add(q, EVENT_SCROLL, dt);

	e->detail = dir;
	e->amount = amount;
	e->x = x;
	e->y = y;
}

static void
focus(struct seq *q, int64_t dt, int ctx)
{
	struct event *e = add(q, EVENT_FOCUS, dt);

	e->context = ctx;
}

static struct seq *
seq_new(void)
{
	struct seq *q = calloc(1, sizeof *q);

	assert_non_null(q);
	focus(q, 0, 1); /* the recorder's first event: the window in focus */
	return q;
}

static void
check(struct seq *q, const char *const *want, size_t n_want, struct run *out)
{
	run_events(q->ev, q->n, NULL, NULL, NULL, out);
	assert_summaries(out, want, n_want);
}

#define CHECK(q, out, ...) do { \
	static const char *const want_[] = { __VA_ARGS__ }; \
	check(q, want_, sizeof want_ / sizeof want_[0], out); \
} while (0)

static void
test_unpaired_releases(void **state)
{
	struct seq *q = seq_new();
	struct run out;

	(void)state;
	rel(q, 10, 37, "Control_L");           /* held when recording began */
	btn(q, 10, EVENT_BUTTON_RELEASE, 1, 5, 5);
	rel(q, 10, 38, "a");
	key(q, 10, 37, "Control_L", "", 0);    /* xdotool: ctrl+s, Control released twice */
	key(q, 5, 39, "s", "", 4);
	rel(q, 5, 37, "Control_L");
	rel(q, 0, 37, "Control_L");
	rel(q, 5, 39, "s");
	tap(q, 53, "x", "x");
	CHECK(q, &out,
	      "hotkey/keyboard_shortcut/{\"action\":\"key\",\"text\":\"ctrl+s\"}",
	      "type/text_entry/x");
	assert_int_equal(out.a[0].n_ids, 4);
	assert_int_equal(out.a[0].ids[3], 9);
	assert_int_equal(out.a[1].n_ids, 2);
	run_free(&out);
	free(q);
}

static void
test_two_sources(void **state)
{
	struct seq *q = seq_new();
	struct run out;

	(void)state;
	tap(q, 38, "a", "a");
	tap(q, 56, "b", "b");
	q->src = EVENT_SOURCE_SYNTHETIC;
	tap(q, 54, "c", "c");
	tap(q, 40, "d", "d");
	q->src = EVENT_SOURCE_HUMAN;
	btn(q, 100, EVENT_BUTTON_PRESS, 1, 50, 50);
	q->src = EVENT_SOURCE_SYNTHETIC;
	btn(q, 10, EVENT_BUTTON_RELEASE, 1, 50, 50);
	CHECK(q, &out, "type/text_entry/ab", "type/text_entry/cd",
	      "click/click/{\"action\":\"left_click\",\"coordinate\":[50,50]}");
	assert_int_equal(out.a[0].source, REDUCE_SOURCE_HUMAN);
	assert_int_equal(out.a[1].source, REDUCE_SOURCE_SYNTHETIC);
	assert_int_equal(out.a[2].source, REDUCE_SOURCE_MIXED);
	run_free(&out);
	free(q);
}

/* The agent server's events (docs/AGENTS.md) make actions of their own, never joined with others. */
static void
test_agent_source(void **state)
{
	struct seq *q = seq_new();
	struct run out;

	(void)state;
	q->src = EVENT_SOURCE_AGENT;
	tap(q, 38, "a", "a");
	tap(q, 56, "b", "b");
	q->src = EVENT_SOURCE_SYNTHETIC;
	tap(q, 54, "c", "c");
	q->src = EVENT_SOURCE_AGENT;
	btn(q, 100, EVENT_BUTTON_PRESS, 1, 50, 50);
	btn(q, 10, EVENT_BUTTON_RELEASE, 1, 50, 50);
	btn(q, 300, EVENT_BUTTON_PRESS, 1, 60, 60);
	q->src = EVENT_SOURCE_HUMAN;
	btn(q, 10, EVENT_BUTTON_RELEASE, 1, 60, 60);
	CHECK(q, &out, "type/text_entry/ab", "type/text_entry/c",
	      "click/click/{\"action\":\"left_click\",\"coordinate\":[50,50]}",
	      "click/click/{\"action\":\"left_click\",\"coordinate\":[60,60]}");
	assert_int_equal(out.a[0].source, REDUCE_SOURCE_AGENT);
	assert_int_equal(out.a[1].source, REDUCE_SOURCE_SYNTHETIC);
	assert_int_equal(out.a[2].source, REDUCE_SOURCE_AGENT);
	assert_int_equal(out.a[3].source, REDUCE_SOURCE_MIXED);
	assert_string_equal(reduce_source_name(REDUCE_SOURCE_AGENT), "agent");
	assert_string_equal(event_source_name(EVENT_SOURCE_AGENT), "agent");
	run_free(&out);
	free(q);
}

static void
test_run_interrupted_by_click(void **state)
{
	struct seq *q = seq_new();
	struct run out;

	(void)state;
	tap(q, 38, "a", "a");
	tap(q, 56, "b", "b");
	click(q, 50, 1, 10, 10);
	tap(q, 54, "c", "c");
	CHECK(q, &out, "type/text_entry/ab",
	      "click/click/{\"action\":\"left_click\",\"coordinate\":[10,10]}",
	      "type/text_entry/c");
	run_free(&out);
	free(q);
}

static void
test_utf8_backspace(void **state)
{
	struct seq *q = seq_new();
	struct run out;

	(void)state;
	tap(q, 38, "a", "a");
	tap(q, 48, "adiaeresis", "ä");
	tap(q, 26, "EuroSign", "€");
	tap(q, 27, "U1F600", "😀");
	tap(q, 22, "BackSpace", "");
	tap(q, 22, "BackSpace", "");
	tap(q, 49, "odiaeresis", "ö");
	CHECK(q, &out, "type/text_entry/aäö");
	assert_int_equal(out.a[0].text_len, strlen("aäö"));
	run_free(&out);
	free(q);

	/* Erasing past the run's start deletes text from before: a BackSpace press. */
	q = seq_new();
	tap(q, 38, "ä", "ä");
	tap(q, 22, "BackSpace", "");
	tap(q, 22, "BackSpace", "");
	CHECK(q, &out, "press/other/{\"action\":\"key\",\"text\":\"BackSpace\"}");
	run_free(&out);
	free(q);
}

static void
test_idle_wait(void **state)
{
	struct seq *q = seq_new();
	struct run out;

	(void)state;
	tap(q, 38, "a", "a");
	motion(q, 100, 500, 500);
	motion(q, 16, 510, 500);  /* origin unknown: the path starts at 500,500 */
	key(q, 5000, 56, "b", "b", 0);
	rel(q, 10, 56, "b");
	motion(q, 3000, 512, 501); /* a nudge is not a move */
	key(q, 10, 54, "c", "c", 0);
	CHECK(q, &out, "type/text_entry/a",
	      "move/other/{\"action\":\"mouse_move\",\"coordinate\":[510,500]}",
	      "wait/other/{\"action\":\"wait\",\"duration\":5}",
	      "type/text_entry/b",
	      "wait/other/{\"action\":\"wait\",\"duration\":3}",
	      "type/text_entry/c");
	assert_int_equal(out.a[2].duration_ns, 5000 * MS);
	run_free(&out);
	free(q);
}

static void
test_keys(void **state)
{
	struct seq *q = seq_new();
	struct run out;
	char py[512];

	(void)state;
	/* Ctrl held over three z: one hotkey pressed three times. */
	key(q, 50, 37, "Control_L", "", 0);
	tap(q, 52, "z", "");
	q->ev[q->n - 2].mods = 4;
	tap(q, 52, "z", "");
	q->ev[q->n - 2].mods = 4;
	tap(q, 52, "z", "");
	q->ev[q->n - 2].mods = 4;
	rel(q, 10, 37, "Control_L");
	/* Down three times, then Shift+Tab (ISO_Left_Tab). */
	tap(q, 116, "Down", "");
	tap(q, 116, "Down", "");
	tap(q, 116, "Down", "");
	key(q, 50, 50, "Shift_L", "", 0);
	key(q, 10, 23, "ISO_Left_Tab", "", 1);
	rel(q, 10, 23, "ISO_Left_Tab");
	rel(q, 10, 50, "Shift_L");
	/* AltGr+q types "@"; a lone Super tap is a press of it. */
	key(q, 50, 108, "ISO_Level3_Shift", "", 0);
	key(q, 10, 24, "at", "@", 128);
	rel(q, 10, 24, "at");
	rel(q, 10, 108, "ISO_Level3_Shift");
	key(q, 50, 133, "Super_L", "", 0);
	rel(q, 50, 133, "Super_L");
	/* A lone space is a press; inside text it is text. */
	tap(q, 65, "space", " ");
	key(q, 1500, 38, "a", "a", 0);
	tap(q, 65, "space", " ");
	tap(q, 56, "b", "b");
	/* Delete inside a run splits it honestly. */
	tap(q, 119, "Delete", "");
	tap(q, 54, "c", "c");
	/* Caps Lock and dead keys make no action of their own. */
	tap(q, 66, "Caps_Lock", "");
	tap(q, 20, "dead_acute", "");
	tap(q, 26, "e", "e");
	CHECK(q, &out,
	      "hotkey/keyboard_shortcut/{\"action\":\"key\",\"text\":\"ctrl+z ctrl+z ctrl+z\"}",
	      "press/other/{\"action\":\"key\",\"text\":\"Down Down Down\"}",
	      "press/form_navigation/{\"action\":\"key\",\"text\":\"shift+Tab\"}",
	      "type/text_entry/@",
	      "press/other/{\"action\":\"key\",\"text\":\"Super_L\"}",
	      "press/other/{\"action\":\"key\",\"text\":\"space\"}",
	      "type/text_entry/a b",
	      "press/other/{\"action\":\"key\",\"text\":\"Delete\"}",
	      "type/text_entry/ce");
	assert_int_equal(reduce_action_pyautogui(&out.a[0], 0, 0, 0, py, sizeof py), 0);
	assert_string_equal(py, "pyautogui.keyDown('ctrl')\npyautogui.press('z', presses=3)\n"
	                        "pyautogui.keyUp('ctrl')");
	assert_int_equal(reduce_action_pyautogui(&out.a[1], 0, 0, 0, py, sizeof py), 0);
	assert_string_equal(py, "pyautogui.press('down', presses=3)");
	assert_int_equal(reduce_action_pyautogui(&out.a[2], 0, 0, 0, py, sizeof py), 0);
	assert_string_equal(py, "pyautogui.hotkey('shift', 'tab')");
	assert_int_equal(reduce_action_pyautogui(&out.a[4], 0, 0, 0, py, sizeof py), 0);
	assert_string_equal(py, "pyautogui.press('win')");
	assert_int_equal(reduce_action_pyautogui(&out.a[5], 0, 0, 0, py, sizeof py), 0);
	assert_string_equal(py, "pyautogui.press('space')");
	run_free(&out);
	free(q);
}

static void
test_type_gap_and_long_text(void **state)
{
	struct seq *q = seq_new();
	struct run out;
	int i;

	(void)state;
	tap(q, 38, "a", "a");
	key(q, 1200, 56, "b", "b", 0);
	rel(q, 10, 56, "b");
	/* 1100 characters: the run is split where its text would overflow. */
	key(q, 1200, 54, "c", "c", 0);
	rel(q, 20, 54, "c");
	for (i = 1; i < 1100; i++)
		tap(q, 54, "c", "c");
	run_events(q->ev, q->n, NULL, NULL, NULL, &out);
	assert_int_equal(out.n, 4);
	assert_string_equal(out.a[0].text, "a");
	assert_string_equal(out.a[1].text, "b");
	assert_int_equal(out.a[2].text_len, REDUCE_TEXT_MAX - 1);
	assert_int_equal(out.a[3].text_len, 1100 - (REDUCE_TEXT_MAX - 1));
	/* Provenance of a long run: the first ids and the last, counted in full. */
	assert_true(out.a[2].ids_truncated);
	assert_int_equal(out.a[2].n_ids, REDUCE_IDS_MAX);
	assert_int_equal(out.a[2].ev_count, 2 * (REDUCE_TEXT_MAX - 1));
	assert_int_equal(out.a[2].ids[REDUCE_IDS_MAX - 1], out.a[2].ev_last);
	run_free(&out);
	free(q);
}

static void
test_clicks(void **state)
{
	struct seq *q = seq_new();
	struct run out;

	(void)state;
	/* Four quick presses: a triple click, then a click. */
	click(q, 100, 1, 100, 100);
	click(q, 100, 1, 101, 100);
	click(q, 100, 1, 100, 102);
	click(q, 100, 1, 100, 100);
	/* Too far apart (6 px) for a double click. */
	click(q, 1000, 1, 200, 200);
	click(q, 100, 1, 206, 200);
	/* Too late (600 ms) for a double click. */
	click(q, 1000, 1, 300, 300);
	click(q, 600, 1, 300, 300);
	/* Moving 4 px while down is a click; 6 px is a drag. */
	btn(q, 1000, EVENT_BUTTON_PRESS, 1, 400, 400);
	motion(q, 10, 402, 402);
	btn(q, 10, EVENT_BUTTON_RELEASE, 1, 404, 400);
	btn(q, 1000, EVENT_BUTTON_PRESS, 1, 500, 400);
	motion(q, 10, 503, 400);
	btn(q, 10, EVENT_BUTTON_RELEASE, 1, 506, 400);
	/* Ctrl+click. */
	key(q, 1000, 37, "Control_L", "", 0);
	btn(q, 10, EVENT_BUTTON_PRESS, 1, 600, 100);
	q->ev[q->n - 1].mods = 4;
	btn(q, 10, EVENT_BUTTON_RELEASE, 1, 600, 100);
	rel(q, 10, 37, "Control_L");
	/* Back button: a click with no rendering in either action space. */
	click(q, 1000, 8, 10, 10);
	CHECK(q, &out,
	      "triple_click/click/{\"action\":\"triple_click\",\"coordinate\":[100,100]}",
	      "click/click/{\"action\":\"left_click\",\"coordinate\":[100,100]}",
	      "click/click/{\"action\":\"left_click\",\"coordinate\":[200,200]}",
	      "click/click/{\"action\":\"left_click\",\"coordinate\":[206,200]}",
	      "click/click/{\"action\":\"left_click\",\"coordinate\":[300,300]}",
	      "click/click/{\"action\":\"left_click\",\"coordinate\":[300,300]}",
	      "click/click/{\"action\":\"left_click\",\"coordinate\":[400,400]}",
	      "drag/drag_and_drop/{\"action\":\"left_click_drag\",\"start_coordinate\":[500,400],"
	      "\"coordinate\":[506,400]}",
	      "click/click/{\"action\":\"left_click\",\"coordinate\":[600,100],\"text\":\"ctrl\"}",
	      "back_click/click");
	run_free(&out);
	free(q);
}

static void
test_scrolls(void **state)
{
	struct seq *q = seq_new();
	struct run out;

	(void)state;
	scroll(q, 10, SCROLL_DOWN, 1, 10, 20);
	scroll(q, 100, SCROLL_DOWN, 1, 11, 20);
	scroll(q, 100, SCROLL_UP, 1, 11, 20);      /* direction change */
	scroll(q, 400, SCROLL_UP, 1, 11, 20);      /* gap of 400 ms */
	scroll(q, 100, SCROLL_RIGHT, 0.5, 11, 20); /* smooth scrolling */
	scroll(q, 10, SCROLL_RIGHT, 0.25, 11, 20);
	CHECK(q, &out,
	      "scroll/scrolling/{\"action\":\"scroll\",\"coordinate\":[10,20],"
	      "\"scroll_direction\":\"down\",\"scroll_amount\":2}",
	      "scroll/scrolling/{\"action\":\"scroll\",\"coordinate\":[11,20],"
	      "\"scroll_direction\":\"up\",\"scroll_amount\":1}",
	      "scroll/scrolling/{\"action\":\"scroll\",\"coordinate\":[11,20],"
	      "\"scroll_direction\":\"up\",\"scroll_amount\":1}",
	      "scroll/scrolling/{\"action\":\"scroll\",\"coordinate\":[11,20],"
	      "\"scroll_direction\":\"right\",\"scroll_amount\":1}");
	assert_true(out.a[0].scroll_dy == 2.0);
	assert_true(out.a[1].scroll_dy == -1.0);
	assert_true(out.a[3].scroll_dx == 0.75);
	run_free(&out);
	free(q);
}

static void
test_path_cap(void **state)
{
	struct seq *q = seq_new();
	struct run out;
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		motion(q, 1, i, 2 * i);
	click(q, 5, 1, 999, 1998);
	run_events(q->ev, q->n, NULL, NULL, NULL, &out);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.a[0].path_seen, 1000);
	assert_true(out.a[0].path_len >= 32 && out.a[0].path_len <= REDUCE_PATH_MAX);
	assert_int_equal(out.a[0].path[0].x, 0);
	assert_int_equal(out.a[0].path[out.a[0].path_len - 1].x, 999);
	assert_int_equal(out.a[0].path[out.a[0].path_len - 1].y, 1998);
	for (i = 1; i < out.a[0].path_len; i++)
		assert_true(out.a[0].path[i].x > out.a[0].path[i - 1].x);
	assert_int_equal(out.a[0].ev_first, 2);
	assert_int_equal(out.a[0].ev_count, 1002);
	run_free(&out);
	free(q);
}

static void
test_focus(void **state)
{
	struct seq *q = seq_new();
	struct run out;

	(void)state;
	/* Alt+Tab: the focus moves when Alt is released. */
	key(q, 50, 64, "Alt_L", "", 0);
	key(q, 10, 23, "Tab", "", 8);
	key(q, 100, 23, "Tab", "", 8);
	rel(q, 10, 64, "Alt_L");
	focus(q, 2, 2);
	rel(q, 5, 23, "Tab");
	/* A focus change nothing of ours caused (a window opened by itself). */
	focus(q, 3000, 3);
	/* A click that focuses another window. */
	click(q, 500, 1, 700, 500);
	focus(q, 3, 4);
	/* Typing, then the focus moves away: the run ends, the switch is its own. */
	tap(q, 38, "a", "a");
	focus(q, 100, 5);
	/* No window switch across a pause. */
	add(q, EVENT_PAUSE, 100);
	add(q, EVENT_RESUME, 10000);
	focus(q, 1, 6);
	tap(q, 56, "b", "b");
	CHECK(q, &out,
	      "hotkey/window_switch/{\"action\":\"key\",\"text\":\"alt+Tab alt+Tab\"}",
	      "wait/other/{\"action\":\"wait\",\"duration\":3}",
	      "switch/window_switch",
	      "click/window_switch/{\"action\":\"left_click\",\"coordinate\":[700,500]}",
	      "type/text_entry/a",
	      "switch/window_switch",
	      "type/text_entry/b");
	assert_int_equal(out.a[0].context_after, 2);
	assert_int_equal(out.a[2].context, 2);
	assert_int_equal(out.a[2].context_after, 3);
	assert_int_equal(out.a[3].context_after, 4);
	assert_int_equal(out.a[4].context_after, 0);
	assert_int_equal(out.a[5].context_after, 5);
	run_free(&out);
	free(q);
}

static void
test_renderers(void **state)
{
	struct reduce_action a;
	char buf[512];

	(void)state;
	memset(&a, 0, sizeof a);
	a.kind = REDUCE_CLICK;
	a.button = 1;
	a.count = 1;
	a.x = 200;
	a.y = 150;
	assert_int_equal(reduce_action_pyautogui(&a, 1920, 1080, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "pyautogui.click(x=200, y=150)");
	assert_int_equal(reduce_action_pyautogui(&a, 1920, 1080, 1, buf, sizeof buf), 0);
	assert_string_equal(buf, "pyautogui.click(x=0.1042, y=0.1389)");
	assert_int_equal(reduce_action_pyautogui(&a, 0, 0, 1, buf, sizeof buf), -EINVAL);
	a.button = 3;
	a.count = 2;
	assert_int_equal(reduce_action_pyautogui(&a, 0, 0, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "pyautogui.click(x=200, y=150, clicks=2, button='right')");
	assert_int_equal(reduce_action_computer_use(&a, buf, sizeof buf), -ENOTSUP);

	a.kind = REDUCE_DRAG;
	a.button = 1;
	a.x2 = 640;
	a.y2 = 400;
	assert_int_equal(reduce_action_pyautogui(&a, 1280, 800, 1, buf, sizeof buf), 0);
	assert_string_equal(buf, "pyautogui.moveTo(x=0.1563, y=0.1875)\n"
	                         "pyautogui.dragTo(x=0.5000, y=0.5000, button='left')");

	a.kind = REDUCE_SCROLL;
	a.scroll_dir = SCROLL_DOWN;
	a.scroll_amount = 3;
	assert_int_equal(reduce_action_pyautogui(&a, 0, 0, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "pyautogui.scroll(-3, x=200, y=150)");
	a.scroll_dir = SCROLL_LEFT;
	assert_int_equal(reduce_action_pyautogui(&a, 0, 0, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "pyautogui.hscroll(-3, x=200, y=150)");

	/* Text: Python and JSON escaping of quotes, backslashes, controls, UTF-8. */
	memset(&a, 0, sizeof a);
	a.kind = REDUCE_TYPE;
	snprintf(a.text, sizeof a.text, "it's \"a\\b\"\n\x01\x7f ä😀");
	a.text_len = strlen(a.text);
	assert_int_equal(reduce_action_pyautogui(&a, 0, 0, 0, buf, sizeof buf), 0);
	assert_string_equal(buf,
	                    "pyautogui.write(message='it\\'s \"a\\\\b\"\\n\\x01\\x7f ä😀')");
	assert_int_equal(reduce_action_computer_use(&a, buf, sizeof buf), 0);
	assert_string_equal(buf,
	                    "{\"action\":\"type\",\"text\":\"it's \\\"a\\\\b\\\"\\n\\u0001\x7f ä😀\"}");
	/* Invalid UTF-8 cannot make invalid JSON. */
	snprintf(a.text, sizeof a.text, "a\xff\xc3");
	assert_int_equal(reduce_action_computer_use(&a, buf, sizeof buf), 0);
	assert_string_equal(buf, "{\"action\":\"type\",\"text\":\"a\xef\xbf\xbd\xef\xbf\xbd\"}");
	/* Too small a buffer: cut, terminated, -ENOSPC. */
	assert_int_equal(reduce_action_computer_use(&a, buf, 10), -ENOSPC);
	assert_int_equal(strlen(buf), 9);

	memset(&a, 0, sizeof a);
	a.kind = REDUCE_WAIT;
	a.duration_ns = 3500 * MS;
	assert_int_equal(reduce_action_computer_use(&a, buf, sizeof buf), 0);
	assert_string_equal(buf, "{\"action\":\"wait\",\"duration\":3.5}");
	assert_int_equal(reduce_action_pyautogui(&a, 0, 0, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "time.sleep(3.5)");
	a.kind = REDUCE_SWITCH;
	assert_int_equal(reduce_action_pyautogui(&a, 0, 0, 0, buf, sizeof buf), -ENOTSUP);
	assert_string_equal(buf, "");
	assert_int_equal(reduce_action_computer_use(&a, buf, sizeof buf), -ENOTSUP);
	assert_int_equal(reduce_action_json(&a, 0, 0, buf, sizeof buf), 0);
	assert_non_null(strstr(buf, "\"pyautogui\":null,\"computer_use\":null}"));
	assert_null(strstr(buf, "pyautogui_norm"));
	assert_int_equal(reduce_action_json(NULL, 0, 0, buf, sizeof buf), -EINVAL);

	memset(&a, 0, sizeof a);
	a.kind = REDUCE_HOTKEY;
	a.count = 1;
	a.mods = REDUCE_MOD_CTRL | REDUCE_MOD_SHIFT;
	snprintf(a.key, sizeof a.key, "T");
	assert_int_equal(reduce_action_computer_use(&a, buf, sizeof buf), 0);
	assert_string_equal(buf, "{\"action\":\"key\",\"text\":\"ctrl+shift+t\"}");
	assert_int_equal(reduce_action_pyautogui(&a, 0, 0, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "pyautogui.hotkey('ctrl', 'shift', 't')");
	snprintf(a.key, sizeof a.key, "exclam");
	assert_int_equal(reduce_action_pyautogui(&a, 0, 0, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "pyautogui.hotkey('ctrl', 'shift', '!')");
	snprintf(a.key, sizeof a.key, "apostrophe");
	a.mods = REDUCE_MOD_CTRL;
	assert_int_equal(reduce_action_pyautogui(&a, 0, 0, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "pyautogui.hotkey('ctrl', '\\'')");
}

static void
test_params(void **state)
{
	struct reduce_params p;
	struct reduce *r = NULL;
	char buf[256], *cause = NULL;

	(void)state;
	reduce_params_defaults(&p);
	assert_int_equal(reduce_params_check(&p, NULL), 0);
	assert_int_equal(reduce_params_json(&p, buf, sizeof buf), 0);
	assert_string_equal(buf, "{\"double_click_ms\":500,\"double_click_px\":5,\"drag_min_px\":5,"
	                         "\"type_gap_ms\":1000,\"scroll_gap_ms\":300,\"wait_ms\":3000,"
	                         "\"focus_follow_ms\":1000,\"path_max\":64}");
	assert_int_equal(reduce_params_json(&p, buf, 8), -ENOSPC);
	p.scroll_gap_ms = -1;
	assert_int_equal(reduce_params_check(&p, &cause), -EINVAL);
	assert_non_null(strstr(cause, "scroll_gap_ms"));
	free(cause);
	assert_int_equal(reduce_new(&p, &r), -EINVAL);
	assert_null(r);
	reduce_params_defaults(&p);
	p.path_max = 7;
	assert_int_equal(reduce_new(&p, &r), -EINVAL);
	p.path_max = 2;
	assert_int_equal(reduce_new(&p, &r), 0);
	assert_null(reduce_take(r));
	assert_int_equal(reduce_push(r, NULL), -EINVAL);
	reduce_free(r);
	reduce_free(NULL);
	assert_int_equal(reduce_new(NULL, NULL), -EINVAL);
	assert_string_equal(reduce_interaction_name(REDUCE_I_DROPDOWN_SELECTION),
	                    "dropdown_selection");
	assert_null(reduce_interaction_name(REDUCE_I_MAX_));
	assert_string_equal(reduce_source_name(REDUCE_SOURCE_MIXED), "mixed");
}

/* Thresholds come from the parameters: a longer type gap joins what 1 s splits. */
static void
test_params_change_output(void **state)
{
	struct seq *q = seq_new();
	struct reduce_params p;
	struct run out;

	(void)state;
	tap(q, 38, "a", "a");
	key(q, 1200, 56, "b", "b", 0);
	reduce_params_defaults(&p);
	p.type_gap_ms = 1500;
	run_events(q->ev, q->n, &p, NULL, NULL, &out);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.a[0].text, "ab");
	run_free(&out);
	free(q);
}

/*
 * Random events, garbage included (bad keycodes, kinds, buttons and directions,
 * invalid UTF-8 text, time going backwards): nothing crashes, and every action
 * still renders as JSON that jansson parses, within the documented bounds.
 */
static void
test_random_events(void **state)
{
	static const char *const syms[] = { "a", "Shift_L", "Control_L", "Alt_L", "Super_L",
		"BackSpace", "Return", "Tab", "Left", "ISO_Level3_Shift", "Caps_Lock", "dead_grave",
		"space", "F5", "Delete", "ISO_Left_Tab" };
	static char json[65536];
	uint64_t x = 88172645463325252u;
	struct reduce *r = NULL;
	struct reduce_action *a;
	struct event e;
	json_error_t err;
	json_t *o;
	size_t i, n = 0;
	int j;

	(void)state;
	assert_int_equal(reduce_new(NULL, &r), 0);
	memset(&e, 0, sizeof e);
	for (i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		e.id = (int64_t)i + 1;
		e.t_ns += (int64_t)(x % 700) * MS - (x % 97 == 0 ? 50 * MS : 0);
		e.kind = (int)(x >> 8) % 14;
		e.source = (x >> 12) & 1;
		e.context = (int32_t)((x >> 14) % 4);
		e.detail = (int32_t)((x >> 16) % 300) - 20;
		if (e.kind == EVENT_BUTTON_PRESS || e.kind == EVENT_BUTTON_RELEASE)
			e.detail = (int32_t)((x >> 16) % 10);
		e.mods = (uint32_t)(x >> 24) & 0xff;
		e.x = (int32_t)((x >> 32) % 2000) - 10;
		e.y = (int32_t)((x >> 44) % 1200) - 10;
		e.amount = (double)((x >> 50) % 5) * 0.5;
		snprintf(e.keysym, sizeof e.keysym, "%s", syms[(x >> 20) % 16]);
		for (j = 0; j < (int)((x >> 40) % 4); j++)
			e.text[j] = (char)(x >> (8 * j));
		e.text[j] = '\0';
		assert_int_equal(reduce_push(r, &e), 0);
		if (i == 199999)
			assert_int_equal(reduce_finish(r), 0);
		while ((a = reduce_take(r)) != NULL) {
			n++;
			assert_true(a->n_ids <= REDUCE_IDS_MAX);
			assert_true(a->path_len <= REDUCE_PATH_MAX);
			assert_true(a->text_len < REDUCE_TEXT_MAX);
			assert_true(a->t_start_ns <= a->t_end_ns);
			assert_int_equal(reduce_action_json(a, SCREEN_W, SCREEN_H, json, sizeof json), 0);
			o = json_loads(json, 0, &err);
			if (o == NULL)
				fail_msg("invalid JSON (%s): %s", err.text, json);
			json_decref(o);
		}
	}
	assert_true(n > 1000);
	reduce_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_pointer),
		cmocka_unit_test(test_golden_keys),
		cmocka_unit_test(test_golden_elements),
		cmocka_unit_test(test_unpaired_releases),
		cmocka_unit_test(test_two_sources),
		cmocka_unit_test(test_agent_source),
		cmocka_unit_test(test_run_interrupted_by_click),
		cmocka_unit_test(test_utf8_backspace),
		cmocka_unit_test(test_idle_wait),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_type_gap_and_long_text),
		cmocka_unit_test(test_clicks),
		cmocka_unit_test(test_scrolls),
		cmocka_unit_test(test_path_cap),
		cmocka_unit_test(test_focus),
		cmocka_unit_test(test_renderers),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_params_change_output),
		cmocka_unit_test(test_random_events),
	};

	return testenv_run(tests, NULL, NULL);
}
