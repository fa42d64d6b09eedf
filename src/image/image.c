/*
 * image: the pixel buffer and rectangle types every screen module shares, and the
 * two ways of blanking pixels (keep only some rectangles, fill some rectangles).
 * Nothing here speaks X11: screenshots come from the platform layer, encoding and
 * OCR take these images as they are.
 */
#include "image.h"

#include <stdlib.h>

#include "util.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "image assumes a little-endian host (BGRX pixels read as 0xXXRRGGBB)"
#endif

/* A rectangle clipped to the image, as half-open pixel ranges. */
struct span {
	uint32_t x0, x1, y0, y1;
};

static bool clip(const struct image *img, const struct image_rect *r, struct span *s)
{
	int64_t x0 = r->x, y0 = r->y;
	int64_t x1 = x0 + (int64_t)r->w, y1 = y0 + (int64_t)r->h;

	if (x0 < 0)
		x0 = 0;
	if (y0 < 0)
		y0 = 0;
	if (x1 > (int64_t)img->width)
		x1 = img->width;
	if (y1 > (int64_t)img->height)
		y1 = img->height;
	if (x0 >= x1 || y0 >= y1)
		return false;
	s->x0 = (uint32_t)x0;
	s->x1 = (uint32_t)x1;
	s->y0 = (uint32_t)y0;
	s->y1 = (uint32_t)y1;
	return true;
}

static void fill_run(uint32_t *row, uint32_t a, uint32_t b, uint32_t fill)
{
	for (uint32_t x = a; x < b; x++)
		row[x] = fill;
}

static uint32_t *row_at(const struct image *img, uint32_t y)
{
	return (uint32_t *)(void *)(img->pixels + (size_t)y * img->stride);
}

static int span_cmp_x0(const void *a, const void *b)
{
	const struct span *p = a, *q = b;

	return p->x0 < q->x0 ? -1 : p->x0 > q->x0;
}

void image_apply_mask(struct image *img, const struct image_rect *keep, size_t n, uint32_t fill)
{
	struct span *sp;
	size_t m = 0;

	if (keep == NULL)
		return;
	sp = util_xmalloc((n ? n : 1) * sizeof(*sp));
	for (size_t i = 0; i < n; i++)
		if (clip(img, &keep[i], &sp[m]))
			m++;
	/* Sorted by left edge, the kept spans of each row merge in one pass. */
	qsort(sp, m, sizeof(*sp), span_cmp_x0);
	for (uint32_t y = 0; y < img->height; y++) {
		uint32_t *row = row_at(img, y);
		uint32_t done = 0;   /* pixels [0, done) are decided */

		for (size_t i = 0; i < m; i++) {
			if (y < sp[i].y0 || y >= sp[i].y1 || sp[i].x1 <= done)
				continue;
			if (sp[i].x0 > done)
				fill_run(row, done, sp[i].x0, fill);
			done = sp[i].x1;
		}
		fill_run(row, done, img->width, fill);
	}
	free(sp);
}

struct image_rect image_rect_union(struct image_rect a, struct image_rect b)
{
	int64_t x0, y0, x1, y1;

	if (a.w == 0 || a.h == 0)
		return b;
	if (b.w == 0 || b.h == 0)
		return a;
	x0 = a.x < b.x ? a.x : b.x;
	y0 = a.y < b.y ? a.y : b.y;
	x1 = (int64_t)a.x + a.w > (int64_t)b.x + b.w ? (int64_t)a.x + a.w : (int64_t)b.x + b.w;
	y1 = (int64_t)a.y + a.h > (int64_t)b.y + b.h ? (int64_t)a.y + a.h : (int64_t)b.y + b.h;
	return (struct image_rect){ (int32_t)x0, (int32_t)y0, (uint32_t)(x1 - x0),
	                           (uint32_t)(y1 - y0) };
}

bool image_rect_intersect(const struct image_rect *a, const struct image_rect *b,
                         struct image_rect *out)
{
	int64_t x0 = a->x > b->x ? a->x : b->x, y0 = a->y > b->y ? a->y : b->y;
	int64_t x1 = (int64_t)a->x + a->w < (int64_t)b->x + b->w ? (int64_t)a->x + a->w
	                                                          : (int64_t)b->x + b->w;
	int64_t y1 = (int64_t)a->y + a->h < (int64_t)b->y + b->h ? (int64_t)a->y + a->h
	                                                          : (int64_t)b->y + b->h;
	bool meet = x1 > x0 && y1 > y0;

	if (out != NULL)
		*out = meet ? (struct image_rect){ (int32_t)x0, (int32_t)y0, (uint32_t)(x1 - x0),
		                                  (uint32_t)(y1 - y0) }
		            : (struct image_rect){ 0 };
	return meet;
}

void image_fill_rects(struct image *img, const struct image_rect *rects, size_t n,
		     uint32_t fill)
{
	struct span s;

	for (size_t i = 0; i < n; i++) {
		if (!clip(img, &rects[i], &s))
			continue;
		for (uint32_t y = s.y0; y < s.y1; y++)
			fill_run(row_at(img, y), s.x0, s.x1, fill);
	}
}
