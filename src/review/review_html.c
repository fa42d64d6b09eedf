/*
 * review_html: the review page's HTML pieces and steps in words (review_html.h).
 */
#include "review_html.h"

#include <stdio.h>
#include <string.h>

/* Plain, readable at 1280x800, no external resources (the CSP allows only 'self'). */
const char review_html_style[] =
	"body{font-family:sans-serif;margin:1em 2em;max-width:1200px;color:#111}"
	"table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px;"
	"vertical-align:top;text-align:left}"
	"img.shot{max-width:480px;border:1px solid #888}"
	".drop{background:#ddd;padding:2em;display:inline-block}"
	".excl{color:#777}"
	"nav a{margin-right:1em}"
	"button{font-size:100%}"
	"a:focus,button:focus{outline:3px solid #15c}";

void review_html_text(struct dbuf *b, const char *s)
{
	if (s == NULL)
		return;
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&': dbuf_adds(b, "&amp;"); break;
		case '<': dbuf_adds(b, "&lt;"); break;
		case '>': dbuf_adds(b, "&gt;"); break;
		case '"': dbuf_adds(b, "&quot;"); break;
		case '\'': dbuf_adds(b, "&#39;"); break;
		default: dbuf_add(b, s, 1);
		}
	}
}

void review_html_begin(struct dbuf *b, const char *title, const char *token)
{
	dbuf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	             "<meta name=\"viewport\" content=\"width=device-width\"><title>");
	review_html_text(b, title);
	dbuf_adds(b, " - mimic review</title>");
	if (token != NULL)
		dbuf_printf(b, "<link rel=\"stylesheet\" href=\"/style?t=%s\">", token);
	dbuf_adds(b, "</head><body>\n");
}

void review_html_end(struct dbuf *b)
{
	dbuf_adds(b, "\n</body></html>\n");
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* The name of the nearest ancestor of el with role (NULL when none). */
static const char *ancestor_named(const json_t *el, const char *role)
{
	const json_t *anc = json_object_get(el, "ancestors"), *a;
	size_t i;

	json_array_foreach(anc, i, a) {
		const char *r = str(a, "role");

		if (r != NULL && strcmp(r, role) == 0)
			return str(a, "name");
	}
	return NULL;
}

void review_html_step_words(const json_t *step, char *buf, size_t n)
{
	const json_t *act = json_object_get(step, "action");
	const json_t *el = json_object_get(step, "element");
	const char *kind = str(step, "kind"), *inter = str(step, "interaction");
	const char *name = str(el, "name"), *where = str(step, "window_title");
	const char *app = str(step, "app");
	char in[300] = "";

	if (n == 0)
		return;
	if (kind == NULL)
		kind = "unknown";
	if (where == NULL)
		where = app;
	if (where != NULL)
		snprintf(in, sizeof(in), " in %s", where);
	if (strstr(kind, "click") != NULL) {
		const char *verb = strcmp(kind, "double_click") == 0 ? "double-clicked"
		                 : strcmp(kind, "triple_click") == 0 ? "triple-clicked"
		                 : strcmp(kind, "right_click") == 0 ? "right-clicked"
		                 : strcmp(kind, "middle_click") == 0 ? "middle-clicked" : "clicked";
		const char *combo = ancestor_named(el, "combo box");

		if (inter != NULL && strcmp(inter, "dropdown_selection") == 0 && name != NULL &&
		    combo != NULL)
			snprintf(buf, n, "chose '%s' in %s", name, combo);
		else if (name != NULL)
			snprintf(buf, n, "%s '%s'%s", verb, name, in);
		else
			snprintf(buf, n, "%s at (%lld, %lld)%s", verb,
			         (long long)json_integer_value(json_object_get(act, "x")),
			         (long long)json_integer_value(json_object_get(act, "y")), in);
	} else if (strcmp(kind, "type") == 0) {
		const char *t = str(act, "text");

		if (name != NULL)
			snprintf(buf, n, "typed %s in %s", t != NULL ? t : "(nothing)", name);
		else
			snprintf(buf, n, "typed %s%s", t != NULL ? t : "(nothing)", in);
	} else if (strcmp(kind, "press") == 0 || strcmp(kind, "hotkey") == 0) {
		const char *k = str(act, "keys");

		snprintf(buf, n, "pressed %s%s", k != NULL ? k : "a key", in);
	} else if (strcmp(kind, "scroll") == 0) {
		const char *d = str(act, "direction");

		snprintf(buf, n, "scrolled %s%s", d != NULL ? d : "", in);
	} else if (strcmp(kind, "drag") == 0) {
		snprintf(buf, n, "dragged from (%lld, %lld) to (%lld, %lld)%s",
		         (long long)json_integer_value(json_object_get(act, "x")),
		         (long long)json_integer_value(json_object_get(act, "y")),
		         (long long)json_integer_value(json_object_get(act, "x2")),
		         (long long)json_integer_value(json_object_get(act, "y2")), in);
	} else if (strcmp(kind, "move") == 0) {
		snprintf(buf, n, "moved the pointer%s", in);
	} else if (strcmp(kind, "wait") == 0) {
		snprintf(buf, n, "waited %.0f s",
		         json_number_value(json_object_get(act, "duration_s")));
	} else if (strcmp(kind, "switch") == 0) {
		snprintf(buf, n, "switched to %s", where != NULL ? where : "another window");
	} else {
		snprintf(buf, n, "%s%s", kind, in);
	}
}
