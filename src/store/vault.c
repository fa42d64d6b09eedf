/*
 * vault: the per-data-directory key (desktop keyring or a 0600 key file) and
 * XChaCha20-Poly1305 sealing with it. See vault.h for the layout.
 */
#include "vault.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <jansson.h>
#include <libsecret/secret.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"
#include "testbreak.h"
#include "util.h"

#define ID_BYTES 16
#define CHECK_BYTES 16
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

_Static_assert(VAULT_OVERHEAD == 1 + NONCE_BYTES + TAG_BYTES, "sealed layout");

/*
 * Nonces without a system call per sealed value. A nonce is 24 bytes: a 16-byte
 * random prefix drawn once per vault (one getrandom) and a 64-bit counter
 * (little-endian) that every seal takes the next value of. Why no nonce repeats
 * under one key:
 *  - within one vault the counter gives each seal its own value; 2^64 seals are
 *    out of reach (at a billion a second, 584 years);
 *  - two vaults over the same key (the recorder, each `mimic-data` or `mimic`
 *    command that opens the directory, run after run) differ in their prefix
 *    unless two of n random 128-bit prefixes collide, which happens with a
 *    probability below n^2 / 2^129 (for four billion opens, 2^-65);
 *  - a child made by fork copies the vault: the first seal in the child draws a
 *    new prefix (fork_gen below), so parent and child never share one.
 * XChaCha20 derives its subkey from the key and the first 16 bytes of the nonce
 * (HChaCha20), so each vault seals under a subkey of its own with the counter as
 * ChaCha20's nonce: the construction libsodium's secretstream uses. The layout of
 * a sealed value is unchanged (its whole nonce is stored with it), so values
 * sealed with random nonces before still open.
 */
#define PREFIX_BYTES 16
_Static_assert(PREFIX_BYTES + 8 == NONCE_BYTES, "nonce layout");

struct nonce_state {
	_Atomic uint64_t counter;
	unsigned gen;           /* fork_gen when the prefix was drawn */
	uint8_t prefix[PREFIX_BYTES];
};

struct vault {
	uint8_t *keys;          /* sodium_malloc'ed: the data key, then the naming key */
	struct nonce_state *nonce;  /* changes on every seal, while the vault is read-only */
	char where[4096];
};

/* Incremented in a child after fork: its vaults draw new prefixes. */
static atomic_uint fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void)
{
	atomic_fetch_add(&fork_gen, 1);
}

static void register_fork(void)
{
	pthread_atfork(NULL, NULL, on_fork_child);
}

static const SecretSchema key_schema = {
	"org.mimic.DataKey", SECRET_SCHEMA_NONE,
	{
		{ "mimic-key-id", SECRET_SCHEMA_ATTRIBUTE_STRING },
		{ NULL, 0 },
	},
	0, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

static struct vault *vault_new(const uint8_t key[VAULT_KEY_BYTES])
{
	struct vault *v = util_xcalloc(1, sizeof(*v));

	v->keys = sodium_malloc(2 * VAULT_KEY_BYTES);
	if (v->keys == NULL) {
		fprintf(stderr, "mimic: out of memory\n");
		abort();
	}
	crypto_kdf_derive_from_key(v->keys, VAULT_KEY_BYTES, 1, "mimicaed", key);
	crypto_kdf_derive_from_key(v->keys + VAULT_KEY_BYTES, VAULT_KEY_BYTES, 2, "mimicnam",
	                           key);
	pthread_once(&fork_once, register_fork);
	v->nonce = util_xcalloc(1, sizeof(*v->nonce));
	v->nonce->gen = atomic_load(&fork_gen);
	randombytes_buf(v->nonce->prefix, PREFIX_BYTES);
	return v;
}

/* A vault over key, kept in the key file path, or in the desktop keyring when path is NULL. */
static struct vault *vault_kept(const uint8_t key[VAULT_KEY_BYTES], const char *path)
{
	struct vault *v = vault_new(key);

	if (path != NULL)
		util_strlcpy_utf8(v->where, path, sizeof(v->where));
	else
		snprintf(v->where, sizeof(v->where), "the desktop keyring");
	return v;
}

struct vault *vault_from_key(const uint8_t key[VAULT_KEY_BYTES])
{
	struct vault *v;

	if (sodium_init() < 0)
		abort();
	v = vault_new(key);
	snprintf(v->where, sizeof(v->where), "a given key");
	return v;
}

void vault_close(struct vault *v)
{
	if (v == NULL)
		return;
	sodium_free(v->keys);
	free(v->nonce);
	free(v);
}

const char *vault_where(const struct vault *v)
{
	return v->where;
}

void vault_seal(const struct vault *v, const void *ad, size_t adlen, const void *plain,
                size_t len, uint8_t *out)
{
	struct nonce_state *ns = v->nonce;
	uint64_t n;

	/* After fork only the forking thread runs in the child: nothing seals meanwhile. */
	if (ns->gen != atomic_load(&fork_gen) && !testbreak("vault-fork-keeps-prefix")) {
		ns->gen = atomic_load(&fork_gen);
		randombytes_buf(ns->prefix, PREFIX_BYTES);
	}
	n = atomic_fetch_add_explicit(&ns->counter, testbreak("vault-nonce-repeats") ? 0 : 1,
	                              memory_order_relaxed);
	out[0] = VAULT_FORMAT;
	memcpy(out + 1, ns->prefix, PREFIX_BYTES);
	for (int i = 0; i < 8; i++)
		out[1 + PREFIX_BYTES + i] = (uint8_t)(n >> (8 * i));
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 + NONCE_BYTES, NULL, plain, len,
	                                           ad, adlen, NULL, out + 1, v->keys);
}

