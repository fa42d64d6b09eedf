/*
 * event: the raw events mimic records, and the window context they refer to.
 *
 * The capture thread fills these fixed-size structs (no allocation on the input
 * path); the writer thread stores them; `mimic events` and the reducer read them
 * back. Field names here match the JSON field names documented in docs/EVENTS.md.
 */
#ifndef MIMIC_EVENT_H
#define MIMIC_EVENT_H

#include <stdint.h>

/* Values are stored in the database: never renumber, only append. */
enum event_kind {
	EVENT_KEY_PRESS = 1,
	EVENT_KEY_RELEASE = 2,
	EVENT_BUTTON_PRESS = 3,
	EVENT_BUTTON_RELEASE = 4,
	EVENT_MOTION = 5,       /* a thinned pointer path sample */
	EVENT_SCROLL = 6,       /* wheel buttons 4-7 or smooth-scroll valuators */
	EVENT_FOCUS = 7,        /* the focused top-level window changed */
	EVENT_TITLE = 8,        /* the focused window's title changed */
	EVENT_PAUSE = 9,        /* recording paused (by the person) */
	EVENT_RESUME = 10,      /* recording resumed */
	EVENT_LAYOUT = 11,      /* the keyboard layout changed */
	EVENT_DEVICES = 12,     /* input devices were added or removed */
	EVENT_SCOPE_OUT = 13,   /* recording suspended: the focused window is out of scope */
	EVENT_SCOPE_IN = 14,    /* recording resumed: the focused window is in scope again */
	EVENT_SECRET_INPUT = 15,/* keys typed into a password field, content not stored */
	EVENT_KIND_MAX_ = 16
};

enum event_source {
	EVENT_SOURCE_HUMAN = 0,     /* from a physical (non-XTEST) slave device */
	EVENT_SOURCE_SYNTHETIC = 1, /* from an XTEST slave device (xdotool, other programs) */
	/* 2 is left out: it means "mixed" for actions (reduce.h), which share these numbers. */
	EVENT_SOURCE_AGENT = 3,     /* from the input devices of `mimic agent serve` (docs/AGENTS.md) */
};

enum scroll_dir { SCROLL_UP = 1, SCROLL_DOWN = 2, SCROLL_LEFT = 3, SCROLL_RIGHT = 4 };

#define EVENT_KEYSYM_MAX 32
#define EVENT_TEXT_MAX 16

struct event {
	int64_t id;            /* the event's id in the store, assigned by the recorder in
	                          push order so that frames and elements can refer to it
	                          before it is stored; 0 lets the store assign one */
	int64_t t_ns;          /* CLOCK_MONOTONIC when it happened: input carries the display
	                          server's own time mapped onto it (clockmap.h), other
	                          events the time the recorder noticed them */
	int32_t kind;          /* enum event_kind */
	int32_t source;        /* enum event_source */
	int32_t device;        /* XInput source (slave) device id; 0 when none */
	int32_t context;       /* sequence number of the current context, 0 = none */
	int32_t x, y;          /* pointer position in root coordinates */
	int32_t detail;        /* keycode (keys), button (buttons), scroll_dir (scroll) */
	uint32_t mods;         /* xkb effective modifier mask at the time of a key/button */
	double amount;         /* scroll: clicks of the wheel (fractional for smooth) */
	char keysym[EVENT_KEYSYM_MAX]; /* keys: xkb keysym name, e.g. "a", "Return", "adiaeresis" */
	char text[EVENT_TEXT_MAX];     /* keys: UTF-8 the key produced ("" for none) */
	uint32_t server_ms;    /* input: the display server's own time of it (ms, wraps
	                          around), which other connections to the server see too;
	                          0 for other events. Not stored. */
};

#define CONTEXT_STR_MAX 512
/* Size of a context's URL, terminating NUL included (as UIA_URL_MAX). */
#define CONTEXT_URL_MAX 1024

/* A snapshot of the focused top-level window. */
struct context {
	int32_t seq;           /* 1, 2, ... within a session; events refer to it */
	int64_t t_ns;          /* CLOCK_MONOTONIC when it was observed */
	uint32_t window;       /* X window id of the top-level window; 0 = none */
	int32_t pid;           /* _NET_WM_PID, 0 when unknown */
	int32_t x, y, w, h;    /* geometry in root coordinates */
	char wm_instance[128]; /* WM_CLASS instance part, e.g. "xterm" */
	char wm_class[128];    /* WM_CLASS class part, e.g. "XTerm" */
	char title[CONTEXT_STR_MAX]; /* _NET_WM_NAME, else WM_NAME; cut at a UTF-8 boundary */
	char exe[CONTEXT_STR_MAX];   /* /proc/PID/exe target, "" when unknown */
	char url[CONTEXT_URL_MAX];   /* a browser window: the URL of its active page, read from
	                                the browser over AT-SPI; "" otherwise or when unknown */
};

/* Stable lower-case names: "key_press", "button_release", "scroll", ... NULL if unknown. */
const char *event_kind_name(int kind);

/* The inverse of event_kind_name; returns 0 when the name is unknown. */
int event_kind_from_name(const char *name);

/* "human", "synthetic" or "agent"; NULL if unknown. */
const char *event_source_name(int source);

/* "up", "down", "left", "right"; NULL if unknown. */
const char *event_scroll_dir_name(int dir);

#endif
