/*
 * Tests for encryption at rest (vault, and its use by blob and store): what is
 * read back equals what was stored, the file on disk is not the plaintext, and
 * another key does not open it. Also the key's life: made once, kept 0600
 * outside the data directory, and a missing or wrong key reported in one line.
 * The keyring store runs against a real Secret Service: GNOME Keyring, started
 * unlocked on a private D-Bus session bus of the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gio/gio.h>
#include <libsecret/secret.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "store.h"
#include "vault.h"

struct fixture {
	char *base;         /* a fresh temporary directory: HOME-like */
	char *data;         /* base/data */
	char *config;       /* base/config: XDG_CONFIG_HOME, where key files go */
	pid_t bus;          /* the private session bus of the keyring case, or 0 */
	pid_t keyring;      /* its GNOME Keyring daemon, or 0 */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->base = testenv_tmpdir("mimic-test-vault");
	if (f->base == NULL)
		return -1;
	if (asprintf(&f->data, "%s/data", f->base) < 0 ||
	    asprintf(&f->config, "%s/config", f->base) < 0)
		return -1;
	mkdir(f->data, 0700);
	setenv("XDG_CONFIG_HOME", f->config, 1);
	/* Never the desktop keyring of whoever runs the tests. */
	setenv("MIMIC_KEY_STORE", "file", 1);
	unsetenv("DBUS_SESSION_BUS_ADDRESS");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* A failed keyring case leaves its daemons running: stop them here. */
	testenv_stop(f->keyring);
	testenv_stop(f->bus);
	if (f->bus != 0) {
		unsetenv("DBUS_SESSION_BUS_ADDRESS");
		setenv("MIMIC_KEY_STORE", "file", 1);
	}
	testenv_tmpdir_remove(f->base);
	free(f->data);
	free(f->config);
	free(f);
	return 0;
}

/* Reads a whole file (malloc'ed) and its length. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static int contains(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return 1;
	return 0;
}

static void test_seal_roundtrip_and_wrong_key(void **state)
{
	uint8_t k1[VAULT_KEY_BYTES], k2[VAULT_KEY_BYTES], sealed[64], out[64];
	const char msg[] = "typed secret";
	struct vault *a, *b;
	size_t n = 0;

	(void)state;
	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	a = vault_from_key(k1);
	b = vault_from_key(k2);
	vault_seal(a, "ad", 2, msg, sizeof(msg), sealed);
	assert_false(contains(sealed, vault_sealed_len(sizeof(msg)), "secret", 6));
	assert_int_equal(vault_unseal(a, "ad", 2, sealed, vault_sealed_len(sizeof(msg)), out, &n),
	                 0);
	assert_int_equal(n, sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	/* Another key, other associated data, a flipped bit: none opens. */
	assert_int_equal(vault_unseal(b, "ad", 2, sealed, vault_sealed_len(sizeof(msg)), out, &n),
	                 -EBADMSG);
	assert_int_equal(vault_unseal(a, "xx", 2, sealed, vault_sealed_len(sizeof(msg)), out, &n),
	                 -EBADMSG);
	sealed[30] ^= 1;
	assert_int_equal(vault_unseal(a, "ad", 2, sealed, vault_sealed_len(sizeof(msg)), out, &n),
	                 -EBADMSG);
	assert_int_equal(vault_unseal(a, "ad", 2, sealed, 3, out, &n), -EBADMSG);
	vault_close(a);
	vault_close(b);
}

/*
 * A value sealed by mimic before nonces were a prefix and a counter (a wholly
 * random nonce), under the key 1, 8, 15, ... and associated data "session 1":
 * data recorded then must still open.
 */
