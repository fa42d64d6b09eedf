/*
 * fuzz_policy: libFuzzer target for the policy parser. Arbitrary bytes are read
 * as a system policy and, over it, as a personal one; either must be accepted or
 * refused with a one-line "t.conf:LINE: reason" (or "t.conf: reason"), and a
 * policy that was accepted must answer policy_check for a few windows and turn
 * into JSON without crashing. An accepted system policy is also merged with a
 * fixed one as the collector's policy (policy_merge_stricter), both ways: a window
 * the merged policy lets in must be let in by both sides, and the merged capture
 * switches may be on only where a side that sets them has them on.
 */
#include "policy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cause(const char *cause)
{
	if (cause == NULL || strncmp(cause, "t.conf:", 7) != 0 || strchr(cause, '\n') != NULL) {
		fprintf(stderr, "fuzz_policy: bad cause: %s\n", cause ? cause : "(null)");
		abort();
	}
}

static const char fixed[] =
	"[allow]\napp = XTerm\nsite = https://mail.example.com/*\n[deny]\ntitle = secret\n"
	"[capture]\nkeystroke_text = false\n";

static struct policy *load(const void *data, size_t size, const char *name)
{
	struct policy *p = policy_new();
	char *cause = NULL;
	FILE *f = fmemopen((void *)data, size, "r");

	if (f == NULL || policy_load_stream(p, f, name, 0, &cause) != 0) {
		if (f != NULL)
			fclose(f);
		free(cause);
		policy_free(p);
		return NULL;
	}
	fclose(f);
	return p;
}

/* Merges the fuzzed policy with fixed, one way (fuzzed_first) or the other, and checks it. */
static void merge(const uint8_t *data, size_t size, int fuzzed_first,
                  const struct policy_window *windows, size_t n)
{
	struct policy *a = load(data, size, "t.conf"), *b = load(fixed, strlen(fixed), "c.conf");
	struct policy *m = load(data, size, "t.conf"), *o = load(fixed, strlen(fixed), "c.conf");

	if (a == NULL || b == NULL || m == NULL || o == NULL)
		goto done;
	if (fuzzed_first) {
		policy_merge_stricter(m, o, "c");
	} else {
		policy_free(m);
		policy_free(o);
		m = load(fixed, strlen(fixed), "c.conf");
		o = load(data, size, "t.conf");
		policy_merge_stricter(m, o, "t");
	}
	for (size_t i = 0; i < n; i++) {
		enum policy_verdict va = policy_check(a, &windows[i]);

		/*
		 * Let in by the merge: let in by the fixed side, and by the fuzzed one
		 * unless it only lists no applications or sites (then the fixed side's apply).
		 */
		if (policy_check(m, &windows[i]) == POLICY_IN &&
		    (policy_check(b, &windows[i]) != POLICY_IN ||
		     (va != POLICY_IN && va != POLICY_OUT_NOT_ALLOWED &&
		      va != POLICY_OUT_SITE_NOT_ALLOWED))) {
			fprintf(stderr, "fuzz_policy: the merge let in window %zu\n", i);
			abort();
		}
	}
	if (policy_key_text(m, "xterm", "XTerm"))
		abort(); /* the fixed side switches keystroke text off */
	free(policy_to_json(m));
done:
	policy_free(a);
	policy_free(b);
	policy_free(m);
	policy_free(o);
}

static void run(const uint8_t *data, size_t size, int user)
{
	static const struct policy_window windows[] = {
		{ "xterm", "XTerm", "/usr/bin/xterm", "bash", NULL },
		{ "Navigator", "firefox", "/usr/lib/firefox/firefox", "a.example/x - Firefox", NULL },
		{ "chromium", "Chromium", "", "Inbox", "https://mail.example.com/" },
		{ "keepassxc", "KeePassXC", "", "db", NULL },
		{ NULL, NULL, NULL, NULL, NULL },
	};
	struct policy *p = policy_new();
	char *cause = NULL;
	FILE *f;
	int rc;

	f = fmemopen((void *)data, size, "r");
	if (f == NULL) {
		policy_free(p);
		return;
	}
	rc = policy_load_stream(p, f, "t.conf", user, &cause);
	fclose(f);
	if (rc != 0) {
		check_cause(cause);
		free(cause);
	} else {
		char *json = policy_to_json(p);
		const char *sym;
		uint32_t mods;

		for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
			enum policy_verdict v = policy_check(p, &windows[i]);
			if (i == 3 && v != POLICY_OUT_PASSWORD_MANAGER)
				abort(); /* no policy can let a password manager in */
		}
		(void)policy_key_text(p, "xterm", "XTerm");
		(void)policy_pause_hotkey(p, &sym, &mods);
		free(json);
		if (!user) {
			merge(data, size, 1, windows, sizeof(windows) / sizeof(windows[0]));
			merge(data, size, 0, windows, sizeof(windows) / sizeof(windows[0]));
		}
	}
	policy_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0; /* fmemopen refuses a size of 0 */
	run(data, size, 0);
	run(data, size, 1);
	return 0;
}
