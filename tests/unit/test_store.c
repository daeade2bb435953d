/*
 * test_store.c - the encrypted store: round trips, keys and slots,
 * nothing readable on disk, every kind of tampering detected, and the
 * SQLite features that could bypass the cipher (mmap, temp files, page
 * size changes, backups from plain databases) kept out.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "agent/core/common.h"
#include "agent/store/store_internal.h"
#include "testutil.h"

#define MARKER "ZEBRA-MARKER-7f3a"
#define U (BS_PAGE_SIZE - BS_RESERVE)

static char dir[600];
static const char *root;

static int setup(void **state)
{
	(void)state;
	root = tu_tempdir();
	snprintf(dir, sizeof(dir), "%s/store", root);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmrf(root);
	return 0;
}

/* A table of n rows with an index, spread over many pages. */
static void fill(bs_store *st, int n)
{
	char sql[256];

	tu_exec(st, "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, "
		    "body TEXT, b BLOB)");
	tu_exec(st, "CREATE INDEX IF NOT EXISTS t_body ON t(body)");
	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c "
		 "WHERE i<%d) INSERT INTO t(body, b) SELECT '" MARKER
		 " row ' || i || ' ' || hex(randomblob(40)), NULL FROM c",
		 n);
	tu_exec(st, sql);
}

static void checkpoint_and_close(bs_store *st)
{
	tu_exec(st, "PRAGMA wal_checkpoint(TRUNCATE)");
	bs_store_close(st);
}

static void test_store__round_trip(void **state)
{
	bs_store *st = tu_create(dir, 0);
	const char *name = NULL;

	(void)state;
	fill(st, 500);
	assert_int_equal(bs_store_epoch(st), 1);
	assert_non_null(bs_store_cipher(st, &name) ? name : NULL);
	assert_string_equal(bs_store_opened_by(st), "s1");
	bs_store_close(st);
	st = tu_open(dir);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t"), 500);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t WHERE body LIKE '"
				    MARKER " row 250 %'"),
			 1);
	assert_int_equal(bs_store_check(st), BS_OK);
	bs_store_close(st);
}

static void test_store__both_ciphers(void **state)
{
	static const int ciphers[] = { BS_CIPHER_AES256GCM,
				       BS_CIPHER_CHACHA20POLY1305 };
	unsigned i;

	(void)state;
	for (i = 0; i < 2; i++) {
		bs_store_opts o = { TEST_KDF_MS, 0, ciphers[i] };
		bs_key k = tu_pin("s1", TEST_PIN);
		bs_store *st = NULL;
		const char *d = tu_path(root, i ? "chacha" : "aes");

		assert_int_equal(bs_store_create(&st, d, &k, &o), BS_OK);
		fill(st, 200);
		checkpoint_and_close(st);
		assert_false(tu_file_contains(tu_path(d, "store-1.db"), MARKER));
		st = tu_open(d);
		assert_int_equal(bs_store_cipher(st, NULL), ciphers[i]);
		assert_int_equal(tu_int(st, "SELECT count(*) FROM t"), 200);
		assert_int_equal(bs_store_check(st), BS_OK);
		bs_store_close(st);
	}
}

static void test_store__wrong_key(void **state)
{
	bs_store *st = tu_create(dir, 0);
	bs_key bad = tu_pin("s1", "0000");
	bs_key nobody = tu_pin("s9", TEST_PIN);
	bs_key dev = { BS_KEY_DEVICE, NULL, NULL, 0 };

	(void)state;
	bs_store_close(st);
	st = (bs_store *)1;
	assert_int_equal(bs_store_open(&st, dir, &bad), BS_EBADKEY);
	assert_null(st);
	assert_string_equal(bs_last_error(), "wrong PIN");
	assert_int_equal(bs_store_open(&st, dir, &nobody), BS_EBADKEY);
	assert_non_null(strstr(bs_last_error(), "s9"));
	assert_int_equal(bs_store_open(&st, dir, &dev), BS_EBADKEY);
	/* No staff name: every PIN slot is tried. */
	bad.staff = NULL;
	assert_int_equal(bs_store_open(&st, dir, &bad), BS_EBADKEY);
	bad.secret = TEST_PIN;
	bad.secret_len = strlen(TEST_PIN);
	assert_int_equal(bs_store_open(&st, dir, &bad), BS_OK);
	bs_store_close(st);
}

