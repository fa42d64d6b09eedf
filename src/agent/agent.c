/*
 * agent: the `computer` tool (see agent.h and docs/AGENTS.md).
 *
 * Every call is checked in full before anything is sent to the display: the
 * arguments (known action, coordinates on the screen, text within
 * AGENT_TYPE_MAX, keys that exist), then the recorder (running, not paused:
 * an action nobody records is not carried out), then the scope: a pointer
 * action must land on the visible area of an in-scope window, a keyboard action
 * needs an in-scope window focused (as the recorder sees it). A refusal is a
 * tool result with isError and the reason; nothing of the action happened.
 *
 * After an action the screen is grabbed every AGENT_SETTLE_STEP_MS until two
 * grabs in a row are equal (at most AGENT_SETTLE_MAX_MS), masked like the
 * recorder's frames (nothing out of scope shows) and returned as PNG.
 */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "encode.h"
#include "image.h"
#include "inject.h"
#include "ipc.h"
#include "log.h"
#include "mcp.h"
#include "paths.h"
#include "policy.h"
#include "scope.h"
#include "screen.h"
#include "testbreak.h"
#include "util.h"

#define AGENT_SETTLE_STEP_MS 30
#define AGENT_SETTLE_MAX_MS 1500
#define AGENT_WAIT_MAX_S 60.0      /* longest wait / hold_key */
#define AGENT_SCROLL_MAX 100       /* most wheel clicks in one call */
#define AGENT_CHORD_MAX 8          /* most keys held at once in a chord */
#define AGENT_KEYS_MAX 100         /* most chords in one `key` call */

struct agent {
	struct policy *policy;
	struct scope *scope;
	struct inject *inject;
	struct screen *screen;
	struct encode *enc;
	char *socket;              /* the recorder's control socket */
	int32_t w, h;
	char task[AGENT_NOTE_MAX + 1]; /* the task last started on the recorder */
	int attached;              /* the recorder knows us (takeovers are watched) */
};

/* --- the recorder ------------------------------------------------------------- */

/* The recorder's status (new reference), or NULL with *cause. */
static json_t *recorder_status(struct agent *a, char **cause)
{
	struct ipc_request req = { .version = IPC_VERSION, .cmd = IPC_CMD_STATUS };
	char *reply = NULL;
	json_t *o;

	if (ipc_call(a->socket, &req, &reply, cause) != 0)
		return NULL;
	o = json_loads(reply, 0, NULL);
	free(reply);
	if (!json_is_object(o) || !json_is_true(json_object_get(o, "ok"))) {
		json_decref(o);
		util_fail(cause, -EPROTO, "the recorder sent an unreadable status");
		return NULL;
	}
	return o;
}

/* What the recorder's state allows a call (recorder_allows). */
enum verdict { ALLOWED, REFUSED, HUMAN_CONTROL };

/*
 * Whether the recorder lets this call go ahead, with the reason in *why when
 * not: a person took over (every call is refused until the hand-back), or, for
 * an action on the display (act_on), recording is paused, or for keys
 * (keyboard) the focused window is out of scope.
 */
static enum verdict recorder_allows(struct agent *a, int act_on, int keyboard, char **why)
{
	char *cause = NULL;
	json_t *st = recorder_status(a, &cause);
	const char *state, *scope;
	json_t *ag;
	enum verdict v = REFUSED;

	if (st == NULL) {
		if (!act_on) {
			free(cause);
			return ALLOWED;
		}
		*why = util_xasprintf("no recorder answers (%s): agent actions are carried out only "
		                      "while they are recorded", cause ? cause : "no reply");
		free(cause);
		return REFUSED;
	}
	state = json_string_value(json_object_get(st, "state"));
	scope = json_string_value(json_object_get(json_object_get(st, "safeguards"), "scope"));
	ag = json_object_get(st, "agent");
	if (json_is_true(json_object_get(ag, "takeover")) && !testbreak("takeover-ignored")) {
		json_int_t idle = json_integer_value(json_object_get(ag, "handback_idle_ms"));

		if (idle > 0)
			*why = util_xasprintf(AGENT_HUMAN_CONTROL ": the person took over; nothing was "
			                      "done. Control comes back when they hand back (`mimic agent "
			                      "handback`) or %.1f s after their last input",
			                      (double)idle / 1000);
		else
			*why = util_xstrdup(AGENT_HUMAN_CONTROL ": the person took over; nothing was "
			                    "done. Control comes back when they hand back (`mimic agent "
			                    "handback`)");
		v = HUMAN_CONTROL;
	} else if (!act_on) {
		v = ALLOWED;
	} else if (state == NULL || strcmp(state, "recording") != 0) {
		*why = util_xstrdup("recording is paused: agent actions are carried out only while "
		                    "they are recorded (`mimic resume`)");
	} else if (keyboard && scope != NULL && strcmp(scope, "out") == 0) {
		*why = util_xstrdup("refused: the focused window is outside the recording policy's "
		                    "scope; keys are not sent to it");
	} else {
		v = ALLOWED;
	}
	json_decref(st);
	return v;
}

