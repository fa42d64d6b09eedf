/*
 * forget: deleting what was recorded, on request (`mimic forget`) and by the
 * retention limits, so that no file of the data directory keeps a trace of it.
 *
 * A deletion is: the rows (store_forget, with secure_delete on), then every
 * frame file no frame refers to any more (DATA_DIR/frames, and temporary files
 * left by a crash), then store_compact (VACUUM, the WAL checkpointed and
 * truncated). The caller makes sure nothing writes meanwhile: the recorder runs
 * these on its writer thread (writer_run / writer_post) with the frames engine
 * stopped for a forget; without a recorder the CLI holds the data directory's
 * lock. Retention runs while frames are still taken, so its sweep leaves frame
 * files younger than FORGET_SWEEP_MIN_AGE_S alone (blob_put renews the time of
 * a file it reuses).
 */
#ifndef MIMIC_FORGET_H
#define MIMIC_FORGET_H

#include <stdint.h>

#include "store.h"

/* Frame files younger than this are left by a retention sweep (seconds). */
#define FORGET_SWEEP_MIN_AGE_S 600

struct forget_result {
	struct store_forget_counts rows;
	int64_t files;        /* frame files deleted */
	int64_t file_bytes;   /* their size */
	int64_t bytes_before; /* retention: the data's size before and after (forget_data_bytes) */
	int64_t bytes_after;
};

/*
 * Deletes what spec names (store.h) from st, whose data directory is
 * data_dir, then the unreferenced frame files, then compacts. Sets *res.
 */
int forget_run(struct store *st, const char *data_dir, const struct store_forget *spec,
               struct forget_result *res /* OUT */, char **cause);

/*
 * A deletion without a recorder (`mimic forget`, `mimic review`): takes the data
 * directory's lock (DATA_DIR/recorder.lock; -EBUSY with *cause when a recorder
 * holds it), opens the store, runs forget_run and appends an audit record
 * "forget" with what (a short description, e.g. "session 3") and the counts.
 * Sets *res.
 */
int forget_locked(const char *data_dir, const struct store_forget *spec, const char *what,
                  struct forget_result *res /* OUT */, char **cause);

/*
 * Deletes the frame files under data_dir/frames that no frame refers to, and
 * leftover temporary files; files modified less than min_age_s seconds ago are
 * kept. Adds to res->files and res->file_bytes.
 */
int forget_sweep(struct store *st, const char *data_dir, int64_t min_age_s,
                 struct forget_result *res, char **cause);

/* The size of what is recorded: the database's pages in use plus the frame files. */
int forget_data_bytes(struct store *st, const char *data_dir, int64_t *bytes /* OUT */,
                      char **cause);

/* Retention limits (docs/CONFIG.md, [retention]); 0 switches a limit off. */
struct forget_limits {
	int64_t max_age_ns;
	int64_t max_bytes;
};

/*
 * Enforces the limits: everything recorded longer ago than max_age_ns goes;
 * then, while the data is larger than max_bytes, the oldest session (other than
 * keep_session, the one being recorded) goes, and when only that one is left,
 * its oldest tenth. Compacts when anything was deleted. Sets *res; res->rows
 * and res->files are 0 when nothing had to go.
 */
int forget_retention(struct store *st, const char *data_dir, const struct forget_limits *lim,
                     int64_t keep_session, struct forget_result *res /* OUT */, char **cause);

#endif
