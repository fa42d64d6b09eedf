/*
 * fuzz_config: libFuzzer target for the settings file (config.h, docs/CONFIG.md).
 * Arbitrary bytes are read as mimic.conf: they must be accepted or refused with
 * one line naming the file ("FILE:LINE: reason" or "FILE: reason"), and settings
 * that were accepted must turn into the JSON stored with a session, which must
 * parse back as an object.
 */
#include "config.h"

#include "fuzz_tmp.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *dir;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	dir = fuzz_tmpdir("config");
	snprintf(path, sizeof(path), "%s/mimic.conf", dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char *cause = NULL, *json;
	json_t *o;
	int fd, rc;

	/* Twice the limit: the size check is fuzzed too, without slowing every run. */
	if (size > 2 * CONFIG_MAX_BYTES)
		return 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	rc = config_load_file(path, &c, &cause);
	if (rc != 0) {
		if (rc > 0 || cause == NULL || strncmp(cause, path, strlen(path)) != 0 ||
		    strchr(cause, '\n') != NULL) {
			fprintf(stderr, "fuzz_config: bad cause: %s\n", cause ? cause : "(null)");
			abort();
		}
		free(cause);
		return 0;
	}
	json = config_to_json(&c);
	o = json_loads(json, 0, NULL);
	if (!json_is_object(o)) {
		fprintf(stderr, "fuzz_config: settings JSON does not parse: %s\n", json);
		abort();
	}
	json_decref(o);
	free(json);
	return 0;
}
