/*
 * online: online evaluation (see online.h). The task file is judged whole
 * before anything starts, so that a typo in the last task does not show after
 * the first has run; the agent command is one process for every task, as in
 * offline evaluation.
 */
#include "online.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "desktop.h"
#include "eval.h"
#include "log.h"
#include "testbreak.h"
#include "util.h"

#define ONLINE_WINDOW_WAIT_MS 10000  /* longest wait for the application's window */
#define ONLINE_EXIT_WAIT_MS 5000     /* for the application to end after the last step */
#define ONLINE_POLL_MS 50

/* --- the task file ------------------------------------------------------------- */

void online_free(struct online_tasks *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].id);
		free(t->v[i].app);
		free(t->v[i].window);
		free(t->v[i].instruction);
		free(t->v[i].output);
		free(t->v[i].output_matches);
	}
	free(t->v);
	free(t);
}

/* A string field: NULL when absent, else its copy, or an error when not a fitting string. */
static int get_str(const json_t *o, const char *key, size_t max, int required, char **out,
                   const char **bad)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL) {
		if (required)
			*bad = "is missing";
		return required ? -EINVAL : 0;
	}
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		*bad = "must be a string within its length limit (docs/AGENTS.md)";
		return -EINVAL;
	}
	if (required && json_string_length(v) == 0) {
		*bad = "is empty";
		return -EINVAL;
	}
	*out = util_xstrdup(json_string_value(v));
	return 0;
}

static int get_int(const json_t *o, const char *key, json_int_t lo, json_int_t hi, json_int_t def,
                   json_int_t *out)
{
	const json_t *v = json_object_get(o, key);

	*out = def;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -EINVAL;
	*out = json_integer_value(v);
	return 0;
}

static int valid_id(const char *s)
{
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return 0;
	return s[0] != '\0';
}

/*
 * Whether a pattern stays small once compiled: glibc's regcomp copies the atom
 * of every `+` and `{m,n}` (m, n times), so stacked or nested repetitions of
 * a short pattern grow without bound (a fuzzer found `(((a+)+)+)...` taking
 * gigabytes). A result check needs none of that: no repetition right after
 * another, at most 4 repeated groups, at most 2 intervals, their bounds at
 * most 20. NULL when fine, else what is wrong.
 */
static const char *pattern_too_big(const char *re)
{
	int prev_quant = 0, groups = 0, intervals = 0;

	for (const char *p = re; *p; p++) {
		int quant = *p == '*' || *p == '+' || *p == '?' || *p == '{';

		if (*p == '\\' && p[1] != '\0') {
			p++;
		} else if (*p == '[') {
			/* A bracket expression: its first ']' (after an optional '^') is literal. */
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']')
				p++;
			if (*p == '\0')
				break;
		} else if (quant) {
			if (prev_quant)
				return "repeats a repetition (a++ or a*{2}): write one";
			if (p > re && p[-1] == ')' && (*p == '+' || *p == '{') && ++groups > 4)
				return "repeats more than 4 groups";
			if (*p == '{') {
				char *end;
				long lo, hi;

				if (++intervals > 2)
					return "has more than 2 intervals {m,n}";
				lo = hi = strtol(p + 1, &end, 10);
				if (*end == ',')
					hi = end[1] == '}' ? 0 : strtol(end + 1, &end, 10);
				if (lo < 0 || lo > 20 || hi < 0 || hi > 20)
					return "has an interval {m,n} outside 0 to 20";
				while (p[1] != '\0' && *p != '}')
					p++;
			}
		}
		prev_quant = quant;
	}
	return NULL;
}

static const char *const task_keys[] = { "id", "app", "window", "instruction", "max_steps",
                                         "time_limit", "success", NULL };
static const char *const success_keys[] = { "output", "output_matches", "exit_status", NULL };

/* The first key of o that is not in known, or NULL. */
static const char *unknown_key(const json_t *o, const char *const *known)
{
	const char *k;
	const json_t *v;

	json_object_foreach((json_t *)o, k, v) {
		int ok = 0;

		(void)v;
		for (size_t i = 0; known[i] != NULL && !ok; i++)
			ok = strcmp(known[i], k) == 0;
		if (!ok)
			return k;
	}
	return NULL;
}

