/*
 * inifile: the bounded reading of an INI file with inih (see inifile.h), for
 * the settings and the policy files.
 */
#include "inifile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

int inifile_open(const char *path, const char *what, size_t max_bytes, FILE **f, char **cause)
{
	struct stat sb;
	int err;

	*f = fopen(path, "re");
	if (*f == NULL) {
		err = errno;
		return util_fail(cause, -err, "cannot read %s %s: %s", what, path, strerror(err));
	}
	if (fstat(fileno(*f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		err = util_fail(cause, -EISDIR, "cannot read %s %s: it is a directory", what, path);
		goto fail;
	}
	if (fstat(fileno(*f), &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (size_t)sb.st_size > max_bytes) {
		err = util_fail(cause, -E2BIG, "%s %s is larger than %zu bytes", what, path,
		                max_bytes);
		goto fail;
	}
	return 0;
fail:
	fclose(*f);
	*f = NULL;
	return err;
}

void inifile_init(struct inifile *r, FILE *f, size_t max_bytes, const char *long_line)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	r->max_bytes = max_bytes;
	r->long_line = long_line;
}

void inifile_vfail(struct inifile *r, int line, const char *fmt, va_list ap)
{
	char buf[600];

	if (r->err != NULL)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	r->err = util_xstrdup(buf);
	r->err_line = line;
}

void inifile_fail(struct inifile *r, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	inifile_vfail(r, line, fmt, ap);
	va_end(ap);
}

/* fgets for inih that counts lines and refuses what inih would cut. */
static char *reader(char *str, int num, void *stream)
{
	struct inifile *r = stream;
	size_t len;

	if (r->err != NULL || fgets(str, num, r->f) == NULL)
		return NULL;
	r->line++;
	len = strlen(str);
	r->bytes += len;
	if (r->bytes > r->max_bytes) {
		inifile_fail(r, r->line, "the file is larger than %zu bytes", r->max_bytes);
		return NULL;
	}
	if (len > 0 && str[len - 1] != '\n' && !feof(r->f)) {
		inifile_fail(r, r->line, "line longer than %d characters%s", num - 3, r->long_line);
		return NULL;
	}
	return str;
}

int inifile_parse(struct inifile *r, ini_handler handler, void *user)
{
	int rc;

	/*
	 * Indented lines would otherwise continue the previous value (Python
	 * configparser style), turning "  quality = 80" into a second value of the key
	 * above it; mimic has no multi-line values.
	 */
	ini_allow_multiline = false;
	/*
	 * inih's own line buffer (INI_MAX_LINE, 200 bytes in Debian's build) would cut
	 * a valid title pattern of 247 characters; a heap buffer of INIFILE_MAX_LINE
	 * holds any line a pattern list allows (docs/POLICY.md, Limits).
	 */
	ini_use_stack = false;
	ini_allow_realloc = false;
	ini_initial_alloc = INIFILE_MAX_LINE + 3;
	ini_max_line = INIFILE_MAX_LINE + 3;
	rc = ini_parse_stream(reader, r, handler, user);
	if (rc == 0 && r->err == NULL && ferror(r->f))
		inifile_fail(r, r->line, "read error: %s", strerror(errno));
	return rc;
}

int inifile_cause(struct inifile *r, const char *name, char **cause)
{
	int err;

	if (r->err == NULL)
		return 0;
	if (r->err_line > 0)
		err = util_fail(cause, -EINVAL, "%s:%d: %s", name, r->err_line, r->err);
	else
		err = util_fail(cause, -EINVAL, "%s: %s", name, r->err);
	free(r->err);
	r->err = NULL;
	return err;
}
