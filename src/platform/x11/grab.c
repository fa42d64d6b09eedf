/*
 * grab: screenshots of the X11 root window through one reused MIT-SHM segment
 * (plain GetImage when MIT-SHM cannot be used), with the XFixes cursor blended
 * in, and RandR monitor geometry. See grab.h for the threading rules; the images
 * and their masking are image.h's.
 */
#include "grab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <xcb/randr.h>
#include <xcb/shm.h>
#include <xcb/xfixes.h>

#include "log.h"
#include "util.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "grab assumes a little-endian host (BGRX pixels read as 0xXXRRGGBB)"
#endif

struct grab {
	xcb_connection_t *c;
	xcb_window_t root;
	unsigned flags;
	int xfixes_major;          /* 0: no XFixes, no cursor */
	bool randr_monitors;       /* RandR 1.5 GetMonitors is available */
	bool shm;                  /* MIT-SHM is set up and working */
	uint32_t width;            /* size of the last grab (and of the segment) */
	uint32_t height;
	/* MIT-SHM: one System V segment attached by us and by the server. */
	xcb_shm_seg_t seg;
	uint8_t *shm_addr;
	size_t shm_size;
	/* Plain GetImage: the last reply, kept because the image points into it. */
	xcb_get_image_reply_t *plain;
};

/* Formats an X error for a cause. */
static char *x_error_text(const xcb_generic_error_t *e)
{
	return util_xasprintf("X error %u (major %u, minor %u)", (unsigned)e->error_code,
			      (unsigned)e->major_code, (unsigned)e->minor_code);
}

static int fail_x(char **cause, const char *what, xcb_connection_t *c, xcb_generic_error_t *e)
{
	int rc;

	if (e != NULL) {
		char *t = x_error_text(e);

		rc = util_fail(cause, -EIO, "%s: %s", what, t);
		free(t);
		free(e);
	} else if (xcb_connection_has_error(c)) {
		rc = util_fail(cause, -EIO, "%s: the X connection is broken", what);
	} else {
		rc = util_fail(cause, -EIO, "%s: no reply from the X server", what);
	}
	return rc;
}

static void shm_release(struct grab *g)
{
	if (g->shm_addr == NULL)
		return;
	xcb_void_cookie_t ck = xcb_shm_detach_checked(g->c, g->seg);
	/* Wait for the detach so the server no longer writes to the memory we unmap. */
	free(xcb_request_check(g->c, ck));
	shmdt(g->shm_addr);
	g->shm_addr = NULL;
	g->shm_size = 0;
}

/*
 * Makes a segment of at least size bytes and attaches it to the server. The id is
 * removed (IPC_RMID) as soon as the server has attached, so the segment vanishes
 * when both sides detach, even if mimic crashes.
 */
static int shm_setup(struct grab *g, size_t size, char **cause)
{
	int id = -1;
	void *addr = (void *)-1;
	xcb_generic_error_t *e;
	int rc, err;

	shm_release(g);
	id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	if (id < 0) {
		err = errno;
		rc = util_fail(cause, -err, "cannot create a shared memory segment of %zu bytes: "
			       "%s", size, strerror(err));
		goto fail;
	}
	addr = shmat(id, NULL, 0);
	if (addr == (void *)-1) {
		err = errno;
		rc = util_fail(cause, -err, "cannot map a shared memory segment: %s",
			       strerror(err));
		goto fail;
	}
	g->seg = xcb_generate_id(g->c);
	e = xcb_request_check(g->c, xcb_shm_attach_checked(g->c, g->seg, (uint32_t)id, 0));
	shmctl(id, IPC_RMID, NULL);
	id = -1;
	if (e != NULL || xcb_connection_has_error(g->c)) {
		rc = fail_x(cause, "the X server cannot attach the shared memory segment", g->c, e);
		goto fail;
	}
	g->shm_addr = addr;
	g->shm_size = size;
	return 0;
fail:
	if (addr != (void *)-1)
		shmdt(addr);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
	return rc;
}

