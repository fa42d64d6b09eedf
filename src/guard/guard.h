/*
 * guard: the safeguards of a running recorder (docs/POLICY.md, docs/PRIVACY.md).
 *
 * It holds the policy, the recording indicator with its pause hotkey, and the
 * scope of the visible windows, and decides on the input thread, before anything
 * is queued, what of each event may be stored: nothing while paused or while the
 * focused window is out of scope, no pointer event outside the visible in-scope
 * area, one secret_input marker for the keys typed into a password field, and no
 * key text where the policy keeps it off. It tells the frames engine what it may
 * keep and when to pause, pauses by itself on the screen lock and on idle time,
 * enforces the retention limits and carries out `mimic forget` while recording,
 * each with its line in the audit log.
 *
 * Every function runs on the recorder's input thread.
 */
#ifndef MIMIC_GUARD_H
#define MIMIC_GUARD_H

#include <jansson.h>
#include <poll.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "frames.h"
#include "ipc.h"
#include "store.h"
#include "uia.h"
#include "writer.h"

struct guard;

/* Input held while a browser's page is read: dropped after this long without a read
 * that names the page (a browser between two pages, busy with the next one's script,
 * showed it after 1-4 s under load); at most this many events. */
#define GUARD_HOLD_MS 5000
#define GUARD_HOLD_MAX 128

/* What the safeguards ask of the recorder that owns them. */
struct guard_hooks {
	/*
	 * Stores ev, a marker of the safeguards, as the next event (its id is given
	 * there). Returns 0, or -EAGAIN while nothing can be stored yet (before the
	 * session's writer runs); ev is then dropped.
	 */
	int (*push_event)(void *arg, struct event *ev);
	/* Stores the focused window's context unless the store has it already. */
	void (*push_context)(void *arg);
	/* The sequence number of the focused window's context once stored, else 0. */
	int32_t (*stored_context)(void *arg);
	/*
	 * Stores ev, an input event guard_filter held while a browser's page was not
	 * known and has now passed (unless recording is paused meanwhile).
	 */
	void (*release_event)(void *arg, struct event *ev);
	/* The focused window's page URL is now url ("" unknown): its context says so. */
	void (*set_url)(void *arg, const char *url);
	void *arg;
};

/* The descriptors guard_pollfds fills: the scope's and the indicator's X connections. */
#define GUARD_POLLFDS 2

/*
 * Loads the policy (policy_load_effective: policy_path or /etc/mimic/policy.conf,
 * the person's own file, and the collector's signed policy stored in data_dir,
 * NULL the default, when the machine is enrolled) into a new *out: nothing is
 * recorded on a guess, so a policy that cannot be read is an error with its cause. hooks is copied. Until
 * guard_start, only the policy judges the focused window.
 */
int guard_new(const char *policy_path, const char *data_dir, const struct guard_hooks *hooks,
              struct guard **out /* OUT */, char **cause);

/* Closes the indicator and the scope's connection and frees g; NULL is fine. */
void guard_free(struct guard *g);

/* No recording without the person's agreement to the policy's current notice (consent_check). */
int guard_check_consent(struct guard *g, struct store *st, char **cause);

/*
 * Shows the indicator on display (NULL: $DISPLAY), grabs the pause hotkey and
 * starts following the windows' scope: recording does not start without them.
 * data_dir (borrowed, must outlive g) is where the audit log is. Turns frames off
 * in cfg when the policy forbids screenshots and takes cfg's [frames] keep, which
 * the scope's area is then intersected with; takes cfg's [retention] limits.
 */
int guard_start(struct guard *g, const char *display, const char *data_dir, struct config *cfg,
                char **cause);

/*
 * The frames engine to pause and to hand the area it may keep, NULL while there
 * is none (borrowed). A new engine is told both at once.
 */
void guard_set_frames(struct guard *g, struct frames *f);

/*
 * The session has begun with frames f (NULL: none): as guard_set_frames, and a
 * session that begins out of scope stores a scope_out marker first.
 */
void guard_begin_session(struct guard *g, struct frames *f);

/*
 * UI elements, which tell when the focused field takes a password: uia (borrowed;
 * NULL when there is none) or why there is none (copied), for the status.
 */
void guard_set_uia(struct guard *g, struct uia *uia, const char *why_none);

/* Follows the newly focused window (copied) in or out of scope, with a marker at each change. */
void guard_on_context(struct guard *g, const struct context *ctx);

/*
 * Decides what of an event may be stored. Returns 0 to drop it; may blank a key's
 * content (ev is the caller's copy) or store a secret_input marker instead. In a
 * browser window (with UI elements), a key, press or scroll asks the browser for
 * its page (uia_page_check) and is held, with what follows, until the read that
 * answers for it (at most GUARD_HOLD_MAX events; all dropped when no read came for
 * GUARD_HOLD_MS): then stored through hooks.release_event if the page is in scope,
 * dropped if not. Focus and title events of the window are held the same way.
 */
