/*
 * Unit tests of ocr and scrub: text rendered into an image with Leptonica's
 * bitmap font is read back, the box of the word holding personal data is filled
 * and nothing else changes; high-risk text marks the frame for dropping; typed
 * text is joined across the pieces of a run; and in a data directory the scan
 * states, the inheritance of findings by patches and the verdicts an export gets,
 * and that a scan counts only for the rules it was made with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <leptonica/allheaders.h>

#include "blob.h"
#include "encode.h"
#include "export.h"
#include "ocr.h"
#include "redact.h"
#include "reduce.h"
#include "scrub.h"
#include "store.h"
#include "uia.h"

static struct redact *rd;
static struct ocr *oc;

static int group_setup(void **state)
{
	char *cause = NULL;

	(void)state;
	setLeptDebugOK(0);
	if (redact_open(NULL, &rd, &cause) != 0 || ocr_new(NULL, &oc, &cause) != 0) {
		fprintf(stderr, "setup: %s\n", cause ? cause : "?");
		free(cause);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	ocr_free(oc);
	redact_close(rd);
	return 0;
}

/* Renders lines of black text on white into a new BGRX image (X byte 0xff, as decoded). */
static struct image render(uint32_t w, uint32_t h, const char *const *lines, size_t n)
{
	struct image img = { malloc((size_t)w * h * 4), w, h, (size_t)w * 4 };
	L_BMF *bmf = bmfCreate(NULL, 8);
	PIX *pix = pixCreate((l_int32)w, (l_int32)h, 32);
	l_int32 tw, ov;

	assert_non_null(bmf);
	pixSetAll(pix);
	for (size_t i = 0; i < n; i++)
		pixSetTextline(pix, bmf, lines[i], 0x00000000, 10, 25 + 40 * (l_int32)i, &tw, &ov);
	for (uint32_t y = 0; y < h; y++) {
		for (uint32_t x = 0; x < w; x++) {
			l_int32 r, g, b;
			uint8_t *p = img.pixels + y * img.stride + x * 4;

			pixGetRGBPixel(pix, (l_int32)x, (l_int32)y, &r, &g, &b);
			p[0] = (uint8_t)b;
			p[1] = (uint8_t)g;
			p[2] = (uint8_t)r;
			p[3] = 0xff;
		}
	}
	pixDestroy(&pix);
	bmfDestroy(&bmf);
	return img;
}

