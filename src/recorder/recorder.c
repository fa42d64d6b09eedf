/*
 * recorder: the `mimic record` process.
 *
 * The main thread is the input thread: it polls the X connection, the control
 * socket and a signalfd, and hands every event to the writer thread, which is
 * the only one that touches the database while recording. Nothing on this
 * thread waits for the disk.
 */
#include "recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture.h"
#include "config.h"
#include "consent.h"
#include "event.h"
#include "audit.h"
#include "forget.h"
#include "frames.h"
#include "indicator.h"
#include "ipc.h"
#include "log.h"
#include "paths.h"
#include "policy.h"
#include "scope.h"
#include "store.h"
#include "testbreak.h"
#include "uia.h"
#include "util.h"
#include "writer.h"

enum { AUTO_PAUSE_LOCK = 1, AUTO_PAUSE_IDLE = 2 };

/* Events seen while capture_open runs, before the writer exists. */
#define EARLY_MAX 64
#define EARLY_DEVICES_MAX 64

struct early_device {
	int32_t id;
	char name[128];
	int synthetic;
};

struct recorder {
	const struct recorder_opts *opts;
	char *data_dir;
	char *socket_path;
	int lock_fd;
	int ipc_fd;
	int sig_fd;
	struct store *store;
	struct capture *capture;
	struct writer *writer;
	struct frames *frames;   /* NULL when frames are off or could not start */
	pid_t scanner;           /* `mimic-data scan-worker` child, or 0 (scan_while_recording) */
	struct vault *vault;     /* the data directory's key (owned by store) */
	struct config config;
	char frames_error[256];  /* why frames could not start, "" when they did */
	struct uia_state *ui;    /* UI elements (uia); NULL with --no-elements */
	int64_t session;
	int64_t next_event_id;   /* assigned to events in push order (see event.h) */
	int64_t next_frame_id;   /* where the frames worker starts numbering */

	int paused;
	int64_t pause_until_ns;  /* 0: until resumed */
	int task_open;           /* a `mimic task start` has not been ended yet */
	int64_t next_retention_ns; /* when retention is checked next (CLOCK_MONOTONIC) */
	int stop_requested;

	/* Safeguards (docs/POLICY.md). */
	struct policy *policy;
	struct scope *scope;     /* the visible in-scope area, on its own X connection */
	struct indicator *indicator;
	int out_of_scope;        /* the focused window is out of scope: nothing is stored */
	int frames_paused;       /* what the frames engine was last told */
	int verdict;             /* enum policy_verdict of the focused window */
	int key_text;            /* keystroke text is kept in the focused application */
	int secret;              /* the focused field takes a password */
	int secret_marked;       /* this run's secret_input marker is stored */
	struct image_rect secret_hole; /* masked in frames while secret */
	int auto_paused;         /* AUTO_PAUSE_*: paused by the screen lock or idle time */
	int64_t last_input_ns;
	int64_t next_guard_ns;
	uint32_t hotkey_keycode; /* the pause hotkey's key and modifiers, never stored */
	uint32_t hotkey_mods;
	int hotkey_held;         /* its press was dropped: so is its release */
	uint8_t blanked[32];     /* keycodes whose press was blanked (keystroke_text off) */
	bool cfg_keep_set;       /* [frames] keep of the settings, intersected with the scope */
	size_t cfg_n_keep;
	struct image_rect cfg_keep[CONFIG_KEEP_MAX];

	/* The newest context capture reported, and whether the store has it. */
	struct context last_ctx;
	int have_ctx;
	int ctx_stored;

	struct event early[EARLY_MAX];
	size_t n_early;
	struct early_device early_devs[EARLY_DEVICES_MAX];
	size_t n_early_devs;
};

/* Stores the newest context if the store does not have it yet. */
static void push_context_if_needed(struct recorder *r)
{
	/* The window of an out-of-scope application is never stored, not even its title. */
	if (r->out_of_scope)
		return;
	if (r->have_ctx && !r->ctx_stored && r->writer != NULL) {
		writer_push_context(r->writer, &r->last_ctx);
		r->ctx_stored = 1;
	}
}

/* Gives ev the next event id and queues it for the store. */
static void elements_on_event(struct recorder *r, const struct event *ev);

static void push_event(struct recorder *r, struct event *ev)
{
	ev->id = r->next_event_id++;
	writer_push_event(r->writer, ev);
	/* After the push: the event has its id, and the frames engine only reads it. */
	if (r->frames != NULL)
		frames_notify(r->frames, ev);
	/* Stored events only: what the safeguards drop gets no lookup either. */
	elements_on_event(r, ev);
}

/* --- UI elements: requests from the input thread, results to the writer ----------- */

#define UIA_TAKE_MAX 16           /* results taken from uia at a time */
#define HOVER_REST_NS (40 * INT64_C(1000000)) /* still this long: the pointer rests */
#define TYPE_GAP_NS (1000 * INT64_C(1000000))  /* a pause this long ends a typing run (the
                                                  reducer's type_gap_ms default) */
#define CHORD_MODS (4u | 8u | 64u) /* Control, Mod1 (Alt), Mod4 (Super): a shortcut */
#define CHORDS_MAX 8              /* shortcuts waiting for their element */
#define STOP_WAIT_NS (600 * INT64_C(1000000)) /* at the end, wait this long for lookups */

struct uia_state {
	struct uia *uia;          /* NULL when uia could not start */
	char error[256];          /* why it could not start, "" when it did */
	struct uia_element res[UIA_TAKE_MAX];
	uint64_t requests, results; /* presses and typing runs posted / answered */
	int32_t ptr_x, ptr_y;     /* where the pointer was last seen ... */
	int ptr_known;            /* ... once it was */
	int64_t ptr_moved_ns;     /* when it moved there (or a key changed what is under
	                             it); 0: no hover due */
	int typing;               /* a typing run is going on ... */
	int64_t typing_last_ns;   /* ... and its last key came then */
	struct {
		int64_t event_id;
		char chord[STORE_EL_CHORD_MAX];
	} chords[CHORDS_MAX];
	unsigned chord_next;
};

static int is_modifier_keysym(const char *ks)
{
	static const char *const mods[] = {
		"Shift_L", "Shift_R", "Control_L", "Control_R", "Alt_L", "Alt_R", "Meta_L",
		"Meta_R", "Super_L", "Super_R", "Hyper_L", "Hyper_R", "Caps_Lock", "Num_Lock",
		"ISO_Level3_Shift", "ISO_Level5_Shift", "Mode_switch", "ISO_Group_Shift",
	};

	for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++)
		if (strcmp(ks, mods[i]) == 0)
			return 1;
	return 0;
}

/* "ctrl+shift+t": the modifiers held (ctrl, alt, shift, super) and the key, lower case. */
static void format_chord(const struct event *ev, char *dst, size_t n)
{
	static const struct {
		uint32_t mask;
		const char *name;
	} mods[] = { { 4, "ctrl" }, { 8, "alt" }, { 1, "shift" }, { 64, "super" } };
	size_t len = 0;

	dst[0] = '\0';
	for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++)
		if ((ev->mods & mods[i].mask) && len + strlen(mods[i].name) + 2 < n)
			len += (size_t)snprintf(dst + len, n - len, "%s+", mods[i].name);
	for (const char *k = ev->keysym; *k != '\0' && len + 1 < n; k++)
		dst[len++] = (char)(*k >= 'A' && *k <= 'Z' ? *k - 'A' + 'a' : *k);
	dst[len] = '\0';
}

/* The focused window as uia's cross-check wants it; NULL when none is known. */
static const struct uia_window_hint *focus_hint(struct recorder *r, struct uia_window_hint *h)
{
	if (!r->have_ctx || r->last_ctx.window == 0)
		return NULL;
	memset(h, 0, sizeof *h);
	h->window = r->last_ctx.window;
	h->pid = r->last_ctx.pid;
	h->x = r->last_ctx.x;
	h->y = r->last_ctx.y;
	h->w = r->last_ctx.w;
	h->h = r->last_ctx.h;
	return h;
}

/*
 * Tells uia what the input thread saw (never waits): where the pointer moves, each
 * button press, the first key of each typing run and each shortcut.
 */
