/*
 * uia_thread: the uia thread and the module's life. The thread starts libatspi
 * (only once per process, and only when the accessibility bus answers), runs
 * GLib's default main context, and takes the requests that are due: presses and
 * typing runs in order, then the pending hover. uia_start and uia_stop start and
 * end it.
 */
#include "uia_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <glib-unix.h>

#include "log.h"

/* Only one uia at a time: libatspi and GLib's default main context are global. */
static pthread_mutex_t instance_mu = PTHREAD_MUTEX_INITIALIZER;
static int instance_live;
/*
 * Set once libatspi has been started: atspi_exit leaves stale state behind (its
 * registry application keeps the closed connection), so a second atspi_init in
 * the same process finds no applications. uia therefore connects once per process.
 */
static int atspi_spent;

static gboolean drain_cb(gpointer data);
static int drain(struct uia *u);

/*
 * Takes the next request that is due: presses and typing runs in order (a typing
 * run only once UIA_TYPING_GRACE_MS have passed), then the pending hover. Returns
 * 1 with *out set, 0 when nothing is due (*wait_ns: until the next one, or -1), -1
 * when stopping.
 */
static int take_next(struct uia *u, struct request *out, int64_t now, int64_t *wait_ns)
{
	int64_t grace = (int64_t)UIA_TYPING_GRACE_MS * MS_NS;
	int ret = 0;

	*wait_ns = -1;
	pthread_mutex_lock(&u->mu);
	if (u->stopping) {
		ret = -1;
		goto fail;
	}
	/* A hover at the very point of a press that followed it goes first: the press then
	 * finds the element as it was before it (the hover came too late to be done ahead). */
	if (u->hover_pending) {
		for (size_t i = 0; i < u->q_len; i++) {
			if (u->q[i].kind == REQ_PRESS && u->q[i].x == u->hover.x &&
			    u->q[i].y == u->hover.y && u->q[i].t_ns >= u->hover.t_ns) {
				*out = u->hover;
				u->hover_pending = 0;
				ret = 1;
				goto fail;
			}
		}
	}
	for (size_t i = 0; i < u->q_len; i++) {
		int64_t due = u->q[i].kind == REQ_TYPING ? u->q[i].t_ns + grace : 0;
		if (due <= now) {
			*out = u->q[i];
			memmove(&u->q[i], &u->q[i + 1], (u->q_len - i - 1) * sizeof u->q[0]);
			u->q_len--;
			ret = 1;
			goto fail;
		}
		if (*wait_ns < 0 || due - now < *wait_ns)
			*wait_ns = due - now;
	}
	/* A popup shown: its items are read before the next hover, so that a press in it
	 * right after finds them (uia_map.c). */
	if (u->popup_pending) {
		if (u->popup_due <= now) {
			*out = u->popup_req;
			u->popup_pending = 0;
			ret = 1;
			goto fail;
		}
		if (*wait_ns < 0 || u->popup_due - now < *wait_ns)
			*wait_ns = u->popup_due - now;
	}
	if (u->hover_pending) {
		*out = u->hover;
		u->hover_pending = 0;
		ret = 1;
	}
fail:
	pthread_mutex_unlock(&u->mu);
	return ret;
}

/* Handles every due request; returns -1 when the thread must stop, else 0. */
static int drain(struct uia *u)
{
	struct request r;
	int64_t wait_ns;
	int ret;

	if (u->a11y != NULL && !dbus_connection_get_is_connected(u->a11y)) {
		uia_set_degraded(u, "the accessibility bus went away");
		u->a11y = NULL;
		return 0;
	}
	/* A browser's page first: input in its window is held until it is known. */
	uia_web_drain(u);
	while ((ret = take_next(u, &r, util_now_mono_ns(), &wait_ns)) == 1) {
		if (r.kind == REQ_POPUP) {
			uia_map_popup(u, &r);
			continue;
		}
		if (util_now_mono_ns() - r.t_ns > (int64_t)UIA_MAX_AGE_MS * MS_NS) {
			if (r.kind != REQ_HOVER) {
				pthread_mutex_lock(&u->mu);
				uia_push_empty_locked(u, &r, UIA_TIMEOUT);
				pthread_mutex_unlock(&u->mu);
			}
			continue;
		}
		if (r.kind == REQ_HOVER)
			uia_do_hover(u, &r);
		else if (r.kind == REQ_PRESS)
			uia_do_press(u, &r);
		else
			uia_do_typing(u, &r);
	}
	if (ret < 0) {
		g_main_loop_quit(u->loop);
		return -1;
	}
	if (wait_ns >= 0 && u->timer == NULL) {
		u->timer = g_timeout_source_new((guint)(wait_ns / MS_NS + 1));
		g_source_set_callback(u->timer, drain_cb, u, NULL);
		g_source_attach(u->timer, NULL);
	}
	return 0;
}

