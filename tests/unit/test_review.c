/*
 * test_review: the review page's request checks (review_http) as a table of
 * requests and the answers they must get, and steps told in words (review_html).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "review_html.h"
#include "review_http.h"

#define TOK "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define CSRF "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define HOST "127.0.0.1:8123"

static struct review_secrets sec(void)
{
	struct review_secrets s;

	memset(&s, 0, sizeof(s));
	memcpy(s.token, TOK, sizeof(TOK));
	memcpy(s.csrf, CSRF, sizeof(CSRF));
	s.port = 8123;
	return s;
}

struct row {
	const char *method, *uri, *host, *body;
	int status;
	int page;
};

static const struct row rows[] = {
	/* Served. */
	{ "GET", "/?t=" TOK, HOST, NULL, 200, REVIEW_PAGE_HOME },
	{ "HEAD", "/?t=" TOK, HOST, NULL, 200, REVIEW_PAGE_HOME },
	{ "GET", "/?t=" TOK, "localhost:8123", NULL, 200, REVIEW_PAGE_HOME },
	{ "GET", "/session?t=" TOK "&s=3", HOST, NULL, 200, REVIEW_PAGE_SESSION },
	{ "GET", "/session?s=3&t=" TOK, HOST, NULL, 200, REVIEW_PAGE_SESSION },
	{ "GET", "/image?t=" TOK "&s=3&e=0&k=12", HOST, NULL, 200, REVIEW_PAGE_IMAGE },
	{ "GET", "/audit?t=" TOK, HOST, NULL, 200, REVIEW_PAGE_AUDIT },
	{ "GET", "/confirm?t=" TOK "&what=range&s=1&from=0&to=60", HOST, NULL, 200,
	  REVIEW_PAGE_CONFIRM },
	{ "POST", "/delete?t=" TOK, HOST, "csrf=" CSRF "&what=episode&s=2&e=1", 200,
	  REVIEW_PAGE_DELETE },
	{ "POST", "/exclude?t=" TOK, HOST, "s=2&e=1&csrf=" CSRF, 200, REVIEW_PAGE_EXCLUDE },
	{ "GET", "/style?t=" TOK, HOST, NULL, 200, REVIEW_PAGE_STYLE },
	{ "GET", "/style.css?t=" TOK, HOST, NULL, 400, 0 },
	/* The token: missing, wrong, short, long, twice, in the body only. */
	{ "GET", "/", HOST, NULL, 403, 0 },
	{ "GET", "/?t=", HOST, NULL, 403, 0 },
	{ "GET", "/?t=" CSRF, HOST, NULL, 403, 0 },
	{ "GET", "/?t=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", HOST,
	  NULL, 403, 0 },
	{ "GET", "/?t=" TOK "0", HOST, NULL, 403, 0 },
	{ "GET", "/?T=" TOK, HOST, NULL, 403, 0 },
	{ "POST", "/delete", HOST, "t=" TOK "&csrf=" CSRF "&what=session&s=1", 403, 0 },
	{ "GET", "/../../etc/passwd", HOST, NULL, 403, 0 },
	/* Host: missing, another name, another port, with a path, empty. */
	{ "GET", "/?t=" TOK, NULL, NULL, 403, 0 },
	{ "GET", "/?t=" TOK, "evil.example:8123", NULL, 403, 0 },
	{ "GET", "/?t=" TOK, "127.0.0.1:8124", NULL, 403, 0 },
	{ "GET", "/?t=" TOK, "127.0.0.1", NULL, 403, 0 },
	{ "GET", "/?t=" TOK, "127.0.0.1:8123.evil", NULL, 403, 0 },
	{ "GET", "/?t=" TOK, "", NULL, 403, 0 },
	/* Traversal and paths that are no page. */
	{ "GET", "/../../etc/passwd?t=" TOK, HOST, NULL, 400, 0 },
	{ "GET", "/%2e%2e/%2e%2e/etc/passwd?t=" TOK, HOST, NULL, 400, 0 },
	{ "GET", "/session/..%2fmimic.db?t=" TOK, HOST, NULL, 400, 0 },
	{ "GET", "/..\\..\\x?t=" TOK, HOST, NULL, 400, 0 },
	{ "GET", "//etc/passwd?t=" TOK, HOST, NULL, 404, 0 },
	{ "GET", "/mimic.db?t=" TOK, HOST, NULL, 400, 0 },
	{ "GET", "/frames?t=" TOK, HOST, NULL, 404, 0 },
	{ "GET", "/session/?t=" TOK "&s=1", HOST, NULL, 404, 0 },
	{ "GET", "/Session?t=" TOK "&s=1", HOST, NULL, 400, 0 },
	{ "GET", "http://127.0.0.1:8123/?t=" TOK, HOST, NULL, 400, 0 },
	/* Parameters. */
	{ "GET", "/session?t=" TOK, HOST, NULL, 400, 0 },
	{ "GET", "/session?t=" TOK "&s=0", HOST, NULL, 400, 0 },
	{ "GET", "/session?t=" TOK "&s=-1", HOST, NULL, 400, 0 },
	{ "GET", "/session?t=" TOK "&s=1x", HOST, NULL, 400, 0 },
	{ "GET", "/session?t=" TOK "&s=%31", HOST, NULL, 400, 0 },
	{ "GET", "/session?t=" TOK "&s=1%00", HOST, NULL, 400, 0 },
	{ "GET", "/session?t=" TOK "&s=1&s=2", HOST, NULL, 400, 0 },
	{ "GET", "/?t=" TOK "&t=" TOK, HOST, NULL, 400, 0 },
	{ "GET", "/session?t=" TOK "&s=", HOST, NULL, 400, 0 },
	{ "GET", "/session?t=" TOK "&s", HOST, NULL, 400, 0 },
	{ "GET", "/session?t=" TOK "&s=9999999999999999", HOST, NULL, 400, 0 },
	{ "GET", "/session?t=" TOK "&s=1&path=x", HOST, NULL, 400, 0 },
	{ "GET", "/image?t=" TOK "&s=3&e=0", HOST, NULL, 400, 0 },
	{ "GET", "/confirm?t=" TOK "&what=all&s=1", HOST, NULL, 400, 0 },
	{ "GET", "/confirm?t=" TOK "&what=range&s=1&from=60&to=60", HOST, NULL, 400, 0 },
	{ "GET", "/confirm?t=" TOK "&what=step&s=1&e=0", HOST, NULL, 400, 0 },
	{ "GET", "/?t=" TOK "&csrf=" CSRF, HOST, NULL, 400, 0 },
	/* Methods. */
	{ "POST", "/?t=" TOK, HOST, "", 405, 0 },
	{ "GET", "/delete?t=" TOK "&what=session&s=1", HOST, NULL, 405, 0 },
	{ "PUT", "/delete?t=" TOK, HOST, "csrf=" CSRF "&what=session&s=1", 405, 0 },
	/* CSRF: missing, forged, in the URL, a change's parameters in the URL. */
	{ "POST", "/delete?t=" TOK, HOST, "what=session&s=1", 403, 0 },
	{ "POST", "/delete?t=" TOK, HOST, "csrf=" TOK "&what=session&s=1", 403, 0 },
	{ "POST", "/delete?t=" TOK, HOST, NULL, 403, 0 },
	{ "POST", "/delete?t=" TOK "&csrf=" CSRF, HOST, "what=session&s=1", 400, 0 },
	{ "POST", "/delete?t=" TOK "&what=session&s=1", HOST, "csrf=" CSRF, 400, 0 },
	{ "POST", "/delete?t=" TOK, HOST, "csrf=" CSRF "&what=session&s=1&t=" TOK, 400, 0 },
	{ "POST", "/exclude?t=" TOK, HOST, "s=2&e=1&undo=2&csrf=" CSRF, 400, 0 },
};

