/*
 * frames_diff: the frames worker's pixel helpers (frames.h): the hash that finds
 * a screen equal to the previous one, and the rectangles where two screens
 * differ, which become a patch.
 */
#include "frames.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Changes are found in 16x16 tiles: the blocks of JPEG 4:2:0 and WebP macroblocks. */
#define TILE 16
/* Changed tiles this close (in tiles) end up in one rectangle. */
#define TILE_REACH 2

uint64_t frames_pixel_hash(const struct image *img)
{
	const uint64_t k = 0x9e3779b97f4a7c15ULL;
	uint64_t h[4] = {k, k ^ 0x5bd1e995, k ^ 0xcc9e2d51, k ^ 0x1b873593};
	size_t rowlen = (size_t)img->width * 4;

	for (uint32_t y = 0; y < img->height; y++) {
		const uint8_t *p = img->pixels + (size_t)y * img->stride;
		size_t i = 0;

		/* Four independent lanes keep the multiplier busy. */
		for (; i + 32 <= rowlen; i += 32) {
			for (int j = 0; j < 4; j++) {
				uint64_t w;

				memcpy(&w, p + i + 8 * j, 8);
				h[j] = (h[j] ^ w) * k;
				h[j] ^= h[j] >> 31;
			}
		}
		for (; i + 4 <= rowlen; i += 4) {
			uint32_t w;

			memcpy(&w, p + i, 4);
			h[0] = (h[0] ^ w) * k;
			h[0] ^= h[0] >> 31;
		}
		h[1] ^= y;
	}
	uint64_t r = h[0] ^ (h[1] * 3) ^ (h[2] * 5) ^ (h[3] * 7) ^ img->width ^
	             ((uint64_t)img->height << 32);

	r ^= r >> 33;
	r *= 0xff51afd7ed558ccdULL;
	r ^= r >> 33;
	return r;
}

static const uint32_t *row32(const struct image *img, uint32_t y)
{
	return (const uint32_t *)(const void *)(img->pixels + (size_t)y * img->stride);
}

