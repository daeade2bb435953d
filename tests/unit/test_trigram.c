/*
 * test_trigram.c - the store's full-text tokenizer, bs_trigram
 * (agent/store/trigram.c), against SQLite's own "trigram".
 *
 * Two FTS5 tables over the same texts, one per tokenizer, both as the
 * store declares its indexes (detail=none): for text whose only upper
 * case is ASCII, they must hold the same terms for the same rows.  Then
 * what differs on purpose (only ASCII is folded), options refused, and
 * bytes that are not UTF-8, which must neither be read past nor crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "agent/core/common.h"
#include "agent/store/trigram.h"

static sqlite3 *open_mem(void)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(bs__trigram_register(db), BS_OK);
	return db;
}

static void must(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
}

static long long num(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Both tables, each with its vocabulary. */
static void two_indexes(sqlite3 *db)
{
	must(db, "CREATE VIRTUAL TABLE ours USING fts5 (a, b, "
		 "tokenize = 'bs_trigram', detail = none, columnsize = 0);"
		 "CREATE VIRTUAL TABLE theirs USING fts5 (a, b, "
		 "tokenize = 'trigram', detail = none, columnsize = 0);"
		 "CREATE VIRTUAL TABLE ours_v USING fts5vocab (ours, row);"
		 "CREATE VIRTUAL TABLE theirs_v USING fts5vocab (theirs, row)");
}

