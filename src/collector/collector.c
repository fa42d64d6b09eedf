/*
 * collector: the HTTP(S) server of `mimic-collector serve` (collector.h).
 *
 * A request is handled in three steps: on its first call its route is found and
 * its declared length checked against the route's maximum (a body too large is
 * refused before it is read); its body is gathered up to that maximum; then it is
 * authenticated (a signed route: device known, signature valid, in the window,
 * nonce new) and carried out. All refusals go through reject(), which counts them
 * by reason for /metrics and logs one structured line.
 *
 * Connections are served by a pool of threads (--threads), so that TLS handshakes
 * and the reading of bodies go on side by side; the handler itself runs under one
 * lock (the catalog's connection, the counters and the files of uploads in
 * progress are shared), which costs little next to the synced catalog write each
 * signed request makes. Storing a completed bundle (its hash read back, an S3
 * PUT) is the one step that lets the lock go meanwhile (finish_upload).
 */
#include "collector.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "catalog.h"
#include "fleet_policy.h"
#include "log.h"
#include "paths.h"
#include "route.h"
#include "storage.h"
#include "stream.h"
#include "testbreak.h"
#include "util.h"

/* The reasons a request is refused: the label of mimic_collector_rejects_total. */
enum reason {
	R_MALFORMED, R_NOT_FOUND, R_METHOD, R_TOO_LARGE, R_UNSIGNED, R_UNKNOWN_DEVICE,
	R_BAD_SIGNATURE, R_STALE, R_REPLAY, R_BAD_TOKEN, R_BAD_OFFSET, R_HASH_MISMATCH,
	R_CONFLICT, R_NO_SPACE, R_NO_POLICY, R_BAD_POLICY, R_INTERNAL, R_STORAGE, R_COUNT
};
static const char *const reason_names[R_COUNT] = {
	"malformed", "not_found", "method", "too_large", "unsigned", "unknown_device",
	"bad_signature", "stale", "replay", "bad_token", "bad_offset", "hash_mismatch",
	"conflict", "no_space", "no_policy", "bad_policy", "internal", "storage_unavailable",
};

/* A device counts in mimic_collector_devices_seen this long after its last heartbeat. */
#define COLLECTOR_SEEN_S 900  /* 15 minutes, as the help of devices_seen says */

struct collector {
	struct collector_config cfg;
	struct MHD_Daemon *daemon;
	struct catalog *cat;
	struct storage *store;
	char *incoming;
	char *tls_cert, *tls_key;
	/* Held by every call of the handler: the state below and the catalog are shared. */
	pthread_mutex_t lock;
	/* Counters for /metrics. */
	uint64_t uploads, upload_bytes, chunk_bytes, duplicates, enrolments, deletions, requests;
	uint64_t heartbeats;
	uint64_t rejects[R_COUNT];
	/* The stream (--nats): its publisher thread empties the catalog's outbox. */
	struct stream *stream;
	pthread_t publisher;
	int publisher_running, stopping;
	pthread_cond_t outbox_cv;    /* with lock: something was queued, or stop */
	uint64_t published, publish_errors;
	/* Bundles being stored right now, with the lock released (finish_upload). */
	char storing[COLLECTOR_THREADS_MAX][65];
	int n_storing;
};

/* One request in progress. */
struct req {
	struct route route;
	int refused;                 /* a response was queued before the body */
	char *body;
	size_t len;
	int64_t t0;
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static enum MHD_Result send_text(struct MHD_Connection *con, unsigned status, const char *type,
                                 const char *text, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)text,
	                                                            MHD_RESPMEM_MUST_COPY);
	enum MHD_Result r;
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	r = MHD_queue_response(con, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result send_json(struct MHD_Connection *con, unsigned status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	enum MHD_Result r = send_text(con, status, "application/json", s, strlen(s));
	free(s);
	json_decref(o);
	return r;
}

static void log_req(struct collector *c, struct req *q, const char *method, unsigned status,
                    const char *device, const char *reason)
{
	log_info("collector: request method=%s route=%s status=%u device=%s bytes=%zu ms=%lld "
	         "reason=%s", method, q->route.name ? q->route.name : "none", status,
	         device ? device : "-", q->len,
	         (long long)((util_now_mono_ns() - q->t0) / 1000000), reason ? reason : "-");
}

/* Refuses a request: counts the reason, logs, answers {"error","reason"}. */
static enum MHD_Result reject(struct collector *c, struct MHD_Connection *con, struct req *q,
                              const char *method, unsigned status, enum reason why,
                              const char *device, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));

static enum MHD_Result reject(struct collector *c, struct MHD_Connection *con, struct req *q,
                              const char *method, unsigned status, enum reason why,
                              const char *device, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->rejects[why]++;
	log_req(c, q, method, status, device, reason_names[why]);
	return send_json(con, status, json_pack("{s:s, s:s}", "error", msg, "reason",
	                                        reason_names[why]));
}