/* Sends a request of the agent's to the recorder; 0, or an error with *cause. */
static int agent_request(const char *socket, struct ipc_request *req, char **cause)
{
	char *reply = NULL;
	json_t *o;
	int rc;

	req->version = IPC_VERSION;
	req->cmd = IPC_CMD_AGENT;
	if ((rc = ipc_call(socket, req, &reply, cause)) != 0)
		return rc;
	o = json_loads(reply, 0, NULL);
	free(reply);
	if (!json_is_true(json_object_get(o, "ok"))) {
		const char *e = json_string_value(json_object_get(o, "error"));

		rc = util_fail(cause, -EBUSY, "the recorder refused: %s", e ? e : "no reason given");
	}
	json_decref(o);
	return rc;
}

/*
 * Tells the recorder the call a takeover refused (the agent's pending action):
 * its arguments without the task, a too long text cut so that it fits.
 */
static void report_refused(struct agent *a, json_t *args)
{
	struct ipc_request req = { .agent = IPC_AGENT_REFUSED };
	json_t *c = json_deep_copy(args);
	json_t *t = json_object_get(c, "text");
	char *s = NULL, *cause = NULL;

	json_object_del(c, "task");
	for (;;) {
		size_t n, tn;

		free(s);
		s = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
		n = s ? strlen(s) : 0;
		if (s == NULL || n <= IPC_TASK_DESC_MAX || !json_is_string(t) ||
		    (tn = json_string_length(t)) == 0) {
			if (s != NULL && n > IPC_TASK_DESC_MAX)
				s[0] = '\0';
			break;
		}
		/* Cut the text by what is too long (escapes may need more rounds). */
		char cut[AGENT_NOTE_MAX + 1];
		size_t keep = tn > n - IPC_TASK_DESC_MAX + 16 ? tn - (n - IPC_TASK_DESC_MAX + 16) : 0;

		util_strlcpy_utf8(cut, json_string_value(t), keep + 1 < sizeof cut ? keep + 1 :
		                  sizeof cut);
		json_object_set_new(c, "text", json_string(cut));
		json_object_set_new(c, "truncated", json_true());
		t = json_object_get(c, "text");
	}
	json_decref(c);
	if (s != NULL && s[0] != '\0') {
		util_strlcpy_utf8(req.description, s, sizeof req.description);
		if (agent_request(a->socket, &req, &cause) != 0)
			log_warn("agent: the recorder did not take the refused call: %s",
			         cause ? cause : "?");
	}
	free(s);
	free(cause);
}

int agent_handback(char **cause)
{
	struct ipc_request req = { .agent = IPC_AGENT_HANDBACK };
	char *socket = NULL;
	int rc;

	if ((rc = paths_control_socket(0, &socket, cause)) == 0)
		rc = agent_request(socket, &req, cause);
	free(socket);
	return rc;
}

/* Starts the agent's task on the recorder when it names a new one. */
static void start_task(struct agent *a, const char *task)
{
	struct ipc_request req = { .version = IPC_VERSION, .cmd = IPC_CMD_TASK,
	                           .task = IPC_TASK_START };
	char *reply = NULL, *cause = NULL;

	if (strcmp(task, a->task) == 0)
		return;
	util_strlcpy_utf8(a->task, task, sizeof a->task);
	util_strlcpy_utf8(req.description, task, sizeof req.description);
	if (ipc_call(a->socket, &req, &reply, &cause) != 0)
		log_warn("agent: the recorder did not take the task: %s", cause ? cause : "?");
	free(reply);
	free(cause);
}

void agent_task_start(struct agent *a, const char *task)
{
	start_task(a, task);
}

int agent_task_end(struct agent *a, int success, char **cause)
{
	struct ipc_request req = { .version = IPC_VERSION, .cmd = IPC_CMD_TASK,
	                           .task = IPC_TASK_END,
	                           .outcome = success ? IPC_OUTCOME_SUCCESS : IPC_OUTCOME_FAIL };
	char *reply = NULL;
	json_t *o;
	int rc;

	/* The next task starts anew even when its description is the same. */
	a->task[0] = '\0';
	if ((rc = ipc_call(a->socket, &req, &reply, cause)) != 0)
		return rc;
	o = json_loads(reply, 0, NULL);
	free(reply);
	if (!json_is_true(json_object_get(o, "ok"))) {
		const char *e = json_string_value(json_object_get(o, "error"));

		rc = util_fail(cause, -EINVAL, "the recorder did not end the task: %s",
		               e ? e : "no reason given");
	}
	json_decref(o);
	return rc;
}

