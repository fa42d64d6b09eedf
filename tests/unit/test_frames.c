/*
 * Tests for frames. The pixel helpers (hash, changed rectangles) run on
 * synthetic images. The engine tests start their own Xvfb (no window manager),
 * draw windows with plain X requests, tell the engine about made-up events and
 * read back what reached the database, decoding the stored images: a pre-action
 * frame shows the screen before the action's effect and the settle frame after
 * it, an idle screen is never grabbed, kept rectangles leave the rest flat, and a
 * removed blob directory stops frame storage with a reason while the writer goes
 * on. Skipped when Xvfb is not installed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xcb/xcb.h>

#include "blob.h"
#include "encode.h"
#include "frames.h"
#include "store.h"
#include "util.h"
#include "writer.h"

#define SCREEN_W 640
#define SCREEN_H 480

struct xenv {
	struct testenv_x xvfb;
	xcb_connection_t *c;   /* the "application": draws windows */
	xcb_screen_t *scr;
};

static struct xenv X;

/* ---- helpers --------------------------------------------------------------- */

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static int group_setup(void **state)
{
	(void)state;
	memset(&X, 0, sizeof(X));
	if (testenv_xvfb_start(&X.xvfb, "640x480x24") != 0)
		return 0;
	X.c = xcb_connect(X.xvfb.display, NULL);
	if (xcb_connection_has_error(X.c)) {
		snprintf(X.xvfb.why, sizeof(X.xvfb.why), "cannot connect to Xvfb");
		testenv_xvfb_stop(&X.xvfb);
		return 0;
	}
	X.scr = xcb_setup_roots_iterator(xcb_get_setup(X.c)).data;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (X.c != NULL)
		xcb_disconnect(X.c);
	testenv_xvfb_stop(&X.xvfb);
	return 0;
}

/* A mapped window filled with colour (0xRRGGBB), drawn at once. */
static xcb_window_t make_window(int x, int y, int w, int h, uint32_t colour)
{
	xcb_window_t win = xcb_generate_id(X.c);
	uint32_t vals[2] = {colour, 1};

	xcb_create_window(X.c, XCB_COPY_FROM_PARENT, win, X.scr->root, (int16_t)x, (int16_t)y,
	                  (uint16_t)w, (uint16_t)h, 0, XCB_WINDOW_CLASS_INPUT_OUTPUT,
	                  X.scr->root_visual, XCB_CW_BACK_PIXEL | XCB_CW_OVERRIDE_REDIRECT, vals);
	xcb_map_window(X.c, win);
	free(xcb_get_input_focus_reply(X.c, xcb_get_input_focus(X.c), NULL)); /* a round trip */
	return win;
}

/* Repaints a window in another colour, the way an application reacts to a click. */
static void repaint(xcb_window_t win, uint32_t colour)
{
	xcb_change_window_attributes(X.c, win, XCB_CW_BACK_PIXEL, &colour);
	xcb_clear_area(X.c, 0, win, 0, 0, 0, 0);
	free(xcb_get_input_focus_reply(X.c, xcb_get_input_focus(X.c), NULL));
}

/* Fills the whole root with one colour (the background the tests compare against). */
static void clear_root(uint32_t colour)
{
	xcb_change_window_attributes(X.c, X.scr->root, XCB_CW_BACK_PIXEL, &colour);
	xcb_clear_area(X.c, 0, X.scr->root, 0, 0, 0, 0);
	free(xcb_get_input_focus_reply(X.c, xcb_get_input_focus(X.c), NULL));
}

struct rig {
	char *dir;
	char blobs[300];
	struct store *st;
	struct writer *w;
	struct frames *f;
	int64_t session;
	struct config_frames cfg;
};

