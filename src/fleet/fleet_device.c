/*
 * fleet_device: the files a device keeps about its enrolment and its last
 * upload (fleet_device.h).
 */
#include "fleet_device.h"

#include <dirent.h>
#include <inttypes.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "fleet_policy.h"
#include "paths.h"
#include "testbreak.h"
#include "util.h"

#define ENROLMENT_FILE "enrolment.json"
#define STATE_FILE "state.json"
#define POLICY_FILE "policy.signed"
#define POLICY_STATE_FILE "policy.json"
/* Larger files are not what mimic wrote. */
#define STATE_MAX 8192

char *fleet_device_path(const char *data_dir, const char *name)
{
	if (name == NULL)
		return util_xasprintf("%s/%s", data_dir, FLEET_DEVICE_DIR);
	return util_xasprintf("%s/%s/%s", data_dir, FLEET_DEVICE_DIR, name);
}

/* Copies the string member key of o into dst (n bytes); -EINVAL when missing or too long. */
static int get_str(json_t *o, const char *key, char *dst, size_t n)
{
	const char *v = json_string_value(json_object_get(o, key));

	if (v == NULL || strlen(v) >= n)
		return -EINVAL;
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

int fleet_device_load(const char *data_dir, struct fleet_enrolment *out, char **cause)
{
	char *path = fleet_device_path(data_dir, ENROLMENT_FILE);
	char pk[2 * FLEET_PK_BYTES + 1], dk[2 * FLEET_BOX_PK_BYTES + 1];
	json_error_t jerr;
	json_t *o = NULL;
	int err = 0;

	memset(out, 0, sizeof(*out));
	o = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL) {
		if (json_error_code(&jerr) == json_error_cannot_open_file && errno == ENOENT)
			err = util_fail(cause, -ENOENT, "this machine is not enrolled in a fleet "
			                "(no %s); run `mimic enroll URL --token TOKEN`", path);
		else
			err = util_fail(cause, -EINVAL, "cannot read %s: %s; enrol again with "
			                "`mimic enroll URL --token TOKEN`", path, jerr.text);
		goto fail;
	}
	if (!json_is_object(o) || get_str(o, "url", out->url, sizeof(out->url)) != 0 ||
	    get_str(o, "ca", out->ca, sizeof(out->ca)) != 0 ||
	    get_str(o, "device", out->device, sizeof(out->device)) != 0 ||
	    get_str(o, "dataset_public_key", dk, sizeof(dk)) != 0 ||
	    get_str(o, "policy_public_key", pk, sizeof(pk)) != 0 ||
	    fleet_proto_unhex(dk, out->dataset_pk, FLEET_BOX_PK_BYTES) != 0 ||
	    (pk[0] != '\0' && fleet_proto_unhex(pk, out->policy_pk, FLEET_PK_BYTES) != 0)) {
		err = util_fail(cause, -EINVAL, "%s is not an enrolment mimic wrote; enrol again "
		                "with `mimic enroll URL --token TOKEN`", path);
		goto fail;
	}
	out->has_policy_pk = pk[0] != '\0';
	out->enrolled_wall_ns = json_integer_value(json_object_get(o, "enrolled_wall_ns"));
fail:
	json_decref(o);
	free(path);
	return err;
}

/* Writes o as DATA_DIR/fleet/name, creating the folder. */
static int write_json(const char *data_dir, const char *name, json_t *o, char **cause)
{
	char *dir = fleet_device_path(data_dir, NULL), *path = fleet_device_path(data_dir, name);
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	int err;

	err = paths_ensure_dir(dir, cause);
	if (err == 0 && text == NULL)
		err = util_fail(cause, -ENOMEM, "cannot write %s: out of memory", path);
	if (err == 0)
		err = paths_write_file(path, text, strlen(text), PATHS_REPLACE, cause);
	free(text);
	free(path);
	free(dir);
	return err;
}

int fleet_device_save(const char *data_dir, const struct fleet_enrolment *e, char **cause)
{
	char pk[2 * FLEET_PK_BYTES + 1], dk[2 * FLEET_BOX_PK_BYTES + 1];
	json_t *o;
	int err;

	fleet_proto_hex(e->dataset_pk, FLEET_BOX_PK_BYTES, dk);
	if (e->has_policy_pk)
		fleet_proto_hex(e->policy_pk, FLEET_PK_BYTES, pk);
	else
		pk[0] = '\0';
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "url", e->url, "ca", e->ca, "device", e->device,
	              "dataset_public_key", dk, "policy_public_key", pk, "enrolled_wall_ns",
	              (json_int_t)e->enrolled_wall_ns);
	err = write_json(data_dir, ENROLMENT_FILE, o, cause);
	json_decref(o);
	return err;
}

