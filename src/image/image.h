/*
 * image: the pixel buffer and rectangle types of every screen module (grab,
 * frames, encode, OCR, scrubbing, export), and the blanking of pixels.
 *
 * Pixel format (struct image): 4 bytes per pixel, in memory order B, G, R, X,
 * where the X byte is unspecified. Read as a host uint32_t on a little-endian
 * machine (the only kind mimic supports) a pixel is 0xXXRRGGBB.
 */
#ifndef MIMIC_IMAGE_H
#define MIMIC_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A view of a BGRX image; see the pixel format above. */
struct image {
	uint8_t *pixels;   /* first byte of the top row */
	uint32_t width;    /* pixels */
	uint32_t height;   /* pixels */
	size_t stride;     /* bytes from one row to the next, at least width * 4 */
};

/* A rectangle in image (root window) coordinates; it may reach outside the image. */
struct image_rect {
	int32_t x;
	int32_t y;
	uint32_t w;
	uint32_t h;
};

/*
 * The smallest rectangle holding a and b. An empty rectangle (w or h 0) adds
 * nothing: the union with one is the other.
 */
struct image_rect image_rect_union(struct image_rect a, struct image_rect b);

/*
 * Whether a and b overlap; when they do and out is not NULL, *out receives their
 * intersection, otherwise an empty rectangle (all zero).
 */
bool image_rect_intersect(const struct image_rect *a, const struct image_rect *b,
                         struct image_rect *out /* OUT */);

/*
 * Masks img: every pixel outside the union of the keep rectangles is set to fill
 * (a host-order 0xXXRRGGBB value, written as is). Rectangles may overlap and may
 * reach outside the image; parts outside are ignored.
 *   keep == NULL            keeps everything: img is not touched (n is ignored).
 *   keep != NULL, n == 0    keeps nothing: the whole image becomes fill.
 *   keep != NULL, n > 0     keeps the union of keep[0..n-1].
 * img must not be NULL.
 */
void image_apply_mask(struct image *img, const struct image_rect *keep, size_t n,
		     uint32_t fill);

/*
 * Sets every pixel inside any of rects[0..n-1] to fill (e.g. to cover password
 * fields). Parts outside the image are ignored. rects may be NULL when n is 0.
 */
void image_fill_rects(struct image *img, const struct image_rect *rects, size_t n,
		     uint32_t fill);

#endif
