/*
 * capture: turns what the X server reports about input (XInput 2.2 raw events),
 * the keyboard (XKB, through keymap) and the focused window (through window)
 * into mimic's events, on one X connection owned by the input thread.
 *
 * Positions: raw events carry valuators, not screen positions, so the position
 * is read with QueryPointer when a button is pressed or released and when a
 * motion sample is taken. Motion samples are thinned to at most 60 per second:
 * raw motion within 1/60 s of the last sample is held and flushed by
 * capture_tick, and a press or release always emits the position it happens at
 * first. Warps (`xdotool mousemove`) produce no raw motion at all, so the pointer
 * is also polled: at 60 Hz while it moved within the last second, at 4 Hz
 * otherwise. A position change with no raw motion since the previous sample was
 * made by a program warping the pointer: it is tagged synthetic, device 0.
 *
 * Because of that polling capture_tick never returns -1 while open. It also
 * handles the events xcb read while waiting for replies (the fd does not announce
 * those again), so the caller must call it before every poll, as the recorder does.
 *
 * What the X protocol cannot give: positions are read when an event is handled,
 * so if this thread falls behind, a click is placed where the pointer is when its
 * press is handled. In a burst of input at machine speed the recorder reads up to
 * 2 ms late on purpose (recorder.c), and the button events of one read share one
 * QueryPointer until raw motion comes between them. Likewise a keymap is read when it is needed: the keysym of a
 * key that xdotool mapped for one keystroke only (characters missing from the
 * layout) is lost when the mapping is gone again by then ("" keysym and text).
 *
 * The agent server's devices (inject.h, docs/AGENTS.md) are a master pair of their
 * own: events of a device named "mimic agent ..." are tagged EVENT_SOURCE_AGENT,
 * placed where the agent's pointer is (the position its absolute raw motion
 * carries, else read from its master; never the core pointer's)
 * and translated with the agent keyboard's own modifier state (keymap_agent_key).
 *
 * EVENT_LAYOUT events carry the layout code in `keysym` (e.g. "de" or
 * "de(nodeadkeys)") and the XKB group in `detail`; EVENT_DEVICES events carry the
 * number of slave devices in `detail`. Key events carry the last known pointer
 * position.
 */
#include "capture.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xcb/xcb.h>
#include <xcb/xinput.h>

#include "clockmap.h"
#include "inject.h"
#include "keymap.h"
#include "log.h"
#include "testbreak.h"
#include "util.h"
#include "window.h"

#define NS_PER_MS 1000000LL
#define MOTION_MIN_NS (1000000000LL / 60)   /* at most 60 motion samples per second */
#define POLL_ACTIVE_NS (1000000000LL / 60)  /* pointer polling while it moves */
#define POLL_IDLE_NS (250 * NS_PER_MS)       /* pointer polling while it rests */
#define MOVING_NS (1000 * NS_PER_MS)         /* "recently moved" */
#define POS_FRESH_NS (16 * NS_PER_MS)        /* a position this old needs no new query */
#define FIRST_KEY_GAP_NS (1000 * NS_PER_MS)  /* a key after this long starts a burst */
#define UNKNOWN_REFRESH_NS (100 * NS_PER_MS) /* least time between device lists for unknown ids */

#define MAX_DEVICES 64
#define MAX_SCROLL_AXES 4
#define DEVICE_NAME_MAX 128

/* XInput scroll class types. */
enum { SCROLL_TYPE_VERTICAL = 1, SCROLL_TYPE_HORIZONTAL = 2 };

struct scroll_axis {
	uint16_t number;           /* valuator number */
	uint16_t type;             /* SCROLL_TYPE_* */
	double increment;          /* valuator units per wheel click; the sign gives the sense */
};

struct device {
	int32_t id;
	int type;                  /* XCB_INPUT_DEVICE_TYPE_* */
	int synthetic;             /* an XTEST device: events from programs */
	int agent;                 /* a device of mimic's agent server (inject.h) */
	char name[DEVICE_NAME_MAX];
	int n_scroll;
	struct scroll_axis scroll[MAX_SCROLL_AXES];
};

struct capture {
	xcb_connection_t *conn;
	xcb_window_t root;
	int32_t screen_w, screen_h;
	uint8_t xi_opcode;
	struct capture_sink sink;
	void *arg;
	struct keymap *keymap;
	struct window *window;

	struct device devs[MAX_DEVICES];
	int n_devs;
	int64_t unknown_refresh_ns;  /* when an unknown device id last made us list them */

	/* The pointer as last read with QueryPointer. */
	int32_t px, py;
	int64_t p_ns;

	/* The last motion sample emitted. */
	int32_t sx, sy;
	int64_t s_ns;

	int held;                  /* the pointer moved since the last sample: emit one soon */
	int raw_moved;             /* raw motion seen since the last sample ... */
	int32_t move_device;       /* ... from this device */
	int32_t move_source;
	int64_t moved_ns;          /* when the pointer was last seen moving */
	int64_t next_poll_ns;

