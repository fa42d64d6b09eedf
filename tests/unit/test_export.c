/*
 * Unit tests of the export's pure parts: the episode splitter (task markers,
 * idle gaps, application switches), the parameters written into every export,
 * and the pseudonyms of hosts and users (pseudo.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testenv.h"

#include "export.h"
#include "ipc.h"
#include "pseudo.h"
#include "writer.h"

#define MS INT64_C(1000000)

static struct reduce_action act(int kind, int64_t start_ms, int64_t end_ms)
{
	struct reduce_action a;

	memset(&a, 0, sizeof(a));
	a.kind = kind;
	a.t_start_ns = start_ms * MS;
	a.t_end_ns = end_ms * MS;
	if (kind == REDUCE_WAIT)
		a.duration_ns = (end_ms - start_ms) * MS;
	return a;
}

static struct store_task marker(int kind, int64_t t_ms, int outcome, const char *desc)
{
	struct store_task t;

	memset(&t, 0, sizeof(t));
	t.kind = kind;
	t.t_ns = t_ms * MS;
	t.outcome = outcome;
	snprintf(t.description, sizeof(t.description), "%s", desc);
	return t;
}

/* Without markers: idle gaps and application switches cut episodes. */
static void test_split_unlabelled(void **state)
{
	struct export_params p;
	struct export_split s;
	struct reduce_action a;

	(void)state;
	export_params_defaults(&p);
	p.episode_idle_ms = 60000;
	export_split_init(&s, &p, NULL, 0);
	a = act(REDUCE_CLICK, 1000, 1100);
	assert_int_equal(export_split_push(&s, &a, "XTerm"), 0);
	assert_null(s.task);
	assert_int_equal(s.start_ns, 1000 * MS);
	a = act(REDUCE_TYPE, 2000, 3000);
	assert_int_equal(export_split_push(&s, &a, "XTerm"), 0);
	/* A wait shorter than the gap stays in the episode. */
	a = act(REDUCE_WAIT, 3000, 8000);
	assert_int_equal(export_split_push(&s, &a, "XTerm"), 0);
	/* Another application: a new episode. */
	a = act(REDUCE_CLICK, 9000, 9100);
	assert_int_equal(export_split_push(&s, &a, "Firefox"), 1);
	assert_int_equal(s.start_ns, 9000 * MS);
	/* Unknown application: no cut. */
	a = act(REDUCE_SWITCH, 9200, 9200);
	assert_int_equal(export_split_push(&s, &a, ""), 1);
	/* A long wait is the gap itself: it belongs to no episode. */
	a = act(REDUCE_WAIT, 9200, 80000);
	assert_int_equal(export_split_push(&s, &a, "Firefox"), -1);
	a = act(REDUCE_CLICK, 80000, 80100);
	assert_int_equal(export_split_push(&s, &a, "Firefox"), 2);
	/* A gap without a wait action (a pause) cuts too. */
	a = act(REDUCE_CLICK, 200000, 200100);
	assert_int_equal(export_split_push(&s, &a, "Firefox"), 3);

	/* With app splitting off, a switch of application stays in the episode. */
	p.episode_split_app = 0;
	export_split_init(&s, &p, NULL, 0);
	a = act(REDUCE_CLICK, 1000, 1100);
	assert_int_equal(export_split_push(&s, &a, "XTerm"), 0);
	a = act(REDUCE_CLICK, 2000, 2100);
	assert_int_equal(export_split_push(&s, &a, "Firefox"), 0);
}

