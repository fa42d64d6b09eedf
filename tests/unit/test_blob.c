/*
 * Tests for blob: content-addressed frame files. They check what a person
 * would find on disk (one file per distinct content, modes, names) and the
 * error causes a person would read when the directory is missing or read-only.
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
#include <sys/wait.h>
#include <unistd.h>

#include "blob.h"

#define HELLO_SHA256 "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct fixture {
	char *base;       /* a fresh temporary directory */
	char *dir;        /* base/blobs */
	struct blob *b;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *cause = NULL;

	if (f == NULL)
		return -1;
	f->base = testenv_tmpdir("mimic-test-blob");
	if (f->base == NULL)
		return -1;
	if (asprintf(&f->dir, "%s/blobs", f->base) < 0)
		return -1;
	if (blob_open(f->dir, "webp", BLOB_CREATE | BLOB_WRITE, &f->b, &cause) != 0) {
		fprintf(stderr, "blob_open: %s\n", cause);
		free(cause);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	blob_close(f->b);
	testenv_tmpdir_remove(f->base);
	free(f->dir);
	free(f);
	return 0;
}

/* Counts regular files under dir, and reports whether any is a leftover temp file. */
static int count_files(const char *dir, bool *tmp_left)
{
	char *cmd = NULL;
	FILE *p;
	char line[512];
	int n = 0;

	*tmp_left = false;
	assert_true(asprintf(&cmd, "find '%s' -type f", dir) > 0);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p) != NULL) {
		n++;
		if (strstr(line, ".tmp-") != NULL)
			*tmp_left = true;
	}
	pclose(p);
	free(cmd);
	return n;
}