	/*
	 * The agent's pointer, a master of its own (inject.h): where it is (ax/ay), known
	 * from the valuators of its raw motion once one was seen (a_tracked), else read
	 * when needed; and its last sample (a_sx/a_sy at a_ns).
	 */
	int32_t ax, ay;
	int a_tracked;
	int32_t a_sx, a_sy;
	int64_t a_ns;

	/* The pointer position read in this batch (the events of one read) is still where
	 * the pointer is: no raw motion was handled since (see handle_raw_button). */
	int pos_batch;
	uint64_t handled;          /* events handled, for capture_handled */

	int last_was_key;          /* the last input event was a key: no focus re-check */
	int64_t last_key_ns;

	/* The server's event times on the monotonic clock, and the time of the raw event
	 * being handled (0 between events): a sample it causes happened then too. */
	struct clockmap *clock;
	int64_t ev_ns;
	uint32_t ev_ms;            /* ... and its server time */
};

/* --- emitting -------------------------------------------------------------------- */

static void init_event(struct capture *c, struct event *e, int kind, int64_t now)
{
	memset(e, 0, sizeof *e);
	e->t_ns = now;
	e->kind = kind;
	if (c->ev_ns != 0)
		e->server_ms = c->ev_ms;
	e->context = window_context(c->window)->seq;
	e->x = c->px;
	e->y = c->py;
	e->mods = keymap_mods(c->keymap);
}

static void emit(struct capture *c, const struct event *e)
{
	if (c->sink.event != NULL)
		c->sink.event(c->arg, e);
}

static void emit_context(struct capture *c, int changed, int64_t now)
{
	struct event e;

	if (changed == 0)
		return;
	if (c->sink.context != NULL)
		c->sink.context(c->arg, window_context(c->window));
	init_event(c, &e, (changed & WINDOW_CHANGED_FOCUS) ? EVENT_FOCUS : EVENT_TITLE, now);
	emit(c, &e);
}

static void emit_layout(struct capture *c, int64_t now)
{
	struct event e;

	init_event(c, &e, EVENT_LAYOUT, now);
	e.detail = keymap_group(c->keymap);
	keymap_layout(c->keymap, e.keysym, sizeof e.keysym);
	log_debug("keyboard layout changed: %s (group %d)", keymap_summary(c->keymap), e.detail);
	emit(c, &e);
}

/* Rebuilds the keymap when XKB said it changed; emits EVENT_LAYOUT when it did. */
static void update_keymap(struct capture *c)
{
	if (keymap_pending(c->keymap) && keymap_update(c->keymap) == 1)
		emit_layout(c, util_now_mono_ns());
}

/* --- devices --------------------------------------------------------------------- */

static const struct device *find_device(const struct capture *c, int32_t id)
{
	for (int i = 0; i < c->n_devs; i++)
		if (c->devs[i].id == id)
			return &c->devs[i];
	return NULL;
}

static int is_slave(int type)
{
	return type == XCB_INPUT_DEVICE_TYPE_SLAVE_POINTER ||
	       type == XCB_INPUT_DEVICE_TYPE_SLAVE_KEYBOARD ||
	       type == XCB_INPUT_DEVICE_TYPE_FLOATING_SLAVE;
}

static double fp3232(xcb_input_fp3232_t v)
{
	return (double)v.integral + (double)v.frac / 4294967296.0;
}

static void read_scroll_classes(struct device *d, xcb_input_xi_device_info_t *info)
{
	xcb_input_device_class_iterator_t it = xcb_input_xi_device_info_classes_iterator(info);

	for (; it.rem > 0; xcb_input_device_class_next(&it)) {
		const xcb_input_scroll_class_t *s = (const void *)it.data;

		if (it.data->type != XCB_INPUT_DEVICE_CLASS_TYPE_SCROLL ||
		    d->n_scroll >= MAX_SCROLL_AXES)
			continue;
		d->scroll[d->n_scroll].number = s->number;
		d->scroll[d->n_scroll].type = s->scroll_type;
		d->scroll[d->n_scroll].increment = fp3232(s->increment);
		d->n_scroll++;
	}
}

/*
 * Reads the device list again; calls the sink's device callback for each slave
 * not seen before (under that id and name). Returns 1 when the set of slaves
 * changed, 0 when not, -EIO when the server did not answer.
 */