static void test_store__not_a_store(void **state)
{
	bs_key k = tu_pin("s1", TEST_PIN);
	bs_store *st = tu_create(dir, 0);
	sqlite3 *plain = NULL;
	const char *other = tu_path(root, "plain.db");

	(void)state;
	bs_store_close(st);
	assert_int_equal(bs_store_open(&st, tu_path(root, "none"), &k),
			 BS_ENOTFOUND);
	/* A plain SQLite database where the store should be. */
	assert_int_equal(sqlite3_open(other, &plain), SQLITE_OK);
	assert_int_equal(sqlite3_exec(plain, "CREATE TABLE x(a)", 0, 0, 0),
			 SQLITE_OK);
	sqlite3_close(plain);
	assert_true(tu_copy(other, tu_path(dir, "store-1.db")));
	assert_int_equal(bs_store_open(&st, dir, &k), BS_ENOTSTORE);
	assert_non_null(strstr(bs_last_error(), "plain SQLite"));
	/* A key file that is something else entirely. */
	tu_patch(tu_path(dir, "keys"), 0, "GIF89a..", 8);
	assert_int_equal(bs_store_open(&st, dir, &k), BS_ENOTSTORE);
	assert_int_equal(bs_error_exit_code(BS_ENOTSTORE),
			 bs_error_exit_code(BS_ENOTSTORE));
	assert_int_not_equal(bs_error_exit_code(BS_ENOTSTORE),
			     bs_error_exit_code(BS_EBADKEY));
}

static void test_store__damaged_key_file(void **state)
{
	bs_key k = tu_pin("s1", TEST_PIN);
	bs_store *st = tu_create(dir, 0);
	size_t len;
	uint8_t *buf;

	(void)state;
	bs_store_close(st);
	buf = tu_read(tu_path(dir, "keys"), &len);
	assert_non_null(buf);
	tu_flip(tu_path(dir, "keys"), 40, 0x01);
	assert_int_equal(bs_store_open(&st, dir, &k), BS_EDAMAGED);
	assert_non_null(strstr(bs_last_error(), "damaged"));
	/* Truncated. */
	assert_int_equal(truncate(tu_path(dir, "keys"), (off_t)len - 10), 0);
	assert_int_equal(bs_store_open(&st, dir, &k), BS_EDAMAGED);
	free(buf);
}

/* Every file in the store folder, checked for the marker. */
static void assert_no_marker(const char *d)
{
	static const char *names[] = { "store-1.db", "store-1.db-wal",
				       "store-1.db-shm", "store-1.db-journal",
				       "keys" };
	unsigned i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (tu_file_contains(tu_path(d, names[i]), MARKER))
			fail_msg("marker found in %s", names[i]);
}

static void test_store__marker_never_on_disk(void **state)
{
	bs_store *st = tu_create(dir, 1);
	sqlite3_stmt *s;
	int n = 0;

	(void)state;
	fill(st, 2000);
	/* Large blobs (overflow chains) holding the marker too. */
	tu_exec(st, "INSERT INTO t(body, b) SELECT 'big', "
		    "CAST(replace(hex(zeroblob(60000)), '00', '" MARKER
		    "') AS BLOB) FROM t LIMIT 5");
	/* A sort too big for a small cache, and a temporary table. */
	tu_exec(st, "PRAGMA cache_size=20");
	assert_int_equal(sqlite3_prepare_v2(bs_store_db(st),
					    "SELECT body FROM t ORDER BY "
					    "substr(body, 30) DESC, random()",
					    -1, &s, NULL),
			 SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW)
		n++;
	sqlite3_finalize(s);
	assert_int_equal(n, 2005);
	tu_exec(st, "CREATE TEMP TABLE tt AS SELECT * FROM t");
	tu_exec(st, "CREATE INDEX t_b ON t(b)");
	assert_no_marker(dir);
	tu_exec(st, "DELETE FROM t WHERE id % 3 = 0");
	tu_exec(st, "VACUUM");
	assert_no_marker(dir);
	/* The rollback journal, kept on disk by PERSIST. */
	tu_exec(st, "PRAGMA journal_mode=PERSIST");
	tu_exec(st, "UPDATE t SET body = body || ' changed'");
	assert_true(access(tu_path(dir, "store-1.db-journal"), F_OK) == 0);
	assert_no_marker(dir);
	bs_store_close(st);
	assert_no_marker(dir);
}

