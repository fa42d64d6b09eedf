/*
 * reduce_json: an action as a computer-use tool call (Anthropic "computer" tool,
 * 2025-01) and as the step JSON of docs/ACTIONS.md (reduce_int.h lists the
 * reducer's other files). Both are built as jansson values, which the exporter
 * places into its steps as they are; the text forms are those values written out.
 * Jansson escapes the strings; what goes into them is first made valid UTF-8.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "reduce_int.h"
#include "util.h"

/*
 * How the text forms are written: compact, in the order the members were set, and
 * reals with 15 significant digits. A rounded number under 10^11 (json_fixed) has
 * no more than that, so it reads as it was rounded: 3.531, not 3.5310000000000001.
 */
#define TEXT_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

/* A JSON string of s, made valid UTF-8 first (an invalid byte becomes U+FFFD). */
static json_t *json_str(const char *s)
{
	/* Each byte becomes at most the three of U+FFFD. */
	size_t n = 3 * strlen(s) + 1;
	char *buf = util_xmalloc(n);
	struct reduce_sb b;
	json_t *v;

	reduce_sb_init(&b, buf, n);
	reduce_sb_text(&b, s, NULL);
	v = json_string(buf);
	free(buf);
	return v;
}

/*
 * v rounded to dec decimals (reduce_fixed): an integer when nothing is left after
 * the point (3, not 3.0), else a real. k and 10^dec are exact doubles while |k| <= 2^53, so
 * their quotient is the double nearest the decimal, the same one a JSON reader
 * makes of "3.531".
 */
static json_t *json_fixed(double v, int dec)
{
	int64_t k = reduce_fixed(v, dec), scale = 1;
	int i;

	for (i = 0; i < dec; i++)
		scale *= 10;
	if (k % scale == 0)
		return json_integer(k / scale);
	return json_real((double)k / (double)scale);
}

/* ns as seconds, to 3 decimals. */
static json_t *json_seconds(int64_t ns)
{
	return json_fixed((double)ns / 1e9, 3);
}

/* "up", "down", "left", "right"; "" for a bad direction. */
static const char *dir_name(int dir)
{
	static const char *const dirs[] = { "", "up", "down", "left", "right" };

	return dirs[dir >= 1 && dir <= 4 ? dir : 0];
}

/* [x, y] */
static json_t *json_xy(int32_t x, int32_t y)
{
	return json_pack("[ii]", (int)x, (int)y);
}

/* Writes o as text into buf of size n, cut (and -ENOSPC) when it does not fit; drops o. */
static int dump_text(json_t *o, char *buf, size_t n)
{
	char *s = json_dumps(o, TEXT_FLAGS);
	size_t k;
	int rc = 0;

	json_decref(o);
	if (s == NULL)
		return -ENOMEM;
	k = strlen(s);
	if (k >= n) {
		k = n - 1;
		rc = -ENOSPC;
	}
	memcpy(buf, s, k);
	buf[k] = '\0';
	free(s);
	return rc;
}

/* ------------------------------------------------------------------------- */
/* Computer-use tool calls                                                    */

/* The tool's name of the action, or NULL when the tool has no such call. */
static const char *cu_name(const struct reduce_action *a)
{
	switch (a->kind) {
	case REDUCE_CLICK:
		if (a->button == 1)
			return a->count == 3 ? "triple_click" : a->count == 2 ? "double_click" :
			       "left_click";
		if (a->count == 1 && a->button == 3)
			return "right_click";
		if (a->count == 1 && a->button == 2)
			return "middle_click";
		return NULL;
	case REDUCE_DRAG:
		/* The tool drags with the left button only, and holds no keys while it does. */
		return a->button == 1 && a->mods == 0 ? "left_click_drag" : NULL;
	case REDUCE_SCROLL: return "scroll";
	case REDUCE_TYPE: return "type";
	case REDUCE_PRESS:
	case REDUCE_HOTKEY: return "key";
	case REDUCE_MOVE: return "mouse_move";
	case REDUCE_WAIT: return "wait";
	default: return NULL;
	}
}

