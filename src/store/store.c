/*
 * store: the SQLite database of a data directory (see store.h).
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
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"
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
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION,
               "one migration step per schema version");

struct store {
	sqlite3 *db;
	char *path;            /* dir/mimic.db, for messages */
	int readonly;
	int version_found;
	sqlite3_stmt *ins_event;   /* cached: prepared once, reused for every batch */
	sqlite3_stmt *ins_context;
	sqlite3_stmt *ins_frame;
	char *dir;             /* the data directory, where the key's name is kept */
	struct vault *vault;   /* loaded on first need (store_vault); see vault.h */
	int vault_owned;       /* vault was loaded here, not given with store_set_vault */
};

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

/* Fails with the mapped code of rc and a cause "<what> in <path>: <sqlite message>". */
static int db_fail(struct store *st, char **cause, int rc, const char *what)
{
	int err = map_rc(st->db, rc);

	if (err == 0)
		err = -EIO;
	if (err == -ENOSPC)
		return util_fail(cause, err, "%s in %s: the disk is full (%s)", what, st->path,
		                 sqlite3_errmsg(st->db));
	return util_fail(cause, err, "%s in %s: %s", what, st->path, sqlite3_errmsg(st->db));
}

static int prepare(struct store *st, const char *sql, sqlite3_stmt **stmt, char **cause)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL);

	if (rc != SQLITE_OK) {
		*stmt = NULL;
		return db_fail(st, cause, rc, "cannot prepare a query");
	}
	return 0;
}

/* Runs SQL that returns no rows (or whose rows do not matter). */
static int exec(struct store *st, const char *sql, const char *what, char **cause)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return db_fail(st, cause, rc, what);
	return 0;
}

/*
 * The end of a statement's run: 0 when rc, its last step, is SQLITE_DONE, else
 * db_fail of what. Loops over rows end with it once sqlite3_step stops giving rows.
 */
static int done_or_fail(struct store *st, int rc, const char *what, char **cause)
{
	return rc == SQLITE_DONE ? 0 : db_fail(st, cause, rc, what);
}

/* Runs a statement that returns no rows (INSERT, UPDATE): its one step must end it. */
static int step_done(struct store *st, sqlite3_stmt *stmt, const char *what, char **cause)
{
	return done_or_fail(st, sqlite3_step(stmt), what, cause);
}

/*
 * Binds a fixed-size string field without reading past its array, even when the
 * producer forgot the terminating NUL.
 */
static int bind_str(sqlite3_stmt *stmt, int i, const char *s, size_t max)
{
	if (s == NULL)
		return sqlite3_bind_text(stmt, i, "", 0, SQLITE_STATIC);
	return sqlite3_bind_text(stmt, i, s, (int)strnlen(s, max), SQLITE_TRANSIENT);
}

static void column_str(sqlite3_stmt *stmt, int i, char *dst, size_t n)
{
	const char *s = (const char *)sqlite3_column_text(stmt, i);

	util_strlcpy_utf8(dst, s != NULL ? s : "", n);
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
		return db_fail(st, cause, rc, "cannot read the schema version");
	return 0;
}

/* Applies the missing migration steps in one transaction. */
static int migrate(struct store *st, char **cause)
{
	int version = 0, err;
	char sql[64];

	err = exec(st, "BEGIN IMMEDIATE", "cannot start the schema upgrade", cause);
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
		err = exec(st, migrations[v], "cannot upgrade the schema", cause);
		if (err != 0)
			goto fail;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SCHEMA_VERSION);
	err = exec(st, sql, "cannot upgrade the schema", cause);
	if (err != 0)
		goto fail;
	err = exec(st, "COMMIT", "cannot commit the schema upgrade", cause);
	if (err != 0)
		goto fail;
	if (version != STORE_SCHEMA_VERSION)
		log_info("store: upgraded the schema from version %d to %d", version,
		         STORE_SCHEMA_VERSION);
	return 0;
fail:
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

