/*
 * cmd_control: `mimic stop|status|pause|resume`, which talk to the running
 * recorder over its control socket (see ipc.h).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "fleet_device.h"
#include "ipc.h"
#include "paths.h"
#include "policy.h"
#include "store.h"
#include "util.h"

static const char control_usage[] =
	"usage: mimic stop\n"
	"       mimic status [--json] [--data-dir DIR]\n"
	"       mimic pause [--for DURATION]   (e.g. 15m, 1h; default: until `mimic resume`)\n"
	"       mimic resume\n";

/*
 * Sends req to the recorder listening on path; *reply is its answer and *o that
 * answer as a JSON object ("ok" or not). Returns CLI_OK, CLI_ERROR after saying
 * on stderr that the answer is unreadable, or -1 when there was none (*cause says
 * why).
 */
static int ask_recorder(const char *path, const struct ipc_request *req, char **reply,
                        json_t **o, char **cause)
{
	if (ipc_call(path, req, reply, cause) != 0)
		return -1;
	*o = json_loads(*reply, 0, NULL);
	if (*o == NULL || !json_is_object(*o)) {
		fprintf(stderr, "mimic: the recorder sent an unreadable reply; is it the same "
		                "mimic version?\n");
		return CLI_ERROR;
	}
	return CLI_OK;
}

static void print_status(json_t *o)
{
	const char *state = json_string_value(json_object_get(o, "state"));
	json_t *err = json_object_get(o, "write_error");
	json_t *pf = json_object_get(o, "paused_for_ms");

	printf("state:    %s", state ? state : "unknown");
	if (json_is_integer(pf))
		printf(" (resumes in %llds)", (long long)(json_integer_value(pf) / 1000));
	printf("\nsession:  %lld", (long long)json_integer_value(json_object_get(o, "session")));
	if (json_string_length(json_object_get(o, "session_name")) > 0)
		printf(" (%s)", json_string_value(json_object_get(o, "session_name")));
	printf("\npid:      %lld\n", (long long)json_integer_value(json_object_get(o, "pid")));
	printf("data dir: %s\n", json_string_value(json_object_get(o, "data_dir")));
	if (json_is_true(json_object_get(o, "task")))
		printf("task:     running (end it with `mimic task end --success` or `--fail`)\n");
	json_t *ag = json_object_get(o, "agent");
	if (json_is_true(json_object_get(ag, "takeover")))
		printf("agent:    you have taken over from the agent; its actions are refused until "
		       "`mimic agent handback`\n");
	else if (json_is_true(json_object_get(ag, "attached")))
		printf("agent:    an agent acts through `mimic agent serve`; your input takes over\n");
	if (json_integer_value(json_object_get(ag, "interventions")) > 0)
		printf("agent:    %lld interventions stored in this session\n",
		       (long long)json_integer_value(json_object_get(ag, "interventions")));
	printf("events:   %lld stored, %lld queued, %lld dropped\n",
	       (long long)json_integer_value(json_object_get(o, "events_stored")),
	       (long long)json_integer_value(json_object_get(o, "events_queued")),
	       (long long)json_integer_value(json_object_get(o, "events_dropped")));
	if (json_is_string(err))
		printf("error:    %s\n", json_string_value(err));
	json_t *fr = json_object_get(o, "frames");
	if (json_is_object(fr)) {
		json_t *fe = json_object_get(fr, "error");

		if (!json_is_true(json_object_get(fr, "enabled")))
			printf("frames:   off\n");
		else
			printf("frames:   %lld stored (%lld images, %.1f MB)\n",
			       (long long)json_integer_value(json_object_get(fr, "stored")),
			       (long long)json_integer_value(json_object_get(fr, "encoded")),
			       (double)json_integer_value(json_object_get(fr, "bytes")) / 1e6);
		if (json_is_string(fe))
			printf("frames error: %s\n", json_string_value(fe));
	}
	json_t *ax = json_object_get(o, "accessibility");
	if (json_is_object(ax)) {
		const char *st = json_string_value(json_object_get(ax, "state"));
		const char *why = json_string_value(json_object_get(ax, "reason"));

		if (st != NULL && strcmp(st, "ok") == 0)
			printf("elements: %lld stored (UI elements over AT-SPI)\n",
			       (long long)json_integer_value(json_object_get(ax, "elements_stored")));
		else
			printf("elements: %s%s%s\n", st ? st : "unknown", why ? ": " : "", why ? why : "");
	}
	json_t *sg = json_object_get(o, "safeguards");
	if (json_is_object(sg)) {
		const char *scope = json_string_value(json_object_get(sg, "scope"));
		const char *prot = json_string_value(json_object_get(sg, "password_protection"));
		const char *why = json_string_value(json_object_get(sg, "password_protection_reason"));
		const char *ap = json_string_value(json_object_get(sg, "auto_paused"));

		printf("scope:    %s\n", scope != NULL && strcmp(scope, "out") == 0 ?
		       "the focused window is out of scope: nothing is recorded" :
		       "the focused window is in scope");
		json_t *inforce = json_object_get(sg, "policy_in_force");
		if (ap != NULL && strcmp(ap, "consent") == 0)
			printf("paused:   until you agree to the organisation's new notice: run "
			       "`mimic consent`\n");
		else if (ap != NULL && strcmp(ap, "no") != 0)
			printf("paused:   automatically (%s)\n", ap);
		if (json_is_object(inforce)) {
			long long serial = (long long)json_integer_value(json_object_get(inforce, "serial"));
			const char *src = json_string_value(json_object_get(inforce, "sources"));
			const char *when = json_string_value(json_object_get(inforce, "applied"));
			const char *pe = json_string_value(json_object_get(inforce, "error"));

			if (serial > 0)
				printf("in force: collector serial %lld", serial);
			else
				printf("in force: local");
			printf(" (%s), applied %s\n", src != NULL && src[0] ? src : "built-in defaults",
			       when != NULL ? when : "at start");
			if (pe != NULL)
				printf("new policy refused: %s\n", pe);
		}
		if (prot != NULL && strcmp(prot, "degraded") == 0)
			printf("protection: degraded: without accessibility (%s), password fields are "
			       "found by window title only\n", why ? why : "no accessibility bus");
		else
			printf("protection: password fields found over accessibility (AT-SPI)\n");
		json_t *br = json_object_get(sg, "browser");
		if (json_is_object(br)) {
			const char *page = json_string_value(json_object_get(br, "page"));
			const char *hint = json_string_value(json_object_get(br, "hint"));

			printf("browser:  page %s%s\n", page ? page : "unknown",
			       json_is_true(json_object_get(br, "private")) ?
			       ", a private window: nothing is recorded" : "");
			if (hint != NULL)
				printf("browser:  %s\n", hint);
		}
	}
}