static gboolean drain_cb(gpointer data)
{
	struct uia *u = data;

	g_source_unref(u->timer);
	u->timer = NULL;
	drain(u);
	return G_SOURCE_REMOVE;
}

static gboolean wake_cb(gint fd, GIOCondition cond, gpointer data)
{
	struct uia *u = data;
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof v);

	(void)r;
	(void)cond;
	drain(u);
	return G_SOURCE_CONTINUE;
}

static AtspiMatchRule *make_rule(AtspiStateType state, const AtspiRole *roles, size_t n_roles)
{
	AtspiStateSet *ss = atspi_state_set_new(NULL);
	GArray *ra = NULL;
	AtspiMatchRule *rule;

	atspi_state_set_add(ss, state);
	if (n_roles > 0) {
		ra = g_array_new(FALSE, FALSE, sizeof(AtspiRole));
		g_array_append_vals(ra, roles, (guint)n_roles);
	}
	rule = atspi_match_rule_new(ss, ATSPI_Collection_MATCH_ALL, NULL,
	                            ATSPI_Collection_MATCH_NONE, ra,
	                            ra != NULL ? ATSPI_Collection_MATCH_ANY :
	                                         ATSPI_Collection_MATCH_NONE,
	                            NULL, ATSPI_Collection_MATCH_NONE, FALSE);
	g_object_unref(ss);
	if (ra != NULL)
		g_array_free(ra, TRUE);
	return rule;
}

static void set_ready(struct uia *u)
{
	pthread_mutex_lock(&u->mu);
	u->state = ST_READY;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->mu);
}

/* libatspi's GLib messages go to mimic's log (they never carry element content). */
static void glib_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
	(void)data;
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		log_warn("uia: libatspi (%s): %s", domain != NULL ? domain : "-", message);
	else
		log_debug("uia: libatspi (%s): %s", domain != NULL ? domain : "-", message);
}

/*
 * Starts libatspi on the accessibility bus, once per process. Returns 1 when it
 * was started (atspi_exit must follow), 0 when uia is degraded instead.
 */
static int start_atspi(struct uia *u)
{
	char why[1024];
	int spent;

	pthread_mutex_lock(&instance_mu);
	spent = atspi_spent;
	pthread_mutex_unlock(&instance_mu);
	if (spent) {
		uia_set_degraded(u, "AT-SPI was already used and stopped in this process "
		                 "(libatspi cannot be started twice)");
		return 0;
	}
	if (uia_probe_bus(why, sizeof why) != 0) {
		uia_set_degraded(u, why);
		return 0;
	}
	/* Browsers expose their tree only with accessibility on (docs/POLICY.md). */
	if (uia_enable_accessibility(why, sizeof why) != 0)
		log_warn("uia: %s; browsers started now may expose no pages", why);
	if (atspi_init() != 0) {
		atspi_exit();
		uia_set_degraded(u, "libatspi could not connect to the accessibility bus");
		return 0;
	}
	pthread_mutex_lock(&instance_mu);
	atspi_spent = 1;
	pthread_mutex_unlock(&instance_mu);
	return 1;
}

