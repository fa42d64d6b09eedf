/*
 * testbreak: deliberate breakages that prove the tests can fail.
 *
 * A test that cannot fail is a defect. To show that a privacy test would catch the
 * fault it guards against, a build configured with -Dtest_break=true (never the
 * build that is installed or demonstrated) compiles a few named faults into the
 * modules, each switched on at run time by listing its name in the environment
 * variable MIMIC_TEST_BREAK (comma-separated). tests/breaks runs each guarding
 * test against its fault and expects it to fail.
 *
 * In every other build testbreak() is the constant false and the faults are
 * compiled out.
 */
#ifndef MIMIC_TESTBREAK_H
#define MIMIC_TESTBREAK_H

#include <stdbool.h>

#ifdef MIMIC_TEST_BREAK
/* True when `name` is one of the names in MIMIC_TEST_BREAK. */
bool testbreak(const char *name);
#else
#define testbreak(name) ((void)(name), false)
#endif

#endif
