/*
 * uia: UI element context from AT-SPI, on a thread of its own (see uia.h for the
 * contract). This file has four parts: the requests and results shared with the
 * caller's threads (one mutex, never held across an AT-SPI call); the uia thread
 * (finding the bus without autolaunching one, libatspi start-up, GLib's main
 * loop); the lookups themselves (every AT-SPI call goes through a `struct lookup`
 * that enforces the time limits and notices hung applications); and a helper that
 * asks X for the window under the pointer.
 *
 * libatspi is used only from the uia thread: it is one global, single-threaded
 * state. Its property cache stays off (it only caches while atspi_event_main runs,
 * which uia never calls), so every property is read fresh from the application.
 */
#include "uia.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* libatspi's headers declare "GType f ();": not prototypes to -Wstrict-prototypes. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <atspi/atspi.h>
#pragma GCC diagnostic pop
#include <dbus/dbus.h>
#include <glib-unix.h>

#include "log.h"
#include "util.h"

#define QUEUE_MAX 64          /* press and typing requests waiting for the uia thread */
#define RESULTS_MAX 128       /* results waiting for uia_take_results */
#define APPS_MAX 128          /* accessible applications remembered */
#define NEG_MAX 16            /* pids remembered as "not accessible" */
#define NEG_TTL_NS (INT64_C(2000) * 1000000) /* ... for this long before a new desktop scan */
#define MS_NS INT64_C(1000000)
/* A call that took this long hit libatspi's timeout: the application is not answering. */
#define HANG_NS ((int64_t)UIA_CALL_TIMEOUT_MS * 9 / 10 * MS_NS)
#define DESCEND_MAX 32        /* levels of get_accessible_at_point */
#define WALK_MAX 48           /* ancestor levels walked (menus, documents) */
#define CHILDREN_MAX 64       /* children looked at per container */
#define LABEL_NODES_MAX 48    /* nodes looked at when searching for a label */
#define POPUP_MATCHES_MAX 64  /* popup candidates looked at per window */
#define DFS_NODES_MAX 400     /* nodes of the popup search without Collection */
#define MIN_IOU 0.5           /* an AT-SPI window matches an X window above this overlap */
/* A hover this recent is taken as it is by the first press at its point. */
#define HOVER_FRESH_NS (INT64_C(3000) * 1000000)
#define RECENT_MAX 4          /* elements remembered by their point, for presses there */
/* A remembered element is taken by a press this soon after it was last checked (as a
 * hover), and checked again at a rest once its check is older than RECHECK_AGE_NS. */
#define RECENT_FRESH_NS HOVER_FRESH_NS
#define RECHECK_AGE_NS (INT64_C(1000) * 1000000)
#define RECHECK_MAX 3         /* remembered elements checked again per hover */
#define FOCUS_DEFER_MS 5       /* a focus event is read this long after it came */
#define FLOG_MAX 4            /* focus changes kept per remembered element */
#define OR_MAX 64             /* override-redirect windows (popups) tracked as mapped */

enum { REQ_HOVER = 1, REQ_PRESS = 2, REQ_TYPING = 3 };
enum { ST_STARTING = 0, ST_READY = 1, ST_DEGRADED = 2 };

struct request {
	int kind;
	uint64_t gen;              /* u->input_gen when the caller posted it */
	uint64_t press_seq;        /* presses the caller posted before it */
	uint64_t popup_gen;        /* popups mapped, unmapped or moved before its hint was
	                              asked (pointer thread) ... */
	int popup_known;           /* ... known, with none covering its point then, and the
	                              hint asked of X for this request */
	int64_t event_id;
	int64_t t_ns;
	int32_t x, y;
	int has_hint;
	struct uia_window_hint hint;
};

/* An accessible application on the desktop (uia thread only). */
struct app {
	char bus[64];              /* its unique D-Bus name, e.g. ":1.42" */
	int32_t pid;
	AtspiAccessible *root;     /* a reference */
	char name[UIA_APP_MAX];
	int have_name;
	int64_t hung_until;        /* CLOCK_MONOTONIC ns; not asked before this */
	unsigned gen;              /* the desktop scan that last listed it */
};

/* An element as resolved earlier (hover, focus event), with what found it. */
struct snapshot {
	int valid;
	struct uia_element el;
	AtspiAccessible *obj;      /* the element (a reference) */
	AtspiAccessible *root;     /* the window or popup it was found in (a reference) */
	int32_t x, y;              /* where the pointer rested (hover) */
	uint32_t window;           /* the hint's X window (hover) */
	int popup;
	int fresh;                 /* read at a hover, and no press or typing run since */
	uint64_t gen;              /* the hover request's input_gen (u->recent: when the
	                              check began) */
	uint64_t press_seq;        /* the same for presses */
	/* Remembered elements (u->recent) only: what it was checked against. */
	struct uia_window_hint hint; /* X's window under the pointer */
	struct {
		int64_t ns;            /* when a focus event changed its states ... */
		uint64_t states;       /* ... and what they became */
	} flog[FLOG_MAX];
	int n_flog;                /* focus changes since the check; more than FLOG_MAX: -1 */
	uint64_t popup_gen;        /* the pointer thread's popup count before the check */
	int64_t checked_ns;        /* when the check ended */
};

struct uia {
	pthread_t thread;
	int thread_started;
	int wake_fd;               /* eventfd: requests waiting (read by the uia thread) */
	int result_fd;             /* eventfd: results waiting (for the caller's poll) */

	pthread_mutex_t mu;        /* guards everything up to the uia-thread-only part */
	pthread_cond_t cond;       /* start-up handshake */
	int state;
	int stopping;
	char reason[256];
	struct request q[QUEUE_MAX];
	size_t q_len;
	struct request hover;
	int hover_pending;
	struct uia_element *res;   /* ring of RESULTS_MAX */
	size_t res_head, res_len;
	struct uia_stats stats;
	uint64_t input_gen;        /* uia_note_input calls */
	uint64_t press_calls;      /* uia_press and uia_press_at calls */
	struct uia_focus focus;    /* the latest focused element, for uia_focused */

	/* The pointer thread (uia_attach_x): asks X for the window under the pointer. */
	pthread_t x_thread;
	int x_started;
	xcb_connection_t *x_conn;
	xcb_window_t x_root;
	pthread_mutex_t x_mu;
	pthread_cond_t x_cond;
	int x_stopping;
	struct request x_q[QUEUE_MAX];
	size_t x_len;
	/* Pointer thread only: override-redirect windows (menus, popups, tooltips) mapped. */
	struct {
		xcb_window_t w;
		int32_t x, y, w_, h;   /* its outer rectangle in root coordinates */
	} x_or[OR_MAX];
	int x_n_or;
	int x_or_overflow;         /* more than OR_MAX: treated as a popup being mapped */
	uint64_t x_popup_gen;      /* maps and unmaps of override-redirect windows seen */

	/* uia thread only */
	GMainLoop *loop;
	GSource *wake_source;
	GSource *timer;
	guint focus_idle;
	AtspiEventListener *focus_listener;
	DBusConnection *a11y;
	AtspiMatchRule *popup_rule;   /* showing menus, lists... (Collection) */
	AtspiMatchRule *item_rule;    /* showing menu items, list items... */
	AtspiMatchRule *focus_rule;   /* the focused element */
	struct app apps[APPS_MAX];
	int n_apps;
	unsigned scan_gen;
	struct {
		int32_t pid;
		int64_t until;
	} neg[NEG_MAX];
	struct snapshot hover_snap;
	struct snapshot focus_snap;
	struct snapshot recent[RECENT_MAX]; /* elements found at a point, newest checks kept */
	AtspiAccessible *focus_pending; /* newest focus event not yet resolved (a reference) */
	int64_t focus_pending_ns;
	struct uia_element work;
};

/* Only one uia at a time: libatspi and GLib's default main context are global. */
static pthread_mutex_t instance_mu = PTHREAD_MUTEX_INITIALIZER;
static int instance_live;
/*
 * Set once libatspi has been started: atspi_exit leaves stale state behind (its
 * registry application keeps the closed connection), so a second atspi_init in
 * the same process finds no applications. uia therefore connects once per process.
 */
static int atspi_spent;

/* --- small helpers ------------------------------------------------------------ */

static void
set_str(char *dst, const char *src, size_t n)
{
	util_strlcpy_utf8(dst, src != NULL ? src : "", n);
}

/* Appends s to dst (of size n) after sep when dst is not empty, cutting at UTF-8. */
static void
append_str(char *dst, size_t n, const char *sep, const char *s)
{
	size_t len = strlen(dst);

	if (len + 1 >= n)
		return;
	if (len > 0) {
		size_t sl = strlen(sep);
		if (len + sl + 1 >= n)
			return;
		memcpy(dst + len, sep, sl + 1);
		len += sl;
	}
	util_strlcpy_utf8(dst + len, s, n - len);
}

const char *
uia_status_name(int status)
{
	switch (status) {
	case UIA_OK: return "ok";
	case UIA_NO_ELEMENT: return "no-element";
	case UIA_MISMATCH: return "mismatch";
	case UIA_TIMEOUT: return "timeout";
	case UIA_DEGRADED: return "degraded";
	case UIA_DROPPED: return "dropped";
	default: return NULL;
	}
}

const char *
uia_source_name(int source)
{
	switch (source) {
	case UIA_SOURCE_HOVER: return "hover";
	case UIA_SOURCE_HOVER_GONE: return "hover-gone";
	case UIA_SOURCE_PRESS: return "press";
	case UIA_SOURCE_FOCUS_EVENT: return "focus-event";
	case UIA_SOURCE_FOCUS_SEARCH: return "focus-search";
	case UIA_SOURCE_RECENT: return "recent";
	default: return "";
	}
}

/* AT-SPI state names, indexed by AtspiStateType (the D-Bus protocol's numbering). */
static const char *const state_names[] = {
	"invalid", "active", "armed", "busy", "checked", "collapsed", "defunct", "editable",
	"enabled", "expandable", "expanded", "focusable", "focused", "has-tooltip",
	"horizontal", "iconified", "modal", "multi-line", "multiselectable", "opaque",
	"pressed", "resizable", "selectable", "selected", "sensitive", "showing",
	"single-line", "stale", "transient", "vertical", "visible", "manages-descendants",
	"indeterminate", "required", "truncated", "animated", "invalid-entry",
	"supports-autocompletion", "selectable-text", "is-default", "visited", "checkable",
	"has-popup", "read-only",
};

static void
format_states(uint64_t states, char *dst, size_t n)
{
	dst[0] = '\0';
	for (size_t i = 1; i < sizeof state_names / sizeof state_names[0]; i++)
		if (states & UIA_STATE_BIT(i))
			append_str(dst, n, " ", state_names[i]);
	if (states & UIA_STATE_PASSWORD)
		append_str(dst, n, " ", "password");
}

static double
iou(const AtspiRect *r, const struct uia_window_hint *h)
{
	int64_t x0 = r->x > h->x ? r->x : h->x;
	int64_t y0 = r->y > h->y ? r->y : h->y;
	int64_t x1 = (int64_t)r->x + r->width < (int64_t)h->x + h->w ?
	             (int64_t)r->x + r->width : (int64_t)h->x + h->w;
	int64_t y1 = (int64_t)r->y + r->height < (int64_t)h->y + h->h ?
	             (int64_t)r->y + r->height : (int64_t)h->y + h->h;
	int64_t inter, uni;

	if (x1 <= x0 || y1 <= y0 || r->width <= 0 || r->height <= 0)
		return 0.0;
	inter = (x1 - x0) * (y1 - y0);
	uni = (int64_t)r->width * r->height + (int64_t)h->w * h->h - inter;
	return uni > 0 ? (double)inter / (double)uni : 0.0;
}

/* 1 when (x, y) lies in r, allowing `slack` pixels around it. */
static int
rect_has(const AtspiRect *r, int32_t x, int32_t y, int slack)
{
	return r->width > 0 && r->height > 0 &&
	       x >= r->x - slack && x < r->x + r->width + slack &&
	       y >= r->y - slack && y < r->y + r->height + slack;
}

static int
same_obj(AtspiAccessible *a, AtspiAccessible *b)
{
	if (a == NULL || b == NULL)
		return 0;
	if (a == b)
		return 1;
	return ATSPI_OBJECT(a)->app != NULL && ATSPI_OBJECT(b)->app != NULL &&
	       strcmp(ATSPI_OBJECT(a)->app->bus_name, ATSPI_OBJECT(b)->app->bus_name) == 0 &&
	       strcmp(ATSPI_OBJECT(a)->path, ATSPI_OBJECT(b)->path) == 0;
}

static const char *
bus_of(AtspiAccessible *a)
{
	AtspiApplication *app = ATSPI_OBJECT(a)->app;

	return app != NULL && app->bus_name != NULL ? app->bus_name : "";
}

static void
unref(AtspiAccessible **a)
{
	if (*a != NULL) {
		g_object_unref(*a);
		*a = NULL;
	}
}

/* --- results and requests (any thread, under u->mu) ------------------------------ */

static void
wake(int fd)
{
	uint64_t one = 1;
	ssize_t w = write(fd, &one, sizeof one);

	(void)w; /* EAGAIN only when the counter is saturated: it is readable anyway */
}

static void
count_status_locked(struct uia *u, int status)
{
	switch (status) {
	case UIA_OK: u->stats.ok++; break;
	case UIA_NO_ELEMENT: u->stats.no_element++; break;
	case UIA_MISMATCH: u->stats.mismatch++; break;
	case UIA_TIMEOUT: u->stats.timeout++; break;
	case UIA_DEGRADED: u->stats.degraded++; break;
	case UIA_DROPPED: u->stats.dropped++; break;
	default: break;
	}
}

/* Returns the ring slot for the next result, overwriting the oldest when full. */
static struct uia_element *
result_slot_locked(struct uia *u)
{
	size_t i;

	if (u->res_len == RESULTS_MAX) {
		u->res_head = (u->res_head + 1) % RESULTS_MAX;
		u->res_len--;
		u->stats.results_lost++;
	}
	i = (u->res_head + u->res_len) % RESULTS_MAX;
	u->res_len++;
	return &u->res[i];
}

