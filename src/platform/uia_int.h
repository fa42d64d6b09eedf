/*
 * uia_int.h: what the files of the uia module share, and nothing outside them
 * sees (uia.h is the interface). The module is split by concern:
 *
 *  - uia.c         the requests and results shared with the caller's threads
 *                  (one mutex, never held across an AT-SPI call), and the focus
 *                  uia_focused reports;
 *  - uia_thread.c  the uia thread: libatspi start-up, GLib's main loop, taking
 *                  the requests that are due; uia_start and uia_stop;
 *  - uia_bus.c     finding the accessibility bus without autolaunching one;
 *  - uia_atspi.c   every AT-SPI call, through a struct lookup that enforces the
 *                  time limits and notices hung applications; the applications
 *                  on the desktop;
 *  - uia_read.c    reading an element: role, name, states (password fields),
 *                  label, shortcut, ancestors, menu path, URL, a link's target, a
 *                  select's chosen option;
 *  - uia_locate.c  finding the element under the pointer (windows, popups) and
 *                  the cross-check with what X shows;
 *  - uia_recent.c  the elements remembered by their point, for presses there;
 *  - uia_handle.c  hovers and presses;
 *  - uia_focus.c   focus events and typing runs;
 *  - uia_pointer.c the pointer thread: asking the display (pointer.h) for the
 *                  window under the pointer.
 *
 * libatspi is used only from the uia thread: it is one global, single-threaded
 * state. Its property cache stays off (it only caches while atspi_event_main runs,
 * which uia never calls), so every property is read fresh from the application.
 */
#ifndef MIMIC_UIA_INT_H
#define MIMIC_UIA_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* libatspi's headers declare "GType f ();": not prototypes to -Wstrict-prototypes. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <atspi/atspi.h>
#pragma GCC diagnostic pop
#include <dbus/dbus.h>

#include "uia.h"
#include "util.h"

struct pointer;

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
#define FOCUS_RETRY_MS 500     /* a focus event that could not be read is read again */
#define FOCUS_RETRIES 60       /* ... this many times (30 s), then left to the next event */
#define FLOG_MAX 4            /* focus changes kept per remembered element */

#define MAP_ELEMENTS_MAX 24    /* elements a window's map keeps (uia_map.c) ... */
#define MAP_CANDIDATES_MAX 128 /* ... the nearest to the pointer of at most this many */
#define MAP_REBUILD_NS (INT64_C(1000) * 1000000) /* a map is read again after this long */
#define MAP_USE_MAX_NS (INT64_C(30000) * 1000000) /* a press takes a map this recent */
#define POPUP_MAP_DELAY_MS 30  /* a popup shown is mapped this long after (the application
                                  shows it in AT-SPI after X) ... */
#define POPUP_MAP_RETRY_MS 60  /* ... and again this long after when not found yet ... */
#define POPUP_MAP_TRIES 5      /* ... at most this many times */
#define POPUP_WATCH_MS 400     /* after a press the pointer thread looks for popups ... */
#define POPUP_WATCH_STEP_MS 15 /* ... this often (else every 500 ms) */

#define PAGE_DUE_MAX 4         /* re-reads of a page waiting */
#define PAGE_WAIT_MAX 16       /* page reads asked for and not yet due */
#define PRIMED_MAX 16          /* browser windows remembered as switched on */

/* What a request asks for; how far the connection to AT-SPI got (struct uia's state). */
enum { REQ_HOVER = 1, REQ_PRESS = 2, REQ_TYPING = 3,
       REQ_POPUP = 4 /* a popup was shown: map its items (uia_map.c) */ };
enum { ST_STARTING = 0, ST_READY = 1, ST_DEGRADED = 2 };

