/*
 * export: turns recorded sessions into datasets (docs/EXPORT.md): episodes of
 * steps, each step one reduced action (reduce.h) with its element, interaction
 * type, the screen before it and the screen after it settled, written as JSON
 * Lines with image files or as WebDataset tar shards, with a dataset card.
 *
 * Everything that leaves through an export is redacted first: every text field
 * (typed text, window titles, element names, URLs, task descriptions) goes
 * through redact.h (a page's URL through redact_url_apply), and every frame goes through export_frame_prepare, the one
 * function where pixels are scrubbed or a frame is dropped. Host and user are
 * pseudonyms (pseudo.h).
 *
 * Nothing here logs content: the report holds counts only.
 */
#ifndef MIMIC_EXPORT_H
#define MIMIC_EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "config.h"
#include "encode.h"
#include "image.h"
#include "reduce.h"
#include "store.h"

/*
 * How a session is cut into episodes where no task markers say so, and the
 * reducer's thresholds. Written into every export (export_params_json).
 */
struct export_params {
	struct reduce_params reduce;
	int episode_idle_ms;   /* 120000: no input this long ends an unlabelled episode */
	int episode_split_app; /* 1: a step in another application starts a new one */
	int post_max_ms;       /* 10000: the after-settle frame is at most this long after */
};

/* Fills *p with the defaults above (and reduce_params_defaults). */
void export_params_defaults(struct export_params *p /* OUT */);

/* Sets the fields of p that the settings file's [export] section sets (config.h). */
void export_params_from_config(const struct config_export *c, struct export_params *p);

/* Checks p (reduce_params_check, times >= 0). Returns 0 or -EINVAL with *cause. */
int export_params_check(const struct export_params *p, char **cause);

/* Writes p as compact JSON {"reduce":{...},"episode_idle_ms":...} into buf. As reduce_params_json. */
int export_params_json(const struct export_params *p, char *buf, size_t n);

/*
 * The episode splitter, exported for the unit tests. Actions of a session are
 * given in order; markers (the session's task markers, in order) must outlive it.
 * Inside a task (start .. end marker) every action belongs to the task's episode;
 * elsewhere episodes are cut at idle gaps of episode_idle_ms or more (a `wait`
 * that long is the gap itself and belongs to no episode) and, with
 * episode_split_app, where the application changes.
 */
struct export_split {
	const struct export_params *p;
	const struct store_task *tasks;
	size_t n_tasks, next;
	const struct store_task *task; /* the start marker of the open task, or NULL */
	int outcome;                   /* enum store_task_outcome of its end marker, 0 = none */
	int fresh;                     /* the next action starts a new episode */
	int64_t episode;               /* the current episode number, -1 before the first */
	int64_t start_ns;              /* the current episode's start */
	int64_t last_end_ns;
	char last_app[STORE_EL_APP_MAX];
};

void export_split_init(struct export_split *s, const struct export_params *p,
                       const struct store_task *tasks, size_t n_tasks);

/*
 * Returns the episode number (0, 1, ...) action a belongs to, or -1 when it
 * belongs to none (an idle gap). app is the application the action was in ("" or
 * NULL when unknown). After the call s->task is the episode's start marker (NULL:
 * unlabelled), s->outcome its outcome and s->start_ns its start.
 */
int64_t export_split_push(struct export_split *s, const struct reduce_action *a,
                          const char *app);

/*
 * Interventions (export_interventions.c, docs/EXPORT.md): the corrective samples
 * of the takeovers of agent runs, built from the steps as the export wrote them.
 * export_iv_init with a session's interventions (borrowed, in store order), then
 * export_iv_step with every step written, in order, then export_iv_finish. An
 * intervention whose span is over gives its samples to emit (0 goes on; non-zero
 * stops and is returned); redact passes a text of the agent's pending call
 * through the export's redaction (a malloc'ed text, or NULL to drop it).
 */
#define EXPORT_IV_CONTEXT 5  /* the agent's steps before a takeover given as context */

typedef char *export_iv_redact_fn(void *arg, const char *text);
typedef int export_iv_emit_fn(void *arg, const struct store_intervention *iv, json_t *sample);

struct export_iv {
	const struct store_intervention *ivs;
	size_t n, next;
	json_t *recent;   /* the agent's last steps since the previous intervention */
	json_t *human;    /* the person's steps in the current one */
	export_iv_redact_fn *redact;
	export_iv_emit_fn *emit;
	void *arg;
};

