/*
 * reduce_keys: the reducer's keyboard (reduce_int.h lists its other files). Keys
 * that produce text become typing runs (BackSpace edits them), keys without text
 * become presses that may repeat, keys pressed with Ctrl, Alt or Super held become
 * hotkeys, and a modifier pressed and released alone becomes a press of it. The
 * keys held down are tracked by keycode, so that a release finds the action that
 * took its press.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "reduce_int.h"
#include "util.h"

/* Adds the unconsumed modifier presses to a (they are part of its chord). */
void reduce_take_modp(struct reduce *r, struct reduce_action *a)
{
	int i;

	for (i = 0; i < r->n_modp; i++) {
		prov_add(a, r->modp[i].id, true);
		r->key_owner[r->modp[i].keycode] = a->anchor_id;
	}
	r->n_modp = 0;
}

void reduce_keys_reset(struct reduce *r)
{
	memset(r->down, 0, sizeof r->down);
	memset(r->modbit, 0, sizeof r->modbit);
	memset(r->key_owner, 0, sizeof r->key_owner);
	memset(r->modcnt, 0, sizeof r->modcnt);
	r->held_mods = 0;
	r->n_modp = 0;
	r->tap_kc = -1;
}

/* The modifier bit of a keysym: 0 not a modifier, -1 a lock or group key (ignored). */
static int mod_bit(const char *ks)
{
	switch (ks[0]) {
	case 'S':
		if (strncmp(ks, "Shift_", 6) == 0)
			return strcmp(ks + 6, "Lock") == 0 ? -1 : (int)REDUCE_MOD_SHIFT;
		if (strncmp(ks, "Super_", 6) == 0)
			return REDUCE_MOD_SUPER;
		return 0;
	case 'C':
		if (strncmp(ks, "Control_", 8) == 0)
			return REDUCE_MOD_CTRL;
		return strcmp(ks, "Caps_Lock") == 0 ? -1 : 0;
	case 'A':
		return strncmp(ks, "Alt_", 4) == 0 ? (int)REDUCE_MOD_ALT : 0;
	case 'M':
		if (strncmp(ks, "Meta_", 5) == 0)
			return REDUCE_MOD_ALT;
		return strcmp(ks, "Mode_switch") == 0 ? (int)MOD_ALTGR : 0;
	case 'H':
		return strncmp(ks, "Hyper_", 6) == 0 ? (int)REDUCE_MOD_SUPER : 0;
	case 'N':
		return strcmp(ks, "Num_Lock") == 0 ? -1 : 0;
	case 'I':
		if (strcmp(ks, "ISO_Level3_Shift") == 0 || strcmp(ks, "ISO_Level5_Shift") == 0)
			return MOD_ALTGR;
		if (strncmp(ks, "ISO_", 4) == 0 && (strstr(ks, "_Lock") || strstr(ks, "Group")))
			return -1;
		return 0;
	default:
		return 0;
	}
}

static void recompute_mods(struct reduce *r)
{
	uint32_t m = 0;
	int i;

	for (i = 0; i < 8; i++)
		if (r->modcnt[i] > 0)
			m |= 1u << i;
	r->held_mods = m;
}

static int bit_index(uint32_t bit)
{
	int i = 0;

	while (bit > 1) {
		bit >>= 1;
		i++;
	}
	return i;
}

/* Printable key text: non-empty and no control characters. */
static bool printable(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	if (u[0] == '\0')
		return false;
	for (; *u; u++)
		if (*u < 0x20 || *u == 0x7f)
			return false;
	return true;
}

static void type_text(struct reduce *r, const struct event *ev, int64_t t, unsigned src)
{
	struct reduce_action *a = &r->cur;
	size_t k = strnlen(ev->text, sizeof ev->text - 1);

	if (!(r->cur_on && a->kind == REDUCE_TYPE && (unsigned)a->source == src &&
	      a->text_len + k < REDUCE_TEXT_MAX)) {
		reduce_cur_flush(r);
		a = reduce_cur_start(r, REDUCE_TYPE, ev, t, src);
		reduce_absorb_pre(r, a, true);
	} else {
		reduce_absorb_pre(r, a, false);
	}
	reduce_take_modp(r, a);
	memcpy(a->text + a->text_len, ev->text, k);
	a->text_len += k;
	a->text[a->text_len] = '\0';
	prov_add(a, ev->id, true);
	a->t_end_ns = t;
	r->cur_deadline = t + r->type_ns;
}

