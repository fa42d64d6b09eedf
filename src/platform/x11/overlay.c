/*
 * overlay, X11 backend: the override-redirect window, the hotkey grab and the
 * screen-saver state, on one xcb connection of their own (see overlay.h).
 */
#include "overlay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xcb/screensaver.h>
#include <xcb/xcb.h>
#include <xkbcommon/xkbcommon.h>

#include "log.h"
#include "util.h"

#define IND_W 132
#define IND_H 20
#define IND_MARGIN 4

/* Lock and NumLock (Mod2) are grabbed too, so the hotkey works with either on. */
static const uint16_t lock_variants[] = {0, XCB_MOD_MASK_LOCK, XCB_MOD_MASK_2,
                                         XCB_MOD_MASK_LOCK | XCB_MOD_MASK_2};

struct overlay {
	xcb_connection_t *conn;
	xcb_screen_t *screen;
	xcb_window_t win;
	xcb_gcontext_t gc;
	xcb_font_t font;
	struct overlay_look look;
	xcb_keycode_t hotkey;
	uint16_t hotkey_mods;
	int has_saver;
};

static void draw(struct overlay *ind)
{
	const char *label = ind->look.label;
	uint32_t bg = ind->look.bg, fg = ind->look.fg;
	xcb_rectangle_t r = {0, 0, IND_W, IND_H};

	xcb_change_window_attributes(ind->conn, ind->win, XCB_CW_BACK_PIXEL, &bg);
	xcb_change_gc(ind->conn, ind->gc, XCB_GC_FOREGROUND, &bg);
	xcb_poly_fill_rectangle(ind->conn, ind->win, ind->gc, 1, &r);
	xcb_change_gc(ind->conn, ind->gc, XCB_GC_FOREGROUND | XCB_GC_BACKGROUND,
	              (uint32_t[]){fg, bg});
	xcb_image_text_8(ind->conn, (uint8_t)strlen(label), ind->win, ind->gc, 8, 14, label);
	xcb_flush(ind->conn);
}

static void raise_top(struct overlay *ind)
{
	uint32_t above = XCB_STACK_MODE_ABOVE;

	xcb_configure_window(ind->conn, ind->win, XCB_CONFIG_WINDOW_STACK_MODE, &above);
	xcb_flush(ind->conn);
}

static void set_text_prop(struct overlay *ind, xcb_atom_t atom, const char *v, size_t len)
{
	xcb_change_property(ind->conn, XCB_PROP_MODE_REPLACE, ind->win, atom, XCB_ATOM_STRING, 8,
	                    (uint32_t)len, v);
}

/* Sets WM_CLASS: the instance and the class, each NUL-terminated. */
static void set_wm_class(struct overlay *ind, const char *instance, const char *class_name)
{
	size_t il = strlen(instance) + 1, cl = strlen(class_name) + 1;
	char *v = util_xmalloc(il + cl);

	memcpy(v, instance, il);
	memcpy(v + il, class_name, cl);
	set_text_prop(ind, XCB_ATOM_WM_CLASS, v, il + cl);
	free(v);
}

/* Finds a keycode that gives sym in the core keyboard mapping (0 when none). */
static xcb_keycode_t keycode_of(struct overlay *ind, xcb_keysym_t sym)
{
	const xcb_setup_t *setup = xcb_get_setup(ind->conn);
	uint8_t lo = setup->min_keycode, hi = setup->max_keycode;
	xcb_get_keyboard_mapping_reply_t *m;
	xcb_keycode_t found = 0;

	m = xcb_get_keyboard_mapping_reply(ind->conn,
	                                   xcb_get_keyboard_mapping(ind->conn, lo,
	                                                            (uint8_t)(hi - lo + 1)), NULL);
	if (m == NULL)
		return 0;
	xcb_keysym_t *syms = xcb_get_keyboard_mapping_keysyms(m);
	int per = m->keysyms_per_keycode;
	for (int k = 0; k <= hi - lo && found == 0; k++)
		for (int j = 0; j < per && j < 2; j++)
			if (syms[k * per + j] == sym) {
				found = (xcb_keycode_t)(lo + k);
				break;
			}
	free(m);
	return found;
}

