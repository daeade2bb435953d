/*
 * test_migrate.c - the migration runner and the v1 agent schema.
 *
 * The first half drives bs__migrate() with small lists made up here
 * (ordering, gaps, bad names, a failing migration, a store that is too
 * new, SQLite failures).  The second half migrates a plain in-memory
 * database with the real schema/agent files and checks what the schema
 * promises: every table present, append-only timeline and audit, the
 * purge path, the full-text index following its tables, and the CHECKs
 * on enums, ids, clocks and the outbox.  Encryption is not involved.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "agent/core/common.h"
#include "agent/core/sla.h"
#include "agent/core/state.h"
#include "agent/store/migrate.h"
#include "agent/store/schema_fns.h"
#include "testutil.h"

#define T1 "01900000-0000-7000-8000-000000000001"
#define T2 "01900000-0000-7000-8000-000000000002"
#define A1 "01900000-0000-7000-8000-0000000000a1"
#define A2 "01900000-0000-7000-8000-0000000000a2"
#define HLC "0000018f00000000"

/* --- helpers ------------------------------------------------------------ */

/*
 * A plain in-memory database, set up as the store sets up its own
 * connections: defensive mode and foreign keys on.
 */
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

/* Run sql and return SQLite's result code. */
static int run(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Run sql, which must succeed. */
static void must(sqlite3 *db, const char *sql)
{
	if (run(db, sql) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
}

/* Run sql, which a constraint or trigger must refuse. */
static void refused(sqlite3 *db, const char *sql)
{
	int rc = run(db, sql);

	if ((rc & 0xff) != SQLITE_CONSTRAINT)
		fail_msg("not refused (%d): %s", rc, sql);
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

/* Rows of table (ticket or activity) the trigram index finds for q. */
static long long fts_count(sqlite3 *db, const char *table, const char *q)
{
	char sql[1200];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s_fts WHERE %s_fts "
		 "MATCH '%s'", table, table, tu_trigrams(q));
	return num(db, sql);
}

/* Of those, the rows whose text holds q, as the search checks them. */
static long long fts_found(sqlite3 *db, const char *table, const char *q)
{
	char sql[1400];
	const char *col = strcmp(table, "ticket") == 0 ? "description"
						       : "body";

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE rid IN "
		 "(SELECT rowid FROM %s_fts WHERE %s_fts MATCH '%s') AND %s "
		 "LIKE '%%%s%%'", table, table, table, tu_trigrams(q), col, q);
	return num(db, sql);
}

/* The first column of the first row of sql as text, in buf. */
static const char *text(sqlite3 *db, const char *sql, char *buf, size_t n)
{
	sqlite3_stmt *st = NULL;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_text(st, 0) != NULL)
		snprintf(buf, n, "%s",
			 (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return buf;
}

static int version(sqlite3 *db)
{
	return (int)num(db, "PRAGMA user_version");
}

static int has_object(sqlite3 *db, const char *type, const char *name)
{
	char sql[200];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM sqlite_schema "
		 "WHERE type = '%s' AND name = '%s'",
		 type, name);
	return num(db, sql) == 1;
}

/* Number of tables other than SQLite's own. */
static long long user_tables(sqlite3 *db)
{
	return num(db, "SELECT count(*) FROM sqlite_schema WHERE "
		       "type = 'table' AND name NOT LIKE 'sqlite\\_%' "
		       "ESCAPE '\\'");
}

/* A database migrated with the real list. */
static sqlite3 *open_latest(void)
{
	sqlite3 *db = open_mem();

	assert_int_equal(bs__migrate(db, bs__migrations), BS_OK);
	return db;
}

/* The whole schema as one string, to compare two databases. */
static char *schema_text(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	const char *s;
	char *out;

	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT group_concat(type || name "
					    "|| coalesce(sql, ''), '|') FROM "
					    "(SELECT * FROM sqlite_schema "
					    "ORDER BY type, name)",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	s = (const char *)sqlite3_column_text(st, 0);
	out = strdup(s != NULL ? s : "");
	sqlite3_finalize(st);
	assert_non_null(out);
	return out;
}

/* A small made-up history: a table, a column added to it, a row. */
static const struct bs__embedded small[] = {
	{ "001_notes.sql", "CREATE TABLE note (id INTEGER PRIMARY KEY);" },
	{ "002_body.sql", "ALTER TABLE note ADD COLUMN body TEXT;" },
	{ "003_seed.sql", "INSERT INTO note (body) VALUES ('hello');" },
	{ NULL, NULL }
};

/* The first n entries of list, in buf (n + 1 entries long). */
static const struct bs__embedded *prefix(struct bs__embedded *buf,
					 const struct bs__embedded *list,
					 int n)
{
	int i;

	for (i = 0; i < n; i++)
		buf[i] = list[i];
	buf[n].name = NULL;
	buf[n].text = NULL;
	return buf;
}

/* A named temporary file path; the caller unlinks it. */
static void temp_path(char *buf, size_t n)
{
	int fd;

	snprintf(buf, n, "/tmp/bs_test_migrate_XXXXXX");
	fd = mkstemp(buf);
	assert_true(fd >= 0);
	close(fd);
}

static void add_ticket(sqlite3 *db, const char *id, const char *desc);

/* --- the runner ------------------------------------------------------- */

static void test_migrate__latest_counts_the_list(void **state)
{
	static const struct bs__embedded none[] = { { NULL, NULL } };

	(void)state;
	assert_int_equal(bs__migrate_latest(small), 3);
	assert_int_equal(bs__migrate_latest(none), 0);
	assert_int_equal(bs__migrate_latest(NULL), BS_EINVAL);
	assert_true(bs__migrate_latest(bs__migrations) >= 1);
}

static void test_migrate__applies_in_order(void **state)
{
	struct bs__embedded buf[4];
	sqlite3 *db = open_mem();
	char s[64];

	(void)state;
	assert_int_equal(bs__migrate(db, prefix(buf, small, 1)), BS_OK);
	assert_int_equal(version(db), 1);
	assert_int_equal(num(db, "SELECT count(*) FROM pragma_table_info"
				 "('note')"),
			 1);
	assert_int_equal(bs__migrate(db, prefix(buf, small, 2)), BS_OK);
	assert_int_equal(version(db), 2);
	must(db, "INSERT INTO note (body) VALUES ('kept')");
	assert_int_equal(bs__migrate(db, small), BS_OK);
	assert_int_equal(version(db), 3);
	assert_int_equal(num(db, "SELECT count(*) FROM note"), 2);
	assert_string_equal(text(db, "SELECT body FROM note ORDER BY id",
				 s, sizeof(s)),
			    "kept");
	sqlite3_close(db);
}

static void test_migrate__twice_is_a_no_op(void **state)
{
	sqlite3 *db = open_mem();
	long long schema, changes;

	(void)state;
	assert_int_equal(bs__migrate(db, small), BS_OK);
	schema = num(db, "PRAGMA schema_version");
	changes = sqlite3_total_changes(db);
	assert_int_equal(bs__migrate(db, small), BS_OK);
	assert_int_equal(version(db), 3);
	assert_int_equal(num(db, "PRAGMA schema_version"), schema);
	assert_int_equal(sqlite3_total_changes(db), changes);
	assert_int_equal(num(db, "SELECT count(*) FROM note"), 1);
	sqlite3_close(db);
}

static void test_migrate__refuses_bad_names(void **state)
{
	static const char *bad[] = {
		"1_notes.sql",    "01_notes.sql",   "0001_notes.sql",
		"001-notes.sql",  "001notes.sql",   "001_.sql",
		"001_notes.txt",  "001_notes.sql~", "abc_notes.sql",
		"00a_notes.sql",  "001_notes",      "",
	};
	struct bs__embedded list[2] = { { NULL, "SELECT 1;" }, { NULL, NULL } };
	size_t i;

	(void)state;
	for (i = 0; i < BS__ARRAY_LEN(bad); i++) {
		sqlite3 *db = open_mem();

		list[0].name = bad[i];
		assert_int_equal(bs__migrate_latest(list), BS_EINVAL);
		assert_int_equal(bs__migrate(db, list), BS_EINVAL);
		assert_non_null(strstr(bs_last_error(), "NNN_name.sql"));
		assert_int_equal(version(db), 0);
		sqlite3_close(db);
	}
}

static void test_migrate__refuses_gaps_and_disorder(void **state)
{
	static const struct bs__embedded gap[] = {
		{ "001_a.sql", "CREATE TABLE a (x);" },
		{ "003_c.sql", "CREATE TABLE c (x);" },
		{ NULL, NULL }
	};
	static const struct bs__embedded swapped[] = {
		{ "002_b.sql", "CREATE TABLE b (x);" },
		{ "001_a.sql", "CREATE TABLE a (x);" },
		{ NULL, NULL }
	};
	static const struct bs__embedded late_start[] = {
		{ "002_b.sql", "CREATE TABLE b (x);" },
		{ NULL, NULL }
	};
	static const struct bs__embedded twice[] = {
		{ "001_a.sql", "CREATE TABLE a (x);" },
		{ "001_b.sql", "CREATE TABLE b (x);" },
		{ NULL, NULL }
	};
	static const struct bs__embedded no_text[] = {
		{ "001_a.sql", NULL },
		{ NULL, NULL }
	};
	const struct bs__embedded *lists[] = { gap, swapped, late_start, twice,
					       no_text };
	size_t i;

	(void)state;
	for (i = 0; i < BS__ARRAY_LEN(lists); i++) {
		sqlite3 *db = open_mem();

		assert_int_equal(bs__migrate(db, lists[i]), BS_EINVAL);
		/* A bad list is refused before anything is applied. */
		assert_int_equal(version(db), 0);
		assert_int_equal(user_tables(db), 0);
		sqlite3_close(db);
	}
	assert_int_equal(bs__migrate_latest(gap), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "003_c.sql"));
}

static void test_migrate__failure_rolls_back(void **state)
{
	static const struct bs__embedded broken[] = {
		{ "001_a.sql", "CREATE TABLE a (x);" },
		{ "002_half.sql", "CREATE TABLE half (x);\n"
				  "INSERT INTO a VALUES (1);\n"
				  "INSERT INTO missing VALUES (1);" },
		{ "003_c.sql", "CREATE TABLE c (x);" },
		{ NULL, NULL }
	};
	static const struct bs__embedded fixed[] = {
		{ "001_a.sql", "CREATE TABLE a (x);" },
		{ "002_half.sql", "CREATE TABLE half (x);" },
		{ "003_c.sql", "CREATE TABLE c (x);" },
		{ NULL, NULL }
	};
	sqlite3 *db = open_mem();
	int rc;

	(void)state;
	rc = bs__migrate(db, broken);
	assert_int_equal(rc, BS_EIO);
	assert_non_null(strstr(bs_last_error(), "002_half.sql"));
	assert_non_null(strstr(bs_last_error(), "missing"));
	assert_null(strchr(bs_last_error(), '\n'));
	/* 001 stays applied; nothing of 002 is left; 003 never ran. */
	assert_int_equal(version(db), 1);
	assert_true(has_object(db, "table", "a"));
	assert_false(has_object(db, "table", "half"));
	assert_false(has_object(db, "table", "c"));
	assert_int_equal(num(db, "SELECT count(*) FROM a"), 0);
	assert_int_equal(sqlite3_get_autocommit(db), 1);
	/* Foreign keys are back on for the caller. */
	assert_int_equal(num(db, "PRAGMA foreign_keys"), 1);

	assert_int_equal(bs__migrate(db, fixed), BS_OK);
	assert_int_equal(version(db), 3);
	assert_true(has_object(db, "table", "half"));
	sqlite3_close(db);
}

static void test_migrate__refuses_a_newer_store(void **state)
{
	sqlite3 *db = open_mem();

	(void)state;
	must(db, "CREATE TABLE future (x); PRAGMA user_version = 7");
	assert_int_equal(bs__migrate(db, small), BS_EINVAL);
	assert_string_equal(bs_last_error(),
			    "store schema version 7 is newer than this "
			    "build (3)");
	assert_int_equal(version(db), 7);
	assert_false(has_object(db, "table", "note"));

	must(db, "PRAGMA user_version = -1");
	assert_int_equal(bs__migrate(db, small), BS_EINVAL);
	assert_false(has_object(db, "table", "note"));
	sqlite3_close(db);
}

static void test_migrate__refuses_an_open_transaction(void **state)
{
	sqlite3 *db = open_mem();

	(void)state;
	must(db, "BEGIN");
	assert_int_equal(bs__migrate(db, small), BS_EINVAL);
	must(db, "ROLLBACK");
	assert_int_equal(version(db), 0);
	sqlite3_close(db);
}

static void test_migrate__refuses_a_migration_that_commits(void **state)
{
	static const struct bs__embedded commits[] = {
		{ "001_a.sql", "CREATE TABLE a (x); COMMIT;" },
		{ NULL, NULL }
	};
	sqlite3 *db = open_mem();

	(void)state;
	assert_int_equal(bs__migrate(db, commits), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "001_a.sql"));
	assert_int_equal(version(db), 0);
	sqlite3_close(db);
}