int agent_ready(struct agent *a, int keyboard)
{
	char *why = NULL;
	enum verdict v = recorder_allows(a, 1, keyboard, &why);

	free(why);
	return v == ALLOWED;
}

/* --- screenshots ---------------------------------------------------------------- */

static char *base64(const uint8_t *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = util_xmalloc((n + 2) / 3 * 4 + 1), *o = out;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		*o++ = tab[(v >> 18) & 63];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int same_image(const struct image *x, const struct image *y)
{
	if (x->width != y->width || x->height != y->height)
		return 0;
	for (uint32_t r = 0; r < x->height; r++)
		if (memcmp(x->pixels + r * x->stride, y->pixels + r * y->stride, (size_t)x->width * 4))
			return 0;
	return 1;
}

/*
 * Waits for the screen to settle, masks what is out of scope and adds the PNG to
 * content. Returns 0 or a negative error with *cause.
 */
static int add_screenshot(struct agent *a, json_t *content, char **cause)
{
	const uint8_t *png;
	size_t png_len;
	char *b64;
	int rc;

	if ((rc = agent_screenshot(a, &png, &png_len, cause)) != 0)
		return rc;
	if (png == NULL) {
		json_array_append_new(content, json_pack("{s:s, s:s}", "type", "text", "text",
		                      "no screenshot: the recording policy keeps screenshots off"));
		return 0;
	}
	b64 = base64(png, png_len);
	json_array_append_new(content, json_pack("{s:s, s:s, s:s}", "type", "image", "data", b64,
	                                         "mimeType", "image/png"));
	free(b64);
	return 0;
}

int agent_screenshot(struct agent *a, const uint8_t **png_out, size_t *len_out, char **cause)
{
	struct image img[2];
	struct image_rect keep[SCOPE_RECTS_MAX];
	struct encode_params p;
	const uint8_t *png;
	size_t png_len, n_keep;
	int64_t deadline = util_now_mono_ns() + AGENT_SETTLE_MAX_MS * 1000000LL;
	unsigned cur = 0;
	int rc;
	int64_t t0 = util_now_mono_ns(), t_settled;

	*png_out = NULL;
	*len_out = 0;
	if (!policy_screenshots(a->policy))
		return 0;
	rc = screen_grab(a->screen, cur, 0, &img[cur], NULL, &(struct image_rect){ 0 }, cause);
	while (rc == 0 && util_now_mono_ns() < deadline) {
		sleep_ms(AGENT_SETTLE_STEP_MS);
		cur ^= 1;
		rc = screen_grab(a->screen, cur, 0, &img[cur], NULL, &(struct image_rect){ 0 }, cause);
		if (rc == 0 && same_image(&img[0], &img[1]))
			break;
	}
	if (rc != 0)
		return rc;
	t_settled = util_now_mono_ns();
	while (scope_dispatch(a->scope, 1) > 0)
		;
	n_keep = scope_keep_rects(a->scope, keep, SCOPE_RECTS_MAX);
	image_apply_mask(&img[cur], keep, n_keep, 0);
	encode_params_default(&p, ENCODE_PNG);
	rc = encode_image(a->enc, &img[cur], &p, &png, &png_len, cause);
	if (rc != 0)
		return rc;
	/* The time figures of bench/RESULTS.md (MIMIC_LOG=debug); no content. */
	log_debug("agent: screen settled in %.1f ms, masked and encoded (%zu bytes) in %.1f ms",
	          (double)(t_settled - t0) / 1e6, png_len,
	          (double)(util_now_mono_ns() - t_settled) / 1e6);
	*png_out = png;
	*len_out = png_len;
	return 0;
}

/* --- arguments ------------------------------------------------------------------ */

/* A refusal or failure: a tool result with isError (a new object). */
static json_t *tool_error(const char *msg)
{
	return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", msg,
	                 "isError", 1);
}

