/*
 * checkpoint.h - a store's WAL checkpoints, run beside its writer.
 *
 * Left to SQLite, the commit that takes the WAL past 1000 pages also
 * checkpoints it: before that commit returns, the writer copies every
 * page in the log back into the database file and waits for the disk
 * twice.  A store instead hands the checkpoint to a thread of its own,
 * which opens a connection of its own for it, as soon as the commit is
 * done.  A
 * passive checkpoint blocks neither readers nor the writer, so the
 * writer goes on (the next page of a pull, the next reply) while the
 * pages are copied.  What is copied, and when it is durable, is exactly
 * what SQLite's own checkpoint does; only the thread differs.
 *
 * SQLite starts the WAL over only when a write transaction begins after
 * every page in it was copied back, and a writer that commits again and
 * again never leaves the thread that moment: the WAL would grow without
 * end.  So a commit that finds the WAL past BS__CKPT_LIMIT pages waits
 * for a checkpoint that starts after it, as it would have waited for its
 * own; the next transaction then starts the WAL over.
 *
 * A checkpoint that fails (a full disk, another process checkpointing)
 * loses nothing: the pages stay in the WAL, and the next commit past
 * the mark, or closing the store, tries again.
 */
#ifndef BS_STORE_CHECKPOINT_H
#define BS_STORE_CHECKPOINT_H

#include <sqlite3.h>

/* WAL pages after which a commit asks for a checkpoint (SQLite's own
 * default for wal_autocheckpoint). */
#define BS__CKPT_PAGES 1000

/* WAL pages after which a commit waits for the checkpoint: above the
 * few thousand pages that a batch of a large first pull writes, so that
 * its checkpoint runs while the next batch is applied. */
#define BS__CKPT_LIMIT 8000

typedef struct bs__ckpt bs__ckpt;

/*
 * Take over the checkpoints of db, the writer's connection to the
 * database at path through the VFS named vfs (both are copied).  The
 * thread starts at the first checkpoint asked for; if it cannot be
 * started, or cannot open its connection, checkpoints run in the commit
 * as SQLite's do.
 */
int bs__ckpt_start(bs__ckpt **out, sqlite3 *db, const char *path,
		   const char *vfs);

/*
 * Stop: wait for a checkpoint under way, close the thread's connection
 * and give db back SQLite's own checkpoints.  Call it before db is
 * closed or its VFS destroyed.  Accepts NULL.
 */
void bs__ckpt_stop(bs__ckpt *c);

/* Checkpoints the thread has run (tests and benchmarks). */
unsigned long bs__ckpt_runs(bs__ckpt *c);

/* Test hook: the limit of every store from now on (0: BS__CKPT_LIMIT). */
void bs__ckpt_set_limit(int pages);

#endif
