/*
 * mimic-collector: the organisation's end of the fleet (docs/FLEET.md). It links
 * base, store, fleet and collector only: no X library (tests/integration/
 * test_fleet.py checks with ldd); the fleet's engine clients, S3 (libcurl) and
 * NATS JetStream (libnats), for --s3 and --nats. Subcommands: serve, token new, keys new,
 * policy sign, list, audit, revoke, build-dataset.
 */
#include <errno.h>
#include <pthread.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "builder.h"
#include "catalog.h"
#include "collector.h"
#include "fleet_bundle.h"
#include "fleet_policy.h"
#include "fleet_proto.h"
#include "log.h"
#include "paths.h"
#include "s3.h"
#include "util.h"

#define NAME "mimic-collector"

static int fail(char *cause)
{
	fprintf(stderr, NAME ": %s\n", cause ? cause : "failed");
	free(cause);
	return 1;
}

static int usage_error(const char *usage)
{
	fprintf(stderr, "usage: %s", usage);
	return 2;
}

/* A size (util_parse_size) into an unsigned field. */
static int parse_size(const char *s, uint64_t *out)
{
	int64_t v;

	if (util_parse_size(s, &v) != 0)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

/* Most tokens one `token new --count` makes. */
#define TOKENS_MAX 100000

/*
 * The storage engine options that serve and build-dataset share: --s3 ENDPOINT
 * with --s3-bucket (and --s3-region); the credentials come from the environment
 * as for any S3 tool (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never from the
 * command line, where every user of the machine could read them.
 */
#define S3_OPTIONS \
	{ "s3", required_argument, NULL, O_S3 }, \
	{ "s3-bucket", required_argument, NULL, O_S3_BUCKET }, \
	{ "s3-region", required_argument, NULL, O_S3_REGION }
enum { O_S3 = 200, O_S3_BUCKET, O_S3_REGION };
#define S3_USAGE "       [--s3 ENDPOINT --s3-bucket NAME [--s3-region REGION]]\n"

/* Reads the whole number arg of an option into *out: 0, or -1 when not one in lo..hi. */
static int number_option(const char *arg, long lo, long hi, long *out)
{
	char *end;
	long n = strtol(arg, &end, 10);

	if (end == arg || *end != '\0' || n < lo || n > hi)
		return -1;
	*out = n;
	return 0;
}

/* Takes option ch if it is one of S3_OPTIONS: 1 taken, 0 not one of them. */
static int s3_option(int ch, const char *arg, struct s3_config *s3)
{
	switch (ch) {
	case O_S3: s3->endpoint = arg; return 1;
	case O_S3_BUCKET: s3->bucket = arg; return 1;
	case O_S3_REGION: s3->region = arg; return 1;
	default: return 0;
	}
}

/* After the options: 0 without --s3, 1 with a complete S3 configuration, else -1 (said). */
static int s3_finish(struct s3_config *s3)
{
	if (s3->endpoint == NULL && s3->bucket == NULL && s3->region == NULL)
		return 0;
	if (s3->endpoint == NULL || s3->bucket == NULL) {
		fprintf(stderr, NAME ": give --s3 ENDPOINT and --s3-bucket NAME together\n");
		return -1;
	}
	s3->access_key = getenv("AWS_ACCESS_KEY_ID");
	s3->secret_key = getenv("AWS_SECRET_ACCESS_KEY");
	if (s3->access_key == NULL || s3->access_key[0] == '\0' || s3->secret_key == NULL ||
	    s3->secret_key[0] == '\0') {
		fprintf(stderr, NAME ": --s3: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
		        "environment to the bucket's credentials\n");
		return -1;
	}
	return 1;
}

static const char serve_usage[] =
	NAME " serve --listen ADDR:PORT --data DIR --dataset-pub FILE\n"
	"       [--tls-cert FILE --tls-key FILE] [--policy FILE --policy-pub FILE]\n"
	"       [--max-bundle SIZE] [--min-free SIZE] [--threads N]\n"
	"       [--max-connections N]\n"
	S3_USAGE
	"       [--nats URL[,URL...] [--stream NAME] [--stream-replicas N]]\n";

static int cmd_serve(int argc, char **argv)
{
	enum { O_LISTEN = 256, O_DATA, O_CERT, O_KEY, O_DPUB, O_PPUB, O_POLICY, O_MAX, O_FREE,
	       O_THREADS, O_CONNS, O_NATS, O_STREAM, O_REPLICAS };
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "data", required_argument, NULL, O_DATA },
		{ "tls-cert", required_argument, NULL, O_CERT },
		{ "tls-key", required_argument, NULL, O_KEY },
		{ "dataset-pub", required_argument, NULL, O_DPUB },
		{ "policy-pub", required_argument, NULL, O_PPUB },
		{ "policy", required_argument, NULL, O_POLICY },
		{ "max-bundle", required_argument, NULL, O_MAX },
		{ "min-free", required_argument, NULL, O_FREE },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "max-connections", required_argument, NULL, O_CONNS },
		{ "nats", required_argument, NULL, O_NATS },
		{ "stream", required_argument, NULL, O_STREAM },
		{ "stream-replicas", required_argument, NULL, O_REPLICAS },
		S3_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct collector_config cfg = { 0 };
	struct s3_config s3 = { 0 };
	const char *dpub = NULL, *ppub = NULL;
	struct collector *c = NULL;
	char *cause = NULL;
	sigset_t set;
	int ch, port, sig;

	cfg.max_bundle = 2ULL * 1024 * 1024 * 1024;
	cfg.min_free = 1024ULL * 1024 * 1024;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (s3_option(ch, optarg, &s3))
			continue;
		switch (ch) {
		case O_LISTEN: cfg.listen = optarg; break;
		case O_NATS: cfg.nats = optarg; break;
		case O_STREAM: cfg.stream_name = optarg; break;
		case O_REPLICAS: {
			long n;
			if (number_option(optarg, 1, 5, &n) != 0)
				return fail(util_xasprintf("--stream-replicas %s: a number from 1 to 5 (at "
				                           "most the cluster's nodes)", optarg));
			cfg.stream_replicas = (int)n;
			break;
		}
		case O_DATA: cfg.data_dir = optarg; break;
		case O_CERT: cfg.tls_cert = optarg; break;
		case O_KEY: cfg.tls_key = optarg; break;
		case O_DPUB: dpub = optarg; break;
		case O_PPUB: ppub = optarg; break;
		case O_POLICY: cfg.policy_file = optarg; break;
		case O_MAX:
			if (parse_size(optarg, &cfg.max_bundle) != 0)
				return fail(util_xasprintf("--max-bundle %s: a size such as 500M or 2G",
				                           optarg));
			break;
		case O_FREE:
			if (parse_size(optarg, &cfg.min_free) != 0)
				return fail(util_xasprintf("--min-free %s: a size such as 500M or 2G",
				                           optarg));
			break;
		case O_THREADS:
		case O_CONNS: {
			long top = ch == O_THREADS ? COLLECTOR_THREADS_MAX : COLLECTOR_CONNECTIONS_MAX;
			long n;
			if (number_option(optarg, 1, top, &n) != 0)
				return fail(util_xasprintf("--%s %s: a number from 1 to %ld",
				                           ch == O_THREADS ? "threads" : "max-connections",
				                           optarg, top));
			*(ch == O_THREADS ? &cfg.threads : &cfg.max_connections) = (unsigned)n;
			break;
		}
		default: return usage_error(serve_usage);
		}
	}
	if (cfg.listen == NULL || cfg.data_dir == NULL || dpub == NULL || optind != argc)
		return usage_error(serve_usage);
	if ((cfg.policy_file == NULL) != (ppub == NULL))
		return fail(util_xstrdup("give --policy and --policy-pub together: devices check the "
		                         "policy's signature with the public key"));
	switch (s3_finish(&s3)) {
	case 1: cfg.s3 = &s3; break;
	case 0: break;
	default: return 2;
	}
	if ((cfg.stream_name != NULL || cfg.stream_replicas != 0) && cfg.nats == NULL)
		return fail(util_xstrdup("--stream and --stream-replicas need --nats URL"));
	if (fleet_proto_key_load(dpub, cfg.dataset_pk, FLEET_BOX_PK_BYTES, 0, &cause) != 0)
		return fail(cause);
	if (ppub != NULL) {
		if (fleet_proto_key_load(ppub, cfg.policy_pk, FLEET_PK_BYTES, 0, &cause) != 0)
			return fail(cause);
		cfg.has_policy_pk = 1;
	}
	/* The signals that stop the server are taken by sigwait, in this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (collector_start(&cfg, &c, &port, &cause) != 0)
		return fail(cause);
	printf("listening on %s port %d (%s)\n", cfg.listen, port, cfg.tls_cert ? "https" : "http");
	fflush(stdout);
	log_info("collector: started listen=%s port=%d tls=%s data=%s storage=%s stream=%s",
	         cfg.listen, port, cfg.tls_cert ? "on" : "off", cfg.data_dir,
	         cfg.s3 != NULL ? "s3" : "dir", cfg.nats != NULL ? "nats" : "none");
	sigwait(&set, &sig);
	log_info("collector: stopping on signal %d", sig);
	collector_stop(c);
	return 0;
}

static int open_catalog(const char *data, struct catalog **cat, char **cause)
{
	char *db = util_xasprintf("%s/catalog.db", data);
	int r;
	if (access(data, F_OK) != 0) {
		free(db);
		return util_fail(cause, -ENOENT, "%s does not exist: give the --data directory of "
		                 "`mimic-collector serve`", data);
	}
	r = catalog_open(db, cat, cause);
	free(db);
	return r;
}

/*
 * The options of the commands that take --data (and, for `token new`, --ttl and
 * --count; NULL where a command has none). Returns -1 to go on, else the exit status.
 */
