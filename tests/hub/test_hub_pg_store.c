/*
 * test_hub_pg_store.c - the hub's PostgreSQL backend (hub/store_postgres.c)
 * on its own, below the protocol: values in and out, errors, migration
 * by hubs started together, the writer lock, read snapshots, a session
 * the server ended, and the property pull cursors rest on - a change
 * number becomes visible only after every lower one (protocol.md, "Why
 * the cursor never skips").
 *
 * The server is a throwaway one (tests/support/pg.h); each case makes a
 * database of its own.  Threads stand in for hub processes: each has its
 * own connection, as each process would, and only the main thread
 * asserts.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/core/common.h"
#include "hub/store.h"
#include "pg.h"
#include "testutil.h"

/* Text beyond ASCII, and a quote, through parameters and results. */
#define TEXT "我们已联系您 'quoted'"

static char url[512];

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A fresh database name, migrated: its store. */
static bs_hub_store *fresh(const char *name)
{
	bs_hub_store *s = NULL;
	int rc;

	assert_int_equal(tu_pg_createdb(url, sizeof(url), name), 0);
	rc = bs__hub_store_open(&s, url);
	if (rc != BS_OK)
		print_error("%s\n", bs_last_error());
	assert_int_equal(rc, BS_OK);
	assert_string_equal(bs__hub_store_backend(s), "postgres");
	return s;
}

/* The single integer sql gives, through psql. */
static long long psql_int(const char *db, const char *sql)
{
	char *out = tu_pg_sql(db, sql);
	long long v;

	assert_non_null(out);
	v = strtoll(out, NULL, 10);
	free(out);
	return v;
}

static int setup(void **st)
{
	(void)st;
	return tu_pg_start() == 0 ? 0 : -1;
}

static int teardown(void **st)
{
	(void)st;
	tu_pg_stop();
	return 0;
}

/* --- values --------------------------------------------------------- */

static void test_hub_pg_store__values(void **st)
{
	bs_hub_store *s = fresh("values");
	bs_hub_conn *c = NULL;
	struct bs_hub_res *r = NULL;
	int n = -1;

	(void)st;
	assert_int_equal(bs__hub_conn_get(&c, s), BS_OK);
	/* Text as given (UTF-8), 64-bit integers both ways, NULLs. */
	assert_int_equal(bs__hub_q(c, &r, NULL, "SELECT $1, $2, $3, $4, "
				   "$2 + 1, $5::text IS NULL", "tiint",
				   TEXT, (int64_t)INT64_MAX - 1, (int64_t)-42,
				   (int64_t)-1, (const char *)NULL),
			 BS_OK);
	assert_int_equal(r->nrows, 1);
	assert_int_equal(r->ncols, 6);
	assert_string_equal(bs__hub_text(r, 0, 0), TEXT);
	assert_true(bs__hub_int(r, 0, 1, 0) == INT64_MAX - 1);
	assert_true(bs__hub_int(r, 0, 2, 0) == -42);
	assert_null(bs__hub_text(r, 0, 3)); /* 'n' below zero: NULL */
	assert_true(bs__hub_int(r, 0, 4, 0) == INT64_MAX);
	assert_string_equal(bs__hub_text(r, 0, 5), "t");
	bs__hub_res_free(r);
	/* Rows touched, RETURNING, and a statement with no rows. */
	assert_int_equal(bs__hub_q(c, NULL, &n, "INSERT INTO catalogue (kind, "
				   "id, doc, seq) VALUES ('k', 'a', '{}', 1), "
				   "('k', 'b', '{}', 2), ('k', 'c', '{}', 3)",
				   ""), BS_OK);
	assert_int_equal(n, 3);
	assert_int_equal(bs__hub_q(c, &r, &n, "UPDATE catalogue SET seq = "
				   "seq + $1 WHERE kind = $2 AND seq >= $3 "
				   "RETURNING id", "iti",
				   (int64_t)10, "k", (int64_t)2), BS_OK);
	assert_int_equal(n, 2);
	assert_int_equal(r->nrows, 2);
	bs__hub_res_free(r);
	assert_int_equal(bs__hub_q(c, &r, NULL, "SELECT id FROM catalogue "
				   "WHERE kind = $1", "t", "none"), BS_OK);
	assert_int_equal(r->nrows, 0);
	assert_null(bs__hub_text(r, 0, 0));
	bs__hub_res_free(r);
	/* The counters a new database starts with. */
	assert_int_equal(bs__hub_q(c, &r, NULL, "SELECT name, value FROM "
				   "counter ORDER BY name", ""), BS_OK);
	assert_int_equal(r->nrows, 2);
	assert_string_equal(bs__hub_text(r, 0, 0), "change");
	assert_string_equal(bs__hub_text(r, 1, 0), "ref");
	assert_true(bs__hub_int(r, 0, 1, -1) == 0);
	bs__hub_res_free(r);
	bs__hub_conn_put(c);
	bs__hub_store_close(s);
}

