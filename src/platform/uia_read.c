/*
 * uia_read: reads an element found by a lookup into a struct uia_element: role,
 * name, description, states (with the derived password state), bounds, the label
 * of an input field, a menu item's shortcut, the ancestors, the menu path and the
 * URL of the enclosing web document; for web elements also a link's target and a
 * select's chosen option.
 */
#include "uia_int.h"

#include "log.h"
#include "testbreak.h"

#include <string.h>
#include <strings.h>

/* Appends s to dst (of size n) after sep when dst is not empty, cutting at UTF-8. */
static void append_str(char *dst, size_t n, const char *sep, const char *s)
{
	size_t len = strlen(dst);

	if (len + 1 >= n)
		return;
	if (len > 0) {
		size_t sl = strlen(sep);
		if (len + sl + 1 >= n)
			return;
		memcpy(dst + len, sep, sl + 1);
		len += sl;
	}
	util_strlcpy_utf8(dst + len, s, n - len);
}

/* AT-SPI state names, indexed by AtspiStateType (the D-Bus protocol's numbering). */
static const char *const state_names[] = {
	"invalid", "active", "armed", "busy", "checked", "collapsed", "defunct", "editable",
	"enabled", "expandable", "expanded", "focusable", "focused", "has-tooltip",
	"horizontal", "iconified", "modal", "multi-line", "multiselectable", "opaque",
	"pressed", "resizable", "selectable", "selected", "sensitive", "showing",
	"single-line", "stale", "transient", "vertical", "visible", "manages-descendants",
	"indeterminate", "required", "truncated", "animated", "invalid-entry",
	"supports-autocompletion", "selectable-text", "is-default", "visited", "checkable",
	"has-popup", "read-only",
};

void uia_format_states(uint64_t states, char *dst, size_t n)
{
	dst[0] = '\0';
	for (size_t i = 1; i < sizeof state_names / sizeof state_names[0]; i++)
		if (states & UIA_STATE_BIT(i))
			append_str(dst, n, " ", state_names[i]);
	if (states & UIA_STATE_PASSWORD)
		append_str(dst, n, " ", "password");
}

int uia_role_is_noise(AtspiRole r)
{
	return r == ATSPI_ROLE_FILLER || r == ATSPI_ROLE_PANEL || r == ATSPI_ROLE_SECTION ||
	       r == ATSPI_ROLE_UNKNOWN || r == ATSPI_ROLE_REDUNDANT_OBJECT ||
	       r == ATSPI_ROLE_VIEWPORT || r == ATSPI_ROLE_LAYERED_PANE ||
	       r == ATSPI_ROLE_ROOT_PANE || r == ATSPI_ROLE_GLASS_PANE ||
	       r == ATSPI_ROLE_SCROLL_PANE || r == ATSPI_ROLE_INVALID;
}

int uia_role_is_menu_item(AtspiRole r)
{
	return r == ATSPI_ROLE_MENU_ITEM || r == ATSPI_ROLE_CHECK_MENU_ITEM ||
	       r == ATSPI_ROLE_RADIO_MENU_ITEM || r == ATSPI_ROLE_TEAROFF_MENU_ITEM ||
	       r == ATSPI_ROLE_MENU;
}

static int role_wants_label(AtspiRole r)
{
	return r == ATSPI_ROLE_TEXT || r == ATSPI_ROLE_PASSWORD_TEXT || r == ATSPI_ROLE_ENTRY ||
	       r == ATSPI_ROLE_COMBO_BOX || r == ATSPI_ROLE_SPIN_BUTTON ||
	       r == ATSPI_ROLE_SLIDER || r == ATSPI_ROLE_EDITBAR || r == ATSPI_ROLE_LIST_BOX ||
	       r == ATSPI_ROLE_DATE_EDITOR || r == ATSPI_ROLE_AUTOCOMPLETE;
}

static int role_is_document(AtspiRole r)
{
	return r == ATSPI_ROLE_DOCUMENT_WEB || r == ATSPI_ROLE_DOCUMENT_FRAME;
}

static void role_name(AtspiRole role, char *dst, size_t n)
{
	char *s = role >= 0 && role < ATSPI_ROLE_COUNT ? atspi_role_get_name(role) : NULL;

	set_str(dst, s != NULL ? s : "unknown", n);
	g_free(s);
}

/*
 * How well a label at l describes an element at e: the distance from the label to
 * the element when it sits to its left on the same row, or just above it; -1 when
 * it does neither.
 */
