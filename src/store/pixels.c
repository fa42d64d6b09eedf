/*
 * pixels: stored frames put back together as whole screens (see pixels.h and
 * docs/FRAMES.md).
 */
#include "pixels.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "encode.h"
#include "store.h"
#include "util.h"

/* Formats a reader keeps a blob store for: the frames' (webp, jpeg, png) and scrubbed PNGs. */
#define PIXELS_FORMATS 4

struct pixels {
	char *dir;
	struct store *st;
	struct encode *enc;
	struct blob *blobs[PIXELS_FORMATS];
	char fmt[PIXELS_FORMATS][8];
	bool sealed[PIXELS_FORMATS];  /* the store's vault is set on blobs[i] */
	/* The newest screen put together, so that a patch chain over it is cheap. */
	bool have;
	int64_t session, id;
	struct image screen;
};

struct pixels *pixels_open(const char *data_dir, struct store *st)
{
	struct pixels *px = util_xcalloc(1, sizeof(*px));

	px->dir = util_xstrdup(data_dir);
	px->st = st;
	return px;
}

void pixels_close(struct pixels *px)
{
	if (px == NULL)
		return;
	for (int i = 0; i < PIXELS_FORMATS; i++)
		blob_close(px->blobs[i]);
	free(px->screen.pixels);
	encode_free(px->enc);
	free(px->dir);
	free(px);
}

/* The slot of the blob store for a format, opened (without its vault) when first needed. */
static int open_slot(struct pixels *px, const char *format, unsigned flags, int *slot,
                     char **cause)
{
	char *fdir, *why = NULL;
	int i, err;

	for (i = 0; i < PIXELS_FORMATS && px->blobs[i] != NULL; i++) {
		if (strcmp(px->fmt[i], format) == 0) {
			*slot = i;
			return 0;
		}
	}
	if (i == PIXELS_FORMATS || strlen(format) >= sizeof(px->fmt[0]))
		return util_fail(cause, -EINVAL, "frames in an unknown format '%s'", format);
	fdir = util_xasprintf("%s/frames", px->dir);
	err = blob_open(fdir, format, flags, &px->blobs[i], &why);
	if (err == -ENOENT)
		err = util_fail(cause, err, "the frames directory %s is missing", fdir);
	else if (err != 0)
		err = util_fail(cause, err, "%s", why != NULL ? why : "cannot open the frames");
	free(why);
	free(fdir);
	if (err != 0)
		return err;
	strcpy(px->fmt[i], format);
	px->sealed[i] = false;
	*slot = i;
	return 0;
}

int pixels_blobs(struct pixels *px, const char *format, unsigned flags, struct blob **out,
                 char **cause)
{
	struct vault *v = NULL;
	char *why = NULL;
	int i, err;

	err = open_slot(px, format, flags, &i, cause);
	if (err != 0)
		return err;
	/* Frames are sealed at rest (docs/PRIVACY.md): the store's vault opens and seals them. */
	if (!px->sealed[i]) {
		err = store_vault(px->st, &v, &why);
		if (err != 0 && err != -ENOENT) {
			err = util_fail(cause, err, "%s", why != NULL ? why : "no key for the frames");
			free(why);
			return err;
		}
		free(why);
		blob_set_vault(px->blobs[i], err == 0 ? v : NULL);
		px->sealed[i] = true;
	}
	*out = px->blobs[i];
	return 0;
}

int pixels_path(struct pixels *px, const char *format, const char *hex, char **out)
{
	int i, err;

	*out = NULL;
	err = open_slot(px, format, 0, &i, NULL);
	if (err == 0)
		err = blob_path(px->blobs[i], hex, out);
	return err;
}

int pixels_load(struct pixels *px, const char *format, const char *hex, struct image *img,
                char **cause)
{
	struct blob *b = NULL;
	void *data = NULL;
	size_t len = 0;
	int err;

	memset(img, 0, sizeof(*img));
	err = pixels_blobs(px, format, 0, &b, cause);
	/* The decoder is made when first needed: listing frames decodes none. */
	if (err == 0 && px->enc == NULL)
		err = encode_new(&px->enc, cause);
	if (err == 0)
		err = blob_get(b, hex, PIXELS_BLOB_MAX, &data, &len, cause);
	if (err == 0)
		err = encode_decode(px->enc, data, len, img, NULL, cause);
	free(data);
	return err;
}

