/*
 * catalog: the collector's SQLite catalog (catalog.h). Every statement is
 * prepared with bound parameters; nothing a request sends is spliced into SQL.
 */
#include "catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "util.h"

struct catalog {
	sqlite3 *db;
	int64_t purged;              /* when old nonces were last forgotten */
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=FULL;"
	"CREATE TABLE IF NOT EXISTS devices(id TEXT PRIMARY KEY, public_key TEXT NOT NULL UNIQUE,"
	" enrolled INTEGER NOT NULL, revoked INTEGER);"
	"CREATE TABLE IF NOT EXISTS tokens(hash TEXT PRIMARY KEY, expires INTEGER NOT NULL,"
	" used INTEGER);"
	"CREATE TABLE IF NOT EXISTS nonces(device TEXT NOT NULL, nonce TEXT NOT NULL,"
	" time INTEGER NOT NULL, PRIMARY KEY(device, nonce));"
	"CREATE TABLE IF NOT EXISTS uploads(hash TEXT PRIMARY KEY, device TEXT NOT NULL,"
	" session TEXT NOT NULL, size INTEGER NOT NULL, received INTEGER NOT NULL,"
	" started INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS bundles(hash TEXT PRIMARY KEY, device TEXT NOT NULL,"
	" session TEXT NOT NULL, size INTEGER NOT NULL, stored INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS bundles_session ON bundles(device, session);"
	"CREATE TABLE IF NOT EXISTS seen(device TEXT PRIMARY KEY, time INTEGER NOT NULL,"
	" state TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time INTEGER NOT NULL, what TEXT NOT NULL, device TEXT, details TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS outbox(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" hash TEXT NOT NULL UNIQUE, subject TEXT NOT NULL, body TEXT NOT NULL);";

int catalog_open(const char *path, struct catalog **out, char **cause)
{
	struct catalog *c = util_xcalloc(1, sizeof *c);
	char *err = NULL;
	int fd;

	/* Create it 0600 before SQLite does, whatever the umask. */
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(c);
		return util_fail(cause, -errno, "cannot open catalog %s: %s", path, strerror(errno));
	}
	close(fd);
	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(c->db, 5000) != SQLITE_OK ||
	    sqlite3_exec(c->db, schema, NULL, NULL, &err) != SQLITE_OK) {
		util_fail(cause, -EIO, "cannot open catalog %s: %s", path,
		          err ? err : sqlite3_errmsg(c->db));
		sqlite3_free(err);
		sqlite3_close(c->db);
		free(c);
		return -EIO;
	}
	*out = c;
	return 0;
}

void catalog_close(struct catalog *c)
{
	if (c == NULL)
		return;
	sqlite3_close(c->db);
	free(c);
}

void catalog_begin(struct catalog *c)
{
	sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
}

