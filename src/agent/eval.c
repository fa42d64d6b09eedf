/*
 * eval: offline evaluation of an agent on an export (see eval.h). The agent
 * sees only what the export holds before the step (never the recorded action,
 * except the oracle, whose whole point is to show that the scoring gives a
 * perfect answer 100 %).
 */
#include "eval.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "steps.h"
#include "util.h"

/* --- the random agent ----------------------------------------------------------- */

static uint64_t next_rand(uint64_t *s)
{
	/* xorshift64*: reproducible for a seed, which is all the floor needs. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static json_t *random_xy(uint64_t *s, int32_t w, int32_t h)
{
	return json_pack("[I, I]", (json_int_t)(next_rand(s) % (uint64_t)w),
	                 (json_int_t)(next_rand(s) % (uint64_t)h));
}

/* A random action of the computer-use space on a w x h screen. */
static json_t *random_action(uint64_t *s, int32_t w, int32_t h)
{
	static const char *const names[] = {
		"left_click", "right_click", "middle_click", "double_click", "triple_click",
		"mouse_move", "left_click_drag", "scroll", "type", "key", "wait",
	};
	static const char *const keys[] = { "Return", "Tab", "Escape", "BackSpace", "Up", "Down",
	                                    "ctrl+s", "ctrl+c", "ctrl+v", "alt+Tab" };
	static const char *const dirs[] = { "up", "down", "left", "right" };
	const char *name = names[next_rand(s) % (sizeof names / sizeof names[0])];
	json_t *a = json_pack("{s:s}", "action", name);

	if (strcmp(name, "type") == 0) {
		char text[9];
		size_t n = 1 + next_rand(s) % 8;

		for (size_t i = 0; i < n; i++)
			text[i] = (char)('a' + next_rand(s) % 26);
		text[n] = '\0';
		json_object_set_new(a, "text", json_string(text));
	} else if (strcmp(name, "key") == 0) {
		json_object_set_new(a, "text", json_string(keys[next_rand(s) % 10]));
	} else if (strcmp(name, "wait") == 0) {
		json_object_set_new(a, "duration", json_integer((json_int_t)(1 + next_rand(s) % 5)));
	} else {
		if (strcmp(name, "left_click_drag") == 0)
			json_object_set_new(a, "start_coordinate", random_xy(s, w, h));
		json_object_set_new(a, "coordinate", random_xy(s, w, h));
		if (strcmp(name, "scroll") == 0) {
			json_object_set_new(a, "scroll_direction", json_string(dirs[next_rand(s) % 4]));
			json_object_set_new(a, "scroll_amount", json_integer(
			                    (json_int_t)(1 + next_rand(s) % 5)));
		}
	}
	return a;
}

/* --- an agent command ------------------------------------------------------------ */

int eval_cmd_start(const char *line, struct eval_cmd *c, char **cause)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };

	memset(c, 0, sizeof *c);
	c->to = c->from = -1;
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
		goto fail;
	c->pid = fork();
	if (c->pid < 0)
		goto fail;
	if (c->pid == 0) {
		/* A group of its own, so that a command that failed goes with its children. */
		setpgid(0, 0);
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
	setpgid(c->pid, c->pid);
	close(in[0]);
	close(out[1]);
	c->to = in[1];
	c->from = out[0];
	c->buf = util_xmalloc(EVAL_LINE_MAX + 1);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return util_fail(cause, -errno, "cannot start the agent command: %s", strerror(errno));
}

/*
 * Closes its input and waits for it to end (killed after 5 s, or at once with
 * its group when it failed); its exit status, or -1.
 */
