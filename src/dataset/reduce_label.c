/*
 * reduce_label: what a completed action is called (reduce_int.h lists the
 * reducer's other files): its name in exports, and the kind of interaction it was,
 * decided when the action is taken from the element it hit (a combo box, a menu
 * item, a button), the keys pressed and whether a list was left open.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "reduce_int.h"

/* ------------------------------------------------------------------------- */
/* Interaction labels                                                         */

enum role {
	ROLE_NONE, ROLE_OTHER, ROLE_COMBO, ROLE_MENU, ROLE_MENU_ITEM, ROLE_LIST_ITEM,
	ROLE_BUTTON,
};

static enum role role_of(const char *s)
{
	static const struct {
		const char *name;
		enum role role;
	} roles[] = {
		{ "combobox", ROLE_COMBO },
		{ "menu", ROLE_MENU },
		{ "menubar", ROLE_MENU },
		{ "popupmenu", ROLE_MENU },
		{ "menuitem", ROLE_MENU_ITEM },
		{ "checkmenuitem", ROLE_MENU_ITEM },
		{ "radiomenuitem", ROLE_MENU_ITEM },
		{ "tearoffmenuitem", ROLE_MENU_ITEM },
		{ "menuitemcheckbox", ROLE_MENU_ITEM },
		{ "menuitemradio", ROLE_MENU_ITEM },
		{ "listitem", ROLE_LIST_ITEM },
		{ "option", ROLE_LIST_ITEM },
		{ "listboxitem", ROLE_LIST_ITEM },
		{ "pushbutton", ROLE_BUTTON },
		{ "button", ROLE_BUTTON },
		{ "togglebutton", ROLE_BUTTON },
		{ "checkbox", ROLE_BUTTON },
		{ "radiobutton", ROLE_BUTTON },
	};
	char norm[32];
	size_t k = 0, i;

	if (s == NULL || s[0] == '\0')
		return ROLE_NONE;
	for (; *s && k < sizeof norm - 1; s++) {
		if (*s == ' ' || *s == '_' || *s == '-')
			continue;
		norm[k++] = (char)(*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s);
	}
	norm[k] = '\0';
	for (i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (strcmp(norm, roles[i].name) == 0)
			return roles[i].role;
	return ROLE_OTHER;
}

static bool key_is(const char *k, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(k, *set) == 0)
			return true;
	return false;
}

void reduce_label(struct reduce *r, struct reduce_action *a)
{
	static const char *const list_keys[] = {
		"Up", "Down", "KP_Up", "KP_Down", "Home", "End", "Prior", "Next", "Page_Up",
		"Page_Down", NULL,
	};
	static const char *const enter_keys[] = { "Return", "KP_Enter", NULL };
	static const char *const form_keys[] = { "Tab", "ISO_Left_Tab", "Return", "KP_Enter",
		NULL };
	const struct reduce_element *el = NULL;
	enum role role = ROLE_NONE;
	bool anc_combo = false, anc_menu = false, open = r->combo_open;
	enum role ar;
	size_t i;
	int l;

	if (r->el_fn != NULL && a->anchor_id != 0)
		el = r->el_fn(r->el_arg, a->anchor_id);
	if (el != NULL) {
		if (el->id != 0)
			a->element_id = el->id;
		role = role_of(el->role);
		for (i = 0; el->ancestors != NULL && i < el->n_ancestors; i++) {
			ar = role_of(el->ancestors[i]);
			anc_combo |= ar == ROLE_COMBO;
			anc_menu |= ar == ROLE_MENU || ar == ROLE_MENU_ITEM;
		}
	}
	r->combo_open = false;
	switch (a->kind) {
	case REDUCE_CLICK:
		if (role == ROLE_COMBO) {
			l = REDUCE_I_DROPDOWN_SELECTION;
			r->combo_open = true;
		} else if (anc_combo || (open && (role == ROLE_MENU_ITEM ||
		                                  role == ROLE_LIST_ITEM))) {
			l = REDUCE_I_DROPDOWN_SELECTION;
		} else if (role == ROLE_MENU || role == ROLE_MENU_ITEM || anc_menu) {
			l = REDUCE_I_MENU_NAVIGATION;
		} else if (role == ROLE_BUTTON) {
			l = REDUCE_I_BUTTON_PRESS;
		} else if (a->context_after != 0) {
			l = REDUCE_I_WINDOW_SWITCH;
		} else {
			l = REDUCE_I_CLICK;
		}
		break;
	case REDUCE_DRAG:
		l = REDUCE_I_DRAG_AND_DROP;
		break;
	case REDUCE_SCROLL:
		l = REDUCE_I_SCROLLING;
		r->combo_open = open; /* scrolling an open list keeps it open */
		break;
	case REDUCE_TYPE:
		l = REDUCE_I_TEXT_ENTRY;
		break;
	case REDUCE_HOTKEY:
		if ((a->mods & (REDUCE_MOD_ALT | REDUCE_MOD_SUPER)) &&
		    (strcmp(a->key, "Tab") == 0 || strcmp(a->key, "ISO_Left_Tab") == 0))
			l = REDUCE_I_WINDOW_SWITCH;
		else
			l = REDUCE_I_KEYBOARD_SHORTCUT;
		break;
	case REDUCE_PRESS:
		if (open && key_is(a->key, list_keys)) {
			l = REDUCE_I_DROPDOWN_SELECTION;
			r->combo_open = true;
		} else if (open && key_is(a->key, enter_keys)) {
			l = REDUCE_I_DROPDOWN_SELECTION;
		} else if (role == ROLE_MENU || role == ROLE_MENU_ITEM || anc_menu) {
			l = REDUCE_I_MENU_NAVIGATION;
		} else if (key_is(a->key, form_keys)) {
			l = REDUCE_I_FORM_NAVIGATION;
		} else {
			l = REDUCE_I_OTHER;
		}
		break;
	case REDUCE_SWITCH:
		l = REDUCE_I_WINDOW_SWITCH;
		break;
	default:
		/* move, wait: nothing was operated; an open list stays open. */
		l = REDUCE_I_OTHER;
		r->combo_open = open;
		break;
	}
	a->interaction = l;
}


