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
#include "frames.h"
#include "encode.h"
#include "log.h"
#include "store.h"
#include "testbreak.h"
#include "util.h"

/* Most findings kept for one frame; a frame with more is dropped. */
#define SCRUB_MAX_BOXES 4096
/* Largest blob read back (as cmd_frames). */
#define SCRUB_BLOB_MAX (256u * 1024 * 1024)
/* Rows above and below a changed rectangle that are OCR'd with it. */
#define SCRUB_BAND_MARGIN 12
/* Most type actions joined into one text, and most bytes. */
#define SCRUB_JOIN_MAX 64

/* ---- OCR text to boxes ---------------------------------------------------- */

static bool digitlike(char c)
{
	return c != '\0' && strchr("0123456789OoDQlIi|!SsBZz?", c) != NULL;
}

static bool hexish(char c)
{
	return c != '\0' && (isxdigit((unsigned char)c) || strchr(":-lIOoQG?", c) != NULL);
}

/* The digit a look-alike stands for, or the character itself. */
static char as_digit(char c)
{
	switch (c) {
	case 'O': case 'o': case 'D': case 'Q': return '0';
	case 'l': case 'I': case 'i': case '|': case '!': return '1';
	case 'S': case 's': return '5';
	case 'B': return '8';
	case 'Z': case 'z': return '2';
	case '?': return '7';
	default: return c;
	}
}

/* True when in[i..] starts a run of at least n letters and digits. */
static bool alnum_run(const char *in, size_t len, size_t i, size_t n)
{
	size_t k = i;

	while (k < len && isalnum((unsigned char)in[k]))
		k++;
	return k - i >= n;
}

/*
 * True when out[i..len) starts a token of four digits or capitals (the next
 * group of an IBAN: "8793", or a bank code "QVPT").
 */
static bool next_group(const char *out, size_t len, size_t i)
{
	while (i < len && out[i] == ' ')
		i++;
	for (size_t k = 0; k < 4; k++)
		if (i + k >= len || !(isdigit((unsigned char)out[i + k]) ||
		                      isupper((unsigned char)out[i + k])))
			return false;
	return i + 4 == len || isspace((unsigned char)out[i + 4]);
}

/*
 * The start of an IBAN, as OCR reads it: "FRQ6 ...", "DE8? 8793 ...", "BES? 3952",
 * "1T80467042...". Fixes the country code and check digits in place.
 */
static void fix_iban_head(char *out, size_t len, size_t s, size_t i)
{
	size_t n = i - s, digits = 0;

	if (n < 4)
		return;
	for (size_t k = s + 4; k < i; k++)
		digits += isdigit((unsigned char)out[k]) != 0;
	/* Either grouped (a group of four digits follows) or long and mostly digits. */
	if (!(n == 4 && next_group(out, len, i)) && !(n >= 14 && digits * 10 >= (n - 4) * 6))
		return;
	/* A group after a group of four ("NL05 EXDB") is inside an IBAN, not its head. */
	if (n == 4 && s >= 5 && out[s - 1] == ' ' && (s == 5 || out[s - 6] == ' ') &&
	    next_group(out, s - 1, s - 5))
		return;
	if (strchr("1l|", out[s]) != NULL && isupper((unsigned char)out[s + 1]) &&
	    isdigit((unsigned char)out[s + 2]) && isdigit((unsigned char)out[s + 3]))
		out[s] = 'I';
	if (!isupper((unsigned char)out[s]) || !isupper((unsigned char)out[s + 1]))
		return;
	out[s + 2] = as_digit(out[s + 2]);
	out[s + 3] = as_digit(out[s + 3]);
	if (!isdigit((unsigned char)out[s + 2]) || !isdigit((unsigned char)out[s + 3]))
		return;
	/* In the account part an O next to a digit is a zero ("MWGFO7361..."). */
	for (size_t k = s + 4; k + 1 < i; k++)
		if (out[k] == 'O' && isdigit((unsigned char)out[k + 1]))
			out[k] = '0';
	/* A bank code of four letters ("GB90BOBT...") keeps letters: "B0BT" is BOBT. */
	if (i - s >= 18) {
		size_t letters = 0;

		for (size_t k = s + 4; k < s + 8; k++)
			letters += isupper((unsigned char)out[k]) != 0;
		if (letters >= 2 && isdigit((unsigned char)out[s + 8])) {
			for (size_t k = s + 4; k < s + 8; k++) {
				switch (out[k]) {
				case '0': out[k] = 'O'; break;
				case '1': out[k] = 'I'; break;
				case '5': out[k] = 'S'; break;
				case '8': out[k] = 'B'; break;
				case '2': out[k] = 'Z'; break;
				default: break;
				}
			}
		}
	}
}

/* True when the output token being written (since the last blank) is all hex-like. */
static bool out_token_hexish(const char *out, size_t o)
{
	size_t n = 0;

	while (o > 0 && !isspace((unsigned char)out[o - 1])) {
		if (!hexish(out[--o]))
			return false;
		n++;
	}
	return n > 0;
}

/*
 * "erinmuller86Gexample.com": an e-mail address whose '@' was read as a capital
 * G or B (the only capital in a lower-case token that ends in a domain).
 */