int eval_cmd_end(struct eval_cmd *c, int failed)
{
	int status = 0, waited = 0;

	if (c->to >= 0)
		close(c->to);
	if (c->from >= 0)
		close(c->from);
	free(c->buf);
	c->to = c->from = -1;
	c->buf = NULL;
	if (c->pid <= 0)
		return -1;
	if (failed)
		kill(-c->pid, SIGTERM);
	for (int i = 0; i < 100 && (waited = (int)waitpid(c->pid, &status, WNOHANG)) == 0; i++)
		usleep(50000);
	if (waited == 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, &status, 0);
	}
	c->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Sends one line and reads the answer line (malloc'ed, without newline) into *ans. */
int eval_cmd_ask(struct eval_cmd *c, const char *line, int64_t timeout_ms, char **ans,
                 char **cause)
{
	size_t n = strlen(line), off = 0;
	int64_t deadline = util_now_mono_ns() + timeout_ms * 1000000LL;

	*ans = NULL;
	while (off < n + 1) {
		ssize_t r = off < n ? write(c->to, line + off, n - off) : write(c->to, "\n", 1);

		if (r < 0 && errno == EINTR)
			continue;
		/*
		 * A command that wrote its answers ahead and ended has closed its input: what
		 * it wrote is still read below, and only its absence is the error.
		 */
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		int64_t left = (deadline - util_now_mono_ns()) / 1000000;
		struct pollfd p = { .fd = c->from, .events = POLLIN };
		ssize_t r;

		if (nl != NULL) {
			size_t k = (size_t)(nl - c->buf);

			*ans = util_xmalloc(k + 1);
			memcpy(*ans, c->buf, k);
			(*ans)[k] = '\0';
			memmove(c->buf, nl + 1, c->len - k - 1);
			c->len -= k + 1;
			return 0;
		}
		if (c->len >= EVAL_LINE_MAX)
			return util_fail(cause, -E2BIG, "the agent command's answer is over %d bytes "
			                 "without a newline", EVAL_LINE_MAX);
		if (left <= 0)
			return util_fail(cause, -ETIMEDOUT, "the agent command did not answer within "
			                 "%.0f s (one JSON line per observation; --timeout)",
			                 (double)timeout_ms / 1000);
		if (poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left) < 0 && errno != EINTR)
			return util_fail(cause, -errno, "poll: %s", strerror(errno));
		if (!(p.revents & (POLLIN | POLLHUP)))
			continue;
		r = read(c->from, c->buf + c->len, EVAL_LINE_MAX - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return util_fail(cause, -EPIPE, "the agent command ended without answering");
		c->len += (size_t)r;
	}
}

/* --- scoring ---------------------------------------------------------------------- */

/* Whether a predicted point counts for the recorded one: in the element's box, or near. */
static int point_ok(const json_t *rec, const json_t *pred, const struct steps_step *st,
                    int use_box, int32_t tol)
{
	json_int_t rx = json_integer_value(json_array_get(rec, 0));
	json_int_t ry = json_integer_value(json_array_get(rec, 1));
	json_int_t px, py;

	if (!json_is_array(pred) || json_array_size(pred) != 2 ||
	    !json_is_integer(json_array_get(pred, 0)) || !json_is_integer(json_array_get(pred, 1)))
		return 0;
	px = json_integer_value(json_array_get(pred, 0));
	py = json_integer_value(json_array_get(pred, 1));
	/* The box decides only when the recorded point is in it (a box that moved says nothing). */
	if (use_box && st->has_box && rx >= st->box[0] && ry >= st->box[1] &&
	    rx < st->box[0] + st->box[2] && ry < st->box[1] + st->box[3])
		return px >= st->box[0] && py >= st->box[1] && px < st->box[0] + st->box[2] &&
		       py < st->box[1] + st->box[3];
	return llabs(px - rx) <= tol && llabs(py - ry) <= tol;
}

static int same_string(const json_t *a, const json_t *b)
{
	const char *x = json_string_value(a), *y = json_string_value(b);

	if (x == NULL || y == NULL || x[0] == '\0' || y[0] == '\0')
		return (x == NULL || x[0] == '\0') && (y == NULL || y[0] == '\0');
	return strcmp(x, y) == 0;
}

/* Whether the arguments of a prediction of the same action match the recorded ones. */
static int args_ok(const struct steps_step *st, const json_t *pred, int32_t tol)
{
	const json_t *rec = st->action;
	const char *name = steps_action_name(rec);

	if (json_object_get(rec, "start_coordinate") != NULL &&
	    !point_ok(json_object_get(rec, "start_coordinate"),
	              json_object_get(pred, "start_coordinate"), st, 1, tol))
		return 0;
	if (json_object_get(rec, "coordinate") != NULL &&
	    !point_ok(json_object_get(rec, "coordinate"), json_object_get(pred, "coordinate"), st,
	              strcmp(name, "left_click_drag") != 0, tol))
		return 0;
	if (strcmp(name, "scroll") == 0 && !same_string(json_object_get(rec, "scroll_direction"),
	                                                json_object_get(pred, "scroll_direction")))
		return 0;
	/* Typed text, keys, and the modifiers held on a click or scroll: equal. */
	if (strcmp(name, "wait") != 0 &&
	    !same_string(json_object_get(rec, "text"), json_object_get(pred, "text")))
		return 0;
	return 1;
}

/* --- counting ---------------------------------------------------------------------- */

struct tally {
	char name[64];
	long steps, action, args, success, invalid;
};

struct tallies {
	struct tally *v;
	size_t n;
};

static struct tally *tally_of(struct tallies *t, const char *name)
{
	char key[64];

	util_strlcpy_utf8(key, name != NULL ? name : "unknown", sizeof key);
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, key) == 0)
			return &t->v[i];
	t->v = util_xrealloc(t->v, (t->n + 1) * sizeof *t->v);
	memset(&t->v[t->n], 0, sizeof t->v[0]);
	memcpy(t->v[t->n].name, key, sizeof key);
	return &t->v[t->n++];
}

