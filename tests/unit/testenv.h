/*
 * What every unit test shares about its environment: how a case that cannot run
 * here is reported, and how a test binary ends.
 *
 * A case that needs a tool (Xvfb, xdotool, GTK, a tmpfs mount, root) calls
 * testenv_skip() when the tool is missing. Outside CI that is a skip: the case is
 * reported as skipped and the binary exits 77, which meson counts as SKIP. With
 * CI=true a skip is a failure naming what is missing, so that a machine without
 * the tool can never turn the suite green. Tests never call cmocka's skip() by
 * themselves.
 *
 * The header is included after <cmocka.h>.
 */
#ifndef MIMIC_TESTENV_H
#define MIMIC_TESTENV_H

#include <stdbool.h>
#include <stddef.h>

/* True when the tests run in CI (the environment variable CI is "true" or "1"). */
bool testenv_ci(void);

/* True when the program `name` is found in PATH. */
bool testenv_in_path(const char *name);

/*
 * Ends the current case as not runnable here, with the reason (printf format):
 * a cmocka skip outside CI, a failure in CI. Does not return.
 */
void testenv_skip_(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
#define testenv_skip(...) testenv_skip_(__FILE__, __LINE__, __VA_ARGS__)

/* Skips the case (as above) unless every named program is in PATH; NULL ends the list. */
void testenv_need_tools_(const char *file, int line, ...);
#define testenv_need_tools(...) testenv_need_tools_(__FILE__, __LINE__, __VA_ARGS__, (char *)NULL)

/*
 * Runs a group of cases and gives the binary's exit status: the number of failed
 * cases (capped at 76), else 77 when a case was skipped, else 0. When the
 * environment variable MIMIC_TEST_ONLY is set, only the cases whose names match
 * it (cmocka's filter: '*' and '?') run.
 */
int testenv_run_(const char *group, const struct CMUnitTest *tests, size_t n,
                 CMFixtureFunction setup, CMFixtureFunction teardown);
#define testenv_run(tests, setup, teardown) \
	testenv_run_(#tests, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)

/*
 * Runs fn in a child process as an unprivileged user (nobody, 65534) when the
 * test runs as root, so that both the root and the non-root side of a check run
 * in CI, where the tests run as root. `dir`, when not NULL, is handed over to that
 * user first. fn runs in the child, where cmocka's asserts must not be used (a
 * failure would go on with the other cases in the child): it checks with
 * TESTENV_CHECK and returns 0 for success or the line of the first failed check,
 * and the case fails naming that line. Outside root, fn runs in a child with the
 * current user.
 */
void testenv_as_user_(const char *file, int line, const char *dir, int (*fn)(void *), void *arg);
#define testenv_as_user(dir, fn, arg) testenv_as_user_(__FILE__, __LINE__, dir, fn, arg)

/* A check inside a testenv_as_user function. */
#define TESTENV_CHECK(cond) do { if (!(cond)) return __LINE__; } while (0)

/* The unprivileged user of testenv_as_user. */
#define TESTENV_NOBODY 65534

#endif
