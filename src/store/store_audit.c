/*
 * store_audit: the anchor of the audit log (store.h, audit.h). The log is a
 * plain file anyone with the person's rights can cut; its record count, byte
 * length and head hash after each append are kept here, in one row sealed
 * with the data directory's key, so that a cut log no longer matches and a
 * forged anchor does not open.
 *
 * The sealed plaintext is 48 bytes: records and bytes as little-endian 64-bit
 * integers, then the 32 bytes of the head hash.
 */
#include "store.h"

#include <errno.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "util.h"

#define ANCHOR_PLAIN 48
#define ANCHOR_TAG "au01"

static void put64(uint8_t *p, int64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)((uint64_t)v >> (8 * i));
}

static int64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return (int64_t)v;
}

int store_audit_anchor_set(struct store *st, const struct store_audit_anchor *a, char **cause)
{
	uint8_t plain[ANCHOR_PLAIN], sealed[ANCHOR_PLAIN + VAULT_OVERHEAD];
	sqlite3_stmt *stmt = NULL;
	size_t hl = 0;
	int err;

	if (a->records < 0 || a->bytes < 0 ||
	    sodium_hex2bin(plain + 16, 32, a->head, strlen(a->head), NULL, &hl, NULL) != 0 ||
	    hl != 32)
		return util_fail(cause, -EINVAL, "the audit log's anchor is not valid");
	put64(plain, a->records);
	put64(plain + 8, a->bytes);
	err = store_vault(st, NULL, cause);
	if (err != 0)
		return err;
	store_seal_row(st, ANCHOR_TAG, 0, 1, 0, plain, sizeof(plain), sealed);
	err = store_prepare(st, "INSERT OR REPLACE INTO audit_anchor (id, sealed) VALUES (1, ?)",
	                    &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_blob(stmt, 1, sealed, (int)sizeof(sealed), SQLITE_STATIC);
	err = store_step_done(st, stmt, "cannot store the audit log's anchor", cause);
	sqlite3_finalize(stmt);
	return err;
}

int store_audit_anchor_get(struct store *st, struct store_audit_anchor *out, char **cause)
{
	uint8_t plain[ANCHOR_PLAIN];
	sqlite3_stmt *stmt = NULL;
	size_t n = 0;
	int err;

	memset(out, 0, sizeof(*out));
	err = store_prepare(st, "SELECT sealed FROM audit_anchor WHERE id = 1", &stmt, cause);
	if (err != 0)
		return err;
	err = store_step_row(st, stmt, "cannot read the audit log's anchor", cause);
	if (err > 0) {
		err = util_fail(cause, -ENOENT, "%s holds no anchor of the audit log", st->path);
		goto fail;
	}
	if (err != 0)
		goto fail;
	err = store_unseal_row(st, "the audit log's anchor", ANCHOR_TAG, 0, 1, 0,
	                       sqlite3_column_blob(stmt, 0),
	                       (size_t)sqlite3_column_bytes(stmt, 0), plain, sizeof(plain), &n,
	                       cause);
	/* No key.id although a sealed row exists: the key is what is missing. */
	if (err == -ENOENT)
		err = -ENOKEY;
	if (err == 0) {
		out->records = get64(plain);
		out->bytes = get64(plain + 8);
		if (n != sizeof(plain) || out->records < 0 || out->bytes < 0)
			err = -EBADMSG;
	}
	if (err == -EBADMSG) {
		if (cause != NULL) {
			free(*cause);
			*cause = NULL;
		}
		err = util_fail(cause, -EBADMSG, "the audit log's anchor in %s does not decrypt "
		                "with the key in %s (damaged, replaced, or another key)", st->path,
		                vault_where(st->vault));
	}
	if (err != 0)
		goto fail;
	sodium_bin2hex(out->head, sizeof(out->head), plain + 16, 32);
fail:
	sqlite3_finalize(stmt);
	return err;
}
