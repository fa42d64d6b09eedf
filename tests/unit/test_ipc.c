/*
 * Tests for ipc: a real recorder-side server in a temporary directory talks to
 * real clients in other threads. What is checked is what each side sees: the
 * request as the recorder parsed it, the reply line the CLI got back, the error a
 * person would read when a request is malformed, late or from another version,
 * that silent and slow clients are dropped at their deadline while the others are
 * answered at once, and that a live socket is never stolen while a stale one is
 * replaced.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc.h"
#include "util.h"

struct fixture {
	char *dir;
	char *path;
};

static int
setup(void **state)
{
	struct fixture *f = util_xcalloc(1, sizeof *f);

	f->dir = testenv_tmpdir("mimic-test-ipc");
	if (f->dir == NULL)
		return -1;
	f->path = util_xasprintf("%s/control.sock", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	testenv_tmpdir_remove(f->dir);
	free(f->path);
	free(f);
	return 0;
}

static void
assert_contains(const char *s, const char *part)
{
	if (s == NULL || strstr(s, part) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", s ? s : "(null)", part);
}

/* --- a client in a thread ---------------------------------------------------- */

struct call {
	pthread_t thread;
	const char *path;
	struct ipc_request req;
	int ret;
	char *reply;
	char *cause;
};

static void *
call_main(void *arg)
{
	struct call *c = arg;

	c->ret = ipc_call(c->path, &c->req, &c->reply, &c->cause);
	return NULL;
}

static void
call_start(struct call *c, const char *path, enum ipc_cmd cmd, int64_t for_ms)
{
	memset(c, 0, sizeof *c);
	c->path = path;
	c->req.version = IPC_VERSION;
	c->req.cmd = cmd;
	c->req.for_ms = for_ms;
	assert_int_equal(pthread_create(&c->thread, NULL, call_main, c), 0);
}

static void
call_finish(struct call *c)
{
	assert_int_equal(pthread_join(c->thread, NULL), 0);
}

static void
call_free(struct call *c)
{
	free(c->reply);
	free(c->cause);
}

/* --- the recorder's side, served as its loop does ------------------------------ */

/*
 * Runs the server as the recorder's loop does (poll, dispatch) until a request is
 * complete, returned as 1 with *req and *conn, or until *done is set (NULL: never),
 * returned as 0. Fails the test after 10 s.
 */
static int
serve(struct ipc_server *s, struct ipc_request *req, uint32_t *conn, atomic_int *done)
{
	int64_t end = util_now_mono_ns() + INT64_C(10000000000);

	for (;;) {
		struct pollfd pfd[IPC_SERVER_POLLFDS];
		int t;

		ipc_server_pollfds(s, pfd);
		t = ipc_server_timeout_ms(s, util_now_mono_ns());
		if (t < 0 || t > 20)
			t = 20;
		assert_true(poll(pfd, IPC_SERVER_POLLFDS, t) >= 0);
		ipc_server_dispatch(s, pfd, util_now_mono_ns());
		if (ipc_server_next(s, req, conn))
			return 1;
		if (done != NULL && atomic_load(done))
			return 0;
		if (util_now_mono_ns() > end)
			fail_msg("the server got no request within 10 s");
	}
}

/* Serves until flag is set (a raw client has its answer); no request may come through. */
#define SERVE_UNTIL(s, flag) do { \
		struct ipc_request r_; \
		uint32_t c_; \
		assert_int_equal(serve((s), &r_, &c_, (flag)), 0); \
	} while (0)

/* --- a raw client that sends exact bytes --------------------------------------- */

struct raw {
	pthread_t thread;
	const char *path;
	const char *send;    /* bytes to send; NULL sends nothing */
	size_t send_len;
	int hold_ms;         /* stay connected this long before sending */
	char got[IPC_MAX_MSG + 2];
	size_t got_len;
	int64_t answered_ns;  /* when the reply (or EOF) came, CLOCK_MONOTONIC */
	atomic_int done;
};

static int
raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return -1;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static void *
raw_main(void *arg)
{
	struct raw *r = arg;
	int s = raw_connect(r->path);
	ssize_t n;

	if (s < 0) {
		atomic_store(&r->done, 1);
		return NULL;
	}
	if (r->hold_ms > 0)
		poll(NULL, 0, r->hold_ms);
	if (r->send != NULL) {
		size_t off = 0;
		while (off < r->send_len) {
			n = send(s, r->send + off, r->send_len - off, MSG_NOSIGNAL);
			if (n <= 0)
				break;
			off += (size_t)n;
		}
	}
	/* Read the reply up to EOF (or a reset, when the server left bytes unread). */
	while (r->got_len < sizeof r->got - 1) {
		n = recv(s, r->got + r->got_len, sizeof r->got - 1 - r->got_len, 0);
		if (n <= 0)
			break;
		r->got_len += (size_t)n;
	}
	r->got[r->got_len] = '\0';
	r->answered_ns = util_now_mono_ns();
	close(s);
	atomic_store(&r->done, 1);
	return NULL;
}