static enum MHD_Result ok(struct collector *c, struct MHD_Connection *con, struct req *q,
                          const char *method, unsigned status, const char *device, json_t *o)
{
	log_req(c, q, method, status, device, NULL);
	return send_json(con, status, o);
}

/* ---- the endpoints ---- */

/* Appends to buf (n bytes used of size) what fmt makes, cut at the end of buf. */
__attribute__((format(printf, 4, 5)))
static void append(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (*n >= size - 1)
		return;
	va_start(ap, fmt);
	r = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	if (r > 0)
		*n += (size_t)r < size - *n ? (size_t)r : size - 1 - *n;
}

static enum MHD_Result do_metrics(struct collector *c, struct MHD_Connection *con, struct req *q)
{
	const struct { const char *name, *type, *help; int64_t value; } m[] = {
		{ "uploads_total", "counter", "Bundles stored (each once).", (int64_t)c->uploads },
		{ "upload_bytes_total", "counter", "Bytes of the bundles stored.",
		  (int64_t)c->upload_bytes },
		{ "chunk_bytes_total", "counter", "Bytes of chunks received.", (int64_t)c->chunk_bytes },
		{ "duplicates_total", "counter", "Bundles announced that were stored already.",
		  (int64_t)c->duplicates },
		{ "enrolments_total", "counter", "Devices enrolled.", (int64_t)c->enrolments },
		{ "deletions_total", "counter", "Deletion requests carried out.",
		  (int64_t)c->deletions },
		{ "heartbeats_total", "counter", "Heartbeats of devices.", (int64_t)c->heartbeats },
		{ "requests_total", "counter", "Requests answered.", (int64_t)c->requests },
		{ "queue_depth", "gauge", "Uploads started and not finished.",
		  catalog_uploads_open(c->cat) },
		{ "devices", "gauge", "Devices enrolled and not revoked.", catalog_devices(c->cat) },
		{ "devices_seen", "gauge", "Devices whose last heartbeat came in the last 15 minutes.",
		  catalog_seen_since(c->cat, now_s() - COLLECTOR_SEEN_S) },
		{ "stream_published_total", "counter", "Bundles announced on the stream (--nats).",
		  (int64_t)c->published },
		{ "stream_errors_total", "counter", "Announcements the stream did not take (each "
		  "tried again).", (int64_t)c->publish_errors },
		{ "stream_pending", "gauge", "Announcements waiting in the outbox for the stream.",
		  c->stream != NULL ? catalog_outbox_count(c->cat) : 0 },
	};
	char buf[8192];
	size_t n = 0;

	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
		append(buf, sizeof buf, &n, "# HELP mimic_collector_%s %s\n"
		       "# TYPE mimic_collector_%s %s\nmimic_collector_%s %" PRId64 "\n", m[i].name,
		       m[i].help, m[i].name, m[i].type, m[i].name, m[i].value);
	append(buf, sizeof buf, &n, "# HELP mimic_collector_rejects_total Requests refused, by "
	       "reason.\n# TYPE mimic_collector_rejects_total counter\n");
	for (int i = 0; i < R_COUNT; i++)
		append(buf, sizeof buf, &n, "mimic_collector_rejects_total{reason=\"%s\"} %" PRIu64
		       "\n", reason_names[i], c->rejects[i]);
	log_req(c, q, "GET", 200, NULL, NULL);
	return send_text(con, 200, "text/plain; version=0.0.4", buf, n);
}

static enum MHD_Result do_enroll(struct collector *c, struct MHD_Connection *con, struct req *q)
{
	json_t *o = json_loadb(q->body ? q->body : "", q->len, JSON_REJECT_DUPLICATES, NULL);
	const char *token = NULL, *pkhex = NULL;
	unsigned char pk[FLEET_PK_BYTES];
	char id[FLEET_DEVICE_ID_SIZE], dpk[65], ppk[65], *cause = NULL;
	enum MHD_Result res;
	int r;

