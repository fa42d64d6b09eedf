/*
 * grab_encode: measures the pixel path on a real display: how long grabbing
 * the root window takes, and how long each encoder setting takes and how big
 * its frames are. It starts nothing: run it under an existing $DISPLAY that
 * shows real windows (e.g. Xvfb 1920x1080x24, openbox and a few xterms full of
 * text). With -o DIR it also writes, for every setting, a PNG of a decoded crop
 * so a person can judge whether the text is still readable.
 *
 *   grab_encode [-n FRAMES] [-o DIR] [-c X,Y,W,H]
 *
 * Built by meson as BUILD/bench/grab_encode; bench/run runs it under its own
 * Xvfb with xterms full of text (bench/grab_encode_screen.py). By hand:
 *   cc -std=c11 -O2 -D_GNU_SOURCE -Isrc/base -Isrc/image -Isrc/platform -Isrc/platform/x11 \
 *      bench/grab_encode.c src/platform/x11/grab.c src/image/encode.c \
 *      src/base/log.c src/base/util.c $(pkg-config --cflags --libs xcb xcb-shm xcb-xfixes \
 *      xcb-randr libwebp libturbojpeg libpng) -lm -o grab_encode
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "encode.h"
#include "grab.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v and returns the value at quantile q (0.5 median, 0.9 p90). */
static double quantile(double *v, int n, double q)
{
	int i;

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	i = (int)(q * (n - 1) + 0.5);
	return v[i];
}

struct setting {
	const char *label;
	struct encode_params p;
};

static void usage(void)
{
	fprintf(stderr, "usage: grab_encode [-n FRAMES] [-o DIR] [-c X,Y,W,H]\n");
	exit(2);
}

static int write_file(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return -errno;
	if (fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -EIO;
	}
	return fclose(f) == 0 ? 0 : -EIO;
}

/* Decodes data, cuts the crop out and writes it to DIR/crop-LABEL.png. */
static void write_crop(struct encode *e, const char *dir, const char *label, const uint8_t *data,
		       size_t len, const struct image_rect *crop)
{
	struct image dec, view;
	struct encode_params png;
	const uint8_t *out;
	size_t out_len;
	char path[4096], *cause = NULL;
	uint8_t *copy = malloc(len);

	if (copy == NULL)
		return;
	memcpy(copy, data, len);
	if (encode_decode(e, copy, len, &dec, NULL, &cause) != 0) {
		fprintf(stderr, "decode %s: %s\n", label, cause);
		free(cause);
		free(copy);
		return;
	}
	view = dec;
	if ((uint32_t)crop->x + crop->w <= dec.width && (uint32_t)crop->y + crop->h <= dec.height) {
		view.pixels = dec.pixels + (size_t)crop->y * dec.stride + (size_t)crop->x * 4;
		view.width = crop->w;
		view.height = crop->h;
	}
	encode_params_default(&png, ENCODE_PNG);
	if (encode_image(e, &view, &png, &out, &out_len, &cause) == 0) {
		snprintf(path, sizeof(path), "%s/crop-%s.png", dir, label);
		if (write_file(path, out, out_len) != 0)
			fprintf(stderr, "cannot write %s\n", path);
	} else {
		fprintf(stderr, "png %s: %s\n", label, cause);
		free(cause);
	}
	free(dec.pixels);
	free(copy);
}