/* --- errors --------------------------------------------------------- */

static void test_hub_pg_store__errors(void **st)
{
	bs_hub_store *s = fresh("errors");
	bs_hub_conn *c = NULL, *c2 = NULL;
	int64_t t0;

	(void)st;
	assert_int_equal(bs__hub_conn_get(&c, s), BS_OK);
	assert_int_equal(bs__hub_conn_get(&c2, s), BS_OK);
	/* A unique key: BS_EEXISTS, as on SQLite. */
	assert_int_equal(bs__hub_q(c, NULL, NULL, "INSERT INTO op (op_id, "
				   "device_id, result, answer, received_ms) "
				   "VALUES ('d:1', 'd', 'applied', '{}', 1)",
				   ""), BS_OK);
	assert_int_equal(bs__hub_q(c, NULL, NULL, "INSERT INTO op (op_id, "
				   "device_id, result, answer, received_ms) "
				   "VALUES ('d:1', 'd', 'applied', '{}', 2)",
				   ""), BS_EEXISTS);
	/* History and activity are append-only. */
	assert_int_equal(bs__hub_q(c, NULL, NULL, "INSERT INTO history "
				   "(ticket_id, n, action, author, "
				   "device_time_ms, hub_time_ms, body, "
				   "prev_hash, hash) VALUES ('t', 1, 'a', 'x', "
				   "1, 1, '{}', '', 'h')", ""), BS_OK);
	assert_int_equal(bs__hub_q(c, NULL, NULL, "UPDATE history SET body = "
				   "'{\"forged\":1}'", ""), BS_EEXISTS);
	assert_int_equal(bs__hub_q(c, NULL, NULL, "DELETE FROM history", ""),
			 BS_EEXISTS);
	assert_int_equal(bs__hub_q(c, NULL, NULL, "TRUNCATE history", ""),
			 BS_EEXISTS);
	/* Text that is no number where one is wanted. */
	assert_int_equal(bs__hub_q(c, NULL, NULL, "SELECT $1::bigint", "t",
				   "twelve"), BS_EINVAL);
	assert_int_equal(bs__hub_q(c, NULL, NULL, "SELEKT 1", ""), BS_ERR);
	/* A failed statement dooms its transaction: the commit fails and
	 * the statement before it is not kept. */
	assert_int_equal(bs__hub_begin(c, 1), BS_OK);
	assert_int_equal(bs__hub_q(c, NULL, NULL, "UPDATE counter SET value "
				   "= 77 WHERE name = 'ref'", ""), BS_OK);
	assert_int_equal(bs__hub_q(c, NULL, NULL, "INSERT INTO op (op_id, "
				   "device_id, result, answer, received_ms) "
				   "VALUES ('d:1', 'd', 'x', '{}', 3)", ""),
			 BS_EEXISTS);
	assert_int_not_equal(bs__hub_commit(c), BS_OK);
	assert_int_equal(psql_int("errors", "SELECT value FROM counter WHERE "
				  "name = 'ref'"), 0);
	/* A writer that waits past lock_timeout: BS_EBUSY. */
	assert_int_equal(bs__hub_begin(c, 1), BS_OK);
	assert_int_equal(bs__hub_q(c2, NULL, NULL, "SET lock_timeout = "
				   "'200ms'", ""), BS_OK);
	t0 = now_ms();
	assert_int_equal(bs__hub_begin(c2, 1), BS_EBUSY);
	assert_true(now_ms() - t0 >= 150);
	bs__hub_rollback(c);
	assert_int_equal(bs__hub_begin(c2, 1), BS_OK);
	bs__hub_rollback(c2);
	assert_int_equal(bs__hub_q(c2, NULL, NULL, "RESET lock_timeout", ""),
			 BS_OK);
	bs__hub_conn_put(c);
	bs__hub_conn_put(c2);
	bs__hub_store_close(s);
}

