/*
 * store: the SQLite database of one data directory (sessions, window contexts,
 * raw events, input devices, frames), with a versioned schema and migrations.
 *
 * One `mimic.db` per data directory, in WAL mode so that `mimic events` can read
 * while a recorder writes. A `struct store` is one connection; use it from one
 * thread at a time (the writer thread while recording).
 */
#ifndef MIMIC_STORE_H
#define MIMIC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

/* The schema version this build writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 2

/* The database file name inside the data directory. */
#define STORE_DB_NAME "mimic.db"

struct store;

enum store_flags {
	STORE_READONLY = 1, /* open an existing database for reading; never create or migrate */
};

/*
 * Opens (creating when missing, unless STORE_READONLY) dir/mimic.db. Creates dir
 * with mode 0700 when missing. Migrates an older schema forward in one
 * transaction. Errors, each with a one-line *cause naming the path and the fix:
 * -EACCES the directory is not writable, -ENOENT (READONLY) no database yet,
 * -EPROTO the schema is newer than this build, -EIO SQLite could not open or read
 * it (corrupt file). On success *out owns the connection; free with store_close.
 */
int store_open(const char *dir, int flags, struct store **out /* OUT */, char **cause);

/* Closes the connection. NULL is allowed. */
void store_close(struct store *st);

/* The schema version found in the file when it was opened (before migration). */
int store_schema_version_found(const struct store *st);

struct store_session {
	int64_t id;
	char name[128];        /* --session-name, "" when none */
	char host[256];
	int64_t start_wall_ns; /* CLOCK_REALTIME at start */
	int64_t start_mono_ns; /* CLOCK_MONOTONIC at start: event t_ns minus this is the offset */
	int64_t end_wall_ns;   /* 0 while recording or when it never closed */
	char end_reason[64];   /* "stopped", "signal", "x-server-gone", "interrupted", ... */
	int32_t screen_w, screen_h;
	char keymap[256];      /* xkb rules/model/layout/variant summary, e.g. "evdev/pc105/us" */
	char version[32];      /* mimic version that recorded it */
};

/* Creates a session row from s (id, end_* ignored) and sets *id. */
int store_session_begin(struct store *st, const struct store_session *s, int64_t *id /* OUT */,
                        char **cause);

/*
 * Stores what a session records about how it was made: the effective settings
 * (config_json, see config.h) and the monitors (monitors_json, an array of
 * {"name","x","y","width","height","primary"}). Either may be NULL to leave it.
 */
int store_session_set_info(struct store *st, int64_t id, const char *config_json,
                           const char *monitors_json, char **cause);

/*
 * Reads them back as malloc'ed strings the caller frees ("{}" and "[]" for a
 * session recorded before schema version 2). Either OUT pointer may be NULL.
 * -ENOENT when there is no session id.
 */
int store_session_get_info(struct store *st, int64_t id, char **config_json /* OUT */,
                           char **monitors_json /* OUT */, char **cause);

/* Sets end_wall_ns and end_reason of session id. */
int store_session_end(struct store *st, int64_t id, int64_t end_wall_ns, const char *reason,
                      char **cause);

/*
 * Closes sessions left open by a recorder that was killed: end_wall_ns becomes the
 * wall time of their last stored event (or their start) and end_reason
 * "interrupted". Sets *n to the number closed when n is not NULL.
 */
int store_recover(struct store *st, int *n /* OUT, may be NULL */, char **cause);

/* Records (or replaces) the name and kind of an input device of a session. */
int store_device_put(struct store *st, int64_t session, int32_t device_id, const char *name,
                     int synthetic, char **cause);

/* store_write_all without frames. */
int store_write_batch(struct store *st, int64_t session, const struct event *evs, size_t nev,
                      const struct context *ctxs, size_t nctx, char **cause);

#define STORE_HEX_LEN 64
#define STORE_TRIGGER_MAX 16
#define STORE_FORMAT_MAX 8
#define STORE_CURSOR_NAME_MAX 64

/* Most patch rectangles one frame has. */
#define STORE_PATCH_MAX 32

struct store_rect {
	int32_t x, y, w, h;
};

/*
 * One stored frame (docs/FRAMES.md): the whole screen at t_ns. When base_id is
 * 0, the blob named `blob` (SHA-256 hex of the encoded bytes, see blob.h) is the
 * whole screen (a key frame). Otherwise the screen is frame base_id's with
 * patch[0..n_patch-1] replaced: the blob holds those rectangles stacked top to
 * bottom, each at the blob's left edge, in this order. Plain data.
 */
