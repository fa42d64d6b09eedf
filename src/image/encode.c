/*
 * encode: WebP (libwebp), JPEG (libjpeg-turbo) and PNG (libpng) encoders for
 * BGRX screenshots, and decoders back to BGRX. The encoder keeps its codec
 * handles and one output buffer between frames: see encode.h.
 */
#include "encode.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <turbojpeg.h>
#include <webp/decode.h>
#include <webp/encode.h>

#include "log.h"
#include "util.h"

struct encode {
	tjhandle tjc;           /* compressor, made on first use */
	tjhandle tjd;           /* decompressor, made on first use */
	unsigned char *jbuf;    /* tjAlloc'ed JPEG output, reused */
	unsigned long jcap;
	uint8_t *buf;           /* WebP and PNG output, reused */
	size_t len;
	size_t cap;
	bool oom;               /* the writer could not grow buf */
};

static const char *const names[] = {
	[ENCODE_WEBP] = "webp",
	[ENCODE_JPEG] = "jpeg",
	[ENCODE_PNG] = "png",
};

const char *encode_format_name(enum encode_format f)
{
	if ((unsigned)f >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[f];
}

int encode_format_parse(const char *s, enum encode_format *out)
{
	if (s == NULL)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i]) == 0) {
			*out = (enum encode_format)i;
			return 0;
		}
	if (strcasecmp(s, "jpg") == 0) {
		*out = ENCODE_JPEG;
		return 0;
	}
	return -EINVAL;
}

int encode_sniff(const void *data, size_t len, enum encode_format *out)
{
	const uint8_t *p = data;

	if (p == NULL)
		return -EINVAL;
	if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
		*out = ENCODE_WEBP;
	else if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
		*out = ENCODE_JPEG;
	else if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		*out = ENCODE_PNG;
	else
		return -EINVAL;
	return 0;
}

void encode_params_default(struct encode_params *p, enum encode_format f)
{
	memset(p, 0, sizeof(*p));
	p->format = f;
	switch (f) {
	case ENCODE_WEBP:
		p->quality = 75;
		p->method = 0;
		break;
	case ENCODE_JPEG:
		p->quality = 80;
		break;
	case ENCODE_PNG:
		p->method = 1;
		break;
	}
}

int encode_new(struct encode **out, char **cause)
{
	struct encode *e = util_xcalloc(1, sizeof(*e));

	*out = NULL;
	e->tjc = tjInitCompress();
	if (e->tjc == NULL) {
		int rc = util_fail(cause, -ENOMEM, "cannot start the JPEG encoder: %s",
				   tjGetErrorStr2(NULL));

		free(e);
		return rc;
	}
	*out = e;
	return 0;
}

void encode_free(struct encode *e)
{
	if (e == NULL)
		return;
	if (e->tjc != NULL)
		tjDestroy(e->tjc);
	if (e->tjd != NULL)
		tjDestroy(e->tjd);
	tjFree(e->jbuf);
	free(e->buf);
	free(e);
}

