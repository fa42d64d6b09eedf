/*
 * open_check: what the integrity check costs `mimic record` when it opens a
 * database (store_open with STORE_CHECK runs PRAGMA quick_check; docs/CLI.md).
 *
 *   build-bench/bench/open_check [-n EVENTS]
 *
 * Builds a store of EVENTS events (half key events, sealed; half motion, plain)
 * in a temporary directory under /var/tmp, then times store_open without and
 * with STORE_CHECK, each with the file in the page cache (warm) and after asking
 * the kernel to drop its cached pages (cold, posix_fadvise DONTNEED), three runs
 * each, and prints the median wall time and the median CPU time (user + system:
 * what the check costs on an idle machine). A database over 256 MB is checked in
 * part (store.c); -n 5000000 makes one. Removes the directory.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "util.h"
#include "vault.h"

#define SEC INT64_C(1000000000)

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void die(const char *what, char *cause)
{
	fprintf(stderr, "open_check: %s: %s\n", what, cause ? cause : "failed");
	exit(1);
}

/* Drops the database's pages from the page cache (they are clean after a close). */
static void drop_cache(const char *db)
{
	int fd = open(db, O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		fdatasync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The medians of three timed store_open + store_close with flags: wall and CPU. */
static void time_open(const char *dir, const char *db, int flags, int cold, double *wall,
                      double *cpu)
{
	double t[3], c[3];
	char *cause = NULL;

	for (int i = 0; i < 3; i++) {
		struct store *st = NULL;
		int64_t t0;
		double c0;

		if (cold)
			drop_cache(db);
		t0 = util_now_mono_ns();
		c0 = cpu_s();
		if (store_open(dir, flags, &st, &cause) != 0)
			die("store_open", cause);
		t[i] = (double)(util_now_mono_ns() - t0) / 1e9;
		c[i] = cpu_s() - c0;
		store_close(st);
	}
	qsort(t, 3, sizeof(t[0]), cmp_double);
	qsort(c, 3, sizeof(c[0]), cmp_double);
	*wall = t[1];
	*cpu = c[1];
}

int main(int argc, char **argv)
{
	int64_t nev = 3000000;
	char dir[] = "/var/tmp/mimic-open-check-XXXXXX", *cause = NULL, *db;
	uint8_t key[VAULT_KEY_BYTES];
	struct store *st = NULL;
	struct event batch[500];
	struct stat sb;
	struct vault *v;
	int64_t session;
	int opt;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt == 'n') {
			nev = atoll(optarg);
		} else {
			fprintf(stderr, "usage: open_check [-n EVENTS]\n");
			return 2;
		}
	}
	if (mkdtemp(dir) == NULL)
		return 1;
	db = util_xasprintf("%s/%s", dir, STORE_DB_NAME);
	memset(key, 7, sizeof(key));
	v = vault_from_key(key);
	if (store_open(dir, 0, &st, &cause) != 0)
		die("store_open", cause);
	store_set_vault(st, v);
	struct store_session s = { .start_wall_ns = util_now_wall_ns() - 3600 * SEC,
	                           .start_mono_ns = 1000 * SEC };

	if (store_session_begin(st, &s, &session, &cause) != 0)
		die("session", cause);
	for (int64_t i = 0; i < nev; i += 500) {
		for (int j = 0; j < 500; j++) {
			struct event *e = &batch[j];
			int64_t k = i + j;

			memset(e, 0, sizeof(*e));
			e->t_ns = 1000 * SEC + k * 1000000;
			e->kind = k % 2 == 0 ? EVENT_KEY_PRESS : EVENT_MOTION;
			e->x = (int32_t)(k % 1920);
			e->y = (int32_t)(k % 1080);
			if (e->kind == EVENT_KEY_PRESS) {
				e->detail = 38;
				strcpy(e->keysym, "a");
				strcpy(e->text, "a");
			}
		}
		if (store_write_batch(st, session, batch, 500, NULL, 0, &cause) != 0)
			die("write", cause);
	}
	if (store_compact(st, &cause) != 0)
		die("compact", cause);
	store_close(st);
	vault_close(v);
	if (stat(db, &sb) != 0)
		die("stat", NULL);
	printf("mimic.db: %lld events, %.0f MB\n", (long long)nev, (double)sb.st_size / 1e6);
	for (int cold = 0; cold < 2; cold++) {
		double pw, pc, cw, cc;

		time_open(dir, db, 0, cold, &pw, &pc);
		time_open(dir, db, STORE_CHECK, cold, &cw, &cc);
		printf("%s cache: store_open %.3f s wall (%.3f s CPU); with STORE_CHECK %.3f s "
		       "wall (%.3f s CPU, %.2f s CPU per GB)\n", cold ? "cold" : "warm", pw, pc, cw,
		       cc, (cc - pc) / ((double)sb.st_size / 1e9));
	}
	free(db);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
