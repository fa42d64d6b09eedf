/*
 * config: reads mimic's settings file with inih and checks every value (see
 * config.h and docs/CONFIG.md). The file is read by inifile, which counts lines
 * and refuses lines inih would cut and files larger than CONFIG_MAX_BYTES.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "inifile.h"
#include "paths.h"
#include "util.h"

/* The keys of [frames], in the order docs/CONFIG.md lists them. */
enum key {
	K_ENABLED, K_FORMAT, K_QUALITY, K_PATCHES, K_MIN_GAP, K_SETTLE, K_SETTLE_MAX, K_IDLE,
	K_TYPING_PAUSE, K_GRAB_INTERVAL, K_MASK_COLOR, K_KEEP, K_SCAN, K_COUNT_
};

static const char *const key_names[K_COUNT_] = {
	[K_ENABLED] = "enabled",
	[K_FORMAT] = "format",
	[K_QUALITY] = "quality",
	[K_PATCHES] = "patches",
	[K_MIN_GAP] = "min_gap_ms",
	[K_SETTLE] = "settle_ms",
	[K_SETTLE_MAX] = "settle_max_ms",
	[K_IDLE] = "idle_ms",
	[K_TYPING_PAUSE] = "typing_pause_ms",
	[K_GRAB_INTERVAL] = "grab_interval_ms",
	[K_MASK_COLOR] = "mask_color",
	[K_KEEP] = "keep",
	[K_SCAN] = "scan_while_recording",
};

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->frames.enabled = true;
	c->frames.format = ENCODE_WEBP;
	c->frames.quality = 75;
	c->frames.patches = true;
	c->frames.min_gap_ms = 200;
	c->frames.settle_ms = 300;
	c->frames.settle_max_ms = 2000;
	c->frames.idle_ms = 30000;
	c->frames.typing_pause_ms = 1000;
	c->frames.grab_interval_ms = 50;
	c->frames.mask_color = 0x000000;
	c->frames.keep_set = false;
	c->frames.n_keep = 0;
	c->retention.max_age_ns = INT64_C(30) * 24 * 3600 * 1000000000;
	c->retention.max_bytes = INT64_C(10) * 1000 * 1000 * 1000;
	c->retention.interval_ns = INT64_C(10) * 60 * 1000000000;
}

/* The keys of [retention]. */
enum rkey { R_MAX_AGE, R_MAX_SIZE, R_INTERVAL, R_COUNT_ };

static const char *const rkey_names[R_COUNT_] = {
	[R_MAX_AGE] = "max_age",
	[R_MAX_SIZE] = "max_size",
	[R_INTERVAL] = "check_interval",
};

struct parse {
	struct config *c;
	const char *path;
	struct inifile ini;    /* the reader: its line, the first error */
	int key_line[K_COUNT_]; /* where each key was set, 0 = not set */
	int rkey_line[R_COUNT_]; /* the same for [retention] */
	int xkey_line[CONFIG_EXPORT_COUNT_]; /* the same for [export] */
};

