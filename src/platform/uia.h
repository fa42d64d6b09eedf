/*
 * uia: UI element context ("UI accessibility") from AT-SPI: which element a
 * press landed on and which element a typing run went into.
 *
 * A thread of its own runs libatspi (and GLib's main loop); the input thread only
 * posts small fixed-size requests (uia_hover, uia_press, uia_typing_start), which
 * never block and never allocate, and the recorder collects plain-data results
 * with uia_take_results (uia_fd becomes readable when some are waiting).
 *
 *  - Hover: when the pointer comes to rest, the element under it is resolved
 *    ahead of time, so that a press on it is known as it was before the press,
 *    even when the click makes it vanish (a menu item closes its menu).
 *  - Press: if the pointer is where it rested (same place, same window), the
 *    hovered element is reported with the properties read when the pointer came
 *    to rest. The first press after a hover, within HOVER_FRESH (3 s) and with no
 *    key, scroll, release (uia_note_input) or other press in between, takes it as
 *    X confirms it (same point, same window); any other press there confirms it
 *    with the application (is it still the element at that point?).
 *  - Press at once after moving: the last few elements found at a point of an
 *    ordinary window are remembered, checked again with the application when the
 *    pointer rests in that window after something happened, and taken by a press
 *    at such a point when nothing (press, key, scroll, release, focus event,
 *    popup mapped, unmapped or moved) came between the check and the press, and X
 *    shows the same window there, unmoved, with no popup over the point (needs
 *    uia_attach_x; source UIA_SOURCE_RECENT). Otherwise the element is resolved
 *    now.
 *  - Typing: the focused element, from AT-SPI focus events (object:state-changed:
 *    focused), snapshotted when the focus moved; without one, the focused window's
 *    application is searched for a FOCUSED element.
 *
 * AT-SPI has no z-order, so the caller passes what X knows about the window under
 * the pointer (struct uia_window_hint, see pointer_hint in pointer.h): the element must
 * come from the application with that pid and from its window whose bounds match
 * the X window's (or, for a popup such as a menu or a combo box list, from a
 * showing popup that matches the popup's bounds); otherwise the result says "no
 * element" or "mismatch" rather than naming a wrong one.
 *
 * A hung application never stalls anything: every AT-SPI call times out after
 * UIA_CALL_TIMEOUT_MS (libatspi may take up to twice that to give up), an
 * application that let one time out is not asked again for
 * UIA_HUNG_COOLDOWN_MS, each lookup has a budget (UIA_LOOKUP_BUDGET_MS,
 * UIA_POPUP_BUDGET_MS) and a request older than UIA_MAX_AGE_MS when its turn comes
 * is abandoned (status UIA_TIMEOUT). The request queue is bounded: a pending hover
 * is replaced by the next one, and when the queue is full the oldest request is
 * answered with UIA_DROPPED.
 *
 * Degraded mode: without a session bus (DBUS_SESSION_BUS_ADDRESS unset and no
 * $XDG_RUNTIME_DIR/bus), an accessibility bus that cannot be reached, or no
 * AT-SPI at all, uia_start still succeeds and returns a degraded handle: every
 * press and typing run is answered at once with UIA_DEGRADED, and
 * uia_is_degraded gives the reason for `mimic status`. libdbus would autolaunch a
 * session bus (dbus-launch, left running afterwards) when asked for one that is
 * not configured; uia never lets it get that far: it finds the bus address
 * itself first (AT_SPI_BUS_ADDRESS, the AT_SPI_BUS property of the X root window,
 * DBUS_SESSION_BUS_ADDRESS, $XDG_RUNTIME_DIR/bus, in libatspi's own order),
 * refuses "autolaunch:" addresses, and starts libatspi only when one was found and
 * answered. The environment is never modified (setenv is not thread-safe).
 *
 * libatspi attaches its D-Bus connections to GLib's global default main context
 * (atspi_init and every application's peer-to-peer connection hard-code
 * g_main_context_default()), so the uia thread acquires and runs that context:
 * nothing else in the process may iterate it, and only one uia may run at a time
 * (libatspi is one global, single-threaded state). libatspi's own property cache
 * is left off (uia never runs atspi_event_main), so names and states are read
 * fresh, never from a stale cache.
 *
 * uia_attach_x adds a pointer thread with an X connection of its own, so that the
 * recorder's input thread never makes the X round trips a hint needs
 * (uia_hover_at, uia_press_at); it also follows override-redirect windows (popups)
 * being mapped, unmapped and moved (SubstructureNotify on the root window).
 * uia_focused tells any thread, cheaply, whether the focused element is a password
 * field and where it is (for the safeguards).
 *
 * Never logs element names, values, URLs or window titles.
 */
