/*
 * Unit tests for policy: every key of docs/POLICY.md, the verdicts of
 * policy_check, the personal file's limits and malformed files (FILE:LINE).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testenv.h"

#include "inifile.h"
#include "policy.h"

/* Parses text as a policy file named "t.conf"; returns the policy or NULL with *cause. */
static struct policy *parse(const char *text, int user, char **cause)
{
	struct policy *p = policy_new();
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int rc;

	assert_non_null(f);
	rc = policy_load_stream(p, f, "t.conf", user, cause);
	fclose(f);
	if (rc != 0) {
		policy_free(p);
		return NULL;
	}
	return p;
}

static struct policy *ok(const char *text)
{
	char *cause = NULL;
	struct policy *p = parse(text, 0, &cause);

	if (p == NULL)
		fail_msg("unexpected error: %s", cause);
	return p;
}

/* Expects text to be refused with a cause that starts with want_prefix and contains want. */
static void bad(const char *text, int user, const char *want_prefix, const char *want)
{
	char *cause = NULL;
	struct policy *p = parse(text, user, &cause);

	if (p != NULL) {
		policy_free(p);
		fail_msg("accepted: %s", text);
	}
	assert_non_null(cause);
	if (strncmp(cause, want_prefix, strlen(want_prefix)) != 0 || strstr(cause, want) == NULL)
		fail_msg("cause '%s' lacks '%s' ... '%s'", cause, want_prefix, want);
	free(cause);
}

static int check(const struct policy *p, const char *inst, const char *cls, const char *exe,
                 const char *title, const char *url)
{
	struct policy_window w = { inst, cls, exe, title, url };
	return (int)policy_check(p, &w);
}

static void test_default_deny(void **state)
{
	struct policy *p = policy_new();

	assert_int_equal(check(p, "xterm", "XTerm", "/usr/bin/xterm", "bash", NULL),
	                 POLICY_OUT_NOT_ALLOWED);
	assert_int_equal(check(p, "", "", "", "", NULL), POLICY_OUT_NO_WINDOW);
	assert_int_equal(check(p, NULL, NULL, NULL, NULL, NULL), POLICY_OUT_NO_WINDOW);
	assert_true(policy_screenshots(p));
	assert_true(policy_key_text(p, "xterm", "XTerm"));
	assert_null(policy_notice_path(p));
	assert_int_equal(policy_idle_pause_ms(p), 5 * 60 * 1000);
	policy_free(p);
}

static void test_allow_app(void **state)
{
	struct policy *p = ok("[allow]\napp = XTerm\napp = gnumeric*\n");

	assert_int_equal(check(p, "mimicterm", "XTerm", "", "t", NULL), POLICY_IN);
	/* Globs match the instance or the class, ignoring case. */
	assert_int_equal(check(p, "gnumeric-1.12", "Gnumeric", "", "t", NULL), POLICY_IN);
	assert_int_equal(check(p, "xterm", "xterm", "", "t", NULL), POLICY_IN);
	assert_int_equal(check(p, "zenity", "Zenity", "", "t", NULL), POLICY_OUT_NOT_ALLOWED);
	policy_free(p);
}

static void test_allow_exe(void **state)
{
	struct policy *p = ok("[allow]\nexe = /usr/bin/*\n");

	assert_int_equal(check(p, "a", "A", "/usr/bin/gedit", "t", NULL), POLICY_IN);
	assert_int_equal(check(p, "a", "A", "/opt/x/gedit", "t", NULL), POLICY_OUT_NOT_ALLOWED);
	policy_free(p);
	bad("[allow]\nexe = gedit\n", 0, "t.conf:2: ", "absolute path");
}

static void test_allow_site(void **state)
{
	struct policy *p = ok("[allow]\nsite = https://*.example.com/*\napp = firefox\n");

	assert_int_equal(check(p, "Navigator", "firefox", "", "Inbox", "https://mail.example.com/in"),
	                 POLICY_IN);
	/* The URL from the title, when AT-SPI gives none. */
	assert_int_equal(check(p, "Navigator", "firefox", "",
	                       "https://mail.example.com/x - Mozilla Firefox", NULL), POLICY_IN);
	assert_int_equal(check(p, "Navigator", "firefox", "",
	                       "mail.example.com/x - Mozilla Firefox", NULL), POLICY_IN);
	/* An allowlisted browser is still judged by its site. */
	assert_int_equal(check(p, "Navigator", "firefox", "", "x", "https://news.other.org/"),
	                 POLICY_OUT_SITE_NOT_ALLOWED);
	/* Fail closed: no URL at all. */
	assert_int_equal(check(p, "Navigator", "firefox", "", "Inbox - Mozilla Firefox", NULL),
	                 POLICY_OUT_URL_UNKNOWN);
	assert_int_equal(check(p, "chromium", "Chromium", "", "New Tab - Chromium", NULL),
	                 POLICY_OUT_URL_UNKNOWN);
	policy_free(p);
}

