/*
 * policy: what an organisation allows mimic to record (docs/POLICY.md).
 *
 * The system policy (/etc/mimic/policy.conf, or `record --policy FILE`) names
 * the applications (WM_CLASS globs, executable path globs) and websites (URL
 * globs, for browser windows) that may be recorded, what is never recorded
 * (applications, sites, window titles matched by PCRE2 regular expressions),
 * what is captured (screenshots, keystroke text per application, whether an
 * export keeps the query strings of URLs), the consent
 * notice, the controls (pause hotkey, idle pause) and, for exports, the
 * organisation's added redaction rules and pseudonym key. The person's own file
 * ($XDG_CONFIG_HOME/mimic/policy.conf) may only add exclusions.
 *
 * Default deny: with an empty allowlist nothing is in scope. Password managers
 * and private/incognito browser windows are never in scope, whatever a file
 * says. Files are INI, read with inih; a malformed file is refused with
 * "FILE:LINE: reason" so that a typo never widens what is recorded.
 *
 * A struct policy is read-only after loading and may be shared between threads.
 */
#ifndef MIMIC_POLICY_H
#define MIMIC_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Largest policy file read, in bytes. */
#define POLICY_MAX_BYTES (64 * 1024)

/* Most patterns of one kind (allowed apps, denied titles, ...) across all files. */
#define POLICY_LIST_MAX 256

/* Most [redaction] rules files. */
#define POLICY_RULES_MAX 16

/* The system policy read when `record --policy` (or `export --policy`) is not given. */
#define POLICY_SYSTEM_PATH "/etc/mimic/policy.conf"

struct policy;

/* Why a window is in or out of scope. Stable names: policy_verdict_name. */
enum policy_verdict {
	POLICY_IN = 0,               /* allowlisted app, or a browser on an allowlisted site */
	POLICY_OUT_NO_WINDOW = 1,    /* nothing is focused (or the window is unknown) */
	POLICY_OUT_NOT_ALLOWED = 2,  /* not on the allowlist (default deny) */
	POLICY_OUT_DENIED_APP = 3,   /* on the denylist by WM_CLASS or executable */
	POLICY_OUT_PASSWORD_MANAGER = 4, /* a password manager (built-in list) */
	POLICY_OUT_PRIVATE = 5,      /* a private/incognito window, or a denied title */
	POLICY_OUT_URL_UNKNOWN = 6,  /* a browser whose URL cannot be determined */
	POLICY_OUT_DENIED_SITE = 7,  /* a browser on a denied site */
	POLICY_OUT_SITE_NOT_ALLOWED = 8, /* a browser on a site not on the allowlist */
};

/* What is known about a top-level window. NULL strings count as "". */
struct policy_window {
	const char *wm_instance;     /* WM_CLASS instance part */
	const char *wm_class;        /* WM_CLASS class part */
	const char *exe;             /* /proc/PID/exe target */
	const char *title;           /* _NET_WM_NAME or WM_NAME */
	const char *url;             /* the active tab's URL from AT-SPI, NULL when unknown */
};

/* Modifier bits of the pause hotkey (X11 core modifier masks). */
enum {
	POLICY_MOD_SHIFT = 1 << 0,
	POLICY_MOD_CTRL = 1 << 2,
	POLICY_MOD_ALT = 1 << 3,     /* Mod1 */
	POLICY_MOD_SUPER = 1 << 6,   /* Mod4 */
};

/* A new policy with the built-in defaults: nothing allowed (docs/POLICY.md). */
struct policy *policy_new(void);

/* Frees p. NULL is allowed. */
void policy_free(struct policy *p);

/*
 * Reads one policy file over p. user != 0 reads it as the person's own file,
 * which may only add exclusions: anything else is refused. Errors, with a
 * one-line *cause: -ENOENT / -EACCES / -EISDIR the file cannot be read
 * ("cannot read policy FILE: reason"), -E2BIG larger than POLICY_MAX_BYTES,
 * -EINVAL a malformed line or value ("FILE:LINE: reason"). On error p may hold
 * part of the file: free it.
 */
int policy_load_file(struct policy *p, const char *path, int user, char **cause);

/* policy_load_file on an open stream; name is used in messages. */
int policy_load_stream(struct policy *p, FILE *f, const char *name, int user, char **cause);

/*
 * The policy `mimic record` and `mimic consent` use: system_path when not NULL
 * (it must exist), else POLICY_SYSTEM_PATH when it exists (no file: nothing
 * allowed, no notice), then the person's file when it exists. Same errors as
 * policy_load_file; on success *out owns a new policy.
 */
int policy_load(const char *system_path, struct policy **out /* OUT */, char **cause);

/*
 * Makes p the stricter of p (the local files) and o (the collector's policy),
 * rule by rule (docs/POLICY.md, "The collector's policy"): allowed applications
 * and sites, the intersection (a window must be allowed by both; when only one
 * side lists some, that side's list); denied applications, sites, titles,
 * [browsers], no_keystroke_text and [redaction] rules, the union; screenshots,
 * keystroke_text and url_query, on only when both are on; idle_pause, the
 * sooner; upload_delay, the longer; spool_max, the smaller; upload_interval, the
 * longer (off the longest); a pause hotkey rather than none; o's pseudonym_key;
 * p's notice. A setting only one side sets takes that side's value. label (e.g.
 * "collector policy serial 7") is added to the sources. p and o come from files:
 * neither may be the result of an earlier merge.
 */
