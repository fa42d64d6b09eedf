/*
 * frames: event-triggered, change-driven screenshots (docs/FRAMES.md).
 *
 * An engine thread with its own connection to the display (screen.h; with X11,
 * XDamage on the root window) grabs the screen only after something changed, at
 * most every grab_interval_ms, alternating between two image buffers so that
 * the newest grab taken *before* any given moment is still in memory. The input
 * thread tells it about stored events with frames_notify (cheap, never blocks);
 * from those and from the damage it decides which frames to keep:
 *
 *   pre     the screen just before a button press, the first key of a typing
 *           run or the first wheel click of a scroll run: the newest grab taken
 *           at or before the event;
 *   settle  the screen after an action, once no damage came for settle_ms (at
 *           most settle_max_ms after the action);
 *   focus   the same after the focused window changed;
 *   idle    the screen changed but nothing else stored a frame for idle_ms.
 *
 * A worker thread masks (frames_set_keep), compares, encodes and writes the
 * frames (blob.h) and hands their records to the writer (writer_push_frame): a
 * frame whose pixels equal the previous frame's is not encoded again (a "pre"
 * frame then gets a record naming the same blob; the other triggers are
 * skipped), and with patches on only the rectangles that differ from the
 * previous image are encoded, as a patch over that frame (at most 50 patches
 * follow a full "key" frame).
 *
 * When storing frames fails (the blob directory was removed, the disk is full,
 * the encoder failed, the X connection broke), frame storage stops for the rest
 * of the session, the reason is kept for frames_get_stats and logged once, and
 * nothing else is affected: input recording goes on.
 */
#ifndef MIMIC_FRAMES_H
#define MIMIC_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "image.h"
#include "writer.h"

/* Most keep rectangles frames_set_keep takes. */
#define FRAMES_KEEP_MAX 64

struct frames;

struct frames_opts {
	const char *display;               /* NULL: $DISPLAY */
	const char *blob_dir;              /* where blobs go (created 0700 when missing) */
	const struct config_frames *cfg;   /* copied */
	struct writer *writer;             /* must outlive frames_stop */
	int64_t first_frame_id;            /* store_next_frame_id: records get ids from here */
	const struct vault *vault;         /* seals the blobs (blob_set_vault); NULL: plaintext */
};

/* Timing figures of the newest frames (milliseconds). */
struct frames_timing {
	double median;
	double p90;
	uint32_t n;                        /* samples the figures come from */
};

struct frames_stats {
	uint64_t grabs;          /* screen grabs taken */
	uint64_t stored;         /* frame records handed to the writer */
	uint64_t encoded;        /* images encoded (key frames + patches) */
	uint64_t keys;           /* of which full key frames */
	uint64_t reused;         /* records that name the previous frame's blob */
	uint64_t unchanged;      /* settle/focus/idle frames skipped: same pixels as before */
	uint64_t bytes;          /* encoded bytes written */
	uint64_t dropped;        /* notifications lost because the engine fell behind */
	int error;               /* 0, or why frame storage stopped (negative errno) */
	char error_text[256];    /* one line, "" when none; never pixels or titles */
	struct frames_timing grab_ms;    /* grab of the root window (MIT-SHM) + cursor */
	struct frames_timing prep_ms;    /* engine: mask, compare, copy changes (or a key frame) */
	struct frames_timing encode_ms;  /* the codec alone, per image */
	struct frames_timing worker_ms;  /* worker: encode and write, per image */
	struct frames_timing total_ms;   /* grab + prep + worker, per encoded image */
};

/*
 * Connects to the display, sets up XDamage and the grabs, opens the blob
 * directory and starts the engine and worker threads. Errors with *cause:
 * -ENXIO (no display), -ENOTSUP (no DAMAGE/XFixes extension, unsupported
 * screen format), -EACCES / -ENOENT / -EIO (blob directory), -ENOMEM.
 */
int frames_start(const struct frames_opts *opts, struct frames **out /* OUT */, char **cause);

/*
 * Tells the engine about an event that was stored (ev->id set). Called on the
 * input thread for every stored event; only key and button presses, scrolls and
 * focus changes matter. Never blocks on the engine: when its queue is full the
 * notification is counted as dropped. f may be NULL.
 */
void frames_notify(struct frames *f, const struct event *ev);

/*
 * Pauses (no grabs, no frames) or resumes. After a resume the screen is grabbed
 * again before any frame is taken, so no frame shows a screen from before the
 * pause. Called on the input thread, like frames_notify (it ends typing runs).
 * f may be NULL.
 */
void frames_set_paused(struct frames *f, bool paused);

/*
 * Sets the rectangles to keep (root coordinates); everything else is filled
 * with the configured mask colour before encoding. rects == NULL keeps the whole
 * screen; n == 0 with rects != NULL keeps nothing. At most FRAMES_KEEP_MAX
 * rectangles (-E2BIG otherwise). Applies to frames decided after the call.
 * Thread-safe.
 */
int frames_set_keep(struct frames *f, const struct image_rect *rects, size_t n);

/* Copies the counters and the error. Thread-safe. */
void frames_get_stats(struct frames *f, struct frames_stats *out /* OUT */);

/*
 * Stops: a pending settle or focus frame is taken now, everything queued is
 * encoded and handed to the writer, the threads are joined and f is freed.
 * Returns 0, or the error that stopped frame storage (with *cause). NULL is
 * allowed.
 */
int frames_stop(struct frames *f, char **cause);

/*
 * Sets *json (malloc'ed) to the monitors of display as a JSON array of
 * {"name","x","y","width","height","primary"} (RandR; one "screen" entry without
 * RandR 1.5). Errors: -ENXIO, -EIO with *cause.
 */
int frames_monitors_json(const char *display, char **json /* OUT */, char **cause);

/*
 * Helpers of the worker, exported for the unit tests. Pixels are BGRX with the
 * X byte 0 (frames clears it when it copies a grab).
 */

/* A 64-bit hash of the pixels of img (width * 4 bytes of each row). */
uint64_t frames_pixel_hash(const struct image *img);

/*
 * Finds where a and b differ: in 16x16 tiles, changed tiles no more than two
 * tiles apart grouped into one rectangle, overlapping rectangles merged, sorted
 * top to bottom, clipped to the image. Writes at most max rectangles to out
 * (when there would be more, one rectangle around all of them) and returns how
 * many; 0 when a and b are equal. Images of different sizes differ everywhere.
 */
size_t frames_diff_rects(const struct image *a, const struct image *b,
                         struct image_rect *out, size_t max);

#endif
