/*
 * What every unit test shares about its environment: how a case that cannot run
 * here is reported, how a test binary ends, and the fixtures many tests need: a
 * temporary directory, child processes, and a private X server (Xvfb).
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
#include <sys/types.h>

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

/* The first of the named programs that is not in PATH, or NULL when all are. */
const char *testenv_missing_(const char *name, ...);
#define testenv_missing(...) testenv_missing_(__VA_ARGS__, (char *)NULL)

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

/* ---- temporary directories ---------------------------------------------- */

/*
 * Makes a fresh directory $TMPDIR/<prefix>-XXXXXX (under /tmp when TMPDIR is
 * not set) and returns its path, which testenv_tmpdir_remove frees, or NULL with
 * errno set, as mkdtemp does. A directory that a case leaves behind, because it
 * failed before its teardown, goes at exit: the process that made it removes it.
 */
char *testenv_tmpdir(const char *prefix);

/*
 * Removes a directory of testenv_tmpdir and everything below it, making each
 * directory writable first (a case may leave read-only ones), and frees the path.
 * Returns 0, or -errno of the first entry that could not be removed (and says so
 * on stderr). NULL is nothing to remove.
 */
int testenv_tmpdir_remove(char *dir);

/* ---- child processes ---------------------------------------------------- */

/*
 * Starts argv[0] (found in PATH) with its standard input, output and error on
 * /dev/null and no other descriptor of the test, killed should the test die
 * (PR_SET_PDEATHSIG). The child is remembered for testenv_stop_all. Returns its
 * pid, or -1 when it cannot fork or when TESTENV_MAX_CHILDREN children it
 * started still run.
 */
#define TESTENV_MAX_CHILDREN 32
pid_t testenv_spawn(char *const argv[]);

/*
 * Starts a server that says it is ready by writing a line on a descriptor: the
 * child's descriptor 3 is a pipe, which argv names (Xvfb -displayfd 3,
 * dbus-daemon --print-address=3); otherwise as testenv_spawn, but not remembered
 * for testenv_stop_all: the caller stops it with testenv_stop. Waits up to ms for
 * the first line and puts it, without its newline, in line (size bytes). Returns
 * the pid, or -1 when no line came in time (the child is stopped again).
 */
pid_t testenv_spawn_ready(char *const argv[], char *line, size_t size, int ms);

/*
 * Stops a child of the test: SIGTERM, then SIGKILL when it is still there after
 * 2 s; reaps it and forgets it. A pid of 0 or less, or one that is no longer a
 * child of the test (it was reaped already), is left alone.
 */
void testenv_stop(pid_t pid);

/* Stops every child that testenv_spawn started and that was not stopped or reaped since. */
void testenv_stop_all(void);

/*
 * True when the child has ended: it is then reaped and forgotten, and *status
 * (when not NULL) is waitpid's status. Does not wait.
 */
bool testenv_ended(pid_t pid, int *status);

/* Waits for the child to end, reaps and forgets it: its exit status, or -1 if it was killed. */
int testenv_exit_status(pid_t pid);

/*
 * Runs a shell command (a printf format) to completion; gives its exit status, or
 * -1 when it could not run or was killed.
 */
int testenv_shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Asks done(arg) until it is true, at first often and then every 100 ms, for up
 * to ms. Returns its last answer.
 */
bool testenv_wait(bool (*done)(void *), void *arg, int ms);

/* ---- a private X server --------------------------------------------------- */

struct testenv_x {
	pid_t pid;          /* the server, or 0 when none runs */
	char display[32];   /* ":N", which DISPLAY is set to */
	char why[160];      /* why there is no server, for the cases that need one */
};

/*
 * Starts Xvfb with one screen of `screen` (WIDTHxHEIGHTxDEPTH) on a display
 * number it picks itself (-displayfd: never one that is taken, such as a
 * person's :0), waits up to 15 s until it accepts clients and sets DISPLAY to
 * it. The server keeps its state between clients (-noreset: it would otherwise
 * reset its keymap whenever the last client leaves) and listens on no TCP port.
 * Returns 0, or -1 with x->why saying why (Xvfb is not installed, or did not
 * start): a group setup goes on, and the cases that need the server skip with
 * testenv_need_x.
 */
int testenv_xvfb_start(struct testenv_x *x, const char *screen);

/* Stops the server of testenv_xvfb_start, if it runs; x->why stays. */
void testenv_xvfb_stop(struct testenv_x *x);

/* Skips the case (as testenv_skip) with x->why unless the server runs. */
void testenv_need_x_(const char *file, int line, const struct testenv_x *x);
#define testenv_need_x(x) testenv_need_x_(__FILE__, __LINE__, x)

#endif
