/*
 * scrub: redaction of frames (OCR + the text detector, boxes filled, high-risk
 * frames dropped) and of typed text joined across the pieces of a typing run;
 * the scan state of stored frames and the one way to their exportable pixels
 * (scrub.h, docs/REDACTION.md).
 */
#include "scrub.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blob.h"
#include "encode.h"
#include "log.h"
#include "pixels.h"
#include "store.h"
#include "testbreak.h"
#include "uia.h"
#include "util.h"

/* Most findings kept for one frame; a frame with more is dropped. */
#define SCRUB_MAX_BOXES 4096
/* Rows above and below a changed rectangle that are OCR'd with it. */
#define SCRUB_BAND_MARGIN 12

/* ---- OCR text to boxes ---------------------------------------------------- */

static void box_push(struct scrub_box **boxes, size_t *n, const struct scrub_box *b)
{
	/* The capacity is implied: 8, then the next power of two at or above n. */
	if (*n == 0 || (*n >= 8 && (*n & (*n - 1)) == 0))
		*boxes = util_xrealloc(*boxes, (*n == 0 ? 8 : *n * 2) * sizeof(**boxes));
	(*boxes)[(*n)++] = *b;
}

/*
 * Merges the findings boxes[first..*n) that are one finding seen twice (the
 * text as read and its normalised copy, or two readings): boxes of one type
 * that overlap by at least half of the smaller become their union.
 */
static void merge_boxes(struct scrub_box *boxes, size_t first, size_t *n)
{
	size_t out = first;

	for (size_t i = first; i < *n; i++) {
		bool merged = false;

		for (size_t j = first; j < out && !merged; j++) {
			int64_t ai = (int64_t)boxes[i].box.w * boxes[i].box.h;
			int64_t aj = (int64_t)boxes[j].box.w * boxes[j].box.h;
			struct image_rect m;

			image_rect_intersect(&boxes[i].box, &boxes[j].box, &m);
			if (boxes[j].type != boxes[i].type ||
			    2 * (int64_t)m.w * m.h < (ai < aj ? ai : aj))
				continue;
			boxes[j].box = image_rect_union(boxes[j].box, boxes[i].box);
			boxes[j].risk |= boxes[i].risk;
			merged = true;
		}
		if (!merged)
			boxes[out++] = boxes[i];
	}
	*n = out;
}

static void clip_pad(struct image_rect *r, uint32_t w, uint32_t h)
{
	/* Word boxes can miss antialiased edges and, in some fonts, descenders. */
	int64_t py = SCRUB_PAD + (int64_t)r->h / 5;
	int64_t x1 = (int64_t)r->x - SCRUB_PAD, y1 = (int64_t)r->y - py;
	int64_t x2 = (int64_t)r->x + r->w + SCRUB_PAD, y2 = (int64_t)r->y + r->h + py;

	if (x1 < 0)
		x1 = 0;
	if (y1 < 0)
		y1 = 0;
	if (x2 > (int64_t)w)
		x2 = w;
	if (y2 > (int64_t)h)
		y2 = h;
	r->x = (int32_t)x1;
	r->y = (int32_t)y1;
	r->w = x2 > x1 ? (uint32_t)(x2 - x1) : 0;
	r->h = y2 > y1 ? (uint32_t)(y2 - y1) : 0;
}


/*
 * True when a SECRET finding is a hex hash that OCR misread into mixed case
 * ("fBad4cb59aa70Sc22d3Fb4", "ab1031d0fFE4belf40a0"), whole or the part of it
 * one reading split off: at least 20 characters, at least 60% of them
 * lowercase hex digits and at least 90% hex digits of either case or letters
 * that look like them. Hex strings are not secrets (see the generic token),
 * and random keys are almost never this hex: a random 20-character base62
 * key has odds of about 3 in 100,000 of it, a 40-character one far less.
 */
static bool misread_hex(const char *text, const struct redact_span *sp)
{
	size_t n = sp->end - sp->start, hex = 0, alike = 0;

	if (sp->type != REDACT_SECRET || n < 20)
		return false;
	for (size_t i = sp->start; i < sp->end; i++) {
		char c = text[i];

		if (isdigit((unsigned char)c) || (c >= 'a' && c <= 'f'))
			hex++;
		else if ((c >= 'A' && c <= 'F') || strchr("SOolIZGhs?", c) != NULL)
			alike++;
	}
	return hex * 10 >= n * 6 && (hex + alike) * 10 >= n * 9;
}

/* Adds the boxes of the words of res that spans [0..ns) of the joined text touch. */
static void spans_to_boxes(const struct ocr_result *res, const char *text,
                           const size_t *line_off, const struct redact_span *sp, size_t ns,
                           uint32_t img_w, uint32_t img_h, struct scrub_box **boxes, size_t *n,
                           unsigned *risk)
{
	for (size_t k = 0; k < ns; k++) {
		if (sp[k].end <= sp[k].start || misread_hex(text, &sp[k]))
			continue;
		if ((sp[k].type == REDACT_CARD || sp[k].type == REDACT_SECRET) &&
		    testbreak("pixel-redaction-cards-keys-off"))
			continue;
		size_t before = *n;

		*risk |= sp[k].risk;
		for (size_t li = 0; li < res->n_lines; li++) {
			const struct ocr_line *l = &res->lines[li];
			struct scrub_box b = { .type = (int)sp[k].type, .risk = sp[k].risk };

			if (line_off[li] >= sp[k].end || line_off[li] + l->len < sp[k].start)
				continue;
			for (size_t wi = l->first_word; wi < l->first_word + l->n_words; wi++) {
				const struct ocr_word *w = &res->words[wi];

				if (line_off[li] + w->start < sp[k].end &&
				    line_off[li] + w->end > sp[k].start)
					b.box = image_rect_union(b.box, w->box);
			}
			if (b.box.w == 0 || b.box.h == 0)
				continue;
			clip_pad(&b.box, img_w, img_h);
			if (b.box.w > 0 && b.box.h > 0)
				box_push(boxes, n, &b);
		}
		/* A finding with no place on the image cannot be filled. */
		if (*n == before)
			*risk |= SCRUB_RISK_UNREAD;
	}
}

bool scrub_unread(const struct ocr_result *res, const struct scrub_box *boxes, size_t n)
{
	for (size_t wi = 0; wi < res->n_words; wi++) {
		const struct ocr_word *w = &res->words[wi];
		const struct ocr_line *l = &res->lines[w->line];
		bool data, covered = false;
		size_t digits = 0;

		if (w->conf >= SCRUB_MIN_CONF || testbreak("unread-ignored"))
			continue;
		for (size_t i = w->start; i < w->end && i < l->len; i++)
			digits += isdigit((unsigned char)l->text[i]) != 0;
		/* A group of a card, an IBAN or an SSN has four digits or more (two, rarely). */
		data = digits >= SCRUB_UNREAD_DIGITS;
		for (size_t i = 0; i < n && data && !covered; i++) {
			struct image_rect m;

			image_rect_intersect(&w->box, &boxes[i].box, &m);
			covered = 2 * (int64_t)m.w * m.h >= (int64_t)w->box.w * w->box.h;
		}
		if (data && !covered)
			return true;
	}
	return false;
}

/* Whether word w of its line could be a part of the number an unread word is in. */
static bool number_part(const struct ocr_result *res, const struct ocr_word *w)
{
	const struct ocr_line *l = &res->lines[w->line];
	size_t digits = 0, alnum_upper = 0, len = 0;

	for (size_t i = w->start; i < w->end && i < l->len; i++) {
		unsigned char c = (unsigned char)l->text[i];

		len++;
		digits += isdigit(c) != 0;
		alnum_upper += isdigit(c) || isupper(c);
	}
	if (testbreak("unread-run-ignored"))
		return false;
	return digits > 0 || (len > 0 && len <= 4 && alnum_upper == len);
}

size_t scrub_cover_unread(const struct ocr_result *res, uint32_t img_w, uint32_t img_h,
                          struct scrub_box **boxes, size_t *n)
{
	size_t added = 0;

	for (size_t wi = 0; wi < res->n_words; wi++) {
		const struct ocr_word *w = &res->words[wi];
		const struct ocr_line *l = &res->lines[w->line];
		struct scrub_box b = { .box = w->box, .type = SCRUB_TYPE_UNREAD,
		                       .risk = REDACT_RISK_HIGH };
		size_t first = wi, last = wi;
		struct ocr_result one = *res;

		/* scrub_unread on this word alone, against every box so far. */
		one.words = (struct ocr_word *)w;
		one.n_words = 1;
		if (!scrub_unread(&one, *boxes, *n))
			continue;
		/* The run of neighbours on its line that could belong to the same number. */
		while (first > l->first_word && number_part(res, &res->words[first - 1]))
			first--;
		while (last + 1 < l->first_word + l->n_words && number_part(res, &res->words[last + 1]))
			last++;
		for (size_t k = first; k <= last; k++)
			b.box = image_rect_union(b.box, res->words[k].box);
		clip_pad(&b.box, img_w, img_h);
		if (b.box.w == 0 || b.box.h == 0)
			continue;
		box_push(boxes, n, &b);
		added++;
	}
	return added;
}

