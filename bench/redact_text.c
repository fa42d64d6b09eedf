/*
 * redact_text: measures the text detectors of src/dataset/redact.c (safeguard 11).
 *
 * It generates a labelled corpus from a seeded PRNG: sentences that embed valid
 * card numbers (Luhn), IBANs of many countries (mod 97), US SSNs, email addresses,
 * phone numbers, IPv4/IPv6 and MAC addresses, API tokens and PEM private keys,
 * interleaved with generated technical text (C and Python lines, paths, versions,
 * log lines with timestamps and hashes, UUIDs) that contains nothing to find. It
 * then reads real technical text from this machine (/usr/include headers and
 * /usr/share/doc changelogs, gzip or plain). It prints per type precision, recall
 * and F2, false positives per 10,000 whitespace-separated tokens of technical text,
 * and throughput. With -g, card numbers, IBANs, SSNs and phone numbers are written
 * the way people type them into forms rather than in their printed groupings:
 * cards and IBANs split into groups of 2 to 8 characters anywhere (4-8-4 and the
 * like) by spaces, dashes or dots, one kind or mixed (issue 14).
 *
 * Built with the tree (bench/meson.build); bench/redact_eval.py runs it. Run:
 *   BUILD/bench/redact_text [-s seed] [-n items per type] [-m MiB of machine text]
 *      [-g (any grouping)] [-v (print misses and false positives)]
 */
#include "redact.h"

#include <glob.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <arpa/inet.h>

/* ------------------------------------------------------------------------- */
/* Small helpers: PRNG, growable text with labels.                            */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static unsigned
rnd(unsigned n)
{
	return (unsigned)(rng() % n);
}

static int
rnd_range(int lo, int hi)
{
	return lo + (int)rnd((unsigned)(hi - lo + 1));
}

#define PICK(a) ((a)[rnd(sizeof(a) / sizeof((a)[0]))])

struct label {
	size_t start, end;
	enum redact_type type;
};

struct corpus {
	char *text;
	size_t len, cap;
	struct label *labels;
	size_t nlabels, lcap;
};

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	return p;
}

static void
cadd(struct corpus *c, const char *s, size_t n)
{
	if (c->len + n + 1 > c->cap) {
		c->cap = (c->len + n + 1) * 2;
		c->text = xrealloc(c->text, c->cap);
	}
	memcpy(c->text + c->len, s, n);
	c->len += n;
	c->text[c->len] = '\0';
}

