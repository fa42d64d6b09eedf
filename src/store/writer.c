/*
 * writer: the thread that moves events from the input thread to the store (see
 * writer.h).
 *
 * Every kind of item (events, window contexts, frame records, task markers, UI
 * elements) goes through the same queue and the same push; `kinds` says how
 * each is bounded, and the public writer_push_* name the kind.
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

/*
 * What is queued, by kind. Events, contexts and frames are committed together
 * (store_write_all); task markers and UI elements each after them, in a
 * transaction of their own, and retried on their own when that fails, so that a
 * failed marker or element write never makes events be written twice.
 */
enum kind { K_EVENT, K_CONTEXT, K_FRAME, K_TASK, K_ELEMENT, K_INTERVENTION, N_KINDS };

/* Most task markers held while the disk fails. */
#define TASK_MAX_QUEUED 1024

/* How each kind is queued. */
static const struct kind_info {
	size_t size;          /* bytes of one item */
	size_t cap_min;       /* first allocation, in items */
	size_t max_queued;    /* most held (pushed but not committed) while the disk fails */
	bool shared_bound;    /* also counts against WRITER_MAX_QUEUED when pushed */
	/*
	 * Whether items being written count against the bounds. Task markers do not:
	 * taken for a commit they leave the queue, and they count again only when
	 * that commit failed.
	 */
	bool counts_in_flight;
} kinds[N_KINDS] = {
	[K_EVENT] = { sizeof(struct event), 256, WRITER_MAX_QUEUED, true, true },
	/*
	 * Contexts are ~1.3 KB each, so they get their own, smaller bound while the
	 * disk fails; together with events they also count against WRITER_MAX_QUEUED.
	 */
	[K_CONTEXT] = { sizeof(struct context), 8, 16384, true, true },
	/* Frame records (~300 bytes) get their own bound too. */
	[K_FRAME] = { sizeof(struct store_frame), 16, 65536, true, true },
	/* Task markers are rare; they only have a bound of their own. */
	[K_TASK] = { sizeof(struct store_task), 4, TASK_MAX_QUEUED, false, false },
	/* UI elements are ~3.5 KB, a few per second at most. */
	[K_ELEMENT] = { sizeof(struct store_element), 4, 4096, true, true },
	/* Interventions (agent takeovers) are rarer than task markers. */
	[K_INTERVENTION] = { sizeof(struct store_intervention), 2, TASK_MAX_QUEUED, false, false },
};

/* A growable array of items of one kind. */
struct buf {
	void *v;
	size_t n, cap;
};

struct queue {
	struct buf b[N_KINDS];
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
	size_t out_n[N_KINDS];     /* items of the writer's batch that count, for the bounds */
	uint64_t pushed;           /* items accepted */
	uint64_t committed;        /* items committed */
	uint64_t failures;         /* commit attempts that failed */
	uint64_t queued[N_KINDS];  /* pushed, dropped or not */
	uint64_t stored[N_KINDS];  /* committed */
	uint64_t dropped[N_KINDS]; /* dropped because the queue was full */
	int sync_requested;
	int stopping;
	struct writer_stats stats; /* batches and the last error; counts are in the arrays */
	char *cause;               /* cause of the last failed commit, NULL after a success */

	/* Owned by the writer thread; its counts change under mu. */
	struct queue out;

	/* Under mu: a job to run on this thread between commits (writer_run, writer_post). */
	int (*job_fn)(struct store *st, void *arg);
	void *job_arg;
	int job_result;
	uint64_t jobs_done;
};

/* What one attempt to write the writer's batch gave (see write_out). */
struct attempt {
	int err;        /* events, contexts and frames */
	int task_err;   /* task markers, tried only when err is 0 */
	int el_err;     /* UI elements, tried only when both are 0 */
	int iv_err;     /* interventions, tried only when the three are 0 */
	char *cause;    /* the cause of the one that failed */
};

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

