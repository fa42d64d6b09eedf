/*
 * store_forget: deleting what was recorded (`mimic forget`, retention;
 * docs/PRIVACY.md), compacting the files afterwards, the space the database
 * uses, and the blob names rows still refer to (see store.h).
 */
#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "testbreak.h"
#include "util.h"

/* a + b, held at the ends of int64_t instead of overflowing. */
static int64_t sat_add(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	if (b < 0 && a < INT64_MIN - b)
		return INT64_MIN;
	return a + b;
}

/* a - b, held at the ends. */
static int64_t sat_sub(int64_t a, int64_t b)
{
	if (b == INT64_MIN)
		return a >= 0 ? INT64_MAX : a - INT64_MIN;
	return sat_add(a, -b);
}

/* Prepares sql with the first n (up to three) of the int64 parameters a, b, c bound. */
static int prepare_i64(struct store *st, const char *sql, int n, int64_t a, int64_t b,
                       int64_t c, sqlite3_stmt **stmt, char **cause)
{
	const int64_t v[3] = { a, b, c };
	int err;

	err = store_prepare(st, sql, stmt, cause);
	for (int i = 0; err == 0 && i < n && i < 3; i++)
		sqlite3_bind_int64(*stmt, i + 1, v[i]);
	return err;
}

/* Runs sql with up to three int64 parameters; adds the rows it changed to *changed. */
static int exec_i64(struct store *st, const char *sql, int n, int64_t a, int64_t b, int64_t c,
                    int64_t *changed, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	err = prepare_i64(st, sql, n, a, b, c, &stmt, cause);
	if (err != 0)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		;
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return store_db_fail(st, cause, rc, "cannot delete recorded data");
	if (changed != NULL)
		*changed += sqlite3_changes(st->db);
	return 0;
}

/* Runs a query returning one int64 with up to two parameters. */
static int query_i64(struct store *st, const char *sql, int n, int64_t a, int64_t b,
                     int64_t *out, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	*out = 0;
	err = prepare_i64(st, sql, n, a, b, 0, &stmt, cause);
	if (err != 0)
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_db_fail(st, cause, rc, "cannot read recorded data");
	return 0;
}

/* The tables mimic knows by name; every other table is handled by its columns. */
static int core_table(const char *name)
{
	static const char *const core[] = { "sessions", "devices", "contexts", "events", "frames" };

	for (size_t i = 0; i < sizeof(core) / sizeof(core[0]); i++)
		if (strcmp(name, core[i]) == 0)
			return 1;
	return 0;
}

/* True when table has a column named col. */
static int has_column(struct store *st, const char *table, const char *col)
{
	sqlite3_stmt *stmt = NULL;
	int found = 0;

	if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", -1,
	                       &stmt, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(stmt, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, col, -1, SQLITE_STATIC);
	found = sqlite3_step(stmt) == SQLITE_ROW;
	sqlite3_finalize(stmt);
	return found;
}

/* The names of the tables besides the core ones (elements, tasks, scans, ...). */
static int other_tables(struct store *st, char ***names, size_t *n, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	*names = NULL;
	*n = 0;
	err = store_prepare(st, "SELECT name FROM sqlite_master WHERE type = 'table' AND name "
	                    "NOT LIKE 'sqlite_%' ORDER BY name", &stmt, cause);
	if (err != 0)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(stmt, 0);

		if (t == NULL || core_table(t) || strchr(t, '"') != NULL)
			continue;
		*names = util_xrealloc(*names, (*n + 1) * sizeof(**names));
		(*names)[(*n)++] = util_xstrdup(t);
	}
	sqlite3_finalize(stmt);
	return store_done_or_fail(st, rc, "cannot list the tables", cause);
}

struct forget_session {
	int64_t id, start_wall, start_mono, end_wall;
};

