/*
 * keymap: keysym names and text for keycodes, from the X server's own keymap and
 * keyboard state (xkbcommon-x11), kept current through XKB events.
 */
#include "keymap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xcb/xkb.h>
#include <xkbcommon/xkbcommon-x11.h>
#include <xkbcommon/xkbcommon.h>

#include "log.h"
#include "util.h"

/* The five NUL-separated fields of _XKB_RULES_NAMES. */
enum { NAME_RULES, NAME_MODEL, NAME_LAYOUT, NAME_VARIANT, NAME_OPTIONS, NAME_COUNT };
#define NAME_MAX_LEN 128
#define SUMMARY_MAX 256

struct keymap {
	xcb_connection_t *conn;
	xcb_window_t root;
	uint8_t xkb_event;        /* first event code of XKB on conn */
	int32_t device_id;        /* the core keyboard */
	xcb_atom_t rules_atom;    /* _XKB_RULES_NAMES */

	struct xkb_context *ctx;
	struct xkb_keymap *keymap;
	struct xkb_state *state;
	struct xkb_state *agent_state; /* the agent server's keyboard, followed from its keys */

	int need_rebuild;         /* NewKeyboardNotify/MapNotify seen since the last build */
	int need_names;           /* _XKB_RULES_NAMES changed since it was read */
	int group;                /* effective group when last looked at */

	char names[NAME_COUNT][NAME_MAX_LEN];
	int have_names;
	char summary[SUMMARY_MAX];
};

/* The layout of every XKB event: the XKB event type is in the second byte. */
union xkb_any_event {
	struct {
		uint8_t response_type;
		uint8_t xkb_type;
		uint16_t sequence;
		xcb_timestamp_t time;
		uint8_t device_id;
	} any;
	xcb_xkb_new_keyboard_notify_event_t new_keyboard;
	xcb_xkb_map_notify_event_t map;
	xcb_xkb_state_notify_event_t state;
};

/* xkbcommon's messages go through log.h; they describe keymaps, never keystrokes. */
static void xkb_log(struct xkb_context *ctx, enum xkb_log_level level, const char *fmt,
                    va_list args) __attribute__((format(printf, 3, 0)));

static void xkb_log(struct xkb_context *ctx, enum xkb_log_level level, const char *fmt,
                    va_list args)
{
	char buf[512];
	size_t n;

	(void)ctx;
	vsnprintf(buf, sizeof buf, fmt, args);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (level <= XKB_LOG_LEVEL_ERROR)
		log_warn("xkbcommon: %s", buf);
	else
		log_debug("xkbcommon: %s", buf);
}

static int select_xkb_events(struct keymap *km, char **cause)
{
	enum {
		events = XCB_XKB_EVENT_TYPE_NEW_KEYBOARD_NOTIFY | XCB_XKB_EVENT_TYPE_MAP_NOTIFY |
		         XCB_XKB_EVENT_TYPE_STATE_NOTIFY,
		nkn_details = XCB_XKB_NKN_DETAIL_KEYCODES | XCB_XKB_NKN_DETAIL_GEOMETRY |
		              XCB_XKB_NKN_DETAIL_DEVICE_ID,
		map_parts = XCB_XKB_MAP_PART_KEY_TYPES | XCB_XKB_MAP_PART_KEY_SYMS |
		            XCB_XKB_MAP_PART_MODIFIER_MAP | XCB_XKB_MAP_PART_EXPLICIT_COMPONENTS |
		            XCB_XKB_MAP_PART_KEY_ACTIONS | XCB_XKB_MAP_PART_VIRTUAL_MODS |
		            XCB_XKB_MAP_PART_VIRTUAL_MOD_MAP,
		state_details = XCB_XKB_STATE_PART_MODIFIER_BASE | XCB_XKB_STATE_PART_MODIFIER_LATCH |
		                XCB_XKB_STATE_PART_MODIFIER_LOCK | XCB_XKB_STATE_PART_GROUP_BASE |
		                XCB_XKB_STATE_PART_GROUP_LATCH | XCB_XKB_STATE_PART_GROUP_LOCK,
	};
	const xcb_xkb_select_events_details_t details = {
		.affectNewKeyboard = nkn_details,
		.newKeyboardDetails = nkn_details,
		.affectState = state_details,
		.stateDetails = state_details,
	};
	xcb_void_cookie_t ck;
	xcb_generic_error_t *err;

	ck = xcb_xkb_select_events_aux_checked(km->conn, (xcb_xkb_device_spec_t)km->device_id,
	                                       events, 0, 0, map_parts, map_parts, &details);
	err = xcb_request_check(km->conn, ck);
	if (err != NULL) {
		int code = err->error_code;
		free(err);
		return util_fail(cause, -EIO, "cannot select XKB events (X error %d)", code);
	}
	return 0;
}

