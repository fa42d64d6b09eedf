/*
 * ipc: the control protocol between the mimic CLI and a running recorder: one line
 * of JSON each way over a Unix stream socket, one request per connection.
 *
 * Everything read from the socket is untrusted (any local process of the same user
 * may connect, and the parser is fuzzed): messages are bounded by IPC_MAX_MSG, the
 * recorder's side never waits on a peer (non-blocking reads and writes, a bounded
 * number of connections, each with a deadline), so a silent or slow peer cannot
 * stall the recorder, and bytes from a peer that end up in a cause are cut short
 * and stripped to printable ASCII.
 */
#include "ipc.h"

#include "log.h"
#include "testbreak.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

/* How long the CLI waits for the recorder's reply. */
#define IPC_CALL_TIMEOUT_MS 5000
/* The longest pause a request may ask for: a year. */
#define IPC_FOR_MS_MAX (INT64_C(365) * 24 * 3600 * 1000)
/* Longest piece of a peer's bytes quoted in a cause. */
#define IPC_QUOTE_MAX 32

static const char *const cmd_names[] = {
	[IPC_CMD_STATUS] = "status",
	[IPC_CMD_STOP] = "stop",
	[IPC_CMD_PAUSE] = "pause",
	[IPC_CMD_RESUME] = "resume",
	[IPC_CMD_TASK] = "task",
	[IPC_CMD_FORGET] = "forget",
	[IPC_CMD_AGENT] = "agent",
};
#define IPC_CMD_COUNT (sizeof cmd_names / sizeof cmd_names[0])

const char *ipc_cmd_name(enum ipc_cmd cmd)
{
	if ((int)cmd <= 0 || (size_t)cmd >= IPC_CMD_COUNT)
		return NULL;
	return cmd_names[cmd];
}

static int cmd_from_name(const char *s, size_t len)
{
	size_t i;

	for (i = 1; i < IPC_CMD_COUNT; i++) {
		if (strlen(cmd_names[i]) == len && memcmp(cmd_names[i], s, len) == 0)
			return (int)i;
	}
	return 0;
}

/*
 * Copies at most IPC_QUOTE_MAX bytes of untrusted src into dst for quoting in a
 * cause, replacing anything that is not printable ASCII with '?', so that a peer
 * cannot put control characters into mimic's messages and logs.
 */
