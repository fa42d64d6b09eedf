/*
 * store_session: the sessions of a store, their input devices, and the consent
 * rows (see store.h).
 */
#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"
#include "util.h"

int store_session_begin(struct store *st, const struct store_session *s, int64_t *id,
                        char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	err = store_prepare(st, "INSERT INTO sessions (name, host, start_wall_ns, start_mono_ns, "
	                    "screen_w, screen_h, keymap, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	                    &stmt, cause);
	if (err != 0)
		return err;
	store_bind_str(stmt, 1, s->name, sizeof(s->name));
	store_bind_str(stmt, 2, s->host, sizeof(s->host));
	sqlite3_bind_int64(stmt, 3, s->start_wall_ns);
	sqlite3_bind_int64(stmt, 4, s->start_mono_ns);
	sqlite3_bind_int(stmt, 5, s->screen_w);
	sqlite3_bind_int(stmt, 6, s->screen_h);
	store_bind_str(stmt, 7, s->keymap, sizeof(s->keymap));
	store_bind_str(stmt, 8, s->version, sizeof(s->version));
	err = store_step_done(st, stmt, "cannot create a session", cause);
	if (err == 0)
		*id = sqlite3_last_insert_rowid(st->db);
	sqlite3_finalize(stmt);
	return err;
}

int store_session_set_info(struct store *st, int64_t id, const char *config_json,
                           const char *monitors_json, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	err = store_prepare(st, "UPDATE sessions SET config = coalesce(?, config), "
	                    "monitors = coalesce(?, monitors) WHERE id = ?", &stmt, cause);
	if (err != 0)
		return err;
	if (config_json != NULL)
		sqlite3_bind_text(stmt, 1, config_json, -1, SQLITE_STATIC);
	if (monitors_json != NULL)
		sqlite3_bind_text(stmt, 2, monitors_json, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, id);
	err = store_step_done(st, stmt, "cannot store the session's settings", cause);
	if (err == 0 && sqlite3_changes(st->db) == 0)
		err = util_fail(cause, -ENOENT, "no session %lld in %s", (long long)id, st->path);
	sqlite3_finalize(stmt);
	return err;
}

/*
 * Prepares sql, a query of session id (parameter 1), into *stmt and steps to its
 * row. -ENOENT when there is no such session.
 */
static int session_row(struct store *st, const char *sql, int64_t id, sqlite3_stmt **stmt,
                       char **cause)
{
	int err;

	err = store_prepare(st, sql, stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(*stmt, 1, id);
	err = store_step_row(st, *stmt, "cannot read a session", cause);
	if (err > 0)
		err = util_fail(cause, -ENOENT, "no session %lld in %s", (long long)id, st->path);
	return err;
}

int store_session_get_info(struct store *st, int64_t id, char **config_json,
                           char **monitors_json, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	const char *c, *m;
	int err;

	if (config_json != NULL)
		*config_json = NULL;
	if (monitors_json != NULL)
		*monitors_json = NULL;
	err = session_row(st, "SELECT config, monitors FROM sessions WHERE id = ?", id, &stmt,
	                  cause);
	if (err != 0)
		goto fail;
	c = (const char *)sqlite3_column_text(stmt, 0);
	m = (const char *)sqlite3_column_text(stmt, 1);
	if (config_json != NULL)
		*config_json = util_xstrdup(c != NULL ? c : "{}");
	if (monitors_json != NULL)
		*monitors_json = util_xstrdup(m != NULL ? m : "[]");
	sqlite3_finalize(stmt);
	return 0;
fail:
	sqlite3_finalize(stmt);
	return err;
}

int store_session_end(struct store *st, int64_t id, int64_t end_wall_ns, const char *reason,
                      char **cause)
{
	sqlite3_stmt *stmt = NULL;
	char *why = NULL;
	int err;

	err = store_prepare(st, "UPDATE sessions SET end_wall_ns = ?, end_reason = ? WHERE id = ?",
	                    &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, end_wall_ns);
	store_bind_str(stmt, 2, reason != NULL ? reason : "", 64);
	sqlite3_bind_int64(stmt, 3, id);
	err = store_step_done(st, stmt, "cannot close the session", &why);
	/* A full disk is what the reserve is kept for: it makes room for this one write. */
	if (err == -ENOSPC && store_reserve_release(st) == 0) {
		free(why);
		why = NULL;
		sqlite3_reset(stmt);
		err = store_step_done(st, stmt, "cannot close the session", &why);
	}
	if (err != 0)
		util_fail(cause, err, "%s", why);
	free(why);
	if (err == 0 && sqlite3_changes(st->db) == 0)
		err = util_fail(cause, -ENOENT, "no session %lld in %s", (long long)id, st->path);
	sqlite3_finalize(stmt);
	return err;
}

int store_recover(struct store *st, int *n, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	if (n != NULL)
		*n = 0;
	/*
	 * The last event by id is found through the (session, id) index; its offset from
	 * the monotonic start, added to the wall start, is when the recorder last wrote.
	 */
	err = store_prepare(st, "UPDATE sessions SET end_reason = 'interrupted', end_wall_ns = "
	                    "start_wall_ns + max(0, coalesce((SELECT e.t_ns FROM events e "
	                    "WHERE e.session = sessions.id ORDER BY e.id DESC LIMIT 1), "
	                    "start_mono_ns) - start_mono_ns) WHERE end_wall_ns IS NULL",
	                    &stmt, cause);
	if (err != 0)
		return err;
	err = store_step_done(st, stmt, "cannot close interrupted sessions", cause);
	if (err == 0 && n != NULL)
		*n = sqlite3_changes(st->db);
	if (err == 0 && sqlite3_changes(st->db) > 0)
		log_info("store: closed %d interrupted session(s)", sqlite3_changes(st->db));
	sqlite3_finalize(stmt);
	return err;
}

int store_device_put(struct store *st, int64_t session, int32_t device_id, const char *name,
                     int synthetic, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	err = store_prepare(st, "INSERT OR REPLACE INTO devices (session, id, name, synthetic) "
	                    "VALUES (?, ?, ?, ?)", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	sqlite3_bind_int(stmt, 2, device_id);
	store_bind_str(stmt, 3, name, sizeof(((struct store_device *)0)->name));
	sqlite3_bind_int(stmt, 4, synthetic != 0);
	err = store_step_done(st, stmt, "cannot store an input device", cause);
	sqlite3_finalize(stmt);
	return err;
}

/* True when s is a non-empty string of ASCII digits. */
static int all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return 0;
	}
	return 1;
}

int store_session_resolve(struct store *st, const char *spec, int64_t *id, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	if (spec == NULL || *spec == '\0')
		return util_fail(cause, -EINVAL, "no session given: use an id, a name or \"last\"");
	if (all_digits(spec)) {
		errno = 0;
		long long v = strtoll(spec, NULL, 10);
		if (errno == ERANGE)
			return util_fail(cause, -ENOENT, "no session %s in %s", spec, st->path);
		err = store_prepare(st, "SELECT id FROM sessions WHERE id = ?", &stmt, cause);
		if (err != 0)
			return err;
		sqlite3_bind_int64(stmt, 1, v);
	} else if (strcmp(spec, "last") == 0) {
		err = store_prepare(st, "SELECT id FROM sessions ORDER BY id DESC LIMIT 1", &stmt,
		                    cause);
		if (err != 0)
			return err;
	} else {
		err = store_prepare(st, "SELECT id FROM sessions WHERE name = ? ORDER BY id DESC "
		                    "LIMIT 1", &stmt, cause);
		if (err != 0)
			return err;
		sqlite3_bind_text(stmt, 1, spec, -1, SQLITE_STATIC);
	}
	err = store_step_row(st, stmt, "cannot look up a session", cause);
	if (err > 0 && all_digits(spec))
		err = util_fail(cause, -ENOENT, "no session %s in %s", spec, st->path);
	else if (err > 0 && strcmp(spec, "last") == 0)
		err = util_fail(cause, -ENOENT, "no session matches \"last\": %s holds no "
		                "sessions yet", st->path);
	else if (err > 0)
		err = util_fail(cause, -ENOENT, "no session named \"%s\" in %s", spec, st->path);
	if (err != 0)
		goto fail;
	*id = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
fail:
	sqlite3_finalize(stmt);
	return err;
}

#define SESSION_COLUMNS \
	"id, name, host, start_wall_ns, start_mono_ns, end_wall_ns, end_reason, screen_w, " \
	"screen_h, keymap, version"

static void read_session(sqlite3_stmt *stmt, struct store_session *s)
{
	memset(s, 0, sizeof(*s));
	s->id = sqlite3_column_int64(stmt, 0);
	store_column_str(stmt, 1, s->name, sizeof(s->name));
	store_column_str(stmt, 2, s->host, sizeof(s->host));
	s->start_wall_ns = sqlite3_column_int64(stmt, 3);
	s->start_mono_ns = sqlite3_column_int64(stmt, 4);
	s->end_wall_ns = sqlite3_column_int64(stmt, 5); /* NULL reads as 0 */
	store_column_str(stmt, 6, s->end_reason, sizeof(s->end_reason));
	s->screen_w = sqlite3_column_int(stmt, 7);
	s->screen_h = sqlite3_column_int(stmt, 8);
	store_column_str(stmt, 9, s->keymap, sizeof(s->keymap));
	store_column_str(stmt, 10, s->version, sizeof(s->version));
}

int store_session_get(struct store *st, int64_t id, struct store_session *out, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	err = session_row(st, "SELECT " SESSION_COLUMNS " FROM sessions WHERE id = ?", id, &stmt,
	                  cause);
	if (err != 0)
		goto fail;
	read_session(stmt, out);
	sqlite3_finalize(stmt);
	return 0;
fail:
	sqlite3_finalize(stmt);
	return err;
}

int store_sessions_foreach(struct store *st,
                           int (*fn)(const struct store_session *s, void *arg), void *arg,
                           char **cause)
{
	sqlite3_stmt *stmt = NULL;
	struct store_session s;
	int rc, err;

	err = store_prepare(st, "SELECT " SESSION_COLUMNS " FROM sessions ORDER BY id", &stmt,
	                    cause);
	if (err != 0)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		read_session(stmt, &s);
		err = fn(&s, arg);
		if (err != 0)
			goto fail;
	}
	err = store_done_or_fail(st, rc, "cannot list sessions", cause);
fail:
	sqlite3_finalize(stmt);
	return err;
}

