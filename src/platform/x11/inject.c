/*
 * inject (X11): the agent's own input devices, an XInput 2 master pair created
 * with XIChangeHierarchy, driven with XTEST on its slaves (see inject.h and the
 * measurements in docs/AGENTS.md).
 *
 * XTEST's FakeInput with a core event type (KeyPress, ButtonPress) ignores the
 * device id and goes through the core XTEST devices that xdotool uses; with the
 * XInput 1 device event types (DeviceKeyPress, DeviceButtonPress, ...) it takes
 * the device id, so the raw events name the agent's XTEST slave. Motion is sent
 * as DeviceMotionNotify followed by a DeviceValuator event (the server wants the
 * position as valuators); should the server not move the pointer that way, the
 * pointer is warped (XIWarpPointer on the agent's master), which reaches the
 * applications but gives the recorder no raw motion (docs/AGENTS.md, limits).
 *
 * The pair is created and driven from one connection: the X server refuses XTEST
 * input into a master from a client other than the one that made it once that
 * client is gone, and a pair is removed with the connection that made it.
 */
#include "inject.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <xcb/xcb.h>
#include <xcb/xcbext.h>
#include <xcb/xinput.h>
#include <xcb/xtest.h>
#include <xkbcommon/xkbcommon.h>

#include "log.h"
#include "util.h"

/* XInput 1 event offsets from the extension's first event. */
enum { XI1_VALUATOR = 0, XI1_KEY_PRESS = 1, XI1_KEY_RELEASE = 2, XI1_BUTTON_PRESS = 3,
       XI1_BUTTON_RELEASE = 4, XI1_MOTION = 5 };

struct inject {
	xcb_connection_t *conn;
	xcb_window_t root;
	int32_t w, h;
	uint8_t xi_event_base;
	uint16_t master_ptr, master_kbd;   /* the pair */
	uint16_t xtest_ptr, xtest_kbd;     /* its XTEST slaves, which events are sent on */
	uint16_t core_kbd;                 /* the person's keyboard (Virtual core keyboard) */
	int warp;                          /* move by warping (fake motion did not move) */
	xcb_keycode_t min_kc;
	int per_code;                      /* keysyms per keycode */
	int n_codes;
	xcb_keysym_t *syms;                /* n_codes * per_code */
};

static int load_keymap(struct inject *in)
{
	const xcb_setup_t *setup = xcb_get_setup(in->conn);
	xcb_get_keyboard_mapping_reply_t *r;
	int n = setup->max_keycode - setup->min_keycode + 1;

	r = xcb_get_keyboard_mapping_reply(in->conn, xcb_get_keyboard_mapping(in->conn,
	                                   setup->min_keycode, (uint8_t)n), NULL);
	if (r == NULL)
		return -EIO;
	free(in->syms);
	in->min_kc = setup->min_keycode;
	in->per_code = r->keysyms_per_keycode;
	in->n_codes = n;
	in->syms = util_xmalloc((size_t)n * (size_t)(in->per_code > 0 ? in->per_code : 1) *
	                        sizeof *in->syms);
	memcpy(in->syms, xcb_get_keyboard_mapping_keysyms(r),
	       (size_t)xcb_get_keyboard_mapping_keysyms_length(r) * sizeof *in->syms);
	free(r);
	return 0;
}

/* The keycode producing keysym and whether it needs Shift; 0 when none. */
static xcb_keycode_t find_key(const struct inject *in, uint32_t keysym, int *shift)
{
	for (int level = 0; level < 2 && level < in->per_code; level++) {
		for (int i = 0; i < in->n_codes; i++) {
			if (in->syms[i * in->per_code + level] == keysym) {
				*shift = level;
				return (xcb_keycode_t)(in->min_kc + i);
			}
		}
	}
	return 0;
}

