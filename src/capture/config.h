/*
 * config: mimic's settings file (INI, parsed with inih).
 *
 * `mimic record --config FILE` reads FILE; without it,
 * $XDG_CONFIG_HOME/mimic/mimic.conf (else ~/.config/mimic/mimic.conf) is read
 * when it exists; otherwise the built-in defaults apply. Every key is
 * documented in docs/CONFIG.md. Unknown sections or keys, a key given twice and
 * bad values are refused with "FILE:LINE: reason", so a typo never silently
 * changes what is recorded.
 *
 * The effective settings are stored with each session as JSON
 * (config_to_json), so a recording says how it was made.
 */
#ifndef MIMIC_CONFIG_H
#define MIMIC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "encode.h"
#include "image.h"

/* Largest settings file read, in bytes. */
#define CONFIG_MAX_BYTES (64 * 1024)

/* Most keep rectangles [frames] keep may list. */
#define CONFIG_KEEP_MAX 16

/* [frames]: event-triggered screenshots (docs/FRAMES.md). Plain data. */
struct config_frames {
	bool enabled;              /* take frames at all */
	enum encode_format format; /* ENCODE_WEBP or ENCODE_JPEG */
	int quality;               /* 1..100 */
	bool patches;              /* store changed rectangles over a full key frame */
	bool scan;                 /* OCR-scan stored frames for redaction while recording */
	int min_gap_ms;            /* least time between settle/focus/idle frames */
	int settle_ms;             /* no damage for this long: the screen settled */
	int settle_max_ms;         /* a settle frame at most this long after the action */
	int idle_ms;               /* a frame when the screen changed but nothing triggered */
	int typing_pause_ms;       /* a gap this long between keys starts a new typing run */
	int grab_interval_ms;      /* least time between two grabs while the screen changes */
	uint32_t mask_color;       /* 0x00RRGGBB: the flat colour outside kept rectangles */
	bool keep_set;             /* false: keep the whole screen */
	size_t n_keep;             /* with keep_set: rectangles in keep (0 keeps nothing) */
	struct image_rect keep[CONFIG_KEEP_MAX];
};

/*
 * [retention]: how long and how much recorded data is kept (docs/CONFIG.md,
 * forget.h). The organisation's policy may set stricter limits. Plain data.
 */
struct config_retention {
	int64_t max_age_ns;        /* older data is deleted; 0: no age limit */
	int64_t max_bytes;         /* beyond this the oldest data is deleted; 0: no size limit */
	int64_t interval_ns;       /* how often a running recorder checks (and at start) */
};

/*
 * [export]: the reducer's and the episode splitter's thresholds for `mimic
 * export` and `mimic stats` (docs/EXPORT.md, docs/ACTIONS.md). Only the keys the
 * file sets are in set_mask (bit CONFIG_EXPORT_*); the others keep the
 * exporter's defaults. Plain data.
 */
enum config_export_key {
	CONFIG_EXPORT_DOUBLE_CLICK_MS, CONFIG_EXPORT_DOUBLE_CLICK_PX, CONFIG_EXPORT_DRAG_MIN_PX,
	CONFIG_EXPORT_TYPE_GAP_MS, CONFIG_EXPORT_SCROLL_GAP_MS, CONFIG_EXPORT_WAIT_MS,
	CONFIG_EXPORT_FOCUS_FOLLOW_MS, CONFIG_EXPORT_PATH_MAX, CONFIG_EXPORT_EPISODE_IDLE_MS,
	CONFIG_EXPORT_EPISODE_SPLIT_APP, CONFIG_EXPORT_COUNT_
};

struct config_export {
	unsigned set_mask;                 /* 1u << key for each key the file set */
	int value[CONFIG_EXPORT_COUNT_];   /* episode_split_app: 0 or 1 */
};

/* The key's name in the file ("double_click_ms", ...); NULL out of range. */
const char *config_export_key_name(int key);

struct config {
	char source[4096];         /* the file read, or "" for the built-in defaults */
	struct config_frames frames;
	struct config_retention retention;
	struct config_export export_;
};

/* Fills *c with the built-in defaults (docs/CONFIG.md). */
void config_defaults(struct config *c /* OUT */);

/*
 * Reads the settings file at path over the defaults. Errors, with *cause set to
 * one line: -ENOENT / -EACCES / -EISDIR the file cannot be read ("cannot read
 * FILE: reason"), -E2BIG larger than CONFIG_MAX_BYTES, -EINVAL a bad line or
 * value ("FILE:LINE: reason"). On error *c holds the defaults.
 */
int config_load_file(const char *path, struct config *c /* OUT */, char **cause);

/*
 * The settings `mimic record` uses: path when not NULL (it must exist), else the
 * user's file when it exists, else the defaults. Same errors as
 * config_load_file.
 */
int config_load(const char *path, struct config *c /* OUT */, char **cause);

/*
 * Sets *out to the malloc'ed path of the user's settings file
 * ($XDG_CONFIG_HOME/mimic/mimic.conf, else $HOME/.config/mimic/mimic.conf),
 * whether or not it exists. -ENOENT when neither variable is usable.
 */
int config_user_path(char **out /* OUT */);

/*
 * Returns the effective settings as compact JSON (malloc'ed; never NULL), e.g.
 * {"source":"...","frames":{"enabled":true,"format":"jpeg",...}}.
 */
char *config_to_json(const struct config *c);

#endif
