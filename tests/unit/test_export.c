/*
 * Unit tests of the export's pure parts: the episode splitter (task markers,
 * idle gaps, application switches), the parameters written into every export,
 * and the pseudonyms of hosts and users (pseudo.c); and the bytes of exported
 * steps, without URLs (as before URLs were stored) and in a browser page (the
 * URL redacted, its query kept only with [capture] url_query).
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
#include <pwd.h>
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


/* --- Exported bytes: a session written into a store, exported, steps.jsonl read back --- */

/* A window context for the exported session: a terminal, or a browser with url. */
static void export_ctx(struct context *c, int32_t seq, const char *cls, const char *title,
                       const char *url)
{
	memset(c, 0, sizeof(*c));
	c->seq = seq;
	c->t_ns = seq * 1000 * MS;
	c->window = 0x400000u + (uint32_t)seq;
	c->w = 800;
	c->h = 600;
	snprintf(c->wm_instance, sizeof(c->wm_instance), "%s", cls);
	snprintf(c->wm_class, sizeof(c->wm_class), "%s", cls);
	snprintf(c->title, sizeof(c->title), "%s", title);
	snprintf(c->url, sizeof(c->url), "%s", url);
}

/* A focus on context ctx at t_ms, then a click at (x, y) 1 s later. */
static void export_click(struct event *ev, int64_t id, int32_t ctx, int64_t t_ms, int x, int y)
{
	memset(ev, 0, 4 * sizeof(*ev));
	for (int i = 0; i < 3; i++) {
		ev[i].id = id + i;
		ev[i].context = ctx;
		ev[i].x = x;
		ev[i].y = y;
	}
	ev[0].kind = EVENT_FOCUS;
	ev[0].t_ns = t_ms * MS;
	ev[1].kind = EVENT_BUTTON_PRESS;
	ev[1].detail = 1;
	ev[1].t_ns = (t_ms + 1000) * MS;
	ev[2].kind = EVENT_BUTTON_RELEASE;
	ev[2].detail = 1;
	ev[2].t_ns = (t_ms + 1050) * MS;
}

/* When set, export_steps stores it as the element of the last context's click. */
static const struct store_element *click_element;

/*
 * Records a session of one click in each context of ctxs (n of them) into a new
 * data directory, exports it as JSON Lines (url_query as the policy's [capture]
 * url_query) and returns steps.jsonl (malloc'ed). *host and *user receive the
 * pseudonyms the export must have written, *card (when card is not NULL) the
 * dataset card (malloc'ed).
 */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *text;
	long len;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return text;
}

static char *export_steps(const struct context *ctxs, size_t n, int url_query,
                          char host[PSEUDO_HEX_LEN + 1], char user[PSEUDO_HEX_LEN + 1],
                          char **card)
{
	char *dir = testenv_tmpdir("mimic-test-export");
	char data[512], out[512], key[512], path[600], *text, *cause = NULL;
	struct export_opts o;
	struct export_report rep;
	struct store_session s;
	struct store *st = NULL;
	struct pseudo *ps = NULL;
	struct event ev[4];
	struct passwd *pw;
	int64_t id;

	assert_non_null(dir);
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(key, sizeof(key), "%s/data/%s", dir, PSEUDO_KEY_NAME);
	assert_int_equal(store_open(data, 0, &st, NULL), 0);
	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "export");
	snprintf(s.host, sizeof(s.host), "testhost");
	s.start_wall_ns = 1;
	s.start_mono_ns = 1;
	s.screen_w = 1280;
	s.screen_h = 800;
	assert_int_equal(store_session_begin(st, &s, &id, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		export_click(ev, 1 + 3 * (int64_t)i, ctxs[i].seq, 1000 + 3000 * (int64_t)i,
		             100 + 10 * (int)i, 200);
		assert_int_equal(store_write_batch(st, id, ev, 3, &ctxs[i], 1, &cause), 0);
	}
	if (click_element != NULL) {
		struct store_element el = *click_element;

		el.event_id = 1 + 3 * (int64_t)(n - 1) + 1;
		assert_int_equal(store_write_elements(st, id, &el, 1, &cause), 0);
	}
	assert_int_equal(store_session_end(st, id, 2, "stopped", NULL), 0);
	store_close(st);

	export_opts_defaults(&o);
	o.data_dir = data;
	o.sessions = &id;
	o.n_sessions = 1;
	o.out_dir = out;
	o.url_query = url_query;
	if (export_run(&o, &rep, &cause) != 0)
		fail_msg("export_run: %s", cause != NULL ? cause : "?");
	assert_int_equal(rep.steps, 2 * n - 1);

	/* The pseudonyms the export used: the data directory's key, host and owner. */
	assert_int_equal(pseudo_open(key, 0, &ps, NULL), 0);
	pw = getpwuid(getuid());
	assert_non_null(pw);
	pseudo_id(ps, "host", "testhost", host);
	pseudo_id(ps, "user", pw->pw_name, user);
	pseudo_free(ps);

	snprintf(path, sizeof(path), "%s/steps.jsonl", out);
	text = slurp(path);
	if (card != NULL) {
		snprintf(path, sizeof(path), "%s/README.md", out);
		*card = slurp(path);
	}
	assert_int_equal(testenv_tmpdir_remove(dir), 0);
	return text;
}

