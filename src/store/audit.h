/*
 * audit: the append-only, hash-chained audit log of a data directory.
 *
 * DATA_DIR/audit.log (mode 0600) has one JSON object per line, e.g.
 *
 *   {"seq":3,"time":"2026-11-30T15:23:16.123Z","user":"ada","pid":4242,
 *    "what":"forget","details":{"last":"15m","events":120},
 *    "prev":"<64 hex>","hash":"<64 hex>"}
 *
 * hash is the BLAKE2b-256 (libsodium crypto_generichash) of the line's bytes
 * without its `,"hash":"..."` member, i.e. of `{..."prev":"<64 hex>"}`; prev is
 * the previous line's hash (64 zeros for the first line); seq counts from 1.
 * So a line that is edited, removed or inserted breaks the chain at that line
 * or the next; rewriting the whole chain, or cutting lines off its end, is
 * found only by comparing the head hash (audit_verify) with a copy kept
 * elsewhere. What is logged: consent, pauses and resumes, forgets, retention
 * deletions, exports and uploads; never recorded content (no keys, titles,
 * URLs, element names or pixels), only counts, ranges and ids.
 *
 * Appends take an exclusive flock on the file, so the recorder and the CLI can
 * append at the same time.
 */
#ifndef MIMIC_AUDIT_H
#define MIMIC_AUDIT_H

#include <stdint.h>

#define AUDIT_FILE "audit.log"
#define AUDIT_HASH_HEX 64
/* Longest line audit_append writes or audit_verify reads. */
#define AUDIT_LINE_MAX 8192

/*
 * Appends a record to data_dir/audit.log (created 0600 when missing; data_dir
 * must exist). what is a short lower-case word ("consent", "pause", "resume",
 * "forget", "retention", "export", "upload"); details_json is the text of a
 * JSON object of counts and ids (NULL: {}), never recorded content. Errors with
 * *cause: -EINVAL (bad what or details), -EACCES / -ENOSPC / -EIO (cannot write).
 */
int audit_append(const char *data_dir, const char *what, const char *details_json,
                 char **cause);

/* One record, as audit_foreach passes it. Pointers valid during the call. */
struct audit_record {
	int64_t line;          /* 1-based line number */
	int64_t seq;
	const char *time;      /* ISO 8601 UTC */
	const char *user;
	const char *what;
	const char *details;   /* compact JSON object */
	const char *text;      /* the whole line, without the newline */
};

/*
 * Calls fn for each record in order; stops and returns fn's value when it is
 * non-zero. A line that is not a record is passed with what = "?" (use
 * audit_verify to check the log). -ENOENT when there is no log.
 */
int audit_foreach(const char *data_dir, int (*fn)(const struct audit_record *r, void *arg),
                  void *arg, char **cause);

/*
 * Checks the whole chain. Returns 0 with *records and head (the last hash, ""
 * when the log is empty) set; -EBADMSG with *bad_line the first line that is
 * not intact and *cause "LINE N: reason"; -ENOENT when there is no log.
 */
int audit_verify(const char *data_dir, int64_t *records /* OUT */, int64_t *bad_line /* OUT */,
                 char head[AUDIT_HASH_HEX + 1] /* OUT */, char **cause);

#endif
