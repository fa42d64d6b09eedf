/*
 * Unit tests of store: creating and reopening a database, migrations, refusing
 * newer, corrupt and foreign files and unwritable directories, sessions, devices,
 * a round trip of every field of events, contexts and frames, the upgrade of
 * a version 1 database to version 2, the rule-set fingerprint of a frame's
 * scan (none for a scan stored by version 7), and a page's URL, stored sealed
 * only, with the upgrade from version 8 that added it.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sqlite3.h>

#include "event.h"
#include "store.h"

/* A fresh directory under $TMPDIR for one test; removed by the teardown. */
struct fixture {
	char *dir;
	char data[300];   /* dir/data: the data directory, not created yet */
	char db[340];     /* data/mimic.db */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = testenv_tmpdir("mimic-test-store");
	assert_non_null(f->dir);
	snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
	snprintf(f->db, sizeof(f->db), "%s/%s", f->data, STORE_DB_NAME);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	testenv_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static struct store *open_ok(const char *dir, int flags)
{
	struct store *st = NULL;
	char *cause = NULL;
	int err = store_open(dir, flags, &st, &cause);

	if (err != 0)
		fail_msg("store_open(%s): %d %s", dir, err, cause != NULL ? cause : "(no cause)");
	assert_null(cause);
	assert_non_null(st);
	return st;
}

/* Runs one statement through a separate, plain SQLite connection. */
static void raw_exec(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(h);
}

static int raw_int(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *stmt = NULL;
	int v;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(h);
	return v;
}

static char *raw_text(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *stmt = NULL;
	char *v;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	v = strdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	sqlite3_close(h);
	return v;
}

static int64_t begin_session(struct store *st, const char *name, int64_t wall, int64_t mono)
{
	struct store_session s;
	char *cause = NULL;
	int64_t id = -1;

	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "%s", name);
	snprintf(s.host, sizeof(s.host), "testhost");
	s.start_wall_ns = wall;
	s.start_mono_ns = mono;
	s.screen_w = 1920;
	s.screen_h = 1080;
	snprintf(s.keymap, sizeof(s.keymap), "evdev/pc105/us");
	snprintf(s.version, sizeof(s.version), "0.1.0");
	assert_int_equal(store_session_begin(st, &s, &id, &cause), 0);
	assert_null(cause);
	assert_true(id > 0);
	return id;
}