/* Checks that a raw client got {"v":1,"ok":false,"error":...} containing part. */
static void
assert_error_reply(const char *line, const char *part)
{
	json_error_t jerr;
	json_t *o, *err;

	assert_true(strlen(line) > 0);
	assert_int_equal(line[strlen(line) - 1], '\n');
	o = json_loads(line, 0, &jerr);
	if (o == NULL)
		fail_msg("reply is not JSON: %s", line);
	assert_true(json_is_integer(json_object_get(o, "v")));
	assert_int_equal(json_integer_value(json_object_get(o, "v")), 1);
	assert_true(json_is_false(json_object_get(o, "ok")));
	err = json_object_get(o, "error");
	assert_true(json_is_string(err));
	assert_contains(json_string_value(err), part);
	json_decref(o);
}

static void
raw_start(struct raw *r, const char *path, const char *bytes, size_t len, int hold_ms)
{
	memset(r, 0, sizeof *r);
	r->path = path;
	r->send = bytes;
	r->send_len = len;
	r->hold_ms = hold_ms;
	atomic_init(&r->done, 0);
	assert_int_equal(pthread_create(&r->thread, NULL, raw_main, r), 0);
}

/* Sends raw bytes to the recorder's server: no request comes through, the client reads why. */
static void
check_bad_request(const char *path, struct ipc_server *s, const char *bytes, size_t len,
                  const char *want_cause)
{
	struct raw r;

	raw_start(&r, path, bytes, len, 0);
	SERVE_UNTIL(s, &r.done);
	assert_int_equal(pthread_join(r.thread, NULL), 0);
	/* The person at the CLI reads the reason. */
	assert_error_reply(r.got, want_cause);
}


static void
test_cmd_names(void **state)
{
	(void)state;
	assert_string_equal(ipc_cmd_name(IPC_CMD_STATUS), "status");
	assert_string_equal(ipc_cmd_name(IPC_CMD_STOP), "stop");
	assert_string_equal(ipc_cmd_name(IPC_CMD_PAUSE), "pause");
	assert_string_equal(ipc_cmd_name(IPC_CMD_RESUME), "resume");
	assert_string_equal(ipc_cmd_name(IPC_CMD_FORGET), "forget");
	assert_string_equal(ipc_cmd_name(IPC_CMD_AGENT), "agent");
	assert_null(ipc_cmd_name((enum ipc_cmd)0));
	assert_null(ipc_cmd_name((enum ipc_cmd)(IPC_CMD_AGENT + 1)));
}

/* The agent server's requests (docs/AGENTS.md): parsed, refused, and built back. */
static void
test_agent_requests(void **state)
{
	static const char *const bad[] = {
		"{\"v\":1,\"cmd\":\"agent\"}",
		"{\"v\":1,\"cmd\":\"agent\",\"agent\":\"takeover\"}",
		"{\"v\":1,\"cmd\":\"agent\",\"agent\":\"attach\"}",
		"{\"v\":1,\"cmd\":\"agent\",\"agent\":\"attach\",\"pid\":0}",
		"{\"v\":1,\"cmd\":\"agent\",\"agent\":\"attach\",\"pid\":5,\"idle_ms\":-1}",
		"{\"v\":1,\"cmd\":\"agent\",\"agent\":\"attach\",\"pid\":5,\"idle_ms\":3600001}",
		"{\"v\":1,\"cmd\":\"agent\",\"agent\":\"handback\",\"pid\":5}",
		"{\"v\":1,\"cmd\":\"agent\",\"agent\":\"handback\",\"idle_ms\":5}",
		"{\"v\":1,\"cmd\":\"agent\",\"agent\":\"refused\"}",
		"{\"v\":1,\"cmd\":\"agent\",\"agent\":\"refused\",\"action\":\"a\\nb\"}",
		"{\"v\":1,\"cmd\":\"agent\",\"agent\":\"detach\",\"pid\":5,\"action\":\"x\"}",
		"{\"v\":1,\"cmd\":\"status\",\"agent\":\"handback\"}",
	};
	struct ipc_request req;
	char *cause = NULL, big[IPC_TASK_DESC_MAX + 64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (ipc_parse_request(bad[i], strlen(bad[i]), &req, &cause) == 0)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(cause);
		free(cause);
		cause = NULL;
	}
	const char *a = "{\"v\":1,\"cmd\":\"agent\",\"agent\":\"attach\",\"pid\":42,"
	                "\"idle_ms\":5000}";
	assert_int_equal(ipc_parse_request(a, strlen(a), &req, &cause), 0);
	assert_int_equal(req.cmd, IPC_CMD_AGENT);
	assert_int_equal(req.agent, IPC_AGENT_ATTACH);
	assert_int_equal(req.agent_pid, 42);
	assert_int_equal(req.idle_ms, 5000);
	const char *h = "{\"v\":1,\"cmd\":\"agent\",\"agent\":\"handback\"}";
	assert_int_equal(ipc_parse_request(h, strlen(h), &req, &cause), 0);
	assert_int_equal(req.agent, IPC_AGENT_HANDBACK);
	const char *r = "{\"v\":1,\"cmd\":\"agent\",\"agent\":\"refused\","
	                "\"action\":\"{\\\"action\\\":\\\"key\\\"}\"}";
	assert_int_equal(ipc_parse_request(r, strlen(r), &req, &cause), 0);
	assert_int_equal(req.agent, IPC_AGENT_REFUSED);
	assert_string_equal(req.description, "{\"action\":\"key\"}");
	/* An action longer than IPC_TASK_DESC_MAX is refused, not cut. */
	snprintf(big, sizeof big, "{\"v\":1,\"cmd\":\"agent\",\"agent\":\"refused\","
	         "\"action\":\"%0*d\"}", IPC_TASK_DESC_MAX + 1, 0);
	assert_int_equal(ipc_parse_request(big, strlen(big), &req, &cause), -E2BIG);
	free(cause);
}