static void elements_on_event(struct recorder *r, const struct event *ev)
{
	struct uia_state *ui = r->ui;
	struct uia_window_hint h;

	if (ui == NULL || ui->uia == NULL)
		return;
	/* Without an accessibility bus (or before it answered) there is nobody to ask. */
	if (uia_is_degraded(ui->uia, NULL, 0))
		return;
	switch (ev->kind) {
	case EVENT_MOTION:
		if (ev->x != ui->ptr_x || ev->y != ui->ptr_y || ui->ptr_moved_ns == 0) {
			ui->ptr_x = ev->x;
			ui->ptr_y = ev->y;
			ui->ptr_known = 1;
			ui->ptr_moved_ns = ev->t_ns;
		}
		break;
	case EVENT_SCROLL:
		/* What is under the pointer scrolled: look again once it settles. */
		uia_note_input(ui->uia);
		if (ui->ptr_known)
			ui->ptr_moved_ns = ev->t_ns;
		break;
	case EVENT_BUTTON_PRESS:
		ui->typing = 0;
		ui->ptr_x = ev->x;
		ui->ptr_y = ev->y;
		ui->ptr_known = 1;
		ui->ptr_moved_ns = 0;
		uia_press_at(ui->uia, ev->id, ev->x, ev->y, ev->t_ns);
		ui->requests++;
		break;
	case EVENT_BUTTON_RELEASE:
		/* Many widgets act on the release (a check box toggles): what uia read
		 * before it is not taken for a later press without looking again. */
		uia_note_input(ui->uia);
		break;
	case EVENT_FOCUS:
		ui->typing = 0;
		break;
	case EVENT_SECRET_INPUT:
		/* Keys into a password field are not stored, but which field took them is. */
		ui->typing = 0;
		uia_typing_start(ui->uia, ev->id, ev->t_ns, focus_hint(r, &h));
		ui->requests++;
		break;
	case EVENT_KEY_PRESS:
		/* Keys may change what is under the resting pointer: look again after them. */
		uia_note_input(ui->uia);
		if (ui->ptr_known)
			ui->ptr_moved_ns = ev->t_ns;
		if (is_modifier_keysym(ev->keysym))
			break;
		if (ev->mods & CHORD_MODS) {
			unsigned i = ui->chord_next++ % CHORDS_MAX;

			ui->typing = 0;
			ui->chords[i].event_id = ev->id;
			format_chord(ev, ui->chords[i].chord, sizeof ui->chords[i].chord);
			uia_typing_start(ui->uia, ev->id, ev->t_ns, focus_hint(r, &h));
			ui->requests++;
		} else if (ev->text[0] != '\0') {
			if (!ui->typing || ev->t_ns - ui->typing_last_ns > TYPE_GAP_NS) {
				uia_typing_start(ui->uia, ev->id, ev->t_ns, focus_hint(r, &h));
				ui->requests++;
			}
			ui->typing = 1;
			ui->typing_last_ns = ev->t_ns;
		} else if (strcmp(ev->keysym, "BackSpace") == 0 || strcmp(ev->keysym, "Delete") == 0) {
			if (ui->typing)
				ui->typing_last_ns = ev->t_ns; /* an edit inside the run */
		} else {
			ui->typing = 0; /* Return, Tab, arrows...: the run is over */
		}
		break;
	default:
		break;
	}
}

/* Posts a hover once the pointer has rested; returns ms until one is due, or -1. */
static int elements_tick(struct recorder *r, int64_t now)
{
	struct uia_state *ui = r->ui;
	int64_t due;

	if (ui == NULL || ui->uia == NULL || ui->ptr_moved_ns == 0 || r->paused)
		return -1;
	due = ui->ptr_moved_ns + HOVER_REST_NS;
	if (now >= due) {
		uia_hover_at(ui->uia, ui->ptr_x, ui->ptr_y, now);
		ui->ptr_moved_ns = 0;
		return -1;
	}
	return (int)((due - now) / 1000000) + 1;
}

static void element_to_store(struct uia_state *ui, const struct uia_element *u,
                             struct store_element *e)
{
	memset(e, 0, sizeof *e);
	e->event_id = u->event_id;
	e->kind = u->kind == UIA_KIND_PRESS ? STORE_ELEMENT_PRESS : STORE_ELEMENT_TYPING;
	for (unsigned i = 0; i < CHORDS_MAX; i++) {
		if (u->kind == UIA_KIND_TYPING && ui->chords[i].event_id == u->event_id) {
			e->kind = STORE_ELEMENT_SHORTCUT;
			util_strlcpy_utf8(e->chord, ui->chords[i].chord, sizeof e->chord);
		}
	}
	e->status = u->status;
	e->source = u->source;
	e->t_ns = u->t_ns;
	e->read_ns = u->read_ns;
	e->lookup_us = u->lookup_us;
	e->window = u->window;
	e->pid = u->pid;
	e->popup = u->popup;
	util_strlcpy_utf8(e->app, u->app, sizeof e->app);
	util_strlcpy_utf8(e->role, u->role, sizeof e->role);
	util_strlcpy_utf8(e->name, u->name, sizeof e->name);
	util_strlcpy_utf8(e->label, u->label, sizeof e->label);
	util_strlcpy_utf8(e->description, u->description, sizeof e->description);
	e->states = u->states;
	util_strlcpy_utf8(e->state_names, u->state_names, sizeof e->state_names);
	e->x = u->x;
	e->y = u->y;
	e->w = u->w;
	e->h = u->h;
	for (int i = 0; i < u->n_ancestors && i < STORE_EL_ANCESTORS_MAX; i++) {
		util_strlcpy_utf8(e->ancestors[i].role, u->ancestors[i].role,
		                  sizeof e->ancestors[i].role);
		util_strlcpy_utf8(e->ancestors[i].name, u->ancestors[i].name,
		                  sizeof e->ancestors[i].name);
		e->n_ancestors = i + 1;
	}
	util_strlcpy_utf8(e->menu_path, u->menu_path, sizeof e->menu_path);
	util_strlcpy_utf8(e->shortcut, u->shortcut, sizeof e->shortcut);
	util_strlcpy_utf8(e->url, u->url, sizeof e->url);
}

/* Moves uia's answers to the writer (no disk I/O here). */
static void elements_take(struct recorder *r)
{
	struct uia_state *ui = r->ui;
	struct store_element el;
	size_t n;

	if (ui == NULL || ui->uia == NULL || r->writer == NULL)
		return;
	while ((n = uia_take_results(ui->uia, ui->res, UIA_TAKE_MAX)) > 0) {
		for (size_t i = 0; i < n; i++) {
			ui->results++;
			/* Without an accessibility bus there is nothing to say per event. */
			if (ui->res[i].status == UIA_DEGRADED)
				continue;
			element_to_store(ui, &ui->res[i], &el);
			writer_push_element(r->writer, &el);
		}
	}
}

/*
 * Starts uia. Without an accessibility bus it works degraded (no elements), and
 * if it cannot start at all recording goes on without it; either way the reason
 * shows in the status.
 */
static void elements_start(struct recorder *r)
{
	struct uia_state *ui;
	char *cause = NULL;

	if (r->opts->no_elements)
		return;
	ui = r->ui = util_xcalloc(1, sizeof *ui);
	if (uia_start(&ui->uia, &cause) != 0) {
		util_strlcpy_utf8(ui->error, cause != NULL ? cause : "cannot start",
		                  sizeof ui->error);
		log_warn("recording without UI elements: %s", ui->error);
		ui->uia = NULL;
		free(cause);
		return;
	}
	if (uia_attach_x(ui->uia, r->opts->display, &cause) != 0) {
		/* Presses are then looked up without X's view of the window under the pointer. */
		log_warn("UI elements without a pointer thread: %s", cause);
		free(cause);
	}
}

/* Waits a little for the answers still due, hands them on, and stops uia. */
static void elements_stop(struct recorder *r)
{
	struct uia_state *ui = r->ui;
	int64_t deadline = util_now_mono_ns() + STOP_WAIT_NS;

	if (ui == NULL)
		return;
	if (ui->uia != NULL) {
		while (r->writer != NULL && ui->results < ui->requests &&
		       util_now_mono_ns() < deadline) {
			struct pollfd p = { .fd = uia_fd(ui->uia), .events = POLLIN };

			if (poll(&p, 1, 50) > 0)
				elements_take(r);
		}
		elements_take(r);
		uia_stop(ui->uia);
	}
	free(ui);
	r->ui = NULL;
}