static int label_distance(const AtspiRect *l, const AtspiRect *e)
{
	int ecy = e->y + e->height / 2;
	int lcy = l->y + l->height / 2;

	if (l->x + l->width <= e->x + 4 &&
	    ((ecy >= l->y && ecy < l->y + l->height) || (lcy >= e->y && lcy < e->y + e->height))) {
		int d = e->x - (l->x + l->width);
		return d < 0 ? 0 : (d <= 300 ? d : -1);
	}
	if (l->y + l->height <= e->y + 4 && l->x < e->x + e->width && e->x < l->x + l->width) {
		int d = e->y - (l->y + l->height);
		return d < 0 ? 0 : (d <= 40 ? d + 1 : -1);
	}
	return -1;
}

struct label_search {
	AtspiAccessible *self;
	AtspiRect er;
	int best;
	char text[UIA_LABEL_MAX];
	int nodes;
};

static void label_walk(struct lookup *lk, struct label_search *ls, AtspiAccessible *container,
                       int depth)
{
	int n = uia_lk_child_count(lk, container);

	for (int i = 0; i < n && i < CHILDREN_MAX && !lk->stop; i++) {
		AtspiAccessible *c;
		AtspiRole role;

		if (++ls->nodes > LABEL_NODES_MAX)
			return;
		c = uia_lk_child(lk, container, i);
		if (c == NULL)
			continue;
		if (uia_same_obj(c, ls->self)) {
			g_object_unref(c);
			continue;
		}
		role = uia_lk_role(lk, c, 0);
		if (role == ATSPI_ROLE_LABEL) {
			AtspiRect lr;
			if (uia_lk_extents(lk, c, &lr) == 0) {
				int d = label_distance(&lr, &ls->er);
				if (d >= 0 && (ls->best < 0 || d < ls->best)) {
					char *s = uia_lk_name(lk, c);
					if (s[0] != '\0') {
						ls->best = d;
						set_str(ls->text, s, sizeof ls->text);
					}
					g_free(s);
				}
			}
		} else if (depth > 1 && uia_role_is_noise(role)) {
			label_walk(lk, ls, c, depth - 1);
		}
		g_object_unref(c);
	}
}

/*
 * The text labelling an input element: its labelled-by relation, else the label
 * beside or above it among its siblings, else among its parent's siblings' children
 * (GTK dialogs put labels and fields in separate boxes).
 */
static void find_label(struct lookup *lk, AtspiAccessible *a, const AtspiRect *er, char *dst,
                       size_t n)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	GArray *rels;
	struct label_search ls;
	AtspiAccessible *parent, *grand;

	dst[0] = '\0';
	if (lk->stop)
		return;
	rels = atspi_accessible_get_relation_set(a, &err);
	uia_lk_after(lk, &err, t0, 0);
	if (rels != NULL) {
		for (guint i = 0; i < rels->len; i++) {
			AtspiRelation *rel = g_array_index(rels, AtspiRelation *, i);
			if (dst[0] == '\0' && rel != NULL &&
			    atspi_relation_get_relation_type(rel) == ATSPI_RELATION_LABELLED_BY &&
			    atspi_relation_get_n_targets(rel) > 0) {
				AtspiAccessible *t = atspi_relation_get_target(rel, 0);
				if (t != NULL) {
					char *s = uia_lk_name(lk, t);
					set_str(dst, s, n);
					g_free(s);
					g_object_unref(t);
				}
			}
			if (rel != NULL)
				g_object_unref(rel);
		}
		g_array_free(rels, TRUE);
	}
	if (dst[0] != '\0' || er->width <= 0 || lk->stop)
		return;

	memset(&ls, 0, sizeof ls);
	ls.self = a;
	ls.er = *er;
	ls.best = -1;
	parent = uia_lk_parent(lk, a);
	if (parent == NULL)
		return;
	label_walk(lk, &ls, parent, 1);
	if (ls.best < 0 && !lk->stop) {
		grand = uia_lk_parent(lk, parent);
		if (grand != NULL) {
			ls.self = parent;
			label_walk(lk, &ls, grand, 2);
			g_object_unref(grand);
		}
	}
	g_object_unref(parent);
	if (ls.best >= 0)
		set_str(dst, ls.text, n);
}