/* Finds the pair's devices and the core keyboard by name; returns how many of the pair were found. */
static int find_devices(struct inject *in, int remove_stale)
{
	xcb_input_xi_query_device_reply_t *r;
	xcb_input_xi_device_info_iterator_t it;
	int found = 0;

	r = xcb_input_xi_query_device_reply(in->conn,
	                                    xcb_input_xi_query_device(in->conn, XCB_INPUT_DEVICE_ALL),
	                                    NULL);
	if (r == NULL)
		return -EIO;
	for (it = xcb_input_xi_query_device_infos_iterator(r); it.rem > 0;
	     xcb_input_xi_device_info_next(&it)) {
		xcb_input_xi_device_info_t *info = it.data;
		int len = xcb_input_xi_device_info_name_length(info);
		char name[128];

		if (len >= (int)sizeof name)
			len = (int)sizeof name - 1;
		memcpy(name, xcb_input_xi_device_info_name(info), (size_t)len);
		name[len] = '\0';
		if (strcmp(name, "Virtual core keyboard") == 0)
			in->core_kbd = info->deviceid;
		if (remove_stale) {
			/* A pair left by a server that died: nobody can inject into it any more. */
			if (info->type == XCB_INPUT_DEVICE_TYPE_MASTER_POINTER &&
			    strcmp(name, INJECT_DEVICE_NAME " pointer") == 0) {
				struct xcb_input_remove_master_t rm = {
					.type = XCB_INPUT_HIERARCHY_CHANGE_TYPE_REMOVE_MASTER,
					.len = sizeof rm / 4, .deviceid = info->deviceid,
					.return_mode = XCB_INPUT_CHANGE_MODE_FLOAT };
				xcb_input_xi_change_hierarchy(in->conn, 1, (void *)&rm);
				log_info("removed a stale agent device pair (%d)", (int)info->deviceid);
			}
			continue;
		}
		if (strcmp(name, INJECT_DEVICE_NAME " pointer") == 0)
			in->master_ptr = info->deviceid, found++;
		else if (strcmp(name, INJECT_DEVICE_NAME " keyboard") == 0)
			in->master_kbd = info->deviceid, found++;
		else if (strcmp(name, INJECT_DEVICE_NAME " XTEST pointer") == 0)
			in->xtest_ptr = info->deviceid, found++;
		else if (strcmp(name, INJECT_DEVICE_NAME " XTEST keyboard") == 0)
			in->xtest_kbd = info->deviceid, found++;
	}
	free(r);
	return found;
}

static int add_master(struct inject *in, char **cause)
{
	static const char name[] = INJECT_DEVICE_NAME;
	uint8_t buf[sizeof(xcb_input_add_master_t) + sizeof name + 4] = { 0 };
	xcb_input_add_master_t *am = (void *)buf;
	size_t name_len = strlen(name), padded = (name_len + 3) & ~(size_t)3;
	xcb_generic_error_t *err;

	am->type = XCB_INPUT_HIERARCHY_CHANGE_TYPE_ADD_MASTER;
	am->len = (uint16_t)((sizeof *am + padded) / 4);
	am->name_len = (uint16_t)name_len;
	am->send_core = 1;
	am->enable = 1;
	memcpy(buf + sizeof *am, name, name_len);
	err = xcb_request_check(in->conn, xcb_input_xi_change_hierarchy_checked(in->conn, 1,
	                        (void *)buf));
	if (err != NULL) {
		int code = err->error_code;
		free(err);
		return util_fail(cause, -EIO, "the X server refused to add the agent's input devices "
		                 "(X error %d)", code);
	}
	return 0;
}

int inject_open(const char *display, struct inject **out, char **cause)
{
	struct inject *in = util_xcalloc(1, sizeof *in);
	const xcb_query_extension_reply_t *xi, *xt;
	xcb_input_xi_query_version_reply_t *v;
	xcb_screen_iterator_t sit;
	int screen_num = 0, rc;

	*out = NULL;
	in->conn = xcb_connect(display, &screen_num);
	if (xcb_connection_has_error(in->conn)) {
		rc = util_fail(cause, -ENXIO, "cannot open display %s",
		               display ? display : (getenv("DISPLAY") ? getenv("DISPLAY") : "(unset)"));
		goto fail;
	}
	sit = xcb_setup_roots_iterator(xcb_get_setup(in->conn));
	for (int i = 0; i < screen_num && sit.rem > 0; i++)
		xcb_screen_next(&sit);
	in->root = sit.data->root;
	in->w = sit.data->width_in_pixels;
	in->h = sit.data->height_in_pixels;
	xi = xcb_get_extension_data(in->conn, &xcb_input_id);
	xt = xcb_get_extension_data(in->conn, &xcb_test_id);
	if (xi == NULL || !xi->present || xt == NULL || !xt->present) {
		rc = util_fail(cause, -ENOTSUP, "the X server lacks %s; the agent needs it to inject input",
		               xi == NULL || !xi->present ? "XInput" : "XTEST");
		goto fail;
	}
	in->xi_event_base = xi->first_event;
	v = xcb_input_xi_query_version_reply(in->conn, xcb_input_xi_query_version(in->conn, 2, 2),
	                                     NULL);
	if (v == NULL || v->major_version < 2 || (v->major_version == 2 && v->minor_version < 2)) {
		free(v);
		rc = util_fail(cause, -ENOTSUP, "the X server lacks XInput 2.2");
		goto fail;
	}
	free(v);
	if (find_devices(in, 1) < 0) {
		rc = util_fail(cause, -EIO, "cannot list the X server's input devices");
		goto fail;
	}
	if ((rc = add_master(in, cause)) < 0)
		goto fail;
	if (find_devices(in, 0) != 4) {
		rc = util_fail(cause, -EIO, "the agent's input devices did not appear on the X server");
		goto fail;
	}
	if (load_keymap(in) != 0) {
		rc = util_fail(cause, -EIO, "cannot read the keyboard mapping");
		goto fail;
	}
	log_info("agent devices: pointer %d (XTEST %d), keyboard %d (XTEST %d)",
	         (int)in->master_ptr, (int)in->xtest_ptr, (int)in->master_kbd, (int)in->xtest_kbd);
	*out = in;
	return 0;
fail:
	inject_close(in);
	return rc;
}