/* Makes room for n more items of kind k in b, doubling the capacity. */
static void grow(struct buf *b, enum kind k, size_t n)
{
	size_t c = b->cap;

	if (b->n + n <= c)
		return;
	if (c < kinds[k].cap_min)
		c = kinds[k].cap_min;
	while (c < b->n + n)
		c *= 2;
	b->cap = c;
	b->v = util_xrealloc(b->v, c * kinds[k].size);
}

/*
 * After a commit, gives memory back when the batch used only a small part of the
 * buffer, i.e. a burst is over; while the rate stays high the buffer is kept.
 */
static void shrink(struct buf *b, enum kind k, size_t used)
{
	if (b->cap > kinds[k].cap_min && used < b->cap / 8) {
		free(b->v);
		b->v = NULL;
		b->cap = 0;
	}
}

static void queue_free(struct queue *q)
{
	for (int k = 0; k < N_KINDS; k++)
		free(q->b[k].v);
	memset(q, 0, sizeof(*q));
}

/*
 * Moves everything from `in` to the end of `out` and sets n[k] to what the
 * writer's batch now holds of each kind (called with mu held).
 */
static void take_input(struct writer *w, size_t n[N_KINDS])
{
	for (int k = 0; k < N_KINDS; k++) {
		struct buf *in = &w->in.b[k], *out = &w->out.b[k];

		if (out->n == 0) {
			struct buf t = *out;

			*out = *in;
			*in = t;
		} else {
			/* A failed batch is pending: keep order by appending after it. */
			grow(out, k, in->n);
			if (in->n > 0)
				memcpy((char *)out->v + out->n * kinds[k].size, in->v,
				       in->n * kinds[k].size);
			out->n += in->n;
			shrink(in, k, in->n);
		}
		in->n = 0;
		n[k] = out->n;
		w->out_n[k] = kinds[k].counts_in_flight ? out->n : 0;
	}
}

static size_t queued_items(const struct writer *w)
{
	size_t n = 0;

	for (int k = 0; k < N_KINDS; k++)
		n += w->in.b[k].n + w->out_n[k];
	return n;
}

/*
 * Whether nothing waits to be taken by the writer thread (called with mu held):
 * only the first item into an empty inbox can find the thread asleep without a
 * deadline, so only it needs to wake the thread.
 */
static bool inbox_empty(const struct writer *w)
{
	for (int k = 0; k < N_KINDS; k++)
		if (w->in.b[k].n > 0)
			return false;
	return true;
}

/* The one push: queues a copy of item, of kind k. Never waits for the disk. */
static void push(struct writer *w, enum kind k, const void *item)
{
	struct buf *b = &w->in.b[k];
	bool was_empty;

	pthread_mutex_lock(&w->mu);
	w->queued[k]++;
	if ((kinds[k].shared_bound && queued_items(w) >= WRITER_MAX_QUEUED) ||
	    b->n + w->out_n[k] >= kinds[k].max_queued) {
		w->dropped[k]++;
		pthread_mutex_unlock(&w->mu);
		return;
	}
	was_empty = inbox_empty(w);
	grow(b, k, 1);
	memcpy((char *)b->v + b->n * kinds[k].size, item, kinds[k].size);
	b->n++;
	w->pushed++;
	if (was_empty)
		pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->mu);
}

/*
 * Sleeps until there is work (called with mu held), then lets a flush
 * interval's worth of events gather into one transaction: counted from the first
 * item after idling, else from last_start, the start of the previous attempt, so
 * that a steady stream is committed every interval.
 */
static void wait_for_work(struct writer *w, const struct timespec *last_start)
{
	struct timespec deadline, now;
	int waited = 0;

	/* Idle: sleep until something is queued (no periodic wake-ups). */
	while (!w->stopping && !w->sync_requested && queued_items(w) == 0 && w->job_fn == NULL) {
		pthread_cond_wait(&w->wake, &w->mu);
		waited = 1;
	}
	if (waited)
		clock_gettime(CLOCK_MONOTONIC, &deadline);
	else
		deadline = *last_start;
	timespec_add_ms(&deadline, w->flush_ms);
	for (;;) {
		if (w->stopping || w->sync_requested || w->job_fn != NULL)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!before(&now, &deadline))
			break;
		pthread_cond_timedwait(&w->wake, &w->mu, &deadline);
	}
}