static void test_deny_app_and_exe(void **state)
{
	struct policy *p = ok("[allow]\napp = *\nexe = /usr/bin/*\n[deny]\napp = slack\n"
	                      "exe = /usr/bin/signal*\n");

	assert_int_equal(check(p, "xterm", "XTerm", "/usr/bin/xterm", "t", NULL), POLICY_IN);
	assert_int_equal(check(p, "slack", "Slack", "/usr/bin/slack", "t", NULL),
	                 POLICY_OUT_DENIED_APP);
	assert_int_equal(check(p, "x", "X", "/usr/bin/signal-desktop", "t", NULL),
	                 POLICY_OUT_DENIED_APP);
	policy_free(p);
}

static void test_deny_site(void **state)
{
	struct policy *p = ok("[allow]\nsite = https://*\n[deny]\nsite = https://bank.example/*\n");

	assert_int_equal(check(p, "Navigator", "firefox", "", "", "https://docs.example/a"),
	                 POLICY_IN);
	assert_int_equal(check(p, "Navigator", "firefox", "", "", "https://bank.example/login"),
	                 POLICY_OUT_DENIED_SITE);
	policy_free(p);
}

static void test_deny_title(void **state)
{
	struct policy *p = ok("[allow]\napp = *\n[deny]\ntitle = ^Payroll\\b\ntitle = salary\n");

	assert_int_equal(check(p, "x", "X", "", "Payroll 2026", NULL), POLICY_OUT_PRIVATE);
	assert_int_equal(check(p, "x", "X", "", "my SALARY.ods", NULL), POLICY_OUT_PRIVATE);
	assert_int_equal(check(p, "x", "X", "", "Payrolls", NULL), POLICY_IN);
	/* Titles that are not UTF-8 are still matched, not an error. */
	assert_int_equal(check(p, "x", "X", "", "\xff\xfe salary", NULL), POLICY_OUT_PRIVATE);
	policy_free(p);
	bad("[deny]\ntitle = (unclosed\n", 0, "t.conf:2: ", "not a regular expression");
	bad("[deny]\ntitle =\n", 0, "t.conf:2: ", "empty");
}

/*
 * A title pattern of 247 characters is valid and used (inih's own 200-byte line
 * buffer refused it); only a line longer than INIFILE_MAX_LINE is refused.
 */
static void test_long_title_pattern(void **state)
{
	char pat[248], text[INIFILE_MAX_LINE + 64], title[300];
	struct policy *p;

	(void)state;
	memset(pat, 'x', sizeof(pat) - 1);
	pat[sizeof(pat) - 1] = '\0';
	memcpy(pat, "Quarterly", 9);
	snprintf(text, sizeof(text), "[allow]\napp = *\n[deny]\ntitle = %s\n", pat);
	p = ok(text);
	snprintf(title, sizeof(title), "%s - editor", pat);
	assert_int_equal(check(p, "xterm", "XTerm", "/usr/bin/xterm", title, NULL),
	                 POLICY_OUT_PRIVATE);
	assert_int_equal(check(p, "xterm", "XTerm", "/usr/bin/xterm", "Quarterly", NULL),
	                 POLICY_IN);
	policy_free(p);

	memset(text, 'y', sizeof(text));
	memcpy(text, "[deny]\ntitle = ", 15);
	text[15 + INIFILE_MAX_LINE] = '\n';
	text[16 + INIFILE_MAX_LINE] = '\0';
	bad(text, 0, "t.conf:2: ", "line longer than");
}

static void test_builtin_exclusions(void **state)
{
	struct policy *p = ok("[allow]\napp = *\nexe = *\nsite = *\n");

	/* Password managers and private windows, whatever the allowlist says. */
	assert_int_equal(check(p, "keepassxc", "KeePassXC", "", "db", NULL),
	                 POLICY_OUT_PASSWORD_MANAGER);
	assert_int_equal(check(p, "x", "X", "/usr/bin/bitwarden", "v", NULL),
	                 POLICY_OUT_PASSWORD_MANAGER);
	assert_int_equal(check(p, "Navigator", "firefox", "",
	                       "https://a.example/ — Mozilla Firefox Private Browsing", NULL),
	                 POLICY_OUT_PRIVATE);
	assert_int_equal(check(p, "chromium", "Chromium", "", "https://a.example/ (Incognito)",
	                       NULL), POLICY_OUT_PRIVATE);
	policy_free(p);
}

