/*
 * Tests for grab. The masking tests run on synthetic images. The screen tests
 * start their own Xvfb (on a display it picks with -displayfd) and an xterm,
 * grab the real root window and check what a person would see in the frame:
 * its size, the pointer where xdotool put it, a semi-transparent cursor blended
 * correctly, and masks that leave nothing but the fill colour outside the kept
 * area. They are skipped when Xvfb is not installed. Every X process started
 * here is killed in the group teardown (and, should the test crash, by
 * PR_SET_PDEATHSIG).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <dlfcn.h>
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
#include <xcb/render.h>
#include <xcb/xfixes.h>

#include "grab.h"

#define SCREEN_W 1280
#define SCREEN_H 800
#define FILL 0x00ff00ffu   /* magenta: appears nowhere on the test screen */

struct xenv {
	struct testenv_x xvfb; /* runs while we are connected; why says why the screen tests skip */
	pid_t xterm;
	xcb_connection_t *c;
	int screen;
	xcb_window_t root;
};

static struct xenv X;

/* ---- helpers --------------------------------------------------------------- */

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Runs a command to completion; returns its exit status or -1. */
static int run(char *const argv[])
{
	return testenv_exit_status(testenv_spawn(argv));
}

/* True when the root has a viewable child (the xterm has mapped). */
static bool has_viewable_child(void *arg)
{
	xcb_query_tree_reply_t *t = xcb_query_tree_reply(X.c, xcb_query_tree(X.c, X.root), NULL);
	bool found = false;

	(void)arg;
	if (t == NULL)
		return false;
	xcb_window_t *kids = xcb_query_tree_children(t);

	for (int i = 0; i < xcb_query_tree_children_length(t) && !found; i++) {
		xcb_get_window_attributes_reply_t *a = xcb_get_window_attributes_reply(
			X.c, xcb_get_window_attributes(X.c, kids[i]), NULL);

		if (a != NULL && a->map_state == XCB_MAP_STATE_VIEWABLE)
			found = true;
		free(a);
	}
	free(t);
	return found;
}