static void quote_safe(char *dst, size_t n, const char *src, size_t len)
{
	size_t i, m = 0;

	for (i = 0; i < len && m + 1 < n && i < IPC_QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[m++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
	}
	if (i < len && m + 3 < n) {
		memcpy(dst + m, "...", 3);
		m += 3;
	}
	dst[m] = '\0';
}

/*
 * The members of a task request: "task" start or end, with "description" (start)
 * or "outcome" (end). They are refused with any other command.
 */
static int parse_task(json_t *root, int cmd, struct ipc_request *out, char **cause)
{
	json_t *jt = json_object_get(root, "task");
	json_t *jd = json_object_get(root, "description");
	json_t *jo = json_object_get(root, "outcome");
	const char *d, *o;
	size_t n;

	if (cmd != IPC_CMD_TASK) {
		if (jt != NULL || jd != NULL || jo != NULL)
			return util_fail(cause, -EINVAL, "task, description and outcome only go with "
			                 "the task command");
		return 0;
	}
	if (!json_is_string(jt))
		return util_fail(cause, -EINVAL, "a task request needs \"task\": \"start\" or \"end\"");
	if (strcmp(json_string_value(jt), "start") == 0) {
		if (jo != NULL)
			return util_fail(cause, -EINVAL, "outcome only goes with task end");
		if (!json_is_string(jd) || json_string_length(jd) == 0)
			return util_fail(cause, -EINVAL, "task start needs a non-empty description");
		d = json_string_value(jd);
		n = json_string_length(jd);
		if (n > IPC_TASK_DESC_MAX)
			return util_fail(cause, -E2BIG, "the task description is %zu bytes, more than "
			                 "%d", n, IPC_TASK_DESC_MAX);
		for (size_t i = 0; i < n; i++) {
			if ((unsigned char)d[i] < 0x20 || d[i] == 0x7f)
				return util_fail(cause, -EINVAL, "the task description has a control "
				                 "character; write it on one line");
		}
		memcpy(out->description, d, n);
		out->description[n] = '\0';
		out->task = IPC_TASK_START;
		return 0;
	}
	if (strcmp(json_string_value(jt), "end") == 0) {
		if (jd != NULL)
			return util_fail(cause, -EINVAL, "description only goes with task start");
		o = json_string_value(jo);
		if (o != NULL && strcmp(o, "success") == 0)
			out->outcome = IPC_OUTCOME_SUCCESS;
		else if (o != NULL && strcmp(o, "fail") == 0)
			out->outcome = IPC_OUTCOME_FAIL;
		else
			return util_fail(cause, -EINVAL, "task end needs \"outcome\": \"success\" or "
			                 "\"fail\"");
		out->task = IPC_TASK_END;
		return 0;
	}
	return util_fail(cause, -EINVAL, "\"task\" is \"start\" or \"end\"");
}

/*
 * The members of an agent request: "agent" (attach, detach, handback, refused),
 * "pid" (attach, detach), "idle_ms" (attach, optional), "action" (refused: a JSON
 * text of at most IPC_TASK_DESC_MAX bytes).
 */
static int parse_agent(json_t *root, int cmd, struct ipc_request *out, char **cause)
{
	static const char *const ops[] = { NULL, "attach", "detach", "handback", "refused" };
	json_t *ja = json_object_get(root, "agent");
	json_t *jp = json_object_get(root, "pid");
	json_t *ji = json_object_get(root, "idle_ms");
	json_t *jx = json_object_get(root, "action");
	size_t n;

	if (cmd != IPC_CMD_AGENT) {
		if (ja != NULL || jp != NULL || ji != NULL || jx != NULL)
			return util_fail(cause, -EINVAL, "agent, pid, idle_ms and action only go with "
			                 "the agent command");
		return 0;
	}
	for (int i = 1; i < 5 && json_is_string(ja); i++)
		if (strcmp(json_string_value(ja), ops[i]) == 0)
			out->agent = i;
	if (out->agent == 0)
		return util_fail(cause, -EINVAL, "an agent request needs \"agent\": \"attach\", "
		                 "\"detach\", \"handback\" or \"refused\"");
	if (out->agent == IPC_AGENT_ATTACH || out->agent == IPC_AGENT_DETACH) {
		if (!json_is_integer(jp) || json_integer_value(jp) <= 0 ||
		    json_integer_value(jp) > INT32_MAX)
			return util_fail(cause, -EINVAL, "agent attach and detach need \"pid\", the "
			                 "agent server's process id");
		out->agent_pid = json_integer_value(jp);
	} else if (jp != NULL) {
		return util_fail(cause, -EINVAL, "pid only goes with agent attach and detach");
	}
	if (ji != NULL) {
		if (out->agent != IPC_AGENT_ATTACH || !json_is_integer(ji) ||
		    json_integer_value(ji) < 0 || json_integer_value(ji) > IPC_IDLE_MS_MAX)
			return util_fail(cause, -EINVAL, "idle_ms goes with agent attach only, 0 to %d "
			                 "milliseconds", IPC_IDLE_MS_MAX);
		out->idle_ms = json_integer_value(ji);
	}
	if (out->agent == IPC_AGENT_REFUSED) {
		if (!json_is_string(jx))
			return util_fail(cause, -EINVAL, "agent refused needs \"action\", a string");
		n = json_string_length(jx);
		if (n > IPC_TASK_DESC_MAX)
			return util_fail(cause, -E2BIG, "the refused action is %zu bytes, more than %d",
			                 n, IPC_TASK_DESC_MAX);
		/* Text of the agent's: one line, whatever it holds. */
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)json_string_value(jx)[i] < 0x20)
				return util_fail(cause, -EINVAL, "the refused action has a control "
				                 "character");
		memcpy(out->description, json_string_value(jx), n);
		out->description[n] = '\0';
	} else if (jx != NULL) {
		return util_fail(cause, -EINVAL, "action only goes with agent refused");
	}
	return 0;
}

/* The members of a forget request: exactly one of last_ms, session and all. */
static int parse_forget(json_t *root, int cmd, struct ipc_request *out, char **cause)
{
	json_t *jl = json_object_get(root, "last_ms");
	json_t *js = json_object_get(root, "session");
	json_t *ja = json_object_get(root, "all");

	if (cmd != IPC_CMD_FORGET) {
		if (jl != NULL || js != NULL || ja != NULL)
			return util_fail(cause, -EINVAL, "last_ms, session and all only go with the "
			                 "forget command");
		return 0;
	}
	if ((jl != NULL) + (js != NULL) + (ja != NULL) != 1)
		return util_fail(cause, -EINVAL, "forget needs exactly one of last_ms, session and "
		                 "all");
	if (jl != NULL) {
		if (!json_is_integer(jl) || json_integer_value(jl) <= 0 ||
		    json_integer_value(jl) > 10 * IPC_FOR_MS_MAX)
			return util_fail(cause, -EINVAL, "last_ms is not a positive number of "
			                 "milliseconds (at most ten years)");
		out->forget_last_ms = json_integer_value(jl);
	} else if (js != NULL) {
		if (!json_is_integer(js) || json_integer_value(js) <= 0)
			return util_fail(cause, -EINVAL, "session is not a positive session id");
		out->forget_session = json_integer_value(js);
	} else {
		if (!json_is_true(ja))
			return util_fail(cause, -EINVAL, "all must be true");
		out->forget_all = 1;
	}
	return 0;
}

