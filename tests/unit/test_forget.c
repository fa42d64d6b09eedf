/*
 * Tests for forget and store_forget: a time range deletes exactly what was
 * recorded in it (and what derives from it), a whole session goes with its
 * rows, frame files no frame names are deleted, and after compacting no file
 * holds what was deleted. Retention removes the oldest sessions first, and the
 * sealed bundles waiting in the fleet spool whose data it deleted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob.h"
#include "config.h"
#include "fleet_bundle.h"
#include "fleet_device.h"
#include "forget.h"
#include "guard.h"
#include "paths.h"
#include "store.h"
#include "util.h"
#include "vault.h"

#define SEC INT64_C(1000000000)

struct fixture {
	char *dir;
	struct store *st;
	struct vault *v;
	struct blob *b;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint8_t key[VAULT_KEY_BYTES];
	char *cause = NULL, *fdir;

	if (f == NULL)
		return -1;
	f->dir = testenv_tmpdir("mimic-test-forget");
	if (f->dir == NULL)
		return -1;
	if (store_open(f->dir, 0, &f->st, &cause) != 0)
		return -1;
	memset(key, 3, sizeof(key));
	f->v = vault_from_key(key);
	store_set_vault(f->st, f->v);
	if (asprintf(&fdir, "%s/frames", f->dir) < 0 ||
	    blob_open(fdir, "webp", BLOB_CREATE | BLOB_WRITE, &f->b, &cause) != 0)
		return -1;
	blob_set_vault(f->b, f->v);
	free(fdir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	blob_close(f->b);
	vault_close(f->v);
	testenv_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/*
 * A session that started at wall time start_s (seconds) with one key event and
 * one frame (its own blob) at each of the given offsets (seconds).
 */
static int64_t add_session(struct fixture *f, int64_t start_s, const int *offs, int n,
                           int64_t end_s)
{
	struct store_session s = { .start_wall_ns = start_s * SEC, .start_mono_ns = 1000 * SEC };
	char *cause = NULL;
	int64_t id;

	assert_int_equal(store_session_begin(f->st, &s, &id, &cause), 0);
	for (int i = 0; i < n; i++) {
		struct event ev = { 0 };
		struct store_frame fr = { 0 };
		char payload[32];

		ev.t_ns = 1000 * SEC + offs[i] * SEC;
		ev.kind = EVENT_KEY_PRESS;
		strcpy(ev.keysym, "a");
		strcpy(ev.text, "a");
		fr.t_ns = ev.t_ns;
		strcpy(fr.trigger, "pre");
		strcpy(fr.format, "webp");
		snprintf(payload, sizeof(payload), "image %lld %d", (long long)id, offs[i]);
		assert_int_equal(blob_put(f->b, payload, strlen(payload), fr.blob, &cause), 0);
		assert_int_equal(store_write_all(f->st, id, &ev, 1, NULL, 0, &fr, 1, &cause), 0);
	}
	if (end_s > 0)
		assert_int_equal(store_session_end(f->st, id, end_s * SEC, "stopped", &cause), 0);
	return id;
}

static int count_ev(int64_t id, const struct event *ev, const struct context *ctx, void *arg)
{
	(void)id;
	(void)ev;
	(void)ctx;
	(*(int *)arg)++;
	return 0;
}

static int events_of(struct fixture *f, int64_t session)
{
	int n = 0;

	assert_int_equal(store_events_foreach(f->st, session, count_ev, &n, NULL), 0);
	return n;
}

static int count_files(const char *dir)
{
	char *cmd;
	int n = 0;
	FILE *p;

	assert_true(asprintf(&cmd, "find %s/frames -type f | wc -l", dir) > 0);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	free(cmd);
	return n;
}

static void test_range_deletes_only_inside(void **state)
{
	struct fixture *f = *state;
	const int offs[] = { 0, 10, 20, 30 };
	struct forget_result res;
	char *cause = NULL;
	int64_t a;

	a = add_session(f, 5000, offs, 4, 5040);
	assert_int_equal(count_files(f->dir), 4);
	/* Wall [5015, 5025) is the event at +20 s only. */
	struct store_forget spec = { 0, 5015 * SEC, 5025 * SEC, 0 };
	assert_int_equal(forget_run(f->st, f->dir, &spec, &res, &cause), 0);
	assert_int_equal(res.rows.events, 1);
	assert_int_equal(res.rows.frames, 1);
	assert_int_equal(res.rows.sessions, 0);
	assert_int_equal(res.files, 1);
	assert_int_equal(events_of(f, a), 3);
	assert_int_equal(count_files(f->dir), 3);
	/* "The last N minutes" reaches the end: everything from +10 s on. */
	spec = (struct store_forget){ 0, 5010 * SEC, INT64_MAX, a };
	assert_int_equal(forget_run(f->st, f->dir, &spec, &res, &cause), 0);
	assert_int_equal(res.rows.events, 2);
	assert_int_equal(events_of(f, a), 1);
	assert_int_equal(count_files(f->dir), 1);
}