static void test_migrate__checks_foreign_keys(void **state)
{
	static const struct bs__embedded orphan[] = {
		{ "001_a.sql", "CREATE TABLE p (id INTEGER PRIMARY KEY);\n"
			       "CREATE TABLE c (p INTEGER\n"
			       "\tREFERENCES p (id));" },
		{ "002_b.sql", "INSERT INTO c VALUES (42);" },
		{ NULL, NULL }
	};
	sqlite3 *db = open_mem();

	(void)state;
	assert_int_equal(bs__migrate(db, orphan), BS_EIO);
	assert_non_null(strstr(bs_last_error(), "002_b.sql"));
	assert_int_equal(version(db), 1);
	assert_int_equal(num(db, "SELECT count(*) FROM c"), 0);
	assert_int_equal(num(db, "PRAGMA foreign_keys"), 1);
	sqlite3_close(db);
}

static void test_migrate__reports_a_damaged_file(void **state)
{
	char path[64];
	sqlite3 *db = NULL;
	FILE *f;
	int i;

	(void)state;
	temp_path(path, sizeof(path));
	f = fopen(path, "wb");
	assert_non_null(f);
	for (i = 0; i < 4096; i++)
		fputc(0x5a, f);
	fclose(f);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(bs__migrate(db, small), BS_EDAMAGED);
	sqlite3_close(db);
	unlink(path);
}

