/*
 * cmd_frames: `mimic frames`, which lists a session's screenshots as JSON Lines,
 * and `mimic frame`, which writes one of them as a PNG of the whole screen
 * (its key frame with every patch up to it put back in place). Both only read: they work while a
 * recorder writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "encode.h"
#include "paths.h"
#include "pixels.h"
#include "store.h"
#include "util.h"

/* The data directory, its store and the reader of its frames. */
struct frames_ctx {
	char *dir;
	struct store *st;
	struct pixels *px;
	int64_t session;
	int64_t start_mono_ns;
	json_t *obj;
};

static int open_ctx(struct frames_ctx *c, const char *override, const char *spec, char **cause)
{
	struct store_session s;
	int rc;

	rc = paths_data_dir(override, &c->dir, cause);
	if (rc == 0)
		rc = store_open(c->dir, STORE_READONLY, &c->st, cause);
	if (rc == 0)
		rc = store_session_resolve(c->st, spec, &c->session, cause);
	if (rc == 0)
		rc = store_session_get(c->st, c->session, &s, cause);
	if (rc == 0) {
		c->start_mono_ns = s.start_mono_ns;
		c->px = pixels_open(c->dir, c->st);
	}
	return rc;
}

static void close_ctx(struct frames_ctx *c)
{
	pixels_close(c->px);
	store_close(c->st);
	free(c->dir);
}

static json_t *rect_json(int32_t x, int32_t y, int32_t w, int32_t h)
{
	return json_pack("[iiii]", (int)x, (int)y, (int)w, (int)h);
}

/* A missing frames directory still lists the records, with null paths. */
static json_t *path_json(struct frames_ctx *c, const char *format, const char *hex)
{
	char *p = NULL;
	json_t *j;

	if (pixels_path(c->px, format, hex, &p) != 0)
		return json_null();
	j = json_string(p);
	free(p);
	return j;
}

static int print_frame(const struct store_frame *fr, void *arg)
{
	struct frames_ctx *c = arg;
	json_t *o = c->obj;

	json_object_clear(o);
	json_object_set_new(o, "id", json_integer(fr->id));
	json_object_set_new(o, "session", json_integer(c->session));
	json_object_set_new(o, "t_ns", json_integer(fr->t_ns));
	json_object_set_new(o, "offset_ns", json_integer(fr->t_ns - c->start_mono_ns));
	json_object_set_new(o, "trigger", json_string(fr->trigger));
	json_object_set_new(o, "event", fr->event_id > 0 ? json_integer(fr->event_id) : json_null());
	json_object_set_new(o, "file", path_json(c, fr->format, fr->blob));
	json_object_set_new(o, "format", json_string(fr->format));
	json_object_set_new(o, "width", json_integer(fr->width));
	json_object_set_new(o, "height", json_integer(fr->height));
	json_object_set_new(o, "bytes", json_integer(fr->bytes));
	json_object_set_new(o, "damage", rect_json(fr->damage_x, fr->damage_y, fr->damage_w,
	                                           fr->damage_h));
	json_object_set_new(o, "base", fr->base_id > 0 ? json_integer(fr->base_id) : json_null());
	if (fr->base_id > 0) {
		json_t *p = json_array();

		for (int i = 0; i < fr->n_patch; i++)
			json_array_append_new(p, rect_json(fr->patch[i].x, fr->patch[i].y,
			                                   fr->patch[i].w, fr->patch[i].h));
		json_object_set_new(o, "patch", p);
	} else {
		json_object_set_new(o, "patch", json_null());
	}
	json_object_set_new(o, "cursor", json_pack("{s:i,s:i,s:s}", "x", (int)fr->cursor_x,
	                                           "y", (int)fr->cursor_y, "name",
	                                           fr->cursor_name));
	return cli_print_json_line(o);
}

int cmd_frames(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] = "usage: mimic frames SESSION [--data-dir DIR]\n"
	                            "SESSION is a session id, a session name, or `last`.\n";
	struct frames_ctx c = { 0 };
	const char *dir = NULL;
	char *cause = NULL;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: fputs(usage, stderr); return CLI_USAGE;
		}
	}
	if (optind + 1 != argc) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	rc = open_ctx(&c, dir, argv[optind], &cause);
	if (rc == 0) {
		c.obj = json_object();
		rc = store_frames_foreach(c.st, c.session, print_frame, &c, &cause);
		json_decref(c.obj);
	}
	close_ctx(&c);
	if (fflush(stdout) != 0 && rc == 0)
		rc = util_fail(&cause, -EIO, "cannot write the frames: %s", strerror(errno));
	if (rc != 0 && cause == NULL)
		cause = util_xasprintf("cannot write the frames: %s", strerror(-rc));
	if (rc != 0)
		return cli_fail(cause);
	return CLI_OK;
}

static int write_out(const char *path, const uint8_t *data, size_t len, char **cause)
{
	if (strcmp(path, "-") == 0) {
		if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
			return util_fail(cause, -EIO, "cannot write the image: %s", strerror(errno));
		return 0;
	}
	/*
	 * Frames show what was on a person's screen: private, like the data directory.
	 * An existing file of the person's is replaced by a new 0600 one; a symbolic
	 * link or another user's file is refused.
	 */
	return paths_write_file(path, data, len, PATHS_REPLACE, cause);
}

int cmd_frame(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char usage[] = "usage: mimic frame SESSION ID -o OUT.png [--data-dir DIR]\n"
	                            "Writes frame ID of SESSION as a PNG of the whole screen "
	                            "(-o - for standard output).\n";
	struct frames_ctx c = { 0 };
	struct store_frame fr;
	const struct image *img = NULL;
	struct encode_params p;
	struct encode *e = NULL;
	const char *dir = NULL, *out = NULL;
	const uint8_t *png = NULL;
	size_t png_len = 0;
	char *cause = NULL, *end;
	long long id;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "d:o:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 'o': out = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: fputs(usage, stderr); return CLI_USAGE;
		}
	}
	if (optind + 2 != argc || out == NULL) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	errno = 0;
	id = strtoll(argv[optind + 1], &end, 10);
	if (*argv[optind + 1] == '\0' || *end != '\0' || errno != 0 || id <= 0) {
		fprintf(stderr, "mimic: '%s' is not a frame id (see `mimic frames SESSION`)\n",
		        argv[optind + 1]);
		return CLI_USAGE;
	}
	rc = open_ctx(&c, dir, argv[optind], &cause);
	if (rc == 0)
		rc = store_frame_get(c.st, c.session, id, &fr, &cause);
	if (rc == 0)
		rc = encode_new(&e, &cause);
	if (rc == 0)
		rc = pixels_frame(c.px, c.session, &fr, &img, &cause);
	if (rc == 0) {
		encode_params_default(&p, ENCODE_PNG);
		rc = encode_image(e, img, &p, &png, &png_len, &cause);
	}
	if (rc == 0)
		rc = write_out(out, png, png_len, &cause);
	encode_free(e);
	close_ctx(&c);
	if (rc != 0)
		return cli_fail(cause);
	return CLI_OK;
}
