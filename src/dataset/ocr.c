/*
 * ocr: Tesseract through its C API, for reading the text of screenshot regions
 * (ocr.h). Converts the region to grey (dark text on light), scales it up so
 * that screen fonts are large enough for Tesseract's models, adds a white
 * margin, recognises it with automatic page segmentation and maps every word
 * box back to image coordinates.
 */
#include "ocr.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tesseract/capi.h>

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
