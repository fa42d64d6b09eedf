/*
 * upload: enrolment and the upload of sealed bundles (upload.h).
 */
#include "upload.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "fleet_bundle.h"
#include "fleet_device.h"
#include "fleet_proto.h"
#include "ipc.h"
#include "log.h"
#include "paths.h"
#include "policy.h"
#include "store.h"
#include "testbreak.h"
#include "util.h"

/* Largest answer read from the collector (a JSON object, or a signed policy). */
#define ANSWER_MAX (128 * 1024)
/* The longest wait between two tries. */
#define BACKOFF_MAX_MS 30000

void upload_opts_defaults(struct upload_opts *o)
{
	memset(o, 0, sizeof(*o));
	export_opts_defaults(&o->export_);
	o->export_.format = EXPORT_WEBDATASET;
	o->delay_ms = POLICY_UPLOAD_DELAY_MS;
	o->spool_max = POLICY_SPOOL_MAX;
	o->chunk_bytes = FLEET_CHUNK_BYTES;
	o->attempts = 5;
	o->retry_base_ms = 1000;
}

/* ---- the HTTP client ---------------------------------------------------------- */

struct client {
	CURL *curl;
	char url[FLEET_URL_MAX];
	char ca[FLEET_CA_MAX];
	char device[FLEET_DEVICE_ID_SIZE];
	unsigned char sk[FLEET_SK_BYTES];
	int have_key;
	int curl_inited;   /* curl_global_init succeeded: client_close undoes it */
};

struct answer {
	long status;
	char *body;     /* NUL-terminated */
	size_t len;
	int too_long;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t len = size * n;

	if (a->len + len > ANSWER_MAX) {
		a->too_long = 1;
		return 0;
	}
	a->body = util_xrealloc(a->body, a->len + len + 1);
	memcpy(a->body + a->len, data, len);
	a->len += len;
	a->body[a->len] = '\0';
	return len;
}

/* 1 when url is https://, or http:// to a loopback host; sets *why otherwise. */
static int url_allowed(const char *url, const char **why)
{
	static const char *const loopback[] = { "http://127.", "http://localhost:",
	                                        "http://localhost/", "http://[::1]" };

	if (strncmp(url, "https://", 8) == 0 && url[8] != '\0' && url[8] != '/')
		return 1;
	if (strncmp(url, "http://", 7) == 0) {
		for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
			if (strncmp(url, loopback[i], strlen(loopback[i])) == 0 ||
			    strcmp(url, "http://localhost") == 0)
				return 1;
		*why = "plain http is allowed only to a loopback address; use https://";
		return 0;
	}
	*why = "it is not an https:// URL";
	return 0;
}

static int client_open(struct client *cl, const char *url, const char *ca, char **cause)
{
	const char *why = NULL;
	size_t n = strlen(url);

	memset(cl, 0, sizeof(*cl));
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof(cl->url) || !url_allowed(url, &why))
		return util_fail(cause, -EINVAL, "cannot use collector URL '%s': %s", url,
		                 why != NULL ? why : "too long");
	memcpy(cl->url, url, n);
	cl->url[n] = '\0';
	if (ca != NULL && strlen(ca) >= sizeof(cl->ca))
		return util_fail(cause, -EINVAL, "the CA file name %s is too long", ca);
	if (ca != NULL)
		snprintf(cl->ca, sizeof(cl->ca), "%s", ca);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return util_fail(cause, -EIO, "cannot start libcurl");
	cl->curl_inited = 1;
	cl->curl = curl_easy_init();
	if (cl->curl == NULL)
		return util_fail(cause, -ENOMEM, "cannot start libcurl");
	return 0;
}

static void client_close(struct client *cl)
{
	if (cl->curl != NULL)
		curl_easy_cleanup(cl->curl);
	if (cl->curl_inited)
		curl_global_cleanup();
	sodium_memzero(cl->sk, sizeof(cl->sk));
	cl->curl = NULL;
	cl->curl_inited = 0;
}