static void fix_email_at(char *out, size_t s, size_t e)
{
	size_t at = 0, caps = 0, dot = 0;

	for (size_t k = s; k < e; k++) {
		if (out[k] == '@')
			return;
		if (isupper((unsigned char)out[k])) {
			caps++;
			at = k;
		}
		if (out[k] == '.')
			dot = k;
	}
	if (caps != 1 || (out[at] != 'G' && out[at] != 'B') || at == s || dot < at + 2 ||
	    e - dot < 3 || !isalnum((unsigned char)out[at - 1]) ||
	    !islower((unsigned char)out[at + 1]))
		return;
	for (size_t k = dot + 1; k < e; k++)
		if (!islower((unsigned char)out[k]))
			return;
	out[at] = '@';
}

/*
 * A MAC address whose colons OCR read as look-alikes: "80;6c3faz8e:253a9",
 * "f4:6ftd53c43063e0" (small bitmap terminal fonts). Seventeen characters, six
 * hex-like pairs, and in every third place a separator or a look-alike of one,
 * at least two of them plainly not hex digits. Fixes the token in place.
 */
static void fix_mac_seps(char *out, size_t s, size_t e)
{
	size_t plain = 0;
	char sep = ':';

	if (e - s != 17)
		return;
	for (size_t k = 0; k < 17; k++) {
		char c = out[s + k];

		if (k % 3 == 2) {
			if (strchr(":;-zst.,", c) != NULL)
				plain++;
			else if (strchr("372", c) == NULL)
				return;
			if (c == '-')
				sep = '-';
		} else if (!hexish(c) || c == ':' || c == '-') {
			if (strchr("SsZz", c) == NULL)
				return;
		}
	}
	if (plain < 2)
		return;
	for (size_t k = 0; k < 17; k++) {
		char *c = &out[s + k];

		if (k % 3 == 2)
			*c = sep;
		else if (*c == 'S' || *c == 's')
			*c = '5';
		else if (*c == 'Z' || *c == 'z')
			*c = '2';
	}
}

/* What an OCR'd character of an IBAN's country code may stand for. */
static const char *iban_letter_alts(char c, char self[2])
{
	switch (c) {
	case '1': case 'l': case '|': case '!': return "ITL";
	case '7': case '?': return "T";
	case '(': case 'c': return "C";
	case 'f': return "EF";
	case '$': case '5': case 's': return "S";
	case '0': case 'o': return "O";
	case '8': return "B";
	case '6': return "G";
	case '2': case 'z': return "Z";
	default:
		if (!isupper((unsigned char)c))
			return "";
		self[0] = c;
		self[1] = '\0';
		return self;
	}
}

/* What an OCR'd character of an IBAN's check digits may stand for. */
static const char *iban_digit_alts(char c, char self[2])
{
	switch (c) {
	case 'S': case 's': return "59";
	case 'L': case 'l': case 'I': case 'i': case '|': case '!': return "1";
	case 'O': case 'o': case 'D': case 'Q': return "0";
	case 'B': return "836";
	case 'Z': case 'z': return "2";
	case 'G': return "6";
	case '?': case 'T': return "7";
	default:
		if (!isdigit((unsigned char)c))
			return "";
		self[0] = c;
		self[1] = '\0';
		return self;
	}
}

/* What a character of an IBAN's account part may stand for when OCR misread it. */
static const char *iban_body_alts(char c)
{
	switch (c) {
	case 'O': return "QD0";
	case 'Q': return "O0";
	case 'D': return "O0";
	case '0': return "OQD";
	case 'I': return "1L";
	case '1': return "IL";
	case 'L': return "1I";
	case 'S': return "5";
	case '5': return "S";
	case 'B': return "8";
	case '8': return "B";
	case 'Z': return "2";
	case '2': return "Z";
	case 'G': return "6";
	case '6': return "G";
	default: return "";
	}
}

/*
 * An IBAN whose country code or check digits OCR misread ("NLSLHEZR97...",
 * "117492358237...", "FRI3 7006 2074 ..."): tries the look-alikes of the first
 * four characters and keeps the one reading that passes the country's length
 * and the mod-97 check (redact_iban_valid); failing that, one look-alike in the
 * rest of the number (iban_body_alts). Otherwise the number is taken as read,
 * capitals and digits only. Fixes the characters it changed in place.
 */
