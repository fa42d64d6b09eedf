/*
 * pseudo: pseudonymous identities for exports. A host name or a user name becomes
 * a keyed hash (BLAKE2b through libsodium's crypto_generichash) under a secret key
 * that stays on the recording machine, so a dataset can tell "the same host" from
 * "another host" without saying which host it was, and nobody without the key can
 * test a guess ("is this alice?") against the hash.
 *
 * The key is 32 random bytes in a file of mode 0600 or 0400 (by default
 * DATA_DIR/pseudonym.key, created on first use; an organisation can set its own
 * in the policy, [redaction] pseudonym_key). A file that others may read or write
 * is refused: anyone who can read the key can undo the pseudonyms by guessing. The
 * organisation's key must also belong to root or to the user (PSEUDO_OWNED).
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

/* Flags of pseudo_open. */
enum {
	PSEUDO_CREATE = 1 << 0, /* make a missing key file */
	PSEUDO_OWNED = 1 << 1,  /* the file must belong to root or the effective user */
};

/*
 * Loads the key from path; with PSEUDO_CREATE a missing file is made with a new
 * random key (mode 0600, written to a temporary name and renamed into place).
 * Errors with *cause naming the path and the fix: -ENOENT (missing, without
 * PSEUDO_CREATE), -EPERM (group or others may read or write it: chmod 600; or,
 * with PSEUDO_OWNED, it belongs to a user other than root and the effective
 * user: chown), -EACCES (not readable by this user), -EINVAL (not exactly
 * PSEUDO_KEY_LEN bytes), -EIO and other -errno for I/O. *out is freed with
 * pseudo_free.
 */
int pseudo_open(const char *path, unsigned flags, struct pseudo **out /* OUT */, char **cause);

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
