/*
 * collector_load: many simulated devices against one mimic-collector, over its
 * real protocol (docs/FLEET.md): each device enrols with its own token and Ed25519
 * key, sends signed heartbeats, and some upload a real sealed bundle in chunks,
 * all at once. It prints, per phase, the count, the errors (by HTTP status), the
 * latency percentiles and the rate:
 *
 *   collector_load --url https://127.0.0.1:PORT --ca tls.crt --tokens FILE
 *                  --dataset-pub dataset.pub [--heartbeats N] [--uploaders M]
 *                  [--bundle SIZE] [--chunk SIZE] [--threads T] [--collector-pid PID]
 *
 * With --collector-pid (a collector on this machine) it also prints the CPU time
 * the collector spent in each phase and the requests per CPU-second of it: the
 * heartbeats per second one core of the collector serves.
 *
 * FILE holds one enrolment token per line (`mimic-collector token new --count`):
 * one device each. Exit 0 only when every request succeeded, so that
 * tests/integration/test_fleet_load.py can require "no loss"; the figures go into
 * bench/RESULTS.md (heartbeats per second per core, ingest MB/s).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "fleet_bundle.h"
#include "fleet_proto.h"
#include "util.h"

/* Most devices one run simulates, and most concurrent uploaders. */
#define DEVICES_MAX 100000
#define UPLOADERS_MAX 1000

struct device {
	unsigned char sk[FLEET_SK_BYTES];
	char id[FLEET_DEVICE_ID_SIZE];
	char token[65];
};

/* The latencies and errors of one phase, filled by its threads. */
struct phase {
	const char *name;
	pthread_mutex_t lock;
	double *ms;                  /* latency of each request, in milliseconds */
	size_t n, cap;
	uint64_t errors, bytes;
	long first_status;           /* the first error's HTTP status (0: transport) */
	char first_error[256];
};

static const char *url, *ca_file;
static struct device *devs;
static size_t n_devs;
static long heartbeats = 1, chunk = 64 * 1024, bundle_bytes = 256 * 1024;
static unsigned char dataset_pk[FLEET_BOX_PK_BYTES];
static char tmpdir[] = "/tmp/collector-load-XXXXXX";

static int die(const char *what)
{
	fprintf(stderr, "collector_load: %s\n", what);
	return 2;
}

static void phase_init(struct phase *p, const char *name)
{
	memset(p, 0, sizeof *p);
	p->name = name;
	pthread_mutex_init(&p->lock, NULL);
}

static void phase_note(struct phase *p, double ms, long status, size_t bytes, const char *body)
{
	pthread_mutex_lock(&p->lock);
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 1024;
		p->ms = util_xrealloc(p->ms, p->cap * sizeof *p->ms);
	}
	p->ms[p->n++] = ms;
	if (status >= 200 && status < 300) {
		p->bytes += bytes;
	} else if (p->errors++ == 0) {
		p->first_status = status;
		snprintf(p->first_error, sizeof p->first_error, "%s", body ? body : "");
	}
	pthread_mutex_unlock(&p->lock);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(const struct phase *p, double q)
{
	size_t i = (size_t)(q * (double)(p->n - 1) + 0.5);
	return p->n ? p->ms[i] : 0;
}

/* One line per phase: what a reader compares between runs. */
static void phase_print(struct phase *p, double seconds)
{
	qsort(p->ms, p->n, sizeof *p->ms, cmp_double);
	printf("%-9s requests=%zu errors=%" PRIu64 " p50=%.1fms p95=%.1fms p99=%.1fms max=%.1fms "
	       "rate=%.0f/s", p->name, p->n, p->errors, pct(p, 0.5), pct(p, 0.95), pct(p, 0.99),
	       pct(p, 1.0), seconds > 0 ? (double)p->n / seconds : 0);
	if (p->bytes > 0 && strcmp(p->name, "chunk") == 0)
		printf(" MB/s=%.1f", (double)p->bytes / 1e6 / seconds);
	printf("\n");
	if (p->errors)
		printf("%-9s first error: HTTP %ld %s\n", p->name, p->first_status, p->first_error);
}

/* The answer of one request, bounded. */
struct answer {
	char buf[1024];
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb, room = sizeof a->buf - 1 - a->len;

