/*
 * store: the SQLite database of a data directory (see store.h): opening it, its
 * schema and migrations, closing it, its key, and the helpers every query uses.
 * The queries live in files of one concern each (store_int.h lists them).
 *
 * One connection per struct store. The file is kept in WAL mode so that readers
 * (`mimic events`) never block the recorder, with synchronous=NORMAL: a power cut
 * may lose the last commits but never corrupts the file. The schema version lives
 * in PRAGMA user_version and is moved forward by the ordered steps in
 * `migrations`, all in one transaction.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"
#include "store_int.h"
#include "testbreak.h"
#include "util.h"
#include "vault.h"

/* How long a statement waits for another connection's lock before giving up. */
#define STORE_BUSY_TIMEOUT_MS 5000

/*
 * migrations[v] moves the schema from version v to v + 1. Never edit a step that
 * has been released: append a new one and raise STORE_SCHEMA_VERSION.
 */
static const char *const migrations[] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE sessions ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL DEFAULT '',"
	"  host TEXT NOT NULL DEFAULT '',"
	"  start_wall_ns INTEGER NOT NULL,"
	"  start_mono_ns INTEGER NOT NULL,"
	"  end_wall_ns INTEGER," /* NULL while recording or when it never closed */
	"  end_reason TEXT,"
	"  screen_w INTEGER NOT NULL DEFAULT 0,"
	"  screen_h INTEGER NOT NULL DEFAULT 0,"
	"  keymap TEXT NOT NULL DEFAULT '',"
	"  version TEXT NOT NULL DEFAULT ''"
	");"
	"CREATE INDEX sessions_name ON sessions (name, id);"
	"CREATE TABLE devices ("
	"  session INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,"
	"  id INTEGER NOT NULL,"
	"  name TEXT NOT NULL DEFAULT '',"
	"  synthetic INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (session, id)"
	");"
	"CREATE TABLE contexts ("
	"  session INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,"
	"  seq INTEGER NOT NULL,"
	"  t_ns INTEGER NOT NULL,"
	"  \"window\" INTEGER NOT NULL,"
	"  pid INTEGER NOT NULL,"
	"  x INTEGER NOT NULL, y INTEGER NOT NULL, w INTEGER NOT NULL, h INTEGER NOT NULL,"
	"  wm_instance TEXT NOT NULL DEFAULT '',"
	"  wm_class TEXT NOT NULL DEFAULT '',"
	"  title TEXT NOT NULL DEFAULT '',"
	"  exe TEXT NOT NULL DEFAULT '',"
	"  PRIMARY KEY (session, seq)"
	");"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  session INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,"
	"  t_ns INTEGER NOT NULL,"
	"  kind INTEGER NOT NULL,"
	"  source INTEGER NOT NULL,"
	"  device INTEGER NOT NULL,"
	"  context INTEGER NOT NULL,"
	"  x INTEGER NOT NULL, y INTEGER NOT NULL,"
	"  detail INTEGER NOT NULL,"
	"  mods INTEGER NOT NULL,"
	"  amount REAL NOT NULL,"
	"  keysym TEXT NOT NULL DEFAULT '',"
	"  text TEXT NOT NULL DEFAULT ''"
	");"
	"CREATE INDEX events_session ON events (session, id);",
	/*
	 * 1 -> 2: frames (docs/FRAMES.md), and what a session records about how it
	 * was made: the effective settings and the monitors.
	 */
	"ALTER TABLE sessions ADD COLUMN config TEXT NOT NULL DEFAULT '{}';"
	"ALTER TABLE sessions ADD COLUMN monitors TEXT NOT NULL DEFAULT '[]';"
	"CREATE TABLE frames ("
	"  id INTEGER PRIMARY KEY,"
	"  session INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,"
	"  t_ns INTEGER NOT NULL,"
	"  trigger TEXT NOT NULL,"
	"  event_id INTEGER," /* NULL: not tied to an event (idle) */
	"  blob TEXT NOT NULL,"
	"  format TEXT NOT NULL,"
	"  width INTEGER NOT NULL, height INTEGER NOT NULL,"
	"  bytes INTEGER NOT NULL,"
	"  base_id INTEGER," /* NULL: blob is the whole screen; else patches over frame base_id */
	"  patch TEXT," /* with base_id: JSON [[x,y,w,h],...], stacked top to bottom in blob */
	"  damage_x INTEGER NOT NULL, damage_y INTEGER NOT NULL,"
	"  damage_w INTEGER NOT NULL, damage_h INTEGER NOT NULL,"
	"  cursor_x INTEGER NOT NULL, cursor_y INTEGER NOT NULL,"
	"  cursor_name TEXT NOT NULL DEFAULT ''"
	");"
	"CREATE INDEX frames_session ON frames (session, id);"
	"CREATE INDEX frames_event ON frames (event_id);",
	/*
	 * 2 -> 3: UI elements (docs/ELEMENTS.md): the element a press, a typing run or
	 * a shortcut acted on, one row per event.
	 */
	"CREATE TABLE elements ("
	"  event_id INTEGER PRIMARY KEY,"
	"  session INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,"
	"  kind INTEGER NOT NULL,"
	"  status INTEGER NOT NULL,"
	"  source INTEGER NOT NULL,"
	"  t_ns INTEGER NOT NULL,"
	"  read_ns INTEGER NOT NULL,"
	"  lookup_us INTEGER NOT NULL,"
	"  \"window\" INTEGER NOT NULL,"
	"  pid INTEGER NOT NULL,"
	"  popup INTEGER NOT NULL,"
	"  app TEXT NOT NULL DEFAULT '',"
	"  role TEXT NOT NULL DEFAULT '',"
	"  name TEXT NOT NULL DEFAULT '',"
	"  label TEXT NOT NULL DEFAULT '',"
	"  description TEXT NOT NULL DEFAULT '',"
	"  states INTEGER NOT NULL,"
	"  state_names TEXT NOT NULL DEFAULT '',"
	"  x INTEGER NOT NULL, y INTEGER NOT NULL, w INTEGER NOT NULL, h INTEGER NOT NULL,"
	"  ancestors TEXT NOT NULL DEFAULT '[]'," /* JSON [[role, name], ...], nearest first */
	"  menu_path TEXT NOT NULL DEFAULT '',"
	"  shortcut TEXT NOT NULL DEFAULT '',"
	"  chord TEXT NOT NULL DEFAULT '',"
	"  url TEXT NOT NULL DEFAULT ''"
	");"
	"CREATE INDEX elements_session ON elements (session, event_id);",
	/*
	 * 3 -> 4: task markers (`mimic task start|end`, docs/EXPORT.md): where an
	 * episode begins and ends. next_event is the id the next event got when the
	 * marker came, so a marker sits between two events without taking an id.
	 */
	"CREATE TABLE tasks ("
	"  id INTEGER PRIMARY KEY,"
	"  session INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,"
	"  t_ns INTEGER NOT NULL,"
	"  next_event INTEGER NOT NULL,"
	"  kind INTEGER NOT NULL," /* 1 start, 2 end */
	"  outcome INTEGER NOT NULL DEFAULT 0," /* end: 1 success, 2 fail */
	"  description TEXT NOT NULL DEFAULT ''"
	");"
	"CREATE INDEX tasks_session ON tasks (session, id);",
	/*
	 * 4 -> 5: encryption at rest (vault.h). A row's sensitive text (key
	 * text and keysym and keycode of key events, window titles, element names and
	 * URLs, task descriptions) moves into `sealed`, XChaCha20-Poly1305 under the
	 * data directory's key; the plain columns then hold '' or 0. Rows stored
	 * before have sealed NULL and are read as they are.
	 */
	"ALTER TABLE events ADD COLUMN sealed BLOB;"
	"ALTER TABLE contexts ADD COLUMN sealed BLOB;"
	"ALTER TABLE elements ADD COLUMN sealed BLOB;"
	"ALTER TABLE tasks ADD COLUMN sealed BLOB;",
	/*
	 * 5 -> 6: redaction of frames (docs/REDACTION.md). scan: 0 unscanned (never
	 * exported), 1 clean, 2 scrubbed (scan_blob is the whole screen with the
	 * findings filled, a PNG), 3 dropped. scan_boxes: JSON [[x,y,w,h,risk],...] of
	 * the findings, which later patches over this frame inherit.
	 */
	"ALTER TABLE frames ADD COLUMN scan INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE frames ADD COLUMN scan_reason TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE frames ADD COLUMN scan_boxes TEXT NOT NULL DEFAULT '[]';"
	"ALTER TABLE frames ADD COLUMN scan_blob TEXT;"
	"CREATE INDEX frames_scan ON frames (session, scan, id);",
	/*
	 * 6 -> 7: consent (docs/POLICY.md): each acknowledgement of the
	 * organisation's notice (action 'accept', with the SHA-256 of the notice read)
	 * and each withdrawal, per user, never updated in place.
	 */
	"CREATE TABLE consents ("
	"  id INTEGER PRIMARY KEY,"
	"  t_wall_ns INTEGER NOT NULL,"
	"  user TEXT NOT NULL,"
	"  action TEXT NOT NULL," /* 'accept' or 'withdraw' */
	"  notice_sha256 TEXT NOT NULL DEFAULT '',"
	"  notice_path TEXT NOT NULL DEFAULT ''"
	");"
	"CREATE INDEX consents_user ON consents (user, id);",
	/*
	 * 7 -> 8: the rule set a frame was scanned with (docs/REDACTION.md): the
	 * fingerprint of its redaction rules (redact_fingerprint), so that a scan made
	 * with other rules is made again. Scans stored before have '', which matches
	 * no rule set: they count as unscanned and the next export scans them again.
	 */
	"ALTER TABLE frames ADD COLUMN scan_rules TEXT NOT NULL DEFAULT '';",
	/*
	 * 8 -> 9: the anchor of the audit log (audit.h, store_audit.c): its record
	 * count, byte length and head hash after the last append, sealed with the
	 * data directory's key, so that cutting the log's end or emptying it is found
	 * by `mimic audit --verify`. One row (id 1); none until the next append after
	 * the upgrade, which --verify reports as an unanchored log.
	 */
	"CREATE TABLE audit_anchor ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  sealed BLOB NOT NULL"
	");",
	/*
	 * 9 -> 10: the URL of a browser window's page (struct context's url, read from
	 * the browser over AT-SPI), sealed like a title (tag "cu01") and never kept in
	 * the clear: there is no plain column for it. NULL when the window has none;
	 * contexts stored before have none.
	 */
	"ALTER TABLE contexts ADD COLUMN url_sealed BLOB;",
	/*
	 * 10 -> 11: episodes the person marked "do not use" on the review page
	 * (docs/PRIVACY.md): the steps that begin in [t_ns, end_ns] (CLOCK_MONOTONIC,
	 * as events) are kept out of every export. t_ns and session make forget
	 * delete a mark with the time it covers.
	 */
	"CREATE TABLE excluded ("
	"  id INTEGER PRIMARY KEY,"
	"  session INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,"
	"  t_ns INTEGER NOT NULL,"
	"  end_ns INTEGER NOT NULL,"
	"  created_wall_ns INTEGER NOT NULL"
	");"
	"CREATE INDEX excluded_session ON excluded (session, t_ns);",
	/*
	 * 11 -> 12: interventions (docs/AGENTS.md): a person took over from `mimic
	 * agent serve` at t_ns (their first event, first_event) and handed back at
	 * end_ns (end_event: the id the next event got then); handback says how
	 * (1 command, 2 idle, 3 the agent went away, 4 the recording ended), refused
	 * how many of the agent's calls were refused meanwhile. sealed holds the
	 * agent's first refused call (its arguments, JSON), sealed like a task
	 * description (tag "iv01"); NULL when it made none.
	 */
	"CREATE TABLE interventions ("
	"  id INTEGER PRIMARY KEY,"
	"  session INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,"
	"  t_ns INTEGER NOT NULL,"
	"  end_ns INTEGER NOT NULL,"
	"  first_event INTEGER NOT NULL,"
	"  end_event INTEGER NOT NULL,"
	"  handback INTEGER NOT NULL,"
	"  refused INTEGER NOT NULL DEFAULT 0,"
	"  sealed BLOB"
	");"
	"CREATE INDEX interventions_session ON interventions (session, t_ns);",
	/*
	 * 12 -> 13: the fleet's uploads (docs/FLEET.md, "The device side"). uploads
	 * holds one row per session whose bundle the collector stored: its content
	 * address and when. A forget of such a session moves its id to
	 * upload_deletions (deliberately without a "session" column or a reference,
	 * so that forgetting the session keeps the row) until `mimic upload` has sent
	 * the collector the deletion request.
	 */
	"CREATE TABLE uploads ("
	"  session INTEGER PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,"
	"  bundle TEXT NOT NULL,"
	"  bytes INTEGER NOT NULL,"
	"  uploaded_wall_ns INTEGER NOT NULL"
	");"
	"CREATE TABLE upload_deletions ("
	"  sid INTEGER PRIMARY KEY,"
	"  queued_wall_ns INTEGER NOT NULL"
	");",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION,
               "one migration step per schema version");