int store_devices_foreach(struct store *st, int64_t session,
                          int (*fn)(const struct store_device *d, void *arg), void *arg,
                          char **cause)
{
	sqlite3_stmt *stmt = NULL;
	struct store_device d;
	int rc, err;

	err = store_prepare(st, "SELECT id, name, synthetic FROM devices WHERE session = ? "
	                    "ORDER BY id", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		memset(&d, 0, sizeof(d));
		d.id = sqlite3_column_int(stmt, 0);
		store_column_str(stmt, 1, d.name, sizeof(d.name));
		d.synthetic = sqlite3_column_int(stmt, 2) != 0;
		err = fn(&d, arg);
		if (err != 0)
			goto fail;
	}
	err = store_done_or_fail(st, rc, "cannot list input devices", cause);
fail:
	sqlite3_finalize(stmt);
	return err;
}

int store_consent_add(struct store *st, const struct store_consent *c, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	err = store_prepare(st, "INSERT INTO consents (t_wall_ns, user, action, notice_sha256, "
	                    "notice_path) VALUES (?, ?, ?, ?, ?)", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, c->t_wall_ns);
	sqlite3_bind_text(stmt, 2, c->user, (int)strnlen(c->user, sizeof(c->user)), SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 3, c->action, (int)strnlen(c->action, sizeof(c->action)),
	                  SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 4, c->notice_sha256,
	                  (int)strnlen(c->notice_sha256, sizeof(c->notice_sha256)), SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 5, c->notice_path,
	                  (int)strnlen(c->notice_path, sizeof(c->notice_path)), SQLITE_TRANSIENT);
	err = store_step_done(st, stmt, "cannot record the consent", cause);
	sqlite3_finalize(stmt);
	return err;
}

