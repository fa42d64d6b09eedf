/*
 * clockmap: maps a display server's own event times (32-bit milliseconds, as X
 * stamps every input event) onto CLOCK_MONOTONIC, so that an event keeps the
 * time it happened at however late the recorder gets to it.
 *
 * The offset between the two clocks is estimated from the events themselves:
 * each event read at monotonic time R with server time S shows an offset of at
 * most R - S (it cannot have been read before it happened), and the smallest
 * such offset seen is the best estimate (the event read with the least delay).
 * A busy loop that reads events late only shows larger offsets, which change
 * nothing. So that two clocks that drift apart (a remote X server) are followed,
 * the estimate may grow by CLOCKMAP_DRIFT_PPM of the time elapsed between
 * observations, never faster; it shrinks at once to any smaller offset seen.
 * Server time that wraps around 2^32 ms (every 49.7 days) is unwrapped.
 *
 * A mapped time is never later than the time it was read at. Not thread-safe:
 * one clockmap per reading thread.
 */
#ifndef MIMIC_CLOCKMAP_H
#define MIMIC_CLOCKMAP_H

#include <stdint.h>

/* The fastest the estimated offset may grow: 200 us per second (17 s a day). */
#define CLOCKMAP_DRIFT_PPM 200

struct clockmap;

/* A new map that has seen nothing yet (never fails: allocation aborts). */
struct clockmap *clockmap_new(void);

/* Frees m; NULL is allowed. */
void clockmap_free(struct clockmap *m);

/*
 * The monotonic time (ns) of an event the server stamped server_ms, read (taken
 * from the connection) at read_ns, CLOCK_MONOTONIC. Updates the estimate.
 */
int64_t clockmap_map(struct clockmap *m, uint32_t server_ms, int64_t read_ns);

#endif
