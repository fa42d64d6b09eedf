/*
 * steps: reads an export's steps.jsonl (see steps.h). Only what replay and eval
 * use is taken from each line; the rest of the step is left alone, so that an
 * export with more fields (a newer mimic) still reads.
 */
#include "steps.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* The computer-use actions an export writes or an agent may answer (docs/AGENTS.md). */
static const struct {
	const char *name;
	unsigned need;             /* NEED_* arguments */
} actions[] = {
	{ "left_click", 1 }, { "right_click", 1 }, { "middle_click", 1 }, { "double_click", 1 },
	{ "triple_click", 1 }, { "mouse_move", 1 }, { "left_click_drag", 1 | 2 },
	{ "scroll", 1 | 4 }, { "type", 8 }, { "key", 8 }, { "hold_key", 8 | 16 },
	{ "wait", 16 }, { "screenshot", 0 }, { "cursor_position", 0 },
};
#define NEED_XY 1
#define NEED_FROM 2
#define NEED_SCROLL 4
#define NEED_TEXT 8
#define NEED_DURATION 16

const char *steps_action_name(const json_t *cu)
{
	return json_string_value(json_object_get(cu, "action"));
}

static int check_xy(const json_t *cu, const char *key, int32_t w, int32_t h, char **cause)
{
	const json_t *v = json_object_get(cu, key);
	json_int_t x, y;

	if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(json_array_get(v, 0)) ||
	    !json_is_integer(json_array_get(v, 1)))
		return util_fail(cause, -EINVAL, "%s needs %s [x, y], two integers",
		                 steps_action_name(cu), key);
	x = json_integer_value(json_array_get(v, 0));
	y = json_integer_value(json_array_get(v, 1));
	if (x < 0 || y < 0 || (w > 0 && (x >= w || y >= h)))
		return util_fail(cause, -EINVAL, "%s [%lld, %lld] is off the screen (%dx%d)", key,
		                 (long long)x, (long long)y, (int)w, (int)h);
	return 0;
}

int steps_check_action(const json_t *cu, int32_t w, int32_t h, char **cause)
{
	const char *name = steps_action_name(cu);
	unsigned need = 0;
	size_t i;
	int rc = 0;

	if (!json_is_object(cu) || name == NULL)
		return util_fail(cause, -EINVAL, "the action is not an object with a string \"action\"");
	for (i = 0; i < sizeof actions / sizeof actions[0]; i++)
		if (strcmp(name, actions[i].name) == 0)
			break;
	if (i == sizeof actions / sizeof actions[0]) {
		char *shown = util_escape_ctl(name);

		rc = util_fail(cause, -EINVAL, "unknown action '%.60s' (left_click, right_click, "
		               "middle_click, double_click, triple_click, mouse_move, left_click_drag, "
		               "scroll, type, key, hold_key, wait)", shown);
		free(shown);
		return rc;
	}
	need = actions[i].need;
	if ((need & NEED_XY) && (rc = check_xy(cu, "coordinate", w, h, cause)) != 0)
		return rc;
	if ((need & NEED_FROM) && (rc = check_xy(cu, "start_coordinate", w, h, cause)) != 0)
		return rc;
	if (need & NEED_SCROLL) {
		const char *d = json_string_value(json_object_get(cu, "scroll_direction"));
		const json_t *n = json_object_get(cu, "scroll_amount");

		if (d == NULL || (strcmp(d, "up") && strcmp(d, "down") && strcmp(d, "left") &&
		                  strcmp(d, "right")))
			return util_fail(cause, -EINVAL, "scroll needs scroll_direction up, down, left "
			                 "or right");
		if (!json_is_integer(n) || json_integer_value(n) < 1 || json_integer_value(n) > 100)
			return util_fail(cause, -EINVAL, "scroll needs scroll_amount, an integer from 1 "
			                 "to 100");
	}
	if ((need & NEED_TEXT) && !json_is_string(json_object_get(cu, "text")))
		return util_fail(cause, -EINVAL, "%s needs text, a string (it is null when the export "
		                 "could not scan it)", name);
	if (need & NEED_DURATION) {
		const json_t *d = json_object_get(cu, "duration");

		if (!json_is_number(d) || json_number_value(d) < 0 || json_number_value(d) > 86400)
			return util_fail(cause, -EINVAL, "%s needs duration, a number of seconds", name);
	}
	return 0;
}

