/*
 * Tests for the options the commands share (cli_opts.c): --data-dir, --json and
 * --help are parsed alike by every command, --help prints the usage on stdout and
 * a wrong option gives the usage exit status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct option longopts[] = {
	CLI_OPTION_DATA_DIR, CLI_OPTION_JSON, CLI_OPTION_HELP, { NULL, 0, NULL, 0 },
};

static const char usage[] = "usage: mimic test [--data-dir DIR] [--json]\n";

static void test_shared_options(void **state)
{
	char *argv[] = { "test", "--data-dir", "/tmp/d", "--json", "SESSION", NULL };
	struct cli_opts o = { 0 };

	(void)state;
	assert_int_equal(cli_parse_opts(5, argv, "d:h", longopts, &o, usage), -1);
	assert_string_equal(o.data_dir, "/tmp/d");
	assert_int_equal(o.json, 1);
	assert_int_equal(optind, 4);
	assert_string_equal(argv[optind], "SESSION");
}

static void test_short_data_dir(void **state)
{
	char *argv[] = { "test", "-d", "/x", NULL };
	struct cli_opts o = { 0 };

	(void)state;
	assert_int_equal(cli_parse_opts(3, argv, "d:h", longopts, &o, usage), -1);
	assert_string_equal(o.data_dir, "/x");
	assert_int_equal(o.json, 0);
	assert_int_equal(optind, 3);
}

static void test_help_and_wrong_options(void **state)
{
	char *help[] = { "test", "--help", NULL };
	char *wrong[] = { "test", "--nope", NULL };
	char *missing[] = { "test", "--data-dir", NULL };
	struct cli_opts o = { 0 };

	(void)state;
	assert_int_equal(cli_parse_opts(2, help, "d:h", longopts, &o, usage), CLI_OK);
	opterr = 0;
	assert_int_equal(cli_parse_opts(2, wrong, "d:h", longopts, &o, usage), CLI_USAGE);
	assert_int_equal(cli_parse_opts(2, missing, "d:h", longopts, &o, usage), CLI_USAGE);
	assert_null(o.data_dir);
	/* Each shared option alone, as a command's own loop hands it on. */
	optarg = "/y";
	assert_int_equal(cli_opt('d', &o, usage), -1);
	assert_string_equal(o.data_dir, "/y");
	assert_int_equal(cli_opt('j', &o, usage), -1);
	assert_int_equal(o.json, 1);
	assert_int_equal(cli_opt('?', &o, usage), CLI_USAGE);
	assert_int_equal(cli_usage_error(usage), CLI_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_options),
		cmocka_unit_test(test_short_data_dir),
		cmocka_unit_test(test_help_and_wrong_options),
	};

	return testenv_run(tests, NULL, NULL);
}
