/*
 * vault: the encryption key of a data directory, and sealing with it.
 *
 * Everything that shows what a person typed or saw (frame images, key text,
 * window titles, element names and values) is stored sealed with
 * XChaCha20-Poly1305 (libsodium) under one random 256-bit key per data
 * directory. The key never lives in the data directory: a copy of the directory
 * is unreadable without it. DATA_DIR/key.id (0600, not secret) names where the
 * key is and holds a check value, so that a missing or wrong key is reported in
 * one line instead of as garbage:
 *
 *   {"v":1,"id":"<32 hex>","store":"keyring"|"file","check":"<32 hex>"}
 *
 * The key is kept in the desktop keyring (Secret Service through libsecret,
 * attribute mimic-key-id = id, asked by the child mimic-keyring installed beside
 * the program, so that no mimic process loads libsecret's GLib stack) when a session bus is configured and a Secret
 * Service answers on it, else in $XDG_CONFIG_HOME/mimic/keys/<id>.key (else
 * ~/.config/mimic/keys/<id>.key), 64 hex digits, mode 0600 in a 0700
 * directory. MIMIC_KEY_STORE=file skips the keyring when a key is made.
 *
 * A sealed value is: 1 version byte (VAULT_FORMAT), a 24-byte nonce (a random
 * prefix drawn when the vault is made and a counter: no system call per seal,
 * see vault.c for why it never repeats; values with wholly random nonces, as
 * sealed before, open the same way), the ciphertext and a 16-byte tag. The caller's associated data (e.g. the event's
 * session and time) is authenticated with it, so a sealed value moved to
 * another row does not open.
 *
 * A struct vault is read-only after vault_open and may be shared by threads.
 */
#ifndef MIMIC_VAULT_H
#define MIMIC_VAULT_H

#include <stddef.h>
#include <stdint.h>

#define VAULT_KEY_BYTES 32
#define VAULT_FORMAT 1
/* Bytes a sealed value has more than its plaintext. */
#define VAULT_OVERHEAD (1 + 24 + 16)
/* The file in the data directory that names the key. */
#define VAULT_ID_FILE "key.id"

enum vault_flags {
	VAULT_CREATE = 1u << 0, /* make a key when the data directory has none yet */
};

struct vault;

/*
 * Loads the key of data_dir. Errors, each with a one-line *cause naming the
 * directory and what to do: -ENOENT no key.id and no VAULT_CREATE (nothing was
 * ever sealed there), -ENOKEY the key is missing from its store,
 * -EKEYREJECTED the key found does not match the check value (a wrong key),
 * -EACCES / -EIO the files cannot be read or written.
 */
int vault_open(const char *data_dir, unsigned flags, struct vault **out /* OUT */, char **cause);

/* A vault over a given key (tests, tools); never fails. */
struct vault *vault_from_key(const uint8_t key[VAULT_KEY_BYTES]);

/* Wipes and frees the key. NULL is allowed. */
void vault_close(struct vault *v);

/* Where the key is kept ("the desktop keyring" or the key file's path), for messages. */
const char *vault_where(const struct vault *v);

/* The sealed size of len bytes of plaintext. */
static inline size_t vault_sealed_len(size_t len)
{
	return len + VAULT_OVERHEAD;
}

/*
 * Seals len bytes of plain into out (vault_sealed_len(len) bytes), with ad
 * (adlen bytes, may be NULL when 0) authenticated alongside.
 */
void vault_seal(const struct vault *v, const void *ad, size_t adlen, const void *plain,
                size_t len, uint8_t *out);

/*
 * Opens a sealed value of len bytes into out (len - VAULT_OVERHEAD bytes) and
 * sets *outlen. -EBADMSG when it is too short, of another format, or does not
 * authenticate (wrong key, damaged, or moved to another place).
 */
int vault_unseal(const struct vault *v, const void *ad, size_t adlen, const uint8_t *in,
                 size_t len, uint8_t *out, size_t *outlen /* OUT */);

/*
 * Names data for content addressing without revealing it: 64 lowercase hex
 * digits of a BLAKE2b-256 keyed with a key derived from the vault's, so that
 * equal bytes get equal names but nobody without the key can confirm a guess.
 */
void vault_name(const struct vault *v, const void *data, size_t len, char hex[65]);

#endif
