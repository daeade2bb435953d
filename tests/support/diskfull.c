/*
 * diskfull.c - see diskfull.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "agent/store/vfs.h"
#include "diskfull.h"
#include "testutil.h"

/* Tables written by the transaction in progress. */
#define W_OUTBOX 1
#define W_TICKET 2
#define W_ACTIVITY 4

static struct {
	enum tu_txn kind;
	int left;    /* transactions of the kind still to let through */
	int lasting;
	int written; /* W_* of the transaction in progress */
	int fired;
	int full;    /* the system calls are replaced */
} arm;

static ssize_t full_write(int fd, const void *buf, size_t n)
{
	(void)fd;
	(void)buf;
	(void)n;
	errno = ENOSPC;
	return -1;
}

static ssize_t full_pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	(void)fd;
	(void)buf;
	(void)n;
	(void)off;
	errno = ENOSPC;
	return -1;
}

static void syscalls(int fill)
{
	sqlite3_vfs *u = sqlite3_vfs_find("unix");

	assert_non_null(u);
	assert_non_null(u->xSetSystemCall);
	/* NULL puts SQLite's own back. */
	assert_int_equal(u->xSetSystemCall(u, "write", fill ?
			 (sqlite3_syscall_ptr)full_write : NULL), SQLITE_OK);
	assert_int_equal(u->xSetSystemCall(u, "pwrite64", fill ?
			 (sqlite3_syscall_ptr)full_pwrite64 : NULL),
			 SQLITE_OK);
	arm.full = fill;
}

static void on_update(void *ud, int op, const char *db, const char *table,
		      sqlite3_int64 rowid)
{
	(void)ud;
	(void)op;
	(void)db;
	(void)rowid;
	if (strcmp(table, "outbox") == 0)
		arm.written |= W_OUTBOX;
	else if (strcmp(table, "ticket") == 0)
		arm.written |= W_TICKET;
	else if (strcmp(table, "activity") == 0)
		arm.written |= W_ACTIVITY;
}

static int on_commit(void *ud)
{
	int w = arm.written, match;

	(void)ud;
	arm.written = 0;
	if (arm.fired || arm.left <= 0)
		return 0;
	if (arm.kind == TU_TXN_ANSWER)
		match = (w & W_OUTBOX) && (w & W_TICKET);
	else
		match = !(w & W_OUTBOX) && (w & (W_TICKET | W_ACTIVITY));
	if (!match || --arm.left > 0)
		return 0;
	arm.fired = 1;
	if (arm.lasting)
		syscalls(1);
	else
		bs__vfs_fail_write_after(1);
	return 0; /* commit: its writes are what fail */
}

static void on_rollback(void *ud)
{
	(void)ud;
	arm.written = 0;
}

void tu_disk_full_at(sqlite3 *db, enum tu_txn kind, int n, int lasting)
{
	tu_disk_room(db);
	memset(&arm, 0, sizeof(arm));
	arm.kind = kind;
	arm.left = n;
	arm.lasting = lasting;
	sqlite3_update_hook(db, on_update, NULL);
	sqlite3_commit_hook(db, on_commit, NULL);
	sqlite3_rollback_hook(db, on_rollback, NULL);
}

int tu_disk_full_fired(void)
{
	return arm.fired;
}

void tu_disk_room(sqlite3 *db)
{
	if (db != NULL) {
		sqlite3_update_hook(db, NULL, NULL);
		sqlite3_commit_hook(db, NULL, NULL);
		sqlite3_rollback_hook(db, NULL, NULL);
	}
	bs__vfs_fail_write_after(0);
	if (arm.full)
		syscalls(0);
	arm.left = 0;
}