/* Reads _XKB_RULES_NAMES into km->names; missing fields become "". */
static void read_names(struct keymap *km)
{
	xcb_get_property_cookie_t ck;
	xcb_get_property_reply_t *r;
	const char *p;
	int len, field = 0, pos = 0;

	memset(km->names, 0, sizeof km->names);
	km->have_names = 0;
	ck = xcb_get_property(km->conn, 0, km->root, km->rules_atom, XCB_ATOM_STRING, 0, 1024);
	r = xcb_get_property_reply(km->conn, ck, NULL);
	if (r == NULL)
		return;
	if (r->format == 8 && r->type == XCB_ATOM_STRING) {
		p = xcb_get_property_value(r);
		len = xcb_get_property_value_length(r);
		for (int i = 0; i < len && field < NAME_COUNT; i++) {
			if (p[i] == '\0') {
				field++;
				pos = 0;
			} else if (pos < NAME_MAX_LEN - 1) {
				km->names[field][pos++] = p[i];
			}
		}
		km->have_names = 1;
	}
	free(r);
}

/* Whether a comma-separated variant list holds any variant at all ("," holds none). */
static int has_variant(const char *v)
{
	for (; *v != '\0'; v++)
		if (*v != ',' && *v != ' ')
			return 1;
	return 0;
}

static void make_summary(struct keymap *km)
{
	if (km->have_names) {
		/* Room for every field, then cut to the summary's size. */
		char buf[NAME_COUNT * NAME_MAX_LEN + 8];
		int v = has_variant(km->names[NAME_VARIANT]);

		snprintf(buf, sizeof buf, "%s/%s/%s%s%s", km->names[NAME_RULES],
		         km->names[NAME_MODEL], km->names[NAME_LAYOUT], v ? "/" : "",
		         v ? km->names[NAME_VARIANT] : "");
		util_strlcpy_utf8(km->summary, buf, sizeof km->summary);
	} else {
		const char *name = km->keymap != NULL ? xkb_keymap_layout_get_name(km->keymap, 0) : NULL;
		snprintf(km->summary, sizeof km->summary, "?/?/%s", name != NULL ? name : "?");
	}
}