static void
test_parse_valid(void **state)
{
	static const struct {
		const char *json;
		enum ipc_cmd cmd;
		int64_t for_ms;
	} good[] = {
		{ "{\"v\":1,\"cmd\":\"status\"}", IPC_CMD_STATUS, 0 },
		{ "{\"v\":1,\"cmd\":\"stop\"}\n", IPC_CMD_STOP, 0 },
		{ "{\"cmd\":\"resume\",\"v\":1}\r\n", IPC_CMD_RESUME, 0 },
		{ " { \"v\" : 1 , \"cmd\" : \"pause\" } ", IPC_CMD_PAUSE, 0 },
		{ "{\"v\":1,\"cmd\":\"pause\",\"for_ms\":900000}", IPC_CMD_PAUSE, 900000 },
		{ "{\"v\":1,\"cmd\":\"pause\",\"for_ms\":0}", IPC_CMD_PAUSE, 0 },
		{ "{\"v\":1,\"cmd\":\"pause\",\"for_ms\":31536000000}", IPC_CMD_PAUSE,
		  INT64_C(31536000000) },
		/* Keys a newer client adds are ignored. */
		{ "{\"v\":1,\"cmd\":\"status\",\"verbose\":true}", IPC_CMD_STATUS, 0 },
	};
	struct ipc_request req;
	char *cause = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		int r = ipc_parse_request(good[i].json, strlen(good[i].json), &req, &cause);
		if (r != 0)
			fail_msg("%s: %d %s", good[i].json, r, cause);
		assert_int_equal(req.version, 1);
		assert_int_equal(req.cmd, good[i].cmd);
		assert_true(req.for_ms == good[i].for_ms);
	}
	assert_null(cause);

	/* The buffer need not be NUL-terminated: only len bytes are read. */
	{
		char buf[64];
		const char *j = "{\"v\":1,\"cmd\":\"stop\"}";
		memset(buf, 'x', sizeof buf);
		memcpy(buf, j, strlen(j));
		assert_int_equal(ipc_parse_request(buf, strlen(j), &req, NULL), 0);
		assert_int_equal(req.cmd, IPC_CMD_STOP);
	}

	/* forget: exactly one of its three forms. */
	{
		const char *j1 = "{\"v\":1,\"cmd\":\"forget\",\"last_ms\":900000}";
		const char *j2 = "{\"v\":1,\"cmd\":\"forget\",\"session\":7}";
		const char *j3 = "{\"v\":1,\"cmd\":\"forget\",\"all\":true}";

		assert_int_equal(ipc_parse_request(j1, strlen(j1), &req, NULL), 0);
		assert_int_equal(req.cmd, IPC_CMD_FORGET);
		assert_true(req.forget_last_ms == 900000 && req.forget_session == 0 && !req.forget_all);
		assert_int_equal(ipc_parse_request(j2, strlen(j2), &req, NULL), 0);
		assert_true(req.forget_session == 7 && req.forget_last_ms == 0 && !req.forget_all);
		assert_int_equal(ipc_parse_request(j3, strlen(j3), &req, NULL), 0);
		assert_true(req.forget_all && req.forget_session == 0 && req.forget_last_ms == 0);
	}
}

