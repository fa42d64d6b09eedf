/*
 * mcp: JSON-RPC 2.0 framing and dispatch of the Model Context Protocol (see
 * mcp.h). Lines are read into a buffer of at most MCP_LINE_MAX bytes: a longer
 * line is skipped to its end and answered with an error naming the limit, so a
 * client cannot make the server hold more than that.
 */
#include "mcp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

char *mcp_error_line(const json_t *id, int code, const char *message)
{
	json_t *o = json_pack("{s:s, s:O?, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "error",
	                      "code", code, "message", message ? message : "error");
	char *s;

	if (o == NULL)
		return util_xstrdup("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,"
		                    "\"message\":\"internal error\"}}");
	if (json_object_get(o, "id") == NULL)
		json_object_set_new(o, "id", json_null());
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static char *result_line(const json_t *id, json_t *result /* stolen */)
{
	json_t *o = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
	char *s;

	if (o == NULL)
		return mcp_error_line(id, MCP_INTERNAL_ERROR, "could not build the answer");
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static json_t *initialize_result(const struct mcp_ops *ops)
{
	/* The server speaks one revision; a client asking for another decides whether it can go on. */
	return json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s}, s:s}",
	                 "protocolVersion", MCP_PROTOCOL_VERSION,
	                 "capabilities", "tools", "listChanged", 0,
	                 "serverInfo", "name", ops->name, "version", ops->version,
	                 "instructions", "Acts on the recorded X11 display through mimic's own input "
	                 "devices; every action is recorded with source \"agent\". Actions outside "
	                 "the recording policy's scope are refused.");
}

static char *call_tool(const struct mcp_ops *ops, const json_t *id, json_t *params)
{
	json_t *name = json_object_get(params, "name");
	json_t *args = json_object_get(params, "arguments");
	json_t *result = NULL, *empty = NULL;
	char *cause = NULL, *line;
	int code;

	if (!json_is_string(name))
		return mcp_error_line(id, MCP_INVALID_PARAMS, "tools/call needs params.name, a string");
	if (args != NULL && !json_is_null(args) && !json_is_object(args))
		return mcp_error_line(id, MCP_INVALID_PARAMS,
		                      "tools/call params.arguments must be an object");
	if (!json_is_object(args))
		args = empty = json_object();
	code = ops->call(ops->arg, json_string_value(name), args, &result, &cause);
	json_decref(empty);
	if (code != 0 || result == NULL) {
		line = mcp_error_line(id, code != 0 ? code : MCP_INTERNAL_ERROR,
		                      cause ? cause : "the tool failed");
		json_decref(result);
	} else {
		line = result_line(id, result);
	}
	free(cause);
	return line;
}

