/*
 * fuzz_tmp: the private temporary directory of a fuzz target that needs files
 * (a data directory, a settings file), removed with everything in it when
 * libFuzzer exits, so that 30 s of fuzzing in every `make check` leaves nothing
 * behind in /tmp.
 */
#ifndef MIMIC_FUZZ_TMP_H
#define MIMIC_FUZZ_TMP_H

/*
 * Makes /tmp/mimic-fuzz-NAME-XXXXXX (mode 0700) and has it removed at exit.
 * Returns its path, valid until exit; aborts when it cannot be made (a fuzz run
 * without its directory would test nothing). Call it once per process.
 */
const char *fuzz_tmpdir(const char *name);

#endif
