/*
 * testbreak: the run-time switch of the deliberate faults of a test build
 * (testbreak.h). Empty unless the build was configured with -Dtest_break=true.
 */
#include "testbreak.h"

#ifdef MIMIC_TEST_BREAK
#include <stdlib.h>
#include <string.h>

bool testbreak(const char *name)
{
	const char *list = getenv("MIMIC_TEST_BREAK");
	size_t len = strlen(name);
	const char *p;

	if (list == NULL)
		return false;
	for (p = list; (p = strstr(p, name)) != NULL; p += len) {
		if ((p == list || p[-1] == ',') && (p[len] == '\0' || p[len] == ','))
			return true;
	}
	return false;
}
#else
/* ISO C forbids an empty translation unit. */
typedef int testbreak_empty_unit;
#endif
