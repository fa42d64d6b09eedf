/*
 * store_seal: encryption of rows at rest (vault.h, docs/PRIVACY.md). Every row
 * the store seals or opens goes through store_seal_row and store_unseal_row,
 * whose associated data names the row; store_seal and store_unseal are the same
 * for the rows of other modules, and store_seal_plain seals what older versions
 * stored in the clear.
 */
#include "store.h"

#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "util.h"

/* The associated data of a sealed value: what kind of row it is and where (store_int.h). */
static size_t seal_ad(uint8_t ad[28], const char tag[4], int64_t session, int64_t a, int32_t b)
{
	memcpy(ad, tag, 4);
	memcpy(ad + 4, &session, 8);
	memcpy(ad + 12, &a, 8);
	memcpy(ad + 20, &b, 4);
	return 24;
}

void store_seal_row(const struct store *st, const char tag[4], int64_t session, int64_t a,
                    int32_t b, const void *plain, size_t len, uint8_t *out)
{
	uint8_t ad[28];

	assert(st->vault != NULL);
	vault_seal(st->vault, ad, seal_ad(ad, tag, session, a, b), plain, len, out);
}

int store_unseal_fail(struct store *st, const char *what, int64_t session, char **cause)
{
	return util_fail(cause, -EBADMSG, "%s of session %lld in %s does not decrypt with the key "
	                 "in %s (damaged, or another key)", what, (long long)session, st->path,
	                 vault_where(st->vault));
}

int store_unseal_row(struct store *st, const char *what, const char tag[4], int64_t session,
                     int64_t a, int32_t b, const void *sealed, size_t len, void *out,
                     size_t cap, size_t *outlen, char **cause)
{
	uint8_t ad[28];
	size_t adlen = seal_ad(ad, tag, session, a, b);
	int err;

	*outlen = 0;
	err = store_vault(st, NULL, cause);
	if (err != 0)
		return err;
	if (len < VAULT_OVERHEAD || len - VAULT_OVERHEAD > cap ||
	    vault_unseal(st->vault, ad, adlen, sealed, len, out, outlen) != 0)
		return store_unseal_fail(st, what, session, cause);
	return 0;
}

int store_seal(struct store *st, const char tag[4], int64_t session, int64_t where,
               const void *plain, size_t len, void **out, size_t *outlen, char **cause)
{
	int err;

	*out = NULL;
	*outlen = 0;
	err = store_vault(st, NULL, cause);
	if (err != 0)
		return err;
	*outlen = vault_sealed_len(len);
	*out = util_xmalloc(*outlen);
	store_seal_row(st, tag, session, where, 0, plain, len, *out);
	return 0;
}

int store_unseal(struct store *st, const char tag[4], int64_t session, int64_t where,
                 const void *sealed, size_t len, void **out, size_t *outlen, char **cause)
{
	size_t cap = len >= VAULT_OVERHEAD ? len - VAULT_OVERHEAD : 0;
	int err;

	*out = util_xmalloc(cap + 1);
	err = store_unseal_row(st, "a record", tag, session, where, 0, sealed, len, *out, cap,
	                       outlen, cause);
	if (err != 0) {
		free(*out);
		*out = NULL;
		return err;
	}
	((uint8_t *)*out)[*outlen] = 0;
	return 0;
}

int store_event_sensitive(const struct event *e)
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

size_t store_event_seal(const struct store *st, int64_t session, const struct event *e,
                        uint8_t sealed[STORE_EVENT_SEALED_MAX])
{
	uint8_t p[STORE_EVENT_PAYLOAD_MAX];
	size_t n = event_payload(e, p);

	/* The kind is part of the row's name: a key press does not open as a release. */
	store_seal_row(st, "ev01", session, e->t_ns, e->kind, p, n, sealed);
	sodium_memzero(p, sizeof(p));
	return vault_sealed_len(n);
}

int store_event_unseal(struct store *st, int64_t session, struct event *e, const void *blob,
                       size_t len, char **cause)
{
	uint8_t p[STORE_EVENT_PAYLOAD_MAX];
	size_t n = 0, ks, tx;
	int err;

	err = store_unseal_row(st, "an event", "ev01", session, e->t_ns, e->kind, blob, len, p,
	                       sizeof(p), &n, cause);
	if (err != 0)
		return err;
	if (n < 6)
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
	sodium_memzero(p, sizeof(p));
	return store_unseal_fail(st, "an event", session, cause);
}

