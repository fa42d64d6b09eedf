/*
 * forget: deleting recorded data without leaving a trace in the data
 * directory's files, on request and by the retention limits (see forget.h).
 */
#include "forget.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/file.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "blob.h"
#include "encode.h"
#include "pixels.h"
#include "log.h"
#include "paths.h"
#include "testbreak.h"
#include "util.h"

static int cmp_name(const void *key, const void *elem)
{
	return strcmp((const char *)key, *(char *const *)elem);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* True when name is 62 lowercase hex digits, then a dot and an extension or nothing. */
static int blob_file_name(const char *name)
{
	size_t i;

	for (i = 0; i < BLOB_HEX_LEN - 2; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return name[i] == '\0' || name[i] == '.';
}

/* Deletes the files of one frames subdirectory ("ab") that no frame names. */
static int sweep_sub(const char *sub, const char *prefix, char **names, size_t n,
                     time_t newest, struct forget_result *res, char **cause)
{
	DIR *d = opendir(sub);
	struct dirent *de;
	int rc = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : util_fail(cause, -errno, "cannot read %s: %s", sub,
		                                      strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char hex[BLOB_HEX_LEN + 1], *path;
		struct stat sb;
		int tmp = strncmp(de->d_name, ".tmp-", 5) == 0;

		if (!tmp && !blob_file_name(de->d_name))
			continue;
		if (!tmp) {
			memcpy(hex, prefix, 2);
			memcpy(hex + 2, de->d_name, BLOB_HEX_LEN - 2);
			hex[BLOB_HEX_LEN] = '\0';
			/* With no frame left, names is NULL, which bsearch may not be given. */
			if (n > 0 && bsearch(hex, names, n, sizeof(*names), cmp_name) != NULL)
				continue;
		}
		path = util_xasprintf("%s/%s", sub, de->d_name);
		if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_mtime <= newest) {
			if (unlink(path) == 0) {
				res->files++;
				res->file_bytes += sb.st_size;
			} else if (errno != ENOENT) {
				rc = util_fail(cause, -errno, "cannot delete %s: %s", path,
				               strerror(errno));
			}
		}
		free(path);
		if (rc != 0)
			break;
	}
	closedir(d);
	rmdir(sub); /* only when empty */
	return rc;
}

int forget_sweep(struct store *st, const char *data_dir, int64_t min_age_s,
                 struct forget_result *res, char **cause)
{
	char *fdir = util_xasprintf("%s/frames", data_dir);
	char **names = NULL;
	size_t n = 0;
	DIR *d = NULL;
	struct dirent *de;
	time_t newest = min_age_s > 0 ? time(NULL) - (time_t)min_age_s : (time_t)INT64_MAX;
	int rc;

	rc = store_blob_names(st, &names, &n, cause);
	if (rc != 0)
		goto fail;
	d = opendir(fdir);
	if (d == NULL) {
		if (errno != ENOENT)
			rc = util_fail(cause, -errno, "cannot read %s: %s", fdir, strerror(errno));
		goto fail;
	}
	while ((de = readdir(d)) != NULL) {
		char *sub;

		if (strlen(de->d_name) != 2 || strspn(de->d_name, "0123456789abcdef") != 2)
			continue;
		sub = util_xasprintf("%s/%s", fdir, de->d_name);
		rc = sweep_sub(sub, de->d_name, names, n, newest, res, cause);
		free(sub);
		if (rc != 0)
			break;
	}
fail:
	if (d != NULL)
		closedir(d);
	free_names(names, n);
	free(fdir);
	return rc;
}

/* Adds the sizes of the regular files under dir (two levels, as the blob layout). */
static int64_t dir_bytes(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int64_t total = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		struct stat sb;
		char *p;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		p = util_xasprintf("%s/%s", dir, de->d_name);
		if (lstat(p, &sb) == 0) {
			if (S_ISREG(sb.st_mode))
				total += sb.st_size;
			else if (S_ISDIR(sb.st_mode) && depth > 0)
				total += dir_bytes(p, depth - 1);
		}
		free(p);
	}
	closedir(d);
	return total;
}