/*
 * Which policy applies on an enrolled machine (docs/FLEET.md, "The device side"):
 * {"applies": "local" | "collector" | "merged", "serial", "error"}. A stored
 * collector policy is merged with the local files when there are any (the
 * system's file or the person's), else it applies alone; "error" is the last
 * refusal of a policy the collector sent, or null.
 */
static json_t *policy_state(const char *dir)
{
	uint64_t serial = 0;
	int64_t when = 0;
	char *error = NULL, *user = NULL;
	struct stat sb;
	int local = stat(POLICY_SYSTEM_PATH, &sb) == 0;
	json_t *o;

	if (!local && policy_user_path(&user) == 0)
		local = stat(user, &sb) == 0;
	free(user);
	fleet_device_policy_state(dir, &serial, &error, &when);
	o = json_pack("{s:s,s:I,s:o}", "applies", serial == 0 ? "local" : local ? "merged" :
	              "collector", "serial", (json_int_t)serial, "error",
	              error != NULL ? json_string(error) : json_null());
	free(error);
	return o;
}

/*
 * The fleet's upload state of data directory dir (docs/FLEET.md), or NULL when it
 * is not enrolled: {"enrolled","device","collector","waiting","uploaded",
 * "deletions_queued","last_upload","last_run","last_error"} (times ISO 8601 UTC or null).
 */
