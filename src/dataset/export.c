/*
 * export: sessions to datasets (see export.h and docs/EXPORT.md).
 *
 * One pass per session: the stored events are pushed through the reducer in
 * order, each action it gives is held until the next one arrives (the frame
 * after an action is looked for up to the next action's start), then it is
 * placed in an episode, redacted, given its element and frames, and written.
 * Frames are scanned (scrub.h) as the steps reach them, in order, and the screen
 * the scan put together from the frame's key frame and patches (docs/FRAMES.md)
 * is handed on to the step: every frame is decoded once, by the scan, and a
 * frame already scanned is put together from the one before it.
 */
#include "export.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "paths.h"
#include "pseudo.h"
#include "redact.h"
#include "scrub.h"
#include "testbreak.h"
#include "uia.h"
#include "util.h"

/* Most typed-into fields masked at once in one window; more replace the oldest. */
#define EXPORT_MASKS_MAX 16
/* Encoded images kept for reuse (a frame is often the post of one step and the pre of the next). */
#define EXPORT_ENC_CACHE 4

/* Action names in a fixed order, for the counts. */
static const char *const kind_names[] = {
	"click", "double_click", "triple_click", "right_click", "middle_click", "back_click",
	"forward_click", "drag", "scroll", "type", "hotkey", "press", "move", "wait", "switch",
};
#define N_KINDS (sizeof(kind_names) / sizeof(kind_names[0]))

/* ---- counts by application ---- */

struct app_counts {
	char app[STORE_EL_APP_MAX];
	uint64_t steps;
	uint64_t by_kind[N_KINDS];
	uint64_t by_interaction[REDUCE_I_MAX_];
};

struct export_stats {
	struct app_counts *apps;
	size_t n_apps;
	uint64_t steps, episodes, labelled, sessions, idle_gaps;
	uint64_t by_kind[N_KINDS];
	uint64_t by_interaction[REDUCE_I_MAX_];
};

static size_t kind_index(const struct reduce_action *a)
{
	const char *n = reduce_action_name(a);

	for (size_t i = 0; i < N_KINDS; i++) {
		if (strcmp(n, kind_names[i]) == 0)
			return i;
	}
	return N_KINDS - 1;
}

static void stats_count(struct export_stats *s, const char *app, const struct reduce_action *a)
{
	size_t k = kind_index(a), i;
	int in = a->interaction >= 0 && a->interaction < REDUCE_I_MAX_ ? a->interaction : 0;

	for (i = 0; i < s->n_apps; i++) {
		if (strcmp(s->apps[i].app, app) == 0)
			break;
	}
	if (i == s->n_apps) {
		s->apps = util_xrealloc(s->apps, (s->n_apps + 1) * sizeof(*s->apps));
		memset(&s->apps[i], 0, sizeof(s->apps[i]));
		util_strlcpy_utf8(s->apps[i].app, app, sizeof(s->apps[i].app));
		s->n_apps++;
	}
	s->apps[i].steps++;
	s->apps[i].by_kind[k]++;
	s->apps[i].by_interaction[in]++;
	s->steps++;
	s->by_kind[k]++;
	s->by_interaction[in]++;
}

void export_stats_free(struct export_stats *s)
{
	if (s == NULL)
		return;
	free(s->apps);
	free(s);
}

static json_t *counts_json(const uint64_t *kinds, const uint64_t *inter)
{
	json_t *o = json_object(), *k = json_object(), *t = json_object();

	for (size_t i = 0; i < N_KINDS; i++) {
		if (kinds[i] > 0)
			json_object_set_new(k, kind_names[i], json_integer((json_int_t)kinds[i]));
	}
	for (int i = 0; i < REDUCE_I_MAX_; i++) {
		if (inter[i] > 0)
			json_object_set_new(t, reduce_interaction_name(i),
			                    json_integer((json_int_t)inter[i]));
	}
	json_object_set_new(o, "actions", k);
	json_object_set_new(o, "interactions", t);
	return o;
}

int export_stats_print(const struct export_stats *s, FILE *f, int json)
{
	if (json) {
		json_t *o = json_object(), *apps = json_object();
		char *line;

		json_object_set_new(o, "sessions", json_integer((json_int_t)s->sessions));
		json_object_set_new(o, "episodes", json_integer((json_int_t)s->episodes));
		json_object_set_new(o, "labelled_episodes", json_integer((json_int_t)s->labelled));
		json_object_set_new(o, "steps", json_integer((json_int_t)s->steps));
		json_object_set_new(o, "total", counts_json(s->by_kind, s->by_interaction));
		for (size_t i = 0; i < s->n_apps; i++) {
			json_t *a = counts_json(s->apps[i].by_kind, s->apps[i].by_interaction);

			json_object_set_new(a, "steps", json_integer((json_int_t)s->apps[i].steps));
			json_object_set_new(apps, s->apps[i].app, a);
		}
		json_object_set_new(o, "apps", apps);
		line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(o);
		if (line == NULL)
			return -ENOMEM;
		fprintf(f, "%s\n", line);
		free(line);
		return ferror(f) ? -EIO : 0;
	}
	fprintf(f, "%llu sessions, %llu episodes (%llu with a task), %llu steps\n",
	        (unsigned long long)s->sessions, (unsigned long long)s->episodes,
	        (unsigned long long)s->labelled, (unsigned long long)s->steps);
	for (size_t a = 0; a <= s->n_apps; a++) {
		const uint64_t *k = a == 0 ? s->by_kind : s->apps[a - 1].by_kind;
		const uint64_t *t = a == 0 ? s->by_interaction : s->apps[a - 1].by_interaction;

		if (a == 0)
			fprintf(f, "\nall applications\n");
		else
			fprintf(f, "\n%s (%llu steps)\n", s->apps[a - 1].app,
			        (unsigned long long)s->apps[a - 1].steps);
		fprintf(f, "  by action:");
		for (size_t i = 0; i < N_KINDS; i++) {
			if (k[i] > 0)
				fprintf(f, " %s %llu", kind_names[i], (unsigned long long)k[i]);
		}
		fprintf(f, "\n  by interaction:");
		for (int i = 0; i < REDUCE_I_MAX_; i++) {
			if (t[i] > 0)
				fprintf(f, " %s %llu", reduce_interaction_name(i),
				        (unsigned long long)t[i]);
		}
		fprintf(f, "\n");
	}
	return ferror(f) ? -EIO : 0;
}

/* ---- the exporter ---- */

struct frame_ix {
	int64_t id, t_ns, event_id;
	char trigger;            /* 'p' pre, 's' settle, 'f' focus, 'i' idle */
};

struct ctx_ix {
	char app[STORE_EL_APP_MAX];
	char title[CONTEXT_STR_MAX];
	char *url;                    /* a browser page's URL (malloc'ed), NULL when none */
};

struct enc_slot {
	int64_t session, id;     /* id 0: empty */
	int verdict;             /* 0 image, 1 dropped, < 0 missing */
	uint8_t *data;
	size_t len;
};

/* The element lookup given to the reducer. */
struct el_lookup {
	struct store *st;
	int64_t session;
	struct store_element el;
	struct reduce_element re;
	const char *anc[STORE_EL_ANCESTORS_MAX];
};

struct exporter {
	const struct export_opts *o;
	struct export_report *rep;
	struct export_stats *stats;   /* counts by application (both modes) */
	int stats_only;
	export_step_fn walk_fn;       /* export_walk: each step goes here, nothing is written */
	void *walk_arg;
	int walk_rc;                  /* the callback's non-zero value, which ends the walk */
	char *data_dir;
	struct store *st;
	struct scrub *sc;             /* scans the frames and hands on their screens */
	struct encode *enc;
	struct redact *rd;
	struct pseudo *ps;
	char user_ps[PSEUDO_HEX_LEN + 1];

	/* The screen of a frame being prepared: a copy, the scan's stays as stored. */
	struct image scratch;
	struct enc_slot cache[EXPORT_ENC_CACHE];
	size_t cache_next;

	/* interventions.jsonl (both formats), created with its first sample */
	FILE *ivf;
	struct iv_count { char app[STORE_EL_APP_MAX]; int interaction; uint64_t n; } *iv_counts;
	size_t n_iv_counts;

	/* JSONL */
	FILE *jsonl;
	int64_t *written;             /* open-addressing set of frame keys written as files */
	size_t written_cap, written_n;

	/* WebDataset */
	struct archive *ar;
	int ar_fd;
	int64_t shard_no, shard_size, shard_samples;
	/*
	 * The bounds of the elements flagged text was typed into, filled in every
	 * frame exported while actions stay in the window of mask_ctx (masks_add).
	 */
	struct image_rect masks[EXPORT_MASKS_MAX];
	size_t n_masks;
	int64_t mask_session;
	int32_t mask_ctx;
};

struct sess {
	struct exporter *x;
	struct store_session info;
	struct frame_ix *by_t, *pre;
	size_t n_by_t, n_pre, cap_by_t, cap_pre;
	struct store_task *tasks;
	size_t n_tasks;
	struct store_span *excl;     /* spans marked "do not use" */
	struct store_intervention *ivs; /* agent takeovers (export_interventions.c) */
	size_t n_ivs;
	struct export_iv iv;
	size_t n_excl;
	struct ctx_ix *ctxs;         /* indexed by context seq */
	size_t n_ctxs;
	char host_ps[PSEUDO_HEX_LEN + 1];
	struct reduce *r;
	struct redact_typed *typed;   /* joins the pieces of typing runs before redaction */
	struct el_lookup lk;
	struct export_split split;
	int64_t episode;             /* the episode of the last written step, -1 none */
	int64_t step;
	int have_pending;
	struct reduce_action pending, cur;
	unsigned pending_risk;       /* what the joiner found in pending's typed text */
	int err;                     /* a write error that ends the export */
	char *cause;
};