static void test_old_sealed_value_opens(void **state)
{
	static const char hex[] =
		"015f634142ec6afd1cec75b8fe37ffc95be349569cd4bc684f6d21003cc6356c9ccff47d81"
		"c5ab91ebbeaba515f33a3bc771382adfef734eee199a776c85867a8a3b03c6";
	const char msg[] = "typed before counter nonces";
	uint8_t key[VAULT_KEY_BYTES], sealed[sizeof(hex) / 2], out[sizeof(hex) / 2];
	struct vault *v;
	size_t n = 0;

	(void)state;
	for (int i = 0; i < VAULT_KEY_BYTES; i++)
		key[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(sealed); i++)
		sscanf(hex + 2 * i, "%2hhx", &sealed[i]);
	v = vault_from_key(key);
	assert_int_equal(vault_unseal(v, "session 1", 9, sealed, sizeof(sealed), out, &n), 0);
	assert_int_equal(n, strlen(msg));
	assert_memory_equal(out, msg, n);
	vault_close(v);
}

#define NONCE_SEALS 1000
#define NONCE_LEN 24

/* Seals msg once with v and copies the nonce of the sealed value into nonce. */
static void seal_nonce(struct vault *v, uint8_t nonce[NONCE_LEN])
{
	uint8_t sealed[VAULT_OVERHEAD + 1];

	vault_seal(v, NULL, 0, "k", 1, sealed);
	memcpy(nonce, sealed + 1, NONCE_LEN);
}

static int cmp_nonce(const void *a, const void *b)
{
	return memcmp(a, b, NONCE_LEN);
}

/*
 * Nonces are a random prefix per vault and a counter (vault.c): no two values
 * sealed under one key may share one, whether sealed by one vault, by two vaults
 * over the same key (two processes) or by a child after fork. Each still opens.
 */
