/*
 * Unit tests of writer: events pushed from one thread arrive complete and in
 * order, writer_sync waits for the commit, the flush interval commits without
 * being asked, and a failing commit is reported and retried without losing events.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testenv.h"
#include <sqlite3.h>

#include "event.h"
#include "store.h"
#include "writer.h"

struct fixture {
	char *dir;
	char db[300];
	struct store *st;
	int64_t session;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_session s;
	char *cause = NULL;

	assert_non_null(f);
	f->dir = testenv_tmpdir("mimic-test-writer");
	assert_non_null(f->dir);
	snprintf(f->db, sizeof(f->db), "%s/%s", f->dir, STORE_DB_NAME);
	assert_int_equal(store_open(f->dir, 0, &f->st, &cause), 0);
	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "writer-test");
	s.start_mono_ns = 1;
	s.start_wall_ns = 1;
	assert_int_equal(store_session_begin(f->st, &s, &f->session, &cause), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	testenv_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* Counts the events of the session through a second, read-only connection. */
static int64_t stored_events(struct fixture *f)
{
	struct store *ro = NULL;
	char *cause = NULL;
	int64_t counts[EVENT_KIND_MAX_], n = 0;

	assert_int_equal(store_open(f->dir, STORE_READONLY, &ro, &cause), 0);
	assert_int_equal(store_session_counts(ro, f->session, counts, &cause), 0);
	for (int k = 0; k < EVENT_KIND_MAX_; k++)
		n += counts[k];
	store_close(ro);
	return n;
}

static void make_event(struct event *ev, int i)
{
	memset(ev, 0, sizeof(*ev));
	ev->t_ns = 1000 + i;
	ev->kind = i % 2 == 0 ? EVENT_KEY_PRESS : EVENT_KEY_RELEASE;
	ev->detail = i;
	ev->x = i % 1920;
	ev->y = i % 1080;
	snprintf(ev->keysym, sizeof(ev->keysym), "k%d", i);
}

struct order {
	int n;
	int bad;
};

static int check_order(int64_t id, const struct event *ev, const struct context *ctx, void *arg)
{
	struct order *o = arg;
	char want[EVENT_KEYSYM_MAX];

	snprintf(want, sizeof(want), "k%d", o->n);
	if (ev->detail != o->n || ev->t_ns != 1000 + o->n || strcmp(ev->keysym, want) != 0)
		o->bad++;
	o->n++;
	return 0;
}

static void test_many_events_in_order(void **state)
{
	struct fixture *f = *state;
	struct writer *w = NULL;
	struct writer_stats stats;
	struct event ev;
	struct order o = { 0, 0 };
	char *cause = NULL;
	const int n = 100000;

	assert_int_equal(writer_start(f->st, f->session, 5, &w, &cause), 0);
	for (int i = 0; i < n; i++) {
		make_event(&ev, i);
		writer_push_event(w, &ev);
		/* Now and then give the writer a chance to commit mid-stream. */
		if (i % 20000 == 0)
			usleep(10000);
	}
	writer_get_stats(w, &stats);
	assert_int_equal(stats.queued, n);
	assert_int_equal(writer_stop(w, &cause), 0);
	assert_null(cause);

	assert_int_equal(store_events_foreach(f->st, f->session, check_order, &o, &cause), 0);
	assert_int_equal(o.n, n);
	assert_int_equal(o.bad, 0);
}

static int count_frame(const struct store_frame *fr, void *arg)
{
	int *n = arg;

	/* Frames pushed from another thread keep their ids and order. */
	assert_int_equal(fr->id, 100 + *n);
	assert_int_equal(fr->event_id, *n + 1);
	(*n)++;
	return 0;
}

struct frame_pusher {
	struct writer *w;
	int n;
};

static void *push_frames(void *arg)
{
	struct frame_pusher *p = arg;
	struct store_frame fr;

	for (int i = 0; i < p->n; i++) {
		memset(&fr, 0, sizeof(fr));
		fr.id = 100 + i;
		fr.event_id = i + 1;
		fr.t_ns = i;
		snprintf(fr.trigger, sizeof(fr.trigger), "pre");
		memset(fr.blob, 'b', 64);
		snprintf(fr.format, sizeof(fr.format), "jpeg");
		writer_push_frame(p->w, &fr);
	}
	return NULL;
}