int steps_has_placeholder(const char *text)
{
	for (const char *p = text; p != NULL && (p = strchr(p, '<')) != NULL; p++) {
		const char *q = p + 1;

		while ((*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_')
			q++;
		if (q > p + 1 && *q == '>' && p[1] >= 'A' && p[1] <= 'Z')
			return 1;
		/* A sensitive field's text: "<FIELD:Date of birth>" (docs/REDACTION.md). */
		if (q == p + 6 && strncmp(p + 1, "FIELD:", 6) == 0 && strchr(q, '>') != NULL)
			return 1;
	}
	return 0;
}

/* A string member, copied; NULL when absent or not a string. */
static char *str_member(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? util_xstrdup(s) : NULL;
}

/* Fills st from one step object; 0, or -EINVAL with *cause (without the file and line). */
static int read_step(const json_t *o, struct steps_step *st, char **cause)
{
	const json_t *v, *act, *el;

	if (!json_is_object(o))
		return util_fail(cause, -EINVAL, "not a step (a JSON object is expected)");
	v = json_object_get(o, "step");
	if (!json_is_string(json_object_get(o, "episode")) || !json_is_integer(v) ||
	    json_integer_value(v) < 0)
		return util_fail(cause, -EINVAL, "not a step of `mimic export`: it needs \"episode\" "
		                 "(a string) and \"step\" (an integer from 0)");
	st->episode = str_member(o, "episode");
	st->step = json_integer_value(v);
	v = json_object_get(o, "t_ms");
	if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1e12)
		return util_fail(cause, -EINVAL, "\"t_ms\" must be a number of milliseconds from 0");
	st->t_ms = json_number_value(v);
	st->task = str_member(o, "task");
	st->app = str_member(o, "app");
	st->window_title = str_member(o, "window_title");
	st->kind = str_member(o, "kind");
	st->interaction = str_member(o, "interaction");
	st->image_pre = str_member(json_object_get(o, "images"), "pre");
	if (st->image_pre != NULL && (st->image_pre[0] == '/' || strstr(st->image_pre, "..")))
		return util_fail(cause, -EINVAL, "images.pre must be a path inside the export");
	st->redacted = json_is_true(json_object_get(o, "redacted"));
	v = json_object_get(o, "screen");
	if (json_is_array(v) && json_array_size(v) == 2) {
		json_int_t w = json_integer_value(json_array_get(v, 0));
		json_int_t h = json_integer_value(json_array_get(v, 1));

		if (w < 1 || h < 1 || w > 65535 || h > 65535)
			return util_fail(cause, -EINVAL, "\"screen\" must be [width, height] in pixels");
		st->screen_w = (int32_t)w;
		st->screen_h = (int32_t)h;
	}
	el = json_object_get(o, "element");
	if (json_is_string(json_object_get(el, "role")) &&
	    json_string_value(json_object_get(el, "role"))[0] != '\0') {
		st->el_role = str_member(el, "role");
		st->el_name = str_member(el, "name");
	}
	el = json_object_get(el, "bounds");
	if (json_is_array(el) && json_array_size(el) == 4) {
		for (int i = 0; i < 4; i++) {
			json_int_t b = json_integer_value(json_array_get(el, (size_t)i));

			st->box[i] = b < -65535 ? -65535 : b > 65535 ? 65535 : (int32_t)b;
		}
		st->has_box = st->box[2] > 0 && st->box[3] > 0;
	}
	act = json_object_get(json_object_get(o, "action"), "computer_use");
	if (json_object_get(o, "action") == NULL)
		return util_fail(cause, -EINVAL, "the step has no \"action\"");
	if (act == NULL || json_is_null(act))
		return 0;
	if (steps_check_action(act, st->screen_w, st->screen_h, cause) != 0)
		return -EINVAL;
	st->action = json_deep_copy(act);
	return 0;
}

static void step_clear(struct steps_step *st)
{
	free(st->episode);
	free(st->task);
	free(st->app);
	free(st->window_title);
	free(st->kind);
	free(st->interaction);
	free(st->image_pre);
	free(st->image_tar);
	free(st->el_role);
	free(st->el_name);
	json_decref(st->action);
}

void steps_free(struct steps *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		step_clear(&s->v[i]);
	free(s->v);
	free(s);
}

int steps_parse(const char *buf, size_t len, const char *name, struct steps **out, char **cause)
{
	struct steps *s = util_xcalloc(1, sizeof *s);
	size_t cap = 0, pos = 0;
	int line = 0, rc = 0;

	*out = NULL;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - (buf + pos)) : len - pos;
		json_error_t jerr;
		json_t *o;
		char *why = NULL;

		line++;
		if (n > STEPS_LINE_MAX) {
			rc = util_fail(cause, -EINVAL, "%s:%d: the line is over %d bytes: not a step of "
			               "`mimic export`", name, line, STEPS_LINE_MAX);
			goto fail;
		}
		if (n == 0 || (n == 1 && buf[pos] == '\r')) {
			pos += n + 1;
			continue;
		}
		o = json_loadb(buf + pos, n, JSON_REJECT_DUPLICATES, &jerr);
		if (o == NULL) {
			rc = util_fail(cause, -EINVAL, "%s:%d: not JSON (%s): steps.jsonl holds one step "
			               "object per line, as `mimic export --format jsonl` writes it", name,
			               line, jerr.text);
			goto fail;
		}
		if (s->n == cap) {
			cap = cap ? cap * 2 : 64;
			s->v = util_xrealloc(s->v, cap * sizeof *s->v);
		}
		memset(&s->v[s->n], 0, sizeof s->v[0]);
		s->v[s->n].line = line;
		rc = read_step(o, &s->v[s->n], &why);
		s->n++;
		json_decref(o);
		if (rc != 0) {
			char *shown = util_escape_ctl(why ? why : "?");

			rc = util_fail(cause, -EINVAL, "%s:%d: %s", name, line, shown);
			free(shown);
			free(why);
			goto fail;
		}
		pos += n + 1;
	}
	if (s->n == 0) {
		rc = util_fail(cause, -EINVAL, "%s: no steps: the export is empty", name);
		goto fail;
	}
	*out = s;
	return 0;