static void set_err(struct parse *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(struct parse *p, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	inifile_vfail(&p->ini, line, fmt, ap);
	va_end(ap);
}

/* A decimal integer in [lo, hi] with nothing after it. */
static int parse_int(const char *v, long lo, long hi, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (end == v || *end != '\0' || errno != 0 || n < lo || n > hi)
		return -EINVAL;
	*out = (int)n;
	return 0;
}

/* "#RRGGBB" into 0x00RRGGBB. */
static int parse_color(const char *v, uint32_t *out)
{
	uint32_t c = 0;

	if (v[0] != '#' || strlen(v) != 7)
		return -EINVAL;
	for (int i = 1; i < 7; i++) {
		char ch = v[i];
		uint32_t d;

		if (ch >= '0' && ch <= '9')
			d = (uint32_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (uint32_t)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			d = (uint32_t)(ch - 'A' + 10);
		else
			return -EINVAL;
		c = c << 4 | d;
	}
	*out = c;
	return 0;
}

/* "all", or one to CONFIG_KEEP_MAX rectangles "X,Y,W,H" separated by spaces. */
static int parse_keep(struct parse *p, const char *v)
{
	struct config_frames *fr = &p->c->frames;
	const char *s = v;

	if (strcasecmp(v, "all") == 0) {
		fr->keep_set = false;
		fr->n_keep = 0;
		return 0;
	}
	fr->keep_set = true;
	fr->n_keep = 0;
	while (*s != '\0') {
		long n[4];
		char *end;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		if (fr->n_keep == CONFIG_KEEP_MAX) {
			set_err(p, p->ini.line, "keep: at most %d rectangles", CONFIG_KEEP_MAX);
			return -EINVAL;
		}
		for (int i = 0; i < 4; i++) {
			errno = 0;
			n[i] = strtol(s, &end, 10);
			if (end == s || errno != 0 || n[i] < -65535 || n[i] > 65535 ||
			    (i < 3 && *end != ',') || (i == 3 && *end != '\0' && *end != ' ' &&
			                              *end != '\t')) {
				set_err(p, p->ini.line, "keep: '%s' is not a list of X,Y,W,H rectangles "
				        "(or \"all\")", v);
				return -EINVAL;
			}
			s = i < 3 ? end + 1 : end;
		}
		if (n[2] <= 0 || n[3] <= 0) {
			set_err(p, p->ini.line, "keep: rectangle %ld,%ld,%ld,%ld has no area", n[0], n[1],
			        n[2], n[3]);
			return -EINVAL;
		}
		fr->keep[fr->n_keep++] = (struct image_rect){(int32_t)n[0], (int32_t)n[1],
		                                            (uint32_t)n[2], (uint32_t)n[3]};
	}
	if (fr->n_keep == 0) {
		set_err(p, p->ini.line, "keep: empty; write \"all\" or X,Y,W,H rectangles");
		return -EINVAL;
	}
	return 0;
}

struct int_key {
	enum key k;
	long lo, hi;
	size_t off;
};

static const struct int_key int_keys[] = {
	{K_QUALITY, 1, 100, offsetof(struct config_frames, quality)},
	{K_MIN_GAP, 0, 60000, offsetof(struct config_frames, min_gap_ms)},
	{K_SETTLE, 10, 60000, offsetof(struct config_frames, settle_ms)},
	{K_SETTLE_MAX, 10, 600000, offsetof(struct config_frames, settle_max_ms)},
	{K_IDLE, 1000, 86400000, offsetof(struct config_frames, idle_ms)},
	{K_TYPING_PAUSE, 50, 60000, offsetof(struct config_frames, typing_pause_ms)},
	{K_GRAB_INTERVAL, 10, 10000, offsetof(struct config_frames, grab_interval_ms)},
};

/* Parses a size: a whole number of bytes with an optional K, M, G or T (powers of 1000) and B. */
static int parse_size(const char *v, int64_t *out)
{
	char *end = NULL;
	long long n;
	int64_t mul = 1;

	if (strcasecmp(v, "off") == 0) {
		*out = 0;
		return 0;
	}
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || n < 0)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mul = INT64_C(1000); end++; break;
	case 'm': case 'M': mul = INT64_C(1000000); end++; break;
	case 'g': case 'G': mul = INT64_C(1000000000); end++; break;
	case 't': case 'T': mul = INT64_C(1000000000000); end++; break;
	default: break;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	if (*end != '\0' || (n > 0 && mul > INT64_MAX / n))
		return -EINVAL;
	*out = (int64_t)n * mul;
	return 0;
}

static int retention_key(struct parse *p, const char *name, const char *value)
{
	struct config_retention *r = &p->c->retention;
	int k;

	for (k = 0; k < R_COUNT_; k++)
		if (strcmp(name, rkey_names[k]) == 0)
			break;
	if (k == R_COUNT_) {
		set_err(p, p->ini.line, "unknown key '%s' in [retention] (see docs/CONFIG.md)", name);
		return 0;
	}
	if (p->rkey_line[k] != 0) {
		set_err(p, p->ini.line, "'%s' is already set on line %d", name, p->rkey_line[k]);
		return 0;
	}
	p->rkey_line[k] = p->ini.line;
	switch (k) {
	case R_MAX_AGE:
		if (strcasecmp(value, "off") == 0 || strcmp(value, "0") == 0) {
			r->max_age_ns = 0;
		} else if (util_parse_duration(value, &r->max_age_ns) != 0 || r->max_age_ns < 0) {
			set_err(p, p->ini.line, "max_age: '%s' is not a duration such as 30d, 12h or off",
			        value);
			return 0;
		}
		return 1;
	case R_MAX_SIZE:
		if (parse_size(value, &r->max_bytes) != 0) {
			set_err(p, p->ini.line, "max_size: '%s' is not a size such as 10G, 500M or off",
			        value);
			return 0;
		}
		return 1;
	default:
		if (util_parse_duration(value, &r->interval_ns) != 0 ||
		    r->interval_ns < INT64_C(10) * 1000000000 ||
		    r->interval_ns > INT64_C(24) * 3600 * 1000000000) {
			set_err(p, p->ini.line, "check_interval: '%s' is not a duration from 10s to 24h",
			        value);
			return 0;
		}
		return 1;
	}
}

/* The keys of [export], with their ranges (the reducer checks the rest). */
static const struct {
	const char *name;
	long lo, hi;
} xkeys[CONFIG_EXPORT_COUNT_] = {
	[CONFIG_EXPORT_DOUBLE_CLICK_MS] = { "double_click_ms", 0, 10000 },
	[CONFIG_EXPORT_DOUBLE_CLICK_PX] = { "double_click_px", 0, 1000 },
	[CONFIG_EXPORT_DRAG_MIN_PX] = { "drag_min_px", 0, 1000 },
	[CONFIG_EXPORT_TYPE_GAP_MS] = { "type_gap_ms", 0, 60000 },
	[CONFIG_EXPORT_SCROLL_GAP_MS] = { "scroll_gap_ms", 0, 60000 },
	[CONFIG_EXPORT_WAIT_MS] = { "wait_ms", 0, 3600000 },
	[CONFIG_EXPORT_FOCUS_FOLLOW_MS] = { "focus_follow_ms", 0, 60000 },
	[CONFIG_EXPORT_PATH_MAX] = { "path_max", 2, 64 },
	[CONFIG_EXPORT_EPISODE_IDLE_MS] = { "episode_idle_ms", 1, 86400000 },
	[CONFIG_EXPORT_EPISODE_SPLIT_APP] = { "episode_split_app", 0, 1 },
};

const char *config_export_key_name(int key)
{
	return key >= 0 && key < CONFIG_EXPORT_COUNT_ ? xkeys[key].name : NULL;
}

static int export_key(struct parse *p, const char *name, const char *value)
{
	struct config_export *x = &p->c->export_;
	char *end;
	long v;
	int k;

	for (k = 0; k < CONFIG_EXPORT_COUNT_; k++)
		if (strcmp(name, xkeys[k].name) == 0)
			break;
	if (k == CONFIG_EXPORT_COUNT_) {
		set_err(p, p->ini.line, "unknown key '%s' in [export] (see docs/EXPORT.md)", name);
		return 0;
	}
	if (p->xkey_line[k] != 0) {
		set_err(p, p->ini.line, "'%s' is already set on line %d", name, p->xkey_line[k]);
		return 0;
	}
	p->xkey_line[k] = p->ini.line;
	if (k == CONFIG_EXPORT_EPISODE_SPLIT_APP) {
		bool b;

		if (util_parse_bool(value, &b) != 0) {
			set_err(p, p->ini.line, "%s: '%s' is not true or false", name, value);
			return 0;
		}
		v = b;
	} else {
		errno = 0;
		v = strtol(value, &end, 10);
		if (end == value || *end != '\0' || errno != 0 || v < xkeys[k].lo ||
		    v > xkeys[k].hi || (k == CONFIG_EXPORT_PATH_MAX && v % 2 != 0)) {
			set_err(p, p->ini.line, "%s: '%s' is not a whole number from %ld to %ld%s", name,
			        value, xkeys[k].lo, xkeys[k].hi,
			        k == CONFIG_EXPORT_PATH_MAX ? " (even)" : "");
			return 0;
		}
	}
	x->value[k] = (int)v;
	x->set_mask |= 1u << k;
	return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	struct config_frames *fr = &p->c->frames;
	int k;

	if (section[0] == '\0') {
		set_err(p, p->ini.line, "'%s' is outside a section; put it under [frames]", name);
		return 0;
	}
	if (strcmp(section, "retention") == 0)
		return retention_key(p, name, value);
	if (strcmp(section, "export") == 0)
		return export_key(p, name, value);
	if (strcmp(section, "frames") != 0) {
		set_err(p, p->ini.line, "unknown section [%s]; mimic knows [frames], [retention] and [export]",
		        section);
		return 0;
	}
	for (k = 0; k < K_COUNT_; k++)
		if (strcmp(name, key_names[k]) == 0)
			break;
	if (k == K_COUNT_) {
		set_err(p, p->ini.line, "unknown key '%s' in [frames] (see docs/CONFIG.md)", name);
		return 0;
	}
	if (p->key_line[k] != 0) {
		set_err(p, p->ini.line, "'%s' is already set on line %d", name, p->key_line[k]);
		return 0;
	}
	p->key_line[k] = p->ini.line;
	switch (k) {
	case K_ENABLED:
	case K_PATCHES:
	case K_SCAN:
		if (util_parse_bool(value, k == K_ENABLED ? &fr->enabled :
		                      k == K_PATCHES ? &fr->patches : &fr->scan) != 0) {
			set_err(p, p->ini.line, "%s: '%s' is not true or false", name, value);
			return 0;
		}
		return 1;
	case K_FORMAT:
		if (strcasecmp(value, "webp") == 0) {
			fr->format = ENCODE_WEBP;
		} else if (strcasecmp(value, "jpeg") == 0 || strcasecmp(value, "jpg") == 0) {
			fr->format = ENCODE_JPEG;
		} else {
			set_err(p, p->ini.line, "format: '%s' is not webp or jpeg", value);
			return 0;
		}
		return 1;
	case K_MASK_COLOR:
		if (parse_color(value, &fr->mask_color) != 0) {
			set_err(p, p->ini.line, "mask_color: '%s' is not a colour like #202020", value);
			return 0;
		}
		return 1;
	case K_KEEP:
		return parse_keep(p, value) == 0;
	default:
		break;
	}
	for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++) {
		if (int_keys[i].k != (enum key)k)
			continue;
		int *dst = (int *)(void *)((char *)fr + int_keys[i].off);
		if (parse_int(value, int_keys[i].lo, int_keys[i].hi, dst) != 0) {
			set_err(p, p->ini.line, "%s: '%s' is not a whole number from %ld to %ld", name,
			        value, int_keys[i].lo, int_keys[i].hi);
			return 0;
		}
		return 1;
	}
	set_err(p, p->ini.line, "internal error: key '%s' has no parser", name);
	return 0;
}

