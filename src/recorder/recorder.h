/*
 * recorder: the `mimic record` process. Ties capture (input thread), the writer
 * thread, the frames engine (screenshots) and the store together, answers control requests on the Unix socket,
 * and closes the session cleanly on SIGINT/SIGTERM, on `mimic stop`, or when the
 * X server goes away.
 */
#ifndef MIMIC_RECORDER_H
#define MIMIC_RECORDER_H

#include <stdint.h>

struct recorder_opts {
	const char *data_dir;      /* NULL: the XDG default (see paths.h) */
	const char *session_name;  /* NULL or "": unnamed */
	const char *display;       /* NULL: $DISPLAY */
	int quiet;                 /* do not print the start/stop lines on stdout */
	const char *config_path;   /* NULL: the user's settings file if any (config.h) */
	int no_frames;             /* take no screenshots, whatever the settings say */
	const char *policy_path;   /* NULL: /etc/mimic/policy.conf (policy.h); the person's
	                              own policy file is read after it either way */
	int no_elements;           /* look up no UI elements (AT-SPI), see docs/ELEMENTS.md */
};

/* How a recording ended; the CLI turns these into exit statuses (docs/CLI.md). */
enum recorder_end {
	RECORDER_END_STOPPED = 0,  /* `mimic stop`, SIGINT or SIGTERM */
	RECORDER_END_X_GONE = 3,   /* the X server went away; the session was closed */
	RECORDER_END_WRITE_FAILED = 4, /* events could not all be stored */
};

/*
 * Records until stopped. Returns a non-negative enum recorder_end once a session
 * was started and closed (*session_id set when not NULL), or a negative error
 * with a one-line *cause when recording could not start (no display, data
 * directory not writable, another recorder running, newer database, a bad
 * settings file, ...). A frames engine that cannot start or stops storing frames
 * does not stop recording: the reason shows in the status and the log.
 */
int recorder_run(const struct recorder_opts *opts, int64_t *session_id /* OUT */, char **cause);

#endif