#ifndef MIMIC_UIA_H
#define MIMIC_UIA_H

#include <stddef.h>
#include <stdint.h>

/* Sizes of the strings in struct uia_element, terminating NUL included. Longer
 * values are cut at a UTF-8 character boundary. */
#define UIA_ROLE_MAX 32
#define UIA_NAME_MAX 256
#define UIA_LABEL_MAX 256
#define UIA_DESC_MAX 256
#define UIA_APP_MAX 128
#define UIA_STATES_MAX 384
#define UIA_MENU_PATH_MAX 512
#define UIA_SHORTCUT_MAX 64
#define UIA_URL_MAX 1024
#define UIA_ANCESTORS_MAX 4
#define UIA_ANCESTOR_NAME_MAX 128

/* Time limits (milliseconds). */
#define UIA_CALL_TIMEOUT_MS 100     /* one AT-SPI call (libatspi's method call timeout;
                                       its wait loop may take up to twice this) */
#define UIA_HUNG_COOLDOWN_MS 5000   /* an app that let a call time out is skipped this long */
#define UIA_LOOKUP_BUDGET_MS 250    /* one lookup of a normal widget, all calls together */
#define UIA_POPUP_BUDGET_MS 150     /* the search for a menu or popup list under the pointer */
#define UIA_MAX_AGE_MS 1000         /* a request still waiting after this is abandoned */
#define UIA_TYPING_GRACE_MS 40      /* focus events trail the input that caused them */
#define UIA_START_WAIT_MS 3000      /* uia_start waits this long for the bus to answer */

/* What a result answers. Values are stored: never renumber, only append. */
enum uia_kind {
	UIA_KIND_PRESS = 1,         /* a button press (uia_press) */
	UIA_KIND_TYPING = 2,        /* the start of a typing run (uia_typing_start) */
};

/* How a lookup ended. Values are stored: never renumber, only append. */
enum uia_status {
	UIA_OK = 0,                 /* the element was found; every field is filled */
	UIA_NO_ELEMENT = 1,         /* nothing accessible there: the window's application
	                               does not speak AT-SPI, no element at the point, or
	                               no focused element known */
	UIA_MISMATCH = 2,           /* an element was found but failed the cross-check with
	                               X (other pid, or outside the window); not reported */
	UIA_TIMEOUT = 3,            /* the application did not answer in time (or is known
	                               to hang), the budget ran out, or the request was
	                               older than UIA_MAX_AGE_MS when its turn came */
	UIA_DEGRADED = 4,           /* no accessibility bus: see uia_is_degraded */
	UIA_DROPPED = 5,            /* the request queue was full; the request was skipped */
};

/* Where the element's properties come from. Values are stored: only append. */
enum uia_source {
	UIA_SOURCE_NONE = 0,        /* no element */
	UIA_SOURCE_HOVER = 1,       /* read when the pointer came to rest (or at an earlier press
	                               at the same spot); confirmed at the press */
	UIA_SOURCE_HOVER_GONE = 2,  /* read when the pointer came to rest; could not be confirmed
	                               at the press: gone (the click made it vanish, e.g. a
	                               menu item closing its menu) or not answering */
	UIA_SOURCE_PRESS = 3,       /* read right after the press */
	UIA_SOURCE_FOCUS_EVENT = 4, /* read when AT-SPI reported the focus moving to it */
	UIA_SOURCE_FOCUS_SEARCH = 5,/* found by searching the focused window for a FOCUSED element */
	UIA_SOURCE_RECENT = 6,      /* read earlier at the same point (a hover or press there) and
	                               checked again with the application after the last press,
	                               key, scroll and focus change; X confirms the same window,
	                               unmoved, with no popup mapped or unmapped since */
	UIA_SOURCE_MAP = 7,         /* read when the window's elements were last mapped (at a
	                               hover or press in it, at most 30 s before): the press's
	                               own lookup found none, or only a container or the
	                               window, as the press closed the window */
};