char *mcp_handle(const struct mcp_ops *ops, const char *buf, size_t len)
{
	json_error_t jerr;
	json_t *root, *id, *method, *params, *ver;
	const char *m;
	char *line = NULL;

	if (len > MCP_LINE_MAX)
		return mcp_error_line(NULL, MCP_INVALID_REQUEST, "message longer than 1 MB (MCP_LINE_MAX)");
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		char msg[200];
		snprintf(msg, sizeof msg, "parse error: not JSON (%s at character %d)", jerr.text,
		         jerr.position);
		return mcp_error_line(NULL, MCP_PARSE_ERROR, msg);
	}
	if (json_is_array(root)) {
		line = mcp_error_line(NULL, MCP_INVALID_REQUEST,
		                      "batches are not part of MCP 2025-06-18: send one message a line");
		goto done;
	}
	if (!json_is_object(root)) {
		line = mcp_error_line(NULL, MCP_INVALID_REQUEST, "a message must be a JSON object");
		goto done;
	}
	id = json_object_get(root, "id");
	method = json_object_get(root, "method");
	params = json_object_get(root, "params");
	ver = json_object_get(root, "jsonrpc");
	/* An id must be a string or an integer; anything else cannot be answered by it. */
	if (id != NULL && !json_is_string(id) && !json_is_integer(id)) {
		line = mcp_error_line(NULL, MCP_INVALID_REQUEST, "id must be a string or an integer");
		goto done;
	}
	if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0") != 0) {
		line = mcp_error_line(id, MCP_INVALID_REQUEST, "jsonrpc must be \"2.0\"");
		goto done;
	}
	if (method == NULL) {
		/* A client's response (to nothing we asked): no answer. */
		if (id != NULL && (json_object_get(root, "result") || json_object_get(root, "error")))
			goto done;
		line = mcp_error_line(id, MCP_INVALID_REQUEST, "a request needs a method");
		goto done;
	}
	if (!json_is_string(method)) {
		line = mcp_error_line(id, MCP_INVALID_REQUEST, "method must be a string");
		goto done;
	}
	if (params != NULL && !json_is_object(params)) {
		line = mcp_error_line(id, MCP_INVALID_PARAMS, "params must be an object");
		goto done;
	}
	m = json_string_value(method);
	if (id == NULL)
		goto done;   /* notifications (initialized, cancelled, ...) get no answer */
	if (strcmp(m, "initialize") == 0)
		line = result_line(id, initialize_result(ops));
	else if (strcmp(m, "ping") == 0)
		line = result_line(id, json_object());
	else if (strcmp(m, "tools/list") == 0)
		line = result_line(id, json_pack("{s:o}", "tools", ops->tools(ops->arg)));
	else if (strcmp(m, "tools/call") == 0)
		line = call_tool(ops, id, params);
	else {
		char msg[256];
		snprintf(msg, sizeof msg, "unknown method '%.100s'; this server has initialize, ping, "
		         "tools/list and tools/call", m);
		line = mcp_error_line(id, MCP_METHOD_NOT_FOUND, msg);
	}
done:
	json_decref(root);
	return line;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EPIPE;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int answer(int out_fd, char *line)
{
	int rc = 0;

	if (line != NULL) {
		rc = write_all(out_fd, line, strlen(line));
		if (rc == 0)
			rc = write_all(out_fd, "\n", 1);
		free(line);
	}
	return rc;
}

int mcp_serve(const struct mcp_ops *ops, int in_fd, int out_fd)
{
	/* One line at most, plus room to read a chunk past it. */
	size_t cap = MCP_LINE_MAX + 65536, have = 0;
	char *buf = util_xmalloc(cap);
	int skipping = 0, rc = 0;

	for (;;) {
		ssize_t n = read(in_fd, buf + have, cap - have);
		size_t start = 0;

		if (n < 0 && errno == EINTR) {
			if (ops->stop != NULL && *ops->stop)
				break;
			continue;
		}
		if (n < 0) {
			rc = -EIO;
			break;
		}
		if (n == 0) {
			/* A last line without its newline is still a message. */
			if (have > 0 && !skipping)
				rc = answer(out_fd, mcp_handle(ops, buf, have));
			break;
		}
		have += (size_t)n;
		for (size_t i = have - (size_t)n; i < have; i++) {
			if (buf[i] != '\n')
				continue;
			if (skipping) {
				skipping = 0;
			} else if (i > start) {
				size_t len = i - start;
				if (len > 0 && buf[start + len - 1] == '\r')
					len--;
				if (len > 0 && (rc = answer(out_fd, mcp_handle(ops, buf + start, len))) < 0)
					goto out;
			}
			start = i + 1;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
		if (have > MCP_LINE_MAX) {
			/* Too long: answer once, drop it up to its newline. */
			if (!skipping) {
				log_warn("agent: a message longer than %d bytes was refused", MCP_LINE_MAX);
				rc = answer(out_fd, mcp_error_line(NULL, MCP_INVALID_REQUEST,
				            "message longer than 1 MB (MCP_LINE_MAX): it was dropped"));
				if (rc < 0)
					break;
			}
			skipping = 1;
			have = 0;
		}
	}
out:
	free(buf);
	return rc;
}
