/*
 * recorder_int.h: what the files of the recorder share, and nothing else sees.
 *
 *   recorder.c           the session: start, the main loop of the input thread,
 *                        capture's sink, the close
 *   recorder_elements.c  UI elements: requests to uia from the input thread, its
 *                        answers to the writer
 *   recorder_control.c   the control socket's requests and the status
 *   recorder_agent.c     takeovers of an agent run (docs/AGENTS.md)
 *
 * The safeguards are a module of their own (guard.h).
 */
#ifndef MIMIC_RECORDER_INT_H
#define MIMIC_RECORDER_INT_H

#include <jansson.h>
#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#include "capture.h"
#include "config.h"
#include "event.h"
#include "frames.h"
#include "guard.h"
#include "ipc.h"
#include "recorder.h"
#include "store.h"
#include "vault.h"
#include "writer.h"

/* Events seen while capture_open runs, before the writer exists. */
#define EARLY_MAX 64
#define EARLY_DEVICES_MAX 64

struct early_device {
	int32_t id;
	char name[128];
	int synthetic;
};

struct recorder_elements;

struct recorder {
	const struct recorder_opts *opts;
	char *data_dir;
	char *socket_path;
	int lock_fd;
	struct ipc_server *ipc;  /* the control socket (never waits on a client) */
	int sig_fd;
	struct store *store;
	struct capture *capture;
	struct writer *writer;
	struct frames *frames;   /* NULL when frames are off or could not start */
	pid_t scanner;           /* `mimic-data scan-worker` child, or 0 (scan_while_recording) */
	struct {
		pid_t pid;               /* the `mimic-data upload` child running, or 0 */
		int64_t next_ns;         /* when the next one may start (CLOCK_MONOTONIC), 0: not set */
	} upload;                    /* recorder_upload.c */
	struct vault *vault;     /* the data directory's key (owned by store) */
	struct config config;
	char frames_error[256];  /* why frames could not start, "" when they did */
	struct recorder_elements *ui; /* UI elements (uia); NULL with --no-elements */
	struct guard *guard;     /* the safeguards (docs/POLICY.md) */
	int64_t session;
	int64_t next_event_id;   /* assigned to events in push order (see event.h) */
	int64_t next_frame_id;   /* where the frames worker starts numbering */
	int task_open;           /* a `mimic task start` has not been ended yet */
	struct {
		enum { FORGET_NONE, FORGET_WAITING, FORGET_POSTED } state;
		struct ipc_request req;
		uint32_t conn;           /* whom to answer */
		struct guard_forget *job;
		int had_frames;          /* frames start again once it is done */
		int fd;                  /* eventfd the job writes when it has run */
	} forget;                    /* a `mimic forget` running on the writer's thread */
	int stop_requested;
	struct {
		pid_t pid;               /* the attached `mimic agent serve`, 0 when none */
		int64_t idle_ms;         /* hand back after this long without the person's input (0 never) */
		int active;              /* a takeover is under way: iv is filled up to its end */
		struct store_intervention iv;
		int64_t last_input_ns;   /* the person's last input during it */
		uint64_t count;          /* interventions ended in this session */
	} agent;

	/* The newest context capture reported, and whether the store has it. */
	struct context last_ctx;
	int have_ctx;
	int ctx_stored;

	struct event early[EARLY_MAX];
	size_t n_early;
	struct early_device early_devs[EARLY_DEVICES_MAX];
	size_t n_early_devs;
};

/*
 * recorder_upload.c: on an enrolled machine (fleet_device.h), runs `mimic-data
 * upload` as a child every [upload] upload_interval while not paused, so that
 * ended sessions reach the collector after the delay with no command. Returns
 * the poll timeout until the next check (ms, -1 none). recorder_upload_stop
 * ends a child still running (the next run resumes its upload).
 */
int recorder_upload_tick(struct recorder *r, int64_t now);
void recorder_upload_stop(struct recorder *r);

/* recorder.c: starts the frames engine; without it recording goes on (frames_error says why). */
void recorder_start_frames(struct recorder *r);

/* recorder.c: stops the frames engine, which hands its last records to the writer. */
void recorder_stop_frames(struct recorder *r);

/*
 * recorder_elements.c. Starts uia (not with --no-elements): without an
 * accessibility bus it works degraded, and if it cannot start at all recording
 * goes on without it; either way the reason shows in the status.
 */
void recorder_elements_start(struct recorder *r);

/* Waits a little for the answers still due, hands them on, and stops uia. */
void recorder_elements_stop(struct recorder *r);

/* Tells uia what the input thread stored (never waits). */
void recorder_elements_on_event(struct recorder *r, const struct event *ev);

/* Posts a hover once the pointer has rested; returns ms until one is due, or -1. */
int recorder_elements_tick(struct recorder *r, int64_t now);

/* uia's descriptor to poll for its answers, or -1. */
int recorder_elements_fd(const struct recorder *r);

/* Moves uia's answers to the writer (no disk I/O here). */
void recorder_elements_take(struct recorder *r);

/* The "accessibility" member of the status (a new reference). */
json_t *recorder_elements_json(const struct recorder *r, const struct writer_stats *ws);

/*
 * recorder_control.c: serves the control socket without waiting on a client (pfd:
 * the IPC_SERVER_POLLFDS entries after the poll) and carries out the requests
 * that have arrived.
 */
void recorder_handle_control(struct recorder *r, const struct pollfd *pfd);

/* Posts a forget that waits for the writer (another job ran); nothing when none waits. */
void recorder_forget_post(struct recorder *r);

/*
 * A forget's job has run (forget.fd readable, or, without restart_frames, the
 * writer has stopped): answers the client and, with restart_frames, starts frames
 * again. Without restart_frames a forget still waiting to be posted is refused.
 */
void recorder_forget_done(struct recorder *r, int restart_frames);

/*
 * recorder_agent.c. Sees every stored event (after push_event gave it its id):
 * input of anyone but the agent while an agent server is attached takes over.
 */
void recorder_agent_on_event(struct recorder *r, const struct event *ev);

/* Hands back after the idle time; returns ms until it is due, or -1. */
int recorder_agent_tick(struct recorder *r, int64_t now);

/* Ends a takeover under way, storing it with how (enum store_handback). */
void recorder_agent_end(struct recorder *r, int how);

/* Carries out an agent request; NULL, or why it is refused. */
const char *recorder_agent_request(struct recorder *r, const struct ipc_request *req);

/* The "agent" member of the status (a new reference). */
json_t *recorder_agent_json(const struct recorder *r);

#endif