	if (o == NULL || json_unpack(o, "{s:s, s:s}", "token", &token, "public_key", &pkhex) != 0 ||
	    fleet_proto_unhex(pkhex, pk, sizeof pk) != 0) {
		json_decref(o);
		return reject(c, con, q, "POST", 400, R_MALFORMED, NULL, "an enrolment is "
		              "{\"token\": TOKEN, \"public_key\": 64 hex digits}");
	}
	r = catalog_enrol(c->cat, token, pk, now_s(), id, &cause);
	json_decref(o);
	if (r != 0) {
		res = reject(c, con, q, "POST", r == -EEXIST ? 409 : 403,
		             r == -EEXIST ? R_CONFLICT : R_BAD_TOKEN, NULL, "%s", cause);
		free(cause);
		return res;
	}
	c->enrolments++;
	catalog_event(c->cat, now_s(), "enrol", id, NULL);
	fleet_proto_hex(c->cfg.dataset_pk, FLEET_BOX_PK_BYTES, dpk);
	fleet_proto_hex(c->cfg.policy_pk, FLEET_PK_BYTES, ppk);
	return ok(c, con, q, "POST", 200, id,
	          json_pack("{s:s, s:s, s:s?}", "device", id, "dataset_public_key", dpk,
	                    "policy_public_key", c->cfg.has_policy_pk ? ppk : NULL));
}

static enum MHD_Result do_policy(struct collector *c, struct MHD_Connection *con, struct req *q,
                                 const char *device)
{
	char buf[FLEET_POLICY_MAX + 1], *cause = NULL;
	const char *body;
	size_t n, blen;
	uint64_t serial;
	FILE *f;
	enum MHD_Result res;

	if (c->cfg.policy_file == NULL)
		return reject(c, con, q, "GET", 404, R_NO_POLICY, device,
		              "this collector distributes no policy");
	f = fopen(c->cfg.policy_file, "rb");
	if (f == NULL)
		return reject(c, con, q, "GET", 500, R_INTERNAL, device, "the policy cannot be read");
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	/* Serving a policy that does not verify would only make every device refuse it. */
	if (n > FLEET_POLICY_MAX || (c->cfg.has_policy_pk &&
	    fleet_policy_verify(c->cfg.policy_pk, buf, n, &body, &blen, &serial, &cause) != 0)) {
		log_error("collector: the policy file %s does not verify: %s", c->cfg.policy_file,
		          cause ? cause : "too large");
		free(cause);
		res = reject(c, con, q, "GET", 500, R_BAD_POLICY, device,
		             "the collector's policy does not verify; the administrator must sign it");
		return res;
	}
	log_req(c, q, "GET", 200, device, NULL);
	return send_text(con, 200, "text/plain; charset=utf-8", buf, n);
}

/*
 * A device says it is alive and in which state ({"state": "recording", "paused",
 * "idle" or "stopped"}; other keys are ignored so that devices can add some). The
 * answer carries the collector's clock, so that a device sees its own drift before
 * its signed requests fall out of the window.
 */
static enum MHD_Result do_heartbeat(struct collector *c, struct MHD_Connection *con,
                                    struct req *q, const char *device)
{
	static const char *const states[] = { "recording", "paused", "idle", "stopped" };
	json_t *o = json_loadb(q->body ? q->body : "", q->len, JSON_REJECT_DUPLICATES, NULL);
	const char *state = NULL;
	size_t i = 0;
	int r;

	if (o != NULL && json_unpack(o, "{s:s}", "state", &state) == 0)
		while (i < sizeof states / sizeof states[0] && strcmp(state, states[i]) != 0)
			i++;
	if (state == NULL || i == sizeof states / sizeof states[0]) {
		json_decref(o);
		return reject(c, con, q, "POST", 400, R_MALFORMED, device, "a heartbeat is "
		              "{\"state\": \"recording\", \"paused\", \"idle\" or \"stopped\"}");
	}
	r = catalog_seen(c->cat, device, now_s(), states[i]);
	json_decref(o);
	if (r != 0)
		return reject(c, con, q, "POST", 500, R_INTERNAL, device, "the catalog cannot be "
		              "written");
	c->heartbeats++;
	return ok(c, con, q, "POST", 200, device, json_pack("{s:I}", "time", (json_int_t)now_s()));
}

static char *part_path(struct collector *c, const char *hash)
{
	return util_xasprintf("%s/%s.part", c->incoming, hash);
}

static int finish_upload(struct collector *c, const char *hash, const char *path, uint64_t size,
                         const char *device, const char *session);

/* The answer for a bundle finish_upload did not store, why being its reason. */
static enum MHD_Result not_stored(struct collector *c, struct MHD_Connection *con, struct req *q,
                                  const char *method, const char *device, int why)
{
	if (why == R_HASH_MISMATCH)
		return reject(c, con, q, method, 422, R_HASH_MISMATCH, device, "the bundle's bytes do "
		              "not hash to its address; it was discarded: send it again");
	return reject(c, con, q, method, 503, R_STORAGE, device, "the bundle could not be stored; "
	              "send its manifest again later");
}