/* The number of different bytes in s[0..n). */
static size_t distinct(const char *s, size_t n)
{
	bool seen[256] = { false };
	size_t d = 0;

	for (size_t i = 0; i < n; i++) {
		d += !seen[(unsigned char)s[i]];
		seen[(unsigned char)s[i]] = true;
	}
	return d;
}

/*
 * What the detector's exact rules miss in OCR text but its shape gives away,
 * for the two kinds that small fonts garble most:
 *
 * - an AWS access key id whose prefix or length OCR got slightly wrong
 *   ("AKTAEBTC...", a letter read twice): "AK", one of I T l 1 | !, "A", then
 *   15 to 18 capitals and digits, at least one a digit and ten of them
 *   different (a random key, not a constant's name);
 * - an IPv6 address with a group OCR widened or a colon it lost: hex groups of
 *   at most five characters joined by colons, at least three colons and four
 *   groups, at least one digit and one hex letter (which keeps times such as
 *   12:30:45:10 and C++ names out), and fewer than half of the groups of one
 *   or two characters (a MAC address that lost a colon is not one).
 *
 * Appends [start, end) spans of text to *sp (capacity *cap, count *ns).
 */
static void lenient_spans(const char *text, size_t len, struct redact_span **sp, size_t *ns,
                          size_t *cap)
{
	size_t i = 0, st, e;

	while (ocr_next_token(text, len, &i, &st, &e)) {
		size_t n, digits = 0, letters = 0, colons = 0, groups = 0, pairs = 0, run = 0;
		bool aws, ip = true;

		/* Punctuation before a token is the sentence's too. */
		while (st < e && strchr(",;:.!?(<>'\"", text[st]) != NULL)
			st++;
		n = e - st;
		aws = n >= 19 && n <= 22 && text[st] == 'A' && text[st + 1] == 'K' &&
		      strchr("ITl1|!", text[st + 2]) != NULL && text[st + 3] == 'A';
		for (size_t k = st; k < e; k++) {
			char c = text[k];

			digits += isdigit((unsigned char)c) != 0;
			if (aws && k >= st + 4 && !isdigit((unsigned char)c) && !isupper((unsigned char)c))
				aws = false;
			if (c == ':') {
				colons++;
				groups += run > 0;
				pairs += run > 0 && run <= 2;
				run = 0;
			} else if (isxdigit((unsigned char)c) && run < 5) {
				letters += isalpha((unsigned char)c) != 0;
				run++;
			} else {
				ip = false;
			}
		}
		groups += run > 0;
		pairs += run > 0 && run <= 2;
		aws = aws && digits >= 1 && distinct(text + st + 4, n - 4) >= 10;
		ip = ip && colons >= 3 && groups >= 4 && digits > 0 && letters > 0 &&
		     2 * pairs < groups;
		if (!aws && !ip)
			continue;
		if (*ns == *cap) {
			*cap = *cap ? *cap * 2 : 8;
			*sp = util_xrealloc(*sp, *cap * sizeof(**sp));
		}
		(*sp)[(*ns)++] = (struct redact_span){
			.start = st, .end = e, .type = aws ? REDACT_SECRET : REDACT_IP,
			.risk = aws ? REDACT_RISK_HIGH : REDACT_RISK_LOW };
	}
}

static void span_push(struct redact_span **sp, size_t *ns, size_t *cap, size_t st, size_t e,
                      enum redact_type type, enum redact_risk risk)
{
	if (*ns == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*sp = util_xrealloc(*sp, *cap * sizeof(**sp));
	}
	(*sp)[(*ns)++] = (struct redact_span){ .start = st, .end = e, .type = type, .risk = risk };
}

/* Whether the detector finds, in s[0..n), anything that overlaps [from, to). */
static bool finding_overlaps(const struct redact *r, const char *s, size_t n, size_t from,
                             size_t to)
{
	struct redact_span *sp = NULL;
	size_t ns = 0;
	bool hit = false;

	if (redact_scan(r, s, n, &sp, &ns) != 0)
		return true; /* cannot tell: as found, so that nothing is added on a guess */
	for (size_t i = 0; i < ns && !hit; i++)
		hit = sp[i].start < to && sp[i].end > from;
	free(sp);
	return hit;
}

/* Whether the detector finds anything at all in s[0..n). */
static bool detector_finds(const struct redact *r, const char *s, size_t n, enum redact_type *type)
{
	struct redact_span *sp = NULL;
	size_t ns = 0;
	bool found;

	if (redact_scan(r, s, n, &sp, &ns) != 0)
		return true; /* cannot tell: as found, so that nothing is added on a guess */
	found = ns > 0;
	if (found && type != NULL)
		*type = ns == 1 && sp[0].start == 0 && sp[0].end == n ? sp[0].type : REDACT_TYPE_COUNT;
	free(sp);
	return found;
}

static bool card_char(char c)
{
	return isdigit((unsigned char)c) || c == ' ' || c == '-';
}

/*
 * The number of digits of s[0..n) when it is a card number's shape cut short:
 * digits in groups of two or more separated by single blanks or dashes, 10 to 19
 * digits, at least 12 when there is no separator; 0 otherwise.
 */
static size_t partial_card_digits(const char *s, size_t n)
{
	size_t digits = 0, group = 0, seps = 0;

	for (size_t i = 0; i < n; i++) {
		if (isdigit((unsigned char)s[i])) {
			digits++;
			group++;
		} else if ((s[i] == ' ' || s[i] == '-') && group >= 2) {
			seps++;
			group = 0;
		} else {
			return 0;
		}
	}
	if (group < 2 || digits < 10 || digits > 19 || (seps == 0 && digits < 12))
		return 0;
	return digits;
}

/*
 * What is cut by the edge of a field, a scroll boundary or a window, and so no
 * longer has the whole shape the detector's rules need (issue 14, "partial
 * visibility"):
 *
 * - an e-mail address whose local part scrolled out of a narrow entry: a token
 *   "@domain.tld" that, given any local part, is an address by the detector's
 *   own rule (so "@2x.png" and "@decorator" stay);
 * - a card number of which 10 or more digits show at the start or the end of a
 *   line (where a field's edge cuts it): digits grouped as in a card
 *   (partial_card_digits) that the detector finds nothing else in (a phone
 *   number stays a phone number);
 * - an IBAN cut by the edge of a field: a country of the registry and its two
 *   check digits at the start of a token, then 10 or more letters and digits
 *   (8 of them digits, spaces and dashes between them) that reach the end of the
 *   line, fewer than the country's IBAN has (iban_spans); and a whole IBAN whose
 *   check digits OCR read with an O for a 0 ("ITO 9573 ...", "FRO4536 ...");
 * - an e-mail address whose domain the edge of a field cut: the last token of a
 *   line, "local@dom.ain" with a dot after the '@', that is an address once the
 *   label after its last dot is "com" ("name@mail.example.c").
 * The end of a line is its last character but blanks and the marks OCR reads a
 * field's border as ("|", ")", ":"). Dots are left out: decimal numbers and
 *   timestamps at the start of log lines have them.
 *
 * Appends spans of text to *sp (capacity *cap, count *ns).
 */
/* A mark OCR reads at a field's border ("|", ")"), or punctuation after a cut. */
static bool edge_char(char c)
{
	return c != '\0' && strchr("|)]}:;,.'\"", c) != NULL;
}

/*
 * The IBANs of one line text[a..b) that the detector cannot find: cut at the
 * line's end (e, the end but edge marks), or with an O read in the check digits.
 */