/* Checks that the root window's pixels are 32-bit little-endian xRGB. */
static int check_format(xcb_connection_t *c, const xcb_screen_t *s, char **cause)
{
	const xcb_setup_t *setup = xcb_get_setup(c);
	xcb_format_iterator_t fi;
	xcb_depth_iterator_t di;
	int bpp = 0;
	const xcb_visualtype_t *vis = NULL;

	for (fi = xcb_setup_pixmap_formats_iterator(setup); fi.rem; xcb_format_next(&fi))
		if (fi.data->depth == s->root_depth)
			bpp = fi.data->bits_per_pixel;
	for (di = xcb_screen_allowed_depths_iterator(s); di.rem && vis == NULL;
	     xcb_depth_next(&di)) {
		xcb_visualtype_iterator_t vi = xcb_depth_visuals_iterator(di.data);

		for (; vi.rem; xcb_visualtype_next(&vi))
			if (vi.data->visual_id == s->root_visual) {
				vis = vi.data;
				break;
			}
	}
	if (bpp != 32 || (s->root_depth != 24 && s->root_depth != 32) || vis == NULL ||
	    vis->red_mask != 0xff0000 || vis->green_mask != 0xff00 || vis->blue_mask != 0xff ||
	    setup->image_byte_order != XCB_IMAGE_ORDER_LSB_FIRST)
		return util_fail(cause, -ENOTSUP,
				 "unsupported screen format (depth %u, %d bits per pixel): "
				 "mimic needs 24-bit colour stored in 32 bits, little-endian",
				 (unsigned)s->root_depth, bpp);
	return 0;
}

int grab_open(xcb_connection_t *conn, int screen, unsigned flags, struct grab **out, char **cause)
{
	struct grab *g = NULL;
	xcb_screen_iterator_t si;
	const xcb_screen_t *scr = NULL;
	const xcb_query_extension_reply_t *ext;
	xcb_generic_error_t *e = NULL;
	int rc;

	*out = NULL;
	if (conn == NULL || xcb_connection_has_error(conn))
		return util_fail(cause, -EIO, "cannot grab the screen: no working X connection");
	si = xcb_setup_roots_iterator(xcb_get_setup(conn));
	for (int i = 0; si.rem; xcb_screen_next(&si), i++)
		if (i == screen)
			scr = si.data;
	if (scr == NULL)
		return util_fail(cause, -EINVAL, "cannot grab the screen: no X screen %d", screen);
	rc = check_format(conn, scr, cause);
	if (rc < 0)
		return rc;

	g = util_xcalloc(1, sizeof(*g));
	g->c = conn;
	g->root = scr->root;
	g->flags = flags;
	g->width = scr->width_in_pixels;
	g->height = scr->height_in_pixels;

	xcb_prefetch_extension_data(conn, &xcb_xfixes_id);
	xcb_prefetch_extension_data(conn, &xcb_randr_id);
	xcb_prefetch_extension_data(conn, &xcb_shm_id);

	/* XFixes: version 2 adds cursor names; XFixes requires the version handshake. */
	ext = xcb_get_extension_data(conn, &xcb_xfixes_id);
	if (ext != NULL && ext->present) {
		xcb_xfixes_query_version_reply_t *v = xcb_xfixes_query_version_reply(
			conn, xcb_xfixes_query_version(conn, 4, 0), &e);

		if (v != NULL)
			g->xfixes_major = (int)v->major_version;
		free(v);
		free(e);
		e = NULL;
	}
	if (g->xfixes_major == 0)
		log_warn("grab: the X server has no XFixes extension: frames will show no cursor");

	ext = xcb_get_extension_data(conn, &xcb_randr_id);
	if (ext != NULL && ext->present) {
		xcb_randr_query_version_reply_t *v = xcb_randr_query_version_reply(
			conn, xcb_randr_query_version(conn, 1, 5), &e);

		if (v != NULL)
			g->randr_monitors = v->major_version > 1 ||
					    (v->major_version == 1 && v->minor_version >= 5);
		free(v);
		free(e);
		e = NULL;
	}

	if (!(flags & GRAB_OPEN_NO_SHM)) {
		char *why = NULL;

		ext = xcb_get_extension_data(conn, &xcb_shm_id);
		if (ext == NULL || !ext->present) {
			why = util_xstrdup("the X server has no MIT-SHM extension");
		} else {
			xcb_shm_query_version_reply_t *v = xcb_shm_query_version_reply(
				conn, xcb_shm_query_version(conn), &e);

			if (v == NULL)
				why = util_xstrdup("MIT-SHM does not answer");
			free(v);
			free(e);
			e = NULL;
			if (why == NULL &&
			    shm_setup(g, (size_t)g->width * g->height * 4, &why) == 0)
				g->shm = true;
		}
		if (!g->shm) {
			log_warn("grab: %s; falling back to plain GetImage, about 10 times slower",
				 why != NULL ? why : "MIT-SHM cannot be used");
		}
		free(why);
	}
	if (xcb_connection_has_error(conn)) {
		rc = util_fail(cause, -EIO, "cannot grab the screen: the X connection broke");
		goto fail;
	}
	*out = g;
	return 0;
fail:
	grab_close(g);
	return rc;
}

