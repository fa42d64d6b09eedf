/*
 * event: the stable names of event kinds, sources and scroll directions. These
 * names are part of mimic's output format (docs/EVENTS.md, `mimic events`), so,
 * like the numbers in event.h, they are never changed, only added to.
 */
#include "event.h"

#include <stddef.h>
#include <string.h>

static const char *const kind_names[EVENT_KIND_MAX_] = {
	[EVENT_KEY_PRESS] = "key_press",
	[EVENT_KEY_RELEASE] = "key_release",
	[EVENT_BUTTON_PRESS] = "button_press",
	[EVENT_BUTTON_RELEASE] = "button_release",
	[EVENT_MOTION] = "motion",
	[EVENT_SCROLL] = "scroll",
	[EVENT_FOCUS] = "focus",
	[EVENT_TITLE] = "title",
	[EVENT_PAUSE] = "pause",
	[EVENT_RESUME] = "resume",
	[EVENT_LAYOUT] = "layout",
	[EVENT_DEVICES] = "devices",
	[EVENT_SCOPE_OUT] = "out_of_scope",
	[EVENT_SCOPE_IN] = "in_scope",
	[EVENT_SECRET_INPUT] = "secret_input",
};

static const char *const source_names[] = {
	[EVENT_SOURCE_HUMAN] = "human",
	[EVENT_SOURCE_SYNTHETIC] = "synthetic",
	[EVENT_SOURCE_AGENT] = "agent",
};

static const char *const scroll_names[] = {
	[SCROLL_UP] = "up",
	[SCROLL_DOWN] = "down",
	[SCROLL_LEFT] = "left",
	[SCROLL_RIGHT] = "right",
};

const char *event_kind_name(int kind)
{
	if (kind <= 0 || kind >= EVENT_KIND_MAX_)
		return NULL;
	return kind_names[kind];
}

int event_kind_from_name(const char *name)
{
	int k;

	if (name == NULL)
		return 0;
	for (k = 1; k < EVENT_KIND_MAX_; k++) {
		if (kind_names[k] != NULL && strcmp(kind_names[k], name) == 0)
			return k;
	}
	return 0;
}

const char *event_source_name(int source)
{
	if (source < 0 || (size_t)source >= sizeof source_names / sizeof source_names[0])
		return NULL;
	return source_names[source];
}

const char *event_scroll_dir_name(int dir)
{
	if (dir <= 0 || (size_t)dir >= sizeof scroll_names / sizeof scroll_names[0])
		return NULL;
	return scroll_names[dir];
}
