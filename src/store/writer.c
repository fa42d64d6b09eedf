/*
 * writer: the thread that moves events from the input thread to the store (see
 * writer.h).
 *
 * Double buffering: the input thread appends to `in` under the mutex; the writer
 * thread swaps `in` with its own empty `out` under the mutex and then writes
 * `out` without holding it, so a slow disk never stalls input. A batch whose
 * commit failed stays in `out` and is retried on the next interval, with what
 * arrived meanwhile appended to it. Buffers start empty, grow by doubling and are
 * shrunk again after a burst, so an idle recorder holds almost no memory.
 *
 * Sequence numbers: every accepted push gets the next number (pushed); the writer
 * advances `committed` by the size of each committed batch. Because batches hold
 * the oldest pending items, committed >= N means everything pushed up to N is on
 * disk, which is what writer_sync waits for.
 */
#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

/* First allocation of the event and context buffers. */
#define EV_CAP_MIN 256
#define CTX_CAP_MIN 8
#define FR_CAP_MIN 16

/*
 * Contexts are ~1.3 KB each, so they get their own, smaller bound while the disk
 * fails; together with events they also count against WRITER_MAX_QUEUED.
 */
#define CTX_MAX_QUEUED 16384

/* Frame records (~300 bytes) get their own bound too. */
#define FR_MAX_QUEUED 65536

/*
 * UI elements (~3.5 KB, a few per second at most) are committed in a transaction
 * of their own after the events they refer to, and retried on their own when that
 * fails, so that a failed element write never makes events be written twice.
 */
#define EL_MAX_QUEUED 4096

struct queue {
	struct event *evs;
	size_t nev, ev_cap;
	struct context *ctxs;
	size_t nctx, ctx_cap;
	struct store_frame *frs;
	size_t nfr, fr_cap;
};

struct writer {
	struct store *st;
	int64_t session;
	int flush_ms;

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake;     /* signalled for the writer thread: work, sync or stop */
	pthread_cond_t done;     /* broadcast by the writer thread after each commit attempt */

	/* Under mu. */
	struct queue in;
	size_t out_nev, out_nctx, out_nfr; /* sizes of the writer's batch, for the queue bound */
	uint64_t pushed;           /* items (events + contexts) accepted */
	uint64_t committed;        /* items committed */
	uint64_t failures;         /* commit attempts that failed */
	uint64_t ctx_dropped;      /* contexts dropped (stats.dropped counts events only) */
	int sync_requested;
	int stopping;
	struct writer_stats stats;
	char *cause;               /* cause of the last failed commit, NULL after a success */

	/* Owned by the writer thread. */
	struct queue out;

	/* Under mu: a job to run on this thread between commits (writer_run, writer_post). */
	int (*job_fn)(struct store *st, void *arg);
	void *job_arg;
	int job_result;
	uint64_t jobs_done;

	/* Under mu: task markers, rare, stored after the batch they came with. */
	struct store_task *tasks;
	size_t ntask;

	/* UI elements: `el_in` under mu; `el_out` written by the writer thread, its
	 * count changed under mu. */
	struct store_element *el_in, *el_out;
	size_t n_el_in, n_el_out, el_in_cap, el_out_cap;
};

/* Most task markers held while the disk fails. */
#define TASK_MAX_QUEUED 1024