static int data_only(int argc, char **argv, const char *usage, const char **data,
                     const char **ttl, const char **count)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "ttl", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'd')
			*data = optarg;
		else if (ch == 't' && ttl != NULL)
			*ttl = optarg;
		else if (ch == 'n' && count != NULL)
			*count = optarg;
		else
			return usage_error(usage);
	}
	return *data == NULL ? usage_error(usage) : -1;
}

static int cmd_token(int argc, char **argv)
{
	static const char usage[] = NAME " token new --data DIR [--ttl DURATION] [--count N]\n";
	const char *data = NULL, *ttl = "24h", *count = "1";
	struct catalog *cat = NULL;
	char tok[65], *cause = NULL, *end;
	int64_t ns;
	long n;
	int r;

	if (argc < 2 || strcmp(argv[1], "new") != 0)
		return usage_error(usage);
	if ((r = data_only(argc - 1, argv + 1, usage, &data, &ttl, &count)) >= 0)
		return r;
	if (util_parse_duration(ttl, &ns) != 0 || ns <= 0)
		return fail(util_xasprintf("--ttl %s: a duration such as 30m, 24h or 7d", ttl));
	errno = 0;
	n = strtol(count, &end, 10);
	if (errno != 0 || end == count || *end != '\0' || n < 1 || n > TOKENS_MAX)
		return fail(util_xasprintf("--count %s: a number of tokens from 1 to %d", count,
		                           TOKENS_MAX));
	if (open_catalog(data, &cat, &cause) != 0)
		return fail(cause);
	/* One transaction for many: a fleet's tokens in seconds, not one sync each. */
	catalog_begin(cat);
	for (long i = 0; i < n; i++) {
		if (catalog_token_new(cat, (int64_t)time(NULL), ns / 1000000000, tok, &cause) != 0) {
			catalog_rollback(cat);
			catalog_close(cat);
			return fail(cause);
		}
		catalog_event(cat, (int64_t)time(NULL), "token", NULL, NULL);
		printf("%s\n", tok);
	}
	if (catalog_commit(cat, &cause) != 0) {
		catalog_close(cat);
		return fail(cause);
	}
	catalog_close(cat);
	return fflush(stdout) == 0 ? 0 : fail(util_xasprintf("cannot write the tokens: %s",
	                                                      strerror(errno)));
}

