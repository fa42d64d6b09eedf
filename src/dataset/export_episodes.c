/*
 * export_episodes: how a session is cut into episodes (export.h): the export
 * parameters (the reducer's thresholds and the episode cuts, with their defaults
 * and the settings file's [export] section) and the episode splitter, which
 * places each action in the episode of its task marker or cuts unlabelled ones
 * at idle gaps and application switches.
 */
#include "export.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

void export_params_defaults(struct export_params *p)
{
	memset(p, 0, sizeof(*p));
	reduce_params_defaults(&p->reduce);
	p->episode_idle_ms = 120000;
	p->episode_split_app = 1;
	p->post_max_ms = 10000;
}

void export_params_from_config(const struct config_export *c, struct export_params *p)
{
	int *const field[CONFIG_EXPORT_COUNT_] = {
		[CONFIG_EXPORT_DOUBLE_CLICK_MS] = &p->reduce.double_click_ms,
		[CONFIG_EXPORT_DOUBLE_CLICK_PX] = &p->reduce.double_click_px,
		[CONFIG_EXPORT_DRAG_MIN_PX] = &p->reduce.drag_min_px,
		[CONFIG_EXPORT_TYPE_GAP_MS] = &p->reduce.type_gap_ms,
		[CONFIG_EXPORT_SCROLL_GAP_MS] = &p->reduce.scroll_gap_ms,
		[CONFIG_EXPORT_WAIT_MS] = &p->reduce.wait_ms,
		[CONFIG_EXPORT_FOCUS_FOLLOW_MS] = &p->reduce.focus_follow_ms,
		[CONFIG_EXPORT_PATH_MAX] = &p->reduce.path_max,
		[CONFIG_EXPORT_EPISODE_IDLE_MS] = &p->episode_idle_ms,
		[CONFIG_EXPORT_EPISODE_SPLIT_APP] = &p->episode_split_app,
	};

	for (int k = 0; k < CONFIG_EXPORT_COUNT_; k++) {
		if (c->set_mask & (1u << k))
			*field[k] = c->value[k];
	}
}

int export_params_check(const struct export_params *p, char **cause)
{
	int rc = reduce_params_check(&p->reduce, cause);

	if (rc != 0)
		return rc;
	if (p->episode_idle_ms <= 0)
		return util_fail(cause, -EINVAL, "episode_idle_ms must be > 0");
	if (p->post_max_ms < 0)
		return util_fail(cause, -EINVAL, "post_max_ms must be >= 0");
	return 0;
}

int export_params_json(const struct export_params *p, char *buf, size_t n)
{
	char red[512];
	int rc, len;

	if (p == NULL || buf == NULL)
		return -EINVAL;
	rc = reduce_params_json(&p->reduce, red, sizeof(red));
	if (rc != 0)
		return rc;
	len = snprintf(buf, n, "{\"reduce\":%s,\"episode_idle_ms\":%d,\"episode_split_app\":%s,"
	               "\"post_max_ms\":%d}", red, p->episode_idle_ms,
	               p->episode_split_app ? "true" : "false", p->post_max_ms);
	return len < 0 || (size_t)len >= n ? -ENOSPC : 0;
}

void export_opts_defaults(struct export_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->format = EXPORT_JSONL;
	o->image = ENCODE_PNG;
	o->shard_bytes = INT64_C(256) * 1024 * 1024;
	export_params_defaults(&o->params);
}

/* ---- episodes ---- */

void export_split_init(struct export_split *s, const struct export_params *p,
                       const struct store_task *tasks, size_t n_tasks)
{
	memset(s, 0, sizeof(*s));
	s->p = p;
	s->tasks = tasks;
	s->n_tasks = n_tasks;
	s->episode = -1;
	s->fresh = 1;
}

/* The outcome of the task started by tasks[i]: its end marker's, 0 when it has none. */
static int task_outcome(const struct export_split *s, size_t i)
{
	for (size_t j = i + 1; j < s->n_tasks; j++) {
		if (s->tasks[j].kind == STORE_TASK_END)
			return s->tasks[j].outcome;
		if (s->tasks[j].kind == STORE_TASK_START)
			break;
	}
	return STORE_TASK_NONE;
}

int64_t export_split_push(struct export_split *s, const struct reduce_action *a,
                          const char *app)
{
	int64_t t = a->t_start_ns;
	int64_t idle_ns = (int64_t)s->p->episode_idle_ms * 1000000;
	int newep = 0;

	if (app == NULL)
		app = "";
	/* Markers up to the action's start decide whether it is inside a task. */
	while (s->next < s->n_tasks && s->tasks[s->next].t_ns <= t) {
		const struct store_task *m = &s->tasks[s->next];

		if (m->kind == STORE_TASK_START) {
			s->task = m;
			s->outcome = task_outcome(s, s->next);
			s->start_ns = m->t_ns;
			s->episode++;
			s->fresh = 0;
		} else if (m->kind == STORE_TASK_END && s->task != NULL) {
			s->task = NULL;
			s->outcome = 0;
			s->fresh = 1;
		}
		s->next++;
	}
	if (s->task != NULL) {
		s->last_end_ns = a->t_end_ns;
		util_strlcpy_utf8(s->last_app, app, sizeof(s->last_app));
		return s->episode;
	}
	if (a->kind == REDUCE_WAIT && a->duration_ns >= idle_ns) {
		s->fresh = 1;
		return -1;
	}
	if (s->fresh || s->episode < 0 || t - s->last_end_ns >= idle_ns)
		newep = 1;
	else if (s->p->episode_split_app && app[0] != '\0' && s->last_app[0] != '\0' &&
	         strcmp(app, s->last_app) != 0)
		newep = 1;
	if (newep) {
		s->episode++;
		s->start_ns = t;
		s->fresh = 0;
	}
	s->last_end_ns = a->t_end_ns;
	if (app[0] != '\0')
		util_strlcpy_utf8(s->last_app, app, sizeof(s->last_app));
	return s->episode;
}