int ipc_parse_request(const char *buf, size_t len, struct ipc_request *out, char **cause)
{
	char quoted[IPC_QUOTE_MAX + 4];
	json_t *root = NULL, *jv, *jcmd, *jfor;
	json_error_t jerr;
	json_int_t v;
	int ret, cmd;

	memset(out, 0, sizeof *out);
	if (len > IPC_MAX_MSG)
		return util_fail(cause, -E2BIG, "request is %zu bytes, more than the limit of %d",
		                 len, IPC_MAX_MSG);
	/* The line's own end is not part of the JSON. */
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == 0)
		return util_fail(cause, -EINVAL, "request is empty");

	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		quote_safe(quoted, sizeof quoted, jerr.text, strlen(jerr.text));
		ret = util_fail(cause, -EINVAL, "request is not valid JSON (%s, at byte %d)", quoted,
		                jerr.position);
		goto fail;
	}
	if (!json_is_object(root)) {
		ret = util_fail(cause, -EINVAL, "request is not a JSON object");
		goto fail;
	}

	/* The version comes first: a newer client's new commands must read as "newer". */
	jv = json_object_get(root, "v");
	if (jv == NULL) {
		ret = util_fail(cause, -EPROTO,
		                "request has no protocol version (\"v\"); this recorder speaks %d",
		                IPC_VERSION);
		goto fail;
	}
	if (!json_is_integer(jv)) {
		ret = util_fail(cause, -EPROTO,
		                "request's protocol version (\"v\") is not a whole number; "
		                "this recorder speaks %d",
		                IPC_VERSION);
		goto fail;
	}
	v = json_integer_value(jv);
	if (v != IPC_VERSION) {
		ret = util_fail(cause, -EPROTO,
		                "mimic speaks protocol version %" JSON_INTEGER_FORMAT
		                ", this recorder speaks %d; use the mimic that started the recorder, "
		                "or restart the recorder with this one",
		                v, IPC_VERSION);
		goto fail;
	}

	jcmd = json_object_get(root, "cmd");
	if (!json_is_string(jcmd)) {
		ret = util_fail(cause, -EINVAL, "request has no command (\"cmd\" string)");
		goto fail;
	}
	cmd = cmd_from_name(json_string_value(jcmd), json_string_length(jcmd));
	if (cmd == 0) {
		quote_safe(quoted, sizeof quoted, json_string_value(jcmd), json_string_length(jcmd));
		ret = util_fail(cause, -EINVAL,
		                "unknown command \"%s\"; known: status, stop, pause, resume, task, "
		                "forget, agent", quoted);
		goto fail;
	}

	jfor = json_object_get(root, "for_ms");
	if (jfor != NULL) {
		json_int_t ms;

		if (cmd != IPC_CMD_PAUSE) {
			ret = util_fail(cause, -EINVAL, "for_ms only goes with the pause command");
			goto fail;
		}
		if (!json_is_integer(jfor)) {
			ret = util_fail(cause, -EINVAL, "for_ms is not a whole number of milliseconds");
			goto fail;
		}
		ms = json_integer_value(jfor);
		if (ms < 0 || ms > IPC_FOR_MS_MAX) {
			ret = util_fail(cause, -EINVAL,
			                "for_ms is %" JSON_INTEGER_FORMAT ", not between 0 and %" PRId64
			                " (a year)",
			                ms, IPC_FOR_MS_MAX);
			goto fail;
		}
		out->for_ms = ms;
	}

	ret = parse_task(root, cmd, out, cause);
	if (ret != 0)
		goto fail;
	ret = parse_agent(root, cmd, out, cause);
	if (ret != 0)
		goto fail;
	ret = parse_forget(root, cmd, out, cause);
	if (ret != 0)
		goto fail;
	out->version = (int)v;
	out->cmd = (enum ipc_cmd)cmd;
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	memset(out, 0, sizeof *out);
	return ret;
}

