/*
 * eval: `mimic eval EXPORT_DIR --agent oracle|random|CMD` (docs/AGENTS.md,
 * "Evaluation"): offline evaluation of a computer-use agent on an export. For
 * each step with an action, the agent is given the observation (the pre-action
 * screenshot's path, the task, the window's application and title, the screen's
 * size and the episode's actions so far) and answers one action in the
 * computer-use form; it is scored against the recorded action: same action,
 * the point inside the recorded element's box (or within the tolerance), the
 * text equal. The report counts each criterion overall, per action kind and per
 * interaction type.
 *
 * Agents: "oracle" answers the recorded action (it must score 100 %), "random"
 * a random action of the same space (the floor), anything else is a command
 * run with /bin/sh -c that reads one observation per line on stdin and writes
 * one action per line on stdout (the protocol is in docs/AGENTS.md).
 */
#ifndef MIMIC_EVAL_H
#define MIMIC_EVAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct eval_opts {
	const char *dir;           /* the export's folder (steps.jsonl, images/) */
	const char *agent;         /* "oracle", "random" or a command line */
	const char *episode;       /* NULL: every episode */
	int32_t tolerance_px;      /* a point counts within this many pixels (no element box) */
	uint64_t seed;             /* of the random agent */
	int64_t timeout_ms;        /* longest wait for a command's answer */
};

#define EVAL_TOLERANCE_PX 10
#define EVAL_TIMEOUT_MS 60000
/* Longest answer line of an agent command, in bytes. */
#define EVAL_LINE_MAX (1024 * 1024)

/*
 * An agent command (offline and online evaluation speak to it alike): run with
 * /bin/sh -c in a process group of its own, one JSON line in, one line out.
 */
struct eval_cmd {
	int pid;
	int to, from;              /* its stdin, its stdout */
	char *buf;                 /* what it wrote that is not yet a whole line */
	size_t len;
};

/* Starts the command line; 0 or a negative error with *cause. */
int eval_cmd_start(const char *line, struct eval_cmd *c /* OUT */, char **cause);

/*
 * Sends line (without newline) and reads the answer line (malloc'ed, without
 * its newline) into *ans, waiting at most timeout_ms: 0, or -EPIPE (it ended),
 * -ETIMEDOUT, -E2BIG (a line over EVAL_LINE_MAX) with *cause.
 */
int eval_cmd_ask(struct eval_cmd *c, const char *line, int64_t timeout_ms, char **ans /* OUT */,
                 char **cause);

/*
 * Closes its input and waits for it to end (killed after 5 s, or at once with
 * its group when failed); its exit status, or -1.
 */
int eval_cmd_end(struct eval_cmd *c, int failed);

/*
 * Runs the evaluation. Returns 0 with *report (a new JSON object: agent, steps,
 * overall, by_kind, by_interaction; each with steps, action, args, success
 * counts and rates), or a negative error with a one-line *cause: a missing or
 * malformed export, an unknown episode, an agent command that could not be
 * started, died or did not answer in time.
 */
int eval_run(const struct eval_opts *o, json_t **report /* OUT */, char **cause);

/* Writes the report as a readable table. */
void eval_print(const json_t *report, FILE *f);

#endif