int fleet_device_note(const char *data_dir, const char *error, char **cause)
{
	json_t *o = json_pack("{s:I,s:o}", "wall_ns", (json_int_t)util_now_wall_ns(), "error",
	                      error != NULL ? json_string(error) : json_null());
	int err;

	err = write_json(data_dir, STATE_FILE, o, cause);
	json_decref(o);
	return err;
}

void fleet_device_last(const char *data_dir, int64_t *when_wall_ns, char **error)
{
	char *path = fleet_device_path(data_dir, STATE_FILE);
	json_t *o = json_load_file(path, 0, NULL);
	const char *e = json_string_value(json_object_get(o, "error"));

	*when_wall_ns = json_integer_value(json_object_get(o, "wall_ns"));
	*error = e != NULL ? util_xstrdup(e) : NULL;
	json_decref(o);
	free(path);
}


/* The session of a spool file's name, S<id>.bundle or S<id>.bundle.part; 0 for any other. */
static int64_t spool_session(const char *name)
{
	char *end;
	long long id;

	if (name[0] != 'S' || name[1] < '1' || name[1] > '9')
		return 0;
	errno = 0;
	id = strtoll(name + 1, &end, 10);
	if (errno != 0 || id <= 0 || (strcmp(end, ".bundle") != 0 && strcmp(end, ".bundle.part") != 0))
		return 0;
	return (int64_t)id;
}

int fleet_device_spool_drop(const char *data_dir)
{
	return fleet_device_spool_prune(data_dir, NULL, NULL);
}

int fleet_device_spool_prune(const char *data_dir, bool (*stale)(int64_t session, void *arg),
                             void *arg)
{
	char *spool = fleet_device_path(data_dir, "spool");
	DIR *d = opendir(spool);
	struct dirent *de;
	int n = 0;

	free(spool);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		int64_t id = spool_session(de->d_name);

		if (id == 0 || (stale != NULL && !stale(id, arg)))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0 && strstr(de->d_name, ".part") == NULL)
			n++;
	}
	closedir(d);
	return n;
}

/* The serial of policy.json (0: none) and, when error is not NULL, its error. */
static uint64_t policy_state_read(const char *data_dir, char **error, int64_t *when)
{
	char *path = fleet_device_path(data_dir, POLICY_STATE_FILE);
	json_t *o = json_load_file(path, 0, NULL);
	json_int_t s = json_integer_value(json_object_get(o, "serial"));
	const char *e = json_string_value(json_object_get(o, "error"));

	if (error != NULL)
		*error = e != NULL ? util_xstrdup(e) : NULL;
	if (when != NULL)
		*when = json_integer_value(json_object_get(o, "wall_ns"));
	json_decref(o);
	free(path);
	return s > 0 ? (uint64_t)s : 0;
}

static int policy_state_write(const char *data_dir, uint64_t serial, const char *error,
                              char **cause)
{
	json_t *o = json_pack("{s:I,s:o,s:I}", "serial", (json_int_t)serial, "error",
	                      error != NULL ? json_string(error) : json_null(), "wall_ns",
	                      (json_int_t)util_now_wall_ns());
	int err = write_json(data_dir, POLICY_STATE_FILE, o, cause);

	json_decref(o);
	return err;
}

/* The refusal's one line for an error of fleet_policy_verify. */
static const char *refusal_reason(int err)
{
	switch (err) {
	case -ENOKEY: return "it is not signed";
	case -EKEYREJECTED:
	case -EBADMSG: return "signature does not verify with the enrolled key";
	case -E2BIG: return "it is larger than a policy may be";
	default: return "its signature line is malformed";
	}
}