/* The "accessibility" member of the status: UI elements ok, degraded (why) or off. */
static json_t *elements_json(struct recorder *r, const struct writer_stats *ws)
{
	struct uia_state *ui = r->ui;
	json_t *o = json_object();
	char reason[256] = "";
	const char *state;

	if (ui == NULL) {
		state = "off";
		util_strlcpy_utf8(reason, "--no-elements", sizeof reason);
	} else if (ui->uia == NULL) {
		state = "degraded";
		util_strlcpy_utf8(reason, ui->error, sizeof reason);
	} else {
		state = uia_is_degraded(ui->uia, reason, sizeof reason) ? "degraded" : "ok";
	}
	json_object_set_new(o, "state", json_string(state));
	json_object_set_new(o, "reason", reason[0] ? json_string(reason) : json_null());
	json_object_set_new(o, "elements_stored", json_integer((json_int_t)ws->elements));
	if (ui != NULL && ui->uia != NULL) {
		struct uia_stats us;

		uia_get_stats(ui->uia, &us);
		json_object_set_new(o, "lookups", json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		                    "hovers", (json_int_t)us.hovers_resolved,
		                    "presses", (json_int_t)us.presses,
		                    "typing", (json_int_t)us.typings,
		                    "ok", (json_int_t)us.ok,
		                    "no_element", (json_int_t)us.no_element,
		                    "mismatch", (json_int_t)us.mismatch,
		                    "timeout", (json_int_t)us.timeout,
		                    "dropped", (json_int_t)(us.dropped + us.results_lost)));
	}
	return o;
}

/* --- Safeguards: scope, password fields, indicator, hotkey, lock and idle ---------- */

static void set_paused(struct recorder *r, int paused, int64_t for_ms);
static void audit_or_warn(struct recorder *r, const char *what, const char *details);
static void start_frames(struct recorder *r);

#define GUARD_TICK_MS 1000        /* how often the screen lock and idle time are checked */

/* A marker that names no window: only that recording was suspended or resumed. */
static void push_bare_marker(struct recorder *r, int kind)
{
	struct event ev;

	if (r->writer == NULL)
		return;
	memset(&ev, 0, sizeof ev);
	ev.t_ns = util_now_mono_ns();
	ev.kind = kind;
	push_event(r, &ev);
}

/*
 * Frames pause while paused or out of scope. A pause is always passed on (a
 * frames engine started again after a forget starts unpaused); a resume only
 * after a pause, since each resume makes the engine grab the screen anew.
 */
static void guard_frames_pause(struct recorder *r)
{
	if (r->frames == NULL)
		return;
	if (r->paused || r->out_of_scope) {
		frames_set_paused(r->frames, true);
		r->frames_paused = 1;
	} else if (r->frames_paused) {
		frames_set_paused(r->frames, false);
		r->frames_paused = 0;
	}
}

static int rect_eq(const struct image_rect *a, const struct image_rect *b)
{
	return a->x == b->x && a->y == b->y && a->w == b->w && a->h == b->h;
}

/*
 * Gives the frames engine the visible in-scope area, minus the password field
 * (or the whole window with the title heuristic), within the configured keep.
 */
static void guard_update_keep(struct recorder *r)
{
	struct image_rect keep[FRAMES_KEEP_MAX];
	size_t n;

	if (r->frames == NULL || r->scope == NULL)
		return;
	n = scope_keep_rects(r->scope, keep, FRAMES_KEEP_MAX);
	if (testbreak("out-of-scope-windows-unmasked")) {
		keep[0] = (struct image_rect){0, 0, 32767, 32767};
		n = 1;
	}
	if (r->secret && r->secret_hole.w > 0 && r->secret_hole.h > 0 &&
	    !testbreak("password-field-unmasked"))
		n = scope_subtract(keep, n, FRAMES_KEEP_MAX, &r->secret_hole);
	if (r->cfg_keep_set) {
		/* Keep only what both the settings and the scope keep. */
		struct image_rect both[FRAMES_KEEP_MAX];
		size_t m = 0;

		for (size_t i = 0; i < n; i++) {
			for (size_t j = 0; j < r->cfg_n_keep && m < FRAMES_KEEP_MAX; j++) {
				struct image_rect a = keep[i], b = r->cfg_keep[j];
				int64_t x0 = a.x > b.x ? a.x : b.x, y0 = a.y > b.y ? a.y : b.y;
				int64_t x1 = (int64_t)a.x + a.w < (int64_t)b.x + b.w ? (int64_t)a.x + a.w
				                                                      : (int64_t)b.x + b.w;
				int64_t y1 = (int64_t)a.y + a.h < (int64_t)b.y + b.h ? (int64_t)a.y + a.h
				                                                      : (int64_t)b.y + b.h;
				if (x1 > x0 && y1 > y0)
					both[m++] = (struct image_rect){(int32_t)x0, (int32_t)y0,
					                               (uint32_t)(x1 - x0), (uint32_t)(y1 - y0)};
			}
		}
		memcpy(keep, both, m * sizeof(keep[0]));
		n = m;
	}
	frames_set_keep(r->frames, keep, n);
}

/* Judges the focused window (r->last_ctx) against the policy. */
static int guard_ctx_in_scope(struct recorder *r)
{
	struct policy_window w;

	if (r->policy == NULL)
		return 1;
	if (!r->have_ctx || r->last_ctx.window == 0)
		return 0;
	w = (struct policy_window){ r->last_ctx.wm_instance, r->last_ctx.wm_class,
	                            r->last_ctx.exe, r->last_ctx.title, NULL };
	r->verdict = (int)policy_check(r->policy, &w);
	return r->verdict == POLICY_IN;
}

/* Follows the focused window in or out of scope, with a marker at each change. */
static void guard_on_context(struct recorder *r)
{
	int in = guard_ctx_in_scope(r);

	r->key_text = r->policy == NULL ||
	              policy_key_text(r->policy, r->last_ctx.wm_instance, r->last_ctx.wm_class);
	r->secret_marked = 0;
	if (!in && !r->out_of_scope) {
		r->out_of_scope = 1;
		if (!r->paused)
			push_bare_marker(r, EVENT_SCOPE_OUT);
		guard_frames_pause(r);
		log_info("recording suspended: the focused window is out of scope");
	} else if (in && r->out_of_scope) {
		r->out_of_scope = 0;
		if (!r->paused)
			push_bare_marker(r, EVENT_SCOPE_IN);
		guard_frames_pause(r);
		log_info("recording resumed: the focused window is in scope");
	}
}

/*
 * Whether the focused element is a password field: AT-SPI when it answers for
 * the focused window's application, and always the title heuristic. Updates the
 * masked hole and tells the frames engine when it changed.
 */
static void guard_check_secret(struct recorder *r)
{
	struct image_rect hole = {0, 0, 0, 0};
	int secret = 0;

	if (r->ui != NULL && r->ui->uia != NULL && r->have_ctx) {
		struct uia_focus f;

		if (uia_focused(r->ui->uia, &f) && f.known &&
		    (f.pid == 0 || r->last_ctx.pid == 0 || f.pid == r->last_ctx.pid)) {
			secret = 1;
			if (f.w > 0 && f.h > 0)
				hole = (struct image_rect){f.x, f.y, (uint32_t)f.w, (uint32_t)f.h};
			else
				hole = (struct image_rect){r->last_ctx.x, r->last_ctx.y,
				                          (uint32_t)r->last_ctx.w, (uint32_t)r->last_ctx.h};
		}
	}
	if (!secret && r->have_ctx && policy_looks_like_password_prompt(r->last_ctx.title)) {
		secret = 1;
		hole = (struct image_rect){r->last_ctx.x, r->last_ctx.y, (uint32_t)r->last_ctx.w,
		                          (uint32_t)r->last_ctx.h};
	}
	if (secret != r->secret || !rect_eq(&hole, &r->secret_hole)) {
		r->secret = secret;
		r->secret_hole = hole;
		if (!secret)
			r->secret_marked = 0;
		guard_update_keep(r);
	}
}

static int is_input_kind(int kind)
{
	return kind == EVENT_KEY_PRESS || kind == EVENT_KEY_RELEASE || kind == EVENT_BUTTON_PRESS ||
	       kind == EVENT_BUTTON_RELEASE || kind == EVENT_MOTION || kind == EVENT_SCROLL;
}

/*
 * Decides what of an event may be stored. Returns 0 to drop it; may blank a
 * key's content (ev is a copy) or push a secret_input marker instead.
 */