/* Copies the index-th entry of a comma-separated list into out. */
static void list_entry(const char *list, int index, char *out, size_t size)
{
	const char *p = list, *end;
	size_t n;

	for (int i = 0; i < index && p != NULL; i++) {
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	if (p == NULL) {
		out[0] = '\0';
		return;
	}
	end = strchr(p, ',');
	n = end != NULL ? (size_t)(end - p) : strlen(p);
	if (n >= size)
		n = size - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

void keymap_layout(const struct keymap *km, char *out, size_t size)
{
	char layout[NAME_MAX_LEN], variant[NAME_MAX_LEN];

	if (size == 0)
		return;
	list_entry(km->names[NAME_LAYOUT], km->group, layout, sizeof layout);
	list_entry(km->names[NAME_VARIANT], km->group, variant, sizeof variant);
	if (variant[0] != '\0')
		snprintf(out, size, "%s(%s)", layout, variant);
	else
		snprintf(out, size, "%s", layout);
}

static int effective_group(const struct keymap *km)
{
	return (int)xkb_state_serialize_layout(km->state, XKB_STATE_LAYOUT_EFFECTIVE);
}

/* Reads the keymap and state from the server; on failure the old ones stay. */
static int build(struct keymap *km)
{
	struct xkb_keymap *keymap;
	struct xkb_state *state;

	keymap = xkb_x11_keymap_new_from_device(km->ctx, km->conn, km->device_id,
	                                        XKB_KEYMAP_COMPILE_NO_FLAGS);
	if (keymap == NULL)
		return -EIO;
	state = xkb_x11_state_new_from_device(keymap, km->conn, km->device_id);
	if (state == NULL) {
		xkb_keymap_unref(keymap);
		return -EIO;
	}
	xkb_state_unref(km->state);
	xkb_state_unref(km->agent_state);
	xkb_keymap_unref(km->keymap);
	km->keymap = keymap;
	km->state = state;
	km->agent_state = xkb_state_new(keymap);
	return 0;
}

int keymap_open(xcb_connection_t *conn, xcb_window_t root, struct keymap **out, char **cause)
{
	static const char atom_name[] = "_XKB_RULES_NAMES";
	struct keymap *km = util_xcalloc(1, sizeof *km);
	xcb_intern_atom_reply_t *ar;
	uint16_t major, minor;
	uint8_t base_error;
	int rc;

	*out = NULL;
	km->conn = conn;
	km->root = root;
	if (!xkb_x11_setup_xkb_extension(conn, XKB_X11_MIN_MAJOR_XKB_VERSION,
	                                 XKB_X11_MIN_MINOR_XKB_VERSION,
	                                 XKB_X11_SETUP_XKB_EXTENSION_NO_FLAGS, &major, &minor,
	                                 &km->xkb_event, &base_error)) {
		rc = util_fail(cause, -ENOTSUP, "the X server lacks the XKB extension (version %d.%d "
		               "or newer is needed)", XKB_X11_MIN_MAJOR_XKB_VERSION,
		               XKB_X11_MIN_MINOR_XKB_VERSION);
		goto fail;
	}
	km->device_id = xkb_x11_get_core_keyboard_device_id(conn);
	if (km->device_id < 0) {
		rc = util_fail(cause, -EIO, "cannot find the X server's core keyboard");
		goto fail;
	}
	km->ctx = xkb_context_new(XKB_CONTEXT_NO_DEFAULT_INCLUDES | XKB_CONTEXT_NO_ENVIRONMENT_NAMES);
	if (km->ctx == NULL) {
		rc = util_fail(cause, -ENOMEM, "cannot create an xkbcommon context");
		goto fail;
	}
	xkb_context_set_log_fn(km->ctx, xkb_log);

	/* Select first, then read: a change in between is then seen as an event. */
	rc = select_xkb_events(km, cause);
	if (rc != 0)
		goto fail;
	ar = xcb_intern_atom_reply(conn, xcb_intern_atom(conn, 0, sizeof atom_name - 1, atom_name),
	                           NULL);
	km->rules_atom = ar != NULL ? ar->atom : XCB_ATOM_NONE;
	free(ar);
	if (build(km) != 0) {
		rc = util_fail(cause, -EIO, "cannot read the keymap of the X server's core keyboard");
		goto fail;
	}
	read_names(km);
	make_summary(km);
	km->group = effective_group(km);
	*out = km;
	return 0;

fail:
	keymap_close(km);
	return rc;
}

void keymap_close(struct keymap *km)
{
	if (km == NULL)
		return;
	xkb_state_unref(km->state);
	xkb_state_unref(km->agent_state);
	xkb_keymap_unref(km->keymap);
	xkb_context_unref(km->ctx);
	free(km);
}

int keymap_handle_event(struct keymap *km, const xcb_generic_event_t *ev)
{
	const union xkb_any_event *x = (const void *)ev;
	int group;

	if ((ev->response_type & 0x7f) == XCB_PROPERTY_NOTIFY) {
		const xcb_property_notify_event_t *pn = (const void *)ev;
		if (pn->window == km->root && pn->atom == km->rules_atom &&
		    km->rules_atom != XCB_ATOM_NONE)
			km->need_names = 1;
		return 0;
	}
	if ((ev->response_type & 0x7f) != km->xkb_event)
		return 0;
	if (x->any.device_id != km->device_id)
		return 0;
	switch (x->any.xkb_type) {
	case XCB_XKB_NEW_KEYBOARD_NOTIFY:
	case XCB_XKB_MAP_NOTIFY:
		km->need_rebuild = 1;
		return 0;
	case XCB_XKB_STATE_NOTIFY:
		xkb_state_update_mask(km->state, x->state.baseMods, x->state.latchedMods,
		                      x->state.lockedMods, (xkb_layout_index_t)x->state.baseGroup,
		                      (xkb_layout_index_t)x->state.latchedGroup,
		                      x->state.lockedGroup);
		group = effective_group(km);
		if (group != km->group) {
			km->group = group;
			return 1;
		}
		return 0;
	default:
		return 0;
	}
}

int keymap_pending(const struct keymap *km)
{
	return km->need_rebuild || km->need_names;
}

int keymap_update(struct keymap *km)
{
	char old_summary[SUMMARY_MAX];
	int old_group = km->group;
	int rc = 0;

	if (!keymap_pending(km))
		return 0;
	memcpy(old_summary, km->summary, sizeof old_summary);
	if (km->need_rebuild) {
		km->need_rebuild = 0;
		rc = build(km);
		if (rc != 0)
			log_warn("cannot read the new keymap of the X server; keeping the old one");
		else
			log_debug("keymap rebuilt from the X server");
		/* setxkbmap sets the property after the keymap: read both again. */
		km->need_names = 1;
	}
	if (km->need_names) {
		km->need_names = 0;
		read_names(km);
	}
	make_summary(km);
	km->group = effective_group(km);
	if (rc != 0)
		return rc;
	return strcmp(old_summary, km->summary) != 0 || old_group != km->group;
}

static void translate(struct xkb_state *state, uint32_t keycode, char *keysym, size_t keysym_size,
                      char *text, size_t text_size)
{
	xkb_keysym_t sym;
	char buf[64];
	int n;

	if (keysym_size > 0) {
		keysym[0] = '\0';
		sym = xkb_state_key_get_one_sym(state, keycode);
		if (sym != XKB_KEY_NoSymbol && xkb_keysym_get_name(sym, buf, sizeof buf) > 0)
			util_strlcpy_utf8(keysym, buf, keysym_size);
	}
	if (text == NULL || text_size == 0)
		return;
	text[0] = '\0';
	n = xkb_state_key_get_utf8(state, keycode, buf, sizeof buf);
	if (n <= 0)
		return;
	/* Control characters are not text a person typed; their keysym says what they were. */
	for (int i = 0; i < n && i < (int)sizeof buf; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			return;
	util_strlcpy_utf8(text, buf, text_size);
}

void keymap_key(struct keymap *km, uint32_t keycode, char *keysym, size_t keysym_size,
                char *text, size_t text_size)
{
	translate(km->state, keycode, keysym, keysym_size, text, text_size);
}

void keymap_agent_key(struct keymap *km, uint32_t keycode, int press, char *keysym,
                      size_t keysym_size, char *text, size_t text_size, uint32_t *mods)
{
	struct xkb_state *st = km->agent_state != NULL ? km->agent_state : km->state;

	*mods = (uint32_t)xkb_state_serialize_mods(st, XKB_STATE_MODS_EFFECTIVE);
	translate(st, keycode, keysym, keysym_size, text, text_size);
	if (km->agent_state != NULL)
		xkb_state_update_key(km->agent_state, keycode, press ? XKB_KEY_DOWN : XKB_KEY_UP);
}

uint32_t keymap_agent_mods(const struct keymap *km)
{
	return (uint32_t)xkb_state_serialize_mods(km->agent_state != NULL ? km->agent_state :
	                                          km->state, XKB_STATE_MODS_EFFECTIVE);
}

uint32_t keymap_mods(const struct keymap *km)
{
	return (uint32_t)xkb_state_serialize_mods(km->state, XKB_STATE_MODS_EFFECTIVE);
}

int keymap_group(const struct keymap *km)
{
	return km->group;
}

const char *keymap_summary(const struct keymap *km)
{
	return km->summary;
}
