/*
 * mcp: the Model Context Protocol server side that `mimic agent serve` speaks
 * (revision 2025-06-18): JSON-RPC 2.0 messages, one per line, over a pair of
 * file descriptors (stdin/stdout). It answers initialize, ping and tools/list
 * itself, takes notifications (notifications/initialized, .../cancelled) without
 * an answer, and hands tools/call to the caller's ops. Every line read has a
 * maximum size (MCP_LINE_MAX); any input, however broken, gets a JSON-RPC error
 * and the server goes on. Single-threaded.
 */
#ifndef MIMIC_MCP_H
#define MIMIC_MCP_H

#include <jansson.h>
#include <signal.h>
#include <stddef.h>

#define MCP_PROTOCOL_VERSION "2025-06-18"

/* Longest message line in bytes, newline excluded; a longer one is answered with an error. */
#define MCP_LINE_MAX (1024 * 1024)

/* JSON-RPC 2.0 error codes. */
enum mcp_code {
	MCP_PARSE_ERROR = -32700,
	MCP_INVALID_REQUEST = -32600,
	MCP_METHOD_NOT_FOUND = -32601,
	MCP_INVALID_PARAMS = -32602,
	MCP_INTERNAL_ERROR = -32603,
};

/* What the server serves; every pointer is borrowed for the server's lifetime. */
struct mcp_ops {
	const char *name;           /* serverInfo.name */
	const char *version;        /* serverInfo.version */
	/* The tools, a new reference to a JSON array of Tool objects. */
	json_t *(*tools)(void *arg);
	/*
	 * Calls tool name with arguments (an object, borrowed; an empty one when the
	 * client sent none). Returns 0 with *result a new CallToolResult object (its
	 * isError set for a refused or failed action), or an enum mcp_code with a
	 * one-line *cause for a request that is wrong in itself (unknown tool, bad
	 * arguments).
	 */
	int (*call)(void *arg, const char *name, json_t *arguments, json_t **result /* OUT */,
	            char **cause);
	void *arg;
	/* When not NULL and set (by a signal handler), mcp_serve returns at its next interrupted read. */
	const volatile sig_atomic_t *stop;
};

/*
 * Handles one message of len bytes (need not be NUL-terminated). Returns the
 * answer line (malloc'ed JSON, without newline) or NULL when the message needs
 * none (a notification, a client's response). Safe on any bytes (fuzzed).
 */
char *mcp_handle(const struct mcp_ops *ops, const char *buf, size_t len);

/* A JSON-RPC error answer for id (NULL: null id); malloc'ed. */
char *mcp_error_line(const json_t *id, int code, const char *message);

/*
 * Reads lines from in_fd and writes the answers to out_fd until end of input.
 * Returns 0 at end of input or when stopped, -EPIPE when an answer could not be written (the
 * client went away), -EIO on a read error.
 */
int mcp_serve(const struct mcp_ops *ops, int in_fd, int out_fd);

#endif
