/*
 * route: the collector's request classifier (route.h). Paths are compared whole
 * and every variable part is checked for its exact form before it is copied.
 */
#include "route.h"

#include <string.h>

#include "fleet_proto.h"
#include "util.h"

static int method_is(const char *m, const char *want, int *bad)
{
	if (strcmp(m, want) == 0)
		return 1;
	*bad = 1;
	return 0;
}

int route_parse(const char *method, const char *path, struct route *out, char **cause)
{
	int bad = 0;
	size_t n;

	memset(out, 0, sizeof *out);
	if (method == NULL || path == NULL || strlen(path) > FLEET_PATH_MAX)
		return util_fail(cause, 404, "no such endpoint");
	if (strcmp(path, "/v1/health") == 0 && method_is(method, "GET", &bad)) {
		out->kind = ROUTE_HEALTH;
		out->name = "health";
		return 0;
	}
	if (strcmp(path, "/metrics") == 0 && method_is(method, "GET", &bad)) {
		out->kind = ROUTE_METRICS;
		out->name = "metrics";
		return 0;
	}
	if (strcmp(path, "/v1/enroll") == 0 && method_is(method, "POST", &bad)) {
		out->kind = ROUTE_ENROLL;
		out->name = "enroll";
		out->body_max = FLEET_JSON_MAX;
		return 0;
	}
	if (strcmp(path, "/v1/policy") == 0 && method_is(method, "GET", &bad)) {
		out->kind = ROUTE_POLICY;
		out->name = "policy";
		out->is_signed = 1;
		return 0;
	}
	if (strcmp(path, "/v1/heartbeat") == 0 && method_is(method, "POST", &bad)) {
		out->kind = ROUTE_HEARTBEAT;
		out->name = "heartbeat";
		out->is_signed = 1;
		out->body_max = ROUTE_HEARTBEAT_MAX;
		return 0;
	}
	if (strcmp(path, "/v1/bundles") == 0 && method_is(method, "POST", &bad)) {
		out->kind = ROUTE_MANIFEST;
		out->name = "manifest";
		out->is_signed = 1;
		out->body_max = FLEET_JSON_MAX;
		return 0;
	}
	if (strncmp(path, "/v1/bundles/", 12) == 0 && method_is(method, "PUT", &bad)) {
		const char *h = path + 12, *slash = strchr(h, '/');
		uint64_t off = 0;
		if (slash == NULL || slash - h != 64)
			return util_fail(cause, 400, "malformed chunk path: /v1/bundles/HASH/OFFSET");
		memcpy(out->hash, h, 64);
		out->hash[64] = '\0';
		n = strlen(slash + 1);
		if (!fleet_bundle_is_hash(out->hash) || n == 0 || n > 15 ||
		    (n > 1 && slash[1] == '0'))
			return util_fail(cause, 400, "malformed chunk path: /v1/bundles/HASH/OFFSET");
		for (const char *p = slash + 1; *p; p++) {
			if (*p < '0' || *p > '9')
				return util_fail(cause, 400, "malformed chunk path: /v1/bundles/HASH/OFFSET");
			off = off * 10 + (uint64_t)(*p - '0');
		}
		out->kind = ROUTE_CHUNK;
		out->name = "chunk";
		out->is_signed = 1;
		out->offset = off;
		out->body_max = FLEET_CHUNK_BYTES;
		return 0;
	}
	if (strncmp(path, "/v1/sessions/", 13) == 0 && method_is(method, "DELETE", &bad)) {
		if (!fleet_bundle_is_session(path + 13))
			return util_fail(cause, 400, "malformed session id in the path");
		strcpy(out->session, path + 13);
		out->kind = ROUTE_DELETE;
		out->name = "delete";
		out->is_signed = 1;
		return 0;
	}
	if (bad)
		return util_fail(cause, 405, "method %s is not allowed on this endpoint",
		                 strlen(method) < 16 ? method : "(long)");
	return util_fail(cause, 404, "no such endpoint");
}
