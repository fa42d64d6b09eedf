/*
 * Tests for paths: the data and socket locations follow the XDG variables, data
 * directories are created private and checked for writability (also when the test
 * runs as root, by dropping to an unprivileged uid in a child), and the control
 * socket directory is refused when another user could reach into it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "util.h"

static int
setup_tmp(void **state)
{
	char *dir = testenv_tmpdir("mimic-test-paths");

	if (dir == NULL)
		return -1;
	*state = dir;
	return 0;
}

static int
teardown_tmp(void **state)
{
	testenv_tmpdir_remove(*state);
	return 0;
}

static void
assert_contains(const char *s, const char *part)
{
	if (s == NULL || strstr(s, part) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", s ? s : "(null)", part);
}

static void
test_data_dir_xdg(void **state)
{
	const char *tmp = *state;
	char *xdg = util_xasprintf("%s/xdg", tmp);
	char *want = util_xasprintf("%s/xdg/mimic", tmp);
	char *slash = util_xasprintf("%s/xdg/", tmp);
	char *out = NULL, *cause = NULL;

	setenv("HOME", "/nonexistent-home", 1);
	setenv("XDG_DATA_HOME", xdg, 1);
	assert_int_equal(paths_data_dir(NULL, &out, &cause), 0);
	assert_null(cause);
	assert_string_equal(out, want);
	free(out);

	setenv("XDG_DATA_HOME", slash, 1);
	assert_int_equal(paths_data_dir(NULL, &out, &cause), 0);
	assert_string_equal(out, want);
	free(out);

	/* --data-dir wins over everything. */
	assert_int_equal(paths_data_dir("/srv/rec", &out, &cause), 0);
	assert_string_equal(out, "/srv/rec");
	free(out);
	assert_int_equal(paths_data_dir("", &out, &cause), -EINVAL);
	assert_null(out);
	assert_contains(cause, "--data-dir");
	free(cause);

	free(xdg);
	free(want);
	free(slash);
}

static void
test_data_dir_home(void **state)
{
	const char *tmp = *state;
	char *want = util_xasprintf("%s/.local/share/mimic", tmp);
	char *out = NULL, *cause = NULL;

	unsetenv("XDG_DATA_HOME");
	setenv("HOME", tmp, 1);
	assert_int_equal(paths_data_dir(NULL, &out, &cause), 0);
	assert_string_equal(out, want);
	free(out);

	/* The XDG spec says a relative XDG_DATA_HOME is ignored, and so is an empty one. */
	setenv("XDG_DATA_HOME", "relative/dir", 1);
	assert_int_equal(paths_data_dir(NULL, &out, &cause), 0);
	assert_string_equal(out, want);
	free(out);
	setenv("XDG_DATA_HOME", "", 1);
	assert_int_equal(paths_data_dir(NULL, &out, &cause), 0);
	assert_string_equal(out, want);
	free(out);
	assert_null(cause);
	free(want);
}

static void
test_data_dir_none(void **state)
{
	char *out = NULL, *cause = NULL;

	(void)state;
	unsetenv("XDG_DATA_HOME");
	unsetenv("HOME");
	assert_int_equal(paths_data_dir(NULL, &out, &cause), -ENOENT);
	assert_null(out);
	assert_contains(cause, "HOME");
	assert_contains(cause, "--data-dir");
	free(cause);
	/* An override needs neither. */
	assert_int_equal(paths_data_dir("/x", &out, NULL), 0);
	assert_string_equal(out, "/x");
	free(out);
}

