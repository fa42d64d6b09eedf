/*
 * dbuf: a growable byte buffer with a hard maximum size, for everything fed from
 * outside (IPC messages, files, HTTP bodies). Appending past the maximum fails
 * instead of growing without bound.
 */
#ifndef MIMIC_DBUF_H
#define MIMIC_DBUF_H

#include <stdarg.h>
#include <stddef.h>

struct dbuf {
	char *data;      /* always NUL-terminated when len > 0 or after any append */
	size_t len;      /* bytes used, not counting the terminating NUL */
	size_t cap;      /* bytes allocated */
	size_t max;      /* largest len allowed */
};

/* Initialises an empty buffer that may hold at most max bytes. Allocates nothing. */
void dbuf_init(struct dbuf *b, size_t max);

/* Appends n bytes. Returns 0, -E2BIG when len would pass max, or -ENOMEM. */
int dbuf_add(struct dbuf *b, const void *p, size_t n);

/* Appends a NUL-terminated string. Same returns as dbuf_add. */
int dbuf_adds(struct dbuf *b, const char *s);

/* Appends formatted text. Same returns as dbuf_add. */
int dbuf_printf(struct dbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Empties the buffer, keeping its memory. */
void dbuf_reset(struct dbuf *b);

/* Frees the memory; the buffer may be reused after dbuf_init. */
void dbuf_free(struct dbuf *b);

/* Hands the data to the caller (who frees it) and empties the buffer. Never NULL. */
char *dbuf_take(struct dbuf *b);

#endif