/*
 * text with "@H8@" (the first 8 digits of host), "@HOST@" and "@USER@" replaced
 * by the pseudonyms (malloc'ed).
 */
static char *with_pseudonyms(const char *text, const char *host, const char *user)
{
	size_t cap = strlen(text) * 2 + 1, o = 0;
	char *out = malloc(cap);

	assert_non_null(out);
	while (*text != '\0') {
		const char *rep = NULL;
		size_t skip = 0;

		if (strncmp(text, "@H8@", 4) == 0)
			rep = host, skip = 4;
		else if (strncmp(text, "@HOST@", 6) == 0)
			rep = host, skip = 6;
		else if (strncmp(text, "@USER@", 6) == 0)
			rep = user, skip = 6;
		if (rep != NULL) {
			size_t n = skip == 4 ? 8 : strlen(rep);

			memcpy(out + o, rep, n);
			o += n;
			text += skip;
		} else {
			out[o++] = *text++;
		}
		assert_true(o + 20 < cap);
	}
	out[o] = '\0';
	return out;
}

/*
 * What mimic wrote for the session of test_export_without_url before the store
 * kept URLs: a click in a terminal, the switch to an editor, a click there.
 */
static const char steps_without_url[] =
	"{\"episode\":\"@H8@-s1-e0\",\"step\":0,\"session\":1,\"task\":null,"
	"\"outcome\":null,\"labelled\":false,\"t_ms\":0.0,\"t_end_ms\":50.0,"
	"\"kind\":\"click\",\"interaction\":\"click\",\"host\":\"@HOST@\",\"user\":\"@USER@\","
	"\"screen\":[1280,800],\"app\":\"XTerm\",\"window_title\":\"Terminal\","
	"\"element\":null,\"action\":{\"kind\":\"click\",\"interaction\":\"click\","
	"\"source\":\"human\",\"t_start_ns\":0,\"t_end_ns\":50000000,\"context\":1,"
	"\"x\":100,\"y\":200,\"button\":\"left\",\"clicks\":1,\"events\":{\"anchor\":2,"
	"\"first\":2,\"last\":3,\"count\":2,\"ids\":[2,3],\"truncated\":false},"
	"\"element_id\":null,\"pre_frame\":null,\"post_frame\":null,"
	"\"pyautogui\":\"pyautogui.click(x=100, y=200)\","
	"\"pyautogui_norm\":\"pyautogui.click(x=0.0781, y=0.2500)\","
	"\"computer_use\":{\"action\":\"left_click\",\"coordinate\":[100,200]}},"
	"\"frames\":{\"pre\":null,\"post\":null},\"images\":{\"pre\":null,\"post\":null},"
	"\"redacted\":false}\n"
	"{\"episode\":\"@H8@-s1-e0\",\"step\":1,\"session\":1,\"task\":null,"
	"\"outcome\":null,\"labelled\":false,\"t_ms\":2000.0,\"t_end_ms\":2000.0,"
	"\"kind\":\"switch\",\"interaction\":\"window_switch\",\"host\":\"@HOST@\","
	"\"user\":\"@USER@\",\"screen\":[1280,800],\"app\":\"XTerm\","
	"\"window_title\":\"Terminal\",\"element\":null,\"action\":{\"kind\":\"switch\","
	"\"interaction\":\"window_switch\",\"source\":\"human\","
	"\"t_start_ns\":2000000000,\"t_end_ns\":2000000000,\"context\":1,"
	"\"context_after\":2,\"events\":{\"anchor\":4,\"first\":4,\"last\":4,\"count\":1,"
	"\"ids\":[4],\"truncated\":false},\"element_id\":null,\"pre_frame\":null,"
	"\"post_frame\":null,\"pyautogui\":null,\"pyautogui_norm\":null,"
	"\"computer_use\":null},\"frames\":{\"pre\":null,\"post\":null},"
	"\"images\":{\"pre\":null,\"post\":null},\"redacted\":false}\n"
	"{\"episode\":\"@H8@-s1-e1\",\"step\":0,\"session\":1,\"task\":null,"
	"\"outcome\":null,\"labelled\":false,\"t_ms\":0.0,\"t_end_ms\":50.0,"
	"\"kind\":\"click\",\"interaction\":\"click\",\"host\":\"@HOST@\",\"user\":\"@USER@\","
	"\"screen\":[1280,800],\"app\":\"Gedit\",\"window_title\":\"notes.txt\","
	"\"element\":null,\"action\":{\"kind\":\"click\",\"interaction\":\"click\","
	"\"source\":\"human\",\"t_start_ns\":0,\"t_end_ns\":50000000,\"context\":2,"
	"\"x\":110,\"y\":200,\"button\":\"left\",\"clicks\":1,\"events\":{\"anchor\":5,"
	"\"first\":5,\"last\":6,\"count\":2,\"ids\":[5,6],\"truncated\":false},"
	"\"element_id\":null,\"pre_frame\":null,\"post_frame\":null,"
	"\"pyautogui\":\"pyautogui.click(x=110, y=200)\","
	"\"pyautogui_norm\":\"pyautogui.click(x=0.0859, y=0.2500)\","
	"\"computer_use\":{\"action\":\"left_click\",\"coordinate\":[110,200]}},"
	"\"frames\":{\"pre\":null,\"post\":null},\"images\":{\"pre\":null,\"post\":null},"
	"\"redacted\":false}\n";