void grab_close(struct grab *g)
{
	if (g == NULL)
		return;
	shm_release(g);
	free(g->plain);
	free(g);
}

bool grab_uses_shm(const struct grab *g)
{
	return g->shm;
}

/* Cursor request: XFixes 2 has the name in the same reply as the image. */
struct cursor_req {
	int kind;   /* 0 none, 1 image only, 2 image and name */
	unsigned seq;
};

static struct cursor_req cursor_send(struct grab *g)
{
	struct cursor_req r = {0, 0};

	if (g->xfixes_major >= 2) {
		r.kind = 2;
		r.seq = xcb_xfixes_get_cursor_image_and_name(g->c).sequence;
	} else if (g->xfixes_major >= 1) {
		r.kind = 1;
		r.seq = xcb_xfixes_get_cursor_image(g->c).sequence;
	}
	return r;
}

/*
 * Blends a premultiplied ARGB cursor (as the X server stores cursor images, per
 * the Render and Xcursor conventions) over the image: dst = src + dst * (1 - a).
 */
static void cursor_blend(struct image *img, const uint32_t *px, int cw, int ch, int left,
			 int top)
{
	for (int cy = 0; cy < ch; cy++) {
		int y = top + cy;

		if (y < 0 || (uint32_t)y >= img->height)
			continue;
		uint32_t *row = (uint32_t *)(void *)(img->pixels + (size_t)y * img->stride);

		for (int cx = 0; cx < cw; cx++) {
			int x = left + cx;
			uint32_t s = px[(size_t)cy * (size_t)cw + (size_t)cx];
			uint32_t a = s >> 24;

			if (x < 0 || (uint32_t)x >= img->width || a == 0)
				continue;
			if (a == 255) {
				row[x] = s & 0xffffff;
				continue;
			}
			uint32_t d = row[x], o = 0;

			for (int sh = 0; sh <= 16; sh += 8) {
				uint32_t sc = (s >> sh) & 0xff, dc = (d >> sh) & 0xff;
				uint32_t v = sc + (dc * (255 - a) + 127) / 255;

				o |= (v > 255 ? 255 : v) << sh;
			}
			row[x] = o;
		}
	}
}

/*
 * Reads the cursor reply; fills *cur and, when img is not NULL, blends the
 * cursor in. A missing cursor is not an error: cur->valid stays false.
 */
static int cursor_finish(struct grab *g, struct cursor_req r, struct screen_cursor *cur,
			 struct image *img, char **cause)
{
	xcb_generic_error_t *e = NULL;
	const uint32_t *px = NULL;
	int x = 0, y = 0, w = 0, h = 0, xhot = 0, yhot = 0;
	void *reply = NULL;

