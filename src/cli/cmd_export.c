/*
 * cmd_export: `mimic export`, which writes sessions as a dataset (JSON Lines or
 * WebDataset shards, docs/EXPORT.md), and `mimic stats`, which counts their
 * steps by action, interaction type and application. Both only read the data
 * directory: they work while a recorder writes. Export reads the policy as
 * `mimic record` does, for the organisation's redaction rules and pseudonym key
 * (docs/POLICY.md, [redaction]).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "export.h"
#include "log.h"
#include "paths.h"
#include "policy.h"
#include "scrub.h"
#include "store.h"
#include "util.h"

struct ids {
	int64_t *v;
	size_t n;
};

static int add_session(const struct store_session *s, void *arg)
{
	struct ids *ids = arg;

	ids->v = util_xrealloc(ids->v, (ids->n + 1) * sizeof(*ids->v));
	ids->v[ids->n++] = s->id;
	return 0;
}

/* The sessions SPEC (or every session with all) names, in recorded order. */
static int resolve_sessions(const char *dir, const char *spec, int all, struct ids *ids,
                            char **cause)
{
	struct store *st = NULL;
	char *data_dir = NULL;
	int64_t id;
	int rc;

	rc = paths_data_dir(dir, &data_dir, cause);
	if (rc == 0)
		rc = store_open(data_dir, STORE_READONLY, &st, cause);
	if (rc == 0 && all) {
		rc = store_sessions_foreach(st, add_session, ids, cause);
	} else if (rc == 0) {
		rc = store_session_resolve(st, spec, &id, cause);
		if (rc == 0) {
			ids->v = util_xmalloc(sizeof(*ids->v));
			ids->v[0] = id;
			ids->n = 1;
		}
	}
	if (rc == 0 && ids->n == 0)
		rc = util_fail(cause, -ENOENT, "there are no sessions in %s yet", data_dir);
	store_close(st);
	free(data_dir);
	return rc;
}

enum { OPT_EPISODE_IDLE = 256, OPT_NO_SPLIT_APP, OPT_KEY, OPT_RULES, OPT_IMAGE, OPT_SHARD,
       OPT_CONFIG, OPT_POLICY };

/* The options export and stats share besides --data-dir and --help. */
#define EPISODE_OPTIONS \
	{ "episode-idle", required_argument, NULL, OPT_EPISODE_IDLE }, \
	{ "no-split-app", no_argument, NULL, OPT_NO_SPLIT_APP }, \
	{ "config", required_argument, NULL, OPT_CONFIG }

/* Most --rules options of one export. */
#define EXPORT_RULES_ARGS_MAX 16

/*
 * What the policy says about redaction, applied to the export's options: the
 * organisation's rules files first, then those given with --rules; the
 * organisation's pseudonym key, which --key may not replace (its pseudonyms
 * would no longer match the organisation's other exports). rules must have room
 * for POLICY_RULES_MAX + n_args paths. Returns 0, or CLI_USAGE after a message.
 */
static int apply_policy(const struct policy *pol, const char **rules, const char *const *args,
                        size_t n_args, struct export_opts *o)
{
	const char *const *pr;
	const char *where = NULL, *key;
	size_t n = 0, npr;

	pr = policy_redact_rules(pol, &npr);
	for (size_t i = 0; i < npr; i++)
		rules[n++] = pr[i];
	for (size_t i = 0; i < n_args; i++)
		rules[n++] = args[i];
	o->redact_rules = rules;
	o->n_redact_rules = n;
	o->url_query = policy_url_query(pol);
	key = policy_pseudonym_key(pol, &where);
	if (key == NULL)
		return 0;
	if (o->key_path != NULL) {
		fprintf(stderr, "mimic: --key cannot be used: the policy sets the organisation's "
		        "pseudonym key (pseudonym_key = %s, %s); leave --key out\n", key,
		        where != NULL ? where : "?");
		return CLI_USAGE;
	}
	o->key_path = key;
	o->key_origin = where;
	return 0;
}

/*
 * The thresholds: the exporter's defaults, then the [export] section of the
 * settings file (--config FILE, else the user's file when it exists).
 */
