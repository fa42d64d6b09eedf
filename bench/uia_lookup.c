/*
 * uia_lookup: measures how long uia takes to name the UI element of a press, on
 * the widgets of a real zenity forms dialog, and what that costs the input thread.
 * It starts its own Xvfb, openbox, session bus and zenity dialogs (and stops them
 * all), then reports, over N presses spread over the dialog's widgets:
 *
 *   - cold presses: nothing resolved beforehand (the press is looked up at once);
 *   - hovered presses: the pointer came to rest first (uia_hover), the press only
 *     confirms the element;
 *   - the time uia_press itself takes on the caller's (input) thread, and what
 *     asking X for the window under the pointer (pointer_x11_hint) costs;
 *   - the same while another application is stopped (SIGSTOP) and receives every
 *     other press: the lookups of the live application and the caller's time.
 *
 * Lookup time is from the uia_press call to the result being ready (struct
 * uia_element.lookup_us); median and p99.
 *
 *   BUILD/bench/uia_lookup [-n PRESSES]     (built with the rest by meson)
 *
 * bench/elements_session.py measures the same in a real recording, with clicks.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xcb/xcb.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <atspi/atspi.h>
#pragma GCC diagnostic pop

#include "pointer_x11.h"
#include "uia.h"
#include "util.h"

/* --- helpers shared with the --find child ----------------------------------------- */

static int
find_walk(AtspiAccessible *a, const char *role, const char *name, int depth)
{
	char *r = atspi_accessible_get_role_name(a, NULL);
	char *n = atspi_accessible_get_name(a, NULL);
	int found = 0;

	if (r != NULL && n != NULL && strcmp(r, role) == 0 &&
	    (strcmp(name, "*") == 0 || strcmp(n, name) == 0)) {
		AtspiRect *e = atspi_component_get_extents(ATSPI_COMPONENT(a),
		                                           ATSPI_COORD_TYPE_SCREEN, NULL);
		if (e != NULL && e->x > -100000 && e->width > 1) {
			printf("%d %d %d %d\n", e->x, e->y, e->width, e->height);
			found = 1;
		}
		g_free(e);
	}
	g_free(r);
	g_free(n);
	if (!found && depth < 24) {
		int k = atspi_accessible_get_child_count(a, NULL);
		for (int i = 0; i < k && i < 200 && !found; i++) {
			AtspiAccessible *c = atspi_accessible_get_child_at_index(a, i, NULL);
			if (c != NULL) {
				found = find_walk(c, role, name, depth + 1);
				g_object_unref(c);
			}
		}
	}
	return found;
}

/* uia_lookup --find PID ROLE NAME: prints "x y w h" of an element (own process:
 * libatspi is single-threaded global state, owned by uia in the bench). */
static int
find_main(char **argv)
{
	AtspiAccessible *desktop;
	int found = 0, n;

	if (atspi_init() != 0)
		_exit(3);
	desktop = atspi_get_desktop(0);
	n = atspi_accessible_get_child_count(desktop, NULL);
	for (int i = 0; i < n && !found; i++) {
		AtspiAccessible *app = atspi_accessible_get_child_at_index(desktop, i, NULL);
		if (app == NULL)
			continue;
		if ((int)atspi_accessible_get_process_id(app, NULL) == atoi(argv[2]))
			found = find_walk(app, argv[3], argv[4], 0);
		g_object_unref(app);
	}
	fflush(stdout);
	_exit(found ? 0 : 2);
}

static char self[512];
static char tmpdir[64];