static void test_create_and_reopen(void **state)
{
	struct fixture *f = *state;
	struct stat sb;
	struct store *st;

	st = open_ok(f->data, 0);
	assert_int_equal(store_schema_version_found(st), 0);
	store_close(st);

	/* The directory is private, and so is the file, whatever the umask. */
	assert_int_equal(stat(f->data, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(stat(f->db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	char *mode = raw_text(f->db, "PRAGMA journal_mode");
	assert_string_equal(mode, "wal");
	free(mode);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_master WHERE type = 'index' "
	                         "AND name = 'events_session'"), 1);

	st = open_ok(f->data, 0);
	assert_int_equal(store_schema_version_found(st), STORE_SCHEMA_VERSION);
	store_close(st);

	st = open_ok(f->data, STORE_READONLY);
	assert_int_equal(store_schema_version_found(st), STORE_SCHEMA_VERSION);
	store_close(st);
}

static void test_nested_dir_created(void **state)
{
	struct fixture *f = *state;
	char nested[400];
	struct stat sb;
	struct store *st;

	snprintf(nested, sizeof(nested), "%s/a/b/c", f->data);
	st = open_ok(nested, 0);
	store_close(st);
	assert_int_equal(stat(nested, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0700);
}

static void test_migrations_idempotent(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	char *schema1, *schema2;
	const char *dump = "SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_master "
	                   "WHERE sql IS NOT NULL ORDER BY name)";

	/* An empty file (version 0) is migrated like a missing one. */
	assert_int_equal(mkdir(f->data, 0700), 0);
	int fd = open(f->db, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	st = open_ok(f->data, 0);
	assert_int_equal(store_schema_version_found(st), 0);
	store_close(st);
	schema1 = raw_text(f->db, dump);

	for (int i = 0; i < 3; i++) {
		st = open_ok(f->data, 0);
		assert_int_equal(store_schema_version_found(st), STORE_SCHEMA_VERSION);
		store_close(st);
	}
	schema2 = raw_text(f->db, dump);
	assert_string_equal(schema1, schema2);
	assert_non_null(strstr(schema1, "CREATE TABLE events"));
	assert_non_null(strstr(schema1, "CREATE TABLE contexts"));
	assert_non_null(strstr(schema1, "CREATE TABLE devices"));
	assert_non_null(strstr(schema1, "CREATE TABLE sessions"));
	assert_non_null(strstr(schema1, "CREATE TABLE frames"));
	free(schema1);
	free(schema2);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct store *st = NULL;
	char *cause = NULL;

	store_close(open_ok(f->data, 0));
	raw_exec(f->db, "PRAGMA user_version = 99");

	assert_int_equal(store_open(f->data, 0, &st, &cause), -EPROTO);
	assert_null(st);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "99"));
	assert_non_null(strstr(cause, f->db));
	assert_non_null(strstr(cause, "upgrade mimic"));
	free(cause);
	cause = NULL;

	assert_int_equal(store_open(f->data, STORE_READONLY, &st, &cause), -EPROTO);
	assert_non_null(strstr(cause, "99"));
	free(cause);

	/* Refusing must not have changed the file. */
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 99);
}

static void test_corrupt_refused(void **state)
{
	struct fixture *f = *state;
	struct store *st = NULL;
	char *cause = NULL;
	char junk[8192];
	FILE *fp;

	assert_int_equal(mkdir(f->data, 0700), 0);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)('A' + i % 26);
	fp = fopen(f->db, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
	fclose(fp);

	assert_int_equal(store_open(f->data, 0, &st, &cause), -EIO);
	assert_null(st);
	assert_non_null(cause);
	assert_non_null(strstr(cause, f->db));
	assert_non_null(strstr(cause, "not a readable mimic database"));
	free(cause);
	cause = NULL;

	assert_int_equal(store_open(f->data, STORE_READONLY, &st, &cause), -EIO);
	assert_non_null(strstr(cause, "not a readable mimic database"));
	free(cause);
}

static void test_foreign_db_refused(void **state)
{
	struct fixture *f = *state;
	struct store *st = NULL;
	char *cause = NULL;

	assert_int_equal(mkdir(f->data, 0700), 0);
	raw_exec(f->db, "CREATE TABLE bookmarks (url TEXT)");
	assert_int_equal(store_open(f->data, 0, &st, &cause), -EIO);
	assert_non_null(strstr(cause, "not a readable mimic database"));
	free(cause);
	/* It was left alone. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_master"), 1);
}

static void test_readonly_missing(void **state)
{
	struct fixture *f = *state;
	struct store *st = NULL;
	char *cause = NULL;

	assert_int_equal(store_open(f->data, STORE_READONLY, &st, &cause), -ENOENT);
	assert_non_null(strstr(cause, f->data));
	free(cause);
	/* Reading never creates anything. */
	assert_int_equal(access(f->data, F_OK), -1);
}

/*
 * The unprivileged side of test_unwritable_dir, run as uid 65534 when the test
 * runs as root (permission bits do not stop root): a data directory without
 * write permission is refused by name, and nothing is created in it.
 */
static int unwritable_as_user(void *arg)
{
	const struct fixture *f = arg;
	struct store *st = NULL;
	char *cause = NULL;
	int err;

	TESTENV_CHECK(mkdir(f->data, 0500) == 0);
	err = store_open(f->data, 0, &st, &cause);
	TESTENV_CHECK(err == -EACCES);
	TESTENV_CHECK(st == NULL);
	TESTENV_CHECK(cause != NULL);
	TESTENV_CHECK(strstr(cause, f->data) != NULL);
	TESTENV_CHECK(strstr(cause, "is not writable") != NULL);
	TESTENV_CHECK(strstr(cause, "choose another with --data-dir") != NULL);
	TESTENV_CHECK(access(f->db, F_OK) != 0 && errno == ENOENT);
	free(cause);
	return 0;
}

static void test_unwritable_dir(void **state)
{
	struct fixture *f = *state;
	struct store *st = NULL;
	char *cause = NULL;
	int err;

	/* A path under a file cannot be created, even by root. */
	err = store_open("/dev/null/mimic", 0, &st, &cause);
	assert_true(err == -ENOTDIR || err == -EACCES);
	assert_null(st);
	assert_non_null(strstr(cause, "data directory /dev/null/mimic is not writable"));
	assert_non_null(strstr(cause, "--data-dir"));
	free(cause);
	cause = NULL;

	/* Permission bits do not stop root: an ordinary user is refused, also in CI. */
	testenv_as_user(f->dir, unwritable_as_user, f);
}

static void test_sessions(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct store_session s;
	char *cause = NULL;
	int64_t a, b, c, id;

	assert_int_equal(store_session_resolve(st, "last", &id, &cause), -ENOENT);
	assert_non_null(strstr(cause, "last"));
	free(cause);
	cause = NULL;

	a = begin_session(st, "demo", 1000000000000, 5000);
	b = begin_session(st, "other", 2000000000000, 6000);
	c = begin_session(st, "demo", 3000000000000, 7000);
	assert_true(a < b && b < c);

	assert_int_equal(store_session_get(st, b, &s, &cause), 0);
	assert_int_equal(s.id, b);
	assert_string_equal(s.name, "other");
	assert_string_equal(s.host, "testhost");
	assert_int_equal(s.start_wall_ns, 2000000000000);
	assert_int_equal(s.start_mono_ns, 6000);
	assert_int_equal(s.end_wall_ns, 0);
	assert_string_equal(s.end_reason, "");
	assert_int_equal(s.screen_w, 1920);
	assert_int_equal(s.screen_h, 1080);
	assert_string_equal(s.keymap, "evdev/pc105/us");
	assert_string_equal(s.version, "0.1.0");

	assert_int_equal(store_session_end(st, b, 2500000000000, "stopped", &cause), 0);
	assert_int_equal(store_session_get(st, b, &s, &cause), 0);
	assert_int_equal(s.end_wall_ns, 2500000000000);
	assert_string_equal(s.end_reason, "stopped");

	assert_int_equal(store_session_end(st, 999, 1, "stopped", &cause), -ENOENT);
	free(cause);
	cause = NULL;
	assert_int_equal(store_session_get(st, 999, &s, &cause), -ENOENT);
	free(cause);
	cause = NULL;

	char spec[32];
	snprintf(spec, sizeof(spec), "%lld", (long long)a);
	assert_int_equal(store_session_resolve(st, spec, &id, &cause), 0);
	assert_int_equal(id, a);
	assert_int_equal(store_session_resolve(st, "last", &id, &cause), 0);
	assert_int_equal(id, c);
	assert_int_equal(store_session_resolve(st, "demo", &id, &cause), 0);
	assert_int_equal(id, c);
	assert_int_equal(store_session_resolve(st, "other", &id, &cause), 0);
	assert_int_equal(id, b);
	assert_null(cause);

	assert_int_equal(store_session_resolve(st, "999", &id, &cause), -ENOENT);
	assert_non_null(strstr(cause, "999"));
	free(cause);
	cause = NULL;
	assert_int_equal(store_session_resolve(st, "99999999999999999999999", &id, &cause),
	                 -ENOENT);
	free(cause);
	cause = NULL;
	assert_int_equal(store_session_resolve(st, "nosuch", &id, &cause), -ENOENT);
	assert_non_null(strstr(cause, "\"nosuch\""));
	free(cause);
	cause = NULL;
	assert_int_equal(store_session_resolve(st, "", &id, &cause), -EINVAL);
	free(cause);
	store_close(st);
}

struct collected {
	int64_t ids[8];
	int n;
	int stop_after;
};

static int collect_session(const struct store_session *s, void *arg)
{
	struct collected *c = arg;

	c->ids[c->n++] = s->id;
	return c->n == c->stop_after ? 42 : 0;
}

static void test_sessions_foreach(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct collected c = { .n = 0 };
	char *cause = NULL;
	int64_t a = begin_session(st, "", 1, 1);
	int64_t b = begin_session(st, "", 2, 2);
	int64_t d = begin_session(st, "", 3, 3);

	assert_int_equal(store_sessions_foreach(st, collect_session, &c, &cause), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.ids[0], a);
	assert_int_equal(c.ids[1], b);
	assert_int_equal(c.ids[2], d);

	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	assert_int_equal(store_sessions_foreach(st, collect_session, &c, &cause), 42);
	assert_int_equal(c.n, 2);
	assert_null(cause);
	store_close(st);
}

static int collect_device(const struct store_device *d, void *arg)
{
	struct store_device *out = arg;
	int i = 0;

	while (out[i].id != 0)
		i++;
	out[i] = *d;
	return 0;
}

static void test_devices(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct store_device got[8];
	char *cause = NULL;
	int64_t s1 = begin_session(st, "", 1, 1);
	int64_t s2 = begin_session(st, "", 2, 2);

	assert_int_equal(store_device_put(st, s1, 12, "Logitech USB Keyboard", 0, &cause), 0);
	assert_int_equal(store_device_put(st, s1, 9, "Virtual core XTEST pointer", 1, &cause), 0);
	assert_int_equal(store_device_put(st, s1, 10, "Old name", 0, &cause), 0);
	assert_int_equal(store_device_put(st, s1, 10, "Clavier Français ⌨", 0, &cause), 0);
	assert_int_equal(store_device_put(st, s2, 3, "Other session", 0, &cause), 0);
	assert_null(cause);

	memset(got, 0, sizeof(got));
	assert_int_equal(store_devices_foreach(st, s1, collect_device, got, &cause), 0);
	assert_int_equal(got[0].id, 9);
	assert_string_equal(got[0].name, "Virtual core XTEST pointer");
	assert_int_equal(got[0].synthetic, 1);
	assert_int_equal(got[1].id, 10);
	assert_string_equal(got[1].name, "Clavier Français ⌨");
	assert_int_equal(got[1].synthetic, 0);
	assert_int_equal(got[2].id, 12);
	assert_string_equal(got[2].name, "Logitech USB Keyboard");
	assert_int_equal(got[3].id, 0);

	/* A device of a session that does not exist violates the foreign key. */
	assert_int_not_equal(store_device_put(st, 12345, 1, "x", 0, &cause), 0);
	assert_non_null(cause);
	free(cause);
	store_close(st);
}

struct seen {
	int n;
	int64_t last_id;
	struct event evs[8];
	struct context ctxs[8];
	int has_ctx[8];
};

static int collect_event(int64_t id, const struct event *ev, const struct context *ctx,
                         void *arg)
{
	struct seen *s = arg;

	assert_true(id > s->last_id);
	s->last_id = id;
	assert_true(s->n < 8);
	s->evs[s->n] = *ev;
	s->has_ctx[s->n] = ctx != NULL;
	if (ctx != NULL)
		s->ctxs[s->n] = *ctx;
	s->n++;
	return 0;
}

static void fill_context(struct context *c, int seq, const char *title)
{
	memset(c, 0, sizeof(*c));
	c->seq = seq;
	c->t_ns = 123456789012345 + seq;
	c->window = 0xfedcba98u;           /* above INT32_MAX: must survive as unsigned */
	c->pid = 4242 + seq;
	c->x = -10;
	c->y = 20;
	c->w = 800;
	c->h = 600;
	snprintf(c->wm_instance, sizeof(c->wm_instance), "gedit");
	snprintf(c->wm_class, sizeof(c->wm_class), "Gedit");
	snprintf(c->title, sizeof(c->title), "%s", title);
	snprintf(c->exe, sizeof(c->exe), "/usr/bin/gedit");
}

static void test_write_batch_round_trip(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct event evs[4];
	struct context ctxs[2];
	struct seen seen;
	char *cause = NULL;
	int64_t s1 = begin_session(st, "rt", 1, 1);
	int64_t s2 = begin_session(st, "noise", 2, 2);
	char long_title[CONTEXT_STR_MAX];

	/* The longest title that fits: 170 three-byte characters (510 bytes). */
	long_title[0] = '\0';
	while (strlen(long_title) + 3 < sizeof(long_title))
		strcat(long_title, "日");
	assert_int_equal(strlen(long_title), 510);
	fill_context(&ctxs[0], 1, "Grüße — Документ 1 — 日本語 ✓");
	fill_context(&ctxs[1], 2, long_title);

	memset(evs, 0, sizeof(evs));
	evs[0].t_ns = 1000;
	evs[0].kind = EVENT_FOCUS;
	evs[0].context = 1;
	evs[1].t_ns = 2000;
	evs[1].kind = EVENT_KEY_PRESS;
	evs[1].source = EVENT_SOURCE_SYNTHETIC;
	evs[1].device = 11;
	evs[1].context = 1;
	evs[1].x = -5;
	evs[1].y = 1079;
	evs[1].detail = 38;
	evs[1].mods = 0x80000001u;
	evs[1].amount = 0;
	snprintf(evs[1].keysym, sizeof(evs[1].keysym), "adiaeresis");
	snprintf(evs[1].text, sizeof(evs[1].text), "ä");
	evs[2].t_ns = INT64_MAX - 1;
	evs[2].kind = EVENT_SCROLL;
	evs[2].detail = SCROLL_DOWN;
	evs[2].amount = -1.375;
	evs[2].context = 2;
	evs[3].t_ns = 4000;
	evs[3].kind = EVENT_TITLE;
	evs[3].context = 7;              /* a context that was never stored */

	assert_int_equal(store_write_batch(st, s1, evs, 4, ctxs, 2, &cause), 0);
	assert_null(cause);
	/* Another session's events must not show up in s1. */
	assert_int_equal(store_write_batch(st, s2, evs, 2, ctxs, 1, &cause), 0);
	assert_int_equal(store_write_batch(st, s1, NULL, 0, NULL, 0, &cause), 0);
	store_close(st);

	/* Read back through a fresh read-only connection. */
	st = open_ok(f->data, STORE_READONLY);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_events_foreach(st, s1, collect_event, &seen, &cause), 0);
	assert_int_equal(seen.n, 4);

	assert_int_equal(seen.evs[0].kind, EVENT_FOCUS);
	assert_true(seen.has_ctx[0]);
	const struct context *c = &seen.ctxs[0];
	assert_int_equal(c->seq, 1);
	assert_int_equal(c->t_ns, 123456789012346);
	assert_int_equal(c->window, 0xfedcba98u);
	assert_int_equal(c->pid, 4243);
	assert_int_equal(c->x, -10);
	assert_int_equal(c->y, 20);
	assert_int_equal(c->w, 800);
	assert_int_equal(c->h, 600);
	assert_string_equal(c->wm_instance, "gedit");
	assert_string_equal(c->wm_class, "Gedit");
	assert_string_equal(c->title, "Grüße — Документ 1 — 日本語 ✓");
	assert_string_equal(c->exe, "/usr/bin/gedit");

	const struct event *e = &seen.evs[1];
	assert_false(seen.has_ctx[1]);   /* only focus and title events carry their context */
	assert_int_equal(e->t_ns, 2000);
	assert_int_equal(e->kind, EVENT_KEY_PRESS);
	assert_int_equal(e->source, EVENT_SOURCE_SYNTHETIC);
	assert_int_equal(e->device, 11);
	assert_int_equal(e->context, 1);
	assert_int_equal(e->x, -5);
	assert_int_equal(e->y, 1079);
	assert_int_equal(e->detail, 38);
	assert_int_equal(e->mods, 0x80000001u);
	assert_true(e->amount == 0.0);
	assert_string_equal(e->keysym, "adiaeresis");
	assert_string_equal(e->text, "ä");

	e = &seen.evs[2];
	assert_int_equal(e->t_ns, INT64_MAX - 1);
	assert_int_equal(e->kind, EVENT_SCROLL);
	assert_int_equal(e->detail, SCROLL_DOWN);
	assert_true(e->amount == -1.375);
	assert_string_equal(e->keysym, "");
	assert_string_equal(e->text, "");
	assert_false(seen.has_ctx[2]);

	assert_int_equal(seen.evs[3].kind, EVENT_TITLE);
	assert_int_equal(seen.evs[3].context, 7);
	assert_false(seen.has_ctx[3]);   /* the context was not stored */

	int64_t counts[EVENT_KIND_MAX_];
	assert_int_equal(store_session_counts(st, s1, counts, &cause), 0);
	assert_int_equal(counts[EVENT_FOCUS], 1);
	assert_int_equal(counts[EVENT_KEY_PRESS], 1);
	assert_int_equal(counts[EVENT_SCROLL], 1);
	assert_int_equal(counts[EVENT_TITLE], 1);
	assert_int_equal(counts[EVENT_MOTION], 0);
	assert_int_equal(store_session_counts(st, s2, counts, &cause), 0);
	assert_int_equal(counts[EVENT_FOCUS], 1);
	assert_int_equal(counts[EVENT_KEY_PRESS], 1);
	assert_int_equal(counts[EVENT_SCROLL], 0);
	assert_null(cause);
	store_close(st);

	/*
	 * A title longer than the field (written by hand: mimic never stores one) is
	 * cut at a character boundary when read back.
	 */
	char sql[200];
	snprintf(sql, sizeof(sql), "UPDATE contexts SET title = title || '日日' "
	         "WHERE session = %lld AND seq = 2", (long long)s1);
	raw_exec(f->db, sql);
	memset(evs, 0, sizeof(evs));
	evs[0].kind = EVENT_FOCUS;
	evs[0].context = 2;
	st = open_ok(f->data, 0);
	assert_int_equal(store_write_batch(st, s1, evs, 1, NULL, 0, &cause), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_events_foreach(st, s1, collect_event, &seen, &cause), 0);
	assert_int_equal(seen.n, 5);
	assert_true(seen.has_ctx[4]);
	assert_int_equal(strlen(seen.ctxs[4].title), 510);
	assert_string_equal(seen.ctxs[4].title, long_title);
	store_close(st);
}

