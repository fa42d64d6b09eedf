/*
 * fleet_bundle: what leaves a machine (docs/FLEET.md, "What leaves the machine").
 *
 * A bundle is one session's export (the WebDataset shards and the dataset card
 * that `mimic-data export` writes) sealed to the organisation's dataset public
 * key, so that neither the collector nor the storage behind it can read it; only
 * the dataset builder, which holds the private key, opens it. The file is
 *
 *   "MIMICBN1"  sealed box (crypto_box_seal) of a fresh 32-byte stream key
 *   secretstream header  chunks of 64 KiB of plaintext, each authenticated,
 *   the last tagged FINAL (a cut or reordered file does not open)
 *
 * and the plaintext is a sequence of files: 'F' u16 name length, name, u64 size,
 * bytes; then 'E'. Names are plain file names ([A-Za-z0-9._-], at most 128 bytes,
 * no leading dot). A bundle is named by the SHA-256 of its ciphertext (its
 * content address), which the collector checks when the last chunk arrives, and
 * is sent in chunks of FLEET_CHUNK_BYTES at given offsets, so an upload cut off
 * continues where it stopped.
 *
 * The manifest that announces a bundle is a small JSON object:
 * {"v":1,"bundle":HASH,"size":N,"session":"ID"}.
 */
#ifndef MIMIC_FLEET_BUNDLE_H
#define MIMIC_FLEET_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#define FLEET_BOX_PK_BYTES 32
#define FLEET_BOX_SK_BYTES 32
#define FLEET_BUNDLE_NAME_MAX 128
/* Most files in one bundle. */
#define FLEET_BUNDLE_FILES_MAX 4096
/* Longest session id in a manifest. */
#define FLEET_SESSION_MAX 64

/* A parsed manifest. */
struct fleet_manifest {
	char bundle[65];             /* SHA-256 of the ciphertext, hex */
	uint64_t size;               /* bytes of the ciphertext */
	char session[FLEET_SESSION_MAX + 1];
};

/* Makes the organisation's dataset key pair (X25519, for sealed boxes). */
void fleet_bundle_keypair(unsigned char pk[FLEET_BOX_PK_BYTES] /* OUT */,
                          unsigned char sk[FLEET_BOX_SK_BYTES] /* OUT */);

/*
 * Seals the regular files of dir (not hidden ones, in name order) into the new
 * file out (0600, O_EXCL) to the dataset public key pk. *hash receives its
 * content address, *size its length. Errors with a cause naming the file:
 * -ENOENT / -EACCES / -EIO, -EINVAL a name that may not be in a bundle, -E2BIG
 * more than FLEET_BUNDLE_FILES_MAX files or a bundle larger than max_bytes (0:
 * no cap). On error out is removed.
 */
int fleet_bundle_seal_dir(const char *dir, const char *out,
                          const unsigned char pk[FLEET_BOX_PK_BYTES], uint64_t max_bytes,
                          char hash[65] /* OUT */, uint64_t *size /* OUT */, char **cause);

/*
 * Opens the bundle in_path with the dataset key pair and writes each file it
 * holds to outdir/<prefix><name> (new files, 0600). *files receives the number of
 * files. Errors with a cause: -EBADMSG the bundle is not sealed to this key, or
 * was cut or changed; -EINVAL a malformed plaintext (a bad name, a size past the
 * end); -EEXIST an output file exists; I/O errors. On error the files written so
 * far are removed.
 */
int fleet_bundle_open(const char *in_path, const unsigned char pk[FLEET_BOX_PK_BYTES],
                      const unsigned char sk[FLEET_BOX_SK_BYTES], const char *outdir,
                      const char *prefix, int *files /* OUT */, char **cause);

/* SHA-256 (hex) and length of a file. -errno with a cause. */
int fleet_bundle_hash_file(const char *path, char hash[65] /* OUT */, uint64_t *size /* OUT */,
                           char **cause);

/* 1 when s is 64 lower-case hex digits. */
int fleet_bundle_is_hash(const char *s);

/* 1 when s may be a session id in a manifest ([A-Za-z0-9_-], 1..FLEET_SESSION_MAX). */
int fleet_bundle_is_session(const char *s);

/*
 * Parses a manifest of at most FLEET_JSON_MAX bytes (not NUL-terminated). -EINVAL
 * with a cause naming the field, -E2BIG when longer.
 */
int fleet_manifest_parse(const char *json, size_t len, struct fleet_manifest *out /* OUT */,
                         char **cause);

/* The manifest as compact JSON (malloc'ed). */
char *fleet_manifest_json(const struct fleet_manifest *m);

#endif