static int fill_addr(const char *path, struct sockaddr_un *sa, char **cause)
{
	size_t n;

	if (path[0] == '\0')
		return util_fail(cause, -EINVAL, "the control socket path is empty");
	n = strlen(path);
	if (n >= sizeof sa->sun_path)
		return util_fail(cause, -ENAMETOOLONG,
		                 "control socket path %s is too long for a Unix socket (at most %zu "
		                 "bytes)",
		                 path, sizeof sa->sun_path - 1);
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

int ipc_listen(const char *path, int *fd, char **cause)
{
	struct sockaddr_un sa;
	struct stat st;
	int s = -1, ret;

	*fd = -1;
	ret = fill_addr(path, &sa, cause);
	if (ret < 0)
		return ret;
	/* The copy is the same text; using it spares GCC's UBSan build a false null warning. */
	path = sa.sun_path;

	/*
	 * A socket file outlives a recorder that crashed. Only a server that answers
	 * proves the file is in use; a refused connection means it is stale.
	 */
	if (lstat(path, &st) == 0) {
		int probe, r, err;

		if (!S_ISSOCK(st.st_mode))
			return util_fail(cause, -EEXIST,
			                 "%s exists and is not a socket; remove it or choose another "
			                 "XDG_RUNTIME_DIR",
			                 path);
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (probe < 0)
			return util_fail(cause, -errno, "cannot create a socket (%s)", strerror(errno));
		r = connect(probe, (struct sockaddr *)&sa, sizeof sa);
		err = errno;
		close(probe);
		if (r == 0 || err == EAGAIN || err == EINPROGRESS)
			return util_fail(cause, -EADDRINUSE,
			                 "another recorder is already running (it answers on %s); "
			                 "stop it with `mimic stop`",
			                 path);
		if (err == ECONNREFUSED) {
			log_debug("replacing a stale control socket");
			if (unlink(path) < 0 && errno != ENOENT)
				return util_fail(cause, -errno, "cannot remove the stale socket %s (%s)",
				                 path, strerror(errno));
		} else if (err != ENOENT) {
			return util_fail(cause, -err, "cannot check the control socket %s (%s)", path,
			                 strerror(err));
		}
	} else if (errno != ENOENT) {
		return util_fail(cause, -errno, "cannot check the control socket %s (%s)", path,
		                 strerror(errno));
	}

	s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0) {
		ret = util_fail(cause, -errno, "cannot create a socket (%s)", strerror(errno));
		goto fail;
	}
	if (bind(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int err = errno;
		if (err == EADDRINUSE)
			ret = util_fail(cause, -EADDRINUSE,
			                "another recorder is already running (it answers on %s); "
			                "stop it with `mimic stop`",
			                path);
		else
			ret = util_fail(cause, -err, "cannot listen on %s (%s)", path, strerror(err));
		goto fail;
	}
	/* The directory is 0700 already; the mode is a second lock on the door. */
	if (chmod(path, 0600) < 0) {
		ret = util_fail(cause, -errno, "cannot restrict %s to its owner (%s)", path,
		                strerror(errno));
		unlink(path);
		goto fail;
	}
	if (listen(s, 16) < 0) {
		ret = util_fail(cause, -errno, "cannot listen on %s (%s)", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	*fd = s;
	return 0;
fail:
	if (s >= 0)
		close(s);
	return ret;
}

/* Milliseconds left until deadline_ns (CLOCK_MONOTONIC), at least 0. */
static int ms_left(int64_t deadline_ns)
{
	int64_t left = deadline_ns - util_now_mono_ns();

	if (left <= 0)
		return 0;
	return (int)((left + 999999) / 1000000);
}

/*
 * Reads one line of at most IPC_MAX_MSG bytes (not counting the newline) from fd
 * into buf (IPC_MAX_MSG + 1 bytes) within timeout_ms. Sets *len to the length
 * without the newline and *eof when the peer closed the connection before sending
 * one. Returns 0, -ETIMEDOUT, -E2BIG or -errno.
 */
static int read_line(int fd, char *buf, size_t *len, int *eof, int timeout_ms)
{
	int64_t deadline = util_now_mono_ns() + (int64_t)timeout_ms * 1000000;
	const size_t cap = IPC_MAX_MSG + 1;
	size_t have = 0;

	*len = 0;
	*eof = 0;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		char *nl;
		ssize_t n;
		int r;

		r = poll(&pfd, 1, ms_left(deadline));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ETIMEDOUT;

		n = recv(fd, buf + have, cap - have, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		if (n == 0) {
			*len = have;
			*eof = 1;
			return 0;
		}
		nl = memchr(buf + have, '\n', (size_t)n);
		if (nl != NULL) {
			*len = (size_t)(nl - buf);
			return 0;
		}
		have += (size_t)n;
		if (have >= cap)
			return -E2BIG;
	}
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT; /* SO_SNDTIMEO ran out */
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void set_send_timeout(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	/* Failure only loses the timeout, not the conversation. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

char *ipc_simple_reply(int ok, const char *error)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "v", json_integer(IPC_VERSION));
	json_object_set_new(o, "ok", ok ? json_true() : json_false());
	if (error != NULL)
		json_object_set_new(o, "error", json_string(error));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* --- the recorder's side: a server that never waits on a client ------------------------ */

/* Where a connection is in its one conversation. */
enum conn_state {
	CONN_FREE = 0,
	CONN_READING,  /* accepted: gathering the request line until the deadline */
	CONN_READY,    /* a parsed request waits for ipc_server_next */
	CONN_TAKEN,    /* the caller holds the request; its reply comes with ipc_server_reply */
	CONN_WRITING,  /* a reply is going out as the socket drains; closed when done */
};

struct conn {
	int fd;
	enum conn_state state;
	uint32_t gen;           /* bumped at every accept, so a stale handle finds nothing */
	uint64_t order;         /* when the request completed (READY), or was accepted */
	int64_t deadline_ns;    /* READING and WRITING: dropped past this */
	size_t have;            /* READING: bytes in buf; WRITING: bytes of the reply */
	size_t sent;            /* WRITING: bytes of the reply written */
	struct ipc_request req; /* READY and TAKEN */
	char buf[IPC_MAX_MSG + 1];
};

struct ipc_server {
	int lfd;
	char *path;
	uint64_t counter;       /* orders accepts and completions */
	struct conn conns[IPC_SERVER_CONNS];
};

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = CONN_FREE;
	c->have = c->sent = 0;
}

/* Writes what the socket takes now of c's reply; closes c when it is all out or failed. */
static void conn_flush(struct conn *c)
{
	while (c->sent < c->have) {
		ssize_t w = send(c->fd, c->buf + c->sent, c->have - c->sent,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return; /* the rest goes when the socket drains (POLLOUT) */
			log_debug("a control client went away before its reply (%s)", strerror(errno));
			conn_close(c);
			return;
		}
		c->sent += (size_t)w;
	}
	conn_close(c);
}

/* Starts writing line (no newline, at most IPC_MAX_MSG bytes) as c's reply. */
static void conn_send(struct conn *c, const char *line, int64_t now)
{
	size_t n = strlen(line);

	assert(n <= IPC_MAX_MSG);
	memcpy(c->buf, line, n);
	c->buf[n] = '\n';
	c->have = n + 1;
	c->sent = 0;
	c->state = CONN_WRITING;
	c->deadline_ns = now + (int64_t)IPC_REQUEST_DEADLINE_MS * 1000000;
	conn_flush(c);
}

/* The error reply {"v":1,"ok":false,"error":why}, as one line of at most IPC_MAX_MSG bytes. */
static char *error_line(const char *why)
{
	json_t *o;
	char *s;

	o = json_pack("{s:i,s:b,s:s}", "v", IPC_VERSION, "ok", 0, "error",
	              why != NULL ? why : "unknown error");
	if (o == NULL) {
		/* Not valid UTF-8: say that much rather than nothing. */
		o = json_pack("{s:i,s:b,s:s}", "v", IPC_VERSION, "ok", 0, "error",
		              "request refused");
	}
	s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (s == NULL || strlen(s) > IPC_MAX_MSG) {
		free(s);
		s = util_xasprintf("{\"v\":%d,\"ok\":false,\"error\":\"error too long\"}",
		                   IPC_VERSION);
	}
	return s;
}

/* Answers c with an error carrying why (logged too), and closes it once written. */
static void conn_refuse(struct conn *c, const char *why, int64_t now)
{
	char *line = error_line(why);

	log_warn("control request refused: %s", why);
	conn_send(c, line, now);
	free(line);
}

int ipc_server_open(const char *path, struct ipc_server **out, char **cause)
{
	struct ipc_server *s;
	int rc, lfd;

	*out = NULL;
	rc = ipc_listen(path, &lfd, cause);
	if (rc != 0)
		return rc;
	s = util_xcalloc(1, sizeof *s);
	s->lfd = lfd;
	s->path = util_xstrdup(path);
	for (size_t i = 0; i < IPC_SERVER_CONNS; i++)
		s->conns[i].fd = -1;
	*out = s;
	return 0;
}

void ipc_server_close(struct ipc_server *s, int remove_path)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < IPC_SERVER_CONNS; i++)
		conn_close(&s->conns[i]);
	close(s->lfd);
	if (remove_path)
		unlink(s->path);
	free(s->path);
	free(s);
}

void ipc_server_pollfds(const struct ipc_server *s, struct pollfd *pfd)
{
	pfd[0] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
	for (size_t i = 0; i < IPC_SERVER_CONNS; i++) {
		const struct conn *c = &s->conns[i];

		/* READY and TAKEN wait for the recorder, not the client: a hangup there must
		 * not wake every poll. */
		pfd[1 + i] = (struct pollfd){ .fd = -1 };
		if (c->state == CONN_READING)
			pfd[1 + i] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
		else if (c->state == CONN_WRITING)
			pfd[1 + i] = (struct pollfd){ .fd = c->fd, .events = POLLOUT };
	}
}

int ipc_server_timeout_ms(const struct ipc_server *s, int64_t now)
{
	int64_t next = INT64_MAX;

	for (size_t i = 0; i < IPC_SERVER_CONNS; i++) {
		const struct conn *c = &s->conns[i];

		if ((c->state == CONN_READING || c->state == CONN_WRITING) && c->deadline_ns < next)
			next = c->deadline_ns;
	}
	if (next == INT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	return (int)((next - now + 999999) / 1000000);
}

/*
 * The slot for a new connection: a free one, else the oldest still reading its
 * request (its client had its chance), else none.
 */
static struct conn *free_slot(struct ipc_server *s, int64_t now)
{
	struct conn *oldest = NULL;

	for (size_t i = 0; i < IPC_SERVER_CONNS; i++) {
		struct conn *c = &s->conns[i];

		if (c->state == CONN_FREE)
			return c;
		if (c->state == CONN_READING && (oldest == NULL || c->order < oldest->order))
			oldest = c;
	}
	if (oldest != NULL) {
		/* A fresh error line always fits an empty socket buffer: it goes at once. */
		conn_refuse(oldest, "dropped: too many control connections are open and this one "
		            "sent no request", now);
		if (oldest->state != CONN_FREE)
			conn_close(oldest);
	}
	return oldest;
}

static void conn_read(struct ipc_server *s, struct conn *c, int64_t now);

/*
 * Accepts what waits on the listening socket (at most a slot's worth per call,
 * so that a flood of connections cannot hold the loop), checking each peer's uid.
 */
static void accept_some(struct ipc_server *s, int64_t now)
{
	for (int k = 0; k < IPC_SERVER_CONNS; k++) {
		struct ucred cred;
		socklen_t credlen = sizeof cred;
		struct conn *c;
		int fd;

		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("cannot accept a control connection (%s)", strerror(errno));
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0) {
			log_warn("cannot tell who connected to the control socket (%s)",
			         strerror(errno));
			close(fd);
			continue;
		}
		if (cred.uid != geteuid() && !testbreak("ipc-peer-uid-ignored")) {
			/* No answer at all: another user learns nothing from this socket. */
			log_warn("refused a control connection from uid %u (pid %ld): only uid %u may "
			         "control this recorder", (unsigned)cred.uid, (long)cred.pid,
			         (unsigned)geteuid());
			close(fd);
			continue;
		}
		c = free_slot(s, now);
		if (c == NULL) {
			struct conn tmp = { .fd = fd };

			conn_refuse(&tmp, "too many control connections are waiting for their answers; "
			            "try again in a moment", now);
			if (tmp.state != CONN_FREE)
				conn_close(&tmp);
			continue;
		}
		c->fd = fd;
		c->state = CONN_READING;
		c->gen++;
		c->order = ++s->counter;
		c->have = c->sent = 0;
		c->deadline_ns = now + (int64_t)IPC_REQUEST_DEADLINE_MS * 1000000;
		if (testbreak("control-waits-for-request")) {
			/* The old way: wait on this one client, whatever else is going on. */
			struct pollfd p = { .fd = fd, .events = POLLIN };

			(void)poll(&p, 1, IPC_REQUEST_DEADLINE_MS);
			now = util_now_mono_ns();
		}
		/* A client usually sends its request with the connect: read it now. */
		conn_read(s, c, now);
	}
}

/* The request line in c->buf (len bytes, newline excluded) is complete: parse it. */
static void conn_complete(struct ipc_server *s, struct conn *c, size_t len, int64_t now)
{
	char *why = NULL;

	if (ipc_parse_request(c->buf, len, &c->req, &why) != 0) {
		conn_refuse(c, why, now);
		free(why);
		return;
	}
	c->state = CONN_READY;
	c->order = ++s->counter;
}

/* Reads what has arrived on c without waiting. */
static void conn_read(struct ipc_server *s, struct conn *c, int64_t now)
{
	const size_t cap = sizeof c->buf;

	while (c->state == CONN_READING) {
		ssize_t n = recv(c->fd, c->buf + c->have, cap - c->have, MSG_DONTWAIT);
		char *nl;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				log_debug("a control client's connection failed (%s)", strerror(errno));
				conn_close(c);
			}
			return;
		}
		if (n == 0) {
			/* ipc_listen's probe for a live recorder sends nothing: no word about it. */
			if (c->have == 0)
				conn_close(c);
			else
				conn_complete(s, c, c->have, now);
			return;
		}
		nl = memchr(c->buf + c->have, '\n', (size_t)n);
		c->have += (size_t)n;
		if (nl != NULL) {
			conn_complete(s, c, (size_t)(nl - c->buf), now);
			return;
		}
		if (c->have >= cap) {
			char why[96];

			snprintf(why, sizeof why, "request is longer than the limit of %d bytes",
			         IPC_MAX_MSG);
			conn_refuse(c, why, now);
			return;
		}
	}
}