/* Appends to the output buffer; on failure sets e->oom and returns false. */
static bool buf_add(struct encode *e, const void *p, size_t n)
{
	if (e->len + n > e->cap) {
		size_t cap = e->cap ? e->cap : 256 * 1024;

		while (cap < e->len + n)
			cap *= 2;
		uint8_t *nb = realloc(e->buf, cap);

		if (nb == NULL) {
			e->oom = true;
			return false;
		}
		e->buf = nb;
		e->cap = cap;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
	return true;
}

static int webp_writer(const uint8_t *data, size_t size, const WebPPicture *pic)
{
	return buf_add(pic->custom_ptr, data, size) ? 1 : 0;
}

static const char *webp_error(WebPEncodingError err)
{
	switch (err) {
	case VP8_ENC_ERROR_OUT_OF_MEMORY:
	case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY:
		return "out of memory";
	case VP8_ENC_ERROR_BAD_DIMENSION:
		return "bad image size";
	case VP8_ENC_ERROR_PARTITION0_OVERFLOW:
	case VP8_ENC_ERROR_PARTITION_OVERFLOW:
		return "partition overflow";
	case VP8_ENC_ERROR_BAD_WRITE:
		return "cannot write output";
	case VP8_ENC_ERROR_FILE_TOO_BIG:
		return "output too big";
	default:
		return "encoder error";
	}
}

static int enc_webp(struct encode *e, const struct image *img, const struct encode_params *p,
		    char **cause)
{
	WebPConfig cfg;
	WebPPicture pic;
	int rc = 0;

	if (!WebPConfigInit(&cfg) || !WebPPictureInit(&pic))
		return util_fail(cause, -EIO, "cannot encode as webp: libwebp version mismatch");
	cfg.quality = (float)p->quality;
	cfg.method = p->method;
	cfg.lossless = p->lossless ? 1 : 0;
	if (!WebPValidateConfig(&cfg))
		return util_fail(cause, -EINVAL, "cannot encode as webp: invalid quality %d or "
				 "method %d", p->quality, p->method);
	pic.use_argb = p->lossless ? 1 : 0;
	pic.width = (int)img->width;
	pic.height = (int)img->height;
	pic.writer = webp_writer;
	pic.custom_ptr = e;
	/* BGRX import ignores the fourth byte, so no alpha plane is encoded. */
	if (!WebPPictureImportBGRX(&pic, img->pixels, (int)img->stride)) {
		rc = util_fail(cause, -ENOMEM, "cannot encode as webp: out of memory");
		goto fail;
	}
	if (!WebPEncode(&cfg, &pic)) {
		rc = util_fail(cause, e->oom ? -ENOMEM : -EIO, "cannot encode as webp: %s",
			       webp_error(pic.error_code));
		goto fail;
	}
fail:
	WebPPictureFree(&pic);
	return rc;
}

static int enc_jpeg(struct encode *e, const struct image *img, const struct encode_params *p,
		    char **cause)
{
	unsigned long need, size;

	if (p->quality < 1 || p->quality > 100)
		return util_fail(cause, -EINVAL, "cannot encode as jpeg: invalid quality %d",
				 p->quality);
	if (e->tjc == NULL) {
		e->tjc = tjInitCompress();
		if (e->tjc == NULL)
			return util_fail(cause, -ENOMEM, "cannot encode as jpeg: %s",
					 tjGetErrorStr2(NULL));
	}
	/* A buffer of tjBufSize never needs to grow, so NOREALLOC keeps it ours. */
	need = tjBufSize((int)img->width, (int)img->height, TJSAMP_420);
	if (need == (unsigned long)-1)
		return util_fail(cause, -EINVAL, "cannot encode as jpeg: image too large");
	if (need > e->jcap) {
		tjFree(e->jbuf);
		e->jcap = 0;
		e->jbuf = tjAlloc((int)need);
		if (e->jbuf == NULL)
			return util_fail(cause, -ENOMEM, "cannot encode as jpeg: out of memory");
		e->jcap = need;
	}
	size = e->jcap;
	if (tjCompress2(e->tjc, img->pixels, (int)img->width, (int)img->stride, (int)img->height,
			TJPF_BGRX, &e->jbuf, &size, TJSAMP_420, p->quality,
			TJFLAG_NOREALLOC) != 0)
		return util_fail(cause, -EIO, "cannot encode as jpeg: %s", tjGetErrorStr2(e->tjc));
	e->len = size;
	return 0;
}

/* libpng reports errors by longjmp; the message is kept for the cause. */
struct png_ctx {
	struct encode *e;
	char msg[128];
};

static void png_err(png_structp png, png_const_charp msg)
{
	struct png_ctx *c = png_get_error_ptr(png);

	snprintf(c->msg, sizeof(c->msg), "%s", msg);
	png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg)
{
	(void)png;
	log_debug("encode: libpng warning: %s", msg);
}

static void png_write_cb(png_structp png, png_bytep data, size_t n)
{
	struct png_ctx *c = png_get_io_ptr(png);

	if (!buf_add(c->e, data, n))
		png_error(png, "out of memory");
}

static void png_flush_cb(png_structp png)
{
	(void)png;
}

static int enc_png(struct encode *e, const struct image *img, const struct encode_params *p,
		   char **cause)
{
	struct png_ctx ctx = {e, ""};
	png_structp png = NULL;
	png_infop info = NULL;

	if (p->method < 0 || p->method > 9)
		return util_fail(cause, -EINVAL, "cannot encode as png: invalid zlib level %d",
				 p->method);
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_err, png_warn);
	if (png == NULL)
		return util_fail(cause, -ENOMEM, "cannot encode as png: out of memory");
	info = png_create_info_struct(png);
	if (info == NULL) {
		png_destroy_write_struct(&png, NULL);
		return util_fail(cause, -ENOMEM, "cannot encode as png: out of memory");
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return util_fail(cause, e->oom ? -ENOMEM : -EIO, "cannot encode as png: %s",
				 ctx.msg);
	}
	png_set_write_fn(png, &ctx, png_write_cb, png_flush_cb);
	png_set_compression_level(png, p->method);
	/* Screens are flat areas and text: SUB and UP catch most of it, quickly. */
	png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB | PNG_FILTER_UP);
	png_set_IHDR(png, info, img->width, img->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	/* The rows are B, G, R, X: libpng swaps to RGB and drops the filler byte. */
	png_set_bgr(png);
	png_set_filler(png, 0, PNG_FILLER_AFTER);
	for (uint32_t y = 0; y < img->height; y++)
		png_write_row(png, img->pixels + (size_t)y * img->stride);
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	return 0;
}