static void
test_parse_rejects(void **state)
{
	static const struct {
		const char *json;
		int err;
		const char *cause;
	} bad[] = {
		{ "{\"v\":2,\"cmd\":\"status\"}", -EPROTO, "version 2, this recorder speaks 1" },
		{ "{\"v\":0,\"cmd\":\"status\"}", -EPROTO, "version 0, this recorder speaks 1" },
		{ "{\"v\":-1,\"cmd\":\"status\"}", -EPROTO, "version -1" },
		{ "{\"cmd\":\"status\"}", -EPROTO, "no protocol version" },
		{ "{\"v\":\"1\",\"cmd\":\"status\"}", -EPROTO, "not a whole number" },
		{ "{\"v\":1.0,\"cmd\":\"status\"}", -EPROTO, "not a whole number" },
		{ "{\"v\":null,\"cmd\":\"status\"}", -EPROTO, "speaks 1" },
		/* A newer client's unknown command reads as a version problem first. */
		{ "{\"v\":2,\"cmd\":\"teleport\"}", -EPROTO, "speaks 1" },
		{ "status", -EINVAL, "not valid JSON" },
		{ "{\"v\":1,\"cmd\":\"status\"", -EINVAL, "not valid JSON" },
		{ "{\"v\":1,\"cmd\":\"status\"}{}", -EINVAL, "not valid JSON" },
		{ "{\"v\":1,\"v\":1,\"cmd\":\"status\"}", -EINVAL, "not valid JSON" },
		{ "", -EINVAL, "empty" },
		{ "\n", -EINVAL, "empty" },
		{ "[1]", -EINVAL, "not a JSON object" },
		{ "1", -EINVAL, "not a JSON object" },
		{ "\"x\"", -EINVAL, "not a JSON object" },
		{ "null", -EINVAL, "not a JSON object" },
		{ "{\"v\":1}", -EINVAL, "no command" },
		{ "{\"v\":1,\"cmd\":3}", -EINVAL, "no command" },
		{ "{\"v\":1,\"cmd\":\"teleport\"}", -EINVAL, "unknown command \"teleport\"" },
		{ "{\"v\":1,\"cmd\":\"STATUS\"}", -EINVAL, "unknown command" },
		{ "{\"v\":1,\"cmd\":\"\"}", -EINVAL, "unknown command" },
		{ "{\"v\":1,\"cmd\":\"pause\",\"for_ms\":-1}", -EINVAL, "for_ms is -1" },
		{ "{\"v\":1,\"cmd\":\"pause\",\"for_ms\":1.5}", -EINVAL, "for_ms is not a whole" },
		{ "{\"v\":1,\"cmd\":\"pause\",\"for_ms\":\"10\"}", -EINVAL, "for_ms is not a whole" },
		{ "{\"v\":1,\"cmd\":\"pause\",\"for_ms\":31536000001}", -EINVAL, "a year" },
		{ "{\"v\":1,\"cmd\":\"pause\",\"for_ms\":9223372036854775807}", -EINVAL, "a year" },
		{ "{\"v\":1,\"cmd\":\"pause\",\"for_ms\":99999999999999999999}", -EINVAL,
		  "not valid JSON" },
		{ "{\"v\":1,\"cmd\":\"stop\",\"for_ms\":5}", -EINVAL, "only goes with the pause" },
		{ "{\"v\":1,\"cmd\":\"forget\"}", -EINVAL, "exactly one of" },
		{ "{\"v\":1,\"cmd\":\"forget\",\"all\":true,\"session\":2}", -EINVAL,
		  "exactly one of" },
		{ "{\"v\":1,\"cmd\":\"forget\",\"last_ms\":0}", -EINVAL, "last_ms is not" },
		{ "{\"v\":1,\"cmd\":\"forget\",\"session\":\"3\"}", -EINVAL, "session is not" },
		{ "{\"v\":1,\"cmd\":\"forget\",\"all\":false}", -EINVAL, "all must be true" },
		{ "{\"v\":1,\"cmd\":\"stop\",\"all\":true}", -EINVAL, "only go with the forget" },
		{ "{\"v\":1,\"cmd\":\"st\\u0000op\"}", -EINVAL, "not valid JSON" },
	};
	struct ipc_request req;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *cause = NULL;
		int r;

		memset(&req, 0x55, sizeof req);
		r = ipc_parse_request(bad[i].json, strlen(bad[i].json), &req, &cause);
		if (r != bad[i].err)
			fail_msg("%s: got %d, want %d (%s)", bad[i].json, r, bad[i].err, cause);
		assert_contains(cause, bad[i].cause);
		assert_null(strchr(cause, '\n'));
		/* Nothing half-parsed is left for a careless caller. */
		assert_int_equal(req.cmd, 0);
		assert_int_equal(req.version, 0);
		free(cause);
	}
}

static void
test_parse_hostile_bytes(void **state)
{
	char big[IPC_MAX_MSG + 1];
	char nul[] = "{\"v\":1,\"cmd\":\"status\"}";
	char ctl[] = "{\"v\":1,\"cmd\":\"\x1b[31m\"}";
	char esc[] = "{\"v\":1,\"cmd\":\"\\u001b[2J\\n\"}";
	struct ipc_request req;
	char *cause = NULL;

	(void)state;
	/* One byte over the limit is refused before anything looks at it. */
	memset(big, ' ', sizeof big);
	memcpy(big, nul, strlen(nul));
	assert_int_equal(ipc_parse_request(big, sizeof big, &req, &cause), -E2BIG);
	assert_contains(cause, "4097 bytes");
	assert_contains(cause, "4096");
	free(cause);
	cause = NULL;
	/* Exactly the limit is fine. */
	assert_int_equal(ipc_parse_request(big, IPC_MAX_MSG, &req, &cause), 0);
	assert_int_equal(req.cmd, IPC_CMD_STATUS);

	/* A NUL byte in the middle: the JSON ends early and the rest is junk. */
	nul[5] = '\0';
	assert_int_equal(ipc_parse_request(nul, sizeof nul - 1, &req, &cause), -EINVAL);
	free(cause);
	cause = NULL;

	/* A raw control character in a string is invalid JSON. */
	assert_int_equal(ipc_parse_request(ctl, strlen(ctl), &req, &cause), -EINVAL);
	assert_null(strchr(cause, '\x1b'));
	free(cause);
	cause = NULL;

	/* An escaped one is valid JSON, but the cause quotes it defanged. */
	assert_int_equal(ipc_parse_request(esc, strlen(esc), &req, &cause), -EINVAL);
	assert_contains(cause, "unknown command \"?[2J?\"");
	free(cause);
	cause = NULL;

	/* Deep nesting does not crash. */
	{
		char deep[IPC_MAX_MSG];
		memset(deep, '[', sizeof deep);
		assert_int_equal(ipc_parse_request(deep, sizeof deep, &req, &cause), -EINVAL);
		free(cause);
		cause = NULL;
	}
	/* A NULL cause is allowed. */
	assert_int_equal(ipc_parse_request("x", 1, &req, NULL), -EINVAL);
}