static uint32_t px(const struct image *img, uint32_t x, uint32_t y)
{
	const uint8_t *p = img->pixels + y * img->stride + x * 4;

	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static bool inside(const struct scrub_box *b, size_t n, uint32_t x, uint32_t y)
{
	for (size_t i = 0; i < n; i++)
		if ((int64_t)x >= b[i].box.x && (int64_t)x < (int64_t)b[i].box.x + b[i].box.w &&
		    (int64_t)y >= b[i].box.y && (int64_t)y < (int64_t)b[i].box.y + b[i].box.h)
			return true;
	return false;
}

/* The number of dark pixels (text) inside rect r of img. */
static size_t ink(const struct image *img, int32_t x0, int32_t y0, int32_t w, int32_t h)
{
	size_t n = 0;

	for (int32_t y = y0; y < y0 + h; y++)
		for (int32_t x = x0; x < x0 + w; x++)
			n += (px(img, (uint32_t)x, (uint32_t)y) & 0xff) < 200;
	return n;
}

static void test_ocr_reads_rendered_text(void **state)
{
	static const char *const lines[] = { "hello world from mimic" };
	struct image img = render(500, 50, lines, 1);
	struct ocr_result res;
	char *cause = NULL;

	(void)state;
	assert_int_equal(ocr_read(oc, &img, NULL, &res, &cause), 0);
	assert_int_equal(res.n_lines, 1);
	assert_string_equal(res.lines[0].text, "hello world from mimic");
	assert_int_equal(res.n_words, 4);
	/* Word offsets index the line text; boxes lie left to right on the text. */
	assert_int_equal(res.words[1].start, 6);
	assert_int_equal(res.words[1].end, 11);
	assert_true(res.words[0].box.x >= 8 && res.words[0].box.x < 20);
	assert_true(res.words[1].box.x > res.words[0].box.x + (int32_t)res.words[0].box.w);
	ocr_result_free(&res);

	/* A region: only the words inside it. */
	struct image_rect left = { 0, 0, 120, 50 };

	assert_int_equal(ocr_read(oc, &img, &left, &res, &cause), 0);
	assert_true(res.n_lines == 1 && strstr(res.lines[0].text, "hello") != NULL);
	assert_null(strstr(res.lines[0].text, "mimic"));
	ocr_result_free(&res);
	/* An empty region reads nothing and is no error. */
	struct image_rect none = { 600, 0, 10, 10 };

	assert_int_equal(ocr_read(oc, &img, &none, &res, &cause), 0);
	assert_int_equal(res.n_words, 0);
	free(img.pixels);
}

/* Light text on a dark background (a dark terminal) reads as well, boxes on its ink. */
static void test_ocr_reads_light_on_dark(void **state)
{
	static const char *const lines[] = { "hello world from mimic" };
	struct image img = render(500, 50, lines, 1);
	struct ocr_result res;
	struct image_rect lb;
	size_t ink_px = 0, out_px = 0;
	char *cause = NULL;

	(void)state;
	for (size_t i = 0; i < img.stride * img.height; i++)
		img.pixels[i] = (uint8_t)(255 - img.pixels[i]);
	assert_int_equal(ocr_read(oc, &img, NULL, &res, &cause), 0);
	assert_int_equal(res.n_lines, 1);
	assert_string_equal(res.lines[0].text, "hello world from mimic");
	/* Every lit pixel of the text lies in the line's box (mapped back from 2x and the margin). */
	lb = res.lines[0].box;
	for (uint32_t y = 0; y < img.height; y++) {
		for (uint32_t x = 0; x < img.width; x++) {
			if ((px(&img, x, y) & 0xff) < 56)
				continue;
			ink_px++;
			out_px += !((int64_t)x >= lb.x && (int64_t)x < (int64_t)lb.x + lb.w &&
			            (int64_t)y >= lb.y && (int64_t)y < (int64_t)lb.y + lb.h);
		}
	}
	assert_true(ink_px > 100);
	assert_int_equal(out_px, 0);
	ocr_result_free(&res);
	free(img.pixels);
}

static void test_scrub_fills_email_box_only(void **state)
{
	static const char *const lines[] = { "mail alice.smith@example.com now",
	                                     "meeting at noon in room seven" };
	struct image img = render(600, 90, lines, 2), orig = img;
	struct scrub_box *boxes = NULL;
	size_t n = 0, changed = 0, filled = 0;
	unsigned risk = 0;
	char *cause = NULL;

	(void)state;
	orig.pixels = malloc(img.stride * img.height);
	memcpy(orig.pixels, img.pixels, img.stride * img.height);
	assert_int_equal(scrub_image(oc, rd, &img, NULL, 0, 0x00ff00ffu, &boxes, &n, &risk, NULL,
	                             &cause), 0);
	assert_int_equal(n, 1);
	assert_int_equal(boxes[0].type, REDACT_EMAIL);
	assert_int_equal(risk, REDACT_RISK_LOW);
	/* The box is on the first line, right of "mail", and covers the address's ink. */
	assert_true(boxes[0].box.y < 30 && boxes[0].box.x > 60);
	assert_true(boxes[0].box.w > 200);
	for (uint32_t y = 0; y < img.height; y++) {
		for (uint32_t x = 0; x < img.width; x++) {
			if (inside(boxes, n, x, y)) {
				assert_int_equal(px(&img, x, y), 0xff00ffu);
				filled++;
			} else if (px(&img, x, y) != px(&orig, x, y)) {
				changed++;
			}
		}
	}
	assert_int_equal(changed, 0);
	assert_true(filled > 0);
	/* "mail" and the second line keep their ink. */
	assert_true(ink(&img, 10, 2, 50, 24) > 50);
	assert_int_equal(ink(&img, 10, 45, 500, 40), ink(&orig, 10, 45, 500, 40));
	/* Nothing of the address is left to read. */
	struct ocr_result res;

	assert_int_equal(ocr_read(oc, &img, NULL, &res, &cause), 0);
	for (size_t i = 0; i < res.n_lines; i++)
		assert_null(strstr(res.lines[i].text, "example"));
	ocr_result_free(&res);
	free(boxes);
	free(orig.pixels);
	free(img.pixels);
}

static void test_scrub_card_is_high_risk(void **state)
{
	static const char *const lines[] = { "card 4111 1111 1111 1111 ok" };
	struct image img = render(500, 50, lines, 1);
	struct scrub_box *boxes = NULL;
	size_t n = 0;
	unsigned risk = 0;
	char *cause = NULL;

	(void)state;
	assert_int_equal(scrub_image(oc, rd, &img, NULL, 0, 0, &boxes, &n, &risk, NULL, &cause), 0);
	assert_true(risk & REDACT_RISK_HIGH);
	assert_true(n >= 1);
	assert_int_equal(boxes[0].type, REDACT_CARD);
	/* One box across the four groups (one line), not four. */
	assert_true(boxes[0].box.w > 200);
	free(boxes);
	free(img.pixels);
}

static void test_scrub_clean_image_unchanged(void **state)
{
	static const char *const lines[] = { "build 2024 finished in 12 seconds" };
	struct image img = render(500, 50, lines, 1);
	uint8_t *copy = malloc(img.stride * img.height);
	struct scrub_box *boxes = NULL;
	size_t n = 0;
	unsigned risk = 0;
	char *cause = NULL;

	(void)state;
	memcpy(copy, img.pixels, img.stride * img.height);
	assert_int_equal(scrub_image(oc, rd, &img, NULL, 0, 0, &boxes, &n, &risk, NULL, &cause), 0);
	assert_int_equal(n, 0);
	assert_int_equal(risk, 0);
	assert_memory_equal(copy, img.pixels, img.stride * img.height);
	free(copy);
	free(boxes);
	free(img.pixels);
}

static void check_normalise(const char *in, const char *expect)
{
	char out[256];
	size_t map[256], n = ocr_normalise(in, strlen(in), out, map);

	out[n] = '\0';
	assert_string_equal(out, expect);
	for (size_t i = 1; i < n; i++)
		assert_true(map[i] > map[i - 1]);
}

static void test_normalise(void **state)
{
	(void)state;
	check_normalise("alice,smith@example,com, then 41I1 1111 O111 and hello, world",
	                "alice.smith@example.com, then 4111 1111 0111 and hello, world");
	check_normalise("ssn 583 -98-1034 and 4928- 8584-9573-9312",
	                "ssn 583-98-1034 and 4928-8584-9573-9312");
	check_normalise("ip 2001:db8:92b8:11a0: :73ab or 2001:db8:1a55:232::clfe",
	                "ip 2001:db8:92b8:11a0::73ab or 2001:db8:1a55:232::c1fe");
	check_normalise("token ghp DazlvkqFbYP7AKbdSwLiLiiqirzKzlNfoFal end",
	                "token ghp_DazlvkqFbYP7AKbdSwLiLiiqirzKzlNfoFal end");
	check_normalise("key AKIA?BG3VYE2M7646KRT, iban FRQ6 0763",
	                "key AKIA7BG3VYE2M7646KRT, iban FR06 0763");
	/* 6x13 terminal font: colons of a MAC read as look-alikes. */
	check_normalise("value: 80;6c3faz8e:253a9 and 2026-11-30 15:23:45",
	                "value: 80:6c:fa:8e:25:a9 and 2026-11-30 15:23:45");
	/* IBAN country codes and check digits misread: only the reading that passes mod 97. */
	check_normalise("to NLSLHEZR9733883458, (H1588918205930614995 and GBBSFMEK67482429865365",
	                "to NL91HEZR9733883458, CH1588918205930614995 and GB69FMEK67482429865365");
	check_normalise("from NLOS EXDB 8683 9288 72 at noon, GB29 NWBK 6016 1331 9268 19",
	                "from NL05 EXDB 8683 9288 72 at noon, GB29 NWBK 6016 1331 9268 19");
	/* No valid reading: no check digits made up (the look-alike fix of S alone). */
	check_normalise("ref NLSLHEZR9733883459 ok", "ref NL5LHEZR9733883459 ok");
	check_normalise("ghp 2Xvx4skj2Yy1CzhMj rsQRZOM8aI8a60PiyVJ today",
	                "ghp_2Xvx4skj2Yy1CzhMjrsQRZOM8aI8a60PiyVJ today");
	check_normalise("mac Qc-3a-12-07-33-aa, mail frank@example. com ok. Then",
	                "mac 0c-3a-12-07-33-aa, mail frank@example.com ok. Then");
	check_normalise("ghp_uChenLN3Sxggwg46mhSPL faGB69pftFNdKBJ ok",
	                "ghp_uChenLN3Sxggwg46mhSPLfaGB69pftFNdKBJ ok");
	check_normalise("ip 128,102,244 ,138 and 185.147. 116.131",
	                "ip 128.102.244.138 and 185.147.116.131");
	check_normalise("iban DE8? 8793 7602, BES? 3952 4114 3648, 1T8046704246414011727330311",
	                "iban DE87 8793 7602, BE57 3952 4114 3648, IT8046704246414011727330311");
	check_normalise("GB77MWGFO7361434875111 and mac 0c-c?-36-3f-08-c4 58-99-70-a8-aa-Ge",
	                "GB77MWGF07361434875111 and mac 0c-c7-36-3f-08-c4 58-99-70-a8-aa-6e");
	check_normalise("mac 54-bf-1la-bc-b4-e0 99: fc:1f:c0:68:1b 43:aa:\xc2\xa2" "4:25:e6:9d",
	                "mac 54-bf-1a-bc-b4-e0 99:fc:1f:c0:68:1b 43:aa:c4:25:e6:9d");
	check_normalise("GBO7 QVPT 1982 8414, GB90B0BT22470981961689 \xc2\xa3" "S2672551786641772408563",
	                "GB07 QVPT 1982 8414, GB90BOBT22470981961689 ES2672551786641772408563");
	check_normalise("mail erinmuller86Gexample.com, GitHub Gexample.com",
	                "mail erinmuller86@example.com, GitHub Gexample.com");
	/* 6x13: a blank before the "::" or a colon of an IPv6 address; the last dot of an IPv4 one. */
	check_normalise("to 2001:db8:e8f ::1721 and 2001:db8:3d4f :a:fc, 97,105,197 54 ok",
	                "to 2001:db8:e8f::1721 and 2001:db8:3d4f:a:fc, 97.105.197.54 ok");
	check_normalise("1,234 567 and 1.2.3 4567 and 10:30 :45", "1.234 567 and 1.2.3 4567 and 10:30 :45");
	check_normalise("ssn 123-007-3910, 790-008-8855 but not 415-555-2671 or 123-0077-3910",
	                "ssn 123-07-3910, 790-08-8855 but not 415-555-2671 or 123-0077-3910");
	check_normalise("mac d3:9f :73:2c:eb:e4 and b0:87:19:9e:07 :ea",
	                "mac d3:9f:73:2c:eb:e4 and b0:87:19:9e:07:ea");
	/* An IBAN with one look-alike in its account part: the reading that passes mod 97. */
	check_normalise("> NL37BOMD6669575574 and NL75 QS0G 4848 7347 12",
	                "> NL37BQMD6669575574 and NL75 QSOG 4848 7347 12");
	check_normalise("NL37BOMD6669575575", "NL37BOMD6669575575");
	/* Words and prose stay as they are. */
	check_normalise("ghp is short, so: is it? yes - 3 -x", "ghp is short, so: is it? yes - 3 -x");
	check_normalise("BEST OF 1024 THE END. Go to 3. Then", "BEST OF 1024 THE END. Go to 3. Then");
}

/*
 * "mac bd:bf:44:c2:30:a2 ok" as xterm draws it in the X server's 6x13 "fixed"
 * font (taken from a screenshot under Xvfb). Tesseract alone reads its colons
 * as '3' ("bd3bf3443c2"); the check of their shape in ocr.c makes them colons
 * again, so that the MAC address is found.
 */
static void test_ocr_colons_of_a_bitmap_font(void **state)
{
	static const char *const art[] = {
		".........................#.........#.......#.......##...........#.....#...............###........#####...#................###..............#....",
		".........................#.........#.......#......#..#..........#.....#..............#...#...........#..#.#..............#...#.............#....",
		".........................#.........#...#...#......#......#.....##....##....#.........#...#...#......#..#...#...#.........#...#.............#....",
		".##.#...###...###........####...####..###..####...#.....###...#.#...#.#...###...###......#..###....#...#...#..###...###......#........###..#..#.",
		".#.#.#.....#.#...#.......#...#.#...#...#...#...#.####....#....#.#...#.#....#...#...#....#....#....###..#...#...#.......#....#........#...#.#.#..",
		".#.#.#..####.#...........#...#.#...#.......#...#..#..........#..#..#..#........#.......#.............#.#...#........####...#.........#...#.##...",
		".#.#.#.#...#.#...........#...#.#...#.......#...#..#..........#####.#####.......#......#..............#.#...#.......#...#..#..........#...#.#.#..",
		".#.#.#.#..##.#...#.......#...#.#...#...#...#...#..#......#......#.....#....#...#...#.#.......#...#...#..#.#....#...#..##.#...........#...#.#..#.",
		".#...#..##.#..###........####...####..###..####...#.....###.....#.....#...###...###..#####..###...###....#....###...##.#.#####........###..#...#",
		".......................................#.................#.................#.................#.................#................................",
	};
	uint32_t w = 180, h = 40;
	struct image img = { malloc((size_t)w * h * 4), w, h, (size_t)w * 4 };
	struct ocr_result res;
	struct scrub_box *boxes = NULL;
	size_t n = 0;
	unsigned risk = 0;
	char *cause = NULL;

	(void)state;
	memset(img.pixels, 0xff, img.stride * h);
	for (size_t y = 0; y < sizeof(art) / sizeof(art[0]); y++)
		for (size_t x = 0; art[y][x] != '\0'; x++)
			if (art[y][x] == '#')
				memset(img.pixels + (15 + y) * img.stride + (10 + x) * 4, 0, 3);
	assert_int_equal(ocr_read(oc, &img, NULL, &res, &cause), 0);
	assert_int_equal(res.n_lines, 1);
	assert_non_null(strstr(res.lines[0].text, "bd:bf:44:"));
	assert_int_equal(scrub_find(rd, &res, w, h, &boxes, &n, &risk), 0);
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(boxes[i].type, REDACT_MAC);
	/* The box covers the address and leaves "mac" alone. */
	assert_true(inside(boxes, n, 10 + 40, 22));
	assert_false(inside(boxes, n, 10 + 5, 22));
	free(boxes);
	ocr_result_free(&res);
	free(img.pixels);
}

/* A line of OCR text as one word per blank-separated token, boxes 10 pixels a character. */
static struct ocr_result one_line(char *text, struct ocr_word *words, size_t max)
{
	struct ocr_line *line = calloc(1, sizeof(*line));
	size_t nw = 0;

	line->text = text;
	line->len = strlen(text);
	for (size_t i = 0; i < line->len;) {
		size_t st = i;

		while (i < line->len && text[i] != ' ')
			i++;
		assert_true(nw < max);
		words[nw] = (struct ocr_word){ { 10 + 10 * (int32_t)st, 5, 10 * (uint32_t)(i - st), 12 },
		                               90, st, i, 0 };
		nw++;
		while (i < line->len && text[i] == ' ')
			i++;
	}
	line->box = (struct image_rect){ 10, 5, 10 * (uint32_t)line->len, 12 };
	line->n_words = nw;
	return (struct ocr_result){ words, nw, line, 1, 0 };
}

/*
 * The shapes OCR garbles in small fonts: an AWS key id and an IPv6 address; not
 * times, C++ names or pieces of a hash.
 */
static void test_find_lenient_shapes(void **state)
{
	static const struct {
		const char *text;
		int type;              /* -1: nothing */
	} cases[] = {
		{ "key AKTAEBTCOFO4WSTRERFUW ok", REDACT_SECRET },
		{ "from AKIAVBTD2UQIYLXUIIE66 at noon", REDACT_SECRET },
		{ "to 2001:db8:da39:bb1::7cede today", REDACT_IP },
		{ "value: 2001:db8:43c5:e5053 sb0a4", REDACT_IP },
		{ "at 12:30:45:10 and 10:20:30:40:50", -1 },
		{ "std::vector::push_back and a::b::c", -1 },
		{ "AKTA is short, AKIAFOOBARBAZQUUXCORGE has too few digits", -1 },
		/* A SHA-1 in mixed case that a reading split in two is still no secret. */
		{ "build cOaed9c59d6b023F736b96a 0692Fd360bb7b738e done", -1 },
		{ "build ab1031d0fFE4belf40a097cS7EbFABchS?d2caf82 done in 80 ms", -1 },
		/* ... while a key with some hex in it is one. */
		{ "key 9fQ2xLm7Tb4cA1eD8kPz3vRw ok", REDACT_SECRET },
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char text[128];
		struct ocr_word words[16];
		struct ocr_result res;
		struct scrub_box *boxes = NULL;
		size_t n = 0;
		unsigned risk = 0;

		snprintf(text, sizeof(text), "%s", cases[c].text);
		res = one_line(text, words, 16);
		assert_int_equal(scrub_find(rd, &res, 1000, 30, &boxes, &n, &risk), 0);
		if (cases[c].type < 0) {
			if (n != 0)
				fail_msg("'%s': %zu findings, type %d", cases[c].text, n, boxes[0].type);
		} else {
			if (n == 0)
				fail_msg("'%s': nothing found", cases[c].text);
			assert_int_equal(boxes[0].type, cases[c].type);
		}
		free(boxes);
		free(res.lines);
	}
}

/*
 * What a field's edge cut (issue 14): an address whose local part scrolled out of
 * a narrow entry, a card number of which ten or more digits show at a line's
 * edge. Not: file names and decorators after '@', phone numbers, dates, decimal
 * numbers, numbers inside a line.
 */
static void test_find_partial(void **state)
{
	static const struct {
		const char *text;
		int type;              /* -1: nothing */
		const char *covered;   /* the text of the box's words, when found */
	} cases[] = {
		{ "@example.com", REDACT_EMAIL, "@example.com" },
		{ "E-mail |@mail.company.de", REDACT_EMAIL, "|@mail.company.de" },
		{ "11111111 1111", REDACT_CARD, "11111111 1111" },
		{ "Card number 1111 11111111 111", REDACT_CARD, "1111 11111111 111" },
		{ "11 1111 1111 1111 expires 12/29", REDACT_CARD, "11 1111 1111 1111" },
		{ "111111111111", REDACT_CARD, "111111111111" },
		{ "icon@2x.png and @decorator", -1, NULL },
		{ "call 555 123 4567", REDACT_PHONE, "555 123 4567" }, /* a phone, not a card */
		{ "1111111111", -1, NULL },               /* ten digits, no grouping: an epoch */
		{ "1701234567.123456 started", -1, NULL }, /* a timestamp */
		{ "2024-11-30 12:00 ok", -1, NULL },
		{ "id 1111 11111111 1111 is here", -1, NULL },
		/* The account of an IBAN at a line's end is the IBAN's, not a partial card. */
		{ "GB82 WEST 1234 5698 7654 32", REDACT_IBAN, "GB82 WEST 1234 5698 7654 32" },
		/* Cut by the field's edge, whose border OCR read as ")" or ":". */
		{ "Field 22 |GB81ZEY X24-46147-305681)", REDACT_IBAN, "|GB81ZEY X24-46147-305681)" },
		{ "IT2338-09-800671-692349-50", REDACT_IBAN, "IT2338-09-800671-692349-50" },
		{ "Field 31 |mallory_rossi@mail.example.c", REDACT_EMAIL,
		  "|mallory_rossi@mail.example.c" },
		{ "ivan_smith75@uni-example.d:", REDACT_EMAIL, "ivan_smith75@uni-example.d:" },
		/* Whole, with an O read for a 0 in the check digits. */
		{ "ITO 9573 107 2759 37994 37764968", REDACT_IBAN, "ITO 9573 107 2759 37994 37764968" },
		{ "FRO4536 640345 34631 977 229706", REDACT_IBAN, "FRO4536 640345 34631 977 229706" },
		{ "ssh admin@buildhost", -1, NULL },       /* a login, no domain */
		{ "npm i react@18.2.0", -1, NULL },        /* a package's version */
		{ "DE44 1234 5678 then more words", -1, NULL }, /* short, and not at an edge */
		{ "build GB81 ZEY 12", -1, NULL },         /* too short to be an account cut */
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char text[128];
		struct ocr_word words[16];
		struct ocr_result res;
		struct scrub_box *boxes = NULL;
		size_t n = 0;
		unsigned risk = 0;

		snprintf(text, sizeof(text), "%s", cases[c].text);
		res = one_line(text, words, 16);
		assert_int_equal(scrub_find(rd, &res, 1000, 30, &boxes, &n, &risk), 0);
		if (cases[c].type < 0) {
			if (n != 0)
				fail_msg("'%s': %zu findings, type %d", cases[c].text, n, boxes[0].type);
		} else {
			const char *at = strstr(cases[c].text, cases[c].covered);
			int32_t x0 = 10 + 10 * (int32_t)(at - cases[c].text);
			int32_t x1 = x0 + 10 * (int32_t)strlen(cases[c].covered);

			if (n != 1)
				fail_msg("'%s': %zu findings", cases[c].text, n);
			assert_int_equal(boxes[0].type, cases[c].type);
			/* The box covers the words that hold it, and no more. */
			if (boxes[0].box.x > x0 || boxes[0].box.x + (int32_t)boxes[0].box.w < x1 ||
			    boxes[0].box.x < x0 - 10 || boxes[0].box.x + (int32_t)boxes[0].box.w > x1 + 10)
				fail_msg("'%s': box x %d w %u, want %d..%d", cases[c].text,
				         boxes[0].box.x, boxes[0].box.w, x0, x1);
			assert_int_equal(risk, cases[c].type == REDACT_CARD ||
			                       cases[c].type == REDACT_IBAN ? REDACT_RISK_HIGH
			                                                    : REDACT_RISK_LOW);
		}
		free(boxes);
		free(res.lines);
	}
}

/*
 * A word OCR read without confidence that could be part of a high-risk number
 * (four digits or more) and that no box covers leaves the frame unread (scrub_unread), so a
 * frame with high-risk findings is dropped rather than kept filled. Not when the
 * word is inside a finding's box, nor for a word without digits.
 */
static void test_find_unread(void **state)
{
	static const struct {
		const char *text;
		size_t word;           /* the word read with low confidence */
		bool unread;
	} cases[] = {
		{ "card 4111 1111 1111 1111 ref 8Z31O5", 6, true },
		{ "card 4111 1111 1111 1111 ref 8Z31O5", 2, false },  /* inside the card's box */
		{ "card 4111 1111 1111 1111 ref xyz", 6, false },     /* no digit */
		{ "card 4111 1111 1111 1111 ref v1.2.3", 6, false },  /* too few digits */
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char text[128];
		struct ocr_word words[16];
		struct ocr_result res;
		struct scrub_box *boxes = NULL;
		size_t n = 0;
		unsigned risk = 0;

		snprintf(text, sizeof(text), "%s", cases[c].text);
		res = one_line(text, words, 16);
		words[cases[c].word].conf = 12.0f;
		assert_int_equal(scrub_find(rd, &res, 1000, 30, &boxes, &n, &risk), 0);
		assert_true(n >= 1);
		if (scrub_unread(&res, boxes, n) != cases[c].unread)
			fail_msg("'%s', word %zu: unread %d", cases[c].text, cases[c].word,
			         !cases[c].unread);
		free(boxes);
		free(res.lines);
	}
}

/*
 * What OCR could not read is filled, not a reason to drop the frame: the unread
 * word and its neighbours on the line that could be parts of the same number
 * (words with a digit, or short upper-case codes like an IBAN's bank), and
 * nothing of the words around them. A word inside a finding, or without digits,
 * is not covered again.
 */
static void test_cover_unread(void **state)
{
	static const struct {
		const char *text;
		size_t word;           /* the word read with low confidence */
		size_t first, last;    /* the words the cover must span; first > last: none */
	} cases[] = {
		{ "card 4111 1111 1111 1111 ref 8Z31O5", 6, 6, 6 },
		{ "order x7 WEST 2O26 0412 7731 shipped today", 4, 1, 5 },
		{ "ship 2O26 0412 7731, then call", 2, 1, 3 },
		{ "card 4111 1111 1111 1111 ref 8Z31O5", 2, 1, 0 },  /* inside the card's box */
		{ "card 4111 1111 1111 1111 ref xyz", 6, 1, 0 },     /* no digit */
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		char text[128];
		struct ocr_word words[16];
		struct ocr_result res;
		struct scrub_box *boxes = NULL;
		size_t n = 0, before, added;
		unsigned risk = 0;

		snprintf(text, sizeof(text), "%s", cases[c].text);
		res = one_line(text, words, 16);
		words[cases[c].word].conf = 12.0f;
		assert_int_equal(scrub_find(rd, &res, 1000, 30, &boxes, &n, &risk), 0);
		before = n;
		added = scrub_cover_unread(&res, 1000, 30, &boxes, &n);
		if (cases[c].first > cases[c].last) {
			if (added != 0)
				fail_msg("'%s', word %zu: covered though read", cases[c].text,
				         cases[c].word);
		} else {
			const struct scrub_box *b = &boxes[before];
			int32_t x0 = words[cases[c].first].box.x;
			int32_t x1 = words[cases[c].last].box.x + (int32_t)words[cases[c].last].box.w;

			if (added != 1)
				fail_msg("'%s', word %zu: %zu covers", cases[c].text, cases[c].word, added);
			assert_int_equal(b->type, SCRUB_TYPE_UNREAD);
			assert_int_equal(b->risk, REDACT_RISK_HIGH);
			/* The run and its padding, no more: not the words around it. */
			if (b->box.x > x0 || b->box.x + (int32_t)b->box.w < x1 ||
			    b->box.x <= x0 - 10 || b->box.x + (int32_t)b->box.w >= x1 + 10)
				fail_msg("'%s': cover %d..%d, words %d..%d", cases[c].text, b->box.x,
				         b->box.x + (int)b->box.w, x0, x1);
		}
		free(boxes);
		free(res.lines);
	}
}

/* scrub_find maps a finding spanning several words to one box over them. */
static void test_find_maps_spans_to_words(void **state)
{
	struct ocr_word words[] = {
		{ { 10, 5, 30, 12 }, 90, 0, 3, 0 },   /* tel */
		{ { 50, 5, 20, 12 }, 90, 4, 6, 0 },   /* +1 */
		{ { 80, 5, 30, 12 }, 90, 7, 10, 0 },  /* 415 */
		{ { 120, 5, 30, 12 }, 90, 11, 14, 0 },/* 555 */
		{ { 160, 5, 40, 12 }, 90, 15, 19, 0 },/* 2671 */
		{ { 210, 5, 20, 12 }, 90, 20, 22, 0 },/* ok */
	};
	char text[] = "tel +1 415 555 2671 ok";
	struct ocr_line line = { { 10, 5, 220, 12 }, text, sizeof(text) - 1, 0, 6 };
	struct ocr_result res = { words, 6, &line, 1, 0 };
	struct scrub_box *boxes = NULL;
	size_t n = 0;
	unsigned risk = 0;

	(void)state;
	assert_int_equal(scrub_find(rd, &res, 300, 30, &boxes, &n, &risk), 0);
	assert_int_equal(n, 1);
	assert_int_equal(boxes[0].type, REDACT_PHONE);
	assert_int_equal(risk, REDACT_RISK_LOW);
	assert_int_equal(boxes[0].box.x, 50 - SCRUB_PAD);
	assert_int_equal(boxes[0].box.w, 150 + 2 * SCRUB_PAD);
	assert_int_equal(boxes[0].box.y, 5 - SCRUB_PAD - 12 / 5);
	free(boxes);
}

/* A SHA-1 that OCR read in mixed case is no secret; a real key next to it is. */
static void test_find_misread_hash(void **state)
{
	struct ocr_word words[] = {
		{ { 10, 5, 300, 12 }, 90, 0, 40, 0 },
		{ { 320, 5, 200, 12 }, 90, 41, 61, 0 },
	};
	char text[] = "al320b9d4de2fBad4cb59aa70Sc22d3Fb4dbc8d3 AKIAQYLPMN5HHHFPZAM2";
	struct ocr_line line = { { 10, 5, 510, 12 }, text, sizeof(text) - 1, 0, 2 };
	struct ocr_result res = { words, 2, &line, 1, 0 };
	struct scrub_box *boxes = NULL;
	size_t n = 0;
	unsigned risk = 0;

	(void)state;
	assert_int_equal(scrub_find(rd, &res, 600, 30, &boxes, &n, &risk), 0);
	assert_int_equal(n, 1);
	assert_int_equal(boxes[0].type, REDACT_SECRET);
	assert_int_equal(boxes[0].box.x, 320 - SCRUB_PAD);
	free(boxes);
}

static struct reduce_action type_action(const char *text, int32_t context, int64_t t_ms)
{
	struct reduce_action a;

	memset(&a, 0, sizeof(a));
	a.kind = REDUCE_TYPE;
	a.context = context;
	a.t_start_ns = t_ms * 1000000;
	a.t_end_ns = a.t_start_ns + 500000000;
	strcpy(a.text, text);
	a.text_len = strlen(text);
	return a;
}

static void test_typed_joins_pieces(void **state)
{
	struct redact_typed *t = redact_typed_new(rd);
	struct reduce_action a1 = type_action("pay 4111 1111 ", 1, 0);
	struct reduce_action a2 = type_action("1111 1111 thanks", 1, 2000);
	struct reduce_action click, a3 = type_action("4111 1111 1111 1111", 1, 9000);
	const struct reduce_action *o;
	unsigned risk = 0;

	(void)state;
	memset(&click, 0, sizeof(click));
	click.kind = REDUCE_CLICK;
	assert_int_equal(redact_typed_push(t, &a1), 0);
	assert_null(redact_typed_take(t, &risk)); /* held until the run ends */
	redact_typed_push(t, &a2);
	assert_null(redact_typed_take(t, &risk));
	redact_typed_push(t, &click);
	o = redact_typed_take(t, &risk);
	assert_non_null(o);
	assert_string_equal(o->text, "pay <CARD>");
	assert_int_equal(risk, REDACT_RISK_HIGH);
	o = redact_typed_take(t, &risk);
	assert_string_equal(o->text, "<CARD> thanks");
	assert_int_equal(o->text_len, strlen("<CARD> thanks"));
	assert_int_equal(risk, REDACT_RISK_HIGH);
	o = redact_typed_take(t, &risk);
	assert_int_equal(o->kind, REDUCE_CLICK);
	assert_int_equal(risk, 0);
	assert_null(redact_typed_take(t, &risk));
	/* Another window is another run; the end of the session releases it. */
	a1 = type_action("4111 1111 ", 1, 10000);
	a2 = type_action("1111 1111", 2, 11000);
	redact_typed_push(t, &a1);
	redact_typed_push(t, &a2);
	o = redact_typed_take(t, &risk);
	assert_string_equal(o->text, "4111 1111 ");
	assert_int_equal(risk, 0);
	assert_null(redact_typed_take(t, &risk));
	redact_typed_push(t, &a3);
	redact_typed_finish(t);
	o = redact_typed_take(t, &risk);
	assert_string_equal(o->text, "1111 1111");
	o = redact_typed_take(t, &risk);
	assert_string_equal(o->text, "<CARD>");
	assert_null(redact_typed_take(t, &risk));
	redact_typed_free(t);

	/* Without a detector nothing typed comes out. */
	t = redact_typed_new(NULL);
	a1 = type_action("hello", 1, 0);
	redact_typed_push(t, &a1);
	redact_typed_finish(t);
	o = redact_typed_take(t, &risk);
	assert_string_equal(o->text, "");
	assert_int_equal(risk, REDACT_RISK_HIGH);
	redact_typed_free(t);
}

/* ---- a data directory ---- */

static void put_frame(struct blob *b, struct encode *e, const struct image *img,
                      struct store_frame *fr)
{
	struct encode_params p;
	const uint8_t *data;
	size_t len;
	char *cause = NULL;

	encode_params_default(&p, ENCODE_WEBP);
	p.lossless = true;
	assert_int_equal(encode_image(e, img, &p, &data, &len, &cause), 0);
	assert_int_equal(blob_put(b, data, len, fr->blob, &cause), 0);
	strcpy(fr->format, "webp");
	fr->bytes = (int64_t)len;
}

/*
 * Opens a store in dir with one session of a w x h screen, the frames blob
 * directory (its path in *fdir, malloc'ed) and an encoder, and prepares fr[0..n)
 * as "settle" frames 1..n, one second apart, of the whole screen.
 */
static void open_session(const char *dir, uint32_t w, uint32_t h, struct store_frame *fr, int n,
                         struct store **st, int64_t *sid, char **fdir, struct blob **b,
                         struct encode **e)
{
	struct store_session s = { 0 };
	char *cause = NULL;

	assert_int_equal(store_open(dir, 0, st, &cause), 0);
	strcpy(s.host, "h");
	s.screen_w = w;
	s.screen_h = h;
	assert_int_equal(store_session_begin(*st, &s, sid, &cause), 0);
	*fdir = malloc(strlen(dir) + 16);
	sprintf(*fdir, "%s/frames", dir);
	assert_int_equal(blob_open(*fdir, "webp", BLOB_CREATE, b, &cause), 0);
	assert_int_equal(encode_new(e, &cause), 0);
	memset(fr, 0, (size_t)n * sizeof(*fr));
	for (int i = 0; i < n; i++) {
		fr[i].id = i + 1;
		fr[i].t_ns = (i + 1) * 1000000000LL;
		strcpy(fr[i].trigger, "settle");
		fr[i].width = w;
		fr[i].height = h;
		fr[i].cursor_x = fr[i].cursor_y = -1;
	}
}

/* Stores rows [y, y + h) of screen as a patch frame fr over frame base_id. */
static void put_patch(struct blob *b, struct encode *e, const struct image *screen, uint32_t y,
                      uint32_t h, struct store_frame *fr, int64_t base_id)
{
	struct image p = { screen->pixels + y * screen->stride, screen->width, h, screen->stride };

	put_frame(b, e, &p, fr);
	fr->base_id = base_id;
	fr->n_patch = 1;
	fr->patch[0] = (struct store_rect){ 0, (int32_t)y, (int32_t)screen->width, (int32_t)h };
}

static void test_session_states(void **state)
{
	static const char *const l1[] = { "mail alice.smith@example.com now", "", "" };
	static const char *const l2[] = { "mail alice.smith@example.com now",
	                                  "card 4111 1111 1111 1111 ok", "" };
	static const char *const l4[] = { "nothing to see here today" };
	char *dir, *fdir, *cause = NULL;
	struct store *st;
	struct blob *b;
	struct encode *e;
	struct store_frame fr[5];
	struct image i1 = render(600, 130, l1, 3), i2 = render(600, 130, l2, 3);
	struct image i3, i4 = render(600, 130, l4, 1), out;
	struct scrub *sc;
	struct scrub_stats stats;
	struct store_frame_scan scan;
	int64_t sid;
	int verdict;

	(void)state;
	dir = testenv_tmpdir("mimic-scrub");
	assert_non_null(dir);
	open_session(dir, 600, 130, fr, 5, &st, &sid, &fdir, &b, &e);
	/* 1: a key frame with an email. */
	put_frame(b, e, &i1, &fr[0]);
	/* 2: a patch over 1 adding the card line (rows 40..79, stacked at the left). */
	put_patch(b, e, &i2, 40, 40, &fr[1], 1);
	/* 3: a patch over 2 changing only the empty bottom rows: the card is still shown. */
	i3 = i2;
	put_patch(b, e, &i3, 100, 20, &fr[2], 2);
	/* 4: a key frame with nothing in it. */
	put_frame(b, e, &i4, &fr[3]);
	assert_int_equal(store_write_all(st, sid, NULL, 0, NULL, 0, fr, 4, &cause), 0);

	struct scrub_opts so = { .data_dir = dir, .redact = rd, .fill = 0xffffff };

	assert_int_equal(scrub_open(&so, &sc, &cause), 0);
	/* Unscanned frames are never handed to an export. */
	assert_int_equal(scrub_export_frame(st, rd, 1, &i1, 0, NULL, &cause), 1);
	assert_int_equal(scrub_session(sc, sid, &stats, &cause), 0);
	assert_int_equal(stats.scanned, 4);
	/*
	 * Issue 14: the card's frames are kept with the card filled, not dropped
	 * whole, since every finding was placed and nothing was left unread (before,
	 * frames 2 and 3 were dropped for "pixels").
	 */
	assert_int_equal(stats.scrubbed, 3);
	assert_int_equal(stats.filled_high, 2);
	assert_int_equal(stats.dropped, 0);
	assert_int_equal(stats.clean, 1);
	assert_int_equal(store_frame_scan_get(st, 1, &scan, NULL, &cause), 0);
	assert_int_equal(scan.state, STORE_SCAN_SCRUBBED);
	assert_true(blob_hex_valid(scan.blob));
	assert_int_equal(store_frame_scan_get(st, 2, &scan, NULL, &cause), 0);
	assert_int_equal(scan.state, STORE_SCAN_SCRUBBED);
	assert_int_equal(store_frame_scan_get(st, 3, &scan, NULL, &cause), 0);
	assert_int_equal(scan.state, STORE_SCAN_SCRUBBED);
	assert_int_equal(store_frame_scan_get(st, 4, &scan, NULL, &cause), 0);
	assert_int_equal(scan.state, STORE_SCAN_CLEAN);

	/* The exportable pixels: frame 1 with the address filled, 2 and 3 with the card too. */
	assert_int_equal(scrub_frame_image(sc, sid, 1, &out, &verdict, &cause), 0);
	assert_int_equal(verdict, STORE_SCAN_SCRUBBED);
	assert_int_equal(out.width, 600);
	assert_true(ink(&out, 10, 2, 50, 24) > 50);                     /* "mail" kept */
	assert_int_equal(ink(&out, 100, 5, 300, 18), 0);                /* the address filled */
	{
		struct ocr_result res;

		assert_int_equal(ocr_read(oc, &out, NULL, &res, &cause), 0);
		for (size_t i = 0; i < res.n_lines; i++)
			assert_null(strstr(res.lines[i].text, "example"));
		ocr_result_free(&res);
	}
	free(out.pixels);
	for (int64_t id = 2; id <= 3; id++) {
		struct ocr_result res;

		assert_int_equal(scrub_frame_image(sc, sid, id, &out, &verdict, &cause), 0);
		assert_int_equal(verdict, STORE_SCAN_SCRUBBED);
		assert_true(ink(&out, 10, 42, 40, 24) > 30);            /* "card" kept */
		assert_int_equal(ink(&out, 70, 45, 200, 18), 0);        /* the number filled */
		assert_int_equal(ocr_read(oc, &out, NULL, &res, &cause), 0);
		for (size_t i = 0; i < res.n_lines; i++)
			assert_null(strstr(res.lines[i].text, "1111"));
		ocr_result_free(&res);
		free(out.pixels);
	}
	assert_int_equal(scrub_frame_image(sc, sid, 4, &out, &verdict, &cause), 0);
	assert_int_equal(verdict, STORE_SCAN_CLEAN);
	assert_memory_equal(out.pixels, i4.pixels, i4.stride * i4.height);
	free(out.pixels);

	/* The export's verdicts, on its own image of the frame. */
	{
		struct image copy = i1;

		copy.pixels = malloc(i1.stride * i1.height);
		memcpy(copy.pixels, i1.pixels, i1.stride * i1.height);
		assert_int_equal(scrub_export_frame(st, rd, 1, &copy, 0xffffff, NULL, &cause), 0);
		assert_true(memcmp(copy.pixels, i1.pixels, i1.stride * i1.height) != 0);
		assert_int_equal(ink(&copy, 10, 2, 50, 24), ink(&i1, 10, 2, 50, 24));
		free(copy.pixels);
	}
	{
		struct image copy = i2;

		copy.pixels = malloc(i2.stride * i2.height);
		memcpy(copy.pixels, i2.pixels, i2.stride * i2.height);
		assert_int_equal(scrub_export_frame(st, rd, 2, &copy, 0xffffff, NULL, &cause), 0);
		assert_int_equal(ink(&copy, 70, 45, 200, 18), 0);
		free(copy.pixels);
	}
	assert_int_equal(scrub_export_frame(st, rd, 4, &i4, 0, NULL, &cause), 0);
	/* A frame stored after the scan is unscanned again: dropped until scanned. */
	fr[4].id = 5;
	put_frame(b, e, &i4, &fr[4]);
	assert_int_equal(store_write_all(st, sid, NULL, 0, NULL, 0, &fr[4], 1, &cause), 0);
	assert_int_equal(scrub_export_frame(st, rd, 5, &i4, 0, NULL, &cause), 1);
	assert_int_equal(scrub_session(sc, sid, &stats, &cause), 0);
	assert_int_equal(stats.scanned, 1);
	assert_int_equal(stats.reused, 1); /* the same pixels as frame 4 */
	assert_int_equal(scrub_export_frame(st, rd, 5, &i4, 0, NULL, &cause), 0);

	/*
	 * The export's one frame function applies the same verdicts, and refuses a
	 * frame it cannot look up, a frame a newer recording added unscanned, and
	 * any frame of a step whose texts held high-risk data.
	 */
	{
		struct export_frame_info info = { .session = sid, .frame_id = 2, .st = st,
		                                  .redact = rd };

		assert_int_equal(export_frame_prepare(&i2, &info, &cause), EXPORT_FRAME_KEEP);
		info.frame_id = 4;
		assert_int_equal(export_frame_prepare(&i4, &info, &cause), EXPORT_FRAME_KEEP);
		/* A field typed into with flagged text is filled whatever the scan read. */
		{
			struct image copy = i4;
			struct image_rect mask = { 100, 10, 200, 30 };
			size_t outside = 0;

			copy.pixels = malloc(i4.stride * i4.height);
			memcpy(copy.pixels, i4.pixels, i4.stride * i4.height);
			info.masks = &mask;
			info.n_masks = 1;
			assert_int_equal(export_frame_prepare(&copy, &info, &cause), EXPORT_FRAME_KEEP);
			for (uint32_t y = 0; y < copy.height; y++) {
				for (uint32_t x = 0; x < copy.width; x++) {
					bool in = x >= 100 && x < 300 && y >= 10 && y < 40;

					if (in)
						assert_int_equal(px(&copy, x, y), SCRUB_FILL);
					else
						outside += px(&copy, x, y) != px(&i4, x, y);
				}
			}
			assert_int_equal(outside, 0);
			info.masks = NULL;
			info.n_masks = 0;
			free(copy.pixels);
		}
		info.text_risk = REDACT_RISK_HIGH;
		assert_int_equal(export_frame_prepare(&i4, &info, &cause), EXPORT_FRAME_DROP);
		info.text_risk = 0;
		info.st = NULL;
		assert_int_equal(export_frame_prepare(&i4, &info, &cause), EXPORT_FRAME_DROP);
		info.st = st;
		fr[4].id = 6;
		fr[4].t_ns += 1000;
		assert_int_equal(store_write_all(st, sid, NULL, 0, NULL, 0, &fr[4], 1, &cause), 0);
		info.frame_id = 6;
		assert_int_equal(export_frame_prepare(&i4, &info, &cause), EXPORT_FRAME_DROP);
	}

	scrub_close(sc);
	encode_free(e);
	blob_close(b);
	store_close(st);
	free(i1.pixels);
	free(i2.pixels);
	free(i4.pixels);
	assert_int_equal(testenv_tmpdir_remove(dir), 0);
	free(fdir);
}

/* What the recorder knew of the field the card of session_typed was typed into. */
enum typed_field { FIELD_NONE, FIELD_EDITABLE, FIELD_NOT_EDITABLE };

/*
 * Frames taken while a card number was typed in two pieces: dropped when the
 * field it went into is not known (no element, or one that is not editable);
 * kept with the field filled when it is. Others are kept as they are.
 */
static void session_typed(enum typed_field field)
{
	static const char *const none[] = { "" };
	const char *typed = "4111 1111 \x01" "1111 1111\n";  /* \x01: a 2 s pause */
	char *dir, *fdir, *cause = NULL;
	struct store *st;
	struct store_session s = { 0 };
	struct event ev[64];
	struct store_frame fr[5];
	struct image blank = render(200, 60, none, 1);
	struct scrub *sc;
	struct scrub_stats stats;
	struct store_frame_scan scan;
	struct blob *b;
	struct encode *e;
	struct scrub_opts so = { .redact = rd };
	int64_t sid, t = 1000000000LL, t_first = 0, t_last = 0;
	size_t nev = 0;
	bool kept = field == FIELD_EDITABLE;

	dir = testenv_tmpdir("mimic-scrub");
	assert_non_null(dir);
	so.data_dir = dir;
	assert_int_equal(store_open(dir, 0, &st, &cause), 0);
	strcpy(s.host, "h");
	assert_int_equal(store_session_begin(st, &s, &sid, &cause), 0);
	memset(ev, 0, sizeof(ev));
	for (const char *p = typed; *p; p++) {
		struct event *k = &ev[nev];

		if (*p == '\x01') {
			t += 2000000000LL;
			continue;
		}
		k->id = (int64_t)nev + 1;
		k->t_ns = t;
		k->kind = EVENT_KEY_PRESS;
		k->detail = 10;
		if (*p == '\n') {
			strcpy(k->keysym, "Return");
		} else {
			k->text[0] = *p;
			strcpy(k->keysym, *p == ' ' ? "space" : "1");
		}
		k[1] = *k;
		k[1].id = k->id + 1;
		k[1].kind = EVENT_KEY_RELEASE;
		k[1].t_ns = t + 20000000;
		if (t_first == 0)
			t_first = t;
		t_last = t;
		nev += 2;
		t += 100000000;
	}
	fdir = malloc(strlen(dir) + 16);
	sprintf(fdir, "%s/frames", dir);
	assert_int_equal(blob_open(fdir, "webp", BLOB_CREATE, &b, &cause), 0);
	assert_int_equal(encode_new(&e, &cause), 0);
	memset(fr, 0, sizeof(fr));
	for (int i = 0; i < 5; i++) {
		fr[i].id = i + 1;
		strcpy(fr[i].trigger, "settle");
		fr[i].width = 200;
		fr[i].height = 60;
		fr[i].cursor_x = fr[i].cursor_y = -1;
		put_frame(b, e, &blank, &fr[i]);
		if (i > 0) { /* the same pixels as the first: a patch with no rectangle */
			fr[i].base_id = i;
			fr[i].n_patch = 0;
		}
	}
	fr[0].t_ns = t_first - 300000000;              /* before the run */
	fr[1].t_ns = t_first;                          /* its pre frame, at the first key */
	strcpy(fr[1].trigger, "pre");
	fr[1].event_id = 1;
	fr[2].t_ns = t_first + 1500000000LL;           /* in the pause between the pieces */
	fr[3].t_ns = t_last + 1000000000LL;            /* settling after the last key */
	fr[4].t_ns = t_last + 10000000000LL;           /* long after */
	assert_int_equal(store_write_all(st, sid, ev, nev, NULL, 0, fr, 5, &cause), 0);
	if (field != FIELD_NONE) {
		/* The recorder's element of each piece's first key (events 1 and 21). */
		struct store_element el[2];

		memset(el, 0, sizeof(el));
		for (int i = 0; i < 2; i++) {
			el[i].event_id = i == 0 ? 1 : 21;
			el[i].kind = STORE_ELEMENT_TYPING;
			el[i].t_ns = ev[el[i].event_id - 1].t_ns;
			strcpy(el[i].role, "text");
			strcpy(el[i].label, "Card");
			el[i].states = UIA_STATE_FOCUSED | UIA_STATE_SHOWING |
			               (field == FIELD_EDITABLE ? UIA_STATE_EDITABLE : 0);
			el[i].x = 20;
			el[i].y = 10;
			el[i].w = 100;
			el[i].h = 20;
		}
		assert_int_equal(ev[20].kind, EVENT_KEY_PRESS);
		assert_true(ev[20].t_ns >= t_first + 2000000000LL);
		assert_int_equal(store_write_elements(st, sid, el, 2, &cause), 0);
	}
	/* The recorder's background scanner does the first scan. */
	{
		struct scrub_worker *w = NULL;
		int waited = 0;

		assert_int_equal(scrub_worker_start(dir, rd, sid, 1, &w, &cause), 0);
		do {
			usleep(100000);
			assert_int_equal(store_frame_scan_get(st, 5, &scan, NULL, &cause), 0);
		} while (scan.state == STORE_SCAN_UNSCANNED && ++waited < 300);
		assert_int_equal(scrub_worker_stop(w), 5);
	}
	assert_int_equal(scrub_open(&so, &sc, &cause), 0);
	assert_int_equal(scrub_session(sc, sid, &stats, &cause), 0);
	assert_int_equal(stats.scanned, 0);
	/*
	 * The last frame, long after the run, is a patch over the one before that
	 * changed nothing: the field it shows still holds the card, and stays filled.
	 */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(store_frame_scan_get(st, i + 1, &scan, NULL, &cause), 0);
		if (kept)
			assert_int_equal(scan.state, i >= 2 ? STORE_SCAN_SCRUBBED : STORE_SCAN_CLEAN);
		else
			assert_int_equal(scan.state, i == 2 || i == 3 ? STORE_SCAN_DROPPED
			                                              : STORE_SCAN_CLEAN);
	}
	/* What leaves: the field is black in the frames of the run, the rest as it was. */
	for (int i = 0; i < 5; i++) {
		struct image copy = blank;
		int rc, filled = -1;

		copy.pixels = malloc(blank.stride * blank.height);
		memcpy(copy.pixels, blank.pixels, blank.stride * blank.height);
		rc = scrub_export_frame(st, rd, i + 1, &copy, 0, &filled, &cause);
		if ((i == 2 || i == 3) && !kept) {
			assert_int_equal(rc, 1);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(ink(&copy, 20, 10, 100, 20), kept && i >= 2 ? 2000 : 0);
			assert_int_equal(filled, kept && i >= 2);
			assert_int_equal(ink(&copy, 0, 0, 200, 10), 0);
			assert_int_equal(ink(&copy, 120, 10, 80, 50), 0);
		}
		free(copy.pixels);
	}
	/*
	 * A frame scanned clean before the run was complete is decided again by the
	 * next scan: dropped, or scanned again and kept with the field filled.
	 */
	scan.state = STORE_SCAN_CLEAN;
	scan.reason[0] = '\0';
	assert_int_equal(store_frame_scan_set(st, 3, &scan, "[]", &cause), 0);
	assert_int_equal(scrub_session(sc, sid, &stats, &cause), 0);
	assert_int_equal(stats.dropped_typed, kept ? 0 : 1);
	assert_int_equal(stats.filled_typed, kept ? 1 : 0);
	assert_int_equal(store_frame_scan_get(st, 3, &scan, NULL, &cause), 0);
	assert_int_equal(scan.state, kept ? STORE_SCAN_SCRUBBED : STORE_SCAN_DROPPED);
	assert_string_equal(scan.reason, kept ? "" : "typed");
	/*
	 * One dropped for typing while its field was not stored yet (the background
	 * scanner ran before the element lookup was written) is scanned again.
	 */
	scan.state = STORE_SCAN_DROPPED;
	strcpy(scan.reason, "typed");
	scan.blob[0] = '\0';
	assert_int_equal(store_frame_scan_set(st, 3, &scan, "[]", &cause), 0);
	assert_int_equal(scrub_session(sc, sid, &stats, &cause), 0);
	assert_int_equal(stats.scanned, kept ? 1 : 0);
	assert_int_equal(store_frame_scan_get(st, 3, &scan, NULL, &cause), 0);
	assert_int_equal(scan.state, kept ? STORE_SCAN_SCRUBBED : STORE_SCAN_DROPPED);
	/* Scanned as they should be, the frames are left alone by the next scan. */
	assert_int_equal(scrub_session(sc, sid, &stats, &cause), 0);
	assert_int_equal(stats.scanned, 0);
	scrub_close(sc);
	encode_free(e);
	blob_close(b);
	store_close(st);
	free(blank.pixels);
	assert_int_equal(testenv_tmpdir_remove(dir), 0);
	free(fdir);
}

