/*
 * test_bundle.c - signed release bundles: a good bundle verifies and
 * installs; a tampered binary, a tampered manifest, a wrong key, a
 * downgrade, a bundle for another target and a malformed file are each
 * refused with their own error, and nothing is installed.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/update/bundle.h"
#include "testutil.h"

static char dir[600];
static const char *root;
static char key[700], pub[700], other_key[700], other_pub[700];
static char payload[700], bundle[700], dest[700];

static int setup(void **state)
{
	FILE *f;
	int i;

	(void)state;
	root = tu_tempdir();
	snprintf(dir, sizeof(dir), "%s", root);
	snprintf(key, sizeof(key), "%s/release.key", dir);
	snprintf(pub, sizeof(pub), "%s/release.pub", dir);
	snprintf(other_key, sizeof(other_key), "%s/other.key", dir);
	snprintf(other_pub, sizeof(other_pub), "%s/other.pub", dir);
	snprintf(payload, sizeof(payload), "%s/branchsync", dir);
	snprintf(bundle, sizeof(bundle), "%s/b.bundle", dir);
	snprintf(dest, sizeof(dest), "%s/installed", dir);
	assert_int_equal(bs__release_keygen(key, pub), BS_OK);
	assert_int_equal(bs__release_keygen(other_key, other_pub), BS_OK);
	f = fopen(payload, "wb");
	assert_non_null(f);
	for (i = 0; i < 20000; i++)
		fprintf(f, "binary %d\n", i);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmrf(root);
	return 0;
}

static void make(const char *version, const char *target)
{
	unlink(dest);
	assert_int_equal(bs__bundle_make(bundle, payload, "branchsync", version,
					 target, key),
			 BS_OK);
}

static void test_bundle__good_bundle_installs(void **state)
{
	struct bs__manifest m;
	struct stat st;
	size_t a, b;
	uint8_t *x, *y;

	(void)state;
	make("9.1.0", bs__build_target());
	assert_int_equal(bs__bundle_verify(&m, bundle, pub, bs__build_target(),
					   "9.0.9"),
			 BS_OK);
	assert_string_equal(m.version, "9.1.0");
	assert_int_equal(bs__bundle_install(bundle, pub, bs__build_target(),
					    "9.0.9", dest),
			 BS_OK);
	x = tu_read(payload, &a);
	y = tu_read(dest, &b);
	assert_int_equal(a, b);
	assert_memory_equal(x, y, a);
	assert_int_equal(stat(dest, &st), 0);
	assert_true(st.st_mode & S_IXUSR);
	free(x);
	free(y);
	/* The private key is private and never overwritten. */
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);
	assert_int_equal(bs__release_keygen(key, pub), BS_EEXISTS);
}

static void test_bundle__tampered_binary(void **state)
{
	size_t len;
	uint8_t *b;

	(void)state;
	make("9.1.0", "amd64");
	b = tu_read(bundle, &len);
	tu_flip(bundle, (long)len - 100, 0x20);
	assert_int_equal(bs__bundle_verify(NULL, bundle, pub, "amd64", "1.0.0"),
			 BS_EDAMAGED);
	assert_non_null(strstr(bs_last_error(), "does not match"));
	assert_int_equal(bs__bundle_install(bundle, pub, "amd64", "1.0.0", dest),
			 BS_EDAMAGED);
	assert_false(access(dest, F_OK) == 0);
	/* A truncated payload too. */
	tu_patch(bundle, 0, b, len);
	assert_int_equal(truncate(bundle, (off_t)len - 1), 0);
	assert_int_equal(bs__bundle_verify(NULL, bundle, pub, "amd64", "1.0.0"),
			 BS_EDAMAGED);
	free(b);
}

static void test_bundle__tampered_manifest(void **state)
{
	size_t len;
	uint8_t *b;
	char *v;

	(void)state;
	make("9.1.0", "amd64");
	b = tu_read(bundle, &len);
	v = memmem(b, len, "version=9.1.0", 13);
	assert_non_null(v);
	/* Raise the version: the signature no longer verifies. */
	tu_patch(bundle, (long)(v - (char *)b) + 10, "9", 1);
	assert_int_equal(bs__bundle_verify(NULL, bundle, pub, "amd64", "1.0.0"),
			 BS_EBADKEY);
	assert_non_null(strstr(bs_last_error(), "signature"));
	free(b);
}

