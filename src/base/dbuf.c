/*
 * dbuf: a growable byte buffer with a hard maximum (after curl's dynbuf). Every
 * buffer mimic fills from outside goes through here, so that a peer sending too
 * much gets -E2BIG instead of making mimic grow without bound.
 */
#include "dbuf.h"

#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation; small buffers (IPC lines, paths) rarely need more. */
#define DBUF_MIN_CAP 64

void dbuf_init(struct dbuf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

/* Makes room for n more bytes plus the terminating NUL. */
static int dbuf_grow(struct dbuf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (n > b->max || b->len > b->max - n)
		return -E2BIG;
	need = b->len + n + 1; /* cannot overflow: len + n <= max < SIZE_MAX */
	if (need <= b->cap)
		return 0;

	cap = b->cap < DBUF_MIN_CAP ? DBUF_MIN_CAP : b->cap;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	/* Never allocate more than the largest buffer that may ever be needed. */
	if (b->max < SIZE_MAX && cap > b->max + 1)
		cap = b->max + 1;
	if (cap < need)
		cap = need;

	p = realloc(b->data, cap);
	if (p == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int dbuf_add(struct dbuf *b, const void *p, size_t n)
{
	int r = dbuf_grow(b, n);

	if (r < 0)
		return r;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int dbuf_adds(struct dbuf *b, const char *s)
{
	return dbuf_add(b, s, strlen(s));
}

int dbuf_printf(struct dbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;

	r = dbuf_grow(b, (size_t)n);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void dbuf_reset(struct dbuf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void dbuf_free(struct dbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

char *dbuf_take(struct dbuf *b)
{
	char *p = b->data;

	if (p == NULL)
		return util_xstrdup("");
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