static enum MHD_Result do_manifest(struct collector *c, struct MHD_Connection *con, struct req *q,
                                   const char *device)
{
	struct fleet_manifest m;
	char *cause = NULL, other[65];
	uint64_t received = 0;
	struct statvfs vfs;
	enum MHD_Result res;
	int r;

	if (fleet_manifest_parse(q->body ? q->body : "", q->len, &m, &cause) != 0) {
		res = reject(c, con, q, "POST", 400, R_MALFORMED, device, "%s", cause);
		free(cause);
		return res;
	}
	if (m.size > c->cfg.max_bundle && !testbreak("collector-no-bundle-cap"))
		return reject(c, con, q, "POST", 413, R_TOO_LARGE, device, "the bundle of %" PRIu64
		              " bytes is larger than this collector's cap of %" PRIu64 " bytes",
		              m.size, c->cfg.max_bundle);
	r = catalog_upload_begin(c->cat, device, &m, now_s(), &received, other);
	if (r == -EEXIST) {
		c->duplicates++;
		return ok(c, con, q, "POST", 200, device, json_pack("{s:s, s:I, s:b}", "bundle",
		          m.bundle, "received", (json_int_t)m.size, "complete", 1));
	}
	if (r == -EBUSY)
		return reject(c, con, q, "POST", 409, R_CONFLICT, device, "session %s was uploaded "
		              "already as bundle %s; delete it first to send another", m.session, other);
	if (r == -EPERM)
		return reject(c, con, q, "POST", 409, R_CONFLICT, device, "another upload of bundle "
		              "%s is in progress", m.bundle);
	if (r != 0)
		return reject(c, con, q, "POST", 500, R_INTERNAL, device, "the catalog failed");
	if (received == m.size) {
		/*
		 * Every byte came before but the storage did not take the bundle then (S3
		 * was down): the assembled file is stored now, or the device tries later.
		 */
		char *path = part_path(c, m.bundle);
		int why = finish_upload(c, m.bundle, path, m.size, device, m.session);

		free(path);
		if (why >= 0)
			return not_stored(c, con, q, "POST", device, why);
		return ok(c, con, q, "POST", 200, device, json_pack("{s:s, s:I, s:b}", "bundle",
		          m.bundle, "received", (json_int_t)m.size, "complete", 1));
	}
	if (received == 0 && statvfs(c->incoming, &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < m.size + c->cfg.min_free) {
		catalog_upload_end(c->cat, m.bundle, 0, now_s());
		return reject(c, con, q, "POST", 507, R_NO_SPACE, device, "the collector is short "
		              "of disk space; the device keeps the bundle and retries later");
	}
	return ok(c, con, q, "POST", 200, device, json_pack("{s:s, s:I, s:b}", "bundle", m.bundle,
	          "received", (json_int_t)received, "complete", 0));
}

/* The stream's name; its subjects are NAME.<device>, so streams of two collectors never overlap. */
static const char *stream_name(const struct collector *c)
{
	return c->cfg.stream_name != NULL ? c->cfg.stream_name : COLLECTOR_STREAM;
}

/*
 * Queues the announcement of a stored bundle in the catalog's outbox (under the
 * lock) and wakes the publisher: a builder consuming the stream learns of each
 * bundle once it is in the storage, never before.
 */
static void announce(struct collector *c, const char *hash, const char *device,
                     const char *session, uint64_t size)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "bundle", hash, "device", device,
	                      "session", session, "size", (json_int_t)size, "time",
	                      (json_int_t)now_s(), "storage", c->store->name);
	char *body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *subject = util_xasprintf("%s.%s", stream_name(c), device);

	if (catalog_outbox_add(c->cat, hash, subject, body) != 0)
		log_error("collector: cannot queue the announcement of bundle %s in the catalog", hash);
	pthread_cond_signal(&c->outbox_cv);
	free(subject);
	free(body);
	json_decref(o);
}

#define PUBLISH_BATCH 32

/*
 * The publisher thread: publishes the outbox's announcements in order, each
 * removed once the stream acknowledged it. When the stream is unreachable it
 * tries again a second later; nothing is lost meanwhile (they wait in the
 * catalog, and a restarted collector sends them).
 */
