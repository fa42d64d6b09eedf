/*
 * storage_s3: the S3-compatible engine of storage.h (Ceph radosgw, MinIO, AWS S3),
 * chosen by `mimic-collector serve --s3`. A bundle is the object
 * bundles/XX/HASH of the bucket, the layout of the embedded directory, so that
 * moving from one engine to the other is a copy. The client (fleet/s3) holds one
 * connection, so calls from the collector's connection threads take turns on it;
 * the collector still assembles chunks in its own spool and only whole, checked
 * bundles are PUT.
 */
#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "paths.h"
#include "s3.h"
#include "util.h"

struct s3_engine {
	struct s3 *s3;
	pthread_mutex_t mu;
	uint64_t max_get;        /* the largest bundle a get takes */
};

static char *s3_key(const char *hash)
{
	return util_xasprintf("bundles/%.2s/%s", hash, hash);
}

static int s3e_put(struct storage *s, const char *hash, const char *path, char **cause)
{
	struct s3_engine *e = s->priv;
	char *key = s3_key(hash);
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0 || fstat(fd, &st) != 0) {
		r = util_fail(cause, -errno, "cannot read bundle %s: %s", path, strerror(errno));
		goto done;
	}
	pthread_mutex_lock(&e->mu);
	r = s3_put_fd(e->s3, key, fd, (uint64_t)st.st_size, cause);
	pthread_mutex_unlock(&e->mu);
	/* Stored: the spool's copy is no longer needed (the directory engine moves it). */
	if (r == 0)
		unlink(path);
done:
	if (fd >= 0)
		close(fd);
	free(key);
	return r;
}

static int s3e_get(struct storage *s, const char *hash, const char *out_path, char **cause)
{
	struct s3_engine *e = s->priv;
	char *key = s3_key(hash);
	int out = paths_create_file(out_path, O_WRONLY, cause), r;

	if (out < 0) {
		free(key);
		return out;
	}
	pthread_mutex_lock(&e->mu);
	r = s3_get_fd(e->s3, key, out, e->max_get, NULL, cause);
	pthread_mutex_unlock(&e->mu);
	close(out);
	if (r != 0)
		unlink(out_path);
	free(key);
	return r;
}

static int s3e_exists(struct storage *s, const char *hash, uint64_t *size, char **cause)
{
	struct s3_engine *e = s->priv;
	char *key = s3_key(hash);
	struct s3_stat st;
	int r;

	pthread_mutex_lock(&e->mu);
	r = s3_head(e->s3, key, &st, cause);
	pthread_mutex_unlock(&e->mu);
	free(key);
	if (r == -ENOENT) {
		free(*cause);
		*cause = NULL;
		return 0;
	}
	if (r != 0)
		return r;
	if (size != NULL)
		*size = st.size;
	return 1;
}

static int s3e_del(struct storage *s, const char *hash, char **cause)
{
	struct s3_engine *e = s->priv;
	char *key = s3_key(hash);
	int r;

	pthread_mutex_lock(&e->mu);
	r = s3_delete(e->s3, key, cause);
	pthread_mutex_unlock(&e->mu);
	free(key);
	return r;
}

static int s3e_presign(struct storage *s, const char *hash, uint64_t size, int ttl_s, char **url,
                       char **cause)
{
	struct s3_engine *e = s->priv;
	char *key = s3_key(hash);
	int r;

	(void)size;
	/* Needs no network and reads only the client's settings: no turn to take. */
	r = s3_presign(e->s3, "PUT", key, (int64_t)time(NULL), (unsigned)ttl_s, url, cause);
	free(key);
	return r;
}

static void s3e_close(struct storage *s)
{
	struct s3_engine *e = s->priv;

	s3_close(e->s3);
	pthread_mutex_destroy(&e->mu);
	free(e);
	free(s);
}

static const struct storage_ops s3_ops = {
	s3e_put, s3e_get, s3e_exists, s3e_del, s3e_presign, s3e_close,
};

int storage_open_s3(const struct s3_config *cfg, uint64_t max_bundle, struct storage **out,
                    char **cause)
{
	struct s3_engine *e;
	struct storage *s;
	struct s3 *c = NULL;
	int r = s3_open(cfg, &c, cause);

	if (r != 0)
		return r;
	e = util_xcalloc(1, sizeof *e);
	e->s3 = c;
	e->max_get = max_bundle;
	pthread_mutex_init(&e->mu, NULL);
	s = util_xcalloc(1, sizeof *s);
	s->ops = &s3_ops;
	s->name = "s3";
	s->priv = e;
	*out = s;
	return 0;
}