static int refresh_devices(struct capture *c)
{
	xcb_input_xi_query_device_reply_t *r;
	xcb_input_xi_device_info_iterator_t it;
	struct device old[MAX_DEVICES];
	int n_old = c->n_devs, changed = 0, slaves_old = 0, slaves_new = 0;

	r = xcb_input_xi_query_device_reply(c->conn,
	                                    xcb_input_xi_query_device(c->conn, XCB_INPUT_DEVICE_ALL),
	                                    NULL);
	if (r == NULL)
		return -EIO;
	memcpy(old, c->devs, sizeof old);
	c->n_devs = 0;
	for (it = xcb_input_xi_query_device_infos_iterator(r); it.rem > 0;
	     xcb_input_xi_device_info_next(&it)) {
		xcb_input_xi_device_info_t *info = it.data;
		struct device *d;
		int len = xcb_input_xi_device_info_name_length(info);

		if (c->n_devs >= MAX_DEVICES) {
			log_warn("more than %d input devices: ignoring the rest", MAX_DEVICES);
			break;
		}
		d = &c->devs[c->n_devs++];
		memset(d, 0, sizeof *d);
		d->id = info->deviceid;
		d->type = info->type;
		if (len >= DEVICE_NAME_MAX)
			len = DEVICE_NAME_MAX - 1;
		memcpy(d->name, xcb_input_xi_device_info_name(info), (size_t)len);
		d->name[len] = '\0';
		/* Everything xdotool and other XTest clients send comes from the XTEST slaves. */
		d->synthetic = strstr(d->name, "XTEST") != NULL;
		/* The agent server's own pair and its XTEST slaves (inject.h, docs/AGENTS.md). */
		d->agent = strncmp(d->name, INJECT_DEVICE_NAME " ", strlen(INJECT_DEVICE_NAME " ")) == 0;
		read_scroll_classes(d, info);
	}
	free(r);

	for (int i = 0; i < c->n_devs; i++) {
		const struct device *d = &c->devs[i];
		int known = 0;

		if (!is_slave(d->type))
			continue;
		slaves_new++;
		for (int j = 0; j < n_old && !known; j++)
			known = old[j].id == d->id && is_slave(old[j].type) &&
			        strcmp(old[j].name, d->name) == 0;
		if (!known) {
			changed = 1;
			log_info("input device %d: %s%s", (int)d->id, d->name,
			         d->synthetic ? " (synthetic)" : "");
			if (c->sink.device != NULL)
				c->sink.device(c->arg, d->id, d->name, d->synthetic);
		}
	}
	for (int j = 0; j < n_old; j++)
		slaves_old += is_slave(old[j].type);
	if (slaves_old != slaves_new)
		changed = 1;
	return changed;
}

/*
 * The device an event came from. An unknown id (a device added before its
 * hierarchy event was handled) makes us list the devices again, at most ten
 * times a second so that events of a device that is already gone cost nothing.
 */
static const struct device *source_device(struct capture *c, int32_t id)
{
	const struct device *d = find_device(c, id);
	int64_t now;

	if (d != NULL)
		return d;
	now = util_now_mono_ns();
	if (now - c->unknown_refresh_ns < UNKNOWN_REFRESH_NS)
		return NULL;
	c->unknown_refresh_ns = now;
	if (refresh_devices(c) < 0)
		return NULL;
	return find_device(c, id);
}

/* The source of an event from device d (NULL: unknown, taken for a person's). */
static int32_t source_of(const struct device *d)
{
	if (d != NULL && d->agent)
		return testbreak("agent-source-human") ? EVENT_SOURCE_HUMAN : EVENT_SOURCE_AGENT;
	return d != NULL && d->synthetic ? EVENT_SOURCE_SYNTHETIC : EVENT_SOURCE_HUMAN;
}

static int is_agent(struct capture *c, int32_t sourceid)
{
	const struct device *d = source_device(c, sourceid);

	return d != NULL && d->agent;
}

static void set_source(struct capture *c, struct event *e, int32_t sourceid)
{
	e->device = sourceid;
	e->source = source_of(source_device(c, sourceid));
}

static void handle_hierarchy(struct capture *c, int64_t now)
{
	struct event e;
	int n = 0;

	if (refresh_devices(c) != 1)
		return;
	/* A new agent server has a new master pointer: read where it is first. */
	c->a_tracked = 0;
	init_event(c, &e, EVENT_DEVICES, now);
	for (int i = 0; i < c->n_devs; i++)
		n += is_slave(c->devs[i].type);
	e.detail = n;
	emit(c, &e);
}

/* --- pointer --------------------------------------------------------------------- */

/* Reads the pointer position into c->px/py; returns 0 or -EIO. */
static int query_pointer(struct capture *c)
{
	xcb_query_pointer_reply_t *q;

	q = xcb_query_pointer_reply(c->conn, xcb_query_pointer(c->conn, c->root), NULL);
	if (q == NULL)
		return -EIO;
	if (q->same_screen) {
		c->px = q->root_x;
		c->py = q->root_y;
	}
	c->p_ns = util_now_mono_ns();
	free(q);
	return 0;
}

static void emit_sample(struct capture *c)
{
	struct event e;

	/* The position is read now, but a raw event's sample belongs to its moment. */
	init_event(c, &e, EVENT_MOTION, c->ev_ns != 0 && c->ev_ns < c->p_ns ? c->ev_ns : c->p_ns);
	if (c->raw_moved) {
		e.device = c->move_device;
		e.source = c->move_source;
	} else {
		/* Nothing moved the pointer physically: a program warped it. */
		e.device = 0;
		e.source = EVENT_SOURCE_SYNTHETIC;
	}
	emit(c, &e);
	c->sx = c->px;
	c->sy = c->py;
	c->s_ns = c->p_ns;
	c->held = 0;
	c->raw_moved = 0;
}

/*
 * Emits a sample of the position just read when it differs from the last one:
 * at once when `force` (before a press or release) or when 1/60 s has passed
 * since the last sample, else holds it for capture_tick.
 */