/* Queues a result without an element (degraded, dropped, timeout...). */
static void
push_empty_locked(struct uia *u, const struct request *r, int status)
{
	struct uia_element *el = result_slot_locked(u);
	int64_t lat = util_now_mono_ns() - r->t_ns;

	memset(el, 0, sizeof *el);
	el->event_id = r->event_id;
	el->t_ns = r->t_ns;
	el->kind = r->kind == REQ_TYPING ? UIA_KIND_TYPING : UIA_KIND_PRESS;
	el->status = status;
	el->lookup_us = lat > 0 ? (int32_t)(lat / 1000 > INT32_MAX ? INT32_MAX : lat / 1000) : 0;
	el->window = r->has_hint ? r->hint.window : 0;
	count_status_locked(u, status);
	wake(u->result_fd);
}

void
uia_note_input(struct uia *u)
{
	pthread_mutex_lock(&u->mu);
	u->input_gen++;
	pthread_mutex_unlock(&u->mu);
}

static void
post(struct uia *u, const struct request *in)
{
	struct request rq = *in;
	const struct request *r = &rq;

	pthread_mutex_lock(&u->mu);
	if (r->kind == REQ_HOVER)
		u->stats.hovers++;
	else if (r->kind == REQ_PRESS)
		u->stats.presses++;
	else
		u->stats.typings++;
	if (u->state == ST_DEGRADED || u->stopping) {
		if (r->kind != REQ_HOVER)
			push_empty_locked(u, r, UIA_DEGRADED);
		pthread_mutex_unlock(&u->mu);
		return;
	}
	if (r->kind == REQ_HOVER) {
		u->hover = *r;
		u->hover_pending = 1;
	} else {
		if (u->q_len == QUEUE_MAX) {
			push_empty_locked(u, &u->q[0], UIA_DROPPED);
			memmove(&u->q[0], &u->q[1], (QUEUE_MAX - 1) * sizeof u->q[0]);
			u->q_len--;
		}
		u->q[u->q_len++] = *r;
	}
	pthread_mutex_unlock(&u->mu);
	wake(u->wake_fd);
}

/*
 * Stamps a request as the caller's thread posts it: the keys and scrolls noted so
 * far, and the presses before it (counted here, when the input thread sees them,
 * not when the pointer thread passes them on).
 */
static void
stamp(struct uia *u, struct request *r)
{
	pthread_mutex_lock(&u->mu);
	r->gen = u->input_gen;
	r->press_seq = u->press_calls;
	if (r->kind == REQ_PRESS)
		u->press_calls++;
	pthread_mutex_unlock(&u->mu);
}

static void
fill_request(struct uia *u, struct request *r, int kind, int64_t event_id, int32_t x, int32_t y,
             int64_t t_ns, const struct uia_window_hint *hint)
{
	memset(r, 0, sizeof *r);
	r->kind = kind;
	r->event_id = event_id;
	r->t_ns = t_ns;
	r->x = x;
	r->y = y;
	if (hint != NULL) {
		r->has_hint = 1;
		r->hint = *hint;
	}
	stamp(u, r);
}

void
uia_hover(struct uia *u, int32_t x, int32_t y, int64_t t_ns, const struct uia_window_hint *hint)
{
	struct request r;

	fill_request(u, &r, REQ_HOVER, 0, x, y, t_ns, hint);
	post(u, &r);
}

void
uia_press(struct uia *u, int64_t event_id, int32_t x, int32_t y, int64_t t_ns,
          const struct uia_window_hint *hint)
{
	struct request r;

	fill_request(u, &r, REQ_PRESS, event_id, x, y, t_ns, hint);
	post(u, &r);
}

void
uia_typing_start(struct uia *u, int64_t event_id, int64_t t_ns, const struct uia_window_hint *hint)
{
	struct request r;

	fill_request(u, &r, REQ_TYPING, event_id, 0, 0, t_ns, hint);
	post(u, &r);
}

size_t
uia_take_results(struct uia *u, struct uia_element *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&u->mu);
	while (n < max && u->res_len > 0) {
		out[n++] = u->res[u->res_head];
		u->res_head = (u->res_head + 1) % RESULTS_MAX;
		u->res_len--;
	}
	if (u->res_len == 0) {
		uint64_t v;
		ssize_t r = read(u->result_fd, &v, sizeof v);
		(void)r; /* EAGAIN when nothing was signalled */
	}
	pthread_mutex_unlock(&u->mu);
	return n;
}

int
uia_fd(struct uia *u)
{
	return u->result_fd;
}

void
uia_get_stats(struct uia *u, struct uia_stats *out)
{
	pthread_mutex_lock(&u->mu);
	*out = u->stats;
	pthread_mutex_unlock(&u->mu);
}

int
uia_is_degraded(struct uia *u, char *reason, size_t reason_size)
{
	int degraded;

	pthread_mutex_lock(&u->mu);
	degraded = u->state != ST_READY;
	if (reason != NULL && reason_size > 0) {
		if (u->state == ST_STARTING)
			set_str(reason, "still connecting to the accessibility bus", reason_size);
		else
			set_str(reason, degraded ? u->reason : "", reason_size);
	}
	pthread_mutex_unlock(&u->mu);
	return degraded;
}

/* Makes el (NULL: none) the focused element uia_focused reports (uia thread). */
static void
publish_focus(struct uia *u, const struct uia_element *el, int64_t read_ns)
{
	pthread_mutex_lock(&u->mu);
	memset(&u->focus, 0, sizeof u->focus);
	if (el != NULL) {
		u->focus.known = 1;
		u->focus.password = (el->states & UIA_STATE_PASSWORD) != 0;
		u->focus.pid = el->pid;
		u->focus.x = el->x;
		u->focus.y = el->y;
		u->focus.w = el->w;
		u->focus.h = el->h;
		u->focus.read_ns = read_ns;
		set_str(u->focus.role, el->role, sizeof u->focus.role);
	}
	pthread_mutex_unlock(&u->mu);
}

int
uia_focused(struct uia *u, struct uia_focus *out)
{
	pthread_mutex_lock(&u->mu);
	*out = u->focus;
	pthread_mutex_unlock(&u->mu);
	return out->known && out->password;
}

/* Called on the uia thread: from now on every request is answered UIA_DEGRADED. */
static void
set_degraded(struct uia *u, const char *why)
{
	struct request q[QUEUE_MAX];
	size_t n;

	pthread_mutex_lock(&u->mu);
	u->state = ST_DEGRADED;
	memset(&u->focus, 0, sizeof u->focus);
	set_str(u->reason, why, sizeof u->reason);
	n = u->q_len;
	memcpy(q, u->q, n * sizeof q[0]);
	u->q_len = 0;
	u->hover_pending = 0;
	for (size_t i = 0; i < n; i++)
		push_empty_locked(u, &q[i], UIA_DEGRADED);
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->mu);
	log_warn("uia: working without UI elements: %s", why);
}

/* --- lookups: every AT-SPI call goes through one ---------------------------------- */

struct lookup {
	struct uia *u;
	int64_t deadline;          /* CLOCK_MONOTONIC ns */
	struct app *app;           /* the application asked, for hang marking; may be NULL */
	int stop;                  /* 0, or the uia_status the lookup ends with */
	int no_hang_mark;          /* a slow answer to this call is not a hang (Collection) */
};

static void
lk_init(struct lookup *lk, struct uia *u, int64_t budget_ns)
{
	memset(lk, 0, sizeof *lk);
	lk->u = u;
	lk->deadline = util_now_mono_ns() + budget_ns;
}

static void
mark_hung(struct uia *u, struct app *app)
{
	if (app == NULL)
		return;
	app->hung_until = util_now_mono_ns() + (int64_t)UIA_HUNG_COOLDOWN_MS * MS_NS;
	pthread_mutex_lock(&u->mu);
	u->stats.hung_marks++;
	pthread_mutex_unlock(&u->mu);
	log_info("uia: application pid %d did not answer within %d ms; skipped for %d ms",
	         (int)app->pid, UIA_CALL_TIMEOUT_MS, UIA_HUNG_COOLDOWN_MS);
}

/*
 * After each call: a call as slow as libatspi's timeout means the application
 * hangs (it is skipped for a while); an error ends the lookup when `hard`; the
 * budget ends it too. Returns 1 when the lookup must stop.
 */
static int
lk_after(struct lookup *lk, GError **err, int64_t t0, int hard)
{
	int64_t now = util_now_mono_ns();

	if (now - t0 >= HANG_NS) {
		if (!lk->no_hang_mark)
			mark_hung(lk->u, lk->app);
		lk->stop = UIA_TIMEOUT;
	}
	if (err != NULL && *err != NULL) {
		if (hard && lk->stop == 0)
			lk->stop = UIA_NO_ELEMENT;
		g_clear_error(err);
	}
	if (lk->stop == 0 && now > lk->deadline)
		lk->stop = UIA_TIMEOUT;
	return lk->stop != 0;
}

static AtspiRole
lk_role(struct lookup *lk, AtspiAccessible *a, int hard)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	AtspiRole role;

	if (lk->stop)
		return ATSPI_ROLE_INVALID;
	role = atspi_accessible_get_role(a, &err);
	if (err != NULL)
		role = ATSPI_ROLE_INVALID;
	lk_after(lk, &err, t0, hard);
	return role;
}

/* The accessible name (never NULL; g_free it). */
static char *
lk_name(struct lookup *lk, AtspiAccessible *a)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	char *s;

	if (lk->stop)
		return g_strdup("");
	s = atspi_accessible_get_name(a, &err);
	lk_after(lk, &err, t0, 0);
	return s != NULL ? s : g_strdup("");
}

static char *
lk_description(struct lookup *lk, AtspiAccessible *a)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	char *s;

	if (lk->stop)
		return g_strdup("");
	s = atspi_accessible_get_description(a, &err);
	lk_after(lk, &err, t0, 0);
	return s != NULL ? s : g_strdup("");
}

/* The AT-SPI state bits (0 when unknown). */
static uint64_t
lk_states(struct lookup *lk, AtspiAccessible *a)
{
	int64_t t0 = util_now_mono_ns();
	AtspiStateSet *ss;
	uint64_t bits = 0;

	if (lk->stop)
		return 0;
	ss = atspi_accessible_get_state_set(a);
	if (ss != NULL) {
		bits = (uint64_t)ss->states;
		g_object_unref(ss);
	}
	lk_after(lk, NULL, t0, 0);
	return bits;
}

/* Screen extents; 0 when known, -1 when not (r is then zeroed). */
static int
lk_extents(struct lookup *lk, AtspiAccessible *a, AtspiRect *r)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	AtspiRect *e;

	memset(r, 0, sizeof *r);
	if (lk->stop)
		return -1;
	e = atspi_component_get_extents(ATSPI_COMPONENT(a), ATSPI_COORD_TYPE_SCREEN, &err);
	lk_after(lk, &err, t0, 0);
	if (e == NULL)
		return -1;
	*r = *e;
	g_free(e);
	/* Hidden GTK widgets report INT_MIN positions and 1x1 sizes. */
	if (r->x <= -1000000 || r->y <= -1000000 || r->width <= 0 || r->height <= 0) {
		memset(r, 0, sizeof *r);
		return -1;
	}
	return 0;
}

static AtspiAccessible *
lk_parent(struct lookup *lk, AtspiAccessible *a)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	AtspiAccessible *p;

	if (lk->stop)
		return NULL;
	p = atspi_accessible_get_parent(a, &err);
	lk_after(lk, &err, t0, 0);
	return p;
}

static int
lk_child_count(struct lookup *lk, AtspiAccessible *a)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	int n;

	if (lk->stop)
		return 0;
	n = atspi_accessible_get_child_count(a, &err);
	lk_after(lk, &err, t0, 0);
	return n < 0 ? 0 : n;
}

static AtspiAccessible *
lk_child(struct lookup *lk, AtspiAccessible *a, int i)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	AtspiAccessible *c;

	if (lk->stop)
		return NULL;
	c = atspi_accessible_get_child_at_index(a, i, &err);
	lk_after(lk, &err, t0, 0);
	return c;
}

static AtspiAccessible *
lk_at_point(struct lookup *lk, AtspiAccessible *a, int32_t x, int32_t y)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	AtspiAccessible *c;

	if (lk->stop)
		return NULL;
	c = atspi_component_get_accessible_at_point(ATSPI_COMPONENT(a), x, y,
	                                            ATSPI_COORD_TYPE_SCREEN, &err);
	lk_after(lk, &err, t0, 0);
	return c;
}

/* Collection.GetMatches under a rule; NULL when unsupported or failed (*failed = 1). */
static GArray *
lk_matches(struct lookup *lk, AtspiAccessible *a, AtspiMatchRule *rule, int count,
           int *failed)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	GArray *m;

	*failed = 1;
	if (lk->stop)
		return NULL;
	/* The application walks its whole tree for this: slow is not hung. */
	lk->no_hang_mark = 1;
	m = atspi_collection_get_matches(ATSPI_COLLECTION(a), rule,
	                                 ATSPI_Collection_SORT_ORDER_CANONICAL, count, TRUE, &err);
	*failed = err != NULL;
	lk_after(lk, &err, t0, 0);
	lk->no_hang_mark = 0;
	return m;
}

static void
free_matches(GArray *m)
{
	if (m == NULL)
		return;
	for (guint i = 0; i < m->len; i++) {
		AtspiAccessible *a = g_array_index(m, AtspiAccessible *, i);
		if (a != NULL)
			g_object_unref(a);
	}
	g_array_free(m, TRUE);
}

/* --- applications --------------------------------------------------------------- */

static struct app *
app_by_bus(struct uia *u, const char *bus)
{
	for (int i = 0; i < u->n_apps; i++)
		if (strcmp(u->apps[i].bus, bus) == 0)
			return &u->apps[i];
	return NULL;
}

static void
app_drop(struct uia *u, int i)
{
	unref(&u->apps[i].root);
	u->apps[i] = u->apps[u->n_apps - 1];
	memset(&u->apps[u->n_apps - 1], 0, sizeof u->apps[0]);
	u->n_apps--;
}

/*
 * Lists the applications on the desktop (asking the registry, and the bus for
 * the pid of each new one) and forgets those that are gone.
 */