static int guard_filter(struct recorder *r, struct event *ev)
{
	int key = ev->kind == EVENT_KEY_PRESS || ev->kind == EVENT_KEY_RELEASE;

	if (is_input_kind(ev->kind)) {
		r->last_input_ns = ev->t_ns;
		/* Any input ends an idle pause. */
		if (r->auto_paused == AUTO_PAUSE_IDLE) {
			r->auto_paused = 0;
			set_paused(r, 0, 0);
		}
	}
	/*
	 * The pause hotkey's own key is never stored, whatever the state: its press
	 * with the modifiers, and its release (the modifiers may be up by then).
	 */
	if (key && r->hotkey_keycode != 0 && (uint32_t)ev->detail == r->hotkey_keycode) {
		if (ev->kind == EVENT_KEY_PRESS && (ev->mods & r->hotkey_mods) == r->hotkey_mods) {
			r->hotkey_held = 1;
			return 0;
		}
		if (ev->kind == EVENT_KEY_RELEASE && r->hotkey_held) {
			r->hotkey_held = 0;
			return 0;
		}
	}
	if (r->paused || (r->out_of_scope && !(key && testbreak("out-of-scope-keys-stored"))))
		return 0;
	if (r->scope != NULL && (ev->kind == EVENT_BUTTON_PRESS || ev->kind == EVENT_BUTTON_RELEASE ||
	                         ev->kind == EVENT_MOTION || ev->kind == EVENT_SCROLL) &&
	    !scope_point_kept(r->scope, ev->x, ev->y))
		return 0;
	if (ev->kind == EVENT_BUTTON_PRESS || ev->kind == EVENT_FOCUS)
		r->secret_marked = 0;
	if (!key)
		return 1;
	if (ev->kind == EVENT_KEY_PRESS)
		guard_check_secret(r);
	if (r->secret) {
		/* One marker for the run; no key, keysym, text or count. */
		if (ev->kind == EVENT_KEY_PRESS && !r->secret_marked && r->writer != NULL) {
			struct event m;

			memset(&m, 0, sizeof m);
			m.t_ns = ev->t_ns;
			m.kind = EVENT_SECRET_INPUT;
			m.context = ev->context;
			push_context_if_needed(r);
			push_event(r, &m);
			r->secret_marked = 1;
		}
		return 0;
	}
	if (ev->detail >= 0 && ev->detail < 256) {
		uint8_t bit = (uint8_t)(1u << (ev->detail & 7));
		int i = ev->detail >> 3;

		if (ev->kind == EVENT_KEY_PRESS && !r->key_text && ev->text[0] != '\0') {
			/* Keystroke text off for this application: that a key was typed, not which. */
			r->blanked[i] |= bit;
		} else if (ev->kind == EVENT_KEY_PRESS) {
			r->blanked[i] &= (uint8_t)~bit;
			return 1;
		} else if (!(r->blanked[i] & bit)) {
			return 1;
		} else {
			r->blanked[i] &= (uint8_t)~bit; /* the release of a blanked press */
		}
		ev->text[0] = '\0';
		ev->keysym[0] = '\0';
		ev->detail = 0;
	}
	return 1;
}

/* The indicator shows paused, out of scope or recording. */
static void guard_show_state(struct recorder *r)
{
	indicator_set_state(r->indicator, r->paused ? INDICATOR_PAUSED
	                    : r->out_of_scope ? INDICATOR_OUT_OF_SCOPE : INDICATOR_RECORDING);
}

/* Screen lock and idle: pauses and resumes by itself. Returns ms until the next check. */
static int guard_tick(struct recorder *r, int64_t now)
{
	int64_t idle_ms = r->policy != NULL ? policy_idle_pause_ms(r->policy) : 0;

	if (now < r->next_guard_ns)
		return (int)((r->next_guard_ns - now) / 1000000) + 1;
	r->next_guard_ns = now + GUARD_TICK_MS * INT64_C(1000000);
	if (indicator_screen_locked(r->indicator)) {
		if (!r->paused) {
			set_paused(r, 1, 0);
			r->auto_paused = AUTO_PAUSE_LOCK;
			log_info("screen locked: recording paused");
		}
	} else if (r->auto_paused == AUTO_PAUSE_LOCK) {
		r->auto_paused = 0;
		set_paused(r, 0, 0);
	}
	if (idle_ms > 0 && !r->paused && r->last_input_ns != 0 &&
	    now - r->last_input_ns > idle_ms * 1000000) {
		set_paused(r, 1, 0);
		r->auto_paused = AUTO_PAUSE_IDLE;
		log_info("no input for a while: recording paused until the next input");
	}
	guard_check_secret(r);
	guard_show_state(r);
	return GUARD_TICK_MS;
}

/* Handles the indicator's and the scope's X events. Returns -EPIPE when X went away. */
static int guard_dispatch(struct recorder *r)
{
	int presses = 0, rc;

	if (r->indicator != NULL) {
		presses = indicator_dispatch(r->indicator);
		if (presses < 0)
			return presses;
	}
	for (int i = 0; i < presses; i++) {
		r->auto_paused = 0;
		set_paused(r, !r->paused, 0);
	}
	if (r->scope != NULL) {
		rc = scope_dispatch(r->scope);
		if (rc < 0)
			return rc;
		if (rc > 0)
			guard_update_keep(r);
	}
	guard_show_state(r);
	return 0;
}