static void test_table(void **state)
{
	struct review_secrets s = sec();

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct review_request q;
		const char *why = NULL;
		int st = review_http_check(&s, r->method, r->uri, r->host, r->body,
		                           r->body != NULL ? strlen(r->body) : 0, 0, &q, &why);

		if (st != r->status)
			fail_msg("row %zu (%s %s, Host %s): %d, want %d (%s)", i, r->method, r->uri,
			         r->host ? r->host : "(none)", st, r->status, why);
		assert_non_null(why);
		if (st == 200)
			assert_int_equal(q.page, r->page);
		else
			assert_true(why[0] != '\0');
	}
}

static void test_ids(void **state)
{
	struct review_secrets s = sec();
	struct review_request q;
	const char *why;
	const char *body = "csrf=" CSRF "&what=range&s=7&from=30&to=90";

	(void)state;
	assert_int_equal(review_http_check(&s, "GET", "/image?t=" TOK "&s=3&e=4&k=123456", HOST,
	                                   NULL, 0, 0, &q, &why), 200);
	assert_int_equal(q.session, 3);
	assert_int_equal(q.episode, 4);
	assert_int_equal(q.step, 123456);
	assert_int_equal(review_http_check(&s, "POST", "/delete?t=" TOK, HOST, body, strlen(body),
	                                   0, &q, &why), 200);
	assert_int_equal(q.what, REVIEW_WHAT_RANGE);
	assert_int_equal(q.session, 7);
	assert_int_equal(q.from_s, 30);
	assert_int_equal(q.to_s, 90);
	assert_int_equal(q.episode, -1);
}

