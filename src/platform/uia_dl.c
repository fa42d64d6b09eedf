/*
 * uia, as the `mimic` program has it: every function of uia.h (but the names,
 * uia_names.c) passes to the real module, built as the loadable module
 * mimic-uia.so and loaded on the first uia_start. AT-SPI's client brings libatspi,
 * GLib, GObject, GIO and D-Bus, about 3 MB of pages a recorder that records no UI
 * elements (`--no-elements`, or a policy that asks for none) should not carry
 * (bench/RESULTS.md, "Input capture"). The tests and mimic-data link the module
 * itself; src/meson.build says which program gets which.
 *
 * The module is looked for beside the running program (a build tree), then in
 * MIMIC_PLUGIN_DIR (the installed one). It takes what it needs of the program
 * (log, util, pointer, desktop) from the program's exported symbols
 * (src/platform/uia-host.sym).
 */
#include "uia.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"

#ifndef MIMIC_PLUGIN_DIR
#define MIMIC_PLUGIN_DIR "/usr/lib/mimic"
#endif
#define UIA_MODULE "mimic-uia.so"

static struct {
	int (*start)(struct uia **, char **);
	void (*stop)(struct uia *);
	int (*is_degraded)(struct uia *, char *, size_t);
	void (*hover)(struct uia *, int32_t, int32_t, int64_t, const struct uia_window_hint *);
	void (*press)(struct uia *, int64_t, int32_t, int32_t, int64_t,
	              const struct uia_window_hint *);
	void (*typing_start)(struct uia *, int64_t, int64_t, const struct uia_window_hint *);
	void (*note_input)(struct uia *);
	size_t (*take_results)(struct uia *, struct uia_element *, size_t);
	int (*fd)(struct uia *);
	void (*get_stats)(struct uia *, struct uia_stats *);
	int (*attach_x)(struct uia *, const char *, char **);
	void (*hover_at)(struct uia *, int32_t, int32_t, int64_t);
	void (*press_at)(struct uia *, int64_t, int32_t, int32_t, int64_t, uint32_t);
	int (*focused)(struct uia *, struct uia_focus *);
	uint64_t (*page_check)(struct uia *, const struct uia_window_hint *);
	uint64_t (*page_get)(struct uia *, struct uia_page *);
	int (*enable_accessibility)(char *, size_t);
} fn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[PATH_MAX + 512];   /* empty once the module is loaded */

/* Opens path and takes every function; fills load_error and returns -1 on failure. */
static int load_from(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	struct { void **slot; const char *name; } want[] = {
		{ (void **)&fn.start, "uia_start" },
		{ (void **)&fn.stop, "uia_stop" },
		{ (void **)&fn.is_degraded, "uia_is_degraded" },
		{ (void **)&fn.hover, "uia_hover" },
		{ (void **)&fn.press, "uia_press" },
		{ (void **)&fn.typing_start, "uia_typing_start" },
		{ (void **)&fn.note_input, "uia_note_input" },
		{ (void **)&fn.take_results, "uia_take_results" },
		{ (void **)&fn.fd, "uia_fd" },
		{ (void **)&fn.get_stats, "uia_get_stats" },
		{ (void **)&fn.attach_x, "uia_attach_x" },
		{ (void **)&fn.hover_at, "uia_hover_at" },
		{ (void **)&fn.press_at, "uia_press_at" },
		{ (void **)&fn.focused, "uia_focused" },
		{ (void **)&fn.page_check, "uia_page_check" },
		{ (void **)&fn.page_get, "uia_page_get" },
		{ (void **)&fn.enable_accessibility, "uia_enable_accessibility" },
	};

	if (h == NULL) {
		const char *e = dlerror();

		snprintf(load_error, sizeof load_error, "%s", e != NULL ? e : path);
		return -1;
	}
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		/* POSIX's way to take a function from dlsym: through an object pointer. */
		*want[i].slot = dlsym(h, want[i].name);
		if (*want[i].slot == NULL) {
			snprintf(load_error, sizeof load_error, "%s has no %s: it is not this "
			         "mimic's module", path, want[i].name);
			dlclose(h);
			return -1;
		}
	}
	/* The module stays loaded: its thread and GLib's live until the process ends. */
	load_error[0] = '\0';
	return 0;
}