/* Build a multi-page store, checkpointed into the main file. */
static long pristine(const char *d, uint8_t **image, size_t *len)
{
	bs_store *st = tu_create(d, 0);

	fill(st, 3000);
	checkpoint_and_close(st);
	*image = tu_read(tu_path(d, "store-1.db"), len);
	assert_non_null(*image);
	assert_true(*len >= 20 * BS_PAGE_SIZE);
	return (long)(*len / BS_PAGE_SIZE);
}

static void restore(const char *d, const uint8_t *image, size_t len)
{
	FILE *f = fopen(tu_path(d, "store-1.db"), "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(image, 1, len, f), len);
	fclose(f);
	unlink(tu_path(d, "store-1.db-wal"));
	unlink(tu_path(d, "store-1.db-shm"));
}

/* Open and check the store; expect damage reported on page pgno. */
static void expect_damage(const char *d, long pgno)
{
	bs_key k = tu_pin("s1", TEST_PIN);
	bs_store *st = NULL;
	char want[64];
	int rc = bs_store_open(&st, d, &k);

	if (rc == BS_OK) {
		rc = bs_store_check(st);
		bs_store_close(st);
	}
	if (rc != BS_EDAMAGED)
		fail_msg("page %ld: expected damage, got %d (%s)", pgno, rc,
			 bs_last_error());
	snprintf(want, sizeof(want), "page %ld ", pgno);
	if (strstr(bs_last_error(), want) == NULL)
		fail_msg("page %ld: message '%s'", pgno, bs_last_error());
}

static void test_store__every_flipped_byte_detected(void **state)
{
	uint8_t *image;
	size_t len;
	long pages = pristine(dir, &image, &len);
	long which[3] = { 1, pages / 2, pages };
	/* Ciphertext (start, middle, end), nonce, tag, key id. */
	long offsets[] = { 0, 100, 2000, U - 1, U, U + 11, U + 12, U + 27,
			   U + 28, U + 29, U + 31 };
	/* Page 1 only: database id and the plaintext header 16..23. */
	long header[] = { 3, 15, 16, 17, 18, 19, 20, 21, 22, 23 };
	unsigned i, j;

	(void)state;
	for (i = 0; i < 3; i++) {
		for (j = 0; j < sizeof(offsets) / sizeof(offsets[0]); j++) {
			long off = (which[i] - 1) * BS_PAGE_SIZE + offsets[j];

			if (which[i] == 1 && offsets[j] < 24)
				continue;
			restore(dir, image, len);
			tu_flip(tu_path(dir, "store-1.db"), off, 0x04);
			expect_damage(dir, which[i]);
		}
	}
	for (j = 0; j < sizeof(header) / sizeof(header[0]); j++) {
		restore(dir, image, len);
		tu_flip(tu_path(dir, "store-1.db"), header[j], 0x01);
		expect_damage(dir, 1);
	}
	/* And the pristine image is still fine. */
	restore(dir, image, len);
	{
		bs_store *st = tu_open(dir);
		assert_int_equal(bs_store_check(st), BS_OK);
		bs_store_close(st);
	}
	free(image);
}

static void test_store__swapped_and_foreign_pages(void **state)
{
	char other[700];
	uint8_t *image, *foreign;
	size_t len, flen;
	long pages = pristine(dir, &image, &len);
	long a = 3, b = pages - 1;

	(void)state;
	snprintf(other, sizeof(other), "%s/other", root);
	/* Two pages swapped. */
	restore(dir, image, len);
	tu_patch(tu_path(dir, "store-1.db"), (a - 1) * BS_PAGE_SIZE,
		 image + (b - 1) * BS_PAGE_SIZE, BS_PAGE_SIZE);
	tu_patch(tu_path(dir, "store-1.db"), (b - 1) * BS_PAGE_SIZE,
		 image + (a - 1) * BS_PAGE_SIZE, BS_PAGE_SIZE);
	expect_damage(dir, a);
	/* A page moved within the file. */
	restore(dir, image, len);
	tu_patch(tu_path(dir, "store-1.db"), (b - 1) * BS_PAGE_SIZE,
		 image + (a - 1) * BS_PAGE_SIZE, BS_PAGE_SIZE);
	expect_damage(dir, b);
	/* The same page number from another store with the same PIN. */
	pristine(other, &foreign, &flen);
	restore(dir, image, len);
	tu_patch(tu_path(dir, "store-1.db"), (a - 1) * BS_PAGE_SIZE,
		 foreign + (a - 1) * BS_PAGE_SIZE, BS_PAGE_SIZE);
	expect_damage(dir, a);
	/* Another store's whole file under this key file. */
	restore(dir, foreign, flen);
	expect_damage(dir, 1);
	free(image);
	free(foreign);
}

/* SQLite keeps no process-wide count of its memory (agent/core/sqlite.h):
 * a store's work takes no global lock at every allocation. */
static void test_store__no_global_memory_count(void **state)
{
	bs_store *st = tu_create(dir, 0);

	(void)state;
	fill(st, 200);
	assert_int_equal(sqlite3_memory_used(), 0);
	assert_int_equal(sqlite3_memory_highwater(0), 0);
	bs_store_close(st);
}

static void test_store__mmap_stays_off(void **state)
{
	bs_store *st = tu_create(dir, 0);
	bs__vfs_stats before, after;

	(void)state;
	fill(st, 1000);
	checkpoint_and_close(st);
	st = tu_open(dir);
	tu_exec(st, "PRAGMA mmap_size=1073741824");
	assert_int_equal(tu_int(st, "PRAGMA mmap_size"), 0);
	bs__vfs_stats_get(bs__store_vfs(st), &before);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t WHERE body LIKE "
				    "'%row 999 %'"),
			 1);
	bs__vfs_stats_get(bs__store_vfs(st), &after);
	/* Every page came through the cipher, none through a mapping. */
	assert_true(after.pages_opened - before.pages_opened >= 10);
	bs_store_close(st);
}