static void count(struct tally *t, int invalid, int action, int args)
{
	t->steps++;
	t->invalid += invalid;
	t->action += action;
	t->args += action && args;
	t->success += action && args;
}

static json_t *tally_json(const struct tally *t)
{
	double n = t->steps > 0 ? (double)t->steps : 1;

	return json_pack("{s:I, s:I, s:I, s:I, s:f, s:f}", "steps", (json_int_t)t->steps,
	                 "action_match", (json_int_t)t->action, "success", (json_int_t)t->success,
	                 "invalid", (json_int_t)t->invalid, "action_accuracy", t->action / n,
	                 "success_rate", t->success / n);
}

static json_t *tallies_json(const struct tallies *t)
{
	json_t *o = json_object();

	for (size_t i = 0; i < t->n; i++)
		json_object_set_new(o, t->v[i].name, tally_json(&t->v[i]));
	return o;
}

/* --- the run ------------------------------------------------------------------------- */

/*
 * The observation of step st (a new object): what the export holds before the
 * action. A WebDataset step's image is copied out of its shard into tmp (made
 * on first use) as *extracted, which the caller removes after the answer.
 */
static json_t *observation(const struct steps_step *st, const char *root, json_t *history,
                           char **tmp, char **extracted)
{
	json_t *o = json_pack("{s:s, s:I, s:s?, s:s?, s:s?, s:O}", "episode", st->episode,
	                      "step", (json_int_t)st->step, "task", st->task, "app", st->app,
	                      "window_title", st->window_title, "history", history);

	if (st->screen_w > 0)
		json_object_set_new(o, "screen", json_pack("[i, i]", st->screen_w, st->screen_h));
	else
		json_object_set_new(o, "screen", json_null());
	if (st->image_tar != NULL && *tmp == NULL) {
		const char *t = getenv("TMPDIR");
		char *dir = util_xasprintf("%s/mimic-eval-XXXXXX", t != NULL && t[0] != '\0' ? t :
		                           "/tmp");

		if (mkdtemp(dir) != NULL)
			*tmp = dir;
		else
			free(dir);
	}
	if (st->image_tar != NULL && *tmp != NULL) {
		char *p = util_xasprintf("%s/%s", *tmp, st->image_pre);
		char *cause = NULL;

		if (steps_extract_image(st, p, &cause) == 0) {
			json_object_set_new(o, "image", json_string(p));
			*extracted = p;
		} else {
			json_object_set_new(o, "image", json_null());
			free(p);
		}
		free(cause);
	} else if (st->image_pre != NULL && st->image_tar == NULL) {
		char *p = util_xasprintf("%s/%s", root, st->image_pre);

		json_object_set_new(o, "image", json_string(p));
		free(p);
	} else {
		json_object_set_new(o, "image", json_null());
	}
	return o;
}

