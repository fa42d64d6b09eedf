/*
 * guard: the safeguards of a running recorder (docs/POLICY.md, docs/PRIVACY.md):
 * scope, password fields, key text, the indicator and its pause hotkey, pauses
 * (by request, the screen lock and idle time), retention and forget while
 * recording. See guard.h; everything here runs on the input thread, except the
 * deletion jobs, which the writer runs on its own.
 */
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "consent.h"
#include "fleet_device.h"
#include "forget.h"
#include "indicator.h"
#include "log.h"
#include "policy.h"
#include "scope.h"
#include "testbreak.h"
#include "util.h"

enum { AUTO_PAUSE_LOCK = 1, AUTO_PAUSE_IDLE = 2, AUTO_PAUSE_CONSENT = 3 };

/* The files a policy comes from, watched while recording (guard_policy_tick). */
enum { WATCH_SYSTEM, WATCH_USER, WATCH_SIGNED, WATCH_ENROLMENT, WATCH_NOTICE, WATCH_N };

/* What tells that a file changed: gone, or another inode, size, mtime or ctime. */
struct file_id {
	int exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};

/* A policy load (or a consent check) run on the writer's thread. */
struct policy_job {
	char *policy_path;       /* --policy, or NULL */
	char *data_dir;
	const struct policy *check; /* consent only, for this policy (in force, not freed meanwhile) */
	struct policy *loaded;   /* the new policy, NULL when it did not load */
	uint64_t serial;
	int rc;
	char *cause;
	int consent_rc;          /* consent_check of the policy: 0 agreed */
	atomic_int done;         /* set (release) by the writer thread once the fields above are */
};

#define GUARD_TICK_MS 1000        /* how often the screen lock and idle time are checked */

/* What a held event waits for. */
struct held_mark {
	uint64_t seq;            /* the page read that answers for it */
	int was_out;             /* input held while the page known before it was out of scope */
};

struct guard {
	struct guard_hooks hooks;
	const char *data_dir;    /* where the audit log is (borrowed) */
	struct policy *policy;
	struct scope *scope;     /* the visible in-scope area, on its own X connection */
	struct indicator *indicator;
	struct frames *frames;   /* the frames engine, NULL while there is none (borrowed) */
	struct uia *uia;         /* UI elements, NULL without them (borrowed) */
	char uia_none[256];      /* why there are no UI elements */

	/* The focused window. */
	struct context ctx;
	int have_ctx;
	int title_prompt;       /* ctx.title looks like a password prompt (judged once per context) */

	int paused;
	int64_t pause_until_ns;  /* 0: until resumed */
	int64_t resumed_ns;      /* when recording last resumed: input from before is dropped */
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

	struct config_retention retention;
	int64_t next_retention_ns; /* when retention is checked next (CLOCK_MONOTONIC) */

	/* The policy in force and its files, watched for a new one (guard_policy_tick). */
	char *policy_path;       /* --policy, or NULL */
	char *watch_path[WATCH_N]; /* NULL: not watched */
	struct file_id watch_id[WATCH_N];
	int watch_moved;         /* a file changed at the last look: load once it holds still */
	int64_t next_look_ns;
	struct policy_job *job;  /* posted to the writer, NULL: none */
	uint64_t serial;         /* the collector policy's serial in force, 0: none */
	int64_t applied_wall_ns; /* when the policy in force was applied */
	uint64_t generation;     /* policies applied while recording */
	char policy_error[512];  /* why the last new policy was not applied, "" none */
	int consent_needed;      /* the notice in force awaits the person's consent */
	int consent_paused;      /* recording was paused for it: it resumes with the consent */

	/* The focused browser window's page (uia_page), and the input held until it is known. */
	int web;                 /* the focused window is a browser, judged by its page */
	uint64_t web_pending;    /* the page read awaited (uia_page_check's seq), 0: none */
	uint64_t web_gen;        /* the newest page read seen */
	struct uia_page page;    /* the newest read of the focused window */
	int64_t hold_since_ns;   /* when the oldest held event came */
	struct event *held;      /* GUARD_HOLD_MAX events, oldest first */
	struct held_mark *held_mark; /* for each, what it waits for */
	size_t n_held;
	uint64_t held_dropped;   /* held events dropped: out of scope, too many or too late */
};

static void policy_job_free(struct policy_job *j)
{
	free(j->policy_path);
	free(j->data_dir);
	policy_free(j->loaded);
	free(j->cause);
	free(j);
}

int guard_new(const char *policy_path, const char *data_dir, const struct guard_hooks *hooks,
              struct guard **out, char **cause)
{
	struct guard *g = util_xcalloc(1, sizeof *g);
	int rc;

	g->hooks = *hooks;
	g->held = util_xcalloc(GUARD_HOLD_MAX, sizeof *g->held);
	g->held_mark = util_xcalloc(GUARD_HOLD_MAX, sizeof *g->held_mark);
	/* The local files, and the collector's signed policy when the machine is enrolled. */
	rc = policy_load_effective(policy_path, data_dir, &g->policy, &g->serial, cause);
	if (rc != 0)
		goto fail;
	g->applied_wall_ns = util_now_wall_ns();
	g->policy_path = policy_path != NULL ? util_xstrdup(policy_path) : NULL;
	*out = g;
	return 0;
fail:
	free(g->held);
	free(g->held_mark);
	free(g);
	*out = NULL;
	return rc;
}

void guard_free(struct guard *g)
{
	if (g == NULL)
		return;
	scope_close(g->scope);
	indicator_close(g->indicator);
	/* The writer has stopped by now, so a job posted to it has run. */
	if (g->job != NULL && atomic_load_explicit(&g->job->done, memory_order_acquire))
		policy_job_free(g->job);
	policy_free(g->policy);
	free(g->policy_path);
	for (int i = 0; i < WATCH_N; i++)
		free(g->watch_path[i]);
	free(g->held);
	free(g->held_mark);
	free(g);
}

int guard_check_consent(struct guard *g, struct store *st, char **cause)
{
	return consent_check(st, g->policy, cause);
}

static void audit_or_warn(struct guard *g, const char *what, const char *details)
{
	char *cause = NULL;

	if (audit_append(g->data_dir, what, details, &cause) != 0) {
		log_warn("cannot append to the audit log: %s", cause);
		free(cause);
	}
}

