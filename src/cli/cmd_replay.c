/*
 * cmd_replay: `mimic replay EXPORT_DIR` (the export's steps carried out again
 * through the agent server's path) and `mimic eval EXPORT_DIR --agent ...`
 * (offline scoring of an agent on an export); docs/AGENTS.md.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval.h"
#include "online.h"
#include "replay.h"

static const char replay_usage[] =
	"usage: mimic replay EXPORT_DIR [--episode ID] [--speed X] [--display DISPLAY]\n"
	"                    [--policy FILE] [--timeout SECONDS] [--force]\n"
	"\n"
	"Carries out the steps of an export (`mimic export --format jsonl --out EXPORT_DIR`)\n"
	"again on DISPLAY, through the agent server's own input devices: the running\n"
	"`mimic record` records the replay as an agent run (source \"agent\"), and input of\n"
	"anyone else stops it. Steps come as far apart as recorded, divided by X (default 1);\n"
	"before each, a window of the step's application must be there (under the step's\n"
	"point), waiting up to SECONDS (default 10), and the UI element at the point of a\n"
	"click, drag or scroll must be the one recorded (role, name, bounds within 4 px),\n"
	"else the replay stops there; --force carries on with a warning. An export whose\n"
	"typed text was redacted is refused. See docs/AGENTS.md.\n";

static const char eval_usage[] =
	"usage: mimic eval EXPORT_DIR --agent oracle|random|COMMAND [--episode ID]\n"
	"                  [--tolerance PX] [--seed N] [--timeout SECONDS] [--json]\n"
	"       mimic eval --online TASKS --agent COMMAND [--task ID] [--display DISPLAY]\n"
	"                  [--policy FILE] [--timeout SECONDS] [--json]\n"
	"\n"
	"Scores an agent on an export, step by step: given the observation (screenshot path,\n"
	"task, application, the episode's actions so far), it predicts the action, which is\n"
	"compared with the recorded one (same action; the point inside the recorded element's\n"
	"box, or within PX pixels, default 10; text and keys equal). `oracle` answers the\n"
	"recorded action, `random` a random one; a COMMAND (run with sh -c) reads one\n"
	"observation per line on stdin and answers one action per line on stdout. Prints the\n"
	"accuracy per action kind, per interaction type and overall (--json: one object).\n"
	"\n"
	"--online: runs the tasks of the file TASKS (JSON) on the live desktop: each task's\n"
	"application is started, COMMAND gets a live screenshot each turn and answers one\n"
	"action, carried out through the agent's devices and recorded by the running\n"
	"`mimic record` as an episode, until it answers {\"action\":\"done\"} or a limit is\n"
	"reached; the task's check of the application's output or exit status decides.\n"
	"Prints success per task and overall. See docs/AGENTS.md.\n";

/* A number from lo to hi, or -1 after saying what is wrong with it. */
static int number_opt(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !(v >= lo && v <= hi)) {
		fprintf(stderr, "mimic: %s '%s' is not a number from %g to %g\n", opt, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int cmd_replay(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "episode", required_argument, NULL, 'e' },
		{ "speed", required_argument, NULL, 's' },
		{ "display", required_argument, NULL, 'D' },
		{ "policy", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		CLI_OPTION_HELP,
		{ NULL, 0, NULL, 0 },
	};
	struct replay_opts o = { .speed = 1, .window_timeout_ms = REPLAY_WINDOW_TIMEOUT_MS,
	                         .progress = stdout, .warnings = stderr };
	char *cause = NULL;
	double v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'e': o.episode = optarg; break;
		case 's':
			if (number_opt("--speed", optarg, 0.01, 1000, &o.speed) != 0)
				return CLI_USAGE;
			break;
		case 'D': o.display = optarg; break;
		case 'P': o.policy_path = optarg; break;
		case 't':
			if (number_opt("--timeout", optarg, 0, 3600, &v) != 0)
				return CLI_USAGE;
			o.window_timeout_ms = (int64_t)(v * 1000);
			break;
		case 'f': o.force = 1; break;
		case 'h': fputs(replay_usage, stdout); return CLI_OK;
		default: fputs(replay_usage, stderr); return CLI_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "mimic: replay takes one export folder (`mimic export --format jsonl "
		        "--out DIR` wrote it); see `mimic replay --help`\n");
		return CLI_USAGE;
	}
	o.dir = argv[optind];
	if (replay_run(&o, &cause) != 0)
		return cli_fail(cause);
	return CLI_OK;
}