static int parse_task(const json_t *o, struct online_task *t, const char **bad, const char **field)
{
	const json_t *s;
	json_int_t n;
	regex_t re;

	if (!json_is_object(o))
		return *bad = "must be an object", *field = "task", -EINVAL;
	if ((*field = unknown_key(o, task_keys)) != NULL)
		return *bad = "is not a field of a task (id, app, window, instruction, max_steps, "
		              "time_limit, success)", -EINVAL;
	if (get_str(o, *field = "id", ONLINE_ID_MAX, 1, &t->id, bad) != 0)
		return -EINVAL;
	if (!valid_id(t->id))
		return *bad = "may hold only letters, digits, '.', '_' and '-'", -EINVAL;
	if (get_str(o, *field = "app", ONLINE_APP_MAX, 1, &t->app, bad) != 0 ||
	    get_str(o, *field = "window", 256, 0, &t->window, bad) != 0 ||
	    get_str(o, *field = "instruction", AGENT_NOTE_MAX, 1, &t->instruction, bad) != 0)
		return -EINVAL;
	for (const char *p = t->instruction; *p; p++)
		if ((unsigned char)*p < 0x20)
			return *field = "instruction", *bad = "may not hold control characters", -EINVAL;
	if (get_int(o, *field = "max_steps", 1, ONLINE_STEPS_MAX, 20, &n) != 0)
		return *bad = "must be an integer from 1 to 1000", -EINVAL;
	t->max_steps = (int)n;
	if (get_int(o, *field = "time_limit", 1, ONLINE_SECONDS_MAX, 60, &n) != 0)
		return *bad = "must be a whole number of seconds from 1 to 3600", -EINVAL;
	t->time_limit_ms = (int64_t)n * 1000;
	*field = "success";
	s = json_object_get(o, "success");
	if (!json_is_object(s))
		return *bad = "is missing (an object with output, output_matches or exit_status)",
		       -EINVAL;
	if ((*field = unknown_key(s, success_keys)) != NULL)
		return *bad = "is not a check of success (output, output_matches, exit_status)",
		       -EINVAL;
	if (get_str(s, *field = "output", ONLINE_OUTPUT_MAX, 0, &t->output, bad) != 0 ||
	    get_str(s, *field = "output_matches", 256, 0, &t->output_matches, bad) != 0)
		return -EINVAL;
	if (t->output_matches != NULL) {
		if ((*bad = pattern_too_big(t->output_matches)) != NULL)
			return -EINVAL;
		if (regcomp(&re, t->output_matches, REG_EXTENDED | REG_NOSUB) != 0)
			return *bad = "is not a POSIX extended regular expression", -EINVAL;
		regfree(&re);
	}
	*field = "exit_status";
	if (json_object_get(s, "exit_status") != NULL) {
		if (get_int(s, "exit_status", 0, 255, 0, &n) != 0)
			return *bad = "must be an integer from 0 to 255", -EINVAL;
		t->has_exit_status = 1;
		t->exit_status = (int)n;
	}
	*field = "success";
	if (t->output == NULL && t->output_matches == NULL && !t->has_exit_status)
		return *bad = "checks nothing: give output, output_matches or exit_status", -EINVAL;
	return 0;
}

