/*
 * Unit tests of fleet_proto: a signed request verifies once, and any change to
 * its method, path, body, time or signature, another key, or a time outside the
 * window is refused with the error the collector counts; malformed headers are
 * named.
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

#include "fleet_proto.h"

struct key {
	unsigned char pk[FLEET_PK_BYTES], sk[FLEET_SK_BYTES];
	char id[FLEET_DEVICE_ID_SIZE];
};

static void make_key(struct key *k)
{
	fleet_proto_keypair(k->pk, k->sk);
	fleet_proto_device_id(k->pk, k->id);
}

static int check(const struct key *k, const struct fleet_sig *s, const char *method,
                 const char *path, const char *body, int64_t now, char **cause)
{
	struct fleet_req req;
	int r = fleet_proto_parse(s->device, s->time, s->nonce, s->sig, &req, cause);
	if (r != 0)
		return r;
	return fleet_proto_verify(k->pk, &req, method, path, body, body ? strlen(body) : 0, now,
	                          cause);
}

static void test_round_trip_and_tampering(void **state)
{
	struct key k, other;
	struct fleet_sig s, s2;
	char *cause = NULL;
	(void)state;

	assert_int_equal(fleet_proto_init(), 0);
	make_key(&k);
	make_key(&other);
	assert_int_equal(strlen(k.id), 33);
	assert_int_equal(k.id[0], 'd');
	assert_string_not_equal(k.id, other.id);
	assert_int_equal(fleet_proto_sign(k.sk, k.id, "PUT", "/v1/bundles/x?offset=0", "chunk", 5,
	                                  1000000, &s), 0);
	assert_int_equal(check(&k, &s, "PUT", "/v1/bundles/x?offset=0", "chunk", 1000000, &cause), 0);
	/* Another nonce each time. */
	assert_int_equal(fleet_proto_sign(k.sk, k.id, "PUT", "/", NULL, 0, 1000000, &s2), 0);
	assert_string_not_equal(s.nonce, s2.nonce);

	assert_int_equal(check(&k, &s, "PUT", "/v1/bundles/x?offset=0", "chunK", 1000000, &cause),
	                 -EBADMSG);
	assert_non_null(strstr(cause, "signature does not match"));
	free(cause);
	cause = NULL;
	assert_int_equal(check(&k, &s, "PUT", "/v1/bundles/x?offset=1", "chunk", 1000000, NULL),
	                 -EBADMSG);
	assert_int_equal(check(&k, &s, "POST", "/v1/bundles/x?offset=0", "chunk", 1000000, NULL),
	                 -EBADMSG);
	/* Within the window either side; outside it refused. */
	assert_int_equal(check(&k, &s, "PUT", "/v1/bundles/x?offset=0", "chunk",
	                       1000000 + FLEET_WINDOW_S, NULL), 0);
	assert_int_equal(check(&k, &s, "PUT", "/v1/bundles/x?offset=0", "chunk",
	                       1000000 + FLEET_WINDOW_S + 1, &cause), -ETIME);
	assert_non_null(strstr(cause, "clock"));
	free(cause);
	cause = NULL;
	/* A changed time is a changed signature. */
	strcpy(s2.time, s.time);
	s2 = s;
	strcpy(s2.time, "1000001");
	assert_int_equal(check(&k, &s2, "PUT", "/v1/bundles/x?offset=0", "chunk", 1000000, NULL),
	                 -EBADMSG);
	/* Another device's key: the id does not match it. */
	assert_int_equal(check(&other, &s, "PUT", "/v1/bundles/x?offset=0", "chunk", 1000000,
	                       NULL), -EINVAL);
	/* A flipped signature bit. */
	s2 = s;
	s2.sig[0] = s2.sig[0] == '0' ? '1' : '0';
	assert_int_equal(check(&k, &s2, "PUT", "/v1/bundles/x?offset=0", "chunk", 1000000, NULL),
	                 -EBADMSG);
}

static void test_malformed_headers(void **state)
{
	struct fleet_req req;
	char *cause = NULL;
	char nonce[] = "00112233445566778899aabbccddeeff";
	char sig[FLEET_SIG_HEX + 1];
	(void)state;

	memset(sig, 'a', FLEET_SIG_HEX);
	sig[FLEET_SIG_HEX] = '\0';
	assert_int_equal(fleet_proto_parse(NULL, "1", nonce, sig, &req, &cause), -EINVAL);
	assert_non_null(strstr(cause, "not signed"));
	free(cause);
	cause = NULL;
	assert_int_equal(fleet_proto_parse("dXYZ", "1", nonce, sig, &req, &cause), -EINVAL);
	assert_non_null(strstr(cause, "X-Mimic-Device"));
	free(cause);
	cause = NULL;
	assert_int_equal(fleet_proto_parse("d00112233445566778899aabbccddeeff", "1x", nonce, sig,
	                                   &req, &cause), -EINVAL);
	assert_non_null(strstr(cause, "X-Mimic-Time"));
	free(cause);
	cause = NULL;
	assert_int_equal(fleet_proto_parse("d00112233445566778899aabbccddeeff", "1", "00", sig,
	                                   &req, &cause), -EINVAL);
	assert_non_null(strstr(cause, "X-Mimic-Nonce"));
	free(cause);
	cause = NULL;
	sig[5] = 'G';
	assert_int_equal(fleet_proto_parse("d00112233445566778899aabbccddeeff", "1", nonce, sig,
	                                   &req, &cause), -EINVAL);
	assert_non_null(strstr(cause, "X-Mimic-Signature"));
	free(cause);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_tampering),
		cmocka_unit_test(test_malformed_headers),
	};
	return testenv_run(tests, NULL, NULL);
}