static void iban_spans(const struct redact *r, const char *text, size_t a, size_t b, size_t e,
                       struct redact_span **sp, size_t *ns, size_t *cap)
{
	for (size_t p = a; p + 4 <= b; p++) {
		char cand[40];
		size_t want, nal = 0, digits = 0, q = p, end;
		bool oh = false;

		if ((p > a && !isspace((unsigned char)text[p - 1]) && !edge_char(text[p - 1])) ||
		    !isupper((unsigned char)text[p]) || !isupper((unsigned char)text[p + 1]) ||
		    !(isdigit((unsigned char)text[p + 2]) || text[p + 2] == 'O') ||
		    (want = redact_iban_length(text + p)) == 0)
			continue;
		while (q < b && nal < want && nal < sizeof(cand) &&
		       (isalnum((unsigned char)text[q]) || text[q] == ' ' || text[q] == '-')) {
			if (isalnum((unsigned char)text[q])) {
				char c = (char)toupper((unsigned char)text[q]);

				if (nal == 2 || nal == 3) {
					oh |= c == 'O';
					c = c == 'O' ? '0' : c;
				}
				digits += nal >= 4 && isdigit((unsigned char)c);
				cand[nal++] = c;
			}
			q++;
		}
		if (nal < 4 || !isdigit((unsigned char)cand[2]) || !isdigit((unsigned char)cand[3]))
			continue;
		end = q;
		while (end > p && (text[end - 1] == ' ' || text[end - 1] == '-'))
			end--;
		if (nal == want && (q == b || !isalnum((unsigned char)text[q]))) {
			if (oh && redact_iban_valid(cand, nal) && !testbreak("partial-iban-off"))
				span_push(sp, ns, cap, p, end, REDACT_IBAN, REDACT_RISK_HIGH);
		} else if (nal < want && nal >= 14 && digits >= 8 && q >= e &&
		           !detector_finds(r, text + p, end - p, NULL) &&
		           !testbreak("partial-iban-off")) {
			span_push(sp, ns, cap, p, end, REDACT_IBAN, REDACT_RISK_HIGH);
		}
	}
}

/* The address cut at the end of the line text[a..e) (e: the end but edge marks). */
static void email_cut_span(const struct redact *r, const char *text, size_t a, size_t e,
                           struct redact_span **sp, size_t *ns, size_t *cap)
{
	char buf[256];
	const char *at, *dot, *last;
	size_t t = e, n;
	enum redact_type type;

	while (t > a && !isspace((unsigned char)text[t - 1]))
		t--;
	while (t < e && edge_char(text[t]))
		t++;
	if (e - t < 5 || e - t + 3 >= sizeof(buf))
		return;
	at = memchr(text + t, '@', e - t);
	if (at == NULL || at == text + t)
		return;
	dot = memchr(at, '.', (size_t)(text + e - at));
	if (dot == NULL || dot - at < 2 || detector_finds(r, text + t, e - t, NULL))
		return;
	last = text + e;
	/* The label the edge cut is given a whole top-level domain in its place. */
	while (last > dot && last[-1] != '.')
		last--;
	/* A domain of digits only is a version ("react@18.2.0"), not an address. */
	for (dot = at + 1; dot < last && !isalpha((unsigned char)*dot); dot++)
		;
	if (dot == last)
		return;
	n = (size_t)(last - (text + t));
	memcpy(buf, text + t, n);
	memcpy(buf + n, "com", 3);
	if (detector_finds(r, buf, n + 3, &type) && type == REDACT_EMAIL &&
	    !testbreak("partial-email-off"))
		span_push(sp, ns, cap, t, e, REDACT_EMAIL, REDACT_RISK_LOW);
}

static void partial_spans(const struct redact *r, const char *text, size_t len,
                          struct redact_span **sp, size_t *ns, size_t *cap)
{
	size_t i = 0, st, e;

	while (ocr_next_token(text, len, &i, &st, &e)) {
		char buf[256];
		enum redact_type t;

		while (st < e && strchr(",;:!?(<>'\"[{|", text[st]) != NULL)
			st++;
		while (e > st && strchr(",;:.!?)>'\"]}|", text[e - 1]) != NULL)
			e--;
		if (e - st < 5 || e - st >= sizeof(buf) - 1 || text[st] != '@')
			continue;
		buf[0] = 'x';
		memcpy(buf + 1, text + st, e - st);
		if (detector_finds(r, buf, e - st + 1, &t) && t == REDACT_EMAIL &&
		    !testbreak("partial-email-off"))
			span_push(sp, ns, cap, st, e, REDACT_EMAIL, REDACT_RISK_LOW);
	}
	for (size_t ls = 0; ls < len;) {
		size_t le = ls, a, b, edge;

		while (le < len && text[le] != '\n')
			le++;
		a = ls;
		b = le;
		while (a < b && isspace((unsigned char)text[a]))
			a++;
		while (b > a && isspace((unsigned char)text[b - 1]))
			b--;
		edge = b;
		while (edge > a && (edge_char(text[edge - 1]) || isspace((unsigned char)text[edge - 1])))
			edge--;
		iban_spans(r, text, a, b, edge, sp, ns, cap);
		email_cut_span(r, text, a, edge, sp, ns, cap);
		/* The longest run of digits, blanks and dashes at each end of the line. */
		for (int side = 0; side < 2 && a < b; side++) {
			size_t x = a, y = b;

			if (side == 0) {
				for (y = a; y < b && card_char(text[y]); y++)
					;
			} else {
				for (x = b; x > a && card_char(text[x - 1]); x--)
					;
			}
			/* A run that fills the line is looked at once. */
			if (side == 1 && x == a)
				continue;
			/* Blanks and dashes at the ends of the run are not the number's. */
			while (x < y && !isdigit((unsigned char)text[x]))
				x++;
			while (y > x && !isdigit((unsigned char)text[y - 1]))
				y--;
			/*
			 * The number must reach the edge of the line (where a field cut it), and
			 * end at a blank on its other side: "2024-11-30 12:00" is no number.
			 */
			if (x >= y || (side == 0 && x != a) || (side == 1 && y != b) ||
			    (side == 0 && y < b && !isspace((unsigned char)text[y])) ||
			    (side == 1 && x > a && !isspace((unsigned char)text[x - 1])))
				continue;
			/* Part of what the line holds whole (the account of an IBAN) is that. */
			if (partial_card_digits(text + x, y - x) == 0 ||
			    detector_finds(r, text + x, y - x, NULL) ||
			    finding_overlaps(r, text + a, b - a, x - a, y - a))
				continue;
			if (!testbreak("partial-card-off"))
				span_push(sp, ns, cap, x, y, REDACT_CARD, REDACT_RISK_HIGH);
		}
		ls = le + 1;
	}
}

int scrub_find(const struct redact *r, const struct ocr_result *res, uint32_t img_w,
               uint32_t img_h, struct scrub_box **boxes, size_t *n, unsigned *risk)
{
	size_t *line_off, *map, len = 0, nlen, ns = 0, cap, first = *n;
	char *text, *norm;
	struct redact_span *sp = NULL;
	int err = 0;

	if (res->n_lines == 0)
		return 0;
	line_off = util_xmalloc(res->n_lines * sizeof(*line_off));
	for (size_t i = 0; i < res->n_lines; i++) {
		line_off[i] = len;
		len += res->lines[i].len + 1;
	}
	text = util_xmalloc(len + 1);
	for (size_t i = 0; i < res->n_lines; i++) {
		memcpy(text + line_off[i], res->lines[i].text, res->lines[i].len);
		text[line_off[i] + res->lines[i].len] = '\n';
	}
	text[len] = '\0';
	norm = util_xmalloc(len + 1);
	map = util_xmalloc((len + 1) * sizeof(*map));
	nlen = ocr_normalise(text, len, norm, map);
	norm[nlen] = '\0';

	/* The text as read, then the normalised copy with the lenient shapes. */
	err = redact_scan(r, text, len, &sp, &ns);
	if (err != 0)
		goto fail;
	spans_to_boxes(res, text, line_off, sp, ns, img_w, img_h, boxes, n, risk);
	free(sp);
	sp = NULL;
	if (nlen != len || memcmp(text, norm, len) != 0)
		err = redact_scan(r, norm, nlen, &sp, &ns);
	else
		ns = 0; /* found above already */
	if (err != 0)
		goto fail;
	cap = ns;
	lenient_spans(norm, nlen, &sp, &ns, &cap);
	partial_spans(r, norm, nlen, &sp, &ns, &cap);
	/* Back to offsets in the text as read. */
	for (size_t k = 0; k < ns; k++) {
		if (misread_hex(norm, &sp[k])) {
			sp[k].end = sp[k].start; /* an empty span adds no box */
			sp[k].type = REDACT_SECRET;
		}
		sp[k].end = sp[k].end > sp[k].start ? map[sp[k].end - 1] + 1 : map[sp[k].start];
		sp[k].start = map[sp[k].start];
	}
	spans_to_boxes(res, text, line_off, sp, ns, img_w, img_h, boxes, n, risk);
	free(sp);
	merge_boxes(*boxes, first, n);
fail:
	if (err != 0)
		*risk |= REDACT_RISK_HIGH;
	free(map);
	free(norm);
	free(text);
	free(line_off);
	return err;
}

/*
 * Whether a line as first read could hold something the detector looks for:
 * three digits, an '@' or a look-alike of it (non-ASCII), or a token of ten or
 * more characters (an address, a key, a long number). Lines of short words
 * only are prose and labels, and are not read a second time.
 */
static bool worth_second_reading(const struct ocr_line *l)
{
	size_t digits = 0, run = 0;

	for (size_t i = 0; i < l->len; i++) {
		unsigned char c = (unsigned char)l->text[i];

		if (c == '@' || c >= 0x80)
			return true;
		digits += isdigit(c) != 0;
		run = isspace(c) ? 0 : run + 1;
		if (digits >= 3 || run >= 10)
			return true;
	}
	return false;
}