int guard_filter(struct guard *g, struct event *ev);

/*
 * A new policy while recording (docs/POLICY.md, "A new policy while recording").
 * Every GUARD_POLICY_LOOK_MS it looks whether the files the policy comes from
 * changed (the system file or --policy, the person's file, the stored collector
 * policy and the enrolment, the notice): their inode, size, mtime and ctime. Once
 * a change has held still for one look, the policy is loaded and verified again
 * as at the start (policy_load_effective), with the consent to its notice, as a
 * job on writer w's thread (which owns the store and may wait on the disk); when
 * the job has run, the new policy is swapped in here, between two events, so
 * that every event read after it is judged by it. A policy that fails to load or
 * verify, or a collector policy older than the one in force, leaves the one in
 * force and is one line in the log and the status. A notice the person has not
 * agreed to pauses recording until `mimic consent`. Returns ms until the next look.
 */
#define GUARD_POLICY_LOOK_MS 1000
int guard_policy_tick(struct guard *g, struct writer *w, int64_t now);

/* Why a resume is refused (a new notice awaits the person's consent), or NULL. */
const char *guard_resume_refused(const struct guard *g);

/* The policy's [upload] upload_interval (policy_upload_interval_ms). */
int64_t guard_upload_interval_ms(const struct guard *g);

/* Whether recording is paused; guard_paused_until: when a timed pause ends (0: none). */
int guard_paused(const struct guard *g);
int64_t guard_paused_until(const struct guard *g);

/*
 * Whether the focused window is out of scope, or a browser window whose page is
 * not confirmed yet: nothing of it is stored, not even its title.
 */
int guard_out_of_scope(const struct guard *g);

/*
 * Pauses (for for_ms, or until resumed when 0) or resumes, with a marker, the
 * frames engine told and a line in the audit log at each change.
 */
void guard_set_paused(struct guard *g, int paused, int64_t for_ms);

/* Screen lock and idle time: pauses and resumes by itself. Returns ms until the next check. */
int guard_tick(struct guard *g, int64_t now);

/*
 * Fills pfd[0 .. GUARD_POLLFDS - 1] with the descriptors to poll for reading (-1
 * where there is none), for guard_dispatch.
 */
void guard_pollfds(const struct guard *g, struct pollfd *pfd /* OUT */);

/*
 * Handles the indicator's and the scope's events (every turn: a display
 * connection may hold events it read while waiting for a reply) and looks again
 * whether the focused field takes a password. pfd is what guard_pollfds filled,
 * after poll: a connection is read from only when poll found it readable, so a
 * turn of the recorder's loop costs no system call on a quiet display. Returns
 * -EPIPE when the display (the X server) went away.
 */
int guard_dispatch(struct guard *g, const struct pollfd *pfd);

/* A desktop notification that recording started; notify-send missing is no error. */
void guard_notify(void);

/* The "safeguards" member of the status (a new reference). */
json_t *guard_json(const struct guard *g);

/*
 * Enforces retention limits c now on st (the caller's thread), keeping session
 * keep_session (0: none), removes the fleet spool's bundles of what it deleted
 * (fleet_device_spool_prune), and appends what went to the audit log of data_dir.
 * Does nothing without limits. Returns 0 or the -errno it logged.
 */
int guard_retention(struct store *st, const char *data_dir, const struct config_retention *c,
                    int64_t keep_session);

/*
 * Posts the periodic retention check to writer w when it is due, keeping
 * session. Returns ms until the next one, or -1 without limits.
 */
int guard_retention_tick(struct guard *g, struct writer *w, int64_t session, int64_t now);

/*
 * `mimic forget` while recording (docs/PRIVACY.md), without waiting: the deletion
 * req names is posted as a job to writer w's thread, keeping session; when it has
 * run, done_fd (an eventfd, borrowed) is written once. The caller has stopped the
 * frames engine, so that no frame in flight names a deleted one. Returns 0 with
 * the job in *out, or -EBUSY while another job (retention) is pending: post again
 * a moment later.
 */
struct guard_forget;
int guard_forget_post(struct guard *g, struct writer *w, int64_t session,
                      const struct ipc_request *req, int done_fd,
                      struct guard_forget **out /* OUT */);

/*
 * Once the job has run (done_fd was written, or the writer has stopped): the line
 * in the audit log, the reply (malloc'ed JSON) and *next_frame_id, where frame
 * ids go on (0: unknown). Frees job.
 */
char *guard_forget_finish(struct guard *g, struct guard_forget *job,
                          int64_t *next_frame_id /* OUT */);

#endif