static int get_xy(struct agent *a, json_t *args, const char *key, int32_t xy[2], char **cause)
{
	json_t *v = json_object_get(args, key);

	if (!json_is_array(v) || json_array_size(v) != 2 ||
	    !json_is_integer(json_array_get(v, 0)) || !json_is_integer(json_array_get(v, 1)))
		return util_fail(cause, MCP_INVALID_PARAMS, "%s must be [x, y], two integers", key);
	json_int_t x = json_integer_value(json_array_get(v, 0));
	json_int_t y = json_integer_value(json_array_get(v, 1));
	if (x < 0 || y < 0 || x >= a->w || y >= a->h)
		return util_fail(cause, MCP_INVALID_PARAMS, "%s [%lld, %lld] is off the screen "
		                 "(%dx%d)", key, (long long)x, (long long)y, (int)a->w, (int)a->h);
	xy[0] = (int32_t)x;
	xy[1] = (int32_t)y;
	return 0;
}

/*
 * Parses a chord such as "ctrl+shift+t" into keysyms (at most AGENT_CHORD_MAX);
 * returns how many, or MCP_INVALID_PARAMS with *cause.
 */
static int parse_chord(const char *s, size_t len, uint32_t *syms, char **cause)
{
	int n = 0;
	size_t i = 0;

	while (i <= len) {
		size_t j = i;
		char name[64];

		while (j < len && s[j] != '+')
			j++;
		if (j == i || j - i >= sizeof name)
			return util_fail(cause, MCP_INVALID_PARAMS, "'%.*s' is not a key (xdotool "
			                 "syntax: Return, ctrl+s, alt+Tab)", (int)(len > 60 ? 60 : len), s);
		memcpy(name, s + i, j - i);
		name[j - i] = '\0';
		if (n == AGENT_CHORD_MAX)
			return util_fail(cause, MCP_INVALID_PARAMS, "more than %d keys in one chord",
			                 AGENT_CHORD_MAX);
		syms[n] = inject_keysym_from_name(name);
		if (syms[n] == 0)
			return util_fail(cause, MCP_INVALID_PARAMS, "unknown key '%s' (xdotool / X "
			                 "keysym names: Return, Tab, ctrl, a, F5)", name);
		n++;
		i = j + 1;
	}
	return n;
}

/* Modifiers to hold ("ctrl+shift", optional text); returns how many, or an error. */
static int parse_mods(json_t *args, uint32_t *syms, char **cause)
{
	json_t *t = json_object_get(args, "text");

	if (t == NULL || json_is_null(t) || json_string_length(t) == 0)
		return 0;
	if (!json_is_string(t))
		return util_fail(cause, MCP_INVALID_PARAMS, "text must be a string");
	return parse_chord(json_string_value(t), json_string_length(t), syms, cause);
}

/* A number argument within [0, max] seconds. */
static int get_seconds(json_t *args, const char *key, double *out, char **cause)
{
	json_t *v = json_object_get(args, key);

	if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > AGENT_WAIT_MAX_S)
		return util_fail(cause, MCP_INVALID_PARAMS, "%s must be a number of seconds, 0 to %.0f",
		                 key, AGENT_WAIT_MAX_S);
	*out = json_number_value(v);
	return 0;
}

/* Decodes one UTF-8 code point (the text is valid UTF-8: jansson checked it). */
static uint32_t next_cp(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t cp;
	int n;

	if (s[0] < 0x80)
		cp = s[0], n = 1;
	else if ((s[0] & 0xe0) == 0xc0)
		cp = s[0] & 0x1f, n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		cp = s[0] & 0x0f, n = 3;
	else
		cp = s[0] & 0x07, n = 4;
	for (int i = 1; i < n; i++)
		cp = (cp << 6) | (s[i] & 0x3f);
	*p = s + n;
	return cp;
}

/* --- carrying out ---------------------------------------------------------------- */

static int press_keys(struct agent *a, const uint32_t *syms, int n, int press, char **cause)
{
	int rc = 0;

	if (press) {
		for (int i = 0; i < n && rc == 0; i++)
			rc = inject_keysym(a->inject, syms[i], 1, cause);
	} else {
		for (int i = n - 1; i >= 0; i--) {
			int r = inject_keysym(a->inject, syms[i], 0, cause);
			if (rc == 0)
				rc = r;
		}
	}
	return rc;
}

static int click(struct agent *a, const int32_t xy[2], int button, int times,
                 const uint32_t *mods, int n_mods, char **cause)
{
	int rc = inject_move(a->inject, xy[0], xy[1], cause);

	if (rc == 0 && n_mods > 0)
		rc = press_keys(a, mods, n_mods, 1, cause);
	for (int i = 0; i < times && rc == 0; i++) {
		rc = inject_button(a->inject, button, 1, cause);
		if (rc == 0)
			rc = inject_button(a->inject, button, 0, cause);
	}
	if (n_mods > 0)
		press_keys(a, mods, n_mods, 0, NULL);
	return rc;
}

