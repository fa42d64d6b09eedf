/*
 * storage: the interface's dispatch and the embedded directory engine
 * (storage.h). The directory engine writes a bundle under a temporary name and
 * renames it into place, so a reader never sees half a bundle and a crash leaves
 * at most a temporary file.
 */
#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleet_bundle.h"
#include "paths.h"
#include "util.h"

static int bad_hash(const char *hash, char **cause)
{
	return util_fail(cause, -EINVAL, "not a bundle address: 64 lower-case hex digits expected");
}

int storage_put(struct storage *s, const char *hash, const char *path, char **cause)
{
	return fleet_bundle_is_hash(hash) ? s->ops->put(s, hash, path, cause) : bad_hash(hash, cause);
}

int storage_get(struct storage *s, const char *hash, const char *out_path, char **cause)
{
	return fleet_bundle_is_hash(hash) ? s->ops->get(s, hash, out_path, cause)
	                                  : bad_hash(hash, cause);
}

int storage_exists(struct storage *s, const char *hash, uint64_t *size, char **cause)
{
	return fleet_bundle_is_hash(hash) ? s->ops->exists(s, hash, size, cause)
	                                  : bad_hash(hash, cause);
}

int storage_del(struct storage *s, const char *hash, char **cause)
{
	return fleet_bundle_is_hash(hash) ? s->ops->del(s, hash, cause) : bad_hash(hash, cause);
}

int storage_presign(struct storage *s, const char *hash, uint64_t size, int ttl_s, char **url,
                    char **cause)
{
	*url = NULL;
	return fleet_bundle_is_hash(hash) ? s->ops->presign(s, hash, size, ttl_s, url, cause)
	                                  : bad_hash(hash, cause);
}

void storage_close(struct storage *s)
{
	if (s != NULL)
		s->ops->close(s);
}

/* ---- the embedded directory ---- */

static char *dir_path(struct storage *s, const char *hash)
{
	return util_xasprintf("%s/bundles/%.2s/%s", (const char *)s->priv, hash, hash);
}

static int dir_put(struct storage *s, const char *hash, const char *path, char **cause)
{
	char *dst = dir_path(s, hash), *sub = util_xasprintf("%s/bundles/%.2s",
	                                                     (const char *)s->priv, hash);
	int r = paths_ensure_dir(sub, cause);

	if (r == 0 && access(dst, F_OK) == 0) {
		/* Already stored: the same address is the same bytes. */
		unlink(path);
	} else if (r == 0 && rename(path, dst) != 0) {
		r = util_fail(cause, -errno, "cannot store bundle %s: %s", dst, strerror(errno));
	}
	free(sub);
	free(dst);
	return r;
}

static int dir_get(struct storage *s, const char *hash, const char *out_path, char **cause)
{
	char *src = dir_path(s, hash), buf[65536];
	int r = 0, out = -1;
	size_t k;
	FILE *in = fopen(src, "rb");

	if (in == NULL) {
		r = util_fail(cause, -errno, "cannot read bundle %s: %s", src, strerror(errno));
		goto done;
	}
	out = paths_create_file(out_path, O_WRONLY, cause);
	if (out < 0) {
		r = out;
		goto done;
	}
	while ((k = fread(buf, 1, sizeof buf, in)) > 0)
		if (write(out, buf, k) != (ssize_t)k) {
			r = util_fail(cause, -EIO, "cannot write %s: %s", out_path, strerror(errno));
			goto done;
		}
done:
	if (in != NULL)
		fclose(in);
	if (out >= 0)
		close(out);
	free(src);
	return r;
}

static int dir_exists(struct storage *s, const char *hash, uint64_t *size, char **cause)
{
	char *p = dir_path(s, hash);
	struct stat st;
	int r = stat(p, &st) == 0 ? 1 : (errno == ENOENT ? 0 : -errno);

	if (r < 0)
		util_fail(cause, r, "cannot look up bundle %s: %s", p, strerror(-r));
	if (r == 1 && size != NULL)
		*size = (uint64_t)st.st_size;
	free(p);
	return r;
}

static int dir_del(struct storage *s, const char *hash, char **cause)
{
	char *p = dir_path(s, hash);
	int r = unlink(p) == 0 || errno == ENOENT ? 0 : -errno;

	if (r < 0)
		util_fail(cause, r, "cannot delete bundle %s: %s", p, strerror(-r));
	free(p);
	return r;
}

static int dir_presign(struct storage *s, const char *hash, uint64_t size, int ttl_s, char **url,
                       char **cause)
{
	return -ENOTSUP;
}

static void dir_close(struct storage *s)
{
	free(s->priv);
	free(s);
}

static const struct storage_ops dir_ops = {
	dir_put, dir_get, dir_exists, dir_del, dir_presign, dir_close,
};

int storage_open_dir(const char *dir, struct storage **out, char **cause)
{
	struct storage *s;
	char *b = util_xasprintf("%s/bundles", dir);
	int r = paths_ensure_dir(b, cause);

	free(b);
	if (r != 0)
		return r;
	s = util_xcalloc(1, sizeof *s);
	s->ops = &dir_ops;
	s->name = "dir";
	s->priv = util_xstrdup(dir);
	*out = s;
	return 0;
}