static void
test_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct ipc_server *s = NULL;
	struct ipc_request req;
	struct pollfd pfd[IPC_SERVER_POLLFDS];
	struct call c;
	struct stat st;
	char *cause = NULL;
	uint32_t conn;

	assert_int_equal(ipc_server_open(f->path, &s, &cause), 0);
	assert_null(cause);
	ipc_server_pollfds(s, pfd);
	assert_true(pfd[0].fd >= 0);
	assert_true(fcntl(pfd[0].fd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(pfd[0].fd, F_GETFD) & FD_CLOEXEC);
	for (int i = 1; i < IPC_SERVER_POLLFDS; i++)
		assert_int_equal(pfd[i].fd, -1);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	/* Nothing waiting yet: nothing to take, no deadline running. */
	ipc_server_dispatch(s, NULL, util_now_mono_ns());
	assert_int_equal(ipc_server_next(s, &req, &conn), 0);
	assert_int_equal(ipc_server_timeout_ms(s, util_now_mono_ns()), -1);

	call_start(&c, f->path, IPC_CMD_PAUSE, 900000);
	assert_int_equal(serve(s, &req, &conn, NULL), 1);
	assert_int_equal(req.version, 1);
	assert_int_equal(req.cmd, IPC_CMD_PAUSE);
	assert_true(req.for_ms == 900000);
	assert_int_equal(ipc_server_reply(s, conn, "{\"v\":1,\"ok\":true,\"state\":\"paused\"}"), 0);
	/* Answered and closed: the handle is spent. */
	assert_int_equal(ipc_server_reply(s, conn, "{}"), -ENOENT);
	call_finish(&c);
	assert_int_equal(c.ret, 0);
	assert_null(c.cause);
	assert_string_equal(c.reply, "{\"v\":1,\"ok\":true,\"state\":\"paused\"}");
	call_free(&c);

	/* A second conversation on the same socket, without for_ms. */
	call_start(&c, f->path, IPC_CMD_STATUS, 0);
	assert_int_equal(serve(s, &req, &conn, NULL), 1);
	assert_int_equal(req.cmd, IPC_CMD_STATUS);
	assert_true(req.for_ms == 0);
	{
		char *e = ipc_simple_reply(0, "recorder is shutting down");
		assert_int_equal(ipc_server_reply(s, conn, e), 0);
		free(e);
	}
	call_finish(&c);
	/* ok:false is still a delivered reply; the CLI reports its error. */
	assert_int_equal(c.ret, 0);
	assert_string_equal(c.reply, "{\"v\":1,\"ok\":false,\"error\":\"recorder is shutting down\"}");
	call_free(&c);

	ipc_server_close(s, 1);
	assert_int_equal(stat(f->path, &st), -1);
}

static void
test_second_listen_in_use(void **state)
{
	struct fixture *f = *state;
	struct ipc_server *s = NULL, *s2 = (void *)1;
	struct ipc_request req;
	struct call c;
	char *cause = NULL;
	uint32_t conn;
	int i;

	assert_int_equal(ipc_server_open(f->path, &s, &cause), 0);
	assert_int_equal(ipc_server_open(f->path, &s2, &cause), -EADDRINUSE);
	assert_null(s2);
	assert_contains(cause, "another recorder is already running");
	assert_contains(cause, f->path);
	free(cause);
	cause = NULL;

	/* The probe shows up at the live recorder as a client that sent nothing: dropped. */
	for (i = 0; i < 10; i++) {
		ipc_server_dispatch(s, NULL, util_now_mono_ns());
		assert_int_equal(ipc_server_next(s, &req, &conn), 0);
	}

	/* The first recorder's socket still works. */
	call_start(&c, f->path, IPC_CMD_STOP, 0);
	assert_int_equal(serve(s, &req, &conn, NULL), 1);
	assert_int_equal(req.cmd, IPC_CMD_STOP);
	assert_int_equal(ipc_server_reply(s, conn, "{\"v\":1,\"ok\":true}"), 0);
	call_finish(&c);
	assert_int_equal(c.ret, 0);
	assert_string_equal(c.reply, "{\"v\":1,\"ok\":true}");
	call_free(&c);
	ipc_server_close(s, 1);
}

static void
test_stale_socket_replaced(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ipc_server *srv = NULL;
	struct ipc_request req;
	struct call c;
	char *cause = NULL;
	struct stat st;
	uint32_t conn;
	int s;

	/* A recorder that died: its socket file is left behind, nobody listens. */
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(s >= 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->path);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	close(s);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));

	/* A client finds nothing running there. */
	call_start(&c, f->path, IPC_CMD_STATUS, 0);
	call_finish(&c);
	assert_int_equal(c.ret, -ECONNREFUSED);
	assert_null(c.reply);
	assert_contains(c.cause, "no recorder is running");
	call_free(&c);

	/* A new recorder takes the place over. */
	assert_int_equal(ipc_server_open(f->path, &srv, &cause), 0);
	assert_null(cause);
	call_start(&c, f->path, IPC_CMD_RESUME, 0);
	assert_int_equal(serve(srv, &req, &conn, NULL), 1);
	assert_int_equal(req.cmd, IPC_CMD_RESUME);
	assert_int_equal(ipc_server_reply(srv, conn, "{\"v\":1,\"ok\":true,\"state\":\"recording\"}"),
	                 0);
	call_finish(&c);
	assert_int_equal(c.ret, 0);
	assert_string_equal(c.reply, "{\"v\":1,\"ok\":true,\"state\":\"recording\"}");
	call_free(&c);
	ipc_server_close(srv, 1);
}