static void rig_start(struct rig *r, void (*tune)(struct config_frames *))
{
	struct config c;
	struct store_session s;
	struct frames_opts o;
	char *cause = NULL;

	memset(r, 0, sizeof(*r));
	r->dir = testenv_tmpdir("mimic-test-frames");
	assert_non_null(r->dir);
	snprintf(r->blobs, sizeof(r->blobs), "%s/frames", r->dir);
	assert_int_equal(store_open(r->dir, 0, &r->st, &cause), 0);
	memset(&s, 0, sizeof(s));
	s.start_mono_ns = util_now_mono_ns();
	assert_int_equal(store_session_begin(r->st, &s, &r->session, &cause), 0);
	assert_int_equal(writer_start(r->st, r->session, 20, &r->w, &cause), 0);
	config_defaults(&c);
	r->cfg = c.frames;
	r->cfg.format = ENCODE_JPEG;
	r->cfg.quality = 90;
	r->cfg.settle_ms = 150;
	r->cfg.settle_max_ms = 1000;
	r->cfg.min_gap_ms = 0;
	r->cfg.idle_ms = 60000;
	r->cfg.grab_interval_ms = 20;
	if (tune != NULL)
		tune(&r->cfg);
	memset(&o, 0, sizeof(o));
	o.display = X.xvfb.display;
	o.blob_dir = r->blobs;
	o.cfg = &r->cfg;
	o.writer = r->w;
	o.first_frame_id = 1;
	if (frames_start(&o, &r->f, &cause) != 0)
		fail_msg("frames_start: %s", cause);
}

/* Stops the engine and the writer; returns frames_stop's result. */
static int rig_stop(struct rig *r, char **cause)
{
	int rc = frames_stop(r->f, cause);

	r->f = NULL;
	assert_int_equal(writer_stop(r->w, NULL), 0);
	r->w = NULL;
	return rc;
}

static void rig_free(struct rig *r)
{
	store_close(r->st);
	testenv_tmpdir_remove(r->dir);
	r->dir = NULL;
}

static struct frames_stats stats_of(struct rig *r)
{
	struct frames_stats s;

	frames_get_stats(r->f, &s);
	return s;
}

/* Waits up to ms for at least n records. */
static bool wait_stored(struct rig *r, uint64_t n, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (stats_of(r).stored >= n)
			return true;
		sleep_ms(10);
	}
	return stats_of(r).stored >= n;
}

static void notify(struct rig *r, int64_t id, int kind)
{
	struct event ev;

	memset(&ev, 0, sizeof(ev));
	ev.id = id;
	ev.kind = kind;
	ev.t_ns = util_now_mono_ns();
	frames_notify(r->f, &ev);
}

struct frame_list {
	int n;
	struct store_frame f[32];
};

static int collect(const struct store_frame *fr, void *arg)
{
	struct frame_list *l = arg;

	if (l->n < 32)
		l->f[l->n++] = *fr;
	return 0;
}

static void frames_of(struct rig *r, struct frame_list *l)
{
	char *cause = NULL;

	memset(l, 0, sizeof(*l));
	assert_int_equal(store_frames_foreach(r->st, r->session, collect, l, &cause), 0);
}

static void decode_blob(struct rig *r, const struct store_frame *fr, struct image *img)
{
	struct blob *b = NULL;
	struct encode *e = NULL;
	void *data = NULL;
	size_t len = 0;
	char *cause = NULL;

	assert_int_equal(blob_open(r->blobs, fr->format, 0, &b, &cause), 0);
	assert_int_equal(blob_get(b, fr->blob, 64u << 20, &data, &len, &cause), 0);
	assert_int_equal((int64_t)len, fr->bytes);
	assert_int_equal(encode_new(&e, &cause), 0);
	assert_int_equal(encode_decode(e, data, len, img, NULL, &cause), 0);
	free(data);
	encode_free(e);
	blob_close(b);
}

/* The whole screen of frame id: its key frame with every patch up to it put back. */
static void screen_of(struct rig *r, const struct frame_list *l, int64_t id,
                      struct image *img)
{
	const struct store_frame *fr = NULL;

	for (int i = 0; i < l->n; i++)
		if (l->f[i].id == id)
			fr = &l->f[i];
	assert_non_null(fr);
	if (fr->base_id == 0) {
		decode_blob(r, fr, img);
		return;
	}
	screen_of(r, l, fr->base_id, img);
	struct image patch;
	uint32_t row = 0;

	decode_blob(r, fr, &patch);
	for (int i = 0; i < fr->n_patch; i++) {
		const struct store_rect *p = &fr->patch[i];

		for (int32_t y = 0; y < p->h; y++, row++)
			memcpy(img->pixels + (size_t)(p->y + y) * img->stride + (size_t)p->x * 4,
			       patch.pixels + (size_t)row * patch.stride, (size_t)p->w * 4);
	}
	free(patch.pixels);
}

/* The pixel at (x, y) as 0xRRGGBB. */
static uint32_t px(const struct image *img, uint32_t x, uint32_t y)
{
	return ((const uint32_t *)(const void *)(img->pixels + (size_t)y * img->stride))[x] &
	       0xffffff;
}

