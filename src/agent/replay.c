/*
 * replay: `mimic replay` (see replay.h). Everything that can be judged from the
 * export alone (its steps, the episode asked for, redacted text) is judged
 * before the agent's devices exist, so that a bad export does nothing at all.
 */
#include "replay.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "desktop.h"
#include "log.h"
#include "steps.h"
#include "testbreak.h"
#include "uia.h"
#include "util.h"

#define REPLAY_POLL_MS 50
/* Longest wait for one lookup's answer: uia answers every press, at worst after
 * abandoning it (UIA_MAX_AGE_MS) or giving up on a hung application. */
#define REPLAY_LOOKUP_WAIT_MS (UIA_MAX_AGE_MS + 2 * UIA_LOOKUP_BUDGET_MS + 500)

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL) };

	while (ns > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Whether a step is carried out: waits are the time between steps, the rest acts. */
static int acts(const struct steps_step *st)
{
	const char *n = steps_action_name(st->action);

	return n != NULL && strcmp(n, "wait") != 0 && strcmp(n, "screenshot") != 0 &&
	       strcmp(n, "cursor_position") != 0;
}

/* What a step's window must hold: the application and the points of a pointer action. */
struct target {
	const char *app;
	int32_t pts[2][2];
	int n_pts;
	int found;                 /* a window of app holding every point (or any, without points) */
};

static int inside(const struct image_rect *r, const int32_t p[2])
{
	return p[0] >= r->x && p[1] >= r->y && p[0] < r->x + (int32_t)r->w &&
	       p[1] < r->y + (int32_t)r->h;
}

static void each_window(void *arg, const struct desktop_window *w)
{
	struct target *t = arg;
	const struct image_rect *r = w->client.w > 0 ? &w->client : &w->frame;
	int ok = w->has_class && strcmp(w->class_name, t->app) == 0;

	for (int i = 0; ok && i < t->n_pts; i++)
		ok = inside(r, t->pts[i]);
	if (ok)
		t->found = 1;
}

static void get_pt(const json_t *cu, const char *key, struct target *t)
{
	const json_t *v = json_object_get(cu, key);

	if (json_is_array(v)) {
		t->pts[t->n_pts][0] = (int32_t)json_integer_value(json_array_get(v, 0));
		t->pts[t->n_pts][1] = (int32_t)json_integer_value(json_array_get(v, 1));
		t->n_pts++;
	}
}

/*
 * Waits until a window of the step's application is on the screen, under the
 * step's points for a pointer action. 0, or -ETIMEDOUT / -EPIPE with *cause.
 */
static int wait_window(struct desktop *d, const struct steps_step *st, int64_t timeout_ms,
                       char **cause)
{
	struct target t = { .app = st->app };
	int64_t deadline = util_now_mono_ns() + timeout_ms * 1000000LL;

	if (st->app == NULL || st->app[0] == '\0' || steps_has_placeholder(st->app))
		return 0;
	get_pt(st->action, "start_coordinate", &t);
	get_pt(st->action, "coordinate", &t);
	for (;;) {
		if (desktop_dispatch(d, 1) < 0 || desktop_read(d, each_window, &t) < 0)
			return util_fail(cause, -EPIPE, "lost the display");
		if (t.found)
			return 0;
		if (util_now_mono_ns() >= deadline)
			break;
		sleep_ns(REPLAY_POLL_MS * 1000000LL);
	}
	if (t.n_pts > 0)
		return util_fail(cause, -ETIMEDOUT, "no window of the application %s was at (%d, %d) "
		                 "within %.1f s: start it (as when it was recorded) before the replay, "
		                 "or give it longer (--timeout)", st->app, (int)t.pts[t.n_pts - 1][0],
		                 (int)t.pts[t.n_pts - 1][1], (double)timeout_ms / 1000);
	return util_fail(cause, -ETIMEDOUT, "no window of the application %s appeared within %.1f s: "
	                 "start it (as when it was recorded) before the replay, or give it longer "
	                 "(--timeout)", st->app, (double)timeout_ms / 1000);
}

/*
 * The point whose element a step's action acts on, when its element is to be
 * checked: a press (the start of a drag) or a scroll that has a recorded
 * element. 1 with *x, *y, else 0.
 */
static int check_point(const struct steps_step *st, int32_t *x, int32_t *y)
{
	static const char *const pressing[] = { "left_click", "right_click", "middle_click",
	                                        "double_click", "triple_click", "scroll" };
	const char *n = steps_action_name(st->action);
	const json_t *v = NULL;

	if (n == NULL || st->el_role == NULL)
		return 0;
	if (strcmp(n, "left_click_drag") == 0)
		v = json_object_get(st->action, "start_coordinate");
	for (size_t i = 0; v == NULL && i < sizeof pressing / sizeof pressing[0]; i++) {
		if (strcmp(n, pressing[i]) == 0)
			v = json_object_get(st->action, "coordinate");
	}
	if (!json_is_array(v))
		return 0;
	*x = (int32_t)json_integer_value(json_array_get(v, 0));
	*y = (int32_t)json_integer_value(json_array_get(v, 1));
	return 1;
}

/* 1 when the step presses or scrolls at a point (whether or not its element was recorded). */
static int acts_at_point(const struct steps_step *st)
{
	const char *n = steps_action_name(st->action);

	return n != NULL && (strstr(n, "click") != NULL || strcmp(n, "scroll") == 0);
}

/* What X shows at a point: the topmost window holding it, as uia's hint. */
struct at_point {
	int32_t pt[2];
	struct uia_window_hint h;
};

static void topmost(void *arg, const struct desktop_window *w)
{
	struct at_point *a = arg;
	const struct image_rect *r = w->client.w > 0 ? &w->client : &w->frame;

	/* Bottom to top: the last window holding the point is the one shown there. */
	if (inside(r, a->pt)) {
		a->h.window = w->window;
		a->h.pid = w->pid;
		a->h.x = r->x;
		a->h.y = r->y;
		a->h.w = (int32_t)r->w;
		a->h.h = (int32_t)r->h;
	}
}

/*
 * Looks the element at (x, y) up over AT-SPI, with X's window there as the
 * hint (uia's cross-check: the element must come from that window's
 * application). Fills *out (its status says whether one was found); 0, or
 * -EPIPE when the display is lost, -ETIMEDOUT when uia did not answer.
 */
static int look_up(struct uia *u, struct desktop *d, int32_t x, int32_t y, int64_t id,
                   struct uia_element *out, char **cause)
{
	struct at_point a = { .pt = { x, y } };
	int64_t deadline = util_now_mono_ns() + (int64_t)REPLAY_LOOKUP_WAIT_MS * 1000000LL;
	struct uia_element got;

	if (desktop_dispatch(d, 1) < 0 || desktop_read(d, topmost, &a) < 0)
		return util_fail(cause, -EPIPE, "lost the display");
	uia_press(u, id, x, y, util_now_mono_ns(), a.h.window != 0 ? &a.h : NULL);
	for (;;) {
		struct pollfd p = { .fd = uia_fd(u), .events = POLLIN };
		int64_t left = (deadline - util_now_mono_ns()) / 1000000LL;

		while (uia_take_results(u, &got, 1) == 1) {
			if (got.event_id == id) {
				*out = got;
				return 0;
			}
		}
		if (left <= 0)
			return util_fail(cause, -ETIMEDOUT, "the accessibility bus did not answer a "
			                 "lookup within %d ms", REPLAY_LOOKUP_WAIT_MS);
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return util_fail(cause, -errno, "poll: %s", strerror(errno));
	}
}

/* An element as a user reads it: its role and its name in quotes ("" when it has none). */
static char *element_text(const char *role, const char *name)
{
	char *r = util_escape_ctl(role), *n = util_escape_ctl(name != NULL ? name : "");
	char *s = util_xasprintf("%s \"%s\"", r, n);

	free(r);
	free(n);
	return s;
}

/* Within REPLAY_BOUNDS_PX; in 64 bits, as an application may report any extents. */
static int near(int64_t a, int64_t b)
{
	return a - b <= REPLAY_BOUNDS_PX && b - a <= REPLAY_BOUNDS_PX;
}

/*
 * NULL when el (looked up at the step's point) is the element recorded for st:
 * the same role, the same name (not compared when the export dropped it or
 * replaced part of it with a placeholder such as <NAME>), each edge of its
 * bounds within REPLAY_BOUNDS_PX of the recorded (not compared when either is
 * unknown). Else what differed, in one line, allocated.
 */
static char *differs(const struct steps_step *st, const struct uia_element *el)
{
	char *want = element_text(st->el_role, st->el_name), *found, *s;
	int name_known = st->el_name != NULL && !steps_has_placeholder(st->el_name);

	if (testbreak("replay-element-check-ignored")) {
		free(want);
		return NULL;
	}
	if (el->status != UIA_OK) {
		s = util_xasprintf("recorded %s, found no element there (%s)", want,
		                   uia_status_name(el->status) ? uia_status_name(el->status) : "?");
		free(want);
		return s;
	}
	found = element_text(el->role, el->name);
	if (strcmp(st->el_role, el->role) != 0 || (name_known && strcmp(st->el_name, el->name) != 0))
		s = util_xasprintf("recorded %s, found %s", want, found);
	else if (st->has_box && el->w > 0 && el->h > 0 &&
	         !(near(st->box[0], el->x) && near(st->box[1], el->y) &&
	           near((int64_t)st->box[0] + st->box[2], (int64_t)el->x + el->w) &&
	           near((int64_t)st->box[1] + st->box[3], (int64_t)el->y + el->h)))
		s = util_xasprintf("recorded %s at [%d, %d, %d, %d], found it at [%d, %d, %d, %d] "
		                   "(more than %d px off)", want, (int)st->box[0], (int)st->box[1],
		                   (int)st->box[2], (int)st->box[3], (int)el->x, (int)el->y,
		                   (int)el->w, (int)el->h, REPLAY_BOUNDS_PX);
	else
		s = NULL;
	free(want);
	free(found);
	return s;
}

/*
 * Waits until the element at the step's point is the recorded one (an
 * application may still be drawing), looking again every REPLAY_POLL_MS up to
 * timeout_ms. 0 when it is; -ESRCH with *what (what differed) when it never
 * was; -EPIPE / -ETIMEDOUT with *cause when the display or the bus failed.
 */
static int wait_element(struct uia *u, struct desktop *d, const struct steps_step *st,
                        int32_t x, int32_t y, int64_t *next_id, int64_t timeout_ms,
                        char **what, char **cause)
{
	int64_t deadline = util_now_mono_ns() + timeout_ms * 1000000LL;
	struct uia_element *el = util_xmalloc(sizeof *el);
	int rc;

	for (;;) {
		if ((rc = look_up(u, d, x, y, (*next_id)++, el, cause)) != 0)
			break;
		free(*what);
		if ((*what = differs(st, el)) == NULL)
			break;
		if (util_now_mono_ns() >= deadline) {
			rc = -ESRCH;
			break;
		}
		sleep_ns(REPLAY_POLL_MS * 1000000LL);
	}
	free(el);
	return rc;
}

/* 1 when some step chosen has an element to check. */
static int any_check(const struct replay_opts *o, const struct steps *s)
{
	int32_t x, y;

	for (size_t i = 0; i < s->n; i++) {
		if ((o->episode == NULL || strcmp(s->v[i].episode, o->episode) == 0) &&
		    check_point(&s->v[i], &x, &y))
			return 1;
	}
	return 0;
}

/* Checks what the export alone decides: the episode asked for exists, no redacted typing. */
static int check_export(const struct replay_opts *o, const struct steps *s, char **cause)
{
	size_t chosen = 0;

	for (size_t i = 0; i < s->n; i++) {
		const struct steps_step *st = &s->v[i];
		const char *name = steps_action_name(st->action);
		const char *text = json_string_value(json_object_get(st->action, "text"));

		if (o->episode != NULL && strcmp(st->episode, o->episode) != 0)
			continue;
		chosen++;
		/* A placeholder typed would put "<EMAIL>" into the application: refused. */
		if (name != NULL && strcmp(name, "type") == 0 && steps_has_placeholder(text))
			return util_fail(cause, -EPERM, "%s/steps.jsonl:%d: step %lld of episode %s types "
			                 "text the export redacted (a placeholder such as <EMAIL>); it "
			                 "cannot be replayed as typed, so nothing was replayed: replay "
			                 "another episode (--episode)", o->dir, st->line,
			                 (long long)st->step, st->episode);
	}
	if (chosen == 0)
		return util_fail(cause, -EINVAL, "no episode '%s' in %s/steps.jsonl (its first is "
		                 "'%s')", o->episode, o->dir, s->v[0].episode);
	return 0;
}

int replay_run(const struct replay_opts *o, char **cause)
{
	struct steps *s = NULL;
	struct agent *a = NULL;
	struct desktop *d = NULL;
	struct uia *u = NULL;
	struct agent_opts ao = { .display = o->display, .policy_path = o->policy_path,
	                         .handback_idle_ms = AGENT_HANDBACK_IDLE_MS };
	const char *episode = NULL;
	int64_t start_ns = 0;
	double start_ms = 0;
	int32_t w, h;
	size_t done = 0, episodes = 0, checked = 0, differed = 0;
	int64_t next_id = 1, check_ns = 0;
	char *why = NULL, *what = NULL;
	int rc;

	if ((rc = steps_load(o->dir, &s, cause)) != 0 || (rc = check_export(o, s, cause)) != 0)
		goto fail;
	if ((rc = agent_open(&ao, &a, cause)) != 0 ||
	    (rc = desktop_open(o->display, &d, cause)) != 0)
		goto fail;
	if (any_check(o, s)) {
		char reason[256];
		enum log_level level = log_get_level();

		/* uia warns on its own that it works without elements: the refusal below (or
		 * the one warning of --force) says so in one line, so its warning is held back
		 * until its thread is gone. */
		if (level == LOG_WARN)
			log_set_level(LOG_ERROR);
		rc = uia_start(&u, cause);
		if (rc == 0 && uia_is_degraded(u, reason, sizeof reason)) {
			uia_stop(u);
			u = NULL;
			if (reason[0] == '\0')
				snprintf(reason, sizeof reason, "the accessibility bus did not answer "
				         "within %.1f s", UIA_START_WAIT_MS / 1000.0);
		}
		log_set_level(level);
		if (rc != 0)
			goto fail;
		if (u == NULL) {
			if (!o->force) {
				rc = util_fail(cause, -ENOTSUP, "the UI elements recorded in %s cannot be "
				               "checked: %s; nothing was replayed: replay where the "
				               "accessibility bus answers (as the recorder reads elements), "
				               "or pass --force to replay without the check", o->dir,
				               reason);
				goto fail;
			}
			if (o->warnings != NULL)
				fprintf(o->warnings, "mimic: warning: the UI elements recorded in %s are not "
				        "checked: %s (--force)\n", o->dir, reason);
		}
	}
	agent_screen_size(a, &w, &h);
	for (size_t i = 0; i < s->n; i++) {
		const struct steps_step *st = &s->v[i];
		json_t *res = NULL;
		const char *err;
		/* What the progress line says of the element: "" for a step that acts on none. */
		const char *el_state = "";
		int32_t px, py;

		if (o->episode != NULL && strcmp(st->episode, o->episode) != 0)
			continue;
		if (st->screen_w > 0 && (st->screen_w != w || st->screen_h != h)) {
			rc = util_fail(cause, -ERANGE, "%s/steps.jsonl:%d: the export's screen is %dx%d, "
			               "the display's %dx%d: its coordinates would land elsewhere; replay "
			               "on a screen of the recorded size", o->dir, st->line,
			               (int)st->screen_w, (int)st->screen_h, (int)w, (int)h);
			goto fail;
		}
		if (episode == NULL || strcmp(episode, st->episode) != 0) {
			episode = st->episode;
			episodes++;
			start_ns = util_now_mono_ns();
			start_ms = st->t_ms;
		}
		if (!acts(st))
			continue;
		/* As long after the episode's start as when it was recorded, scaled. */
		int64_t due = start_ns + (int64_t)((st->t_ms - start_ms) / o->speed * 1e6);
		if (due > util_now_mono_ns())
			sleep_ns(due - util_now_mono_ns());
		if ((rc = wait_window(d, st, o->window_timeout_ms, &why)) != 0)
			goto step_failed;
		if (check_point(st, &px, &py) && u != NULL) {
			int64_t t0 = util_now_mono_ns();

			rc = wait_element(u, d, st, px, py, &next_id, o->window_timeout_ms, &what, &why);
			check_ns += util_now_mono_ns() - t0;
			checked++;
			el_state = ", element checked";
			if (rc == -ESRCH) {
				char *shown = util_escape_ctl(what);

				if (!o->force) {
					why = util_xasprintf("the element at (%d, %d) is not the one recorded "
					                     "after %.1f s: %s (--force carries on)", (int)px,
					                     (int)py, (double)o->window_timeout_ms / 1000,
					                     shown);
					free(shown);
					goto step_failed;
				}
				if (o->warnings != NULL)
					fprintf(o->warnings, "mimic: warning: %s/steps.jsonl:%d: step %lld of "
					        "episode %s (%s): %s; carried on (--force)\n", o->dir,
					        st->line, (long long)st->step, st->episode,
					        steps_action_name(st->action), shown);
				free(shown);
				differed++;
				el_state = ", element differs (--force)";
				rc = 0;
			} else if (rc != 0) {
				goto step_failed;
			}
		} else if (check_point(st, &px, &py)) {
			el_state = ", element not checked (no accessibility bus)";
		} else if (st->el_role == NULL && acts_at_point(st)) {
			el_state = ", element not checked (none recorded)";
		}
		if ((rc = agent_call(a, "computer", st->action, &res, &why)) != 0) {
			rc = -EINVAL;
			goto step_failed;
		}
		err = agent_result_error(res);
		if (err != NULL) {
			why = util_xstrdup(err);
			json_decref(res);
			rc = -ECANCELED;
			goto step_failed;
		}
		json_decref(res);
		done++;
		if (o->progress != NULL) {
			const char *text = json_string_value(json_object_get(st->action, "text"));

			/* The action without its text: a progress line shows no typed content. */
			fprintf(o->progress, "step %lld of %s: %s%s", (long long)st->step, st->episode,
			        steps_action_name(st->action), text != NULL && strcmp(
			        steps_action_name(st->action), "type") == 0 ? " (text)" : "");
			if (json_is_array(json_object_get(st->action, "coordinate")))
				fprintf(o->progress, " at (%lld, %lld)", (long long)json_integer_value(
				        json_array_get(json_object_get(st->action, "coordinate"), 0)),
				        (long long)json_integer_value(json_array_get(json_object_get(
				        st->action, "coordinate"), 1)));
			fprintf(o->progress, "%s\n", el_state);
			fflush(o->progress);
		}
		continue;
step_failed: {
			char *shown = util_escape_ctl(why ? why : "?");

			util_fail(cause, rc, "%s/steps.jsonl:%d: step %lld of episode %s (%s) was not "
			          "replayed: %s; %zu steps before it were", o->dir, st->line,
			          (long long)st->step, st->episode, steps_action_name(st->action), shown,
			          done);
			free(shown);
			goto fail;
		}
	}
	log_info("replay: %zu steps of %zu episodes carried out; %zu elements checked, %zu of "
	         "them differing (--force), %.1f ms a check on average", done, episodes, checked,
	         differed, checked > 0 ? (double)check_ns / 1e6 / (double)checked : 0.0);
	rc = 0;
fail:
	free(what);
	free(why);
	uia_stop(u);
	desktop_close(d);
	agent_close(a);
	steps_free(s);
	return rc;
}