static void
test_listen_refuses_other_file(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL;
	char buf[16] = { 0 };
	FILE *fp;
	int lfd = 5;

	fp = fopen(f->path, "w");
	assert_non_null(fp);
	fputs("precious", fp);
	fclose(fp);
	assert_int_equal(ipc_listen(f->path, &lfd, &cause), -EEXIST);
	assert_int_equal(lfd, -1);
	assert_contains(cause, f->path);
	assert_contains(cause, "not a socket");
	free(cause);
	/* The file is not touched. */
	fp = fopen(f->path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(buf, sizeof buf, fp));
	fclose(fp);
	assert_string_equal(buf, "precious");
}

static void
test_call_no_recorder(void **state)
{
	struct fixture *f = *state;
	struct ipc_request req = { .version = 1, .cmd = IPC_CMD_STATUS };
	char *reply = NULL, *cause = NULL;
	char *want = util_xasprintf("no recorder is running (nothing listens on %s); "
	                            "start one with `mimic record`",
	                            f->path);

	assert_int_equal(ipc_call(f->path, &req, &reply, &cause), -ENOENT);
	assert_null(reply);
	assert_string_equal(cause, want);
	free(cause);
	free(want);

	/* An unknown command is refused before anything is sent. */
	cause = NULL;
	req.cmd = (enum ipc_cmd)42;
	assert_int_equal(ipc_call(f->path, &req, &reply, &cause), -EINVAL);
	assert_contains(cause, "42");
	free(cause);
}

static void
test_server_answers_bad_requests(void **state)
{
	struct fixture *f = *state;
	char big[IPC_MAX_MSG + 100];
	char *exact;
	struct ipc_server *s = NULL;
	struct ipc_request req;
	struct call c;
	char *cause = NULL;
	uint32_t conn;
	size_t n;

	assert_int_equal(ipc_server_open(f->path, &s, &cause), 0);

#define BAD(str, part) check_bad_request(f->path, s, str, strlen(str), part)
	BAD("{\"v\":2,\"cmd\":\"status\"}\n", "version 2, this recorder speaks 1");
	BAD("{\"cmd\":\"status\"}\n", "no protocol version");
	BAD("hello recorder\n", "not valid JSON");
	BAD("{\"v\":1,\"cmd\":\"format-disk\"}\n", "unknown command \"format-disk\"");
	BAD("{\"v\":1,\"cmd\":\"pause\",\"for_ms\":-5}\n", "for_ms is -5");
#undef BAD

	/* Longer than the limit, with no newline in sight. */
	memset(big, 'a', sizeof big);
	check_bad_request(f->path, s, big, sizeof big, "longer than the limit of 4096");

	/* Exactly IPC_MAX_MSG bytes of JSON plus the newline is accepted. */
	exact = util_xmalloc(IPC_MAX_MSG + 2);
	n = (size_t)snprintf(exact, IPC_MAX_MSG + 2, "{\"v\":1,\"cmd\":\"status\"}");
	memset(exact + n, ' ', IPC_MAX_MSG - n);
	exact[IPC_MAX_MSG] = '\n';
	{
		struct raw r;

		raw_start(&r, f->path, exact, IPC_MAX_MSG + 1, 0);
		assert_int_equal(serve(s, &req, &conn, NULL), 1);
		assert_int_equal(req.cmd, IPC_CMD_STATUS);
		assert_int_equal(ipc_server_reply(s, conn, "{\"v\":1,\"ok\":true}"), 0);
		assert_int_equal(pthread_join(r.thread, NULL), 0);
		assert_string_equal(r.got, "{\"v\":1,\"ok\":true}\n");
	}
	free(exact);

	/* A negative pause sent through ipc_call: the CLI gets the recorder's reason. */
	call_start(&c, f->path, IPC_CMD_PAUSE, -5);
	/* Served until the call has its answer; no request comes through. */
	for (int i = 0;; i++) {
		struct pollfd pfd[IPC_SERVER_POLLFDS];

		if (i == 1000)
			fail_msg("the call got no answer within 10 s");
		ipc_server_pollfds(s, pfd);
		poll(pfd, IPC_SERVER_POLLFDS, 10);
		ipc_server_dispatch(s, pfd, util_now_mono_ns());
		assert_int_equal(ipc_server_next(s, &req, &conn), 0);
		if (pthread_tryjoin_np(c.thread, NULL) == 0)
			break;
	}
	assert_int_equal(c.ret, 0);
	assert_contains(c.reply, "\"ok\":false");
	assert_contains(c.reply, "for_ms is -5");
	call_free(&c);

	/* A reply that is not one line, or too long: the client is told, not left waiting. */
	{
		char *huge = util_xmalloc(IPC_MAX_MSG + 2);
		struct raw r;

		memset(huge, 'x', IPC_MAX_MSG + 1);
		huge[IPC_MAX_MSG + 1] = '\0';
		raw_start(&r, f->path, "{\"v\":1,\"cmd\":\"status\"}\n", 23, 0);
		assert_int_equal(serve(s, &req, &conn, NULL), 1);
		assert_int_equal(ipc_server_reply(s, conn, huge), -E2BIG);
		assert_int_equal(pthread_join(r.thread, NULL), 0);
		assert_error_reply(r.got, "reply was too long");
		raw_start(&r, f->path, "{\"v\":1,\"cmd\":\"status\"}\n", 23, 0);
		assert_int_equal(serve(s, &req, &conn, NULL), 1);
		assert_int_equal(ipc_server_reply(s, conn, "{\"a\":1}\n{\"b\":2}"), -EINVAL);
		assert_int_equal(pthread_join(r.thread, NULL), 0);
		assert_error_reply(r.got, "reply was malformed");
		free(huge);
	}
	ipc_server_close(s, 1);
}

