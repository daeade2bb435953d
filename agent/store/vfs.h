/*
 * vfs.h - the encrypting SQLite VFS shim.
 *
 * One bs__vfs exists per open store.  It is registered with SQLite under
 * a unique name and wraps the default VFS; only the store's own database
 * file and its WAL, rollback journal and sub-journal may be opened
 * through it, and each is encrypted page by page.  Temporary files are
 * refused: every connection must use temp_store=MEMORY.
 *
 * Page format (P = 4096, 32 reserve bytes, U = 4064):
 *   bytes 0..U-1    ciphertext (page 1: bytes 0..15 are the database id
 *                   and 16..23 the plaintext SQLite header fields)
 *   U..U+11         nonce, 96 random bits from the OS per write
 *   U+12..U+27      tag
 *   U+28..U+31      key id: format 1, cipher, key epoch (16 bits)
 * Associated data: database id, page number, key id, and on page 1 the
 * plaintext header bytes 16..23.  A page cannot be altered, moved to
 * another page number, or carried to another store or key epoch without
 * failing to authenticate.  Replaying an older version of the same page
 * is not detectable page by page.
 */
#ifndef BS_STORE_VFS_H
#define BS_STORE_VFS_H

#include <stdint.h>

#include "cipher.h"

#define BS_PAGE_SIZE 4096
#define BS_RESERVE 32

typedef struct bs__vfs bs__vfs;

/*
 * Create and register a VFS for the database file at path (absolute or
 * relative, as it will be passed to sqlite3_open_v2(); SQLite and the
 * VFS both work with its full form).
 * page_key is copied and wiped at destroy.
 */
int bs__vfs_create(bs__vfs **out, const char *path,
		   const uint8_t db_id[BS_DBID_LEN],
		   const uint8_t page_key[BS_KEY_LEN], int cipher,
		   uint32_t epoch);

/* Unregister and wipe.  No connection may still use it.  Accepts NULL. */
void bs__vfs_destroy(bs__vfs *v);

/* The name to pass to sqlite3_open_v2(). */
const char *bs__vfs_name(const bs__vfs *v);

/*
 * The last authentication failure: BS_OK if none, BS_EDAMAGED (with
 * *pgno the page number) or BS_ENOTSTORE (the file is plain SQLite or
 * another kind of file).  Cleared by bs__vfs_clear_fault().
 */
int bs__vfs_fault(bs__vfs *v, uint32_t *pgno, const char **what);
void bs__vfs_clear_fault(bs__vfs *v);

/* Counters for benchmarks and tests. */
typedef struct bs__vfs_stats {
	uint64_t pages_sealed;
	uint64_t pages_opened;
	uint64_t crypto_ns;
	uint64_t lenient_failures; /* torn WAL/journal records skipped */
	uint64_t pages_passed;     /* copied sealed by checkpoints */
} bs__vfs_stats;
void bs__vfs_stats_get(bs__vfs *v, bs__vfs_stats *out);

/*
 * Test hook: make the n-th write through any branchsync VFS from now
 * fail with SQLITE_FULL (0 turns it off).
 */
void bs__vfs_fail_write_after(long n);

#endif