static int grab_hotkey(struct overlay *ind, const char *name, uint32_t mods, char **cause)
{
	xkb_keysym_t sym = xkb_keysym_from_name(name, XKB_KEYSYM_NO_FLAGS);
	uint16_t xmods = 0;

	if (mods & OVERLAY_MOD_SHIFT)
		xmods |= XCB_MOD_MASK_SHIFT;
	if (mods & OVERLAY_MOD_CTRL)
		xmods |= XCB_MOD_MASK_CONTROL;
	if (mods & OVERLAY_MOD_ALT)
		xmods |= XCB_MOD_MASK_1;
	if (mods & OVERLAY_MOD_SUPER)
		xmods |= XCB_MOD_MASK_4;
	ind->hotkey = keycode_of(ind, sym);
	if (ind->hotkey == 0) {
		/* Not on this keyboard layout: no hotkey, but `mimic pause` still works. */
		return 0;
	}
	ind->hotkey_mods = xmods;
	for (size_t i = 0; i < sizeof(lock_variants) / sizeof(lock_variants[0]); i++) {
		xcb_generic_error_t *e = xcb_request_check(ind->conn,
			xcb_grab_key_checked(ind->conn, 1, ind->screen->root,
			                     (uint16_t)(xmods | lock_variants[i]), ind->hotkey,
			                     XCB_GRAB_MODE_ASYNC, XCB_GRAB_MODE_ASYNC));
		if (e != NULL) {
			free(e);
			if (i == 0) {
				/* Another program has it: `mimic pause` still works. */
				log_warn("the pause hotkey is taken by another program; choose another "
				         "with [controls] pause_hotkey");
				ind->hotkey = 0;
				return 0;
			}
		}
	}
	return 0;
}

int overlay_open(const struct overlay_opts *o, struct overlay **out, char **cause)
{
	struct overlay *ind = util_xcalloc(1, sizeof(*ind));
	const char *display = o->display;
	xcb_generic_error_t *e;
	xcb_get_window_attributes_reply_t *a = NULL;
	const xcb_query_extension_reply_t *ext;
	uint32_t values[3];
	int screen_num = 0, rc = 0;

	*out = NULL;
	ind->conn = xcb_connect(display, &screen_num);
	if (ind->conn == NULL || xcb_connection_has_error(ind->conn)) {
		rc = util_fail(cause, -ENXIO, "cannot show the recording indicator: no X server "
		               "at %s", display ? display : (getenv("DISPLAY") ? getenv("DISPLAY")
		                                                              : "(DISPLAY unset)"));
		goto fail;
	}
	{
		xcb_screen_iterator_t it = xcb_setup_roots_iterator(xcb_get_setup(ind->conn));
		for (int i = 0; i < screen_num && it.rem > 0; i++)
			xcb_screen_next(&it);
		ind->screen = it.data;
	}
	ind->win = xcb_generate_id(ind->conn);
	ind->look = o->look;
	values[0] = ind->look.bg;
	values[1] = 1; /* override-redirect: no window manager moves, hides or decorates it */
	values[2] = XCB_EVENT_MASK_EXPOSURE | XCB_EVENT_MASK_VISIBILITY_CHANGE |
	            XCB_EVENT_MASK_STRUCTURE_NOTIFY;
	e = xcb_request_check(ind->conn, xcb_create_window_checked(ind->conn,
		XCB_COPY_FROM_PARENT, ind->win, ind->screen->root,
		(int16_t)(ind->screen->width_in_pixels - IND_W - IND_MARGIN), IND_MARGIN,
		IND_W, IND_H, 0, XCB_WINDOW_CLASS_INPUT_OUTPUT, ind->screen->root_visual,
		XCB_CW_BACK_PIXEL | XCB_CW_OVERRIDE_REDIRECT | XCB_CW_EVENT_MASK, values));
	if (e != NULL) {
		free(e);
		rc = util_fail(cause, -EIO, "cannot create the recording indicator window");
		goto fail;
	}
	set_text_prop(ind, XCB_ATOM_WM_NAME, o->name, strlen(o->name));
	set_wm_class(ind, o->instance, o->class_name);
	ind->font = xcb_generate_id(ind->conn);
	e = xcb_request_check(ind->conn, xcb_open_font_checked(ind->conn, ind->font, 5, "fixed"));
	ind->gc = xcb_generate_id(ind->conn);
	if (e == NULL) {
		values[0] = 0xffffff;
		values[1] = ind->font;
		xcb_create_gc(ind->conn, ind->gc, ind->win, XCB_GC_FOREGROUND | XCB_GC_FONT, values);
	} else {
		/* No core font: the colour alone still shows the state. */
		free(e);
		ind->font = 0;
		values[0] = 0xffffff;
		xcb_create_gc(ind->conn, ind->gc, ind->win, XCB_GC_FOREGROUND, values);
	}
	/* Restacking of the root's children shows as SubstructureNotify: raise again then. */
	values[0] = XCB_EVENT_MASK_SUBSTRUCTURE_NOTIFY;
	xcb_change_window_attributes(ind->conn, ind->screen->root, XCB_CW_EVENT_MASK, values);
	e = xcb_request_check(ind->conn, xcb_map_window_checked(ind->conn, ind->win));
	if (e != NULL) {
		free(e);
		rc = util_fail(cause, -EIO, "cannot map the recording indicator window");
		goto fail;
	}
	raise_top(ind);
	a = xcb_get_window_attributes_reply(ind->conn,
	                                    xcb_get_window_attributes(ind->conn, ind->win), NULL);
	if (a == NULL || a->map_state != XCB_MAP_STATE_VIEWABLE) {
		rc = util_fail(cause, -EIO, "the recording indicator window is not shown on the "
		               "screen; mimic does not record without it");
		goto fail;
	}
	ext = xcb_get_extension_data(ind->conn, &xcb_screensaver_id);
	ind->has_saver = ext != NULL && ext->present;
	if (o->hotkey_sym != NULL) {
		rc = grab_hotkey(ind, o->hotkey_sym, o->hotkey_mods, cause);
		if (rc != 0)
			goto fail;
	}
	/*
	 * Take in the Expose that mapping caused now, so that the first drawing
	 * happens before the screenshots start (a later one would count as a change).
	 */
	free(xcb_get_input_focus_reply(ind->conn, xcb_get_input_focus(ind->conn), NULL));
	for (xcb_generic_event_t *ev; (ev = xcb_poll_for_event(ind->conn)) != NULL;)
		free(ev);
	draw(ind);
	free(xcb_get_input_focus_reply(ind->conn, xcb_get_input_focus(ind->conn), NULL));
	free(a);
	*out = ind;
	return 0;
fail:
	free(a);
	overlay_close(ind);
	return rc;
}

