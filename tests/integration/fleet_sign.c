/*
 * A helper of test_fleet.py, which speaks to mimic-collector from Python's
 * standard library (no Ed25519 there):
 *   fleet_sign keygen DIR                       device.key, device.pub, prints the id
 *   fleet_sign sign KEY METHOD PATH BODYFILE    prints the four signature headers (JSON)
 *   fleet_sign seal DIR OUT DATASET_PUB         seals DIR, prints "HASH SIZE"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "fleet_bundle.h"
#include "fleet_proto.h"
#include "util.h"

static int die(char *cause)
{
	fprintf(stderr, "fleet_sign: %s\n", cause ? cause : "failed");
	return 1;
}

int main(int argc, char **argv)
{
	char *cause = NULL;

	if (fleet_proto_init() != 0)
		return 1;
	if (argc == 3 && strcmp(argv[1], "keygen") == 0) {
		unsigned char pk[FLEET_PK_BYTES], sk[FLEET_SK_BYTES];
		char id[FLEET_DEVICE_ID_SIZE], *a = util_xasprintf("%s/device.key", argv[2]);
		char *b = util_xasprintf("%s/device.pub", argv[2]);
		fleet_proto_keypair(pk, sk);
		fleet_proto_device_id(pk, id);
		int rc = fleet_proto_key_save(a, sk, sizeof sk, &cause) != 0 ||
		         fleet_proto_key_save(b, pk, sizeof pk, &cause) != 0;

		free(a);
		free(b);
		if (rc)
			return die(cause);
		printf("%s\n", id);
		return 0;
	}
	if (argc == 6 && strcmp(argv[1], "sign") == 0) {
		unsigned char sk[FLEET_SK_BYTES], pk[FLEET_PK_BYTES];
		char id[FLEET_DEVICE_ID_SIZE], *body = NULL;
		size_t len = 0;
		struct fleet_sig s;
		FILE *f;
		if (fleet_proto_key_load(argv[2], sk, sizeof sk, 1, &cause) != 0)
			return die(cause);
		f = fopen(argv[5], "rb");
		if (f != NULL) {
			body = malloc(2 * FLEET_BODY_MAX);
			len = fread(body, 1, 2 * FLEET_BODY_MAX, f);
			fclose(f);
		}
		crypto_sign_ed25519_sk_to_pk(pk, sk);
		fleet_proto_device_id(pk, id);
		if (fleet_proto_sign(sk, id, argv[3], argv[4], body, len, (int64_t)time(NULL), &s) != 0)
			return die(NULL);
		printf("{\"X-Mimic-Device\":\"%s\",\"X-Mimic-Time\":\"%s\",\"X-Mimic-Nonce\":\"%s\","
		       "\"X-Mimic-Signature\":\"%s\"}\n", s.device, s.time, s.nonce, s.sig);
		free(body);
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "seal") == 0) {
		unsigned char pk[FLEET_BOX_PK_BYTES];
		char hash[65];
		uint64_t size;
		if (fleet_proto_key_load(argv[4], pk, sizeof pk, 0, &cause) != 0 ||
		    fleet_bundle_seal_dir(argv[2], argv[3], pk, 0, hash, &size, &cause) != 0)
			return die(cause);
		printf("%s %llu\n", hash, (unsigned long long)size);
		return 0;
	}
	fprintf(stderr, "usage: fleet_sign keygen DIR | sign KEY METHOD PATH BODYFILE | "
	        "seal DIR OUT DATASET_PUB\n");
	return 2;
}