static void
scan_desktop(struct lookup *lk)
{
	struct uia *u = lk->u;
	AtspiAccessible *desktop = atspi_get_desktop(0);
	int n;

	if (desktop == NULL)
		return;
	u->scan_gen++;
	n = lk_child_count(lk, desktop);
	for (int i = 0; i < n && i < APPS_MAX && !lk->stop; i++) {
		AtspiAccessible *root = lk_child(lk, desktop, i);
		struct app *app;

		if (root == NULL)
			continue;
		app = app_by_bus(u, bus_of(root));
		if (app == NULL && u->n_apps < APPS_MAX && bus_of(root)[0] != '\0') {
			GError *err = NULL;
			int64_t t0 = util_now_mono_ns();
			guint pid = atspi_accessible_get_process_id(root, &err);

			lk_after(lk, &err, t0, 0);
			app = &u->apps[u->n_apps++];
			memset(app, 0, sizeof *app);
			set_str(app->bus, bus_of(root), sizeof app->bus);
			app->pid = (int32_t)pid;
			app->root = g_object_ref(root);
		}
		if (app != NULL)
			app->gen = u->scan_gen;
		g_object_unref(root);
	}
	if (!lk->stop) {
		for (int i = u->n_apps - 1; i >= 0; i--)
			if (u->apps[i].gen != u->scan_gen)
				app_drop(u, i);
	}
	g_object_unref(desktop);
}

/* The applications with pid (rescanning the desktop when none is known). */
static int
apps_by_pid(struct lookup *lk, int32_t pid, struct app **out, int max)
{
	struct uia *u = lk->u;
	int64_t now = util_now_mono_ns();
	int n = 0;

	for (int pass = 0; pass < 2 && n == 0; pass++) {
		if (pass == 1) {
			for (int i = 0; i < NEG_MAX; i++)
				if (u->neg[i].pid == pid && u->neg[i].until > now)
					return 0;
			scan_desktop(lk);
		}
		for (int i = 0; i < u->n_apps && n < max; i++)
			if (u->apps[i].pid == pid)
				out[n++] = &u->apps[i];
	}
	if (n == 0) {
		int slot = 0;
		for (int i = 0; i < NEG_MAX; i++)
			if (u->neg[i].until < u->neg[slot].until)
				slot = i;
		u->neg[slot].pid = pid;
		u->neg[slot].until = now + NEG_TTL_NS;
	}
	return n;
}

static int
app_hung(const struct app *app)
{
	return app->hung_until > util_now_mono_ns();
}

static void
app_name(struct lookup *lk, struct app *app, char *dst, size_t n)
{
	if (!app->have_name && !lk->stop) {
		char *s = lk_name(lk, app->root);
		set_str(app->name, s, sizeof app->name);
		g_free(s);
		app->have_name = 1;
	}
	set_str(dst, app->name, n);
}

/* --- reading an element ----------------------------------------------------------- */

static int
role_is_noise(AtspiRole r)
{
	return r == ATSPI_ROLE_FILLER || r == ATSPI_ROLE_PANEL || r == ATSPI_ROLE_SECTION ||
	       r == ATSPI_ROLE_UNKNOWN || r == ATSPI_ROLE_REDUNDANT_OBJECT ||
	       r == ATSPI_ROLE_VIEWPORT || r == ATSPI_ROLE_LAYERED_PANE ||
	       r == ATSPI_ROLE_ROOT_PANE || r == ATSPI_ROLE_GLASS_PANE ||
	       r == ATSPI_ROLE_SCROLL_PANE || r == ATSPI_ROLE_INVALID;
}

static int
role_is_menu_item(AtspiRole r)
{
	return r == ATSPI_ROLE_MENU_ITEM || r == ATSPI_ROLE_CHECK_MENU_ITEM ||
	       r == ATSPI_ROLE_RADIO_MENU_ITEM || r == ATSPI_ROLE_TEAROFF_MENU_ITEM ||
	       r == ATSPI_ROLE_MENU;
}

static int
role_wants_label(AtspiRole r)
{
	return r == ATSPI_ROLE_TEXT || r == ATSPI_ROLE_PASSWORD_TEXT || r == ATSPI_ROLE_ENTRY ||
	       r == ATSPI_ROLE_COMBO_BOX || r == ATSPI_ROLE_SPIN_BUTTON ||
	       r == ATSPI_ROLE_SLIDER || r == ATSPI_ROLE_EDITBAR || r == ATSPI_ROLE_LIST_BOX ||
	       r == ATSPI_ROLE_DATE_EDITOR || r == ATSPI_ROLE_AUTOCOMPLETE;
}

static int
role_is_document(AtspiRole r)
{
	return r == ATSPI_ROLE_DOCUMENT_WEB || r == ATSPI_ROLE_DOCUMENT_FRAME;
}

static void
role_name(AtspiRole role, char *dst, size_t n)
{
	char *s = role >= 0 && role < ATSPI_ROLE_COUNT ? atspi_role_get_name(role) : NULL;

	set_str(dst, s != NULL ? s : "unknown", n);
	g_free(s);
}

/*
 * How well a label at l describes an element at e: the distance from the label to
 * the element when it sits to its left on the same row, or just above it; -1 when
 * it does neither.
 */
static int
label_distance(const AtspiRect *l, const AtspiRect *e)
{
	int ecy = e->y + e->height / 2;
	int lcy = l->y + l->height / 2;

	if (l->x + l->width <= e->x + 4 &&
	    ((ecy >= l->y && ecy < l->y + l->height) || (lcy >= e->y && lcy < e->y + e->height))) {
		int d = e->x - (l->x + l->width);
		return d < 0 ? 0 : (d <= 300 ? d : -1);
	}
	if (l->y + l->height <= e->y + 4 && l->x < e->x + e->width && e->x < l->x + l->width) {
		int d = e->y - (l->y + l->height);
		return d < 0 ? 0 : (d <= 40 ? d + 1 : -1);
	}
	return -1;
}

struct label_search {
	AtspiAccessible *self;
	AtspiRect er;
	int best;
	char text[UIA_LABEL_MAX];
	int nodes;
};

static void
label_walk(struct lookup *lk, struct label_search *ls, AtspiAccessible *container, int depth)
{
	int n = lk_child_count(lk, container);

	for (int i = 0; i < n && i < CHILDREN_MAX && !lk->stop; i++) {
		AtspiAccessible *c;
		AtspiRole role;

		if (++ls->nodes > LABEL_NODES_MAX)
			return;
		c = lk_child(lk, container, i);
		if (c == NULL)
			continue;
		if (same_obj(c, ls->self)) {
			g_object_unref(c);
			continue;
		}
		role = lk_role(lk, c, 0);
		if (role == ATSPI_ROLE_LABEL) {
			AtspiRect lr;
			if (lk_extents(lk, c, &lr) == 0) {
				int d = label_distance(&lr, &ls->er);
				if (d >= 0 && (ls->best < 0 || d < ls->best)) {
					char *s = lk_name(lk, c);
					if (s[0] != '\0') {
						ls->best = d;
						set_str(ls->text, s, sizeof ls->text);
					}
					g_free(s);
				}
			}
		} else if (depth > 1 && role_is_noise(role)) {
			label_walk(lk, ls, c, depth - 1);
		}
		g_object_unref(c);
	}
}

/*
 * The text labelling an input element: its labelled-by relation, else the label
 * beside or above it among its siblings, else among its parent's siblings' children
 * (GTK dialogs put labels and fields in separate boxes).
 */
static void
find_label(struct lookup *lk, AtspiAccessible *a, const AtspiRect *er, char *dst, size_t n)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	GArray *rels;
	struct label_search ls;
	AtspiAccessible *parent, *grand;

	dst[0] = '\0';
	if (lk->stop)
		return;
	rels = atspi_accessible_get_relation_set(a, &err);
	lk_after(lk, &err, t0, 0);
	if (rels != NULL) {
		for (guint i = 0; i < rels->len; i++) {
			AtspiRelation *rel = g_array_index(rels, AtspiRelation *, i);
			if (dst[0] == '\0' && rel != NULL &&
			    atspi_relation_get_relation_type(rel) == ATSPI_RELATION_LABELLED_BY &&
			    atspi_relation_get_n_targets(rel) > 0) {
				AtspiAccessible *t = atspi_relation_get_target(rel, 0);
				if (t != NULL) {
					char *s = lk_name(lk, t);
					set_str(dst, s, n);
					g_free(s);
					g_object_unref(t);
				}
			}
			if (rel != NULL)
				g_object_unref(rel);
		}
		g_array_free(rels, TRUE);
	}
	if (dst[0] != '\0' || er->width <= 0 || lk->stop)
		return;

	memset(&ls, 0, sizeof ls);
	ls.self = a;
	ls.er = *er;
	ls.best = -1;
	parent = lk_parent(lk, a);
	if (parent == NULL)
		return;
	label_walk(lk, &ls, parent, 1);
	if (ls.best < 0 && !lk->stop) {
		grand = lk_parent(lk, parent);
		if (grand != NULL) {
			ls.self = parent;
			label_walk(lk, &ls, grand, 2);
			g_object_unref(grand);
		}
	}
	g_object_unref(parent);
	if (ls.best >= 0)
		set_str(dst, ls.text, n);
}

/* Turns a GTK accelerator ("<Control><Shift>t", "<Primary>q") into "ctrl+shift+t". */
static void
accel_to_chord(const char *accel, char *dst, size_t n)
{
	static const struct {
		const char *tag, *name;
	} mods[] = {
		{ "<control>", "ctrl" }, { "<ctrl>", "ctrl" }, { "<primary>", "ctrl" },
		{ "<shift>", "shift" }, { "<alt>", "alt" }, { "<mod1>", "alt" },
		{ "<super>", "super" }, { "<meta>", "meta" }, { "<hyper>", "hyper" },
	};
	const char *p = accel;
	char key[64];
	size_t k = 0;

	dst[0] = '\0';
	while (*p == '<') {
		const char *end = strchr(p, '>');
		size_t len;

		if (end == NULL)
			break;
		len = (size_t)(end - p + 1);
		/* Unknown modifiers (<Release>, <Mod4>...) are left out. */
		for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
			if (strlen(mods[i].tag) == len && strncasecmp(p, mods[i].tag, len) == 0) {
				if (strstr(dst, mods[i].name) == NULL)
					append_str(dst, n, "+", mods[i].name);
				break;
			}
		}
		p = end + 1;
	}
	for (; *p != '\0' && k + 1 < sizeof key; p++)
		key[k++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
	key[k] = '\0';
	if (key[0] != '\0')
		append_str(dst, n, "+", key);
}

/* The accelerator of a menu item, from its action's key binding. */
static void
read_shortcut(struct lookup *lk, AtspiAccessible *a, char *dst, size_t n)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	char *kb;
	const char *accel;

	dst[0] = '\0';
	if (lk->stop)
		return;
	kb = atspi_action_get_key_binding(ATSPI_ACTION(a), 0, &err);
	lk_after(lk, &err, t0, 0);
	if (kb == NULL)
		return;
	/* GTK gives "mnemonic;menu path;accelerator"; others give the accelerator alone. */
	accel = strrchr(kb, ';');
	accel = accel != NULL ? accel + 1 : kb;
	if (accel[0] != '\0')
		accel_to_chord(accel, dst, n);
	g_free(kb);
}

static void
read_url(struct lookup *lk, AtspiAccessible *doc, char *dst, size_t n)
{
	static const char *const attrs[] = { "DocURL", "URI" };

	dst[0] = '\0';
	for (size_t i = 0; i < sizeof attrs / sizeof attrs[0] && dst[0] == '\0' && !lk->stop; i++) {
		GError *err = NULL;
		int64_t t0 = util_now_mono_ns();
		char *v = atspi_document_get_document_attribute_value(ATSPI_DOCUMENT(doc),
		                                                      (gchar *)attrs[i], &err);
		lk_after(lk, &err, t0, 0);
		if (v != NULL)
			set_str(dst, v, n);
		g_free(v);
	}
}

/*
 * Walks up from a: fills the ancestors (skipping unnamed layout containers), the
 * menu path of a menu item, and the URL of the enclosing web document.
 */
static void
walk_ancestors(struct lookup *lk, AtspiAccessible *a, AtspiRole role, struct uia_element *el)
{
	const char *menu_names[16];
	char *owned[WALK_MAX];
	int n_menu = 0, n_owned = 0;
	int in_menu = role_is_menu_item(role);
	int have_doc = 0;
	AtspiAccessible *cur = g_object_ref(a);

	for (int level = 0; level < WALK_MAX && !lk->stop; level++) {
		AtspiAccessible *p = lk_parent(lk, cur);
		AtspiRole prole;
		char *pname = NULL;

		g_object_unref(cur);
		cur = p;
		if (cur == NULL)
			break;
		prole = lk_role(lk, cur, 0);
		if (prole == ATSPI_ROLE_APPLICATION || prole == ATSPI_ROLE_DESKTOP_FRAME ||
		    prole == ATSPI_ROLE_INVALID)
			break;
		if (el->n_ancestors < UIA_ANCESTORS_MAX || in_menu) {
			pname = lk_name(lk, cur);
			owned[n_owned++] = pname;
		}
		if (pname != NULL && el->n_ancestors < UIA_ANCESTORS_MAX &&
		    !(role_is_noise(prole) && pname[0] == '\0')) {
			struct uia_ancestor *an = &el->ancestors[el->n_ancestors++];
			role_name(prole, an->role, sizeof an->role);
			set_str(an->name, pname, sizeof an->name);
		}
		if (in_menu) {
			if (prole == ATSPI_ROLE_COMBO_BOX) {
				/* A combo box's name is its current choice: name it by its label. */
				AtspiRect cr;
				char label[UIA_LABEL_MAX];

				lk_extents(lk, cur, &cr);
				find_label(lk, cur, &cr, label, sizeof label);
				if (label[0] == '\0')
					set_str(label, pname, sizeof label);
				if (label[0] != '\0' && n_menu < 16) {
					owned[n_owned++] = g_strdup(label);
					menu_names[n_menu++] = owned[n_owned - 1];
				}
				in_menu = 0;
			} else if (role_is_menu_item(prole) || prole == ATSPI_ROLE_POPUP_MENU) {
				if (pname != NULL && pname[0] != '\0' && n_menu < 16 &&
				    (n_menu == 0 || strcmp(menu_names[n_menu - 1], pname) != 0))
					menu_names[n_menu++] = pname;
			} else if (!role_is_noise(prole) && prole != ATSPI_ROLE_WINDOW) {
				/* A menu bar, or anything else that is not a menu, ends the path. */
				in_menu = 0;
			}
		}
		if (!have_doc && role_is_document(prole)) {
			read_url(lk, cur, el->url, sizeof el->url);
			have_doc = 1;
		}
		/* Past the window, only a web document could still be found. */
		if (el->n_ancestors >= UIA_ANCESTORS_MAX && !in_menu && have_doc)
			break;
		if (n_owned >= WALK_MAX - 2)
			break;
	}
	if (cur != NULL)
		g_object_unref(cur);

	if (role_is_menu_item(role)) {
		el->menu_path[0] = '\0';
		for (int i = n_menu - 1; i >= 0; i--)
			append_str(el->menu_path, sizeof el->menu_path, " > ", menu_names[i]);
		append_str(el->menu_path, sizeof el->menu_path, " > ",
		           el->name[0] != '\0' ? el->name : "?");
	}
	for (int i = 0; i < n_owned; i++)
		g_free(owned[i]);
}