void export_iv_init(struct export_iv *v, const struct store_intervention *ivs, size_t n,
                    export_iv_redact_fn *redact, export_iv_emit_fn *emit, void *arg);
void export_iv_free(struct export_iv *v);

/* A step written: its action's anchor event, source (enum event_source, 2 mixed) and JSON. */
int export_iv_step(struct export_iv *v, int64_t anchor_id, int source, json_t *step);

/* The session's steps are all written: the interventions left give their samples. */
int export_iv_finish(struct export_iv *v);

/*
 * The samples of one intervention (a new array: none without a step of the
 * person's; else an "sft" sample, and a "preference" pair when there is a
 * rejected action: pending, a computer-use object or NULL, else the last of
 * agent_steps). agent_steps and human_steps are step objects as written.
 */
json_t *export_iv_samples(const struct store_intervention *iv, json_t *agent_steps,
                          json_t *human_steps, json_t *pending);

enum export_format { EXPORT_JSONL = 0, EXPORT_WEBDATASET = 1 };

struct export_opts {
	const char *data_dir;        /* NULL: the default data directory */
	const int64_t *sessions;     /* the sessions to export, in this order */
	size_t n_sessions;
	enum export_format format;
	const char *out_dir;         /* created (0700); must be empty or missing */
	enum encode_format image;    /* format of the image files */
	int64_t shard_bytes;         /* webdataset: start a new shard past this size */
	const char *key_path;        /* pseudonym key; NULL: DATA_DIR/pseudonym.key */
	/*
	 * Where key_path was set when it is the organisation's key ("FILE:LINE" of the
	 * policy's pseudonym_key), else NULL. Such a key must exist (it is never made
	 * here: every machine must use the same one) and must belong to root or to the
	 * user who exports; errors name the setting.
	 */
	const char *key_origin;
	/* Redaction rules files added to the built-in rules, in order (policy, then --rules). */
	const char *const *redact_rules;
	size_t n_redact_rules;
	/*
	 * 1: the URL of a step's page keeps its query string, each parameter redacted
	 * (the policy's [capture] url_query); 0 (the default): the query is left out.
	 */
	int url_query;
	struct export_params params;
	/*
	 * export_walk only: also give the steps of episodes marked "do not use"
	 * (store_exclude_set), with export_step.excluded set. Every export leaves them out.
	 */
	int show_excluded;
};

/* Fills *o with the defaults: JSONL, PNG images, shards of 256 MB, default params. */
void export_opts_defaults(struct export_opts *o /* OUT */);

/* What an export wrote and what it skipped. Counts only. */
struct export_report {
	uint64_t sessions, episodes, steps;
	uint64_t labelled_episodes;
	uint64_t images, image_bytes;      /* image files (or tar members) written */
	uint64_t bytes;                    /* everything written */
	uint64_t shards;
	uint64_t frames_missing;           /* frames that could not be read or decoded */
	uint64_t frames_dropped;           /* frames export_frame_prepare dropped */
	uint64_t frames_filled;            /* frames kept with regions filled (findings, fields) */
	uint64_t steps_without_frame;      /* steps exported without a pre-action image */
	uint64_t steps_left_out;           /* webdataset: steps not written, having no image */
	uint64_t texts_redacted;           /* text fields in which redaction replaced something */
	uint64_t texts_dropped;            /* text fields dropped because they could not be scanned */
	uint64_t urls;                     /* steps in a browser page, with its URL (or null) */
	uint64_t sessions_unclosed;        /* sessions whose recorder was killed (torn end) */
	uint64_t idle_gaps;                /* long waits dropped as episode boundaries */
	uint64_t steps_excluded;           /* steps of episodes marked "do not use", left out */
	uint64_t interventions;            /* agent takeovers with samples in interventions.jsonl */
	uint64_t intervention_samples;     /* lines of interventions.jsonl */
	uint64_t by_interaction[REDUCE_I_MAX_];
	double seconds;                    /* wall time the export took */
};

/*
 * Exports the sessions of o. Frames that cannot be read, decoded or prepared are
 * skipped and counted; a session whose recorder was killed is exported as far as
 * it was stored. Writes OUT/steps.jsonl + OUT/images/ or OUT/shard-NNNNNN.tar, and
 * OUT/README.md (the dataset card). Errors with *cause: -EEXIST (OUT not empty),
 * -ENOENT (no such session / data directory), -EIO and other -errno for I/O.
 */
