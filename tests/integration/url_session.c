/*
 * url_session: a test helper that records, into a data directory, one session
 * "web" of a click in a browser window whose page has the URL given, as the
 * recorder stores it (the URL sealed in the context), so that the integration
 * tests can check `mimic events` and `mimic export` on a page's URL without a
 * browser.
 *
 * usage: url_session DATA_DIR URL   (exit status 1 with a message on failure)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "store.h"

int main(int argc, char **argv)
{
	struct store *st = NULL;
	struct store_session s;
	struct context c;
	struct event ev[3];
	char *cause = NULL;
	int64_t id = 0;

	if (argc != 3 || strlen(argv[2]) >= sizeof(c.url)) {
		fprintf(stderr, "usage: url_session DATA_DIR URL (shorter than %zu bytes)\n",
		        sizeof(c.url));
		return 1;
	}
	memset(&s, 0, sizeof(s));
	snprintf(s.name, sizeof(s.name), "web");
	snprintf(s.host, sizeof(s.host), "testhost");
	s.start_wall_ns = 1;
	s.start_mono_ns = 1;
	s.screen_w = 1280;
	s.screen_h = 800;
	memset(&c, 0, sizeof(c));
	c.seq = 1;
	c.w = 800;
	c.h = 600;
	snprintf(c.wm_instance, sizeof(c.wm_instance), "chromium");
	snprintf(c.wm_class, sizeof(c.wm_class), "Chromium");
	snprintf(c.title, sizeof(c.title), "Orders - Chromium");
	snprintf(c.url, sizeof(c.url), "%s", argv[2]);
	memset(ev, 0, sizeof(ev));
	for (int i = 0; i < 3; i++) {
		ev[i].id = i + 1;
		ev[i].context = 1;
		ev[i].x = 100;
		ev[i].y = 200;
		ev[i].detail = 1;
	}
	ev[0].kind = EVENT_FOCUS;
	ev[0].t_ns = 1000000000;
	ev[1].kind = EVENT_BUTTON_PRESS;
	ev[1].t_ns = 2000000000;
	ev[2].kind = EVENT_BUTTON_RELEASE;
	ev[2].t_ns = 2050000000;
	if (store_open(argv[1], 0, &st, &cause) != 0 ||
	    store_session_begin(st, &s, &id, &cause) != 0 ||
	    store_write_batch(st, id, ev, 3, &c, 1, &cause) != 0 ||
	    store_session_end(st, id, 2, "stopped", &cause) != 0) {
		fprintf(stderr, "url_session: %s\n", cause != NULL ? cause : "failed");
		free(cause);
		store_close(st);
		return 1;
	}
	store_close(st);
	return 0;
}