/*
 * Reads everything about a into el (the request fields are left alone). Returns
 * 0, or the status when the lookup had to stop before the essentials were read.
 */
static int
read_element(struct lookup *lk, AtspiAccessible *a, struct app *app, struct uia_element *el)
{
	AtspiRole role;
	AtspiRect r;
	char *s;

	role = lk_role(lk, a, 1);
	if (lk->stop)
		return lk->stop;
	role_name(role, el->role, sizeof el->role);
	s = lk_name(lk, a);
	set_str(el->name, s, sizeof el->name);
	g_free(s);
	s = lk_description(lk, a);
	set_str(el->description, s, sizeof el->description);
	g_free(s);
	el->states = lk_states(lk, a);
	el->states &= UIA_STATE_BIT(ATSPI_STATE_LAST_DEFINED) - 1;
	if (role == ATSPI_ROLE_PASSWORD_TEXT)
		el->states |= UIA_STATE_PASSWORD;
	format_states(el->states, el->state_names, sizeof el->state_names);
	if (lk_extents(lk, a, &r) == 0) {
		el->x = r.x;
		el->y = r.y;
		el->w = r.width;
		el->h = r.height;
	}
	if (lk->stop)
		return lk->stop;
	el->read_ns = util_now_mono_ns();
	if (app != NULL) {
		el->pid = app->pid;
		app_name(lk, app, el->app, sizeof el->app);
	}
	if (role_wants_label(role))
		find_label(lk, a, &r, el->label, sizeof el->label);
	if (role_is_menu_item(role) && role != ATSPI_ROLE_MENU)
		read_shortcut(lk, a, el->shortcut, sizeof el->shortcut);
	walk_ancestors(lk, a, role, el);
	/* Ancestors, label and shortcut are extras: a budget spent on them still leaves
	 * a good element. */
	if (lk->stop == UIA_NO_ELEMENT)
		lk->stop = 0;
	return 0;
}

/* --- finding the element under the pointer ------------------------------------------ */

/* The deepest element at (x, y) below from (a new reference; from itself when none). */
static AtspiAccessible *
descend(struct lookup *lk, AtspiAccessible *from, int32_t x, int32_t y)
{
	AtspiAccessible *cur = g_object_ref(from);

	for (int i = 0; i < DESCEND_MAX && !lk->stop; i++) {
		AtspiAccessible *next = lk_at_point(lk, cur, x, y);
		if (next == NULL)
			break;
		if (same_obj(next, cur)) {
			g_object_unref(next);
			break;
		}
		g_object_unref(cur);
		cur = next;
	}
	return cur;
}

struct found {
	AtspiAccessible *root;     /* window or popup searched (a reference) */
	AtspiAccessible *obj;      /* the element (a reference) */
	struct app *app;
	int popup;
};

static void
found_clear(struct found *f)
{
	unref(&f->root);
	unref(&f->obj);
	f->app = NULL;
	f->popup = 0;
}

struct window_list {
	AtspiAccessible *w[CHILDREN_MAX];
	AtspiRect r[CHILDREN_MAX];
	uint64_t states[CHILDREN_MAX];
	int n;
};

static void
windows_free(struct window_list *wl)
{
	for (int i = 0; i < wl->n; i++)
		unref(&wl->w[i]);
	wl->n = 0;
}

/* The application's showing top-level windows. */
static void
list_windows(struct lookup *lk, struct app *app, struct window_list *wl)
{
	int n = lk_child_count(lk, app->root);

	for (int i = 0; i < n && i < CHILDREN_MAX && !lk->stop; i++) {
		AtspiAccessible *w = lk_child(lk, app->root, i);
		uint64_t st;

		if (w == NULL)
			continue;
		st = lk_states(lk, w);
		if (!(st & UIA_STATE_SHOWING) || lk_extents(lk, w, &wl->r[wl->n]) != 0) {
			g_object_unref(w);
			continue;
		}
		wl->states[wl->n] = st;
		wl->w[wl->n++] = w;
	}
}

static int
role_is_popup(AtspiRole r)
{
	return r == ATSPI_ROLE_MENU || r == ATSPI_ROLE_POPUP_MENU || r == ATSPI_ROLE_LIST ||
	       r == ATSPI_ROLE_LIST_BOX || r == ATSPI_ROLE_TREE || r == ATSPI_ROLE_TREE_TABLE ||
	       r == ATSPI_ROLE_TABLE || r == ATSPI_ROLE_WINDOW || r == ATSPI_ROLE_TOOL_TIP ||
	       r == ATSPI_ROLE_SCROLL_PANE;
}

static int
role_is_popup_item(AtspiRole r)
{
	return role_is_menu_item(r) || r == ATSPI_ROLE_LIST_ITEM || r == ATSPI_ROLE_TABLE_CELL ||
	       r == ATSPI_ROLE_TREE_ITEM;
}

/*
 * How well a showing element at r fits the popup under the pointer; < 0 when it
 * does not. A container (menu, list...) must cover the popup's X geometry (IoU);
 * an item (menu item, list item...) must contain the point and lie inside the
 * popup, the smallest winning. Containers rank above items.
 */
static double
popup_score(const AtspiRect *r, int32_t x, int32_t y, const struct uia_window_hint *h, int item)
{
	double area_rank = 1.0 / (2.0 + (double)r->width * r->height);

	if (!rect_has(r, x, y, 0))
		return -1.0;
	if (h == NULL || h->w <= 0)
		return area_rank;
	if (!item) {
		double s = iou(r, h);
		return s >= MIN_IOU ? 1.0 + s : -1.0;
	}
	if (r->x < h->x - 4 || r->y < h->y - 4 || r->x + r->width > h->x + h->w + 4 ||
	    r->y + r->height > h->y + h->h + 4)
		return -1.0;
	return area_rank;
}

struct popup_best {
	AtspiAccessible *obj;      /* a reference */
	double score;
};

static void
popup_consider(struct lookup *lk, struct popup_best *b, AtspiAccessible *c, int32_t x, int32_t y,
               const struct uia_window_hint *h, int item)
{
	AtspiRect r;
	double score;

	if (c == NULL || lk_extents(lk, c, &r) != 0)
		return;
	score = popup_score(&r, x, y, h, item);
	if (score > b->score) {
		if (b->obj != NULL)
			g_object_unref(b->obj);
		b->obj = g_object_ref(c);
		b->score = score;
	}
}

/* Depth first over showing descendants, for applications without Collection. */
static void
popup_dfs(struct lookup *lk, struct popup_best *b, AtspiAccessible *top, int32_t x, int32_t y,
          const struct uia_window_hint *h)
{
	AtspiAccessible *stack[64];
	int sp = 0, nodes = 0;

	stack[sp++] = g_object_ref(top);
	while (sp > 0) {
		AtspiAccessible *cur = stack[--sp];
		int n = lk->stop ? 0 : lk_child_count(lk, cur);

		for (int k = n - 1; k >= 0 && !lk->stop && nodes < DFS_NODES_MAX; k--) {
			AtspiAccessible *c = lk_child(lk, cur, k);
			AtspiRole role;

			nodes++;
			if (c == NULL)
				continue;
			if (!(lk_states(lk, c) & UIA_STATE_SHOWING)) {
				g_object_unref(c);
				continue;
			}
			role = lk_role(lk, c, 0);
			if (role_is_popup(role))
				popup_consider(lk, b, c, x, y, h, 0);
			if (role_is_popup_item(role))
				popup_consider(lk, b, c, x, y, h, 1);
			if (sp < 64)
				stack[sp++] = c;
			else
				g_object_unref(c);
		}
		g_object_unref(cur);
	}
}

/*
 * Finds the popup (a menu, a combo box's list...) under the pointer among the
 * showing descendants of the application's windows: GTK does not expose popups
 * as top-level windows but as children of what opened them (a combo box's menu,
 * a menu bar item's items). Asks Collection.GetMatches for showing containers,
 * then for showing items; walks the tree itself when the application does not
 * implement Collection. Within UIA_POPUP_BUDGET_MS.
 */
static AtspiAccessible *
find_popup(struct lookup *lk, struct window_list *wl, int32_t x, int32_t y,
           const struct uia_window_hint *h)
{
	struct popup_best b = { NULL, 0.0 };
	int64_t saved = lk->deadline;
	int64_t pd = util_now_mono_ns() + (int64_t)UIA_POPUP_BUDGET_MS * MS_NS;

	if (pd < lk->deadline)
		lk->deadline = pd;
	for (int i = 0; i < wl->n && !lk->stop; i++) {
		int failed;
		GArray *m = lk_matches(lk, wl->w[i], lk->u->popup_rule, 0, &failed);

		for (guint j = 0; m != NULL && j < m->len && j < POPUP_MATCHES_MAX && !lk->stop; j++)
			popup_consider(lk, &b, g_array_index(m, AtspiAccessible *, j), x, y, h, 0);
		free_matches(m);
		if (failed) {
			if (!lk->stop)
				popup_dfs(lk, &b, wl->w[i], x, y, h);
			continue;
		}
		if (b.obj != NULL || lk->stop)
			continue;
		m = lk_matches(lk, wl->w[i], lk->u->item_rule, 0, &failed);
		for (guint j = 0; m != NULL && j < m->len && j < POPUP_MATCHES_MAX && !lk->stop; j++)
			popup_consider(lk, &b, g_array_index(m, AtspiAccessible *, j), x, y, h, 1);
		free_matches(m);
	}
	lk->deadline = saved;
	if (lk->stop == UIA_TIMEOUT && b.obj != NULL && util_now_mono_ns() <= saved)
		lk->stop = 0; /* the popup budget ran out, but a popup was found */
	return b.obj;
}

/*
 * Finds the element at (x, y) inside the window described by h (may be NULL).
 * Returns 0 with f filled, or a uia_status.
 */
static int
locate(struct lookup *lk, int32_t x, int32_t y, const struct uia_window_hint *h, struct found *f)
{
	struct uia *u = lk->u;
	struct app *apps[8];
	int n_apps = 0;
	int any_hung = 0;

	memset(f, 0, sizeof *f);
	if (h != NULL && h->pid > 0) {
		n_apps = apps_by_pid(lk, h->pid, apps, 8);
	} else {
		scan_desktop(lk);
		for (int i = 0; i < u->n_apps && n_apps < 8; i++)
			apps[n_apps++] = &u->apps[i];
	}
	if (lk->stop)
		return lk->stop;
	if (n_apps == 0)
		return UIA_NO_ELEMENT;

	for (int ai = 0; ai < n_apps && !lk->stop && f->obj == NULL; ai++) {
		struct app *app = apps[ai];
		struct window_list wl;
		int best = -1;
		double best_score = 0.0;

		if (app_hung(app)) {
			any_hung = 1;
			continue;
		}
		lk->app = app;
		memset(&wl, 0, sizeof wl);
		list_windows(lk, app, &wl);
		for (int i = 0; i < wl.n; i++) {
			double score;

			if (!rect_has(&wl.r[i], x, y, 2))
				continue;
			if (h != NULL && h->w > 0) {
				score = iou(&wl.r[i], h);
				if (score < MIN_IOU)
					continue;
			} else {
				/* No X geometry: prefer the active window, then the smallest. */
				score = ((wl.states[i] & UIA_STATE_ACTIVE) ? 1.0 : 0.0) +
				        1.0 / (2.0 + (double)wl.r[i].width * wl.r[i].height);
			}
			if (score > best_score) {
				best = i;
				best_score = score;
			}
		}
		if (!lk->stop && (best < 0 || (h != NULL && h->popup))) {
			AtspiAccessible *p = find_popup(lk, &wl, x, y, h);
			if (p != NULL) {
				f->root = p;
				f->popup = 1;
			}
		}
		if (f->root == NULL && best >= 0)
			f->root = g_object_ref(wl.w[best]);
		if (f->root != NULL) {
			f->app = app;
			f->obj = descend(lk, f->root, x, y);
		}
		windows_free(&wl);
	}
	if (f->obj == NULL) {
		found_clear(f);
		if (lk->stop)
			return lk->stop;
		return any_hung ? UIA_TIMEOUT : UIA_NO_ELEMENT;
	}
	return 0;
}

/*
 * X shows an ordinary window under the pointer, yet AT-SPI (which has no z-order)
 * found obj inside a popup that an element of that window owns: a combo box's list
 * or a menu bar's menu, mapped over the point since (the click being looked up
 * opened it). Returns the owner (a new reference), the element pressed, or NULL
 * when obj is not in such a popup.
 */