static void test_browsers(void **state)
{
	struct policy *p = ok("[allow]\napp = *\nsite = https://ok.example/*\n"
	                      "[browsers]\napp = mybrowser\n");

	assert_true(policy_is_browser(p, "Navigator", "firefox"));
	assert_true(policy_is_browser(p, "mybrowser", "MyBrowser"));
	assert_false(policy_is_browser(p, "xterm", "XTerm"));
	assert_int_equal(check(p, "mybrowser", "MyBrowser", "", "Home", NULL),
	                 POLICY_OUT_URL_UNKNOWN);
	assert_int_equal(check(p, "mybrowser", "MyBrowser", "", "https://ok.example/a", NULL),
	                 POLICY_IN);
	policy_free(p);
}

static void test_capture(void **state)
{
	char *s;
	struct policy *p = ok("[capture]\nscreenshots = off\nkeystroke_text = yes\n"
	                      "no_keystroke_text = gnome-terminal*\n");

	assert_false(policy_screenshots(p));
	assert_true(policy_key_text(p, "xterm", "XTerm"));
	assert_false(policy_key_text(p, "gnome-terminal-server", "Gnome-terminal"));
	policy_free(p);
	p = ok("[capture]\nkeystroke_text = false\n");
	assert_false(policy_key_text(p, "xterm", "XTerm"));
	assert_true(policy_screenshots(p));
	policy_free(p);
	bad("[capture]\nscreenshots = maybe\n", 0, "t.conf:2: ", "not true or false");

	/* url_query: off unless the system policy switches it on. */
	p = policy_new();
	assert_false(policy_url_query(p));
	policy_free(p);
	p = ok("[capture]\nurl_query = on\n");
	assert_true(policy_url_query(p));
	assert_true(policy_screenshots(p));
	assert_true(policy_key_text(p, "xterm", "XTerm"));
	s = policy_to_json(p);
	assert_non_null(strstr(s, "\"url_query\":true"));
	free(s);
	policy_free(p);
	p = ok("[capture]\nurl_query = off\n");
	assert_false(policy_url_query(p));
	s = policy_to_json(p);
	assert_non_null(strstr(s, "\"url_query\":false"));
	free(s);
	policy_free(p);
	bad("[capture]\nurl_query = sometimes\n", 0, "t.conf:2: ",
	    "url_query: 'sometimes' is not true or false");
	bad("[capture]\nurl_query = on\nurl_query = off\n", 0, "t.conf:3: ",
	    "already set on line 2");
	bad("[capture]\nscreenshots = on\nscreenshots = off\n", 0, "t.conf:3: ",
	    "already set on line 2");
}

static void test_consent_notice(void **state)
{
	struct policy *p = ok("[consent]\nnotice = /etc/mimic/notice.txt\n");

	assert_string_equal(policy_notice_path(p), "/etc/mimic/notice.txt");
	policy_free(p);
	bad("[consent]\nnotice = notice.txt\n", 0, "t.conf:2: ", "absolute path");
}

static void test_controls(void **state)
{
	struct policy *p = ok("[controls]\npause_hotkey = super+F9\nidle_pause = 2m\n");
	const char *sym = NULL;
	uint32_t mods = 0;

	assert_int_equal(policy_pause_hotkey(p, &sym, &mods), 0);
	assert_string_equal(sym, "F9");
	assert_int_equal(mods, POLICY_MOD_SUPER);
	assert_int_equal(policy_idle_pause_ms(p), 120000);
	policy_free(p);

	p = policy_new();
	assert_int_equal(policy_pause_hotkey(p, &sym, &mods), 0);
	assert_string_equal(sym, "p");
	assert_int_equal(mods, POLICY_MOD_CTRL | POLICY_MOD_ALT | POLICY_MOD_SHIFT);
	policy_free(p);

	p = ok("[controls]\npause_hotkey = off\nidle_pause = off\n");
	assert_int_equal(policy_pause_hotkey(p, &sym, &mods), -ENOENT);
	assert_int_equal(policy_idle_pause_ms(p), 0);
	policy_free(p);

	bad("[controls]\npause_hotkey = p\n", 0, "t.conf:2: ", "pause_hotkey");
	bad("[controls]\npause_hotkey = ctrl+nosuchkey\n", 0, "t.conf:2: ", "pause_hotkey");
	bad("[controls]\npause_hotkey = ctrl+p+alt\n", 0, "t.conf:2: ", "pause_hotkey");
	bad("[controls]\nidle_pause = 1s\n", 0, "t.conf:2: ", "idle_pause");
	bad("[controls]\nidle_pause = soon\n", 0, "t.conf:2: ", "idle_pause");
}

