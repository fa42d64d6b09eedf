/*
 * uia: UI element context from AT-SPI, on a thread of its own (see uia.h for the
 * contract, uia_int.h for how the module is split). This file holds what the
 * caller's threads share with the uia thread: the requests (a bounded queue and
 * one pending hover), the ring of results, the counters and the focused element
 * uia_focused reports, all under one mutex that is never held across an AT-SPI
 * call.
 */
#include "uia_int.h"

#include <string.h>
#include <unistd.h>

#include "log.h"

void uia_wake(int fd)
{
	uint64_t one = 1;
	ssize_t w = write(fd, &one, sizeof one);

	(void)w; /* EAGAIN only when the counter is saturated: it is readable anyway */
}

static void count_status_locked(struct uia *u, int status)
{
	switch (status) {
	case UIA_OK: u->stats.ok++; break;
	case UIA_NO_ELEMENT: u->stats.no_element++; break;
	case UIA_MISMATCH: u->stats.mismatch++; break;
	case UIA_TIMEOUT: u->stats.timeout++; break;
	case UIA_DEGRADED: u->stats.degraded++; break;
	case UIA_DROPPED: u->stats.dropped++; break;
	default: break;
	}
}

/* Returns the ring slot for the next result, overwriting the oldest when full. */
static struct uia_element *result_slot_locked(struct uia *u)
{
	size_t i;

	if (u->res_len == RESULTS_MAX) {
		u->res_head = (u->res_head + 1) % RESULTS_MAX;
		u->res_len--;
		u->stats.results_lost++;
	}
	i = (u->res_head + u->res_len) % RESULTS_MAX;
	u->res_len++;
	return &u->res[i];
}

/* Queues a result without an element (degraded, dropped, timeout...). */
void uia_push_empty_locked(struct uia *u, const struct request *r, int status)
{
	struct uia_element *el = result_slot_locked(u);
	int64_t lat = util_now_mono_ns() - r->t_ns;

	memset(el, 0, sizeof *el);
	el->event_id = r->event_id;
	el->t_ns = r->t_ns;
	el->kind = r->kind == REQ_TYPING ? UIA_KIND_TYPING : UIA_KIND_PRESS;
	el->status = status;
	el->lookup_us = lat > 0 ? (int32_t)(lat / 1000 > INT32_MAX ? INT32_MAX : lat / 1000) : 0;
	el->window = r->has_hint ? r->hint.window : 0;
	count_status_locked(u, status);
	uia_wake(u->result_fd);
}

void uia_note_input(struct uia *u)
{
	pthread_mutex_lock(&u->mu);
	u->input_gen++;
	pthread_mutex_unlock(&u->mu);
}

void uia_post(struct uia *u, const struct request *in)
{
	struct request rq = *in;
	const struct request *r = &rq;

	pthread_mutex_lock(&u->mu);
	if (r->kind == REQ_POPUP) {
		/* Only the newest popup is mapped: it replaces one waiting. */
		if (u->state != ST_DEGRADED && !u->stopping) {
			u->popup_req = *r;
			u->popup_pending = 1;
			u->popup_due = r->t_ns + (int64_t)POPUP_MAP_DELAY_MS * MS_NS;
			u->popup_tries = 0;
		}
		pthread_mutex_unlock(&u->mu);
		uia_wake(u->wake_fd);
		return;
	}
	if (r->kind == REQ_HOVER)
		u->stats.hovers++;
	else if (r->kind == REQ_PRESS)
		u->stats.presses++;
	else
		u->stats.typings++;
	if (u->state == ST_DEGRADED || u->stopping) {
		if (r->kind != REQ_HOVER)
			uia_push_empty_locked(u, r, UIA_DEGRADED);
		pthread_mutex_unlock(&u->mu);
		return;
	}
	if (r->kind == REQ_HOVER) {
		u->hover = *r;
		u->hover_pending = 1;
	} else {
		if (u->q_len == QUEUE_MAX) {
			uia_push_empty_locked(u, &u->q[0], UIA_DROPPED);
			memmove(&u->q[0], &u->q[1], (QUEUE_MAX - 1) * sizeof u->q[0]);
			u->q_len--;
		}
		u->q[u->q_len++] = *r;
	}
	pthread_mutex_unlock(&u->mu);
	uia_wake(u->wake_fd);
}

/*
 * Stamps a request as the caller's thread posts it: the keys and scrolls noted so
 * far, and the presses before it (counted here, when the input thread sees them,
 * not when the pointer thread passes them on).
 */
static void stamp(struct uia *u, struct request *r)
{
	pthread_mutex_lock(&u->mu);
	r->gen = u->input_gen;
	r->press_seq = u->press_calls;
	if (r->kind == REQ_PRESS)
		u->press_calls++;
	pthread_mutex_unlock(&u->mu);
}

void uia_fill_request(struct uia *u, struct request *r, int kind, int64_t event_id, int32_t x,
                      int32_t y, int64_t t_ns, const struct uia_window_hint *hint)
{
	memset(r, 0, sizeof *r);
	r->kind = kind;
	r->event_id = event_id;
	r->t_ns = t_ns;
	r->x = x;
	r->y = y;
	if (hint != NULL) {
		r->has_hint = 1;
		r->hint = *hint;
	}
	stamp(u, r);
}

