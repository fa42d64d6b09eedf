/*
 * review: the `mimic review` web page (review.h): the server, the pages and the
 * deletions. Requests are checked by review_http; HTML is built with
 * review_html; steps and screenshots come from export_walk, deletions go through
 * forget_locked.
 */
#include "review.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "audit.h"
#include "dbuf.h"
#include "forget.h"
#include "log.h"
#include "paths.h"
#include "review_html.h"
#include "review_http.h"
#include "store.h"
#include "util.h"

/* Screenshots kept in memory for the session shown; past this, steps show none. */
#define REVIEW_IMAGES_MAX ((size_t)256 << 20)

/* One step of the session shown, as export_walk gave it. */
struct rstep {
	int64_t episode, step;
	int64_t t_start_ns, t_end_ns;
	int64_t ep_start_ns, ep_end_ns;   /* export_step's episode_start_ns, episode_end_ns */
	int64_t pre_ns;                   /* export_step's pre_frame_ns */
	char *words;
	char *app;
	char *kind;
	char *task;                /* the episode's task, redacted; NULL when unlabelled */
	int redacted;
	int excluded;              /* its episode is marked "do not use" */
	int verdict;               /* 0 image, 1 dropped by redaction, < 0 none */
	uint8_t *img;
	size_t img_len;
};

/* The session shown: its steps, rebuilt when its page is asked for. */
struct view {
	int64_t session;           /* 0: none */
	struct rstep *v;
	size_t n, cap;
	size_t img_bytes;
	struct store_session info;
};

struct review {
	const struct review_opts *o;
	char *data_dir;
	struct review_secrets sec;
	struct view view;
};

/* What a connection has received, from its first callback to its end. */
struct conn {
	char uri[REVIEW_URI_MAX + 1];
	int uri_over;
	int started;
	struct dbuf body;
	int body_over;
};

/* ---- the session shown ---- */

static void view_clear(struct view *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->v[i].words);
		free(w->v[i].app);
		free(w->v[i].kind);
		free(w->v[i].task);
		free(w->v[i].img);
	}
	free(w->v);
	memset(w, 0, sizeof(*w));
}

static int on_step(void *arg, const struct export_step *st)
{
	struct view *w = arg;
	struct rstep *r;
	char words[600];
	const char *app = json_string_value(json_object_get(st->json, "app"));
	const char *kind = json_string_value(json_object_get(st->json, "kind"));
	const char *task = json_string_value(json_object_get(st->json, "task"));

	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->v = util_xrealloc(w->v, w->cap * sizeof(*w->v));
	}
	r = &w->v[w->n++];
	memset(r, 0, sizeof(*r));
	r->episode = st->episode;
	r->step = st->step;
	r->t_start_ns = st->t_start_ns;
	r->t_end_ns = st->t_end_ns;
	r->ep_start_ns = st->episode_start_ns;
	r->ep_end_ns = st->episode_end_ns;
	r->pre_ns = st->pre_frame_ns;
	review_html_step_words(st->json, words, sizeof(words));
	r->words = util_xstrdup(words);
	r->app = util_xstrdup(app != NULL ? app : "");
	r->kind = util_xstrdup(kind != NULL ? kind : "");
	r->task = task != NULL ? util_xstrdup(task) : NULL;
	r->redacted = st->redacted;
	r->excluded = st->excluded;
	r->verdict = st->image_verdict;
	if (st->image_verdict == 0) {
		if (w->img_bytes + st->image_len > REVIEW_IMAGES_MAX) {
			r->verdict = -ENOMEM;
		} else {
			r->img = util_xmalloc(st->image_len);
			memcpy(r->img, st->image, st->image_len);
			r->img_len = st->image_len;
			w->img_bytes += st->image_len;
		}
	}
	return 0;
}

/* Rebuilds the view of session id as an export would give it. */
static int view_load(struct review *rv, int64_t id, char **cause)
{
	struct export_opts o = *rv->o->export_opts;
	struct export_report rep;
	struct store *st = NULL;
	int rc;

	view_clear(&rv->view);
	rc = store_open(rv->data_dir, STORE_READONLY, &st, cause);
	if (rc == 0)
		rc = store_session_get(st, id, &rv->view.info, cause);
	store_close(st);
	if (rc != 0)
		return rc;
	o.data_dir = rv->data_dir;
	o.sessions = &id;
	o.n_sessions = 1;
	o.show_excluded = 1;
	rc = export_walk(&o, on_step, &rv->view, &rep, cause);
	if (rc != 0) {
		view_clear(&rv->view);
		return rc;
	}
	rv->view.session = id;
	return 0;
}