static void test_hub_pg_store__unreachable(void **st)
{
	bs_hub_store *s = NULL;

	(void)st;
	/* Port 1 on loopback: nothing listens there. */
	assert_int_equal(bs__hub_store_open(&s, "postgresql://postgres@"
					    "127.0.0.1:1/none"), BS_ENETWORK);
	assert_null(s);
	assert_non_null(strstr(bs_last_error(), "cannot connect"));
	assert_null(strchr(bs_last_error(), '\n'));
}

/* --- migration ------------------------------------------------------ */

#define OPENERS 6

struct opener {
	pthread_t t;
	pthread_barrier_t *go;
	int rc;
	char err[200];
};

static void *open_one(void *arg)
{
	struct opener *o = arg;
	bs_hub_store *s = NULL;

	pthread_barrier_wait(o->go);
	o->rc = bs__hub_store_open(&s, url);
	snprintf(o->err, sizeof(o->err), "%s", bs_last_error());
	bs__hub_store_close(s);
	return NULL;
}

/* Hubs started together on an empty database: the schema is made once,
 * every hub starts. */
static void test_hub_pg_store__migrate_together(void **st)
{
	struct opener o[OPENERS];
	pthread_barrier_t go;
	bs_hub_store *s = NULL;
	char *out;
	int i;

	(void)st;
	assert_int_equal(tu_pg_createdb(url, sizeof(url), "together"), 0);
	pthread_barrier_init(&go, NULL, OPENERS);
	for (i = 0; i < OPENERS; i++) {
		o[i].go = &go;
		assert_int_equal(pthread_create(&o[i].t, NULL, open_one, &o[i]),
				 0);
	}
	for (i = 0; i < OPENERS; i++) {
		pthread_join(o[i].t, NULL);
		if (o[i].rc != BS_OK)
			print_error("hub %d: %s\n", i, o[i].err);
		assert_int_equal(o[i].rc, BS_OK);
	}
	pthread_barrier_destroy(&go);
	out = tu_pg_sql("together", "SELECT value FROM hub_meta WHERE key = "
			"'schema_version'");
	assert_non_null(out);
	assert_string_equal(out, "1\n");
	free(out);
	assert_int_equal(psql_int("together", "SELECT count(*) FROM counter"),
			 2);
	/* A database from a newer hub is refused, not downgraded. */
	free(tu_pg_sql("together", "UPDATE hub_meta SET value = '99' WHERE "
		       "key = 'schema_version'"));
	assert_int_equal(bs__hub_store_open(&s, url), BS_EINVAL);
	assert_null(s);
	assert_non_null(strstr(bs_last_error(), "newer"));
}

/* --- transactions --------------------------------------------------- */

struct waiter {
	pthread_t t;
	bs_hub_conn *c;
	int raw;          /* 1: plain BEGIN, no writer lock */
	volatile int done;
	int rc;
	int64_t seq;
};

/* Begin, take a change number, record it in catalogue, commit. */
static void *take_number(void *arg)
{
	struct waiter *w = arg;
	char id[32];

	if (w->raw)
		w->rc = bs__hub_q(w->c, NULL, NULL, "BEGIN", "");
	else
		w->rc = bs__hub_begin(w->c, 1);
	if (w->rc == BS_OK)
		w->rc = bs__hub_next(w->c, "change", &w->seq);
	snprintf(id, sizeof(id), "%lld", (long long)w->seq);
	if (w->rc == BS_OK)
		w->rc = bs__hub_q(w->c, NULL, NULL, "INSERT INTO catalogue "
				  "(kind, id, doc, seq) VALUES ('n', $1, '{}', "
				  "$2)", "ti", id, w->seq);
	if (w->rc == BS_OK)
		w->rc = w->raw ? bs__hub_q(w->c, NULL, NULL, "COMMIT", "")
			       : bs__hub_commit(w->c);
	w->done = 1;
	return NULL;
}

