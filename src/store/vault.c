/*
 * vault: the per-data-directory key (desktop keyring or a 0600 key file) and
 * XChaCha20-Poly1305 sealing with it. See vault.h for the layout.
 */
#include "vault.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/*
 * The desktop keyring is reached through a child, mimic-keyring (src/cli/
 * keyring_main.c), installed beside the program: libsecret brings GLib, GIO,
 * D-Bus and gcrypt, about 3 MB of pages no recorder should carry for the one
 * look-up it makes at start. The child answers on its standard output (the key's
 * hex digits) and its exit status; a line on standard error says why it failed.
 */
#define KEYRING_EXE "mimic-keyring"
#define KEYRING_TIMEOUT_MS 30000   /* a keyring that asks for a password may wait */
#define KEYRING_OUT_MAX 128
#define KEYRING_ERR_MAX 512
enum { KEYRING_NO_KEY = 3, KEYRING_UNUSABLE = 4 };

extern char **environ;

/* Reads what fd has into buf (at most size - 1 bytes kept); 1 at end of file. */
static int drain_fd(int fd, char *buf, size_t size, size_t *len)
{
	char tmp[256];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : 1;
	if (n == 0)
		return 1;
	for (ssize_t i = 0; i < n && *len + 1 < size; i++)
		buf[(*len)++] = tmp[i];
	buf[*len] = '\0';
	sodium_memzero(tmp, sizeof(tmp));
	return 0;
}

/*
 * Runs `mimic-keyring op id` with input (or nothing) on its standard input; out
 * (KEYRING_OUT_MAX bytes) gets its standard output. Returns its exit status, or
 * KEYRING_UNUSABLE with *why set (the caller frees it) when it could not run,
 * failed or took too long.
 */
static int keyring_run(const char *op, const char *id, const char *input, char *out,
                       char **why)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int in[2] = { -1, -1 }, o[2] = { -1, -1 }, e[2] = { -1, -1 };
	char err[KEYRING_ERR_MAX] = "", *exe = NULL, *cause = NULL;
	char *argv[] = { (char *)KEYRING_EXE, (char *)op, (char *)id, NULL };
	size_t olen = 0, elen = 0;
	int64_t deadline = util_now_mono_ns() + (int64_t)KEYRING_TIMEOUT_MS * 1000000;
	int rc = KEYRING_UNUSABLE, status, open_o = 1, open_e = 1, fa_made = 0, attr_made = 0;
	pid_t pid = -1;

	out[0] = '\0';
	if (util_sibling_exe(KEYRING_EXE, &exe, &cause) != 0) {
		*why = cause;
		return KEYRING_UNUSABLE;
	}
	/* A socket, not a pipe, for the input: a child gone early is no SIGPIPE here. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 ||
	    pipe2(o, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0) {
		*why = util_xasprintf("cannot make pipes for %s: %s", exe, strerror(errno));
		goto fail;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		*why = util_xasprintf("cannot start %s", exe);
		goto fail;
	}
	fa_made = 1;
	/* The child starts with no signal blocked or ignored, whatever this thread has. */
	if (posix_spawnattr_init(&attr) != 0) {
		*why = util_xasprintf("cannot start %s", exe);
		goto fail;
	}
	attr_made = 1;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawn_file_actions_adddup2(&fa, in[1], 0);
	posix_spawn_file_actions_adddup2(&fa, o[1], 1);
	posix_spawn_file_actions_adddup2(&fa, e[1], 2);
	errno = posix_spawn(&pid, exe, &fa, &attr, argv, environ);
	if (errno != 0) {
		*why = util_xasprintf("cannot start %s: %s", exe, strerror(errno));
		pid = -1;
		goto fail;
	}
	close(in[1]);
	close(o[1]);
	close(e[1]);
	in[1] = o[1] = e[1] = -1;
	if (input != NULL)
		(void)send(in[0], input, strlen(input), MSG_NOSIGNAL);
	shutdown(in[0], SHUT_WR);
	while (open_o || open_e) {
		struct pollfd p[2] = { { o[0], POLLIN, 0 }, { e[0], POLLIN, 0 } };
		int64_t left = (deadline - util_now_mono_ns()) / 1000000;

		if (!open_o)
			p[0].fd = -1;
		if (!open_e)
			p[1].fd = -1;
		if (left <= 0) {
			kill(pid, SIGKILL);
			*why = util_xasprintf("%s did not answer in %d s", exe,
			                      KEYRING_TIMEOUT_MS / 1000);
			break;
		}
		if (poll(p, 2, (int)left) < 0 && errno != EINTR) {
			int saved = errno;

			kill(pid, SIGKILL);
			*why = util_xasprintf("cannot wait for %s: %s", exe, strerror(saved));
			break;
		}
		if (open_o && (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			open_o = !drain_fd(o[0], out, KEYRING_OUT_MAX, &olen);
		if (open_e && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			open_e = !drain_fd(e[0], err, sizeof(err), &elen);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	pid = -1;
	if (*why != NULL)
		goto fail;
	if (status != -1 && WIFEXITED(status) &&
	    (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == KEYRING_NO_KEY)) {
		rc = WEXITSTATUS(status);
	} else {
		err[strcspn(err, "\n")] = '\0';
		*why = util_xasprintf("%s", err[0] != '\0' ? err : "mimic-keyring failed");
	}
fail:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (fa_made)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_made)
		posix_spawnattr_destroy(&attr);
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (o[i] >= 0)
			close(o[i]);
		if (e[i] >= 0)
			close(e[i]);
	}
	if (rc != 0)
		sodium_memzero(out, KEYRING_OUT_MAX);
	free(exe);
	return rc;
}

static int keyring_store(const char *id, const char *hexkey)
{
	char out[KEYRING_OUT_MAX], *why = NULL;

	if (keyring_run("store", id, hexkey, out, &why) != 0) {
		log_info("vault: the desktop keyring is not usable (%s); using a key file",
		         why != NULL ? why : "unknown reason");
		free(why);
		return -ENOTSUP;
	}
	return 0;
}

/* Sets hexkey (65 bytes) from the keyring; -ENOKEY when absent, -EHOSTDOWN when unreachable. */
static int keyring_lookup(const char *id, char *hexkey, char **why)
{
	char out[KEYRING_OUT_MAX];
	int rc;

	if (!bus_configured()) {
		*why = util_xstrdup("no session bus is configured");
		return -EHOSTDOWN;
	}
	rc = keyring_run("lookup", id, NULL, out, why);
	if (rc == KEYRING_NO_KEY)
		return -ENOKEY;
	if (rc != 0)
		return -EHOSTDOWN;
	out[strcspn(out, "\n")] = '\0';
	if (strlen(out) != 2 * VAULT_KEY_BYTES)
		rc = -ENOKEY;
	else
		memcpy(hexkey, out, 2 * VAULT_KEY_BYTES + 1);
	sodium_memzero(out, sizeof(out));
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