static AtspiAccessible *
popup_owner(struct lookup *lk, AtspiAccessible *obj)
{
	AtspiRole role = lk_role(lk, obj, 0);
	AtspiAccessible *prev;

	if (!role_is_popup_item(role) && !role_is_popup(role))
		return NULL;
	prev = g_object_ref(obj);
	for (int i = 0; i < 8 && !lk->stop; i++) {
		AtspiAccessible *p = lk_parent(lk, prev);
		AtspiRole pr;

		if (p == NULL)
			break;
		pr = lk_role(lk, p, 0);
		if (pr == ATSPI_ROLE_COMBO_BOX) {
			g_object_unref(prev);
			return p;
		}
		if (pr == ATSPI_ROLE_MENU_BAR) {
			/* A menu bar's own item is not in a popup; an item of its menu is. */
			g_object_unref(p);
			if (same_obj(prev, obj))
				break;
			return prev;
		}
		if (!role_is_popup_item(pr) && !role_is_popup(pr) && !role_is_noise(pr) &&
		    pr != ATSPI_ROLE_POPUP_MENU) {
			g_object_unref(p);
			break;
		}
		g_object_unref(prev);
		prev = p;
	}
	g_object_unref(prev);
	return NULL;
}

/* The X cross-check on a read element: the point in its bounds, its bounds in the window's. */
static int
cross_check(const struct uia_element *el, int32_t x, int32_t y, const struct uia_window_hint *h)
{
	AtspiRect r = { el->x, el->y, el->w, el->h };

	if (el->w > 0 && !rect_has(&r, x, y, 2))
		return UIA_MISMATCH;
	if (h != NULL && h->w > 0 && el->w > 0 && iou(&r, h) <= 0.0)
		return UIA_MISMATCH;
	if (h != NULL && h->pid > 0 && el->pid > 0 && el->pid != h->pid)
		return UIA_MISMATCH;
	return 0;
}

/* --- handling requests -------------------------------------------------------------- */

static void
snap_clear(struct snapshot *s)
{
	unref(&s->obj);
	unref(&s->root);
	s->valid = 0;
}

static void
push_result(struct uia *u, struct uia_element *el)
{
	int64_t lat = util_now_mono_ns() - el->t_ns;

	el->lookup_us = lat > 0 ? (int32_t)(lat / 1000 > INT32_MAX ? INT32_MAX : lat / 1000) : 0;
	pthread_mutex_lock(&u->mu);
	*result_slot_locked(u) = *el;
	count_status_locked(u, el->status);
	wake(u->result_fd);
	pthread_mutex_unlock(&u->mu);
}

static void
base_result(struct uia_element *el, const struct request *r)
{
	memset(el, 0, sizeof *el);
	el->event_id = r->event_id;
	el->t_ns = r->t_ns;
	el->kind = r->kind == REQ_TYPING ? UIA_KIND_TYPING : UIA_KIND_PRESS;
	el->window = r->has_hint ? r->hint.window : 0;
}

/* --- remembered elements: a press at a point looked at before ------------------------- */

/* What a check of a remembered element is made against: the counters as it begins. */
struct check_gens {
	uint64_t gen, press_seq;
};

static void
gens_now(struct uia *u, struct check_gens *g)
{
	pthread_mutex_lock(&u->mu);
	g->gen = u->input_gen;
	g->press_seq = u->press_calls;
	pthread_mutex_unlock(&u->mu);
}

static int
same_hint(const struct uia_window_hint *a, const struct uia_window_hint *b)
{
	return a->window == b->window && a->pid == b->pid && a->x == b->x && a->y == b->y &&
	       a->w == b->w && a->h == b->h && a->popup == b->popup;
}

/*
 * Remembers the element found at a hover's point (obj in root), checked from the
 * counters g until now. Only elements of an ordinary window, with X's view of
 * popups known (a popup's items vanish with it), and only read while the pointer
 * rested: an element read right after a press may show the press half handled.
 */
static void
recent_put(struct uia *u, const struct request *r, const struct check_gens *g,
           AtspiAccessible *obj, AtspiAccessible *root, int popup, const struct uia_element *el)
{
	struct snapshot *slot = NULL;

	if (r->kind != REQ_HOVER || !r->has_hint || r->hint.window == 0 || r->hint.popup ||
	    popup || !r->popup_known)
		return;
	/* A press or key came between the rest and the reading: the reading may show it
	 * half handled. */
	if (g->press_seq != r->press_seq || g->gen != r->gen)
		return;
	for (int i = 0; i < RECENT_MAX && slot == NULL; i++) {
		struct snapshot *e = &u->recent[i];
		if (e->valid && e->x == r->x && e->y == r->y && e->window == r->hint.window)
			slot = e;
	}
	for (int i = 0; i < RECENT_MAX && slot == NULL; i++)
		if (!u->recent[i].valid)
			slot = &u->recent[i];
	if (slot == NULL) {
		slot = &u->recent[0];
		for (int i = 1; i < RECENT_MAX; i++)
			if (u->recent[i].checked_ns < slot->checked_ns)
				slot = &u->recent[i];
	}
	snap_clear(slot);
	slot->valid = 1;
	slot->el = *el;
	slot->obj = g_object_ref(obj);
	slot->root = g_object_ref(root);
	slot->x = r->x;
	slot->y = r->y;
	slot->window = r->hint.window;
	slot->hint = r->hint;
	slot->gen = g->gen;
	slot->press_seq = g->press_seq;
	slot->n_flog = 0;
	slot->popup_gen = r->popup_gen;
	slot->checked_ns = util_now_mono_ns();
}

/* A remembered element's states as of t_ns: as checked, then the focus changes before t_ns. */
static uint64_t
recent_states_at(const struct snapshot *e, int64_t t_ns)
{
	uint64_t st = e->el.states;

	for (int i = 0; i < e->n_flog && e->flog[i].ns <= t_ns; i++)
		st = e->flog[i].states;
	return st;
}

/*
 * A focus event: the remembered elements' "focused" state follows it (the element
 * that gained or lost the focus, and the others of its application, which lost it).
 * Each change is kept with the time it arrived, so that a press gets the state as
 * it was at the press, not the one its own click caused (a focus event comes a few
 * milliseconds after the click that moved the focus, which may be before uia gets
 * to the press).
 */
static void
recent_focus(struct uia *u, AtspiAccessible *src, int gained)
{
	int64_t now = util_now_mono_ns();

	for (int i = 0; i < RECENT_MAX; i++) {
		struct snapshot *e = &u->recent[i];
		uint64_t was, st;

		if (!e->valid || e->n_flog < 0)
			continue;
		was = st = recent_states_at(e, INT64_MAX);
		if (same_obj(e->obj, src))
			st = gained ? st | UIA_STATE_FOCUSED : st & ~UIA_STATE_FOCUSED;
		else if (gained && strcmp(bus_of(e->obj), bus_of(src)) == 0)
			st &= ~UIA_STATE_FOCUSED;
		if (st == was)
			continue;
		if (e->n_flog == FLOG_MAX) {
			e->n_flog = -1; /* too many to follow: checked again before it is taken */
			continue;
		}
		e->flog[e->n_flog].ns = now;
		e->flog[e->n_flog].states = st;
		e->n_flog++;
	}
}

static int
recent_count(struct uia *u)
{
	int n = 0;

	for (int i = 0; i < RECENT_MAX; i++)
		n += u->recent[i].valid;
	return n;
}

/*
 * A remembered element for a press: at the very point, checked after every press,
 * key, scroll and release before this press and finished before it, recently; X
 * shows the same window there, unmoved, with no popup covering the point and none
 * mapped, unmapped or moved since the check began (the hint was asked right after
 * the press). NULL when none fits.
 */
static struct snapshot *
recent_for_press(struct uia *u, const struct request *r)
{
	if (!r->has_hint || r->hint.window == 0 || r->hint.popup || !r->popup_known)
		return NULL;
	for (int i = 0; i < RECENT_MAX; i++) {
		struct snapshot *e = &u->recent[i];

		if (e->valid && e->x == r->x && e->y == r->y && same_hint(&e->hint, &r->hint) &&
		    e->gen == r->gen && e->press_seq == r->press_seq &&
		    e->n_flog >= 0 && e->popup_gen == r->popup_gen &&
		    e->checked_ns <= r->t_ns && r->t_ns - e->checked_ns < RECENT_FRESH_NS &&
		    cross_check(&e->el, r->x, r->y, &r->hint) == 0)
			return e;
	}
	return NULL;
}

/*
 * Checks a remembered element again (the pointer came to rest elsewhere in its
 * window after something happened): is it still the element at its point, and
 * what are its name, states and bounds now. Forgets it when it is not.
 */
static void
recheck(struct uia *u, struct snapshot *e, uint64_t popup_gen)
{
	struct lookup lk;
	struct check_gens g;
	AtspiAccessible *now;
	AtspiRect rect;
	char *name, *desc;
	char cut_name[UIA_NAME_MAX], cut_desc[UIA_DESC_MAX];
	uint64_t states;
	int ok;

	gens_now(u, &g);
	lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
	lk.app = app_by_bus(u, bus_of(e->obj));
	if (lk.app == NULL || app_hung(lk.app)) {
		snap_clear(e);
		return;
	}
	now = descend(&lk, e->root, e->x, e->y);
	ok = same_obj(now, e->obj) && !lk.stop;
	g_object_unref(now);
	if (!ok) {
		snap_clear(e);
		return;
	}
	name = lk_name(&lk, e->obj);
	desc = lk_description(&lk, e->obj);
	states = lk_states(&lk, e->obj) & (UIA_STATE_BIT(ATSPI_STATE_LAST_DEFINED) - 1);
	lk_extents(&lk, e->obj, &rect);
	set_str(cut_name, name, sizeof cut_name);
	set_str(cut_desc, desc, sizeof cut_desc);
	ok = !lk.stop && strcmp(cut_name, e->el.name) == 0 &&
	     strcmp(cut_desc, e->el.description) == 0 && rect.x == e->el.x &&
	     rect.y == e->el.y && rect.width == e->el.w && rect.height == e->el.h &&
	     (states & UIA_STATE_SHOWING);
	g_free(name);
	g_free(desc);
	if (!ok) {
		/* Renamed, moved or hidden: the next press there is looked up afresh (menu
		 * path, label and ancestors, read with the name, may have changed too). */
		snap_clear(e);
		return;
	}
	e->el.states = states | (e->el.states & UIA_STATE_PASSWORD);
	format_states(e->el.states, e->el.state_names, sizeof e->el.state_names);
	e->el.read_ns = util_now_mono_ns();
	e->gen = g.gen;
	e->press_seq = g.press_seq;
	e->n_flog = 0;
	e->popup_gen = popup_gen;
	e->checked_ns = e->el.read_ns;
}

/*
 * The pointer came to rest over an ordinary window, with X's view of popups known:
 * checks again the remembered elements of that window that something may have
 * changed since their last check (a press, key, scroll, focus change or popup), or
 * that are getting old, so that a press on one of them right after (an agent
 * moving and clicking at once) is known without waiting for the application to
 * handle the click. At most RECHECK_MAX of them.
 */
static int
recheck_window(struct uia *u, const struct request *r)
{
	struct check_gens g;
	int64_t now = util_now_mono_ns();
	int n = 0;

	if (!r->has_hint || r->hint.window == 0 || r->hint.popup || !r->popup_known)
		return 0;
	gens_now(u, &g);
	for (int i = 0; i < RECENT_MAX && n < RECHECK_MAX; i++) {
		struct snapshot *e = &u->recent[i];

		if (!e->valid || !same_hint(&e->hint, &r->hint))
			continue;
		if (e->gen == g.gen && e->press_seq == g.press_seq && e->n_flog == 0 &&
		    e->popup_gen == r->popup_gen && now - e->checked_ns < RECHECK_AGE_NS)
			continue;
		recheck(u, e, r->popup_gen);
		n++;
	}
	return n;
}

/*
 * Resolves the element at the request's point into el and, when found, keeps it
 * as the hover snapshot (and among the remembered elements). Returns the status.
 */
static int
resolve_at(struct uia *u, const struct request *r, struct uia_element *el)
{
	const struct uia_window_hint *h = r->has_hint ? &r->hint : NULL;
	struct lookup lk;
	struct found f;
	struct check_gens g;
	int st;

	gens_now(u, &g);
	lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
	st = locate(&lk, r->x, r->y, h, &f);
	if (st != 0)
		return st;
	lk.app = f.app;
	if (h != NULL && h->w > 0 && !h->popup && !f.popup) {
		AtspiAccessible *owner = popup_owner(&lk, f.obj);
		if (owner != NULL) {
			g_object_unref(f.obj);
			f.obj = owner;
		}
	}
	st = read_element(&lk, f.obj, f.app, el);
	if (st == 0)
		st = cross_check(el, r->x, r->y, h);
	el->popup = f.popup;
	if (st == 0) {
		snap_clear(&u->hover_snap);
		u->hover_snap.valid = 1;
		u->hover_snap.el = *el;
		u->hover_snap.obj = g_object_ref(f.obj);
		u->hover_snap.root = g_object_ref(f.root);
		u->hover_snap.x = r->x;
		u->hover_snap.y = r->y;
		u->hover_snap.window = h != NULL ? h->window : 0;
		u->hover_snap.popup = f.popup;
		u->hover_snap.fresh = r->kind == REQ_HOVER;
		u->hover_snap.gen = r->gen;
		u->hover_snap.press_seq = r->press_seq;
		recent_put(u, r, &g, f.obj, f.root, f.popup, el);
	}
	found_clear(&f);
	return st;
}

static void
do_hover(struct uia *u, const struct request *r)
{
	struct uia_element *el = &u->work;
	int st, rechecked;

	base_result(el, r);
	snap_clear(&u->hover_snap);
	st = resolve_at(u, r, el);
	rechecked = recheck_window(u, r);
	log_debug("uia: hover at %d,%d (window 0x%x, popup %d, popups known %d): %s in %lld us, "
	          "%d remembered checked again", (int)r->x, (int)r->y,
	          (unsigned)(r->has_hint ? r->hint.window : 0),
	          r->has_hint ? (int)r->hint.popup : 0, r->popup_known, uia_status_name(st),
	          (long long)((util_now_mono_ns() - r->t_ns) / 1000), rechecked);
	pthread_mutex_lock(&u->mu);
	u->stats.hovers_resolved++;
	pthread_mutex_unlock(&u->mu);
}

/* 1 when obj is a (near) descendant of anc. */
static int
inside(struct lookup *lk, AtspiAccessible *obj, AtspiAccessible *anc)
{
	AtspiAccessible *cur = g_object_ref(obj);
	int found = 0;

	for (int i = 0; i < 6 && cur != NULL && !found && !lk->stop; i++) {
		AtspiAccessible *p = lk_parent(lk, cur);

		g_object_unref(cur);
		cur = p;
		found = same_obj(cur, anc);
	}
	if (cur != NULL)
		g_object_unref(cur);
	return found;
}