/* The person's files: XDG_CONFIG_HOME when absolute, else HOME, else none. */
static void
test_config_file(void **state)
{
	char *out = NULL;

	(void)state;
	setenv("XDG_CONFIG_HOME", "/cfg/", 1);
	setenv("HOME", "/home/u", 1);
	assert_int_equal(paths_config_file("policy.conf", &out), 0);
	assert_string_equal(out, "/cfg/mimic/policy.conf");
	free(out);
	setenv("XDG_CONFIG_HOME", "relative", 1);
	assert_int_equal(paths_config_file("mimic.conf", &out), 0);
	assert_string_equal(out, "/home/u/.config/mimic/mimic.conf");
	free(out);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("HOME");
	assert_int_equal(paths_config_file("mimic.conf", &out), -ENOENT);
	assert_null(out);
}

static int
dir_is_empty(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return n == 0;
}

static void
test_ensure_dir_creates_private(void **state)
{
	const char *tmp = *state;
	char *a = util_xasprintf("%s/a", tmp);
	char *b = util_xasprintf("%s/a/b", tmp);
	char *c = util_xasprintf("%s/a/b/c", tmp);
	char *c_slash = util_xasprintf("%s/a//b/c/", tmp);
	char *cause = NULL;
	struct stat st;

	assert_int_equal(paths_ensure_dir(c, &cause), 0);
	assert_null(cause);
	assert_int_equal(stat(a, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(b, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(c, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(st.st_uid, geteuid());
	/* The writability probe leaves nothing behind. */
	assert_true(dir_is_empty(c));

	/* Existing directories are fine, also spelled with extra slashes. */
	assert_int_equal(paths_ensure_dir(c, &cause), 0);
	assert_int_equal(paths_ensure_dir(c_slash, &cause), 0);
	assert_null(cause);
	assert_true(dir_is_empty(c));

	free(a);
	free(b);
	free(c);
	free(c_slash);
}

static void
test_ensure_dir_not_a_directory(void **state)
{
	const char *tmp = *state;
	char *file = util_xasprintf("%s/file", tmp);
	char *sub = util_xasprintf("%s/file/sub", tmp);
	char *cause = NULL;
	FILE *f;

	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);

	assert_int_equal(paths_ensure_dir(file, &cause), -ENOTDIR);
	assert_contains(cause, file);
	assert_contains(cause, "choose another with --data-dir");
	assert_null(strchr(cause, '\n'));
	free(cause);
	cause = NULL;

	assert_int_equal(paths_ensure_dir(sub, &cause), -ENOTDIR);
	assert_contains(cause, sub);
	assert_contains(cause, "--data-dir");
	free(cause);

	assert_int_equal(paths_ensure_dir("", NULL), -EINVAL);
	free(file);
	free(sub);
}

/*
 * The ordinary user's side of test_ensure_dir_not_writable, run as uid 65534
 * when the test runs as root (permission bits do not stop root). tmp belongs to
 * that user; a directory in it without write permission is refused by name,
 * and so is one to be created below it.
 */
static int
not_writable_as_user(void *arg)
{
	const char *tmp = arg;
	char ro[512], sub[512];
	char *cause = NULL;
	struct stat st;

	snprintf(ro, sizeof ro, "%s/ro", tmp);
	snprintf(sub, sizeof sub, "%s/ro/sub/deeper", tmp);
	TESTENV_CHECK(mkdir(ro, 0555) == 0);

	/* The directory exists but this user may not write there. */
	TESTENV_CHECK(paths_ensure_dir(ro, &cause) == -EACCES);
	TESTENV_CHECK(cause != NULL && strstr(cause, ro) != NULL);
	TESTENV_CHECK(strstr(cause, "is not writable (Permission denied); "
	                            "choose another with --data-dir") != NULL);
	TESTENV_CHECK(strchr(cause, '\n') == NULL);
	free(cause);
	cause = NULL;

	/* It cannot be created below such a directory either. */
	TESTENV_CHECK(paths_ensure_dir(sub, &cause) == -EACCES);
	TESTENV_CHECK(cause != NULL && strstr(cause, sub) != NULL);
	TESTENV_CHECK(strstr(cause, "Permission denied") != NULL);
	TESTENV_CHECK(strstr(cause, "--data-dir") != NULL);
	free(cause);
	TESTENV_CHECK(stat(sub, &st) == -1 && errno == ENOENT);
	return 0;
}

static void
test_ensure_dir_not_writable(void **state)
{
	testenv_as_user(*state, not_writable_as_user, *state);
}

static void
test_control_socket_xdg(void **state)
{
	const char *tmp = *state;
	char *run = util_xasprintf("%s/run", tmp);
	char *dir = util_xasprintf("%s/run/mimic", tmp);
	char *want = util_xasprintf("%s/run/mimic/control.sock", tmp);
	char *out = NULL, *cause = NULL;
	struct stat st;

	assert_int_equal(mkdir(run, 0700), 0);
	setenv("XDG_RUNTIME_DIR", run, 1);

	/* Without create, a missing directory is fine and is not created. */
	assert_int_equal(paths_control_socket(0, &out, &cause), 0);
	assert_string_equal(out, want);
	free(out);
	assert_int_equal(stat(dir, &st), -1);

	assert_int_equal(paths_control_socket(1, &out, &cause), 0);
	assert_null(cause);
	assert_string_equal(out, want);
	free(out);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(st.st_uid, geteuid());

	/* Again, now that it exists, with and without create. */
	assert_int_equal(paths_control_socket(1, &out, &cause), 0);
	free(out);
	assert_int_equal(paths_control_socket(0, &out, &cause), 0);
	assert_string_equal(out, want);
	free(out);
	assert_null(cause);

	free(run);
	free(dir);
	free(want);
}

static void
test_control_socket_open_dir_refused(void **state)
{
	const char *tmp = *state;
	char *dir = util_xasprintf("%s/mimic", tmp);
	char *fix = util_xasprintf("chmod 700 %s", dir);
	char *out = NULL, *cause = NULL;

	setenv("XDG_RUNTIME_DIR", tmp, 1);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chmod(dir, 0755), 0);

	assert_int_equal(paths_control_socket(1, &out, &cause), -EPERM);
	assert_null(out);
	assert_contains(cause, dir);
	assert_contains(cause, "0755");
	assert_contains(cause, fix);
	free(cause);
	cause = NULL;
	/* The client refuses it too: it must not talk through a directory others control. */
	assert_int_equal(paths_control_socket(0, &out, &cause), -EPERM);
	free(cause);
	cause = NULL;

	/* Group access alone is enough to refuse. */
	assert_int_equal(chmod(dir, 0770), 0);
	assert_int_equal(paths_control_socket(1, &out, &cause), -EPERM);
	assert_contains(cause, "0770");
	free(cause);
	cause = NULL;

	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(paths_control_socket(1, &out, &cause), 0);
	free(out);
	free(dir);
	free(fix);
}

static void
test_control_socket_symlink_refused(void **state)
{
	const char *tmp = *state;
	char *target = util_xasprintf("%s/elsewhere", tmp);
	char *link = util_xasprintf("%s/mimic", tmp);
	char *out = NULL, *cause = NULL;

	setenv("XDG_RUNTIME_DIR", tmp, 1);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(paths_control_socket(1, &out, &cause), -ENOTDIR);
	assert_null(out);
	assert_contains(cause, link);
	free(cause);
	free(target);
	free(link);
}

/*
 * The ordinary user's side of test_control_socket_other_owner_refused, as uid
 * 65534: a control socket directory of root's is refused, by the recorder and by
 * the client alike.
 */
static int
root_dir_refused_as_user(void *arg)
{
	const char *dir = arg;
	char *out = NULL, *cause = NULL;

	TESTENV_CHECK(paths_control_socket(1, &out, &cause) == -EPERM);
	TESTENV_CHECK(out == NULL);
	TESTENV_CHECK(cause != NULL && strstr(cause, dir) != NULL);
	TESTENV_CHECK(strstr(cause, "belongs to uid 0, not to you (uid 65534)") != NULL);
	free(cause);
	cause = NULL;
	TESTENV_CHECK(paths_control_socket(0, &out, &cause) == -EPERM);
	TESTENV_CHECK(out == NULL);
	free(cause);
	return 0;
}

static void
test_control_socket_other_owner_refused(void **state)
{
	const char *tmp = *state;
	char *dir = util_xasprintf("%s/mimic", tmp);
	char *out = NULL, *cause = NULL;

	/* Only root can make a directory that belongs to someone else; CI runs as root. */
	if (geteuid() != 0) {
		free(dir);
		testenv_skip("a directory of another user needs root (running as uid %u)",
		             (unsigned)geteuid());
	}
	setenv("XDG_RUNTIME_DIR", tmp, 1);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chown(dir, TESTENV_NOBODY, TESTENV_NOBODY), 0);
	assert_int_equal(paths_control_socket(1, &out, &cause), -EPERM);
	assert_null(out);
	assert_contains(cause, dir);
	assert_contains(cause, "belongs to uid 65534, not to you (uid 0)");
	assert_contains(cause, "remove it");
	free(cause);
	cause = NULL;
	assert_int_equal(paths_control_socket(0, &out, &cause), -EPERM);
	assert_null(out);
	free(cause);

	/* The other way round: root's directory, and an ordinary user who may look into tmp. */
	assert_int_equal(chown(dir, 0, 0), 0);
	assert_int_equal(chmod(tmp, 0711), 0);
	testenv_as_user(NULL, root_dir_refused_as_user, dir);
	free(dir);
}

static void
test_control_socket_tmp_fallback(void **state)
{
	char *want = util_xasprintf("/tmp/mimic-%u/control.sock", (unsigned)geteuid());
	char *out = NULL, *cause = NULL;
	int ret;

	char *out2 = NULL, *cause2 = NULL;

	const char *home = getenv("HOME");
	char *saved_home = home != NULL ? strdup(home) : NULL;

	(void)state;
	unsetenv("XDG_RUNTIME_DIR");
	/* /tmp is the last resort: only with neither XDG_CACHE_HOME nor HOME. */
	unsetenv("XDG_CACHE_HOME");
	unsetenv("HOME");
	/*
	 * create == 0 leaves the real /tmp alone. A real /tmp/mimic-UID (a recorder of
	 * this user may be running) is either fine or reported by name.
	 */
	ret = paths_control_socket(0, &out, &cause);
	if (ret == 0) {
		assert_string_equal(out, want);
		assert_null(cause);
	} else {
		assert_null(out);
		assert_contains(cause, "/tmp/mimic-");
	}

	/* A relative XDG_RUNTIME_DIR is ignored: the same answer as without one. */
	setenv("XDG_RUNTIME_DIR", "run", 1);
	assert_int_equal(paths_control_socket(0, &out2, &cause2), ret);
	if (ret == 0)
		assert_string_equal(out2, want);
	else
		assert_string_equal(cause2, cause);
	unsetenv("XDG_RUNTIME_DIR");
	if (saved_home != NULL)
		setenv("HOME", saved_home, 1);
	free(saved_home);
	free(out);
	free(cause);
	free(out2);
	free(cause2);
	free(want);
}

/*
 * Without XDG_RUNTIME_DIR the socket lives in the user's cache directory, made
 * 0700, not in /tmp where another user can create /tmp/mimic-UID first.
 */
static void
test_control_socket_home_fallback(void **state)
{
	const char *tmp = *state;
	const char *home = getenv("HOME");
	char *saved_home = home != NULL ? strdup(home) : NULL;
	char *h = util_xasprintf("%s/home", tmp), *cache = util_xasprintf("%s/cache", tmp);
	char *want = util_xasprintf("%s/home/.cache/mimic/run/control.sock", tmp);
	char *want2 = util_xasprintf("%s/cache/mimic/run/control.sock", tmp);
	char *dir = util_xasprintf("%s/home/.cache/mimic/run", tmp);
	char *out = NULL, *cause = NULL;
	struct stat st;

	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("XDG_CACHE_HOME");
	assert_int_equal(mkdir(h, 0755), 0);
	setenv("HOME", h, 1);
	assert_int_equal(paths_control_socket(1, &out, &cause), 0);
	assert_null(cause);
	assert_string_equal(out, want);
	assert_int_equal(lstat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(st.st_uid, geteuid());
	free(out);
	out = NULL;

	setenv("XDG_CACHE_HOME", cache, 1);
	assert_int_equal(paths_control_socket(1, &out, &cause), 0);
	assert_string_equal(out, want2);
	unsetenv("XDG_CACHE_HOME");
	if (saved_home != NULL)
		setenv("HOME", saved_home, 1);
	else
		unsetenv("HOME");
	free(saved_home);
	free(out);
	free(h);
	free(cache);
	free(want);
	free(want2);
	free(dir);
}

static char *
slurp(const char *path)
{
	static char buf[256];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void
spill(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 0777;
}

/*
 * paths_write_file: never through a symbolic link (the file it points to keeps
 * its bytes), an existing file of the user replaced by a new 0600 one, another
 * user's file refused.
 */
static void
test_write_file(void **state)
{
	const char *tmp = *state;
	char *victim = util_xasprintf("%s/victim", tmp), *link = util_xasprintf("%s/out.png", tmp);
	char *mine = util_xasprintf("%s/mine.png", tmp), *fresh = util_xasprintf("%s/new", tmp);
	char *cause = NULL;
	mode_t old = umask(0);

	spill(victim, "keep", 0644);
	assert_int_equal(symlink(victim, link), 0);
	assert_int_equal(paths_write_file(link, "secret", 6, PATHS_REPLACE, &cause), -ELOOP);
	assert_contains(cause, link);
	assert_contains(cause, "symbolic link");
	assert_null(strchr(cause, '\n'));
	free(cause);
	cause = NULL;
	assert_string_equal(slurp(victim), "keep");
	assert_int_equal(mode_of(victim), 0644);

	/* An existing file of the user's: replaced, and private now. */
	spill(mine, "old", 0644);
	assert_int_equal(paths_write_file(mine, "secret", 6, PATHS_REPLACE, &cause), 0);
	assert_string_equal(slurp(mine), "secret");
	assert_int_equal(mode_of(mine), 0600);
	/* Without PATHS_REPLACE an existing file stays as it is. */
	assert_int_equal(paths_write_file(mine, "other", 5, 0, &cause), -EEXIST);
	assert_contains(cause, "already exists");
	free(cause);
	cause = NULL;
	assert_string_equal(slurp(mine), "secret");

	/* A new file: 0600 whatever the umask. */
	assert_int_equal(paths_write_file(fresh, "x", 1, 0, &cause), 0);
	assert_int_equal(mode_of(fresh), 0600);

	if (geteuid() == 0) {
		assert_int_equal(chown(mine, TESTENV_NOBODY, TESTENV_NOBODY), 0);
		assert_int_equal(paths_write_file(mine, "again", 5, PATHS_REPLACE, &cause), -EPERM);
		assert_contains(cause, "belongs to uid 65534");
		free(cause);
		cause = NULL;
		assert_string_equal(slurp(mine), "secret");
	}
	umask(old);
	free(victim);
	free(link);
	free(mine);
	free(fresh);
}

/* paths_create_file: O_EXCL and O_NOFOLLOW, 0600, one line naming the file. */
static void
test_create_file(void **state)
{
	const char *tmp = *state;
	char *path = util_xasprintf("%s/steps.jsonl", tmp), *dangling = util_xasprintf("%s/d", tmp);
	char *target = util_xasprintf("%s/elsewhere", tmp), *cause = NULL;
	mode_t old = umask(0);
	int fd;

	fd = paths_create_file(path, O_WRONLY, &cause);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(paths_create_file(path, O_WRONLY, &cause), -EEXIST);
	assert_contains(cause, path);
	free(cause);
	cause = NULL;
	/* A link to where nothing is yet: nothing is created there. */
	assert_int_equal(symlink(target, dangling), 0);
	assert_int_equal(paths_create_file(dangling, O_WRONLY, &cause), -ELOOP);
	assert_contains(cause, "symbolic link");
	free(cause);
	assert_int_equal(access(target, F_OK), -1);
	umask(old);
	free(path);
	free(dangling);
	free(target);
}

/* paths_open_private: the database, audit log and locks. */
static void
test_open_private(void **state)
{
	const char *tmp = *state;
	char *path = util_xasprintf("%s/audit.log", tmp), *ln = util_xasprintf("%s/l", tmp);
	char *cause = NULL;
	int fd;

	spill(path, "line\n", 0644);
	fd = paths_open_private(path, O_RDWR | O_APPEND, &cause);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mode_of(path), 0600);
	assert_string_equal(slurp(path), "line\n");
	assert_int_equal(symlink(path, ln), 0);
	assert_int_equal(paths_open_private(ln, O_RDWR, &cause), -ELOOP);
	free(cause);
	cause = NULL;
	if (geteuid() == 0) {
		assert_int_equal(chown(path, TESTENV_NOBODY, TESTENV_NOBODY), 0);
		assert_int_equal(paths_open_private(path, O_RDWR, &cause), -EPERM);
		assert_contains(cause, "belongs to uid 65534");
		assert_contains(cause, "chown");
		free(cause);
	}
	free(path);
	free(ln);
}

/*
 * paths_secure_tree: an existing data directory left open (0755 directories,
 * 0644 files) is made 0700/0600 throughout; a link is neither followed nor
 * changed; another user's file is refused by name with the chown fix.
 */
static void
test_secure_tree(void **state)
{
	const char *tmp = *state;
	char *d = util_xasprintf("%s/data", tmp), *outside = util_xasprintf("%s/outside", tmp);
	const char *files[] = { "mimic.db", "mimic.db-wal", "mimic.db-shm", "audit.log", "key.id",
	                        "recorder.lock", "frames/ab/0123.png" };
	const char *dirs[] = { "", "frames", "frames/ab" };
	char *p, *cause = NULL;

	assert_int_equal(mkdir(d, 0755), 0);
	for (size_t i = 1; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		p = util_xasprintf("%s/%s", d, dirs[i]);
		assert_int_equal(mkdir(p, 0755), 0);
		assert_int_equal(chmod(p, i == 2 ? 0777 : 0755), 0);
		free(p);
	}
	assert_int_equal(chmod(d, 0755), 0);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		p = util_xasprintf("%s/%s", d, files[i]);
		spill(p, "x", 0644);
		free(p);
	}
	spill(outside, "x", 0644);
	/* A key open to others is left for its reader to refuse (chmod 600 named there). */
	p = util_xasprintf("%s/pseudonym.key", d);
	spill(p, "k", 0644);
	free(p);
	p = util_xasprintf("%s/link", d);
	assert_int_equal(symlink(outside, p), 0);
	free(p);

	assert_int_equal(paths_secure_tree(d, 1, &cause), 0);
	assert_null(cause);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		p = util_xasprintf("%s/%s", d, dirs[i]);
		if (mode_of(p) != 0700)
			fail_msg("%s is %04o, not 0700", p, (unsigned)mode_of(p));
		free(p);
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		p = util_xasprintf("%s/%s", d, files[i]);
		if (mode_of(p) != 0600)
			fail_msg("%s is %04o, not 0600", p, (unsigned)mode_of(p));
		free(p);
	}
	assert_int_equal(mode_of(outside), 0644);
	p = util_xasprintf("%s/pseudonym.key", d);
	assert_int_equal(mode_of(p), 0644);
	free(p);

	if (geteuid() == 0) {
		p = util_xasprintf("%s/frames/ab/0123.png", d);
		assert_int_equal(chown(p, TESTENV_NOBODY, TESTENV_NOBODY), 0);
		assert_int_equal(paths_secure_tree(d, 1, &cause), -EPERM);
		assert_contains(cause, p);
		assert_contains(cause, "belongs to uid 65534");
		assert_contains(cause, "chown -R");
		assert_null(strchr(cause, '\n'));
		free(cause);
		cause = NULL;
		/* A reader (not strict) leaves it alone. */
		assert_int_equal(paths_secure_tree(d, 0, &cause), 0);
		free(p);
	}
	free(d);
	free(outside);
}