static bool near(uint32_t a, uint32_t b, int tol)
{
	for (int sh = 0; sh <= 16; sh += 8) {
		int d = (int)((a >> sh) & 0xff) - (int)((b >> sh) & 0xff);

		if (d > tol || d < -tol)
			return false;
	}
	return true;
}

/* ---- pixel helpers on synthetic images --------------------------------------- */

static struct image make_image(uint32_t w, uint32_t h, size_t pad, uint32_t colour)
{
	struct image img;

	img.width = w;
	img.height = h;
	img.stride = (size_t)w * 4 + pad;
	img.pixels = malloc(img.stride * h);
	assert_non_null(img.pixels);
	memset(img.pixels, 0x5a, img.stride * h);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			((uint32_t *)(void *)(img.pixels + y * img.stride))[x] = colour;
	return img;
}

static void set_px(struct image *img, uint32_t x, uint32_t y, uint32_t v)
{
	((uint32_t *)(void *)(img->pixels + (size_t)y * img->stride))[x] = v;
}

static void test_hash(void **state)
{
	struct image a = make_image(101, 37, 0, 0x102030);
	struct image b = make_image(101, 37, 12, 0x102030);
	uint64_t ha;

	(void)state;
	ha = frames_pixel_hash(&a);
	/* Row padding is not part of the picture. */
	assert_true(ha == frames_pixel_hash(&b));
	memset(b.pixels + 101 * 4, 0xee, 12);
	assert_true(ha == frames_pixel_hash(&b));
	/* Any one pixel counts, the last one too. */
	set_px(&b, 100, 36, 0x102031);
	assert_true(ha != frames_pixel_hash(&b));
	set_px(&b, 100, 36, 0x102030);
	set_px(&b, 0, 0, 0x112030);
	assert_true(ha != frames_pixel_hash(&b));
	free(a.pixels);
	free(b.pixels);
}

static void test_diff_rects(void **state)
{
	struct image a = make_image(200, 100, 0, 0x000000);
	struct image b = make_image(200, 100, 8, 0x000000);
	struct image_rect r[8];
	size_t n;

	(void)state;
	assert_int_equal(frames_diff_rects(&a, &b, r, 8), 0);

	/* One pixel: its 16x16 tile. */
	set_px(&b, 37, 70, 0xffffff);
	n = frames_diff_rects(&a, &b, r, 8);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].x, 32);
	assert_int_equal(r[0].y, 64);
	assert_int_equal(r[0].w, 16);
	assert_int_equal(r[0].h, 16);

	/* A pixel near it joins it (one tile apart); one far away gets its own rectangle. */
	set_px(&b, 70, 70, 0xffffff);
	set_px(&b, 195, 5, 0xffffff);
	n = frames_diff_rects(&a, &b, r, 8);
	assert_int_equal(n, 2);
	/* Sorted top to bottom; the last tile column (192..199) is clipped to the image. */
	assert_int_equal(r[0].x, 192);
	assert_int_equal(r[0].y, 0);
	assert_int_equal(r[0].w, 8);
	assert_int_equal(r[0].h, 16);
	assert_int_equal(r[1].x, 32);
	assert_int_equal(r[1].w, 48);
	assert_int_equal(r[1].y, 64);

	/* The bottom row (96..99) clips too. */
	set_px(&b, 199, 99, 0x010000);
	n = frames_diff_rects(&a, &b, r, 8);
	assert_int_equal(n, 3);
	assert_int_equal(r[2].y, 96);
	assert_int_equal(r[2].h, 4);

	/* More groups than asked for: one rectangle around all of them. */
	n = frames_diff_rects(&a, &b, r, 2);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].x, 32);
	assert_int_equal(r[0].y, 0);
	assert_int_equal(r[0].w, 168);
	assert_int_equal(r[0].h, 100);

	/* Every changed pixel is inside a rectangle, and outside them nothing changed. */
	free(b.pixels);
	b = make_image(200, 100, 0, 0);
	srand(7);
	for (int i = 0; i < 40; i++)
		set_px(&b, (uint32_t)(rand() % 200), (uint32_t)(rand() % 100), 0xabcdef);
	n = frames_diff_rects(&a, &b, r, 8);
	assert_true(n >= 1);
	for (uint32_t y = 0; y < 100; y++) {
		for (uint32_t x = 0; x < 200; x++) {
			bool in = false;

			for (size_t i = 0; i < n; i++)
				in |= (int32_t)x >= r[i].x && (int32_t)x < r[i].x + (int32_t)r[i].w &&
				      (int32_t)y >= r[i].y && (int32_t)y < r[i].y + (int32_t)r[i].h;
			if (px(&a, x, y) != px(&b, x, y))
				assert_true(in);
		}
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			assert_false(r[i].x < r[j].x + (int32_t)r[j].w &&
			             r[j].x < r[i].x + (int32_t)r[i].w &&
			             r[i].y < r[j].y + (int32_t)r[j].h &&
			             r[j].y < r[i].y + (int32_t)r[i].h);

	/* Different sizes differ everywhere. */
	struct image c = make_image(100, 100, 0, 0);
	n = frames_diff_rects(&a, &c, r, 8);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].w, 200);
	free(a.pixels);
	free(b.pixels);
	free(c.pixels);
}