static void fix_iban_checked(char *out, size_t len, size_t s, size_t e)
{
	char c[36], alt[4][4];
	size_t n = 0, ends[12], n_ends = 0, k = s, digits = 0, pos[36];

	if (e - s < 4 || (e - s > 4 && e - s < 15) || e - s > 34)
		return;
	/* The number: this token, or grouped: this group of four and those after it. */
	while (k < len) {
		size_t g = k == s ? k + 2 : k; /* the country code may be read as "(H", "E$" */
		bool caps = true;

		while (g < len && isalnum((unsigned char)out[g])) {
			caps = caps && !islower((unsigned char)out[g]);
			g++;
		}
		if (k == s && g != e)
			return;
		if (k > s && (g - k > 4 || g == k || !caps ||
		              (g < len && !isspace((unsigned char)out[g]) &&
		               strchr(",.;!?)", out[g]) == NULL)))
			break;
		if (n + (g - k) > 34)
			break;
		memcpy(c + n, out + k, g - k);
		for (size_t q = 0; q < g - k; q++)
			pos[n + q] = k + q;
		n += g - k;
		if (n >= 15 && n_ends < 12)
			ends[n_ends++] = n;
		if (e - s > 4 || (g - k < 4 && k > s) || g >= len || out[g] != ' ')
			break;
		k = g + 1;
	}
	if (n_ends == 0)
		return;
	for (size_t i = 4; i < n; i++) {
		if (!isdigit((unsigned char)c[i]) && !isupper((unsigned char)c[i]))
			return;
		digits += isdigit((unsigned char)c[i]) != 0;
	}
	if (digits * 10 < (n - 4) * 6)
		return;
	for (size_t i = 0; i < n_ends; i++)
		if (redact_iban_valid(c, ends[i]))
			return;
	for (size_t i = 0; i < 4; i++) {
		char self[2];

		snprintf(alt[i], sizeof(alt[i]), "%s",
		         i < 2 ? iban_letter_alts(c[i], self) : iban_digit_alts(c[i], self));
		if (alt[i][0] == '\0')
			return;
	}
	for (const char *a = alt[0]; *a; a++)
		for (const char *b = alt[1]; *b; b++)
			for (const char *d = alt[2]; *d; d++)
				for (const char *f = alt[3]; *f; f++) {
					c[0] = *a, c[1] = *b, c[2] = *d, c[3] = *f;
					for (size_t i = 0; i < n_ends; i++) {
						if (!redact_iban_valid(c, ends[i]))
							continue;
						memcpy(out + s, c, 4);
						return;
					}
				}
	/*
	 * The head as read, one look-alike in the rest ("NL37 BOMD ..." for BQMD,
	 * "QS0G" for QSOG): the first substitution that passes is taken.
	 */
	memcpy(c, out + s, 4);
	for (size_t i = 4; i < n; i++) {
		const char *alts = iban_body_alts(c[i]);
		char was = c[i];

		for (const char *a = alts; *a; a++) {
			c[i] = *a;
			for (size_t j = 0; j < n_ends; j++) {
				if (!redact_iban_valid(c, ends[j]))
					continue;
				out[pos[i]] = *a;
				return;
			}
		}
		c[i] = was;
	}
}

/*
 * The next token of text at or after *i: a run without blanks, [*s, *e) without
 * the punctuation after it, which is the sentence's, not the token's. *i moves
 * past the token. Returns false when no token is left.
 */
static bool next_token(const char *text, size_t len, size_t *i, size_t *s, size_t *e)
{
	while (*i < len && isspace((unsigned char)text[*i]))
		(*i)++;
	if (*i >= len)
		return false;
	*s = *i;
	while (*i < len && !isspace((unsigned char)text[*i]))
		(*i)++;
	*e = *i;
	while (*e > *s && strchr(",.;!?)'\"", text[*e - 1]) != NULL)
		(*e)--;
	return true;
}

/* Same-length look-alike fixes inside each token (a run without blanks) of out. */
static void fix_tokens(char *out, size_t len)
{
	size_t i = 0, s, e;

	while (next_token(out, len, &i, &s, &e)) {
		size_t digits = 0, alike = 0, colons = 0, dashes = 0, hex = 0, n = e - s;

		fix_mac_seps(out, s, e);
		for (size_t k = s; k < e; k++) {
			digits += isdigit((unsigned char)out[k]) != 0;
			alike += !isdigit((unsigned char)out[k]) && digitlike(out[k]);
			colons += out[k] == ':';
			dashes += out[k] == '-';
			hex += hexish(out[k]);
		}
		if (n == 0)
			continue;
		fix_iban_checked(out, len, s, i - s == 4 ? i : e);
		fix_iban_head(out, len, s, i - s == 4 ? i : e);
		fix_email_at(out, s, e);
		/* An IBAN keeps its letters (the bank code of "GB77MWGF..."). */
		if (n >= 14 && isupper((unsigned char)out[s]) && isupper((unsigned char)out[s + 1]) &&
		    isdigit((unsigned char)out[s + 2]) && isdigit((unsigned char)out[s + 3]))
			continue;
		/* An IPv6 or MAC address: hex groups and colons (or the dashes of a MAC). */
		if ((colons >= 2 || dashes == 5) && digits > 0 && hex == n) {
			for (size_t k = s; k < e; k++) {
				if (out[k] == 'l' || out[k] == 'I')
					out[k] = '1';
				else if (out[k] == 'O' || out[k] == 'o' || out[k] == 'Q')
					out[k] = '0';
				else if (out[k] == 'G')
					out[k] = '6';
				else if (out[k] == '?')
					out[k] = '7';
			}
			continue;
		}
		if (digits < 2 || digits * 10 < n * 6 || alike == 0)
			continue;
		for (size_t k = s; k < e; k++)
			out[k] = as_digit(out[k]);
	}
}

/*
 * True when the input token around i (between blanks) looks like a MAC or IPv6
 * address: at least two colons, or five dashes, and only hex-like characters.
 */
static bool in_hex_token(const char *in, size_t len, size_t i)
{
	size_t s = i, e = i, colons = 0, dashes = 0;

	while (s > 0 && !isspace((unsigned char)in[s - 1]))
		s--;
	while (e < len && !isspace((unsigned char)in[e]))
		e++;
	while (e > s && strchr(",.;!)'\"", in[e - 1]) != NULL)
		e--;
	for (size_t k = s; k < e; k++) {
		if (!hexish(in[k]))
			return false;
		colons += in[k] == ':';
		dashes += in[k] == '-';
	}
	return colons >= 2 || dashes == 5;
}

/* Colons in the output token being written (since the last blank). */
static size_t token_colons(const char *out, size_t o)
{
	size_t n = 0;

	while (o > 0 && !isspace((unsigned char)out[o - 1]))
		n += out[--o] == ':';
	return n;
}

