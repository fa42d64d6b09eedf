/*
 * The unit tests' shared environment (testenv.h): skips that fail in CI, the
 * exit status meson reads, running a check as an unprivileged user, and the
 * fixtures: temporary directories, child processes and a private Xvfb.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testenv.h"

static int skipped;

bool testenv_ci(void)
{
	const char *ci = getenv("CI");

	return ci != NULL && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

bool testenv_in_path(const char *name)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (path == NULL)
		return false;
	while (*path != '\0') {
		const char *end = strchr(path, ':');
		size_t len = end != NULL ? (size_t)(end - path) : strlen(path);

		if (len > 0 && len + strlen(name) + 2 < sizeof buf) {
			snprintf(buf, sizeof buf, "%.*s/%s", (int)len, path, name);
			if (access(buf, X_OK) == 0)
				return true;
		}
		if (end == NULL)
			break;
		path = end + 1;
	}
	return false;
}

void testenv_skip_(const char *file, int line, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (testenv_ci()) {
		/* In CI nothing may pass by not running: name what is missing. */
		print_error("CI=true, so a case may not skip: %s (install it with "
		            "scripts/install-deps)\n", why);
		_fail(file, line);
	}
	print_message("skipped: %s\n", why);
	skipped++;
	skip();
	abort(); /* skip() does not return; this tells the compiler so */
}

/* The first of the names in ap that is not in PATH, or NULL. */
static const char *missing_in(const char *name, va_list ap)
{
	for (; name != NULL; name = va_arg(ap, const char *))
		if (!testenv_in_path(name))
			return name;
	return NULL;
}

const char *testenv_missing_(const char *name, ...)
{
	const char *missing;
	va_list ap;

	va_start(ap, name);
	missing = missing_in(name, ap);
	va_end(ap);
	return missing;
}

void testenv_need_tools_(const char *file, int line, ...)
{
	const char *missing;
	va_list ap;

	va_start(ap, line);
	missing = missing_in(va_arg(ap, const char *), ap);
	va_end(ap);
	if (missing != NULL)
		testenv_skip_(file, line, "%s is not installed (not found in PATH)", missing);
}

int testenv_run_(const char *group, const struct CMUnitTest *tests, size_t n,
                 CMFixtureFunction setup, CMFixtureFunction teardown)
{
	const char *only = getenv("MIMIC_TEST_ONLY");
	int failed;

	if (only != NULL && *only != '\0')
		cmocka_set_test_filter(only);
	failed = _cmocka_run_group_tests(group, tests, n, setup, teardown);
	if (failed > 0)
		return failed > 76 ? 76 : failed;
	if (skipped > 0)
		return testenv_ci() ? 1 : 77;
	return 0;
}

