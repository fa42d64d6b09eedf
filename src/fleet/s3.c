/*
 * s3: S3-compatible object storage over libcurl with AWS Signature Version 4
 * (see s3.h). libcurl signs the requests (CURLOPT_AWS_SIGV4); the presigned URLs are
 * signed here, with libsodium's SHA-256 and HMAC-SHA256, because libcurl only signs
 * requests it sends itself.
 *
 * Three things make libcurl 7.88's signatures agree with radosgw's and AWS's
 * (docs/FLEET.md, "Engines"): the x-amz-content-sha256 header is sent by us (libcurl
 * would otherwise sign a hash of an empty body for an upload); no header is ever
 * blanked ("Expect:"), because libcurl signs a blanked header that it then does not
 * send; and query strings are built here already sorted and RFC 3986-encoded,
 * because libcurl signs the query as given.
 */
#include "s3.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dbuf.h"
#include "testbreak.h"
#include "util.h"

/* The largest error body or listing page kept, and the longest key accepted. */
#define S3_ERROR_MAX (64u * 1024u)
#define S3_PAGE_MAX (4u * 1024u * 1024u)
#define S3_KEY_MAX 1024u
/* SHA-256 of zero bytes: the payload hash of a request without a body. */
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct s3 {
	CURL *curl;
	char *endpoint;     /* scheme://authority, no trailing '/' */
	char *scheme;       /* "http" or "https" */
	char *host;         /* the authority as sent in Host: (default port dropped) */
	char *region;
	char *access_key;
	char *secret_key;
	char *bucket;
	bool virtual_host;
	int64_t timeout_ms;
	char sigv4[128];    /* "aws:amz:REGION:s3" */
	char errbuf[CURL_ERROR_SIZE];
};

static int curl_ready(void)
{
	static int done;  /* curl_global_init is thread-safe in libcurl >= 7.84 */
	if (!done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -EIO;
		done = 1;
	}
	return 0;
}

/* Appends s percent-encoded per RFC 3986 (unreserved kept; '/' kept when keep_slash). */
static int uri_encode(struct dbuf *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
		    (keep_slash && *p == '/')) {
			if (dbuf_add(b, p, 1) < 0)
				return -ENOMEM;
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			if (dbuf_add(b, e, 3) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static void hex_encode(char *out, const unsigned char *in, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static void sha256_hex(char out[65], const void *p, size_t n)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, p, n);
	hex_encode(out, h, sizeof h);
}

static void hmac(unsigned char out[32], const void *key, size_t keylen, const char *msg)
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, strlen(msg));
	crypto_auth_hmacsha256_final(&st, out);
}

static bool key_ok(const char *key)
{
	return key && key[0] && strlen(key) <= S3_KEY_MAX;
}

int s3_open(const struct s3_config *cfg, struct s3 **out, char **cause)
{
	*out = NULL;
	if (!cfg || !cfg->endpoint || !cfg->access_key || !cfg->secret_key || !cfg->bucket ||
	    !cfg->bucket[0] || !cfg->access_key[0])
		return util_fail(cause, -EINVAL, "s3: endpoint, access key, secret key and bucket "
		                 "are all required");
	const char *ep = cfg->endpoint;
	const char *scheme = strncmp(ep, "https://", 8) == 0 ? "https" :
	                     strncmp(ep, "http://", 7) == 0 ? "http" : NULL;
	if (!scheme)
		return util_fail(cause, -EINVAL, "s3: endpoint '%s' is not an http:// or https:// "
		                 "URL", ep);
	const char *auth = ep + strlen(scheme) + 3;
	size_t alen = strcspn(auth, "/?#");
	if (alen == 0 || auth[alen] == '?' || auth[alen] == '#' ||
	    (auth[alen] == '/' && auth[alen + 1] != '\0'))
		return util_fail(cause, -EINVAL, "s3: endpoint '%s' must be scheme://host[:port] "
		                 "with no path", ep);
	if (strcspn(cfg->bucket, "/?#% ") != strlen(cfg->bucket))
		return util_fail(cause, -EINVAL, "s3: bucket name '%s' has a character S3 does not "
		                 "allow", cfg->bucket);
	if (curl_ready() < 0)
		return util_fail(cause, -EIO, "s3: libcurl could not be initialised");

	struct s3 *s = util_xcalloc(1, sizeof *s);
	s->scheme = util_xstrdup(scheme);
	s->host = util_xasprintf("%.*s", (int)alen, auth);
	/* libcurl leaves a default port out of Host:, so the signed host must too. */
	size_t hl = strlen(s->host);
	const char *dflt = strcmp(scheme, "https") == 0 ? ":443" : ":80";
	if (hl > strlen(dflt) && strcmp(s->host + hl - strlen(dflt), dflt) == 0)
		s->host[hl - strlen(dflt)] = '\0';
	s->endpoint = util_xasprintf("%s://%s", scheme, s->host);
	s->region = util_xstrdup(cfg->region && cfg->region[0] ? cfg->region : "us-east-1");
	s->access_key = util_xstrdup(cfg->access_key);
	s->secret_key = util_xstrdup(cfg->secret_key);
	s->bucket = util_xstrdup(cfg->bucket);
	s->virtual_host = cfg->virtual_host;
	s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
	snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", s->region);
	s->curl = curl_easy_init();
	if (!s->curl) {
		s3_close(s);
		return util_fail(cause, -ENOMEM, "s3: libcurl could not make a handle");
	}
	*out = s;
	return 0;
}

