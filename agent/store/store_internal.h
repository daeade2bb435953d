/*
 * store_internal.h - what the rest of the agent (tickets, sync) and the
 * tests may use of an open store beyond the public API.
 */
#ifndef BS_STORE_INTERNAL_H
#define BS_STORE_INTERNAL_H

#include "branchsync/store.h"
#include "vfs.h"

/*
 * Turn a SQLite result code into a bs_error with a one-line message:
 * a page that failed authentication becomes BS_EDAMAGED naming the page,
 * a full disk BS_EIO, a busy database BS_EBUSY.  what says what failed.
 */
int bs__store_error(bs_store *st, int sqlite_rc, const char *what);

/* The store's VFS (fault and statistics) and database path. */
bs__vfs *bs__store_vfs(bs_store *st);
const char *bs__store_db_path(bs_store *st);

/* Checkpoints run beside the store's writer so far (checkpoint.h). */
unsigned long bs__store_checkpoints(bs_store *st);

/* Test hook: WAL pages after which a commit of any store waits for a
 * checkpoint (0: the default, BS__CKPT_LIMIT). */
void bs__store_set_checkpoint_limit(int pages);

#endif
