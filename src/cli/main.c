/*
 * main: the entry point of the `mimic` command; finds the subcommand and hands
 * it argv.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "util.h"

/*
 * Two programs are built from this file. `mimic` (MIMIC_LEAN) holds recording
 * and everything a person runs day to day, and links none of the dataset
 * libraries (Tesseract, Leptonica, libarchive), so the recorder stays small;
 * it hands `export`, `stats` and `review` to `mimic-data`, installed beside it, which
 * holds every command.
 */
#ifdef MIMIC_LEAN
static int exec_data(int argc, char **argv);
#define DATA_CMD(fn) exec_data
#else
#define DATA_CMD(fn) fn
#endif

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "record", cmd_record, "record input and window context until stopped (foreground)" },
	{ "agent", cmd_agent, "agent serve: an agent acts over MCP (stdio), recorded; agent handback" },
	{ "replay", cmd_replay, "carry out an export's steps again through the agent's devices" },
	{ "eval", cmd_eval, "score an agent on an export (--agent oracle|random|COMMAND)" },
	{ "stop", cmd_control, "stop the running recorder and close its session" },
	{ "status", cmd_control, "show whether a recorder runs and what it has stored (--json)" },
	{ "pause", cmd_control, "pause recording (--for 15m to resume by itself)" },
	{ "resume", cmd_control, "resume a paused recording" },
	{ "sessions", cmd_sessions, "list recorded sessions (--json)" },
	{ "events", cmd_events, "print a session's raw events as JSON Lines" },
	{ "frames", cmd_frames, "print a session's screenshots as JSON Lines" },
	{ "frame", cmd_frame, "write one screenshot as PNG (-o FILE)" },
	{ "consent", cmd_consent, "show the recording notice and agree to it (or --withdraw)" },
	{ "forget", cmd_forget, "delete what was recorded: --last 15m, --session ID or --all" },
	{ "audit", cmd_audit, "print the audit log of consent, pauses, deletions and exports (--verify)" },
	{ "task", cmd_task, "mark an episode: task start \"DESCRIPTION\" / task end --success|--fail" },
	{ "export", DATA_CMD(cmd_export),
	  "export sessions as a dataset (--format jsonl|webdataset --out DIR)" },
	{ "stats", DATA_CMD(cmd_stats), "count steps by action, interaction type and application" },
	{ "review", DATA_CMD(cmd_review),
	  "a local web page to see what was recorded and delete what you won't give" },
	{ "enroll", DATA_CMD(cmd_enroll),
	  "enrol this machine with the organisation's collector (URL --token T [--ca FILE])" },
	{ "upload", DATA_CMD(cmd_upload),
	  "upload ended sessions to the collector as sealed bundles ([--now] [--session ID])" },
#ifndef MIMIC_LEAN
	{ "scan-worker", cmd_scan_worker, "(internal) the recorder's background OCR scan of frames" },
#endif
};

#ifdef MIMIC_LEAN
/* argv[0] is the command name; mimic-data gets it as its first argument. */
static int exec_data(int argc, char **argv)
{
	char *exe = NULL, *cause = NULL, **av;

	if (util_sibling_exe("mimic-data", &exe, &cause) != 0)
		return cli_fail(cause);
	av = util_xcalloc((size_t)argc + 2, sizeof(*av));
	av[0] = exe;
	for (int i = 0; i < argc; i++)
		av[i + 1] = argv[i];
	execv(exe, av);
	cause = util_xasprintf("cannot run %s: %s", exe, strerror(errno));
	free(av);
	free(exe);
	return cli_fail(cause);
}
#endif

int cli_fail(char *cause)
{
	/* A cause may quote a file (a policy, the settings): its control bytes are escaped. */
	char *line = util_escape_ctl(cause != NULL ? cause : "failed (no reason given)");

	fprintf(stderr, "mimic: %s\n", line);
	free(line);
	free(cause);
	return CLI_ERROR;
}

int cli_print_json_line(const json_t *o)
{
	char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	if (line == NULL)
		return -ENOMEM;
	fputs(line, stdout);
	fputc('\n', stdout);
	free(line);
	return ferror(stdout) ? -EIO : 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mimic COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n`mimic COMMAND --help` describes a command's options. "
	           "Documentation: docs/CLI.md, docs/EVENTS.md,\n"
	           "docs/FRAMES.md, docs/CONFIG.md.\n");
}

int main(int argc, char **argv)
{
	log_init();
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("mimic %s\n", MIMIC_VERSION);
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "mimic: unknown command '%s'; `mimic --help` lists the commands\n", argv[1]);
	return CLI_USAGE;
}
