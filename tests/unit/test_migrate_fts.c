/*
 * test_migrate_fts.c - schema version 2 (schema/agent/002_fts_deferred.sql):
 * full-text indexing put off to the end of a transaction; and version 3
 * (003_fts_lean.sql), the indexes rebuilt without positions; and
 * version 5 (005_fts_tokenizer.sql), rebuilt with the store's tokenizer.
 *
 * A plain in-memory database migrated with the real schema/agent files,
 * as test_migrate.c does.  The cases: a store indexed under version 1
 * keeps its index across the upgrade; outside a deferring transaction
 * the triggers index as before; inside one, rows added are indexed by
 * the writer's one INSERT ... SELECT at the end (the statements pull.c
 * runs), rows that were there before by trigger, whatever happens to
 * either in between (edits, purges, a rid used again); a rolled-back
 * transaction leaves no mark.  Each case ends with FTS5's own
 * integrity check of both indexes against their tables.
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
#include "agent/store/migrate.h"
#include "agent/store/schema_fns.h"
#include "testutil.h"

#define T0 "01900000-0000-7000-8000-000000000000"
#define T1 "01900000-0000-7000-8000-000000000001"
#define T2 "01900000-0000-7000-8000-000000000002"
#define A0 "01900000-0000-7000-8000-0000000000a0"
#define A1 "01900000-0000-7000-8000-0000000000a1"
#define A2 "01900000-0000-7000-8000-0000000000a2"
#define HLC "0000018f00000000"

/* What a writer runs around its rows (the same text as pull.c's). */
#define DEFER                                                              \
	"UPDATE maintenance SET "                                          \
	"fts_ticket_rid = (SELECT coalesce(max(rid), 0) + 1 FROM ticket), " \
	"fts_activity_rid = (SELECT coalesce(max(rid), 0) + 1 "           \
	"FROM activity) WHERE id = 1"
#define CATCH_UP                                                           \
	"INSERT INTO ticket_fts (rowid, subject, description, transcript) " \
	"SELECT rid, subject, description, transcript FROM ticket WHERE "  \
	"rid >= (SELECT fts_ticket_rid FROM maintenance WHERE id = 1);"    \
	"INSERT INTO activity_fts (rowid, body, attachment_name) "         \
	"SELECT rid, body, attachment_name FROM activity WHERE "           \
	"rid >= (SELECT fts_activity_rid FROM maintenance WHERE id = 1);"  \
	"UPDATE maintenance SET fts_ticket_rid = NULL, "                   \
	"fts_activity_rid = NULL WHERE id = 1"

/* --- helpers ------------------------------------------------------------ */

/* A plain in-memory database set up as the store sets up its own. */
static sqlite3 *open_mem(void)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1,
					   NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(bs__schema_fns(db), BS_OK);
	return db;
}

/* Run sql, which must succeed. */
static void must(sqlite3 *db, const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
}

