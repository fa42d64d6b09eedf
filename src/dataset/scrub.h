/*
 * scrub: keeps personal data and secrets out of exported frames and typed text
 * (docs/REDACTION.md, safeguards 7-10).
 *
 * Pixels: the text of a frame's changed regions is read with OCR (ocr.h), at
 * two sizes for the lines that could hold personal data (scrub_read), the
 * text detector (redact.h) runs on the line text, and the boxes of the matched
 * words are filled with a flat colour. A frame with a high-risk finding (card,
 * national id, secret, private key) is kept with its findings filled when every
 * finding was placed (SCRUB_RISK_UNREAD otherwise), and dropped otherwise; a
 * word OCR could not read with confidence that could be part of a number is
 * filled with its neighbours (scrub_cover_unread). Every frame has a scan state in
 * the store (enum store_scan): `unscanned` until scrub_session has looked at it,
 * then `clean`, `scrubbed` (the filled screen is stored as its own blob) or
 * `dropped`. A scan records the key of how it was made (scrub_scan_key: the
 * fingerprint of the rules and the version of the scrubber's reading); to a
 * scrub with another key the frame is unscanned, and is scanned again, so that
 * a rule the organisation adds, or a better reading in a newer mimic, reaches
 * frames scanned before it. The only way to the pixels of a frame for an export or an upload is
 * scrub_frame_image, which scans what is unscanned first and never returns the
 * pixels of a dropped frame or the unfilled pixels of a scrubbed one.
 *
 * Typed text: a run of typing is split into several `type` actions when the
 * person pauses; the joiner (redact_typed, redact.h) scans the pieces of a run
 * as one text and reports the risk, and scrub_session drops every frame taken
 * while a high-risk value was being typed (from the first key of the first
 * piece to settle time after the last).
 *
 * Patches inherit: a frame stored as a patch over another is scanned only in
 * full-width bands around its changed rectangles, and keeps the findings of the
 * frame below it that its patches did not touch, so a card number that stays on
 * screen keeps dropping the frames that show it.
 */
#ifndef MIMIC_SCRUB_H
#define MIMIC_SCRUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "ocr.h"
#include "redact.h"
#include "reduce.h"

/* The fill colour of redacted boxes (host-order 0xXXRRGGBB, grab.h): black. */
#define SCRUB_FILL 0x000000u

/* Pixels added around each word box (and a fifth of its height above and below). */
#define SCRUB_PAD 2

/*
 * How long after the last key of a high-risk typing run its fields are still
 * filled (or, when a field is not known, frames dropped) whatever OCR reads.
 */
#define SCRUB_TYPED_AFTER_NS (2500LL * 1000000LL)

/* Fields one typing run is filled in (its pieces' elements); more: frames dropped. */
#define SCRUB_TYPED_FIELDS 8

/* Typed fields filled in one frame (of the typing windows it is in); more: dropped. */
#define SCRUB_TYPED_RECTS 16

/*
 * The version of how frames are read and searched (OCR preparation, the second
 * reading, the normalisation of OCR text): raised with every change that can
 * find more, so that frames scanned by an older mimic are scanned again.
 */
#define SCRUB_READING_VERSION 5

/* Length of a scan key in hex digits (store.h's STORE_SCAN_RULES_MAX). */
#define SCRUB_SCAN_KEY_LEN 64

/*
 * The key a frame's scan records: BLAKE2b-256, in lower-case hex, over
 * SCRUB_READING_VERSION and the fingerprint of the rules r (redact_fingerprint).
 * out receives SCRUB_SCAN_KEY_LEN digits and a NUL.
 */
void scrub_scan_key(const struct redact *r, char out[SCRUB_SCAN_KEY_LEN + 1]);

/*
 * Not a risk level of redact.h but a flag ORed into the same mask: by scrub_find
 * for a finding it could not place on the image (and by the scan for a frame whose
 * base frame was dropped for that). The frame then has a region left unread, and a
 * frame with high-risk findings is kept (filled) only without it.
 */
#define SCRUB_RISK_UNREAD (1u << 8)

/* Below this confidence (0..100) a word is not read (scrub_unread). */
#define SCRUB_MIN_CONF 40.0f

/* Digits a word needs to count as possibly part of a high-risk number (scrub_unread). */
#define SCRUB_UNREAD_DIGITS 4

/*
 * The type of a box that covers a run of words OCR could not read with
 * confidence (scrub_cover_unread), beside the enum redact_type values.
 */
#define SCRUB_TYPE_UNREAD ((int)REDACT_TYPE_COUNT)

/* The type of a box over a field high-risk text was typed into (its element's bounds). */
#define SCRUB_TYPE_FIELD ((int)REDACT_TYPE_COUNT + 1)

/* One finding in pixels: the box that is (or is to be) filled. */
struct scrub_box {
	struct image_rect box;
	int type;              /* enum redact_type, or SCRUB_TYPE_UNREAD */
	unsigned risk;         /* REDACT_RISK_LOW or REDACT_RISK_HIGH */
};