static void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static pid_t
spawn_fd(char *const argv[], int out_fd, int extra_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, STDIN_FILENO);
		dup2(out_fd >= 0 ? out_fd : null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (extra_fd >= 0)
			dup2(extra_fd, 3);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int
run_out(char *const argv[], char *out, size_t n)
{
	int fds[2], status;
	pid_t pid;
	size_t len = 0;

	if (pipe(fds) != 0)
		return -1;
	pid = spawn_fd(argv, fds[1], -1);
	close(fds[1]);
	for (;;) {
		ssize_t r = read(fds[0], out + len, n - 1 - len);
		if (r <= 0 || len + (size_t)r + 1 >= n)
			break;
		len += (size_t)r;
	}
	out[len] = '\0';
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Reads one line from fd (a child's -displayfd / --print-address). */
static int
read_line(int fd, char *buf, size_t n)
{
	size_t len = 0;

	while (len + 1 < n) {
		ssize_t r = read(fd, buf + len, 1);
		if (r <= 0)
			return -1;
		if (buf[len] == '\n')
			break;
		len++;
	}
	buf[len] = '\0';
	return 0;
}

struct rect {
	int x, y, w, h;
};

static int
find_el(pid_t pid, const char *role, const char *name, struct rect *r)
{
	char spid[16], out[128];
	char *argv[] = { self, "--find", spid, (char *)role, (char *)name, NULL };

	for (int tries = 0; tries < 100; tries++) {
		snprintf(spid, sizeof spid, "%d", (int)pid);
		if (run_out(argv, out, sizeof out) == 0 &&
		    sscanf(out, "%d %d %d %d", &r->x, &r->y, &r->w, &r->h) == 4)
			return 0;
		msleep(200);
	}
	return -1;
}

static void
xdo(const char *a, const char *b, const char *c, const char *d)
{
	char out[256];
	char *argv[] = { "xdotool", (char *)a, (char *)b, (char *)c, (char *)d, NULL };

	run_out(argv, out, sizeof out);
}

/* Stops every process carrying our private XDG_RUNTIME_DIR, by pid. */
static void
stop_all(void)
{
	char cmd[256];
	FILE *p;
	pid_t pids[128];
	int n = 0;

	snprintf(cmd, sizeof cmd, "grep -lsz '^XDG_RUNTIME_DIR=%s$' /proc/[0-9]*/environ", tmpdir);
	p = popen(cmd, "r");
	if (p != NULL) {
		char line[128];
		while (fgets(line, sizeof line, p) != NULL && n < 128) {
			pid_t pid = (pid_t)atoi(line + 6);
			if (pid > 0 && pid != getpid())
				pids[n++] = pid;
		}
		pclose(p);
	}
	for (int i = 0; i < n; i++) {
		kill(pids[i], SIGCONT);
		kill(pids[i], SIGTERM);
	}
	msleep(500);
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* --- measuring ------------------------------------------------------------------------ */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, int64_t *v, int n, const char *unit, double div)
{
	if (n == 0) {
		printf("%-44s n=0\n", what);
		return;
	}
	qsort(v, (size_t)n, sizeof v[0], cmp_i64);
	printf("%-44s n=%-4d median %7.3f %s   p99 %7.3f %s   max %7.3f %s\n", what, n,
	       (double)v[n / 2] / div, unit, (double)v[(int)(0.99 * (n - 1) + 0.5)] / div, unit,
	       (double)v[n - 1] / div, unit);
}

static struct uia *u;
static xcb_connection_t *xc;
static xcb_window_t root;

/* Waits for the result of event_id; returns its status and sets *us. */
static int
wait_result(int64_t event_id, int32_t *us, char *role, size_t role_n)
{
	struct uia_element el;
	int64_t end = util_now_mono_ns() + INT64_C(5000000000);

	while (util_now_mono_ns() < end) {
		struct pollfd pfd = { uia_fd(u), POLLIN, 0 };

		while (uia_take_results(u, &el, 1) == 1) {
			if (el.event_id == event_id) {
				*us = el.lookup_us;
				if (role != NULL)
					snprintf(role, role_n, "%s", el.role);
				return el.status;
			}
		}
		poll(&pfd, 1, 50);
	}
	return -1;
}

struct target {
	const char *role, *name;
	int32_t x, y;
	struct uia_window_hint h;
};

int
main(int argc, char **argv)
{
	int n = 200, opt, fds[2];
	char line[512], path[128];
	pid_t forms, question;
	struct target t[5] = {
		{ "text", "*", 0, 0, { 0 } },
		{ "combo box", "*", 0, 0, { 0 } },
		{ "push button", "Cancel", 0, 0, { 0 } },
		{ "push button", "OK", 0, 0, { 0 } },
		{ "label", "Region", 0, 0, { 0 } },
	};
	struct target stopped = { "push button", "Yes", 0, 0, { 0 } };
	int64_t *cold, *hov, *call, *hang_live, *hang_call, *per[5], *hint_cost;
	int n_hint = 0;
	int n_per[5] = { 0 };
	int n_cold = 0, n_hov = 0, n_call = 0, n_live = 0, n_hcall = 0, bad = 0;
	int64_t id = 1;
	char *cause = NULL, reason[256];
	ssize_t sl;

	if (argc > 1 && strcmp(argv[1], "--find") == 0 && argc == 5)
		return find_main(argv);
	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt == 'n')
			n = atoi(optarg);
		else {
			fprintf(stderr, "usage: uia_lookup [-n PRESSES]\n");
			return 2;
		}
	}
	if (n < 10)
		n = 10;
	sl = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sl <= 0)
		return 1;
	self[sl] = '\0';
	snprintf(tmpdir, sizeof tmpdir, "/tmp/mimic-uiabench-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	setenv("XDG_RUNTIME_DIR", tmpdir, 1);
	snprintf(path, sizeof path, "%s/config", tmpdir);
	setenv("XDG_CONFIG_HOME", path, 1);
	snprintf(path, sizeof path, "%s/cache", tmpdir);
	setenv("XDG_CACHE_HOME", path, 1);
	unsetenv("AT_SPI_BUS_ADDRESS");

	/* Xvfb, openbox, a session bus, the dialogs. */
	if (pipe(fds) != 0)
		return 1;
	{
		char *a[] = { "Xvfb", "-displayfd", "3", "-screen", "0", "1920x1080x24",
		              "-nolisten", "tcp", "-noreset", NULL };
		spawn_fd(a, -1, fds[1]);
	}
	close(fds[1]);
	if (read_line(fds[0], line, sizeof line) != 0) {
		fprintf(stderr, "uia_lookup: Xvfb did not start\n");
		return 1;
	}
	close(fds[0]);
	snprintf(path, sizeof path, ":%.16s", line);
	setenv("DISPLAY", path, 1);
	{
		char *a[] = { "openbox", "--sm-disable", NULL };
		spawn_fd(a, -1, -1);
	}
	if (pipe(fds) != 0)
		return 1;
	{
		char *a[] = { "dbus-daemon", "--session", "--nofork", "--print-address=3", NULL };
		spawn_fd(a, -1, fds[1]);
	}
	close(fds[1]);
	if (read_line(fds[0], line, sizeof line) != 0) {
		fprintf(stderr, "uia_lookup: dbus-daemon did not start\n");
		stop_all();
		return 1;
	}
	close(fds[0]);
	setenv("DBUS_SESSION_BUS_ADDRESS", line, 1);
	{
		char *q[] = { "zenity", "--question", "--title=Question", "--text=Proceed?", NULL };
		char *f[] = { "zenity", "--forms", "--title=Forms", "--add-entry=Name",
		              "--add-combo=Region", "--combo-values=Europe|Asia|Africa", NULL };
		question = spawn_fd(q, -1, -1);
		msleep(300);
		forms = spawn_fd(f, -1, -1);
	}
	if (find_el(question, stopped.role, stopped.name, &(struct rect){ 0, 0, 0, 0 }) != 0)
		goto fail;

	xc = xcb_connect(NULL, NULL);
	root = xcb_setup_roots_iterator(xcb_get_setup(xc)).data->root;
	for (int i = 0; i < 6; i++) {
		struct target *tg = i < 5 ? &t[i] : &stopped;
		struct rect r;
		char sx[16], sy[16], wid[64];
		char *a[] = { "xdotool", "search", "--onlyvisible", "--pid", wid, NULL };

		snprintf(wid, sizeof wid, "%d", (int)(i < 5 ? forms : question));
		run_out(a, wid, sizeof wid);
		wid[strcspn(wid, "\n")] = '\0';
		xdo("windowactivate", "--sync", wid, NULL);
		msleep(200);
		if (find_el(i < 5 ? forms : question, tg->role, tg->name, &r) != 0)
			goto fail;
		snprintf(sx, sizeof sx, "%d", r.x + r.w / 2);
		snprintf(sy, sizeof sy, "%d", r.y + r.h / 2);
		xdo("mousemove", "--sync", sx, sy);
		if (pointer_x11_hint(xc, root, &tg->h, &tg->x, &tg->y) != 0)
			goto fail;
	}

	if (uia_start(&u, &cause) != 0 || uia_is_degraded(u, reason, sizeof reason)) {
		fprintf(stderr, "uia_lookup: uia degraded: %s\n", cause != NULL ? cause : reason);
		goto fail;
	}
	cold = calloc((size_t)n, sizeof *cold);
	hov = calloc((size_t)n, sizeof *hov);
	call = calloc((size_t)n * 3, sizeof *call);
	hang_live = calloc((size_t)n, sizeof *hang_live);
	hang_call = calloc((size_t)n * 2, sizeof *hang_call);
	for (int i = 0; i < 5; i++)
		per[i] = calloc((size_t)n, sizeof *per[i]);

	/* What asking X for the window under the pointer costs (input thread, at a press). */
	hint_cost = calloc((size_t)n, sizeof *hint_cost);
	for (int i = 0; i < n; i++) {
		struct uia_window_hint h;
		int64_t c0 = util_now_mono_ns();
		if (pointer_x11_hint(xc, root, &h, NULL, NULL) == 0)
			hint_cost[n_hint++] = util_now_mono_ns() - c0;
	}

	/* Warm-up: the first lookup lists the applications. */
	for (int i = 0; i < 5; i++) {
		int32_t us;
		uia_press(u, id, t[i].x, t[i].y, util_now_mono_ns(), &t[i].h);
		wait_result(id++, &us, NULL, 0);
	}

	/* Cold presses: consecutive presses on different widgets, nothing hovered. */
	for (int i = 0; i < n; i++) {
		struct target *tg = &t[i % 5];
		int64_t c0 = util_now_mono_ns();
		int32_t us;
		char role[UIA_ROLE_MAX];

		uia_press(u, id, tg->x, tg->y, c0, &tg->h);
		call[n_call++] = util_now_mono_ns() - c0;
		if (wait_result(id++, &us, role, sizeof role) == UIA_OK &&
		    strcmp(role, tg->role) == 0) {
			cold[n_cold++] = us;
			per[i % 5][n_per[i % 5]++] = us;
		} else {
			bad++;
		}
	}

	/* Hovered presses: the pointer rested first; the press confirms. */
	for (int i = 0; i < n; i++) {
		struct target *tg = &t[i % 5];
		struct uia_stats st0, st;
		int64_t c0, end;
		int32_t us;
		char role[UIA_ROLE_MAX];

		uia_get_stats(u, &st0);
		c0 = util_now_mono_ns();
		uia_hover(u, tg->x, tg->y, c0, &tg->h);
		call[n_call++] = util_now_mono_ns() - c0;
		end = c0 + INT64_C(2000000000);
		do {
			struct timespec ts = { 0, 200000 };
			nanosleep(&ts, NULL);
			uia_get_stats(u, &st);
		} while (st.hovers_resolved == st0.hovers_resolved && util_now_mono_ns() < end);
		c0 = util_now_mono_ns();
		uia_press(u, id, tg->x, tg->y, c0, &tg->h);
		call[n_call++] = util_now_mono_ns() - c0;
		if (wait_result(id++, &us, role, sizeof role) == UIA_OK &&
		    strcmp(role, tg->role) == 0)
			hov[n_hov++] = us;
		else
			bad++;
	}

	/* A stopped application gets every other press. */
	kill(question, SIGSTOP);
	for (int i = 0; i < n; i++) {
		struct target *tg = &t[i % 5];
		int64_t c0 = util_now_mono_ns(), live_id;
		int32_t us;

		uia_press(u, id++, stopped.x, stopped.y, c0, &stopped.h);
		hang_call[n_hcall++] = util_now_mono_ns() - c0;
		c0 = util_now_mono_ns();
		live_id = id++;
		uia_press(u, live_id, tg->x, tg->y, c0, &tg->h);
		hang_call[n_hcall++] = util_now_mono_ns() - c0;
		if (wait_result(live_id, &us, NULL, 0) == UIA_OK)
			hang_live[n_live++] = us;
		else
			bad++;
	}
	kill(question, SIGCONT);

	printf("uia lookups on a zenity forms dialog (Xvfb 1920x1080, %d presses each)\n", n);
	report("cold press -> element", cold, n_cold, "ms", 1e3);
	for (int i = 0; i < 5; i++) {
		char what[64];
		snprintf(what, sizeof what, "  cold, %s '%s'", t[i].role, t[i].name);
		report(what, per[i], n_per[i], "ms", 1e3);
	}
	report("hovered press -> element (confirm)", hov, n_hov, "ms", 1e3);
	report("uia_press/uia_hover call (input thread)", call, n_call, "us", 1e3);
	report("pointer_x11_hint (input thread, X)", hint_cost, n_hint, "us", 1e3);
	report("press on live app, other app stopped", hang_live, n_live, "ms", 1e3);
	report("uia_press call, other app stopped", hang_call, n_hcall, "us", 1e3);
	{
		struct uia_stats st;
		uia_get_stats(u, &st);
		printf("results: %llu ok, %llu timeout, %llu dropped, %llu lost; apps marked hung %llu; "
		       "wrong or missing %d\n", (unsigned long long)st.ok,
		       (unsigned long long)st.timeout, (unsigned long long)st.dropped,
		       (unsigned long long)st.results_lost, (unsigned long long)st.hung_marks, bad);
	}
	uia_stop(u);
	xcb_disconnect(xc);
	stop_all();
	{
		char out[16];
		char *a[] = { "rm", "-rf", tmpdir, NULL };
		run_out(a, out, sizeof out);
	}
	return 0;

fail:
	fprintf(stderr, "uia_lookup: could not set up the dialogs\n");
	if (u != NULL)
		uia_stop(u);
	stop_all();
	return 1;
}