static int cmd_keys(int argc, char **argv)
{
	static const char usage[] = NAME " keys new --out DIR\n";
	unsigned char bpk[FLEET_BOX_PK_BYTES], bsk[FLEET_BOX_SK_BYTES];
	unsigned char spk[FLEET_PK_BYTES], ssk[FLEET_SK_BYTES];
	char *cause = NULL, *p[4];
	const char *names[4] = { "dataset.pub", "dataset.key", "policy.pub", "policy.key" };
	int r = 0;

	if (argc != 4 || strcmp(argv[1], "new") != 0 || strcmp(argv[2], "--out") != 0)
		return usage_error(usage);
	fleet_bundle_keypair(bpk, bsk);
	fleet_proto_keypair(spk, ssk);
	for (int i = 0; i < 4; i++)
		p[i] = util_xasprintf("%s/%s", argv[3], names[i]);
	if (fleet_proto_key_save(p[0], bpk, sizeof bpk, &cause) != 0 ||
	    fleet_proto_key_save(p[1], bsk, sizeof bsk, &cause) != 0 ||
	    fleet_proto_key_save(p[2], spk, sizeof spk, &cause) != 0 ||
	    fleet_proto_key_save(p[3], ssk, sizeof ssk, &cause) != 0)
		r = fail(cause);
	else
		printf("wrote %s, %s (the dataset builder's; keep it offline), %s, %s (the "
		       "policy signer's; keep it offline)\n", p[0], p[1], p[2], p[3]);
	sodium_memzero(bsk, sizeof bsk);
	sodium_memzero(ssk, sizeof ssk);
	for (int i = 0; i < 4; i++)
		free(p[i]);
	return r;
}