static void add(sqlite3 *db, long long rowid, const char *a, const char *b)
{
	sqlite3_stmt *st = NULL;
	int t;

	for (t = 0; t < 2; t++) {
		assert_int_equal(
			sqlite3_prepare_v2(db,
					   t == 0 ? "INSERT INTO ours (rowid, a, "
						    "b) VALUES (?, ?, ?)"
						  : "INSERT INTO theirs (rowid, "
						    "a, b) VALUES (?, ?, ?)",
					   -1, &st, NULL),
			SQLITE_OK);
		sqlite3_bind_int64(st, 1, rowid);
		sqlite3_bind_text(st, 2, a, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, b, -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_finalize(st);
	}
}

/* Terms (with how many rows hold each) in one index and not the other. */
static long long differences(sqlite3 *db)
{
	return num(db, "SELECT count(*) FROM (SELECT term, doc FROM ours_v "
		       "EXCEPT SELECT term, doc FROM theirs_v) ") +
	       num(db, "SELECT count(*) FROM (SELECT term, doc FROM "
		       "theirs_v EXCEPT SELECT term, doc FROM ours_v)");
}

static void test_trigram__same_terms_as_sqlite(void **state)
{
	char lng[4000];
	size_t i;
	sqlite3 *db = open_mem();

	(void)state;
	two_indexes(db);
	add(db, 1, "客户投诉信用卡年费扣款，要求退款", "网点排队时间过长");
	add(db, 2, "Customer called back about the REFUND", "Card 4929");
	add(db, 3, "ab", "x");                 /* too short for a trigram */
	add(db, 4, "", NULL);
	add(db, 5, "Grüße aus Köln, ça va", "🙂🙂 ok 🙂 done"); /* 2-4 bytes */
	add(db, 6, "tab\there\nnew line  two spaces", "a\"quote'");
	/* Longer than what is folded on the stack, upper case at the end. */
	for (i = 0; i + 1 < sizeof(lng); i++)
		lng[i] = (char)("abcdefghij年"[i % 13]);
	lng[sizeof(lng) - 1] = '\0';
	memcpy(lng + sizeof(lng) - 12, "XYZ", 3);
	add(db, 7, lng, "MiXeD CaSe TeXt");
	assert_true(num(db, "SELECT count(*) FROM ours_v") > 100);
	assert_int_equal(differences(db), 0);

	/* Queries are cut the same way: upper case finds lower. */
	assert_int_equal(num(db, "SELECT rowid FROM ours WHERE ours MATCH "
				 "'\"REF\" AND \"UND\"'"),
			 2);
	assert_int_equal(num(db, "SELECT rowid FROM ours WHERE ours MATCH "
				 "'\"年费扣\"'"),
			 1);
	assert_int_equal(num(db, "SELECT rowid FROM ours WHERE ours MATCH "
				 "'\"xyz\"'"),
			 7);
	assert_int_equal(num(db, "SELECT count(*) FROM ours WHERE ours MATCH "
				 "'\"ab\"'"),
			 0);
	must(db, "INSERT INTO ours (ours, rank) VALUES ('integrity-check', 1)");

	/* Deleting a row takes its terms out again. */
	must(db, "DELETE FROM ours WHERE rowid = 2;"
		 "DELETE FROM theirs WHERE rowid = 2");
	assert_int_equal(differences(db), 0);
	assert_int_equal(num(db, "SELECT count(*) FROM ours WHERE ours MATCH "
				 "'\"ref\"'"),
			 0);
	sqlite3_close(db);
}

/* Only ASCII is folded: "Ä" and "ä" are different characters to the
 * index, as they are to LIKE, which checks every row the index finds. */
static void test_trigram__folds_ascii_only(void **state)
{
	sqlite3 *db = open_mem();

	(void)state;
	must(db, "CREATE VIRTUAL TABLE t USING fts5 (x, "
		 "tokenize = 'bs_trigram', detail = none)");
	must(db, "INSERT INTO t (rowid, x) VALUES (1, 'ÄRGER Über')");
	assert_int_equal(num(db, "SELECT rowid FROM t WHERE t MATCH "
				 "'\"Ärg\"'"),
			 1);
	assert_int_equal(num(db, "SELECT count(*) FROM t WHERE t MATCH "
				 "'\"ärg\"'"),
			 0);
	assert_int_equal(num(db, "SELECT count(*) FROM t WHERE t MATCH "
				 "'\"üBE\" AND \"ber\"'"),
			 0);
	assert_int_equal(num(db, "SELECT rowid FROM t WHERE t MATCH "
				 "'\"Übe\" AND \"BER\"'"),
			 1);
	sqlite3_close(db);
}

static void test_trigram__takes_no_options(void **state)
{
	sqlite3 *db = open_mem();

	(void)state;
	assert_int_not_equal(sqlite3_exec(db,
					  "CREATE VIRTUAL TABLE t USING fts5 ("
					  "x, tokenize = 'bs_trigram "
					  "case_sensitive 1')",
					  NULL, NULL, NULL),
			     SQLITE_OK);
	assert_non_null(strstr(sqlite3_errmsg(db), "tokenize"));
	sqlite3_close(db);
}

/* Bytes that are not UTF-8: a stray continuation byte counts as one
 * character, a sequence cut short by the end of the text ends there, and
 * the same bytes in a query find the row. */
static void test_trigram__bytes_that_are_not_utf8(void **state)
{
	sqlite3 *db = open_mem();

	(void)state;
	must(db, "CREATE VIRTUAL TABLE t USING fts5 (x, "
		 "tokenize = 'bs_trigram', detail = none);"
		 "CREATE VIRTUAL TABLE v USING fts5vocab (t, row)");
	/* "ab" and the first byte of a three-byte sequence. */
	must(db, "INSERT INTO t (rowid, x) VALUES (1, CAST(X'6162e4' AS "
		 "TEXT))");
	assert_int_equal(num(db, "SELECT count(*) FROM v"), 1);
	assert_int_equal(num(db, "SELECT count(*) FROM v WHERE term = "
				 "CAST(X'6162e4' AS TEXT)"),
			 1);
	/* A lone continuation byte between ASCII letters. */
	must(db, "INSERT INTO t (rowid, x) VALUES (2, CAST(X'7880797a' AS "
		 "TEXT))");
	assert_int_equal(num(db, "SELECT count(*) FROM v"), 3);
	/* A four-byte lead byte with one byte after it. */
	must(db, "INSERT INTO t (rowid, x) VALUES (3, CAST(X'41f09f' AS "
		 "TEXT))");
	assert_int_equal(num(db, "SELECT count(*) FROM v"), 3);
	must(db, "INSERT INTO t (rowid, x) VALUES (4, CAST(X'4142f09f' AS "
		 "TEXT))");
	assert_int_equal(num(db, "SELECT count(*) FROM v"), 4);
	must(db, "INSERT INTO t (t, rank) VALUES ('integrity-check', 1)");
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trigram__same_terms_as_sqlite),
		cmocka_unit_test(test_trigram__folds_ascii_only),
		cmocka_unit_test(test_trigram__takes_no_options),
		cmocka_unit_test(test_trigram__bytes_that_are_not_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
