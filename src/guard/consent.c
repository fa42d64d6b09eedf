/*
 * consent: reads and hashes the notice and keeps the acknowledgements in the
 * store (see consent.h).
 */
#include "consent.h"

#include <errno.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int consent_read_notice(const struct policy *p, char **text, char hex[65], char **cause)
{
	const char *path = policy_notice_path(p);
	unsigned char hash[crypto_hash_sha256_BYTES];
	struct stat sb;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int rc = 0, err;

	if (text != NULL)
		*text = NULL;
	hex[0] = '\0';
	if (path == NULL)
		return util_fail(cause, -ENOENT, "the policy (%s) names no consent notice; "
		                 "the administrator must set [consent] notice = FILE",
		                 policy_sources(p)[0] ? policy_sources(p) : POLICY_SYSTEM_PATH);
	f = fopen(path, "re");
	if (f == NULL) {
		err = errno;
		return util_fail(cause, -err, "cannot read the consent notice %s: %s", path,
		                 strerror(err));
	}
	if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = util_fail(cause, -EINVAL, "the consent notice %s is not a regular file", path);
		goto fail;
	}
	if (sb.st_size > CONSENT_NOTICE_MAX) {
		rc = util_fail(cause, -E2BIG, "the consent notice %s is larger than %d bytes", path,
		               CONSENT_NOTICE_MAX);
		goto fail;
	}
	buf = util_xmalloc((size_t)sb.st_size + 1);
	len = fread(buf, 1, (size_t)sb.st_size, f);
	if (ferror(f)) {
		rc = util_fail(cause, -EIO, "cannot read the consent notice %s", path);
		goto fail;
	}
	buf[len] = '\0';
	crypto_hash_sha256(hash, (const unsigned char *)buf, len);
	sodium_bin2hex(hex, 65, hash, sizeof(hash));
	if (text != NULL) {
		*text = buf;
		buf = NULL;
	}
fail:
	free(buf);
	if (f != NULL)
		fclose(f);
	return rc;
}

void consent_user(char *out, size_t size)
{
	struct passwd *pw = getpwuid(getuid());
	const char *u = getenv("USER");

	if (pw != NULL && pw->pw_name != NULL)
		util_strlcpy_utf8(out, pw->pw_name, size);
	else if (u != NULL && u[0] != '\0')
		util_strlcpy_utf8(out, u, size);
	else
		snprintf(out, size, "%u", (unsigned)getuid());
}

int consent_check(struct store *st, const struct policy *p, char **cause)
{
	struct store_consent c;
	char hex[65], user[128];
	char *why = NULL;
	int rc;

	rc = consent_read_notice(p, NULL, hex, cause);
	if (rc != 0)
		return rc;
	consent_user(user, sizeof(user));
	rc = store_consent_latest(st, user, &c, &why);
	free(why);
	if (rc == -ENOENT)
		return util_fail(cause, -EPERM, "%s has not agreed to the recording notice; "
		                 "read it and agree with `mimic consent` first", user);
	if (rc != 0)
		return util_fail(cause, rc, "cannot read the consent of %s from the database", user);
	if (strcmp(c.action, "accept") != 0)
		return util_fail(cause, -EPERM, "%s withdrew consent; recording needs a new "
		                 "agreement with `mimic consent`", user);
	if (strcmp(c.notice_sha256, hex) != 0)
		return util_fail(cause, -EPERM, "the recording notice changed since %s agreed; "
		                 "read it and agree again with `mimic consent`", user);
	return 0;
}

int consent_record(struct store *st, const struct policy *p, const char *hex, int withdraw,
                   char **cause)
{
	struct store_consent c;
	const char *path = policy_notice_path(p);

	memset(&c, 0, sizeof(c));
	c.t_wall_ns = util_now_wall_ns();
	consent_user(c.user, sizeof(c.user));
	util_strlcpy_utf8(c.action, withdraw ? "withdraw" : "accept", sizeof(c.action));
	if (hex != NULL)
		util_strlcpy_utf8(c.notice_sha256, hex, sizeof(c.notice_sha256));
	if (path != NULL)
		util_strlcpy_utf8(c.notice_path, path, sizeof(c.notice_path));
	return store_consent_add(st, &c, cause);
}
