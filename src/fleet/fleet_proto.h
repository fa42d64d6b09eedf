/*
 * fleet_proto: how a device and the collector trust each other's requests
 * (docs/FLEET.md, "Enrolment and keys").
 *
 * Each device holds its own Ed25519 key pair (libsodium). Its device id is
 * "d" followed by 32 hex digits of the BLAKE2b-128 hash of its public key, so an
 * id names one key and nothing about the person. Every request after enrolment
 * carries four headers: X-Mimic-Device (the id), X-Mimic-Time (Unix seconds),
 * X-Mimic-Nonce (32 hex digits, random) and X-Mimic-Signature (128 hex digits),
 * the signature over
 *
 *   "mimic-request-v1\n" METHOD "\n" PATH "\n" DEVICE "\n" TIME "\n" NONCE "\n"
 *   SHA-256(body) in hex
 *
 * so that neither the target, the time, the nonce nor one byte of the body can be
 * changed without the signature failing. The collector accepts a request only
 * within FLEET_WINDOW_S of its own clock and only once per (device, nonce): the
 * replay window (the nonces are remembered by the collector's catalog).
 *
 * Nothing here does I/O but fleet_proto_key_save and fleet_proto_key_load, the
 * one format of every key file of the fleet (hex digits and a newline, 0600).
 */
#ifndef MIMIC_FLEET_PROTO_H
#define MIMIC_FLEET_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define FLEET_PK_BYTES 32
#define FLEET_SK_BYTES 64
#define FLEET_SIG_BYTES 64
/* "d" + 32 hex digits + NUL. */
#define FLEET_DEVICE_ID_SIZE 34
#define FLEET_NONCE_HEX 32
#define FLEET_SIG_HEX 128
/* Seconds a signed request stays valid either side of the collector's clock. */
#define FLEET_WINDOW_S 300
/* Longest path (with query) a signed request may name. */
#define FLEET_PATH_MAX 512
/* Largest body of any request: one upload chunk plus slack. */
#define FLEET_CHUNK_BYTES (1024 * 1024)
#define FLEET_BODY_MAX (FLEET_CHUNK_BYTES + 4096)
/* Largest JSON body of a request that is not a chunk (enrolment, manifest). */
#define FLEET_JSON_MAX 8192

/* The four signature headers of one request, as text. */
struct fleet_sig {
	char device[FLEET_DEVICE_ID_SIZE];
	char time[24];
	char nonce[FLEET_NONCE_HEX + 1];
	char sig[FLEET_SIG_HEX + 1];
};

/* The values fleet_proto_parse found in a request's headers. */
struct fleet_req {
	char device[FLEET_DEVICE_ID_SIZE];
	int64_t time;
	char nonce[FLEET_NONCE_HEX + 1];
	unsigned char sig[FLEET_SIG_BYTES];
};

/* Initialises libsodium; 0, or -EIO when it cannot be. Safe to call more than once. */
int fleet_proto_init(void);

/* Makes a new device key pair. */
void fleet_proto_keypair(unsigned char pk[FLEET_PK_BYTES] /* OUT */,
                         unsigned char sk[FLEET_SK_BYTES] /* OUT */);

/* Writes the device id of pk ("d" + 32 hex digits, NUL-terminated). */
void fleet_proto_device_id(const unsigned char pk[FLEET_PK_BYTES],
                           char out[FLEET_DEVICE_ID_SIZE] /* OUT */);

/*
 * Signs one request made at now_s (Unix seconds) with a fresh nonce: fills *out.
 * method and path must be at most FLEET_PATH_MAX bytes; body may be NULL when
 * len is 0. -EINVAL when they are longer.
 */
int fleet_proto_sign(const unsigned char sk[FLEET_SK_BYTES], const char *device,
                     const char *method, const char *path, const void *body, size_t len,
                     int64_t now_s, struct fleet_sig *out /* OUT */);

/*
 * Parses the four header values (any may be NULL: missing) into *out. -EINVAL with
 * a cause naming the header when one is missing or malformed (a device id that is
 * not "d" + 32 lower-case hex digits, a time that is not a decimal number, a
 * nonce or signature of the wrong length or not hex).
 */
int fleet_proto_parse(const char *device, const char *time, const char *nonce,
                      const char *sig, struct fleet_req *out /* OUT */, char **cause);

/*
 * Checks a parsed request against the device's public key at the collector's
 * clock now_s. Errors with a cause: -ETIME outside the window (the device's
 * clock, or a replay of an old request), -EBADMSG a signature that does not
 * match (tampered, or another key), -EINVAL the key does not match the device id.
 */
int fleet_proto_verify(const unsigned char pk[FLEET_PK_BYTES], const struct fleet_req *req,
                       const char *method, const char *path, const void *body, size_t len,
                       int64_t now_s, char **cause);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void fleet_proto_hex(const unsigned char *in, size_t n, char *out /* OUT */);

/* Parses exactly 2n hex digits into n bytes. 0 or -EINVAL. */
int fleet_proto_unhex(const char *hex, unsigned char *out /* OUT */, size_t n);

/* SHA-256 of data in hex (65 bytes with the NUL). */
void fleet_proto_sha256_hex(const void *data, size_t len, char out[65] /* OUT */);

/*
 * Writes n key bytes as hex and a newline to the new file path (0600; an
 * existing file is never replaced: -EEXIST). -errno with a cause.
 */
int fleet_proto_key_save(const char *path, const unsigned char *key, size_t n, char **cause);

/*
 * Reads a key file of exactly n bytes (2n hex digits, an optional newline).
 * -ENOENT / -EACCES, -EINVAL a file of another form, -EPERM a private key file
 * (private != 0) that others may read; with a cause naming the file.
 */
int fleet_proto_key_load(const char *path, unsigned char *key /* OUT */, size_t n, int private_,
                         char **cause);

#endif
