/*
 * frames: the screenshot engine (see frames.h for what it keeps and why).
 *
 * Three threads touch a struct frames:
 *   - the input thread calls frames_notify / frames_set_paused, which only
 *     append to a bounded ring under `nmu` and poke an eventfd;
 *   - the engine thread owns the screen (screen.h: its changes, two image
 *     buffers), decides
 *     which grab becomes which frame, and copies a chosen grab into the one
 *     job buffer (clearing the undefined X byte);
 *   - the worker thread masks, hashes, compares against the key frame, encodes,
 *     writes the blob and pushes the record to the writer.
 * `mu` guards the job queue, the job buffer's ownership, the keep rectangles,
 * the statistics and the error.
 *
 * Memory at 1920x1080: two MIT-SHM segments (8.3 MB each), the job buffer and,
 * with patches on, the key frame's pixels (8.3 MB each), plus the encoder's
 * working memory. Jobs that only repeat the previous frame carry no pixels.
 */
#include "frames.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "blob.h"
#include "encode.h"
#include "log.h"
#include "screen.h"
#include "store.h"
#include "util.h"

/* Notifications the input thread may queue before they are dropped. */
#define NOTE_CAP 4096
/* Places of the ring kept for pause/resume, which must never be dropped. */
#define NOTE_RESERVED 8
/* Frame jobs waiting for the worker; the engine waits when it is full. */
#define JOB_CAP 256
/* Timing samples kept for the medians in the status. */
#define TIMING_SAMPLES 4096
/* Patches covering more than KEY_AREA_PERCENT of the screen are stored as a key frame. */
#define KEY_AREA_PERCENT 60
/*
 * At most KEY_EVERY patches follow a key frame: that bounds how many images
 * `mimic frame` decodes, and what one lost blob spoils.
 */
#define KEY_EVERY 50
/* WebP's largest side. */
#define PACK_MAX_SIDE 16383

#define MS_NS 1000000LL

enum note_kind {
	NOTE_PRESS,        /* button press: a pre-action frame */
	NOTE_KEY_RUN,      /* first key of a typing run: a pre-action frame */
	NOTE_KEY,          /* another key of the run: re-arms the settle frame */
	NOTE_SCROLL_RUN,   /* first wheel click of a scroll run: a pre-action frame */
	NOTE_SCROLL,       /* another wheel click */
	NOTE_FOCUS,        /* the focused window changed: a focus frame once settled */
	NOTE_PAUSE,
	NOTE_RESUME,
};

struct note {
	int64_t id;
	int64_t t_ns;
	int kind;
};

/* One of the two grabs the engine alternates between. */
struct slot {
	struct image img;
	uint64_t seq;          /* 0: holds nothing usable */
	int64_t t_ns;          /* when the grab was requested */
	double grab_ms;
	struct screen_cursor cur;
	struct image_rect own;  /* damage reported since the previous grab */
	struct image_rect acc;  /* damage since the last frame handed on, up to this grab */
};

enum job_kind {
	JOB_KEY,     /* buf holds the whole screen */
	JOB_PATCH,   /* buf holds rec.patch[] stacked; they go over the previous image */
	JOB_REUSE,   /* the same pixels as the previous record: no image */
};

struct job {
	int kind;
	struct store_frame rec;    /* everything but the storage fields (patch[] for JOB_PATCH) */
	uint32_t w, h;             /* size of the image in buf */
	bool dedup;                /* JOB_KEY without patches: compare with the previous record */
	double pre_ms;             /* grab + engine preparation, for the total timing */
};

struct timing_ring {
	double v[TIMING_SAMPLES];
	uint32_t n;                /* samples written in total */
};

/* The settle or focus frame waiting for the screen to settle. */
struct after {
	bool armed;
	bool damage_seen;          /* damage came after first_ns */
	int64_t first_ns;          /* the first action not followed by a frame yet */
	int64_t action_ns;         /* the newest such action */
	int64_t event_id;
	const char *trigger;       /* "settle" or "focus" */
};

struct frames {
	struct config_frames cfg;
	struct writer *writer;
	struct blob *blob;
	struct encode *enc;
	const char *format_name;

	/* Input thread only. */
	bool in_key_run, in_scroll_run;
	int64_t last_key_ns, last_scroll_ns;

	/* The notification ring, under nmu. */
	pthread_mutex_t nmu;
	struct note notes[NOTE_CAP];
	size_t note_head, note_count;
	uint64_t notes_dropped;
	bool stopping;
	int wake_fd;               /* eventfd: notes, stop */

	/* Engine thread only. */
	struct screen *screen;     /* slots[i] is grabbed into its buffer i */
	struct slot slots[2];
	int newest;                /* index of the newest grab, -1 none */
	uint64_t grab_seq;
	bool damage_pending;       /* a DamageNotify came since the last grab */
	bool changed;              /* damage since the grab of the last frame handed on */
	int64_t last_damage_ns;
	int64_t last_grab_ns;
	int64_t last_store_ns;     /* when the last new image was handed on */
	uint64_t last_sub_seq;     /* the grab of the last frame handed on */
	uint64_t last_sub_mask;    /* the keep version it was masked with */
	uint8_t *ref;              /* patches: the previous image's pixels, X byte 0 */
	size_t ref_cap;
	uint32_t ref_w, ref_h;
	bool have_ref;
	bool ref_in_buf;           /* the last job was a key: buf becomes ref once it is done */
	unsigned since_key;        /* patches since the last key frame */
	struct image_rect acc_running;
	struct after after;
	bool paused;
	bool engine_failed;        /* stop grabbing after an error */

