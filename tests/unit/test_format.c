/*
 * test_format.c - the on-disk format as documented, checked from the
 * outside: a page is decrypted here with mbedTLS directly, following only
 * the description in agent/store/keyfile.h and agent/store/vfs.h, without
 * the store's code.  Also: every checkpoint mode, and the store giving
 * the same answers as plain SQLite on a random workload.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/chachapoly.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <sqlite3.h>

#include "agent/store/store_internal.h"
#include "testutil.h"

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

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Unwrap the DEK from the first slot of the key file with pin. */
static void unwrap_dek(uint8_t dek[32], const uint8_t *kf, const char *pin)
{
	const uint8_t *slot = kf + 32;
	uint8_t kek[32], aad[200];
	mbedtls_md_context_t md;
	mbedtls_chachapoly_context cp;
	size_t n = 0;

	assert_memory_equal(kf, "BSKEYS01", 8);
	assert_int_equal(slot[0], BS_KEY_PIN);
	mbedtls_md_init(&md);
	assert_int_equal(mbedtls_md_setup(&md, mbedtls_md_info_from_type(
						       MBEDTLS_MD_SHA512),
					  1),
			 0);
	/* salt at 70, iterations at 66 */
	assert_int_equal(mbedtls_pkcs5_pbkdf2_hmac(&md, (const uint8_t *)pin,
						   strlen(pin), slot + 70, 16,
						   be32(slot + 66), 32, kek),
			 0);
	mbedtls_md_free(&md);
	memcpy(aad, "branchsync keyslot v1", 21);
	n = 21;
	memcpy(aad + n, kf + 8, 22);
	n += 22;
	memcpy(aad + n, slot, 86);
	n += 86;
	mbedtls_chachapoly_init(&cp);
	assert_int_equal(mbedtls_chachapoly_setkey(&cp, kek), 0);
	/* nonce 86, wrapped 98, tag 130 */
	assert_int_equal(mbedtls_chachapoly_auth_decrypt(&cp, 32, slot + 86,
							 aad, n, slot + 130,
							 slot + 98, dek),
			 0);
	mbedtls_chachapoly_free(&cp);
}

