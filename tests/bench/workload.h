/*
 * workload.h - the store benchmark's workload, the same for every engine.
 *
 * One source, compiled twice: against Debian's SQLite for the plain and
 * branchsync engines (bench_store.c), and against SQLCipher's headers for
 * the peer (peer_sqlcipher.c).  The two libraries export the same
 * symbols, so they cannot share a process: each engine runs in a child
 * process that the driver (bench_store.c) steers through a pipe.
 *
 * The driver sends one command a line; the child runs it and answers
 * with result lines and "ok" (or "error", after which it exits):
 *
 *   import        the next transaction of the import (500 tickets)
 *   import_end    the checkpoint that ends the import
 *   replies N     N single-reply transactions
 *   warm          the warm-up before the reads (nothing printed)
 *   reads         one pass of point reads
 *   fts           one pass of the full-text searches
 *   quit          close (answered with "bye")
 *
 * Result lines:
 *
 *   info KEY VALUE...
 *   phase NAME NS SEALED OPENED CRYPTO_NS COUNT HITS FRAMES CKPTS CKPT_NS
 *         CKPT_SEALED CKPT_OPENED CKPT_CRYPTO_NS   (on one line)
 *
 * NS is the wall time of the step; SEALED, OPENED and CRYPTO_NS are the
 * engine's page-cipher counters over it (-1 when it keeps none); COUNT
 * is how many rows it wrote or read, HITS a checksum of them, so the
 * driver can see that every engine gave the same answers; FRAMES the WAL
 * frames written; CKPTS the checkpoints run, CKPT_NS their time and the
 * CKPT_ counters the page-cipher work inside them.
 *
 * Because the driver hands out the steps in turns, engine after engine,
 * a burst of load from elsewhere on the machine falls on all of them
 * alike rather than on whichever engine happened to be running.
 *
 * The schema uses only what all three engines have: SQLCipher 3.4.1 is
 * built on SQLite 3.15.2, which has no FTS5, no STRICT tables and no JSON
 * functions.  Full-text search is therefore FTS4 everywhere.
 */
#ifndef BS_BENCH_WORKLOAD_H
#define BS_BENCH_WORKLOAD_H

#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

/* Sizes of the workload (the figures). */
#define WL_TICKETS 10000
#define WL_TICKETS_PER_TX 500
#define WL_REPLIES 2000
#define WL_READS 50000

/* Page-cipher counters; an engine without them leaves every field -1. */
typedef struct wl_counters {
	int64_t sealed;
	int64_t opened;
	int64_t crypto_ns;
} wl_counters;

/* An open connection under test, and how to read its counters. */
typedef struct wl_engine {
	const char *name;
	sqlite3 *db;
	/* Fill *out with the counters so far; NULL if the engine has none. */
	void (*counters)(void *ctx, wl_counters *out);
	void *ctx;
} wl_engine;

/*
 * Apply the pragmas every engine shares (temp_store=MEMORY, 4 KiB pages,
 * a 32 MiB cache, foreign keys, WAL, synchronous=FULL) and check that WAL
 * took.  Returns 0, or -1 with a message on stderr.
 */
int wl_pragmas(sqlite3 *db);

/*
 * Create the workload's tables in e->db, then run the driver's commands
 * from in until "quit" or end of input, answering on out (the protocol
 * above).  db_path is the database file, whose size is reported.
 * Returns 0 after "quit", -1 if a command failed (message on stderr).
 */
int wl_serve(const wl_engine *e, const char *db_path, FILE *in, FILE *out);

/* Nanoseconds on a monotonic clock. */
int64_t wl_now_ns(void);

#endif
