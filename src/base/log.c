/*
 * log: the one logging path of mimic. Every line is formatted into a buffer on the
 * stack and written to standard error with a single write(2), so that lines from
 * the capture, writer and control threads never interleave, and so that logging
 * needs no lock and no allocation.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util.h"

/* Lines longer than this are cut and end with "..."; log lines are short by design. */
#define LOG_LINE_MAX 1024

static atomic_int log_level = LOG_WARN;

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log_init(void)
{
	const char *env = getenv("MIMIC_LOG");
	int i;

	if (env == NULL || *env == '\0') {
		atomic_store(&log_level, LOG_WARN);
		return;
	}
	for (i = LOG_ERROR; i <= LOG_DEBUG; i++) {
		if (strcasecmp(env, level_names[i]) == 0) {
			atomic_store(&log_level, i);
			return;
		}
	}
	/* "warning" is what people type as often as "warn". */
	if (strcasecmp(env, "warning") == 0) {
		atomic_store(&log_level, LOG_WARN);
		return;
	}
	atomic_store(&log_level, LOG_WARN);
	log_warn("MIMIC_LOG=%.32s is not a level; use error, warn, info or debug", env);
}

void log_set_level(enum log_level level)
{
	if ((int)level < LOG_ERROR)
		level = LOG_ERROR;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	atomic_store(&log_level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&log_level);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t len, i, start, off;
	int saved_errno = errno;
	int cur = atomic_load(&log_level);
	va_list ap;
	char *esc;
	int n;

	if ((int)level > cur || (int)level < LOG_ERROR)
		return;

	/*
	 * The pid only helps when several processes (recorder, CLI) interleave their
	 * output, which is a debugging situation; normal messages stay short.
	 */
	if (cur >= LOG_DEBUG)
		n = snprintf(line, sizeof line, "mimic[%ld]: %s: ", (long)getpid(),
		             level_names[level]);
	else
		n = snprintf(line, sizeof line, "mimic: %s: ", level_names[level]);
	if (n < 0)
		return;
	start = (size_t)n;

	va_start(ap, fmt);
	n = vsnprintf(line + start, sizeof line - start - 1, fmt, ap);
	va_end(ap);
	if (n < 0) {
		errno = saved_errno;
		return;
	}
	len = start + (size_t)n;
	if (len > sizeof line - 2) {
		/* Truncated: mark it so nobody mistakes the cut for the whole message. */
		len = sizeof line - 2;
		memcpy(line + len - 3, "...", 3);
	}

	/*
	 * One message is one line: causes from other code may carry newlines. Other
	 * control bytes (a policy file's text quoted in an error) are written out, so
	 * that no file can act on the terminal that shows the log.
	 */
	for (i = start; i < len; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	line[len] = '\0';
	esc = util_escape_ctl(line + start);
	n = snprintf(line + start, sizeof line - start - 1, "%s", esc);
	free(esc);
	len = start + (n < 0 ? 0 : (size_t)n);
	if (len > sizeof line - 2) {
		len = sizeof line - 2;
		memcpy(line + len - 3, "...", 3);
	}
	line[len++] = '\n';

	off = 0;
	while (off < len) {
		ssize_t w = write(STDERR_FILENO, line + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	errno = saved_errno;
}