static void
do_press(struct uia *u, const struct request *r)
{
	struct uia_element *el = &u->work;
	struct snapshot *s = &u->hover_snap;
	uint32_t win = r->has_hint ? r->hint.window : 0;

	if (s->valid && s->fresh && s->gen == r->gen && s->press_seq == r->press_seq &&
	    s->x == r->x && s->y == r->y &&
	    s->window == win &&
	    s->el.read_ns <= r->t_ns && r->t_ns - s->el.read_ns < HOVER_FRESH_NS &&
	    cross_check(&s->el, r->x, r->y, r->has_hint ? &r->hint : NULL) == 0) {
		/*
		 * The first press where the pointer came to rest, soon after, with nothing
		 * typed or pressed in between: X has just confirmed the pointer is still there over the
		 * same window, so the element read at the hover is the one pressed. Asking the
		 * application again would only wait for it to finish handling the click.
		 */
		*el = s->el;
		el->event_id = r->event_id;
		el->t_ns = r->t_ns;
		el->kind = UIA_KIND_PRESS;
		el->status = UIA_OK;
		el->source = UIA_SOURCE_HOVER;
		s->fresh = 0;
		push_result(u, el);
		return;
	}
	if ((s = recent_for_press(u, r)) != NULL) {
		/*
		 * A point looked at before, checked again after everything that came before
		 * this press, and X shows the same window there with no popup come or gone:
		 * the element is known without waiting for the application to handle the
		 * click (an agent moving and clicking at once).
		 */
		*el = s->el;
		el->states = recent_states_at(s, r->t_ns);
		format_states(el->states, el->state_names, sizeof el->state_names);
		el->event_id = r->event_id;
		el->t_ns = r->t_ns;
		el->kind = UIA_KIND_PRESS;
		el->status = UIA_OK;
		el->source = UIA_SOURCE_RECENT;
		el->window = r->hint.window;
		push_result(u, el);
		return;
	}
	s = &u->hover_snap;
	if (s->valid && s->x == r->x && s->y == r->y && s->window == win &&
	    s->el.read_ns <= r->t_ns + 50 * MS_NS &&
	    cross_check(&s->el, r->x, r->y, r->has_hint ? &r->hint : NULL) == 0) {
		/* The pointer has not moved since it came to rest: confirm that element. */
		struct lookup lk;
		AtspiAccessible *now;
		int same;

		lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
		lk.app = app_by_bus(u, bus_of(s->obj));
		now = descend(&lk, s->root, r->x, r->y);
		/* An element found directly (a popup item) is its own root: it must still show. */
		same = same_obj(now, s->obj) && (lk_states(&lk, s->obj) & UIA_STATE_SHOWING);
		/* The press opened something inside the element (a combo box's list, which
		 * GTK puts below the combo box, under the pointer): still the element pressed. */
		if (!same && !lk.stop && !same_obj(now, s->root) && inside(&lk, now, s->obj))
			same = 1;
		if (same || lk.stop || same_obj(now, s->root)) {
			*el = s->el;
			el->event_id = r->event_id;
			el->t_ns = r->t_ns;
			el->kind = UIA_KIND_PRESS;
			el->status = UIA_OK;
			el->source = same ? UIA_SOURCE_HOVER : UIA_SOURCE_HOVER_GONE;
			g_object_unref(now);
			push_result(u, el);
			return;
		}
		g_object_unref(now);
		/* Something else is there now: look again below. */
	}
	log_debug("uia: press at %d,%d (window 0x%x, popup %d, popups known %d) looked up again "
	          "(hover %s, %d remembered)", (int)r->x, (int)r->y, (unsigned)win,
	          r->has_hint ? (int)r->hint.popup : 0, r->popup_known,
	          s->valid ? "elsewhere" : "none", recent_count(u));
	base_result(el, r);
	el->status = resolve_at(u, r, el);
	el->source = el->status == UIA_OK ? UIA_SOURCE_PRESS : UIA_SOURCE_NONE;
	if (el->status != UIA_OK) {
		struct uia_element keep = *el;
		base_result(el, r);
		el->status = keep.status;
	}
	push_result(u, el);
}

/* Resolves the newest focus event into the focus snapshot. */
static void
flush_focus(struct uia *u)
{
	AtspiAccessible *a = u->focus_pending;
	struct lookup lk;
	struct app *app;
	struct uia_element *el = &u->work;

	if (a == NULL)
		return;
	u->focus_pending = NULL;
	lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
	app = app_by_bus(u, bus_of(a));
	if (app == NULL) {
		scan_desktop(&lk);
		app = app_by_bus(u, bus_of(a));
	}
	if (app != NULL && app_hung(app)) {
		g_object_unref(a);
		return;
	}
	lk.app = app;
	memset(el, 0, sizeof *el);
	if (read_element(&lk, a, app, el) == 0) {
		snap_clear(&u->focus_snap);
		u->focus_snap.valid = 1;
		u->focus_snap.el = *el;
		u->focus_snap.el.read_ns = u->focus_pending_ns;
		u->focus_snap.obj = a;
		publish_focus(u, el, u->focus_pending_ns);
		return;
	}
	g_object_unref(a);
}

static gboolean
focus_idle_cb(gpointer data)
{
	struct uia *u = data;

	u->focus_idle = 0;
	flush_focus(u);
	return G_SOURCE_REMOVE;
}

static void
on_focus(AtspiEvent *ev, void *data)
{
	struct uia *u = data;

	if (ev->source != NULL)
		recent_focus(u, ev->source, ev->detail1 != 0);
	if (ev->source != NULL) {
		if (ev->detail1) {
			unref(&u->focus_pending);
			u->focus_pending = g_object_ref(ev->source);
			u->focus_pending_ns = util_now_mono_ns();
			/* Read it a moment later: the click that moved the focus is usually
			 * still on its way here as a press, which goes first (reading the
			 * element now would wait for the application to handle that click). */
			if (u->focus_idle == 0)
				u->focus_idle = g_timeout_add(FOCUS_DEFER_MS, focus_idle_cb, u);
		} else {
			if (same_obj(u->focus_pending, ev->source))
				unref(&u->focus_pending);
			if (u->focus_snap.valid && same_obj(u->focus_snap.obj, ev->source)) {
				snap_clear(&u->focus_snap);
				publish_focus(u, NULL, 0);
			}
		}
	}
	g_boxed_free(ATSPI_TYPE_EVENT, ev);
}

/* Searches the focused window's application for its FOCUSED element. */
static int
search_focus(struct uia *u, const struct uia_window_hint *h, struct uia_element *el)
{
	struct lookup lk;
	struct app *apps[8];
	int n, st = UIA_NO_ELEMENT;

	lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
	n = apps_by_pid(&lk, h->pid, apps, 8);
	for (int ai = 0; ai < n && st != UIA_OK && !lk.stop; ai++) {
		struct window_list wl;

		if (app_hung(apps[ai])) {
			st = UIA_TIMEOUT;
			continue;
		}
		lk.app = apps[ai];
		memset(&wl, 0, sizeof wl);
		list_windows(&lk, apps[ai], &wl);
		for (int i = 0; i < wl.n && st != UIA_OK && !lk.stop; i++) {
			int failed;
			GArray *m;

			if (h->w > 0 && iou(&wl.r[i], h) < MIN_IOU)
				continue;
			m = lk_matches(&lk, wl.w[i], u->focus_rule, 1, &failed);
			if (m != NULL && m->len > 0 && g_array_index(m, AtspiAccessible *, 0) != NULL) {
				AtspiAccessible *a = g_array_index(m, AtspiAccessible *, 0);
				if (read_element(&lk, a, apps[ai], el) == 0) {
					st = UIA_OK;
					snap_clear(&u->focus_snap);
					u->focus_snap.valid = 1;
					u->focus_snap.el = *el;
					u->focus_snap.obj = g_object_ref(a);
					publish_focus(u, el, el->read_ns);
				}
			}
			free_matches(m);
		}
		windows_free(&wl);
	}
	if (st != UIA_OK && lk.stop)
		st = lk.stop;
	return st;
}

static void
do_typing(struct uia *u, const struct request *r)
{
	struct uia_element *el = &u->work;
	const struct uia_window_hint *h = r->has_hint ? &r->hint : NULL;
	struct snapshot *s = &u->focus_snap;

	/* Keys may change what is under the resting pointer: confirm at the next press. */
	u->hover_snap.fresh = 0;
	flush_focus(u);
	if (s->valid && (h == NULL || h->pid <= 0 || s->el.pid == h->pid)) {
		*el = s->el;
		el->source = UIA_SOURCE_FOCUS_EVENT;
		el->status = UIA_OK;
	} else if (h != NULL && h->pid > 0) {
		base_result(el, r);
		el->status = search_focus(u, h, el);
		el->source = el->status == UIA_OK ? UIA_SOURCE_FOCUS_SEARCH : UIA_SOURCE_NONE;
	} else {
		base_result(el, r);
		el->status = UIA_NO_ELEMENT;
	}
	if (el->status != UIA_OK) {
		int st = el->status;
		base_result(el, r);
		el->status = st;
	}
	el->event_id = r->event_id;
	el->t_ns = r->t_ns;
	el->kind = UIA_KIND_TYPING;
	el->window = h != NULL ? h->window : 0;
	push_result(u, el);
}

/* --- the uia thread --------------------------------------------------------------- */

static gboolean drain_cb(gpointer data);
static int drain(struct uia *u);

/*
 * Takes the next request that is due: presses and typing runs in order (a typing
 * run only once UIA_TYPING_GRACE_MS have passed), then the pending hover. Returns
 * 1 with *out set, 0 when nothing is due (*wait_ns: until the next one, or -1), -1
 * when stopping.
 */
static int
take_next(struct uia *u, struct request *out, int64_t now, int64_t *wait_ns)
{
	int64_t grace = (int64_t)UIA_TYPING_GRACE_MS * MS_NS;
	int ret = 0;

	*wait_ns = -1;
	pthread_mutex_lock(&u->mu);
	if (u->stopping) {
		ret = -1;
		goto out;
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
				goto out;
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
			goto out;
		}
		if (*wait_ns < 0 || due - now < *wait_ns)
			*wait_ns = due - now;
	}
	if (u->hover_pending) {
		*out = u->hover;
		u->hover_pending = 0;
		ret = 1;
	}
out:
	pthread_mutex_unlock(&u->mu);
	return ret;
}

/* Handles every due request; returns -1 when the thread must stop, else 0. */
static int
drain(struct uia *u)
{
	struct request r;
	int64_t wait_ns;
	int ret;

	if (u->a11y != NULL && !dbus_connection_get_is_connected(u->a11y)) {
		set_degraded(u, "the accessibility bus went away");
		u->a11y = NULL;
		return 0;
	}
	while ((ret = take_next(u, &r, util_now_mono_ns(), &wait_ns)) == 1) {
		if (util_now_mono_ns() - r.t_ns > (int64_t)UIA_MAX_AGE_MS * MS_NS) {
			if (r.kind != REQ_HOVER) {
				pthread_mutex_lock(&u->mu);
				push_empty_locked(u, &r, UIA_TIMEOUT);
				pthread_mutex_unlock(&u->mu);
			}
			continue;
		}
		if (r.kind == REQ_HOVER)
			do_hover(u, &r);
		else if (r.kind == REQ_PRESS)
			do_press(u, &r);
		else
			do_typing(u, &r);
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

static gboolean
drain_cb(gpointer data)
{
	struct uia *u = data;

	g_source_unref(u->timer);
	u->timer = NULL;
	drain(u);
	return G_SOURCE_REMOVE;
}

static gboolean
wake_cb(gint fd, GIOCondition cond, gpointer data)
{
	struct uia *u = data;
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof v);

	(void)r;
	(void)cond;
	drain(u);
	return G_SOURCE_CONTINUE;
}

/* Opens addr privately and says Hello within timeout_ms; NULL with *why on failure. */
static DBusConnection *
open_bus(const char *addr, int timeout_ms, char *why, size_t n)
{
	DBusError err;
	DBusConnection *c;
	DBusMessage *msg, *reply;

	dbus_error_init(&err);
	c = dbus_connection_open_private(addr, &err);
	if (c == NULL) {
		snprintf(why, n, "%s", err.message != NULL ? err.message : "cannot connect");
		dbus_error_free(&err);
		return NULL;
	}
	dbus_connection_set_exit_on_disconnect(c, FALSE);
	msg = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
	                                   "Hello");
	reply = msg != NULL ?
	        dbus_connection_send_with_reply_and_block(c, msg, timeout_ms, &err) : NULL;
	if (msg != NULL)
		dbus_message_unref(msg);
	if (reply == NULL) {
		snprintf(why, n, "%s", err.message != NULL ? err.message : "no answer");
		dbus_error_free(&err);
		dbus_connection_close(c);
		dbus_connection_unref(c);
		return NULL;
	}
	dbus_message_unref(reply);
	return c;
}

static void
close_bus(DBusConnection *c)
{
	if (c != NULL) {
		dbus_connection_close(c);
		dbus_connection_unref(c);
	}
}

/* The AT_SPI_BUS property of the X root window, as libatspi reads it ("" when none). */
static void
x_bus_address(char *dst, size_t n)
{
	const char *display = getenv("DISPLAY");
	xcb_connection_t *c;
	xcb_intern_atom_reply_t *ar;
	xcb_get_property_reply_t *pr;
	const xcb_setup_t *setup;

	dst[0] = '\0';
	if (display == NULL || display[0] == '\0' || getenv("WAYLAND_DISPLAY") != NULL)
		return;
	c = xcb_connect(NULL, NULL);
	if (xcb_connection_has_error(c)) {
		xcb_disconnect(c);
		return;
	}
	setup = xcb_get_setup(c);
	ar = xcb_intern_atom_reply(c, xcb_intern_atom(c, 1, 10, "AT_SPI_BUS"), NULL);
	if (ar != NULL && ar->atom != XCB_ATOM_NONE && setup != NULL) {
		xcb_screen_iterator_t it = xcb_setup_roots_iterator(setup);
		pr = xcb_get_property_reply(c, xcb_get_property(c, 0, it.data->root, ar->atom,
		                                                XCB_GET_PROPERTY_TYPE_ANY, 0, 1024),
		                            NULL);
		if (pr != NULL && pr->format == 8 && xcb_get_property_value_length(pr) > 0) {
			int len = xcb_get_property_value_length(pr);
			size_t m = (size_t)len < n - 1 ? (size_t)len : n - 1;
			memcpy(dst, xcb_get_property_value(pr), m);
			dst[m] = '\0';
		}
		free(pr);
	}
	free(ar);
	xcb_disconnect(c);
}