/* Task markers make labelled episodes, whatever the gaps and applications inside. */
static void test_split_tasks(void **state)
{
	struct export_params p;
	struct export_split s;
	struct reduce_action a;
	struct store_task t[5];

	(void)state;
	export_params_defaults(&p);
	p.episode_idle_ms = 10000;
	t[0] = marker(STORE_TASK_START, 5000, 0, "File the travel expense report");
	t[1] = marker(STORE_TASK_END, 50000, STORE_TASK_SUCCESS, "");
	t[2] = marker(STORE_TASK_START, 60000, 0, "Second");
	t[3] = marker(STORE_TASK_END, 70000, STORE_TASK_FAIL, "");
	t[4] = marker(STORE_TASK_START, 90000, 0, "Never ended");
	export_split_init(&s, &p, t, 5);

	a = act(REDUCE_CLICK, 1000, 1100);        /* before any task: unlabelled */
	assert_int_equal(export_split_push(&s, &a, "XTerm"), 0);
	assert_null(s.task);
	a = act(REDUCE_TYPE, 6000, 7000);         /* task 1 */
	assert_int_equal(export_split_push(&s, &a, "XTerm"), 1);
	assert_ptr_equal(s.task, &t[0]);
	assert_int_equal(s.outcome, STORE_TASK_SUCCESS);
	assert_int_equal(s.start_ns, 5000 * MS);
	a = act(REDUCE_WAIT, 7000, 30000);        /* a long wait inside a task stays */
	assert_int_equal(export_split_push(&s, &a, "XTerm"), 1);
	a = act(REDUCE_CLICK, 30000, 30100);      /* another application inside a task */
	assert_int_equal(export_split_push(&s, &a, "Firefox"), 1);
	a = act(REDUCE_CLICK, 55000, 55100);      /* between tasks: unlabelled again */
	assert_int_equal(export_split_push(&s, &a, "Firefox"), 2);
	assert_null(s.task);
	a = act(REDUCE_CLICK, 61000, 61100);      /* task 2 */
	assert_int_equal(export_split_push(&s, &a, "Firefox"), 3);
	assert_int_equal(s.outcome, STORE_TASK_FAIL);
	assert_string_equal(s.task->description, "Second");
	a = act(REDUCE_CLICK, 95000, 95100);      /* task 3, no end marker */
	assert_int_equal(export_split_push(&s, &a, "Firefox"), 4);
	assert_int_equal(s.outcome, STORE_TASK_NONE);
}

/* Two tasks with no action between them still number their episodes apart. */
static void test_split_empty_task(void **state)
{
	struct export_params p;
	struct export_split s;
	struct reduce_action a;
	struct store_task t[4];

	(void)state;
	export_params_defaults(&p);
	t[0] = marker(STORE_TASK_START, 1000, 0, "empty");
	t[1] = marker(STORE_TASK_END, 2000, STORE_TASK_SUCCESS, "");
	t[2] = marker(STORE_TASK_START, 3000, 0, "real");
	t[3] = marker(STORE_TASK_END, 9000, STORE_TASK_SUCCESS, "");
	export_split_init(&s, &p, t, 4);
	a = act(REDUCE_CLICK, 4000, 4100);
	assert_int_equal(export_split_push(&s, &a, "XTerm"), 1);
	assert_string_equal(s.task->description, "real");
	a = act(REDUCE_CLICK, 9500, 9600);
	assert_int_equal(export_split_push(&s, &a, "XTerm"), 2);
	assert_null(s.task);
}

static void test_params(void **state)
{
	struct export_params p;
	char buf[1024];
	char *cause = NULL;

	(void)state;
	export_params_defaults(&p);
	assert_int_equal(export_params_check(&p, NULL), 0);
	assert_int_equal(export_params_json(&p, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "\"reduce\":{\"double_click_ms\":500"));
	assert_non_null(strstr(buf, "\"episode_idle_ms\":120000"));
	assert_non_null(strstr(buf, "\"episode_split_app\":true"));
	assert_int_equal(export_params_json(&p, buf, 20), -ENOSPC);
	p.episode_idle_ms = 0;
	assert_int_equal(export_params_check(&p, &cause), -EINVAL);
	assert_non_null(strstr(cause, "episode_idle_ms"));
	free(cause);
}

/* The [export] section of the settings file sets the thresholds it names, and only those. */
static void test_params_from_config(void **state)
{
	char path[] = "/tmp/mimic-test-export-conf-XXXXXX";
	struct export_params p;
	struct config c;
	char *cause = NULL;
	int fd;
	FILE *f;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("[export]\ntype_gap_ms = 700\nepisode_idle_ms = 300000\n"
	      "episode_split_app = false\npath_max = 16\n", f);
	fclose(f);
	assert_int_equal(config_load_file(path, &c, &cause), 0);
	export_params_defaults(&p);
	export_params_from_config(&c.export_, &p);
	assert_int_equal(p.reduce.type_gap_ms, 700);
	assert_int_equal(p.reduce.path_max, 16);
	assert_int_equal(p.episode_idle_ms, 300000);
	assert_int_equal(p.episode_split_app, 0);
	assert_int_equal(p.reduce.double_click_ms, 500);    /* not set: the default */
	assert_int_equal(export_params_check(&p, NULL), 0);

	f = fopen(path, "w");
	fputs("[export]\npath_max = 7\n", f);
	fclose(f);
	assert_int_equal(config_load_file(path, &c, &cause), -EINVAL);
	assert_non_null(strstr(cause, ":2: path_max"));
	free(cause);
	cause = NULL;
	f = fopen(path, "w");
	fputs("[export]\nwait = 5\n", f);
	fclose(f);
	assert_int_equal(config_load_file(path, &c, &cause), -EINVAL);
	assert_non_null(strstr(cause, "unknown key 'wait' in [export]"));
	free(cause);
	unlink(path);
}