static void
cadds(struct corpus *c, const char *s)
{
	cadd(c, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
cprintf(struct corpus *c, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		cadd(c, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void
clabel(struct corpus *c, const char *s, enum redact_type t)
{
	if (c->nlabels == c->lcap) {
		c->lcap = c->lcap ? c->lcap * 2 : 1024;
		c->labels = xrealloc(c->labels, c->lcap * sizeof c->labels[0]);
	}
	c->labels[c->nlabels++] = (struct label){c->len, c->len + strlen(s), t};
	cadds(c, s);
}

/* ------------------------------------------------------------------------- */
/* Generators of things to find.                                              */

static const char digits[] = "0123456789";
static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *
rand_chars(char *p, const char *set, int n)
{
	size_t k = strlen(set);

	for (int i = 0; i < n; i++)
		*p++ = set[rnd((unsigned)k)];
	*p = '\0';
	return p;
}

/* -g: numbers are written with any grouping, as typed into forms. */
static bool any_grouping;

/*
 * Writes the characters of s other than blanks, dashes and dots back into s in
 * groups of 2 to 9 (a last group of 9 takes a character that would be alone), the first at least first_min long, separated by a space, a
 * dash or a dot from seps: one kind for the whole number or, one time in three,
 * a kind drawn anew for every gap.
 */
static void
regroup(char *s, const char *seps, int first_min)
{
	char c[64], out[128];
	size_t nc = 0, o = 0, k = strlen(seps);
	bool mixed = rnd(3) == 0;
	char sep = seps[rnd((unsigned)k)];

	for (const char *p = s; *p != '\0' && nc < sizeof c; p++)
		if (*p != ' ' && *p != '-' && *p != '.')
			c[nc++] = *p;
	for (size_t i = 0; i < nc;) {
		size_t g = (size_t)rnd_range(i == 0 ? first_min : 2, 8);

		/* No group of one: a single character left over joins the last group. */
		if (g + 1 >= nc - i)
			g = nc - i;
		if (i > 0)
			out[o++] = mixed ? seps[rnd((unsigned)k)] : sep;
		memcpy(out + o, c + i, g);
		o += g;
		i += g;
	}
	out[o] = '\0';
	strcpy(s, out);
}

static void
gen_card(char *out)
{
	static const struct {
		const char *pfx;
		int len;
	} brands[] = {
		{"4", 16}, {"4", 16}, {"4", 16}, {"4", 13}, {"4", 19}, {"51", 16}, {"52", 16},
		{"53", 16}, {"54", 16}, {"55", 16}, {"2221", 16}, {"2500", 16}, {"2720", 16},
		{"34", 15}, {"37", 15}, {"6011", 16}, {"65", 16}, {"644", 16}, {"3528", 16},
		{"3589", 16}, {"36", 14}, {"300", 14}, {"62", 16}, {"62", 19}, {"6304", 16},
	};
	int bi = (int)rnd(sizeof brands / sizeof brands[0]);
	int len = brands[bi].len, sum = 0;
	char d[20];
	size_t pl = strlen(brands[bi].pfx);

	memcpy(d, brands[bi].pfx, pl);
	for (int i = (int)pl; i < len - 1; i++)
		d[i] = digits[rnd(10)];
	/* Luhn: double every second digit counting from the check digit. */
	for (int i = len - 2, k = 0; i >= 0; i--, k++) {
		int v = d[i] - '0';

		if (k % 2 == 0) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	d[len - 1] = (char)('0' + (10 - sum % 10) % 10);
	d[len] = '\0';

	if (any_grouping) {
		strcpy(out, d);
		regroup(out, " -.", 2);
		return;
	}
	switch (rnd(4)) {
	case 0:
		strcpy(out, d);
		return;
	default: {
		char sep = rnd(3) == 0 ? '-' : ' ';

		if (len == 16 || len == 19) {
			int o = 0;

			for (int i = 0; i < len; i++) {
				if (i > 0 && i % 4 == 0)
					out[o++] = sep;
				out[o++] = d[i];
			}
			out[o] = '\0';
		} else if (len == 15 || len == 14) {
			sprintf(out, "%.4s%c%.6s%c%s", d, sep, d + 4, sep, d + 10);
		} else {
			strcpy(out, d);
		}
	}
	}
}

static void
gen_iban(char *out)
{
	/* Country, total length, BBAN shape: n digit, a upper letter, c alnum. */
	static const struct {
		const char *cc;
		const char *shape;
	} fmts[] = {
		{"DE", "18n"}, {"GB", "4a14n"}, {"FR", "10n11c2n"}, {"ES", "20n"},
		{"IT", "1a10n12c"}, {"NL", "4a10n"}, {"BE", "12n"}, {"CH", "5n12c"},
		{"AT", "16n"}, {"PL", "24n"}, {"SE", "20n"}, {"NO", "11n"}, {"IE", "4a14n"},
		{"PT", "21n"}, {"BR", "23n1a1c"}, {"SA", "2n18c"}, {"AE", "19n"}, {"TR", "5n1n16c"},
		{"DK", "14n"}, {"FI", "14n"}, {"CZ", "20n"}, {"HU", "24n"}, {"RO", "4a16c"},
		{"GR", "7n16c"}, {"LU", "3n13c"}, {"MT", "4a5n18c"},
	};
	int fi = (int)rnd(sizeof fmts / sizeof fmts[0]);
	char bban[40], num[100], full[48];
	char *p = bban;
	const char *s = fmts[fi].shape;
	unsigned rem = 0;
	int check, o = 0;

	while (*s) {
		int n = (int)strtol(s, (char **)&s, 10);
		char kind = *s++;

		p = rand_chars(p, kind == 'n' ? digits : kind == 'a' ? upper :
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", n);
	}
	snprintf(num, sizeof num, "%s%s00", bban, fmts[fi].cc);
	for (const char *q = num; *q; q++) {
		if (*q >= '0' && *q <= '9')
			rem = (rem * 10 + (unsigned)(*q - '0')) % 97;
		else
			rem = (rem * 100 + (unsigned)(*q - 'A' + 10)) % 97;
	}
	check = 98 - (int)rem;
	snprintf(full, sizeof full, "%s%02d%s", fmts[fi].cc, check, bban);
	if (any_grouping) {
		/* Lower case is typed as one word with its check digits ("de89"). */
		bool lower = rnd(10) == 0;

		strcpy(out, full);
		regroup(out, " -", lower ? 4 : 2);
		for (char *q = out; lower && *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
		return;
	} else if (rnd(2) == 0) {
		strcpy(out, full);
	} else {
		for (int i = 0; full[i]; i++) {
			if (i > 0 && i % 4 == 0)
				out[o++] = ' ';
			out[o++] = full[i];
		}
		out[o] = '\0';
	}
	if (rnd(10) == 0) {
		for (char *q = out; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
	}
}

static void
gen_ssn(char *out)
{
	int area;

	do {
		area = rnd_range(1, 899);
	} while (area == 666);
	if (any_grouping) {
		char sep = " .-"[rnd(3)];

		sprintf(out, "%03d%c%02d%c%04d", area, sep, rnd_range(1, 99), sep,
		    rnd_range(1, 9999));
		return;
	}
	sprintf(out, rnd(10) == 0 ? "%03d %02d %04d" : "%03d-%02d-%04d", area, rnd_range(1, 99),
	    rnd_range(1, 9999));
}

static const char *const first_names[] = {
	"john", "maria", "li", "ahmed", "sofia", "lukas", "emma", "noah", "olga", "raj", "yuki",
	"fatima", "pierre", "anna", "jose", "kim", "mohamed", "sven", "chloe", "ivan",
};
static const char *const last_names[] = {
	"smith", "garcia", "wang", "mueller", "rossi", "nguyen", "kowalski", "schmidt", "dubois",
	"tanaka", "silva", "johansson", "okafor", "patel", "jones", "cohen", "novak", "haddad",
};
static const char *const domains[] = {
	"gmail.com", "example.org", "mail.company.de", "uni-heidelberg.de", "yahoo.co.uk",
	"proton.me", "foo-bar.io", "outlook.com", "startup.dev", "web.de", "posteo.net",
	"corp.example.com", "student.uni.edu", "orange.fr", "libero.it", "gmx.at",
};

static void
gen_email(char *out)
{
	const char *f = PICK(first_names), *l = PICK(last_names), *d = PICK(domains);

	switch (rnd(6)) {
	case 0:
		sprintf(out, "%s.%s@%s", f, l, d);
		break;
	case 1:
		sprintf(out, "%c%s@%s", f[0], l, d);
		break;
	case 2:
		sprintf(out, "%s_%s%d@%s", f, l, rnd_range(1, 99), d);
		break;
	case 3:
		sprintf(out, "%s+%s@%s", f, PICK(last_names), d);
		break;
	case 4:
		sprintf(out, "%c%c.%s@%s", f[0] - 'a' + 'A', l[0], l, d);
		break;
	default:
		sprintf(out, "%s%d@%s", l, rnd_range(1950, 2010), d);
		break;
	}
}

static void
gen_phone(char *out)
{
	int a = rnd_range(2, 9), b = rnd_range(0, 99), e = rnd_range(2, 9), f = rnd_range(0, 99);
	int s4 = rnd_range(0, 9999), s8 = rnd_range(1000000, 99999999);

	if (any_grouping && rnd(2) == 0) {
		/* North American numbers as typed: mixed separators, 3-7, no blank after ')'. */
		switch (rnd(4)) {
		case 0:
			sprintf(out, "%d%02d %d%02d-%04d", a, b, e, f, s4);
			break;
		case 1:
			sprintf(out, "%d%02d.%d%02d %04d", a, b, e, f, s4);
			break;
		case 2:
			sprintf(out, "(%d%02d)%d%02d-%04d", a, b, e, f, s4);
			break;
		default:
			sprintf(out, "%d%02d-%d%02d%04d", a, b, e, f, s4);
			break;
		}
		return;
	}
	switch (rnd(14)) {
	case 0:
		sprintf(out, "+49%d%08d", rnd_range(30, 89), s8);
		break;
	case 1:
		sprintf(out, "+44 20 %04d %04d", rnd_range(1000, 9999), s4);
		break;
	case 2:
		sprintf(out, "+49 30 %d", s8);
		break;
	case 3:
		sprintf(out, "+33 %d %02d %02d %02d %02d", rnd_range(1, 9), rnd_range(0, 99),
		    rnd_range(0, 99), rnd_range(0, 99), rnd_range(0, 99));
		break;
	case 4:
		sprintf(out, "+1 %d%02d %d%02d %04d", a, b, e, f, s4);
		break;
	case 5:
		sprintf(out, "+1-%d%02d-%d%02d-%04d", a, b, e, f, s4);
		break;
	case 6:
		sprintf(out, "(%d%02d) %d%02d-%04d", a, b, e, f, s4);
		break;
	case 7:
		sprintf(out, "%d%02d-%d%02d-%04d", a, b, e, f, s4);
		break;
	case 8:
		sprintf(out, "%d%02d.%d%02d.%04d", a, b, e, f, s4);
		break;
	case 9:
		sprintf(out, "0%d %d", rnd_range(30, 89), s8);
		break;
	case 10:
		sprintf(out, "01%d %d", rnd_range(50, 79), rnd_range(1000000, 9999999));
		break;
	case 11:
		sprintf(out, "020 %04d %04d", rnd_range(1000, 9999), s4);
		break;
	case 12:
		sprintf(out, "0%d %02d %02d %02d %02d", rnd_range(1, 9), rnd_range(10, 99),
		    rnd_range(10, 99), rnd_range(10, 99), rnd_range(10, 99));
		break;
	default:
		sprintf(out, "+81 3-%04d-%04d", rnd_range(1000, 9999), s4);
		break;
	}
}

static void
gen_ip(char *out)
{
	if (rnd(2) == 0) {
		int a;

		do {
			a = rnd_range(1, 223); /* unicast, not loopback */
		} while (a == 127);
		sprintf(out, "%d.%d.%d.%d", a, rnd_range(0, 255), rnd_range(0, 255),
		    rnd_range(1, 254));
	} else {
		unsigned char a[16];
		int z = rnd_range(0, 4), zs = rnd_range(0, 7);

		for (int i = 0; i < 16; i++)
			a[i] = (unsigned char)rnd(256);
		if (rnd(3) == 0) {
			a[0] = 0xfe; /* link-local: fe80::/64 and a random interface id */
			a[1] = 0x80;
			memset(a + 2, 0, 6);
		} else {
			for (int i = zs; i < zs + z && i < 8; i++)
				a[2 * i] = a[2 * i + 1] = 0;
		}
		inet_ntop(AF_INET6, a, out, 64);
		if (rnd(4) == 0)
			for (char *q = out; *q; q++)
				if (*q >= 'a' && *q <= 'f')
					*q = (char)(*q - 'a' + 'A');
	}
}

static void
gen_mac(char *out)
{
	char sep = rnd(2) ? ':' : '-';
	bool caps = rnd(2);
	int o = 0;

	for (int i = 0; i < 6; i++) {
		if (i > 0)
			out[o++] = sep;
		o += caps ? sprintf(out + o, "%02X", rnd(256)) : sprintf(out + o, "%02x", rnd(256));
	}
}

static void
b64url_encode(const char *in, char *out)
{
	size_t n = strlen(in), o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)in[i + 1] << 8;
		if (i + 2 < n)
			v |= (uint32_t)(unsigned char)in[i + 2];
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = b64url[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
}

static void
gen_secret(char *out)
{
	char *p;

	switch (rnd(10)) {
	case 0:
		p = out + sprintf(out, "%s", rnd(4) ? "AKIA" : "ASIA");
		rand_chars(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
		break;
	case 1:
	case 2:
		rand_chars(out, b64, 40); /* AWS secret access key */
		break;
	case 3:
		p = out + sprintf(out, "gh%c_", "pousr"[rnd(5)]);
		rand_chars(p, alnum, 36);
		break;
	case 4:
		p = rand_chars(out + sprintf(out, "github_pat_"), alnum, 22);
		*p++ = '_';
		rand_chars(p, alnum, 59);
		break;
	case 5:
		sprintf(out, "xoxb-%d%d-%d%d-", rnd_range(10000, 99999), rnd_range(10000, 99999),
		    rnd_range(10000, 99999), rnd_range(100000, 999999));
		rand_chars(out + strlen(out), alnum, 24);
		break;
	case 6:
		p = out + sprintf(out, "%s", rnd(2) ? "sk_live_" : "rk_live_");
		rand_chars(p, alnum, rnd(2) ? 24 : 99);
		break;
	case 7:
		rand_chars(out + sprintf(out, "AIza"), b64url, 35);
		break;
	case 8: {
		char payload[200], enc[300];

		snprintf(payload, sizeof payload,
		    "{\"sub\":\"%d\",\"name\":\"%s %s\",\"iat\":%d}", rnd_range(1, 999999),
		    PICK(first_names), PICK(last_names), rnd_range(1500000000, 1800000000));
		b64url_encode(payload, enc);
		p = out + sprintf(out, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.%s.", enc);
		rand_chars(p, b64url, 43);
		break;
	}
	default:
		rand_chars(out, alnum, rnd_range(24, 48)); /* generic API key */
		break;
	}
}

static void
gen_pem(char *out)
{
	static const char *const kinds[] = {"RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED ", "DSA "};
	const char *k = PICK(kinds);
	char *p = out + sprintf(out, "-----BEGIN %sPRIVATE KEY-----\n", k);
	int lines = rnd_range(3, 25);

	for (int i = 0; i < lines; i++) {
		p = rand_chars(p, b64, i == lines - 1 ? rnd_range(4, 64) : 64);
		*p++ = '\n';
	}
	sprintf(p, "-----END %sPRIVATE KEY-----", k);
}

/* ------------------------------------------------------------------------- */
/* Generators of technical text with nothing to find.                         */

static const char *const words[] = {
	"the", "and", "then", "when", "buffer", "value", "returns", "error", "for", "with",
	"update", "fix", "crash", "in", "on", "config", "parser", "request", "timeout", "see",
	"also", "build", "test", "memory", "leak", "thread", "lock", "queue", "file", "path",
	"release", "version", "support", "option", "default", "new", "old", "remove", "add",
};
static const char *const idents[] = {
	"foo", "bar", "buf", "len", "ctx", "node", "list", "item", "state", "flags", "count",
	"index", "offset", "size", "data", "result", "handler", "callback", "window", "event",
	"xcb_connection", "pcre2_match", "json_object", "getWindowTextLength", "XMLHttpRequest",
	"utf8ToUtf16", "sha256WithRSAEncryption", "x86_64", "Int32Array", "base64Decode",
	"HTTPServer2", "GL_TEXTURE_2D", "EVP_PKEY_CTX", "uint64_t", "__GLIBC_PREREQ", "kMaxSize",
};
static const char *const exts[] = {"c", "h", "py", "js", "ts", "go", "rs", "md", "txt",
	"json", "so", "o", "cc", "hpp", "toml", "yaml", "png"};

static void
rand_hex(char *p, int n, bool up)
{
	rand_chars(p, up ? "0123456789ABCDEF" : "0123456789abcdef", n);
}

static void
gen_identifier(char *out)
{
	switch (rnd(5)) {
	case 0:
		sprintf(out, "%s_%s", PICK(idents), PICK(idents));
		break;
	case 1:
		sprintf(out, "%s%d", PICK(idents), rnd_range(0, 64));
		break;
	case 2: {
		/* CamelCase with a number, like generated class names. */
		char a[64], b[64];

		strcpy(a, PICK(idents));
		strcpy(b, PICK(words));
		a[0] = (char)(a[0] >= 'a' && a[0] <= 'z' ? a[0] - 32 : a[0]);
		b[0] = (char)(b[0] - 32);
		sprintf(out, "%s%s%d%s", a, b, rnd_range(1, 512), rnd(2) ? "Impl" : "V2");
		break;
	}
	default:
		strcpy(out, PICK(idents));
		break;
	}
}

static void
gen_path(char *out)
{
	static const char *const dirs[] = {
		"/usr/lib/x86_64-linux-gnu", "/usr/include", "/home/dev/src/project", "src/cli",
		"/var/log", "tests/unit", "node_modules/@babel/core/lib", "/opt/app/releases",
		"~/.config/mimic", "C:\\Program Files\\App", "../../include/linux", "build-asan/src",
	};
	char id[128];

	gen_identifier(id);
	switch (rnd(4)) {
	case 0:
		sprintf(out, "%s/lib%s.so.%d.%d.%d", PICK(dirs), PICK(idents), rnd_range(0, 9),
		    rnd_range(0, 40), rnd_range(0, 20));
		break;
	case 1:
		sprintf(out, "%s/%s/%s.%s:%d", PICK(dirs), PICK(idents), id, PICK(exts),
		    rnd_range(1, 4000));
		break;
	case 2:
		sprintf(out, "%s/%s-%d.%d.%d/%s.%s", PICK(dirs), PICK(idents), rnd_range(0, 9),
		    rnd_range(0, 30), rnd_range(0, 30), id, PICK(exts));
		break;
	default:
		sprintf(out, "%s/%s.%s", PICK(dirs), id, PICK(exts));
		break;
	}
}

static void
gen_version(char *out)
{
	int a = rnd_range(0, 30), b = rnd_range(0, 40), c = rnd_range(0, 300), d = rnd_range(0, 9);

	switch (rnd(10)) {
	case 0:
		sprintf(out, "%d.%d.%d", a, b, c);
		break;
	case 1:
		sprintf(out, "v%d.%d.%d", a, b, c);
		break;
	case 2:
		sprintf(out, "v%d.%d.%d.%d", a, b, c, d);
		break;
	case 3:
		sprintf(out, "%d.%d.%d-%d", a, b, c, d);
		break;
	case 4:
		sprintf(out, "%d.%d.%d.%d-%dubuntu%d", a, b, c, d, rnd_range(1, 5), rnd_range(1, 5));
		break;
	case 5:
		sprintf(out, "%d.%d.%d-rc.%d+build.%d", a, b, c, d, rnd_range(1, 9999));
		break;
	case 6:
		sprintf(out, "%d:%d.%d.%d+dfsg-%d", rnd_range(1, 3), a, b, c, d);
		break;
	case 7:
		sprintf(out, "10.0.%d.%d", rnd_range(10000, 22631), rnd_range(1, 3000));
		break;
	case 8:
		sprintf(out, "%s-%d.%d.%d.tar.gz", PICK(idents), a, b, c);
		break;
	default:
		sprintf(out, "%d.%d", a, b);
		break;
	}
}

static void
gen_timestamp(char *out)
{
	int y = rnd_range(2000, 2030), mo = rnd_range(1, 12), d = rnd_range(1, 28);
	int h = rnd_range(0, 23), mi = rnd_range(0, 59), s = rnd_range(0, 59);

	switch (rnd(6)) {
	case 0:
		sprintf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, s,
		    rnd_range(0, 999));
		break;
	case 1:
		sprintf(out, "%04d-%02d-%02d %02d:%02d:%02d", y, mo, d, h, mi, s);
		break;
	case 2:
		sprintf(out, "%02d/%02d/%04d %02d:%02d", d, mo, y, h, mi);
		break;
	case 3:
		sprintf(out, "[%d.%06d]", rnd_range(0, 99999), rnd_range(0, 999999));
		break;
	case 4:
		sprintf(out, "%lld", 1500000000000LL + (long long)(rng() % 400000000000ULL));
		break;
	default:
		sprintf(out, "%02d.%02d.%04d", d, mo, y);
		break;
	}
}

static void
gen_hash(char *out)
{
	switch (rnd(7)) {
	case 0:
		rand_hex(out, 40, false);
		break;
	case 1:
		rand_hex(out, rnd_range(7, 12), false);
		break;
	case 2:
		strcpy(out, "sha256:");
		rand_hex(out + 7, 64, false);
		break;
	case 3: /* UUID */
		rand_hex(out, 8, false);
		out[8] = '-';
		rand_hex(out + 9, 4, false);
		out[13] = '-';
		rand_hex(out + 14, 4, false);
		out[18] = '-';
		rand_hex(out + 19, 4, false);
		out[23] = '-';
		rand_hex(out + 24, 12, false);
		break;
	case 4:
		sprintf(out, "0x%llx", (unsigned long long)(rng() >> rnd(48)));
		break;
	case 5:
		rand_hex(out, 32, rnd(2)); /* md5 */
		break;
	default: /* an ELF build id or a Debian .deb checksum line */
		rand_hex(out, 64, false);
		break;
	}
}

static void
gen_number(char *out)
{
	switch (rnd(8)) {
	case 0:
		sprintf(out, "%d", rnd_range(0, 100000));
		break;
	case 1:
		sprintf(out, "%llu", (unsigned long long)rng());
		break;
	case 2:
		sprintf(out, "%d.%06d", rnd_range(0, 1000), rnd_range(0, 999999));
		break;
	case 3:
		sprintf(out, "%dx%d", rnd_range(320, 3840), rnd_range(200, 2160));
		break;
	case 4:
		sprintf(out, "%d%s", rnd_range(1, 999), rnd(2) ? "ms" : "KiB");
		break;
	case 5:
		sprintf(out, "%d,%03d,%03d", rnd_range(1, 999), rnd_range(0, 999), rnd_range(0, 999));
		break;
	case 6:
		sprintf(out, "%d:%02d", rnd_range(0, 23), rnd_range(0, 59));
		break;
	default:
		sprintf(out, "-%d.%de-%d", rnd_range(0, 9), rnd_range(0, 999), rnd_range(1, 30));
		break;
	}
}

/* One line of technical text. */
static void
gen_tech_line(struct corpus *c)
{
	char a[256], b[256], d[256], e[256];

	gen_identifier(a);
	gen_identifier(b);
	switch (rnd(14)) {
	case 0:
		cprintf(c, "static int %s(struct %s *%s, size_t n)\n{\n", a, b, PICK(idents));
		break;
	case 1:
		gen_number(d);
		cprintf(c, "\tfor (i = 0; i < %s; i++)\n\t\t%s[i] = %s;\n", d, a, b);
		break;
	case 2:
		gen_hash(d);
		cprintf(c, "#define %s_MAGIC %s /* %s */\n", a, d, PICK(words));
		break;
	case 3:
		gen_path(d);
		cprintf(c, "#include \"%s\"\n", d);
		break;
	case 4:
		gen_number(d);
		cprintf(c, "def %s(self, %s=%s):\n    return self.%s.get(%s)\n", a, b, d, b, a);
		break;
	case 5:
		gen_timestamp(d);
		gen_hash(e);
		cprintf(c, "%s INFO [worker-%d] %s %s id=%s took %dms\n", d, rnd_range(0, 16),
		    PICK(words), a, e, rnd_range(0, 5000));
		break;
	case 6:
		gen_hash(d);
		gen_timestamp(e);
		cprintf(c, "commit %s\nDate: %s\n    %s %s %s\n", d, e, PICK(words), PICK(words), a);
		break;
	case 7:
		gen_version(d);
		gen_version(e);
		cprintf(c, "%s (%s) unstable; urgency=medium\n  * %s %s to %s\n", PICK(idents), d,
		    PICK(words), a, e);
		break;
	case 8:
		gen_path(d);
		gen_number(e);
		cprintf(c, "%s: warning: unused variable '%s' [-Wunused-variable] %s\n", d, a, e);
		break;
	case 9:
		gen_hash(d);
		gen_hash(e);
		cprintf(c, "%s  %s\n%s %s\n", d, a, e, b);
		break;
	case 10:
		gen_timestamp(d);
		gen_number(e);
		cprintf(c, "%s kernel: %s: %s %s at %s\n", d, a, PICK(words), b, e);
		break;
	case 11:
		gen_version(d);
		gen_path(e);
		cprintf(c, "Requires: %s >= %s, %s\n", a, d, e);
		break;
	case 12:
		gen_number(d);
		gen_number(e);
		cprintf(c, "    %s = %s(%s, %s, %s);\n", a, b, d, e, PICK(idents));
		break;
	default:
		gen_version(d);
		gen_timestamp(e);
		cprintf(c, "%s %s %s %s %s\n", PICK(words), a, d, e, PICK(words));
		break;
	}
}

/* ------------------------------------------------------------------------- */
/* Positive sentences.                                                        */

static const enum redact_type gen_types[] = {
	REDACT_CARD, REDACT_IBAN, REDACT_SSN, REDACT_EMAIL, REDACT_PHONE, REDACT_IP,
	REDACT_MAC, REDACT_SECRET, REDACT_PRIVATE_KEY,
};
#define NGEN (sizeof gen_types / sizeof gen_types[0])

static void
gen_item(enum redact_type t, char *out)
{
	switch (t) {
	case REDACT_CARD: gen_card(out); break;
	case REDACT_IBAN: gen_iban(out); break;
	case REDACT_SSN: gen_ssn(out); break;
	case REDACT_EMAIL: gen_email(out); break;
	case REDACT_PHONE: gen_phone(out); break;
	case REDACT_IP: gen_ip(out); break;
	case REDACT_MAC: gen_mac(out); break;
	case REDACT_SECRET: gen_secret(out); break;
	default: gen_pem(out); break;
	}
}

static void
gen_sentence(struct corpus *c, enum redact_type t)
{
	static const char *const pre[] = {"", "", "", "(", "\"", "'", "<", "[", "id=", "to: "};
	static const char *const post[] = {"", "", ".", ",", ")", "\"", ";", "!", "?", " -"};
	char item[4096];
	int nw = rnd_range(0, 4);

	gen_item(t, item);
	for (int i = 0; i < nw; i++)
		cprintf(c, "%s ", PICK(words));
	cadds(c, PICK(pre));
	clabel(c, item, t);
	cadds(c, PICK(post));
	nw = rnd_range(0, 4);
	for (int i = 0; i < nw; i++)
		cprintf(c, " %s", PICK(words));
	cadds(c, rnd(3) == 0 ? "\n" : " ");
}

/* ------------------------------------------------------------------------- */
/* Scoring.                                                                   */

struct score {
	size_t truth, found, det, det_ok;
};

static size_t
count_tokens(const char *s, size_t n)
{
	size_t t = 0;
	bool in = false;

	for (size_t i = 0; i < n; i++) {
		bool ws = s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ||
		    s[i] == '\f' || s[i] == '\v';

		if (!ws && !in)
			t++;
		in = !ws;
	}
	return t;
}

static bool verbose;

static void
show(const char *what, const char *text, size_t len, size_t s, size_t e, const char *type)
{
	size_t a = s > 30 ? s - 30 : 0, b = e + 30 < len ? e + 30 : len;

	if (!verbose)
		return;
	fprintf(stderr, "%s %s: ", what, type);
	for (size_t i = a; i < b; i++) {
		char ch = text[i];

		if (i == s)
			fputs("\x1b[1m[[", stderr);
		fputc(ch == '\n' ? '|' : (unsigned char)ch < 32 ? '?' : ch, stderr);
		if (i + 1 == e)
			fputs("]]\x1b[0m", stderr);
	}
	fputc('\n', stderr);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double scan_time;
static size_t scan_bytes;

static int
scan(const struct redact *r, const char *text, size_t len, struct redact_span **sp, size_t *n)
{
	double t0 = now_s();
	int err = redact_scan(r, text, len, sp, n);

	scan_time += now_s() - t0;
	scan_bytes += len;
	if (err < 0) {
		fprintf(stderr, "redact_scan failed: %d\n", err);
		exit(1);
	}
	return err;
}

/* Real technical text of this machine, file by file. */
static void
machine_text(const struct redact *r, size_t max_bytes, size_t *tokens, size_t *bytes,
    size_t *files, size_t per_type[REDACT_TYPE_COUNT])
{
	static const char *const globs[] = {
		"/usr/include/*.h", "/usr/include/*/*.h", "/usr/share/doc/*/changelog*",
	};
	char *buf = xrealloc(NULL, 16 << 20);

	for (size_t g = 0; g < sizeof globs / sizeof globs[0]; g++) {
		glob_t gl;

		if (glob(globs[g], 0, NULL, &gl) != 0)
			continue;
		for (size_t i = 0; i < gl.gl_pathc && *bytes < max_bytes; i++) {
			gzFile f = gzopen(gl.gl_pathv[i], "rb");
			struct redact_span *sp;
			size_t n;
			int got;

			if (f == NULL)
				continue;
			got = gzread(f, buf, (16 << 20) - 1);
			gzclose(f);
			if (got <= 0)
				continue;
			(*files)++;
			*bytes += (size_t)got;
			*tokens += count_tokens(buf, (size_t)got);
			scan(r, buf, (size_t)got, &sp, &n);
			for (size_t k = 0; k < n; k++) {
				per_type[sp[k].type]++;
				show("MACHINE", buf, (size_t)got, sp[k].start, sp[k].end,
				    redact_type_name(sp[k].type));
			}
			free(sp);
		}
		globfree(&gl);
	}
	free(buf);
}

int
main(int argc, char **argv)
{
	struct corpus pos = {0}, neg = {0};
	struct score sc[REDACT_TYPE_COUNT] = {{0}};
	size_t neg_fp[REDACT_TYPE_COUNT] = {0}, mach[REDACT_TYPE_COUNT] = {0};
	size_t per_type = 2000, max_mib = 48, neg_tokens, mach_tokens = 0, mach_bytes = 0;
	size_t mach_files = 0, neg_total = 0, mach_total = 0;
	struct redact *r;
	struct redact_span *sp;
	size_t n;
	char *cause = NULL;
	uint64_t seed = 1;
	int opt;

	while ((opt = getopt(argc, argv, "s:n:m:gv")) != -1) {
		switch (opt) {
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'n': per_type = strtoul(optarg, NULL, 0); break;
		case 'm': max_mib = strtoul(optarg, NULL, 0); break;
		case 'g': any_grouping = true; break;
		case 'v': verbose = true; break;
		default:
			fprintf(stderr, "usage: %s [-s seed] [-n per type] [-m MiB] [-g] [-v]\n", argv[0]);
			return 2;
		}
	}
	rng_state = seed;
	if (redact_open(NULL, &r, &cause) < 0) {
		fprintf(stderr, "redact_open: %s\n", cause);
		return 1;
	}

	/* Labelled corpus: positives in random order, one technical line between some. */
	for (size_t i = 0; i < per_type * NGEN; i++) {
		gen_sentence(&pos, gen_types[rnd(NGEN)]);
		if (rnd(2) == 0)
			gen_tech_line(&pos);
	}
	for (size_t i = 0; i < pos.nlabels; i++)
		sc[pos.labels[i].type].truth++;
	scan(r, pos.text, pos.len, &sp, &n);
	{
		size_t li = 0;

		/* A label is found when one span of its type covers it whole. */
		for (size_t i = 0; i < pos.nlabels; i++) {
			struct label *l = &pos.labels[i];
			bool ok = false;

			while (li < n && sp[li].end <= l->start)
				li++;
			for (size_t k = li; k < n && sp[k].start < l->end; k++)
				ok = ok || (sp[k].type == l->type && sp[k].start <= l->start &&
				    sp[k].end >= l->end);
			if (ok)
				sc[l->type].found++;
			else
				show("MISS", pos.text, pos.len, l->start, l->end,
				    redact_type_name(l->type));
		}
		/* A span is right when it overlaps a label of its type. */
		li = 0;
		for (size_t k = 0; k < n; k++) {
			bool ok = false;

			while (li < pos.nlabels && pos.labels[li].end <= sp[k].start)
				li++;
			for (size_t i = li; i < pos.nlabels && pos.labels[i].start < sp[k].end; i++)
				ok = ok || pos.labels[i].type == sp[k].type;
			sc[sp[k].type].det++;
			if (ok)
				sc[sp[k].type].det_ok++;
			else
				show("FP", pos.text, pos.len, sp[k].start, sp[k].end,
				    redact_type_name(sp[k].type));
		}
		free(sp);
	}

	/* Generated technical text: every finding is a false positive. */
	while (neg.len < pos.len)
		gen_tech_line(&neg);
	neg_tokens = count_tokens(neg.text, neg.len);
	scan(r, neg.text, neg.len, &sp, &n);
	for (size_t k = 0; k < n; k++) {
		neg_fp[sp[k].type]++;
		sc[sp[k].type].det++;
		neg_total++;
		show("TECHFP", neg.text, neg.len, sp[k].start, sp[k].end,
		    redact_type_name(sp[k].type));
	}
	free(sp);

	machine_text(r, max_mib << 20, &mach_tokens, &mach_bytes, &mach_files, mach);
	for (int t = 0; t < REDACT_TYPE_COUNT; t++)
		mach_total += mach[t];

	printf("seed %llu, %zu labelled items in %.1f MiB, %zu tokens of generated technical "
	    "text, %zu tokens (%.1f MiB, %zu files) of machine text\n\n",
	    (unsigned long long)seed, pos.nlabels, (double)pos.len / (1 << 20), neg_tokens,
	    mach_tokens, (double)mach_bytes / (1 << 20), mach_files);
	printf("%-12s %6s %6s %6s %7s %7s %7s %9s %9s\n", "type", "items", "found", "FP",
	    "P", "R", "F2", "tech FP", "machine");
	for (int t = 0; t < REDACT_TYPE_COUNT; t++) {
		double p, rc, f2;

		if (sc[t].truth == 0 && sc[t].det == 0 && mach[t] == 0)
			continue;
		p = sc[t].det ? (double)sc[t].det_ok / (double)sc[t].det : 1.0;
		rc = sc[t].truth ? (double)sc[t].found / (double)sc[t].truth : 1.0;
		f2 = p + rc > 0 ? 5 * p * rc / (4 * p + rc) : 0.0;
		printf("%-12s %6zu %6zu %6zu %7.4f %7.4f %7.4f %9zu %9zu\n", redact_type_name(t),
		    sc[t].truth, sc[t].found, sc[t].det - sc[t].det_ok, p, rc, f2, neg_fp[t],
		    mach[t]);
	}
	printf("\nfalse positives per 10,000 tokens: generated technical text %.3f; "
	    "machine text %.3f (%.3f without EMAIL, whose hits there are real addresses)\n",
	    neg_tokens ? 1e4 * (double)neg_total / (double)neg_tokens : 0.0,
	    mach_tokens ? 1e4 * (double)mach_total / (double)mach_tokens : 0.0,
	    mach_tokens ? 1e4 * (double)(mach_total - mach[REDACT_EMAIL]) /
	    (double)mach_tokens : 0.0);
	printf("throughput: %.1f MB/s (redact_scan over %.1f MB)\n",
	    (double)scan_bytes / 1e6 / scan_time, (double)scan_bytes / 1e6);

	free(pos.text);
	free(pos.labels);
	free(neg.text);
	redact_close(r);
	return 0;
}