static int load_params(const char *config_path, struct export_params *p)
{
	struct config c;
	char *cause = NULL;

	export_params_defaults(p);
	if (config_load(config_path, &c, &cause) != 0)
		return cli_fail(cause);
	export_params_from_config(&c.export_, p);
	return 0;
}

int cli_export_setup(const struct policy *pol, const char *config_path, const char **rules,
                     struct export_opts *o)
{
	if (load_params(config_path, &o->params) != 0)
		return CLI_ERROR;
	return apply_policy(pol, rules, NULL, 0, o);
}

/* The --config argument, found before the other options are applied over it. */
static const char *config_arg(int argc, char **argv)
{
	const char *path = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
	}
	return path;
}

/* The options export and stats share. Returns 0, or CLI_USAGE after a message. */
static int episode_option(int ch, const char *arg, struct export_params *p)
{
	int64_t ns;

	if (ch == OPT_EPISODE_IDLE) {
		if (util_parse_duration(arg, &ns) != 0 || ns < 1000000 ||
		    ns / 1000000 > 24LL * 3600 * 1000) {
			fprintf(stderr, "mimic: --episode-idle takes a duration such as 2m or 90s "
			                "('%s')\n", arg);
			return CLI_USAGE;
		}
		p->episode_idle_ms = (int)(ns / 1000000);
		return 0;
	}
	p->episode_split_app = 0;
	return 0;
}

/* What export's command line says besides its struct export_opts. */
struct export_args {
	struct cli_opts co;
	int all;
	int have_format;
	const char *policy_path;
	const char *rule_args[EXPORT_RULES_ARGS_MAX];
	size_t n_rule_args;
};

/*
 * One option of export, as getopt_long returned it, into o and a. Returns -1 when
 * parsing goes on, else the exit status for cmd_export to return.
 */
static int export_option(int ch, struct export_opts *o, struct export_args *a,
                         const char *usage)
{
	switch (ch) {
	case 'a': a->all = 1; break;
	case 'f':
		if (strcmp(optarg, "jsonl") == 0) {
			o->format = EXPORT_JSONL;
		} else if (strcmp(optarg, "webdataset") == 0 || strcmp(optarg, "wds") == 0) {
			o->format = EXPORT_WEBDATASET;
		} else {
			fprintf(stderr, "mimic: --format is jsonl or webdataset ('%s')\n", optarg);
			return CLI_USAGE;
		}
		a->have_format = 1;
		break;
	case 'o': o->out_dir = optarg; break;
	case OPT_IMAGE:
		if (encode_format_parse(optarg, &o->image) != 0) {
			fprintf(stderr, "mimic: --image is png, jpeg or webp ('%s')\n", optarg);
			return CLI_USAGE;
		}
		break;
	case OPT_SHARD:
		if (util_parse_size(optarg, &o->shard_bytes) != 0 || o->shard_bytes < 4096) {
			fprintf(stderr, "mimic: --shard-size takes a size of at least 4096 bytes, "
			                "such as 500M ('%s')\n", optarg);
			return CLI_USAGE;
		}
		break;
	case OPT_EPISODE_IDLE:
	case OPT_NO_SPLIT_APP:
		if (episode_option(ch, optarg, &o->params) != 0)
			return CLI_USAGE;
		break;
	case OPT_KEY: o->key_path = optarg; break;
	case OPT_CONFIG: break;
	case OPT_POLICY: a->policy_path = optarg; break;
	case OPT_RULES:
		if (a->n_rule_args == EXPORT_RULES_ARGS_MAX) {
			fprintf(stderr, "mimic: at most %d --rules files\n", EXPORT_RULES_ARGS_MAX);
			return CLI_USAGE;
		}
		a->rule_args[a->n_rule_args++] = optarg;
		break;
	default:
		return cli_opt(ch, &a->co, usage);
	}
	return -1;
}

