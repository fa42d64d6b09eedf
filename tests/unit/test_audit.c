/*
 * Tests for audit: records append in order with a hash chain that
 * audit_verify checks, and any edit, removal or insertion of a line is found
 * at the line where it happened.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"

struct fixture {
	char *dir;
	char *path;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->dir = testenv_tmpdir("mimic-test-audit");
	if (f->dir == NULL || asprintf(&f->path, "%s/%s", f->dir, AUDIT_FILE) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	testenv_tmpdir_remove(f->dir);
	free(f->path);
	free(f);
	return 0;
}

/* Reads the log's lines into lines[] (each malloc'ed); returns how many. */
static int read_lines(const char *path, char *lines[16])
{
	FILE *fp = fopen(path, "r");
	char buf[AUDIT_LINE_MAX];
	int n = 0;

	assert_non_null(fp);
	while (n < 16 && fgets(buf, sizeof(buf), fp) != NULL)
		lines[n++] = strdup(buf);
	fclose(fp);
	return n;
}

static void write_lines(const char *path, char *lines[], int n)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	for (int i = 0; i < n; i++)
		fputs(lines[i], fp);
	fclose(fp);
}

static void append3(struct fixture *f)
{
	char *cause = NULL;

	assert_int_equal(audit_append(f->dir, "pause", "{\"for_s\":900}", &cause), 0);
	assert_int_equal(audit_append(f->dir, "forget", "{\"last_s\":300,\"events\":42}", &cause),
	                 0);
	assert_int_equal(audit_append(f->dir, "resume", NULL, &cause), 0);
}

static int count_cb(const struct audit_record *r, void *arg)
{
	int *n = arg;

	(*n)++;
	assert_int_equal(r->seq, *n);
	assert_int_equal(r->line, *n);
	if (*n == 2) {
		assert_string_equal(r->what, "forget");
		assert_string_equal(r->details, "{\"last_s\":300,\"events\":42}");
	}
	return 0;
}

static void test_append_and_verify(void **state)
{
	struct fixture *f = *state;
	char head[AUDIT_HASH_HEX + 1], *cause = NULL;
	int64_t records, bad;
	struct stat sb;
	int n = 0;

	assert_int_equal(audit_verify(f->dir, &records, &bad, head, &cause), -ENOENT);
	free(cause);
	cause = NULL;
	append3(f);
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(audit_verify(f->dir, &records, &bad, head, &cause), 0);
	assert_int_equal(records, 3);
	assert_int_equal(strlen(head), AUDIT_HASH_HEX);
	assert_int_equal(audit_foreach(f->dir, count_cb, &n, &cause), 0);
	assert_int_equal(n, 3);
}

static void test_bad_input_refused(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL;

	assert_int_equal(audit_append(f->dir, "Has Spaces", NULL, &cause), -EINVAL);
	free(cause);
	cause = NULL;
	assert_int_equal(audit_append(f->dir, "pause", "[1,2]", &cause), -EINVAL);
	free(cause);
	assert_int_equal(access(f->path, F_OK), -1);
}

/* Applies edit to a fresh 3-record log and checks verify names line want. */
static void expect_bad(struct fixture *f, void (*edit)(char *lines[], int *n), int64_t want)
{
	char *lines[16], head[AUDIT_HASH_HEX + 1], *cause = NULL;
	int64_t records, bad = 0;
	int n;

	unlink(f->path);
	append3(f);
	n = read_lines(f->path, lines);
	assert_int_equal(n, 3);
	edit(lines, &n);
	write_lines(f->path, lines, n);
	for (int i = 0; i < n; i++)
		free(lines[i]);
	assert_int_equal(audit_verify(f->dir, &records, &bad, head, &cause), -EBADMSG);
	assert_int_equal(bad, want);
	char expect[32];
	snprintf(expect, sizeof(expect), "line %lld:", (long long)want);
	assert_non_null(strstr(cause, expect));
	free(cause);
}

static void edit_value(char *lines[], int *n)
{
	char *p = strstr(lines[1], "42");

	(void)n;
	assert_non_null(p);
	p[0] = '1';
}

static void remove_line(char *lines[], int *n)
{
	free(lines[1]);
	lines[1] = lines[2];
	*n = 2;
}

static void swap_lines(char *lines[], int *n)
{
	char *t = lines[0];

	(void)n;
	lines[0] = lines[1];
	lines[1] = t;
}

static void blank_line(char *lines[], int *n)
{
	lines[(*n)++] = strdup("\n");
}

static void test_tampering_found(void **state)
{
	struct fixture *f = *state;

	expect_bad(f, edit_value, 2);
	expect_bad(f, remove_line, 2);
	expect_bad(f, swap_lines, 1);
	expect_bad(f, blank_line, 4);
}

static void test_append_after_reopen_keeps_chain(void **state)
{
	struct fixture *f = *state;
	char head[AUDIT_HASH_HEX + 1], *cause = NULL;
	int64_t records, bad;

	append3(f);
	append3(f);
	assert_int_equal(audit_verify(f->dir, &records, &bad, head, &cause), 0);
	assert_int_equal(records, 6);
}

/* Cuts the log to its first keep lines (0: empties it) and returns verify's result. */
static int verify_cut(struct fixture *f, int keep, int64_t *bad, char **cause)
{
	char *lines[16], head[AUDIT_HASH_HEX + 1];
	int64_t records;
	int n = read_lines(f->path, lines);

	assert_true(keep <= n);
	write_lines(f->path, lines, keep);
	for (int i = 0; i < n; i++)
		free(lines[i]);
	return audit_verify(f->dir, &records, bad, head, cause);
}

