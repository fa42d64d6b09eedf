/*
 * export_bench: measures `mimic export` (src/dataset/export.c) on a generated session.
 *
 * It builds a data directory with one session of N steps (default 1000) through
 * the store and blob modules, as the recorder would have left it: per step some
 * pointer motion and a click, a typing run of a short word or a wheel run, a
 * "pre" frame at the step's first press and a "settle" frame after it, stored
 * as WebP (the recorder's default) with a full key frame every 25 frames and
 * patches of the changed rectangle in between, on a 1280x800 screen. It then
 * times export_run three times: once as a first export (which includes the
 * pixel redaction scan of every frame, done once per session), then JSON Lines
 * with PNG images and WebDataset shards with WebP images of the scanned session,
 * and prints steps/s and MB/s written (the exporter is single-threaded).
 *
 * Built by meson: build/bench/export_bench [-n steps] [-k] (-k keeps the
 * directory and prints its path).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blob.h"
#include "encode.h"
#include "export.h"
#include "store.h"
#include "util.h"

#define W 1280
#define H 800
#define MS INT64_C(1000000)

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * UINT64_C(2685821657736338717)) >> 33) % n;
}

/*
 * Paints a screen-like area: a flat colour with rows of dark "words" (runs of a
 * few pixels' height and random widths), which compresses about like text on a
 * real screen does.
 */
static void fill(struct image *img, int x, int y, int w, int h, uint32_t color)
{
	for (int j = y; j < y + h && j < (int)img->height; j++) {
		uint32_t *row = (uint32_t *)(img->pixels + (size_t)j * img->stride);
		int line = (j - y) % 16 >= 4 && (j - y) % 16 < 12;
		uint32_t seed = (uint32_t)((j - y) / 16) * 2654435761u + (uint32_t)x;

		for (int i = x; i < x + w && i < (int)img->width; i++) {
			uint32_t word = (seed + (uint32_t)(i - x) / 24 * 40503u) % 7;

			row[i] = line && word != 0 && (i - x) % 24 < 18 ? 0xff303030 : color;
		}
	}
}

static void die(const char *what, char *cause)
{
	fprintf(stderr, "export_bench: %s: %s\n", what, cause != NULL ? cause : "failed");
	exit(1);
}

struct gen {
	struct store *st;
	struct blob *blobs;
	struct encode *enc;
	int64_t session, ev_id, fr_id, t;
	struct event *evs;
	size_t nev, evcap;
	struct store_frame *frs;
	size_t nfr, frcap;
	struct image screen;
	int64_t last_frame;
	uint64_t stored_bytes;
};

static struct event *ev(struct gen *g, int kind, int x, int y)
{
	struct event *e;

	if (g->nev == g->evcap) {
		g->evcap = g->evcap ? g->evcap * 2 : 4096;
		g->evs = util_xrealloc(g->evs, g->evcap * sizeof(*g->evs));
	}
	e = &g->evs[g->nev++];
	memset(e, 0, sizeof(*e));
	e->id = g->ev_id++;
	e->t_ns = g->t;
	e->kind = kind;
	e->source = EVENT_SOURCE_HUMAN;
	e->device = 2;
	e->context = 1;
	e->x = x;
	e->y = y;
	return e;
}

/* Stores a frame of the current screen: a key frame, or a patch of rect r. */
static void frame(struct gen *g, const char *trigger, int64_t event_id, int key, int rx, int ry,
                  int rw, int rh)
{
	struct encode_params p;
	struct image sub;
	struct store_frame *f;
	const uint8_t *data;
	size_t len;
	char *cause = NULL;

	if (g->nfr == g->frcap) {
		g->frcap = g->frcap ? g->frcap * 2 : 1024;
		g->frs = util_xrealloc(g->frs, g->frcap * sizeof(*g->frs));
	}
	f = &g->frs[g->nfr++];
	memset(f, 0, sizeof(*f));
	f->id = g->fr_id++;
	f->t_ns = g->t;
	f->event_id = event_id;
	snprintf(f->trigger, sizeof(f->trigger), "%s", trigger);
	snprintf(f->format, sizeof(f->format), "webp");
	f->width = W;
	f->height = H;
	f->cursor_x = f->cursor_y = -1;
	encode_params_default(&p, ENCODE_WEBP);
	if (key || g->last_frame == 0) {
		sub = g->screen;
	} else {
		sub.pixels = g->screen.pixels + (size_t)ry * g->screen.stride + (size_t)rx * 4;
		sub.width = (uint32_t)rw;
		sub.height = (uint32_t)rh;
		sub.stride = g->screen.stride;
		f->base_id = g->last_frame;
		f->n_patch = 1;
		f->patch[0] = (struct store_rect){ rx, ry, rw, rh };
	}
	if (encode_image(g->enc, &sub, &p, &data, &len, &cause) != 0)
		die("encode", cause);
	if (blob_put(g->blobs, data, len, f->blob, &cause) != 0)
		die("blob", cause);
	f->bytes = (int64_t)len;
	g->stored_bytes += len;
	g->last_frame = f->id;
}

