/*
 * cmd_fleet: `mimic enroll` and `mimic upload`, the device's end of the fleet
 * (docs/FLEET.md, "The device side"; docs/CLI.md). They run in mimic-data, which
 * holds the export and the HTTP client; `mimic` hands them over.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fleet_proto.h"
#include "paths.h"
#include "policy.h"
#include "store.h"
#include "upload.h"
#include "util.h"

int cmd_enroll(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "token", required_argument, NULL, 't' },
		{ "ca", required_argument, NULL, 'c' },
		CLI_OPTION_DATA_DIR, CLI_OPTION_HELP, { NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: mimic enroll URL --token TOKEN [--ca FILE] [--data-dir DIR]\n"
		"Enrols this machine with the organisation's collector at URL (https://; plain\n"
		"http only to a loopback address). TOKEN is the one-time token from\n"
		"`mimic-collector token new`; FILE the CA the collector's certificate is checked\n"
		"with (default: the system's).\n";
	struct cli_opts co = { 0 };
	const char *token = NULL, *ca = NULL;
	char *data_dir = NULL, *device = NULL, *cause = NULL;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "d:h", longopts, NULL)) != -1) {
		if (ch == 't') {
			token = optarg;
		} else if (ch == 'c') {
			ca = optarg;
		} else {
			rc = cli_opt(ch, &co, usage);
			if (rc >= 0)
				return rc;
		}
	}
	if (optind + 1 != argc || token == NULL)
		return cli_usage_error(usage);
	if (token[0] == '\0' || strlen(token) > 256)
		return cli_fail(util_xasprintf("--token takes the token `mimic-collector token new` "
		                               "printed"));
	if (paths_data_dir(co.data_dir, &data_dir, &cause) != 0 ||
	    paths_ensure_dir(data_dir, &cause) != 0) {
		free(data_dir);
		return cli_fail(cause);
	}
	rc = upload_enroll(data_dir, argv[optind], token, ca, &device, &cause);
	/* Enrolled, even when the collector's policy was refused (the error line says so). */
	if (device != NULL)
		printf("mimic: enrolled as device %s with %s\n", device, argv[optind]);
	free(device);
	free(data_dir);
	return rc == 0 ? CLI_OK : cli_fail(cause);
}

enum { OPT_CHUNK = 256, OPT_RATE, OPT_ATTEMPTS, OPT_RETRY, OPT_POLICY, OPT_CONFIG, OPT_DELETIONS };

int cmd_upload(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "now", no_argument, NULL, 'n' },
		{ "session", required_argument, NULL, 's' },
		{ "chunk-size", required_argument, NULL, OPT_CHUNK },
		{ "max-rate", required_argument, NULL, OPT_RATE },
		{ "attempts", required_argument, NULL, OPT_ATTEMPTS },
		{ "retry-after", required_argument, NULL, OPT_RETRY },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "deletions-only", no_argument, NULL, OPT_DELETIONS },
		CLI_OPTION_DATA_DIR, CLI_OPTION_HELP, { NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: mimic upload [--now] [--session ID] [--chunk-size SIZE] [--max-rate SIZE]\n"
		"         [--attempts N] [--retry-after DURATION] [--policy FILE] [--config FILE]\n"
		"         [--deletions-only] [--data-dir DIR]\n"
		"Uploads each ended session older than the policy's [upload] upload_delay (default\n"
		"1h; --now: any ended session) and not uploaded yet to the collector this machine\n"
		"enrolled with, as a sealed bundle of its export. Sends the deletions `mimic forget`\n"
		"queued first. --max-rate caps the bytes per second.\n";
	struct upload_opts o;
	struct upload_report rep;
	struct cli_opts co = { 0 };
	struct policy *pol = NULL;
	const char *policy_path = NULL, *config_path = NULL, *session = NULL;
	const char *rules[POLICY_RULES_MAX];
	char *data_dir = NULL, *cause = NULL;
	int now = 0, ch, rc;
	int64_t v;

	upload_opts_defaults(&o);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "ns:d:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'n': now = 1; break;
		case 's': session = optarg; break;
		case OPT_POLICY: policy_path = optarg; break;
		case OPT_CONFIG: config_path = optarg; break;
		case OPT_DELETIONS: o.deletions_only = 1; break;
		case OPT_CHUNK:
			if (util_parse_size(optarg, &v) != 0 || v < 1024 || v > FLEET_CHUNK_BYTES) {
				fprintf(stderr, "mimic: --chunk-size takes a size from 1K to 1M ('%s')\n",
				        optarg);
				return CLI_USAGE;
			}
			o.chunk_bytes = (size_t)v;
			break;
		case OPT_RATE:
			if (util_parse_size(optarg, &v) != 0 || v < 1024) {
				fprintf(stderr, "mimic: --max-rate takes bytes per second, at least 1K "
				        "('%s')\n", optarg);
				return CLI_USAGE;
			}
			o.max_rate = v;
			break;
		case OPT_ATTEMPTS: {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end != '\0' || n < 1 || n > 100) {
				fprintf(stderr, "mimic: --attempts takes a number from 1 to 100 ('%s')\n",
				        optarg);
				return CLI_USAGE;
			}
			o.attempts = (int)n;
			break;
		}
		case OPT_RETRY:
			if (util_parse_duration(optarg, &v) != 0 || v < 1000000 ||
			    v > INT64_C(60) * 1000000000) {
				fprintf(stderr, "mimic: --retry-after takes a duration from 1ms to 60s "
				        "('%s')\n", optarg);
				return CLI_USAGE;
			}
			o.retry_base_ms = v / 1000000;
			break;
		default:
			rc = cli_opt(ch, &co, usage);
			if (rc >= 0)
				return rc;
		}
	}
	if (optind != argc)
		return cli_usage_error(usage);
	if (paths_data_dir(co.data_dir, &data_dir, &cause) != 0)
		return cli_fail(cause);
	/* The collector's policy as stored before this run; this run fetches the next one. */
	if (policy_load_effective(policy_path, data_dir, &pol, NULL, &cause) != 0) {
		free(data_dir);
		return cli_fail(cause);
	}
	rc = cli_export_setup(pol, config_path, rules, &o.export_);
	if (rc != 0)
		goto out;
	o.delay_ms = now ? -1 : policy_upload_delay_ms(pol);
	o.spool_max = policy_spool_max(pol);
	o.data_dir = data_dir;
	if (session != NULL) {
		struct store *st = NULL;

		rc = store_open(data_dir, STORE_READONLY, &st, &cause);
		if (rc == 0)
			rc = store_session_resolve(st, session, &o.session, &cause);
		store_close(st);
		if (rc != 0) {
			rc = cli_fail(cause);
			goto out;
		}
	}
	rc = upload_run(&o, &rep, &cause);
	if (rep.deletions > 0)
		printf("mimic: the collector deleted %d forgotten session%s\n", rep.deletions,
		       rep.deletions == 1 ? "" : "s");
	if (!o.deletions_only && (rc == 0 || rep.uploaded > 0 || rep.failed > 0))
		printf("mimic: uploaded %d session%s (%.1f MB sent); %d waiting for the upload "
		       "delay; %d failed\n", rep.uploaded, rep.uploaded == 1 ? "" : "s",
		       (double)rep.bytes / 1e6, rep.not_yet, rep.failed);
	rc = rc == 0 ? CLI_OK : cli_fail(cause);
out:
	policy_free(pol);
	free(data_dir);
	return rc;
}
