/*
 * Tests for online (the task file of `mimic eval --online` and the check of
 * success): what a task reads back as, one error line naming the file, task
 * and field for each kind of broken file, and the check's verdict on outputs
 * and exit statuses, including the example tasks mimic ships.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "online.h"
#include "util.h"

#define GOOD "{\"id\":\"t1\",\"app\":\"zenity --entry\",\"instruction\":\"Enter Ada\"," \
	"\"success\":{\"output\":\"Ada\"}}"

/* Parses s; returns the error line (malloc'ed) or NULL when it parsed. */
static char *parse_error(const char *s)
{
	struct online_tasks *t = NULL;
	char *cause = NULL;
	int rc = online_parse(s, strlen(s), "tasks.json", &t, &cause);

	if (rc == 0) {
		assert_null(cause);
		online_free(t);
		return NULL;
	}
	assert_null(t);
	assert_non_null(cause);
	assert_null(strchr(cause, '\n'));
	return cause;
}

static void test_parse_fields(void **state)
{
	static const char s[] = "{\"tasks\":[" GOOD ",{\"id\":\"q\",\"app\":\"zenity --question\","
		"\"window\":\"Zenity\",\"instruction\":\"Answer No\",\"max_steps\":3,\"time_limit\":9,"
		"\"success\":{\"output_matches\":\"^a|b$\",\"exit_status\":1}},{\"id\":\"r\",\"app\":\"x\","
		"\"instruction\":\"y\",\"success\":{\"output_matches\":\"^[]+]+ ([0-9]{1,3}\\\\.){3}x*$\"}}]}";
	struct online_tasks *t = NULL;
	char *cause = NULL;

	(void)state;
	assert_int_equal(online_parse(s, strlen(s), "tasks.json", &t, &cause), 0);
	assert_int_equal(t->n, 3);
	assert_string_equal(t->v[0].id, "t1");
	assert_string_equal(t->v[0].output, "Ada");
	assert_null(t->v[0].window);
	/* The defaults: 20 steps, 60 s. */
	assert_int_equal(t->v[0].max_steps, 20);
	assert_int_equal(t->v[0].time_limit_ms, 60000);
	assert_int_equal(t->v[0].has_exit_status, 0);
	assert_string_equal(t->v[1].window, "Zenity");
	assert_int_equal(t->v[1].max_steps, 3);
	assert_int_equal(t->v[1].time_limit_ms, 9000);
	assert_string_equal(t->v[1].output_matches, "^a|b$");
	assert_int_equal(t->v[1].has_exit_status, 1);
	assert_int_equal(t->v[1].exit_status, 1);
	online_free(t);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *file, *want;
	} cases[] = {
		{ "", "tasks.json:1: not JSON" },
		{ "{\"tasks\":[" GOOD "]", "not JSON" },
		{ "[]", "one object with one field, \"tasks\"" },
		{ "{\"tasks\":[]}", "a list of 1 to 100 tasks" },
		{ "{\"tasks\":[" GOOD "],\"more\":1}", "one object with one field" },
		{ "{\"tasks\":[1]}", "task 1: task must be an object" },
		{ "{\"tasks\":[{\"app\":\"x\",\"instruction\":\"y\",\"success\":{\"output\":\"\"}}]}",
		  "task 1: id is missing" },
		{ "{\"tasks\":[{\"id\":\"a/b\",\"app\":\"x\",\"instruction\":\"y\"}]}",
		  "id may hold only letters" },
		{ "{\"tasks\":[{\"id\":\"a\",\"instruction\":\"y\"}]}", "task 1 (a): app is missing" },
		{ "{\"tasks\":[{\"id\":\"a\",\"app\":7,\"instruction\":\"y\"}]}",
		  "app must be a string" },
		{ "{\"tasks\":[{\"id\":\"a\",\"app\":\"x\",\"instruction\":\"\"}]}",
		  "instruction is empty" },
		{ "{\"tasks\":[{\"id\":\"a\",\"app\":\"x\",\"instruction\":\"a\\nb\"}]}",
		  "instruction may not hold control characters" },
		{ "{\"tasks\":[{\"id\":\"a\",\"app\":\"x\",\"instruction\":\"y\",\"max_steps\":1001}]}",
		  "max_steps must be an integer from 1 to 1000" },
		{ "{\"tasks\":[{\"id\":\"a\",\"app\":\"x\",\"instruction\":\"y\",\"time_limit\":0.5}]}",
		  "time_limit must be a whole number of seconds" },
		{ "{\"tasks\":[{\"id\":\"a\",\"app\":\"x\",\"instruction\":\"y\"}]}",
		  "task 1 (a): success is missing" },
		{ "{\"tasks\":[{\"id\":\"a\",\"app\":\"x\",\"instruction\":\"y\",\"success\":{}}]}",
		  "success checks nothing" },
		{ "{\"tasks\":[{\"id\":\"a\",\"app\":\"x\",\"instruction\":\"y\",\"success\":"
		  "{\"exit_status\":256}}]}", "exit_status must be an integer from 0 to 255" },
		{ "{\"tasks\":[{\"id\":\"a\",\"app\":\"x\",\"instruction\":\"y\",\"success\":"
		  "{\"output_matches\":\"a(\"}}]}", "output_matches is not a POSIX extended" },
		/* Patterns that glibc would compile into gigabytes are refused before. */
		{ "{\"tasks\":[{\"id\":\"a\",\"app\":\"x\",\"instruction\":\"y\",\"success\":"
		  "{\"output_matches\":\"^a++$\"}}]}", "output_matches repeats a repetition" },
		{ "{\"tasks\":[{\"id\":\"a\",\"app\":\"x\",\"instruction\":\"y\",\"success\":"
		  "{\"output_matches\":\"(((((a)+)+)+)+)+\"}}]}", "repeats more than 4 groups" },
		{ "{\"tasks\":[{\"id\":\"a\",\"app\":\"x\",\"instruction\":\"y\",\"success\":"
		  "{\"output_matches\":\"a{2,50}\"}}]}", "interval {m,n} outside 0 to 20" },
		{ "{\"tasks\":[{\"id\":\"a\\nb\",\"app\":\"x\",\"instruction\":\"y\"}]}",
		  "task 1 (a\\x0ab): id may hold only letters" },
		{ "{\"tasks\":[{\"id\":\"a\",\"app\":\"x\",\"instruction\":\"y\",\"succes\":{}}]}",
		  "succes is not a field of a task" },
		{ "{\"tasks\":[" GOOD "," GOOD "]}", "task 2: the id t1 is task 1's too" },
		{ "{\"tasks\":[{\"id\":\"a\",\"id\":\"b\"}]}", "not JSON" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *e = parse_error(cases[i].file);

		if (e == NULL || strstr(e, cases[i].want) == NULL)
			fail_msg("case %zu: got '%s', want '%s'", i, e ? e : "(parsed)", cases[i].want);
		assert_non_null(strstr(e, "tasks.json"));
		free(e);
	}
}