static void generate(struct gen *g, int steps)
{
	static const char *const words[] = { "report", "budget", "meeting", "travel", "invoice" };
	struct context ctx;
	char *cause = NULL;

	memset(&ctx, 0, sizeof(ctx));
	ctx.seq = 1;
	ctx.t_ns = g->t;
	ctx.w = W;
	ctx.h = H;
	snprintf(ctx.wm_class, sizeof(ctx.wm_class), "Bench");
	snprintf(ctx.wm_instance, sizeof(ctx.wm_instance), "bench");
	snprintf(ctx.title, sizeof(ctx.title), "Quarterly numbers");
	struct event *f = ev(g, EVENT_FOCUS, 0, 0);
	(void)f;
	/* A flat desktop with two windows of text. */
	for (size_t i = 0; i < (size_t)W * H; i++)
		((uint32_t *)g->screen.pixels)[i] = 0xff336699;
	fill(&g->screen, 40, 40, 700, 500, 0xfff0f0f0);
	fill(&g->screen, 600, 300, 640, 460, 0xffffffff);
	frame(g, "pre", 0, 1, 0, 0, 0, 0);
	for (int s = 0; s < steps; s++) {
		int x = 50 + (int)rnd(W - 400), y = 50 + (int)rnd(H - 150), kind = (int)rnd(3);
		int64_t anchor;

		for (int m = 0; m < 8; m++) {
			g->t += 16 * MS;
			ev(g, EVENT_MOTION, x - 8 * (8 - m), y);
		}
		g->t += 20 * MS;
		if (kind == 0) {
			struct event *p = ev(g, EVENT_BUTTON_PRESS, x, y);

			p->detail = 1;
			anchor = p->id;
			frame(g, "pre", anchor, 0, x, y, 8, 8);
			g->t += 80 * MS;
			ev(g, EVENT_BUTTON_RELEASE, x, y)->detail = 1;
		} else if (kind == 1) {
			const char *w = words[rnd(5)];

			anchor = g->ev_id;
			for (const char *c = w; *c != '\0'; c++) {
				struct event *k = ev(g, EVENT_KEY_PRESS, x, y);

				k->detail = 38;
				k->keysym[0] = *c;
				k->text[0] = *c;
				if (c == w)
					frame(g, "pre", anchor, 0, x, y, 8, 8);
				g->t += 70 * MS;
				k = ev(g, EVENT_KEY_RELEASE, x, y);
				k->detail = 38;
				k->keysym[0] = *c;
				g->t += 60 * MS;
			}
		} else {
			anchor = g->ev_id;
			for (int i = 0; i < 3; i++) {
				struct event *w = ev(g, EVENT_SCROLL, x, y);

				w->detail = SCROLL_DOWN;
				w->amount = 1;
				if (i == 0)
					frame(g, "pre", anchor, 0, x, y, 8, 8);
				g->t += 60 * MS;
			}
		}
		/* What the action changed on the screen, then the settled frame. */
		fill(&g->screen, x, y, 320, 48, 0xff000000u | (rnd(0xffffff)));
		g->t += 300 * MS;
		frame(g, "settle", anchor, (g->nfr % 25) == 0, x, y, 320, 48);
		g->t += (int64_t)(500 + rnd(1500)) * MS;
	}
	if (store_write_all(g->st, g->session, g->evs, g->nev, &ctx, 1, g->frs, g->nfr,
	                    &cause) != 0)
		die("store", cause);
	/* The focus event must name the context so the exporter knows the application. */
}

static double run(const char *dir, int64_t session, enum export_format fmt,
                  enum encode_format img, const char *out, struct export_report *rep)
{
	struct export_opts o;
	char *cause = NULL;

