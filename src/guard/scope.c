/*
 * scope: judges the top-level windows the platform's desktop reports (desktop.h)
 * and computes the visible area of in-scope windows (see scope.h).
 *
 * Every change of the window tree (a window mapped, unmapped, moved, resized,
 * restacked, reparented) or of a client's title or class makes desktop_dispatch
 * say so; scope_dispatch then reads the windows again (desktop_read, bottom to
 * top), judges each with policy_check and recomputes the kept rectangles. That
 * is done only when something changed.
 */
#include "scope.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "desktop.h"
#include "testbreak.h"
#include "util.h"

struct scope {
	struct desktop *desk;
	const struct policy *pol;
	size_t n_keep;
	struct image_rect keep[SCOPE_RECTS_MAX];
	/* The focused browser window's page (scope_set_page). */
	uint32_t page_window;
	int page_private;
	char page_url[1024];
	struct image_rect page_doc;
};

/* What is known about one viewable top-level window. */
struct top {
	struct image_rect frame;    /* its outer rectangle (border included) */
	struct image_rect client;   /* the client's area, when in scope */
	int32_t pid;
	int has_class;
	int in_scope;
};

static int64_t area(const struct image_rect *r)
{
	return (int64_t)r->w * (int64_t)r->h;
}

/* Adds r to rects; when full, replaces the smallest piece if r is larger. */
static size_t add_piece(struct image_rect *rects, size_t n, size_t max, const struct image_rect *r)
{
	size_t small = 0;

	if (r->w == 0 || r->h == 0)
		return n;
	if (n < max) {
		rects[n] = *r;
		return n + 1;
	}
	if (max == 0)
		return 0;
	for (size_t i = 1; i < n; i++)
		if (area(&rects[i]) < area(&rects[small]))
			small = i;
	if (area(r) > area(&rects[small]))
		rects[small] = *r;
	return n;
}

size_t scope_subtract(struct image_rect *rects, size_t n, size_t max, const struct image_rect *hole)
{
	struct image_rect tmp[SCOPE_RECTS_MAX * 4];
	size_t m = 0, out = 0;

	if (max > SCOPE_RECTS_MAX)
		max = SCOPE_RECTS_MAX;
	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		const struct image_rect *r = &rects[i];
		struct image_rect in;
		int64_t rx1 = (int64_t)r->x + r->w, ry1 = (int64_t)r->y + r->h;
		int64_t ix1, iy1;

		if (!image_rect_intersect(r, hole, &in)) {
			tmp[m++] = *r;
			continue;
		}
		ix1 = (int64_t)in.x + in.w;
		iy1 = (int64_t)in.y + in.h;
		/* Up to four pieces: above, below, left and right of the hole. */
		if (in.y > r->y)
			tmp[m++] = (struct image_rect){r->x, r->y, r->w, (uint32_t)(in.y - r->y)};
		if (iy1 < ry1)
			tmp[m++] = (struct image_rect){r->x, (int32_t)iy1, r->w, (uint32_t)(ry1 - iy1)};
		if (in.x > r->x)
			tmp[m++] = (struct image_rect){r->x, in.y, (uint32_t)(in.x - r->x), in.h};
		if (ix1 < rx1)
			tmp[m++] = (struct image_rect){(int32_t)ix1, in.y, (uint32_t)(rx1 - ix1), in.h};
	}
	for (size_t i = 0; i < m; i++)
		out = add_piece(rects, out, max, &tmp[i]);
	return out;
}

/* The windows desktop_read reports, judged, bottom to top. */
struct reading {
	struct scope *s;
	struct top *tops;
	size_t n_tops;
};

/* Judges one window: in scope when it has a class and the policy says so. */
static void judge(void *arg, const struct desktop_window *w)
{
	struct reading *rd = arg;
	struct top *t;
	struct policy_window pw;

	if (rd->n_tops == DESKTOP_WINDOWS_MAX)
		return;
	t = &rd->tops[rd->n_tops++];
	t->frame = w->frame;
	t->client = w->client;
	t->pid = w->pid;
	t->has_class = w->has_class;
	if (!t->has_class)
		return;
	pw = (struct policy_window){w->instance, w->class_name, w->exe, w->title, NULL};
	if (w->window != 0 && w->window == rd->s->page_window &&
	    policy_is_browser(rd->s->pol, w->instance, w->class_name)) {
		struct scope *s = rd->s;

		if (s->page_private)
			return;
		pw.url = s->page_url[0] != '\0' ? s->page_url : NULL;
		t->in_scope = policy_check(s->pol, &pw) == POLICY_IN;
		/* Only the page: other tabs' titles in the browser's frame name other sites. */
		if (t->in_scope && s->page_doc.w > 0 && s->page_doc.h > 0 &&
		    !testbreak("browser-tabs-unmasked") &&
		    !image_rect_intersect(&t->client, &s->page_doc, &t->client))
			t->in_scope = 0;
		return;
	}
	t->in_scope = policy_check(rd->s->pol, &pw) == POLICY_IN;
}

