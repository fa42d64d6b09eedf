/*
 * pixels: the one way to a stored frame's pixels (docs/FRAMES.md). A frame is
 * stored as a full key frame or as a patch over the frame before it (its
 * changed rectangles stacked top to bottom in one image); pixels reads the
 * blobs of DATA_DIR/frames (unsealed with the store's vault, blob.h), decodes
 * them (encode.h) and puts a frame's whole screen back together from its key
 * frame and every patch up to it.
 *
 * The newest screen put together is kept: a frame that is a patch chain over it
 * costs only its own patches, so reading a session's frames in order decodes
 * each blob once. The recorder's frames engine writes what this module reads;
 * `mimic frame`, the scanner (scrub.h) and the export read through it.
 */
#ifndef MIMIC_PIXELS_H
#define MIMIC_PIXELS_H

#include <stdint.h>

#include "image.h"

/* Largest blob read back: a 16384x16384 PNG could not be larger in practice. */
#define PIXELS_BLOB_MAX (256u * 1024 * 1024)

/* Longest patch chain followed back to its key frame. */
#define PIXELS_CHAIN_MAX 10000

struct blob;
struct pixels;
struct store;
struct store_frame;

/*
 * Makes a reader of the frames of data_dir (copied), whose records and vault
 * come from st (not owned; it must outlive the reader). Never fails.
 */
struct pixels *pixels_open(const char *data_dir, struct store *st);

/* Closes the blob stores and frees the reader. NULL is allowed. */
void pixels_close(struct pixels *px);

/*
 * The blob store of DATA_DIR/frames for a format (its extension: "webp",
 * "jpeg", "png"), opened once with flags (blob.h; BLOB_WRITE to store) and set
 * to seal and unseal with the store's vault when the data directory has one.
 * *out stays the reader's. Errors with *cause: -ENOENT (no frames directory),
 * -EINVAL (more formats than the reader keeps), blob_open's, store_vault's.
 */
int pixels_blobs(struct pixels *px, const char *format, unsigned flags,
                 struct blob **out /* OUT */, char **cause);

/*
 * Sets *out (malloc'ed) to the path of blob hex of a format, without reading or
 * unsealing it. Returns 0, or a negative errno when there is no such store.
 */
int pixels_path(struct pixels *px, const char *format, const char *hex, char **out /* OUT */);

/*
 * Reads and decodes one blob into *img (pixels malloc'ed; the caller frees
 * them). Errors with *cause: pixels_blobs', encode_new's, blob_get's, encode_decode's.
 */
int pixels_load(struct pixels *px, const char *format, const char *hex,
                struct image *img /* OUT */, char **cause);

/*
 * Sets *out to the whole screen of frame fr of session: its key frame, then
 * every patch from there to fr, in order; from the kept screen when fr is it or
 * a patch chain over it. *out is the reader's, valid until the next call on px
 * (a caller that changes the pixels copies them first). Errors with *cause:
 * -EIO (the chain of patches does not end, a frame it is a patch over is
 * missing, the key frame has another size, a patch does not fit), and those of
 * pixels_load; the kept screen is then forgotten.
 */
int pixels_frame(struct pixels *px, int64_t session, const struct store_frame *fr,
                 const struct image **out /* OUT */, char **cause);

/*
 * Says that frame id of session shows the same pixels as frame same_as (its
 * record names the same blob and patches): when same_as is the kept screen, id
 * is from now on.
 */
void pixels_same(struct pixels *px, int64_t session, int64_t id, int64_t same_as);

/*
 * Puts the patch rectangles of frame fr, stacked top to bottom in src as the
 * frames engine stores them, back in their places in dst (the whole screen the
 * patch goes over). Returns 0, or -EIO with *cause naming the frame when a
 * rectangle does not fit dst or src (a damaged record must not write out of
 * bounds).
 */
int pixels_patch_apply(struct image *dst, const struct image *src,
                       const struct store_frame *fr, char **cause);

#endif
