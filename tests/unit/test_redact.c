/*
 * Unit tests of redact: for every detector, text that must be redacted and text that
 * must be left alone, checked on the exact output a dataset would receive; the spans,
 * the risk mask, overlaps, rules files and their errors; URLs (redact_url_apply):
 * the query left out or kept, the fragment and user info left out, e-mail
 * addresses and ids in path segments replaced, malformed URLs refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redact.h"

/* The detector with the built-in rules, opened once for the whole group. */
static struct redact *defaults;

static int
group_setup(void **state)
{
	char *cause = NULL;

	(void)state;
	if (redact_open(NULL, &defaults, &cause) < 0) {
		fprintf(stderr, "redact_open: %s\n", cause ? cause : "?");
		free(cause);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	redact_close(defaults);
	return 0;
}

/* Returns the redacted text (caller frees) and the risk mask. */
static char *
apply_mask(const struct redact *r, const char *in, unsigned *mask)
{
	char *out = NULL;
	size_t outlen = 0;

	assert_int_equal(redact_apply(r, in, strlen(in), &out, &outlen, mask), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), outlen);
	return out;
}

#define assert_redacts(in, expect) assert_redacts_with(defaults, (in), (expect))

static void
assert_redacts_with(const struct redact *r, const char *in, const char *expect)
{
	unsigned mask;
	char *out = apply_mask(r, in, &mask);

	if (strcmp(out, expect) != 0)
		fprintf(stderr, "input:    %s\nexpected: %s\ngot:      %s\n", in, expect, out);
	assert_string_equal(out, expect);
	free(out);
}

/* Text that must come out unchanged. */
static void
assert_kept(const char *in)
{
	assert_redacts(in, in);
}

/* "x <item> y" becomes "x <TYPE> y" for every item of a NULL-terminated list. */
static void
assert_all_redacted(const char *const *items, const char *placeholder)
{
	for (size_t i = 0; items[i] != NULL; i++) {
		char in[1024], expect[256];

		snprintf(in, sizeof in, "see %s, ok", items[i]);
		snprintf(expect, sizeof expect, "see %s, ok", placeholder);
		assert_redacts(in, expect);
	}
}

static void
assert_none_redacted(const char *const *items)
{
	for (size_t i = 0; items[i] != NULL; i++) {
		char in[1024];

		snprintf(in, sizeof in, "see %s, ok", items[i]);
		assert_kept(in);
	}
}

/* ------------------------------------------------------------------------- */

static void
test_placeholders_exact(void **state)
{
	(void)state;
	assert_redacts(
	    "Mail john.doe@example.com or call +44 20 7946 0958; card 4111 1111 1111 1111, "
	    "IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789, host 203.0.113.7 and "
	    "fe80::1ff:fe23:4567:890a, MAC 00:1A:2B:3C:4D:5E, key AKIAIOSFODNN7EXAMPLE.",
	    "Mail <EMAIL> or call <PHONE>; card <CARD>, IBAN <IBAN>, SSN <SSN>, host <IP> and "
	    "<IP>, MAC <MAC>, key <SECRET>.");
	assert_redacts("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAx4\n"
	    "-----END RSA PRIVATE KEY-----\nthe end", "<PRIVATE_KEY>\nthe end");
	assert_kept("");
	assert_kept("nothing to see here, move along");
}

static void
test_card(void **state)
{
	static const char *const yes[] = {
		"4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111",
		"4012888888881881", "4222222222222", "5555555555554444", "5105 1051 0510 5100",
		"2221000000000009", "378282246310005", "3782 822463 10005", "3714-496353-98431",
		"6011111111111117", "6011000990139424", "3530111333300000", "3566002020360505",
		"30569309025904", "3852 000002 3237", "4111111111111111110", "6212345678901234569",
		"5012 3456 7890 1234 564",
		/* Any grouping by spaces, dashes or dots, one kind or mixed (issue 14). */
		"4111 11111111 1111", "4111-11111111-1111", "41 1111 1111 1111 11", "4111.1111.1111.1111",
		"4111 1111-1111 1111", "41111 11111 111111", "4111-1111 1111.1111", "3782 8224 6310 005",
		"5555 5555 5555 4444", "4111111 111111111",
		NULL,
	};
	static const char *const no[] = {
		"4111 1111 1111 1112",      /* Luhn fails */
		"4111111111111112",
		"1234567812345670",         /* Luhn passes, but no issuer starts with 1 */
		"0000000000000000",
		"4444444444444444",         /* all one digit */
		"9223372036854775807",      /* INT64_MAX */
		"5012345678901234564",      /* 19 contiguous digits, Luhn ok, not Visa/UnionPay */
		"1700000000000",            /* epoch milliseconds */
		"4111 11111111 1112",       /* any grouping, Luhn fails */
		"4111--1111-1111-1111",     /* two separators in a row */
		"4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", /* groups of one digit: lists, versions */
		"6.37.38 18.08.2013",       /* a version and a date */
		"build.3987 1511226414985", /* after a dot: part of a dotted name */
		"3.14159265358979323846",
		"4111 1111 1111 111",       /* 15 digits: not a Visa length */
		NULL,
	};

	(void)state;
	assert_all_redacted(yes, "<CARD>");
	assert_none_redacted(no);
	/* A failed longer reading does not hide the card inside it. */
	assert_redacts("4111 1111 1111 1111 2024", "<CARD> 2024");
	assert_redacts("card:4111111111111111;", "card:<CARD>;");
	/* The digits of an international phone number are not a card. */
	assert_redacts("+41 1111 1111 1111 11", "<PHONE> 11");
}

static void
test_iban(void **state)
{
	static const char *const yes[] = {
		"DE89 3704 0044 0532 0130 00", "DE89370400440532013000",
		"GB82 WEST 1234 5698 7654 32", "gb82west12345698765432",
		"FR14 2004 1010 0505 0001 3M02 606", "NL91ABNA0417164300", "CH9300762011623852957",
		"NO9386011117947", "MT84 MALT 0110 0001 2345 MTLC AST0 01S", "PT50000201231234567890154",
		/* Any spacing (issue 14). */
		"DE89 37040044 0532013000", "DE89-3704-0044-0532-0130-00", "DE 89 370 400 440 532 013 000",
		"DE8937 0400 4405 3201 3000", "GB82 WEST 12345698765432",
		NULL,
	};
	static const char *const no[] = {
		"DE89 3704 0044 0532 0130 01",   /* wrong check digits */
		"DE88370400440532013000",
		"DE8937040044053201300",         /* too short for DE */
		"DE893704004405320130000",       /* too long for DE */
		"XX89370400440532013000",        /* no such country */
		"US12345678901234567890",
		"4bad3c1c-7f11-ee58-086f-13cad35f35dc", /* a UUID: "ee58-086f-13cad35f35dc" passes mod 97 */
		"be 56 items and more",          /* BE56ITEMSANDMORE passes mod 97: prose, lower case */
		NULL,
	};

	(void)state;
	assert_all_redacted(yes, "<IBAN>");
	assert_none_redacted(no);
}

