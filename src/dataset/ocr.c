/*
 * ocr: Tesseract through its C API, for reading the text of screenshot regions
 * (ocr.h). Converts the region to grey (dark text on light), scales it up so
 * that screen fonts are large enough for Tesseract's models, adds a white
 * margin, recognises it with automatic page segmentation and maps every word
 * box back to image coordinates. Undoes the misreadings of screen fonts in a
 * copy of the text (ocr_normalise).
 */
#include "ocr.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tesseract/capi.h>

#include "redact.h"
#include "util.h"

/* Largest region recognised at once (pixels before scaling): a 4K screen. */
#define OCR_MAX_PIXELS (3840u * 2160u)

struct ocr {
	TessBaseAPI *api;
	ETEXT_DESC *monitor;       /* carries the cancel flag into Tesseract */
	const atomic_int *cancel;
	int scale;
	uint8_t inv;       /* 255 when the region read last was inverted (light on dark) */
	uint8_t *grey;     /* the scaled grey copy of the region, reused */
	size_t grey_cap;
};

/*
 * Debian's libtesseract runs its neural network with OpenMP, which reads
 * OMP_THREAD_LIMIT only once, when the program starts. Setting the variable
 * from here would be too late, so the same limit is set through the OpenMP
 * API, looked up at run time so that a Tesseract built without OpenMP works too:
 * with max-active-levels 0 every parallel region of this thread runs on one
 * thread, whatever thread count Tesseract asks for.
 */
