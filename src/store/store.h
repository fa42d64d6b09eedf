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
#define STORE_SCHEMA_VERSION 13

/* The database file name inside the data directory. */
#define STORE_DB_NAME "mimic.db"

/*
 * Room kept for closing a session on a full disk: a file of zeros beside the
 * database, made (when missing or short) by every writable store_open and
 * released by store_session_end when the disk is full, so that the close can
 * still be written. The next writable open makes it again when there is room.
 */
#define STORE_RESERVE_NAME "mimic.db-reserve"
#define STORE_RESERVE_BYTES (1 << 20)

struct store;

enum store_flags {
	STORE_READONLY = 1, /* open an existing database for reading; never create or migrate */
	STORE_CHECK = 2,    /* run SQLite's quick_check first (reads every page; `record`) */
	STORE_LEAN = 4,     /* a page cache of STORE_LEAN_CACHE_KIB instead of SQLite's 2 MiB
	                       (`record`: it appends, and the pages an append touches fit;
	                       most of a recorder's peak RSS was this cache) */
};
#define STORE_LEAN_CACHE_KIB 256

/*
 * Opens (creating when missing, unless STORE_READONLY) dir/mimic.db. Creates dir
 * with mode 0700 when missing. Migrates an older schema forward in one
 * transaction. A write-ahead log (mimic.db-wal) that SQLite would replay only
 * in part, because a frame before its last commits is damaged, is refused
 * rather than read without them (and, by a writer, checkpointed away). Errors,
 * each with a one-line *cause naming the path and the fix: -EACCES the
 * directory is not writable, -ENOENT (READONLY) no database yet, -EPROTO the
 * schema is newer than this build, -EIO SQLite could not open or read it
 * (corrupt file), the write-ahead log is damaged, or (STORE_CHECK) the file
 * fails quick_check. On success *out owns the connection; free with store_close.
 */
int store_open(const char *dir, int flags, struct store **out /* OUT */, char **cause);

/* Closes the connection. NULL is allowed. */
void store_close(struct store *st);

/* The schema version found in the file when it was opened (before migration). */
int store_schema_version_found(const struct store *st);

struct vault;

/*
 * Encryption at rest (vault.h, docs/PRIVACY.md). What a person typed or read is
 * stored sealed: the keycode, keysym and text of key events, window titles and
 * the URL of a browser window's page, which is never stored in the clear (other
 * columns stay plain so that queries by session, kind and time work);
 * store_events_foreach returns it decrypted. The key is loaded on first need:
 * store_vault loads it now (making one when the store is writable and the
 * directory has none) and sets *out (owned by the store, valid until
 * store_close) when out is not NULL. Errors are vault_open's (a missing or
 * wrong key, in one line).
 */
int store_vault(struct store *st, struct vault **out /* OUT, may be NULL */, char **cause);

/*
 * Encrypts what rows stored before encryption hold in the clear (key events'
 * keycode, keysym and text; window titles), in one transaction, and sets *n to
 * the rows changed. Run store_compact afterwards so that no file keeps the
 * old text. The recorder does both on its writer thread after it starts.
 */
int store_seal_plain(struct store *st, int64_t *n /* OUT */, char **cause);

/* Uses v (not owned; it must outlive st) instead of the data directory's key. Tests. */
void store_set_vault(struct store *st, struct vault *v);

/*
 * Seals len bytes for a row of another table (elements, tasks, ...): tag is 4
 * characters naming the kind of row ("el01"), session and where (e.g. the
 * event id) say which row, and must be given again to store_unseal. *out is
 * malloc'ed (*outlen bytes); the caller frees it. store_unseal's *out has a
 * NUL after its *outlen bytes. -EBADMSG when it does not open.
 */
int store_seal(struct store *st, const char tag[4], int64_t session, int64_t where,
               const void *plain, size_t len, void **out /* OUT */, size_t *outlen /* OUT */,
               char **cause);