void ipc_server_dispatch(struct ipc_server *s, const struct pollfd *pfd, int64_t now)
{
	const short ready = POLLIN | POLLOUT | POLLERR | POLLHUP;

	for (size_t i = 0; i < IPC_SERVER_CONNS; i++) {
		struct conn *c = &s->conns[i];

		/* Only a descriptor polled in this state: a slot may have changed hands. */
		if (pfd != NULL && (pfd[1 + i].fd != c->fd || !(pfd[1 + i].revents & ready)))
			continue;
		if (c->state == CONN_READING)
			conn_read(s, c, now);
		else if (c->state == CONN_WRITING)
			conn_flush(c);
	}
	if (pfd == NULL || (pfd[0].revents & POLLIN))
		accept_some(s, now);
	for (size_t i = 0; i < IPC_SERVER_CONNS; i++) {
		struct conn *c = &s->conns[i];

		if (c->state == CONN_READING && now >= c->deadline_ns) {
			char why[96];

			snprintf(why, sizeof why, "no request arrived within %d ms",
			         IPC_REQUEST_DEADLINE_MS);
			conn_refuse(c, why, now);
			/* The answer is offered once; a client that does not take it is gone. */
			if (c->state != CONN_FREE)
				conn_close(c);
		} else if (c->state == CONN_WRITING && now >= c->deadline_ns) {
			log_debug("a control client did not take its reply within %d ms",
			          IPC_REQUEST_DEADLINE_MS);
			conn_close(c);
		}
	}
}