/* The pointer actions' buttons and counts. */
static const struct { const char *name; int button, times; } clicks[] = {
	{ "left_click", 1, 1 }, { "right_click", 3, 1 }, { "middle_click", 2, 1 },
	{ "double_click", 1, 2 }, { "triple_click", 1, 3 },
};

/* A pointer position that must be in the visible in-scope area; 0, or 1 with *why. */
static int out_of_scope(struct agent *a, const int32_t xy[2], char **why)
{
	while (scope_dispatch(a->scope, 1) > 0)
		;
	if (scope_point_kept(a->scope, xy[0], xy[1]))
		return 0;
	*why = util_xasprintf("refused: (%d, %d) is not on a window the recording policy allows "
	                      "(docs/POLICY.md); nothing was done", (int)xy[0], (int)xy[1]);
	return 1;
}

/* One call's action, checked in full by parse_action before run_action carries it out. */
struct action {
	const char *name;          /* borrowed from the arguments */
	int pointer, keyboard;     /* what the scope checks must judge */
	int32_t xy[2], from[2];    /* coordinate, start_coordinate (drag) */
	uint32_t mods[AGENT_CHORD_MAX]; /* modifiers held (clicks, scroll) */
	int n_mods;
	int button, times;         /* clicks and scroll */
	double seconds;            /* wait, hold_key */
	const char *text;          /* type, key, hold_key (borrowed) */
};

/* Checks a `type` text: bounded, and every character on a key. */
static int check_type_text(struct agent *a, json_t *v, char **cause)
{
	if (!json_is_string(v))
		return util_fail(cause, MCP_INVALID_PARAMS, "type needs text, a string");
	if (json_string_length(v) > AGENT_TYPE_MAX)
		return util_fail(cause, MCP_INVALID_PARAMS, "text is %zu bytes; one type call types "
		                 "at most %d: split it", json_string_length(v), AGENT_TYPE_MAX);
	for (const unsigned char *p = (const void *)json_string_value(v); *p != '\0';) {
		uint32_t cp = next_cp(&p);
		uint32_t ks = inject_keysym_from_char(cp);

		/* Refused before anything is typed: mimic does not remap keys (docs/AGENTS.md). */
		if (ks == 0 || !inject_has_keysym(a->inject, ks))
			return util_fail(cause, MCP_INVALID_PARAMS, "text has the character U+%04X, "
			                 "which no key of the keyboard layout types", (unsigned)cp);
	}
	return 0;
}

/* Checks a `key` / `hold_key` text: chords of known keys, at most AGENT_KEYS_MAX. */
static int check_keys(const char *action, json_t *v, char **cause)
{
	const char *t;
	size_t len;
	int chords = 0;

	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 1000)
		return util_fail(cause, MCP_INVALID_PARAMS, "%s needs text, the keys (xdotool "
		                 "syntax, at most 1000 bytes)", action);
	t = json_string_value(v);
	len = json_string_length(v);
	for (size_t i = 0; i < len;) {
		size_t j = i;
		uint32_t syms[AGENT_CHORD_MAX];
		int n;

		while (j < len && t[j] != ' ')
			j++;
		if (j > i) {
			if ((n = parse_chord(t + i, j - i, syms, cause)) < 0)
				return n;
			if (++chords > AGENT_KEYS_MAX)
				return util_fail(cause, MCP_INVALID_PARAMS, "more than %d key presses in "
				                 "one call", AGENT_KEYS_MAX);
		}
		i = j + 1;
	}
	if (chords == 0)
		return util_fail(cause, MCP_INVALID_PARAMS, "%s needs at least one key", action);
	return 0;
}

/*
 * Checks the arguments of one call into *act without touching the display.
 * Returns 0, or MCP_INVALID_PARAMS with *cause.
 */