static void test_whole_session_and_patches(void **state)
{
	struct fixture *f = *state;
	const int offs[] = { 0, 5 };
	struct store_session s;
	struct store_frame patch = { 0 };
	struct forget_result res;
	char *cause = NULL;
	int64_t a, b, next;

	a = add_session(f, 1000, offs, 2, 1010);
	b = add_session(f, 2000, offs, 2, 2010);
	/* A patch in b over b's first frame, which goes with the range. */
	assert_int_equal(store_next_frame_id(f->st, &next, &cause), 0);
	patch.t_ns = 1000 * SEC + 8 * SEC;
	strcpy(patch.trigger, "settle");
	strcpy(patch.format, "webp");
	assert_int_equal(blob_put(f->b, "patch", 5, patch.blob, &cause), 0);
	patch.base_id = next - 2;
	patch.n_patch = 1;
	patch.patch[0] = (struct store_rect){ 0, 0, 1, 1 };
	assert_int_equal(store_write_all(f->st, b, NULL, 0, NULL, 0, &patch, 1, &cause), 0);

	struct store_forget spec = { 0, 1000 * SEC, 2003 * SEC, 0 };
	assert_int_equal(forget_run(f->st, f->dir, &spec, &res, &cause), 0);
	assert_int_equal(res.rows.sessions, 1);
	assert_int_equal(store_session_get(f->st, a, &s, NULL), -ENOENT);
	assert_int_equal(store_session_get(f->st, b, &s, &cause), 0);
	/* b's frame at +0 went, and the patch over it with it; +5 stays. */
	assert_int_equal(events_of(f, b), 1);
	assert_int_equal(count_files(f->dir), 1);
	assert_int_equal(res.rows.frames, 2 + 2);
}