/* Maps a SQLite result code (primary or extended) to a negative errno value. */
static int map_rc(sqlite3 *db, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_IOERR:
		/* A failed write(2) for lack of space surfaces as an I/O error. */
		if (db != NULL && (sqlite3_system_errno(db) == ENOSPC ||
		                   sqlite3_system_errno(db) == EDQUOT))
			return -ENOSPC;
		return -EIO;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_CANTOPEN:
		return -EIO;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return -EINVAL;
	default:
		return -EIO;
	}
}

int store_db_fail(struct store *st, char **cause, int rc, const char *what)
{
	int err = map_rc(st->db, rc);

	if (err == 0)
		err = -EIO;
	if (err == -ENOSPC)
		return util_fail(cause, err, "%s in %s: the disk is full (%s)", what, st->path,
		                 sqlite3_errmsg(st->db));
	return util_fail(cause, err, "%s in %s: %s", what, st->path, sqlite3_errmsg(st->db));
}

int store_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt, char **cause)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL);

	if (rc != SQLITE_OK) {
		*stmt = NULL;
		return store_db_fail(st, cause, rc, "cannot prepare a query");
	}
	return 0;
}

int store_prepare_cached(struct store *st, sqlite3_stmt **stmt, const char *sql, char **cause)
{
	int rc;

	if (*stmt != NULL)
		return 0;
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
	if (rc != SQLITE_OK) {
		*stmt = NULL;
		return store_db_fail(st, cause, rc, "cannot prepare to store events");
	}
	return 0;
}