static bool is_kept(const struct pixels *px, int64_t session, int64_t id)
{
	return px->have && px->session == session && px->id == id;
}

/*
 * Walks from fr back to its key frame, or to the kept screen: *chain (malloc'ed)
 * receives fr and the frames below it, newest first, *n how many, and *from_kept
 * whether the last of them is a patch over the kept screen (else it is the key
 * frame). The engine keeps chains short (docs/FRAMES.md).
 */
static int walk_chain(struct pixels *px, int64_t session, const struct store_frame *fr,
                      struct store_frame **chain, size_t *n, bool *from_kept, char **cause)
{
	struct store_frame *c = util_xmalloc(sizeof(*c));
	size_t k = 1, cap = 1;
	int err = 0;

	*from_kept = false;
	c[0] = *fr;
	while (c[k - 1].base_id > 0) {
		if (is_kept(px, session, c[k - 1].base_id)) {
			*from_kept = true;
			break;
		}
		if (k > PIXELS_CHAIN_MAX) {
			err = util_fail(cause, -EIO, "frame %lld: its chain of patches does not end",
			                (long long)fr->id);
			goto fail;
		}
		if (k == cap) {
			cap *= 2;
			c = util_xrealloc(c, cap * sizeof(*c));
		}
		if (store_frame_get(px->st, session, c[k - 1].base_id, &c[k], NULL) != 0) {
			err = util_fail(cause, -EIO, "frame %lld: frame %lld it is a patch over is "
			                "missing", (long long)c[k - 1].id, (long long)c[k - 1].base_id);
			goto fail;
		}
		k++;
	}
	*chain = c;
	*n = k;
	return 0;
fail:
	free(c);
	return err;
}

int pixels_frame(struct pixels *px, int64_t session, const struct store_frame *fr,
                 const struct image **out, char **cause)
{
	struct store_frame *chain = NULL;
	size_t n = 0;
	bool from_kept;
	int err;

	*out = NULL;
	if (is_kept(px, session, fr->id)) {
		*out = &px->screen;
		return 0;
	}
	err = walk_chain(px, session, fr, &chain, &n, &from_kept, cause);
	if (err != 0)
		return err;
	/* The kept screen changes from here on: it is kept again only when it is whole. */
	px->have = false;
	if (!from_kept) {
		free(px->screen.pixels);
		err = pixels_load(px, chain[n - 1].format, chain[n - 1].blob, &px->screen, cause);
		if (err != 0)
			goto fail;
		n--;
	}
	if ((int32_t)px->screen.width != fr->width || (int32_t)px->screen.height != fr->height) {
		err = util_fail(cause, -EIO, "frame %lld: its key frame has another size",
		                (long long)fr->id);
		goto fail;
	}
	/* chain[0..n) are the patches still to put on, newest first. */
	for (size_t i = n; i-- > 0;) {
		struct image patch;

		err = pixels_load(px, chain[i].format, chain[i].blob, &patch, cause);
		if (err == 0)
			err = pixels_patch_apply(&px->screen, &patch, &chain[i], cause);
		free(patch.pixels);
		if (err != 0)
			goto fail;
	}
	free(chain);
	px->have = true;
	px->session = session;
	px->id = fr->id;
	*out = &px->screen;
	return 0;
fail:
	free(chain);
	return err;
}

void pixels_same(struct pixels *px, int64_t session, int64_t id, int64_t same_as)
{
	if (is_kept(px, session, same_as))
		px->id = id;
}

int pixels_patch_apply(struct image *dst, const struct image *src,
                       const struct store_frame *fr, char **cause)
{
	uint32_t row = 0;

	for (int i = 0; i < fr->n_patch; i++) {
		const struct store_rect *r = &fr->patch[i];

		if (r->x < 0 || r->y < 0 || r->w <= 0 || r->h <= 0 ||
		    (uint64_t)r->x + (uint64_t)r->w > dst->width ||
		    (uint64_t)r->y + (uint64_t)r->h > dst->height ||
		    (uint64_t)r->w > src->width || (uint64_t)row + (uint64_t)r->h > src->height)
			return util_fail(cause, -EIO, "frame %lld: a patch does not fit the screen",
			                 (long long)fr->id);
		for (int32_t y = 0; y < r->h; y++, row++)
			memcpy(dst->pixels + (size_t)(r->y + y) * dst->stride + (size_t)r->x * 4,
			       src->pixels + (size_t)row * src->stride, (size_t)r->w * 4);
	}
	return 0;
}
