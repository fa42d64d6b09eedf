/*
 * cmd_privacy: `mimic forget` (delete what was recorded, leaving no trace in the
 * data directory) and `mimic audit` (print or verify the audit log). See
 * docs/PRIVACY.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit.h"
#include "cli.h"
#include "fleet_device.h"
#include "forget.h"
#include "ipc.h"
#include "paths.h"
#include "store.h"
#include "util.h"

static const char forget_usage[] =
	"usage: mimic forget --last DURATION | --session SESSION | --all [--data-dir DIR]\n"
	"  --last 15m      what was recorded in the last 15 minutes (90s, 2h, 7d, ...)\n"
	"  --session ID    one session (an id, a name or \"last\")\n"
	"  --all           everything recorded in the data directory\n"
	"Works whether or not a recorder is running; the audit log keeps a record of it.\n";

static const char audit_usage[] =
	"usage: mimic audit [--verify] [--json] [--data-dir DIR]\n";

static void print_result(const char *what, json_int_t sessions, json_int_t events,
                         json_int_t frames, json_int_t windows, json_int_t files)
{
	printf("mimic: forgot %s: %lld events, %lld frames, %lld window records, %lld sessions; "
	       "%lld frame files deleted\n", what, (long long)events, (long long)frames,
	       (long long)windows, (long long)sessions, (long long)files);
}

/*
 * The result of forget_remote when no recorder records into the directory (the
 * CLI then deletes itself). Distinct from every exit status: a recorder that
 * refused has already said why, and the CLI must not try again on its own.
 */
#define FORGET_NO_RECORDER (-1)

/* Asks the running recorder to forget; FORGET_NO_RECORDER when none records into dir. */
static int forget_remote(const char *dir, struct ipc_request *req, const char *what)
{
	struct ipc_request st = { .version = IPC_VERSION, .cmd = IPC_CMD_STATUS };
	char *path = NULL, *reply = NULL, *cause = NULL;
	json_t *o = NULL;
	int rc = FORGET_NO_RECORDER;

	if (paths_control_socket(0, &path, &cause) != 0)
		goto fail;
	if (ipc_call(path, &st, &reply, &cause) != 0)
		goto fail;
	o = json_loads(reply, 0, NULL);
	if (!json_is_string(json_object_get(o, "data_dir")) ||
	    strcmp(json_string_value(json_object_get(o, "data_dir")), dir) != 0)
		goto fail;
	json_decref(o);
	o = NULL;
	free(reply);
	reply = NULL;
	if (ipc_call(path, req, &reply, &cause) != 0) {
		rc = cli_fail(cause);
		cause = NULL;
		goto fail;
	}
	o = json_loads(reply, 0, NULL);
	if (!json_is_true(json_object_get(o, "ok"))) {
		const char *e = json_string_value(json_object_get(o, "error"));

		rc = cli_fail(util_xasprintf("the recorder could not forget: %s",
		                             e ? e : "no reason given"));
		goto fail;
	}
	print_result(what, json_integer_value(json_object_get(o, "sessions")),
	             json_integer_value(json_object_get(o, "events")),
	             json_integer_value(json_object_get(o, "frames")),
	             json_integer_value(json_object_get(o, "windows")),
	             json_integer_value(json_object_get(o, "files")));
	rc = CLI_OK;
fail:
	json_decref(o);
	free(reply);
	free(cause);
	free(path);
	return rc;
}

/* Forgets with no recorder running: holds the data directory's lock meanwhile. */
static int forget_local(const char *dir, const struct ipc_request *req, const char *what)
{
	struct store_forget spec = { 0, INT64_MIN, INT64_MAX, 0 };
	struct forget_result res;
	char *cause = NULL;
	int rc;

	if (req->forget_last_ms > 0)
		spec.from_wall_ns = util_now_wall_ns() - req->forget_last_ms * 1000000;
	spec.session = req->forget_session;
	rc = forget_locked(dir, &spec, what, &res, &cause);
	if (rc != 0)
		return cli_fail(cause);
	print_result(what, res.rows.sessions, res.rows.events, res.rows.frames,
	             res.rows.contexts, res.files);
	return CLI_OK;
}

/*
 * After a forget: when the collector of a fleet holds a bundle of what was
 * forgotten (store_forget queued its deletion), asks it to delete it now with
 * `mimic-data upload --deletions-only`, which audits it; when that fails the
 * deletion stays queued for the next `mimic upload`. The forget itself is done
 * either way.
 */
