/*
 * recorder: the `mimic record` process.
 *
 * The main thread is the input thread: it polls the X connection, the control
 * socket and a signalfd, and hands every event to the writer thread, which is
 * the only one that touches the database while recording. Nothing on this
 * thread waits for the disk. The safeguards (guard.h) judge every event before
 * it is queued; UI elements and the control requests are in the files next to
 * this one (recorder_int.h).
 */
#include "recorder_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "paths.h"
#include "util.h"

/* Stores the newest context if the store does not have it yet. */
static void push_context_if_needed(struct recorder *r)
{
	/* The window of an out-of-scope application is never stored, not even its title. */
	if (guard_out_of_scope(r->guard))
		return;
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
	/* Stored events only: what the safeguards drop gets no lookup either. */
	recorder_elements_on_event(r, ev);
	/* Stored input only: what is not recorded never takes over from an agent. */
	recorder_agent_on_event(r, ev);
}

/* The safeguards' markers: stored once the writer runs. */
static int hook_push_event(void *arg, struct event *ev)
{
	struct recorder *r = arg;

	if (r->writer == NULL)
		return -EAGAIN;
	push_event(r, ev);
	return 0;
}

static void hook_push_context(void *arg)
{
	push_context_if_needed(arg);
}

static int32_t hook_stored_context(void *arg)
{
	struct recorder *r = arg;

	return r->ctx_stored ? r->last_ctx.seq : 0;
}

/* An input event the safeguards held for a browser's page, now passed: stored as any. */
static void hook_release_event(void *arg, struct event *ev)
{
	struct recorder *r = arg;

	if (guard_paused(r->guard) || r->writer == NULL)
		return;
	if (ev->context != 0)
		push_context_if_needed(r);
	push_event(r, ev);
}

/* The focused browser window's page URL: its context, not stored yet, carries it. */
static void hook_set_url(void *arg, const char *url)
{
	struct recorder *r = arg;

	if (r->have_ctx && !r->ctx_stored)
		util_strlcpy_utf8(r->last_ctx.url, url, sizeof r->last_ctx.url);
}

