/*
 * review_http: checks a request to the review page before it is served
 * (review_http.h): Host, token, path, method, body size, CSRF token, parameters.
 */
#include "review_http.h"

#include <stdio.h>
#include <string.h>

#include "testbreak.h"

/* The longest value of a parameter (a token). */
#define VALUE_MAX REVIEW_TOKEN_HEX

enum param {
	P_T, P_CSRF, P_S, P_E, P_K, P_WHAT, P_FROM, P_TO, P_UNDO, P_COUNT_
};

static const char *const param_names[P_COUNT_] = {
	[P_T] = "t", [P_CSRF] = "csrf", [P_S] = "s", [P_E] = "e", [P_K] = "k",
	[P_WHAT] = "what", [P_FROM] = "from", [P_TO] = "to", [P_UNDO] = "undo",
};

struct params {
	int seen[P_COUNT_];
	char v[P_COUNT_][VALUE_MAX + 1];
};

static const struct {
	const char *path;
	int page;
	int post;
} pages[] = {
	{ "/", REVIEW_PAGE_HOME, 0 },
	{ "/session", REVIEW_PAGE_SESSION, 0 },
	{ "/image", REVIEW_PAGE_IMAGE, 0 },
	{ "/audit", REVIEW_PAGE_AUDIT, 0 },
	{ "/confirm", REVIEW_PAGE_CONFIRM, 0 },
	{ "/delete", REVIEW_PAGE_DELETE, 1 },
	{ "/exclude", REVIEW_PAGE_EXCLUDE, 1 },
	{ "/style", REVIEW_PAGE_STYLE, 0 },
};

const char *review_http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 500: return "Internal Server Error";
	default: return "Error";
	}
}

/* Compares in time independent of where the strings differ (a and b same length). */
static int secret_equal(const char *a, const char *b, size_t n)
{
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static int value_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
}

/*
 * Parses "k=v&k=v" (n bytes of s) into p. Only the names of param_names, each at
 * most once, with values of [0-9a-z] of at most VALUE_MAX: nothing needs
 * decoding, so '%', '+' and every other byte are refused. Returns 0 or 400.
 */
static int parse_params(const char *s, size_t n, struct params *p, const char **why)
{
	size_t i = 0;

	while (i < n) {
		size_t k0 = i, klen, v0, vlen;
		int which = -1;

		while (i < n && s[i] != '=' && s[i] != '&')
			i++;
		klen = i - k0;
		if (i >= n || s[i] != '=') {
			*why = "a parameter without a value";
			return 400;
		}
		i++;
		v0 = i;
		while (i < n && s[i] != '&') {
			if (!value_char(s[i])) {
				*why = "a parameter value with a character other than 0-9 a-z";
				return 400;
			}
			i++;
		}
		vlen = i - v0;
		if (i < n)
			i++; /* '&' */
		for (int j = 0; j < P_COUNT_; j++) {
			if (strlen(param_names[j]) == klen && memcmp(param_names[j], s + k0, klen) == 0)
				which = j;
		}
		if (which < 0) {
			*why = "an unknown parameter";
			return 400;
		}
		if (p->seen[which]) {
			*why = "a parameter given twice";
			return 400;
		}
		if (vlen == 0 || vlen > VALUE_MAX) {
			*why = "an empty or overlong parameter value";
			return 400;
		}
		p->seen[which] = 1;
		memcpy(p->v[which], s + v0, vlen);
		p->v[which][vlen] = '\0';
	}
	return 0;
}

/* Reads parameter k as a non-negative integer into *out; 400 when given but malformed. */
static int get_int(const struct params *p, int k, int required, int64_t *out, const char **why)
{
	const char *v = p->v[k];
	size_t n = strlen(v);
	int64_t x = 0;

	*out = -1;
	if (!p->seen[k]) {
		if (!required)
			return 0;
		*why = "a required id is missing";
		return 400;
	}
	if (n > REVIEW_ID_DIGITS) {
		*why = "an id out of range";
		return 400;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9') {
			*why = "an id that is not a number";
			return 400;
		}
		x = x * 10 + (v[i] - '0');
	}
	*out = x;
	return 0;
}

/* Whether host is 127.0.0.1:PORT or localhost:PORT. */
static int host_ok(const char *host, int port)
{
	char want[64];

	if (host == NULL)
		return 0;
	snprintf(want, sizeof(want), "127.0.0.1:%d", port);
	if (strcmp(host, want) == 0)
		return 1;
	snprintf(want, sizeof(want), "localhost:%d", port);
	return strcmp(host, want) == 0;
}