void catalog_rollback(struct catalog *c)
{
	sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

int catalog_commit(struct catalog *c, char **cause)
{
	if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	return util_fail(cause, -EIO, "cannot write the catalog: %s", sqlite3_errmsg(c->db));
}

static sqlite3_stmt *prep(struct catalog *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	return st;
}

static void token_hash(const char *token, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	fleet_proto_hex(h, sizeof h, out);
}

int catalog_token_new(struct catalog *c, int64_t now, int64_t ttl_s, char out[65], char **cause)
{
	unsigned char raw[32];
	char h[65];
	sqlite3_stmt *st = prep(c, "INSERT INTO tokens(hash, expires) VALUES(?, ?)");
	int r;

	randombytes_buf(raw, sizeof raw);
	fleet_proto_hex(raw, sizeof raw, out);
	token_hash(out, h);
	sqlite3_bind_text(st, 1, h, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now + ttl_s);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : util_fail(cause, -EIO, "cannot store the token: %s",
	                                                   sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
	return r;
}

int catalog_enrol(struct catalog *c, const char *token, const unsigned char pk[FLEET_PK_BYTES],
                  int64_t now, char id[FLEET_DEVICE_ID_SIZE], char **cause)
{
	char h[65], pkhex[2 * FLEET_PK_BYTES + 1];
	sqlite3_stmt *st;
	int r, changed;

	if (strlen(token) != 64)
		return util_fail(cause, -EACCES, "the enrolment token is not valid: ask the "
		                 "administrator for a new one (`mimic-collector token new`)");
	token_hash(token, h);
	fleet_proto_device_id(pk, id);
	fleet_proto_hex(pk, FLEET_PK_BYTES, pkhex);
	sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	st = prep(c, "UPDATE tokens SET used = ? WHERE hash = ? AND used IS NULL AND expires >= ?");
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, h, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, now);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	changed = sqlite3_changes(c->db);
	if (r != SQLITE_DONE || changed != 1) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return util_fail(cause, -EACCES, "the enrolment token is unknown, used or expired: "
		                 "ask the administrator for a new one (`mimic-collector token new`)");
	}
	st = prep(c, "INSERT INTO devices(id, public_key, enrolled) VALUES(?, ?, ?)");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, pkhex, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, now);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	if (r != SQLITE_DONE) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return util_fail(cause, -EEXIST, "this device key is enrolled already");
	}
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
	return 0;
}

int catalog_device_key(struct catalog *c, const char *id, unsigned char pk[FLEET_PK_BYTES])
{
	sqlite3_stmt *st = prep(c, "SELECT public_key FROM devices WHERE id = ? AND revoked IS NULL");
	int r = -ENOENT;

	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    fleet_proto_unhex((const char *)sqlite3_column_text(st, 0), pk, FLEET_PK_BYTES) == 0)
		r = 0;
	sqlite3_finalize(st);
	return r;
}

int catalog_device_revoke(struct catalog *c, const char *id, int64_t now, char **cause)
{
	sqlite3_stmt *st = prep(c, "UPDATE devices SET revoked = ? WHERE id = ? AND revoked IS NULL");
	int r;

	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	if (r != SQLITE_DONE || sqlite3_changes(c->db) != 1)
		return util_fail(cause, -ENOENT, "no enrolled device %s", id);
	return 0;
}

int catalog_nonce_use(struct catalog *c, const char *device, const char *nonce, int64_t t,
                      int64_t now)
{
	sqlite3_stmt *st;
	int r;

	/*
	 * Forgetting is a write of its own: once a minute is enough (a nonce is kept at
	 * least twice the window), and each request then costs one write, not two.
	 */
	if (now - c->purged >= 60) {
		st = prep(c, "DELETE FROM nonces WHERE time < ?");
		sqlite3_bind_int64(st, 1, now - 2 * FLEET_WINDOW_S);
		sqlite3_step(st);
		sqlite3_finalize(st);
		c->purged = now;
	}
	st = prep(c, "INSERT INTO nonces(device, nonce, time) VALUES(?, ?, ?)");
	sqlite3_bind_text(st, 1, device, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, nonce, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, t);
	r = sqlite3_step(st);
	sqlite3_finalize(st);
	return r == SQLITE_DONE ? 0 : -EALREADY;
}

static int64_t count(struct catalog *c, const char *sql)
{
	sqlite3_stmt *st = prep(c, sql);
	int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return n;
}

int64_t catalog_devices(struct catalog *c)
{
	return count(c, "SELECT count(*) FROM devices WHERE revoked IS NULL");
}

int64_t catalog_uploads_open(struct catalog *c)
{
	return count(c, "SELECT count(*) FROM uploads");
}

int catalog_seen(struct catalog *c, const char *device, int64_t now, const char *state)
{
	sqlite3_stmt *st = prep(c, "INSERT OR REPLACE INTO seen(device, time, state) VALUES(?, ?, ?)");
	int r;

	sqlite3_bind_text(st, 1, device, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, state, -1, SQLITE_TRANSIENT);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return r;
}