static void test_write_batch_atomic(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct event ev;
	struct seen seen;
	char *cause = NULL;
	int64_t counts[EVENT_KIND_MAX_];

	memset(&ev, 0, sizeof(ev));
	ev.kind = EVENT_MOTION;
	/* Session 77 does not exist: the foreign key fails and nothing is stored. */
	assert_int_not_equal(store_write_batch(st, 77, &ev, 1, NULL, 0, &cause), 0);
	assert_non_null(cause);
	assert_non_null(strstr(cause, f->db));
	free(cause);
	cause = NULL;
	assert_int_equal(store_session_counts(st, 77, counts, &cause), 0);
	assert_int_equal(counts[EVENT_MOTION], 0);

	/* After the failure the connection works normally again. */
	int64_t s = begin_session(st, "", 1, 1);
	assert_int_equal(store_write_batch(st, s, &ev, 1, NULL, 0, &cause), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_events_foreach(st, s, collect_event, &seen, &cause), 0);
	assert_int_equal(seen.n, 1);
	store_close(st);
}

static int stop_at_two(int64_t id, const struct event *ev, const struct context *ctx, void *arg)
{
	int *n = arg;

	return ++*n == 2 ? -7 : 0;
}

static void test_events_foreach_stops(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct event evs[5];
	char *cause = NULL;
	int n = 0;
	int64_t s = begin_session(st, "", 1, 1);

	memset(evs, 0, sizeof(evs));
	for (int i = 0; i < 5; i++)
		evs[i].kind = EVENT_MOTION;
	assert_int_equal(store_write_batch(st, s, evs, 5, NULL, 0, &cause), 0);
	assert_int_equal(store_events_foreach(st, s, stop_at_two, &n, &cause), -7);
	assert_int_equal(n, 2);
	assert_null(cause);
	store_close(st);
}