/* The first column of the first row of sql as an integer, or -1. */
static long long num(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The first n migrations of the real list (n 0: all of them). */
static sqlite3 *open_at(int n)
{
	struct bs__embedded buf[1000];
	sqlite3 *db = open_mem();
	int i;

	if (n == 0) {
		assert_int_equal(bs__migrate(db, bs__migrations), BS_OK);
		return db;
	}
	for (i = 0; i < n; i++)
		buf[i] = bs__migrations[i];
	buf[n].name = NULL;
	buf[n].text = NULL;
	assert_int_equal(bs__migrate(db, buf), BS_OK);
	assert_int_equal(num(db, "PRAGMA user_version"), n);
	return db;
}

static void add_ticket(sqlite3 *db, const char *id, const char *desc)
{
	char sql[1024];

	must(db, "INSERT OR IGNORE INTO customer (id, name_masked, "
		 "created_ms, updated_ms) VALUES ('c1', '张*', 1, 1)");
	snprintf(sql, sizeof(sql),
		 "INSERT INTO ticket (id, customer_id, channel, status, "
		 "subject, description, t0_ms, created_ms, updated_ms) "
		 "VALUES ('%s', 'c1', 'phone', 'received', 'complaint', "
		 "'%s', 1000, 1000, 1000)",
		 id, desc);
	must(db, sql);
}

static void add_note(sqlite3 *db, const char *id, const char *ticket,
		     const char *body)
{
	char sql[1024];

	snprintf(sql, sizeof(sql),
		 "INSERT INTO activity (id, ticket_id, kind, body, author, "
		 "device_id, device_time_ms, hlc) VALUES ('%s', '%s', "
		 "'internal_note', '%s', 'staff1', 'dev1', 2000, '" HLC "')",
		 id, ticket, body);
	must(db, sql);
}

/* Tickets (activity entries) whose indexed text matches q. */
static long long tickets_matching(sqlite3 *db, const char *q)
{
	char sql[1200];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM ticket_fts WHERE "
		 "ticket_fts MATCH '%s'", tu_trigrams(q));
	return num(db, sql);
}

static long long notes_matching(sqlite3 *db, const char *q)
{
	char sql[1200];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM activity_fts WHERE "
		 "activity_fts MATCH '%s'", tu_trigrams(q));
	return num(db, sql);
}

/* Both indexes agree with their tables, and no mark is left. */
static void fts_consistent(sqlite3 *db)
{
	must(db, "INSERT INTO ticket_fts (ticket_fts, rank) "
		 "VALUES ('integrity-check', 1)");
	must(db, "INSERT INTO activity_fts (activity_fts, rank) "
		 "VALUES ('integrity-check', 1)");
	assert_int_equal(num(db, "SELECT count(*) FROM maintenance WHERE "
				 "fts_ticket_rid IS NULL AND "
				 "fts_activity_rid IS NULL"),
			 1);
}

/* --- cases -------------------------------------------------------------- */

static void test_migrate_fts__version_1_index_survives(void **state)
{
	sqlite3 *db = open_at(1);

	(void)state;
	add_ticket(db, T1, "客户投诉信用卡年费扣款");
	add_note(db, A1, T1, "Customer called back about the refund");
	assert_int_equal(bs__migrate(db, bs__migrations), BS_OK);
	assert_true(num(db, "PRAGMA user_version") >= 2);
	assert_int_equal(tickets_matching(db, "信用卡"), 1);
	assert_int_equal(notes_matching(db, "refund"), 1);
	fts_consistent(db);

	/* The new triggers follow edits and purges of the old rows. */
	must(db, "UPDATE ticket SET description = '网点排队时间过长'");
	assert_int_equal(tickets_matching(db, "信用卡"), 0);
	assert_int_equal(tickets_matching(db, "排队时"), 1);
	must(db, "BEGIN; UPDATE maintenance SET purge = 1; "
		 "DELETE FROM ticket; UPDATE maintenance SET purge = 0; "
		 "COMMIT");
	assert_int_equal(tickets_matching(db, "排队时"), 0);
	assert_int_equal(notes_matching(db, "refund"), 0);
	fts_consistent(db);
	sqlite3_close(db);
}


/* Version 3 rebuilds both indexes without positions or sizes: what a
 * version 2 store held is still found, phrase queries are refused, and
 * the per-row size tables are gone. */