static int parse_action(struct agent *a, json_t *args, struct action *act, char **cause)
{
	static const char *const dirs[] = { "up", "down", "left", "right" };
	const char *name;
	json_t *v;
	int rc = 0;

	memset(act, 0, sizeof *act);
	v = json_object_get(args, "action");
	if (!json_is_string(v))
		return util_fail(cause, MCP_INVALID_PARAMS, "arguments.action must be a string "
		                 "(screenshot, left_click, type, key, ...)");
	name = act->name = json_string_value(v);
	/* The agent's goal and its reason for this step: bounded free text. */
	v = json_object_get(args, "task");
	if (v != NULL && (!json_is_string(v) || json_string_length(v) > AGENT_NOTE_MAX))
		return util_fail(cause, MCP_INVALID_PARAMS, "task must be a string of at most %d bytes",
		                 AGENT_NOTE_MAX);
	v = json_object_get(args, "intent");
	if (v != NULL && (!json_is_string(v) || json_string_length(v) > AGENT_NOTE_MAX))
		return util_fail(cause, MCP_INVALID_PARAMS, "intent must be a string of at most %d "
		                 "bytes", AGENT_NOTE_MAX);

	for (size_t i = 0; i < sizeof clicks / sizeof clicks[0]; i++)
		if (strcmp(name, clicks[i].name) == 0)
			act->button = clicks[i].button, act->times = clicks[i].times;
	if (act->button != 0 || strcmp(name, "mouse_move") == 0 || strcmp(name, "scroll") == 0) {
		act->pointer = 1;
		if ((rc = get_xy(a, args, "coordinate", act->xy, cause)) != 0)
			return rc;
		if (strcmp(name, "mouse_move") != 0 &&
		    (act->n_mods = parse_mods(args, act->mods, cause)) < 0)
			return act->n_mods;
	}
	if (strcmp(name, "scroll") == 0) {
		const char *d = json_string_value(json_object_get(args, "scroll_direction"));
		json_t *amt = json_object_get(args, "scroll_amount");

		for (int i = 0; d != NULL && i < 4; i++)
			if (strcmp(d, dirs[i]) == 0)
				act->button = 4 + i;
		if (act->button == 0)
			return util_fail(cause, MCP_INVALID_PARAMS, "scroll_direction must be up, down, "
			                 "left or right");
		if (!json_is_integer(amt) || json_integer_value(amt) < 1 ||
		    json_integer_value(amt) > AGENT_SCROLL_MAX)
			return util_fail(cause, MCP_INVALID_PARAMS, "scroll_amount must be an integer, "
			                 "1 to %d", AGENT_SCROLL_MAX);
		act->times = (int)json_integer_value(amt);
	} else if (strcmp(name, "left_click_drag") == 0) {
		act->pointer = 1;
		if ((rc = get_xy(a, args, "start_coordinate", act->from, cause)) != 0 ||
		    (rc = get_xy(a, args, "coordinate", act->xy, cause)) != 0)
			return rc;
	} else if (strcmp(name, "type") == 0) {
		act->keyboard = 1;
		v = json_object_get(args, "text");
		if ((rc = check_type_text(a, v, cause)) != 0)
			return rc;
		act->text = json_string_value(v);
	} else if (strcmp(name, "key") == 0 || strcmp(name, "hold_key") == 0) {
		act->keyboard = 1;
		v = json_object_get(args, "text");
		if ((rc = check_keys(name, v, cause)) != 0)
			return rc;
		act->text = json_string_value(v);
		if (strcmp(name, "hold_key") == 0)
			rc = get_seconds(args, "duration", &act->seconds, cause);
	} else if (strcmp(name, "wait") == 0) {
		rc = get_seconds(args, "duration", &act->seconds, cause);
	} else if (!act->pointer && strcmp(name, "screenshot") != 0 &&
	           strcmp(name, "cursor_position") != 0) {
		return util_fail(cause, MCP_INVALID_PARAMS, "unknown action '%.60s' (screenshot, "
		                 "left_click, right_click, middle_click, double_click, triple_click, "
		                 "mouse_move, left_click_drag, scroll, type, key, hold_key, wait, "
		                 "cursor_position)", name);
	}
	return rc;
}

/* Types text (checked by check_type_text) on the agent's keyboard. */
static int type_text(struct agent *a, const char *text, char **err)
{
	int rc = inject_follow_focus(a->inject, err);

	for (const unsigned char *p = (const void *)text; rc == 0 && *p != '\0';) {
		uint32_t ks = inject_keysym_from_char(next_cp(&p));

		rc = inject_keysym(a->inject, ks, 1, err);
		if (rc == 0)
			rc = inject_keysym(a->inject, ks, 0, err);
		/* Let the server and the application keep up with long texts. */
		if (rc == 0 && inject_sync(a->inject) != 0)
			rc = util_fail(err, -EPIPE, "lost the X server");
	}
	return rc;
}

