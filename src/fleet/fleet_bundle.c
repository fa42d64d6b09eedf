/*
 * fleet_bundle: sealing a session's export into one bundle and opening it again
 * (fleet_bundle.h). Memory stays bounded by one 64 KiB chunk whatever the size of
 * the export: the plaintext is streamed through libsodium's secretstream.
 */
#include "fleet_bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "fleet_proto.h"
#include "paths.h"
#include "util.h"

#define MAGIC "MIMICBN1"
#define MAGIC_LEN 8
#define CHUNK (64 * 1024)
#define SEALED_KEY_LEN (crypto_box_SEALBYTES + crypto_secretstream_xchacha20poly1305_KEYBYTES)

void fleet_bundle_keypair(unsigned char pk[FLEET_BOX_PK_BYTES], unsigned char sk[FLEET_BOX_SK_BYTES])
{
	crypto_box_keypair(pk, sk);
}

int fleet_bundle_is_hash(const char *s)
{
	size_t i;
	if (s == NULL)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 64;
}

int fleet_bundle_is_session(const char *s)
{
	size_t i;
	if (s == NULL)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-' || s[i] == '_'))
			return 0;
	return i >= 1 && i <= FLEET_SESSION_MAX;
}

static int is_name(const char *s)
{
	size_t i;
	if (s == NULL || s[0] == '.' || s[0] == '\0')
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return 0;
	return i <= FLEET_BUNDLE_NAME_MAX;
}

/* The writing side: plaintext is gathered into CHUNK bytes, then encrypted. */
struct sealer {
	FILE *out;
	crypto_secretstream_xchacha20poly1305_state st;
	unsigned char buf[CHUNK];
	size_t n;
	uint64_t written, max;
	crypto_hash_sha256_state h;
};

static int sealer_emit(struct sealer *s, unsigned char tag)
{
	unsigned char c[CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES];
	unsigned long long clen;

	crypto_secretstream_xchacha20poly1305_push(&s->st, c, &clen, s->buf, s->n, NULL, 0, tag);
	s->n = 0;
	if (s->max != 0 && s->written + clen > s->max)
		return -E2BIG;
	if (fwrite(c, 1, (size_t)clen, s->out) != clen)
		return -EIO;
	crypto_hash_sha256_update(&s->h, c, clen);
	s->written += clen;
	return 0;
}

static int sealer_add(struct sealer *s, const void *p, size_t len)
{
	const unsigned char *b = p;
	int r;
	while (len > 0) {
		size_t k = CHUNK - s->n < len ? CHUNK - s->n : len;
		memcpy(s->buf + s->n, b, k);
		s->n += k;
		b += k;
		len -= k;
		if (s->n == CHUNK && (r = sealer_emit(s, 0)) != 0)
			return r;
	}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the regular, non-hidden files of dir, sorted. */
static int list_dir(const char *dir, char ***names, size_t *n, char **cause)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (d == NULL)
		return util_fail(cause, -errno, "cannot read export directory %s: %s", dir,
		                 strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (!is_name(e->d_name)) {
			closedir(d);
			return util_fail(cause, -EINVAL, "%s/%s: a file name a bundle cannot hold",
			                 dir, e->d_name);
		}
		if (*n == FLEET_BUNDLE_FILES_MAX) {
			closedir(d);
			return util_fail(cause, -E2BIG, "%s holds more than %d files", dir,
			                 FLEET_BUNDLE_FILES_MAX);
		}
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*names = util_xrealloc(*names, cap * sizeof **names);
		}
		(*names)[(*n)++] = util_xstrdup(e->d_name);
	}
	closedir(d);
	qsort(*names, *n, sizeof **names, name_cmp);
	return 0;
}

