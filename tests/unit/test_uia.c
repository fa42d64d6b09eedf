/*
 * Tests of uia against real GTK applications: the run starts its own Xvfb,
 * openbox, a private session bus (which activates the accessibility bus) and
 * three zenity dialogs (a form with an entry and a combo box, a password prompt
 * and a yes/no question) and a GTK window with a menu bar (this binary run as
 * `test_uia --gtk-menu`), moves the pointer with xdotool and checks what a person
 * would see in a recording: which button, combo box, menu item or entry a press
 * or a typing run acted on. It also checks that without a session bus uia works
 * degraded (and never autolaunches a bus), that a hung application cannot stall
 * it, and that its queue stays bounded. Skipped when Xvfb, openbox, dbus-daemon,
 * xdotool or zenity are missing.
 *
 * Where widgets are on screen is asked of AT-SPI in a separate process (this
 * binary run as `test_uia --find PID ROLE NAME`), and so is the check that needs
 * a second connection (`--probe`): libatspi is one global, single-threaded state,
 * owned here by the module under test, and connects once per process.
 *
 * Every process the test starts carries XDG_RUNTIME_DIR=<its private directory>,
 * which is how the teardown finds and stops them all, including the accessibility
 * bus launcher and registry that the session bus activates.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testenv.h"
#include <xcb/xcb.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <atspi/atspi.h>
#pragma GCC diagnostic pop

#include "pointer_x11.h"
#include "uia.h"
#include "util.h"

/*
 * Under AddressSanitizer (CI runs every test again with it): libatspi leaks ~150
 * bytes each time a call times out, which test_hung_app makes happen. The same
 * suppression is in tests/unit/lsan.supp; it needs full stacks (libdbus has no
 * frame pointers). Unused without the sanitizer.
 */
const char *__asan_default_options(void);
const char *__lsan_default_suppressions(void);

const char *
__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

const char *
__lsan_default_suppressions(void)
{
	return "leak:dbind_send_and_allow_reentry\n";
}

/* --- the --find helper (a separate process) -------------------------------------- */

