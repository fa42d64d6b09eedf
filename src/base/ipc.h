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
 *            {"v":1,"cmd":"agent","agent":"attach","pid":42,"idle_ms":5000}
 *            {"v":1,"cmd":"agent","agent":"detach","pid":42}   (or "handback")
 *            {"v":1,"cmd":"agent","agent":"refused","action":"{...}"}
 *   reply    {"v":1,"ok":true, ...}  or  {"v":1,"ok":false,"error":"..."}
 * A request with another "v" is answered with an error naming both versions.
 * Unknown keys are ignored; "for_ms" is allowed only with pause, 0 .. a year.
 */
#ifndef MIMIC_IPC_H
#define MIMIC_IPC_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define IPC_VERSION 1
#define IPC_MAX_MSG 4096

enum ipc_cmd { IPC_CMD_STATUS = 1, IPC_CMD_STOP, IPC_CMD_PAUSE, IPC_CMD_RESUME, IPC_CMD_TASK,
               IPC_CMD_FORGET, IPC_CMD_AGENT };

/* How long the CLI waits for the reply to forget, which deletes and compacts (ms). */
#define IPC_FORGET_TIMEOUT_MS (10 * 60 * 1000)

/* Longest task description in bytes (UTF-8), without the NUL. */
#define IPC_TASK_DESC_MAX 1000

enum ipc_task { IPC_TASK_START = 1, IPC_TASK_END = 2 };
/*
 * The agent server's requests (docs/AGENTS.md): attach (an agent run begins: from
 * now on input of anyone else takes over), detach (it ends), handback (the person
 * gives control back: `mimic agent handback`), refused (the agent's call that a
 * takeover refused, its arguments as JSON in description).
 */
enum ipc_agent { IPC_AGENT_ATTACH = 1, IPC_AGENT_DETACH, IPC_AGENT_HANDBACK, IPC_AGENT_REFUSED };
/* Longest idle time before an automatic hand-back: an hour. */
#define IPC_IDLE_MS_MAX (3600 * 1000)

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
	/* agent: what (enum ipc_agent); attach and detach: the server's pid (> 0); attach: ms
	   without the person's input after which control goes back to the agent (0: never) */
	int agent;
	int64_t agent_pid;
	int64_t idle_ms;
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
 * The recorder uses it through ipc_server_open.
 */
int ipc_listen(const char *path, int *fd /* OUT */, char **cause);

/*
 * The recorder's side: a listening socket and up to IPC_SERVER_CONNS connections,
 * served without ever waiting on a client. Every read and write is non-blocking;
 * a connection has IPC_REQUEST_DEADLINE_MS from its accept to deliver its request
 * line, and as long again to take its reply, or it is dropped (with an error line
 * when it can still take one): a silent or slow client costs the recorder one slot
 * and never a moment of its loop. When all slots are taken, a new connection
 * evicts the oldest one that has not sent its whole request yet; with none such,
 * the newcomer is answered "too many control connections" and closed. Refusals
 * (another uid, a malformed, overlong, late or other-version request) are answered
 * with an error reply carrying the cause and logged (log_warn); they are not
 * handed to the caller. Only the thread that opened the server may use it.
 */
#define IPC_SERVER_CONNS 16
#define IPC_SERVER_POLLFDS (1 + IPC_SERVER_CONNS)
#define IPC_REQUEST_DEADLINE_MS 2000

struct ipc_server;

/*
 * ipc_listen on path, into a new server *out (NULL on failure). Same errors as
 * ipc_listen.
 */
int ipc_server_open(const char *path, struct ipc_server **out /* OUT */, char **cause);

/*
 * Closes every connection (a request taken and not yet answered gets no reply)
 * and the listening socket, removes the socket file when remove_path, and frees
 * s. NULL is allowed.
 */
void ipc_server_close(struct ipc_server *s, int remove_path);

/*
 * Fills pfd[0 .. IPC_SERVER_POLLFDS - 1] with what to poll (fd -1 where there is
 * nothing to wait for), for ipc_server_dispatch after the poll.
 */
void ipc_server_pollfds(const struct ipc_server *s, struct pollfd *pfd /* OUT */);

/* Milliseconds until the next connection's deadline, or -1 when none is running. */
int ipc_server_timeout_ms(const struct ipc_server *s, int64_t now_mono_ns);

/*
 * Does what the descriptors of pfd (as ipc_server_pollfds filled them, with the
 * poll's revents; NULL: try every one) allow without waiting: accepts
 * connections, reads requests, writes replies; then drops every connection past
 * its deadline (now_mono_ns). Never blocks.
 */
void ipc_server_dispatch(struct ipc_server *s, const struct pollfd *pfd, int64_t now_mono_ns);

/*
 * The next complete request, in the order the requests completed: returns 1 and
 * fills *req and *conn (a handle for ipc_server_reply), or 0 when there is none.
 * Each request taken must be answered with ipc_server_reply, at once or later
 * (no deadline runs while the caller holds it).
 */
int ipc_server_next(struct ipc_server *s, struct ipc_request *req /* OUT */,
                    uint32_t *conn /* OUT */);

/*
 * Answers the request taken as conn with reply_json (one line, at most IPC_MAX_MSG
 * bytes, no newline), written without waiting: what the socket does not take at
 * once is written as it drains, within IPC_REQUEST_DEADLINE_MS, then the
 * connection is closed. Returns 0; -ENOENT when conn is no longer open (its
 * client went away and the slot was reused); -EINVAL (a newline, or NULL) or
 * -E2BIG: the client gets an error reply instead.
 */
int ipc_server_reply(struct ipc_server *s, uint32_t conn, const char *reply_json);

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
