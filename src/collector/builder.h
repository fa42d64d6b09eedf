/*
 * builder: `mimic-collector build-dataset`: opens each bundle with the
 * organisation's dataset key pair and writes its files (WebDataset shards,
 * dataset card), each name prefixed with the first 16 hex digits of its bundle's
 * address, so that shards of different devices never collide. builder_run walks
 * the catalog into one output directory (a second run adds only new bundles);
 * builder_consume takes the bundles the collector announced on its JetStream
 * stream and writes the shards back to object storage, as many builders at once
 * as wanted (each announcement goes to one of them).
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

/* Where builder_consume reads and writes. */
struct builder_stream_opts {
	const struct s3_config *s3;  /* the collector's bucket (its --s3), required */
	const char *nats;            /* the cluster's URLs, required */
	const char *stream;          /* the collector's --stream; NULL: COLLECTOR_STREAM */
	const char *durable;         /* the consumer builders share; NULL: "builders" */
	const char *out_bucket;      /* shards go to s3://out_bucket/out_prefix<name>, */
	const char *out_prefix;      /* with the same endpoint and credentials; "" or ".../" */
	int64_t idle_ms;             /* stop when no announcement came for this long; 0: 5 s */
};

/*
 * Consumes the stream's announcements until it is idle: for each, gets the bundle
 * from the bucket, opens it in a temporary directory and PUTs its files under the
 * output prefix, then acknowledges it. A bundle that is no longer stored (deleted
 * after a forget) is acknowledged and counted in skipped; one that fails otherwise
 * is named on stderr, counted in failed and given back to the stream for later (at
 * most 5 deliveries). Errors with a cause: the stream's and the storage's set-up.
 */
int builder_consume(const struct builder_stream_opts *o,
                    const unsigned char pk[FLEET_BOX_PK_BYTES],
                    const unsigned char sk[FLEET_BOX_SK_BYTES],
                    struct builder_counts *counts /* OUT */, char **cause);

#endif