/*
 * A session without URLs exports the bytes it did before URLs were stored: the
 * step's window is app and window_title, and nothing else.
 */
static void test_export_without_url(void **state)
{
	struct context ctxs[2];
	char host[PSEUDO_HEX_LEN + 1], user[PSEUDO_HEX_LEN + 1];
	char *steps, *want, *card;

	(void)state;
	export_ctx(&ctxs[0], 1, "XTerm", "Terminal", "");
	export_ctx(&ctxs[1], 2, "Gedit", "notes.txt", "");
	steps = export_steps(ctxs, 2, 0, host, user, &card);
	want = with_pseudonyms(steps_without_url, host, user);
	assert_string_equal(steps, want);
	/* The card says nothing of URLs where there are none. */
	assert_null(strstr(card, "`url`"));
	assert_null(strstr(card, "url_query"));
	free(card);
	free(want);
	free(steps);
}

/* Line i (0, 1, ...) of text (malloc'ed, without its newline). */
static char *line_of(const char *text, int i)
{
	const char *p = text, *nl;
	char *out;

	for (; i > 0; i--) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	nl = strchr(p, '\n');
	assert_non_null(nl);
	out = strndup(p, (size_t)(nl - p));
	assert_non_null(out);
	return out;
}

/* text with its first from replaced by to (malloc'ed); from must be there. */
static char *replaced(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	char *out = NULL;

	assert_non_null(at);
	assert_true(asprintf(&out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from)) > 0);
	return out;
}

/*
 * The step of a click in a browser page: its context is app, window_title and
 * url, the URL redacted (user info, fragment and, without [capture] url_query,
 * the query left out; the e-mail address in the path and in a kept query
 * replaced), the step marked redacted; steps in other windows have no url and
 * are the bytes they always were.
 */
