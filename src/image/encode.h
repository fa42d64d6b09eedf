/*
 * encode: turns a BGRX screenshot (struct image, see grab.h) into WebP,
 * JPEG or PNG bytes, and decodes those formats back into BGRX (to extract
 * frames, e.g. `mimic frame -o out.png`, and in tests).
 *
 * One struct encode keeps what is expensive to make again: the libjpeg-turbo
 * handles (the first JPEG through a new handle costs ~26 ms, later ones ~4 ms)
 * and the output buffer, so encoding a frame allocates nothing of its own. Use
 * one struct encode per thread.
 */
#ifndef MIMIC_ENCODE_H
#define MIMIC_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"

/* The formats. Their names are also the file extensions of stored frames. */
enum encode_format {
	ENCODE_WEBP = 0,
	ENCODE_JPEG = 1,
	ENCODE_PNG = 2,
};

/* Largest image the decoders accept: bounds memory for untrusted files. */
#define ENCODE_MAX_SIDE 16384u
#define ENCODE_MAX_PIXELS (64u * 1024u * 1024u)

/* Returns "webp", "jpeg" or "png"; "?" for a value outside the enum. Never NULL. */
const char *encode_format_name(enum encode_format f);

/*
 * Parses a format name: "webp", "jpeg" (or "jpg"), "png", in any letter case.
 * Returns 0, or -EINVAL for anything else (s may be NULL) with *out untouched.
 */
int encode_format_parse(const char *s, enum encode_format *out /* OUT */);

/*
 * Recognises the format of encoded bytes from their signature. Returns 0, or
 * -EINVAL when data is none of the three formats.
 */
int encode_sniff(const void *data, size_t len, enum encode_format *out /* OUT */);

/* How to encode. */
struct encode_params {
	enum encode_format format;
	int quality;     /* webp (lossy) and jpeg: 0..100; webp lossless: effort 0..100 */
	int method;      /* webp: speed/size trade-off 0 (fastest) .. 6; png: zlib level 0..9 */
	bool lossless;   /* webp only: lossless instead of lossy */
};

/*
 * Fills *p with mimic's defaults for format f: WebP lossy q75 method 0; JPEG q80
 * (4:2:0); PNG zlib level 1.
 */
void encode_params_default(struct encode_params *p /* OUT */, enum encode_format f);

struct encode;

/* Makes an encoder. Errors: -ENOMEM (libjpeg-turbo could not start) with *cause set. */
int encode_new(struct encode **out /* OUT */, char **cause);

/* Frees the encoder and its output buffer. NULL is allowed. */
void encode_free(struct encode *e);

/*
 * Encodes img (BGRX; the X byte is ignored) with p. On success *out points to
 * *out_len bytes owned by e, valid until the next encode_image or encode_free on
 * e. Errors: -EINVAL (bad parameters or an empty or oversized image), -EIO (the
 * codec failed), with *cause set; then *out is NULL and *out_len 0.
 */
int encode_image(struct encode *e, const struct image *img, const struct encode_params *p,
		 const uint8_t **out /* OUT */, size_t *out_len /* OUT */, char **cause);

/*
 * Decodes WebP, JPEG or PNG bytes (the format is sniffed) into a new BGRX image
 * with stride width * 4 and the X byte 0xff (alpha in the file is dropped).
 * out->pixels is malloc'ed: the caller frees it with free(). fmt may be NULL.
 * Errors: -EINVAL (not one of the formats, or corrupt), -E2BIG (larger than
 * ENCODE_MAX_SIDE or ENCODE_MAX_PIXELS), with *cause set; then *out is zeroed.
 */
int encode_decode(struct encode *e, const void *data, size_t len,
		  struct image *out /* OUT */, enum encode_format *fmt /* OUT, may be NULL */,
		  char **cause);

#endif