static void test_redaction(void **state)
{
	struct policy *p = ok("[allow]\napp = XTerm\n[redaction]\n"
	                      "rules = /etc/mimic/hr.rules\n"
	                      "; the finance department's ids\n"
	                      "rules = /etc/mimic/finance.rules\n"
	                      "pseudonym_key = /etc/mimic/pseudonym.key\n");
	const char *const *rules;
	const char *where = "unset";
	size_t n = 99;
	char *s;

	rules = policy_redact_rules(p, &n);
	assert_int_equal(n, 2);
	assert_string_equal(rules[0], "/etc/mimic/hr.rules");
	assert_string_equal(rules[1], "/etc/mimic/finance.rules");
	assert_string_equal(policy_pseudonym_key(p, &where), "/etc/mimic/pseudonym.key");
	assert_string_equal(where, "t.conf:7");
	assert_string_equal(policy_pseudonym_key(p, NULL), "/etc/mimic/pseudonym.key");
	s = policy_to_json(p);
	assert_non_null(strstr(s, "\"redaction\":{\"rules\":[\"/etc/mimic/hr.rules\","
	                          "\"/etc/mimic/finance.rules\"],"
	                          "\"pseudonym_key\":\"/etc/mimic/pseudonym.key\"}"));
	free(s);
	policy_free(p);

	/* Without a [redaction] section: no added rules, the data directory's own key. */
	p = policy_new();
	n = 99;
	where = "unset";
	(void)policy_redact_rules(p, &n);
	assert_int_equal(n, 0);
	assert_null(policy_pseudonym_key(p, &where));
	assert_null(where);
	s = policy_to_json(p);
	assert_non_null(strstr(s, "\"redaction\":{\"rules\":[],\"pseudonym_key\":null}"));
	free(s);
	policy_free(p);

	bad("[redaction]\nrules = hr.rules\n", 0, "t.conf:2: ", "rules: 'hr.rules' is not an "
	    "absolute path");
	bad("[redaction]\nrules =\n", 0, "t.conf:2: ", "not an absolute path");
	bad("[redaction]\nrules = /a.rules\n\nrules = /a.rules\n", 0, "t.conf:4: ", "listed twice");
	bad("[redaction]\npseudonym_key = key\n", 0, "t.conf:2: ", "pseudonym_key: 'key' is not "
	    "an absolute path");
	bad("[redaction]\npseudonym_key = /a\npseudonym_key = /b\n", 0, "t.conf:3: ",
	    "already set on line 2");
	bad("[redaction]\nrule = /a.rules\n", 0, "t.conf:2: ", "unknown key 'rule' in [redaction]");
	bad("[redaction]\nkey = /a\n", 0, "t.conf:2: ", "unknown key 'key'");
	{
		/* At most POLICY_RULES_MAX files; the one past it is refused on its line. */
		char text[2048];
		size_t len = (size_t)snprintf(text, sizeof(text), "[redaction]\n");

		for (int i = 0; i <= POLICY_RULES_MAX; i++)
			len += (size_t)snprintf(text + len, sizeof(text) - len, "rules = /r%d\n",
			                        i);
		assert_true(len < sizeof(text));
		bad(text, 0, "t.conf:18: ", "more than 16 files");
	}

	/* Only the organisation decides: the person's file may set neither. */
	bad("[redaction]\nrules = /home/ann/mine.rules\n", 1, "t.conf:2: ", "only add exclusions");
	bad("[redaction]\npseudonym_key = /home/ann/key\n", 1, "t.conf:2: ",
	    "only add exclusions");
}

static void test_malformed(void **state)
{
	bad("app = xterm\n", 0, "t.conf:1: ", "outside a section");
	bad("[allow]\napp = x\n[nosuch]\nk = v\n", 0, "t.conf:4: ", "unknown section");
	bad("# comment\n[allow]\napps = x\n", 0, "t.conf:3: ", "unknown key 'apps'");
	bad("[allow]\njust some words\n", 0, "t.conf:2: ", "not a 'key = value' line");
	bad("[allow\napp = x\n", 0, "t.conf:1: ", "not a 'key = value' line");
	bad("[allow]\napp =\n", 0, "t.conf:2: ", "empty pattern");
	{
		/* A line longer than inih's buffer is refused, not cut into two lines. */
		char *big = malloc(5000);
		memcpy(big, "[allow]\napp = ", 14);
		memset(big + 14, 'a', 4000);
		memcpy(big + 4014, "\n", 2);
		bad(big, 0, "t.conf:2: ", "line longer");
		free(big);
	}
}