/* The ids the page (and for a deletion, what) needs, from p into r. */
static int page_params(const struct params *p, struct review_request *r, const char **why)
{
	int need_s = 0, need_e = 0, need_k = 0, need_range = 0, rc;

	switch (r->page) {
	case REVIEW_PAGE_SESSION:
		need_s = 1;
		break;
	case REVIEW_PAGE_IMAGE:
		need_s = need_e = need_k = 1;
		break;
	case REVIEW_PAGE_EXCLUDE:
		need_s = need_e = 1;
		if (p->seen[P_UNDO]) {
			if (strcmp(p->v[P_UNDO], "1") != 0) {
				*why = "undo must be 1";
				return 400;
			}
			r->undo = 1;
		}
		break;
	case REVIEW_PAGE_CONFIRM:
	case REVIEW_PAGE_DELETE: {
		const char *w = p->v[P_WHAT];

		if (!p->seen[P_WHAT]) {
			*why = "what to delete is missing";
			return 400;
		}
		if (strcmp(w, "step") == 0) {
			r->what = REVIEW_WHAT_STEP;
			need_s = need_e = need_k = 1;
		} else if (strcmp(w, "episode") == 0) {
			r->what = REVIEW_WHAT_EPISODE;
			need_s = need_e = 1;
		} else if (strcmp(w, "session") == 0) {
			r->what = REVIEW_WHAT_SESSION;
			need_s = 1;
		} else if (strcmp(w, "range") == 0) {
			r->what = REVIEW_WHAT_RANGE;
			need_s = need_range = 1;
		} else {
			*why = "what must be step, episode, session or range";
			return 400;
		}
		break;
	}
	default:
		break;
	}
	if ((rc = get_int(p, P_S, need_s, &r->session, why)) != 0 ||
	    (rc = get_int(p, P_E, need_e, &r->episode, why)) != 0 ||
	    (rc = get_int(p, P_K, need_k, &r->step, why)) != 0 ||
	    (rc = get_int(p, P_FROM, need_range, &r->from_s, why)) != 0 ||
	    (rc = get_int(p, P_TO, need_range, &r->to_s, why)) != 0)
		return rc;
	if (need_s && r->session < 1) {
		*why = "a session id must be 1 or more";
		return 400;
	}
	if (need_range && r->from_s >= r->to_s) {
		*why = "the range must end after it starts";
		return 400;
	}
	return 0;
}

int review_http_check(const struct review_secrets *sec, const char *method, const char *uri,
                      const char *host, const char *body, size_t body_len, int body_over,
                      struct review_request *out, const char **why)
{
	struct params q, b;
	const char *query;
	size_t path_len, uri_len;
	int page = -1, post = 0, rc;

	memset(out, 0, sizeof(*out));
	out->session = out->episode = out->step = out->from_s = out->to_s = -1;
	memset(&q, 0, sizeof(q));
	memset(&b, 0, sizeof(b));
	*why = "";
	if (method == NULL || uri == NULL) {
		*why = "no method or target";
		return 400;
	}
	/* A page of another site that resolves its name to 127.0.0.1 (DNS rebinding) sends its own Host. */
	if (!host_ok(host, sec->port)) {
		*why = "the Host header is not this server";
		return 403;
	}
	uri_len = strnlen(uri, REVIEW_URI_MAX + 1);
	if (uri_len > REVIEW_URI_MAX) {
		*why = "the request target is too long";
		return 400;
	}
	query = memchr(uri, '?', uri_len);
	path_len = query != NULL ? (size_t)(query - uri) : uri_len;
	if (query != NULL)
		query++;
	rc = parse_params(query != NULL ? query : "", query != NULL ? uri_len - path_len - 1 : 0,
	                  &q, why);
	/* The token first: without it nothing else about the request is told. */
	if (!testbreak("review-token-ignored") &&
	    (!q.seen[P_T] || strlen(q.v[P_T]) != REVIEW_TOKEN_HEX ||
	     !secret_equal(q.v[P_T], sec->token, REVIEW_TOKEN_HEX))) {
		*why = "the token is missing or wrong";
		return 403;
	}
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < path_len; i++) {
		char c = uri[i];

		if (!((c >= 'a' && c <= 'z') || c == '/')) {
			*why = "a path with a character other than a-z and /";
			return 400;
		}
	}
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		if (strlen(pages[i].path) == path_len && memcmp(pages[i].path, uri, path_len) == 0) {
			page = pages[i].page;
			post = pages[i].post;
		}
	}
	if (page < 0) {
		*why = "no such page";
		return 404;
	}
	out->page = page;
	if (strcmp(method, post ? "POST" : "GET") != 0 &&
	    !(!post && strcmp(method, "HEAD") == 0)) {
		*why = post ? "this page takes POST" : "this page takes GET";
		return 405;
	}
	if (!post) {
		if (q.seen[P_CSRF]) {
			*why = "a CSRF token in a URL";
			return 400;
		}
		rc = page_params(&q, out, why);
		return rc != 0 ? rc : 200;
	}
	/* A change: its parameters come in the body with the CSRF token, never in the URL. */
	for (int k = 0; k < P_COUNT_; k++) {
		if (k != P_T && q.seen[k]) {
			*why = "a change takes its parameters in the body";
			return 400;
		}
	}
	if (body_over || body_len > REVIEW_BODY_MAX) {
		*why = "the body is too large";
		return 413;
	}
	rc = parse_params(body != NULL ? body : "", body != NULL ? body_len : 0, &b, why);
	if (rc != 0)
		return rc;
	if (b.seen[P_T]) {
		*why = "the token belongs in the URL";
		return 400;
	}
	if (!b.seen[P_CSRF] || strlen(b.v[P_CSRF]) != REVIEW_TOKEN_HEX ||
	    !secret_equal(b.v[P_CSRF], sec->csrf, REVIEW_TOKEN_HEX)) {
		*why = "the CSRF token is missing or wrong";
		return 403;
	}
	rc = page_params(&b, out, why);
	return rc != 0 ? rc : 200;
}
