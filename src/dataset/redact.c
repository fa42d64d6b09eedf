/*
 * redact: the text PII and secret detector (see redact.h and docs/REDACTION.md).
 *
 * Every rule is a PCRE2 pattern plus an optional validator. The validator runs as
 * a PCRE2 callout at the very end of the pattern, so that a candidate it rejects
 * makes the matcher backtrack and try the next shorter or differently grouped
 * candidate at the same start ("4111 1111 1111 1111 2024" still yields the card
 * when the five-group reading fails its Luhn check). Findings of all rules are
 * then merged: overlapping findings become one span, labelled by the strongest of
 * them, so that nothing any detector found is left visible. The rules themselves,
 * built-in and added, are text in one format (docs/REDACTION.md, "Rules files"),
 * which also holds the sensitive field labels (`label` lines, redact_label_match).
 */
#include "redact.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "dbuf.h"
#include "log.h"
#include "testbreak.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * ASCII character classes. The <ctype.h> ones follow the locale, and text here is
 * bytes whose meaning must not change with LC_CTYPE.
 */
static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_alnum(char c)
{
	return is_digit(c) || is_upper(c) || is_lower(c);
}

static bool is_xdigit(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char to_lower(char c)
{
	return is_upper(c) ? (char)(c - 'A' + 'a') : c;
}

static char to_upper(char c)
{
	return is_lower(c) ? (char)(c - 'a' + 'A') : c;
}

/* Limits for rules files: they come from outside (a policy), so they are bounded. */
#define RULES_FILE_MAX ((size_t)1 << 20)
#define RULES_MAX_ADDED 256
#define RULE_NAME_MAX 63
#define LABELS_MAX_ADDED 256

/* The first field of a line that gives a label phrase instead of a rule. */
#define LABEL_KEYWORD "label"

/* What a rule's validator checks once the pattern has matched. */
enum check {
	CHECK_NONE,
	CHECK_LUHN,       /* card number: 13-19 digits, issuer prefix, Luhn */
	CHECK_IBAN,       /* country length table and mod 97 */
	CHECK_SSN,        /* US SSN area, group and serial ranges */
	CHECK_IPV4,       /* four octets 0-255 without leading zeros */
	CHECK_IPV6,       /* inet_pton plus a guard against C++ "abc::def" */
	CHECK_MAC,        /* not all-zero, not broadcast */
	CHECK_EMAIL,      /* lengths; top-level domain that is not a file extension */
	CHECK_PHONE,      /* digit count per format */
	CHECK_TOKEN,      /* generic high-entropy token heuristics */
	CHECK_B64SECRET,  /* 40-character base64 secret (AWS secret access key) */
	CHECK_ENTROPY,    /* Shannon entropy of the match at least rule->min_entropy */
	CHECK_PEM,        /* not a validator: extends the match to the END line */
};

static const struct {
	const char *name;
	enum check check;
} check_names[] = {
	{"-", CHECK_NONE}, {"none", CHECK_NONE}, {"luhn", CHECK_LUHN}, {"iban", CHECK_IBAN},
	{"ssn", CHECK_SSN}, {"ipv4", CHECK_IPV4}, {"ipv6", CHECK_IPV6}, {"mac", CHECK_MAC},
	{"email", CHECK_EMAIL}, {"phone", CHECK_PHONE}, {"token", CHECK_TOKEN},
	{"b64secret", CHECK_B64SECRET}, {"pem", CHECK_PEM},
};

static const char *const type_names[REDACT_TYPE_COUNT] = {
	[REDACT_EMAIL] = "EMAIL", [REDACT_PHONE] = "PHONE", [REDACT_IP] = "IP",
	[REDACT_MAC] = "MAC", [REDACT_CARD] = "CARD", [REDACT_IBAN] = "IBAN",
	[REDACT_SSN] = "SSN", [REDACT_NATIONAL_ID] = "NATIONAL_ID",
	[REDACT_SECRET] = "SECRET", [REDACT_PRIVATE_KEY] = "PRIVATE_KEY",
};

struct rule {
	char *name;
	enum redact_type type;
	enum redact_risk risk;
	enum check check;
	double min_entropy;     /* CHECK_ENTROPY only */
	pcre2_code *code;
};

/* A label phrase (redact_label_match): its words as " date of birth ", and bare. */
struct label {
	char *spaced;
	char *words;
};

struct redact {
	struct rule *rules;
	size_t nrules;
	struct label *labels;   /* sensitive field label phrases, in load order */
	size_t nlabels;
	size_t nbuiltin;        /* rules[0..nbuiltin) are the built-in ones */
	/* While loading only: the hash of the rules added so far (redact_fingerprint). */
	crypto_generichash_state *fp_state;
	char fingerprint[REDACT_FINGERPRINT_LEN + 1];
};

/*
 * What starts the hashed text of a rule set. Raise the number when what is hashed
 * per rule changes, so that no two forms can give the same fingerprint.
 */
#define FINGERPRINT_DOMAIN "mimic redaction rules 1"

/*
 * The built-in rules are data: data/redact.rules, in the rules-file format, turned
 * into this array at build time (scripts/embed-text, data/meson.build) and parsed
 * by load_text like any rules file, so that there is one format and one parser.
 * They live in the binary rather than in an installed file so that deleting or
 * editing a file can never switch detection off (safeguard 10); a mistake in them
 * fails the build (scripts/redact-rules-check.c).
 */
extern const unsigned char redact_builtin_rules[];
extern const size_t redact_builtin_rules_len;

/* How the built-in rules are named in messages ("built-in rules ...:12: ..."). */
#define BUILTIN_NAME "built-in rules data/redact.rules"

/* ------------------------------------------------------------------------- */
/* Validators                                                                 */

static double shannon_entropy(const unsigned char *s, size_t n)
{
	size_t counts[256] = {0};
	double h = 0.0;

	if (n == 0)
		return 0.0;
	for (size_t i = 0; i < n; i++)
		counts[s[i]]++;
	for (size_t i = 0; i < 256; i++) {
		if (counts[i] > 0) {
			double p = (double)counts[i] / (double)n;
			h -= p * log2(p);
		}
	}
	return h;
}

/*
 * Whether the issuer prefix (IIN) of a card number fits its length: Visa, Mastercard
 * (51-55 and 2221-2720), Mir, American Express, Diners, JCB, Discover, UnionPay and
 * Maestro. Numbers starting 0, 1, 7, 8 or 9 (epoch milliseconds, nanosecond
 * timestamps, airline and telecom numbers) are not cards for this module.
 */
static bool iin_ok(const char *d, size_t n)
{
	int p2 = (d[0] - '0') * 10 + (d[1] - '0');
	int p3 = p2 * 10 + (d[2] - '0');
	int p4 = p3 * 10 + (d[3] - '0');

	switch (d[0]) {
	case '2':
		if (p4 >= 2221 && p4 <= 2720)
			return n == 16;
		return p4 >= 2200 && p4 <= 2204 && n >= 16;
	case '3':
		if (p2 == 34 || p2 == 37)
			return n == 15;
		if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39)
			return n >= 14;
		return p4 >= 3528 && p4 <= 3589 && n >= 16;
	case '4':
		return n == 13 || n == 16 || n == 19;
	case '5':
		if (p2 >= 51 && p2 <= 55)
			return n == 16;
		return true; /* Maestro 50, 56-59: 12 to 19 digits */
	case '6':
		return true; /* Discover, UnionPay, Maestro, RuPay: 13 to 19 digits here */
	default:
		return false;
	}
}