int store_exec(struct store *st, const char *sql, const char *what, char **cause)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return store_db_fail(st, cause, rc, what);
	return 0;
}

int store_done_or_fail(struct store *st, int rc, const char *what, char **cause)
{
	return rc == SQLITE_DONE ? 0 : store_db_fail(st, cause, rc, what);
}

int store_step_done(struct store *st, sqlite3_stmt *stmt, const char *what, char **cause)
{
	return store_done_or_fail(st, sqlite3_step(stmt), what, cause);
}

void store_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

int store_bind_str(sqlite3_stmt *stmt, int i, const char *s, size_t max)
{
	if (s == NULL)
		return sqlite3_bind_text(stmt, i, "", 0, SQLITE_STATIC);
	return sqlite3_bind_text(stmt, i, s, (int)strnlen(s, max), SQLITE_TRANSIENT);
}

void store_column_str(sqlite3_stmt *stmt, int i, char *dst, size_t n)
{
	const char *s = (const char *)sqlite3_column_text(stmt, i);

	util_strlcpy_utf8(dst, s != NULL ? s : "", n);
}

int store_step_row(struct store *st, sqlite3_stmt *stmt, const char *what, char **cause)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return 1;
	return store_db_fail(st, cause, rc, what);
}

void store_bind_ints(sqlite3_stmt *stmt, int first, const int64_t *v, size_t n)
{
	for (size_t k = 0; k < n; k++)
		sqlite3_bind_int64(stmt, first + (int)k, v[k]);
}