static void test_migrate__reports_a_busy_store(void **state)
{
	char path[64];
	sqlite3 *a = NULL, *b = NULL;

	(void)state;
	temp_path(path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &a), SQLITE_OK);
	assert_int_equal(sqlite3_open(path, &b), SQLITE_OK);
	must(a, "BEGIN IMMEDIATE");
	assert_int_equal(bs__migrate(b, small), BS_EBUSY);
	assert_non_null(strstr(bs_last_error(), "001_notes.sql"));
	must(a, "ROLLBACK");
	assert_int_equal(bs__migrate(b, small), BS_OK);
	/* The other connection sees the work done and does nothing. */
	assert_int_equal(bs__migrate(a, small), BS_OK);
	assert_int_equal(num(a, "SELECT count(*) FROM note"), 1);
	sqlite3_close(a);
	sqlite3_close(b);
	unlink(path);
}

/* --- the real schema --------------------------------------------------- */

static void test_migrate__fresh_store_reaches_latest(void **state)
{
	static const char *tables[] = {
		"ticket_state",       "activity_kind",   "maintenance",
		"customer",           "customer_archive", "catalogue_category",
		"catalogue_template", "catalogue_meta",  "sla_profile",
		"branch",             "staff",           "ticket",
		"ticket_clock",       "activity",        "attachment_blob",
		"ticket_fts",         "activity_fts",    "outbox",
		"sync_state",         "conflict",        "audit",
	};
	static const char *triggers[] = {
		"activity_no_update",  "activity_hub_time_once",
		"activity_no_delete",  "activity_no_insert_in_purge",
		"audit_no_update",     "audit_no_delete",
		"audit_no_insert_in_purge", "ticket_fts_insert",
		"ticket_fts_delete",   "ticket_fts_update",
		"activity_fts_insert", "activity_fts_delete",
	};
	sqlite3 *db = open_latest();
	size_t i;

	(void)state;
	assert_int_equal(version(db), bs__migrate_latest(bs__migrations));
	for (i = 0; i < BS__ARRAY_LEN(tables); i++)
		if (!has_object(db, "table", tables[i]))
			fail_msg("table %s is missing", tables[i]);
	for (i = 0; i < BS__ARRAY_LEN(triggers); i++)
		if (!has_object(db, "trigger", triggers[i]))
			fail_msg("trigger %s is missing", triggers[i]);
	assert_int_equal(num(db, "SELECT count(*) FROM ticket_state"), 13);
	assert_int_equal(num(db, "SELECT purge FROM maintenance"), 0);
	assert_int_equal(num(db, "SELECT version FROM catalogue_meta"), 0);
	assert_int_equal(num(db, "SELECT count(*) FROM pragma_integrity_check "
				 "WHERE integrity_check <> 'ok'"),
			 0);
	sqlite3_close(db);
}

/*
 * The store's list of states and its priorities are the state machine's
 * and the SLA code's: same names, same end states.
 */
static void test_migrate__states_match_the_state_machine(void **state)
{
	sqlite3 *db = open_latest();
	char sql[200];
	int s, p;

	(void)state;
	assert_int_equal(num(db, "SELECT count(*) FROM ticket_state"),
			 BS__STATUS_COUNT);
	for (s = 0; s < BS__STATUS_COUNT; s++) {
		snprintf(sql, sizeof(sql),
			 "SELECT open FROM ticket_state WHERE name = '%s'",
			 bs__status_name((enum bs__status)s));
		if (num(db, sql) != !bs__status_is_final((enum bs__status)s))
			fail_msg("state %s differs",
				 bs__status_name((enum bs__status)s));
	}
	add_ticket(db, T1, "x");
	for (p = 0; p < BS__PRIORITY_COUNT; p++) {
		snprintf(sql, sizeof(sql),
			 "UPDATE ticket SET priority = '%s'",
			 bs__priority_name((enum bs__priority)p));
		must(db, sql);
	}
	sqlite3_close(db);
}

static void test_migrate__real_list_twice_is_a_no_op(void **state)
{
	sqlite3 *db = open_latest();
	long long schema = num(db, "PRAGMA schema_version");

	(void)state;
	assert_int_equal(bs__migrate(db, bs__migrations), BS_OK);
	assert_int_equal(num(db, "PRAGMA schema_version"), schema);
	sqlite3_close(db);
}

/*
 * A store left at any earlier version reaches the same schema as a
 * fresh one.
 */
static void test_migrate__upgrades_from_every_version(void **state)
{
	struct bs__embedded buf[1000];
	int latest = bs__migrate_latest(bs__migrations), n;
	sqlite3 *fresh = open_latest();
	char *want = schema_text(fresh);

	(void)state;
	assert_true(latest >= 1 && latest < 1000);
	for (n = 0; n < latest; n++) {
		sqlite3 *db = open_mem();
		char *got;

		assert_int_equal(bs__migrate(db, prefix(buf, bs__migrations,
							n)),
				 BS_OK);
		assert_int_equal(version(db), n);
		assert_int_equal(bs__migrate(db, bs__migrations), BS_OK);
		assert_int_equal(version(db), latest);
		got = schema_text(db);
		assert_string_equal(got, want);
		free(got);
		sqlite3_close(db);
	}
	free(want);
	sqlite3_close(fresh);
}