int forget_data_bytes(struct store *st, const char *data_dir, int64_t *bytes, char **cause)
{
	char *fdir = util_xasprintf("%s/frames", data_dir);
	int64_t db = 0;
	int rc;

	rc = store_used_bytes(st, &db, cause);
	*bytes = db + dir_bytes(fdir, 1);
	free(fdir);
	return rc;
}

/*
 * A range inside one session is deleted: the first frame after it may be a patch
 * over frames of the range (docs/FRAMES.md), and with them gone every patch up to
 * the next key frame would go too, taking the screenshots of steps that were to
 * be kept. That frame becomes a key frame first: its whole screen, put together
 * now, encoded in its own format and stored as a new blob.
 */
static int rebase_after(struct store *st, const char *data_dir, const struct store_forget *spec,
                        char **cause)
{
	struct store_session ss;
	struct store_frame fr;
	struct pixels *px = NULL;
	struct encode *enc = NULL;
	struct encode_params ep;
	enum encode_format fmt;
	const struct image *img;
	const uint8_t *data;
	struct blob *b;
	char hex[BLOB_HEX_LEN + 1];
	size_t len;
	int64_t id;
	int rc;

	if (spec->session <= 0 || spec->to_wall_ns == INT64_MAX)
		return 0;
	rc = store_session_get(st, spec->session, &ss, cause);
	if (rc == 0)
		rc = store_frame_first_from(st, spec->session,
		                            ss.start_mono_ns + (spec->to_wall_ns - ss.start_wall_ns),
		                            &id, cause);
	if (rc != 0 || id == 0)
		return rc;
	rc = store_frame_get(st, spec->session, id, &fr, cause);
	if (rc != 0 || fr.base_id == 0)
		return rc;
	if (encode_format_parse(fr.format, &fmt) != 0)
		return util_fail(cause, -EINVAL, "frame %lld has an unknown format", (long long)id);
	px = pixels_open(data_dir, st);
	rc = pixels_frame(px, spec->session, &fr, &img, cause);
	if (rc == 0)
		rc = encode_new(&enc, cause);
	if (rc == 0) {
		encode_params_default(&ep, fmt);
		rc = encode_image(enc, img, &ep, &data, &len, cause);
	}
	if (rc == 0)
		rc = pixels_blobs(px, fr.format, BLOB_WRITE, &b, cause);
	if (rc == 0)
		rc = blob_put(b, data, len, hex, cause);
	if (rc == 0)
		rc = store_frame_set_key(st, spec->session, id, hex, (int64_t)len, cause);
	encode_free(enc);
	pixels_close(px);
	return rc;
}

int forget_run(struct store *st, const char *data_dir, const struct store_forget *spec,
               struct forget_result *res, char **cause)
{
	int rc;

	memset(res, 0, sizeof(*res));
	rc = rebase_after(st, data_dir, spec, cause);
	if (rc == 0)
		rc = store_forget(st, spec, &res->rows, cause);
	if (rc == 0 && !testbreak("forget-keeps-frame-files"))
		rc = forget_sweep(st, data_dir, 0, res, cause);
	if (rc == 0)
		rc = store_compact(st, cause);
	return rc;
}

int forget_locked(const char *data_dir, const struct store_forget *spec, const char *what,
                  struct forget_result *res, char **cause)
{
	char *lock = util_xasprintf("%s/recorder.lock", data_dir), *details = NULL;
	struct store *st = NULL;
	json_t *o;
	int fd, rc;

	memset(res, 0, sizeof(*res));
	fd = paths_open_private(lock, O_RDWR, cause);
	if (fd < 0) {
		rc = fd;
		goto fail;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		rc = util_fail(cause, -EBUSY, "a recorder is writing to %s; stop it (mimic stop) "
		               "and try again", data_dir);
		goto fail;
	}
	rc = store_open(data_dir, 0, &st, cause);
	if (rc != 0)
		goto fail;
	rc = forget_run(st, data_dir, spec, res, cause);
	if (rc != 0)
		goto fail;
	o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "what", what,
	              "sessions", (json_int_t)res->rows.sessions,
	              "events", (json_int_t)res->rows.events, "frames", (json_int_t)res->rows.frames,
	              "windows", (json_int_t)res->rows.contexts,
	              "derived", (json_int_t)res->rows.other, "files", (json_int_t)res->files);
	details = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	rc = audit_append(data_dir, "forget", details, cause);