/* Deletes one session's rows in [lo, hi) of its monotonic clock, or all of it. */
static int forget_one(struct store *st, const struct forget_session *s, int whole, int64_t lo,
                      int64_t hi, char **tables, size_t ntables,
                      struct store_forget_counts *out, char **cause)
{
	int64_t n = 0;
	int err;

	if (whole) {
		/* Counted first: the rows go with the session (ON DELETE CASCADE). */
		err = query_i64(st, "SELECT count(*) FROM events WHERE session = ?", 1, s->id, 0, &n,
		                cause);
		out->events += n;
		if (err == 0)
			err = query_i64(st, "SELECT count(*) FROM frames WHERE session = ?", 1, s->id,
			                0, &n, cause);
		out->frames += n;
		if (err == 0)
			err = query_i64(st, "SELECT count(*) FROM contexts WHERE session = ?", 1,
			                s->id, 0, &n, cause);
		out->contexts += n;
		for (size_t i = 0; err == 0 && i < ntables; i++) {
			char *sql;

			if (!has_column(st, tables[i], "session"))
				continue;
			sql = util_xasprintf("DELETE FROM \"%s\" WHERE session = ?", tables[i]);
			err = exec_i64(st, sql, 1, s->id, 0, 0, &out->other, cause);
			free(sql);
		}
		if (err == 0)
			err = exec_i64(st, "DELETE FROM sessions WHERE id = ?", 1, s->id, 0, 0,
			               &out->sessions, cause);
		return err;
	}
	if (!testbreak("forget-keeps-events"))
		err = exec_i64(st, "DELETE FROM events WHERE session = ? AND t_ns >= ? AND t_ns < ?",
		               3, s->id, lo, hi, &out->events, cause);
	else
		err = 0;
	if (err == 0 && !testbreak("forget-keeps-frames"))
		err = exec_i64(st, "DELETE FROM frames WHERE session = ? AND t_ns >= ? AND t_ns < ?",
		               3, s->id, lo, hi, &out->frames, cause);
	if (err == 0)
		err = exec_i64(st, "DELETE FROM contexts WHERE session = ? AND t_ns >= ? AND "
		               "t_ns < ?", 3, s->id, lo, hi, &out->contexts, cause);
	for (size_t i = 0; err == 0 && i < ntables; i++) {
		char *sql;

		if (!has_column(st, tables[i], "session") || !has_column(st, tables[i], "t_ns"))
			continue;
		sql = util_xasprintf("DELETE FROM \"%s\" WHERE session = ? AND t_ns >= ? AND t_ns < ?",
		                     tables[i]);
		err = exec_i64(st, sql, 3, s->id, lo, hi, &out->other, cause);
		free(sql);
	}
	return err;
}

int store_forget(struct store *st, const struct store_forget *f,
                 struct store_forget_counts *out, char **cause)
{
	struct forget_session *ss = NULL;
	sqlite3_stmt *stmt = NULL;
	char **tables = NULL;
	size_t n = 0, ntables = 0;
	int64_t changed;
	int rc, err;

