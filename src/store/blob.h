/*
 * blob: a content-addressed store of encoded frames under one directory.
 *
 * A blob is named by the SHA-256 of its bytes, as 64 lowercase hex digits, and
 * lives in DIR/ab/cdef...(62 digits).EXT where "ab" are the first two digits
 * and EXT is the store's extension (such as "webp"). The same bytes stored twice
 * are one file, written once: identical frames (an idle screen) cost nothing.
 *
 * Encrypted blobs (blob_set_vault; what mimic records): the name is instead a
 * BLAKE2b-256 of the plaintext bytes keyed with the vault's naming key (equal
 * frames still share one file, but nobody without the key can confirm that a
 * guessed image is stored), and the file holds BLOB_SEALED_MAGIC_LEN bytes
 * "mimicen1" followed by the bytes sealed with XChaCha20-Poly1305, with the
 * name as associated data (vault.h). blob_get returns the plaintext either way.
 *
 * Files are written to a temporary name in the same directory and renamed into
 * place, so a reader never sees half a blob. There is no fsync: after a power
 * loss the newest blobs may be missing or empty, which blob_get reports as
 * corrupt (-EIO) instead of returning wrong pixels. Files are mode 0600 and
 * directories 0700: frames show what was on a person's screen.
 *
 * A struct blob holds no open files and may be used by several threads at once.
 */
#ifndef MIMIC_BLOB_H
#define MIMIC_BLOB_H

#include <stdbool.h>
#include <stddef.h>

/* Length of a blob name in hex digits, without the terminating NUL. */
#define BLOB_HEX_LEN 64

/* blob_open flags. */
enum {
	BLOB_CREATE = 1u << 0,   /* create DIR (one level, mode 0700) when it is missing */
	BLOB_WRITE = 1u << 1,    /* check now that DIR is writable, to fail early */
};

/* Length of the marker that starts a sealed blob file. */
#define BLOB_SEALED_MAGIC_LEN 8

struct blob;
struct vault;

/*
 * From now on, seals what blob_put stores and opens sealed blobs in blob_get
 * with v (not owned; it must outlive b). NULL goes back to plaintext blobs.
 * Call before the store is shared between threads.
 */
void blob_set_vault(struct blob *b, const struct vault *v);

/*
 * Opens the store in dir (copied; the caller keeps its string). ext is the file
 * extension without the dot, 1 to 15 characters of [a-z0-9], or NULL for none.
 * On success *out is a store to free with blob_close.
 * Errors, each with *cause naming dir: -ENOENT (dir missing and BLOB_CREATE not
 * given, or its parent missing), -ENOTDIR, -EACCES / -EROFS (BLOB_WRITE and not
 * writable), -EINVAL (bad ext), -EIO (anything else).
 */
int blob_open(const char *dir, const char *ext, unsigned flags, struct blob **out /* OUT */,
	      char **cause);

/* Frees the store (files stay). NULL is allowed. */
void blob_close(struct blob *b);

/* The store's directory, as given to blob_open. Valid until blob_close. */
const char *blob_dir(const struct blob *b);

/* True when hex is BLOB_HEX_LEN lowercase hex digits followed by a NUL. */
bool blob_hex_valid(const char *hex);

/*
 * Stores len bytes of data (len may be 0) and writes its name, 64 hex digits and
 * a NUL, to hex_out. When a blob of that name and size exists it is left as is.
 * Errors, each with *cause naming the directory, e.g. "cannot store frame in
 * /x/blobs: No space left on device": -ENOSPC (disk or quota full), -EACCES /
 * -EPERM / -EROFS (not writable), -ENOENT (the directory was removed), -EIO
 * (anything else). hex_out is filled even on error.
 */
int blob_put(struct blob *b, const void *data, size_t len, char hex_out[BLOB_HEX_LEN + 1],
	     char **cause);

/* The size of the file blob_put writes for len bytes (more than len when sealed). */
size_t blob_stored_len(const struct blob *b, size_t len);

/*
 * Reads blob hex into a new malloc'ed buffer *data (the caller frees it) of
 * *len bytes, refusing files larger than max bytes (the file's size, sealed or
 * not), and checks that the bytes still hash to hex. A sealed blob is
 * decrypted. Errors with *cause set: -EINVAL (hex not valid), -ENOENT (no such
 * blob), -E2BIG (larger than max), -EIO (unreadable, or corrupt: the hash does
 * not match), -ENOKEY (sealed and no vault set), -EBADMSG (does not decrypt:
 * damaged or another key). On error *data is NULL and *len 0.
 */
int blob_get(struct blob *b, const char *hex, size_t max, void **data /* OUT */,
	     size_t *len /* OUT */, char **cause);

/*
 * Sets *out to the malloc'ed path the blob hex has (or would have); the caller
 * frees it. Does not look at the disk. Errors: -EINVAL (hex not valid).
 */
int blob_path(const struct blob *b, const char *hex, char **out /* OUT */);

/*
 * Deletes blob hex (e.g. when retention drops the last frame that uses it).
 * Errors with *cause set: -EINVAL (hex not valid), -ENOENT (no such blob),
 * -EACCES / -EPERM / -EROFS, -EIO.
 */
int blob_remove(struct blob *b, const char *hex, char **cause);

#endif
