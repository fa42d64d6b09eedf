/*
 * audit: the hash-chained audit log (see audit.h for the format and what it
 * does and does not prove).
 */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* `,"hash":"` + 64 hex + `"}` */
#define HASH_TAIL_LEN (9 + AUDIT_HASH_HEX + 2)

static const char zero_hash[AUDIT_HASH_HEX + 1] =
	"0000000000000000000000000000000000000000000000000000000000000000";

static void hash_hex(const char *body, size_t len, char hex[AUDIT_HASH_HEX + 1])
{
	uint8_t h[32];

	crypto_generichash(h, sizeof(h), (const uint8_t *)body, len, NULL, 0);
	sodium_bin2hex(hex, AUDIT_HASH_HEX + 1, h, sizeof(h));
}

/*
 * Checks one line against the previous record (prev hash, prev seq). Sets hash
 * and seq of this line. Returns NULL, or why the line is not intact.
 */
static const char *check_line(const char *line, size_t len, const char *prev, int64_t prev_seq,
                              char hash[AUDIT_HASH_HEX + 1], int64_t *seq)
{
	char want[AUDIT_HASH_HEX + 1];
	json_t *o;
	const char *p, *h;
	char *body;
	const char *why = NULL;

	if (len < HASH_TAIL_LEN + 2 || len > AUDIT_LINE_MAX)
		return "not an audit record";
	if (memcmp(line + len - HASH_TAIL_LEN, ",\"hash\":\"", 9) != 0 ||
	    memcmp(line + len - 2, "\"}", 2) != 0)
		return "its hash is missing";
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return "not valid JSON";
	}
	p = json_string_value(json_object_get(o, "prev"));
	h = json_string_value(json_object_get(o, "hash"));
	*seq = json_integer_value(json_object_get(o, "seq"));
	if (p == NULL || h == NULL || strlen(h) != AUDIT_HASH_HEX ||
	    !json_is_string(json_object_get(o, "what")) ||
	    !json_is_object(json_object_get(o, "details"))) {
		why = "a field is missing";
		goto fail;
	}
	if (strcmp(p, prev) != 0) {
		why = "it does not follow the line before it (prev hash differs: a line was "
		      "changed, removed or inserted)";
		goto fail;
	}
	if (*seq != prev_seq + 1) {
		why = "its sequence number is out of order";
		goto fail;
	}
	body = util_xmalloc(len);
	memcpy(body, line, len - HASH_TAIL_LEN);
	body[len - HASH_TAIL_LEN] = '}';
	hash_hex(body, len - HASH_TAIL_LEN + 1, want);
	free(body);
	if (strcmp(want, h) != 0) {
		why = "its content does not match its hash (the line was changed)";
		goto fail;
	}
	memcpy(hash, h, AUDIT_HASH_HEX + 1);
fail:
	json_decref(o);
	return why;
}

/* Reads the last record's hash and seq (zeros and 0 for an empty log). */
static void read_tail(FILE *f, char hash[AUDIT_HASH_HEX + 1], int64_t *seq)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	memcpy(hash, zero_hash, sizeof(zero_hash));
	*seq = 0;
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *o;
		const char *h;

		while (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0)
			continue;
		o = json_loadb(line, (size_t)n, 0, NULL);
		h = json_string_value(json_object_get(o, "hash"));
		if (h != NULL && strlen(h) == AUDIT_HASH_HEX)
			memcpy(hash, h, AUDIT_HASH_HEX + 1);
		/* A damaged line still counts, so that the chain shows where it broke. */
		(*seq)++;
		if (json_is_integer(json_object_get(o, "seq")))
			*seq = json_integer_value(json_object_get(o, "seq"));
		json_decref(o);
	}
	free(line);
}

static void now_iso(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char date[32];

	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, n, "%.20s.%03dZ", date, (int)(ts.tv_nsec / 1000000) % 1000);
}

static int valid_what(const char *w)
{
	size_t n = w != NULL ? strlen(w) : 0;

	if (n == 0 || n > 31)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((w[i] >= 'a' && w[i] <= 'z') || w[i] == '-' || w[i] == '_'))
			return 0;
	return 1;
}