static int group_setup(void **state)
{
	(void)state;
	memset(&X, 0, sizeof(X));
	if (testenv_xvfb_start(&X.xvfb, "1280x800x24") != 0)
		return 0;
	X.c = xcb_connect(X.xvfb.display, &X.screen);
	if (xcb_connection_has_error(X.c)) {
		snprintf(X.xvfb.why, sizeof(X.xvfb.why), "cannot connect to Xvfb on %s",
		         X.xvfb.display);
		xcb_disconnect(X.c);
		X.c = NULL;
		testenv_xvfb_stop(&X.xvfb);
		return 0;
	}
	X.root = xcb_setup_roots_iterator(xcb_get_setup(X.c)).data->root;
	if (testenv_in_path("xterm")) {
		char *xterm[] = {"xterm", "-geometry", "80x24+0+0", "-e", "sh", "-c",
				 "ls -la /usr /etc; exec sleep 600", NULL};

		X.xterm = testenv_spawn(xterm);
		testenv_wait(has_viewable_child, NULL, 15000);
		sleep_ms(300);   /* let it draw its text */
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	testenv_stop(X.xterm);
	if (X.c != NULL)
		xcb_disconnect(X.c);
	X.c = NULL;
	testenv_xvfb_stop(&X.xvfb);
	return 0;
}

static uint32_t px(const struct image *img, uint32_t x, uint32_t y)
{
	return ((const uint32_t *)(const void *)(img->pixels + (size_t)y * img->stride))[x];
}

static struct grab *open_grab(unsigned flags)
{
	struct grab *g = NULL;
	char *cause = NULL;
	int rc = grab_open(X.c, X.screen, flags, &g, &cause);

	if (rc != 0)
		print_message("grab_open: %s\n", cause);
	assert_int_equal(rc, 0);
	assert_null(cause);
	return g;
}

/* ---- masking on synthetic images -------------------------------------------- */

static struct image synthetic(uint32_t w, uint32_t h)
{
	struct image img = {NULL, w, h, (size_t)w * 4 + 16};

	img.pixels = malloc(img.stride * h);
	assert_non_null(img.pixels);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			((uint32_t *)(void *)(img.pixels + (size_t)y * img.stride))[x] =
				(x * 7 + y * 13) & 0xffffff;
	return img;
}

static bool inside(const struct image_rect *r, size_t n, uint32_t x, uint32_t y)
{
	for (size_t i = 0; i < n; i++)
		if ((int64_t)x >= r[i].x && (int64_t)x < (int64_t)r[i].x + r[i].w &&
		    (int64_t)y >= r[i].y && (int64_t)y < (int64_t)r[i].y + r[i].h)
			return true;
	return false;
}

/* The rectangle helpers: an empty rectangle adds nothing; intersections, also in place. */
static void test_rect_union_and_intersect(void **state)
{
	struct image_rect a = { 10, 20, 30, 40 }, b = { -5, 50, 10, 100 }, empty = { 500, 500, 0, 7 };
	struct image_rect u, m;

	(void)state;
	u = image_rect_union(a, b);
	assert_int_equal(u.x, -5);
	assert_int_equal(u.y, 20);
	assert_int_equal(u.w, 45);
	assert_int_equal(u.h, 130);
	u = image_rect_union(a, empty);
	assert_memory_equal(&u, &a, sizeof(a));
	u = image_rect_union(empty, b);
	assert_memory_equal(&u, &b, sizeof(b));

	assert_true(image_rect_intersect(&a, &(struct image_rect){ 30, 0, 100, 30 }, &m));
	assert_int_equal(m.x, 30);
	assert_int_equal(m.y, 20);
	assert_int_equal(m.w, 10);
	assert_int_equal(m.h, 10);
	/* Touching edges do not overlap; the result is then all zero. */
	m = a;
	assert_false(image_rect_intersect(&a, &(struct image_rect){ 40, 20, 5, 5 }, &m));
	assert_int_equal(m.w, 0);
	assert_int_equal(m.h, 0);
	assert_false(image_rect_intersect(&a, &b, NULL));
	/* In place: out may be one of the inputs. */
	m = a;
	assert_true(image_rect_intersect(&m, &(struct image_rect){ 0, 0, 15, 25 }, &m));
	assert_int_equal(m.x, 10);
	assert_int_equal(m.y, 20);
	assert_int_equal(m.w, 5);
	assert_int_equal(m.h, 5);
}

static void test_mask_null_keeps_everything(void **state)
{
	struct image img = synthetic(64, 48), ref = synthetic(64, 48);

	(void)state;
	image_apply_mask(&img, NULL, 5, FILL);
	assert_memory_equal(img.pixels, ref.pixels, img.stride * img.height);
	free(img.pixels);
	free(ref.pixels);
}

static void test_mask_empty_keeps_nothing(void **state)
{
	struct image img = synthetic(64, 48);
	struct image_rect unused = {0, 0, 64, 48};

	(void)state;
	image_apply_mask(&img, &unused, 0, FILL);
	for (uint32_t y = 0; y < img.height; y++)
		for (uint32_t x = 0; x < img.width; x++)
			assert_int_equal(px(&img, x, y), FILL);
	free(img.pixels);
}

static void test_mask_union_of_rects(void **state)
{
	struct image img = synthetic(100, 80), ref = synthetic(100, 80);
	/* Overlapping, nested, touching, partly and wholly outside, and empty. */
	const struct image_rect keep[] = {
		{10, 10, 30, 20}, {25, 15, 30, 30}, {12, 12, 5, 5}, {55, 15, 10, 10},
		{-20, 60, 30, 50}, {90, -5, 40, 10}, {200, 200, 10, 10}, {50, 50, 0, 10},
	};
	size_t n = sizeof(keep) / sizeof(keep[0]);

	(void)state;
	image_apply_mask(&img, keep, n, FILL);
	for (uint32_t y = 0; y < img.height; y++)
		for (uint32_t x = 0; x < img.width; x++)
			assert_int_equal(px(&img, x, y), inside(keep, n, x, y) ? px(&ref, x, y)
									 : FILL);
	free(img.pixels);
	free(ref.pixels);
}

static void test_fill_rects(void **state)
{
	struct image img = synthetic(100, 80), ref = synthetic(100, 80);
	const struct image_rect fill[] = {{-5, -5, 20, 10}, {40, 30, 10, 10}, {95, 70, 100, 100}};
	size_t n = sizeof(fill) / sizeof(fill[0]);

	(void)state;
	image_fill_rects(&img, fill, n, FILL);
	for (uint32_t y = 0; y < img.height; y++)
		for (uint32_t x = 0; x < img.width; x++)
			assert_int_equal(px(&img, x, y), inside(fill, n, x, y) ? FILL
									 : px(&ref, x, y));
	image_fill_rects(&img, NULL, 0, 0);
	free(img.pixels);
	free(ref.pixels);
}

/* ---- the real screen -------------------------------------------------------- */

static void test_grab_size_is_root_size(void **state)
{
	struct grab *g;
	struct image img;
	char *cause = NULL;
	xcb_get_geometry_reply_t *geo;

	(void)state;
	testenv_need_x(&X.xvfb);
	g = open_grab(0);
	assert_true(grab_uses_shm(g));
	assert_int_equal(grab_frame(g, GRAB_FRAME_CURSOR, &img, NULL, &cause), 0);
	geo = xcb_get_geometry_reply(X.c, xcb_get_geometry(X.c, X.root), NULL);
	assert_non_null(geo);
	assert_int_equal(img.width, geo->width);
	assert_int_equal(img.height, geo->height);
	assert_int_equal(img.width, SCREEN_W);
	assert_int_equal(img.height, SCREEN_H);
	assert_true(img.stride >= img.width * 4);
	free(geo);
	/* A second frame reuses the segment and has the same size. */
	assert_int_equal(grab_frame(g, 0, &img, NULL, &cause), 0);
	assert_int_equal(img.width, SCREEN_W);
	grab_close(g);
}

/* The GetImage fallback sees the same pixels as MIT-SHM. */
static void test_plain_getimage_matches_shm(void **state)
{
	struct grab *a, *b;
	struct image ia, ib;
	bool same = false;

	(void)state;
	testenv_need_x(&X.xvfb);
	a = open_grab(0);
	b = open_grab(GRAB_OPEN_NO_SHM);
	assert_false(grab_uses_shm(b));
	/* The xterm may still be drawing: the two must agree within a few tries. */
	for (int tries = 0; tries < 5 && !same; tries++) {
		assert_int_equal(grab_frame(a, 0, &ia, NULL, NULL), 0);
		assert_int_equal(grab_frame(b, 0, &ib, NULL, NULL), 0);
		assert_int_equal(ia.width, ib.width);
		assert_int_equal(ia.height, ib.height);
		same = true;
		for (uint32_t y = 0; y < ia.height && same; y++)
			for (uint32_t x = 0; x < ia.width; x++)
				if ((px(&ia, x, y) ^ px(&ib, x, y)) & 0xffffff) {
					same = false;
					break;
				}
		if (!same)
			sleep_ms(200);
	}
	assert_true(same);
	grab_close(a);
	grab_close(b);
}

static void test_cursor_position_after_xdotool(void **state)
{
	struct grab *g;
	struct screen_cursor cur;
	struct image img;
	char *cause = NULL;
	const int where[][2] = {{100, 100}, {640, 400}};

	(void)state;
	testenv_need_x(&X.xvfb);
	testenv_need_tools("xdotool");
	g = open_grab(0);
	for (size_t i = 0; i < 2; i++) {
		char xs[16], ys[16];

		snprintf(xs, sizeof(xs), "%d", where[i][0]);
		snprintf(ys, sizeof(ys), "%d", where[i][1]);
		char *argv[] = {"xdotool", "mousemove", xs, ys, NULL};

		assert_int_equal(run(argv), 0);
		/* xdotool does not wait for the server: poll briefly. */
		for (int t = 0; t < 50; t++) {
			assert_int_equal(grab_query_cursor(g, &cur, &cause), 0);
			if (cur.x == where[i][0] && cur.y == where[i][1])
				break;
			sleep_ms(20);
		}
		assert_true(cur.valid);
		assert_int_equal(cur.x, where[i][0]);
		assert_int_equal(cur.y, where[i][1]);
		memset(&cur, 0, sizeof(cur));
		assert_int_equal(grab_frame(g, GRAB_FRAME_CURSOR, &img, &cur, &cause), 0);
		assert_true(cur.valid);
		assert_int_equal(cur.x, where[i][0]);
		assert_int_equal(cur.y, where[i][1]);
	}
	grab_close(g);
}

/* The few Render calls the cursor test needs, loaded at run time (libxcb-render). */
struct render_api {
	xcb_render_query_version_cookie_t (*query_version)(xcb_connection_t *, uint32_t, uint32_t);
	xcb_render_query_version_reply_t *(*query_version_reply)(
		xcb_connection_t *, xcb_render_query_version_cookie_t, xcb_generic_error_t **);
	xcb_render_query_pict_formats_cookie_t (*query_pict_formats)(xcb_connection_t *);
	xcb_render_query_pict_formats_reply_t *(*query_pict_formats_reply)(
		xcb_connection_t *, xcb_render_query_pict_formats_cookie_t, xcb_generic_error_t **);
	xcb_render_pictforminfo_iterator_t (*formats_iterator)(
		const xcb_render_query_pict_formats_reply_t *);
	void (*pictforminfo_next)(xcb_render_pictforminfo_iterator_t *);
	xcb_void_cookie_t (*create_picture)(xcb_connection_t *, xcb_render_picture_t,
					    xcb_drawable_t, xcb_render_pictformat_t, uint32_t,
					    const void *);
	xcb_void_cookie_t (*create_cursor)(xcb_connection_t *, xcb_cursor_t, xcb_render_picture_t,
					   uint16_t, uint16_t);
};

static bool load_render(struct render_api *r, void **handle)
{
	void *h = dlopen("libxcb-render.so.0", RTLD_NOW | RTLD_LOCAL);

	*handle = h;
	if (h == NULL)
		return false;
	/* POSIX guarantees that a data pointer from dlsym converts to a function pointer. */
#define LOAD(field, name)                                                      \
	do {                                                                   \
		void *sym = dlsym(h, name);                                    \
		if (sym == NULL)                                               \
			return false;                                          \
		memcpy(&r->field, &sym, sizeof(sym));                          \
	} while (0)
	LOAD(query_version, "xcb_render_query_version");
	LOAD(query_version_reply, "xcb_render_query_version_reply");
	LOAD(query_pict_formats, "xcb_render_query_pict_formats");
	LOAD(query_pict_formats_reply, "xcb_render_query_pict_formats_reply");
	LOAD(formats_iterator, "xcb_render_query_pict_formats_formats_iterator");
	LOAD(pictforminfo_next, "xcb_render_pictforminfo_next");
	LOAD(create_picture, "xcb_render_create_picture");
	LOAD(create_cursor, "xcb_render_create_cursor");
#undef LOAD
	return true;
}

/*
 * Makes an 8x8 ARGB cursor, every pixel 50% red as X stores it (premultiplied:
 * 0x80400000 means alpha 128 and red 64, i.e. full-intensity red at 50%), with
 * its hot spot at the top left, named "mimic-test".
 */
static xcb_cursor_t make_argb_cursor(const struct render_api *r)
{
	xcb_render_query_pict_formats_reply_t *fr;
	xcb_render_pictformat_t fmt = 0;
	uint32_t pixels[64];
	xcb_pixmap_t pm = xcb_generate_id(X.c);
	xcb_gcontext_t gc = xcb_generate_id(X.c);
	xcb_render_picture_t pic = xcb_generate_id(X.c);
	xcb_cursor_t cur = xcb_generate_id(X.c);

	free(r->query_version_reply(X.c, r->query_version(X.c, 0, 11), NULL));
	fr = r->query_pict_formats_reply(X.c, r->query_pict_formats(X.c), NULL);
	assert_non_null(fr);
	for (xcb_render_pictforminfo_iterator_t it = r->formats_iterator(fr); it.rem;
	     r->pictforminfo_next(&it)) {
		const xcb_render_pictforminfo_t *f = it.data;

		if (f->type == XCB_RENDER_PICT_TYPE_DIRECT && f->depth == 32 &&
		    f->direct.alpha_shift == 24 && f->direct.alpha_mask == 0xff &&
		    f->direct.red_shift == 16 && f->direct.red_mask == 0xff &&
		    f->direct.green_shift == 8 && f->direct.blue_shift == 0)
			fmt = f->id;
	}
	free(fr);
	assert_true(fmt != 0);
	for (size_t i = 0; i < 64; i++)
		pixels[i] = 0x80400000u;
	xcb_create_pixmap(X.c, 32, pm, X.root, 8, 8);
	xcb_create_gc(X.c, gc, pm, 0, NULL);
	xcb_put_image(X.c, XCB_IMAGE_FORMAT_Z_PIXMAP, pm, gc, 8, 8, 0, 0, 0, 32, sizeof(pixels),
		      (const uint8_t *)pixels);
	r->create_picture(X.c, pic, pm, fmt, 0, NULL);
	r->create_cursor(X.c, cur, pic, 0, 0);
	xcb_xfixes_set_cursor_name(X.c, cur, 10, "mimic-test");
	xcb_free_gc(X.c, gc);
	xcb_free_pixmap(X.c, pm);
	return cur;
}

static void test_cursor_blended_premultiplied(void **state)
{
	struct render_api r = {0};
	void *lib = NULL;
	struct grab *g;
	struct image img;
	struct screen_cursor cur;
	xcb_window_t win;
	xcb_cursor_t cursor;
	uint32_t values[3];
	uint32_t blended, plain;

	(void)state;
	testenv_need_x(&X.xvfb);
	if (!load_render(&r, &lib)) {
		if (lib != NULL)
			dlclose(lib);
		testenv_skip("libxcb-render.so.0 cannot be loaded (install libxcb-render0)");
	}
	cursor = make_argb_cursor(&r);
	win = xcb_generate_id(X.c);
	/* A white window that shows our cursor, above the xterm (no window manager). */
	values[0] = 0xffffff;
	values[1] = 1;
	values[2] = cursor;
	xcb_create_window(X.c, XCB_COPY_FROM_PARENT, win, X.root, 600, 300, 100, 100, 0,
			  XCB_WINDOW_CLASS_INPUT_OUTPUT, XCB_COPY_FROM_PARENT,
			  XCB_CW_BACK_PIXEL | XCB_CW_OVERRIDE_REDIRECT | XCB_CW_CURSOR, values);
	xcb_map_window(X.c, win);
	xcb_warp_pointer(X.c, XCB_NONE, X.root, 0, 0, 0, 0, 650, 350);
	free(xcb_get_input_focus_reply(X.c, xcb_get_input_focus(X.c), NULL));

	g = open_grab(0);
	for (int t = 0; t < 50; t++) {
		assert_int_equal(grab_query_cursor(g, &cur, NULL), 0);
		if (strcmp(cur.name, "mimic-test") == 0)
			break;
		sleep_ms(20);
	}
	assert_string_equal(cur.name, "mimic-test");

	/* Without the cursor flag the window is plain white under the pointer. */
	assert_int_equal(grab_frame(g, 0, &img, &cur, NULL), 0);
	plain = px(&img, 650, 350) & 0xffffff;
	assert_int_equal(plain, 0xffffff);
	assert_int_equal(cur.x, 650);
	assert_int_equal(cur.y, 350);

	/*
	 * With it: premultiplied "over" gives 0x40 + 0xff * 127 / 255 = 0xbf red and
	 * 0x7f green and blue. Treating the pixel as straight alpha would give 0x9f.
	 */
	assert_int_equal(grab_frame(g, GRAB_FRAME_CURSOR, &img, &cur, NULL), 0);
	blended = px(&img, 650, 350) & 0xffffff;
	print_message("cursor over white: %06x\n", (unsigned)blended);
	assert_int_equal(blended, 0xbf7f7f);
	assert_int_equal(px(&img, 657, 357) & 0xffffff, 0xbf7f7f);
	/* The cursor is 8x8 from its hot spot: the pixels beyond are untouched. */
	assert_int_equal(px(&img, 658, 350) & 0xffffff, 0xffffff);
	assert_int_equal(px(&img, 649, 350) & 0xffffff, 0xffffff);
	assert_string_equal(cur.name, "mimic-test");

	grab_close(g);
	xcb_destroy_window(X.c, win);
	xcb_free_cursor(X.c, cursor);
	free(xcb_get_input_focus_reply(X.c, xcb_get_input_focus(X.c), NULL));
	dlclose(lib);
}

static void test_monitors(void **state)
{
	struct grab *g;
	struct screen_monitor *m = NULL;
	size_t n = 0;
	char *cause = NULL;

	(void)state;
	testenv_need_x(&X.xvfb);
	g = open_grab(0);
	assert_int_equal(grab_monitors(g, &m, &n, &cause), 0);
	assert_true(n >= 1);
	assert_int_equal(m[0].x, 0);
	assert_int_equal(m[0].y, 0);
	assert_int_equal(m[0].width, SCREEN_W);
	assert_int_equal(m[0].height, SCREEN_H);
	assert_true(m[0].name[0] != '\0');
	print_message("monitor 0: %s %ux%u%s\n", m[0].name, (unsigned)m[0].width,
		      (unsigned)m[0].height, m[0].primary ? " primary" : "");
	free(m);
	grab_close(g);
}

static void test_mask_on_real_frame(void **state)
{
	struct grab *g;
	struct image img;
	const struct image_rect keep = {20, 30, 300, 200};   /* inside the xterm */
	size_t kept_not_fill = 0;

	(void)state;
	testenv_need_x(&X.xvfb);
	g = open_grab(0);
	assert_int_equal(grab_frame(g, GRAB_FRAME_CURSOR, &img, NULL, NULL), 0);
	image_apply_mask(&img, &keep, 1, FILL);
	for (uint32_t y = 0; y < img.height; y++)
		for (uint32_t x = 0; x < img.width; x++) {
			bool in = x >= 20 && x < 320 && y >= 30 && y < 230;

			if (!in)
				assert_int_equal(px(&img, x, y), FILL);
			else if (px(&img, x, y) != FILL)
				kept_not_fill++;
		}
	assert_true(kept_not_fill > 0);
	/* The whole kept area is real screen, not fill. */
	assert_int_equal(kept_not_fill, 300 * 200);
	grab_close(g);
}

static void test_open_errors(void **state)
{
	struct grab *g = (struct grab *)1;
	char *cause = NULL;

	(void)state;
	testenv_need_x(&X.xvfb);
	assert_int_equal(grab_open(X.c, 5, 0, &g, &cause), -EINVAL);
	assert_null(g);
	assert_non_null(cause);
	free(cause);
	grab_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rect_union_and_intersect),
		cmocka_unit_test(test_mask_null_keeps_everything),
		cmocka_unit_test(test_mask_empty_keeps_nothing),
		cmocka_unit_test(test_mask_union_of_rects),
		cmocka_unit_test(test_fill_rects),
		cmocka_unit_test(test_grab_size_is_root_size),
		cmocka_unit_test(test_plain_getimage_matches_shm),
		cmocka_unit_test(test_cursor_position_after_xdotool),
		cmocka_unit_test(test_cursor_blended_premultiplied),
		cmocka_unit_test(test_monitors),
		cmocka_unit_test(test_mask_on_real_frame),
		cmocka_unit_test(test_open_errors),
	};

	return testenv_run(tests, group_setup, group_teardown);
}
