/*
 * cmd_review: `mimic review`, the local web page where the person recorded sees
 * what was recorded, as an export would give it, and deletes what they do not
 * want to give (review.h, docs/CLI.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "export.h"
#include "policy.h"
#include "review.h"
#include "util.h"

enum { OPT_PORT = 256, OPT_CONFIG, OPT_POLICY, OPT_IMAGE, OPT_NO_OPEN };

static const char usage[] =
	"usage: mimic review [--port N] [--image webp|jpeg|png] [--no-open] [--config FILE]\n"
	"                    [--policy FILE] [--data-dir DIR]\n"
	"Serves a page on 127.0.0.1 that shows each recorded session's steps and screenshots\n"
	"as an export would give them, and deletes steps, episodes, sessions or time ranges.\n"
	"It prints the page's address (with a secret token) and opens it when a display is\n"
	"set; Ctrl+C stops it. --port 0 (the default) takes a free port.\n";

int cmd_review(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, OPT_PORT },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "image", required_argument, NULL, OPT_IMAGE },
		{ "no-open", no_argument, NULL, OPT_NO_OPEN },
		CLI_OPTION_DATA_DIR, CLI_OPTION_HELP, { NULL, 0, NULL, 0 },
	};
	struct cli_opts co = { 0 };
	struct export_opts eo;
	struct review_opts ro;
	struct policy *pol = NULL;
	struct config conf;
	const char *config_path = NULL, *policy_path = NULL;
	const char *const *rules;
	char *cause = NULL, *end;
	long port = 0;
	int c, rc, no_open = 0;

	export_opts_defaults(&eo);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PORT:
			port = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || port < 0 || port > 65535) {
				fprintf(stderr, "mimic: --port takes a port number 0..65535 ('%s')\n",
				        optarg);
				return CLI_USAGE;
			}
			break;
		case OPT_CONFIG: config_path = optarg; break;
		case OPT_POLICY: policy_path = optarg; break;
		case OPT_NO_OPEN: no_open = 1; break;
		case OPT_IMAGE:
			if (encode_format_parse(optarg, &eo.image) != 0) {
				fprintf(stderr, "mimic: --image takes webp, jpeg or png ('%s')\n", optarg);
				return CLI_USAGE;
			}
			break;
		default:
			rc = cli_opt(c, &co, usage);
			if (rc >= 0)
				return rc;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mimic: review takes no arguments ('%s')\n", argv[optind]);
		return cli_usage_error(usage);
	}
	/* The same thresholds and redaction rules as `mimic export`. */
	if (config_load(config_path, &conf, &cause) != 0)
		return cli_fail(cause);
	export_params_from_config(&conf.export_, &eo.params);
	if (policy_load(policy_path, &pol, &cause) != 0)
		return cli_fail(cause);
	rules = policy_redact_rules(pol, &eo.n_redact_rules);
	eo.redact_rules = rules;
	memset(&ro, 0, sizeof(ro));
	ro.data_dir = co.data_dir;
	ro.port = (int)port;
	ro.export_opts = &eo;
	ro.out = stdout;
	ro.open_browser = !no_open && getenv("DISPLAY") != NULL && getenv("DISPLAY")[0] != '\0';
	rc = review_run(&ro, &cause);
	policy_free(pol);
	return rc != 0 ? cli_fail(cause) : CLI_OK;
}
