/*
 * test_crash.c - the store under crashes: processes killed with SIGKILL
 * at random moments while writing, rewrapping or rotating keys; WAL
 * recovery without the -shm file; hot rollback journals in each journal
 * mode; two processes writing at once; a disk that fills up.  After each,
 * the store opens, passes integrity_check, and holds every transaction
 * that was reported committed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmrf(root);
	return 0;
}

/* Reported numbers read from fd until EOF, into out; returns the count. */
static int drain(int fd, long *out, int cap)
{
	int n = 0;
	long v;

	while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		if (n < cap)
			out[n++] = v;
	return n;
}

static void kill_and_reap(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void check_store(bs_store *st)
{
	if (bs_store_check(st) != BS_OK)
		fail_msg("check: %s", bs_last_error());
}

static void test_crash__kill9_while_writing(void **state)
{
	static long done[100000];
	bs_store *st = tu_create(dir, 0);
	long total = 0;
	int round;

	(void)state;
	tu_exec(st, "CREATE TABLE w(id INTEGER PRIMARY KEY, body TEXT)");
	bs_store_close(st);
	for (round = 0; round < 25; round++) {
		int p[2];
		pid_t pid;
		int n, i;
		char sql[200];

		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			bs_store *c;
			long id;
			close(p[0]);
			c = tu_open(dir);
			for (id = round * 100000L + 1;; id++) {
				snprintf(sql, sizeof(sql),
					 "INSERT INTO w VALUES (%ld, hex("
					 "randomblob(%ld)))",
					 id, 50 + id % 3000);
				if (sqlite3_exec(bs_store_db(c), sql, 0, 0,
						 0) != SQLITE_OK)
					_exit(3);
				/* Committed: now say so. */
				if (write(p[1], &id, sizeof(id)) < 0)
					_exit(4);
			}
		}
		close(p[1]);
		/* Once the child is writing (its first commit reported, however
		 * slow its start, as under qemu), kill it at a random moment. */
		assert_int_equal(read(p[0], &done[0], sizeof(long)),
				 (ssize_t)sizeof(long));
		usleep((useconds_t)(rand() % 40000));
		kill_and_reap(pid);
		n = 1 + drain(p[0], done + 1, 100000 - 1);
		total += n;
		close(p[0]);
		if (round % 2 == 0) /* sometimes also lose the wal-index */
			unlink(tu_path(dir, "store-1.db-shm"));
		st = tu_open(dir);
		check_store(st);
		for (i = 0; i < n; i++) {
			snprintf(sql, sizeof(sql),
				 "SELECT count(*) FROM w WHERE id=%ld", done[i]);
			if (tu_int(st, sql) != 1)
				fail_msg("round %d: committed row %ld lost",
					 round, done[i]);
		}
		bs_store_close(st);
	}
	/* The children did commit work before they were killed. */
	assert_true(total >= 25);
}

static void test_crash__wal_recovery_without_shm(void **state)
{
	const char *names[] = { "keys", "store-1.db", "store-1.db-wal" };
	char copy[700];
	bs_store *st = tu_create(dir, 0);
	unsigned i;
	int k;

	(void)state;
	snprintf(copy, sizeof(copy), "%s/copy", root);
	tu_exec(st, "PRAGMA wal_autocheckpoint=0");
	tu_exec(st, "CREATE TABLE w(id INTEGER PRIMARY KEY, body TEXT)");
	for (k = 0; k < 200; k++)
		tu_exec(st, "INSERT INTO w(body) VALUES (hex(randomblob(300)))");
	/* The files as a power cut would leave them: no -shm. */
	mkdir(copy, 0700);
	for (i = 0; i < 3; i++) {
		char dst[800];
		snprintf(dst, sizeof(dst), "%s/%s", copy, names[i]);
		assert_true(tu_copy(tu_path(dir, names[i]), dst));
	}
	bs_store_close(st);
	{
		bs_key key = tu_pin("s1", TEST_PIN);
		bs__vfs_stats stats;

		assert_int_equal(bs_store_open(&st, copy, &key), BS_OK);
		assert_int_equal(tu_int(st, "SELECT count(*) FROM w"), 200);
		bs__vfs_stats_get(bs__store_vfs(st), &stats);
		assert_int_equal(stats.lenient_failures, 0);
		check_store(st);
		bs_store_close(st);
	}
}

