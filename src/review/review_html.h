/*
 * review_html: the pieces of the review page's HTML: a page buffer with text
 * escaped where it goes in, and a step told in words ("clicked 'OK' in Expense
 * claim", "typed <EMAIL>") from the step's JSON as an export writes it, so that
 * the page says what the dataset would hold, redactions included.
 */
#ifndef MIMIC_REVIEW_HTML_H
#define MIMIC_REVIEW_HTML_H

#include <stddef.h>

#include <jansson.h>

#include "dbuf.h"

/* The largest page built (a session of many steps); past it the page is cut. */
#define REVIEW_HTML_MAX (16u << 20)

/* The style sheet every page links to (served as /style). */
extern const char review_html_style[];

/*
 * Starts the page: doctype, head with title (escaped) and the link to the style
 * sheet, which carries token (the run's token: every request needs it; NULL: no
 * link, for pages that must not hold it), body.
 */
void review_html_begin(struct dbuf *b, const char *title, const char *token);

/* Ends it. */
void review_html_end(struct dbuf *b);

/* Appends s with & < > " ' escaped (NULL appends nothing). */
void review_html_text(struct dbuf *b, const char *s);

/*
 * Writes the step (json: one step of export_walk, export.h) in words into buf of
 * size n, NUL-terminated and cut when longer: "clicked 'OK' in Expense claim",
 * "typed <EMAIL>", "chose 'Asia' in Region", "pressed Return", "pressed ctrl+s",
 * "scrolled down 3 times", "switched to xterm". Plain text: escape it for HTML.
 */
void review_html_step_words(const json_t *step, char *buf, size_t n);

#endif
