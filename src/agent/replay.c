/*
 * replay: `mimic replay` (see replay.h). Everything that can be judged from the
 * export alone (its steps, the episode asked for, redacted text) is judged
 * before the agent's devices exist, so that a bad export does nothing at all.
 */
#include "replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "desktop.h"
#include "log.h"
#include "steps.h"
#include "util.h"

#define REPLAY_POLL_MS 50

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
		if (desktop_dispatch(d) < 0 || desktop_read(d, each_window, &t) < 0)
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
	struct agent_opts ao = { .display = o->display, .policy_path = o->policy_path,
	                         .handback_idle_ms = AGENT_HANDBACK_IDLE_MS };
	const char *episode = NULL;
	int64_t start_ns = 0;
	double start_ms = 0;
	int32_t w, h;
	size_t done = 0, episodes = 0;
	char *why = NULL;
	int rc;

	if ((rc = steps_load(o->dir, &s, cause)) != 0 || (rc = check_export(o, s, cause)) != 0)
		goto fail;
	if ((rc = agent_open(&ao, &a, cause)) != 0 ||
	    (rc = desktop_open(o->display, &d, cause)) != 0)
		goto fail;
	agent_screen_size(a, &w, &h);
	for (size_t i = 0; i < s->n; i++) {
		const struct steps_step *st = &s->v[i];
		json_t *res = NULL;
		const char *err;

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
			fputc('\n', o->progress);
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
	log_info("replay: %zu steps of %zu episodes carried out", done, episodes);
	rc = 0;
fail:
	free(why);
	desktop_close(d);
	agent_close(a);
	steps_free(s);
	return rc;
}
