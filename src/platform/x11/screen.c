/*
 * screen, X11 backend: one xcb connection of the frames engine's own, XDamage on
 * the root window for the changes and an XFixes region to read them back, and one
 * grab (grab.h) per image buffer on that connection (see screen.h).
 */
#include "screen.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xcb/damage.h>
#include <xcb/xcb.h>
#include <xcb/xfixes.h>

#include "grab.h"
#include "util.h"

struct screen {
	xcb_connection_t *c;
	int screen;                /* the screen number xcb_connect returned */
	xcb_window_t root;
	bool changes;              /* XDamage is set up */
	uint8_t damage_event;      /* first event code of DAMAGE */
	xcb_damage_damage_t damage;
	xcb_xfixes_region_t region;
	unsigned n_grabs;
	struct grab *grabs[SCREEN_BUFFERS_MAX];
};

static int connect_display(const char *display, xcb_connection_t **c, int *screen,
                           char **cause)
{
	const char *name = display != NULL ? display : getenv("DISPLAY");

	if (name == NULL || *name == '\0')
		return util_fail(cause, -ENXIO, "cannot take frames: DISPLAY is not set");
	*c = xcb_connect(name, screen);
	if (xcb_connection_has_error(*c)) {
		xcb_disconnect(*c);
		*c = NULL;
		return util_fail(cause, -ENXIO, "cannot take frames: cannot connect to display %s",
		                 name);
	}
	return 0;
}

static int setup_damage(struct screen *f, int screen, char **cause)
{
	const xcb_query_extension_reply_t *ext;
	xcb_damage_query_version_reply_t *dv;
	xcb_xfixes_query_version_reply_t *xv;
	xcb_generic_error_t *e;
	xcb_screen_iterator_t si = xcb_setup_roots_iterator(xcb_get_setup(f->c));

	for (int i = 0; si.rem && i < screen; i++)
		xcb_screen_next(&si);
	if (!si.rem)
		return util_fail(cause, -EINVAL, "cannot take frames: no X screen %d", screen);
	f->root = si.data->root;

	ext = xcb_get_extension_data(f->c, &xcb_xfixes_id);
	if (ext == NULL || !ext->present)
		return util_fail(cause, -ENOTSUP, "cannot take frames: the X server has no XFixes "
		                 "extension");
	xv = xcb_xfixes_query_version_reply(f->c, xcb_xfixes_query_version(f->c, 4, 0), NULL);
	if (xv == NULL || xv->major_version < 2) {
		free(xv);
		return util_fail(cause, -ENOTSUP, "cannot take frames: XFixes 2 is needed");
	}
	free(xv);
	ext = xcb_get_extension_data(f->c, &xcb_damage_id);
	if (ext == NULL || !ext->present)
		return util_fail(cause, -ENOTSUP, "cannot take frames: the X server has no DAMAGE "
		                 "extension");
	f->damage_event = ext->first_event;
	dv = xcb_damage_query_version_reply(f->c, xcb_damage_query_version(f->c, 1, 1), NULL);
	if (dv == NULL) {
		return util_fail(cause, -ENOTSUP, "cannot take frames: the DAMAGE extension does "
		                 "not answer");
	}
	free(dv);
	f->region = xcb_generate_id(f->c);
	e = xcb_request_check(f->c, xcb_xfixes_create_region_checked(f->c, f->region, 0, NULL));
	if (e == NULL) {
		f->damage = xcb_generate_id(f->c);
		/* NON_EMPTY: one event each time the damage goes from nothing to something. */
		e = xcb_request_check(f->c, xcb_damage_create_checked(f->c, f->damage, f->root,
		                      XCB_DAMAGE_REPORT_LEVEL_NON_EMPTY));
	}
	if (e != NULL) {
		int code = e->error_code;

		free(e);
		return util_fail(cause, -EIO, "cannot take frames: the X server refused to track "
		                 "damage (X error %d)", code);
	}
	/*
	 * The server reports a new damage object's whole window as damaged, at once
	 * (before the reply that request_check waited for): that is not a change.
	 */
	xcb_generic_event_t *ev;

	while ((ev = xcb_poll_for_event(f->c)) != NULL)
		free(ev);
	f->changes = true;
	return 0;
}