/*
 * The change numbers of catalogue kind 'n' now visible to a reader of
 * its own, as text ending in a newline.  The reader is a connection of
 * the store, not psql: a test binary run under qemu-user must not fork
 * while a writer thread waits in libpq (a child forked then has been
 * seen to hang before it could exec).
 */
static char *visible(bs_hub_store *s)
{
	bs_hub_conn *c = NULL;
	struct bs_hub_res *r = NULL;
	char *out;
	size_t n;

	assert_int_equal(bs__hub_conn_get(&c, s), BS_OK);
	assert_int_equal(bs__hub_q(c, &r, NULL, "SELECT coalesce(string_agg("
				   "seq::text, ',' ORDER BY seq), '-') FROM "
				   "catalogue WHERE kind = 'n'", ""), BS_OK);
	assert_non_null(bs__hub_text(r, 0, 0));
	n = strlen(bs__hub_text(r, 0, 0));
	out = malloc(n + 2);
	assert_non_null(out);
	memcpy(out, bs__hub_text(r, 0, 0), n);
	memcpy(out + n, "\n", 2);
	bs__hub_res_free(r);
	bs__hub_conn_put(c);
	return out;
}

/*
 * Two writers, the first holding its change number uncommitted: the
 * second gets the next number only after the first committed, so no
 * reader ever sees N+1 without N.  Once through the store's write
 * transactions (the writer lock), once with plain READ COMMITTED
 * transactions, where the counter's row lock alone must do it.
 */
static void counter_case(bs_hub_store *s, const char *db, int raw)
{
	bs_hub_conn *a = NULL;
	struct waiter w;
	int64_t first = 0;
	char *seen, want[64];

	memset(&w, 0, sizeof(w));
	w.raw = raw;
	assert_int_equal(bs__hub_conn_get(&a, s), BS_OK);
	assert_int_equal(bs__hub_conn_get(&w.c, s), BS_OK);
	free(tu_pg_sql(db, "DELETE FROM catalogue WHERE kind = 'n'"));
	if (raw)
		assert_int_equal(bs__hub_q(a, NULL, NULL, "BEGIN", ""), BS_OK);
	else
		assert_int_equal(bs__hub_begin(a, 1), BS_OK);
	assert_int_equal(bs__hub_next(a, "change", &first), BS_OK);
	assert_int_equal(bs__hub_q(a, NULL, NULL, "INSERT INTO catalogue "
				   "(kind, id, doc, seq) VALUES ('n', 'first', "
				   "'{}', $1)", "i", first), BS_OK);
	assert_int_equal(pthread_create(&w.t, NULL, take_number, &w), 0);
	sleep_ms(300);
	assert_false(w.done);
	seen = visible(s);
	assert_string_equal(seen, "-\n");
	free(seen);
	if (raw)
		assert_int_equal(bs__hub_q(a, NULL, NULL, "COMMIT", ""), BS_OK);
	else
		assert_int_equal(bs__hub_commit(a), BS_OK);
	pthread_join(w.t, NULL);
	assert_int_equal(w.rc, BS_OK);
	assert_true(w.seq == first + 1);
	seen = visible(s);
	snprintf(want, sizeof(want), "%lld,%lld\n", (long long)first,
		 (long long)first + 1);
	assert_string_equal(seen, want);
	free(seen);
	bs__hub_conn_put(a);
	bs__hub_conn_put(w.c);
}

static void test_hub_pg_store__counter_orders_commits(void **st)
{
	bs_hub_store *s = fresh("counter");

	(void)st;
	counter_case(s, "counter", 0);
	counter_case(s, "counter", 1);
	bs__hub_store_close(s);
}

/*
 * What the counter row prevents, shown with a PostgreSQL sequence, the
 * obvious alternative: numbers are given at once, and a later number
 * commits while an earlier one is still in flight.  A reader then sees
 * N+1 without N, and a device whose cursor moved past N+1 never gets N.
 * This case checks that the test above can fail.
 */