static void
test_ssn(void **state)
{
	static const char *const yes[] = {"123-45-6789", "001-01-0001", "899-99-9999",
		"665 12 3456", "123.45.6789", NULL};
	static const char *const no[] = {
		"000-12-3456", "666-12-3456", "900-12-3456", "999-12-3456", "123-00-4567",
		"123-45-0000", "123-45-67890", "1123-45-6789", "123-45 6789", "123456789",
		NULL,
	};

	(void)state;
	assert_all_redacted(yes, "<SSN>");
	assert_none_redacted(no);
}

static void
test_email(void **state)
{
	static const char *const yes[] = {
		"john.doe@example.com", "john.doe+tag@example.co.uk", "a@b.io", "o'neil@mail.ie",
		"first_last-99@sub.uni-heidelberg.de", "USER@EXAMPLE.ORG", "x@y.museum",
		NULL,
	};
	static const char *const no[] = {
		"user@localhost", "icon@2x.png", "foo@bar.c", "@decorator", "pkg@1.2.3",
		"a@-bad.com", "name@sha256:abc", "logo@3x.json",
		NULL,
	};

	(void)state;
	assert_all_redacted(yes, "<EMAIL>");
	assert_none_redacted(no);
	assert_redacts("<john@example.com>.", "<<EMAIL>>.");
	assert_redacts("mailto:john@example.com", "mailto:<EMAIL>");
}

static void
test_phone(void **state)
{
	static const char *const yes[] = {
		"+44 20 7946 0958", "(555) 123-4567", "555-123-4567", "555.123.4567",
		"1-703-847-0040", "+1-415-555-0123", "+1 (415) 555-0123", "+4930123456",
		"+49 (0)30 12345678", "+81 3-1234-5678", "030 12345678", "030/1234567",
		"020 7946 0958", "01 23 45 67 89", "0171 2345678", "+33 1 23 45 67 89",
		/* As people type them (issue 14). */
		"555 123-4567", "555.123 4567", "(555)123 4567", "(555)-123-4567", "555 1234567",
		"+33.1.23.45.67.89", "+1 555.123.4567",
		NULL,
	};
	static const char *const no[] = {
		"2023-10-12", "12:30:45", "2023-10-12 12:30:45", "1.2.3", "10.0.19041.1",
		"v10.0.0.1", "+123", "123-456-7890", "3.14159265", "MA 02110-1301",
		"01/02/2023", "05.12.2023", "version 1.20.3-1", "+12 34", "0755 644",
		"1024x768", "1:10~+20191229111838", "0x7ffd5e3c",
		NULL,
	};

	(void)state;
	assert_all_redacted(yes, "<PHONE>");
	assert_none_redacted(no);
}

static void
test_ip(void **state)
{
	static const char *const yes[] = {
		"192.168.1.10", "203.0.113.7", "10.0.0.1", "172.16.254.1", "100.64.12.7",
		"2001:db8::ff00:42:8329", "fe80::1ff:fe23:4567:890a",
		"2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::ffff:192.0.2.128", "fe80::1%eth0",
		"2001:DB8::1",
		NULL,
	};
	static const char *const no[] = {
		"256.1.1.1", "1.2.3", "v10.0.0.1", "10.0.0.1.5", "1.2.3.4-1", "libfoo-10.2.3.4",
		"01.02.03.04", "127.0.0.1", "0.0.0.0", "1.7.10.5", "2.5.29.19", "224.0.0.1",
		"255.255.255.0", "8.8.8.8",
		"std::map", "Face::add", "a::b", "12:30:45", "::1", "::", "1:2:3",
		"2001:db8::1::2",
		NULL,
	};

	(void)state;
	assert_all_redacted(yes, "<IP>");
	assert_none_redacted(no);
	assert_redacts("ssh root@[2001:db8::7]:22", "ssh root@[<IP>]:22");
	assert_redacts("listen 10.1.2.3:8080;", "listen <IP>:8080;");
	assert_redacts("range 10.0.0.1-10.0.0.9", "range <IP>-<IP>");
}

static void
test_mac(void **state)
{
	static const char *const yes[] = {"00:1A:2B:3C:4D:5E", "00-1a-2b-3c-4d-5e",
		"001a.2b3c.4d5e", NULL};
	static const char *const no[] = {
		"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "00:1A:2B:3C:4D", "00:1A:2B:3C:4D:5E:6F",
		"00:1A-2B:3C:4D:5E", "12:30:45:67:89:0g",
		NULL,
	};

	(void)state;
	assert_all_redacted(yes, "<MAC>");
	assert_none_redacted(no);
}