static void test_export_url(void **state)
{
	struct context ctxs[2];
	char host[PSEUDO_HEX_LEN + 1], user[PSEUDO_HEX_LEN + 1];
	char *steps, *want, *got, *plain, *step, *tmp, *card;
	const char *url = "https://bob:hunter2@shop.example.com/users/alice@example.org/orders"
	                  "?sort=new&to=carol%40example.net#top";

	(void)state;
	export_ctx(&ctxs[0], 1, "XTerm", "Terminal", "");
	export_ctx(&ctxs[1], 2, "Chromium", "Orders - Chromium", url);
	for (int query = 0; query <= 1; query++) {
		steps = export_steps(ctxs, 2, query, host, user, &card);
		plain = with_pseudonyms(steps_without_url, host, user);
		/* The terminal's click and the switch: as without URLs. */
		for (int i = 0; i < 2; i++) {
			want = line_of(plain, i);
			got = line_of(steps, i);
			assert_string_equal(got, want);
			free(want);
			free(got);
		}
		/* The browser's click: the URL right after the title. */
		step = line_of(plain, 2);
		tmp = replaced(step, "\"app\":\"Gedit\",\"window_title\":\"notes.txt\",",
		               query ? "\"app\":\"Chromium\",\"window_title\":\"Orders - Chromium\","
		                       "\"url\":\"https://shop.example.com/users/<EMAIL>/orders"
		                       "?sort=new&to=<EMAIL>\","
		                     : "\"app\":\"Chromium\",\"window_title\":\"Orders - Chromium\","
		                       "\"url\":\"https://shop.example.com/users/<EMAIL>/orders\",");
		want = replaced(tmp, "\"redacted\":false}", "\"redacted\":true}");
		got = line_of(steps, 2);
		assert_string_equal(got, want);
		assert_null(strstr(steps, "hunter2"));
		assert_null(strstr(steps, "#top"));
		assert_null(strstr(steps, "example.org"));
		/* The card says what was kept of the URL. */
		assert_non_null(strstr(card, query ? "- Steps in a browser carry their page's URL "
		                                     "(`url`, 1 steps): scheme and host as they were, each path "
		                                     "segment through the text redaction, no user "
		                                     "name, password or fragment, and the query string "
		                                     "kept with each parameter redacted"
		                                   : "- Steps in a browser carry their page's URL "
		                                     "(`url`, 1 steps): scheme and host as they were, each path "
		                                     "segment through the text redaction, no user "
		                                     "name, password or fragment, and no query string "
		                                     "(the policy's `[capture] url_query` is off)"));
		free(card);
		free(got);
		free(want);
		free(tmp);
		free(step);
		free(plain);
		free(steps);
	}

	/* A page whose URL is not one: null, and the rest of the step as it was. */
	export_ctx(&ctxs[1], 2, "Chromium", "Orders - Chromium", "shop example/alice@example.org");
	steps = export_steps(ctxs, 2, 0, host, user, NULL);
	got = line_of(steps, 2);
	assert_non_null(strstr(got, "\"window_title\":\"Orders - Chromium\",\"url\":null,"
	                            "\"element\":null,"));
	assert_null(strstr(steps, "alice"));
	free(got);
	free(steps);
}

/*
 * A link pressed in a page: the element's page URL and the link's target are
 * redacted as the step's URL is (no user info or fragment, the query only with
 * [capture] url_query), and neither shows what was left out.
 */
