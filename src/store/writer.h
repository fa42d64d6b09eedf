/*
 * writer: the thread that moves events (from the input thread) and frame
 * records (from the frames worker, see frames.h) to the store.
 *
 * The input thread only appends to an in-memory queue (a mutex held for a copy,
 * never for disk I/O); the writer thread commits what has queued in one
 * transaction at least every flush interval, so a `kill -9` loses at most that
 * interval. If the disk fails, events stay queued (up to WRITER_MAX_QUEUED, then
 * they are dropped and counted) and the error is reported through the stats.
 */
#ifndef MIMIC_WRITER_H
#define MIMIC_WRITER_H

#include <stdint.h>

#include "event.h"
#include "store.h"

/* Events held in memory at most while the disk does not keep up or fails. */
#define WRITER_MAX_QUEUED (1u << 20)

/* The default longest time between commits, in milliseconds. */
#define WRITER_FLUSH_MS 100

struct writer;

struct writer_stats {
	uint64_t queued;        /* events pushed */
	uint64_t stored;        /* events committed */
	uint64_t dropped;       /* events dropped because the queue was full */
	uint64_t contexts;      /* contexts committed */
	uint64_t frames;        /* frame records committed */
	uint64_t frames_dropped; /* frame records dropped because the queue was full */
	uint64_t elements;      /* UI elements committed */
	uint64_t elements_dropped; /* UI elements dropped because the queue was full */
	uint64_t batches;       /* transactions committed */
	int error;              /* last write error (negative), 0 when the last commit worked */
	char error_text[256];   /* one line describing it, "" when none */
};

/*
 * Starts the writer thread for session `session` of st. st must stay open until
 * writer_stop returns, and no other thread may use st meanwhile. flush_ms <= 0
 * means WRITER_FLUSH_MS.
 */
int writer_start(struct store *st, int64_t session, int flush_ms, struct writer **out /* OUT */,
                 char **cause);

/* Queues a copy of ev. Never waits for the disk. */
void writer_push_event(struct writer *w, const struct event *ev);

/* Queues a copy of ctx. Never waits for the disk. */
void writer_push_context(struct writer *w, const struct context *ctx);

/*
 * Queues a copy of a frame record, committed in the same transactions as the
 * events. Thread-safe; never waits for the disk.
 */
void writer_push_frame(struct writer *w, const struct store_frame *fr);

/*
 * Queues a copy of a task marker (`mimic task start|end`), stored right after
 * the events pushed before it. Never waits for the disk; at most 1024 wait
 * while the disk fails, more are dropped.
 */
void writer_push_task(struct writer *w, const struct store_task *t);

/*
 * Queues a copy of an intervention (an agent takeover, store.h), stored after the
 * events, task markers and elements pushed before it. Never waits for the disk;
 * at most 1024 wait while the disk fails, more are dropped.
 */
void writer_push_intervention(struct writer *w, const struct store_intervention *iv);

/*
 * Queues a copy of a UI element (store.h), committed after the events of the same
 * interval in a transaction of its own. Thread-safe; never waits for the disk.
 */
void writer_push_element(struct writer *w, const struct store_element *el);

/*
 * Runs fn(st, arg) on the writer thread, right after a commit of what was
 * queued before the call, with nothing else using the store (`mimic forget`,
 * retention). Commits wait meanwhile; pushes go on queueing in memory.
 * writer_run waits for fn and returns its result (after any job still
 * pending). writer_post returns at once (-EBUSY when a job is pending); fn
 * then owns arg. A job posted before writer_stop runs before the thread ends.
 */
int writer_run(struct writer *w, int (*fn)(struct store *st, void *arg), void *arg);
int writer_post(struct writer *w, int (*fn)(struct store *st, void *arg), void *arg);

/*
 * Waits until everything pushed before the call is committed, or the commit
 * failed. Returns 0 or the write error.
 */
int writer_sync(struct writer *w, char **cause);

/* Copies the current counters. Thread-safe. */
void writer_get_stats(struct writer *w, struct writer_stats *out /* OUT */);

/*
 * Commits what is queued, stops and joins the thread and frees w. Returns 0, or
 * the error of the last commit (what could not be stored is reported in *cause).
 */
int writer_stop(struct writer *w, char **cause);

#endif