/*
 * The bands to read a second time: the boxes of consecutive lines worth it,
 * padded by a quarter of a line, clipped to region (NULL: no clipping). out has room
 * for res->n_lines bands; returns how many were written.
 */
static size_t second_bands(const struct ocr_result *res, const struct image_rect *region,
                           struct image_rect *out)
{
	size_t nb = 0;
	bool open = false;

	for (size_t li = 0; li < res->n_lines; li++) {
		struct image_rect lb = res->lines[li].box;
		int32_t pad = (int32_t)lb.h / 4 + 2;

		if (!worth_second_reading(&res->lines[li])) {
			open = false;
			continue;
		}
		lb.x -= pad;
		lb.y -= pad;
		lb.w += 2 * (uint32_t)pad;
		lb.h += 2 * (uint32_t)pad;
		if (open && lb.y <= out[nb - 1].y + (int32_t)out[nb - 1].h)
			out[nb - 1] = image_rect_union(out[nb - 1], lb);
		else
			out[nb++] = lb;
		open = true;
	}
	for (size_t i = 0; region != NULL && i < nb; i++)
		image_rect_intersect(&out[i], region, &out[i]);
	return nb;
}

int scrub_read(struct ocr *o, const struct redact *r, const struct image *img,
               const struct image_rect *region, struct scrub_box **boxes, size_t *n,
               unsigned *risk, double *ocr_ms, struct ocr_result *first, char **cause)
{
	struct ocr_result res, again;
	struct image_rect *bands = NULL;
	size_t nb, before = *n;
	int err;

	if (first != NULL)
		memset(first, 0, sizeof(*first));
	err = ocr_read(o, img, region, &res, cause);
	if (err != 0)
		goto fail;
	if (ocr_ms != NULL)
		*ocr_ms += res.ms;
	err = scrub_find(r, &res, img->width, img->height, boxes, n, risk);
	if (err != 0)
		goto fail_find;
	/*
	 * The second reading, at 3x. OCR's mistakes depend on the size it reads at,
	 * so what one reading garbles (a colon read as '3', a letter read twice in a
	 * key) the other often reads right; the findings of both are kept.
	 */
	bands = util_xmalloc((res.n_lines + 1) * sizeof(*bands));
	nb = second_bands(&res, region, bands);
	for (size_t i = 0; i < nb; i++) {
		if (bands[i].w == 0 || bands[i].h == 0)
			continue;
		err = ocr_read_at(o, img, &bands[i], 3, &again, cause);
		if (err != 0)
			goto fail;
		if (ocr_ms != NULL)
			*ocr_ms += again.ms;
		err = scrub_find(r, &again, img->width, img->height, boxes, n, risk);
		ocr_result_free(&again);
		if (err != 0)
			goto fail_find;
	}
	free(bands);
	merge_boxes(*boxes, before, n);
	/*
	 * What the first reading, which covers the whole region, could not read with
	 * confidence and no finding of either reading covers is filled with the
	 * words around it that could belong to the same number, so that the frame
	 * can be kept. The second reading's doubts are not counted: it reads again
	 * lines the first one read.
	 */
	scrub_cover_unread(&res, img->width, img->height, boxes, n);
	if (first != NULL)
		*first = res;
	else
		ocr_result_free(&res);
	return 0;

fail_find:
	util_fail(cause, err, "the text detector failed on a frame's text");
fail:
	free(bands);
	ocr_result_free(&res);
	*risk |= REDACT_RISK_HIGH;
	return err;
}

void scrub_fill(struct image *img, const struct scrub_box *boxes, size_t n, uint32_t fill)
{
	for (size_t i = 0; i < n; i++)
		image_fill_rects(img, &boxes[i].box, 1, fill);
}

int scrub_image(struct ocr *o, const struct redact *r, struct image *img,
                const struct image_rect *regions, size_t nreg, uint32_t fill,
                struct scrub_box **boxes, size_t *n, unsigned *risk, double *ocr_ms,
                char **cause)
{
	struct image_rect whole = { 0, 0, img->width, img->height };
	size_t first = *n;
	int err = 0;

	if (regions == NULL || nreg == 0) {
		regions = &whole;
		nreg = 1;
	}
	/* Read every region before filling anything: regions may overlap. */
	for (size_t i = 0; i < nreg && err == 0; i++)
		err = scrub_read(o, r, img, &regions[i], boxes, n, risk, ocr_ms, NULL, cause);
	if (err != 0) {
		*risk |= REDACT_RISK_HIGH;
		return err;
	}
	scrub_fill(img, *boxes + first, *n - first, fill);
	return 0;
}

/* ---- stored frames -------------------------------------------------------- */

/*
 * A time window (and event ids) in which high-risk text was being typed, and the
 * fields it went into: the screen bounds of the editable element focused at the
 * first key of each piece of the run. A frame of the window is kept, with those
 * fields filled, only when every piece's field is known (field_unknown unset);
 * otherwise it is dropped.
 */
struct typed_window {
	int64_t t0, t1;
	int64_t ev0, ev1;
	struct image_rect field[SCRUB_TYPED_FIELDS];
	size_t n_field;
	bool field_unknown;
};

struct frame_list {
	struct store_frame *f;
	size_t n, cap;
};

struct scrub {
	char *dir;
	struct store *st;
	struct redact *own_redact;
	const struct redact *redact;
	char *ocr_datapath;
	struct ocr *ocr;
	struct encode *enc;
	uint32_t fill;
	/* The frames' blobs and whole screens; the newest one is kept, so a patch over it is cheap. */
	struct pixels *px;
	/*
	 * The session being scanned in order, from scrub_session_begin to
	 * scrub_session_end: its frames, the windows of its high-risk typing, and
	 * the next frame to look at.
	 */
	bool open;
	int64_t session;
	struct frame_list all;
	struct typed_window *tw;
	size_t ntw, next;
	struct scrub_stats *stats, own_stats;
	const atomic_int *cancel;     /* non-zero: stop scanning (the worker is stopping) */
	/*
	 * The background scanner's: scan only frames never scanned, and leave those an
	 * export scanned with other rules (its --rules) alone, which scanning them back
	 * would make that export drop.
	 */
	bool unscanned_only;
};

static void session_close(struct scrub *s);

_Static_assert(STORE_SCAN_RULES_MAX == SCRUB_SCAN_KEY_LEN,
               "a frame's scan holds the key of how it was made");

void scrub_scan_key(const struct redact *r, char out[SCRUB_SCAN_KEY_LEN + 1])
{
	unsigned char h[SCRUB_SCAN_KEY_LEN / 2];
	char head[32];
	crypto_generichash_state st;
	const char *fp = redact_fingerprint(r);

	snprintf(head, sizeof(head), "mimic scan v%d\n", SCRUB_READING_VERSION);
	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)head, strlen(head));
	crypto_generichash_update(&st, (const unsigned char *)fp, strlen(fp));
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(out, SCRUB_SCAN_KEY_LEN + 1, h, sizeof(h));
}

/*
 * True when sc is a scan made with the rules r by this scrubber: a state other
 * than unscanned, and the scan key of r (scrub_scan_key). A scan made with other
 * rules (the organisation added one since, an export added its own), by an older
 * reading, or stored before scans had keys, counts as unscanned, so that no frame
 * leaves on the verdict of rules or a reading other than the export's.
 */
static bool scanned_with(const struct store_frame_scan *sc, const struct redact *r)
{
	char key[SCRUB_SCAN_KEY_LEN + 1];

	if (sc->state == STORE_SCAN_UNSCANNED)
		return false;
	scrub_scan_key(r, key);
	return strcmp(sc->rules, key) == 0;
}

const char *scrub_state_name(int state)
{
	switch (state) {
	case STORE_SCAN_UNSCANNED: return "unscanned";
	case STORE_SCAN_CLEAN: return "clean";
	case STORE_SCAN_SCRUBBED: return "scrubbed";
	case STORE_SCAN_DROPPED: return "dropped";
	default: return "?";
	}
}

int scrub_open(const struct scrub_opts *opts, struct scrub **out, char **cause)
{
	struct scrub *s = util_xcalloc(1, sizeof(*s));
	int err;

	s->dir = util_xstrdup(opts->data_dir);
	s->fill = opts->fill;
	if (opts->ocr_datapath != NULL)
		s->ocr_datapath = util_xstrdup(opts->ocr_datapath);
	s->redact = opts->redact;
	if (s->redact == NULL) {
		err = redact_open(NULL, &s->own_redact, cause);
		if (err != 0)
			goto fail;
		s->redact = s->own_redact;
	}
	err = store_open(s->dir, 0, &s->st, cause);
	if (err != 0)
		goto fail;
	err = encode_new(&s->enc, cause);
	if (err != 0)
		goto fail;
	s->px = pixels_open(s->dir, s->st);
	*out = s;
	return 0;
fail:
	scrub_close(s);
	return err;
}

