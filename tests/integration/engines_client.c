/*
 * The test program of tests/integration/test_engines.py: drives src/fleet/s3 and
 * src/fleet/stream against the engines of scripts/test-services, one operation per
 * run, printing what a test asserts on. The engines come from the environment
 * (MIMIC_TEST_S3_URL, _ACCESS, _SECRET, _BUCKET, MIMIC_TEST_NATS_URLS).
 *
 *   engines_client put KEY FILE | get KEY | head KEY | delete KEY | list PREFIX MAX
 *   engines_client presign PUT|GET KEY SECONDS
 *   engines_client ensure STREAM SUBJECT REPLICAS
 *   engines_client publish SUBJECT ID TEXT      prints "seq=N duplicate=0|1"
 *   engines_client count STREAM                 prints "msgs=N"
 *   engines_client consume STREAM DURABLE MAX   prints each message "id text", acks it
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "s3.h"
#include "stream.h"

static const char *env(const char *name)
{
	const char *v = getenv(name);
	if (!v || !v[0]) {
		fprintf(stderr, "engines_client: %s is not set (run scripts/test-services up)\n", name);
		exit(2);
	}
	return v;
}

static int die(const char *what, char *cause)
{
	fprintf(stderr, "engines_client: %s: %s\n", what, cause ? cause : "?");
	free(cause);
	return 1;
}

static int print_key(void *arg, const char *key, const struct s3_stat *st)
{
	(void)arg;
	printf("%s %" PRIu64 "\n", key, st->size);
	return 0;
}

static int s3_cmd(int argc, char **argv)
{
	struct s3_config cfg = {
		.endpoint = env("MIMIC_TEST_S3_URL"), .access_key = env("MIMIC_TEST_S3_ACCESS"),
		.secret_key = env("MIMIC_TEST_S3_SECRET"), .bucket = env("MIMIC_TEST_S3_BUCKET"),
		.timeout_ms = 20000,
	};
	struct s3 *s = NULL;
	char *cause = NULL;
	if (s3_open(&cfg, &s, &cause) < 0)
		return die("open", cause);
	int rc = 0;
	const char *op = argv[1];
	if (strcmp(op, "put") == 0 && argc == 4) {
		int fd = open(argv[3], O_RDONLY);
		struct stat sb;
		if (fd < 0 || fstat(fd, &sb) < 0) {
			perror(argv[3]);
			rc = 1;
		} else if (s3_put_fd(s, argv[2], fd, (uint64_t)sb.st_size, &cause) < 0) {
			rc = die("put", cause);
		}
		if (fd >= 0)
			close(fd);
	} else if (strcmp(op, "get") == 0 && argc == 3) {
		void *data;
		size_t len;
		if (s3_get(s, argv[2], 64u << 20, &data, &len, &cause) < 0)
			rc = die("get", cause);
		else {
			fwrite(data, 1, len, stdout);
			free(data);
		}
	} else if (strcmp(op, "head") == 0 && argc == 3) {
		struct s3_stat st;
		int r = s3_head(s, argv[2], &st, &cause);
		if (r == -ENOENT) {
			printf("missing\n");
			free(cause);
		} else if (r < 0)
			rc = die("head", cause);
		else
			printf("size=%" PRIu64 " etag=%s\n", st.size, st.etag);
	} else if (strcmp(op, "delete") == 0 && argc == 3) {
		if (s3_delete(s, argv[2], &cause) < 0)
			rc = die("delete", cause);
	} else if (strcmp(op, "list") == 0 && argc == 4) {
		bool more = false;
		if (s3_list(s, argv[2], (size_t)atoi(argv[3]), print_key, NULL, &more, &cause) < 0)
			rc = die("list", cause);
		else
			printf("truncated=%d\n", more);
	} else if (strcmp(op, "presign") == 0 && argc == 5) {
		char *url = NULL;
		if (s3_presign(s, argv[2], argv[3], (int64_t)time(NULL), (unsigned)atoi(argv[4]), &url,
		               &cause) < 0)
			rc = die("presign", cause);
		else
			printf("%s\n", url);
		free(url);
	} else {
		fprintf(stderr, "engines_client: bad arguments for %s\n", op);
		rc = 2;
	}
	s3_close(s);
	return rc;
}

static int nats_cmd(int argc, char **argv)
{
	struct stream *s = NULL;
	char *cause = NULL;
	if (stream_open(env("MIMIC_TEST_NATS_URLS"), 10000, &s, &cause) < 0)
		return die("connect", cause);
	int rc = 0;
	const char *op = argv[1];
	if (strcmp(op, "ensure") == 0 && argc == 5) {
		struct stream_config cfg = { .name = argv[2], .subject = argv[3],
		                             .replicas = atoi(argv[4]) };
		if (stream_ensure(s, &cfg, &cause) < 0)
			rc = die("ensure", cause);
	} else if (strcmp(op, "publish") == 0 && argc == 5) {
		struct stream_ack ack;
		if (stream_publish(s, argv[2], argv[4], strlen(argv[4]), argv[3], &ack, &cause) < 0)
			rc = die("publish", cause);
		else
			printf("seq=%" PRIu64 " duplicate=%d\n", ack.seq, ack.duplicate);
	} else if (strcmp(op, "count") == 0 && argc == 3) {
		uint64_t msgs, bytes;
		if (stream_count(s, argv[2], &msgs, &bytes, &cause) < 0)
			rc = die("count", cause);
		else
			printf("msgs=%" PRIu64 "\n", msgs);
	} else if (strcmp(op, "consume") == 0 && argc == 5) {
		struct stream_consumer *c = NULL;
		if (stream_consumer_open(s, argv[2], argv[3], NULL, 30000, 0, &c, &cause) < 0) {
			rc = die("consumer", cause);
		} else {
			int want = atoi(argv[4]), got = 0;
			struct stream_msg *msgs[64];
			/* Until `want` messages or a fetch that finds none for 2 s. */
			while (got < want) {
				int n = 0;
				if (stream_fetch(c, want - got < 64 ? want - got : 64, 2000, msgs, &n,
				                 &cause) < 0) {
					rc = die("fetch", cause);
					break;
				}
				if (n == 0)
					break;
				for (int i = 0; i < n; i++) {
					size_t len;
					const char *d = stream_msg_data(msgs[i], &len);
					const char *id = stream_msg_id(msgs[i]);
					printf("%s %.*s\n", id ? id : "-", (int)len, d);
					if (stream_msg_ack(msgs[i], &cause) < 0)
						rc = die("ack", cause);
					stream_msg_free(msgs[i]);
				}
				got += n;
			}
			stream_consumer_close(c);
		}
	} else {
		fprintf(stderr, "engines_client: bad arguments for %s\n", op);
		rc = 2;
	}
	stream_close(s);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: engines_client put|get|head|delete|list|presign|ensure|"
		        "publish|count|consume ...\n");
		return 2;
	}
	const char *op = argv[1];
	if (!strcmp(op, "ensure") || !strcmp(op, "publish") || !strcmp(op, "count") ||
	    !strcmp(op, "consume"))
		return nats_cmd(argc, argv);
	return s3_cmd(argc, argv);
}