static int
find_walk(AtspiAccessible *a, const char *role, const char *name, int depth)
{
	char *r = atspi_accessible_get_role_name(a, NULL);
	char *n = atspi_accessible_get_name(a, NULL);
	AtspiStateSet *ss = atspi_accessible_get_state_set(a);
	int showing = ss != NULL && atspi_state_set_contains(ss, ATSPI_STATE_SHOWING);
	int found = 0;

	if (ss != NULL)
		g_object_unref(ss);
	if (showing && r != NULL && n != NULL && strcmp(r, role) == 0 &&
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

/* test_uia --find PID ROLE NAME: prints "x y w h" of a showing element; exits 0 if found. */
static int
find_main(int argc, char **argv)
{
	AtspiAccessible *desktop;
	int found = 0, n;

	if (argc != 5 || atspi_init() != 0)
		_exit(3);
	atspi_set_timeout(1000, 0);
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
	/* _exit: no leak report from this short-lived helper under ASan. */
	_exit(found ? 0 : 2);
}

/* test_uia --probe: starts a uia and prints "degraded=N reason". */
static int
probe_main(void)
{
	struct uia *u;
	char *cause = NULL, reason[256];
	int d;

	if (uia_start(&u, &cause) != 0)
		_exit(3);
	d = uia_is_degraded(u, reason, sizeof reason);
	printf("degraded=%d %s\n", d, reason);
	fflush(stdout);
	uia_stop(u);
	_exit(0);
}

/*
 * test_uia --gtk-menu: a GTK 3 window with a menu bar (File > Open, File > Recent >
 * notes.txt) and accelerators, for the menu path and shortcut checks. GTK's
 * headers are not installed, only the library: it is opened with dlopen.
 */
typedef void *(*gtk_new_fn)(void);
typedef void *(*gtk_new_i_fn)(int);
typedef void *(*gtk_new_s_fn)(const char *);
typedef void *(*gtk_new_ii_fn)(int, int);
typedef void (*gtk_pp_fn)(void *, void *);
typedef void (*gtk_ps_fn)(void *, const char *);
typedef void (*gtk_pii_fn)(void *, int, int);
typedef void (*gtk_p_fn)(void *);
typedef void (*gtk_init_fn)(int *, char ***);
typedef void (*gtk_accel_fn)(void *, const char *, void *, unsigned, unsigned, unsigned);
typedef void (*gtk_pack_fn)(void *, void *, int, int, unsigned);

static void *
sym(void *lib, const char *name)
{
	void *p = dlsym(lib, name);

	if (p == NULL)
		_exit(4);
	return p;
}

static int
gtk_menu_main(void)
{
	void *lib = dlopen("libgtk-3.so.0", RTLD_NOW | RTLD_GLOBAL);
	gtk_init_fn init;
	gtk_new_i_fn window_new;
	gtk_new_ii_fn box_new;
	gtk_new_fn menu_bar_new, menu_new, accel_group_new;
	gtk_new_s_fn item_new;
	gtk_pp_fn set_submenu, shell_append, container_add, add_accel_group;
	gtk_ps_fn set_title;
	gtk_pii_fn set_size;
	gtk_p_fn show_all;
	gtk_accel_fn add_accel;
	gtk_pack_fn pack_start;
	void (*run)(void);
	void *win, *box, *bar, *file, *file_menu, *open, *recent, *recent_menu, *notes, *accels;

	if (lib == NULL)
		_exit(5);
	*(void **)&init = sym(lib, "gtk_init");
	*(void **)&window_new = sym(lib, "gtk_window_new");
	*(void **)&box_new = sym(lib, "gtk_box_new");
	*(void **)&menu_bar_new = sym(lib, "gtk_menu_bar_new");
	*(void **)&menu_new = sym(lib, "gtk_menu_new");
	*(void **)&accel_group_new = sym(lib, "gtk_accel_group_new");
	*(void **)&item_new = sym(lib, "gtk_menu_item_new_with_label");
	*(void **)&set_submenu = sym(lib, "gtk_menu_item_set_submenu");
	*(void **)&shell_append = sym(lib, "gtk_menu_shell_append");
	*(void **)&container_add = sym(lib, "gtk_container_add");
	*(void **)&add_accel_group = sym(lib, "gtk_window_add_accel_group");
	*(void **)&set_title = sym(lib, "gtk_window_set_title");
	*(void **)&set_size = sym(lib, "gtk_window_set_default_size");
	*(void **)&show_all = sym(lib, "gtk_widget_show_all");
	*(void **)&add_accel = sym(lib, "gtk_widget_add_accelerator");
	*(void **)&pack_start = sym(lib, "gtk_box_pack_start");
	*(void **)&run = sym(lib, "gtk_main");

	init(NULL, NULL);
	win = window_new(0 /* GTK_WINDOW_TOPLEVEL */);
	set_title(win, "Menus");
	set_size(win, 400, 300);
	accels = accel_group_new();
	add_accel_group(win, accels);
	box = box_new(1 /* GTK_ORIENTATION_VERTICAL */, 0);
	container_add(win, box);
	bar = menu_bar_new();
	pack_start(box, bar, 0, 0, 0);
	file = item_new("File");
	shell_append(bar, file);
	file_menu = menu_new();
	set_submenu(file, file_menu);
	open = item_new("Open");
	/* GDK_KEY_o, GDK_CONTROL_MASK, GTK_ACCEL_VISIBLE */
	add_accel(open, "activate", accels, 0x06f, 1u << 2, 1);
	shell_append(file_menu, open);
	recent = item_new("Recent");
	shell_append(file_menu, recent);
	recent_menu = menu_new();
	set_submenu(recent, recent_menu);
	notes = item_new("notes.txt");
	/* GDK_KEY_t, GDK_CONTROL_MASK | GDK_SHIFT_MASK */
	add_accel(notes, "activate", accels, 0x074, (1u << 2) | 1u, 1);
	shell_append(recent_menu, notes);
	show_all(win);
	run();
	_exit(0);
}

/* --- processes --------------------------------------------------------------------- */

static struct {
	int ready;                 /* the environment is up */
	char *tmp;                 /* private directory: XDG_RUNTIME_DIR and friends */
	struct testenv_x x;        /* the private X server */
	char bus[512];             /* session bus address */
	pid_t dbus, openbox;
	pid_t forms, password, question;
	xcb_connection_t *xc;
	xcb_window_t root;
	struct uia *u;
	char self[512];            /* this binary, for --find */
	char x_bus[1024];          /* the AT_SPI_BUS root property, while a test hides it */
	const char *missing;       /* the program that is not installed, when not ready */
	int x_attached;            /* uia_attach_x was called on env.u */
	int threads0, fds0;        /* this process's threads and descriptors before any uia */
} env;

/* Runs argv, puts up to n-1 bytes of its stdout in out; returns its exit status or -1. */
static int
run_out(char *const argv[], char *out, size_t n)
{
	int fds[2];
	pid_t pid;
	size_t len = 0;
	int status;

	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, STDIN_FILENO);
		dup2(fds[1], STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(fds[0]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		char scratch[64];
		ssize_t r = read(fds[0], out != NULL ? out + len : scratch,
		                 out != NULL ? n - 1 - len : sizeof scratch);
		if (r <= 0)
			break;
		if (out != NULL)
			len += (size_t)r;
		if (out != NULL && len + 1 >= n)
			break;
	}
	close(fds[0]);
	if (out != NULL)
		out[len] = '\0';
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
run(char *const argv[])
{
	return run_out(argv, NULL, 0);
}

static void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int64_t
now_ms(void)
{
	return util_now_mono_ns() / 1000000;
}

/* True while pid exists and is not a zombie. */
static int
alive(pid_t pid)
{
	char path[64], buf[512];
	FILE *f;
	char *p;
	int zombie = 0;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fgets(buf, sizeof buf, f) != NULL && (p = strrchr(buf, ')')) != NULL)
		zombie = p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
	fclose(f);
	return !zombie;
}

/*
 * Stops every process whose environment has our private XDG_RUNTIME_DIR (the
 * ones this test started, and whatever they started), by pid: TERM, then KILL.
 */
static void
stop_all(void)
{
	char needle[128];
	pid_t pids[256];
	int n = 0;
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (env.tmp == NULL || d == NULL) {
		if (d != NULL)
			closedir(d);
		return;
	}
	snprintf(needle, sizeof needle, "XDG_RUNTIME_DIR=%s", env.tmp);
	while ((de = readdir(d)) != NULL && n < 256) {
		char path[300], buf[16384];
		pid_t pid = (pid_t)atoi(de->d_name);
		ssize_t len;
		int fd;

		if (pid <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof path, "/proc/%s/environ", de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (len <= 0)
			continue;
		for (ssize_t i = 0; i < len; i += (ssize_t)strlen(buf + i) + 1) {
			buf[len] = '\0';
			if (strcmp(buf + i, needle) == 0) {
				pids[n++] = pid;
				break;
			}
		}
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGCONT);
	for (int i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
	for (int t = 0; t < 100; t++) {
		int left = 0;
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		for (int i = 0; i < n; i++)
			left += alive(pids[i]);
		if (left == 0)
			break;
		msleep(20);
	}
	for (int i = 0; i < n; i++)
		if (alive(pids[i]))
			kill(pids[i], SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* The entries of a /proc directory (threads in task/, descriptors in fd/). */
static int
count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	/* opendir's own descriptor is among those of fd/. */
	return strcmp(path, "/proc/self/fd") == 0 ? n - 1 : n;
}

/* Prints this process's descriptors and what they are, for a failure's message. */
static void
print_fds(const char *when)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (d == NULL)
		return;
	printf("# descriptors %s:", when);
	while ((de = readdir(d)) != NULL) {
		char path[300], target[256];
		ssize_t n;

		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof target - 1);
		target[n > 0 ? n : 0] = '\0';
		printf(" %s=%s", de->d_name, target);
	}
	printf("\n");
	closedir(d);
}

static int
count_procs(const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[300], buf[64] = "";
		FILE *f;

		if (atoi(de->d_name) <= 0)
			continue;
		snprintf(path, sizeof path, "/proc/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(buf, sizeof buf, f) != NULL) {
			buf[strcspn(buf, "\n")] = '\0';
			n += strcmp(buf, comm) == 0;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* --- X and AT-SPI helpers ------------------------------------------------------------ */

struct rect {
	int x, y, w, h;
};

/* Where a showing element is, asked of AT-SPI in a fresh process; 0 when found. */
static int
find_el(pid_t pid, const char *role, const char *name, struct rect *r)
{
	char spid[16], out[128];
	char *argv[] = { env.self, "--find", spid, (char *)role, (char *)name, NULL };

	snprintf(spid, sizeof spid, "%d", (int)pid);
	if (run_out(argv, out, sizeof out) != 0)
		return -1;
	return sscanf(out, "%d %d %d %d", &r->x, &r->y, &r->w, &r->h) == 4 ? 0 : -1;
}

static int
wait_el(pid_t pid, const char *role, const char *name, struct rect *r, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	while (find_el(pid, role, name, r) != 0) {
		if (now_ms() > end)
			return -1;
		msleep(100);
	}
	return 0;
}

/* The visible top-level window of pid (xdotool), "" when none. */
static void
window_of(pid_t pid, char *wid, size_t n)
{
	char spid[16], out[256];
	char *argv[] = { "xdotool", "search", "--onlyvisible", "--pid", spid, NULL };

	snprintf(spid, sizeof spid, "%d", (int)pid);
	wid[0] = '\0';
	if (run_out(argv, out, sizeof out) == 0) {
		out[strcspn(out, "\n")] = '\0';
		util_strlcpy_utf8(wid, out, n);
	}
}

static void
activate(pid_t pid)
{
	char wid[64];
	char *argv[] = { "xdotool", "windowactivate", "--sync", wid, NULL };

	window_of(pid, wid, sizeof wid);
	assert_true(wid[0] != '\0');
	run(argv);
	msleep(150);
}

static void
pointer_to(int x, int y)
{
	char sx[16], sy[16];
	char *argv[] = { "xdotool", "mousemove", "--sync", sx, sy, NULL };
	xcb_query_pointer_reply_t *q = xcb_query_pointer_reply(env.xc,
	        xcb_query_pointer(env.xc, env.root), NULL);
	int there = q != NULL && q->root_x == x && q->root_y == y;

	free(q);
	if (there)
		return; /* `mousemove --sync` would wait for a motion that never comes */
	snprintf(sx, sizeof sx, "%d", x);
	snprintf(sy, sizeof sy, "%d", y);
	run(argv);
}

static void
click(void)
{
	char *argv[] = { "xdotool", "click", "1", NULL };

	run(argv);
}

static void
type_text(const char *s)
{
	char *argv[] = { "xdotool", "type", "--delay", "20", (char *)s, NULL };

	run(argv);
}

static void
key(const char *k)
{
	char *argv[] = { "xdotool", "key", (char *)k, NULL };

	run(argv);
}

static void
hint_here(struct uia_window_hint *h, int32_t *x, int32_t *y)
{
	assert_int_equal(pointer_x11_hint(env.xc, env.root, h, x, y), 0);
}

static xcb_atom_t
atom(const char *name)
{
	xcb_intern_atom_reply_t *r = xcb_intern_atom_reply(env.xc,
	        xcb_intern_atom(env.xc, 0, (uint16_t)strlen(name), name), NULL);
	xcb_atom_t a = r != NULL ? r->atom : XCB_ATOM_NONE;

	free(r);
	return a;
}

/* A STRING property of the root window ("" when absent). */
static void
root_prop(const char *name, char *out, size_t n)
{
	xcb_get_property_reply_t *r = xcb_get_property_reply(env.xc,
	        xcb_get_property(env.xc, 0, env.root, atom(name), XCB_ATOM_STRING, 0, 1024), NULL);

	out[0] = '\0';
	if (r != NULL && r->format == 8) {
		size_t len = (size_t)xcb_get_property_value_length(r);
		if (len >= n)
			len = n - 1;
		memcpy(out, xcb_get_property_value(r), len);
		out[len] = '\0';
	}
	free(r);
}

/* Sets (or, with NULL, deletes) a STRING property of the root window. */
static void
set_root_prop(const char *name, const char *value)
{
	if (value == NULL)
		xcb_delete_property(env.xc, env.root, atom(name));
	else
		xcb_change_property(env.xc, XCB_PROP_MODE_REPLACE, env.root, atom(name),
		                    XCB_ATOM_STRING, 8, (uint32_t)strlen(value), value);
	free(xcb_get_input_focus_reply(env.xc, xcb_get_input_focus(env.xc), NULL));
}

/* Takes the accessibility bus's address off the root window (a test without a bus). */
static void
hide_x_bus(void)
{
	root_prop("AT_SPI_BUS", env.x_bus, sizeof env.x_bus);
	set_root_prop("AT_SPI_BUS", NULL);
}

static void
restore_x_bus(void)
{
	if (env.x_bus[0] != '\0')
		set_root_prop("AT_SPI_BUS", env.x_bus);
}

/* Results taken while waiting for another event id. */
static struct uia_element stash[512];
static int n_stash;

/* Waits up to timeout_ms for the result of event_id; 0 when it came. */
static int
wait_result(int64_t event_id, struct uia_element *out, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	struct uia_element batch[16];

	for (;;) {
		size_t n;
		struct pollfd pfd = { uia_fd(env.u), POLLIN, 0 };

		for (int i = 0; i < n_stash; i++) {
			if (stash[i].event_id == event_id) {
				*out = stash[i];
				stash[i] = stash[--n_stash];
				return 0;
			}
		}
		n = uia_take_results(env.u, batch, 16);
		for (size_t i = 0; i < n && n_stash < 512; i++)
			stash[n_stash++] = batch[i];
		if (n > 0)
			continue;
		if (now_ms() > end)
			return -1;
		poll(&pfd, 1, 20);
	}
}

/* Waits until the uia thread has looked up one more hover. */
static void
wait_hover_done(uint64_t before)
{
	struct uia_stats st;
	int64_t end = now_ms() + 3000;

	do {
		msleep(5);
		uia_get_stats(env.u, &st);
	} while (st.hovers_resolved <= before && now_ms() < end);
	assert_true(st.hovers_resolved > before);
}

static uint64_t
hovers_done(void)
{
	struct uia_stats st;

	uia_get_stats(env.u, &st);
	return st.hovers_resolved;
}

static int
has_ancestor(const struct uia_element *el, const char *role, const char *name)
{
	for (int i = 0; i < el->n_ancestors; i++)
		if (strcmp(el->ancestors[i].role, role) == 0 &&
		    (name == NULL || strcmp(el->ancestors[i].name, name) == 0))
			return 1;
	return 0;
}

static void
print_el(const char *what, const struct uia_element *el)
{
	printf("# %s: status=%s source=%s %d us role='%s' name='%s' label='%s' pid=%d "
	       "states='%s' [%d,%d %dx%d] menu='%s'", what, uia_status_name(el->status),
	       uia_source_name(el->source), el->lookup_us, el->role, el->name, el->label,
	       el->pid, el->state_names, el->x, el->y, el->w, el->h, el->menu_path);
	for (int i = 0; i < el->n_ancestors; i++)
		printf(" < %s '%s'", el->ancestors[i].role, el->ancestors[i].name);
	printf("\n");
}

/* --- setup ---------------------------------------------------------------------------- */

static pid_t
start_zenity(char *const argv[], const char *role, const char *name)
{
	pid_t pid = testenv_spawn(argv);
	struct rect r;

	if (pid > 0 && wait_el(pid, role, name, &r, 20000) != 0)
		return -1;
	return pid;
}

static int teardown(void **state);

static int
setup_env(void)
{
	char *dbus[] = { "dbus-daemon", "--session", "--nofork", "--print-address=3", NULL };
	char *openbox[] = { "openbox", "--sm-disable", NULL };
	char path[512];
	xcb_screen_iterator_t it;
	ssize_t sl;

	/* Each case names a missing one when it runs (testenv_skip). */
	env.missing = testenv_missing("Xvfb", "openbox", "dbus-daemon", "xdotool", "zenity");
	if (env.missing != NULL)
		return 0;
	sl = readlink("/proc/self/exe", env.self, sizeof env.self - 1);
	if (sl <= 0)
		return -1;
	env.self[sl] = '\0';

	env.tmp = testenv_tmpdir("mimic-uia");
	if (env.tmp == NULL)
		return -1;
	/* Everything we start gets private directories (and is found by them later). */
	setenv("XDG_RUNTIME_DIR", env.tmp, 1);
	snprintf(path, sizeof path, "%s/config", env.tmp);
	setenv("XDG_CONFIG_HOME", path, 1);
	snprintf(path, sizeof path, "%s/cache", env.tmp);
	setenv("XDG_CACHE_HOME", path, 1);
	snprintf(path, sizeof path, "%s/data", env.tmp);
	setenv("XDG_DATA_HOME", path, 1);
	unsetenv("AT_SPI_BUS_ADDRESS");
	unsetenv("DBUS_SESSION_BUS_ADDRESS");
	setenv("NO_AT_BRIDGE", "0", 1);
	setenv("GTK_THEME", "Adwaita", 1);

	if (testenv_xvfb_start(&env.x, "1280x800x24") != 0)
		return -1;
	env.xc = xcb_connect(env.x.display, NULL);
	if (xcb_connection_has_error(env.xc))
		return -1;
	it = xcb_setup_roots_iterator(xcb_get_setup(env.xc));
	env.root = it.data->root;
	env.openbox = testenv_spawn(openbox);

	/* A session bus of our own, as our child (it activates the accessibility bus). */
	env.dbus = testenv_spawn_ready(dbus, env.bus, sizeof env.bus, 10000);
	if (env.dbus <= 0)
		return -1;
	setenv("DBUS_SESSION_BUS_ADDRESS", env.bus, 1);

	{
		char *forms[] = { "zenity", "--forms", "--title=Forms", "--add-entry=Name",
		                  "--add-combo=Region", "--combo-values=Europe|Asia|Africa", NULL };
		char *password[] = { "zenity", "--password", "--title=Password", NULL };
		char *question[] = { "zenity", "--question", "--title=Question",
		                     "--text=Proceed?", NULL };

		env.forms = start_zenity(forms, "combo box", "*");
		env.password = start_zenity(password, "password text", "*");
		env.question = start_zenity(question, "push button", "Yes");
	}
	if (env.forms <= 0 || env.password <= 0 || env.question <= 0)
		return -1;
	/*
	 * What test_stop compares with once every uia is stopped. GLib's default main
	 * context (and its wake-up descriptor), which uia runs, is made once per process
	 * and lives as long as the process: it is made here, before counting.
	 */
	(void)g_main_context_default();
	env.threads0 = count_dir("/proc/self/task");
	env.fds0 = count_dir("/proc/self/fd");
	env.ready = 1;
	return 0;
}

static int
setup(void **state)
{
	if (setup_env() == 0)
		return 0;
	/* Stop whatever did start: the group teardown does not run after a failed setup. */
	teardown(state);
	return -1;
}

static int
teardown(void **state)
{
	(void)state;
	if (env.u != NULL) {
		uia_stop(env.u);
		env.u = NULL;
	}
	if (env.xc != NULL)
		xcb_disconnect(env.xc);
	stop_all();
	testenv_xvfb_stop(&env.x);
	testenv_tmpdir_remove(env.tmp);
	env.tmp = NULL;
	return 0;
}

/* The case needs the environment: without a program it needs, it says which. */
static void
need_env(void)
{
	if (!env.ready)
		testenv_skip("%s is not installed (not found in PATH)",
		             env.missing != NULL ? env.missing : "a program the test needs");
}

/* --- tests --------------------------------------------------------------------------- */

/* Without a session bus: degraded with a reason, answers at once, never autolaunches. */
static void
test_degraded_no_session_bus(void **state)
{
	struct uia *u;
	char *cause = NULL, reason[256];
	struct uia_element el[4];
	int degraded;
	int64_t t0, dt;
	int launches = count_procs("dbus-launch");
	size_t n = 0;
	int64_t end;

	(void)state;
	need_env();
	unsetenv("DBUS_SESSION_BUS_ADDRESS");
	/* The accessibility bus launcher announces its bus on the X root window, where
	 * libatspi looks first: that needs no session bus, and is not degraded. */
	root_prop("AT_SPI_BUS", env.x_bus, sizeof env.x_bus);
	{
		/* In a child: libatspi connects only once per process. */
		char out[512];
		char *argv[] = { env.self, "--probe", NULL };
		assert_int_equal(run_out(argv, out, sizeof out), 0);
		printf("# bus on the X root, no session bus: %s", out);
		assert_int_equal(strncmp(out, "degraded=0", 10) == 0, env.x_bus[0] != '\0');
	}

	hide_x_bus();
	assert_int_equal(uia_start(&u, &cause), 0);
	env.u = u; /* stopped by the teardown if an assertion fails */
	degraded = uia_is_degraded(u, reason, sizeof reason);
	printf("# degraded=%d: %s\n", degraded, reason);
	assert_true(degraded);
	assert_non_null(strstr(reason, "no session bus"));

	t0 = util_now_mono_ns();
	uia_press(u, 1, 10, 10, t0, NULL);
	uia_typing_start(u, 2, t0, NULL);
	dt = util_now_mono_ns() - t0;
	assert_true(dt < 5 * 1000000);
	end = now_ms() + 1000;
	while (n < 2 && now_ms() < end)
		n += uia_take_results(u, el + n, 4 - n);
	assert_int_equal(n, 2);
	assert_int_equal(el[0].event_id, 1);
	assert_int_equal(el[0].status, UIA_DEGRADED);
	assert_int_equal(el[0].kind, UIA_KIND_PRESS);
	assert_int_equal(el[1].event_id, 2);
	assert_int_equal(el[1].status, UIA_DEGRADED);
	assert_int_equal(el[1].kind, UIA_KIND_TYPING);
	uia_stop(u);
	env.u = NULL;
	assert_int_equal(count_procs("dbus-launch"), launches);
	restore_x_bus();
	setenv("DBUS_SESSION_BUS_ADDRESS", env.bus, 1);
}

/* A session bus address that leads nowhere: degraded too, with the reason. */
static void
test_degraded_unreachable_bus(void **state)
{
	struct uia *u;
	char *cause = NULL, reason[256], addr[256];

	(void)state;
	need_env();
	snprintf(addr, sizeof addr, "unix:path=%s/no-such-bus", env.tmp);
	setenv("DBUS_SESSION_BUS_ADDRESS", addr, 1);
	hide_x_bus();
	assert_int_equal(uia_start(&u, &cause), 0);
	env.u = u;
	assert_true(uia_is_degraded(u, reason, sizeof reason));
	printf("# degraded: %s\n", reason);
	assert_non_null(strstr(reason, "cannot be reached"));
	uia_stop(u);
	env.u = NULL;
	restore_x_bus();
	setenv("DBUS_SESSION_BUS_ADDRESS", env.bus, 1);
}

static void
test_start(void **state)
{
	char *cause = NULL, reason[256];

	(void)state;
	need_env();
	restore_x_bus();
	setenv("DBUS_SESSION_BUS_ADDRESS", env.bus, 1);
	if (env.u != NULL) {
		uia_stop(env.u); /* left by a failed test */
		env.u = NULL;
	}
	assert_int_equal(uia_start(&env.u, &cause), 0);
	assert_false(uia_is_degraded(env.u, reason, sizeof reason));
	assert_string_equal(reason, "");
	/* Only one at a time: libatspi is process-global. */
	{
		struct uia *second = NULL;
		assert_int_equal(uia_start(&second, &cause), -EBUSY);
		assert_null(second);
		free(cause);
	}
}

/*
 * The case needs a connected uia: the one test_start made, or (when a case runs
 * alone, MIMIC_TEST_ONLY) one started here the same way.
 */
/*
 * Some cases make an application miss AT-SPI's call timeout on purpose (a stopped
 * application, a lookup given another process's pid), and on a slow build (the
 * sanitizers) an application may miss it by itself. uia then skips that
 * application for UIA_HUNG_COOLDOWN_MS, as it must. So that one case's timeout
 * cannot decide the next case's outcome, a case that finds a new mark since the
 * last case began waits until the skip is over.
 */
static void
settle_hung_marks(void)
{
	static uint64_t seen;
	struct uia_stats st;

	uia_get_stats(env.u, &st);
	if (st.hung_marks != seen) {
		seen = st.hung_marks;
		print_message("# an application was marked hung: waiting %d ms for it to be asked "
		              "again\n", UIA_HUNG_COOLDOWN_MS);
		msleep(UIA_HUNG_COOLDOWN_MS + 200);
	}
}

static void
need_uia(void)
{
	char *cause = NULL, reason[256];

	need_env();
	if (env.u != NULL) {
		settle_hung_marks();
		return;
	}
	restore_x_bus();
	setenv("DBUS_SESSION_BUS_ADDRESS", env.bus, 1);
	if (uia_start(&env.u, &cause) != 0) {
		print_error("uia_start: %s\n", cause != NULL ? cause : "?");
		free(cause);
		fail();
	}
	if (uia_is_degraded(env.u, reason, sizeof reason)) {
		print_error("uia is degraded: %s\n", reason);
		fail();
	}
}

/* The case needs uia's pointer thread (uia_hover_at, uia_press_at). */
static void
need_pointer_thread(void)
{
	char *cause = NULL;

	need_uia();
	if (env.x_attached)
		return;
	if (uia_attach_x(env.u, env.x.display, &cause) != 0) {
		print_error("uia_attach_x: %s\n", cause != NULL ? cause : "?");
		free(cause);
		fail();
	}
	env.x_attached = 1;
}

/* A press on a push button, where three dialogs overlap: the one on top is named. */
static void
test_push_button(void **state)
{
	struct rect yes, forms;
	struct uia_window_hint h;
	struct uia_element el;
	int32_t x, y;

	(void)state;
	need_uia();
	activate(env.question);
	assert_int_equal(find_el(env.question, "push button", "Yes", &yes), 0);
	/* The forms dialog lies under the button too: AT-SPI alone cannot tell them apart. */
	assert_int_equal(find_el(env.forms, "dialog", "*", &forms), 0);
	pointer_to(yes.x + yes.w / 2, yes.y + yes.h / 2);
	hint_here(&h, &x, &y);
	assert_int_equal(h.pid, env.question);
	assert_int_equal(h.popup, 0);
	assert_true(x >= forms.x && x < forms.x + forms.w && y >= forms.y && y < forms.y + forms.h);

	uia_press(env.u, 10, x, y, util_now_mono_ns(), &h);
	assert_int_equal(wait_result(10, &el, 3000), 0);
	print_el("press on Yes", &el);
	assert_int_equal(el.status, UIA_OK);
	assert_int_equal(el.kind, UIA_KIND_PRESS);
	assert_int_equal(el.source, UIA_SOURCE_PRESS);
	assert_string_equal(el.role, "push button");
	assert_string_equal(el.name, "Yes");
	assert_int_equal(el.pid, env.question);
	assert_string_equal(el.app, "zenity");
	assert_int_equal(el.window, h.window);
	assert_int_equal(el.x, yes.x);
	assert_int_equal(el.w, yes.w);
	assert_true(el.states & UIA_STATE_SHOWING);
	assert_true(has_ancestor(&el, "dialog", "Question"));
	assert_string_equal(el.menu_path, "");

	/* The same point, but X says the window belongs to the forms dialog's process:
	 * its widget under that point is not reported. */
	h.pid = env.forms;
	uia_press(env.u, 11, x, y, util_now_mono_ns(), &h);
	assert_int_equal(wait_result(11, &el, 3000), 0);
	print_el("press with forms' pid", &el);
	assert_int_not_equal(el.status, UIA_OK);
	assert_string_equal(el.role, "");

	/* A window with no accessible application (the root): no element, quickly. */
	memset(&h, 0, sizeof h);
	h.pid = 1;
	uia_press(env.u, 12, 5, 5, util_now_mono_ns(), &h);
	assert_int_equal(wait_result(12, &el, 3000), 0);
	assert_int_equal(el.status, UIA_NO_ELEMENT);
}

/* The combo box, then its popup menu: the chosen item, even though the click closes it. */
static void
test_combo_and_menu(void **state)
{
	struct rect combo, item;
	struct uia_window_hint h;
	struct uia_element el;
	int32_t x, y;
	int64_t t;
	uint64_t before;

	(void)state;
	need_uia();
	activate(env.forms);
	assert_int_equal(find_el(env.forms, "combo box", "*", &combo), 0);
	pointer_to(combo.x + combo.w / 2, combo.y + combo.h / 2);
	hint_here(&h, &x, &y);
	assert_int_equal(h.pid, env.forms);
	before = hovers_done();
	uia_hover(env.u, x, y, util_now_mono_ns(), &h);
	wait_hover_done(before);
	uia_press(env.u, 20, x, y, util_now_mono_ns(), &h);
	assert_int_equal(wait_result(20, &el, 3000), 0);
	print_el("press on combo", &el);
	assert_int_equal(el.status, UIA_OK);
	assert_int_equal(el.source, UIA_SOURCE_HOVER);
	assert_string_equal(el.role, "combo box");
	assert_string_equal(el.label, "Region");
	assert_int_equal(el.popup, 0);

	/* Open the popup; rest on "Asia"; press and click it (which closes the menu). */
	click();
	assert_int_equal(wait_el(env.forms, "menu item", "Asia", &item, 5000), 0);
	pointer_to(item.x + item.w / 2, item.y + item.h / 2);
	hint_here(&h, &x, &y);
	assert_int_equal(h.popup, 1);
	assert_int_equal(h.pid, env.forms);
	before = hovers_done();
	uia_hover(env.u, x, y, util_now_mono_ns(), &h);
	wait_hover_done(before);
	t = util_now_mono_ns();
	click();
	uia_press(env.u, 21, x, y, t, &h);
	assert_int_equal(wait_result(21, &el, 3000), 0);
	print_el("press on Asia", &el);
	assert_int_equal(el.status, UIA_OK);
	assert_true(el.source == UIA_SOURCE_HOVER || el.source == UIA_SOURCE_HOVER_GONE);
	assert_string_equal(el.role, "menu item");
	assert_string_equal(el.name, "Asia");
	assert_int_equal(el.popup, 1);
	assert_int_equal(el.pid, env.forms);
	assert_true(el.n_ancestors >= 2);
	assert_string_equal(el.ancestors[0].role, "menu");
	assert_true(has_ancestor(&el, "combo box", NULL));
	assert_string_equal(el.menu_path, "Region > Asia");

	/* The menu is gone: the element is the one from when the pointer rested. */
	msleep(300);
	assert_int_not_equal(find_el(env.forms, "menu item", "Asia", &item), 0);
	uia_press(env.u, 22, x, y, util_now_mono_ns(), &h);
	assert_int_equal(wait_result(22, &el, 3000), 0);
	print_el("press after the menu closed", &el);
	assert_int_equal(el.status, UIA_OK);
	assert_int_equal(el.source, UIA_SOURCE_HOVER_GONE);
	assert_string_equal(el.name, "Asia");

	/* A press in an open popup that nobody hovered first: found by the popup search. */
	assert_int_equal(find_el(env.forms, "combo box", "Asia", &combo), 0);
	pointer_to(combo.x + combo.w / 2, combo.y + combo.h / 2);
	click();
	assert_int_equal(wait_el(env.forms, "menu item", "Europe", &item, 5000), 0);
	pointer_to(item.x + item.w / 2, item.y + item.h / 2);
	hint_here(&h, &x, &y);
	assert_int_equal(h.popup, 1);
	uia_press(env.u, 23, x, y, util_now_mono_ns(), &h);
	assert_int_equal(wait_result(23, &el, 3000), 0);
	print_el("cold press on Europe", &el);
	assert_int_equal(el.status, UIA_OK);
	assert_int_equal(el.source, UIA_SOURCE_PRESS);
	assert_string_equal(el.role, "menu item");
	assert_string_equal(el.name, "Europe");
	assert_int_equal(el.popup, 1);
	key("Escape");
	msleep(200);
}

/* Typing into the entry: the focused element, from the focus event. */
static void
test_typing_entry(void **state)
{
	struct rect text;
	struct uia_window_hint h;
	struct uia_element el;
	int32_t x, y;
	int64_t t;

	(void)state;
	need_uia();
	activate(env.forms);
	assert_int_equal(find_el(env.forms, "text", "*", &text), 0);
	pointer_to(text.x + text.w / 2, text.y + text.h / 2);
	click();
	msleep(300);
	hint_here(&h, &x, &y);
	t = util_now_mono_ns();
	type_text("Ada");
	uia_typing_start(env.u, 30, t, &h);
	assert_int_equal(wait_result(30, &el, 3000), 0);
	print_el("typing into Name", &el);
	assert_int_equal(el.status, UIA_OK);
	assert_int_equal(el.kind, UIA_KIND_TYPING);
	assert_int_equal(el.source, UIA_SOURCE_FOCUS_EVENT);
	assert_string_equal(el.role, "text");
	assert_string_equal(el.label, "Name");
	assert_int_equal(el.pid, env.forms);
	assert_true(el.states & UIA_STATE_FOCUSED);
	assert_true(el.states & UIA_STATE_EDITABLE);
	assert_false(el.states & UIA_STATE_PASSWORD);
	assert_int_equal(el.x, text.x);
	assert_int_equal(el.w, text.w);
	{
		struct uia_focus f;

		assert_int_equal(uia_focused(env.u, &f), 0);
		assert_int_equal(f.known, 1);
		assert_int_equal(f.password, 0);
		assert_int_equal(f.pid, env.forms);
		assert_string_equal(f.role, "text");
	}
}

/* The password prompt: the field is recorded with the password state. */
static void
test_password(void **state)
{
	struct rect pw;
	struct uia_window_hint h;
	struct uia_element el;
	int32_t x, y;
	int64_t t;

	(void)state;
	need_uia();
	activate(env.password);
	assert_int_equal(find_el(env.password, "password text", "*", &pw), 0);
	pointer_to(pw.x + pw.w / 2, pw.y + pw.h / 2);
	hint_here(&h, &x, &y);
	assert_int_equal(h.pid, env.password);
	uia_press(env.u, 40, x, y, util_now_mono_ns(), &h);
	assert_int_equal(wait_result(40, &el, 3000), 0);
	print_el("press on password", &el);
	assert_int_equal(el.status, UIA_OK);
	assert_string_equal(el.role, "password text");
	assert_true(el.states & UIA_STATE_PASSWORD);
	assert_string_equal(el.label, "Password:");

	click();
	msleep(300);
	t = util_now_mono_ns();
	type_text("hunter2");
	uia_typing_start(env.u, 41, t, &h);
	assert_int_equal(wait_result(41, &el, 3000), 0);
	print_el("typing into password", &el);
	assert_int_equal(el.status, UIA_OK);
	assert_string_equal(el.role, "password text");
	assert_true(el.states & UIA_STATE_PASSWORD);
	assert_true(el.states & UIA_STATE_FOCUSED);
	assert_non_null(strstr(el.state_names, "password"));
	assert_non_null(strstr(el.state_names, "focused"));
	assert_int_equal(el.pid, env.password);

	/* What the safeguards ask: the focused element is a password field, and where. */
	{
		struct uia_focus f;

		assert_int_equal(uia_focused(env.u, &f), 1);
		assert_int_equal(f.known, 1);
		assert_int_equal(f.password, 1);
		assert_int_equal(f.pid, env.password);
		assert_int_equal(f.x, pw.x);
		assert_int_equal(f.y, pw.y);
		assert_int_equal(f.w, pw.w);
		assert_int_equal(f.h, pw.h);
		assert_string_equal(f.role, "password text");
	}
}

/*
 * Typing before any focus event was seen (the question dialog, mapped last, has
 * had the focus since before uia started): the focused element is searched for.
 */
static void
test_typing_search(void **state)
{
	struct uia_window_hint h;
	struct uia_element el;
	struct rect yes;

	(void)state;
	need_uia();
	assert_int_equal(find_el(env.question, "push button", "Yes", &yes), 0);
	pointer_to(yes.x + yes.w / 2, yes.y + yes.h / 2);
	hint_here(&h, NULL, NULL);
	assert_int_equal(h.pid, env.question);
	uia_typing_start(env.u, 50, util_now_mono_ns(), &h);
	assert_int_equal(wait_result(50, &el, 3000), 0);
	print_el("typing in question", &el);
	assert_int_equal(el.status, UIA_OK);
	assert_int_equal(el.source, UIA_SOURCE_FOCUS_SEARCH);
	assert_int_equal(el.pid, env.question);
	assert_string_equal(el.role, "push button");
	assert_string_equal(el.name, "Yes");
	assert_true(el.states & UIA_STATE_FOCUSED);
}

/*
 * The menu bar case needs GTK 3 (only its library: the window is made through
 * dlopen, see gtk_menu_main). Whether it can be loaded is asked of dlopen, in a
 * child (test_uia --gtk-check), so that GTK is never loaded into this process.
 */
static void
need_gtk(void)
{
	char out[512];
	char *argv[] = { env.self, "--gtk-check", NULL };

	if (run_out(argv, out, sizeof out) != 0) {
		out[strcspn(out, "\n")] = '\0';
		testenv_skip("libgtk-3.so.0 cannot be loaded: %s", out[0] ? out : "no reason given");
	}
}

/*
 * Waits for the menu bar of the GTK window pid to show, for up to a minute: a
 * busy machine may take long to start GTK, but a window that never shows (or a
 * helper that exits) is a failure, never a skip.
 */
static void
wait_gtk_menu(pid_t pid, struct rect *r)
{
	int64_t end = now_ms() + 60000;
	int status;

	while (find_el(pid, "menu", "File", r) != 0) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			print_error("the GTK window (test_uia --gtk-menu) exited (%s %d) before its "
			            "menu bar showed\n", WIFEXITED(status) ? "status" : "signal",
			            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			fail();
		}
		if (now_ms() > end) {
			kill(pid, SIGTERM);
			waitpid(pid, NULL, 0);
			fail_msg("the GTK window's menu bar did not show within 60 s");
		}
		msleep(100);
	}
}

/* test_uia --gtk-check: exits 0 when libgtk-3.so.0 can be loaded, else prints why. */
static int
gtk_check_main(void)
{
	void *lib = dlopen("libgtk-3.so.0", RTLD_NOW | RTLD_LOCAL);

	if (lib == NULL) {
		printf("%s\n", dlerror());
		fflush(stdout);
		_exit(1);
	}
	_exit(0);
}

/* A menu bar's submenu: the item's menu path and the shortcut it advertises. */
static void
test_menu_bar(void **state)
{
	struct rect r;
	struct uia_window_hint h;
	struct uia_element el;
	int32_t x, y;
	uint64_t before;
	pid_t pid;
	char *argv[] = { env.self, "--gtk-menu", NULL };

	(void)state;
	need_uia();
	need_gtk();
	pid = testenv_spawn(argv);
	wait_gtk_menu(pid, &r);
	activate(pid);
	assert_int_equal(find_el(pid, "menu", "File", &r), 0);
	pointer_to(r.x + r.w / 2, r.y + r.h / 2);
	click();
	assert_int_equal(wait_el(pid, "menu", "Recent", &r, 5000), 0);
	pointer_to(r.x + r.w / 2, r.y + r.h / 2);
	assert_int_equal(wait_el(pid, "menu item", "notes.txt", &r, 5000), 0);
	pointer_to(r.x + r.w / 2, r.y + r.h / 2);
	hint_here(&h, &x, &y);
	assert_int_equal(h.popup, 1);
	assert_int_equal(h.pid, pid);
	before = hovers_done();
	uia_hover(env.u, x, y, util_now_mono_ns(), &h);
	wait_hover_done(before);
	uia_press(env.u, 70, x, y, util_now_mono_ns(), &h);
	assert_int_equal(wait_result(70, &el, 3000), 0);
	print_el("press on notes.txt", &el);
	printf("# shortcut '%s'\n", el.shortcut);
	assert_int_equal(el.status, UIA_OK);
	assert_int_equal(el.source, UIA_SOURCE_HOVER);
	assert_string_equal(el.role, "menu item");
	assert_string_equal(el.name, "notes.txt");
	assert_int_equal(el.popup, 1);
	assert_string_equal(el.menu_path, "File > Recent > notes.txt");
	assert_string_equal(el.shortcut, "ctrl+shift+t");
	key("Escape");
	key("Escape");
	key("Escape");
	msleep(200);

	/* A cold press on File > Open. */
	assert_int_equal(find_el(pid, "menu", "File", &r), 0);
	pointer_to(r.x + r.w / 2, r.y + r.h / 2);
	click();
	assert_int_equal(wait_el(pid, "menu item", "Open", &r, 5000), 0);
	pointer_to(r.x + r.w / 2, r.y + r.h / 2);
	hint_here(&h, &x, &y);
	uia_press(env.u, 71, x, y, util_now_mono_ns(), &h);
	assert_int_equal(wait_result(71, &el, 3000), 0);
	print_el("press on Open", &el);
	printf("# shortcut '%s'\n", el.shortcut);
	assert_int_equal(el.status, UIA_OK);
	assert_string_equal(el.name, "Open");
	assert_string_equal(el.menu_path, "File > Open");
	assert_string_equal(el.shortcut, "ctrl+o");
	key("Escape");
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* Many presses at once: the caller never waits, and each press gets one result. */
static void
test_queue_bounded(void **state)
{
	enum { N = 300 };
	static unsigned char seen[N];
	struct rect ok;
	struct uia_window_hint h;
	struct uia_element batch[32];
	struct uia_stats st;
	int32_t x, y;
	int64_t worst = 0, end;
	int got = 0, n_ok = 0, n_dropped = 0;

	(void)state;
	need_uia();
	activate(env.forms);
	assert_int_equal(find_el(env.forms, "push button", "OK", &ok), 0);
	pointer_to(ok.x + ok.w / 2, ok.y + ok.h / 2);
	hint_here(&h, &x, &y);
	memset(seen, 0, sizeof seen);
	end = now_ms() + 15000;
	for (int i = 0; got < N && now_ms() < end; i++) {
		size_t n;

		if (i < N) {
			/* A burst: the recorder's loop takes results between events. */
			int64_t t0 = util_now_mono_ns(), dt;
			uia_press(env.u, 1000 + i, x + (i % 3), y, t0, &h);
			dt = util_now_mono_ns() - t0;
			if (dt > worst)
				worst = dt;
		}
		n = uia_take_results(env.u, batch, 32);
		for (size_t j = 0; j < n; j++) {
			int64_t k = batch[j].event_id - 1000;
			if (k < 0 || k >= N)
				continue;
			assert_int_equal(seen[k], 0);
			seen[k] = 1;
			got++;
			n_ok += batch[j].status == UIA_OK;
			n_dropped += batch[j].status == UIA_DROPPED;
		}
		if (n == 0 && i >= N)
			msleep(5);
	}
	uia_get_stats(env.u, &st);
	printf("# %d presses: %d ok, %d dropped, %llu lost; slowest uia_press %lld us\n", N,
	       n_ok, n_dropped, (unsigned long long)st.results_lost, (long long)(worst / 1000));
	assert_int_equal(got, N);
	assert_int_equal(st.results_lost, 0);
	assert_true(n_ok > 0);
	assert_true(n_dropped > 0);
	assert_true(worst < 10 * 1000000);
}

/* A stopped application: presses on it time out, and nothing else waits for it. */
static void
test_hung_app(void **state)
{
	struct rect yes, cancel;
	struct uia_window_hint hq, hf;
	struct uia_element el;
	int32_t qx, qy, fx, fy;
	int64_t t0, worst = 0;
	struct uia_stats st;

	(void)state;
	need_uia();
	activate(env.question);
	assert_int_equal(find_el(env.question, "push button", "Yes", &yes), 0);
	pointer_to(yes.x + yes.w / 2, yes.y + yes.h / 2);
	hint_here(&hq, &qx, &qy);
	activate(env.forms);
	assert_int_equal(find_el(env.forms, "push button", "Cancel", &cancel), 0);
	pointer_to(cancel.x + cancel.w / 2, cancel.y + cancel.h / 2);
	hint_here(&hf, &fx, &fy);
	assert_int_equal(hf.pid, env.forms);

	kill(env.question, SIGSTOP);
	t0 = util_now_mono_ns();
	for (int i = 0; i < 3; i++) {
		int64_t c0 = util_now_mono_ns(), dt;
		uia_press(env.u, 60 + i, qx, qy, c0, &hq);
		dt = util_now_mono_ns() - c0;
		worst = dt > worst ? dt : worst;
	}
	uia_press(env.u, 63, fx, fy, util_now_mono_ns(), &hf);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(wait_result(60 + i, &el, 3000), 0);
		print_el("press on the stopped app", &el);
		assert_int_equal(el.status, UIA_TIMEOUT);
	}
	assert_int_equal(wait_result(63, &el, 3000), 0);
	print_el("press on forms meanwhile", &el);
	printf("# all four answered after %lld ms; slowest uia_press %lld us\n",
	       (long long)((util_now_mono_ns() - t0) / 1000000), (long long)(worst / 1000));
	assert_int_equal(el.status, UIA_OK);
	assert_string_equal(el.name, "Cancel");
	/* One call timed out (~UIA_CALL_TIMEOUT_MS); then the app was skipped. */
	assert_true(util_now_mono_ns() - t0 < (int64_t)(3 * UIA_CALL_TIMEOUT_MS + 500) * 1000000);
	assert_true(worst < 5 * 1000000);
	uia_get_stats(env.u, &st);
	assert_true(st.hung_marks >= 1);
	kill(env.question, SIGCONT);
}

/*
 * The pointer thread: hovers and presses with the window under the pointer asked
 * of X off the caller's thread. The first press after a hover takes the hovered
 * element; the next one there (or one after a key) is confirmed with the application.
 */
static void
test_pointer_thread(void **state)
{
	struct rect combo;
	struct uia_element el;
	char *cause = NULL;
	uint64_t before;
	int64_t t;

	(void)state;
	need_uia();
	if (!env.x_attached) {
		assert_int_equal(uia_attach_x(env.u, env.x.display, &cause), 0);
		env.x_attached = 1;
	}
	assert_int_equal(uia_attach_x(env.u, env.x.display, &cause), -EBUSY);
	free(cause);
	activate(env.forms);
	assert_int_equal(find_el(env.forms, "combo box", "*", &combo), 0);
	pointer_to(combo.x + combo.w / 2, combo.y + combo.h / 2);
	before = hovers_done();
	uia_hover_at(env.u, combo.x + combo.w / 2, combo.y + combo.h / 2, util_now_mono_ns());
	wait_hover_done(before);
	t = util_now_mono_ns();
	uia_press_at(env.u, 90, combo.x + combo.w / 2, combo.y + combo.h / 2, t, 0);
	assert_int_equal(wait_result(90, &el, 3000), 0);
	print_el("press_at on combo", &el);
	assert_int_equal(el.status, UIA_OK);
	assert_int_equal(el.source, UIA_SOURCE_HOVER);
	assert_string_equal(el.role, "combo box");
	assert_int_equal(el.pid, env.forms);
	assert_int_not_equal(el.window, 0);
	assert_true(el.read_ns < t);

	/* Again, after a key: asked of the application, still the combo box. */
	uia_note_input(env.u);
	uia_press_at(env.u, 91, combo.x + combo.w / 2, combo.y + combo.h / 2, util_now_mono_ns(), 0);
	assert_int_equal(wait_result(91, &el, 3000), 0);
	assert_int_equal(el.status, UIA_OK);
	assert_string_equal(el.role, "combo box");
	assert_int_equal(el.pid, env.forms);

	/* A hover the pointer has already left is dropped: no lookup. */
	before = hovers_done();
	uia_hover_at(env.u, combo.x + 3, combo.y + 3, util_now_mono_ns());
	msleep(300);
	assert_int_equal(hovers_done(), before);
}

/* Rests the pointer at (x, y) and waits for uia to look at it (pointer thread). */
static void
rest_at(int32_t x, int32_t y)
{
	uint64_t before;

	pointer_to(x, y);
	before = hovers_done();
	uia_hover_at(env.u, x, y, util_now_mono_ns());
	wait_hover_done(before);
}

/*
 * Remembered elements: the pointer rests on the entry, then on the combo box (the
 * entry is checked again then), moves back to the entry and presses at once, as an
 * agent does: the entry is known from memory, read before the press. A press on the
 * combo box right after is not taken from memory (the press before may have changed
 * it) and names the combo box. After a key a remembered element is not taken either.
 */
static void
test_recent_press(void **state)
{
	struct rect combo, entry;
	struct uia_element el;
	int32_t cx, cy, ex, ey;
	int64_t t;

	(void)state;
	need_pointer_thread();
	activate(env.forms);
	assert_int_equal(find_el(env.forms, "combo box", "*", &combo), 0);
	assert_int_equal(find_el(env.forms, "text", "*", &entry), 0);
	cx = combo.x + combo.w / 2;
	cy = combo.y + combo.h / 2;
	ex = entry.x + entry.w / 2;
	ey = entry.y + entry.h / 2;

	rest_at(ex, ey);
	rest_at(cx, cy);
	pointer_to(ex, ey);
	t = util_now_mono_ns();
	uia_press_at(env.u, 110, ex, ey, t, 0);
	assert_int_equal(wait_result(110, &el, 3000), 0);
	print_el("press at once on the entry", &el);
	assert_int_equal(el.status, UIA_OK);
	assert_int_equal(el.source, UIA_SOURCE_RECENT);
	assert_string_equal(el.role, "text");
	assert_string_equal(el.label, "Name");
	assert_int_equal(el.pid, env.forms);
	assert_int_equal(el.x, entry.x);
	assert_int_equal(el.w, entry.w);
	assert_int_not_equal(el.window, 0);
	assert_true(el.read_ns < t);

	/* The combo box right after: a press came in between, so it is asked again. */
	pointer_to(cx, cy);
	uia_press_at(env.u, 111, cx, cy, util_now_mono_ns(), 0);
	assert_int_equal(wait_result(111, &el, 3000), 0);
	print_el("press at once on the combo box", &el);
	assert_int_equal(el.status, UIA_OK);
	assert_int_not_equal(el.source, UIA_SOURCE_RECENT);
	assert_string_equal(el.role, "combo box");
	assert_string_equal(el.label, "Region");

	/* Checked again while resting elsewhere, but a key came after: asked again. */
	rest_at(ex, ey);
	rest_at(cx, cy);
	uia_note_input(env.u);
	pointer_to(ex, ey);
	uia_press_at(env.u, 112, ex, ey, util_now_mono_ns(), 0);
	assert_int_equal(wait_result(112, &el, 3000), 0);
	print_el("press on the entry after a key", &el);
	assert_int_equal(el.status, UIA_OK);
	assert_int_not_equal(el.source, UIA_SOURCE_RECENT);
	assert_string_equal(el.role, "text");

	/* Without X's view (uia_press, no pointer thread) memory is never used. */
	rest_at(ex, ey);
	rest_at(cx, cy);
	{
		struct uia_window_hint h;
		int32_t x, y;

		pointer_to(ex, ey);
		hint_here(&h, &x, &y);
		uia_press(env.u, 113, x, y, util_now_mono_ns(), &h);
	}
	assert_int_equal(wait_result(113, &el, 3000), 0);
	assert_int_equal(el.status, UIA_OK);
	assert_int_not_equal(el.source, UIA_SOURCE_RECENT);
	assert_string_equal(el.role, "text");
}

/*
 * Stopping (uia.h): uia_stop returns soon even while a lookup waits for an
 * application that does not answer, ends uia's threads (its own and the pointer
 * thread), closes every descriptor it opened (the accessibility bus, the
 * applications' connections, its X connection, its wake-up descriptors) and
 * frees the handle (AddressSanitizer sees a leak). Another uia may start after it
 * (no -EBUSY), degraded: libatspi cannot be started twice in one process.
 */
static void
test_stop(void **state)
{
	struct rect pw;
	struct uia_window_hint h;
	struct uia *again = NULL;
	char *cause = NULL, reason[256];
	int32_t x, y;
	int64_t t0, took;
	int threads, fds;

	(void)state;
	need_pointer_thread();
	/* The control: while uia runs, its threads and descriptors are there to see. */
	threads = count_dir("/proc/self/task");
	fds = count_dir("/proc/self/fd");
	printf("# before any uia: %d threads, %d descriptors; running: %d, %d\n",
	       env.threads0, env.fds0, threads, fds);
	assert_true(threads >= env.threads0 + 2);
	assert_true(fds > env.fds0);

	/* A lookup in progress on an application that has stopped answering. */
	activate(env.password);
	assert_int_equal(find_el(env.password, "password text", "*", &pw), 0);
	pointer_to(pw.x + pw.w / 2, pw.y + pw.h / 2);
	hint_here(&h, &x, &y);
	kill(env.password, SIGSTOP);
	uia_press(env.u, 120, x, y, util_now_mono_ns(), &h);
	uia_press_at(env.u, 121, x, y, util_now_mono_ns(), 0);
	t0 = util_now_mono_ns();
	uia_stop(env.u);
	took = (util_now_mono_ns() - t0) / 1000000;
	env.u = NULL;
	env.x_attached = 0;
	kill(env.password, SIGCONT);
	threads = count_dir("/proc/self/task");
	fds = count_dir("/proc/self/fd");
	printf("# uia_stop took %lld ms; after it: %d threads, %d descriptors\n", (long long)took,
	       threads, fds);
	print_fds("after uia_stop");
	/* A generous bound: the point is that it does not wait for the application. */
	assert_true(took < 3000);
	assert_int_equal(threads, env.threads0);
	assert_int_equal(fds, env.fds0);

	assert_int_equal(uia_start(&again, &cause), 0);
	assert_non_null(again);
	assert_true(uia_is_degraded(again, reason, sizeof reason));
	printf("# started again: degraded: %s\n", reason);
	assert_non_null(strstr(reason, "cannot be started twice"));
	uia_stop(again);
	assert_int_equal(count_dir("/proc/self/task"), env.threads0);
	assert_int_equal(count_dir("/proc/self/fd"), env.fds0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_degraded_no_session_bus),
		cmocka_unit_test(test_degraded_unreachable_bus),
		cmocka_unit_test(test_start),
		cmocka_unit_test(test_typing_search),
		cmocka_unit_test(test_push_button),
		cmocka_unit_test(test_combo_and_menu),
		cmocka_unit_test(test_typing_entry),
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_menu_bar),
		cmocka_unit_test(test_queue_bounded),
		cmocka_unit_test(test_hung_app),
		cmocka_unit_test(test_pointer_thread),
		cmocka_unit_test(test_recent_press),
		cmocka_unit_test(test_stop),
	};

	if (argc > 1 && strcmp(argv[1], "--find") == 0)
		return find_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], "--probe") == 0)
		return probe_main();
	if (argc > 1 && strcmp(argv[1], "--gtk-menu") == 0)
		return gtk_menu_main();
	if (argc > 1 && strcmp(argv[1], "--gtk-check") == 0)
		return gtk_check_main();
	signal(SIGPIPE, SIG_IGN);
	return testenv_run(tests, setup, teardown);
}