int cmd_eval(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "agent", required_argument, NULL, 'a' },
		{ "episode", required_argument, NULL, 'e' },
		{ "tolerance", required_argument, NULL, 'T' },
		{ "seed", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 't' },
		{ "online", required_argument, NULL, 'o' },
		{ "task", required_argument, NULL, 'k' },
		{ "display", required_argument, NULL, 'D' },
		{ "policy", required_argument, NULL, 'P' },
		CLI_OPTION_JSON,
		CLI_OPTION_HELP,
		{ NULL, 0, NULL, 0 },
	};
	struct eval_opts o = { .tolerance_px = EVAL_TOLERANCE_PX, .seed = 1,
	                       .timeout_ms = EVAL_TIMEOUT_MS };
	struct online_opts on = { 0 };
	json_t *report = NULL;
	char *cause = NULL;
	int c, json = 0, rc;
	double v;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': o.agent = optarg; break;
		case 'e': o.episode = optarg; break;
		case 'T':
			if (number_opt("--tolerance", optarg, 0, 10000, &v) != 0)
				return CLI_USAGE;
			o.tolerance_px = (int32_t)v;
			break;
		case 'S':
			if (number_opt("--seed", optarg, 0, 1e15, &v) != 0)
				return CLI_USAGE;
			o.seed = (uint64_t)v;
			break;
		case 't':
			if (number_opt("--timeout", optarg, 0.001, 3600, &v) != 0)
				return CLI_USAGE;
			o.timeout_ms = (int64_t)(v * 1000);
			break;
		case 'o': on.tasks_path = optarg; break;
		case 'k': on.only = optarg; break;
		case 'D': on.display = optarg; break;
		case 'P': on.policy_path = optarg; break;
		case 'j': json = 1; break;
		case 'h': fputs(eval_usage, stdout); return CLI_OK;
		default: fputs(eval_usage, stderr); return CLI_USAGE;
		}
	}
	if (on.tasks_path != NULL) {
		if (argc != optind || o.agent == NULL || o.agent[0] == '\0' ||
		    strcmp(o.agent, "oracle") == 0 || strcmp(o.agent, "random") == 0) {
			fprintf(stderr, "mimic: eval --online takes a task file and --agent COMMAND (no "
			        "export folder; oracle and random are offline agents); see `mimic eval "
			        "--help`\n");
			return CLI_USAGE;
		}
		on.agent = o.agent;
		on.timeout_ms = o.timeout_ms;
		on.progress = json ? NULL : stderr;
		signal(SIGPIPE, SIG_IGN);
		if (online_run(&on, &report, &cause) != 0)
			return cli_fail(cause);
		if (json)
			rc = cli_print_json_line(report);
		else
			online_print(report, stdout), rc = 0;
		json_decref(report);
		return rc == 0 ? CLI_OK : CLI_ERROR;
	}
	if (on.only != NULL || on.display != NULL || on.policy_path != NULL) {
		fprintf(stderr, "mimic: --task, --display and --policy are options of eval --online; "
		        "see `mimic eval --help`\n");
		return CLI_USAGE;
	}
	if (argc - optind != 1 || o.agent == NULL || o.agent[0] == '\0') {
		fprintf(stderr, "mimic: eval takes one export folder and --agent oracle, random or a "
		        "command; see `mimic eval --help`\n");
		return CLI_USAGE;
	}
	o.dir = argv[optind];
	/* An agent command that ends early is an error of the write, not the end of us. */
	signal(SIGPIPE, SIG_IGN);
	if (eval_run(&o, &report, &cause) != 0)
		return cli_fail(cause);
	if (json)
		rc = cli_print_json_line(report);
	else
		eval_print(report, stdout), rc = 0;
	json_decref(report);
	return rc == 0 ? CLI_OK : CLI_ERROR;
}
