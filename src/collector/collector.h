/*
 * collector: the `mimic-collector serve` HTTP(S) server (docs/FLEET.md): device
 * enrolment, signed policy distribution, chunked resumable upload of sealed
 * bundles, deletion requests, health and Prometheus metrics. libmicrohttpd with
 * GnuTLS; one request thread, the catalog in SQLite and bundles in a storage
 * engine (storage.h). Every request body has a maximum size, every refusal an
 * HTTP status, a JSON {"error","reason"} body and a count in /metrics by reason.
 */
#ifndef MIMIC_COLLECTOR_H
#define MIMIC_COLLECTOR_H

#include <stdint.h>

#include "fleet_bundle.h"
#include "fleet_proto.h"

struct collector;

/* Most connection threads (--threads). */
#define COLLECTOR_THREADS_MAX 64
/*
 * Connections open at once by default, and at most (--max-connections). There is
 * no limit per address: a whole office's machines can reach the collector from one
 * NAT address.
 */
#define COLLECTOR_CONNECTIONS 1024
#define COLLECTOR_CONNECTIONS_MAX 65536

struct s3_config;

struct collector_config {
	const char *listen;          /* "ADDR:PORT" (IPv4 or [IPv6]); port 0 takes a free one */
	const char *data_dir;        /* catalog.db, bundles/, incoming/ */
	const char *tls_cert;        /* PEM; NULL with tls_key NULL: plain HTTP (loopback only) */
	const char *tls_key;
	unsigned char dataset_pk[FLEET_BOX_PK_BYTES];
	unsigned char policy_pk[FLEET_PK_BYTES];
	int has_policy_pk;
	const char *policy_file;     /* the organisation-signed policy, or NULL */
	uint64_t max_bundle;         /* largest bundle accepted */
	uint64_t min_free;           /* bytes the data directory keeps free */
	unsigned threads;            /* connection threads (TLS, reading); 0: one per core */
	unsigned max_connections;    /* connections open at once; 0: COLLECTOR_CONNECTIONS */
	/* Storage engine: NULL, the embedded directory (data_dir/bundles); else S3. */
	const struct s3_config *s3;
	/*
	 * NATS JetStream (NULL: none): the cluster's URLs, comma-separated. Each stored
	 * bundle is announced on the subject NAME.<device> of the stream NAME, stream_name
	 * (NULL: COLLECTOR_STREAM), with stream_replicas replicas (0: 1), through the
	 * catalog's outbox, by a thread of its own.
	 */
	const char *nats;
	const char *stream_name;
	int stream_replicas;
};

#define COLLECTOR_STREAM "MIMIC_BUNDLES"

/*
 * Starts serving. *port receives the port listened on. Errors with a cause:
 * -EINVAL bad listen address or plain HTTP on an address that is not loopback,
 * -EADDRINUSE, the catalog's and storage's errors, -ENOTSUP no TLS in
 * libmicrohttpd, and the stream's: a cluster that cannot be reached or refuses the
 * stream (-EIO, naming it).
 */
int collector_start(const struct collector_config *cfg, struct collector **out /* OUT */,
                    int *port /* OUT */, char **cause);

/* Stops serving and frees c (an upload in flight is resumed by its device). */
void collector_stop(struct collector *c);

#endif
