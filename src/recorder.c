/*
 * recorder: the `mimic record` process.
 *
 * The main thread is the input thread: it polls the X connection, the control
 * socket and a signalfd, and hands every event to the writer thread, which is
 * the only one that touches the database while recording. Nothing on this
 * thread waits for the disk.
 */
#include "recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "config.h"
#include "event.h"
#include "frames.h"
#include "ipc.h"
#include "log.h"
#include "paths.h"
#include "store.h"
#include "util.h"
#include "writer.h"

/* Events seen while capture_open runs, before the writer exists. */
#define EARLY_MAX 64
#define EARLY_DEVICES_MAX 64

struct early_device {
	int32_t id;
	char name[128];
	int synthetic;
};

struct recorder {
	const struct recorder_opts *opts;
	char *data_dir;
	char *socket_path;
	int lock_fd;
	int ipc_fd;
	int sig_fd;
	struct store *store;
	struct capture *capture;
	struct writer *writer;
	struct frames *frames;   /* NULL when frames are off or could not start */
	struct config config;
	char frames_error[256];  /* why frames could not start, "" when they did */
	int64_t session;
	int64_t next_event_id;   /* assigned to events in push order (see event.h) */
	int64_t next_frame_id;   /* where the frames worker starts numbering */

	int paused;
	int64_t pause_until_ns;  /* 0: until resumed */
	int stop_requested;

	/* The newest context capture reported, and whether the store has it. */
	struct context last_ctx;
	int have_ctx;
	int ctx_stored;

	struct event early[EARLY_MAX];
	size_t n_early;
	struct early_device early_devs[EARLY_DEVICES_MAX];
	size_t n_early_devs;
};

/* Stores the newest context if the store does not have it yet. */
static void push_context_if_needed(struct recorder *r)
{
	if (r->have_ctx && !r->ctx_stored && r->writer != NULL) {
		writer_push_context(r->writer, &r->last_ctx);
		r->ctx_stored = 1;
	}
}

/* Gives ev the next event id and queues it for the store. */
static void push_event(struct recorder *r, struct event *ev)
{
	ev->id = r->next_event_id++;
	writer_push_event(r->writer, ev);
	/* After the push: the event has its id, and the frames engine only reads it. */
	if (r->frames != NULL)
		frames_notify(r->frames, ev);
}

static void sink_event(void *arg, const struct event *in)
{
	struct recorder *r = arg;
	struct event ev;

	/* While paused nothing is kept: no keys, no motion, no titles. */
	if (r->paused)
		return;
	if (r->writer == NULL) {
		if (r->n_early < EARLY_MAX)
			r->early[r->n_early++] = *in;
		return;
	}
	ev = *in;
	if (ev.context != 0)
		push_context_if_needed(r);
	push_event(r, &ev);
}

static void sink_context(void *arg, const struct context *ctx)
{
	struct recorder *r = arg;

	r->last_ctx = *ctx;
	r->have_ctx = 1;
	r->ctx_stored = 0;
	if (!r->paused)
		push_context_if_needed(r);
}

static void sink_device(void *arg, int32_t id, const char *name, int synthetic)
{
	struct recorder *r = arg;
	char *cause = NULL;

	if (r->store != NULL && r->session != 0 && r->writer == NULL) {
		if (store_device_put(r->store, r->session, id, name, synthetic, &cause) != 0) {
			log_warn("could not store device %d: %s", (int)id, cause);
			free(cause);
		}
		return;
	}
	/*
	 * Devices added while recording (the store belongs to the writer thread then)
	 * and devices seen before the session exists are kept here and stored at the
	 * end, so the session still names every device once.
	 */
	for (size_t i = 0; i < r->n_early_devs; i++) {
		if (r->early_devs[i].id == id) {
			util_strlcpy_utf8(r->early_devs[i].name, name, sizeof r->early_devs[i].name);
			r->early_devs[i].synthetic = synthetic;
			return;
		}
	}
	if (r->n_early_devs < EARLY_DEVICES_MAX) {
		struct early_device *d = &r->early_devs[r->n_early_devs++];
		d->id = id;
		util_strlcpy_utf8(d->name, name, sizeof d->name);
		d->synthetic = synthetic;
	}
}

static void store_early_devices(struct recorder *r)
{
	char *cause = NULL;

	for (size_t i = 0; i < r->n_early_devs; i++) {
		struct early_device *d = &r->early_devs[i];
		if (store_device_put(r->store, r->session, d->id, d->name, d->synthetic, &cause) != 0) {
			log_warn("could not store device %d: %s", (int)d->id, cause);
			free(cause);
			cause = NULL;
		}
	}
	r->n_early_devs = 0;
}

