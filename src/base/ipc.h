/*
 * ipc: the control protocol between the mimic CLI and a running recorder.
 *
 * A Unix stream socket (mode 0600 in a 0700 directory); the server checks the
 * peer's uid with SO_PEERCRED and refuses other users. One request and one reply
 * per connection, each a single line of JSON of at most IPC_MAX_MSG bytes:
 *   request  {"v":1,"cmd":"status"}            cmd: status, stop, pause, resume
 *            {"v":1,"cmd":"pause","for_ms":900000}   (optional duration)
 *            {"v":1,"cmd":"task","task":"start","description":"File the report"}
 *            {"v":1,"cmd":"task","task":"end","outcome":"success"}   (or "fail")
 *            {"v":1,"cmd":"forget","last_ms":900000}  (or "session":3, or "all":true)
 *   reply    {"v":1,"ok":true, ...}  or  {"v":1,"ok":false,"error":"..."}
 * A request with another "v" is answered with an error naming both versions.
 * Unknown keys are ignored; "for_ms" is allowed only with pause, 0 .. a year.
 */
#ifndef MIMIC_IPC_H
#define MIMIC_IPC_H

#include <stddef.h>
#include <stdint.h>

#define IPC_VERSION 1
#define IPC_MAX_MSG 4096

enum ipc_cmd { IPC_CMD_STATUS = 1, IPC_CMD_STOP, IPC_CMD_PAUSE, IPC_CMD_RESUME, IPC_CMD_TASK,
               IPC_CMD_FORGET };

/* How long the CLI waits for the reply to forget, which deletes and compacts (ms). */
#define IPC_FORGET_TIMEOUT_MS (10 * 60 * 1000)

/* Longest task description in bytes (UTF-8), without the NUL. */
#define IPC_TASK_DESC_MAX 1000

enum ipc_task { IPC_TASK_START = 1, IPC_TASK_END = 2 };
enum ipc_outcome { IPC_OUTCOME_NONE = 0, IPC_OUTCOME_SUCCESS = 1, IPC_OUTCOME_FAIL = 2 };

struct ipc_request {
	int version;
	enum ipc_cmd cmd;
	int64_t for_ms;   /* pause duration; 0 = until resumed */
	int task;         /* task: enum ipc_task */
	int outcome;      /* task end: enum ipc_outcome (required) */
	char description[IPC_TASK_DESC_MAX + 1]; /* task start: non-empty, no control characters */
	/* forget: exactly one of these (docs/PRIVACY.md) */
	int64_t forget_last_ms;  /* > 0: what was recorded in the last this many ms */
	int64_t forget_session;  /* > 0: this session */
	int forget_all;          /* 1: everything */
};

/*
 * Parses one request (buf need not be NUL-terminated; one trailing newline is
 * allowed). Returns 0, or -EINVAL / -EPROTO (missing or other version) / -E2BIG
 * (len > IPC_MAX_MSG) with a cause; *out is zeroed on failure. Safe on any bytes
 * (fuzzed).
 */
int ipc_parse_request(const char *buf, size_t len, struct ipc_request *out /* OUT */,
                      char **cause);

/* Returns the wire name of cmd ("status", ...), or NULL. */
const char *ipc_cmd_name(enum ipc_cmd cmd);

/*
 * Binds and listens on path. If a socket file is there and a server answers on
 * it, returns -EADDRINUSE (another recorder runs); a stale file is replaced; a
 * file that is not a socket gives -EEXIST. The socket is made mode 0600. Sets
 * *fd (non-blocking, close-on-exec) on success, -1 on failure. Note: the probe
 * connection to a live server shows up there as a client that sends nothing.
 */
int ipc_listen(const char *path, int *fd /* OUT */, char **cause);

/*
 * Accepts one connection on listening fd lfd, checks the peer uid equals ours
 * (closing and returning -EPERM otherwise) and reads one request line with a
 * short timeout (2 s). On success *cfd is the connection to answer with ipc_reply.
 * On failure *cfd is -1 and the connection is already closed; a request that
 * arrived but was malformed, too long (-E2BIG), of another version (-EPROTO) or
 * late (-ETIMEDOUT) has been answered with an error reply carrying the cause.
 * -EAGAIN when no connection is waiting (lfd is non-blocking); -ECONNABORTED when
 * the client closed without sending anything.
 */
int ipc_accept(int lfd, int *cfd /* OUT */, struct ipc_request *req /* OUT */, char **cause);

/*
 * Writes reply_json (one line, at most IPC_MAX_MSG bytes, no newline) plus a
 * newline to cfd and closes cfd, also on failure. Returns 0, -EINVAL, -E2BIG,
 * -ETIMEDOUT (the client stopped reading) or -errno.
 */
int ipc_reply(int cfd, const char *reply_json);

/*
 * Answers {"v":1,"ok":false,"error":error} on cfd and closes it, as ipc_reply.
 */
int ipc_reply_error(int cfd, const char *error);

/*
 * A reply as the recorder builds it: {"v":1,"ok":true} or {"v":1,"ok":false,
 * "error":error} (no "error" when error is NULL). Returns malloc'ed JSON.
 */
char *ipc_simple_reply(int ok, const char *error);

/*
 * Client side: connects to path, sends req, and sets *reply (malloc'ed JSON line
 * without the newline). -ENOENT / -ECONNREFUSED with the cause "no recorder is
 * running" when nothing listens; -ETIMEDOUT when it does not answer within 5 s;
 * -EPROTO when the reply carries another protocol version; -EBADMSG when the
 * reply is not a JSON object; -E2BIG when it is longer than IPC_MAX_MSG. A reply
 * with "ok":false is still a success here: the caller reports its "error".
 */
int ipc_call(const char *path, const struct ipc_request *req, char **reply /* OUT */,
             char **cause);

#endif