static void send_fleet_deletions(const char *dir)
{
	struct fleet_enrolment e;
	struct store *st = NULL;
	char *cause = NULL, *exe = NULL;
	int64_t queued = 0;
	int status = 0;
	pid_t pid;

	if (fleet_device_load(dir, &e, &cause) != 0)
		goto done; /* not in a fleet: nothing was uploaded */
	/* A bundle sealed before this forget may hold what it deleted: made again at upload. */
	fleet_device_spool_drop(dir);
	if (store_open(dir, STORE_READONLY, &st, &cause) != 0 ||
	    store_upload_counts(st, NULL, NULL, &queued, NULL, &cause) != 0 || queued == 0)
		goto done;
	if (util_sibling_exe("mimic-data", &exe, &cause) != 0) {
		fprintf(stderr, "mimic: %s; the collector's copy is deleted at the next "
		        "`mimic upload`\n", cause);
		goto done;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		execl(exe, exe, "upload", "--deletions-only", "--data-dir", dir, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		fprintf(stderr, "mimic: the collector's copy of what was forgotten is deleted at the "
		        "next `mimic upload`\n");
done:
	store_close(st);
	free(exe);
	free(cause);
}

int cmd_forget(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "last", required_argument, NULL, 'l' },
		{ "session", required_argument, NULL, 's' },
		{ "all", no_argument, NULL, 'a' },
		CLI_OPTION_DATA_DIR, CLI_OPTION_HELP, { NULL, 0, NULL, 0 },
	};
	struct ipc_request req = { .version = IPC_VERSION, .cmd = IPC_CMD_FORGET };
	struct cli_opts co = { 0 };
	const char *session = NULL, *last = NULL;
	char *dir = NULL, *cause = NULL, what[160];
	int c, n = 0, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l': {
			int64_t ns;

			if (util_parse_duration(optarg, &ns) != 0 || ns <= 0) {
				fprintf(stderr, "mimic: --last takes a duration such as 15m, 2h or 7d "
				                "('%s')\n", optarg);
				return CLI_USAGE;
			}
			req.forget_last_ms = ns / 1000000 > 0 ? ns / 1000000 : 1;
			last = optarg;
			n++;
			break;
		}
		case 's':
			session = optarg;
			n++;
			break;
		case 'a':
			req.forget_all = 1;
			n++;
			break;
		default:
			rc = cli_opt(c, &co, forget_usage);
			if (rc >= 0)
				return rc;
		}
	}
	if (optind != argc || n != 1) {
		fprintf(stderr, "mimic: forget takes exactly one of --last, --session and --all\n");
		return cli_usage_error(forget_usage);
	}
	if (paths_data_dir(co.data_dir, &dir, &cause) != 0)
		return cli_fail(cause);
	if (session != NULL) {
		struct store *st = NULL;

		/* Names and "last" are resolved here; the recorder gets the id. */
		rc = store_open(dir, STORE_READONLY, &st, &cause);
		if (rc == 0)
			rc = store_session_resolve(st, session, &req.forget_session, &cause);
		store_close(st);
		if (rc != 0) {
			free(dir);
			return cli_fail(cause);
		}
		snprintf(what, sizeof(what), "session %lld", (long long)req.forget_session);
	} else if (last != NULL) {
		snprintf(what, sizeof(what), "the last %.100s", last);
	} else {
		snprintf(what, sizeof(what), "everything");
	}
	if (access(dir, F_OK) != 0) {
		printf("mimic: nothing to forget: %s does not exist\n", dir);
		free(dir);
		return CLI_OK;
	}
	rc = forget_remote(dir, &req, what);
	if (rc == FORGET_NO_RECORDER)
		rc = forget_local(dir, &req, what);
	if (rc == CLI_OK)
		send_fleet_deletions(dir);
	free(dir);
	return rc;
}

static int print_record(const struct audit_record *r, void *arg)
{
	json_t *d = json_loads(r->details, 0, NULL), *v;
	const char *k;
	int json = *(int *)arg;

	if (json) {
		printf("%s\n", r->text);
		json_decref(d);
		return 0;
	}
	printf("%4lld  %.19s  %-10s %-10s", (long long)r->seq, r->time, r->user, r->what);
	json_object_foreach(d, k, v) {
		char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

		printf(" %s=%s", k, s != NULL ? s : "?");
		free(s);
	}
	printf("\n");
	json_decref(d);
	return 0;
}

int cmd_audit(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "verify", no_argument, NULL, 'v' },
		CLI_OPTION_JSON, CLI_OPTION_DATA_DIR, CLI_OPTION_HELP, { NULL, 0, NULL, 0 },
	};
	struct cli_opts co = { 0 };
	char *dir = NULL, *cause = NULL, head[AUDIT_HASH_HEX + 1];
	int verify = 0, c, rc;
	int64_t records = 0, bad = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			verify = 1;
			break;
		default:
			rc = cli_opt(c, &co, audit_usage);
			if (rc >= 0)
				return rc;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mimic: audit takes no arguments ('%s')\n", argv[optind]);
		return CLI_USAGE;
	}
	if (paths_data_dir(co.data_dir, &dir, &cause) != 0)
		return cli_fail(cause);
	if (verify) {
		rc = audit_verify(dir, &records, &bad, head, &cause);
		if (rc == -EBADMSG) {
			fprintf(stderr, "mimic: the audit log %s/%s has been tampered with: %s\n", dir,
			        AUDIT_FILE, cause);
			free(cause);
			free(dir);
			return CLI_ERROR;
		}
		if (rc == -ENODATA) {
			fprintf(stderr, "mimic: the audit log %s/%s cannot be verified to its end: "
			        "%s\n", dir, AUDIT_FILE, cause);
			free(cause);
			free(dir);
			return CLI_ERROR;
		}
		if (rc != 0) {
			free(dir);
			return cli_fail(cause);
		}
		printf("mimic: the audit log %s/%s is intact: %lld records, head %s\n", dir,
		       AUDIT_FILE, (long long)records, records > 0 ? head : "(empty)");
		free(dir);
		return CLI_OK;
	}
	rc = audit_foreach(dir, print_record, &co.json, &cause);
	free(dir);
	if (rc == -ENOENT) {
		free(cause);
		if (!co.json)
			printf("mimic: the audit log is empty\n");
		return CLI_OK;
	}
	return rc != 0 ? cli_fail(cause) : CLI_OK;
}