static void
test_secrets(void **state)
{
	static const char *const yes[] = {
		"AKIAIOSFODNN7EXAMPLE", "ASIAY34FZKBOKMUTVV7A",
		"ghp_16C7e42F292c6912E7710c838347Ae178B4a", "gho_xY7pQ2mN4kL9vR1tW8sB3nC6dF0gH5jK2aZe",
		"github_pat_11ABCDEFG0abcdefghijkl_mnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd",
		"glpat-Xk9fQ2mZ7pL4vR8tW1yB",
		"xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
		"sk_live_4eC39HqLyjWDarjtT1zdp7dc", "rk_test_51Hx9fQ2mZ7pL4vR8tW1yB",
		"AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9l"
		"IiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
		"npm_Xk9fQ2mZ7pL4vR8tW1yB3nC6dF0gH5jK2aZe",
		/* Generic high-entropy tokens, among them an AWS secret access key. */
		"Xk9fQ2mZ7pL4vR8tW1yB3nC6", "k7Rq2/Zp9+Lm4Xv8Tw1Yb3Nc6Df0Gh5Jk2Az8Qe1",
		"3nT7xQ9pL2vR8kW1yB4mZ6cF0d", "dGhpcyBpcyBhIHNlY3JldCB0b2tlbiAxMjM0NTY3OA==",
		NULL,
	};
	static const char *const no[] = {
		"e83c5163316f89bfbde7d9ab23ca2e25604af290",      /* git SHA-1 */
		"E83C5163316F89BFBDE7D9AB23CA2E25604AF290",
		"123e4567-e89b-12d3-a456-426614174000",          /* UUID */
		"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"GetWindowTextLengthW", "xcb_input_xi_query_device_reply",
		"EVP_PKEY_CTX_get0_dh_kdf_ukm", "sha256WithRSAEncryption", "XMLHttpRequestUpload2",
		"Utf8ToUtf16Converter", "__GLIBC_PREREQ_2_17_compat",
		"/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0", "src/components/Button/ButtonGroup2.tsx",
		"ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",      /* a placeholder, no entropy */
		"AKIAXXXXXXXXXXXXXXXX", "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
		"ThisIsAVeryLongCamelCaseIdentifier", "PCRE2_ERROR_NOMATCH_2024",
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",      /* AWS documentation example */
		"XMLHttpRequestIn41V2", "TcpCtxStrBuf2Handler", /* abbreviations without vowels */
		NULL,
	};

	(void)state;
	assert_all_redacted(yes, "<SECRET>");
	assert_none_redacted(no);
	assert_redacts("git clone https://bob:hunter2@git.example.com/x.git",
	    "git clone https://<SECRET>/x.git");
	assert_redacts("export TOKEN=Xk9fQ2mZ7pL4vR8tW1yB3nC6", "export TOKEN=<SECRET>");
	assert_redacts("https://example.com/api/v1/Xk9fQ2mZ7pL4vR8tW1yB3nC6/items",
	    "https://example.com/api/v1/<SECRET>/items");
}

static void
test_private_key(void **state)
{
	(void)state;
	assert_redacts("key:\n-----BEGIN OPENSSH PRIVATE KEY-----\n"
	    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
	    "QyNTUxOQAAACDx2ThjeHxBPZlHl8mRsk+lGmfD5xnSmG0rOr9Bk4c1eQAAAJhsj9dCbI/X\n"
	    "-----END OPENSSH PRIVATE KEY-----\nok", "key:\n<PRIVATE_KEY>\nok");
	assert_redacts("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHzBJBgkqhkiG9w0BBQ0wPDAb\n"
	    "-----END ENCRYPTED PRIVATE KEY-----", "<PRIVATE_KEY>");
	assert_redacts("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF0\n=abcd\n"
	    "-----END PGP PRIVATE KEY BLOCK-----", "<PRIVATE_KEY>");
	/* Escaped newlines, as in JSON or a string literal. */
	assert_redacts("{\"k\": \"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBg\\n"
	    "-----END PRIVATE KEY-----\\n\"}", "{\"k\": \"<PRIVATE_KEY>\\n\"}");
	/* Cut off before its END line: everything that may be key material goes. */
	assert_redacts("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAx4\nUQkd9",
	    "<PRIVATE_KEY>");
	/* A public key or certificate is not a private key. */
	assert_kept("-----BEGIN PUBLIC KEY-----");
}

/* ------------------------------------------------------------------------- */

static void
test_spans(void **state)
{
	const char *text = "a 4111111111111111 b john@example.com c";
	struct redact_span *sp = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(redact_scan(defaults, text, strlen(text), &sp, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sp[0].start, 2);
	assert_int_equal(sp[0].end, 18);
	assert_int_equal(sp[0].type, REDACT_CARD);
	assert_int_equal(sp[0].risk, REDACT_RISK_HIGH);
	assert_int_equal(sp[1].start, 21);
	assert_int_equal(sp[1].end, 37);
	assert_int_equal(sp[1].type, REDACT_EMAIL);
	assert_int_equal(sp[1].risk, REDACT_RISK_LOW);
	free(sp);

	assert_int_equal(redact_scan(defaults, "plain", 5, &sp, &n), 0);
	assert_null(sp);
	assert_int_equal(n, 0);
	assert_int_equal(redact_scan(defaults, NULL, 0, &sp, &n), 0);
	assert_null(sp);
	assert_int_equal(n, 0);
}

static void
test_risk_mask(void **state)
{
	unsigned mask = 99;
	char *out;

	(void)state;
	out = apply_mask(defaults, "nothing", &mask);
	assert_int_equal(mask, 0);
	free(out);
	out = apply_mask(defaults, "mail a@example.com", &mask);
	assert_int_equal(mask, REDACT_RISK_LOW);
	free(out);
	out = apply_mask(defaults, "mail a@example.com, ssn 123-45-6789", &mask);
	assert_int_equal(mask, REDACT_RISK_LOW | REDACT_RISK_HIGH);
	free(out);
	out = apply_mask(defaults, "card 4111111111111111", &mask);
	assert_int_equal(mask, REDACT_RISK_HIGH);
	free(out);
	/* The mask is optional. */
	out = apply_mask(defaults, "card 4111111111111111", NULL);
	assert_string_equal(out, "card <CARD>");
	free(out);
}

static void
test_overlaps(void **state)
{
	struct redact_span *sp = NULL;
	size_t n = 0;
	const char *text = "4111111111111111@example.com";

	(void)state;
	/* An email whose local part is a card: one span, the card's type and risk. */
	assert_int_equal(redact_scan(defaults, text, strlen(text), &sp, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sp[0].start, 0);
	assert_int_equal(sp[0].end, strlen(text));
	assert_int_equal(sp[0].type, REDACT_CARD);
	assert_int_equal(sp[0].risk, REDACT_RISK_HIGH);
	free(sp);
	/* Base64 lines inside a key block do not become separate secrets. */
	assert_redacts("-----BEGIN PRIVATE KEY-----\nXk9fQ2mZ7pL4vR8tW1yB3nC6Xk9fQ2mZ7pL4vR8t\n"
	    "-----END PRIVATE KEY-----", "<PRIVATE_KEY>");
	/* Adjacent findings stay separate. */
	assert_redacts("123-45-6789 4111111111111111", "<SSN> <CARD>");
}

static void
test_binary_input(void **state)
{
	static const char text[] = "\xff\xfe\0card 4111111111111111\0\x80 end";
	struct redact_span *sp = NULL;
	size_t n = 0;
	char *out = NULL;
	size_t outlen = 0;
	unsigned mask = 0;

	(void)state;
	assert_int_equal(redact_scan(defaults, text, sizeof text - 1, &sp, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sp[0].start, 8);
	assert_int_equal(sp[0].end, 24);
	free(sp);
	assert_int_equal(redact_apply(defaults, text, sizeof text - 1, &out, &outlen, &mask), 0);
	assert_int_equal(outlen, sizeof text - 1 - 16 + strlen("<CARD>"));
	assert_memory_equal(out, "\xff\xfe\0card <CARD>\0\x80 end", outlen);
	assert_int_equal(mask, REDACT_RISK_HIGH);
	free(out);
}

static void
test_too_long(void **state)
{
	struct redact_span *sp = (struct redact_span *)1;
	size_t n = 7;
	char *out = (char *)1;
	size_t outlen = 7;
	unsigned mask = 0;

	(void)state;
	/* The length is checked before a single byte is read. */
	assert_int_equal(redact_scan(defaults, "x", REDACT_MAX_TEXT + 1, &sp, &n), -E2BIG);
	assert_null(sp);
	assert_int_equal(n, 0);
	assert_int_equal(redact_apply(defaults, "x", REDACT_MAX_TEXT + 1, &out, &outlen, &mask),
	    -E2BIG);
	assert_null(out);
	assert_int_equal(outlen, 0);
	/* Fail closed: a caller that only looks at the mask still drops the text. */
	assert_int_equal(mask, REDACT_RISK_HIGH);
}

static void
test_pieces_are_callers_job(void **state)
{
	(void)state;
	/* Safeguard 9 joins typed keys before scanning; two pieces are two texts here. */
	assert_kept("4111 1111");
	assert_kept("1111 1111");
	assert_redacts("4111 1111 1111 1111", "<CARD>");
}

static void
test_type_names(void **state)
{
	(void)state;
	assert_string_equal(redact_type_name(REDACT_EMAIL), "EMAIL");
	assert_string_equal(redact_type_name(REDACT_PRIVATE_KEY), "PRIVATE_KEY");
	assert_string_equal(redact_type_name(REDACT_NATIONAL_ID), "NATIONAL_ID");
	assert_string_equal(redact_type_name(REDACT_TYPE_COUNT), "?");
	assert_string_equal(redact_type_name((enum redact_type)-1), "?");
	assert_true(redact_rule_count(defaults) >= 30);
}

struct thread_arg {
	int ok;
};

static void *
scan_thread(void *p)
{
	struct thread_arg *a = p;

	a->ok = 1;
	for (int i = 0; i < 200; i++) {
		char *out = NULL;
		size_t outlen;
		unsigned mask;
		const char *in = "x 4111 1111 1111 1111 y a@example.com z";

		if (redact_apply(defaults, in, strlen(in), &out, &outlen, &mask) != 0 ||
		    strcmp(out, "x <CARD> y <EMAIL> z") != 0)
			a->ok = 0;
		free(out);
	}
	return NULL;
}

static void
test_threads_share(void **state)
{
	pthread_t t[4];
	struct thread_arg a[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, scan_thread, &a[i]), 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].ok, 1);
	}
}

