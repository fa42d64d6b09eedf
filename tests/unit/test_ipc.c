/*
 * Tests for ipc: a real recorder-side socket in a temporary directory talks to a
 * real client in another thread. What is checked is what each side sees: the
 * request as the recorder parsed it, the reply line the CLI got back, the error a
 * person would read when a request is malformed, late or from another version,
 * and that a live socket is never stolen while a stale one is replaced.
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

/* Waits (up to 5 s) for a connection on lfd and accepts it. */
static int
accept_one(int lfd, int *cfd, struct ipc_request *req, char **cause)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, 5000), 1);
	return ipc_accept(lfd, cfd, req, cause);
}

/* --- a raw client that sends exact bytes --------------------------------------- */

struct raw {
	pthread_t thread;
	const char *path;
	const char *send;    /* bytes to send; NULL sends nothing */
	size_t send_len;
	int hold_ms;         /* stay connected this long before sending */
	char got[IPC_MAX_MSG + 2];
	size_t got_len;
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

	if (s < 0)
		return NULL;
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
	close(s);
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

/* Sends raw bytes to a listening recorder socket and checks what both sides see. */
static void
check_bad_request(const char *path, int lfd, const char *bytes, size_t len, int want_err,
                  const char *want_cause)
{
	struct ipc_request req;
	struct raw r;
	char *cause = NULL;
	int cfd = 7;

	memset(&r, 0, sizeof r);
	r.path = path;
	r.send = bytes;
	r.send_len = len;
	assert_int_equal(pthread_create(&r.thread, NULL, raw_main, &r), 0);
	assert_int_equal(accept_one(lfd, &cfd, &req, &cause), want_err);
	assert_int_equal(cfd, -1);
	assert_contains(cause, want_cause);
	assert_int_equal(pthread_join(r.thread, NULL), 0);
	/* The person at the CLI reads the same reason. */
	assert_error_reply(r.got, want_cause);
	free(cause);
}

/* --- tests ------------------------------------------------------------------ */

static void
test_cmd_names(void **state)
{
	(void)state;
	assert_string_equal(ipc_cmd_name(IPC_CMD_STATUS), "status");
	assert_string_equal(ipc_cmd_name(IPC_CMD_STOP), "stop");
	assert_string_equal(ipc_cmd_name(IPC_CMD_PAUSE), "pause");
	assert_string_equal(ipc_cmd_name(IPC_CMD_RESUME), "resume");
	assert_string_equal(ipc_cmd_name(IPC_CMD_FORGET), "forget");
	assert_null(ipc_cmd_name((enum ipc_cmd)0));
	assert_null(ipc_cmd_name((enum ipc_cmd)(IPC_CMD_FORGET + 1)));
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
	struct ipc_request req;
	struct call c;
	struct stat st;
	char *cause = NULL;
	int lfd = -1, cfd = -1;

	assert_int_equal(ipc_listen(f->path, &lfd, &cause), 0);
	assert_null(cause);
	assert_true(lfd >= 0);
	assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	/* Nothing waiting yet: the non-blocking listener says so. */
	assert_int_equal(ipc_accept(lfd, &cfd, &req, NULL), -EAGAIN);
	assert_int_equal(cfd, -1);

	call_start(&c, f->path, IPC_CMD_PAUSE, 900000);
	assert_int_equal(accept_one(lfd, &cfd, &req, &cause), 0);
	assert_null(cause);
	assert_true(cfd >= 0);
	assert_true(fcntl(cfd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(req.version, 1);
	assert_int_equal(req.cmd, IPC_CMD_PAUSE);
	assert_true(req.for_ms == 900000);
	assert_int_equal(ipc_reply(cfd, "{\"v\":1,\"ok\":true,\"state\":\"paused\"}"), 0);
	call_finish(&c);
	assert_int_equal(c.ret, 0);
	assert_null(c.cause);
	assert_string_equal(c.reply, "{\"v\":1,\"ok\":true,\"state\":\"paused\"}");
	call_free(&c);

	/* A second conversation on the same socket, without for_ms. */
	call_start(&c, f->path, IPC_CMD_STATUS, 0);
	assert_int_equal(accept_one(lfd, &cfd, &req, &cause), 0);
	assert_int_equal(req.cmd, IPC_CMD_STATUS);
	assert_true(req.for_ms == 0);
	assert_int_equal(ipc_reply_error(cfd, "recorder is shutting down"), 0);
	call_finish(&c);
	/* ok:false is still a delivered reply; the CLI reports its error. */
	assert_int_equal(c.ret, 0);
	assert_string_equal(c.reply, "{\"v\":1,\"ok\":false,\"error\":\"recorder is shutting down\"}");
	call_free(&c);

	close(lfd);
}

static void
test_second_listen_in_use(void **state)
{
	struct fixture *f = *state;
	struct ipc_request req;
	struct call c;
	char *cause = NULL;
	int lfd = -1, lfd2 = 99, cfd = -1;

	assert_int_equal(ipc_listen(f->path, &lfd, &cause), 0);
	assert_int_equal(ipc_listen(f->path, &lfd2, &cause), -EADDRINUSE);
	assert_int_equal(lfd2, -1);
	assert_contains(cause, "another recorder is already running");
	assert_contains(cause, f->path);
	free(cause);
	cause = NULL;

	/* The probe shows up at the live recorder as a client that sent nothing. */
	assert_int_equal(accept_one(lfd, &cfd, &req, &cause), -ECONNABORTED);
	assert_int_equal(cfd, -1);
	free(cause);
	cause = NULL;

	/* The first recorder's socket still works. */
	call_start(&c, f->path, IPC_CMD_STOP, 0);
	assert_int_equal(accept_one(lfd, &cfd, &req, &cause), 0);
	assert_int_equal(req.cmd, IPC_CMD_STOP);
	assert_int_equal(ipc_reply(cfd, "{\"v\":1,\"ok\":true}"), 0);
	call_finish(&c);
	assert_int_equal(c.ret, 0);
	assert_string_equal(c.reply, "{\"v\":1,\"ok\":true}");
	call_free(&c);
	close(lfd);
}

static void
test_stale_socket_replaced(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ipc_request req;
	struct call c;
	char *cause = NULL;
	struct stat st;
	int s, lfd = -1, cfd = -1;

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
	assert_int_equal(ipc_listen(f->path, &lfd, &cause), 0);
	assert_null(cause);
	call_start(&c, f->path, IPC_CMD_RESUME, 0);
	assert_int_equal(accept_one(lfd, &cfd, &req, &cause), 0);
	assert_int_equal(req.cmd, IPC_CMD_RESUME);
	assert_int_equal(ipc_reply(cfd, "{\"v\":1,\"ok\":true,\"state\":\"recording\"}"), 0);
	call_finish(&c);
	assert_int_equal(c.ret, 0);
	assert_string_equal(c.reply, "{\"v\":1,\"ok\":true,\"state\":\"recording\"}");
	call_free(&c);
	close(lfd);
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
test_accept_answers_bad_requests(void **state)
{
	struct fixture *f = *state;
	char big[IPC_MAX_MSG + 100];
	char *exact;
	struct ipc_request req;
	struct call c;
	char *cause = NULL;
	int lfd = -1, cfd = -1;
	size_t n;

	assert_int_equal(ipc_listen(f->path, &lfd, &cause), 0);

#define BAD(s, err, part) check_bad_request(f->path, lfd, s, strlen(s), err, part)
	BAD("{\"v\":2,\"cmd\":\"status\"}\n", -EPROTO, "version 2, this recorder speaks 1");
	BAD("{\"cmd\":\"status\"}\n", -EPROTO, "no protocol version");
	BAD("hello recorder\n", -EINVAL, "not valid JSON");
	BAD("{\"v\":1,\"cmd\":\"format-disk\"}\n", -EINVAL, "unknown command \"format-disk\"");
	BAD("{\"v\":1,\"cmd\":\"pause\",\"for_ms\":-5}\n", -EINVAL, "for_ms is -5");
#undef BAD

	/* Longer than the limit, with no newline in sight. */
	memset(big, 'a', sizeof big);
	check_bad_request(f->path, lfd, big, sizeof big, -E2BIG, "longer than the limit of 4096");

	/* Exactly IPC_MAX_MSG bytes of JSON plus the newline is accepted. */
	exact = util_xmalloc(IPC_MAX_MSG + 2);
	n = (size_t)snprintf(exact, IPC_MAX_MSG + 2, "{\"v\":1,\"cmd\":\"status\"}");
	memset(exact + n, ' ', IPC_MAX_MSG - n);
	exact[IPC_MAX_MSG] = '\n';
	{
		struct raw r;
		memset(&r, 0, sizeof r);
		r.path = f->path;
		r.send = exact;
		r.send_len = IPC_MAX_MSG + 1;
		assert_int_equal(pthread_create(&r.thread, NULL, raw_main, &r), 0);
		assert_int_equal(accept_one(lfd, &cfd, &req, &cause), 0);
		assert_int_equal(req.cmd, IPC_CMD_STATUS);
		assert_int_equal(ipc_reply(cfd, "{\"v\":1,\"ok\":true}"), 0);
		assert_int_equal(pthread_join(r.thread, NULL), 0);
		assert_string_equal(r.got, "{\"v\":1,\"ok\":true}\n");
	}
	free(exact);

	/* A negative pause sent through ipc_call: the CLI gets the recorder's reason. */
	call_start(&c, f->path, IPC_CMD_PAUSE, -5);
	assert_int_equal(accept_one(lfd, &cfd, &req, &cause), -EINVAL);
	assert_contains(cause, "for_ms is -5");
	free(cause);
	cause = NULL;
	call_finish(&c);
	assert_int_equal(c.ret, 0);
	assert_contains(c.reply, "\"ok\":false");
	assert_contains(c.reply, "for_ms is -5");
	call_free(&c);

	close(lfd);
}

static void
test_accept_timeout(void **state)
{
	struct fixture *f = *state;
	struct ipc_request req;
	struct raw r;
	char *cause = NULL;
	int lfd = -1, cfd = -1;
	int64_t t0, dt;

	assert_int_equal(ipc_listen(f->path, &lfd, &cause), 0);
	/* A client that connects and says nothing for 3 s. */
	memset(&r, 0, sizeof r);
	r.path = f->path;
	r.hold_ms = 3000;
	assert_int_equal(pthread_create(&r.thread, NULL, raw_main, &r), 0);
	t0 = util_now_mono_ns();
	assert_int_equal(accept_one(lfd, &cfd, &req, &cause), -ETIMEDOUT);
	dt = util_now_mono_ns() - t0;
	assert_true(dt >= INT64_C(1900000000));
	assert_true(dt < INT64_C(3000000000));
	assert_int_equal(cfd, -1);
	assert_contains(cause, "no request arrived");
	free(cause);
	assert_int_equal(pthread_join(r.thread, NULL), 0);
	assert_error_reply(r.got, "no request arrived");
	close(lfd);
}

/* A fake recorder: accepts one connection, reads the request, sends `reply` raw. */
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

static void
test_reply_limits(void **state)
{
	char big[IPC_MAX_MSG + 2];
	char got[64];
	int sv[2];

	(void)state;
	assert_int_equal(ipc_reply(-1, "{}"), -EBADF);
	assert_int_equal(ipc_reply_error(-1, "x"), -EBADF);

	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(ipc_reply(sv[0], big), -E2BIG);
	/* The connection is closed without a partial line. */
	assert_int_equal(recv(sv[1], got, sizeof got, 0), 0);
	close(sv[1]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(ipc_reply(sv[0], "{\"a\":1}\n{\"b\":2}"), -EINVAL);
	assert_int_equal(recv(sv[1], got, sizeof got, 0), 0);
	close(sv[1]);

	/* An error with characters that need escaping still makes one JSON line. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(ipc_reply_error(sv[0], "bad \"quote\"\nline"), 0);
	memset(got, 0, sizeof got);
	assert_true(recv(sv[1], got, sizeof got - 1, 0) > 0);
	assert_string_equal(got, "{\"v\":1,\"ok\":false,\"error\":\"bad \\\"quote\\\"\\nline\"}\n");
	close(sv[1]);
}

/* The recorder's side of test_peer_uid_refused: one ipc_accept in a thread. */
struct refusal {
	pthread_t thread;
	int lfd;
	int polled;        /* poll's result: 1 when a connection came */
	int ret;
	int cfd;
	struct ipc_request req;
	char *cause;
};

static void *
refusal_main(void *arg)
{
	struct refusal *r = arg;
	struct pollfd pfd = { .fd = r->lfd, .events = POLLIN };

	r->polled = poll(&pfd, 1, 10000);
	if (r->polled == 1)
		r->ret = ipc_accept(r->lfd, &r->cfd, &r->req, &r->cause);
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
	struct refusal r = { .cfd = 7 };

	/* Only root can connect as another user in a test; CI runs as root. */
	if (geteuid() != 0)
		testenv_skip("a connection from another uid needs root (running as uid %u)",
		             (unsigned)geteuid());
	assert_int_equal(ipc_listen(f->path, &r.lfd, NULL), 0);
	/* Open the door wide so that only the uid check stands in the way. */
	assert_int_equal(chmod(f->dir, 0755), 0);
	assert_int_equal(chmod(f->path, 0666), 0);
	memset(&r.req, 0x55, sizeof r.req);

	assert_int_equal(pthread_create(&r.thread, NULL, refusal_main, &r), 0);
	testenv_as_user(NULL, stop_as_other_user, f->path);
	assert_int_equal(pthread_join(r.thread, NULL), 0);
	assert_int_equal(r.polled, 1);
	assert_int_equal(r.ret, -EPERM);
	assert_int_equal(r.cfd, -1);
	assert_contains(r.cause, "refused a control connection from uid 65534");
	assert_contains(r.cause, "only uid 0 may control this recorder");
	assert_int_equal(r.req.cmd, 0);
	free(r.cause);
	close(r.lfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_names),
		cmocka_unit_test(test_parse_valid),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_hostile_bytes),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_listen_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_refuses_other_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_no_recorder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_answers_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_reply_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_timeout, setup, teardown),
		cmocka_unit_test(test_reply_limits),
		cmocka_unit_test_setup_teardown(test_peer_uid_refused, setup, teardown),
	};
	return testenv_run(tests, NULL, NULL);
}
