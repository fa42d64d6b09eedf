/*
 * reduce_text: the text pieces both of the reducer's renderings write
 * (reduce_int.h lists its other files): a bounded string builder, UTF-8 that is
 * always valid, numbers formatted by hand so that a locale with a decimal comma can
 * never change an export, and keys and modifiers in xdotool syntax.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "reduce_int.h"

/* ------------------------------------------------------------------------- */
/* The string builder                                                         */

void reduce_sb_init(struct reduce_sb *b, char *buf, size_t n)
{
	b->p = buf;
	b->n = n;
	b->len = 0;
	b->over = false;
	buf[0] = '\0';
}

void reduce_sb_putn(struct reduce_sb *b, const char *s, size_t k)
{
	size_t room;

	if (b->over)
		return;
	room = b->n - 1 - b->len;
	if (k > room) {
		k = room;
		b->over = true;
	}
	memcpy(b->p + b->len, s, k);
	b->len += k;
	b->p[b->len] = '\0';
}

void reduce_sb_puts(struct reduce_sb *b, const char *s)
{
	reduce_sb_putn(b, s, strlen(s));
}

void reduce_sb_putc(struct reduce_sb *b, char c)
{
	reduce_sb_putn(b, &c, 1);
}

void reduce_sb_printf(struct reduce_sb *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	if ((size_t)k >= sizeof tmp)
		k = sizeof tmp - 1;
	reduce_sb_putn(b, tmp, (size_t)k);
}

int reduce_sb_result(const struct reduce_sb *b)
{
	return b->over ? -ENOSPC : 0;
}

/* ------------------------------------------------------------------------- */
/* UTF-8                                                                      */

/*
 * Decodes one UTF-8 character from s (k bytes available). Returns the bytes used
 * (>= 1); an invalid, overlong or truncated sequence or a surrogate uses one byte
 * and gives U+FFFD, so any byte string renders as valid UTF-8.
 */
static size_t utf8_next(const unsigned char *s, size_t k, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		*cp = 0xfffd;
		return 1;
	}
	if (len > k)
		goto bad;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto bad;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		goto bad;
	*cp = c;
	return len;
bad:
	*cp = 0xfffd;
	return 1;
}

static void sb_utf8(struct reduce_sb *b, uint32_t c)
{
	char u[4];

	if (c < 0x80) {
		u[0] = (char)c;
		reduce_sb_putn(b, u, 1);
	} else if (c < 0x800) {
		u[0] = (char)(0xc0 | (c >> 6));
		u[1] = (char)(0x80 | (c & 0x3f));
		reduce_sb_putn(b, u, 2);
	} else if (c < 0x10000) {
		u[0] = (char)(0xe0 | (c >> 12));
		u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f));
		reduce_sb_putn(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | (c >> 18));
		u[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[3] = (char)(0x80 | (c & 0x3f));
		reduce_sb_putn(b, u, 4);
	}
}

void reduce_sb_text(struct reduce_sb *b, const char *s,
                    bool (*esc)(struct reduce_sb *b, uint32_t c))
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k = strlen(s), i = 0;
	uint32_t c;

	while (i < k) {
		i += utf8_next(u + i, k - i, &c);
		if (esc == NULL || !esc(b, c))
			sb_utf8(b, c);
	}
}

/* ------------------------------------------------------------------------- */
/* Numbers                                                                    */

static const int64_t scales[] = { 1, 10, 100, 1000, 10000, 100000, 1000000 };

int64_t reduce_fixed(double v, int dec)
{
	bool neg = v < 0;
	int64_t whole;

	if (!isfinite(v) || fabs(v) > 1e12)
		v = 0;
	if (neg)
		v = -v;
	whole = llround(v * (double)scales[dec]);
	return neg ? -whole : whole;
}

void reduce_sb_fixed(struct reduce_sb *b, double v, int dec, bool trim)
{
	int64_t scale = scales[dec], whole = reduce_fixed(v, dec), frac;
	char tmp[64];
	int k;

	if (whole < 0) {
		reduce_sb_putc(b, '-');
		whole = -whole;
	}
	frac = whole % scale;
	whole /= scale;
	if (dec == 0) {
		reduce_sb_printf(b, "%lld", (long long)whole);
		return;
	}
	k = snprintf(tmp, sizeof tmp, "%lld.%0*lld", (long long)whole, dec, (long long)frac);
	if (trim) {
		while (k > 0 && tmp[k - 1] == '0')
			k--;
		if (k > 0 && tmp[k - 1] == '.')
			k--;
	}
	reduce_sb_putn(b, tmp, (size_t)k);
}

long reduce_whole_clicks(double amount)
{
	long n = lround(amount);

	return n < 1 ? 1 : n;
}

/* ------------------------------------------------------------------------- */
/* Keys and modifiers in xdotool syntax                                       */

const struct reduce_mod_name reduce_mod_names[REDUCE_N_MODS] = {
	{ REDUCE_MOD_CTRL, "ctrl", "ctrl" },
	{ REDUCE_MOD_ALT, "alt", "alt" },
	{ REDUCE_MOD_SHIFT, "shift", "shift" },
	{ REDUCE_MOD_SUPER, "win", "super" },
};

/* The xdotool name of the key: keysyms as they are, but one letter in lower case
 * (the chord carries Shift) and ISO_Left_Tab as Tab. */
static const char *xdo_key_name(const char *ks, char *tmp)
{
	if (strcmp(ks, "ISO_Left_Tab") == 0)
		return "Tab";
	if (ks[0] >= 'A' && ks[0] <= 'Z' && ks[1] == '\0') {
		tmp[0] = (char)(ks[0] - 'A' + 'a');
		tmp[1] = '\0';
		return tmp;
	}
	return ks;
}

void reduce_sb_xdo_chord(struct reduce_sb *b, uint32_t mods, const char *key)
{
	char tmp[2];
	size_t i;

	for (i = 0; i < REDUCE_N_MODS; i++) {
		if (mods & reduce_mod_names[i].bit) {
			reduce_sb_puts(b, reduce_mod_names[i].xdo);
			reduce_sb_putc(b, '+');
		}
	}
	reduce_sb_puts(b, xdo_key_name(key, tmp));
}

void reduce_sb_xdo_mods(struct reduce_sb *b, uint32_t mods)
{
	bool first = true;
	size_t i;

	for (i = 0; i < REDUCE_N_MODS; i++) {
		if (mods & reduce_mod_names[i].bit) {
			if (!first)
				reduce_sb_putc(b, '+');
			reduce_sb_puts(b, reduce_mod_names[i].xdo);
			first = false;
		}
	}
}
