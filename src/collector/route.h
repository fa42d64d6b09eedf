/*
 * route: which endpoint of the collector a request is for, and what it may carry
 * (docs/FLEET.md, "Protocol"). It is pure (no I/O, no clock), so a table test and
 * a fuzz target cover it. The endpoints:
 *
 *   GET    /v1/health                       unsigned   liveness, storage engine
 *   GET    /metrics                         unsigned   Prometheus text
 *   POST   /v1/enroll                       unsigned   {"token","public_key"}
 *   GET    /v1/policy                       signed     the organisation-signed policy
 *   POST   /v1/bundles                      signed     a manifest: start or resume
 *   PUT    /v1/bundles/HASH/OFFSET          signed     one chunk at OFFSET
 *   DELETE /v1/sessions/SESSION             signed     delete a session's bundles
 *   POST   /v1/heartbeat                    signed     {"state"}: the device is alive
 *
 * Anything else is 404 (unknown path) or 405 (known path, other method).
 */
#ifndef MIMIC_ROUTE_H
#define MIMIC_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "fleet_bundle.h"

/* Largest body of a heartbeat. */
#define ROUTE_HEARTBEAT_MAX 1024

enum route_kind {
	ROUTE_HEALTH = 1,
	ROUTE_METRICS,
	ROUTE_ENROLL,
	ROUTE_POLICY,
	ROUTE_MANIFEST,
	ROUTE_CHUNK,
	ROUTE_DELETE,
	ROUTE_HEARTBEAT,
};

struct route {
	enum route_kind kind;
	int is_signed;               /* needs the device's signature */
	size_t body_max;             /* largest body accepted */
	char hash[65];               /* ROUTE_CHUNK */
	uint64_t offset;             /* ROUTE_CHUNK */
	char session[FLEET_SESSION_MAX + 1]; /* ROUTE_DELETE */
	const char *name;            /* "health", "chunk", ...: for logs */
};

/*
 * Classifies method and path (without query). Returns 0, or the HTTP status to
 * answer (404, 405, 400 for a malformed hash, offset or session) with a cause.
 */
int route_parse(const char *method, const char *path, struct route *out /* OUT */, char **cause);

#endif