void s3_close(struct s3 *s)
{
	if (!s)
		return;
	if (s->curl)
		curl_easy_cleanup(s->curl);
	free(s->endpoint);
	free(s->scheme);
	free(s->host);
	free(s->region);
	free(s->access_key);
	if (s->secret_key)
		sodium_memzero(s->secret_key, strlen(s->secret_key));
	free(s->secret_key);
	free(s->bucket);
	free(s);
}

/* The host and the canonical (encoded) path of key, or of the bucket when key is NULL. */
static void locate(const struct s3 *s, const char *key, char **host, struct dbuf *path)
{
	if (s->virtual_host) {
		*host = util_xasprintf("%s.%s", s->bucket, s->host);
		dbuf_adds(path, "/");
	} else {
		*host = util_xstrdup(s->host);
		dbuf_adds(path, "/");
		uri_encode(path, s->bucket, false);
		if (key)
			dbuf_adds(path, "/");
	}
	if (key)
		uri_encode(path, key, true);
}

char *s3_object_url(const struct s3 *s, const char *key)
{
	struct dbuf path;
	char *host;
	dbuf_init(&path, SIZE_MAX);
	locate(s, key, &host, &path);
	char *url = util_xasprintf("%s://%s%s", s->scheme, host, path.data);
	free(host);
	dbuf_free(&path);
	return url;
}

int s3_presign(const struct s3 *s, const char *method, const char *key, int64_t now_s,
               unsigned expires_s, char **url, char **cause)
{
	*url = NULL;
	if (!method || (strcmp(method, "PUT") != 0 && strcmp(method, "GET") != 0))
		return util_fail(cause, -EINVAL, "s3 presign: method must be PUT or GET");
	if (!key_ok(key))
		return util_fail(cause, -EINVAL, "s3 presign: the key is empty or longer than %u "
		                 "bytes", S3_KEY_MAX);
	if (expires_s < 1 || expires_s > 604800)
		return util_fail(cause, -EINVAL, "s3 presign: expiry %u s is outside 1..604800 (7 "
		                 "days, the SigV4 maximum)", expires_s);
	time_t t = (time_t)now_s;
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return util_fail(cause, -EINVAL, "s3 presign: time %" PRId64 " is out of range",
		                 now_s);
	char amzdate[20], day[10];
	strftime(amzdate, sizeof amzdate, "%Y%m%dT%H%M%SZ", &tm);
	strftime(day, sizeof day, "%Y%m%d", &tm);

	struct dbuf path, query, creq, sts;
	char *host = NULL;
	dbuf_init(&path, SIZE_MAX);
	dbuf_init(&query, SIZE_MAX);
	dbuf_init(&creq, SIZE_MAX);
	dbuf_init(&sts, SIZE_MAX);
	locate(s, key, &host, &path);

	char *credential = util_xasprintf("%s/%s/%s/s3/aws4_request", s->access_key, day,
	                                  s->region);
	/* The parameters in byte order of their names, as the canonical query needs. */
	dbuf_adds(&query, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
	uri_encode(&query, credential, false);
	dbuf_printf(&query, "&X-Amz-Date=%s&X-Amz-Expires=%u&X-Amz-SignedHeaders=host", amzdate,
	            expires_s);

	dbuf_printf(&creq, "%s\n%s\n%s\nhost:%s\n\nhost\nUNSIGNED-PAYLOAD", method, path.data,
	            query.data, host);
	char creq_hash[65];
	sha256_hex(creq_hash, creq.data, creq.len);
	dbuf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/s3/aws4_request\n%s", amzdate, day,
	            s->region, creq_hash);

	/* The signing key: HMAC chain over the date, region, service and terminator. */
	char *k0 = util_xasprintf("AWS4%s", s->secret_key);
	unsigned char k[32], sig[32];
	hmac(k, k0, strlen(k0), day);
	hmac(k, k, sizeof k, s->region);
	hmac(k, k, sizeof k, "s3");
	hmac(k, k, sizeof k, "aws4_request");
	hmac(sig, k, sizeof k, sts.data);
	if (testbreak("s3-presign-ignores-method")) {
		/* The fault: only the date is signed, not the request, so a GET URL also PUTs. */
		hmac(sig, k, sizeof k, amzdate);
	}
	char sighex[65];
	hex_encode(sighex, sig, sizeof sig);
	sodium_memzero(k0, strlen(k0));
	sodium_memzero(k, sizeof k);

	*url = util_xasprintf("%s://%s%s?%s&X-Amz-Signature=%s", s->scheme, host, path.data,
	                      query.data, sighex);
	free(k0);
	free(credential);
	free(host);
	dbuf_free(&path);
	dbuf_free(&query);
	dbuf_free(&creq);
	dbuf_free(&sts);
	return 0;
}