static void test_user_file(void **state)
{
	struct policy *p = ok("[allow]\napp = *\n");
	char *cause = NULL;
	FILE *f;
	const char *user = "[deny]\napp = xterm\ntitle = secret\n[capture]\nscreenshots = off\n";

	f = fmemopen((void *)user, strlen(user), "r");
	assert_int_equal(policy_load_stream(p, f, "user.conf", 1, &cause), 0);
	fclose(f);
	assert_int_equal(check(p, "xterm", "XTerm", "", "t", NULL), POLICY_OUT_DENIED_APP);
	assert_int_equal(check(p, "xclock", "XClock", "", "t", NULL), POLICY_IN);
	assert_false(policy_screenshots(p));
	policy_free(p);

	/* The personal file may not widen anything. */
	bad("[allow]\napp = *\n", 1, "t.conf:2: ", "only add exclusions");
	bad("[consent]\nnotice = /tmp/n\n", 1, "t.conf:2: ", "only add exclusions");
	bad("[controls]\nidle_pause = off\n", 1, "t.conf:2: ", "only add exclusions");
	bad("[capture]\nscreenshots = on\n", 1, "t.conf:2: ", "only switch capture off");
	bad("[capture]\nurl_query = on\n", 1, "t.conf:2: ", "only switch capture off");

	/* The person's file may switch url_query off when the system's has it on. */
	p = ok("[allow]\napp = *\n[capture]\nurl_query = on\n");
	user = "[capture]\nurl_query = off\n";
	f = fmemopen((void *)user, strlen(user), "r");
	assert_int_equal(policy_load_stream(p, f, "user.conf", 1, &cause), 0);
	fclose(f);
	assert_false(policy_url_query(p));
	policy_free(p);
}

static void test_load_files(void **state)
{
	char *dir;
	char path[256], udir[256], upath[300];
	struct policy *p = NULL;
	char *cause = NULL;
	FILE *f;

	dir = testenv_tmpdir("mimic-policy");
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/policy.conf", dir);
	snprintf(udir, sizeof(udir), "%s/mimic", dir);
	snprintf(upath, sizeof(upath), "%s/policy.conf", udir);
	f = fopen(path, "w");
	fputs("[allow]\napp = XTerm\n", f);
	fclose(f);
	setenv("XDG_CONFIG_HOME", dir, 1);

	assert_int_equal(policy_load(path, &p, &cause), 0);
	assert_int_equal(check(p, "x", "XTerm", "", "t", NULL), POLICY_IN);
	policy_free(p);

	assert_int_equal(mkdir(udir, 0700), 0);
	f = fopen(upath, "w");
	fputs("[deny]\napp = XTerm\n", f);
	fclose(f);
	assert_int_equal(policy_load(path, &p, &cause), 0);
	assert_int_equal(check(p, "x", "XTerm", "", "t", NULL), POLICY_OUT_DENIED_APP);
	assert_non_null(strstr(policy_sources(p), "mimic/policy.conf"));
	policy_free(p);

	f = fopen(upath, "w");
	fputs("[deny]\n\n[allow]\napp = *\n", f);
	fclose(f);
	assert_int_equal(policy_load(path, &p, &cause), -EINVAL);
	assert_null(p);
	assert_non_null(strstr(cause, "mimic/policy.conf:4: "));
	free(cause);
	cause = NULL;

	assert_int_equal(policy_load("/nonexistent/policy.conf", &p, &cause), -ENOENT);
	assert_non_null(strstr(cause, "cannot read policy /nonexistent/policy.conf"));
	free(cause);

	testenv_tmpdir_remove(dir);
	unsetenv("XDG_CONFIG_HOME");
}

static void test_url_from_title(void **state)
{
	char url[64];

	assert_true(policy_url_from_title("(https://a.example/p?q=1) - Firefox", url, sizeof(url)));
	assert_string_equal(url, "https://a.example/p?q=1");
	assert_true(policy_url_from_title("docs.example.com/x — Chromium", url, sizeof(url)));
	assert_string_equal(url, "https://docs.example.com/x");
	assert_true(policy_url_from_title("intranet.example:8080/app", url, sizeof(url)));
	assert_string_equal(url, "https://intranet.example:8080/app");
	assert_false(policy_url_from_title("Version 1.2.3 - Mozilla Firefox", url, sizeof(url)));
	assert_false(policy_url_from_title("New Tab", url, sizeof(url)));
	assert_false(policy_url_from_title("", url, sizeof(url)));
	/* Cut to the buffer, never past it. */
	assert_true(policy_url_from_title("https://a.example/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	                                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", url, 16));
	assert_int_equal(strlen(url), 15);
}

