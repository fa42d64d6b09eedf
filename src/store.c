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
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

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
	char *tmp = util_xstrdup(dir);
	struct stat sb;
	int err = 0;

	for (char *p = tmp + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		/* stat first: mkdir of an existing directory may fail with EACCES or EROFS. */
		if (stat(tmp, &sb) != 0 && mkdir(tmp, 0700) != 0 && errno != EEXIST) {
			err = errno;
			goto fail;
		}
		*p = c;
		if (c == '\0')
			break;
	}
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
	free(tmp);
	return 0;
fail:
	free(tmp);
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
		err = ensure_dir(dir, cause);
		if (err != 0)
			return err;
	}

	st = util_xcalloc(1, sizeof(*st));
	st->readonly = readonly;
	st->path = util_xasprintf("%s/%s", dir, STORE_DB_NAME);

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
	int rc, err;

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
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		err = db_fail(st, cause, rc, "cannot create a session");
		goto fail;
	}
	*id = sqlite3_last_insert_rowid(st->db);
	sqlite3_finalize(stmt);
	return 0;
fail:
	sqlite3_finalize(stmt);
	return err;
}

int store_session_set_info(struct store *st, int64_t id, const char *config_json,
                           const char *monitors_json, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	err = prepare(st, "UPDATE sessions SET config = coalesce(?, config), "
	              "monitors = coalesce(?, monitors) WHERE id = ?", &stmt, cause);
	if (err != 0)
		return err;
	if (config_json != NULL)
		sqlite3_bind_text(stmt, 1, config_json, -1, SQLITE_STATIC);
	if (monitors_json != NULL)
		sqlite3_bind_text(stmt, 2, monitors_json, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, id);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		err = db_fail(st, cause, rc, "cannot store the session's settings");
		goto fail;
	}
	if (sqlite3_changes(st->db) == 0) {
		err = util_fail(cause, -ENOENT, "no session %lld in %s", (long long)id, st->path);
		goto fail;
	}
	sqlite3_finalize(stmt);
	return 0;
fail:
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
	int rc, err;

	err = prepare(st, "UPDATE sessions SET end_wall_ns = ?, end_reason = ? WHERE id = ?",
	              &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, end_wall_ns);
	bind_str(stmt, 2, reason != NULL ? reason : "", 64);
	sqlite3_bind_int64(stmt, 3, id);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		err = db_fail(st, cause, rc, "cannot close the session");
		goto fail;
	}
	if (sqlite3_changes(st->db) == 0) {
		err = util_fail(cause, -ENOENT, "no session %lld in %s", (long long)id, st->path);
		goto fail;
	}
	sqlite3_finalize(stmt);
	return 0;
fail:
	sqlite3_finalize(stmt);
	return err;
}

int store_recover(struct store *st, int *n, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

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
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		err = db_fail(st, cause, rc, "cannot close interrupted sessions");
		goto fail;
	}
	if (n != NULL)
		*n = sqlite3_changes(st->db);
	if (sqlite3_changes(st->db) > 0)
		log_info("store: closed %d interrupted session(s)", sqlite3_changes(st->db));
	sqlite3_finalize(stmt);
	return 0;
fail:
	sqlite3_finalize(stmt);
	return err;
}

int store_device_put(struct store *st, int64_t session, int32_t device_id, const char *name,
                     int synthetic, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	err = prepare(st, "INSERT OR REPLACE INTO devices (session, id, name, synthetic) "
	              "VALUES (?, ?, ?, ?)", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	sqlite3_bind_int(stmt, 2, device_id);
	bind_str(stmt, 3, name, sizeof(((struct store_device *)0)->name));
	sqlite3_bind_int(stmt, 4, synthetic != 0);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE) {
		err = db_fail(st, cause, rc, "cannot store an input device");
		goto fail;
	}
	sqlite3_finalize(stmt);
	return 0;
fail:
	sqlite3_finalize(stmt);
	return err;
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
	bind_str(s, 12, c->title, sizeof(c->title));
	bind_str(s, 13, c->exe, sizeof(c->exe));
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
	sqlite3_bind_int(s, 10, e->detail);
	sqlite3_bind_int64(s, 11, e->mods);
	sqlite3_bind_double(s, 12, e->amount);
	bind_str(s, 13, e->keysym, sizeof(e->keysym));
	bind_str(s, 14, e->text, sizeof(e->text));
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
	err = prepare_cached(st, &st->ins_event, "INSERT INTO events (id, session, t_ns, "
	                     "kind, source, device, context, x, y, detail, mods, amount, keysym, "
	                     "text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", cause);
	if (err != 0)
		return err;
	/* A context seen again (same seq) replaces the first copy instead of failing the batch. */
	err = prepare_cached(st, &st->ins_context, "INSERT OR REPLACE INTO contexts (session, "
	                     "seq, t_ns, \"window\", pid, x, y, w, h, wm_instance, wm_class, "
	                     "title, exe) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", cause);
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
			goto fail;
	}
	if (rc != SQLITE_DONE) {
		err = db_fail(st, cause, rc, "cannot list sessions");
		goto fail;
	}
	sqlite3_finalize(stmt);
	return 0;
fail:
	sqlite3_finalize(stmt);
	return err;
}

int store_next_event_id(struct store *st, int64_t *id, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	err = prepare(st, "SELECT coalesce(max(id), 0) + 1 FROM events", &stmt, cause);
	if (err != 0)
		return err;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		err = db_fail(st, cause, rc, "cannot read the newest event id");
		sqlite3_finalize(stmt);
		return err;
	}
	*id = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
}

int store_next_frame_id(struct store *st, int64_t *id, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	err = prepare(st, "SELECT coalesce(max(id), 0) + 1 FROM frames", &stmt, cause);
	if (err != 0)
		return err;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		err = db_fail(st, cause, rc, "cannot read the newest frame id");
		sqlite3_finalize(stmt);
		return err;
	}
	*id = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
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
	if (rc != SQLITE_DONE) {
		err = db_fail(st, cause, rc, "cannot count events");
		goto fail;
	}
	sqlite3_finalize(stmt);
	return 0;
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
			goto fail;
	}
	if (rc != SQLITE_DONE) {
		err = db_fail(st, cause, rc, "cannot list input devices");
		goto fail;
	}
	sqlite3_finalize(stmt);
	return 0;
fail:
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
	              "c.pid, c.x, c.y, c.w, c.h, c.wm_instance, c.wm_class, c.title, c.exe "
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
		}
		err = fn(id, &ev, has_ctx ? ctx : NULL, arg);
		if (err != 0)
			goto fail;
	}
	if (rc != SQLITE_DONE) {
		err = db_fail(st, cause, rc, "cannot read events");
		goto fail;
	}
	free(ctx);
	sqlite3_finalize(stmt);
	return 0;
fail:
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
			goto fail;
	}
	if (rc != SQLITE_DONE) {
		err = db_fail(st, cause, rc, "cannot read frames");
		goto fail;
	}
	sqlite3_finalize(stmt);
	return 0;
fail:
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