static void decide_sample(struct capture *c, int force)
{
	if (c->px == c->sx && c->py == c->sy) {
		c->held = 0;
		c->raw_moved = 0;
		return;
	}
	c->moved_ns = c->p_ns;
	if (force || c->p_ns - c->s_ns >= MOTION_MIN_NS)
		emit_sample(c);
	else
		c->held = 1;
}

/* Reads the position and samples it (see decide_sample). */
static void sample(struct capture *c, int force)
{
	if (query_pointer(c) == 0)
		decide_sample(c, force);
}

/* Notes physical motion from a device; samples now or holds it. */
static void note_motion(struct capture *c, int32_t sourceid, int64_t now)
{
	const struct device *d = source_device(c, sourceid);

	c->pos_batch = testbreak("click-position-kept-after-motion");
	c->raw_moved = 1;
	c->move_device = sourceid;
	c->move_source = source_of(d);
	c->moved_ns = now;
	if (now - c->s_ns >= MOTION_MIN_NS)
		sample(c, 0);
	else
		c->held = 1;
	/* Keep polling fast while the pointer moves. */
	if (c->next_poll_ns > now + POLL_ACTIVE_NS)
		c->next_poll_ns = now + POLL_ACTIVE_NS;
}

static void drain_queued(struct capture *c);

/*
 * Polls the position from capture_tick. Raw motion the server processed before
 * the query arrives before its reply: handling it first credits the movement to
 * its device instead of taking it for a warp.
 */
static void poll_pointer(struct capture *c)
{
	if (query_pointer(c) != 0)
		return;
	drain_queued(c);
	decide_sample(c, 0);
}

/*
 * Emits a motion sample of the agent's pointer when it moved since the last one:
 * at once when force (before a press or release), else at most 60 a second.
 */
static void agent_emit(struct capture *c, int32_t sourceid, int force, int64_t now)
{
	struct event e;

	if ((c->ax == c->a_sx && c->ay == c->a_sy) || (!force && now - c->a_ns < MOTION_MIN_NS))
		return;
	init_event(c, &e, EVENT_MOTION, now);
	set_source(c, &e, sourceid);
	e.x = c->a_sx = c->ax;
	e.y = c->a_sy = c->ay;
	c->a_ns = now;
	emit(c, &e);
}

/*
 * The agent server's pointer is a second master pointer with a position of its
 * own: its events are placed where it is. The server moves it with absolute XTEST
 * motion, whose raw events carry the position in their first two valuators, so
 * handle_raw_motion keeps it exactly, in event order, without a round trip; a
 * position read now would be wherever the agent has gone since (a fast drag's
 * press would be placed at its release). Until such motion is seen (a new server,
 * or one that warps because XTEST does not move the pointer) it is read from the
 * master (the raw event's deviceid). Then a sample is emitted as agent_emit says.
 * Sets c->ax/ay; returns 0 or -EIO.
 */
static int agent_sample(struct capture *c, uint16_t master, int32_t sourceid, int force,
                        int64_t now)
{
	xcb_input_xi_query_pointer_reply_t *r;

	if (!c->a_tracked) {
		r = xcb_input_xi_query_pointer_reply(c->conn,
			xcb_input_xi_query_pointer(c->conn, c->root, master), NULL);
		if (r == NULL)
			return -EIO;
		c->ax = r->root_x / 65536;
		c->ay = r->root_y / 65536;
		free(r);
	}
	agent_emit(c, sourceid, force, now);
	return 0;
}

static void emit_scroll(struct capture *c, int32_t sourceid, int dir, double amount, int64_t now)
{
	struct event e;

	if (now - c->p_ns > POS_FRESH_NS)
		query_pointer(c);
	init_event(c, &e, EVENT_SCROLL, now);
	set_source(c, &e, sourceid);
	if (is_agent(c, sourceid)) {
		e.x = c->ax;
		e.y = c->ay;
		e.mods = keymap_agent_mods(c->keymap);
	}
	e.detail = dir;
	e.amount = amount;
	emit(c, &e);
}

/* --- raw events ------------------------------------------------------------------ */

static void handle_raw_key(struct capture *c, const xcb_input_raw_key_press_event_t *ev,
                           int press, int64_t now)
{
	struct event e;

	update_keymap(c);
	if (c->held)
		sample(c, 1);
	/* Without a window manager nothing announces focus changes: look at the first key. */
	if (press && (!c->last_was_key || now - c->last_key_ns > FIRST_KEY_GAP_NS))
		emit_context(c, window_recheck(c->window, now), now);
	init_event(c, &e, press ? EVENT_KEY_PRESS : EVENT_KEY_RELEASE, now);
	set_source(c, &e, ev->sourceid);
	if (is_agent(c, ev->sourceid)) {
		e.x = c->ax;
		e.y = c->ay;
	}
	e.detail = (int32_t)ev->detail;
	/* Release: the keysym only. Unpaired releases (xdotool sends them) are fine. */
	if (is_agent(c, ev->sourceid))
		keymap_agent_key(c->keymap, ev->detail, press, e.keysym, sizeof e.keysym,
		                 press ? e.text : NULL, sizeof e.text, &e.mods);
	else
		keymap_key(c->keymap, ev->detail, e.keysym, sizeof e.keysym, press ? e.text : NULL,
		           sizeof e.text);
	emit(c, &e);
	if (press) {
		c->last_was_key = 1;
		c->last_key_ns = now;
	}
}