static void test_export_element_urls(void **state)
{
	struct context ctxs[2];
	struct store_element el;
	char host[PSEUDO_HEX_LEN + 1], user[PSEUDO_HEX_LEN + 1];
	char *steps, *got;

	(void)state;
	memset(&el, 0, sizeof(el));
	el.kind = STORE_ELEMENT_PRESS;
	el.t_ns = 7000 * MS;
	el.read_ns = el.t_ns;
	snprintf(el.role, sizeof(el.role), "link");
	snprintf(el.name, sizeof(el.name), "Billing help");
	el.w = el.h = 10;
	snprintf(el.url, sizeof(el.url), "https://bob:hunter2@shop.example.com/orders?sort=new#top");
	snprintf(el.target, sizeof(el.target),
	         "https://shop.example.com/help/refunds?topic=billing#refunds");
	export_ctx(&ctxs[0], 1, "XTerm", "Terminal", "");
	export_ctx(&ctxs[1], 2, "Chromium", "Orders - Chromium",
	           "https://shop.example.com/orders?sort=new");
	click_element = &el;
	for (int query = 0; query <= 1; query++) {
		steps = export_steps(ctxs, 2, query, host, user, NULL);
		got = line_of(steps, 2);
		assert_non_null(strstr(got, "\"role\":\"link\""));
		assert_non_null(strstr(got, query
		        ? "\"url\":\"https://shop.example.com/orders?sort=new\","
		          "\"target\":\"https://shop.example.com/help/refunds?topic=billing\"}"
		        : "\"url\":\"https://shop.example.com/orders\","
		          "\"target\":\"https://shop.example.com/help/refunds\"}"));
		assert_null(strstr(steps, "hunter2"));
		assert_null(strstr(steps, "#"));
		free(got);
		free(steps);
	}
	click_element = NULL;
}

/* ---- interventions (export_interventions.c) ---- */

struct iv_seen {
	json_t *samples;
	int redacted;
};

/* A stand-in for the export's redaction: one known secret becomes a placeholder. */
static char *iv_test_redact(void *arg, const char *text)
{
	struct iv_seen *seen = arg;

	seen->redacted++;
	return strdup(strcmp(text, "hunter2") == 0 ? "<SECRET>" : text);
}

static int iv_test_emit(void *arg, const struct store_intervention *iv, json_t *sample)
{
	struct iv_seen *seen = arg;

	(void)iv;
	json_array_append(seen->samples, sample);
	return 0;
}

/* A step as the export writes it: number, action, source and computer-use form. */
static json_t *iv_step(int n, const char *source, const char *cu, const char *pre)
{
	return json_pack("{s:s, s:i, s:I, s:s, s:s, s:s, s:{s:s, s:o}, s:{s:s?}}",
	                 "episode", "h-s1-e0", "step", n, "session", (json_int_t)1,
	                 "task", "Enter Ada", "app", "Zenity", "interaction", "text_entry",
	                 "action", "source", source, "computer_use", json_loads(cu, 0, NULL),
	                 "images", "pre", pre);
}

/* Feeds the steps (anchor, source) to a fresh export_iv; returns the samples. */
static json_t *iv_run(const struct store_intervention *ivs, size_t n, struct iv_seen *seen)
{
	static const struct { int64_t anchor; int source; const char *cu; const char *pre; } st[] = {
		{ 3, EVENT_SOURCE_AGENT, "{\"action\":\"left_click\",\"coordinate\":[5,6]}", NULL },
		{ 5, EVENT_SOURCE_AGENT, "{\"action\":\"type\",\"text\":\"Bob\"}", "images/a.png" },
		{ 11, EVENT_SOURCE_SYNTHETIC, "{\"action\":\"key\",\"text\":\"BackSpace\"}",
		  "images/b.png" },
		{ 12, EVENT_SOURCE_AGENT, "{\"action\":\"key\",\"text\":\"Tab\"}", NULL },
		{ 14, EVENT_SOURCE_HUMAN, "{\"action\":\"type\",\"text\":\"Ada\"}", NULL },
		{ 21, EVENT_SOURCE_AGENT, "{\"action\":\"key\",\"text\":\"Tab\"}", NULL },
	};
	struct export_iv v;

	seen->samples = json_array();
	seen->redacted = 0;
	export_iv_init(&v, ivs, n, iv_test_redact, iv_test_emit, seen);
	for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
		json_t *step = iv_step((int)i, event_source_name(st[i].source), st[i].cu, st[i].pre);

		assert_int_equal(export_iv_step(&v, st[i].anchor, st[i].source, step), 0);
		json_decref(step);
	}
	assert_int_equal(export_iv_finish(&v), 0);
	export_iv_free(&v);
	return seen->samples;
}

static void assert_json(json_t *got, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);
	char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	assert_non_null(w);
	if (!json_equal(got, w))
		fail_msg("got %s, want %s", g, want);
	free(g);
	json_decref(w);
}