static int cmp_by_t(const void *a, const void *b)
{
	const struct frame_ix *x = a, *y = b;

	if (x->t_ns != y->t_ns)
		return x->t_ns < y->t_ns ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_by_event(const void *a, const void *b)
{
	const struct frame_ix *x = a, *y = b;

	if (x->event_id != y->event_id)
		return x->event_id < y->event_id ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int collect_frame(const struct store_frame *fr, void *arg)
{
	struct sess *s = arg;
	struct frame_ix f = { fr->id, fr->t_ns, fr->event_id, fr->trigger[0] };

	if (s->n_by_t == s->cap_by_t) {
		s->cap_by_t = s->cap_by_t ? s->cap_by_t * 2 : 256;
		s->by_t = util_xrealloc(s->by_t, s->cap_by_t * sizeof(*s->by_t));
	}
	s->by_t[s->n_by_t++] = f;
	if (strcmp(fr->trigger, "pre") == 0 && fr->event_id > 0) {
		if (s->n_pre == s->cap_pre) {
			s->cap_pre = s->cap_pre ? s->cap_pre * 2 : 256;
			s->pre = util_xrealloc(s->pre, s->cap_pre * sizeof(*s->pre));
		}
		s->pre[s->n_pre++] = f;
	}
	return 0;
}

static int collect_task(const struct store_task *t, void *arg)
{
	struct sess *s = arg;

	s->tasks = util_xrealloc(s->tasks, (s->n_tasks + 1) * sizeof(*s->tasks));
	s->tasks[s->n_tasks++] = *t;
	return 0;
}

static int collect_intervention(const struct store_intervention *iv, void *arg)
{
	struct sess *s = arg;

	s->ivs = util_xrealloc(s->ivs, (s->n_ivs + 1) * sizeof(*s->ivs));
	s->ivs[s->n_ivs++] = *iv;
	return 0;
}

/* The newest frame with t_ns in (after, upto]; NULL when none. */
static const struct frame_ix *frame_at_or_before(const struct sess *s, int64_t after,
                                                 int64_t upto)
{
	size_t lo = 0, hi = s->n_by_t;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->by_t[mid].t_ns <= upto)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || s->by_t[lo - 1].t_ns <= after)
		return NULL;
	return &s->by_t[lo - 1];
}

/* The action's pre-action frame: its anchor's "pre" frame, else the newest before it. */
static const struct frame_ix *find_pre(const struct sess *s, const struct reduce_action *a)
{
	if (a->anchor_id > 0 && s->n_pre > 0) {
		size_t lo = 0, hi = s->n_pre;

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (s->pre[mid].event_id < a->anchor_id)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < s->n_pre && s->pre[lo].event_id == a->anchor_id)
			return &s->pre[lo];
	}
	return frame_at_or_before(s, INT64_MIN, a->t_start_ns);
}

/* The frame after the action settled: the newest after it and before the next action. */
static const struct frame_ix *find_post(const struct sess *s, const struct reduce_action *a,
                                        int64_t next_start)
{
	int64_t cap = a->t_end_ns + (int64_t)s->x->o->params.post_max_ms * 1000000;

	return frame_at_or_before(s, a->t_end_ns, next_start < cap ? next_start : cap);
}

static const struct reduce_element *lookup_element(void *arg, int64_t event_id)
{
	struct el_lookup *lk = arg;
	int32_t i;

	if (store_element_get(lk->st, lk->session, event_id, &lk->el, NULL) != 0 ||
	    lk->el.status != 0 || lk->el.role[0] == '\0')
		return NULL;
	for (i = 0; i < lk->el.n_ancestors && i < STORE_EL_ANCESTORS_MAX; i++)
		lk->anc[i] = lk->el.ancestors[i].role;
	lk->re.id = event_id;
	lk->re.role = lk->el.role;
	lk->re.name = lk->el.name;
	lk->re.ancestors = lk->anc;
	lk->re.n_ancestors = (size_t)i;
	return &lk->re;
}

/* ---- redaction of text fields ---- */

/*
 * Returns text redacted (malloc'ed), or NULL when it could not be scanned: then
 * the field is left out. *risk collects the risk flags found.
 */
static char *redact_field(struct exporter *x, const char *text, unsigned *risk, int *changed)
{
	char *out = NULL;
	size_t outlen = 0;
	unsigned mask = 0;

	if (redact_apply(x->rd, text, strlen(text), &out, &outlen, &mask) != 0) {
		x->rep->texts_dropped++;
		*risk |= REDACT_RISK_HIGH;
		*changed = 1;
		return NULL;
	}
	if (mask != 0) {
		x->rep->texts_redacted++;
		*changed = 1;
	}
	*risk |= mask;
	return out;
}

/* Sets key of o to text redacted, or to null when it could not be scanned. */
static void set_redacted(struct exporter *x, json_t *o, const char *key, const char *text,
                         unsigned *risk, int *changed)
{
	char *r = redact_field(x, text, risk, changed);

	json_object_set_new(o, key, r != NULL ? json_string(r) : json_null());
	free(r);
}

/*
 * Sets key of o to a URL (a page's, or a link's target) redacted by
 * redact_url_apply (the query and fragment kept only when the policy says so), or
 * to null when it is not a URL or could not be scanned. Only a step's page URL
 * counts in the report's tally of steps with a URL (key "url" of a step).
 */
static void set_redacted_url(struct exporter *x, json_t *o, const char *key, const char *url,
                             int step, unsigned *risk, int *changed)
{
	char *out = NULL;
	size_t outlen = 0;
	unsigned mask = 0;

	if (redact_url_apply(x->rd, url, strlen(url), x->o->url_query ? REDACT_URL_QUERY : 0,
	                     &out, &outlen, &mask) != 0) {
		x->rep->texts_dropped++;
		*changed = 1;
	} else if (mask != 0) {
		x->rep->texts_redacted++;
		*changed = 1;
	}
	*risk |= mask;
	if (step)
		x->rep->urls++;
	json_object_set_new(o, key, out != NULL ? json_string(out) : json_null());
	free(out);
}

/* ---- frames ---- */

int export_frame_prepare(struct image *img, struct export_frame_info *info,
                         char **cause)
{
	int rc;

	/*
	 * Pixel redaction (scrub.h): the export scanned every frame of the sessions
	 * before it reached it (OCR of the changed regions, the text detector on the line text,
	 * frames with high-risk findings or taken while high-risk text was typed
	 * marked dropped). Here the scan's verdict is applied: a frame that is
	 * dropped or, for any reason, still unscanned, or whose scan was made with
	 * rules other than the export's, is left out; a scrubbed one has its findings
	 * filled. A step whose own texts held high-risk data loses its frames too.
	 */
	if (info->text_risk & REDACT_RISK_HIGH)
		return EXPORT_FRAME_DROP;
	if (info->st == NULL)
		return EXPORT_FRAME_DROP;
	rc = scrub_export_frame(info->st, info->redact, info->frame_id, img, SCRUB_FILL,
	                        &info->filled, cause);
	if (rc < 0)
		return rc;
	/*
	 * The fields flagged text was typed into are filled whatever OCR read: a narrow
	 * entry that scrolled its start out of view shows no whole address to find.
	 */
	if (rc == 0 && info->n_masks > 0 && !testbreak("typed-field-masks-off")) {
		image_fill_rects(img, info->masks, info->n_masks, SCRUB_FILL);
		info->filled = 1;
	}
	return rc == 0 ? EXPORT_FRAME_KEEP : EXPORT_FRAME_DROP;
}

/*
 * Copies the screen of frame f, as the scan put it together, to x->scratch and
 * lets export_frame_prepare redact it. Returns its verdict or a negative errno.
 */
static int prepare_frame(struct exporter *x, int64_t session, const struct frame_ix *f,
                         unsigned risk, char **cause)
{
	struct export_frame_info info;
	const struct image *screen;
	size_t sz;
	uint8_t *px;
	int rc;

	rc = scrub_session_pixels(x->sc, f->id, &screen, cause);
	if (rc != 0)
		return rc;
	sz = (size_t)screen->stride * screen->height;
	if (x->scratch.pixels == NULL || (size_t)x->scratch.stride * x->scratch.height < sz)
		x->scratch.pixels = util_xrealloc(x->scratch.pixels, sz);
	px = x->scratch.pixels;
	x->scratch = *screen;
	x->scratch.pixels = px;
	memcpy(x->scratch.pixels, screen->pixels, sz);
	memset(&info, 0, sizeof(info));
	info.session = session;
	info.frame_id = f->id;
	info.event_id = f->event_id;
	info.trigger = f->trigger == 'p' ? "pre" : f->trigger == 's' ? "settle"
	             : f->trigger == 'f' ? "focus" : "idle";
	info.text_risk = risk;
	info.st = scrub_store(x->sc);
	info.redact = x->rd;
	info.masks = x->masks;
	info.n_masks = x->n_masks;
	rc = export_frame_prepare(&x->scratch, &info, cause);
	x->rep->frames_filled += rc == EXPORT_FRAME_KEEP && info.filled;
	return rc;
}