static void test_store__page_size_fixed(void **state)
{
	bs_store *st = tu_create(dir, 0);
	char *err = NULL;

	(void)state;
	fill(st, 50);
	assert_int_not_equal(sqlite3_exec(bs_store_db(st),
					  "PRAGMA page_size=8192", 0, 0, &err),
			     SQLITE_OK);
	assert_non_null(strstr(err, "fixed"));
	sqlite3_free(err);
	tu_exec(st, "PRAGMA page_size=4096");
	tu_exec(st, "VACUUM");
	assert_int_equal(tu_int(st, "PRAGMA page_size"), 4096);
	assert_int_equal(bs_store_check(st), BS_OK);
	bs_store_close(st);
}

static void test_store__temp_files_refused(void **state)
{
	bs_store *st = tu_create(dir, 0);
	int rc;

	(void)state;
	assert_int_equal(tu_int(st, "PRAGMA temp_store"), 2);
	tu_exec(st, "PRAGMA temp_store=FILE");
	/* A temporary table big enough to spill out of its cache. */
	rc = sqlite3_exec(bs_store_db(st),
			  "PRAGMA temp.cache_size=10; CREATE TEMP TABLE x AS "
			  "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT "
			  "i+1 FROM c WHERE i<2000) SELECT randomblob(1000) "
			  "FROM c",
			  0, 0, 0);
	assert_int_not_equal(rc, SQLITE_OK);
	/* Nor may the store's VFS open any other database file. */
	rc = sqlite3_exec(bs_store_db(st), "PRAGMA temp_store=MEMORY", 0, 0, 0);
	assert_int_equal(rc, SQLITE_OK);
	fill(st, 10);
	rc = sqlite3_exec(bs_store_db(st), "ATTACH 'x.db' AS x", 0, 0, 0);
	assert_int_not_equal(rc, SQLITE_OK);
	rc = sqlite3_exec(bs_store_db(st), "VACUUM INTO 'copy.db'", 0, 0, 0);
	assert_int_not_equal(rc, SQLITE_OK);
	assert_false(access("copy.db", F_OK) == 0);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t"), 10);
	bs_store_close(st);
}