static void test_format__independent_decrypt(void **state)
{
	static const int ciphers[] = { BS_CIPHER_AES256GCM,
				       BS_CIPHER_CHACHA20POLY1305 };
	unsigned c;

	(void)state;
	for (c = 0; c < 2; c++) {
		bs_store_opts o = { TEST_KDF_MS, 0, ciphers[c] };
		bs_key k = tu_pin("s1", TEST_PIN);
		bs_store *st = NULL;
		uint8_t *kf, *db, dek[32], pk[32], info[24], aad[32], out[4096];
		size_t kflen, dblen;
		const size_t U = 4064;
		uint32_t pgno;
		int r;

		tu_rmrf(dir);
		assert_int_equal(bs_store_create(&st, dir, &k, &o), BS_OK);
		tu_exec(st, "CREATE TABLE t(a); INSERT INTO t VALUES "
			    "('known plaintext 42'); "
			    "PRAGMA wal_checkpoint(TRUNCATE);");
		bs_store_close(st);
		kf = tu_read(tu_path(dir, "keys"), &kflen);
		db = tu_read(tu_path(dir, "store-1.db"), &dblen);
		assert_non_null(kf);
		assert_non_null(db);
		assert_int_equal(kf[28], ciphers[c]);
		unwrap_dek(dek, kf, TEST_PIN);
		/* page key = HKDF-SHA256(salt=db id, DEK, label||cipher||epoch) */
		memcpy(info, "branchsync pages v1", 19);
		info[19] = (uint8_t)ciphers[c];
		memcpy(info + 20, kf + 24, 4);
		assert_int_equal(mbedtls_hkdf(mbedtls_md_info_from_type(
						      MBEDTLS_MD_SHA256),
					      kf + 8, 16, dek, 32, info, 24, pk,
					      32),
				 0);
		/* Page 1 starts with the database id, not SQLite's magic. */
		assert_memory_equal(db, kf + 8, 16);
		assert_int_equal(db[16], 0x10); /* page size 4096, plaintext */
		assert_int_equal(db[20], 32);   /* reserve */
		for (pgno = 1; pgno * 4096 <= dblen; pgno++) {
			const uint8_t *p = db + (pgno - 1) * 4096;
			size_t skip = pgno == 1 ? 24 : 0;
			size_t alen = pgno == 1 ? 32 : 24;

			memcpy(aad, kf + 8, 16);
			aad[16] = (uint8_t)(pgno >> 24);
			aad[17] = (uint8_t)(pgno >> 16);
			aad[18] = (uint8_t)(pgno >> 8);
			aad[19] = (uint8_t)pgno;
			memcpy(aad + 20, p + U + 28, 4);
			memcpy(aad + 24, p + 16, 8);
			assert_int_equal(p[U + 28], 1);
			assert_int_equal(p[U + 29], ciphers[c]);
			if (ciphers[c] == BS_CIPHER_AES256GCM) {
				mbedtls_gcm_context g;
				mbedtls_gcm_init(&g);
				mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, pk,
						   256);
				r = mbedtls_gcm_auth_decrypt(
					&g, U - skip, p + U, 12, aad, alen,
					p + U + 12, 16, p + skip, out + skip);
				mbedtls_gcm_free(&g);
			} else {
				mbedtls_chachapoly_context g;
				mbedtls_chachapoly_init(&g);
				mbedtls_chachapoly_setkey(&g, pk);
				r = mbedtls_chachapoly_auth_decrypt(
					&g, U - skip, p + U, aad, alen,
					p + U + 12, p + skip, out + skip);
				mbedtls_chachapoly_free(&g);
			}
			assert_int_equal(r, 0);
			/* A b-tree page header (page 1's sits at 100). */
			r = out[pgno == 1 ? 100 : 0];
			assert_true(r == 2 || r == 5 || r == 10 || r == 13 ||
				    r == 0);
			if (memmem(out, U, "known plaintext 42", 18) != NULL)
				break;
		}
		assert_true(pgno * 4096 <= dblen);
		free(kf);
		free(db);
	}
}

static void test_format__checkpoint_modes(void **state)
{
	static const char *modes[] = { "PASSIVE", "FULL", "RESTART",
				       "TRUNCATE" };
	bs_store *st = tu_create(dir, 0);
	char sql[200];
	unsigned i;
	int k;

	(void)state;
	tu_exec(st, "PRAGMA wal_autocheckpoint=0; "
		    "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
	for (i = 0; i < 4; i++) {
		for (k = 0; k < 50; k++)
			tu_exec(st, "INSERT INTO t(v) VALUES "
				    "(hex(randomblob(500)))");
		snprintf(sql, sizeof(sql), "PRAGMA wal_checkpoint(%s)", modes[i]);
		assert_int_equal(tu_int(st, sql), 0); /* not busy */
		assert_int_equal(bs_store_check(st), BS_OK);
	}
	/* Checkpoints copied the pages sealed, without re-encrypting. */
	{
		bs__vfs_stats stats;
		bs__vfs_stats_get(bs__store_vfs(st), &stats);
		assert_true(stats.pages_passed > 50);
	}
	bs_store_close(st);
	st = tu_open(dir);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM t"), 200);
	assert_int_equal(bs_store_check(st), BS_OK);
	bs_store_close(st);
}

static void test_format__damaged_wal_frame_detected(void **state)
{
	bs_store *st = tu_create(dir, 0);
	uint8_t *wal;
	size_t len;
	int k;

	(void)state;
	tu_exec(st, "PRAGMA wal_autocheckpoint=0; "
		    "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
	tu_exec(st, "PRAGMA wal_checkpoint(TRUNCATE)");
	for (k = 0; k < 30; k++)
		tu_exec(st, "INSERT INTO t(v) VALUES (hex(randomblob(900)))");
	wal = tu_read(tu_path(dir, "store-1.db-wal"), &len);
	assert_true(len > 32 + 2 * (24 + 4096));
	/* Damage the page image of the last frame (the newest version of
	 * its page), then checkpoint: the frame travels sealed into the
	 * database file, where the check finds it. */
	tu_flip(tu_path(dir, "store-1.db-wal"),
		(long)len - 4096 + 1000, 0x40);
	tu_exec(st, "PRAGMA wal_checkpoint(TRUNCATE)");
	assert_int_equal(bs_store_check(st), BS_EDAMAGED);
	assert_non_null(strstr(bs_last_error(), "fails authentication"));
	free(wal);
	bs_store_close(st);
}

/* Rows of a table in a canonical text form, as one string. */
static char *dump(sqlite3 *db)
{
	sqlite3_stmt *s = NULL;
	char *out = sqlite3_mprintf("");

	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT id, quote(a), quote(b) "
					    "FROM d ORDER BY id",
					    -1, &s, NULL),
			 SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW) {
		char *n = sqlite3_mprintf("%s%lld|%s|%s\n", out,
					  sqlite3_column_int64(s, 0),
					  sqlite3_column_text(s, 1),
					  sqlite3_column_text(s, 2));
		sqlite3_free(out);
		out = n;
	}
	sqlite3_finalize(s);
	return out;
}