/* A request from the caller's threads: a hover, a press or the start of a typing run. */
struct request {
	int kind;
	uint64_t gen;              /* u->input_gen when the caller posted it */
	uint64_t press_seq;        /* presses the caller posted before it */
	uint64_t popup_gen;        /* popups mapped, unmapped or moved before its hint was
	                              asked (pointer thread) ... */
	int popup_known;           /* ... known, with none covering its point then, and the
	                              hint asked of X for this request */
	uint32_t server_ms;        /* a press: the display server's time of it, 0 unknown */
	int at_press_known;        /* a press: popup_gen as it was at the press itself, in the
	                              display's order of events (pointer thread) ... */
	uint64_t at_press_gen;     /* ... which is this, and the newest popup shown then
	                              (window 0: none) */
	struct uia_window_hint at_press_top;
	int at_press_top_known;    /* at_press_top is known (kept when at_press_known is not) */
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

/* A window's map (uia_map.c): its actionable elements as read at built_ns. */
struct wmap {
	struct uia_element *el;    /* MAP_ELEMENTS_MAX */
	int n;
	int valid;
	struct uia_window_hint geom; /* X's view of the window then (window, pid, geometry) */
	int64_t built_ns;
	/* Not 0: the window or page went away at this time (a hover found the map out of
	 * date and it could not be read again), so the map names only a press made before. */
	int64_t until_ns;
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

/* The handle uia_start returns (opaque outside the module). */
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
	struct request popup_req;  /* the newest popup shown, to map (uia_map.c) ... */
	int popup_pending;
	int64_t popup_due;         /* ... from then (CLOCK_MONOTONIC ns) */
	int popup_tries;           /* ... asked for so far without finding it */
	struct uia_element *res;   /* ring of RESULTS_MAX */
	size_t res_head, res_len;
	struct uia_stats stats;
	uint64_t input_gen;        /* uia_note_input calls */
	uint64_t press_calls;      /* uia_press and uia_press_at calls */
	struct uia_focus focus;    /* the latest focused element, for uia_focused */
	struct uia_page page;      /* the newest page read (uia_web.c) */
	uint64_t page_req;         /* uia_page_check calls */
	struct {
		uint64_t seq;          /* a uia_page_check ... */
		int64_t due;           /* ... read no sooner than this (CLOCK_MONOTONIC ns) */
	} page_wait[PAGE_WAIT_MAX]; /* asked for and not read yet, oldest first */
	int n_page_wait;
	struct uia_window_hint page_hint; /* the browser window asked about last */

