/*
 * redact_typed: typed text joined across the pieces of a typing run before it is
 * scanned (redact.h, safeguard 9), so that a number typed in two pieces is
 * still found, and the placeholders put back into each piece.
 */
#include "redact.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reduce.h"
#include "util.h"

/* Most type actions joined into one text. */
#define REDACT_JOIN_MAX 64

struct redact_typed {
	const struct redact *r;
	struct reduce_action *held;   /* actions pushed and not yet taken */
	unsigned *risk;               /* per held action */
	uint64_t *run;                /* per held action: its run (0 for other kinds) */
	uint64_t run_seq;
	uint64_t taken_run;           /* run of the action redact_typed_take returned last */
	size_t n, cap;
	size_t ready;                 /* held[0..ready) are finished */
	size_t next;                  /* next to hand out from held[0..ready) */
	size_t run_first;             /* held[run_first..n) is the open run (may be empty) */
	bool run_open;
	int32_t run_context;
	size_t run_types;             /* type actions in the open run */
};

struct redact_typed *redact_typed_new(const struct redact *r)
{
	struct redact_typed *t = util_xcalloc(1, sizeof(*t));

	t->r = r;
	return t;
}

void redact_typed_free(struct redact_typed *t)
{
	if (t == NULL)
		return;
	free(t->held);
	free(t->risk);
	free(t->run);
	free(t);
}

/* Writes text with [a,b) ranges replaced by placeholders into dst (REDUCE_TEXT_MAX). */
static void rebuild_piece(struct reduce_action *a, size_t base, const struct redact_span *sp,
                          size_t ns, unsigned *risk)
{
	char out[REDUCE_TEXT_MAX];
	size_t o = 0, i = 0, len = a->text_len;

	while (i < len) {
		const struct redact_span *hit = NULL;

		for (size_t k = 0; k < ns; k++) {
			if (sp[k].start < base + len && sp[k].end > base + i &&
			    sp[k].start <= base + i) {
				hit = &sp[k];
				break;
			}
		}
		if (hit != NULL) {
			const char *name = redact_type_name(hit->type);
			size_t need = strlen(name) + 2;

			if (o + need < sizeof(out))
				o += (size_t)snprintf(out + o, sizeof(out) - o, "<%s>", name);
			*risk |= hit->risk;
			i = hit->end - base < len ? hit->end - base : len;
			continue;
		}
		if (o + 1 < sizeof(out))
			out[o++] = a->text[i];
		i++;
	}
	out[o] = '\0';
	memcpy(a->text, out, o + 1);
	a->text_len = o;
}

/* Scans the open run, rewrites the texts of its type actions, and finishes it. */
static void close_run(struct redact_typed *t)
{
	size_t len = 0, ns = 0, pos = 0;
	char *joined;
	struct redact_span *sp = NULL;
	int err;

	if (!t->run_open) {
		t->ready = t->n;
		return;
	}
	for (size_t i = t->run_first; i < t->n; i++)
		if (t->held[i].kind == REDUCE_TYPE)
			len += t->held[i].text_len;
	joined = util_xmalloc(len + 1);
	for (size_t i = t->run_first; i < t->n; i++) {
		if (t->held[i].kind != REDUCE_TYPE)
			continue;
		memcpy(joined + pos, t->held[i].text, t->held[i].text_len);
		pos += t->held[i].text_len;
	}
	joined[len] = '\0';
	/* Without a detector nothing can be shown to be safe: the texts are emptied. */
	err = t->r != NULL ? redact_scan(t->r, joined, len, &sp, &ns) : -EINVAL;
	pos = 0;
	for (size_t i = t->run_first; i < t->n; i++) {
		struct reduce_action *a = &t->held[i];

		if (a->kind != REDUCE_TYPE)
			continue;
		if (err != 0) {
			/* Unscannable: nothing of it may be kept. */
			a->text[0] = '\0';
			a->text_len = 0;
			t->risk[i] = REDACT_RISK_HIGH;
			continue;
		}
		{
			size_t piece = a->text_len;

			rebuild_piece(a, pos, sp, ns, &t->risk[i]);
			pos += piece;
		}
	}
	free(sp);
	free(joined);
	t->run_open = false;
	t->run_types = 0;
	t->ready = t->n;
}

int redact_typed_push(struct redact_typed *t, const struct reduce_action *a)
{
	bool joins = a->kind == REDUCE_WAIT || a->kind == REDUCE_MOVE;

	if (a->kind == REDUCE_TYPE && t->run_open && a->context != t->run_context)
		close_run(t);
	if (a->kind != REDUCE_TYPE && !(joins && t->run_open))
		close_run(t);
	if (a->kind == REDUCE_TYPE && t->run_open && t->run_types >= REDACT_JOIN_MAX)
		close_run(t);
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->held = util_xrealloc(t->held, t->cap * sizeof(*t->held));
		t->risk = util_xrealloc(t->risk, t->cap * sizeof(*t->risk));
		t->run = util_xrealloc(t->run, t->cap * sizeof(*t->run));
	}
	t->held[t->n] = *a;
	t->risk[t->n] = 0;
	t->run[t->n] = 0;
	if (a->kind == REDUCE_TYPE) {
		struct reduce_action *h = &t->held[t->n];

		if (h->text_len >= REDUCE_TEXT_MAX)
			h->text_len = strnlen(h->text, REDUCE_TEXT_MAX - 1);
		if (!t->run_open) {
			t->run_open = true;
			t->run_first = t->n;
			t->run_context = a->context;
			t->run_seq++;
		}
		t->run[t->n] = t->run_seq;
		t->run_types++;
	}
	t->n++;
	if (!t->run_open)
		t->ready = t->n;
	return 0;
}

void redact_typed_finish(struct redact_typed *t)
{
	close_run(t);
}

const struct reduce_action *redact_typed_take(struct redact_typed *t, unsigned *risk)
{
	if (t->next >= t->ready) {
		/* Everything handed out: drop it and move the open run to the front. */
		if (t->next > 0) {
			size_t keep = t->n - t->next;

			memmove(t->held, t->held + t->next, keep * sizeof(*t->held));
			memmove(t->risk, t->risk + t->next, keep * sizeof(*t->risk));
			memmove(t->run, t->run + t->next, keep * sizeof(*t->run));
			t->n = keep;
			if (t->run_open)
				t->run_first -= t->next;
			t->ready -= t->next;
			t->next = 0;
		}
		return NULL;
	}
	if (risk != NULL)
		*risk = t->risk[t->next];
	t->taken_run = t->run[t->next];
	return &t->held[t->next++];
}

uint64_t redact_typed_run(const struct redact_typed *t)
{
	return t->taken_run;
}
