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
 * or the next. Cutting lines off the end, emptying or deleting the file, or
 * rewriting the whole chain leaves a valid chain, so each append also stores the
 * log's record count, byte length and head hash in the database, sealed with
 * the data directory's key (store_audit_anchor_set), under the log's lock;
 * audit_verify compares the log with that anchor. A copy of an older anchor put
 * back together with the log cut back to it is not found: the anchor proves
 * that the log is not shorter than mimic last left it, for whoever cannot
 * write the database's key. What is logged: consent, pauses and resumes, forgets, retention
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
 * JSON object of counts and ids (NULL: {}), never recorded content. Then
 * stores the log's anchor in data_dir's database (created, with its key, when
 * missing). Errors with *cause: -EINVAL (bad what or details), -EACCES /
 * -ENOSPC / -EIO (cannot write); the store's errors (store_open, vault_open)
 * when the record was written but its anchor could not be stored.
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
 * Checks the whole chain, then the log against its anchor in the database
 * (read-only; the key is needed). Returns 0 with *records and head (the last
 * hash, "" when the log is empty) set. Errors, each with a one-line *cause:
 * -EBADMSG the log was tampered with: *bad_line is the first line that is not
 * intact ("line N: reason"), or the first line missing when the log is shorter
 * than its anchor, or the log was deleted ("the log is missing, ..."), or the
 * anchor does not decrypt; -ENODATA the log's end cannot be checked: the
 * database holds no anchor (upgraded from a mimic before schema version 9, or
 * the anchor was removed) or records follow the last anchored one (*records
 * and head are set); -ENOENT when there is no log and no anchor; the store's
 * errors when the database or its key cannot be read.
 */
int audit_verify(const char *data_dir, int64_t *records /* OUT */, int64_t *bad_line /* OUT */,
                 char head[AUDIT_HASH_HEX + 1] /* OUT */, char **cause);

#endif
