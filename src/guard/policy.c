/*
 * policy: reads the organisation's and the person's policy files with inih,
 * checks every value, and decides whether a window is in scope (see policy.h
 * and docs/POLICY.md).
 *
 * Lists (allowed apps, denied titles, ...) are given by repeating a key. As the
 * settings file, a policy file is read by inifile, which counts lines (inih as
 * Debian builds it does not pass line numbers to the handler) and refuses lines
 * longer than inih's buffer instead of cutting them into two.
 */
#include "policy.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <inttypes.h>
#include <fnmatch.h>
#include <jansson.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <xkbcommon/xkbcommon.h>

#include "fleet_device.h"
#include "inifile.h"
#include "paths.h"
#include "testbreak.h"
#include "util.h"

struct list {
	size_t n;
	char **v;
};

struct rx_list {
	size_t n;
	char **src;
	pcre2_code **code;
};

struct policy {
	struct list allow_app, allow_exe, allow_site;
	/*
	 * After policy_merge_stricter, the other side's allowlists when both sides
	 * listed some: a window must then be on both (the intersection).
	 */
	struct list also_app, also_exe, also_site;
	bool also_apps, also_sites;
	struct list deny_app, deny_exe, deny_site;
	struct rx_list deny_title;
	struct list browsers;
	struct list no_text_app;
	bool screenshots;
	bool key_text;
	bool url_query;            /* [capture] url_query: exports keep URLs' query strings */
	char *notice;
	bool hotkey_on;
	char hotkey_sym[64];
	uint32_t hotkey_mods;
	int64_t idle_ms;
	int64_t upload_delay_ms;   /* [upload] upload_delay */
	int64_t spool_max;         /* [upload] spool_max, bytes */
	int64_t upload_interval_ms; /* [upload] upload_interval, 0: off */
	struct list redact_rules;  /* [redaction] rules: files of added redaction rules */
	char *pseudonym_key;       /* [redaction] pseudonym_key, or NULL */
	char *pseudonym_key_where; /* "FILE:LINE" of pseudonym_key, for messages */
	char sources[8192];
	pcre2_code *private_rx;   /* built-in: private and incognito windows */
	pcre2_code *prompt_rx;    /* built-in: password prompts */
	bool set[32];             /* set[K_...]: a file read set this key (the merge's "one side") */
};

/*
 * Password managers, never recorded (matched against the WM_CLASS instance and
 * class and the executable's file name, ignoring case).
 */
static const char *const password_managers[] = {
	"keepassxc", "keepass", "keepass2", "keepassx", "1password", "bitwarden", "enpass",
	"lastpass", "dashlane", "nordpass", "keeper*", "roboform*", "seahorse", "kwalletmanager*",
	"kwallet*", "qtpass", "gopass*", "passwordsafe", "gnome-passwordsafe", "pwsafe",
	"org.gnome.World.Secrets", "secrets", "gnome-secrets", "proton-pass", "protonpass",
	"buttercup", "padloc", "passky",
};

/* Browsers by WM_CLASS instance or class (more may be added with [browsers] app). */
static const char *const default_browsers[] = {
	"firefox*", "navigator", "chromium*", "google-chrome*", "chrome", "brave-browser*",
	"microsoft-edge*", "vivaldi*", "opera*", "epiphany", "org.gnome.epiphany", "falkon",
	"qutebrowser", "librewolf*", "waterfox*", "midori", "konqueror", "tor browser",
	"torbrowser*", "seamonkey", "palemoon", "min", "nyxt",
};

/* Private and incognito windows: the marks browsers put in their titles. */
static const char private_pattern[] =
	"private browsing|incognito|inprivate|private window|\\(private\\)";

/* Prompts asking for a secret, in a title or a prompt line. */
static const char prompt_pattern[] =
	"pass(?:word|phrase|wd|code)|passwort|kennwort|mot de passe|contrase(?:n|\xc3\xb1)a|"
	"senha|wachtwoord|has(?:l|\xc5\x82)o|\\b(?:enter|your|the) pin\\b|\\bpin(?: code|:)|"
	"authentication required|unlock (?:keyring|login|vault|database)";

static void list_add(struct list *l, const char *s)
{
	l->v = util_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = util_xstrdup(s);
}

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static pcre2_code *rx_compile(const char *src, char *err, size_t errsize)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
	                               PCRE2_CASELESS | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
	                               &code, &off, NULL);

	if (re == NULL) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(err, errsize, "%s at offset %zu", (const char *)msg, (size_t)off);
		return NULL;
	}
	/* JIT is a speed-up only; without it the interpreter gives the same answers. */
	pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	return re;
}