int store_bind_id(sqlite3_stmt *stmt, int i, int64_t id)
{
	if (id > 0)
		return sqlite3_bind_int64(stmt, i, id);
	return sqlite3_bind_null(stmt, i);
}

int store_write_rows(struct store *st, int64_t session, const char *sql, const void *rows,
                     size_t n, size_t size, store_bind_row_fn *bind, const char *what,
                     char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	if (n == 0)
		return 0;
	err = store_vault(st, NULL, cause);
	if (err == 0)
		err = store_prepare(st, sql, &stmt, cause);
	if (err != 0)
		return err;
	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
		bind(st, stmt, session, (const char *)rows + i * size);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE)
			rc = sqlite3_reset(stmt);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		err = store_db_fail(st, cause, rc, what);
		store_rollback(st);
	}
	sqlite3_finalize(stmt);
	return err;
}

int store_next_id(struct store *st, const char *sql, const char *what, int64_t *id,
                  char **cause)
{
	sqlite3_stmt *stmt = NULL;
	char msg[64];
	int err;

	snprintf(msg, sizeof(msg), "cannot read the newest %s id", what);
	err = store_prepare(st, sql, &stmt, cause);
	if (err == 0)
		err = store_step_row(st, stmt, msg, cause);
	/* The query is an aggregate: it always gives a row unless something failed. */
	if (err > 0)
		err = store_db_fail(st, cause, SQLITE_DONE, msg);
	if (err == 0)
		*id = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return err;
}

/*
 * Creates dir and its missing parents with mode 0700, then checks that files can
 * be created in it.
 */
static int ensure_dir(const char *dir, char **cause)
{
	struct stat sb;
	int err;

	err = -paths_mkdir_p(dir, NULL);
	if (err != 0)
		goto fail;
	if (stat(dir, &sb) != 0) {
		err = errno;
		goto fail;
	}
	if (!S_ISDIR(sb.st_mode)) {
		err = ENOTDIR;
		goto fail;
	}
	if (access(dir, W_OK | X_OK) != 0) {
		err = errno;
		goto fail;
	}
	return 0;
fail:
	return util_fail(cause, (err == EPERM || err == EROFS) ? -EACCES : -err,
	                 "data directory %s is not writable: %s; choose another with --data-dir",
	                 dir, strerror(err));
}

