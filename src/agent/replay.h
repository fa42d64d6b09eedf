/*
 * replay: `mimic replay EXPORT_DIR` (docs/AGENTS.md, "Replay"): carries out the
 * steps of an export again, in order, through the agent server's own path
 * (agent.h: the same checks, the agent's own input devices, the screen settled
 * after each step), so that a replay is an agent run like any other: it needs
 * a running recorder, which records it with source "agent", and a person who
 * touches the keyboard or mouse takes over (the replay then stops).
 *
 * Between steps it waits as long as the recording did (scaled by the speed);
 * before a step it waits for a window of the step's application to be there
 * (and under the step's point, for a pointer action), and, for a press or
 * scroll whose UI element was recorded, for the element found at the step's
 * point over AT-SPI (uia) to be the recorded one: the same role and name, its
 * bounds within REPLAY_BOUNDS_PX at each edge. Typed text that the export
 * redacted cannot be typed again: such an export is refused before anything is
 * done.
 */
#ifndef MIMIC_REPLAY_H
#define MIMIC_REPLAY_H

#include <stdint.h>
#include <stdio.h>

struct replay_opts {
	const char *dir;           /* the export's folder (steps.jsonl) */
	const char *episode;       /* NULL: every episode, in order */
	double speed;              /* 1: as recorded; 2: twice as fast (0 < speed <= 1000) */
	const char *display;       /* NULL: $DISPLAY */
	const char *policy_path;   /* as `mimic agent serve --policy` */
	int64_t window_timeout_ms; /* longest wait for a step's window */
	FILE *progress;            /* one line per step carried out (no typed text); NULL: none */
	FILE *warnings;            /* --force: one line per element that differed, and one when
	                              elements cannot be checked; NULL: none */
	int force;                 /* carry on when a step's element differs, or when no
	                              element can be checked (no accessibility bus) */
};

#define REPLAY_WINDOW_TIMEOUT_MS 10000
/* How far each edge of an element may be from where it was recorded, in pixels. */
#define REPLAY_BOUNDS_PX 4

/*
 * Replays the export. Returns 0 when every step was carried out, else a
 * negative error with a one-line *cause naming the step (its line in
 * steps.jsonl, episode and index) and what went wrong: -ENOENT / -EINVAL a
 * missing or malformed export, an unknown episode, -EPERM redacted text,
 * -ERANGE the display's screen differs from the export's, -ETIMEDOUT the
 * step's window never appeared, -ECANCELED the agent path refused the step (a
 * person took over, out of scope, paused), -ESRCH the element at a step's point
 * was not the recorded one within the window timeout (the cause says what
 * differed; never typed text), -ENOTSUP the export has elements to check but
 * no accessibility bus answers (before anything is done). With force, the last
 * two carry on, with a line on warnings.
 */
int replay_run(const struct replay_opts *o, char **cause);

#endif
