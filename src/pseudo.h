/*
 * pseudo: pseudonymous identities for exports. A host name or a user name becomes
 * a keyed hash (BLAKE2b through libsodium's crypto_generichash) under a secret key
 * that stays on the recording machine, so a dataset can tell "the same host" from
 * "another host" without saying which host it was, and nobody without the key can
 * test a guess ("is this alice?") against the hash.
 *
 * The key is 32 random bytes in a file of mode 0600 (by default
 * DATA_DIR/pseudonym.key, created on first use). A file readable by others is
 * refused: anyone who can read the key can undo the pseudonyms by guessing.
 */
#ifndef MIMIC_PSEUDO_H
#define MIMIC_PSEUDO_H

#include <stddef.h>

/* Bytes of the key. */
#define PSEUDO_KEY_LEN 32
/* Hex digits of a pseudonym (64 bits of hash), without the NUL. */
#define PSEUDO_HEX_LEN 16
/* The key file's name inside the data directory. */
#define PSEUDO_KEY_NAME "pseudonym.key"

struct pseudo;

/*
 * Loads the key from path; with create != 0 a missing file is made with a new
 * random key (mode 0600, written to a temporary name and renamed into place).
 * Errors with *cause naming the path and the fix: -ENOENT (missing, create 0),
 * -EPERM (group or others may read or write it: chmod 600), -EINVAL (not exactly
 * PSEUDO_KEY_LEN bytes), -EIO and other -errno for I/O. *out is freed with
 * pseudo_free.
 */
int pseudo_open(const char *path, int create, struct pseudo **out /* OUT */, char **cause);

/* Makes a pseudonymiser from key bytes directly (for tests and benchmarks). */
struct pseudo *pseudo_from_key(const unsigned char key[PSEUDO_KEY_LEN]);

/* Frees p (wiping the key). NULL is allowed. */
void pseudo_free(struct pseudo *p);

/*
 * Writes the pseudonym of value in domain (e.g. "host", "user": the same value in
 * two domains gets unrelated pseudonyms) as PSEUDO_HEX_LEN lowercase hex digits
 * and a NUL into out. value NULL is taken as "".
 */
void pseudo_id(const struct pseudo *p, const char *domain, const char *value,
               char out[PSEUDO_HEX_LEN + 1]);

#endif