/*
 * Whether s[0..n) is grouped as card numbers are printed: one group, or groups
 * of four with a last of three or four, or 4-6-4/5. Only for the deliberate
 * fault "card-any-grouping-off", which brings back the old printed-only rule.
 */
static bool printed_grouping(const char *s, size_t n)
{
	size_t g[20], ng = 0, run = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && is_digit(s[i])) {
			run++;
		} else if (ng < 20) {
			g[ng++] = run;
			run = 0;
		}
	}
	if (ng == 1)
		return true;
	if (ng == 3 && g[0] == 4 && g[1] == 6 && (g[2] == 4 || g[2] == 5))
		return true;
	for (size_t i = 0; i + 1 < ng; i++)
		if (g[i] != 4)
			return false;
	return g[ng - 1] == 3 || g[ng - 1] == 4;
}

static bool check_luhn(const char *s, size_t n)
{
	char d[19];
	size_t nd = 0;
	int sum = 0;
	bool same = true;

	for (size_t i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			if (nd == sizeof d)
				return false;
			d[nd++] = s[i];
		}
	}
	if (nd < 13)
		return false;
	if (testbreak("card-any-grouping-off") && !printed_grouping(s, n))
		return false;
	for (size_t i = 1; i < nd; i++)
		same = same && d[i] == d[0];
	if (same || !iin_ok(d, nd))
		return false;
	/*
	 * 17 to 19 digits without separators are mostly 64-bit integers (ids, hashes in
	 * decimal); of those lengths only Visa and UnionPay numbers count there.
	 */
	if (nd == n && nd >= 17 && !(d[0] == '4' || (d[0] == '6' && d[1] == '2')))
		return false;
	for (size_t i = 0; i < nd; i++) {
		int v = d[nd - 1 - i] - '0';

		if (i % 2 == 1) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return sum % 10 == 0;
}

