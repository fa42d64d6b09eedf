/*
 * Tests for mcp: the agent server's JSON-RPC 2.0 handling (mcp_handle) and line
 * framing (mcp_serve over a pipe). What is checked is what an MCP client reads
 * back: the answer to each request with its id, the error code and message for
 * each kind of broken input, no answer for notifications, and that a line over
 * MCP_LINE_MAX is refused once while the lines after it are still served.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp.h"
#include "util.h"

static json_t *tools(void *arg)
{
	(void)arg;
	return json_pack("[{s:s}]", "name", "computer");
}

/* Echoes the action back as text; an unknown tool is invalid params. */
static int call(void *arg, const char *name, json_t *arguments, json_t **result, char **cause)
{
	int *calls = arg;
	const char *action = json_string_value(json_object_get(arguments, "action"));

	(*calls)++;
	if (strcmp(name, "computer") != 0) {
		*cause = util_xstrdup("unknown tool");
		return MCP_INVALID_PARAMS;
	}
	*result = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text",
	                    action != NULL ? action : "none",
	                    "isError", 0);
	return 0;
}

static int calls;
static const struct mcp_ops ops = { .name = "mimic", .version = "test", .tools = tools,
                                    .call = call, .arg = &calls };

/* The answer to s as a JSON object (asserts there is one). */
static json_t *handle(const char *s)
{
	char *line = mcp_handle(&ops, s, strlen(s));
	json_t *o;

	assert_non_null(line);
	assert_null(strchr(line, '\n'));
	o = json_loads(line, 0, NULL);
	free(line);
	assert_true(json_is_object(o));
	assert_string_equal(json_string_value(json_object_get(o, "jsonrpc")), "2.0");
	return o;
}

static int error_code(json_t *o)
{
	json_t *e = json_object_get(o, "error");

	assert_true(json_is_object(e));
	assert_null(json_object_get(o, "result"));
	return (int)json_integer_value(json_object_get(e, "code"));
}

static void test_initialize_and_lists(void **state)
{
	json_t *o;

	(void)state;
	o = handle("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
	           "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{}}}");
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "result"),
	                    "protocolVersion")), "2025-06-18");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(o,
	                    "result"), "serverInfo"), "name")), "mimic");
	json_decref(o);
	o = handle("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"tools/list\"}");
	assert_string_equal(json_string_value(json_object_get(o, "id")), "x");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
	                    json_object_get(o, "result"), "tools"), 0), "name")), "computer");
	json_decref(o);
	o = handle("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}");
	assert_int_equal(json_object_size(json_object_get(o, "result")), 0);
	json_decref(o);
}

static void test_tools_call(void **state)
{
	json_t *o;

	(void)state;
	calls = 0;
	o = handle("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":"
	           "\"computer\",\"arguments\":{\"action\":\"screenshot\"}}}");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
	                    json_object_get(o, "result"), "content"), 0), "text")), "screenshot");
	json_decref(o);
	o = handle("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":"
	           "\"paint\"}}");
	assert_int_equal(error_code(o), MCP_INVALID_PARAMS);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 4);
	json_decref(o);
	o = handle("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":"
	           "\"computer\",\"arguments\":[1]}}");
	assert_int_equal(error_code(o), MCP_INVALID_PARAMS);
	json_decref(o);
	o = handle("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{}}");
	assert_int_equal(error_code(o), MCP_INVALID_PARAMS);
	json_decref(o);
	/* The arguments that are not an object never reach the tool. */
	assert_int_equal(calls, 2);
}

static void test_bad_messages(void **state)
{
	static const struct { const char *msg; int code; } cases[] = {
		{ "{not json", MCP_PARSE_ERROR },
		{ "", MCP_PARSE_ERROR },
		{ "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", MCP_INVALID_REQUEST },
		{ "42", MCP_INVALID_REQUEST },
		{ "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", MCP_INVALID_REQUEST },
		{ "{\"id\":1,\"method\":\"ping\"}", MCP_INVALID_REQUEST },
		{ "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", MCP_INVALID_REQUEST },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", MCP_INVALID_REQUEST },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", MCP_INVALID_REQUEST },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1}", MCP_INVALID_REQUEST },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[]}", MCP_INVALID_PARAMS },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/list\"}", MCP_METHOD_NOT_FOUND },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}", MCP_PARSE_ERROR },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *o = handle(cases[i].msg);
		json_t *msg = json_object_get(json_object_get(o, "error"), "message");

		assert_int_equal(error_code(o), cases[i].code);
		assert_true(json_string_length(msg) > 0);
		json_decref(o);
	}
}