static void test_nonces_never_repeat(void **state)
{
	static uint8_t nonces[NONCE_SEALS + 2][NONCE_LEN];
	uint8_t key[VAULT_KEY_BYTES], sealed[VAULT_OVERHEAD + 1], out[8];
	struct vault *a, *b;
	size_t n = 0, k = 0;
	int pipefd[2], status;
	pid_t pid;

	(void)state;
	memset(key, 5, sizeof(key));
	a = vault_from_key(key);
	b = vault_from_key(key);
	for (int i = 0; i < NONCE_SEALS - 1; i++)
		seal_nonce(a, nonces[k++]);
	seal_nonce(b, nonces[k++]);
	/* A child sealing with its copy of a. */
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t nonce[NONCE_LEN];

		seal_nonce(a, nonce);
		_exit(write(pipefd[1], nonce, NONCE_LEN) == NONCE_LEN ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(read(pipefd[0], nonces[k++], NONCE_LEN), NONCE_LEN);
	close(pipefd[0]);
	close(pipefd[1]);
	/* ... and the parent's next seal, which the child's copy would have repeated. */
	seal_nonce(a, nonces[k++]);
	qsort(nonces, k, NONCE_LEN, cmp_nonce);
	for (size_t i = 1; i < k; i++)
		if (memcmp(nonces[i - 1], nonces[i], NONCE_LEN) == 0)
			fail_msg("two sealed values share a nonce (of %zu)", k);
	vault_seal(a, "ad", 2, "x", 1, sealed);
	assert_int_equal(vault_unseal(b, "ad", 2, sealed, sizeof(sealed), out, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 'x');
	vault_close(a);
	vault_close(b);
}

static void test_key_made_once_outside_data_dir(void **state)
{
	struct fixture *f = *state;
	struct vault *v1 = NULL, *v2 = NULL;
	char *cause = NULL, n1[65], n2[65];
	struct stat sb;

	assert_int_equal(vault_open(f->data, 0, &v1, &cause), -ENOENT);
	assert_non_null(strstr(cause, "no encryption key"));
	free(cause);
	cause = NULL;
	assert_int_equal(vault_open(f->data, VAULT_CREATE, &v1, &cause), 0);
	assert_non_null(strstr(vault_where(v1), f->config));
	assert_int_equal(stat(vault_where(v1), &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(vault_open(f->data, VAULT_CREATE, &v2, &cause), 0);
	/* The same key both times: the same names. */
	vault_name(v1, "x", 1, n1);
	vault_name(v2, "x", 1, n2);
	assert_string_equal(n1, n2);
	vault_close(v2);
	v2 = NULL;

	/* A wrong key: one line naming the file. */
	FILE *fp = fopen(vault_where(v1), "w");
	assert_non_null(fp);
	fputs("abababababababababababababababababababababababababababababababab\n", fp);
	fclose(fp);
	assert_int_equal(vault_open(f->data, VAULT_CREATE, &v2, &cause), -EKEYREJECTED);
	assert_null(strchr(cause, '\n'));
	assert_non_null(strstr(cause, "is not the key of"));
	free(cause);
	cause = NULL;
	unlink(vault_where(v1));
	assert_int_equal(vault_open(f->data, 0, &v2, &cause), -ENOKEY);
	assert_non_null(strstr(cause, "missing"));
	free(cause);
	vault_close(v1);
}

/* A key file others can read is refused with the chmod that fixes it, never used. */
static void test_key_file_readable_by_others_refused(void **state)
{
	struct fixture *f = *state;
	struct vault *v = NULL;
	char *cause = NULL, *path, *fix;

	assert_int_equal(vault_open(f->data, VAULT_CREATE, &v, &cause), 0);
	path = strdup(vault_where(v));
	vault_close(v);
	v = NULL;
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(vault_open(f->data, 0, &v, &cause), -EPERM);
	assert_null(v);
	assert_non_null(cause);
	assert_null(strchr(cause, '\n'));
	assert_true(asprintf(&fix, "`chmod 600 %s`", path) > 0);
	if (strstr(cause, fix) == NULL || strstr(cause, "readable by other users") == NULL)
		fail_msg("cause '%s' does not name %s", cause, fix);
	free(fix);
	free(cause);
	cause = NULL;
	/* Group-readable alone is refused too; 0400 is fine. */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(vault_open(f->data, 0, &v, &cause), -EPERM);
	free(cause);
	cause = NULL;
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(vault_open(f->data, 0, &v, &cause), 0);
	vault_close(v);
	free(path);
}

static void test_blob_sealed(void **state)
{
	struct fixture *f = *state;
	uint8_t k1[VAULT_KEY_BYTES], k2[VAULT_KEY_BYTES], *raw;
	char hex[BLOB_HEX_LEN + 1], hex2[BLOB_HEX_LEN + 1], *dir, *path = NULL, *cause = NULL;
	const char img[] = "RIFF....WEBPVP8 pretend-image-with-a-visible-secret";
	struct vault *v1, *v2;
	struct blob *b;
	void *data = NULL;
	size_t len = 0, rawlen;

	memset(k1, 7, sizeof(k1));
	memset(k2, 8, sizeof(k2));
	v1 = vault_from_key(k1);
	v2 = vault_from_key(k2);
	assert_true(asprintf(&dir, "%s/frames", f->data) > 0);
	assert_int_equal(blob_open(dir, "webp", BLOB_CREATE | BLOB_WRITE, &b, &cause), 0);
	blob_set_vault(b, v1);
	assert_int_equal(blob_put(b, img, sizeof(img), hex, &cause), 0);
	/* Equal bytes, equal name (dedup), and the name is not the plain SHA-256. */
	assert_int_equal(blob_put(b, img, sizeof(img), hex2, &cause), 0);
	assert_string_equal(hex, hex2);
	assert_int_equal(blob_get(b, hex, 1 << 20, &data, &len, &cause), 0);
	assert_int_equal(len, sizeof(img));
	assert_memory_equal(data, img, sizeof(img));
	free(data);
	data = NULL;

	/* The raw file is not the plaintext, and holds no piece of it. */
	assert_int_equal(blob_path(b, hex, &path), 0);
	raw = slurp(path, &rawlen);
	assert_int_equal(rawlen, blob_stored_len(b, sizeof(img)));
	assert_false(contains(raw, rawlen, "visible-secret", 14));
	assert_false(contains(raw, rawlen, "RIFF", 4));
	free(raw);

	/* Another key does not open it; no key at all says so. */
	blob_set_vault(b, v2);
	assert_int_equal(blob_get(b, hex, 1 << 20, &data, &len, &cause), -EBADMSG);
	assert_null(data);
	free(cause);
	cause = NULL;
	blob_set_vault(b, NULL);
	assert_int_equal(blob_get(b, hex, 1 << 20, &data, &len, &cause), -ENOKEY);
	free(cause);
	blob_close(b);
	free(path);
	free(dir);
	vault_close(v1);
	vault_close(v2);
}

static int collect(int64_t id, const struct event *ev, const struct context *ctx, void *arg)
{
	struct event *out = arg;

	(void)id;
	(void)ctx;
	if (ev->kind == EVENT_KEY_PRESS)
		*out = *ev;
	return 0;
}

static int collect_ctx(int64_t id, const struct event *ev, const struct context *ctx, void *arg)
{
	struct context *out = arg;

	(void)id;
	if (ev->kind == EVENT_FOCUS && ctx != NULL)
		*out = *ctx;
	return 0;
}

static void test_store_events_sealed(void **state)
{
	struct fixture *f = *state;
	struct store_session s = { .start_wall_ns = 1, .start_mono_ns = 1 };
	struct event evs[2], got;
	struct context ctx, gotctx;
	struct store *st = NULL;
	uint8_t other[VAULT_KEY_BYTES], *raw;
	char *cause = NULL, *path;
	struct vault *wrong;
	size_t rawlen;
	int64_t id;

	memset(evs, 0, sizeof(evs));
	memset(&ctx, 0, sizeof(ctx));
	ctx.seq = 1;
	ctx.t_ns = 5;
	strcpy(ctx.wm_class, "XTerm");
	strcpy(ctx.title, "Quarterly salaries.ods");
	evs[0].t_ns = 10;
	evs[0].kind = EVENT_FOCUS;
	evs[0].context = 1;
	evs[1].t_ns = 20;
	evs[1].kind = EVENT_KEY_PRESS;
	evs[1].detail = 38;
	evs[1].context = 1;
	strcpy(evs[1].keysym, "Zcaron");
	strcpy(evs[1].text, "\xc5\xbd");
	assert_int_equal(store_open(f->data, 0, &st, &cause), 0);
	assert_int_equal(store_session_begin(st, &s, &id, &cause), 0);
	assert_int_equal(store_write_batch(st, id, evs, 2, &ctx, 1, &cause), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(store_events_foreach(st, id, collect, &got, &cause), 0);
	assert_int_equal(got.detail, 38);
	assert_string_equal(got.keysym, "Zcaron");
	assert_string_equal(got.text, "\xc5\xbd");
	memset(&gotctx, 0, sizeof(gotctx));
	assert_int_equal(store_events_foreach(st, id, collect_ctx, &gotctx, &cause), 0);
	assert_string_equal(gotctx.title, "Quarterly salaries.ods");
	assert_string_equal(gotctx.wm_class, "XTerm");
	/* Kinds and times stay plain: counting works without the key. */
	int64_t counts[EVENT_KIND_MAX_];
	assert_int_equal(store_session_counts(st, id, counts, &cause), 0);
	assert_int_equal(counts[EVENT_KEY_PRESS], 1);
	assert_int_equal(store_compact(st, &cause), 0);

	/* Another key: one line, not garbage. */
	memset(other, 9, sizeof(other));
	wrong = vault_from_key(other);
	store_set_vault(st, wrong);
	assert_int_equal(store_events_foreach(st, id, collect, &got, &cause), -EBADMSG);
	assert_null(strchr(cause, '\n'));
	free(cause);
	cause = NULL;
	store_close(st);
	vault_close(wrong);

	/* The database file holds neither the title nor the keysym in the clear. */
	assert_true(asprintf(&path, "%s/%s", f->data, STORE_DB_NAME) > 0);
	raw = slurp(path, &rawlen);
	assert_false(contains(raw, rawlen, "salaries", 8));
	assert_false(contains(raw, rawlen, "Zcaron", 6));
	assert_true(contains(raw, rawlen, "XTerm", 5));
	free(raw);
	free(path);
}

/* Rows stored before encryption (written here in the clear) are sealed at start. */
static void test_seal_plain_rows(void **state)
{
	struct fixture *f = *state;
	struct store_session s = { .start_wall_ns = 1, .start_mono_ns = 1 };
	struct store *st = NULL;
	sqlite3 *db = NULL;
	char *cause = NULL, *path, *sql;
	struct event got;
	struct context gotctx;
	uint8_t *raw;
	size_t rawlen;
	int64_t id, n = 0;

	assert_int_equal(store_open(f->data, 0, &st, &cause), 0);
	assert_int_equal(store_session_begin(st, &s, &id, &cause), 0);
	assert_true(asprintf(&path, "%s/%s", f->data, STORE_DB_NAME) > 0);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_true(asprintf(&sql, "INSERT INTO contexts (session, seq, t_ns, \"window\", pid, x, "
	                     "y, w, h, title) VALUES (%lld, 1, 1, 1, 1, 0, 0, 1, 1, "
	                     "'Payroll of Mrs Plaintext'); INSERT INTO events (session, t_ns, kind, "
	                     "source, device, context, x, y, detail, mods, amount, keysym, text) "
	                     "VALUES (%lld, 2, %d, 0, 0, 1, 0, 0, 0, 0, 0, '', ''), (%lld, 3, %d, 0, "
	                     "0, 1, 0, 0, 52, 0, 0, 'Ydiaeresis', 'Y');", (long long)id,
	                     (long long)id, EVENT_FOCUS, (long long)id, EVENT_KEY_PRESS) > 0);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(sql);
	assert_int_equal(store_seal_plain(st, &n, &cause), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_compact(st, &cause), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(store_events_foreach(st, id, collect, &got, &cause), 0);
	assert_string_equal(got.keysym, "Ydiaeresis");
	assert_int_equal(got.detail, 52);
	memset(&gotctx, 0, sizeof(gotctx));
	assert_int_equal(store_events_foreach(st, id, collect_ctx, &gotctx, &cause), 0);
	assert_string_equal(gotctx.title, "Payroll of Mrs Plaintext");
	assert_int_equal(store_seal_plain(st, &n, &cause), 0);
	assert_int_equal(n, 0);
	store_close(st);
	raw = slurp(path, &rawlen);
	assert_false(contains(raw, rawlen, "Plaintext", 9));
	assert_false(contains(raw, rawlen, "Ydiaeresis", 10));
	free(raw);
	free(path);
}

/* --- The keyring store, against GNOME Keyring ------------------------------------- */

/* The schema mimic-keyring stores the key under (docs/PRIVACY.md: the desktop keyring). */
static const SecretSchema test_key_schema = {
	"org.mimic.DataKey", SECRET_SCHEMA_NONE,
	{
		{ "mimic-key-id", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ NULL, 0 },
	},
	0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

/*
 * A session bus with no service directory: nothing is activated behind the
 * test's back, so the Secret Service is the daemon the test starts, and nobody
 * once it is stopped. Sets DBUS_SESSION_BUS_ADDRESS.
 */
static pid_t start_bus(const char *base)
{
	char conf[256], addr[512], cfgarg[300];
	char *argv[] = { "dbus-daemon", cfgarg, "--nofork", "--print-address=3", NULL };
	FILE *fp;
	pid_t pid;

	snprintf(conf, sizeof conf, "%s/bus.conf", base);
	fp = fopen(conf, "w");
	assert_non_null(fp);
	fprintf(fp, "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration "
	        "1.0//EN\" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
	        "<busconfig><type>session</type><listen>unix:dir=%s</listen>"
	        "<auth>EXTERNAL</auth><policy context=\"default\">"
	        "<allow send_destination=\"*\" eavesdrop=\"true\"/><allow eavesdrop=\"true\"/>"
	        "<allow own=\"*\"/></policy></busconfig>\n", base);
	fclose(fp);
	snprintf(cfgarg, sizeof cfgarg, "--config-file=%s", conf);
	pid = testenv_spawn_ready(argv, addr, sizeof addr, 30000);
	assert_true(pid > 0);
	if (addr[0] == '\0')
		testenv_stop(pid);
	assert_true(addr[0] != '\0');
	setenv("DBUS_SESSION_BUS_ADDRESS", addr, 1);
	return pid;
}

/* Whether a process owns org.freedesktop.secrets on the test's bus. */
static int secrets_owned(void)
{
	return system("dbus-send --session --print-reply --dest=org.freedesktop.DBus "
	              "/org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner "
	              "string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true'") == 0;
}

static bool secrets_owned_is(void *want)
{
	return secrets_owned() == *(int *)want;
}

/* Polls secrets_owned() until it is `want`, for at most 30 seconds. */
static void wait_secrets(int want)
{
	if (!testenv_wait(secrets_owned_is, &want, 30000))
		fail_msg("the Secret Service did not %s within 30 s", want ? "start" : "stop");
}

/*
 * GNOME Keyring as a login starts it: unlocked with the password on its standard
 * input (its login keyring is made with it), with a home of its own and no
 * display, so that it never shows a prompt.
 */
static pid_t start_keyring(const char *base)
{
	char *argv[] = { "gnome-keyring-daemon", "--foreground", "--unlock",
	                 "--components=secrets", NULL };
	char home[128], data[160], run[160];
	int p[2];
	pid_t pid;

	snprintf(home, sizeof home, "%s/keyring-home", base);
	snprintf(data, sizeof data, "%s/data", home);
	snprintf(run, sizeof run, "%s/run", home);
	mkdir(home, 0700);
	mkdir(run, 0700);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		setenv("HOME", home, 1);
		setenv("XDG_DATA_HOME", data, 1);
		setenv("XDG_RUNTIME_DIR", run, 1);
		unsetenv("DISPLAY");
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		close(p[1]);
		dup2(p[0], 0);
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[0]);
	assert_int_equal(write(p[1], "keyring test password", 21), 21);
	close(p[1]);
	assert_true(pid > 0);
	wait_secrets(1);
	return pid;
}

/* The text of data_dir's key.id into buf (at most size - 1 bytes). */
static void read_key_id_file(const char *data_dir, char *buf, size_t size)
{
	char path[256];
	size_t n;
	FILE *fp;

	snprintf(path, sizeof path, "%s/%s", data_dir, VAULT_ID_FILE);
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, size - 1, fp);
	fclose(fp);
	buf[n] = '\0';
}

/* What key.id of data_dir says about the key's store ("keyring" or "file"). */
static int key_id_says(const char *data_dir, const char *what)
{
	char buf[512], want[64];

	read_key_id_file(data_dir, buf, sizeof buf);
	snprintf(want, sizeof want, "\"store\":\"%s\"", what);
	return strstr(buf, want) != NULL;
}

/* The key id of data_dir's key.id (32 hex digits) into id. */
static void key_id_of(const char *data_dir, char id[33])
{
	char buf[512];
	const char *p;

	read_key_id_file(data_dir, buf, sizeof buf);
	p = strstr(buf, "\"id\":\"");
	assert_non_null(p);
	memcpy(id, p + 6, 32);
	id[32] = '\0';
}

/* Counts the files in dir (0 when it does not exist). */
static int files_in(const char *dir)
{
	char cmd[400];
	int n = 0;
	FILE *fp;

	snprintf(cmd, sizeof cmd, "ls -A '%s' 2>/dev/null | wc -l", dir);
	fp = popen(cmd, "r");
	assert_non_null(fp);
	if (fscanf(fp, "%d", &n) != 1)
		n = -1;
	pclose(fp);
	return n;
}

static void test_key_in_the_keyring(void **state)
{
	static const char other_key[] =
		"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
	struct fixture *f = *state;
	struct vault *v1 = NULL, *v2 = NULL;
	char *cause = NULL, *keys_dir, *other, n1[65], n2[65], id[33];
	gchar *stored;
	GDBusConnection *conn;
	GError *gerr = NULL;

	testenv_need_tools("dbus-daemon", "dbus-send", "gnome-keyring-daemon");
	unsetenv("MIMIC_KEY_STORE");
	f->bus = start_bus(f->base);
	/* GDBus ends a process whose session bus goes away; this one stops its own. */
	conn = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &gerr);
	assert_non_null(conn);
	g_dbus_connection_set_exit_on_close(conn, FALSE);
	f->keyring = start_keyring(f->base);
	assert_true(asprintf(&keys_dir, "%s/mimic/keys", f->config) > 0);

	/* A new key goes into the keyring; key.id says so; no key file is written. */
	assert_int_equal(vault_open(f->data, VAULT_CREATE, &v1, &cause), 0);
	assert_string_equal(vault_where(v1), "the desktop keyring");
	assert_true(key_id_says(f->data, "keyring"));
	assert_int_equal(files_in(keys_dir), 0);
	key_id_of(f->data, id);
	stored = secret_password_lookup_sync(&test_key_schema, NULL, &gerr, "mimic-key-id", id,
	                                     NULL);
	assert_null(gerr);
	assert_non_null(stored);
	assert_int_equal(strlen(stored), 2 * VAULT_KEY_BYTES);

	/* Opened again, from the keyring: the same key. */
	assert_int_equal(vault_open(f->data, 0, &v2, &cause), 0);
	vault_name(v1, "x", 1, n1);
	vault_name(v2, "x", 1, n2);
	assert_string_equal(n1, n2);
	vault_close(v2);
	v2 = NULL;

	/* Another key under the same id: rejected in one line, not used. */
	assert_true(secret_password_store_sync(&test_key_schema, SECRET_COLLECTION_DEFAULT,
	            "mimic test", other_key, NULL, &gerr, "mimic-key-id", id, NULL));
	assert_int_equal(vault_open(f->data, 0, &v2, &cause), -EKEYREJECTED);
	assert_null(strchr(cause, '\n'));
	assert_non_null(strstr(cause, "is not the key of"));
	assert_non_null(strstr(cause, "the desktop keyring"));
	free(cause);
	cause = NULL;

	/* Taken out of the keyring: one line saying it does not hold the key. */
	assert_true(secret_password_clear_sync(&test_key_schema, NULL, &gerr, "mimic-key-id", id,
	                                       NULL));
	assert_int_equal(vault_open(f->data, 0, &v2, &cause), -ENOKEY);
	assert_null(strchr(cause, '\n'));
	assert_non_null(strstr(cause, "does not hold it"));
	free(cause);
	cause = NULL;

	/* The keyring stopped: one line saying it cannot be reached. */
	testenv_stop(f->keyring);
	f->keyring = 0;
	wait_secrets(0);
	assert_int_equal(vault_open(f->data, 0, &v2, &cause), -ENOKEY);
	assert_null(strchr(cause, '\n'));
	assert_non_null(strstr(cause, "cannot be reached"));
	free(cause);
	cause = NULL;

	/* A session bus without a Secret Service: a new key goes into a key file. */
	assert_true(asprintf(&other, "%s/other", f->base) > 0);
	mkdir(other, 0700);
	assert_int_equal(vault_open(other, VAULT_CREATE, &v2, &cause), 0);
	assert_non_null(strstr(vault_where(v2), keys_dir));
	assert_true(key_id_says(other, "file"));
	assert_int_equal(files_in(keys_dir), 1);

	vault_close(v1);
	vault_close(v2);
	secret_password_free(stored);
	g_object_unref(conn);
	free(keys_dir);
	free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_roundtrip_and_wrong_key),
		cmocka_unit_test(test_old_sealed_value_opens),
		cmocka_unit_test(test_nonces_never_repeat),
		cmocka_unit_test_setup_teardown(test_key_made_once_outside_data_dir, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_key_file_readable_by_others_refused, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_blob_sealed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_events_sealed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seal_plain_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_in_the_keyring, setup, teardown),
	};

	return testenv_run(tests, NULL, NULL);
}