/* --- requests ------------------------------------------------------------------ */

struct xfer {
	/* the body sent: memory or a file */
	const unsigned char *src;
	int src_fd;
	uint64_t src_len, src_off;
	/* the body received: a bounded buffer, a file, or (errors) the error buffer */
	struct dbuf *sink;
	int sink_fd;
	uint64_t sink_max, sink_len;
	int sink_errno;
	bool over;
	struct dbuf err;        /* an error answer's body */
	CURL *curl;
	/* from the headers */
	char etag[80];
	uint64_t content_length;
	bool have_length;
};

static size_t read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	uint64_t left = x->src_len - x->src_off;
	size_t want = size * n < left ? size * n : (size_t)left;
	if (want == 0)
		return 0;
	if (x->src) {
		memcpy(buf, x->src + x->src_off, want);
	} else {
		ssize_t r = pread(x->src_fd, buf, want, (off_t)x->src_off);
		if (r <= 0) {
			x->sink_errno = r < 0 ? errno : EIO;
			return CURL_READFUNC_ABORT;
		}
		want = (size_t)r;
	}
	x->src_off += want;
	return want;
}

static size_t write_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	long code = 0;
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code >= 300) {
		/* An error's body: keep its start for the S3 error code. */
		size_t room = x->err.len < x->err.max ? x->err.max - x->err.len : 0;
		dbuf_add(&x->err, buf, len < room ? len : room);
		return len;
	}
	if (x->sink_len + len > x->sink_max) {
		x->over = true;
		return 0;  /* aborts the transfer: CURLE_WRITE_ERROR */
	}
	if (x->sink) {
		if (dbuf_add(x->sink, buf, len) < 0) {
			x->over = true;
			return 0;
		}
	} else if (x->sink_fd >= 0) {
		size_t done = 0;
		while (done < len) {
			ssize_t w = write(x->sink_fd, buf + done, len - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				x->sink_errno = w < 0 ? errno : EIO;
				return 0;
			}
			done += (size_t)w;
		}
	}
	x->sink_len += len;
	return len;
}

static size_t header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;
	if (len > 5 && strncasecmp(buf, "ETag:", 5) == 0) {
		const char *v = buf + 5;
		while (*v == ' ' || *v == '"')
			v++;
		size_t vl = 0;
		while (v + vl < buf + len && v[vl] != '"' && v[vl] != '\r' && v[vl] != '\n')
			vl++;
		if (vl >= sizeof x->etag)
			vl = sizeof x->etag - 1;
		memcpy(x->etag, v, vl);
		x->etag[vl] = '\0';
	} else if (len > 15 && strncasecmp(buf, "Content-Length:", 15) == 0) {
		char num[32];
		size_t vl = len - 15 < sizeof num - 1 ? len - 15 : sizeof num - 1;
		memcpy(num, buf + 15, vl);
		num[vl] = '\0';
		x->content_length = strtoull(num, NULL, 10);
		x->have_length = true;
	}
	return len;
}

