/*
 * The unit tests' shared environment (testenv.h): skips that fail in CI, the
 * exit status meson reads, and running a check as an unprivileged user.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testenv.h"

static int skipped;

bool
testenv_ci(void)
{
	const char *ci = getenv("CI");

	return ci != NULL && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

bool
testenv_in_path(const char *name)
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

void
testenv_skip_(const char *file, int line, const char *fmt, ...)
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

void
testenv_need_tools_(const char *file, int line, ...)
{
	const char *name;
	va_list ap;

	va_start(ap, line);
	while ((name = va_arg(ap, const char *)) != NULL) {
		if (!testenv_in_path(name)) {
			va_end(ap);
			testenv_skip_(file, line, "%s is not installed (not found in PATH)", name);
		}
	}
	va_end(ap);
}

int
testenv_run_(const char *group, const struct CMUnitTest *tests, size_t n,
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

void
testenv_as_user_(const char *file, int line, const char *dir, int (*fn)(void *), void *arg)
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