/* A desktop notification that recording started; notify-send missing is no error. */
static void guard_notify(void)
{
	const char *bus = getenv("DBUS_SESSION_BUS_ADDRESS");
	pid_t pid;

	/* Without a session bus, notify-send would launch one and leave it behind. */
	if (bus == NULL || bus[0] == '\0' || strncmp(bus, "autolaunch:", 11) == 0)
		return;
	pid = fork();
	if (pid == 0) {
		/* A grandchild, so that nobody has to wait for it. */
		if (fork() == 0) {
			int null = open("/dev/null", O_RDWR | O_CLOEXEC);
			if (null >= 0) {
				dup2(null, 0);
				dup2(null, 1);
				dup2(null, 2);
			}
			execlp("notify-send", "notify-send", "--app-name=mimic", "mimic is recording",
			       "Only allowlisted work applications are recorded. "
			       "Pause: `mimic pause` or the pause hotkey.", (char *)NULL);
		}
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

/*
 * Shows the indicator, grabs the pause hotkey and starts following the windows'
 * scope: recording does not start without them.
 */
static int guard_open(struct recorder *r, char **cause)
{
	const char *sym = NULL;
	uint32_t mods = 0;
	int rc;

	if (policy_pause_hotkey(r->policy, &sym, &mods) != 0)
		sym = NULL;
	rc = indicator_open(r->opts->display, sym, mods, &r->indicator, cause);
	if (rc != 0 && testbreak("record-without-indicator")) {
		free(*cause);
		*cause = NULL;
		rc = 0;
	}
	if (rc != 0)
		return rc;
	r->hotkey_keycode = indicator_hotkey_keycode(r->indicator);
	r->hotkey_mods = 0;
	if (mods & POLICY_MOD_SHIFT)
		r->hotkey_mods |= 1;
	if (mods & POLICY_MOD_CTRL)
		r->hotkey_mods |= 4;
	if (mods & POLICY_MOD_ALT)
		r->hotkey_mods |= 8;
	if (mods & POLICY_MOD_SUPER)
		r->hotkey_mods |= 64;
	rc = scope_open(r->opts->display, r->policy, &r->scope, cause);
	if (rc != 0)
		return rc;
	r->last_input_ns = util_now_mono_ns(); /* idle time counts from the start */
	/* Screenshots off in the policy win over the settings file. */
	if (!policy_screenshots(r->policy) && !testbreak("policy-screenshots-ignored"))
		r->config.frames.enabled = false;
	/* Until the scope is known, frames keep nothing. */
	r->cfg_keep_set = r->config.frames.keep_set;
	r->cfg_n_keep = r->config.frames.n_keep;
	memcpy(r->cfg_keep, r->config.frames.keep, sizeof(r->cfg_keep));
	return 0;
}

static void guard_close(struct recorder *r)
{
	scope_close(r->scope);
	r->scope = NULL;
	indicator_close(r->indicator);
	r->indicator = NULL;
	policy_free(r->policy);
	r->policy = NULL;
}

/* The "safeguards" member of the status. */
static json_t *guard_json(struct recorder *r)
{
	json_t *o = json_object();
	char reason[256] = "";
	int degraded = 1;

	json_object_set_new(o, "scope", json_string(r->out_of_scope ? "out" : "in"));
	json_object_set_new(o, "policy", json_string(r->policy ? policy_sources(r->policy) : ""));
	json_object_set_new(o, "auto_paused", json_string(r->auto_paused == AUTO_PAUSE_LOCK ?
	                    "screen-locked" : r->auto_paused == AUTO_PAUSE_IDLE ? "idle" : "no"));
	if (r->ui != NULL && r->ui->uia != NULL)
		degraded = uia_is_degraded(r->ui->uia, reason, sizeof reason);
	else if (r->ui != NULL)
		util_strlcpy_utf8(reason, r->ui->error, sizeof reason);
	else
		util_strlcpy_utf8(reason, "UI elements are off (--no-elements)", sizeof reason);
	json_object_set_new(o, "password_protection", json_string(degraded ? "degraded" : "full"));
	json_object_set_new(o, "password_protection_reason",
	                    degraded ? json_string(reason[0] ? reason : "no accessibility bus")
	                             : json_null());
	json_object_set_new(o, "indicator", json_integer(r->indicator ?
	                    indicator_window(r->indicator) : 0));
	return o;
}

static void sink_event(void *arg, const struct event *in)
{
	struct recorder *r = arg;
	struct event ev;

	/* Out of scope, the hotkey, password fields (docs/POLICY.md). */
	ev = *in;
	if (!guard_filter(r, &ev))
		return;
	/* While paused nothing is kept: no keys, no motion, no titles. */
	if (r->paused)
		return;
	if (r->writer == NULL) {
		if (r->n_early < EARLY_MAX)
			r->early[r->n_early++] = ev;
		return;
	}
	if (ev.context != 0)
		push_context_if_needed(r);
	push_event(r, &ev);
}

static void sink_context(void *arg, const struct context *ctx)
{
	struct recorder *r = arg;

	r->last_ctx = *ctx;
	r->have_ctx = 1;
	r->ctx_stored = 0;
	guard_on_context(r);
	if (!r->paused)
		push_context_if_needed(r);
}

static void sink_device(void *arg, int32_t id, const char *name, int synthetic)
{
	struct recorder *r = arg;
	char *cause = NULL;

	if (r->store != NULL && r->session != 0 && r->writer == NULL) {
		if (store_device_put(r->store, r->session, id, name, synthetic, &cause) != 0) {
			log_warn("could not store device %d: %s", (int)id, cause);
			free(cause);
		}
		return;
	}
	/*
	 * Devices added while recording (the store belongs to the writer thread then)
	 * and devices seen before the session exists are kept here and stored at the
	 * end, so the session still names every device once.
	 */
	for (size_t i = 0; i < r->n_early_devs; i++) {
		if (r->early_devs[i].id == id) {
			util_strlcpy_utf8(r->early_devs[i].name, name, sizeof r->early_devs[i].name);
			r->early_devs[i].synthetic = synthetic;
			return;
		}
	}
	if (r->n_early_devs < EARLY_DEVICES_MAX) {
		struct early_device *d = &r->early_devs[r->n_early_devs++];
		d->id = id;
		util_strlcpy_utf8(d->name, name, sizeof d->name);
		d->synthetic = synthetic;
	}
}

static void store_early_devices(struct recorder *r)
{
	char *cause = NULL;

	for (size_t i = 0; i < r->n_early_devs; i++) {
		struct early_device *d = &r->early_devs[i];
		if (store_device_put(r->store, r->session, d->id, d->name, d->synthetic, &cause) != 0) {
			log_warn("could not store device %d: %s", (int)d->id, cause);
			free(cause);
			cause = NULL;
		}
	}
	r->n_early_devs = 0;
}

static void push_marker(struct recorder *r, int kind)
{
	struct event ev;

	memset(&ev, 0, sizeof ev);
	ev.t_ns = util_now_mono_ns();
	ev.kind = kind;
	ev.context = r->ctx_stored ? r->last_ctx.seq : 0;
	push_event(r, &ev);
}

static void set_paused(struct recorder *r, int paused, int64_t for_ms)
{
	if (paused) {
		r->pause_until_ns = for_ms > 0 ? util_now_mono_ns() + for_ms * 1000000 : 0;
		if (!r->paused) {
			push_marker(r, EVENT_PAUSE);
			r->paused = 1;
			guard_frames_pause(r);
			log_info("recording paused");
			{
				char details[64];

				snprintf(details, sizeof(details), "{\"for_s\":%lld}",
				         (long long)(for_ms / 1000));
				audit_or_warn(r, "pause", details);
			}
		}
	} else if (r->paused) {
		r->paused = 0;
		r->pause_until_ns = 0;
		guard_frames_pause(r);
		/* The window may have changed while paused: store the current one first. */
		push_context_if_needed(r);
		push_marker(r, EVENT_RESUME);
		log_info("recording resumed");
		audit_or_warn(r, "resume", NULL);
	}
}

/*
 * Stores a task marker (`mimic task start|end`) between the events pushed before
 * it and the next one. Returns NULL, or why the request is refused.
 */
static const char *task_marker(struct recorder *r, const struct ipc_request *req)
{
	struct store_task t;

	if (req->task == IPC_TASK_START && r->task_open)
		return "a task is already running; end it with `mimic task end --success` or "
		       "`--fail` first";
	if (req->task == IPC_TASK_END && !r->task_open)
		return "no task is running; start one with `mimic task start \"DESCRIPTION\"`";
	memset(&t, 0, sizeof t);
	t.t_ns = util_now_mono_ns();
	t.next_event = r->next_event_id;
	t.kind = req->task == IPC_TASK_START ? STORE_TASK_START : STORE_TASK_END;
	t.outcome = req->outcome == IPC_OUTCOME_SUCCESS ? STORE_TASK_SUCCESS
	          : req->outcome == IPC_OUTCOME_FAIL ? STORE_TASK_FAIL : STORE_TASK_NONE;
	util_strlcpy_utf8(t.description, req->description, sizeof t.description);
	writer_push_task(r->writer, &t);
	r->task_open = req->task == IPC_TASK_START;
	log_info("task %s", req->task == IPC_TASK_START ? "started" : "ended");
	return NULL;
}

static json_t *timing_json(const struct frames_timing *t)
{
	return json_pack("{s:f,s:f,s:i}", "median", t->median, "p90", t->p90, "n", (int)t->n);
}

/* The "frames" member of the status: what was stored, and why it stopped if it did. */
static json_t *frames_json(struct recorder *r)
{
	struct frames_stats fs;
	json_t *o = json_object();

	json_object_set_new(o, "enabled", json_boolean(r->config.frames.enabled));
	if (r->frames == NULL) {
		json_object_set_new(o, "stored", json_integer(0));
		json_object_set_new(o, "error", r->frames_error[0] ? json_string(r->frames_error) :
		                    json_null());
		return o;
	}
	frames_get_stats(r->frames, &fs);
	json_object_set_new(o, "stored", json_integer((json_int_t)fs.stored));
	json_object_set_new(o, "encoded", json_integer((json_int_t)fs.encoded));
	json_object_set_new(o, "keys", json_integer((json_int_t)fs.keys));
	json_object_set_new(o, "reused", json_integer((json_int_t)fs.reused));
	json_object_set_new(o, "unchanged", json_integer((json_int_t)fs.unchanged));
	json_object_set_new(o, "bytes", json_integer((json_int_t)fs.bytes));
	json_object_set_new(o, "grabs", json_integer((json_int_t)fs.grabs));
	json_object_set_new(o, "dropped", json_integer((json_int_t)fs.dropped));
	json_object_set_new(o, "error", fs.error ? json_string(fs.error_text) : json_null());
	json_object_set_new(o, "timing_ms", json_pack("{s:o,s:o,s:o,s:o,s:o}",
	                    "grab", timing_json(&fs.grab_ms), "prep", timing_json(&fs.prep_ms),
	                    "encode", timing_json(&fs.encode_ms),
	                    "worker", timing_json(&fs.worker_ms),
	                    "total", timing_json(&fs.total_ms)));
	return o;
}

static char *status_json(struct recorder *r)
{
	struct writer_stats ws;
	json_t *o;
	char *s;

	writer_get_stats(r->writer, &ws);
	o = json_object();
	json_object_set_new(o, "v", json_integer(IPC_VERSION));
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "state", json_string(r->paused ? "paused" : "recording"));
	json_object_set_new(o, "task", json_boolean(r->task_open));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "session", json_integer(r->session));
	json_object_set_new(o, "session_name",
	                    json_string(r->opts->session_name ? r->opts->session_name : ""));
	json_object_set_new(o, "data_dir", json_string(r->data_dir));
	json_object_set_new(o, "events_stored", json_integer((json_int_t)ws.stored));
	json_object_set_new(o, "events_queued",
	                    json_integer((json_int_t)(ws.queued - ws.stored - ws.dropped)));
	json_object_set_new(o, "events_dropped", json_integer((json_int_t)ws.dropped));
	if (r->paused && r->pause_until_ns > 0) {
		int64_t left = (r->pause_until_ns - util_now_mono_ns()) / 1000000;
		json_object_set_new(o, "paused_for_ms", json_integer(left > 0 ? left : 0));
	}
	json_object_set_new(o, "write_error", ws.error ? json_string(ws.error_text) : json_null());
	json_object_set_new(o, "frames", frames_json(r));
	json_object_set_new(o, "safeguards", guard_json(r));
	json_object_set_new(o, "accessibility", elements_json(r, &ws));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static char *simple_reply(int ok, const char *error)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "v", json_integer(IPC_VERSION));
	json_object_set_new(o, "ok", ok ? json_true() : json_false());
	if (error != NULL)
		json_object_set_new(o, "error", json_string(error));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* ------------------------------------------------ forget and retention (docs/PRIVACY.md) */