static void test_too_many(void **state)
{
	size_t cap = 200 * 200;
	char *s = util_xmalloc(cap), *e;
	size_t n = 0;

	(void)state;
	n += (size_t)snprintf(s + n, cap - n, "{\"tasks\":[");
	for (int i = 0; i <= ONLINE_TASKS_MAX; i++)
		n += (size_t)snprintf(s + n, cap - n, "%s{\"id\":\"t%d\",\"app\":\"x\","
		                      "\"instruction\":\"y\",\"success\":{\"exit_status\":0}}",
		                      i ? "," : "", i);
	snprintf(s + n, cap - n, "]}");
	e = parse_error(s);
	assert_non_null(e);
	assert_non_null(strstr(e, "101 tasks, at most 100"));
	free(e);
	free(s);
}

static void test_check(void **state)
{
	struct online_tasks *t = NULL;
	char *cause = NULL, *why = NULL;
	char path[4096];

	(void)state;
	snprintf(path, sizeof path, "%s/data/tasks/examples.json", getenv("MIMIC_SRCDIR"));
	assert_int_equal(online_load(path, &t, &cause), 0);
	assert_int_equal(t->n, 3);
	/* name-entry: the output, its newline cut, equal. */
	assert_true(online_check(&t->v[0], "Ada\n", 1, 0, &why));
	assert_null(why);
	assert_false(online_check(&t->v[0], "Bob\n", 1, 0, &why));
	assert_non_null(strstr(why, "output (3 bytes) is not the expected one"));
	/* The check names no content of the output. */
	assert_null(strstr(why, "Bob"));
	free(why);
	/* trip-form: the pattern and the exit status. */
	assert_true(online_check(&t->v[1], "Ada|Paris\n", 1, 0, &why));
	assert_false(online_check(&t->v[1], "Ada|Paris\n", 0, 0, &why));
	assert_non_null(strstr(why, "did not exit by itself"));
	free(why);
	assert_false(online_check(&t->v[1], "Ada|Parisx\n", 1, 0, &why));
	assert_non_null(strstr(why, "does not match"));
	free(why);
	/* decline-delete: exit status 1, not 0. */
	assert_true(online_check(&t->v[2], "", 1, 1, &why));
	assert_false(online_check(&t->v[2], "", 1, 0, &why));
	assert_non_null(strstr(why, "exited with status 0, not 1"));
	free(why);
	online_free(t);

	assert_int_not_equal(online_load("/nonexistent/tasks.json", &t, &cause), 0);
	assert_non_null(strstr(cause, "cannot read the task file /nonexistent/tasks.json"));
	free(cause);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_check),
	};
	return testenv_run(tests, NULL, NULL);
}
