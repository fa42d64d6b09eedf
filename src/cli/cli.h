/*
 * cli: the `mimic` command-line front end. Each cmd_* function is one
 * subcommand: it parses its own options from argv (argv[0] is the subcommand's
 * name) and returns the process exit status (see docs/CLI.md).
 */
#ifndef MIMIC_CLI_H
#define MIMIC_CLI_H

#include <getopt.h>
#include <jansson.h>

/* Exit statuses shared by every subcommand. */
enum cli_exit {
	CLI_OK = 0,
	CLI_ERROR = 1,      /* bad input or a failure, explained on stderr in one line */
	CLI_USAGE = 2,      /* the command line itself was wrong */
	CLI_X_GONE = 3,     /* record: the X server went away; the session was closed */
	CLI_WRITE_FAILED = 4, /* record: not every event could be stored */
};

/* Prints "mimic: <cause>" on stderr and returns CLI_ERROR; frees cause. */
int cli_fail(char *cause);

/* Prints o as one compact JSON line on stdout (keys in order). 0, -ENOMEM or -EIO. */
int cli_print_json_line(const json_t *o);

/* The options the commands share, as rows of their getopt_long tables. */
#define CLI_OPTION_DATA_DIR { "data-dir", required_argument, NULL, 'd' }
#define CLI_OPTION_JSON { "json", no_argument, NULL, 'j' }
#define CLI_OPTION_HELP { "help", no_argument, NULL, 'h' }

/* What the shared options set. */
struct cli_opts {
	const char *data_dir;  /* --data-dir DIR; NULL: the default (paths.h) */
	int json;              /* --json */
};

/*
 * Handles ch, what getopt_long returned, as one of the shared options: 'd' and
 * 'j' fill o; 'h' prints usage on stdout, anything else (an unknown option, a
 * missing argument) prints it on stderr. Returns -1 when parsing goes on, else
 * the exit status for the command to return (CLI_OK after --help, CLI_USAGE).
 */
int cli_opt(int ch, struct cli_opts *o, const char *usage);

/*
 * Parses argv (from the first option on) when a command has only shared options
 * (those longopts and shortopts name). Returns -1 with the operands at
 * argv[optind..], else the exit status as cli_opt.
 */
int cli_parse_opts(int argc, char **argv, const char *shortopts, const struct option *longopts,
                   struct cli_opts *o, const char *usage);

/* Prints usage on stderr and returns CLI_USAGE: the command line was wrong. */
int cli_usage_error(const char *usage);

struct export_opts;
struct policy;

/*
 * mimic-data only (cmd_export.c): sets o as `mimic export` does without options:
 * the thresholds of the settings file (config_path, NULL: the user's) and the
 * policy's redaction rules (rules: room for POLICY_RULES_MAX paths) and pseudonym
 * key, so that an upload exports exactly as an export does. 0, or an exit
 * status after a message.
 */
int cli_export_setup(const struct policy *pol, const char *config_path, const char **rules,
                     struct export_opts *o);

int cmd_record(int argc, char **argv);
int cmd_agent(int argc, char **argv);     /* agent serve: the MCP tool server (docs/AGENTS.md) */
int cmd_replay(int argc, char **argv);    /* replay an export through the agent's devices */
int cmd_eval(int argc, char **argv);      /* score an agent on an export, offline */
int cmd_control(int argc, char **argv);   /* stop, status, pause, resume */
int cmd_sessions(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_frames(int argc, char **argv);    /* list a session's frames */
int cmd_frame(int argc, char **argv);     /* write one frame as PNG */
int cmd_consent(int argc, char **argv);   /* show the notice, record agreement or withdrawal */
int cmd_forget(int argc, char **argv);    /* delete what was recorded (--last, --session, --all) */
int cmd_audit(int argc, char **argv);     /* print or verify the audit log */
int cmd_task(int argc, char **argv);      /* task start|end markers */
int cmd_export(int argc, char **argv);    /* export sessions as a dataset */
int cmd_stats(int argc, char **argv);     /* counts of steps by action, type and app */
int cmd_review(int argc, char **argv);    /* mimic-data only: the local review page */
int cmd_scan_worker(int argc, char **argv); /* mimic-data only: the recorder's OCR scanner */
int cmd_enroll(int argc, char **argv);    /* mimic-data only: enrol in a fleet (docs/FLEET.md) */
int cmd_upload(int argc, char **argv);    /* mimic-data only: upload ended sessions to the fleet */

#endif