	pthread_t engine, worker;
	bool engine_started, worker_started;
	bool started;              /* frames_start returned it */

	/* Under mu. */
	pthread_mutex_t mu;
	pthread_cond_t job_cv;     /* a job was queued, or the worker should stop */
	pthread_cond_t buf_cv;     /* the job buffer became free */
	struct job jobs[JOB_CAP];
	size_t job_head, job_count;
	bool worker_stop;
	bool buf_busy;             /* the worker owns the job buffer */
	uint8_t *buf;              /* job buffer: a whole screen or stacked patches */
	size_t buf_cap;
	bool keep_set;
	size_t n_keep;
	struct image_rect keep[FRAMES_KEEP_MAX];
	uint64_t keep_version;
	struct frames_stats stats;
	struct timing_ring t_grab, t_prep, t_encode, t_worker, t_total;

	/* Worker thread only. */
	int64_t next_id;           /* the id the next record gets */
	int64_t last_image_id;     /* the record of the previous encoded image */
	bool have_last;
	uint64_t last_hash;        /* without patches: of the pixels the previous record shows */
	uint32_t last_w, last_h;
	struct store_frame last;   /* storage fields of the previous record */
};

static int64_t now_ns(void)
{
	return util_now_mono_ns();
}

static double ms_since(int64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

static void timing_add(struct timing_ring *r, double v)
{
	r->v[r->n % TIMING_SAMPLES] = v;
	r->n++;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void timing_get(const struct timing_ring *r, struct frames_timing *out)
{
	double v[TIMING_SAMPLES];
	uint32_t n = r->n < TIMING_SAMPLES ? r->n : TIMING_SAMPLES;

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return;
	memcpy(v, r->v, n * sizeof(v[0]));
	qsort(v, n, sizeof(v[0]), cmp_double);
	out->n = n;
	out->median = v[(n - 1) / 2];
	out->p90 = v[(uint32_t)((n - 1) * 0.9 + 0.5)];
}

/*
 * Stops frame storage for good (the first error wins) and logs it once. A lost
 * X connection is logged by the recorder, which ends the session then.
 */
static void set_error(struct frames *f, int err, const char *text)
{
	pthread_mutex_lock(&f->mu);
	if (f->stats.error == 0) {
		f->stats.error = err != 0 ? err : -EIO;
		util_strlcpy_utf8(f->stats.error_text, text, sizeof(f->stats.error_text));
		/* Before the threads run, frames_start reports the error to its caller. */
		if (f->started && screen_broken(f->screen))
			log_info("frames: no more frames: %s", text);
		else if (f->started)
			log_error("frames: frame storage stopped, input recording goes on: %s", text);
	}
	pthread_cond_broadcast(&f->buf_cv);
	pthread_mutex_unlock(&f->mu);
}

static bool has_error(struct frames *f)
{
	bool e;

	pthread_mutex_lock(&f->mu);
	e = f->stats.error != 0;
	pthread_mutex_unlock(&f->mu);
	return e;
}

/* ---------------------------------------------------------------- worker */

/* Gives rec the next frame id and hands it to the writer. */
static void push_record(struct frames *f, struct store_frame *rec)
{
	rec->id = f->next_id++;
	writer_push_frame(f->writer, rec);
	pthread_mutex_lock(&f->mu);
	f->stats.stored++;
	pthread_mutex_unlock(&f->mu);
}

/* Copies the storage fields (which blob, which frame it patches) from src. */
static void copy_storage(struct store_frame *dst, const struct store_frame *src)
{
	memcpy(dst->blob, src->blob, sizeof(dst->blob));
	memcpy(dst->format, src->format, sizeof(dst->format));
	dst->bytes = src->bytes;
	dst->base_id = src->base_id;
	dst->n_patch = src->n_patch;
	memcpy(dst->patch, src->patch, sizeof(dst->patch));
}

/* Encodes img (a whole frame or a patch of it) and writes the blob. */
static int encode_and_put(struct frames *f, const struct image *img,
                          char hex[BLOB_HEX_LEN + 1], int64_t *bytes)
{
	struct encode_params p;
	const uint8_t *out = NULL;
	size_t len = 0;
	char *cause = NULL, *text;
	int rc;

	encode_params_default(&p, f->cfg.format);
	p.quality = f->cfg.quality;
	int64_t t0 = now_ns();
	rc = encode_image(f->enc, img, &p, &out, &len, &cause);
	double ms = ms_since(t0);

	pthread_mutex_lock(&f->mu);
	timing_add(&f->t_encode, ms);
	pthread_mutex_unlock(&f->mu);
	if (rc != 0) {
		text = util_xasprintf("the %s encoder failed: %s", f->format_name,
		                      cause != NULL ? cause : strerror(-rc));
		set_error(f, rc, text);
		free(text);
		free(cause);
		return rc;
	}
	rc = blob_put(f->blob, out, len, hex, &cause);
	if (rc != 0) {
		set_error(f, rc, cause != NULL ? cause : strerror(-rc));
		free(cause);
		return rc;
	}
	/* The size of the file (sealed blobs are larger than what was encoded). */
	*bytes = (int64_t)blob_stored_len(f->blob, len);
	return 0;
}

/* Copies n pixels, clearing the X byte, which may hold anything. */
static void copy_pixels(uint8_t *restrict dst, const uint8_t *restrict src, size_t n)
{
	size_t i = 0, bytes = n * 4;

	/* Two pixels at a time; memcpy keeps the loads and stores free of aliasing rules. */
	for (; i + 8 <= bytes; i += 8) {
		uint64_t w;

		memcpy(&w, src + i, 8);
		w &= 0x00ffffff00ffffffULL;
		memcpy(dst + i, &w, 8);
	}
	for (; i < bytes; i += 4) {
		uint32_t w;

		memcpy(&w, src + i, 4);
		w &= 0x00ffffffu;
		memcpy(dst + i, &w, 4);
	}
}

/* Encodes a key frame or a patch from the job buffer and hands its record on. */
static void process_image(struct frames *f, struct job *job)
{
	struct store_frame *rec = &job->rec;
	struct image img = {f->buf, job->w, job->h, (size_t)job->w * 4};
	int64_t t0 = now_ns();
	uint64_t h = 0;

	if (job->dedup) {
		/* Without patches the engine keeps no previous image: compare hashes. */
		h = frames_pixel_hash(&img);
		if (f->have_last && h == f->last_hash && img.width == f->last_w &&
		    img.height == f->last_h) {
			bool is_pre = strcmp(rec->trigger, "pre") == 0;

			pthread_mutex_lock(&f->mu);
			if (is_pre)
				f->stats.reused++;
			else
				f->stats.unchanged++;
			pthread_mutex_unlock(&f->mu);
			if (is_pre) {
				copy_storage(rec, &f->last);
				push_record(f, rec);
			}
			return;
		}
	}
	util_strlcpy_utf8(rec->format, f->format_name, sizeof(rec->format));
	if (encode_and_put(f, &img, rec->blob, &rec->bytes) != 0)
		return;
	if (job->kind == JOB_PATCH) {
		rec->base_id = f->last_image_id;
	} else {
		rec->base_id = 0;
		rec->n_patch = 0;
	}
	pthread_mutex_lock(&f->mu);
	f->stats.encoded++;
	if (job->kind == JOB_KEY)
		f->stats.keys++;
	f->stats.bytes += (uint64_t)rec->bytes;
	timing_add(&f->t_worker, ms_since(t0));
	timing_add(&f->t_total, job->pre_ms + ms_since(t0));
	pthread_mutex_unlock(&f->mu);
	f->have_last = true;
	f->last_hash = h;
	f->last_w = (uint32_t)rec->width;
	f->last_h = (uint32_t)rec->height;
	copy_storage(&f->last, rec);
	push_record(f, rec);
	f->last_image_id = rec->id;
}

static void *worker_main(void *arg)
{
	struct frames *f = arg;

	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (f->job_count == 0 && !f->worker_stop)
			pthread_cond_wait(&f->job_cv, &f->mu);
		if (f->job_count == 0)
			break;
		struct job job = f->jobs[f->job_head];
		bool error = f->stats.error != 0;

		f->job_head = (f->job_head + 1) % JOB_CAP;
		f->job_count--;
		pthread_mutex_unlock(&f->mu);

		if (!error && job.kind != JOB_REUSE) {
			process_image(f, &job);
		} else if (!error && job.kind == JOB_REUSE && f->have_last) {
			copy_storage(&job.rec, &f->last);
			pthread_mutex_lock(&f->mu);
			f->stats.reused++;
			pthread_mutex_unlock(&f->mu);
			push_record(f, &job.rec);
		}

		pthread_mutex_lock(&f->mu);
		if (job.kind != JOB_REUSE)
			f->buf_busy = false;
		/* Wakes an engine waiting for the buffer or for room in the queue. */
		pthread_cond_broadcast(&f->buf_cv);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* ---------------------------------------------------------------- engine */

/* Queues a job; waits (on the engine thread only) while the queue is full. */
static void queue_job(struct frames *f, const struct job *job)
{
	pthread_mutex_lock(&f->mu);
	while (f->job_count == JOB_CAP && f->stats.error == 0)
		pthread_cond_wait(&f->buf_cv, &f->mu);
	if (f->stats.error == 0) {
		f->jobs[(f->job_head + f->job_count) % JOB_CAP] = *job;
		f->job_count++;
		if (job->kind != JOB_REUSE)
			f->buf_busy = true;
		pthread_cond_signal(&f->job_cv);
	}
	pthread_mutex_unlock(&f->mu);
}

static void fail_engine(struct frames *f, int err, const char *what, char *cause)
{
	char *text = util_xasprintf("%s: %s", what, cause != NULL ? cause : strerror(-err));

	set_error(f, err, text);
	free(text);
	free(cause);
	f->engine_failed = true;
}

/* Grabs the screen into the older slot; the damage so far is cleared first. */
static int do_grab(struct frames *f)
{
	struct image img;
	struct screen_cursor cur;
	struct image_rect changed;
	struct slot *s;
	char *cause = NULL;
	int idx = f->newest < 0 ? 0 : 1 - f->newest;
	int64_t t0 = now_ns();
	int rc;

	/* The damage so far is used up: damage after this triggers the next grab. */
	rc = screen_grab(f->screen, (unsigned)idx, SCREEN_GRAB_CURSOR, &img, &cur, &changed, &cause);
	if (rc != 0) {
		fail_engine(f, rc, "cannot grab the screen", cause);
		return rc;
	}
	s = &f->slots[idx];
	s->img = img;
	s->cur = cur;
	s->seq = ++f->grab_seq;
	s->t_ns = t0;
	s->grab_ms = ms_since(t0);
	s->own = changed;
	if (f->grab_seq == 1)
		s->own = (struct image_rect){0, 0, img.width, img.height};
	f->acc_running = image_rect_union(f->acc_running, s->own);
	s->acc = f->acc_running;
	f->newest = idx;
	f->damage_pending = false;
	f->last_grab_ns = t0;
	pthread_mutex_lock(&f->mu);
	f->stats.grabs++;
	timing_add(&f->t_grab, s->grab_ms);
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static void ensure_cap(uint8_t **buf, size_t *cap, size_t need)
{
	if (*cap < need) {
		free(*buf);
		*buf = util_xmalloc(need);
		*cap = need;
	}
}

/* Copies the whole grab into dst (stride width * 4), clearing the X byte. */
static void copy_image(uint8_t *dst, const struct image *img)
{
	for (uint32_t y = 0; y < img->height; y++)
		copy_pixels(dst + (size_t)y * img->width * 4, img->pixels + (size_t)y * img->stride,
		            img->width);
}

/*
 * Prepares a patch in the job buffer: the rectangles of img stacked top to
 * bottom (each at the left edge, the rest of its rows black); the same
 * rectangles of ref are brought up to date, so ref stays equal to the newest
 * image handed on.
 */
static void pack_patch(struct frames *f, const struct image *img,
                       const struct image_rect *r, size_t n, uint32_t w, uint32_t h)
{
	size_t stride = (size_t)w * 4, row = 0, rstride = (size_t)f->ref_w * 4;

	ensure_cap(&f->buf, &f->buf_cap, stride * h);
	for (size_t i = 0; i < n; i++) {
		for (uint32_t y = 0; y < r[i].h; y++, row++) {
			const uint8_t *src = img->pixels + (size_t)(r[i].y + (int32_t)y) * img->stride +
			                     (size_t)r[i].x * 4;
			uint8_t *d = f->buf + row * stride;

			copy_pixels(d, src, r[i].w);
			memset(d + (size_t)r[i].w * 4, 0, stride - (size_t)r[i].w * 4);
			memcpy(f->ref + (size_t)(r[i].y + (int32_t)y) * rstride + (size_t)r[i].x * 4, d,
			       (size_t)r[i].w * 4);
		}
	}
}

/* Fills the record of a frame of slot s: time, trigger, size and cursor. */
static void job_init(struct job *job, const struct slot *s, const char *trigger,
                     int64_t event_id)
{
	memset(job, 0, sizeof(*job));
	job->rec.t_ns = s->t_ns;
	job->rec.event_id = event_id;
	util_strlcpy_utf8(job->rec.trigger, trigger, sizeof(job->rec.trigger));
	job->rec.width = (int32_t)s->img.width;
	job->rec.height = (int32_t)s->img.height;
	if (s->cur.valid) {
		job->rec.cursor_x = s->cur.x;
		job->rec.cursor_y = s->cur.y;
		util_strlcpy_utf8(job->rec.cursor_name, s->cur.name, sizeof(job->rec.cursor_name));
	} else {
		job->rec.cursor_x = job->rec.cursor_y = -1;
	}
}

/*
 * Waits until the job buffer (and, after a key frame, ref) is the engine's once
 * the worker is done, copies the keep rectangles in force, and makes the last
 * key frame ref. Returns false when frame storage failed meanwhile.
 */
static bool claim_buffers(struct frames *f, struct image_rect keep[FRAMES_KEEP_MAX],
                          size_t *n_keep, bool *keep_set, uint64_t *keep_version)
{
	bool failed;

	pthread_mutex_lock(&f->mu);
	while (f->buf_busy && f->stats.error == 0)
		pthread_cond_wait(&f->buf_cv, &f->mu);
	failed = f->stats.error != 0;
	*keep_set = f->keep_set;
	*n_keep = f->n_keep;
	memcpy(keep, f->keep, sizeof(f->keep));
	*keep_version = f->keep_version;
	pthread_mutex_unlock(&f->mu);
	if (failed)
		return false;
	if (f->ref_in_buf) {
		uint8_t *t = f->ref;
		size_t tc = f->ref_cap;

		f->ref = f->buf;
		f->ref_cap = f->buf_cap;
		f->buf = t;
		f->buf_cap = tc;
		f->ref_in_buf = false;
		f->have_ref = true;
	}
	return true;
}

/*
 * Compares img with the previous image (ref, of the same size) and, when the
 * change is small enough, packs the changed rectangles into the job buffer as
 * a patch (job->kind JOB_PATCH). Returns how many rectangles changed: 0 when
 * img is the same as ref.
 */
static size_t make_patch(struct frames *f, const struct image *img, struct job *job)
{
	struct image ref = {f->ref, f->ref_w, f->ref_h, (size_t)f->ref_w * 4};
	struct image_rect rects[STORE_PATCH_MAX];
	uint64_t area = 0;
	uint32_t pw = 0, ph = 0;
	size_t n;

	n = frames_diff_rects(img, &ref, rects, STORE_PATCH_MAX);
	for (size_t i = 0; i < n; i++) {
		area += (uint64_t)rects[i].w * rects[i].h;
		pw = rects[i].w > pw ? rects[i].w : pw;
		ph += rects[i].h;
	}
	if (n > 0 && f->since_key < KEY_EVERY && ph <= PACK_MAX_SIDE &&
	    area * 100 <= (uint64_t)img->width * img->height * KEY_AREA_PERCENT &&
	    (uint64_t)pw * ph <= (uint64_t)img->width * img->height) {
		pack_patch(f, img, rects, n, pw, ph);
		job->kind = JOB_PATCH;
		job->w = pw;
		job->h = ph;
		job->rec.n_patch = (int32_t)n;
		for (size_t i = 0; i < n; i++)
			job->rec.patch[i] = (struct store_rect){rects[i].x, rects[i].y,
			                                        (int32_t)rects[i].w,
			                                        (int32_t)rects[i].h};
		f->since_key++;
	}
	return n;
}

/* Copies img whole into the job buffer as a key frame, which becomes ref once encoded. */
static void make_key(struct frames *f, const struct image *img, struct job *job)
{
	ensure_cap(&f->buf, &f->buf_cap, (size_t)img->width * img->height * 4);
	copy_image(f->buf, img);
	job->kind = JOB_KEY;
	job->w = img->width;
	job->h = img->height;
	job->dedup = !f->cfg.patches;
	if (f->cfg.patches) {
		f->ref_in_buf = true;
		f->ref_w = img->width;
		f->ref_h = img->height;
		f->since_key = 0;
	}
}

/*
 * Hands slot s on as a frame. A "pre" frame always gets a record; the other
 * triggers are dropped when the screen is the same as the last frame's.
 *
 * With patches on, the engine compares the grab with the previous image (ref)
 * itself, so that a patch copies only what changed rather than the whole
 * screen; a key frame is copied whole into the job buffer, which becomes ref
 * once the worker has encoded it.
 */
static void take_frame(struct frames *f, int idx, const char *trigger, int64_t event_id)
{
	struct slot *s = &f->slots[idx];
	struct image *img = &s->img;
	struct image_rect keep[FRAMES_KEEP_MAX];
	struct job job;
	uint64_t keep_version;
	bool is_pre = strcmp(trigger, "pre") == 0, keep_set;
	size_t n = 0, n_keep;
	int64_t t0;

	if (f->engine_failed || has_error(f) || s->seq == 0)
		return;
	job_init(&job, s, trigger, event_id);

	pthread_mutex_lock(&f->mu);
	keep_version = f->keep_version;
	pthread_mutex_unlock(&f->mu);
	if (s->seq == f->last_sub_seq && keep_version == f->last_sub_mask)
		goto same;
	if (!claim_buffers(f, keep, &n_keep, &keep_set, &keep_version))
		return;

	t0 = now_ns();
	/*
	 * Masked in place: the slot may become another frame later, with the same
	 * rectangles kept (or, after frames_set_keep, with fewer pixels than it had).
	 */
	if (keep_set)
		image_apply_mask(img, keep, n_keep, f->cfg.mask_color & 0xffffff);
	f->last_sub_seq = s->seq;
	f->last_sub_mask = keep_version;
	if (f->cfg.patches && f->have_ref && f->ref_w == img->width && f->ref_h == img->height) {
		n = make_patch(f, img, &job);
		if (n == 0)
			goto same;
	}
	if (n == 0 || job.kind != JOB_PATCH)
		make_key(f, img, &job);
	double prep_ms = ms_since(t0);

	pthread_mutex_lock(&f->mu);
	timing_add(&f->t_prep, prep_ms);
	pthread_mutex_unlock(&f->mu);
	job.rec.damage_x = s->acc.x;
	job.rec.damage_y = s->acc.y;
	job.rec.damage_w = (int32_t)s->acc.w;
	job.rec.damage_h = (int32_t)s->acc.h;
	job.pre_ms = s->grab_ms + prep_ms;
	queue_job(f, &job);
	f->last_store_ns = now_ns();
	/* Damage after this grab counts towards the next frame. */
	struct slot *o = &f->slots[1 - idx];
	if (o->seq > s->seq) {
		o->acc = o->own;
		f->acc_running = o->own;
	} else {
		f->acc_running = (struct image_rect){0, 0, 0, 0};
	}
	f->changed = f->damage_pending || o->seq > s->seq;
	return;

same:
	/* The same pixels as the previous frame: never encoded or stored twice. */
	if (!is_pre) {
		pthread_mutex_lock(&f->mu);
		f->stats.unchanged++;
		pthread_mutex_unlock(&f->mu);
		return;
	}
	job.kind = JOB_REUSE;   /* damage stays 0,0,0,0: nothing changed */
	queue_job(f, &job);
}

/* The newest grab requested at or before t (else the oldest one there is). */
static int slot_before(struct frames *f, int64_t t)
{
	int best = -1;

	for (int i = 0; i < 2; i++) {
		const struct slot *s = &f->slots[i];

		if (s->seq == 0 || s->t_ns > t)
			continue;
		if (best < 0 || s->seq > f->slots[best].seq)
			best = i;
	}
	if (best >= 0)
		return best;
	for (int i = 0; i < 2; i++) {
		if (f->slots[i].seq == 0)
			continue;
		if (best < 0 || f->slots[i].seq < f->slots[best].seq)
			best = i;
	}
	return best;
}

static void arm_after(struct frames *f, int64_t t, int64_t event_id, const char *trigger)
{
	if (!f->after.armed) {
		f->after.armed = true;
		f->after.first_ns = t;
		f->after.damage_seen = false;
	}
	f->after.action_ns = t;
	f->after.event_id = event_id;
	f->after.trigger = trigger;
}

static void handle_note(struct frames *f, const struct note *n)
{
	int idx;

	switch (n->kind) {
	case NOTE_PAUSE:
		f->paused = true;
		f->after.armed = false;
		return;
	case NOTE_RESUME:
		if (!f->paused)
			return;
		f->paused = false;
		/* What was grabbed before the pause may be stale: grab again first. */
		f->slots[0].seq = f->slots[1].seq = 0;
		f->damage_pending = true;
		f->last_grab_ns = 0;
		f->last_sub_seq = 0;
		return;
	default:
		break;
	}
	if (f->paused || f->engine_failed)
		return;
	switch (n->kind) {
	case NOTE_PRESS:
	case NOTE_KEY_RUN:
	case NOTE_SCROLL_RUN:
		if (f->slots[0].seq == 0 && f->slots[1].seq == 0 && do_grab(f) != 0)
			return;
		idx = slot_before(f, n->t_ns);
		/* A waiting settle frame would show the same screen as this one. */
		f->after.armed = false;
		take_frame(f, idx, "pre", n->id);
		arm_after(f, n->t_ns, n->id, "settle");
		break;
	case NOTE_KEY:
	case NOTE_SCROLL:
		arm_after(f, n->t_ns, n->id, "settle");
		break;
	case NOTE_FOCUS:
		arm_after(f, n->t_ns, n->id, "focus");
		break;
	default:
		break;
	}
}

/* When the waiting settle/focus frame is due. */
static int64_t after_due(const struct frames *f)
{
	const struct after *a = &f->after;
	int64_t cap = a->first_ns + (int64_t)f->cfg.settle_max_ms * MS_NS;
	int64_t due = cap;

	if (a->damage_seen) {
		int64_t quiet_from = f->last_damage_ns > a->action_ns ? f->last_damage_ns :
		                     a->action_ns;
		int64_t quiet = quiet_from + (int64_t)f->cfg.settle_ms * MS_NS;

		if (quiet < due)
			due = quiet;
	}
	if (f->last_store_ns + (int64_t)f->cfg.min_gap_ms * MS_NS > due)
		due = f->last_store_ns + (int64_t)f->cfg.min_gap_ms * MS_NS;
	return due;
}

static int64_t idle_due(const struct frames *f)
{
	int64_t gap = (int64_t)f->cfg.min_gap_ms * MS_NS, idle = (int64_t)f->cfg.idle_ms * MS_NS;

	return f->last_store_ns + (idle > gap ? idle : gap);
}

/* Takes the newest screen as a frame, grabbing first when it changed since. */
static void take_newest(struct frames *f, const char *trigger, int64_t event_id)
{
	if (f->damage_pending && do_grab(f) != 0)
		return;
	if (f->newest >= 0)
		take_frame(f, f->newest, trigger, event_id);
}

/* A change notice of the screen (screen_dispatch). */
static void screen_changed(void *arg)
{
	struct frames *f = arg;
	int64_t t = now_ns();

	if (f->paused)
		return;
	f->damage_pending = true;
	f->changed = true;
	f->last_damage_ns = t;
	if (f->after.armed && t >= f->after.first_ns)
		f->after.damage_seen = true;
}

/* Handles every event of the screen read or readable; false when the connection broke. */
static bool drain_screen(struct frames *f, bool queued_only, bool *any)
{
	int n = screen_dispatch(f->screen, queued_only, screen_changed, f);

	if (n > 0)
		*any = true;
	return n >= 0;
}

static void *engine_main(void *arg)
{
	struct frames *f = arg;
	struct note batch[256];
	bool stopping = false;

	for (;;) {
		size_t n = 0;
		bool any = false;
		int64_t now, next = INT64_MAX;

		if (!f->engine_failed && !drain_screen(f, false, &any)) {
			fail_engine(f, -EIO, "lost the X connection", NULL);
		}
		do {
			pthread_mutex_lock(&f->nmu);
			n = f->note_count < 256 ? f->note_count : 256;
			for (size_t i = 0; i < n; i++)
				batch[i] = f->notes[(f->note_head + i) % NOTE_CAP];
			f->note_head = (f->note_head + n) % NOTE_CAP;
			f->note_count -= n;
			stopping = f->stopping;
			pthread_mutex_unlock(&f->nmu);
			for (size_t i = 0; i < n; i++)
				handle_note(f, &batch[i]);
		} while (n == 256);
		if (stopping)
			break;

		now = now_ns();
		if (!f->engine_failed && !f->paused) {
			if (f->damage_pending &&
			    now >= f->last_grab_ns + (int64_t)f->cfg.grab_interval_ms * MS_NS)
				do_grab(f);
			if (f->after.armed && now >= after_due(f)) {
				f->after.armed = false;
				take_newest(f, f->after.trigger, f->after.event_id);
			} else if (!f->after.armed && f->changed && now >= idle_due(f)) {
				take_newest(f, "idle", 0);
			}
			if (f->damage_pending)
				next = f->last_grab_ns + (int64_t)f->cfg.grab_interval_ms * MS_NS;
			if (f->after.armed && after_due(f) < next)
				next = after_due(f);
			if (!f->after.armed && f->changed && idle_due(f) < next)
				next = idle_due(f);
		}
		/* Events read while waiting for a reply sit in a queue, not in the socket. */
		any = false;
		if (!f->engine_failed && !drain_screen(f, true, &any))
			continue;
		if (any)
			continue;

		struct pollfd pfd[2] = {
			{.fd = screen_fd(f->screen), .events = POLLIN},
			{.fd = f->wake_fd, .events = POLLIN},
		};
		int timeout = -1;

		now = now_ns();
		if (next != INT64_MAX) {
			int64_t ms = next <= now ? 0 : (next - now + MS_NS - 1) / MS_NS;
			timeout = ms > 60000 ? 60000 : (int)ms;
		}
		/* After a failure only the wake-up matters (stop). */
		if (poll(f->engine_failed ? pfd + 1 : pfd, f->engine_failed ? 1 : 2, timeout) > 0 &&
		    (pfd[1].revents & POLLIN)) {
			uint64_t v;
			ssize_t r = read(f->wake_fd, &v, sizeof(v));
			(void)r;
		}
	}
	/* The last action's result: take the waiting frame now rather than lose it. */
	if (!f->engine_failed && !f->paused && f->after.armed) {
		f->after.armed = false;
		take_newest(f, f->after.trigger, f->after.event_id);
	}
	pthread_mutex_lock(&f->mu);
	f->worker_stop = true;
	pthread_cond_signal(&f->job_cv);
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* ---------------------------------------------------------------- input thread */

static void push_note(struct frames *f, int kind, int64_t id, int64_t t)
{
	bool wake;
	bool reserved = kind == NOTE_PAUSE || kind == NOTE_RESUME;

	pthread_mutex_lock(&f->nmu);
	if (f->note_count >= (reserved ? NOTE_CAP : NOTE_CAP - NOTE_RESERVED)) {
		f->notes_dropped++;
		pthread_mutex_unlock(&f->nmu);
		return;
	}
	wake = f->note_count == 0;
	f->notes[(f->note_head + f->note_count) % NOTE_CAP] = (struct note){id, t, kind};
	f->note_count++;
	pthread_mutex_unlock(&f->nmu);
	if (wake) {
		uint64_t one = 1;
		ssize_t r = write(f->wake_fd, &one, sizeof(one));
		(void)r;
	}
}

void frames_notify(struct frames *f, const struct event *ev)
{
	int64_t pause;
	int kind;

	if (f == NULL)
		return;
	pause = (int64_t)f->cfg.typing_pause_ms * MS_NS;
	switch (ev->kind) {
	case EVENT_BUTTON_PRESS:
		kind = NOTE_PRESS;
		f->in_key_run = f->in_scroll_run = false;
		break;
	case EVENT_KEY_PRESS:
		kind = !f->in_key_run || ev->t_ns - f->last_key_ns >= pause ? NOTE_KEY_RUN : NOTE_KEY;
		f->in_key_run = true;
		f->in_scroll_run = false;
		f->last_key_ns = ev->t_ns;
		break;
	case EVENT_SCROLL:
		kind = !f->in_scroll_run || ev->t_ns - f->last_scroll_ns >= pause ? NOTE_SCROLL_RUN :
		       NOTE_SCROLL;
		f->in_scroll_run = true;
		f->in_key_run = false;
		f->last_scroll_ns = ev->t_ns;
		break;
	case EVENT_FOCUS:
		kind = NOTE_FOCUS;
		f->in_key_run = f->in_scroll_run = false;
		break;
	default:
		return;
	}
	push_note(f, kind, ev->id, ev->t_ns);
}

void frames_set_paused(struct frames *f, bool paused)
{
	if (f == NULL)
		return;
	f->in_key_run = f->in_scroll_run = false;
	push_note(f, paused ? NOTE_PAUSE : NOTE_RESUME, 0, now_ns());
}

int frames_set_keep(struct frames *f, const struct image_rect *rects, size_t n)
{
	if (rects != NULL && n > FRAMES_KEEP_MAX)
		return -E2BIG;
	pthread_mutex_lock(&f->mu);
	f->keep_set = rects != NULL;
	f->n_keep = rects != NULL ? n : 0;
	if (rects != NULL && n > 0)
		memcpy(f->keep, rects, n * sizeof(*rects));
	f->keep_version++;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

void frames_get_stats(struct frames *f, struct frames_stats *out)
{
	pthread_mutex_lock(&f->mu);
	*out = f->stats;
	timing_get(&f->t_grab, &out->grab_ms);
	timing_get(&f->t_prep, &out->prep_ms);
	timing_get(&f->t_encode, &out->encode_ms);
	timing_get(&f->t_worker, &out->worker_ms);
	timing_get(&f->t_total, &out->total_ms);
	pthread_mutex_unlock(&f->mu);
	pthread_mutex_lock(&f->nmu);
	out->dropped = f->notes_dropped;
	pthread_mutex_unlock(&f->nmu);
}

/* ---------------------------------------------------------------- set-up */

static void frames_free(struct frames *f)
{
	screen_close(f->screen);
	blob_close(f->blob);
	encode_free(f->enc);
	free(f->buf);
	free(f->ref);
	if (f->wake_fd >= 0)
		close(f->wake_fd);
	pthread_cond_destroy(&f->job_cv);
	pthread_cond_destroy(&f->buf_cv);
	pthread_mutex_destroy(&f->mu);
	pthread_mutex_destroy(&f->nmu);
	free(f);
}

int frames_start(const struct frames_opts *o, struct frames **out, char **cause)
{
	struct frames *f;
	pthread_condattr_t ca;
	sigset_t all, old;
	int rc;

	*out = NULL;
	f = util_xcalloc(1, sizeof(*f));
	f->cfg = *o->cfg;
	f->writer = o->writer;
	f->newest = -1;
	f->wake_fd = -1;
	f->next_id = o->first_frame_id > 0 ? o->first_frame_id : 1;
	f->format_name = encode_format_name(f->cfg.format);
	pthread_mutex_init(&f->nmu, NULL);
	pthread_mutex_init(&f->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->job_cv, &ca);
	pthread_cond_init(&f->buf_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (f->cfg.keep_set)
		frames_set_keep(f, f->cfg.keep, f->cfg.n_keep);

	rc = blob_open(o->blob_dir, f->format_name, BLOB_CREATE | BLOB_WRITE, &f->blob, cause);
	if (rc != 0)
		goto fail;
	blob_set_vault(f->blob, o->vault);
	rc = encode_new(&f->enc, cause);
	if (rc != 0)
		goto fail;
	rc = screen_open(o->display, SCREEN_OPEN_CHANGES, 2, &f->screen, cause);
	if (rc != 0)
		goto fail;
	f->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->wake_fd < 0) {
		rc = util_fail(cause, -errno, "cannot take frames: eventfd: %s", strerror(errno));
		goto fail;
	}
	/* The screen as it is now, so that the first action has a frame from before it. */
	rc = do_grab(f);
	if (rc != 0) {
		util_fail(cause, rc, "cannot take frames: %s", f->stats.error_text);
		goto fail;
	}
	f->last_store_ns = now_ns();
	f->changed = false;

	/* Signals belong to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&f->worker, NULL, worker_main, f);
	if (rc == 0) {
		f->worker_started = true;
		rc = pthread_create(&f->engine, NULL, engine_main, f);
		if (rc == 0)
			f->engine_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		rc = util_fail(cause, -rc, "cannot start the frames threads: %s", strerror(rc));
		goto fail;
	}
	f->started = true;
	*out = f;
	return 0;
fail:
	if (f->worker_started) {
		pthread_mutex_lock(&f->mu);
		f->worker_stop = true;
		pthread_cond_signal(&f->job_cv);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->worker, NULL);
	}
	frames_free(f);
	return rc;
}

int frames_stop(struct frames *f, char **cause)
{
	int err;

	if (f == NULL)
		return 0;
	pthread_mutex_lock(&f->nmu);
	f->stopping = true;
	pthread_mutex_unlock(&f->nmu);
	{
		uint64_t one = 1;
		ssize_t r = write(f->wake_fd, &one, sizeof(one));
		(void)r;
	}
	if (f->engine_started)
		pthread_join(f->engine, NULL);
	if (f->worker_started)
		pthread_join(f->worker, NULL);
	err = f->stats.error;
	if (err != 0)
		util_fail(cause, err, "%s", f->stats.error_text);
	if (f->notes_dropped > 0)
		log_warn("frames: %llu actions were not looked at because the frame engine fell "
		         "behind", (unsigned long long)f->notes_dropped);
	frames_free(f);
	return err;
}

int frames_monitors_json(const char *display, char **json, char **cause)
{
	struct screen *s = NULL;
	struct screen_monitor *m = NULL;
	size_t n = 0;
	json_t *arr;
	int rc;

	*json = NULL;
	rc = screen_open(display, SCREEN_OPEN_NO_SHM, 1, &s, cause);
	if (rc != 0)
		return rc;
	rc = screen_monitors(s, &m, &n, cause);
	if (rc == 0) {
		arr = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s,s:i,s:i,s:i,s:i,s:b}",
			                      "name", m[i].name, "x", (int)m[i].x, "y", (int)m[i].y,
			                      "width", (int)m[i].width, "height", (int)m[i].height,
			                      "primary", (int)m[i].primary));
		*json = json_dumps(arr, JSON_COMPACT);
		json_decref(arr);
		if (*json == NULL)
			rc = util_fail(cause, -ENOMEM, "cannot list the monitors: out of memory");
	}
	free(m);
	screen_close(s);
	return rc;
}
