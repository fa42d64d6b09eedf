/*
 * fleet_proto: signing and checking of device requests (fleet_proto.h): the
 * message is built the same way on both ends, and every header value is checked
 * for shape before any cryptography runs on it.
 */
#include "fleet_proto.h"

#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "paths.h"
#include "testbreak.h"
#include "util.h"

int fleet_proto_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

void fleet_proto_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int fleet_proto_unhex(const char *hex, unsigned char *out, size_t n)
{
	if (hex == NULL || strlen(hex) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

void fleet_proto_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, data == NULL ? (const unsigned char *)"" : data, len);
	fleet_proto_hex(h, sizeof h, out);
}

void fleet_proto_keypair(unsigned char pk[FLEET_PK_BYTES], unsigned char sk[FLEET_SK_BYTES])
{
	crypto_sign_keypair(pk, sk);
}

void fleet_proto_device_id(const unsigned char pk[FLEET_PK_BYTES], char out[FLEET_DEVICE_ID_SIZE])
{
	unsigned char h[16];
	crypto_generichash(h, sizeof h, pk, FLEET_PK_BYTES, NULL, 0);
	out[0] = 'd';
	fleet_proto_hex(h, sizeof h, out + 1);
}

/* The signed message; 0, or -EINVAL when a part is too long. */
static int message(char *buf, size_t size, const char *method, const char *path,
                   const char *device, const char *time, const char *nonce, const void *body,
                   size_t len, size_t *outlen)
{
	char bh[65];
	int n;

	if (strlen(method) > 16 || strlen(path) > FLEET_PATH_MAX)
		return -EINVAL;
	fleet_proto_sha256_hex(body, len, bh);
	n = snprintf(buf, size, "mimic-request-v1\n%s\n%s\n%s\n%s\n%s\n%s", method, path, device,
	             time, nonce, bh);
	if (n < 0 || (size_t)n >= size)
		return -EINVAL;
	*outlen = (size_t)n;
	return 0;
}

int fleet_proto_sign(const unsigned char sk[FLEET_SK_BYTES], const char *device,
                     const char *method, const char *path, const void *body, size_t len,
                     int64_t now_s, struct fleet_sig *out)
{
	char msg[FLEET_PATH_MAX + 256];
	unsigned char nonce[FLEET_NONCE_HEX / 2], sig[FLEET_SIG_BYTES];
	size_t mlen;
	int r;

	memset(out, 0, sizeof *out);
	if (strlen(device) >= sizeof out->device)
		return -EINVAL;
	memcpy(out->device, device, strlen(device) + 1);
	snprintf(out->time, sizeof out->time, "%lld", (long long)now_s);
	randombytes_buf(nonce, sizeof nonce);
	fleet_proto_hex(nonce, sizeof nonce, out->nonce);
	r = message(msg, sizeof msg, method, path, out->device, out->time, out->nonce, body, len,
	            &mlen);
	if (r != 0)
		return r;
	crypto_sign_detached(sig, NULL, (const unsigned char *)msg, mlen, sk);
	fleet_proto_hex(sig, sizeof sig, out->sig);
	return 0;
}

static int is_device_id(const char *s)
{
	if (s == NULL || s[0] != 'd' || strlen(s) != FLEET_DEVICE_ID_SIZE - 1)
		return 0;
	for (const char *p = s + 1; *p; p++)
		if (hexval(*p) < 0)
			return 0;
	return 1;
}