static void sink_event(void *arg, const struct event *in)
{
	struct recorder *r = arg;
	struct event ev;

	/* Out of scope, the hotkey, password fields (docs/POLICY.md). */
	ev = *in;
	if (!guard_filter(r->guard, &ev))
		return;
	/* While paused nothing is kept: no keys, no motion, no titles. */
	if (guard_paused(r->guard))
		return;
	if (r->writer == NULL) {
		if (r->n_early < EARLY_MAX)
			r->early[r->n_early++] = ev;
		return;
	}
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
	guard_on_context(r->guard, ctx);
	if (!guard_paused(r->guard))
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

/*
 * Encrypts what rows from before encryption hold in the clear, leaving no clear
 * copy behind (store_seal_plain, then compact). Posted on the writer thread at
 * start: a long history is scanned without delaying recording.
 */
static int seal_job_run(struct store *st, void *arg)
{
	int64_t sealed = 0;
	char *why = NULL;

	(void)arg;
	if (store_seal_plain(st, &sealed, &why) != 0 ||
	    (sealed > 0 && store_compact(st, &why) != 0))
		log_warn("cannot encrypt older records: %s", why != NULL ? why : "unknown");
	else if (sealed > 0)
		log_info("encrypted %lld older records", (long long)sealed);
	free(why);
	return 0;
}

static int take_lock(struct recorder *r, char **cause)
{
	char *path = util_xasprintf("%s/recorder.lock", r->data_dir);
	int rc = 0;

	r->lock_fd = paths_open_private(path, O_RDWR, cause);
	if (r->lock_fd < 0) {
		rc = r->lock_fd;
		goto fail;
	}
	if (flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		rc = util_fail(cause, -EBUSY,
		               "another recorder is writing to %s; stop it with `mimic stop` first",
		               r->data_dir);
		goto fail;
	}
fail:
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

void recorder_start_frames(struct recorder *r)
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
	fo.vault = r->vault;
	if (frames_start(&fo, &r->frames, &cause) != 0) {
		util_strlcpy_utf8(r->frames_error, cause != NULL ? cause : "cannot take frames",
		                  sizeof(r->frames_error));
		log_error("recording without frames: %s", r->frames_error);
		r->frames = NULL;
	}
	free(cause);
	free(dir);
}

void recorder_stop_frames(struct recorder *r)
{
	if (r->frames == NULL)
		return;
	frames_stop(r->frames, NULL);
	r->frames = NULL;
	guard_set_frames(r->guard, NULL);
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
	writer_post(r->writer, seal_job_run, NULL);
	recorder_start_frames(r);
	recorder_elements_start(r);
	guard_begin_session(r->guard, r->frames);
	return 0;
}

/* The descriptors the loop polls, in this order. */
enum { PFD_CAPTURE, PFD_SIGNAL, PFD_ELEMENTS, PFD_FORGET, PFD_GUARD,
       PFD_IPC = PFD_GUARD + GUARD_POLLFDS, PFD_N = PFD_IPC + IPC_SERVER_POLLFDS };

/* The smaller of two poll timeouts, where -1 is "none". */
static int earlier(int a, int b)
{
	if (b >= 0 && (a < 0 || b < a))
		return b;
	return a;
}

/*
 * Input gathering in a burst. When input comes on two wake-ups in a row less
 * than BURST_NS apart, the next poll leaves the X connection out and waits
 * GATHER_MS at most, so that one read takes what came meanwhile: at machine
 * speed (thousands of events a second) a wake-up, a poll and a read per event
 * would be most of the recorder's work. Nothing is lost or reordered (the X
 * server queues the events) and times do not change (they are the server's,
 * clockmap.h); the pointer position of a button event, which X only gives when
 * asked, is then read up to GATHER_MS after the event (capture.c). A person
 * typing, even fast, is far slower than BURST_NS: each key is handled at once.
 * The first read that brings nothing ends gathering.
 */
#define BURST_NS (2 * 1000000LL)
#define GATHER_MS 2

/* Runs until stopped; returns the enum recorder_end. */
static int loop(struct recorder *r, char **cause)
{
	int64_t last_input_ns = INT64_MIN / 2;
	int gather = 0;

	for (;;) {
		struct pollfd pfd[PFD_N];
		uint64_t before;
		int64_t now;
		int timeout;
		int rc;

		/* What xcb read while waiting for replies: no system call. */
		rc = capture_dispatch_queued(r->capture, cause);
		if (rc != 0)
			return RECORDER_END_X_GONE;
		if (r->stop_requested) {
			if (capture_sync(r->capture, cause) != 0)
				return RECORDER_END_X_GONE;
			return RECORDER_END_STOPPED;
		}
		if (guard_paused(r->guard) && guard_paused_until(r->guard) != 0 &&
		    util_now_mono_ns() >= guard_paused_until(r->guard))
			guard_set_paused(r->guard, 0, 0);
		recorder_forget_post(r);

		timeout = capture_tick(r->capture, util_now_mono_ns());
		timeout = earlier(timeout, recorder_elements_tick(r, util_now_mono_ns()));
		timeout = earlier(timeout, guard_tick(r->guard, util_now_mono_ns()));
		timeout = earlier(timeout, recorder_agent_tick(r, util_now_mono_ns()));
		timeout = earlier(timeout, recorder_upload_tick(r, util_now_mono_ns()));
		/* A new policy (docs/POLICY.md): loaded on the writer's thread, swapped in here. */
		timeout = earlier(timeout, guard_policy_tick(r->guard, r->writer, util_now_mono_ns()));
		timeout = earlier(timeout, guard_retention_tick(r->guard, r->writer, r->session,
		                                                util_now_mono_ns()));
		timeout = earlier(timeout, ipc_server_timeout_ms(r->ipc, util_now_mono_ns()));
		/* A forget waiting for a retention job to end tries again shortly. */
		if (r->forget.state == FORGET_WAITING)
			timeout = earlier(timeout, 20);
		if (guard_paused(r->guard) && guard_paused_until(r->guard) != 0) {
			int64_t left = (guard_paused_until(r->guard) - util_now_mono_ns()) / 1000000 + 1;
			timeout = earlier(timeout, left > INT_MAX ? INT_MAX : (int)left);
		}
		if (gather)
			timeout = earlier(timeout, GATHER_MS);
		pfd[PFD_CAPTURE] = (struct pollfd){ .fd = gather ? -1 : capture_fd(r->capture),
		                                    .events = POLLIN };
		pfd[PFD_SIGNAL] = (struct pollfd){ .fd = r->sig_fd, .events = POLLIN };
		/* A negative fd is ignored by poll: no uia, no results to wait for. */
		pfd[PFD_ELEMENTS] = (struct pollfd){ .fd = recorder_elements_fd(r), .events = POLLIN };
		pfd[PFD_FORGET] = (struct pollfd){ .fd = r->forget.state == FORGET_POSTED ?
		                                   r->forget.fd : -1, .events = POLLIN };
		guard_pollfds(r->guard, &pfd[PFD_GUARD]);
		ipc_server_pollfds(r->ipc, &pfd[PFD_IPC]);
		rc = poll(pfd, PFD_N, timeout);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			util_fail(cause, -errno, "poll failed: %s", strerror(errno));
			return RECORDER_END_STOPPED;
		}
		/*
		 * Input first: what X has delivered by now was done before any request that
		 * came with it was handled, and is judged in the state it was done in.
		 */
		before = capture_handled(r->capture);
		if (gather || pfd[PFD_CAPTURE].revents != 0)
			rc = capture_dispatch(r->capture, cause);
		else
			rc = capture_dispatch_queued(r->capture, cause);
		/*
		 * One read may leave input in the socket (more than xcb's buffer): before a
		 * control request is handled, everything X delivered is read, so that input
		 * done before a pause is judged as done before it.
		 */
		for (int i = PFD_IPC; rc == 0 && i < PFD_N; i++) {
			if (pfd[i].revents == 0)
				continue;
			for (uint64_t n = ~capture_handled(r->capture);
			     rc == 0 && n != capture_handled(r->capture);) {
				n = capture_handled(r->capture);
				rc = capture_dispatch(r->capture, cause);
			}
			break;
		}
		if (rc != 0)
			return RECORDER_END_X_GONE;
		if (capture_handled(r->capture) != before) {
			now = util_now_mono_ns();
			gather = now - last_input_ns < BURST_NS;
			last_input_ns = now;
		} else {
			gather = 0;
		}
		/* Never waits on a client: reads, writes and drops without blocking. */
		recorder_handle_control(r, &pfd[PFD_IPC]);
		if (pfd[PFD_FORGET].revents & POLLIN)
			recorder_forget_done(r, 1);
		if (pfd[PFD_ELEMENTS].revents & POLLIN)
			recorder_elements_take(r);
		/* Every turn: a display connection may hold events it read while waiting for a reply. */
		if (guard_dispatch(r->guard, &pfd[PFD_GUARD]) != 0) {
			util_fail(cause, -EPIPE, "lost the X server");
			return RECORDER_END_X_GONE;
		}
		if (pfd[PFD_SIGNAL].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(r->sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
				log_info("signal %u: closing the session", si.ssi_signo);
				r->stop_requested = 1;
			}
		}
	}
}

