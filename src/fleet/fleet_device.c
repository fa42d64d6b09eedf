/*
 * fleet_device: the files a device keeps about its enrolment and its last
 * upload (fleet_device.h).
 */
#include "fleet_device.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "util.h"

#define ENROLMENT_FILE "enrolment.json"
#define STATE_FILE "state.json"
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

int fleet_device_spool_drop(const char *data_dir)
{
	char *spool = fleet_device_path(data_dir, "spool");
	DIR *d = opendir(spool);
	struct dirent *de;
	int n = 0;

	free(spool);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if ((len > 7 && strcmp(de->d_name + len - 7, ".bundle") == 0) ||
		    (len > 5 && strcmp(de->d_name + len - 5, ".part") == 0))
			n += unlinkat(dirfd(d), de->d_name, 0) == 0;
	}
	closedir(d);
	return n;
}
