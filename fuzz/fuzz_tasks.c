/*
 * fuzz_tasks: feeds arbitrary bytes to the reading of a task file of online
 * evaluation (online_parse), which `mimic eval --online` runs on a file that
 * may come from anyone. Beyond not crashing, it checks the parser's promises:
 * either at least one task with every required field and a check of success,
 * or exactly one error line naming the file.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "online.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct online_tasks *t = NULL;
	char *buf, *cause = NULL, *why = NULL;
	int rc;

	/* An exactly sized heap copy, so that ASan catches any read past len. */
	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	rc = online_parse(buf, size, "tasks.json", &t, &cause);
	if (rc == 0) {
		if (t == NULL || t->n == 0 || t->n > ONLINE_TASKS_MAX || cause != NULL)
			abort();
		for (size_t i = 0; i < t->n; i++) {
			const struct online_task *k = &t->v[i];

			if (k->id == NULL || k->app == NULL || k->instruction == NULL ||
			    k->max_steps < 1 || k->max_steps > ONLINE_STEPS_MAX ||
			    (k->output == NULL && k->output_matches == NULL && !k->has_exit_status))
				abort();
			/* The check runs on any output without failing to decide. */
			online_check(k, "Ada\n", 1, 0, &why);
			free(why);
			why = NULL;
		}
		online_free(t);
	} else {
		if (t != NULL || cause == NULL || strchr(cause, '\n') != NULL ||
		    strncmp(cause, "tasks.json", 10) != 0)
			abort();
		free(cause);
	}
	free(buf);
	return 0;
}