/*
 * Issue 15: four clients that say nothing and one that sends a byte a second hold
 * their slots, yet a request that comes after them is answered at once; each of
 * them is dropped at its deadline, with the reason.
 */
static void
test_server_loiterers_wait_for_nobody(void **state)
{
	struct fixture *f = *state;
	static const char drip[] = "{\"v\":1,";
	struct ipc_server *s = NULL;
	struct ipc_request req;
	struct raw silent[4], slow;
	struct call c;
	uint32_t conn;
	int64_t t0, took;

	assert_int_equal(ipc_server_open(f->path, &s, NULL), 0);
	for (int i = 0; i < 4; i++)
		raw_start(&silent[i], f->path, NULL, 0, 0);
	/* Sends its first bytes after a second, never a whole line. */
	raw_start(&slow, f->path, drip, sizeof drip - 1, 1000);
	/* Give them their connections first. */
	for (int i = 0; i < 20; i++) {
		struct pollfd pfd[IPC_SERVER_POLLFDS];

		ipc_server_pollfds(s, pfd);
		poll(pfd, IPC_SERVER_POLLFDS, 10);
		ipc_server_dispatch(s, pfd, util_now_mono_ns());
	}
	assert_true(ipc_server_timeout_ms(s, util_now_mono_ns()) > 0);

	t0 = util_now_mono_ns();
	call_start(&c, f->path, IPC_CMD_STATUS, 0);
	assert_int_equal(serve(s, &req, &conn, NULL), 1);
	assert_int_equal(req.cmd, IPC_CMD_STATUS);
	assert_int_equal(ipc_server_reply(s, conn, "{\"v\":1,\"ok\":true}"), 0);
	call_finish(&c);
	took = util_now_mono_ns() - t0;
	assert_int_equal(c.ret, 0);
	if (took > INT64_C(500000000))
		fail_msg("the request waited %lld ms behind silent clients",
		         (long long)(took / 1000000));
	call_free(&c);

	/* The loiterers are dropped at their deadline (2 s), and told why. */
	SERVE_UNTIL(s, &slow.done);
	for (int i = 0; i < 4; i++) {
		SERVE_UNTIL(s, &silent[i].done);
		assert_int_equal(pthread_join(silent[i].thread, NULL), 0);
		assert_error_reply(silent[i].got, "no request arrived within 2000 ms");
		took = silent[i].answered_ns - t0;
		assert_true(took > INT64_C(1500000000) && took < INT64_C(4000000000));
	}
	assert_int_equal(pthread_join(slow.thread, NULL), 0);
	assert_error_reply(slow.got, "no request arrived within 2000 ms");
	ipc_server_close(s, 1);
}

/*
 * More connections than slots: the oldest that has sent nothing makes room, so a
 * client that sends its request is never shut out by silent ones.
 */
static void
test_server_connection_limit(void **state)
{
	struct fixture *f = *state;
	struct ipc_server *s = NULL;
	struct ipc_request req;
	struct raw silent[IPC_SERVER_CONNS];
	struct call c;
	uint32_t conn;
	int dropped = 0;

	assert_int_equal(ipc_server_open(f->path, &s, NULL), 0);
	for (int i = 0; i < IPC_SERVER_CONNS; i++)
		raw_start(&silent[i], f->path, NULL, 0, 0);
	for (int i = 0; i < 30; i++) {
		struct pollfd pfd[IPC_SERVER_POLLFDS];

		ipc_server_pollfds(s, pfd);
		poll(pfd, IPC_SERVER_POLLFDS, 10);
		ipc_server_dispatch(s, pfd, util_now_mono_ns());
	}
	call_start(&c, f->path, IPC_CMD_STATUS, 0);
	assert_int_equal(serve(s, &req, &conn, NULL), 1);
	assert_int_equal(ipc_server_reply(s, conn, "{\"v\":1,\"ok\":true}"), 0);
	call_finish(&c);
	assert_int_equal(c.ret, 0);
	assert_string_equal(c.reply, "{\"v\":1,\"ok\":true}");
	call_free(&c);
	/* One silent client made room, and was told so; the rest reach their deadline. */
	for (int i = 0; i < IPC_SERVER_CONNS; i++) {
		SERVE_UNTIL(s, &silent[i].done);
		assert_int_equal(pthread_join(silent[i].thread, NULL), 0);
		if (strstr(silent[i].got, "too many control connections") != NULL)
			dropped++;
		else
			assert_error_reply(silent[i].got, "no request arrived");
	}
	assert_int_equal(dropped, 1);
	ipc_server_close(s, 1);
}

struct fake {
	pthread_t thread;
	int lfd;
	const char *reply; /* NULL: close without answering */
	char request[IPC_MAX_MSG + 2];
};