int export_run(const struct export_opts *o, struct export_report *rep /* OUT */,
               char **cause);

/*
 * One step as an export would write it, handed to export_walk's callback (the
 * review page, src/review/). Everything is valid during the callback only.
 */
struct export_step {
	int64_t session;
	int64_t episode;            /* the episode number in the session (0, 1, ...) */
	int64_t step;               /* the step number in the episode */
	const json_t *json;         /* the step's JSON as exported: redacted, no "images" */
	int redacted;               /* a text field of the step was redacted */
	int excluded;               /* its episode is marked "do not use" (show_excluded) */
	int64_t t_start_ns;         /* the action's recorded times (CLOCK_MONOTONIC, as events) */
	int64_t t_end_ns;
	/* The episode's start (its task's start marker, or its first action) and, for a
	 * task, its end marker (0 when it has none or is not a task). Monotonic too. */
	int64_t episode_start_ns;
	int64_t episode_end_ns;
	int64_t pre_frame_ns;       /* when the pre-action frame was taken (0: none) */
	/* The pre-action image: 0 with its encoded bytes (o->image format), 1 when
	 * export_frame_prepare dropped it, < 0 when there is no frame or it is missing. */
	int image_verdict;
	const uint8_t *image;
	size_t image_len;
};

/* Returns 0 to go on, non-zero to stop the walk with that value. */
typedef int (*export_step_fn)(void *arg, const struct export_step *st);

/*
 * Reduces, redacts and renders the sessions of o exactly as export_run does (the
 * same steps, texts, episodes and pre-action images, encoded as o->image), but
 * writes nothing: each step goes to fn. o->out_dir, format and key_path are not
 * used (host and user are not pseudonymised: nothing leaves); no audit record is
 * added. Frames not yet scanned are scanned (scrub.h). Returns 0, fn's non-zero
 * value, or a negative errno with *cause as export_run.
 */
int export_walk(const struct export_opts *o, export_step_fn fn, void *arg,
                struct export_report *rep /* OUT */, char **cause);

struct redact;

/*
 * What export_frame_prepare knows of the frame it is given. The risk is the OR of
 * the redact_risk flags found in the step's texts (typed text, title, element).
 */
struct export_frame_info {
	int64_t session;
	int64_t frame_id;
	int64_t event_id;       /* the event the frame belongs to, 0 = none */
	const char *trigger;    /* "pre", "settle", "focus", "idle" */
	unsigned text_risk;     /* enum redact_risk bits of the step's texts */
	struct store *st;       /* the store the frame was read from: its scan state (scrub.h) */
	/*
	 * The rules the export scanned with: a scan made with other rules is no
	 * verdict (the frame is dropped). NULL: every frame is dropped.
	 */
	const struct redact *redact;
	/*
	 * Screen rectangles filled whatever the scan found (may be NULL when n_masks
	 * is 0): the bounds of the elements that text the detector flagged was typed
	 * into, while their window is the one acted on (issue 14, docs/REDACTION.md).
	 */
	const struct image_rect *masks;
	size_t n_masks;
	/* OUT: set to 1 when the frame is kept with regions filled (findings or masks). */
	int filled;
};

enum export_frame_verdict { EXPORT_FRAME_KEEP = 0, EXPORT_FRAME_DROP = 1 };

/*
 * THE ONE PLACE every exported frame passes, after it is decoded to the whole
 * screen and before it is encoded and written. It may change the pixels of img in
 * place (scrub text, mask windows) and returns EXPORT_FRAME_KEEP, or
 * EXPORT_FRAME_DROP to leave the frame out (the step is then exported without it
 * and the drop counted), or a negative errno (the frame is skipped and counted as
 * missing). Pixel redaction plugs in here (docs/EXPORT.md). It sets info->filled.
 */
int export_frame_prepare(struct image *img, struct export_frame_info *info,
                         char **cause);

/* Counts of steps by action name and interaction type, per application. */
struct export_stats;

/*
 * Reduces the sessions and counts their steps (no frames read, nothing written).
 * *out is freed with export_stats_free.
 */
int export_stats_run(const char *data_dir, const int64_t *sessions, size_t n_sessions,
                     const struct export_params *p, struct export_stats **out /* OUT */,
                     char **cause);

/* Prints the counts as a table, or as one JSON object when json != 0. */
int export_stats_print(const struct export_stats *s, FILE *f, int json);

void export_stats_free(struct export_stats *s);

#endif