/*
 * The background OCR scan of stored frames runs in a child process,
 * `mimic-data scan-worker`, at idle priority: Tesseract and its libraries stay
 * out of the recorder (about 30 MB), and a crash while reading pixels cannot end
 * a recording. Returns the child's pid, or 0 when it could not start (frames
 * are then scanned at export, as always). The child reads the same policy, and
 * scans with the organisation's redaction rules ([redaction] rules) as the
 * export does; a frame scanned with other rules is scanned again at export.
 */
static pid_t scanner_start(const char *data_dir, int64_t session, const char *policy_path)
{
	char *exe = NULL, *why = NULL, sess[32];
	pid_t pid;

	if (util_sibling_exe("mimic-data", &exe, &why) != 0) {
		log_warn("frames are scanned at export only: %s", why ? why : "");
		free(why);
		return 0;
	}
	snprintf(sess, sizeof(sess), "%lld", (long long)session);
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		/* The recorder's descriptors (database, X, sockets) are not the scanner's. */
		close_range(3, ~0U, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (policy_path != NULL)
			execl(exe, exe, "scan-worker", "--data-dir", data_dir, "--session", sess,
			      "--policy", policy_path, (char *)NULL);
		else
			execl(exe, exe, "scan-worker", "--data-dir", data_dir, "--session", sess,
			      (char *)NULL);
		_exit(127);
	}
	if (pid < 0) {
		log_warn("frames are scanned at export only: cannot start the scanner: %s",
		         strerror(errno));
		pid = 0;
	}
	free(exe);
	return pid;
}