int64_t catalog_seen_since(struct catalog *c, int64_t since)
{
	sqlite3_stmt *st = prep(c, "SELECT count(*) FROM seen WHERE time >= ?");
	int64_t n;

	sqlite3_bind_int64(st, 1, since);
	n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return n;
}

int catalog_upload_begin(struct catalog *c, const char *device, const struct fleet_manifest *m,
                         int64_t now, uint64_t *received, char other[65])
{
	sqlite3_stmt *st;
	int r = 0;

	other[0] = '\0';
	*received = 0;
	st = prep(c, "SELECT hash FROM bundles WHERE device = ? AND session = ?");
	sqlite3_bind_text(st, 1, device, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, m->session, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(other, 65, "%s", (const char *)sqlite3_column_text(st, 0));
		r = strcmp(other, m->bundle) == 0 ? -EEXIST : -EBUSY;
		if (r == -EEXIST)
			*received = m->size;
	}
	sqlite3_finalize(st);
	if (r != 0)
		return r;
	st = prep(c, "SELECT device, size, received FROM uploads WHERE hash = ?");
	sqlite3_bind_text(st, 1, m->bundle, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		/* Another device or size under the same address starts afresh. */
		if (strcmp((const char *)sqlite3_column_text(st, 0), device) == 0 &&
		    (uint64_t)sqlite3_column_int64(st, 1) == m->size)
			*received = (uint64_t)sqlite3_column_int64(st, 2);
		else
			r = -EPERM;
		sqlite3_finalize(st);
		return r;
	}
	sqlite3_finalize(st);
	st = prep(c, "INSERT INTO uploads(hash, device, session, size, received, started)"
	             " VALUES(?, ?, ?, ?, 0, ?)");
	sqlite3_bind_text(st, 1, m->bundle, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, device, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, m->session, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, (int64_t)m->size);
	sqlite3_bind_int64(st, 5, now);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return r;
}

int catalog_upload_get(struct catalog *c, const char *device, const char *hash, uint64_t *size,
                       uint64_t *received, char session[FLEET_SESSION_MAX + 1])
{
	sqlite3_stmt *st = prep(c, "SELECT size, received, session FROM uploads"
	                           " WHERE hash = ? AND device = ?");
	int r = -ENOENT;

	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, device, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*size = (uint64_t)sqlite3_column_int64(st, 0);
		*received = (uint64_t)sqlite3_column_int64(st, 1);
		snprintf(session, FLEET_SESSION_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 2));
		r = 0;
	}
	sqlite3_finalize(st);
	return r;
}

int catalog_upload_set(struct catalog *c, const char *hash, uint64_t received)
{
	sqlite3_stmt *st = prep(c, "UPDATE uploads SET received = ? WHERE hash = ?");
	int r;
	sqlite3_bind_int64(st, 1, (int64_t)received);
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return r;
}

