/*
 * store_event: the events of a session and the window contexts they refer to,
 * written in one transaction with the frame records (store_write_all), and the
 * task markers between them (see store.h). What a person typed or read (key
 * text, window titles, a page's URL) is sealed on the way in and opened on the
 * way out (store_seal.c).
 */
#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "testbreak.h"
#include "util.h"

static int insert_context(struct store *st, int64_t session, const struct context *c)
{
	sqlite3_stmt *s = st->ins_context;
	int rc;

	{
		const int64_t cols[] = {
			session, c->seq, c->t_ns, c->window, c->pid, c->x, c->y, c->w, c->h,
		};

		store_bind_ints(s, 1, cols, sizeof cols / sizeof cols[0]);
	}
	store_bind_str(s, 10, c->wm_instance, sizeof(c->wm_instance));
	store_bind_str(s, 11, c->wm_class, sizeof(c->wm_class));
	store_bind_str(s, 13, c->exe, sizeof(c->exe));
	if (c->title[0] != '\0' && st->vault != NULL) {
		uint8_t sealed[sizeof(c->title) + VAULT_OVERHEAD];
		size_t n = strnlen(c->title, sizeof(c->title) - 1);

		store_seal_row(st, "cx01", session, c->seq, 0, c->title, n, sealed);
		sqlite3_bind_text(s, 12, "", 0, SQLITE_STATIC);
		sqlite3_bind_blob(s, 14, sealed, (int)vault_sealed_len(n), SQLITE_TRANSIENT);
	} else {
		store_bind_str(s, 12, c->title, sizeof(c->title));
		sqlite3_bind_null(s, 14);
	}
	/* A page's URL is sealed or not stored: there is no plain column for it. */
	if (c->url[0] != '\0' && testbreak("page-url-unsealed")) {
		sqlite3_bind_blob(s, 15, c->url, (int)strnlen(c->url, sizeof(c->url) - 1),
		                  SQLITE_TRANSIENT);
	} else if (c->url[0] != '\0' && st->vault != NULL) {
		uint8_t sealed[sizeof(c->url) + VAULT_OVERHEAD];
		size_t n = strnlen(c->url, sizeof(c->url) - 1);

		store_seal_row(st, "cu01", session, c->seq, 0, c->url, n, sealed);
		sqlite3_bind_blob(s, 15, sealed, (int)vault_sealed_len(n), SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_null(s, 15);
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

	store_bind_id(s, 1, e->id);
	{
		const int64_t cols[] = {
			session, e->t_ns, e->kind, e->source, e->device, e->context, e->x, e->y,
		};

		store_bind_ints(s, 2, cols, sizeof cols / sizeof cols[0]);
	}
	sqlite3_bind_int64(s, 11, e->mods);
	sqlite3_bind_double(s, 12, e->amount);
	if (store_event_sensitive(e) && st->vault != NULL && !testbreak("key-text-unsealed")) {
		/* The keycode, keysym and text of a key say what was typed: sealed. */
		uint8_t sealed[STORE_EVENT_SEALED_MAX];
		size_t n = store_event_seal(st, session, e, sealed);

		sqlite3_bind_int(s, 10, 0);
		sqlite3_bind_text(s, 13, "", 0, SQLITE_STATIC);
		sqlite3_bind_text(s, 14, "", 0, SQLITE_STATIC);
		sqlite3_bind_blob(s, 15, sealed, (int)n, SQLITE_TRANSIENT);
	} else {
		sqlite3_bind_int(s, 10, e->detail);
		store_bind_str(s, 13, e->keysym, sizeof(e->keysym));
		store_bind_str(s, 14, e->text, sizeof(e->text));
		sqlite3_bind_null(s, 15);
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc;
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
		if (store_event_sensitive(&evs[i])) {
			err = store_vault(st, NULL, cause);
			if (err != 0)
				return err;
		}
	}
	for (size_t i = 0; i < nctx && st->vault == NULL; i++) {
		if (ctxs[i].title[0] != '\0' || ctxs[i].url[0] != '\0') {
			err = store_vault(st, NULL, cause);
			if (err != 0)
				return err;
		}
	}
	err = store_prepare_cached(st, &st->ins_event, "INSERT INTO events (id, session, t_ns, "
	                           "kind, source, device, context, x, y, detail, mods, amount, "
	                           "keysym, text, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	                           "?, ?, ?, ?)", cause);
	if (err != 0)
		return err;
	/* A context seen again (same seq) replaces the first copy instead of failing the batch. */
	err = store_prepare_cached(st, &st->ins_context, "INSERT OR REPLACE INTO contexts "
	                           "(session, seq, t_ns, \"window\", pid, x, y, w, h, wm_instance, "
	                           "wm_class, title, exe, sealed, url_sealed) VALUES (?, ?, ?, ?, ?, "
	                           "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", cause);
	if (err != 0)
		return err;
	if (nfr > 0) {
		err = store_frame_prepare(st, cause);
		if (err != 0)
			return err;
	}

	rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_db_fail(st, cause, rc, "cannot store events");
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
		rc = store_frame_insert(st, session, &frs[i]);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	return 0;
fail:
	err = store_db_fail(st, cause, rc, "cannot store events");
	store_rollback(st);
	return err;
}

int store_next_event_id(struct store *st, int64_t *id, char **cause)
{
	return store_next_id(st, "SELECT coalesce(max(id), 0) + 1 FROM events", "event", id, cause);
}

int store_session_counts(struct store *st, int64_t session, int64_t counts[EVENT_KIND_MAX_],
                         char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	for (int k = 0; k < EVENT_KIND_MAX_; k++)
		counts[k] = 0;
	err = store_prepare(st, "SELECT kind, count(*) FROM events WHERE session = ? GROUP BY "
	                    "kind", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t kind = sqlite3_column_int64(stmt, 0);
		if (kind >= 0 && kind < EVENT_KIND_MAX_)
			counts[kind] = sqlite3_column_int64(stmt, 1);
	}
	err = store_done_or_fail(st, rc, "cannot count events", cause);
	sqlite3_finalize(stmt);
	return err;
}

/* Opens a context's sealed URL into c. */
static int url_unseal(struct store *st, int64_t session, struct context *c, const void *blob,
                      size_t len, char **cause)
{
	size_t n = 0;
	int err;

	err = store_unseal_row(st, "a page's URL", "cu01", session, c->seq, 0, blob, len,
	                       c->url, sizeof(c->url) - 1, &n, cause);
	if (err != 0)
		return err;
	c->url[n] = '\0';
	return 0;
}

/* Opens a context's sealed title into c. */
static int title_unseal(struct store *st, int64_t session, struct context *c, const void *blob,
                        size_t len, char **cause)
{
	size_t n = 0;
	int err;

	err = store_unseal_row(st, "a window title", "cx01", session, c->seq, 0, blob, len,
	                       c->title, sizeof(c->title) - 1, &n, cause);
	if (err != 0)
		return err;
	c->title[n] = '\0';
	return 0;
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
	err = store_prepare(st, "SELECT e.id, e.t_ns, e.kind, e.source, e.device, e.context, "
	                    "e.x, e.y, e.detail, e.mods, e.amount, e.keysym, e.text, c.seq, c.t_ns, "
	                    "c.\"window\", c.pid, c.x, c.y, c.w, c.h, c.wm_instance, c.wm_class, "
	                    "c.title, c.exe, e.sealed, c.sealed, c.url_sealed "
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
		store_column_str(stmt, 11, ev.keysym, sizeof(ev.keysym));
		store_column_str(stmt, 12, ev.text, sizeof(ev.text));
		if (sqlite3_column_type(stmt, 25) == SQLITE_BLOB) {
			err = store_event_unseal(st, session, &ev, sqlite3_column_blob(stmt, 25),
			                   (size_t)sqlite3_column_bytes(stmt, 25), cause);
			if (err != 0)
				goto fail;
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
			store_column_str(stmt, 21, ctx->wm_instance, sizeof(ctx->wm_instance));
			store_column_str(stmt, 22, ctx->wm_class, sizeof(ctx->wm_class));
			store_column_str(stmt, 23, ctx->title, sizeof(ctx->title));
			store_column_str(stmt, 24, ctx->exe, sizeof(ctx->exe));
			if (sqlite3_column_type(stmt, 26) == SQLITE_BLOB) {
				err = title_unseal(st, session, ctx, sqlite3_column_blob(stmt, 26),
				                   (size_t)sqlite3_column_bytes(stmt, 26), cause);
				if (err != 0)
					goto fail;
			}
			if (sqlite3_column_type(stmt, 27) == SQLITE_BLOB) {
				err = url_unseal(st, session, ctx, sqlite3_column_blob(stmt, 27),
				                 (size_t)sqlite3_column_bytes(stmt, 27), cause);
				if (err != 0)
					goto fail;
			}
		}
		err = fn(id, &ev, has_ctx ? ctx : NULL, arg);
		if (err != 0)
			goto fail;
	}
	err = store_done_or_fail(st, rc, "cannot read events", cause);
fail:
	free(ctx);
	sqlite3_finalize(stmt);
	return err;
}

/* Binds one task marker row; its description, what a person wrote, is sealed. */
static void bind_task(struct store *st, sqlite3_stmt *stmt, int64_t session, const void *row)
{
	const struct store_task *t = row;
	uint8_t sealed[STORE_TASK_DESC_MAX + VAULT_OVERHEAD];
	size_t dn = strnlen(t->description, sizeof(t->description) - 1);

	sqlite3_bind_int64(stmt, 1, session);
	sqlite3_bind_int64(stmt, 2, t->t_ns);
	sqlite3_bind_int64(stmt, 3, t->next_event);
	sqlite3_bind_int(stmt, 4, t->kind);
	sqlite3_bind_int(stmt, 5, t->outcome);
	store_seal_row(st, "tk01", session, t->t_ns, 0, t->description, dn, sealed);
	sqlite3_bind_blob(stmt, 6, sealed, (int)vault_sealed_len(dn), SQLITE_TRANSIENT);
}

int store_write_tasks(struct store *st, int64_t session, const struct store_task *tasks,
                      size_t n, char **cause)
{
	/* Descriptions are what a person wrote: sealed (docs/PRIVACY.md). */
	return store_write_rows(st, session, "INSERT INTO tasks (session, t_ns, next_event, kind, "
	                        "outcome, description, sealed) VALUES (?, ?, ?, ?, ?, '', ?)",
	                        tasks, n, sizeof(*tasks), bind_task, "cannot store task markers",
	                        cause);
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
	err = store_prepare(st, "SELECT id, t_ns, next_event, kind, outcome, description, sealed "
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
		store_column_str(stmt, 5, t->description, sizeof(t->description));
		if (sqlite3_column_type(stmt, 6) == SQLITE_BLOB) {
			void *plain = NULL;
			size_t pn = 0;

			err = store_unseal(st, "tk01", session, t->t_ns, sqlite3_column_blob(stmt, 6),
			                   (size_t)sqlite3_column_bytes(stmt, 6), &plain, &pn, cause);
			if (err != 0)
				goto fail;
			util_strlcpy_utf8(t->description, plain, sizeof(t->description));
			free(plain);
		}
		err = fn(t, arg);
		if (err != 0)
			goto fail;
	}
	err = store_done_or_fail(st, rc, "cannot read task markers", cause);
fail:
	free(t);
	sqlite3_finalize(stmt);
	return err;
}