/*
 * The samples of an intervention: the person's actions in the span (not the
 * agent's action still in flight), the agent's before it as context, the
 * observation before the person's first action; the preference pair's rejected
 * action is the pending call (redacted, without intent), else the agent's last
 * executed one; an intervention without the person's steps gives nothing.
 */
static void test_intervention_samples(void **state)
{
	struct store_intervention iv[2];
	struct iv_seen seen;
	json_t *out, *sft, *pref;
	char *t;

	(void)state;
	memset(iv, 0, sizeof(iv));
	iv[0] = (struct store_intervention){ .id = 4, .first_event = 10, .end_event = 20,
	                                     .handback = STORE_HANDBACK_COMMAND, .refused = 1 };
	strcpy(iv[0].pending, "{\"action\":\"type\",\"text\":\"hunter2\",\"intent\":\"pw\","
	                      "\"task\":\"Enter Ada\"}");
	/* A second one after the last step: no step of the person's, no samples. */
	iv[1] = (struct store_intervention){ .id = 5, .first_event = 30, .end_event = 40,
	                                     .handback = STORE_HANDBACK_IDLE };
	out = iv_run(iv, 2, &seen);
	assert_int_equal(json_array_size(out), 2);
	sft = json_array_get(out, 0);
	pref = json_array_get(out, 1);
	assert_string_equal(json_string_value(json_object_get(sft, "type")), "sft");
	assert_json(json_object_get(sft, "human_actions"),
	            "[{\"action\":\"key\",\"text\":\"BackSpace\"},"
	            "{\"action\":\"type\",\"text\":\"Ada\"}]");
	assert_json(json_object_get(sft, "human_steps"), "[2, 4]");
	assert_json(json_object_get(sft, "agent_actions"),
	            "[{\"action\":\"left_click\",\"coordinate\":[5,6]},"
	            "{\"action\":\"type\",\"text\":\"Bob\"}]");
	assert_json(json_object_get(sft, "images"), "[\"images/b.png\"]");
	assert_string_equal(json_string_value(json_object_get(sft, "intervention")), "h-s1-e0-i4");
	assert_string_equal(json_string_value(json_object_get(sft, "handback")), "command");
	t = json_dumps(json_object_get(sft, "messages"), JSON_COMPACT);
	assert_non_null(strstr(t, "Task: Enter Ada"));
	free(t);
	assert_string_equal(json_string_value(json_object_get(pref, "type")), "preference");
	assert_string_equal(json_string_value(json_object_get(pref, "rejected_from")), "pending");
	assert_json(json_object_get(pref, "rejected_action"),
	            "{\"action\":\"type\",\"text\":\"<SECRET>\"}");
	assert_json(json_object_get(pref, "chosen_action"),
	            "{\"action\":\"key\",\"text\":\"BackSpace\"}");
	assert_json(json_object_get(pref, "rejected"), "[{\"role\":\"assistant\",\"content\":"
	            "[{\"type\":\"text\",\"text\":\"{\\\"action\\\":\\\"type\\\",\\\"text\\\":"
	            "\\\"<SECRET>\\\"}\"}]}]");
	/* The same observation: the prompt is the SFT sample's user turn. */
	json_t *user = json_pack("[O]", json_array_get(json_object_get(sft, "messages"), 0));
	assert_true(json_equal(json_object_get(pref, "prompt"), user));
	json_decref(user);
	assert_true(seen.redacted >= 1);
	json_decref(out);

	/* Without a pending call, rejected is what the agent did last before the takeover. */
	iv[0].pending[0] = '\0';
	out = iv_run(iv, 1, &seen);
	assert_int_equal(json_array_size(out), 2);
	pref = json_array_get(out, 1);
	assert_string_equal(json_string_value(json_object_get(pref, "rejected_from")), "executed");
	assert_json(json_object_get(pref, "rejected_action"),
	            "{\"action\":\"type\",\"text\":\"Bob\"}");
	json_decref(out);
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
		cmocka_unit_test(test_export_without_url),
		cmocka_unit_test(test_export_url),
		cmocka_unit_test(test_export_element_urls),
		cmocka_unit_test(test_intervention_samples),
	};

	return testenv_run(tests, NULL, NULL);
}
