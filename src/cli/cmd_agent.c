/*
 * cmd_agent: `mimic agent serve`, the Model Context Protocol server through
 * which a computer-use agent acts on the recorded desktop (docs/AGENTS.md).
 * Messages come on stdin and answers go to stdout, one JSON line each; the log
 * goes to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cli.h"
#include "log.h"
#include "mcp.h"

static const char agent_usage[] =
	"usage: mimic agent serve [--display DISPLAY] [--policy FILE] [--handback-idle SECONDS]\n"
	"       mimic agent handback\n"
	"\n"
	"Serves the Model Context Protocol (revision " MCP_PROTOCOL_VERSION ") on stdin/stdout:\n"
	"one tool, `computer` (screenshot, clicks, mouse_move, left_click_drag, scroll,\n"
	"type, key, hold_key, wait, cursor_position), carried out on DISPLAY through\n"
	"mimic's own input devices and answered with the settled screenshot. It needs a\n"
	"running `mimic record`, which records what the agent does (source \"agent\");\n"
	"actions outside the policy FILE's scope (as `mimic record --policy`) are refused.\n"
	"Ends at the end of its input, on SIGINT or SIGTERM.\n"
	"\n"
	"While it runs, a key, button or wheel press of anyone else (recorded in scope)\n"
	"takes over: the agent's calls are refused (human_control) until `mimic agent\n"
	"handback`, or until no such input came for SECONDS (default 5; 0: only the\n"
	"command hands back). The takeover is stored as an intervention. See docs/AGENTS.md.\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int cmd_agent(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "display", required_argument, NULL, 'D' },
		{ "policy", required_argument, NULL, 'P' },
		{ "handback-idle", required_argument, NULL, 'I' },
		CLI_OPTION_HELP,
		{ NULL, 0, NULL, 0 },
	};
	struct agent_opts opts = { .handback_idle_ms = AGENT_HANDBACK_IDLE_MS };
	struct agent *a = NULL;
	struct sigaction sa;
	char *cause = NULL;
	int c, rc;

	if (argc == 2 && strcmp(argv[1], "handback") == 0) {
		if (agent_handback(&cause) != 0)
			return cli_fail(cause);
		printf("mimic: control handed back to the agent\n");
		return CLI_OK;
	}
	if (argc < 2 || strcmp(argv[1], "serve") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
			fputs(agent_usage, stdout);
			return CLI_OK;
		}
		if (argc < 2)
			fprintf(stderr, "mimic: agent needs a subcommand: `mimic agent serve` (see "
			        "`mimic agent --help`)\n");
		else
			fprintf(stderr, "mimic: unknown agent subcommand '%s': there are `mimic agent "
			        "serve` and `mimic agent handback` (see `mimic agent --help`)\n", argv[1]);
		return CLI_USAGE;
	}
	optind = 1;
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'D': opts.display = optarg; break;
		case 'P': opts.policy_path = optarg; break;
		case 'I': {
			char *end = NULL;
			double sec = strtod(optarg, &end);

			if (end == optarg || *end != '\0' || !(sec >= 0 && sec <= 3600)) {
				fprintf(stderr, "mimic: --handback-idle '%s' is not a number of seconds "
				        "from 0 to 3600 (0: only `mimic agent handback` hands back)\n",
				        optarg);
				return CLI_USAGE;
			}
			opts.handback_idle_ms = (int64_t)(sec * 1000 + 0.5);
			break;
		}
		case 'h': fputs(agent_usage, stdout); return CLI_OK;
		default: fputs(agent_usage, stderr); return CLI_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mimic: agent serve takes no arguments ('%s'); see "
		        "`mimic agent --help`\n", argv[optind]);
		return CLI_USAGE;
	}
	if (agent_open(&opts, &a, &cause) != 0)
		return cli_fail(cause);

	/* A client that goes away mid-answer is an error of that write, not the end of us. */
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;   /* no SA_RESTART: the read returns and the loop ends */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct mcp_ops ops = { .name = "mimic", .version = MIMIC_VERSION, .tools = agent_tools,
	                       .call = agent_call, .arg = a, .stop = &stop_requested };
	log_info("agent server ready");
	rc = mcp_serve(&ops, STDIN_FILENO, STDOUT_FILENO);
	agent_close(a);
	if (rc == -EPIPE)
		log_info("agent server: the client went away");
	return rc == 0 || rc == -EPIPE ? CLI_OK : CLI_ERROR;
}