static void test_recover(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct store_session s;
	struct event ev;
	char *cause = NULL;
	int n = -1;
	const int64_t wall = 1700000000000000000;

	int64_t with_events = begin_session(st, "a", wall, 5000000000);
	int64_t empty = begin_session(st, "b", wall + 1000, 9000000000);
	int64_t closed = begin_session(st, "c", wall + 2000, 1);
	assert_int_equal(store_session_end(st, closed, wall + 3000, "stopped", &cause), 0);

	memset(&ev, 0, sizeof(ev));
	ev.kind = EVENT_KEY_PRESS;
	ev.t_ns = 5000000000 + 7500000000;  /* 7.5 s after the start */
	assert_int_equal(store_write_batch(st, with_events, &ev, 1, NULL, 0, &cause), 0);
	ev.t_ns = 5000000000 + 2000000000;  /* stored last, though earlier: the last one counts */
	assert_int_equal(store_write_batch(st, with_events, &ev, 1, NULL, 0, &cause), 0);
	store_close(st);

	st = open_ok(f->data, 0);
	assert_int_equal(store_recover(st, &n, &cause), 0);
	assert_int_equal(n, 2);

	assert_int_equal(store_session_get(st, with_events, &s, &cause), 0);
	assert_int_equal(s.end_wall_ns, wall + 2000000000);
	assert_string_equal(s.end_reason, "interrupted");
	assert_int_equal(store_session_get(st, empty, &s, &cause), 0);
	assert_int_equal(s.end_wall_ns, wall + 1000);
	assert_string_equal(s.end_reason, "interrupted");
	assert_int_equal(store_session_get(st, closed, &s, &cause), 0);
	assert_int_equal(s.end_wall_ns, wall + 3000);
	assert_string_equal(s.end_reason, "stopped");

	/* Nothing left to recover; n may be NULL. */
	assert_int_equal(store_recover(st, &n, &cause), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_recover(st, NULL, &cause), 0);
	assert_null(cause);
	store_close(st);
}