/* ------------------------------------------------------------------------- */
/* Rules files                                                                */

static char *tmpdir;   /* made by the first rules file, removed by the group teardown */

static const char *
write_rules(const char *name, const char *content)
{
	static char path[PATH_MAX + 64];
	FILE *f;

	if (tmpdir == NULL) {
		tmpdir = testenv_tmpdir("test_redact");
		assert_non_null(tmpdir);
	}
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
	assert_int_equal(fclose(f), 0);
	return path;
}

static void
test_rules_file_extends(void **state)
{
	struct redact *r = NULL;
	char *cause = NULL;
	const char *path = write_rules("ok.rules",
	    "# company rules\n"
	    "\n"
	    "   # indented comment\n"
	    "employee_id  NATIONAL_ID  high  -  (?<![A-Z0-9])EMP-[0-9]{6}(?![0-9])\r\n"
	    "internal_tok SECRET high entropy=3.5 (?<![A-Za-z0-9])itk_[A-Za-z0-9]{16}(?![A-Za-z0-9])\n"
	    "staff_card CARD high luhn (?<![0-9])7[0-9]{15}(?![0-9])\n"
	    "room PHONE low - (?<![0-9])x[0-9]{4}(?![0-9])");
	unsigned mask;
	char *out;

	(void)state;
	assert_int_equal(redact_open(path, &r, &cause), 0);
	assert_null(cause);
	assert_int_equal(redact_rule_count(r), redact_rule_count(defaults) + 4);
	assert_redacts_with(r, "id EMP-123456, ext x1234, a@example.com",
	    "id <NATIONAL_ID>, ext <PHONE>, <EMAIL>");
	/* entropy=3.5: a random tail passes, a repetitive one does not. */
	assert_redacts_with(r, "itk_aZ3kQ9xP2mL7vR4t itk_aaaaaaaaaaaaaaaa",
	    "<SECRET> itk_aaaaaaaaaaaaaaaa");
	/* luhn also checks the issuer prefix: 7 is not a card issuer. */
	assert_redacts_with(r, "7000000000000000", "7000000000000000");
	out = apply_mask(r, "EMP-000001", &mask);
	assert_int_equal(mask, REDACT_RISK_HIGH);
	free(out);
	/* The built-in rules are still there. */
	assert_redacts_with(r, "4111111111111111", "<CARD>");
	redact_close(r);
}

static void
expect_rules_error(const char *content, int err, const char *cause_part)
{
	struct redact *r = (struct redact *)1;
	char *cause = NULL;
	const char *path = write_rules("bad.rules", content);

	assert_int_equal(redact_open(path, &r, &cause), err);
	assert_ptr_equal(r, (struct redact *)1);
	assert_non_null(cause);
	if (strstr(cause, cause_part) == NULL)
		fprintf(stderr, "cause '%s' lacks '%s'\n", cause, cause_part);
	assert_non_null(strstr(cause, cause_part));
	free(cause);
}