void scrub_close(struct scrub *s)
{
	if (s == NULL)
		return;
	session_close(s);
	pixels_close(s->px);
	encode_free(s->enc);
	ocr_free(s->ocr);
	store_close(s->st);
	redact_close(s->own_redact);
	free(s->ocr_datapath);
	free(s->dir);
	free(s);
}

static void image_copy(struct image *dst, const struct image *src)
{
	size_t bytes = (size_t)src->width * 4;

	dst->width = src->width;
	dst->height = src->height;
	dst->stride = bytes;
	dst->pixels = util_xmalloc(bytes * src->height);
	for (uint32_t y = 0; y < src->height; y++)
		memcpy(dst->pixels + y * bytes, src->pixels + (size_t)y * src->stride, bytes);
}

/*
 * Puts frame fr together as the whole screen (unscrubbed) into *img (malloc'ed,
 * the caller's to change): from the kept screen when fr is it or patches it,
 * else from its key frame and every patch up to it (pixels.h).
 */
static int reconstruct(struct scrub *s, int64_t session, const struct store_frame *fr,
                       struct image *img, char **cause)
{
	const struct image *screen;
	int err;

	memset(img, 0, sizeof(*img));
	err = pixels_frame(s->px, session, fr, &screen, cause);
	if (err == 0)
		image_copy(img, screen);
	return err;
}

static char *boxes_json(const struct scrub_box *b, size_t n)
{
	json_t *a = json_array();
	char *out;

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("[iiiii]", (int)b[i].box.x, (int)b[i].box.y,
		                                   (int)b[i].box.w, (int)b[i].box.h,
		                                   (int)b[i].risk));
	out = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	return out != NULL ? out : util_xstrdup("[]");
}

static void boxes_parse(const char *text, struct scrub_box **boxes, size_t *n)
{
	json_t *a = json_loads(text != NULL ? text : "[]", 0, NULL), *v;
	size_t i;

	if (!json_is_array(a)) {
		json_decref(a);
		return;
	}
	json_array_foreach(a, i, v) {
		int x, y, w, h, risk;
		struct scrub_box b = { 0 };

		if (json_unpack(v, "[iiiii]", &x, &y, &w, &h, &risk) != 0 || w <= 0 || h <= 0)
			continue;
		b.box = (struct image_rect){ x, y, (uint32_t)w, (uint32_t)h };
		b.risk = (unsigned)risk;
		box_push(boxes, n, &b);
	}
	json_decref(a);
}

/* Drops boxes inside another box of at least their risk (a finding read twice). */
static size_t dedupe(struct scrub_box *b, size_t n)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		bool covered = false;

		for (size_t j = 0; j < n && !covered; j++) {
			if (j == i || b[j].risk < b[i].risk)
				continue;
			covered = b[i].box.x >= b[j].box.x && b[i].box.y >= b[j].box.y &&
			          (int64_t)b[i].box.x + b[i].box.w <= (int64_t)b[j].box.x + b[j].box.w &&
			          (int64_t)b[i].box.y + b[i].box.h <= (int64_t)b[j].box.y + b[j].box.h &&
			          /* of two equal boxes, keep the first */
			          !(j > i && memcmp(&b[i].box, &b[j].box, sizeof(b[i].box)) == 0 &&
			            b[i].risk == b[j].risk);
		}
		if (!covered)
			b[out++] = b[i];
	}
	return out;
}

static bool rects_touch(const struct image_rect *a, const struct image_rect *b)
{
	return (int64_t)a->x < (int64_t)b->x + b->w && (int64_t)b->x < (int64_t)a->x + a->w &&
	       (int64_t)a->y < (int64_t)b->y + b->h && (int64_t)b->y < (int64_t)a->y + a->h;
}

/* Full-width bands around each patch rectangle, merged where they overlap. */
static size_t patch_bands(const struct store_frame *fr, struct image_rect *out)
{
	size_t n = 0;

	for (int i = 0; i < fr->n_patch; i++) {
		int64_t y1 = (int64_t)fr->patch[i].y - SCRUB_BAND_MARGIN;
		int64_t y2 = (int64_t)fr->patch[i].y + fr->patch[i].h + SCRUB_BAND_MARGIN;

		if (y1 < 0)
			y1 = 0;
		if (y2 > fr->height)
			y2 = fr->height;
		if (y2 <= y1)
			continue;
		out[n++] = (struct image_rect){ 0, (int32_t)y1, (uint32_t)fr->width,
		                               (uint32_t)(y2 - y1) };
	}
	/* Merge overlapping bands (few: at most STORE_PATCH_MAX). */
	for (bool merged = true; merged;) {
		merged = false;
		for (size_t i = 0; i < n && !merged; i++) {
			for (size_t j = i + 1; j < n && !merged; j++) {
				if (out[i].y <= out[j].y + (int32_t)out[j].h &&
				    out[j].y <= out[i].y + (int32_t)out[i].h) {
					out[i] = image_rect_union(out[i], out[j]);
					out[j] = out[--n];
					merged = true;
				}
			}
		}
	}
	return n;
}

static bool in_bands(const struct image_rect *b, const struct image_rect *bands, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b->y >= bands[i].y && b->y + (int64_t)b->h <= bands[i].y + (int64_t)bands[i].h)
			return true;
	return false;
}

/* Collects the windows in which high-risk text was being typed. */
struct typed_ctx {
	struct store *st;
	int64_t session;
	struct reduce *red;
	struct redact_typed *joiner;
	struct typed_window *w;
	size_t n, cap;
	uint64_t last_run;    /* run of the newest window */
};

/*
 * Adds to w the field the piece a of a high-risk run was typed into: the element
 * the recorder read for its first key (docs/ELEMENTS.md), when it was found, is
 * editable (the typed text is in it, not in some other element that had focus)
 * and has bounds. Any piece without such a field marks the window's field unknown.
 */
static void typed_field(struct typed_ctx *c, struct typed_window *w, const struct reduce_action *a)
{
	struct store_element el;
	struct image_rect r;

	if (a->anchor_id <= 0 ||
	    store_element_get(c->st, c->session, a->anchor_id, &el, NULL) != 0 || el.status != 0 ||
	    !(el.states & UIA_STATE_EDITABLE) || el.w <= 0 || el.h <= 0) {
		w->field_unknown = true;
		return;
	}
	r = (struct image_rect){ el.x, el.y, (uint32_t)el.w, (uint32_t)el.h };
	for (size_t i = 0; i < w->n_field; i++)
		if (memcmp(&w->field[i], &r, sizeof(r)) == 0)
			return;
	if (w->n_field == SCRUB_TYPED_FIELDS) {
		w->field_unknown = true;
		return;
	}
	w->field[w->n_field++] = r;
}

static void typed_drain(struct typed_ctx *c)
{
	const struct reduce_action *a;
	struct reduce_action *ra;
	unsigned risk;

	while ((ra = reduce_take(c->red)) != NULL)
		redact_typed_push(c->joiner, ra);
	while ((a = redact_typed_take(c->joiner, &risk)) != NULL) {
		if (a->kind != REDUCE_TYPE || !(risk & REDACT_RISK_HIGH))
			continue;
		if (c->n > 0 && c->last_run == redact_typed_run(c->joiner)) {
			/*
			 * Another piece of the same run: one window for both, so the pause
			 * between the pieces is covered too. Runs into other fields get
			 * windows of their own, even when they overlap in time: a frame in
			 * both is filled in the fields of both (typed_fields), and a form
			 * filled in one go does not become one window of all its fields.
			 */
			c->w[c->n - 1].t1 = a->t_end_ns + SCRUB_TYPED_AFTER_NS;
			c->w[c->n - 1].ev1 = a->ev_last;
			typed_field(c, &c->w[c->n - 1], a);
			continue;
		}
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 8;
			c->w = util_xrealloc(c->w, c->cap * sizeof(*c->w));
		}
		c->w[c->n++] = (struct typed_window){ .t0 = a->t_start_ns,
		                                      .t1 = a->t_end_ns + SCRUB_TYPED_AFTER_NS,
		                                      .ev0 = a->ev_first, .ev1 = a->ev_last };
		typed_field(c, &c->w[c->n - 1], a);
		c->last_run = redact_typed_run(c->joiner);
	}
}

static int typed_event(int64_t id, const struct event *ev, const struct context *ctx, void *arg)
{
	struct typed_ctx *c = arg;
	struct event e = *ev;

	e.id = id;
	reduce_push(c->red, &e);
	typed_drain(c);
	return 0;
}

