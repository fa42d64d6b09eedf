/*
 * fuzz_policy: libFuzzer target for the policy parser. Arbitrary bytes are read
 * as a system policy and, over it, as a personal one; either must be accepted or
 * refused with a one-line "t.conf:LINE: reason" (or "t.conf: reason"), and a
 * policy that was accepted must answer policy_check for a few windows and turn
 * into JSON without crashing.
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