/*
 * Finds the findings of one OCR result: joins its lines with '\n', scans the
 * text and its normalised copy (the latter also for the shapes small fonts
 * garble beyond the exact rules: an AWS key id with a misread prefix or a
 * doubled letter, an IPv6 address with a widened group), and maps each finding
 * to the union of the boxes of the words it touches on each line, padded by
 * SCRUB_PAD and clipped to img_w x img_h; one finding seen twice is one box.
 * Appends to *boxes (a malloc'ed array of *n, grown as needed; both may start
 * as NULL/0) and ORs the risks seen into *risk.
 * Returns 0 or the errors of redact_scan (then the caller must drop the frame).
 */
int scrub_find(const struct redact *r, const struct ocr_result *res, uint32_t img_w,
               uint32_t img_h, struct scrub_box **boxes, size_t *n, unsigned *risk);

/*
 * Whether a word of res that could be part of a high-risk number (at least
 * SCRUB_UNREAD_DIGITS digits) was read with a confidence below SCRUB_MIN_CONF and
 * lies outside every box of boxes[0..n) (by at least half of its area).
 */
bool scrub_unread(const struct ocr_result *res, const struct scrub_box *boxes, size_t n);

/*
 * Covers what OCR could not read: for each word scrub_unread would name, appends
 * to *boxes / *n (SCRUB_TYPE_UNREAD, high risk) one box over the run of words of
 * its line that could belong to the same number: the neighbours holding a digit,
 * or of at most four letters and digits in upper case (an IBAN's bank code),
 * padded and clipped to img_w x img_h. Returns the number of boxes appended.
 */
size_t scrub_cover_unread(const struct ocr_result *res, uint32_t img_w, uint32_t img_h,
                          struct scrub_box **boxes, size_t *n);

/*
 * Reads one region of img (NULL: the whole image) and finds what is in it
 * (scrub_find), twice: at the engine's size, then the lines that could hold
 * personal data (digits, '@', long tokens) again at 3x; the findings of both
 * readings are appended to *boxes / *n and their risks ORed into *risk. ocr_ms
 * (may be NULL) is increased by the OCR time. first (may be NULL) receives the
 * first reading, which the caller frees with ocr_result_free. Errors: those of
 * ocr_read (with *cause) and redact_scan; then *risk has REDACT_RISK_HIGH and
 * *first is empty.
 */
int scrub_read(struct ocr *o, const struct redact *r, const struct image *img,
               const struct image_rect *region, struct scrub_box **boxes, size_t *n,
               unsigned *risk, double *ocr_ms, struct ocr_result *first /* OUT */,
               char **cause);

/* Fills every box of boxes[0..n-1] in img with fill. */
void scrub_fill(struct image *img, const struct scrub_box *boxes, size_t n, uint32_t fill);

/*
 * The pixel scrubber for one image: reads each of regions[0..nreg-1] (NULL/0:
 * the whole image) with scrub_read, then fills (scrub_fill) the findings. *boxes
 * and *n are as in scrub_find (appended to); *risk gets the risks seen, so
 * (*risk & REDACT_RISK_HIGH) means the frame is to be dropped. ocr_ms (may be
 * NULL) is increased by the time spent in OCR. Errors: those of ocr_read and
 * redact_scan, with *cause; the image must then be dropped.
 */
int scrub_image(struct ocr *o, const struct redact *r, struct image *img,
                const struct image_rect *regions, size_t nreg, uint32_t fill,
                struct scrub_box **boxes, size_t *n, unsigned *risk, double *ocr_ms,
                char **cause);

/* Scanning stored frames of a data directory. */
struct scrub;

struct scrub_opts {
	const char *data_dir;        /* the data directory (paths.h) */
	const struct redact *redact; /* NULL: the built-in rules, opened here */
	const char *ocr_datapath;    /* NULL: Tesseract's default */
	uint32_t fill;               /* colour of filled boxes (SCRUB_FILL) */
};

struct scrub_stats {
	uint64_t frames;         /* frames of the session */
	uint64_t scanned;        /* scanned now */
	uint64_t clean, scrubbed, dropped; /* states of those scanned now */
	uint64_t dropped_typed;  /* of the dropped, for typed high-risk text */
	uint64_t filled_high;    /* of the scrubbed, frames with high-risk findings filled */
	uint64_t filled_typed;   /* of those, frames kept with the fields of a typing run filled */
	uint64_t reused;         /* scanned by copying an identical previous record */
	uint64_t regions;        /* regions OCR'd */
	double ocr_ms;           /* total OCR time */
};

/*
 * Opens the store of the data directory for writing, and loads the OCR engine
 * when first needed. Use from one thread. Errors with *cause: those of
 * store_open and redact_open.
 */
int scrub_open(const struct scrub_opts *opts, struct scrub **out /* OUT */, char **cause);

/* Closes everything. NULL is allowed. */
void scrub_close(struct scrub *s);

/*
 * Scans every unscanned frame of session, oldest first, and stores each one's
 * state with the fingerprint of s's rules. A frame scanned with other rules
 * (another fingerprint, or a scan stored before fingerprints were, which has
 * none) counts as unscanned and is scanned again; a frame scanned with these
 * rules is not, except that the decision on typing is made again. stats may be
 * NULL. A frame that cannot be read or OCR'd is stored as dropped (reason
 * "error"); only store failures stop the scan (returned, with *cause).
 */