static void
test_rules_file_errors(void **state)
{
	struct redact *r = NULL;
	char *cause = NULL, *big;
	const char *path;

	(void)state;
	expect_rules_error("x FOO high - abc\n", -EINVAL, "bad.rules:1: unknown type 'FOO'");
	expect_rules_error("\n\nx EMAIL medium - abc\n", -EINVAL, "bad.rules:3: risk");
	expect_rules_error("x EMAIL low frobnicate abc\n", -EINVAL, "unknown check");
	expect_rules_error("x EMAIL low entropy=9 abc\n", -EINVAL, "unknown check");
	expect_rules_error("x EMAIL low entropy= abc\n", -EINVAL, "unknown check");
	expect_rules_error("x EMAIL low - (unclosed\n", -EINVAL, "does not compile");
	expect_rules_error("x EMAIL low -\n", -EINVAL, "expected 'name type risk check pattern'");
	expect_rules_error("email EMAIL low - abc\n", -EINVAL, "'email' is already defined");
	expect_rules_error("a EMAIL low - a\na EMAIL low - b\n", -EINVAL, "bad.rules:2:");
	expect_rules_error("bad/name EMAIL low - abc\n", -EINVAL, "bad rule name");

	assert_int_equal(redact_open("/nonexistent/redact.rules", &r, &cause), -ENOENT);
	assert_non_null(strstr(cause, "/nonexistent/redact.rules"));
	free(cause);
	cause = NULL;

	big = malloc((1 << 20) + 2);
	assert_non_null(big);
	memset(big, '#', (1 << 20) + 1);
	big[(1 << 20) + 1] = '\0';
	path = write_rules("big.rules", big);
	free(big);
	assert_int_equal(redact_open(path, &r, &cause), -EFBIG);
	assert_non_null(cause);
	free(cause);
}

static void
test_rules_file_nul_byte(void **state)
{
	struct redact *r = NULL;
	char *cause = NULL;
	char path[PATH_MAX + 64];
	FILE *f;

	(void)state;
	write_rules("nul.rules", "");
	snprintf(path, sizeof path, "%s/nul.rules", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite("x EMAIL low - a\0b\n", 1, 18, f), 18);
	fclose(f);
	assert_int_equal(redact_open(path, &r, &cause), -EINVAL);
	assert_non_null(strstr(cause, "NUL"));
	free(cause);
}

static void
test_rules_files_several(void **state)
{
	struct redact *r = (struct redact *)1;
	char *cause = NULL, a[PATH_MAX + 64], b[PATH_MAX + 64];
	const char *paths[2] = {a, b};

	(void)state;
	snprintf(a, sizeof a, "%s", write_rules("ok.rules",
	    "employee_id NATIONAL_ID high - (?<![A-Z0-9])EMP-[0-9]{6}(?![0-9])\n"));
	snprintf(b, sizeof b, "%s", write_rules("bad.rules",
	    "# a second file\nroom PHONE low - (?<![0-9])x[0-9]{4}(?![0-9])\n"));
	assert_int_equal(redact_open_files(paths, 2, &r, &cause), 0);
	assert_int_equal(redact_rule_count(r), redact_rule_count(defaults) + 2);
	assert_int_equal(redact_builtin_count(r), redact_builtin_count(defaults));
	assert_string_equal(redact_rule_name(r, redact_builtin_count(r)), "employee_id");
	assert_string_equal(redact_rule_name(r, redact_builtin_count(r) + 1), "room");
	assert_null(redact_rule_name(r, redact_rule_count(r)));
	assert_redacts_with(r, "EMP-123456 x1234 4111111111111111", "<NATIONAL_ID> <PHONE> <CARD>");
	redact_close(r);

	/* No files: the built-in rules only, like redact_open(NULL). */
	r = NULL;
	assert_int_equal(redact_open_files(NULL, 0, &r, &cause), 0);
	assert_int_equal(redact_rule_count(r), redact_rule_count(defaults));
	redact_close(r);

	/* A name may be defined once across all files; the error names the second one. */
	r = (struct redact *)1;
	snprintf(b, sizeof b, "%s", write_rules("bad.rules",
	    "\n\nemployee_id NATIONAL_ID high - EMP[0-9]{8}\n"));
	assert_int_equal(redact_open_files(paths, 2, &r, &cause), -EINVAL);
	assert_ptr_equal(r, (struct redact *)1);
	assert_non_null(strstr(cause, "bad.rules:3: rule 'employee_id' is already defined"));
	free(cause);
}

/* The fingerprint of a rule set opened from the rules texts a and b (NULL: none). */
static void
fingerprint_of(const char *a, const char *b, char out[REDACT_FINGERPRINT_LEN + 1])
{
	static const char *const names[2] = {"fp-a.rules", "fp-b.rules"};
	const char *texts[2] = {a, b}, *paths[2];
	char p[2][PATH_MAX + 64], *cause = NULL;
	struct redact *r = NULL;
	size_t n = 0;

	for (size_t i = 0; i < 2; i++) {
		if (texts[i] == NULL)
			continue;
		snprintf(p[n], sizeof p[n], "%s", write_rules(names[n], texts[i]));
		paths[n] = p[n];
		n++;
	}
	assert_int_equal(redact_open_files(paths, n, &r, &cause), 0);
	assert_int_equal(strlen(redact_fingerprint(r)), REDACT_FINGERPRINT_LEN);
	assert_int_equal(strspn(redact_fingerprint(r), "0123456789abcdef"), REDACT_FINGERPRINT_LEN);
	snprintf(out, REDACT_FINGERPRINT_LEN + 1, "%s", redact_fingerprint(r));
	redact_close(r);
}

/*
 * The fingerprint of a rule set (a frame's scan records it, scrub.h): the same for
 * the same rules in the same order, whatever the comments and spacing; different
 * for an added rule, a changed field, or another order.
 */
