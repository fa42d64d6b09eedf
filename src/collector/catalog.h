/*
 * catalog: the collector's SQLite catalog (DATA/catalog.db): enrolled devices,
 * one-time enrolment tokens (stored as their SHA-256 only), the nonces of the
 * replay window, uploads in progress, stored bundles and the collector's own
 * audit trail (enrolments, deletions). Not thread-safe: the collector serves
 * requests from one thread.
 */
#ifndef MIMIC_CATALOG_H
#define MIMIC_CATALOG_H

#include <stdint.h>

#include "fleet_bundle.h"
#include "fleet_proto.h"

struct catalog;

/* One stored bundle, as catalog_foreach passes it. */
struct catalog_bundle {
	const char *hash;
	const char *device;
	const char *session;
	uint64_t size;
	int64_t stored;              /* Unix seconds */
};

/* Opens (creating, 0600) the catalog at path. */
int catalog_open(const char *path, struct catalog **out /* OUT */, char **cause);
void catalog_close(struct catalog *c);

/*
 * One transaction around several writes (`token new --count`): begin, then commit
 * (0, or -EIO with a cause; the writes are then lost) or roll back.
 */
void catalog_begin(struct catalog *c);
int catalog_commit(struct catalog *c, char **cause);
void catalog_rollback(struct catalog *c);

/* A new one-time token valid for ttl_s seconds: 64 hex digits into out. */
int catalog_token_new(struct catalog *c, int64_t now, int64_t ttl_s, char out[65] /* OUT */,
                      char **cause);

/*
 * Enrols the device with public key pk using token: the token must exist, be
 * unused and unexpired; it is then spent. -EACCES with a cause otherwise.
 * Enrolling a key already enrolled is -EEXIST.
 */
int catalog_enrol(struct catalog *c, const char *token, const unsigned char pk[FLEET_PK_BYTES],
                  int64_t now, char id[FLEET_DEVICE_ID_SIZE] /* OUT */, char **cause);

/* The public key of an enrolled, not revoked device. -ENOENT when unknown. */
int catalog_device_key(struct catalog *c, const char *id, unsigned char pk[FLEET_PK_BYTES] /* OUT */);

/* Revokes a device: its requests are refused from now on. -ENOENT when unknown. */
int catalog_device_revoke(struct catalog *c, const char *id, int64_t now, char **cause);

/*
 * Records the nonce of a verified request. -EALREADY when this device used it
 * before (a replay). Forgets nonces older than twice the window.
 */
int catalog_nonce_use(struct catalog *c, const char *device, const char *nonce, int64_t t,
                      int64_t now);

/* Number of devices enrolled and not revoked; of uploads in progress. */
int64_t catalog_devices(struct catalog *c);
int64_t catalog_uploads_open(struct catalog *c);

/*
 * Notes a device's heartbeat: when (now) and the state it reported (a short word
 * the caller checked). 0 or -EIO.
 */
int catalog_seen(struct catalog *c, const char *device, int64_t now, const char *state);

/* Number of devices whose last heartbeat came at or after since; -1 on an error. */
int64_t catalog_seen_since(struct catalog *c, int64_t since);

/*
 * Starts or resumes the upload of m by device: *received receives the bytes
 * already received (0 for a new one). -EEXIST when the bundle is stored already
 * (*received = size); -EBUSY when the device already stored another bundle for
 * this session (its hash in other).
 */
int catalog_upload_begin(struct catalog *c, const char *device, const struct fleet_manifest *m,
                         int64_t now, uint64_t *received /* OUT */, char other[65] /* OUT */);

/* The upload of hash by device: size and bytes received. -ENOENT when none. */
int catalog_upload_get(struct catalog *c, const char *device, const char *hash,
                       uint64_t *size /* OUT */, uint64_t *received /* OUT */,
                       char session[FLEET_SESSION_MAX + 1] /* OUT */);
int catalog_upload_set(struct catalog *c, const char *hash, uint64_t received);
/* Ends an upload: stored != 0 moves it to the bundles. */
int catalog_upload_end(struct catalog *c, const char *hash, int stored, int64_t now);

/*
 * Deletes the device's bundles of session from the catalog: *hash receives the
 * last one's address (for the storage) and the return is their number (0: none).
 */
int catalog_delete_session(struct catalog *c, const char *device, const char *session,
                           int64_t now, char hash[65] /* OUT */);

/* Calls fn for each stored bundle in order of storage; stops on non-zero. */
int catalog_foreach(struct catalog *c, int (*fn)(const struct catalog_bundle *b, void *arg),
                    void *arg);

/* Appends to the collector's audit trail (what: a word; details: JSON). */
int catalog_event(struct catalog *c, int64_t now, const char *what, const char *device,
                  const char *details);

/* Calls fn with each audit line as JSON text. */
int catalog_events(struct catalog *c, int (*fn)(const char *json, void *arg), void *arg);

/*
 * The stream's outbox (`serve --nats`): a stored bundle's announcement waits here
 * until the stream has acknowledged it, so that a stream that is down or a
 * collector that dies loses none (the stream drops a re-sent one by its id, the
 * hash). catalog_outbox_add queues one (a hash queued already is kept as it was);
 * catalog_outbox_take fills out[] with the oldest (at most max; subject and body
 * malloc'ed, the caller frees them) and returns how many, or -EIO;
 * catalog_outbox_done removes one once acknowledged; catalog_outbox_count says how
 * many wait (-1 on error).
 */
struct catalog_outbox {
	char hash[65];
	char *subject;
	char *body;
};
int catalog_outbox_add(struct catalog *c, const char *hash, const char *subject,
                       const char *body);
int catalog_outbox_take(struct catalog *c, struct catalog_outbox *out /* OUT */, int max);
int catalog_outbox_done(struct catalog *c, const char *hash);
int64_t catalog_outbox_count(struct catalog *c);

#endif