int vault_unseal(const struct vault *v, const void *ad, size_t adlen, const uint8_t *in,
                 size_t len, uint8_t *out, size_t *outlen)
{
	unsigned long long n = 0;

	*outlen = 0;
	if (len < VAULT_OVERHEAD || in[0] != VAULT_FORMAT)
		return -EBADMSG;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &n, NULL, in + 1 + NONCE_BYTES,
	                                               len - 1 - NONCE_BYTES, ad, adlen,
	                                               in + 1, v->keys) != 0)
		return -EBADMSG;
	*outlen = (size_t)n;
	return 0;
}

void vault_name(const struct vault *v, const void *data, size_t len, char hex[65])
{
	uint8_t h[32];

	crypto_generichash(h, sizeof(h), data, len, v->keys + VAULT_KEY_BYTES, VAULT_KEY_BYTES);
	sodium_bin2hex(hex, 65, h, sizeof(h));
}

/* The check value stored in key.id: a keyed hash of a constant, which reveals nothing. */
static void key_check(const uint8_t key[VAULT_KEY_BYTES], char hex[2 * CHECK_BYTES + 1])
{
	static const char what[] = "mimic key check v1";
	uint8_t h[CHECK_BYTES];

	crypto_generichash(h, sizeof(h), (const uint8_t *)what, sizeof(what) - 1, key,
	                   VAULT_KEY_BYTES);
	sodium_bin2hex(hex, 2 * CHECK_BYTES + 1, h, sizeof(h));
}

/* $XDG_CONFIG_HOME/mimic/keys (absolute only), else $HOME/.config/mimic/keys. */
static int key_dir(char **out, char **cause)
{
	const char *x = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	*out = NULL;
	if (x != NULL && x[0] == '/')
		*out = util_xasprintf("%s/mimic/keys", x);
	else if (home != NULL && home[0] == '/')
		*out = util_xasprintf("%s/.config/mimic/keys", home);
	else
		return util_fail(cause, -ENOENT, "cannot find a place for the encryption key: "
		                 "set HOME or XDG_CONFIG_HOME");
	return 0;
}

/* True when libsecret may be asked: a session bus is configured (never autolaunched). */
static int bus_configured(void)
{
	const char *a = getenv("DBUS_SESSION_BUS_ADDRESS"), *rt = getenv("XDG_RUNTIME_DIR");
	struct stat sb;

	if (a != NULL && a[0] != '\0')
		return strncmp(a, "autolaunch:", 11) != 0;
	if (rt != NULL && rt[0] == '/') {
		char *p = util_xasprintf("%s/bus", rt);
		int ok = stat(p, &sb) == 0 && S_ISSOCK(sb.st_mode);

		free(p);
		if (ok) {
			/* GLib finds $XDG_RUNTIME_DIR/bus by itself. */
			return 1;
		}
	}
	return 0;
}

static int keyring_store(const char *id, const char *hexkey)
{
	GError *gerr = NULL;
	char label[96];
	gboolean ok;

	snprintf(label, sizeof(label), "mimic data key %.8s", id);
	ok = secret_password_store_sync(&key_schema, SECRET_COLLECTION_DEFAULT, label, hexkey,
	                                NULL, &gerr, "mimic-key-id", id, NULL);
	if (!ok) {
		log_info("vault: the desktop keyring is not usable (%s); using a key file",
		         gerr != NULL ? gerr->message : "unknown reason");
		g_clear_error(&gerr);
		return -ENOTSUP;
	}
	return 0;
}

