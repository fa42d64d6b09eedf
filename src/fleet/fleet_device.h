/*
 * fleet_device: what a device keeps about its enrolment in the fleet
 * (docs/FLEET.md, "The device side"), in DATA_DIR/fleet/:
 *
 *   device.key       the device's Ed25519 private key (hex, 0600, made at enrolment)
 *   enrolment.json   the collector's URL, the CA file to check it with (or none:
 *                    the system's), the device id and the organisation's two public
 *                    keys, as the collector gave them at enrolment
 *   state.json       the last upload run's time and error, for `mimic status`
 *   spool/           sealed bundles waiting to be uploaded
 *
 * Nothing here speaks to the network: `mimic status` (which links no HTTP client)
 * reads these files through it, and src/upload/ writes them.
 */
#ifndef MIMIC_FLEET_DEVICE_H
#define MIMIC_FLEET_DEVICE_H

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

#endif