/* A ticket with description desc; a customer to go with it. */
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

/* The full-text index must agree with the rows it indexes. */
static void fts_consistent(sqlite3 *db)
{
	must(db, "INSERT INTO ticket_fts (ticket_fts, rank) "
		 "VALUES ('integrity-check', 1)");
	must(db, "INSERT INTO activity_fts (activity_fts, rank) "
		 "VALUES ('integrity-check', 1)");
}

static void test_migrate__activity_refuses_update(void **state)
{
	sqlite3 *db = open_latest();

	(void)state;
	add_ticket(db, T1, "x");
	add_note(db, A1, T1, "called the customer");
	refused(db, "UPDATE activity SET body = 'rewritten'");
	refused(db, "UPDATE activity SET body = body");
	refused(db, "UPDATE activity SET author = 'someone else'");
	refused(db, "UPDATE activity SET ticket_id = '" T2 "'");
	/* The hub's receipt time is set once, and only that. */
	must(db, "UPDATE activity SET hub_time_ms = 5000");
	must(db, "UPDATE activity SET hub_time_ms = 5000");
	refused(db, "UPDATE activity SET hub_time_ms = 6000");
	refused(db, "UPDATE activity SET hub_time_ms = NULL");
	assert_int_equal(num(db, "SELECT hub_time_ms FROM activity"), 5000);
	/* A replayed insert is a no-op, never a replacement. */
	assert_int_equal(run(db, "INSERT INTO activity (id, ticket_id, kind, "
				 "body, author, device_time_ms, hlc) VALUES "
				 "('" A1 "', '" T1 "', 'internal_note', "
				 "'other', 'x', 1, '" HLC "') "
				 "ON CONFLICT (id) DO NOTHING"),
			 SQLITE_OK);
	/*
	 * REPLACE would delete the row first; with recursive triggers on
	 * (Debian's default, and the store's setting) that is refused too.
	 */
	must(db, "PRAGMA recursive_triggers = ON");
	refused(db, "REPLACE INTO activity (rid, id, ticket_id, kind, body, "
		    "author, device_time_ms, hlc) SELECT rid, id, ticket_id, "
		    "kind, 'other', author, device_time_ms, hlc FROM activity");
	{
		char s[64];

		assert_string_equal(text(db, "SELECT body FROM activity", s,
					 sizeof(s)),
				    "called the customer");
	}
	sqlite3_close(db);
}

static void test_migrate__activity_deletes_only_in_purge(void **state)
{
	sqlite3 *db = open_latest();

	(void)state;
	add_ticket(db, T1, "x");
	add_note(db, A1, T1, "first");
	refused(db, "DELETE FROM activity");
	/* Nor through the ticket, whose deletion cascades to it. */
	refused(db, "DELETE FROM ticket");
	assert_int_equal(num(db, "SELECT count(*) FROM activity"), 1);

	/* The purge path: switch on, delete, switch off, one transaction. */
	must(db, "BEGIN");
	must(db, "UPDATE maintenance SET purge = 1");
	refused(db, "INSERT INTO activity (id, ticket_id, kind, body, "
		    "author, device_time_ms, hlc) VALUES ('" A2 "', '" T1
		    "', 'internal_note', 'late', 'x', 1, '" HLC "')");
	must(db, "DELETE FROM ticket WHERE id = '" T1 "'");
	must(db, "UPDATE maintenance SET purge = 0");
	must(db, "COMMIT");
	assert_int_equal(num(db, "SELECT count(*) FROM activity"), 0);
	assert_int_equal(num(db, "SELECT count(*) FROM ticket"), 0);

	/* A purge that fails rolls its switch back with it. */
	add_ticket(db, T2, "y");
	add_note(db, A2, T2, "second");
	must(db, "BEGIN");
	must(db, "UPDATE maintenance SET purge = 1");
	must(db, "DELETE FROM activity");
	must(db, "ROLLBACK");
	assert_int_equal(num(db, "SELECT purge FROM maintenance"), 0);
	assert_int_equal(num(db, "SELECT count(*) FROM activity"), 1);
	/* Without its row the switch reads as off. */
	must(db, "DELETE FROM maintenance");
	refused(db, "DELETE FROM activity");
	fts_consistent(db);
	sqlite3_close(db);
}

static void test_migrate__audit_is_append_only(void **state)
{
	sqlite3 *db = open_latest();

	(void)state;
	must(db, "INSERT INTO audit (at_ms, actor, action, entity, entity_id, "
		 "detail) VALUES (1, 'staff1', 'ticket.view', 'ticket', '" T1
		 "', '{\"from\":\"queue\"}')");
	refused(db, "UPDATE audit SET actor = 'nobody'");
	refused(db, "UPDATE audit SET at_ms = at_ms");
	refused(db, "DELETE FROM audit");
	refused(db, "INSERT INTO audit (at_ms, actor, action, detail) "
		    "VALUES (1, 'a', 'b', '{not json')");
	assert_int_equal(num(db, "SELECT count(*) FROM audit"), 1);

	must(db, "BEGIN");
	must(db, "UPDATE maintenance SET purge = 1");
	refused(db, "INSERT INTO audit (at_ms, actor, action) "
		    "VALUES (2, 'a', 'b')");
	must(db, "DELETE FROM audit");
	must(db, "UPDATE maintenance SET purge = 0");
	must(db, "COMMIT");
	/* Ids are never handed out again. */
	must(db, "INSERT INTO audit (at_ms, actor, action) "
		 "VALUES (3, 'a', 'purge')");
	assert_int_equal(num(db, "SELECT id FROM audit"), 2);
	sqlite3_close(db);
}