static int has_smooth_scroll(const struct device *d)
{
	return d != NULL && d->n_scroll > 0;
}

static void handle_raw_button(struct capture *c, const xcb_input_raw_button_press_event_t *ev,
                              int press, int64_t now)
{
	const struct device *d = source_device(c, ev->sourceid);
	uint32_t button = ev->detail;
	struct event e;

	/*
	 * The server emulates wheel buttons for smooth-scroll devices: their RawMotion
	 * is reported instead. (Emulated buttons 1-3, from touch, are kept.)
	 */
	if ((ev->flags & XCB_INPUT_POINTER_EVENT_FLAGS_POINTER_EMULATED) && button >= 4 &&
	    button <= 7 && has_smooth_scroll(d))
		return;
	c->last_was_key = 0;
	if (d != NULL && d->agent) {
		agent_sample(c, ev->deviceid, ev->sourceid, 1, now);
	} else if (c->pos_batch || query_pointer(c) == 0) {
		/*
		 * Never lose the position the pointer was at when the button went down or
		 * up. A position read earlier in the same batch is reused when no raw
		 * motion came since: this event was already received when it was read, so
		 * the reply is at least as close to the event as a new one would be, and a
		 * burst of clicks costs one round trip per read instead of one per event.
		 */
		c->pos_batch = 1;
		decide_sample(c, 1);
	}
	if (button >= 4 && button <= 7) {
		static const int dirs[] = { SCROLL_UP, SCROLL_DOWN, SCROLL_LEFT, SCROLL_RIGHT };
		if (!press)
			return;
		emit_scroll(c, ev->sourceid, dirs[button - 4], 1.0, now);
		return;
	}
	/* Without a window manager nothing announces focus changes: look at each press. */
	if (press)
		emit_context(c, window_recheck(c->window, now), now);
	init_event(c, &e, press ? EVENT_BUTTON_PRESS : EVENT_BUTTON_RELEASE, now);
	set_source(c, &e, ev->sourceid);
	if (d != NULL && d->agent) {
		e.x = c->ax;
		e.y = c->ay;
		e.mods = keymap_agent_mods(c->keymap);
	}
	e.detail = (int32_t)button;
	emit(c, &e);
}

/*
 * RawMotion: valuators on a device's scroll axes are smooth scrolling (deltas in
 * units of `increment` per wheel click); any other valuator is pointer motion.
 */
static void handle_raw_motion(struct capture *c, const xcb_input_raw_motion_event_t *ev,
                              int64_t now)
{
	const struct device *d = source_device(c, ev->sourceid);
	const uint32_t *mask = xcb_input_raw_button_press_valuator_mask(ev);
	const xcb_input_fp3232_t *values = xcb_input_raw_button_press_axisvalues(ev);
	int n_values = xcb_input_raw_button_press_axisvalues_length(ev);
	int emulated = (ev->flags & XCB_INPUT_POINTER_EVENT_FLAGS_POINTER_EMULATED) != 0;
	double dv = 0, dh = 0, xy[2] = { 0, 0 };
	int moved = 0, k = 0, n_xy = 0;

	for (int bit = 0; bit < ev->valuators_len * 32 && k < n_values; bit++) {
		int scroll_type = 0;
		double increment = 0;

		if (!(mask[bit / 32] & (1u << (bit % 32))))
			continue;
		for (int i = 0; d != NULL && i < d->n_scroll; i++) {
			if (d->scroll[i].number == bit) {
				scroll_type = d->scroll[i].type;
				increment = d->scroll[i].increment;
			}
		}
		if (scroll_type == 0) {
			moved = 1;
			if (bit < 2) {
				xy[bit] = fp3232(values[k]);
				n_xy++;
			}
		} else if (!emulated && increment != 0) {
			/* Emulated motion mirrors wheel buttons, which are reported already. */
			if (scroll_type == SCROLL_TYPE_VERTICAL)
				dv += fp3232(values[k]) / increment;
			else if (scroll_type == SCROLL_TYPE_HORIZONTAL)
				dh += fp3232(values[k]) / increment;
		}
		k++;
	}
	if (dv != 0 || dh != 0) {
		c->last_was_key = 0;
		if (c->held)
			sample(c, 1);
	}
	if (dv != 0)
		emit_scroll(c, ev->sourceid, dv > 0 ? SCROLL_DOWN : SCROLL_UP, fabs(dv), now);
	if (dh != 0)
		emit_scroll(c, ev->sourceid, dh > 0 ? SCROLL_RIGHT : SCROLL_LEFT, fabs(dh), now);
	if (moved) {
		c->last_was_key = 0;
		if (d != NULL && d->agent && n_xy == 2) {
			/* Absolute XTEST motion: the position itself (see agent_sample). */
			c->ax = (int32_t)lround(xy[0]);
			c->ay = (int32_t)lround(xy[1]);
			c->a_tracked = 1;
			agent_emit(c, ev->sourceid, 0, now);
		} else if (d != NULL && d->agent) {
			agent_sample(c, ev->deviceid, ev->sourceid, 0, now);
		} else {
			note_motion(c, ev->sourceid, now);
		}
	}
}

