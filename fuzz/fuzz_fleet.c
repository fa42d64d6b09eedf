/*
 * fuzz_fleet: feeds arbitrary input to every parser of the fleet that a network
 * peer reaches: the collector's request classifier (route), the signature
 * headers (fleet_proto_parse, then fleet_proto_verify against a fixed key), a
 * bundle manifest (fleet_manifest_parse) and a signed policy
 * (fleet_policy_verify). The input is "METHOD PATH\nDEVICE\nTIME\nNONCE\nSIG\nBODY".
 * Beyond not crashing, it checks their promises: a route found has a kind, a
 * name and a body limit no larger than one chunk plus slack; a verified
 * policy's text lies inside the input; a parsed manifest has a content address
 * and a positive size; no arbitrary signature verifies.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_bundle.h"
#include "fleet_policy.h"
#include "fleet_proto.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *next_line(const uint8_t **p, size_t *n)
{
	const uint8_t *nl = memchr(*p, '\n', *n);
	size_t len = nl != NULL ? (size_t)(nl - *p) : *n;
	char *s = malloc(len + 1);

	memcpy(s, *p, len);
	s[len] = '\0';
	*p += nl != NULL ? len + 1 : len;
	*n -= nl != NULL ? len + 1 : len;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char pk[FLEET_PK_BYTES], sk[FLEET_SK_BYTES];
	static int ready;
	const uint8_t *p = data;
	size_t n = size;
	char *line[5], *sp, *cause = NULL;
	struct route r;
	struct fleet_req req;
	struct fleet_manifest m;
	const char *body;
	size_t blen;
	uint64_t serial;

	if (!ready) {
		if (fleet_proto_init() != 0)
			abort();
		fleet_proto_keypair(pk, sk);
		ready = 1;
	}
	for (int i = 0; i < 5; i++)
		line[i] = next_line(&p, &n);
	sp = strchr(line[0], ' ');
	if (sp != NULL) {
		*sp = '\0';
		if (route_parse(line[0], sp + 1, &r, &cause) == 0) {
			if (r.kind == 0 || r.name == NULL || r.body_max > FLEET_BODY_MAX)
				abort();
		} else if (cause == NULL) {
			abort();
		}
		free(cause);
		cause = NULL;
		if (fleet_proto_parse(line[1], line[2], line[3], line[4], &req, &cause) == 0) {
			/* A random signature never verifies against a key it was not made with. */
			if (fleet_proto_verify(pk, &req, line[0], sp + 1, p, n, req.time, NULL) == 0)
				abort();
		} else if (cause == NULL) {
			abort();
		}
		free(cause);
		cause = NULL;
	}
	if (fleet_manifest_parse((const char *)p, n, &m, &cause) == 0) {
		if (!fleet_bundle_is_hash(m.bundle) || m.size == 0 || !fleet_bundle_is_session(m.session))
			abort();
	}
	free(cause);
	cause = NULL;
	if (fleet_policy_verify(pk, (const char *)data, size, &body, &blen, &serial, &cause) == 0) {
		if (body < (const char *)data || body + blen > (const char *)data + size)
			abort();
	}
	free(cause);
	for (int i = 0; i < 5; i++)
		free(line[i]);
	return 0;
}
