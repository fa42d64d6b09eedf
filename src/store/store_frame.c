/*
 * store_frame: the frame records of a session (docs/FRAMES.md) and the
 * redaction scan of each (docs/REDACTION.md); see store.h.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"
#include "util.h"

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

int store_frame_prepare(struct store *st, char **cause)
{
	return store_prepare_cached(st, &st->ins_frame, "INSERT INTO frames (id, session, t_ns, "
	                            "trigger, event_id, blob, format, width, height, bytes, "
	                            "base_id, patch, damage_x, damage_y, damage_w, damage_h, "
	                            "cursor_x, cursor_y, cursor_name) VALUES (?, ?, ?, ?, ?, ?, ?, "
	                            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", cause);
}

int store_frame_insert(struct store *st, int64_t session, const struct store_frame *f)
{
	sqlite3_stmt *s = st->ins_frame;
	char patch[STORE_PATCH_MAX * 48 + 4];
	int rc;

	store_bind_id(s, 1, f->id);
	sqlite3_bind_int64(s, 2, session);
	sqlite3_bind_int64(s, 3, f->t_ns);
	store_bind_str(s, 4, f->trigger, sizeof(f->trigger));
	store_bind_id(s, 5, f->event_id);
	store_bind_str(s, 6, f->blob, sizeof(f->blob));
	store_bind_str(s, 7, f->format, sizeof(f->format));
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
	{
		const int64_t cols[] = {
			f->damage_x, f->damage_y, f->damage_w, f->damage_h, f->cursor_x, f->cursor_y,
		};

		store_bind_ints(s, 13, cols, sizeof cols / sizeof cols[0]);
	}
	store_bind_str(s, 19, f->cursor_name, sizeof(f->cursor_name));
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

int store_next_frame_id(struct store *st, int64_t *id, char **cause)
{
	return store_next_id(st, "SELECT coalesce(max(id), 0) + 1 FROM frames", "frame", id,
	                     cause);
}

#define FRAME_COLUMNS \
	"id, t_ns, trigger, event_id, blob, format, width, height, bytes, base_id, patch, " \
	"damage_x, damage_y, damage_w, damage_h, cursor_x, cursor_y, cursor_name"

static void read_frame(sqlite3_stmt *stmt, struct store_frame *f)
{
	memset(f, 0, sizeof(*f));
	f->id = sqlite3_column_int64(stmt, 0);
	f->t_ns = sqlite3_column_int64(stmt, 1);
	store_column_str(stmt, 2, f->trigger, sizeof(f->trigger));
	f->event_id = sqlite3_column_int64(stmt, 3); /* NULL reads as 0 */
	store_column_str(stmt, 4, f->blob, sizeof(f->blob));
	store_column_str(stmt, 5, f->format, sizeof(f->format));
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
	store_column_str(stmt, 17, f->cursor_name, sizeof(f->cursor_name));
}

int store_frames_foreach(struct store *st, int64_t session,
                         int (*fn)(const struct store_frame *fr, void *arg), void *arg,
                         char **cause)
{
	sqlite3_stmt *stmt = NULL;
	struct store_frame f;
	int rc, err;

	err = store_prepare(st, "SELECT " FRAME_COLUMNS " FROM frames WHERE session = ? "
	                    "ORDER BY id", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		read_frame(stmt, &f);
		err = fn(&f, arg);
		if (err != 0)
			goto fail;
	}
	err = store_done_or_fail(st, rc, "cannot read frames", cause);
fail:
	sqlite3_finalize(stmt);
	return err;
}

int store_frame_get(struct store *st, int64_t session, int64_t id, struct store_frame *out,
                    char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	err = store_prepare(st, "SELECT " FRAME_COLUMNS " FROM frames WHERE session = ? AND id = ?",
	                    &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	sqlite3_bind_int64(stmt, 2, id);
	err = store_step_row(st, stmt, "cannot read a frame", cause);
	if (err > 0)
		err = util_fail(cause, -ENOENT, "session %lld has no frame %lld", (long long)session,
		                (long long)id);
	if (err != 0)
		goto fail;
	read_frame(stmt, out);
	sqlite3_finalize(stmt);
	return 0;
fail:
	sqlite3_finalize(stmt);
	return err;
}

int store_frame_first_from(struct store *st, int64_t session, int64_t t_ns, int64_t *id,
                           char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	*id = 0;
	err = store_prepare(st, "SELECT id FROM frames WHERE session = ? AND t_ns >= ? "
	                    "ORDER BY id LIMIT 1", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, session);
	sqlite3_bind_int64(stmt, 2, t_ns);
	err = store_step_row(st, stmt, "cannot read a frame", cause);
	if (err == 0)
		*id = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return err > 0 ? 0 : err;
}

int store_frame_set_key(struct store *st, int64_t session, int64_t id, const char *hex,
                        int64_t bytes, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	err = store_prepare(st, "UPDATE frames SET blob = ?, bytes = ?, base_id = NULL, "
	                    "patch = NULL WHERE session = ? AND id = ?", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_text(stmt, 1, hex, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 2, bytes);
	sqlite3_bind_int64(stmt, 3, session);
	sqlite3_bind_int64(stmt, 4, id);
	err = store_step_done(st, stmt, "cannot update a frame", cause);
	if (err == 0 && sqlite3_changes(st->db) == 0)
		err = util_fail(cause, -ENOENT, "session %lld has no frame %lld",
		                (long long)session, (long long)id);
	sqlite3_finalize(stmt);
	return err;
}

int store_frame_scan_get(struct store *st, int64_t id, struct store_frame_scan *out,
                         char **boxes_json, char **cause)
{
	sqlite3_stmt *stmt = NULL;
	int err;

	if (boxes_json != NULL)
		*boxes_json = NULL;
	err = store_prepare(st, "SELECT scan, scan_reason, scan_boxes, scan_blob, scan_rules "
	                    "FROM frames WHERE id = ?", &stmt, cause);
	if (err != 0)
		return err;
	sqlite3_bind_int64(stmt, 1, id);
	err = store_step_row(st, stmt, "cannot read a frame's scan", cause);
	if (err > 0)
		err = util_fail(cause, -ENOENT, "there is no frame %lld", (long long)id);
	if (err != 0)
		goto fail;
	memset(out, 0, sizeof(*out));
	out->state = sqlite3_column_int(stmt, 0);
	store_column_str(stmt, 1, out->reason, sizeof(out->reason));
	store_column_str(stmt, 3, out->blob, sizeof(out->blob));
	store_column_str(stmt, 4, out->rules, sizeof(out->rules));
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

	err = store_prepare(st, "UPDATE frames SET scan = ?, scan_reason = ?, scan_boxes = ?, "
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
	err = store_step_done(st, stmt, "cannot store a frame's scan", cause);
	if (err == 0 && sqlite3_changes(st->db) == 0)
		err = util_fail(cause, -ENOENT, "there is no frame %lld", (long long)id);
	sqlite3_finalize(stmt);
	return err;
}