void inject_close(struct inject *in)
{
	if (in == NULL)
		return;
	if (in->master_ptr != 0 && !xcb_connection_has_error(in->conn)) {
		struct xcb_input_remove_master_t rm = {
			.type = XCB_INPUT_HIERARCHY_CHANGE_TYPE_REMOVE_MASTER, .len = sizeof rm / 4,
			.deviceid = in->master_ptr, .return_mode = XCB_INPUT_CHANGE_MODE_FLOAT };
		xcb_generic_error_t *err = xcb_request_check(in->conn,
			xcb_input_xi_change_hierarchy_checked(in->conn, 1, (void *)&rm));

		if (err != NULL) {
			log_warn("could not remove the agent's input devices (X error %d)",
			         (int)err->error_code);
			free(err);
		}
	}
	if (in->conn != NULL)
		xcb_disconnect(in->conn);
	free(in->syms);
	free(in);
}

void inject_screen_size(const struct inject *in, int32_t *w, int32_t *h)
{
	*w = in->w;
	*h = in->h;
}

/* Sends one XTEST FakeInput of an XInput 1 device event type. */
static int fake(struct inject *in, int xi1_type, uint8_t detail, uint8_t device, char **cause)
{
	xcb_generic_error_t *err = xcb_request_check(in->conn,
		xcb_test_fake_input_checked(in->conn, (uint8_t)(in->xi_event_base + xi1_type), detail,
		                            XCB_CURRENT_TIME, in->root, 0, 0, device));

	if (err != NULL) {
		int code = err->error_code;
		free(err);
		return util_fail(cause, -EIO, "the X server refused the agent's input (X error %d)",
		                 code);
	}
	return 0;
}

/*
 * FakeInput DeviceMotionNotify (absolute) with the position in a DeviceValuator
 * event after it: one request of two events, which xcb has no call for.
 */
static int fake_motion(struct inject *in, int32_t x, int32_t y)
{
	uint8_t req[4 + 32 + 32] = { 0 };
	struct iovec iov[1] = { { req, sizeof req } };
	xcb_protocol_request_t pr = { .count = 1, .ext = &xcb_test_id,
	                              .opcode = XCB_TEST_FAKE_INPUT, .isvoid = 1 };
	xcb_void_cookie_t ck;
	xcb_generic_error_t *err;
	int32_t v[2] = { x, y };
	uint32_t root = in->root;

	/* The request header (opcodes and length) is filled in by xcb. */
	req[4] = (uint8_t)(in->xi_event_base + XI1_MOTION);
	req[5] = 0;                            /* absolute */
	memcpy(req + 12, &root, 4);
	req[4 + 31] = (uint8_t)in->xtest_ptr;  /* deviceid */
	req[36] = (uint8_t)(in->xi_event_base + XI1_VALUATOR);
	req[37] = (uint8_t)in->xtest_ptr;
	req[42] = 2;                           /* num_valuators */
	req[43] = 0;                           /* first_valuator */
	memcpy(req + 44, v, sizeof v);
	ck.sequence = xcb_send_request(in->conn, XCB_REQUEST_CHECKED, iov, &pr);
	err = xcb_request_check(in->conn, ck);
	if (err != NULL) {
		free(err);
		return -EIO;
	}
	return 0;
}

int inject_move(struct inject *in, int32_t x, int32_t y, char **cause)
{
	int32_t px = -1, py = -1;

	if (x < 0 || y < 0 || x >= in->w || y >= in->h)
		return util_fail(cause, -EINVAL, "(%d, %d) is off the screen (%dx%d)", (int)x, (int)y,
		                 (int)in->w, (int)in->h);
	if (!in->warp) {
		if (fake_motion(in, x, y) == 0 && inject_pointer(in, &px, &py, NULL) == 0 &&
		    px == x && py == y)
			return 0;
		log_warn("the X server did not move the agent's pointer with XTEST: warping it");
		in->warp = 1;
	}
	xcb_input_xi_warp_pointer(in->conn, XCB_NONE, in->root, 0, 0, 0, 0, x * 65536, y * 65536,
	                          in->master_ptr);
	return inject_sync(in) == 0 ? 0 : util_fail(cause, -EPIPE, "lost the X server");
}