static void *publisher_main(void *arg)
{
	struct collector *c = arg;
	struct catalog_outbox batch[PUBLISH_BATCH];
	int failed = 0;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		int n = catalog_outbox_take(c->cat, batch, PUBLISH_BATCH), i;

		if (n <= 0 || failed) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			for (i = 0; i < n; i++) {
				free(batch[i].subject);
				free(batch[i].body);
			}
			failed = 0;
			pthread_cond_timedwait(&c->outbox_cv, &c->lock, &until);
			continue;
		}
		pthread_mutex_unlock(&c->lock);
		for (i = 0; i < n; i++) {
			char *cause = NULL;
			int r = failed ? -EAGAIN :
			        stream_publish(c->stream, batch[i].subject, batch[i].body,
			                       strlen(batch[i].body), batch[i].hash, NULL, &cause);

			pthread_mutex_lock(&c->lock);
			if (r == 0) {
				catalog_outbox_done(c->cat, batch[i].hash);
				c->published++;
			} else if (!failed) {
				c->publish_errors++;
				log_warn("collector: the stream did not take bundle %s (%s); it waits in "
				         "the outbox", batch[i].hash, cause != NULL ? cause : strerror(-r));
				failed = 1;
			}
			pthread_mutex_unlock(&c->lock);
			free(cause);
			free(batch[i].subject);
			free(batch[i].body);
		}
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Connects to the cluster, makes sure of the stream and starts the publisher. */
static int stream_start(struct collector *c, char **cause)
{
	struct stream_config sc = { 0 };
	char *subject = util_xasprintf("%s.>", stream_name(c));
	int r;

	sc.name = stream_name(c);
	sc.subject = subject;
	sc.replicas = c->cfg.stream_replicas > 0 ? c->cfg.stream_replicas : 1;
	/* A collector that died between the stream's acknowledgement and the outbox's
	 * delete sends the announcement again when it restarts: the stream drops it. */
	sc.duplicate_window_ms = 3600 * 1000;
	r = stream_open(c->cfg.nats, 0, &c->stream, cause);
	if (r == 0)
		r = stream_ensure(c->stream, &sc, cause);
	free(subject);
	if (r != 0)
		return r;
	if (pthread_create(&c->publisher, NULL, publisher_main, c) != 0)
		return util_fail(cause, -EAGAIN, "cannot start the stream's publisher thread");
	c->publisher_running = 1;
	return 0;
}

/* Checks the assembled file and stores it. 0, or the reason it was refused. */
static int finish_upload(struct collector *c, const char *hash, const char *path, uint64_t size,
                         const char *device, const char *session)
{
	char got[65], *cause = NULL, *details;
	uint64_t n;
	int bad, stored;

	/* A manifest sent again while this bundle is being stored: not a second time. */
	for (int i = 0; i < c->n_storing; i++)
		if (strcmp(c->storing[i], hash) == 0)
			return R_STORAGE;
	if (c->n_storing == COLLECTOR_THREADS_MAX)
		return R_STORAGE;
	snprintf(c->storing[c->n_storing++], sizeof c->storing[0], "%s", hash);
	/*
	 * The slow part, reading the file for its hash and handing it to the storage
	 * (an S3 PUT), runs without the lock, so that the chunks of other uploads go on
	 * meanwhile; this upload's catalog row stays as it is until it is done.
	 */
	pthread_mutex_unlock(&c->lock);
	bad = fleet_bundle_hash_file(path, got, &n, &cause) != 0 || n != size ||
	      strcmp(got, hash) != 0;
	if (bad) {
		free(cause);
		cause = NULL;
		unlink(path);
		stored = 0;
	} else {
		stored = storage_put(c->store, hash, path, &cause) == 0;
	}
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < c->n_storing; i++)
		if (strcmp(c->storing[i], hash) == 0) {
			memmove(c->storing[i], c->storing[c->n_storing - 1], sizeof c->storing[0]);
			c->n_storing--;
			break;
		}
	if (bad) {
		catalog_upload_end(c->cat, hash, 0, now_s());
		return R_HASH_MISMATCH;
	}
	if (!stored) {
		/* The assembled file stays: the device's next manifest stores it (do_manifest). */
		log_error("collector: the %s storage did not take bundle %s: %s", c->store->name, hash,
		          cause != NULL ? cause : "failed");
		free(cause);
		return R_STORAGE;
	}
	catalog_upload_end(c->cat, hash, 1, now_s());
	details = util_xasprintf("{\"bundle\":\"%s\",\"session\":\"%s\",\"size\":%" PRIu64 "}",
	                         hash, session, size);
	catalog_event(c->cat, now_s(), "upload", device, details);
	if (c->stream != NULL) {
		announce(c, hash, device, session, size);
	}
	free(details);
	c->uploads++;
	c->upload_bytes += size;
	return -1;
}

