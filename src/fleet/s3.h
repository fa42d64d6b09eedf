/*
 * s3: a small client of S3-compatible object storage (AWS S3, Ceph radosgw, MinIO)
 * for the collector and the dataset builders: PUT, GET, HEAD, DELETE and a bounded
 * listing by prefix, signed with AWS Signature Version 4 by libcurl
 * (CURLOPT_AWS_SIGV4), and presigned PUT/GET URLs (SigV4 query signing) that let a
 * device upload a bundle straight to storage without passing its bytes through the
 * collector.
 *
 * Objects are addressed path-style, ENDPOINT/BUCKET/KEY, unless `virtual_host` asks
 * for BUCKET.HOST/KEY. Keys are sent RFC 3986-encoded ('/' kept). Every payload is
 * signed with its SHA-256 (x-amz-content-sha256), which the server checks against the
 * bytes it received, so a PUT that arrives damaged is refused.
 *
 * Errors: functions return 0 or a negative errno-style code and fill *cause (the
 * caller frees; cause may be NULL) with one line naming the endpoint, the bucket and
 * key, the HTTP status and the S3 error code (e.g. "s3 PUT http://127.0.0.1:7480/b/k:
 * HTTP 403 SignatureDoesNotMatch"). -ENOENT is a missing object or bucket (404),
 * -EACCES a refusal (401/403), -E2BIG an answer over the caller's bound, -ETIMEDOUT
 * a timeout, -EIO anything else. Nothing is retried: retries are the caller's.
 *
 * Threads: a `struct s3` is used by one thread at a time (it keeps one libcurl
 * handle so that connections are reused); open one per thread.
 */
#ifndef MIMIC_S3_H
#define MIMIC_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct s3;

struct s3_config {
	const char *endpoint;    /* "http://127.0.0.1:7480" or "https://s3.eu-west-1.amazonaws.com" */
	const char *region;      /* NULL: "us-east-1" (what radosgw accepts by default) */
	const char *access_key;  /* required */
	const char *secret_key;  /* required */
	const char *bucket;      /* required: every call works in this bucket */
	bool virtual_host;       /* BUCKET.HOST/KEY instead of HOST/BUCKET/KEY */
	int64_t timeout_ms;      /* connect timeout, and the longest a transfer may stall
	                          * (no byte moving); 0: 10 s */
};

/* One object's metadata (HEAD, list). */
struct s3_stat {
	uint64_t size;
	char etag[80];           /* without the quotes; "" when the server gave none */
};

/*
 * Opens a client. Copies what it needs from cfg (cfg may be freed after). Errors:
 * -EINVAL with *cause for a missing field or an endpoint that is not http(s)://.
 */
int s3_open(const struct s3_config *cfg, struct s3 **out /* OUT */, char **cause);

/* Closes the client. NULL is allowed. */
void s3_close(struct s3 *s);

/*
 * Stores len bytes at key (replacing any object there). The payload's SHA-256 is
 * signed and checked by the server.
 */
int s3_put(struct s3 *s, const char *key, const void *data, size_t len, char **cause);

/*
 * Stores the len bytes of fd from its offset 0 (read with pread, so the file
 * offset is untouched): the file is read twice, once for its SHA-256 and once to
 * send it. Errors as s3_put, and -errno when fd cannot be read.
 */
int s3_put_fd(struct s3 *s, const char *key, int fd, uint64_t len, char **cause);

/*
 * Reads the object at key into *data (malloc'ed, NUL-terminated for convenience,
 * the caller frees) and *len. An object larger than max is -E2BIG (nothing kept).
 */
int s3_get(struct s3 *s, const char *key, size_t max, void **data /* OUT */,
           size_t *len /* OUT */, char **cause);

/*
 * Writes the object at key to fd (at its current offset). An object larger than
 * max is -E2BIG; what was written before that is the caller's to truncate.
 * *len (may be NULL) is the number of bytes written.
 */
int s3_get_fd(struct s3 *s, const char *key, int fd, uint64_t max, uint64_t *len /* OUT */,
              char **cause);

/* The size and ETag of the object at key; -ENOENT when there is none. */
int s3_head(struct s3 *s, const char *key, struct s3_stat *st /* OUT */, char **cause);

/* Deletes the object at key. Deleting a missing object succeeds (S3 says 204). */
int s3_delete(struct s3 *s, const char *key, char **cause);

/*
 * Called by s3_list for each key, in the server's (lexicographic) order. Returning
 * non-zero stops the listing, and s3_list returns that value.
 */
typedef int (*s3_list_fn)(void *arg, const char *key, const struct s3_stat *st);

/*
 * Lists the keys that start with prefix (NULL or "" for all), following the
 * server's continuation tokens, calling fn for each. At most max_keys keys are
 * given; when more exist, *truncated (may be NULL) is set true. Each page of the
 * answer is bounded (4 MiB); a malformed page is -EIO.
 */
int s3_list(struct s3 *s, const char *prefix, size_t max_keys, s3_list_fn fn, void *arg,
            bool *truncated /* OUT */, char **cause);

/*
 * A presigned URL for `method` ("PUT" or "GET") on key, valid for expires_s seconds
 * (1..604800) from now_s (Unix seconds; the caller passes the time so that tests
 * can pin it). Only the host is a signed header and the payload is UNSIGNED-PAYLOAD:
 * whoever holds the URL may send any bytes to that one key until it expires (the
 * collector checks a bundle's content address when the device reports it). *url is
 * malloc'ed; the caller frees it. Needs no network. -EINVAL for a bad method or
 * expiry.
 */
int s3_presign(const struct s3 *s, const char *method, const char *key, int64_t now_s,
               unsigned expires_s, char **url /* OUT */, char **cause);

/*
 * The object URL of key (ENDPOINT/BUCKET/ENCODED-KEY or the virtual-host form),
 * malloc'ed; the caller frees it.
 */
char *s3_object_url(const struct s3 *s, const char *key);

#endif