static const struct rstep *view_find(const struct view *w, int64_t episode, int64_t step)
{
	for (size_t i = 0; i < w->n; i++) {
		if (w->v[i].episode == episode && (step < 0 || w->v[i].step == step))
			return &w->v[i];
	}
	return NULL;
}

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *con, int status, const char *type,
                               void *data, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, data, mode);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "Content-Security-Policy",
	                        "default-src 'self'; frame-ancestors 'none'; form-action 'self'");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	ret = MHD_queue_response(con, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A failure told on the page, in words the person reads (cause). */
static void alert(struct dbuf *b, const char *cause)
{
	dbuf_adds(b, "<p role=\"alert\">");
	review_html_text(b, cause);
	dbuf_adds(b, "</p>");
}

static enum MHD_Result respond_page(struct MHD_Connection *con, int status, struct dbuf *b)
{
	size_t len = b->len;
	char *s = dbuf_take(b);

	return respond(con, status, "text/html; charset=utf-8", s, len, MHD_RESPMEM_MUST_FREE);
}

/* A short page for a refusal or an error: the status and a fixed reason. */
static enum MHD_Result respond_error(struct review *rv, struct MHD_Connection *con, int status,
                                     const char *why)
{
	struct dbuf b;
	char title[64];

	dbuf_init(&b, REVIEW_HTML_MAX);
	snprintf(title, sizeof(title), "%d %s", status, review_http_status_text(status));
	/* Nothing of the run's secrets: the request may not have carried the token. */
	review_html_begin(&b, title, NULL);
	dbuf_adds(&b, "<h1>");
	review_html_text(&b, title);
	dbuf_adds(&b, "</h1><p>");
	review_html_text(&b, why);
	dbuf_adds(&b, "</p>");
	review_html_end(&b);
	return respond_page(con, status, &b);
}

/* ---- pages ---- */

static void nav(struct review *rv, struct dbuf *b)
{
	dbuf_printf(b, "<nav aria-label=\"pages\"><a href=\"/?t=%s\">All sessions</a>"
	               "<a href=\"/audit?t=%s\">Audit log</a></nav>\n", rv->sec.token,
	            rv->sec.token);
}

enum { T_DAY, T_HM, T_FULL };

/* Local time of wall_ns: the day ("Monday 2026-12-05"), "HH:MM" or date and time. */
static void fmt_time(int64_t wall_ns, int how, char *buf, size_t n)
{
	time_t t = (time_t)(wall_ns / 1000000000);
	struct tm tm;

	if (wall_ns <= 0 || localtime_r(&t, &tm) == NULL) {
		snprintf(buf, n, "-");
		return;
	}
	if (how == T_DAY)
		strftime(buf, n, "%A %Y-%m-%d", &tm);
	else if (how == T_HM)
		strftime(buf, n, "%H:%M", &tm);
	else
		strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

struct home {
	struct review *rv;
	struct store *st;
	struct dbuf *b;
	char day[32];
};

static int home_session(const struct store_session *s, void *arg)
{
	struct home *h = arg;
	struct dbuf *b = h->b;
	int64_t counts[EVENT_KIND_MAX_];
	char day[32], t0[16], t1[16];

	memset(counts, 0, sizeof(counts));
	if (store_session_counts(h->st, s->id, counts, NULL) != 0)
		memset(counts, 0, sizeof(counts));
	fmt_time(s->start_wall_ns, T_DAY, day, sizeof(day));
	if (strcmp(day, h->day) != 0) {
		if (h->day[0] != '\0')
			dbuf_adds(b, "</tbody></table>\n");
		util_strlcpy_utf8(h->day, day, sizeof(h->day));
		dbuf_adds(b, "<h2>");
		review_html_text(b, day);
		dbuf_adds(b, "</h2>\n<table><thead><tr><th scope=\"col\">Session</th>"
		             "<th scope=\"col\">Time</th><th scope=\"col\">Events</th>"
		             "<th scope=\"col\">Pauses</th><th scope=\"col\">Out of scope</th>"
		             "<th scope=\"col\">Password fields</th><th scope=\"col\">Ended</th>"
		             "</tr></thead><tbody>\n");
	}
	fmt_time(s->start_wall_ns, T_HM, t0, sizeof(t0));
	fmt_time(s->end_wall_ns, T_HM, t1, sizeof(t1));
	dbuf_printf(b, "<tr><td><a href=\"/session?t=%s&amp;s=%" PRId64 "\">Session %" PRId64,
	            h->rv->sec.token, s->id, s->id);
	if (s->name[0] != '\0') {
		dbuf_adds(b, ": ");
		review_html_text(b, s->name);
	}
	{
		int64_t all = 0;

		for (int k = 0; k < EVENT_KIND_MAX_; k++)
			all += counts[k];
		dbuf_printf(b, "</a></td><td>%s - %s</td><td>%" PRId64 "</td><td>%" PRId64
		               "</td><td>%" PRId64 " times</td><td>%" PRId64 " times</td><td>",
		            t0, s->end_wall_ns > 0 ? t1 : "(recording or interrupted)", all,
		            counts[EVENT_PAUSE], counts[EVENT_SCOPE_OUT], counts[EVENT_SECRET_INPUT]);
	}
	review_html_text(b, s->end_reason[0] != '\0' ? s->end_reason : "-");
	dbuf_adds(b, "</td></tr>\n");
	return 0;
}

static enum MHD_Result page_home(struct review *rv, struct MHD_Connection *con)
{
	struct dbuf b;
	struct home h;
	char *cause = NULL;
	int rc;

	memset(&h, 0, sizeof(h));
	dbuf_init(&b, REVIEW_HTML_MAX);
	review_html_begin(&b, "Sessions", rv->sec.token);
	nav(rv, &b);
	dbuf_adds(&b, "<main><h1>What mimic recorded</h1>\n<p>Each session below is what one "
	              "<code>mimic record</code> stored. Open one to see its steps as an export "
	              "would give them, and delete what you do not want to give. Out-of-scope "
	              "time and password fields are counted only: their content was never "
	              "recorded.</p>\n");
	h.rv = rv;
	h.b = &b;
	rc = store_open(rv->data_dir, STORE_READONLY, &h.st, &cause);
	if (rc == 0)
		rc = store_sessions_foreach(h.st, home_session, &h, &cause);
	store_close(h.st);
	if (h.day[0] != '\0')
		dbuf_adds(&b, "</tbody></table>\n");
	else if (rc == 0)
		dbuf_adds(&b, "<p>Nothing is recorded.</p>\n");
	if (rc != 0)
		alert(&b, cause);
	free(cause);
	dbuf_adds(&b, "</main>");
	review_html_end(&b);
	return respond_page(con, 200, &b);
}

/* A link to the confirmation of a deletion. */
static void delete_link(struct review *rv, struct dbuf *b, const char *what, int64_t s,
                        int64_t e, int64_t k, const char *label)
{
	dbuf_printf(b, "<a href=\"/confirm?t=%s&amp;what=%s&amp;s=%" PRId64, rv->sec.token, what, s);
	if (e >= 0)
		dbuf_printf(b, "&amp;e=%" PRId64, e);
	if (k >= 0)
		dbuf_printf(b, "&amp;k=%" PRId64, k);
	dbuf_adds(b, "\">");
	review_html_text(b, label);
	dbuf_adds(b, "</a>");
}

static void step_row(struct review *rv, struct dbuf *b, const struct rstep *r)
{
	const struct view *w = &rv->view;
	double t = (double)(r->t_start_ns - w->info.start_mono_ns) / 1e9;
	char label[80];

	dbuf_printf(b, "<tr id=\"e%" PRId64 "-k%" PRId64 "\" class=\"step\"><td>%" PRId64
	               "</td><td>%.1f s</td><td class=\"words\">", r->episode, r->step, r->step, t);
	review_html_text(b, r->words);
	if (r->redacted)
		dbuf_adds(b, " <em>(redacted: text the rules found was replaced)</em>");
	dbuf_adds(b, "</td><td>");
	if (r->verdict == 0) {
		dbuf_printf(b, "<img class=\"shot\" src=\"/image?t=%s&amp;s=%" PRId64 "&amp;e=%" PRId64
		               "&amp;k=%" PRId64 "\" alt=\"the screen before step %" PRId64 ": ",
		            rv->sec.token, w->session, r->episode, r->step, r->step);
		review_html_text(b, r->words);
		dbuf_adds(b, "\">");
	} else if (r->verdict == 1) {
		dbuf_adds(b, "<div class=\"drop\">Screenshot dropped: redaction found something it "
		             "must not show (an export leaves it out)</div>");
	} else if (r->verdict == -ENOMEM) {
		dbuf_adds(b, "<div class=\"drop\">Too many screenshots to show at once</div>");
	} else {
		dbuf_adds(b, "<div class=\"drop\">No screenshot for this step</div>");
	}
	dbuf_adds(b, "</td><td>");
	snprintf(label, sizeof(label), "Delete step %" PRId64, r->step);
	delete_link(rv, b, "step", w->session, r->episode, r->step, label);
	dbuf_adds(b, "</td></tr>\n");
}

static enum MHD_Result page_session(struct review *rv, struct MHD_Connection *con,
                                    const struct review_request *q)
{
	struct view *w = &rv->view;
	struct dbuf b;
	char *cause = NULL, title[64], t0[32];
	int rc = view_load(rv, q->session, &cause);

	if (rc == -ENOENT) {
		free(cause);
		return respond_error(rv, con, 404, "no such session");
	}
	dbuf_init(&b, REVIEW_HTML_MAX);
	snprintf(title, sizeof(title), "Session %" PRId64, q->session);
	review_html_begin(&b, title, rv->sec.token);
	nav(rv, &b);
	dbuf_printf(&b, "<main><h1>%s</h1>\n", title);
	if (rc != 0) {
		alert(&b, cause);
		dbuf_adds(&b, "</main>");
		free(cause);
		review_html_end(&b);
		return respond_page(con, 500, &b);
	}
	fmt_time(w->info.start_wall_ns, T_FULL, t0, sizeof(t0));
	dbuf_printf(&b, "<p>Started %s; %zu steps as an export would give them. ", t0, w->n);
	delete_link(rv, &b, "session", w->session, -1, -1, "Delete this whole session");
	dbuf_adds(&b, "</p>\n<p>Applications recorded: ");
	for (size_t i = 0, shown = 0; i < w->n; i++) {
		size_t j;

		for (j = 0; j < i && strcmp(w->v[j].app, w->v[i].app) != 0; j++)
			;
		if (j < i || w->v[i].app[0] == '\0')
			continue;
		if (shown++ > 0)
			dbuf_adds(&b, ", ");
		review_html_text(&b, w->v[i].app);
	}
	dbuf_adds(&b, "</p>\n");
	dbuf_printf(&b, "<form method=\"get\" action=\"/confirm\"><fieldset><legend>Delete a time "
	                "range of this session</legend><input type=\"hidden\" name=\"t\" "
	                "value=\"%s\"><input type=\"hidden\" name=\"what\" value=\"range\">"
	                "<input type=\"hidden\" name=\"s\" value=\"%" PRId64 "\">"
	                "<label for=\"from\">From (seconds after the start)</label> "
	                "<input id=\"from\" name=\"from\" type=\"number\" min=\"0\" required> "
	                "<label for=\"to\">to</label> "
	                "<input id=\"to\" name=\"to\" type=\"number\" min=\"1\" required> "
	                "<button type=\"submit\">Delete this range...</button></fieldset></form>\n",
	            rv->sec.token, w->session);
	for (size_t i = 0; i < w->n; i++) {
		const struct rstep *r = &w->v[i];

		if (i == 0 || w->v[i - 1].episode != r->episode) {
			size_t steps = 0;

			for (size_t j = i; j < w->n && w->v[j].episode == r->episode; j++)
				steps++;
			if (i > 0)
				dbuf_adds(&b, "</tbody></table></section>\n");
			dbuf_printf(&b, "<section class=\"episode\" id=\"e%" PRId64 "\" aria-labelledby="
			                "\"h-e%" PRId64 "\"><h2 id=\"h-e%" PRId64 "\">Episode %" PRId64
			                "", r->episode, r->episode, r->episode, r->episode);
			if (r->task != NULL) {
				dbuf_adds(&b, ": ");
				review_html_text(&b, r->task);
			}
			dbuf_adds(&b, " (");
			review_html_text(&b, r->app[0] ? r->app : "unknown application");
			dbuf_printf(&b, ", %zu steps)</h2>", steps);
			if (r->excluded)
				dbuf_adds(&b, "<p class=\"excl\"><strong>Do not use:</strong> kept out of "
				              "every export.</p>");
			dbuf_printf(&b, "<form method=\"post\" action=\"/exclude?t=%s\"><p>"
			                "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
			                "<input type=\"hidden\" name=\"s\" value=\"%" PRId64 "\">"
			                "<input type=\"hidden\" name=\"e\" value=\"%" PRId64 "\">%s"
			                "<button type=\"submit\">%s</button> ", rv->sec.token, rv->sec.csrf,
			            w->session, r->episode,
			            r->excluded ? "<input type=\"hidden\" name=\"undo\" value=\"1\">" : "",
			            r->excluded ? "Use this episode again" : "Do not use this episode");
			delete_link(rv, &b, "episode", w->session, r->episode, -1,
			            "Delete this episode");
			dbuf_adds(&b, "</p></form>\n<table><thead><tr><th scope=\"col\">Step</th>"
			              "<th scope=\"col\">When</th><th scope=\"col\">What you did</th>"
			              "<th scope=\"col\">Screen before it</th><th scope=\"col\">Delete"
			              "</th></tr></thead><tbody>\n");
		}
		step_row(rv, &b, r);
	}
	if (w->n > 0)
		dbuf_adds(&b, "</tbody></table></section>\n");
	dbuf_adds(&b, "</main>");
	review_html_end(&b);
	return respond_page(con, 200, &b);
}

static enum MHD_Result page_image(struct review *rv, struct MHD_Connection *con,
                                  const struct review_request *q)
{
	const struct rstep *r;
	enum encode_format f;
	char *cause = NULL;

	if (rv->view.session != q->session && view_load(rv, q->session, &cause) != 0) {
		free(cause);
		return respond_error(rv, con, 404, "no such session");
	}
	r = view_find(&rv->view, q->episode, q->step);
	if (r == NULL || r->verdict != 0)
		return respond_error(rv, con, 404, "no such image");
	if (encode_sniff(r->img, r->img_len, &f) != 0)
		return respond_error(rv, con, 500, "the image could not be read");
	return respond(con, 200, f == ENCODE_PNG ? "image/png" : f == ENCODE_JPEG ? "image/jpeg"
	               : "image/webp", r->img, r->img_len, MHD_RESPMEM_MUST_COPY);
}

static int audit_row(const struct audit_record *r, void *arg)
{
	struct dbuf *b = arg;

	dbuf_printf(b, "<tr><td>%" PRId64 "</td><td>", r->seq);
	review_html_text(b, r->time);
	dbuf_adds(b, "</td><td>");
	review_html_text(b, r->user);
	dbuf_adds(b, "</td><td>");
	review_html_text(b, r->what);
	dbuf_adds(b, "</td><td><code>");
	review_html_text(b, r->details);
	dbuf_adds(b, "</code></td></tr>\n");
	return 0;
}

static enum MHD_Result page_audit(struct review *rv, struct MHD_Connection *con)
{
	struct dbuf b;
	char *cause = NULL;
	int rc;

	dbuf_init(&b, REVIEW_HTML_MAX);
	review_html_begin(&b, "Audit log", rv->sec.token);
	nav(rv, &b);
	dbuf_adds(&b, "<main><h1>Audit log</h1><p>Every consent, pause, deletion and export, in "
	              "order. Each record is chained to the one before it "
	              "(<code>mimic audit --verify</code> checks the chain).</p>\n"
	              "<table><thead><tr><th scope=\"col\">#</th><th scope=\"col\">When (UTC)</th>"
	              "<th scope=\"col\">User</th><th scope=\"col\">What</th>"
	              "<th scope=\"col\">Details</th></tr></thead><tbody>\n");
	rc = audit_foreach(rv->data_dir, audit_row, &b, &cause);
	dbuf_adds(&b, "</tbody></table>\n");
	if (rc == -ENOENT)
		dbuf_adds(&b, "<p>The audit log is empty.</p>");
	else if (rc != 0)
		alert(&b, cause);
	free(cause);
	dbuf_adds(&b, "</main>");
	review_html_end(&b);
	return respond_page(con, 200, &b);
}

/*
 * What a deletion covers, as a forget spec, and in words. The ids must belong
 * to the session: a step or an episode is looked up in the session's steps.
 * Returns 0, or 404 with *why.
 */
static int deletion_spec(struct review *rv, const struct review_request *q,
                         struct store_forget *spec, char *what, size_t n, const char **why)
{
	struct view *w = &rv->view;
	const struct store_session *si = &w->info;
	int64_t from = INT64_MIN, to = INT64_MAX;
	char *cause = NULL;

	if (view_load(rv, q->session, &cause) != 0) {
		free(cause);
		*why = "no such session";
		return 404;
	}
	memset(spec, 0, sizeof(*spec));
	spec->session = q->session;
	if (q->what == REVIEW_WHAT_STEP || q->what == REVIEW_WHAT_EPISODE) {
		size_t first = SIZE_MAX, last = 0;

		for (size_t i = 0; i < w->n; i++) {
			if (w->v[i].episode == q->episode &&
			    (q->what == REVIEW_WHAT_EPISODE || w->v[i].step == q->step)) {
				if (first == SIZE_MAX)
					first = i;
				last = i;
			}
		}
		if (first == SIZE_MAX) {
			*why = q->what == REVIEW_WHAT_STEP ? "no such step in this session"
			                                   : "no such episode in this session";
			return 404;
		}
		/*
		 * The screens taken after an action (what it left on the screen) go with
		 * it: a range ends where the next step, or the next episode's task
		 * marker, begins. An episode goes with its task markers; a step leaves
		 * them, so that the rest of its task stays labelled.
		 */
		if (last + 1 < w->n) {
			to = w->v[last + 1].t_start_ns;
			if (w->v[last + 1].episode != w->v[last].episode &&
			    w->v[last + 1].ep_start_ns < to)
				to = w->v[last + 1].ep_start_ns;
		} else {
			to = INT64_MAX;
		}
		from = w->v[first].t_start_ns;
		if (q->what == REVIEW_WHAT_EPISODE && w->v[first].ep_start_ns < from)
			from = w->v[first].ep_start_ns;
		/*
		 * The first step's screenshot may be older than the step (the screen had
		 * not changed): it goes too, unless an earlier step kept it.
		 */
		if (w->v[first].pre_ns > 0 && w->v[first].pre_ns < from &&
		    (first == 0 || w->v[first - 1].t_end_ns < w->v[first].pre_ns))
			from = w->v[first].pre_ns;
		if (q->what == REVIEW_WHAT_STEP && w->v[last].ep_end_ns > 0 &&
		    w->v[last].ep_end_ns > w->v[last].t_end_ns && w->v[last].ep_end_ns < to)
			to = w->v[last].ep_end_ns;
		from = si->start_wall_ns + (from - si->start_mono_ns);
		if (to != INT64_MAX)
			to = si->start_wall_ns + (to - si->start_mono_ns);
		if (q->what == REVIEW_WHAT_STEP)
			snprintf(what, n, "step %" PRId64 " of episode %" PRId64 " of session %" PRId64,
			         q->step, q->episode, q->session);
		else
			snprintf(what, n, "episode %" PRId64 " of session %" PRId64, q->episode,
			         q->session);
	} else if (q->what == REVIEW_WHAT_RANGE) {
		from = si->start_wall_ns + q->from_s * 1000000000;
		to = si->start_wall_ns + q->to_s * 1000000000;
		snprintf(what, n, "seconds %" PRId64 " to %" PRId64 " of session %" PRId64,
		         q->from_s, q->to_s, q->session);
	} else {
		snprintf(what, n, "session %" PRId64, q->session);
	}
	spec->from_wall_ns = from;
	spec->to_wall_ns = to;
	return 0;
}

static void hidden(struct dbuf *b, const char *name, int64_t v)
{
	if (v >= 0)
		dbuf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"%" PRId64 "\">", name, v);
}

static enum MHD_Result page_confirm(struct review *rv, struct MHD_Connection *con,
                                    const struct review_request *q)
{
	static const char *const whats[] = { "", "step", "episode", "session", "range" };
	struct store_forget spec;
	const char *why = "";
	char what[200];
	struct dbuf b;
	int status = deletion_spec(rv, q, &spec, what, sizeof(what), &why);

	if (status != 0)
		return respond_error(rv, con, status, why);
	dbuf_init(&b, REVIEW_HTML_MAX);
	review_html_begin(&b, "Delete?", rv->sec.token);
	nav(rv, &b);
	dbuf_adds(&b, "<main><h1>Delete ");
	review_html_text(&b, what);
	dbuf_adds(&b, "?</h1><p>Everything recorded in it (input, screenshots, window records) is "
	              "deleted from the data directory and cannot be brought back. The audit log "
	              "keeps a record that it was deleted, with counts only.</p>\n");
	dbuf_printf(&b, "<form method=\"post\" action=\"/delete?t=%s\">"
	                "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
	                "<input type=\"hidden\" name=\"what\" value=\"%s\">",
	            rv->sec.token, rv->sec.csrf, whats[q->what]);
	hidden(&b, "s", q->session);
	hidden(&b, "e", q->episode);
	hidden(&b, "k", q->step);
	hidden(&b, "from", q->from_s);
	hidden(&b, "to", q->to_s);
	dbuf_printf(&b, "<button type=\"submit\" id=\"confirm\">Delete</button> "
	                "<a href=\"/session?t=%s&amp;s=%" PRId64 "\">Cancel</a></form></main>",
	            rv->sec.token, q->session);
	review_html_end(&b);
	return respond_page(con, 200, &b);
}

static enum MHD_Result page_delete(struct review *rv, struct MHD_Connection *con,
                                   const struct review_request *q)
{
	struct store_forget spec;
	struct forget_result res;
	const char *why = "";
	char what[200], *cause = NULL;
	struct dbuf b;
	int status = deletion_spec(rv, q, &spec, what, sizeof(what), &why), rc;

	if (status != 0)
		return respond_error(rv, con, status, why);
	view_clear(&rv->view);
	rc = forget_locked(rv->data_dir, &spec, what, &res, &cause);
	dbuf_init(&b, REVIEW_HTML_MAX);
	review_html_begin(&b, rc == 0 ? "Deleted" : "Not deleted", rv->sec.token);
	nav(rv, &b);
	if (rc != 0) {
		dbuf_adds(&b, "<main><h1>Nothing was deleted</h1>");
		alert(&b, cause);
		dbuf_adds(&b, "</main>");
		free(cause);
		review_html_end(&b);
		return respond_page(con, rc == -EBUSY ? 409 : 500, &b);
	}
	dbuf_adds(&b, "<main><h1>Deleted ");
	review_html_text(&b, what);
	dbuf_printf(&b, "</h1><p role=\"status\" id=\"result\">%" PRId64 " events, %" PRId64
	                " screenshots, %" PRId64 " window records and %" PRId64 " sessions deleted; "
	                "%" PRId64 " screenshot files removed. The audit log records it.</p>",
	            res.rows.events, res.rows.frames, res.rows.contexts, res.rows.sessions,
	            res.files);
	if (q->what != REVIEW_WHAT_SESSION)
		dbuf_printf(&b, "<p><a href=\"/session?t=%s&amp;s=%" PRId64 "\">Back to session %"
		                PRId64 "</a></p>", rv->sec.token, q->session, q->session);
	dbuf_adds(&b, "</main>");
	review_html_end(&b);
	return respond_page(con, 200, &b);
}

/* Marks an episode "do not use" (or, with undo, not any more): kept out of every export. */
static enum MHD_Result page_exclude(struct review *rv, struct MHD_Connection *con,
                                    const struct review_request *q)
{
	struct view *w = &rv->view;
	struct store *st = NULL;
	int64_t from = 0, to = 0;
	size_t first = SIZE_MAX, last = 0;
	char *cause = NULL;
	struct dbuf b;
	int rc;

	if (view_load(rv, q->session, &cause) != 0) {
		free(cause);
		return respond_error(rv, con, 404, "no such session");
	}
	for (size_t i = 0; i < w->n; i++) {
		if (w->v[i].episode == q->episode) {
			if (first == SIZE_MAX)
				first = i;
			last = i;
		}
	}
	if (first == SIZE_MAX)
		return respond_error(rv, con, 404, "no such episode in this session");
	from = w->v[first].ep_start_ns < w->v[first].t_start_ns ? w->v[first].ep_start_ns
	                                                        : w->v[first].t_start_ns;
	to = w->v[last].t_end_ns;
	view_clear(w);
	rc = store_open(rv->data_dir, 0, &st, &cause);
	if (rc == 0)
		rc = store_exclude_set(st, q->session, from, to, !q->undo, &cause);
	store_close(st);
	dbuf_init(&b, REVIEW_HTML_MAX);
	review_html_begin(&b, rc == 0 ? "Marked" : "Not marked", rv->sec.token);
	nav(rv, &b);
	if (rc != 0) {
		dbuf_adds(&b, "<main><h1>Nothing was changed</h1>");
		alert(&b, cause);
		dbuf_adds(&b, "</main>");
	} else {
		dbuf_printf(&b, "<main><h1>Episode %" PRId64 " of session %" PRId64 " %s</h1>",
		            q->episode, q->session, q->undo ? "will be used again"
		                                            : "will not be used");
		dbuf_printf(&b, "<p role=\"status\">%s</p><p><a href=\"/session?t=%s&amp;s=%" PRId64
		                "\">Back to session %" PRId64 "</a></p></main>",
		            q->undo ? "Exports include it again."
		                    : "Every export leaves it out; it stays recorded until you delete it.",
		            rv->sec.token, q->session, q->session);
	}
	free(cause);
	review_html_end(&b);
	return respond_page(con, rc == 0 ? 200 : 500, &b);
}

/* ---- the server ---- */

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *con)
{
	struct conn *c = util_xcalloc(1, sizeof(*c));
	size_t n = strnlen(uri, REVIEW_URI_MAX + 1);

	if (n > REVIEW_URI_MAX)
		c->uri_over = 1;
	else
		memcpy(c->uri, uri, n);
	dbuf_init(&c->body, REVIEW_BODY_MAX);
	return c;
}