static void test_format__same_answers_as_plain_sqlite(void **state)
{
	bs_store *st = tu_create(dir, 0);
	sqlite3 *plain = NULL;
	unsigned seed = 12345;
	char sql[300];
	char *a, *b;
	int i;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &plain), SQLITE_OK);
	for (i = 0; i < 2; i++)
		assert_int_equal(sqlite3_exec(i ? plain : bs_store_db(st),
					      "CREATE TABLE d(id INTEGER "
					      "PRIMARY KEY, a TEXT, b BLOB); "
					      "CREATE INDEX d_a ON d(a)",
					      0, 0, 0),
				 SQLITE_OK);
	/* A deterministic random mix of inserts, updates, deletes. */
	for (i = 0; i < 3000; i++) {
		unsigned r;
		seed = seed * 1103515245u + 12345u;
		r = (seed >> 8) % 100;
		if (r < 60)
			snprintf(sql, sizeof(sql),
				 "INSERT INTO d(a, b) VALUES ('v%u', "
				 "zeroblob(%u))",
				 seed % 977, (seed >> 4) % 9000);
		else if (r < 85)
			snprintf(sql, sizeof(sql),
				 "UPDATE d SET a = a || 'x', b = zeroblob(%u) "
				 "WHERE id %% 13 = %u",
				 (seed >> 3) % 6000, seed % 13);
		else
			snprintf(sql, sizeof(sql),
				 "DELETE FROM d WHERE id %% 17 = %u", seed % 17);
		assert_int_equal(sqlite3_exec(plain, sql, 0, 0, 0), SQLITE_OK);
		tu_exec(st, sql);
		if (i % 1000 == 999)
			tu_exec(st, "PRAGMA wal_checkpoint(PASSIVE)");
	}
	bs_store_close(st);
	st = tu_open(dir);
	a = dump(plain);
	b = dump(bs_store_db(st));
	assert_true(strlen(a) > 1000);
	assert_string_equal(a, b);
	sqlite3_free(a);
	sqlite3_free(b);
	sqlite3_close(plain);
	assert_int_equal(bs_store_check(st), BS_OK);
	bs_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_format__independent_decrypt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format__checkpoint_modes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_format__same_answers_as_plain_sqlite, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_format__damaged_wal_frame_detected, setup,
			teardown),
	};

	return cmocka_run_group_tests_name("format", tests, NULL, NULL);
}
