/*
 * redact_url: the redaction of a page's URL for an export (redact.h,
 * docs/REDACTION.md "URLs"). A URL says where a person was, and often who
 * they are: an e-mail address or an account number in the path, a session
 * token or a search in the query, a password in user:pass@. So the scheme and
 * the host (with its port) are kept as they are, each path segment goes through
 * the text detector, the user name and password and the fragment are always
 * left out, and the query string is left out unless the organisation's policy
 * keeps it ([capture] url_query = on), then each parameter's name and value go
 * through the detector.
 */
#include "redact.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbuf.h"
#include "testbreak.h"
#include "util.h"

/* Where a part of a URL sits: which delimiters must stay escaped in it. */
enum part { PART_PATH, PART_QUERY };

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3, cp = c & 0x07;
		else
			return false;
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += k + 1;
	}
	return true;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes the percent escapes of p[0..n) (and '+' as a space in a query) into
 * out (n + 1 bytes). Returns the decoded length, or n + 1 when an escape is
 * broken: then the part is scanned only as it is written.
 */
static size_t pct_decode(const char *p, size_t n, enum part where, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '%') {
			int hi = i + 2 < n ? hexval((unsigned char)p[i + 1]) : -1;
			int lo = i + 2 < n ? hexval((unsigned char)p[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return n + 1;
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && where == PART_QUERY) {
			out[o++] = ' ';
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

/*
 * Appends text[0..n) escaped again so that it stays one part of the URL: the
 * delimiters of where, '%', '<' and '>' (so that only placeholders have them),
 * blanks, controls and every byte past ASCII are escaped.
 */
static int pct_encode(struct dbuf *b, const char *text, size_t n, enum part where)
{
	static const char hex[] = "0123456789ABCDEF";
	int err = 0;

	for (size_t i = 0; i < n && err == 0; i++) {
		unsigned char c = (unsigned char)text[i];
		bool esc = c <= 0x20 || c >= 0x7f || strchr("%#?<>\"\\^`{|}", c) != NULL ||
		           (where == PART_PATH && c == '/') ||
		           (where == PART_QUERY && strchr("&=+", c) != NULL);

		if (esc) {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			err = dbuf_add(b, e, 3);
		} else {
			err = dbuf_add(b, &text[i], 1);
		}
	}
	return err;
}

/*
 * Appends text[0..n) with each of its findings sp[0..ns) replaced by its
 * placeholder; the rest escaped again (a decoded part) or as it is.
 */
static int put_redacted(struct dbuf *b, const char *text, size_t n, const struct redact_span *sp,
                        size_t ns, bool decoded, enum part where)
{
	size_t pos = 0;
	int err = 0;

	for (size_t i = 0; i <= ns && err == 0; i++) {
		size_t end = i < ns ? sp[i].start : n;

		err = decoded ? pct_encode(b, text + pos, end - pos, where)
		              : dbuf_add(b, text + pos, end - pos);
		if (err == 0 && i < ns) {
			err = dbuf_printf(b, "<%s>", redact_type_name(sp[i].type));
			pos = sp[i].end;
		}
	}
	return err;
}

/*
 * Appends part p[0..n) of a URL, redacted: the detector runs on the part as it
 * is written and, when that differs, on its decoded form (an e-mail address is
 * "alice%40example.com" in a path). Where the decoded form has findings, it is
 * what is written, with its placeholders, escaped again; else the written form
 * with its own findings replaced, if any. *mask collects the risks.
 */
static int redact_part(const struct redact *r, const char *p, size_t n, enum part where,
                       struct dbuf *b, unsigned *mask)
{
	struct redact_span *sr = NULL, *sd = NULL;
	size_t nr = 0, nd = 0, dn;
	char *decoded = NULL;
	int err;

	if (n == 0)
		return 0;
	err = redact_scan(r, p, n, &sr, &nr);
	if (err != 0)
		goto fail;
	decoded = util_xmalloc(n + 1);
	dn = pct_decode(p, n, where, decoded);
	if (dn <= n && (dn != n || memcmp(decoded, p, n) != 0)) {
		err = redact_scan(r, decoded, dn, &sd, &nd);
		if (err != 0)
			goto fail;
	}
	for (size_t i = 0; i < nr; i++)
		*mask |= (unsigned)sr[i].risk;
	for (size_t i = 0; i < nd; i++)
		*mask |= (unsigned)sd[i].risk;
	if (nd > 0)
		err = put_redacted(b, decoded, dn, sd, nd, true, where);
	else
		err = put_redacted(b, p, n, sr, nr, false, where);
fail:
	free(sr);
	free(sd);
	free(decoded);
	return err;
}

/*
 * The characters of a host name or address (RFC 3986 reg-name, IP literal,
 * port). Not '%': browsers give hosts decoded, and the host is kept as it is,
 * so an escaped "alice%40example.org" there must not pass as a host name.
 */
static bool host_char(unsigned char c)
{
	return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c != 0 && strchr("-._~!$&'()*+,;=:[]", c) != NULL);
}

/* True when the host and port hp[0..n) (the authority without its user info) is valid. */
static bool host_valid(const char *hp, size_t n)
{
	size_t i = 0, port;

	for (size_t k = 0; k < n; k++)
		if (!host_char((unsigned char)hp[k]))
			return false;
	if (n > 0 && hp[0] == '[') {
		const char *end = memchr(hp, ']', n);

		if (end == NULL)
			return false;
		i = (size_t)(end - hp) + 1;
		if (i < n && hp[i] != ':')
			return false;
	} else {
		while (i < n && hp[i] != ':')
			i++;
		if (memchr(hp, '[', i) != NULL || memchr(hp, ']', i) != NULL)
			return false;
	}
	/* The port: digits after the colon, or none. */
	for (port = i + 1; port < n; port++)
		if (hp[port] < '0' || hp[port] > '9')
			return false;
	return true;
}

/* The scheme's length (its letters before ':'), or 0 when s does not start with one. */
static size_t scheme_len(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	                 (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' ||
	                 s[i] == '.'))
		i++;
	return i < n && s[i] == ':' ? i : 0;
}

/* Schemes whose text after the colon is content, not a place: only the scheme is kept. */
static bool opaque_content(const char *s, size_t n)
{
	return (n == 4 && strncasecmp(s, "data", 4) == 0) ||
	       (n == 10 && strncasecmp(s, "javascript", 10) == 0);
}

/* Appends the path p[0..n), each segment between slashes redacted. */
static int redact_path(const struct redact *r, const char *p, size_t n, struct dbuf *b,
                       unsigned *mask)
{
	size_t i = 0;
	int err = 0;

	while (err == 0 && i <= n) {
		const char *slash = memchr(p + i, '/', n - i);
		size_t end = slash != NULL ? (size_t)(slash - p) : n;

		err = redact_part(r, p + i, end - i, PART_PATH, b, mask);
		if (err == 0 && slash != NULL)
			err = dbuf_add(b, "/", 1);
		i = end + 1;
	}
	return err;
}

/* Appends the query q[0..n) (without its '?'), each name and value redacted. */
static int redact_query(const struct redact *r, const char *q, size_t n, struct dbuf *b,
                        unsigned *mask)
{
	size_t i = 0;
	int err = 0;

	while (err == 0 && i <= n) {
		const char *amp = memchr(q + i, '&', n - i);
		size_t end = amp != NULL ? (size_t)(amp - q) : n;
		const char *eq = memchr(q + i, '=', end - i);

		if (eq != NULL) {
			size_t e = (size_t)(eq - q);

			err = redact_part(r, q + i, e - i, PART_QUERY, b, mask);
			if (err == 0)
				err = dbuf_add(b, "=", 1);
			if (err == 0)
				err = redact_part(r, q + e + 1, end - e - 1, PART_QUERY, b, mask);
		} else {
			err = redact_part(r, q + i, end - i, PART_QUERY, b, mask);
		}
		if (err == 0 && amp != NULL)
			err = dbuf_add(b, "&", 1);
		i = end + 1;
	}
	return err;
}

int redact_url_apply(const struct redact *r, const char *url, size_t len, unsigned flags,
                     char **out, size_t *outlen, unsigned *risk_mask)
{
	bool keep_query = (flags & REDACT_URL_QUERY) != 0 || testbreak("url-query-exported");
	struct dbuf b;
	unsigned mask = 0;
	size_t sl, i, path, path_end, q_end;
	int err;

	*out = NULL;
	*outlen = 0;
	if (risk_mask != NULL)
		*risk_mask = 0;
	if (len > REDACT_URL_MAX)
		return -E2BIG;
	/* A URL as a browser gives it: no blanks, no controls, UTF-8 where not escaped. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c == 0x7f)
			return -EINVAL;
	}
	if (!utf8_valid((const unsigned char *)url, len))
		return -EINVAL;
	sl = scheme_len(url, len);
	if (sl == 0)
		return -EINVAL;
	/* Every output part is at most three times its input, or a placeholder. */
	dbuf_init(&b, 16 * len + 64);
	err = dbuf_add(&b, url, sl + 1);
	i = sl + 1;
	if (err == 0 && len - i >= 2 && url[i] == '/' && url[i + 1] == '/') {
		size_t a = i + 2, a_end = a, host;

		while (a_end < len && url[a_end] != '/' && url[a_end] != '?' && url[a_end] != '#')
			a_end++;
		/* The user name and password (user:pass@) are never kept. */
		host = a;
		for (size_t k = a; k < a_end; k++)
			if (url[k] == '@')
				host = k + 1;
		if (!host_valid(url + host, a_end - host)) {
			err = -EINVAL;
			goto fail;
		}
		err = dbuf_add(&b, "//", 2);
		if (err == 0)
			err = dbuf_add(&b, url + host, a_end - host);
		i = a_end;
	} else if (err == 0 && opaque_content(url, sl)) {
		goto done;
	}
	path = i;
	path_end = path;
	while (path_end < len && url[path_end] != '?' && url[path_end] != '#')
		path_end++;
	if (err == 0)
		err = redact_path(r, url + path, path_end - path, &b, &mask);
	q_end = path_end;
	if (path_end < len && url[path_end] == '?') {
		q_end = path_end + 1;
		while (q_end < len && url[q_end] != '#')
			q_end++;
		/* The query is left out unless the policy keeps it; the fragment always is. */
		if (err == 0 && keep_query && q_end > path_end + 1) {
			err = dbuf_add(&b, "?", 1);
			if (err == 0)
				err = redact_query(r, url + path_end + 1, q_end - path_end - 1, &b, &mask);
		}
	}
done:
	if (err != 0)
		goto fail;
	if (risk_mask != NULL)
		*risk_mask = mask;
	*outlen = b.len;
	*out = dbuf_take(&b);
	return 0;
fail:
	dbuf_free(&b);
	/* A scan that failed is treated as a high risk, as redact_apply does. */
	if (risk_mask != NULL && err != -EINVAL)
		*risk_mask = REDACT_RISK_HIGH;
	return err;
}