/*
 * Cutting the last lines off, or emptying the file, leaves a valid chain; the
 * anchor in the database finds it, naming the first line missing.
 */
static void test_cut_end_found(void **state)
{
	struct fixture *f = *state;
	char *cause = NULL;
	int64_t bad = 0;

	append3(f);
	assert_int_equal(verify_cut(f, 2, &bad, &cause), -EBADMSG);
	assert_int_equal(bad, 3);
	assert_non_null(strstr(cause, "the log ends at record 2, but the database anchors 3 "
	                       "records to it: its last 1 were removed"));
	free(cause);
	cause = NULL;
	assert_int_equal(verify_cut(f, 0, &bad, &cause), -EBADMSG);
	assert_int_equal(bad, 1);
	assert_non_null(strstr(cause, "the log is empty, but the database anchors 3 records"));
	free(cause);
	cause = NULL;
	/* Deleting the file is emptying it. */
	char head[AUDIT_HASH_HEX + 1];
	int64_t records;

	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(audit_verify(f->dir, &records, &bad, head, &cause), -EBADMSG);
	assert_non_null(strstr(cause, "the log is missing"));
	free(cause);
}

/* A log rewritten with a valid chain of the same length does not match the anchor. */
static void test_rewritten_log_found(void **state)
{
	struct fixture *f = *state;
	char *lines[16], head[AUDIT_HASH_HEX + 1], *cause = NULL, *other;
	int64_t records, bad = 0;
	int n;

	append3(f);
	/* The same three kinds of record written again: a new, valid chain. */
	other = testenv_tmpdir("mimic-test-audit-other");
	assert_non_null(other);
	assert_int_equal(audit_append(other, "pause", "{\"for_s\":900}", &cause), 0);
	assert_int_equal(audit_append(other, "forget", "{\"last_s\":300,\"events\":1}", &cause),
	                 0);
	assert_int_equal(audit_append(other, "resume", NULL, &cause), 0);
	char *opath = NULL;
	assert_true(asprintf(&opath, "%s/%s", other, AUDIT_FILE) > 0);
	n = read_lines(opath, lines);
	write_lines(f->path, lines, n);
	for (int i = 0; i < n; i++)
		free(lines[i]);
	free(opath);
	testenv_tmpdir_remove(other);
	assert_int_equal(audit_verify(f->dir, &records, &bad, head, &cause), -EBADMSG);
	assert_int_equal(bad, 3);
	assert_non_null(strstr(cause, "line 3: it is not the record the database anchors"));
	free(cause);
}

/*
 * No anchor (a database from before it, or the row deleted): the log's end
 * cannot be checked, and verify says so instead of "intact". Records added
 * after the last anchored one are reported the same way; the next append
 * anchors the log again.
 */
static void test_unanchored_reported(void **state)
{
	struct fixture *f = *state;
	char head[AUDIT_HASH_HEX + 1], *cause = NULL, *db = NULL;
	int64_t records = 0, bad = 0;
	sqlite3 *con = NULL;

	append3(f);
	assert_true(asprintf(&db, "%s/mimic.db", f->dir) > 0);
	assert_int_equal(sqlite3_open(db, &con), SQLITE_OK);
	assert_int_equal(sqlite3_exec(con, "DELETE FROM audit_anchor", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(con);
	assert_int_equal(audit_verify(f->dir, &records, &bad, head, &cause), -ENODATA);
	assert_int_equal(records, 3);
	assert_non_null(strstr(cause, "the database holds no anchor of the audit log, so the "
	                       "end of its 3 records cannot be checked"));
	free(cause);
	cause = NULL;
	/* The next append anchors it. */
	assert_int_equal(audit_append(f->dir, "resume", NULL, &cause), 0);
	assert_int_equal(audit_verify(f->dir, &records, &bad, head, &cause), 0);
	assert_int_equal(records, 4);

	/* A database from before the anchor (schema 8), not yet upgraded: said so. */
	assert_int_equal(sqlite3_open(db, &con), SQLITE_OK);
	assert_int_equal(sqlite3_exec(con, "DROP TABLE audit_anchor; ALTER TABLE contexts DROP COLUMN "
	                              "url_sealed; DROP TABLE excluded; DROP TABLE interventions; DROP TABLE uploads; "
	                              "DROP TABLE upload_deletions; PRAGMA user_version = 8",
	                              NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(con);
	assert_int_equal(audit_verify(f->dir, &records, &bad, head, &cause), -ENODATA);
	assert_non_null(strstr(cause, "the database is older than the audit log's anchor"));
	assert_non_null(strstr(cause, "the end of its 4 records cannot be checked"));
	free(cause);
	cause = NULL;
	/* The next append upgrades the database and anchors the log. */
	assert_int_equal(audit_append(f->dir, "pause", NULL, &cause), 0);
	assert_int_equal(audit_verify(f->dir, &records, &bad, head, &cause), 0);
	assert_int_equal(records, 5);
	free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_and_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampering_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_after_reopen_keeps_chain, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_cut_end_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewritten_log_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unanchored_reported, setup, teardown),
	};

	return testenv_run(tests, NULL, NULL);
}
