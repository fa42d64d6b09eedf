/*
 * cmd_query: `mimic sessions` and `mimic events`, which read the database
 * (read-only, so they work while a recorder writes).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "event.h"
#include "inject.h"
#include "paths.h"
#include "store.h"
#include "testbreak.h"
#include "util.h"

static int open_store(const char *override, struct store **st, char **cause)
{
	char *dir = NULL;
	int rc;

	rc = paths_data_dir(override, &dir, cause);
	if (rc != 0)
		return rc;
	rc = store_open(dir, STORE_READONLY, st, cause);
	free(dir);
	return rc;
}

static void format_wall(int64_t ns, char *buf, size_t n)
{
	time_t t = (time_t)(ns / 1000000000);
	struct tm tm;

	if (ns <= 0 || localtime_r(&t, &tm) == NULL) {
		snprintf(buf, n, "-");
		return;
	}
	strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

struct sessions_ctx {
	struct store *st;
	int json;
	int n;
	char *cause; /* why print_session failed */
};

static int device_to_json(const struct store_device *d, void *arg)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(d->id));
	json_object_set_new(o, "name", json_string(d->name));
	/* The agent server's devices are XTEST devices of its own (docs/AGENTS.md). */
	json_object_set_new(o, "source", json_string(event_source_name(
		strncmp(d->name, INJECT_DEVICE_NAME " ", strlen(INJECT_DEVICE_NAME " ")) == 0 ?
		EVENT_SOURCE_AGENT : d->synthetic)));
	json_array_append_new(arg, o);
	return 0;
}

static int print_session(const struct store_session *s, void *arg)
{
	struct sessions_ctx *c = arg;
	int64_t counts[EVENT_KIND_MAX_];
	int64_t total = 0;
	char start[32], end[32];

	/* The cause goes back to cmd_sessions, which prints it: one line per failure. */
	if (store_session_counts(c->st, s->id, counts, &c->cause) != 0) {
		if (testbreak("error-twice")) {
			/* The fault: printed here and again, without its cause, by cli_fail. */
			fprintf(stderr, "mimic: %s\n", c->cause);
			free(c->cause);
			c->cause = NULL;
		}
		return -EIO;
	}
	for (int k = 1; k < EVENT_KIND_MAX_; k++)
		total += counts[k];
	c->n++;
	if (c->json) {
		json_t *o = json_object(), *cnt = json_object(), *devs = json_array();
		char *line;

		json_object_set_new(o, "id", json_integer(s->id));
		json_object_set_new(o, "name", json_string(s->name));
		json_object_set_new(o, "host", json_string(s->host));
		json_object_set_new(o, "start_wall_ns", json_integer(s->start_wall_ns));
		json_object_set_new(o, "start_mono_ns", json_integer(s->start_mono_ns));
		json_object_set_new(o, "end_wall_ns",
		                    s->end_wall_ns ? json_integer(s->end_wall_ns) : json_null());
		json_object_set_new(o, "end_reason",
		                    s->end_reason[0] ? json_string(s->end_reason) : json_null());
		json_object_set_new(o, "screen", json_pack("[ii]", s->screen_w, s->screen_h));
		json_object_set_new(o, "keymap", json_string(s->keymap));
		json_object_set_new(o, "version", json_string(s->version));
		for (int k = 1; k < EVENT_KIND_MAX_; k++)
			if (counts[k] > 0)
				json_object_set_new(cnt, event_kind_name(k), json_integer(counts[k]));
		json_object_set_new(o, "events", json_integer(total));
		json_object_set_new(o, "counts", cnt);
		store_devices_foreach(c->st, s->id, device_to_json, devs, NULL);
		json_object_set_new(o, "devices", devs);
		{
			char *config = NULL, *monitors = NULL;

			if (store_session_get_info(c->st, s->id, &config, &monitors, NULL) == 0) {
				json_t *cj = json_loads(config, 0, NULL), *mj = json_loads(monitors, 0,
				                                                          NULL);

				json_object_set_new(o, "monitors", mj != NULL ? mj : json_array());
				json_object_set_new(o, "config", cj != NULL ? cj : json_object());
			}
			free(config);
			free(monitors);
		}
		line = json_dumps(o, JSON_COMPACT);
		printf("%s\n", line);
		free(line);
		json_decref(o);
		return 0;
	}
	format_wall(s->start_wall_ns, start, sizeof start);
	format_wall(s->end_wall_ns, end, sizeof end);
	printf("%-5lld %-20.20s %-19s %-19s %-14s %8lld  keys %lld, clicks %lld, scrolls %lld\n",
	       (long long)s->id, s->name[0] ? s->name : "-", start, end,
	       s->end_reason[0] ? s->end_reason : (s->end_wall_ns ? "-" : "recording"),
	       (long long)total, (long long)counts[EVENT_KEY_PRESS],
	       (long long)counts[EVENT_BUTTON_PRESS], (long long)counts[EVENT_SCROLL]);
	return 0;
}