	memcpy(a->buf + a->len, ptr, n < room ? n : room);
	a->len += n < room ? n : room;
	a->buf[a->len] = '\0';
	return n;
}

/*
 * One request on the thread's connection (kept alive between requests), signed as
 * dev when dev is not NULL. Notes it in p; returns the HTTP status (0: transport
 * error) and leaves the answer in *a.
 */
static long request(CURL *h, struct phase *p, const struct device *dev, const char *method,
                    const char *path, const void *body, size_t len, struct answer *a)
{
	struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
	char line[256], *full = util_xasprintf("%s%s", url, path);
	struct fleet_sig s;
	int64_t t0 = util_now_mono_ns();
	long status = 0;

	hd = curl_slist_append(hd, "Expect:");
	if (dev != NULL) {
		fleet_proto_sign(dev->sk, dev->id, method, path, body, len, (int64_t)time(NULL), &s);
		snprintf(line, sizeof line, "X-Mimic-Device: %s", s.device);
		hd = curl_slist_append(hd, line);
		snprintf(line, sizeof line, "X-Mimic-Time: %s", s.time);
		hd = curl_slist_append(hd, line);
		snprintf(line, sizeof line, "X-Mimic-Nonce: %s", s.nonce);
		hd = curl_slist_append(hd, line);
		snprintf(line, sizeof line, "X-Mimic-Signature: %s", s.sig);
		hd = curl_slist_append(hd, line);
	}
	a->len = 0;
	a->buf[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, full);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	phase_note(p, (double)(util_now_mono_ns() - t0) / 1e6, status, len, a->buf);
	curl_slist_free_all(hd);
	free(full);
	return status;
}

static CURL *connection(void)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		return NULL;
	if (ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	return h;
}

/* Work of one thread: devices [from, to) of the run. */
struct share {
	size_t from, to;
	struct phase *p, *p2;
};

static void *enrol_thread(void *arg)
{
	struct share *sh = arg;
	CURL *h = connection();
	struct answer a;

	for (size_t i = sh->from; h != NULL && i < sh->to; i++) {
		unsigned char pk[FLEET_PK_BYTES];
		char pkhex[2 * FLEET_PK_BYTES + 1], body[256];
		int n;

		fleet_proto_keypair(pk, devs[i].sk);
		fleet_proto_device_id(pk, devs[i].id);
		fleet_proto_hex(pk, sizeof pk, pkhex);
		n = snprintf(body, sizeof body, "{\"token\":\"%s\",\"public_key\":\"%s\"}",
		             devs[i].token, pkhex);
		request(h, sh->p, NULL, "POST", "/v1/enroll", body, (size_t)n, &a);
	}
	curl_easy_cleanup(h);
	return NULL;
}

static void *heartbeat_thread(void *arg)
{
	static const char body[] = "{\"state\":\"recording\"}";
	struct share *sh = arg;
	CURL *h = connection();
	struct answer a;

	for (long k = 0; h != NULL && k < heartbeats; k++)
		for (size_t i = sh->from; i < sh->to; i++)
			request(h, sh->p, &devs[i], "POST", "/v1/heartbeat", body, sizeof body - 1, &a);
	curl_easy_cleanup(h);
	return NULL;
}

/* Seals a bundle of random bytes for uploader i: its path, hash and size. */
static int make_bundle(size_t i, char **path, char hash[65], uint64_t *size)
{
	char *dir = util_xasprintf("%s/in-%zu", tmpdir, i), *file, *cause = NULL;
	unsigned char *bytes = util_xmalloc((size_t)bundle_bytes);
	FILE *f;
	int r = -1;

	*path = util_xasprintf("%s/bundle-%zu", tmpdir, i);
	file = util_xasprintf("%s/shard-000000.tar", dir);
	randombytes_buf(bytes, (size_t)bundle_bytes);
	if (mkdir(dir, 0700) == 0 && (f = fopen(file, "wb")) != NULL) {
		r = fwrite(bytes, 1, (size_t)bundle_bytes, f) == (size_t)bundle_bytes ? 0 : -1;
		r = fclose(f) == 0 ? r : -1;
	}
	if (r == 0 && fleet_bundle_seal_dir(dir, *path, dataset_pk, 0, hash, size, &cause) != 0) {
		fprintf(stderr, "collector_load: %s\n", cause);
		r = -1;
	}
	unlink(file);
	rmdir(dir);
	free(cause);
	free(file);
	free(dir);
	free(bytes);
	return r;
}