/* Reads the windows again and recomputes the kept rectangles. */
static int refresh(struct scope *s)
{
	struct reading rd = {s, NULL, 0};
	struct top *tops;
	struct image_rect keep[SCOPE_RECTS_MAX];
	size_t n_keep = 0, n_tops;
	int changed;

	rd.tops = util_xcalloc(DESKTOP_WINDOWS_MAX, sizeof(*rd.tops));
	if (desktop_read(s->desk, judge, &rd) < 0) {
		free(rd.tops);
		return -EPIPE;
	}
	tops = rd.tops;
	n_tops = rd.n_tops;
	/* Popups without a class belong to an in-scope application when their pid says so. */
	for (size_t i = 0; i < n_tops; i++) {
		if (tops[i].has_class || tops[i].pid <= 0)
			continue;
		for (size_t j = 0; j < n_tops; j++) {
			if (tops[j].has_class && tops[j].in_scope && tops[j].pid == tops[i].pid) {
				tops[i].in_scope = 1;
				tops[i].client = tops[i].frame;
				break;
			}
		}
	}
	/* Bottom to top: each window covers what is below it; in-scope clients add area. */
	for (size_t i = 0; i < n_tops; i++) {
		n_keep = scope_subtract(keep, n_keep, SCOPE_RECTS_MAX, &tops[i].frame);
		if (tops[i].in_scope) {
			struct image_rect c;
			if (image_rect_intersect(&tops[i].client, &tops[i].frame, &c))
				n_keep = add_piece(keep, n_keep, SCOPE_RECTS_MAX, &c);
		}
	}
	changed = n_keep != s->n_keep || memcmp(keep, s->keep, n_keep * sizeof(keep[0])) != 0;
	memcpy(s->keep, keep, n_keep * sizeof(keep[0]));
	s->n_keep = n_keep;
	free(tops);
	return changed;
}

int scope_open(const char *display, const struct policy *pol, struct scope **out, char **cause)
{
	struct scope *s = util_xcalloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	s->pol = pol;
	rc = desktop_open(display, &s->desk, cause);
	if (rc != 0)
		goto fail;
	if (refresh(s) < 0) {
		rc = util_fail(cause, -EIO, "the X server did not list its windows");
		goto fail;
	}
	*out = s;
	return 0;
fail:
	scope_close(s);
	return rc;
}

void scope_close(struct scope *s)
{
	if (s == NULL)
		return;
	desktop_close(s->desk);
	free(s);
}

int scope_set_policy(struct scope *s, const struct policy *pol)
{
	s->pol = pol;
	return refresh(s);
}

int scope_fd(struct scope *s)
{
	return desktop_fd(s->desk);
}

int scope_dispatch(struct scope *s, int do_read)
{
	int rc = desktop_dispatch(s->desk, do_read);

	if (rc <= 0)
		return rc;
	return refresh(s);
}

int scope_set_page(struct scope *s, uint32_t window, const char *url, int private_window,
                   const struct image_rect *doc)
{
	s->page_window = window;
	s->page_private = private_window;
	util_strlcpy_utf8(s->page_url, url != NULL ? url : "", sizeof s->page_url);
	s->page_doc = doc != NULL ? *doc : (struct image_rect){0, 0, 0, 0};
	return refresh(s);
}

size_t scope_keep_rects(const struct scope *s, struct image_rect *out, size_t max)
{
	size_t n = s->n_keep < max ? s->n_keep : max;

	memcpy(out, s->keep, n * sizeof(*out));
	return n;
}

int scope_point_kept(const struct scope *s, int32_t x, int32_t y)
{
	struct image_rect p = {x, y, 1, 1};

	for (size_t i = 0; i < s->n_keep; i++)
		if (image_rect_intersect(&s->keep[i], &p, NULL))
			return 1;
	return 0;
}