int cmd_sessions(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_OPTION_DATA_DIR, CLI_OPTION_JSON, CLI_OPTION_HELP, { NULL, 0, NULL, 0 },
	};
	static const char usage[] = "usage: mimic sessions [--data-dir DIR] [--json]\n";
	struct sessions_ctx c = { 0 };
	struct cli_opts co = { 0 };
	char *cause = NULL;
	int rc;

	rc = cli_parse_opts(argc, argv, "d:h", longopts, &co, usage);
	if (rc >= 0)
		return rc;
	c.json = co.json;
	if (open_store(co.data_dir, &c.st, &cause) != 0)
		return cli_fail(cause);
	if (!c.json)
		printf("%-5s %-20s %-19s %-19s %-14s %8s\n", "ID", "NAME", "START", "END", "STATE",
		       "EVENTS");
	rc = store_sessions_foreach(c.st, print_session, &c, &cause);
	store_close(c.st);
	if (rc != 0 && cause == NULL) {
		cause = c.cause;
		c.cause = NULL;
	}
	free(c.cause);
	if (rc != 0 && cause == NULL && !testbreak("error-twice"))
		cause = util_xasprintf("cannot list the sessions: %s", strerror(-rc));
	if (rc != 0)
		return cli_fail(cause);
	return CLI_OK;
}

struct events_ctx {
	int64_t session;
	int64_t start_mono_ns;
	json_t *obj;
	struct store *st;
	struct store_element *el;  /* scratch for the element of a press or key press */
};

/* The "element" member of a press or key press (docs/ELEMENTS.md); NULL when none. */
static json_t *element_json(struct events_ctx *c, int64_t id)
{
	static const char *const kinds[] = { "", "press", "typing", "shortcut" };
	static const char *const statuses[] = {
		"ok", "no-element", "mismatch", "timeout", "degraded", "dropped",
	};
	static const char *const sources[] = {
		"", "hover", "hover-gone", "press", "focus-event", "focus-search", "recent", "map",
	};
	const struct store_element *e = c->el;
	json_t *o, *states, *anc;
	char names[STORE_EL_STATES_MAX];
	char *save = NULL;

	if (store_element_get(c->st, c->session, id, c->el, NULL) != 0)
		return NULL;
	o = json_object();
	json_object_set_new(o, "kind", json_string(e->kind >= 1 && e->kind <= 3 ?
	                                           kinds[e->kind] : "unknown"));
	json_object_set_new(o, "status", json_string(e->status >= 0 && e->status <= 5 ?
	                                             statuses[e->status] : "unknown"));
	if (e->kind == STORE_ELEMENT_SHORTCUT)
		json_object_set_new(o, "chord", json_string(e->chord));
	json_object_set_new(o, "lookup_ms", json_real(e->lookup_us / 1000.0));
	if (e->status != 0)
		return o;
	json_object_set_new(o, "role", json_string(e->role));
	json_object_set_new(o, "name", json_string(e->name));
	json_object_set_new(o, "label", json_string(e->label));
	json_object_set_new(o, "description", json_string(e->description));
	states = json_array();
	util_strlcpy_utf8(names, e->state_names, sizeof names);
	for (char *t = strtok_r(names, " ", &save); t != NULL; t = strtok_r(NULL, " ", &save))
		json_array_append_new(states, json_string(t));
	json_object_set_new(o, "states", states);
	json_object_set_new(o, "bounds", json_pack("[iiii]", e->x, e->y, e->w, e->h));
	json_object_set_new(o, "app", json_string(e->app));
	json_object_set_new(o, "pid", json_integer(e->pid));
	anc = json_array();
	for (int i = 0; i < e->n_ancestors; i++)
		json_array_append_new(anc, json_pack("{s:s,s:s}", "role", e->ancestors[i].role,
		                                     "name", e->ancestors[i].name));
	json_object_set_new(o, "ancestors", anc);
	json_object_set_new(o, "menu_path", json_string(e->menu_path));
	json_object_set_new(o, "shortcut", json_string(e->shortcut));
	json_object_set_new(o, "url", json_string(e->url));
	if (e->target[0] != '\0')
		json_object_set_new(o, "target", json_string(e->target));
	json_object_set_new(o, "popup", json_boolean(e->popup));
	json_object_set_new(o, "source", json_string(e->source >= 0 && e->source <= 7 ?
	                                             sources[e->source] : "unknown"));
	return o;
}