int ipc_server_next(struct ipc_server *s, struct ipc_request *req, uint32_t *conn)
{
	struct conn *first = NULL;
	size_t at = 0;

	for (size_t i = 0; i < IPC_SERVER_CONNS; i++) {
		struct conn *c = &s->conns[i];

		if (c->state == CONN_READY && (first == NULL || c->order < first->order)) {
			first = c;
			at = i;
		}
	}
	if (first == NULL)
		return 0;
	first->state = CONN_TAKEN;
	*req = first->req;
	*conn = (first->gen << 8) | (uint32_t)at;
	return 1;
}

int ipc_server_reply(struct ipc_server *s, uint32_t conn, const char *reply_json)
{
	size_t at = conn & 0xff;
	struct conn *c;
	int64_t now = util_now_mono_ns();

	if (at >= IPC_SERVER_CONNS)
		return -ENOENT;
	c = &s->conns[at];
	if (c->state != CONN_TAKEN || (c->gen << 8) != (conn & ~UINT32_C(0xff)))
		return -ENOENT;
	if (reply_json == NULL || strchr(reply_json, '\n') != NULL) {
		conn_refuse(c, "the recorder's reply was malformed", now);
		return -EINVAL;
	}
	if (strlen(reply_json) > IPC_MAX_MSG) {
		conn_refuse(c, "the recorder's reply was too long", now);
		return -E2BIG;
	}
	conn_send(c, reply_json, now);
	return 0;
}