static void test_frames_with_events(void **state)
{
	struct fixture *f = *state;
	struct writer *w = NULL;
	struct writer_stats stats;
	struct frame_pusher p;
	struct event ev;
	pthread_t t;
	char *cause = NULL;
	int n = 0;

	assert_int_equal(writer_start(f->st, f->session, 5, &w, &cause), 0);
	p.w = w;
	p.n = 500;
	assert_int_equal(pthread_create(&t, NULL, push_frames, &p), 0);
	for (int i = 0; i < 1000; i++) {
		make_event(&ev, i);
		writer_push_event(w, &ev);
	}
	pthread_join(t, NULL);
	assert_int_equal(writer_sync(w, &cause), 0);
	writer_get_stats(w, &stats);
	assert_int_equal(stats.frames, 500);
	assert_int_equal(stats.frames_dropped, 0);
	assert_int_equal(stats.stored, 1000);
	assert_int_equal(writer_stop(w, &cause), 0);
	assert_int_equal(store_frames_foreach(f->st, f->session, count_frame, &n, &cause), 0);
	assert_int_equal(n, 500);
	assert_int_equal(stored_events(f), 1000);
}

static void test_sync_and_stats(void **state)
{
	struct fixture *f = *state;
	struct writer *w = NULL;
	struct writer_stats stats;
	struct event ev;
	struct context ctx;
	char *cause = NULL;

	/* A long interval: only writer_sync can make these visible quickly. */
	assert_int_equal(writer_start(f->st, f->session, 60000, &w, &cause), 0);
	assert_int_equal(writer_sync(w, &cause), 0);  /* nothing queued: returns at once */

	memset(&ctx, 0, sizeof(ctx));
	ctx.seq = 1;
	snprintf(ctx.title, sizeof(ctx.title), "Terminal");
	writer_push_context(w, &ctx);
	for (int i = 0; i < 10; i++) {
		make_event(&ev, i);
		writer_push_event(w, &ev);
	}
	assert_int_equal(stored_events(f), 0);
	assert_int_equal(writer_sync(w, &cause), 0);
	assert_null(cause);
	assert_int_equal(stored_events(f), 10);

	writer_get_stats(w, &stats);
	assert_int_equal(stats.queued, 10);
	assert_int_equal(stats.stored, 10);
	assert_int_equal(stats.contexts, 1);
	assert_int_equal(stats.dropped, 0);
	assert_int_equal(stats.batches, 1);
	assert_int_equal(stats.error, 0);
	assert_string_equal(stats.error_text, "");

	make_event(&ev, 10);
	writer_push_event(w, &ev);
	assert_int_equal(writer_stop(w, &cause), 0);
	assert_int_equal(stored_events(f), 11);
}

static void test_flush_interval(void **state)
{
	struct fixture *f = *state;
	struct writer *w = NULL;
	struct writer_stats stats;
	struct event ev;
	char *cause = NULL;
	int64_t n = 0;

	assert_int_equal(writer_start(f->st, f->session, 20, &w, &cause), 0);
	make_event(&ev, 0);
	writer_push_event(w, &ev);
	/* Committed by the interval alone, without writer_sync. */
	for (int tries = 0; tries < 200 && n == 0; tries++) {
		usleep(10000);
		n = stored_events(f);
	}
	assert_int_equal(n, 1);
	writer_get_stats(w, &stats);
	assert_int_equal(stats.stored, 1);
	assert_int_equal(writer_stop(w, &cause), 0);
}

/* Runs SQL through a second connection, as another process would. */
static void raw_exec(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(h);
}

static char *events_schema(const char *db)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *stmt = NULL;
	char *sql = NULL;
	size_t len = 0;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT sql FROM sqlite_master WHERE tbl_name = "
	                                    "'events' AND sql IS NOT NULL ORDER BY type DESC",
	                                    -1, &stmt, NULL), SQLITE_OK);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(stmt, 0);
		sql = realloc(sql, len + strlen(s) + 2);
		assert_non_null(sql);
		memcpy(sql + len, s, strlen(s));
		len += strlen(s);
		sql[len++] = ';';
		sql[len] = '\0';
	}
	sqlite3_finalize(stmt);
	sqlite3_close(h);
	assert_non_null(sql);
	return sql;
}

