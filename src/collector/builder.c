/*
 * builder: the embedded dataset builder (builder.h). A bundle is first copied
 * out of the storage into the output directory under a temporary name, opened
 * there, and the copy removed; a marker file "<prefix>.built" records that it is
 * done so that a run cut off half-way is finished by the next.
 */
#include "builder.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "log.h"
#include "paths.h"
#include "storage.h"
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