/*
 * The windows of high-risk typing of a session. Pieces of one run are joined
 * (redact_typed), so the window of a card typed in two pieces spans both.
 */
static int typed_windows(struct scrub *s, int64_t session, struct typed_window **out, size_t *n,
                         char **cause)
{
	struct typed_ctx c = { .st = s->st, .session = session };
	int err;

	*out = NULL;
	*n = 0;
	reduce_new(NULL, &c.red);
	c.joiner = redact_typed_new(s->redact);
	err = store_events_foreach(s->st, session, typed_event, &c, cause);
	if (err == 0) {
		reduce_finish(c.red);
		typed_drain(&c);
		redact_typed_finish(c.joiner);
		typed_drain(&c);
	}
	reduce_free(c.red);
	redact_typed_free(c.joiner);
	if (err != 0) {
		free(c.w);
		return err;
	}
	*out = c.w;
	*n = c.n;
	return 0;
}

static bool in_window(const struct store_frame *fr, const struct typed_window *w)
{
	/*
	 * The pre-action frame of the run's first key (at or before it) shows the
	 * screen before any of the run was typed; every later one may show it.
	 */
	return (fr->t_ns > w->t0 && fr->t_ns <= w->t1) ||
	       (fr->event_id > 0 && fr->event_id > w->ev0 && fr->event_id <= w->ev1);
}

/*
 * Whether fr was taken while high-risk text was typed: TYPED_NONE when in no
 * typing window; TYPED_FIELDS when in windows whose fields are all known, and
 * then their bounds, clipped to the frame, are in f[0..*nf) (f has room for max);
 * TYPED_UNKNOWN when in a window whose field is not known, or when the fields of
 * its windows are more than max.
 */
enum typed_state { TYPED_NONE, TYPED_FIELDS, TYPED_UNKNOWN };

static enum typed_state typed_fields(const struct store_frame *fr, const struct typed_window *w,
                                     size_t n, struct image_rect *f, size_t max, size_t *nf)
{
	enum typed_state st = TYPED_NONE;

	*nf = 0;
	for (size_t i = 0; i < n; i++) {
		if (!in_window(fr, &w[i]))
			continue;
		if (w[i].field_unknown || *nf + w[i].n_field > max)
			return TYPED_UNKNOWN;
		st = TYPED_FIELDS;
		for (size_t k = 0; k < w[i].n_field; k++) {
			struct image_rect r = w[i].field[k];
			int64_t x2 = (int64_t)r.x + r.w, y2 = (int64_t)r.y + r.h;

			if (r.x < 0)
				r.x = 0;
			if (r.y < 0)
				r.y = 0;
			if (x2 > fr->width)
				x2 = fr->width;
			if (y2 > fr->height)
				y2 = fr->height;
			if (x2 <= r.x || y2 <= r.y)
				continue; /* off screen: nothing of it to fill */
			r.w = (uint32_t)(x2 - r.x);
			r.h = (uint32_t)(y2 - r.y);
			f[(*nf)++] = r;
		}
	}
	return st;
}

/* Whether every rectangle of f[0..nf) lies inside one of the boxes of the scan's JSON. */
static bool boxes_cover(const char *json, const struct image_rect *f, size_t nf)
{
	struct scrub_box *b = NULL;
	size_t nb = 0, k;

	boxes_parse(json, &b, &nb);
	for (k = 0; k < nf; k++) {
		bool in = false;

		for (size_t i = 0; i < nb && !in; i++)
			in = f[k].x >= b[i].box.x && f[k].y >= b[i].box.y &&
			     (int64_t)f[k].x + f[k].w <= (int64_t)b[i].box.x + b[i].box.w &&
			     (int64_t)f[k].y + f[k].h <= (int64_t)b[i].box.y + b[i].box.h;
		if (!in)
			break;
	}
	free(b);
	return k == nf;
}

static int collect_frame(const struct store_frame *fr, void *arg)
{
	struct frame_list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->f = util_xrealloc(l->f, l->cap * sizeof(*l->f));
	}
	l->f[l->n++] = *fr;
	return 0;
}

static bool same_pixels(const struct store_frame *a, const struct store_frame *b)
{
	return strcmp(a->blob, b->blob) == 0 && a->base_id == b->base_id &&
	       a->n_patch == b->n_patch && a->width == b->width && a->height == b->height &&
	       memcmp(a->patch, b->patch, (size_t)a->n_patch * sizeof(a->patch[0])) == 0;
}

static void count(struct scrub_stats *st, const struct store_frame_scan *sc, bool reused)
{
	st->scanned++;
	st->reused += reused;
	if (sc->state == STORE_SCAN_CLEAN)
		st->clean++;
	else if (sc->state == STORE_SCAN_SCRUBBED)
		st->scrubbed++;
	else
		st->dropped++;
	if (strcmp(sc->reason, "typed") == 0)
		st->dropped_typed++;
}

/* Loads the OCR engine when first needed. */
static int ocr_ready(struct scrub *s, char **cause)
{
	struct ocr_opts o = { .datapath = s->ocr_datapath };
	int err;

	if (s->ocr != NULL)
		return 0;
	err = ocr_new(&o, &s->ocr, cause);
	if (err != 0)
		return err;
	if (s->cancel != NULL)
		ocr_set_cancel(s->ocr, s->cancel);
	return 0;
}

/*
 * The findings fr keeps from the frame it is a patch over, when that one was
 * scanned with s's rules: appends them to *boxes / *nbox (ORing their risks into
 * *risk) but for those its patches touched inside the bands to read again, and
 * sets bands[0..*nband) to those bands. Returns false when the whole screen is to
 * be read (a key frame, or a base without a usable scan).
 */
static bool inherit(struct scrub *s, const struct store_frame *fr, struct image_rect *bands,
                    size_t *nband, struct scrub_box **boxes, size_t *nbox, unsigned *risk)
{
	struct store_frame_scan base = { 0 };
	struct scrub_box *inh = NULL;
	size_t ninh = 0;
	char *bj = NULL;
	int err;

	if (fr->base_id <= 0)
		return false;
	err = store_frame_scan_get(s->st, fr->base_id, &base, &bj, NULL);
	/* Findings of other rules are not this scan's: then the whole screen is read. */
	if (err != 0 || !scanned_with(&base, s->redact) || strcmp(base.reason, "error") == 0) {
		free(bj);
		return false;
	}
	*nband = patch_bands(fr, bands);
	/* What left the frame below unread may still be on screen: not kept on this scan. */
	if (base.state == STORE_SCAN_DROPPED && strcmp(base.reason, "pixels") == 0)
		*risk |= SCRUB_RISK_UNREAD;
	boxes_parse(bj, &inh, &ninh);
	for (size_t i = 0; i < ninh; i++) {
		bool touched = false;

		for (int p = 0; p < fr->n_patch && !touched; p++) {
			struct image_rect pr = { fr->patch[p].x, fr->patch[p].y,
			                        (uint32_t)fr->patch[p].w, (uint32_t)fr->patch[p].h };

			touched = rects_touch(&inh[i].box, &pr);
		}
		/* A box the patches changed is read again with its band. */
		if (touched && in_bands(&inh[i].box, bands, *nband))
			continue;
		*risk |= inh[i].risk;
		box_push(boxes, nbox, &inh[i]);
	}
	free(inh);
	free(bj);
	return true;
}

/* Stores the scrubbed screen img as a PNG blob; a frame it cannot be stored for is dropped. */
static void store_scrubbed(struct scrub *s, const struct store_frame *fr,
                           const struct image *img, struct store_frame_scan *scan, char **why)
{
	struct encode_params p;
	const uint8_t *png = NULL;
	size_t png_len = 0;
	struct blob *b = NULL;
	int err;

	encode_params_default(&p, ENCODE_PNG);
	err = encode_image(s->enc, img, &p, &png, &png_len, why);
	if (err == 0)
		err = pixels_blobs(s->px, "png", BLOB_WRITE, &b, why);
	if (err == 0)
		err = blob_put(b, png, png_len, scan->blob, why);
	if (err != 0) {
		log_warn("scrub: frame %lld dropped: %s", (long long)fr->id, *why ? *why : "");
		scan->state = STORE_SCAN_DROPPED;
		strcpy(scan->reason, "error");
		scan->blob[0] = '\0';
	} else {
		scan->state = STORE_SCAN_SCRUBBED;
	}
}

