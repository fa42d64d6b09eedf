/*
 * log: the one logging path of mimic, with levels.
 *
 * Messages go to standard error (and, when set, to a log file). Callers must never
 * pass keystrokes, key text, window titles, URLs, element names or pixels: log what
 * happened and to which numbered thing, never the content a person produced.
 */
#ifndef MIMIC_LOG_H
#define MIMIC_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/*
 * Sets the level from the MIMIC_LOG environment variable ("error", "warn", "info",
 * "debug"); the default is "warn". Safe to call more than once.
 */
void log_init(void);

/* Overrides the level. */
void log_set_level(enum log_level level);

/* Returns the current level. */
enum log_level log_get_level(void);

/*
 * Writes one line "mimic: LEVEL: message" ("mimic[pid]: LEVEL: message" when the
 * level is debug) when level is enabled. LEVEL is error, warn, info or debug. Newlines
 * in the message become spaces; lines are cut at about 1 KiB. Thread-safe: each line
 * is written with a single write(2). errno is preserved.
 */
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