/*
 * Element states: bit n is AT-SPI state n (AtspiStateType, part of the AT-SPI
 * D-Bus protocol and stable), e.g. UIA_STATE_FOCUSED = 1 << 12. Bits 56-63 are
 * mimic's own derived states.
 */
#define UIA_STATE_BIT(n) ((uint64_t)1 << (n))
#define UIA_STATE_ACTIVE UIA_STATE_BIT(1)
#define UIA_STATE_CHECKED UIA_STATE_BIT(4)
#define UIA_STATE_EDITABLE UIA_STATE_BIT(7)
#define UIA_STATE_ENABLED UIA_STATE_BIT(8)
#define UIA_STATE_EXPANDED UIA_STATE_BIT(10)
#define UIA_STATE_FOCUSABLE UIA_STATE_BIT(11)
#define UIA_STATE_FOCUSED UIA_STATE_BIT(12)
#define UIA_STATE_PRESSED UIA_STATE_BIT(20)
#define UIA_STATE_SELECTED UIA_STATE_BIT(23)
#define UIA_STATE_SENSITIVE UIA_STATE_BIT(24)
#define UIA_STATE_SHOWING UIA_STATE_BIT(25)
#define UIA_STATE_VISIBLE UIA_STATE_BIT(30)
#define UIA_STATE_READ_ONLY UIA_STATE_BIT(43)
/* Derived: the element hides what is typed into it (role "password text"). */
#define UIA_STATE_PASSWORD UIA_STATE_BIT(56)

/* One ancestor of an element: its role and name. */
struct uia_ancestor {
	char role[UIA_ROLE_MAX];
	char name[UIA_ANCESTOR_NAME_MAX];
};

/*
 * One result: the element a press or typing run acted on (plain data, ~3.5 KB).
 * Strings are NUL-terminated UTF-8, "" when unknown; with a status other than
 * UIA_OK only event_id, t_ns, kind, status, lookup_us and window are meaningful.
 */
struct uia_element {
	int64_t event_id;          /* the event_id given to uia_press / uia_typing_start */
	int64_t t_ns;              /* that call's t_ns (CLOCK_MONOTONIC) */
	int64_t read_ns;           /* CLOCK_MONOTONIC when the properties were read (the
	                              hover, the press, or the focus event) */
	int32_t kind;              /* enum uia_kind */
	int32_t status;            /* enum uia_status */
	int32_t source;            /* enum uia_source */
	int32_t lookup_us;         /* from t_ns to the result being ready, microseconds */
	uint32_t window;           /* X window of the hint (0 when none was given) */
	int32_t pid;               /* the application's process id (AT-SPI's view) */
	int32_t popup;             /* 1 when found in a popup (menu, combo box list) */
	char app[UIA_APP_MAX];     /* the application's accessible name, e.g. "zenity" */
	char role[UIA_ROLE_MAX];   /* AT-SPI role name, e.g. "push button", "menu item",
	                              "combo box", "text", "password text" */
	char name[UIA_NAME_MAX];   /* accessible name: a button's label, a menu item's text,
	                              a combo box's current choice; often "" for entries */
	char label[UIA_LABEL_MAX]; /* for entries, combo boxes, spin buttons and sliders:
	                              the text labelling it (AT-SPI labelled-by relation,
	                              else the label beside or above it), e.g. "Region" */
	char description[UIA_DESC_MAX]; /* accessible description (often the tooltip) */
	uint64_t states;           /* UIA_STATE_* bits, see above */
	char state_names[UIA_STATES_MAX]; /* the set bits as names, space separated, e.g.
	                              "enabled focusable focused sensitive showing password" */
	int32_t x, y, w, h;        /* bounds in screen (root) coordinates; w = h = 0 unknown */
	int32_t n_ancestors;       /* entries used in ancestors[] */
	struct uia_ancestor ancestors[UIA_ANCESTORS_MAX]; /* nearest first; unnamed layout
	                              containers (filler, panel, section...) are skipped;
	                              ends at the top-level window */
	char menu_path[UIA_MENU_PATH_MAX]; /* for menu items: the enclosing menus (or the
	                              combo box, by its label) and the item, outermost first,
	                              joined by " > ", e.g. "File > Recent > notes.txt",
	                              "Region > Asia"; "" otherwise */
	char shortcut[UIA_SHORTCUT_MAX]; /* the accelerator a menu item advertises, as a
	                              chord, e.g. "ctrl+shift+t"; "" when none */
	char url[UIA_URL_MAX];     /* the URL of the web document containing the element,
	                              when the browser exposes it (DocURL / URI) */
	char target[UIA_URL_MAX];  /* a link's target URL (AT-SPI Hyperlink), "" otherwise */
};