static int cmd_policy(int argc, char **argv)
{
	static const char usage[] = NAME " policy sign --key FILE --serial N --out FILE POLICY\n";
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "serial", required_argument, NULL, 's' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *key = NULL, *out = NULL;
	unsigned char sk[FLEET_SK_BYTES];
	char buf[FLEET_POLICY_MAX], *signed_ = NULL, *cause = NULL, *end;
	unsigned long long serial = 0;
	size_t n, len;
	int ch, have_serial = 0, r;
	FILE *f;

	if (argc < 2 || strcmp(argv[1], "sign") != 0)
		return usage_error(usage);
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'k')
			key = optarg;
		else if (ch == 'o')
			out = optarg;
		else if (ch == 's') {
			errno = 0;
			serial = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] < '0' || optarg[0] > '9')
				return fail(util_xasprintf("--serial %s: a whole number, raised with each "
				                           "policy", optarg));
			have_serial = 1;
		} else
			return usage_error(usage);
	}
	if (key == NULL || out == NULL || !have_serial || optind != argc - 1)
		return usage_error(usage);
	f = fopen(argv[optind], "rb");
	if (f == NULL)
		return fail(util_xasprintf("cannot read %s: %s", argv[optind], strerror(errno)));
	n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	if (fleet_proto_key_load(key, sk, sizeof sk, 1, &cause) != 0)
		return fail(cause);
	r = fleet_policy_sign(sk, serial, buf, n, &signed_, &len, &cause);
	sodium_memzero(sk, sizeof sk);
	if (r != 0)
		return fail(util_xasprintf("%s: %s", argv[optind], cause));
	r = paths_write_file(out, signed_, len, PATHS_REPLACE, &cause);
	free(signed_);
	if (r != 0)
		return fail(cause);
	printf("signed %s with serial %llu into %s\n", argv[optind], serial, out);
	return 0;
}

static int print_bundle(const struct catalog_bundle *b, void *arg)
{
	printf("{\"bundle\":\"%s\",\"device\":\"%s\",\"session\":\"%s\",\"size\":%" PRIu64
	       ",\"stored\":%" PRId64 "}\n", b->hash, b->device, b->session, b->size, b->stored);
	return 0;
}

