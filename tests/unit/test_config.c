/*
 * Unit tests of config: the defaults, every key read from a file, the refusals
 * a person sees ("FILE:LINE: reason") for unknown keys, bad values, repeated
 * keys, keys outside [frames], overlong lines and files, the user's file found
 * through XDG_CONFIG_HOME, and the JSON stored with a session.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testenv.h"
#include <jansson.h>

#include "config.h"
#include "inifile.h"

struct fixture {
	char *dir;
	char path[320];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = testenv_tmpdir("mimic-test-config");
	assert_non_null(f->dir);
	snprintf(f->path, sizeof(f->path), "%s/mimic.conf", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	testenv_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* Loads text and expects the error err with a cause starting "PATH:LINE: " and holding needle. */
static void expect_error(struct fixture *f, const char *text, int err, int line,
                         const char *needle)
{
	struct config c;
	char *cause = NULL, prefix[400];

	write_file(f->path, text);
	assert_int_equal(config_load_file(f->path, &c, &cause), err);
	assert_non_null(cause);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", f->path, line);
	if (strncmp(cause, prefix, strlen(prefix)) != 0)
		fail_msg("cause '%s' does not start with '%s'", cause, prefix);
	if (strstr(cause, needle) == NULL)
		fail_msg("cause '%s' does not mention '%s'", cause, needle);
	/* A refused file leaves the defaults, never half of it. */
	assert_true(c.frames.enabled);
	assert_int_equal(c.frames.min_gap_ms, 200);
	free(cause);
}

static void test_defaults(void **state)
{
	struct config c;

	(void)state;
	config_defaults(&c);
	assert_true(c.frames.enabled);
	assert_int_equal(c.frames.format, ENCODE_WEBP);
	assert_int_equal(c.frames.quality, 75);
	assert_true(c.frames.patches);
	assert_false(c.frames.scan);
	assert_int_equal(c.frames.min_gap_ms, 200);
	assert_int_equal(c.frames.settle_ms, 300);
	assert_int_equal(c.frames.settle_max_ms, 2000);
	assert_int_equal(c.frames.idle_ms, 30000);
	assert_int_equal(c.frames.typing_pause_ms, 1000);
	assert_int_equal(c.frames.grab_interval_ms, 50);
	assert_false(c.frames.keep_set);
	assert_string_equal(c.source, "");
}