/* Writes the writer's batch of n[k] items of each kind; called without mu. */
static void write_out(struct writer *w, const size_t n[N_KINDS], struct attempt *a)
{
	struct buf *b = w->out.b;

	a->cause = NULL;
	a->err = 0;
	if (n[K_EVENT] > 0 || n[K_CONTEXT] > 0 || n[K_FRAME] > 0)
		a->err = store_write_all(w->st, w->session, b[K_EVENT].v, n[K_EVENT],
		                         b[K_CONTEXT].v, n[K_CONTEXT], b[K_FRAME].v, n[K_FRAME],
		                         &a->cause);
	/* Markers after their batch: the events before them are stored first. */
	a->task_err = a->err == 0 ? store_write_tasks(w->st, w->session, b[K_TASK].v, n[K_TASK],
	                                              &a->cause) : 0;
	/* UI elements likewise, after the events they name. */
	a->el_err = a->err == 0 && a->task_err == 0 && n[K_ELEMENT] > 0 ?
	            store_write_elements(w->st, w->session, b[K_ELEMENT].v, n[K_ELEMENT],
	                                 &a->cause) : 0;
	/* Interventions last: they name the events of their span. */
	a->iv_err = a->err == 0 && a->task_err == 0 && a->el_err == 0 && n[K_INTERVENTION] > 0 ?
	            store_write_interventions(w->st, w->session, b[K_INTERVENTION].v,
	                                      n[K_INTERVENTION], &a->cause) : 0;
}

/* Counts the n items of kind k at the head of the writer's batch as committed (mu held). */
static void committed(struct writer *w, enum kind k, size_t n)
{
	w->committed += n;
	w->stored[k] += n;
	w->out.b[k].n = 0;
}

/*
 * Settles an attempt (called with mu held): what was stored leaves the batch
 * and is counted, what failed stays for the next attempt. Returns the error
 * that stopped it, 0 when everything was stored.
 */
static int settle(struct writer *w, const size_t n[N_KINDS], struct attempt *a, int stopping)
{
	int err = a->err != 0 ? a->err : a->task_err != 0 ? a->task_err :
	          a->el_err != 0 ? a->el_err : a->iv_err;

	if (a->err == 0) {
		committed(w, K_EVENT, n[K_EVENT]);
		committed(w, K_CONTEXT, n[K_CONTEXT]);
		committed(w, K_FRAME, n[K_FRAME]);
		if (a->task_err == 0)
			committed(w, K_TASK, n[K_TASK]);
		if (a->task_err == 0 && a->el_err == 0)
			committed(w, K_ELEMENT, n[K_ELEMENT]);
		if (a->task_err == 0 && a->el_err == 0 && a->iv_err == 0)
			committed(w, K_INTERVENTION, n[K_INTERVENTION]);
	}
	for (int k = 0; k < N_KINDS; k++)
		w->out_n[k] = w->out.b[k].n;
	if (err != 0) {
		if (w->stats.error != err && !stopping)
			log_warn("writer: cannot store %zu events, will retry: %s",
			         a->err != 0 ? n[K_EVENT] : 0,
			         a->cause != NULL ? a->cause : strerror(-err));
		w->failures++;
		w->stats.error = err;
		util_strlcpy_utf8(w->stats.error_text, a->cause != NULL ? a->cause : strerror(-err),
		                  sizeof(w->stats.error_text));
		free(w->cause);
		w->cause = a->cause;
		a->cause = NULL;
		return err;
	}
	if (w->stats.error != 0)
		log_info("writer: storing events works again");
	if (n[K_EVENT] > 0 || n[K_CONTEXT] > 0 || n[K_FRAME] > 0)
		w->stats.batches++;
	w->stats.error = 0;
	w->stats.error_text[0] = '\0';
	free(w->cause);
	w->cause = NULL;
	for (int k = 0; k < N_KINDS; k++) {
		shrink(&w->out.b[k], k, n[k]);
		/* Going idle: give back what a burst left behind. */
		if (inbox_empty(w)) {
			shrink(&w->out.b[k], k, 0);
			shrink(&w->in.b[k], k, 0);
		}
	}
	return 0;
}