/*
 * Sets *slot to the encoded image of frame id (cached): verdict 0 with bytes,
 * 1 dropped by export_frame_prepare, < 0 missing. The frames of the session up to
 * this one are scanned first; when that fails, s->err ends the export.
 */
static const struct enc_slot *frame_image(struct sess *s, const struct frame_ix *f,
                                          unsigned risk)
{
	struct exporter *x = s->x;
	int64_t session = s->info.id;
	struct encode_params ep;
	struct enc_slot *slot;
	const uint8_t *data = NULL;
	size_t len = 0;
	char *cause = NULL;
	int rc;

	for (size_t i = 0; i < EXPORT_ENC_CACHE; i++) {
		if (x->cache[i].id == f->id && x->cache[i].session == session)
			return &x->cache[i];
	}
	slot = &x->cache[x->cache_next];
	x->cache_next = (x->cache_next + 1) % EXPORT_ENC_CACHE;
	free(slot->data);
	memset(slot, 0, sizeof(*slot));
	slot->session = session;
	slot->id = f->id;

	/* Nothing leaves unscanned: the frames up to this one are scanned now. */
	rc = scrub_session_upto(x->sc, f->id, &s->cause);
	if (rc != 0) {
		s->err = rc;
		slot->id = 0;
		slot->verdict = rc;
		return slot;
	}
	rc = prepare_frame(x, session, f, risk, &cause);
	if (rc == EXPORT_FRAME_DROP) {
		slot->verdict = 1;
		x->rep->frames_dropped++;
		goto fail;
	}
	if (rc == 0) {
		encode_params_default(&ep, x->o->image);
		rc = encode_image(x->enc, &x->scratch, &ep, &data, &len, &cause);
	}
	if (rc != 0) {
		slot->verdict = rc < 0 ? rc : -EIO;
		x->rep->frames_missing++;
		goto fail;
	}
	slot->data = util_xmalloc(len);
	memcpy(slot->data, data, len);
	slot->len = len;
fail:
	free(cause);
	return slot;
}

/* ---- writing ---- */

