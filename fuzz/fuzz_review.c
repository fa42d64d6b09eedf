/*
 * fuzz_review: feeds arbitrary requests to the review page's request checks
 * (review_http), the part of `mimic review` any local process can reach. The
 * input is "METHOD TARGET\nHOST\nBODY" (a missing part is absent). Beyond not
 * crashing, it checks the checks' promises: an answer is one of the documented
 * statuses with a reason; a request served carried the token and the Host, its
 * page is known, its ids are in range, and a change carried the CSRF token.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "review_http.h"

#define TOK "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define CSRF "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Splits off the next line of *p (len *n) as a malloc'ed string, NULL when none is left. */
static char *next_line(const uint8_t **p, size_t *n, int last)
{
	const uint8_t *nl = last ? NULL : memchr(*p, '\n', *n);
	size_t len = nl != NULL ? (size_t)(nl - *p) : *n;
	char *s;

	if (*n == 0 && !last)
		return NULL;
	s = malloc(len + 1);
	if (s == NULL)
		abort();
	memcpy(s, *p, len);
	s[len] = '\0';
	*p += len + (nl != NULL);
	*n -= len + (nl != NULL);
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct review_secrets sec;
	struct review_request q;
	const uint8_t *p = data;
	size_t n = size;
	char *line = next_line(&p, &n, 0), *host = next_line(&p, &n, 0), *body;
	char *method = NULL, *uri = NULL, *sp;
	const char *why = NULL;
	size_t body_len;
	int st;

	body = n > 0 ? next_line(&p, &n, 1) : NULL;
	body_len = body != NULL ? strlen(body) : 0;
	if (line != NULL) {
		sp = strchr(line, ' ');
		method = line;
		if (sp != NULL) {
			*sp = '\0';
			uri = sp + 1;
		}
	}
	memset(&sec, 0, sizeof(sec));
	memcpy(sec.token, TOK, sizeof(TOK));
	memcpy(sec.csrf, CSRF, sizeof(CSRF));
	sec.port = 8123;
	st = review_http_check(&sec, method, uri, host, body, body_len, 0, &q, &why);
	if (why == NULL || review_http_status_text(st) == NULL)
		abort();
	switch (st) {
	case 200:
		if (strstr(uri, TOK) == NULL || host == NULL ||
		    (strcmp(host, "127.0.0.1:8123") != 0 && strcmp(host, "localhost:8123") != 0))
			abort();
		if (q.page < REVIEW_PAGE_HOME || q.page > REVIEW_PAGE_STYLE)
			abort();
		if ((q.page == REVIEW_PAGE_DELETE || q.page == REVIEW_PAGE_EXCLUDE) &&
		    (body == NULL || strstr(body, "csrf=" CSRF) == NULL))
			abort();
		if (q.session < -1 || q.episode < -1 || q.step < -1 || q.from_s < -1 ||
		    q.to_s < -1 || q.session > 999999999999999LL)
			abort();
		if (q.what == REVIEW_WHAT_RANGE && q.from_s >= q.to_s)
			abort();
		if (strstr(uri, "..") != NULL || strchr(uri, '%') != NULL)
			abort();
		break;
	case 400: case 403: case 404: case 405: case 413:
		if (why[0] == '\0')
			abort();
		break;
	default:
		abort();
	}
	free(line);
	free(host);
	free(body);
	return 0;
}