static int rx_match(const pcre2_code *re, const char *s)
{
	pcre2_match_data *md;
	int rc;

	if (re == NULL || s == NULL)
		return 0;
	md = pcre2_match_data_create_from_pattern(re, NULL);
	if (md == NULL)
		return 0;
	rc = pcre2_match(re, (PCRE2_SPTR)s, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0;
}

struct policy *policy_new(void)
{
	struct policy *p = util_xcalloc(1, sizeof(*p));
	char err[256];

	p->screenshots = true;
	p->key_text = true;
	p->hotkey_on = true;
	util_strlcpy_utf8(p->hotkey_sym, "p", sizeof(p->hotkey_sym));
	p->hotkey_mods = POLICY_MOD_CTRL | POLICY_MOD_ALT | POLICY_MOD_SHIFT;
	p->idle_ms = 5 * 60 * 1000;
	p->upload_delay_ms = POLICY_UPLOAD_DELAY_MS;
	p->spool_max = POLICY_SPOOL_MAX;
	p->upload_interval_ms = POLICY_UPLOAD_INTERVAL_MS;
	for (size_t i = 0; i < sizeof(default_browsers) / sizeof(default_browsers[0]); i++)
		list_add(&p->browsers, default_browsers[i]);
	p->private_rx = rx_compile(private_pattern, err, sizeof(err));
	p->prompt_rx = rx_compile(prompt_pattern, err, sizeof(err));
	if (p->private_rx == NULL || p->prompt_rx == NULL)
		abort(); /* the built-in patterns are constants: this cannot fail */
	return p;
}

void policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	list_free(&p->allow_app);
	list_free(&p->allow_exe);
	list_free(&p->allow_site);
	list_free(&p->also_app);
	list_free(&p->also_exe);
	list_free(&p->also_site);
	list_free(&p->deny_app);
	list_free(&p->deny_exe);
	list_free(&p->deny_site);
	list_free(&p->browsers);
	list_free(&p->no_text_app);
	list_free(&p->redact_rules);
	free(p->pseudonym_key);
	free(p->pseudonym_key_where);
	for (size_t i = 0; i < p->deny_title.n; i++) {
		free(p->deny_title.src[i]);
		pcre2_code_free(p->deny_title.code[i]);
	}
	free(p->deny_title.src);
	free(p->deny_title.code);
	pcre2_code_free(p->private_rx);
	pcre2_code_free(p->prompt_rx);
	free(p->notice);
	free(p);
}

/* The keys, by section. Singletons may appear once per file; lists repeat. */
enum key {
	K_ALLOW_APP, K_ALLOW_EXE, K_ALLOW_SITE,
	K_DENY_APP, K_DENY_EXE, K_DENY_SITE, K_DENY_TITLE,
	K_BROWSER_APP,
	K_SCREENSHOTS, K_KEY_TEXT, K_NO_KEY_TEXT_APP, K_URL_QUERY,
	K_NOTICE,
	K_HOTKEY, K_IDLE,
	K_REDACT_RULES, K_PSEUDONYM_KEY,
	K_UPLOAD_DELAY, K_SPOOL_MAX, K_UPLOAD_INTERVAL,
	K_COUNT_
};
_Static_assert(K_COUNT_ <= 32, "struct policy's set[] holds a flag per key");

static const struct {
	const char *section;
	const char *name;
	bool list;
	bool user_ok;   /* the person's file may set it (it only narrows) */
} keys[K_COUNT_] = {
	[K_ALLOW_APP] = {"allow", "app", true, false},
	[K_ALLOW_EXE] = {"allow", "exe", true, false},
	[K_ALLOW_SITE] = {"allow", "site", true, false},
	[K_DENY_APP] = {"deny", "app", true, true},
	[K_DENY_EXE] = {"deny", "exe", true, true},
	[K_DENY_SITE] = {"deny", "site", true, true},
	[K_DENY_TITLE] = {"deny", "title", true, true},
	[K_BROWSER_APP] = {"browsers", "app", true, true},
	[K_SCREENSHOTS] = {"capture", "screenshots", false, true},
	[K_KEY_TEXT] = {"capture", "keystroke_text", false, true},
	[K_NO_KEY_TEXT_APP] = {"capture", "no_keystroke_text", true, true},
	[K_URL_QUERY] = {"capture", "url_query", false, true},
	[K_NOTICE] = {"consent", "notice", false, false},
	[K_HOTKEY] = {"controls", "pause_hotkey", false, false},
	[K_IDLE] = {"controls", "idle_pause", false, false},
	[K_REDACT_RULES] = {"redaction", "rules", true, false},
	[K_PSEUDONYM_KEY] = {"redaction", "pseudonym_key", false, false},
	[K_UPLOAD_DELAY] = {"upload", "upload_delay", false, true},
	[K_SPOOL_MAX] = {"upload", "spool_max", false, false},
	[K_UPLOAD_INTERVAL] = {"upload", "upload_interval", false, false},
};

static const char *const sections[] = {"allow", "deny", "browsers", "capture", "consent",
                                       "controls", "redaction", "upload"};

struct parse {
	struct policy *p;
	const char *name;
	struct inifile ini;    /* the reader: its line, the first error */
	int user;
	int key_line[K_COUNT_];
};