	export_opts_defaults(&o);
	o.data_dir = dir;
	o.sessions = &session;
	o.n_sessions = 1;
	o.format = fmt;
	o.out_dir = out;
	o.image = img;
	o.shard_bytes = INT64_C(64) * 1024 * 1024;
	if (export_run(&o, rep, &cause) != 0)
		die("export", cause);
	return rep->seconds;
}

int main(int argc, char **argv)
{
	struct gen g;
	struct store_session s;
	struct export_report rep;
	char dir[] = "/tmp/mimic-export-bench-XXXXXX", out[512];
	char *cause = NULL;
	int steps = 1000, keep = 0, opt;
	double secs;

	while ((opt = getopt(argc, argv, "n:k")) != -1) {
		if (opt == 'n')
			steps = atoi(optarg);
		else if (opt == 'k')
			keep = 1;
		else {
			fprintf(stderr, "usage: export_bench [-n steps] [-k]\n");
			return 2;
		}
	}
	if (steps <= 0 || mkdtemp(dir) == NULL) {
		fprintf(stderr, "export_bench: bad arguments or no temporary directory\n");
		return 2;
	}
	memset(&g, 0, sizeof(g));
	g.t = INT64_C(1000000000000);
	g.screen.width = W;
	g.screen.height = H;
	g.screen.stride = W * 4;
	g.screen.pixels = util_xcalloc(1, (size_t)W * H * 4);
	snprintf(out, sizeof(out), "%s/frames", dir);
	if (store_open(dir, 0, &g.st, &cause) != 0 ||
	    blob_open(out, "webp", BLOB_CREATE, &g.blobs, &cause) != 0 ||
	    encode_new(&g.enc, &cause) != 0)
		die("setup", cause);
	memset(&s, 0, sizeof(s));
	snprintf(s.host, sizeof(s.host), "bench-host");
	snprintf(s.version, sizeof(s.version), "bench");
	s.start_wall_ns = util_now_wall_ns();
	s.start_mono_ns = g.t;
	s.screen_w = W;
	s.screen_h = H;
	if (store_session_begin(g.st, &s, &g.session, &cause) != 0 ||
	    store_next_event_id(g.st, &g.ev_id, &cause) != 0 ||
	    store_next_frame_id(g.st, &g.fr_id, &cause) != 0)
		die("session", cause);
	g.evs = NULL;
	generate(&g, steps);
	if (store_session_end(g.st, g.session, util_now_wall_ns(), "stopped", &cause) != 0)
		die("session end", cause);
	store_close(g.st);
	blob_close(g.blobs);
	encode_free(g.enc);
	printf("session: %d steps, %zu events, %zu frames (%.1f MB of WebP), %dx%d\n", steps,
	       g.nev, g.nfr, (double)g.stored_bytes / 1e6, W, H);

	/* The first export of a session also runs the pixel redaction scan of its frames. */
	snprintf(out, sizeof(out), "%s/out-first", dir);
	secs = run(dir, g.session, EXPORT_JSONL, ENCODE_PNG, out, &rep);
	printf("first export (frame scan + jsonl + png): %llu steps in %.2f s: %.1f steps/s\n",
	       (unsigned long long)rep.steps, secs, (double)rep.steps / secs);
	snprintf(out, sizeof(out), "%s/out-jsonl", dir);
	secs = run(dir, g.session, EXPORT_JSONL, ENCODE_PNG, out, &rep);
	printf("jsonl + png:       %llu steps, %llu images, %.1f MB in %.2f s: %.0f steps/s, "
	       "%.1f MB/s\n", (unsigned long long)rep.steps, (unsigned long long)rep.images,
	       (double)rep.bytes / 1e6, secs, (double)rep.steps / secs,
	       (double)rep.bytes / 1e6 / secs);
	snprintf(out, sizeof(out), "%s/out-wds", dir);
	secs = run(dir, g.session, EXPORT_WEBDATASET, ENCODE_WEBP, out, &rep);
	printf("webdataset + webp: %llu steps, %llu images, %.1f MB in %.2f s (%llu shards): "
	       "%.0f steps/s, %.1f MB/s\n", (unsigned long long)rep.steps,
	       (unsigned long long)rep.images, (double)rep.bytes / 1e6, secs,
	       (unsigned long long)rep.shards, (double)rep.steps / secs,
	       (double)rep.bytes / 1e6 / secs);
	if (keep) {
		printf("kept %s\n", dir);
	} else {
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "export_bench: could not remove %s\n", dir);
	}
	free(g.evs);
	free(g.frs);
	free(g.screen.pixels);
	return 0;
}
