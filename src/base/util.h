/*
 * util: small helpers shared by every module: clocks, allocation that cannot
 * return NULL, formatted strings and the `cause` convention.
 *
 * Error convention (used across mimic): functions return 0 or a negative errno
 * style code and, where a person will read the reason, set *cause to a string
 * allocated with malloc that the caller frees. `cause` may be NULL when the caller
 * does not want the text.
 */
#ifndef MIMIC_UTIL_H
#define MIMIC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t util_now_mono_ns(void);

/* CLOCK_REALTIME in nanoseconds since the Unix epoch. */
int64_t util_now_wall_ns(void);

/* malloc/calloc/realloc/strdup that abort with a message when memory runs out. */
void *util_xmalloc(size_t n);
void *util_xcalloc(size_t nmemb, size_t size);
void *util_xrealloc(void *p, size_t n);
char *util_xstrdup(const char *s);

/* Returns a malloc'ed formatted string; aborts when memory runs out. */
char *util_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Sets *cause (when cause is not NULL and *cause is NULL) to a formatted message
 * and returns err, so that `return util_fail(cause, -EIO, "...")` reads naturally.
 * An existing *cause is kept: the first, most specific reason wins.
 */
int util_fail(char **cause, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Copies src into dst of size n, always NUL-terminating, cutting at a UTF-8
 * character boundary when src is too long. Returns the number of bytes copied.
 */
size_t util_strlcpy_utf8(char *dst, const char *src, size_t n);

/*
 * Returns a copy of s (malloc'ed, the caller frees; "" for NULL) in which the
 * bytes a terminal would act on are written out: the C0 controls and DEL as
 * \xNN (a newline or a tab too: an error is one line) and the UTF-8 encoded C1
 * controls (U+0080..U+009F) as \u00NN. Used on every line that may quote a
 * file's text (policy, settings, rules), so that a file cannot move the cursor,
 * recolour or retitle the person's terminal.
 */
char *util_escape_ctl(const char *s);

/*
 * Parses a duration such as "250ms", "15m", "30s", "2h", "7d" (a bare number means
 * seconds) into nanoseconds. Returns 0 or -EINVAL.
 */
int util_parse_duration(const char *s, int64_t *ns /* OUT */);

/*
 * Parses a positive size such as "4096", "500K", "100M" or "2G" (binary units,
 * either case) into bytes. Returns 0 or -EINVAL.
 */
int util_parse_size(const char *s, int64_t *bytes /* OUT */);

/*
 * A settings file's boolean: true/yes/on/1 or false/no/off/0, any case.
 * Returns 0, or -EINVAL (and *out untouched) for anything else.
 */
int util_parse_bool(const char *v, bool *out /* OUT */);

/*
 * The path of the program `name` in the directory of the running executable
 * (mimic's programs are installed side by side). *out is malloc'ed; the caller
 * frees it. Errors: -errno when /proc/self/exe cannot be read, -ENOENT with
 * *cause naming the missing program.
 */
int util_sibling_exe(const char *name, char **out /* OUT */, char **cause);

#endif