int cmd_export(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "format", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ "image", required_argument, NULL, OPT_IMAGE },
		{ "shard-size", required_argument, NULL, OPT_SHARD },
		EPISODE_OPTIONS,
		{ "key", required_argument, NULL, OPT_KEY },
		{ "rules", required_argument, NULL, OPT_RULES },
		{ "policy", required_argument, NULL, OPT_POLICY },
		CLI_OPTION_DATA_DIR, CLI_OPTION_HELP, { NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: mimic export SESSION|--all --format jsonl|webdataset --out DIR\n"
		"         [--image png|jpeg|webp] [--shard-size SIZE] [--episode-idle DURATION]\n"
		"         [--no-split-app] [--key FILE] [--rules FILE]... [--config FILE]\n"
		"         [--policy FILE] [--data-dir DIR]\n"
		"SESSION is a session id, a session name, or `last`. DIR must be new, or empty and yours.\n"
		"The policy (FILE, else /etc/mimic/policy.conf when it exists) may add redaction\n"
		"rules and set the pseudonym key ([redaction], docs/POLICY.md).\n";
	struct export_opts o;
	struct export_args a = { 0 };
	struct export_report rep;
	struct ids ids = { 0 };
	struct policy *pol = NULL;
	const char *rules[POLICY_RULES_MAX + EXPORT_RULES_ARGS_MAX];
	char *cause = NULL;
	int ch, rc;

	export_opts_defaults(&o);
	if (load_params(config_arg(argc, argv), &o.params) != 0)
		return CLI_ERROR;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "af:o:d:h", longopts, NULL)) != -1) {
		rc = export_option(ch, &o, &a, usage);
		if (rc >= 0)
			return rc;
	}
	if (optind + (a.all ? 0 : 1) != argc || o.out_dir == NULL || !a.have_format)
		return cli_usage_error(usage);
	/* The same policy `mimic record` reads: the system's (or FILE) and the person's. */
	if (policy_load(a.policy_path, &pol, &cause) != 0)
		return cli_fail(cause);
	rc = apply_policy(pol, rules, a.rule_args, a.n_rule_args, &o);
	if (rc != 0) {
		policy_free(pol);
		return rc;
	}
	rc = resolve_sessions(a.co.data_dir, a.all ? NULL : argv[optind], a.all, &ids, &cause);
	if (rc == 0) {
		o.data_dir = a.co.data_dir;
		o.sessions = ids.v;
		o.n_sessions = ids.n;
		rc = export_run(&o, &rep, &cause);
	}
	free(ids.v);
	policy_free(pol);
	if (rc != 0)
		return cli_fail(cause);
	fprintf(stderr, "mimic: exported %llu steps in %llu episodes from %llu sessions to %s "
	        "(%llu images, %.1f MB, %.1f s)\n", (unsigned long long)rep.steps,
	        (unsigned long long)rep.episodes, (unsigned long long)rep.sessions, o.out_dir,
	        (unsigned long long)rep.images, (double)rep.bytes / 1e6, rep.seconds);
	if (rep.steps_excluded > 0)
		fprintf(stderr, "mimic: left out %llu steps of episodes marked \"do not use\" "
		        "(mimic review)\n", (unsigned long long)rep.steps_excluded);
	if (rep.frames_filled > 0 || rep.frames_dropped > 0)
		fprintf(stderr, "mimic: redaction: %llu frames kept with personal data or secrets filled, %llu "
		        "dropped (retention %.0f %%)\n", (unsigned long long)rep.frames_filled,
		        (unsigned long long)rep.frames_dropped,
		        100.0 * (double)rep.frames_filled /
		        (double)(rep.frames_filled + rep.frames_dropped));
	if (rep.frames_missing > 0 || rep.frames_dropped > 0 || rep.steps_without_frame > 0 ||
	    rep.texts_dropped > 0 || rep.sessions_unclosed > 0)
		fprintf(stderr, "mimic: skipped: %llu frames missing or unreadable, %llu frames "
		        "dropped by redaction, %llu steps without a pre-action image (%llu left out of "
		        "the shards), %llu text "
		        "fields dropped, %llu sessions not closed (exported as far as stored); "
		        "see README.md in the export\n",
		        (unsigned long long)rep.frames_missing, (unsigned long long)rep.frames_dropped,
		        (unsigned long long)rep.steps_without_frame,
		        (unsigned long long)rep.steps_left_out,
		        (unsigned long long)rep.texts_dropped,
		        (unsigned long long)rep.sessions_unclosed);
	return CLI_OK;
}