static void handle_xi(struct capture *c, const xcb_ge_generic_event_t *ge, int64_t now)
{
	switch (ge->event_type) {
	case XCB_INPUT_RAW_KEY_PRESS:
	case XCB_INPUT_RAW_KEY_RELEASE:
		handle_raw_key(c, (const void *)ge, ge->event_type == XCB_INPUT_RAW_KEY_PRESS, now);
		break;
	case XCB_INPUT_RAW_BUTTON_PRESS:
	case XCB_INPUT_RAW_BUTTON_RELEASE:
		handle_raw_button(c, (const void *)ge, ge->event_type == XCB_INPUT_RAW_BUTTON_PRESS,
		                  now);
		break;
	case XCB_INPUT_RAW_MOTION:
		handle_raw_motion(c, (const void *)ge, now);
		break;
	case XCB_INPUT_RAW_TOUCH_BEGIN:
	case XCB_INPUT_RAW_TOUCH_UPDATE:
	case XCB_INPUT_RAW_TOUCH_END:
		/* Touch moves the pointer without RawMotion: note who moved it. */
		note_motion(c, ((const xcb_input_raw_touch_begin_event_t *)ge)->sourceid, now);
		break;
	case XCB_INPUT_HIERARCHY:
		handle_hierarchy(c, now);
		break;
	default:
		break;
	}
}

/*
 * When an XInput event happened, on the monotonic clock: the server's timestamp
 * mapped by the clockmap, so that a turn of the loop that reads it late changes
 * nothing. read_ns when the event has no time.
 */
static int64_t xi_time(struct capture *c, const xcb_ge_generic_event_t *ge, int64_t read_ns)
{
	xcb_timestamp_t t;

	c->ev_ms = 0;
	switch (ge->event_type) {
	case XCB_INPUT_RAW_KEY_PRESS:
	case XCB_INPUT_RAW_KEY_RELEASE:
	case XCB_INPUT_RAW_BUTTON_PRESS:
	case XCB_INPUT_RAW_BUTTON_RELEASE:
	case XCB_INPUT_RAW_MOTION:
	case XCB_INPUT_RAW_TOUCH_BEGIN:
	case XCB_INPUT_RAW_TOUCH_UPDATE:
	case XCB_INPUT_RAW_TOUCH_END:
		/* Every raw event is laid out as a raw key press up to its time. */
		t = ((const xcb_input_raw_key_press_event_t *)ge)->time;
		break;
	case XCB_INPUT_HIERARCHY:
		t = ((const xcb_input_hierarchy_event_t *)ge)->time;
		break;
	default:
		return read_ns;
	}
	c->ev_ms = t;
	if (testbreak("event-time-when-read"))
		return read_ns;
	return clockmap_map(c->clock, t, read_ns);
}

static void handle_event(struct capture *c, const xcb_generic_event_t *ev)
{
	int64_t now = util_now_mono_ns();
	uint8_t type = ev->response_type & 0x7f;

	if (type == 0) {
		const xcb_generic_error_t *err = (const void *)ev;
		/* Expected now and then: a window we watched was destroyed. */
		log_debug("X error %d (request %d.%d)", err->error_code, err->major_code,
		          err->minor_code);
		return;
	}
	if (type == XCB_GE_GENERIC) {
		const xcb_ge_generic_event_t *ge = (const void *)ev;
		if (ge->extension == c->xi_opcode) {
			c->ev_ns = xi_time(c, ge, now);
			handle_xi(c, ge, c->ev_ns);
			c->ev_ns = 0;
		}
		return;
	}
	if (keymap_handle_event(c->keymap, ev) == 1)
		emit_layout(c, now);
	emit_context(c, window_handle_event(c->window, ev, now), now);
}

/* Handles the events xcb already read while waiting for replies. */
static void drain_queued(struct capture *c)
{
	xcb_generic_event_t *ev;

	c->pos_batch = 0;
	while ((ev = xcb_poll_for_queued_event(c->conn)) != NULL) {
		handle_event(c, ev);
		free(ev);
		c->handled++;
	}
}

/* --- open and close -------------------------------------------------------------- */

/*
 * XInput 2 events travel as X generic events. A server can answer the XInput
 * version query and still have the Generic Event Extension switched off, and
 * then no raw event ever arrives: refuse to record nothing silently.
 */
static int check_generic_events(struct capture *c, char **cause)
{
	static const char name[] = "Generic Event Extension";
	xcb_query_extension_reply_t *r;
	int present;

	r = xcb_query_extension_reply(c->conn,
	                              xcb_query_extension(c->conn, sizeof name - 1, name), NULL);
	present = r != NULL && r->present;
	free(r);
	if (!present)
		return util_fail(cause, -ENOTSUP, "the X server lacks XInput 2.2 events (its Generic "
		                 "Event Extension is off); mimic needs its raw input events");
	return 0;
}