static void *
fake_main(void *arg)
{
	struct fake *fk = arg;
	struct pollfd pfd = { .fd = fk->lfd, .events = POLLIN };
	size_t have = 0;
	ssize_t n;
	int s;

	if (poll(&pfd, 1, 5000) != 1)
		return NULL;
	s = accept(fk->lfd, NULL, NULL);
	if (s < 0)
		return NULL;
	while (have < sizeof fk->request - 1 && memchr(fk->request, '\n', have) == NULL) {
		pfd.fd = s;
		if (poll(&pfd, 1, 5000) != 1)
			break;
		n = recv(s, fk->request + have, sizeof fk->request - 1 - have, 0);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	fk->request[have] = '\0';
	if (fk->reply != NULL && send(s, fk->reply, strlen(fk->reply), MSG_NOSIGNAL) < 0)
		fk->request[0] = '\0';
	close(s);
	return NULL;
}

static void
run_fake(const char *path, const char *reply, int want_ret, const char *want_cause)
{
	struct fake fk = { .reply = reply };
	struct ipc_request req = { .version = 1, .cmd = IPC_CMD_PAUSE, .for_ms = 60000 };
	char *out = NULL, *cause = NULL;

	assert_int_equal(ipc_listen(path, &fk.lfd, NULL), 0);
	assert_int_equal(pthread_create(&fk.thread, NULL, fake_main, &fk), 0);
	assert_int_equal(ipc_call(path, &req, &out, &cause), want_ret);
	assert_int_equal(pthread_join(fk.thread, NULL), 0);
	close(fk.lfd);
	unlink(path);

	/* Whatever the answer, the request on the wire is exactly this line. */
	assert_string_equal(fk.request, "{\"v\":1,\"cmd\":\"pause\",\"for_ms\":60000}\n");
	if (want_ret == 0) {
		assert_null(cause);
		assert_string_equal(out, want_cause);
	} else {
		assert_null(out);
		assert_contains(cause, want_cause);
	}
	free(out);
	free(cause);
}

static void
test_call_reply_checks(void **state)
{
	struct fixture *f = *state;

	run_fake(f->path, "{\"v\":1,\"ok\":true}\r\n", 0, "{\"v\":1,\"ok\":true}");
	run_fake(f->path, "{\"v\":1,\"ok\":true}", 0, "{\"v\":1,\"ok\":true}");
	run_fake(f->path, "{\"v\":2,\"ok\":true}\n", -EPROTO,
	         "recorder speaks protocol version 2, this mimic speaks 1");
	run_fake(f->path, "{\"ok\":true}\n", -EPROTO, "no protocol version");
	run_fake(f->path, "OK\n", -EBADMSG, "not a JSON object");
	run_fake(f->path, NULL, -ECONNRESET, "closed the connection without answering");
}

static void
test_call_timeout(void **state)
{
	struct fixture *f = *state;
	struct ipc_request req = { .version = 1, .cmd = IPC_CMD_STATUS };
	char *reply = NULL, *cause = NULL;
	int lfd = -1;
	int64_t t0, dt;

	/* A recorder that listens but never answers (stuck). */
	assert_int_equal(ipc_listen(f->path, &lfd, NULL), 0);
	t0 = util_now_mono_ns();
	assert_int_equal(ipc_call(f->path, &req, &reply, &cause), -ETIMEDOUT);
	dt = util_now_mono_ns() - t0;
	assert_true(dt >= INT64_C(4900000000));
	assert_true(dt < INT64_C(8000000000));
	assert_null(reply);
	assert_contains(cause, "did not answer within 5 s");
	free(cause);
	close(lfd);
}

/* The recorder's side of test_peer_uid_refused: a server served in a thread. */
struct refusal {
	pthread_t thread;
	struct ipc_server *s;
	atomic_int stop;
	int taken;         /* requests that came through */
};

static void *
refusal_main(void *arg)
{
	struct refusal *r = arg;
	struct ipc_request req;
	uint32_t conn;

	while (serve(r->s, &req, &conn, &r->stop) == 1) {
		r->taken++;
		ipc_server_reply(r->s, conn, "{\"v\":1,\"ok\":true}");
	}
	return NULL;
}

/*
 * The other user's side, as uid 65534: its request is refused. The connection
 * closes without an answer, which the client sees as a reset, or as a broken pipe
 * when it closed before the request went.
 */
static int
stop_as_other_user(void *arg)
{
	struct ipc_request r = { .version = 1, .cmd = IPC_CMD_STOP };
	char *reply = NULL;
	int ret;

	ret = ipc_call(arg, &r, &reply, NULL);
	TESTENV_CHECK(ret == -ECONNRESET || ret == -EPIPE);
	TESTENV_CHECK(reply == NULL);
	return 0;
}

static void
test_peer_uid_refused(void **state)
{
	struct fixture *f = *state;
	struct refusal r;

	/* Only root can connect as another user in a test; CI runs as root. */
	if (geteuid() != 0)
		testenv_skip("a connection from another uid needs root (running as uid %u)",
		             (unsigned)geteuid());
	memset(&r, 0, sizeof r);
	atomic_init(&r.stop, 0);
	assert_int_equal(ipc_server_open(f->path, &r.s, NULL), 0);
	/* Open the door wide so that only the uid check stands in the way. */
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(chmod(f->path, 0666), 0);

	assert_int_equal(pthread_create(&r.thread, NULL, refusal_main, &r), 0);
	testenv_as_user(NULL, stop_as_other_user, f->path);
	atomic_store(&r.stop, 1);
	assert_int_equal(pthread_join(r.thread, NULL), 0);
	assert_int_equal(r.taken, 0);
	ipc_server_close(r.s, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_names),
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_agent_requests),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_hostile_bytes),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_listen_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_refuses_other_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_no_recorder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_answers_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_loiterers_wait_for_nobody, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_connection_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_reply_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_uid_refused, setup, teardown),
	};
	return testenv_run(tests, NULL, NULL);
}