void policy_merge_stricter(struct policy *p, const struct policy *o, const char *label);

/*
 * The policy `mimic record` and `mimic upload` apply: policy_load's, merged
 * (policy_merge_stricter) with the collector's signed policy stored in the data
 * directory data_dir (NULL: the default) when the machine is enrolled and one was
 * fetched; it is verified again here. *collector_serial (when not NULL) receives
 * its serial, 0 when none applies. Errors as policy_load, and those of a stored
 * collector policy that no longer verifies (nothing is recorded on it).
 */
int policy_load_effective(const char *system_path, const char *data_dir,
                          struct policy **out /* OUT */, uint64_t *collector_serial /* OUT */,
                          char **cause);

/*
 * Sets *out to the malloc'ed path of the person's policy file
 * ($XDG_CONFIG_HOME/mimic/policy.conf, else $HOME/.config/mimic/policy.conf).
 * -ENOENT when neither variable is usable.
 */
int policy_user_path(char **out /* OUT */);

/* Decides whether a window is in scope. Never logs what it is given. */
enum policy_verdict policy_check(const struct policy *p, const struct policy_window *w);

/* "in", "no-window", "not-allowed", ...; "unknown" for other values. */
const char *policy_verdict_name(int verdict);

/* 1 when the window's WM_CLASS (instance or class) names a browser. */
int policy_is_browser(const struct policy *p, const char *wm_instance, const char *wm_class);

/*
 * Finds a URL in a browser window's title: a token with a scheme
 * ("https://host/path") or a host name with a dot ("host.example.com/path",
 * taken as https). Writes it (NUL-terminated, cut to size) and returns 1, or
 * returns 0 when there is none.
 */
int policy_url_from_title(const char *title, char *out /* OUT */, size_t size);

/*
 * 1 when a window title or prompt looks like it asks for a password or other
 * secret ("Password:", "[sudo] password for", "Passphrase", "PIN", ...): the
 * heuristic used when no accessibility bus tells which field is focused.
 */
int policy_looks_like_password_prompt(const char *text);

/* Screenshots on or off. */
bool policy_screenshots(const struct policy *p);

/* Whether the text of keystrokes is kept in this application. */
bool policy_key_text(const struct policy *p, const char *wm_instance, const char *wm_class);

/*
 * Whether exports keep the query string of a page's URL ([capture] url_query,
 * off by default), each parameter redacted (redact_url_apply); the fragment is
 * never kept.
 */
bool policy_url_query(const struct policy *p);

/* The consent notice file, or NULL when the policy names none. */
const char *policy_notice_path(const struct policy *p);

/*
 * The pause hotkey: *keysym receives the X keysym name (e.g. "p"), *mods the
 * POLICY_MOD_* bits. Returns 0 when a hotkey is set, -ENOENT when it is off.
 */
int policy_pause_hotkey(const struct policy *p, const char **keysym /* OUT */,
                        uint32_t *mods /* OUT */);

/* Milliseconds without input after which recording pauses; 0 = never. */
int64_t policy_idle_pause_ms(const struct policy *p);

/*
 * [upload] (docs/POLICY.md, docs/FLEET.md): how long after its end a session
 * waits before `mimic upload` sends it (POLICY_UPLOAD_DELAY_MS by default, so
 * that `mimic forget` can still act), and the most bytes of sealed bundles the
 * spool may hold (POLICY_SPOOL_MAX by default).
 */
#define POLICY_UPLOAD_DELAY_MS (INT64_C(3600) * 1000)
#define POLICY_SPOOL_MAX (INT64_C(2) << 30)
int64_t policy_upload_delay_ms(const struct policy *p);
int64_t policy_spool_max(const struct policy *p);

/*
 * [upload] upload_interval: how often a running recorder of an enrolled machine
 * runs `mimic upload` by itself (POLICY_UPLOAD_INTERVAL_MS by default; 0: off).
 */
#define POLICY_UPLOAD_INTERVAL_MS (INT64_C(15) * 60 * 1000)
int64_t policy_upload_interval_ms(const struct policy *p);

/* The files read, joined by ", " ("" for the built-in defaults only). */
const char *policy_sources(const struct policy *p);

/*
 * The organisation's redaction rules files ([redaction] rules, absolute paths in
 * the order given), added to the built-in rules by everything that redacts for
 * an export (redact_open_files). *n receives their number (0: none; the array
 * may then be NULL). Valid while p lives.
 */
const char *const *policy_redact_rules(const struct policy *p, size_t *n /* OUT */);

/*
 * The organisation's pseudonym key file ([redaction] pseudonym_key, an absolute
 * path), or NULL when the policy sets none (exports then use the data
 * directory's own key). *where (when where is not NULL) receives "FILE:LINE" of
 * the setting, or NULL.
 */
const char *policy_pseudonym_key(const struct policy *p, const char **where /* OUT */);

/* The effective policy as compact JSON (malloc'ed; never NULL), stored with each session. */
char *policy_to_json(const struct policy *p);

#endif