int scrub_session(struct scrub *s, int64_t session, struct scrub_stats *stats, char **cause);

/*
 * scrub_session in steps, for a reader that needs frames' pixels while they are
 * scanned (the export): every frame is read once, by the scan, and handed on.
 * scrub_session_begin lists the frames of session (stats as scrub_session's;
 * NULL allowed) and forgets a session begun before; scrub_session_upto scans
 * them in order up to and including frame id (nothing when id is not one of
 * them or was passed); scrub_session_end scans the rest and ends the session.
 * Errors as scrub_session's, with *cause.
 */
int scrub_session_begin(struct scrub *s, int64_t session, struct scrub_stats *stats,
                        char **cause);
int scrub_session_upto(struct scrub *s, int64_t id, char **cause);
int scrub_session_end(struct scrub *s, char **cause);

/*
 * Loads the OCR engine when a frame of sessions[0..n) is still to be scanned by
 * s, so that a caller that scans as it goes (scrub_session_upto) fails before it
 * writes anything when frames cannot be scanned. Errors: the store's and
 * ocr_new's, with *cause.
 */
int scrub_ready(struct scrub *s, const int64_t *sessions, size_t n, char **cause);

/*
 * Sets *img to the whole screen of frame id of the session begun, as stored
 * (unscrubbed: the caller fills the scan's findings, scrub_export_frame): the
 * screen the scan put together when it was the last one scanned (pixels.h).
 * *img is s's, valid until the next call on s. Errors (-ENOENT no such frame,
 * -EIO unreadable) with *cause.
 */
int scrub_session_pixels(struct scrub *s, int64_t id, const struct image **img /* OUT */,
                         char **cause);

struct store;

/* The store s scans into: where the scans scrub_export_frame reads are written. */
struct store *scrub_store(struct scrub *s);

/*
 * The pixels of frame id of session as they may leave the machine: scans the
 * session first when the frame is unscanned (or was scanned with other rules
 * than s's). On success *state is the frame's
 * state; for STORE_SCAN_CLEAN and STORE_SCAN_SCRUBBED *img is the whole screen
 * (BGRX, pixels malloc'ed, the caller frees them), for STORE_SCAN_DROPPED *img
 * is zeroed and the frame must be left out. Errors (-ENOENT no such frame,
 * -EIO unreadable) with *cause; *img is then zeroed.
 */
int scrub_frame_image(struct scrub *s, int64_t session, int64_t id,
                      struct image *img /* OUT */, int *state /* OUT */, char **cause);

/*
 * The verdict on one frame about to leave the machine, for a caller that has
 * put the frame's whole screen together itself from the stored blobs (export.c,
 * export_frame_prepare): reads the scan of frame id from st and returns 1 (drop)
 * when it is dropped, still unscanned, or scanned with rules other than r (the
 * rules the caller scanned with; NULL: no scan counts), or 0 (keep) after
 * filling its findings in img with fill when it was scrubbed; *filled (when not
 * NULL) is then 1 when it was scrubbed, else 0. Negative errno (with *cause) when
 * the scan cannot be read; the frame must then be left out too.
 */
int scrub_export_frame(struct store *st, const struct redact *r, int64_t id,
                       struct image *img, uint32_t fill, int *filled /* OUT */,
                       char **cause);

/*
 * The recorder's background scanner: a thread that scans the frames of one
 * session while it is recorded, off the input thread, at the lowest CPU
 * priority (SCHED_IDLE), every interval_s seconds (the first time after one
 * interval), with its own store connection and OCR engine (loaded on the first
 * scan), with the rules it is given (the organisation's, from the policy). It
 * scans only frames never scanned: a frame an export scanned with other rules
 * (added with --rules) is that export's to decide, and scanning it back would
 * make the export drop it. Exports still scan what it has not reached, scan
 * again what it scanned with other rules than theirs, and decide again on
 * typing for what it scanned before a typing run was complete.
 */
struct scrub_worker;

/* How often the recorder's scanner looks for new frames (seconds). */
#define SCRUB_WORKER_INTERVAL_S 60

/*
 * Starts the thread. data_dir is copied. r is the rule set to scan with (NULL:
 * the built-in rules, opened by the thread); it stays the caller's, who must keep
 * it open until scrub_worker_stop has returned (the thread scans with it until
 * then). Errors: -EAGAIN (no thread) with *cause.
 */
int scrub_worker_start(const char *data_dir, const struct redact *r, int64_t session,
                       int interval_s, struct scrub_worker **out /* OUT */, char **cause);

/*
 * Stops the thread (within one frame's scan) and frees w. Returns the number of
 * frames it scanned. NULL is allowed.
 */
uint64_t scrub_worker_stop(struct scrub_worker *w);

/* "unscanned", "clean", "scrubbed", "dropped"; "?" otherwise. */
const char *scrub_state_name(int state);

#endif