int inject_button(struct inject *in, int button, int press, char **cause)
{
	if (button < 1 || button > 7)
		return util_fail(cause, -EINVAL, "no pointer button %d", button);
	return fake(in, press ? XI1_BUTTON_PRESS : XI1_BUTTON_RELEASE, (uint8_t)button,
	            (uint8_t)in->xtest_ptr, cause);
}

int inject_keysym(struct inject *in, uint32_t keysym, int press, char **cause)
{
	xcb_keycode_t kc, shift_kc;
	int shift = 0, dummy, rc;

	kc = find_key(in, keysym, &shift);
	if (kc == 0 && load_keymap(in) == 0)
		kc = find_key(in, keysym, &shift);
	if (kc == 0) {
		char name[64];
		xkb_keysym_get_name(keysym, name, sizeof name);
		return util_fail(cause, -ENOENT, "no key of the keyboard layout types '%s'", name);
	}
	shift_kc = shift ? find_key(in, XKB_KEY_Shift_L, &dummy) : 0;
	if (press && shift_kc != 0 &&
	    (rc = fake(in, XI1_KEY_PRESS, shift_kc, (uint8_t)in->xtest_kbd, cause)) < 0)
		return rc;
	rc = fake(in, press ? XI1_KEY_PRESS : XI1_KEY_RELEASE, kc, (uint8_t)in->xtest_kbd, cause);
	if (rc == 0 && !press && shift_kc != 0)
		rc = fake(in, XI1_KEY_RELEASE, shift_kc, (uint8_t)in->xtest_kbd, cause);
	return rc;
}

int inject_has_keysym(struct inject *in, uint32_t keysym)
{
	int shift;

	return find_key(in, keysym, &shift) != 0;
}

uint32_t inject_keysym_from_name(const char *name)
{
	static const struct { const char *alias, *keysym; } aliases[] = {
		{ "ctrl", "Control_L" }, { "control", "Control_L" }, { "alt", "Alt_L" },
		{ "shift", "Shift_L" }, { "super", "Super_L" }, { "win", "Super_L" },
		{ "meta", "Meta_L" }, { "cmd", "Super_L" }, { "enter", "Return" },
		{ "esc", "Escape" }, { "del", "Delete" }, { "pgup", "Prior" }, { "pgdn", "Next" },
	};
	xkb_keysym_t ks;

	for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
		if (strcasecmp(name, aliases[i].alias) == 0)
			name = aliases[i].keysym;
	ks = xkb_keysym_from_name(name, XKB_KEYSYM_NO_FLAGS);
	if (ks == XKB_KEY_NoSymbol)
		ks = xkb_keysym_from_name(name, XKB_KEYSYM_CASE_INSENSITIVE);
	return ks;
}

uint32_t inject_keysym_from_char(uint32_t cp)
{
	if (cp == '\n' || cp == '\r')
		return XKB_KEY_Return;
	if (cp == '\t')
		return XKB_KEY_Tab;
	return xkb_utf32_to_keysym(cp);
}

int inject_follow_focus(struct inject *in, char **cause)
{
	xcb_input_xi_get_focus_reply_t *r;
	xcb_generic_error_t *err;

	r = xcb_input_xi_get_focus_reply(in->conn, xcb_input_xi_get_focus(in->conn, in->core_kbd),
	                                 NULL);
	if (r == NULL)
		return util_fail(cause, -EIO, "cannot read the keyboard focus");
	err = xcb_request_check(in->conn, xcb_input_xi_set_focus_checked(in->conn, r->focus,
	                        XCB_CURRENT_TIME, in->master_kbd));
	free(r);
	if (err != NULL) {
		free(err);
		return util_fail(cause, -EIO, "cannot give the agent's keyboard the focus");
	}
	return 0;
}

int inject_pointer(struct inject *in, int32_t *x, int32_t *y, char **cause)
{
	xcb_input_xi_query_pointer_reply_t *r;

	r = xcb_input_xi_query_pointer_reply(in->conn,
		xcb_input_xi_query_pointer(in->conn, in->root, in->master_ptr), NULL);
	if (r == NULL)
		return util_fail(cause, -EIO, "cannot read the agent's pointer");
	*x = r->root_x / 65536;
	*y = r->root_y / 65536;
	free(r);
	return 0;
}

int inject_sync(struct inject *in)
{
	free(xcb_get_input_focus_reply(in->conn, xcb_get_input_focus(in->conn), NULL));
	return xcb_connection_has_error(in->conn) ? -EPIPE : 0;
}