int store_consent_latest(struct store *st, const char *user, struct store_consent *out,
                         char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	memset(out, 0, sizeof(*out));
	if (st->version_found > 0 && st->version_found < 7 && st->readonly)
		return util_fail(cause, -ENOENT, "no consent recorded for %s", user);
	err = store_prepare(st, "SELECT t_wall_ns, user, action, notice_sha256, notice_path "
	                    "FROM consents WHERE user = ? ORDER BY id DESC LIMIT 1", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		out->t_wall_ns = sqlite3_column_int64(stmt, 0);
		store_column_str(stmt, 1, out->user, sizeof(out->user));
		store_column_str(stmt, 2, out->action, sizeof(out->action));
		store_column_str(stmt, 3, out->notice_sha256, sizeof(out->notice_sha256));
		store_column_str(stmt, 4, out->notice_path, sizeof(out->notice_path));
		err = 0;
	} else if (rc == SQLITE_DONE) {
		err = util_fail(cause, -ENOENT, "no consent recorded for %s", user);
	} else {
		err = store_db_fail(st, cause, rc, "cannot read the consent");
	}
	sqlite3_finalize(stmt);
	return err;
}

int store_exclude_set(struct store *st, int64_t session, int64_t start_ns, int64_t end_ns,
                      int on, char **cause)
{
	struct store_session ss;
	sqlite3_stmt *stmt = NULL;
	int err = store_session_get(st, session, &ss, cause);

	if (err != 0)
		return err;
	err = store_prepare(st, on ? "INSERT INTO excluded (session, t_ns, end_ns, created_wall_ns) "
	                             "VALUES (?, ?, ?, ?)"
	                           : "DELETE FROM excluded WHERE session = ? AND t_ns <= ?3 AND "
	                             "end_ns >= ?2", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	sqlite3_bind_int64(stmt, 2, start_ns);
	sqlite3_bind_int64(stmt, 3, end_ns);
	if (on)
		sqlite3_bind_int64(stmt, 4, util_now_wall_ns());
	err = store_step_done(st, stmt, "cannot mark an episode", cause);
	sqlite3_finalize(stmt);
	return err;
}

int store_excluded_get(struct store *st, int64_t session, struct store_span **out, size_t *n,
                       char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err, rc;

	*out = NULL;
	*n = 0;
	err = store_prepare(st, "SELECT t_ns, end_ns FROM excluded WHERE session = ? "
	                    "ORDER BY t_ns", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		*out = util_xrealloc(*out, (*n + 1) * sizeof(**out));
		(*out)[*n].start_ns = sqlite3_column_int64(stmt, 0);
		(*out)[*n].end_ns = sqlite3_column_int64(stmt, 1);
		(*n)++;
	}
	sqlite3_finalize(stmt);
	err = store_done_or_fail(st, rc, "cannot read the episodes marked do not use", cause);
	if (err != 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return err;
}