int main(int argc, char **argv)
{
	int n = 50, opt, screen = 0;
	const char *outdir = NULL;
	struct image_rect crop = {0, 0, 640, 360};
	xcb_connection_t *c;
	struct grab *g = NULL;
	struct encode *e = NULL;
	struct image img, frame;
	struct screen_cursor cur;
	char *cause = NULL;
	double *t, first_jpeg;
	const uint8_t *out;
	size_t len;

	while ((opt = getopt(argc, argv, "n:o:c:")) != -1) {
		switch (opt) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'o':
			outdir = optarg;
			break;
		case 'c':
			if (sscanf(optarg, "%d,%d,%u,%u", &crop.x, &crop.y, &crop.w, &crop.h) != 4)
				usage();
			break;
		default:
			usage();
		}
	}
	if (n < 1)
		usage();
	t = calloc((size_t)n, sizeof(*t));
	c = xcb_connect(NULL, &screen);
	if (t == NULL || xcb_connection_has_error(c)) {
		fprintf(stderr, "grab_encode: cannot connect to $DISPLAY\n");
		return 1;
	}
	if (grab_open(c, screen, 0, &g, &cause) != 0 || encode_new(&e, &cause) != 0) {
		fprintf(stderr, "grab_encode: %s\n", cause);
		return 1;
	}

	/* Grabbing, with the cursor blended in as the recorder does. */
	for (int i = 0; i < n; i++) {
		double t0 = now_ms();

		if (grab_frame(g, GRAB_FRAME_CURSOR, &img, &cur, &cause) != 0) {
			fprintf(stderr, "grab_encode: %s\n", cause);
			return 1;
		}
		t[i] = now_ms() - t0;
	}
	frame = img;
	frame.pixels = malloc(img.stride * img.height);
	if (frame.pixels == NULL)
		return 1;
	memcpy(frame.pixels, img.pixels, img.stride * img.height);
	printf("screen %ux%u, %d frames, %s\n", (unsigned)img.width, (unsigned)img.height, n,
	       grab_uses_shm(g) ? "MIT-SHM" : "plain GetImage");
	printf("%-22s %9s %9s %10s\n", "step", "median ms", "p90 ms", "KB/frame");
	printf("%-22s %9.2f %9.2f %10s\n", "grab (+cursor)", quantile(t, n, 0.5),
	       quantile(t, n, 0.9), "-");

	/* The first JPEG through a new handle is slow: show it apart. */
	{
		struct encode *cold = NULL;
		struct encode_params p;
		double t0;

		encode_params_default(&p, ENCODE_JPEG);
		encode_new(&cold, NULL);
		t0 = now_ms();
		encode_image(cold, &frame, &p, &out, &len, NULL);
		first_jpeg = now_ms() - t0;
		encode_free(cold);
	}

	struct setting s[] = {
		{"webp-q50-m0", {ENCODE_WEBP, 50, 0, false}},
		{"webp-q50-m2", {ENCODE_WEBP, 50, 2, false}},
		{"webp-q75-m0", {ENCODE_WEBP, 75, 0, false}},
		{"webp-q75-m2", {ENCODE_WEBP, 75, 2, false}},
		{"webp-q90-m0", {ENCODE_WEBP, 90, 0, false}},
		{"webp-q90-m2", {ENCODE_WEBP, 90, 2, false}},
		{"webp-lossless-q0-m0", {ENCODE_WEBP, 0, 0, true}},
		{"jpeg-q70", {ENCODE_JPEG, 70, 0, false}},
		{"jpeg-q80", {ENCODE_JPEG, 80, 0, false}},
		{"jpeg-q90", {ENCODE_JPEG, 90, 0, false}},
		{"png-z1", {ENCODE_PNG, 0, 1, false}},
	};

	for (size_t k = 0; k < sizeof(s) / sizeof(s[0]); k++) {
		for (int i = 0; i < n; i++) {
			double t0 = now_ms();

			if (encode_image(e, &frame, &s[k].p, &out, &len, &cause) != 0) {
				fprintf(stderr, "grab_encode: %s: %s\n", s[k].label, cause);
				return 1;
			}
			t[i] = now_ms() - t0;
		}
		printf("%-22s %9.2f %9.2f %10.1f\n", s[k].label, quantile(t, n, 0.5),
		       quantile(t, n, 0.9), (double)len / 1024.0);
		if (outdir != NULL)
			write_crop(e, outdir, s[k].label, out, len, &crop);
	}
	printf("first jpeg-q80 with a new handle: %.2f ms\n", first_jpeg);
	if (outdir != NULL) {
		struct image view = frame;
		struct encode_params png;
		char path[4096];

		/* The original crop, to compare against. */
		view.pixels = frame.pixels + (size_t)crop.y * frame.stride + (size_t)crop.x * 4;
		view.width = crop.w;
		view.height = crop.h;
		encode_params_default(&png, ENCODE_PNG);
		if (encode_image(e, &view, &png, &out, &len, NULL) == 0) {
			snprintf(path, sizeof(path), "%s/crop-original.png", outdir);
			write_file(path, out, len);
		}
	}
	free(frame.pixels);
	free(t);
	encode_free(e);
	grab_close(g);
	xcb_disconnect(c);
	return 0;
}
