/*
 * Tests for steps (the reading of an export's steps.jsonl) and eval's scoring:
 * what a person reads back is the step's fields, the one error line naming the
 * file and line for each kind of broken input, and the counts of `mimic eval`
 * for answers inside and outside the recorded element's box and tolerance.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "steps.h"
#include "util.h"

#define CLICK "{\"episode\":\"e1\",\"step\":0,\"t_ms\":12.5,\"task\":\"Fill it\",\"app\":\"Zenity\"," \
	"\"kind\":\"click\",\"interaction\":\"click\",\"screen\":[1280,800]," \
	"\"element\":{\"role\":\"text\",\"name\":\"Name\",\"bounds\":[100,200,300,30]}," \
	"\"images\":{\"pre\":\"images/s1-f1.png\"},\"redacted\":false," \
	"\"action\":{\"kind\":\"click\",\"computer_use\":{\"action\":\"left_click\"," \
	"\"coordinate\":[110,210]}}}"
#define TYPE "{\"episode\":\"e1\",\"step\":1,\"t_ms\":900,\"kind\":\"type\"," \
	"\"interaction\":\"text_entry\",\"screen\":[1280,800],\"element\":null," \
	"\"action\":{\"computer_use\":{\"action\":\"type\",\"text\":\"Ada\"}}}"
#define SWITCH "{\"episode\":\"e1\",\"step\":2,\"t_ms\":1000,\"kind\":\"switch\"," \
	"\"action\":{\"computer_use\":null}}"

/* Parses s; returns the error line (malloc'ed) or NULL when it parsed. */
static char *parse_error(const char *s)
{
	struct steps *st = NULL;
	char *cause = NULL;
	int rc = steps_parse(s, strlen(s), "x/steps.jsonl", &st, &cause);

	if (rc == 0) {
		assert_null(cause);
		steps_free(st);
		return NULL;
	}
	assert_null(st);
	assert_non_null(cause);
	assert_null(strchr(cause, '\n'));
	return cause;
}

static void expect_error(const char *s, const char *want)
{
	char *e = parse_error(s);

	assert_non_null(e);
	if (strstr(e, want) == NULL)
		fail_msg("'%s' does not say '%s'", e, want);
	free(e);
}

static void test_parse_fields(void **state)
{
	const char *s = CLICK "\n" TYPE "\r\n\n" SWITCH;
	struct steps *st = NULL;
	char *cause = NULL;

	(void)state;
	assert_int_equal(steps_parse(s, strlen(s), "x", &st, &cause), 0);
	assert_int_equal(st->n, 3);
	assert_string_equal(st->v[0].episode, "e1");
	assert_int_equal(st->v[0].line, 1);
	assert_true(st->v[0].t_ms == 12.5);
	assert_string_equal(st->v[0].task, "Fill it");
	assert_string_equal(st->v[0].app, "Zenity");
	assert_string_equal(st->v[0].image_pre, "images/s1-f1.png");
	assert_int_equal(st->v[0].screen_w, 1280);
	assert_true(st->v[0].has_box);
	assert_int_equal(st->v[0].box[2], 300);
	/* The recorded element, which replay compares with the one found at the point. */
	assert_string_equal(st->v[0].el_role, "text");
	assert_string_equal(st->v[0].el_name, "Name");
	assert_string_equal(steps_action_name(st->v[0].action), "left_click");
	assert_int_equal(st->v[1].line, 2);
	assert_null(st->v[1].task);
	assert_false(st->v[1].has_box);
	assert_null(st->v[1].el_role);
	assert_null(st->v[1].el_name);
	assert_string_equal(json_string_value(json_object_get(st->v[1].action, "text")), "Ada");
	assert_int_equal(st->v[2].line, 4);
	assert_null(st->v[2].action);
	steps_free(st);
}

static void test_parse_errors(void **state)
{
	char *big;

	(void)state;
	expect_error("", "x/steps.jsonl: no steps");
	expect_error(CLICK "\n{\"episode\":", "x/steps.jsonl:2: not JSON");
	expect_error("[1]", "x/steps.jsonl:1: not a step (a JSON object");
	expect_error("{\"step\":0}", "x/steps.jsonl:1: not a step of `mimic export`");
	expect_error("{\"episode\":\"e\",\"step\":0,\"t_ms\":-1,\"action\":{}}", "t_ms");
	expect_error("{\"episode\":\"e\",\"step\":0,\"t_ms\":1}", "has no \"action\"");
	expect_error("{\"episode\":\"e\",\"step\":0,\"t_ms\":1,\"images\":{\"pre\":\"../../x\"},"
	             "\"action\":{}}", "inside the export");
	expect_error("{\"episode\":\"e\",\"step\":0,\"t_ms\":1,\"action\":{\"computer_use\":"
	             "{\"action\":\"fly\"}}}", "x/steps.jsonl:1: unknown action 'fly'");
	expect_error("{\"episode\":\"e\",\"step\":0,\"t_ms\":1,\"screen\":[100,100],\"action\":"
	             "{\"computer_use\":{\"action\":\"left_click\",\"coordinate\":[100,5]}}}",
	             "coordinate [100, 5] is off the screen (100x100)");
	expect_error("{\"episode\":\"e\",\"step\":0,\"t_ms\":1,\"action\":{\"computer_use\":"
	             "{\"action\":\"scroll\",\"coordinate\":[1,1],\"scroll_direction\":\"in\","
	             "\"scroll_amount\":1}}}", "scroll_direction");
	expect_error("{\"episode\":\"e\",\"step\":0,\"t_ms\":1,\"action\":{\"computer_use\":"
	             "{\"action\":\"type\",\"text\":null}}}", "type needs text");
	expect_error("{\"episode\":\"e\",\"step\":0,\"t_ms\":1,\"action\":{\"computer_use\":"
	             "{\"action\":\"left_click_drag\",\"coordinate\":[1,1]}}}", "start_coordinate");
	/* A control byte in an action name is shown escaped, on the one line. */
	expect_error("{\"episode\":\"e\",\"step\":0,\"t_ms\":1,\"action\":{\"computer_use\":"
	             "{\"action\":\"a\\nb\"}}}", "unknown action 'a\\x0ab'");
	big = util_xmalloc(STEPS_LINE_MAX + 10);
	memset(big, ' ', STEPS_LINE_MAX + 9);
	big[STEPS_LINE_MAX + 9] = '\0';
	expect_error(big, "x/steps.jsonl:1: the line is over");
	free(big);
}