static void test_migrate_fts__version_2_index_rebuilt_lean(void **state)
{
	sqlite3 *db = open_at(2);

	(void)state;
	add_ticket(db, T1, "客户投诉信用卡年费扣款");
	add_note(db, A1, T1, "Customer called back about the refund");
	assert_int_equal(num(db, "SELECT count(*) FROM ticket_fts WHERE "
				 "ticket_fts MATCH '\"年费扣款\"'"),
			 1);
	assert_int_equal(bs__migrate(db, bs__migrations), BS_OK);
	assert_true(num(db, "PRAGMA user_version") >= 3);
	assert_int_equal(tickets_matching(db, "年费扣款"), 1);
	assert_int_equal(tickets_matching(db, "排队时"), 0);
	assert_int_equal(notes_matching(db, "called back"), 1);
	assert_int_equal(num(db, "SELECT count(*) FROM ticket_fts WHERE "
				 "ticket_fts MATCH '\"年费扣款\"'"),
			 -1);
	assert_int_equal(num(db, "SELECT count(*) FROM sqlite_schema WHERE "
				 "name IN ('ticket_fts_docsize', "
				 "'activity_fts_docsize')"),
			 0);
	fts_consistent(db);
	sqlite3_close(db);
}

/* Version 5 rebuilds both indexes with the store's own tokenizer: what
 * a version 4 store held (indexed by SQLite's "trigram") is found again,
 * ASCII case aside, and the triggers follow later edits. */
static void test_migrate_fts__version_4_index_rebuilt_own_tokenizer(
	void **state)
{
	sqlite3 *db = open_at(4);

	(void)state;
	add_ticket(db, T1, "客户投诉信用卡年费扣款");
	add_note(db, A1, T1, "Customer called back about the REFUND");
	assert_int_equal(bs__migrate(db, bs__migrations), BS_OK);
	assert_true(num(db, "PRAGMA user_version") >= 5);
	assert_int_equal(num(db, "SELECT count(*) FROM sqlite_schema WHERE "
				 "name IN ('ticket_fts', 'activity_fts') AND "
				 "sql LIKE '%tokenize = ''bs_trigram''%'"),
			 2);
	assert_int_equal(tickets_matching(db, "年费扣款"), 1);
	assert_int_equal(notes_matching(db, "refund"), 1);
	assert_int_equal(notes_matching(db, "CUSTOMER"), 1);
	assert_int_equal(notes_matching(db, "refusal"), 0);
	fts_consistent(db);
	must(db, "UPDATE ticket SET description = '网点排队时间过长'");
	assert_int_equal(tickets_matching(db, "年费扣款"), 0);
	assert_int_equal(tickets_matching(db, "排队时"), 1);
	fts_consistent(db);
	sqlite3_close(db);
}

static void test_migrate_fts__no_mark_indexes_at_once(void **state)
{
	sqlite3 *db = open_at(0);

	(void)state;
	add_ticket(db, T1, "理财产品赎回延迟");
	add_note(db, A1, T1, "Branch manager approved the extension");
	assert_int_equal(tickets_matching(db, "赎回延迟"), 1);
	assert_int_equal(notes_matching(db, "approve"), 1);
	fts_consistent(db);
	sqlite3_close(db);
}