static enum MHD_Result do_chunk(struct collector *c, struct MHD_Connection *con, struct req *q,
                                const char *device)
{
	uint64_t size, received;
	char session[FLEET_SESSION_MAX + 1], *path;
	enum MHD_Result res;
	int fd, why;

	if (catalog_upload_get(c->cat, device, q->route.hash, &size, &received, session) != 0) {
		uint64_t have;
		if (storage_exists(c->store, q->route.hash, &have, NULL) == 1)
			return ok(c, con, q, "PUT", 200, device, json_pack("{s:I, s:b}", "received",
			          (json_int_t)have, "complete", 1));
		return reject(c, con, q, "PUT", 404, R_NOT_FOUND, device, "no upload of this bundle "
		              "was started: send its manifest first (POST /v1/bundles)");
	}
	if (q->route.offset != received) {
		/* The device resumes from "received": the one refusal that carries a value. */
		c->rejects[R_BAD_OFFSET]++;
		log_req(c, q, "PUT", 409, device, reason_names[R_BAD_OFFSET]);
		return send_json(con, 409, json_pack("{s:s, s:s, s:I}", "error", "the chunk is not "
		                 "at the offset the collector expects; continue from \"received\"",
		                 "reason", reason_names[R_BAD_OFFSET], "received", (json_int_t)received));
	}
	if (q->len == 0 || received + q->len > size)
		return reject(c, con, q, "PUT", 400, R_MALFORMED, device, "the chunk is empty or "
		              "goes past the bundle's size");
	path = part_path(c, q->route.hash);
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	/* Bytes past what the catalog counts are from a write cut off by a crash. */
	if (fd < 0 || ftruncate(fd, (off_t)received) != 0 ||
	    pwrite(fd, q->body, q->len, (off_t)received) != (ssize_t)q->len || fdatasync(fd) != 0) {
		if (fd >= 0)
			close(fd);
		free(path);
		return reject(c, con, q, "PUT", 507, R_NO_SPACE, device, "the collector cannot "
		              "store the chunk; the device retries later");
	}
	close(fd);
	received += q->len;
	c->chunk_bytes += q->len;
	catalog_upload_set(c->cat, q->route.hash, received);
	if (received == size) {
		why = finish_upload(c, q->route.hash, path, size, device, session);
		free(path);
		if (why >= 0)
			return not_stored(c, con, q, "PUT", device, why);
		res = ok(c, con, q, "PUT", 201, device, json_pack("{s:I, s:b}", "received",
		         (json_int_t)received, "complete", 1));
		return res;
	}
	free(path);
	return ok(c, con, q, "PUT", 200, device, json_pack("{s:I, s:b}", "received",
	          (json_int_t)received, "complete", 0));
}

static enum MHD_Result do_delete(struct collector *c, struct MHD_Connection *con, struct req *q,
                                 const char *device)
{
	char hash[65], *details, *cause = NULL;
	int n = catalog_delete_session(c->cat, device, q->route.session, now_s(), hash);
	char *part;

	if (n > 0 && storage_del(c->store, hash, &cause) != 0) {
		log_error("collector: %s", cause);
		free(cause);
	}
	if (fleet_bundle_is_hash(hash)) {
		part = part_path(c, hash);
		unlink(part);
		free(part);
	}
	details = util_xasprintf("{\"session\":\"%s\",\"bundles\":%d}", q->route.session, n);
	catalog_event(c->cat, now_s(), "delete", device, details);
	free(details);
	c->deletions++;
	return ok(c, con, q, "DELETE", 200, device, json_pack("{s:s, s:i}", "session",
	          q->route.session, "deleted", n));
}

/* Authenticates a signed request: 0 with *device set, or a queued refusal in *res. */
static int authenticate(struct collector *c, struct MHD_Connection *con, struct req *q,
                        const char *method, const char *url, char *device, enum MHD_Result *res)
{
	const char *hd = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Mimic-Device");
	const char *ht = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Mimic-Time");
	const char *hn = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Mimic-Nonce");
	const char *hs = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Mimic-Signature");
	struct fleet_req fr;
	unsigned char pk[FLEET_PK_BYTES];
	char *cause = NULL;
	int r;

	if (hd == NULL && ht == NULL && hn == NULL && hs == NULL) {
		*res = reject(c, con, q, method, 401, R_UNSIGNED, NULL, "the request is not signed: "
		              "enrol the device with `mimic enroll`");
		return -1;
	}
	if (fleet_proto_parse(hd, ht, hn, hs, &fr, &cause) != 0) {
		*res = reject(c, con, q, method, 400, R_MALFORMED, NULL, "%s", cause);
		free(cause);
		return -1;
	}
	if (catalog_device_key(c->cat, fr.device, pk) != 0) {
		*res = reject(c, con, q, method, 401, R_UNKNOWN_DEVICE, fr.device, "device %s is not "
		              "enrolled (or was revoked): enrol it with `mimic enroll URL --token T`",
		              fr.device);
		return -1;
	}
	r = fleet_proto_verify(pk, &fr, method, url, q->body, q->len, now_s(), &cause);
	if (r != 0) {
		*res = reject(c, con, q, method, 401, r == -ETIME ? R_STALE : R_BAD_SIGNATURE,
		              fr.device, "%s", cause);
		free(cause);
		return -1;
	}
	if (catalog_nonce_use(c->cat, fr.device, fr.nonce, fr.time, now_s()) != 0 &&
	    !testbreak("collector-accept-replay")) {
		*res = reject(c, con, q, method, 401, R_REPLAY, fr.device, "the request was sent "
		              "before (same nonce): a replay is refused");
		return -1;
	}
	strcpy(device, fr.device);
	return 0;
}