static void test_password_prompt(void **state)
{
	assert_true(policy_looks_like_password_prompt("Type your password"));
	assert_true(policy_looks_like_password_prompt("[sudo] password for ann:"));
	assert_true(policy_looks_like_password_prompt("Enter passphrase for key"));
	assert_true(policy_looks_like_password_prompt("Enter PIN"));
	assert_true(policy_looks_like_password_prompt("Passwort eingeben"));
	assert_false(policy_looks_like_password_prompt("Expenses - Gnumeric"));
	assert_false(policy_looks_like_password_prompt("spinning"));
	assert_false(policy_looks_like_password_prompt(NULL));
}

static void test_json(void **state)
{
	struct policy *p = ok("[allow]\napp = XTerm\n[deny]\ntitle = x\n");
	char *s = policy_to_json(p);

	assert_non_null(strstr(s, "\"app\":[\"XTerm\"]"));
	assert_non_null(strstr(s, "\"title\":[\"x\"]"));
	free(s);
	policy_free(p);
}

/*
 * [upload]: upload_delay (default 1 h) and spool_max (default 2 GiB); the
 * person's file may lengthen the delay but neither shorten it nor set the cap.
 */
static void test_upload(void **state)
{
	struct policy *p = policy_new();
	char *cause = NULL;
	FILE *f;

	assert_int_equal(policy_upload_delay_ms(p), 3600 * 1000);
	assert_int_equal(policy_spool_max(p), INT64_C(2) << 30);
	policy_free(p);
	p = ok("[upload]\nupload_delay = 2s\nspool_max = 10M\n");
	assert_int_equal(policy_upload_delay_ms(p), 2000);
	assert_int_equal(policy_spool_max(p), 10 * 1024 * 1024);
	/* The person's file: a shorter delay is ignored, a longer one applies. */
	f = fmemopen((void *)"[upload]\nupload_delay = 1s\n", 27, "r");
	assert_int_equal(policy_load_stream(p, f, "u.conf", 1, &cause), 0);
	fclose(f);
	assert_int_equal(policy_upload_delay_ms(p), 2000);
	f = fmemopen((void *)"[upload]\nupload_delay = 2h\n", 27, "r");
	assert_int_equal(policy_load_stream(p, f, "u.conf", 1, &cause), 0);
	fclose(f);
	assert_int_equal(policy_upload_delay_ms(p), 2 * 3600 * 1000);
	policy_free(p);
	bad("[upload]\nupload_delay = soon\n", 0, "t.conf:2: ", "upload_delay");
	bad("[upload]\nupload_delay = 31d\n", 0, "t.conf:2: ", "upload_delay");
	bad("[upload]\nspool_max = 10K\n", 0, "t.conf:2: ", "spool_max");
	bad("[upload]\nspool_max = 10G\n", 1, "t.conf:2: ", "spool_max");
}

/* ---- policy_merge_stricter: one test per rule (docs/POLICY.md) ---------------- */

/* local merged with collector: the result (the caller frees it). */
static struct policy *merged(const char *local, const char *collector)
{
	struct policy *p = ok(local), *o = ok(collector);

	policy_merge_stricter(p, o, "collector policy serial 3");
	policy_free(o);
	return p;
}

static enum policy_verdict app(const struct policy *p, const char *cls)
{
	struct policy_window w = { .wm_instance = cls, .wm_class = cls, .exe = "/usr/bin/x",
	                           .title = "t" };
	return policy_check(p, &w);
}

static enum policy_verdict site(const struct policy *p, const char *url)
{
	struct policy_window w = { .wm_instance = "firefox", .wm_class = "firefox",
	                           .exe = "/usr/bin/firefox", .title = "page", .url = url };
	return policy_check(p, &w);
}

static void test_merge_allow_intersection(void **state)
{
	(void)state;
	struct policy *p = merged("[allow]\napp = XTerm\napp = Gedit\n",
	                          "[allow]\napp = Gedit\napp = Calc\n");

	/* Allowed by both: in. Allowed by one side only: out, whichever side it is. */
	assert_int_equal(app(p, "Gedit"), POLICY_IN);
	assert_int_equal(app(p, "XTerm"), POLICY_OUT_NOT_ALLOWED);
	assert_int_equal(app(p, "Calc"), POLICY_OUT_NOT_ALLOWED);
	policy_free(p);
	/* exe and app are one kind: an app allowed by exe here and by class there is in. */
	p = merged("[allow]\nexe = /usr/bin/x\n", "[allow]\napp = Gedit\n");
	assert_int_equal(app(p, "Gedit"), POLICY_IN);
	assert_int_equal(app(p, "Calc"), POLICY_OUT_NOT_ALLOWED);
	policy_free(p);
	/* Sites: the same. */
	p = merged("[allow]\nsite = https://a.example/*\nsite = https://b.example/*\n",
	           "[allow]\nsite = https://b.example/*\n");
	assert_int_equal(site(p, "https://b.example/x"), POLICY_IN);
	assert_int_equal(site(p, "https://a.example/x"), POLICY_OUT_SITE_NOT_ALLOWED);
	policy_free(p);
}