static void set_err(struct parse *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(struct parse *ps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	inifile_vfail(&ps->ini, ps->ini.line, fmt, ap);
	va_end(ap);
}

/* "ctrl+alt+shift+p": modifiers, then one key that xkbcommon knows by name. */
static int parse_hotkey(const char *v, char *sym, size_t symsize, uint32_t *mods)
{
	char buf[128];
	char *save = NULL, *tok;
	int have_key = 0;

	if (strlen(v) >= sizeof(buf))
		return -EINVAL;
	util_strlcpy_utf8(buf, v, sizeof(buf));
	*mods = 0;
	for (tok = strtok_r(buf, "+", &save); tok != NULL; tok = strtok_r(NULL, "+", &save)) {
		if (have_key)
			return -EINVAL; /* the key comes last */
		if (strcasecmp(tok, "ctrl") == 0 || strcasecmp(tok, "control") == 0)
			*mods |= POLICY_MOD_CTRL;
		else if (strcasecmp(tok, "alt") == 0 || strcasecmp(tok, "mod1") == 0)
			*mods |= POLICY_MOD_ALT;
		else if (strcasecmp(tok, "shift") == 0)
			*mods |= POLICY_MOD_SHIFT;
		else if (strcasecmp(tok, "super") == 0 || strcasecmp(tok, "mod4") == 0)
			*mods |= POLICY_MOD_SUPER;
		else {
			if (xkb_keysym_from_name(tok, XKB_KEYSYM_NO_FLAGS) == XKB_KEY_NoSymbol ||
			    strlen(tok) >= symsize)
				return -EINVAL;
			util_strlcpy_utf8(sym, tok, symsize);
			have_key = 1;
		}
	}
	/* A hotkey without a modifier would swallow a key people type. */
	if (!have_key || *mods == 0)
		return -EINVAL;
	return 0;
}

static int add_to(struct parse *ps, struct list *l, const char *name, const char *value)
{
	if (value[0] == '\0') {
		set_err(ps, "%s: empty pattern", name);
		return 0;
	}
	if (l->n >= POLICY_LIST_MAX) {
		set_err(ps, "%s: more than %d patterns", name, POLICY_LIST_MAX);
		return 0;
	}
	list_add(l, value);
	return 1;
}

/* The key name in section names, or -1 (the error set) when there is none the file may set. */
static int find_key(struct parse *ps, const char *section, const char *name)
{
	size_t s;
	int k;

	if (section[0] == '\0') {
		set_err(ps, "'%s' is outside a section; put it under [allow], [deny], [browsers], "
		        "[capture], [consent], [controls] or [redaction]", name);
		return -1;
	}
	for (s = 0; s < sizeof(sections) / sizeof(sections[0]); s++)
		if (strcmp(section, sections[s]) == 0)
			break;
	if (s == sizeof(sections) / sizeof(sections[0])) {
		set_err(ps, "unknown section [%s] (see docs/POLICY.md)", section);
		return -1;
	}
	for (k = 0; k < K_COUNT_; k++)
		if (strcmp(section, keys[k].section) == 0 && strcmp(name, keys[k].name) == 0)
			break;
	if (k == K_COUNT_) {
		set_err(ps, "unknown key '%s' in [%s] (see docs/POLICY.md)", name, section);
		return -1;
	}
	if (ps->user && !keys[k].user_ok) {
		set_err(ps, "[%s] %s: the personal policy may only add exclusions "
		        "([deny], [browsers], [capture], a longer [upload] upload_delay)", section, name);
		return -1;
	}
	return k;
}

/* [deny] title: a regular expression. */
static int add_title(struct parse *ps, const char *value)
{
	struct policy *p = ps->p;
	char err[256];
	pcre2_code *re;

	if (value[0] == '\0') {
		set_err(ps, "title: empty regular expression");
		return 0;
	}
	if (p->deny_title.n >= POLICY_LIST_MAX) {
		set_err(ps, "title: more than %d patterns", POLICY_LIST_MAX);
		return 0;
	}
	re = rx_compile(value, err, sizeof(err));
	if (re == NULL) {
		set_err(ps, "title: '%s' is not a regular expression: %s", value, err);
		return 0;
	}
	p->deny_title.src = util_xrealloc(p->deny_title.src,
	                                  (p->deny_title.n + 1) * sizeof(char *));
	p->deny_title.code = util_xrealloc(p->deny_title.code,
	                                   (p->deny_title.n + 1) * sizeof(pcre2_code *));
	p->deny_title.src[p->deny_title.n] = util_xstrdup(value);
	p->deny_title.code[p->deny_title.n++] = re;
	return 1;
}

/*
 * [capture] screenshots, keystroke_text and url_query: the person's file may
 * only switch them off.
 */
static int set_capture(struct parse *ps, int k, const char *name, const char *value)
{
	struct policy *p = ps->p;
	bool b;

	if (util_parse_bool(value, &b) != 0) {
		set_err(ps, "%s: '%s' is not true or false", name, value);
		return 0;
	}
	if (ps->user && b) {
		set_err(ps, "%s: the personal policy may only switch capture off", name);
		return 0;
	}
	if (k == K_SCREENSHOTS)
		p->screenshots = p->screenshots && b;
	else if (k == K_KEY_TEXT)
		p->key_text = p->key_text && b;
	else
		p->url_query = b; /* off by default: the system file switches it on, the person's off */
	return 1;
}

/* [controls] idle_pause: a duration from 10s to 24h, or off. */
static int set_idle(struct parse *ps, const char *value)
{
	int64_t ns;

	if (strcasecmp(value, "off") == 0) {
		ps->p->idle_ms = 0;
		return 1;
	}
	if (util_parse_duration(value, &ns) != 0 || ns > INT64_C(86400) * 1000000000 ||
	    (ns != 0 && ns < INT64_C(10) * 1000000000)) {
		set_err(ps, "idle_pause: '%s' is not a duration from 10s to 24h "
		        "(e.g. 5m), or off", value);
		return 0;
	}
	ps->p->idle_ms = ns / 1000000;
	return 1;
}

/*
 * [upload] upload_delay: a duration from 0 to 30 days. The person's file may only
 * lengthen it (a longer delay leaves more time for `mimic forget`).
 */
static int set_upload_delay(struct parse *ps, const char *value)
{
	int64_t ns;

	if (util_parse_duration(value, &ns) != 0 || ns < 0 || ns > INT64_C(30) * 86400 * 1000000000) {
		set_err(ps, "upload_delay: '%s' is not a duration from 0s to 30d (e.g. 1h)", value);
		return 0;
	}
	if (!ps->user || ns / 1000000 > ps->p->upload_delay_ms)
		ps->p->upload_delay_ms = ns / 1000000;
	return 1;
}

/* [upload] spool_max: a size from 1M to 1T, the most bundles waiting may take. */
static int set_spool_max(struct parse *ps, const char *value)
{
	int64_t b;

	if (util_parse_size(value, &b) != 0 || b < 1024 * 1024 || b > (INT64_C(1) << 40)) {
		set_err(ps, "spool_max: '%s' is not a size from 1M to 1T (e.g. 2G)", value);
		return 0;
	}
	ps->p->spool_max = b;
	return 1;
}

/* [upload] upload_interval: a duration from 1s to 24h, or off. */
static int set_upload_interval(struct parse *ps, const char *value)
{
	int64_t ns;

	if (strcasecmp(value, "off") == 0) {
		ps->p->upload_interval_ms = 0;
		return 1;
	}
	if (util_parse_duration(value, &ns) != 0 || ns < INT64_C(1000000000) ||
	    ns > INT64_C(86400) * 1000000000) {
		set_err(ps, "upload_interval: '%s' is not a duration from 1s to 24h (e.g. 15m), "
		        "or off", value);
		return 0;
	}
	ps->p->upload_interval_ms = ns / 1000000;
	return 1;
}

/*
 * [redaction] rules. Only the path is checked here: the recorder reads this file
 * too, and the rules are the export's business (redact_open_files reports a rules
 * file's own errors as RULES_FILE:LINE when it is used).
 */
static int add_rules(struct parse *ps, const char *value)
{
	struct policy *p = ps->p;

	if (value[0] != '/') {
		set_err(ps, "rules: '%s' is not an absolute path", value);
		return 0;
	}
	for (size_t i = 0; i < p->redact_rules.n; i++) {
		if (strcmp(p->redact_rules.v[i], value) == 0) {
			set_err(ps, "rules: '%s' is listed twice", value);
			return 0;
		}
	}
	if (p->redact_rules.n >= POLICY_RULES_MAX) {
		set_err(ps, "rules: more than %d files", POLICY_RULES_MAX);
		return 0;
	}
	list_add(&p->redact_rules, value);
	return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *ps = user;
	struct policy *p = ps->p;
	int k = find_key(ps, section, name);

	if (k < 0)
		return 0;
	if (!keys[k].list && ps->key_line[k] != 0) {
		set_err(ps, "'%s' is already set on line %d", name, ps->key_line[k]);
		return 0;
	}
	ps->key_line[k] = ps->ini.line;
	p->set[k] = true;
	switch (k) {
	case K_ALLOW_APP: return add_to(ps, &p->allow_app, name, value);
	case K_ALLOW_EXE:
	case K_DENY_EXE:
		if (value[0] != '/' && value[0] != '*') {
			set_err(ps, "%s: '%s' is not an absolute path (or a glob starting with *)",
			        name, value);
			return 0;
		}
		return add_to(ps, k == K_ALLOW_EXE ? &p->allow_exe : &p->deny_exe, name, value);
	case K_ALLOW_SITE: return add_to(ps, &p->allow_site, name, value);
	case K_DENY_APP: return add_to(ps, &p->deny_app, name, value);
	case K_DENY_SITE: return add_to(ps, &p->deny_site, name, value);
	case K_BROWSER_APP:
		if (testbreak("browsers-ignored"))
			return 1;
		return add_to(ps, &p->browsers, name, value);
	case K_NO_KEY_TEXT_APP: return add_to(ps, &p->no_text_app, name, value);
	case K_DENY_TITLE: return add_title(ps, value);
	case K_SCREENSHOTS:
	case K_KEY_TEXT:
	case K_URL_QUERY: return set_capture(ps, k, name, value);
	case K_NOTICE:
		if (value[0] != '/') {
			set_err(ps, "notice: '%s' is not an absolute path", value);
			return 0;
		}
		free(p->notice);
		p->notice = util_xstrdup(value);
		return 1;
	case K_HOTKEY:
		if (testbreak("custom-hotkey-ignored"))
			return 1;
		if (strcasecmp(value, "off") == 0 || strcasecmp(value, "none") == 0) {
			p->hotkey_on = false;
			return 1;
		}
		if (parse_hotkey(value, p->hotkey_sym, sizeof(p->hotkey_sym), &p->hotkey_mods) != 0) {
			set_err(ps, "pause_hotkey: '%s' is not modifiers and a key such as "
			        "ctrl+alt+shift+p (or off)", value);
			return 0;
		}
		p->hotkey_on = true;
		return 1;
	case K_IDLE: return set_idle(ps, value);
	case K_UPLOAD_DELAY: return set_upload_delay(ps, value);
	case K_SPOOL_MAX: return set_spool_max(ps, value);
	case K_UPLOAD_INTERVAL: return set_upload_interval(ps, value);
	case K_REDACT_RULES: return add_rules(ps, value);
	case K_PSEUDONYM_KEY:
		if (value[0] != '/') {
			set_err(ps, "pseudonym_key: '%s' is not an absolute path", value);
			return 0;
		}
		free(p->pseudonym_key);
		free(p->pseudonym_key_where);
		p->pseudonym_key = util_xstrdup(value);
		p->pseudonym_key_where = util_xasprintf("%s:%d", ps->name, ps->ini.line);
		return 1;
	default:
		break;
	}
	set_err(ps, "internal error: key '%s' has no parser", name);
	return 0;
}

static void add_source(struct policy *p, const char *name)
{
	size_t len = strlen(p->sources);

	if (len > 0 && len + 2 < sizeof(p->sources)) {
		memcpy(p->sources + len, ", ", 3);
		len += 2;
	}
	util_strlcpy_utf8(p->sources + len, name, sizeof(p->sources) - len);
}

int policy_load_stream(struct policy *p, FILE *f, const char *name, int user, char **cause)
{
	struct parse ps;
	int rc, err;

	memset(&ps, 0, sizeof(ps));
	ps.p = p;
	ps.name = name;
	ps.user = user;
	inifile_init(&ps.ini, f, POLICY_MAX_BYTES, " (or holding a NUL byte)");
	rc = inifile_parse(&ps.ini, handler, &ps);
	/* inih reports its first syntax error only at the end; it may come before ours. */
	if (rc > 0 && (ps.ini.err == NULL || rc < ps.ini.err_line)) {
		free(ps.ini.err);
		ps.ini.err = NULL;
		ps.ini.line = rc;
		set_err(&ps, "not a 'key = value' line, a [section] or a comment");
	}
	if (ps.ini.err == NULL && rc < 0)
		set_err(&ps, "out of memory");
	err = inifile_cause(&ps.ini, name, cause);
	if (err != 0)
		return err;
	add_source(p, name);
	return 0;
}

int policy_load_file(struct policy *p, const char *path, int user, char **cause)
{
	FILE *f;
	int rc;

	rc = inifile_open(path, "policy", POLICY_MAX_BYTES, &f, cause);
	if (rc != 0)
		return rc;
	rc = policy_load_stream(p, f, path, user, cause);
	fclose(f);
	return rc;
}

int policy_user_path(char **out)
{
	return paths_config_file("policy.conf", out);
}

int policy_load(const char *system_path, struct policy **out, char **cause)
{
	struct policy *p = policy_new();
	char *user = NULL;
	struct stat sb;
	int rc = 0;

	*out = NULL;
	if (system_path != NULL)
		rc = policy_load_file(p, system_path, 0, cause);
	else if (stat(POLICY_SYSTEM_PATH, &sb) == 0)
		rc = policy_load_file(p, POLICY_SYSTEM_PATH, 0, cause);
	if (rc != 0)
		goto fail;
	/* The person's file, when there is one, can only narrow what is recorded. */
	if (policy_user_path(&user) == 0 && stat(user, &sb) == 0) {
		rc = policy_load_file(p, user, 1, cause);
		if (rc != 0)
			goto fail;
	}
	free(user);
	*out = p;
	return 0;
fail:
	free(user);
	policy_free(p);
	return rc;
}

static int glob_any(const struct list *l, const char *s, int flags)
{
	if (s == NULL || s[0] == '\0')
		return 0;
	for (size_t i = 0; i < l->n; i++)
		if (fnmatch(l->v[i], s, flags) == 0)
			return 1;
	return 0;
}

static int app_matches(const struct list *l, const char *inst, const char *cls)
{
	return glob_any(l, inst, FNM_CASEFOLD) || glob_any(l, cls, FNM_CASEFOLD);
}

static int is_password_manager(const char *inst, const char *cls, const char *exe)
{
	const char *base = NULL;

	if (exe != NULL && exe[0] != '\0') {
		base = strrchr(exe, '/');
		base = base != NULL ? base + 1 : exe;
	}
	for (size_t i = 0; i < sizeof(password_managers) / sizeof(password_managers[0]); i++) {
		const char *g = password_managers[i];
		if ((inst != NULL && fnmatch(g, inst, FNM_CASEFOLD) == 0) ||
		    (cls != NULL && fnmatch(g, cls, FNM_CASEFOLD) == 0) ||
		    (base != NULL && fnmatch(g, base, FNM_CASEFOLD) == 0))
			return 1;
	}
	return 0;
}

int policy_is_browser(const struct policy *p, const char *wm_instance, const char *wm_class)
{
	return app_matches(&p->browsers, wm_instance, wm_class);
}

enum policy_verdict policy_check(const struct policy *p, const struct policy_window *w)
{
	const char *inst = w->wm_instance ? w->wm_instance : "";
	const char *cls = w->wm_class ? w->wm_class : "";
	const char *exe = w->exe ? w->exe : "";
	const char *title = w->title ? w->title : "";
	char url[1024];

	if (inst[0] == '\0' && cls[0] == '\0' && exe[0] == '\0')
		return POLICY_OUT_NO_WINDOW;
	/* Exclusions first: nothing on an allowlist can override them. */
	if (is_password_manager(inst, cls, exe) && !testbreak("password-manager-allowed"))
		return POLICY_OUT_PASSWORD_MANAGER;
	if ((app_matches(&p->deny_app, inst, cls) || glob_any(&p->deny_exe, exe, 0)) &&
	    !testbreak("deny-app-ignored"))
		return POLICY_OUT_DENIED_APP;
	if (rx_match(p->private_rx, title) && !testbreak("private-window-allowed"))
		return POLICY_OUT_PRIVATE;
	for (size_t i = 0; i < p->deny_title.n; i++)
		if (rx_match(p->deny_title.code[i], title) && !testbreak("deny-title-ignored"))
			return POLICY_OUT_PRIVATE;
	if (policy_is_browser(p, inst, cls)) {
		/* A browser is judged by the site it shows; no URL, no recording. */
		if (w->url != NULL && w->url[0] != '\0')
			util_strlcpy_utf8(url, w->url, sizeof(url));
		else if (!policy_url_from_title(title, url, sizeof(url)))
			return POLICY_OUT_URL_UNKNOWN;
		if (glob_any(&p->deny_site, url, FNM_CASEFOLD) && !testbreak("deny-site-ignored"))
			return POLICY_OUT_DENIED_SITE;
		if (glob_any(&p->allow_site, url, FNM_CASEFOLD) &&
		    (!p->also_sites || glob_any(&p->also_site, url, FNM_CASEFOLD) ||
		     testbreak("merged-allow-widened")))
			return POLICY_IN;
		return POLICY_OUT_SITE_NOT_ALLOWED;
	}
	if ((app_matches(&p->allow_app, inst, cls) || glob_any(&p->allow_exe, exe, 0)) &&
	    (!p->also_apps || app_matches(&p->also_app, inst, cls) ||
	     glob_any(&p->also_exe, exe, 0) || testbreak("merged-allow-widened")))
		return POLICY_IN;
	return POLICY_OUT_NOT_ALLOWED;
}

const char *policy_verdict_name(int verdict)
{
	switch (verdict) {
	case POLICY_IN: return "in";
	case POLICY_OUT_NO_WINDOW: return "no-window";
	case POLICY_OUT_NOT_ALLOWED: return "not-allowed";
	case POLICY_OUT_DENIED_APP: return "denied-app";
	case POLICY_OUT_PASSWORD_MANAGER: return "password-manager";
	case POLICY_OUT_PRIVATE: return "private";
	case POLICY_OUT_URL_UNKNOWN: return "url-unknown";
	case POLICY_OUT_DENIED_SITE: return "denied-site";
	case POLICY_OUT_SITE_NOT_ALLOWED: return "site-not-allowed";
	default: return "unknown";
	}
}

static int is_scheme_url(const char *t, size_t n)
{
	size_t i = 0;

	if (n == 0 || !((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z')))
		return 0;
	while (i < n && ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
	                 (t[i] >= '0' && t[i] <= '9') || t[i] == '+' || t[i] == '.' ||
	                 t[i] == '-'))
		i++;
	return i + 3 < n && t[i] == ':' && t[i + 1] == '/' && t[i + 2] == '/';
}

/* host.name[:port][/path], with at least one dot and a last label of letters. */
static int is_host_url(const char *t, size_t n)
{
	size_t i = 0, label = 0, dots = 0, last_alpha = 0;

	for (; i < n && t[i] != '/' && t[i] != ':'; i++) {
		char c = t[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			dots++;
			label = 0;
			last_alpha = 1;
			continue;
		}
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			label++;
		} else if ((c >= '0' && c <= '9') || c == '-') {
			label++;
			last_alpha = 0;
		} else {
			return 0;
		}
	}
	if (i < n && t[i] == ':') {
		size_t d = 0;
		for (i++; i < n && t[i] >= '0' && t[i] <= '9'; i++)
			d++;
		if (d == 0 || (i < n && t[i] != '/'))
			return 0;
	}
	return dots > 0 && label >= 2 && last_alpha;
}

int policy_url_from_title(const char *title, char *out, size_t size)
{
	const char *s = title;

	if (title == NULL || size == 0)
		return 0;
	while (*s != '\0') {
		const char *start;
		size_t n;

		while (*s == ' ' || *s == '\t' || *s == '(' || *s == '[' || *s == '<' || *s == '"')
			s++;
		start = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		n = (size_t)(s - start);
		/* Trailing punctuation belongs to the sentence, not to the URL. */
		while (n > 0 && strchr(")]>\",;", start[n - 1]) != NULL)
			n--;
		if (n == 0)
			continue;
		if (is_scheme_url(start, n)) {
			if (n >= size)
				n = size - 1;
			memcpy(out, start, n);
			out[n] = '\0';
			return 1;
		}
		if (is_host_url(start, n)) {
			snprintf(out, size, "https://%.*s", (int)n, start);
			return 1;
		}
	}
	return 0;
}

int policy_looks_like_password_prompt(const char *text)
{
	static pcre2_code *re;
	static int tried;
	char err[256];

	/* Compiled once; the input thread is the only caller outside tests. */
	if (!tried) {
		tried = 1;
		re = rx_compile(prompt_pattern, err, sizeof(err));
	}
	return text != NULL && rx_match(re, text);
}

bool policy_screenshots(const struct policy *p)
{
	return p->screenshots;
}

bool policy_key_text(const struct policy *p, const char *wm_instance, const char *wm_class)
{
	return (p->key_text || testbreak("keystroke-text-kept")) &&
	       !app_matches(&p->no_text_app, wm_instance, wm_class);
}

bool policy_url_query(const struct policy *p)
{
	return p->url_query;
}

const char *policy_notice_path(const struct policy *p)
{
	return p->notice;
}

int policy_pause_hotkey(const struct policy *p, const char **keysym, uint32_t *mods)
{
	if (!p->hotkey_on)
		return -ENOENT;
	*keysym = p->hotkey_sym;
	*mods = p->hotkey_mods;
	return 0;
}

int64_t policy_idle_pause_ms(const struct policy *p)
{
	return p->idle_ms;
}

int64_t policy_upload_delay_ms(const struct policy *p)
{
	return p->upload_delay_ms;
}

int64_t policy_spool_max(const struct policy *p)
{
	return p->spool_max;
}

int64_t policy_upload_interval_ms(const struct policy *p)
{
	return p->upload_interval_ms;
}

const char *policy_sources(const struct policy *p)
{
	return p->sources;
}

const char *const *policy_redact_rules(const struct policy *p, size_t *n)
{
	*n = p->redact_rules.n;
	return (const char *const *)p->redact_rules.v;
}

const char *policy_pseudonym_key(const struct policy *p, const char **where)
{
	if (where != NULL)
		*where = p->pseudonym_key_where;
	return p->pseudonym_key;
}

static json_t *list_json(const struct list *l)
{
	json_t *a = json_array();

	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

char *policy_to_json(const struct policy *p)
{
	json_t *o = json_object(), *titles = json_array();
	char *s;

	for (size_t i = 0; i < p->deny_title.n; i++)
		json_array_append_new(titles, json_string(p->deny_title.src[i]));
	json_object_set_new(o, "sources", json_string(p->sources));
	json_object_set_new(o, "allow", json_pack("{s:o,s:o,s:o}", "app", list_json(&p->allow_app),
	                    "exe", list_json(&p->allow_exe), "site", list_json(&p->allow_site)));
	if (p->also_apps || p->also_sites)
		json_object_set_new(o, "also_allow", json_pack("{s:o,s:o,s:o}", "app",
		                    list_json(&p->also_app), "exe", list_json(&p->also_exe), "site",
		                    list_json(&p->also_site)));
	json_object_set_new(o, "deny", json_pack("{s:o,s:o,s:o,s:o}", "app",
	                    list_json(&p->deny_app), "exe", list_json(&p->deny_exe), "site",
	                    list_json(&p->deny_site), "title", titles));
	json_object_set_new(o, "browsers", list_json(&p->browsers));
	json_object_set_new(o, "capture", json_pack("{s:b,s:b,s:o,s:b}", "screenshots",
	                    (int)p->screenshots, "keystroke_text", (int)p->key_text,
	                    "no_keystroke_text", list_json(&p->no_text_app), "url_query",
	                    (int)p->url_query));
	json_object_set_new(o, "notice", p->notice ? json_string(p->notice) : json_null());
	json_object_set_new(o, "idle_pause_ms", json_integer((json_int_t)p->idle_ms));
	json_object_set_new(o, "upload", json_pack("{s:I,s:I,s:I}", "upload_delay_ms",
	                    (json_int_t)p->upload_delay_ms, "spool_max", (json_int_t)p->spool_max,
	                    "upload_interval_ms", (json_int_t)p->upload_interval_ms));
	json_object_set_new(o, "redaction", json_pack("{s:o,s:o}", "rules",
	                    list_json(&p->redact_rules), "pseudonym_key",
	                    p->pseudonym_key ? json_string(p->pseudonym_key) : json_null()));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s != NULL ? s : util_xstrdup("{}");
}

/* ---- the stricter of two policies (policy.h, docs/POLICY.md "Merging") -------- */

static int list_has(const struct list *l, const char *v)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], v) == 0)
			return 1;
	return 0;
}

