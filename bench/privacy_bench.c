/*
 * privacy_bench: what encryption at rest and forgetting cost (docs/PRIVACY.md).
 *
 *   build-bench/bench/privacy_bench [-n EVENTS] [-f FRAMES]
 *
 * Prints: sealing throughput for frame-sized buffers (MB/s); store writes of key
 * events (sealed) and motion events (plain) in batches of 500 (events/s); and,
 * on a store of EVENTS events and FRAMES frames, the time `forget --last` takes
 * for the newest tenth and `forget --all` for the rest (delete, frame files,
 * VACUUM, WAL truncate). Runs in a temporary directory it removes.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "forget.h"
#include "store.h"
#include "util.h"
#include "vault.h"

#define SEC INT64_C(1000000000)

static double now_s(void)
{
	return (double)util_now_mono_ns() / 1e9;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void die(const char *what, char *cause)
{
	fprintf(stderr, "privacy_bench: %s: %s\n", what, cause ? cause : "failed");
	exit(1);
}

static int64_t file_size(const char *dir, const char *name)
{
	char *p = util_xasprintf("%s/%s", dir, name);
	struct stat sb;
	int64_t n = stat(p, &sb) == 0 ? sb.st_size : 0;

	free(p);
	return n;
}

int main(int argc, char **argv)
{
	int64_t nev = 1000000, nfr = 2000;
	char dir[] = "/tmp/mimic-privacy-bench-XXXXXX", *cause = NULL, *fdir;
	uint8_t key[VAULT_KEY_BYTES];
	struct store *st = NULL;
	struct blob *b = NULL;
	struct vault *v;
	int opt;

	while ((opt = getopt(argc, argv, "n:f:")) != -1) {
		if (opt == 'n')
			nev = atoll(optarg);
		else if (opt == 'f')
			nfr = atoll(optarg);
		else {
			fprintf(stderr, "usage: privacy_bench [-n EVENTS] [-f FRAMES]\n");
			return 2;
		}
	}
	if (mkdtemp(dir) == NULL)
		return 1;
	memset(key, 5, sizeof(key));
	v = vault_from_key(key);

	/* 1. Sealing a 150 KB frame (a typical WebP key frame of 1920x1080). */
	{
		size_t len = 150 * 1024;
		uint8_t *in = malloc(len), *out = malloc(vault_sealed_len(len));
		int rounds = 2000;
		double t0;

		memset(in, 0x5a, len);
		t0 = now_s();
		for (int i = 0; i < rounds; i++)
			vault_seal(v, "ad", 2, in, len, out);
		printf("seal 150 KB frames: %.0f MB/s\n",
		       (double)len * rounds / (now_s() - t0) / 1e6);
		free(in);
		free(out);
	}

	if (store_open(dir, 0, &st, &cause) != 0)
		die("store_open", cause);
	store_set_vault(st, v);
	fdir = util_xasprintf("%s/frames", dir);
	if (blob_open(fdir, "webp", BLOB_CREATE | BLOB_WRITE, &b, &cause) != 0)
		die("blob_open", cause);
	blob_set_vault(b, v);

	/* 2. Store writes: sealed key events against plain motion events. */
	struct store_session s = { .start_wall_ns = util_now_wall_ns() - 3600 * SEC,
	                           .start_mono_ns = 1000 * SEC };
	int64_t session;
	struct event batch[500];

	if (store_session_begin(st, &s, &session, &cause) != 0)
		die("session", cause);
	for (int kind = 0; kind < 2; kind++) {
		int64_t n = nev / 2;
		double t0 = now_s();

		for (int64_t i = 0; i < n; i += 500) {
			for (int j = 0; j < 500; j++) {
				struct event *e = &batch[j];
				int64_t k = kind * n + i + j;

				memset(e, 0, sizeof(*e));
				e->t_ns = 1000 * SEC + k * (3600 * SEC / nev);
				e->kind = kind == 0 ? EVENT_KEY_PRESS : EVENT_MOTION;
				e->x = (int32_t)(k % 1920);
				e->y = (int32_t)(k % 1080);
				if (kind == 0) {
					e->detail = 38;
					strcpy(e->keysym, "a");
					strcpy(e->text, "a");
				}
			}
			if (store_write_batch(st, session, batch, 500, NULL, 0, &cause) != 0)
				die("write", cause);
		}
		printf("store %s events: %.0f events/s\n", kind == 0 ? "key (sealed)" : "motion (plain)",
		       (double)n / (now_s() - t0));
	}

	/* Frames: distinct 60 KB images spread over the hour. */
	{
		uint8_t *img = malloc(60 * 1024);
		struct store_frame fr;

		for (int64_t i = 0; i < nfr; i++) {
			memset(&fr, 0, sizeof(fr));
			memset(img, (int)(i & 0xff), 60 * 1024);
			memcpy(img, &i, sizeof(i));
			fr.t_ns = 1000 * SEC + i * (3600 * SEC / nfr);
			strcpy(fr.trigger, "pre");
			strcpy(fr.format, "webp");
			if (blob_put(b, img, 60 * 1024, fr.blob, &cause) != 0)
				die("blob_put", cause);
			fr.bytes = (int64_t)blob_stored_len(b, 60 * 1024);
			if (store_write_all(st, session, NULL, 0, NULL, 0, &fr, 1, &cause) != 0)
				die("frame", cause);
		}
		free(img);
	}
	if (store_compact(st, &cause) != 0)
		die("compact", cause);
	printf("store: %lld events, %lld frames, mimic.db %.1f MB\n", (long long)nev,
	       (long long)nfr, (double)file_size(dir, STORE_DB_NAME) / 1e6);

	/* 3. forget --last (the newest tenth of the hour), then --all. */
	struct forget_result res;
	struct store_forget last = { 0, util_now_wall_ns() - 360 * SEC, INT64_MAX, 0 };
	double t0 = now_s();

	if (forget_run(st, dir, &last, &res, &cause) != 0)
		die("forget --last", cause);
	printf("forget --last 6m: %.2f s (%lld events, %lld frames, %lld files), "
	       "WAL after: %lld bytes\n", now_s() - t0, (long long)res.rows.events,
	       (long long)res.rows.frames, (long long)res.files,
	       (long long)file_size(dir, STORE_DB_NAME "-wal"));
	struct store_forget all = { 0, INT64_MIN, INT64_MAX, 0 };

	t0 = now_s();
	if (forget_run(st, dir, &all, &res, &cause) != 0)
		die("forget --all", cause);
	printf("forget --all: %.2f s (%lld events, %lld frames, %lld files), mimic.db after: "
	       "%lld bytes\n", now_s() - t0, (long long)res.rows.events, (long long)res.rows.frames,
	       (long long)res.files, (long long)file_size(dir, STORE_DB_NAME));

	store_close(st);
	blob_close(b);
	vault_close(v);
	free(fdir);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
