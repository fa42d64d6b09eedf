/*
 * review_http: the checks every request to the review page (review.h) passes
 * before anything is looked up: the Host header, the per-run token, the path,
 * the method, the size of the body, the CSRF token of a change, and the form of
 * every parameter. It is pure (no I/O, no clock), so a table test and a fuzz
 * target cover it (tests/unit/test_review.c, fuzz/fuzz_review.c).
 *
 * Nothing a request names reaches the filesystem: a path is one of the fixed
 * pages below or refused, and parameters are small integers or one of a few
 * words. Whether an id exists and belongs to its session is the caller's check.
 */
#ifndef MIMIC_REVIEW_HTTP_H
#define MIMIC_REVIEW_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* Hex digits of the per-run token and of the CSRF token (32 random bytes each). */
#define REVIEW_TOKEN_HEX 64
/* The longest request target (path and query) accepted. */
#define REVIEW_URI_MAX 1024
/* The largest request body accepted (a form of a few fields). */
#define REVIEW_BODY_MAX 4096
/* Ids and offsets are at most this many decimal digits (fits int64_t). */
#define REVIEW_ID_DIGITS 15

/* The pages. GET ones show; POST ones change (and need the CSRF token). */
enum review_page {
	REVIEW_PAGE_HOME = 1, /* GET /         sessions by day */
	REVIEW_PAGE_SESSION,  /* GET /session  ?s=  a session's episodes and steps */
	REVIEW_PAGE_IMAGE,    /* GET /image    ?s=&e=&k=  a step's pre-action image */
	REVIEW_PAGE_AUDIT,    /* GET /audit    the audit log */
	REVIEW_PAGE_CONFIRM,  /* GET /confirm  ?what=...  asks before a deletion */
	REVIEW_PAGE_DELETE,   /* POST /delete  what=... */
	REVIEW_PAGE_EXCLUDE,  /* POST /exclude s=&e=&undo=  an episode "do not use" (or back) */
	REVIEW_PAGE_STYLE,    /* GET /style    the style sheet (no inline style: the CSP is 'self') */
};

/* What a deletion deletes. */
enum review_what {
	REVIEW_WHAT_NONE = 0,
	REVIEW_WHAT_STEP,     /* s, e, k */
	REVIEW_WHAT_EPISODE,  /* s, e */
	REVIEW_WHAT_SESSION,  /* s */
	REVIEW_WHAT_RANGE,    /* s, from, to: seconds from the session's start, from < to */
};

/* The secrets of one run and the port it listens on. */
struct review_secrets {
	char token[REVIEW_TOKEN_HEX + 1];
	char csrf[REVIEW_TOKEN_HEX + 1];
	int port;
};

/* A request as checked. Ids not given are -1. */
struct review_request {
	int page;                 /* enum review_page */
	int what;                 /* enum review_what (confirm, delete) */
	int undo;                 /* exclude: 1 to use the episode again */
	int64_t session, episode, step;
	int64_t from_s, to_s;
};

/*
 * Checks one request: method ("GET", "POST", ...), uri the request target as
 * sent (path and query, not decoded), host the Host header (NULL when none),
 * body the request body (body_len bytes; NULL when none), body_over set when the
 * body was longer than REVIEW_BODY_MAX (it was not kept). Fills *out and returns
 * 200 when the request may be served; else the HTTP status to answer with and
 * *why a short, fixed reason (never request text):
 *   403 Host not 127.0.0.1:PORT or localhost:PORT, token missing or wrong, CSRF
 *       token missing or wrong on a POST;
 *   404 no such page;
 *   405 a method the page does not take;
 *   413 body too large;
 *   400 anything else malformed: an overlong target, '.', '%' or '\\' in the path,
 *       an unknown, repeated or malformed parameter, a missing id.
 */
int review_http_check(const struct review_secrets *sec, const char *method, const char *uri,
                      const char *host, const char *body, size_t body_len, int body_over,
                      struct review_request *out /* OUT */, const char **why /* OUT */);

/* The text of an HTTP status this module returns ("Forbidden", ...). */
const char *review_http_status_text(int status);

#endif