static void test_bundle__wrong_key(void **state)
{
	(void)state;
	make("9.1.0", "amd64");
	assert_int_equal(bs__bundle_verify(NULL, bundle, other_pub, "amd64",
					   "1.0.0"),
			 BS_EBADKEY);
	assert_int_equal(bs__bundle_verify(NULL, bundle, payload, "amd64",
					   "1.0.0"),
			 BS_EBADKEY);
}

static void test_bundle__downgrade_refused(void **state)
{
	(void)state;
	make("1.2.3", "amd64");
	assert_int_equal(bs__bundle_verify(NULL, bundle, pub, "amd64", "1.2.3"),
			 BS_EREFUSED);
	assert_non_null(strstr(bs_last_error(), "not newer"));
	assert_int_equal(bs__bundle_verify(NULL, bundle, pub, "amd64", "1.10.0"),
			 BS_EREFUSED);
	assert_int_equal(bs__bundle_verify(NULL, bundle, pub, "amd64", "1.2.2"),
			 BS_OK);
}

static void test_bundle__wrong_target_refused(void **state)
{
	(void)state;
	make("9.1.0", "armhf");
	assert_int_equal(bs__bundle_verify(NULL, bundle, pub, "aarch64",
					   "1.0.0"),
			 BS_EREFUSED);
	assert_non_null(strstr(bs_last_error(), "armhf"));
	assert_int_equal(bs__bundle_install(bundle, pub, "aarch64", "1.0.0",
					    dest),
			 BS_EREFUSED);
	assert_false(access(dest, F_OK) == 0);
}

static void test_bundle__malformed(void **state)
{
	uint8_t junk[64];

	(void)state;
	memset(junk, 'x', sizeof(junk));
	tu_rmrf(bundle);
	assert_int_equal(bs__bundle_verify(NULL, bundle, pub, "amd64", "1.0.0"),
			 BS_ENOTFOUND);
	{
		FILE *f = fopen(bundle, "wb");
		fwrite(junk, 1, sizeof(junk), f);
		fclose(f);
	}
	assert_int_equal(bs__bundle_verify(NULL, bundle, pub, "amd64", "1.0.0"),
			 BS_EINVAL);
	/* A manifest length beyond the file. */
	tu_patch(bundle, 0, "BSBUNDLE1\n\x7f\xff\xff\xff", 14);
	assert_int_equal(bs__bundle_verify(NULL, bundle, pub, "amd64", "1.0.0"),
			 BS_EINVAL);
	assert_int_equal(bs__bundle_make(bundle, payload, "branchsync", "1.x",
					 "amd64", key),
			 BS_EINVAL);
}

static void test_bundle__versions(void **state)
{
	int ok;

	(void)state;
	assert_true(bs__version_cmp("1.10.0", "1.9.9", &ok) > 0 && ok);
	assert_true(bs__version_cmp("0.1.0", "0.1.0", &ok) == 0 && ok);
	assert_true(bs__version_cmp("2.0.0", "10.0.0", &ok) < 0 && ok);
	bs__version_cmp("1.2", "1.2.0", &ok);
	assert_false(ok);
	bs__version_cmp("1.2.3-rc1", "1.2.0", &ok);
	assert_false(ok);
	bs__version_cmp("a.b.c", "1.2.0", &ok);
	assert_false(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bundle__good_bundle_installs),
		cmocka_unit_test(test_bundle__tampered_binary),
		cmocka_unit_test(test_bundle__tampered_manifest),
		cmocka_unit_test(test_bundle__wrong_key),
		cmocka_unit_test(test_bundle__downgrade_refused),
		cmocka_unit_test(test_bundle__wrong_target_refused),
		cmocka_unit_test(test_bundle__malformed),
		cmocka_unit_test(test_bundle__versions),
	};

	return cmocka_run_group_tests_name("bundle", tests, setup, teardown);
}
