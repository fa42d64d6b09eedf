/*
 * redact: finds personal data and secrets in text and replaces them with typed
 * placeholders, so that nothing sensitive reaches a dataset.
 *
 * Detection needs no context words (safeguard 8): every detector is a PCRE2
 * pattern (compiled with JIT) followed by a validator that checks what a pattern
 * cannot, such as the Luhn digit of a card number, the mod-97 check of an IBAN,
 * the octet range of an IPv4 address or the entropy of a token. The built-in rules
 * (data/redact.rules, compiled into the library at build time and parsed like any
 * rules file) are always active; rules files can only add rules (docs/REDACTION.md
 * describes the format and every built-in detector).
 *
 * A page's URL is redacted part by part (redact_url_apply, redact_url.c).
 *
 * The rules also hold a list of sensitive field labels ("date of birth"): a
 * field whose label matches one says what it holds (redact_label_match), for
 * data no detector can find, such as a person's name.
 *
 * Joining typed keys into text before scanning (safeguard 9) is redact_typed's
 * job (redact_typed.c): a number typed in two separate pieces is two texts to
 * redact_scan, so the joiner scans the pieces of a typing run as one.
 *
 * Text is treated as bytes (UTF-8 or not; NUL bytes allowed). Matching is
 * ASCII-based: full-width digits and other non-ASCII forms are not recognised.
 *
 * A struct redact is immutable once opened: several threads may scan with the same
 * one at the same time.
 */
#ifndef MIMIC_REDACT_H
#define MIMIC_REDACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a span contains. The placeholder of a type is "<" + redact_type_name() + ">". */
enum redact_type {
	REDACT_EMAIL = 0,
	REDACT_PHONE,
	REDACT_IP,          /* IPv4 and IPv6 */
	REDACT_MAC,
	REDACT_CARD,
	REDACT_IBAN,
	REDACT_SSN,         /* US social security number */
	REDACT_NATIONAL_ID, /* other national ids; no built-in rule, for rules files */
	REDACT_SECRET,      /* API keys, tokens, credentials, high-entropy strings */
	REDACT_PRIVATE_KEY, /* PEM/PGP private key blocks */
	REDACT_TYPE_COUNT
};

/*
 * Risk levels are bit flags so that redact_apply can report which levels it saw.
 * High risk (card, IBAN, SSN, national id, secret, private key) means the whole
 * frame or text is to be dropped; low risk (email, phone, IP, MAC) means it is
 * kept with the placeholders in place (safeguard 7).
 */
enum redact_risk {
	REDACT_RISK_LOW = 1u << 0,
	REDACT_RISK_HIGH = 1u << 1,
};

/* One finding: bytes [start, end) of the scanned text. */
struct redact_span {
	size_t start;
	size_t end;
	enum redact_type type;
	enum redact_risk risk;
};

/* The detector set: compiled rules. Opaque. */
struct redact;

/* Longest text redact_scan and redact_apply accept (64 MiB); longer gives -E2BIG. */
#define REDACT_MAX_TEXT ((size_t)64 << 20)

/*
 * Loads and compiles the rules: the built-in ones always, plus those of the file
 * at rules_path when it is not NULL (a rules file adds rules, it cannot remove or
 * weaken built-in ones). On success stores a new detector set in *out, which the
 * caller frees with redact_close.
 *
 * Returns 0, or -ENOENT/-EACCES/-EIO when the file cannot be read, -EFBIG when it
 * is larger than 1 MiB, -EINVAL for a syntax error or a pattern that does not
 * compile (cause says which line and why). *out is untouched on failure.
 */
int redact_open(const char *rules_path, struct redact **out /* OUT */, char **cause);

/*
 * redact_open with the rules of n files (paths[0..n), read in this order; n may be
 * 0) added to the built-in ones: an organisation's rules from its policy and an
 * export's own, for example. A rule name may be defined only once across all of
 * them. Same errors as redact_open, for the first file that fails.
 */
int redact_open_files(const char *const *paths, size_t n, struct redact **out /* OUT */,
    char **cause);

/* Frees a detector set. NULL is allowed. */
void redact_close(struct redact *r);

/* Number of compiled rules (built-in plus added). */
size_t redact_rule_count(const struct redact *r);

/* Number of built-in rules; they are rules 0 .. redact_builtin_count() - 1. */
size_t redact_builtin_count(const struct redact *r);