int store_open(const char *dir, int flags, struct store **out, char **cause)
{
	struct store *st = NULL;
	int readonly = (flags & STORE_READONLY) != 0;
	int err, rc, ntables = 0;

	*out = NULL;
	if (dir == NULL || *dir == '\0')
		return util_fail(cause, -EINVAL, "no data directory given");
	if (!readonly) {
		struct stat sb;

		err = ensure_dir(dir, cause);
		if (err != 0)
			return err;
		/* What is recorded is for its owner only (docs/PRIVACY.md). */
		if (stat(dir, &sb) == 0 && (sb.st_mode & 077) != 0 && sb.st_uid == getuid() &&
		    chmod(dir, 0700) != 0)
			log_warn("store: cannot make %s private (mode 0700): %s", dir, strerror(errno));
	}

	st = util_xcalloc(1, sizeof(*st));
	st->readonly = readonly;
	st->path = util_xasprintf("%s/%s", dir, STORE_DB_NAME);
	st->dir = util_xstrdup(dir);

	if (readonly) {
		if (access(st->path, F_OK) != 0) {
			err = util_fail(cause, -ENOENT, "no mimic database in %s yet: record a "
			                "session first, or choose another --data-dir", dir);
			goto fail;
		}
	} else {
		/*
		 * Create the file ourselves so that it is 0600 whatever the umask;
		 * SQLite gives its -wal and -shm files the same mode as the database.
		 */
		int fd = open(st->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			int e = errno;
			err = util_fail(cause, (e == EPERM || e == EROFS) ? -EACCES : -e,
			                "data directory %s is not writable: cannot create %s: %s; "
			                "choose another with --data-dir", dir, STORE_DB_NAME,
			                strerror(e));
			goto fail;
		}
		close(fd);
	}

	rc = sqlite3_open_v2(st->path, &st->db,
	                     readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE, NULL);
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

	/*
	 * The first reads tell a mimic database from a corrupt or foreign file: reading
	 * sqlite_master parses the header and the whole schema, which is cheap, unlike
	 * PRAGMA quick_check, which reads every page.
	 */
	rc = query_int(st, "PRAGMA user_version", &st->version_found);
	if (rc == SQLITE_OK)
		rc = query_int(st, "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
		               &ntables);
	if (rc != SQLITE_OK) {
		err = map_rc(st->db, rc);
		if (err == -EIO)
			err = util_fail(cause, -EIO, "%s is not a readable mimic database (%s): "
			                "move it away or choose another --data-dir", st->path,
			                sqlite3_errmsg(st->db));
		else
			err = db_fail(st, cause, rc, "cannot read the database");
		goto fail;
	}
	if (st->version_found > STORE_SCHEMA_VERSION) {
		err = util_fail(cause, -EPROTO, "database %s has schema version %d, newer than "
		                "this mimic understands (%d): upgrade mimic", st->path,
		                st->version_found, STORE_SCHEMA_VERSION);
		goto fail;
	}
	if (st->version_found == 0 && ntables > 0) {
		err = util_fail(cause, -EIO, "%s is not a readable mimic database (it holds "
		                "tables of another program): move it away or choose another "
		                "--data-dir", st->path);
		goto fail;
	}
	if (readonly && st->version_found == 0) {
		err = util_fail(cause, -ENOENT, "no mimic database in %s yet: record a session "
		                "first, or choose another --data-dir", dir);
		goto fail;
	}
	if (readonly && st->version_found < STORE_SCHEMA_VERSION) {
		err = util_fail(cause, -EPROTO, "database %s has schema version %d, older than "
		                "this mimic (%d): open it once for writing to upgrade it",
		                st->path, st->version_found, STORE_SCHEMA_VERSION);
		goto fail;
	}

	err = exec(st, "PRAGMA foreign_keys = ON", "cannot configure the database", cause);
	if (err != 0)
		goto fail;
	/* Deleted rows are overwritten with zeros, so `mimic forget` leaves nothing behind. */
	err = exec(st, "PRAGMA secure_delete = ON", "cannot configure the database", cause);
	if (err != 0)
		goto fail;
	if (!readonly) {
		sqlite3_stmt *stmt = NULL;
		const char *mode;

		/* WAL is a property of the file; readers inherit it. */
		rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(stmt);
		if (rc != SQLITE_ROW) {
			err = db_fail(st, cause, rc, "cannot switch to WAL mode");
			sqlite3_finalize(stmt);
			goto fail;
		}
		mode = (const char *)sqlite3_column_text(stmt, 0);
		if (mode == NULL || strcmp(mode, "wal") != 0)
			log_warn("store: the database stays in journal mode %s, not WAL",
			         mode != NULL ? mode : "(unknown)");
		sqlite3_finalize(stmt);
		err = exec(st, "PRAGMA synchronous = NORMAL", "cannot configure the database",
		           cause);
		if (err != 0)
			goto fail;
		if (st->version_found < STORE_SCHEMA_VERSION) {
			err = migrate(st, cause);
			if (err != 0)
				goto fail;
		}
	}
	*out = st;
	return 0;
fail:
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

int store_session_begin(struct store *st, const struct store_session *s, int64_t *id,
                        char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	err = prepare(st, "INSERT INTO sessions (name, host, start_wall_ns, start_mono_ns, "
	              "screen_w, screen_h, keymap, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	              &stmt, cause);
	if (err != 0)
		return err;
	bind_str(stmt, 1, s->name, sizeof(s->name));
	bind_str(stmt, 2, s->host, sizeof(s->host));
	sqlite3_bind_int64(stmt, 3, s->start_wall_ns);
	sqlite3_bind_int64(stmt, 4, s->start_mono_ns);
	sqlite3_bind_int(stmt, 5, s->screen_w);
	sqlite3_bind_int(stmt, 6, s->screen_h);
	bind_str(stmt, 7, s->keymap, sizeof(s->keymap));
	bind_str(stmt, 8, s->version, sizeof(s->version));
	err = step_done(st, stmt, "cannot create a session", cause);
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

	err = prepare(st, "UPDATE sessions SET config = coalesce(?, config), "
	              "monitors = coalesce(?, monitors) WHERE id = ?", &stmt, cause);
	if (err != 0)
		return err;
	if (config_json != NULL)
		sqlite3_bind_text(stmt, 1, config_json, -1, SQLITE_STATIC);
	if (monitors_json != NULL)
		sqlite3_bind_text(stmt, 2, monitors_json, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, id);
	err = step_done(st, stmt, "cannot store the session's settings", cause);
	if (err == 0 && sqlite3_changes(st->db) == 0)
		err = util_fail(cause, -ENOENT, "no session %lld in %s", (long long)id, st->path);
	sqlite3_finalize(stmt);
	return err;
}

int store_session_get_info(struct store *st, int64_t id, char **config_json,
                           char **monitors_json, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	const char *c, *m;
	int rc, err;

	if (config_json != NULL)
		*config_json = NULL;
	if (monitors_json != NULL)
		*monitors_json = NULL;
	err = prepare(st, "SELECT config, monitors FROM sessions WHERE id = ?", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		err = util_fail(cause, -ENOENT, "no session %lld in %s", (long long)id, st->path);
		goto fail;
	}
	if (rc != SQLITE_ROW) {
		err = db_fail(st, cause, rc, "cannot read a session");
		goto fail;
	}
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
	int err;

	err = prepare(st, "UPDATE sessions SET end_wall_ns = ?, end_reason = ? WHERE id = ?",
	              &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, end_wall_ns);
	bind_str(stmt, 2, reason != NULL ? reason : "", 64);
	sqlite3_bind_int64(stmt, 3, id);
	err = step_done(st, stmt, "cannot close the session", cause);
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
	err = prepare(st, "UPDATE sessions SET end_reason = 'interrupted', end_wall_ns = "
	              "start_wall_ns + max(0, coalesce((SELECT e.t_ns FROM events e "
	              "WHERE e.session = sessions.id ORDER BY e.id DESC LIMIT 1), "
	              "start_mono_ns) - start_mono_ns) WHERE end_wall_ns IS NULL",
	              &stmt, cause);
	if (err != 0)
		return err;
	err = step_done(st, stmt, "cannot close interrupted sessions", cause);
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

	err = prepare(st, "INSERT OR REPLACE INTO devices (session, id, name, synthetic) "
	              "VALUES (?, ?, ?, ?)", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	sqlite3_bind_int(stmt, 2, device_id);
	bind_str(stmt, 3, name, sizeof(((struct store_device *)0)->name));
	sqlite3_bind_int(stmt, 4, synthetic != 0);
	err = step_done(st, stmt, "cannot store an input device", cause);
	sqlite3_finalize(stmt);
	return err;
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

/*
 * The associated data of a sealed value: what kind of row it is and where, so
 * that a sealed value copied into another row does not open.
 */
static size_t seal_ad(uint8_t ad[28], const char tag[4], int64_t session, int64_t a, int32_t b)
{
	memcpy(ad, tag, 4);
	memcpy(ad + 4, &session, 8);
	memcpy(ad + 12, &a, 8);
	memcpy(ad + 20, &b, 4);
	return 24;
}

/* True when an event carries what a person typed: key events and any key text. */
static int event_sensitive(const struct event *e)
{
	return e->kind == EVENT_KEY_PRESS || e->kind == EVENT_KEY_RELEASE || e->keysym[0] != '\0' ||
	       e->text[0] != '\0';
}

/* The plaintext of an event's sealed part: keycode, keysym and text with their lengths. */
static size_t event_payload(const struct event *e, uint8_t *p)
{
	size_t n = 0, ks = strnlen(e->keysym, sizeof(e->keysym) - 1),
	       tx = strnlen(e->text, sizeof(e->text) - 1);

	memcpy(p, &e->detail, 4);
	n = 4;
	p[n++] = (uint8_t)ks;
	memcpy(p + n, e->keysym, ks);
	n += ks;
	p[n++] = (uint8_t)tx;
	memcpy(p + n, e->text, tx);
	return n + tx;
}

#define EVENT_PAYLOAD_MAX (4 + 1 + EVENT_KEYSYM_MAX + 1 + EVENT_TEXT_MAX)

/* Opens an event's sealed part into e. -EBADMSG when it does not open. */
static int event_unseal(struct store *st, int64_t session, struct event *e, const void *blob,
                        size_t len, char **cause)
{
	uint8_t ad[28], p[EVENT_PAYLOAD_MAX + VAULT_OVERHEAD];
	size_t adlen = seal_ad(ad, "ev01", session, e->t_ns, e->kind), n = 0, ks, tx;
	int err;

	err = store_vault(st, NULL, cause);
	if (err != 0)
		return err;
	if (len > sizeof(p) || vault_unseal(st->vault, ad, adlen, blob, len, p, &n) != 0 || n < 6)
		goto bad;
	memcpy(&e->detail, p, 4);
	ks = p[4];
	if (ks >= sizeof(e->keysym) || 5 + ks + 1 > n)
		goto bad;
	memcpy(e->keysym, p + 5, ks);
	e->keysym[ks] = '\0';
	tx = p[5 + ks];
	if (tx >= sizeof(e->text) || 6 + ks + tx != n)
		goto bad;
	memcpy(e->text, p + 6 + ks, tx);
	e->text[tx] = '\0';
	sodium_memzero(p, sizeof(p));
	return 0;
bad:
	return util_fail(cause, -EBADMSG, "an event of session %lld in %s does not decrypt with "
	                 "the key in %s (damaged, or another key)", (long long)session, st->path,
	                 vault_where(st->vault));
}

/* Opens a context's sealed title into c. */
static int context_unseal(struct store *st, int64_t session, struct context *c, const void *blob,
                          size_t len, char **cause)
{
	uint8_t ad[28];
	size_t adlen = seal_ad(ad, "cx01", session, c->seq, 0), n = 0;
	int err;

	err = store_vault(st, NULL, cause);
	if (err != 0)
		return err;
	if (len < VAULT_OVERHEAD || len - VAULT_OVERHEAD >= sizeof(c->title) ||
	    vault_unseal(st->vault, ad, adlen, blob, len, (uint8_t *)c->title, &n) != 0)
		return util_fail(cause, -EBADMSG, "a window title of session %lld in %s does not "
		                 "decrypt with the key in %s (damaged, or another key)",
		                 (long long)session, st->path, vault_where(st->vault));
	c->title[n] = '\0';
	return 0;
}

int store_seal(struct store *st, const char tag[4], int64_t session, int64_t where,
               const void *plain, size_t len, void **out, size_t *outlen, char **cause)
{
	uint8_t ad[28];
	size_t adlen = seal_ad(ad, tag, session, where, 0);
	int err;

	*out = NULL;
	*outlen = 0;
	err = store_vault(st, NULL, cause);
	if (err != 0)
		return err;
	*outlen = vault_sealed_len(len);
	*out = util_xmalloc(*outlen);
	vault_seal(st->vault, ad, adlen, plain, len, *out);
	return 0;
}

int store_unseal(struct store *st, const char tag[4], int64_t session, int64_t where,
                 const void *sealed, size_t len, void **out, size_t *outlen, char **cause)
{
	uint8_t ad[28];
	size_t adlen = seal_ad(ad, tag, session, where, 0);
	int err;

	*out = NULL;
	*outlen = 0;
	err = store_vault(st, NULL, cause);
	if (err != 0)
		return err;
	if (len < VAULT_OVERHEAD)
		goto bad;
	*out = util_xmalloc(len - VAULT_OVERHEAD + 1);
	if (vault_unseal(st->vault, ad, adlen, sealed, len, *out, outlen) != 0) {
		free(*out);
		*out = NULL;
		goto bad;
	}
	((uint8_t *)*out)[*outlen] = 0;
	return 0;
bad:
	return util_fail(cause, -EBADMSG, "a record of session %lld in %s does not decrypt with "
	                 "the key in %s (damaged, or another key)", (long long)session, st->path,
	                 vault_where(st->vault));
}

static int insert_context(struct store *st, int64_t session, const struct context *c)
{
	sqlite3_stmt *s = st->ins_context;
	int rc;

	sqlite3_bind_int64(s, 1, session);
	sqlite3_bind_int(s, 2, c->seq);
	sqlite3_bind_int64(s, 3, c->t_ns);
	sqlite3_bind_int64(s, 4, c->window);
	sqlite3_bind_int(s, 5, c->pid);
	sqlite3_bind_int(s, 6, c->x);
	sqlite3_bind_int(s, 7, c->y);
	sqlite3_bind_int(s, 8, c->w);
	sqlite3_bind_int(s, 9, c->h);
	bind_str(s, 10, c->wm_instance, sizeof(c->wm_instance));
	bind_str(s, 11, c->wm_class, sizeof(c->wm_class));
	bind_str(s, 13, c->exe, sizeof(c->exe));
	if (c->title[0] != '\0' && st->vault != NULL) {
		uint8_t ad[28], sealed[sizeof(c->title) + VAULT_OVERHEAD];
		size_t adlen = seal_ad(ad, "cx01", session, c->seq, 0);
		size_t n = strnlen(c->title, sizeof(c->title) - 1);

		vault_seal(st->vault, ad, adlen, c->title, n, sealed);
		sqlite3_bind_text(s, 12, "", 0, SQLITE_STATIC);
		sqlite3_bind_blob(s, 14, sealed, (int)vault_sealed_len(n), SQLITE_TRANSIENT);
	} else {
		bind_str(s, 12, c->title, sizeof(c->title));
		sqlite3_bind_null(s, 14);
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

static int insert_event(struct store *st, int64_t session, const struct event *e)
{
	sqlite3_stmt *s = st->ins_event;
	int rc;

	if (e->id > 0)
		sqlite3_bind_int64(s, 1, e->id);
	else
		sqlite3_bind_null(s, 1);
	sqlite3_bind_int64(s, 2, session);
	sqlite3_bind_int64(s, 3, e->t_ns);
	sqlite3_bind_int(s, 4, e->kind);
	sqlite3_bind_int(s, 5, e->source);
	sqlite3_bind_int(s, 6, e->device);
	sqlite3_bind_int(s, 7, e->context);
	sqlite3_bind_int(s, 8, e->x);
	sqlite3_bind_int(s, 9, e->y);
	sqlite3_bind_int64(s, 11, e->mods);
	sqlite3_bind_double(s, 12, e->amount);
	if (event_sensitive(e) && st->vault != NULL && !testbreak("key-text-unsealed")) {
		/* The keycode, keysym and text of a key say what was typed: sealed. */
		uint8_t ad[28], p[EVENT_PAYLOAD_MAX], sealed[EVENT_PAYLOAD_MAX + VAULT_OVERHEAD];
		size_t adlen = seal_ad(ad, "ev01", session, e->t_ns, e->kind);
		size_t n = event_payload(e, p);

		vault_seal(st->vault, ad, adlen, p, n, sealed);
		sodium_memzero(p, sizeof(p));
		sqlite3_bind_int(s, 10, 0);
		sqlite3_bind_text(s, 13, "", 0, SQLITE_STATIC);
		sqlite3_bind_text(s, 14, "", 0, SQLITE_STATIC);
		sqlite3_bind_blob(s, 15, sealed, (int)vault_sealed_len(n), SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_int(s, 10, e->detail);
		bind_str(s, 13, e->keysym, sizeof(e->keysym));
		bind_str(s, 14, e->text, sizeof(e->text));
		sqlite3_bind_null(s, 15);
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc;
}

/* Formats rects as JSON "[[x,y,w,h],...]" into buf. */
static void patch_to_text(const struct store_frame *f, char *buf, size_t n)
{
	size_t used = 0;

	used += (size_t)snprintf(buf, n, "[");
	for (int i = 0; i < f->n_patch && i < STORE_PATCH_MAX && used < n; i++)
		used += (size_t)snprintf(buf + used, n - used, "%s[%d,%d,%d,%d]", i ? "," : "",
		                         (int)f->patch[i].x, (int)f->patch[i].y,
		                         (int)f->patch[i].w, (int)f->patch[i].h);
	if (used < n)
		snprintf(buf + used, n - used, "]");
}

/* Parses what patch_to_text wrote; anything else leaves n_patch 0. */
static void patch_from_text(const char *s, struct store_frame *f)
{
	int n = 0;

	f->n_patch = 0;
	if (s == NULL || *s++ != '[')
		return;
	while (*s == '[' && n < STORE_PATCH_MAX) {
		int x, y, w, h, len = 0;

		if (sscanf(s, "[%d,%d,%d,%d]%n", &x, &y, &w, &h, &len) != 4 || len == 0)
			return;
		f->patch[n++] = (struct store_rect){x, y, w, h};
		s += len;
		if (*s == ',')
			s++;
	}
	if (*s == ']')
		f->n_patch = n;
}

static int insert_frame(struct store *st, int64_t session, const struct store_frame *f)
{
	sqlite3_stmt *s = st->ins_frame;
	char patch[STORE_PATCH_MAX * 48 + 4];
	int rc;

	if (f->id > 0)
		sqlite3_bind_int64(s, 1, f->id);
	else
		sqlite3_bind_null(s, 1);
	sqlite3_bind_int64(s, 2, session);
	sqlite3_bind_int64(s, 3, f->t_ns);
	bind_str(s, 4, f->trigger, sizeof(f->trigger));
	if (f->event_id > 0)
		sqlite3_bind_int64(s, 5, f->event_id);
	else
		sqlite3_bind_null(s, 5);
	bind_str(s, 6, f->blob, sizeof(f->blob));
	bind_str(s, 7, f->format, sizeof(f->format));
	sqlite3_bind_int(s, 8, f->width);
	sqlite3_bind_int(s, 9, f->height);
	sqlite3_bind_int64(s, 10, f->bytes);
	if (f->base_id > 0) {
		sqlite3_bind_int64(s, 11, f->base_id);
		patch_to_text(f, patch, sizeof(patch));
		sqlite3_bind_text(s, 12, patch, -1, SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_null(s, 11);
		sqlite3_bind_null(s, 12);
	}
	sqlite3_bind_int(s, 13, f->damage_x);
	sqlite3_bind_int(s, 14, f->damage_y);
	sqlite3_bind_int(s, 15, f->damage_w);
	sqlite3_bind_int(s, 16, f->damage_h);
	sqlite3_bind_int(s, 17, f->cursor_x);
	sqlite3_bind_int(s, 18, f->cursor_y);
	bind_str(s, 19, f->cursor_name, sizeof(f->cursor_name));
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

static int prepare_cached(struct store *st, sqlite3_stmt **stmt, const char *sql, char **cause)
{
	int rc;

	if (*stmt != NULL)
		return 0;
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
	if (rc != SQLITE_OK) {
		*stmt = NULL;
		return db_fail(st, cause, rc, "cannot prepare to store events");
	}
	return 0;
}

int store_write_batch(struct store *st, int64_t session, const struct event *evs, size_t nev,
                      const struct context *ctxs, size_t nctx, char **cause)
{
	return store_write_all(st, session, evs, nev, ctxs, nctx, NULL, 0, cause);
}

int store_write_all(struct store *st, int64_t session, const struct event *evs, size_t nev,
                    const struct context *ctxs, size_t nctx, const struct store_frame *frs,
                    size_t nfr, char **cause)
{
	int rc, err;

	if (nev == 0 && nctx == 0 && nfr == 0)
		return 0;
	/* Nothing a person typed or read is stored unsealed: no key, no write. */
	for (size_t i = 0; i < nev && st->vault == NULL; i++) {
		if (event_sensitive(&evs[i])) {
			err = store_vault(st, NULL, cause);
			if (err != 0)
				return err;
		}
	}
	for (size_t i = 0; i < nctx && st->vault == NULL; i++) {
		if (ctxs[i].title[0] != '\0') {
			err = store_vault(st, NULL, cause);
			if (err != 0)
				return err;
		}
	}
	err = prepare_cached(st, &st->ins_event, "INSERT INTO events (id, session, t_ns, "
	                     "kind, source, device, context, x, y, detail, mods, amount, keysym, "
	                     "text, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                     cause);
	if (err != 0)
		return err;
	/* A context seen again (same seq) replaces the first copy instead of failing the batch. */
	err = prepare_cached(st, &st->ins_context, "INSERT OR REPLACE INTO contexts (session, "
	                     "seq, t_ns, \"window\", pid, x, y, w, h, wm_instance, wm_class, "
	                     "title, exe, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                     cause);
	if (err != 0)
		return err;
	if (nfr > 0) {
		err = prepare_cached(st, &st->ins_frame, "INSERT INTO frames (id, session, t_ns, "
		                     "trigger, event_id, blob, format, width, height, bytes, base_id, "
		                     "patch, damage_x, damage_y, damage_w, damage_h, cursor_x, "
		                     "cursor_y, cursor_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
		                     "?, ?, ?, ?, ?, ?, ?, ?)", cause);
		if (err != 0)
			return err;
	}

	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return db_fail(st, cause, rc, "cannot store events");
	/* Contexts first: the events of the batch refer to them. */
	for (size_t i = 0; i < nctx; i++) {
		rc = insert_context(st, session, &ctxs[i]);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	for (size_t i = 0; i < nev; i++) {
		rc = insert_event(st, session, &evs[i]);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	for (size_t i = 0; i < nfr; i++) {
		rc = insert_frame(st, session, &frs[i]);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	return 0;
fail:
	err = db_fail(st, cause, rc, "cannot store events");
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
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
	int rc, err;

	if (spec == NULL || *spec == '\0')
		return util_fail(cause, -EINVAL, "no session given: use an id, a name or \"last\"");
	if (all_digits(spec)) {
		errno = 0;
		long long v = strtoll(spec, NULL, 10);
		if (errno == ERANGE)
			return util_fail(cause, -ENOENT, "no session %s in %s", spec, st->path);
		err = prepare(st, "SELECT id FROM sessions WHERE id = ?", &stmt, cause);
		if (err != 0)
			return err;
		sqlite3_bind_int64(stmt, 1, v);
	} else if (strcmp(spec, "last") == 0) {
		err = prepare(st, "SELECT id FROM sessions ORDER BY id DESC LIMIT 1", &stmt, cause);
		if (err != 0)
			return err;
	} else {
		err = prepare(st, "SELECT id FROM sessions WHERE name = ? ORDER BY id DESC LIMIT 1",
		              &stmt, cause);
		if (err != 0)
			return err;
		sqlite3_bind_text(stmt, 1, spec, -1, SQLITE_STATIC);
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		if (all_digits(spec))
			err = util_fail(cause, -ENOENT, "no session %s in %s", spec, st->path);
		else if (strcmp(spec, "last") == 0)
			err = util_fail(cause, -ENOENT, "no session matches \"last\": %s holds no "
			                "sessions yet", st->path);
		else
			err = util_fail(cause, -ENOENT, "no session named \"%s\" in %s", spec,
			                st->path);
		goto fail;
	}
	if (rc != SQLITE_ROW) {
		err = db_fail(st, cause, rc, "cannot look up a session");
		goto fail;
	}
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
	column_str(stmt, 1, s->name, sizeof(s->name));
	column_str(stmt, 2, s->host, sizeof(s->host));
	s->start_wall_ns = sqlite3_column_int64(stmt, 3);
	s->start_mono_ns = sqlite3_column_int64(stmt, 4);
	s->end_wall_ns = sqlite3_column_int64(stmt, 5); /* NULL reads as 0 */
	column_str(stmt, 6, s->end_reason, sizeof(s->end_reason));
	s->screen_w = sqlite3_column_int(stmt, 7);
	s->screen_h = sqlite3_column_int(stmt, 8);
	column_str(stmt, 9, s->keymap, sizeof(s->keymap));
	column_str(stmt, 10, s->version, sizeof(s->version));
}

int store_session_get(struct store *st, int64_t id, struct store_session *out, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	err = prepare(st, "SELECT " SESSION_COLUMNS " FROM sessions WHERE id = ?", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		err = util_fail(cause, -ENOENT, "no session %lld in %s", (long long)id, st->path);
		goto fail;
	}
	if (rc != SQLITE_ROW) {
		err = db_fail(st, cause, rc, "cannot read a session");
		goto fail;
	}
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

	err = prepare(st, "SELECT " SESSION_COLUMNS " FROM sessions ORDER BY id", &stmt, cause);
	if (err != 0)
		return err;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		read_session(stmt, &s);
		err = fn(&s, arg);
		if (err != 0)
			goto out;
	}
	err = done_or_fail(st, rc, "cannot list sessions", cause);
out:
	sqlite3_finalize(stmt);
	return err;
}

/* The id after the largest one in use, by a "SELECT coalesce(max(id), 0) + 1 ..." query. */
static int next_id(struct store *st, const char *sql, const char *what, int64_t *id,
                   char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	err = prepare(st, sql, &stmt, cause);
	if (err != 0)
		return err;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		char msg[64];

		snprintf(msg, sizeof(msg), "cannot read the newest %s id", what);
		err = db_fail(st, cause, rc, msg);
		sqlite3_finalize(stmt);
		return err;
	}
	*id = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
}

int store_next_event_id(struct store *st, int64_t *id, char **cause)
{
	return next_id(st, "SELECT coalesce(max(id), 0) + 1 FROM events", "event", id, cause);
}

int store_next_frame_id(struct store *st, int64_t *id, char **cause)
{
	return next_id(st, "SELECT coalesce(max(id), 0) + 1 FROM frames", "frame", id, cause);
}

int store_session_counts(struct store *st, int64_t session, int64_t counts[EVENT_KIND_MAX_],
                         char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	for (int k = 0; k < EVENT_KIND_MAX_; k++)
		counts[k] = 0;
	err = prepare(st, "SELECT kind, count(*) FROM events WHERE session = ? GROUP BY kind",
	              &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t kind = sqlite3_column_int64(stmt, 0);
		if (kind >= 0 && kind < EVENT_KIND_MAX_)
			counts[kind] = sqlite3_column_int64(stmt, 1);
	}
	err = done_or_fail(st, rc, "cannot count events", cause);
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

	err = prepare(st, "SELECT id, name, synthetic FROM devices WHERE session = ? ORDER BY id",
	              &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		memset(&d, 0, sizeof(d));
		d.id = sqlite3_column_int(stmt, 0);
		column_str(stmt, 1, d.name, sizeof(d.name));
		d.synthetic = sqlite3_column_int(stmt, 2) != 0;
		err = fn(&d, arg);
		if (err != 0)
			goto out;
	}
	err = done_or_fail(st, rc, "cannot list input devices", cause);
out:
	sqlite3_finalize(stmt);
	return err;
}

int store_events_foreach(struct store *st, int64_t session,
                         int (*fn)(int64_t id, const struct event *ev, const struct context *ctx,
                                   void *arg),
                         void *arg, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	struct event ev;
	struct context *ctx = NULL;
	int rc, err;

	/* The join is restricted to focus and title events, the only ones that carry a context. */
	err = prepare(st, "SELECT e.id, e.t_ns, e.kind, e.source, e.device, e.context, e.x, e.y, "
	              "e.detail, e.mods, e.amount, e.keysym, e.text, c.seq, c.t_ns, c.\"window\", "
	              "c.pid, c.x, c.y, c.w, c.h, c.wm_instance, c.wm_class, c.title, c.exe, "
	              "e.sealed, c.sealed "
	              "FROM events e LEFT JOIN contexts c ON c.session = e.session "
	              "AND c.seq = e.context AND e.kind IN (?2, ?3) "
	              "WHERE e.session = ?1 ORDER BY e.id", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	sqlite3_bind_int(stmt, 2, EVENT_FOCUS);
	sqlite3_bind_int(stmt, 3, EVENT_TITLE);
	ctx = util_xmalloc(sizeof(*ctx));
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(stmt, 0);
		int has_ctx = sqlite3_column_type(stmt, 13) != SQLITE_NULL;

		memset(&ev, 0, sizeof(ev));
		ev.t_ns = sqlite3_column_int64(stmt, 1);
		ev.kind = sqlite3_column_int(stmt, 2);
		ev.source = sqlite3_column_int(stmt, 3);
		ev.device = sqlite3_column_int(stmt, 4);
		ev.context = sqlite3_column_int(stmt, 5);
		ev.x = sqlite3_column_int(stmt, 6);
		ev.y = sqlite3_column_int(stmt, 7);
		ev.detail = sqlite3_column_int(stmt, 8);
		ev.mods = (uint32_t)sqlite3_column_int64(stmt, 9);
		ev.amount = sqlite3_column_double(stmt, 10);
		column_str(stmt, 11, ev.keysym, sizeof(ev.keysym));
		column_str(stmt, 12, ev.text, sizeof(ev.text));
		if (sqlite3_column_type(stmt, 25) == SQLITE_BLOB) {
			err = event_unseal(st, session, &ev, sqlite3_column_blob(stmt, 25),
			                   (size_t)sqlite3_column_bytes(stmt, 25), cause);
			if (err != 0)
				goto out;
		}
		if (has_ctx) {
			memset(ctx, 0, sizeof(*ctx));
			ctx->seq = sqlite3_column_int(stmt, 13);
			ctx->t_ns = sqlite3_column_int64(stmt, 14);
			ctx->window = (uint32_t)sqlite3_column_int64(stmt, 15);
			ctx->pid = sqlite3_column_int(stmt, 16);
			ctx->x = sqlite3_column_int(stmt, 17);
			ctx->y = sqlite3_column_int(stmt, 18);
			ctx->w = sqlite3_column_int(stmt, 19);
			ctx->h = sqlite3_column_int(stmt, 20);
			column_str(stmt, 21, ctx->wm_instance, sizeof(ctx->wm_instance));
			column_str(stmt, 22, ctx->wm_class, sizeof(ctx->wm_class));
			column_str(stmt, 23, ctx->title, sizeof(ctx->title));
			column_str(stmt, 24, ctx->exe, sizeof(ctx->exe));
			if (sqlite3_column_type(stmt, 26) == SQLITE_BLOB) {
				err = context_unseal(st, session, ctx, sqlite3_column_blob(stmt, 26),
				                     (size_t)sqlite3_column_bytes(stmt, 26), cause);
				if (err != 0)
					goto out;
			}
		}
		err = fn(id, &ev, has_ctx ? ctx : NULL, arg);
		if (err != 0)
			goto out;
	}
	err = done_or_fail(st, rc, "cannot read events", cause);
out:
	free(ctx);
	sqlite3_finalize(stmt);
	return err;
}

#define FRAME_COLUMNS \
	"id, t_ns, trigger, event_id, blob, format, width, height, bytes, base_id, patch, " \
	"damage_x, damage_y, damage_w, damage_h, cursor_x, cursor_y, cursor_name"

static void read_frame(sqlite3_stmt *stmt, struct store_frame *f)
{
	memset(f, 0, sizeof(*f));
	f->id = sqlite3_column_int64(stmt, 0);
	f->t_ns = sqlite3_column_int64(stmt, 1);
	column_str(stmt, 2, f->trigger, sizeof(f->trigger));
	f->event_id = sqlite3_column_int64(stmt, 3); /* NULL reads as 0 */
	column_str(stmt, 4, f->blob, sizeof(f->blob));
	column_str(stmt, 5, f->format, sizeof(f->format));
	f->width = sqlite3_column_int(stmt, 6);
	f->height = sqlite3_column_int(stmt, 7);
	f->bytes = sqlite3_column_int64(stmt, 8);
	f->base_id = sqlite3_column_int64(stmt, 9);
	if (f->base_id > 0)
		patch_from_text((const char *)sqlite3_column_text(stmt, 10), f);
	f->damage_x = sqlite3_column_int(stmt, 11);
	f->damage_y = sqlite3_column_int(stmt, 12);
	f->damage_w = sqlite3_column_int(stmt, 13);
	f->damage_h = sqlite3_column_int(stmt, 14);
	f->cursor_x = sqlite3_column_int(stmt, 15);
	f->cursor_y = sqlite3_column_int(stmt, 16);
	column_str(stmt, 17, f->cursor_name, sizeof(f->cursor_name));
}

int store_frames_foreach(struct store *st, int64_t session,
                         int (*fn)(const struct store_frame *fr, void *arg), void *arg,
                         char **cause)
{
	sqlite3_stmt *stmt = NULL;
	struct store_frame f;
	int rc, err;

	err = prepare(st, "SELECT " FRAME_COLUMNS " FROM frames WHERE session = ? ORDER BY id",
	              &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		read_frame(stmt, &f);
		err = fn(&f, arg);
		if (err != 0)
			goto out;
	}
	err = done_or_fail(st, rc, "cannot read frames", cause);
out:
	sqlite3_finalize(stmt);
	return err;
}

int store_frame_get(struct store *st, int64_t session, int64_t id, struct store_frame *out,
                    char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	err = prepare(st, "SELECT " FRAME_COLUMNS " FROM frames WHERE session = ? AND id = ?",
	              &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	sqlite3_bind_int64(stmt, 2, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		err = util_fail(cause, -ENOENT, "session %lld has no frame %lld", (long long)session,
		                (long long)id);
		goto fail;
	}
	if (rc != SQLITE_ROW) {
		err = db_fail(st, cause, rc, "cannot read a frame");
		goto fail;
	}
	read_frame(stmt, out);
	sqlite3_finalize(stmt);
	return 0;
fail:
	sqlite3_finalize(stmt);
	return err;
}

int store_write_tasks(struct store *st, int64_t session, const struct store_task *tasks,
                      size_t n, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	if (n == 0)
		return 0;
	/* Descriptions are what a person wrote: sealed (docs/PRIVACY.md). */
	err = store_vault(st, NULL, cause);
	if (err != 0)
		return err;
	err = prepare(st, "INSERT INTO tasks (session, t_ns, next_event, kind, outcome, "
	              "description, sealed) VALUES (?, ?, ?, ?, ?, '', ?)", &stmt, cause);
	if (err != 0)
		return err;
	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(stmt);
		sqlite3_bind_int64(stmt, 1, session);
		sqlite3_bind_int64(stmt, 2, tasks[i].t_ns);
		sqlite3_bind_int64(stmt, 3, tasks[i].next_event);
		sqlite3_bind_int(stmt, 4, tasks[i].kind);
		sqlite3_bind_int(stmt, 5, tasks[i].outcome);
		{
			uint8_t ad[28], sealed[STORE_TASK_DESC_MAX + VAULT_OVERHEAD];
			size_t adlen = seal_ad(ad, "tk01", session, tasks[i].t_ns, 0);
			size_t dn = strnlen(tasks[i].description, sizeof(tasks[i].description) - 1);

			vault_seal(st->vault, ad, adlen, tasks[i].description, dn, sealed);
			sqlite3_bind_blob(stmt, 6, sealed, (int)vault_sealed_len(dn), SQLITE_TRANSIENT);
		}
		rc = sqlite3_step(stmt);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_finalize(stmt);
	return 0;
fail:
	err = db_fail(st, cause, rc, "cannot store task markers");
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(stmt);
	return err;
}

int store_tasks_foreach(struct store *st, int64_t session,
                        int (*fn)(const struct store_task *t, void *arg), void *arg,
                        char **cause)
{
	sqlite3_stmt *stmt = NULL;
	struct store_task *t;
	int rc, err;

	/* A read-only connection to an older file has no tasks table. */
	if (st->readonly && st->version_found < 4)
		return 0;
	err = prepare(st, "SELECT id, t_ns, next_event, kind, outcome, description, sealed "
	              "FROM tasks WHERE session = ? ORDER BY id", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	t = util_xmalloc(sizeof(*t));
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		memset(t, 0, sizeof(*t));
		t->id = sqlite3_column_int64(stmt, 0);
		t->t_ns = sqlite3_column_int64(stmt, 1);
		t->next_event = sqlite3_column_int64(stmt, 2);
		t->kind = sqlite3_column_int(stmt, 3);
		t->outcome = sqlite3_column_int(stmt, 4);
		column_str(stmt, 5, t->description, sizeof(t->description));
		if (sqlite3_column_type(stmt, 6) == SQLITE_BLOB) {
			void *plain = NULL;
			size_t pn = 0;

			err = store_unseal(st, "tk01", session, t->t_ns, sqlite3_column_blob(stmt, 6),
			                   (size_t)sqlite3_column_bytes(stmt, 6), &plain, &pn, cause);
			if (err != 0)
				goto out;
			util_strlcpy_utf8(t->description, plain, sizeof(t->description));
			free(plain);
		}
		err = fn(t, arg);
		if (err != 0)
			goto out;
	}
	err = done_or_fail(st, rc, "cannot read task markers", cause);
out:
	free(t);
	sqlite3_finalize(stmt);
	return err;
}

/* --- UI elements (docs/ELEMENTS.md) ------------------------------------------------- */

/* The ancestors as JSON [[role, name], ...] (malloc'ed). */
static char *ancestors_to_json(const struct store_element *el)
{
	json_t *a = json_array();
	char *s;

	for (int i = 0; i < el->n_ancestors && i < STORE_EL_ANCESTORS_MAX; i++)
		json_array_append_new(a, json_pack("[ss]", el->ancestors[i].role,
		                                   el->ancestors[i].name));
	s = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return s != NULL ? s : util_xstrdup("[]");
}

static void ancestors_from_json(const char *text, struct store_element *el)
{
	json_t *a = text != NULL ? json_loads(text, 0, NULL) : NULL;
	size_t i;
	json_t *v;

	el->n_ancestors = 0;
	if (!json_is_array(a)) {
		json_decref(a);
		return;
	}
	json_array_foreach(a, i, v) {
		const char *role = json_string_value(json_array_get(v, 0));
		const char *name = json_string_value(json_array_get(v, 1));

		if (el->n_ancestors >= STORE_EL_ANCESTORS_MAX)
			break;
		util_strlcpy_utf8(el->ancestors[el->n_ancestors].role, role ? role : "",
		                  sizeof(el->ancestors[0].role));
		util_strlcpy_utf8(el->ancestors[el->n_ancestors].name, name ? name : "",
		                  sizeof(el->ancestors[0].name));
		el->n_ancestors++;
	}
	json_decref(a);
}

int store_write_elements(struct store *st, int64_t session, const struct store_element *els,
                         size_t n, char **cause)
{
	sqlite3_stmt *s = NULL;
	int rc = SQLITE_OK, err;

	if (n == 0)
		return 0;
	/* Names, labels, descriptions, menu paths and URLs are sealed (docs/PRIVACY.md). */
	err = store_vault(st, NULL, cause);
	if (err != 0)
		return err;
	err = prepare(st, "INSERT OR REPLACE INTO elements (event_id, session, kind, status, "
	              "source, t_ns, read_ns, lookup_us, \"window\", pid, popup, app, role, name, "
	              "label, description, states, state_names, x, y, w, h, ancestors, "
	              "menu_path, shortcut, chord, url, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
	              "?, ?, ?, ?, '', '', '', ?, ?, ?, ?, ?, ?, '[]', '', ?, ?, '', ?)", &s, cause);
	if (err != 0)
		return err;
	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const struct store_element *e = &els[i];
		char *anc = ancestors_to_json(e);

		sqlite3_bind_int64(s, 1, e->event_id);
		sqlite3_bind_int64(s, 2, session);
		sqlite3_bind_int(s, 3, e->kind);
		sqlite3_bind_int(s, 4, e->status);
		sqlite3_bind_int(s, 5, e->source);
		sqlite3_bind_int64(s, 6, e->t_ns);
		sqlite3_bind_int64(s, 7, e->read_ns);
		sqlite3_bind_int(s, 8, e->lookup_us);
		sqlite3_bind_int64(s, 9, e->window);
		sqlite3_bind_int(s, 10, e->pid);
		sqlite3_bind_int(s, 11, e->popup);
		bind_str(s, 12, e->app, sizeof(e->app));
		bind_str(s, 13, e->role, sizeof(e->role));
		sqlite3_bind_int64(s, 14, (sqlite3_int64)e->states);
		bind_str(s, 15, e->state_names, sizeof(e->state_names));
		sqlite3_bind_int(s, 16, e->x);
		sqlite3_bind_int(s, 17, e->y);
		sqlite3_bind_int(s, 18, e->w);
		sqlite3_bind_int(s, 19, e->h);
		bind_str(s, 20, e->shortcut, sizeof(e->shortcut));
		bind_str(s, 21, e->chord, sizeof(e->chord));
		{
			json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "name", e->name,
			                      "label", e->label, "description", e->description,
			                      "ancestors", anc, "menu_path", e->menu_path,
			                      "url", e->url);
			char *plain = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
			size_t pn = plain != NULL ? strlen(plain) : 0;
			uint8_t ad[28], *sealed = util_xmalloc(pn + VAULT_OVERHEAD);

			vault_seal(st->vault, ad, seal_ad(ad, "el01", session, e->event_id, 0),
			           plain != NULL ? plain : "", pn, sealed);
			sqlite3_bind_blob(s, 22, sealed, (int)vault_sealed_len(pn), SQLITE_TRANSIENT);
			if (plain != NULL)
				sodium_memzero(plain, pn);
			free(plain);
			free(sealed);
			json_decref(o);
		}
		rc = sqlite3_step(s);
		free(anc);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_finalize(s);
	return 0;
fail:
	err = db_fail(st, cause, rc, "cannot store UI elements");
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_finalize(s);
	return err;
}

#define ELEMENT_COLUMNS \
	"event_id, kind, status, source, t_ns, read_ns, lookup_us, \"window\", pid, popup, app, " \
	"role, name, label, description, states, state_names, x, y, w, h, ancestors, " \
	"menu_path, shortcut, chord, url, sealed"

/* Opens an element's sealed text fields into e. */
static int element_unseal(struct store *st, int64_t session, sqlite3_stmt *stmt,
                          struct store_element *e, char **cause)
{
	void *plain = NULL;
	size_t pn = 0;
	json_t *o;
	int err;

	if (sqlite3_column_type(stmt, 26) != SQLITE_BLOB)
		return 0;
	err = store_unseal(st, "el01", session, e->event_id, sqlite3_column_blob(stmt, 26),
	                   (size_t)sqlite3_column_bytes(stmt, 26), &plain, &pn, cause);
	if (err != 0)
		return err;
	o = json_loadb(plain, pn, 0, NULL);
	sodium_memzero(plain, pn);
	free(plain);
	if (!json_is_object(o)) {
		json_decref(o);
		return util_fail(cause, -EBADMSG, "a UI element of session %lld in %s is damaged",
		                 (long long)session, st->path);
	}
#define FIELD(k, dst) util_strlcpy_utf8(dst, json_string_value(json_object_get(o, k)) ? \
		json_string_value(json_object_get(o, k)) : "", sizeof(dst))
	FIELD("name", e->name);
	FIELD("label", e->label);
	FIELD("description", e->description);
	FIELD("menu_path", e->menu_path);
	FIELD("url", e->url);
#undef FIELD
	ancestors_from_json(json_string_value(json_object_get(o, "ancestors")), e);
	json_decref(o);
	return 0;
}

static void read_element(sqlite3_stmt *stmt, struct store_element *e)
{
	memset(e, 0, sizeof(*e));
	e->event_id = sqlite3_column_int64(stmt, 0);
	e->kind = sqlite3_column_int(stmt, 1);
	e->status = sqlite3_column_int(stmt, 2);
	e->source = sqlite3_column_int(stmt, 3);
	e->t_ns = sqlite3_column_int64(stmt, 4);
	e->read_ns = sqlite3_column_int64(stmt, 5);
	e->lookup_us = sqlite3_column_int(stmt, 6);
	e->window = (uint32_t)sqlite3_column_int64(stmt, 7);
	e->pid = sqlite3_column_int(stmt, 8);
	e->popup = sqlite3_column_int(stmt, 9);
	column_str(stmt, 10, e->app, sizeof(e->app));
	column_str(stmt, 11, e->role, sizeof(e->role));
	column_str(stmt, 12, e->name, sizeof(e->name));
	column_str(stmt, 13, e->label, sizeof(e->label));
	column_str(stmt, 14, e->description, sizeof(e->description));
	e->states = (uint64_t)sqlite3_column_int64(stmt, 15);
	column_str(stmt, 16, e->state_names, sizeof(e->state_names));
	e->x = sqlite3_column_int(stmt, 17);
	e->y = sqlite3_column_int(stmt, 18);
	e->w = sqlite3_column_int(stmt, 19);
	e->h = sqlite3_column_int(stmt, 20);
	ancestors_from_json((const char *)sqlite3_column_text(stmt, 21), e);
	column_str(stmt, 22, e->menu_path, sizeof(e->menu_path));
	column_str(stmt, 23, e->shortcut, sizeof(e->shortcut));
	column_str(stmt, 24, e->chord, sizeof(e->chord));
	column_str(stmt, 25, e->url, sizeof(e->url));
}

int store_elements_foreach(struct store *st, int64_t session,
                           int (*fn)(const struct store_element *el, void *arg), void *arg,
                           char **cause)
{
	sqlite3_stmt *stmt = NULL;
	struct store_element *el;
	int rc, err;

	err = prepare(st, "SELECT " ELEMENT_COLUMNS " FROM elements WHERE session = ? "
	              "ORDER BY event_id", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	el = util_xmalloc(sizeof(*el));
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		read_element(stmt, el);
		err = element_unseal(st, session, stmt, el, cause);
		if (err != 0)
			goto out;
		err = fn(el, arg);
		if (err != 0)
			goto out;
	}
	err = done_or_fail(st, rc, "cannot read UI elements", cause);
out:
	free(el);
	sqlite3_finalize(stmt);
	return err;
}

int store_element_get(struct store *st, int64_t session, int64_t event_id,
                      struct store_element *out, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	err = prepare(st, "SELECT " ELEMENT_COLUMNS " FROM elements WHERE event_id = ? "
	              "AND session = ?", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, event_id);
	sqlite3_bind_int64(stmt, 2, session);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		read_element(stmt, out);
		err = element_unseal(st, session, stmt, out, cause);
	} else if (rc == SQLITE_DONE) {
		err = util_fail(cause, -ENOENT, "event %lld of session %lld has no UI element",
		                (long long)event_id, (long long)session);
	} else {
		err = db_fail(st, cause, rc, "cannot read a UI element");
	}
	sqlite3_finalize(stmt);
	return err;
}

int store_consent_add(struct store *st, const struct store_consent *c, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	err = prepare(st, "INSERT INTO consents (t_wall_ns, user, action, notice_sha256, "
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
	err = step_done(st, stmt, "cannot record the consent", cause);
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
	err = prepare(st, "SELECT t_wall_ns, user, action, notice_sha256, notice_path "
	              "FROM consents WHERE user = ? ORDER BY id DESC LIMIT 1", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_text(stmt, 1, user, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		out->t_wall_ns = sqlite3_column_int64(stmt, 0);
		column_str(stmt, 1, out->user, sizeof(out->user));
		column_str(stmt, 2, out->action, sizeof(out->action));
		column_str(stmt, 3, out->notice_sha256, sizeof(out->notice_sha256));
		column_str(stmt, 4, out->notice_path, sizeof(out->notice_path));
		err = 0;
	} else if (rc == SQLITE_DONE) {
		err = util_fail(cause, -ENOENT, "no consent recorded for %s", user);
	} else {
		err = db_fail(st, cause, rc, "cannot read the consent");
	}
	sqlite3_finalize(stmt);
	return err;
}

int store_frame_scan_get(struct store *st, int64_t id, struct store_frame_scan *out,
                         char **boxes_json, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	if (boxes_json != NULL)
		*boxes_json = NULL;
	err = prepare(st, "SELECT scan, scan_reason, scan_boxes, scan_blob, scan_rules FROM frames "
	              "WHERE id = ?", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		err = util_fail(cause, -ENOENT, "there is no frame %lld", (long long)id);
		goto fail;
	}
	if (rc != SQLITE_ROW) {
		err = db_fail(st, cause, rc, "cannot read a frame's scan");
		goto fail;
	}
	memset(out, 0, sizeof(*out));
	out->state = sqlite3_column_int(stmt, 0);
	column_str(stmt, 1, out->reason, sizeof(out->reason));
	column_str(stmt, 3, out->blob, sizeof(out->blob));
	column_str(stmt, 4, out->rules, sizeof(out->rules));
	if (boxes_json != NULL) {
		const char *b = (const char *)sqlite3_column_text(stmt, 2);

		*boxes_json = util_xstrdup(b != NULL ? b : "[]");
	}
	sqlite3_finalize(stmt);
	return 0;
fail:
	sqlite3_finalize(stmt);
	return err;
}

int store_frame_scan_set(struct store *st, int64_t id, const struct store_frame_scan *s,
                         const char *boxes_json, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	err = prepare(st, "UPDATE frames SET scan = ?, scan_reason = ?, scan_boxes = ?, "
	              "scan_blob = ?, scan_rules = ? WHERE id = ?", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int(stmt, 1, s->state);
	sqlite3_bind_text(stmt, 2, s->reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, boxes_json != NULL ? boxes_json : "[]", -1, SQLITE_STATIC);
	if (s->blob[0] != '\0')
		sqlite3_bind_text(stmt, 4, s->blob, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 4);
	sqlite3_bind_text(stmt, 5, s->rules, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 6, id);
	err = step_done(st, stmt, "cannot store a frame's scan", cause);
	if (err == 0 && sqlite3_changes(st->db) == 0)
		err = util_fail(cause, -ENOENT, "there is no frame %lld", (long long)id);
	sqlite3_finalize(stmt);
	return err;
}

/* ---------------------------------------------------------------- forgetting */

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

/* Runs sql with up to three int64 parameters; adds the rows it changed to *changed. */
static int exec_i64(struct store *st, const char *sql, int n, int64_t a, int64_t b, int64_t c,
                    int64_t *changed, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	err = prepare(st, sql, &stmt, cause);
	if (err != 0)
		return err;
	if (n > 0)
		sqlite3_bind_int64(stmt, 1, a);
	if (n > 1)
		sqlite3_bind_int64(stmt, 2, b);
	if (n > 2)
		sqlite3_bind_int64(stmt, 3, c);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		;
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE)
		return db_fail(st, cause, rc, "cannot delete recorded data");
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
	err = prepare(st, sql, &stmt, cause);
	if (err != 0)
		return err;
	if (n > 0)
		sqlite3_bind_int64(stmt, 1, a);
	if (n > 1)
		sqlite3_bind_int64(stmt, 2, b);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(st, cause, rc, "cannot read recorded data");
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
	err = prepare(st, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
	              "'sqlite_%' ORDER BY name", &stmt, cause);
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
	return done_or_fail(st, rc, "cannot list the tables", cause);
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
	err = exec(st, "BEGIN IMMEDIATE", "cannot delete recorded data", cause);
	if (err != 0)
		return err;
	err = other_tables(st, &tables, &ntables, cause);
	if (err != 0)
		goto fail;
	err = prepare(st, "SELECT id, start_wall_ns, start_mono_ns, coalesce(end_wall_ns, 0) "
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
	err = done_or_fail(st, rc, "cannot list sessions", cause);
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
	err = exec(st, "COMMIT", "cannot delete recorded data", cause);
	if (err != 0)
		goto fail;
	for (size_t i = 0; i < ntables; i++)
		free(tables[i]);
	free(tables);
	free(ss);
	return 0;
fail:
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
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
	err = exec(st, "PRAGMA temp_store = MEMORY", "cannot compact the database", cause);
	if (err == 0)
		err = exec(st, "VACUUM", "cannot compact the database", cause);
	if (err != 0)
		return err;
	/* Everything the WAL held goes into the database file, and the WAL is emptied. */
	for (int attempt = 0; ; attempt++) {
		sqlite3_stmt *stmt = NULL;
		int busy = 1, rc;

		err = prepare(st, "PRAGMA wal_checkpoint(TRUNCATE)", &stmt, cause);
		if (err != 0)
			return err;
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			busy = sqlite3_column_int(stmt, 0);
		sqlite3_finalize(stmt);
		if (rc != SQLITE_ROW && (rc & 0xff) != SQLITE_BUSY)
			return db_fail(st, cause, rc, "cannot empty the write-ahead log");
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
	err = prepare(st, sql, &stmt, cause);
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
		return db_fail(st, cause, rc, "cannot list frames");
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

int store_seal_plain(struct store *st, int64_t *n, char **cause)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	int64_t count = 0;
	int rc, err;

	*n = 0;
	err = store_vault(st, NULL, cause);
	if (err != 0)
		return err;
	err = exec(st, "BEGIN IMMEDIATE", "cannot encrypt older records", cause);
	if (err != 0)
		return err;
	/* Events from before encryption: their keycode, keysym and text. */
	err = prepare(st, "SELECT id, session, t_ns, kind, detail, keysym, text FROM events "
	              "WHERE sealed IS NULL AND (kind IN (?, ?) OR keysym != '' OR text != '')",
	              &sel, cause);
	if (err == 0)
		err = prepare(st, "UPDATE events SET detail = 0, keysym = '', text = '', sealed = ? "
		              "WHERE id = ?", &upd, cause);
	if (err != 0)
		goto fail;
	sqlite3_bind_int(sel, 1, EVENT_KEY_PRESS);
	sqlite3_bind_int(sel, 2, EVENT_KEY_RELEASE);
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		struct event e;
		uint8_t ad[28], p[EVENT_PAYLOAD_MAX], sealed[EVENT_PAYLOAD_MAX + VAULT_OVERHEAD];
		int64_t session = sqlite3_column_int64(sel, 1);
		size_t len;

		memset(&e, 0, sizeof(e));
		e.t_ns = sqlite3_column_int64(sel, 2);
		e.kind = sqlite3_column_int(sel, 3);
		e.detail = sqlite3_column_int(sel, 4);
		column_str(sel, 5, e.keysym, sizeof(e.keysym));
		column_str(sel, 6, e.text, sizeof(e.text));
		len = event_payload(&e, p);
		vault_seal(st->vault, ad, seal_ad(ad, "ev01", session, e.t_ns, e.kind), p, len,
		           sealed);
		sqlite3_bind_blob(upd, 1, sealed, (int)vault_sealed_len(len), SQLITE_TRANSIENT);
		sqlite3_bind_int64(upd, 2, sqlite3_column_int64(sel, 0));
		rc = sqlite3_step(upd);
		sqlite3_reset(upd);
		if (rc != SQLITE_DONE)
			break;
		count++;
	}
	err = done_or_fail(st, rc, "cannot encrypt older records", cause);
	if (err != 0)
		goto fail;
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	sel = upd = NULL;
	/* Window titles. */
	err = prepare(st, "SELECT session, seq, title FROM contexts WHERE sealed IS NULL AND "
	              "title != ''", &sel, cause);
	if (err == 0)
		err = prepare(st, "UPDATE contexts SET title = '', sealed = ? WHERE session = ? AND "
		              "seq = ?", &upd, cause);
	if (err != 0)
		goto fail;
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		uint8_t ad[28], sealed[CONTEXT_STR_MAX + VAULT_OVERHEAD];
		const char *t = (const char *)sqlite3_column_text(sel, 2);
		size_t len = strnlen(t != NULL ? t : "", CONTEXT_STR_MAX - 1);
		int64_t session = sqlite3_column_int64(sel, 0), seq = sqlite3_column_int64(sel, 1);

		vault_seal(st->vault, ad, seal_ad(ad, "cx01", session, seq, 0), t != NULL ? t : "",
		           len, sealed);
		sqlite3_bind_blob(upd, 1, sealed, (int)vault_sealed_len(len), SQLITE_TRANSIENT);
		sqlite3_bind_int64(upd, 2, session);
		sqlite3_bind_int64(upd, 3, seq);
		rc = sqlite3_step(upd);
		sqlite3_reset(upd);
		if (rc != SQLITE_DONE)
			break;
		count++;
	}
	err = done_or_fail(st, rc, "cannot encrypt older records", cause);
	if (err != 0)
		goto fail;
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	err = exec(st, "COMMIT", "cannot encrypt older records", cause);
	if (err != 0)
		goto fail2;
	*n = count;
	return 0;
fail:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
fail2:
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}