/* The text between <tag> and </tag> in an XML body, or NULL; *len is its length. */
static const char *xml_find(const char *body, const char *end, const char *tag, size_t *len)
{
	char open[64], close[64];
	snprintf(open, sizeof open, "<%s>", tag);
	snprintf(close, sizeof close, "</%s>", tag);
	const char *a = body ? memmem(body, (size_t)(end - body), open, strlen(open)) : NULL;
	if (!a)
		return NULL;
	a += strlen(open);
	const char *b = memmem(a, (size_t)(end - a), close, strlen(close));
	if (!b)
		return NULL;
	*len = (size_t)(b - a);
	return a;
}

/* Copies XML text into a malloc'ed string, undoing the five entities and &#N;. */
static char *xml_text(const char *p, size_t n)
{
	char *out = util_xmalloc(n + 1), *o = out;
	static const struct { const char *e; char c; } ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' },
		{ "&apos;", '\'' },
	};
	for (size_t i = 0; i < n;) {
		bool done = false;
		if (p[i] == '&') {
			for (size_t e = 0; e < sizeof ents / sizeof ents[0]; e++) {
				size_t el = strlen(ents[e].e);
				if (i + el <= n && memcmp(p + i, ents[e].e, el) == 0) {
					*o++ = ents[e].c;
					i += el;
					done = true;
					break;
				}
			}
			if (!done && i + 3 < n && p[i + 1] == '#') {
				char *stop;
				unsigned long c = p[i + 2] == 'x' ? strtoul(p + i + 3, &stop, 16) :
				                  strtoul(p + i + 2, &stop, 10);
				if ((size_t)(stop - p) < n && *stop == ';' && c > 0 && c < 128) {
					*o++ = (char)c;
					i = (size_t)(stop - p) + 1;
					done = true;
				}
			}
		}
		if (!done)
			*o++ = p[i++];
	}
	*o = '\0';
	return out;
}

struct req {
	const char *method;     /* PUT GET HEAD DELETE */
	const char *key;        /* NULL: the bucket */
	const char *query;      /* canonical query (sorted, encoded) or NULL */
	const char *sha256;     /* payload hash (hex); NULL: that of no body */
};

/*
 * Sends one signed request. x says where the body comes from and goes. Returns 0
 * for a 2xx answer, else the error with *cause naming the request.
 */
