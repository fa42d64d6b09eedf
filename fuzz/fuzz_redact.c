/*
 * fuzz_redact: libFuzzer target for the text detector. Arbitrary bytes go through
 * redact_scan and redact_apply with the built-in rules; the spans must lie within
 * the input, be sorted and not overlap, and the redacted text must be exactly the
 * input with each span replaced by its placeholder. The same bytes, as a URL, go
 * through redact_url_apply (an odd length keeping the query):
 * it must accept or refuse them cleanly, and what it writes must start with the
 * input's scheme and hold no fragment, no user info and, unless asked, no query.
 * And as a field's label: the match is a phrase of the list or none, and the
 * placeholder is "<FIELD...>", bounded, with no control byte or '<' '>' inside.
 */
#include "redact.h"
#include "scrub.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct redact *rules;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_redact: %s\n", what);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct redact_span *sp = NULL;
	size_t n = 0, outlen = 0, expect_len = 0, pos = 0, o = 0;
	char *out = NULL;
	unsigned mask = 0, expect_mask = 0;

	if (rules == NULL) {
		char *cause = NULL;

		if (redact_open(NULL, &rules, &cause) < 0) {
			fprintf(stderr, "redact_open: %s\n", cause ? cause : "?");
			abort();
		}
	}

	/* Built-in rules must never fail on any input (no match or stack limits). */
	check(redact_scan(rules, text, size, &sp, &n) == 0, "redact_scan failed");
	check((n == 0) == (sp == NULL), "span array and count disagree");
	for (size_t i = 0; i < n; i++) {
		check(sp[i].start < sp[i].end, "empty or reversed span");
		check(sp[i].end <= size, "span out of bounds");
		check(i == 0 || sp[i - 1].end <= sp[i].start, "spans unsorted or overlapping");
		check((int)sp[i].type >= 0 && sp[i].type < REDACT_TYPE_COUNT, "bad type");
		check(sp[i].risk == REDACT_RISK_LOW || sp[i].risk == REDACT_RISK_HIGH, "bad risk");
		expect_mask |= (unsigned)sp[i].risk;
		expect_len += sp[i].start - pos + strlen(redact_type_name(sp[i].type)) + 2;
		pos = sp[i].end;
	}
	expect_len += size - pos;

	check(redact_apply(rules, text, size, &out, &outlen, &mask) == 0, "redact_apply failed");
	check(out != NULL && out[outlen] == '\0', "output not terminated");
	check(outlen == expect_len, "output length differs from the spans");
	check(mask == expect_mask, "risk mask differs from the spans");
	/* The output is the input with each span replaced by "<TYPE>". */
	pos = 0;
	for (size_t i = 0; i < n; i++) {
		const char *name = redact_type_name(sp[i].type);
		size_t keep = sp[i].start - pos, nl = strlen(name);

		check(memcmp(out + o, text + pos, keep) == 0, "kept text changed");
		o += keep;
		check(out[o] == '<' && memcmp(out + o + 1, name, nl) == 0 && out[o + 1 + nl] == '>',
		    "placeholder missing");
		o += nl + 2;
		pos = sp[i].end;
	}
	check(memcmp(out + o, text + pos, size - pos) == 0, "tail changed");
	free(out);
	free(sp);

	/* The same bytes as a page's URL (redact_url.c). */
	{
		unsigned flags = (size & 1) ? REDACT_URL_QUERY : 0;
		int rc = redact_url_apply(rules, text, size, flags, &out, &outlen, &mask);

		check(rc == 0 || rc == -EINVAL || rc == -E2BIG, "redact_url_apply failed");
		if (rc != 0) {
			check(out == NULL && outlen == 0 && mask == 0, "a refused URL left output");
		} else {
			const char *colon = memchr(text, ':', size), *auth, *end;

			check(out != NULL && out[outlen] == '\0' && strlen(out) == outlen,
			      "URL output not terminated or with a NUL inside");
			check(colon != NULL && outlen > (size_t)(colon - text) &&
			      memcmp(out, text, (size_t)(colon - text) + 1) == 0,
			      "URL output does not start with the scheme");
			check(strchr(out, '#') == NULL, "URL output has a fragment");
			check(flags != 0 || strchr(out, '?') == NULL, "URL output has a query");
			auth = strncmp(out + (colon - text) + 1, "//", 2) == 0
			       ? out + (colon - text) + 3 : NULL;
			end = auth != NULL ? auth + strcspn(auth, "/?") : NULL;
			check(auth == NULL || memchr(auth, '@', (size_t)(end - auth)) == NULL,
			      "URL output has user info");
			check((mask & ~(unsigned)(REDACT_RISK_LOW | REDACT_RISK_HIGH)) == 0,
			      "URL risk mask has other bits");
		}
		free(out);
		out = NULL;
	}

	/* The OCR normaliser of the pixel scrubber (scrub.h): shorter or equal, offsets in order. */
	{
		char *norm = malloc(size + 1);
		size_t *map = malloc((size + 1) * sizeof(*map)), nlen;

		check(norm != NULL && map != NULL, "out of memory");
		nlen = ocr_normalise(text, size, norm, map);
		check(nlen <= size, "normalised text is longer");
		for (size_t i = 0; i < nlen; i++)
			check(map[i] < size && (i == 0 || map[i] > map[i - 1]), "bad offset map");
		sp = NULL;
		check(redact_scan(rules, norm, nlen, &sp, &n) == 0, "redact_scan failed (normalised)");
		free(sp);
		free(map);
		free(norm);
	}

	/* The same bytes as a field's label: a phrase of the list or none, and a bounded placeholder. */
	{
		int hit = redact_label_match(rules, text, size);
		char ph[REDACT_FIELD_MAX];
		size_t pl;

		check(hit >= -1 && (hit < 0 || (size_t)hit < redact_label_count(rules)),
		      "label match out of range");
		pl = redact_field_placeholder(text, size, ph, sizeof ph);
		check(pl == strlen(ph) && pl < sizeof ph, "placeholder not terminated");
		check(pl >= 7 && strncmp(ph, "<FIELD", 6) == 0 && ph[pl - 1] == '>',
		      "not a field placeholder");
		check(strcspn(ph + 1, "<>") == pl - 2, "placeholder has '<' or '>' inside");
		for (size_t i = 0; i < pl; i++)
			check((unsigned char)ph[i] >= 0x20 && ph[i] != 0x7F, "control byte in placeholder");
	}
	return 0;
}