static int check_xinput(struct capture *c, char **cause)
{
	const xcb_query_extension_reply_t *ext = xcb_get_extension_data(c->conn, &xcb_input_id);
	xcb_input_xi_query_version_reply_t *v;
	int major, minor;

	if (ext == NULL || !ext->present)
		return util_fail(cause, -ENOTSUP, "the X server lacks XInput 2.2 (it has no XInput "
		                 "extension at all); mimic needs its raw input events");
	c->xi_opcode = ext->major_opcode;
	v = xcb_input_xi_query_version_reply(c->conn, xcb_input_xi_query_version(c->conn, 2, 2),
	                                     NULL);
	if (v == NULL)
		return util_fail(cause, -ENOTSUP, "the X server lacks XInput 2.2 (it did not answer "
		                 "the version query); mimic needs its raw input events");
	major = v->major_version;
	minor = v->minor_version;
	free(v);
	if (major < 2 || (major == 2 && minor < 2))
		return util_fail(cause, -ENOTSUP, "the X server lacks XInput 2.2 (it has %d.%d); "
		                 "mimic needs its raw input events", major, minor);
	return check_generic_events(c, cause);
}

static int select_xinput(struct capture *c, char **cause)
{
	/* Hierarchy changes must be selected on all devices: on masters they give BadValue. */
	struct {
		xcb_input_event_mask_t head;
		uint32_t mask;
	} masks[2] = {
		{ { XCB_INPUT_DEVICE_ALL_MASTER, 1 },
		  XCB_INPUT_XI_EVENT_MASK_RAW_KEY_PRESS | XCB_INPUT_XI_EVENT_MASK_RAW_KEY_RELEASE |
		  XCB_INPUT_XI_EVENT_MASK_RAW_BUTTON_PRESS | XCB_INPUT_XI_EVENT_MASK_RAW_BUTTON_RELEASE |
		  XCB_INPUT_XI_EVENT_MASK_RAW_MOTION | XCB_INPUT_XI_EVENT_MASK_RAW_TOUCH_BEGIN |
		  XCB_INPUT_XI_EVENT_MASK_RAW_TOUCH_UPDATE | XCB_INPUT_XI_EVENT_MASK_RAW_TOUCH_END },
		{ { XCB_INPUT_DEVICE_ALL, 1 }, XCB_INPUT_XI_EVENT_MASK_HIERARCHY },
	};
	xcb_generic_error_t *err;

	err = xcb_request_check(c->conn, xcb_input_xi_select_events_checked(c->conn, c->root, 2,
	                                                                    &masks[0].head));
	if (err != NULL) {
		int code = err->error_code;
		free(err);
		return util_fail(cause, -EIO, "cannot select XInput raw events (X error %d)", code);
	}
	return 0;
}

int capture_open(const char *display, const struct capture_sink *sink, void *arg,
                 struct capture **out, char **cause)
{
	struct capture *c = util_xcalloc(1, sizeof *c);
	xcb_screen_iterator_t sit;
	int screen_num = 0, rc;
	int64_t now;

	*out = NULL;
	c->sink = *sink;
	c->arg = arg;
	c->clock = clockmap_new();
	if (display == NULL)
		display = getenv("DISPLAY");
	if (display == NULL || display[0] == '\0') {
		rc = util_fail(cause, -ENXIO, "no X display: DISPLAY is not set; run inside an X "
		               "session or set DISPLAY");
		goto fail;
	}
	c->conn = xcb_connect(display, &screen_num);
	if (xcb_connection_has_error(c->conn)) {
		rc = util_fail(cause, -ENXIO, "cannot connect to X display '%s'; is the X server "
		               "running?", display);
		goto fail;
	}
	sit = xcb_setup_roots_iterator(xcb_get_setup(c->conn));
	for (int i = 0; i < screen_num && sit.rem > 0; i++)
		xcb_screen_next(&sit);
	if (sit.rem == 0) {
		rc = util_fail(cause, -ENXIO, "X display '%s' has no screen %d", display, screen_num);
		goto fail;
	}
	c->root = sit.data->root;
	c->screen_w = sit.data->width_in_pixels;
	c->screen_h = sit.data->height_in_pixels;