void overlay_close(struct overlay *ind)
{
	if (ind == NULL)
		return;
	if (ind->conn != NULL) {
		if (!xcb_connection_has_error(ind->conn) && ind->win != 0) {
			xcb_destroy_window(ind->conn, ind->win);
			xcb_flush(ind->conn);
		}
		xcb_disconnect(ind->conn);
	}
	free(ind);
}

int overlay_fd(struct overlay *ind)
{
	return xcb_get_file_descriptor(ind->conn);
}

void overlay_show(struct overlay *ind, const struct overlay_look *look)
{
	ind->look = *look;
	draw(ind);
}

int overlay_dispatch(struct overlay *ind, int do_read)
{
	xcb_generic_event_t *ev;
	int presses = 0, redraw = 0, restack = 0;

	/* One read at most, as desktop_dispatch. */
	while ((ev = do_read ? xcb_poll_for_event(ind->conn) :
	                       xcb_poll_for_queued_event(ind->conn)) != NULL) {
		do_read = 0;
		switch (ev->response_type & 0x7f) {
		case XCB_EXPOSE:
			redraw = 1;
			break;
		case XCB_KEY_PRESS: {
			xcb_key_press_event_t *k = (xcb_key_press_event_t *)ev;
			if (k->detail == ind->hotkey && ind->hotkey != 0)
				presses++;
			break;
		}
		case XCB_VISIBILITY_NOTIFY: {
			xcb_visibility_notify_event_t *v = (xcb_visibility_notify_event_t *)ev;
			if (v->state != XCB_VISIBILITY_UNOBSCURED)
				restack = 1;
			break;
		}
		case XCB_MAP_NOTIFY:
		case XCB_CONFIGURE_NOTIFY:
		case XCB_CIRCULATE_NOTIFY: {
			/* The window the event is about sits at the same offset in all three. */
			xcb_map_notify_event_t *m = (xcb_map_notify_event_t *)ev;
			if (m->window != ind->win)
				restack = 1;
			break;
		}
		case XCB_UNMAP_NOTIFY: {
			xcb_unmap_notify_event_t *u = (xcb_unmap_notify_event_t *)ev;
			/* Something unmapped the indicator: show it again at once. */
			if (u->window == ind->win)
				xcb_map_window(ind->conn, ind->win);
			break;
		}
		default:
			break;
		}
		free(ev);
	}
	if (xcb_connection_has_error(ind->conn))
		return -EPIPE;
	if (restack)
		raise_top(ind);
	if (redraw)
		draw(ind);
	return presses;
}

uint32_t overlay_hotkey_keycode(const struct overlay *ind)
{
	return ind != NULL ? ind->hotkey : 0;
}

int overlay_screen_locked(struct overlay *ind)
{
	xcb_screensaver_query_info_reply_t *r;
	int on;

	if (ind == NULL || !ind->has_saver)
		return 0;
	r = xcb_screensaver_query_info_reply(ind->conn,
	                                     xcb_screensaver_query_info(ind->conn,
	                                                                ind->screen->root), NULL);
	on = r != NULL && r->state == XCB_SCREENSAVER_STATE_ON;
	free(r);
	return on;
}

uint32_t overlay_window(const struct overlay *ind)
{
	return ind->win;
}
