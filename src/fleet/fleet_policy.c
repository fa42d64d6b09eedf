/*
 * fleet_policy: signing and verifying distributed policy files (fleet_policy.h).
 * The signature line is parsed strictly, field by field, before the signature is
 * checked, and the signed message is built from the parsed fields so that two
 * spellings of one serial cannot both verify.
 */
#include "fleet_policy.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "testbreak.h"
#include "util.h"

#define PREFIX "# mimic-policy-signature v1 "

void fleet_policy_key_id(const unsigned char pk[FLEET_PK_BYTES], char out[FLEET_KEY_ID_SIZE])
{
	unsigned char h[8];
	crypto_generichash(h, sizeof h, pk, FLEET_PK_BYTES, NULL, 0);
	out[0] = 'k';
	fleet_proto_hex(h, sizeof h, out + 1);
}

/* The signed message for body; malloc'ed, length in *mlen. */
static unsigned char *message(const char *keyid, uint64_t serial, const char *body, size_t len,
                              size_t *mlen)
{
	char head[96];
	int hl = snprintf(head, sizeof head, "mimic-policy-v1\n%s\n%" PRIu64 "\n", keyid, serial);
	unsigned char *m = util_xmalloc((size_t)hl + len + 1);
	memcpy(m, head, (size_t)hl);
	if (len > 0)
		memcpy(m + hl, body, len);
	*mlen = (size_t)hl + len;
	return m;
}

int fleet_policy_sign(const unsigned char sk[FLEET_SK_BYTES], uint64_t serial, const char *body,
                      size_t len, char **out, size_t *outlen, char **cause)
{
	unsigned char pk[FLEET_PK_BYTES], sig[FLEET_SIG_BYTES], *m;
	char keyid[FLEET_KEY_ID_SIZE], sighex[FLEET_SIG_HEX + 1], *head;
	size_t mlen, hl;

	if (len > FLEET_POLICY_MAX - 256)
		return util_fail(cause, -E2BIG, "the policy is larger than %d bytes",
		                 FLEET_POLICY_MAX - 256);
	if (memchr(body, '\0', len) != NULL)
		return util_fail(cause, -EINVAL, "the policy holds a NUL byte: it is not text");
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	fleet_policy_key_id(pk, keyid);
	m = message(keyid, serial, body, len, &mlen);
	crypto_sign_detached(sig, NULL, m, mlen, sk);
	free(m);
	fleet_proto_hex(sig, sizeof sig, sighex);
	head = util_xasprintf(PREFIX "%s %" PRIu64 " %s\n", keyid, serial, sighex);
	hl = strlen(head);
	*out = util_xmalloc(hl + len + 1);
	memcpy(*out, head, hl);
	memcpy(*out + hl, body, len);
	(*out)[hl + len] = '\0';
	*outlen = hl + len;
	free(head);
	return 0;
}

int fleet_policy_verify(const unsigned char pk[FLEET_PK_BYTES], const char *data, size_t len,
                        const char **body, size_t *body_len, uint64_t *serial, char **cause)
{
	char line[256], keyid[FLEET_KEY_ID_SIZE], want[FLEET_KEY_ID_SIZE];
	char ser[24], sighex[FLEET_SIG_HEX + 2];
	unsigned char sig[FLEET_SIG_BYTES], *m;
	const char *nl;
	size_t ll, mlen;
	uint64_t s = 0;
	int ok;

	if (len > FLEET_POLICY_MAX)
		return util_fail(cause, -E2BIG, "the signed policy is larger than %d bytes",
		                 FLEET_POLICY_MAX);
	if (len < strlen(PREFIX) || memcmp(data, PREFIX, strlen(PREFIX)) != 0)
		return util_fail(cause, -ENOKEY, "the policy is not signed: its first line is not "
		                 "\"%s...\" (sign it with `mimic-collector policy sign`)", PREFIX);
	nl = memchr(data, '\n', len);
	ll = nl == NULL ? len : (size_t)(nl - data);
	if (nl == NULL || ll >= sizeof line)
		return util_fail(cause, -EINVAL, "the policy's signature line is malformed");
	memcpy(line, data, ll);
	line[ll] = '\0';
	if (sscanf(line + strlen(PREFIX), "%17s %23s %129s", keyid, ser, sighex) != 3 ||
	    strlen(keyid) != FLEET_KEY_ID_SIZE - 1 || keyid[0] != 'k' ||
	    fleet_proto_unhex(sighex, sig, sizeof sig) != 0)
		return util_fail(cause, -EINVAL, "the policy's signature line is malformed");
	for (const char *p = ser; *p; p++) {
		if (*p < '0' || *p > '9' || p - ser >= 19)
			return util_fail(cause, -EINVAL, "the policy's serial is not a number");
		s = s * 10 + (uint64_t)(*p - '0');
	}
	{
		/* The line must be exactly what sign writes: no extra fields or spaces. */
		char again[256];
		snprintf(again, sizeof again, PREFIX "%s %" PRIu64 " %s", keyid, s, sighex);
		if (strcmp(again, line) != 0)
			return util_fail(cause, -EINVAL, "the policy's signature line is malformed");
	}
	fleet_policy_key_id(pk, want);
	if (strcmp(want, keyid) != 0)
		return util_fail(cause, -EKEYREJECTED, "the policy is signed with key %s, not the "
		                 "organisation's key %s", keyid, want);
	*body = nl + 1;
	*body_len = len - ll - 1;
	m = message(keyid, s, *body, *body_len, &mlen);
	ok = crypto_sign_verify_detached(sig, m, mlen, pk) == 0;
	free(m);
	if (!ok && !testbreak("fleet-accept-tampered-policy"))
		return util_fail(cause, -EBADMSG, "the policy's signature does not match: the policy "
		                 "was changed after it was signed");
	*serial = s;
	return 0;
}
