/*
 * store.h - the hub's database seam: one interface, two backends
 * (store_sqlite.c, the embedded default; PostgreSQL through libpq).
 *
 * The interface is deliberately low: connections, transactions, and
 * statements with numbered parameters ($1, $2, ...) whose results come
 * back as text cells.  All of the hub's logic (enrollment, merge,
 * history, pull) is written once above it, in SQL that both backends
 * accept, so the two cannot drift apart.  What genuinely differs sits in
 * the vtable: how a write transaction starts (SQLite: BEGIN IMMEDIATE,
 * which takes the single writer lock at once; PostgreSQL: BEGIN, then
 * row locks), schema migration, and connection set-up.
 *
 * A bs_hub_store is a pool of connections shared by the server's
 * threads; a connection is used by one thread at a time.  Every function
 * returns BS_OK or a negative bs_error code with a one-line message.
 * BS_EBUSY means the database stayed locked past the busy timeout.
 */
#ifndef BS_HUB_STORE_H
#define BS_HUB_STORE_H

#include <stddef.h>
#include <stdint.h>

/* A result: nrows x ncols cells of text; NULL for SQL NULL. */
struct bs_hub_res {
	int nrows;
	int ncols;
	char **cells; /* row-major */
};

/* A statement parameter. */
struct bs_hub_val {
	int is_int;      /* 1: i, 0: s (NULL s is SQL NULL) */
	int64_t i;
	const char *s;
};

/* What a backend implements.  conn is the backend's own handle. */
struct bs_hub_store_ops {
	const char *name; /* "sqlite", "postgres" */

	/* Open one connection to where (a file path, a conninfo URL). */
	int (*open)(void **conn, const char *where);
	void (*close)(void *conn);

	/* Bring the schema up to date; safe to call from several
	 * processes at once. */
	int (*migrate)(void *conn);

	/* mode: BS_HUB_READ, BS_HUB_WRITE (take the writer lock
	 * early, where that avoids deadlocks) or BS_HUB_LIGHT. */
	int (*begin)(void *conn, int mode);
	int (*commit)(void *conn);
	void (*rollback)(void *conn);

	/*
	 * Run sql with n parameters; *res (may be NULL when no rows are
	 * wanted) receives the rows.  *changes (may be NULL) receives the
	 * number of rows an INSERT/UPDATE/DELETE touched.  A constraint
	 * violation is BS_EEXISTS.
	 */
	int (*query)(void *conn, struct bs_hub_res **res, int *changes,
		     const char *sql, const struct bs_hub_val *params, int n);
};

extern const struct bs_hub_store_ops bs__hub_sqlite_ops;

/* The PostgreSQL backend, or NULL in a build without it. */
const struct bs_hub_store_ops *bs__hub_postgres_ops_get(void);

typedef struct bs_hub_store bs_hub_store;
typedef struct bs_hub_conn bs_hub_conn;

/*
 * Open the store named by where: "postgresql://..." or "postgres://..."
 * picks PostgreSQL, anything else is a SQLite file path.  Migrates the
 * schema.  The caller owns *out (bs__hub_store_close).
 */
int bs__hub_store_open(bs_hub_store **out, const char *where);
void bs__hub_store_close(bs_hub_store *s);
const char *bs__hub_store_backend(const bs_hub_store *s);

/* Borrow a connection from the pool and give it back. */
int bs__hub_conn_get(bs_hub_conn **out, bs_hub_store *s);
void bs__hub_conn_put(bs_hub_conn *c);

/*
 * Transactions.  BS_HUB_WRITE commits durably and serializes with every
 * other writer (the change counter needs it).  BS_HUB_LIGHT is for
 * writes whose loss in a crash harms nobody (nonces, last seen): it
 * commits without waiting for the disk, and on PostgreSQL it does not
 * queue behind the writer lock; it must not take a change number.
 */
#define BS_HUB_READ 0
#define BS_HUB_WRITE 1
#define BS_HUB_LIGHT 2

int bs__hub_begin(bs_hub_conn *c, int mode);
int bs__hub_commit(bs_hub_conn *c);
/* Roll back if a transaction is open.  Cannot fail. */
void bs__hub_rollback(bs_hub_conn *c);

/*
 * A savepoint inside the open transaction: set it, then either keep
 * what followed (release) or undo it (undo, which also releases it).
 * After a failed statement PostgreSQL accepts nothing but undo.
 */
int bs__hub_savepoint(bs_hub_conn *c);
int bs__hub_release(bs_hub_conn *c);
int bs__hub_undo(bs_hub_conn *c);

/*
 * Group commit: run fn(c, arg) in a write transaction that other
 * callers' functions may share, each inside a savepoint of its own, and
 * return when the transaction is durably committed: fn's result, or
 * the transaction's failure (then nothing of fn is kept).  Concurrent
 * writers then share one disk flush.  fn must not begin, commit or roll
 * back, nor call bs__hub_write; a failing fn leaves nothing behind.
 * The last error is the thread's own only on failure.
 */
int bs__hub_write(bs_hub_store *s, int (*fn)(bs_hub_conn *c, void *arg),
		  void *arg);

/*
 * Run sql with parameters described by types, one character each:
 * 't' a const char * (NULL is SQL NULL), 'i' an int64_t, 'n' an int64_t
 * that is SQL NULL when negative.  res and changes as in the vtable.
 */
int bs__hub_q(bs_hub_conn *c, struct bs_hub_res **res, int *changes,
	      const char *sql, const char *types, ...);

void bs__hub_res_free(struct bs_hub_res *r);

/* Cell (row, col): text, NULL for SQL NULL or out of range. */
const char *bs__hub_text(const struct bs_hub_res *r, int row, int col);

/* Cell as an integer; dflt for NULL, out of range or not a number. */
int64_t bs__hub_int(const struct bs_hub_res *r, int row, int col,
		    int64_t dflt);

/*
 * The next number of counter name ('change', 'ref'), inside the open
 * write transaction.  The row lock it takes is held to commit, so
 * numbers become visible in the order they were given: protocol.md,
 * "Why the cursor never skips".
 */
int bs__hub_next(bs_hub_conn *c, const char *name, int64_t *out);

#endif