/* Names                                                                      */

const char *reduce_action_name(const struct reduce_action *a)
{
	static const char *const clicks[] = { "click", "double_click", "triple_click" };

	if (a == NULL)
		return "unknown";
	switch (a->kind) {
	case REDUCE_CLICK:
		switch (a->button) {
		case 2: return "middle_click";
		case 3: return "right_click";
		case 8: return "back_click";
		case 9: return "forward_click";
		default:
			return clicks[a->count >= 3 ? 2 : a->count == 2 ? 1 : 0];
		}
	case REDUCE_DRAG: return "drag";
	case REDUCE_SCROLL: return "scroll";
	case REDUCE_TYPE: return "type";
	case REDUCE_HOTKEY: return "hotkey";
	case REDUCE_PRESS: return "press";
	case REDUCE_MOVE: return "move";
	case REDUCE_WAIT: return "wait";
	case REDUCE_SWITCH: return "switch";
	default: return "unknown";
	}
}

const char *reduce_interaction_name(int interaction)
{
	static const char *const names[REDUCE_I_MAX_] = {
		[REDUCE_I_OTHER] = "other",
		[REDUCE_I_CLICK] = "click",
		[REDUCE_I_DROPDOWN_SELECTION] = "dropdown_selection",
		[REDUCE_I_MENU_NAVIGATION] = "menu_navigation",
		[REDUCE_I_KEYBOARD_SHORTCUT] = "keyboard_shortcut",
		[REDUCE_I_TEXT_ENTRY] = "text_entry",
		[REDUCE_I_FORM_NAVIGATION] = "form_navigation",
		[REDUCE_I_BUTTON_PRESS] = "button_press",
		[REDUCE_I_DRAG_AND_DROP] = "drag_and_drop",
		[REDUCE_I_SCROLLING] = "scrolling",
		[REDUCE_I_WINDOW_SWITCH] = "window_switch",
	};

	if (interaction < 0 || interaction >= REDUCE_I_MAX_)
		return NULL;
	return names[interaction];
}

const char *reduce_source_name(int source)
{
	switch (source) {
	case REDUCE_SOURCE_HUMAN: return "human";
	case REDUCE_SOURCE_SYNTHETIC: return "synthetic";
	case REDUCE_SOURCE_MIXED: return "mixed";
	case REDUCE_SOURCE_AGENT: return "agent";
	default: return NULL;
	}
}
