/*
 * recorder_int.h: what the files of the recorder share, and nothing else sees.
 *
 *   recorder.c           the session: start, the main loop of the input thread,
 *                        capture's sink, the close
 *   recorder_elements.c  UI elements: requests to uia from the input thread, its
 *                        answers to the writer
 *   recorder_control.c   the control socket's requests and the status
 *
 * The safeguards are a module of their own (guard.h).
 */
#ifndef MIMIC_RECORDER_INT_H
#define MIMIC_RECORDER_INT_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "capture.h"
#include "config.h"
#include "event.h"
#include "frames.h"
#include "guard.h"
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
	int ipc_fd;
	int sig_fd;
	struct store *store;
	struct capture *capture;
	struct writer *writer;
	struct frames *frames;   /* NULL when frames are off or could not start */
	pid_t scanner;           /* `mimic-data scan-worker` child, or 0 (scan_while_recording) */
	struct vault *vault;     /* the data directory's key (owned by store) */
	struct config config;
	char frames_error[256];  /* why frames could not start, "" when they did */
	struct recorder_elements *ui; /* UI elements (uia); NULL with --no-elements */
	struct guard *guard;     /* the safeguards (docs/POLICY.md) */
	int64_t session;
	int64_t next_event_id;   /* assigned to events in push order (see event.h) */
	int64_t next_frame_id;   /* where the frames worker starts numbering */
	int task_open;           /* a `mimic task start` has not been ended yet */
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

/* recorder_control.c: answers one request on the control socket. */
void recorder_handle_control(struct recorder *r);

#endif