static void test_hub_pg_store__sequence_would_skip(void **st)
{
	bs_hub_store *s = fresh("sequence");
	bs_hub_conn *a = NULL, *b = NULL;
	struct bs_hub_res *r = NULL;
	int64_t na, nb;
	char *seen, want[32];

	(void)st;
	assert_int_equal(bs__hub_conn_get(&a, s), BS_OK);
	assert_int_equal(bs__hub_conn_get(&b, s), BS_OK);
	assert_int_equal(bs__hub_q(a, NULL, NULL, "CREATE SEQUENCE change_seq",
				   ""), BS_OK);
	assert_int_equal(bs__hub_q(a, NULL, NULL, "BEGIN", ""), BS_OK);
	assert_int_equal(bs__hub_q(a, &r, NULL, "SELECT nextval('change_seq')",
				   ""), BS_OK);
	na = bs__hub_int(r, 0, 0, -1);
	bs__hub_res_free(r);
	assert_int_equal(bs__hub_q(a, NULL, NULL, "INSERT INTO catalogue "
				   "(kind, id, doc, seq) VALUES ('n', 'a', "
				   "'{}', $1)", "i", na), BS_OK);
	/* The second writer is not held back. */
	assert_int_equal(bs__hub_q(b, NULL, NULL, "BEGIN", ""), BS_OK);
	assert_int_equal(bs__hub_q(b, &r, NULL, "SELECT nextval('change_seq')",
				   ""), BS_OK);
	nb = bs__hub_int(r, 0, 0, -1);
	bs__hub_res_free(r);
	assert_int_equal(bs__hub_q(b, NULL, NULL, "INSERT INTO catalogue "
				   "(kind, id, doc, seq) VALUES ('n', 'b', "
				   "'{}', $1)", "i", nb), BS_OK);
	assert_int_equal(bs__hub_q(b, NULL, NULL, "COMMIT", ""), BS_OK);
	assert_true(nb == na + 1);
	seen = visible(s);
	snprintf(want, sizeof(want), "%lld\n", (long long)nb);
	assert_string_equal(seen, want); /* the gap */
	free(seen);
	assert_int_equal(bs__hub_q(a, NULL, NULL, "COMMIT", ""), BS_OK);
	bs__hub_conn_put(a);
	bs__hub_conn_put(b);
	bs__hub_store_close(s);
}

/* --- many writers, one reader --------------------------------------- */

#define WRITERS 4
#define ROUNDS 120

struct writer {
	pthread_t t;
	bs_hub_store *s;
	int id, raw, rc, committed;
	char err[200];
};

/*
 * ROUNDS transactions: a change number, a row with it, a pause of up to
 * 2 ms with both held, then a commit, or (one in seven) a rollback, which
 * gives the number back.
 */
static void *write_many(void *arg)
{
	struct writer *w = arg;
	bs_hub_conn *c = NULL;
	unsigned seed = (unsigned)w->id * 7919u + 1;
	char id[48];
	int i;

	if ((w->rc = bs__hub_conn_get(&c, w->s)) != BS_OK)
		goto out;
	for (i = 0; i < ROUNDS && w->rc == BS_OK; i++) {
		int64_t seq = 0;
		int undo = rand_r(&seed) % 7 == 0;

		w->rc = w->raw ? bs__hub_q(c, NULL, NULL, "BEGIN", "")
			       : bs__hub_begin(c, 1);
		if (w->rc == BS_OK)
			w->rc = bs__hub_next(c, "change", &seq);
		snprintf(id, sizeof(id), "w%d-%d", w->id, i);
		if (w->rc == BS_OK)
			w->rc = bs__hub_q(c, NULL, NULL, "INSERT INTO "
					  "catalogue (kind, id, doc, seq) "
					  "VALUES ('m', $1, '{}', $2)", "ti",
					  id, seq);
		if (w->rc != BS_OK)
			break;
		usleep((useconds_t)(rand_r(&seed) % 2000));
		if (undo && w->raw) {
			w->rc = bs__hub_q(c, NULL, NULL, "ROLLBACK", "");
			continue;
		}
		if (undo) {
			bs__hub_rollback(c);
			continue;
		}
		w->rc = w->raw ? bs__hub_q(c, NULL, NULL, "COMMIT", "")
			       : bs__hub_commit(c);
		if (w->rc == BS_OK)
			w->committed++;
	}
out:
	if (w->rc != BS_OK)
		snprintf(w->err, sizeof(w->err), "%s", bs_last_error());
	bs__hub_conn_put(c);
	return NULL;
}