/* Scans one frame; fills *scan and *boxes (malloc'ed JSON). Only store errors return. */
static int scan_frame(struct scrub *s, int64_t session, const struct store_frame *fr,
                      const struct typed_window *tw, size_t ntw, struct scrub_stats *stats,
                      char **cause)
{
	struct store_frame_scan scan = { 0 };
	struct scrub_box *boxes = NULL;
	struct image_rect bands[STORE_PATCH_MAX];
	size_t nbox = 0, nband = 0;
	struct image img = { 0 };
	struct image_rect tf[SCRUB_TYPED_RECTS];
	size_t ntf = 0;
	enum typed_state typed;
	unsigned risk = 0;
	char *why = NULL, *json = NULL;
	bool full;
	int err;

	typed = typed_fields(fr, tw, ntw, tf, SCRUB_TYPED_RECTS, &ntf);
	err = ocr_ready(s, cause);
	if (err != 0)
		return err; /* without OCR nothing can be scanned: stop, frames stay unscanned */
	full = !inherit(s, fr, bands, &nband, &boxes, &nbox, &risk);
	err = reconstruct(s, session, fr, &img, &why);
	if (err == 0) {
		if (full || nband > 0)
			stats->regions += full ? 1 : nband;
		if (full)
			err = scrub_image(s->ocr, s->redact, &img, NULL, 0, s->fill, &boxes, &nbox, &risk,
			                  &stats->ocr_ms, &why);
		else if (nband > 0)
			err = scrub_image(s->ocr, s->redact, &img, bands, nband, s->fill, &boxes, &nbox,
			                  &risk, &stats->ocr_ms, &why);
		/*
		 * The fields high-risk text was being typed into are filled whatever OCR
		 * read: a number half typed is no finding yet, and a narrow field shows
		 * only part of it. The screen then shows high-risk data.
		 */
		if (err == 0 && typed == TYPED_FIELDS && !testbreak("typed-field-unfilled")) {
			for (size_t i = 0; i < ntf; i++) {
				struct scrub_box b = { .box = tf[i], .type = SCRUB_TYPE_FIELD,
				                       .risk = REDACT_RISK_HIGH };

				box_push(&boxes, &nbox, &b);
			}
			risk |= REDACT_RISK_HIGH;
		}
		/* Inherited boxes are filled too (scrub_image filled only the new ones). */
		if (err == 0)
			scrub_fill(&img, boxes, nbox, s->fill);
	}
	if (err == -ECANCELED) {
		/* Stopped in the middle: the frame stays unscanned. */
		free(why);
		free(boxes);
		free(img.pixels);
		return err;
	}
	if (err != 0) {
		/* Never keep what could not be scanned; the reason is no pixel or text. */
		log_warn("scrub: frame %lld dropped: %s", (long long)fr->id, why ? why : "error");
		scan.state = STORE_SCAN_DROPPED;
		strcpy(scan.reason, "error");
	} else if (nbox > SCRUB_MAX_BOXES ||
	           ((risk & REDACT_RISK_HIGH) &&
	            ((risk & SCRUB_RISK_UNREAD) || testbreak("high-risk-frames-dropped")))) {
		/*
		 * High-risk findings are filled and the frame kept only when every one of
		 * them was placed and nothing that could hold one was left unread.
		 */
		scan.state = STORE_SCAN_DROPPED;
		strcpy(scan.reason, "pixels");
	} else if (typed == TYPED_UNKNOWN) {
		scan.state = STORE_SCAN_DROPPED;
		strcpy(scan.reason, "typed");
	} else if (nbox > 0) {
		store_scrubbed(s, fr, &img, &scan, &why);
		stats->filled_high += scan.state == STORE_SCAN_SCRUBBED && (risk & REDACT_RISK_HIGH);
		stats->filled_typed += scan.state == STORE_SCAN_SCRUBBED && typed == TYPED_FIELDS;
	} else {
		scan.state = STORE_SCAN_CLEAN;
	}
	nbox = dedupe(boxes, nbox);
	if (nbox > SCRUB_MAX_BOXES)
		nbox = SCRUB_MAX_BOXES;
	json = boxes_json(boxes, nbox);
	scrub_scan_key(s->redact, scan.rules);
	err = store_frame_scan_set(s->st, fr->id, &scan, json, cause);
	free(json);
	free(why);
	free(boxes);
	free(img.pixels);
	if (err != 0)
		return err;
	count(stats, &scan, false);
	return 0;
}

/* Forgets the session being scanned (what is left of it stays unscanned). */
static void session_close(struct scrub *s)
{
	free(s->tw);
	free(s->all.f);
	s->tw = NULL;
	s->all.f = NULL;
	s->all.n = s->all.cap = 0;
	s->ntw = s->next = 0;
	s->open = false;
}

int scrub_session_begin(struct scrub *s, int64_t session, struct scrub_stats *stats,
                        char **cause)
{
	int err;

	session_close(s);
	s->stats = stats != NULL ? stats : &s->own_stats;
	memset(s->stats, 0, sizeof(*s->stats));
	s->session = session;
	err = store_frames_foreach(s->st, session, collect_frame, &s->all, cause);
	if (err == 0)
		err = typed_windows(s, session, &s->tw, &s->ntw, cause);
	s->stats->frames = s->all.n;
	if (err != 0) {
		session_close(s);
		return err;
	}
	s->open = true;
	return 0;
}

/*
 * A frame scanned with s's rules before the typing run it belongs to was
 * complete (a session scanned while it was recorded, or before the run's fields
 * were stored): the run's later pieces can make it high-risk, so the decision on
 * typing is made again. In a window whose fields are known, the frame is kept
 * when its scan filled them, and scanned again otherwise (also one dropped for
 * typing when its fields were not known yet); in a window whose field is not
 * known, it is dropped.
 */
static int typed_again(struct scrub *s, const struct store_frame *fr,
                       struct store_frame_scan *sc, char **cause)
{
	struct image_rect tf[SCRUB_TYPED_RECTS];
	size_t ntf = 0;
	enum typed_state typed = typed_fields(fr, s->tw, s->ntw, tf, SCRUB_TYPED_RECTS, &ntf);
	bool kept = sc->state == STORE_SCAN_CLEAN || sc->state == STORE_SCAN_SCRUBBED;
	char *bj = NULL;
	int err;

	if (typed == TYPED_NONE)
		return 0;
	if (typed == TYPED_FIELDS) {
		if (!kept && strcmp(sc->reason, "typed") != 0)
			return 0; /* dropped for what it shows: so it stays */
		if (sc->state == STORE_SCAN_SCRUBBED) {
			err = store_frame_scan_get(s->st, fr->id, sc, &bj, cause);
			if (err != 0)
				return err;
			kept = boxes_cover(bj, tf, ntf);
			free(bj);
			if (kept)
				return 0;
		}
		return scan_frame(s, s->session, fr, s->tw, s->ntw, s->stats, cause);
	}
	if (!kept)
		return 0;
	err = store_frame_scan_get(s->st, fr->id, sc, &bj, cause);
	sc->state = STORE_SCAN_DROPPED;
	strcpy(sc->reason, "typed");
	sc->blob[0] = '\0';
	if (err == 0)
		err = store_frame_scan_set(s->st, fr->id, sc, bj, cause);
	free(bj);
	s->stats->dropped_typed += err == 0;
	return err;
}

/*
 * A record naming the same pixels as the one before (prev) shares its scan:
 * sets *reused when it took it.
 */
static int reuse_scan(struct scrub *s, const struct store_frame *fr,
                      const struct store_frame *prev, bool *reused, char **cause)
{
	struct store_frame_scan sc;
	struct image_rect tf[SCRUB_TYPED_RECTS];
	size_t ntf = 0;
	enum typed_state typed;
	char *bj = NULL;
	int err;

	err = store_frame_scan_get(s->st, prev->id, &sc, &bj, cause);
	/*
	 * A frame dropped for typing kept no scrubbed image, and one scanned with
	 * other rules (the background scanner leaves those) is no verdict for these:
	 * scan this one itself.
	 */
	*reused = err == 0 && scanned_with(&sc, s->redact) &&
	          strcmp(sc.reason, "error") != 0 && strcmp(sc.reason, "typed") != 0;
	/* In a typing window with known fields, only a scan that filled them will do. */
	typed = typed_fields(fr, s->tw, s->ntw, tf, SCRUB_TYPED_RECTS, &ntf);
	if (*reused && typed == TYPED_FIELDS)
		*reused = sc.state == STORE_SCAN_DROPPED ||
		          (sc.state == STORE_SCAN_SCRUBBED && boxes_cover(bj, tf, ntf));
	if (*reused) {
		if (typed == TYPED_UNKNOWN) {
			sc.state = STORE_SCAN_DROPPED;
			strcpy(sc.reason, "typed");
			sc.blob[0] = '\0';
		}
		err = store_frame_scan_set(s->st, fr->id, &sc, bj, cause);
		if (err == 0)
			count(s->stats, &sc, true);
		pixels_same(s->px, s->session, fr->id, prev->id);
	}
	free(bj);
	return err;
}