static int print_event(int64_t id, const struct event *ev, const struct context *ctx, void *arg)
{
	struct events_ctx *c = arg;
	json_t *o = c->obj;
	const char *kind = event_kind_name(ev->kind);

	json_object_clear(o);
	json_object_set_new(o, "id", json_integer(id));
	json_object_set_new(o, "session", json_integer(c->session));
	json_object_set_new(o, "t_ns", json_integer(ev->t_ns));
	json_object_set_new(o, "offset_ns", json_integer(ev->t_ns - c->start_mono_ns));
	json_object_set_new(o, "kind", json_string(kind ? kind : "unknown"));
	if (ev->context != 0)
		json_object_set_new(o, "context", json_integer(ev->context));
	switch (ev->kind) {
	case EVENT_KEY_PRESS:
	case EVENT_KEY_RELEASE:
		json_object_set_new(o, "keycode", json_integer(ev->detail));
		json_object_set_new(o, "keysym", json_string(ev->keysym));
		if (ev->kind == EVENT_KEY_PRESS)
			json_object_set_new(o, "text", json_string(ev->text));
		json_object_set_new(o, "mods", json_integer(ev->mods));
		break;
	case EVENT_BUTTON_PRESS:
	case EVENT_BUTTON_RELEASE:
		json_object_set_new(o, "button", json_integer(ev->detail));
		json_object_set_new(o, "x", json_integer(ev->x));
		json_object_set_new(o, "y", json_integer(ev->y));
		json_object_set_new(o, "mods", json_integer(ev->mods));
		break;
	case EVENT_MOTION:
		json_object_set_new(o, "x", json_integer(ev->x));
		json_object_set_new(o, "y", json_integer(ev->y));
		break;
	case EVENT_SCROLL: {
		const char *dir = event_scroll_dir_name(ev->detail);
		json_object_set_new(o, "direction", json_string(dir ? dir : "unknown"));
		json_object_set_new(o, "amount", json_real(ev->amount));
		json_object_set_new(o, "x", json_integer(ev->x));
		json_object_set_new(o, "y", json_integer(ev->y));
		break;
	}
	case EVENT_LAYOUT:
		json_object_set_new(o, "keymap", json_string(ev->keysym));
		json_object_set_new(o, "group", json_integer(ev->detail));
		break;
	case EVENT_DEVICES:
		json_object_set_new(o, "count", json_integer(ev->detail));
		break;
	case EVENT_FOCUS:
	case EVENT_TITLE:
		if (ctx != NULL) {
			json_t *w = json_object();
			json_object_set_new(w, "id", json_integer(ctx->window));
			json_object_set_new(w, "wm_instance", json_string(ctx->wm_instance));
			json_object_set_new(w, "wm_class", json_string(ctx->wm_class));
			json_object_set_new(w, "title", json_string(ctx->title));
			/* A browser window's page, opened from its sealed copy. */
			if (ctx->url[0] != '\0')
				json_object_set_new(w, "url", json_string(ctx->url));
			json_object_set_new(w, "pid", json_integer(ctx->pid));
			json_object_set_new(w, "exe", json_string(ctx->exe));
			json_object_set_new(w, "geometry",
			                    json_pack("[iiii]", ctx->x, ctx->y, ctx->w, ctx->h));
			json_object_set_new(o, "window", w);
		}
		break;
	default:
		break;
	}
	switch (ev->kind) {
	case EVENT_KEY_PRESS:
	case EVENT_KEY_RELEASE:
	case EVENT_BUTTON_PRESS:
	case EVENT_BUTTON_RELEASE:
	case EVENT_MOTION:
	case EVENT_SCROLL:
		json_object_set_new(o, "source", json_string(event_source_name(ev->source)));
		json_object_set_new(o, "device", json_integer(ev->device));
		break;
	default:
		break;
	}
	if (ev->kind == EVENT_BUTTON_PRESS || ev->kind == EVENT_KEY_PRESS ||
	    ev->kind == EVENT_SECRET_INPUT) {
		json_t *el = element_json(c, id);

		if (el != NULL)
			json_object_set_new(o, "element", el);
	}
	return cli_print_json_line(o);
}