static void test_no_answer(void **state)
{
	(void)state;
	/* Notifications and a client's responses are not answered. */
	assert_null(mcp_handle(&ops, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
	                       54));
	assert_null(mcp_handle(&ops, "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\"}", 39));
	assert_null(mcp_handle(&ops, "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}", 36));
}

struct feeder {
	int fd;
	const char *head;
	size_t pad;
	const char *tail;
};

/* Writes head, pad bytes of 'a', tail, then closes. */
static void *feed(void *arg)
{
	struct feeder *f = arg;
	static char chunk[65536];
	size_t left = f->pad;

	memset(chunk, 'a', sizeof chunk);
	assert_true(write(f->fd, f->head, strlen(f->head)) == (ssize_t)strlen(f->head));
	while (left > 0) {
		size_t n = left < sizeof chunk ? left : sizeof chunk;
		assert_true(write(f->fd, chunk, n) == (ssize_t)n);
		left -= n;
	}
	assert_true(write(f->fd, f->tail, strlen(f->tail)) == (ssize_t)strlen(f->tail));
	close(f->fd);
	return NULL;
}

static void test_serve_lines(void **state)
{
	int in[2], out[2];
	pthread_t t;
	struct feeder f;
	static char buf[1 << 16];
	size_t have = 0;
	ssize_t n;
	char *nl, *p;
	int lines = 0;

	(void)state;
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	f.fd = in[1];
	f.head = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r\n\n"
	         "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":{\"x\":\"";
	f.pad = MCP_LINE_MAX + 10;
	f.tail = "\"}}\n{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}";
	assert_int_equal(pthread_create(&t, NULL, feed, &f), 0);
	assert_int_equal(mcp_serve(&ops, in[0], out[1]), 0);
	pthread_join(t, NULL);
	close(out[1]);
	while ((n = read(out[0], buf + have, sizeof buf - 1 - have)) > 0)
		have += (size_t)n;
	buf[have] = '\0';
	close(in[0]);
	close(out[0]);
	/* Ping 1, the refusal of the long line (id unknown: null), ping 3 without newline. */
	p = buf;
	while ((nl = strchr(p, '\n')) != NULL) {
		json_t *o;

		*nl = '\0';
		o = json_loads(p, 0, NULL);
		assert_non_null(o);
		if (lines == 0 || lines == 2) {
			assert_int_equal(json_integer_value(json_object_get(o, "id")), lines == 0 ? 1 : 3);
			assert_non_null(json_object_get(o, "result"));
		} else {
			assert_true(json_is_null(json_object_get(o, "id")));
			assert_int_equal(error_code(o), MCP_INVALID_REQUEST);
			assert_non_null(strstr(json_string_value(json_object_get(json_object_get(o,
			                "error"), "message")), "1 MB"));
		}
		json_decref(o);
		lines++;
		p = nl + 1;
	}
	assert_int_equal(lines, 3);
}

/* The client went away: an answer that cannot be written ends the server with -EPIPE. */
static void test_serve_client_gone(void **state)
{
	int in[2], out[2];
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n";

	(void)state;
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	assert_true(write(in[1], req, strlen(req)) == (ssize_t)strlen(req));
	close(in[1]);
	close(out[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(mcp_serve(&ops, in[0], out[1]), -EPIPE);
	close(in[0]);
	close(out[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initialize_and_lists),
		cmocka_unit_test(test_tools_call),
		cmocka_unit_test(test_bad_messages),
		cmocka_unit_test(test_no_answer),
		cmocka_unit_test(test_serve_lines),
		cmocka_unit_test(test_serve_client_gone),
	};
	return testenv_run(tests, NULL, NULL);
}