static void test_store__overflow_rows(void **state)
{
	bs_store *st = tu_create(dir, 0);
	sqlite3_stmt *s;
	int i;

	(void)state;
	tu_exec(st, "CREATE TABLE big(id INTEGER PRIMARY KEY, b BLOB, h TEXT)");
	tu_exec(st, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 "
		    "FROM c WHERE i<40) INSERT INTO big(b) SELECT "
		    "randomblob(20000 + i * 997) FROM c");
	tu_exec(st, "UPDATE big SET h = hex(b)");
	checkpoint_and_close(st);
	st = tu_open(dir);
	/* substr() on a blob reads overflow pages directly, in slices. */
	assert_int_equal(sqlite3_prepare_v2(bs_store_db(st),
					    "SELECT hex(substr(b, 15001, 3000)) "
					    "= substr(h, 30001, 6000), "
					    "length(b) FROM big ORDER BY id",
					    -1, &s, NULL),
			 SQLITE_OK);
	for (i = 1; sqlite3_step(s) == SQLITE_ROW; i++) {
		assert_int_equal(sqlite3_column_int(s, 0), 1);
		assert_int_equal(sqlite3_column_int(s, 1), 20000 + i * 997);
	}
	sqlite3_finalize(s);
	assert_int_equal(i, 41);
	assert_int_equal(bs_store_check(st), BS_OK);
	bs_store_close(st);
}

static void test_store__backup_from_plain_refused(void **state)
{
	bs_store *st = tu_create(dir, 0);
	sqlite3 *plain = NULL;
	sqlite3_backup *b;
	int rc;

	(void)state;
	fill(st, 100);
	assert_int_equal(sqlite3_open(":memory:", &plain), SQLITE_OK);
	assert_int_equal(sqlite3_exec(plain, "CREATE TABLE p(a); INSERT INTO "
					     "p VALUES ('" MARKER "')",
				      0, 0, 0),
			 SQLITE_OK);
	b = sqlite3_backup_init(bs_store_db(st), "main", plain, "main");
	assert_non_null(b);
	rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	sqlite3_close(plain);
	assert_int_not_equal(rc, SQLITE_DONE);
	bs_store_close(st);
	st = tu_open(dir);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t"), 100);
	assert_int_equal(bs_store_check(st), BS_OK);
	bs_store_close(st);
	assert_no_marker(dir);
}