static void test_sizes(void **state)
{
	struct review_secrets s = sec();
	struct review_request q;
	const char *why;
	char uri[REVIEW_URI_MAX + 200], body[REVIEW_BODY_MAX + 100];

	(void)state;
	/* An overlong target, an overlong value, a body past the bound. */
	snprintf(uri, sizeof(uri), "/session?t=%s&s=1&", TOK);
	memset(uri + strlen(uri), 'a', sizeof(uri) - strlen(uri) - 1);
	uri[sizeof(uri) - 1] = '\0';
	assert_int_equal(review_http_check(&s, "GET", uri, HOST, NULL, 0, 0, &q, &why), 400);
	assert_int_equal(review_http_check(&s, "GET", "/session?t=" TOK "&s=1&e=" TOK "1", HOST,
	                                   NULL, 0, 0, &q, &why), 400);
	snprintf(body, sizeof(body), "csrf=%s&what=session&s=1&e=", CSRF);
	memset(body + strlen(body), '1', sizeof(body) - strlen(body) - 1);
	body[sizeof(body) - 1] = '\0';
	assert_int_equal(review_http_check(&s, "POST", "/delete?t=" TOK, HOST, body, strlen(body),
	                                   0, &q, &why), 413);
	assert_int_equal(review_http_check(&s, "POST", "/delete?t=" TOK, HOST, "csrf=" CSRF, 10,
	                                   1, &q, &why), 413);
	assert_int_equal(review_http_check(&s, "GET", NULL, HOST, NULL, 0, 0, &q, &why), 400);
}

static void words(const char *json, const char *want)
{
	json_t *o = json_loads(json, 0, NULL);
	char buf[256];

	assert_non_null(o);
	review_html_step_words(o, buf, sizeof(buf));
	assert_string_equal(buf, want);
	json_decref(o);
}

static void test_words(void **state)
{
	(void)state;
	words("{\"kind\":\"click\",\"interaction\":\"button_press\",\"window_title\":\"Expense "
	      "claim\",\"element\":{\"role\":\"push button\",\"name\":\"OK\",\"ancestors\":[]},"
	      "\"action\":{\"x\":5,\"y\":6}}", "clicked 'OK' in Expense claim");
	words("{\"kind\":\"type\",\"app\":\"XTerm\",\"element\":null,"
	      "\"action\":{\"text\":\"<EMAIL>\"}}", "typed <EMAIL> in XTerm");
	words("{\"kind\":\"click\",\"interaction\":\"dropdown_selection\",\"window_title\":\"F\","
	      "\"element\":{\"role\":\"menu item\",\"name\":\"Asia\",\"ancestors\":[{\"role\":"
	      "\"menu\",\"name\":\"\"},{\"role\":\"combo box\",\"name\":\"Region\"}]},"
	      "\"action\":{}}", "chose 'Asia' in Region");
	words("{\"kind\":\"double_click\",\"window_title\":\"T\",\"element\":null,"
	      "\"action\":{\"x\":300,\"y\":200}}", "double-clicked at (300, 200) in T");
	words("{\"kind\":\"hotkey\",\"window_title\":\"Ed\",\"action\":{\"keys\":\"ctrl+s\"}}",
	      "pressed ctrl+s in Ed");
	words("{\"kind\":\"switch\",\"window_title\":null,\"app\":\"Firefox\",\"action\":{}}",
	      "switched to Firefox");
	words("{}", "unknown");
}

static void test_escape(void **state)
{
	struct dbuf b;

	(void)state;
	dbuf_init(&b, 1024);
	review_html_text(&b, "<script>alert('x')</script> & \"q\"");
	assert_string_equal(b.data, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; "
	                            "&quot;q&quot;");
	dbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