fail:
	steps_free(s);
	return rc;
}

/* --- WebDataset shards ------------------------------------------------------------ */

#define TAR_BLOCK 512

/* A member of a shard that may be an image. */
struct member {
	char name[101];
	int shard;
	int64_t off, len;
};

struct shards {
	char **paths;
	int n;
	struct member *m;
	size_t n_m, cap_m;
	char *json;                /* the .json members, one per line */
	size_t len, cap;
};

static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* The size field of a tar header (octal, or base-256 with the high bit set); -1 if bad. */
static int64_t tar_size(const unsigned char *h)
{
	int64_t v = 0;

	if (h[124] & 0x80) {
		for (int i = 1; i < 12; i++) {
			if (v > (INT64_MAX >> 8))
				return -1;
			v = (v << 8) | h[124 + i];
		}
		return v;
	}
	for (int i = 0; i < 12 && h[124 + i] != '\0' && h[124 + i] != ' '; i++) {
		if (h[124 + i] < '0' || h[124 + i] > '7' || v > (INT64_MAX >> 3))
			return -1;
		v = v * 8 + (h[124 + i] - '0');
	}
	return v;
}

/* Reads the members of one shard into sh. 0, or a negative error with *cause. */
static int read_shard(struct shards *sh, int idx, char **cause)
{
	const char *path = sh->paths[idx];
	unsigned char h[TAR_BLOCK];
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
	int64_t off = 0;

	if (fd < 0)
		return util_fail(cause, -errno, "%s: %s", path, strerror(errno));
	for (;;) {
		char name[101];
		int64_t size, padded;
		size_t nl;

		if (read_full(fd, h, sizeof h) != 0) {
			rc = util_fail(cause, -EINVAL, "%s: the tar file ends inside a header: not a "
			               "shard of `mimic export --format webdataset`", path);
			break;
		}
		off += TAR_BLOCK;
		if (h[0] == '\0')
			break;     /* the end-of-archive blocks */
		size = tar_size(h);
		if (size < 0) {
			rc = util_fail(cause, -EINVAL, "%s: a member's size is unreadable: not a tar "
			               "file", path);
			break;
		}
		padded = (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
		memcpy(name, h, 100);
		name[100] = '\0';
		nl = strlen(name);
		if ((h[156] == '0' || h[156] == '\0') && nl > 5 && strcmp(name + nl - 5, ".json") == 0) {
			if (size > STEPS_LINE_MAX) {
				rc = util_fail(cause, -EINVAL, "%s: member %s is over %d bytes: not a step",
				               path, name, STEPS_LINE_MAX);
				break;
			}
			if (sh->len + (size_t)size + 1 > STEPS_FILE_MAX) {
				rc = util_fail(cause, -EFBIG, "%s: the shards' steps are over %zu bytes; "
				               "evaluate a smaller export", path, STEPS_FILE_MAX);
				break;
			}
			if (sh->len + (size_t)size + 1 > sh->cap) {
				sh->cap = (sh->len + (size_t)size + 1) * 2;
				sh->json = util_xrealloc(sh->json, sh->cap);
			}
			if (read_full(fd, sh->json + sh->len, (size_t)size) != 0) {
				rc = util_fail(cause, -EINVAL, "%s: member %s is cut short", path, name);
				break;
			}
			/* One member, one line: a newline inside would make two. */
			for (int64_t i = 0; i < size; i++)
				if (sh->json[sh->len + (size_t)i] == '\n')
					sh->json[sh->len + (size_t)i] = ' ';
			sh->len += (size_t)size;
			sh->json[sh->len++] = '\n';
			if (padded > size && lseek(fd, padded - size, SEEK_CUR) < 0) {
				rc = util_fail(cause, -errno, "%s: %s", path, strerror(errno));
				break;
			}
		} else {
			if (h[156] == '0' || h[156] == '\0') {
				if (sh->n_m == sh->cap_m) {
					sh->cap_m = sh->cap_m ? sh->cap_m * 2 : 64;
					sh->m = util_xrealloc(sh->m, sh->cap_m * sizeof *sh->m);
				}
				memcpy(sh->m[sh->n_m].name, name, sizeof name);
				sh->m[sh->n_m].shard = idx;
				sh->m[sh->n_m].off = off;
				sh->m[sh->n_m].len = size;
				sh->n_m++;
			}
			if (lseek(fd, padded, SEEK_CUR) < 0) {
				rc = util_fail(cause, -errno, "%s: %s", path, strerror(errno));
				break;
			}
		}
		off += padded;
	}
	close(fd);
	return rc;
}

/* Reads DIR/shard-NNNNNN.tar from 0 up; -ENOENT when there is not even the first. */
static int load_shards(const char *dir, struct steps **out, char **cause)
{
	struct shards sh = { 0 };
	char *name = NULL;
	int rc = 0;

	for (;;) {
		char *p = util_xasprintf("%s/shard-%06d.tar", dir, sh.n);

		if (access(p, F_OK) != 0) {
			free(p);
			break;
		}
		sh.paths = util_xrealloc(sh.paths, (size_t)(sh.n + 1) * sizeof *sh.paths);
		sh.paths[sh.n++] = p;
	}
	if (sh.n == 0) {
		rc = -ENOENT;
		goto fail;
	}
	for (int i = 0; i < sh.n && rc == 0; i++)
		rc = read_shard(&sh, i, cause);
	if (rc != 0)
		goto fail;
	name = util_xasprintf("%s/shard-*.tar", dir);
	if ((rc = steps_parse(sh.json != NULL ? sh.json : "", sh.len, name, out, cause)) != 0)
		goto fail;
	/* Each step's image: the member its images.pre names. */
	for (size_t i = 0; i < (*out)->n; i++) {
		struct steps_step *st = &(*out)->v[i];

		for (size_t j = 0; st->image_pre != NULL && j < sh.n_m; j++) {
			if (strcmp(sh.m[j].name, st->image_pre) == 0) {
				st->image_tar = util_xstrdup(sh.paths[sh.m[j].shard]);
				st->image_off = sh.m[j].off;
				st->image_len = sh.m[j].len;
				break;
			}
		}
		if (st->image_tar == NULL) {
			free(st->image_pre);
			st->image_pre = NULL;
		}
	}
fail:
	for (int i = 0; i < sh.n; i++)
		free(sh.paths[i]);
	free(sh.paths);
	free(sh.m);
	free(sh.json);
	free(name);
	return rc;
}

int steps_extract_image(const struct steps_step *st, const char *path, char **cause)
{
	char buf[65536];
	int64_t left = st->image_len;
	int in = -1, out = -1, rc = 0;

	if (st->image_tar == NULL)
		return util_fail(cause, -ENOENT, "the step has no image in a shard");
	in = open(st->image_tar, O_RDONLY | O_CLOEXEC);
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (in < 0 || out < 0 || lseek(in, st->image_off, SEEK_SET) < 0) {
		rc = util_fail(cause, -errno, "%s: %s", in < 0 ? st->image_tar : path,
		               strerror(errno));
		goto fail;
	}
	while (left > 0) {
		size_t n = left > (int64_t)sizeof buf ? sizeof buf : (size_t)left;

		if (read_full(in, buf, n) != 0 || write(out, buf, n) != (ssize_t)n) {
			rc = util_fail(cause, -EIO, "cannot copy %s out of %s", st->image_pre,
			               st->image_tar);
			goto fail;
		}
		left -= (int64_t)n;
	}
fail:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

/* --- the JSON Lines form ------------------------------------------------------------ */

int steps_load(const char *dir, struct steps **out, char **cause)
{
	char *path = util_xasprintf("%s/steps.jsonl", dir);
	char *buf = NULL;
	struct stat sb;
	size_t got = 0;
	int fd = -1, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if ((rc = load_shards(dir, out, cause)) != -ENOENT)
			goto fail;
		errno = ENOENT;
	}
	if (fd < 0 || fstat(fd, &sb) != 0) {
		rc = util_fail(cause, -ENOENT, "%s: %s: give the folder `mimic export --format jsonl "
		               "(or webdataset) --out DIR` wrote", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		rc = util_fail(cause, -EINVAL, "%s is not a file: give the folder `mimic export "
		               "--format jsonl --out DIR` wrote", path);
		goto fail;
	}
	if ((size_t)sb.st_size > STEPS_FILE_MAX) {
		rc = util_fail(cause, -EFBIG, "%s is over %zu bytes; replay or evaluate a smaller "
		               "export (mimic export --session ...)", path, STEPS_FILE_MAX);
		goto fail;
	}
	buf = util_xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	rc = steps_parse(buf, got, path, out, cause);
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
	return rc;
}
