/*
 * reduce_py: an action as pyautogui code, OpenCUA style (reduce_int.h lists the
 * reducer's other files): one statement per line, coordinates absolute or divided
 * by the screen size, keys by pyautogui's names, and text as a Python literal.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "reduce_int.h"
#include "util.h"

/* xkb keysym names of punctuation → the character pyautogui names the key by. */
static const struct {
	const char *keysym;
	const char *name;
} py_keys[] = {
	{ "Return", "enter" }, { "KP_Enter", "enter" }, { "Tab", "tab" },
	{ "ISO_Left_Tab", "tab" }, { "Escape", "esc" }, { "BackSpace", "backspace" },
	{ "Delete", "delete" }, { "KP_Delete", "delete" }, { "Insert", "insert" },
	{ "KP_Insert", "insert" }, { "Up", "up" }, { "Down", "down" }, { "Left", "left" },
	{ "Right", "right" }, { "KP_Up", "up" }, { "KP_Down", "down" }, { "KP_Left", "left" },
	{ "KP_Right", "right" }, { "Home", "home" }, { "End", "end" }, { "KP_Home", "home" },
	{ "KP_End", "end" }, { "Prior", "pageup" }, { "Page_Up", "pageup" },
	{ "KP_Prior", "pageup" }, { "Next", "pagedown" }, { "Page_Down", "pagedown" },
	{ "KP_Next", "pagedown" }, { "space", "space" }, { "Print", "printscreen" },
	{ "Menu", "apps" }, { "Pause", "pause" }, { "Scroll_Lock", "scrolllock" },
	{ "Caps_Lock", "capslock" }, { "Num_Lock", "numlock" }, { "Control_L", "ctrl" },
	{ "Control_R", "ctrl" }, { "Shift_L", "shift" }, { "Shift_R", "shift" },
	{ "Alt_L", "alt" }, { "Alt_R", "alt" }, { "Meta_L", "alt" }, { "Meta_R", "alt" },
	{ "Super_L", "win" }, { "Super_R", "win" }, { "Hyper_L", "win" }, { "Hyper_R", "win" },
	{ "XF86AudioMute", "volumemute" }, { "XF86AudioLowerVolume", "volumedown" },
	{ "XF86AudioRaiseVolume", "volumeup" }, { "XF86AudioPlay", "playpause" },
	{ "XF86AudioNext", "nexttrack" }, { "XF86AudioPrev", "prevtrack" },
	{ "exclam", "!" }, { "quotedbl", "\"" }, { "numbersign", "#" }, { "dollar", "$" },
	{ "percent", "%" }, { "ampersand", "&" }, { "apostrophe", "'" }, { "parenleft", "(" },
	{ "parenright", ")" }, { "asterisk", "*" }, { "plus", "+" }, { "comma", "," },
	{ "minus", "-" }, { "period", "." }, { "slash", "/" }, { "colon", ":" },
	{ "semicolon", ";" }, { "less", "<" }, { "equal", "=" }, { "greater", ">" },
	{ "question", "?" }, { "at", "@" }, { "bracketleft", "[" }, { "backslash", "\\" },
	{ "bracketright", "]" }, { "asciicircum", "^" }, { "underscore", "_" }, { "grave", "`" },
	{ "braceleft", "{" }, { "bar", "|" }, { "braceright", "}" }, { "asciitilde", "~" },
};

/* The pyautogui key name of a keysym: "enter", "f5", "s", "!"; else lower case. */
static void py_key_name(const char *ks, char *out, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof py_keys / sizeof py_keys[0]; i++) {
		if (strcmp(ks, py_keys[i].keysym) == 0) {
			util_strlcpy_utf8(out, py_keys[i].name, n);
			return;
		}
	}
	/* F1..F24, KP_0..KP_9 ("num0"), letters and anything else: lower case. */
	if (strncmp(ks, "KP_", 3) == 0 && ks[3] >= '0' && ks[3] <= '9' && ks[4] == '\0') {
		snprintf(out, n, "num%c", ks[3]);
		return;
	}
	for (i = 0; ks[i] && i < n - 1; i++)
		out[i] = (char)(ks[i] >= 'A' && ks[i] <= 'Z' ? ks[i] - 'A' + 'a' : ks[i]);
	out[i] = '\0';
}

