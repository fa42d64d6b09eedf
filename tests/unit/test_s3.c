/*
 * Tests for s3 without a server: the presigned URL of AWS's documented example
 * (Signature Version 4, query-string authentication, "GET object": examplebucket,
 * test.txt, 2013-05-24, 86400 s) comes out byte for byte; a PUT URL differs from the
 * GET one; keys are RFC 3986-encoded; bad configurations, methods and expiries are
 * refused with a clear cause; and a request to a closed port fails naming the
 * endpoint. The requests themselves are tested against radosgw in
 * tests/integration/test_engines.py.
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

#include "s3.h"

/* 2013-05-24T00:00:00Z */
#define EXAMPLE_TIME 1369353600

static struct s3 *open_example(bool virtual_host, const char *endpoint)
{
	struct s3_config cfg = {
		.endpoint = endpoint,
		.region = "us-east-1",
		.access_key = "AKIAIOSFODNN7EXAMPLE",
		.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		.bucket = "examplebucket",
		.virtual_host = virtual_host,
		.timeout_ms = 2000,
	};
	struct s3 *s = NULL;
	char *cause = NULL;
	int rc = s3_open(&cfg, &s, &cause);
	if (rc != 0)
		fail_msg("s3_open: %s", cause ? cause : "?");
	return s;
}

static void test_presign_matches_aws_example(void **state)
{
	(void)state;
	struct s3 *s = open_example(true, "https://s3.amazonaws.com");
	char *url = NULL, *cause = NULL;
	assert_int_equal(s3_presign(s, "GET", "test.txt", EXAMPLE_TIME, 86400, &url, &cause), 0);
	assert_string_equal(url,
		"https://examplebucket.s3.amazonaws.com/test.txt"
		"?X-Amz-Algorithm=AWS4-HMAC-SHA256"
		"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
		"&X-Amz-Date=20130524T000000Z"
		"&X-Amz-Expires=86400"
		"&X-Amz-SignedHeaders=host"
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	free(url);
	s3_close(s);
}

static const char *signature_of(const char *url)
{
	const char *p = strstr(url, "X-Amz-Signature=");
	assert_non_null(p);
	return p + strlen("X-Amz-Signature=");
}

static void test_presign_put_differs_from_get(void **state)
{
	(void)state;
	struct s3 *s = open_example(true, "https://s3.amazonaws.com");
	char *get = NULL, *put = NULL, *later = NULL;
	assert_int_equal(s3_presign(s, "GET", "test.txt", EXAMPLE_TIME, 86400, &get, NULL), 0);
	assert_int_equal(s3_presign(s, "PUT", "test.txt", EXAMPLE_TIME, 86400, &put, NULL), 0);
	assert_int_equal(s3_presign(s, "PUT", "test.txt", EXAMPLE_TIME + 1, 86400, &later, NULL), 0);
	/* The method is signed: a GET URL cannot be used to PUT. */
	assert_string_not_equal(signature_of(get), signature_of(put));
	assert_string_not_equal(signature_of(put), signature_of(later));
	assert_non_null(strstr(later, "X-Amz-Date=20130524T000001Z"));
	free(get);
	free(put);
	free(later);
	s3_close(s);
}

static void test_path_style_and_key_encoding(void **state)
{
	(void)state;
	struct s3 *s = open_example(false, "http://127.0.0.1:7480/");
	char *url = NULL;
	assert_int_equal(s3_presign(s, "PUT", "bundles/ab cd/é+x.bin", EXAMPLE_TIME, 600, &url,
	                            NULL), 0);
	const char *want = "http://127.0.0.1:7480/examplebucket/bundles/ab%20cd/%C3%A9%2Bx.bin?"
	                   "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE"
	                   "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
	                   "&X-Amz-Expires=600&X-Amz-SignedHeaders=host&X-Amz-Signature=";
	assert_memory_equal(url, want, strlen(want));
	assert_int_equal(strlen(signature_of(url)), 64);
	free(url);
	char *obj = s3_object_url(s, "a/b c");
	assert_string_equal(obj, "http://127.0.0.1:7480/examplebucket/a/b%20c");
	free(obj);
	s3_close(s);

	/* A default port is not part of the host that is signed (libcurl leaves it out). */
	s = open_example(false, "http://example.com:80");
	obj = s3_object_url(s, "k");
	assert_string_equal(obj, "http://example.com/examplebucket/k");
	free(obj);
	s3_close(s);
}

static void test_bad_input_refused(void **state)
{
	(void)state;
	struct s3_config cfg = { .endpoint = "ftp://x", .access_key = "a", .secret_key = "b",
	                         .bucket = "c" };
	struct s3 *s = NULL;
	char *cause = NULL;
	assert_int_equal(s3_open(&cfg, &s, &cause), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(cause, "ftp://x"));
	free(cause);
	cause = NULL;
	cfg.endpoint = "http://host/path";
	assert_int_equal(s3_open(&cfg, &s, &cause), -EINVAL);
	assert_non_null(strstr(cause, "no path"));
	free(cause);
	cause = NULL;
	cfg.endpoint = "http://host";
	cfg.bucket = NULL;
	assert_int_equal(s3_open(&cfg, &s, &cause), -EINVAL);
	free(cause);
	cause = NULL;

	s = open_example(false, "http://127.0.0.1:7480");
	char *url = NULL;
	assert_int_equal(s3_presign(s, "DELETE", "k", EXAMPLE_TIME, 60, &url, &cause), -EINVAL);
	assert_null(url);
	assert_non_null(strstr(cause, "PUT or GET"));
	free(cause);
	cause = NULL;
	assert_int_equal(s3_presign(s, "PUT", "k", EXAMPLE_TIME, 604801, &url, &cause), -EINVAL);
	assert_non_null(strstr(cause, "604800"));
	free(cause);
	cause = NULL;
	assert_int_equal(s3_presign(s, "PUT", "", EXAMPLE_TIME, 60, &url, &cause), -EINVAL);
	free(cause);
	s3_close(s);
}

static void test_unreachable_endpoint_named(void **state)
{
	(void)state;
	/* Port 1 on loopback: nothing listens there, the connection is refused at once. */
	struct s3 *s = open_example(false, "http://127.0.0.1:1");
	char *cause = NULL;
	int rc = s3_put(s, "k", "x", 1, &cause);
	assert_true(rc == -EIO || rc == -ETIMEDOUT);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "s3 PUT http://127.0.0.1:1/examplebucket/k"));
	free(cause);
	cause = NULL;
	struct s3_stat st;
	assert_true(s3_head(s, "k", &st, &cause) < 0);
	assert_non_null(strstr(cause, "HEAD"));
	free(cause);
	s3_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_presign_matches_aws_example),
		cmocka_unit_test(test_presign_put_differs_from_get),
		cmocka_unit_test(test_path_style_and_key_encoding),
		cmocka_unit_test(test_bad_input_refused),
		cmocka_unit_test(test_unreachable_endpoint_named),
	};
	return testenv_run(tests, NULL, NULL);
}
