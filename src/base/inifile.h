/*
 * inifile: the bounded reading of an INI file with inih, shared by the settings
 * (config) and the policy files.
 *
 * inih as Debian builds it calls the handler without a line number, so lines are
 * counted by our own reader function, which also refuses lines longer than inih's
 * buffer (inih would otherwise cut them and read the rest as a new line) and
 * files larger than a maximum. The first error wins and is reported as
 * FILE:LINE: reason.
 */
#ifndef MIMIC_INIFILE_H
#define MIMIC_INIFILE_H

#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/*
 * The longest line of a settings or policy file, in bytes without its line end;
 * a longer line is refused with "line longer than INIFILE_MAX_LINE characters".
 */
#define INIFILE_MAX_LINE 1024

struct inifile {
	FILE *f;
	size_t max_bytes;          /* a larger file is refused */
	const char *long_line;     /* said after "line longer than N characters" */
	int line;                  /* the line the reader returned last */
	size_t bytes;              /* read so far */
	char *err;                 /* the first error, "reason" without FILE:LINE */
	int err_line;
};

/*
 * Opens path for inifile_parse, refusing a directory and a regular file larger
 * than max_bytes. Errors: "cannot read WHAT PATH: why", "WHAT PATH is larger
 * than MAX bytes" (-errno, -EISDIR, -E2BIG), what being the kind of file
 * ("settings file", "policy").
 */
int inifile_open(const char *path, const char *what, size_t max_bytes, FILE **f /* OUT */,
                 char **cause);

/*
 * Prepares r to read f (not owned) of at most max_bytes; long_line (a static
 * string, "" for none) is added to the message for a line longer than inih's
 * buffer.
 */
void inifile_init(struct inifile *r, FILE *f, size_t max_bytes, const char *long_line);

/*
 * Runs inih over r's file with handler (user its first argument) and no
 * multi-line values (an indented line is a line of its own), and records a read
 * error. Returns what ini_parse_stream returned: 0, the first line inih found
 * wrong (or whose handler returned 0), or < 0 when inih ran out of memory.
 */
int inifile_parse(struct inifile *r, ini_handler handler, void *user);

/* Records the error at line unless one is recorded already (the first error wins). */
void inifile_fail(struct inifile *r, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* inifile_fail with a va_list. */
void inifile_vfail(struct inifile *r, int line, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/*
 * When an error is recorded: fills *cause with "NAME:LINE: reason" (or "NAME:
 * reason" without a line), forgets the error and returns -EINVAL. Returns 0
 * otherwise.
 */
int inifile_cause(struct inifile *r, const char *name, char **cause);

#endif