int encode_image(struct encode *e, const struct image *img, const struct encode_params *p,
		 const uint8_t **out, size_t *out_len, char **cause)
{
	int rc;

	*out = NULL;
	*out_len = 0;
	if (img == NULL || img->pixels == NULL || img->width == 0 || img->height == 0 ||
	    img->stride < (size_t)img->width * 4)
		return util_fail(cause, -EINVAL, "cannot encode an empty image");
	if (img->width > ENCODE_MAX_SIDE || img->height > ENCODE_MAX_SIDE)
		return util_fail(cause, -EINVAL, "cannot encode a %ux%u image: too large",
				 (unsigned)img->width, (unsigned)img->height);
	e->len = 0;
	e->oom = false;
	switch (p->format) {
	case ENCODE_WEBP:
		rc = enc_webp(e, img, p, cause);
		if (rc == 0) {
			*out = e->buf;
			*out_len = e->len;
		}
		return rc;
	case ENCODE_JPEG:
		rc = enc_jpeg(e, img, p, cause);
		if (rc == 0) {
			*out = e->jbuf;
			*out_len = e->len;
		}
		return rc;
	case ENCODE_PNG:
		rc = enc_png(e, img, p, cause);
		if (rc == 0) {
			*out = e->buf;
			*out_len = e->len;
		}
		return rc;
	}
	return util_fail(cause, -EINVAL, "cannot encode: unknown format %d", (int)p->format);
}

/* Checks decoded dimensions against the limits and allocates the pixels. */
static int dec_alloc(const char *fmt, int w, int h, struct image *out, char **cause)
{
	if (w <= 0 || h <= 0)
		return util_fail(cause, -EINVAL, "cannot decode %s: invalid size %dx%d", fmt, w, h);
	if ((unsigned)w > ENCODE_MAX_SIDE || (unsigned)h > ENCODE_MAX_SIDE ||
	    (uint64_t)w * (uint64_t)h > ENCODE_MAX_PIXELS)
		return util_fail(cause, -E2BIG, "cannot decode %s: %dx%d is larger than allowed",
				 fmt, w, h);
	out->width = (uint32_t)w;
	out->height = (uint32_t)h;
	out->stride = (size_t)w * 4;
	out->pixels = malloc(out->stride * (size_t)h);
	if (out->pixels == NULL)
		return util_fail(cause, -ENOMEM, "cannot decode %s: out of memory", fmt);
	return 0;
}

