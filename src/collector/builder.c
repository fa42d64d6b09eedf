/*
 * builder: the dataset builders (builder.h). builder_run: a bundle is first
 * copied out of the storage into the output directory under a temporary name,
 * opened there, and the copy removed; a marker file "<prefix>.built" records that
 * it is done so that a run cut off half-way is finished by the next.
 * builder_consume: the same for each announcement of the collector's stream, in a
 * temporary directory, the files then PUT to the output bucket; the announcement
 * is acknowledged only after the last PUT, so a builder that dies is replaced by
 * the stream's redelivery (the same names are written again).
 */
#include "builder.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog.h"
#include "collector.h"
#include "log.h"
#include "paths.h"
#include "s3.h"
#include "storage.h"
#include "stream.h"
#include "util.h"

struct run {
	struct storage *store;
	const unsigned char *pk, *sk;
	const char *outdir;
	struct builder_counts *counts;
};

static int one(const struct catalog_bundle *b, void *arg)
{
	struct run *run = arg;
	char prefix[24], *done, *tmp, *cause = NULL, *p;
	int files = 0, r;

	snprintf(prefix, sizeof prefix, "%.16s-", b->hash);
	done = util_xasprintf("%s/.%.16s.built", run->outdir, b->hash);
	if (access(done, F_OK) == 0) {
		run->counts->skipped++;
		free(done);
		return 0;
	}
	tmp = util_xasprintf("%s/.%s.bundle", run->outdir, b->hash);
	unlink(tmp);
	r = storage_get(run->store, b->hash, tmp, &cause);
	if (r == 0)
		r = fleet_bundle_open(tmp, run->pk, run->sk, run->outdir, prefix, &files, &cause);
	unlink(tmp);
	free(tmp);
	if (r == -EEXIST) {
		/* A run cut off after writing some files of this bundle. */
		log_warn("build-dataset: bundle %.16s was written in part before; remove its files "
		         "(%s*) to write it again", b->hash, prefix);
	}
	if (r != 0) {
		fprintf(stderr, "mimic-collector: bundle %s: %s\n", b->hash, cause ? cause : "failed");
		free(cause);
		run->counts->failed++;
		free(done);
		return 0;
	}
	p = util_xasprintf("{\"bundle\":\"%s\",\"files\":%d}\n", b->hash, files);
	paths_write_file(done, p, strlen(p), 0, NULL);
	free(p);
	free(done);
	run->counts->bundles++;
	run->counts->files += files;
	return 0;
}

int builder_run(const char *data_dir, const struct s3_config *s3,
                const unsigned char pk[FLEET_BOX_PK_BYTES],
                const unsigned char sk[FLEET_BOX_SK_BYTES], const char *outdir,
                struct builder_counts *counts, char **cause)
{
	struct catalog *cat = NULL;
	struct run run = { NULL, pk, sk, outdir, counts };
	char *db = util_xasprintf("%s/catalog.db", data_dir);
	int r;

	memset(counts, 0, sizeof *counts);
	if (access(db, F_OK) != 0) {
		r = util_fail(cause, -ENOENT, "%s holds no collector catalog (catalog.db): give the "
		              "--data directory of `mimic-collector serve`", data_dir);
		goto done;
	}
	if ((r = paths_ensure_dir(outdir, cause)) != 0 || (r = catalog_open(db, &cat, cause)) != 0 ||
	    (r = s3 != NULL ? storage_open_s3(s3, UINT64_MAX, &run.store, cause) :
	                      storage_open_dir(data_dir, &run.store, cause)) != 0)
		goto done;
	r = catalog_foreach(cat, one, &run);
done:
	storage_close(run.store);
	catalog_close(cat);
	free(db);
	return r;
}

/* How long a builder may hold an announcement before the stream gives it to another. */
#define CONSUME_ACK_WAIT_MS (10 * 60 * 1000)
#define CONSUME_MAX_DELIVER 5
#define CONSUME_BATCH 8

/* PUTs each file of dir to out under prefix, removing it once stored. */
static int put_files(struct s3 *out, const char *prefix, const char *dir, int *files,
                     char **cause)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int r = 0;

	if (d == NULL)
		return util_fail(cause, -errno, "cannot read %s: %s", dir, strerror(errno));
	while (r == 0 && (de = readdir(d)) != NULL) {
		char *path, *key;
		struct stat st;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		path = util_xasprintf("%s/%s", dir, de->d_name);
		key = util_xasprintf("%s%s", prefix, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) != 0)
			r = util_fail(cause, -errno, "cannot read %s: %s", path, strerror(errno));
		else
			r = s3_put_fd(out, key, fd, (uint64_t)st.st_size, cause);
		if (fd >= 0)
			close(fd);
		if (r == 0) {
			unlink(path);
			(*files)++;
		}
		free(key);
		free(path);
	}
	closedir(d);
	return r;
}