/*
 * Colons in the input token starting at i (up to the next blank), or 0 when
 * it holds anything but hex digits, look-alikes of them and colons.
 */
static size_t token_colons_ahead(const char *in, size_t len, size_t i)
{
	size_t n = 0;

	for (; i < len && !isspace((unsigned char)in[i]); i++) {
		if (!hexish(in[i]) && strchr(",.;!)'\"", in[i]) == NULL)
			return 0;
		n += in[i] == ':';
	}
	return n;
}

/*
 * True when the output token being written is exactly three numbers of one to
 * three digits joined by dots or commas ("97,105,197"): the head of an IPv4
 * address whose last dot was read as a blank.
 */
static bool dotted_triple(const char *out, size_t o)
{
	size_t groups = 0, digits = 0;

	while (o > 0 && !isspace((unsigned char)out[o - 1])) {
		char c = out[--o];

		if (isdigit((unsigned char)c)) {
			if (++digits > 3)
				return false;
		} else if ((c == '.' || c == ',') && digits > 0) {
			groups++;
			digits = 0;
		} else {
			return false;
		}
	}
	return digits > 0 && groups == 2;
}

/* True when in[i..] is one to three digits followed by the end of a token. */
static bool ends_octet(const char *in, size_t len, size_t i)
{
	size_t k = i;

	while (k < len && k - i < 4 && isdigit((unsigned char)in[k]))
		k++;
	return k > i && k - i <= 3 &&
	       (k == len || isspace((unsigned char)in[k]) || strchr(",;)!?'\"", in[k]) != NULL ||
	        (in[k] == '.' && (k + 1 == len || !isdigit((unsigned char)in[k + 1]))));
}

/*
 * True when in[i] starts the middle group of "123-007-3910": the output token
 * so far is three digits and a dash, and in[i..] is a digit 0 or 1 read twice,
 * one more digit, a dash and four digits ending the token. A North American
 * phone number's exchange cannot start with 0 or 1, so this is an SSN whose
 * group OCR read with a digit too many.
 */
static bool ssn_doubled(const char *out, size_t o, const char *in, size_t len, size_t i)
{
	if (o < 4 || out[o - 1] != '-' || (o > 4 && !isspace((unsigned char)out[o - 5])))
		return false;
	for (size_t k = o - 4; k < o - 1; k++)
		if (!isdigit((unsigned char)out[k]))
			return false;
	if (i + 8 > len || (in[i] != '0' && in[i] != '1') || in[i + 1] != in[i] ||
	    !isdigit((unsigned char)in[i + 2]) || in[i + 3] != '-')
		return false;
	for (size_t k = i + 4; k < i + 8; k++)
		if (!isdigit((unsigned char)in[k]))
			return false;
	return i + 8 == len || !isalnum((unsigned char)in[i + 8]);
}

/* True when the output token being written (since the last blank) holds an '@'. */
static bool token_has_at(const char *out, size_t o)
{
	while (o > 0 && !isspace((unsigned char)out[o - 1])) {
		if (out[--o] == '@')
			return true;
	}
	return false;
}

