/*
 * upload: the device's end of the fleet (docs/FLEET.md, "The device side"):
 * enrolment with the collector, and the upload of ended sessions as sealed
 * bundles.
 *
 * upload_enroll makes the device's key, posts its public key with a one-time
 * token and keeps what the collector answers (fleet_device.h). upload_run sends
 * the deletion requests `mimic forget` queued, then, for each ended session old
 * enough (the policy's upload_delay) and not uploaded yet, exports it as
 * `mimic-data export --format webdataset` does (the same code path: redacted,
 * frame-gated), seals the export into DATA_DIR/fleet/spool (under a size cap),
 * and uploads it in chunks that resume where the collector says it stopped,
 * retrying network errors, 5xx and 507 with exponential backoff and jitter, a
 * bounded number of times per run. An uploaded session is marked in the store
 * (store_upload_mark) and audited; its bundle leaves the spool.
 *
 * HTTP is libcurl: TLS is checked against the CA file given at enrolment or the
 * system's store; plain http is allowed only to a loopback address. Nothing
 * logged here names what was recorded.
 */
#ifndef MIMIC_UPLOAD_H
#define MIMIC_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

/* What one upload run does (upload_opts_defaults fills the defaults). */
struct upload_opts {
	const char *data_dir;       /* the data directory (resolved, not NULL) */
	/* The export's options (redaction rules, pseudonym key, images), as the policy sets them. */
	struct export_opts export_;
	int64_t delay_ms;           /* only sessions ended this long ago; < 0: any ended session */
	int64_t session;            /* > 0: only this session */
	int64_t spool_max;          /* bytes the spool may hold */
	size_t chunk_bytes;         /* bytes per PUT, at most FLEET_CHUNK_BYTES */
	int attempts;               /* tries per request before the run gives up (>= 1) */
	int64_t retry_base_ms;      /* first backoff; doubled each try, with jitter */
	int64_t max_rate;           /* bytes per second of chunks, 0: no cap */
	int deletions_only;         /* send the queued deletions, upload nothing */
};

void upload_opts_defaults(struct upload_opts *o /* OUT */);

/* What a run did. Counts only. */
struct upload_report {
	int uploaded;       /* bundles the collector now holds */
	int not_yet;        /* ended sessions younger than the delay */
	int failed;         /* sessions that could not be uploaded this run */
	int deletions;      /* deletion requests the collector carried out */
	uint64_t bytes;     /* chunk bytes sent */
};

/*
 * Enrols this device with the collector at url (https://, or http:// to a
 * loopback address) with the one-time token; ca is a CA file to check the
 * collector's certificate with (NULL: the system's). Makes a new device key
 * (DATA_DIR/fleet/device.key, 0600), stores the enrolment and audits it.
 * *device receives the device id (malloc'ed). Errors with a one-line cause: -EINVAL a
 * URL that is not allowed, -EACCES the token was refused, -EHOSTUNREACH the
 * collector cannot be reached, -EPROTO TLS failed (certificate not trusted), -EIO
 * another answer.
 */
int upload_enroll(const char *data_dir, const char *url, const char *token, const char *ca,
                  char **device /* OUT */, char **cause);

/*
 * One upload run (see above). Returns 0 when everything due was sent, else the
 * first error with a cause (the report counts what was done meanwhile): -ENOENT
 * not enrolled, -EAGAIN the recorder is paused (nothing is sent), -ENOSPC the
 * spool is over its cap, the network errors of upload_enroll.
 */
int upload_run(const struct upload_opts *o, struct upload_report *rep /* OUT */, char **cause);

#endif