/*
 * One announcement: 0 done (files PUT), 1 the bundle is gone (deleted), or
 * -errno with *cause.
 */
static int consume_one(struct storage *in, struct s3 *out, const char *out_prefix,
                       const unsigned char *pk, const unsigned char *sk, const char *hash,
                       int *files, char **cause)
{
	const char *tmpdir = getenv("TMPDIR");
	char *dir = util_xasprintf("%s/mimic-build-XXXXXX", tmpdir != NULL && *tmpdir ? tmpdir :
	                           "/tmp");
	char *bundle = NULL, *opened = NULL, prefix[24];
	int r;

	if (mkdtemp(dir) == NULL) {
		r = util_fail(cause, -errno, "cannot make a temporary directory in %s: %s",
		              tmpdir != NULL && *tmpdir ? tmpdir : "/tmp", strerror(errno));
		free(dir);
		return r;
	}
	bundle = util_xasprintf("%s/bundle", dir);
	opened = util_xasprintf("%s/files", dir);
	snprintf(prefix, sizeof prefix, "%.16s-", hash);
	if ((r = storage_exists(in, hash, NULL, cause)) == 0) {
		r = 1;
		goto done;
	}
	if (r < 0 || (r = storage_get(in, hash, bundle, cause)) != 0 ||
	    (r = paths_ensure_dir(opened, cause)) != 0 ||
	    (r = fleet_bundle_open(bundle, pk, sk, opened, prefix, files, cause)) != 0)
		goto done;
	*files = 0;
	r = put_files(out, out_prefix, opened, files, cause);
done:
	paths_remove_tree(dir);
	free(opened);
	free(bundle);
	free(dir);
	return r;
}

int builder_consume(const struct builder_stream_opts *o, const unsigned char pk[FLEET_BOX_PK_BYTES],
                    const unsigned char sk[FLEET_BOX_SK_BYTES], struct builder_counts *counts,
                    char **cause)
{
	struct s3_config oc = *o->s3;
	struct storage *in = NULL;
	struct s3 *out = NULL;
	struct stream *st = NULL;
	struct stream_consumer *con = NULL;
	struct stream_msg *msgs[CONSUME_BATCH];
	int64_t idle = o->idle_ms > 0 ? o->idle_ms : 5000;
	int r;

	memset(counts, 0, sizeof *counts);
	oc.bucket = o->out_bucket;
	if ((r = storage_open_s3(o->s3, UINT64_MAX, &in, cause)) != 0 ||
	    (r = s3_open(&oc, &out, cause)) != 0 ||
	    (r = stream_open(o->nats, 0, &st, cause)) != 0 ||
	    (r = stream_consumer_open(st, o->stream != NULL ? o->stream : COLLECTOR_STREAM,
	                              o->durable != NULL ? o->durable : "builders", NULL,
	                              CONSUME_ACK_WAIT_MS, CONSUME_MAX_DELIVER, &con, cause)) != 0)
		goto done;
	for (;;) {
		int n = 0;

		if ((r = stream_fetch(con, CONSUME_BATCH, idle, msgs, &n, cause)) != 0)
			goto done;
		if (n == 0)
			break;
		for (int i = 0; i < n; i++) {
			size_t len;
			const char *data = stream_msg_data(msgs[i], &len);
			json_t *note = json_loadb(data, len, 0, NULL);
			const char *hash = json_string_value(json_object_get(note, "bundle"));
			char *why = NULL;
			int files = 0, one;

			if (hash == NULL || !fleet_bundle_is_hash(hash)) {
				/* Not an announcement of ours: dropped, never retried. */
				fprintf(stderr, "mimic-collector: stream message %llu is not a bundle "
				        "announcement; acknowledged and skipped\n",
				        (unsigned long long)stream_msg_seq(msgs[i]));
				counts->failed++;
				stream_msg_ack(msgs[i], NULL);
			} else if ((one = consume_one(in, out, o->out_prefix, pk, sk, hash, &files,
			                              &why)) >= 0) {
				if (stream_msg_ack(msgs[i], &why) != 0) {
					fprintf(stderr, "mimic-collector: bundle %s: written, but the stream "
					        "did not take its acknowledgement (%s); it will be written "
					        "again\n", hash, why != NULL ? why : "failed");
				} else if (one == 1) {
					counts->skipped++;
				} else {
					counts->bundles++;
					counts->files += files;
				}
			} else {
				fprintf(stderr, "mimic-collector: bundle %s: %s; given back to the stream "
				        "for later\n", hash, why != NULL ? why : "failed");
				counts->failed++;
				stream_msg_nak(msgs[i], 10000, NULL);
			}
			free(why);
			json_decref(note);
			stream_msg_free(msgs[i]);
		}
	}
	r = 0;
done:
	stream_consumer_close(con);
	stream_close(st);
	s3_close(out);
	storage_close(in);
	return r;
}