	memset(cur, 0, sizeof(*cur));
	if (r.kind == 2) {
		xcb_xfixes_get_cursor_image_and_name_cookie_t ck = {r.seq};
		xcb_xfixes_get_cursor_image_and_name_reply_t *rep =
			xcb_xfixes_get_cursor_image_and_name_reply(g->c, ck, &e);

		if (rep != NULL) {
			int len = xcb_xfixes_get_cursor_image_and_name_name_length(rep);
			size_t n = len < 0 ? 0 : (size_t)len;

			if (n >= sizeof(cur->name))
				n = sizeof(cur->name) - 1;
			memcpy(cur->name, xcb_xfixes_get_cursor_image_and_name_name(rep), n);
			cur->name[n] = '\0';
			x = rep->x, y = rep->y, w = rep->width, h = rep->height;
			xhot = rep->xhot, yhot = rep->yhot;
			cur->serial = rep->cursor_serial;
			px = xcb_xfixes_get_cursor_image_and_name_cursor_image(rep);
			if (xcb_xfixes_get_cursor_image_and_name_cursor_image_length(rep) < w * h)
				px = NULL;
		}
		reply = rep;
	} else if (r.kind == 1) {
		xcb_xfixes_get_cursor_image_cookie_t ck = {r.seq};
		xcb_xfixes_get_cursor_image_reply_t *rep =
			xcb_xfixes_get_cursor_image_reply(g->c, ck, &e);

		if (rep != NULL) {
			x = rep->x, y = rep->y, w = rep->width, h = rep->height;
			xhot = rep->xhot, yhot = rep->yhot;
			cur->serial = rep->cursor_serial;
			px = xcb_xfixes_get_cursor_image_cursor_image(rep);
			if (xcb_xfixes_get_cursor_image_cursor_image_length(rep) < w * h)
				px = NULL;
		}
		reply = rep;
	} else {
		return 0;
	}
	if (reply == NULL) {
		/* The server may refuse a cursor image (e.g. a restricted client): not fatal. */
		if (e == NULL && xcb_connection_has_error(g->c))
			return util_fail(cause, -EIO,
					 "cannot read the cursor: the X connection broke");
		free(e);
		return 0;
	}
	cur->valid = true;
	cur->x = x;
	cur->y = y;
	if (img != NULL && px != NULL)
		cursor_blend(img, px, w, h, x - xhot, y - yhot);
	free(reply);
	return 0;
}

int grab_query_cursor(struct grab *g, struct screen_cursor *cursor, char **cause)
{
	return cursor_finish(g, cursor_send(g), cursor, NULL, cause);
}

/* Sends the image request for the current size; returns its sequence number. */
static unsigned image_send(struct grab *g)
{
	if (g->shm)
		return xcb_shm_get_image(g->c, g->root, 0, 0, (uint16_t)g->width,
					 (uint16_t)g->height, ~0u, XCB_IMAGE_FORMAT_Z_PIXMAP,
					 g->seg, 0).sequence;
	return xcb_get_image(g->c, XCB_IMAGE_FORMAT_Z_PIXMAP, g->root, 0, 0, (uint16_t)g->width,
			     (uint16_t)g->height, ~0u).sequence;
}

/* Waits for the image reply. With discard, only consumes it (after a size change). */
static int image_finish(struct grab *g, unsigned seq, bool discard, struct image *img,
			char **cause)
{
	xcb_generic_error_t *e = NULL;
	size_t have = 0, need = (size_t)g->width * g->height * 4;
	void *rep;

	/* The two kinds of reply differ only in where the pixels are. */
	if (g->shm) {
		xcb_shm_get_image_reply_t *r =
			xcb_shm_get_image_reply(g->c, (xcb_shm_get_image_cookie_t){seq}, &e);

		have = r != NULL ? (size_t)r->size : 0;
		rep = r;
	} else {
		xcb_get_image_reply_t *r = xcb_get_image_reply(g->c, (xcb_get_image_cookie_t){seq}, &e);

		have = r != NULL ? (size_t)xcb_get_image_data_length(r) : 0;
		rep = r;
	}
	if (discard) {
		free(rep);
		free(e);
		return 0;
	}
	if (rep == NULL)
		return fail_x(cause, "cannot grab the screen", g->c, e);
	if (have < need) {
		free(rep);
		return util_fail(cause, -EIO, g->shm ? "cannot grab the screen: short image"
		                                     : "cannot grab the screen: short image reply");
	}
	if (g->shm) {
		free(rep);
		img->pixels = g->shm_addr;
	} else {
		free(g->plain);
		g->plain = rep;
		img->pixels = xcb_get_image_data(g->plain);
	}
	img->width = g->width;
	img->height = g->height;
	img->stride = (size_t)g->width * 4;
	return 0;
}

int grab_frame(struct grab *g, unsigned flags, struct image *img,
	       struct screen_cursor *cursor, char **cause)
{
	xcb_generic_error_t *e = NULL;
	xcb_get_geometry_cookie_t gck;
	xcb_get_geometry_reply_t *geo;
	struct screen_cursor scratch;
	struct cursor_req creq;
	unsigned iseq;
	int rc;