static char *read_all(const char *path, uint64_t size)
{
	char *buf = util_xmalloc(size ? size : 1);
	FILE *f = fopen(path, "rb");

	if (f == NULL || fread(buf, 1, size, f) != size) {
		free(buf);
		buf = NULL;
	}
	if (f != NULL)
		fclose(f);
	return buf;
}

/* One uploader: its device announces a sealed bundle and sends it chunk by chunk. */
static void *upload_thread(void *arg)
{
	struct share *sh = arg;
	CURL *h = connection();
	struct answer a;
	char *path = NULL, *data = NULL, hash[65], body[256], p[160];
	uint64_t size = 0;
	int n;

	if (h == NULL || make_bundle(sh->from, &path, hash, &size) != 0 ||
	    (data = read_all(path, size)) == NULL) {
		phase_note(sh->p, 0, 0, 0, "the bundle could not be made");
		goto fail;
	}
	n = snprintf(body, sizeof body, "{\"v\":1,\"bundle\":\"%s\",\"size\":%" PRIu64
	             ",\"session\":\"load-%zu\"}", hash, size, sh->from);
	if (request(h, sh->p, &devs[sh->from], "POST", "/v1/bundles", body, (size_t)n, &a) != 200)
		goto fail;
	for (uint64_t off = 0; off < size; off += (uint64_t)chunk) {
		uint64_t len = size - off < (uint64_t)chunk ? size - off : (uint64_t)chunk;
		snprintf(p, sizeof p, "/v1/bundles/%s/%" PRIu64, hash, off);
		long st = request(h, sh->p2, &devs[sh->from], "PUT", p, data + off, (size_t)len, &a);
		if (st != 200 && st != 201)
			break;
	}
fail:
	if (path != NULL)
		unlink(path);
	free(path);
	free(data);
	curl_easy_cleanup(h);
	return NULL;
}

/*
 * Runs fn on n_threads threads sharing devices [0, n) evenly (uploaders: one
 * thread per device). Returns the wall-clock seconds.
 */
static double run(void *(*fn)(void *), size_t n, size_t n_threads, struct phase *p,
                  struct phase *p2)
{
	pthread_t *t = util_xcalloc(n_threads, sizeof *t);
	struct share *sh = util_xcalloc(n_threads, sizeof *sh);
	int64_t t0 = util_now_mono_ns();
	size_t started = 0;

	for (size_t i = 0; i < n_threads; i++) {
		sh[i].from = n * i / n_threads;
		sh[i].to = n * (i + 1) / n_threads;
		sh[i].p = p;
		sh[i].p2 = p2;
		if (pthread_create(&t[i], NULL, fn, &sh[i]) != 0)
			break;
		started++;
	}
	for (size_t i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	if (started < n_threads)
		phase_note(p, 0, 0, 0, "a thread could not be started");
	free(t);
	free(sh);
	return (double)(util_now_mono_ns() - t0) / 1e9;
}

static int read_tokens(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[128];

	if (f == NULL)
		return -errno;
	devs = util_xcalloc(DEVICES_MAX, sizeof *devs);
	while (n_devs < DEVICES_MAX && fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strlen(line) == 64)
			memcpy(devs[n_devs++].token, line, 65);
	}
	fclose(f);
	return 0;
}

