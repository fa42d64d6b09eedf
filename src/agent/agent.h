/*
 * agent: the `computer` tool of `mimic agent serve` (docs/AGENTS.md). It checks
 * each computer-use action against the running recorder's state and the
 * policy's scope, carries it out through the agent's own input devices
 * (inject.h), waits for the screen to settle and answers with a screenshot of
 * what may be recorded (PNG, out-of-scope windows masked).
 *
 * The server records through the recorder that runs for the same person: it
 * does not start without one, so the consent, the indicator and the policy are
 * that recorder's; it loads the same policy (agent_opts.policy_path, as
 * `mimic record --policy`) to judge the windows an action would reach.
 * Single-threaded.
 */
#ifndef MIMIC_AGENT_H
#define MIMIC_AGENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct agent_opts {
	const char *display;      /* NULL: $DISPLAY */
	const char *policy_path;  /* NULL: /etc/mimic/policy.conf (policy.h), then the person's file */
	int64_t handback_idle_ms; /* after a takeover, control comes back to the agent after this
	                             long without input of the person; 0: only `mimic agent
	                             handback` gives it back */
};

/* The default of handback_idle_ms (`mimic agent serve --handback-idle`). */
#define AGENT_HANDBACK_IDLE_MS 5000

/* Longest `type` text in bytes and longest `task` / `intent` in bytes. */
#define AGENT_TYPE_MAX 10000
#define AGENT_NOTE_MAX 1000

/* How the text of a call refused because a person took over begins. */
#define AGENT_HUMAN_CONTROL "human_control"

struct agent;

/*
 * `mimic agent handback`: tells the running recorder that the person gives
 * control back to the agent. Errors with *cause: no recorder, or no takeover.
 */
int agent_handback(char **cause);

/*
 * Checks that a recorder runs (and is not paused), loads the policy, opens the
 * agent's input devices and a screen grabber on display, and attaches to the
 * recorder (from now on input of anyone else takes over, docs/AGENTS.md). Errors
 * with a one-line *cause naming the fix: -ENOENT no recorder, -ENXIO no display,
 * -EBUSY another agent server is attached, ...
 */
int agent_open(const struct agent_opts *opts, struct agent **out /* OUT */, char **cause);

/* Detaches from the recorder, removes the agent's input devices and frees a. NULL is fine. */
void agent_close(struct agent *a);

/* The screen's size in pixels (coordinates are checked against it). */
void agent_screen_size(const struct agent *a, int32_t *w /* OUT */, int32_t *h /* OUT */);

/*
 * Starts task (the goal, at most AGENT_NOTE_MAX bytes) on the recorder, as a
 * call's `task` does, unless it is the one already started: the run becomes an
 * episode with it as its task. A recorder that refuses is logged, not an error.
 */
void agent_task_start(struct agent *a, const char *task);

/* Ends the recorder's task with its outcome (`mimic task end --success|--fail`). */
int agent_task_end(struct agent *a, int success, char **cause);

/*
 * Whether an action would be carried out now as far as the recorder decides: it
 * records, nobody took over and, for keyboard, the focused window is in scope.
 */
int agent_ready(struct agent *a, int keyboard);

/*
 * The settled screenshot as the `computer` tool answers it (out-of-scope windows
 * masked), PNG in *png (owned by a, valid until the next screenshot), or *png
 * NULL when the policy keeps screenshots off. 0 or a negative error with *cause.
 */
int agent_screenshot(struct agent *a, const uint8_t **png /* OUT */, size_t *len /* OUT */,
                     char **cause);

/* The tools (a new JSON array with the one tool `computer` and its input schema). */
json_t *agent_tools(void *a);

/*
 * The reason a CallToolResult of agent_call gives when it is an error (borrowed
 * from res), or NULL when it is not one.
 */
const char *agent_result_error(const json_t *res);

/*
 * mcp_ops.call: runs tool name with arguments. 0 with *result (a CallToolResult:
 * the settled screenshot, or isError with the reason an action was refused or
 * failed, nothing of it executed when refused; during a takeover the reason
 * starts with AGENT_HUMAN_CONTROL), or MCP_INVALID_PARAMS with a *cause for an
 * unknown tool, action or argument.
 */
int agent_call(void *a, const char *name, json_t *arguments, json_t **result /* OUT */,
               char **cause);

#endif