/* A child that dies in the middle of a big transaction in journal mode
 * mode, after some of its pages have already reached the database. */
static void hot_journal(const char *mode)
{
	char sql[200];
	bs_store *st = tu_create(dir, 0);
	long before;
	pid_t pid;
	int status;

	tu_exec(st, "CREATE TABLE w(id INTEGER PRIMARY KEY, body TEXT)");
	tu_exec(st, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 "
		    "FROM c WHERE i<3000) INSERT INTO w(body) SELECT "
		    "'original ' || i FROM c");
	before = tu_int(st, "SELECT sum(length(body)) FROM w");
	bs_store_close(st);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		bs_store *c = tu_open(dir);
		snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", mode);
		if (sqlite3_exec(bs_store_db(c), sql, 0, 0, 0) != SQLITE_OK ||
		    sqlite3_exec(bs_store_db(c),
				 "PRAGMA cache_size=5; BEGIN; UPDATE w SET "
				 "body = 'changed ' || hex(randomblob(20));",
				 0, 0, 0) != SQLITE_OK)
			_exit(3);
		raise(SIGKILL);
		_exit(4);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	/* The journal is there, and hot. */
	assert_true(access(tu_path(dir, "store-1.db-journal"), F_OK) == 0);
	st = tu_open(dir);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM w WHERE body LIKE "
				    "'changed%'"),
			 0);
	assert_int_equal(tu_int(st, "SELECT sum(length(body)) FROM w"), before);
	check_store(st);
	bs_store_close(st);
}

static void test_crash__hot_journal_delete(void **state)
{
	(void)state;
	hot_journal("DELETE");
}

static void test_crash__hot_journal_truncate(void **state)
{
	(void)state;
	hot_journal("TRUNCATE");
}

static void test_crash__hot_journal_persist(void **state)
{
	(void)state;
	hot_journal("PERSIST");
}

static void test_crash__kill9_while_changing_pin(void **state)
{
	static const char *pins[2] = { "pin-even", "pin-odd" };
	bs_store *st = tu_create(dir, 0);
	int round;

	(void)state;
	tu_exec(st, "CREATE TABLE w(v)");
	tu_exec(st, "INSERT INTO w VALUES ('kept')");
	assert_int_equal(bs_store_change_pin(st, pins[0], strlen(pins[0]),
					     TEST_KDF_MS),
			 BS_OK);
	bs_store_close(st);
	for (round = 0; round < 20; round++) {
		bs_key k0 = tu_pin("s1", pins[0]);
		bs_key k1 = tu_pin("s1", pins[1]);
		pid_t pid = fork();
		int opened = 0;

		assert_true(pid >= 0);
		if (pid == 0) {
			bs_store *c = NULL;
			int i;
			if (bs_store_open(&c, dir, &k0) != BS_OK &&
			    bs_store_open(&c, dir, &k1) != BS_OK)
				_exit(3);
			for (i = 0;; i++)
				if (bs_store_change_pin(c, pins[i % 2],
							strlen(pins[i % 2]),
							TEST_KDF_MS) != BS_OK)
					_exit(4);
		}
		usleep((useconds_t)(rand() % 20000));
		kill_and_reap(pid);
		if (bs_store_open(&st, dir, &k0) == BS_OK)
			opened = 1;
		else if (bs_store_open(&st, dir, &k1) == BS_OK)
			opened = 1;
		if (!opened)
			fail_msg("round %d: neither PIN opens: %s", round,
				 bs_last_error());
		assert_int_equal(tu_int(st, "SELECT count(*) FROM w"), 1);
		bs_store_close(st);
	}
}