static json_t *upload_state(const char *dir)
{
	struct fleet_enrolment e;
	struct store *st = NULL;
	int64_t uploaded = 0, last = 0, deletions = 0, waiting = 0, run = 0;
	char *cause = NULL, *error = NULL;
	json_t *o;

	if (fleet_device_load(dir, &e, &cause) != 0) {
		free(cause);
		return NULL;
	}
	if (store_open(dir, STORE_READONLY, &st, &cause) == 0)
		store_upload_counts(st, &uploaded, &last, &deletions, &waiting, &cause);
	store_close(st);
	free(cause);
	fleet_device_last(dir, &run, &error);
	o = json_pack("{s:b,s:s,s:s,s:I,s:I,s:I}", "enrolled", 1, "device", e.device, "collector",
	              e.url, "waiting", (json_int_t)waiting, "uploaded", (json_int_t)uploaded,
	              "deletions_queued", (json_int_t)deletions);
	const int64_t when[2] = { last, run };
	const char *names[2] = { "last_upload", "last_run" };
	for (int i = 0; i < 2; i++) {
		char buf[32];
		time_t t = (time_t)(when[i] / 1000000000);
		struct tm tm;

		if (when[i] > 0 && gmtime_r(&t, &tm) != NULL &&
		    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
			json_object_set_new(o, names[i], json_string(buf));
		else
			json_object_set_new(o, names[i], json_null());
	}
	json_object_set_new(o, "last_error", error != NULL ? json_string(error) : json_null());
	free(error);
	json_object_set_new(o, "policy", policy_state(dir));
	return o;
}

static void print_upload_state(const json_t *u)
{
	const char *lu = json_string_value(json_object_get(u, "last_upload"));
	const char *le = json_string_value(json_object_get(u, "last_error"));

	printf("fleet:    enrolled as %s with %s\n", json_string_value(json_object_get(u, "device")),
	       json_string_value(json_object_get(u, "collector")));
	printf("uploads:  %lld uploaded, %lld waiting", (long long)json_integer_value(
	       json_object_get(u, "uploaded")), (long long)json_integer_value(
	       json_object_get(u, "waiting")));
	if (json_integer_value(json_object_get(u, "deletions_queued")) > 0)
		printf(", %lld deletions to send", (long long)json_integer_value(
		       json_object_get(u, "deletions_queued")));
	printf("; last upload %s\n", lu != NULL ? lu : "never");
	if (le != NULL)
		printf("last upload error: %s\n", le);
	const json_t *pol = json_object_get(u, "policy");
	const char *applies = json_string_value(json_object_get(pol, "applies"));
	const char *pe = json_string_value(json_object_get(pol, "error"));
	long long serial = (long long)json_integer_value(json_object_get(pol, "serial"));
	if (applies != NULL && strcmp(applies, "local") == 0)
		printf("policy:   local (no collector policy received)\n");
	else if (applies != NULL && strcmp(applies, "collector") == 0)
		printf("policy:   collector serial %lld\n", serial);
	else if (applies != NULL)
		printf("policy:   merged: the local files and collector serial %lld, the stricter "
		       "of each rule\n", serial);
	if (pe != NULL)
		printf("policy refused: %s\n", pe);
}

/*
 * `mimic status` adds the fleet's upload state of the data directory: the one
 * given with --data-dir (given), else the running recorder's, else the default.
 */
static void add_upload_state(json_t *o, const char *given, int json)
{
	const char *dd = given != NULL ? given : json_string_value(json_object_get(o, "data_dir"));
	char *dir = NULL, *cause = NULL;
	json_t *u;

	if (dd != NULL)
		dir = util_xstrdup(dd);
	else if (paths_data_dir(NULL, &dir, &cause) != 0)
		goto done;
	u = upload_state(dir);
	if (u == NULL)
		goto done;
	if (!json)
		print_upload_state(u);
	json_object_set_new(o, "upload", u);
done:
	free(cause);
	free(dir);
}

int cmd_control(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_OPTION_JSON,
		{ "for", required_argument, NULL, 'f' },
		CLI_OPTION_DATA_DIR, CLI_OPTION_HELP, { NULL, 0, NULL, 0 },
	};
	struct ipc_request req = { .version = IPC_VERSION };
	struct cli_opts co = { 0 };
	const char *name = argv[0];
	char *path = NULL, *reply = NULL, *cause = NULL;
	json_t *o = NULL;
	int c, rc;

	if (strcmp(name, "stop") == 0)
		req.cmd = IPC_CMD_STOP;
	else if (strcmp(name, "status") == 0)
		req.cmd = IPC_CMD_STATUS;
	else if (strcmp(name, "pause") == 0)
		req.cmd = IPC_CMD_PAUSE;
	else
		req.cmd = IPC_CMD_RESUME;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (req.cmd != IPC_CMD_STATUS) {
				fprintf(stderr, "mimic: --data-dir is an option of status only (the "
				        "upload state of that directory)\n");
				return CLI_USAGE;
			}
			co.data_dir = optarg;
			break;
		case 'f': {
			int64_t ns;
			if (req.cmd != IPC_CMD_PAUSE || util_parse_duration(optarg, &ns) != 0 || ns <= 0) {
				fprintf(stderr, "mimic: --for takes a duration such as 15m or 1h, "
				                "and only with pause ('%s')\n", optarg);
				return CLI_USAGE;
			}
			req.for_ms = ns / 1000000;
			break;
		}
		default:
			rc = cli_opt(c, &co, control_usage);
			if (rc >= 0)
				return rc;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mimic: %s takes no arguments ('%s')\n", name, argv[optind]);
		return CLI_USAGE;
	}
	rc = CLI_OK;

	if (paths_control_socket(0, &path, &cause) != 0)
		return cli_fail(cause);
	rc = ask_recorder(path, &req, &reply, &o, &cause);
	if (rc < 0 && req.cmd == IPC_CMD_STATUS && co.json) {
		json_t *st = json_pack("{s:i,s:b,s:s}", "v", IPC_VERSION, "ok", 0, "state", "stopped");

		add_upload_state(st, co.data_dir, 1);
		cli_print_json_line(st);
		json_decref(st);
		free(cause);
		rc = CLI_ERROR;
	} else if (rc < 0 && req.cmd == IPC_CMD_STATUS) {
		json_t *st = json_object();

		rc = cli_fail(cause);
		add_upload_state(st, co.data_dir, 0);
		json_decref(st);
	} else if (rc < 0) {
		rc = cli_fail(cause);
	}
	if (rc != CLI_OK)
		goto fail;
	if (!json_is_true(json_object_get(o, "ok"))) {
		const char *e = json_string_value(json_object_get(o, "error"));
		rc = cli_fail(util_xasprintf("the recorder refused %s: %s", name,
		                             e ? e : "no reason given"));
		goto fail;
	}
	if (co.json && req.cmd == IPC_CMD_STATUS) {
		add_upload_state(o, co.data_dir, 1);
		cli_print_json_line(o);
	} else if (co.json) {
		printf("%s\n", reply);
	} else if (req.cmd == IPC_CMD_STATUS) {
		print_status(o);
		add_upload_state(o, co.data_dir, 0);
	} else if (req.cmd == IPC_CMD_STOP) {
		printf("mimic: stopping session %lld\n",
		       (long long)json_integer_value(json_object_get(o, "session")));
	} else {
		printf("mimic: %s\n", json_string_value(json_object_get(o, "state")));
	}
	/* stop returns once the recorder has closed the session, so scripts can read it next. */
	if (req.cmd == IPC_CMD_STOP) {
		struct ipc_request st = { .version = IPC_VERSION, .cmd = IPC_CMD_STATUS };
		char *r2 = NULL, *c2 = NULL;
		for (int i = 0; i < 300; i++) {
			if (ipc_call(path, &st, &r2, &c2) != 0)
				break;
			free(r2);
			r2 = NULL;
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		free(r2);
		free(c2);
	}
fail:
	json_decref(o);
	free(reply);
	free(path);
	return rc;
}