static int write_file(const char *path, const void *data, size_t len, char **cause)
{
	size_t off = 0;
	int fd = paths_create_file(path, O_WRONLY, cause);

	if (fd < 0)
		return fd;
	while (off < len) {
		ssize_t n = write(fd, (const char *)data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;

			close(fd);
			return util_fail(cause, -e, "cannot write %s: %s", path, strerror(e));
		}
		off += (size_t)n;
	}
	if (close(fd) != 0)
		return util_fail(cause, -errno, "cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* Adds key to the set of written frames; returns 1 when it was there already. */
static int written_add(struct exporter *x, int64_t key)
{
	size_t i;

	if (x->written_n * 2 >= x->written_cap) {
		size_t ocap = x->written_cap;
		int64_t *old = x->written;

		x->written_cap = ocap ? ocap * 2 : 1024;
		x->written = util_xcalloc(x->written_cap, sizeof(*x->written));
		x->written_n = 0;
		for (i = 0; i < ocap; i++) {
			if (old[i] != 0)
				written_add(x, old[i]);
		}
		free(old);
	}
	i = (size_t)((uint64_t)key * UINT64_C(0x9E3779B97F4A7C15) >> 20) % x->written_cap;
	while (x->written[i] != 0) {
		if (x->written[i] == key)
			return 1;
		i = (i + 1) % x->written_cap;
	}
	x->written[i] = key;
	x->written_n++;
	return 0;
}

static const char *image_ext(const struct exporter *x)
{
	return x->o->image == ENCODE_JPEG ? "jpg" : encode_format_name(x->o->image);
}

/* JSONL: writes the frame's image file once; returns its relative name, or NULL. */
static json_t *jsonl_image(struct exporter *x, struct sess *s, const struct frame_ix *f,
                           unsigned risk)
{
	const struct enc_slot *slot;
	char name[96], *path;

	if (f == NULL)
		return json_null();
	slot = frame_image(s, f, risk);
	if (slot->verdict != 0)
		return json_null();
	snprintf(name, sizeof(name), "images/s%lld-f%lld.%s", (long long)s->info.id,
	         (long long)f->id, image_ext(x));
	if (!written_add(x, s->info.id * INT64_C(1000000000000) + f->id)) {
		path = util_xasprintf("%s/%s", x->o->out_dir, name);
		int rc = write_file(path, slot->data, slot->len, &s->cause);
		free(path);
		if (rc != 0) {
			s->err = rc;
			return json_null();
		}
		x->rep->images++;
		x->rep->image_bytes += slot->len;
		x->rep->bytes += slot->len;
	}
	return json_string(name);
}

static int tar_member(struct exporter *x, const char *name, const void *data, size_t len,
                      char **cause)
{
	struct archive_entry *e = archive_entry_new();
	int rc = 0;

	archive_entry_set_pathname(e, name);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, 0, 0);
	if (archive_write_header(x->ar, e) != ARCHIVE_OK ||
	    (len > 0 && archive_write_data(x->ar, data, len) != (la_ssize_t)len))
		rc = util_fail(cause, -EIO, "cannot write shard %lld: %s", (long long)x->shard_no,
		               archive_error_string(x->ar));
	archive_entry_free(e);
	x->shard_size += 512 + (int64_t)((len + 511) / 512 * 512);
	return rc;
}

static int shard_close(struct exporter *x, char **cause)
{
	int rc = 0;

	if (x->ar == NULL)
		return 0;
	if (archive_write_close(x->ar) != ARCHIVE_OK)
		rc = util_fail(cause, -EIO, "cannot finish shard %lld: %s", (long long)x->shard_no,
		               archive_error_string(x->ar));
	archive_write_free(x->ar);
	x->ar = NULL;
	if (close(x->ar_fd) != 0 && rc == 0)
		rc = util_fail(cause, -errno, "cannot finish shard %lld: %s",
		               (long long)x->shard_no, strerror(errno));
	x->ar_fd = -1;
	x->rep->bytes += (uint64_t)x->shard_size;
	x->shard_no++;
	return rc;
}

static int shard_open(struct exporter *x, char **cause)
{
	char *path = util_xasprintf("%s/shard-%06lld.tar", x->o->out_dir, (long long)x->shard_no);
	int rc = 0;

	x->ar_fd = paths_create_file(path, O_WRONLY, cause);
	if (x->ar_fd < 0) {
		rc = x->ar_fd;
		goto fail;
	}
	x->ar = archive_write_new();
	archive_write_set_format_pax_restricted(x->ar);
	archive_write_set_bytes_in_last_block(x->ar, 1);
	if (archive_write_open_fd(x->ar, x->ar_fd) != ARCHIVE_OK) {
		rc = util_fail(cause, -EIO, "cannot create %s: %s", path,
		               archive_error_string(x->ar));
		archive_write_free(x->ar);
		x->ar = NULL;
		close(x->ar_fd);
		x->ar_fd = -1;
		goto fail;
	}
	x->shard_size = 1024; /* the end-of-archive blocks */
	x->shard_samples = 0;
	x->rep->shards++;
fail:
	free(path);
	return rc;
}

/* WebDataset: one sample, key.json and key.<ext> (the pre-action screen). */
static int wds_sample(struct exporter *x, const char *key, const char *json,
                      const struct enc_slot *img, char **cause)
{
	size_t jlen = strlen(json);
	int64_t need = 1024 + (int64_t)jlen + (img != NULL ? (int64_t)img->len : 0);
	char name[160];
	int rc = 0;

	if (x->ar != NULL && x->shard_samples > 0 && x->shard_size + need > x->o->shard_bytes)
		rc = shard_close(x, cause);
	if (rc == 0 && x->ar == NULL)
		rc = shard_open(x, cause);
	if (rc != 0)
		return rc;
	snprintf(name, sizeof(name), "%s.json", key);
	rc = tar_member(x, name, json, jlen, cause);
	if (rc == 0 && img != NULL) {
		snprintf(name, sizeof(name), "%s.%s", key, image_ext(x));
		rc = tar_member(x, name, img->data, img->len, cause);
		if (rc == 0) {
			x->rep->images++;
			x->rep->image_bytes += img->len;
		}
	}
	x->shard_samples++;
	return rc;
}

/* ---- steps ---- */

static const struct ctx_ix *ctx_of(const struct sess *s, int32_t seq)
{
	if (seq <= 0 || (size_t)seq >= s->n_ctxs)
		return NULL;
	return &s->ctxs[seq];
}

static const char *outcome_name(int o)
{
	return o == STORE_TASK_SUCCESS ? "success" : o == STORE_TASK_FAIL ? "fail" : "unfinished";
}

static json_t *element_json(struct exporter *x, const struct store_element *el, unsigned *risk,
                            int *changed)
{
	json_t *o = json_object(), *anc = json_array();

	json_object_set_new(o, "role", json_string(el->role));
	set_redacted(x, o, "name", el->name, risk, changed);
	json_object_set_new(o, "bounds", el->w > 0 && el->h > 0
	                    ? json_pack("[iiii]", (int)el->x, (int)el->y, (int)el->w, (int)el->h)
	                    : json_null());
	for (int32_t i = 0; i < el->n_ancestors && i < STORE_EL_ANCESTORS_MAX; i++) {
		json_t *a = json_object();

		json_object_set_new(a, "role", json_string(el->ancestors[i].role));
		set_redacted(x, a, "name", el->ancestors[i].name, risk, changed);
		json_array_append_new(anc, a);
	}
	json_object_set_new(o, "ancestors", anc);
	if (el->menu_path[0] != '\0')
		set_redacted(x, o, "menu_path", el->menu_path, risk, changed);
	/* An element's URLs, like the step's page, keep no query unless the policy says so. */
	if (el->url[0] != '\0')
		set_redacted_url(x, o, "url", el->url, 0, risk, changed);
	if (el->target[0] != '\0')
		set_redacted_url(x, o, "target", el->target, 0, risk, changed);
	return o;
}

/*
 * Places action a in its episode (the counts of episodes and steps follow).
 * Returns the episode, or -1 for an idle gap, which belongs to none.
 */
static int excluded(const struct sess *s, int64_t t_ns)
{
	for (size_t i = 0; i < s->n_excl; i++) {
		if (t_ns >= s->excl[i].start_ns && t_ns <= s->excl[i].end_ns)
			return 1;
	}
	return 0;
}

static int64_t place(struct sess *s, const struct reduce_action *a, const char *app)
{
	struct exporter *x = s->x;
	int64_t ep = export_split_push(&s->split, a, app);

	if (ep < 0) {
		x->rep->idle_gaps++;
		x->stats->idle_gaps++;
		return -1;
	}
	/*
	 * The person marked its episode "do not use" (the review page): it is left
	 * out, and counted. The splitter saw it, so the other episodes are cut as
	 * they would be without the mark.
	 */
	if (excluded(s, a->t_start_ns) && !(x->walk_fn != NULL && x->o->show_excluded) &&
	    !testbreak("export-excluded-kept")) {
		x->rep->steps_excluded++;
		return -2;
	}
	if (ep != s->episode) {
		s->episode = ep;
		s->step = 0;
		x->rep->episodes++;
		x->stats->episodes++;
		if (s->split.task != NULL) {
			x->rep->labelled_episodes++;
			x->stats->labelled++;
		}
	}
	x->rep->steps++;
	if (a->interaction >= 0 && a->interaction < REDUCE_I_MAX_)
		x->rep->by_interaction[a->interaction]++;
	return ep;
}

/*
 * Redacts the typed text of a in place. typed_risk is what the joiner
 * (redact_typed_take) found and replaced in it before: it counts as found here too.
 */
static void redact_typed_text(struct exporter *x, struct reduce_action *a, unsigned typed_risk,
                              unsigned *risk, int *changed)
{
	char *t = redact_field(x, a->text, risk, changed);

	/*
	 * The joiner already put placeholders into the text, so this second pass
	 * finds nothing there: its findings must still mark the step redacted and
	 * reach export_frame_prepare (a high-risk run loses the step's screens).
	 */
	if (typed_risk != 0 && !*changed) {
		x->rep->texts_redacted++;
		*changed = 1;
	}
	*risk |= typed_risk;

	util_strlcpy_utf8(a->text, t != NULL ? t : "", sizeof(a->text));
	a->text_len = strlen(a->text);
	free(t);
}

/* The step's fields before its action: episode, task, times, host, window and element. */
static json_t *step_head(struct sess *s, const struct reduce_action *a, const struct ctx_ix *c,
                         const char *epid, unsigned *risk, int *changed)
{
	struct exporter *x = s->x;
	json_t *step = json_object();
	struct store_element el;
	int has_el = 0;
	int64_t base = s->split.start_ns;

	json_object_set_new(step, "episode", json_string(epid));
	json_object_set_new(step, "step", json_integer(s->step));
	json_object_set_new(step, "session", json_integer(s->info.id));
	if (s->split.task != NULL) {
		set_redacted(x, step, "task", s->split.task->description, risk, changed);
		json_object_set_new(step, "outcome", json_string(outcome_name(s->split.outcome)));
	} else {
		json_object_set_new(step, "task", json_null());
		json_object_set_new(step, "outcome", json_null());
	}
	json_object_set_new(step, "labelled", json_boolean(s->split.task != NULL));
	json_object_set_new(step, "t_ms", json_real((double)(a->t_start_ns - base) / 1e6));
	json_object_set_new(step, "t_end_ms", json_real((double)(a->t_end_ns - base) / 1e6));
	json_object_set_new(step, "kind", json_string(reduce_action_name(a)));
	json_object_set_new(step, "interaction",
	                    json_string(reduce_interaction_name(a->interaction)));
	json_object_set_new(step, "host", json_string(s->host_ps));
	json_object_set_new(step, "user", json_string(x->user_ps));
	json_object_set_new(step, "screen", json_pack("[ii]", (int)s->info.screen_w,
	                                              (int)s->info.screen_h));
	if (c != NULL) {
		set_redacted(x, step, "app", c->app, risk, changed);
		set_redacted(x, step, "window_title", c->title, risk, changed);
		/* Only a browser page has a URL: other steps are as they were without one. */
		if (c->url != NULL)
			set_redacted_url(x, step, "url", c->url, 1, risk, changed);
	} else {
		json_object_set_new(step, "app", json_null());
		json_object_set_new(step, "window_title", json_null());
	}
	if (a->element_id > 0 &&
	    store_element_get(x->st, s->info.id, a->element_id, &el, NULL) == 0 && el.status == 0)
		has_el = 1;
	json_object_set_new(step, "element", has_el ? element_json(x, &el, risk, changed)
	                                            : json_null());
	return step;
}

/*
 * Finds a's frames (*pre, *post; NULL when none) and adds the action, with times
 * relative to the episode, and the frame ids to step. Returns 0 or sets s->err.
 */
static int step_action(struct sess *s, struct reduce_action *a, const struct reduce_action *next,
                       json_t *step, const struct frame_ix **pre, const struct frame_ix **post)
{
	int64_t base = s->split.start_ns;
	json_t *act;

	*pre = find_pre(s, a);
	*post = find_post(s, a, next != NULL ? next->t_start_ns : INT64_MAX);
	/*
	 * No grab after the action: the screen did not change again before the next
	 * action (grabs follow damage), so the next action's pre-action frame is the
	 * screen this one left.
	 */
	if (*post == NULL && next != NULL)
		*post = find_pre(s, next);
	a->pre_frame = *pre != NULL ? (*pre)->id : 0;
	a->post_frame = *post != NULL ? (*post)->id : 0;
	/* Times in the action are relative to the episode too. */
	a->t_start_ns -= base;
	a->t_end_ns -= base;
	if (reduce_action_step(a, s->info.screen_w, s->info.screen_h, &act) != 0) {
		s->err = util_fail(&s->cause, -EIO, "session %lld: a step could not be rendered",
		                   (long long)s->info.id);
		return s->err;
	}
	json_object_set_new(step, "action", act);
	json_object_set_new(step, "frames", json_pack("{s:o,s:o}",
	                    "pre", *pre != NULL ? json_integer((*pre)->id) : json_null(),
	                    "post", *post != NULL ? json_integer((*post)->id) : json_null()));
	return 0;
}

/* JSONL: the step's line, with its pre and post images written as files. */
static int write_jsonl_step(struct sess *s, json_t *step, const struct frame_ix *pre,
                            const struct frame_ix *post, unsigned risk, int changed)
{
	struct exporter *x = s->x;
	json_t *imgs = json_object();
	char *line;
	int rc = 0;

	json_object_set_new(imgs, "pre", jsonl_image(x, s, pre, risk));
	json_object_set_new(imgs, "post", jsonl_image(x, s, post, risk));
	if (json_is_null(json_object_get(imgs, "pre")))
		x->rep->steps_without_frame++;
	json_object_set_new(step, "images", imgs);
	json_object_set_new(step, "redacted", json_boolean(changed));
	line = json_dumps(step, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line == NULL || fprintf(x->jsonl, "%s\n", line) < 0)
		rc = s->err = util_fail(&s->cause, -EIO, "cannot write steps.jsonl");
	else
		x->rep->bytes += strlen(line) + 1;
	free(line);
	return rc;
}

/*
 * WebDataset: the step's sample, key.json and its pre-action image. Every sample
 * has the same members (json + image): the Hugging Face loader refuses shards
 * whose samples differ, so a step without its image is left out (returns 1) and
 * counted. Returns 0 when the sample went to the shard (a write error is in
 * s->err), or a negative errno when the step could not be rendered.
 */
static int write_wds_step(struct sess *s, json_t *step, const char *key,
                          const struct frame_ix *pre, unsigned risk, int changed)
{
	struct exporter *x = s->x;
	const struct enc_slot *img = pre != NULL ? frame_image(s, pre, risk) : NULL;
	char name[160], *line;
	json_t *imgs;

	if (img != NULL && img->verdict != 0)
		img = NULL;
	if (img == NULL) {
		x->rep->steps_without_frame++;
		x->rep->steps_left_out++;
		return 1;
	}
	snprintf(name, sizeof(name), "%s.%s", key, image_ext(x));
	imgs = json_object();
	json_object_set_new(imgs, "pre", img != NULL ? json_string(name) : json_null());
	json_object_set_new(imgs, "post", json_null());
	json_object_set_new(step, "images", imgs);
	json_object_set_new(step, "redacted", json_boolean(changed));
	line = json_dumps(step, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line == NULL)
		return s->err = util_fail(&s->cause, -ENOMEM, "cannot render a step");
	/* A write error ends the export (s->err); the step is counted as written. */
	s->err = wds_sample(x, key, line, img, &s->cause);
	free(line);
	return 0;
}

/* export_walk: hands the step, with its pre-action image, to the callback. */
static int walk_step(struct sess *s, json_t *step, int64_t ep, int64_t t_start, int64_t t_end,
                     const struct frame_ix *pre, unsigned risk, int changed)
{
	struct exporter *x = s->x;
	const struct enc_slot *img = pre != NULL ? frame_image(s, pre, risk) : NULL;
	struct export_step st;
	int rc;

	if (s->err != 0)
		return s->err;
	memset(&st, 0, sizeof(st));
	st.session = s->info.id;
	st.episode = ep;
	st.step = s->step;
	st.json = step;
	st.redacted = changed;
	st.excluded = excluded(s, t_start);
	st.t_start_ns = t_start;
	st.t_end_ns = t_end;
	st.episode_start_ns = s->split.start_ns;
	st.pre_frame_ns = pre != NULL ? pre->t_ns : 0;
	if (s->split.task != NULL) {
		for (size_t j = (size_t)(s->split.task - s->tasks) + 1; j < s->n_tasks; j++) {
			if (s->tasks[j].kind == STORE_TASK_START)
				break;
			if (s->tasks[j].kind == STORE_TASK_END) {
				st.episode_end_ns = s->tasks[j].t_ns;
				break;
			}
		}
	}
	st.image_verdict = img != NULL ? img->verdict : -ENOENT;
	if (img != NULL && img->verdict == 0) {
		st.image = img->data;
		st.image_len = img->len;
	}
	if (img == NULL || img->verdict != 0)
		x->rep->steps_without_frame++;
	rc = x->walk_fn(x->walk_arg, &st);
	if (rc != 0) {
		x->walk_rc = rc;
		s->err = rc;
		util_fail(&s->cause, rc < 0 ? rc : -ECANCELED, "the walk was stopped");
	}
	return rc;
}

/*
 * The masks of typed-into fields last while the actions stay in one window (one
 * context of one session): another window, or another session, ends them. A
 * field can be cleared or moved while its window stays; the mask then covers
 * what took its place, which costs pixels, never privacy.
 */
static void masks_follow(struct exporter *x, struct sess *s, const struct reduce_action *a)
{
	if (x->n_masks > 0 && (x->mask_session != s->info.id || x->mask_ctx != a->context))
		x->n_masks = 0;
}

/*
 * Text the detector flagged was typed in a: the element it was typed into (its
 * screen bounds, docs/ELEMENTS.md) is filled in the frames from now on, whatever
 * OCR reads there (issue 14). Returns true when that element is editable (so the
 * typed text is in it) and now masked.
 */
static bool masks_add(struct exporter *x, struct sess *s, const struct reduce_action *a)
{
	struct store_element el;
	struct image_rect r;
	bool editable;

	if (a->element_id <= 0 ||
	    store_element_get(x->st, s->info.id, a->element_id, &el, NULL) != 0 || el.status != 0 ||
	    el.w <= 0 || el.h <= 0)
		return false;
	editable = (el.states & UIA_STATE_EDITABLE) != 0;
	r = (struct image_rect){ el.x, el.y, (uint32_t)el.w, (uint32_t)el.h };
	for (size_t i = 0; i < x->n_masks; i++)
		if (memcmp(&x->masks[i], &r, sizeof(r)) == 0)
			return editable;
	if (x->n_masks == EXPORT_MASKS_MAX) {
		memmove(x->masks, x->masks + 1, (EXPORT_MASKS_MAX - 1) * sizeof(x->masks[0]));
		x->n_masks--;
	}
	x->masks[x->n_masks++] = r;
	x->mask_session = s->info.id;
	x->mask_ctx = a->context;
	return editable;
}

/* Whether s[0..n) holds t[0..m) in any ASCII letter case. */
static bool holds_nocase(const char *s, size_t n, const char *t, size_t m)
{
	for (size_t i = 0; m > 0 && i + m <= n; i++)
		if (strncasecmp(s + i, t, m) == 0)
			return true;
	return false;
}

/*
 * The typed text of a went into a field whose label says what it holds (a
 * sensitive label of the rules, redact_label_match: "Name", "Date of birth"):
 * the text becomes "<FIELD:label>" whatever the detectors found in it, and the
 * field is filled in the frames from now on (masks_add). The label is the
 * element's label, else its name. The label shown is as the application gives
 * it, unless it could hold what was typed (a name that contains the typed text,
 * as an editable combo box's does) or a finding of the detectors: then the
 * phrase of the list it matched is shown instead. Returns 1 when a was such a
 * field, 0 otherwise.
 */
static int field_label(struct exporter *x, struct sess *s, struct reduce_action *a,
                       unsigned *risk, int *changed)
{
	struct store_element el;
	const char *shown = NULL;
	char ph[REDACT_FIELD_MAX];
	int hit = -1;

	if (a->element_id <= 0 ||
	    store_element_get(x->st, s->info.id, a->element_id, &el, NULL) != 0 || el.status != 0)
		return 0;
	if ((hit = redact_label_match(x->rd, el.label, strnlen(el.label, sizeof(el.label)))) >= 0)
		shown = el.label;
	else if ((hit = redact_label_match(x->rd, el.name, strnlen(el.name, sizeof(el.name)))) >= 0)
		shown = el.name;
	if (hit < 0)
		return 0;
	if (shown == el.name) {
		size_t n = strnlen(el.name, sizeof(el.name));

		if (holds_nocase(el.name, n, a->text, a->text_len) ||
		    (n > 0 && holds_nocase(a->text, a->text_len, el.name, n)))
			shown = redact_label(x->rd, (size_t)hit);
	}
	if (shown != redact_label(x->rd, (size_t)hit)) {
		struct redact_span *sp = NULL;
		size_t ns = 0;

		if (redact_scan(x->rd, shown, strlen(shown), &sp, &ns) != 0 || ns > 0)
			shown = redact_label(x->rd, (size_t)hit);
		free(sp);
	}
	redact_field_placeholder(shown, strlen(shown), ph, sizeof(ph));
	util_strlcpy_utf8(a->text, ph, sizeof(a->text));
	a->text_len = strlen(a->text);
	if (!*changed)
		x->rep->texts_redacted++;
	*changed = 1;
	*risk |= REDACT_RISK_LOW;
	return 1;
}

/*
 * Places action a (next is the one after it, NULL at the end) in its episode and
 * writes it as a step. typed_risk is what the joiner (redact_typed_take) found
 * and replaced in a's typed text before: it counts as found here too.
 */
static void emit(struct sess *s, struct reduce_action *a, unsigned typed_risk,
                 const struct reduce_action *next)
{
	struct exporter *x = s->x;
	const struct ctx_ix *c = ctx_of(s, a->context);
	const char *app = c != NULL && c->app[0] != '\0' ? c->app : "";
	const struct frame_ix *pre = NULL, *post = NULL;
	int changed = 0, rc;
	unsigned risk = 0, typed = 0, frame_risk;
	uint64_t dropped_before = x->rep->texts_dropped;
	bool masked = false;
	char epid[96], key[128];
	json_t *step;
	int64_t ep, t_start, t_end;

	if (s->err != 0)
		return;
	ep = place(s, a, app);
	if (ep < 0)
		return;
	if (x->stats_only) {
		stats_count(x->stats, app[0] ? app : "unknown", a);
		s->step++;
		return;
	}
	/* Texts first: what they held decides what export_frame_prepare is told. */
	masks_follow(x, s, a);
	if (a->kind == REDUCE_TYPE) {
		redact_typed_text(x, a, typed_risk, &typed, &changed);
		field_label(x, s, a, &typed, &changed);
		if (typed != 0)
			masked = masks_add(x, s, a);
	}
	t_start = a->t_start_ns;
	t_end = a->t_end_ns;
	snprintf(epid, sizeof(epid), "%.8s-s%lld-e%lld", s->host_ps, (long long)s->info.id,
	         (long long)ep);
	step = step_head(s, a, c, epid, &risk, &changed);
	/*
	 * A step whose texts hold high-risk data loses its screens, but for text
	 * typed into an editable field that is now masked in them: its pre frame
	 * shows the screen before the typing, and its post frame the field filled.
	 * A typed text that could not be scanned still loses them.
	 */
	frame_risk = risk | typed;
	if (masked && x->rep->texts_dropped == dropped_before &&
	    !testbreak("typed-step-frames-dropped"))
		frame_risk = risk | (typed & ~(unsigned)REDACT_RISK_HIGH);
	rc = step_action(s, a, next, step, &pre, &post);
	if (rc == 0) {
		snprintf(key, sizeof(key), "%s-%06lld", epid, (long long)s->step);
		if (x->walk_fn != NULL)
			rc = walk_step(s, step, ep, t_start, t_end, pre, frame_risk, changed);
		else if (x->o->format == EXPORT_JSONL)
			rc = write_jsonl_step(s, step, pre, post, frame_risk, changed);
		else
			rc = write_wds_step(s, step, key, pre, frame_risk, changed);
		/* A step left out for want of its image still takes its number. */
		if (rc == 1)
			s->step++;
	}
	if (rc == 0) {
		stats_count(x->stats, app[0] ? app : "unknown", a);
		/* The step as written (redacted, its images gated) may be part of an intervention. */
		if (x->walk_fn == NULL && s->err == 0 &&
		    (rc = export_iv_step(&s->iv, a->anchor_id, a->source, step)) != 0)
			s->err = rc;
		s->step++;
	}
	json_decref(step);
}

/* Takes the reducer's completed actions; each is written once the next is known. */
static void drain(struct sess *s)
{
	struct reduce_action *ra;
	const struct reduce_action *a;
	unsigned risk = 0;

	/*
	 * Typed text goes through the joiner (scrub.h): the pieces of a typing run
	 * are scanned as one text, so a number typed in two pieces is still found.
	 */
	while ((ra = reduce_take(s->r)) != NULL)
		redact_typed_push(s->typed, ra);
	while ((a = redact_typed_take(s->typed, &risk)) != NULL) {
		memcpy(&s->cur, a, sizeof(s->cur));
		if (s->have_pending)
			emit(s, &s->pending, s->pending_risk, &s->cur);
		memcpy(&s->pending, &s->cur, sizeof(s->pending));
		s->pending_risk = risk;
		s->have_pending = 1;
	}
}

static int on_event(int64_t id, const struct event *ev, const struct context *ctx, void *arg)
{
	struct sess *s = arg;
	struct event e = *ev;

	if (ctx != NULL && ctx->seq > 0 && ctx->seq < 1000000) {
		if ((size_t)ctx->seq >= s->n_ctxs) {
			size_t n = (size_t)ctx->seq + 16;

			s->ctxs = util_xrealloc(s->ctxs, n * sizeof(*s->ctxs));
			memset(s->ctxs + s->n_ctxs, 0, (n - s->n_ctxs) * sizeof(*s->ctxs));
			s->n_ctxs = n;
		}
		util_strlcpy_utf8(s->ctxs[ctx->seq].app, ctx->wm_class,
		                  sizeof(s->ctxs[ctx->seq].app));
		util_strlcpy_utf8(s->ctxs[ctx->seq].title, ctx->title,
		                  sizeof(s->ctxs[ctx->seq].title));
		free(s->ctxs[ctx->seq].url);
		s->ctxs[ctx->seq].url = NULL;
		if (ctx->url[0] != '\0') {
			size_t n = strnlen(ctx->url, sizeof(ctx->url) - 1);

			s->ctxs[ctx->seq].url = util_xmalloc(n + 1);
			memcpy(s->ctxs[ctx->seq].url, ctx->url, n);
			s->ctxs[ctx->seq].url[n] = '\0';
		}
	}
	e.id = id;
	reduce_push(s->r, &e);
	drain(s);
	return s->err;
}

static void sess_free(struct sess *s)
{
	reduce_free(s->r);
	redact_typed_free(s->typed);
	free(s->by_t);
	free(s->pre);
	free(s->tasks);
	for (size_t i = 0; i < s->n_ctxs; i++)
		free(s->ctxs[i].url);
	free(s->excl);
	free(s->ivs);
	export_iv_free(&s->iv);
	free(s->ctxs);
	free(s->cause);
}

/* export_iv_redact_fn: a text of the agent's pending call through the redaction. */
static char *iv_redact(void *arg, const char *text)
{
	struct sess *s = arg;
	unsigned risk = 0;
	int changed = 0;

	return redact_field(s->x, text, &risk, &changed);
}

/* Counts an intervention for the card, by application and interaction type. */
static void iv_count(struct exporter *x, json_t *sample)
{
	const char *app = json_string_value(json_object_get(sample, "app"));
	const char *in = json_string_value(json_object_get(sample, "interaction"));
	int k = 0;
	size_t i;

	for (int j = 0; j < REDUCE_I_MAX_ && in != NULL; j++)
		if (strcmp(reduce_interaction_name(j), in) == 0)
			k = j;
	if (app == NULL)
		app = "unknown";
	for (i = 0; i < x->n_iv_counts; i++)
		if (x->iv_counts[i].interaction == k && strcmp(x->iv_counts[i].app, app) == 0)
			break;
	if (i == x->n_iv_counts) {
		x->iv_counts = util_xrealloc(x->iv_counts, (i + 1) * sizeof(*x->iv_counts));
		memset(&x->iv_counts[i], 0, sizeof(x->iv_counts[i]));
		util_strlcpy_utf8(x->iv_counts[i].app, app, sizeof(x->iv_counts[i].app));
		x->iv_counts[i].interaction = k;
		x->n_iv_counts++;
	}
	x->iv_counts[i].n++;
}

/* export_iv_emit_fn: one line of interventions.jsonl, the file made with the first. */
static int iv_emit(void *arg, const struct store_intervention *iv, json_t *sample)
{
	struct sess *s = arg;
	struct exporter *x = s->x;
	char *line, *path;
	int fd;

	if (x->ivf == NULL) {
		path = util_xasprintf("%s/interventions.jsonl", x->o->out_dir);
		fd = paths_create_file(path, O_WRONLY, &s->cause);
		free(path);
		if (fd < 0 || (x->ivf = fdopen(fd, "w")) == NULL) {
			if (fd >= 0)
				close(fd);
			return fd < 0 ? fd : util_fail(&s->cause, -EIO, "cannot write "
			                               "interventions.jsonl");
		}
	}
	/* One sft sample opens each intervention's lines. */
	if (strcmp(json_string_value(json_object_get(sample, "type")), "sft") == 0) {
		x->rep->interventions++;
		iv_count(x, sample);
	}
	(void)iv;
	line = json_dumps(sample, JSON_COMPACT | JSON_SORT_KEYS);
	if (line == NULL || fprintf(x->ivf, "%s\n", line) < 0) {
		free(line);
		return util_fail(&s->cause, -EIO, "cannot write interventions.jsonl");
	}
	x->rep->intervention_samples++;
	x->rep->bytes += strlen(line) + 1;
	free(line);
	return 0;
}

static int export_session(struct exporter *x, int64_t id, char **cause)
{
	struct sess *s = util_xcalloc(1, sizeof(*s));
	int rc;

	s->x = x;
	s->episode = -1;
	rc = store_session_get(x->st, id, &s->info, cause);
	if (rc != 0)
		goto fail;
	x->rep->sessions++;
	x->stats->sessions++;
	if (s->info.end_wall_ns == 0 || strcmp(s->info.end_reason, "interrupted") == 0)
		x->rep->sessions_unclosed++;
	if (x->ps != NULL)
		pseudo_id(x->ps, "host", s->info.host, s->host_ps);
	else
		util_strlcpy_utf8(s->host_ps, "0000000000000000", sizeof(s->host_ps));
	if (!x->stats_only) {
		rc = scrub_session_begin(x->sc, id, NULL, cause);
		if (rc == 0)
			rc = store_frames_foreach(x->st, id, collect_frame, s, cause);
		if (rc != 0)
			goto fail;
		/* A session may have no frames at all (qsort must not be given NULL). */
		if (s->n_by_t > 0)
			qsort(s->by_t, s->n_by_t, sizeof(*s->by_t), cmp_by_t);
		if (s->n_pre > 0)
			qsort(s->pre, s->n_pre, sizeof(*s->pre), cmp_by_event);
	}
	rc = store_tasks_foreach(x->st, id, collect_task, s, cause);
	if (rc == 0)
		rc = store_excluded_get(x->st, id, &s->excl, &s->n_excl, cause);
	if (rc == 0 && !x->stats_only && x->walk_fn == NULL)
		rc = store_interventions_foreach(x->st, id, collect_intervention, s, cause);
	export_iv_init(&s->iv, s->ivs, s->n_ivs, iv_redact, iv_emit, s);
	if (rc != 0)
		goto fail;
	rc = reduce_new(&x->o->params.reduce, &s->r);
	if (rc != 0) {
		rc = util_fail(cause, rc, "bad reducer thresholds");
		goto fail;
	}
	s->typed = redact_typed_new(x->rd);
	s->lk.st = x->st;
	s->lk.session = id;
	reduce_set_elements(s->r, lookup_element, &s->lk);
	export_split_init(&s->split, &x->o->params, s->tasks, s->n_tasks);
	rc = store_events_foreach(x->st, id, on_event, s, cause);
	if (rc != 0 && s->err == 0)
		goto fail;
	if (s->err == 0) {
		reduce_finish(s->r);
		drain(s);
		redact_typed_finish(s->typed);
		drain(s);
		if (s->have_pending)
			emit(s, &s->pending, s->pending_risk, NULL);
		if (s->err == 0 && (rc = export_iv_finish(&s->iv)) != 0)
			s->err = rc;
	}
	/* The frames after the last step are scanned too: every frame of the session is. */
	if (s->err == 0 && !x->stats_only)
		s->err = scrub_session_end(x->sc, &s->cause);
	if (s->err != 0) {
		if (rc != 0 && cause != NULL) {
			free(*cause);
			*cause = NULL;
		}
		rc = s->err;
		util_fail(cause, rc, "%s", s->cause != NULL ? s->cause : "cannot write the export");
	}
fail:
	sess_free(s);
	free(s);
	return rc;
}

/* ---- the card ---- */

static void card_counts(FILE *f, const char *title, const uint64_t *kinds, const uint64_t *inter)
{
	fprintf(f, "\n### %s\n\n| interaction type | steps |\n|---|---|\n", title);
	for (int i = 0; i < REDUCE_I_MAX_; i++) {
		if (inter[i] > 0)
			fprintf(f, "| %s | %llu |\n", reduce_interaction_name(i),
			        (unsigned long long)inter[i]);
	}
	fprintf(f, "\n| action | steps |\n|---|---|\n");
	for (size_t i = 0; i < N_KINDS; i++) {
		if (kinds[i] > 0)
			fprintf(f, "| %s | %llu |\n", kind_names[i], (unsigned long long)kinds[i]);
	}
}

/* Markdown table cells: no pipes or line breaks from an application's name. */
static void card_cell(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		fputc(*s == '|' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

static int write_card(struct exporter *x, char **cause)
{
	const struct export_report *r = x->rep;
	char params[1024];
	char *path = util_xasprintf("%s/README.md", x->o->out_dir);
	FILE *f;
	int rc = 0;
	int fd = paths_create_file(path, O_WRONLY, cause);

	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		rc = fd < 0 ? fd : util_fail(cause, -errno, "cannot write %s: %s", path,
		                             strerror(errno));
		if (fd >= 0)
			close(fd);
		free(path);
		return rc;
	}
	export_params_json(&x->o->params, params, sizeof(params));
	fprintf(f, "---\nconfigs:\n- config_name: default\n  data_files: \"%s\"\n"
	        "task_categories:\n- other\ntags:\n- computer-use\n- gui-agents\n- mimic\n---\n\n",
	        x->o->format == EXPORT_JSONL ? "steps.jsonl" : "shard-*.tar");
	fprintf(f, "# Computer-use trajectories recorded with mimic\n\n"
	        "Exported by mimic %s as %s (docs/EXPORT.md of mimic describes every field; the "
	        "JSON Schema of a step is docs/schema/step.schema.json).\n\n",
	        MIMIC_VERSION, x->o->format == EXPORT_JSONL ? "JSON Lines (`steps.jsonl`, one step "
	        "per line, images in `images/`)" : "WebDataset tar shards (`shard-NNNNNN.tar`, one "
	        "sample per step: `KEY.json` and the pre-action screen `KEY.IMAGE`)");
	fprintf(f, "## Contents\n\n| | |\n|---|---|\n"
	        "| sessions | %llu |\n| episodes | %llu |\n| episodes with a task description | %llu "
	        "|\n| steps | %llu |\n| images | %llu (%s, %.1f MB) |\n",
	        (unsigned long long)r->sessions, (unsigned long long)r->episodes,
	        (unsigned long long)r->labelled_episodes, (unsigned long long)r->steps,
	        (unsigned long long)r->images, encode_format_name(x->o->image),
	        (double)r->image_bytes / 1e6);
	if (x->o->format == EXPORT_WEBDATASET)
		fprintf(f, "| shards | %llu (at most %lld bytes each) |\n",
		        (unsigned long long)r->shards, (long long)x->o->shard_bytes);
	card_counts(f, "Steps by interaction type and action", x->stats->by_kind,
	            x->stats->by_interaction);
	fprintf(f, "\n### Steps by application\n\n| application | steps |\n|---|---|\n");
	for (size_t i = 0; i < x->stats->n_apps; i++) {
		unsigned risk = 0;
		int changed = 0;
		char *app = redact_field(x, x->stats->apps[i].app, &risk, &changed);

		fputs("| ", f);
		card_cell(f, app != NULL ? app : "(dropped)");
		fprintf(f, " | %llu |\n", (unsigned long long)x->stats->apps[i].steps);
		free(app);
	}
	/* Said only where there are some: a card without them reads as it always did. */
	if (r->interventions > 0) {
		fprintf(f, "\n### Interventions (agent takeovers)\n\n`interventions.jsonl`: %llu "
		        "interventions, %llu samples (supervised `sft` and `preference` pairs, "
		        "docs/EXPORT.md of mimic).\n\n| application | interaction type | "
		        "interventions |\n|---|---|---|\n", (unsigned long long)r->interventions,
		        (unsigned long long)r->intervention_samples);
		for (size_t i = 0; i < x->n_iv_counts; i++) {
			fputs("| ", f);
			card_cell(f, x->iv_counts[i].app);
			fprintf(f, " | %s | %llu |\n",
			        reduce_interaction_name(x->iv_counts[i].interaction),
			        (unsigned long long)x->iv_counts[i].n);
		}
	}
	fprintf(f, "\n## Skipped and redacted\n\n| | |\n|---|---|\n"
	        "| frames that could not be read or decoded (missing or corrupt files) | %llu |\n"
	        "| frames kept with personal data or secrets filled (black boxes) | %llu |\n"
	        "| frames dropped by redaction | %llu |\n"
	        "| steps without a pre-action image | %llu |\n"
	        "| of which left out of the WebDataset shards | %llu |\n"
	        "| text fields with redacted spans | %llu |\n"
	        "| text fields dropped (could not be scanned) | %llu |\n"
	        "| sessions that did not close (recorder killed; exported as far as stored) | %llu |\n"
	        "| idle gaps between episodes (waits not exported) | %llu |\n",
	        (unsigned long long)r->frames_missing, (unsigned long long)r->frames_filled,
	        (unsigned long long)r->frames_dropped,
	        (unsigned long long)r->steps_without_frame, (unsigned long long)r->steps_left_out,
	        (unsigned long long)r->texts_redacted,
	        (unsigned long long)r->texts_dropped, (unsigned long long)r->sessions_unclosed,
	        (unsigned long long)r->idle_gaps);
	fprintf(f, "\n## How it was made\n\n"
	        "- Raw input events were reduced to actions by mimic's reducer; a step is one "
	        "action with the screen before it and the screen after it settled.\n"
	        "- Episodes are the spans between `mimic task start` and `mimic task end` (with "
	        "the task description and outcome); elsewhere a session is cut at idle gaps and "
	        "application switches and the episode is unlabelled (`task` null).\n"
	        "- Reducer and episode thresholds:\n\n```json\n%s\n```\n\n"
	        "- Every text field (typed text, window titles, element names, URLs, task "
	        "descriptions) passed mimic's text redaction (%zu built-in rules, %zu added by "
	        "the organisation's policy or the export); personal data and secrets are "
	        "replaced by placeholders such as `<EMAIL>`. Every image passed the export's frame "
	        "preparation step.\n"
	        "- Host and user are pseudonyms: keyed hashes under %s.\n", params,
	        redact_builtin_count(x->rd), redact_rule_count(x->rd) - redact_builtin_count(x->rd),
	        x->o->key_origin != NULL ? "the organisation's key, set by its policy"
	                                 : "a key that stays on the recording machine");
	/* Said only where there are URLs: a card without them reads as it always did. */
	if (r->urls > 0)
		fprintf(f, "- Steps in a browser carry their page's URL (`url`, %llu steps): scheme and host "
		        "as they were, each path segment through the text redaction, no user name, "
		        "password or fragment, and %s; `null` where it was not a URL.\n",
		        (unsigned long long)r->urls, x->o->url_query
		        ? "the query string kept with each parameter redacted (the policy's "
		          "`[capture] url_query = on`)"
		        : "no query string (the policy's `[capture] url_query` is off)");
	if (fclose(f) != 0 && rc == 0)
		rc = util_fail(cause, -EIO, "cannot write %s", path);
	free(path);
	return rc;
}

/* ---- driving ---- */

/* Logs the export in the audit log: which sessions, the format and counts, no content. */
static int audit_export(struct exporter *x, char **cause)
{
	const struct export_opts *o = x->o;
	json_t *d = json_object(), *ids = json_array();
	char *details, *why = NULL;
	int rc;

	for (size_t i = 0; i < o->n_sessions; i++)
		json_array_append_new(ids, json_integer(o->sessions[i]));
	json_object_set_new(d, "sessions", ids);
	json_object_set_new(d, "format", json_string(o->format == EXPORT_JSONL ? "jsonl"
	                                                                       : "webdataset"));
	json_object_set_new(d, "episodes", json_integer((json_int_t)x->rep->episodes));
	json_object_set_new(d, "steps", json_integer((json_int_t)x->rep->steps));
	json_object_set_new(d, "images", json_integer((json_int_t)x->rep->images));
	details = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(d);
	rc = audit_append(x->data_dir, "export", details, &why);
	if (rc != 0)
		rc = util_fail(cause, rc, "the export in %s was written but could not be logged in "
		               "the audit log: %s", o->out_dir, why != NULL ? why : "unknown reason");
	free(why);
	free(details);
	return rc;
}

/*
 * The export directory: made 0700, or an existing one that is empty and belongs
 * to the user (docs/EXPORT.md). Another user's directory, even an empty one, is
 * refused: its owner could read or replace what is written there.
 */
static int prepare_out_dir(const char *dir, char **cause)
{
	DIR *d;
	struct dirent *de;
	struct stat sb;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return util_fail(cause, -errno, "cannot create %s: %s", dir, strerror(errno));
	if (stat(dir, &sb) != 0)
		return util_fail(cause, -errno, "cannot open %s: %s", dir, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return util_fail(cause, -ENOTDIR, "%s is not a directory; give a new directory "
		                 "to --out", dir);
	if (sb.st_uid != geteuid())
		return util_fail(cause, -EPERM, "%s belongs to uid %u, not to you (uid %u); give "
		                 "a new directory to --out", dir, (unsigned)sb.st_uid,
		                 (unsigned)geteuid());
	d = opendir(dir);
	if (d == NULL)
		return util_fail(cause, -errno, "cannot open %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			closedir(d);
			return util_fail(cause, -EEXIST, "%s is not empty; give a new directory to "
			                 "--out", dir);
		}
	}
	closedir(d);
	return 0;
}

/* The name of the data directory's owner: whose work the recordings are. */
static void owner_name(const char *dir, char *out, size_t n)
{
	struct stat sb;
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (stat(dir, &sb) != 0)
		sb.st_uid = getuid();
	if (getpwuid_r(sb.st_uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
		util_strlcpy_utf8(out, pw.pw_name, n);
	else
		snprintf(out, n, "uid-%u", (unsigned)sb.st_uid);
}

static void exporter_free(struct exporter *x)
{
	for (size_t i = 0; i < EXPORT_ENC_CACHE; i++)
		free(x->cache[i].data);
	if (x->ar != NULL) {
		archive_write_free(x->ar);
		close(x->ar_fd);
	}
	if (x->jsonl != NULL)
		fclose(x->jsonl);
	if (x->ivf != NULL)
		fclose(x->ivf);
	free(x->iv_counts);
	free(x->scratch.pixels);
	free(x->written);
	encode_free(x->enc);
	scrub_close(x->sc);
	redact_close(x->rd);
	pseudo_free(x->ps);
	store_close(x->st);
	free(x->data_dir);
	export_stats_free(x->stats);
}

/* Opens what both export and stats need. */
static int exporter_open(struct exporter *x, const char *data_dir, char **cause)
{
	int rc = paths_data_dir(data_dir, &x->data_dir, cause);

	x->ar_fd = -1;
	x->stats = util_xcalloc(1, sizeof(*x->stats));
	if (rc == 0)
		rc = store_open(x->data_dir, STORE_READONLY, &x->st, cause);
	return rc;
}

int export_run(const struct export_opts *o, struct export_report *rep, char **cause)
{
	struct exporter x;
	char user[256], *key = NULL, *path = NULL;
	int64_t t0 = util_now_mono_ns();
	int rc, fd;

	memset(rep, 0, sizeof(*rep));
	memset(&x, 0, sizeof(x));
	x.o = o;
	x.rep = rep;
	rc = export_params_check(&o->params, cause);
	if (rc != 0)
		return rc;
	if (o->out_dir == NULL || o->out_dir[0] == '\0')
		return util_fail(cause, -EINVAL, "no output directory; give --out DIR");
	if (o->format == EXPORT_WEBDATASET && o->shard_bytes < 4096)
		return util_fail(cause, -EINVAL, "the shard size must be at least 4096 bytes");
	rc = exporter_open(&x, o->data_dir, cause);
	if (rc != 0)
		goto fail;
	/* Every session must exist before anything is written. */
	for (size_t i = 0; i < o->n_sessions; i++) {
		struct store_session s;

		rc = store_session_get(x.st, o->sessions[i], &s, cause);
		if (rc != 0)
			goto fail;
	}
	rc = redact_open_files(o->redact_rules, o->n_redact_rules, &x.rd, cause);
	if (rc != 0)
		goto fail;
	/*
	 * Nothing leaves unscanned (scrub.h): every frame not yet scanned is scanned
	 * as the export reaches it. What would stop the scan stops the export here,
	 * before anything is written.
	 */
	rc = scrub_open(&(struct scrub_opts){ .data_dir = x.data_dir, .redact = x.rd,
	                                      .fill = SCRUB_FILL }, &x.sc, cause);
	if (rc == 0)
		rc = scrub_ready(x.sc, o->sessions, o->n_sessions, cause);
	if (rc != 0)
		goto fail;
	key = o->key_path != NULL ? util_xstrdup(o->key_path)
	                          : util_xasprintf("%s/%s", x.data_dir, PSEUDO_KEY_NAME);
	/* The organisation's key is never made here: a new random one would split its ids. */
	rc = pseudo_open(key, o->key_origin == NULL ? PSEUDO_CREATE : PSEUDO_OWNED, &x.ps, cause);
	if (rc != 0) {
		if (o->key_origin != NULL && cause != NULL && *cause != NULL) {
			char *why = *cause;

			*cause = util_xasprintf("%s (the policy's pseudonym_key, %s)", why,
			                        o->key_origin);
			free(why);
		}
		goto fail;
	}
	owner_name(x.data_dir, user, sizeof(user));
	pseudo_id(x.ps, "user", user, x.user_ps);
	rc = encode_new(&x.enc, cause);
	if (rc != 0)
		goto fail;
	rc = prepare_out_dir(o->out_dir, cause);
	if (rc != 0)
		goto fail;
	if (o->format == EXPORT_JSONL) {
		path = util_xasprintf("%s/images", o->out_dir);
		if (mkdir(path, 0700) != 0) {
			rc = util_fail(cause, -errno, "cannot create %s: %s", path, strerror(errno));
			goto fail;
		}
		free(path);
		path = util_xasprintf("%s/steps.jsonl", o->out_dir);
		fd = paths_create_file(path, O_WRONLY, cause);
		if (fd < 0 || (x.jsonl = fdopen(fd, "w")) == NULL) {
			rc = fd < 0 ? fd : util_fail(cause, -errno, "cannot create %s: %s", path,
			                             strerror(errno));
			if (fd >= 0)
				close(fd);
			goto fail;
		}
	}
	for (size_t i = 0; i < o->n_sessions; i++) {
		rc = export_session(&x, o->sessions[i], cause);
		if (rc != 0)
			goto fail;
	}
	if (x.jsonl != NULL) {
		FILE *f = x.jsonl;

		x.jsonl = NULL;
		if (fclose(f) != 0) {
			rc = util_fail(cause, -EIO, "cannot write %s/steps.jsonl", o->out_dir);
			goto fail;
		}
	}
	if (x.ivf != NULL) {
		FILE *f = x.ivf;

		x.ivf = NULL;
		if (fclose(f) != 0) {
			rc = util_fail(cause, -EIO, "cannot write %s/interventions.jsonl", o->out_dir);
			goto fail;
		}
	}
	rc = shard_close(&x, cause);
	if (rc == 0)
		rc = write_card(&x, cause);
	if (rc == 0)
		rc = audit_export(&x, cause);
fail:
	exporter_free(&x);
	free(key);
	free(path);
	rep->seconds = (double)(util_now_mono_ns() - t0) / 1e9;
	return rc;
}

int export_walk(const struct export_opts *o, export_step_fn fn, void *arg,
                struct export_report *rep, char **cause)
{
	struct exporter x;
	int64_t t0 = util_now_mono_ns();
	int rc;

	memset(rep, 0, sizeof(*rep));
	memset(&x, 0, sizeof(x));
	x.o = o;
	x.rep = rep;
	x.walk_fn = fn;
	x.walk_arg = arg;
	rc = export_params_check(&o->params, cause);
	if (rc == 0)
		rc = exporter_open(&x, o->data_dir, cause);
	for (size_t i = 0; rc == 0 && i < o->n_sessions; i++)
		rc = store_session_get(x.st, o->sessions[i], &(struct store_session){ 0 }, cause);
	if (rc == 0)
		rc = redact_open_files(o->redact_rules, o->n_redact_rules, &x.rd, cause);
	if (rc == 0)
		rc = scrub_open(&(struct scrub_opts){ .data_dir = x.data_dir, .redact = x.rd,
		                                      .fill = SCRUB_FILL }, &x.sc, cause);
	if (rc == 0)
		rc = scrub_ready(x.sc, o->sessions, o->n_sessions, cause);
	if (rc == 0)
		rc = encode_new(&x.enc, cause);
	for (size_t i = 0; rc == 0 && i < o->n_sessions; i++)
		rc = export_session(&x, o->sessions[i], cause);
	if (x.walk_rc != 0) {
		rc = x.walk_rc;
		if (cause != NULL) {
			free(*cause);
			*cause = NULL;
		}
	}
	exporter_free(&x);
	rep->seconds = (double)(util_now_mono_ns() - t0) / 1e9;
	return rc;
}

int export_stats_run(const char *data_dir, const int64_t *sessions, size_t n_sessions,
                     const struct export_params *p, struct export_stats **out, char **cause)
{
	struct exporter x;
	struct export_opts o;
	struct export_report rep;
	int rc;

	*out = NULL;
	memset(&x, 0, sizeof(x));
	memset(&rep, 0, sizeof(rep));
	export_opts_defaults(&o);
	o.params = *p;
	x.o = &o;
	x.rep = &rep;
	x.stats_only = 1;
	rc = export_params_check(p, cause);
	if (rc == 0)
		rc = exporter_open(&x, data_dir, cause);
	for (size_t i = 0; rc == 0 && i < n_sessions; i++)
		rc = export_session(&x, sessions[i], cause);
	if (rc == 0) {
		*out = x.stats;
		x.stats = NULL;
	}
	exporter_free(&x);
	return rc;
}