/* Runs a query that returns one integer; returns the SQLite result code. */
static int query_int(struct store *st, const char *sql, int *value)
{
	sqlite3_stmt *stmt = NULL;
	int rc;

	rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*value = sqlite3_column_int(stmt, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(stmt);
	return rc;
}

static int read_user_version(struct store *st, int *version, char **cause)
{
	int rc = query_int(st, "PRAGMA user_version", version);

	if (rc != SQLITE_OK)
		return store_db_fail(st, cause, rc, "cannot read the schema version");
	return 0;
}

/* Applies the missing migration steps in one transaction. */
static int migrate(struct store *st, char **cause)
{
	int version = 0, err;
	char sql[64];

	err = store_exec(st, "BEGIN IMMEDIATE", "cannot start the schema upgrade", cause);
	if (err != 0)
		return err;
	/* Read again under the write lock: another process may have migrated meanwhile. */
	err = read_user_version(st, &version, cause);
	if (err != 0)
		goto fail;
	if (version > STORE_SCHEMA_VERSION) {
		err = util_fail(cause, -EPROTO, "database %s has schema version %d, newer than "
		                "this mimic understands (%d): upgrade mimic", st->path, version,
		                STORE_SCHEMA_VERSION);
		goto fail;
	}
	for (int v = version; v < STORE_SCHEMA_VERSION; v++) {
		err = store_exec(st, migrations[v], "cannot upgrade the schema", cause);
		if (err != 0)
			goto fail;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
	err = store_exec(st, sql, "cannot upgrade the schema", cause);
	if (err != 0)
		goto fail;
	err = store_exec(st, "COMMIT", "cannot commit the schema upgrade", cause);
	if (err != 0)
		goto fail;
	if (version != STORE_SCHEMA_VERSION)
		log_info("store: upgraded the schema from version %d to %d", version,
		         STORE_SCHEMA_VERSION);
	return 0;
fail:
	store_rollback(st);
	return err;
}

/*
 * Creates, unless read-only, the data directory (mode 0700) and the database
 * file; read-only, the file must exist.
 */
static int open_file(struct store *st, const char *dir, char **cause)
{
	int err, fd;

	if (st->readonly) {
		if (access(st->path, F_OK) != 0)
			return util_fail(cause, -ENOENT, "no mimic database in %s yet: record a "
			                 "session first, or choose another --data-dir", dir);
		return 0;
	}
	err = ensure_dir(dir, cause);
	if (err != 0)
		return err;
	/*
	 * What is recorded is for its owner only (docs/PRIVACY.md): every file of an
	 * existing directory too, and none may belong to someone else.
	 */
	err = paths_secure_tree(dir, 1, cause);
	if (err != 0)
		return err;
	/*
	 * Create the file ourselves so that it is 0600 whatever the umask;
	 * SQLite gives its -wal and -shm files the same mode as the database.
	 * An existing file is never opened here: closing a descriptor of it would
	 * drop the POSIX locks another connection of this process holds on it (the
	 * recorder's, when audit_append opens the store to anchor the log), and
	 * another process could then checkpoint and delete the write-ahead log
	 * under it.
	 */
	fd = open(st->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		struct stat sb;

		/* paths_secure_tree made an existing file ours and 0600; it skips links. */
		if (lstat(st->path, &sb) == 0 && S_ISLNK(sb.st_mode))
			return util_fail(cause, -ELOOP, "%s is a symbolic link and mimic does not "
			                 "write through one; remove it or choose another file",
			                 st->path);
		return access(st->path, R_OK | W_OK) == 0 ? 0 :
		       util_fail(cause, -EACCES, "data directory %s is not writable: cannot write "
		                 "%s: %s; choose another with --data-dir", dir, STORE_DB_NAME,
		                 strerror(errno));
	}
	if (fd < 0) {
		int e = errno;

		return util_fail(cause, (e == EPERM || e == EROFS) ? -EACCES : -e,
		                 "data directory %s is not writable: cannot create %s: %s; "
		                 "choose another with --data-dir", dir, STORE_DB_NAME, strerror(e));
	}
	close(fd);
	return 0;
}

/*
 * Reads the schema version, telling a mimic database from a corrupt or foreign
 * file and from one this build cannot use: reading sqlite_master parses the
 * header and the whole schema, which is cheap, unlike PRAGMA quick_check, which
 * reads every page.
 */
static int check_version(struct store *st, const char *dir, char **cause)
{
	int rc, err, ntables = 0;

	rc = query_int(st, "PRAGMA user_version", &st->version_found);
	if (rc == SQLITE_OK)
		rc = query_int(st, "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
		               &ntables);
	if (rc != SQLITE_OK) {
		err = map_rc(st->db, rc);
		if (err == -EIO)
			return util_fail(cause, -EIO, "%s is not a readable mimic database (%s): "
			                 "move it away or choose another --data-dir", st->path,
			                 sqlite3_errmsg(st->db));
		return store_db_fail(st, cause, rc, "cannot read the database");
	}
	if (st->version_found > STORE_SCHEMA_VERSION)
		return util_fail(cause, -EPROTO, "database %s has schema version %d, newer than "
		                 "this mimic understands (%d): upgrade mimic", st->path,
		                 st->version_found, STORE_SCHEMA_VERSION);
	if (st->version_found == 0 && ntables > 0)
		return util_fail(cause, -EIO, "%s is not a readable mimic database (it holds "
		                 "tables of another program): move it away or choose another "
		                 "--data-dir", st->path);
	if (st->readonly && st->version_found == 0)
		return util_fail(cause, -ENOENT, "no mimic database in %s yet: record a session "
		                 "first, or choose another --data-dir", dir);
	if (st->readonly && st->version_found < STORE_SCHEMA_VERSION)
		return util_fail(cause, -EPROTO, "database %s has schema version %d, older than "
		                 "this mimic (%d): open it once for writing to upgrade it",
		                 st->path, st->version_found, STORE_SCHEMA_VERSION);
	return 0;
}

/*
 * PRAGMA quick_check (STORE_CHECK) reads every page and checks the b-trees, so
 * that a damaged file is refused before a session is written into it. It
 * costs about 4 s of CPU per GB (bench/RESULTS.md), so a database larger than
 * STORE_CHECK_FULL_MAX is checked in part: the schema and every table but the
 * four that grow with recording (events, contexts, frames, elements), which
 * is logged with the command that checks it all.
 */
#define STORE_CHECK_FULL_MAX (256 * 1024 * 1024)

/* Runs one quick_check statement; first gets "ok" or its first finding. */
static int quick_check_run(struct store *st, const char *sql, char *first, size_t n)
{
	sqlite3_stmt *stmt = NULL;
	const char *res;
	int rc;

	rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		res = (const char *)sqlite3_column_text(stmt, 0);
		util_strlcpy_utf8(first, res != NULL ? res : "", n);
		rc = strcmp(first, "ok") == 0 ? SQLITE_OK : SQLITE_CORRUPT;
	} else {
		snprintf(first, n, "%s", sqlite3_errmsg(st->db));
	}
	sqlite3_finalize(stmt);
	return rc;
}

static int quick_check(struct store *st, char **cause)
{
	static const char partial[] =
		"SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
		"('events', 'contexts', 'frames', 'elements') AND name NOT LIKE 'sqlite_%'";
	sqlite3_stmt *tables = NULL;
	struct stat sb;
	char first[160], sql[160];
	int rc;

	if (testbreak("integrity-unchecked"))
		return 0;
	if (stat(st->path, &sb) != 0 || sb.st_size <= STORE_CHECK_FULL_MAX) {
		rc = quick_check_run(st, "PRAGMA quick_check(1)", first, sizeof(first));
	} else {
		log_info("store: %s is %lld MB: its recorded events, windows, frames and elements "
		         "are not checked when recording starts (check them with `sqlite3 %s "
		         "'PRAGMA quick_check'`)", st->path, (long long)(sb.st_size >> 20),
		         st->path);
		rc = sqlite3_prepare_v2(st->db, partial, -1, &tables, NULL);
		while (rc == SQLITE_OK && sqlite3_step(tables) == SQLITE_ROW) {
			snprintf(sql, sizeof(sql), "PRAGMA quick_check(\"%.100s\")",
			         (const char *)sqlite3_column_text(tables, 0));
			rc = quick_check_run(st, sql, first, sizeof(first));
		}
		if (tables == NULL)
			snprintf(first, sizeof(first), "%s", sqlite3_errmsg(st->db));
		sqlite3_finalize(tables);
	}
	if (rc == SQLITE_OK)
		return 0;
	/* SQLite's report may span lines: the error stays one line. */
	for (char *p = first; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	return util_fail(cause, -EIO, "%s fails SQLite's integrity check (%s): copy it somewhere "
	                 "safe, then save what it holds with `sqlite3 %s .recover | sqlite3 "
	                 "NEW.db` and move NEW.db in its place, or move it away to start anew",
	                 st->path, first, st->path);
}

/* WAL file layout (https://www.sqlite.org/fileformat.html#the_write_ahead_log). */
#define WAL_HDR 32
#define WAL_FRAME_HDR 24

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* SQLite's WAL checksum of n bytes (n a multiple of 8), continuing from s. */
static void wal_cksum(int big_endian, const uint8_t *p, size_t n, uint32_t s[2])
{
	for (size_t i = 0; i < n; i += 8) {
		uint32_t x0, x1;

		if (big_endian) {
			x0 = be32(p + i);
			x1 = be32(p + i + 4);
		} else {
			memcpy(&x0, p + i, 4);
			memcpy(&x1, p + i + 4, 4);
		}
		s[0] += x0 + s[1];
		s[1] += x1 + s[0];
	}
}

/*
 * Reads the write-ahead log at path and sets *bad to the first damaged frame
 * (1-based) that SQLite's replay would stop at while later commits are intact
 * behind it, with *frames the frames of this generation and *lost the commits
 * behind the damage; *bad = 0 when the log replays whole (or ends in a torn
 * last write, which is what a crash leaves and loses nothing committed).
 *
 * SQLite replays frames while their salts match the header and their running
 * checksum holds, up to the last commit frame; it drops the rest silently.
 * Each frame's checksum continues from the checksum stored in the frame before
 * it, so frames behind a damaged one can still be checked on their own.
 */
static int wal_scan(const char *path, int64_t *bad, int64_t *frames, int64_t *lost)
{
	uint8_t hdr[WAL_HDR], fh[WAL_FRAME_HDR], *page = NULL;
	uint32_t s[2] = { 0, 0 }, pgsz, magic;
	int big, fd, rc = 0;
	int64_t no = 0;

	*bad = *frames = *lost = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		goto out; /* empty or new: nothing to replay */
	magic = be32(hdr);
	pgsz = be32(hdr + 8);
	if ((magic & ~1u) != 0x377f0682u || pgsz < 512 || pgsz > 65536 || (pgsz & (pgsz - 1)))
		goto out; /* SQLite ignores such a log: nothing committed can be in it */
	big = magic & 1;
	wal_cksum(big, hdr, 24, s);
	if (s[0] != be32(hdr + 24) || s[1] != be32(hdr + 28))
		goto out;
	page = util_xmalloc(pgsz);
	for (;;) {
		off_t at = WAL_HDR + (off_t)no * (WAL_FRAME_HDR + pgsz);

		if (pread(fd, fh, sizeof(fh), at) != (ssize_t)sizeof(fh) ||
		    pread(fd, page, pgsz, at + WAL_FRAME_HDR) != (ssize_t)pgsz)
			break;
		/* Other salts: a frame of an earlier generation, past this one's end. */
		if (memcmp(fh + 8, hdr + 16, 8) != 0)
			break;
		no++;
		wal_cksum(big, fh, 8, s);
		wal_cksum(big, page, pgsz, s);
		if (s[0] != be32(fh + 16) || s[1] != be32(fh + 20)) {
			if (*bad == 0)
				*bad = no;
		} else if (*bad != 0 && be32(fh + 4) != 0) {
			(*lost)++; /* an intact commit behind the damage */
		}
		/* The next frame continues from what this one stored, right or not. */
		s[0] = be32(fh + 16);
		s[1] = be32(fh + 20);
	}
	*frames = no;
	if (*lost == 0)
		*bad = 0;
out:
	free(page);
	close(fd);
	return rc;
}

/*
 * Refuses a write-ahead log that would replay only in part (wal_scan). A writer
 * scans under the write lock, so that nothing changes the log meanwhile; a
 * reader cannot take that lock and a recorder may be appending, so damage
 * counts only when three scans in a row find it at the same frame.
 */
static int wal_check(struct store *st, char **cause)
{
	char *wal = util_xasprintf("%s-wal", st->path);
	int64_t bad = 0, frames = 0, lost = 0, prev = -1;
	int err = 0, locked = 0;

	if (!st->readonly) {
		err = store_exec(st, "BEGIN IMMEDIATE", "cannot check the write-ahead log", cause);
		if (err != 0)
			goto out;
		locked = 1;
	}
	for (int i = 0; i < (locked ? 1 : 3); i++) {
		err = wal_scan(wal, &bad, &frames, &lost);
		if (err != 0 || bad == 0 || (prev >= 0 && bad != prev))
			break;
		prev = bad;
	}
	if (err != 0) {
		err = util_fail(cause, -EIO, "cannot read the write-ahead log %s: %s", wal,
		                strerror(-err));
	} else if (bad != 0 && (locked || bad == prev) && !testbreak("integrity-unchecked")) {
		err = util_fail(cause, -EIO, "the write-ahead log %s is damaged at frame %lld of "
		                "%lld, so %lld later commits cannot be replayed: copy %s and %s "
		                "somewhere safe, then keep what precedes the damage with `sqlite3 "
		                "%s 'PRAGMA wal_checkpoint'`, or move both away to start anew", wal,
		                (long long)bad, (long long)frames, (long long)lost, st->path, wal,
		                st->path);
	}
out:
	if (locked)
		store_rollback(st);
	free(wal);
	return err;
}

/* Puts the file in WAL mode, a property of the file that readers inherit. */
static int wal_mode(struct store *st, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	const char *mode;
	int rc;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		int err = store_db_fail(st, cause, rc, "cannot switch to WAL mode");

		sqlite3_finalize(stmt);
		return err;
	}
	mode = (const char *)sqlite3_column_text(stmt, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0)
		log_warn("store: the database stays in journal mode %s, not WAL",
		         mode != NULL ? mode : "(unknown)");
	sqlite3_finalize(stmt);
	return 0;
}

/* Sets the connection's pragmas; a writable one also goes to WAL mode and migrates. */
static int configure(struct store *st, char **cause)
{
	int err;

	err = store_exec(st, "PRAGMA foreign_keys = ON", "cannot configure the database", cause);
	if (err != 0)
		return err;
	/* Deleted rows are overwritten with zeros, so `mimic forget` leaves nothing behind. */
	err = store_exec(st, "PRAGMA secure_delete = ON", "cannot configure the database", cause);
	if (err != 0 || st->readonly)
		return err;
	err = wal_mode(st, cause);
	if (err != 0)
		return err;
	err = store_exec(st, "PRAGMA synchronous = NORMAL", "cannot configure the database",
	                 cause);
	if (err != 0)
		return err;
	if (st->version_found < STORE_SCHEMA_VERSION)
		return migrate(st, cause);
	return 0;
}

/*
 * Makes the reserve (store.h) when it is missing or short. A disk too full for
 * it is no reason to refuse the database: it is only logged.
 */
static void reserve_make(struct store *st)
{
	char *path = util_xasprintf("%s/%s", st->dir, STORE_RESERVE_NAME);
	struct stat sb;
	int fd, err;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_warn("store: cannot make the reserve %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &sb) == 0 && sb.st_size >= STORE_RESERVE_BYTES &&
	    sb.st_blocks * 512 >= STORE_RESERVE_BYTES)
		goto out;
	err = posix_fallocate(fd, 0, STORE_RESERVE_BYTES);
	if (err != 0)
		log_warn("store: cannot make the reserve %s (room to close a session on a full "
		         "disk): %s", path, strerror(err));
out:
	if (fd >= 0)
		close(fd);
	free(path);
}

int store_reserve_release(struct store *st)
{
	char *path = util_xasprintf("%s/%s", st->dir, STORE_RESERVE_NAME);
	int rc = 0;

	if (testbreak("full-disk-session-open") || unlink(path) != 0)
		rc = -ENOENT;
	else
		log_info("store: released the reserve %s to close on a full disk", path);
	free(path);
	return rc;
}

int store_open(const char *dir, int flags, struct store **out, char **cause)
{
	struct store *st = NULL;
	int err, rc;

	*out = NULL;
	if (dir == NULL || *dir == '\0')
		return util_fail(cause, -EINVAL, "no data directory given");
	st = util_xcalloc(1, sizeof(*st));
	st->readonly = (flags & STORE_READONLY) != 0;
	st->path = util_xasprintf("%s/%s", dir, STORE_DB_NAME);
	st->dir = util_xstrdup(dir);
	err = open_file(st, dir, cause);
	if (err != 0)
		goto fail;
	rc = sqlite3_open_v2(st->path, &st->db,
	                     st->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		if (st->db == NULL) {
			err = util_fail(cause, -ENOMEM, "cannot open %s: out of memory", st->path);
			goto fail;
		}
		err = util_fail(cause, map_rc(st->db, rc) ? map_rc(st->db, rc) : -EIO,
		                "cannot open %s: %s", st->path, sqlite3_errmsg(st->db));
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	/* Set before quick_check, which reads every page through the cache. */
	if (flags & STORE_LEAN) {
		char sql[48];

		snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", STORE_LEAN_CACHE_KIB);
		sqlite3_exec(st->db, sql, NULL, NULL, NULL);
	}
	err = check_version(st, dir, cause);
	if (err == 0)
		err = wal_check(st, cause);
	if (err == 0 && (flags & STORE_CHECK))
		err = quick_check(st, cause);
	if (err == 0)
		err = configure(st, cause);
	if (err != 0)
		goto fail;
	if (!st->readonly)
		reserve_make(st);
	*out = st;
	return 0;
fail:
	/*
	 * The last connection to close checkpoints the write-ahead log and deletes
	 * it: a database refused here is left as it was found, damage included.
	 */
	if (st->db != NULL)
		sqlite3_db_config(st->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
	store_close(st);
	return err;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	sqlite3_finalize(st->ins_event);
	sqlite3_finalize(st->ins_context);
	sqlite3_finalize(st->ins_frame);
	if (st->db != NULL && sqlite3_close(st->db) != SQLITE_OK)
		log_warn("store: closing the database failed: %s", sqlite3_errmsg(st->db));
	if (st->vault_owned)
		vault_close(st->vault);
	free(st->dir);
	free(st->path);
	free(st);
}

int store_schema_version_found(const struct store *st)
{
	return st->version_found;
}

int store_vault(struct store *st, struct vault **out, char **cause)
{
	int err;

	if (st->vault == NULL) {
		err = vault_open(st->dir, st->readonly ? 0 : VAULT_CREATE, &st->vault, cause);
		if (err != 0)
			return err;
		st->vault_owned = 1;
	}
	if (out != NULL)
		*out = st->vault;
	return 0;
}

void store_set_vault(struct store *st, struct vault *v)
{
	if (st->vault_owned)
		vault_close(st->vault);
	st->vault = v;
	st->vault_owned = 0;
}