static int request(struct s3 *s, const struct req *r, struct xfer *x, char **cause)
{
	struct dbuf path;
	char *host = NULL, *url = NULL, *hdr = NULL;
	struct curl_slist *headers = NULL;
	int rc = 0;
	long code = 0;

	dbuf_init(&path, SIZE_MAX);
	locate(s, r->key, &host, &path);
	url = util_xasprintf("%s://%s%s%s%s", s->scheme, host, path.data, r->query ? "?" : "",
	                     r->query ? r->query : "");
	/* Errors name the object, not the query (which may carry a continuation token). */
	char *where = util_xasprintf("%s://%s%s", s->scheme, host, path.data);

	dbuf_init(&x->err, S3_ERROR_MAX);
	x->curl = s->curl;
	CURL *c = s->curl;
	curl_easy_reset(c);
	s->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(c, CURLOPT_USERNAME, s->access_key);
	curl_easy_setopt(c, CURLOPT_PASSWORD, s->secret_key);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)s->timeout_ms);
	/* A stall (under 1 byte/s for the timeout) ends the transfer; a slow one does not. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)((s->timeout_ms + 999) / 1000));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	hdr = util_xasprintf("x-amz-content-sha256: %s", r->sha256 ? r->sha256 : S3_EMPTY_SHA256);
	headers = curl_slist_append(headers, hdr);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	if (strcmp(r->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, x);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->src_len);
	} else if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "DELETE") == 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	}

	CURLcode cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (x->over) {
		rc = util_fail(cause, -E2BIG, "s3 %s %s: the object is larger than the %" PRIu64
		               " bytes allowed", r->method, where, x->sink_max);
		goto fail;
	}
	if (x->sink_errno) {
		rc = util_fail(cause, -x->sink_errno, "s3 %s %s: %s", r->method, where,
		               strerror(x->sink_errno));
		goto fail;
	}
	if (cr != CURLE_OK) {
		int e = cr == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
		rc = util_fail(cause, e, "s3 %s %s: %s", r->method, where,
		               s->errbuf[0] ? s->errbuf : curl_easy_strerror(cr));
		goto fail;
	}
	if (code < 200 || code >= 300) {
		size_t n = 0;
		const char *errcode = xml_find(x->err.data, x->err.data + x->err.len, "Code", &n);
		char *text = errcode ? xml_text(errcode, n < 100 ? n : 100) : NULL;
		char *safe = util_escape_ctl(text ? text : (code == 404 ? "NoSuchKey" : ""));
		int e = code == 404 ? -ENOENT : (code == 401 || code == 403) ? -EACCES : -EIO;
		rc = util_fail(cause, e, "s3 %s %s: HTTP %ld%s%s", r->method, where, code,
		               safe[0] ? " " : "", safe);
		free(safe);
		free(text);
		goto fail;
	}
fail:
	curl_slist_free_all(headers);
	dbuf_free(&x->err);
	free(hdr);
	free(where);
	free(url);
	free(host);
	dbuf_free(&path);
	return rc;
}

static void xfer_init(struct xfer *x)
{
	memset(x, 0, sizeof *x);
	x->src_fd = -1;
	x->sink_fd = -1;
}

int s3_put(struct s3 *s, const char *key, const void *data, size_t len, char **cause)
{
	if (!key_ok(key))
		return util_fail(cause, -EINVAL, "s3 PUT: the key is empty or longer than %u bytes",
		                 S3_KEY_MAX);
	char sha[65];
	sha256_hex(sha, data, len);
	struct xfer x;
	xfer_init(&x);
	x.src = data ? data : (const void *)"";
	x.src_len = len;
	struct req r = { "PUT", key, NULL, sha };
	return request(s, &r, &x, cause);
}

int s3_put_fd(struct s3 *s, const char *key, int fd, uint64_t len, char **cause)
{
	if (!key_ok(key))
		return util_fail(cause, -EINVAL, "s3 PUT: the key is empty or longer than %u bytes",
		                 S3_KEY_MAX);
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	unsigned char buf[65536];
	for (uint64_t off = 0; off < len;) {
		size_t want = len - off < sizeof buf ? (size_t)(len - off) : sizeof buf;
		ssize_t r = pread(fd, buf, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return util_fail(cause, r < 0 ? -errno : -EIO, "s3 PUT %s: reading the file: "
			                 "%s", key, r < 0 ? strerror(errno) : "shorter than expected");
		crypto_hash_sha256_update(&st, buf, (size_t)r);
		off += (uint64_t)r;
	}
	unsigned char h[32];
	crypto_hash_sha256_final(&st, h);
	char sha[65];
	hex_encode(sha, h, sizeof h);
	struct xfer x;
	xfer_init(&x);
	x.src_fd = fd;
	x.src_len = len;
	struct req r = { "PUT", key, NULL, sha };
	return request(s, &r, &x, cause);
}

int s3_get(struct s3 *s, const char *key, size_t max, void **data, size_t *len, char **cause)
{
	*data = NULL;
	*len = 0;
	if (!key_ok(key))
		return util_fail(cause, -EINVAL, "s3 GET: the key is empty or longer than %u bytes",
		                 S3_KEY_MAX);
	struct dbuf body;
	dbuf_init(&body, max);
	struct xfer x;
	xfer_init(&x);
	x.sink = &body;
	x.sink_max = max;
	struct req r = { "GET", key, NULL, NULL };
	int rc = request(s, &r, &x, cause);
	if (rc < 0) {
		dbuf_free(&body);
		return rc;
	}
	*len = body.len;
	*data = dbuf_take(&body);
	return 0;
}

int s3_get_fd(struct s3 *s, const char *key, int fd, uint64_t max, uint64_t *len, char **cause)
{
	if (len)
		*len = 0;
	if (!key_ok(key))
		return util_fail(cause, -EINVAL, "s3 GET: the key is empty or longer than %u bytes",
		                 S3_KEY_MAX);
	struct xfer x;
	xfer_init(&x);
	x.sink_fd = fd;
	x.sink_max = max;
	struct req r = { "GET", key, NULL, NULL };
	int rc = request(s, &r, &x, cause);
	if (len)
		*len = x.sink_len;
	return rc;
}

int s3_head(struct s3 *s, const char *key, struct s3_stat *st, char **cause)
{
	memset(st, 0, sizeof *st);
	if (!key_ok(key))
		return util_fail(cause, -EINVAL, "s3 HEAD: the key is empty or longer than %u bytes",
		                 S3_KEY_MAX);
	struct xfer x;
	xfer_init(&x);
	struct req r = { "HEAD", key, NULL, NULL };
	int rc = request(s, &r, &x, cause);
	if (rc < 0)
		return rc;
	st->size = x.content_length;
	memcpy(st->etag, x.etag, sizeof st->etag);
	return 0;
}

int s3_delete(struct s3 *s, const char *key, char **cause)
{
	if (!key_ok(key))
		return util_fail(cause, -EINVAL, "s3 DELETE: the key is empty or longer than %u "
		                 "bytes", S3_KEY_MAX);
	struct xfer x;
	xfer_init(&x);
	struct req r = { "DELETE", key, NULL, NULL };
	return request(s, &r, &x, cause);
}

int s3_list(struct s3 *s, const char *prefix, size_t max_keys, s3_list_fn fn, void *arg,
            bool *truncated, char **cause)
{
	if (truncated)
		*truncated = false;
	char *token = NULL;
	size_t given = 0;
	int rc = 0;
	struct dbuf page, query;
	dbuf_init(&page, S3_PAGE_MAX);
	dbuf_init(&query, SIZE_MAX);
	while (given < max_keys) {
		size_t want = max_keys - given < 1000 ? max_keys - given : 1000;
		/* Parameters sorted by name: the canonical query is the query sent. */
		dbuf_reset(&page);
		dbuf_reset(&query);
		if (token) {
			dbuf_adds(&query, "continuation-token=");
			uri_encode(&query, token, false);
			dbuf_adds(&query, "&");
		}
		dbuf_printf(&query, "list-type=2&max-keys=%zu", want);
		if (prefix && prefix[0]) {
			dbuf_adds(&query, "&prefix=");
			uri_encode(&query, prefix, false);
		}
		struct xfer x;
		xfer_init(&x);
		x.sink = &page;
		x.sink_max = S3_PAGE_MAX;
		struct req r = { "GET", NULL, query.data, NULL };
		rc = request(s, &r, &x, cause);
		if (rc < 0)
			goto fail;
		const char *p = page.data ? page.data : "", *end = p + page.len;
		if (!memmem(p, page.len, "<ListBucketResult", 17)) {
			rc = util_fail(cause, -EIO, "s3 list %s/%s: the answer is not a ListBucketResult",
			               s->endpoint, s->bucket);
			goto fail;
		}
		const char *c;
		size_t n;
		while (given < max_keys && (c = xml_find(p, end, "Contents", &n))) {
			const char *cend = c + n;
			size_t kl = 0, sl = 0, el = 0;
			const char *k = xml_find(c, cend, "Key", &kl);
			const char *sz = xml_find(c, cend, "Size", &sl);
			const char *et = xml_find(c, cend, "ETag", &el);
			if (!k) {
				rc = util_fail(cause, -EIO, "s3 list %s/%s: an entry has no Key",
				               s->endpoint, s->bucket);
				goto fail;
			}
			struct s3_stat st = { 0 };
			char *key = xml_text(k, kl);
			if (sz) {
				char *t = xml_text(sz, sl);
				st.size = strtoull(t, NULL, 10);
				free(t);
			}
			if (et) {
				char *t = xml_text(et, el), *q = t;
				while (*q == '"')
					q++;
				util_strlcpy_utf8(st.etag, q, sizeof st.etag);
				char *qe = strchr(st.etag, '"');
				if (qe)
					*qe = '\0';
				free(t);
			}
			int r2 = fn(arg, key, &st);
			free(key);
			given++;
			if (r2 != 0) {
				rc = r2;
				goto fail;
			}
			p = cend;
		}
		const char *tr = xml_find(page.data, end, "IsTruncated", &n);
		bool more = tr && n == 4 && memcmp(tr, "true", 4) == 0;
		free(token);
		token = NULL;
		if (!more)
			break;
		if (given >= max_keys) {
			if (truncated)
				*truncated = true;
			break;
		}
		const char *nt = xml_find(page.data, end, "NextContinuationToken", &n);
		if (!nt || n == 0) {
			rc = util_fail(cause, -EIO, "s3 list %s/%s: a truncated page without a "
			               "NextContinuationToken", s->endpoint, s->bucket);
			goto fail;
		}
		token = xml_text(nt, n);
	}
fail:
	free(token);
	dbuf_free(&page);
	dbuf_free(&query);
	return rc;
}