/* Stops the scanner child (it finishes within one word of OCR), then reaps it. */
static void scanner_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}


/* The data directory, the control socket, the lock and the store with its key. */
static int open_data_dir(struct recorder *r, char **cause)
{
	int rc;

	rc = paths_data_dir(r->opts->data_dir, &r->data_dir, cause);
	if (rc != 0)
		return rc;
	rc = paths_ensure_dir(r->data_dir, cause);
	if (rc != 0)
		return rc;
	rc = paths_control_socket(1, &r->socket_path, cause);
	if (rc != 0)
		return rc;
	rc = ipc_server_open(r->socket_path, &r->ipc, cause);
	if (rc == -EADDRINUSE) {
		free(*cause);
		*cause = NULL;
		rc = util_fail(cause, rc, "a recorder is already running (control socket %s); "
		               "stop it with `mimic stop` first", r->socket_path);
	}
	if (rc != 0)
		return rc;
	rc = take_lock(r, cause);
	if (rc != 0)
		return rc;
	/* A damaged database is refused before a session is written into it. */
	rc = store_open(r->data_dir, STORE_CHECK | STORE_LEAN, &r->store, cause);
	if (rc != 0)
		return rc;
	rc = store_recover(r->store, NULL, cause);
	if (rc != 0)
		return rc;
	/* Nothing is recorded that cannot be encrypted: a missing or wrong key stops here. */
	return store_vault(r->store, &r->vault, cause);
}

/* Everything up to a running session; the caller cleans up after a failure. */
static int start(struct recorder *r, char **cause)
{
	static const struct capture_sink sink = { sink_event, sink_context, sink_device };
	const struct guard_hooks hooks = { .push_event = hook_push_event,
	                                   .push_context = hook_push_context,
	                                   .stored_context = hook_stored_context,
	                                   .release_event = hook_release_event,
	                                   .set_url = hook_set_url, .arg = r };
	int rc;

	/* A bad settings file is refused before anything else happens. */
	rc = config_load(r->opts->config_path, &r->config, cause);
	if (rc != 0)
		return rc;
	/* So is a policy that cannot be read: nothing is recorded on a guess. */
	rc = guard_new(r->opts->policy_path, r->opts->data_dir, &hooks, &r->guard, cause);
	if (rc != 0)
		return rc;
	if (r->opts->no_frames)
		r->config.frames.enabled = false;
	rc = open_data_dir(r, cause);
	if (rc != 0)
		return rc;
	/* Retention first: data past its limits never outlives a new start. */
	guard_retention(r->store, r->data_dir, &r->config.retention, 0);
	rc = open_signals(r, cause);
	if (rc != 0)
		return rc;
	rc = capture_open(r->opts->display, &sink, r, &r->capture, cause);
	if (rc != 0)
		return rc;
	/* No recording without the person's agreement to the current notice. */
	rc = guard_check_consent(r->guard, r->store, cause);
	if (rc != 0)
		return rc;
	rc = guard_start(r->guard, r->opts->display, r->data_dir, &r->config, cause);
	if (rc != 0)
		return rc;
	rc = begin_session(r, cause);
	if (rc != 0)
		return rc;
	/*
	 * Stored frames may be scanned for redaction in a child process (see
	 * scanner_start). Off by default: every export scans what is still unscanned
	 * before it writes anything, and the scan costs a core's idle time.
	 */
	if (r->frames != NULL && r->config.frames.scan)
		r->scanner = scanner_start(r->data_dir, r->session, r->opts->policy_path);
	return 0;
}