int fleet_proto_parse(const char *device, const char *time, const char *nonce,
                      const char *sig, struct fleet_req *out, char **cause)
{
	unsigned char nb[FLEET_NONCE_HEX / 2];
	char *end;
	long long t;

	memset(out, 0, sizeof *out);
	if (device == NULL)
		return util_fail(cause, -EINVAL, "the request is not signed: no X-Mimic-Device "
		                 "header (enrol the device with `mimic enroll`)");
	if (!is_device_id(device))
		return util_fail(cause, -EINVAL, "malformed X-Mimic-Device header: a device id is "
		                 "\"d\" and 32 hex digits");
	memcpy(out->device, device, FLEET_DEVICE_ID_SIZE);
	if (time == NULL || time[0] < '0' || time[0] > '9' || strlen(time) > 19)
		return util_fail(cause, -EINVAL, "missing or malformed X-Mimic-Time header: Unix "
		                 "seconds expected");
	errno = 0;
	t = strtoll(time, &end, 10);
	if (errno != 0 || *end != '\0')
		return util_fail(cause, -EINVAL, "malformed X-Mimic-Time header: Unix seconds "
		                 "expected");
	out->time = t;
	if (fleet_proto_unhex(nonce, nb, sizeof nb) != 0)
		return util_fail(cause, -EINVAL, "missing or malformed X-Mimic-Nonce header: %d "
		                 "lower-case hex digits expected", FLEET_NONCE_HEX);
	memcpy(out->nonce, nonce, FLEET_NONCE_HEX + 1);
	if (fleet_proto_unhex(sig, out->sig, sizeof out->sig) != 0)
		return util_fail(cause, -EINVAL, "missing or malformed X-Mimic-Signature header: %d "
		                 "lower-case hex digits expected", FLEET_SIG_HEX);
	return 0;
}

int fleet_proto_verify(const unsigned char pk[FLEET_PK_BYTES], const struct fleet_req *req,
                       const char *method, const char *path, const void *body, size_t len,
                       int64_t now_s, char **cause)
{
	char msg[FLEET_PATH_MAX + 256], id[FLEET_DEVICE_ID_SIZE], ts[24];
	size_t mlen;

	fleet_proto_device_id(pk, id);
	if (strcmp(id, req->device) != 0)
		return util_fail(cause, -EINVAL, "the device id does not match its key");
	if (req->time < now_s - FLEET_WINDOW_S || req->time > now_s + FLEET_WINDOW_S)
		return util_fail(cause, -ETIME, "the request's time is %lld s from the collector's "
		                 "clock (at most %d s allowed): set the device's clock (NTP) or "
		                 "stop replaying old requests", (long long)(req->time - now_s),
		                 FLEET_WINDOW_S);
	snprintf(ts, sizeof ts, "%lld", (long long)req->time);
	if (message(msg, sizeof msg, method, path, req->device, ts, req->nonce, body, len,
	            &mlen) != 0)
		return util_fail(cause, -EINVAL, "the request's path is longer than %d bytes",
		                 FLEET_PATH_MAX);
	if (testbreak("fleet-accept-bad-signature"))
		return 0;
	if (crypto_sign_verify_detached(req->sig, (const unsigned char *)msg, mlen, pk) != 0)
		return util_fail(cause, -EBADMSG, "the request's signature does not match: it was "
		                 "changed on the way or signed with another key");
	return 0;
}

int fleet_proto_key_save(const char *path, const unsigned char *key, size_t n, char **cause)
{
	char *hex = util_xmalloc(2 * n + 2);
	int r;

	fleet_proto_hex(key, n, hex);
	hex[2 * n] = '\n';
	r = paths_write_file(path, hex, 2 * n + 1, 0, cause);
	sodium_memzero(hex, 2 * n + 2);
	free(hex);
	return r;
}

int fleet_proto_key_load(const char *path, unsigned char *key, size_t n, int private_,
                         char **cause)
{
	char buf[260];
	struct stat st;
	size_t k;
	int r = 0;
	FILE *f = fopen(path, "re");

	if (f == NULL)
		return util_fail(cause, -errno, "cannot read key file %s: %s", path, strerror(errno));
	if (private_ && fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0) {
		fclose(f);
		return util_fail(cause, -EPERM, "key file %s may be read by others: chmod 600 %s",
		                 path, path);
	}
	k = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[k] = '\0';
	if (k > 0 && buf[k - 1] == '\n')
		buf[--k] = '\0';
	if (2 * n + 1 > sizeof buf || fleet_proto_unhex(buf, key, n) != 0)
		r = util_fail(cause, -EINVAL, "%s is not a key file of %zu bytes (%zu hex digits)",
		              path, n, 2 * n);
	sodium_memzero(buf, sizeof buf);
	return r;
}