/* Turns a GTK accelerator ("<Control><Shift>t", "<Primary>q") into "ctrl+shift+t". */
static void accel_to_chord(const char *accel, char *dst, size_t n)
{
	static const struct {
		const char *tag, *name;
	} mods[] = {
		{ "<control>", "ctrl" }, { "<ctrl>", "ctrl" }, { "<primary>", "ctrl" },
		{ "<shift>", "shift" }, { "<alt>", "alt" }, { "<mod1>", "alt" },
		{ "<super>", "super" }, { "<meta>", "meta" }, { "<hyper>", "hyper" },
	};
	const char *p = accel;
	char key[64];
	size_t k = 0;

	dst[0] = '\0';
	while (*p == '<') {
		const char *end = strchr(p, '>');
		size_t len;

		if (end == NULL)
			break;
		len = (size_t)(end - p + 1);
		/* Unknown modifiers (<Release>, <Mod4>...) are left out. */
		for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++) {
			if (strlen(mods[i].tag) == len && strncasecmp(p, mods[i].tag, len) == 0) {
				if (strstr(dst, mods[i].name) == NULL)
					append_str(dst, n, "+", mods[i].name);
				break;
			}
		}
		p = end + 1;
	}
	for (; *p != '\0' && k + 1 < sizeof key; p++)
		key[k++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
	key[k] = '\0';
	if (key[0] != '\0')
		append_str(dst, n, "+", key);
}

/* The accelerator of a menu item, from its action's key binding. */
static void read_shortcut(struct lookup *lk, AtspiAccessible *a, char *dst, size_t n)
{
	GError *err = NULL;
	int64_t t0 = util_now_mono_ns();
	char *kb;
	const char *accel;

	dst[0] = '\0';
	if (lk->stop)
		return;
	kb = atspi_action_get_key_binding(ATSPI_ACTION(a), 0, &err);
	uia_lk_after(lk, &err, t0, 0);
	if (kb == NULL)
		return;
	/* GTK gives "mnemonic;menu path;accelerator"; others give the accelerator alone. */
	accel = strrchr(kb, ';');
	accel = accel != NULL ? accel + 1 : kb;
	if (accel[0] != '\0')
		accel_to_chord(accel, dst, n);
	g_free(kb);
}

static void read_url(struct lookup *lk, AtspiAccessible *doc, char *dst, size_t n)
{
	static const char *const attrs[] = { "DocURL", "URI" };

	dst[0] = '\0';
	for (size_t i = 0; i < sizeof attrs / sizeof attrs[0] && dst[0] == '\0' && !lk->stop; i++) {
		GError *err = NULL;
		int64_t t0 = util_now_mono_ns();
		char *v = atspi_document_get_document_attribute_value(ATSPI_DOCUMENT(doc),
		                                                      (gchar *)attrs[i], &err);
		uia_lk_after(lk, &err, t0, 0);
		if (v != NULL)
			set_str(dst, v, n);
		g_free(v);
	}
}

/*
 * A link's target URL, from its Hyperlink interface (every Chromium element has
 * one, with an empty URI except on links: only links are asked).
 */
static void read_target(struct lookup *lk, AtspiAccessible *a, char *dst, size_t n)
{
	GError *err = NULL;
	int64_t t0;
	AtspiHyperlink *h;
	char *uri;

	dst[0] = '\0';
	if (lk->stop || testbreak("web-link-uri-dropped"))
		return;
	h = atspi_accessible_get_hyperlink(a);
	if (h == NULL)
		return;
	t0 = util_now_mono_ns();
	uri = atspi_hyperlink_get_uri(h, 0, &err);
	uia_lk_after(lk, &err, t0, 0);
	if (uri != NULL)
		set_str(dst, uri, n);
	g_free(uri);
	g_object_unref(h);
}

/*
 * The option a web page's select shows: the selected item of the list the combo
 * box holds (Chromium: a menu of menu items; Firefox: a combo box list of
 * options). Returns 1 when found.
 */
static int read_chosen(struct lookup *lk, AtspiAccessible *combo, char *dst, size_t n)
{
	int found = 0;
	int nc = uia_lk_child_count(lk, combo);

	for (int i = 0; i < nc && i < 2 && !found && !lk->stop; i++) {
		AtspiAccessible *list = uia_lk_child(lk, combo, i);
		GError *err = NULL;
		int64_t t0;
		AtspiSelection *sel;
		AtspiAccessible *item;

		if (list == NULL)
			continue;
		sel = atspi_accessible_get_selection_iface(list);
		if (sel != NULL && !lk->stop) {
			t0 = util_now_mono_ns();
			item = atspi_selection_get_selected_child(sel, 0, &err);
			uia_lk_after(lk, &err, t0, 0);
			if (item != NULL) {
				char *s = uia_lk_name(lk, item);
				if (s[0] != '\0') {
					set_str(dst, s, n);
					found = 1;
				}
				g_free(s);
				g_object_unref(item);
			}
		}
		if (sel != NULL)
			g_object_unref(sel);
		g_object_unref(list);
	}
	return found;
}

