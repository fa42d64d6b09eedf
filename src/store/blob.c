/*
 * blob: content-addressed files named by the SHA-256 of their bytes, written
 * with a temporary file and a rename. See blob.h for the layout and guarantees.
 */
#include "blob.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "vault.h"

/* The first bytes of a sealed blob; an encoded image never starts with them. */
static const char sealed_magic[BLOB_SEALED_MAGIC_LEN] = { 'm', 'i', 'm', 'i', 'c', 'e', 'n', '1' };

struct blob {
	char *dir;
	char ext[17];   /* ".webp", or "" */
	const struct vault *vault; /* NULL: plaintext blobs named by SHA-256 */
};

void blob_set_vault(struct blob *b, const struct vault *v)
{
	b->vault = v;
}

size_t blob_stored_len(const struct blob *b, size_t len)
{
	return b->vault != NULL ? BLOB_SEALED_MAGIC_LEN + vault_sealed_len(len) : len;
}

/* Maps an errno of a failed write path to the codes blob.h promises. */
static int map_errno(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return -ENOSPC;
	case EACCES:
	case EPERM:
	case EROFS:
	case ENOENT:
		return -err;
	default:
		return -EIO;
	}
}

int blob_open(const char *dir, const char *ext, unsigned flags, struct blob **out, char **cause)
{
	struct blob *b = NULL;
	struct stat st;
	size_t n = 0;
	int err;

	*out = NULL;
	if (dir == NULL || dir[0] == '\0')
		return util_fail(cause, -EINVAL, "no blob directory given");
	if (ext != NULL) {
		n = strlen(ext);
		if (n == 0 || n > 15)
			return util_fail(cause, -EINVAL, "invalid blob extension \"%s\"", ext);
		for (size_t i = 0; i < n; i++)
			if (!((ext[i] >= 'a' && ext[i] <= 'z') || (ext[i] >= '0' && ext[i] <= '9')))
				return util_fail(cause, -EINVAL, "invalid blob extension \"%s\"",
						 ext);
	}
	if (sodium_init() < 0)
		return util_fail(cause, -EIO, "cannot start libsodium");
	if (stat(dir, &st) < 0) {
		err = errno;
		if (err != ENOENT || !(flags & BLOB_CREATE))
			return util_fail(cause, err == ENOENT ? -ENOENT : map_errno(err),
					 "cannot open frame store %s: %s", dir, strerror(err));
		if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
			err = errno;
			return util_fail(cause, map_errno(err), "cannot create frame store %s: %s",
					 dir, strerror(err));
		}
		if (stat(dir, &st) < 0) {
			err = errno;
			return util_fail(cause, map_errno(err), "cannot open frame store %s: %s",
					 dir, strerror(err));
		}
	}
	if (!S_ISDIR(st.st_mode))
		return util_fail(cause, -ENOTDIR, "cannot open frame store %s: %s", dir,
				 strerror(ENOTDIR));
	if ((flags & BLOB_WRITE) && access(dir, W_OK | X_OK) < 0) {
		err = errno;
		return util_fail(cause, map_errno(err), "cannot store frames in %s: %s", dir,
				 strerror(err));
	}
	b = util_xcalloc(1, sizeof(*b));
	b->dir = util_xstrdup(dir);
	if (ext != NULL)
		snprintf(b->ext, sizeof(b->ext), ".%s", ext);
	*out = b;
	return 0;
}

void blob_close(struct blob *b)
{
	if (b == NULL)
		return;
	free(b->dir);
	free(b);
}

const char *blob_dir(const struct blob *b)
{
	return b->dir;
}

bool blob_hex_valid(const char *hex)
{
	if (hex == NULL)
		return false;
	for (size_t i = 0; i < BLOB_HEX_LEN; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return false;
	return hex[BLOB_HEX_LEN] == '\0';
}

static void hash_hex(const void *data, size_t len, char hex[BLOB_HEX_LEN + 1])
{
	unsigned char h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, data, len);
	sodium_bin2hex(hex, BLOB_HEX_LEN + 1, h, sizeof(h));
}

/* The blob's subdirectory "DIR/ab" (malloc'ed). */
static char *sub_path(const struct blob *b, const char *hex)
{
	return util_xasprintf("%s/%.2s", b->dir, hex);
}

static char *file_path(const struct blob *b, const char *hex)
{
	return util_xasprintf("%s/%.2s/%s%s", b->dir, hex, hex + 2, b->ext);
}

int blob_path(const struct blob *b, const char *hex, char **out)
{
	*out = NULL;
	if (!blob_hex_valid(hex))
		return -EINVAL;
	*out = file_path(b, hex);
	return 0;
}

