/*
 * online: `mimic eval --online TASKS --agent COMMAND` (docs/AGENTS.md, "Online
 * evaluation"): an agent is evaluated by doing tasks on the live desktop. A
 * task file (JSON) names, per task, the application to start, the instruction
 * given to the agent, a step and a time limit and the check of success (the
 * application's printed output equal to a text or matching a pattern, its
 * exit status). Each task's application is started, the agent command is
 * given a live screenshot each turn and answers one action, which is carried
 * out through the agent server's own path (agent.h), until it answers done,
 * a limit is reached or the application ends; then the check decides.
 *
 * Every task is an agent run of the running recorder, an episode whose task is
 * the instruction, ended with the check's outcome: the run exports as
 * evaluation and training data like any other.
 */
#ifndef MIMIC_ONLINE_H
#define MIMIC_ONLINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Bounds of a task file (docs/AGENTS.md): its size and every field's. */
#define ONLINE_FILE_MAX (1024 * 1024)
#define ONLINE_TASKS_MAX 100
#define ONLINE_ID_MAX 64
#define ONLINE_APP_MAX 4096
#define ONLINE_OUTPUT_MAX (64 * 1024)  /* of an expected output, and of an output read */
#define ONLINE_STEPS_MAX 1000
#define ONLINE_SECONDS_MAX 3600

struct online_task {
	char *id;                  /* [A-Za-z0-9._-], unique in the file */
	char *app;                 /* the command line that starts the application (sh -c) */
	char *window;              /* the WM_CLASS class of its window (waited for), or NULL */
	char *instruction;         /* what the agent is told to do; the episode's task */
	int max_steps;             /* actions the agent may take */
	int64_t time_limit_ms;     /* from the application's start */
	char *output;              /* success: the output (trailing newlines cut) equals this */
	char *output_matches;      /* success: the output matches this POSIX extended regex */
	int has_exit_status;
	int exit_status;           /* success: the application exited with this status */
};

struct online_tasks {
	struct online_task *v;
	size_t n;
};

/*
 * Parses a task file's text (buf, len bytes, not NUL-terminated; name is how
 * errors name it). 0 with *out, or -EINVAL with a one-line *cause naming the
 * file, the task (its index and id) and the field that is wrong.
 */
int online_parse(const char *buf, size_t len, const char *name, struct online_tasks **out,
                 char **cause);

/* Reads and parses a task file (at most ONLINE_FILE_MAX bytes). */
int online_load(const char *path, struct online_tasks **out /* OUT */, char **cause);

void online_free(struct online_tasks *t);

/*
 * Whether an application's output and exit status (exited 0 when it was ended
 * by mimic, status then ignored) pass a task's check; when not, *why (malloc'ed)
 * says what differed, without the output itself.
 */
int online_check(const struct online_task *t, const char *output, int exited, int status,
                 char **why /* OUT */);

struct online_opts {
	const char *tasks_path;    /* the task file */
	const char *agent;         /* the agent command line (sh -c) */
	const char *only;          /* NULL: every task; else the id of one */
	const char *display;       /* NULL: $DISPLAY */
	const char *policy_path;   /* as `mimic agent serve --policy` */
	int64_t timeout_ms;        /* longest wait for one answer of the agent */
	FILE *progress;            /* one line per task done; NULL: none */
};

/*
 * Runs the tasks. 0 with *report (agent, tasks file, per task: id, success,
 * steps, how it ended, why it failed; overall: tasks, success, success_rate),
 * or a negative error with a one-line *cause: a bad task file, no recorder, an
 * agent command that could not start, died or did not answer in time.
 */
int online_run(const struct online_opts *o, json_t **report /* OUT */, char **cause);

/* Writes the report as a readable table. */
void online_print(const json_t *report, FILE *f);

#endif