static void test_pseudo(void **state)
{
	unsigned char k1[PSEUDO_KEY_LEN] = { 1 }, k2[PSEUDO_KEY_LEN] = { 2 };
	struct pseudo *a = pseudo_from_key(k1), *b = pseudo_from_key(k2), *c = NULL, *d = NULL;
	char h1[PSEUDO_HEX_LEN + 1], h2[PSEUDO_HEX_LEN + 1], h3[PSEUDO_HEX_LEN + 1];
	char *dir, path[256];
	char *cause = NULL;
	FILE *f;

	(void)state;
	pseudo_id(a, "host", "workstation-7", h1);
	assert_int_equal(strlen(h1), PSEUDO_HEX_LEN);
	assert_null(strstr(h1, "workstation"));
	pseudo_id(a, "host", "workstation-7", h2);
	assert_string_equal(h1, h2);              /* stable */
	pseudo_id(b, "host", "workstation-7", h2);
	assert_string_not_equal(h1, h2);          /* keyed */
	pseudo_id(a, "user", "workstation-7", h3);
	assert_string_not_equal(h1, h3);          /* domain-separated */

	/* A key file is made 0600 on first use and gives the same pseudonyms after. */
	dir = testenv_tmpdir("mimic-test-pseudo");
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/pseudonym.key", dir);
	assert_int_equal(pseudo_open(path, 0, &c, &cause), -ENOENT);
	free(cause);
	cause = NULL;
	assert_int_equal(pseudo_open(path, 1, &c, &cause), 0);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, PSEUDO_KEY_LEN);
	assert_int_equal(pseudo_open(path, 1, &d, &cause), 0);
	pseudo_id(c, "host", "x", h1);
	pseudo_id(d, "host", "x", h2);
	assert_string_equal(h1, h2);
	pseudo_free(d);
	d = NULL;
	/* Readable by others: refused with the fix. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(pseudo_open(path, 1, &d, &cause), -EPERM);
	assert_non_null(strstr(cause, "chmod 600"));
	free(cause);
	cause = NULL;
	/* Read-only for its owner (an organisation's key) is fine. */
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(pseudo_open(path, 0, &d, &cause), 0);
	pseudo_id(d, "host", "x", h2);
	assert_string_equal(h1, h2);
	pseudo_free(d);
	d = NULL;
	/*
	 * The organisation's key (PSEUDO_OWNED) owned by a user other than root and
	 * the one exporting: refused with the fix. A data directory's key may be
	 * another user's (root exporting for them).
	 */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 65534, (gid_t)-1), 0);
		assert_int_equal(pseudo_open(path, PSEUDO_OWNED, &d, &cause), -EPERM);
		assert_non_null(strstr(cause, "belongs to another user (uid 65534)"));
		assert_non_null(strstr(cause, "chown 0 "));
		free(cause);
		cause = NULL;
		assert_int_equal(pseudo_open(path, 0, &d, &cause), 0);
		pseudo_free(d);
		d = NULL;
		assert_int_equal(chown(path, 0, (gid_t)-1), 0);
	}
	assert_int_equal(pseudo_open(path, PSEUDO_OWNED, &d, &cause), 0);
	pseudo_free(d);
	d = NULL;
	/* The wrong size: refused. */
	unlink(path);
	f = fopen(path, "w");
	fputs("short", f);
	fclose(f);
	chmod(path, 0600);
	assert_int_equal(pseudo_open(path, 1, &d, &cause), -EINVAL);
	free(cause);
	testenv_tmpdir_remove(dir);
	pseudo_free(a);
	pseudo_free(b);
	pseudo_free(c);
}

