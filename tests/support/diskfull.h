/*
 * diskfull.h - a device's disk filling up at a chosen moment of a sync.
 *
 * Two ways to fill it, both below the store's encryption:
 *  - lasting: SQLite's unix VFS has its system calls in a table that can
 *    be replaced; write() and pwrite64() then fail with ENOSPC, which
 *    SQLite reports as SQLITE_FULL, until tu_disk_room() gives the space
 *    back.  Every store of this process is on the same disk.
 *  - passing: the store's own hook (bs__vfs_fail_write_after(), which
 *    test_crash uses too) fails one write with SQLITE_FULL; the next
 *    succeeds.
 *
 * The moment is a kind of transaction on one connection, told apart by
 * the tables it wrote (an update hook), and the disk fills as the n-th of
 * that kind starts to commit (a commit hook), so that its writes fail.
 */
#ifndef BS_TEST_DISKFULL_H
#define BS_TEST_DISKFULL_H

#include <sqlite3.h>

enum tu_txn {
	/* The hub's answers stored: outbox rows and their tickets. */
	TU_TXN_ANSWER = 1,
	/* A pulled page applied: tickets or timelines, no outbox row. */
	TU_TXN_PAGE = 2
};

/*
 * Fill the disk when the n-th transaction of kind on db (counted from
 * now) commits; lasting as above.  Replaces any earlier arming.
 */
void tu_disk_full_at(sqlite3 *db, enum tu_txn kind, int n, int lasting);

/* Whether the armed moment came. */
int tu_disk_full_fired(void);

/* Space again: the hooks off db, the system calls back. */
void tu_disk_room(sqlite3 *db);

#endif