int store_unseal(struct store *st, const char tag[4], int64_t session, int64_t where,
                 const void *sealed, size_t len, void **out /* OUT */,
                 size_t *outlen /* OUT */, char **cause);

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

/*
 * Sets end_wall_ns and end_reason of session id. When the disk is full it
 * releases the reserve (STORE_RESERVE_NAME) and tries once more, so that a
 * session stopped by a full disk is still closed.
 */
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
 * Sets *id to the first frame of session (by id) grabbed at or after t_ns
 * (CLOCK_MONOTONIC), 0 when there is none.
 */
int store_frame_first_from(struct store *st, int64_t session, int64_t t_ns,
                           int64_t *id /* OUT */, char **cause);

/*
 * Makes frame id of session a key frame whose blob is hex (bytes long, the
 * whole screen): forget_run does it to the first frame after a deleted range
 * whose patches went over frames of the range. -ENOENT when there is no such frame.
 */
int store_frame_set_key(struct store *st, int64_t session, int64_t id, const char *hex,
                        int64_t bytes, char **cause);

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

/*
 * UI elements (docs/ELEMENTS.md): the element a press, a typing run or a shortcut
 * acted on, one per event (event_id). Strings are cut at a UTF-8 boundary to the
 * sizes below; no element value (the text inside an entry) is ever stored.
 */
#define STORE_EL_ROLE_MAX 32
#define STORE_EL_NAME_MAX 256
#define STORE_EL_APP_MAX 128
#define STORE_EL_STATES_MAX 384
#define STORE_EL_ANCESTORS_MAX 4
#define STORE_EL_ANCESTOR_NAME_MAX 128
#define STORE_EL_MENU_PATH_MAX 512
#define STORE_EL_CHORD_MAX 64
#define STORE_EL_URL_MAX 1024

/* What an element row answers. Values are stored: only append. */
enum store_element_kind {
	STORE_ELEMENT_PRESS = 1,    /* the element under the pointer at a button press */
	STORE_ELEMENT_TYPING = 2,   /* the focused element at the start of a typing run */
	STORE_ELEMENT_SHORTCUT = 3, /* the focused element when a key chord (ctrl+s) was pressed */
};

struct store_element {
	int64_t event_id;              /* the press or key press it belongs to (> 0) */
	int32_t kind;                  /* enum store_element_kind */
	int32_t status;                /* enum uia_status (uia.h): 0 ok, 1 no-element, ... */
	int32_t source;                /* enum uia_source (uia.h) */
	int64_t t_ns;                  /* CLOCK_MONOTONIC of the event */
	int64_t read_ns;               /* CLOCK_MONOTONIC when the properties were read */
	int32_t lookup_us;             /* from the event to the answer, microseconds */
	uint32_t window;               /* the X window it was looked up in, 0 = unknown */
	int32_t pid;                   /* the application's pid, 0 = unknown */
	int32_t popup;                 /* 1: found in a popup (menu, combo box list) */
	char app[STORE_EL_APP_MAX];
	char role[STORE_EL_ROLE_MAX];
	char name[STORE_EL_NAME_MAX];
	char label[STORE_EL_NAME_MAX];
	char description[STORE_EL_NAME_MAX];
	uint64_t states;               /* UIA_STATE_* bits (uia.h) */
	char state_names[STORE_EL_STATES_MAX];
	int32_t x, y, w, h;            /* screen bounds; w = h = 0 unknown */
	int32_t n_ancestors;
	struct {
		char role[STORE_EL_ROLE_MAX];
		char name[STORE_EL_ANCESTOR_NAME_MAX];
	} ancestors[STORE_EL_ANCESTORS_MAX]; /* nearest first */
	char menu_path[STORE_EL_MENU_PATH_MAX];
	char shortcut[STORE_EL_CHORD_MAX];   /* the accelerator a menu item advertises */
	char chord[STORE_EL_CHORD_MAX];      /* kind SHORTCUT: the chord pressed, "ctrl+shift+t" */
	char url[STORE_EL_URL_MAX];
	char target[STORE_EL_URL_MAX];       /* a link's target URL */
};