static void load(void)
{
	char path[PATH_MAX + 32], *beside = NULL;

	/* A build tree has the module beside the program (util_sibling_exe: mode 0755). */
	if (util_sibling_exe(UIA_MODULE, &beside, NULL) == 0) {
		load_from(beside);   /* uia_start's cause says why it failed */
		free(beside);
		return;
	}
	snprintf(path, sizeof path, "%s/%s", MIMIC_PLUGIN_DIR, UIA_MODULE);
	if (access(path, F_OK) != 0) {
		snprintf(load_error, sizeof load_error, "%s is missing: reinstall mimic (it "
		         "records UI elements)", path);
		return;
	}
	load_from(path);
}

/* 0 when the module is loaded; otherwise -ENOTSUP and *cause (when not NULL) says why. */
static int loaded(char **cause)
{
	pthread_once(&load_once, load);
	if (fn.start != NULL && load_error[0] == '\0')
		return 0;
	if (cause != NULL)
		*cause = util_xasprintf("cannot load UI element support: %s", load_error);
	return -ENOTSUP;
}

int uia_start(struct uia **out, char **cause)
{
	*out = NULL;
	if (loaded(cause) != 0)
		return -ENOTSUP;
	return fn.start(out, cause);
}

/* A struct uia exists only when uia_start loaded the module: the rest just pass. */
void uia_stop(struct uia *u)
{
	if (u != NULL)
		fn.stop(u);
}

int uia_is_degraded(struct uia *u, char *reason, size_t reason_size)
{
	return fn.is_degraded(u, reason, reason_size);
}

void uia_hover(struct uia *u, int32_t x, int32_t y, int64_t t_ns,
               const struct uia_window_hint *hint)
{
	fn.hover(u, x, y, t_ns, hint);
}

void uia_press(struct uia *u, int64_t event_id, int32_t x, int32_t y, int64_t t_ns,
               const struct uia_window_hint *hint)
{
	fn.press(u, event_id, x, y, t_ns, hint);
}

void uia_typing_start(struct uia *u, int64_t event_id, int64_t t_ns,
                      const struct uia_window_hint *hint)
{
	fn.typing_start(u, event_id, t_ns, hint);
}

void uia_note_input(struct uia *u)
{
	fn.note_input(u);
}

size_t uia_take_results(struct uia *u, struct uia_element *out, size_t max)
{
	return fn.take_results(u, out, max);
}

int uia_fd(struct uia *u)
{
	return fn.fd(u);
}

void uia_get_stats(struct uia *u, struct uia_stats *out)
{
	fn.get_stats(u, out);
}

int uia_attach_x(struct uia *u, const char *display, char **cause)
{
	return fn.attach_x(u, display, cause);
}

void uia_hover_at(struct uia *u, int32_t x, int32_t y, int64_t t_ns)
{
	fn.hover_at(u, x, y, t_ns);
}

void uia_press_at(struct uia *u, int64_t event_id, int32_t x, int32_t y, int64_t t_ns,
                  uint32_t server_ms)
{
	fn.press_at(u, event_id, x, y, t_ns, server_ms);
}

int uia_focused(struct uia *u, struct uia_focus *out)
{
	return fn.focused(u, out);
}

uint64_t uia_page_check(struct uia *u, const struct uia_window_hint *hint)
{
	return fn.page_check(u, hint);
}

uint64_t uia_page_get(struct uia *u, struct uia_page *out)
{
	return fn.page_get(u, out);
}

/* Loads the module: it is asked for only to switch accessibility on, which needs it. */
int uia_enable_accessibility(char *why, size_t n)
{
	char *cause = NULL;

	if (loaded(&cause) != 0) {
		snprintf(why, n, "%s", cause);
		free(cause);
		return -1;
	}
	return fn.enable_accessibility(why, n);
}