/* The union: o's patterns that p lacks are added. */
static void list_union(struct list *p, const struct list *o)
{
	for (size_t i = 0; i < o->n; i++)
		if (!list_has(p, o->v[i]))
			list_add(p, o->v[i]);
}

static void list_copy(struct list *p, const struct list *o)
{
	list_free(p);
	for (size_t i = 0; i < o->n; i++)
		list_add(p, o->v[i]);
}

/*
 * The allowlists of one kind (applications: app and exe together; sites): when
 * only o lists some, o's; when both do, a window must be on both.
 */
static void allow_merge(struct list *pa, struct list *pb, struct list *also_a,
                        struct list *also_b, bool *also, const struct list *oa,
                        const struct list *ob)
{
	static const struct list none;

	if (ob == NULL)
		ob = &none;
	if (oa->n + ob->n == 0)
		return;
	if (pa->n + (pb != NULL ? pb->n : 0) == 0) {
		list_copy(pa, oa);
		if (pb != NULL)
			list_copy(pb, ob);
		return;
	}
	list_copy(also_a, oa);
	if (also_b != NULL)
		list_copy(also_b, ob);
	*also = true;
}

/* A duration where 0 means "never": the later one is the longer, never the longest. */
static int64_t longer_or_off(int64_t a, int64_t b)
{
	if (a == 0 || b == 0)
		return 0;
	return a > b ? a : b;
}