	rc = check_xinput(c, cause);
	if (rc != 0)
		goto fail;
	rc = keymap_open(c->conn, c->root, &c->keymap, cause);
	if (rc != 0)
		goto fail;
	/* Select before reading the device list, so that no change falls in between. */
	rc = select_xinput(c, cause);
	if (rc != 0)
		goto fail;
	if (refresh_devices(c) < 0) {
		rc = util_fail(cause, -EIO, "the X server did not list its input devices");
		goto fail;
	}
	now = util_now_mono_ns();
	rc = window_open(c->conn, c->root, now, &c->window, cause);
	if (rc != 0)
		goto fail;
	if (query_pointer(c) != 0) {
		rc = util_fail(cause, -EIO, "the X server did not tell where the pointer is");
		goto fail;
	}
	/* The starting position is the reference, not a movement. */
	c->sx = c->px;
	c->sy = c->py;
	c->s_ns = c->p_ns;
	c->next_poll_ns = now + POLL_IDLE_NS;
	log_info("capturing on X display %s (%dx%d, keymap %s, %s)", display, (int)c->screen_w,
	         (int)c->screen_h, keymap_summary(c->keymap),
	         window_has_wm(c->window) ? "EWMH window manager" : "no window manager");
	emit_context(c, WINDOW_CHANGED_FOCUS, now);
	*out = c;
	return 0;

fail:
	capture_close(c);
	return rc;
}

void capture_get_info(struct capture *c, struct capture_info *out)
{
	xcb_get_geometry_reply_t *g;

	memset(out, 0, sizeof *out);
	/* The root may have been resized (RandR) since the connection was set up. */
	g = xcb_get_geometry_reply(c->conn, xcb_get_geometry(c->conn, c->root), NULL);
	if (g != NULL) {
		c->screen_w = g->width;
		c->screen_h = g->height;
	}
	free(g);
	out->screen_w = c->screen_w;
	out->screen_h = c->screen_h;
	util_strlcpy_utf8(out->keymap, keymap_summary(c->keymap), sizeof out->keymap);
	out->has_wm = window_has_wm(c->window);
}

int capture_fd(struct capture *c)
{
	return xcb_get_file_descriptor(c->conn);
}

/*
 * Handles what xcb holds, after at most one read from the socket when do_read:
 * xcb_poll_for_event reads only when its queue is empty, and everything that
 * one read brought is then taken with xcb_poll_for_queued_event, which makes no
 * system call. Reading until the socket says EAGAIN would cost one more call per
 * wake-up; what one read leaves in the socket keeps its descriptor readable.
 */
static int dispatch(struct capture *c, int do_read, char **cause)
{
	c->pos_batch = 0;
	for (;;) {
		xcb_generic_event_t *ev = NULL;

		if (do_read)
			ev = xcb_poll_for_event(c->conn);
		do_read = 0;
		if (ev == NULL)
			ev = xcb_poll_for_queued_event(c->conn);
		if (ev == NULL) {
			/* A rebuild makes round trips, which may queue more events: loop. */
			if (keymap_pending(c->keymap) && !xcb_connection_has_error(c->conn)) {
				update_keymap(c);
				continue;
			}
			break;
		}
		handle_event(c, ev);
		free(ev);
		c->handled++;
	}
	if (xcb_connection_has_error(c->conn))
		return util_fail(cause, -EPIPE, "lost the connection to the X server");
	return 0;
}

int capture_dispatch(struct capture *c, char **cause)
{
	return dispatch(c, 1, cause);
}

int capture_dispatch_queued(struct capture *c, char **cause)
{
	return dispatch(c, 0, cause);
}

uint64_t capture_handled(const struct capture *c)
{
	return c->handled;
}

int capture_sync(struct capture *c, char **cause)
{
	xcb_get_input_focus_reply_t *r;

	/*
	 * The reply comes after every event the server generated before it handled
	 * this request, so once it is here those events are in xcb's queue.
	 */
	r = xcb_get_input_focus_reply(c->conn, xcb_get_input_focus(c->conn), NULL);
	free(r);
	return capture_dispatch(c, cause);
}

static int ms_until(int64_t when, int64_t now)
{
	int64_t ms;

	if (when <= now)
		return 1;
	ms = (when - now + NS_PER_MS - 1) / NS_PER_MS;
	return ms > 1000000 ? 1000000 : (int)ms;
}

int capture_tick(struct capture *c, int64_t now_mono_ns)
{
	int64_t now = now_mono_ns, next;
	int wait, win_ms;

	if (xcb_connection_has_error(c->conn))
		return 0;   /* let capture_dispatch report it */
	drain_queued(c);
	update_keymap(c);
	emit_context(c, window_tick(c->window, now, &win_ms), now);

	if ((c->held && now - c->s_ns >= MOTION_MIN_NS) || now >= c->next_poll_ns) {
		poll_pointer(c);
		c->next_poll_ns = now + (now - c->moved_ns < MOVING_NS ? POLL_ACTIVE_NS : POLL_IDLE_NS);
	}
	/* The requests above may have made xcb read events the fd no longer announces. */
	drain_queued(c);
	if (xcb_connection_has_error(c->conn))
		return 0;

	next = c->next_poll_ns;
	if (c->held && c->s_ns + MOTION_MIN_NS < next)
		next = c->s_ns + MOTION_MIN_NS;
	wait = ms_until(next, now);
	if (win_ms >= 0 && win_ms < wait)
		wait = win_ms;
	return wait;
}

void capture_close(struct capture *c)
{
	if (c == NULL)
		return;
	window_close(c->window);
	keymap_close(c->keymap);
	if (c->conn != NULL)
		xcb_disconnect(c->conn);
	clockmap_free(c->clock);
	free(c);
}