fail:
	free(details);
	store_close(st);
	if (fd >= 0)
		close(fd);
	free(lock);
	return rc;
}

struct oldest {
	int64_t keep;
	int64_t id;
	int64_t start_wall;
	int64_t count;
};

static int find_oldest(const struct store_session *s, void *arg)
{
	struct oldest *o = arg;

	if (s->id == o->keep)
		return 0;
	o->count++;
	if (o->id == 0) {
		o->id = s->id;
		o->start_wall = s->start_wall_ns;
	}
	return 0;
}

static void add_counts(struct store_forget_counts *a, const struct store_forget_counts *b)
{
	a->sessions += b->sessions;
	a->events += b->events;
	a->frames += b->frames;
	a->contexts += b->contexts;
	a->other += b->other;
}

int forget_retention(struct store *st, const char *data_dir, const struct forget_limits *lim,
                     int64_t keep_session, struct forget_result *res, char **cause)
{
	struct store_forget_counts c;
	int64_t now = util_now_wall_ns(), bytes = 0;
	int deleted = 0, rc;

	memset(res, 0, sizeof(*res));
	rc = forget_data_bytes(st, data_dir, &bytes, cause);
	if (rc != 0)
		return rc;
	res->bytes_before = bytes;
	if (lim->max_age_ns > 0) {
		struct store_forget f = { 0, INT64_MIN, now - lim->max_age_ns, keep_session };

		rc = store_forget(st, &f, &c, cause);
		if (rc != 0)
			return rc;
		add_counts(&res->rows, &c);
		deleted = c.events + c.frames + c.contexts + c.sessions + c.other > 0;
		if (deleted) {
			rc = forget_sweep(st, data_dir, FORGET_SWEEP_MIN_AGE_S, res, cause);
			if (rc != 0)
				return rc;
		}
	}
	/* At most 64 rounds: each removes a session or a tenth of the one being recorded. */
	for (int round = 0; lim->max_bytes > 0 && round < 64; round++) {
		struct oldest o = { keep_session, 0, 0, 0 };
		struct store_forget f;

		rc = forget_data_bytes(st, data_dir, &bytes, cause);
		if (rc != 0)
			return rc;
		if (bytes <= lim->max_bytes)
			break;
		rc = store_sessions_foreach(st, find_oldest, &o, cause);
		if (rc != 0)
			return rc;
		if (o.id != 0) {
			f = (struct store_forget){ o.id, INT64_MIN, INT64_MAX, keep_session };
		} else if (keep_session > 0) {
			struct store_session s;

			rc = store_session_get(st, keep_session, &s, cause);
			if (rc != 0)
				return rc;
			/* Only the session being recorded is left: its oldest tenth goes. */
			f = (struct store_forget){ keep_session, INT64_MIN,
			                           s.start_wall_ns + (now - s.start_wall_ns) / 10 + 1,
			                           keep_session };
		} else {
			break;
		}
		rc = store_forget(st, &f, &c, cause);
		if (rc != 0)
			return rc;
		add_counts(&res->rows, &c);
		rc = forget_sweep(st, data_dir, keep_session > 0 ? FORGET_SWEEP_MIN_AGE_S : 0, res,
		                  cause);
		if (rc != 0)
			return rc;
		if (c.events + c.frames + c.contexts + c.sessions + c.other > 0)
			deleted = 1;
		else if (o.id == 0)
			break; /* nothing more can go */
	}
	if (deleted || res->files > 0) {
		rc = store_compact(st, cause);
		if (rc != 0)
			return rc;
	}
	rc = forget_data_bytes(st, data_dir, &res->bytes_after, cause);
	return rc;
}