/* Presses the chords of text (checked by check_keys), each held for seconds. */
static int press_chords(struct agent *a, const char *text, double seconds, char **err)
{
	size_t len = strlen(text);
	int rc = inject_follow_focus(a->inject, err);

	for (size_t i = 0; rc == 0 && i < len;) {
		size_t j = i;
		uint32_t syms[AGENT_CHORD_MAX];
		int n, r;

		while (j < len && text[j] != ' ')
			j++;
		if (j > i && (n = parse_chord(text + i, j - i, syms, err)) > 0) {
			rc = press_keys(a, syms, n, 1, err);
			if (rc == 0 && seconds > 0) {
				inject_sync(a->inject);
				sleep_ms((long)(seconds * 1000));
			}
			r = press_keys(a, syms, n, 0, rc == 0 ? err : NULL);
			if (rc == 0)
				rc = r;
		}
		i = j + 1;
	}
	return rc;
}

/* Carries out a checked action. Returns 0 or a negative error with *err. */
static int run_action(struct agent *a, const struct action *act, char **err)
{
	const char *name = act->name;
	int rc = 0;

	if (act->button != 0) {
		rc = click(a, act->xy, act->button, act->times, act->mods, act->n_mods, err);
	} else if (strcmp(name, "mouse_move") == 0) {
		rc = inject_move(a->inject, act->xy[0], act->xy[1], err);
	} else if (strcmp(name, "left_click_drag") == 0) {
		rc = inject_move(a->inject, act->from[0], act->from[1], err);
		if (rc == 0)
			rc = inject_button(a->inject, 1, 1, err);
		if (rc == 0)
			rc = inject_move(a->inject, act->xy[0], act->xy[1], err);
		inject_button(a->inject, 1, 0, rc == 0 ? err : NULL);
	} else if (strcmp(name, "type") == 0) {
		rc = type_text(a, act->text, err);
	} else if (act->keyboard) {
		rc = press_chords(a, act->text, act->seconds, err);
	} else if (strcmp(name, "wait") == 0) {
		sleep_ms((long)(act->seconds * 1000));
	}
	if (rc == 0 && inject_sync(a->inject) != 0)
		rc = util_fail(err, -EPIPE, "lost the X server");
	return rc;
}

const char *agent_result_error(const json_t *res)
{
	const char *t;

	if (!json_is_true(json_object_get(res, "isError")))
		return NULL;
	t = json_string_value(json_object_get(json_array_get(json_object_get(res, "content"), 0),
	                                      "text"));
	return t != NULL ? t : "refused (no reason given)";
}

int agent_call(void *arg, const char *name, json_t *args, json_t **result, char **cause)
{
	struct agent *a = arg;
	struct action act;
	json_t *content, *task;
	char *why = NULL, *err = NULL;
	int64_t t_start = util_now_mono_ns();
	int rc;

	*result = NULL;
	if (strcmp(name, "computer") != 0)
		return util_fail(cause, MCP_INVALID_PARAMS, "unknown tool '%.100s'; this server has "
		                 "one tool, computer", name);
	if ((rc = parse_action(a, args, &act, cause)) != 0)
		return rc;
	/*
	 * Nothing while a person has taken over (the call is their pending action), an
	 * action only while it is recorded, and only inside the scope.
	 */
	switch (recorder_allows(a, act.pointer || act.keyboard, act.keyboard, &why)) {
	case HUMAN_CONTROL:
		report_refused(a, args);
		goto refused;
	case REFUSED:
		goto refused;
	case ALLOWED:
		break;
	}
	task = json_object_get(args, "task");
	if (json_string_length(task) > 0)
		start_task(a, json_string_value(task));
	if (act.pointer && (out_of_scope(a, act.xy, &why) ||
	                    (strcmp(act.name, "left_click_drag") == 0 &&
	                     out_of_scope(a, act.from, &why))))
		goto refused;
	rc = run_action(a, &act, &err);
	log_debug("agent: %s checked and carried out in %.1f ms", act.name,
	          (double)(util_now_mono_ns() - t_start) / 1e6);
	if (rc != 0) {
		why = util_xasprintf("the action failed: %s", err ? err : "unknown error");
		goto refused;
	}

	content = json_array();
	if (strcmp(act.name, "cursor_position") == 0) {
		int32_t x = 0, y = 0;
		char text[64];

		if (inject_pointer(a->inject, &x, &y, &err) != 0) {
			json_decref(content);
			why = util_xasprintf("%s", err);
			goto refused;
		}
		snprintf(text, sizeof text, "X=%d,Y=%d", (int)x, (int)y);
		json_array_append_new(content, json_pack("{s:s, s:s}", "type", "text", "text", text));
	}
	if (add_screenshot(a, content, &err) != 0) {
		json_decref(content);
		why = util_xasprintf("the action was carried out, but the screenshot failed: %s",
		                     err ? err : "?");
		goto refused;
	}
	*result = json_pack("{s:o, s:b}", "content", content, "isError", 0);
	free(err);
	return 0;
refused:
	log_info("agent: %s refused or failed", act.name);
	*result = tool_error(why);
	free(why);
	free(err);
	return 0;
}

