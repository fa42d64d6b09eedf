/*
 * Raw engine rates for the fleet's sizing (docs/FLEET.md, "Sizing"), against the
 * engines of scripts/test-services (its KEY=VALUE lines in the environment):
 * S3 PUT MB/s of 1 MiB objects through src/fleet/s3 (one stream, SHA-256 signed),
 * and JetStream publishes/s of 1 KiB manifests through src/fleet/stream (each waits
 * for its acknowledgement, R=3).
 *
 *   set -a; . STATE/env; set +a; build/bench/engines_bench -n 100 -m 2000
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s3.h"
#include "stream.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *env(const char *n)
{
	const char *v = getenv(n);
	if (!v) {
		fprintf(stderr, "engines_bench: %s is not set (source STATE/env of "
		        "scripts/test-services up)\n", n);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	int n = 100, m = 2000, opt;
	while ((opt = getopt(argc, argv, "n:m:")) != -1) {
		if (opt == 'n')
			n = atoi(optarg);
		else if (opt == 'm')
			m = atoi(optarg);
		else
			return 2;
	}
	char *cause = NULL;
	struct s3_config cfg = { .endpoint = env("MIMIC_TEST_S3_URL"),
	                         .access_key = env("MIMIC_TEST_S3_ACCESS"),
	                         .secret_key = env("MIMIC_TEST_S3_SECRET"),
	                         .bucket = env("MIMIC_TEST_S3_BUCKET"), .timeout_ms = 30000 };
	struct s3 *s = NULL;
	if (s3_open(&cfg, &s, &cause) < 0) {
		fprintf(stderr, "engines_bench: %s\n", cause);
		return 1;
	}
	size_t len = 1u << 20;
	unsigned char *buf = malloc(len);
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(rand() >> 7);
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		char key[64];
		snprintf(key, sizeof key, "bench/obj-%06d", i);
		buf[0] = (unsigned char)i;
		if (s3_put(s, key, buf, len, &cause) < 0) {
			fprintf(stderr, "engines_bench: %s\n", cause);
			return 1;
		}
	}
	double dt = now_s() - t0;
	printf("s3 PUT 1 MiB x %d: %.1f MB/s (%.1f PUT/s)\n", n, (double)n * (double)len / 1e6 / dt,
	       n / dt);
	for (int i = 0; i < n; i++) {
		char key[64];
		snprintf(key, sizeof key, "bench/obj-%06d", i);
		s3_delete(s, key, NULL);
	}
	s3_close(s);
	free(buf);

	struct stream *st = NULL;
	if (stream_open(env("MIMIC_TEST_NATS_URLS"), 10000, &st, &cause) < 0) {
		fprintf(stderr, "engines_bench: %s\n", cause);
		return 1;
	}
	char name[32], subj[64];
	snprintf(name, sizeof name, "BENCH%d", (int)getpid());
	snprintf(subj, sizeof subj, "bench.%d.>", (int)getpid());
	struct stream_config sc = { .name = name, .subject = subj, .replicas = 3 };
	if (stream_ensure(st, &sc, &cause) < 0) {
		fprintf(stderr, "engines_bench: %s\n", cause);
		return 1;
	}
	char manifest[1024];
	memset(manifest, 'm', sizeof manifest);
	snprintf(subj, sizeof subj, "bench.%d.m", (int)getpid());
	t0 = now_s();
	for (int i = 0; i < m; i++) {
		char id[32];
		snprintf(id, sizeof id, "h%08d", i);
		if (stream_publish(st, subj, manifest, sizeof manifest, id, NULL, &cause) < 0) {
			fprintf(stderr, "engines_bench: %s\n", cause);
			return 1;
		}
	}
	dt = now_s() - t0;
	printf("jetstream publish 1 KiB R=3 x %d (each acknowledged): %.0f msg/s\n", m, m / dt);
	stream_close(st);
	return 0;
}