int screen_open(const char *display, unsigned flags, unsigned n_buffers, struct screen **out,
                char **cause)
{
	struct screen *s;
	unsigned gflags = (flags & SCREEN_OPEN_NO_SHM) ? GRAB_OPEN_NO_SHM : 0;
	int rc;

	assert(n_buffers >= 1 && n_buffers <= SCREEN_BUFFERS_MAX);
	*out = NULL;
	s = util_xcalloc(1, sizeof(*s));
	rc = connect_display(display, &s->c, &s->screen, cause);
	if (rc != 0)
		goto fail;
	if (flags & SCREEN_OPEN_CHANGES) {
		rc = setup_damage(s, s->screen, cause);
		if (rc != 0)
			goto fail;
	}
	for (unsigned i = 0; i < n_buffers; i++) {
		rc = grab_open(s->c, s->screen, gflags, &s->grabs[i], cause);
		if (rc != 0)
			goto fail;
		s->n_grabs++;
	}
	*out = s;
	return 0;
fail:
	screen_close(s);
	return rc;
}

void screen_close(struct screen *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < SCREEN_BUFFERS_MAX; i++)
		grab_close(s->grabs[i]);
	if (s->c != NULL)
		xcb_disconnect(s->c);
	free(s);
}

int screen_fd(struct screen *s)
{
	return xcb_get_file_descriptor(s->c);
}

int screen_broken(struct screen *s)
{
	return xcb_connection_has_error(s->c) != 0;
}

int screen_dispatch(struct screen *s, bool queued_only, void (*changed)(void *arg), void *arg)
{
	xcb_generic_event_t *ev;
	int n = 0;

	while ((ev = queued_only ? xcb_poll_for_queued_event(s->c) : xcb_poll_for_event(s->c))) {
		if (s->changes &&
		    (ev->response_type & 0x7f) == s->damage_event + XCB_DAMAGE_NOTIFY)
			changed(arg);
		free(ev);
		n++;
	}
	return xcb_connection_has_error(s->c) == 0 ? n : -EPIPE;
}

int screen_grab(struct screen *s, unsigned buffer, unsigned flags, struct image *img,
                struct screen_cursor *cursor, struct image_rect *changed, char **cause)
{
	xcb_xfixes_fetch_region_cookie_t ck = {0};
	xcb_xfixes_fetch_region_reply_t *rep = NULL;
	unsigned gflags = (flags & SCREEN_GRAB_CURSOR) ? GRAB_FRAME_CURSOR : 0;
	int rc;

	assert(buffer < s->n_grabs);
	/* Subtract before the image: damage after the subtract triggers the next grab. */
	if (s->changes) {
		xcb_damage_subtract(s->c, s->damage, XCB_NONE, s->region);
		ck = xcb_xfixes_fetch_region(s->c, s->region);
	}
	rc = grab_frame(s->grabs[buffer], gflags, img, cursor, cause);
	if (s->changes)
		rep = xcb_xfixes_fetch_region_reply(s->c, ck, NULL);
	if (rc != 0) {
		free(rep);
		return rc;
	}
	if (rep != NULL) {
		*changed = (struct image_rect){rep->extents.x, rep->extents.y, rep->extents.width,
		                              rep->extents.height};
		free(rep);
	} else {
		*changed = (struct image_rect){0, 0, img->width, img->height};
	}
	return 0;
}

int screen_monitors(struct screen *s, struct screen_monitor **out, size_t *n, char **cause)
{
	return grab_monitors(s->grabs[0], out, n, cause);
}