/*
 * Walks up from a: fills the ancestors (skipping unnamed layout containers), the
 * menu path of a menu item, and the URL of the enclosing web document.
 */
static void walk_ancestors(struct lookup *lk, AtspiAccessible *a, AtspiRole role,
                           struct uia_element *el)
{
	const char *menu_names[16];
	char *owned[WALK_MAX];
	int n_menu = 0, n_owned = 0;
	int in_menu = uia_role_is_menu_item(role);
	int have_doc = 0;
	AtspiAccessible *cur = g_object_ref(a);

	/* A page pressed where it has no element is its own document. */
	if (role_is_document(role)) {
		read_url(lk, a, el->url, sizeof el->url);
		have_doc = 1;
	}

	for (int level = 0; level < WALK_MAX && !lk->stop; level++) {
		AtspiAccessible *p = uia_lk_parent(lk, cur);
		AtspiRole prole;
		char *pname = NULL;

		g_object_unref(cur);
		cur = p;
		if (cur == NULL)
			break;
		prole = uia_lk_role(lk, cur, 0);
		if (prole == ATSPI_ROLE_APPLICATION || prole == ATSPI_ROLE_DESKTOP_FRAME ||
		    prole == ATSPI_ROLE_INVALID)
			break;
		if (el->n_ancestors < UIA_ANCESTORS_MAX || in_menu) {
			pname = uia_lk_name(lk, cur);
			owned[n_owned++] = pname;
		}
		if (pname != NULL && el->n_ancestors < UIA_ANCESTORS_MAX &&
		    !(uia_role_is_noise(prole) && pname[0] == '\0')) {
			struct uia_ancestor *an = &el->ancestors[el->n_ancestors++];
			role_name(prole, an->role, sizeof an->role);
			set_str(an->name, pname, sizeof an->name);
		}
		if (in_menu) {
			if (prole == ATSPI_ROLE_COMBO_BOX) {
				/* A combo box's name is its current choice: name it by its label. */
				AtspiRect cr;
				char label[UIA_LABEL_MAX];

				/* Its list opens no submenus: a name found below it is the list's
				 * own, which Firefox gives a select's popup (its current option). */
				n_menu = 0;
				uia_lk_extents(lk, cur, &cr);
				find_label(lk, cur, &cr, label, sizeof label);
				if (label[0] == '\0')
					set_str(label, pname, sizeof label);
				if (label[0] != '\0' && n_menu < 16) {
					owned[n_owned++] = g_strdup(label);
					menu_names[n_menu++] = owned[n_owned - 1];
				}
				in_menu = 0;
			} else if (uia_role_is_menu_item(prole) || prole == ATSPI_ROLE_POPUP_MENU) {
				if (pname != NULL && pname[0] != '\0' && n_menu < 16 &&
				    (n_menu == 0 || strcmp(menu_names[n_menu - 1], pname) != 0))
					menu_names[n_menu++] = pname;
			} else if (!uia_role_is_noise(prole) && prole != ATSPI_ROLE_WINDOW) {
				/* A menu bar, or anything else that is not a menu, ends the path. */
				in_menu = 0;
			}
		}
		if (!have_doc && role_is_document(prole)) {
			read_url(lk, cur, el->url, sizeof el->url);
			have_doc = 1;
		}
		/* Past the window, only a web document could still be found. */
		if (el->n_ancestors >= UIA_ANCESTORS_MAX && !in_menu && have_doc)
			break;
		if (n_owned >= WALK_MAX - 2)
			break;
	}
	if (cur != NULL)
		g_object_unref(cur);

	if (uia_role_is_menu_item(role)) {
		el->menu_path[0] = '\0';
		for (int i = n_menu - 1; i >= 0; i--)
			append_str(el->menu_path, sizeof el->menu_path, " > ", menu_names[i]);
		append_str(el->menu_path, sizeof el->menu_path, " > ",
		           el->name[0] != '\0' ? el->name : "?");
	}
	for (int i = 0; i < n_owned; i++)
		g_free(owned[i]);
}

