/*
 * fuzz_tmp: the temporary directory of a fuzz target, removed at exit (see
 * fuzz_tmp.h).
 */
#include "fuzz_tmp.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char dir[96];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void cleanup(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_tmpdir(const char *name)
{
	snprintf(dir, sizeof(dir), "/tmp/mimic-fuzz-%s-XXXXXX", name);
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_tmpdir: mkdtemp");
		abort();
	}
	atexit(cleanup);
	return dir;
}
