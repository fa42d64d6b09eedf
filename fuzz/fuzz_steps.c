/*
 * fuzz_steps: feeds arbitrary bytes to the reading of an export's steps.jsonl
 * (steps_parse), which `mimic replay` and `mimic eval` run on a dataset that
 * may come from anywhere. Beyond not crashing, it checks the reader's promises:
 * either at least one step whose action (when it has one) passes the action
 * check, or exactly one error line naming the file.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "steps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct steps *s = NULL;
	char *buf, *cause = NULL;
	int rc;

	/* An exactly sized heap copy, so that ASan catches any read past len. */
	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	rc = steps_parse(buf, size, "steps.jsonl", &s, &cause);
	if (rc == 0) {
		if (s == NULL || s->n == 0 || cause != NULL)
			abort();
		for (size_t i = 0; i < s->n; i++) {
			if (s->v[i].episode == NULL)
				abort();
			if (s->v[i].action != NULL &&
			    steps_check_action(s->v[i].action, s->v[i].screen_w, s->v[i].screen_h,
			                       NULL) != 0)
				abort();
		}
	} else if (s != NULL || cause == NULL || strchr(cause, '\n') != NULL ||
	           strncmp(cause, "steps.jsonl", 11) != 0) {
		abort();
	}
	steps_free(s);
	free(cause);
	free(buf);
	return 0;
}
