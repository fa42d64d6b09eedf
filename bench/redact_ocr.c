/*
 * redact_ocr: the pixel half of the redaction benchmark (bench/redact_eval.py
 * drives it). Grabs the screen of $DISPLAY once, reads the region X Y W H with
 * mimic's OCR (ocr.h) and runs the detector on it as the scrubber does
 * (scrub_read: both readings), then prints one JSON object per line:
 *
 *   {"find":{"type":"CARD","risk":2,"x":..,"y":..,"w":..,"h":..}}   per finding
 *   {"region_ms":..,"risk":..}   the risks of the page, SCRUB_RISK_UNREAD included
 *   {"region_ms":..,"first_ms":..,"w":..,"h":..,"words":..}         the region
 *   {"band_ms":..,"first_ms":..,"w":..,"h":..}  --bands H: each band of H rows alone
 *
 * (region_ms and band_ms: OCR time of both readings; first_ms: of the first
 * reading alone.) With --out FILE the region as an export would show it (every
 * box filled) is written to FILE as a binary PPM at twice its size, for a reading
 * by another OCR program (bench/redact_eval.py: the tesseract command). With --verbose also {"line":"...","y":..} for every line of
 * the first reading (the benchmark's generated text only: never run it on a
 * real screen). One core: the OCR engine runs single-threaded (ocr.h); pin the
 * process with taskset for the figures.
 *
 * usage: redact_ocr X Y W H [--bands H] [--scale N] [--verbose] [--out FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xcb/xcb.h>

#include "grab.h"
#include "ocr.h"
#include "redact.h"
#include "scrub.h"

/* Writes region of img to path as a binary PPM enlarged 2x (nearest neighbour). */
static int write_ppm2x(const struct image *img, const struct image_rect *region, const char *path)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	fprintf(f, "P6\n%u %u\n255\n", region->w * 2, region->h * 2);
	for (uint32_t y = 0; y < region->h * 2; y++) {
		const uint8_t *row = img->pixels + (size_t)(region->y + (int32_t)(y / 2)) * img->stride;

		for (uint32_t x = 0; x < region->w * 2; x++) {
			const uint8_t *p = row + (size_t)(region->x + (int32_t)(x / 2)) * 4;
			uint8_t rgb[3] = { p[2], p[1], p[0] };

			fwrite(rgb, 1, 3, f);
		}
	}
	ok = ferror(f) == 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct image_rect region;
	struct image img;
	struct grab *g = NULL;
	struct redact *r = NULL;
	struct ocr *o = NULL;
	struct ocr_opts oo = { 0 };
	struct ocr_result res;
	struct scrub_box *boxes = NULL;
	size_t n = 0;
	unsigned risk = 0;
	double ms = 0;
	char *cause = NULL;
	int screen, band = 0, verbose = 0;
	const char *out = NULL;
	xcb_connection_t *c;

	if (argc < 5) {
		fputs("usage: redact_ocr X Y W H [--bands H] [--scale N]\n", stderr);
		return 2;
	}
	region = (struct image_rect){ atoi(argv[1]), atoi(argv[2]), (uint32_t)atoi(argv[3]),
	                             (uint32_t)atoi(argv[4]) };
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "--verbose") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--bands") == 0 && i + 1 < argc)
			band = atoi(argv[++i]);
		else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc)
			oo.scale = atoi(argv[++i]);
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
	}
	c = xcb_connect(NULL, &screen);
	if (xcb_connection_has_error(c)) {
		fputs("redact_ocr: cannot connect to the display\n", stderr);
		return 1;
	}
	if (grab_open(c, screen, 0, &g, &cause) != 0 || grab_frame(g, 0, &img, NULL, &cause) != 0 ||
	    redact_open(NULL, &r, &cause) != 0 || ocr_new(&oo, &o, &cause) != 0) {
		fprintf(stderr, "redact_ocr: %s\n", cause);
		return 1;
	}
	if (scrub_read(o, r, &img, &region, &boxes, &n, &risk, &ms, &res, &cause) != 0) {
		fprintf(stderr, "redact_ocr: %s\n", cause ? cause : "the detector failed");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		printf("{\"find\":{\"type\":\"%s\",\"risk\":%u,\"x\":%d,\"y\":%d,\"w\":%u,\"h\":%u}}\n",
		       boxes[i].type == SCRUB_TYPE_UNREAD
		           ? "UNREAD"
		           : redact_type_name((enum redact_type)boxes[i].type),
		       boxes[i].risk,
		       boxes[i].box.x, boxes[i].box.y, boxes[i].box.w, boxes[i].box.h);
	for (size_t i = 0; verbose && i < res.n_lines; i++) {
		printf("{\"y\":%d,\"line\":\"", res.lines[i].box.y + (int)res.lines[i].box.h / 2);
		for (const char *p = res.lines[i].text; *p; p++)
			printf(*p == '"' || *p == '\\' ? "\\%c" : (unsigned char)*p < 0x20 ? "?" : "%c",
			       *p);
		printf("\"}\n");
	}
	/* risk: the risks seen, with SCRUB_RISK_UNREAD (a page left partly unread). */
	printf("{\"region_ms\":%.1f,\"first_ms\":%.1f,\"w\":%u,\"h\":%u,\"words\":%zu,"
	       "\"risk\":%u}\n", ms, res.ms, region.w, region.h, res.n_words, risk);
	ocr_result_free(&res);
	if (out != NULL) {
		/* The bands below read the unfilled screen; this is the filled one's copy. */
		struct image copy = img;

		copy.pixels = malloc(img.stride * img.height);
		if (copy.pixels == NULL)
			return 1;
		memcpy(copy.pixels, img.pixels, img.stride * img.height);
		scrub_fill(&copy, boxes, n, SCRUB_FILL);
		if (write_ppm2x(&copy, &region, out) != 0) {
			fprintf(stderr, "redact_ocr: cannot write %s\n", out);
			return 1;
		}
		free(copy.pixels);
	}
	for (int y = region.y; band > 0 && y + band <= region.y + (int)region.h; y += band) {
		struct image_rect b = { region.x, y, region.w, (uint32_t)band };

		struct scrub_box *bb = NULL;
		size_t nbb = 0;

		ms = 0;
		if (scrub_read(o, r, &img, &b, &bb, &nbb, &risk, &ms, &res, &cause) != 0) {
			fprintf(stderr, "redact_ocr: %s\n", cause);
			return 1;
		}
		printf("{\"band_ms\":%.1f,\"first_ms\":%.1f,\"w\":%u,\"h\":%u}\n", ms, res.ms, b.w,
		       b.h);
		ocr_result_free(&res);
		free(bb);
	}
	free(boxes);
	ocr_free(o);
	redact_close(r);
	grab_close(g);
	xcb_disconnect(c);
	return 0;
}