struct reader {
	pthread_t t;
	bs_hub_store *s;
	volatile int stop;
	int rc, pages;
	int64_t cursor, gap_at;
	char err[200];
};

/*
 * A device pulling all the while: pages of the numbers after its
 * cursor, each in a read transaction, as the hub's pull does.  Every
 * number taken was committed or given back, so what it sees must be
 * cursor+1, cursor+2, ... without a hole: a hole is a change it would
 * skip for ever.
 */
static void *read_all(void *arg)
{
	struct reader *r = arg;
	bs_hub_conn *c = NULL;
	int last_round = 0;

	if ((r->rc = bs__hub_conn_get(&c, r->s)) != BS_OK)
		goto out;
	while (r->rc == BS_OK && !last_round) {
		struct bs_hub_res *res = NULL;
		int i;

		last_round = r->stop;
		if ((r->rc = bs__hub_begin(c, 0)) != BS_OK)
			break;
		r->rc = bs__hub_q(c, &res, NULL, "SELECT seq FROM catalogue "
				  "WHERE kind = 'm' AND seq > $1 ORDER BY seq "
				  "LIMIT 25", "i", r->cursor);
		bs__hub_rollback(c);
		for (i = 0; r->rc == BS_OK && i < res->nrows; i++) {
			int64_t seq = bs__hub_int(res, i, 0, -1);

			if (seq != r->cursor + 1 && r->gap_at == 0)
				r->gap_at = r->cursor + 1;
			r->cursor = seq;
		}
		if (res != NULL && res->nrows == 25)
			last_round = 0;
		r->pages++;
		bs__hub_res_free(res);
	}
out:
	if (r->rc != BS_OK)
		snprintf(r->err, sizeof(r->err), "%s", bs_last_error());
	bs__hub_conn_put(c);
	return NULL;
}

static void test_hub_pg_store__cursor_never_skips(void **st)
{
	bs_hub_store *s = fresh("cursor");
	struct writer w[WRITERS];
	struct reader r;
	int i, total = 0;

	(void)st;
	memset(&r, 0, sizeof(r));
	r.s = s;
	assert_int_equal(pthread_create(&r.t, NULL, read_all, &r), 0);
	for (i = 0; i < WRITERS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = s;
		w[i].id = i;
		/* Half through the store's write transactions, half with
		 * plain ones that only the counter's row lock orders. */
		w[i].raw = i % 2;
		assert_int_equal(pthread_create(&w[i].t, NULL, write_many,
						&w[i]), 0);
	}
	for (i = 0; i < WRITERS; i++) {
		pthread_join(w[i].t, NULL);
		if (w[i].rc != BS_OK)
			print_error("writer %d: %s\n", i, w[i].err);
		assert_int_equal(w[i].rc, BS_OK);
		total += w[i].committed;
	}
	r.stop = 1;
	pthread_join(r.t, NULL);
	if (r.rc != BS_OK)
		print_error("reader: %s\n", r.err);
	assert_int_equal(r.rc, BS_OK);
	print_message("  %d commits, read in %d pages\n", total, r.pages);
	if (r.gap_at != 0)
		print_error("the reader skipped change %lld\n",
			    (long long)r.gap_at);
	assert_true(r.gap_at == 0);
	assert_true(total > WRITERS * ROUNDS / 2);
	assert_true(r.cursor == total);
	assert_int_equal(psql_int("cursor", "SELECT count(*) FROM catalogue "
				  "WHERE kind = 'm'"), total);
	assert_int_equal(psql_int("cursor", "SELECT value FROM counter WHERE "
				  "name = 'change'"), total);
	bs__hub_store_close(s);
}

/* --- reads and sessions --------------------------------------------- */