static int dec_webp(const uint8_t *d, size_t len, struct image *out, char **cause)
{
	int w = 0, h = 0, rc;

	if (!WebPGetInfo(d, len, &w, &h))
		return util_fail(cause, -EINVAL, "cannot decode webp: not a valid WebP image");
	rc = dec_alloc("webp", w, h, out, cause);
	if (rc < 0)
		return rc;
	if (WebPDecodeBGRAInto(d, len, out->pixels, out->stride * out->height,
			       (int)out->stride) == NULL)
		return util_fail(cause, -EINVAL, "cannot decode webp: corrupt image");
	return 0;
}

static int dec_jpeg(struct encode *e, const uint8_t *d, size_t len, struct image *out,
		    char **cause)
{
	int w = 0, h = 0, samp = 0, cs = 0, rc;

	if (len > (size_t)0x7fffffff)
		return util_fail(cause, -E2BIG, "cannot decode jpeg: file too large");
	if (e->tjd == NULL) {
		e->tjd = tjInitDecompress();
		if (e->tjd == NULL)
			return util_fail(cause, -ENOMEM, "cannot decode jpeg: %s",
					 tjGetErrorStr2(NULL));
	}
	if (tjDecompressHeader3(e->tjd, d, (unsigned long)len, &w, &h, &samp, &cs) != 0)
		return util_fail(cause, -EINVAL, "cannot decode jpeg: %s", tjGetErrorStr2(e->tjd));
	rc = dec_alloc("jpeg", w, h, out, cause);
	if (rc < 0)
		return rc;
	if (tjDecompress2(e->tjd, d, (unsigned long)len, out->pixels, w, (int)out->stride, h,
			  TJPF_BGRX, 0) != 0 &&
	    tjGetErrorCode(e->tjd) == TJERR_FATAL)
		return util_fail(cause, -EINVAL, "cannot decode jpeg: %s", tjGetErrorStr2(e->tjd));
	/* libjpeg-turbo leaves the X byte alone; make it the documented 0xff. */
	for (size_t i = 3; i < out->stride * out->height; i += 4)
		out->pixels[i] = 0xff;
	return 0;
}

static int dec_png(const uint8_t *d, size_t len, struct image *out, char **cause)
{
	png_image pi;
	int rc;

	memset(&pi, 0, sizeof(pi));
	pi.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&pi, d, len)) {
		rc = util_fail(cause, -EINVAL, "cannot decode png: %s", pi.message);
		png_image_free(&pi);
		return rc;
	}
	if (pi.width > ENCODE_MAX_SIDE || pi.height > ENCODE_MAX_SIDE) {
		png_image_free(&pi);
		return util_fail(cause, -E2BIG, "cannot decode png: %ux%u is larger than allowed",
				 (unsigned)pi.width, (unsigned)pi.height);
	}
	rc = dec_alloc("png", (int)pi.width, (int)pi.height, out, cause);
	if (rc < 0) {
		png_image_free(&pi);
		return rc;
	}
	pi.format = PNG_FORMAT_BGRA;
	if (!png_image_finish_read(&pi, NULL, out->pixels, (png_int_32)out->stride, NULL)) {
		rc = util_fail(cause, -EINVAL, "cannot decode png: %s", pi.message);
		png_image_free(&pi);
		return rc;
	}
	for (size_t i = 3; i < out->stride * out->height; i += 4)
		out->pixels[i] = 0xff;
	return 0;
}

int encode_decode(struct encode *e, const void *data, size_t len, struct image *out,
		  enum encode_format *fmt, char **cause)
{
	enum encode_format f;
	int rc;

	memset(out, 0, sizeof(*out));
	if (encode_sniff(data, len, &f) < 0)
		return util_fail(cause, -EINVAL, "cannot decode: not a WebP, JPEG or PNG image");
	switch (f) {
	case ENCODE_WEBP:
		rc = dec_webp(data, len, out, cause);
		break;
	case ENCODE_JPEG:
		rc = dec_jpeg(e, data, len, out, cause);
		break;
	default:
		rc = dec_png(data, len, out, cause);
		break;
	}
	if (rc < 0) {
		free(out->pixels);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	if (fmt != NULL)
		*fmt = f;
	return 0;
}