static void test_crash__kill9_while_rotating(void **state)
{
	bs_store *st = tu_create(dir, 1);
	long reported = 0;
	int round;

	(void)state;
	tu_exec(st, "CREATE TABLE w(id INTEGER PRIMARY KEY, body TEXT)");
	tu_exec(st, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 "
		    "FROM c WHERE i<2000) INSERT INTO w(body) SELECT "
		    "hex(randomblob(100)) FROM c");
	bs_store_close(st);
	for (round = 0; round < 15; round++) {
		bs_key k = tu_pin("s1", TEST_PIN);
		bs_key dev = { BS_KEY_DEVICE, NULL, NULL, 0 };
		long done[64];
		int p[2];
		pid_t pid;

		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			bs_store *c = NULL;
			long n;
			close(p[0]);
			if (bs_store_open(&c, dir, &k) != BS_OK)
				_exit(3);
			for (n = 1;; n++) {
				if (bs_store_rekey(c, &k, NULL) != BS_OK)
					_exit(4);
				if (write(p[1], &n, sizeof(n)) < 0)
					_exit(5);
			}
		}
		close(p[1]);
		/* The first round lets one rotation finish, so the test
		 * always sees the swap happen; the others kill blindly. */
		if (round == 0)
			assert_int_equal(read(p[0], &done[0], sizeof(long)),
					 (ssize_t)sizeof(long));
		usleep((useconds_t)(rand() % 60000));
		kill_and_reap(pid);
		reported += (round == 0) + drain(p[0], done, 64);
		close(p[0]);
		st = tu_open(dir);
		assert_int_equal(tu_int(st, "SELECT count(*) FROM w"), 2000);
		check_store(st);
		/* Every rotation that said it finished is in effect. */
		assert_true((long)bs_store_epoch(st) >= 1 + reported);
		bs_store_close(st);
		/* The device slot was carried across every rotation. */
		assert_int_equal(bs_store_open(&st, dir, &dev), BS_OK);
		bs_store_close(st);
	}
	assert_true(reported >= 1);
	/* No file of an abandoned epoch stays behind after an open. */
	st = tu_open(dir);
	{
		char name[64];
		unsigned e;
		int others = 0;

		for (e = 1; e < bs_store_epoch(st); e++) {
			snprintf(name, sizeof(name), "store-%u.db", e);
			others += access(tu_path(dir, name), F_OK) == 0;
		}
		assert_int_equal(others, 0);
	}
	bs_store_close(st);
}

static void test_crash__two_processes_in_wal(void **state)
{
	bs_store *st = tu_create(dir, 0);
	pid_t pids[2];
	int i, status;

	(void)state;
	tu_exec(st, "CREATE TABLE w(id INTEGER PRIMARY KEY, who INTEGER)");
	for (i = 0; i < 2; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			bs_store *c = tu_open(dir);
			char sql[100];
			int k;
			snprintf(sql, sizeof(sql),
				 "INSERT INTO w(who) VALUES (%d)", i);
			for (k = 0; k < 300; k++)
				if (sqlite3_exec(bs_store_db(c), sql, 0, 0,
						 0) != SQLITE_OK)
					_exit(3);
			bs_store_close(c);
			_exit(0);
		}
	}
	/* The parent reads all the while. */
	for (i = 0; i < 50; i++)
		(void)tu_int(st, "SELECT count(*) FROM w");
	for (i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(tu_int(st, "SELECT count(*) FROM w WHERE who=0"), 300);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM w WHERE who=1"), 300);
	check_store(st);
	bs_store_close(st);
}

static void test_crash__disk_full(void **state)
{
	bs_store *st = tu_create(dir, 0);
	long committed = 0;
	int n, failures = 0;

	(void)state;
	tu_exec(st, "CREATE TABLE w(id INTEGER PRIMARY KEY, body TEXT)");
	for (n = 1; n <= 40; n++) {
		int rc;

		bs__vfs_fail_write_after(n);
		rc = sqlite3_exec(bs_store_db(st),
				  "INSERT INTO w(body) SELECT hex(randomblob("
				  "3000)) FROM (SELECT 1 UNION ALL SELECT 2 "
				  "UNION ALL SELECT 3)",
				  0, 0, 0);
		bs__vfs_fail_write_after(0);
		if (rc == SQLITE_OK) {
			committed += 3;
		} else {
			failures++;
			assert_int_equal(bs__store_error(st, rc, "insert"),
					 BS_EIO);
			assert_non_null(strstr(bs_last_error(), "disk is full"));
		}
		assert_int_equal(tu_int(st, "SELECT count(*) FROM w"),
				 committed);
	}
	assert_true(failures > 0);
	assert_true(committed > 0);
	bs_store_close(st);
	st = tu_open(dir);
	assert_int_equal(tu_int(st, "SELECT count(*) FROM w"), committed);
	check_store(st);
	bs_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_crash__kill9_while_writing, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_crash__wal_recovery_without_shm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash__hot_journal_delete,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_crash__hot_journal_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash__hot_journal_persist,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_crash__kill9_while_changing_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_crash__kill9_while_rotating, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_crash__two_processes_in_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash__disk_full, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