int catalog_upload_end(struct catalog *c, const char *hash, int stored, int64_t now)
{
	sqlite3_stmt *st;
	int r = 0;

	sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (stored) {
		st = prep(c, "INSERT OR IGNORE INTO bundles(hash, device, session, size, stored)"
		             " SELECT hash, device, session, size, ? FROM uploads WHERE hash = ?");
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_text(st, 2, hash, -1, SQLITE_TRANSIENT);
		r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
		sqlite3_finalize(st);
	}
	st = prep(c, "DELETE FROM uploads WHERE hash = ?");
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = -EIO;
	sqlite3_finalize(st);
	sqlite3_exec(c->db, r == 0 ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
	return r;
}

int catalog_delete_session(struct catalog *c, const char *device, const char *session,
                           int64_t now, char hash[65])
{
	sqlite3_stmt *st = prep(c, "SELECT hash FROM bundles WHERE device = ? AND session = ?");
	int n = 0;

	hash[0] = '\0';
	sqlite3_bind_text(st, 1, device, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, session, -1, SQLITE_TRANSIENT);
	while (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(hash, 65, "%s", (const char *)sqlite3_column_text(st, 0));
		n++;
	}
	sqlite3_finalize(st);
	st = prep(c, "DELETE FROM bundles WHERE device = ? AND session = ?");
	sqlite3_bind_text(st, 1, device, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, session, -1, SQLITE_TRANSIENT);
	sqlite3_step(st);
	sqlite3_finalize(st);
	/* An upload in progress of that session is dropped too. */
	st = prep(c, "DELETE FROM uploads WHERE device = ? AND session = ?");
	sqlite3_bind_text(st, 1, device, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, session, -1, SQLITE_TRANSIENT);
	sqlite3_step(st);
	sqlite3_finalize(st);
	return n;
}

int catalog_foreach(struct catalog *c, int (*fn)(const struct catalog_bundle *b, void *arg),
                    void *arg)
{
	sqlite3_stmt *st = prep(c, "SELECT hash, device, session, size, stored FROM bundles"
	                           " ORDER BY stored, hash");
	int r = 0;

	while (r == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct catalog_bundle b = {
			(const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
			(const char *)sqlite3_column_text(st, 2), (uint64_t)sqlite3_column_int64(st, 3),
			sqlite3_column_int64(st, 4),
		};
		r = fn(&b, arg);
	}
	sqlite3_finalize(st);
	return r;
}

int catalog_event(struct catalog *c, int64_t now, const char *what, const char *device,
                  const char *details)
{
	sqlite3_stmt *st = prep(c, "INSERT INTO events(time, what, device, details) VALUES(?,?,?,?)");
	int r;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, what, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, device, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, details ? details : "{}", -1, SQLITE_TRANSIENT);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return r;
}

int catalog_events(struct catalog *c, int (*fn)(const char *json, void *arg), void *arg)
{
	sqlite3_stmt *st = prep(c, "SELECT json_object('seq', seq, 'time', time, 'what', what,"
	                           " 'device', device, 'details', json(details)) FROM events"
	                           " ORDER BY seq");
	int r = 0;
	while (r == 0 && sqlite3_step(st) == SQLITE_ROW)
		r = fn((const char *)sqlite3_column_text(st, 0), arg);
	sqlite3_finalize(st);
	return r;
}

int catalog_outbox_add(struct catalog *c, const char *hash, const char *subject, const char *body)
{
	sqlite3_stmt *st = prep(c, "INSERT OR IGNORE INTO outbox(hash, subject, body) VALUES(?,?,?)");
	int r;

	if (st == NULL)
		return -EIO;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, body, -1, SQLITE_TRANSIENT);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return r;
}

int catalog_outbox_take(struct catalog *c, struct catalog_outbox *out, int max)
{
	sqlite3_stmt *st = prep(c, "SELECT hash, subject, body FROM outbox ORDER BY seq LIMIT ?");
	int n = 0;

	if (st == NULL)
		return -EIO;
	sqlite3_bind_int(st, 1, max);
	while (n < max && sqlite3_step(st) == SQLITE_ROW) {
		snprintf(out[n].hash, sizeof out[n].hash, "%s", (const char *)sqlite3_column_text(st, 0));
		out[n].subject = util_xstrdup((const char *)sqlite3_column_text(st, 1));
		out[n].body = util_xstrdup((const char *)sqlite3_column_text(st, 2));
		n++;
	}
	sqlite3_finalize(st);
	return n;
}

int catalog_outbox_done(struct catalog *c, const char *hash)
{
	sqlite3_stmt *st = prep(c, "DELETE FROM outbox WHERE hash = ?");
	int r;

	if (st == NULL)
		return -EIO;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
	r = sqlite3_step(st) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(st);
	return r;
}

int64_t catalog_outbox_count(struct catalog *c)
{
	sqlite3_stmt *st = prep(c, "SELECT count(*) FROM outbox");
	int64_t n = -1;

	if (st != NULL && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}