static void test_session_typed(void **state)
{
	(void)state;
	session_typed(FIELD_NONE);
}

static void test_session_typed_field(void **state)
{
	(void)state;
	session_typed(FIELD_EDITABLE);
}

static void test_session_typed_field_not_editable(void **state)
{
	(void)state;
	session_typed(FIELD_NOT_EDITABLE);
}

/* The fingerprint a frame's scan holds, and its state. */
static int scan_of(struct store *st, int64_t id, char rules[STORE_SCAN_RULES_MAX + 1])
{
	struct store_frame_scan sc;
	char *cause = NULL;

	assert_int_equal(store_frame_scan_get(st, id, &sc, NULL, &cause), 0);
	snprintf(rules, STORE_SCAN_RULES_MAX + 1, "%s", sc.rules);
	return sc.state;
}

/* The scan key of rules r, in a static buffer (one at a time). */
static const char *key_of(const struct redact *r)
{
	static char key[SCRUB_SCAN_KEY_LEN + 1];

	scrub_scan_key(r, key);
	return key;
}

/* A scan key is the rules' fingerprint and the scrubber's reading version, nothing else. */
static void test_scan_key(void **state)
{
	char a[SCRUB_SCAN_KEY_LEN + 1], b[SCRUB_SCAN_KEY_LEN + 1];

	(void)state;
	scrub_scan_key(rd, a);
	scrub_scan_key(rd, b);
	assert_string_equal(a, b);
	assert_int_equal(strlen(a), SCRUB_SCAN_KEY_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), SCRUB_SCAN_KEY_LEN);
	/* Not the bare fingerprint: a scan by an older reading (which stored that) is stale. */
	assert_string_not_equal(a, redact_fingerprint(rd));
}