static void timespec_add_ms(struct timespec *ts, int ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Makes room for n more items of size sz in *buf, doubling the capacity. */
static void *grow(void *buf, size_t *cap, size_t len, size_t n, size_t sz, size_t min)
{
	size_t c = *cap;

	if (len + n <= c)
		return buf;
	if (c < min)
		c = min;
	while (c < len + n)
		c *= 2;
	*cap = c;
	return util_xrealloc(buf, c * sz);
}

/*
 * After a commit, gives memory back when the batch used only a small part of the
 * buffer, i.e. a burst is over; while the rate stays high the buffer is kept.
 */
static void shrink(struct queue *q, size_t nev_used, size_t nctx_used, size_t nfr_used)
{
	if (q->fr_cap > FR_CAP_MIN && nfr_used < q->fr_cap / 8) {
		free(q->frs);
		q->frs = NULL;
		q->fr_cap = 0;
	}
	if (q->ev_cap > EV_CAP_MIN && nev_used < q->ev_cap / 8) {
		free(q->evs);
		q->evs = NULL;
		q->ev_cap = 0;
	}
	if (q->ctx_cap > CTX_CAP_MIN && nctx_used < q->ctx_cap / 8) {
		free(q->ctxs);
		q->ctxs = NULL;
		q->ctx_cap = 0;
	}
}

static void queue_free(struct queue *q)
{
	free(q->evs);
	free(q->ctxs);
	free(q->frs);
	memset(q, 0, sizeof(*q));
}

static void swap_queues(struct queue *a, struct queue *b)
{
	struct queue t = *a;

	*a = *b;
	*b = t;
}

/* Moves everything from `in` to the end of `out` (called with mu held). */
static void take_input(struct writer *w)
{
	struct queue *in = &w->in, *out = &w->out;

	if (out->nev == 0 && out->nctx == 0 && out->nfr == 0) {
		swap_queues(in, out);
	} else {
		/* A failed batch is pending: keep order by appending after it. */
		out->evs = grow(out->evs, &out->ev_cap, out->nev, in->nev, sizeof(*out->evs),
		                EV_CAP_MIN);
		if (in->nev > 0)
			memcpy(out->evs + out->nev, in->evs, in->nev * sizeof(*in->evs));
		out->nev += in->nev;
		out->ctxs = grow(out->ctxs, &out->ctx_cap, out->nctx, in->nctx,
		                 sizeof(*out->ctxs), CTX_CAP_MIN);
		if (in->nctx > 0)
			memcpy(out->ctxs + out->nctx, in->ctxs, in->nctx * sizeof(*in->ctxs));
		out->nctx += in->nctx;
		out->frs = grow(out->frs, &out->fr_cap, out->nfr, in->nfr, sizeof(*out->frs),
		                FR_CAP_MIN);
		if (in->nfr > 0)
			memcpy(out->frs + out->nfr, in->frs, in->nfr * sizeof(*in->frs));
		out->nfr += in->nfr;
		shrink(in, in->nev, in->nctx, in->nfr);
	}
	in->nev = 0;
	in->nctx = 0;
	in->nfr = 0;
	w->out_nev = out->nev;
	w->out_nctx = out->nctx;
	w->out_nfr = out->nfr;
}

static size_t queued_items(const struct writer *w)
{
	return w->in.nev + w->in.nctx + w->in.nfr + w->out_nev + w->out_nctx + w->out_nfr +
	       w->ntask + w->n_el_in + w->n_el_out;
}

/*
 * Whether nothing waits to be taken by the writer thread (called with mu held):
 * only the first item into an empty inbox can find the thread asleep without a
 * deadline, so only it needs to wake the thread.
 */
static bool inbox_empty(const struct writer *w)
{
	return w->in.nev == 0 && w->in.nctx == 0 && w->in.nfr == 0 && w->n_el_in == 0;
}

/* Moves the queued elements behind those the writer still holds (called with mu held). */
static size_t take_elements(struct writer *w)
{
	if (w->n_el_in > 0) {
		w->el_out = grow(w->el_out, &w->el_out_cap, w->n_el_out, w->n_el_in,
		                 sizeof(*w->el_out), 4);
		memcpy(w->el_out + w->n_el_out, w->el_in, w->n_el_in * sizeof(*w->el_in));
		w->n_el_out += w->n_el_in;
		w->n_el_in = 0;
	}
	if (w->el_in_cap > 64) {
		free(w->el_in);
		w->el_in = NULL;
		w->el_in_cap = 0;
	}
	return w->n_el_out;
}

/* Commits the writer's batch; called without mu. Returns 0 or the store's error. */
static int commit(struct writer *w, char **cause)
{
	struct queue *out = &w->out;

	return store_write_all(w->st, w->session, out->evs, out->nev, out->ctxs, out->nctx,
	                       out->frs, out->nfr, cause);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct timespec deadline, now, last_start;

	clock_gettime(CLOCK_MONOTONIC, &last_start);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		int waited = 0;

		/* Idle: sleep until something is queued (no periodic wake-ups). */
		while (!w->stopping && !w->sync_requested && queued_items(w) == 0 &&
		       w->job_fn == NULL) {
			pthread_cond_wait(&w->wake, &w->mu);
			waited = 1;
		}
		/*
		 * Let a flush interval's worth of events gather into one transaction:
		 * counted from the first item after idling, else from the start of the
		 * previous attempt, so that a steady stream is committed every interval.
		 */
		if (waited)
			clock_gettime(CLOCK_MONOTONIC, &deadline);
		else
			deadline = last_start;
		timespec_add_ms(&deadline, w->flush_ms);
		for (;;) {
			if (w->stopping || w->sync_requested || w->job_fn != NULL)
				break;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (!before(&now, &deadline))
				break;
			pthread_cond_timedwait(&w->wake, &w->mu, &deadline);
		}
		w->sync_requested = 0;
		take_input(w);
		int stopping = w->stopping;
		size_t nev = w->out.nev, nctx = w->out.nctx, nfr = w->out.nfr;
		struct store_task *tasks = w->tasks;
		size_t ntask = w->ntask;
		w->tasks = NULL;
		w->ntask = 0;
		size_t nel = take_elements(w);
		pthread_mutex_unlock(&w->mu);

		char *cause = NULL;
		int err = 0;
		clock_gettime(CLOCK_MONOTONIC, &last_start);
		if (nev > 0 || nctx > 0 || nfr > 0)
			err = commit(w, &cause);
		/* Markers after their batch: the events before them are stored first. */
		int task_err = err == 0 ? store_write_tasks(w->st, w->session, tasks, ntask,
		                                            &cause) : 0;
		/* UI elements likewise, after the events they name. */
		int el_err = err == 0 && task_err == 0 && nel > 0 ?
		             store_write_elements(w->st, w->session, w->el_out, nel, &cause) : 0;

		pthread_mutex_lock(&w->mu);
		if (err != 0 || task_err != 0) {
			/* Put the markers back in front of any that came meanwhile. */
			tasks = util_xrealloc(tasks, (ntask + w->ntask + 1) * sizeof(*tasks));
			if (w->ntask > 0)
				memcpy(tasks + ntask, w->tasks, w->ntask * sizeof(*tasks));
			free(w->tasks);
			w->tasks = tasks;
			w->ntask += ntask;
			tasks = NULL;
		} else {
			w->committed += ntask;
			free(tasks);
			tasks = NULL;
		}
		if (err == 0 && task_err != 0) {
			/* The batch is stored; only the markers wait for the next attempt. */
			w->committed += nev + nctx + nfr;
			w->stats.stored += nev;
			w->stats.contexts += nctx;
			w->stats.frames += nfr;
			w->out.nev = w->out.nctx = w->out.nfr = 0;
			w->out_nev = w->out_nctx = w->out_nfr = 0;
			nev = nctx = nfr = 0;
			err = task_err;
		}
		if (err == 0 && el_err == 0 && nel > 0) {
			w->committed += nel;
			w->stats.elements += nel;
			w->n_el_out = 0;
			if (w->el_out_cap > 64) {
				free(w->el_out);
				w->el_out = NULL;
				w->el_out_cap = 0;
			}
		}
		if (err == 0 && el_err != 0) {
			/* The batch is stored; only the elements wait for the next attempt. */
			w->committed += nev + nctx + nfr;
			w->stats.stored += nev;
			w->stats.contexts += nctx;
			w->stats.frames += nfr;
			w->out.nev = w->out.nctx = w->out.nfr = 0;
			w->out_nev = w->out_nctx = w->out_nfr = 0;
			nev = nctx = nfr = 0;
			err = el_err;
		}
		if (err == 0) {
			if (w->stats.error != 0)
				log_info("writer: storing events works again");
			w->committed += nev + nctx + nfr;
			w->stats.stored += nev;
			w->stats.contexts += nctx;
			w->stats.frames += nfr;
			if (nev > 0 || nctx > 0 || nfr > 0)
				w->stats.batches++;
			w->stats.error = 0;
			w->stats.error_text[0] = '\0';
			free(w->cause);
			w->cause = NULL;
			w->out.nev = 0;
			w->out.nctx = 0;
			w->out.nfr = 0;
			w->out_nev = 0;
			w->out_nctx = 0;
			w->out_nfr = 0;
			shrink(&w->out, nev, nctx, nfr);
			if (w->in.nev == 0 && w->in.nctx == 0 && w->in.nfr == 0) {
				/* Going idle: give back what a burst left behind. */
				shrink(&w->out, 0, 0, 0);
				shrink(&w->in, 0, 0, 0);
			}
		} else {
			if (w->stats.error != err && !stopping)
				log_warn("writer: cannot store %zu events, will retry: %s", nev,
				         cause != NULL ? cause : strerror(-err));
			w->failures++;
			w->stats.error = err;
			util_strlcpy_utf8(w->stats.error_text, cause != NULL ? cause : strerror(-err),
			                  sizeof(w->stats.error_text));
			free(w->cause);
			w->cause = cause;
			cause = NULL;
		}
		pthread_cond_broadcast(&w->done);
		/* A job runs after the batch before it, with nothing else using the store. */
		if (w->job_fn != NULL) {
			int (*fn)(struct store *, void *) = w->job_fn;
			void *jarg = w->job_arg;

			pthread_mutex_unlock(&w->mu);
			int jr = fn(w->st, jarg);
			pthread_mutex_lock(&w->mu);
			w->job_fn = NULL;
			w->job_arg = NULL;
			w->job_result = jr;
			w->jobs_done++;
			pthread_cond_broadcast(&w->done);
		}
		/* On stop: one last attempt for what is queued, then leave even if it failed. */
		if (stopping && (err != 0 || queued_items(w) == 0))
			break;
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int writer_start(struct store *st, int64_t session, int flush_ms, struct writer **out,
                 char **cause)
{
	struct writer *w;
	pthread_condattr_t ca;
	sigset_t all, old;
	int err;

	*out = NULL;
	w = util_xcalloc(1, sizeof(*w));
	w->st = st;
	w->session = session;
	w->flush_ms = flush_ms > 0 ? flush_ms : WRITER_FLUSH_MS;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	/* Deadlines on the monotonic clock: a wall-clock jump must not stall commits. */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_cond_init(&w->done, &ca);
	pthread_condattr_destroy(&ca);

	/* Signals belong to the main thread, which handles stop requests. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&w->thread, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		err = util_fail(cause, -err, "cannot start the writer thread: %s", strerror(err));
		goto fail;
	}
	*out = w;
	return 0;
fail:
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->done);
	pthread_mutex_destroy(&w->mu);
	free(w);
	return err;
}

void writer_push_event(struct writer *w, const struct event *ev)
{
	pthread_mutex_lock(&w->mu);
	w->stats.queued++;
	if (queued_items(w) >= WRITER_MAX_QUEUED) {
		w->stats.dropped++;
		pthread_mutex_unlock(&w->mu);
		return;
	}
	bool was_empty = inbox_empty(w);
	w->in.evs = grow(w->in.evs, &w->in.ev_cap, w->in.nev, 1, sizeof(*ev), EV_CAP_MIN);
	w->in.evs[w->in.nev++] = *ev;
	w->pushed++;
	if (was_empty)
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
}

void writer_push_context(struct writer *w, const struct context *ctx)
{
	pthread_mutex_lock(&w->mu);
	if (queued_items(w) >= WRITER_MAX_QUEUED ||
	    w->in.nctx + w->out_nctx >= CTX_MAX_QUEUED) {
		w->ctx_dropped++;
		pthread_mutex_unlock(&w->mu);
		return;
	}
	bool was_empty = inbox_empty(w);
	w->in.ctxs = grow(w->in.ctxs, &w->in.ctx_cap, w->in.nctx, 1, sizeof(*ctx), CTX_CAP_MIN);
	w->in.ctxs[w->in.nctx++] = *ctx;
	w->pushed++;
	if (was_empty)
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
}

void writer_push_element(struct writer *w, const struct store_element *el)
{
	pthread_mutex_lock(&w->mu);
	if (queued_items(w) >= WRITER_MAX_QUEUED || w->n_el_in + w->n_el_out >= EL_MAX_QUEUED) {
		w->stats.elements_dropped++;
		pthread_mutex_unlock(&w->mu);
		return;
	}
	bool was_empty = inbox_empty(w);
	w->el_in = grow(w->el_in, &w->el_in_cap, w->n_el_in, 1, sizeof(*el), 4);
	w->el_in[w->n_el_in++] = *el;
	w->pushed++;
	if (was_empty)
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
}

void writer_push_frame(struct writer *w, const struct store_frame *fr)
{
	pthread_mutex_lock(&w->mu);
	if (queued_items(w) >= WRITER_MAX_QUEUED || w->in.nfr + w->out_nfr >= FR_MAX_QUEUED) {
		w->stats.frames_dropped++;
		pthread_mutex_unlock(&w->mu);
		return;
	}
	bool was_empty = inbox_empty(w);
	w->in.frs = grow(w->in.frs, &w->in.fr_cap, w->in.nfr, 1, sizeof(*fr), FR_CAP_MIN);
	w->in.frs[w->in.nfr++] = *fr;
	w->pushed++;
	if (was_empty)
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
}

void writer_push_task(struct writer *w, const struct store_task *t)
{
	pthread_mutex_lock(&w->mu);
	if (w->ntask >= TASK_MAX_QUEUED) {
		pthread_mutex_unlock(&w->mu);
		return;
	}
	w->tasks = util_xrealloc(w->tasks, (w->ntask + 1) * sizeof(*t));
	w->tasks[w->ntask++] = *t;
	w->pushed++;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
}

/* Waits until no job is pending, then makes fn the next one. Called with mu held. */
static uint64_t job_submit(struct writer *w, int (*fn)(struct store *st, void *arg), void *arg)
{
	while (w->job_fn != NULL)
		pthread_cond_wait(&w->done, &w->mu);
	w->job_fn = fn;
	w->job_arg = arg;
	pthread_cond_signal(&w->wake);
	return w->jobs_done + 1;
}

int writer_run(struct writer *w, int (*fn)(struct store *st, void *arg), void *arg)
{
	uint64_t target;
	int rc;

	pthread_mutex_lock(&w->mu);
	target = job_submit(w, fn, arg);
	while (w->jobs_done < target)
		pthread_cond_wait(&w->done, &w->mu);
	rc = w->job_result;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

int writer_post(struct writer *w, int (*fn)(struct store *st, void *arg), void *arg)
{
	pthread_mutex_lock(&w->mu);
	if (w->job_fn != NULL) {
		pthread_mutex_unlock(&w->mu);
		return -EBUSY;
	}
	job_submit(w, fn, arg);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int writer_sync(struct writer *w, char **cause)
{
	int err = 0;

	pthread_mutex_lock(&w->mu);
	uint64_t target = w->pushed;
	uint64_t failures = w->failures;
	if (w->committed < target) {
		w->sync_requested = 1;
		pthread_cond_signal(&w->wake);
		while (w->committed < target && w->failures == failures)
			pthread_cond_wait(&w->done, &w->mu);
		if (w->committed < target) {
			err = w->stats.error != 0 ? w->stats.error : -EIO;
			util_fail(cause, err, "%s", w->cause != NULL ? w->cause : strerror(-err));
		}
	}
	pthread_mutex_unlock(&w->mu);
	return err;
}

void writer_get_stats(struct writer *w, struct writer_stats *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->stats;
	pthread_mutex_unlock(&w->mu);
}

int writer_stop(struct writer *w, char **cause)
{
	int err;

	if (w == NULL)
		return 0;
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);

	/* The thread has ended: no locking needed from here. */
	err = w->stats.error;
	if (err != 0) {
		size_t lost = w->out.nev + w->in.nev;
		util_fail(cause, err, "%zu events could not be stored: %s", lost,
		          w->cause != NULL ? w->cause : strerror(-err));
		log_error("writer: %zu events could not be stored", lost);
	}
	if (w->stats.dropped > 0)
		log_warn("writer: %llu events were dropped because the disk did not keep up",
		         (unsigned long long)w->stats.dropped);
	if (w->stats.frames_dropped > 0)
		log_warn("writer: %llu frame records were dropped because the disk did not keep up",
		         (unsigned long long)w->stats.frames_dropped);
	if (w->ctx_dropped > 0)
		log_warn("writer: %llu window contexts were dropped because the disk did not "
		         "keep up", (unsigned long long)w->ctx_dropped);
	if (w->ntask > 0)
		log_error("writer: %zu task markers could not be stored", w->ntask);
	if (w->n_el_in + w->n_el_out > 0)
		log_warn("writer: %zu UI elements could not be stored", w->n_el_in + w->n_el_out);
	free(w->el_in);
	free(w->el_out);
	queue_free(&w->in);
	queue_free(&w->out);
	free(w->tasks);
	free(w->cause);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->done);
	pthread_mutex_destroy(&w->mu);
	free(w);
	return err;
}