static int print_line(const char *json, void *arg)
{
	printf("%s\n", json);
	return 0;
}

static int cmd_list(int argc, char **argv, int events)
{
	const char *usage = events ? NAME " audit --data DIR\n" : NAME " list --data DIR\n";
	const char *data = NULL;
	struct catalog *cat = NULL;
	char *cause = NULL;
	int r;

	if ((r = data_only(argc, argv, usage, &data, NULL, NULL)) >= 0)
		return r;
	if (open_catalog(data, &cat, &cause) != 0)
		return fail(cause);
	if (events)
		catalog_events(cat, print_line, NULL);
	else
		catalog_foreach(cat, print_bundle, NULL);
	catalog_close(cat);
	return 0;
}

static int cmd_revoke(int argc, char **argv)
{
	static const char usage[] = NAME " revoke --data DIR DEVICE\n";
	const char *data = NULL;
	struct catalog *cat = NULL;
	char *cause = NULL;
	int r;

	if ((r = data_only(argc, argv, usage, &data, NULL, NULL)) >= 0)
		return r;
	if (optind != argc - 1)
		return usage_error(usage);
	if (open_catalog(data, &cat, &cause) != 0 ||
	    catalog_device_revoke(cat, argv[optind], (int64_t)time(NULL), &cause) != 0) {
		catalog_close(cat);
		return fail(cause);
	}
	catalog_event(cat, (int64_t)time(NULL), "revoke", argv[optind], NULL);
	catalog_close(cat);
	printf("revoked %s\n", argv[optind]);
	return 0;
}

/* Splits s3://BUCKET[/PREFIX] into its bucket and a prefix ending in '/' (or ""). */
static int parse_s3_url(const char *url, char **bucket, char **prefix)
{
	const char *b = url + 5, *slash = strchr(b, '/');
	size_t blen = slash != NULL ? (size_t)(slash - b) : strlen(b);

	if (strncmp(url, "s3://", 5) != 0 || blen == 0)
		return -1;
	*bucket = util_xasprintf("%.*s", (int)blen, b);
	if (slash == NULL || slash[1] == '\0')
		*prefix = util_xstrdup("");
	else
		*prefix = util_xasprintf("%s%s", slash + 1,
		                         slash[strlen(slash) - 1] == '/' ? "" : "/");
	return 0;
}