static void test_merge_allow_one_side(void **state)
{
	(void)state;
	/* Only the collector lists applications: its list; only the local sites: those. */
	struct policy *p = merged("[allow]\nsite = https://a.example/*\n",
	                          "[allow]\napp = Gedit\n");

	assert_int_equal(app(p, "Gedit"), POLICY_IN);
	assert_int_equal(app(p, "XTerm"), POLICY_OUT_NOT_ALLOWED);
	assert_int_equal(site(p, "https://a.example/x"), POLICY_IN);
	policy_free(p);
	/* Only the local file lists applications: they stay allowed. */
	p = merged("[allow]\napp = XTerm\n", "[deny]\napp = Calc\n");
	assert_int_equal(app(p, "XTerm"), POLICY_IN);
	policy_free(p);
}

static void test_merge_deny_union(void **state)
{
	(void)state;
	struct policy *p = merged("[allow]\napp = *\nsite = *\n[deny]\napp = XTerm\n",
	                          "[deny]\napp = Gedit\nsite = https://bank.example/*\n"
	                          "title = secret\n");
	struct policy_window w = { .wm_instance = "calc", .wm_class = "Calc", .exe = "/usr/bin/x",
	                           .title = "a secret plan" };

	assert_int_equal(app(p, "XTerm"), POLICY_OUT_DENIED_APP);
	assert_int_equal(app(p, "Gedit"), POLICY_OUT_DENIED_APP);
	assert_int_equal(app(p, "Calc"), POLICY_IN);
	assert_int_equal(policy_check(p, &w), POLICY_OUT_PRIVATE);
	assert_int_equal(site(p, "https://bank.example/a"), POLICY_OUT_DENIED_SITE);
	assert_int_equal(site(p, "https://other.example/a"), POLICY_IN);
	policy_free(p);
}

static void test_merge_browsers_and_key_text_apps_union(void **state)
{
	(void)state;
	struct policy *p = merged("[allow]\napp = *\n[capture]\nno_keystroke_text = XTerm\n",
	                          "[browsers]\napp = mybrowser\n[capture]\nno_keystroke_text = Gedit\n");

	assert_true(policy_is_browser(p, "mybrowser", "MyBrowser"));
	assert_true(policy_is_browser(p, "firefox", "firefox"));
	assert_false(policy_key_text(p, "xterm", "XTerm"));
	assert_false(policy_key_text(p, "gedit", "Gedit"));
	assert_true(policy_key_text(p, "calc", "Calc"));
	policy_free(p);
}

static void test_merge_capture_switches(void **state)
{
	(void)state;
	/* Both set: on only when both are on. */
	struct policy *p = merged("[capture]\nscreenshots = true\nkeystroke_text = false\n"
	                          "url_query = true\n",
	                          "[capture]\nscreenshots = false\nkeystroke_text = true\n"
	                          "url_query = false\n");

	assert_false(policy_screenshots(p));
	assert_false(policy_key_text(p, "xterm", "XTerm"));
	assert_false(policy_url_query(p));
	policy_free(p);
	/* Only one side sets it: that side's value (url_query is off by default). */
	p = merged("[capture]\nscreenshots = false\n", "[capture]\nurl_query = true\n");
	assert_false(policy_screenshots(p));
	assert_true(policy_url_query(p));
	policy_free(p);
}

