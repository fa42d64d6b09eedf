/*
 * Unit tests of fleet_policy: a signed policy verifies to exactly its text and
 * serial; an unsigned one, one with a changed byte or serial, one signed with
 * another key and one with a malformed signature line are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_policy.h"

static const char text[] = "[allow]\napps = xterm\n";

static void test_sign_verify(void **state)
{
	unsigned char pk[FLEET_PK_BYTES], sk[FLEET_SK_BYTES], pk2[FLEET_PK_BYTES], sk2[FLEET_SK_BYTES];
	char *signed_ = NULL, *cause = NULL, *copy;
	const char *body;
	size_t len, blen;
	uint64_t serial = 0;
	(void)state;

	assert_int_equal(fleet_proto_init(), 0);
	fleet_proto_keypair(pk, sk);
	fleet_proto_keypair(pk2, sk2);
	assert_int_equal(fleet_policy_sign(sk, 7, text, strlen(text), &signed_, &len, &cause), 0);
	assert_int_equal(fleet_policy_verify(pk, signed_, len, &body, &blen, &serial, &cause), 0);
	assert_int_equal(blen, strlen(text));
	assert_memory_equal(body, text, blen);
	assert_int_equal(serial, 7);

	/* Unsigned. */
	assert_int_equal(fleet_policy_verify(pk, text, strlen(text), &body, &blen, &serial, &cause),
	                 -ENOKEY);
	assert_non_null(strstr(cause, "not signed"));
	free(cause);
	cause = NULL;
	/* Another key. */
	assert_int_equal(fleet_policy_verify(pk2, signed_, len, &body, &blen, &serial, &cause),
	                 -EKEYREJECTED);
	free(cause);
	cause = NULL;
	/* One byte of the text changed: "xterm" becomes "xtern". */
	copy = malloc(len);
	memcpy(copy, signed_, len);
	copy[len - 2] = 'n';
	assert_int_equal(fleet_policy_verify(pk, copy, len, &body, &blen, &serial, &cause), -EBADMSG);
	assert_non_null(strstr(cause, "changed after it was signed"));
	free(cause);
	cause = NULL;
	/* The serial changed: "7" becomes "8". */
	memcpy(copy, signed_, len);
	char *sp = strstr(copy, " 7 ");
	assert_non_null(sp);
	sp[1] = '8';
	assert_int_equal(fleet_policy_verify(pk, copy, len, &body, &blen, &serial, NULL), -EBADMSG);
	/* An extra space in the signature line. */
	memcpy(copy, signed_, len);
	sp = strstr(copy, " 7 ");
	sp[0] = '\t';
	assert_int_equal(fleet_policy_verify(pk, copy, len, &body, &blen, &serial, NULL), -EINVAL);
	/* Cut before the end of the signature line. */
	assert_int_equal(fleet_policy_verify(pk, signed_, 60, &body, &blen, &serial, NULL), -EINVAL);
	free(copy);
	free(signed_);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify),
	};
	return testenv_run(tests, NULL, NULL);
}