static void test_placeholders(void **state)
{
	(void)state;
	assert_true(steps_has_placeholder("mail <EMAIL> now"));
	assert_true(steps_has_placeholder("<CARD_NUMBER>"));
	assert_true(steps_has_placeholder("a<b <PHONE2>"));
	assert_false(steps_has_placeholder("a < b > c"));
	assert_false(steps_has_placeholder("<html>"));
	assert_true(steps_has_placeholder("<FIELD:Date of birth>"));
	assert_true(steps_has_placeholder("<FIELD>"));
	assert_false(steps_has_placeholder("<FIELD:"));
	assert_false(steps_has_placeholder("<FIELDS:x>"));
	assert_false(steps_has_placeholder("<>"));
	assert_false(steps_has_placeholder("<EMAIL"));
	assert_false(steps_has_placeholder(NULL));
}

static void test_load_missing(void **state)
{
	struct steps *st = NULL;
	char *cause = NULL;

	(void)state;
	assert_int_equal(steps_load("/nonexistent-mimic-export", &st, &cause), -ENOENT);
	assert_non_null(strstr(cause, "/nonexistent-mimic-export/steps.jsonl: No such file"));
	assert_non_null(strstr(cause, "mimic export --format jsonl"));
	free(cause);
}

/*
 * eval with a command that answers from a file: a click inside the recorded box far
 * from the point (right), one outside the box next to it (wrong), the typed text
 * with another case (right action, wrong text), and one answer that is no action.
 */
static void test_eval_scoring(void **state)
{
	char *dir = testenv_tmpdir("mimic-eval-");
	char *path, *agent, *cause = NULL;
	struct eval_opts o = { .tolerance_px = 10, .seed = 1, .timeout_ms = 10000 };
	json_t *r = NULL, *all;
	FILE *f;

	(void)state;
	assert_non_null(dir);
	path = util_xasprintf("%s/steps.jsonl", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s\n%s\n%s\n%s\n%s\n", CLICK, CLICK, TYPE, SWITCH, TYPE);
	fclose(f);
	free(path);
	path = util_xasprintf("%s/answers", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "{\"action\":\"left_click\",\"coordinate\":[390,225]}\n"
	           "{\"action\":\"left_click\",\"coordinate\":[105,195]}\n"
	           "{\"action\":\"type\",\"text\":\"ada\"}\n"
	           "not json\n");
	fclose(f);
	signal(SIGPIPE, SIG_IGN);
	agent = util_xasprintf("cat '%s'", path);
	o.dir = dir;
	o.agent = agent;
	assert_int_equal(eval_run(&o, &r, &cause), 0);
	all = json_object_get(r, "overall");
	assert_int_equal(json_integer_value(json_object_get(all, "steps")), 4);
	assert_int_equal(json_integer_value(json_object_get(all, "action_match")), 3);
	assert_int_equal(json_integer_value(json_object_get(all, "success")), 1);
	assert_int_equal(json_integer_value(json_object_get(all, "invalid")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
		json_object_get(r, "by_kind"), "click"), "success")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
		json_object_get(r, "by_interaction"), "text_entry"), "steps")), 2);
	json_decref(r);

	/* The oracle scores every step; a command that answers too few is an error. */
	o.agent = "oracle";
	assert_int_equal(eval_run(&o, &r, &cause), 0);
	assert_true(json_real_value(json_object_get(json_object_get(r, "overall"),
	                                            "success_rate")) == 1.0);
	json_decref(r);
	o.agent = "echo '{\"action\":\"wait\",\"duration\":1}'";
	assert_int_equal(eval_run(&o, &r, &cause), -EPIPE);
	assert_string_equal(cause, "the agent command ended without answering");
	free(cause);
	cause = NULL;
	o.agent = "sleep 5";
	o.timeout_ms = 200;
	assert_int_equal(eval_run(&o, &r, &cause), -ETIMEDOUT);
	assert_non_null(strstr(cause, "did not answer within"));
	free(cause);
	free(agent);
	free(path);
	testenv_tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_placeholders),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_eval_scoring),
	};
	return testenv_run(tests, NULL, NULL);
}