int fleet_bundle_seal_dir(const char *dir, const char *out,
                          const unsigned char pk[FLEET_BOX_PK_BYTES], uint64_t max_bytes,
                          char hash[65], uint64_t *size, char **cause)
{
	struct sealer *s = util_xcalloc(1, sizeof *s);
	unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	unsigned char sealed[SEALED_KEY_LEN];
	unsigned char hdr[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
	unsigned char digest[crypto_hash_sha256_BYTES];
	char **names = NULL;
	size_t n = 0;
	int fd = -1, r;
	FILE *in = NULL;

	r = list_dir(dir, &names, &n, cause);
	if (r != 0)
		goto fail;
	fd = paths_create_file(out, O_WRONLY, cause);
	if (fd < 0) {
		r = fd;
		goto fail;
	}
	s->out = fdopen(fd, "wb");
	if (s->out == NULL) {
		r = util_fail(cause, -errno, "cannot write %s: %s", out, strerror(errno));
		close(fd);
		goto fail_rm;
	}
	s->max = max_bytes;
	crypto_hash_sha256_init(&s->h);
	crypto_secretstream_xchacha20poly1305_keygen(key);
	crypto_box_seal(sealed, key, sizeof key, pk);
	crypto_secretstream_xchacha20poly1305_init_push(&s->st, hdr, key);
	sodium_memzero(key, sizeof key);
	if (fwrite(MAGIC, 1, MAGIC_LEN, s->out) != MAGIC_LEN ||
	    fwrite(sealed, 1, sizeof sealed, s->out) != sizeof sealed ||
	    fwrite(hdr, 1, sizeof hdr, s->out) != sizeof hdr) {
		r = util_fail(cause, -EIO, "cannot write %s: %s", out, strerror(errno));
		goto fail_rm;
	}
	crypto_hash_sha256_update(&s->h, (const unsigned char *)MAGIC, MAGIC_LEN);
	crypto_hash_sha256_update(&s->h, sealed, sizeof sealed);
	crypto_hash_sha256_update(&s->h, hdr, sizeof hdr);
	s->written = MAGIC_LEN + sizeof sealed + sizeof hdr;
	for (size_t i = 0; i < n; i++) {
		char *path = util_xasprintf("%s/%s", dir, names[i]);
		unsigned char head[1 + 2 + FLEET_BUNDLE_NAME_MAX + 8], buf[CHUNK];
		uint16_t nl = (uint16_t)strlen(names[i]);
		struct stat st;
		size_t k, hl = 0;

		in = fopen(path, "rb");
		free(path);
		if (in == NULL || fstat(fileno(in), &st) != 0 || !S_ISREG(st.st_mode)) {
			r = util_fail(cause, in == NULL ? -errno : -EINVAL,
			              "cannot read %s/%s: not a readable regular file", dir, names[i]);
			goto fail_rm;
		}
		head[hl++] = 'F';
		head[hl++] = (unsigned char)(nl >> 8);
		head[hl++] = (unsigned char)nl;
		memcpy(head + hl, names[i], nl);
		hl += nl;
		for (int b = 7; b >= 0; b--)
			head[hl++] = (unsigned char)((uint64_t)st.st_size >> (8 * b));
		if ((r = sealer_add(s, head, hl)) != 0)
			goto fail_io;
		uint64_t left = (uint64_t)st.st_size;
		while (left > 0 && (k = fread(buf, 1, left < sizeof buf ? left : sizeof buf, in)) > 0) {
			if ((r = sealer_add(s, buf, k)) != 0)
				goto fail_io;
			left -= k;
		}
		if (left != 0) {
			r = util_fail(cause, -EIO, "%s/%s changed while it was sealed", dir, names[i]);
			goto fail_rm;
		}
		fclose(in);
		in = NULL;
	}
	if ((r = sealer_add(s, "E", 1)) != 0 ||
	    (r = sealer_emit(s, crypto_secretstream_xchacha20poly1305_TAG_FINAL)) != 0)
		goto fail_io;
	if (fflush(s->out) != 0 || fsync(fileno(s->out)) != 0) {
		r = util_fail(cause, -EIO, "cannot write %s: %s", out, strerror(errno));
		goto fail_rm;
	}
	fclose(s->out);
	s->out = NULL;
	crypto_hash_sha256_final(&s->h, digest);
	fleet_proto_hex(digest, sizeof digest, hash);
	*size = s->written;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	sodium_memzero(s, sizeof *s);
	free(s);
	return 0;

fail_io:
	if (r == -E2BIG)
		util_fail(cause, r, "the bundle of %s is larger than the cap of %llu bytes", dir,
		          (unsigned long long)max_bytes);
	else
		util_fail(cause, r, "cannot write %s: %s", out, strerror(-r));
fail_rm:
	if (in != NULL)
		fclose(in);
	if (s->out != NULL)
		fclose(s->out);
	unlink(out);
fail:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	sodium_memzero(s, sizeof *s);
	free(s);
	return r;
}

/* The reading side: decrypted plaintext is handed out from one chunk at a time. */
struct opener {
	FILE *in;
	crypto_secretstream_xchacha20poly1305_state st;
	unsigned char buf[CHUNK];
	size_t n, pos;
	int final;
};

/* Reads exactly len plaintext bytes. 0, -EBADMSG (cut or changed), -EINVAL (past the end). */
static int opener_read(struct opener *o, void *p, size_t len)
{
	unsigned char c[CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES];
	unsigned char *b = p;
	while (len > 0) {
		if (o->pos == o->n) {
			unsigned long long mlen;
			unsigned char tag;
			size_t k;
			if (o->final)
				return -EINVAL;
			k = fread(c, 1, sizeof c, o->in);
			if (k < crypto_secretstream_xchacha20poly1305_ABYTES)
				return -EBADMSG;
			if (crypto_secretstream_xchacha20poly1305_pull(&o->st, o->buf, &mlen, &tag, c,
			                                               k, NULL, 0) != 0)
				return -EBADMSG;
			if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
				o->final = 1;
			else if (k != sizeof c)
				return -EBADMSG;
			o->n = (size_t)mlen;
			o->pos = 0;
			continue;
		}
		size_t k = o->n - o->pos < len ? o->n - o->pos : len;
		memcpy(b, o->buf + o->pos, k);
		o->pos += k;
		b += k;
		len -= k;
	}
	return 0;
}

int fleet_bundle_open(const char *in_path, const unsigned char pk[FLEET_BOX_PK_BYTES],
                      const unsigned char sk[FLEET_BOX_SK_BYTES], const char *outdir,
                      const char *prefix, int *files, char **cause)
{
	struct opener *o = util_xcalloc(1, sizeof *o);
	unsigned char magic[MAGIC_LEN], sealed[SEALED_KEY_LEN];
	unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
	unsigned char hdr[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
	char **made = NULL;
	int nmade = 0, r = 0, fd = -1;
	FILE *out = NULL;

	*files = 0;
	o->in = fopen(in_path, "rb");
	if (o->in == NULL) {
		r = util_fail(cause, -errno, "cannot read bundle %s: %s", in_path, strerror(errno));
		goto done;
	}
	if (fread(magic, 1, sizeof magic, o->in) != sizeof magic ||
	    memcmp(magic, MAGIC, MAGIC_LEN) != 0 ||
	    fread(sealed, 1, sizeof sealed, o->in) != sizeof sealed ||
	    fread(hdr, 1, sizeof hdr, o->in) != sizeof hdr) {
		r = util_fail(cause, -EBADMSG, "%s is not a mimic bundle", in_path);
		goto done;
	}
	if (crypto_box_seal_open(key, sealed, sizeof sealed, pk, sk) != 0 ||
	    crypto_secretstream_xchacha20poly1305_init_pull(&o->st, hdr, key) != 0) {
		r = util_fail(cause, -EBADMSG, "bundle %s is not sealed to this dataset key", in_path);
		goto done;
	}
	sodium_memzero(key, sizeof key);
	for (;;) {
		unsigned char t, nl[2], sz[8], buf[CHUNK];
		char name[FLEET_BUNDLE_NAME_MAX + 1];
		uint64_t size = 0;
		size_t len;

		if ((r = opener_read(o, &t, 1)) != 0)
			goto bad;
		if (t == 'E')
			break;
		if (t != 'F' || (r = opener_read(o, nl, 2)) != 0)
			goto bad_fmt;
		len = (size_t)nl[0] << 8 | nl[1];
		if (len == 0 || len > FLEET_BUNDLE_NAME_MAX || (r = opener_read(o, name, len)) != 0)
			goto bad_fmt;
		name[len] = '\0';
		if (!is_name(name) || nmade == FLEET_BUNDLE_FILES_MAX)
			goto bad_fmt;
		if ((r = opener_read(o, sz, 8)) != 0)
			goto bad;
		for (int b = 0; b < 8; b++)
			size = size << 8 | sz[b];
		char *path = util_xasprintf("%s/%s%s", outdir, prefix ? prefix : "", name);
		fd = paths_create_file(path, O_WRONLY, cause);
		if (fd < 0) {
			free(path);
			r = fd;
			goto done;
		}
		made = util_xrealloc(made, (size_t)(nmade + 1) * sizeof *made);
		made[nmade++] = path;
		out = fdopen(fd, "wb");
		if (out == NULL) {
			close(fd);
			r = util_fail(cause, -EIO, "cannot write %s", path);
			goto done;
		}
		while (size > 0) {
			size_t k = size < sizeof buf ? (size_t)size : sizeof buf;
			if ((r = opener_read(o, buf, k)) != 0)
				goto bad;
			if (fwrite(buf, 1, k, out) != k) {
				r = util_fail(cause, -EIO, "cannot write %s: %s", path, strerror(errno));
				goto done;
			}
			size -= k;
		}
		if (fclose(out) != 0) {
			out = NULL;
			r = util_fail(cause, -EIO, "cannot write %s", path);
			goto done;
		}
		out = NULL;
	}
	/* Anything after the end marker, or no FINAL tag, is a changed bundle. */
	if (o->pos != o->n || !o->final || fgetc(o->in) != EOF) {
		r = util_fail(cause, -EBADMSG, "bundle %s was changed: bytes after its end", in_path);
		goto done;
	}
	*files = nmade;
	goto done;

bad:
	if (r == -EBADMSG) {
		r = util_fail(cause, r, "bundle %s was cut or changed: it does not open", in_path);
		goto done;
	}
bad_fmt:
	r = util_fail(cause, -EINVAL, "bundle %s is malformed inside", in_path);
done:
	if (out != NULL)
		fclose(out);
	if (o->in != NULL)
		fclose(o->in);
	for (int i = 0; i < nmade; i++) {
		if (r != 0)
			unlink(made[i]);
		free(made[i]);
	}
	free(made);
	sodium_memzero(o, sizeof *o);
	free(o);
	return r;
}

int fleet_bundle_hash_file(const char *path, char hash[65], uint64_t *size, char **cause)
{
	crypto_hash_sha256_state h;
	unsigned char buf[CHUNK], d[crypto_hash_sha256_BYTES];
	uint64_t total = 0;
	size_t k;
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		return util_fail(cause, -errno, "cannot read %s: %s", path, strerror(errno));
	crypto_hash_sha256_init(&h);
	while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
		crypto_hash_sha256_update(&h, buf, k);
		total += k;
	}
	if (ferror(f)) {
		fclose(f);
		return util_fail(cause, -EIO, "cannot read %s", path);
	}
	fclose(f);
	crypto_hash_sha256_final(&h, d);
	fleet_proto_hex(d, sizeof d, hash);
	*size = total;
	return 0;
}

int fleet_manifest_parse(const char *json, size_t len, struct fleet_manifest *out, char **cause)
{
	json_error_t e;
	json_t *o, *v;
	int r = -EINVAL;

	memset(out, 0, sizeof *out);
	if (len > FLEET_JSON_MAX)
		return util_fail(cause, -E2BIG, "the manifest is larger than %d bytes", FLEET_JSON_MAX);
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return util_fail(cause, -EINVAL, "the manifest is not a JSON object");
	}
	v = json_object_get(o, "v");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		util_fail(cause, r, "the manifest's \"v\" is not 1 (upgrade the collector)");
		goto done;
	}
	v = json_object_get(o, "bundle");
	if (!json_is_string(v) || !fleet_bundle_is_hash(json_string_value(v))) {
		util_fail(cause, r, "the manifest's \"bundle\" is not a SHA-256 in lower-case hex");
		goto done;
	}
	memcpy(out->bundle, json_string_value(v), 65);
	v = json_object_get(o, "size");
	if (!json_is_integer(v) || json_integer_value(v) <= 0) {
		util_fail(cause, r, "the manifest's \"size\" is not a positive integer");
		goto done;
	}
	out->size = (uint64_t)json_integer_value(v);
	v = json_object_get(o, "session");
	if (!json_is_string(v) || !fleet_bundle_is_session(json_string_value(v))) {
		util_fail(cause, r, "the manifest's \"session\" is not a session id "
		          "([A-Za-z0-9_-], at most %d)", FLEET_SESSION_MAX);
		goto done;
	}
	strcpy(out->session, json_string_value(v));
	r = 0;
done:
	json_decref(o);
	return r;
}

char *fleet_manifest_json(const struct fleet_manifest *m)
{
	return util_xasprintf("{\"v\":1,\"bundle\":\"%s\",\"size\":%llu,\"session\":\"%s\"}",
	                      m->bundle, (unsigned long long)m->size, m->session);
}