/* A marker that names no window: only that recording was suspended or resumed. */
static void push_bare_marker(struct guard *g, int kind)
{
	struct event ev;

	memset(&ev, 0, sizeof ev);
	ev.t_ns = util_now_mono_ns();
	ev.kind = kind;
	g->hooks.push_event(g->hooks.arg, &ev);
}

/* A pause or resume marker at t_ns, in the focused window's context once it is stored. */
static void push_marker(struct guard *g, int kind, int64_t t_ns)
{
	struct event ev;

	memset(&ev, 0, sizeof ev);
	ev.t_ns = t_ns;
	ev.kind = kind;
	ev.context = g->hooks.stored_context(g->hooks.arg);
	g->hooks.push_event(g->hooks.arg, &ev);
}

/*
 * Frames pause while paused or out of scope. A pause is always passed on (a
 * frames engine started again after a forget starts unpaused); a resume only
 * after a pause, since each resume makes the engine grab the screen anew.
 */
static void frames_pause(struct guard *g)
{
	if (g->frames == NULL)
		return;
	/* A policy applied while recording may forbid screenshots: frames stay paused then. */
	if (g->paused || g->out_of_scope ||
	    (g->policy != NULL && !policy_screenshots(g->policy))) {
		frames_set_paused(g->frames, true);
		g->frames_paused = 1;
	} else if (g->frames_paused) {
		frames_set_paused(g->frames, false);
		g->frames_paused = 0;
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
static void update_keep(struct guard *g)
{
	struct image_rect keep[FRAMES_KEEP_MAX];
	size_t n;

	if (g->frames == NULL || g->scope == NULL)
		return;
	n = scope_keep_rects(g->scope, keep, FRAMES_KEEP_MAX);
	if (testbreak("out-of-scope-windows-unmasked")) {
		keep[0] = (struct image_rect){0, 0, 32767, 32767};
		n = 1;
	}
	if (g->secret && g->secret_hole.w > 0 && g->secret_hole.h > 0 &&
	    !testbreak("password-field-unmasked"))
		n = scope_subtract(keep, n, FRAMES_KEEP_MAX, &g->secret_hole);
	if (g->cfg_keep_set) {
		/* Keep only what both the settings and the scope keep. */
		struct image_rect both[FRAMES_KEEP_MAX];
		size_t m = 0;

		for (size_t i = 0; i < n; i++) {
			for (size_t j = 0; j < g->cfg_n_keep && m < FRAMES_KEEP_MAX; j++) {
				struct image_rect a = keep[i], b = g->cfg_keep[j];
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
	frames_set_keep(g->frames, keep, n);
}

void guard_set_frames(struct guard *g, struct frames *f)
{
	g->frames = f;
	update_keep(g);
	frames_pause(g);
}

void guard_begin_session(struct guard *g, struct frames *f)
{
	guard_set_frames(g, f);
	if (g->out_of_scope)
		push_bare_marker(g, EVENT_SCOPE_OUT);
}

void guard_set_uia(struct guard *g, struct uia *uia, const char *why_none)
{
	g->uia = uia;
	util_strlcpy_utf8(g->uia_none, why_none != NULL ? why_none : "", sizeof g->uia_none);
}

/* Judges the focused window (g->ctx) against the policy. */
static int ctx_in_scope(struct guard *g)
{
	struct policy_window w;

	if (g->policy == NULL)
		return 1;
	if (!g->have_ctx || g->ctx.window == 0)
		return 0;
	w = (struct policy_window){ g->ctx.wm_instance, g->ctx.wm_class,
	                            g->ctx.exe, g->ctx.title,
	                            g->ctx.url[0] != '\0' ? g->ctx.url : NULL };
	/* A private window of a browser (its accessible frame name says so) records nothing. */
	if (g->web && g->page.private_window && g->page.window == g->ctx.window) {
		g->verdict = POLICY_OUT_PRIVATE;
		return 0;
	}
	g->verdict = (int)policy_check(g->policy, &w);
	return g->verdict == POLICY_IN;
}

/* Follows the focused window in or out of scope, with a marker at each change. */
static void judge_focus(struct guard *g)
{
	int in = ctx_in_scope(g);

	if (!in && !g->out_of_scope) {
		g->out_of_scope = 1;
		if (!g->paused)
			push_bare_marker(g, EVENT_SCOPE_OUT);
		frames_pause(g);
		log_info("recording suspended: the focused window is out of scope");
	} else if (in && g->out_of_scope) {
		g->out_of_scope = 0;
		if (!g->paused)
			push_bare_marker(g, EVENT_SCOPE_IN);
		frames_pause(g);
		log_info("recording resumed: the focused window is in scope");
	}
}

/* The focused browser window's geometry, for uia to find its frame. */
static void web_ask(struct guard *g)
{
	struct uia_window_hint h = { g->ctx.window, g->ctx.pid, g->ctx.x, g->ctx.y,
	                             g->ctx.w, g->ctx.h, 0 };

	if (g->web_pending == 0 && g->n_held == 0)
		g->hold_since_ns = util_now_mono_ns();
	g->web_pending = uia_page_check(g->uia, &h);
}

/* Tells the scope (pixels) what the focused browser window shows. */
static void web_scope(struct guard *g)
{
	struct image_rect doc = { g->page.x, g->page.y, (uint32_t)g->page.w, (uint32_t)g->page.h };
	int same = g->web && g->page.window == g->ctx.window;

	if (g->scope == NULL)
		return;
	if (scope_set_page(g->scope, g->web ? g->ctx.window : 0, g->ctx.url,
	                   same && g->page.private_window, same ? &doc : NULL) > 0)
		update_keep(g);
}

void guard_on_context(struct guard *g, const struct context *ctx)
{
	g->ctx = *ctx;
	g->have_ctx = 1;
	/* The title changes only with the context: one regex match here, not one per event. */
	g->title_prompt = policy_looks_like_password_prompt(ctx->title);
	g->web = g->uia != NULL && g->policy != NULL &&
	         policy_is_browser(g->policy, ctx->wm_instance, ctx->wm_class);
	g->ctx.url[0] = '\0';
	if (g->web) {
		/* The same window's page stands until the browser answers; another's is unknown. */
		if (g->page.window == ctx->window && g->page.status == UIA_OK)
			util_strlcpy_utf8(g->ctx.url, g->page.url, sizeof g->ctx.url);
		web_ask(g);
	}
	web_scope(g);
	g->key_text = g->policy == NULL ||
	              policy_key_text(g->policy, g->ctx.wm_instance, g->ctx.wm_class);
	g->secret_marked = 0;
	judge_focus(g);
}

/*
 * Whether the focused element is a password field: AT-SPI when it answers for
 * the focused window's application, and always the title heuristic. Updates the
 * masked hole and tells the frames engine when it changed.
 */
static void check_secret(struct guard *g)
{
	struct image_rect hole = {0, 0, 0, 0};
	int secret = 0;

	if (g->uia != NULL && g->have_ctx) {
		struct uia_focus f;

		if (uia_focused(g->uia, &f) && f.known &&
		    (f.pid == 0 || g->ctx.pid == 0 || f.pid == g->ctx.pid)) {
			secret = 1;
			if (f.w > 0 && f.h > 0)
				hole = (struct image_rect){f.x, f.y, (uint32_t)f.w, (uint32_t)f.h};
			else
				hole = (struct image_rect){g->ctx.x, g->ctx.y,
				                          (uint32_t)g->ctx.w, (uint32_t)g->ctx.h};
		}
	}
	if (!secret && g->have_ctx && g->title_prompt) {
		secret = 1;
		hole = (struct image_rect){g->ctx.x, g->ctx.y, (uint32_t)g->ctx.w,
		                          (uint32_t)g->ctx.h};
	}
	if (secret != g->secret || !rect_eq(&hole, &g->secret_hole)) {
		g->secret = secret;
		g->secret_hole = hole;
		if (!secret)
			g->secret_marked = 0;
		update_keep(g);
	}
}

static int is_input_kind(int kind)
{
	return kind == EVENT_KEY_PRESS || kind == EVENT_KEY_RELEASE || kind == EVENT_BUTTON_PRESS ||
	       kind == EVENT_BUTTON_RELEASE || kind == EVENT_MOTION || kind == EVENT_SCROLL;
}

static void set_paused_at(struct guard *g, int paused, int64_t for_ms, int64_t t_ns);
static void watch_start(struct guard *g, const char *data_dir);

/*
 * The pause hotkey's own key is never stored, whatever the state: its press with
 * the modifiers, and its release (the modifiers may be up by then). Returns 1
 * when ev is one of them.
 *
 * Its press pauses or resumes right here, in input order, at the time the key
 * went down: the events after it in the server's order are judged in the new
 * state, however late any of them is read (the indicator's grab only keeps the
 * key from the application). The modifiers must be exactly the hotkey's, Lock
 * and NumLock aside, as for the grab; a held key's repeats toggle nothing.
 */
static int is_hotkey(struct guard *g, const struct event *ev)
{
	const uint32_t lock_mods = 2 | 16; /* Lock, Mod2 (NumLock) */

	if (g->hotkey_keycode == 0 || (uint32_t)ev->detail != g->hotkey_keycode)
		return 0;
	if (ev->kind == EVENT_KEY_PRESS && (ev->mods & g->hotkey_mods) == g->hotkey_mods) {
		if (!g->hotkey_held && (ev->mods & ~lock_mods) == g->hotkey_mods &&
		    !testbreak("hotkey-toggles-when-read")) {
			g->auto_paused = 0;
			set_paused_at(g, !g->paused, 0, ev->t_ns);
		}
		g->hotkey_held = 1;
		return 1;
	}
	if (ev->kind == EVENT_KEY_RELEASE && g->hotkey_held) {
		g->hotkey_held = 0;
		return 1;
	}
	return 0;
}

/*
 * A key typed into a password field: one marker for the run; no key, keysym,
 * text or count.
 */
static void mark_secret(struct guard *g, const struct event *ev)
{
	struct event m;

	if (ev->kind != EVENT_KEY_PRESS || g->secret_marked)
		return;
	memset(&m, 0, sizeof m);
	m.t_ns = ev->t_ns;
	m.kind = EVENT_SECRET_INPUT;
	m.context = ev->context;
	g->hooks.push_context(g->hooks.arg);
	if (g->hooks.push_event(g->hooks.arg, &m) == 0)
		g->secret_marked = 1;
}

/*
 * Keystroke text off for the focused application: that a key was typed, not
 * which. Blanks a key press with text and the release of a blanked press.
 */
static void blank_key(struct guard *g, struct event *ev)
{
	uint8_t bit;
	int i;

	if (ev->detail < 0 || ev->detail >= 256)
		return;
	bit = (uint8_t)(1u << (ev->detail & 7));
	i = ev->detail >> 3;
	if (ev->kind == EVENT_KEY_PRESS && !g->key_text && ev->text[0] != '\0') {
		g->blanked[i] |= bit;
	} else if (ev->kind == EVENT_KEY_PRESS) {
		g->blanked[i] &= (uint8_t)~bit;
		return;
	} else if (!(g->blanked[i] & bit)) {
		return;
	} else {
		g->blanked[i] &= (uint8_t)~bit; /* the release of a blanked press */
	}
	ev->text[0] = '\0';
	ev->keysym[0] = '\0';
	ev->detail = 0;
}

/* What guard_filter decides once scope and pause have passed the event. */
static int filter_rest(struct guard *g, struct event *ev)
{
	int key = ev->kind == EVENT_KEY_PRESS || ev->kind == EVENT_KEY_RELEASE;

	if (g->scope != NULL && (ev->kind == EVENT_BUTTON_PRESS || ev->kind == EVENT_BUTTON_RELEASE ||
	                         ev->kind == EVENT_MOTION || ev->kind == EVENT_SCROLL) &&
	    !scope_point_kept(g->scope, ev->x, ev->y))
		return 0;
	if (ev->kind == EVENT_BUTTON_PRESS || ev->kind == EVENT_FOCUS)
		g->secret_marked = 0;
	if (!key)
		return 1;
	if (ev->kind == EVENT_KEY_PRESS)
		check_secret(g);
	if (g->secret) {
		mark_secret(g, ev);
		return 0;
	}
	blank_key(g, ev);
	return 1;
}

/* Holds ev until the browser says which page it is on; pointer motion is not kept. */
static void hold(struct guard *g, const struct event *ev)
{
	if (ev->kind == EVENT_MOTION)
		return;
	if (g->n_held == GUARD_HOLD_MAX) {
		g->held_dropped++;
		return;
	}
	if (g->n_held == 0)
		g->hold_since_ns = util_now_mono_ns();
	g->held_mark[g->n_held].seq = g->web_pending;
	/* Input judged by the page before it too (see release_held). */
	g->held_mark[g->n_held].was_out = g->out_of_scope && is_input_kind(ev->kind);
	g->held[g->n_held++] = *ev;
}

/*
 * The page is known as of read seq: the held events that read answers for (the
 * oldest ones) are stored if it is in scope, else dropped; later ones wait for
 * their own read, so that steady typing is released as it goes. Input held while
 * the page known before it was out of scope is dropped whatever the read says: a
 * read that came late (a slow or timed-out browser) may show a page the person
 * went to after that input (typed on an outside page, then Back to an allowed
 * one), and the input the browser handled first was on the page it knew then.
 */
static void release_held(struct guard *g, uint64_t seq)
{
	size_t i = 0;

	for (; i < g->n_held && g->held_mark[i].seq <= seq; i++) {
		struct event ev = g->held[i];

		if (g->paused || g->out_of_scope || g->held_mark[i].was_out || !filter_rest(g, &ev)) {
			g->held_dropped++;
			continue;
		}
		g->hooks.release_event(g->hooks.arg, &ev);
	}
	if (i > 0) {
		memmove(&g->held[0], &g->held[i], (g->n_held - i) * sizeof g->held[0]);
		memmove(&g->held_mark[0], &g->held_mark[i], (g->n_held - i) * sizeof g->held_mark[0]);
		g->n_held -= i;
		g->hold_since_ns = util_now_mono_ns();
	}
}

/*
 * Takes the browser's newest page read: the focused window's URL, private state
 * and document area, judged again; then the held input, once its read came (or
 * dropped after GUARD_HOLD_MS).
 */
static void web_poll(struct guard *g)
{
	struct uia_page pg;
	uint64_t gen;
	int answered;

	if (g->uia == NULL)
		return;
	gen = uia_page_get(g->uia, &pg);
	if (gen != g->web_gen) {
		g->web_gen = gen;
		/* A read that timed out neither changes the page nor confirms it (uia reads again). */
		if (g->web && g->have_ctx && pg.window == g->ctx.window && pg.status != UIA_TIMEOUT) {
			g->page = pg;
			util_strlcpy_utf8(g->ctx.url, pg.status == UIA_OK ? pg.url : "",
			                  sizeof g->ctx.url);
			g->hooks.set_url(g->hooks.arg, g->ctx.url);
			web_scope(g);
			judge_focus(g);
		}
	}
	/*
	 * Held input is judged by the page it went to. A read between two pages (the
	 * browser's frame with no document: a submit or a link replacing the page)
	 * names no page yet, so it keeps the input held, like a read that timed out,
	 * until the next read finds the new page or GUARD_HOLD_MS passes. The window
	 * above is out of scope meanwhile.
	 */
	answered = pg.status != UIA_TIMEOUT &&
	           (!pg.between_pages || testbreak("between-pages-judged"));
	if (g->n_held > 0 && answered)
		release_held(g, pg.seq);
	if (g->web_pending != 0 && pg.seq >= g->web_pending && answered) {
		g->web_pending = 0;
	} else if ((g->web_pending != 0 || g->n_held > 0) &&
	           util_now_mono_ns() - g->hold_since_ns > (int64_t)GUARD_HOLD_MS * 1000000) {
		/* No answer in time: what was typed stays unrecorded (fail closed). */
		g->held_dropped += g->n_held;
		g->n_held = 0;
		g->web_pending = 0;
	}
}

int guard_filter(struct guard *g, struct event *ev)
{
	int key = ev->kind == EVENT_KEY_PRESS || ev->kind == EVENT_KEY_RELEASE;

	if (is_input_kind(ev->kind)) {
		g->last_input_ns = ev->t_ns;
		/* Any input ends an idle pause. */
		if (g->auto_paused == AUTO_PAUSE_IDLE) {
			g->auto_paused = 0;
			set_paused_at(g, 0, 0, ev->t_ns);
		}
	}
	if (key && is_hotkey(g, ev))
		return 0;
	/*
	 * Done before the last resume, read after it (the loop was busy): typed while
	 * the person saw recording paused.
	 */
	if (is_input_kind(ev->kind) && ev->t_ns < g->resumed_ns)
		return 0;
	if (g->paused)
		return 0;
	/* In a browser, input waits for the page it went to: a click or a key may just
	 * have navigated, or changed the URL with the History API (docs/POLICY.md). A
	 * focus or title event waits too: it names a context not yet judged by its page. */
	if (g->web) {
		if (ev->kind == EVENT_KEY_PRESS || ev->kind == EVENT_BUTTON_PRESS ||
		    ev->kind == EVENT_SCROLL)
			web_ask(g);
		if ((g->web_pending != 0 || g->n_held > 0) && !testbreak("browser-input-not-held")) {
			hold(g, ev);
			return 0;
		}
	}
	if (g->out_of_scope && !(key && testbreak("out-of-scope-keys-stored")))
		return 0;
	return filter_rest(g, ev);
}

int64_t guard_upload_interval_ms(const struct guard *g)
{
	return policy_upload_interval_ms(g->policy);
}

int guard_paused(const struct guard *g)
{
	return g->paused;
}

int64_t guard_paused_until(const struct guard *g)
{
	return g->pause_until_ns;
}

int guard_out_of_scope(const struct guard *g)
{
	return g->out_of_scope || (g->web && g->web_pending != 0);
}

void guard_set_paused(struct guard *g, int paused, int64_t for_ms)
{
	set_paused_at(g, paused, for_ms, util_now_mono_ns());
}

/* guard_set_paused, taking effect at t_ns (the hotkey's press, or now). */
static void set_paused_at(struct guard *g, int paused, int64_t for_ms, int64_t t_ns)
{
	if (paused) {
		g->pause_until_ns = for_ms > 0 ? t_ns + for_ms * 1000000 : 0;
		if (!g->paused) {
			char details[64];

			push_marker(g, EVENT_PAUSE, t_ns);
			g->paused = 1;
			frames_pause(g);
			log_info("recording paused");
			snprintf(details, sizeof(details), "{\"for_s\":%lld}", (long long)(for_ms / 1000));
			audit_or_warn(g, "pause", details);
		}
	} else if (g->paused && g->consent_needed) {
		/* Nothing resumes before the person agreed to the notice in force; a timed
		 * pause ends into this one. */
		g->pause_until_ns = 0;
		return;
	} else if (g->paused) {
		g->paused = 0;
		g->pause_until_ns = 0;
		g->resumed_ns = t_ns;
		frames_pause(g);
		/* The window may have changed while paused: store the current one first. */
		g->hooks.push_context(g->hooks.arg);
		push_marker(g, EVENT_RESUME, t_ns);
		log_info("recording resumed");
		audit_or_warn(g, "resume", NULL);
	}
}

/* The indicator shows paused, out of scope or recording. */
static void show_state(struct guard *g)
{
	indicator_set_state(g->indicator, g->consent_needed ? INDICATOR_CONSENT
	                    : g->paused ? INDICATOR_PAUSED
	                    : g->out_of_scope ? INDICATOR_OUT_OF_SCOPE : INDICATOR_RECORDING);
}

int guard_tick(struct guard *g, int64_t now)
{
	int64_t idle_ms = g->policy != NULL ? policy_idle_pause_ms(g->policy) : 0;

	web_poll(g);
	if (now < g->next_guard_ns) {
		int left = (int)((g->next_guard_ns - now) / 1000000) + 1;

		/* Held input is dropped after GUARD_HOLD_MS even when no answer wakes us. */
		return g->web_pending != 0 && left > 50 ? 50 : left;
	}
	g->next_guard_ns = now + GUARD_TICK_MS * INT64_C(1000000);
	if (indicator_screen_locked(g->indicator)) {
		if (!g->paused) {
			guard_set_paused(g, 1, 0);
			g->auto_paused = AUTO_PAUSE_LOCK;
			log_info("screen locked: recording paused");
		}
	} else if (g->auto_paused == AUTO_PAUSE_LOCK) {
		g->auto_paused = 0;
		guard_set_paused(g, 0, 0);
	}
	if (idle_ms > 0 && !g->paused && g->last_input_ns != 0 &&
	    now - g->last_input_ns > idle_ms * 1000000) {
		guard_set_paused(g, 1, 0);
		g->auto_paused = AUTO_PAUSE_IDLE;
		log_info("no input for a while: recording paused until the next input");
	}
	check_secret(g);
	show_state(g);
	return g->web_pending != 0 ? 50 : GUARD_TICK_MS;
}

void guard_pollfds(const struct guard *g, struct pollfd *pfd)
{
	pfd[0] = (struct pollfd){ .fd = g->scope != NULL ? scope_fd(g->scope) : -1,
	                          .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = g->indicator != NULL ? indicator_fd(g->indicator) : -1,
	                          .events = POLLIN };
}

int guard_dispatch(struct guard *g, const struct pollfd *pfd)
{
	int presses = 0, rc;

	if (g->indicator != NULL) {
		presses = indicator_dispatch(g->indicator, pfd[1].revents != 0);
		if (presses < 0)
			return presses;
	}
	/*
	 * The grab's presses toggle nothing: the same press arrives as a raw event with
	 * the other input, where guard_filter toggles in input order (is_hotkey).
	 */
	for (int i = 0; i < presses && testbreak("hotkey-toggles-when-read"); i++) {
		/* The old way: toggled when the grab's press is read, after the input around it. */
		g->auto_paused = 0;
		guard_set_paused(g, !g->paused, 0);
	}
	if (g->scope != NULL) {
		rc = scope_dispatch(g->scope, pfd[0].revents != 0);
		if (rc < 0)
			return rc;
		if (rc > 0)
			update_keep(g);
	}
	web_poll(g);
	show_state(g);
	check_secret(g);
	return 0;
}

void guard_notify(void)
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

int guard_start(struct guard *g, const char *display, const char *data_dir, struct config *cfg,
                char **cause)
{
	const char *sym = NULL;
	uint32_t mods = 0;
	int rc;

	g->data_dir = data_dir;
	g->retention = cfg->retention;
	watch_start(g, data_dir);
	if (policy_pause_hotkey(g->policy, &sym, &mods) != 0)
		sym = NULL;
	rc = indicator_open(display, sym, mods, &g->indicator, cause);
	if (rc != 0 && testbreak("record-without-indicator")) {
		free(*cause);
		*cause = NULL;
		rc = 0;
	}
	if (rc != 0)
		return rc;
	g->hotkey_keycode = indicator_hotkey_keycode(g->indicator);
	g->hotkey_mods = 0;
	if (mods & POLICY_MOD_SHIFT)
		g->hotkey_mods |= 1;
	if (mods & POLICY_MOD_CTRL)
		g->hotkey_mods |= 4;
	if (mods & POLICY_MOD_ALT)
		g->hotkey_mods |= 8;
	if (mods & POLICY_MOD_SUPER)
		g->hotkey_mods |= 64;
	rc = scope_open(display, g->policy, &g->scope, cause);
	if (rc != 0)
		return rc;
	g->last_input_ns = util_now_mono_ns(); /* idle time counts from the start */
	/* Screenshots off in the policy win over the settings file. */
	if (!policy_screenshots(g->policy) && !testbreak("policy-screenshots-ignored"))
		cfg->frames.enabled = false;
	/* Until the scope is known, frames keep nothing. */
	g->cfg_keep_set = cfg->frames.keep_set;
	g->cfg_n_keep = cfg->frames.n_keep;
	memcpy(g->cfg_keep, cfg->frames.keep, sizeof(g->cfg_keep));
	return 0;
}

/* ---------------------------- a new policy while recording (docs/POLICY.md) */

static void file_id_read(const char *path, struct file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof *id);
	if (path == NULL || stat(path, &st) != 0)
		return;
	id->exists = 1;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtime = st.st_mtim;
	id->ctime = st.st_ctim;
}

static int file_id_eq(const struct file_id *a, const struct file_id *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* The notice of the policy in force is watched too: a changed notice needs a new consent. */
static void watch_notice(struct guard *g)
{
	const char *n = policy_notice_path(g->policy);

	free(g->watch_path[WATCH_NOTICE]);
	g->watch_path[WATCH_NOTICE] = n != NULL ? util_xstrdup(n) : NULL;
	file_id_read(g->watch_path[WATCH_NOTICE], &g->watch_id[WATCH_NOTICE]);
}

/* The files the policy in force comes from (policy_load_effective reads them). */
static void watch_start(struct guard *g, const char *data_dir)
{
	char *user = NULL;

	g->watch_path[WATCH_SYSTEM] = util_xstrdup(g->policy_path != NULL ? g->policy_path :
	                                           POLICY_SYSTEM_PATH);
	if (policy_user_path(&user) == 0)
		g->watch_path[WATCH_USER] = user;
	g->watch_path[WATCH_SIGNED] = util_xasprintf("%s/fleet/policy.signed", data_dir);
	g->watch_path[WATCH_ENROLMENT] = util_xasprintf("%s/fleet/enrolment.json", data_dir);
	for (int i = 0; i < WATCH_N; i++)
		file_id_read(g->watch_path[i], &g->watch_id[i]);
	watch_notice(g);
	g->next_look_ns = util_now_mono_ns() + GUARD_POLICY_LOOK_MS * INT64_C(1000000);
}

/* 1 when a watched file differs from the last look (which it then becomes). */
static int watch_moved(struct guard *g)
{
	int moved = 0;

	for (int i = 0; i < WATCH_N; i++) {
		struct file_id id;

		if (g->watch_path[i] == NULL)
			continue;
		file_id_read(g->watch_path[i], &id);
		if (!file_id_eq(&id, &g->watch_id[i])) {
			g->watch_id[i] = id;
			moved = 1;
		}
	}
	return moved;
}

/* Runs on the writer's thread, which owns the store and may wait on the disk. */
static int policy_job_run(struct store *st, void *arg)
{
	struct policy_job *j = arg;

	if (j->check != NULL) {
		j->consent_rc = consent_check(st, j->check, NULL);
	} else {
		j->rc = policy_load_effective(j->policy_path, j->data_dir, &j->loaded, &j->serial,
		                              &j->cause);
		if (j->rc == 0)
			j->consent_rc = consent_check(st, j->loaded, NULL);
	}
	atomic_store_explicit(&j->done, 1, memory_order_release);
	return 0;
}

static void policy_post(struct guard *g, struct writer *w, const struct policy *check)
{
	struct policy_job *j = util_xcalloc(1, sizeof *j);

	j->policy_path = g->policy_path != NULL ? util_xstrdup(g->policy_path) : NULL;
	j->data_dir = util_xstrdup(g->data_dir);
	j->check = check;
	atomic_init(&j->done, 0);
	if (writer_post(w, policy_job_run, j) != 0) {
		/* Another job (forget, retention) runs: the next look posts again. */
		policy_job_free(j);
		if (check == NULL)
			g->watch_moved = 1;
		return;
	}
	g->job = j;
}

/* Recording waits for the person's agreement to the notice in force, or resumes with it. */
static void set_consent_needed(struct guard *g, int needed)
{
	if (needed && !g->consent_needed) {
		log_warn("the policy's consent notice changed: recording paused until "
		         "`mimic consent`");
		audit_or_warn(g, "consent-needed", NULL);
		g->consent_paused = !g->paused;
		if (!g->paused)
			set_paused_at(g, 1, 0, util_now_mono_ns());
		g->consent_needed = 1;
		g->auto_paused = AUTO_PAUSE_CONSENT;
	} else if (!needed && g->consent_needed) {
		g->consent_needed = 0;
		log_info("consent given to the policy's notice");
		if (g->auto_paused == AUTO_PAUSE_CONSENT)
			g->auto_paused = 0;
		/* A pause the person asked for before stays. */
		if (g->consent_paused)
			set_paused_at(g, 0, 0, util_now_mono_ns());
		g->consent_paused = 0;
	}
}

/* Judges the focused window again, by the policy now in force. */
static void rejudge(struct guard *g)
{
	int web = g->have_ctx && g->uia != NULL &&
	          policy_is_browser(g->policy, g->ctx.wm_instance, g->ctx.wm_class);

	if (web && !g->web) {
		/* Now judged by its page, which is not known yet: read it. */
		g->web = 1;
		g->ctx.url[0] = '\0';
		web_ask(g);
	} else if (!web) {
		g->web = 0;
	}
	web_scope(g);
	if (g->have_ctx)
		g->key_text = policy_key_text(g->policy, g->ctx.wm_instance, g->ctx.wm_class);
	judge_focus(g);
}

/* A new policy loaded and verified: in force from the next event on. */
static void policy_swap(struct guard *g, struct policy_job *j)
{
	struct policy *old = g->policy;
	char details[160];

	g->policy = j->loaded;
	j->loaded = NULL;
	if (g->scope != NULL && scope_set_policy(g->scope, g->policy) < 0)
		log_warn("cannot read the windows again for the new policy");
	policy_free(old);
	g->serial = j->serial;
	g->applied_wall_ns = util_now_wall_ns();
	g->generation++;
	g->policy_error[0] = '\0';
	update_keep(g);
	rejudge(g);
	frames_pause(g);
	watch_notice(g);
	log_info("new policy applied while recording (collector serial %llu)",
	         (unsigned long long)g->serial);
	snprintf(details, sizeof details, "{\"serial\":%llu,\"while_recording\":true}",
	         (unsigned long long)g->serial);
	audit_or_warn(g, "policy-live", details);
}

/* What the job found: the new policy swapped in, or refused with one line. */
static void policy_finish(struct guard *g, struct policy_job *j)
{
	const char *kind = "load";
	char *why = NULL;

	if (j->check != NULL) {
		set_consent_needed(g, j->consent_rc != 0);
		return;
	}
	if (j->rc != 0) {
		why = util_xstrdup(j->cause != NULL ? j->cause : "the policy cannot be read");
	} else if (j->serial < g->serial && !testbreak("live-policy-rollback")) {
		/*
		 * policy.json already refuses an older serial; a collector policy gone from
		 * the data directory (or the enrolment removed) would leave the local files
		 * alone, which may allow more: a running recorder keeps what it has.
		 */
		kind = j->serial == 0 ? "removed" : "rollback";
		why = j->serial == 0 ?
		      util_xasprintf("collector policy serial %llu is no longer stored in %s",
		                     (unsigned long long)g->serial, g->watch_path[WATCH_SIGNED]) :
		      util_xasprintf("collector policy serial %llu is older than serial %llu",
		                     (unsigned long long)j->serial, (unsigned long long)g->serial);
	}
	if (why != NULL) {
		char details[160];
		char *esc = util_escape_ctl(why);

		snprintf(g->policy_error, sizeof g->policy_error, "%s; keeping the policy in force",
		         esc);
		free(esc);
		log_warn("new policy not applied: %s", g->policy_error);
		if (j->rc != 0)
			snprintf(details, sizeof details, "{\"kept\":%llu,\"why\":\"%s\","
			         "\"while_recording\":true}", (unsigned long long)g->serial, kind);
		else
			snprintf(details, sizeof details, "{\"refused\":%llu,\"kept\":%llu,"
			         "\"why\":\"%s\",\"while_recording\":true}",
			         (unsigned long long)j->serial, (unsigned long long)g->serial, kind);
		audit_or_warn(g, "policy-refused", details);
		free(why);
		return;
	}
	if (testbreak("live-policy-ignored")) {
		/* The fault: the status shows the new policy, the old one goes on judging. */
		g->serial = j->serial;
		g->applied_wall_ns = util_now_wall_ns();
		g->generation++;
		return;
	}
	policy_swap(g, j);
	set_consent_needed(g, j->consent_rc != 0 && !testbreak("live-notice-unconsented"));
}

int guard_policy_tick(struct guard *g, struct writer *w, int64_t now)
{
	if (g->job != NULL) {
		if (!atomic_load_explicit(&g->job->done, memory_order_acquire))
			return 20;
		policy_finish(g, g->job);
		policy_job_free(g->job);
		g->job = NULL;
	}
	if (g->data_dir == NULL)
		return -1;
	if (w == NULL)
		return GUARD_POLICY_LOOK_MS;
	if (now < g->next_look_ns)
		return (int)((g->next_look_ns - now) / 1000000) + 1;
	g->next_look_ns = now + GUARD_POLICY_LOOK_MS * INT64_C(1000000);
	/* A file being written is loaded once it held still for one look. */
	if (watch_moved(g))
		g->watch_moved = 1;
	else if (g->watch_moved) {
		g->watch_moved = 0;
		policy_post(g, w, NULL);
	} else if (g->consent_needed) {
		/* `mimic consent` writes to the store: ask it whether the person agreed. */
		policy_post(g, w, g->policy);
	}
	return GUARD_POLICY_LOOK_MS;
}

const char *guard_resume_refused(const struct guard *g)
{
	if (!g->consent_needed)
		return NULL;
	return "recording stays paused until you agree to the organisation's new notice: "
	       "run `mimic consent`";
}

/* The "policy_in_force" member of the status: which policy judges, since when, and refusals. */
static json_t *policy_json(const struct guard *g)
{
	json_t *o = json_object();
	char when[64] = "";
	time_t t = (time_t)(g->applied_wall_ns / 1000000000);
	struct tm tm;

	if (gmtime_r(&t, &tm) != NULL)
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(o, "sources", json_string(policy_sources(g->policy)));
	json_object_set_new(o, "serial", json_integer((json_int_t)g->serial));
	json_object_set_new(o, "applied", json_string(when));
	json_object_set_new(o, "applied_while_recording", json_integer((json_int_t)g->generation));
	json_object_set_new(o, "error", g->policy_error[0] ? json_string(g->policy_error) :
	                    json_null());
	json_object_set_new(o, "consent_needed", json_boolean(g->consent_needed));
	return o;
}

json_t *guard_json(const struct guard *g)
{
	json_t *o = json_object();
	char reason[256] = "";
	int degraded = 1;

	json_object_set_new(o, "scope", json_string(g->out_of_scope ? "out" : "in"));
	json_object_set_new(o, "policy", json_string(g->policy ? policy_sources(g->policy) : ""));
	json_object_set_new(o, "auto_paused", json_string(g->consent_needed ? "consent" :
	                    g->auto_paused == AUTO_PAUSE_LOCK ?
	                    "screen-locked" : g->auto_paused == AUTO_PAUSE_IDLE ? "idle" :
	                    g->auto_paused == AUTO_PAUSE_CONSENT ? "consent" : "no"));
	json_object_set_new(o, "policy_in_force", policy_json(g));
	if (g->uia != NULL)
		degraded = uia_is_degraded(g->uia, reason, sizeof reason);
	else
		util_strlcpy_utf8(reason, g->uia_none, sizeof reason);
	json_object_set_new(o, "password_protection", json_string(degraded ? "degraded" : "full"));
	json_object_set_new(o, "password_protection_reason",
	                    degraded ? json_string(reason[0] ? reason : "no accessibility bus")
	                             : json_null());
	if (g->web) {
		/* Whether the focused browser window's page is known; never the URL itself. */
		json_t *b = json_object();
		int no_tree = g->page.window == g->ctx.window && g->page.gen != 0 &&
		              g->page.status == UIA_NO_ELEMENT;

		json_object_set_new(b, "page", json_string(g->ctx.url[0] != '\0' ? "known" :
		                    g->web_pending != 0 ? "reading" : "unknown"));
		json_object_set_new(b, "private", json_boolean(g->page.private_window));
		json_object_set_new(b, "held_dropped", json_integer((json_int_t)g->held_dropped));
		json_object_set_new(b, "hint", no_tree ?
		                    json_string("the browser window exposes no accessibility tree, so "
		                                "its pages are not recorded: start the browser after "
		                                "mimic, or set ACCESSIBILITY_ENABLED=1 for the session "
		                                "(docs/POLICY.md)") : json_null());
		json_object_set_new(o, "browser", b);
	}
	json_object_set_new(o, "indicator", json_integer(g->indicator ?
	                    indicator_window(g->indicator) : 0));
	return o;
}

/* --------------------------------------------- forget and retention (docs/PRIVACY.md) */

/* The audit details of a deletion, after what was asked: how much went; never content. */
static void add_deletion_counts(json_t *o, const struct forget_result *res)
{
	json_object_set_new(o, "sessions", json_integer(res->rows.sessions));
	json_object_set_new(o, "events", json_integer(res->rows.events));
	json_object_set_new(o, "frames", json_integer(res->rows.frames));
	json_object_set_new(o, "windows", json_integer(res->rows.contexts));
	json_object_set_new(o, "derived", json_integer(res->rows.other));
	json_object_set_new(o, "files", json_integer(res->files));
}

/* What retention's pass over the spool asks of each bundle's session. */
struct spool_check {
	struct store *st;
	int64_t cutoff_wall_ns;   /* sessions begun before this lost their start; 0: none */
};

/* A bundle is stale when its session is gone, or began before the age limit's cutoff. */
static bool bundle_stale(int64_t session, void *arg)
{
	struct spool_check *k = arg;
	struct store_session s;
	int rc = store_session_get(k->st, session, &s, NULL);

	if (testbreak("retention-keeps-bundles"))
		return false;
	if (rc == -ENOENT)
		return true;
	return rc == 0 && k->cutoff_wall_ns > 0 && s.start_wall_ns < k->cutoff_wall_ns;
}

int guard_retention(struct store *st, const char *data_dir, const struct config_retention *c,
                    int64_t keep_session)
{
	struct forget_limits lim = { c->max_age_ns, c->max_bytes };
	struct forget_result res;
	struct spool_check check = { st, 0 };
	char *cause = NULL, *details;
	int bundles;
	json_t *o;
	int rc;

	if (c->max_age_ns == 0 && c->max_bytes == 0)
		return 0;
	rc = forget_retention(st, data_dir, &lim, keep_session, &res, &cause);
	if (rc != 0) {
		log_warn("retention: %s", cause != NULL ? cause : strerror(-rc));
		free(cause);
		return rc;
	}
	/* Sealed bundles waiting for the collector go with the data they were made from. */
	if (c->max_age_ns > 0)
		check.cutoff_wall_ns = util_now_wall_ns() - c->max_age_ns;
	bundles = fleet_device_spool_prune(data_dir, bundle_stale, &check);
	if (res.rows.events + res.rows.frames + res.rows.sessions + res.rows.contexts +
	    res.rows.other + res.files + bundles == 0)
		return 0;
	o = json_object();
	add_deletion_counts(o, &res);
	json_object_set_new(o, "bundles", json_integer(bundles));
	json_object_set_new(o, "max_age_s", json_integer(lim.max_age_ns / 1000000000));
	json_object_set_new(o, "max_bytes", json_integer(lim.max_bytes));
	json_object_set_new(o, "bytes_before", json_integer(res.bytes_before));
	json_object_set_new(o, "bytes_after", json_integer(res.bytes_after));
	details = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (audit_append(data_dir, "retention", details, &cause) != 0) {
		log_warn("cannot append to the audit log: %s", cause);
		free(cause);
	}
	log_info("retention deleted %lld sessions, %lld events, %lld frames, %d waiting bundles",
	         (long long)res.rows.sessions, (long long)res.rows.events,
	         (long long)res.rows.frames, bundles);
	free(details);
	return 0;
}

struct retention_job {
	const char *data_dir;
	struct config_retention lim;
	int64_t keep_session;
};

static int retention_job_run(struct store *st, void *arg)
{
	struct retention_job *j = arg;

	guard_retention(st, j->data_dir, &j->lim, j->keep_session);
	free(j);
	return 0;
}

int guard_retention_tick(struct guard *g, struct writer *w, int64_t session, int64_t now)
{
	const struct config_retention *c = &g->retention;
	struct retention_job *j;
	int64_t left;

	if (w == NULL || (c->max_age_ns == 0 && c->max_bytes == 0) ||
	    testbreak("retention-not-while-recording"))
		return -1;
	if (g->next_retention_ns == 0)
		g->next_retention_ns = now + c->interval_ns;
	if (now >= g->next_retention_ns) {
		j = util_xcalloc(1, sizeof(*j));
		j->data_dir = g->data_dir;
		j->lim = *c;
		j->keep_session = session;
		/* Off the input thread: the writer runs it between commits. */
		if (writer_post(w, retention_job_run, j) != 0)
			free(j);
		g->next_retention_ns = now + c->interval_ns;
	}
	left = (g->next_retention_ns - now) / 1000000 + 1;
	return left > INT_MAX ? INT_MAX : (int)left;
}

struct guard_forget {
	const char *data_dir;
	struct store_forget spec;
	struct ipc_request req;
	struct forget_result res;
	char *cause;
	int rc;
	int64_t next_frame_id;
	int done_fd;
	atomic_int done;        /* set (release) by the writer thread once the fields above are */
};

/* Runs on the writer thread: nothing else uses the store meanwhile. */
static int forget_job_run(struct store *st, void *arg)
{
	struct guard_forget *j = arg;
	uint64_t one = 1;

	j->rc = forget_run(st, j->data_dir, &j->spec, &j->res, &j->cause);
	if (store_next_frame_id(st, &j->next_frame_id, NULL) != 0)
		j->next_frame_id = 0;
	atomic_store_explicit(&j->done, 1, memory_order_release);
	/* An eventfd write only fails when the counter would overflow: it cannot here. */
	if (write(j->done_fd, &one, sizeof one) != (ssize_t)sizeof one)
		log_warn("cannot signal the end of forget: %s", strerror(errno));
	return j->rc;
}

int guard_forget_post(struct guard *g, struct writer *w, int64_t session,
                      const struct ipc_request *req, int done_fd, struct guard_forget **out)
{
	struct guard_forget *j = util_xcalloc(1, sizeof *j);
	int rc;

	*out = NULL;
	j->data_dir = g->data_dir;
	j->req = *req;
	j->done_fd = done_fd;
	j->spec.keep_session = session;
	j->spec.from_wall_ns = INT64_MIN;
	j->spec.to_wall_ns = INT64_MAX;
	if (req->forget_last_ms > 0)
		j->spec.from_wall_ns = util_now_wall_ns() - req->forget_last_ms * 1000000;
	else if (req->forget_session > 0)
		j->spec.session = req->forget_session;
	atomic_init(&j->done, 0);
	rc = writer_post(w, forget_job_run, j);
	if (rc != 0) {
		free(j);
		return rc;
	}
	*out = j;
	return 0;
}

char *guard_forget_finish(struct guard *g, struct guard_forget *job, int64_t *next_frame_id)
{
	const struct ipc_request *req = &job->req;
	json_t *o;
	char *details, *reply;

	/* Pairs with the release in forget_job_run: the job's results are visible here. */
	if (!atomic_load_explicit(&job->done, memory_order_acquire)) {
		job->rc = -ECANCELED;
		free(job->cause);
		job->cause = util_xstrdup("the deletion did not run (the recorder stopped)");
	}
	*next_frame_id = job->next_frame_id;
	o = json_object();
	if (req->forget_last_ms > 0)
		json_object_set_new(o, "last_s", json_integer(req->forget_last_ms / 1000));
	else if (req->forget_session > 0)
		json_object_set_new(o, "session", json_integer(req->forget_session));
	else
		json_object_set_new(o, "all", json_true());
	add_deletion_counts(o, &job->res);
	details = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (job->rc != 0) {
		reply = ipc_simple_reply(0, job->cause != NULL ? job->cause : "the deletion failed");
		log_warn("forget failed: %s", job->cause != NULL ? job->cause : strerror(-job->rc));
	} else {
		audit_or_warn(g, "forget", details);
		o = json_loads(details, 0, NULL);
		json_object_set_new(o, "v", json_integer(IPC_VERSION));
		json_object_set_new(o, "ok", json_true());
		reply = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		log_info("forgot %lld events and %lld frames", (long long)job->res.rows.events,
		         (long long)job->res.rows.frames);
	}
	free(details);
	free(job->cause);
	free(job);
	return reply;
}