json_t *agent_tools(void *arg)
{
	static const char schema[] =
		"{\"type\":\"object\",\"required\":[\"action\"],\"properties\":{"
		"\"action\":{\"enum\":[\"screenshot\",\"left_click\",\"right_click\",\"middle_click\","
		"\"double_click\",\"triple_click\",\"mouse_move\",\"left_click_drag\",\"scroll\","
		"\"type\",\"key\",\"hold_key\",\"wait\",\"cursor_position\"]},"
		"\"coordinate\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,"
		"\"maxItems\":2,\"description\":\"[x, y] in screen pixels\"},"
		"\"start_coordinate\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"},"
		"\"minItems\":2,\"maxItems\":2},"
		"\"text\":{\"type\":\"string\",\"description\":\"type: the text; key and hold_key: "
		"xdotool key syntax (Return, ctrl+s, several separated by spaces); clicks and scroll: "
		"modifiers held (ctrl+shift)\"},"
		"\"scroll_direction\":{\"enum\":[\"up\",\"down\",\"left\",\"right\"]},"
		"\"scroll_amount\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100},"
		"\"duration\":{\"type\":\"number\",\"minimum\":0,\"maximum\":60,"
		"\"description\":\"seconds (wait, hold_key)\"},"
		"\"task\":{\"type\":\"string\",\"maxLength\":1000,\"description\":\"the goal; a new "
		"one starts a task on the recorder\"},"
		"\"intent\":{\"type\":\"string\",\"maxLength\":1000,\"description\":\"why this step\"}"
		"}}";

	(void)arg;
	return json_pack("[{s:s, s:s, s:s, s:o}]", "name", "computer", "title", "Computer",
	                 "description", "Acts on the recorded X11 desktop (the computer-use action "
	                 "set of mimic's exports) and returns the screenshot after the screen "
	                 "settled. Actions outside the recording policy's scope are refused.",
	                 "inputSchema", json_loads(schema, 0, NULL));
}

void agent_screen_size(const struct agent *a, int32_t *w, int32_t *h)
{
	*w = a->w;
	*h = a->h;
}

int agent_open(const struct agent_opts *opts, struct agent **out, char **cause)
{
	struct agent *a = util_xcalloc(1, sizeof *a);
	char *why = NULL;
	int rc;

	*out = NULL;
	if ((rc = paths_control_socket(0, &a->socket, cause)) != 0)
		goto fail;
	json_t *st = recorder_status(a, &why);
	if (st == NULL) {
		rc = util_fail(cause, -ENOENT, "no recorder is running (%s): start `mimic record` "
		               "first; the agent server records through it (docs/AGENTS.md)",
		               why ? why : "no answer");
		goto fail;
	}
	json_decref(st);
	/*
	 * Attached first, before the devices: a second server is refused here, before
	 * it would remove the first one's devices. From now on input of anyone else
	 * takes over, until agent_close detaches.
	 */
	struct ipc_request req = { .agent = IPC_AGENT_ATTACH, .agent_pid = getpid(),
	                           .idle_ms = opts->handback_idle_ms };
	if ((rc = agent_request(a->socket, &req, cause)) != 0)
		goto fail;
	a->attached = 1;
	if ((rc = policy_load(opts->policy_path, &a->policy, cause)) != 0 ||
	    (rc = scope_open(opts->display, a->policy, &a->scope, cause)) != 0 ||
	    (rc = screen_open(opts->display, 0, 2, &a->screen, cause)) != 0 ||
	    (rc = encode_new(&a->enc, cause)) != 0 ||
	    (rc = inject_open(opts->display, &a->inject, cause)) != 0)
		goto fail;
	inject_screen_size(a->inject, &a->w, &a->h);
	free(why);
	*out = a;
	return 0;
fail:
	free(why);
	agent_close(a);
	return rc;
}

void agent_close(struct agent *a)
{
	if (a == NULL)
		return;
	if (a->attached) {
		struct ipc_request req = { .agent = IPC_AGENT_DETACH, .agent_pid = getpid() };
		char *cause = NULL;

		if (agent_request(a->socket, &req, &cause) != 0)
			log_warn("agent: could not detach from the recorder: %s", cause ? cause : "?");
		free(cause);
	}
	inject_close(a->inject);
	encode_free(a->enc);
	screen_close(a->screen);
	scope_close(a->scope);
	policy_free(a->policy);
	free(a->socket);
	free(a);
}