static void
test_rules_fingerprint(void **state)
{
	static const char emp[] = "employee_id NATIONAL_ID high - (?<![A-Z0-9])EMP-[0-9]{6}\n";
	static const char room[] = "room PHONE low - (?<![0-9])x[0-9]{4}(?![0-9])\n";
	char base[REDACT_FINGERPRINT_LEN + 1], again[REDACT_FINGERPRINT_LEN + 1];
	char a[REDACT_FINGERPRINT_LEN + 1], fp[REDACT_FINGERPRINT_LEN + 1];
	char ab[REDACT_FINGERPRINT_LEN + 1], ba[REDACT_FINGERPRINT_LEN + 1];

	(void)state;
	fingerprint_of(NULL, NULL, base);
	assert_string_equal(base, redact_fingerprint(defaults));
	fingerprint_of(NULL, NULL, again);
	assert_string_equal(base, again);
	/* An empty file or one of comments adds no rule. */
	fingerprint_of("# nothing yet\n\n", NULL, fp);
	assert_string_equal(fp, base);

	fingerprint_of(emp, NULL, a);
	assert_string_not_equal(a, base);
	fingerprint_of("# the organisation's ids\n\t employee_id   NATIONAL_ID\thigh  -  "
	    "(?<![A-Z0-9])EMP-[0-9]{6}  \r\n", NULL, fp);
	assert_string_equal(fp, a);
	/* The type's spelling is not the rule; its value is. */
	fingerprint_of("employee_id national_id high - (?<![A-Z0-9])EMP-[0-9]{6}\n", NULL, fp);
	assert_string_equal(fp, a);
	fingerprint_of("employee_id NATIONAL_ID low - (?<![A-Z0-9])EMP-[0-9]{6}\n", NULL, fp);
	assert_string_not_equal(fp, a);
	fingerprint_of("employee_id NATIONAL_ID high - (?<![A-Z0-9])EMP-[0-9]{7}\n", NULL, fp);
	assert_string_not_equal(fp, a);
	fingerprint_of("employee_id SECRET high - (?<![A-Z0-9])EMP-[0-9]{6}\n", NULL, fp);
	assert_string_not_equal(fp, a);
	fingerprint_of("employee_ids NATIONAL_ID high - (?<![A-Z0-9])EMP-[0-9]{6}\n", NULL, fp);
	assert_string_not_equal(fp, a);
	/* So does the check. */
	fingerprint_of("employee_id NATIONAL_ID high luhn (?<![A-Z0-9])EMP-[0-9]{6}\n", NULL, fp);
	assert_string_not_equal(fp, a);

	/* Two files, or one file with both rules: the order of the rules counts. */
	fingerprint_of(emp, room, ab);
	fingerprint_of(room, emp, ba);
	assert_string_not_equal(ab, ba);
	assert_string_not_equal(ab, a);
	{
		char both[sizeof emp + sizeof room];

		snprintf(both, sizeof both, "%s%s", emp, room);
		fingerprint_of(both, NULL, fp);
		assert_string_equal(fp, ab);
	}
}

/*
 * The built-in rules are data/redact.rules, embedded at build time: the detector
 * has exactly the rules of the file in the source tree, in its order, so that a
 * stale or truncated copy cannot go unnoticed.
 */
static void
test_builtin_rules_are_the_file(void **state)
{
	const char *src = getenv("MIMIC_SRCDIR");
	char path[PATH_MAX], line[4096];
	size_t n = 0;
	FILE *f;

	(void)state;
	snprintf(path, sizeof path, "%s/data/redact.rules", src != NULL ? src : ".");
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s (MIMIC_SRCDIR is the source tree)", path);
	while (fgets(line, sizeof line, f) != NULL) {
		char name[64];
		const char *p = line, *embedded;

		assert_non_null(strchr(line, '\n'));
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\r' || *p == '\0')
			continue;
		assert_int_equal(sscanf(p, "%63s", name), 1);
		/* A sensitive field label, not a rule (test_field_labels). */
		if (strcmp(name, "label") == 0)
			continue;
		embedded = redact_rule_name(defaults, n);
		if (embedded == NULL || strcmp(embedded, name) != 0)
			fail_msg("rule %zu of %s is '%s', the embedded one '%s'", n, path, name,
			    embedded != NULL ? embedded : "(none)");
		n++;
	}
	fclose(f);
	assert_int_equal(n, redact_rule_count(defaults));
	assert_int_equal(n, redact_builtin_count(defaults));
	/* The detectors docs/REDACTION.md lists are all there. */
	assert_true(n >= 30);
}

/* --- Sensitive field labels (redact_label_match) ------------------------------------ */

/* Expects label to match the phrase want of r's list (NULL: to match none). */
static void
label_is(const struct redact *r, const char *label, const char *want)
{
	int i = redact_label_match(r, label, strlen(label));

	if (want == NULL) {
		if (i >= 0)
			fail_msg("label '%s' matched '%s'", label, redact_label(r, (size_t)i));
		return;
	}
	if (i < 0)
		fail_msg("label '%s' matched nothing, expected '%s'", label, want);
	if (strcmp(redact_label(r, (size_t)i), want) != 0)
		fail_msg("label '%s' matched '%s', expected '%s'", label,
		    redact_label(r, (size_t)i), want);
}

static void
placeholder_is(const char *label, const char *want)
{
	char out[REDACT_FIELD_MAX];
	size_t n = redact_field_placeholder(label, strlen(label), out, sizeof out);

	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
}

static void
test_field_labels(void **state)
{
	char long_label[200];

	(void)state;
	/* The built-in list, as forms write their labels: any case, ':' or '*' after. */
	label_is(defaults, "Name", "name");
	label_is(defaults, "Full name:", "name");
	label_is(defaults, "LAST NAME *", "name");
	label_is(defaults, "Surname", "surname");
	label_is(defaults, "Address", "address");
	label_is(defaults, "Street:", "street");
	label_is(defaults, "Street address:", "address");
	label_is(defaults, "Date of birth", "date of birth");
	label_is(defaults, "date-of-birth:", "date of birth");
	label_is(defaults, "Birthday", "birthday");
	label_is(defaults, "Postcode/ZIP", "postcode");
	label_is(defaults, "Annual salary (EUR)", "salary");
	label_is(defaults, "Account number", "account");
	label_is(defaults, "Tax ID", "tax id");
	label_is(defaults, "Diagnosis", "diagnosis");
	label_is(defaults, "E-mail", "e mail");
	/* Whole words only; harmless labels are left alone. */
	label_is(defaults, "City", NULL);
	label_is(defaults, "Country", NULL);
	label_is(defaults, "Search", NULL);
	label_is(defaults, "Message", NULL);
	label_is(defaults, "Names", NULL);
	label_is(defaults, "Renamed", NULL);
	label_is(defaults, "Date", NULL);
	label_is(defaults, "Birth", NULL);
	label_is(defaults, "Addresses", NULL);
	label_is(defaults, "Pinned", NULL);
	label_is(defaults, "", NULL);
	label_is(defaults, ":*", NULL);
	/* A long label, and bytes that are not ASCII: a word is found in it all the same. */
	memset(long_label, 'x', sizeof long_label);
	memcpy(long_label + 150, " salary", 7);
	long_label[sizeof long_label - 1] = '\0';
	label_is(defaults, long_label, NULL);
	long_label[157] = ' ';
	label_is(defaults, long_label, "salary");
	label_is(defaults, "Stra\xc3\x9f" "e", NULL);
	label_is(defaults, "\xc3\xa9 address \xff", "address");
	assert_true(redact_label_count(defaults) >= 20);
	assert_null(redact_label(defaults, redact_label_count(defaults)));

	/* The placeholder shows the label as the application gives it, trimmed and bounded. */
	placeholder_is("Date of birth", "<FIELD:Date of birth>");
	placeholder_is("  Full name: ", "<FIELD:Full name>");
	placeholder_is("Name *", "<FIELD:Name>");
	placeholder_is("a<b>c\td", "<FIELD:a b c d>");
	placeholder_is(":*", "<FIELD>");
	placeholder_is("", "<FIELD>");
	placeholder_is("0123456789012345678901234567890123456789012345678901234567890",
	    "<FIELD:012345678901234567890123456789012345678901234567>");
	/* 47 bytes and a two-byte character: it is left out whole, not cut in half. */
	placeholder_is("01234567890123456789012345678901234567890123456\xc3\xa9z",
	    "<FIELD:01234567890123456789012345678901234567890123456>");
}

