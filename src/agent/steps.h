/*
 * steps: the reading of an export's steps (docs/EXPORT.md, `mimic export
 * --format jsonl`: DIR/steps.jsonl) for `mimic replay` and `mimic eval`
 * (docs/AGENTS.md). Each line becomes a struct steps_step with what those two
 * commands need: where it is in its episode, when it happened, the window's
 * application, the pre-action image, the UI element recorded for it (role, name,
 * box) and the action in the computer-use form (`action.computer_use`), which is
 * checked here: a known action with the arguments it needs, coordinates on the
 * export's screen.
 *
 * The file comes from outside (a dataset can be handed around): every line and
 * the whole file have a maximum size, and any bytes give either steps or one
 * error line naming the file, the line and what is wrong (fuzzed: fuzz_steps).
 */
#ifndef MIMIC_STEPS_H
#define MIMIC_STEPS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Longest steps.jsonl line and whole file read, in bytes. */
#define STEPS_LINE_MAX (1024 * 1024)
#define STEPS_FILE_MAX ((size_t)1 << 30)

/* One step of the export. Strings are NULL when the export has none (null or absent). */
struct steps_step {
	int line;                  /* its line in steps.jsonl, from 1 */
	char *episode;
	int64_t step;              /* its index in the episode */
	double t_ms;               /* start, ms after the episode's start */
	char *task;                /* the episode's task, as exported (redacted) */
	char *app;                 /* the window's application (WM_CLASS class) */
	char *window_title;
	char *kind, *interaction;  /* the action's kind and interaction type */
	char *image_pre;           /* the pre-action image, relative to the export's folder
	                              (WebDataset: the member's name in image_tar) */
	char *image_tar;           /* WebDataset: the shard holding image_pre, else NULL */
	int64_t image_off, image_len; /* where its bytes are in that shard */
	int32_t screen_w, screen_h;/* 0 when unknown */
	int has_box;               /* the element's bounds are known */
	int32_t box[4];            /* x, y, w, h in screen coordinates */
	char *el_role;             /* the recorded element's role ("push button"), NULL when the
	                              step has no element (unknown, or recorded without elements) */
	char *el_name;             /* its name as exported (redacted); NULL when null */
	int redacted;              /* the export replaced or left out a text of this step */
	json_t *action;            /* computer_use (owned), NULL when the action has none (switch) */
};

struct steps {
	struct steps_step *v;
	size_t n;
};

/*
 * Parses steps.jsonl held in buf (len bytes, need not be NUL-terminated); name is
 * the file's name for errors. Returns 0 with *out (at least one step), or -EINVAL
 * with a one-line *cause "NAME:LINE: what is wrong".
 */
int steps_parse(const char *buf, size_t len, const char *name, struct steps **out /* OUT */,
                char **cause);

/*
 * Reads DIR/steps.jsonl, or, when there is none, the WebDataset shards
 * DIR/shard-000000.tar, ... (the steps are their .json members, in order; the
 * error lines count them across the shards as "DIR/shard-*.tar:N"). Errors with
 * *cause: -ENOENT (not an export: the fix is named), -EFBIG, -EINVAL as
 * steps_parse.
 */
int steps_load(const char *dir, struct steps **out /* OUT */, char **cause);

void steps_free(struct steps *s);

/*
 * Writes the pre-action image of st to path (a new file, mode 0600): a copy out
 * of its WebDataset shard. 0, or a negative error with *cause.
 */
int steps_extract_image(const struct steps_step *st, const char *path, char **cause);

/*
 * Checks a computer-use action: a known action name with the arguments it
 * needs, each coordinate on a screen of w x h (not checked when w is 0).
 * Returns 0 or -EINVAL with a one-line *cause.
 */
int steps_check_action(const json_t *cu, int32_t w, int32_t h, char **cause);

/* The action's name ("left_click", ...), or NULL. */
const char *steps_action_name(const json_t *cu);

/*
 * 1 when text holds a placeholder of the redactor ("<EMAIL>": "<", capitals, digits,
 * _, ">"; or a sensitive field's "<FIELD:label>").
 */
int steps_has_placeholder(const char *text);

#endif