/*
 * One request. 0 when the collector answered (a->status is its HTTP status),
 * else the transport error with a cause: -EPROTO TLS, -EHOSTUNREACH otherwise.
 */
static int request(struct client *cl, const char *method, const char *path, const void *body,
                   size_t len, struct answer *a, char **cause)
{
	char *url = util_xasprintf("%s%s", cl->url, path), errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL;
	struct fleet_sig sig;
	CURLcode rc;
	int err = 0;

	memset(a, 0, sizeof(*a));
	curl_easy_reset(cl->curl);
	curl_easy_setopt(cl->curl, CURLOPT_URL, url);
	curl_easy_setopt(cl->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(cl->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cl->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(cl->curl, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(cl->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(cl->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(cl->curl, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(cl->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(cl->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(cl->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(cl->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (cl->ca[0] != '\0')
		curl_easy_setopt(cl->curl, CURLOPT_CAINFO, cl->ca);
	if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
		curl_easy_setopt(cl->curl, CURLOPT_POSTFIELDS, body != NULL ? body : "");
		curl_easy_setopt(cl->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	h = curl_slist_append(h, "Content-Type: application/octet-stream");
	h = curl_slist_append(h, "Expect:");
	if (cl->have_key) {
		char line[256];

		err = fleet_proto_sign(cl->sk, cl->device, method, path, body, len,
		                       util_now_wall_ns() / 1000000000, &sig);
		if (err != 0) {
			err = util_fail(cause, err, "cannot sign the request for %s", path);
			goto fail;
		}
		snprintf(line, sizeof(line), "X-Mimic-Device: %s", sig.device);
		h = curl_slist_append(h, line);
		snprintf(line, sizeof(line), "X-Mimic-Time: %s", sig.time);
		h = curl_slist_append(h, line);
		snprintf(line, sizeof(line), "X-Mimic-Nonce: %s", sig.nonce);
		h = curl_slist_append(h, line);
		snprintf(line, sizeof(line), "X-Mimic-Signature: %s", sig.sig);
		h = curl_slist_append(h, line);
	}
	curl_easy_setopt(cl->curl, CURLOPT_HTTPHEADER, h);
	rc = curl_easy_perform(cl->curl);
	if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
	    rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM) {
		err = util_fail(cause, -EPROTO, "TLS with %s failed: %s; %s", cl->url,
		                errbuf[0] ? errbuf : curl_easy_strerror(rc),
		                cl->ca[0] ? "is the collector's certificate signed by the CA in "
		                "the --ca file given at enrolment?" : "give the collector's CA with "
		                "--ca FILE");
	} else if (rc == CURLE_WRITE_ERROR && a->too_long) {
		err = util_fail(cause, -EIO, "the collector at %s sent an answer longer than %d "
		                "bytes", cl->url, ANSWER_MAX);
	} else if (rc != CURLE_OK) {
		err = util_fail(cause, -EHOSTUNREACH, "cannot reach the collector at %s: %s",
		                cl->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(cl->curl, CURLINFO_RESPONSE_CODE, &a->status);
		if (a->body == NULL)
			a->body = util_xstrdup("");
	}
fail:
	curl_slist_free_all(h);
	free(url);
	if (err != 0) {
		free(a->body);
		a->body = NULL;
	}
	return err;
}

/* The collector's refusal as one phrase: its "error" and "reason", or the status. */
static char *refusal(const struct answer *a)
{
	json_t *o = json_loads(a->body != NULL ? a->body : "", 0, NULL);
	const char *e = json_string_value(json_object_get(o, "error"));
	const char *r = json_string_value(json_object_get(o, "reason"));
	char *s;

	if (e != NULL)
		s = util_xasprintf("%s (HTTP %ld, %s)", e, a->status, r != NULL ? r : "no reason");
	else
		s = util_xasprintf("HTTP status %ld", a->status);
	json_decref(o);
	return s;
}

/* Network errors, 5xx (507 included) and 429 are worth another try; other answers are not. */
static int transient(int err, const struct answer *a)
{
	if (err != 0)
		return err == -EHOSTUNREACH;
	return a->status >= 500 || a->status == 429;
}

/* Sleeps ms milliseconds (interrupted sleeps go on). */
static void sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * request with retries: up to attempts tries while the failure is transient
 * (transient), waiting base * 2^try, at most BACKOFF_MAX_MS, times a random
 * factor in [0.5, 1.5) between them so that many devices do not come back at
 * once. Returns as request; a transient failure on the last try is its error (a
 * 5xx answer as -EAGAIN with the collector's refusal).
 */
static int request_retry(struct client *cl, const struct upload_opts *o, const char *method,
                         const char *path, const void *body, size_t len, struct answer *a,
                         char **cause)
{
	int64_t wait = o->retry_base_ms;
	int err = 0;

	for (int i = 0; i < o->attempts; i++) {
		char *why = NULL;

		if (i > 0) {
			int64_t ms = wait / 2 + (int64_t)randombytes_uniform((uint32_t)(wait + 1));
			log_info("upload: try %d of %d of %s in %" PRId64 " ms", i + 1, o->attempts,
			         method, ms);
			sleep_ms(ms);
			wait = wait * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : wait * 2;
		}
		err = request(cl, method, path, body, len, a, &why);
		if (!transient(err, a)) {
			if (err != 0)
				*cause = why;
			else
				free(why);
			return err;
		}
		if (i + 1 == o->attempts) {
			if (err == 0) {
				char *r = refusal(a);
				err = util_fail(cause, -EAGAIN, "the collector at %s is not taking "
				                "uploads now: %s; tried %d times, the next `mimic upload` "
				                "goes on", cl->url, r, o->attempts);
				free(r);
				free(a->body);
				a->body = NULL;
			} else {
				*cause = util_xasprintf("%s (tried %d times; the next `mimic upload` goes "
				                        "on)", why, o->attempts);
				free(why);
			}
			return err;
		}
		free(why);
		free(a->body);
		a->body = NULL;
	}
	return err;
}

/* ---- the collector's policy ------------------------------------------------------ */

/*
 * Fetches GET /v1/policy and hands it to fleet_device_policy_accept (verified with
 * the enrolment's key, no rollback, stored). A collector that distributes no
 * policy (404), or none the device can check (no policy key at enrolment), changes
 * nothing. Returns 0, or the refusal (-ENOKEY, -EBADMSG, -ESTALE, ...) with its one
 * line; a collector that cannot be reached or answers otherwise is -EHOSTUNREACH
 * or -EIO with a cause, and the last verified policy stays in force either way.
 */
static int fetch_policy(struct client *cl, const struct fleet_enrolment *e,
                        const char *data_dir, char **cause)
{
	struct answer a = { 0 };
	uint64_t serial = 0;
	int err;

	if (!e->has_policy_pk && !testbreak("device-policy-unverified"))
		return 0;
	err = request(cl, "GET", "/v1/policy", NULL, 0, &a, cause);
	if (err != 0)
		return err;
	if (a.status == 404) {
		free(a.body);
		return 0;
	}
	if (a.status != 200) {
		char *r = refusal(&a);
		err = util_fail(cause, -EIO, "collector policy: the collector at %s did not send it: "
		                "%s; the last verified policy stays in force", cl->url, r);
		free(r);
		free(a.body);
		return err;
	}
	err = fleet_device_policy_accept(data_dir, e, a.body, a.len, &serial, cause);
	if (err == 0)
		log_info("upload: the collector's policy serial %" PRIu64 " verified and stored",
		         serial);
	free(a.body);
	return err;
}

/* ---- enrolment ---------------------------------------------------------------- */

int upload_enroll(const char *data_dir, const char *url, const char *token, const char *ca,
                  char **device, char **cause)
{
	struct client cl = { 0 };
	struct fleet_enrolment e;
	struct answer a = { 0 };
	unsigned char pk[FLEET_PK_BYTES], sk[FLEET_SK_BYTES];
	char pkhex[2 * FLEET_PK_BYTES + 1], *dir = NULL, *keyp = NULL, *newp = NULL;
	char *ca_abs = NULL, *details = NULL;
	const char *dk, *pp, *dev;
	json_t *req = NULL, *o = NULL;
	char *body = NULL;
	int err;

	*device = NULL;
	memset(&e, 0, sizeof(e));
	if (ca != NULL) {
		ca_abs = realpath(ca, NULL);
		if (ca_abs == NULL)
			return util_fail(cause, -errno, "cannot read the CA file %s: %s", ca,
			                 strerror(errno));
	}
	err = client_open(&cl, url, ca_abs, cause);
	if (err != 0)
		goto fail;
	err = fleet_proto_init();
	if (err != 0) {
		err = util_fail(cause, err, "cannot start libsodium");
		goto fail;
	}
	dir = fleet_device_path(data_dir, NULL);
	err = paths_ensure_dir(dir, cause);
	if (err != 0)
		goto fail;
	/* A new key each enrolment: a revoked device comes back as a new one. */
	fleet_proto_keypair(pk, sk);
	fleet_proto_hex(pk, sizeof(pk), pkhex);
	req = json_pack("{s:s,s:s}", "token", token, "public_key", pkhex);
	body = json_dumps(req, JSON_COMPACT);
	err = request(&cl, "POST", "/v1/enroll", body, strlen(body), &a, cause);
	if (err != 0)
		goto fail;
	if (a.status == 401 || a.status == 403) {
		char *r = refusal(&a);
		err = util_fail(cause, -EACCES, "the collector at %s refused the enrolment token: %s; "
		                "a token works once and expires: ask for a new one (`mimic-collector "
		                "token new`)", cl.url, r);
		free(r);
		goto fail;
	}
	if (a.status != 200) {
		char *r = refusal(&a);
		err = util_fail(cause, -EIO, "the collector at %s refused the enrolment: %s",
		                cl.url, r);
		free(r);
		goto fail;
	}
	o = json_loads(a.body, 0, NULL);
	dev = json_string_value(json_object_get(o, "device"));
	dk = json_string_value(json_object_get(o, "dataset_public_key"));
	pp = json_string_value(json_object_get(o, "policy_public_key"));
	fleet_proto_device_id(pk, e.device);
	e.has_policy_pk = pp != NULL;
	if (dev == NULL || strcmp(dev, e.device) != 0 || dk == NULL ||
	    fleet_proto_unhex(dk, e.dataset_pk, sizeof(e.dataset_pk)) != 0 ||
	    (pp != NULL && fleet_proto_unhex(pp, e.policy_pk, sizeof(e.policy_pk)) != 0)) {
		err = util_fail(cause, -EIO, "the collector at %s sent an enrolment answer mimic "
		                "cannot use (device id or keys missing or wrong)", cl.url);
		goto fail;
	}
	keyp = fleet_device_path(data_dir, "device.key");
	newp = fleet_device_path(data_dir, "device.key.new");
	unlink(newp);
	err = fleet_proto_key_save(newp, sk, sizeof(sk), cause);
	if (err != 0)
		goto fail;
	if (rename(newp, keyp) != 0) {
		err = util_fail(cause, -errno, "cannot write %s: %s", keyp, strerror(errno));
		unlink(newp);
		goto fail;
	}
	snprintf(e.url, sizeof(e.url), "%s", cl.url);
	snprintf(e.ca, sizeof(e.ca), "%s", ca_abs != NULL ? ca_abs : "");
	e.enrolled_wall_ns = util_now_wall_ns();
	err = fleet_device_save(data_dir, &e, cause);
	if (err != 0)
		goto fail;
	json_decref(req);
	req = json_pack("{s:s,s:s}", "device", e.device, "collector", e.url);
	details = json_dumps(req, JSON_COMPACT);
	err = audit_append(data_dir, "enroll", details, cause);
	if (err != 0)
		goto fail;
	*device = util_xstrdup(e.device);
	/* The organisation's policy comes with the enrolment, signed with the key just kept. */
	memcpy(cl.sk, sk, sizeof(cl.sk));
	snprintf(cl.device, sizeof(cl.device), "%s", e.device);
	cl.have_key = 1;
	err = fetch_policy(&cl, &e, data_dir, cause);
fail:
	sodium_memzero(sk, sizeof(sk));
	client_close(&cl);
	json_decref(req);
	json_decref(o);
	free(details);
	free(body);
	free(a.body);
	free(keyp);
	free(newp);
	free(dir);
	free(ca_abs);
	return err;
}

/* ---- uploading ---------------------------------------------------------------- */

/* -EAGAIN with a cause when the running recorder says it is paused; 0 otherwise. */
static int check_not_paused(char **cause)
{
	struct ipc_request req = { .version = IPC_VERSION, .cmd = IPC_CMD_STATUS };
	char *path = NULL, *reply = NULL, *why = NULL;
	json_t *o = NULL;
	int err = 0;

	if (paths_control_socket(0, &path, &why) != 0 || ipc_call(path, &req, &reply, &why) != 0)
		goto done; /* no recorder runs: nothing is paused */
	o = json_loads(reply, 0, NULL);
	if (json_string_value(json_object_get(o, "state")) != NULL &&
	    strcmp(json_string_value(json_object_get(o, "state")), "paused") == 0)
		err = util_fail(cause, -EAGAIN, "the recorder is paused: nothing is uploaded until "
		                "`mimic resume`");
done:
	json_decref(o);
	free(reply);
	free(why);
	free(path);
	return err;
}

/* Bytes of the *.bundle files in the spool. */
static int64_t spool_bytes(const char *spool)
{
	DIR *d = opendir(spool);
	struct dirent *de;
	int64_t sum = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		struct stat sb;
		size_t n = strlen(de->d_name);

		if (n > 7 && strcmp(de->d_name + n - 7, ".bundle") == 0 &&
		    fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
			sum += sb.st_size;
	}
	closedir(d);
	return sum;
}

/*
 * Makes spool/S<id>.bundle: the session's export sealed to the dataset key. The
 * bundle of a session stays the same until it is uploaded (sealing anew would
 * give another content address, and the collector's partial upload would be
 * lost), so an existing one is kept.
 */
static int make_bundle(const struct upload_opts *o, const struct fleet_enrolment *e,
                       const char *spool, int64_t session, const char *bundle, char **cause)
{
	char *exp = util_xasprintf("%s/S%" PRId64 ".export", spool, session);
	char *part = util_xasprintf("%s.part", bundle);
	struct export_opts eo = o->export_;
	struct export_report rep;
	char hash[65];
	uint64_t size;
	int64_t used;
	int err;

	if (access(bundle, F_OK) == 0)
		goto done_ok;
	used = spool_bytes(spool);
	if (used >= o->spool_max) {
		err = util_fail(cause, -ENOSPC, "the spool %s holds %.1f MB, at its cap of %.1f MB "
		                "(policy [upload] spool_max): no new bundle is made until those "
		                "are uploaded", spool, (double)used / 1e6, (double)o->spool_max / 1e6);
		goto fail;
	}
	paths_remove_tree(exp);
	unlink(part);
	eo.data_dir = o->data_dir;
	eo.sessions = &session;
	eo.n_sessions = 1;
	eo.out_dir = exp;
	err = export_run(&eo, &rep, cause);
	if (err != 0)
		goto fail;
	err = fleet_bundle_seal_dir(exp, part, e->dataset_pk, (uint64_t)(o->spool_max - used), hash,
	                            &size, cause);
	if (err == -E2BIG) {
		free(*cause);
		*cause = NULL;
		err = util_fail(cause, -ENOSPC, "the bundle of session %" PRId64 " does not fit in "
		                "the spool's cap of %.1f MB (policy [upload] spool_max)", session,
		                (double)o->spool_max / 1e6);
	}
	if (err != 0)
		goto fail;
	if (rename(part, bundle) != 0) {
		err = util_fail(cause, -errno, "cannot write %s: %s", bundle, strerror(errno));
		goto fail;
	}
	log_info("upload: session %" PRId64 " sealed into a bundle of %" PRIu64 " bytes", session,
	         size);
done_ok:
	err = 0;
fail:
	if (err != 0)
		unlink(part);
	paths_remove_tree(exp);
	free(exp);
	free(part);
	return err;
}

/* The "received" and "complete" of a collector's answer; -EIO when they are missing. */
static int progress(const struct answer *a, uint64_t *received, int *complete)
{
	json_t *o = json_loads(a->body, 0, NULL);
	json_t *r = json_object_get(o, "received");
	int err = 0;

	if (!json_is_integer(r) || json_integer_value(r) < 0)
		err = -EIO;
	else
		*received = (uint64_t)json_integer_value(r);
	*complete = json_is_true(json_object_get(o, "complete"));
	json_decref(o);
	return err;
}

/* Uploads the bundle file path of session: manifest, then chunks from where the collector is. */
static int send_bundle(struct client *cl, const struct upload_opts *o, int64_t session,
                       const char *path, char hash[65], uint64_t *size,
                       struct upload_report *rep, char **cause)
{
	struct fleet_manifest m = { 0 };
	struct answer a = { 0 };
	unsigned char *chunk = NULL;
	char *manifest = NULL, rpath[FLEET_PATH_MAX];
	uint64_t received = 0;
	int64_t t0 = util_now_mono_ns(), sent = 0;
	int complete = 0, fd = -1, err;

	err = fleet_bundle_hash_file(path, hash, size, cause);
	if (err != 0)
		return err;
	snprintf(m.bundle, sizeof(m.bundle), "%s", hash);
	m.size = *size;
	snprintf(m.session, sizeof(m.session), "%" PRId64, session);
	manifest = fleet_manifest_json(&m);
	err = request_retry(cl, o, "POST", "/v1/bundles", manifest, strlen(manifest), &a, cause);
	if (err != 0)
		goto fail;
	if (a.status != 200) {
		char *r = refusal(&a);
		err = util_fail(cause, a.status == 413 ? -EFBIG : -EIO, "the collector refused the "
		                "bundle of session %" PRId64 ": %s; it stays in the spool", session, r);
		free(r);
		goto fail;
	}
	if (progress(&a, &received, &complete) != 0)
		goto bad_answer;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = util_fail(cause, -errno, "cannot read %s: %s", path, strerror(errno));
		goto fail;
	}
	chunk = util_xmalloc(o->chunk_bytes);
	if (received > 0 && !complete)
		log_info("upload: session %" PRId64 " resumes at byte %" PRIu64, session, received);
	while (!complete) {
		size_t want = o->chunk_bytes;
		ssize_t got;

		if (received >= *size)
			goto bad_answer;
		if (*size - received < want)
			want = (size_t)(*size - received);
		got = pread(fd, chunk, want, (off_t)received);
		if (got != (ssize_t)want) {
			err = util_fail(cause, -EIO, "cannot read %s: %s", path,
			                got < 0 ? strerror(errno) : "it is shorter than it was");
			goto fail;
		}
		snprintf(rpath, sizeof(rpath), "/v1/bundles/%s/%" PRIu64, hash, received);
		free(a.body);
		a.body = NULL;
		err = request_retry(cl, o, "PUT", rpath, chunk, want, &a, cause);
		if (err != 0)
			goto fail;
		if (a.status == 409 || a.status == 404) {
			/* Out of step (another run, or the collector lost a partial chunk): ask again. */
			free(a.body);
			a.body = NULL;
			err = request_retry(cl, o, "POST", "/v1/bundles", manifest, strlen(manifest),
			                    &a, cause);
			if (err != 0)
				goto fail;
			if (a.status != 200 || progress(&a, &received, &complete) != 0)
				goto bad_answer;
			continue;
		}
		if (a.status != 200 && a.status != 201) {
			char *r = refusal(&a);
			err = util_fail(cause, -EIO, "the collector refused a chunk of session %" PRId64
			                ": %s; the next `mimic upload` starts again", session, r);
			free(r);
			goto fail;
		}
		if (progress(&a, &received, &complete) != 0)
			goto bad_answer;
		rep->bytes += want;
		sent += (int64_t)want;
		if (o->max_rate > 0) {
			/* The bandwidth cap: no faster than max_rate bytes per second on average. */
			int64_t due_ms = sent * 1000 / o->max_rate;
			int64_t took_ms = (util_now_mono_ns() - t0) / 1000000;
			if (due_ms > took_ms)
				sleep_ms(due_ms - took_ms);
		}
	}
	err = 0;
	goto fail;
bad_answer:
	err = util_fail(cause, -EIO, "the collector at %s sent an answer mimic cannot use while "
	                "uploading session %" PRId64 "; the next `mimic upload` starts again",
	                cl->url, session);
fail:
	if (fd >= 0)
		close(fd);
	free(chunk);
	free(manifest);
	free(a.body);
	return err;
}

/* Sends the deletion requests `mimic forget` queued. */
static int send_deletions(struct client *cl, const struct upload_opts *o, struct store *st,
                          struct upload_report *rep, char **cause)
{
	int64_t *ids = NULL;
	size_t n = 0;
	int err;

	err = store_upload_deletions(st, &ids, &n, cause);
	for (size_t i = 0; err == 0 && i < n; i++) {
		struct answer a = { 0 };
		char path[64], details[96];

		snprintf(path, sizeof(path), "/v1/sessions/%" PRId64, ids[i]);
		err = request_retry(cl, o, "DELETE", path, NULL, 0, &a, cause);
		if (err != 0)
			break;
		if (a.status != 200 && a.status != 404) {
			char *r = refusal(&a);
			err = util_fail(cause, -EIO, "the collector refused to delete session %" PRId64
			                ": %s; it is asked again at the next `mimic upload`", ids[i], r);
			free(r);
			free(a.body);
			break;
		}
		free(a.body);
		err = store_upload_deletion_done(st, ids[i], cause);
		if (err != 0)
			break;
		snprintf(details, sizeof(details), "{\"session\":%" PRId64 ",\"collector\":\"%s\"}",
		         ids[i], a.status == 200 ? "deleted" : "had none");
		err = audit_append(o->data_dir, "upload-delete", details, cause);
		rep->deletions++;
	}
	free(ids);
	return err;
}

struct due {
	int64_t *ids;
	size_t n;
	int64_t only, delay_ns, now;
	int not_yet;
};

static int pick(const struct store_session *s, void *arg)
{
	struct due *d = arg;

	if (s->end_wall_ns <= 0 || (d->only > 0 && s->id != d->only))
		return 0;
	if (d->delay_ns >= 0 && s->end_wall_ns + d->delay_ns > d->now) {
		d->not_yet++;
		return 0;
	}
	d->ids = util_xrealloc(d->ids, (d->n + 1) * sizeof(*d->ids));
	d->ids[d->n++] = s->id;
	return 0;
}

int upload_run(const struct upload_opts *o, struct upload_report *rep, char **cause)
{
	struct fleet_enrolment e;
	struct client cl = { 0 };
	struct store *st = NULL;
	struct due d = { 0 };
	char *keyp = NULL, *spool = NULL, *first = NULL, *note = NULL, *policy_why = NULL;
	int err, first_err = 0, policy_err = 0;

	memset(rep, 0, sizeof(*rep));
	err = fleet_device_load(o->data_dir, &e, cause);
	if (err != 0)
		return err;
	err = check_not_paused(cause);
	if (err != 0)
		goto out;
	err = fleet_proto_init();
	if (err == 0)
		err = client_open(&cl, e.url, e.ca[0] ? e.ca : NULL, cause);
	else
		err = util_fail(cause, err, "cannot start libsodium");
	if (err != 0)
		goto out;
	keyp = fleet_device_path(o->data_dir, "device.key");
	err = fleet_proto_key_load(keyp, cl.sk, sizeof(cl.sk), 1, cause);
	if (err != 0)
		goto out;
	snprintf(cl.device, sizeof(cl.device), "%s", e.device);
	cl.have_key = 1;
	/*
	 * The collector's policy first: a refused one is kept aside as the run's error
	 * (its one line), and the uploads go on under the last verified policy.
	 */
	err = fetch_policy(&cl, &e, o->data_dir, &policy_why);
	if (err == -EHOSTUNREACH || err == -EPROTO) {
		*cause = policy_why;
		policy_why = NULL;
		goto out;
	}
	policy_err = err;
	err = store_open(o->data_dir, 0, &st, cause);
	if (err != 0)
		goto out;
	err = send_deletions(&cl, o, st, rep, cause);
	if (err != 0 || o->deletions_only)
		goto out;
	spool = fleet_device_path(o->data_dir, "spool");
	err = paths_ensure_dir(spool, cause);
	if (err != 0)
		goto out;
	d.only = o->session;
	d.delay_ns = o->delay_ms < 0 ? -1 : o->delay_ms * 1000000;
	d.now = util_now_wall_ns();
	err = store_sessions_foreach(st, pick, &d, cause);
	if (err != 0)
		goto out;
	rep->not_yet = d.not_yet;
	for (size_t i = 0; i < d.n; i++) {
		char have[STORE_HEX_LEN + 1], hash[65], *why = NULL, *bundle;
		char details[256];
		uint64_t size = 0;

		if (store_upload_get(st, d.ids[i], have, NULL, NULL) == 0)
			continue; /* uploaded already */
		bundle = util_xasprintf("%s/S%" PRId64 ".bundle", spool, d.ids[i]);
		err = make_bundle(o, &e, spool, d.ids[i], bundle, &why);
		if (err == 0)
			err = send_bundle(&cl, o, d.ids[i], bundle, hash, &size, rep, &why);
		if (err == 0)
			err = store_upload_mark(st, d.ids[i], hash, (int64_t)size, util_now_wall_ns(),
			                        &why);
		if (err == 0) {
			snprintf(details, sizeof(details), "{\"session\":%" PRId64 ",\"bundle\":\"%s\","
			         "\"bytes\":%" PRIu64 ",\"device\":\"%s\"}", d.ids[i], hash, size,
			         e.device);
			err = audit_append(o->data_dir, "upload", details, &why);
			unlink(bundle);
			rep->uploaded++;
			log_info("upload: session %" PRId64 " uploaded (%" PRIu64 " bytes)", d.ids[i],
			         size);
		}
		free(bundle);
		if (err != 0) {
			rep->failed++;
			if (first == NULL) {
				first = why;
				first_err = err;
			} else {
				free(why);
			}
			/* The collector is unreachable or refuses for now: the others would fail too. */
			if (err == -EHOSTUNREACH || err == -EAGAIN || err == -EPROTO)
				break;
		}
	}
	err = first_err;
	if (first != NULL)
		*cause = first;
out:
	if (err == 0 && policy_err != 0) {
		err = policy_err;
		*cause = policy_why;
		policy_why = NULL;
	}
	free(policy_why);
	/* What `mimic status` shows; failing to note it does not change the run's outcome. */
	if (fleet_device_note(o->data_dir, err == 0 ? NULL : *cause != NULL ? *cause : "failed",
	                      &note) != 0)
		free(note);
	store_close(st);
	client_close(&cl);
	free(d.ids);
	free(spool);
	free(keyp);
	return err;
}