static void single_thread(void)
{
	void (*set_levels)(int) = NULL, (*set_threads)(int) = NULL;
	void *p;

	/* POSIX guarantees dlsym results convert to function pointers; ISO C needs memcpy. */
	p = dlsym(RTLD_DEFAULT, "omp_set_max_active_levels");
	memcpy(&set_levels, &p, sizeof(p));
	p = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
	memcpy(&set_threads, &p, sizeof(p));
	if (set_levels != NULL)
		set_levels(0);
	if (set_threads != NULL)
		set_threads(1);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int ocr_new(const struct ocr_opts *opts, struct ocr **out, char **cause)
{
	struct ocr_opts def = { 0 };
	const char *lang;
	struct ocr *o;

	if (opts == NULL)
		opts = &def;
	if (opts->scale < 0 || opts->scale > 3)
		return util_fail(cause, -EINVAL, "OCR scale %d is not 0 (automatic), 1, 2 or 3",
		                 opts->scale);
	lang = opts->lang != NULL ? opts->lang : "eng";
	single_thread();
	o = util_xcalloc(1, sizeof(*o));
	o->scale = opts->scale == 0 ? 2 : opts->scale;
	o->api = TessBaseAPICreate();
	if (o->api == NULL) {
		free(o);
		return util_fail(cause, -ENOMEM, "cannot create the OCR engine");
	}
	/* Tesseract reports missing language data on stderr; the cause says it once. */
	TessBaseAPISetVariable(o->api, "debug_file", "/dev/null");
	if (TessBaseAPIInit3(o->api, opts->datapath, lang) != 0) {
		TessBaseAPIDelete(o->api);
		free(o);
		return util_fail(cause, -ENOENT, "cannot load the OCR language data '%s' (%s): install "
		                 "tesseract-ocr-%s (scripts/install-deps)", lang,
		                 opts->datapath != NULL ? opts->datapath : "the default tessdata",
		                 lang);
	}
	TessBaseAPISetVariable(o->api, "debug_file", "/dev/null");
	/* Screens mix columns, panels and stray labels: let Tesseract find the blocks. */
	TessBaseAPISetPageSegMode(o->api, PSM_AUTO);
	*out = o;
	return 0;
}

static bool cancelled(void *arg, int words)
{
	const struct ocr *o = arg;

	(void)words;
	return o->cancel != NULL && atomic_load(o->cancel) != 0;
}

void ocr_set_cancel(struct ocr *o, const atomic_int *flag)
{
	o->cancel = flag;
	if (o->monitor == NULL && flag != NULL) {
		o->monitor = TessMonitorCreate();
		TessMonitorSetCancelFunc(o->monitor, cancelled);
		TessMonitorSetCancelThis(o->monitor, o);
	}
}

void ocr_free(struct ocr *o)
{
	if (o == NULL)
		return;
	if (o->monitor != NULL)
		TessMonitorDelete(o->monitor);
	TessBaseAPIEnd(o->api);
	TessBaseAPIDelete(o->api);
	free(o->grey);
	free(o);
}

void ocr_result_free(struct ocr_result *res)
{
	if (res == NULL)
		return;
	for (size_t i = 0; i < res->n_lines; i++)
		free(res->lines[i].text);
	free(res->lines);
	free(res->words);
	memset(res, 0, sizeof(*res));
}

/* White margin around the scaled region: Tesseract misreads glyphs that touch the edge. */
#define OCR_MARGIN 8

/*
 * Writes the region as 8-bit grey into o->grey, scaled s times
 * (bilinear) inside a white margin of OCR_MARGIN pixels, dark text on light
 * (a mostly dark region, light text on a dark background, is inverted).
 * Screen fonts are 10-16 pixels high, below the size Tesseract's models were
 * trained on; smooth 2x enlargement reads markedly better than repeated pixels,
 * and better than 3x or 4x, or than wider-than-high enlargement, for bitmap
 * terminal fonts (docs/REDACTION.md has the figures). Returns the image;
 * *pow and *poh are its size.
 */
static const uint8_t *to_grey(struct ocr *o, const struct image *img, int32_t rx, int32_t ry,
                              uint32_t rw, uint32_t rh, int s, size_t *pow, size_t *poh)
{
	size_t iw = (size_t)rw * (size_t)s, ih = (size_t)rh * (size_t)s;
	size_t ow = iw + 2 * OCR_MARGIN, oh = ih + 2 * OCR_MARGIN;
	size_t need = ow * oh + (size_t)rw * rh;
	uint64_t sum = 0;
	uint8_t *g, *dst, inv;

	if (need > o->grey_cap) {
		free(o->grey);
		o->grey = util_xmalloc(need);
		o->grey_cap = need;
	}
	/* First the region in grey at its own size, after the scaled image. */
	g = o->grey + ow * oh;
	for (uint32_t y = 0; y < rh; y++) {
		const uint8_t *src = img->pixels + (size_t)(ry + (int32_t)y) * img->stride +
		                     (size_t)rx * 4;

		for (uint32_t x = 0; x < rw; x++) {
			/* BGRX: ITU-R BT.601 luma in fixed point. */
			uint8_t v = (uint8_t)((29u * src[4 * x] + 150u * src[4 * x + 1] +
			                       77u * src[4 * x + 2]) >> 8);

			g[(size_t)y * rw + x] = v;
			sum += v;
		}
	}
	/* Mostly dark: light text on a dark background, which Tesseract reads worse. */
	inv = sum < (uint64_t)rw * rh * 128 ? 255 : 0;
	o->inv = inv;
	dst = o->grey;
	memset(dst, 255, ow * oh);
	for (size_t oy = 0; oy < ih; oy++) {
		/* Source position of the output pixel's centre, in 1/256 pixels. */
		int64_t syp = (((int64_t)oy * 2 + 1) * 256) / (2 * s) - 128;
		int64_t y0 = syp < 0 ? 0 : syp >> 8, fy = syp < 0 ? 0 : syp & 255;
		int64_t y1 = y0 + 1 < (int64_t)rh ? y0 + 1 : y0;
		const uint8_t *r0 = g + (size_t)y0 * rw, *r1 = g + (size_t)y1 * rw;
		uint8_t *row = dst + (oy + OCR_MARGIN) * ow + OCR_MARGIN;

		for (size_t ox = 0; ox < iw; ox++) {
			int64_t sxp = (((int64_t)ox * 2 + 1) * 256) / (2 * s) - 128;
			int64_t x0 = sxp < 0 ? 0 : sxp >> 8, fx = sxp < 0 ? 0 : sxp & 255;
			int64_t x1 = x0 + 1 < (int64_t)rw ? x0 + 1 : x0;
			int64_t top = r0[x0] * (256 - fx) + r0[x1] * fx;
			int64_t bot = r1[x0] * (256 - fx) + r1[x1] * fx;

			row[ox] = (uint8_t)(((top * (256 - fy) + bot * fy + 32768) >> 16) ^ inv);
		}
	}
	*pow = ow;
	*poh = oh;
	return dst;
}

/* Appends word text to the line being built; returns the word's start offset. */
static size_t line_append(char **buf, size_t *len, size_t *cap, const char *word, size_t wlen)
{
	size_t start;

	if (*len + wlen + 2 > *cap) {
		*cap = (*len + wlen + 2) * 2;
		*buf = util_xrealloc(*buf, *cap);
	}
	if (*len > 0)
		(*buf)[(*len)++] = ' ';
	start = *len;
	memcpy(*buf + *len, word, wlen);
	*len += wlen;
	(*buf)[*len] = '\0';
	return start;
}

/* Closes the line being built (if it has words) into res. */
static void line_close(struct ocr_result *res, size_t *cap_lines, char **buf, size_t *len,
                       size_t *cap, size_t first_word)
{
	struct ocr_line *l;

	if (res->n_words == first_word) {
		*len = 0;
		return;
	}
	if (res->n_lines == *cap_lines) {
		*cap_lines = *cap_lines ? *cap_lines * 2 : 16;
		res->lines = util_xrealloc(res->lines, *cap_lines * sizeof(*res->lines));
	}
	l = &res->lines[res->n_lines];
	memset(l, 0, sizeof(*l));
	l->text = util_xmalloc(*len + 1);
	memcpy(l->text, *buf, *len);
	l->text[*len] = '\0';
	l->len = *len;
	l->first_word = first_word;
	l->n_words = res->n_words - first_word;
	for (size_t i = first_word; i < res->n_words; i++)
		l->box = image_rect_union(l->box, res->words[i].box);
	res->n_lines++;
	*len = 0;
}

/* Most pixels of a word box that the colon check labels (a word 2,000 x 64). */
#define OCR_COLON_MAX_PIXELS (2000u * 64u)

/* A connected run of ink inside a word box: its bounding box. */
struct ink_blob {
	int x0, y0, x1, y1;    /* [x0, x1) x [y0, y1), word-box coordinates */
};

/*
 * Labels the ink of the word box [wx, wx + ww) x [wy, wy + wh) of the region's
 * grey copy g (rw wide, not inverted; inv as to_grey chose) into 8-connected
 * blobs. Ink is darker than halfway between the darkest and lightest pixel of
 * the box. Returns the number of blobs written to *out (malloc'ed; the caller
 * frees it), 0 when the box has no contrast or is too large to be a word.
 */
static size_t ink_blobs(const uint8_t *g, uint32_t rw, uint8_t inv, int wx, int wy, int ww, int wh,
                        struct ink_blob **out)
{
	uint8_t lo = 255, hi = 0, thr;
	uint8_t *ink;
	int *stack;
	size_t nb = 0, cap = 0, n = (size_t)ww * (size_t)wh;

	*out = NULL;
	if (ww <= 0 || wh <= 0 || n > OCR_COLON_MAX_PIXELS)
		return 0;
	for (int y = 0; y < wh; y++)
		for (int x = 0; x < ww; x++) {
			uint8_t v = g[(size_t)(wy + y) * rw + (size_t)(wx + x)] ^ inv;

			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
	if (hi - lo < 64)
		return 0;
	thr = (uint8_t)((lo + hi) / 2);
	ink = util_xmalloc(n);
	stack = util_xmalloc(n * sizeof(*stack));
	for (int y = 0; y < wh; y++)
		for (int x = 0; x < ww; x++)
			ink[(size_t)y * ww + x] = (g[(size_t)(wy + y) * rw + (size_t)(wx + x)] ^ inv) < thr;
	for (size_t start = 0; start < n; start++) {
		struct ink_blob b;
		size_t top = 0;

		if (!ink[start])
			continue;
		b = (struct ink_blob){ (int)(start % ww), (int)(start / ww), (int)(start % ww) + 1,
		                       (int)(start / ww) + 1 };
		ink[start] = 0;
		stack[top++] = (int)start;
		while (top > 0) {
			int p = stack[--top], px = p % ww, py = p / ww;

			b.x0 = px < b.x0 ? px : b.x0;
			b.y0 = py < b.y0 ? py : b.y0;
			b.x1 = px + 1 > b.x1 ? px + 1 : b.x1;
			b.y1 = py + 1 > b.y1 ? py + 1 : b.y1;
			for (int dy = -1; dy <= 1; dy++)
				for (int dx = -1; dx <= 1; dx++) {
					int qx = px + dx, qy = py + dy;

					if (qx < 0 || qy < 0 || qx >= ww || qy >= wh || !ink[qy * ww + qx])
						continue;
					ink[qy * ww + qx] = 0;
					stack[top++] = qy * ww + qx;
				}
		}
		if (nb == cap) {
			cap = cap ? cap * 2 : 32;
			*out = util_xrealloc(*out, cap * sizeof(**out));
		}
		(*out)[nb++] = b;
	}
	free(stack);
	free(ink);
	return nb;
}

/*
 * True when the ink of the symbol columns [sx0, sx1) of a word (blobs in
 * word-box coordinates, wh the word's height) is a colon: exactly two small,
 * roundish blobs of one size there, one above the other with a gap, centred on
 * the same column, and no other ink over their columns (which keeps out i, j,
 * ;, %, = and the dots of an umlaut).
 */
static bool is_colon(const struct ink_blob *b, size_t nb, int wh, int sx0, int sx1)
{
	const struct ink_blob *d[2];
	size_t nd = 0;
	int x0, x1, small = wh * 2 / 5 > 2 ? wh * 2 / 5 : 2;

	for (size_t i = 0; i < nb; i++) {
		int cx2 = b[i].x0 + b[i].x1; /* twice the centre */

		if (cx2 < 2 * sx0 || cx2 >= 2 * sx1)
			continue;
		if (nd == 2)
			return false;
		d[nd++] = &b[i];
	}
	if (nd != 2)
		return false;
	if (d[0]->y0 > d[1]->y0) {
		const struct ink_blob *t = d[0];

		d[0] = d[1];
		d[1] = t;
	}
	for (int k = 0; k < 2; k++) {
		int w = d[k]->x1 - d[k]->x0, h = d[k]->y1 - d[k]->y0;

		if (h > small || w > small || w > 2 * h + 1 || h > 2 * w + 1)
			return false;
	}
	/* Two dots of one size: the dot and stem of an i, or a semicolon, are not. */
	if (abs((d[0]->y1 - d[0]->y0) - (d[1]->y1 - d[1]->y0)) > 1 ||
	    abs((d[0]->x1 - d[0]->x0) - (d[1]->x1 - d[1]->x0)) > 1)
		return false;
	if (d[1]->y0 <= d[0]->y1 || abs((d[0]->x0 + d[0]->x1) - (d[1]->x0 + d[1]->x1)) > 3)
		return false;
	x0 = d[0]->x0 < d[1]->x0 ? d[0]->x0 : d[1]->x0;
	x1 = d[0]->x1 > d[1]->x1 ? d[0]->x1 : d[1]->x1;
	for (size_t i = 0; i < nb; i++)
		if (&b[i] != d[0] && &b[i] != d[1] && b[i].x0 < x1 && b[i].x1 > x0)
			return false;
	return true;
}

/*
 * The colons of a word that the recogniser read as something else. Small
 * bitmap fonts draw a colon as two dots a pixel or two apart, which the
 * recogniser reads as '3', 'z' or 's' ("bd3bf344" for "bd:bf:44"), and every
 * MAC and IPv6 address on such a screen is lost with it. The shape decides
 * instead: each symbol of the word whose columns hold exactly a colon's two
 * dots becomes ':'. it points at the word, whose box in the scaled image
 * (margin removed) is [l, r) x [t, b); g is the region in grey at its own size
 * (rw x rh) and s the scale. Returns the word's text rebuilt from its symbols
 * (malloc'ed), or NULL when nothing changed or the symbols do not spell the
 * word.
 */
static char *fix_colons(const struct ocr *o, const TessResultIterator *it, const char *word,
                        const uint8_t *g, uint32_t rw, uint32_t rh, int s, int l, int t, int r,
                        int b)
{
	TessResultIterator *si;
	TessPageIterator *sp;
	struct ink_blob *blobs = NULL;
	size_t nb, len = 0, seen = 0, wlen = strlen(word);
	int wx = l / s, wy = t / s, ww = (r + s - 1) / s - wx, wh = (b + s - 1) / s - wy;
	char *out = NULL;
	bool changed = false;

	if (wx + ww > (int)rw)
		ww = (int)rw - wx;
	if (wy + wh > (int)rh)
		wh = (int)rh - wy;
	nb = ink_blobs(g, rw, o->inv, wx, wy, ww, wh, &blobs);
	if (nb < 2) {
		free(blobs);
		return NULL;
	}
	si = TessResultIteratorCopy(it);
	sp = TessResultIteratorGetPageIterator(si);
	out = util_xmalloc(wlen + 1);
	do {
		char *sym = TessResultIteratorGetUTF8Text(si, RIL_SYMBOL);
		int sl, st, sr, sb;
		size_t n = sym != NULL ? strlen(sym) : 0;

		if (n == 0 || seen + n > wlen || memcmp(word + seen, sym, n) != 0) {
			TessDeleteText(sym);
			changed = false; /* the symbols are not the word: leave it */
			break;
		}
		seen += n;
		if (strcmp(sym, ":") != 0 &&
		    TessPageIteratorBoundingBox(sp, RIL_SYMBOL, &sl, &st, &sr, &sb) &&
		    is_colon(blobs, nb, wh, (sl - OCR_MARGIN) / s - wx,
		             (sr - OCR_MARGIN + s - 1) / s - wx)) {
			out[len++] = ':';
			changed = true;
		} else {
			memcpy(out + len, sym, n);
			len += n;
		}
		TessDeleteText(sym);
	} while (TessResultIteratorNext(si, RIL_SYMBOL) &&
	         !TessPageIteratorIsAtBeginningOf(sp, RIL_WORD));
	TessResultIteratorDelete(si);
	free(blobs);
	if (!changed || seen != wlen) {
		free(out);
		return NULL;
	}
	out[len] = '\0';
	return out;
}

int ocr_read(struct ocr *o, const struct image *img, const struct image_rect *region,
             struct ocr_result *res, char **cause)
{
	return ocr_read_at(o, img, region, 0, res, cause);
}

int ocr_read_at(struct ocr *o, const struct image *img, const struct image_rect *region,
                int scale, struct ocr_result *res, char **cause)
{
	int64_t x1, y1, x2, y2;
	uint32_t rw, rh;
	const uint8_t *grey;
	TessResultIterator *it = NULL;
	size_t cap_words = 0, cap_lines = 0, line_first = 0, len = 0, cap = 0;
	char *buf = NULL;
	double t0;
	size_t ow, oh;
	int s = scale == 0 ? o->scale : scale;

	memset(res, 0, sizeof(*res));
	if (s < 1 || s > 3)
		return util_fail(cause, -EINVAL, "OCR scale %d is not 1, 2 or 3", scale);
	if (img == NULL || img->pixels == NULL || img->width == 0 || img->height == 0)
		return util_fail(cause, -EINVAL, "OCR of an empty image");
	x1 = 0, y1 = 0, x2 = img->width, y2 = img->height;
	if (region != NULL) {
		x1 = region->x > 0 ? region->x : 0;
		y1 = region->y > 0 ? region->y : 0;
		if ((int64_t)region->x + region->w < x2)
			x2 = (int64_t)region->x + region->w;
		if ((int64_t)region->y + region->h < y2)
			y2 = (int64_t)region->y + region->h;
	}
	/* Tesseract needs a few pixels to find anything; tiny slivers hold no text. */
	if (x2 - x1 < 4 || y2 - y1 < 4)
		return 0;
	rw = (uint32_t)(x2 - x1);
	rh = (uint32_t)(y2 - y1);
	if ((uint64_t)rw * rh > OCR_MAX_PIXELS)
		return util_fail(cause, -EINVAL, "OCR region of %ux%u pixels is too large", rw, rh);

	single_thread();
	t0 = now_ms();
	grey = to_grey(o, img, (int32_t)x1, (int32_t)y1, rw, rh, s, &ow, &oh);
	TessBaseAPISetImage(o->api, grey, (int)ow, (int)oh, 1, (int)ow);
	TessBaseAPISetSourceResolution(o->api, 96 * s);
	if (TessBaseAPIRecognize(o->api, o->cancel != NULL ? o->monitor : NULL) != 0 ||
	    (o->cancel != NULL && atomic_load(o->cancel))) {
		TessBaseAPIClear(o->api);
		if (o->cancel != NULL && atomic_load(o->cancel))
			return util_fail(cause, -ECANCELED, "OCR was stopped");
		return util_fail(cause, -EIO, "OCR failed on a %ux%u region", rw, rh);
	}
	it = TessBaseAPIGetIterator(o->api);
	if (it != NULL) {
		TessPageIterator *pit = TessResultIteratorGetPageIterator(it);

		do {
			int l, t, r, b;
			char *text, *fixed;
			size_t wlen;
			struct ocr_word *w;

			if (TessPageIteratorIsAtBeginningOf(pit, RIL_TEXTLINE)) {
				line_close(res, &cap_lines, &buf, &len, &cap, line_first);
				line_first = res->n_words;
			}
			text = TessResultIteratorGetUTF8Text(it, RIL_WORD);
			if (text == NULL)
				continue;
			wlen = strlen(text);
			if (wlen == 0 || !TessPageIteratorBoundingBox(pit, RIL_WORD, &l, &t, &r, &b)) {
				TessDeleteText(text);
				continue;
			}
			/* Out of the margin, clipped to the region. */
			l = l > OCR_MARGIN ? l - OCR_MARGIN : 0;
			t = t > OCR_MARGIN ? t - OCR_MARGIN : 0;
			r = r - OCR_MARGIN < (int)rw * s ? r - OCR_MARGIN : (int)rw * s;
			b = b - OCR_MARGIN < (int)rh * s ? b - OCR_MARGIN : (int)rh * s;
			if (r <= l || b <= t) {
				TessDeleteText(text);
				continue;
			}
			fixed = fix_colons(o, it, text, grey + ow * oh, rw, rh, s, l, t, r, b);
			if (res->n_words == cap_words) {
				cap_words = cap_words ? cap_words * 2 : 64;
				res->words = util_xrealloc(res->words, cap_words * sizeof(*res->words));
			}
			w = &res->words[res->n_words++];
			/* Back to image coordinates, rounding outwards. */
			w->box.x = (int32_t)x1 + l / s;
			w->box.y = (int32_t)y1 + t / s;
			w->box.w = (uint32_t)((r + s - 1) / s - l / s);
			w->box.h = (uint32_t)((b + s - 1) / s - t / s);
			w->conf = TessResultIteratorConfidence(it, RIL_WORD);
			w->line = res->n_lines;
			if (fixed != NULL) {
				wlen = strlen(fixed);
				w->start = line_append(&buf, &len, &cap, fixed, wlen);
				free(fixed);
			} else {
				w->start = line_append(&buf, &len, &cap, text, wlen);
			}
			w->end = w->start + wlen;
			TessDeleteText(text);
		} while (TessResultIteratorNext(it, RIL_WORD));
		line_close(res, &cap_lines, &buf, &len, &cap, line_first);
		TessResultIteratorDelete(it);
	}
	TessBaseAPIClear(o->api);
	free(buf);
	res->ms = now_ms() - t0;
	return 0;
}

/* ---- misreadings of OCR text undone --------------------------------------- */

static bool digitlike(char c)
{
	return c != '\0' && strchr("0123456789OoDQlIi|!SsBZz?", c) != NULL;
}

static bool hexish(char c)
{
	return c != '\0' && (isxdigit((unsigned char)c) || strchr(":-lIOoQG?", c) != NULL);
}

/* The digit a look-alike stands for, or the character itself. */
static char as_digit(char c)
{
	switch (c) {
	case 'O': case 'o': case 'D': case 'Q': return '0';
	case 'l': case 'I': case 'i': case '|': case '!': return '1';
	case 'S': case 's': return '5';
	case 'B': return '8';
	case 'Z': case 'z': return '2';
	case '?': return '7';
	default: return c;
	}
}

/* True when in[i..] starts a run of at least n letters and digits. */
static bool alnum_run(const char *in, size_t len, size_t i, size_t n)
{
	size_t k = i;

	while (k < len && isalnum((unsigned char)in[k]))
		k++;
	return k - i >= n;
}

/*
 * True when out[i..len) starts a token of four digits or capitals (the next
 * group of an IBAN: "8793", or a bank code "QVPT").
 */
static bool next_group(const char *out, size_t len, size_t i)
{
	while (i < len && out[i] == ' ')
		i++;
	for (size_t k = 0; k < 4; k++)
		if (i + k >= len || !(isdigit((unsigned char)out[i + k]) ||
		                      isupper((unsigned char)out[i + k])))
			return false;
	return i + 4 == len || isspace((unsigned char)out[i + 4]);
}

/*
 * The start of an IBAN, as OCR reads it: "FRQ6 ...", "DE8? 8793 ...", "BES? 3952",
 * "1T80467042...". Fixes the country code and check digits in place.
 */
static void fix_iban_head(char *out, size_t len, size_t s, size_t i)
{
	size_t n = i - s, digits = 0;

	if (n < 4)
		return;
	for (size_t k = s + 4; k < i; k++)
		digits += isdigit((unsigned char)out[k]) != 0;
	/* Either grouped (a group of four digits follows) or long and mostly digits. */
	if (!(n == 4 && next_group(out, len, i)) && !(n >= 14 && digits * 10 >= (n - 4) * 6))
		return;
	/* A group after a group of four ("NL05 EXDB") is inside an IBAN, not its head. */
	if (n == 4 && s >= 5 && out[s - 1] == ' ' && (s == 5 || out[s - 6] == ' ') &&
	    next_group(out, s - 1, s - 5))
		return;
	if (strchr("1l|", out[s]) != NULL && isupper((unsigned char)out[s + 1]) &&
	    isdigit((unsigned char)out[s + 2]) && isdigit((unsigned char)out[s + 3]))
		out[s] = 'I';
	if (!isupper((unsigned char)out[s]) || !isupper((unsigned char)out[s + 1]))
		return;
	out[s + 2] = as_digit(out[s + 2]);
	out[s + 3] = as_digit(out[s + 3]);
	if (!isdigit((unsigned char)out[s + 2]) || !isdigit((unsigned char)out[s + 3]))
		return;
	/* In the account part an O next to a digit is a zero ("MWGFO7361..."). */
	for (size_t k = s + 4; k + 1 < i; k++)
		if (out[k] == 'O' && isdigit((unsigned char)out[k + 1]))
			out[k] = '0';
	/* A bank code of four letters ("GB90BOBT...") keeps letters: "B0BT" is BOBT. */
	if (i - s >= 18) {
		size_t letters = 0;

		for (size_t k = s + 4; k < s + 8; k++)
			letters += isupper((unsigned char)out[k]) != 0;
		if (letters >= 2 && isdigit((unsigned char)out[s + 8])) {
			for (size_t k = s + 4; k < s + 8; k++) {
				switch (out[k]) {
				case '0': out[k] = 'O'; break;
				case '1': out[k] = 'I'; break;
				case '5': out[k] = 'S'; break;
				case '8': out[k] = 'B'; break;
				case '2': out[k] = 'Z'; break;
				default: break;
				}
			}
		}
	}
}

/* True when the output token being written (since the last blank) is all hex-like. */
static bool out_token_hexish(const char *out, size_t o)
{
	size_t n = 0;

	while (o > 0 && !isspace((unsigned char)out[o - 1])) {
		if (!hexish(out[--o]))
			return false;
		n++;
	}
	return n > 0;
}

/*
 * "erinmuller86Gexample.com": an e-mail address whose '@' was read as a capital
 * G or B (the only capital in a lower-case token that ends in a domain).
 */
static void fix_email_at(char *out, size_t s, size_t e)
{
	size_t at = 0, caps = 0, dot = 0;

	for (size_t k = s; k < e; k++) {
		if (out[k] == '@')
			return;
		if (isupper((unsigned char)out[k])) {
			caps++;
			at = k;
		}
		if (out[k] == '.')
			dot = k;
	}
	if (caps != 1 || (out[at] != 'G' && out[at] != 'B') || at == s || dot < at + 2 ||
	    e - dot < 3 || !isalnum((unsigned char)out[at - 1]) ||
	    !islower((unsigned char)out[at + 1]))
		return;
	for (size_t k = dot + 1; k < e; k++)
		if (!islower((unsigned char)out[k]))
			return;
	out[at] = '@';
}

/*
 * A MAC address whose colons OCR read as look-alikes: "80;6c3faz8e:253a9",
 * "f4:6ftd53c43063e0" (small bitmap terminal fonts). Seventeen characters, six
 * hex-like pairs, and in every third place a separator or a look-alike of one,
 * at least two of them plainly not hex digits. Fixes the token in place.
 */
static void fix_mac_seps(char *out, size_t s, size_t e)
{
	size_t plain = 0;
	char sep = ':';

	if (e - s != 17)
		return;
	for (size_t k = 0; k < 17; k++) {
		char c = out[s + k];

		if (k % 3 == 2) {
			if (strchr(":;-zst.,", c) != NULL)
				plain++;
			else if (strchr("372", c) == NULL)
				return;
			if (c == '-')
				sep = '-';
		} else if (!hexish(c) || c == ':' || c == '-') {
			if (strchr("SsZz", c) == NULL)
				return;
		}
	}
	if (plain < 2)
		return;
	for (size_t k = 0; k < 17; k++) {
		char *c = &out[s + k];

		if (k % 3 == 2)
			*c = sep;
		else if (*c == 'S' || *c == 's')
			*c = '5';
		else if (*c == 'Z' || *c == 'z')
			*c = '2';
	}
}

/* What an OCR'd character of an IBAN's country code may stand for. */
static const char *iban_letter_alts(char c, char self[2])
{
	switch (c) {
	case '1': case 'l': case '|': case '!': return "ITL";
	case '7': case '?': return "T";
	case '(': case 'c': return "C";
	case 'f': return "EF";
	case '$': case '5': case 's': return "S";
	case '0': case 'o': return "O";
	case '8': return "B";
	case '6': return "G";
	case '2': case 'z': return "Z";
	default:
		if (!isupper((unsigned char)c))
			return "";
		self[0] = c;
		self[1] = '\0';
		return self;
	}
}

/* What an OCR'd character of an IBAN's check digits may stand for. */
static const char *iban_digit_alts(char c, char self[2])
{
	switch (c) {
	case 'S': case 's': return "59";
	case 'L': case 'l': case 'I': case 'i': case '|': case '!': return "1";
	case 'O': case 'o': case 'D': case 'Q': return "0";
	case 'B': return "836";
	case 'Z': case 'z': return "2";
	case 'G': return "6";
	case '?': case 'T': return "7";
	default:
		if (!isdigit((unsigned char)c))
			return "";
		self[0] = c;
		self[1] = '\0';
		return self;
	}
}

/* What a character of an IBAN's account part may stand for when OCR misread it. */
static const char *iban_body_alts(char c)
{
	switch (c) {
	case 'O': return "QD0";
	case 'Q': return "O0";
	case 'D': return "O0";
	case '0': return "OQD";
	case 'I': return "1L";
	case '1': return "IL";
	case 'L': return "1I";
	case 'S': return "5";
	case '5': return "S";
	case 'B': return "8";
	case '8': return "B";
	case 'Z': return "2";
	case '2': return "Z";
	case 'G': return "6";
	case '6': return "G";
	default: return "";
	}
}

/*
 * An IBAN whose country code or check digits OCR misread ("NLSLHEZR97...",
 * "117492358237...", "FRI3 7006 2074 ..."): tries the look-alikes of the first
 * four characters and keeps the one reading that passes the country's length
 * and the mod-97 check (redact_iban_valid); failing that, one look-alike in the
 * rest of the number (iban_body_alts). Otherwise the number is taken as read,
 * capitals and digits only. Fixes the characters it changed in place.
 */
static void fix_iban_checked(char *out, size_t len, size_t s, size_t e)
{
	char c[36], alt[4][4];
	size_t n = 0, ends[12], n_ends = 0, k = s, digits = 0, pos[36];

	if (e - s < 4 || (e - s > 4 && e - s < 15) || e - s > 34)
		return;
	/* The number: this token, or grouped: this group of four and those after it. */
	while (k < len) {
		size_t g = k == s ? k + 2 : k; /* the country code may be read as "(H", "E$" */
		bool caps = true;

		while (g < len && isalnum((unsigned char)out[g])) {
			caps = caps && !islower((unsigned char)out[g]);
			g++;
		}
		if (k == s && g != e)
			return;
		if (k > s && (g - k > 4 || g == k || !caps ||
		              (g < len && !isspace((unsigned char)out[g]) &&
		               strchr(",.;!?)", out[g]) == NULL)))
			break;
		if (n + (g - k) > 34)
			break;
		memcpy(c + n, out + k, g - k);
		for (size_t q = 0; q < g - k; q++)
			pos[n + q] = k + q;
		n += g - k;
		if (n >= 15 && n_ends < 12)
			ends[n_ends++] = n;
		if (e - s > 4 || (g - k < 4 && k > s) || g >= len || out[g] != ' ')
			break;
		k = g + 1;
	}
	if (n_ends == 0)
		return;
	for (size_t i = 4; i < n; i++) {
		if (!isdigit((unsigned char)c[i]) && !isupper((unsigned char)c[i]))
			return;
		digits += isdigit((unsigned char)c[i]) != 0;
	}
	if (digits * 10 < (n - 4) * 6)
		return;
	for (size_t i = 0; i < n_ends; i++)
		if (redact_iban_valid(c, ends[i]))
			return;
	for (size_t i = 0; i < 4; i++) {
		char self[2];

		snprintf(alt[i], sizeof(alt[i]), "%s",
		         i < 2 ? iban_letter_alts(c[i], self) : iban_digit_alts(c[i], self));
		if (alt[i][0] == '\0')
			return;
	}
	for (const char *a = alt[0]; *a; a++)
		for (const char *b = alt[1]; *b; b++)
			for (const char *d = alt[2]; *d; d++)
				for (const char *f = alt[3]; *f; f++) {
					c[0] = *a, c[1] = *b, c[2] = *d, c[3] = *f;
					for (size_t i = 0; i < n_ends; i++) {
						if (!redact_iban_valid(c, ends[i]))
							continue;
						memcpy(out + s, c, 4);
						return;
					}
				}
	/*
	 * The head as read, one look-alike in the rest ("NL37 BOMD ..." for BQMD,
	 * "QS0G" for QSOG): the first substitution that passes is taken.
	 */
	memcpy(c, out + s, 4);
	for (size_t i = 4; i < n; i++) {
		const char *alts = iban_body_alts(c[i]);
		char was = c[i];

		for (const char *a = alts; *a; a++) {
			c[i] = *a;
			for (size_t j = 0; j < n_ends; j++) {
				if (!redact_iban_valid(c, ends[j]))
					continue;
				out[pos[i]] = *a;
				return;
			}
		}
		c[i] = was;
	}
}

bool ocr_next_token(const char *text, size_t len, size_t *i, size_t *s, size_t *e)
{
	while (*i < len && isspace((unsigned char)text[*i]))
		(*i)++;
	if (*i >= len)
		return false;
	*s = *i;
	while (*i < len && !isspace((unsigned char)text[*i]))
		(*i)++;
	*e = *i;
	while (*e > *s && strchr(",.;!?)'\"", text[*e - 1]) != NULL)
		(*e)--;
	return true;
}

/* Same-length look-alike fixes inside each token (a run without blanks) of out. */
static void fix_tokens(char *out, size_t len)
{
	size_t i = 0, s, e;

	while (ocr_next_token(out, len, &i, &s, &e)) {
		size_t digits = 0, alike = 0, colons = 0, dashes = 0, hex = 0, n = e - s;

		fix_mac_seps(out, s, e);
		for (size_t k = s; k < e; k++) {
			digits += isdigit((unsigned char)out[k]) != 0;
			alike += !isdigit((unsigned char)out[k]) && digitlike(out[k]);
			colons += out[k] == ':';
			dashes += out[k] == '-';
			hex += hexish(out[k]);
		}
		if (n == 0)
			continue;
		fix_iban_checked(out, len, s, i - s == 4 ? i : e);
		fix_iban_head(out, len, s, i - s == 4 ? i : e);
		fix_email_at(out, s, e);
		/* An IBAN keeps its letters (the bank code of "GB77MWGF..."). */
		if (n >= 14 && isupper((unsigned char)out[s]) && isupper((unsigned char)out[s + 1]) &&
		    isdigit((unsigned char)out[s + 2]) && isdigit((unsigned char)out[s + 3]))
			continue;
		/* An IPv6 or MAC address: hex groups and colons (or the dashes of a MAC). */
		if ((colons >= 2 || dashes == 5) && digits > 0 && hex == n) {
			for (size_t k = s; k < e; k++) {
				if (out[k] == 'l' || out[k] == 'I')
					out[k] = '1';
				else if (out[k] == 'O' || out[k] == 'o' || out[k] == 'Q')
					out[k] = '0';
				else if (out[k] == 'G')
					out[k] = '6';
				else if (out[k] == '?')
					out[k] = '7';
			}
			continue;
		}
		if (digits < 2 || digits * 10 < n * 6 || alike == 0)
			continue;
		for (size_t k = s; k < e; k++)
			out[k] = as_digit(out[k]);
	}
}

/*
 * True when the input token around i (between blanks) looks like a MAC or IPv6
 * address: at least two colons, or five dashes, and only hex-like characters.
 */
static bool in_hex_token(const char *in, size_t len, size_t i)
{
	size_t s = i, e = i, colons = 0, dashes = 0;

	while (s > 0 && !isspace((unsigned char)in[s - 1]))
		s--;
	while (e < len && !isspace((unsigned char)in[e]))
		e++;
	while (e > s && strchr(",.;!)'\"", in[e - 1]) != NULL)
		e--;
	for (size_t k = s; k < e; k++) {
		if (!hexish(in[k]))
			return false;
		colons += in[k] == ':';
		dashes += in[k] == '-';
	}
	return colons >= 2 || dashes == 5;
}

/* Colons in the output token being written (since the last blank). */
static size_t token_colons(const char *out, size_t o)
{
	size_t n = 0;

	while (o > 0 && !isspace((unsigned char)out[o - 1]))
		n += out[--o] == ':';
	return n;
}

/*
 * Colons in the input token starting at i (up to the next blank), or 0 when
 * it holds anything but hex digits, look-alikes of them and colons.
 */
static size_t token_colons_ahead(const char *in, size_t len, size_t i)
{
	size_t n = 0;

	for (; i < len && !isspace((unsigned char)in[i]); i++) {
		if (!hexish(in[i]) && strchr(",.;!)'\"", in[i]) == NULL)
			return 0;
		n += in[i] == ':';
	}
	return n;
}

/*
 * True when the output token being written is exactly three numbers of one to
 * three digits joined by dots or commas ("97,105,197"): the head of an IPv4
 * address whose last dot was read as a blank.
 */
static bool dotted_triple(const char *out, size_t o)
{
	size_t groups = 0, digits = 0;

	while (o > 0 && !isspace((unsigned char)out[o - 1])) {
		char c = out[--o];

		if (isdigit((unsigned char)c)) {
			if (++digits > 3)
				return false;
		} else if ((c == '.' || c == ',') && digits > 0) {
			groups++;
			digits = 0;
		} else {
			return false;
		}
	}
	return digits > 0 && groups == 2;
}

/* True when in[i..] is one to three digits followed by the end of a token. */
static bool ends_octet(const char *in, size_t len, size_t i)
{
	size_t k = i;

	while (k < len && k - i < 4 && isdigit((unsigned char)in[k]))
		k++;
	return k > i && k - i <= 3 &&
	       (k == len || isspace((unsigned char)in[k]) || strchr(",;)!?'\"", in[k]) != NULL ||
	        (in[k] == '.' && (k + 1 == len || !isdigit((unsigned char)in[k + 1]))));
}

/*
 * True when in[i] starts the middle group of "123-007-3910": the output token
 * so far is three digits and a dash, and in[i..] is a digit 0 or 1 read twice,
 * one more digit, a dash and four digits ending the token. A North American
 * phone number's exchange cannot start with 0 or 1, so this is an SSN whose
 * group OCR read with a digit too many.
 */
static bool ssn_doubled(const char *out, size_t o, const char *in, size_t len, size_t i)
{
	if (o < 4 || out[o - 1] != '-' || (o > 4 && !isspace((unsigned char)out[o - 5])))
		return false;
	for (size_t k = o - 4; k < o - 1; k++)
		if (!isdigit((unsigned char)out[k]))
			return false;
	if (i + 8 > len || (in[i] != '0' && in[i] != '1') || in[i + 1] != in[i] ||
	    !isdigit((unsigned char)in[i + 2]) || in[i + 3] != '-')
		return false;
	for (size_t k = i + 4; k < i + 8; k++)
		if (!isdigit((unsigned char)in[k]))
			return false;
	return i + 8 == len || !isalnum((unsigned char)in[i + 8]);
}

/* True when the output token being written (since the last blank) holds an '@'. */
static bool token_has_at(const char *out, size_t o)
{
	while (o > 0 && !isspace((unsigned char)out[o - 1])) {
		if (out[--o] == '@')
			return true;
	}
	return false;
}

size_t ocr_normalise(const char *in, size_t len, char *out, size_t *map)
{
	size_t o = 0, gh = 0; /* gh: letters and digits still expected of a GitHub token */

	for (size_t i = 0; i < len; i++) {
		size_t at = i; /* where the output character comes from */
		char c = in[i], prev = o > 0 ? out[o - 1] : '\0';
		char prev2 = o > 1 ? out[o - 2] : '\0';
		char next = i + 1 < len ? in[i + 1] : '\0';
		char next2 = i + 2 < len ? in[i + 2] : '\0';

		if (c == ' ') {
			/* "583 -98-1034", "4928- 8584": a blank read into a dashed number. */
			if ((isdigit((unsigned char)prev) && next == '-' && isdigit((unsigned char)next2)) ||
			    (prev == '-' && isdigit((unsigned char)prev2) && isdigit((unsigned char)next)))
				continue;
			/* "244 .138", "244. 138": a blank read into a dotted number. */
			if ((isdigit((unsigned char)prev) && (next == '.' || next == ',') &&
			     isdigit((unsigned char)next2)) ||
			    (prev == '.' && isdigit((unsigned char)prev2) && isdigit((unsigned char)next)))
				continue;
			/* "2001:db8: :73ab": the two colons of "::". */
			if (prev == ':' && next == ':')
				continue;
			/*
			 * "2001:db8:e8f ::1721", "2001:db8:3d4f :a:fc", "d3:9f :73:2c:eb:e4":
			 * a blank before a colon of an IPv6 or MAC address.
			 */
			if (next == ':' && isxdigit((unsigned char)prev) && out_token_hexish(out, o) &&
			    token_colons(out, o) + token_colons_ahead(in, len, i + 1) >= 3)
				continue;
			/* "97,105,197 54": the last dot of an IPv4 address read as a blank. */
			if (dotted_triple(out, o) && ends_octet(in, len, i + 1))
				c = '.';
			/* "99: fc:1f:c0:68:1b": a blank after a colon of a MAC or IPv6 address. */
			if (prev == ':' && isxdigit((unsigned char)prev2) && isxdigit((unsigned char)next) &&
			    out_token_hexish(out, o) && in_hex_token(in, len, i + 1))
				continue;
			/* "example. com": a blank after a dot of an e-mail domain. */
			if (prev == '.' && isalpha((unsigned char)next) && token_has_at(out, o))
				continue;
			/* "ghp_2Xvx4skj2Yy1CzhMj rsQRZ...": a blank read inside the token. */
			if (gh > 0 && isalnum((unsigned char)prev) && isalnum((unsigned char)next))
				continue;
			/* "ghp DazlvkqF...": the underscore of a GitHub token read as a blank. */
			if (o >= 3 && out[o - 3] == 'g' && out[o - 2] == 'h' &&
			    strchr("pousr", out[o - 1]) != NULL &&
			    (o == 3 || !isalnum((unsigned char)out[o - 4])) && alnum_run(in, len, i + 1, 16)) {
				c = '_';
				gh = 36 + 1;
			}
		} else if (c == '_' && gh == 0 && o >= 3 && out[o - 3] == 'g' && out[o - 2] == 'h' &&
		           strchr("pousr", out[o - 1]) != NULL &&
		           (o == 3 || !isalnum((unsigned char)out[o - 4]))) {
			gh = 36 + 1;
		} else if (ssn_doubled(out, o, in, len, i)) {
			/* "123-007-3910": a digit of an SSN's group read twice. */
			continue;
		} else if (c == 'l' && (prev == '1' || next == '1') && in_hex_token(in, len, i)) {
			/* "54-bf-1la", "ec-dl1": a 1 read twice, once as l. */
			continue;
		} else if ((unsigned char)c == 0xc2 && ((unsigned char)next == 0xa2 ||
		                                        (unsigned char)next == 0xa3)) {
			/* "¢" for c; "£" for E (before a capital) or f. */
			c = (unsigned char)next == 0xa2 ? 'c' : isupper((unsigned char)next2) ? 'E' : 'f';
			i++;
		} else if ((unsigned char)c == 0xe2 && (unsigned char)next == 0x82 &&
		           (unsigned char)next2 == 0xac) {
			c = 'E'; /* "€" */
			i += 2;
		} else if (c == ',' && isalnum((unsigned char)prev) && isalnum((unsigned char)next)) {
			c = '.';
		} else if (c == '?' && isalnum((unsigned char)prev) && isalnum((unsigned char)next)) {
			c = '7';
		}
		if (gh > 0 && !(isalnum((unsigned char)c) || c == '_' || c == ' '))
			gh = 0;
		else if (gh > 0)
			gh -= c != ' ';
		if (map != NULL)
			map[o] = at;
		out[o++] = c;
	}
	fix_tokens(out, o);
	return o;
}