static int cmd_build(int argc, char **argv)
{
	static const char usage[] =
		NAME " build-dataset --data DIR --key dataset.key --out DIR\n"
		S3_USAGE
		"       " NAME " build-dataset --key dataset.key --out s3://BUCKET/PREFIX\n"
		"       --s3 ENDPOINT --s3-bucket NAME --nats URL[,URL...] [--stream NAME]\n"
		"       [--durable NAME] [--idle SECONDS]\n";
	enum { O_NATS = 300, O_STREAM, O_DURABLE, O_IDLE };
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "out", required_argument, NULL, 'o' },
		{ "nats", required_argument, NULL, O_NATS },
		{ "stream", required_argument, NULL, O_STREAM },
		{ "durable", required_argument, NULL, O_DURABLE },
		{ "idle", required_argument, NULL, O_IDLE },
		S3_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *key = NULL, *out = NULL;
	struct builder_stream_opts so = { 0 };
	struct s3_config s3 = { 0 };
	unsigned char pk[FLEET_BOX_PK_BYTES], sk[FLEET_BOX_SK_BYTES];
	struct builder_counts n;
	char *cause = NULL, *bucket = NULL, *prefix = NULL;
	int ch, r, to_s3;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (s3_option(ch, optarg, &s3))
			continue;
		switch (ch) {
		case 'd': data = optarg; break;
		case 'k': key = optarg; break;
		case 'o': out = optarg; break;
		case O_NATS: so.nats = optarg; break;
		case O_STREAM: so.stream = optarg; break;
		case O_DURABLE: so.durable = optarg; break;
		case O_IDLE: {
			long v;
			if (number_option(optarg, 1, 86400, &v) != 0)
				return fail(util_xasprintf("--idle %s: seconds from 1 to 86400", optarg));
			so.idle_ms = (int64_t)v * 1000;
			break;
		}
		default: return usage_error(usage);
		}
	}
	if (key == NULL || out == NULL || optind != argc)
		return usage_error(usage);
	to_s3 = strncmp(out, "s3://", 5) == 0;
	if (!to_s3 && data == NULL)
		return usage_error(usage);
	if (!to_s3 && (so.nats != NULL || so.stream != NULL || so.durable != NULL || so.idle_ms))
		return fail(util_xstrdup("--nats, --stream, --durable and --idle build from the "
		                         "stream into --out s3://BUCKET/PREFIX"));
	r = s3_finish(&s3);
	if (r < 0)
		return 2;
	if (to_s3 && (r != 1 || so.nats == NULL))
		return fail(util_xstrdup("--out s3://...: the shards of the bundles announced on the "
		                         "collector's stream; give --nats URL and the collector's "
		                         "--s3 ENDPOINT --s3-bucket NAME"));
	if (to_s3 && parse_s3_url(out, &bucket, &prefix) != 0)
		return fail(util_xasprintf("--out %s: s3://BUCKET or s3://BUCKET/PREFIX", out));
	if (fleet_proto_key_load(key, sk, sizeof sk, 1, &cause) != 0) {
		free(bucket);
		free(prefix);
		return fail(cause);
	}
	crypto_scalarmult_base(pk, sk);
	if (to_s3) {
		so.s3 = &s3;
		so.out_bucket = bucket;
		so.out_prefix = prefix;
		r = builder_consume(&so, pk, sk, &n, &cause);
	} else {
		r = builder_run(data, r == 1 ? &s3 : NULL, pk, sk, out, &n, &cause);
	}
	sodium_memzero(sk, sizeof sk);
	free(bucket);
	free(prefix);
	if (r != 0)
		return fail(cause);
	if (to_s3)
		printf("%d bundles opened (%d files), %d no longer stored, %d failed\n", n.bundles,
		       n.files, n.skipped, n.failed);
	else
		printf("%d bundles opened (%d files), %d built before, %d failed\n", n.bundles,
		       n.files, n.skipped, n.failed);
	return n.failed > 0 ? 1 : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: " NAME " COMMAND [OPTIONS]\n"
	        "  serve          serve devices: enrolment, signed policy, uploads (docs/FLEET.md)\n"
	        "  token new      print a one-time enrolment token\n"
	        "  keys new       make the organisation's dataset and policy key pairs\n"
	        "  policy sign    sign a policy.conf for distribution\n"
	        "  list           print the stored bundles as JSON Lines\n"
	        "  audit          print the collector's audit trail as JSON Lines\n"
	        "  revoke         refuse a device's requests from now on\n"
	        "  build-dataset  open the stored bundles into WebDataset shards\n");
}

int main(int argc, char **argv)
{
	log_init();
	if (fleet_proto_init() != 0)
		return fail(util_xstrdup("libsodium cannot be initialised"));
	if (argc < 2)
		return usage(stderr), 2;
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
		return usage(stdout), 0;
	if (strcmp(argv[1], "--version") == 0)
		return printf(NAME " %s\n", MIMIC_VERSION), 0;
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "token") == 0)
		return cmd_token(argc - 1, argv + 1);
	if (strcmp(argv[1], "keys") == 0)
		return cmd_keys(argc - 1, argv + 1);
	if (strcmp(argv[1], "policy") == 0)
		return cmd_policy(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return cmd_list(argc - 1, argv + 1, 0);
	if (strcmp(argv[1], "audit") == 0)
		return cmd_list(argc - 1, argv + 1, 1);
	if (strcmp(argv[1], "revoke") == 0)
		return cmd_revoke(argc - 1, argv + 1);
	if (strcmp(argv[1], "build-dataset") == 0)
		return cmd_build(argc - 1, argv + 1);
	fprintf(stderr, NAME ": unknown command '%s'; `" NAME " --help` lists the commands\n",
	        argv[1]);
	return 2;
}