/* True when n pixels at a and b are the same colours (the X byte may differ). */
static bool pixels_equal(const uint32_t *a, const uint32_t *b, size_t n)
{
	const uint8_t *pa = (const uint8_t *)a, *pb = (const uint8_t *)b;
	const uint64_t m = 0x00ffffff00ffffffULL;
	size_t i = 0, bytes = n * 4;

	for (; i + 32 <= bytes; i += 32) {
		uint64_t x[4], y[4];

		memcpy(x, pa + i, 32);
		memcpy(y, pb + i, 32);
		if ((((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) & m) != 0)
			return false;
	}
	for (; i < bytes; i += 4) {
		uint32_t x, y;

		memcpy(&x, pa + i, 4);
		memcpy(&y, pb + i, 4);
		if (((x ^ y) & 0xffffffu) != 0)
			return false;
	}
	return true;
}

static bool overlaps(const struct image_rect *a, const struct image_rect *b)
{
	return a->x < b->x + (int32_t)b->w && b->x < a->x + (int32_t)a->w &&
	       a->y < b->y + (int32_t)b->h && b->y < a->y + (int32_t)a->h;
}

static int rect_cmp(const void *pa, const void *pb)
{
	const struct image_rect *a = pa, *b = pb;

	if (a->y != b->y)
		return a->y < b->y ? -1 : 1;
	return a->x < b->x ? -1 : a->x > b->x;
}

size_t frames_diff_rects(const struct image *a, const struct image *b,
                         struct image_rect *out, size_t max)
{
	uint32_t tw = (a->width + TILE - 1) / TILE, th = (a->height + TILE - 1) / TILE;
	size_t ntiles = (size_t)tw * th, n = 0;
	uint8_t *dirty;
	uint32_t *queue;
	struct image_rect *rects;
	size_t cap = 64;

	if (max == 0 || a->width == 0 || a->height == 0)
		return 0;
	if (a->width != b->width || a->height != b->height) {
		out[0] = (struct image_rect){0, 0, a->width, a->height};
		return 1;
	}
	dirty = util_xcalloc(ntiles, 1);
	/* Rows are compared whole first: most rows of a frame did not change. */
	for (uint32_t y = 0; y < a->height; y++) {
		const uint32_t *pa = row32(a, y), *pb = row32(b, y);
		uint8_t *d = dirty + (size_t)(y / TILE) * tw;

		if (pixels_equal(pa, pb, a->width))
			continue;
		for (uint32_t tx = 0; tx < tw; tx++) {
			uint32_t x0 = tx * TILE, w = a->width - x0 < TILE ? a->width - x0 : TILE;

			if (!d[tx] && !pixels_equal(pa + x0, pb + x0, w))
				d[tx] = 1;
		}
	}
	/* Groups of changed tiles (TILE_REACH apart at most) become one rectangle each. */
	queue = util_xmalloc(ntiles * sizeof(*queue));
	rects = util_xmalloc(cap * sizeof(*rects));
	for (size_t i = 0; i < ntiles; i++) {
		uint32_t x0, x1, y0, y1;
		size_t qh = 0, qt = 0;

		if (dirty[i] != 1)
			continue;
		dirty[i] = 2;
		queue[qt++] = (uint32_t)i;
		x0 = x1 = (uint32_t)(i % tw);
		y0 = y1 = (uint32_t)(i / tw);
		while (qh < qt) {
			uint32_t t = queue[qh++], tx = t % tw, ty = t / tw;

			if (tx < x0) x0 = tx;
			if (tx > x1) x1 = tx;
			if (ty < y0) y0 = ty;
			if (ty > y1) y1 = ty;
			for (int dy = -TILE_REACH; dy <= TILE_REACH; dy++) {
				for (int dx = -TILE_REACH; dx <= TILE_REACH; dx++) {
					int64_t nx = (int64_t)tx + dx, ny = (int64_t)ty + dy;

					if (nx < 0 || ny < 0 || nx >= tw || ny >= th)
						continue;
					size_t j = (size_t)ny * tw + (size_t)nx;
					if (dirty[j] == 1) {
						dirty[j] = 2;
						queue[qt++] = (uint32_t)j;
					}
				}
			}
		}
		if (n == cap) {
			cap *= 2;
			rects = util_xrealloc(rects, cap * sizeof(*rects));
		}
		rects[n++] = (struct image_rect){(int32_t)(x0 * TILE), (int32_t)(y0 * TILE),
		                                (x1 - x0 + 1) * TILE, (y1 - y0 + 1) * TILE};
	}
	/* Overlapping rectangles merge, until none overlap. */
	for (bool merged = true; merged;) {
		merged = false;
		for (size_t i = 0; i < n && !merged; i++) {
			for (size_t j = i + 1; j < n; j++) {
				if (!overlaps(&rects[i], &rects[j]))
					continue;
				rects[i] = image_rect_union(rects[i], rects[j]);
				rects[j] = rects[--n];
				merged = true;
				break;
			}
		}
	}
	if (n > max) {
		for (size_t i = 1; i < n; i++)
			rects[0] = image_rect_union(rects[0], rects[i]);
		n = 1;
	}
	/* Clipped to the image: the last tile column and row may be narrower. */
	for (size_t i = 0; i < n; i++) {
		if ((uint32_t)rects[i].x + rects[i].w > a->width)
			rects[i].w = a->width - (uint32_t)rects[i].x;
		if ((uint32_t)rects[i].y + rects[i].h > a->height)
			rects[i].h = a->height - (uint32_t)rects[i].y;
	}
	qsort(rects, n, sizeof(*rects), rect_cmp);
	memcpy(out, rects, n * sizeof(*rects));
	free(rects);
	free(queue);
	free(dirty);
	return n;
}