static void test_every_key(void **state)
{
	struct fixture *f = *state;
	struct config c;
	char *cause = NULL;

	write_file(f->path,
	           "# mimic settings\n"
	           "; a comment too\n"
	           "\n"
	           "[frames]\n"
	           "enabled = yes\n"
	           "format = JPEG\n"
	           "quality = 62   ; inline comment\n"
	           "patches = off\n"
	           "scan_while_recording = true\n"
	           "min_gap_ms = 0\n"
	           "settle_ms = 250\n"
	           "settle_max_ms = 1500\n"
	           "idle_ms = 60000\n"
	           "typing_pause_ms = 700\n"
	           "grab_interval_ms = 40\n"
	           "mask_color = #1A2b3C\n"
	           "keep = 0,0,640,480 700,-10,100,50\n");
	assert_int_equal(config_load_file(f->path, &c, &cause), 0);
	assert_null(cause);
	assert_string_equal(c.source, f->path);
	assert_true(c.frames.enabled);
	assert_int_equal(c.frames.format, ENCODE_JPEG);
	assert_int_equal(c.frames.quality, 62);
	assert_false(c.frames.patches);
	assert_true(c.frames.scan);
	assert_int_equal(c.frames.min_gap_ms, 0);
	assert_int_equal(c.frames.settle_ms, 250);
	assert_int_equal(c.frames.settle_max_ms, 1500);
	assert_int_equal(c.frames.idle_ms, 60000);
	assert_int_equal(c.frames.typing_pause_ms, 700);
	assert_int_equal(c.frames.grab_interval_ms, 40);
	assert_int_equal(c.frames.mask_color, 0x1a2b3c);
	assert_true(c.frames.keep_set);
	assert_int_equal(c.frames.n_keep, 2);
	assert_int_equal(c.frames.keep[0].x, 0);
	assert_int_equal(c.frames.keep[0].w, 640);
	assert_int_equal(c.frames.keep[1].x, 700);
	assert_int_equal(c.frames.keep[1].y, -10);
	assert_int_equal(c.frames.keep[1].h, 50);

	write_file(f->path, "[frames]\nenabled = false\nkeep = all\n");
	assert_int_equal(config_load_file(f->path, &c, &cause), 0);
	assert_false(c.frames.enabled);
	assert_false(c.frames.keep_set);
	/* Keys not given keep their defaults. */
	assert_int_equal(c.frames.quality, 75);
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;

	expect_error(f, "[frames]\nqualty = 80\n", -EINVAL, 2, "unknown key 'qualty'");
	expect_error(f, "[frames]\n\nquality = 0\n", -EINVAL, 3, "from 1 to 100");
	expect_error(f, "[frames]\nquality = 80x\n", -EINVAL, 2, "not a whole number");
	expect_error(f, "[frames]\nquality = \n", -EINVAL, 2, "quality");
	expect_error(f, "[frames]\nformat = png\n", -EINVAL, 2, "not webp or jpeg");
	expect_error(f, "[frames]\nenabled = maybe\n", -EINVAL, 2, "not true or false");
	expect_error(f, "[frames]\nmask_color = red\n", -EINVAL, 2, "mask_color");
	expect_error(f, "[frames]\nmin_gap_ms = -5\n", -EINVAL, 2, "min_gap_ms");
	expect_error(f, "[frames]\nquality = 80\nquality = 90\n", -EINVAL, 3,
	             "already set on line 2");
	expect_error(f, "quality = 80\n", -EINVAL, 1, "outside a section");
	expect_error(f, "[screen]\nquality = 80\n", -EINVAL, 2, "unknown section [screen]");
	expect_error(f, "[frames]\nthis line has no equals sign\n", -EINVAL, 2,
	             "not a 'key = value' line");
	expect_error(f, "[frames]\nkeep = 1,2,3\n", -EINVAL, 2, "X,Y,W,H");
	expect_error(f, "[frames]\nkeep = 1,2,0,4\n", -EINVAL, 2, "no area");
	expect_error(f, "[frames]\nkeep = 1,2,3,4,5\n", -EINVAL, 2, "X,Y,W,H");
	expect_error(f, "[frames]\nsettle_ms = 900\nsettle_max_ms = 800\n", -EINVAL, 3,
	             "less than settle_ms");
	/* The first error is the one reported. */
	expect_error(f, "[frames]\nquality = 80\nbogus = 1\nformat = gif\n", -EINVAL, 3, "bogus");
}

static void test_long_line_and_big_file(void **state)
{
	struct fixture *f = *state;
	struct config c;
	char *cause = NULL, *text;
	size_t n = CONFIG_MAX_BYTES + 100;

	/* Longer than INIFILE_MAX_LINE: refused rather than split into two lines. */
	text = malloc(INIFILE_MAX_LINE + 100);
	assert_non_null(text);
	strcpy(text, "[frames]\n# ");
	memset(text + strlen(text), 'x', INIFILE_MAX_LINE + 1);
	strcpy(text + 11 + INIFILE_MAX_LINE + 1, "\nquality = 80\n");
	expect_error(f, text, -EINVAL, 2, "line longer than");
	free(text);

	text = malloc(n + 1);
	assert_non_null(text);
	memset(text, '\n', n);
	text[n] = '\0';
	write_file(f->path, text);
	free(text);
	assert_int_equal(config_load_file(f->path, &c, &cause), -E2BIG);
	assert_non_null(strstr(cause, f->path));
	free(cause);
}