/* "text": the modifiers held during a click or scroll, when there are any. */
static int cu_mods(json_t *o, uint32_t mods)
{
	char buf[64];
	struct reduce_sb b;

	if (mods == 0)
		return 0;
	reduce_sb_init(&b, buf, sizeof buf);
	reduce_sb_xdo_mods(&b, mods);
	return json_object_set_new(o, "text", json_string(buf));
}

/* The action's members after "action". Returns 0, or -1 when out of memory. */
static int cu_members(json_t *o, const struct reduce_action *a)
{
	char keys[256];
	struct reduce_sb k;
	int i, rc = 0;

	switch (a->kind) {
	case REDUCE_CLICK:
		rc |= json_object_set_new(o, "coordinate", json_xy(a->x, a->y));
		rc |= cu_mods(o, a->mods);
		break;
	case REDUCE_DRAG:
		rc |= json_object_set_new(o, "start_coordinate", json_xy(a->x, a->y));
		rc |= json_object_set_new(o, "coordinate", json_xy(a->x2, a->y2));
		break;
	case REDUCE_SCROLL:
		rc |= json_object_set_new(o, "coordinate", json_xy(a->x, a->y));
		rc |= json_object_set_new(o, "scroll_direction",
		                          json_string(dir_name(a->scroll_dir)));
		rc |= json_object_set_new(o, "scroll_amount",
		                          json_integer(reduce_whole_clicks(a->scroll_amount)));
		rc |= cu_mods(o, a->mods);
		break;
	case REDUCE_TYPE:
		rc |= json_object_set_new(o, "text", json_str(a->text));
		break;
	case REDUCE_PRESS:
	case REDUCE_HOTKEY:
		/* xdotool key takes several chords separated by spaces: Down Down Down. */
		reduce_sb_init(&k, keys, sizeof keys);
		for (i = 0; i < a->count && i < 100; i++) {
			if (i > 0)
				reduce_sb_putc(&k, ' ');
			reduce_sb_xdo_chord(&k, a->mods, a->key);
		}
		rc |= json_object_set_new(o, "text", json_str(keys));
		break;
	case REDUCE_MOVE:
		rc |= json_object_set_new(o, "coordinate", json_xy(a->x, a->y));
		break;
	case REDUCE_WAIT:
		rc |= json_object_set_new(o, "duration", json_seconds(a->duration_ns));
		break;
	default:
		break;
	}
	return rc;
}

/* Builds a's tool call into *out. Returns 0, -ENOTSUP (no such call) or -ENOMEM. */
static int computer_use(const struct reduce_action *a, json_t **out)
{
	const char *name = cu_name(a);
	json_t *o;

	*out = NULL;
	if (name == NULL)
		return -ENOTSUP;
	o = json_object();
	if (o == NULL || json_object_set_new(o, "action", json_string(name)) != 0 ||
	    cu_members(o, a) != 0) {
		json_decref(o);
		return -ENOMEM;
	}
	*out = o;
	return 0;
}

int reduce_action_computer_use(const struct reduce_action *a, char *buf, size_t n)
{
	json_t *o;
	int rc;

	if (a == NULL || buf == NULL || n == 0)
		return -EINVAL;
	buf[0] = '\0';
	rc = computer_use(a, &o);
	if (rc != 0)
		return rc;
	return dump_text(o, buf, n);
}

/* ------------------------------------------------------------------------- */
/* Step JSON                                                                  */

