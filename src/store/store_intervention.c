/*
 * store_intervention: the interventions of agent runs (docs/AGENTS.md): the span
 * in which a person took over from `mimic agent serve`, how it was handed back,
 * and the agent's first refused call, which is sealed (it may hold text the
 * agent meant to type).
 */
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "util.h"

/* Binds one intervention row; the agent's pending call is sealed. */
const char *store_handback_name(int handback)
{
	switch (handback) {
	case STORE_HANDBACK_COMMAND: return "command";
	case STORE_HANDBACK_IDLE: return "idle";
	case STORE_HANDBACK_AGENT_GONE: return "agent_gone";
	case STORE_HANDBACK_STOPPED: return "recording_ended";
	default: return "unknown";
	}
}

static void bind_intervention(struct store *st, sqlite3_stmt *stmt, int64_t session,
                              const void *row)
{
	const struct store_intervention *iv = row;
	uint8_t sealed[STORE_ACTION_MAX + VAULT_OVERHEAD];
	size_t n = strnlen(iv->pending, sizeof(iv->pending) - 1);
	int64_t ints[6] = { session, iv->t_ns, iv->end_ns, iv->first_event, iv->end_event,
	                    iv->handback };

	store_bind_ints(stmt, 1, ints, 6);
	sqlite3_bind_int(stmt, 7, iv->refused);
	if (n == 0) {
		sqlite3_bind_null(stmt, 8);
		return;
	}
	store_seal_row(st, "iv01", session, iv->t_ns, 0, iv->pending, n, sealed);
	sqlite3_bind_blob(stmt, 8, sealed, (int)vault_sealed_len(n), SQLITE_TRANSIENT);
}

int store_write_interventions(struct store *st, int64_t session,
                              const struct store_intervention *iv, size_t n, char **cause)
{
	return store_write_rows(st, session, "INSERT INTO interventions (session, t_ns, end_ns, "
	                        "first_event, end_event, handback, refused, sealed) "
	                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", iv, n, sizeof(*iv),
	                        bind_intervention, "cannot store interventions", cause);
}

int store_interventions_foreach(struct store *st, int64_t session,
                                int (*fn)(const struct store_intervention *iv, void *arg),
                                void *arg, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	struct store_intervention *iv;
	int rc, err;

	/* A read-only connection to an older file has no interventions table. */
	if (st->readonly && st->version_found < 12)
		return 0;
	err = store_prepare(st, "SELECT id, t_ns, end_ns, first_event, end_event, handback, "
	                    "refused, sealed FROM interventions WHERE session = ? ORDER BY id",
	                    &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	iv = util_xmalloc(sizeof(*iv));
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		memset(iv, 0, sizeof(*iv));
		iv->id = sqlite3_column_int64(stmt, 0);
		iv->t_ns = sqlite3_column_int64(stmt, 1);
		iv->end_ns = sqlite3_column_int64(stmt, 2);
		iv->first_event = sqlite3_column_int64(stmt, 3);
		iv->end_event = sqlite3_column_int64(stmt, 4);
		iv->handback = sqlite3_column_int(stmt, 5);
		iv->refused = sqlite3_column_int(stmt, 6);
		if (sqlite3_column_type(stmt, 7) == SQLITE_BLOB) {
			size_t pn = 0;

			err = store_unseal_row(st, "an intervention", "iv01", session, iv->t_ns, 0,
			                       sqlite3_column_blob(stmt, 7),
			                       (size_t)sqlite3_column_bytes(stmt, 7), iv->pending,
			                       sizeof(iv->pending) - 1, &pn, cause);
			if (err != 0)
				goto fail;
			iv->pending[pn] = '\0';
		}
		err = fn(iv, arg);
		if (err != 0)
			goto fail;
	}
	err = store_done_or_fail(st, rc, "cannot read interventions", cause);
fail:
	free(iv);
	sqlite3_finalize(stmt);
	return err;
}