int online_parse(const char *buf, size_t len, const char *name, struct online_tasks **out,
                 char **cause)
{
	struct online_tasks *ts = util_xcalloc(1, sizeof *ts);
	json_error_t jerr;
	json_t *root, *arr;
	int rc = -EINVAL;

	*out = NULL;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* jansson's text may quote the input, newlines and all: one line, escaped. */
		char *text = util_escape_ctl(jerr.text);

		rc = util_fail(cause, -EINVAL, "%s:%d: not JSON (%s): a task file is one object "
		               "{\"tasks\": [...]} (docs/AGENTS.md)", name, jerr.line, text);
		free(text);
		goto fail;
	}
	arr = json_object_get(root, "tasks");
	if (!json_is_object(root) || !json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_object_size(root) != 1) {
		rc = util_fail(cause, -EINVAL, "%s: a task file is one object with one field, "
		               "\"tasks\", a list of 1 to %d tasks (docs/AGENTS.md)", name,
		               ONLINE_TASKS_MAX);
		goto fail;
	}
	if (json_array_size(arr) > ONLINE_TASKS_MAX) {
		rc = util_fail(cause, -EINVAL, "%s: %zu tasks, at most %d: split the file", name,
		               json_array_size(arr), ONLINE_TASKS_MAX);
		goto fail;
	}
	ts->v = util_xcalloc(json_array_size(arr), sizeof *ts->v);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const char *bad = "is wrong", *field = "task";
		struct online_task *t = &ts->v[i];

		ts->n = i + 1;
		if (parse_task(json_array_get(arr, i), t, &bad, &field) != 0) {
			/* The id too may be the wrong field (a newline in it): escaped. */
			char *f = util_escape_ctl(field), *id = util_escape_ctl(t->id ? t->id : "");

			rc = util_fail(cause, -EINVAL, "%s: task %zu%s%s%s: %s %s", name, i + 1,
			               t->id != NULL ? " (" : "", id, t->id != NULL ? ")" : "", f, bad);
			free(f);
			free(id);
			goto fail;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(ts->v[j].id, t->id) == 0) {
				rc = util_fail(cause, -EINVAL, "%s: task %zu: the id %s is task %zu's too; "
				               "ids must differ", name, i + 1, t->id, j + 1);
				goto fail;
			}
	}
	json_decref(root);
	*out = ts;
	return 0;
fail:
	json_decref(root);
	online_free(ts);
	return rc;
}

int online_load(const char *path, struct online_tasks **out, char **cause)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;
	int rc;

	*out = NULL;
	if (f == NULL)
		return util_fail(cause, -errno, "cannot read the task file %s: %s", path,
		                 strerror(errno));
	buf = util_xmalloc(ONLINE_FILE_MAX + 1);
	n = fread(buf, 1, ONLINE_FILE_MAX + 1, f);
	if (ferror(f))
		rc = util_fail(cause, -EIO, "cannot read the task file %s", path);
	else if (n > ONLINE_FILE_MAX)
		rc = util_fail(cause, -EFBIG, "%s: the task file is over %d bytes", path,
		               ONLINE_FILE_MAX);
	else
		rc = online_parse(buf, n, path, out, cause);
	fclose(f);
	free(buf);
	return rc;
}

int online_check(const struct online_task *t, const char *output, int exited, int status,
                 char **why)
{
	size_t n = strlen(output);
	char *cut = util_xstrdup(output);
	regex_t re;
	int ok = 1;

	*why = NULL;
	/* The newline(s) a program ends its output with are not part of the value. */
	while (n > 0 && (cut[n - 1] == '\n' || cut[n - 1] == '\r'))
		cut[--n] = '\0';
	if (t->has_exit_status && (!exited || status != t->exit_status)) {
		*why = exited ? util_xasprintf("the application exited with status %d, not %d",
		                               status, t->exit_status)
		              : util_xasprintf("the application did not exit by itself (status %d "
		                               "expected)", t->exit_status);
		ok = 0;
	} else if (t->output != NULL && strcmp(cut, t->output) != 0) {
		*why = util_xasprintf("the application's output (%zu bytes) is not the expected one",
		                      n);
		ok = 0;
	} else if (t->output_matches != NULL) {
		if (regcomp(&re, t->output_matches, REG_EXTENDED | REG_NOSUB) != 0) {
			ok = 0;
		} else {
			ok = regexec(&re, cut, 0, NULL, 0) == 0;
			regfree(&re);
		}
		if (!ok)
			*why = util_xasprintf("the application's output (%zu bytes) does not match "
			                      "the expected pattern", n);
	}
	free(cut);
	return ok;
}

/* --- the application ------------------------------------------------------------- */

struct app {
	pid_t pid;
	int out;                   /* its standard output, non-blocking */
	char *buf;                 /* what it printed, at most ONLINE_OUTPUT_MAX bytes */
	size_t len;
	int exited, status;        /* exited by itself, with status */
	int ended;                 /* no longer runs (exited or ended by us) */
};