/* The Python escapes of a str literal in single quotes; controls (C0, DEL, C1) as \xNN. */
static bool py_escape(struct reduce_sb *b, uint32_t c)
{
	switch (c) {
	case '\'': reduce_sb_puts(b, "\\'"); return true;
	case '\\': reduce_sb_puts(b, "\\\\"); return true;
	case '\n': reduce_sb_puts(b, "\\n"); return true;
	case '\r': reduce_sb_puts(b, "\\r"); return true;
	case '\t': reduce_sb_puts(b, "\\t"); return true;
	default:
		if (c >= 0x20 && (c < 0x7f || c > 0x9f))
			return false;
		reduce_sb_printf(b, "\\x%02x", (unsigned)c);
		return true;
	}
}

/* A Python 3 str literal in single quotes. */
static void sb_py_str(struct reduce_sb *b, const char *s)
{
	reduce_sb_putc(b, '\'');
	reduce_sb_text(b, s, py_escape);
	reduce_sb_putc(b, '\'');
}

/* ------------------------------------------------------------------------- */
/* pyautogui                                                                  */

struct coords {
	int w, h;
	bool norm;
};

static void sb_xy(struct reduce_sb *b, const struct coords *c, int32_t x, int32_t y)
{
	if (c->norm) {
		reduce_sb_puts(b, "x=");
		reduce_sb_fixed(b, (double)x / c->w, 4, false);
		reduce_sb_puts(b, ", y=");
		reduce_sb_fixed(b, (double)y / c->h, 4, false);
	} else {
		reduce_sb_printf(b, "x=%d, y=%d", (int)x, (int)y);
	}
}

static void py_mods_down(struct reduce_sb *b, uint32_t mods)
{
	size_t i;

	for (i = 0; i < REDUCE_N_MODS; i++)
		if (mods & reduce_mod_names[i].bit)
			reduce_sb_printf(b, "pyautogui.keyDown('%s')\n", reduce_mod_names[i].py);
}

static void py_mods_up(struct reduce_sb *b, uint32_t mods)
{
	size_t i;

	for (i = REDUCE_N_MODS; i-- > 0;)
		if (mods & reduce_mod_names[i].bit)
			reduce_sb_printf(b, "\npyautogui.keyUp('%s')", reduce_mod_names[i].py);
}

static const char *py_button(int button)
{
	switch (button) {
	case 1: return "left";
	case 2: return "middle";
	case 3: return "right";
	default: return NULL;
	}
}

static int py_keys_action(struct reduce_sb *b, const struct reduce_action *a)
{
	char key[EVENT_KEYSYM_MAX + 8];
	size_t i;

	py_key_name(a->key, key, sizeof key);
	if (a->mods == 0) {
		reduce_sb_puts(b, "pyautogui.press(");
		sb_py_str(b, key);
		if (a->count > 1)
			reduce_sb_printf(b, ", presses=%d", a->count);
		reduce_sb_putc(b, ')');
	} else if (a->count == 1) {
		reduce_sb_puts(b, "pyautogui.hotkey(");
		for (i = 0; i < REDUCE_N_MODS; i++)
			if (a->mods & reduce_mod_names[i].bit)
				reduce_sb_printf(b, "'%s', ", reduce_mod_names[i].py);
		sb_py_str(b, key);
		reduce_sb_putc(b, ')');
	} else {
		/* Held modifiers, the key pressed n times: Alt+Tab Tab Tab. */
		py_mods_down(b, a->mods);
		reduce_sb_puts(b, "pyautogui.press(");
		sb_py_str(b, key);
		reduce_sb_printf(b, ", presses=%d)", a->count);
		py_mods_up(b, a->mods);
	}
	return 0;
}