/*
 * Checks the protocol version of a reply, so that a recorder from another mimic is
 * reported as such rather than as a puzzling answer.
 */
static int check_reply(const char *line, size_t len, char **cause)
{
	json_t *root, *jv;
	json_error_t jerr;
	int ret = 0;

	root = json_loadb(line, len, 0, &jerr);
	if (!json_is_object(root)) {
		ret = util_fail(cause, -EBADMSG, "the recorder's reply is not a JSON object");
		goto fail;
	}
	jv = json_object_get(root, "v");
	if (!json_is_integer(jv)) {
		ret = util_fail(cause, -EPROTO,
		                "the recorder's reply has no protocol version; this mimic speaks %d",
		                IPC_VERSION);
		goto fail;
	}
	if (json_integer_value(jv) != IPC_VERSION) {
		ret = util_fail(cause, -EPROTO,
		                "recorder speaks protocol version %" JSON_INTEGER_FORMAT
		                ", this mimic speaks %d; stop it and start it again with this mimic",
		                json_integer_value(jv), IPC_VERSION);
		goto fail;
	}
fail:
	json_decref(root);
	return ret;
}

/* The request line for req (malloc'ed, with its newline) in *line. */
static int build_request(const struct ipc_request *req, const char *name, char **line, char **cause)
{
	json_t *o = NULL;
	char *msg = NULL;
	int ret;

	o = json_pack("{s:i,s:s}", "v", IPC_VERSION, "cmd", name);
	if (o == NULL) {
		ret = util_fail(cause, -ENOMEM, "cannot build the control request");
		goto fail;
	}
	/* Sent as given, even when out of range: the recorder is the one who judges. */
	if (req->for_ms != 0 && json_object_set_new(o, "for_ms", json_integer(req->for_ms)) < 0) {
		ret = util_fail(cause, -ENOMEM, "cannot build the control request");
		goto fail;
	}
	if (req->cmd == IPC_CMD_TASK) {
		int e = json_object_set_new(o, "task", json_string(req->task == IPC_TASK_START ?
		                                                   "start" : "end"));
		if (req->task == IPC_TASK_START)
			e |= json_object_set_new(o, "description", json_string(req->description));
		else
			e |= json_object_set_new(o, "outcome", json_string(
			             req->outcome == IPC_OUTCOME_SUCCESS ? "success" : "fail"));
		if (e != 0) {
			ret = util_fail(cause, -EINVAL, "the task description is not valid UTF-8");
			goto fail;
		}
	}
	if (req->cmd == IPC_CMD_AGENT) {
		static const char *const ops[] = { NULL, "attach", "detach", "handback", "refused" };
		int e = 0;

		if (req->agent < 1 || req->agent > 4) {
			ret = util_fail(cause, -EINVAL, "unknown agent request");
			goto fail;
		}
		e |= json_object_set_new(o, "agent", json_string(ops[req->agent]));
		if (req->agent == IPC_AGENT_ATTACH || req->agent == IPC_AGENT_DETACH)
			e |= json_object_set_new(o, "pid", json_integer(req->agent_pid));
		if (req->agent == IPC_AGENT_ATTACH && req->idle_ms > 0)
			e |= json_object_set_new(o, "idle_ms", json_integer(req->idle_ms));
		if (req->agent == IPC_AGENT_REFUSED)
			e |= json_object_set_new(o, "action", json_string(req->description));
		if (e != 0) {
			ret = util_fail(cause, -EINVAL, "the refused action is not valid UTF-8");
			goto fail;
		}
	}
	if (req->cmd == IPC_CMD_FORGET) {
		int e = 0;

		if (req->forget_last_ms > 0)
			e = json_object_set_new(o, "last_ms", json_integer(req->forget_last_ms));
		else if (req->forget_session > 0)
			e = json_object_set_new(o, "session", json_integer(req->forget_session));
		else
			e = json_object_set_new(o, "all", json_true());
		if (e != 0) {
			ret = util_fail(cause, -ENOMEM, "cannot build the control request");
			goto fail;
		}
	}
	msg = json_dumps(o, JSON_COMPACT);
	if (msg == NULL) {
		ret = util_fail(cause, -ENOMEM, "cannot build the control request");
		goto fail;
	}
	*line = util_xasprintf("%s\n", msg);
	ret = 0;
fail:
	free(msg);
	json_decref(o);
	return ret;
}

