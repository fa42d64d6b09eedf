/*
 * fuzz_store: libFuzzer target for the store's decoding of rows as it reads
 * them back: sealed values (vault_unseal) and what they open into (an event's
 * keycode, keysym and text; a window title; a UI element's JSON with its
 * ancestors; a task description; the audit log's anchor), and the plain text
 * columns it parses (a frame's patch list, a scan's boxes, key text stored
 * before encryption). A database is anyone's file to edit: every row must read
 * back or be refused with a one-line cause, never crash or read out of bounds.
 *
 * The first byte picks the row (low 3 bits) and whether the rest is stored as
 * the row's sealed value as it is (bit 3 clear: it must not open unless it is a
 * real sealed value) or sealed first with the data directory's key, as the
 * store would (bit 3 set: the decoder behind the seal gets the bytes). The row
 * is written with a second connection, read through the store, then deleted.
 *
 * With bit 4 set, the rest is a write-ahead log (mimic.db-wal) beside a
 * database of its own, which a reader then opens: the store's check of the log
 * (store_open refuses one damaged before its last commits) and SQLite's replay
 * of it must refuse or read it, never crash.
 */
#include "store.h"
#include "store_int.h"
#include "util.h"
#include "vault.h"

#include "fuzz_tmp.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The largest value stored: bigger than any row's field, small enough to be quick. */
#define MAX_VALUE 8192
/* The largest write-ahead log: a dozen frames of 4 KB pages. */
#define MAX_WAL (64 * 1024)

static struct store *st;
static sqlite3 *raw;
static int64_t session;
static const char *dir;
static char *wal_dir, *wal_path, *shm_path;

static void die(const char *what, const char *cause)
{
	fprintf(stderr, "fuzz_store: %s: %s\n", what, cause != NULL ? cause : "failed");
	abort();
}

static void raw_exec(const char *sql)
{
	if (sqlite3_exec(raw, sql, NULL, NULL, NULL) != SQLITE_OK)
		die(sql, sqlite3_errmsg(raw));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t key[VAULT_KEY_BYTES];
	struct store_session s = { .start_wall_ns = 1, .start_mono_ns = 1 };
	char *cause = NULL, *db;

	(void)argc;
	(void)argv;
	dir = fuzz_tmpdir("store");
	if (store_open(dir, 0, &st, &cause) != 0)
		die("store_open", cause);
	memset(key, 9, sizeof(key));
	store_set_vault(st, vault_from_key(key));
	if (store_session_begin(st, &s, &session, &cause) != 0)
		die("session", cause);
	db = util_xasprintf("%s/%s", dir, STORE_DB_NAME);
	if (sqlite3_open(db, &raw) != SQLITE_OK)
		die("sqlite3_open", db);
	free(db);
	sqlite3_busy_timeout(raw, 5000);
	raw_exec("PRAGMA synchronous = OFF");
	/* A database of two sessions for the write-ahead logs, closed: it has none of its own. */
	wal_dir = util_xasprintf("%s/wal", dir);
	wal_path = util_xasprintf("%s/%s-wal", wal_dir, STORE_DB_NAME);
	shm_path = util_xasprintf("%s/%s-shm", wal_dir, STORE_DB_NAME);
	{
		struct store *w = NULL;
		int64_t id;

		if (store_open(wal_dir, 0, &w, &cause) != 0 ||
		    store_session_begin(w, &s, &id, &cause) != 0 ||
		    store_session_begin(w, &s, &id, &cause) != 0)
			die("wal store", cause);
		store_close(w);
	}
	return 0;
}

/* A cause must be one line: it is what the person reads. */
static void check(int rc, char *cause)
{
	if (rc < 0 && (cause == NULL || cause[0] == '\0' || strchr(cause, '\n') != NULL))
		die("bad cause", cause != NULL ? cause : "(null)");
	if (rc > 0)
		die("positive result", cause);
	free(cause);
}

static int on_event(int64_t id, const struct event *ev, const struct context *ctx, void *arg)
{
	(void)id;
	(void)arg;
	if (strlen(ev->keysym) >= sizeof(ev->keysym) || strlen(ev->text) >= sizeof(ev->text) ||
	    (ctx != NULL && strlen(ctx->title) >= sizeof(ctx->title)))
		die("unterminated field", NULL);
	return 0;
}