int fleet_device_policy_accept(const char *data_dir, const struct fleet_enrolment *e,
                               const char *data, size_t len, uint64_t *serial, char **cause)
{
	uint64_t kept = policy_state_read(data_dir, NULL, NULL), s = 0;
	char *why = NULL, *line = NULL, *path = NULL, *details = NULL, *note = NULL;
	const char *body;
	size_t blen;
	int err;

	*serial = 0;
	if (testbreak("device-policy-unverified")) {
		/* The fault: whatever came is stored, neither its signature nor its serial checked. */
		s = kept;
		err = 0;
	} else if (!e->has_policy_pk) {
		err = -ENOKEY;
	} else {
		err = fleet_policy_verify(e->policy_pk, data, len, &body, &blen, &s, &why);
	}
	if (err != 0) {
		char keeping[64];

		if (kept > 0)
			snprintf(keeping, sizeof keeping, "keeping serial %" PRIu64, kept);
		else
			snprintf(keeping, sizeof keeping, "no collector policy applies");
		line = util_xasprintf("collector policy: %s; %s", !e->has_policy_pk ?
		                      "the enrolment holds no policy key" : refusal_reason(err),
		                      keeping);
	} else if (s < kept) {
		err = -ESTALE;
		line = util_xasprintf("collector policy: serial %" PRIu64 " is older than serial "
		                      "%" PRIu64 " already applied (a rollback); keeping serial %" PRIu64,
		                      s, kept, kept);
	}
	if (err != 0) {
		/* Refused: the stored policy stays; the person and the audit are told. */
		if (policy_state_write(data_dir, kept, line, &note) != 0)
			free(note);
		note = NULL;
		details = util_xasprintf("{\"refused\":%" PRIu64 ",\"kept\":%" PRIu64 ",\"why\":\"%s\"}",
		                         s, kept, err == -ESTALE ? "rollback" :
		                         err == -ENOKEY ? "unsigned" : err == -E2BIG ? "too large" :
		                         err == -EINVAL ? "malformed" : "signature");
		if (audit_append(data_dir, "policy-refused", details, &note) != 0)
			free(note);
		*cause = line;
		line = NULL;
		goto fail;
	}
	path = fleet_device_path(data_dir, NULL);
	err = paths_ensure_dir(path, cause);
	free(path);
	path = fleet_device_path(data_dir, POLICY_FILE);
	if (err == 0)
		err = paths_write_file(path, data, len, PATHS_REPLACE, cause);
	if (err == 0)
		err = policy_state_write(data_dir, s, NULL, cause);
	if (err == 0 && s != kept) {
		details = util_xasprintf("{\"serial\":%" PRIu64 ",\"previous\":%" PRIu64 "}", s, kept);
		err = audit_append(data_dir, "policy-applied", details, cause);
	}
	if (err == 0)
		*serial = s;
fail:
	free(why);
	free(line);
	free(path);
	free(details);
	return err;
}

/*
 * Reads at most max bytes of path (not a symbolic link) into *out (malloc'ed,
 * NUL-terminated): -ENOENT when missing, -E2BIG when longer, else -errno.
 */
static int read_small(const char *path, size_t max, char **out, size_t *len, char **cause)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), err = 0;
	char *buf;
	size_t n = 0;

	*out = NULL;
	if (fd < 0)
		return util_fail(cause, -errno, "%s", strerror(errno));
	buf = util_xmalloc(max + 2);
	while (n <= max) {
		ssize_t got = read(fd, buf + n, max + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = util_fail(cause, -errno, "%s", strerror(errno));
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	if (err == 0 && n > max)
		err = util_fail(cause, -E2BIG, "it is larger than %zu bytes", max);
	if (err != 0) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int fleet_device_policy_load(const char *data_dir, const struct fleet_enrolment *e, char **body,
                             uint64_t *serial, char **cause)
{
	char *path = fleet_device_path(data_dir, POLICY_FILE), *data = NULL, *why = NULL;
	const char *b;
	size_t len = 0, blen;
	uint64_t kept = policy_state_read(data_dir, NULL, NULL), s = 0;
	int err;

	*body = NULL;
	*serial = 0;
	err = read_small(path, FLEET_POLICY_MAX, &data, &len, &why);
	if (err == -ENOENT) {
		free(why);
		free(path);
		return -ENOENT;
	}
	if (err != 0) {
		err = util_fail(cause, err, "cannot read the collector's policy %s: %s; run "
		                "`mimic upload` to fetch it again", path, why);
		goto fail;
	}
	if (!e->has_policy_pk)
		err = -ENOKEY;
	else
		err = fleet_policy_verify(e->policy_pk, data, len, &b, &blen, &s, &why);
	if (err == 0 && s < kept)
		err = -ESTALE;
	if (err != 0 && !testbreak("device-policy-unverified")) {
		err = util_fail(cause, err, "the collector's policy %s: %s; nothing is recorded on "
		                "it: remove it and run `mimic upload` to fetch it again", path,
		                err == -ESTALE ? "its serial is older than the one applied" :
		                refusal_reason(err));
		goto fail;
	}
	if (err != 0) {
		/* The fault: the stored text is taken as it is, signature line and all. */
		b = data;
		blen = len;
		err = 0;
	}
	*body = util_xmalloc(blen + 1);
	memcpy(*body, b, blen);
	(*body)[blen] = '\0';
	*serial = s;
fail:
	free(data);
	free(why);
	free(path);
	return err;
}

void fleet_device_policy_state(const char *data_dir, uint64_t *serial, char **error,
                               int64_t *when_wall_ns)
{
	*serial = policy_state_read(data_dir, error, when_wall_ns);
}