/* Sets libatspi's time limit, makes the Collection rules and follows focus events. */
static void listen_atspi(struct uia *u)
{
	static const AtspiRole popup_roles[] = {
		ATSPI_ROLE_MENU, ATSPI_ROLE_POPUP_MENU, ATSPI_ROLE_LIST, ATSPI_ROLE_LIST_BOX,
		ATSPI_ROLE_TREE, ATSPI_ROLE_TREE_TABLE, ATSPI_ROLE_TABLE, ATSPI_ROLE_WINDOW,
		ATSPI_ROLE_TOOL_TIP, ATSPI_ROLE_SCROLL_PANE,
	};
	static const AtspiRole item_roles[] = {
		ATSPI_ROLE_MENU_ITEM, ATSPI_ROLE_CHECK_MENU_ITEM, ATSPI_ROLE_RADIO_MENU_ITEM,
		ATSPI_ROLE_TEAROFF_MENU_ITEM, ATSPI_ROLE_MENU, ATSPI_ROLE_LIST_ITEM,
		ATSPI_ROLE_TABLE_CELL, ATSPI_ROLE_TREE_ITEM,
	};
	GError *err = NULL;

	atspi_set_timeout(UIA_CALL_TIMEOUT_MS, 0);
	u->a11y = atspi_get_a11y_bus();
	u->popup_rule = make_rule(ATSPI_STATE_SHOWING, popup_roles,
	                          sizeof popup_roles / sizeof popup_roles[0]);
	u->item_rule = make_rule(ATSPI_STATE_SHOWING, item_roles,
	                         sizeof item_roles / sizeof item_roles[0]);
	u->focus_rule = make_rule(ATSPI_STATE_FOCUSED, NULL, 0);
	u->map_rule = uia_map_rule();
	u->map.el = util_xcalloc(MAP_ELEMENTS_MAX, sizeof *u->map.el);
	u->prev.el = util_xcalloc(MAP_ELEMENTS_MAX, sizeof *u->prev.el);
	u->map_spare = util_xcalloc(MAP_ELEMENTS_MAX, sizeof *u->map_spare);
	u->pmap_el = util_xcalloc(MAP_ELEMENTS_MAX, sizeof *u->pmap_el);
	u->pmap_next = util_xcalloc(MAP_ELEMENTS_MAX, sizeof *u->pmap_next);
	u->focus_listener = atspi_event_listener_new(uia_on_focus, u, NULL);
	if (!atspi_event_listener_register(u->focus_listener, "object:state-changed:focused",
	                                   &err)) {
		/* Presses still work; typing runs fall back to searching for the focus. */
		log_warn("uia: cannot follow focus events: %s", err != NULL ? err->message : "?");
		g_clear_error(&err);
	}
	uia_web_start(u);
}

/* Runs GLib's main loop on ctx, answering requests, until uia_stop. */
static void run_loop(struct uia *u, GMainContext *ctx)
{
	struct lookup lk;

	u->loop = g_main_loop_new(ctx, FALSE);
	u->wake_source = g_unix_fd_source_new(u->wake_fd, G_IO_IN);
	g_source_set_callback(u->wake_source, G_SOURCE_FUNC(wake_cb), u, NULL);
	g_source_attach(u->wake_source, ctx);
	set_ready(u);
	log_info("uia: following UI elements over AT-SPI");
	/* List the applications now rather than on the first press. */
	uia_lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
	uia_scan_desktop(&lk);
	/* drain() quits the loop when uia_stop came first; run it only otherwise (a loop
	 * quit before it runs would run forever). */
	if (drain(u) == 0)
		g_main_loop_run(u->loop);
}

/* Undoes what the thread set up, and stops libatspi when `inited`. */
static void end_thread(struct uia *u, GMainContext *ctx, int inited)
{
	if (u->wake_source != NULL) {
		g_source_destroy(u->wake_source);
		g_source_unref(u->wake_source);
		u->wake_source = NULL;
	}
	if (u->timer != NULL) {
		g_source_destroy(u->timer);
		g_source_unref(u->timer);
		u->timer = NULL;
	}
	uia_web_stop(u);
	if (u->focus_idle != 0) {
		g_source_remove(u->focus_idle);
		u->focus_idle = 0;
	}
	if (u->focus_listener != NULL) {
		atspi_event_listener_deregister(u->focus_listener, "object:state-changed:focused",
		                                NULL);
		g_object_unref(u->focus_listener);
		u->focus_listener = NULL;
	}
	unref(&u->focus_pending);
	uia_snap_clear(&u->hover_snap);
	uia_snap_clear(&u->focus_snap);
	for (int i = 0; i < RECENT_MAX; i++)
		uia_snap_clear(&u->recent[i]);
	uia_map_free(u);
	while (u->n_apps > 0)
		uia_app_drop(u, u->n_apps - 1);
	if (u->popup_rule != NULL)
		g_object_unref(u->popup_rule);
	if (u->item_rule != NULL)
		g_object_unref(u->item_rule);
	if (u->focus_rule != NULL)
		g_object_unref(u->focus_rule);
	u->popup_rule = u->item_rule = u->focus_rule = NULL;
	if (u->loop != NULL) {
		g_main_loop_unref(u->loop);
		u->loop = NULL;
	}
	if (inited) {
		/* Let libatspi handle what is left (deregistration replies, disposals). */
		while (g_main_context_iteration(ctx, FALSE))
			;
		atspi_exit();
	}
}