static int on_element(const struct store_element *el, void *arg)
{
	(void)arg;
	if (el->n_ancestors < 0 || el->n_ancestors > STORE_EL_ANCESTORS_MAX ||
	    strlen(el->name) >= sizeof(el->name) || strlen(el->url) >= sizeof(el->url))
		die("element out of bounds", NULL);
	return 0;
}

static int on_task(const struct store_task *t, void *arg)
{
	(void)arg;
	if (strlen(t->description) >= sizeof(t->description))
		die("unterminated description", NULL);
	return 0;
}

static int on_frame(const struct store_frame *f, void *arg)
{
	(void)arg;
	if (f->n_patch < 0 || f->n_patch > STORE_PATCH_MAX)
		die("patch count out of bounds", NULL);
	return 0;
}

/* Binds v as the sealed value of a row named by tag, where and b: as it is, or sealed. */
static void bind_sealed(sqlite3_stmt *s, int i, int seal, const char tag[4], int64_t sess,
                        int64_t where, int32_t b, const uint8_t *v, size_t n)
{
	uint8_t *out;

	if (!seal) {
		sqlite3_bind_blob(s, i, v, (int)n, SQLITE_TRANSIENT);
		return;
	}
	out = util_xmalloc(vault_sealed_len(n));
	store_seal_row(st, tag, sess, where, b, v, n, out);
	sqlite3_bind_blob(s, i, out, (int)vault_sealed_len(n), SQLITE_TRANSIENT);
	free(out);
}

static void insert(const char *sql, int seal, const char tag[4], int64_t sess, int64_t where,
                   int32_t b, const uint8_t *v, size_t n, int text)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(raw, sql, -1, &s, NULL) != SQLITE_OK)
		die(sql, sqlite3_errmsg(raw));
	if (text)
		sqlite3_bind_text(s, 1, (const char *)v, (int)n, SQLITE_TRANSIENT);
	else
		bind_sealed(s, 1, seal, tag, sess, where, b, v, n);
	sqlite3_bind_int64(s, 2, session);
	if (sqlite3_step(s) != SQLITE_DONE)
		die(sql, sqlite3_errmsg(raw));
	sqlite3_finalize(s);
}

/* Opens the database beside the write-ahead log data, read-only, and lists its sessions. */
static int on_session(const struct store_session *s, void *arg)
{
	(void)s;
	(void)arg;
	return 0;
}