/*
 * What X knows about the window under the pointer (or, for typing, the focused
 * window). Zero fields mean "unknown" and switch the matching check off.
 */
struct uia_window_hint {
	uint32_t window;           /* the client window (or the popup itself) */
	int32_t pid;               /* its _NET_WM_PID */
	int32_t x, y, w, h;        /* its geometry in root coordinates (w = 0: unknown) */
	int32_t popup;             /* 1 for an override-redirect window (menu, combo list) */
};

/* Counters, for `mimic status` and benchmarks. */
struct uia_stats {
	uint64_t presses, typings, hovers;  /* requests posted */
	uint64_t hovers_resolved;           /* hovers the uia thread looked up */
	uint64_t ok, no_element, mismatch, timeout, degraded, dropped; /* results by status */
	uint64_t results_lost;              /* results overwritten before uia_take_results */
	uint64_t maps, popup_maps;          /* maps read of windows and of popups (uia_map.c) */
	uint64_t hung_marks;                /* times an application was found not answering */
};

struct uia;

/*
 * Starts the uia thread and connects to the accessibility bus (waiting up to
 * UIA_START_WAIT_MS). On success *out is a handle, possibly degraded (see
 * uia_is_degraded); this includes every case where no accessibility bus can be
 * reached. Errors, with a one-line *cause: -EBUSY when another uia is running,
 * -EMFILE or another negative errno when the thread or its file descriptors
 * cannot be created. Only one uia may exist at a time, and libatspi connects only
 * once per process: a uia started after one that was connected and stopped is
 * degraded (libatspi cannot be restarted).
 */
int uia_start(struct uia **out /* OUT */, char **cause);

/*
 * Stops the thread (abandoning any lookup in progress within about
 * UIA_CALL_TIMEOUT_MS), disconnects from AT-SPI and frees u. Results not taken
 * are lost. NULL is allowed.
 */
void uia_stop(struct uia *u);

/*
 * Returns 1 when u works without AT-SPI (or has not connected yet), else 0. When
 * reason is not NULL it receives why, e.g. "no session bus: DBUS_SESSION_BUS_ADDRESS
 * is not set", cut to reason_size bytes ("" when not degraded). Thread-safe.
 */
int uia_is_degraded(struct uia *u, char *reason /* OUT */, size_t reason_size);

/*
 * The pointer came to rest at (x, y) (root coordinates) at t_ns over the window
 * described by hint (NULL: unknown): the element there is resolved ahead of time,
 * replacing any hover not yet looked at. Call it once the pointer has not moved
 * for a moment (the recorder waits 40 ms): a later press at exactly (x, y) over
 * the same window then only confirms it (~1 ms) and reports it as it was before
 * the press. Never blocks; gives no result by itself.
 */
