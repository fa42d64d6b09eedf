/*
 * uia_pointer: the pointer thread of uia_attach_x, which asks the display for the
 * window under the pointer (pointer.h) for hovers and presses off the caller's
 * thread, and follows the popups being mapped, unmapped and moved.
 */
#include "uia_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pointer.h"

/* Posts r with hint (NULL: unknown) as the request it stands for. */
static void post_with_hint(struct uia *u, const struct request *r,
                           const struct uia_window_hint *hint)
{
	struct request q = *r;

	q.has_hint = hint != NULL;
	if (hint != NULL)
		q.hint = *hint;
	else
		memset(&q.hint, 0, sizeof q.hint);
	uia_post(u, &q);
}

/*
 * The hint for a press at the point of the last hover: X's view now, unless a
 * popup appeared or vanished there in between. GTK maps a combo box's list or a
 * menu while it handles the press, and closes a menu when an item is clicked, both
 * within a millisecond or two, i.e. before this thread gets to ask X; the window
 * under the pointer *at* the press is then the one the hover saw. A new ordinary
 * window (a dialog that came up under the resting pointer) is believed.
 */
static const struct uia_window_hint *press_hint(const struct uia_window_hint *now,
                                                const struct uia_window_hint *hover)
{
	if (hover != NULL && now->window != hover->window && (now->popup || hover->popup))
		return hover;
	return now;
}

/*
 * Stamps r with what is known of popups, right after its round trips: how many
 * came, went or moved so far, and whether none covers r's point.
 */
static void stamp_popups(struct uia *u, struct request *r)
{
	r->popup_known = !pointer_popups_at(u->ptr, r->x, r->y, &r->popup_gen);
	/* A press is late here by the time this thread gets to it, and its own popup
	 * may be up already: what the popups were at the press itself. */
	if (r->kind == REQ_PRESS)
		r->at_press_known = pointer_popup_gen_at_press(u->ptr, r->server_ms,
		                                               &r->at_press_gen,
		                                               &r->at_press_top) == 0;
	r->at_press_top_known = r->at_press_known;
}

/* Asks for the items of a popup shown since the last call to be mapped (uia_map.c). */
static void post_new_popup(struct uia *u)
{
	struct uia_window_hint h;
	struct request r;

	if (pointer_new_popup(u->ptr, &h) != 1 || h.w <= 0 || h.h <= 0)
		return;
	uia_fill_request(u, &r, REQ_POPUP, 0, h.x + h.w / 2, h.y + h.h / 2, util_now_mono_ns(),
	                 &h);
	uia_post(u, &r);
}

static void *x_main(void *arg)
{
	struct uia *u = arg;
	struct uia_window_hint hover_hint;
	int32_t hover_x = 0, hover_y = 0;
	uint32_t hover_top = 0;
	int have_hover = 0;
	int64_t watch_until = 0; /* a press may open a popup: look for one often till then */

	pointer_follow_popups(u->ptr);
	pthread_mutex_lock(&u->x_mu);
	for (;;) {
		struct request r;
		struct uia_window_hint hint;
		int32_t px, py;
		int rc, degraded;

		while (!u->x_stopping && u->x_len == 0) {
			struct timespec ts;
			long wait_ms = util_now_mono_ns() < watch_until ? POPUP_WATCH_STEP_MS : 500;

			/* Wake now and then to take X's events, so that they never pile up; often
			 * for a while after a press, to see the popup it opens (a combo box's
			 * list) and have it mapped before the next press picks an item. */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += wait_ms * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (pthread_cond_timedwait(&u->x_cond, &u->x_mu, &ts) == ETIMEDOUT &&
			    u->x_len == 0 && !u->x_stopping) {
				pthread_mutex_unlock(&u->x_mu);
				pointer_take_events(u->ptr);
				post_new_popup(u);
				pthread_mutex_lock(&u->x_mu);
			}
		}
		if (u->x_len == 0)
			break; /* stopping, and nothing left: every press has been posted */
		r = u->x_q[0];
		memmove(&u->x_q[0], &u->x_q[1], (u->x_len - 1) * sizeof u->x_q[0]);
		u->x_len--;
		if (r.kind == REQ_PRESS)
			watch_until = util_now_mono_ns() + (int64_t)POPUP_WATCH_MS * MS_NS;
		if (u->x_stopping) {
			/* Answer the presses still waiting without asking X. */
			if (r.kind == REQ_PRESS)
				post_with_hint(u, &r, NULL);
			continue;
		}
		pthread_mutex_unlock(&u->x_mu);
		pthread_mutex_lock(&u->mu);
		degraded = u->state == ST_DEGRADED;
		pthread_mutex_unlock(&u->mu);
		if (degraded) {
			if (r.kind == REQ_PRESS)
				post_with_hint(u, &r, NULL);
		} else {
			uint32_t top = 0;

			if (pointer_broken(u->ptr)) {
				rc = -EIO;
			} else if (r.kind == REQ_PRESS && have_hover && r.x == hover_x &&
			           r.y == hover_y && pointer_still(u->ptr, hover_x, hover_y, hover_top)) {
				/* One round trip: still there, over the same top-level window. The
				 * hint is the hover's, not asked again: no remembered element. */
				stamp_popups(u, &r);
				r.popup_known = 0;
				r.at_press_known = 0;
				post_with_hint(u, &r, &hover_hint);
				pthread_mutex_lock(&u->x_mu);
				continue;
			} else {
				rc = pointer_hint(u->ptr, &hint, &px, &py, &top);
				stamp_popups(u, &r);
			}
			if (r.kind == REQ_HOVER) {
				/* The pointer moved on since it rested: that hover is stale. */
				if (rc == 0 && px == r.x && py == r.y) {
					post_with_hint(u, &r, &hint);
					hover_hint = hint;
					hover_x = r.x;
					hover_y = r.y;
					hover_top = top;
					have_hover = 1;
				}
			} else if (rc == 0) {
				int at_hover = have_hover && r.x == hover_x && r.y == hover_y;

				/* The window the pointer rested over has gone since the press (the
				 * press closed it: a dialog's OK): the press was made in it. */
				if (at_hover && hint.window != hover_hint.window &&
				    pointer_gone_since_press(u->ptr, r.server_ms, hover_top))
					post_with_hint(u, &r, &hover_hint);
				else
					post_with_hint(u, &r, press_hint(&hint, at_hover ? &hover_hint : NULL));
			} else {
				post_with_hint(u, &r, NULL);
			}
			if (!pointer_broken(u->ptr))
				post_new_popup(u);
		}
		pthread_mutex_lock(&u->x_mu);
	}
	pthread_mutex_unlock(&u->x_mu);
	return NULL;
}