/*
 * Finds the accessibility bus the way libatspi will, without ever letting libdbus
 * autolaunch a session bus, and checks that it answers. Returns 0, or -1 with
 * *why set.
 */
static int
probe_bus(char *why, size_t n)
{
	char addr[1024], sess[1024], err[512];
	const char *env = getenv("AT_SPI_BUS_ADDRESS");
	DBusConnection *c;

	if (env != NULL && env[0] != '\0') {
		set_str(addr, env, sizeof addr);
	} else {
		x_bus_address(addr, sizeof addr);
	}
	if (addr[0] == '\0') {
		const char *sa = getenv("DBUS_SESSION_BUS_ADDRESS");
		DBusMessage *msg, *reply;
		DBusError derr;
		const char *a = NULL;

		if (sa != NULL && sa[0] != '\0') {
			set_str(sess, sa, sizeof sess);
		} else {
			/* libdbus's own fallback before it autolaunches: $XDG_RUNTIME_DIR/bus. */
			const char *rt = getenv("XDG_RUNTIME_DIR");
			struct stat st;
			char path[900];

			if (rt == NULL || rt[0] == '\0') {
				snprintf(why, n, "no session bus: DBUS_SESSION_BUS_ADDRESS and "
				         "XDG_RUNTIME_DIR are not set");
				return -1;
			}
			snprintf(path, sizeof path, "%s/bus", rt);
			if (lstat(path, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_uid != getuid()) {
				snprintf(why, n, "no session bus: DBUS_SESSION_BUS_ADDRESS is not set "
				         "and there is no $XDG_RUNTIME_DIR/bus");
				return -1;
			}
			snprintf(sess, sizeof sess, "unix:path=%s", path);
		}
		if (strncmp(sess, "autolaunch:", 11) == 0 || strstr(sess, ";autolaunch:") != NULL) {
			snprintf(why, n, "the session bus address asks for autolaunch, "
			         "which mimic does not do");
			return -1;
		}
		c = open_bus(sess, 1000, err, sizeof err);
		if (c == NULL) {
			snprintf(why, n, "the session bus cannot be reached: %s", err);
			return -1;
		}
		dbus_error_init(&derr);
		msg = dbus_message_new_method_call("org.a11y.Bus", "/org/a11y/bus", "org.a11y.Bus",
		                                   "GetAddress");
		reply = msg != NULL ? dbus_connection_send_with_reply_and_block(c, msg, 3000, &derr) :
		        NULL;
		if (msg != NULL)
			dbus_message_unref(msg);
		if (reply == NULL || !dbus_message_get_args(reply, &derr, DBUS_TYPE_STRING, &a,
		                                            DBUS_TYPE_INVALID) ||
		    a == NULL || a[0] == '\0') {
			snprintf(why, n, "no accessibility bus on the session bus (org.a11y.Bus): %s",
			         derr.message != NULL ? derr.message : "empty address");
			dbus_error_free(&derr);
			if (reply != NULL)
				dbus_message_unref(reply);
			close_bus(c);
			return -1;
		}
		set_str(addr, a, sizeof addr);
		dbus_message_unref(reply);
		close_bus(c);
	}
	c = open_bus(addr, 1000, err, sizeof err);
	if (c == NULL) {
		snprintf(why, n, "the accessibility bus cannot be reached: %s", err);
		return -1;
	}
	close_bus(c);
	return 0;
}

static AtspiMatchRule *
make_rule(AtspiStateType state, const AtspiRole *roles, size_t n_roles)
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

static void
set_ready(struct uia *u)
{
	pthread_mutex_lock(&u->mu);
	u->state = ST_READY;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->mu);
}

/* libatspi's GLib messages go to mimic's log (they never carry element content). */
static void
glib_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
	(void)data;
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		log_warn("uia: libatspi (%s): %s", domain != NULL ? domain : "-", message);
	else
		log_debug("uia: libatspi (%s): %s", domain != NULL ? domain : "-", message);
}

static void *
uia_main(void *arg)
{
	static const char *const domains[] = { "dbind", "atspi", NULL };
	guint handlers[3];
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
	struct uia *u = arg;
	GMainContext *ctx = g_main_context_default();
	char why[1024];
	GError *err = NULL;
	int inited = 0, spent;

	for (int i = 0; i < 3; i++)
		handlers[i] = g_log_set_handler(domains[i], G_LOG_LEVEL_MASK & ~G_LOG_LEVEL_ERROR,
		                                glib_log, NULL);
	if (!g_main_context_acquire(ctx)) {
		set_degraded(u, "GLib's default main context is in use by another thread");
		for (int i = 0; i < 3; i++)
			g_log_remove_handler(domains[i], handlers[i]);
		return NULL;
	}
	pthread_mutex_lock(&instance_mu);
	spent = atspi_spent;
	pthread_mutex_unlock(&instance_mu);
	if (spent) {
		set_degraded(u, "AT-SPI was already used and stopped in this process "
		             "(libatspi cannot be started twice)");
		goto out;
	}
	if (probe_bus(why, sizeof why) != 0) {
		set_degraded(u, why);
		goto out;
	}
	if (atspi_init() != 0) {
		atspi_exit();
		set_degraded(u, "libatspi could not connect to the accessibility bus");
		goto out;
	}
	inited = 1;
	pthread_mutex_lock(&instance_mu);
	atspi_spent = 1;
	pthread_mutex_unlock(&instance_mu);
	atspi_set_timeout(UIA_CALL_TIMEOUT_MS, 0);
	u->a11y = atspi_get_a11y_bus();
	u->popup_rule = make_rule(ATSPI_STATE_SHOWING, popup_roles,
	                          sizeof popup_roles / sizeof popup_roles[0]);
	u->item_rule = make_rule(ATSPI_STATE_SHOWING, item_roles,
	                         sizeof item_roles / sizeof item_roles[0]);
	u->focus_rule = make_rule(ATSPI_STATE_FOCUSED, NULL, 0);
	u->focus_listener = atspi_event_listener_new(on_focus, u, NULL);
	if (!atspi_event_listener_register(u->focus_listener, "object:state-changed:focused",
	                                   &err)) {
		/* Presses still work; typing runs fall back to searching for the focus. */
		log_warn("uia: cannot follow focus events: %s", err != NULL ? err->message : "?");
		g_clear_error(&err);
	}
	u->loop = g_main_loop_new(ctx, FALSE);
	u->wake_source = g_unix_fd_source_new(u->wake_fd, G_IO_IN);
	g_source_set_callback(u->wake_source, G_SOURCE_FUNC(wake_cb), u, NULL);
	g_source_attach(u->wake_source, ctx);
	set_ready(u);
	log_info("uia: following UI elements over AT-SPI");
	{
		/* List the applications now rather than on the first press. */
		struct lookup lk;
		lk_init(&lk, u, (int64_t)UIA_LOOKUP_BUDGET_MS * MS_NS);
		scan_desktop(&lk);
	}
	/* drain() quits the loop when uia_stop came first; run it only otherwise (a loop
	 * quit before it runs would run forever). */
	if (drain(u) == 0)
		g_main_loop_run(u->loop);

out:
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
	snap_clear(&u->hover_snap);
	snap_clear(&u->focus_snap);
	for (int i = 0; i < RECENT_MAX; i++)
		snap_clear(&u->recent[i]);
	while (u->n_apps > 0)
		app_drop(u, u->n_apps - 1);
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
	g_main_context_release(ctx);
	for (int i = 0; i < 3; i++)
		g_log_remove_handler(domains[i], handlers[i]);
	return NULL;
}

int
uia_start(struct uia **out, char **cause)
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
	return err;
}

static void x_detach(struct uia *u);

void
uia_stop(struct uia *u)
{
	if (u == NULL)
		return;
	x_detach(u);
	pthread_mutex_lock(&u->mu);
	u->stopping = 1;
	pthread_mutex_unlock(&u->mu);
	wake(u->wake_fd);
	if (u->thread_started)
		pthread_join(u->thread, NULL);
	close(u->wake_fd);
	close(u->result_fd);
	pthread_mutex_destroy(&u->mu);
	pthread_cond_destroy(&u->cond);
	free(u->res);
	free(u);
	pthread_mutex_lock(&instance_mu);
	instance_live = 0;
	pthread_mutex_unlock(&instance_mu);
}

/* --- asking X for the window under the pointer ---------------------------------------- */

static int
has_wm_state(xcb_connection_t *c, xcb_window_t w, xcb_atom_t wm_state)
{
	xcb_get_property_reply_t *r;
	int has;

	if (wm_state == XCB_ATOM_NONE)
		return 0;
	r = xcb_get_property_reply(c, xcb_get_property(c, 0, w, wm_state, XCB_GET_PROPERTY_TYPE_ANY,
	                                               0, 0), NULL);
	has = r != NULL && r->type != XCB_ATOM_NONE;
	free(r);
	return has;
}

/* The client window (the one with WM_STATE) inside a window manager's frame, or 0. */
static xcb_window_t
find_client(xcb_connection_t *c, xcb_window_t w, xcb_atom_t wm_state, int depth)
{
	xcb_query_tree_reply_t *t;
	xcb_window_t found = 0;

	if (has_wm_state(c, w, wm_state))
		return w;
	if (depth == 0)
		return 0;
	t = xcb_query_tree_reply(c, xcb_query_tree(c, w), NULL);
	if (t == NULL)
		return 0;
	{
		xcb_window_t *kids = xcb_query_tree_children(t);
		int n = xcb_query_tree_children_length(t);

		/* Topmost first: the client is usually the last child of its frame. */
		for (int i = n - 1; i >= 0 && found == 0; i--)
			found = find_client(c, kids[i], wm_state, depth - 1);
	}
	free(t);
	return found;
}

static int hint_query(xcb_connection_t *conn, xcb_window_t root, struct uia_window_hint *out,
                      int32_t *x, int32_t *y, xcb_window_t *top_out);

int
uia_hint_from_pointer(xcb_connection_t *conn, xcb_window_t root, struct uia_window_hint *out,
                      int32_t *x, int32_t *y)
{
	return hint_query(conn, root, out, x, y, NULL);
}

/* uia_hint_from_pointer, also giving the top-level window under the pointer (0: none). */
static int
hint_query(xcb_connection_t *conn, xcb_window_t root, struct uia_window_hint *out,
           int32_t *x, int32_t *y, xcb_window_t *top_out)
{
	xcb_intern_atom_cookie_t cs = xcb_intern_atom(conn, 1, 8, "WM_STATE");
	xcb_intern_atom_cookie_t cp = xcb_intern_atom(conn, 1, 11, "_NET_WM_PID");
	xcb_query_pointer_cookie_t cq = xcb_query_pointer(conn, root);
	xcb_intern_atom_reply_t *as = xcb_intern_atom_reply(conn, cs, NULL);
	xcb_intern_atom_reply_t *ap = xcb_intern_atom_reply(conn, cp, NULL);
	xcb_query_pointer_reply_t *q = xcb_query_pointer_reply(conn, cq, NULL);
	xcb_atom_t wm_state = as != NULL ? as->atom : XCB_ATOM_NONE;
	xcb_atom_t net_pid = ap != NULL ? ap->atom : XCB_ATOM_NONE;
	xcb_window_t top, client;
	xcb_get_window_attributes_reply_t *wa;
	xcb_get_geometry_reply_t *g;
	xcb_translate_coordinates_reply_t *tr;
	int ret = 0;

	free(as);
	free(ap);
	memset(out, 0, sizeof *out);
	if (q == NULL)
		return -EIO;
	if (x != NULL)
		*x = q->root_x;
	if (y != NULL)
		*y = q->root_y;
	top = q->child;
	free(q);
	if (top_out != NULL)
		*top_out = top;
	if (top == XCB_WINDOW_NONE)
		return 0;

	wa = xcb_get_window_attributes_reply(conn, xcb_get_window_attributes(conn, top), NULL);
	if (wa == NULL)
		return -EIO;
	if (wa->override_redirect) {
		client = top;
		out->popup = 1;
	} else {
		client = find_client(conn, top, wm_state, 3);
		if (client == 0)
			client = top;
	}
	free(wa);
	out->window = client;

	if (net_pid != XCB_ATOM_NONE) {
		xcb_get_property_reply_t *p = xcb_get_property_reply(conn,
		        xcb_get_property(conn, 0, client, net_pid, XCB_ATOM_CARDINAL, 0, 1), NULL);
		if (p != NULL && p->format == 32 && xcb_get_property_value_length(p) >= 4)
			out->pid = (int32_t)*(uint32_t *)xcb_get_property_value(p);
		free(p);
	}
	g = xcb_get_geometry_reply(conn, xcb_get_geometry(conn, client), NULL);
	tr = xcb_translate_coordinates_reply(conn,
	        xcb_translate_coordinates(conn, client, root, 0, 0), NULL);
	if (g != NULL && tr != NULL) {
		out->x = tr->dst_x;
		out->y = tr->dst_y;
		out->w = g->width;
		out->h = g->height;
	} else {
		ret = -EIO;
	}
	free(g);
	free(tr);
	return ret;
}

/* --- the pointer thread: X hints for presses and hovers off the caller's thread ------- */

/* Posts r with hint (NULL: unknown) as the request it stands for. */
static void
post_with_hint(struct uia *u, const struct request *r, const struct uia_window_hint *hint)
{
	struct request q = *r;

	q.has_hint = hint != NULL;
	if (hint != NULL)
		q.hint = *hint;
	else
		memset(&q.hint, 0, sizeof q.hint);
	post(u, &q);
}