/* Looks at the next frame of the session being scanned, and scans it when it is unscanned. */
static int scan_next(struct scrub *s, char **cause)
{
	size_t i = s->next++;
	const struct store_frame *fr = &s->all.f[i];
	struct store_frame_scan sc;
	bool reused = false;
	int err;

	if (s->cancel != NULL && atomic_load(s->cancel))
		return -ECANCELED;
	err = store_frame_scan_get(s->st, fr->id, &sc, NULL, cause);
	if (err != 0)
		return err;
	if (scanned_with(&sc, s->redact))
		return typed_again(s, fr, &sc, cause);
	/* Scanned with other rules is unscanned to s, but not to the background scanner. */
	if (sc.state != STORE_SCAN_UNSCANNED && s->unscanned_only)
		return 0;
	if (i > 0 && same_pixels(fr, &s->all.f[i - 1])) {
		err = reuse_scan(s, fr, &s->all.f[i - 1], &reused, cause);
		if (reused || err != 0)
			return err;
	}
	err = scan_frame(s, s->session, fr, s->tw, s->ntw, s->stats, cause);
	if (err == -ENOENT) {
		/* Forgotten (mimic forget, retention) while it was scanned. */
		if (cause != NULL) {
			free(*cause);
			*cause = NULL;
		}
		err = 0;
	}
	return err;
}

/* The index of frame id in the session being scanned (ordered by id), or n when absent. */
static size_t frame_index(const struct scrub *s, int64_t id)
{
	size_t lo = 0, hi = s->all.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->all.f[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->all.n && s->all.f[lo].id == id ? lo : s->all.n;
}

int scrub_session_upto(struct scrub *s, int64_t id, char **cause)
{
	size_t k;
	int err = 0;

	if (!s->open)
		return 0;
	k = frame_index(s, id);
	while (err == 0 && k < s->all.n && s->next <= k)
		err = scan_next(s, cause);
	return err;
}

int scrub_session_pixels(struct scrub *s, int64_t id, const struct image **img, char **cause)
{
	struct store_frame fr;
	size_t k = s->open ? frame_index(s, id) : 0;
	int err;

	*img = NULL;
	if (s->open && k < s->all.n)
		return pixels_frame(s->px, s->session, &s->all.f[k], img, cause);
	err = store_frame_get(s->st, s->session, id, &fr, cause);
	if (err == 0)
		err = pixels_frame(s->px, s->session, &fr, img, cause);
	return err;
}

int scrub_session_end(struct scrub *s, char **cause)
{
	int err = 0;

	while (err == 0 && s->open && s->next < s->all.n)
		err = scan_next(s, cause);
	session_close(s);
	return err;
}

struct store *scrub_store(struct scrub *s)
{
	return s->st;
}

int scrub_session(struct scrub *s, int64_t session, struct scrub_stats *stats, char **cause)
{
	int err = scrub_session_begin(s, session, stats, cause);

	if (err == 0)
		err = scrub_session_end(s, cause);
	return err;
}

int scrub_ready(struct scrub *s, const int64_t *sessions, size_t n, char **cause)
{
	struct frame_list all = { 0 };
	bool need = false;
	int err = 0;

	for (size_t i = 0; i < n && err == 0 && !need && s->ocr == NULL; i++) {
		all.n = 0;
		err = store_frames_foreach(s->st, sessions[i], collect_frame, &all, cause);
		for (size_t k = 0; k < all.n && err == 0 && !need; k++) {
			struct store_frame_scan sc;

			err = store_frame_scan_get(s->st, all.f[k].id, &sc, NULL, cause);
			need = err == 0 && !scanned_with(&sc, s->redact) &&
			       !(sc.state != STORE_SCAN_UNSCANNED && s->unscanned_only);
		}
	}
	free(all.f);
	if (err == 0 && need)
		err = ocr_ready(s, cause);
	return err;
}

int scrub_frame_image(struct scrub *s, int64_t session, int64_t id, struct image *img,
                      int *state, char **cause)
{
	struct store_frame fr;
	struct store_frame_scan sc;
	int err;

	memset(img, 0, sizeof(*img));
	*state = STORE_SCAN_UNSCANNED;
	err = store_frame_get(s->st, session, id, &fr, cause);
	if (err == 0)
		err = store_frame_scan_get(s->st, id, &sc, NULL, cause);
	/* Unscanned, or scanned with rules other than s's: scanned now. */
	if (err == 0 && !scanned_with(&sc, s->redact)) {
		err = scrub_session(s, session, NULL, cause);
		if (err == 0)
			err = store_frame_scan_get(s->st, id, &sc, NULL, cause);
		if (err == 0 && !scanned_with(&sc, s->redact))
			err = util_fail(cause, -EIO, "frame %lld could not be scanned", (long long)id);
	}
	if (err != 0)
		return err;
	*state = sc.state;
	switch (sc.state) {
	case STORE_SCAN_CLEAN:
		return reconstruct(s, session, &fr, img, cause);
	case STORE_SCAN_SCRUBBED:
		err = pixels_load(s->px, "png", sc.blob, img, cause);
		if (err == 0 && ((int32_t)img->width != fr.width || (int32_t)img->height != fr.height)) {
			free(img->pixels);
			memset(img, 0, sizeof(*img));
			err = util_fail(cause, -EIO, "frame %lld: its scrubbed image has another size",
			                (long long)id);
		}
		return err;
	default:
		*state = STORE_SCAN_DROPPED;
		return 0;
	}
}

int scrub_export_frame(struct store *st, const struct redact *r, int64_t id,
                       struct image *img, uint32_t fill, int *filled, char **cause)
{
	struct store_frame_scan sc;
	struct scrub_box *boxes = NULL;
	size_t n = 0;
	char *bj = NULL;
	int err;

	if (filled != NULL)
		*filled = 0;
	err = store_frame_scan_get(st, id, &sc, &bj, cause);
	if (err != 0)
		return err;
	/* A verdict of other rules (or of none known) is no verdict: the frame stays out. */
	if (r == NULL || !scanned_with(&sc, r) ||
	    (sc.state != STORE_SCAN_CLEAN && sc.state != STORE_SCAN_SCRUBBED)) {
		free(bj);
		return 1;
	}
	if (sc.state == STORE_SCAN_SCRUBBED) {
		boxes_parse(bj, &boxes, &n);
		if (n == 0) {
			/* Scrubbed with no box to fill cannot be right: keep nothing. */
			free(bj);
			return 1;
		}
		scrub_fill(img, boxes, n, fill);
		free(boxes);
		if (filled != NULL)
			*filled = 1;
	}
	free(bj);
	return 0;
}

struct scrub_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_int stop;
	char *data_dir;
	const struct redact *redact;  /* the caller's; outlives the thread */
	int64_t session;
	int interval_s;
	uint64_t scanned;
};

static void *worker_main(void *arg)
{
	struct scrub_worker *w = arg;
	struct sched_param sp = { 0 };
	struct scrub *s = NULL;

	/* Only what the machine has to spare: the person's work comes first. */
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	for (;;) {
		struct timespec until;
		struct scrub_stats st;
		char *cause = NULL;
		int err;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += w->interval_s;
		pthread_mutex_lock(&w->lock);
		while (!atomic_load(&w->stop) &&
		       pthread_cond_timedwait(&w->cond, &w->lock, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&w->lock);
		if (atomic_load(&w->stop))
			break;
		if (s == NULL) {
			struct scrub_opts o = { .data_dir = w->data_dir, .redact = w->redact,
			                        .fill = SCRUB_FILL };

			if (scrub_open(&o, &s, &cause) != 0) {
				log_warn("scrub: background scanning is off: %s", cause ? cause : "");
				free(cause);
				break;
			}
			s->cancel = &w->stop;
			s->unscanned_only = true;
		}
		err = scrub_session(s, w->session, &st, &cause);
		w->scanned += st.scanned;
		if (err != 0 && err != -ECANCELED) {
			/* Frames stay unscanned; the export scans them. */
			log_warn("scrub: background scan failed: %s", cause ? cause : "");
			free(cause);
			break;
		}
		free(cause);
	}
	scrub_close(s);
	return NULL;
}

int scrub_worker_start(const char *data_dir, const struct redact *r, int64_t session,
                       int interval_s, struct scrub_worker **out, char **cause)
{
	struct scrub_worker *w = util_xcalloc(1, sizeof(*w));
	int err;

	w->data_dir = util_xstrdup(data_dir);
	w->redact = r;
	w->session = session;
	w->interval_s = interval_s > 0 ? interval_s : 60;
	atomic_init(&w->stop, 0);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	err = pthread_create(&w->thread, NULL, worker_main, w);
	if (err != 0) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w->data_dir);
		free(w);
		return util_fail(cause, -EAGAIN, "cannot start the frame scanner: %s", strerror(err));
	}
	*out = w;
	return 0;
}

uint64_t scrub_worker_stop(struct scrub_worker *w)
{
	uint64_t n;

	if (w == NULL)
		return 0;
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->stop, 1);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	n = w->scanned;
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->data_dir);
	free(w);
	return n;
}