static void test_migrate__search_finds_chinese_in_tickets(void **state)
{
	sqlite3 *db = open_latest();

	(void)state;
	add_ticket(db, T1, "客户投诉信用卡年费扣款，要求退款");
	add_ticket(db, T2, "网点排队时间过长");
	assert_int_equal(fts_count(db, "ticket", "信用卡"),
			 1);
	assert_int_equal(fts_found(db, "ticket", "年费扣款"), 1);
	/* Without positions the index cannot tell columns or order apart:
	 * the text itself says which column holds the term. */
	assert_int_equal(num(db, "SELECT count(*) FROM ticket WHERE rid IN "
				 "(SELECT rowid FROM ticket_fts WHERE "
				 "ticket_fts MATCH '\"排队时\"') AND "
				 "description LIKE '%排队时%'"),
			 1);
	assert_int_equal(num(db, "SELECT count(*) FROM ticket WHERE rid IN "
				 "(SELECT rowid FROM ticket_fts WHERE "
				 "ticket_fts MATCH '\"排队时\"') AND "
				 "subject LIKE '%排队时%'"),
			 0);
	/* And phrase queries are refused (detail=none). */
	assert_int_equal(num(db, "SELECT count(*) FROM ticket_fts WHERE "
				 "ticket_fts MATCH '\"年费扣款\"'"),
			 -1);

	/* An edit replaces what the index holds. */
	must(db, "UPDATE ticket SET "
		 "description = '借记卡被锁定无法取现' "
		 "WHERE id = '" T1 "'");
	assert_int_equal(fts_count(db, "ticket", "信用卡"),
			 0);
	assert_int_equal(fts_count(db, "ticket", "借记卡"),
			 1);
	/* So does an UPSERT, the way pulled tickets are written. */
	must(db, "INSERT INTO ticket (id, customer_id, channel, status, "
		 "subject, description, t0_ms, created_ms, updated_ms) "
		 "VALUES ('" T1 "', 'c1', 'phone', 'dispatched', 'complaint', "
		 "'理财产品赎回延迟', 1000, 1000, 2000) ON CONFLICT (id) DO "
		 "UPDATE SET status = excluded.status, description = "
		 "excluded.description, updated_ms = excluded.updated_ms");
	assert_int_equal(fts_count(db, "ticket", "借记卡"),
			 0);
	assert_int_equal(fts_count(db, "ticket", "赎回延迟"),
			 1);
	/* An update that leaves the text alone leaves the index alone. */
	must(db, "UPDATE ticket SET priority = 'urgent'");
	fts_consistent(db);

	/* A purged ticket leaves the index. */
	must(db, "DELETE FROM ticket WHERE id = '" T2 "'");
	assert_int_equal(fts_count(db, "ticket", "排队时"),
			 0);
	fts_consistent(db);
	sqlite3_close(db);
}

static void test_migrate__search_finds_words_in_activity(void **state)
{
	sqlite3 *db = open_latest();

	(void)state;
	add_ticket(db, T1, "x");
	add_note(db, A1, T1, "Customer called back about the Refund");
	add_note(db, A2, T1, "Branch manager approved the extension");
	assert_int_equal(fts_count(db, "activity", "refund"),
			 1);
	assert_int_equal(fts_found(db, "activity", "called back"), 1);
	assert_int_equal(fts_count(db, "activity", "approve"),
			 1);

	must(db, "BEGIN");
	must(db, "UPDATE maintenance SET purge = 1");
	must(db, "DELETE FROM activity WHERE id = '" A1 "'");
	must(db, "UPDATE maintenance SET purge = 0");
	must(db, "COMMIT");
	assert_int_equal(fts_count(db, "activity", "refund"),
			 0);
	fts_consistent(db);
	sqlite3_close(db);
}

/*
 * Trigram indexes substrings of 3 characters; shorter queries (most
 * two-character Chinese words) need the fallback README.md describes.
 * With SQLite's trigram tokenizer (schema versions 3 and 4), a plain
 * LIKE with a short multibyte pattern on the FTS table wrongly returned
 * nothing on 3.40.1; the unary "+" keeps FTS5 from taking the
 * constraint and scans instead, on every version.
 */
static void test_migrate__search_short_queries_fall_back(void **state)
{
	sqlite3 *db = open_latest();

	(void)state;
	add_ticket(db, T1, "客户投诉信用卡年费扣款，要求退款");
	add_ticket(db, T2, "网点排队时间过长");
	assert_int_equal(num(db, "SELECT count(*) FROM ticket_fts "
				 "WHERE ticket_fts MATCH '退款'"),
			 0);
	assert_int_equal(num(db, "SELECT count(*) FROM ticket_fts WHERE "
				 "+subject LIKE '%退款%' OR "
				 "+description LIKE '%退款%' OR "
				 "+transcript LIKE '%退款%'"),
			 1);
	/* Since version 5 FTS5 leaves LIKE to SQLite's scan, which finds
	 * what version 3's trigram tokenizer missed. */
	assert_int_equal(num(db, "SELECT count(*) FROM ticket_fts WHERE "
				 "description LIKE '%退款%'"),
			 1);
	assert_int_equal(num(db, "SELECT rowid FROM ticket_fts "
				 "WHERE +description LIKE '%排队%'"),
			 num(db, "SELECT rid FROM ticket WHERE id = '" T2 "'"));
	sqlite3_close(db);
}