static enum MHD_Result handle_locked(void *cls, struct MHD_Connection *con, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **con_cls)
{
	struct collector *c = cls;
	struct req *q = *con_cls;
	char device[FLEET_DEVICE_ID_SIZE], *cause = NULL;
	enum MHD_Result res;
	int status;

	if (q == NULL) {
		const char *cl;
		q = util_xcalloc(1, sizeof *q);
		q->t0 = util_now_mono_ns();
		*con_cls = q;
		c->requests++;
		status = route_parse(method, url, &q->route, &cause);
		if (status != 0) {
			q->refused = 1;
			res = reject(c, con, q, method, (unsigned)status, status == 404 ? R_NOT_FOUND :
			             status == 405 ? R_METHOD : R_MALFORMED, NULL, "%s", cause);
			free(cause);
			return res;
		}
		cl = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Length");
		if (cl != NULL && (strlen(cl) > 15 || strtoull(cl, NULL, 10) > q->route.body_max)) {
			q->refused = 1;
			return reject(c, con, q, method, 413, R_TOO_LARGE, NULL, "the request body is "
			              "larger than %zu bytes", q->route.body_max);
		}
		return MHD_YES;
	}
	if (q->refused) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (q->len + *upload_data_size > q->route.body_max) {
			q->refused = 1;
			*upload_data_size = 0;
			return reject(c, con, q, method, 413, R_TOO_LARGE, NULL, "the request body is "
			              "larger than %zu bytes", q->route.body_max);
		}
		q->body = util_xrealloc(q->body, q->len + *upload_data_size + 1);
		memcpy(q->body + q->len, upload_data, *upload_data_size);
		q->len += *upload_data_size;
		q->body[q->len] = '\0';
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (q->route.is_signed && authenticate(c, con, q, method, url, device, &res) != 0)
		return res;
	switch (q->route.kind) {
	case ROUTE_HEALTH:
		return ok(c, con, q, method, 200, NULL, json_pack("{s:s, s:s, s:s}", "status", "ok",
		          "version", MIMIC_VERSION, "storage", c->store->name));
	case ROUTE_METRICS:
		return do_metrics(c, con, q);
	case ROUTE_ENROLL:
		return do_enroll(c, con, q);
	case ROUTE_POLICY:
		return do_policy(c, con, q, device);
	case ROUTE_MANIFEST:
		return do_manifest(c, con, q, device);
	case ROUTE_CHUNK:
		return do_chunk(c, con, q, device);
	case ROUTE_DELETE:
		return do_delete(c, con, q, device);
	case ROUTE_HEARTBEAT:
		return do_heartbeat(c, con, q, device);
	}
	return reject(c, con, q, method, 500, R_INTERNAL, NULL, "no handler");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *con, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
	struct collector *c = cls;
	enum MHD_Result res;

	pthread_mutex_lock(&c->lock);
	res = handle_locked(cls, con, url, method, version, upload_data, upload_data_size, con_cls);
	pthread_mutex_unlock(&c->lock);
	return res;
}

static void completed(void *cls, struct MHD_Connection *con, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	struct req *q = *con_cls;
	if (q != NULL) {
		free(q->body);
		free(q);
	}
	*con_cls = NULL;
}

static int read_small(const char *path, char **out, char **cause)
{
	FILE *f = fopen(path, "rb");
	char *b = util_xmalloc(65537);
	size_t n;

	if (f == NULL) {
		free(b);
		return util_fail(cause, -errno, "cannot read %s: %s", path, strerror(errno));
	}
	n = fread(b, 1, 65536, f);
	fclose(f);
	if (n == 65536) {
		free(b);
		return util_fail(cause, -E2BIG, "%s is larger than 64 KiB: not a PEM file", path);
	}
	b[n] = '\0';
	*out = b;
	return 0;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, int *loopback, char **cause)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	memset(ss, 0, sizeof *ss);
	if (colon == NULL || (size_t)(colon - s) >= sizeof host)
		return util_fail(cause, -EINVAL, "--listen %s: ADDR:PORT expected (e.g. "
		                 "0.0.0.0:8443 or [::1]:8443)", s);
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 0 || port > 65535 || colon[1] == '\0')
		return util_fail(cause, -EINVAL, "--listen %s: the port is not a number 0-65535", s);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		host[strlen(host) - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return util_fail(cause, -EINVAL, "--listen %s: not an IPv6 address", s);
		*loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return util_fail(cause, -EINVAL, "--listen %s: not an IPv4 address", s);
		*loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	return 0;
}

/*
 * Each connection is a descriptor: raises the soft limit towards the hard one so
 * that max connections, the catalog and the bundles being written fit.
 */