/* BackSpace inside a typing run: removes the last UTF-8 character of its text. */
static void type_backspace(struct reduce *r, const struct event *ev, int64_t t)
{
	struct reduce_action *a = &r->cur;

	while (a->text_len > 0 && ((unsigned char)a->text[a->text_len - 1] & 0xc0) == 0x80)
		a->text_len--;
	if (a->text_len > 0)
		a->text_len--;
	a->text[a->text_len] = '\0';
	reduce_absorb_pre(r, a, false);
	reduce_take_modp(r, a);
	prov_add(a, ev->id, true);
	a->t_end_ns = t;
	r->cur_deadline = t + r->type_ns;
}

/*
 * A press of a key as an action of kind (a press or a hotkey): one more of the
 * action being built when that is the same key with the same modifiers and repeat
 * allows it (autorepeat, Down Down, Alt+Tab Tab), else a new action.
 */
static void key_action(struct reduce *r, int kind, bool repeat, const struct event *ev, int64_t t,
                       uint32_t mods, unsigned src)
{
	struct reduce_action *a = &r->cur;

	if (repeat && r->cur_on && a->kind == kind && a->mods == mods &&
	    (unsigned)a->source == src && strcmp(a->key, ev->keysym) == 0) {
		a->count++;
		reduce_absorb_pre(r, a, false);
	} else {
		reduce_cur_flush(r);
		a = reduce_cur_start(r, kind, ev, t, src);
		a->mods = mods;
		util_strlcpy_utf8(a->key, ev->keysym, sizeof a->key);
		reduce_absorb_pre(r, a, true);
	}
	reduce_take_modp(r, a);
	prov_add(a, ev->id, true);
	a->t_end_ns = t;
}

/* A key without text: one press, or one more of the same key (autorepeat, Down Down). */
static void key_press_action(struct reduce *r, const struct event *ev, int64_t t, uint32_t mods,
                             unsigned src)
{
	key_action(r, REDUCE_PRESS, true, ev, t, mods, src);
	r->cur_deadline = t + r->type_ns;
}

static void hotkey_action(struct reduce *r, const struct event *ev, int64_t t, uint32_t mods,
                          unsigned src)
{
	key_action(r, REDUCE_HOTKEY, r->cur_hot_held, ev, t, mods, src);
	/* While its modifiers stay down the hotkey may repeat (Alt+Tab Tab, Ctrl+Z Z)
	 * and the focus change it causes comes when they are released; when they were
	 * pressed before we saw them, it ends like any other key. */
	r->cur_hot_held = (r->held_mods & mods & MODS_CHORD) != 0;
	r->cur_deadline = r->cur_hot_held ? INT64_MAX : t + r->type_ns;
}