static void test_readonly_refuses_writes(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct store_session s;
	char *cause = NULL;
	int64_t id;

	begin_session(st, "x", 1, 1);
	/* A reader works while the writer keeps its connection open (WAL). */
	struct store *ro = open_ok(f->data, STORE_READONLY);
	assert_int_equal(store_session_resolve(ro, "x", &id, &cause), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(store_session_begin(ro, &s, &id, &cause), -EACCES);
	assert_non_null(cause);
	free(cause);
	store_close(ro);
	store_close(st);
}

/* The schema of version 1 as released: a database written by mimic 0.1.0. */
static const char v1_schema[] =
	"CREATE TABLE sessions (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '',"
	"  host TEXT NOT NULL DEFAULT '', start_wall_ns INTEGER NOT NULL,"
	"  start_mono_ns INTEGER NOT NULL, end_wall_ns INTEGER, end_reason TEXT,"
	"  screen_w INTEGER NOT NULL DEFAULT 0, screen_h INTEGER NOT NULL DEFAULT 0,"
	"  keymap TEXT NOT NULL DEFAULT '', version TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX sessions_name ON sessions (name, id);"
	"CREATE TABLE devices (session INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,"
	"  id INTEGER NOT NULL, name TEXT NOT NULL DEFAULT '', synthetic INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (session, id));"
	"CREATE TABLE contexts (session INTEGER NOT NULL REFERENCES sessions (id) ON DELETE "
	"  CASCADE, seq INTEGER NOT NULL, t_ns INTEGER NOT NULL, \"window\" INTEGER NOT NULL,"
	"  pid INTEGER NOT NULL, x INTEGER NOT NULL, y INTEGER NOT NULL, w INTEGER NOT NULL,"
	"  h INTEGER NOT NULL, wm_instance TEXT NOT NULL DEFAULT '',"
	"  wm_class TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '',"
	"  exe TEXT NOT NULL DEFAULT '', PRIMARY KEY (session, seq));"
	"CREATE TABLE events (id INTEGER PRIMARY KEY, session INTEGER NOT NULL REFERENCES "
	"  sessions (id) ON DELETE CASCADE, t_ns INTEGER NOT NULL, kind INTEGER NOT NULL,"
	"  source INTEGER NOT NULL, device INTEGER NOT NULL, context INTEGER NOT NULL,"
	"  x INTEGER NOT NULL, y INTEGER NOT NULL, detail INTEGER NOT NULL, mods INTEGER NOT NULL,"
	"  amount REAL NOT NULL, keysym TEXT NOT NULL DEFAULT '', text TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX events_session ON events (session, id);"
	"INSERT INTO sessions (name, host, start_wall_ns, start_mono_ns, end_wall_ns, end_reason,"
	"  screen_w, screen_h, keymap, version) VALUES ('old', 'h', 10, 20, 30, 'stopped', 800,"
	"  600, 'evdev/pc105/us', '0.1.0');"
	"INSERT INTO events (id, session, t_ns, kind, source, device, context, x, y, detail, mods,"
	"  amount, keysym, text) VALUES (7, 1, 25, 1, 0, 7, 0, 0, 0, 38, 0, 0, 'a', 'a');"
	"PRAGMA user_version = 1;";

static int count_event(int64_t id, const struct event *ev, const struct context *ctx, void *arg)
{
	(void)ctx;
	assert_int_equal(id, 7);
	assert_string_equal(ev->text, "a");
	(*(int *)arg)++;
	return 0;
}

struct frames_seen {
	int n;
	struct store_frame f[4];
};

static int collect_frame(const struct store_frame *fr, void *arg)
{
	struct frames_seen *s = arg;

	assert_true(s->n < 4);
	s->f[s->n++] = *fr;
	return 0;
}

static void fill_frame(struct store_frame *fr, int64_t id, int64_t base, const char *trigger)
{
	memset(fr, 0, sizeof(*fr));
	fr->id = id;
	fr->t_ns = 1000 + id;
	fr->event_id = base > 0 ? 0 : 7;
	snprintf(fr->trigger, sizeof(fr->trigger), "%s", trigger);
	memset(fr->blob, 'a' + (int)id, 64);
	snprintf(fr->format, sizeof(fr->format), "webp");
	fr->width = 1920;
	fr->height = 1080;
	fr->bytes = 12345 + id;
	fr->base_id = base;
	if (base > 0) {
		fr->n_patch = 2;
		fr->patch[0] = (struct store_rect){0, 16, 576, 528};
		fr->patch[1] = (struct store_rect){1600, 896, 320, 48};
	}
	fr->damage_x = 3;
	fr->damage_y = 22;
	fr->damage_w = 720;
	fr->damage_h = 520;
	fr->cursor_x = -1;
	fr->cursor_y = 300;
	snprintf(fr->cursor_name, sizeof(fr->cursor_name), "left_ptr");
}

static void test_migrate_v1_to_v2(void **state)
{
	struct fixture *f = *state;
	struct store *st;
	struct store_session s;
	struct store_frame fr;
	struct frames_seen seen = {0};
	char *cause = NULL, *config = NULL, *monitors = NULL;
	int64_t next;
	int n = 0;

	assert_int_equal(mkdir(f->data, 0700), 0);
	raw_exec(f->db, v1_schema);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 1);

	/* A reader refuses the old schema until a writer has upgraded it. */
	st = NULL;
	assert_int_equal(store_open(f->data, STORE_READONLY, &st, &cause), -EPROTO);
	free(cause);
	cause = NULL;

	st = open_ok(f->data, 0);
	assert_int_equal(store_schema_version_found(st), 1);
	store_close(st);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_master WHERE name = 'frames'"),
	                 1);

	st = open_ok(f->data, STORE_READONLY);
	/* What version 1 stored is all still there. */
	assert_int_equal(store_session_get(st, 1, &s, &cause), 0);
	assert_string_equal(s.name, "old");
	assert_string_equal(s.end_reason, "stopped");
	assert_int_equal(store_events_foreach(st, 1, count_event, &n, &cause), 0);
	assert_int_equal(n, 1);
	/* The new columns read as "nothing recorded". */
	assert_int_equal(store_session_get_info(st, 1, &config, &monitors, &cause), 0);
	assert_string_equal(config, "{}");
	assert_string_equal(monitors, "[]");
	free(config);
	free(monitors);
	assert_int_equal(store_frames_foreach(st, 1, collect_frame, &seen, &cause), 0);
	assert_int_equal(seen.n, 0);
	store_close(st);

	/* And the upgraded file takes frames. */
	st = open_ok(f->data, 0);
	assert_int_equal(store_next_frame_id(st, &next, &cause), 0);
	assert_int_equal(next, 1);
	fill_frame(&fr, 1, 0, "pre");
	assert_int_equal(store_write_all(st, 1, NULL, 0, NULL, 0, &fr, 1, &cause), 0);
	assert_int_equal(store_next_frame_id(st, &next, &cause), 0);
	assert_int_equal(next, 2);
	store_close(st);
}

static void test_frames_round_trip(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct store_frame frs[3], got;
	struct frames_seen seen = {0};
	struct event ev;
	char *cause = NULL, *config = NULL, *monitors = NULL;
	int64_t s1 = begin_session(st, "frames", 1, 1);
	int64_t s2 = begin_session(st, "other", 2, 2);

	memset(&ev, 0, sizeof(ev));
	ev.id = 7;
	ev.kind = EVENT_BUTTON_PRESS;
	fill_frame(&frs[0], 10, 0, "pre");
	fill_frame(&frs[1], 11, 10, "settle");
	fill_frame(&frs[2], 12, 10, "idle");
	frs[2].n_patch = STORE_PATCH_MAX;
	for (int i = 0; i < STORE_PATCH_MAX; i++)
		frs[2].patch[i] = (struct store_rect){i * 16, i * 32, 16, 32};
	/* Events and frames commit in one transaction. */
	assert_int_equal(store_write_all(st, s1, &ev, 1, NULL, 0, frs, 3, &cause), 0);
	assert_null(cause);
	assert_int_equal(store_session_set_info(st, s1, "{\"frames\":{\"enabled\":true}}",
	                                        "[{\"name\":\"HDMI-1\"}]", &cause), 0);
	/* NULL leaves a value as it is. */
	assert_int_equal(store_session_set_info(st, s1, NULL, NULL, &cause), 0);
	assert_int_equal(store_session_set_info(st, 999, "{}", NULL, &cause), -ENOENT);
	free(cause);
	cause = NULL;

	assert_int_equal(store_frames_foreach(st, s1, collect_frame, &seen, &cause), 0);
	assert_int_equal(seen.n, 3);
	for (int i = 0; i < 3; i++) {
		struct store_frame *a = &seen.f[i], *b = &frs[i];

		assert_int_equal(a->id, b->id);
		assert_int_equal(a->t_ns, b->t_ns);
		assert_int_equal(a->event_id, b->event_id);
		assert_string_equal(a->trigger, b->trigger);
		assert_memory_equal(a->blob, b->blob, 65);
		assert_string_equal(a->format, "webp");
		assert_int_equal(a->width, 1920);
		assert_int_equal(a->height, 1080);
		assert_int_equal(a->bytes, b->bytes);
		assert_int_equal(a->base_id, b->base_id);
		assert_int_equal(a->n_patch, b->n_patch);
		assert_memory_equal(a->patch, b->patch, sizeof(a->patch[0]) * (size_t)b->n_patch);
		assert_int_equal(a->damage_w, 720);
		assert_int_equal(a->cursor_x, -1);
		assert_int_equal(a->cursor_y, 300);
		assert_string_equal(a->cursor_name, "left_ptr");
	}
	assert_int_equal(store_frame_get(st, s1, 11, &got, &cause), 0);
	assert_int_equal(got.base_id, 10);
	assert_int_equal(got.patch[1].x, 1600);
	/* A frame of another session is not found through this one. */
	assert_int_equal(store_frame_get(st, s2, 11, &got, &cause), -ENOENT);
	assert_non_null(strstr(cause, "no frame 11"));
	free(cause);
	cause = NULL;

	assert_int_equal(store_session_get_info(st, s1, &config, &monitors, &cause), 0);
	assert_string_equal(config, "{\"frames\":{\"enabled\":true}}");
	assert_string_equal(monitors, "[{\"name\":\"HDMI-1\"}]");
	free(config);
	free(monitors);
	store_close(st);
}

/*
 * A frame's scan keeps the fingerprint of the rules it was made with; a scan
 * stored by schema version 7, before fingerprints, reads back with none ("").
 */
