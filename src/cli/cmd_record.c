/*
 * cmd_record: `mimic record`, the recorder in the foreground.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "recorder.h"

static const char record_usage[] =
	"usage: mimic record [--session-name NAME] [--data-dir DIR] [--display DISPLAY]\n"
	"                    [--config FILE] [--policy FILE] [--no-frames] [--no-elements]\n"
	"                    [--quiet]\n"
	"\n"
	"Records input, window context and event-triggered screenshots in the foreground\n"
	"until `mimic stop`, Ctrl-C or SIGTERM. Data goes to DIR (default\n"
	"$XDG_DATA_HOME/mimic). Settings: FILE, else $XDG_CONFIG_HOME/mimic/mimic.conf if\n"
	"it exists (docs/CONFIG.md). --no-frames takes no screenshots. --no-elements\n"
	"looks up no UI elements over AT-SPI (docs/ELEMENTS.md). What may be recorded:\n"
	"the policy FILE instead of /etc/mimic/policy.conf, plus the person's own\n"
	"exclusions (docs/POLICY.md); recording needs `mimic consent` first.\n";

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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct recorder_opts opts = { 0 };
	int64_t session = 0;
	char *cause = NULL;
	int c, rc;

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
		case 'h': fputs(record_usage, stdout); return CLI_OK;
		default: fputs(record_usage, stderr); return CLI_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mimic: record takes no arguments ('%s'); see `mimic record --help`\n",
		        argv[optind]);
		return CLI_USAGE;
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