/*
 * Stores UI elements of a session in one transaction (a row for an event_id
 * already stored is replaced). Returns 0 or the error (e.g. -ENOSPC).
 */
int store_write_elements(struct store *st, int64_t session, const struct store_element *els,
                         size_t n, char **cause);

/*
 * Calls fn for each element of a session, by event id; stops early and returns
 * fn's value when it is non-zero. A database older than schema version 3 has none.
 */
int store_elements_foreach(struct store *st, int64_t session,
                           int (*fn)(const struct store_element *el, void *arg), void *arg,
                           char **cause);

/* Reads the element of event event_id of a session; -ENOENT when it has none. */
int store_element_get(struct store *st, int64_t session, int64_t event_id,
                      struct store_element *out /* OUT */, char **cause);

/* Task markers (`mimic task start|end`): where an episode begins and ends. */
#define STORE_TASK_DESC_MAX 1024
enum store_task_kind { STORE_TASK_START = 1, STORE_TASK_END = 2 };
enum store_task_outcome { STORE_TASK_NONE = 0, STORE_TASK_SUCCESS = 1, STORE_TASK_FAIL = 2 };

/* One marker. Plain data. */
struct store_task {
	int64_t id;            /* assigned by the store */
	int64_t t_ns;          /* CLOCK_MONOTONIC when the recorder got the request */
	int64_t next_event;    /* the id the next event got: the marker sits just before it */
	int kind;              /* enum store_task_kind */
	int outcome;           /* enum store_task_outcome (end markers) */
	char description[STORE_TASK_DESC_MAX]; /* start: what the task is, UTF-8; "" for end */
};

/* Stores n task markers of a session in one transaction. */
int store_write_tasks(struct store *st, int64_t session, const struct store_task *tasks,
                      size_t n, char **cause);

/*
 * Interventions (docs/AGENTS.md): while `mimic agent serve` runs, input of anyone
 * but the agent takes over from it until the hand-back. Plain data.
 */
#define STORE_ACTION_MAX 1024
enum store_handback {
	STORE_HANDBACK_COMMAND = 1,    /* `mimic agent handback` */
	STORE_HANDBACK_IDLE = 2,       /* no input of the person for the agent's idle time */
	STORE_HANDBACK_AGENT_GONE = 3, /* the agent server ended or went away */
	STORE_HANDBACK_STOPPED = 4,    /* the recording ended during the takeover */
};

struct store_intervention {
	int64_t id;            /* assigned by the store */
	int64_t t_ns;          /* the person's first event (CLOCK_MONOTONIC, as events) */
	int64_t end_ns;        /* the hand-back */
	int64_t first_event;   /* the id of the person's first event */
	int64_t end_event;     /* the id the next event got at the hand-back */
	int handback;          /* enum store_handback */
	int refused;           /* the agent's calls refused during the takeover */
	char pending[STORE_ACTION_MAX]; /* the agent's first refused call's arguments as
	                                   JSON (UTF-8), "" when it made none */
};

/*
 * The name of a hand-back as `mimic events --interventions` and the exports write
 * it ("command", "idle", "agent_gone", "recording_ended"; "unknown" for another
 * value). A static string.
 */
const char *store_handback_name(int handback);

/* Stores n interventions of a session in one transaction (pending sealed). */
int store_write_interventions(struct store *st, int64_t session,
                              const struct store_intervention *iv, size_t n, char **cause);

/*
 * Calls fn for each intervention of a session in the order they were stored;
 * stops early and returns fn's value when non-zero. A database older than
 * schema version 12 has none.
 */
int store_interventions_foreach(struct store *st, int64_t session,
                                int (*fn)(const struct store_intervention *iv, void *arg),
                                void *arg, char **cause);

/*
 * Calls fn for each task marker of a session, in the order they were given;
 * stops early and returns fn's value when non-zero. A database older than
 * schema version 4 has none.
 */