/* A duration where 0 means "off": the sooner one, off only when both are off. */
static int64_t sooner_or_off(int64_t a, int64_t b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return a < b ? a : b;
}

void policy_merge_stricter(struct policy *p, const struct policy *o, const char *label)
{
	char err[256];

	/* What may be recorded: the intersection of the allowlists, the union of the rest. */
	if (p->also_apps || p->also_sites || o->also_apps || o->also_sites)
		abort(); /* merged once, from two policies read from files: a caller's mistake */
	allow_merge(&p->allow_app, &p->allow_exe, &p->also_app, &p->also_exe, &p->also_apps,
	            &o->allow_app, &o->allow_exe);
	allow_merge(&p->allow_site, NULL, &p->also_site, NULL, &p->also_sites, &o->allow_site,
	            NULL);
	list_union(&p->deny_app, &o->deny_app);
	list_union(&p->deny_exe, &o->deny_exe);
	list_union(&p->deny_site, &o->deny_site);
	list_union(&p->browsers, &o->browsers);
	list_union(&p->no_text_app, &o->no_text_app);
	for (size_t i = 0; i < o->deny_title.n; i++) {
		size_t j;
		pcre2_code *re;

		for (j = 0; j < p->deny_title.n; j++)
			if (strcmp(p->deny_title.src[j], o->deny_title.src[i]) == 0)
				break;
		if (j < p->deny_title.n)
			continue;
		re = rx_compile(o->deny_title.src[i], err, sizeof err);
		if (re == NULL)
			abort(); /* it compiled when o was read */
		p->deny_title.src = util_xrealloc(p->deny_title.src,
		                                  (p->deny_title.n + 1) * sizeof(char *));
		p->deny_title.code = util_xrealloc(p->deny_title.code,
		                                   (p->deny_title.n + 1) * sizeof(pcre2_code *));
		p->deny_title.src[p->deny_title.n] = util_xstrdup(o->deny_title.src[i]);
		p->deny_title.code[p->deny_title.n++] = re;
	}
	list_union(&p->redact_rules, &o->redact_rules);

	/* Settings: the one side's value when only it sets one, else the stricter of both. */
#define ONLY_O(k) (o->set[k] && !p->set[k])
#define BOTH(k) (o->set[k] && p->set[k])
	if (ONLY_O(K_SCREENSHOTS) || BOTH(K_SCREENSHOTS))
		p->screenshots = ONLY_O(K_SCREENSHOTS) ? o->screenshots : p->screenshots && o->screenshots;
	if (ONLY_O(K_KEY_TEXT) || BOTH(K_KEY_TEXT))
		p->key_text = ONLY_O(K_KEY_TEXT) ? o->key_text : p->key_text && o->key_text;
	if (ONLY_O(K_URL_QUERY) || BOTH(K_URL_QUERY))
		p->url_query = ONLY_O(K_URL_QUERY) ? o->url_query : p->url_query && o->url_query;
	if (ONLY_O(K_NOTICE)) {
		free(p->notice);
		p->notice = util_xstrdup(o->notice);
	}
	/* A pause hotkey is stricter than none; of two, the person's own file's. */
	if (ONLY_O(K_HOTKEY) || (BOTH(K_HOTKEY) && !p->hotkey_on && o->hotkey_on)) {
		p->hotkey_on = o->hotkey_on;
		memcpy(p->hotkey_sym, o->hotkey_sym, sizeof p->hotkey_sym);
		p->hotkey_mods = o->hotkey_mods;
	}
	if (ONLY_O(K_IDLE))
		p->idle_ms = o->idle_ms;
	else if (BOTH(K_IDLE))
		p->idle_ms = sooner_or_off(p->idle_ms, o->idle_ms);
	if (ONLY_O(K_UPLOAD_DELAY) || (BOTH(K_UPLOAD_DELAY) && o->upload_delay_ms > p->upload_delay_ms))
		p->upload_delay_ms = o->upload_delay_ms;
	if (ONLY_O(K_SPOOL_MAX) || (BOTH(K_SPOOL_MAX) && o->spool_max < p->spool_max))
		p->spool_max = o->spool_max;
	if (ONLY_O(K_UPLOAD_INTERVAL))
		p->upload_interval_ms = o->upload_interval_ms;
	else if (BOTH(K_UPLOAD_INTERVAL))
		p->upload_interval_ms = longer_or_off(p->upload_interval_ms, o->upload_interval_ms);
	/* The organisation's pseudonym key: pseudonyms must match across its machines. */
	if (o->set[K_PSEUDONYM_KEY]) {
		free(p->pseudonym_key);
		free(p->pseudonym_key_where);
		p->pseudonym_key = util_xstrdup(o->pseudonym_key);
		p->pseudonym_key_where = util_xstrdup(o->pseudonym_key_where);
	}
#undef ONLY_O
#undef BOTH
	for (int k = 0; k < K_COUNT_; k++)
		p->set[k] = p->set[k] || o->set[k];
	add_source(p, label);
}