static void test_migrate_fts__rows_added_are_indexed_at_the_end(void **state)
{
	sqlite3 *db = open_at(0);

	(void)state;
	add_ticket(db, T0, "借记卡被锁定无法取现");
	add_note(db, A0, T0, "first note about the card");
	must(db, "BEGIN IMMEDIATE");
	must(db, DEFER);
	add_ticket(db, T1, "客户投诉信用卡年费扣款");
	add_ticket(db, T2, "网点排队时间过长");
	add_note(db, A1, T1, "Customer called back about the refund");
	add_note(db, A2, T2, "queue complaint noted");
	/* Not in the index until the writer catches up... */
	assert_int_equal(tickets_matching(db, "信用卡"), 0);
	assert_int_equal(notes_matching(db, "refund"), 0);
	/* ...while a row from before follows its edits at once. */
	must(db, "UPDATE ticket SET description = '理财产品赎回延迟' "
		 "WHERE id = '" T0 "'");
	assert_int_equal(tickets_matching(db, "借记卡"), 0);
	assert_int_equal(tickets_matching(db, "赎回延迟"), 1);
	/* A new row edited, an UPSERT as pull.c writes, and one purged. */
	must(db, "INSERT INTO ticket (id, customer_id, channel, status, "
		 "subject, description, t0_ms, created_ms, updated_ms) "
		 "VALUES ('" T1 "', 'c1', 'phone', 'dispatched', 'complaint', "
		 "'信用卡额度被降低', 1000, 1000, 2000) ON CONFLICT (id) DO "
		 "UPDATE SET status = excluded.status, description = "
		 "excluded.description, updated_ms = excluded.updated_ms");
	must(db, "UPDATE maintenance SET purge = 1");
	must(db, "DELETE FROM ticket WHERE id = '" T2 "'");
	must(db, "UPDATE maintenance SET purge = 0");
	must(db, CATCH_UP);
	must(db, "COMMIT");

	assert_int_equal(tickets_matching(db, "额度被降低"), 1);
	assert_int_equal(tickets_matching(db, "年费扣款"), 0);
	assert_int_equal(tickets_matching(db, "排队时"), 0);
	assert_int_equal(tickets_matching(db, "赎回延迟"), 1);
	assert_int_equal(notes_matching(db, "refund"), 1);
	assert_int_equal(notes_matching(db, "queue"), 0);
	assert_int_equal(notes_matching(db, "card"), 1);
	fts_consistent(db);

	/* Later writes without a mark are indexed by trigger again. */
	add_ticket(db, T2, "网点排队时间过长");
	assert_int_equal(tickets_matching(db, "排队时"), 1);
	fts_consistent(db);
	sqlite3_close(db);
}

/*
 * The largest row purged inside the transaction: the next row takes its
 * rid, below the mark, and the trigger indexes it; the catch-up does not
 * index it twice.
 */
static void test_migrate_fts__a_rid_used_again(void **state)
{
	sqlite3 *db = open_at(0);
	long long rid;

	(void)state;
	add_ticket(db, T0, "借记卡被锁定无法取现");
	rid = num(db, "SELECT rid FROM ticket WHERE id = '" T0 "'");
	must(db, "BEGIN IMMEDIATE");
	must(db, DEFER);
	must(db, "UPDATE maintenance SET purge = 1");
	must(db, "DELETE FROM ticket WHERE id = '" T0 "'");
	must(db, "UPDATE maintenance SET purge = 0");
	add_ticket(db, T1, "客户投诉信用卡年费扣款");
	assert_int_equal(
		num(db, "SELECT rid FROM ticket WHERE id = '" T1 "'"), rid);
	assert_int_equal(tickets_matching(db, "信用卡"), 1);
	add_ticket(db, T2, "网点排队时间过长");
	must(db, CATCH_UP);
	must(db, "COMMIT");
	assert_int_equal(tickets_matching(db, "借记卡"), 0);
	assert_int_equal(tickets_matching(db, "信用卡"), 1);
	assert_int_equal(tickets_matching(db, "排队时"), 1);
	fts_consistent(db);
	sqlite3_close(db);
}

static void test_migrate_fts__rollback_leaves_no_mark(void **state)
{
	sqlite3 *db = open_at(0);

	(void)state;
	must(db, "BEGIN IMMEDIATE");
	must(db, DEFER);
	add_ticket(db, T1, "客户投诉信用卡年费扣款");
	must(db, "ROLLBACK");
	fts_consistent(db);
	add_ticket(db, T1, "客户投诉信用卡年费扣款");
	assert_int_equal(tickets_matching(db, "信用卡"), 1);
	fts_consistent(db);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_fts__version_1_index_survives),
		cmocka_unit_test(
			test_migrate_fts__version_2_index_rebuilt_lean),
		cmocka_unit_test(
			test_migrate_fts__version_4_index_rebuilt_own_tokenizer),
		cmocka_unit_test(test_migrate_fts__no_mark_indexes_at_once),
		cmocka_unit_test(
			test_migrate_fts__rows_added_are_indexed_at_the_end),
		cmocka_unit_test(test_migrate_fts__a_rid_used_again),
		cmocka_unit_test(test_migrate_fts__rollback_leaves_no_mark),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