int reduce_action_pyautogui(const struct reduce_action *a, int screen_w, int screen_h,
                            int normalised, char *buf, size_t n)
{
	struct coords c = { screen_w, screen_h, normalised != 0 };
	struct reduce_sb b;
	const char *btn;
	long clicks;

	if (a == NULL || buf == NULL || n == 0 || (normalised && (screen_w <= 0 || screen_h <= 0)))
		return -EINVAL;
	reduce_sb_init(&b, buf, n);
	switch (a->kind) {
	case REDUCE_CLICK:
		btn = py_button(a->button);
		if (btn == NULL)
			return -ENOTSUP;
		py_mods_down(&b, a->mods);
		if (a->button == 1 && a->count <= 3) {
			reduce_sb_printf(&b, "pyautogui.%s(", a->count == 3 ? "tripleClick" :
			                 a->count == 2 ? "doubleClick" : "click");
			sb_xy(&b, &c, a->x, a->y);
			reduce_sb_putc(&b, ')');
		} else if (a->count == 1) {
			reduce_sb_printf(&b, "pyautogui.%s(",
			                 a->button == 3 ? "rightClick" : "middleClick");
			sb_xy(&b, &c, a->x, a->y);
			reduce_sb_putc(&b, ')');
		} else {
			reduce_sb_puts(&b, "pyautogui.click(");
			sb_xy(&b, &c, a->x, a->y);
			reduce_sb_printf(&b, ", clicks=%d, button='%s')", a->count, btn);
		}
		py_mods_up(&b, a->mods);
		break;
	case REDUCE_DRAG:
		btn = py_button(a->button);
		if (btn == NULL)
			return -ENOTSUP;
		py_mods_down(&b, a->mods);
		reduce_sb_puts(&b, "pyautogui.moveTo(");
		sb_xy(&b, &c, a->x, a->y);
		reduce_sb_puts(&b, ")\npyautogui.dragTo(");
		sb_xy(&b, &c, a->x2, a->y2);
		reduce_sb_printf(&b, ", button='%s')", btn);
		py_mods_up(&b, a->mods);
		break;
	case REDUCE_SCROLL:
		clicks = reduce_whole_clicks(a->scroll_amount);
		py_mods_down(&b, a->mods);
		/* pyautogui: scroll(n > 0) is up, hscroll(n > 0) is right. */
		if (a->scroll_dir == SCROLL_UP || a->scroll_dir == SCROLL_DOWN)
			reduce_sb_printf(&b, "pyautogui.scroll(%ld, ",
			                 a->scroll_dir == SCROLL_UP ? clicks : -clicks);
		else
			reduce_sb_printf(&b, "pyautogui.hscroll(%ld, ",
			                 a->scroll_dir == SCROLL_RIGHT ? clicks : -clicks);
		sb_xy(&b, &c, a->x, a->y);
		reduce_sb_putc(&b, ')');
		py_mods_up(&b, a->mods);
		break;
	case REDUCE_TYPE:
		reduce_sb_puts(&b, "pyautogui.write(message=");
		sb_py_str(&b, a->text);
		reduce_sb_putc(&b, ')');
		break;
	case REDUCE_PRESS:
	case REDUCE_HOTKEY:
		py_keys_action(&b, a);
		break;
	case REDUCE_MOVE:
		reduce_sb_puts(&b, "pyautogui.moveTo(");
		sb_xy(&b, &c, a->x, a->y);
		reduce_sb_putc(&b, ')');
		break;
	case REDUCE_WAIT:
		reduce_sb_puts(&b, "time.sleep(");
		reduce_sb_fixed(&b, (double)a->duration_ns / 1e9, 3, true);
		reduce_sb_putc(&b, ')');
		break;
	default:
		return -ENOTSUP;
	}
	return reduce_sb_result(&b);
}
