/*
 * fuzz_mcp: feeds arbitrary bytes to the agent server's JSON-RPC handling
 * (mcp_handle), which any client of `mimic agent serve` talks to. Beyond not
 * crashing, it checks the protocol's promises: every answer is one line of JSON,
 * an object with "jsonrpc":"2.0", an "id", and exactly one of "result" and
 * "error", an error with an integer code and a message.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *tools(void *arg)
{
	(void)arg;
	return json_pack("[{s:s}]", "name", "computer");
}

/* A tool that answers by what it was given, so that both outcomes are exercised. */
static int call(void *arg, const char *name, json_t *arguments, json_t **result, char **cause)
{
	(void)arg;
	if (!json_is_object(arguments))
		abort();
	if (strcmp(name, "computer") != 0) {
		*cause = strdup("unknown tool");
		return MCP_INVALID_PARAMS;
	}
	*result = json_pack("{s:[], s:b}", "content", "isError",
	                    json_object_get(arguments, "action") == NULL);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mcp_ops ops = { .name = "fuzz", .version = "0", .tools = tools, .call = call };
	char *buf, *line;
	json_t *o;

	/* An exactly sized heap copy, so that ASan catches any read past len. */
	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	line = mcp_handle(&ops, buf, size);
	if (line != NULL) {
		if (strchr(line, '\n') != NULL)
			abort();
		o = json_loads(line, 0, NULL);
		if (!json_is_object(o) || !json_is_string(json_object_get(o, "jsonrpc")) ||
		    strcmp(json_string_value(json_object_get(o, "jsonrpc")), "2.0") != 0 ||
		    json_object_get(o, "id") == NULL)
			abort();
		if ((json_object_get(o, "result") == NULL) == (json_object_get(o, "error") == NULL))
			abort();
		if (json_object_get(o, "error") != NULL &&
		    (!json_is_integer(json_object_get(json_object_get(o, "error"), "code")) ||
		     !json_is_string(json_object_get(json_object_get(o, "error"), "message"))))
			abort();
		json_decref(o);
	}
	free(line);
	free(buf);
	return 0;
}