int store_tasks_foreach(struct store *st, int64_t session,
                        int (*fn)(const struct store_task *t, void *arg), void *arg,
                        char **cause);

/* One acknowledgement of the consent notice, or its withdrawal. Plain data. */
struct store_consent {
	int64_t t_wall_ns;          /* CLOCK_REALTIME when it was given */
	char user[128];             /* the login name */
	char action[16];            /* "accept" or "withdraw" */
	char notice_sha256[STORE_HEX_LEN + 1]; /* the notice acknowledged (accept) */
	char notice_path[512];
};

/* Appends a consent row (rows are never changed afterwards). */
int store_consent_add(struct store *st, const struct store_consent *c, char **cause);

/* Reads the newest consent row of user. -ENOENT when there is none. */
int store_consent_latest(struct store *st, const char *user, struct store_consent *out /* OUT */,
                         char **cause);

/* Redaction state of a frame (docs/REDACTION.md). Unscanned frames are never exported. */
enum store_scan {
	STORE_SCAN_UNSCANNED = 0,
	STORE_SCAN_CLEAN = 1,    /* scanned, nothing found: the stored pixels may be exported */
	STORE_SCAN_SCRUBBED = 2, /* findings filled: only the blob named in `blob` may be */
	STORE_SCAN_DROPPED = 3,  /* a finding that could not be filled whole: never exported */
};

#define STORE_SCAN_REASON_MAX 16

/* Longest rule-set fingerprint stored with a scan (REDACT_FINGERPRINT_LEN hex digits). */
#define STORE_SCAN_RULES_MAX 64

struct store_frame_scan {
	int state;                          /* enum store_scan */
	char reason[STORE_SCAN_REASON_MAX]; /* dropped: "pixels", "typed", "base", "error"; "" */
	char blob[STORE_HEX_LEN + 1];       /* scrubbed: PNG blob of the whole screen; "" */
	/*
	 * The fingerprint of the redaction rules the scan was made with
	 * (redact_fingerprint); "" for unscanned frames and for scans stored before
	 * schema version 8, which therefore match no rule set (scrub.h).
	 */
	char rules[STORE_SCAN_RULES_MAX + 1];
};

/*
 * Reads the scan of frame id into *out, and (when boxes_json is not NULL) its
 * findings as a malloc'ed JSON array [[x,y,w,h,risk],...] the caller frees.
 * -ENOENT when there is no such frame.
 */
int store_frame_scan_get(struct store *st, int64_t id, struct store_frame_scan *out /* OUT */,
                         char **boxes_json /* OUT, may be NULL */, char **cause);

/* Stores the scan of frame id (boxes_json NULL: "[]"). -ENOENT when there is no such frame. */
int store_frame_scan_set(struct store *st, int64_t id, const struct store_frame_scan *s,
                         const char *boxes_json, char **cause);

/* A span of a session's monotonic time, ends included. */
struct store_span {
	int64_t start_ns, end_ns;
};

/*
 * "Do not use" (the review page, docs/PRIVACY.md): the steps of session that
 * begin in [start_ns, end_ns] are kept out of every export. on != 0 marks the
 * span; on == 0 removes every mark that overlaps it. -ENOENT when there is no
 * such session.
 */
int store_exclude_set(struct store *st, int64_t session, int64_t start_ns, int64_t end_ns,
                      int on, char **cause);

/*
 * Sets *out (malloc'ed, the caller frees; NULL when *n is 0) to the marked spans
 * of session, by start.
 */
int store_excluded_get(struct store *st, int64_t session, struct store_span **out /* OUT */,
                       size_t *n /* OUT */, char **cause);

/*
 * Forgetting (`mimic forget`, retention; docs/PRIVACY.md). Deletes, in one
 * transaction, what was recorded in [from_wall_ns, to_wall_ns) of wall-clock
 * time (INT64_MIN / INT64_MAX: unbounded), of one session or of all: events,
 * frame records, window contexts, the rows of every other table that has a
 * session and a time (elements, tasks, ...) or that refers to a deleted event
 * or frame (event_id, frame_id), and patches whose base frame is gone. A
 * session wholly inside the range goes with everything it had, unless it is
 * keep_session (the one being recorded). The connection has secure_delete on,
 * so deleted rows are overwritten; call store_compact afterwards so that the
 * files hold nothing of them. Blob files are the caller's (store_blob_names).
 */
