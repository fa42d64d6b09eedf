/*
 * store_upload: which sessions the fleet's collector holds, and the deletion
 * requests still to send it (docs/FLEET.md, "The device side"). The rows are
 * ids, hashes and times, nothing recorded, so they are not sealed.
 */
#include <errno.h>
#include <string.h>

#include "store_int.h"
#include "util.h"

int store_upload_mark(struct store *st, int64_t session, const char *bundle, int64_t bytes,
                      int64_t wall_ns, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	if (st->readonly)
		return util_fail(cause, -EACCES, "%s is open read-only", st->path);
	err = store_prepare(st, "INSERT OR REPLACE INTO uploads (session, bundle, bytes, "
	                    "uploaded_wall_ns) VALUES (?, ?, ?, ?)", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	sqlite3_bind_text(stmt, 2, bundle, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, bytes);
	sqlite3_bind_int64(stmt, 4, wall_ns);
	err = store_step_done(st, stmt, "cannot record an upload", cause);
	sqlite3_finalize(stmt);
	return err;
}

int store_upload_get(struct store *st, int64_t session, char bundle[STORE_HEX_LEN + 1],
                     int64_t *wall_ns, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	bundle[0] = '\0';
	err = store_prepare(st, "SELECT bundle, uploaded_wall_ns FROM uploads WHERE session = ?",
	                    &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		store_column_str(stmt, 0, bundle, STORE_HEX_LEN + 1);
		if (wall_ns != NULL)
			*wall_ns = sqlite3_column_int64(stmt, 1);
		err = 0;
	} else if (rc == SQLITE_DONE) {
		err = -ENOENT;
	} else {
		err = store_db_fail(st, cause, rc, "cannot read the uploads");
	}
	sqlite3_finalize(stmt);
	return err;
}

int store_upload_deletions(struct store *st, int64_t **ids, size_t *n, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	*ids = NULL;
	*n = 0;
	err = store_prepare(st, "SELECT sid FROM upload_deletions ORDER BY queued_wall_ns, sid",
	                    &stmt, cause);
	if (err != 0)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		*ids = util_xrealloc(*ids, (*n + 1) * sizeof(**ids));
		(*ids)[(*n)++] = sqlite3_column_int64(stmt, 0);
	}
	sqlite3_finalize(stmt);
	return store_done_or_fail(st, rc, "cannot read the deletions to send", cause);
}

int store_upload_deletion_done(struct store *st, int64_t session, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	if (st->readonly)
		return util_fail(cause, -EACCES, "%s is open read-only", st->path);
	err = store_prepare(st, "DELETE FROM upload_deletions WHERE sid = ?", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	err = store_step_done(st, stmt, "cannot remove a sent deletion", cause);
	sqlite3_finalize(stmt);
	return err;
}

int store_upload_counts(struct store *st, int64_t *uploaded, int64_t *last_wall_ns,
                        int64_t *deletions, int64_t *waiting, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	err = store_prepare(st, "SELECT (SELECT count(*) FROM uploads), "
	                    "(SELECT coalesce(max(uploaded_wall_ns), 0) FROM uploads), "
	                    "(SELECT count(*) FROM upload_deletions), "
	                    "(SELECT count(*) FROM sessions WHERE coalesce(end_wall_ns, 0) > 0 "
	                    "AND id NOT IN (SELECT session FROM uploads))", &stmt, cause);
	if (err != 0)
		return err;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		if (uploaded != NULL)
			*uploaded = sqlite3_column_int64(stmt, 0);
		if (last_wall_ns != NULL)
			*last_wall_ns = sqlite3_column_int64(stmt, 1);
		if (deletions != NULL)
			*deletions = sqlite3_column_int64(stmt, 2);
		if (waiting != NULL)
			*waiting = sqlite3_column_int64(stmt, 3);
		err = 0;
	} else {
		err = store_db_fail(st, cause, rc, "cannot read the uploads");
	}
	sqlite3_finalize(stmt);
	return err;
}