static void test_commit_error_retried(void **state)
{
	struct fixture *f = *state;
	struct writer *w = NULL;
	struct writer_stats stats;
	struct event ev;
	struct order o = { 0, 0 };
	char *cause = NULL;
	char *schema = events_schema(f->db);

	assert_int_equal(writer_start(f->st, f->session, 10, &w, &cause), 0);
	make_event(&ev, 0);
	writer_push_event(w, &ev);
	assert_int_equal(writer_sync(w, &cause), 0);

	/* The events table disappears under the writer: commits fail. */
	raw_exec(f->db, "DROP TABLE events");
	for (int i = 1; i < 50; i++) {
		make_event(&ev, i);
		writer_push_event(w, &ev);
	}
	assert_int_not_equal(writer_sync(w, &cause), 0);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "events"));
	free(cause);
	cause = NULL;
	writer_get_stats(w, &stats);
	assert_int_not_equal(stats.error, 0);
	assert_non_null(strstr(stats.error_text, "no such table: events"));
	assert_int_equal(stats.stored, 1);
	assert_int_equal(stats.dropped, 0);

	/* More arrive while it fails; then the cause goes away. */
	for (int i = 50; i < 100; i++) {
		make_event(&ev, i);
		writer_push_event(w, &ev);
	}
	usleep(50000);
	raw_exec(f->db, schema);
	assert_int_equal(writer_sync(w, &cause), 0);
	assert_null(cause);
	writer_get_stats(w, &stats);
	assert_int_equal(stats.error, 0);
	assert_string_equal(stats.error_text, "");
	assert_int_equal(stats.stored, 100);
	assert_int_equal(writer_stop(w, &cause), 0);

	/* Nothing queued while it failed was lost, and the order held (event 0 was dropped with the table). */
	o.n = 1;
	assert_int_equal(store_events_foreach(f->st, f->session, check_order, &o, &cause), 0);
	assert_int_equal(o.n, 100);
	assert_int_equal(o.bad, 0);
	free(schema);
}

static void test_stop_reports_error(void **state)
{
	struct fixture *f = *state;
	struct writer *w = NULL;
	struct event ev;
	char *cause = NULL;

	assert_int_equal(writer_start(f->st, f->session, 60000, &w, &cause), 0);
	raw_exec(f->db, "DROP TABLE events");
	for (int i = 0; i < 3; i++) {
		make_event(&ev, i);
		writer_push_event(w, &ev);
	}
	assert_int_not_equal(writer_stop(w, &cause), 0);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "3 events could not be stored"));
	free(cause);
}

/* A job sees everything pushed before it committed, and runs on the writer thread. */
struct job_seen {
	int64_t counts[EVENT_KIND_MAX_];
	pthread_t thread;
	int runs;
};

static int count_job(struct store *st, void *arg)
{
	struct job_seen *j = arg;

	j->thread = pthread_self();
	j->runs++;
	return store_session_counts(st, 1, j->counts, NULL) == 0 ? 42 : -EIO;
}

static int posted_job(struct store *st, void *arg)
{
	int *runs = arg;

	(void)st;
	(*runs)++;
	return 0;
}

static void test_jobs(void **state)
{
	struct fixture *f = *state;
	struct writer *w = NULL;
	struct job_seen j;
	struct event ev;
	char *cause = NULL;
	int posted = 0;

	memset(&j, 0, sizeof(j));
	/* A long flush interval: only the job makes the writer commit now. */
	assert_int_equal(writer_start(f->st, f->session, 60000, &w, &cause), 0);
	for (int i = 0; i < 10; i++) {
		make_event(&ev, i);
		writer_push_event(w, &ev);
	}
	assert_int_equal(writer_run(w, count_job, &j), 42);
	assert_int_equal(j.runs, 1);
	assert_int_equal(j.counts[EVENT_KEY_PRESS] + j.counts[EVENT_KEY_RELEASE], 10);
	assert_false(pthread_equal(j.thread, pthread_self()));
	/* A posted job runs, at the latest before the writer stops. */
	assert_int_equal(writer_post(w, posted_job, &posted), 0);
	assert_int_equal(writer_stop(w, &cause), 0);
	assert_int_equal(posted, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_many_events_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync_and_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frames_with_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_interval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_error_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_reports_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
	};

	return testenv_run(tests, NULL, NULL);
}
