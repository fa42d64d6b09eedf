/*
 * fuzz_ipc: feeds arbitrary bytes to the control protocol's request parser, the
 * part of mimic that any local process of the same user can talk to. Beyond not
 * crashing, it checks the parser's promises: a success is a known command with a
 * sane pause, and a failure is one of the documented errors with a one-line,
 * printable cause, so that a hostile client cannot put control characters into
 * mimic's messages and logs.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_request req;
	char *cause = NULL;
	char *buf;
	size_t i;
	int r;

	/* An exactly sized heap copy, so that ASan catches any read past len. */
	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);

	r = ipc_parse_request(buf, size, &req, &cause);
	if (r == 0) {
		if (cause != NULL || req.version != IPC_VERSION || ipc_cmd_name(req.cmd) == NULL)
			abort();
		if (req.for_ms < 0 || (req.for_ms != 0 && req.cmd != IPC_CMD_PAUSE))
			abort();
	} else {
		if (r != -EINVAL && r != -EPROTO && r != -E2BIG)
			abort();
		if (cause == NULL || cause[0] == '\0')
			abort();
		for (i = 0; cause[i] != '\0'; i++) {
			unsigned char c = (unsigned char)cause[i];
			if (c < 0x20 || c > 0x7e)
				abort();
		}
		if (req.cmd != 0 || req.version != 0 || req.for_ms != 0)
			abort();
	}
	free(cause);
	free(buf);
	return 0;
}