/* A read transaction sees one snapshot, and cannot write. */
static void test_hub_pg_store__read_snapshot(void **st)
{
	bs_hub_store *s = fresh("snapshot");
	bs_hub_conn *rd = NULL, *wr = NULL;
	struct bs_hub_res *r = NULL;

	(void)st;
	assert_int_equal(bs__hub_conn_get(&rd, s), BS_OK);
	assert_int_equal(bs__hub_conn_get(&wr, s), BS_OK);
	assert_int_equal(bs__hub_begin(rd, 0), BS_OK);
	assert_int_equal(bs__hub_q(rd, &r, NULL, "SELECT count(*) FROM "
				   "catalogue", ""), BS_OK);
	assert_true(bs__hub_int(r, 0, 0, -1) == 0);
	bs__hub_res_free(r);
	assert_int_equal(bs__hub_begin(wr, 1), BS_OK);
	assert_int_equal(bs__hub_q(wr, NULL, NULL, "INSERT INTO catalogue "
				   "(kind, id, doc) VALUES ('x', 'y', '{}')",
				   ""), BS_OK);
	assert_int_equal(bs__hub_commit(wr), BS_OK);
	assert_int_equal(bs__hub_q(rd, &r, NULL, "SELECT count(*) FROM "
				   "catalogue", ""), BS_OK);
	assert_true(bs__hub_int(r, 0, 0, -1) == 0);
	bs__hub_res_free(r);
	assert_int_not_equal(bs__hub_q(rd, NULL, NULL, "DELETE FROM catalogue",
				       ""), BS_OK);
	bs__hub_rollback(rd);
	assert_int_equal(bs__hub_begin(rd, 0), BS_OK);
	assert_int_equal(bs__hub_q(rd, &r, NULL, "SELECT count(*) FROM "
				   "catalogue", ""), BS_OK);
	assert_true(bs__hub_int(r, 0, 0, -1) == 1);
	bs__hub_res_free(r);
	bs__hub_rollback(rd);
	bs__hub_conn_put(rd);
	bs__hub_conn_put(wr);
	bs__hub_store_close(s);
}

/* A pooled connection whose session the server ended is replaced at
 * the next transaction. */
static void test_hub_pg_store__session_ended(void **st)
{
	bs_hub_store *s = fresh("ended");
	bs_hub_conn *c = NULL;
	struct bs_hub_res *r = NULL;
	char sql[128], *out;
	int64_t pid, pid2;

	(void)st;
	assert_int_equal(bs__hub_conn_get(&c, s), BS_OK);
	assert_int_equal(bs__hub_q(c, &r, NULL, "SELECT pg_backend_pid()", ""),
			 BS_OK);
	pid = bs__hub_int(r, 0, 0, -1);
	bs__hub_res_free(r);
	bs__hub_conn_put(c);
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)",
		 (long long)pid);
	out = tu_pg_sql("ended", sql);
	assert_non_null(out);
	assert_string_equal(out, "t\n");
	free(out);
	sleep_ms(100);
	assert_int_equal(bs__hub_conn_get(&c, s), BS_OK);
	assert_int_equal(bs__hub_begin(c, 1), BS_OK);
	assert_int_equal(bs__hub_q(c, &r, NULL, "SELECT pg_backend_pid()", ""),
			 BS_OK);
	pid2 = bs__hub_int(r, 0, 0, -1);
	bs__hub_res_free(r);
	assert_true(pid2 > 0 && pid2 != pid);
	assert_int_equal(bs__hub_commit(c), BS_OK);
	bs__hub_conn_put(c);
	bs__hub_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hub_pg_store__values),
		cmocka_unit_test(test_hub_pg_store__errors),
		cmocka_unit_test(test_hub_pg_store__unreachable),
		cmocka_unit_test(test_hub_pg_store__migrate_together),
		cmocka_unit_test(test_hub_pg_store__counter_orders_commits),
		cmocka_unit_test(test_hub_pg_store__sequence_would_skip),
		cmocka_unit_test(test_hub_pg_store__cursor_never_skips),
		cmocka_unit_test(test_hub_pg_store__read_snapshot),
		cmocka_unit_test(test_hub_pg_store__session_ended),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
