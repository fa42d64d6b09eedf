/*
 * cmd_record: `mimic record`, the recorder in the foreground; with
 * --if-consented, also the command a login starts (the package's XDG autostart
 * entry and systemd user unit), which must never ask anything.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "consent.h"
#include "ipc.h"
#include "paths.h"
#include "policy.h"
#include "recorder.h"
#include "store.h"
#include "testbreak.h"
#include "util.h"

static const char record_usage[] =
	"usage: mimic record [--session-name NAME] [--data-dir DIR] [--display DISPLAY]\n"
	"                    [--config FILE] [--policy FILE] [--no-frames] [--no-elements]\n"
	"                    [--quiet] [--if-consented]\n"
	"\n"
	"Records input, window context and event-triggered screenshots in the foreground\n"
	"until `mimic stop`, Ctrl-C or SIGTERM. Data goes to DIR (default\n"
	"$XDG_DATA_HOME/mimic). Settings: FILE, else $XDG_CONFIG_HOME/mimic/mimic.conf if\n"
	"it exists (docs/CONFIG.md). --no-frames takes no screenshots. --no-elements\n"
	"looks up no UI elements over AT-SPI (docs/ELEMENTS.md). What may be recorded:\n"
	"the policy FILE instead of /etc/mimic/policy.conf, plus the person's own\n"
	"exclusions (docs/POLICY.md); recording needs `mimic consent` first.\n"
	"--if-consented (for login autostart): when the person has not agreed to the\n"
	"current notice, the session is Wayland, or a recorder already runs, prints one\n"
	"line saying so and exits 0 without creating anything.\n";

/*
 * Why a recorder started at login should not run, as one line (malloc'ed), or
 * NULL when it should. Nothing is created or asked: a data directory without a
 * database means no agreement. Errors that recorder_run reports better (a policy
 * that cannot be read, a damaged database) give NULL, so that it reports them.
 */
static char *login_skip_reason(const struct recorder_opts *opts)
{
	struct policy *pol = NULL;
	struct store *st = NULL;
	char *data_dir = NULL, *cause = NULL, *reason = NULL, *sock = NULL, *reply = NULL;
	const char *session_type = getenv("XDG_SESSION_TYPE");
	char user[128], hex[65];
	int rc;

	if (policy_load_effective(opts->policy_path, opts->data_dir, &pol, NULL, &cause) != 0)
		goto fail;
	if (paths_data_dir(opts->data_dir, &data_dir, &cause) != 0)
		goto fail;
	rc = store_open(data_dir, STORE_READONLY, &st, &cause);
	if (rc == -ENOENT) {
		/* No database yet: nobody agreed here, unless the policy names no notice. */
		free(cause);
		cause = NULL;
		if (consent_read_notice(pol, NULL, hex, &cause) != 0) {
			reason = cause;
			cause = NULL;
			goto fail;
		}
		consent_user(user, sizeof(user));
		reason = util_xasprintf("%s has not agreed to the recording notice; read it and "
		                        "agree with `mimic consent`", user);
		goto fail;
	}
	if (rc != 0)
		goto fail;
	if (!testbreak("record-if-consented-ignored") && consent_check(st, pol, &cause) != 0) {
		reason = cause;
		cause = NULL;
		goto fail;
	}
	if (session_type != NULL && strcmp(session_type, "wayland") == 0) {
		reason = util_xasprintf("this is a Wayland session and mimic records X11 sessions "
		                        "only (log in to an X11 session, such as \"GNOME on Xorg\")");
		goto fail;
	}
	/* A second start (the autostart entry and the user unit both) is no error. */
	if (paths_control_socket(0, &sock, &cause) == 0) {
		struct ipc_request req = { .version = IPC_VERSION, .cmd = IPC_CMD_STATUS };

		if (ipc_call(sock, &req, &reply, NULL) == 0)
			reason = util_xasprintf("a recorder is already running (control socket %s)",
			                        sock);
	}
fail:
	free(reply);
	free(sock);
	free(cause);
	store_close(st);
	free(data_dir);
	policy_free(pol);
	return reason;
}

int cmd_record(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "session-name", required_argument, NULL, 'n' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "display", required_argument, NULL, 'D' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "config", required_argument, NULL, 'c' },
		{ "no-frames", no_argument, NULL, 'F' },
		{ "no-elements", no_argument, NULL, 'E' },
		{ "policy", required_argument, NULL, 'P' },
		{ "if-consented", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct recorder_opts opts = { 0 };
	int64_t session = 0;
	char *cause = NULL, *skip;
	int c, rc, if_consented = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "n:d:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': opts.session_name = optarg; break;
		case 'd': opts.data_dir = optarg; break;
		case 'D': opts.display = optarg; break;
		case 'q': opts.quiet = 1; break;
		case 'c': opts.config_path = optarg; break;
		case 'F': opts.no_frames = 1; break;
		case 'E': opts.no_elements = 1; break;
		case 'P': opts.policy_path = optarg; break;
		case 'C': if_consented = 1; break;
		case 'h': fputs(record_usage, stdout); return CLI_OK;
		default: fputs(record_usage, stderr); return CLI_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mimic: record takes no arguments ('%s'); see `mimic record --help`\n",
		        argv[optind]);
		return CLI_USAGE;
	}

	if (if_consented) {
		skip = login_skip_reason(&opts);
		if (skip != NULL) {
			char *line = util_escape_ctl(skip);

			/* One line for the journal or ~/.xsession-errors; a login is no error. */
			fprintf(stderr, "mimic: not recording: %s\n", line);
			free(line);
			free(skip);
			return CLI_OK;
		}
	}
	rc = recorder_run(&opts, &session, &cause);
	if (rc < 0)
		return cli_fail(cause);
	switch (rc) {
	case RECORDER_END_STOPPED:
		free(cause);
		return CLI_OK;
	case RECORDER_END_X_GONE:
		fprintf(stderr, "mimic: %s; session %lld was closed with what was captured\n",
		        cause != NULL ? cause : "lost the X server", (long long)session);
		free(cause);
		return CLI_X_GONE;
	default:
		fprintf(stderr, "mimic: %s; session %lld was closed, some events were not stored\n",
		        cause != NULL ? cause : "writing events failed", (long long)session);
		free(cause);
		return CLI_WRITE_FAILED;
	}
}