int policy_load_effective(const char *system_path, const char *data_dir, struct policy **out,
                          uint64_t *collector_serial, char **cause)
{
	struct fleet_enrolment e;
	struct policy *p = NULL, *c = NULL;
	char *dir = NULL, *body = NULL, *why = NULL, *label = NULL;
	uint64_t serial = 0;
	FILE *f = NULL;
	int rc;

	*out = NULL;
	if (collector_serial != NULL)
		*collector_serial = 0;
	rc = policy_load(system_path, &p, cause);
	if (rc != 0)
		return rc;
	rc = paths_data_dir(data_dir, &dir, cause);
	if (rc != 0)
		goto fail;
	/* Not enrolled, or no policy fetched yet: the local files alone. */
	if (fleet_device_load(dir, &e, &why) != 0)
		goto done;
	rc = fleet_device_policy_load(dir, &e, &body, &serial, cause);
	if (rc == -ENOENT)
		goto done;
	if (rc != 0)
		goto fail;
	label = util_xasprintf("collector policy serial %" PRIu64, serial);
	f = fmemopen(body, strlen(body), "r");
	if (f == NULL) {
		rc = util_fail(cause, -ENOMEM, "cannot read the %s: out of memory", label);
		goto fail;
	}
	c = policy_new();
	rc = policy_load_stream(c, f, label, 0, cause);
	if (rc != 0)
		goto fail;
	policy_merge_stricter(p, c, label);
	if (collector_serial != NULL)
		*collector_serial = serial;
done:
	rc = 0;
	*out = p;
	p = NULL;
fail:
	if (f != NULL)
		fclose(f);
	policy_free(c);
	policy_free(p);
	free(label);
	free(body);
	free(why);
	free(dir);
	return rc;
}
