/*
 * cli_opts: the options the commands share (--data-dir, --json, --help) and
 * their usage lines, so that each command parses only its own.
 */
#include <stdio.h>

#include "cli.h"

int cli_opt(int ch, struct cli_opts *o, const char *usage)
{
	switch (ch) {
	case 'd':
		o->data_dir = optarg;
		return -1;
	case 'j':
		o->json = 1;
		return -1;
	case 'h':
		fputs(usage, stdout);
		return CLI_OK;
	default:
		return cli_usage_error(usage);
	}
}

int cli_parse_opts(int argc, char **argv, const char *shortopts, const struct option *longopts,
                   struct cli_opts *o, const char *usage)
{
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		rc = cli_opt(ch, o, usage);
		if (rc >= 0)
			return rc;
	}
	return -1;
}

int cli_usage_error(const char *usage)
{
	fputs(usage, stderr);
	return CLI_USAGE;
}