/*
 * The hint for a press at the point of the last hover: X's view now, unless a
 * popup appeared or vanished there in between. GTK maps a combo box's list or a
 * menu while it handles the press, and closes a menu when an item is clicked, both
 * within a millisecond or two, i.e. before this thread gets to ask X; the window
 * under the pointer *at* the press is then the one the hover saw. A new ordinary
 * window (a dialog that came up under the resting pointer) is believed.
 */
static const struct uia_window_hint *
press_hint(const struct uia_window_hint *now, const struct uia_window_hint *hover)
{
	if (hover != NULL && now->window != hover->window && (now->popup || hover->popup))
		return hover;
	return now;
}

/* 1 when the pointer is at (x, y) over the top-level window top (one round trip). */
static int
pointer_still(struct uia *u, int32_t x, int32_t y, xcb_window_t top)
{
	xcb_query_pointer_reply_t *q = xcb_query_pointer_reply(u->x_conn,
	        xcb_query_pointer(u->x_conn, u->x_root), NULL);
	int still = q != NULL && q->root_x == x && q->root_y == y && q->child == top && top != 0;

	free(q);
	return still;
}

/* Pointer thread: forgets w as a mapped popup; returns 1 when it was one. */
static int
or_forget(struct uia *u, xcb_window_t w)
{
	for (int i = 0; i < u->x_n_or; i++) {
		if (u->x_or[i].w == w) {
			u->x_or[i] = u->x_or[--u->x_n_or];
			return 1;
		}
	}
	return 0;
}

static void
or_add(struct uia *u, xcb_window_t w, const int32_t rect[4])
{
	int i;

	for (i = 0; i < u->x_n_or && u->x_or[i].w != w; i++)
		;
	if (i == OR_MAX) {
		u->x_or_overflow = 1;
		return;
	}
	if (i == u->x_n_or)
		u->x_n_or++;
	u->x_or[i].w = w;
	u->x_or[i].x = rect[0];
	u->x_or[i].y = rect[1];
	u->x_or[i].w_ = rect[2];
	u->x_or[i].h = rect[3];
}

/* Pointer thread: 1 when a mapped popup window covers (x, y), or when that is unknown. */
static int
or_covers(struct uia *u, int32_t x, int32_t y)
{
	if (u->x_or_overflow)
		return 1;
	for (int i = 0; i < u->x_n_or; i++)
		if (x >= u->x_or[i].x && x < u->x_or[i].x + u->x_or[i].w_ &&
		    y >= u->x_or[i].y && y < u->x_or[i].y + u->x_or[i].h)
			return 1;
	return 0;
}

/*
 * Pointer thread: 1 when an override-redirect window can show something: an
 * input-only window (GTK keeps one mapped off screen per application) or one
 * entirely off screen cannot.
 */
static int
or_visible(struct uia *u, xcb_window_t w, int32_t rect[4])
{
	xcb_get_window_attributes_cookie_t ca = xcb_get_window_attributes(u->x_conn, w);
	xcb_get_geometry_cookie_t cg = xcb_get_geometry(u->x_conn, w);
	xcb_get_window_attributes_reply_t *wa = xcb_get_window_attributes_reply(u->x_conn, ca, NULL);
	xcb_get_geometry_reply_t *g = xcb_get_geometry_reply(u->x_conn, cg, NULL);
	int visible = 1;

	/* Unknown (the window is gone already): anywhere. */
	rect[0] = rect[1] = INT16_MIN;
	rect[2] = rect[3] = 2 * (INT16_MAX + 1);
	if (wa != NULL && wa->_class == XCB_WINDOW_CLASS_INPUT_ONLY)
		visible = 0;
	if (g != NULL) {
		rect[0] = g->x;
		rect[1] = g->y;
		rect[2] = (int32_t)g->width + 2 * (int32_t)g->border_width;
		rect[3] = (int32_t)g->height + 2 * (int32_t)g->border_width;
		if (rect[0] + rect[2] <= 0 || rect[1] + rect[3] <= 0)
			visible = 0;
	}
	free(wa);
	free(g);
	return visible;
}

/*
 * Pointer thread: takes the events X has sent (SubstructureNotify on the root
 * window) and follows the override-redirect windows (menus, combo box lists,
 * tooltips) being mapped and unmapped. Called right after a request's round trips,
 * it has then seen every map and unmap X made before answering them.
 */
static void
x_drain(struct uia *u)
{
	xcb_generic_event_t *ev;

	while ((ev = xcb_poll_for_event(u->x_conn)) != NULL) {
		switch (ev->response_type & 0x7f) {
		case XCB_MAP_NOTIFY: {
			xcb_map_notify_event_t *m = (xcb_map_notify_event_t *)ev;
			int32_t rect[4];

			if (m->override_redirect && or_visible(u, m->window, rect)) {
				or_add(u, m->window, rect);
				u->x_popup_gen++;
			}
			break;
		}
		case XCB_CONFIGURE_NOTIFY: {
			/* A popup that moves or changes size (a tooltip following the pointer). */
			xcb_configure_notify_event_t *c = (xcb_configure_notify_event_t *)ev;
			int32_t rect[4] = { c->x, c->y, (int32_t)c->width + 2 * c->border_width,
			                    (int32_t)c->height + 2 * c->border_width };

			/* Restacking alone (same rectangle) changes nothing under the pointer
			 * that X would not report as the window there. */
			for (int i = 0; i < u->x_n_or; i++) {
				if (u->x_or[i].w == c->window &&
				    (u->x_or[i].x != rect[0] || u->x_or[i].y != rect[1] ||
				     u->x_or[i].w_ != rect[2] || u->x_or[i].h != rect[3])) {
					or_add(u, c->window, rect);
					u->x_popup_gen++;
				}
			}
			break;
		}
		case XCB_UNMAP_NOTIFY:
			if (or_forget(u, ((xcb_unmap_notify_event_t *)ev)->window))
				u->x_popup_gen++;
			break;
		case XCB_DESTROY_NOTIFY:
			if (or_forget(u, ((xcb_destroy_notify_event_t *)ev)->window))
				u->x_popup_gen++;
			break;
		default:
			break;
		}
		free(ev);
	}
}

/*
 * Pointer thread: stamps r with what it knows of popups, after x_drain: how many
 * came, went or moved so far, and whether none covers r's point.
 */
static void
x_stamp_popups(struct uia *u, struct request *r)
{
	x_drain(u);
	r->popup_gen = u->x_popup_gen;
	r->popup_known = !or_covers(u, r->x, r->y);
}

/* Pointer thread, at attach: the override-redirect windows mapped now. */
static void
x_scan_popups(struct uia *u)
{
	uint32_t mask = XCB_EVENT_MASK_SUBSTRUCTURE_NOTIFY;
	xcb_query_tree_reply_t *t;

	xcb_change_window_attributes(u->x_conn, u->x_root, XCB_CW_EVENT_MASK, &mask);
	t = xcb_query_tree_reply(u->x_conn, xcb_query_tree(u->x_conn, u->x_root), NULL);
	if (t == NULL) {
		u->x_or_overflow = 1; /* unknown: never taken as "no popup" */
		return;
	}
	{
		xcb_window_t *kids = xcb_query_tree_children(t);
		int n = xcb_query_tree_children_length(t);

		for (int i = 0; i < n; i++) {
			xcb_get_window_attributes_reply_t *wa = xcb_get_window_attributes_reply(
			        u->x_conn, xcb_get_window_attributes(u->x_conn, kids[i]), NULL);
			int32_t rect[4];

			if (wa != NULL && wa->override_redirect &&
			    wa->map_state == XCB_MAP_STATE_VIEWABLE && or_visible(u, kids[i], rect))
				or_add(u, kids[i], rect);
			free(wa);
		}
	}
	free(t);
	x_drain(u);
}

static void *
x_main(void *arg)
{
	struct uia *u = arg;
	struct uia_window_hint hover_hint;
	int32_t hover_x = 0, hover_y = 0;
	xcb_window_t hover_top = 0;
	int have_hover = 0;

	x_scan_popups(u);
	pthread_mutex_lock(&u->x_mu);
	for (;;) {
		struct request r;
		struct uia_window_hint hint;
		int32_t px, py;
		int rc, degraded;

		while (!u->x_stopping && u->x_len == 0) {
			struct timespec ts;

			/* Wake now and then to take X's events, so that they never pile up. */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 500 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (pthread_cond_timedwait(&u->x_cond, &u->x_mu, &ts) == ETIMEDOUT &&
			    u->x_len == 0 && !u->x_stopping) {
				pthread_mutex_unlock(&u->x_mu);
				x_drain(u);
				pthread_mutex_lock(&u->x_mu);
			}
		}
		if (u->x_len == 0)
			break; /* stopping, and nothing left: every press has been posted */
		r = u->x_q[0];
		memmove(&u->x_q[0], &u->x_q[1], (u->x_len - 1) * sizeof u->x_q[0]);
		u->x_len--;
		if (u->x_stopping) {
			/* Answer the presses still waiting without asking X. */
			if (r.kind == REQ_PRESS)
				post_with_hint(u, &r, NULL);
			continue;
		}
		pthread_mutex_unlock(&u->x_mu);
		pthread_mutex_lock(&u->mu);
		degraded = u->state == ST_DEGRADED;
		pthread_mutex_unlock(&u->mu);
		if (degraded) {
			if (r.kind == REQ_PRESS)
				post_with_hint(u, &r, NULL);
		} else {
			xcb_window_t top = 0;

			if (xcb_connection_has_error(u->x_conn)) {
				rc = -EIO;
			} else if (r.kind == REQ_PRESS && have_hover && r.x == hover_x &&
			           r.y == hover_y && pointer_still(u, hover_x, hover_y, hover_top)) {
				/* One round trip: still there, over the same top-level window. The
				 * hint is the hover's, not asked again: no remembered element. */
				x_stamp_popups(u, &r);
				r.popup_known = 0;
				post_with_hint(u, &r, &hover_hint);
				pthread_mutex_lock(&u->x_mu);
				continue;
			} else {
				rc = hint_query(u->x_conn, u->x_root, &hint, &px, &py, &top);
				x_stamp_popups(u, &r);
			}
			if (r.kind == REQ_HOVER) {
				/* The pointer moved on since it rested: that hover is stale. */
				if (rc == 0 && px == r.x && py == r.y) {
					post_with_hint(u, &r, &hint);
					hover_hint = hint;
					hover_x = r.x;
					hover_y = r.y;
					hover_top = top;
					have_hover = 1;
				}
			} else if (rc == 0) {
				int at_hover = have_hover && r.x == hover_x && r.y == hover_y;

				post_with_hint(u, &r, press_hint(&hint, at_hover ? &hover_hint : NULL));
			} else {
				post_with_hint(u, &r, NULL);
			}
		}
		pthread_mutex_lock(&u->x_mu);
	}
	pthread_mutex_unlock(&u->x_mu);
	return NULL;
}

int
uia_attach_x(struct uia *u, const char *display, char **cause)
{
	xcb_screen_iterator_t it;
	int screen = 0, err;
	sigset_t all, old;

	if (u->x_started)
		return util_fail(cause, -EBUSY, "uia already has an X connection");
	u->x_conn = xcb_connect(display, &screen);
	if (xcb_connection_has_error(u->x_conn)) {
		xcb_disconnect(u->x_conn);
		u->x_conn = NULL;
		return util_fail(cause, -ENXIO, "cannot connect to the X display %s",
		                 display != NULL ? display : "$DISPLAY");
	}
	it = xcb_setup_roots_iterator(xcb_get_setup(u->x_conn));
	for (int i = 0; i < screen && it.rem > 0; i++)
		xcb_screen_next(&it);
	u->x_root = it.data->root;
	pthread_mutex_init(&u->x_mu, NULL);
	pthread_cond_init(&u->x_cond, NULL);
	/* Signals belong to the caller's main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&u->x_thread, NULL, x_main, u);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		pthread_mutex_destroy(&u->x_mu);
		pthread_cond_destroy(&u->x_cond);
		xcb_disconnect(u->x_conn);
		u->x_conn = NULL;
		return util_fail(cause, -err, "cannot start the pointer thread: %s", strerror(err));
	}
	u->x_started = 1;
	return 0;
}

static void
x_detach(struct uia *u)
{
	if (!u->x_started)
		return;
	pthread_mutex_lock(&u->x_mu);
	u->x_stopping = 1;
	pthread_cond_signal(&u->x_cond);
	pthread_mutex_unlock(&u->x_mu);
	pthread_join(u->x_thread, NULL);
	pthread_mutex_destroy(&u->x_mu);
	pthread_cond_destroy(&u->x_cond);
	xcb_disconnect(u->x_conn);
	u->x_conn = NULL;
	u->x_started = 0;
}

/* Queues r for the pointer thread; without one (or when it is full) posts it unhinted. */
static void
x_post(struct uia *u, const struct request *r)
{
	if (!u->x_started) {
		post_with_hint(u, r, NULL);
		return;
	}
	pthread_mutex_lock(&u->x_mu);
	if (r->kind == REQ_HOVER) {
		/* Only the newest hover matters: replace a waiting one. */
		for (size_t i = 0; i < u->x_len; i++) {
			if (u->x_q[i].kind == REQ_HOVER) {
				memmove(&u->x_q[i], &u->x_q[i + 1], (u->x_len - i - 1) * sizeof u->x_q[0]);
				u->x_len--;
				break;
			}
		}
	}
	if (u->x_len == QUEUE_MAX) {
		pthread_mutex_unlock(&u->x_mu);
		if (r->kind == REQ_PRESS)
			post_with_hint(u, r, NULL);
		return;
	}
	u->x_q[u->x_len++] = *r;
	pthread_cond_signal(&u->x_cond);
	pthread_mutex_unlock(&u->x_mu);
}

void
uia_hover_at(struct uia *u, int32_t x, int32_t y, int64_t t_ns)
{
	struct request r;

	fill_request(u, &r, REQ_HOVER, 0, x, y, t_ns, NULL);
	x_post(u, &r);
}

void
uia_press_at(struct uia *u, int64_t event_id, int32_t x, int32_t y, int64_t t_ns)
{
	struct request r;

	fill_request(u, &r, REQ_PRESS, event_id, x, y, t_ns, NULL);
	x_post(u, &r);
}