int audit_append(const char *data_dir, const char *what, const char *details_json,
                 char **cause)
{
	char prev[AUDIT_HASH_HEX + 1], hash[AUDIT_HASH_HEX + 1], when[48], user[64];
	struct passwd *pw = getpwuid(getuid());
	char *path = NULL, *body = NULL, *line = NULL;
	json_t *details = NULL, *o = NULL;
	FILE *f = NULL;
	int64_t seq;
	int fd = -1, rc = 0;
	size_t n;

	if (sodium_init() < 0)
		return util_fail(cause, -EIO, "cannot start libsodium");
	if (!valid_what(what))
		return util_fail(cause, -EINVAL, "invalid audit record kind \"%.40s\"",
		                 what ? what : "");
	details = details_json != NULL ? json_loads(details_json, 0, NULL) : json_object();
	if (details == NULL || !json_is_object(details)) {
		json_decref(details);
		return util_fail(cause, -EINVAL, "audit details are not a JSON object");
	}
	path = util_xasprintf("%s/%s", data_dir, AUDIT_FILE);
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = util_fail(cause, errno == ENOSPC ? -ENOSPC : -EACCES,
		               "cannot write the audit log %s: %s", path, strerror(errno));
		goto fail;
	}
	if (flock(fd, LOCK_EX) != 0) {
		rc = util_fail(cause, -EIO, "cannot lock the audit log %s: %s", path,
		               strerror(errno));
		goto fail;
	}
	f = fdopen(dup(fd), "r");
	if (f == NULL) {
		rc = util_fail(cause, -EIO, "cannot read the audit log %s: %s", path,
		               strerror(errno));
		goto fail;
	}
	read_tail(f, prev, &seq);
	if (pw != NULL)
		util_strlcpy_utf8(user, pw->pw_name, sizeof(user));
	else
		snprintf(user, sizeof(user), "%u", (unsigned)getuid());
	now_iso(when, sizeof(when));
	o = json_pack("{s:I,s:s,s:s,s:i,s:s,s:O,s:s}", "seq", (json_int_t)(seq + 1), "time", when,
	              "user", user, "pid", (int)getpid(), "what", what, "details", details,
	              "prev", prev);
	body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	n = strlen(body);
	if (n + HASH_TAIL_LEN + 1 > AUDIT_LINE_MAX) {
		rc = util_fail(cause, -EINVAL, "audit record too long (%zu bytes)", n);
		goto fail;
	}
	hash_hex(body, n, hash);
	body[n - 1] = '\0'; /* drop the closing brace; the hash member closes the object */
	line = util_xasprintf("%s,\"hash\":\"%s\"}\n", body, hash);
	n = strlen(line);
	if (write(fd, line, n) != (ssize_t)n || fsync(fd) != 0) {
		rc = util_fail(cause, errno == ENOSPC ? -ENOSPC : -EIO,
		               "cannot write the audit log %s: %s", path, strerror(errno));
		goto fail;
	}
fail:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd); /* also releases the lock */
	json_decref(o);
	json_decref(details);
	free(line);
	free(body);
	free(path);
	return rc;
}

/* Calls line_fn for each line of the log (1-based numbers, newline removed). */
static int each_line(const char *data_dir, int (*line_fn)(int64_t no, char *line, size_t len,
                                                          void *arg),
                     void *arg, char **cause)
{
	char *path = util_xasprintf("%s/%s", data_dir, AUDIT_FILE), *line = NULL;
	size_t cap = 0;
	int64_t no = 0;
	ssize_t n;
	int rc = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL) {
		rc = util_fail(cause, errno == ENOENT ? -ENOENT : -EACCES,
		               errno == ENOENT ? "no audit log in %s yet (%s)" :
		               "cannot read the audit log %s: %s", errno == ENOENT ? data_dir : path,
		               errno == ENOENT ? AUDIT_FILE : strerror(errno));
		free(path);
		return rc;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		no++;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		rc = line_fn(no, line, (size_t)n, arg);
		if (rc != 0)
			break;
	}
	free(line);
	fclose(f);
	free(path);
	return rc;
}

struct foreach_arg {
	int (*fn)(const struct audit_record *r, void *arg);
	void *arg;
};

static int foreach_line(int64_t no, char *line, size_t len, void *arg)
{
	struct foreach_arg *a = arg;
	struct audit_record r = { .line = no, .text = line, .what = "?", .time = "", .user = "",
	                          .details = "{}" };
	json_t *o = json_loadb(line, len, 0, NULL);
	char *details = NULL;
	int rc;

	if (o != NULL && json_is_object(o)) {
		r.seq = json_integer_value(json_object_get(o, "seq"));
		if (json_is_string(json_object_get(o, "time")))
			r.time = json_string_value(json_object_get(o, "time"));
		if (json_is_string(json_object_get(o, "user")))
			r.user = json_string_value(json_object_get(o, "user"));
		if (json_is_string(json_object_get(o, "what")))
			r.what = json_string_value(json_object_get(o, "what"));
		if (json_is_object(json_object_get(o, "details"))) {
			details = json_dumps(json_object_get(o, "details"),
			                     JSON_COMPACT | JSON_PRESERVE_ORDER);
			r.details = details;
		}
	}
	rc = a->fn(&r, a->arg);
	free(details);
	json_decref(o);
	return rc;
}

int audit_foreach(const char *data_dir, int (*fn)(const struct audit_record *r, void *arg),
                  void *arg, char **cause)
{
	struct foreach_arg a = { fn, arg };

	return each_line(data_dir, foreach_line, &a, cause);
}

struct verify_arg {
	char prev[AUDIT_HASH_HEX + 1];
	int64_t seq;
	int64_t bad;
	const char *why;
};

static int verify_line(int64_t no, char *line, size_t len, void *arg)
{
	struct verify_arg *v = arg;
	char hash[AUDIT_HASH_HEX + 1];
	int64_t seq = 0;

	v->why = check_line(line, len, v->prev, v->seq, hash, &seq);
	if (v->why != NULL) {
		v->bad = no;
		return -EBADMSG;
	}
	memcpy(v->prev, hash, sizeof(hash));
	v->seq = seq;
	return 0;
}

int audit_verify(const char *data_dir, int64_t *records, int64_t *bad_line,
                 char head[AUDIT_HASH_HEX + 1], char **cause)
{
	struct verify_arg v;
	int rc;

	memset(&v, 0, sizeof(v));
	memcpy(v.prev, zero_hash, sizeof(zero_hash));
	*records = 0;
	*bad_line = 0;
	head[0] = '\0';
	rc = each_line(data_dir, verify_line, &v, cause);
	if (rc == -EBADMSG) {
		*bad_line = v.bad;
		return util_fail(cause, -EBADMSG, "line %lld: %s", (long long)v.bad, v.why);
	}
	if (rc != 0)
		return rc;
	*records = v.seq;
	if (v.seq > 0)
		memcpy(head, v.prev, AUDIT_HASH_HEX + 1);
	return 0;
}