/*
 * What web pages name differently from toolkits: a field whose label Chromium
 * leaves empty is named by its label (its name is the label's text), and a
 * select's combo box is named by its label, not by the option it shows: so, as
 * for a GTK combo box, the name becomes the chosen option and the label the label.
 */
static void web_names(struct lookup *lk, AtspiAccessible *a, AtspiRole role,
                      struct uia_element *el)
{
	char chosen[UIA_NAME_MAX];

	if (role_wants_label(role) && el->label[0] == '\0')
		set_str(el->label, el->name, sizeof el->label);
	if (role == ATSPI_ROLE_COMBO_BOX && read_chosen(lk, a, chosen, sizeof chosen))
		set_str(el->name, chosen, sizeof el->name);
}

/*
 * Reads everything about a into el (the request fields are left alone). Returns
 * 0, or the status when the lookup had to stop before the essentials were read.
 */
int uia_read_element(struct lookup *lk, AtspiAccessible *a, struct app *app, struct uia_element *el)
{
	AtspiRole role;
	AtspiRect r;
	AtspiAccessible *owner = NULL;
	char *s;

	role = uia_lk_role(lk, a, 1);
	if (lk->stop)
		return lk->stop;
	/* Chromium's hit test gives the text inside a link or a button (at some points of
	 * it): the link or the button is what was pressed. */
	if (role == ATSPI_ROLE_STATIC || role == ATSPI_ROLE_IMAGE || role == ATSPI_ROLE_LABEL) {
		AtspiAccessible *p = uia_lk_parent(lk, a);
		AtspiRole pr = p != NULL ? uia_lk_role(lk, p, 0) : ATSPI_ROLE_INVALID;

		if (pr == ATSPI_ROLE_LINK || pr == ATSPI_ROLE_PUSH_BUTTON) {
			owner = p;
			a = owner;
			role = pr;
		} else if (p != NULL) {
			g_object_unref(p);
		}
		if (lk->stop == UIA_NO_ELEMENT)
			lk->stop = 0;
		if (lk->stop)
			goto fail;
	}
	role_name(role, el->role, sizeof el->role);
	s = uia_lk_name(lk, a);
	set_str(el->name, s, sizeof el->name);
	g_free(s);
	s = uia_lk_description(lk, a);
	set_str(el->description, s, sizeof el->description);
	g_free(s);
	el->states = uia_lk_states(lk, a);
	el->states &= UIA_STATE_BIT(ATSPI_STATE_LAST_DEFINED) - 1;
	if (role == ATSPI_ROLE_PASSWORD_TEXT)
		el->states |= UIA_STATE_PASSWORD;
	uia_format_states(el->states, el->state_names, sizeof el->state_names);
	if (uia_lk_extents(lk, a, &r) == 0) {
		el->x = r.x;
		el->y = r.y;
		el->w = r.width;
		el->h = r.height;
	}
	if (lk->stop)
		goto fail;
	el->read_ns = util_now_mono_ns();
	if (app != NULL) {
		el->pid = app->pid;
		uia_app_name(lk, app, el->app, sizeof el->app);
	}
	if (role_wants_label(role))
		find_label(lk, a, &r, el->label, sizeof el->label);
	if (uia_role_is_menu_item(role) && role != ATSPI_ROLE_MENU)
		read_shortcut(lk, a, el->shortcut, sizeof el->shortcut);
	walk_ancestors(lk, a, role, el);
	if (el->url[0] != '\0' || role == ATSPI_ROLE_LINK) {
		int64_t t0 = util_now_mono_ns();

		if (role == ATSPI_ROLE_LINK)
			read_target(lk, a, el->target, sizeof el->target);
		if (el->url[0] != '\0')
			web_names(lk, a, role, el);
		/* The cost of what web pages need beyond other applications (docs/ELEMENTS.md). */
		log_debug("uia: web extras of a %s read in %lld us%s", el->role,
		          (long long)((util_now_mono_ns() - t0) / 1000),
		          owner != NULL ? " (lifted from the text inside it)" : "");
	}
	/* Ancestors, label, shortcut and the web extras are extras: a budget spent on
	 * them still leaves a good element. */
	if (lk->stop == UIA_NO_ELEMENT)
		lk->stop = 0;
	if (owner != NULL)
		g_object_unref(owner);
	return 0;

fail:
	if (owner != NULL)
		g_object_unref(owner);
	return lk->stop;
}