/* IBAN lengths by country (SWIFT IBAN registry). */
static const struct {
	char cc[3];
	unsigned char len;
} iban_lengths[] = {
	{"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
	{"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22},
	{"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20},
	{"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
	{"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HN", 28}, {"HR", 21}, {"HU", 28},
	{"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30},
	{"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21},
	{"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20}, {"MR", 27},
	{"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
	{"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24},
	{"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23},
	{"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22},
	{"VG", 24}, {"XK", 20}, {"YE", 30},
};

static bool check_iban(const char *s, size_t n)
{
	char c[40];
	size_t nc = 0, want = 0;
	unsigned rem = 0;

	/* People group an IBAN by spaces or dashes anywhere; neither is part of it. */
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ' ' || s[i] == '-')
			continue;
		if (nc == 34)
			return false;
		c[nc++] = to_upper(s[i]);
	}
	if (nc < 15)
		return false;
	for (size_t i = 0; i < sizeof iban_lengths / sizeof iban_lengths[0]; i++) {
		if (c[0] == iban_lengths[i].cc[0] && c[1] == iban_lengths[i].cc[1]) {
			want = iban_lengths[i].len;
			break;
		}
	}
	if (want != nc)
		return false;
	/* Move the first four characters to the end, letters become 10..35, mod 97. */
	for (size_t k = 0; k < nc; k++) {
		char ch = c[(k + 4) % nc];

		if (ch >= '0' && ch <= '9') {
			rem = (rem * 10 + (unsigned)(ch - '0')) % 97;
		} else if (ch >= 'A' && ch <= 'Z') {
			rem = (rem * 100 + (unsigned)(ch - 'A' + 10)) % 97;
		} else {
			return false;
		}
	}
	return rem == 1;
}

size_t redact_iban_length(const char *cc)
{
	for (size_t i = 0; i < sizeof iban_lengths / sizeof iban_lengths[0]; i++)
		if (cc[0] == iban_lengths[i].cc[0] && cc[1] == iban_lengths[i].cc[1])
			return iban_lengths[i].len;
	return 0;
}

bool redact_iban_valid(const char *s, size_t n)
{
	return check_iban(s, n);
}

static int digits_value(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* AAA-GG-SSSS: area 001-899 except 666, group 01-99, serial 0001-9999. */
static bool check_ssn(const char *s, size_t n)
{
	int area, group, serial;

	if (n != 11)
		return false;
	area = digits_value(s, 3);
	group = digits_value(s + 4, 2);
	serial = digits_value(s + 7, 4);
	return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
}

/*
 * Octets 0-255 without leading zeros (as inet_pton). Addresses that name no one are
 * left alone: 0/8, loopback 127/8, multicast and reserved 224/3. So are quads whose
 * first number is below 10 and the others below 32 ("Git 1.7.10.5", "dpkg 1.15.8.8",
 * the OID "2.5.29.19"): such quads are version and section numbers far more often
 * than addresses, and a random address is one with odds of about 1 in 250,000.
 */
static bool check_ipv4(const char *s, size_t n)
{
	char buf[16];
	struct in_addr a;
	unsigned char o[4];

	if (n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return false;
	memcpy(o, &a.s_addr, 4);
	if (o[0] == 0 || o[0] == 127 || o[0] >= 224)
		return false;
	return !(o[0] < 10 && o[1] < 32 && o[2] < 32 && o[3] < 32);
}

/*
 * inet_pton decides; in addition an address must contain a decimal digit and at
 * least two non-empty groups, so that C++ "Face::add" and the loopback "::1" (which
 * names no one) are not taken for addresses.
 */
static bool check_ipv6(const char *s, size_t n)
{
	char buf[64];
	struct in6_addr a;
	size_t groups = 0;
	bool digit = false, in_group = false;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			n = i;
			break;
		}
	}
	if (n >= sizeof buf)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (buf[i] >= '0' && buf[i] <= '9')
			digit = true;
		if (buf[i] == ':') {
			in_group = false;
		} else if (!in_group) {
			in_group = true;
			groups++;
		}
	}
	if (!digit || groups < 2)
		return false;
	return inet_pton(AF_INET6, buf, &a) == 1;
}

static bool check_mac(const char *s, size_t n)
{
	bool zero = true, ones = true;

	for (size_t i = 0; i < n; i++) {
		if (is_xdigit(s[i])) {
			zero = zero && s[i] == '0';
			ones = ones && (s[i] == 'f' || s[i] == 'F');
		}
	}
	return !zero && !ones;
}

/*
 * File extensions that are not top-level domains: "icon@2x.png" and
 * "module@1.0.tgz" are file names, not addresses. Real two-letter country domains
 * that double as extensions (.py, .sh, .rs, .md, .pl) stay addresses.
 */
static const char *const not_tlds[] = {
	"bak", "bin", "bmp", "bz2", "cfg", "conf", "cpp", "css", "csv", "cxx", "dat", "deb",
	"dll", "doc", "docx", "exe", "gif", "gz", "hh", "hpp", "htm", "html", "ico", "ini",
	"jar", "jpeg", "jpg", "js", "json", "lock", "log", "lua", "mjs", "mp3", "mp4", "obj",
	"pdf", "php", "png", "pyc", "rb", "rpm", "svg", "tar", "tgz", "tmp", "toml", "ts",
	"tsx", "txt", "wav", "webp", "xml", "xz", "yaml", "yml", "zip", "zst",
};

static bool check_email(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);
	const char *tld = s + n;
	size_t tld_len;

	if (at == NULL || at - s > 64 || n > 254)
		return false;
	while (tld > at && tld[-1] != '.')
		tld--;
	tld_len = (size_t)(s + n - tld);
	for (size_t i = 0; i < sizeof not_tlds / sizeof not_tlds[0]; i++) {
		if (strlen(not_tlds[i]) == tld_len && strncasecmp(not_tlds[i], tld, tld_len) == 0)
			return false;
	}
	return true;
}

/*
 * Digit counts: "+..." is E.164 (8 to 15 digits, one more allowed for a "(0)" trunk
 * digit); a leading 0 is a national number (9 to 13 digits); anything else is North
 * American: 10 digits (11 with the leading 1) and an area code that starts 2-9.
 */
static bool check_phone(const char *s, size_t n)
{
	char d[20];
	size_t nd = 0, i = 0;
	bool paren_trunk = false;

	for (size_t k = 0; k < n; k++) {
		if (s[k] >= '0' && s[k] <= '9') {
			if (nd == sizeof d)
				return false;
			d[nd++] = s[k];
		}
		if (s[k] == '(' && k + 2 < n && s[k + 1] == '0' && s[k + 2] == ')')
			paren_trunk = true;
	}
	if (nd == 0)
		return false;
	if (s[0] == '+')
		return nd >= 8 && nd <= (paren_trunk ? 16u : 15u);
	if (s[0] == '0') {
		const char *dash = memchr(s, '-', n);

		/* "MA 02110-1301": a US ZIP+4 code, not a phone number. */
		if (dash != NULL && n - (size_t)(dash - s) == 5 && (dash - s == 5 || dash - s == 6))
			return false;
		return nd >= 9 && nd <= 13;
	}
	if (nd == 11 && d[0] == '1')
		i = 1;
	if (nd - i != 10)
		return false;
	return d[i] >= '2';
}

/*
 * How much more often a letter pair occurs in English than in random letters:
 * log2(P_english(ab) / (1/676)) * 8, from the letter pairs of the English licence
 * texts in Debian's /usr/share/common-licenses (GPL-3, Apache-2.0, MPL-2.0,
 * GFDL-1.3, Artistic), add-one smoothed. Identifiers built from words and
 * abbreviations score above zero on average, random letters well below.
 */
static const signed char letter_pairs[26][26] = {
	/* a */ {-51,   8,  12,   3, -51, -15,   7, -51,   7, -29,  -7,  20,   6,
	          28, -51,   0, -27,  21,  12,  26,  -5,  -4, -13, -35,   6, -51},
	/* b */ { -9, -51, -51, -43,   8, -51, -51, -51,  -1,  -9, -51,  13, -29,
	         -51, -11, -39, -51, -16, -15, -31,  11, -51, -51, -51,   5, -51},
	/* c */ {  8, -51,  -7, -51,  25, -43, -51,  12,   5, -51,  -4,   7, -51,
	         -51,  27, -51, -39, -10, -39,  15,   8, -51, -51, -51, -51, -51},
	/* d */ {  1, -51, -51,  -3,  21, -39, -26, -51,  20, -35, -51, -25, -51,
	         -51,   9, -51, -51, -25, -18, -39,  -3, -33, -29, -51, -25, -51},
	/* e */ { 11, -31,  17,  24,   6,  -2,  -3, -24,   1, -51, -51,   3,   6,
	          28, -19,  -1,  -2,  31,  22,   1, -51,  -2, -12,   8,  -3, -51},
	/* f */ {-10, -51, -51, -51,   1,  -5, -51, -51,  10, -51, -51, -33, -51,
	         -51,  16, -51, -51,   7, -39,   2, -12, -51, -51, -51,  -7, -51},
	/* g */ {  1, -51, -51, -51,  12, -51, -19,   6,  -2, -51, -51, -22, -35,
	          -6, -21, -26, -51,   7, -33, -51, -16, -51, -51, -51, -51, -51},
	/* h */ { 18, -51, -51, -51,  31, -51, -51, -51,  17, -51, -51, -51, -51,
	         -33,  11, -51, -51, -22, -29,   6, -26, -51, -43, -51, -25, -51},
	/* i */ {  6,  12,  25,   3,  10,  14,   9, -51, -31, -51, -26,   8,   6,
	          30,  25,  -5, -39,   5,  25,  24, -23,   8, -51, -26, -51, -17},
	/* j */ {-35, -51, -51, -51,  -9, -51, -51, -51, -51, -51, -51, -51, -51,
	         -51, -29, -43, -51, -51, -51, -51, -22, -51, -51, -51, -51, -51},
	/* k */ { -9, -51, -51, -51,  -4, -51, -51, -51, -12, -51, -51, -51, -51,
	         -21, -51, -51, -51, -51,  -5, -51, -35, -51, -51, -51, -51, -51},
	/* l */ { 12, -51, -43,  -2,  18, -17, -43, -51,  24, -51, -51,  12, -51,
	         -51,   0, -51, -51, -39,  -9, -11,   2, -31, -43, -51,  10, -51},
	/* m */ { 16,  -7, -25, -51,  18, -51, -51, -51,   7, -51, -51, -26,  -7,
	         -27,   7,   3, -51, -51,   3, -51,  -5, -31, -51, -51, -51, -51},
	/* n */ {  7, -51,   7,  23,  13,  -8,  18, -51,  -1, -43, -27,  -9, -31,
	         -17,  15, -27, -51, -51,  25,  26,  -3,  -1, -51, -51,   9, -51},
	/* o */ {-43,  -7,   5,  11, -13,  25,  -1, -27, -22, -51, -31,   5,  12,
	          32, -15,  13, -51,  31,   4,  16,  22,  11,   3, -29, -26, -31},
	/* p */ { 13, -51, -51, -33,   7, -51, -43, -20,  -1, -51, -51,   7, -39,
	         -43,   4,   0, -51,  17, -26,  -4,   5, -51, -51, -51,   7, -51},
	/* q */ {-51, -51, -51, -51, -51, -51, -51, -51, -51, -51, -51, -51, -51,
	         -51, -51, -51, -51, -51, -51, -51,   0, -51, -51, -51, -51, -51},
	/* r */ { 17, -21,   5,  -2,  28, -17,  -7, -51,  22, -51,  12, -20,  13,
	         -17,  18,  -9, -51,   2,  12,   6, -13, -11, -15, -51,  -2, -51},
	/* s */ { -3, -51,  -7, -33,  27, -21, -39,   4,  15, -51, -29, -17, -39,
	         -51,  14,   1, -51, -43,   8,  17,  10, -51, -43, -51, -25, -51},
	/* t */ { 12, -39, -51, -39,  24, -39, -51,  36,  28, -51, -51,  -1, -29,
	         -33,  21, -20, -51,  14,  11,  -4, -11, -51,   2, -51,   6, -51},
	/* u */ { -5,   5,   6,  -1,  -9, -33, -19, -51,  -3, -51, -51,  -1,   7,
	          10, -39, -15, -51,  12,  12,  17, -39, -51, -51, -51, -51, -51},
	/* v */ {  1, -51, -51, -51,  22, -51, -51, -51,   6, -51, -51, -51, -51,
	         -51, -21, -51, -51, -51, -51, -51, -51, -51, -51, -51, -51, -51},
	/* w */ {  7, -51, -51, -51,  -7, -51, -51,   4,  12, -51, -51, -27, -51,
	         -13,  12, -51, -51, -21, -31, -51, -51, -51, -22, -51, -51, -51},
	/* x */ {-21, -51,  -9, -51, -10, -51, -51, -31, -31, -51, -51, -51, -39,
	         -51, -51, -16, -51, -51, -51,  -2, -51, -51, -51, -51, -24, -51},
	/* y */ {-26, -39, -51, -51, -19, -51, -51, -51,  -8, -51, -51, -33, -43,
	         -39,  17, -29, -51,   0, -11, -33, -51, -51, -51, -51, -35, -29},
	/* z */ {-26, -51, -51, -51, -24, -51, -51, -51, -29, -51, -51, -51, -51,
	         -51, -51, -51, -51, -51, -51, -51, -51, -51, -51, -51, -51, -51},
};

/*
 * The token heuristics combine six measures linearly, with weights fitted by
 * logistic regression on random tokens against identifiers from /usr/include,
 * Debian changelogs and the generated code of bench/redact_text.c: pieces per
 * character, the entropy ratio (Shannon entropy over log2 of the length, capped at
 * 64), the English letter-pair score, the mean length of letter pieces, the share
 * of single-case parts and the share of letters in word-like pieces.
 */
static const double token_weights[6] = {-0.670, 39.750, -0.721, -1.589, -9.425, -3.787};
static const double token_bias = -29.647;

struct token_cut {
	double min_score;
	double max_wordy; /* share of letters in word-like pieces, below */
};

/* The generic rule keeps 99% of random tokens of 20 to 64 characters. */
static const struct token_cut generic_cut = {-0.4, 0.6};
/* Exactly 40 base64 characters (an AWS secret access key): 99.9% of random ones. */
static const struct token_cut b64secret_cut = {-2.5, 0.8};

/* Mean letter_pairs score of a run of letters (case folded); -9 for one letter. */
static double run_pair_score(const char *s, size_t n)
{
	long sum = 0;

	if (n < 2)
		return -9.0;
	for (size_t i = 1; i < n; i++) {
		int a = to_lower(s[i - 1]), b = to_lower(s[i]);

		sum += letter_pairs[a - 'a'][b - 'a'];
	}
	return (double)sum / 8.0 / (double)(n - 1);
}

struct pieces {
	size_t alnum, pieces, letters, letter_pieces, wordy_letters;
};

/*
 * Abbreviations without vowels that identifiers are made of ("XMLHttpRequest",
 * "TcpCtx", "StrBuf"): they count as words, like English pieces.
 */
static bool abbreviation(const char *s, size_t n)
{
	static const char *const abbr[] = {
		"http", "https", "html", "xml", "tcp", "udp", "ssl", "tls", "dns", "ptr", "str",
		"cmd", "ctx", "msg", "src", "dst", "pkt", "cnt", "buf", "fmt", "lst", "mgr", "svc",
		"sql", "rgb", "png", "jpg", "gpu", "cpu", "pwd", "std", "tmp", "fn", "cb", "db", "js",
		"fd", "pid", "tid", "rc", "nr", "num", "len", "val", "var", "cfg", "lng", "dt",
	};
	char low[6];

	if (n < 2 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)to_lower(s[i]);
	low[n] = '\0';
	for (size_t i = 0; i < sizeof abbr / sizeof abbr[0]; i++)
		if (strcmp(low, abbr[i]) == 0)
			return true;
	return false;
}

/*
 * Splits s into word-like pieces: "[A-Z]?[a-z]+", "[A-Z]+" not followed by lower
 * case, and digit runs ("HTTPServer2" is HTTP, Server, 2). Random tokens break into
 * about one piece per two characters, identifiers into fewer and longer ones. A
 * letter piece of three or more letters with a vowel and English-like letter pairs
 * counts as a word.
 */
static void count_pieces(const char *s, size_t n, struct pieces *p)
{
	memset(p, 0, sizeof *p);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		bool letters = true;

		if (is_digit(s[i])) {
			while (j < n && is_digit(s[j]))
				j++;
			letters = false;
		} else if (is_upper(s[i])) {
			while (j < n && is_upper(s[j]))
				j++;
			if (j < n && is_lower(s[j])) {
				if (j - i >= 2) {
					j--; /* the last capital starts the next word */
				} else {
					while (j < n && is_lower(s[j]))
						j++;
				}
			}
		} else if (is_lower(s[i])) {
			while (j < n && is_lower(s[j]))
				j++;
		} else {
			i++;
			continue;
		}
		p->pieces++;
		p->alnum += j - i;
		if (letters) {
			bool vowel = false;

			p->letter_pieces++;
			p->letters += j - i;
			for (size_t k = i; k < j; k++)
				vowel = vowel || strchr("aeiouyAEIOUY", s[k]) != NULL;
			if ((j - i >= 3 && vowel && run_pair_score(s + i, j - i) > -3.0) ||
			    abbreviation(s + i, j - i))
				p->wordy_letters += j - i;
		}
		i = j;
	}
}

/* Mean English letter-pair score of adjacent letters (case folded); -9 without pairs. */
static double pair_score(const char *s, size_t n)
{
	long sum = 0;
	size_t pairs = 0;

	for (size_t i = 1; i < n; i++) {
		int a = to_lower(s[i - 1]), b = to_lower(s[i]);

		if (a >= 'a' && a <= 'z' && b >= 'a' && b <= 'z') {
			sum += letter_pairs[a - 'a'][b - 'a'];
			pairs++;
		}
	}
	return pairs == 0 ? -9.0 : (double)sum / 8.0 / (double)pairs;
}

/*
 * Share of letters and digits in parts (split at anything else) written in one
 * case or capitalised: "EVP_PKEY_CTX_get0" is all such parts, random base64url
 * almost none.
 */
static double plain_parts(const char *s, size_t n)
{
	size_t total = 0, plain = 0;

	for (size_t i = 0; i < n;) {
		size_t j = i, up = 0, low = 0, later_up = 0;

		while (j < n && is_alnum(s[j])) {
			if (is_upper(s[j])) {
				up++;
				if (j > i)
					later_up++;
			}
			low += is_lower(s[j]);
			j++;
		}
		total += j - i;
		if (up == 0 || low == 0 || (later_up == 0 && is_upper(s[i])))
			plain += j - i;
		i = j == i ? i + 1 : j;
	}
	return total == 0 ? 1.0 : (double)plain / (double)total;
}

/*
 * The generic high-entropy token: at least 20 characters (padding excluded) with
 * upper case, lower case and digits, that scores at least cut->min_score (see
 * token_weights) and is not mostly words. Hex-only strings (git hashes, UUIDs,
 * checksums) and single-case identifiers never pass: they are not secrets here.
 */
static bool check_token(const char *s, size_t n, const struct token_cut *cut)
{
	bool upper = false, lower = false, digit = false;
	struct pieces p;
	double x[6], score = token_bias, wordy;

	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n < 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		upper = upper || (c >= 'A' && c <= 'Z');
		lower = lower || (c >= 'a' && c <= 'z');
		digit = digit || (c >= '0' && c <= '9');
	}
	if (!upper || !lower || !digit)
		return false;
	count_pieces(s, n, &p);
	wordy = (double)p.wordy_letters / (double)p.letters;
	if (wordy >= cut->max_wordy)
		return false;
	x[0] = (double)p.pieces / (double)p.alnum;
	x[1] = shannon_entropy((const unsigned char *)s, n) / log2((double)(n < 64 ? n : 64));
	x[2] = pair_score(s, n);
	x[3] = (double)p.letters / (double)p.letter_pieces;
	x[4] = plain_parts(s, n);
	x[5] = wordy;
	for (int i = 0; i < 6; i++)
		score += token_weights[i] * x[i];
	return score >= cut->min_score;
}

/* Exactly 40 characters of standard base64: the shape of an AWS secret access key. */
static bool is_b64secret(const char *s, size_t n)
{
	if (n != 40)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_alnum(s[i]) && s[i] != '+' && s[i] != '/')
			return false;
	}
	return true;
}

static bool rule_check(const struct rule *rule, const char *s, size_t n)
{
	switch (rule->check) {
	case CHECK_NONE:
	case CHECK_PEM:
		return true;
	case CHECK_LUHN:
		return check_luhn(s, n);
	case CHECK_IBAN:
		return check_iban(s, n);
	case CHECK_SSN:
		return check_ssn(s, n);
	case CHECK_IPV4:
		return check_ipv4(s, n);
	case CHECK_IPV6:
		return check_ipv6(s, n);
	case CHECK_MAC:
		return check_mac(s, n);
	case CHECK_EMAIL:
		return check_email(s, n);
	case CHECK_PHONE:
		return check_phone(s, n);
	case CHECK_TOKEN:
		return check_token(s, n, is_b64secret(s, n) ? &b64secret_cut : &generic_cut);
	case CHECK_B64SECRET:
		return check_token(s, n, &b64secret_cut);
	case CHECK_ENTROPY:
		return shannon_entropy((const unsigned char *)s, n) >= rule->min_entropy;
	}
	return false;
}

static bool pem_body_char(unsigned char c)
{
	return is_alnum((char)c) || c == '+' || c == '/' || c == '=' || c == ' ' || c == '\t' ||
	    c == '\r' || c == '\n' || c == ':' || c == ',' || c == '.' || c == '-' || c == '\\';
}

/*
 * Extends a private key header to the end of its "-----END ...-----" line. A block
 * without an END line (cut off, or still being typed) extends over everything that
 * can be key material, so that a partial key is never left visible.
 */
static size_t pem_extend(const char *t, size_t len, size_t e)
{
	size_t i = e;

	while (i < len) {
		if (t[i] == '-' && len - i >= 8 && memcmp(t + i, "-----END", 8) == 0) {
			size_t j = i + 8;

			while (j < len && t[j] != '\n' && j - i < 100) {
				if (len - j >= 5 && memcmp(t + j, "-----", 5) == 0)
					return j + 5;
				j++;
			}
			return j;
		}
		if (!pem_body_char((unsigned char)t[i]))
			break;
		i++;
	}
	return i;
}

/* ------------------------------------------------------------------------- */
/* Rules                                                                      */

/* PCRE2 calls this at the (?C1) that ends every validated pattern. */
static int callout_fn(pcre2_callout_block *cb, void *data)
{
	const struct rule *rule = data;
	const char *s = (const char *)cb->subject + cb->start_match;

	return rule_check(rule, s, cb->current_position - cb->start_match) ? 0 : 1;
}

static int parse_type(const char *s, enum redact_type *t)
{
	for (int i = 0; i < REDACT_TYPE_COUNT; i++) {
		if (strcasecmp(s, type_names[i]) == 0) {
			*t = (enum redact_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_check(const char *s, enum check *c, double *min_entropy)
{
	if (strncmp(s, "entropy=", 8) == 0) {
		char *end;
		double v;

		errno = 0;
		v = strtod(s + 8, &end);
		if (errno != 0 || end == s + 8 || *end != '\0' || !(v >= 0.0 && v <= 8.0))
			return -EINVAL;
		*c = CHECK_ENTROPY;
		*min_entropy = v;
		return 0;
	}
	for (size_t i = 0; i < sizeof check_names / sizeof check_names[0]; i++) {
		if (strcmp(s, check_names[i].name) == 0) {
			*c = check_names[i].check;
			return 0;
		}
	}
	return -EINVAL;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > RULE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.')
			return false;
	}
	return true;
}

/*
 * Adds one rule to the fingerprint of the set: its fields as parsed (name, type,
 * risk, check, pattern), each followed by a NUL byte, which none of them can hold.
 * Comments, blank lines and the spacing between fields are not part of a rule, so
 * they do not change the fingerprint; a different rule, or the same rules in
 * another order (the earlier rule names a tie), does.
 */
static void fingerprint_add(struct redact *r, const struct rule *rule, const char *check,
                            const char *pattern)
{
	const char *fields[] = {
		rule->name, type_names[rule->type], rule->risk == REDACT_RISK_HIGH ? "high" : "low",
		check, pattern,
	};

	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		crypto_generichash_update(r->fp_state, (const unsigned char *)fields[i],
		    strlen(fields[i]) + 1);
}

/* Compiles one rule and appends it. where names the rule in messages ("file:12"). */
static int add_rule(struct redact *r, const char *where, const char *name, const char *type,
                    const char *risk, const char *check, const char *pattern, char **cause)
{
	struct rule rule = {0};
	char *wrapped = NULL;
	uint32_t opts = 0;
	int errcode, err;
	PCRE2_SIZE erroff;

	if (!valid_name(name)) {
		err = util_fail(cause, -EINVAL, "%s: bad rule name (letters, digits, _ - . only)",
		    where);
		goto fail;
	}
	for (size_t i = 0; i < r->nrules; i++) {
		if (strcmp(r->rules[i].name, name) == 0) {
			err = util_fail(cause, -EINVAL, "%s: rule '%s' is already defined", where,
			    name);
			goto fail;
		}
	}
	if (parse_type(type, &rule.type) < 0) {
		err = util_fail(cause, -EINVAL, "%s: unknown type '%s'", where, type);
		goto fail;
	}
	if (strcmp(risk, "high") == 0) {
		rule.risk = REDACT_RISK_HIGH;
	} else if (strcmp(risk, "low") == 0) {
		rule.risk = REDACT_RISK_LOW;
	} else {
		err = util_fail(cause, -EINVAL, "%s: risk must be 'high' or 'low', not '%s'", where,
		    risk);
		goto fail;
	}
	if (parse_check(check, &rule.check, &rule.min_entropy) < 0) {
		err = util_fail(cause, -EINVAL, "%s: unknown check '%s'", where, check);
		goto fail;
	}
	if (*pattern == '\0') {
		err = util_fail(cause, -EINVAL, "%s: empty pattern", where);
		goto fail;
	}
	/*
	 * A validator runs as a callout after the whole pattern. Auto-possessification
	 * would stop the matcher from backtracking into a repeat when the validator says
	 * no, so it is off for those rules (patterns mark possessive repeats themselves).
	 */
	if (rule.check != CHECK_NONE && rule.check != CHECK_PEM) {
		wrapped = util_xasprintf("(?:%s)(?C1)", pattern);
		opts |= PCRE2_NO_AUTO_POSSESS;
	} else {
		wrapped = util_xstrdup(pattern);
	}
	rule.code = pcre2_compile((PCRE2_SPTR)wrapped, PCRE2_ZERO_TERMINATED, opts, &errcode,
	    &erroff, NULL);
	if (rule.code == NULL) {
		PCRE2_UCHAR msg[160];

		pcre2_get_error_message(errcode, msg, sizeof msg);
		err = util_fail(cause, -EINVAL, "%s: pattern does not compile: %s (at offset %zu)",
		    where, (const char *)msg, (size_t)erroff);
		goto fail;
	}
	errcode = pcre2_jit_compile(rule.code, PCRE2_JIT_COMPLETE);
	if (errcode != 0)
		log_debug("redact: rule %s runs without JIT (error %d)", name, errcode);
	rule.name = util_xstrdup(name);
	r->rules = util_xrealloc(r->rules, (r->nrules + 1) * sizeof r->rules[0]);
	r->rules[r->nrules++] = rule;
	fingerprint_add(r, &rule, check, pattern);
	free(wrapped);
	return 0;

fail:
	free(wrapped);
	return err;
}

/* A byte of a label's word: an ASCII letter or digit, or any byte of a non-ASCII character. */
static bool label_word_byte(unsigned char c)
{
	return is_alnum((char)c) || c >= 0x80;
}

/*
 * Writes the words of s[0..len) into out as " w1 w2 ... " (ASCII letters in lower
 * case, one space between words and at both ends), so that a phrase matches as
 * whole words by a plain substring search. out must hold 2 * len + 2 bytes.
 * Returns the length written (1, just " ", when there are no words).
 */
static size_t label_spaced(const char *s, size_t len, char *out)
{
	size_t o = 0;

	out[o++] = ' ';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (label_word_byte(c)) {
			out[o++] = to_lower((char)c);
		} else if (out[o - 1] != ' ') {
			out[o++] = ' ';
		}
	}
	if (out[o - 1] != ' ')
		out[o++] = ' ';
	out[o] = '\0';
	return o;
}

/* Adds the label phrase of a `label` line. where names the line in messages ("file:12"). */
static int add_label(struct redact *r, const char *where, const char *phrase, char **cause)
{
	size_t len = strlen(phrase), n;
	char spaced[2 * REDACT_LABEL_MAX + 2];
	struct label l;

	if (len == 0 || len > REDACT_LABEL_MAX)
		return util_fail(cause, -EINVAL, "%s: a label line needs a label of 1-%d bytes "
		    "('label date of birth')", where, REDACT_LABEL_MAX);
	n = label_spaced(phrase, len, spaced);
	if (n < 3)
		return util_fail(cause, -EINVAL, "%s: label '%s' has no letters or digits", where,
		    phrase);
	/* The same phrase twice (in two files, say) is harmless: it is kept once. */
	for (size_t i = 0; i < r->nlabels; i++)
		if (strcmp(r->labels[i].spaced, spaced) == 0)
			return 0;
	l.spaced = util_xstrdup(spaced);
	l.words = util_xstrdup(spaced + 1);
	l.words[n - 2] = '\0';
	r->labels = util_xrealloc(r->labels, (r->nlabels + 1) * sizeof r->labels[0]);
	r->labels[r->nlabels++] = l;
	return 0;
}

/* Splits off the next whitespace-separated field of *p; returns NULL at the end. */
static char *next_field(char **p)
{
	char *s = *p, *start;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return NULL;
	start = s;
	while (*s != '\0' && *s != ' ' && *s != '\t')
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*p = s;
	return start;
}

/*
 * Adds the rules of a rules text (a file's contents, or the built-in rules) to r.
 * text is modified in place (fields are cut out of it). name goes into messages
 * as "name:LINE: reason". The one parser of the format (docs/REDACTION.md).
 */
static int load_text(struct redact *r, const char *name, char *text, size_t len, char **cause)
{
	size_t lineno = 0, added = 0, labels = 0;
	int err;

	for (char *next = text; next != NULL && next < text + len;) {
		char *p, *line, *rname, *type, *risk, *check, *nl, where[512];
		size_t n;

		line = next;
		nl = memchr(line, '\n', (size_t)(text + len - line));
		if (nl != NULL) {
			*nl = '\0';
			next = nl + 1;
		} else {
			next = NULL;
		}
		lineno++;
		p = line;
		n = strlen(line);
		while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		snprintf(where, sizeof where, "%.480s:%zu", name, lineno);
		rname = next_field(&p);
		if (strcmp(rname, LABEL_KEYWORD) == 0) {
			/* "label <words>": a sensitive field label, the rest of the line. */
			while (*p == ' ' || *p == '\t')
				p++;
			if (++labels > LABELS_MAX_ADDED)
				return util_fail(cause, -EINVAL, "%s: more than %d labels", where,
				    LABELS_MAX_ADDED);
			err = add_label(r, where, p, cause);
			if (err < 0)
				return err;
			continue;
		}
		type = next_field(&p);
		risk = next_field(&p);
		check = next_field(&p);
		while (*p == ' ' || *p == '\t')
			p++;
		if (check == NULL || *p == '\0')
			return util_fail(cause, -EINVAL,
			    "%s: expected 'name type risk check pattern'", where);
		if (++added > RULES_MAX_ADDED)
			return util_fail(cause, -EINVAL, "%s: more than %d rules", where,
			    RULES_MAX_ADDED);
		err = add_rule(r, where, rname, type, risk, check, p, cause);
		if (err < 0)
			return err;
	}
	return 0;
}

static int load_file(struct redact *r, const char *path, char **cause)
{
	struct dbuf b;
	FILE *f;
	char chunk[4096];
	size_t got;
	int err = 0;

	dbuf_init(&b, RULES_FILE_MAX);
	f = fopen(path, "r");
	if (f == NULL) {
		err = errno == ENOENT || errno == EACCES ? -errno : -EIO;
		err = util_fail(cause, err, "cannot open rules file %s: %s", path, strerror(errno));
		goto fail;
	}
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
		err = dbuf_add(&b, chunk, got);
		if (err == -E2BIG) {
			err = util_fail(cause, -EFBIG, "rules file %s is larger than %zu bytes", path,
			    RULES_FILE_MAX);
			goto fail;
		} else if (err < 0) {
			goto fail;
		}
	}
	if (ferror(f)) {
		err = util_fail(cause, -EIO, "cannot read rules file %s", path);
		goto fail;
	}
	if (b.len > 0 && memchr(b.data, '\0', b.len) != NULL) {
		err = util_fail(cause, -EINVAL, "rules file %s contains a NUL byte", path);
		goto fail;
	}
	err = load_text(r, path, b.data, b.len, cause);
	if (err < 0)
		goto fail;
	fclose(f);
	dbuf_free(&b);
	return 0;

fail:
	if (f != NULL)
		fclose(f);
	dbuf_free(&b);
	return err;
}

/*
 * The built-in rules, from the text embedded at build time. load_text cuts fields
 * out of the text it is given, so it gets a copy.
 */
static int load_builtin(struct redact *r, char **cause)
{
	char *text = util_xmalloc(redact_builtin_rules_len + 1);
	int err;

	memcpy(text, redact_builtin_rules, redact_builtin_rules_len + 1);
	err = load_text(r, BUILTIN_NAME, text, redact_builtin_rules_len, cause);
	free(text);
	if (err == 0 && r->nrules == 0)
		err = util_fail(cause, -EINVAL, "%s: no rules", BUILTIN_NAME);
	return err;
}

int redact_open_files(const char *const *paths, size_t n, struct redact **out, char **cause)
{
	struct redact *r = util_xcalloc(1, sizeof *r);
	crypto_generichash_state hash; /* on the stack: libsodium wants it 64-byte aligned */
	unsigned char fp[REDACT_FINGERPRINT_LEN / 2];
	int err;

	/* libsodium picks its hash implementation here; it is safe to call more than once. */
	if (sodium_init() < 0) {
		err = util_fail(cause, -EIO, "cannot initialise libsodium");
		goto fail;
	}
	r->fp_state = &hash;
	crypto_generichash_init(r->fp_state, NULL, 0, sizeof fp);
	crypto_generichash_update(r->fp_state, (const unsigned char *)FINGERPRINT_DOMAIN,
	    sizeof FINGERPRINT_DOMAIN);
	err = load_builtin(r, cause);
	if (err < 0)
		goto fail;
	r->nbuiltin = r->nrules;
	for (size_t i = 0; i < n; i++) {
		err = load_file(r, paths[i], cause);
		if (err < 0)
			goto fail;
	}
	crypto_generichash_final(r->fp_state, fp, sizeof fp);
	sodium_bin2hex(r->fingerprint, sizeof r->fingerprint, fp, sizeof fp);
	r->fp_state = NULL;
	log_debug("redact: %zu rules compiled (%zu built in), fingerprint %.16s", r->nrules,
	    r->nbuiltin, r->fingerprint);
	*out = r;
	return 0;

fail:
	redact_close(r);
	return err;
}

int redact_open(const char *rules_path, struct redact **out, char **cause)
{
	return redact_open_files(&rules_path, rules_path != NULL ? 1 : 0, out, cause);
}

void redact_close(struct redact *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nrules; i++) {
		free(r->rules[i].name);
		pcre2_code_free(r->rules[i].code);
	}
	free(r->rules);
	for (size_t i = 0; i < r->nlabels; i++) {
		free(r->labels[i].spaced);
		free(r->labels[i].words);
	}
	free(r->labels);
	free(r);
}

size_t redact_rule_count(const struct redact *r)
{
	return r->nrules;
}

size_t redact_builtin_count(const struct redact *r)
{
	return r->nbuiltin;
}

const char *redact_rule_name(const struct redact *r, size_t i)
{
	return i < r->nrules ? r->rules[i].name : NULL;
}

const char *redact_fingerprint(const struct redact *r)
{
	return r->fingerprint;
}

size_t redact_label_count(const struct redact *r)
{
	return r->nlabels;
}

const char *redact_label(const struct redact *r, size_t i)
{
	return i < r->nlabels ? r->labels[i].words : NULL;
}

int redact_label_match(const struct redact *r, const char *label, size_t len)
{
	char *spaced;
	size_t n;
	int hit = -1;

	if (r == NULL || label == NULL || len == 0 || len > REDACT_MAX_TEXT)
		return -1;
	spaced = util_xmalloc(2 * len + 2);
	n = label_spaced(label, len, spaced);
	for (size_t i = 0; i < r->nlabels && hit < 0 && !testbreak("field-label-ignored"); i++)
		if (memmem(spaced, n, r->labels[i].spaced, strlen(r->labels[i].spaced)) != NULL)
			hit = (int)i;
	free(spaced);
	return hit;
}

size_t redact_field_placeholder(const char *label, size_t len, char *out, size_t n)
{
	size_t a = 0, b = len, take, o;

	/* Blanks around it and the ':' or '*' a form puts after a label are not the label. */
	while (a < b && (label[a] == ' ' || label[a] == '\t'))
		a++;
	while (b > a && (label[b - 1] == ' ' || label[b - 1] == '\t' || label[b - 1] == ':' ||
	                 label[b - 1] == '*' || label[b - 1] == '\n' || label[b - 1] == '\r'))
		b--;
	take = b - a;
	if (take > REDACT_FIELD_LABEL_MAX) {
		take = REDACT_FIELD_LABEL_MAX;
		/* Not in the middle of a UTF-8 character: back off its continuation bytes. */
		while (take > 0 && ((unsigned char)label[a + take] & 0xC0) == 0x80)
			take--;
	}
	if (n < REDACT_FIELD_MAX) {
		if (n > 0)
			out[0] = '\0';
		return 0;
	}
	if (take == 0)
		return (size_t)snprintf(out, n, "<FIELD>");
	o = (size_t)snprintf(out, n, "<FIELD:");
	for (size_t i = 0; i < take; i++) {
		unsigned char c = (unsigned char)label[a + i];

		out[o++] = c < 0x20 || c == 0x7F || c == '<' || c == '>' ? ' ' : (char)c;
	}
	out[o++] = '>';
	out[o] = '\0';
	return o;
}

const char *redact_type_name(enum redact_type type)
{
	if ((int)type < 0 || type >= REDACT_TYPE_COUNT)
		return "?";
	return type_names[type];
}

/* ------------------------------------------------------------------------- */
/* Scanning                                                                   */

struct cand {
	size_t start, end;
	size_t rule;
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

static void cands_add(struct cands *c, size_t start, size_t end, size_t rule)
{
	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 16 : c->cap * 2;
		c->v = util_xrealloc(c->v, c->cap * sizeof c->v[0]);
	}
	c->v[c->n++] = (struct cand){start, end, rule};
}

static int cand_cmp_start(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end > y->end ? -1 : 1;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

/* Whether candidate a labels a merged span rather than b: risk, then length, then rule. */
static bool cand_better(const struct redact *r, const struct cand *a, const struct cand *b)
{
	enum redact_risk ra = r->rules[a->rule].risk, rb = r->rules[b->rule].risk;

	if (ra != rb)
		return ra > rb;
	if (a->end - a->start != b->end - b->start)
		return a->end - a->start > b->end - b->start;
	return a->rule < b->rule;
}

/* Runs one rule over the whole text, appending what it finds. */
static int scan_rule(const struct redact *r, size_t ri, const char *text, size_t len,
                     pcre2_match_data *md, pcre2_match_context *mc, struct cands *c)
{
	const struct rule *rule = &r->rules[ri];
	size_t pos = 0;

	pcre2_set_callout(mc, callout_fn, (void *)rule);
	while (pos <= len) {
		PCRE2_SIZE *ov;
		size_t s, e;
		int rc = pcre2_match(rule->code, (PCRE2_SPTR)text, len, pos, 0, md, mc);

		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0) {
			log_warn("redact: rule %s failed with PCRE2 error %d", rule->name, rc);
			return -EIO;
		}
		ov = pcre2_get_ovector_pointer(md);
		s = ov[0];
		e = ov[1];
		if (s > e || e > len)
			return -EIO; /* \K inside a lookahead can do this; refuse such rules' results */
		if (rule->check == CHECK_PEM)
			e = pem_extend(text, len, e);
		if (e > s)
			cands_add(c, s, e, ri);
		pos = e > s ? e : s + 1;
	}
	return 0;
}

int redact_scan(const struct redact *r, const char *text, size_t len,
                struct redact_span **spans, size_t *n)
{
	struct cands c = {0};
	struct redact_span *out = NULL;
	size_t nout = 0;
	pcre2_match_data *md = NULL;
	pcre2_match_context *mc = NULL;
	pcre2_jit_stack *js = NULL;
	int err = 0;

	*spans = NULL;
	*n = 0;
	if (len > REDACT_MAX_TEXT)
		return -E2BIG;
	if (len == 0)
		return 0;

	md = pcre2_match_data_create(1, NULL);
	mc = pcre2_match_context_create(NULL);
	js = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
	if (md == NULL || mc == NULL || js == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	pcre2_jit_stack_assign(mc, NULL, js);

	for (size_t ri = 0; ri < r->nrules; ri++) {
		err = scan_rule(r, ri, text, len, md, mc, &c);
		if (err < 0)
			goto fail;
	}

	/* Merge overlapping candidates; the best one names the merged span. */
	if (c.n > 0) {
		qsort(c.v, c.n, sizeof c.v[0], cand_cmp_start);
		out = util_xmalloc(c.n * sizeof out[0]);
	}
	for (size_t i = 0; i < c.n;) {
		struct cand best = c.v[i];
		size_t end = c.v[i].end, j = i + 1;

		while (j < c.n && c.v[j].start < end) {
			if (cand_better(r, &c.v[j], &best))
				best = c.v[j];
			if (c.v[j].end > end)
				end = c.v[j].end;
			j++;
		}
		out[nout++] = (struct redact_span){
			.start = c.v[i].start,
			.end = end,
			.type = r->rules[best.rule].type,
			.risk = r->rules[best.rule].risk,
		};
		i = j;
	}
	free(c.v);
	pcre2_jit_stack_free(js);
	pcre2_match_context_free(mc);
	pcre2_match_data_free(md);
	if (nout == 0) {
		free(out);
		out = NULL;
	}
	*spans = out;
	*n = nout;
	return 0;

fail:
	free(c.v);
	free(out);
	pcre2_jit_stack_free(js);
	pcre2_match_context_free(mc);
	pcre2_match_data_free(md);
	return err;
}

int redact_apply(const struct redact *r, const char *text, size_t len, char **out,
                 size_t *outlen, unsigned *risk_mask)
{
	struct redact_span *spans = NULL;
	size_t n = 0, size, pos = 0, o = 0;
	unsigned mask = 0;
	char *buf;
	int err;

	*out = NULL;
	*outlen = 0;
	if (risk_mask != NULL)
		*risk_mask = REDACT_RISK_HIGH;
	err = redact_scan(r, text, len, &spans, &n);
	if (err < 0)
		return err;

	/* Placeholders are at most 14 bytes, so the size is known before copying. */
	size = len + 1;
	for (size_t i = 0; i < n; i++)
		size += strlen(type_names[spans[i].type]) + 2;
	buf = util_xmalloc(size);
	for (size_t i = 0; i < n; i++) {
		const char *name = type_names[spans[i].type];
		size_t nl = strlen(name);

		memcpy(buf + o, text + pos, spans[i].start - pos);
		o += spans[i].start - pos;
		buf[o++] = '<';
		memcpy(buf + o, name, nl);
		o += nl;
		buf[o++] = '>';
		pos = spans[i].end;
		mask |= (unsigned)spans[i].risk;
	}
	if (len > pos)
		memcpy(buf + o, text + pos, len - pos);
	o += len - pos;
	buf[o] = '\0';
	free(spans);
	*out = buf;
	*outlen = o;
	if (risk_mask != NULL)
		*risk_mask = mask;
	return 0;
}
