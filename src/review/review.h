/*
 * review: `mimic review`, a local web page where the person recorded sees what
 * the data directory holds about them, as an export would give it (the same
 * reduced steps, redacted texts and pre-action screenshots, from export_walk),
 * and deletes what they do not want to give (forget_locked, with its audit
 * record). docs/PRIVACY.md and docs/CLI.md describe it.
 *
 * The server (libmicrohttpd, one thread) listens on 127.0.0.1 only; every request
 * carries the run's random token and passes review_http_check; every change
 * carries the CSRF token. Screenshots are decrypted and encoded in memory and
 * never written to disk. Nothing is logged of what the pages show.
 */
#ifndef MIMIC_REVIEW_H
#define MIMIC_REVIEW_H

#include <stdio.h>

#include "export.h"

struct review_opts {
	const char *data_dir;     /* NULL: the default data directory */
	int port;                 /* 0: a free port the system picks */
	/* How steps are reduced, redacted and encoded (data_dir, sessions are ignored). */
	const struct export_opts *export_opts;
	FILE *out;                /* where the URL is printed (one line, flushed) */
	int open_browser;         /* run xdg-open on the URL (its failure is ignored) */
};

/*
 * Serves the page until SIGINT or SIGTERM. The data directory must exist and
 * belong to the user running this (-EPERM otherwise). Returns 0 after a signal,
 * or a negative errno with *cause: -ENOENT (no data directory or database),
 * -EPERM, -EADDRINUSE / -EIO (cannot listen).
 */
int review_run(const struct review_opts *o, char **cause);

#endif