/* The control request of `mimic task`: what is accepted and what is refused. */
static void test_task_request(void **state)
{
	struct ipc_request req;
	char *cause = NULL;
	char big[1200];
	int n;

	(void)state;
	const char *start = "{\"v\":1,\"cmd\":\"task\",\"task\":\"start\","
	                    "\"description\":\"File the report\"}";
	const char *end = "{\"v\":1,\"cmd\":\"task\",\"task\":\"end\",\"outcome\":\"fail\"}";

	assert_int_equal(ipc_parse_request(start, strlen(start), &req, NULL), 0);
	assert_int_equal(req.cmd, IPC_CMD_TASK);
	assert_int_equal(req.task, IPC_TASK_START);
	assert_string_equal(req.description, "File the report");
	assert_int_equal(ipc_parse_request(end, strlen(end), &req, NULL), 0);
	assert_int_equal(req.task, IPC_TASK_END);
	assert_int_equal(req.outcome, IPC_OUTCOME_FAIL);
	static const char *const bad[] = {
		"{\"v\":1,\"cmd\":\"task\"}",
		"{\"v\":1,\"cmd\":\"task\",\"task\":\"start\"}",
		"{\"v\":1,\"cmd\":\"task\",\"task\":\"start\",\"description\":\"\"}",
		"{\"v\":1,\"cmd\":\"task\",\"task\":\"start\",\"description\":\"a\\nb\"}",
		"{\"v\":1,\"cmd\":\"task\",\"task\":\"end\"}",
		"{\"v\":1,\"cmd\":\"task\",\"task\":\"end\",\"outcome\":\"maybe\"}",
		"{\"v\":1,\"cmd\":\"task\",\"task\":\"pause\"}",
		"{\"v\":1,\"cmd\":\"status\",\"task\":\"start\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_not_equal(ipc_parse_request(bad[i], strlen(bad[i]), &req, &cause), 0);
		assert_non_null(cause);
		free(cause);
		cause = NULL;
	}
	n = snprintf(big, sizeof(big), "{\"v\":1,\"cmd\":\"task\",\"task\":\"start\","
	             "\"description\":\"");
	memset(big + n, 'x', 1050);
	snprintf(big + n + 1050, sizeof(big) - (size_t)n - 1050, "\"}");
	assert_int_equal(ipc_parse_request(big, strlen(big), &req, &cause), -E2BIG);
	free(cause);
}

/* Markers go through the writer thread into the store and come back in order. */
static int collect(const struct store_task *t, void *arg)
{
	struct store_task *out = arg;

	for (int i = 0; i < 4; i++) {
		if (out[i].kind == 0) {
			out[i] = *t;
			return 0;
		}
	}
	return -ENOSPC;
}

static void test_task_store(void **state)
{
	char *dir;
	struct store *st = NULL;
	struct store_session s;
	struct writer *w = NULL;
	struct store_task t, got[4];
	struct event ev;
	int64_t id;

	(void)state;
	dir = testenv_tmpdir("mimic-test-tasks");
	assert_non_null(dir);
	assert_int_equal(store_open(dir, 0, &st, NULL), 0);
	memset(&s, 0, sizeof(s));
	s.start_wall_ns = 1;
	assert_int_equal(store_session_begin(st, &s, &id, NULL), 0);
	assert_int_equal(writer_start(st, id, 10, &w, NULL), 0);
	memset(&ev, 0, sizeof(ev));
	ev.id = 1;
	ev.kind = EVENT_MOTION;
	writer_push_event(w, &ev);
	memset(&t, 0, sizeof(t));
	t.kind = STORE_TASK_START;
	t.t_ns = 5;
	t.next_event = 2;
	snprintf(t.description, sizeof(t.description), "Pay the invoice");
	writer_push_task(w, &t);
	memset(&t, 0, sizeof(t));
	t.kind = STORE_TASK_END;
	t.outcome = STORE_TASK_SUCCESS;
	t.t_ns = 9;
	t.next_event = 7;
	writer_push_task(w, &t);
	assert_int_equal(writer_sync(w, NULL), 0);
	assert_int_equal(writer_stop(w, NULL), 0);
	memset(got, 0, sizeof(got));
	assert_int_equal(store_tasks_foreach(st, id, collect, got, NULL), 0);
	assert_int_equal(got[0].kind, STORE_TASK_START);
	assert_string_equal(got[0].description, "Pay the invoice");
	assert_int_equal(got[0].next_event, 2);
	assert_int_equal(got[1].kind, STORE_TASK_END);
	assert_int_equal(got[1].outcome, STORE_TASK_SUCCESS);
	assert_int_equal(got[1].t_ns, 9);
	assert_int_equal(got[2].kind, 0);
	store_close(st);
	assert_int_equal(testenv_tmpdir_remove(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_unlabelled),
		cmocka_unit_test(test_split_tasks),
		cmocka_unit_test(test_split_empty_task),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_params_from_config),
		cmocka_unit_test(test_pseudo),
		cmocka_unit_test(test_task_request),
		cmocka_unit_test(test_task_store),
	};

	return testenv_run(tests, NULL, NULL);
}