static void push_marker(struct recorder *r, int kind)
{
	struct event ev;

	memset(&ev, 0, sizeof ev);
	ev.t_ns = util_now_mono_ns();
	ev.kind = kind;
	ev.context = r->ctx_stored ? r->last_ctx.seq : 0;
	push_event(r, &ev);
}

static void set_paused(struct recorder *r, int paused, int64_t for_ms)
{
	if (paused) {
		r->pause_until_ns = for_ms > 0 ? util_now_mono_ns() + for_ms * 1000000 : 0;
		if (!r->paused) {
			push_marker(r, EVENT_PAUSE);
			r->paused = 1;
			frames_set_paused(r->frames, true);
			log_info("recording paused");
		}
	} else if (r->paused) {
		r->paused = 0;
		r->pause_until_ns = 0;
		frames_set_paused(r->frames, false);
		/* The window may have changed while paused: store the current one first. */
		push_context_if_needed(r);
		push_marker(r, EVENT_RESUME);
		log_info("recording resumed");
	}
}

static json_t *timing_json(const struct frames_timing *t)
{
	return json_pack("{s:f,s:f,s:i}", "median", t->median, "p90", t->p90, "n", (int)t->n);
}

/* The "frames" member of the status: what was stored, and why it stopped if it did. */
static json_t *frames_json(struct recorder *r)
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

static char *status_json(struct recorder *r)
{
	struct writer_stats ws;
	json_t *o;
	char *s;

	writer_get_stats(r->writer, &ws);
	o = json_object();
	json_object_set_new(o, "v", json_integer(IPC_VERSION));
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "state", json_string(r->paused ? "paused" : "recording"));
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "session", json_integer(r->session));
	json_object_set_new(o, "session_name",
	                    json_string(r->opts->session_name ? r->opts->session_name : ""));
	json_object_set_new(o, "data_dir", json_string(r->data_dir));
	json_object_set_new(o, "events_stored", json_integer((json_int_t)ws.stored));
	json_object_set_new(o, "events_queued",
	                    json_integer((json_int_t)(ws.queued - ws.stored - ws.dropped)));
	json_object_set_new(o, "events_dropped", json_integer((json_int_t)ws.dropped));
	if (r->paused && r->pause_until_ns > 0) {
		int64_t left = (r->pause_until_ns - util_now_mono_ns()) / 1000000;
		json_object_set_new(o, "paused_for_ms", json_integer(left > 0 ? left : 0));
	}
	json_object_set_new(o, "write_error", ws.error ? json_string(ws.error_text) : json_null());
	json_object_set_new(o, "frames", frames_json(r));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static char *simple_reply(int ok, const char *error)
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

static void handle_control(struct recorder *r)
{
	struct ipc_request req;
	char *cause = NULL;
	char *reply = NULL;
	int cfd = -1;
	int rc;

	rc = ipc_accept(r->ipc_fd, &cfd, &req, &cause);
	if (rc != 0) {
		if (rc != -EAGAIN && rc != -EWOULDBLOCK)
			log_warn("control request refused: %s", cause ? cause : "unknown reason");
		if (cfd >= 0) {
			reply = simple_reply(0, cause ? cause : "bad request");
			ipc_reply(cfd, reply);
		}
		goto out;
	}
	switch (req.cmd) {
	case IPC_CMD_STATUS:
		break;
	case IPC_CMD_STOP:
		r->stop_requested = 1;
		break;
	case IPC_CMD_PAUSE:
		set_paused(r, 1, req.for_ms);
		break;
	case IPC_CMD_RESUME:
		set_paused(r, 0, 0);
		break;
	}
	reply = status_json(r);
	ipc_reply(cfd, reply);
out:
	free(reply);
	free(cause);
}

static int take_lock(struct recorder *r, char **cause)
{
	char *path = util_xasprintf("%s/recorder.lock", r->data_dir);
	int rc = 0;

	r->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (r->lock_fd < 0) {
		rc = util_fail(cause, -errno, "cannot create %s: %s; choose another --data-dir",
		               path, strerror(errno));
		goto out;
	}
	if (flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		rc = util_fail(cause, -EBUSY,
		               "another recorder is writing to %s; stop it with `mimic stop` first",
		               r->data_dir);
		goto out;
	}
out:
	free(path);
	return rc;
}