struct forget_job {
	const char *data_dir;
	struct store_forget spec;
	struct forget_result res;
	char *cause;
	int64_t next_frame_id;
};

/* Runs on the writer thread: nothing else uses the store meanwhile. */
static int forget_job_run(struct store *st, void *arg)
{
	struct forget_job *j = arg;
	int rc = forget_run(st, j->data_dir, &j->spec, &j->res, &j->cause);

	if (store_next_frame_id(st, &j->next_frame_id, NULL) != 0)
		j->next_frame_id = 0;
	return rc;
}

/* The audit details of a deletion: what was asked and how much went; never content. */
static char *forget_details(const char *key, json_t *value, const struct forget_result *res)
{
	json_t *o = json_object();
	char *s;

	if (key != NULL)
		json_object_set_new(o, key, value);
	json_object_set_new(o, "sessions", json_integer(res->rows.sessions));
	json_object_set_new(o, "events", json_integer(res->rows.events));
	json_object_set_new(o, "frames", json_integer(res->rows.frames));
	json_object_set_new(o, "windows", json_integer(res->rows.contexts));
	json_object_set_new(o, "derived", json_integer(res->rows.other));
	json_object_set_new(o, "files", json_integer(res->files));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

static void audit_or_warn(struct recorder *r, const char *what, const char *details)
{
	char *cause = NULL;

	if (audit_append(r->data_dir, what, details, &cause) != 0) {
		log_warn("cannot append to the audit log: %s", cause);
		free(cause);
	}
}

/*
 * `mimic forget` while recording: the frames engine stops (so that no frame in
 * flight names a deleted one), the writer commits what it holds and runs the
 * deletion, then frames start again from a new key frame. The input thread
 * waits meanwhile; X keeps the input that arrives (it gets the later time).
 */
static char *forget_request(struct recorder *r, const struct ipc_request *req)
{
	struct forget_job job;
	json_t *o;
	char *details, *reply;
	int had_frames = r->frames != NULL, rc;

	if (req->forget_session == r->session && !testbreak("forget-recorded-session"))
		return simple_reply(0, "that session is being recorded; stop it first (mimic stop) "
		                    "or use forget --last");
	memset(&job, 0, sizeof(job));
	job.data_dir = r->data_dir;
	job.spec.keep_session = r->session;
	job.spec.from_wall_ns = INT64_MIN;
	job.spec.to_wall_ns = INT64_MAX;
	if (req->forget_last_ms > 0)
		job.spec.from_wall_ns = util_now_wall_ns() - req->forget_last_ms * 1000000;
	else if (req->forget_session > 0)
		job.spec.session = req->forget_session;
	if (r->frames != NULL) {
		frames_stop(r->frames, NULL);
		r->frames = NULL;
	}
	rc = writer_run(r->writer, forget_job_run, &job);
	/* The current window may have been deleted: store it again with the next event. */
	r->ctx_stored = 0;
	if (had_frames) {
		if (job.next_frame_id > 0)
			r->next_frame_id = job.next_frame_id;
		start_frames(r);
		guard_update_keep(r);
		guard_frames_pause(r);
	}
	if (req->forget_last_ms > 0)
		details = forget_details("last_s", json_integer(req->forget_last_ms / 1000), &job.res);
	else if (req->forget_session > 0)
		details = forget_details("session", json_integer(req->forget_session), &job.res);
	else
		details = forget_details("all", json_true(), &job.res);
	if (rc != 0) {
		reply = simple_reply(0, job.cause != NULL ? job.cause : "the deletion failed");
		log_warn("forget failed: %s", job.cause != NULL ? job.cause : strerror(-rc));
	} else {
		audit_or_warn(r, "forget", details);
		o = json_loads(details, 0, NULL);
		json_object_set_new(o, "v", json_integer(IPC_VERSION));
		json_object_set_new(o, "ok", json_true());
		reply = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		log_info("forgot %lld events and %lld frames", (long long)job.res.rows.events,
		         (long long)job.res.rows.frames);
	}
	free(details);
	free(job.cause);
	return reply;
}

/*
 * Encrypts what rows from before encryption hold in the clear, leaving no clear
 * copy behind (store_seal_plain, then compact). Posted on the writer thread at
 * start: a long history is scanned without delaying recording.
 */
static int seal_job_run(struct store *st, void *arg)
{
	int64_t sealed = 0;
	char *why = NULL;

	(void)arg;
	if (store_seal_plain(st, &sealed, &why) != 0 ||
	    (sealed > 0 && store_compact(st, &why) != 0))
		log_warn("cannot encrypt older records: %s", why != NULL ? why : "unknown");
	else if (sealed > 0)
		log_info("encrypted %lld older records", (long long)sealed);
	free(why);
	return 0;
}

struct retention_job {
	const char *data_dir;
	struct forget_limits lim;
	int64_t keep_session;
};

/* Enforces the retention limits and logs what went in the audit log. */
static int retention_apply(struct store *st, const char *data_dir, const struct forget_limits *lim,
                           int64_t keep_session)
{
	struct forget_result res;
	char *cause = NULL, *details;
	int rc;

	rc = forget_retention(st, data_dir, lim, keep_session, &res, &cause);
	if (rc != 0) {
		log_warn("retention: %s", cause != NULL ? cause : strerror(-rc));
		free(cause);
		return rc;
	}
	if (res.rows.events + res.rows.frames + res.rows.sessions + res.rows.contexts +
	    res.rows.other + res.files == 0)
		return 0;
	details = forget_details(NULL, NULL, &res);
	{
		json_t *o = json_loads(details, 0, NULL);

		json_object_set_new(o, "max_age_s", json_integer(lim->max_age_ns / 1000000000));
		json_object_set_new(o, "max_bytes", json_integer(lim->max_bytes));
		json_object_set_new(o, "bytes_before", json_integer(res.bytes_before));
		json_object_set_new(o, "bytes_after", json_integer(res.bytes_after));
		free(details);
		details = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
	}
	if (audit_append(data_dir, "retention", details, &cause) != 0) {
		log_warn("cannot append to the audit log: %s", cause);
		free(cause);
	}
	log_info("retention deleted %lld sessions, %lld events, %lld frames",
	         (long long)res.rows.sessions, (long long)res.rows.events,
	         (long long)res.rows.frames);
	free(details);
	return 0;
}

static int retention_job_run(struct store *st, void *arg)
{
	struct retention_job *j = arg;

	retention_apply(st, j->data_dir, &j->lim, j->keep_session);
	free(j);
	return 0;
}

/* Starts the periodic retention check when due; returns ms until the next one. */
static int retention_tick(struct recorder *r, int64_t now)
{
	const struct config_retention *c = &r->config.retention;
	struct retention_job *j;
	int64_t left;

	if (r->writer == NULL || (c->max_age_ns == 0 && c->max_bytes == 0) ||
	    testbreak("retention-not-while-recording"))
		return -1;
	if (r->next_retention_ns == 0)
		r->next_retention_ns = now + c->interval_ns;
	if (now >= r->next_retention_ns) {
		j = util_xcalloc(1, sizeof(*j));
		j->data_dir = r->data_dir;
		j->lim = (struct forget_limits){ c->max_age_ns, c->max_bytes };
		j->keep_session = r->session;
		/* Off the input thread: the writer runs it between commits. */
		if (writer_post(r->writer, retention_job_run, j) != 0)
			free(j);
		r->next_retention_ns = now + c->interval_ns;
	}
	left = (r->next_retention_ns - now) / 1000000 + 1;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static void handle_control(struct recorder *r)
{
	struct ipc_request req;
	char *cause = NULL;
	char *reply = NULL;
	int cfd = -1;
	int rc;

	rc = ipc_accept(r->ipc_fd, &cfd, &req, &cause);
	if (rc != 0) {
		if (rc != -EAGAIN && rc != -EWOULDBLOCK)
			log_warn("control request refused: %s", cause ? cause : "unknown reason");
		if (cfd >= 0) {
			reply = simple_reply(0, cause ? cause : "bad request");
			ipc_reply(cfd, reply);
		}
		goto out;
	}
	switch (req.cmd) {
	case IPC_CMD_STATUS:
		break;
	case IPC_CMD_STOP:
		r->stop_requested = 1;
		break;
	case IPC_CMD_PAUSE:
		set_paused(r, 1, req.for_ms);
		break;
	case IPC_CMD_RESUME:
		set_paused(r, 0, 0);
		break;
	case IPC_CMD_FORGET:
		reply = forget_request(r, &req);
		ipc_reply(cfd, reply);
		goto out;
	case IPC_CMD_TASK: {
		const char *why = task_marker(r, &req);

		if (why != NULL) {
			reply = simple_reply(0, why);
			ipc_reply(cfd, reply);
			goto out;
		}
		break;
	}
	}
	reply = status_json(r);
	ipc_reply(cfd, reply);
out:
	free(reply);
	free(cause);
}

static int take_lock(struct recorder *r, char **cause)
{
	char *path = util_xasprintf("%s/recorder.lock", r->data_dir);
	int rc = 0;

	r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (r->lock_fd < 0) {
		rc = util_fail(cause, -errno, "cannot create %s: %s; choose another --data-dir",
		               path, strerror(errno));
		goto out;
	}
	if (flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		rc = util_fail(cause, -EBUSY,
		               "another recorder is writing to %s; stop it with `mimic stop` first",
		               r->data_dir);
		goto out;
	}
out:
	free(path);
	return rc;
}

static int open_signals(struct recorder *r, char **cause)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return util_fail(cause, -errno, "cannot block signals: %s", strerror(errno));
	r->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (r->sig_fd < 0)
		return util_fail(cause, -errno, "cannot create a signalfd: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Stores the effective settings and the monitors with the session. */
static void store_session_info(struct recorder *r)
{
	char *config = config_to_json(&r->config);
	char *monitors = NULL, *cause = NULL;

	if (frames_monitors_json(r->opts->display, &monitors, &cause) != 0) {
		log_warn("cannot list the monitors: %s", cause);
		free(cause);
		cause = NULL;
	}
	if (store_session_set_info(r->store, r->session, config, monitors, &cause) != 0) {
		log_warn("cannot store the session's settings: %s", cause);
		free(cause);
	}
	free(config);
	free(monitors);
}

/*
 * Starts the frames engine. Recording goes on without it when it cannot start;
 * the reason shows in the status.
 */
static void start_frames(struct recorder *r)
{
	struct frames_opts fo;
	char *dir, *cause = NULL;

	if (!r->config.frames.enabled)
		return;
	dir = util_xasprintf("%s/frames", r->data_dir);
	memset(&fo, 0, sizeof(fo));
	fo.display = r->opts->display;
	fo.blob_dir = dir;
	fo.cfg = &r->config.frames;
	fo.writer = r->writer;
	fo.first_frame_id = r->next_frame_id;
	fo.vault = r->vault;
	if (frames_start(&fo, &r->frames, &cause) != 0) {
		util_strlcpy_utf8(r->frames_error, cause != NULL ? cause : "cannot take frames",
		                  sizeof(r->frames_error));
		log_error("recording without frames: %s", r->frames_error);
		r->frames = NULL;
	}
	free(cause);
	free(dir);
}

static int begin_session(struct recorder *r, char **cause)
{
	struct store_session s;
	struct capture_info info;
	int rc;

	memset(&s, 0, sizeof s);
	capture_get_info(r->capture, &info);
	if (r->opts->session_name != NULL)
		util_strlcpy_utf8(s.name, r->opts->session_name, sizeof s.name);
	if (gethostname(s.host, sizeof s.host - 1) != 0)
		util_strlcpy_utf8(s.host, "unknown", sizeof s.host);
	s.start_wall_ns = util_now_wall_ns();
	s.start_mono_ns = util_now_mono_ns();
	s.screen_w = info.screen_w;
	s.screen_h = info.screen_h;
	util_strlcpy_utf8(s.keymap, info.keymap, sizeof s.keymap);
	util_strlcpy_utf8(s.version, MIMIC_VERSION, sizeof s.version);
	rc = store_session_begin(r->store, &s, &r->session, cause);
	if (rc != 0)
		return rc;
	store_session_info(r);
	store_early_devices(r);
	rc = store_next_event_id(r->store, &r->next_event_id, cause);
	if (rc != 0)
		return rc;
	rc = store_next_frame_id(r->store, &r->next_frame_id, cause);
	if (rc != 0)
		return rc;
	rc = writer_start(r->store, r->session, 0, &r->writer, cause);
	if (rc != 0)
		return rc;
	push_context_if_needed(r);
	for (size_t i = 0; i < r->n_early; i++)
		push_event(r, &r->early[i]);
	r->n_early = 0;
	writer_post(r->writer, seal_job_run, NULL);
	start_frames(r);
	elements_start(r);
	guard_update_keep(r);
	guard_frames_pause(r);
	if (r->out_of_scope)
		push_bare_marker(r, EVENT_SCOPE_OUT);
	return 0;
}

/* Runs until stopped; returns the enum recorder_end. */
static int loop(struct recorder *r, char **cause)
{
	for (;;) {
		struct pollfd pfd[6];
		int hover, guard;
		int timeout;
		int rc;

		rc = capture_dispatch(r->capture, cause);
		if (rc != 0)
			return RECORDER_END_X_GONE;
		if (r->stop_requested) {
			if (capture_sync(r->capture, cause) != 0)
				return RECORDER_END_X_GONE;
			return RECORDER_END_STOPPED;
		}
		if (r->paused && r->pause_until_ns != 0 && util_now_mono_ns() >= r->pause_until_ns)
			set_paused(r, 0, 0);

		timeout = capture_tick(r->capture, util_now_mono_ns());
		hover = elements_tick(r, util_now_mono_ns());
		if (hover >= 0 && (timeout < 0 || hover < timeout))
			timeout = hover;
		guard = guard_tick(r, util_now_mono_ns());
		if (timeout < 0 || guard < timeout)
			timeout = guard;
		guard = retention_tick(r, util_now_mono_ns());
		if (guard >= 0 && (timeout < 0 || guard < timeout))
			timeout = guard;
		if (r->paused && r->pause_until_ns != 0) {
			int64_t left = (r->pause_until_ns - util_now_mono_ns()) / 1000000 + 1;
			if (timeout < 0 || left < timeout)
				timeout = left > INT_MAX ? INT_MAX : (int)left;
		}
		pfd[0] = (struct pollfd){ .fd = capture_fd(r->capture), .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = r->ipc_fd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = r->sig_fd, .events = POLLIN };
		/* A negative fd is ignored by poll: no uia, no results to wait for. */
		pfd[3] = (struct pollfd){ .fd = r->ui != NULL && r->ui->uia != NULL ?
		                                uia_fd(r->ui->uia) : -1, .events = POLLIN };
		pfd[4] = (struct pollfd){ .fd = r->scope != NULL ? scope_fd(r->scope) : -1,
		                          .events = POLLIN };
		pfd[5] = (struct pollfd){ .fd = r->indicator != NULL ? indicator_fd(r->indicator) : -1,
		                          .events = POLLIN };
		rc = poll(pfd, 6, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			util_fail(cause, -errno, "poll failed: %s", strerror(errno));
			return RECORDER_END_STOPPED;
		}
		if (pfd[0].revents & (POLLERR | POLLHUP)) {
			/* Let capture_dispatch see the error and explain it. */
			if (capture_dispatch(r->capture, cause) != 0)
				return RECORDER_END_X_GONE;
		}
		if (pfd[1].revents & POLLIN)
			handle_control(r);
		if (pfd[3].revents & POLLIN)
			elements_take(r);
		/* Every turn: xcb may hold events it read while waiting for a reply. */
		if (guard_dispatch(r) != 0) {
			util_fail(cause, -EPIPE, "lost the X server");
			return RECORDER_END_X_GONE;
		}
		guard_check_secret(r);
		if (pfd[2].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(r->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
				log_info("signal %u: closing the session", si.ssi_signo);
				r->stop_requested = 1;
			}
		}
	}
}

/*
 * The background OCR scan of stored frames runs in a child process,
 * `mimic-data scan-worker`, at idle priority: Tesseract and its libraries stay
 * out of the recorder (about 30 MB), and a crash while reading pixels cannot end
 * a recording. Returns the child's pid, or 0 when it could not start (frames
 * are then scanned at export, as always). The child reads the same policy, and
 * scans with the organisation's redaction rules ([redaction] rules) as the
 * export does; a frame scanned with other rules is scanned again at export.
 */
static pid_t scanner_start(const char *data_dir, int64_t session, const char *policy_path)
{
	char *exe = NULL, *why = NULL, sess[32];
	pid_t pid;

	if (util_sibling_exe("mimic-data", &exe, &why) != 0) {
		log_warn("frames are scanned at export only: %s", why ? why : "");
		free(why);
		return 0;
	}
	snprintf(sess, sizeof(sess), "%lld", (long long)session);
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		/* The recorder's descriptors (database, X, sockets) are not the scanner's. */
		close_range(3, ~0U, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (policy_path != NULL)
			execl(exe, exe, "scan-worker", "--data-dir", data_dir, "--session", sess,
			      "--policy", policy_path, (char *)NULL);
		else
			execl(exe, exe, "scan-worker", "--data-dir", data_dir, "--session", sess,
			      (char *)NULL);
		_exit(127);
	}
	if (pid < 0) {
		log_warn("frames are scanned at export only: cannot start the scanner: %s",
		         strerror(errno));
		pid = 0;
	}
	free(exe);
	return pid;
}

/* Stops the scanner child (it finishes within one word of OCR), then reaps it. */
static void scanner_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int recorder_run(const struct recorder_opts *opts, int64_t *session_id, char **cause)
{
	struct recorder *r = util_xcalloc(1, sizeof *r);
	struct capture_sink sink = { sink_event, sink_context, sink_device };
	struct writer_stats ws;
	const char *reason;
	int end = RECORDER_END_STOPPED;
	char *end_cause = NULL;
	int rc;

	r->opts = opts;
	r->lock_fd = r->ipc_fd = r->sig_fd = -1;

	/* A bad settings file is refused before anything else happens. */
	rc = config_load(opts->config_path, &r->config, cause);
	if (rc != 0)
		goto fail;
	/* So is a policy that cannot be read: nothing is recorded on a guess. */
	rc = policy_load(opts->policy_path, &r->policy, cause);
	if (rc != 0)
		goto fail;
	if (opts->no_frames)
		r->config.frames.enabled = false;

	rc = paths_data_dir(opts->data_dir, &r->data_dir, cause);
	if (rc != 0)
		goto fail;
	rc = paths_ensure_dir(r->data_dir, cause);
	if (rc != 0)
		goto fail;
	rc = paths_control_socket(1, &r->socket_path, cause);
	if (rc != 0)
		goto fail;
	rc = ipc_listen(r->socket_path, &r->ipc_fd, cause);
	if (rc == -EADDRINUSE) {
		free(*cause);
		*cause = NULL;
		rc = util_fail(cause, rc, "a recorder is already running (control socket %s); "
		               "stop it with `mimic stop` first", r->socket_path);
	}
	if (rc != 0)
		goto fail;
	rc = take_lock(r, cause);
	if (rc != 0)
		goto fail;
	rc = store_open(r->data_dir, 0, &r->store, cause);
	if (rc != 0)
		goto fail;
	rc = store_recover(r->store, NULL, cause);
	if (rc != 0)
		goto fail;
	/* Nothing is recorded that cannot be encrypted: a missing or wrong key stops here. */
	rc = store_vault(r->store, &r->vault, cause);
	if (rc != 0)
		goto fail;
	/* Retention first: data past its limits never outlives a new start. */
	if (r->config.retention.max_age_ns > 0 || r->config.retention.max_bytes > 0) {
		struct forget_limits lim = { r->config.retention.max_age_ns,
		                             r->config.retention.max_bytes };

		retention_apply(r->store, r->data_dir, &lim, 0);
	}
	rc = open_signals(r, cause);
	if (rc != 0)
		goto fail;
	rc = capture_open(opts->display, &sink, r, &r->capture, cause);
	if (rc != 0)
		goto fail;
	/* No recording without the person's agreement to the current notice. */
	rc = consent_check(r->store, r->policy, cause);
	if (rc != 0)
		goto fail;
	rc = guard_open(r, cause);
	if (rc != 0)
		goto fail;
	rc = begin_session(r, cause);
	if (rc != 0)
		goto fail;
	/*
	 * Stored frames may be scanned for redaction in a child process (see
	 * scanner_start). Off by default: every export scans what is still unscanned
	 * before it writes anything, and the scan costs a core's idle time.
	 */
	if (r->frames != NULL && r->config.frames.scan)
		r->scanner = scanner_start(r->data_dir, r->session, r->opts->policy_path);

	if (!opts->quiet) {
		printf("mimic: recording session %lld into %s (stop with `mimic stop` or Ctrl-C)\n",
		       (long long)r->session, r->data_dir);
		fflush(stdout);
	}
	log_info("recording session %lld", (long long)r->session);
	guard_notify();

	end = loop(r, &end_cause);

	scanner_stop(r->scanner);
	r->scanner = 0;
	/* UI elements still being looked up get a moment to reach the writer. */
	elements_stop(r);
	/* The frames engine hands its last records to the writer before the writer stops. */
	if (r->frames != NULL) {
		frames_stop(r->frames, NULL);
		r->frames = NULL;
	}
	/* Close: everything queued is committed before the session is marked ended. */
	writer_sync(r->writer, NULL);
	writer_get_stats(r->writer, &ws);
	rc = writer_stop(r->writer, end == RECORDER_END_STOPPED ? &end_cause : NULL);
	r->writer = NULL;
	if (rc != 0 && end == RECORDER_END_STOPPED)
		end = RECORDER_END_WRITE_FAILED;
	store_early_devices(r);
	reason = end == RECORDER_END_X_GONE ? "x-server-gone"
	       : end == RECORDER_END_WRITE_FAILED ? "write-failed" : "stopped";
	if (store_session_end(r->store, r->session, util_now_wall_ns(), reason, NULL) != 0 &&
	    end == RECORDER_END_STOPPED)
		end = RECORDER_END_WRITE_FAILED;
	if (session_id != NULL)
		*session_id = r->session;
	if (!opts->quiet) {
		printf("mimic: session %lld closed (%s): %llu events stored, %llu dropped\n",
		       (long long)r->session, reason, (unsigned long long)ws.stored,
		       (unsigned long long)ws.dropped);
		fflush(stdout);
	}
	if (end != RECORDER_END_STOPPED && end_cause != NULL) {
		*cause = end_cause;
		end_cause = NULL;
	}
	rc = end;
	goto done;

fail:
	scanner_stop(r->scanner);
	r->scanner = 0;
	elements_stop(r);
	if (r->frames != NULL) {
		frames_stop(r->frames, NULL);
		r->frames = NULL;
	}
	if (r->writer != NULL) {
		writer_stop(r->writer, NULL);
		r->writer = NULL;
	}
done:
	free(end_cause);
	capture_close(r->capture);
	guard_close(r);
	store_close(r->store);
	if (r->ipc_fd >= 0) {
		close(r->ipc_fd);
		/* Only the recorder that owns the socket removes it. */
		if (rc != -EADDRINUSE && r->socket_path != NULL)
			unlink(r->socket_path);
	}
	if (r->sig_fd >= 0)
		close(r->sig_fd);
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	free(r->socket_path);
	free(r->data_dir);
	free(r);
	return rc;
}
