/*
 * redact-rules-check: run by the build (src/meson.build) after the library is
 * linked. It opens the built-in redaction rules, data/redact.rules as embedded in
 * the library, with the same parser every rules file goes through, so that a
 * mistake in them (an unknown type, a pattern PCRE2 does not compile, a name used
 * twice) fails the build with "built-in rules data/redact.rules:LINE: reason"
 * instead of making every export fail later. On success it writes the rule count
 * to the stamp file named by its argument.
 */
#include <stdio.h>
#include <stdlib.h>

#include "redact.h"

int main(int argc, char **argv)
{
	struct redact *r = NULL;
	char *cause = NULL;
	FILE *f = NULL;
	int ok;

	if (argc != 2) {
		fprintf(stderr, "usage: redact_rules_check STAMP_FILE\n");
		return 2;
	}
	if (redact_open(NULL, &r, &cause) != 0) {
		fprintf(stderr, "the built-in redaction rules do not load: %s\n",
		        cause != NULL ? cause : "(no reason given)");
		free(cause);
		return 1;
	}
	f = fopen(argv[1], "w");
	ok = f != NULL &&
	     fprintf(f, "%zu built-in redaction rules\n", redact_builtin_count(r)) > 0;
	if (f != NULL && fclose(f) != 0)
		ok = 0;
	if (!ok)
		fprintf(stderr, "cannot write %s\n", argv[1]);
	redact_close(r);
	return ok ? 0 : 1;
}
