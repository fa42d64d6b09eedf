/*
 * Unit tests of route: each endpoint is found with its method, signing and body
 * limit; a known path with another method is 405, an unknown one 404, and a
 * malformed hash, offset or session is 400, whatever follows it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <stdlib.h>
#include <string.h>

#include "fleet_proto.h"
#include "route.h"

#define H "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_table(void **state)
{
	static const struct {
		const char *method, *path;
		int status, kind, is_signed;
	} rows[] = {
		{ "GET", "/v1/health", 0, ROUTE_HEALTH, 0 },
		{ "GET", "/metrics", 0, ROUTE_METRICS, 0 },
		{ "POST", "/v1/enroll", 0, ROUTE_ENROLL, 0 },
		{ "GET", "/v1/policy", 0, ROUTE_POLICY, 1 },
		{ "POST", "/v1/bundles", 0, ROUTE_MANIFEST, 1 },
		{ "PUT", "/v1/bundles/" H "/0", 0, ROUTE_CHUNK, 1 },
		{ "PUT", "/v1/bundles/" H "/1048576", 0, ROUTE_CHUNK, 1 },
		{ "DELETE", "/v1/sessions/42", 0, ROUTE_DELETE, 1 },
		{ "POST", "/v1/heartbeat", 0, ROUTE_HEARTBEAT, 1 },
		{ "GET", "/v1/heartbeat", 405, 0, 0 },
		{ "POST", "/v1/health", 405, 0, 0 },
		{ "GET", "/v1/enroll", 405, 0, 0 },
		{ "GET", "/v1/bundles/" H "/0", 405, 0, 0 },
		{ "GET", "/", 404, 0, 0 },
		{ "GET", "/v1/health/", 404, 0, 0 },
		{ "PUT", "/v1/bundles/" H "/01", 400, 0, 0 },
		{ "PUT", "/v1/bundles/" H "/-1", 400, 0, 0 },
		{ "PUT", "/v1/bundles/" H "/", 400, 0, 0 },
		{ "PUT", "/v1/bundles/" H "/1/2", 400, 0, 0 },
		{ "PUT", "/v1/bundles/ABCDEF/0", 400, 0, 0 },
		{ "PUT", "/v1/bundles/../../etc/0", 400, 0, 0 },
		{ "DELETE", "/v1/sessions/../x", 400, 0, 0 },
		{ "DELETE", "/v1/sessions/", 400, 0, 0 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct route r;
		char *cause = NULL;
		int st = route_parse(rows[i].method, rows[i].path, &r, &cause);
		if (st != rows[i].status)
			fail_msg("%s %s: %d, expected %d", rows[i].method, rows[i].path, st,
			         rows[i].status);
		if (st == 0) {
			assert_int_equal(r.kind, rows[i].kind);
			assert_int_equal(r.is_signed, rows[i].is_signed);
			assert_non_null(r.name);
			assert_true(r.body_max <= FLEET_CHUNK_BYTES);
		} else {
			assert_non_null(cause);
		}
		free(cause);
	}
	{
		struct route r;
		assert_int_equal(route_parse("PUT", "/v1/bundles/" H "/1048576", &r, NULL), 0);
		assert_int_equal(r.offset, 1048576);
		assert_string_equal(r.hash, H);
		assert_int_equal(r.body_max, FLEET_CHUNK_BYTES);
		assert_int_equal(route_parse("POST", "/v1/bundles", &r, NULL), 0);
		assert_int_equal(r.body_max, FLEET_JSON_MAX);
		assert_int_equal(route_parse("DELETE", "/v1/sessions/s-1_2", &r, NULL), 0);
		assert_string_equal(r.session, "s-1_2");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
	};
	return testenv_run(tests, NULL, NULL);
}