static void test_store__slots(void **state)
{
	bs_store *st = tu_create(dir, 0);
	bs_key s2 = tu_pin("s2", "second-pin");
	bs_key dev = { BS_KEY_DEVICE, NULL, NULL, 0 };
	bs_key s1new = tu_pin("s1", "new-pin-1");
	bs_key s1old = tu_pin("s1", TEST_PIN);

	(void)state;
	fill(st, 10);
	assert_int_equal(bs_store_add_pin(st, "s2", "second-pin", 10,
					  TEST_KDF_MS),
			 BS_OK);
	assert_int_equal(bs_store_add_pin(st, "s2", "x", 1, TEST_KDF_MS),
			 BS_EEXISTS);
	assert_int_equal(bs_store_add_pin(st, "bad name", "x", 1, TEST_KDF_MS),
			 BS_EINVAL);
	assert_int_equal(bs_store_add_device(st), BS_OK);
	assert_int_equal(bs_store_change_pin(st, "new-pin-1", 9, TEST_KDF_MS),
			 BS_OK);
	bs_store_close(st);
	assert_int_equal(bs_store_open(&st, dir, &s1old), BS_EBADKEY);
	assert_int_equal(bs_store_open(&st, dir, &s1new), BS_OK);
	bs_store_close(st);
	assert_int_equal(bs_store_open(&st, dir, &s2), BS_OK);
	assert_string_equal(bs_store_opened_by(st), "s2");
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t"), 10);
	assert_int_equal(bs_store_remove_slot(st, "s1"), BS_OK);
	assert_int_equal(bs_store_remove_slot(st, "s1"), BS_ENOTFOUND);
	bs_store_close(st);
	assert_int_equal(bs_store_open(&st, dir, &s1new), BS_EBADKEY);
	assert_int_equal(bs_store_open(&st, dir, &dev), BS_OK);
	assert_string_equal(bs_store_opened_by(st), "device");
	assert_int_equal(bs_store_change_pin(st, "x", 1, TEST_KDF_MS),
			 BS_EREFUSED);
	assert_int_equal(bs_store_remove_slot(st, NULL), BS_OK);
	assert_int_equal(bs_store_remove_slot(st, "s2"), BS_EREFUSED);
	bs_store_close(st);
	assert_int_equal(bs_store_open(&st, dir, &dev), BS_EBADKEY);
	assert_int_equal(bs_store_open(&st, dir, &s2), BS_OK);
	bs_store_close(st);
}

static void test_store__rekey(void **state)
{
	bs_store *st = tu_create(dir, 1);
	bs_store *other = NULL;
	bs_key k = tu_pin("s1", TEST_PIN);
	bs_key dev = { BS_KEY_DEVICE, NULL, NULL, 0 };
	unsigned dropped = 99;
	uint8_t *old_image;
	size_t len;

	(void)state;
	fill(st, 800);
	assert_int_equal(bs_store_add_pin(st, "s2", "pin2", 4, TEST_KDF_MS),
			 BS_OK);
	tu_exec(st, "PRAGMA wal_checkpoint(TRUNCATE)");
	old_image = tu_read(tu_path(dir, "store-1.db"), &len);
	/* Another process (or handle) holding the store blocks rotation. */
	assert_int_equal(bs_store_open(&other, dir, &k), BS_OK);
	assert_int_equal(bs_store_rekey(st, &k, &dropped), BS_EBUSY);
	bs_store_close(other);
	k.secret = "wrong";
	k.secret_len = 5;
	assert_int_equal(bs_store_rekey(st, &k, &dropped), BS_EBADKEY);
	k = tu_pin("s1", TEST_PIN);
	assert_int_equal(bs_store_rekey(st, &k, &dropped), BS_OK);
	assert_int_equal(dropped, 1);
	assert_int_equal(bs_store_epoch(st), 2);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t"), 800);
	tu_exec(st, "INSERT INTO t(body) VALUES ('after')");
	bs_store_close(st);
	assert_false(access(tu_path(dir, "store-1.db"), F_OK) == 0);
	assert_false(tu_file_contains(tu_path(dir, "store-2.db"), MARKER));
	st = tu_open(dir);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t"), 801);
	assert_int_equal(bs_store_check(st), BS_OK);
	bs_store_close(st);
	assert_int_equal(bs_store_open(&st, dir, &dev), BS_OK);
	bs_store_close(st);
	k = tu_pin("s2", "pin2");
	assert_int_equal(bs_store_open(&st, dir, &k), BS_EBADKEY);
	/* The old file under the new key file is refused as damaged. */
	tu_patch(tu_path(dir, "store-2.db"), 0, old_image, len);
	unlink(tu_path(dir, "store-2.db-wal"));
	expect_damage(dir, 1);
	free(old_image);
}