void uia_hover(struct uia *u, int32_t x, int32_t y, int64_t t_ns,
               const struct uia_window_hint *hint);

/*
 * A button was pressed at (x, y) at t_ns over the window described by hint (NULL:
 * unknown). Exactly one result with this event_id and kind UIA_KIND_PRESS follows.
 * Never blocks.
 */
void uia_press(struct uia *u, int64_t event_id, int32_t x, int32_t y, int64_t t_ns,
               const struct uia_window_hint *hint);

/*
 * A typing run started at t_ns in the focused window described by hint (NULL:
 * unknown). Exactly one result with this event_id and kind UIA_KIND_TYPING follows,
 * naming the focused element (looked at UIA_TYPING_GRACE_MS after t_ns, because
 * focus events trail the click that moved the focus). Never blocks.
 */
void uia_typing_start(struct uia *u, int64_t event_id, int64_t t_ns,
                      const struct uia_window_hint *hint);

/*
 * Something other than pointer motion happened that may change what is under a
 * resting pointer (a key, a scroll, a button release): the next press there is
 * confirmed with the application rather than taken from the hover or from the
 * remembered elements. Never blocks (a short lock).
 */
void uia_note_input(struct uia *u);

/*
 * Moves up to max waiting results into out[], oldest first, and returns how many.
 * Thread-safe; does not block (other than on a short internal lock).
 */
size_t uia_take_results(struct uia *u, struct uia_element *out /* OUT */, size_t max);

/* A file descriptor that is readable while results are waiting (for poll). */
int uia_fd(struct uia *u);

/* Copies the counters. Thread-safe. */
void uia_get_stats(struct uia *u, struct uia_stats *out /* OUT */);

/* Stable names: "ok", "no-element", "mismatch", "timeout", "degraded", "dropped";
 * NULL if unknown. */
const char *uia_status_name(int status);

/* Stable names: "hover", "hover-gone", "press", "focus-event", "focus-search", "recent", "map";
 * "" for none. */
const char *uia_source_name(int source);

/*
 * Opens a connection of uia's own to display (NULL: $DISPLAY) and starts a small
 * "pointer thread" on it, for uia_hover_at and uia_press_at: the X round trips
 * that find the window under the pointer (pointer_hint, ~0.5-1 ms) then
 * never run on the caller's (input) thread. Call once, after uia_start; uia_stop
 * ends it. Errors: -ENXIO (with *cause) when the display cannot be reached, -EBUSY
 * when already attached; without it uia_hover_at / uia_press_at post unhinted.
 */
int uia_attach_x(struct uia *u, const char *display, char **cause);

/*
 * Like uia_hover and uia_press, with the hint asked of X on the pointer thread
 * (right after the call; a hover whose pointer has moved on by then is dropped).
 * Never block, never allocate; a press still gets exactly one result.
 */
void uia_hover_at(struct uia *u, int32_t x, int32_t y, int64_t t_ns);
/* server_ms: the display server's time of the press (struct event's server_ms; 0
 * when unknown), which places it among the popups the pointer thread sees. */
void uia_press_at(struct uia *u, int64_t event_id, int32_t x, int32_t y, int64_t t_ns,
                  uint32_t server_ms);

/*
 * The latest focused element, as AT-SPI reported it, for the safeguards (masking a
 * password field, pausing while a secret is typed).
 */
struct uia_focus {
	int known;                 /* 1 when an accessible element is known to hold the focus */
	int password;              /* 1 when it hides what is typed (role "password text"),
	                              and when the focus moved to an element that could not
	                              be read (a slow or hung application): it may be one */
	int32_t pid;               /* its application's pid: compare it with the focused X
	                              window's _NET_WM_PID before trusting it, since an
	                              application that does not speak AT-SPI (xterm) gives
	                              no focus event when it takes the focus */
	int32_t x, y, w, h;        /* its bounds in screen (root) coordinates; w = h = 0 unknown */
	int64_t read_ns;           /* CLOCK_MONOTONIC when the focus moved to it */
	char role[UIA_ROLE_MAX];   /* e.g. "password text", "text" */
};