/* Writes all of data to fd, retrying short writes. Returns 0 or sets errno. */
static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int blob_put(struct blob *b, const void *data, size_t len, char hex_out[BLOB_HEX_LEN + 1],
	     char **cause)
{
	char *sub = NULL, *path = NULL, *tmp = NULL;
	uint8_t *sealed = NULL;
	struct stat st;
	int fd = -1, rc = 0, err;

	if (data == NULL && len > 0)
		return util_fail(cause, -EINVAL, "cannot store a frame without data");
	if (b->vault != NULL) {
		/* Sealed: the name is a keyed hash, the file the magic and the sealed bytes. */
		vault_name(b->vault, data != NULL ? data : "", len, hex_out);
		sealed = util_xmalloc(BLOB_SEALED_MAGIC_LEN + vault_sealed_len(len));
		memcpy(sealed, sealed_magic, BLOB_SEALED_MAGIC_LEN);
		vault_seal(b->vault, hex_out, BLOB_HEX_LEN, data != NULL ? data : "", len,
		           sealed + BLOB_SEALED_MAGIC_LEN);
		data = sealed;
		len = BLOB_SEALED_MAGIC_LEN + vault_sealed_len(len);
	} else {
		hash_hex(data != NULL ? data : "", len, hex_out);
	}
	path = file_path(b, hex_out);
	/*
	 * Same name and size: the same bytes are already there. Its time is renewed, so
	 * that a retention sweep running meanwhile sees it as new (forget.h).
	 */
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == len) {
		utimensat(AT_FDCWD, path, NULL, 0);
		goto fail;
	}

	sub = sub_path(b, hex_out);
	if (mkdir(sub, 0700) < 0 && errno != EEXIST) {
		err = errno;
		rc = util_fail(cause, map_errno(err), "cannot store frame in %s: %s", b->dir,
			       strerror(err));
		goto fail;
	}
	tmp = util_xasprintf("%s/.tmp-XXXXXX", sub);
	/* mkstemp creates the file with mode 0600. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		rc = util_fail(cause, map_errno(err), "cannot store frame in %s: %s", b->dir,
			       strerror(err));
		goto fail;
	}
	if (write_all(fd, data, len) < 0) {
		err = errno;
		rc = util_fail(cause, map_errno(err), "cannot store frame in %s: %s", b->dir,
			       strerror(err));
		goto fail;
	}
	/* close can report a deferred write error (NFS, quota): it must be checked. */
	err = close(fd) < 0 ? errno : 0;
	fd = -1;
	if (err != 0) {
		rc = util_fail(cause, map_errno(err), "cannot store frame in %s: %s", b->dir,
			       strerror(err));
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		err = errno;
		rc = util_fail(cause, map_errno(err), "cannot store frame in %s: %s", b->dir,
			       strerror(err));
		goto fail;
	}
fail:
	if (fd >= 0)
		close(fd);
	/* A temporary file is left only by a failure after it was made. */
	if (rc != 0 && tmp != NULL)
		unlink(tmp);
	free(sealed);
	free(tmp);
	free(sub);
	free(path);
	return rc;
}

int blob_get(struct blob *b, const char *hex, size_t max, void **data, size_t *len, char **cause)
{
	char *path = NULL;
	uint8_t *buf = NULL;
	char check[BLOB_HEX_LEN + 1];
	struct stat st;
	size_t got = 0, size;
	int fd = -1, rc, err;

	*data = NULL;
	*len = 0;
	if (!blob_hex_valid(hex))
		return util_fail(cause, -EINVAL, "invalid frame name \"%.80s\"", hex ? hex : "");
	path = file_path(b, hex);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		if (err == ENOENT)
			rc = util_fail(cause, -ENOENT, "frame %.12s is not in %s", hex, b->dir);
		else
			rc = util_fail(cause, map_errno(err), "cannot read frame %s: %s", path,
				       strerror(err));
		goto fail;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = util_fail(cause, -EIO, "cannot read frame %s: not a regular file", path);
		goto fail;
	}
	if ((uint64_t)st.st_size > max) {
		rc = util_fail(cause, -E2BIG, "frame %s is %lld bytes, more than the %zu allowed",
			       path, (long long)st.st_size, max);
		goto fail;
	}
	size = (size_t)st.st_size;
	buf = util_xmalloc(size ? size : 1);
	while (got < size) {
		ssize_t r = read(fd, buf + got, size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = errno;
			rc = util_fail(cause, -EIO, "cannot read frame %s: %s", path,
				       strerror(err));
			goto fail;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	if (got != size) {
		rc = util_fail(cause, -EIO, "frame %s is corrupt: it changed while being read",
			       path);
		goto fail;
	}
	if (got >= BLOB_SEALED_MAGIC_LEN && memcmp(buf, sealed_magic, BLOB_SEALED_MAGIC_LEN) == 0) {
		uint8_t *plain;
		size_t n = 0;

		if (b->vault == NULL) {
			rc = util_fail(cause, -ENOKEY, "frame %s is encrypted and no key was loaded",
				       path);
			goto fail;
		}
		plain = util_xmalloc(got > VAULT_OVERHEAD ? got - VAULT_OVERHEAD : 1);
		if (vault_unseal(b->vault, hex, BLOB_HEX_LEN, buf + BLOB_SEALED_MAGIC_LEN,
				 got - BLOB_SEALED_MAGIC_LEN, plain, &n) != 0) {
			free(plain);
			rc = util_fail(cause, -EBADMSG, "frame %s does not decrypt with the key in "
				       "%s (damaged, or another key)", path,
				       vault_where(b->vault));
			goto fail;
		}
		vault_name(b->vault, plain, n, check);
		if (strcmp(check, hex) != 0) {
			free(plain);
			rc = util_fail(cause, -EIO, "frame %s is corrupt: its content does not "
				       "match its name", path);
			goto fail;
		}
		free(buf);
		buf = plain;
		got = n;
	} else {
		hash_hex(buf, got, check);
		if (strcmp(check, hex) != 0) {
			rc = util_fail(cause, -EIO,
				       "frame %s is corrupt: its content does not match its name",
				       path);
			goto fail;
		}
	}
	close(fd);
	free(path);
	*data = buf;
	*len = got;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
	return rc;
}

int blob_remove(struct blob *b, const char *hex, char **cause)
{
	char *path;
	int rc = 0;

	if (!blob_hex_valid(hex))
		return util_fail(cause, -EINVAL, "invalid frame name \"%.80s\"", hex ? hex : "");
	path = file_path(b, hex);
	if (unlink(path) < 0) {
		int err = errno;

		if (err == ENOENT)
			rc = util_fail(cause, -ENOENT, "frame %.12s is not in %s", hex, b->dir);
		else
			rc = util_fail(cause, map_errno(err), "cannot delete frame %s: %s", path,
				       strerror(err));
	}
	free(path);
	return rc;
}
