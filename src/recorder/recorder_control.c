/*
 * recorder_control: the requests on the control socket (docs/CLI.md): status,
 * stop, pause, resume, task markers and forget, each answered with one line of
 * JSON; the status says what is stored, what is queued and how the frames, the
 * safeguards and the UI elements fare. The socket is served by ipc_server, which
 * never waits on a client; a request takes effect when its line has arrived
 * (pause before its answer goes out), and forget, which may take minutes, runs on
 * the writer's thread and is answered when it is done.
 */
#include "recorder_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "testbreak.h"
#include "util.h"
/*
 * Stores a task marker (`mimic task start|end`) between the events pushed before
 * it and the next one. Returns NULL, or why the request is refused.
 */
static const char *task_marker(struct recorder *r, const struct ipc_request *req)
{
	struct store_task t;

	if (req->task == IPC_TASK_START && r->task_open)
		return "a task is already running; end it with `mimic task end --success` or "
		       "`--fail` first";
	if (req->task == IPC_TASK_END && !r->task_open)
		return "no task is running; start one with `mimic task start \"DESCRIPTION\"`";
	memset(&t, 0, sizeof t);
	t.t_ns = util_now_mono_ns();
	t.next_event = r->next_event_id;
	t.kind = req->task == IPC_TASK_START ? STORE_TASK_START : STORE_TASK_END;
	t.outcome = req->outcome == IPC_OUTCOME_SUCCESS ? STORE_TASK_SUCCESS
	          : req->outcome == IPC_OUTCOME_FAIL ? STORE_TASK_FAIL : STORE_TASK_NONE;
	util_strlcpy_utf8(t.description, req->description, sizeof t.description);
	writer_push_task(r->writer, &t);
	r->task_open = req->task == IPC_TASK_START;
	log_info("task %s", req->task == IPC_TASK_START ? "started" : "ended");
	return NULL;
}

static json_t *timing_json(const struct frames_timing *t)
{
	return json_pack("{s:f,s:f,s:i}", "median", t->median, "p90", t->p90, "n", (int)t->n);
}

/* The "frames" member of the status: what was stored, and why it stopped if it did. */
static json_t *frames_json(const struct recorder *r)
{
	struct frames_stats fs;
	json_t *o = json_object();

	json_object_set_new(o, "enabled", json_boolean(r->config.frames.enabled));
	if (r->frames == NULL) {
		json_object_set_new(o, "stored", json_integer(0));
		json_object_set_new(o, "error", r->frames_error[0] ? json_string(r->frames_error) :
		                    json_null());
		return o;
	}
	frames_get_stats(r->frames, &fs);
	json_object_set_new(o, "stored", json_integer((json_int_t)fs.stored));
	json_object_set_new(o, "encoded", json_integer((json_int_t)fs.encoded));
	json_object_set_new(o, "keys", json_integer((json_int_t)fs.keys));
	json_object_set_new(o, "reused", json_integer((json_int_t)fs.reused));
	json_object_set_new(o, "unchanged", json_integer((json_int_t)fs.unchanged));
	json_object_set_new(o, "bytes", json_integer((json_int_t)fs.bytes));
	json_object_set_new(o, "grabs", json_integer((json_int_t)fs.grabs));
	json_object_set_new(o, "dropped", json_integer((json_int_t)fs.dropped));
	json_object_set_new(o, "error", fs.error ? json_string(fs.error_text) : json_null());
	json_object_set_new(o, "timing_ms", json_pack("{s:o,s:o,s:o,s:o,s:o}",
	                    "grab", timing_json(&fs.grab_ms), "prep", timing_json(&fs.prep_ms),
	                    "encode", timing_json(&fs.encode_ms),
	                    "worker", timing_json(&fs.worker_ms),
	                    "total", timing_json(&fs.total_ms)));
	return o;
}

static char *status_json(const struct recorder *r)
{
	struct writer_stats ws;
	json_t *o;
	char *s;

	writer_get_stats(r->writer, &ws);
	o = json_object();
	json_object_set_new(o, "v", json_integer(IPC_VERSION));
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "state", json_string(guard_paused(r->guard) ? "paused" :
	                                                   "recording"));
	json_object_set_new(o, "task", json_boolean(r->task_open));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "session", json_integer(r->session));
	json_object_set_new(o, "session_name",
	                    json_string(r->opts->session_name ? r->opts->session_name : ""));
	json_object_set_new(o, "data_dir", json_string(r->data_dir));
	json_object_set_new(o, "events_stored", json_integer((json_int_t)ws.stored));
	json_object_set_new(o, "events_queued",
	                    json_integer((json_int_t)(ws.queued - ws.stored - ws.dropped)));
	json_object_set_new(o, "events_dropped", json_integer((json_int_t)ws.dropped));
	if (guard_paused(r->guard) && guard_paused_until(r->guard) > 0) {
		int64_t left = (guard_paused_until(r->guard) - util_now_mono_ns()) / 1000000;
		json_object_set_new(o, "paused_for_ms", json_integer(left > 0 ? left : 0));
	}
	json_object_set_new(o, "write_error", ws.error ? json_string(ws.error_text) : json_null());
	json_object_set_new(o, "frames", frames_json(r));
	json_object_set_new(o, "safeguards", guard_json(r->guard));
	json_object_set_new(o, "agent", recorder_agent_json(r));
	json_object_set_new(o, "accessibility", recorder_elements_json(r, &ws));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/*
 * `mimic forget` while recording: the frames engine stops (so that no frame in
 * flight names a deleted one) and the deletion runs as a job on the writer's
 * thread; the loop goes on meanwhile (input is judged and queued as ever, and
 * committed after the job), and recorder_forget_done answers once it has run.
 * Returns a reply to send now (a refusal), or NULL when the answer comes later.
 */