/* Whether the program SQLite compiles for sql uses opcode op. */
static int uses_opcode(sqlite3 *db, const char *sql, const char *op)
{
	sqlite3_stmt *st = NULL;
	char buf[1200];
	int found = 0;

	snprintf(buf, sizeof(buf), "EXPLAIN %s", sql);
	if (sqlite3_prepare_v2(db, buf, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", buf, sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW)
		if (strcmp((const char *)sqlite3_column_text(st, 1), op) == 0)
			found = 1;
	sqlite3_finalize(st);
	return found;
}

#define TICKET_INSERT                                                      \
	"INSERT INTO ticket (id, customer_id, channel, risk_class, "        \
	"priority, status, t0_ms, created_ms, updated_ms) VALUES (?1, "      \
	"'c1', ?2, ?3, ?4, 'received', 1, 1, 1)"

/*
 * Version 4: the ticket's CHECKs of fixed sets accept every value of
 * their set (and a NULL risk class) and nothing else, and checking them
 * builds no temporary b-tree, which an IN list of three values or more
 * does for every row written.
 */
static void test_migrate__ticket_sets_are_checked_by_comparison(void **state)
{
	static const char *channels[] = { "phone",  "app",    "branch",
					  "online", "social", "regulator" };
	static const char *risks[] = { "personnel_service", "product_dispute",
				       "operational_risk", "system_fault",
				       "regulator_inquiry" };
	static const char *bad[] = { "''", "'Phone'", "'phone '", "'fax'",
				     "'URGENT'", "1" };
	sqlite3 *db = open_latest();
	char sql[400];
	size_t i;

	(void)state;
	assert_false(uses_opcode(db, TICKET_INSERT, "OpenEphemeral"));
	add_ticket(db, T1, "x");
	for (i = 0; i < BS__ARRAY_LEN(channels); i++) {
		snprintf(sql, sizeof(sql), "UPDATE ticket SET channel = '%s'",
			 channels[i]);
		must(db, sql);
	}
	for (i = 0; i < BS__ARRAY_LEN(risks); i++) {
		snprintf(sql, sizeof(sql),
			 "UPDATE ticket SET risk_class = '%s'", risks[i]);
		must(db, sql);
	}
	must(db, "UPDATE ticket SET risk_class = NULL");
	for (i = 0; i < BS__ARRAY_LEN(bad); i++) {
		snprintf(sql, sizeof(sql), "UPDATE ticket SET channel = %s",
			 bad[i]);
		refused(db, sql);
		snprintf(sql, sizeof(sql),
			 "UPDATE ticket SET risk_class = %s", bad[i]);
		refused(db, sql);
		snprintf(sql, sizeof(sql), "UPDATE ticket SET priority = %s",
			 bad[i]);
		refused(db, sql);
	}
	refused(db, "UPDATE ticket SET channel = NULL");
	refused(db, "UPDATE ticket SET priority = NULL");
	assert_int_equal(num(db, "SELECT count(*) FROM ticket WHERE "
				 "channel = 'regulator' AND risk_class IS NULL"),
			 1);
	sqlite3_close(db);
}

/*
 * A version 3 store keeps its tickets through the rebuild of version 4:
 * every column and rid, the full-text index (found, and kept in step by
 * the triggers), the indexes, and the timeline's reference to them.
 */
static void test_migrate__version_3_tickets_survive(void **state)
{
	struct bs__embedded buf[1000];
	static const char *indexes[] = {
		"ticket_queue_resolution", "ticket_queue_first_response",
		"ticket_by_assignee",      "ticket_by_branch",
		"ticket_by_customer",      "ticket_dirty",
	};
	sqlite3 *db = open_mem();
	char before[400], after[400];
	const char *row = "SELECT group_concat(quote(rid) || quote(id) || "
			  "quote(channel) || quote(risk_class) || "
			  "quote(priority) || quote(description) || "
			  "quote(assignee) || quote(first_response_due_ms), "
			  "'|') FROM (SELECT * FROM ticket ORDER BY rid)";
	size_t i;

	(void)state;
	assert_true(bs__migrate_latest(bs__migrations) >= 4);
	assert_int_equal(bs__migrate(db, prefix(buf, bs__migrations, 3)),
			 BS_OK);
	assert_false(uses_opcode(db, "SELECT 1", "OpenEphemeral"));
	assert_true(uses_opcode(db, TICKET_INSERT, "OpenEphemeral"));
	add_ticket(db, T1, "客户投诉信用卡年费扣款");
	add_ticket(db, T2, "ATM swallowed the card");
	must(db, "UPDATE ticket SET risk_class = 'system_fault', priority = "
		 "'urgent', assignee = 's1', first_response_due_ms = 5000 "
		 "WHERE id = '" T2 "'");
	must(db, "DELETE FROM ticket WHERE id = '" T1 "'");
	add_ticket(db, T1, "客户投诉信用卡年费扣款");
	add_note(db, A1, T1, "Customer called back about the refund");
	text(db, row, before, sizeof(before));

	assert_int_equal(bs__migrate(db, bs__migrations), BS_OK);
	assert_true(version(db) >= 4);
	assert_false(uses_opcode(db, TICKET_INSERT, "OpenEphemeral"));
	assert_string_equal(text(db, row, after, sizeof(after)), before);
	for (i = 0; i < BS__ARRAY_LEN(indexes); i++)
		if (!has_object(db, "index", indexes[i]))
			fail_msg("index %s is missing", indexes[i]);
	assert_int_equal(num(db, "SELECT count(*) FROM ticket INDEXED BY "
				 "ticket_by_assignee WHERE assignee = 's1'"),
			 1);
	assert_int_equal(fts_count(db, "ticket", "年费扣款"), 1);
	assert_int_equal(fts_count(db, "activity", "called back"), 1);
	/* The triggers follow the rebuilt table. */
	must(db, "UPDATE ticket SET description = 'card kept by the ATM' "
		 "WHERE id = '" T1 "'");
	assert_int_equal(fts_count(db, "ticket", "年费扣款"), 0);
	assert_int_equal(fts_count(db, "ticket", "kept by"), 1);
	fts_consistent(db);
	/* The timeline still needs its ticket. */
	must(db, "BEGIN");
	add_note(db, A2, "01900000-0000-7000-8000-0000000000ff", "orphan");
	assert_int_equal(run(db, "COMMIT") & 0xff, SQLITE_CONSTRAINT);
	must(db, "ROLLBACK");
	assert_int_equal(num(db, "SELECT count(*) FROM pragma_integrity_check "
				 "WHERE integrity_check <> 'ok'"),
			 0);
	sqlite3_close(db);
}

static void test_migrate__enums_and_ids_are_checked(void **state)
{
	sqlite3 *db = open_latest();
	char sql[512];
	static const char *bad[] = {
		/* channel, priority, status, id, customer */
		"'fax', 'normal', 'received', '" T2 "', 'c1'",
		"'phone', 'asap', 'received', '" T2 "', 'c1'",
		"'phone', 'normal', 'lost', '" T2 "', 'c1'",
		/* uppercase, hyphen misplaced, too long, not a UUID */
		"'phone', 'normal', 'received', '01900000-0000-7000-8000-"
		"00000000000A', 'c1'",
		"'phone', 'normal', 'received', '019000000-000-7000-8000-"
		"000000000002', 'c1'",
		"'phone', 'normal', 'received', '" T2 "0', 'c1'",
		"'phone', 'normal', 'received', 't-2', 'c1'",
	};
	size_t i;

	(void)state;
	add_ticket(db, T1, "x");
	for (i = 0; i < BS__ARRAY_LEN(bad); i++) {
		snprintf(sql, sizeof(sql),
			 "INSERT INTO ticket (channel, priority, status, id, "
			 "customer_id, t0_ms, created_ms, updated_ms) VALUES "
			 "(%s, 1, 1, 1)",
			 bad[i]);
		refused(db, sql);
	}
	refused(db, "UPDATE ticket SET risk_class = 'weather'");
	refused(db, "UPDATE ticket SET t0_ms = 'yesterday'");
	refused(db, "UPDATE ticket SET local_dirty = 2");
	must(db, "UPDATE ticket SET risk_class = 'regulator_inquiry', "
		 "status = 'dispatched'");
	/* A ticket needs its customer by the end of the transaction. */
	must(db, "BEGIN");
	must(db, "UPDATE ticket SET customer_id = 'c9'");
	assert_int_equal(run(db, "COMMIT") & 0xff, SQLITE_CONSTRAINT);
	must(db, "ROLLBACK");
	/* Timeline entries name a known kind and carry a clock stamp. */
	refused(db, "INSERT INTO activity (id, ticket_id, kind, author, "
		    "device_time_ms, hlc) VALUES ('" A1 "', '" T1 "', "
		    "'gossip', 'x', 1, '" HLC "')");
	refused(db, "INSERT INTO activity (id, ticket_id, kind, author, "
		    "device_time_ms, hlc) VALUES ('" A1 "', '" T1 "', "
		    "'internal_note', 'x', 1, '0000018F00000000')");
	refused(db, "INSERT INTO activity (id, ticket_id, kind, author, "
		    "device_time_ms, hlc) VALUES ('" A1 "', '" T1 "', "
		    "'status_change', 'x', 1, '" HLC "')");
	refused(db, "INSERT INTO activity (id, ticket_id, kind, author, "
		    "device_time_ms, hlc) VALUES ('" A1 "', '" T1 "', "
		    "'attachment', 'x', 1, '" HLC "')");
	must(db, "INSERT INTO activity (id, ticket_id, kind, author, "
		 "device_time_ms, hlc, from_status, to_status) VALUES ('" A1
		 "', '" T1 "', 'status_change', 'x', 1, '" HLC "', "
		 "'dispatched', 'acknowledged')");
	refused(db, "INSERT INTO ticket_clock (ticket_id, field, hlc) "
		    "VALUES ('" T1 "', 'subject', 'soon')");
	must(db, "INSERT INTO ticket_clock (ticket_id, field, hlc, node) "
		 "VALUES ('" T1 "', 'subject', '" HLC "', 'dev1')");
	sqlite3_close(db);
}

static void test_migrate__outbox_numbers_and_forgets(void **state)
{
	sqlite3 *db = open_latest();
	char s[64];

	(void)state;
	must(db, "INSERT INTO outbox (device_id, entity, entity_id, op, "
		 "fields, sensitive, hlc, author, device_time_ms, created_ms) "
		 "VALUES ('dev1', 'customer', 'c1', 'create', "
		 "'{\"name_masked\":\"张*\"}', '{\"phone\":\"13812341234\"}', "
		 "'" HLC "', 'staff1', 1, 1)");
	must(db, "INSERT INTO outbox (device_id, entity, entity_id, "
		 "ticket_id, op, fields, hlc, base_version, author, "
		 "device_time_ms, created_ms) VALUES ('dev1', 'ticket', '" T1
		 "', '" T1 "', 'update', '{\"subject\":\"s\"}', '" HLC "', 3, "
		 "'staff1', 1, 1)");
	assert_string_equal(text(db, "SELECT group_concat(op_id, ' ') FROM "
				 "(SELECT op_id FROM outbox ORDER BY seq)",
				 s, sizeof(s)),
			    "dev1:1 dev1:2");
	/* op_id is derived: it cannot be written at all. */
	assert_int_not_equal(run(db, "UPDATE outbox SET op_id = 'dev1:9'"),
			     SQLITE_OK);
	refused(db, "UPDATE outbox SET fields = '{bad'");
	refused(db, "UPDATE outbox SET op = 'Update!'");

	/* Answered means the sensitive part is gone. */
	refused(db, "UPDATE outbox SET state = 'answered', result = 'applied' "
		    "WHERE seq = 1");
	refused(db, "UPDATE outbox SET state = 'answered', sensitive = NULL "
		    "WHERE seq = 1");
	must(db, "UPDATE outbox SET state = 'answered', result = 'applied', "
		 "sensitive = NULL, answer = '{}' WHERE seq = 1");

	/* A number is never handed out twice. */
	must(db, "DELETE FROM outbox");
	assert_string_equal(text(db, "INSERT INTO outbox (device_id, entity, "
				 "entity_id, op, hlc, author, device_time_ms, "
				 "created_ms) VALUES ('dev1', 'ticket', '" T1
				 "', 'transition', '" HLC "', 'staff1', 1, 1) "
				 "RETURNING op_id",
				 s, sizeof(s)),
			    "dev1:3");
	sqlite3_close(db);
}

static void test_migrate__conflicts_outlive_their_ticket(void **state)
{
	sqlite3 *db = open_latest();

	(void)state;
	add_ticket(db, T1, "x");
	must(db, "INSERT INTO ticket_clock (ticket_id, field, hlc) "
		 "VALUES ('" T1 "', 'description', '" HLC "')");
	must(db, "INSERT INTO conflict (ticket_id, op_id, field, mine, "
		 "theirs, reason, created_ms) VALUES ('" T1 "', 'dev1:4', "
		 "'description', '\"my text\"', '\"theirs\"', 'lww_lost', 1)");
	refused(db, "UPDATE conflict SET resolved_ms = 2");
	must(db, "DELETE FROM ticket");
	assert_int_equal(num(db, "SELECT count(*) FROM ticket_clock"), 0);
	assert_int_equal(num(db, "SELECT count(*) FROM conflict "
				 "WHERE resolved_ms IS NULL"),
			 1);
	must(db, "UPDATE conflict SET resolved_ms = 2, "
		 "resolution = 'kept_mine'");
	sqlite3_close(db);
}

/* What the CHECKs of versions 1 to 5 wrote in SQL for a UUID, a clock
 * and a hash, as a value x of one column. */
#define OLD_UUID                                                           \
	"length(x) = 36 AND substr(x, 9, 1) = '-' AND substr(x, 14, 1) = '-' " \
	"AND substr(x, 19, 1) = '-' AND substr(x, 24, 1) = '-' AND "      \
	"length(replace(x, '-', '')) = 32 AND x NOT GLOB '*[^0-9a-f-]*'"
#define OLD_HEX(n) "length(x) = " n " AND x NOT GLOB '*[^0-9a-f]*'"

/*
 * Version 6: bs_is_uuid() and bs_is_hex() accept and refuse exactly what
 * the SQL they replace did, NULL, numbers and bytes after a NUL included
 * (a BLOB never reaches them: the tables are STRICT); the rebuilt ticket and activity keep every row, index,
 * trigger and indexed text, and still refuse a malformed id.
 */
static void test_migrate__id_checks_same_as_before(void **state)
{
	static const char *values[] = {
		"NULL", "''", "1", "0.5", "1234567890123456",
		"'" T1 "'", "'" HLC "'",
		"'01900000-0000-7000-8000-00000000000A'",
		"'01900000-0000-7000-8000-00000000000g'",
		"'01900000-0000-7000-8000-0000000000001'",
		"'01900000-0000-7000-8000-00000000000'",
		"'019000000-000-7000-8000-000000000001'",
		"'01900000-0000-7000-8000-00000000000é'",
		"'0190000000007000800000000000000001--'",
		"'------------------------------------'",
		"CAST('" T1 "' || X'00' || 'zz' AS TEXT)",
		"CAST('" HLC "' || X'00' || 'zz' AS TEXT)",
		"CAST(X'00' || '" T1 "' AS TEXT)",
		"'0000018F00000000'", "'0000018f0000000'", "'0000018f000000000'",
		"'" HLC HLC HLC HLC "'", "'" HLC HLC HLC "000000000000000'",
		"'" HLC HLC HLC "00000000000000g'",
	};
	struct bs__embedded buf[1000];
	sqlite3 *db = open_mem();
	const char *row = "SELECT group_concat(quote(rid) || quote(id) || "
			  "quote(ticket_id) || quote(kind) || quote(body) || "
			  "quote(hlc) || quote(attachment_hash), '|') FROM "
			  "(SELECT * FROM activity ORDER BY rid)";
	char sql[600], before[600], after[600];
	size_t i;
	int agree;

	(void)state;
	for (i = 0; i < BS__ARRAY_LEN(values); i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT (SELECT " OLD_UUID ") IS bs_is_uuid(x) AND "
			 "(SELECT " OLD_HEX("16") ") IS bs_is_hex(x, 16) AND "
			 "(SELECT " OLD_HEX("64") ") IS bs_is_hex(x, 64) AND "
			 "(SELECT " OLD_HEX("0") ") IS bs_is_hex(x, 0) "
			 "FROM (SELECT %s AS x)",
			 values[i]);
		agree = (int)num(db, sql);
		if (agree != 1)
			fail_msg("old and new checks differ on %s", values[i]);
	}
	/* Both kinds of answer occur above. */
	assert_int_equal(num(db, "SELECT bs_is_uuid('" T1 "')"), 1);
	assert_int_equal(num(db, "SELECT bs_is_uuid('" HLC "')"), 0);
	assert_int_equal(num(db, "SELECT bs_is_hex('" HLC "', 16)"), 1);
	assert_int_equal(num(db, "SELECT bs_is_uuid(NULL) IS NULL"), 1);
	assert_int_equal(num(db, "SELECT bs_is_hex(CAST('" HLC "' AS BLOB), "
				 "16)"),
			 0);

	/* A version 5 store keeps its timeline through the rebuild. */
	assert_true(bs__migrate_latest(bs__migrations) >= 6);
	assert_int_equal(bs__migrate(db, prefix(buf, bs__migrations, 5)),
			 BS_OK);
	add_ticket(db, T1, "客户投诉信用卡年费扣款");
	add_note(db, A1, T1, "Customer called back about the refund");
	must(db, "INSERT INTO activity (id, ticket_id, kind, author, "
		 "device_time_ms, hlc, attachment_hash, attachment_name, "
		 "attachment_size) VALUES ('" A2 "', '" T1 "', 'attachment', "
		 "'staff1', 3000, '" HLC "', '" HLC HLC HLC HLC "', "
		 "'statement.pdf', 10)");
	text(db, row, before, sizeof(before));
	assert_int_equal(bs__migrate(db, bs__migrations), BS_OK);
	assert_true(version(db) >= 6);
	assert_string_equal(text(db, row, after, sizeof(after)), before);
	assert_true(has_object(db, "index", "activity_by_ticket"));
	assert_true(has_object(db, "trigger", "activity_no_insert_in_purge"));
	assert_int_equal(fts_count(db, "activity", "called back"), 1);
	assert_int_equal(fts_count(db, "activity", "statement"), 1);
	assert_int_equal(fts_count(db, "ticket", "年费扣款"), 1);
	fts_consistent(db);
	refused(db, "UPDATE activity SET body = 'rewritten'");
	refused(db, "INSERT INTO ticket (id, channel, status, t0_ms, "
		 "created_ms, updated_ms) VALUES ('01900000-0000-7000-8000-"
		 "00000000000A', 'phone', 'received', 1, 1, 1)");
	refused(db, "INSERT INTO activity (id, ticket_id, kind, author, "
		 "device_time_ms, hlc) VALUES ('01900000-0000-7000-8000-"
		 "0000000000a3', '" T1 "', 'internal_note', 'staff1', 1, "
		 "'0000018F00000000')");
	refused(db, "INSERT INTO activity (id, ticket_id, kind, author, "
		 "device_time_ms, hlc, attachment_hash, attachment_size) "
		 "VALUES ('01900000-0000-7000-8000-0000000000a4', '" T1 "', "
		 "'attachment', 'staff1', 1, '" HLC "', 'abc', 1)");
	add_note(db, "01900000-0000-7000-8000-0000000000a5", T1, "again");
	assert_int_equal(num(db, "SELECT count(*) FROM activity"), 3);
	sqlite3_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate__latest_counts_the_list),
		cmocka_unit_test(test_migrate__applies_in_order),
		cmocka_unit_test(test_migrate__twice_is_a_no_op),
		cmocka_unit_test(test_migrate__refuses_bad_names),
		cmocka_unit_test(test_migrate__refuses_gaps_and_disorder),
		cmocka_unit_test(test_migrate__failure_rolls_back),
		cmocka_unit_test(test_migrate__refuses_a_newer_store),
		cmocka_unit_test(test_migrate__refuses_an_open_transaction),
		cmocka_unit_test(
			test_migrate__refuses_a_migration_that_commits),
		cmocka_unit_test(test_migrate__checks_foreign_keys),
		cmocka_unit_test(test_migrate__reports_a_damaged_file),
		cmocka_unit_test(test_migrate__reports_a_busy_store),
		cmocka_unit_test(test_migrate__fresh_store_reaches_latest),
		cmocka_unit_test(test_migrate__states_match_the_state_machine),
		cmocka_unit_test(test_migrate__real_list_twice_is_a_no_op),
		cmocka_unit_test(test_migrate__upgrades_from_every_version),
		cmocka_unit_test(test_migrate__activity_refuses_update),
		cmocka_unit_test(test_migrate__activity_deletes_only_in_purge),
		cmocka_unit_test(test_migrate__audit_is_append_only),
		cmocka_unit_test(test_migrate__search_finds_chinese_in_tickets),
		cmocka_unit_test(test_migrate__search_finds_words_in_activity),
		cmocka_unit_test(test_migrate__search_short_queries_fall_back),
		cmocka_unit_test(test_migrate__enums_and_ids_are_checked),
		cmocka_unit_test(
			test_migrate__ticket_sets_are_checked_by_comparison),
		cmocka_unit_test(test_migrate__version_3_tickets_survive),
		cmocka_unit_test(test_migrate__id_checks_same_as_before),
		cmocka_unit_test(test_migrate__outbox_numbers_and_forgets),
		cmocka_unit_test(test_migrate__conflicts_outlive_their_ticket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