/*
 * `mimic task start "DESCRIPTION"` and `mimic task end --success|--fail`: mark
 * where an episode begins and ends in the running recorder's session.
 */
int cmd_task(int argc, char **argv)
{
	static const char usage[] =
		"usage: mimic task start \"DESCRIPTION\"\n"
		"       mimic task end --success|--fail\n";
	struct ipc_request req = { .version = IPC_VERSION, .cmd = IPC_CMD_TASK };
	char *path = NULL, *reply = NULL, *cause = NULL;
	json_t *o = NULL;
	int rc = CLI_OK;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage, stdout);
		return CLI_OK;
	}
	if (argc == 3 && strcmp(argv[1], "start") == 0) {
		size_t n = strlen(argv[2]);

		if (n == 0 || n > IPC_TASK_DESC_MAX) {
			fprintf(stderr, "mimic: the task description must be 1 to %d bytes\n",
			        IPC_TASK_DESC_MAX);
			return CLI_USAGE;
		}
		req.task = IPC_TASK_START;
		memcpy(req.description, argv[2], n + 1);
	} else if (argc == 3 && strcmp(argv[1], "end") == 0 &&
	           (strcmp(argv[2], "--success") == 0 || strcmp(argv[2], "--fail") == 0)) {
		req.task = IPC_TASK_END;
		req.outcome = strcmp(argv[2], "--success") == 0 ? IPC_OUTCOME_SUCCESS
		                                               : IPC_OUTCOME_FAIL;
	} else {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	if (paths_control_socket(0, &path, &cause) != 0)
		return cli_fail(cause);
	rc = ask_recorder(path, &req, &reply, &o, &cause);
	if (rc < 0)
		rc = cli_fail(cause);
	if (rc != CLI_OK)
		goto fail;
	if (!json_is_true(json_object_get(o, "ok"))) {
		const char *e = json_string_value(json_object_get(o, "error"));

		rc = cli_fail(util_xstrdup(e ? e : "the recorder refused the task marker"));
		goto fail;
	}
	printf("mimic: task %s in session %lld\n", req.task == IPC_TASK_START ? "started" : "ended",
	       (long long)json_integer_value(json_object_get(o, "session")));
fail:
	json_decref(o);
	free(reply);
	free(path);
	return rc;
}