/* One intervention as a line of `mimic events --interventions` (docs/AGENTS.md). */
static int print_intervention(const struct store_intervention *iv, void *arg)
{
	struct events_ctx *c = arg;
	json_t *o, *pending = iv->pending[0] ? json_loads(iv->pending, 0, NULL) : NULL;
	char *line;

	o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:s, s:i, s:o}", "intervention", (json_int_t)iv->id,
	              "t_ms", (json_int_t)((iv->t_ns - c->start_mono_ns) / 1000000),
	              "end_ms", (json_int_t)((iv->end_ns - c->start_mono_ns) / 1000000),
	              "first_event", (json_int_t)iv->first_event,
	              "end_event", (json_int_t)iv->end_event,
	              "handback", store_handback_name(iv->handback),
	              "refused", iv->refused, "pending", pending ? pending : json_null());
	line = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (line == NULL)
		return -ENOMEM;
	puts(line);
	free(line);
	return 0;
}

int cmd_events(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_OPTION_DATA_DIR, CLI_OPTION_HELP,
		{ "interventions", no_argument, NULL, 'I' }, { NULL, 0, NULL, 0 },
	};
	static const char usage[] = "usage: mimic events SESSION [--interventions] [--data-dir DIR]\n"
	                            "SESSION is a session id, a session name, or `last`.\n"
	                            "--interventions: the takeovers of agent runs instead of the "
	                            "events (docs/AGENTS.md).\n";
	int interventions = 0, ch;
	struct events_ctx c = { 0 };
	struct cli_opts co = { 0 };
	struct store_session s;
	struct store *st = NULL;
	char *cause = NULL;
	int rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
		if (ch == 'I') {
			interventions = 1;
			continue;
		}
		if ((rc = cli_opt(ch, &co, usage)) >= 0)
			return rc;
	}
	if (optind + 1 != argc)
		return cli_usage_error(usage);
	if (open_store(co.data_dir, &st, &cause) != 0)
		return cli_fail(cause);
	rc = store_session_resolve(st, argv[optind], &c.session, &cause);
	if (rc == 0)
		rc = store_session_get(st, c.session, &s, &cause);
	if (rc == 0) {
		c.start_mono_ns = s.start_mono_ns;
		c.obj = json_object();
		c.st = st;
		c.el = util_xmalloc(sizeof(*c.el));
		if (interventions)
			rc = store_interventions_foreach(st, c.session, print_intervention, &c, &cause);
		else
			rc = store_events_foreach(st, c.session, print_event, &c, &cause);
		free(c.el);
		json_decref(c.obj);
	}
	store_close(st);
	if (fflush(stdout) != 0 && rc == 0)
		rc = util_fail(&cause, -EIO, "cannot write the events: %s", strerror(errno));
	if (rc != 0 && cause == NULL)
		cause = util_xasprintf("cannot write the events: %s", strerror(-rc));
	if (rc != 0)
		return cli_fail(cause);
	return CLI_OK;
}