/* The name of rule i (in load order), or NULL when i >= redact_rule_count(). */
const char *redact_rule_name(const struct redact *r, size_t i);

/* Length of a fingerprint in hex digits (a BLAKE2b-256 hash). */
#define REDACT_FINGERPRINT_LEN 64

/*
 * The fingerprint of the rule set: REDACT_FINGERPRINT_LEN lower-case hex digits
 * (NUL-terminated, owned by r), a hash of the fields of every rule (name, type,
 * risk, check, pattern), built-in and added, in load order. Two sets with the same
 * rules in the same order have the same fingerprint, whatever the files' comments
 * and spacing; any other change gives another one. A frame's scan records the
 * fingerprint of the rules it was made with (scrub.h), so that a scan made with
 * other rules is made again.
 */
const char *redact_fingerprint(const struct redact *r);

/*
 * Scans len bytes of text (NUL bytes allowed; text may be NULL when len is 0).
 * On success *spans is a malloc'ed array of *n findings, sorted by start and not
 * overlapping (where detectors overlap, the higher risk wins, then the longer
 * span, then the earlier rule); the caller frees it. With no findings *spans is
 * NULL and *n is 0.
 *
 * Returns 0, -E2BIG when len > REDACT_MAX_TEXT, or -EIO when the matcher failed
 * (for example a match or JIT stack limit in a rule from a file). On any error
 * *spans is NULL and *n is 0, and the caller must treat the text as unscannable:
 * drop it, never keep it unscrubbed.
 */
int redact_scan(const struct redact *r, const char *text, size_t len,
    struct redact_span **spans /* OUT */, size_t *n /* OUT */);

/*
 * Scans like redact_scan and writes a copy of the text in which every finding is
 * replaced by its placeholder, e.g. "mail <EMAIL> or call <PHONE>". *out is
 * malloc'ed and NUL-terminated, *outlen does not count the NUL; the caller frees
 * *out. *risk_mask (when risk_mask is not NULL) receives the OR of the risk flags
 * of all findings, 0 when there were none.
 *
 * Returns 0 or the errors of redact_scan; on error *out is NULL, *outlen is 0 and
 * *risk_mask is REDACT_RISK_HIGH, so that a caller that only looks at the mask
 * still drops the text.
 */
int redact_apply(const struct redact *r, const char *text, size_t len,
    char **out /* OUT */, size_t *outlen /* OUT */, unsigned *risk_mask /* OUT */);

/* Flags of redact_url_apply. */
enum {
	REDACT_URL_QUERY = 1u << 0, /* keep the query string, each name and value redacted */
};

/* Longest URL redact_url_apply accepts, in bytes; longer gives -E2BIG. */
#define REDACT_URL_MAX 8192

/*
 * Redacts a page's URL for an export (redact_url.c, docs/REDACTION.md "URLs"):
 * the scheme and the host with its port are kept as they are; the user name and
 * password (user:pass@) and the fragment (#...) are left out; each path segment
 * between slashes goes through the detector, also in its percent-decoded form
 * (where that has findings, it is written decoded with its placeholders, and
 * escaped again: "/users/<EMAIL>/"); the query string (?...) is left out unless
 * flags has REDACT_URL_QUERY, then each parameter's name and value go through
 * the detector in the same way. A data: or javascript: URL keeps its scheme only
 * (what follows is page content, not a place).
 *
 * *out (malloc'ed, NUL-terminated, *outlen bytes without the NUL) and *risk_mask
 * (when not NULL: the OR of the risks found) as redact_apply. Returns 0;
 * -EINVAL when url[0..len) is not a URL (no scheme, blanks or control
 * characters, malformed UTF-8, a malformed host or port; an escape in the host),
 * -E2BIG when len >
 * REDACT_URL_MAX: then *out is NULL and *risk_mask 0, and the caller leaves the
 * URL out; or the errors of redact_scan, with *risk_mask REDACT_RISK_HIGH.
 */
int redact_url_apply(const struct redact *r, const char *url, size_t len, unsigned flags,
    char **out /* OUT */, size_t *outlen /* OUT */, unsigned *risk_mask /* OUT */);

