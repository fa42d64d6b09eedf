/*
 * consent: the person's acknowledgement of the organisation's notice
 * (docs/POLICY.md). The notice is a text file the policy names; it is
 * versioned by the SHA-256 of its bytes, so changing a word asks everyone
 * again. Acknowledgements and withdrawals are rows of the store's consents
 * table, never changed afterwards.
 */
#ifndef MIMIC_CONSENT_H
#define MIMIC_CONSENT_H

#include <stddef.h>

#include "policy.h"
#include "store.h"

/* Largest notice read, in bytes. */
#define CONSENT_NOTICE_MAX (256 * 1024)

/*
 * Reads the notice the policy names: *text (malloc'ed, NUL-terminated; NULL
 * allowed to skip) and its SHA-256 as 64 lower-case hex digits in hex. Errors,
 * with a one-line *cause: -ENOENT the policy names no notice or the file is
 * missing, -EACCES, -E2BIG larger than CONSENT_NOTICE_MAX.
 */
int consent_read_notice(const struct policy *p, char **text /* OUT */,
                        char hex[65] /* OUT */, char **cause);

/* The login name of the real user (getpwuid, else $USER, else the uid in decimal). */
void consent_user(char *out /* OUT */, size_t size);

/*
 * Checks that the user acknowledged the current notice: 0 when the newest row
 * is an acceptance of a notice with the same hash. Otherwise -EPERM with a
 * one-line *cause that says to run `mimic consent` (no notice configured gives
 * -ENOENT naming the policy key).
 */
int consent_check(struct store *st, const struct policy *p, char **cause);

/* Appends an acceptance of the notice with hash hex, or a withdrawal (hex NULL). */
int consent_record(struct store *st, const struct policy *p, const char *hex, int withdraw,
                   char **cause);

#endif