static void *uia_main(void *arg)
{
	static const char *const domains[] = { "dbind", "atspi", NULL };
	guint handlers[3];
	struct uia *u = arg;
	GMainContext *ctx = g_main_context_default();
	int inited;

	for (int i = 0; i < 3; i++)
		handlers[i] = g_log_set_handler(domains[i], G_LOG_LEVEL_MASK & ~G_LOG_LEVEL_ERROR,
		                                glib_log, NULL);
	if (!g_main_context_acquire(ctx)) {
		uia_set_degraded(u, "GLib's default main context is in use by another thread");
		for (int i = 0; i < 3; i++)
			g_log_remove_handler(domains[i], handlers[i]);
		return NULL;
	}
	inited = start_atspi(u);
	if (inited) {
		listen_atspi(u);
		run_loop(u, ctx);
	}
	end_thread(u, ctx, inited);
	g_main_context_release(ctx);
	for (int i = 0; i < 3; i++)
		g_log_remove_handler(domains[i], handlers[i]);
	return NULL;
}

/* Frees u (its thread has ended or never started); another uia may start after. */
static void free_uia(struct uia *u)
{
	if (u->wake_fd >= 0)
		close(u->wake_fd);
	if (u->result_fd >= 0)
		close(u->result_fd);
	pthread_mutex_destroy(&u->mu);
	pthread_cond_destroy(&u->cond);
	free(u->res);
	free(u);
	pthread_mutex_lock(&instance_mu);
	instance_live = 0;
	pthread_mutex_unlock(&instance_mu);
}

int uia_start(struct uia **out, char **cause)
{
	struct uia *u;
	struct timespec ts;
	int err;

	*out = NULL;
	pthread_mutex_lock(&instance_mu);
	if (instance_live) {
		pthread_mutex_unlock(&instance_mu);
		return util_fail(cause, -EBUSY, "another uia is already running in this process");
	}
	instance_live = 1;
	pthread_mutex_unlock(&instance_mu);

	u = util_xcalloc(1, sizeof *u);
	u->wake_fd = u->result_fd = -1;
	u->res = util_xcalloc(RESULTS_MAX, sizeof *u->res);
	pthread_mutex_init(&u->mu, NULL);
	pthread_cond_init(&u->cond, NULL);
	u->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->result_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->wake_fd < 0 || u->result_fd < 0) {
		err = -errno;
		util_fail(cause, err, "cannot create an eventfd: %s", strerror(-err));
		goto fail;
	}
	err = pthread_create(&u->thread, NULL, uia_main, u);
	if (err != 0) {
		util_fail(cause, -err, "cannot start the UI element thread: %s", strerror(err));
		err = -err;
		goto fail;
	}
	u->thread_started = 1;

	/* Wait for the bus to answer, but not forever: a slow bus is reported as degraded
	 * until it answers. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += UIA_START_WAIT_MS / 1000;
	ts.tv_nsec += (long)(UIA_START_WAIT_MS % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&u->mu);
	while (u->state == ST_STARTING) {
		if (pthread_cond_timedwait(&u->cond, &u->mu, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&u->mu);
	*out = u;
	return 0;

fail:
	free_uia(u);
	return err;
}

void uia_stop(struct uia *u)
{
	if (u == NULL)
		return;
	uia_x_detach(u);
	pthread_mutex_lock(&u->mu);
	u->stopping = 1;
	pthread_mutex_unlock(&u->mu);
	uia_wake(u->wake_fd);
	if (u->thread_started)
		pthread_join(u->thread, NULL);
	free_uia(u);
}