static void test_put_get_round_trip(void **state)
{
	struct fixture *f = *state;
	char hex[BLOB_HEX_LEN + 1];
	char *path = NULL, *cause = NULL, *expect = NULL;
	void *data = NULL;
	size_t len = 0;
	struct stat st;

	assert_int_equal(blob_put(f->b, "hello", 5, hex, &cause), 0);
	assert_null(cause);
	assert_string_equal(hex, HELLO_SHA256);

	/* The file is DIR/2c/f24d....webp, private to the user. */
	assert_int_equal(blob_path(f->b, hex, &path), 0);
	assert_true(asprintf(&expect, "%s/2c/%s.webp", f->dir, &HELLO_SHA256[2]) > 0);
	assert_string_equal(path, expect);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 5);
	free(expect);
	assert_true(asprintf(&expect, "%s/2c", f->dir) > 0);
	assert_int_equal(stat(expect, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	assert_int_equal(blob_get(f->b, hex, 1024, &data, &len, &cause), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(data, "hello", 5);
	free(data);
	free(path);
	free(expect);
}

static void test_same_content_one_file(void **state)
{
	struct fixture *f = *state;
	char h1[BLOB_HEX_LEN + 1], h2[BLOB_HEX_LEN + 1];
	char *path = NULL;
	struct stat st1, st2;
	bool tmp_left;

	assert_int_equal(blob_put(f->b, "frame-A", 7, h1, NULL), 0);
	assert_int_equal(blob_path(f->b, h1, &path), 0);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(blob_put(f->b, "frame-A", 7, h2, NULL), 0);
	assert_string_equal(h1, h2);
	assert_int_equal(count_files(f->dir, &tmp_left), 1);
	assert_false(tmp_left);
	/* Not rewritten: still the same inode (a rename would have replaced it). */
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st1.st_ino, st2.st_ino);
	free(path);
}

static void test_different_content_different_name(void **state)
{
	struct fixture *f = *state;
	char h1[BLOB_HEX_LEN + 1], h2[BLOB_HEX_LEN + 1];
	void *data = NULL;
	size_t len = 0;
	bool tmp_left;

	assert_int_equal(blob_put(f->b, "frame-A", 7, h1, NULL), 0);
	assert_int_equal(blob_put(f->b, "frame-B", 7, h2, NULL), 0);
	assert_string_not_equal(h1, h2);
	assert_int_equal(count_files(f->dir, &tmp_left), 2);
	assert_false(tmp_left);
	assert_int_equal(blob_get(f->b, h2, 100, &data, &len, NULL), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(data, "frame-B", 7);
	free(data);
}

static void test_empty_blob(void **state)
{
	struct fixture *f = *state;
	char hex[BLOB_HEX_LEN + 1];
	void *data = NULL;
	size_t len = 1;

	assert_int_equal(blob_put(f->b, "", 0, hex, NULL), 0);
	assert_string_equal(hex, EMPTY_SHA256);
	assert_int_equal(blob_get(f->b, hex, 0, &data, &len, NULL), 0);
	assert_int_equal(len, 0);
	free(data);
}

static void test_get_errors(void **state)
{
	struct fixture *f = *state;
	char hex[BLOB_HEX_LEN + 1];
	char *cause = NULL, *path = NULL;
	void *data = (void *)1;
	size_t len = 1;
	FILE *fp;

	assert_int_equal(blob_put(f->b, "hello", 5, hex, NULL), 0);

	/* Larger than the cap. */
	assert_int_equal(blob_get(f->b, hex, 4, &data, &len, &cause), -E2BIG);
	assert_null(data);
	assert_int_equal(len, 0);
	assert_non_null(strstr(cause, f->dir));
	free(cause);
	cause = NULL;

	/* Not a name. */
	assert_int_equal(blob_get(f->b, "../../etc/passwd", 100, &data, &len, &cause), -EINVAL);
	free(cause);
	cause = NULL;
	/* Upper case is not a name blob_put gives. */
	assert_int_equal(blob_get(f->b, "2CF24DBA5FB0A30E26E83B2AC5B9E29E"
				  "1B161E5C1FA7425E73043362938B9824", 100, &data, &len, NULL),
			 -EINVAL);
	assert_false(blob_hex_valid(HELLO_SHA256 "0"));
	assert_true(blob_hex_valid(HELLO_SHA256));

	/* Missing. */
	assert_int_equal(blob_get(f->b, EMPTY_SHA256, 100, &data, &len, &cause), -ENOENT);
	assert_non_null(strstr(cause, f->dir));
	free(cause);
	cause = NULL;

	/* Corrupt: same size, different bytes. */
	assert_int_equal(blob_path(f->b, hex, &path), 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("jello", fp);
	fclose(fp);
	assert_int_equal(blob_get(f->b, hex, 100, &data, &len, &cause), -EIO);
	assert_non_null(strstr(cause, "corrupt"));
	assert_null(data);
	free(cause);
	free(path);
}

static void test_remove(void **state)
{
	struct fixture *f = *state;
	char hex[BLOB_HEX_LEN + 1];
	void *data = NULL;
	size_t len = 0;
	bool tmp_left;

	assert_int_equal(blob_put(f->b, "bye", 3, hex, NULL), 0);
	assert_int_equal(blob_remove(f->b, hex, NULL), 0);
	assert_int_equal(count_files(f->dir, &tmp_left), 0);
	assert_int_equal(blob_get(f->b, hex, 100, &data, &len, NULL), -ENOENT);
	assert_int_equal(blob_remove(f->b, hex, NULL), -ENOENT);
}

static void test_missing_directory(void **state)
{
	struct fixture *f = *state;
	struct blob *b = (struct blob *)1;
	char *cause = NULL, *dir = NULL;
	char hex[BLOB_HEX_LEN + 1];
	struct stat st;

	assert_true(asprintf(&dir, "%s/nowhere", f->base) > 0);
	assert_int_equal(blob_open(dir, "webp", 0, &b, &cause), -ENOENT);
	assert_null(b);
	assert_non_null(cause);
	assert_non_null(strstr(cause, dir));
	free(cause);
	cause = NULL;

	/* Created on request, private. */
	assert_int_equal(blob_open(dir, "jpeg", BLOB_CREATE, &b, &cause), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* Removed behind the store's back: put names the directory. */
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(blob_put(b, "x", 1, hex, &cause), -ENOENT);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "cannot store frame in"));
	assert_non_null(strstr(cause, dir));
	free(cause);
	blob_close(b);
	free(dir);
}

static void test_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct blob *b = NULL;
	char *cause = NULL;

	assert_int_equal(blob_open(f->dir, "../x", 0, &b, &cause), -EINVAL);
	assert_null(b);
	free(cause);
	assert_int_equal(blob_open(f->dir, "", 0, &b, NULL), -EINVAL);
	assert_int_equal(blob_open("", NULL, 0, &b, NULL), -EINVAL);

	/* A file where the directory should be. */
	char *file = NULL;

	assert_true(asprintf(&file, "%s/file", f->base) > 0);
	FILE *fp = fopen(file, "w");

	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(blob_open(file, NULL, BLOB_CREATE, &b, NULL), -ENOTDIR);
	free(file);
}

/*
 * Runs in a child that is not root (root ignores permission bits): a store in a
 * read-only directory refuses to open for writing and fails to store, with
 * causes naming the directory. Returns an exit status: 0 when all held.
 */
static int readonly_child(const char *dir)
{
	struct blob *b = NULL;
	char hex[BLOB_HEX_LEN + 1];
	char *cause = NULL;
	int rc;

	rc = blob_open(dir, "webp", BLOB_WRITE, &b, &cause);
	if (rc != -EACCES || cause == NULL || strstr(cause, dir) == NULL)
		return 1;
	free(cause);
	cause = NULL;
	if (blob_open(dir, "webp", 0, &b, &cause) != 0)
		return 2;
	rc = blob_put(b, "hello", 5, hex, &cause);
	if (rc != -EACCES || cause == NULL || strstr(cause, "cannot store frame in") == NULL ||
	    strstr(cause, dir) == NULL)
		return 3;
	free(cause);
	blob_close(b);
	return 0;
}

static void test_readonly_directory(void **state)
{
	struct fixture *f = *state;
	char *dir = NULL;
	pid_t pid;
	int status = 0;

	assert_true(asprintf(&dir, "%s/ro", f->base) > 0);
	assert_int_equal(mkdir(dir, 0500), 0);
	assert_int_equal(chmod(dir, 0555), 0);
	assert_int_equal(chmod(f->base, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(10);
		_exit(readonly_child(dir));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_get_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_content_one_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_different_content_different_name, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_empty_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_directory, setup, teardown),
	};

	return testenv_run(tests, NULL, NULL);
}
