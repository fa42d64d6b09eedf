/*
 * Unit tests of fleet_policy: a signed policy verifies to exactly its text and
 * serial; an unsigned one, one with a changed byte or serial, one signed with
 * another key and one with a malformed signature line are refused. The device's
 * end (fleet_device_policy_accept, _load): only a verified policy of a serial no
 * lower than the last is stored; a refusal keeps the last one, says why in one
 * line and is audited; a stored copy changed on disk does not load.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"
#include "fleet_device.h"
#include "fleet_policy.h"
#include "paths.h"

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

/* Signs text with serial; the caller frees it. */
static char *signed_with(const unsigned char *sk, uint64_t serial, const char *body, size_t *len)
{
	char *out = NULL, *cause = NULL;

	assert_int_equal(fleet_policy_sign(sk, serial, body, strlen(body), &out, len, &cause), 0);
	return out;
}

/* Expects accept to refuse data with err and a cause holding want; returns nothing. */
static void refused(const char *dir, const struct fleet_enrolment *e, const char *data,
                    size_t len, int err, const char *want)
{
	char *cause = NULL, *error = NULL;
	uint64_t serial = 99, kept = 0;
	int64_t when = 0;

	assert_int_equal(fleet_device_policy_accept(dir, e, data, len, &serial, &cause), err);
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("cause '%s' lacks '%s'", cause, want);
	assert_null(strchr(cause, '\n'));
	assert_int_equal(serial, 0);
	fleet_device_policy_state(dir, &kept, &error, &when);
	assert_non_null(error);
	assert_string_equal(error, cause);
	free(error);
	free(cause);
}

static void test_device_accepts_only_verified(void **state)
{
	unsigned char sk[FLEET_SK_BYTES], sk2[FLEET_SK_BYTES];
	struct fleet_enrolment e = { 0 };
	char *dir = testenv_tmpdir("mimic-devpol"), *cause = NULL, *body = NULL, *data, *path;
	char *error = NULL, *audit = NULL;
	uint64_t serial = 0, kept = 0;
	int64_t when = 0;
	size_t len;
	struct stat sb;
	FILE *f;
	(void)state;

	assert_int_equal(fleet_proto_init(), 0);
	fleet_proto_keypair(e.policy_pk, sk);
	fleet_proto_keypair(e.dataset_pk, sk2); /* any bytes: not used here */
	e.has_policy_pk = 1;
	assert_int_equal(paths_ensure_dir(dir, NULL), 0);
	/* Nothing stored yet. */
	assert_int_equal(fleet_device_policy_load(dir, &e, &body, &serial, &cause), -ENOENT);

	/* Serial 7, signed with the enrolled key: stored 0600 and loaded back. */
	data = signed_with(sk, 7, text, &len);
	assert_int_equal(fleet_device_policy_accept(dir, &e, data, len, &serial, &cause), 0);
	assert_int_equal(serial, 7);
	free(data);
	path = fleet_device_path(dir, "policy.signed");
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(fleet_device_policy_load(dir, &e, &body, &serial, &cause), 0);
	assert_string_equal(body, text);
	assert_int_equal(serial, 7);
	free(body);

	/* Unsigned, another key, a changed byte, a lower serial: refused, serial 7 kept. */
	refused(dir, &e, text, strlen(text), -ENOKEY,
	        "collector policy: it is not signed; keeping serial 7");
	fleet_proto_keypair(e.dataset_pk, sk2);
	data = signed_with(sk2, 9, text, &len);
	refused(dir, &e, data, len, -EKEYREJECTED, "collector policy: signature does not verify "
	        "with the enrolled key; keeping serial 7");
	free(data);
	data = signed_with(sk, 9, text, &len);
	data[len - 2] = 'n';
	refused(dir, &e, data, len, -EBADMSG, "collector policy: signature does not verify "
	        "with the enrolled key; keeping serial 7");
	free(data);
	data = signed_with(sk, 3, "[allow]\napp = *\n", &len);
	refused(dir, &e, data, len, -ESTALE, "serial 3 is older than serial 7 already applied "
	        "(a rollback); keeping serial 7");
	free(data);
	assert_int_equal(fleet_device_policy_load(dir, &e, &body, &serial, &cause), 0);
	assert_string_equal(body, text);
	assert_int_equal(serial, 7);
	free(body);
	/* The refusals are in the audit log. */
	audit = fleet_device_path(dir, "../" AUDIT_FILE);
	f = fopen(audit, "r");
	assert_non_null(f);
	{
		char line[4096];
		int n = 0;
		while (fgets(line, sizeof line, f) != NULL)
			n += strstr(line, "policy-refused") != NULL;
		fclose(f);
		assert_int_equal(n, 4);
	}

	/* The same serial again is accepted and clears the refusal. */
	data = signed_with(sk, 7, text, &len);
	assert_int_equal(fleet_device_policy_accept(dir, &e, data, len, &serial, &cause), 0);
	free(data);
	fleet_device_policy_state(dir, &kept, &error, &when);
	assert_int_equal(kept, 7);
	assert_null(error);
	assert_true(when > 0);

	/* The stored copy changed on disk no longer loads: nothing is recorded on it. */
	f = fopen(path, "r+");
	assert_non_null(f);
	fseek(f, -2, SEEK_END);
	fputc('n', f);
	fclose(f);
	assert_int_equal(fleet_device_policy_load(dir, &e, &body, &serial, &cause), -EBADMSG);
	assert_non_null(strstr(cause, "policy.signed"));
	assert_non_null(strstr(cause, "signature does not verify with the enrolled key"));
	free(cause);
	free(path);
	free(audit);
	testenv_tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_device_accepts_only_verified),
	};
	return testenv_run(tests, NULL, NULL);
}