static int app_start(const char *line, const char *display, struct app *p, char **cause)
{
	int fds[2];

	memset(p, 0, sizeof *p);
	p->out = -1;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return util_fail(cause, -errno, "pipe: %s", strerror(errno));
	p->pid = fork();
	if (p->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return util_fail(cause, -errno, "cannot start the application: %s", strerror(errno));
	}
	if (p->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		setpgid(0, 0);
		if (display != NULL)
			setenv("DISPLAY", display, 1);
		dup2(null, STDIN_FILENO);
		dup2(fds[1], STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(127);
	}
	setpgid(p->pid, p->pid);
	close(fds[1]);
	p->out = fds[0];
	fcntl(p->out, F_SETFL, fcntl(p->out, F_GETFL) | O_NONBLOCK);
	p->buf = util_xmalloc(ONLINE_OUTPUT_MAX + 1);
	return 0;
}

/* Reads what it printed and whether it ended; 1 when it no longer runs. */
static int app_poll(struct app *p)
{
	char sink[4096];
	int status;

	for (;;) {
		ssize_t r = p->len < ONLINE_OUTPUT_MAX
			? read(p->out, p->buf + p->len, ONLINE_OUTPUT_MAX - p->len)
			: read(p->out, sink, sizeof sink);

		if (r > 0 && p->len < ONLINE_OUTPUT_MAX)
			p->len += (size_t)r;
		if (r <= 0 && !(r < 0 && errno == EINTR))
			break;
	}
	if (!p->ended && waitpid(p->pid, &status, WNOHANG) == p->pid) {
		p->ended = 1;
		p->exited = WIFEXITED(status);
		p->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	}
	return p->ended;
}

/* Gives it ONLINE_EXIT_WAIT_MS to end, then ends its group; reads its last output. */
static void app_finish(struct app *p)
{
	int64_t deadline = util_now_mono_ns() + ONLINE_EXIT_WAIT_MS * 1000000LL;

	while (!app_poll(p) && util_now_mono_ns() < deadline)
		usleep(ONLINE_POLL_MS * 1000);
	if (!p->ended) {
		int status;

		kill(-p->pid, SIGTERM);
		for (int i = 0; i < 40 && waitpid(p->pid, &status, WNOHANG) == 0; i++)
			usleep(50000);
		kill(-p->pid, SIGKILL);
		waitpid(p->pid, &status, 0);
		p->ended = 1;
	}
	/* Children of the shell that outlive it would hold the pipe: read what is there. */
	kill(-p->pid, SIGKILL);
	app_poll(p);
	p->buf[p->len] = '\0';
	close(p->out);
	p->out = -1;
}

static void app_free(struct app *p)
{
	if (p->out >= 0)
		close(p->out);
	free(p->buf);
}

/* --- a task ----------------------------------------------------------------------- */

struct want_window {
	const char *cls;
	int found;
};

static void each_window(void *arg, const struct desktop_window *w)
{
	struct want_window *ww = arg;

	if (w->has_class && strcmp(w->class_name, ww->cls) == 0)
		ww->found = 1;
}

/*
 * Waits until the application's window is there (when the task names its class)
 * and the recorder would carry out keys (it sees an in-scope window focused), at
 * most ONLINE_WINDOW_WAIT_MS: an agent should not lose steps to a window that
 * is still mapping. Not being ready in time is not an error: the agent sees
 * the screen as it is.
 */
static void wait_ready(struct agent *a, struct desktop *d, const struct online_task *t,
                       struct app *p)
{
	struct want_window ww = { .cls = t->window, .found = t->window == NULL };
	int64_t deadline = util_now_mono_ns() + ONLINE_WINDOW_WAIT_MS * 1000000LL;

	while (util_now_mono_ns() < deadline && !app_poll(p)) {
		if (!ww.found && desktop_dispatch(d, 1) >= 0)
			desktop_read(d, each_window, &ww);
		if (ww.found && agent_ready(a, 1))
			return;
		usleep(ONLINE_POLL_MS * 1000);
	}
}

/* Writes the PNG of a screenshot to path; 0 or -1. */
static int write_png(const char *path, const uint8_t *png, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(png, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/*
 * Runs one task: returns 0 with *row (its line of the report), or a negative
 * error with *cause when the agent command failed (which ends the evaluation).
 */
static int run_task(const struct online_opts *o, struct agent *a, struct desktop *d,
                    struct eval_cmd *cmd, const struct online_task *t, const char *dir,
                    json_t **row, char **cause)
{
	struct app p;
	json_t *history = json_array();
	char *png_path = util_xasprintf("%s/screen.png", dir), *last = NULL, *why = NULL;
	const char *ended = NULL;
	int64_t t0 = util_now_mono_ns(), elapsed = 0;
	int32_t w, h;
	int steps = 0, refused = 0, invalid = 0, rc, ok;

	*row = NULL;
	agent_screen_size(a, &w, &h);
	if ((rc = app_start(t->app, o->display, &p, cause)) != 0)
		goto fail;
	wait_ready(a, d, t, &p);
	/* The run is an episode with the instruction as its task, from its first turn. */
	agent_task_start(a, t->instruction);
	for (;;) {
		const uint8_t *png = NULL;
		size_t png_len = 0;
		char *line, *ans = NULL, *err = NULL;
		json_t *obs, *act, *res = NULL;
		const char *name;

		elapsed = util_now_mono_ns() - t0;
		if (app_poll(&p)) {
			ended = "app_exited";
			break;
		}
		if (steps >= t->max_steps) {
			ended = "step_limit";
			break;
		}
		if (elapsed >= t->time_limit_ms * 1000000LL) {
			ended = "time_limit";
			break;
		}
		if (agent_screenshot(a, &png, &png_len, &err) != 0) {
			log_warn("online: no screenshot: %s", err ? err : "?");
			png = NULL;
		}
		free(err);
		err = NULL;
		if (png != NULL && write_png(png_path, png, png_len) != 0)
			png = NULL;
		obs = json_pack("{s:s, s:s, s:i, s:i, s:f, s:O, s:s?, s:[i,i], s:s?}",
		                "task_id", t->id, "task", t->instruction, "step", steps,
		                "steps_left", t->max_steps - steps, "seconds_left",
		                (double)(t->time_limit_ms * 1000000LL - elapsed) / 1e9,
		                "history", history, "last_result", last, "screen", (int)w, (int)h,
		                "image", png != NULL ? png_path : NULL);
		line = json_dumps(obs, JSON_COMPACT);
		json_decref(obs);
		rc = eval_cmd_ask(cmd, line, o->timeout_ms, &ans, cause);
		free(line);
		if (rc != 0)
			goto fail;
		free(last);
		last = NULL;
		act = json_loads(ans, JSON_REJECT_DUPLICATES, NULL);
		free(ans);
		name = json_string_value(json_object_get(act, "action"));
		if (json_is_object(act) && name != NULL && strcmp(name, "done") == 0) {
			json_decref(act);
			ended = "done";
			break;
		}
		steps++;
		if (!json_is_object(act)) {
			last = util_xstrdup("invalid: the answer is not a JSON object with an action");
			invalid++;
			json_decref(act);
			continue;
		}
		json_object_set_new(act, "task", json_string(t->instruction));
		if (agent_call(a, "computer", act, &res, &err) != 0) {
			last = util_xasprintf("invalid: %s", err ? err : "not an action");
			invalid++;
		} else if (agent_result_error(res) != NULL) {
			last = util_xstrdup(agent_result_error(res));
			refused++;
		} else {
			last = util_xstrdup("ok");
			json_object_del(act, "task");
			json_array_append(history, act);
		}
		free(err);
		json_decref(res);
		json_decref(act);
	}
	app_finish(&p);
	ok = online_check(t, p.buf, p.exited, p.status, &why) || testbreak("online-check-ignored");
	{
		char *e = NULL;

		if (agent_task_end(a, ok, &e) != 0)
			log_warn("online: the task was not ended on the recorder: %s", e ? e : "?");
		free(e);
	}
	*row = json_pack("{s:s, s:b, s:i, s:s, s:i, s:i, s:f, s:s?}", "id", t->id, "success", ok,
	                 "steps", steps, "ended", ended, "refused", refused, "invalid", invalid,
	                 "seconds", (double)(util_now_mono_ns() - t0) / 1e9, "why", why);
	if (p.exited)
		json_object_set_new(*row, "exit_status", json_integer(p.status));
	else
		json_object_set_new(*row, "exit_status", json_null());
	rc = 0;
	app_free(&p);
	goto done;
fail:
	if (p.pid > 0) {
		app_finish(&p);
		app_free(&p);
	}
done:
	free(why);
	free(last);
	free(png_path);
	json_decref(history);
	return rc;
}

int online_run(const struct online_opts *o, json_t **report, char **cause)
{
	struct online_tasks *ts = NULL;
	struct agent *a = NULL;
	struct desktop *d = NULL;
	struct eval_cmd cmd = { .pid = 0, .to = -1, .from = -1 };
	struct agent_opts ao = { .display = o->display, .policy_path = o->policy_path,
	                         .handback_idle_ms = AGENT_HANDBACK_IDLE_MS };
	const char *tmp = getenv("TMPDIR");
	char *dirp = NULL;
	json_t *rows = json_array();
	size_t done = 0, passed = 0;
	int rc, failed = 1;

	*report = NULL;
	if ((rc = online_load(o->tasks_path, &ts, cause)) != 0)
		goto fail;
	if (o->only != NULL) {
		size_t i;

		for (i = 0; i < ts->n && strcmp(ts->v[i].id, o->only) != 0; i++)
			;
		if (i == ts->n) {
			rc = util_fail(cause, -EINVAL, "%s: no task '%s' (its first is '%s')",
			               o->tasks_path, o->only, ts->v[0].id);
			goto fail;
		}
	}
	/* A private folder for the screenshots the agent reads (mode 0700). */
	dirp = util_xasprintf("%s/mimic-online-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(dirp) == NULL) {
		rc = util_fail(cause, -errno, "cannot make a private folder for screenshots (%s): %s",
		               dirp, strerror(errno));
		free(dirp);
		dirp = NULL;
		goto fail;
	}
	if ((rc = agent_open(&ao, &a, cause)) != 0 ||
	    (rc = desktop_open(o->display, &d, cause)) != 0 ||
	    (rc = eval_cmd_start(o->agent, &cmd, cause)) != 0)
		goto fail;
	for (size_t i = 0; i < ts->n; i++) {
		json_t *row = NULL;

		if (o->only != NULL && strcmp(ts->v[i].id, o->only) != 0)
			continue;
		if ((rc = run_task(o, a, d, &cmd, &ts->v[i], dirp, &row, cause)) != 0)
			goto fail;
		done++;
		passed += json_is_true(json_object_get(row, "success"));
		if (o->progress != NULL) {
			fprintf(o->progress, "task %s: %s in %d steps (%s)\n", ts->v[i].id,
			        json_is_true(json_object_get(row, "success")) ? "success" : "failed",
			        (int)json_integer_value(json_object_get(row, "steps")),
			        json_string_value(json_object_get(row, "ended")));
			fflush(o->progress);
		}
		json_array_append_new(rows, row);
	}
	failed = 0;
	*report = json_pack("{s:s, s:s, s:O, s:{s:i, s:i, s:f}}", "agent", o->agent, "tasks_file",
	                    o->tasks_path, "tasks", rows, "overall", "tasks", (int)done, "success",
	                    (int)passed, "success_rate", done > 0 ? (double)passed / done : 0.0);
	rc = 0;
fail:
	if (cmd.pid > 0 && eval_cmd_end(&cmd, failed) != 0 && rc == 0)
		log_info("online: the agent command did not exit with status 0");
	json_decref(rows);
	desktop_close(d);
	agent_close(a);
	if (dirp != NULL) {
		char *png = util_xasprintf("%s/screen.png", dirp);

		unlink(png);
		free(png);
		rmdir(dirp);
		free(dirp);
	}
	online_free(ts);
	return rc;
}

void online_print(const json_t *r, FILE *f)
{
	const json_t *rows = json_object_get(r, "tasks"), *ov = json_object_get(r, "overall"), *row;
	size_t i;

	fprintf(f, "%-24s %-8s %6s  %-11s %s\n", "task", "result", "steps", "ended", "why");
	json_array_foreach(rows, i, row) {
		const char *why = json_string_value(json_object_get(row, "why"));

		fprintf(f, "%-24s %-8s %6d  %-11s %s\n",
		        json_string_value(json_object_get(row, "id")),
		        json_is_true(json_object_get(row, "success")) ? "success" : "failed",
		        (int)json_integer_value(json_object_get(row, "steps")),
		        json_string_value(json_object_get(row, "ended")), why != NULL ? why : "");
	}
	fprintf(f, "overall: %d of %d tasks succeeded (%.1f %%)\n",
	        (int)json_integer_value(json_object_get(ov, "success")),
	        (int)json_integer_value(json_object_get(ov, "tasks")),
	        100.0 * json_real_value(json_object_get(ov, "success_rate")));
}