	memset(img, 0, sizeof(*img));
	/*
	 * Everything is pipelined into one round trip: the root's geometry (to notice a
	 * RandR resize), the image at the size we know, and the cursor. If the size
	 * changed, the image is thrown away and grabbed again at the new size.
	 */
	gck = xcb_get_geometry(g->c, g->root);
	iseq = image_send(g);
	creq = cursor_send(g);
	geo = xcb_get_geometry_reply(g->c, gck, &e);
	if (geo == NULL) {
		rc = fail_x(cause, "cannot read the screen size", g->c, e);
		image_finish(g, iseq, true, img, NULL);
		cursor_finish(g, creq, &scratch, NULL, NULL);
		return rc;
	}
	if (geo->width != g->width || geo->height != g->height) {
		image_finish(g, iseq, true, img, NULL);
		log_info("grab: the screen is now %ux%u", (unsigned)geo->width,
			 (unsigned)geo->height);
		g->width = geo->width;
		g->height = geo->height;
		if (g->shm && (size_t)g->width * g->height * 4 > g->shm_size) {
			char *why = NULL;

			rc = shm_setup(g, (size_t)g->width * g->height * 4, &why);
			if (rc < 0) {
				log_warn("grab: %s; falling back to plain GetImage", why);
				free(why);
				g->shm = false;
			}
		}
		iseq = image_send(g);
	}
	free(geo);
	rc = image_finish(g, iseq, false, img, cause);
	if (rc < 0) {
		cursor_finish(g, creq, &scratch, NULL, NULL);
		memset(img, 0, sizeof(*img));
		return rc;
	}
	rc = cursor_finish(g, creq, cursor != NULL ? cursor : &scratch,
			   (flags & GRAB_FRAME_CURSOR) ? img : NULL, cause);
	if (rc < 0) {
		memset(img, 0, sizeof(*img));
		return rc;
	}
	return 0;
}

int grab_monitors(struct grab *g, struct screen_monitor **out, size_t *n, char **cause)
{
	xcb_generic_error_t *e = NULL;
	xcb_randr_get_monitors_reply_t *rep = NULL;
	xcb_get_atom_name_cookie_t *names = NULL;
	struct screen_monitor *m = NULL;
	size_t count = 0;

	*out = NULL;
	*n = 0;
	if (g->randr_monitors) {
		rep = xcb_randr_get_monitors_reply(g->c, xcb_randr_get_monitors(g->c, g->root, 1),
						   &e);
		if (rep == NULL)
			return fail_x(cause, "cannot list the monitors", g->c, e);
		count = (size_t)xcb_randr_get_monitors_monitors_length(rep);
	}
	if (count == 0) {
		xcb_get_geometry_reply_t *geo =
			xcb_get_geometry_reply(g->c, xcb_get_geometry(g->c, g->root), &e);

		free(rep);
		if (geo == NULL)
			return fail_x(cause, "cannot read the screen size", g->c, e);
		m = util_xcalloc(1, sizeof(*m));
		m->width = geo->width;
		m->height = geo->height;
		m->primary = true;
		strcpy(m->name, "screen");
		free(geo);
		*out = m;
		*n = 1;
		return 0;
	}

	m = util_xcalloc(count, sizeof(*m));
	names = util_xcalloc(count, sizeof(*names));
	xcb_randr_monitor_info_iterator_t it = xcb_randr_get_monitors_monitors_iterator(rep);

	for (size_t i = 0; i < count && it.rem; i++, xcb_randr_monitor_info_next(&it)) {
		m[i].x = it.data->x;
		m[i].y = it.data->y;
		m[i].width = it.data->width;
		m[i].height = it.data->height;
		m[i].primary = it.data->primary != 0;
		names[i] = xcb_get_atom_name(g->c, it.data->name);
	}
	for (size_t i = 0; i < count; i++) {
		xcb_get_atom_name_reply_t *an = xcb_get_atom_name_reply(g->c, names[i], &e);

		if (an != NULL) {
			int len = xcb_get_atom_name_name_length(an);
			size_t k = len < 0 ? 0 : (size_t)len;

			if (k >= sizeof(m[i].name))
				k = sizeof(m[i].name) - 1;
			memcpy(m[i].name, xcb_get_atom_name_name(an), k);
			m[i].name[k] = '\0';
			free(an);
		} else {
			free(e);
			e = NULL;
			snprintf(m[i].name, sizeof(m[i].name), "monitor-%zu", i);
		}
	}
	free(names);
	free(rep);
	*out = m;
	*n = count;
	return 0;
}
