/*
 * scope_bench: the cost of the safeguards on the input thread.
 *
 *   build/bench/scope_bench [-n N]
 *
 * 1. policy_check: a policy of 20 allowed apps, 10 exe globs, 10 sites, 10 denied
 *    apps and 5 title regexes, judging a mix of windows (allowed, denied, browsers,
 *    private windows, password managers); prints microseconds per check.
 * 2. policy_looks_like_password_prompt on window titles (microseconds per title).
 * 3. With $DISPLAY set: scope_open (connect, atoms, one full read of the window
 *    tree and the kept rectangles) N times; prints the median and p90 in
 *    milliseconds and the number of top-level windows. A refresh after a window
 *    change costs this minus the connection (an upper bound).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"
#include "scope.h"
#include "util.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int n = 50;
	struct policy *p = policy_new();
	char *cause = NULL;
	char conf[8192];
	size_t len = 0;
	FILE *f;

	if (argc == 3 && strcmp(argv[1], "-n") == 0)
		n = atoi(argv[2]);
	if (n < 1)
		n = 1;
	len += (size_t)snprintf(conf + len, sizeof(conf) - len, "[allow]\n");
	for (int i = 0; i < 20; i++)
		len += (size_t)snprintf(conf + len, sizeof(conf) - len, "app = workapp%d*\n", i);
	for (int i = 0; i < 10; i++)
		len += (size_t)snprintf(conf + len, sizeof(conf) - len, "exe = /opt/work%d/bin/*\n", i);
	for (int i = 0; i < 10; i++)
		len += (size_t)snprintf(conf + len, sizeof(conf) - len,
		                        "site = https://*.work%d.example.com/*\n", i);
	len += (size_t)snprintf(conf + len, sizeof(conf) - len, "[deny]\n");
	for (int i = 0; i < 10; i++)
		len += (size_t)snprintf(conf + len, sizeof(conf) - len, "app = chat%d\n", i);
	for (int i = 0; i < 5; i++)
		len += (size_t)snprintf(conf + len, sizeof(conf) - len,
		                        "title = \\b(confidential|salary|payroll)%d\\b\n", i);
	f = fmemopen(conf, len, "r");
	if (f == NULL || policy_load_stream(p, f, "bench.conf", 0, &cause) != 0) {
		fprintf(stderr, "scope_bench: %s\n", cause ? cause : "fmemopen failed");
		return 1;
	}
	fclose(f);

	static const struct policy_window wins[] = {
		{ "workapp7-main", "Workapp7", "/opt/work3/bin/app", "Quarterly report - Workapp", NULL },
		{ "chat3", "Chat3", "/usr/bin/chat3", "General channel", NULL },
		{ "Navigator", "firefox", "/usr/lib/firefox/firefox",
		  "https://docs.work4.example.com/a/b - Mozilla Firefox", NULL },
		{ "Navigator", "firefox", "/usr/lib/firefox/firefox", "Inbox - Mozilla Firefox", NULL },
		{ "chromium", "Chromium", "/usr/lib/chromium/chromium",
		  "https://a.example/ (Incognito) - Chromium", NULL },
		{ "keepassxc", "KeePassXC", "/usr/bin/keepassxc", "Passwords.kdbx", NULL },
		{ "xterm", "XTerm", "/usr/bin/xterm", "ann@host: ~/src/project", NULL },
	};
	const size_t nw = sizeof(wins) / sizeof(wins[0]);
	const int iters = 200000;
	int64_t t0 = util_now_mono_ns();
	unsigned in = 0;

	for (int i = 0; i < iters; i++)
		in += policy_check(p, &wins[(size_t)i % nw]) == POLICY_IN;
	double us = (double)(util_now_mono_ns() - t0) / 1e3 / iters;
	printf("policy_check: %.2f us per window (%d checks, %u in scope)\n", us, iters, in);

	t0 = util_now_mono_ns();
	in = 0;
	for (int i = 0; i < iters; i++)
		in += (unsigned)policy_looks_like_password_prompt(wins[(size_t)i % nw].title);
	us = (double)(util_now_mono_ns() - t0) / 1e3 / iters;
	printf("password prompt heuristic: %.2f us per title\n", us);

	if (getenv("DISPLAY") != NULL) {
		double *ms = calloc((size_t)n, sizeof(double));
		struct image_rect keep[SCOPE_RECTS_MAX];
		size_t nk = 0;

		for (int i = 0; i < n; i++) {
			struct scope *s = NULL;

			t0 = util_now_mono_ns();
			if (scope_open(NULL, p, &s, &cause) != 0) {
				fprintf(stderr, "scope_bench: %s\n", cause);
				return 1;
			}
			ms[i] = (double)(util_now_mono_ns() - t0) / 1e6;
			nk = scope_keep_rects(s, keep, SCOPE_RECTS_MAX);
			scope_close(s);
		}
		qsort(ms, (size_t)n, sizeof(double), cmp_double);
		printf("scope_open (window tree read): median %.2f ms, p90 %.2f ms over %d runs; "
		       "%zu kept rectangles\n", ms[n / 2], ms[(n * 9) / 10], n, nk);
		free(ms);
	}
	policy_free(p);
	return 0;
}