static void completed(void *cls, struct MHD_Connection *con, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	struct conn *c = *con_cls;

	if (c != NULL) {
		dbuf_free(&c->body);
		free(c);
	}
	*con_cls = NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *con, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
	struct review *rv = cls;
	struct conn *c = *con_cls;
	struct review_request q;
	const char *why = "", *host;
	int status;

	if (c == NULL)
		return MHD_NO;
	if (!c->started) {
		c->started = 1;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!c->body_over && dbuf_add(&c->body, upload, *upload_size) != 0)
			c->body_over = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	host = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	status = review_http_check(&rv->sec, method, c->uri_over ? NULL : c->uri, host,
	                           c->body.data, c->body.len, c->body_over, &q, &why);
	if (c->uri_over) {
		status = 400;
		why = "the request target is too long";
	}
	if (status != 200)
		return respond_error(rv, con, status, why);
	switch (q.page) {
	case REVIEW_PAGE_HOME: return page_home(rv, con);
	case REVIEW_PAGE_SESSION: return page_session(rv, con, &q);
	case REVIEW_PAGE_IMAGE: return page_image(rv, con, &q);
	case REVIEW_PAGE_AUDIT: return page_audit(rv, con);
	case REVIEW_PAGE_CONFIRM: return page_confirm(rv, con, &q);
	case REVIEW_PAGE_DELETE: return page_delete(rv, con, &q);
	case REVIEW_PAGE_EXCLUDE: return page_exclude(rv, con, &q);
	case REVIEW_PAGE_STYLE:
		return respond(con, 200, "text/css; charset=utf-8", (void *)review_html_style,
		               strlen(review_html_style), MHD_RESPMEM_PERSISTENT);
	default: return respond_error(rv, con, 404, "no such page");
	}
}