/*
 * Copies the latest focused element into *out and returns 1 when it is a password
 * (secure) field, else 0. Thread-safe and cheap (a short lock, no AT-SPI call), so
 * any thread may call it at every key or frame. known is 0 when uia is degraded,
 * before the first focus event, and after the element reported losing the focus.
 * Focus events reach uia ~10-50 ms after the click or key that moved the focus, and
 * later while the uia thread is busy with a lookup (at most UIA_LOOKUP_BUDGET_MS):
 * a caller protecting secrets should treat the first keys after a focus change
 * with suspicion rather than rely on this alone.
 */
int uia_focused(struct uia *u, struct uia_focus *out /* OUT */);

/*
 * The page a browser window shows, read from the browser over AT-SPI (uia_web.c):
 * its top-level frame with the ACTIVE state (the one matching the hint when
 * several are), that frame's EMBEDS relation to its `document web` (else a
 * Collection match for a showing DOCUMENT_WEB below the frame, as Firefox's frame
 * loses EMBEDS after a back navigation), and the document's attribute `URI`
 * (Chromium) or `DocURL` (Firefox). Document handles go stale after a
 * navigation, so every read looks them up again (~1-3 ms in the browser).
 */
struct uia_page {
	uint64_t seq;              /* the newest uia_page_check this read began after (0: none) */
	uint64_t gen;              /* bumped at every read, asked for or not */
	int32_t pid;               /* the application read */
	uint32_t window;           /* the hint's X window */
	int32_t status;            /* UIA_OK: url read; UIA_NO_ELEMENT: the application exposes
	                              no frame or web document (accessibility off in it, or
	                              not a browser); UIA_TIMEOUT; UIA_DEGRADED */
	int32_t between_pages;     /* UIA_NO_ELEMENT with the browser's frame found but no
	                              document in it, or one without a URL: a page being
	                              replaced by the next one (or a page tree not switched
	                              on yet); uia reads again */
	int32_t private_window;    /* the frame's accessible name marks a private window
	                              ("Incognito", "Private Browsing") */
	int32_t x, y, w, h;        /* the document's bounds in root coordinates; w = 0 unknown */
	int64_t read_ns;           /* CLOCK_MONOTONIC when the read ended */
	char url[UIA_URL_MAX];     /* "" unless status is UIA_OK */
};

/*
 * Asks for the page of the browser window described by hint (its pid and
 * geometry; copied) to be read UIA_PAGE_SETTLE_MS from now (the browser handles
 * the key or press that prompted the call in the meantime; a read made at once
 * would see the page as it was before a key that moves the URL), ahead of
 * pending presses and hovers, and again about 150 ms and 600 ms later (a press
 * or Return may change the URL with the History API, which sends no document
 * event). Until another window is asked about, uia also reads it again on the
 * browser's document load events, frame name changes and children-changed
 * events. The first time a window is asked about, a throw-away hit test on its
 * frame switches the browser's page tree on (Chromium; Firefox's first hit test
 * in a new process returns the frame), retried when no document is found.
 * Returns the request's sequence number: the answer to it is a struct uia_page
 * whose seq is at least this. result fd (uia_fd) becomes readable at every read.
 * Never blocks. Degraded: answered at once with UIA_DEGRADED.
 */
uint64_t uia_page_check(struct uia *u, const struct uia_window_hint *hint);
#define UIA_PAGE_SETTLE_MS 150

/* Copies the newest page read into *out and returns its gen (0: none yet). Thread-safe. */
uint64_t uia_page_get(struct uia *u, struct uia_page *out /* OUT */);

/*
 * Asks the accessibility bus to switch accessibility on for the session
 * (org.a11y.Status IsEnabled = true on the session bus): Firefox registers at once,
 * Chromium only when started afterwards. Returns 0, or -1 with *why set (no session
 * bus, no org.a11y.Bus). Any thread; opens and closes a connection of its own.
 */
int uia_enable_accessibility(char *why /* OUT */, size_t n);

#endif