struct store_frame {
	int64_t id;                    /* > 0: stored with this id; 0: the store assigns one */
	int64_t t_ns;                  /* CLOCK_MONOTONIC when the pixels were grabbed */
	int64_t event_id;              /* the event it belongs to, 0 = none */
	char trigger[STORE_TRIGGER_MAX]; /* "pre", "settle", "focus" or "idle" */
	char blob[STORE_HEX_LEN + 1];
	char format[STORE_FORMAT_MAX]; /* "webp" or "jpeg": the blob's format and extension */
	int32_t width, height;         /* the whole screen */
	int64_t bytes;                 /* size of blob */
	int64_t base_id;               /* 0: a key frame; else the frame the patches go over */
	int32_t n_patch;
	struct store_rect patch[STORE_PATCH_MAX];
	int32_t damage_x, damage_y, damage_w, damage_h; /* changed since the previous frame */
	int32_t cursor_x, cursor_y;    /* pointer position, -1 when unknown */
	char cursor_name[STORE_CURSOR_NAME_MAX]; /* "" when unknown or unnamed */
};

/*
 * Stores events, contexts and frames of one session in a single transaction:
 * either all are stored or none (and the error is returned, e.g. -ENOSPC for a
 * full disk). Any array may be NULL when its count is 0.
 */
int store_write_all(struct store *st, int64_t session, const struct event *evs, size_t nev,
                    const struct context *ctxs, size_t nctx, const struct store_frame *frs,
                    size_t nfr, char **cause);

/*
 * Calls fn for each frame of a session, oldest first; stops early and returns
 * fn's value when it is non-zero.
 */
int store_frames_foreach(struct store *st, int64_t session,
                         int (*fn)(const struct store_frame *fr, void *arg), void *arg,
                         char **cause);

/* Reads frame id of a session. -ENOENT when the session has no such frame. */
int store_frame_get(struct store *st, int64_t session, int64_t id,
                    struct store_frame *out /* OUT */, char **cause);

/*
 * Resolves what a person typed for a session: a numeric id, "last" (the newest
 * session) or a session name (the newest with that name). -ENOENT with a cause
 * naming the spec when none matches.
 */
int store_session_resolve(struct store *st, const char *spec, int64_t *id /* OUT */,
                          char **cause);

/* Reads one session. -ENOENT when there is none with that id. */
int store_session_get(struct store *st, int64_t id, struct store_session *out /* OUT */,
                      char **cause);

/* Calls fn for each session, oldest first; stops early and returns fn's value when non-zero. */
int store_sessions_foreach(struct store *st,
                           int (*fn)(const struct store_session *s, void *arg), void *arg,
                           char **cause);

/*
 * Sets *id to the id the next stored event would get (one past the largest). The
 * recorder assigns ids from there in push order; it holds the data directory's
 * lock, so no other writer takes them.
 */
int store_next_event_id(struct store *st, int64_t *id /* OUT */, char **cause);

/*
 * Sets *id to the id the next stored frame would get. The frames worker assigns
 * ids from there so that a patch can name the frame it goes over before either
 * is stored.
 */
int store_next_frame_id(struct store *st, int64_t *id /* OUT */, char **cause);

/* Sets counts[k] to the number of events of kind k in the session (k < EVENT_KIND_MAX_). */
int store_session_counts(struct store *st, int64_t session, int64_t counts[EVENT_KIND_MAX_],
                         char **cause);

struct store_device {
	int32_t id;
	char name[128];
	int synthetic;
};

/* Calls fn for each device of a session, by id. */
int store_devices_foreach(struct store *st, int64_t session,
                          int (*fn)(const struct store_device *d, void *arg), void *arg,
                          char **cause);

/*
 * Calls fn for each event of a session in the order it was recorded. ctx is the
 * context the event refers to when the event is a focus or title event (NULL
 * otherwise, and NULL when that context was not stored). Stops early and returns
 * fn's value when it is non-zero.
 */
int store_events_foreach(struct store *st, int64_t session,
                         int (*fn)(int64_t id, const struct event *ev, const struct context *ctx,
                                   void *arg),
                         void *arg, char **cause);

#endif
