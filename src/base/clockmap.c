/*
 * clockmap: server event times to CLOCK_MONOTONIC, by the smallest delay seen
 * (see clockmap.h for why that estimate is the right one).
 */
#include "clockmap.h"

#include <stdlib.h>

#include "util.h"

#define NS_PER_MS INT64_C(1000000)

struct clockmap {
	int have;            /* an offset has been estimated */
	uint32_t last_raw;   /* the server time last seen, as sent */
	int64_t server_ms;   /* the same, unwrapped (64-bit) */
	int64_t offset_ns;   /* monotonic minus server time, the smallest delay seen */
	int64_t last_read_ns;
};

struct clockmap *clockmap_new(void)
{
	return util_xcalloc(1, sizeof(struct clockmap));
}

void clockmap_free(struct clockmap *m)
{
	free(m);
}

int64_t clockmap_map(struct clockmap *m, uint32_t server_ms, int64_t read_ns)
{
	int64_t offset, allowed;

	if (!m->have) {
		m->server_ms = server_ms;
	} else {
		/*
		 * The signed difference unwraps: across 2^32 it is a small step forward,
		 * and an event a little older than the last one steps back a little.
		 */
		m->server_ms += (int32_t)(server_ms - m->last_raw);
	}
	m->last_raw = server_ms;
	offset = read_ns - m->server_ms * NS_PER_MS;
	if (!m->have) {
		m->have = 1;
		m->offset_ns = offset;
	} else {
		/* Drift may raise the estimate, slowly; a late read alone never does. */
		allowed = m->offset_ns;
		if (read_ns > m->last_read_ns)
			allowed += (read_ns - m->last_read_ns) / (1000000 / CLOCKMAP_DRIFT_PPM);
		m->offset_ns = offset < allowed ? offset : allowed;
	}
	m->last_read_ns = read_ns;
	return m->server_ms * NS_PER_MS + m->offset_ns;
}