int uia_attach_x(struct uia *u, const char *display, char **cause)
{
	int err;
	sigset_t all, old;

	if (u->x_started)
		return util_fail(cause, -EBUSY, "uia already has an X connection");
	err = pointer_open(display, &u->ptr, cause);
	if (err != 0)
		return err;
	pthread_mutex_init(&u->x_mu, NULL);
	pthread_cond_init(&u->x_cond, NULL);
	/* Signals belong to the caller's main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&u->x_thread, NULL, x_main, u);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		pthread_mutex_destroy(&u->x_mu);
		pthread_cond_destroy(&u->x_cond);
		pointer_close(u->ptr);
		u->ptr = NULL;
		return util_fail(cause, -err, "cannot start the pointer thread: %s", strerror(err));
	}
	u->x_started = 1;
	return 0;
}

void uia_x_detach(struct uia *u)
{
	if (!u->x_started)
		return;
	pthread_mutex_lock(&u->x_mu);
	u->x_stopping = 1;
	pthread_cond_signal(&u->x_cond);
	pthread_mutex_unlock(&u->x_mu);
	pthread_join(u->x_thread, NULL);
	pthread_mutex_destroy(&u->x_mu);
	pthread_cond_destroy(&u->x_cond);
	pointer_close(u->ptr);
	u->ptr = NULL;
	u->x_started = 0;
}

/* Queues r for the pointer thread; without one (or when it is full) posts it unhinted. */
static void x_post(struct uia *u, const struct request *r)
{
	if (!u->x_started) {
		post_with_hint(u, r, NULL);
		return;
	}
	pthread_mutex_lock(&u->x_mu);
	if (r->kind == REQ_HOVER) {
		/* Only the newest hover matters: replace a waiting one. */
		for (size_t i = 0; i < u->x_len; i++) {
			if (u->x_q[i].kind == REQ_HOVER) {
				memmove(&u->x_q[i], &u->x_q[i + 1], (u->x_len - i - 1) * sizeof u->x_q[0]);
				u->x_len--;
				break;
			}
		}
	}
	if (u->x_len == QUEUE_MAX) {
		pthread_mutex_unlock(&u->x_mu);
		if (r->kind == REQ_PRESS)
			post_with_hint(u, r, NULL);
		return;
	}
	u->x_q[u->x_len++] = *r;
	pthread_cond_signal(&u->x_cond);
	pthread_mutex_unlock(&u->x_mu);
}

void uia_hover_at(struct uia *u, int32_t x, int32_t y, int64_t t_ns)
{
	struct request r;

	uia_fill_request(u, &r, REQ_HOVER, 0, x, y, t_ns, NULL);
	x_post(u, &r);
}

void uia_press_at(struct uia *u, int64_t event_id, int32_t x, int32_t y, int64_t t_ns,
                  uint32_t server_ms)
{
	struct request r;

	uia_fill_request(u, &r, REQ_PRESS, event_id, x, y, t_ns, NULL);
	r.server_ms = server_ms;
	x_post(u, &r);
}
