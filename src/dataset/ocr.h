/*
 * ocr: reads the text of a region of a screenshot with Tesseract (its C API),
 * as words with their boxes, grouped into lines whose text the redaction
 * detector can scan (scrub.h).
 *
 * One struct ocr is one Tesseract engine (about 30 MB for English and 100-300
 * ms to load); it must be used by one thread at a time, so every worker thread
 * makes its own. Tesseract runs single-threaded: Debian's build uses OpenMP,
 * which on a busy two-core machine makes recognition several times slower, so
 * ocr_new limits the calling thread to one OpenMP thread (the effect of
 * OMP_THREAD_LIMIT=1) and ocr_read does the same for the thread it runs on.
 *
 * The region is converted to 8-bit grey, dark text on light (light-on-dark
 * regions are inverted), scaled up 2x (bilinear) and given a white margin
 * before recognition, which is what makes Tesseract read terminal and UI
 * fonts; boxes are reported in the coordinates of the given image either way.
 * After recognition the shape of the ink checks every symbol for a colon the
 * recogniser misread (small bitmap fonts draw it as two dots it reads as '3',
 * 'z' or 's'): a symbol whose columns hold exactly two small dots of one size,
 * one above the other, becomes ':'.
 *
 * The misreadings of screen fonts that only the text gives away (a comma for a
 * dot, O for 0 in a number, a blank read into a token) are undone in a copy of
 * the text by ocr_normalise, which the scrubber scans besides the text itself.
 *
 * Nothing here logs what was read.
 */
#ifndef MIMIC_OCR_H
#define MIMIC_OCR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"

struct ocr;

struct ocr_opts {
	const char *datapath;  /* tessdata directory; NULL: Tesseract's default (TESSDATA_PREFIX) */
	const char *lang;      /* NULL: "eng" */
	int scale;             /* 0: automatic (2x); 1: none; 2 or 3: that factor */
};

/* One recognised word. Boxes are in image coordinates, clipped to the region. */
struct ocr_word {
	struct image_rect box;
	float conf;            /* Tesseract's confidence, 0..100 */
	size_t start, end;     /* bytes [start, end) of the word in its line's text */
	size_t line;           /* index into ocr_result.lines */
};

/* One text line: its words joined by single spaces (UTF-8, NUL-terminated). */
struct ocr_line {
	struct image_rect box;
	char *text;
	size_t len;
	size_t first_word;     /* words[first_word .. first_word + n_words - 1] */
	size_t n_words;
};

/* What ocr_read found. Free with ocr_result_free. */
struct ocr_result {
	struct ocr_word *words;
	size_t n_words;
	struct ocr_line *lines;
	size_t n_lines;
	double ms;             /* wall time of the recognition, for the benchmark */
};

/*
 * Loads an engine. opts may be NULL (all defaults). Errors with *cause:
 * -ENOENT the language data is not installed (the cause names the package,
 * tesseract-ocr-eng), -EINVAL bad options, -ENOMEM.
 */
int ocr_new(const struct ocr_opts *opts, struct ocr **out /* OUT */, char **cause);

/* Frees the engine. NULL is allowed. */
void ocr_free(struct ocr *o);

/*
 * Makes ocr_read give up with -ECANCELED soon after *flag becomes non-zero
 * (Tesseract checks it between words), so that a thread can be stopped while it
 * reads a large frame. flag must outlive o; NULL removes it.
 */
void ocr_set_cancel(struct ocr *o, const atomic_int *flag);

/*
 * Recognises the text inside region (clipped to img; NULL: the whole image) of
 * img (BGRX, grab.h). Words and lines are in reading order. On success *res
 * holds the findings (possibly none); the caller frees them with
 * ocr_result_free. Errors: -EINVAL (empty image), -EIO (Tesseract failed) with
 * *cause, -ECANCELED (ocr_set_cancel); then *res is zeroed. A region that is empty after clipping gives no
 * words and returns 0.
 */
int ocr_read(struct ocr *o, const struct image *img, const struct image_rect *region,
             struct ocr_result *res /* OUT */, char **cause);

/*
 * ocr_read at another enlargement than the engine's: scale 1, 2 or 3 (0: the
 * engine's). A second reading of the same pixels at another size makes
 * different mistakes, which is what the scrubber's second reading relies on
 * (scrub.h). Errors as ocr_read, and -EINVAL for a scale out of range.
 */
int ocr_read_at(struct ocr *o, const struct image *img, const struct image_rect *region,
                int scale, struct ocr_result *res /* OUT */, char **cause);

/* Frees what ocr_read stored in res and zeroes it. NULL is allowed. */
void ocr_result_free(struct ocr_result *res);

/*
 * Writes a copy of len bytes of OCR text into out (at least len bytes) in which
 * the usual misreadings of screen fonts are undone, and returns its length (at
 * most len). map (NULL, or len entries) receives for every output byte the
 * offset of the input byte it came from. The fixes: ',' between two letters or
 * digits becomes '.', '?' between them '7'; a blank read into a dashed number
 * ("583 -98-1034"), between the colons of "::" or before a colon of an IPv6
 * or MAC address is removed, one after "ghp" (and the other GitHub token
 * prefixes) before 30 or more letters and digits becomes '_', and one after
 * three dotted numbers before a fourth becomes '.' ("97.105.197 54"); inside a
 * token that is mostly digits O/o/D/Q become 0, l/I/i/|/! 1, S/s 5, B 8, Z/z 2,
 * ? 7; inside a token of hex groups and colons l/I become 1 and O/o 0; an
 * IBAN-like token gets the one reading of its look-alikes that passes mod 97.
 * scrub_find (scrub.h) scans both the text and this copy.
 */
size_t ocr_normalise(const char *in, size_t len, char *out, size_t *map);

/*
 * The next token of text at or after *i: a run without blanks, [*s, *e) without
 * the punctuation after it, which is the sentence's, not the token's. *i moves
 * past the token. Returns false when no token is left. ocr_normalise fixes
 * tokens one at a time; the scrubber's lenient shapes are tokens too.
 */
bool ocr_next_token(const char *text, size_t len, size_t *i, size_t *s, size_t *e);

#endif