int ipc_call(const char *path, const struct ipc_request *req, char **reply, char **cause)
{
	char buf[IPC_MAX_MSG + 1];
	struct sockaddr_un sa;
	const char *name;
	char *line = NULL;
	size_t len;
	int s = -1, ret, eof;

	*reply = NULL;
	name = ipc_cmd_name(req->cmd);
	if (name == NULL)
		return util_fail(cause, -EINVAL, "unknown control command %d", (int)req->cmd);
	ret = fill_addr(path, &sa, cause);
	if (ret < 0)
		return ret;
	/* The copy is the same text; using it spares GCC's UBSan build a false null warning. */
	path = sa.sun_path;
	ret = build_request(req, name, &line, cause);
	if (ret < 0)
		goto fail;

	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) {
		ret = util_fail(cause, -errno, "cannot create a socket (%s)", strerror(errno));
		goto fail;
	}
	/* Bounds connect (a full backlog blocks it) and the send. */
	set_send_timeout(s, IPC_CALL_TIMEOUT_MS);
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int err = errno;
		if (err == ENOENT || err == ECONNREFUSED)
			ret = util_fail(cause, -err,
			                "no recorder is running (nothing listens on %s); "
			                "start one with `mimic record`",
			                path);
		else if (err == EAGAIN || err == EINPROGRESS || err == ETIMEDOUT)
			ret = util_fail(cause, -ETIMEDOUT,
			                "the recorder on %s does not accept connections (it may be stuck)",
			                path);
		else
			ret = util_fail(cause, -err, "cannot connect to the recorder on %s (%s)", path,
			                strerror(err));
		goto fail;
	}
	ret = send_all(s, line, strlen(line));
	if (ret < 0) {
		ret = util_fail(cause, ret, "cannot send the request to the recorder on %s (%s)",
		                path, strerror(-ret));
		goto fail;
	}

	/* forget deletes and compacts before it answers: it may take minutes on a large store. */
	ret = read_line(s, buf, &len, &eof, req->cmd == IPC_CMD_FORGET ? IPC_FORGET_TIMEOUT_MS :
	                IPC_CALL_TIMEOUT_MS);
	if (ret == -ETIMEDOUT) {
		ret = util_fail(cause, ret, "the recorder on %s did not answer within %d s", path,
		                (req->cmd == IPC_CMD_FORGET ? IPC_FORGET_TIMEOUT_MS :
		                 IPC_CALL_TIMEOUT_MS) / 1000);
		goto fail;
	}
	if (ret == -E2BIG) {
		ret = util_fail(cause, ret, "the recorder's reply is longer than the limit of %d bytes",
		                IPC_MAX_MSG);
		goto fail;
	}
	if (ret < 0) {
		ret = util_fail(cause, ret, "cannot read the recorder's reply (%s)", strerror(-ret));
		goto fail;
	}
	if (eof && len == 0) {
		ret = util_fail(cause, -ECONNRESET,
		                "the recorder on %s closed the connection without answering", path);
		goto fail;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	ret = check_reply(buf, len, cause);
	if (ret < 0)
		goto fail;

	*reply = util_xmalloc(len + 1);
	memcpy(*reply, buf, len);
	(*reply)[len] = '\0';
	ret = 0;
fail:
	if (s >= 0)
		close(s);
	free(line);
	return ret;
}