/* User + system CPU seconds of process pid so far (from /proc), or -1. */
static double proc_cpu(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The fields after the command name, which may hold spaces: utime is the 14th. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The collector's CPU in a phase, and its requests per CPU-second. */
static void print_server_cpu(const char *name, long pid, double before, size_t requests)
{
	double used = proc_cpu(pid) - before;

	if (pid <= 0 || before < 0)
		return;
	printf("%-9s collector_cpu=%.2fs per_cpu_second=%.0f\n", name, used,
	       used > 0 ? (double)requests / used : 0);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' }, { "ca", required_argument, NULL, 'c' },
		{ "tokens", required_argument, NULL, 't' },
		{ "dataset-pub", required_argument, NULL, 'd' },
		{ "heartbeats", required_argument, NULL, 'h' },
		{ "uploaders", required_argument, NULL, 'm' },
		{ "bundle", required_argument, NULL, 'b' }, { "chunk", required_argument, NULL, 'k' },
		{ "threads", required_argument, NULL, 'T' },
		{ "collector-pid", required_argument, NULL, 'p' }, { NULL, 0, NULL, 0 },
	};
	const char *tokens = NULL, *pub = NULL;
	long uploaders = 0, threads = 8, pid = 0;
	struct phase enrol, beat, manifest, chunks;
	char *cause = NULL;
	double s, cpu, server;
	int ch, bad;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int64_t v = 0;
		switch (ch) {
		case 'u': url = optarg; break;
		case 'c': ca_file = optarg; break;
		case 't': tokens = optarg; break;
		case 'd': pub = optarg; break;
		case 'h': heartbeats = atol(optarg); break;
		case 'm': uploaders = atol(optarg); break;
		case 'T': threads = atol(optarg); break;
		case 'p': pid = atol(optarg); break;
		case 'b':
		case 'k':
			if (util_parse_size(optarg, &v) != 0 || v <= 0 || v > (1 << 30))
				return die("--bundle and --chunk take a size such as 64K or 1M");
			*(ch == 'b' ? &bundle_bytes : &chunk) = (long)v;
			break;
		default:
			return die("usage: collector_load --url URL [--ca FILE] --tokens FILE "
			           "--dataset-pub FILE [--heartbeats N] [--uploaders M] [--bundle SIZE] "
			           "[--chunk SIZE] [--threads T] [--collector-pid PID]");
		}
	}
	if (url == NULL || tokens == NULL || pub == NULL)
		return die("--url, --tokens and --dataset-pub are needed");
	if (heartbeats < 0 || threads < 1 || threads > 256 || uploaders < 0 ||
	    uploaders > UPLOADERS_MAX || chunk > FLEET_CHUNK_BYTES)
		return die("--heartbeats >= 0, --threads 1..256, --uploaders 0..1000, "
		           "--chunk at most 1M");
	if (fleet_proto_init() != 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return die("libsodium or libcurl cannot start");
	if (fleet_proto_key_load(pub, dataset_pk, sizeof dataset_pk, 0, &cause) != 0)
		return die(cause);
	if (read_tokens(tokens) != 0 || n_devs == 0)
		return die("--tokens: a file of enrolment tokens, one per line, is needed");
	if ((size_t)uploaders > n_devs)
		return die("--uploaders: more uploaders than devices (tokens)");
	if (mkdtemp(tmpdir) == NULL)
		return die("cannot make a temporary directory");

	printf("devices=%zu heartbeats_each=%ld uploaders=%ld bundle=%ld chunk=%ld threads=%ld\n",
	       n_devs, heartbeats, uploaders, bundle_bytes, chunk, threads);
	phase_init(&enrol, "enrol");
	phase_init(&beat, "heartbeat");
	phase_init(&manifest, "manifest");
	phase_init(&chunks, "chunk");
	server = proc_cpu(pid);
	s = run(enrol_thread, n_devs, (size_t)threads, &enrol, NULL);
	phase_print(&enrol, s);
	print_server_cpu("enrol", pid, server, enrol.n);
	cpu = cpu_seconds();
	server = proc_cpu(pid);
	s = run(heartbeat_thread, n_devs, (size_t)threads, &beat, NULL);
	phase_print(&beat, s);
	print_server_cpu("heartbeat", pid, server, beat.n);
	printf("heartbeat client_cpu=%.2fs\n", cpu_seconds() - cpu);
	if (uploaders > 0) {
		server = proc_cpu(pid);
		s = run(upload_thread, (size_t)uploaders, (size_t)uploaders, &manifest, &chunks);
		phase_print(&manifest, s);
		phase_print(&chunks, s);
		print_server_cpu("upload", pid, server, manifest.n + chunks.n);
		printf("upload    bundles=%ld bytes=%" PRIu64 " seconds=%.2f\n", uploaders,
		       chunks.bytes, s);
	}
	bad = enrol.errors || beat.errors || manifest.errors || chunks.errors ||
	      manifest.n != (size_t)uploaders;
	rmdir(tmpdir);
	curl_global_cleanup();
	free(enrol.ms);
	free(beat.ms);
	free(manifest.ms);
	free(chunks.ms);
	free(devs);
	return bad ? 1 : 0;
}