size_t scrub_ocr_normalise(const char *in, size_t len, char *out, size_t *map)
{
	size_t o = 0, gh = 0; /* gh: letters and digits still expected of a GitHub token */

	for (size_t i = 0; i < len; i++) {
		size_t at = i; /* where the output character comes from */
		char c = in[i], prev = o > 0 ? out[o - 1] : '\0';
		char prev2 = o > 1 ? out[o - 2] : '\0';
		char next = i + 1 < len ? in[i + 1] : '\0';
		char next2 = i + 2 < len ? in[i + 2] : '\0';

		if (c == ' ') {
			/* "583 -98-1034", "4928- 8584": a blank read into a dashed number. */
			if ((isdigit((unsigned char)prev) && next == '-' && isdigit((unsigned char)next2)) ||
			    (prev == '-' && isdigit((unsigned char)prev2) && isdigit((unsigned char)next)))
				continue;
			/* "244 .138", "244. 138": a blank read into a dotted number. */
			if ((isdigit((unsigned char)prev) && (next == '.' || next == ',') &&
			     isdigit((unsigned char)next2)) ||
			    (prev == '.' && isdigit((unsigned char)prev2) && isdigit((unsigned char)next)))
				continue;
			/* "2001:db8: :73ab": the two colons of "::". */
			if (prev == ':' && next == ':')
				continue;
			/*
			 * "2001:db8:e8f ::1721", "2001:db8:3d4f :a:fc", "d3:9f :73:2c:eb:e4":
			 * a blank before a colon of an IPv6 or MAC address.
			 */
			if (next == ':' && isxdigit((unsigned char)prev) && out_token_hexish(out, o) &&
			    token_colons(out, o) + token_colons_ahead(in, len, i + 1) >= 3)
				continue;
			/* "97,105,197 54": the last dot of an IPv4 address read as a blank. */
			if (dotted_triple(out, o) && ends_octet(in, len, i + 1))
				c = '.';
			/* "99: fc:1f:c0:68:1b": a blank after a colon of a MAC or IPv6 address. */
			if (prev == ':' && isxdigit((unsigned char)prev2) && isxdigit((unsigned char)next) &&
			    out_token_hexish(out, o) && in_hex_token(in, len, i + 1))
				continue;
			/* "example. com": a blank after a dot of an e-mail domain. */
			if (prev == '.' && isalpha((unsigned char)next) && token_has_at(out, o))
				continue;
			/* "ghp_2Xvx4skj2Yy1CzhMj rsQRZ...": a blank read inside the token. */
			if (gh > 0 && isalnum((unsigned char)prev) && isalnum((unsigned char)next))
				continue;
			/* "ghp DazlvkqF...": the underscore of a GitHub token read as a blank. */
			if (o >= 3 && out[o - 3] == 'g' && out[o - 2] == 'h' &&
			    strchr("pousr", out[o - 1]) != NULL &&
			    (o == 3 || !isalnum((unsigned char)out[o - 4])) && alnum_run(in, len, i + 1, 16)) {
				c = '_';
				gh = 36 + 1;
			}
		} else if (c == '_' && gh == 0 && o >= 3 && out[o - 3] == 'g' && out[o - 2] == 'h' &&
		           strchr("pousr", out[o - 1]) != NULL &&
		           (o == 3 || !isalnum((unsigned char)out[o - 4]))) {
			gh = 36 + 1;
		} else if (ssn_doubled(out, o, in, len, i)) {
			/* "123-007-3910": a digit of an SSN's group read twice. */
			continue;
		} else if (c == 'l' && (prev == '1' || next == '1') && in_hex_token(in, len, i)) {
			/* "54-bf-1la", "ec-dl1": a 1 read twice, once as l. */
			continue;
		} else if ((unsigned char)c == 0xc2 && ((unsigned char)next == 0xa2 ||
		                                        (unsigned char)next == 0xa3)) {
			/* "¢" for c; "£" for E (before a capital) or f. */
			c = (unsigned char)next == 0xa2 ? 'c' : isupper((unsigned char)next2) ? 'E' : 'f';
			i++;
		} else if ((unsigned char)c == 0xe2 && (unsigned char)next == 0x82 &&
		           (unsigned char)next2 == 0xac) {
			c = 'E'; /* "€" */
			i += 2;
		} else if (c == ',' && isalnum((unsigned char)prev) && isalnum((unsigned char)next)) {
			c = '.';
		} else if (c == '?' && isalnum((unsigned char)prev) && isalnum((unsigned char)next)) {
			c = '7';
		}
		if (gh > 0 && !(isalnum((unsigned char)c) || c == '_' || c == ' '))
			gh = 0;
		else if (gh > 0)
			gh -= c != ' ';
		if (map != NULL)
			map[o] = at;
		out[o++] = c;
	}
	fix_tokens(out, o);
	return o;
}

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
	}
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

	while (next_token(text, len, &i, &st, &e)) {
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
	nlen = scrub_ocr_normalise(text, len, norm, map);
	norm[nlen] = '\0';

	/* The text as read, then the normalised copy with the lenient shapes. */
	err = redact_scan(r, text, len, &sp, &ns);
	if (err != 0)
		goto done;
	spans_to_boxes(res, text, line_off, sp, ns, img_w, img_h, boxes, n, risk);
	free(sp);
	sp = NULL;
	if (nlen != len || memcmp(text, norm, len) != 0)
		err = redact_scan(r, norm, nlen, &sp, &ns);
	else
		ns = 0; /* found above already */
	if (err != 0)
		goto done;
	cap = ns;
	lenient_spans(norm, nlen, &sp, &ns, &cap);
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
done:
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

/* ---- typed text across the pieces of a run -------------------------------- */

struct scrub_typed {
	const struct redact *r;
	struct reduce_action *held;   /* actions pushed and not yet taken */
	unsigned *risk;               /* per held action */
	uint64_t *run;                /* per held action: its run (0 for other kinds) */
	uint64_t run_seq;
	uint64_t taken_run;           /* run of the action scrub_typed_take returned last */
	size_t n, cap;
	size_t ready;                 /* held[0..ready) are finished */
	size_t next;                  /* next to hand out from held[0..ready) */
	size_t run_first;             /* held[run_first..n) is the open run (may be empty) */
	bool run_open;
	int32_t run_context;
	size_t run_types;             /* type actions in the open run */
};

struct scrub_typed *scrub_typed_new(const struct redact *r)
{
	struct scrub_typed *t = util_xcalloc(1, sizeof(*t));

	t->r = r;
	return t;
}

void scrub_typed_free(struct scrub_typed *t)
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
static void close_run(struct scrub_typed *t)
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

int scrub_typed_push(struct scrub_typed *t, const struct reduce_action *a)
{
	bool joins = a->kind == REDUCE_WAIT || a->kind == REDUCE_MOVE;

	if (a->kind == REDUCE_TYPE && t->run_open && a->context != t->run_context)
		close_run(t);
	if (a->kind != REDUCE_TYPE && !(joins && t->run_open))
		close_run(t);
	if (a->kind == REDUCE_TYPE && t->run_open && t->run_types >= SCRUB_JOIN_MAX)
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

void scrub_typed_finish(struct scrub_typed *t)
{
	close_run(t);
}

const struct reduce_action *scrub_typed_take(struct scrub_typed *t, unsigned *risk)
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

/* ---- stored frames -------------------------------------------------------- */

#define SCRUB_FORMATS 4

struct scrub {
	char *dir;
	struct store *st;
	struct redact *own_redact;
	const struct redact *redact;
	char *ocr_datapath;
	struct ocr *ocr;
	struct encode *enc;
	uint32_t fill;
	struct blob *blobs[SCRUB_FORMATS];
	char fmt[SCRUB_FORMATS][8];
	/* The newest frame put together, unscrubbed, so that a patch over it is cheap. */
	int64_t cache_id;
	struct image cache;
	const atomic_int *cancel;     /* non-zero: stop scanning (the worker is stopping) */
	/*
	 * The background scanner's: scan only frames never scanned, and leave those an
	 * export scanned with other rules (its --rules) alone, which scanning them back
	 * would make that export drop.
	 */
	bool unscanned_only;
};

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

/* A time window (and event ids) in which frames are dropped for typed text. */
struct typed_window {
	int64_t t0, t1;
	int64_t ev0, ev1;
};

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
	for (int i = 0; i < SCRUB_FORMATS; i++)
		blob_close(s->blobs[i]);
	free(s->cache.pixels);
	encode_free(s->enc);
	ocr_free(s->ocr);
	store_close(s->st);
	redact_close(s->own_redact);
	free(s->ocr_datapath);
	free(s->dir);
	free(s);
}

/* The blob store of DATA_DIR/frames for a format (its extension), opened once. */
static int blobs_for(struct scrub *s, const char *format, unsigned flags, struct blob **out,
                     char **cause)
{
	char *fdir;
	int i, err;

	for (i = 0; i < SCRUB_FORMATS && s->blobs[i] != NULL; i++) {
		if (strcmp(s->fmt[i], format) == 0) {
			*out = s->blobs[i];
			return 0;
		}
	}
	if (i == SCRUB_FORMATS || strlen(format) >= sizeof(s->fmt[0]))
		return util_fail(cause, -EINVAL, "frames in an unknown format '%s'", format);
	fdir = util_xasprintf("%s/frames", s->dir);
	err = blob_open(fdir, format, flags, &s->blobs[i], cause);
	free(fdir);
	if (err != 0)
		return err;
	/* Frames are sealed at rest (blob.h): the store's vault opens them and seals ours. */
	{
		struct vault *v = NULL;
		char *why = NULL;

		err = store_vault(s->st, &v, &why);
		if (err == -ENOENT) {
			v = NULL;
		} else if (err != 0) {
			util_fail(cause, err, "%s", why);
			free(why);
			blob_close(s->blobs[i]);
			s->blobs[i] = NULL;
			return err;
		}
		free(why);
		blob_set_vault(s->blobs[i], v);
	}
	strcpy(s->fmt[i], format);
	*out = s->blobs[i];
	return 0;
}

static int load_blob_image(struct scrub *s, const char *format, const char *hex,
                           struct image *img, char **cause)
{
	struct blob *b;
	void *data = NULL;
	size_t len = 0;
	int err;

	err = blobs_for(s, format, 0, &b, cause);
	if (err == 0)
		err = blob_get(b, hex, SCRUB_BLOB_MAX, &data, &len, cause);
	if (err == 0)
		err = encode_decode(s->enc, data, len, img, NULL, cause);
	free(data);
	return err;
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
 * Puts frame fr together as the whole screen (unscrubbed) into *img (malloc'ed):
 * from the cached image when fr patches it, else from its key frame and every
 * patch up to it. Keeps a copy as the cache.
 */
static int reconstruct(struct scrub *s, int64_t session, const struct store_frame *fr,
                       struct image *img, char **cause)
{
	struct store_frame *chain = util_xmalloc(sizeof(*chain));
	size_t n = 1, cap = 1;
	int err = 0;
	bool from_cache = false;

	memset(img, 0, sizeof(*img));
	chain[0] = *fr;
	while (chain[n - 1].base_id > 0) {
		if (s->cache.pixels != NULL && chain[n - 1].base_id == s->cache_id) {
			from_cache = true;
			break;
		}
		if (n > 10000) {
			err = util_fail(cause, -EIO, "frame %lld: its chain of patches does not end",
			                (long long)fr->id);
			goto out;
		}
		if (n == cap) {
			cap *= 2;
			chain = util_xrealloc(chain, cap * sizeof(*chain));
		}
		err = store_frame_get(s->st, session, chain[n - 1].base_id, &chain[n], NULL);
		if (err != 0) {
			err = util_fail(cause, -EIO, "frame %lld: the frame it is a patch over is missing",
			                (long long)chain[n - 1].id);
			goto out;
		}
		n++;
	}
	if (from_cache) {
		/* chain[0..n) are all patches over the cached image. */
		image_copy(img, &s->cache);
	} else {
		err = load_blob_image(s, chain[n - 1].format, chain[n - 1].blob, img, cause);
		if (err != 0)
			goto out;
		n--;
	}
	if ((int32_t)img->width != fr->width || (int32_t)img->height != fr->height) {
		err = util_fail(cause, -EIO, "frame %lld: its key frame has another size",
		                (long long)fr->id);
		goto out;
	}
	/* chain[0..n) are patches still to apply, newest first. */
	for (size_t i = n; err == 0 && i-- > 0;) {
		struct image patch = { 0 };

		err = load_blob_image(s, chain[i].format, chain[i].blob, &patch, cause);
		if (err == 0)
			err = frames_patch_apply(img, &patch, &chain[i], cause);
		free(patch.pixels);
	}
out:
	free(chain);
	if (err != 0) {
		free(img->pixels);
		memset(img, 0, sizeof(*img));
		return err;
	}
	free(s->cache.pixels);
	image_copy(&s->cache, img);
	s->cache_id = fr->id;
	return 0;
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
	struct reduce *red;
	struct scrub_typed *joiner;
	struct typed_window *w;
	size_t n, cap;
	uint64_t last_run;    /* run of the newest window */
};

static void typed_drain(struct typed_ctx *c)
{
	const struct reduce_action *a;
	struct reduce_action *ra;
	unsigned risk;

	while ((ra = reduce_take(c->red)) != NULL)
		scrub_typed_push(c->joiner, ra);
	while ((a = scrub_typed_take(c->joiner, &risk)) != NULL) {
		if (a->kind != REDUCE_TYPE || !(risk & REDACT_RISK_HIGH))
			continue;
		if (c->n > 0 && (c->w[c->n - 1].t1 >= a->t_start_ns ||
		                 c->last_run == c->joiner->taken_run)) {
			/*
			 * Another piece of the same run, or a window reaching this one: one
			 * window for both, so the pause between the pieces is covered too.
			 */
			c->w[c->n - 1].t1 = a->t_end_ns + SCRUB_TYPED_AFTER_NS;
			c->w[c->n - 1].ev1 = a->ev_last;
			continue;
		}
		if (c->n == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 8;
			c->w = util_xrealloc(c->w, c->cap * sizeof(*c->w));
		}
		c->w[c->n++] = (struct typed_window){ a->t_start_ns, a->t_end_ns + SCRUB_TYPED_AFTER_NS,
		                                      a->ev_first, a->ev_last };
		c->last_run = c->joiner->taken_run;
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
 * (scrub_typed), so the window of a card typed in two pieces spans both.
 */
static int typed_windows(struct scrub *s, int64_t session, struct typed_window **out, size_t *n,
                         char **cause)
{
	struct typed_ctx c = { 0 };
	int err;

	*out = NULL;
	*n = 0;
	reduce_new(NULL, &c.red);
	c.joiner = scrub_typed_new(s->redact);
	err = store_events_foreach(s->st, session, typed_event, &c, cause);
	if (err == 0) {
		reduce_finish(c.red);
		typed_drain(&c);
		scrub_typed_finish(c.joiner);
		typed_drain(&c);
	}
	reduce_free(c.red);
	scrub_typed_free(c.joiner);
	if (err != 0) {
		free(c.w);
		return err;
	}
	*out = c.w;
	*n = c.n;
	return 0;
}

static bool in_typed_window(const struct store_frame *fr, const struct typed_window *w, size_t n)
{
	/*
	 * The pre-action frame of the run's first key (at or before it) shows the
	 * screen before any of the run was typed; every later one may show it.
	 */
	for (size_t i = 0; i < n; i++) {
		if (fr->t_ns > w[i].t0 && fr->t_ns <= w[i].t1)
			return true;
		if (fr->event_id > 0 && fr->event_id > w[i].ev0 && fr->event_id <= w[i].ev1)
			return true;
	}
	return false;
}

struct frame_list {
	struct store_frame *f;
	size_t n, cap;
};

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

/* Scans one frame; fills *scan and *boxes (malloc'ed JSON). Only store errors return. */
static int scan_frame(struct scrub *s, int64_t session, const struct store_frame *fr,
                      const struct typed_window *tw, size_t ntw, struct scrub_stats *stats,
                      char **cause)
{
	struct store_frame_scan base = { 0 }, scan = { 0 };
	struct scrub_box *boxes = NULL;
	struct image_rect bands[STORE_PATCH_MAX];
	size_t nbox = 0, nband = 0;
	struct image img = { 0 };
	unsigned risk = 0;
	char *why = NULL, *json = NULL;
	bool full = true;
	int err;

	if (s->ocr == NULL) {
		struct ocr_opts o = { .datapath = s->ocr_datapath };

		err = ocr_new(&o, &s->ocr, cause);
		if (err != 0)
			return err; /* without OCR nothing can be scanned: stop, frames stay unscanned */
		if (s->cancel != NULL)
			ocr_set_cancel(s->ocr, s->cancel);
	}
	if (fr->base_id > 0) {
		char *bj = NULL;

		err = store_frame_scan_get(s->st, fr->base_id, &base, &bj, NULL);
		/* Findings of other rules are not this scan's: then the whole screen is read. */
		if (err == 0 && scanned_with(&base, s->redact) && strcmp(base.reason, "error") != 0) {
			struct scrub_box *inh = NULL;
			size_t ninh = 0;

			full = false;
			nband = patch_bands(fr, bands);
			boxes_parse(bj, &inh, &ninh);
			for (size_t i = 0; i < ninh; i++) {
				bool touched = false;

				for (int p = 0; p < fr->n_patch && !touched; p++) {
					struct image_rect pr = { fr->patch[p].x, fr->patch[p].y,
					                        (uint32_t)fr->patch[p].w,
					                        (uint32_t)fr->patch[p].h };

					touched = rects_touch(&inh[i].box, &pr);
				}
				/* A box the patches changed is read again with its band. */
				if (touched && in_bands(&inh[i].box, bands, nband))
					continue;
				risk |= inh[i].risk;
				box_push(&boxes, &nbox, &inh[i]);
			}
			free(inh);
		}
		free(bj);
	}
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
	} else if (nbox > SCRUB_MAX_BOXES || (risk & REDACT_RISK_HIGH)) {
		scan.state = STORE_SCAN_DROPPED;
		strcpy(scan.reason, "pixels");
	} else if (in_typed_window(fr, tw, ntw)) {
		scan.state = STORE_SCAN_DROPPED;
		strcpy(scan.reason, "typed");
	} else if (nbox > 0) {
		struct encode_params p;
		const uint8_t *png = NULL;
		size_t png_len = 0;
		struct blob *b = NULL;

		encode_params_default(&p, ENCODE_PNG);
		err = encode_image(s->enc, &img, &p, &png, &png_len, &why);
		if (err == 0)
			err = blobs_for(s, "png", BLOB_WRITE, &b, &why);
		if (err == 0)
			err = blob_put(b, png, png_len, scan.blob, &why);
		if (err != 0) {
			log_warn("scrub: frame %lld dropped: %s", (long long)fr->id, why ? why : "");
			scan.state = STORE_SCAN_DROPPED;
			strcpy(scan.reason, "error");
			scan.blob[0] = '\0';
		} else {
			scan.state = STORE_SCAN_SCRUBBED;
		}
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

int scrub_session(struct scrub *s, int64_t session, struct scrub_stats *stats, char **cause)
{
	struct scrub_stats local;
	struct frame_list all = { 0 };
	struct typed_window *tw = NULL;
	size_t ntw = 0;
	int err;

	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	err = store_frames_foreach(s->st, session, collect_frame, &all, cause);
	if (err == 0)
		err = typed_windows(s, session, &tw, &ntw, cause);
	stats->frames = all.n;
	for (size_t i = 0; i < all.n && err == 0; i++) {
		const struct store_frame *fr = &all.f[i];
		struct store_frame_scan sc;

		if (s->cancel != NULL && atomic_load(s->cancel)) {
			err = -ECANCELED;
			break;
		}
		err = store_frame_scan_get(s->st, fr->id, &sc, NULL, cause);
		if (err != 0)
			continue;
		if (scanned_with(&sc, s->redact)) {
			/*
			 * Scanned before the typing run it belongs to was complete (a
			 * session scanned while it was recorded): the run's later pieces
			 * can make it high-risk. The decision on typing is made again.
			 */
			if ((sc.state == STORE_SCAN_CLEAN || sc.state == STORE_SCAN_SCRUBBED) &&
			    in_typed_window(fr, tw, ntw)) {
				char *bj = NULL;

				err = store_frame_scan_get(s->st, fr->id, &sc, &bj, cause);
				sc.state = STORE_SCAN_DROPPED;
				strcpy(sc.reason, "typed");
				sc.blob[0] = '\0';
				if (err == 0)
					err = store_frame_scan_set(s->st, fr->id, &sc, bj, cause);
				free(bj);
				stats->dropped_typed += err == 0;
			}
			continue;
		}
		/* Scanned with other rules is unscanned to s, but not to the background scanner. */
		if (sc.state != STORE_SCAN_UNSCANNED && s->unscanned_only)
			continue;
		/* A record naming the same pixels as the one before shares its scan. */
		if (i > 0 && same_pixels(fr, &all.f[i - 1])) {
			struct store_frame_scan prev;
			char *bj = NULL;
			bool reuse;

			err = store_frame_scan_get(s->st, all.f[i - 1].id, &prev, &bj, cause);
			/*
			 * A frame dropped for typing kept no scrubbed image, and one scanned with
			 * other rules (the background scanner leaves those) is no verdict for
			 * these: scan this one itself.
			 */
			reuse = err == 0 && scanned_with(&prev, s->redact) &&
			        strcmp(prev.reason, "error") != 0 && strcmp(prev.reason, "typed") != 0;
			if (reuse) {
				if (in_typed_window(fr, tw, ntw)) {
					prev.state = STORE_SCAN_DROPPED;
					strcpy(prev.reason, "typed");
					prev.blob[0] = '\0';
				}
				err = store_frame_scan_set(s->st, fr->id, &prev, bj, cause);
				if (err == 0)
					count(stats, &prev, true);
				if (s->cache_id == all.f[i - 1].id)
					s->cache_id = fr->id;
			}
			free(bj);
			if (reuse || err != 0)
				continue;
		}
		err = scan_frame(s, session, fr, tw, ntw, stats, cause);
		if (err == -ENOENT) {
			/* Forgotten (mimic forget, retention) while it was scanned. */
			if (cause != NULL) {
				free(*cause);
				*cause = NULL;
			}
			err = 0;
		}
	}
	free(tw);
	free(all.f);
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
		err = load_blob_image(s, "png", sc.blob, img, cause);
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

int scrub_sessions(const char *data_dir, const struct redact *r, const int64_t *sessions,
                   size_t n, struct scrub_stats *total, char **cause)
{
	struct scrub_opts o = { .data_dir = data_dir, .redact = r, .fill = SCRUB_FILL };
	struct scrub_stats one, sum = { 0 };
	struct scrub *s = NULL;
	int err;

	err = scrub_open(&o, &s, cause);
	for (size_t i = 0; i < n && err == 0; i++) {
		err = scrub_session(s, sessions[i], &one, cause);
		sum.frames += one.frames;
		sum.scanned += one.scanned;
		sum.clean += one.clean;
		sum.scrubbed += one.scrubbed;
		sum.dropped += one.dropped;
		sum.dropped_typed += one.dropped_typed;
		sum.reused += one.reused;
		sum.regions += one.regions;
		sum.ocr_ms += one.ocr_ms;
	}
	scrub_close(s);
	if (total != NULL)
		*total = sum;
	return err;
}

int scrub_export_frame(struct store *st, const struct redact *r, int64_t id,
                       struct image *img, uint32_t fill, char **cause)
{
	struct store_frame_scan sc;
	struct scrub_box *boxes = NULL;
	size_t n = 0;
	char *bj = NULL;
	int err;

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