static void open_wal(const uint8_t *data, size_t size)
{
	struct store *w = NULL;
	char *cause = NULL;
	FILE *f = fopen(wal_path, "wb");
	int rc;

	if (f == NULL || fwrite(data, 1, size, f) != size)
		die("write", wal_path);
	fclose(f);
	/* No index left by the last input: SQLite replays this log afresh. */
	unlink(shm_path);
	rc = store_open(wal_dir, STORE_READONLY, &w, &cause);
	if (rc == 0)
		rc = store_sessions_foreach(w, on_session, NULL, &cause);
	check(rc, cause);
	store_close(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct store_audit_anchor a;
	struct store_frame_scan scan;
	struct store_element el;
	char *cause = NULL, *boxes = NULL;
	const uint8_t *v = data + 1;
	size_t n = size - 1;
	int seal, rc;

	if (size < 1 || size > MAX_WAL)
		return 0;
	if (data[0] & 0x10) {
		open_wal(v, n);
		return 0;
	}
	if (size > MAX_VALUE)
		return 0;
	seal = (data[0] & 8) != 0;
	switch (data[0] & 7) {
	case 0: /* a key press: keycode, keysym and text, sealed */
		insert("INSERT INTO events (id, session, t_ns, kind, source, device, context, x, y, "
		       "detail, mods, amount, sealed) VALUES (1, ?2, 100, 1, 0, 0, 0, 0, 0, 0, 0, 0, "
		       "?1)", seal, "ev01", session, 100, EVENT_KEY_PRESS, v, n, 0);
		rc = store_events_foreach(st, session, on_event, NULL, &cause);
		check(rc, cause);
		break;
	case 1: /* a window title, sealed, read with the focus event that names it */
		insert("INSERT INTO contexts (session, seq, t_ns, \"window\", pid, x, y, w, h, "
		       "sealed) VALUES (?2, 3, 100, 1, 1, 0, 0, 1, 1, ?1)", seal, "cx01", session, 3,
		       0, v, n, 0);
		raw_exec("INSERT INTO events (id, session, t_ns, kind, source, device, context, x, y, "
		         "detail, mods, amount) SELECT 1, id, 100, 7, 0, 0, 3, 0, 0, 0, 0, 0 FROM "
		         "sessions LIMIT 1");
		rc = store_events_foreach(st, session, on_event, NULL, &cause);
		check(rc, cause);
		break;
	case 2: /* a UI element: its sealed JSON, with the ancestors inside */
		insert("INSERT INTO elements (event_id, session, kind, status, source, t_ns, read_ns, "
		       "lookup_us, \"window\", pid, popup, states, x, y, w, h, sealed) VALUES (7, ?2, "
		       "1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ?1)", seal, "el01", session, 7, 0,
		       v, n, 0);
		rc = store_elements_foreach(st, session, on_element, NULL, &cause);
		check(rc, cause);
		cause = NULL;
		rc = store_element_get(st, session, 7, &el, &cause);
		check(rc, cause);
		break;
	case 3: /* a task description, sealed */
		insert("INSERT INTO tasks (session, t_ns, next_event, kind, sealed) VALUES (?2, 100, "
		       "1, 1, ?1)", seal, "tk01", session, 100, 0, v, n, 0);
		rc = store_tasks_foreach(st, session, on_task, NULL, &cause);
		check(rc, cause);
		break;
	case 4: /* a frame's patch list, plain text */
		insert("INSERT INTO frames (id, session, t_ns, trigger, blob, format, width, height, "
		       "bytes, base_id, patch, damage_x, damage_y, damage_w, damage_h, cursor_x, "
		       "cursor_y) VALUES (2, ?2, 1, 'pre', 'b', 'webp', 1, 1, 1, 1, ?1, 0, 0, 0, 0, "
		       "0, 0)", 0, NULL, 0, 0, 0, v, n, 1);
		rc = store_frames_foreach(st, session, on_frame, NULL, &cause);
		check(rc, cause);
		break;
	case 5: /* a scan's boxes and reason, plain text */
		insert("INSERT INTO frames (id, session, t_ns, trigger, blob, format, width, height, "
		       "bytes, damage_x, damage_y, damage_w, damage_h, cursor_x, cursor_y, scan, "
		       "scan_boxes, scan_reason) VALUES (2, ?2, 1, 'pre', 'b', 'webp', 1, 1, 1, 0, 0, "
		       "0, 0, 0, 0, 2, ?1, ?1)", 0, NULL, 0, 0, 0, v, n, 1);
		rc = store_frame_scan_get(st, 2, &scan, &boxes, &cause);
		check(rc, cause);
		free(boxes);
		break;
	case 6: /* the audit log's anchor, sealed */
		insert("INSERT OR REPLACE INTO audit_anchor (id, sealed) VALUES (1, ?1)", seal, "au01",
		       0, 1, 0, v, n, 0);
		rc = store_audit_anchor_get(st, &a, &cause);
		check(rc, cause);
		if (rc == 0 && (a.records < 0 || a.bytes < 0 || strlen(a.head) != STORE_HEX_LEN))
			die("anchor out of bounds", NULL);
		break;
	default: /* key text stored before encryption, plain and not necessarily UTF-8 */
		insert("INSERT INTO events (id, session, t_ns, kind, source, device, context, x, y, "
		       "detail, mods, amount, keysym, text) VALUES (1, ?2, 100, 1, 0, 0, 0, 0, 0, 0, "
		       "0, 0, ?1, ?1)", 0, NULL, 0, 0, 0, v, n, 1);
		rc = store_events_foreach(st, session, on_event, NULL, &cause);
		check(rc, cause);
		break;
	}
	raw_exec("DELETE FROM events; DELETE FROM contexts; DELETE FROM elements; "
	         "DELETE FROM tasks; DELETE FROM frames; DELETE FROM audit_anchor");
	return 0;
}