/* ---- the engine on a real X server ------------------------------------------ */

static void test_pre_action_before_effect_and_settle_after(void **state)
{
	struct rig r;
	struct frame_list l;
	struct image pre, settle;
	char *cause = NULL;
	int64_t press_t;
	const struct store_frame *fpre = NULL, *fset = NULL;

	(void)state;
	testenv_need_x(&X.xvfb);
	clear_root(0x202020);
	xcb_window_t win = make_window(100, 100, 200, 120, 0xffffff);
	rig_start(&r, NULL);
	sleep_ms(200);

	/* The "click": the application repaints its window right after the press. */
	press_t = util_now_mono_ns();
	notify(&r, 41, EVENT_BUTTON_PRESS);
	repaint(win, 0x0000ff);
	assert_true(wait_stored(&r, 2, 3000));
	assert_int_equal(rig_stop(&r, &cause), 0);

	frames_of(&r, &l);
	for (int i = 0; i < l.n; i++) {
		if (strcmp(l.f[i].trigger, "pre") == 0 && l.f[i].event_id == 41)
			fpre = &l.f[i];
		if (strcmp(l.f[i].trigger, "settle") == 0 && l.f[i].event_id == 41)
			fset = &l.f[i];
	}
	assert_non_null(fpre);
	assert_non_null(fset);
	/* Taken before the press, and showing the window before it reacted. */
	assert_true(fpre->t_ns <= press_t);
	assert_true(fset->t_ns > press_t);
	assert_int_equal(fpre->width, SCREEN_W);
	assert_int_equal(fpre->height, SCREEN_H);
	screen_of(&r, &l, fpre->id, &pre);
	screen_of(&r, &l, fset->id, &settle);
	assert_true(near(px(&pre, 200, 160), 0xffffff, 8));
	assert_true(near(px(&settle, 200, 160), 0x0000ff, 12));
	/* Away from the window both show the background. */
	assert_true(near(px(&pre, 500, 400), 0x202020, 8));
	assert_true(near(px(&settle, 500, 400), 0x202020, 8));
	/* The settle frame only stored what changed: a patch over the pre-action frame. */
	assert_int_equal(fset->base_id, fpre->id);
	assert_true(fset->n_patch >= 1);
	assert_true(fset->bytes < fpre->bytes);
	assert_true(fset->damage_w > 0);
	free(pre.pixels);
	free(settle.pixels);
	xcb_destroy_window(X.c, win);
	xcb_flush(X.c);
	rig_free(&r);
}

static void test_unchanged_screen_reuses_and_idle_grabs_nothing(void **state)
{
	struct rig r;
	struct frame_list l;
	struct frames_stats s;
	char *cause = NULL;
	uint64_t grabs;

	(void)state;
	testenv_need_x(&X.xvfb);
	clear_root(0x303030);
	sleep_ms(100);
	rig_start(&r, NULL);
	/* Nothing changes: no grab beyond the first, and no frame. */
	sleep_ms(800);
	s = stats_of(&r);
	grabs = s.grabs;
	assert_int_equal(grabs, 1);
	assert_int_equal(s.stored, 0);

	/* Two presses on the same screen: two records, one image. */
	notify(&r, 5, EVENT_BUTTON_PRESS);
	notify(&r, 6, EVENT_BUTTON_PRESS);
	/* A key press that starts a typing run gets one too; the next key of the run not. */
	notify(&r, 7, EVENT_KEY_PRESS);
	notify(&r, 8, EVENT_KEY_PRESS);
	assert_true(wait_stored(&r, 3, 3000));
	sleep_ms(1200);   /* past settle_max_ms: the settle frame would be the same screen */
	s = stats_of(&r);
	assert_int_equal(s.grabs, grabs);
	assert_int_equal(s.stored, 3);
	assert_int_equal(s.encoded, 1);
	assert_int_equal(rig_stop(&r, &cause), 0);
	frames_of(&r, &l);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.f[0].event_id, 5);
	assert_int_equal(l.f[1].event_id, 6);
	assert_int_equal(l.f[2].event_id, 7);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(l.f[i].trigger, "pre");
		assert_string_equal(l.f[i].blob, l.f[0].blob);
	}
	rig_free(&r);
}