/* What the action is, and when and where it began. */
static int step_head(json_t *o, const struct reduce_action *a)
{
	const char *interaction = reduce_interaction_name(a->interaction);
	const char *source = reduce_source_name(a->source);
	int rc = 0;

	rc |= json_object_set_new(o, "kind", json_string(reduce_action_name(a)));
	rc |= json_object_set_new(o, "interaction",
	                          json_string(interaction ? interaction : "other"));
	rc |= json_object_set_new(o, "source", json_string(source ? source : "human"));
	rc |= json_object_set_new(o, "t_start_ns", json_integer(a->t_start_ns));
	rc |= json_object_set_new(o, "t_end_ns", json_integer(a->t_end_ns));
	rc |= json_object_set_new(o, "context", json_integer(a->context));
	if (a->context_after)
		rc |= json_object_set_new(o, "context_after", json_integer(a->context_after));
	return rc;
}

/* The pointer members of a click, drag or scroll. */
static int step_pointer(json_t *o, const struct reduce_action *a)
{
	static const char *const buttons[] = { "", "left", "middle", "right", "", "", "", "",
		"back", "forward" };
	const char *s;
	int rc = 0;

	rc |= json_object_set_new(o, "x", json_integer(a->x));
	rc |= json_object_set_new(o, "y", json_integer(a->y));
	if (a->kind == REDUCE_SCROLL) {
		rc |= json_object_set_new(o, "direction", json_string(dir_name(a->scroll_dir)));
		rc |= json_object_set_new(o, "amount", json_fixed(a->scroll_amount, 4));
		rc |= json_object_set_new(o, "dx", json_fixed(a->scroll_dx, 4));
		rc |= json_object_set_new(o, "dy", json_fixed(a->scroll_dy, 4));
		return rc;
	}
	if (a->kind == REDUCE_DRAG) {
		rc |= json_object_set_new(o, "x2", json_integer(a->x2));
		rc |= json_object_set_new(o, "y2", json_integer(a->y2));
	}
	s = a->button >= 1 && a->button <= 9 ? buttons[a->button] : "";
	rc |= json_object_set_new(o, "button", s[0] ? json_string(s) : json_integer(a->button));
	if (a->kind == REDUCE_CLICK)
		rc |= json_object_set_new(o, "clicks", json_integer(a->count));
	return rc;
}

/* The members of a's kind, and the modifiers held. */
static int step_members(json_t *o, const struct reduce_action *a)
{
	char keys[64 + EVENT_KEYSYM_MAX];
	struct reduce_sb k;
	json_t *mods;
	size_t i;
	int rc = 0;

	switch (a->kind) {
	case REDUCE_CLICK:
	case REDUCE_DRAG:
	case REDUCE_SCROLL:
		rc |= step_pointer(o, a);
		break;
	case REDUCE_TYPE:
		rc |= json_object_set_new(o, "text", json_str(a->text));
		break;
	case REDUCE_PRESS:
	case REDUCE_HOTKEY:
		rc |= json_object_set_new(o, "key", json_str(a->key));
		reduce_sb_init(&k, keys, sizeof keys);
		reduce_sb_xdo_chord(&k, a->mods, a->key);
		rc |= json_object_set_new(o, "keys", json_str(keys));
		rc |= json_object_set_new(o, "count", json_integer(a->count));
		break;
	case REDUCE_MOVE:
		rc |= json_object_set_new(o, "x", json_integer(a->x));
		rc |= json_object_set_new(o, "y", json_integer(a->y));
		break;
	case REDUCE_WAIT:
		rc |= json_object_set_new(o, "duration_s", json_seconds(a->duration_ns));
		break;
	default:
		break;
	}
	if (a->mods) {
		mods = json_array();
		for (i = 0; i < REDUCE_N_MODS; i++)
			if (a->mods & reduce_mod_names[i].bit)
				rc |= json_array_append_new(mods,
				                            json_string(reduce_mod_names[i].xdo));
		rc |= json_object_set_new(o, "mods", mods);
	}
	return rc;
}

/* v, or null for 0. */
static json_t *json_opt_id(int64_t v)
{
	return v != 0 ? json_integer(v) : json_null();
}

