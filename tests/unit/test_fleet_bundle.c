/*
 * Unit tests of fleet_bundle: an export directory sealed and opened again gives
 * the same files byte for byte; the sealed file holds none of their text; another
 * key, a cut, a flipped byte and appended bytes do not open; the content address
 * is the SHA-256 of the file; the size cap is kept; manifests are parsed strictly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testenv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleet_bundle.h"
#include "fleet_proto.h"
#include "util.h"

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void write_all(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void test_seal_open(void **state)
{
	unsigned char pk[32], sk[32], pk2[32], sk2[32];
	char *dir = testenv_tmpdir("mimic-test-bundle"), hash[65], hash2[65], *cause = NULL;
	char *in = util_xasprintf("%s/in", dir), *out = util_xasprintf("%s/out", dir);
	char *b = util_xasprintf("%s/b.bundle", dir), *p;
	size_t big_n = 300 * 1024, len, len2;
	unsigned char *big = malloc(big_n);
	uint64_t size, size2;
	int files;
	(void)state;

	assert_int_equal(fleet_proto_init(), 0);
	fleet_bundle_keypair(pk, sk);
	fleet_bundle_keypair(pk2, sk2);
	mkdir(in, 0700);
	mkdir(out, 0700);
	for (size_t i = 0; i < big_n; i++)
		big[i] = (unsigned char)(i * 7 + i / 251);
	memcpy(big + 1000, "SECRET-TYPED-TEXT", 17);
	p = util_xasprintf("%s/shard-000000.tar", in);
	write_all(p, big, big_n);
	free(p);
	p = util_xasprintf("%s/README.md", in);
	write_all(p, "# card SECRET-TYPED-TEXT\n", 25);
	free(p);
	p = util_xasprintf("%s/.hidden", in);
	write_all(p, "x", 1);
	free(p);

	assert_int_equal(fleet_bundle_seal_dir(in, b, pk, 0, hash, &size, &cause), 0);
	char *sealed = read_all(b, &len);
	assert_int_equal(len, size);
	assert_null(memmem(sealed, len, "SECRET-TYPED-TEXT", 17));
	assert_int_equal(fleet_bundle_hash_file(b, hash2, &size2, NULL), 0);
	assert_string_equal(hash, hash2);
	assert_int_equal(size2, size);
	assert_true(fleet_bundle_is_hash(hash));

	assert_int_equal(fleet_bundle_open(b, pk, sk, out, "x-", &files, &cause), 0);
	assert_int_equal(files, 2);
	p = util_xasprintf("%s/x-shard-000000.tar", out);
	char *back = read_all(p, &len2);
	assert_int_equal(len2, big_n);
	assert_memory_equal(back, big, big_n);
	free(back);
	free(p);
	p = util_xasprintf("%s/x-.hidden", out);
	assert_int_not_equal(access(p, F_OK), 0);
	free(p);

	/* Another key does not open it. */
	assert_int_equal(fleet_bundle_open(b, pk2, sk2, out, "y-", &files, &cause), -EBADMSG);
	assert_non_null(strstr(cause, "not sealed to this dataset key"));
	free(cause);
	cause = NULL;
	/* A flipped byte in the middle, a cut, bytes appended: none opens, nothing left. */
	char *bad = util_xasprintf("%s/bad.bundle", dir);
	sealed[len / 2] ^= 1;
	write_all(bad, sealed, len);
	assert_int_equal(fleet_bundle_open(bad, pk, sk, out, "z-", &files, &cause), -EBADMSG);
	free(cause);
	cause = NULL;
	p = util_xasprintf("%s/z-README.md", out);
	assert_int_not_equal(access(p, F_OK), 0);
	free(p);
	sealed[len / 2] ^= 1;
	unlink(bad);
	write_all(bad, sealed, len - 100);
	assert_int_equal(fleet_bundle_open(bad, pk, sk, out, "z-", &files, NULL), -EBADMSG);
	unlink(bad);
	write_all(bad, sealed, len);
	FILE *f = fopen(bad, "ab");
	fputs("more", f);
	fclose(f);
	assert_int_equal(fleet_bundle_open(bad, pk, sk, out, "z-", &files, &cause), -EBADMSG);
	free(cause);
	cause = NULL;

	/* Sealing again gives other bytes (a fresh key), hence another address. */
	char *b2 = util_xasprintf("%s/b2.bundle", dir);
	assert_int_equal(fleet_bundle_seal_dir(in, b2, pk, 0, hash2, &size2, NULL), 0);
	assert_string_not_equal(hash, hash2);
	/* The cap. */
	char *b3 = util_xasprintf("%s/b3.bundle", dir);
	assert_int_equal(fleet_bundle_seal_dir(in, b3, pk, 100 * 1024, hash2, &size2, &cause), -E2BIG);
	assert_non_null(strstr(cause, "cap"));
	assert_int_not_equal(access(b3, F_OK), 0);
	free(cause);

	free(sealed);
	free(big);
	free(bad);
	free(b);
	free(b2);
	free(b3);
	free(in);
	free(out);
	testenv_tmpdir_remove(dir);
}

static void test_manifest(void **state)
{
	struct fleet_manifest m, m2;
	char *cause = NULL, *j;
	const char *bad[] = {
		"[]", "{\"v\":2}", "{\"v\":1,\"bundle\":\"AB\",\"size\":1,\"session\":\"1\"}",
		"{\"v\":1,\"bundle\":\"" "0000000000000000000000000000000000000000000000000000000000000000"
		"\",\"size\":0,\"session\":\"1\"}",
		"{\"v\":1,\"bundle\":\"" "0000000000000000000000000000000000000000000000000000000000000000"
		"\",\"size\":5,\"session\":\"../x\"}",
	};
	(void)state;

	memset(&m, 0, sizeof m);
	memset(m.bundle, 'a', 64);
	m.size = 12345;
	strcpy(m.session, "42");
	j = fleet_manifest_json(&m);
	assert_int_equal(fleet_manifest_parse(j, strlen(j), &m2, &cause), 0);
	assert_string_equal(m2.bundle, m.bundle);
	assert_int_equal(m2.size, 12345);
	assert_string_equal(m2.session, "42");
	free(j);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(fleet_manifest_parse(bad[i], strlen(bad[i]), &m2, &cause), -EINVAL);
		assert_non_null(cause);
		free(cause);
		cause = NULL;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_manifest),
	};
	return testenv_run(tests, NULL, NULL);
}