int config_load_file(const char *path, struct config *c, char **cause)
{
	struct parse p;
	FILE *f;
	int rc, err;

	config_defaults(c);
	memset(&p, 0, sizeof(p));
	p.c = c;
	p.path = path;
	err = inifile_open(path, "settings file", CONFIG_MAX_BYTES, &f, cause);
	if (err != 0)
		return err;
	inifile_init(&p.ini, f, CONFIG_MAX_BYTES, "");
	rc = inifile_parse(&p.ini, handler, &p);
	fclose(f);
	if (p.ini.err == NULL && rc > 0)
		set_err(&p, rc, "not a 'key = value' line, a [section] or a comment");
	if (p.ini.err == NULL && rc < 0)
		set_err(&p, p.ini.line, "out of memory");
	if (p.ini.err == NULL && c->frames.settle_max_ms < c->frames.settle_ms) {
		int line = p.key_line[K_SETTLE_MAX] > p.key_line[K_SETTLE] ?
		           p.key_line[K_SETTLE_MAX] : p.key_line[K_SETTLE];
		set_err(&p, line, "settle_max_ms (%d) is less than settle_ms (%d)",
		        c->frames.settle_max_ms, c->frames.settle_ms);
	}
	err = inifile_cause(&p.ini, path, cause);
	if (err != 0) {
		config_defaults(c);
		return err;
	}
	util_strlcpy_utf8(c->source, path, sizeof(c->source));
	return 0;
}