void uia_hover(struct uia *u, int32_t x, int32_t y, int64_t t_ns,
               const struct uia_window_hint *hint)
{
	struct request r;

	uia_fill_request(u, &r, REQ_HOVER, 0, x, y, t_ns, hint);
	uia_post(u, &r);
}

void uia_press(struct uia *u, int64_t event_id, int32_t x, int32_t y, int64_t t_ns,
               const struct uia_window_hint *hint)
{
	struct request r;

	uia_fill_request(u, &r, REQ_PRESS, event_id, x, y, t_ns, hint);
	uia_post(u, &r);
}

void uia_typing_start(struct uia *u, int64_t event_id, int64_t t_ns,
                      const struct uia_window_hint *hint)
{
	struct request r;

	uia_fill_request(u, &r, REQ_TYPING, event_id, 0, 0, t_ns, hint);
	uia_post(u, &r);
}

size_t uia_take_results(struct uia *u, struct uia_element *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&u->mu);
	while (n < max && u->res_len > 0) {
		out[n++] = u->res[u->res_head];
		u->res_head = (u->res_head + 1) % RESULTS_MAX;
		u->res_len--;
	}
	if (u->res_len == 0) {
		uint64_t v;
		ssize_t r = read(u->result_fd, &v, sizeof v);
		(void)r; /* EAGAIN when nothing was signalled */
	}
	pthread_mutex_unlock(&u->mu);
	return n;
}

int uia_fd(struct uia *u)
{
	return u->result_fd;
}

void uia_get_stats(struct uia *u, struct uia_stats *out)
{
	pthread_mutex_lock(&u->mu);
	*out = u->stats;
	pthread_mutex_unlock(&u->mu);
}

int uia_is_degraded(struct uia *u, char *reason, size_t reason_size)
{
	int degraded;

	pthread_mutex_lock(&u->mu);
	degraded = u->state != ST_READY;
	if (reason != NULL && reason_size > 0) {
		if (u->state == ST_STARTING)
			set_str(reason, "still connecting to the accessibility bus", reason_size);
		else
			set_str(reason, degraded ? u->reason : "", reason_size);
	}
	pthread_mutex_unlock(&u->mu);
	return degraded;
}

/* Makes el (NULL: none) the focused element uia_focused reports (uia thread). */
void uia_publish_focus(struct uia *u, const struct uia_element *el, int64_t read_ns)
{
	pthread_mutex_lock(&u->mu);
	memset(&u->focus, 0, sizeof u->focus);
	if (el != NULL) {
		u->focus.known = 1;
		u->focus.password = (el->states & UIA_STATE_PASSWORD) != 0;
		u->focus.pid = el->pid;
		u->focus.x = el->x;
		u->focus.y = el->y;
		u->focus.w = el->w;
		u->focus.h = el->h;
		u->focus.read_ns = read_ns;
		set_str(u->focus.role, el->role, sizeof u->focus.role);
	}
	pthread_mutex_unlock(&u->mu);
}

int uia_focused(struct uia *u, struct uia_focus *out)
{
	pthread_mutex_lock(&u->mu);
	*out = u->focus;
	pthread_mutex_unlock(&u->mu);
	return out->known && out->password;
}

/* Called on the uia thread: from now on every request is answered UIA_DEGRADED. */
void uia_set_degraded(struct uia *u, const char *why)
{
	struct request q[QUEUE_MAX];
	size_t n;

	pthread_mutex_lock(&u->mu);
	u->state = ST_DEGRADED;
	memset(&u->focus, 0, sizeof u->focus);
	set_str(u->reason, why, sizeof u->reason);
	n = u->q_len;
	memcpy(q, u->q, n * sizeof q[0]);
	u->q_len = 0;
	u->hover_pending = 0;
	for (size_t i = 0; i < n; i++)
		uia_push_empty_locked(u, &q[i], UIA_DEGRADED);
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->mu);
	log_warn("uia: working without UI elements: %s", why);
}

void uia_push_result(struct uia *u, struct uia_element *el)
{
	int64_t lat = util_now_mono_ns() - el->t_ns;

	el->lookup_us = lat > 0 ? (int32_t)(lat / 1000 > INT32_MAX ? INT32_MAX : lat / 1000) : 0;
	pthread_mutex_lock(&u->mu);
	*result_slot_locked(u) = *el;
	count_status_locked(u, el->status);
	uia_wake(u->result_fd);
	pthread_mutex_unlock(&u->mu);
}

void uia_base_result(struct uia_element *el, const struct request *r)
{
	memset(el, 0, sizeof *el);
	el->event_id = r->event_id;
	el->t_ns = r->t_ns;
	el->kind = r->kind == REQ_TYPING ? UIA_KIND_TYPING : UIA_KIND_PRESS;
	el->window = r->has_hint ? r->hint.window : 0;
}