	memset(out, 0, sizeof(*out));
	if (st->readonly)
		return util_fail(cause, -EACCES, "%s is open read-only", st->path);
	err = store_exec(st, "BEGIN IMMEDIATE", "cannot delete recorded data", cause);
	if (err != 0)
		return err;
	err = other_tables(st, &tables, &ntables, cause);
	if (err != 0)
		goto fail;
	err = store_prepare(st, "SELECT id, start_wall_ns, start_mono_ns, coalesce(end_wall_ns, 0) "
	                    "FROM sessions WHERE ?1 = 0 OR id = ?1 ORDER BY id", &stmt, cause);
	if (err != 0)
		goto fail;
	sqlite3_bind_int64(stmt, 1, f->session > 0 ? f->session : 0);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ss = util_xrealloc(ss, (n + 1) * sizeof(*ss));
		ss[n].id = sqlite3_column_int64(stmt, 0);
		ss[n].start_wall = sqlite3_column_int64(stmt, 1);
		ss[n].start_mono = sqlite3_column_int64(stmt, 2);
		ss[n].end_wall = sqlite3_column_int64(stmt, 3);
		n++;
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	err = store_done_or_fail(st, rc, "cannot list sessions", cause);
	if (err != 0)
		goto fail;
	if (f->session > 0 && n == 0) {
		err = util_fail(cause, -ENOENT, "no session %lld in %s", (long long)f->session,
		                st->path);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const struct forget_session *s = &ss[i];
		/* Wall-clock bounds as the session's monotonic clock (event times). */
		int64_t lo = f->from_wall_ns == INT64_MIN ? INT64_MIN :
		             sat_add(s->start_mono, sat_sub(f->from_wall_ns, s->start_wall));
		int64_t hi = f->to_wall_ns == INT64_MAX ? INT64_MAX :
		             sat_add(s->start_mono, sat_sub(f->to_wall_ns, s->start_wall));
		int whole = s->id != f->keep_session && f->from_wall_ns <= s->start_wall &&
		            (f->to_wall_ns == INT64_MAX || (s->end_wall > 0 && s->end_wall < f->to_wall_ns));

		if (!whole && (f->to_wall_ns <= s->start_wall ||
		               (s->end_wall > 0 && f->from_wall_ns > s->end_wall)))
			continue; /* the range misses this session */
		/*
		 * The collector holds a bundle of this session made before this forget:
		 * queue its deletion there (whole or in part, the bundle has what is
		 * forgotten), and let what is left of the session be uploaded again.
		 */
		err = exec_i64(st, "INSERT OR IGNORE INTO upload_deletions (sid, queued_wall_ns) "
		               "SELECT session, ?2 FROM uploads WHERE session = ?1", 2, s->id,
		               util_now_wall_ns(), 0, NULL, cause);
		if (err == 0)
			err = exec_i64(st, "DELETE FROM uploads WHERE session = ?", 1, s->id, 0, 0,
			               NULL, cause);
		if (err == 0)
			err = forget_one(st, s, whole, lo, hi, tables, ntables, out, cause);
		if (err != 0)
			goto fail;
	}
	/* What referred to a deleted row goes too: anything derived from it. */
	for (size_t i = 0; i < ntables; i++) {
		char *sql;

		if (has_column(st, tables[i], "event_id")) {
			sql = util_xasprintf("DELETE FROM \"%s\" WHERE event_id IS NOT NULL AND "
			                     "event_id NOT IN (SELECT id FROM events)", tables[i]);
			err = exec_i64(st, sql, 0, 0, 0, 0, &out->other, cause);
			free(sql);
		}
		if (err == 0 && has_column(st, tables[i], "frame_id")) {
			sql = util_xasprintf("DELETE FROM \"%s\" WHERE frame_id IS NOT NULL AND "
			                     "frame_id NOT IN (SELECT id FROM frames)", tables[i]);
			err = exec_i64(st, sql, 0, 0, 0, 0, &out->other, cause);
			free(sql);
		}
		if (err != 0)
			goto fail;
	}
	/* A patch cannot be shown without the frame it goes over. */
	do {
		changed = 0;
		err = exec_i64(st, "DELETE FROM frames WHERE base_id IS NOT NULL AND base_id NOT IN "
		               "(SELECT id FROM frames)", 0, 0, 0, 0, &changed, cause);
		if (err != 0)
			goto fail;
		out->frames += changed;
	} while (changed > 0);
	err = store_exec(st, "COMMIT", "cannot delete recorded data", cause);
	if (err != 0)
		goto fail;
	for (size_t i = 0; i < ntables; i++)
		free(tables[i]);
	free(tables);
	free(ss);
	return 0;
fail:
	store_rollback(st);
	for (size_t i = 0; i < ntables; i++)
		free(tables[i]);
	free(tables);
	free(ss);
	return err;
}