int config_user_path(char **out)
{
	return paths_config_file("mimic.conf", out);
}

int config_load(const char *path, struct config *c, char **cause)
{
	char *user = NULL;
	struct stat sb;
	int rc;

	if (path != NULL)
		return config_load_file(path, c, cause);
	config_defaults(c);
	if (config_user_path(&user) != 0)
		return 0;
	/* Only a file that is there counts; one we cannot even look at is not ours. */
	if (stat(user, &sb) != 0) {
		free(user);
		return 0;
	}
	rc = config_load_file(user, c, cause);
	free(user);
	return rc;
}

char *config_to_json(const struct config *c)
{
	const struct config_frames *fr = &c->frames;
	json_t *o = json_object(), *f, *keep;
	char color[8], *s;

	json_object_set_new(o, "source", c->source[0] ? json_string(c->source) : json_null());
	snprintf(color, sizeof(color), "#%06x", (unsigned)(fr->mask_color & 0xffffff));
	f = json_pack("{s:b,s:s,s:i,s:b,s:b,s:i,s:i,s:i,s:i,s:i,s:i,s:s}",
	              "enabled", (int)fr->enabled, "format", encode_format_name(fr->format),
	              "quality", fr->quality, "patches", (int)fr->patches,
	              "scan_while_recording", (int)fr->scan, "min_gap_ms", fr->min_gap_ms,
	              "settle_ms", fr->settle_ms, "settle_max_ms", fr->settle_max_ms,
	              "idle_ms", fr->idle_ms, "typing_pause_ms", fr->typing_pause_ms,
	              "grab_interval_ms", fr->grab_interval_ms, "mask_color", color);
	if (fr->keep_set) {
		keep = json_array();
		for (size_t i = 0; i < fr->n_keep; i++)
			json_array_append_new(keep, json_pack("[iiii]", (int)fr->keep[i].x,
			                                      (int)fr->keep[i].y, (int)fr->keep[i].w,
			                                      (int)fr->keep[i].h));
	} else {
		keep = json_string("all");
	}
	json_object_set_new(f, "keep", keep);
	json_object_set_new(o, "frames", f);
	json_object_set_new(o, "retention", json_pack("{s:I,s:I,s:I}",
	                    "max_age_s", (json_int_t)(c->retention.max_age_ns / 1000000000),
	                    "max_bytes", (json_int_t)c->retention.max_bytes,
	                    "check_interval_s",
	                    (json_int_t)(c->retention.interval_ns / 1000000000)));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		s = util_xstrdup("{}");
	return s;
}