	/* The pointer thread (uia_attach_x): asks the display for the window under the
	 * pointer (pointer.h). */
	pthread_t x_thread;
	int x_started;
	struct pointer *ptr;
	pthread_mutex_t x_mu;
	pthread_cond_t x_cond;
	int x_stopping;
	struct request x_q[QUEUE_MAX];
	size_t x_len;

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
	int focus_retries;         /* reads of focus_pending that failed (focus_unread) */
	struct uia_element work;
	/* The map of the window worked in (uia_map.c). */
	AtspiMatchRule *map_rule;  /* showing actionable elements (Collection) */
	AtspiAccessible *map_root; /* a window to map after the current request (a reference) */
	struct uia_window_hint map_hint; /* ... X's view of it then */
	int32_t map_x, map_y;      /* ... and where the pointer was */
	struct wmap map;           /* the map ... */
	struct wmap prev;          /* ... and the one before it, for a press made before the
	                              map was read */
	struct uia_element *map_spare; /* MAP_ELEMENTS_MAX: where a new map is read */
	/* A hover disagreed with the map: read it again at once. Until then it still names
	 * what was there for a press made before the hover's lookup ended. */
	int map_dirty;
	/* The page (URL) a browser window showed when its map was last matched to the page
	 * read (uia_map_page), so that a page is mapped once however often it is read. */
	char map_page[UIA_URL_MAX];
	/* The map of the newest popup shown (uia_map.c): its items. */
	struct uia_element *pmap_el;   /* MAP_ELEMENTS_MAX: the map ... */
	struct uia_element *pmap_next; /* ... and the one being read */
	int pmap_n;
	int pmap_valid;
	struct uia_window_hint pmap_hint; /* the popup window, as X showed it */
	/* Pages of browser windows (uia_web.c). */
	uint64_t page_done;        /* page_req when the newest asked-for read began */
	int64_t page_due[PAGE_DUE_MAX]; /* re-reads due (CLOCK_MONOTONIC ns; 0: none) */
	GSource *page_timer;
	AtspiEventListener *web_listener;
	AtspiMatchRule *doc_rule;  /* showing web documents (Collection) */
	char page_bus[64];         /* the watched browser's D-Bus name ("" none) */
	uint32_t page_window;      /* the X window last read */
	int page_retries;          /* reads of it left to find a document after the first */
	uint32_t primed[PRIMED_MAX]; /* X windows whose page tree a hit test switched on */
	int n_primed;
};

/*
 * One lookup: every AT-SPI call goes through one, which enforces the time limits
 * and notices hung applications (uia_atspi.c).
 */
struct lookup {
	struct uia *u;
	int64_t deadline;          /* CLOCK_MONOTONIC ns */
	struct app *app;           /* the application asked, for hang marking; may be NULL */
	int stop;                  /* 0, or the uia_status the lookup ends with */
	int no_hang_mark;          /* a slow answer to this call is not a hang (Collection) */
};

/* What uia_locate found at a point. */
struct found {
	AtspiAccessible *root;     /* window or popup searched (a reference) */
	AtspiAccessible *obj;      /* the element (a reference) */
	struct app *app;
	int popup;
};

/* An application's showing top-level windows, with their extents and states. */
struct window_list {
	AtspiAccessible *w[CHILDREN_MAX];
	AtspiRect r[CHILDREN_MAX];
	uint64_t states[CHILDREN_MAX];
	int n;
};

/* What a check of a remembered element is made against: the counters as it begins. */
struct check_gens {
	uint64_t gen, press_seq;
};

/* Copies src (NULL: "") into dst of size n, cut at a UTF-8 character boundary. */
static inline void
set_str(char *dst, const char *src, size_t n)
{
	util_strlcpy_utf8(dst, src != NULL ? src : "", n);
}

/* Drops the reference *a holds, if any, and clears it. */
static inline void
unref(AtspiAccessible **a)
{
	if (*a != NULL) {
		g_object_unref(*a);
		*a = NULL;
	}
}

/* --- uia.c: requests and results (any thread) ------------------------------------ */

/* Makes the eventfd fd readable. */
void uia_wake(int fd);
/* Queues a result without an element (degraded, dropped, timeout...); under u->mu. */
void uia_push_empty_locked(struct uia *u, const struct request *r, int status);
/* Queues a request for the uia thread (a hover replaces the pending one). */
void uia_post(struct uia *u, const struct request *in);
/* Fills *r for the caller's thread, stamped with the input and press counters. */
void uia_fill_request(struct uia *u, struct request *r, int kind, int64_t event_id,
                      int32_t x, int32_t y, int64_t t_ns, const struct uia_window_hint *hint);
/* Makes el (NULL: none) the focused element uia_focused reports (uia thread). */
void uia_publish_focus(struct uia *u, const struct uia_element *el, int64_t read_ns);
/* From now on every request is answered UIA_DEGRADED, for the reason why (uia thread). */
void uia_set_degraded(struct uia *u, const char *why);
/* Queues el as a result, with its latency (uia thread). */
void uia_push_result(struct uia *u, struct uia_element *el);
/* Clears el and fills in what the request r says about it. */
void uia_base_result(struct uia_element *el, const struct request *r);

/* --- uia_bus.c: the accessibility bus ---------------------------------------------- */

/* Finds the accessibility bus and checks that it answers; 0, or -1 with *why set. */
int uia_probe_bus(char *why, size_t n);

/* --- uia_atspi.c: AT-SPI calls and applications (uia thread) ---------------------- */

/* How much of r and the hint's rectangle overlap: intersection over union. */
double uia_iou(const AtspiRect *r, const struct uia_window_hint *h);
/* 1 when (x, y) lies in r, allowing `slack` pixels around it. */
int uia_rect_has(const AtspiRect *r, int32_t x, int32_t y, int slack);
/* 1 when a and b are the same accessible object (same application and path). */
int uia_same_obj(AtspiAccessible *a, AtspiAccessible *b);
/* The unique D-Bus name of a's application ("" when unknown). */
const char *uia_bus_of(AtspiAccessible *a);

void uia_lk_init(struct lookup *lk, struct uia *u, int64_t budget_ns);
/* After each call: notes hangs, errors and the budget; 1 when the lookup must stop. */
int uia_lk_after(struct lookup *lk, GError **err, int64_t t0, int hard);
/* The calls themselves: each does nothing once the lookup has stopped. */
AtspiRole uia_lk_role(struct lookup *lk, AtspiAccessible *a, int hard);
char *uia_lk_name(struct lookup *lk, AtspiAccessible *a);
char *uia_lk_description(struct lookup *lk, AtspiAccessible *a);
uint64_t uia_lk_states(struct lookup *lk, AtspiAccessible *a);
int uia_lk_extents(struct lookup *lk, AtspiAccessible *a, AtspiRect *r);
AtspiAccessible *uia_lk_parent(struct lookup *lk, AtspiAccessible *a);
int uia_lk_child_count(struct lookup *lk, AtspiAccessible *a);
AtspiAccessible *uia_lk_child(struct lookup *lk, AtspiAccessible *a, int i);
AtspiAccessible *uia_lk_at_point(struct lookup *lk, AtspiAccessible *a, int32_t x, int32_t y);
GArray *uia_lk_matches(struct lookup *lk, AtspiAccessible *a, AtspiMatchRule *rule, int count,
                       int *failed);
/* Frees what uia_lk_matches returned (NULL allowed). */
void uia_free_matches(GArray *m);

struct app *uia_app_by_bus(struct uia *u, const char *bus);
/* Forgets the application u->apps[i]. */
void uia_app_drop(struct uia *u, int i);
/* Lists the applications on the desktop and forgets those that are gone. */
void uia_scan_desktop(struct lookup *lk);
/* Up to max applications with pid into out[]; how many (rescanning when none is known). */
int uia_apps_by_pid(struct lookup *lk, int32_t pid, struct app **out, int max);
/* 1 while app is skipped for having let a call time out. */
int uia_app_hung(const struct app *app);
/* The application's accessible name into dst (read once, then remembered). */
void uia_app_name(struct lookup *lk, struct app *app, char *dst, size_t n);

/* --- uia_read.c: reading an element (uia thread) ------------------------------------- */

/* The set state bits as names, space separated. */
void uia_format_states(uint64_t states, char *dst, size_t n);
/* Unnamed layout containers (filler, panel, section...). */
int uia_role_is_noise(AtspiRole r);
int uia_role_is_menu_item(AtspiRole r);
/* Reads everything about a into el; 0, or the status when the essentials were not read. */
int uia_read_element(struct lookup *lk, AtspiAccessible *a, struct app *app,
                     struct uia_element *el);

/* --- uia_locate.c: the element under the pointer (uia thread) ----------------------- */

/* The deepest element at (x, y) below from (a new reference; from itself when none). */
AtspiAccessible *uia_descend(struct lookup *lk, AtspiAccessible *from, int32_t x, int32_t y);
void uia_found_clear(struct found *f);
void uia_windows_free(struct window_list *wl);
/* The application's showing top-level windows. */
void uia_list_windows(struct lookup *lk, struct app *app, struct window_list *wl);
/* The element at (x, y) inside the window described by h (may be NULL): 0 or a status. */
int uia_locate(struct lookup *lk, int32_t x, int32_t y, const struct uia_window_hint *h,
               struct found *f);
/* The container (menu, list...) of app's popup shown at h's rectangle (a popup's
 * hint), a new reference, or NULL. */
AtspiAccessible *uia_popup_container(struct lookup *lk, struct app *app,
                                     const struct uia_window_hint *h);
/* The element that owns the popup obj is in (a new reference), or NULL. */
AtspiAccessible *uia_popup_owner(struct lookup *lk, AtspiAccessible *obj);
/* The X cross-check on a read element: 0, or UIA_MISMATCH. */
int uia_cross_check(const struct uia_element *el, int32_t x, int32_t y,
                    const struct uia_window_hint *h);

/* --- uia_recent.c: remembered elements (uia thread) --------------------------------- */

/* Drops the snapshot's references and marks it empty. */
void uia_snap_clear(struct snapshot *s);
/* The input and press counters now, under u->mu. */
void uia_gens_now(struct uia *u, struct check_gens *g);
/* Remembers the element found at a hover's point, checked from the counters g. */
void uia_recent_put(struct uia *u, const struct request *r, const struct check_gens *g,
                    AtspiAccessible *obj, AtspiAccessible *root, int popup,
                    const struct uia_element *el);
/* A remembered element's states as of t_ns. */
uint64_t uia_recent_states_at(const struct snapshot *e, int64_t t_ns);
/* A focus event: the remembered elements' "focused" state follows it. */
void uia_recent_focus(struct uia *u, AtspiAccessible *src, int gained);
int uia_recent_count(struct uia *u);
/* A remembered element a press may take as it is, or NULL. */
struct snapshot *uia_recent_for_press(struct uia *u, const struct request *r);
/* Checks again the remembered elements of the hover's window; how many. */
int uia_recheck_window(struct uia *u, const struct request *r);

/* --- uia_handle.c and uia_focus.c: handling requests (uia thread) -------------------- */

void uia_do_hover(struct uia *u, const struct request *r);
void uia_do_press(struct uia *u, const struct request *r);
void uia_do_typing(struct uia *u, const struct request *r);
/* libatspi's listener for object:state-changed:focused (data: the uia). */
void uia_on_focus(AtspiEvent *ev, void *data);

/* --- uia_map.c: the elements of the window worked in (uia thread) ------------------ */

/* The Collection rule the map reads with. */
AtspiMatchRule *uia_map_rule(void);
/* Asks for the window root (where r's element el was found) to be mapped after the
 * current request; a map that disagrees with el at r's point is read again. */
void uia_map_note(struct uia *u, const struct request *r, AtspiAccessible *root,
                  const struct uia_element *el);
/* Maps the window noted, unless its map is recent. */
void uia_map_refresh(struct uia *u);
/* A browser window now shows the page url (document doc, read by uia_web.c): when the
 * window's map is of another page, the new page is mapped at once, and the old map
 * kept as the map before, for a press made before the page changed. */
void uia_map_page(struct uia *u, uint32_t window, const char *url, AtspiAccessible *doc);
/* The map's element at a press's point when the press's own lookup (live) found none,
 * or only a container or the window, X showed the mapped window, and the map is
 * recent; else NULL. */
const struct uia_element *uia_map_for_press(struct uia *u, const struct request *r,
                                            const struct uia_element *live);
/* 1 for role names that say a lookup did not reach an element: layout containers,
 * the window itself. */
int uia_role_name_is_weak(const char *role);
/* Maps the items of the popup r announces (REQ_POPUP); asks again a little later
 * while the application does not show it yet. */
void uia_map_popup(struct uia *u, const struct request *r);
/* Drops the map and its rule. */
void uia_map_free(struct uia *u);

/* --- uia_web.c: pages of browser windows (uia thread) ------------------------------ */

/* Follows the browsers' document events; makes the Collection rule. */
void uia_web_start(struct uia *u);
/* Undoes uia_web_start and drops the timer. */
void uia_web_stop(struct uia *u);
/* Reads the page asked for or due, if any (first thing at every drain). */
void uia_web_drain(struct uia *u);

/* --- uia_pointer.c: the pointer thread ------------------------------------------------ */

/* Stops the pointer thread and closes its connection, if uia_attach_x started one. */
void uia_x_detach(struct uia *u);

#endif