static void test_no_residue_after_compact(void **state)
{
	struct fixture *f = *state;
	const int offs[] = { 0 };
	struct store_session s = { .name = "needle-in-the-name", .start_wall_ns = 9 * SEC };
	struct forget_result res;
	char *cause = NULL, *cmd;
	int64_t id;

	add_session(f, 100, offs, 1, 101);
	assert_int_equal(store_session_begin(f->st, &s, &id, &cause), 0);
	struct store_forget spec = { id, INT64_MIN, INT64_MAX, 0 };
	assert_int_equal(forget_run(f->st, f->dir, &spec, &res, &cause), 0);
	assert_int_equal(res.rows.sessions, 1);
	/* No file of the directory, WAL included, still holds the deleted name. */
	assert_true(asprintf(&cmd, "grep -rqa needle-in-the %s", f->dir) > 0);
	assert_int_not_equal(system(cmd), 0);
	free(cmd);
	assert_true(asprintf(&cmd, "test ! -s %s/mimic.db-wal", f->dir) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	spec.session = id;
	assert_int_equal(store_forget(f->st, &spec, &res.rows, &cause), -ENOENT);
	free(cause);
}

static void test_retention_oldest_first(void **state)
{
	struct fixture *f = *state;
	const int offs[] = { 0, 1, 2 };
	struct forget_limits lim = { 0, 1 };
	struct forget_result res;
	struct store_session s;
	char *cause = NULL;
	int64_t a, b, c, now = util_now_wall_ns() / SEC;

	a = add_session(f, now - 300, offs, 3, now - 290);
	b = add_session(f, now - 200, offs, 3, now - 190);
	c = add_session(f, now - 100, offs, 3, 0);
	/* By age: only what is older than 250 s. */
	lim.max_age_ns = 250 * SEC;
	lim.max_bytes = 0;
	assert_int_equal(forget_retention(f->st, f->dir, &lim, c, &res, &cause), 0);
	assert_int_equal(res.rows.sessions, 1);
	assert_int_equal(store_session_get(f->st, a, &s, NULL), -ENOENT);
	assert_int_equal(store_session_get(f->st, b, &s, NULL), 0);
	/* By size: everything but the session being recorded, then its oldest part. */
	lim.max_age_ns = 0;
	lim.max_bytes = 1;
	assert_int_equal(forget_retention(f->st, f->dir, &lim, c, &res, &cause), 0);
	assert_int_equal(store_session_get(f->st, b, &s, NULL), -ENOENT);
	assert_int_equal(store_session_get(f->st, c, &s, &cause), 0);
	/* Its oldest tenth (the first 10 s of 100) held all three events. */
	assert_int_equal(events_of(f, c), 0);
	assert_true(res.bytes_before > 0);
}

/* Seals a directory holding one file into spool/S<session>.bundle; returns its path. */
static char *seal_bundle(struct fixture *f, const unsigned char pk[FLEET_BOX_PK_BYTES],
                         int64_t session)
{
	char *src, *file, *out, *cause = NULL, hash[65];
	uint64_t size;
	FILE *fp;

	assert_true(asprintf(&src, "%s/export-%lld", f->dir, (long long)session) > 0);
	assert_int_equal(mkdir(src, 0700), 0);
	assert_true(asprintf(&file, "%s/steps.jsonl", src) > 0);
	fp = fopen(file, "w");
	assert_non_null(fp);
	fprintf(fp, "{\"session\":%lld}\n", (long long)session);
	fclose(fp);
	assert_true(asprintf(&out, "%s/fleet/spool/S%lld.bundle", f->dir, (long long)session) > 0);
	assert_int_equal(fleet_bundle_seal_dir(src, out, pk, 0, hash, &size, &cause), 0);
	unlink(file);
	rmdir(src);
	free(file);
	free(src);
	return out;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	if (fp == NULL)
		return NULL;
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

/*
 * A bundle sealed from a session that retention then deleted (or cut by age) is
 * gone from the spool with it; the bundle of a session retention left alone stays
 * byte for byte, and the audit log counts the bundle.
 */
static void test_retention_drops_stale_bundles(void **state)
{
	struct fixture *f = *state;
	const int offs[] = { 0, 1, 2 };
	struct config_retention lim = { 250 * SEC, 0, 0 };
	unsigned char pk[FLEET_BOX_PK_BYTES], sk[FLEET_BOX_SK_BYTES];
	char *spool, *old, *old_part, *kept, *other, *before, *after, *audit, *log, *cause = NULL;
	size_t n_before, n_after, n_log;
	int64_t a, b, c, now = util_now_wall_ns() / SEC;
	FILE *fp;

	a = add_session(f, now - 300, offs, 3, now - 290);
	b = add_session(f, now - 200, offs, 3, now - 190);
	c = add_session(f, now - 100, offs, 3, 0);
	fleet_bundle_keypair(pk, sk);
	spool = fleet_device_path(f->dir, "spool");
	assert_int_equal(paths_ensure_dir(spool, &cause), 0);
	old = seal_bundle(f, pk, a);
	kept = seal_bundle(f, pk, b);
	/* An upload's leftover of the old one, and a file the spool does not name. */
	assert_true(asprintf(&old_part, "%s.part", old) > 0);
	assert_true(asprintf(&other, "%s/README", spool) > 0);
	fp = fopen(old_part, "w");
	assert_non_null(fp);
	fclose(fp);
	fp = fopen(other, "w");
	assert_non_null(fp);
	fclose(fp);
	before = slurp(kept, &n_before);
	assert_non_null(before);

	assert_int_equal(guard_retention(f->st, f->dir, &lim, c), 0);
	assert_int_equal(access(old, F_OK), -1);
	assert_int_equal(access(old_part, F_OK), -1);
	assert_int_equal(access(other, F_OK), 0);
	after = slurp(kept, &n_after);
	assert_non_null(after);
	assert_int_equal(n_after, n_before);
	assert_memory_equal(after, before, n_before);
	/* What the person reads in their audit log. */
	assert_true(asprintf(&audit, "%s/audit.log", f->dir) > 0);
	log = slurp(audit, &n_log);
	assert_non_null(log);
	assert_non_null(strstr(log, "\"what\":\"retention\""));
	assert_non_null(strstr(log, "\"bundles\":1"));

	/* By size: b goes too, and so does its bundle. */
	lim.max_age_ns = 0;
	lim.max_bytes = 1;
	assert_int_equal(guard_retention(f->st, f->dir, &lim, c), 0);
	assert_int_equal(access(kept, F_OK), -1);
	assert_int_equal(access(other, F_OK), 0);
	free(log);
	free(audit);
	free(after);
	free(before);
	free(other);
	free(old_part);
	free(kept);
	free(old);
	free(spool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_range_deletes_only_inside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_session_and_patches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_residue_after_compact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_oldest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention_drops_stale_bundles, setup, teardown),
	};

	return testenv_run(tests, NULL, NULL);
}