/* Sets hexkey (65 bytes) from the keyring; -ENOKEY when absent, -EHOSTDOWN when unreachable. */
static int keyring_lookup(const char *id, char *hexkey, char **why)
{
	GError *gerr = NULL;
	gchar *pw;
	int rc = 0;

	if (!bus_configured()) {
		*why = util_xstrdup("no session bus is configured");
		return -EHOSTDOWN;
	}
	pw = secret_password_lookup_sync(&key_schema, NULL, &gerr, "mimic-key-id", id, NULL);
	if (gerr != NULL) {
		*why = util_xstrdup(gerr->message);
		g_clear_error(&gerr);
		return -EHOSTDOWN;
	}
	if (pw == NULL)
		return -ENOKEY;
	if (strlen(pw) != 2 * VAULT_KEY_BYTES)
		rc = -ENOKEY;
	else
		memcpy(hexkey, pw, 2 * VAULT_KEY_BYTES + 1);
	secret_password_free(pw);
	return rc;
}

/* Reads the 64 hex digits of a key file into hexkey (65 bytes). */
static int file_read_key(const char *path, char *hexkey)
{
	char buf[2 * VAULT_KEY_BYTES + 8];
	ssize_t n;
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	/* A key others can read unlocks every recording: refused, not used. */
	if (fstat(fd, &sb) != 0 || ((sb.st_mode & 077) != 0 && !testbreak("key-mode-ignored"))) {
		close(fd);
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 2 * VAULT_KEY_BYTES)
		return -ENOKEY;
	memcpy(hexkey, buf, 2 * VAULT_KEY_BYTES);
	hexkey[2 * VAULT_KEY_BYTES] = '\0';
	sodium_memzero(buf, sizeof(buf));
	return 0;
}

static int file_write_key(const char *path, const char *hexkey)
{
	char buf[2 * VAULT_KEY_BYTES + 1];
	int fd, err = 0;

	fd = paths_create_file(path, O_WRONLY, NULL);
	if (fd < 0)
		return fd;
	memcpy(buf, hexkey, 2 * VAULT_KEY_BYTES);
	buf[2 * VAULT_KEY_BYTES] = '\n';
	if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		err = errno ? -errno : -EIO;
	if (fsync(fd) != 0 && err == 0)
		err = -errno;
	if (close(fd) != 0 && err == 0)
		err = -errno;
	sodium_memzero(buf, sizeof(buf));
	if (err != 0)
		unlink(path);
	return err;
}

/* Makes a new key, stores it and writes key.id. */
static int create_key(const char *data_dir, const char *id_path, struct vault **out,
                      char **cause)
{
	uint8_t key[VAULT_KEY_BYTES], idb[ID_BYTES];
	char hexkey[2 * VAULT_KEY_BYTES + 1], id[2 * ID_BYTES + 1], check[2 * CHECK_BYTES + 1];
	const char *force = getenv("MIMIC_KEY_STORE");
	char *dir = NULL, *path = NULL, *text = NULL, *tmp = NULL, *why = NULL;
	const char *store = "file";
	json_t *o = NULL;
	int rc;

	randombytes_buf(key, sizeof(key));
	randombytes_buf(idb, sizeof(idb));
	sodium_bin2hex(hexkey, sizeof(hexkey), key, sizeof(key));
	sodium_bin2hex(id, sizeof(id), idb, sizeof(idb));
	key_check(key, check);

	if ((force == NULL || strcmp(force, "file") != 0) && bus_configured() &&
	    keyring_store(id, hexkey) == 0) {
		store = "keyring";
	} else {
		rc = key_dir(&dir, cause);
		if (rc != 0)
			goto fail;
		rc = paths_mkdir_p(dir, NULL);
		if (rc != 0) {
			rc = util_fail(cause, rc, "cannot create %s for the encryption key: %s", dir,
			               strerror(-rc));
			goto fail;
		}
		path = util_xasprintf("%s/%s.key", dir, id);
		rc = file_write_key(path, hexkey);
		if (rc != 0) {
			rc = util_fail(cause, rc, "cannot write the encryption key %s: %s", path,
			               strerror(-rc));
			goto fail;
		}
	}
	o = json_pack("{s:i,s:s,s:s,s:s}", "v", 1, "id", id, "store", store, "check", check);
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	tmp = util_xasprintf("%s\n", text);
	/*
	 * A new 0600 file linked into place: a key.id another process made meanwhile
	 * is never replaced (-EEXIST, without a cause: the caller reads that one).
	 */
	rc = paths_write_file(id_path, tmp, strlen(tmp), 0, &why);
	if (rc != 0) {
		if (path != NULL)
			unlink(path);
		if (rc != -EEXIST)
			rc = util_fail(cause, rc, "%s", why);
		free(why);
		goto fail;
	}
	*out = vault_kept(key, path);
	log_info("vault: made a new encryption key for %s", data_dir);
	rc = 0;
fail:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hexkey, sizeof(hexkey));
	json_decref(o);
	free(text);
	free(tmp);
	free(dir);
	free(path);
	return rc;
}