static void test_store__wipe(void **state)
{
	bs_store *st = tu_create(dir, 1);
	bs_key dev = { BS_KEY_DEVICE, NULL, NULL, 0 };

	(void)state;
	fill(st, 20);
	assert_int_equal(bs_store_wipe(dir), BS_EBUSY);
	bs_store_close(st);
	assert_int_equal(bs_store_wipe(dir), BS_OK);
	assert_false(access(dir, F_OK) == 0);
	assert_int_equal(bs_store_open(&st, dir, &dev), BS_ENOTFOUND);
	assert_int_equal(bs_store_wipe(dir), BS_ENOTFOUND);
	/* The device key is gone from the key store too. */
	{
		DIR *d = opendir(getenv("BRANCHSYNC_KEYSTORE"));
		struct dirent *e;
		int keys = 0;

		assert_non_null(d);
		while ((e = readdir(d)) != NULL)
			keys += strstr(e->d_name, ".key") != NULL;
		closedir(d);
		assert_int_equal(keys, 0);
	}
}

/* Collect the nonces of every WAL frame and check they all differ. */
static int cmp12(const void *a, const void *b)
{
	return memcmp(a, b, 12);
}

static void test_store__nonces_differ_across_fork(void **state)
{
	bs_store *st = tu_create(dir, 0);
	uint8_t *wal, *nonces;
	size_t len, frames, i;
	pid_t pid;
	int status, k;

	(void)state;
	tu_exec(st, "CREATE TABLE n(id INTEGER PRIMARY KEY, v)");
	tu_exec(st, "PRAGMA wal_autocheckpoint=0");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		bs_store *c = tu_open(dir);
		sqlite3_exec(bs_store_db(c), "PRAGMA wal_autocheckpoint=0", 0,
			     0, 0);
		for (k = 0; k < 150; k++)
			sqlite3_exec(bs_store_db(c),
				     "INSERT INTO n(v) VALUES ('child')", 0, 0,
				     0);
		bs_store_close(c);
		_exit(0);
	}
	for (k = 0; k < 150; k++)
		tu_exec(st, "INSERT INTO n(v) VALUES ('parent')");
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM n"), 300);
	wal = tu_read(tu_path(dir, "store-1.db-wal"), &len);
	assert_non_null(wal);
	frames = (len - 32) / (24 + BS_PAGE_SIZE);
	assert_true(frames >= 300);
	nonces = malloc(frames * 12);
	for (i = 0; i < frames; i++)
		memcpy(nonces + i * 12, wal + 32 + i * (24 + BS_PAGE_SIZE) + 24 + U,
		       12);
	qsort(nonces, frames, 12, cmp12);
	for (i = 1; i < frames; i++)
		assert_int_not_equal(memcmp(nonces + (i - 1) * 12,
					    nonces + i * 12, 12),
				     0);
	free(nonces);
	free(wal);
	bs_store_close(st);
}

/*
 * A commit that takes the WAL past BS__CKPT_PAGES returns without
 * checkpointing: the store's own thread copies the pages into the
 * database file while the writer goes on, and closing the store leaves
 * no WAL behind.
 */