void reduce_key_press(struct reduce *r, const struct event *ev, int64_t t)
{
	int kc = ev->detail, mb;
	bool kcv = kc >= 0 && kc < 256;
	uint32_t all, chord;
	unsigned src = src_bit(ev);

	mb = mod_bit(ev->keysym);
	if (mb < 0)
		return;
	if (mb > 0) {
		if (!kcv)
			return;
		if (!r->down[kc]) {
			r->down[kc] = 1;
			r->modbit[kc] = (uint8_t)mb;
			r->modcnt[bit_index((uint32_t)mb)]++;
			recompute_mods(r);
			if (r->n_modp < MODP_MAX) {
				r->modp[r->n_modp].keycode = kc;
				r->modp[r->n_modp].id = ev->id;
				r->n_modp++;
			}
		}
		r->tap_kc = kc;
		r->tap_id = ev->id;
		r->tap_t = t;
		r->tap_src = src;
		util_strlcpy_utf8(r->tap_key, ev->keysym, sizeof r->tap_key);
		return;
	}
	r->tap_kc = -1;
	r->open = false;
	if (kcv) {
		r->down[kc] = 1;
		r->modbit[kc] = 0;
	}
	all = ev->mods | r->held_mods;
	chord = all & MODS_CHORD;
	if (chord) {
		hotkey_action(r, ev, t, all & MODS_ALL, src);
	} else if (printable(ev->text)) {
		type_text(r, ev, t, src);
	} else if (strcmp(ev->keysym, "BackSpace") == 0 && r->cur_on &&
	           r->cur.kind == REDUCE_TYPE && (unsigned)r->cur.source == src &&
	           r->cur.text_len > 0) {
		type_backspace(r, ev, t);
	} else if (strncmp(ev->keysym, "dead_", 5) == 0) {
		/* A dead key only prepares the next character, whose text we get. */
		if (r->cur_on && r->cur.kind == REDUCE_TYPE)
			prov_add(&r->cur, ev->id, true);
		else
			return;
	} else {
		key_press_action(r, ev, t, all & REDUCE_MOD_SHIFT, src);
	}
	if (kcv && r->cur_on)
		r->key_owner[kc] = r->cur.anchor_id;
}

static void modp_remove(struct reduce *r, int kc)
{
	int i;

	for (i = 0; i < r->n_modp; i++) {
		if (r->modp[i].keycode == kc) {
			r->modp[i] = r->modp[--r->n_modp];
			return;
		}
	}
}

/* A modifier pressed and released with nothing in between: a press of it. */
static void tap_action(struct reduce *r, const struct event *ev, int64_t t)
{
	struct reduce_action *a = &r->cur;
	struct event pe;

	/* A lone Shift does nothing inside typing; AltGr alone does nothing at all. */
	if (r->modbit[ev->detail] == MOD_ALTGR ||
	    (r->modbit[ev->detail] == REDUCE_MOD_SHIFT && r->cur_on &&
	     a->kind == REDUCE_TYPE))
		return;
	memset(&pe, 0, sizeof pe);
	pe.id = r->tap_id;
	pe.context = ev->context;
	util_strlcpy_utf8(pe.keysym, r->tap_key, sizeof pe.keysym);
	key_press_action(r, &pe, r->tap_t, 0, r->tap_src);
	a = &r->cur;
	a->source = (int)((unsigned)a->source | src_bit(ev));
	prov_add(a, ev->id, true);
	a->t_end_ns = t;
}

void reduce_key_release(struct reduce *r, const struct event *ev, int64_t t)
{
	int kc = ev->detail;
	int64_t owner;
	struct reduce_action *tail;

	/* Releases of keys we never saw go down (xdotool repeats modifier releases,
	 * and keys held when recording began) belong to nothing. */
	if (kc < 0 || kc >= 256 || !r->down[kc])
		return;
	r->down[kc] = 0;
	owner = r->key_owner[kc];
	r->key_owner[kc] = 0;
	if (r->modbit[kc]) {
		r->modcnt[bit_index(r->modbit[kc])]--;
		recompute_mods(r);
		if (r->tap_kc == kc) {
			r->tap_kc = -1;
			modp_remove(r, kc);
			tap_action(r, ev, t);
			r->modbit[kc] = 0;
			return;
		}
		r->modbit[kc] = 0;
		modp_remove(r, kc);
		if (r->cur_on && r->cur.kind == REDUCE_HOTKEY && r->cur_hot_held &&
		    (r->held_mods & r->cur.mods & MODS_CHORD) == 0) {
			prov_add(&r->cur, ev->id, true);
			r->cur.t_end_ns = t;
			reduce_cur_flush(r);
			return;
		}
	}
	if (owner == 0)
		return;
	if (r->cur_on && r->cur.anchor_id == owner) {
		prov_add(&r->cur, ev->id, true);
		r->cur.t_end_ns = t;
	} else if (r->q_tail > r->q_head && r->q[r->q_tail - 1].anchor_id == owner) {
		/* The release came after its action completed but before it was taken. */
		tail = &r->q[r->q_tail - 1];
		prov_add(tail, ev->id, true);
	}
}