void testenv_as_user_(const char *file, int line, const char *dir, int (*fn)(void *), void *arg)
{
	int status = 0;
	pid_t pid;

	if (geteuid() == 0 && dir != NULL && chown(dir, TESTENV_NOBODY, TESTENV_NOBODY) != 0) {
		print_error("chown %s: %s\n", dir, strerror(errno));
		_fail(file, line);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		print_error("fork: %s\n", strerror(errno));
		_fail(file, line);
	}
	if (pid == 0) {
		int at;

		if (geteuid() == 0 &&
		    (setgroups(0, NULL) != 0 || setgid(TESTENV_NOBODY) != 0 ||
		     setuid(TESTENV_NOBODY) != 0)) {
			fprintf(stderr, "cannot become uid %d: %s\n", TESTENV_NOBODY, strerror(errno));
			_exit(2);
		}
		at = fn(arg);
		if (at != 0)
			fprintf(stderr, "the check failed at %s:%d\n", file, at);
		_exit(at != 0 ? 1 : 0);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_error("the check as uid %d failed (%s %d)\n",
		            geteuid() == 0 ? TESTENV_NOBODY : (int)geteuid(),
		            WIFEXITED(status) ? "exit" : "signal",
		            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		_fail(file, line);
	}
}

/* ---- temporary directories ---------------------------------------------- */

/* A directory of testenv_tmpdir, until it is removed; its path is what the caller holds. */
struct tmpdir {
	struct tmpdir *next;
	pid_t owner;   /* the process that made it, the only one to remove it at exit */
	char path[];
};

static struct tmpdir *tmpdirs;

/* Removes name (relative to the directory parent) and all below it; 0 or the first -errno. */
static int remove_tree(int parent, const char *name)
{
	struct dirent *de;
	struct stat st;
	DIR *d = NULL;
	int fd, rc = 0;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(parent, name, 0) == 0 ? 0 : -errno;
	/* A case may leave a directory read-only: its entries could not go otherwise. */
	fchmodat(parent, name, 0700, 0);
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	while ((de = readdir(d)) != NULL) {
		int r;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = remove_tree(dirfd(d), de->d_name);
		if (rc == 0)
			rc = r;
	}
	closedir(d);
fail:
	if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* At exit: what the cases of this process left behind. */
static void remove_leftovers(void)
{
	struct tmpdir *t = tmpdirs, *next;

	for (; t != NULL; t = next) {
		next = t->next;
		if (t->owner == getpid())
			remove_tree(AT_FDCWD, t->path);
		free(t);
	}
	tmpdirs = NULL;
}

char *testenv_tmpdir(const char *prefix)
{
	static bool registered;
	const char *base = getenv("TMPDIR");
	struct tmpdir *t;
	size_t size;
	int err;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	size = strlen(base) + strlen(prefix) + sizeof "/-XXXXXX";
	t = malloc(sizeof *t + size);
	if (t == NULL)
		return NULL;
	snprintf(t->path, size, "%s/%s-XXXXXX", base, prefix);
	if (mkdtemp(t->path) == NULL) {
		err = errno;
		free(t);
		errno = err;
		return NULL;
	}
	if (!registered)
		registered = atexit(remove_leftovers) == 0;
	t->owner = getpid();
	t->next = tmpdirs;
	tmpdirs = t;
	return t->path;
}

int testenv_tmpdir_remove(char *dir)
{
	struct tmpdir **at = &tmpdirs, *t;
	int rc;

	if (dir == NULL)
		return 0;
	while (*at != NULL && (*at)->path != dir)
		at = &(*at)->next;
	assert(*at != NULL);   /* only a path of testenv_tmpdir, and only once */
	t = *at;
	*at = t->next;
	rc = remove_tree(AT_FDCWD, t->path);
	if (rc != 0)
		fprintf(stderr, "could not remove %s: %s\n", t->path, strerror(-rc));
	free(t);
	return rc;
}

/* ---- child processes ---------------------------------------------------- */

static pid_t children[TESTENV_MAX_CHILDREN];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void forget(pid_t pid)
{
	for (int i = 0; i < TESTENV_MAX_CHILDREN; i++)
		if (children[i] == pid)
			children[i] = 0;
}

/*
 * Forks and execs argv with /dev/null for its standard descriptors; ready_fd,
 * when not -1, becomes the child's descriptor 3. Every other descriptor of the
 * test is closed, so that no child holds a pipe or a connection of another open.
 */
static pid_t start_child(char *const argv[], int ready_fd)
{
	pid_t pid = fork();
	int null;

	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
	}
	if (ready_fd == 3)
		fcntl(3, F_SETFD, 0);
	else if (ready_fd >= 0)
		dup2(ready_fd, 3);
	close_range(ready_fd >= 0 ? 4 : 3, ~0U, 0);
	execvp(argv[0], argv);
	_exit(127);
}

pid_t testenv_spawn(char *const argv[])
{
	int slot = 0;
	pid_t pid;

	while (slot < TESTENV_MAX_CHILDREN && children[slot] != 0)
		slot++;
	if (slot == TESTENV_MAX_CHILDREN)
		return -1;
	pid = start_child(argv, -1);
	if (pid > 0)
		children[slot] = pid;
	return pid;
}

pid_t testenv_spawn_ready(char *const argv[], char *line, size_t size, int ms)
{
	int64_t end = now_ms() + ms;
	size_t got = 0;
	int fds[2];
	pid_t pid;

	line[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid = start_child(argv, fds[1]);
	close(fds[1]);
	/* A server may write its line in pieces (Xvfb: the number, then the newline). */
	while (pid > 0 && got + 1 < size && memchr(line, '\n', got) == NULL) {
		struct pollfd p = { fds[0], POLLIN, 0 };
		int64_t left = end - now_ms();
		ssize_t r;

		if (left <= 0 || poll(&p, 1, (int)left) != 1)
			break;
		r = read(fds[0], line + got, size - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
		line[got] = '\0';
	}
	close(fds[0]);
	if (pid > 0 && memchr(line, '\n', got) == NULL) {
		testenv_stop(pid);
		pid = -1;
	}
	line[strcspn(line, "\n")] = '\0';
	return pid;
}

void testenv_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	forget(pid);
	/* Reaped now, or no longer a child of ours (so the pid may be another's): done. */
	if (waitpid(pid, NULL, WNOHANG) != 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

void testenv_stop_all(void)
{
	for (int i = 0; i < TESTENV_MAX_CHILDREN; i++)
		testenv_stop(children[i]);
}

bool testenv_ended(pid_t pid, int *status)
{
	int st = 0;

	if (pid <= 0 || waitpid(pid, &st, WNOHANG) != pid)
		return false;
	forget(pid);
	if (status != NULL)
		*status = st;
	return true;
}

int testenv_exit_status(pid_t pid)
{
	int status = 0;
	pid_t r;

	if (pid <= 0)
		return -1;
	while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	forget(pid);
	return r == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int testenv_shell(const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	rc = system(cmd);
	free(cmd);
	return rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

bool testenv_wait(bool (*done)(void *), void *arg, int ms)
{
	int64_t end = now_ms() + ms;
	int tick = 1;
	bool ok;

	while (!(ok = done(arg)) && now_ms() < end) {
		sleep_ms(tick);
		tick = tick * 2 > 100 ? 100 : tick * 2;
	}
	return ok;
}

/* ---- a private X server --------------------------------------------------- */

int testenv_xvfb_start(struct testenv_x *x, const char *screen)
{
	char *argv[] = { "Xvfb", "-displayfd", "3", "-screen", "0", (char *)screen,
	                 "-nolisten", "tcp", "-noreset", NULL };
	char line[32];

	memset(x, 0, sizeof *x);
	if (!testenv_in_path("Xvfb")) {
		snprintf(x->why, sizeof x->why, "Xvfb is not installed (not found in PATH)");
		return -1;
	}
	x->pid = testenv_spawn_ready(argv, line, sizeof line, 15000);
	if (x->pid <= 0 || line[0] < '0' || line[0] > '9') {
		testenv_stop(x->pid);
		x->pid = 0;
		snprintf(x->why, sizeof x->why, "Xvfb did not start");
		return -1;
	}
	snprintf(x->display, sizeof x->display, ":%d", atoi(line));
	setenv("DISPLAY", x->display, 1);
	return 0;
}

void testenv_xvfb_stop(struct testenv_x *x)
{
	testenv_stop(x->pid);
	x->pid = 0;
}

void testenv_need_x_(const char *file, int line, const struct testenv_x *x)
{
	if (x->pid <= 0)
		testenv_skip_(file, line, "%s", x->why[0] != '\0' ? x->why : "no X server");
}