struct store_forget {
	int64_t session;        /* > 0: only this session (-ENOENT when there is none) */
	int64_t from_wall_ns;   /* CLOCK_REALTIME, inclusive */
	int64_t to_wall_ns;     /* CLOCK_REALTIME, exclusive */
	int64_t keep_session;   /* > 0: this session's row stays */
};

struct store_forget_counts {
	int64_t sessions, events, frames, contexts, other;
};

int store_forget(struct store *st, const struct store_forget *f,
                 struct store_forget_counts *out /* OUT */, char **cause);

/*
 * The anchor of the audit log (audit.h): what the log held after its last
 * append, kept sealed in the database (tag "au01") where cutting the log cannot
 * reach it. Plain data.
 */
struct store_audit_anchor {
	int64_t records;                /* records in the log (the last seq) */
	int64_t bytes;                  /* the log's length in bytes */
	char head[STORE_HEX_LEN + 1];   /* the last record's hash, 64 lowercase hex digits */
};

/* Stores (replaces) the anchor, sealed with the data directory's key. */
int store_audit_anchor_set(struct store *st, const struct store_audit_anchor *a, char **cause);

/*
 * Reads the anchor. -ENOENT when the database holds none (nothing appended since
 * schema version 9); -EBADMSG when it does not decrypt or is not an anchor.
 */
int store_audit_anchor_get(struct store *st, struct store_audit_anchor *out /* OUT */,
                           char **cause);

/*
 * Rewrites the database without free pages (VACUUM, scratch in memory) and
 * empties the write-ahead log (wal_checkpoint(TRUNCATE)), so that no file holds
 * deleted rows. Waits up to 5 s for readers; -EBUSY when one stays.
 */
int store_compact(struct store *st, char **cause);

/* Sets *bytes to the size of the database's pages in use (without free pages and the WAL). */
int store_used_bytes(struct store *st, int64_t *bytes /* OUT */, char **cause);

/*
 * Sets *names to the sorted, distinct blob names rows refer to: frames.blob and
 * every column named *_blob (frames.scan_blob, ...). Malloc'ed, each too.
 */
int store_blob_names(struct store *st, char ***names /* OUT */, size_t *n /* OUT */,
                     char **cause);

/*
 * The fleet's uploads (store_upload.c, docs/FLEET.md). store_upload_mark records
 * that the collector stored session's bundle (hash, bytes); store_upload_get
 * reads it back (-ENOENT: not uploaded). A forget of an uploaded session
 * (store_forget) queues the session id for a deletion request at the collector;
 * store_upload_deletions lists the queue (malloc'ed ids, oldest first) and
 * store_upload_deletion_done removes one id once the collector has deleted it.
 */
int store_upload_mark(struct store *st, int64_t session, const char *bundle, int64_t bytes,
                      int64_t wall_ns, char **cause);
int store_upload_get(struct store *st, int64_t session, char bundle[STORE_HEX_LEN + 1] /* OUT */,
                     int64_t *wall_ns /* OUT, may be NULL */, char **cause);
int store_upload_deletions(struct store *st, int64_t **ids /* OUT */, size_t *n /* OUT */,
                           char **cause);
int store_upload_deletion_done(struct store *st, int64_t session, char **cause);

/*
 * The upload state in numbers: sessions uploaded, the newest upload's wall time
 * (0: none), deletions queued and ended sessions not uploaded (waiting). Any OUT
 * pointer may be NULL.
 */
int store_upload_counts(struct store *st, int64_t *uploaded, int64_t *last_wall_ns,
                        int64_t *deletions, int64_t *waiting, char **cause);

#endif