static void test_frame_scan_rules(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct store_frame fr;
	struct store_frame_scan sc, got;
	char *cause = NULL, *boxes = NULL;
	int64_t sid = begin_session(st, "scans", 1, 1);

	fill_frame(&fr, 10, 0, "pre");
	assert_int_equal(store_write_all(st, sid, NULL, 0, NULL, 0, &fr, 1, &cause), 0);
	assert_int_equal(store_frame_scan_get(st, 10, &got, NULL, &cause), 0);
	assert_int_equal(got.state, STORE_SCAN_UNSCANNED);
	assert_string_equal(got.rules, "");

	memset(&sc, 0, sizeof(sc));
	sc.state = STORE_SCAN_CLEAN;
	memset(sc.rules, 'a', STORE_SCAN_RULES_MAX);
	assert_int_equal(store_frame_scan_set(st, 10, &sc, "[[1,2,3,4,1]]", &cause), 0);
	assert_int_equal(store_frame_scan_get(st, 10, &got, &boxes, &cause), 0);
	assert_int_equal(got.state, STORE_SCAN_CLEAN);
	assert_memory_equal(got.rules, sc.rules, STORE_SCAN_RULES_MAX + 1);
	assert_string_equal(boxes, "[[1,2,3,4,1]]");
	free(boxes);
	/* A scan made again with other rules replaces the fingerprint. */
	sc.state = STORE_SCAN_DROPPED;
	strcpy(sc.reason, "pixels");
	memset(sc.rules, 'b', STORE_SCAN_RULES_MAX);
	assert_int_equal(store_frame_scan_set(st, 10, &sc, NULL, &cause), 0);
	assert_int_equal(store_frame_scan_get(st, 10, &got, NULL, &cause), 0);
	assert_int_equal(got.state, STORE_SCAN_DROPPED);
	assert_string_equal(got.reason, "pixels");
	assert_memory_equal(got.rules, sc.rules, STORE_SCAN_RULES_MAX + 1);
	store_close(st);

	/*
	 * The same frame as schema version 7 left it: scanned clean, no fingerprint
	 * (and nothing of a later version: the audit anchor, contexts.url_sealed, excluded).
	 */
	raw_exec(f->db, "ALTER TABLE frames DROP COLUMN scan_rules;"
	                "DROP TABLE audit_anchor;"
	                "ALTER TABLE contexts DROP COLUMN url_sealed;"
	                "DROP TABLE excluded; DROP TABLE interventions;"
	                "DROP TABLE uploads; DROP TABLE upload_deletions;"
	                "UPDATE frames SET scan = 1, scan_reason = '' WHERE id = 10;"
	                "PRAGMA user_version = 7;");
	st = open_ok(f->data, 0);
	assert_int_equal(store_schema_version_found(st), 7);
	assert_int_equal(store_frame_scan_get(st, 10, &got, NULL, &cause), 0);
	assert_int_equal(got.state, STORE_SCAN_CLEAN);
	assert_string_equal(got.rules, "");
	store_close(st);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM frames WHERE scan_rules = ''"), 1);
}

static int collect_element(const struct store_element *el, void *arg)
{
	struct store_element *out = arg;
	int i = 0;

	while (out[i].event_id != 0)
		i++;
	assert_true(i < 3);
	out[i] = *el;
	return 0;
}

/* UI elements: every field back, a row per event, a session's only, a rewrite replaces. */
static void test_elements_round_trip(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	int64_t s1 = begin_session(st, "one", 1, 1), s2 = begin_session(st, "two", 2, 2);
	struct store_element els[3], got[4], one;
	char *cause = NULL;

	memset(els, 0, sizeof(els));
	els[0].event_id = 7;
	els[0].kind = STORE_ELEMENT_PRESS;
	els[0].status = 0;
	els[0].source = 1;
	els[0].t_ns = 1000;
	els[0].read_ns = 900;
	els[0].lookup_us = 1234;
	els[0].window = 0x400007;
	els[0].pid = 4242;
	els[0].popup = 1;
	strcpy(els[0].app, "zenity");
	strcpy(els[0].role, "menu item");
	strcpy(els[0].name, "Asia \"east\"");
	strcpy(els[0].label, "Region");
	strcpy(els[0].description, "continent");
	els[0].states = ((uint64_t)1 << 56) | 4096;
	strcpy(els[0].state_names, "focused password");
	els[0].x = 10;
	els[0].y = 20;
	els[0].w = 30;
	els[0].h = 40;
	els[0].n_ancestors = 2;
	strcpy(els[0].ancestors[0].role, "menu");
	strcpy(els[0].ancestors[1].role, "combo box");
	strcpy(els[0].ancestors[1].name, "Europe");
	strcpy(els[0].menu_path, "Region > Asia");
	strcpy(els[0].shortcut, "ctrl+shift+t");
	strcpy(els[0].url, "https://example.org/");
	els[1] = els[0];
	els[1].event_id = 9;
	els[1].kind = STORE_ELEMENT_SHORTCUT;
	strcpy(els[1].chord, "ctrl+s");
	els[1].n_ancestors = 0;
	memset(els[1].ancestors, 0, sizeof(els[1].ancestors));
	els[2].event_id = 8;
	els[2].kind = STORE_ELEMENT_TYPING;
	els[2].status = 1;
	assert_int_equal(store_write_elements(st, s1, els, 2, &cause), 0);
	assert_int_equal(store_write_elements(st, s2, &els[2], 1, &cause), 0);

	memset(got, 0, sizeof(got));
	assert_int_equal(store_elements_foreach(st, s1, collect_element, got, &cause), 0);
	assert_int_equal(got[0].event_id, 7);
	assert_int_equal(got[1].event_id, 9);
	assert_int_equal(got[2].event_id, 0);
	assert_memory_equal(&got[0], &els[0], sizeof(got[0]));
	assert_memory_equal(&got[1], &els[1], sizeof(got[1]));

	assert_int_equal(store_element_get(st, s2, 8, &one, &cause), 0);
	assert_int_equal(one.kind, STORE_ELEMENT_TYPING);
	assert_int_equal(one.status, 1);
	assert_int_equal(store_element_get(st, s1, 8, &one, &cause), -ENOENT);
	assert_non_null(cause);
	free(cause);
	cause = NULL;

	/* The same event again replaces its row. */
	strcpy(els[0].name, "Africa");
	assert_int_equal(store_write_elements(st, s1, els, 1, &cause), 0);
	assert_int_equal(store_element_get(st, s1, 7, &one, &cause), 0);
	assert_string_equal(one.name, "Africa");
	store_close(st);
}

/*
 * Schema 8 -> 9: the audit log's anchor. A database as version 8 left it gets
 * the table, empty (no anchor until the next append); the anchor then goes in
 * sealed and comes back; a damaged or forged one does not open.
 */