static int random_hex(char out[REVIEW_TOKEN_HEX + 1], char **cause)
{
	unsigned char raw[REVIEW_TOKEN_HEX / 2];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return util_fail(cause, -EIO, "cannot read random bytes for the token: %s",
			                 strerror(errno));
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

/* Opens url with xdg-open in the background; a missing xdg-open is not an error. */
static void open_browser(const char *url)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* The grandchild runs xdg-open, so that nothing waits for the browser. */
		if (fork() == 0) {
			execlp("xdg-open", "xdg-open", url, (char *)NULL);
			_exit(127);
		}
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

int review_run(const struct review_opts *o, char **cause)
{
	struct review rv;
	struct MHD_Daemon *d = NULL;
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;
	struct stat sb;
	char *db = NULL, *url = NULL;
	sigset_t set;
	int rc, sig;

	memset(&rv, 0, sizeof(rv));
	rv.o = o;
	rc = paths_data_dir(o->data_dir, &rv.data_dir, cause);
	if (rc != 0)
		goto fail;
	if (stat(rv.data_dir, &sb) != 0) {
		rc = util_fail(cause, -ENOENT, "%s does not exist: nothing is recorded there yet",
		               rv.data_dir);
		goto fail;
	}
	/* What the page shows and deletes is one person's: only they may start it. */
	if (sb.st_uid != getuid()) {
		rc = util_fail(cause, -EPERM, "%s belongs to another user (uid %u); only its owner "
		               "can review it", rv.data_dir, (unsigned)sb.st_uid);
		goto fail;
	}
	db = util_xasprintf("%s/%s", rv.data_dir, STORE_DB_NAME);
	if (stat(db, &sb) != 0) {
		rc = util_fail(cause, -ENOENT, "%s has no recordings (no %s)", rv.data_dir,
		               STORE_DB_NAME);
		goto fail;
	}
	if (o->port < 0 || o->port > 65535) {
		rc = util_fail(cause, -EINVAL, "--port must be 0..65535");
		goto fail;
	}
	rc = random_hex(rv.sec.token, cause);
	if (rc == 0)
		rc = random_hex(rv.sec.csrf, cause);
	if (rc != 0)
		goto fail;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o->port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* The server's thread inherits this mask: the signals come to sigwait below. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, &rv,
	                     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	                     MHD_OPTION_URI_LOG_CALLBACK, uri_log, &rv,
	                     MHD_OPTION_NOTIFY_COMPLETED, completed, &rv,
	                     MHD_OPTION_CONNECTION_LIMIT, 16u,
	                     MHD_OPTION_CONNECTION_TIMEOUT, 30u,
	                     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
	                     MHD_OPTION_END);
	if (d == NULL) {
		rc = util_fail(cause, -EADDRINUSE, "cannot listen on 127.0.0.1:%d (in use?); give "
		               "another --port", o->port);
		goto fail;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	rv.sec.port = info != NULL ? info->port : o->port;
	url = util_xasprintf("http://127.0.0.1:%d/?t=%s", rv.sec.port, rv.sec.token);
	fprintf(o->out, "mimic: review at %s (Ctrl+C to stop)\n", url);
	fflush(o->out);
	if (o->open_browser)
		open_browser(url);
	do {
		if (sigwait(&set, &sig) != 0)
			break;
	} while (sig == SIGPIPE);
	rc = 0;
fail:
	if (d != NULL)
		MHD_stop_daemon(d);
	view_clear(&rv.view);
	free(url);
	free(db);
	free(rv.data_dir);
	return rc;
}