/*
 * A frame's scan is tied to the rules it was made with: scanned with the built-in
 * rules (A), a frame showing an employee id is clean; to A plus the organisation's
 * rule for those ids (B) it is unscanned, no export gets a verdict for it, and B's
 * scan makes it again and fills the id (issue 14: kept filled, no longer dropped). Scanning again with the same rules reuses
 * every scan; the background scanner leaves scans made with other rules alone;
 * a scan stored before fingerprints (none) counts as unscanned.
 */
static void test_session_rules_change(void **state)
{
	static const char *const l1[] = { "staff EMP-123456 here", "" };
	static const char *const l2[] = { "nothing to see here today" };
	char *dir, *fdir, *cause = NULL;
	char rules_path[64], fp[STORE_SCAN_RULES_MAX + 1];
	const char *paths[1] = { rules_path };
	struct store *st;
	struct blob *b;
	struct encode *e;
	struct store_frame fr[4];
	struct image i1 = render(400, 90, l1, 2), i2 = render(400, 90, l2, 1);
	struct image out;
	struct redact *rb = NULL;
	struct scrub *sa, *sb;
	struct scrub_stats stats;
	struct store_frame_scan scan;
	int64_t sid;
	int verdict;
	FILE *f;

	(void)state;
	dir = testenv_tmpdir("mimic-scrub");
	assert_non_null(dir);
	snprintf(rules_path, sizeof(rules_path), "%s/org.rules", dir);
	f = fopen(rules_path, "w");
	assert_non_null(f);
	fputs("employee_id NATIONAL_ID high - (?<![A-Z0-9])EMP-[0-9]{6}(?![0-9])\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(redact_open_files(paths, 1, &rb, &cause), 0);
	assert_string_not_equal(redact_fingerprint(rb), redact_fingerprint(rd));

	open_session(dir, 400, 90, fr, 4, &st, &sid, &fdir, &b, &e);
	/* 1: the id on screen; 2: a patch over 1 below it (the id still shown); 3: nothing. */
	put_frame(b, e, &i1, &fr[0]);
	put_patch(b, e, &i1, 60, 20, &fr[1], 1);
	put_frame(b, e, &i2, &fr[2]);
	assert_int_equal(store_write_all(st, sid, NULL, 0, NULL, 0, fr, 3, &cause), 0);

	/* Rule set A: the built-in rules know no employee ids. */
	{
		struct scrub_opts so = { .data_dir = dir, .redact = rd, .fill = 0 };

		assert_int_equal(scrub_open(&so, &sa, &cause), 0);
	}
	assert_int_equal(scrub_session(sa, sid, &stats, &cause), 0);
	assert_int_equal(stats.scanned, 3);
	for (int64_t id = 1; id <= 3; id++) {
		assert_int_equal(scan_of(st, id, fp), STORE_SCAN_CLEAN);
		assert_string_equal(fp, key_of(rd));
	}
	/* The same rules again: every scan is reused, nothing is read. */
	assert_int_equal(scrub_session(sa, sid, &stats, &cause), 0);
	assert_int_equal(stats.scanned, 0);
	assert_int_equal(stats.regions, 0);
	assert_int_equal(scrub_export_frame(st, rd, 1, &i1, 0, NULL, &cause), 0);
	/* To rule set B the frames are unscanned: no verdict, so the export drops them. */
	assert_int_equal(scrub_export_frame(st, rb, 1, &i1, 0, NULL, &cause), 1);
	assert_int_equal(scrub_export_frame(st, rb, 3, &i2, 0, NULL, &cause), 1);
	assert_int_equal(scrub_export_frame(st, NULL, 3, &i2, 0, NULL, &cause), 1);
	{
		struct export_frame_info info = { .session = sid, .frame_id = 3, .st = st,
		                                  .redact = rb };

		assert_int_equal(export_frame_prepare(&i2, &info, &cause), EXPORT_FRAME_DROP);
		info.redact = rd;
		assert_int_equal(export_frame_prepare(&i2, &info, &cause), EXPORT_FRAME_KEEP);
	}

	/* Rule set B scans them again: the id is filled in its frame and the patch over it. */
	{
		struct scrub_opts so = { .data_dir = dir, .redact = rb, .fill = 0 };

		assert_int_equal(scrub_open(&so, &sb, &cause), 0);
	}
	assert_int_equal(scrub_session(sb, sid, &stats, &cause), 0);
	assert_int_equal(stats.scanned, 3);
	assert_int_equal(stats.scrubbed, 2);
	assert_int_equal(stats.filled_high, 2);
	assert_int_equal(stats.clean, 1);
	assert_int_equal(scan_of(st, 1, fp), STORE_SCAN_SCRUBBED);
	assert_string_equal(fp, key_of(rb));
	assert_int_equal(scan_of(st, 2, fp), STORE_SCAN_SCRUBBED);
	assert_int_equal(scan_of(st, 3, fp), STORE_SCAN_CLEAN);
	assert_string_equal(fp, key_of(rb));
	{
		struct image copy = i1;

		copy.pixels = malloc(i1.stride * i1.height);
		memcpy(copy.pixels, i1.pixels, i1.stride * i1.height);
		assert_int_equal(scrub_export_frame(st, rb, 1, &copy, 0xffffff, NULL, &cause), 0);
		assert_true(memcmp(copy.pixels, i1.pixels, i1.stride * i1.height) != 0);
		free(copy.pixels);
	}
	assert_int_equal(scrub_export_frame(st, rb, 3, &i2, 0, NULL, &cause), 0);
	assert_int_equal(scrub_export_frame(st, rd, 3, &i2, 0, NULL, &cause), 1);
	assert_int_equal(scrub_session(sb, sid, &stats, &cause), 0);
	assert_int_equal(stats.scanned, 0);

	/* The background scanner (rule set A) scans a new frame and leaves B's scans alone. */
	fr[3].id = 4;
	put_frame(b, e, &i2, &fr[3]);
	assert_int_equal(store_write_all(st, sid, NULL, 0, NULL, 0, &fr[3], 1, &cause), 0);
	{
		struct scrub_worker *w = NULL;
		int waited = 0;

		assert_int_equal(scrub_worker_start(dir, rd, sid, 1, &w, &cause), 0);
		while (scan_of(st, 4, fp) == STORE_SCAN_UNSCANNED && ++waited < 300)
			usleep(100000);
		assert_int_equal(scrub_worker_stop(w), 1);
	}
	assert_int_equal(scan_of(st, 4, fp), STORE_SCAN_CLEAN);
	assert_string_equal(fp, key_of(rd));
	for (int64_t id = 1; id <= 3; id++) {
		scan_of(st, id, fp);
		assert_string_equal(fp, key_of(rb));
	}

	/* The pixels for rule set A: frame 1 is scanned again with A, and is clean to A. */
	assert_int_equal(scrub_frame_image(sa, sid, 1, &out, &verdict, &cause), 0);
	assert_int_equal(verdict, STORE_SCAN_CLEAN);
	assert_memory_equal(out.pixels, i1.pixels, i1.stride * i1.height);
	free(out.pixels);
	assert_int_equal(scan_of(st, 1, fp), STORE_SCAN_CLEAN);
	assert_string_equal(fp, key_of(rd));
	/* ... and for B again: the id filled. */
	assert_int_equal(scrub_frame_image(sb, sid, 1, &out, &verdict, &cause), 0);
	assert_int_equal(verdict, STORE_SCAN_SCRUBBED);
	{
		struct ocr_result res;

		assert_int_equal(ocr_read(oc, &out, NULL, &res, &cause), 0);
		for (size_t i = 0; i < res.n_lines; i++)
			assert_null(strstr(res.lines[i].text, "EMP-"));
		ocr_result_free(&res);
	}
	free(out.pixels);

	/* A scan stored before fingerprints (none) is no scan for any rules. */
	assert_int_equal(store_frame_scan_get(st, 3, &scan, NULL, &cause), 0);
	scan.state = STORE_SCAN_CLEAN;
	scan.rules[0] = '\0';
	assert_int_equal(store_frame_scan_set(st, 3, &scan, "[]", &cause), 0);
	assert_int_equal(scrub_export_frame(st, rb, 3, &i2, 0, NULL, &cause), 1);
	assert_int_equal(scrub_export_frame(st, rd, 3, &i2, 0, NULL, &cause), 1);
	assert_int_equal(scrub_session(sb, sid, &stats, &cause), 0);
	assert_int_equal(scan_of(st, 3, fp), STORE_SCAN_CLEAN);
	assert_string_equal(fp, key_of(rb));
	assert_int_equal(scrub_export_frame(st, rb, 3, &i2, 0, NULL, &cause), 0);

	scrub_close(sa);
	scrub_close(sb);
	redact_close(rb);
	encode_free(e);
	blob_close(b);
	store_close(st);
	free(i1.pixels);
	free(i2.pixels);
	assert_int_equal(testenv_tmpdir_remove(dir), 0);
	free(fdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ocr_reads_rendered_text),
		cmocka_unit_test(test_ocr_reads_light_on_dark),
		cmocka_unit_test(test_scrub_fills_email_box_only),
		cmocka_unit_test(test_scrub_card_is_high_risk),
		cmocka_unit_test(test_find_partial),
		cmocka_unit_test(test_find_unread),
		cmocka_unit_test(test_cover_unread),
		cmocka_unit_test(test_scrub_clean_image_unchanged),
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_find_maps_spans_to_words),
		cmocka_unit_test(test_ocr_colons_of_a_bitmap_font),
		cmocka_unit_test(test_find_lenient_shapes),
		cmocka_unit_test(test_scan_key),
		cmocka_unit_test(test_find_misread_hash),
		cmocka_unit_test(test_typed_joins_pieces),
		cmocka_unit_test(test_session_states),
		cmocka_unit_test(test_session_typed),
		cmocka_unit_test(test_session_typed_field),
		cmocka_unit_test(test_session_typed_field_not_editable),
		cmocka_unit_test(test_session_rules_change),
	};

	return testenv_run(tests, group_setup, group_teardown);
}