/* Stops the threads and the child that feed the writer. */
static void stop_feeders(struct recorder *r)
{
	scanner_stop(r->scanner);
	r->scanner = 0;
	recorder_upload_stop(r);
	/* UI elements still being looked up get a moment to reach the writer. */
	recorder_elements_stop(r);
	/* The frames engine hands its last records to the writer before the writer stops. */
	recorder_stop_frames(r);
}

/*
 * Closes the session that ended as end: everything queued is committed before the
 * session is marked ended. Returns the enum recorder_end, with *cause from
 * *end_cause when it is not RECORDER_END_STOPPED.
 */
static int close_session(struct recorder *r, int end, char **end_cause, int64_t *session_id,
                         char **cause)
{
	struct writer_stats ws;
	const char *reason;
	int rc;

	stop_feeders(r);
	/* A takeover under way is stored as it stands. */
	recorder_agent_end(r, STORE_HANDBACK_STOPPED);
	writer_sync(r->writer, NULL);
	writer_get_stats(r->writer, &ws);
	rc = writer_stop(r->writer, end == RECORDER_END_STOPPED ? end_cause : NULL);
	r->writer = NULL;
	/* A forget posted before the stop has run by now: its client gets the answer. */
	recorder_forget_done(r, 0);
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
	if (!r->opts->quiet) {
		printf("mimic: session %lld closed (%s): %llu events stored, %llu dropped\n",
		       (long long)r->session, reason, (unsigned long long)ws.stored,
		       (unsigned long long)ws.dropped);
		fflush(stdout);
	}
	if (end != RECORDER_END_STOPPED && *end_cause != NULL) {
		*cause = *end_cause;
		*end_cause = NULL;
	}
	return end;
}

/* Closes and frees what r holds; rc is recorder_run's result. */
static void release(struct recorder *r, int rc)
{
	capture_close(r->capture);
	guard_free(r->guard);
	store_close(r->store);
	/* Only the recorder that owns the socket removes it (r->ipc is NULL otherwise). */
	ipc_server_close(r->ipc, rc != -EADDRINUSE);
	if (r->forget.fd >= 0)
		close(r->forget.fd);
	if (r->sig_fd >= 0)
		close(r->sig_fd);
	if (r->lock_fd >= 0)
		close(r->lock_fd);
	free(r->socket_path);
	free(r->data_dir);
	free(r);
}

int recorder_run(const struct recorder_opts *opts, int64_t *session_id, char **cause)
{
	struct recorder *r = util_xcalloc(1, sizeof *r);
	char *end_cause = NULL;
	int end, rc;

	r->opts = opts;
	r->lock_fd = r->sig_fd = -1;
	r->forget.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (r->forget.fd < 0) {
		rc = util_fail(cause, -errno, "cannot create an eventfd: %s", strerror(errno));
		goto fail;
	}
	rc = start(r, cause);
	if (rc != 0)
		goto fail;
	if (!opts->quiet) {
		printf("mimic: recording session %lld into %s (stop with `mimic stop` or Ctrl-C)\n",
		       (long long)r->session, r->data_dir);
		fflush(stdout);
	}
	log_info("recording session %lld", (long long)r->session);
	guard_notify();

	end = loop(r, &end_cause);
	rc = close_session(r, end, &end_cause, session_id, cause);
	free(end_cause);
	release(r, rc);
	return rc;

fail:
	stop_feeders(r);
	if (r->writer != NULL) {
		writer_stop(r->writer, NULL);
		r->writer = NULL;
	}
	release(r, rc);
	return rc;
}