static void test_missing_and_directory(void **state)
{
	struct fixture *f = *state;
	struct config c;
	char *cause = NULL;

	assert_int_equal(config_load_file(f->path, &c, &cause), -ENOENT);
	assert_non_null(strstr(cause, "cannot read settings file"));
	assert_non_null(strstr(cause, f->path));
	free(cause);
	cause = NULL;
	/* An explicit --config that does not exist is an error, not the defaults. */
	assert_int_equal(config_load(f->path, &c, &cause), -ENOENT);
	free(cause);
	cause = NULL;
	assert_int_equal(config_load_file(f->dir, &c, &cause), -EISDIR);
	free(cause);
}

static void test_user_file(void **state)
{
	struct fixture *f = *state;
	struct config c;
	char *cause = NULL, *path = NULL, sub[300], *old = NULL;

	if (getenv("XDG_CONFIG_HOME") != NULL)
		old = strdup(getenv("XDG_CONFIG_HOME"));
	setenv("XDG_CONFIG_HOME", f->dir, 1);
	assert_int_equal(config_user_path(&path), 0);
	snprintf(sub, sizeof(sub), "%s/mimic/mimic.conf", f->dir);
	assert_string_equal(path, sub);
	free(path);

	/* No user file: the defaults, silently. */
	assert_int_equal(config_load(NULL, &c, &cause), 0);
	assert_null(cause);
	assert_string_equal(c.source, "");
	assert_int_equal(c.frames.quality, 75);

	snprintf(sub, sizeof(sub), "%s/mimic", f->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/mimic/mimic.conf", f->dir);
	write_file(sub, "[frames]\nquality = 55\n");
	assert_int_equal(config_load(NULL, &c, &cause), 0);
	assert_int_equal(c.frames.quality, 55);
	assert_string_equal(c.source, sub);

	/* A broken user file is refused too. */
	write_file(sub, "[frames]\nquality = 555\n");
	assert_int_equal(config_load(NULL, &c, &cause), -EINVAL);
	assert_non_null(strstr(cause, sub));
	free(cause);

	/* A relative XDG_CONFIG_HOME does not count (XDG base directory spec). */
	setenv("XDG_CONFIG_HOME", "relative/dir", 1);
	setenv("HOME", f->dir, 1);
	assert_int_equal(config_user_path(&path), 0);
	snprintf(sub, sizeof(sub), "%s/.config/mimic/mimic.conf", f->dir);
	assert_string_equal(path, sub);
	free(path);
	if (old != NULL)
		setenv("XDG_CONFIG_HOME", old, 1);
	else
		unsetenv("XDG_CONFIG_HOME");
	free(old);
}

static void test_json(void **state)
{
	struct fixture *f = *state;
	struct config c;
	char *cause = NULL, *s;
	json_t *o, *fr;

	config_defaults(&c);
	s = config_to_json(&c);
	o = json_loads(s, 0, NULL);
	assert_non_null(o);
	assert_true(json_is_null(json_object_get(o, "source")));
	fr = json_object_get(o, "frames");
	assert_string_equal(json_string_value(json_object_get(fr, "format")), "webp");
	assert_int_equal(json_integer_value(json_object_get(fr, "min_gap_ms")), 200);
	assert_string_equal(json_string_value(json_object_get(fr, "keep")), "all");
	assert_string_equal(json_string_value(json_object_get(fr, "mask_color")), "#000000");
	assert_true(json_is_true(json_object_get(fr, "enabled")));
	json_decref(o);
	free(s);

	write_file(f->path, "[frames]\nformat = jpeg\nkeep = 10,20,30,40\n");
	assert_int_equal(config_load_file(f->path, &c, &cause), 0);
	s = config_to_json(&c);
	o = json_loads(s, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(o, "source")), f->path);
	fr = json_object_get(o, "frames");
	assert_string_equal(json_string_value(json_object_get(fr, "format")), "jpeg");
	json_t *k = json_array_get(json_object_get(fr, "keep"), 0);
	assert_int_equal(json_integer_value(json_array_get(k, 0)), 10);
	assert_int_equal(json_integer_value(json_array_get(k, 3)), 40);
	json_decref(o);
	free(s);
}

