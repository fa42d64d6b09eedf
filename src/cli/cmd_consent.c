/*
 * cmd_consent: `mimic consent`, which shows the organisation's recording
 * notice and records that the person agreed to it (or withdrew), see consent.h
 * and docs/POLICY.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "cli.h"
#include "consent.h"
#include "ipc.h"
#include "paths.h"
#include "policy.h"
#include "store.h"
#include "util.h"

static const char consent_usage[] =
	"usage: mimic consent [--accept | --withdraw] [--policy FILE] [--data-dir DIR]\n"
	"\n"
	"Shows the recording notice the policy names ([consent] notice) and asks whether\n"
	"you agree; recording starts only after you did. --accept agrees without asking\n"
	"(after printing the notice), for scripted set-ups. --withdraw takes the\n"
	"agreement back and stops a running recorder; `mimic forget --all` then deletes\n"
	"what was recorded.\n";

/* Stops a running recorder, if any, and waits until it closed its session. */
/* Appends the agreement or withdrawal to the audit log; a failure is reported, not fatal. */
static void audit_consent(const char *data_dir, const char *action, const char *hex)
{
	char details[160], *cause = NULL;

	snprintf(details, sizeof(details), "{\"action\":\"%s\",\"notice_sha256\":\"%s\"}",
	         action, hex != NULL ? hex : "");
	if (audit_append(data_dir, "consent", details, &cause) != 0) {
		fprintf(stderr, "mimic: warning: the audit log was not written: %s\n", cause);
		free(cause);
	}
}

static int stop_recorder(void)
{
	struct ipc_request req = { .version = IPC_VERSION, .cmd = IPC_CMD_STOP };
	char *path = NULL, *reply = NULL, *cause = NULL;
	int stopped = 0;

	if (paths_control_socket(0, &path, &cause) != 0) {
		free(cause);
		return 0;
	}
	if (ipc_call(path, &req, &reply, &cause) == 0) {
		stopped = 1;
		req.cmd = IPC_CMD_STATUS;
		for (int i = 0; i < 300; i++) {
			struct timespec ts = { 0, 20 * 1000 * 1000 };

			free(reply);
			reply = NULL;
			if (ipc_call(path, &req, &reply, NULL) != 0)
				break;
			nanosleep(&ts, NULL);
		}
	}
	free(reply);
	free(cause);
	free(path);
	return stopped;
}

/* Reads one answer from stdin; 1 when it is "yes" (or "y"). */
static int ask_yes(void)
{
	char line[64];
	size_t n;

	printf("\nDo you agree to be recorded as described above? Type yes to agree: ");
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	return strcmp(line, "yes") == 0 || strcmp(line, "y") == 0 || strcmp(line, "YES") == 0;
}

int cmd_consent(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "accept", no_argument, NULL, 'a' },
		{ "withdraw", no_argument, NULL, 'w' },
		{ "policy", required_argument, NULL, 'P' },
		CLI_OPTION_DATA_DIR, CLI_OPTION_HELP, { NULL, 0, NULL, 0 },
	};
	struct cli_opts co = { 0 };
	const char *policy_path = NULL;
	struct policy *pol = NULL;
	struct store *st = NULL;
	char *data_dir = NULL, *cause = NULL, *text = NULL;
	char hex[65], user[128];
	int accept = 0, withdraw = 0, c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': accept = 1; break;
		case 'w': withdraw = 1; break;
		case 'P': policy_path = optarg; break;
		default:
			rc = cli_opt(c, &co, consent_usage);
			if (rc >= 0)
				return rc;
		}
	}
	rc = CLI_OK;
	if (optind != argc || (accept && withdraw)) {
		fprintf(stderr, "mimic: consent takes --accept or --withdraw and no arguments; "
		                "see `mimic consent --help`\n");
		return CLI_USAGE;
	}
	consent_user(user, sizeof(user));

	/* The notice is the one `mimic record` asks for: merged with the collector's policy. */
	if (withdraw) {
		/* Taking consent back must work even when the policy cannot be read. */
		if (policy_load_effective(policy_path, co.data_dir, &pol, NULL, &cause) != 0) {
			free(cause);
			cause = NULL;
			pol = policy_new();
		}
	} else if (policy_load_effective(policy_path, co.data_dir, &pol, NULL, &cause) != 0) {
		return cli_fail(cause);
	}
	if (paths_data_dir(co.data_dir, &data_dir, &cause) != 0 ||
	    paths_ensure_dir(data_dir, &cause) != 0 || store_open(data_dir, 0, &st, &cause) != 0) {
		rc = cli_fail(cause);
		goto fail;
	}

	if (withdraw) {
		int stopped;

		if (consent_record(st, pol, NULL, 1, &cause) != 0) {
			rc = cli_fail(cause);
			goto fail;
		}
		audit_consent(data_dir, "withdraw", NULL);
		stopped = stop_recorder();
		printf("mimic: %s withdrew consent; nothing more is recorded%s.\n", user,
		       stopped ? " (the running recorder was stopped)" : "");
		printf("mimic: to delete what was recorded: mimic forget --all%s%s\n",
		       co.data_dir ? " --data-dir " : "", co.data_dir ? co.data_dir : "");
		goto fail;
	}

	if (consent_read_notice(pol, &text, hex, &cause) != 0) {
		rc = cli_fail(cause);
		goto fail;
	}
	printf("Recording notice (%s, version %.12s):\n\n", policy_notice_path(pol), hex);
	fputs(text, stdout);
	if (text[0] != '\0' && text[strlen(text) - 1] != '\n')
		putchar('\n');
	if (consent_check(st, pol, NULL) == 0 && !accept) {
		printf("\nmimic: %s already agreed to this notice.\n", user);
		goto fail;
	}
	if (!accept && !ask_yes()) {
		fprintf(stderr, "mimic: you did not agree; nothing will be recorded\n");
		rc = CLI_ERROR;
		goto fail;
	}
	if (consent_record(st, pol, hex, 0, &cause) != 0) {
		rc = cli_fail(cause);
		goto fail;
	}
	audit_consent(data_dir, "accept", hex);
	printf("\nmimic: recorded that %s agreed to notice version %.12s. Take it back any "
	       "time with `mimic consent --withdraw`.\n", user, hex);
fail:
	free(text);
	store_close(st);
	free(data_dir);
	policy_free(pol);
	return rc;
}