/* The pointer path and the events the action consumed. */
static int step_provenance(json_t *o, const struct reduce_action *a)
{
	json_t *path, *ev, *ids;
	int64_t ms;
	size_t i;
	int rc = 0;

	if (a->path_len > 0) {
		/* Points as [x, y, ms relative to t_start] (negative: before the action). */
		rc |= json_object_set_new(o, "path_seen", json_integer(a->path_seen));
		path = json_array();
		for (i = 0; i < (size_t)a->path_len; i++) {
			ms = (a->path[i].t_ns - a->t_start_ns) / NS_PER_MS;
			rc |= json_array_append_new(path, json_pack("[iiI]", (int)a->path[i].x,
			                                            (int)a->path[i].y,
			                                            (json_int_t)ms));
		}
		rc |= json_object_set_new(o, "path", path);
	}
	ev = json_object();
	if (a->anchor_id)
		rc |= json_object_set_new(ev, "anchor", json_integer(a->anchor_id));
	rc |= json_object_set_new(ev, "first", json_integer(a->ev_first));
	rc |= json_object_set_new(ev, "last", json_integer(a->ev_last));
	rc |= json_object_set_new(ev, "count", json_integer(a->ev_count));
	ids = json_array();
	for (i = 0; i < (size_t)a->n_ids; i++)
		rc |= json_array_append_new(ids, json_integer(a->ids[i]));
	rc |= json_object_set_new(ev, "ids", ids);
	rc |= json_object_set_new(ev, "truncated", json_boolean(a->ids_truncated));
	rc |= json_object_set_new(o, "events", ev);
	rc |= json_object_set_new(o, "element_id", json_opt_id(a->element_id));
	rc |= json_object_set_new(o, "pre_frame", json_opt_id(a->pre_frame));
	rc |= json_object_set_new(o, "post_frame", json_opt_id(a->post_frame));
	return rc;
}

/* a as pyautogui code (absolute, or normalised), or null when it has none. */
static json_t *step_pyautogui(const struct reduce_action *a, int screen_w, int screen_h,
                              int normalised)
{
	char tmp[REDUCE_RENDER_MAX];

	if (reduce_action_pyautogui(a, screen_w, screen_h, normalised, tmp, sizeof tmp) != 0)
		return json_null();
	return json_str(tmp);
}

/* The renderings: pyautogui (normalised too with a screen size) and computer use. */
static int step_renderings(json_t *o, const struct reduce_action *a, int screen_w, int screen_h)
{
	json_t *cu;
	int rc = 0;

	rc |= json_object_set_new(o, "pyautogui", step_pyautogui(a, screen_w, screen_h, 0));
	if (screen_w > 0 && screen_h > 0)
		rc |= json_object_set_new(o, "pyautogui_norm",
		                          step_pyautogui(a, screen_w, screen_h, 1));
	if (computer_use(a, &cu) == -ENOMEM)
		return -1;
	if (cu != NULL && json_dumpb(cu, NULL, 0, TEXT_FLAGS) >= REDUCE_RENDER_MAX) {
		json_decref(cu);
		cu = NULL;
	}
	rc |= json_object_set_new(o, "computer_use", cu != NULL ? cu : json_null());
	return rc;
}

int reduce_action_step(const struct reduce_action *a, int screen_w, int screen_h, json_t **out)
{
	json_t *o;

	if (a == NULL || out == NULL)
		return -EINVAL;
	*out = NULL;
	o = json_object();
	if (o == NULL || step_head(o, a) != 0 || step_members(o, a) != 0 ||
	    step_provenance(o, a) != 0 || step_renderings(o, a, screen_w, screen_h) != 0) {
		json_decref(o);
		return -ENOMEM;
	}
	*out = o;
	return 0;
}

int reduce_action_json(const struct reduce_action *a, int screen_w, int screen_h, char *buf,
                       size_t n)
{
	json_t *o;
	int rc;

	if (a == NULL || buf == NULL || n == 0)
		return -EINVAL;
	buf[0] = '\0';
	rc = reduce_action_step(a, screen_w, screen_h, &o);
	if (rc != 0)
		return rc;
	return dump_text(o, buf, n);
}