static void
test_control_socket_too_long(void **state)
{
	char longdir[200];
	char *out = NULL, *cause = NULL;

	(void)state;
	memset(longdir, 'x', sizeof longdir - 1);
	longdir[0] = '/';
	longdir[sizeof longdir - 1] = '\0';
	setenv("XDG_RUNTIME_DIR", longdir, 1);
	assert_int_equal(paths_control_socket(1, &out, &cause), -ENAMETOOLONG);
	assert_null(out);
	assert_contains(cause, "too long");
	assert_contains(cause, "XDG_RUNTIME_DIR");
	free(cause);
}

/* paths_mkdir_p: every missing part 0700, existing parts fine, a file in the way named. */
static void
test_mkdir_p(void **state)
{
	const char *tmp = *state;
	char *dir = util_xasprintf("%s/a/b//c/", tmp);
	char *file = util_xasprintf("%s/f", tmp);
	char *under = util_xasprintf("%s/f/g/h", tmp);
	char *part = NULL, *c = util_xasprintf("%s/a/b/c", tmp);
	struct stat st;
	FILE *fp;

	assert_int_equal(paths_mkdir_p(dir, NULL), 0);
	assert_int_equal(stat(c, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	/* Again: everything exists already. */
	assert_int_equal(paths_mkdir_p(dir, &part), 0);
	assert_null(part);

	fp = fopen(file, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(paths_mkdir_p(under, &part), -ENOTDIR);
	assert_string_equal(part, file);
	free(part);
	free(dir);
	free(file);
	free(under);
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_data_dir_xdg, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_data_dir_home, setup_tmp, teardown_tmp),
		cmocka_unit_test(test_data_dir_none),
		cmocka_unit_test(test_config_file),
		cmocka_unit_test_setup_teardown(test_mkdir_p, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_ensure_dir_creates_private, setup_tmp,
		                                teardown_tmp),
		cmocka_unit_test_setup_teardown(test_ensure_dir_not_a_directory, setup_tmp,
		                                teardown_tmp),
		cmocka_unit_test_setup_teardown(test_ensure_dir_not_writable, setup_tmp,
		                                teardown_tmp),
		cmocka_unit_test_setup_teardown(test_control_socket_xdg, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_control_socket_open_dir_refused, setup_tmp,
		                                teardown_tmp),
		cmocka_unit_test_setup_teardown(test_control_socket_symlink_refused, setup_tmp,
		                                teardown_tmp),
		cmocka_unit_test_setup_teardown(test_control_socket_other_owner_refused, setup_tmp,
		                                teardown_tmp),
		cmocka_unit_test(test_control_socket_tmp_fallback),
		cmocka_unit_test_setup_teardown(test_control_socket_home_fallback, setup_tmp,
		                                teardown_tmp),
		cmocka_unit_test_setup_teardown(test_write_file, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_create_file, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_open_private, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_secure_tree, setup_tmp, teardown_tmp),
		cmocka_unit_test(test_control_socket_too_long),
	};

	/* The tests set and unset the XDG variables; start from none. */
	unsetenv("XDG_DATA_HOME");
	unsetenv("XDG_RUNTIME_DIR");
	umask(022);
	return testenv_run(tests, NULL, NULL);
}
