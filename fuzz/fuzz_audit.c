/*
 * fuzz_audit: libFuzzer target for the audit log reader (audit.h): the hash
 * chain check, the comparison with the log's anchor in the database, and the
 * record listing `mimic audit` prints. A data directory with three records and
 * their anchor is made once; the first byte of each input picks what the log
 * becomes:
 *
 *   0  the rest of the input, as it is
 *   1  the three records, then the rest of the input (lines added at the end)
 *   2  the three records cut after byte N (N from the next two bytes, modulo
 *      the log's length): a cut log must never verify
 *
 * Every refusal must be one line; a log that verifies must hold at least the
 * records anchored, with a 64-digit head.
 */
#include "audit.h"

#include "fuzz_tmp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *dir;
static char path[64];
static char *orig;
static size_t orig_len;

static void die(const char *what, const char *cause)
{
	fprintf(stderr, "fuzz_audit: %s: %s\n", what, cause != NULL ? cause : "(null)");
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char cfg[96], *cause = NULL;
	FILE *f;

	(void)argc;
	(void)argv;
	dir = fuzz_tmpdir("audit");
	/* The key goes to a file of this directory, never to a keyring. */
	snprintf(cfg, sizeof(cfg), "%s/config", dir);
	setenv("XDG_CONFIG_HOME", cfg, 1);
	setenv("MIMIC_KEY_STORE", "file", 1);
	unsetenv("DBUS_SESSION_BUS_ADDRESS");
	if (audit_append(dir, "consent", "{\"notice\":\"abc\"}", &cause) != 0 ||
	    audit_append(dir, "pause", "{\"for_s\":900}", &cause) != 0 ||
	    audit_append(dir, "forget", "{\"events\":42}", &cause) != 0)
		die("audit_append", cause);
	snprintf(path, sizeof(path), "%s/%s", dir, AUDIT_FILE);
	f = fopen(path, "rb");
	if (f == NULL)
		die("fopen", path);
	orig = malloc(AUDIT_LINE_MAX * 3);
	orig_len = fread(orig, 1, AUDIT_LINE_MAX * 3, f);
	fclose(f);
	return 0;
}

static void put(const void *a, size_t an, const void *b, size_t bn)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || (an > 0 && write(fd, a, an) != (ssize_t)an) ||
	    (bn > 0 && write(fd, b, bn) != (ssize_t)bn))
		die("write", path);
	close(fd);
}

static int count(const struct audit_record *r, void *arg)
{
	if (r->what == NULL || r->details == NULL || r->text == NULL)
		die("record without fields", NULL);
	(*(int64_t *)arg)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char head[AUDIT_HASH_HEX + 1], *cause = NULL;
	int64_t records = 0, bad = 0, listed = 0;
	int mode, cut = 0, rc;

	if (size < 1 || size > 4 * AUDIT_LINE_MAX)
		return 0;
	mode = data[0] % 3;
	if (mode == 0) {
		put(data + 1, size - 1, NULL, 0);
	} else if (mode == 1) {
		put(orig, orig_len, data + 1, size - 1);
	} else {
		size_t n = size >= 3 ? ((size_t)data[1] << 8 | data[2]) % orig_len : 0;

		put(orig, n, NULL, 0);
		cut = 1;
	}
	rc = audit_verify(dir, &records, &bad, head, &cause);
	if (rc != 0 && (rc > 0 || cause == NULL || strchr(cause, '\n') != NULL))
		die("bad cause", cause);
	if (rc == 0 && cut)
		die("a cut log verified", NULL);
	if (rc == 0 && (records < 3 || strlen(head) != AUDIT_HASH_HEX))
		die("verified without its anchored records", head);
	if (rc == -EBADMSG && bad < 1)
		die("tampering without a line", cause);
	free(cause);
	cause = NULL;
	rc = audit_foreach(dir, count, &listed, &cause);
	if (rc != 0 && (cause == NULL || strchr(cause, '\n') != NULL))
		die("bad cause", cause);
	free(cause);
	return 0;
}