int store_compact(struct store *st, char **cause)
{
	int err;

	/* VACUUM's scratch copy stays in memory, not in a file outside the data directory. */
	err = store_exec(st, "PRAGMA temp_store = MEMORY", "cannot compact the database", cause);
	if (err == 0)
		err = store_exec(st, "VACUUM", "cannot compact the database", cause);
	if (err != 0)
		return err;
	/* Everything the WAL held goes into the database file, and the WAL is emptied. */
	for (int attempt = 0; ; attempt++) {
		sqlite3_stmt *stmt = NULL;
		int busy = 1, rc;

		err = store_prepare(st, "PRAGMA wal_checkpoint(TRUNCATE)", &stmt, cause);
		if (err != 0)
			return err;
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			busy = sqlite3_column_int(stmt, 0);
		sqlite3_finalize(stmt);
		if (rc != SQLITE_ROW && (rc & 0xff) != SQLITE_BUSY)
			return store_db_fail(st, cause, rc, "cannot empty the write-ahead log");
		if (rc == SQLITE_ROW && busy == 0)
			return 0;
		if (attempt >= 50)
			return util_fail(cause, -EBUSY, "cannot empty the write-ahead log of %s: another "
			                 "program keeps reading it; close it (mimic events/frames) and "
			                 "run forget again", st->path);
		sqlite3_sleep(100);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The query of every blob name any row holds: the frames' `blob`, and every
 * column named `*_blob` of any table (such as frames.scan_blob, the scrubbed
 * copy), so that a sweep never deletes a file something still names.
 */
static char *blob_names_sql(struct store *st)
{
	sqlite3_stmt *stmt = NULL;
	char *sql = util_xstrdup("SELECT blob FROM frames"), *next;

	if (sqlite3_prepare_v2(st->db, "SELECT m.name, p.name FROM sqlite_master m, "
	                       "pragma_table_info(m.name) p WHERE m.type = 'table' AND "
	                       "p.name LIKE '%\\_blob' ESCAPE '\\'", -1, &stmt, NULL) != SQLITE_OK)
		return sql;
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(stmt, 0);
		const char *c = (const char *)sqlite3_column_text(stmt, 1);

		if (t == NULL || c == NULL || strchr(t, '"') != NULL || strchr(c, '"') != NULL)
			continue;
		next = util_xasprintf("%s UNION SELECT \"%s\" FROM \"%s\" WHERE \"%s\" IS NOT NULL",
		                      sql, c, t, c);
		free(sql);
		sql = next;
	}
	sqlite3_finalize(stmt);
	return sql;
}

int store_blob_names(struct store *st, char ***names, size_t *n, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	char *sql;
	int rc, err;

	*names = NULL;
	*n = 0;
	sql = blob_names_sql(st);
	err = store_prepare(st, sql, &stmt, cause);
	free(sql);
	if (err != 0)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(stmt, 0);

		if (b == NULL)
			continue;
		*names = util_xrealloc(*names, (*n + 1) * sizeof(**names));
		(*names)[(*n)++] = util_xstrdup(b);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < *n; i++)
			free((*names)[i]);
		free(*names);
		*names = NULL;
		*n = 0;
		return store_db_fail(st, cause, rc, "cannot list frames");
	}
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), cmp_str);
	return 0;
}

int store_used_bytes(struct store *st, int64_t *bytes, char **cause)
{
	int64_t pages = 0, free_pages = 0, size = 0;
	int err;

	err = query_i64(st, "PRAGMA page_count", 0, 0, 0, &pages, cause);
	if (err == 0)
		err = query_i64(st, "PRAGMA freelist_count", 0, 0, 0, &free_pages, cause);
	if (err == 0)
		err = query_i64(st, "PRAGMA page_size", 0, 0, 0, &size, cause);
	*bytes = err == 0 ? (pages - free_pages) * size : 0;
	return err;
}