int eval_run(const struct eval_opts *o, json_t **report, char **cause)
{
	struct steps *s = NULL;
	struct tallies kinds = { 0 }, inter = { 0 };
	struct tally all = { .name = "overall" };
	struct eval_cmd c = { .pid = 0, .to = -1, .from = -1 };
	json_t *history = NULL;
	const char *episode = NULL;
	char *root = NULL, *tmp = NULL;
	uint64_t rng = o->seed != 0 ? o->seed : 1;
	int is_oracle = strcmp(o->agent, "oracle") == 0, is_random = strcmp(o->agent, "random") == 0;
	long episodes = 0;
	int rc;

	*report = NULL;
	if ((rc = steps_load(o->dir, &s, cause)) != 0)
		goto fail;
	root = realpath(o->dir, NULL);
	if (root == NULL) {
		rc = util_fail(cause, -errno, "%s: %s", o->dir, strerror(errno));
		goto fail;
	}
	if (!is_oracle && !is_random && (rc = eval_cmd_start(o->agent, &c, cause)) != 0)
		goto fail;
	for (size_t i = 0; i < s->n; i++) {
		const struct steps_step *st = &s->v[i];
		json_t *pred = NULL;
		int invalid = 0, action = 0, args = 0;

		if (o->episode != NULL && strcmp(st->episode, o->episode) != 0)
			continue;
		if (episode == NULL || strcmp(episode, st->episode) != 0) {
			episode = st->episode;
			episodes++;
			json_decref(history);
			history = json_array();
		}
		if (st->action == NULL)
			continue;      /* a window switch nobody acted for: nothing to predict */
		if (is_oracle) {
			pred = json_deep_copy(st->action);
		} else if (is_random) {
			pred = random_action(&rng, st->screen_w > 0 ? st->screen_w : 1920,
			                     st->screen_h > 0 ? st->screen_h : 1080);
		} else {
			char *extracted = NULL;
			json_t *obs = observation(st, root, history, &tmp, &extracted);
			char *line = json_dumps(obs, JSON_COMPACT), *ans = NULL;

			json_decref(obs);
			rc = eval_cmd_ask(&c, line, o->timeout_ms, &ans, cause);
			free(line);
			if (extracted != NULL)
				unlink(extracted);
			free(extracted);
			if (rc != 0)
				goto fail;
			pred = json_loads(ans, 0, NULL);
			free(ans);
		}
		/* An answer that is not a valid action is wrong, and counted as invalid. */
		if (steps_check_action(pred, 0, 0, NULL) != 0) {
			invalid = 1;
		} else {
			action = strcmp(steps_action_name(pred), steps_action_name(st->action)) == 0;
			args = action && args_ok(st, pred, o->tolerance_px);
		}
		json_decref(pred);
		count(&all, invalid, action, args);
		count(tally_of(&kinds, st->kind), invalid, action, args);
		count(tally_of(&inter, st->interaction), invalid, action, args);
		json_array_append(history, st->action);
	}
	if (all.steps == 0) {
		if (o->episode != NULL)
			rc = util_fail(cause, -EINVAL, "no episode '%s' with actions in %s/steps.jsonl",
			               o->episode, o->dir);
		else
			rc = util_fail(cause, -EINVAL, "%s/steps.jsonl has no step with an action",
			               o->dir);
		goto fail;
	}
	if (c.pid > 0 && eval_cmd_end(&c, 0) != 0)
		fprintf(stderr, "mimic: the agent command did not exit with status 0\n");
	*report = json_pack("{s:s, s:s, s:I, s:i, s:o, s:o, s:o}",
	                    "agent", is_oracle ? "oracle" : is_random ? "random" : "command",
	                    "export", o->dir, "episodes", (json_int_t)episodes,
	                    "tolerance_px", (int)o->tolerance_px, "overall", tally_json(&all),
	                    "by_kind", tallies_json(&kinds), "by_interaction", tallies_json(&inter));
	rc = 0;
fail:
	if (c.pid > 0 || c.buf != NULL)
		eval_cmd_end(&c, 1);
	if (tmp != NULL)
		rmdir(tmp);
	free(tmp);
	json_decref(history);
	free(kinds.v);
	free(inter.v);
	free(root);
	steps_free(s);
	return rc;
}

static void print_rows(FILE *f, const char *title, const json_t *by)
{
	const char *name;
	const json_t *t;

	fprintf(f, "%-20s %6s %9s %9s %8s\n", title, "steps", "action", "success", "invalid");
	json_object_foreach((json_t *)by, name, t)
		fprintf(f, "%-20s %6lld %8.1f%% %8.1f%% %8lld\n", name,
		        (long long)json_integer_value(json_object_get(t, "steps")),
		        100 * json_real_value(json_object_get(t, "action_accuracy")),
		        100 * json_real_value(json_object_get(t, "success_rate")),
		        (long long)json_integer_value(json_object_get(t, "invalid")));
}

void eval_print(const json_t *r, FILE *f)
{
	const json_t *all = json_object_get(r, "overall");

	fprintf(f, "agent %s on %s: %lld steps of %lld episodes (a point counts inside the "
	        "element's box, else within %lld px)\n\n",
	        json_string_value(json_object_get(r, "agent")),
	        json_string_value(json_object_get(r, "export")),
	        (long long)json_integer_value(json_object_get(all, "steps")),
	        (long long)json_integer_value(json_object_get(r, "episodes")),
	        (long long)json_integer_value(json_object_get(r, "tolerance_px")));
	print_rows(f, "kind", json_object_get(r, "by_kind"));
	fputc('\n', f);
	print_rows(f, "interaction", json_object_get(r, "by_interaction"));
	fputc('\n', f);
	fprintf(f, "%-20s %6lld %8.1f%% %8.1f%% %8lld\n", "overall",
	        (long long)json_integer_value(json_object_get(all, "steps")),
	        100 * json_real_value(json_object_get(all, "action_accuracy")),
	        100 * json_real_value(json_object_get(all, "success_rate")),
	        (long long)json_integer_value(json_object_get(all, "invalid")));
}