/*
 * Seals a row read by seal_rows: binds the sealed value and the row's key to
 * upd from the row of sel.
 */
typedef void seal_row_fn(struct store *st, sqlite3_stmt *sel, sqlite3_stmt *upd);

/*
 * Runs upd for each row select finds, after seal bound it, in the transaction
 * under way; adds the rows changed to *count.
 */
static int seal_rows(struct store *st, const char *select, const char *update,
                     seal_row_fn *seal, int64_t *count, char **cause)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	int rc, err;

	err = store_prepare(st, select, &sel, cause);
	if (err == 0)
		err = store_prepare(st, update, &upd, cause);
	if (err != 0)
		goto fail;
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		seal(st, sel, upd);
		rc = sqlite3_step(upd);
		sqlite3_reset(upd);
		if (rc != SQLITE_DONE)
			break;
		(*count)++;
	}
	err = store_done_or_fail(st, rc, "cannot encrypt older records", cause);
fail:
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return err;
}

/* The kinds of key events, EVENT_KEY_PRESS and EVENT_KEY_RELEASE, as SQL. */
#define KEY_KINDS "1, 2"
_Static_assert(EVENT_KEY_PRESS == 1 && EVENT_KEY_RELEASE == 2, "KEY_KINDS names the key events");

/* An event stored before encryption: its keycode, keysym and text. */
static void seal_event(struct store *st, sqlite3_stmt *sel, sqlite3_stmt *upd)
{
	uint8_t sealed[STORE_EVENT_SEALED_MAX];
	struct event e;
	size_t len;

	memset(&e, 0, sizeof(e));
	e.t_ns = sqlite3_column_int64(sel, 2);
	e.kind = sqlite3_column_int(sel, 3);
	e.detail = sqlite3_column_int(sel, 4);
	store_column_str(sel, 5, e.keysym, sizeof(e.keysym));
	store_column_str(sel, 6, e.text, sizeof(e.text));
	len = store_event_seal(st, sqlite3_column_int64(sel, 1), &e, sealed);
	sqlite3_bind_blob(upd, 1, sealed, (int)len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(upd, 2, sqlite3_column_int64(sel, 0));
}

/* A window title stored before encryption. */
static void seal_title(struct store *st, sqlite3_stmt *sel, sqlite3_stmt *upd)
{
	uint8_t sealed[CONTEXT_STR_MAX + VAULT_OVERHEAD];
	const char *t = (const char *)sqlite3_column_text(sel, 2);
	size_t len = strnlen(t != NULL ? t : "", CONTEXT_STR_MAX - 1);
	int64_t session = sqlite3_column_int64(sel, 0), seq = sqlite3_column_int64(sel, 1);

	store_seal_row(st, "cx01", session, seq, 0, t != NULL ? t : "", len, sealed);
	sqlite3_bind_blob(upd, 1, sealed, (int)vault_sealed_len(len), SQLITE_TRANSIENT);
	sqlite3_bind_int64(upd, 2, session);
	sqlite3_bind_int64(upd, 3, seq);
}

int store_seal_plain(struct store *st, int64_t *n, char **cause)
{
	int64_t count = 0;
	int err;

	*n = 0;
	err = store_vault(st, NULL, cause);
	if (err != 0)
		return err;
	err = store_exec(st, "BEGIN IMMEDIATE", "cannot encrypt older records", cause);
	if (err != 0)
		return err;
	err = seal_rows(st, "SELECT id, session, t_ns, kind, detail, keysym, text FROM events "
	                "WHERE sealed IS NULL AND (kind IN (" KEY_KINDS ") OR keysym != '' OR "
	                "text != '')", "UPDATE events SET detail = 0, keysym = '', text = '', "
	                "sealed = ? WHERE id = ?", seal_event, &count, cause);
	if (err == 0)
		err = seal_rows(st, "SELECT session, seq, title FROM contexts WHERE sealed IS NULL "
		                "AND title != ''", "UPDATE contexts SET title = '', sealed = ? WHERE "
		                "session = ? AND seq = ?", seal_title, &count, cause);
	if (err == 0)
		err = store_exec(st, "COMMIT", "cannot encrypt older records", cause);
	if (err != 0)
		goto fail;
	*n = count;
	return 0;
fail:
	store_rollback(st);
	return err;
}
