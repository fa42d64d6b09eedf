/*
 * recorder_elements: the UI elements of a recording (docs/ELEMENTS.md). The input
 * thread tells uia where the pointer rests, each button press, the first key of
 * each typing run and each shortcut, without waiting; uia's answers come back
 * through its descriptor, which the main loop polls, and go to the writer.
 */
#include "recorder_int.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "testbreak.h"
#include "uia.h"
#include "util.h"
#define UIA_TAKE_MAX 16           /* results taken from uia at a time */
#define HOVER_REST_NS (40 * INT64_C(1000000)) /* still this long: the pointer rests */
#define TYPE_GAP_NS (1000 * INT64_C(1000000))  /* a pause this long ends a typing run (the
                                                  reducer's type_gap_ms default) */
#define CHORD_MODS (4u | 8u | 64u) /* Control, Mod1 (Alt), Mod4 (Super): a shortcut */
#define CHORDS_MAX 8              /* shortcuts waiting for their element */
#define STOP_WAIT_NS (600 * INT64_C(1000000)) /* at the end, wait this long for lookups */
#define SELECT_OPEN_NS (60 * INT64_C(1000000000)) /* a web select's popup is chosen from
                                                     within this long of its press */

struct recorder_elements {
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
	/* The newest press on a select of a web page (a combo box with a URL): Firefox
	 * shows its options in a dropdown of its own, outside the page, so an option
	 * pressed there takes the select's page and path from it. */
	struct {
		int64_t t_ns;             /* 0: none */
		int32_t pid;
		char url[STORE_EL_URL_MAX];
		char label[STORE_EL_NAME_MAX];
	} select;
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
void recorder_elements_on_event(struct recorder *r, const struct event *ev)
{
	struct recorder_elements *ui = r->ui;
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
		uia_press_at(ui->uia, ev->id, ev->x, ev->y, ev->t_ns, ev->server_ms);
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
int recorder_elements_tick(struct recorder *r, int64_t now)
{
	struct recorder_elements *ui = r->ui;
	int64_t due;

	if (ui == NULL || ui->uia == NULL || ui->ptr_moved_ns == 0 ||
	    guard_paused(r->guard))
		return -1;
	due = ui->ptr_moved_ns + HOVER_REST_NS;
	if (now >= due) {
		uia_hover_at(ui->uia, ui->ptr_x, ui->ptr_y, now);
		ui->ptr_moved_ns = 0;
		return -1;
	}
	return (int)((due - now) / 1000000) + 1;
}

/*
 * A press on a web page's select is remembered; a press on a menu item in a popup
 * of the same browser soon after, read without a page, is that select's option
 * (Firefox's dropdown is the browser's, outside the document): it carries the
 * select's URL, and the path "label > option" as Chromium's options have it.
 */
static void web_select_option(struct recorder_elements *ui, const struct uia_element *u,
                              struct store_element *e)
{
	if (u->kind != UIA_KIND_PRESS || u->status != UIA_OK)
		return;
	if (strcmp(u->role, "combo box") == 0 && u->url[0] != '\0') {
		ui->select.t_ns = u->t_ns;
		ui->select.pid = u->pid;
		util_strlcpy_utf8(ui->select.url, u->url, sizeof ui->select.url);
		util_strlcpy_utf8(ui->select.label, u->label[0] != '\0' ? u->label : u->name,
		                  sizeof ui->select.label);
		return;
	}
	if (ui->select.t_ns == 0 || u->url[0] != '\0' || !u->popup ||
	    strcmp(u->role, "menu item") != 0 || u->pid != ui->select.pid ||
	    u->t_ns < ui->select.t_ns || u->t_ns - ui->select.t_ns > SELECT_OPEN_NS ||
	    testbreak("web-option-pageless"))
		return;
	util_strlcpy_utf8(e->url, ui->select.url, sizeof e->url);
	if (ui->select.label[0] != '\0' && u->name[0] != '\0' &&
	    (u->menu_path[0] == '\0' || strcmp(u->menu_path, u->name) == 0))
		snprintf(e->menu_path, sizeof e->menu_path, "%s > %s", ui->select.label, u->name);
	/* One choice per opening of the select. */
	ui->select.t_ns = 0;
}

static void element_to_store(struct recorder_elements *ui, const struct uia_element *u,
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
	util_strlcpy_utf8(e->target, u->target, sizeof e->target);
	web_select_option(ui, u, e);
}

int recorder_elements_fd(const struct recorder *r)
{
	return r->ui != NULL && r->ui->uia != NULL ? uia_fd(r->ui->uia) : -1;
}

/* Moves uia's answers to the writer (no disk I/O here). */
void recorder_elements_take(struct recorder *r)
{
	struct recorder_elements *ui = r->ui;
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
void recorder_elements_start(struct recorder *r)
{
	struct recorder_elements *ui;
	char *cause = NULL;

	if (r->opts->no_elements) {
		guard_set_uia(r->guard, NULL, "UI elements are off (--no-elements)");
		return;
	}
	ui = r->ui = util_xcalloc(1, sizeof *ui);
	if (uia_start(&ui->uia, &cause) != 0) {
		util_strlcpy_utf8(ui->error, cause != NULL ? cause : "cannot start",
		                  sizeof ui->error);
		log_warn("recording without UI elements: %s", ui->error);
		ui->uia = NULL;
		free(cause);
		guard_set_uia(r->guard, NULL, ui->error);
		return;
	}
	guard_set_uia(r->guard, ui->uia, NULL);
	if (uia_attach_x(ui->uia, r->opts->display, &cause) != 0) {
		/* Presses are then looked up without X's view of the window under the pointer. */
		log_warn("UI elements without a pointer thread: %s", cause);
		free(cause);
	}
}

/* Waits a little for the answers still due, hands them on, and stops uia. */
void recorder_elements_stop(struct recorder *r)
{
	struct recorder_elements *ui = r->ui;
	int64_t deadline = util_now_mono_ns() + STOP_WAIT_NS;

	if (ui == NULL)
		return;
	if (ui->uia != NULL) {
		while (r->writer != NULL && ui->results < ui->requests &&
		       util_now_mono_ns() < deadline) {
			struct pollfd p = { .fd = uia_fd(ui->uia), .events = POLLIN };

			if (poll(&p, 1, 50) > 0)
				recorder_elements_take(r);
		}
		recorder_elements_take(r);
		/* The safeguards ask uia about password fields: not any more. */
		guard_set_uia(r->guard, NULL, ui->error);
		uia_stop(ui->uia);
	}
	free(ui);
	r->ui = NULL;
}

/* The "accessibility" member of the status: UI elements ok, degraded (why) or off. */
json_t *recorder_elements_json(const struct recorder *r, const struct writer_stats *ws)
{
	struct recorder_elements *ui = r->ui;
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
		json_object_set_new(o, "lookups", json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		                    "hovers", (json_int_t)us.hovers_resolved,
		                    "presses", (json_int_t)us.presses,
		                    "typing", (json_int_t)us.typings,
		                    "ok", (json_int_t)us.ok,
		                    "no_element", (json_int_t)us.no_element,
		                    "mismatch", (json_int_t)us.mismatch,
		                    "timeout", (json_int_t)us.timeout,
		                    "dropped", (json_int_t)(us.dropped + us.results_lost),
		                    "maps", (json_int_t)us.maps,
		                    "popup_maps", (json_int_t)us.popup_maps));
	}
	return o;
}