static int open_signals(struct recorder *r, char **cause)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return util_fail(cause, -errno, "cannot block signals: %s", strerror(errno));
	r->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (r->sig_fd < 0)
		return util_fail(cause, -errno, "cannot create a signalfd: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Stores the effective settings and the monitors with the session. */
static void store_session_info(struct recorder *r)
{
	char *config = config_to_json(&r->config);
	char *monitors = NULL, *cause = NULL;

	if (frames_monitors_json(r->opts->display, &monitors, &cause) != 0) {
		log_warn("cannot list the monitors: %s", cause);
		free(cause);
		cause = NULL;
	}
	if (store_session_set_info(r->store, r->session, config, monitors, &cause) != 0) {
		log_warn("cannot store the session's settings: %s", cause);
		free(cause);
	}
	free(config);
	free(monitors);
}

/*
 * Starts the frames engine. Recording goes on without it when it cannot start;
 * the reason shows in the status.
 */
static void start_frames(struct recorder *r)
{
	struct frames_opts fo;
	char *dir, *cause = NULL;

	if (!r->config.frames.enabled)
		return;
	dir = util_xasprintf("%s/frames", r->data_dir);
	memset(&fo, 0, sizeof(fo));
	fo.display = r->opts->display;
	fo.blob_dir = dir;
	fo.cfg = &r->config.frames;
	fo.writer = r->writer;
	fo.first_frame_id = r->next_frame_id;
	if (frames_start(&fo, &r->frames, &cause) != 0) {
		util_strlcpy_utf8(r->frames_error, cause != NULL ? cause : "cannot take frames",
		                  sizeof(r->frames_error));
		log_error("recording without frames: %s", r->frames_error);
		r->frames = NULL;
	}
	free(cause);
	free(dir);
}

static int begin_session(struct recorder *r, char **cause)
{
	struct store_session s;
	struct capture_info info;
	int rc;

	memset(&s, 0, sizeof s);
	capture_get_info(r->capture, &info);
	if (r->opts->session_name != NULL)
		util_strlcpy_utf8(s.name, r->opts->session_name, sizeof s.name);
	if (gethostname(s.host, sizeof s.host - 1) != 0)
		util_strlcpy_utf8(s.host, "unknown", sizeof s.host);
	s.start_wall_ns = util_now_wall_ns();
	s.start_mono_ns = util_now_mono_ns();
	s.screen_w = info.screen_w;
	s.screen_h = info.screen_h;
	util_strlcpy_utf8(s.keymap, info.keymap, sizeof s.keymap);
	util_strlcpy_utf8(s.version, MIMIC_VERSION, sizeof s.version);
	rc = store_session_begin(r->store, &s, &r->session, cause);
	if (rc != 0)
		return rc;
	store_session_info(r);
	store_early_devices(r);
	rc = store_next_event_id(r->store, &r->next_event_id, cause);
	if (rc != 0)
		return rc;
	rc = store_next_frame_id(r->store, &r->next_frame_id, cause);
	if (rc != 0)
		return rc;
	rc = writer_start(r->store, r->session, 0, &r->writer, cause);
	if (rc != 0)
		return rc;
	push_context_if_needed(r);
	for (size_t i = 0; i < r->n_early; i++)
		push_event(r, &r->early[i]);
	r->n_early = 0;
	start_frames(r);
	return 0;
}

/* Runs until stopped; returns the enum recorder_end. */
static int loop(struct recorder *r, char **cause)
{
	for (;;) {
		struct pollfd pfd[3];
		int timeout;
		int rc;

		rc = capture_dispatch(r->capture, cause);
		if (rc != 0)
			return RECORDER_END_X_GONE;
		if (r->stop_requested) {
			if (capture_sync(r->capture, cause) != 0)
				return RECORDER_END_X_GONE;
			return RECORDER_END_STOPPED;
		}
		if (r->paused && r->pause_until_ns != 0 && util_now_mono_ns() >= r->pause_until_ns)
			set_paused(r, 0, 0);

		timeout = capture_tick(r->capture, util_now_mono_ns());
		if (r->paused && r->pause_until_ns != 0) {
			int64_t left = (r->pause_until_ns - util_now_mono_ns()) / 1000000 + 1;
			if (timeout < 0 || left < timeout)
				timeout = left > INT_MAX ? INT_MAX : (int)left;
		}
		pfd[0] = (struct pollfd){ .fd = capture_fd(r->capture), .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = r->ipc_fd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = r->sig_fd, .events = POLLIN };
		rc = poll(pfd, 3, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			util_fail(cause, -errno, "poll failed: %s", strerror(errno));
			return RECORDER_END_STOPPED;
		}
		if (pfd[0].revents & (POLLERR | POLLHUP)) {
			/* Let capture_dispatch see the error and explain it. */
			if (capture_dispatch(r->capture, cause) != 0)
				return RECORDER_END_X_GONE;
		}
		if (pfd[1].revents & POLLIN)
			handle_control(r);
		if (pfd[2].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(r->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
				log_info("signal %u: closing the session", si.ssi_signo);
				r->stop_requested = 1;
			}
		}
	}
}

int recorder_run(const struct recorder_opts *opts, int64_t *session_id, char **cause)
{
	struct recorder *r = util_xcalloc(1, sizeof *r);
	struct capture_sink sink = { sink_event, sink_context, sink_device };
	struct writer_stats ws;
	const char *reason;
	int end = RECORDER_END_STOPPED;
	char *end_cause = NULL;
	int rc;

	r->opts = opts;
	r->lock_fd = r->ipc_fd = r->sig_fd = -1;

	/* A bad settings file is refused before anything else happens. */
	rc = config_load(opts->config_path, &r->config, cause);
	if (rc != 0)
		goto fail;
	if (opts->no_frames)
		r->config.frames.enabled = false;

	rc = paths_data_dir(opts->data_dir, &r->data_dir, cause);
	if (rc != 0)
		goto fail;
	rc = paths_ensure_dir(r->data_dir, cause);
	if (rc != 0)
		goto fail;
	rc = paths_control_socket(1, &r->socket_path, cause);
	if (rc != 0)
		goto fail;
	rc = ipc_listen(r->socket_path, &r->ipc_fd, cause);
	if (rc == -EADDRINUSE) {
		free(*cause);
		*cause = NULL;
		rc = util_fail(cause, rc, "a recorder is already running (control socket %s); "
		               "stop it with `mimic stop` first", r->socket_path);
	}
	if (rc != 0)
		goto fail;
	rc = take_lock(r, cause);
	if (rc != 0)
		goto fail;
	rc = store_open(r->data_dir, 0, &r->store, cause);
	if (rc != 0)
		goto fail;
	rc = store_recover(r->store, NULL, cause);
	if (rc != 0)
		goto fail;
	rc = open_signals(r, cause);
	if (rc != 0)
		goto fail;
	rc = capture_open(opts->display, &sink, r, &r->capture, cause);
	if (rc != 0)
		goto fail;
	rc = begin_session(r, cause);
	if (rc != 0)
		goto fail;

	if (!opts->quiet) {
		printf("mimic: recording session %lld into %s (stop with `mimic stop` or Ctrl-C)\n",
		       (long long)r->session, r->data_dir);
		fflush(stdout);
	}
	log_info("recording session %lld", (long long)r->session);

	end = loop(r, &end_cause);

	/* The frames engine hands its last records to the writer before the writer stops. */
	if (r->frames != NULL) {
		frames_stop(r->frames, NULL);
		r->frames = NULL;
	}
	/* Close: everything queued is committed before the session is marked ended. */
	writer_sync(r->writer, NULL);
	writer_get_stats(r->writer, &ws);
	rc = writer_stop(r->writer, end == RECORDER_END_STOPPED ? &end_cause : NULL);
	r->writer = NULL;
	if (rc != 0 && end == RECORDER_END_STOPPED)
		end = RECORDER_END_WRITE_FAILED;
	store_early_devices(r);
	reason = end == RECORDER_END_X_GONE ? "x-server-gone"
	       : end == RECORDER_END_WRITE_FAILED ? "write-failed" : "stopped";
	if (store_session_end(r->store, r->session, util_now_wall_ns(), reason, NULL) != 0 &&
	    end == RECORDER_END_STOPPED)
		end = RECORDER_END_WRITE_FAILED;
	if (session_id != NULL)
		*session_id = r->session;
	if (!opts->quiet) {
		printf("mimic: session %lld closed (%s): %llu events stored, %llu dropped\n",
		       (long long)r->session, reason, (unsigned long long)ws.stored,
		       (unsigned long long)ws.dropped);
		fflush(stdout);
	}
	if (end != RECORDER_END_STOPPED && end_cause != NULL) {
		*cause = end_cause;
		end_cause = NULL;
	}
	rc = end;
	goto done;

fail:
	if (r->frames != NULL) {
		frames_stop(r->frames, NULL);
		r->frames = NULL;
	}
	if (r->writer != NULL) {
		writer_stop(r->writer, NULL);
		r->writer = NULL;
	}
done:
	free(end_cause);
	capture_close(r->capture);
	store_close(r->store);
	if (r->ipc_fd >= 0) {
		close(r->ipc_fd);
		/* Only the recorder that owns the socket removes it. */
		if (rc != -EADDRINUSE && r->socket_path != NULL)
			unlink(r->socket_path);
	}
	if (r->sig_fd >= 0)
		close(r->sig_fd);
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	free(r->socket_path);
	free(r->data_dir);
	free(r);
	return rc;
}
