/*
 * fleet_policy: the organisation's signature over the policy it distributes
 * (docs/FLEET.md, "Policy signing").
 *
 * The organisation signs policy.conf offline with its Ed25519 policy key
 * (`mimic-collector policy sign`); the collector only serves the signed file and
 * never holds that key. A signed policy is the policy text with one first line
 *
 *   # mimic-policy-signature v1 KEYID SERIAL SIGNATURE
 *
 * (a comment to an INI reader), KEYID "k" + 16 hex digits of the BLAKE2b-64 of
 * the public key, SERIAL a decimal number the organisation raises with each
 * policy (a device refuses a serial lower than one it has applied: no rollback to
 * an older, wider policy), SIGNATURE 128 hex digits over
 * "mimic-policy-v1\n" KEYID "\n" SERIAL "\n" followed by the policy text.
 */
#ifndef MIMIC_FLEET_POLICY_H
#define MIMIC_FLEET_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "fleet_proto.h"

/* Largest signed policy (the signature line and a policy of POLICY_MAX_BYTES). */
#define FLEET_POLICY_MAX (64 * 1024 + 256)
/* "k" + 16 hex digits + NUL. */
#define FLEET_KEY_ID_SIZE 18

/* The key id of a policy public key. */
void fleet_policy_key_id(const unsigned char pk[FLEET_PK_BYTES],
                         char out[FLEET_KEY_ID_SIZE] /* OUT */);

/*
 * Signs the policy text body (len bytes, at most FLEET_POLICY_MAX - 256) with
 * serial. *out receives the malloc'ed signed file, *outlen its length. -E2BIG
 * when the text is too long; -EINVAL when it holds a NUL byte.
 */
int fleet_policy_sign(const unsigned char sk[FLEET_SK_BYTES], uint64_t serial, const char *body,
                      size_t len, char **out /* OUT */, size_t *outlen /* OUT */, char **cause);

/*
 * Verifies a signed policy (len bytes, not NUL-terminated) against the
 * organisation's public key. On success *body points into data at the policy
 * text, *body_len is its length and *serial the serial. Errors with a cause:
 * -E2BIG larger than FLEET_POLICY_MAX, -ENOKEY unsigned (no signature line),
 * -EINVAL a malformed signature line, -EKEYREJECTED signed with another key,
 * -EBADMSG a signature that does not match (the text or serial was changed).
 */
int fleet_policy_verify(const unsigned char pk[FLEET_PK_BYTES], const char *data, size_t len,
                        const char **body /* OUT */, size_t *body_len /* OUT */,
                        uint64_t *serial /* OUT */, char **cause);

#endif