static void test_migrate_v8_audit_anchor(void **state)
{
	struct fixture *f = *state;
	struct store_audit_anchor a = { 5, 1234, "" }, got;
	struct store *st = open_ok(f->data, 0);
	char *cause = NULL;

	store_close(st);
	raw_exec(f->db, "DROP TABLE audit_anchor; ALTER TABLE contexts DROP COLUMN url_sealed; "
	                "DROP TABLE excluded; DROP TABLE interventions; DROP TABLE uploads; "
	                "DROP TABLE upload_deletions; PRAGMA user_version = 8;");
	st = open_ok(f->data, 0);
	assert_int_equal(store_schema_version_found(st), 8);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(store_audit_anchor_get(st, &got, &cause), -ENOENT);
	assert_non_null(strstr(cause, "no anchor"));
	free(cause);
	cause = NULL;

	memset(a.head, 'c', STORE_HEX_LEN);
	assert_int_equal(store_audit_anchor_set(st, &a, &cause), 0);
	a.records = 6;
	a.head[0] = '0';
	assert_int_equal(store_audit_anchor_set(st, &a, &cause), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM audit_anchor"), 1);
	assert_int_equal(store_audit_anchor_get(st, &got, &cause), 0);
	assert_int_equal(got.records, 6);
	assert_int_equal(got.bytes, 1234);
	assert_string_equal(got.head, a.head);
	/* Not in the clear: the count is not readable from the row. */
	assert_int_equal(raw_int(f->db, "SELECT instr(sealed, X'0600000000000000') FROM "
	                         "audit_anchor"), 0);
	/* A bad head is refused before anything is stored. */
	a.head[3] = 'x';
	assert_int_equal(store_audit_anchor_set(st, &a, &cause), -EINVAL);
	free(cause);
	cause = NULL;
	store_close(st);

	/* One byte changed, or an anchor written by hand: it does not open. */
	raw_exec(f->db, "UPDATE audit_anchor SET sealed = substr(sealed, 1, 30) || CASE WHEN "
	                "substr(sealed, 31, 1) = X'00' THEN X'01' ELSE X'00' END || "
	                "substr(sealed, 32)");
	st = open_ok(f->data, STORE_READONLY);
	assert_int_equal(store_audit_anchor_get(st, &got, &cause), -EBADMSG);
	assert_non_null(strstr(cause, "does not decrypt"));
	free(cause);
	store_close(st);
}

/* Whether the file at path (when it exists) holds needle anywhere. */
static int file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	size_t m = strlen(needle), n = 0, cap = 0;
	uint8_t *buf = NULL;
	int found = 0;
	size_t r;

	if (f == NULL)
		return 0;
	do {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	for (size_t i = 0; i + m <= n && !found; i++)
		found = memcmp(buf + i, needle, m) == 0;
	free(buf);
	return found;
}

/*
 * A browser window's page URL: stored sealed only (the column holds no piece of
 * it, the file neither), read back whole, also at the longest size; a window
 * without one stores NULL and reads back "".
 */
static void test_url_sealed(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct context ctxs[3];
	struct event evs[3];
	struct seen seen;
	char *cause = NULL, wal[400], longest[CONTEXT_URL_MAX];
	int64_t sid = begin_session(st, "web", 1, 1);
	const char *url = "https://shop.example.com/orders/4711?session=Tok3nQuerySecret#frag";

	fill_context(&ctxs[0], 1, "Orders - Chromium");
	strcpy(ctxs[0].wm_class, "Chromium");
	snprintf(ctxs[0].url, sizeof(ctxs[0].url), "%s", url);
	fill_context(&ctxs[1], 2, "notes.txt");
	fill_context(&ctxs[2], 3, "Long - Chromium");
	memset(longest, 0, sizeof(longest));
	memcpy(longest, "https://a.example/", 18);
	memset(longest + 18, 'p', sizeof(longest) - 19);
	memcpy(ctxs[2].url, longest, sizeof(longest));
	memset(evs, 0, sizeof(evs));
	for (int i = 0; i < 3; i++) {
		evs[i].t_ns = 1000 * (i + 1);
		evs[i].kind = EVENT_FOCUS;
		evs[i].context = i + 1;
	}
	assert_int_equal(store_write_batch(st, sid, evs, 3, ctxs, 3, &cause), 0);
	assert_null(cause);
	store_close(st);

	/* The database: a sealed copy of each URL, none of its text, NULL without one. */
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM contexts WHERE url_sealed IS NULL"),
	                 1);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM contexts WHERE seq = 2 AND "
	                         "url_sealed IS NULL"), 1);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM contexts WHERE "
	                         "typeof(url_sealed) = 'blob'"), 2);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM contexts WHERE "
	                         "instr(url_sealed, CAST('shop.example' AS BLOB)) > 0 OR "
	                         "instr(url_sealed, CAST('Tok3nQuerySecret' AS BLOB)) > 0 OR "
	                         "instr(url_sealed, CAST('pppppppp' AS BLOB)) > 0"), 0);
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_false(file_contains(f->db, "shop.example"));
	assert_false(file_contains(f->db, "Tok3nQuerySecret"));
	assert_false(file_contains(wal, "shop.example"));

	/* Read back through a fresh connection: the URLs whole, in their contexts. */
	st = open_ok(f->data, STORE_READONLY);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_events_foreach(st, sid, collect_event, &seen, &cause), 0);
	assert_null(cause);
	assert_int_equal(seen.n, 3);
	assert_true(seen.has_ctx[0] && seen.has_ctx[1] && seen.has_ctx[2]);
	assert_string_equal(seen.ctxs[0].url, url);
	assert_string_equal(seen.ctxs[0].title, "Orders - Chromium");
	assert_string_equal(seen.ctxs[1].url, "");
	assert_int_equal(strlen(seen.ctxs[2].url), CONTEXT_URL_MAX - 1);
	assert_string_equal(seen.ctxs[2].url, longest);
	store_close(st);

	/* A sealed URL moved to another context does not open there. */
	raw_exec(f->db, "UPDATE contexts SET url_sealed = (SELECT url_sealed FROM contexts "
	                "WHERE seq = 1) WHERE seq = 3");
	st = open_ok(f->data, STORE_READONLY);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_events_foreach(st, sid, collect_event, &seen, &cause), -EBADMSG);
	assert_non_null(strstr(cause, "URL"));
	free(cause);
	store_close(st);
}

/*
 * The upgrade to schema version 10 (URLs) keeps every row of version 9: its
 * contexts read back with their titles and no URL, and new ones take URLs.
 */
static void test_migrate_v9_to_v10(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct context c;
	struct event ev[2];
	struct seen seen;
	char *cause = NULL;
	int64_t sid = begin_session(st, "old", 1, 1);

	fill_context(&c, 1, "Invoice 12 - Gedit");
	memset(ev, 0, sizeof(ev));
	ev[0].t_ns = 10;
	ev[0].kind = EVENT_FOCUS;
	ev[0].context = 1;
	ev[1].t_ns = 20;
	ev[1].kind = EVENT_KEY_PRESS;
	ev[1].context = 1;
	ev[1].detail = 38;
	strcpy(ev[1].keysym, "a");
	strcpy(ev[1].text, "a");
	assert_int_equal(store_write_batch(st, sid, ev, 2, &c, 1, &cause), 0);
	store_close(st);
	/* The file as version 9 left it: contexts without url_sealed. */
	raw_exec(f->db, "ALTER TABLE contexts DROP COLUMN url_sealed; DROP TABLE excluded; "
	                "DROP TABLE interventions; DROP TABLE uploads; DROP TABLE upload_deletions; "
	                "PRAGMA user_version = 9;");

	st = open_ok(f->data, 0);
	assert_int_equal(store_schema_version_found(st), 9);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_events_foreach(st, sid, collect_event, &seen, &cause), 0);
	assert_int_equal(seen.n, 2);
	assert_true(seen.has_ctx[0]);
	assert_string_equal(seen.ctxs[0].title, "Invoice 12 - Gedit");
	assert_string_equal(seen.ctxs[0].url, "");
	assert_string_equal(seen.evs[1].text, "a");
	assert_int_equal(seen.evs[1].detail, 38);

	/* A new context after the upgrade keeps its URL. */
	fill_context(&c, 2, "Shop - Firefox");
	strcpy(c.url, "https://shop.example.com/cart");
	ev[0].t_ns = 30;
	ev[0].context = 2;
	assert_int_equal(store_write_batch(st, sid, ev, 1, &c, 1, &cause), 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_events_foreach(st, sid, collect_event, &seen, &cause), 0);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.ctxs[0].url, "");
	assert_string_equal(seen.ctxs[2].url, "https://shop.example.com/cart");
	store_close(st);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM contexts"), 2);
}

