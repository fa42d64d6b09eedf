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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "paths.h"
#include "store.h"
#include "testbreak.h"
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

/*
 * Stores the log's new length and head in the database (store_audit_anchor_set),
 * where cutting the log cannot reach them. fd is the log, locked.
 */
static int anchor(const char *data_dir, int fd, int64_t records,
                  const char head[AUDIT_HASH_HEX + 1], char **cause)
{
	struct store_audit_anchor a;
	struct store *st = NULL;
	struct stat sb;
	char *why = NULL;
	int rc;

	if (fstat(fd, &sb) != 0)
		return util_fail(cause, -EIO, "cannot read the length of the audit log in %s: %s",
		                 data_dir, strerror(errno));
	a.records = records;
	a.bytes = (int64_t)sb.st_size;
	memcpy(a.head, head, sizeof(a.head));
	rc = store_open(data_dir, 0, &st, &why);
	if (rc == 0)
		rc = store_audit_anchor_set(st, &a, &why);
	store_close(st);
	if (rc != 0)
		rc = util_fail(cause, rc, "the audit record was written but its anchor could not be "
		               "stored: %s", why != NULL ? why : "unknown reason");
	free(why);
	return rc;
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
	fd = paths_open_private(path, O_RDWR | O_APPEND, cause);
	if (fd < 0) {
		rc = fd == -ENOSPC ? -ENOSPC : -EACCES;
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
	/* Still under the lock, so that the anchor and the log move together. */
	rc = anchor(data_dir, fd, seq + 1, hash, cause);
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

/*
 * Opens the log for reading with a shared lock, so that no append (which holds
 * the exclusive lock while it writes the line and its anchor) is seen half done.
 * -ENOENT when there is none.
 */
static int open_log(const char *data_dir, FILE **out, char **cause)
{
	char *path = util_xasprintf("%s/%s", data_dir, AUDIT_FILE);
	FILE *f = fopen(path, "re");
	int rc = 0;

	*out = NULL;
	if (f == NULL) {
		if (errno == ENOENT)
			rc = util_fail(cause, -ENOENT, "no audit log in %s yet (%s)", data_dir,
			               AUDIT_FILE);
		else
			rc = util_fail(cause, -EACCES, "cannot read the audit log %s: %s", path,
			               strerror(errno));
	} else if (flock(fileno(f), LOCK_SH) != 0) {
		rc = util_fail(cause, -EIO, "cannot lock the audit log %s: %s", path,
		               strerror(errno));
		fclose(f);
	} else {
		*out = f;
	}
	free(path);
	return rc;
}

/*
 * Calls line_fn for each line of the log f (1-based numbers, newline removed;
 * end is the offset just past the line and its newline).
 */
static int each_line(FILE *f, int (*line_fn)(int64_t no, char *line, size_t len, int64_t end,
                                             void *arg),
                     void *arg)
{
	char *line = NULL;
	size_t cap = 0;
	int64_t no = 0, end = 0;
	ssize_t n;
	int rc = 0;

	while ((n = getline(&line, &cap, f)) > 0) {
		no++;
		end += n;
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		rc = line_fn(no, line, (size_t)n, end, arg);
		if (rc != 0)
			break;
	}
	free(line);
	return rc;
}

struct foreach_arg {
	int (*fn)(const struct audit_record *r, void *arg);
	void *arg;
};

static int foreach_line(int64_t no, char *line, size_t len, int64_t end, void *arg)
{
	struct foreach_arg *a = arg;
	struct audit_record r = { .line = no, .text = line, .what = "?", .time = "", .user = "",
	                          .details = "{}" };
	json_t *o = json_loadb(line, len, 0, NULL);
	char *details = NULL;
	int rc;

	(void)end;
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
	FILE *f = NULL;
	int rc;

	rc = open_log(data_dir, &f, cause);
	if (rc != 0)
		return rc;
	rc = each_line(f, foreach_line, &a);
	fclose(f);
	return rc;
}

struct verify_arg {
	char prev[AUDIT_HASH_HEX + 1];
	int64_t seq;
	int64_t bad;
	const char *why;
	int64_t anchored;                   /* the anchor's record count; -1 when none */
	char anchored_head[AUDIT_HASH_HEX + 1]; /* the hash of that record, once reached */
	int64_t anchored_end;               /* the log's length after that record, once reached */
};

static int verify_line(int64_t no, char *line, size_t len, int64_t end, void *arg)
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
	if (seq == v->anchored) {
		memcpy(v->anchored_head, hash, sizeof(hash));
		v->anchored_end = end;
	}
	return 0;
}

/*
 * Reads the anchor of the log into *a. -ENODATA (with a cause saying why) when
 * the data directory has no anchor to compare with: no database, one from
 * before the anchor existed, or no anchor row.
 */
static int read_anchor(const char *data_dir, struct store_audit_anchor *a, char **cause)
{
	struct store *st = NULL;
	char *why = NULL;
	int rc;

	rc = store_open(data_dir, STORE_READONLY, &st, &why);
	if (rc == 0)
		rc = store_audit_anchor_get(st, a, &why);
	store_close(st);
	if (rc == -ENOENT || rc == -EPROTO) {
		rc = util_fail(cause, -ENODATA, "%s", rc == -EPROTO ?
		               "the database is older than the audit log's anchor (schema version "
		               "9)" : "the database holds no anchor of the audit log");
		free(why);
		return rc;
	}
	if (rc != 0)
		rc = util_fail(cause, rc, "%s", why != NULL ? why : "cannot read the anchor");
	free(why);
	return rc;
}

int audit_verify(const char *data_dir, int64_t *records, int64_t *bad_line,
                 char head[AUDIT_HASH_HEX + 1], char **cause)
{
	struct store_audit_anchor a;
	struct verify_arg v;
	char *no_anchor = NULL, *log_cause = NULL;
	FILE *f = NULL;
	int rc, log_rc;

	memset(&v, 0, sizeof(v));
	memcpy(v.prev, zero_hash, sizeof(zero_hash));
	*records = 0;
	*bad_line = 0;
	head[0] = '\0';
	/* The log first, so that its lock keeps appends out until the anchor is read too. */
	log_rc = open_log(data_dir, &f, &log_cause);
	if (log_rc != 0 && log_rc != -ENOENT) {
		rc = util_fail(cause, log_rc, "%s", log_cause);
		free(log_cause);
		return rc;
	}
	rc = read_anchor(data_dir, &a, &no_anchor);
	if (rc != 0 && rc != -ENODATA)
		goto fail;
	v.anchored = rc == 0 ? a.records : -1;
	if (f == NULL) {
		if (v.anchored > 0 && !testbreak("audit-anchor-ignored")) {
			*bad_line = 1;
			rc = util_fail(cause, -EBADMSG, "the log is missing, but the database anchors "
			               "%lld records to it: it was deleted", (long long)a.records);
		} else {
			rc = util_fail(cause, log_rc, "%s", log_cause);
		}
		goto fail;
	}
	rc = each_line(f, verify_line, &v);
	if (rc == -EBADMSG) {
		*bad_line = v.bad;
		rc = util_fail(cause, -EBADMSG, "line %lld: %s", (long long)v.bad, v.why);
		goto fail;
	}
	if (rc != 0)
		goto fail;
	*records = v.seq;
	if (v.seq > 0)
		memcpy(head, v.prev, AUDIT_HASH_HEX + 1);
	if (testbreak("audit-anchor-ignored"))
		goto fail; /* the chain alone, as before the anchor */
	if (v.anchored < 0) {
		/* An empty log has nothing to cut: it needs no anchor. */
		if (v.seq > 0)
			rc = util_fail(cause, -ENODATA, "%s, so the end of its %lld records cannot be "
			               "checked (a database upgraded from an older mimic, or the anchor "
			               "was removed); the next record mimic appends anchors it",
			               no_anchor, (long long)v.seq);
		goto fail;
	}
	if (v.seq < v.anchored) {
		*bad_line = v.seq + 1;
		if (v.seq == 0)
			rc = util_fail(cause, -EBADMSG, "the log is empty, but the database anchors "
			               "%lld records to it: it was emptied", (long long)v.anchored);
		else
			rc = util_fail(cause, -EBADMSG, "the log ends at record %lld, but the database "
			               "anchors %lld records to it: its last %lld were removed",
			               (long long)v.seq, (long long)v.anchored,
			               (long long)(v.anchored - v.seq));
		goto fail;
	}
	if (strcmp(v.anchored_head, a.head) != 0 || v.anchored_end != a.bytes) {
		*bad_line = v.anchored;
		rc = util_fail(cause, -EBADMSG, "line %lld: it is not the record the database "
		               "anchors as record %lld (its hash or the log's length up to it "
		               "differs): the log was rewritten", (long long)v.anchored,
		               (long long)v.anchored);
		goto fail;
	}
	if (v.seq > v.anchored)
		rc = util_fail(cause, -ENODATA, "records %lld to %lld come after the last record the "
		               "database anchors (%lld): they were added by something other than "
		               "mimic, or mimic could not store their anchor",
		               (long long)v.anchored + 1, (long long)v.seq, (long long)v.anchored);
fail:
	free(log_cause);
	free(no_anchor);
	if (f != NULL)
		fclose(f);
	return rc;
}