static void test_merge_durations(void **state)
{
	(void)state;
	struct policy *p = merged("[controls]\nidle_pause = 10m\n[upload]\nupload_delay = 1h\n"
	                          "spool_max = 2G\nupload_interval = 5m\n",
	                          "[controls]\nidle_pause = 2m\n[upload]\nupload_delay = 3h\n"
	                          "spool_max = 500M\nupload_interval = 30m\n");

	/* idle_pause the sooner, upload_delay the longer, spool_max the smaller, interval longer. */
	assert_int_equal(policy_idle_pause_ms(p), 2 * 60 * 1000);
	assert_int_equal(policy_upload_delay_ms(p), 3 * 3600 * 1000);
	assert_int_equal(policy_spool_max(p), 500LL * 1024 * 1024);
	assert_int_equal(policy_upload_interval_ms(p), 30 * 60 * 1000);
	policy_free(p);
	/* The other way round gives the same. */
	p = merged("[controls]\nidle_pause = 2m\n[upload]\nupload_delay = 3h\nspool_max = 500M\n"
	           "upload_interval = 30m\n",
	           "[controls]\nidle_pause = 10m\n[upload]\nupload_delay = 1h\nspool_max = 2G\n"
	           "upload_interval = 5m\n");
	assert_int_equal(policy_idle_pause_ms(p), 2 * 60 * 1000);
	assert_int_equal(policy_upload_delay_ms(p), 3 * 3600 * 1000);
	assert_int_equal(policy_spool_max(p), 500LL * 1024 * 1024);
	assert_int_equal(policy_upload_interval_ms(p), 30 * 60 * 1000);
	policy_free(p);
	/* off: idle_pause off loses to any pause; upload_interval off wins (the longest). */
	p = merged("[controls]\nidle_pause = off\n[upload]\nupload_interval = off\n",
	           "[controls]\nidle_pause = 1m\n[upload]\nupload_interval = 1m\n");
	assert_int_equal(policy_idle_pause_ms(p), 60 * 1000);
	assert_int_equal(policy_upload_interval_ms(p), 0);
	policy_free(p);
	/* Only the collector sets them: its values, even a shorter delay than the default. */
	p = merged("[allow]\napp = XTerm\n", "[upload]\nupload_delay = 10m\n"
	           "[controls]\nidle_pause = off\n");
	assert_int_equal(policy_upload_delay_ms(p), 10 * 60 * 1000);
	assert_int_equal(policy_idle_pause_ms(p), 0);
	policy_free(p);
}

static void test_merge_hotkey_notice_redaction(void **state)
{
	(void)state;
	const char *sym;
	uint32_t mods;
	size_t n;
	const char *const *rules;
	/* A hotkey rather than none; the local notice; the union of rules; the collector's key. */
	struct policy *p = merged("[controls]\npause_hotkey = off\n[consent]\nnotice = /l/notice\n"
	                          "[redaction]\nrules = /l/rules\npseudonym_key = /l/key\n",
	                          "[controls]\npause_hotkey = ctrl+alt+q\n[consent]\n"
	                          "notice = /c/notice\n[redaction]\nrules = /c/rules\n"
	                          "rules = /l/rules\npseudonym_key = /c/key\n");

	assert_int_equal(policy_pause_hotkey(p, &sym, &mods), 0);
	assert_string_equal(sym, "q");
	assert_string_equal(policy_notice_path(p), "/l/notice");
	rules = policy_redact_rules(p, &n);
	assert_int_equal(n, 2);
	assert_string_equal(rules[0], "/l/rules");
	assert_string_equal(rules[1], "/c/rules");
	assert_string_equal(policy_pseudonym_key(p, NULL), "/c/key");
	policy_free(p);
	/* Both set a hotkey: the local one. Only the collector names a notice: its own. */
	p = merged("[controls]\npause_hotkey = ctrl+alt+p\n",
	           "[controls]\npause_hotkey = ctrl+alt+q\n[consent]\nnotice = /c/notice\n");
	assert_int_equal(policy_pause_hotkey(p, &sym, &mods), 0);
	assert_string_equal(sym, "p");
	assert_string_equal(policy_notice_path(p), "/c/notice");
	policy_free(p);
}

static void test_merge_sources_and_json(void **state)
{
	(void)state;
	struct policy *p = merged("[allow]\napp = XTerm\n", "[allow]\napp = Gedit\n");
	char *j = policy_to_json(p);

	assert_string_equal(policy_sources(p), "t.conf, collector policy serial 3");
	assert_non_null(strstr(j, "\"also_allow\":{\"app\":[\"Gedit\"]"));
	free(j);
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_deny),
		cmocka_unit_test(test_long_title_pattern),
		cmocka_unit_test(test_allow_app),
		cmocka_unit_test(test_allow_exe),
		cmocka_unit_test(test_allow_site),
		cmocka_unit_test(test_deny_app_and_exe),
		cmocka_unit_test(test_deny_site),
		cmocka_unit_test(test_deny_title),
		cmocka_unit_test(test_builtin_exclusions),
		cmocka_unit_test(test_browsers),
		cmocka_unit_test(test_capture),
		cmocka_unit_test(test_consent_notice),
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_user_file),
		cmocka_unit_test(test_load_files),
		cmocka_unit_test(test_url_from_title),
		cmocka_unit_test(test_password_prompt),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_upload),
		cmocka_unit_test(test_merge_allow_intersection),
		cmocka_unit_test(test_merge_allow_one_side),
		cmocka_unit_test(test_merge_deny_union),
		cmocka_unit_test(test_merge_browsers_and_key_text_apps_union),
		cmocka_unit_test(test_merge_capture_switches),
		cmocka_unit_test(test_merge_durations),
		cmocka_unit_test(test_merge_hotkey_notice_redaction),
		cmocka_unit_test(test_merge_sources_and_json),
	};
	return testenv_run(tests, NULL, NULL);
}
