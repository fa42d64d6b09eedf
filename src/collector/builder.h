/*
 * builder: `mimic-collector build-dataset` on the embedded storage: opens each
 * bundle of the catalog with the organisation's dataset key pair and writes its
 * files (WebDataset shards, dataset card) into one output directory, each name
 * prefixed with the first 16 hex digits of its bundle's address, so that shards
 * of different devices never collide and a second run adds only new bundles.
 */
#ifndef MIMIC_BUILDER_H
#define MIMIC_BUILDER_H

#include "fleet_bundle.h"

struct builder_counts {
	int bundles;                 /* opened and written this run */
	int skipped;                 /* written by an earlier run */
	int files;                   /* files written */
	int failed;                  /* did not open (named on stderr) */
};

/*
 * Builds outdir (created 0700 when missing) from the bundles of data_dir's
 * catalog, read from data_dir/bundles, or from the S3 bucket of s3 when it is not
 * NULL (the collector's --s3). A bundle that does not open is reported, counted
 * in failed and left out; the others are still written. Errors with a cause: the
 * catalog's, the directory's and the storage's.
 */
struct s3_config;
int builder_run(const char *data_dir, const struct s3_config *s3,
                const unsigned char pk[FLEET_BOX_PK_BYTES],
                const unsigned char sk[FLEET_BOX_SK_BYTES], const char *outdir,
                struct builder_counts *counts /* OUT */, char **cause);

#endif