/* What a handler saw: the lines of the key "k", and a refusal of "bad". */
struct ini_seen {
	struct inifile *r;
	int k_line[4];
	int n;
};

static int seen_handler(void *user, const char *section, const char *name, const char *value)
{
	struct ini_seen *seen = user;

	(void)section;
	if (strcmp(name, "bad") == 0) {
		inifile_fail(seen->r, seen->r->line, "bad: '%s' refused", value);
		return 0;
	}
	if (seen->n < 4)
		seen->k_line[seen->n++] = seen->r->line;
	return 1;
}

/* Runs the shared reader over text; returns inih's result and the cause in *cause. */
static int ini_run(struct fixture *f, const char *text, size_t max, struct ini_seen *seen,
                   char **cause)
{
	struct inifile r;
	FILE *fp;
	int rc;

	write_file(f->path, text);
	/* Opened with room: the reader itself is to hold the file to max. */
	assert_int_equal(inifile_open(f->path, "test file", 4096, &fp, cause), 0);
	inifile_init(&r, fp, max, " (or so)");
	memset(seen, 0, sizeof(*seen));
	seen->r = &r;
	rc = inifile_parse(&r, seen_handler, seen);
	fclose(fp);
	assert_int_equal(inifile_cause(&r, "NAME", cause) != 0, r.err == NULL ? 0 : 1);
	return rc;
}

/* The shared INI reader counts lines for the handler, keeps the first error, bounds the input. */
static void test_inifile_reader(void **state)
{
	struct fixture *f = *state;
	struct ini_seen seen;
	char *cause = NULL, line[INIFILE_MAX_LINE + 100];
	FILE *fp;

	assert_int_equal(ini_run(f, "[s]\nk = 1\n\n  k = 2\n; note\nk = 3\n", 4096, &seen,
	                         &cause), 0);
	assert_null(cause);
	assert_int_equal(seen.n, 3);
	assert_int_equal(seen.k_line[0], 2);
	assert_int_equal(seen.k_line[1], 4); /* indented: a line of its own, not a continuation */
	assert_int_equal(seen.k_line[2], 6);

	/* The first error wins, as FILE:LINE: reason; reading stops there. */
	assert_int_equal(ini_run(f, "[s]\nk = 1\nbad = x\nbad = y\n", 4096, &seen, &cause), 3);
	assert_string_equal(cause, "NAME:3: bad: 'x' refused");
	free(cause);
	cause = NULL;

	/* A line longer than inih's buffer is refused, not cut in two. */
	memset(line, 'v', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "k = ", 4);
	{
		char text[INIFILE_MAX_LINE + 200];

		snprintf(text, sizeof(text), "[s]\n%s\nk = 1\n", line);
		ini_run(f, text, 4096, &seen, &cause);
		assert_non_null(cause);
		assert_non_null(strstr(cause, "NAME:2: line longer than "));
		assert_non_null(strstr(cause, " characters (or so)"));
		free(cause);
		cause = NULL;
	}

	/* More bytes than the maximum: refused at the line that crosses it. */
	ini_run(f, "[s]\nk = 1\nk = 2\n", 10, &seen, &cause);
	assert_string_equal(cause, "NAME:3: the file is larger than 10 bytes");
	free(cause);
	cause = NULL;

	/* Opening: a file over the maximum and a directory are refused with their kind. */
	write_file(f->path, "[s]\nk = 1\n");
	assert_int_equal(inifile_open(f->path, "test file", 4, &fp, &cause), -E2BIG);
	assert_null(fp);
	assert_non_null(strstr(cause, "test file "));
	assert_non_null(strstr(cause, " is larger than 4 bytes"));
	free(cause);
	cause = NULL;
	assert_int_equal(inifile_open(f->dir, "test file", 4096, &fp, &cause), -EISDIR);
	assert_non_null(strstr(cause, "cannot read test file "));
	assert_non_null(strstr(cause, ": it is a directory"));
	free(cause);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line_and_big_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inifile_reader, setup, teardown),
	};

	return testenv_run(tests, NULL, NULL);
}