static int collect_iv(const struct store_intervention *iv, void *arg)
{
	struct store_intervention *out = arg;
	int i = 0;

	while (out[i].id != 0)
		i++;
	assert_true(i < 2);
	out[i] = *iv;
	return 0;
}

/*
 * Interventions (schema 12, docs/AGENTS.md): a file of version 11 gets the
 * table and reads as having none; written ones read back as written, the
 * agent's pending call sealed (not in the clear in the file), and go with their
 * session.
 */
static void test_interventions(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct store_intervention iv[2], got[3];
	struct store_forget fg = { 0 };
	struct store_forget_counts fc;
	char *cause = NULL;
	int64_t sid = begin_session(st, "agent", 1, 1);

	store_close(st);
	raw_exec(f->db, "DROP TABLE interventions; DROP TABLE uploads; DROP TABLE upload_deletions; "
	                "PRAGMA user_version = 11;");
	st = open_ok(f->data, 0);
	assert_int_equal(store_schema_version_found(st), 11);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	memset(got, 0, sizeof(got));
	assert_int_equal(store_interventions_foreach(st, sid, collect_iv, got, &cause), 0);
	assert_int_equal(got[0].id, 0);

	memset(iv, 0, sizeof(iv));
	iv[0] = (struct store_intervention){ .t_ns = 100, .end_ns = 900, .first_event = 7,
	                                     .end_event = 12, .handback = STORE_HANDBACK_COMMAND,
	                                     .refused = 2 };
	strcpy(iv[0].pending, "{\"action\":\"type\",\"text\":\"hunter2-secret\"}");
	iv[1] = (struct store_intervention){ .t_ns = 1000, .end_ns = 2000, .first_event = 20,
	                                     .end_event = 25, .handback = STORE_HANDBACK_IDLE };
	assert_int_equal(store_write_interventions(st, sid, iv, 2, &cause), 0);
	memset(got, 0, sizeof(got));
	assert_int_equal(store_interventions_foreach(st, sid, collect_iv, got, &cause), 0);
	for (int i = 0; i < 2; i++) {
		assert_true(got[i].id > 0);
		assert_int_equal(got[i].t_ns, iv[i].t_ns);
		assert_int_equal(got[i].end_ns, iv[i].end_ns);
		assert_int_equal(got[i].first_event, iv[i].first_event);
		assert_int_equal(got[i].end_event, iv[i].end_event);
		assert_int_equal(got[i].handback, iv[i].handback);
		assert_int_equal(got[i].refused, iv[i].refused);
		assert_string_equal(got[i].pending, iv[i].pending);
	}
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM interventions WHERE sealed IS NULL"),
	                 1);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM interventions WHERE "
	                         "instr(CAST(sealed AS TEXT), 'hunter2') > 0"), 0);
	fg.session = sid;
	fg.to_wall_ns = INT64_MAX;
	assert_int_equal(store_forget(st, &fg, &fc, &cause), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM interventions"), 0);
	store_close(st);
}

/*
 * Schema 12 -> 13: the fleet's uploads. A database as version 12 left it gets the
 * tables; an upload is marked and read back; a forget of an uploaded session
 * queues its deletion at the collector (kept after the session is gone) and a
 * forget of one never uploaded queues nothing; a sent deletion leaves the queue.
 */
static void test_uploads(void **state)
{
	struct fixture *f = *state;
	struct store *st = open_ok(f->data, 0);
	struct store_forget fg = { 0, INT64_MIN, INT64_MAX, 0 };
	struct store_forget_counts fc;
	char *cause = NULL, bundle[STORE_HEX_LEN + 1];
	int64_t a = begin_session(st, "a", 1000, 1), b = begin_session(st, "b", 2000, 1);
	int64_t when = 0, up = -1, last = -1, del = -1, waiting = -1, *ids = NULL;
	size_t n = 9;
	const char *h = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	store_close(st);
	raw_exec(f->db, "DROP TABLE uploads; DROP TABLE upload_deletions; PRAGMA user_version = 12;");
	st = open_ok(f->data, 0);
	assert_int_equal(store_schema_version_found(st), 12);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(store_upload_get(st, a, bundle, &when, &cause), -ENOENT);
	assert_int_equal(store_session_end(st, a, 3000, "stopped", &cause), 0);
	assert_int_equal(store_session_end(st, b, 4000, "stopped", &cause), 0);
	assert_int_equal(store_upload_counts(st, &up, &last, &del, &waiting, &cause), 0);
	assert_int_equal(up, 0);
	assert_int_equal(waiting, 2);

	assert_int_equal(store_upload_mark(st, a, h, 1234, 5000, &cause), 0);
	assert_int_equal(store_upload_get(st, a, bundle, &when, &cause), 0);
	assert_string_equal(bundle, h);
	assert_int_equal(when, 5000);
	assert_int_equal(store_upload_counts(st, &up, &last, &del, &waiting, &cause), 0);
	assert_int_equal(up, 1);
	assert_int_equal(last, 5000);
	assert_int_equal(del, 0);
	assert_int_equal(waiting, 1);

	/* Forgetting the session never uploaded queues nothing. */
	fg.session = b;
	assert_int_equal(store_forget(st, &fg, &fc, &cause), 0);
	assert_int_equal(store_upload_deletions(st, &ids, &n, &cause), 0);
	assert_int_equal(n, 0);
	free(ids);
	/* Forgetting the uploaded one queues its deletion, which outlives the session. */
	fg.session = a;
	assert_int_equal(store_forget(st, &fg, &fc, &cause), 0);
	assert_int_equal(fc.sessions, 1);
	assert_int_equal(store_upload_get(st, a, bundle, NULL, &cause), -ENOENT);
	assert_int_equal(store_upload_deletions(st, &ids, &n, &cause), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], a);
	free(ids);
	store_close(st);
	st = open_ok(f->data, 0);
	assert_int_equal(store_upload_counts(st, &up, &last, &del, &waiting, &cause), 0);
	assert_int_equal(up, 0);
	assert_int_equal(del, 1);
	assert_int_equal(store_upload_deletion_done(st, a, &cause), 0);
	assert_int_equal(store_upload_deletions(st, &ids, &n, &cause), 0);
	assert_int_equal(n, 0);
	free(ids);
	assert_null(cause);
	store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_dir_created, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrations_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_db_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_foreach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_devices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_batch_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_batch_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_foreach_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_refuses_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v1_to_v2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frames_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frame_scan_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elements_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v8_audit_anchor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_url_sealed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v9_to_v10, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interventions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uploads, setup, teardown),
	};

	return testenv_run(tests, NULL, NULL);
}
