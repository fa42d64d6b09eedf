/*
 * store_int.h: what the files of the store module share and nobody else sees.
 *
 * store.h is the interface. The module is one connection (struct store, below)
 * and one file per concern, all including this header:
 *
 *   store.c          opening, the schema and its migrations, closing, the key,
 *                    and the helpers every query uses (errors, binding, reading)
 *   store_session.c  sessions, input devices and consent
 *   store_event.c    events and window contexts (store_write_all), task markers
 *   store_frame.c    frame records and their redaction scans
 *   store_element.c  UI elements
 *   store_forget.c   forgetting, compacting, space used and the blob names in use
 *   store_seal.c     encryption of rows at rest: the one place rows are sealed
 *                    and opened (store_seal_row, store_unseal_row)
 *   store_audit.c    the sealed anchor of the audit log
 *   store_intervention.c  the takeovers of an agent run (docs/AGENTS.md)
 *   store_upload.c   what the fleet uploaded, and the deletions to send it
 */
#ifndef MIMIC_STORE_INT_H
#define MIMIC_STORE_INT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "store.h"
#include "vault.h"

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

/* --- store.c: helpers of every query ------------------------------------------------ */

/* Fails with the mapped code of rc and a cause "<what> in <path>: <sqlite message>". */
int store_db_fail(struct store *st, char **cause, int rc, const char *what);

/* Prepares sql into *stmt (NULL on failure). */
int store_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt, char **cause);

/*
 * Prepares sql into *stmt once for the connection's life (closed by
 * store_close); does nothing when *stmt is already prepared.
 */
int store_prepare_cached(struct store *st, sqlite3_stmt **stmt, const char *sql, char **cause);

/* Runs SQL that returns no rows (or whose rows do not matter). */
int store_exec(struct store *st, const char *sql, const char *what, char **cause);

/*
 * The end of a statement's run: 0 when rc, its last step, is SQLITE_DONE, else
 * store_db_fail of what. Loops over rows end with it once sqlite3_step stops
 * giving rows.
 */
int store_done_or_fail(struct store *st, int rc, const char *what, char **cause);

/* Runs a statement that returns no rows (INSERT, UPDATE): its one step must end it. */
int store_step_done(struct store *st, sqlite3_stmt *stmt, const char *what, char **cause);

/* Rolls back the transaction in progress, if any (on a failure path). */
void store_rollback(struct store *st);

/*
 * Binds a fixed-size string field without reading past its array, even when the
 * producer forgot the terminating NUL.
 */
int store_bind_str(sqlite3_stmt *stmt, int i, const char *s, size_t max);

/* Copies column i as text into dst (n bytes), "" for NULL, cut at a UTF-8 boundary. */
void store_column_str(sqlite3_stmt *stmt, int i, char *dst, size_t n);

/*
 * Steps a query that answers one row: 0 when it gave the row, 1 when it gave
 * none, else fails with what.
 */
int store_step_row(struct store *st, sqlite3_stmt *stmt, const char *what, char **cause);

/* Binds an id, or NULL when it is 0 (none: the store assigns one, or it refers to nothing). */
int store_bind_id(sqlite3_stmt *stmt, int i, int64_t id);

/*
 * Binds the integers v[0..n-1] to the parameters first, first + 1, ...: a row's
 * run of integer columns in one call, in the order of the statement's columns.
 */
void store_bind_ints(sqlite3_stmt *stmt, int first, const int64_t *v, size_t n);

/* Binds the parameters of one row of store_write_rows. */
typedef void store_bind_row_fn(struct store *st, sqlite3_stmt *stmt, int64_t session,
                               const void *row);

/*
 * Stores n rows of a session (rows: an array of n items of size bytes) in one
 * transaction, running sql once per row after bind bound it. The rows hold what a
 * person produced, so bind seals it: the vault is opened first (store_vault). No
 * rows: nothing is done. On failure nothing is stored and the cause reads
 * "<what> in <path>: ...".
 */
int store_write_rows(struct store *st, int64_t session, const char *sql, const void *rows,
                     size_t n, size_t size, store_bind_row_fn *bind, const char *what,
                     char **cause);

/*
 * The id after the largest one in use, by a "SELECT coalesce(max(id), 0) + 1 ..."
 * query; what names the kind of row for the message.
 */
int store_next_id(struct store *st, const char *sql, const char *what, int64_t *id /* OUT */,
                  char **cause);

/*
 * Deletes the reserve beside the database (STORE_RESERVE_NAME), giving its room
 * to the next write. Returns 0 when there was one to release, else -ENOENT.
 */
int store_reserve_release(struct store *st);

/* --- store_frame.c: the frame rows of store_write_all ---------------------------------- */

/* Prepares the cached statement store_frame_insert runs. */
int store_frame_prepare(struct store *st, char **cause);

/* Inserts one frame record; returns the SQLite result code (SQLITE_DONE when stored). */
int store_frame_insert(struct store *st, int64_t session, const struct store_frame *f);

/* --- store_seal.c: encryption at rest ------------------------------------------------ */

/*
 * The associated data of a sealed value names its row: tag (4 characters, the
 * kind of row: "ev01" events, "cx01" context titles, "cu01" context URLs, "tk01"
 * task descriptions, "el01" UI elements), the session, a (the row's time or id) and b (0, or an
 * event's kind), so that a sealed value copied into another row does not open.
 */

/*
 * Seals len bytes of plain for that row into out (vault_sealed_len(len) bytes).
 * The key must be loaded (store_vault).
 */
void store_seal_row(const struct store *st, const char tag[4], int64_t session, int64_t a,
                    int32_t b, const void *plain, size_t len, uint8_t *out);

/*
 * Loads the key when needed and opens the sealed value of that row into out
 * (at most cap bytes), setting *outlen. -EBADMSG, with the cause of
 * store_unseal_fail, when it does not open or would be longer than cap.
 */
int store_unseal_row(struct store *st, const char *what, const char tag[4], int64_t session,
                     int64_t a, int32_t b, const void *sealed, size_t len, void *out,
                     size_t cap, size_t *outlen /* OUT */, char **cause);

/* -EBADMSG: "<what> of session <session> in <path> does not decrypt with the key in ...". */
int store_unseal_fail(struct store *st, const char *what, int64_t session, char **cause);

/* Most bytes of an event's sealed part (keycode, keysym and text with their lengths). */
#define STORE_EVENT_PAYLOAD_MAX (4 + 1 + EVENT_KEYSYM_MAX + 1 + EVENT_TEXT_MAX)
#define STORE_EVENT_SEALED_MAX (STORE_EVENT_PAYLOAD_MAX + VAULT_OVERHEAD)

/* True when an event carries what a person typed: key events and any key text. */
int store_event_sensitive(const struct event *e);

/*
 * Seals an event's keycode, keysym and text into sealed and returns its length.
 * The key must be loaded (store_vault).
 */
size_t store_event_seal(const struct store *st, int64_t session, const struct event *e,
                        uint8_t sealed[STORE_EVENT_SEALED_MAX]);

/* Opens an event's sealed part into e. -EBADMSG when it does not open. */
int store_event_unseal(struct store *st, int64_t session, struct event *e, const void *blob,
                       size_t len, char **cause);

#endif