int cmd_stats(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		CLI_OPTION_JSON, EPISODE_OPTIONS, CLI_OPTION_DATA_DIR, CLI_OPTION_HELP, { NULL, 0, NULL, 0 },
	};
	static const char usage[] =
		"usage: mimic stats [SESSION|--all] [--json] [--config FILE] [--data-dir DIR]\n"
		"Counts steps by action and interaction type, per application (default: all "
		"sessions).\n";
	struct export_params p;
	struct export_stats *s = NULL;
	struct ids ids = { 0 };
	struct cli_opts co = { 0 };
	char *cause = NULL;
	int all = 0, ch, rc;

	if (load_params(config_arg(argc, argv), &p) != 0)
		return CLI_ERROR;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "ajd:h", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_CONFIG: break;
		case 'a': all = 1; break;
		case OPT_EPISODE_IDLE:
		case OPT_NO_SPLIT_APP:
			if (episode_option(ch, optarg, &p) != 0)
				return CLI_USAGE;
			break;
		default:
			rc = cli_opt(ch, &co, usage);
			if (rc >= 0)
				return rc;
		}
	}
	if (optind < argc - 1 || (all && optind != argc))
		return cli_usage_error(usage);
	if (optind == argc)
		all = 1;
	rc = resolve_sessions(co.data_dir, all ? NULL : argv[optind], all, &ids, &cause);
	if (rc == 0)
		rc = export_stats_run(co.data_dir, ids.v, ids.n, &p, &s, &cause);
	free(ids.v);
	if (rc == 0)
		rc = export_stats_print(s, stdout, co.json);
	export_stats_free(s);
	if (rc == 0 && fflush(stdout) != 0)
		rc = util_fail(&cause, -EIO, "cannot write the counts: %s", strerror(errno));
	if (rc != 0)
		return cli_fail(cause != NULL ? cause : util_xstrdup("cannot print the counts"));
	return CLI_OK;
}

/*
 * `mimic-data scan-worker --data-dir DIR --session ID [--policy FILE]
 * [--interval SECONDS]`: the recorder's background OCR scan of stored frames
 * (scan_while_recording, docs/REDACTION.md). Started and stopped by `mimic
 * record`, not by people: it scans until SIGTERM, every SCRUB_WORKER_INTERVAL_S
 * seconds unless --interval says otherwise (for tests). It reads the policy as
 * the recorder and the export do, and scans with the organisation's redaction
 * rules added to the built-in ones, as the export does, so that the export can
 * use what it scanned.
 */
int cmd_scan_worker(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "session", required_argument, NULL, 's' },
		{ "policy", required_argument, NULL, 'P' },
		{ "interval", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *policy_path = NULL;
	const char *const *rules;
	struct scrub_worker *w = NULL;
	struct policy *pol = NULL;
	struct redact *rd = NULL;
	long long session = -1, interval = SCRUB_WORKER_INTERVAL_S;
	char *cause = NULL, *end;
	sigset_t stop;
	size_t n_rules = 0;
	int ch, sig, rc;

	while ((ch = getopt_long(argc, argv, "d:s:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 'P':
			policy_path = optarg;
			break;
		case 's':
			errno = 0;
			session = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || session <= 0)
				session = -1;
			break;
		case 'i':
			errno = 0;
			interval = strtoll(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || interval <= 0 || interval > 86400)
				interval = -1;
			break;
		default:
			return CLI_USAGE;
		}
	}
	if (dir == NULL || session <= 0 || interval <= 0 || optind != argc) {
		fprintf(stderr, "usage: mimic-data scan-worker --data-dir DIR --session ID "
		                "[--policy FILE] [--interval SECONDS] (started by `mimic record`)\n");
		return CLI_USAGE;
	}
	/* The same policy the recorder and the export read: FILE or the system's, and the person's. */
	if (policy_load(policy_path, &pol, &cause) != 0)
		return cli_fail(cause);
	rules = policy_redact_rules(pol, &n_rules);
	rc = redact_open_files(rules, n_rules, &rd, &cause);
	policy_free(pol);
	if (rc != 0)
		return cli_fail(cause);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	/* rd is the thread's until scrub_worker_stop has returned. */
	if (scrub_worker_start(dir, rd, session, (int)interval, &w, &cause) != 0) {
		redact_close(rd);
		return cli_fail(cause);
	}
	sigwait(&stop, &sig);
	scrub_worker_stop(w);
	redact_close(rd);
	return CLI_OK;
}
