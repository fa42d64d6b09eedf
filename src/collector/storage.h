/*
 * storage: where the collector keeps bundles, behind one small interface so that
 * the embedded directory (this file's implementation) and S3-compatible object
 * storage (fleet/s3, wired in by the collector when --s3 is given) are
 * interchangeable (docs/FLEET.md, "Storage engines").
 *
 * A bundle is named by its content address (64 hex digits, fleet_bundle.h), so
 * put is idempotent: the same bundle twice is stored once. Partial uploads are
 * not the storage's business: the collector assembles chunks in its own spool
 * and calls put with the whole, checked file; an engine that takes uploads
 * directly (presign) checks the hash itself on completion.
 */
#ifndef MIMIC_STORAGE_H
#define MIMIC_STORAGE_H

#include <stdint.h>

struct storage;

struct storage_ops {
	/* Stores the file at path as bundle hash (moves or copies it). 0 or -errno. */
	int (*put)(struct storage *s, const char *hash, const char *path, char **cause);
	/* Writes bundle hash to the new file out_path. -ENOENT when absent. */
	int (*get)(struct storage *s, const char *hash, const char *out_path, char **cause);
	/* 1 present (*size set when not NULL), 0 absent, or -errno. */
	int (*exists)(struct storage *s, const char *hash, uint64_t *size, char **cause);
	/* Removes bundle hash; absent is no error. */
	int (*del)(struct storage *s, const char *hash, char **cause);
	/*
	 * A URL a device may PUT the bundle to directly for ttl_s seconds (malloc'ed
	 * in *url). -ENOTSUP when the engine takes uploads only through the
	 * collector (the embedded directory).
	 */
	int (*presign)(struct storage *s, const char *hash, uint64_t size, int ttl_s,
	               char **url /* OUT */, char **cause);
	/* Frees the engine. */
	void (*close)(struct storage *s);
};

/* An engine: its operations and its own state. */
struct storage {
	const struct storage_ops *ops;
	const char *name;            /* "dir", "s3": for logs and /v1/health */
	void *priv;
};

/*
 * The embedded engine: bundles in dir/bundles/XX/HASH (XX its first two hex
 * digits), files 0600. dir is created (0700) when missing. *out owns the
 * engine; free with storage_close.
 */
int storage_open_dir(const char *dir, struct storage **out /* OUT */, char **cause);

/*
 * The S3-compatible engine (storage_s3.c): bundles are the objects bundles/XX/HASH
 * of cfg's bucket; get takes at most max_bundle bytes. The bucket must exist;
 * nothing is sent until the first call. Errors of s3_open (-EINVAL with a cause
 * for a missing field or a bad endpoint). *out owns the engine.
 */
struct s3_config;
int storage_open_s3(const struct s3_config *cfg, uint64_t max_bundle,
                    struct storage **out /* OUT */, char **cause);

/* Calls the engine's operations; hash must be a content address. */
int storage_put(struct storage *s, const char *hash, const char *path, char **cause);
int storage_get(struct storage *s, const char *hash, const char *out_path, char **cause);
int storage_exists(struct storage *s, const char *hash, uint64_t *size, char **cause);
int storage_del(struct storage *s, const char *hash, char **cause);
int storage_presign(struct storage *s, const char *hash, uint64_t size, int ttl_s, char **url,
                    char **cause);
/* Frees s. NULL is allowed. */
void storage_close(struct storage *s);

#endif