static void keep_one(struct config_frames *c)
{
	c->keep_set = true;
	c->n_keep = 1;
	c->keep[0] = (struct image_rect){64, 48, 128, 96};
	c->mask_color = 0x00ff00;
	c->format = ENCODE_WEBP;
	c->quality = 80;
}

static void test_keep_rectangle(void **state)
{
	struct rig r;
	struct frame_list l;
	struct image img;
	char *cause = NULL;
	int bad = 0;

	(void)state;
	testenv_need_x(&X.xvfb);
	clear_root(0x808080);
	xcb_window_t win = make_window(0, 0, 640, 480, 0xff0000);
	rig_start(&r, keep_one);
	notify(&r, 1, EVENT_BUTTON_PRESS);
	assert_true(wait_stored(&r, 1, 3000));
	assert_int_equal(rig_stop(&r, &cause), 0);
	frames_of(&r, &l);
	assert_true(l.n >= 1);
	screen_of(&r, &l, l.f[0].id, &img);
	/* Outside the kept rectangle: the mask colour, allowing for the codec at its edge. */
	for (uint32_t y = 0; y < img.height; y++) {
		for (uint32_t x = 0; x < img.width; x++) {
			bool inside = x >= 64 && x < 192 && y >= 48 && y < 144;
			bool edge = x >= 56 && x < 200 && y >= 40 && y < 152;

			if (!inside && !edge && !near(px(&img, x, y), 0x00ff00, 6))
				bad++;
		}
	}
	assert_int_equal(bad, 0);
	assert_true(near(px(&img, 128, 96), 0xff0000, 12));
	free(img.pixels);
	xcb_destroy_window(X.c, win);
	xcb_flush(X.c);
	rig_free(&r);
}

static void test_blob_dir_removed(void **state)
{
	struct rig r;
	struct frames_stats s;
	char *cause = NULL, cmd[400];
	struct event ev;

	(void)state;
	testenv_need_x(&X.xvfb);
	clear_root(0x101010);
	rig_start(&r, NULL);
	notify(&r, 1, EVENT_BUTTON_PRESS);
	assert_true(wait_stored(&r, 1, 3000));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r.blobs);
	assert_int_equal(system(cmd), 0);
	clear_root(0x505050);
	sleep_ms(100);
	notify(&r, 2, EVENT_BUTTON_PRESS);
	for (int i = 0; i < 300 && stats_of(&r).error == 0; i++)
		sleep_ms(10);
	s = stats_of(&r);
	assert_int_not_equal(s.error, 0);
	assert_non_null(strstr(s.error_text, r.blobs));
	/* Events are still stored. */
	memset(&ev, 0, sizeof(ev));
	ev.kind = EVENT_KEY_PRESS;
	writer_push_event(r.w, &ev);
	assert_int_equal(writer_sync(r.w, &cause), 0);
	/* More actions are ignored quietly. */
	notify(&r, 3, EVENT_BUTTON_PRESS);
	assert_int_equal(rig_stop(&r, &cause), s.error);
	assert_non_null(cause);
	assert_non_null(strstr(cause, r.blobs));
	free(cause);
	/* What was stored before the error is still there. */
	struct frame_list l;

	frames_of(&r, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.f[0].event_id, 1);
	rig_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_diff_rects),
		cmocka_unit_test(test_pre_action_before_effect_and_settle_after),
		cmocka_unit_test(test_unchanged_screen_reuses_and_idle_grabs_nothing),
		cmocka_unit_test(test_keep_rectangle),
		cmocka_unit_test(test_blob_dir_removed),
	};

	return testenv_run(tests, group_setup, group_teardown);
}