static void
test_field_labels_from_rules_file(void **state)
{
	struct redact *r = NULL;
	char *cause = NULL;
	const char *path = write_rules("labels.rules",
	    "# the organisation's own fields\n"
	    "label   Employee number\n"
	    "label\tcost centre:  \n"
	    "label name\n"                   /* already built in: kept once */
	    "badge NATIONAL_ID high - (?<![0-9])B-[0-9]{5}(?![0-9])\n");

	(void)state;
	assert_int_equal(redact_open(path, &r, &cause), 0);
	assert_null(cause);
	assert_int_equal(redact_label_count(r), redact_label_count(defaults) + 2);
	assert_int_equal(redact_rule_count(r), redact_rule_count(defaults) + 1);
	label_is(r, "Employee Number:", "employee number");
	label_is(r, "Cost centre", "cost centre");
	label_is(r, "Employee", NULL);
	label_is(defaults, "Employee number", NULL);
	/* Adding labels takes none away, and does not change the rules' fingerprint. */
	label_is(r, "Date of birth", "date of birth");
	label_is(r, "First name", "name");
	assert_redacts_with(r, "badge B-12345", "badge <NATIONAL_ID>");
	redact_close(r);

	path = write_rules("labels-only.rules", "label Employee number\n");
	assert_int_equal(redact_open(path, &r, &cause), 0);
	assert_string_equal(redact_fingerprint(r), redact_fingerprint(defaults));
	redact_close(r);

	expect_rules_error("label\n", -EINVAL, "bad.rules:1: a label line needs a label");
	expect_rules_error("\nlabel   \n", -EINVAL, "bad.rules:2: a label line needs a label");
	expect_rules_error("label :*-\n", -EINVAL, "has no letters or digits");
	expect_rules_error("label "
	    "0123456789012345678901234567890123456789012345678901234567890123\n",
	    -EINVAL, "a label line needs a label of 1-63 bytes");
}

/* --- URLs (redact_url_apply) ------------------------------------------------------ */

/* Expects url redacted with flags to give exactly want, with risk mask want_mask. */
static void
url_is(const char *url, unsigned flags, const char *want, unsigned want_mask)
{
	char *out = NULL;
	size_t outlen = 0;
	unsigned mask = 99;
	int rc = redact_url_apply(defaults, url, strlen(url), flags, &out, &outlen, &mask);

	if (rc != 0)
		fail_msg("redact_url_apply(%s): %d", url, rc);
	assert_non_null(out);
	assert_int_equal(strlen(out), outlen);
	if (strcmp(out, want) != 0)
		fail_msg("redact_url_apply(%s) gave '%s', want '%s'", url, out, want);
	if (mask != want_mask)
		fail_msg("redact_url_apply(%s): risk %u, want %u", url, mask, want_mask);
	free(out);
}

/* Expects url refused with err: nothing written, no risk (the caller leaves it out). */
static void
url_refused(const char *url, size_t len, int err)
{
	char *out = (char *)"unset";
	size_t outlen = 7;
	unsigned mask = 99;

	assert_int_equal(redact_url_apply(defaults, url, len, REDACT_URL_QUERY, &out, &outlen,
	                                  &mask), err);
	assert_null(out);
	assert_int_equal(outlen, 0);
	assert_int_equal(mask, 0);
}

/* The query string is left out unless asked for; then each value is redacted. */
static void
test_url_query(void **state)
{
	(void)state;
	url_is("https://shop.example.com/cart?item=42&coupon=SAVE10", 0,
	       "https://shop.example.com/cart", 0);
	url_is("https://shop.example.com/search?q=alice%40example.org", 0,
	       "https://shop.example.com/search", 0);
	url_is("https://shop.example.com/?", 0, "https://shop.example.com/", 0);
	/* Kept: names and values as they were, where nothing is found. */
	url_is("https://shop.example.com/cart?item=42&coupon=SAVE10", REDACT_URL_QUERY,
	       "https://shop.example.com/cart?item=42&coupon=SAVE10", 0);
	/* An e-mail address as a value, plain, escaped and form-encoded. */
	url_is("https://crm.example.com/find?to=bob@example.org&page=2", REDACT_URL_QUERY,
	       "https://crm.example.com/find?to=<EMAIL>&page=2", REDACT_RISK_LOW);
	url_is("https://crm.example.com/find?to=alice%40example.org&x", REDACT_URL_QUERY,
	       "https://crm.example.com/find?to=<EMAIL>&x", REDACT_RISK_LOW);
	url_is("https://crm.example.com/find?who=Alice+%3Calice%40example.org%3E", REDACT_URL_QUERY,
	       "https://crm.example.com/find?who=Alice%20%3C<EMAIL>%3E", REDACT_RISK_LOW);
	/* A token as a value: high risk, replaced. */
	url_is("https://app.example.com/cb?code=1&access_token=ghp_R8kX2mQ7vN4pL9sT3wY6zB1cF5hJ0dG8aE2u",
	       REDACT_URL_QUERY, "https://app.example.com/cb?code=1&access_token=<SECRET>",
	       REDACT_RISK_HIGH);
	/* Empty parameters and an empty query keep their shape. */
	url_is("https://a.example/p?&a=&=b", REDACT_URL_QUERY, "https://a.example/p?&a=&=b", 0);
	url_is("https://a.example/p?", REDACT_URL_QUERY, "https://a.example/p", 0);
}

/* The fragment is always left out, and so are the user name and password. */
static void
test_url_fragment_userinfo(void **state)
{
	(void)state;
	url_is("https://docs.example.com/guide#install", 0, "https://docs.example.com/guide", 0);
	url_is("https://docs.example.com/guide?v=2#install", REDACT_URL_QUERY,
	       "https://docs.example.com/guide?v=2", 0);
	url_is("https://app.example.com/#/inbox/alice@example.org", REDACT_URL_QUERY,
	       "https://app.example.com/", 0);
	url_is("https://bob:hunter2@intranet.example.com/wiki", 0,
	       "https://intranet.example.com/wiki", 0);
	url_is("https://alice@example.org@intranet.example.com:8443/", 0,
	       "https://intranet.example.com:8443/", 0);
	url_is("ftp://anonymous@files.example.com", 0, "ftp://files.example.com", 0);
}