static void test_store__checkpoints_beside_the_writer(void **state)
{
	bs_store *st = tu_create(dir, 0);
	struct stat sb;
	off_t biggest;
	int i, rows, waited;

	(void)state;
	fill(st, 100);
	assert_int_equal(bs__store_checkpoints(st), 0);
	/* About 1,500 pages in one commit. */
	fill(st, 25000);
	for (waited = 0; bs__store_checkpoints(st) == 0 && waited < 1000;
	     waited++)
		usleep(10000);
	assert_true(bs__store_checkpoints(st) >= 1);
	assert_int_equal(stat(tu_path(dir, "store-1.db"), &sb), 0);
	assert_true(sb.st_size >= 1000 * BS_PAGE_SIZE);
	/* Commits past the mark, one after another, while the thread
	 * checkpoints the ones before. */
	for (i = 0; i < 12; i++)
		fill(st, 8000);
	assert_int_equal(bs_store_check(st), BS_OK);
	rows = tu_int(st, "SELECT count(*) FROM t");
	assert_int_equal(rows, 100 + 25000 + 12 * 8000);
	/* A writer that never pauses still lets the WAL start over: past
	 * the limit, a commit waits for a checkpoint, so the file stays
	 * near the limit instead of growing with every commit (300 commits
	 * of about 30 pages each). */
	bs__store_set_checkpoint_limit(1000);
	tu_exec(st, "PRAGMA synchronous=NORMAL");
	for (i = 0, biggest = 0; i < 300; i++) {
		fill(st, 300);
		/* (The file the commits before left is cut back once the
		 * WAL has started over.) */
		if (i >= 50 && stat(tu_path(dir, "store-1.db-wal"), &sb) == 0 &&
		    sb.st_size > biggest)
			biggest = sb.st_size;
	}
	bs__store_set_checkpoint_limit(0);
	assert_true(biggest > 0);
	assert_true(biggest < 2000 * (BS_PAGE_SIZE + 24));
	rows += 300 * 300;
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t"), rows);
	bs_store_close(st);
	assert_int_not_equal(stat(tu_path(dir, "store-1.db-wal"), &sb), 0);
	st = tu_open(dir);
	assert_int_equal(bs_store_check(st), BS_OK);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t"), rows);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t WHERE body LIKE "
				    "'" MARKER " row 25000 %'"),
			 1);
	bs_store_close(st);
}

static void test_store__out_of_memory(void **state)
{
	bs_key k = tu_pin("s1", TEST_PIN);
	bs_store *st = tu_create(dir, 0);
	int n, failed = 0;

	(void)state;
	fill(st, 10);
	bs_store_close(st);
	/* Fail each allocation of an open in turn: a clean BS_ENOMEM, no
	 * leak (the sanitizer run checks), and the store still opens. */
	for (n = 1; n < 40; n++) {
		int rc;

		bs__alloc_fail_after(n, 0);
		rc = bs_store_open(&st, dir, &k);
		bs__alloc_fail_after(0, 0);
		if (rc == BS_OK) {
			bs_store_close(st);
			continue;
		}
		assert_int_equal(rc, BS_ENOMEM);
		assert_null(st);
		failed++;
	}
	assert_true(failed >= 3);
	st = tu_open(dir);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t"), 10);
	bs_store_close(st);
}

/* A store folder named relative to the working directory, or through a
 * symbolic link, opens, checkpoints on its thread and rotates its key:
 * SQLite hands the VFS the full path, which the VFS compares with. */
static void test_store__relative_and_linked_folder(void **state)
{
	char cwd[600];
	bs_store *st;
	bs_key k = tu_pin("s1", TEST_PIN);
	unsigned dropped;
	int waited;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(root), 0);
	st = tu_create("store", 0);
	fill(st, 100);
	fill(st, 25000); /* past the mark: the thread opens "store/..." */
	for (waited = 0; bs__store_checkpoints(st) == 0 && waited < 1000;
	     waited++)
		usleep(10000);
	assert_true(bs__store_checkpoints(st) >= 1);
	assert_int_equal(bs_store_rekey(st, &k, &dropped), BS_OK);
	bs_store_close(st);
	assert_int_equal(symlink("store", "linked"), 0);
	st = tu_open("linked");
	assert_int_equal(bs_store_epoch(st), 2);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t"), 25100);
	assert_int_equal(bs_store_check(st), BS_OK);
	bs_store_close(st);
	assert_int_equal(chdir(cwd), 0);
	st = tu_open(dir);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t"), 25100);
	bs_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store__round_trip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store__both_ciphers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store__wrong_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store__not_a_store, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store__damaged_key_file,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_store__marker_never_on_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_store__every_flipped_byte_detected, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_store__swapped_and_foreign_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_store__no_global_memory_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__mmap_stays_off,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__page_size_fixed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__temp_files_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__overflow_rows, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_store__backup_from_plain_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__slots, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_store__rekey, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_store__relative_and_linked_folder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store__wipe, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_store__nonces_differ_across_fork, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_store__checkpoints_beside_the_writer, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_store__out_of_memory,
						setup, teardown),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
