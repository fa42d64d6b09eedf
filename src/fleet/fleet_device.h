/*
 * fleet_device: what a device keeps about its enrolment in the fleet
 * (docs/FLEET.md, "The device side"), in DATA_DIR/fleet/:
 *
 *   device.key       the device's Ed25519 private key (hex, 0600, made at enrolment)
 *   enrolment.json   the collector's URL, the CA file to check it with (or none:
 *                    the system's), the device id and the organisation's two public
 *                    keys, as the collector gave them at enrolment
 *   state.json       the last upload run's time and error, for `mimic status`
 *   policy.signed    the collector's policy as the organisation signed it, once it
 *                    verified with the enrolment's policy key (0600); it is verified
 *                    again each time it is used
 *   policy.json      the serial of the last policy accepted (no rollback below it)
 *                    and the last refusal, for `mimic status`
 *   spool/           sealed bundles waiting to be uploaded
 *
 * Nothing here speaks to the network: `mimic status` (which links no HTTP client)
 * reads these files through it, and src/upload/ writes them.
 */
#ifndef MIMIC_FLEET_DEVICE_H
#define MIMIC_FLEET_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "fleet_bundle.h"
#include "fleet_proto.h"

#define FLEET_DEVICE_DIR "fleet"
#define FLEET_URL_MAX 512
#define FLEET_CA_MAX 1024

struct fleet_enrolment {
	char url[FLEET_URL_MAX];          /* the collector, e.g. https://collector:8443, no '/' at the end */
	char ca[FLEET_CA_MAX];            /* absolute path of the CA file, "" for the system's store */
	char device[FLEET_DEVICE_ID_SIZE];
	unsigned char dataset_pk[FLEET_BOX_PK_BYTES];
	unsigned char policy_pk[FLEET_PK_BYTES];
	int has_policy_pk;                /* 0: the collector distributes no signed policy */
	int64_t enrolled_wall_ns;
};

/* Sets *out (malloc'ed) to DATA_DIR/fleet/NAME, or DATA_DIR/fleet when name is NULL. */
char *fleet_device_path(const char *data_dir, const char *name);

/*
 * Reads DATA_DIR/fleet/enrolment.json. -ENOENT when the device is not enrolled
 * (the cause says to run `mimic enroll`), -EINVAL with a cause naming the file
 * when it is malformed.
 */
int fleet_device_load(const char *data_dir, struct fleet_enrolment *out /* OUT */, char **cause);

/* Writes it (0600, replacing an earlier enrolment); creates DATA_DIR/fleet (0700). */
int fleet_device_save(const char *data_dir, const struct fleet_enrolment *e, char **cause);

/*
 * The last upload run, for `mimic status`: fleet_device_note stores its time and
 * error (NULL: it succeeded); fleet_device_last reads them back (*error malloc'ed,
 * NULL after a success; *when_wall_ns 0 when no run is recorded).
 */
int fleet_device_note(const char *data_dir, const char *error, char **cause);
void fleet_device_last(const char *data_dir, int64_t *when_wall_ns /* OUT */,
                       char **error /* OUT */);

/*
 * Removes the sealed bundles waiting in DATA_DIR/fleet/spool (after a forget:
 * a bundle made before it may hold what was forgotten; the next `mimic upload`
 * makes them again from what is left). Returns how many were removed.
 */
int fleet_device_spool_drop(const char *data_dir);

/*
 * Removes from DATA_DIR/fleet/spool the bundles (S<id>.bundle and their S<id>.bundle.part)
 * of the sessions for which stale(id, arg) is true (all of them when stale is NULL):
 * retention deleted what they were
 * sealed from, in whole or in part, and a bundle waiting for the collector must not
 * keep it longer than the data it came from. The next `mimic upload` seals again
 * what is left. Returns how many bundles were removed (0 without a spool).
 */
int fleet_device_spool_prune(const char *data_dir, bool (*stale)(int64_t session, void *arg),
                             void *arg);

/*
 * A policy the collector sent (data, len bytes): verified with the enrolment's
 * policy key and refused when its serial is lower than the last one accepted.
 * Accepted, it replaces DATA_DIR/fleet/policy.signed (atomically, 0600), its
 * serial is kept and *serial receives it. Refused, the stored policy stays in
 * force, the refusal is noted for `mimic status` and written to the audit log, and
 * the error comes with one line as its cause, e.g. "collector policy: signature
 * does not verify with the enrolled key; keeping serial 7": -ENOKEY unsigned,
 * -EKEYREJECTED signed with another key, -EBADMSG tampered, -EINVAL malformed,
 * -ESTALE a serial lower than the one kept, -E2BIG too large. -ENOKEY too when the
 * enrolment holds no policy key.
 */
int fleet_device_policy_accept(const char *data_dir, const struct fleet_enrolment *e,
                               const char *data, size_t len, uint64_t *serial /* OUT */,
                               char **cause);

/*
 * Reads DATA_DIR/fleet/policy.signed and verifies it again with the enrolment's
 * key. On success *body receives the policy text (malloc'ed, NUL-terminated) and
 * *serial its serial. -ENOENT (no cause) when no collector policy is stored; any
 * other error, with a one-line cause naming the file and the fix, means the stored
 * copy cannot be trusted and nothing should be recorded on it.
 */
int fleet_device_policy_load(const char *data_dir, const struct fleet_enrolment *e,
                             char **body /* OUT */, uint64_t *serial /* OUT */, char **cause);

/*
 * What `mimic status` shows of the collector's policy: *serial the last serial
 * accepted (0: none), *error the last refusal (malloc'ed) or NULL when the last
 * fetch was accepted, *when_wall_ns when that was (0: never).
 */
void fleet_device_policy_state(const char *data_dir, uint64_t *serial /* OUT */,
                               char **error /* OUT */, int64_t *when_wall_ns /* OUT */);

#endif