/* Runs a pending job, after the batch before it, with nothing else using the store. */
static void run_job(struct writer *w)
{
	int (*fn)(struct store *, void *) = w->job_fn;
	void *jarg = w->job_arg;
	int jr;

	if (fn == NULL)
		return;
	pthread_mutex_unlock(&w->mu);
	jr = fn(w->st, jarg);
	pthread_mutex_lock(&w->mu);
	w->job_fn = NULL;
	w->job_arg = NULL;
	w->job_result = jr;
	w->jobs_done++;
	pthread_cond_broadcast(&w->done);
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct timespec last_start;

	clock_gettime(CLOCK_MONOTONIC, &last_start);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		size_t n[N_KINDS];
		struct attempt a;
		int stopping, err;

		wait_for_work(w, &last_start);
		w->sync_requested = 0;
		take_input(w, n);
		stopping = w->stopping;
		pthread_mutex_unlock(&w->mu);

		clock_gettime(CLOCK_MONOTONIC, &last_start);
		write_out(w, n, &a);

		pthread_mutex_lock(&w->mu);
		err = settle(w, n, &a, stopping);
		free(a.cause);
		pthread_cond_broadcast(&w->done);
		run_job(w);
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
	push(w, K_EVENT, ev);
}

void writer_push_context(struct writer *w, const struct context *ctx)
{
	push(w, K_CONTEXT, ctx);
}

void writer_push_frame(struct writer *w, const struct store_frame *fr)
{
	push(w, K_FRAME, fr);
}

void writer_push_task(struct writer *w, const struct store_task *t)
{
	push(w, K_TASK, t);
}

void writer_push_intervention(struct writer *w, const struct store_intervention *iv)
{
	push(w, K_INTERVENTION, iv);
}

void writer_push_element(struct writer *w, const struct store_element *el)
{
	push(w, K_ELEMENT, el);
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
	out->queued = w->queued[K_EVENT];
	out->stored = w->stored[K_EVENT];
	out->dropped = w->dropped[K_EVENT];
	out->contexts = w->stored[K_CONTEXT];
	out->frames = w->stored[K_FRAME];
	out->frames_dropped = w->dropped[K_FRAME];
	out->elements = w->stored[K_ELEMENT];
	out->elements_dropped = w->dropped[K_ELEMENT];
	pthread_mutex_unlock(&w->mu);
}

/* Items of kind k still held: pushed but not stored. */
static size_t held(const struct writer *w, enum kind k)
{
	return w->in.b[k].n + w->out.b[k].n;
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
		size_t lost = held(w, K_EVENT);
		util_fail(cause, err, "%zu events could not be stored: %s", lost,
		          w->cause != NULL ? w->cause : strerror(-err));
		log_error("writer: %zu events could not be stored", lost);
	}
	if (w->dropped[K_EVENT] > 0)
		log_warn("writer: %llu events were dropped because the disk did not keep up",
		         (unsigned long long)w->dropped[K_EVENT]);
	if (w->dropped[K_FRAME] > 0)
		log_warn("writer: %llu frame records were dropped because the disk did not keep up",
		         (unsigned long long)w->dropped[K_FRAME]);
	if (w->dropped[K_CONTEXT] > 0)
		log_warn("writer: %llu window contexts were dropped because the disk did not "
		         "keep up", (unsigned long long)w->dropped[K_CONTEXT]);
	if (held(w, K_TASK) > 0)
		log_error("writer: %zu task markers could not be stored", held(w, K_TASK));
	if (held(w, K_ELEMENT) > 0)
		log_warn("writer: %zu UI elements could not be stored", held(w, K_ELEMENT));
	if (held(w, K_INTERVENTION) > 0)
		log_error("writer: %zu interventions could not be stored", held(w, K_INTERVENTION));
	queue_free(&w->in);
	queue_free(&w->out);
	free(w->cause);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->done);
	pthread_mutex_destroy(&w->mu);
	free(w);
	return err;
}