static void raise_fd_limit(unsigned max_connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_connections + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
		log_warn("collector: only %llu descriptors may be open; raise the limit (ulimit -n) "
		         "to serve %u connections", (unsigned long long)rl.rlim_cur, max_connections);
}

int collector_start(const struct collector_config *cfg, struct collector **out, int *port,
                    char **cause)
{
	struct collector *c = util_xcalloc(1, sizeof *c);
	struct sockaddr_storage ss;
	/* epoll where there is one: select would stop at 1,024 descriptors. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	char *db = NULL;
	int loopback = 0, r;

	c->cfg = *cfg;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->outbox_cv, NULL);
	if (c->cfg.max_connections == 0)
		c->cfg.max_connections = COLLECTOR_CONNECTIONS;
	raise_fd_limit(c->cfg.max_connections);
	if (c->cfg.threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		c->cfg.threads = n < 1 ? 1 : n > COLLECTOR_THREADS_MAX ? COLLECTOR_THREADS_MAX :
		                 (unsigned)n;
	}
	r = parse_listen(cfg->listen, &ss, &loopback, cause);
	if (r != 0)
		goto fail;
	if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
		r = util_fail(cause, -EINVAL, "give both --tls-cert and --tls-key, or neither");
		goto fail;
	}
	if (cfg->tls_cert == NULL && !loopback) {
		r = util_fail(cause, -EINVAL, "plain HTTP is allowed only on a loopback address: give "
		              "--tls-cert and --tls-key to listen on %s", cfg->listen);
		goto fail;
	}
	if (cfg->tls_cert != NULL) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			r = util_fail(cause, -ENOTSUP, "this libmicrohttpd was built without TLS");
			goto fail;
		}
		if ((r = read_small(cfg->tls_cert, &c->tls_cert, cause)) != 0 ||
		    (r = read_small(cfg->tls_key, &c->tls_key, cause)) != 0)
			goto fail;
		flags |= MHD_USE_TLS;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if ((r = paths_ensure_dir(cfg->data_dir, cause)) != 0)
		goto fail;
	c->incoming = util_xasprintf("%s/incoming", cfg->data_dir);
	if ((r = paths_ensure_dir(c->incoming, cause)) != 0)
		goto fail;
	db = util_xasprintf("%s/catalog.db", cfg->data_dir);
	if ((r = catalog_open(db, &c->cat, cause)) != 0)
		goto fail;
	r = cfg->s3 != NULL ? storage_open_s3(cfg->s3, c->cfg.max_bundle, &c->store, cause) :
	    storage_open_dir(cfg->data_dir, &c->store, cause);
	if (r != 0)
		goto fail;
	if (cfg->nats != NULL && (r = stream_start(c, cause)) != 0)
		goto fail;
	{
		struct MHD_OptionItem tls[] = {
			{ MHD_OPTION_HTTPS_MEM_CERT, 0, c->tls_cert },
			{ MHD_OPTION_HTTPS_MEM_KEY, 0, c->tls_key },
			{ MHD_OPTION_END, 0, NULL },
		};
		if (c->tls_cert == NULL)
			tls[0].option = MHD_OPTION_END;
		c->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, c,
		                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		                             MHD_OPTION_NOTIFY_COMPLETED, completed, c,
		                             MHD_OPTION_THREAD_POOL_SIZE, c->cfg.threads,
		                             MHD_OPTION_CONNECTION_LIMIT, c->cfg.max_connections,
		                             MHD_OPTION_CONNECTION_TIMEOUT, 60u,
		                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		                             MHD_OPTION_ARRAY, tls,
		                             MHD_OPTION_END);
	}
	if (c->daemon == NULL) {
		r = util_fail(cause, -EADDRINUSE, "cannot listen on %s (in use, not an address of "
		              "this machine, or a bad TLS certificate or key)", cfg->listen);
		goto fail;
	}
	info = MHD_get_daemon_info(c->daemon, MHD_DAEMON_INFO_BIND_PORT);
	*port = info ? info->port : 0;
	free(db);
	*out = c;
	return 0;
fail:
	free(db);
	collector_stop(c);
	return r;
}

void collector_stop(struct collector *c)
{
	if (c == NULL)
		return;
	if (c->daemon != NULL)
		MHD_stop_daemon(c->daemon);
	if (c->publisher_running) {
		pthread_mutex_lock(&c->lock);
		c->stopping = 1;
		pthread_cond_signal(&c->outbox_cv);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->publisher, NULL);
	}
	stream_close(c->stream);
	catalog_close(c->cat);
	storage_close(c->store);
	free(c->incoming);
	free(c->tls_cert);
	free(c->tls_key);
	pthread_cond_destroy(&c->outbox_cv);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