/* Each path segment goes through the detector, as written and percent-decoded. */
static void
test_url_path(void **state)
{
	(void)state;
	url_is("https://mail.example.com/users/alice@example.org/inbox", 0,
	       "https://mail.example.com/users/<EMAIL>/inbox", REDACT_RISK_LOW);
	url_is("https://mail.example.com/users/alice%40example.org/inbox", 0,
	       "https://mail.example.com/users/<EMAIL>/inbox", REDACT_RISK_LOW);
	/* Decoded, the segment is escaped again: it stays one segment. */
	url_is("https://mail.example.com/u/alice%40example.org%2Fsent%20items", 0,
	       "https://mail.example.com/u/<EMAIL>%2Fsent%20items", REDACT_RISK_LOW);
	/* Ids: a card number, a social security number, a token. */
	url_is("https://pay.example.com/cards/4111111111111111/edit", 0,
	       "https://pay.example.com/cards/<CARD>/edit", REDACT_RISK_HIGH);
	url_is("https://hr.example.com/people/078-05-1120", 0,
	       "https://hr.example.com/people/<SSN>", REDACT_RISK_HIGH);
	url_is("https://app.example.com/reset/8fJ3kL9mQ2xW7vB4nT6yR1zA5cD0eH", 0,
	       "https://app.example.com/reset/<SECRET>", REDACT_RISK_HIGH);
	/* Nothing found: the path exactly as it was, escapes included. */
	url_is("https://wiki.example.com/Travel%20policy/2024/", 0,
	       "https://wiki.example.com/Travel%20policy/2024/", 0);
	url_is("https://wiki.example.com", 0, "https://wiki.example.com", 0);
	url_is("https://wiki.example.com//a//", 0, "https://wiki.example.com//a//", 0);
	/* A broken escape: the segment is scanned as written. */
	url_is("https://wiki.example.com/100%/bob@example.org", 0,
	       "https://wiki.example.com/100%/<EMAIL>", REDACT_RISK_LOW);
	/* The host and port are kept as they are, IPv6 literals too. */
	url_is("http://[::1]:8080/a?b=c", 0, "http://[::1]:8080/a", 0);
	url_is("http://127.0.0.1:5000/form", 0, "http://127.0.0.1:5000/form", 0);
}

/* Other schemes: a path is a path; data: and javascript: keep only their scheme. */
static void
test_url_schemes(void **state)
{
	(void)state;
	url_is("about:blank", 0, "about:blank", 0);
	url_is("mailto:alice@example.org?subject=Salary", REDACT_URL_QUERY, "mailto:<EMAIL>?"
	       "subject=Salary", REDACT_RISK_LOW);
	url_is("file:///home/alice/Expenses.ods", 0, "file:///home/alice/Expenses.ods", 0);
	url_is("data:text/html,<h1>alice@example.org</h1>", 0, "data:", 0);
	url_is("JavaScript:alert(document.cookie)", 0, "JavaScript:", 0);
	url_is("chrome://settings/passwords", 0, "chrome://settings/passwords", 0);
}

/* What is not a URL is refused, and nothing of it is written. */
static void
test_url_malformed(void **state)
{
	static const char *const bad[] = {
		"", "not a url", "example.com/path", "alice@example.org", "1http://x.example/",
		"://x.example/", "https://exa mple.com/", "https://x.example/a\tb",
		"https://x.example/\x01", "https://x.example/\x7f", "https://[::1/",
		"https://[::1]x/", "https://host:80a/", "https://ho<st/", "https://a]b/",
		"https://alice%40example.org/inbox",
		"https://x.example/\xff\xfe", "https://x.example/\xc3", "https://x.example/\xed\xa0\x80",
	};
	char *big;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		url_refused(bad[i], strlen(bad[i]), -EINVAL);
	/* A NUL byte inside. */
	url_refused("https://x.example/a\0b", 20, -EINVAL);
	/* Longer than REDACT_URL_MAX. */
	big = malloc(REDACT_URL_MAX + 2);
	assert_non_null(big);
	memcpy(big, "https://x.example/", 18);
	memset(big + 18, 'a', REDACT_URL_MAX + 1 - 18);
	big[REDACT_URL_MAX + 1] = '\0';
	url_refused(big, REDACT_URL_MAX + 1, -E2BIG);
	/* At the limit it is accepted. */
	big[REDACT_URL_MAX] = '\0';
	url_is(big, 0, big, 0);
	free(big);
	/* UTF-8 in a path (an IRI) is kept. */
	url_is("https://wiki.example.com/Grüße/日本", 0, "https://wiki.example.com/Grüße/日本", 0);
}

static int
cleanup_tmpdir(void **state)
{
	testenv_tmpdir_remove(tmpdir);
	tmpdir = NULL;
	return group_teardown(state);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placeholders_exact),
		cmocka_unit_test(test_card),
		cmocka_unit_test(test_iban),
		cmocka_unit_test(test_ssn),
		cmocka_unit_test(test_email),
		cmocka_unit_test(test_phone),
		cmocka_unit_test(test_ip),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_private_key),
		cmocka_unit_test(test_spans),
		cmocka_unit_test(test_risk_mask),
		cmocka_unit_test(test_overlaps),
		cmocka_unit_test(test_binary_input),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_pieces_are_callers_job),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_threads_share),
		cmocka_unit_test(test_rules_file_extends),
		cmocka_unit_test(test_rules_file_errors),
		cmocka_unit_test(test_rules_file_nul_byte),
		cmocka_unit_test(test_rules_files_several),
		cmocka_unit_test(test_rules_fingerprint),
		cmocka_unit_test(test_builtin_rules_are_the_file),
		cmocka_unit_test(test_field_labels),
		cmocka_unit_test(test_field_labels_from_rules_file),
		cmocka_unit_test(test_url_query),
		cmocka_unit_test(test_url_fragment_userinfo),
		cmocka_unit_test(test_url_path),
		cmocka_unit_test(test_url_schemes),
		cmocka_unit_test(test_url_malformed),
	};

	return testenv_run(tests, group_setup, cleanup_tmpdir);
}