/*
 * Sensitive field labels (docs/REDACTION.md, "Sensitive field labels"). The rules
 * (built-in and files) also hold a list of label phrases, one `label` line each
 * ("date of birth", "salary"): a field whose accessible label or name contains one
 * of them as whole words says what it holds, so the text typed into it is
 * replaced by <FIELD:label> and the field is filled in the frames, whatever the
 * detectors find in it (person names have no detector). Words are runs of ASCII
 * letters and digits and of non-ASCII bytes; they are compared ASCII
 * case-insensitively, so "Date of Birth *" and "date-of-birth:" match "date of
 * birth", while "Username" does not match "name". The list only grows: a rules
 * file adds phrases and cannot remove one.
 */

/* Longest phrase of a `label` line, in bytes as written. */
#define REDACT_LABEL_MAX 63

/* Most bytes of a field's label shown in its placeholder (<FIELD:...>). */
#define REDACT_FIELD_LABEL_MAX 48

/* Longest placeholder redact_field_placeholder writes, with its NUL. */
#define REDACT_FIELD_MAX (REDACT_FIELD_LABEL_MAX + sizeof("<FIELD:>"))

/* Number of label phrases (built-in plus added). */
size_t redact_label_count(const struct redact *r);

/* Phrase i in load order, its words in lower case joined by one space; NULL past the end. */
const char *redact_label(const struct redact *r, size_t i);

/*
 * Whether the field label label[0..len) (an element's label or name, any bytes)
 * contains one of r's label phrases as consecutive whole words. Returns the
 * index of the first phrase that matches (redact_label), or -1.
 */
int redact_label_match(const struct redact *r, const char *label, size_t len);

/*
 * Writes the placeholder of a sensitive field into out (n bytes, at least
 * REDACT_FIELD_MAX): "<FIELD:" + the label as the application gives it, with
 * blanks and a trailing ':' or '*' trimmed, control characters and '<' '>'
 * replaced by spaces, cut at REDACT_FIELD_LABEL_MAX bytes on a UTF-8 character
 * boundary, + ">". A label with nothing left gives "<FIELD>". Returns the length.
 */
size_t redact_field_placeholder(const char *label, size_t len, char *out, size_t n);

/* "EMAIL", "PHONE", "IP", "MAC", "CARD", "IBAN", "SSN", "NATIONAL_ID", "SECRET",
 * "PRIVATE_KEY"; "?" for a value out of range. */
const char *redact_type_name(enum redact_type type);

/* True when s[0..n), spaces and dashes ignored, is an IBAN: the country's length and mod 97. */
bool redact_iban_valid(const char *s, size_t n);

/*
 * The length of an IBAN of the country whose two capital letters cc[0..2) are
 * (the SWIFT registry), or 0 when no IBAN has that country.
 */
size_t redact_iban_length(const char *cc);

struct reduce_action;

/*
 * Joins typed text across the pieces of a typing run. Push every action the
 * reducer produces, in order; take them back (same order) with their texts
 * redacted. Consecutive `type` actions of the same window, with only `wait` and
 * `move` actions between them, are held until the run ends (another kind of
 * action, another window, or redact_typed_finish), then scanned as one text.
 */
struct redact_typed;

/*
 * Makes a joiner using r (which must outlive it). With r NULL (counting only)
 * every typed text comes out empty. Never fails.
 */
struct redact_typed *redact_typed_new(const struct redact *r);

/* Frees the joiner and the actions it still holds. NULL is allowed. */
void redact_typed_free(struct redact_typed *t);

/* Copies a in. Returns 0, or -ENOMEM never (allocation cannot fail in mimic). */
int redact_typed_push(struct redact_typed *t, const struct reduce_action *a);

/* Releases whatever is held back (at the end of a session). */
void redact_typed_finish(struct redact_typed *t);

/*
 * Returns the next finished action with its text redacted ("<CARD>" in every
 * piece a finding touches), or NULL when none is ready. *risk (may be NULL)
 * receives the risks of the findings in that action's text (0: none). When
 * scanning failed, the text is emptied and *risk is REDACT_RISK_HIGH. The
 * pointer is valid until the next call on t.
 */
const struct reduce_action *redact_typed_take(struct redact_typed *t, unsigned *risk);

/*
 * The typing run of the action redact_typed_take returned last: a number that
 * is the same for every piece of one run, 0 for an action of another kind.
 */
uint64_t redact_typed_run(const struct redact_typed *t);

#endif