int vault_open(const char *data_dir, unsigned flags, struct vault **out, char **cause)
{
	char hexkey[2 * VAULT_KEY_BYTES + 1], check[2 * CHECK_BYTES + 1];
	uint8_t key[VAULT_KEY_BYTES];
	char *id_path, *dir = NULL, *path = NULL, *why = NULL;
	const char *id, *store, *want;
	json_error_t jerr;
	json_t *o = NULL;
	int rc;

	*out = NULL;
	if (sodium_init() < 0)
		return util_fail(cause, -EIO, "cannot start libsodium");
	id_path = util_xasprintf("%s/%s", data_dir, VAULT_ID_FILE);
	if (access(id_path, F_OK) != 0) {
		if (errno == ENOENT && (flags & VAULT_CREATE)) {
			rc = create_key(data_dir, id_path, out, cause);
			if (rc != -EEXIST)
				goto fail;
			/* Another process made the key first: use theirs. */
		} else {
			rc = util_fail(cause, errno == ENOENT ? -ENOENT : -EACCES,
		               "%s has no encryption key yet (no %s): record a session first",
		               data_dir, VAULT_ID_FILE);
			goto fail;
		}
	}
	o = json_load_file(id_path, 0, &jerr);
	id = json_string_value(json_object_get(o, "id"));
	store = json_string_value(json_object_get(o, "store"));
	want = json_string_value(json_object_get(o, "check"));
	if (o == NULL || id == NULL || store == NULL || want == NULL ||
	    strlen(id) != 2 * ID_BYTES || strspn(id, "0123456789abcdef") != 2 * ID_BYTES) {
		rc = util_fail(cause, -EIO, "%s is damaged: the encryption key of %s cannot be "
		               "found without it", id_path, data_dir);
		goto fail;
	}
	if (strcmp(store, "keyring") == 0) {
		rc = keyring_lookup(id, hexkey, &why);
		if (rc != 0) {
			rc = util_fail(cause, -ENOKEY, "the encryption key of %s is in the desktop "
			               "keyring, which %s%s%s: unlock the keyring in a desktop session",
			               data_dir, rc == -ENOKEY ? "does not hold it" : "cannot be reached",
			               why ? " - " : "", why ? why : "");
			goto fail;
		}
	} else {
		rc = key_dir(&dir, cause);
		if (rc != 0)
			goto fail;
		path = util_xasprintf("%s/%s.key", dir, id);
		rc = file_read_key(path, hexkey);
		if (rc == -EPERM) {
			rc = util_fail(cause, -EPERM, "the encryption key %s is readable by other "
			               "users; fix it with `chmod 600 %s`", path, path);
			goto fail;
		}
		if (rc != 0) {
			rc = util_fail(cause, -ENOKEY, "the encryption key of %s is missing (%s: %s); "
			               "without it the recorded data cannot be read", data_dir, path,
			               rc == -ENOKEY ? "too short" : strerror(-rc));
			goto fail;
		}
	}
	if (sodium_hex2bin(key, sizeof(key), hexkey, 2 * VAULT_KEY_BYTES, NULL, NULL, NULL) != 0) {
		rc = util_fail(cause, -EKEYREJECTED, "the encryption key of %s (%s) is not 64 hex "
		               "digits", data_dir, path ? path : "desktop keyring");
		goto fail;
	}
	key_check(key, check);
	if (strcmp(check, want) != 0) {
		rc = util_fail(cause, -EKEYREJECTED, "the encryption key in %s is not the key of %s "
		               "(check value differs): restore the right key", path ? path :
		               "the desktop keyring", data_dir);
		goto fail;
	}
	*out = vault_kept(key, path);
	rc = 0;
fail:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hexkey, sizeof(hexkey));
	json_decref(o);
	free(why);
	free(dir);
	free(path);
	free(id_path);
	return rc;
}