static char *forget_request(struct recorder *r, const struct ipc_request *req, uint32_t conn)
{
	if (req->forget_session == r->session && !testbreak("forget-recorded-session"))
		return ipc_simple_reply(0, "that session is being recorded; stop it first (mimic stop) "
		                        "or use forget --last");
	if (r->forget.state != FORGET_NONE)
		return ipc_simple_reply(0, "another forget is running; wait for it to finish");
	r->forget.req = *req;
	r->forget.conn = conn;
	r->forget.had_frames = r->frames != NULL;
	r->forget.state = FORGET_WAITING;
	recorder_stop_frames(r);
	recorder_forget_post(r);
	return NULL;
}

void recorder_forget_post(struct recorder *r)
{
	int rc;

	if (r->forget.state != FORGET_WAITING)
		return;
	rc = guard_forget_post(r->guard, r->writer, r->session, &r->forget.req, r->forget.fd,
	                       &r->forget.job);
	if (rc == -EBUSY)
		return; /* a retention job runs: the next turn of the loop posts again */
	if (rc != 0) {
		char *reply = ipc_simple_reply(0, "the deletion could not start");

		ipc_server_reply(r->ipc, r->forget.conn, reply);
		free(reply);
		r->forget.state = FORGET_NONE;
		if (r->forget.had_frames) {
			recorder_start_frames(r);
			guard_set_frames(r->guard, r->frames);
		}
		return;
	}
	r->forget.state = FORGET_POSTED;
	/* Events from here on may follow the deletion: they store the window again. */
	r->ctx_stored = 0;
}

void recorder_forget_done(struct recorder *r, int restart_frames)
{
	int64_t next_frame_id = 0;
	uint64_t n;
	char *reply;

	if (r->forget.state == FORGET_WAITING && !restart_frames) {
		/* Stopped before the writer could take it: nothing was deleted. */
		reply = ipc_simple_reply(0, "the recorder stopped before the deletion could start; "
		                         "nothing was deleted: run forget again");
		ipc_server_reply(r->ipc, r->forget.conn, reply);
		free(reply);
		r->forget.state = FORGET_NONE;
		return;
	}
	if (r->forget.state != FORGET_POSTED)
		return;
	if (read(r->forget.fd, &n, sizeof n) < 0 && restart_frames)
		return; /* not done yet (EAGAIN) */
	reply = guard_forget_finish(r->guard, r->forget.job, &next_frame_id);
	r->forget.job = NULL;
	r->forget.state = FORGET_NONE;
	ipc_server_reply(r->ipc, r->forget.conn, reply);
	free(reply);
	/* The current window may have been deleted: store it again with the next event. */
	r->ctx_stored = 0;
	if (r->forget.had_frames && restart_frames) {
		if (next_frame_id > 0)
			r->next_frame_id = next_frame_id;
		recorder_start_frames(r);
		guard_set_frames(r->guard, r->frames);
	}
}

/* Carries out one request; returns the reply, or NULL when it comes later (forget). */
static char *handle_request(struct recorder *r, const struct ipc_request *req, uint32_t conn)
{
	switch (req->cmd) {
	case IPC_CMD_STATUS:
		break;
	case IPC_CMD_STOP:
		r->stop_requested = 1;
		break;
	case IPC_CMD_PAUSE:
		guard_set_paused(r->guard, 1, req->for_ms);
		break;
	case IPC_CMD_RESUME:
		if (guard_resume_refused(r->guard) != NULL)
			return ipc_simple_reply(0, guard_resume_refused(r->guard));
		guard_set_paused(r->guard, 0, 0);
		break;
	case IPC_CMD_FORGET:
		return forget_request(r, req, conn);
	case IPC_CMD_AGENT: {
		const char *why = recorder_agent_request(r, req);

		if (why != NULL)
			return ipc_simple_reply(0, why);
		break;
	}
	case IPC_CMD_TASK: {
		const char *why = task_marker(r, req);

		if (why != NULL)
			return ipc_simple_reply(0, why);
		break;
	}
	}
	return status_json(r);
}

void recorder_handle_control(struct recorder *r, const struct pollfd *pfd)
{
	struct ipc_request req;
	uint32_t conn;

	ipc_server_dispatch(r->ipc, pfd, util_now_mono_ns());
	while (ipc_server_next(r->ipc, &req, &conn)) {
		char *reply = handle_request(r, &req, conn);

		if (reply != NULL || req.cmd != IPC_CMD_FORGET)
			ipc_server_reply(r->ipc, conn, reply);
		free(reply);
	}
}
