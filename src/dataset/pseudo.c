/*
 * pseudo: keyed hashes of host and user names for exports (see pseudo.h).
 */
#include "pseudo.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "util.h"

struct pseudo {
	unsigned char key[PSEUDO_KEY_LEN];
};

struct pseudo *pseudo_from_key(const unsigned char key[PSEUDO_KEY_LEN])
{
	struct pseudo *p = util_xcalloc(1, sizeof(*p));

	memcpy(p->key, key, PSEUDO_KEY_LEN);
	return p;
}

void pseudo_free(struct pseudo *p)
{
	if (p == NULL)
		return;
	sodium_memzero(p->key, sizeof(p->key));
	free(p);
}

/*
 * Writes a new random key to path through a 0600 temporary file linked into
 * place; a key another export made meanwhile is kept (0) and then read.
 */
static int create_key(const char *path, char **cause)
{
	unsigned char key[PSEUDO_KEY_LEN];
	char *why = NULL;
	int rc;

	randombytes_buf(key, sizeof(key));
	rc = paths_write_file(path, key, sizeof(key), 0, &why);
	if (rc == -EEXIST)
		rc = 0;
	else if (rc != 0)
		rc = util_fail(cause, rc, "cannot create the pseudonym key: %s", why);
	free(why);
	sodium_memzero(key, sizeof(key));
	return rc;
}

int pseudo_open(const char *path, unsigned flags, struct pseudo **out, char **cause)
{
	unsigned char key[PSEUDO_KEY_LEN + 1];
	struct stat sb;
	ssize_t n;
	int fd = -1, rc;

	*out = NULL;
	if (sodium_init() < 0)
		return util_fail(cause, -EIO, "libsodium could not start");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && (flags & PSEUDO_CREATE)) {
		rc = create_key(path, cause);
		if (rc != 0)
			return rc;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0) {
		rc = -errno;
		if (rc == -ENOENT)
			return util_fail(cause, rc, "the pseudonym key %s does not exist", path);
		if (rc == -EACCES)
			return util_fail(cause, rc, "cannot read the pseudonym key %s: %s (it "
			                 "must belong to the user who exports, mode 0600 or 0400, "
			                 "or the export must run as root)", path, strerror(-rc));
		return util_fail(cause, rc, "cannot read the pseudonym key %s: %s", path,
		                 strerror(-rc));
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = util_fail(cause, -EIO, "the pseudonym key %s is not a regular file", path);
		goto fail;
	}
	if ((sb.st_mode & 077) != 0) {
		rc = util_fail(cause, -EPERM, "the pseudonym key %s may be read by others; "
		               "run `chmod 600 %s`", path, path);
		goto fail;
	}
	/*
	 * Whoever owns the file can read it, or swap in a key of their choosing. The
	 * data directory's own key is the person's (root may export it for them).
	 */
	if ((flags & PSEUDO_OWNED) && sb.st_uid != 0 && sb.st_uid != geteuid()) {
		rc = util_fail(cause, -EPERM, "the pseudonym key %s belongs to another user "
		               "(uid %u); it must belong to root or to you: run `chown %u %s` "
		               "as root", path, (unsigned)sb.st_uid, (unsigned)geteuid(), path);
		goto fail;
	}
	n = read(fd, key, sizeof(key));
	if (n != PSEUDO_KEY_LEN) {
		rc = util_fail(cause, -EINVAL, "the pseudonym key %s is not %d bytes; remove it to "
		               "make a new one (pseudonyms then change)", path, PSEUDO_KEY_LEN);
		goto fail;
	}
	close(fd);
	*out = pseudo_from_key(key);
	sodium_memzero(key, sizeof(key));
	return 0;
fail:
	sodium_memzero(key, sizeof(key));
	close(fd);
	return rc;
}

void pseudo_id(const struct pseudo *p, const char *domain, const char *value,
               char out[PSEUDO_HEX_LEN + 1])
{
	crypto_generichash_state st;
	unsigned char h[PSEUDO_HEX_LEN / 2];
	static const unsigned char zero = 0;

	if (value == NULL)
		value = "";
	/* domain NUL value: no two (domain, value) pairs hash the same input. */
	crypto_generichash_init(&st, p->key, sizeof(p->key), sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)domain, strlen(domain));
	crypto_generichash_update(&st, &zero, 1);
	crypto_generichash_update(&st, (const unsigned char *)value, strlen(value));
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(out, PSEUDO_HEX_LEN + 1, h, sizeof(h));
}
