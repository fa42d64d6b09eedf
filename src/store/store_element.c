/*
 * store_element: the UI elements of a session (docs/ELEMENTS.md), one row per
 * event, their names, descriptions, menu paths and URLs sealed (see store.h).
 */
#include "store.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "util.h"

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

/* Binds one element row; what the person could read of it is sealed into column 22. */
static void bind_element(struct store *st, sqlite3_stmt *s, int64_t session, const void *row)
{
	const struct store_element *e = row;
	char *anc = ancestors_to_json(e);
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "name", e->name, "label",
	                      e->label, "description", e->description, "ancestors", anc,
	                      "menu_path", e->menu_path, "url", e->url, "target", e->target);
	char *plain = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	size_t pn = plain != NULL ? strlen(plain) : 0;
	uint8_t *sealed = util_xmalloc(pn + VAULT_OVERHEAD);

	{
		const int64_t cols[] = {
			e->event_id, session, e->kind, e->status, e->source, e->t_ns, e->read_ns,
			e->lookup_us, e->window, e->pid, e->popup,
		};

		store_bind_ints(s, 1, cols, sizeof cols / sizeof cols[0]);
	}
	store_bind_str(s, 12, e->app, sizeof(e->app));
	store_bind_str(s, 13, e->role, sizeof(e->role));
	sqlite3_bind_int64(s, 14, (sqlite3_int64)e->states);
	store_bind_str(s, 15, e->state_names, sizeof(e->state_names));
	{
		const int64_t cols[] = {
			e->x, e->y, e->w, e->h,
		};

		store_bind_ints(s, 16, cols, sizeof cols / sizeof cols[0]);
	}
	store_bind_str(s, 20, e->shortcut, sizeof(e->shortcut));
	store_bind_str(s, 21, e->chord, sizeof(e->chord));
	store_seal_row(st, "el01", session, e->event_id, 0, plain != NULL ? plain : "", pn, sealed);
	sqlite3_bind_blob(s, 22, sealed, (int)vault_sealed_len(pn), SQLITE_TRANSIENT);
	if (plain != NULL)
		sodium_memzero(plain, pn);
	free(plain);
	free(sealed);
	json_decref(o);
	free(anc);
}

int store_write_elements(struct store *st, int64_t session, const struct store_element *els,
                         size_t n, char **cause)
{
	/* Names, labels, descriptions, menu paths and URLs are sealed (docs/PRIVACY.md). */
	return store_write_rows(st, session, "INSERT OR REPLACE INTO elements (event_id, "
	                        "session, kind, status, source, t_ns, read_ns, lookup_us, "
	                        "\"window\", pid, popup, app, role, name, label, description, "
	                        "states, state_names, x, y, w, h, ancestors, menu_path, shortcut, "
	                        "chord, url, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	                        "?, '', '', '', ?, ?, ?, ?, ?, ?, '[]', '', ?, ?, '', ?)", els, n,
	                        sizeof(*els), bind_element, "cannot store UI elements", cause);
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
	FIELD("target", e->target);
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
	store_column_str(stmt, 10, e->app, sizeof(e->app));
	store_column_str(stmt, 11, e->role, sizeof(e->role));
	store_column_str(stmt, 12, e->name, sizeof(e->name));
	store_column_str(stmt, 13, e->label, sizeof(e->label));
	store_column_str(stmt, 14, e->description, sizeof(e->description));
	e->states = (uint64_t)sqlite3_column_int64(stmt, 15);
	store_column_str(stmt, 16, e->state_names, sizeof(e->state_names));
	e->x = sqlite3_column_int(stmt, 17);
	e->y = sqlite3_column_int(stmt, 18);
	e->w = sqlite3_column_int(stmt, 19);
	e->h = sqlite3_column_int(stmt, 20);
	ancestors_from_json((const char *)sqlite3_column_text(stmt, 21), e);
	store_column_str(stmt, 22, e->menu_path, sizeof(e->menu_path));
	store_column_str(stmt, 23, e->shortcut, sizeof(e->shortcut));
	store_column_str(stmt, 24, e->chord, sizeof(e->chord));
	store_column_str(stmt, 25, e->url, sizeof(e->url));
}

int store_elements_foreach(struct store *st, int64_t session,
                           int (*fn)(const struct store_element *el, void *arg), void *arg,
                           char **cause)
{
	sqlite3_stmt *stmt = NULL;
	struct store_element *el;
	int rc, err;

	err = store_prepare(st, "SELECT " ELEMENT_COLUMNS " FROM elements WHERE session = ? "
	                    "ORDER BY event_id", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	el = util_xmalloc(sizeof(*el));
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		read_element(stmt, el);
		err = element_unseal(st, session, stmt, el, cause);
		if (err != 0)
			goto fail;
		err = fn(el, arg);
		if (err != 0)
			goto fail;
	}
	err = store_done_or_fail(st, rc, "cannot read UI elements", cause);
fail:
	free(el);
	sqlite3_finalize(stmt);
	return err;
}

int store_element_get(struct store *st, int64_t session, int64_t event_id,
                      struct store_element *out, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int rc, err;

	err = store_prepare(st, "SELECT " ELEMENT_COLUMNS " FROM elements WHERE event_id = ? "
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
		err = store_db_fail(st, cause, rc, "cannot read a UI element");
	}
	sqlite3_finalize(stmt);
	return err;
}
