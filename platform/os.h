/*
 * os.h - the OS seam.  Everything that differs between operating systems
 * and CPUs sits behind these functions; platform/unix/ implements them
 * for Linux.  A port to another OS adds a folder beside unix/ and touches
 * nothing else.
 *
 * All functions return BS_OK or a negative bs_error code and record a
 * one-line message, unless they say otherwise.
 */
#ifndef BS_PLATFORM_OS_H
#define BS_PLATFORM_OS_H

#include <stddef.h>
#include <stdint.h>

/* Fill buf with n bytes from the OS's random source.  Fork-safe: no
 * state is kept in the process, so a child never repeats its parent. */
int bs_os_random(void *buf, size_t n);

/* Wall-clock time in milliseconds since the Unix epoch (64-bit even where
 * time_t is 32-bit). */
int64_t bs_os_now_ms(void);

/* A monotonic clock in nanoseconds, for measuring durations only. */
int64_t bs_os_monotonic_ns(void);

/* Make the file at fd durable (data and size). */
int bs_os_fsync_fd(int fd);

/* Make the directory entry changes in dir durable (after a rename). */
int bs_os_fsync_dir(const char *dir);

/*
 * Replace path with data atomically and durably: write a temporary file
 * beside it with the given mode, fsync it, rename it over path, fsync the
 * directory.  After a crash path holds either the old or the new bytes.
 */
int bs_os_write_atomic(const char *path, const void *data, size_t len,
		       unsigned mode);

/*
 * Read a whole file of at most max bytes into a new buffer (*out, freed
 * with bs__free) of *len bytes.  BS_ENOTFOUND if it does not exist,
 * BS_EINVAL if it is larger than max.
 */
int bs_os_read_file(uint8_t **out, size_t *len, const char *path,
		    size_t max);

/* Create dir with mode 0700 if it does not exist (parents too). */
int bs_os_mkdir_private(const char *dir);

/* Create an empty file with mode 0600 if it does not exist. */
int bs_os_create_private(const char *path);

/* 1 if path exists, 0 if not. */
int bs_os_exists(const char *path);

/* Remove path if it exists; BS_OK if it did not. */
int bs_os_remove(const char *path);

/*
 * Default store directory: $BRANCHSYNC_STORE, else
 * $XDG_DATA_HOME/branchsync/store, else ~/.local/share/branchsync/store.
 * Writes a NUL-terminated path into out[cap].
 */
int bs_os_default_store_dir(char *out, size_t cap);

/*
 * The platform key store keeps one 32-byte secret per name (a store's id
 * in hex).  On plain Linux it is a 0600 file in a 0700 directory outside
 * the store: $BRANCHSYNC_KEYSTORE, else $XDG_CONFIG_HOME/branchsync/keys,
 * else ~/.config/branchsync/keys.  It protects against a copy of the store
 * directory alone, not against someone who can read the whole disk as
 * this user; an OS with a hardware-backed key store puts it there.
 */
#define BS_OS_KEY_LEN 32
int bs_os_keystore_put(const char *name, const uint8_t key[BS_OS_KEY_LEN]);
/* BS_ENOTFOUND if there is no key of that name. */
int bs_os_keystore_get(const char *name, uint8_t key[BS_OS_KEY_LEN]);
int bs_os_keystore_delete(const char *name);

/* 1 if the CPU has AES instructions that the crypto library uses. */
int bs_os_cpu_has_aes(void);

/* Keep [p, p+n) out of swap and core dumps where the OS allows;
 * failures are ignored (best effort).  Cannot fail. */
void bs_os_lock_memory(void *p, size_t n);
void bs_os_unlock_memory(void *p, size_t n);

/*
 * Let the C library's allocator keep up to n bytes it has freed in each
 * of its heaps (glibc keeps one heap for every few threads), and serve
 * blocks of up to n / 4 from a heap rather than from mappings of their
 * own, where it offers the choice: for a server that builds and frees
 * buffers of a megabyte or two for every request, each of which would
 * otherwise be mapped, faulted in page by page and handed back.  This
 * also ends the allocator's own tuning of both limits.  Where a heap is
 * smaller than such a buffer (threads' heaps on 32-bit systems), the
 * buffer is still mapped.  Best effort.  Cannot fail.
 */
void bs_os_reuse_freed_memory(size_t n);

/*
 * Lower the calling thread's scheduling priority, for a thread that
 * works ahead of another (fetching and decoding the pages a pull will
 * apply): when the CPUs are busy, the thread the others feed runs
 * first; when it waits, they have the CPU to themselves.  Not for a
 * thread that another may wait for.  Linux keeps a nice value per
 * thread; elsewhere this does nothing.  Best effort.  Cannot fail.
 */
void bs_os_thread_yield_priority(void);

/*
 * Advisory lock on a lock file: exclusive or shared, never blocking.
 * *out_fd receives the descriptor to pass to bs_os_unlock.  BS_EBUSY if
 * another process holds a conflicting lock.
 */
int bs_os_lock(int *out_fd, const char *path, int exclusive);
void bs_os_unlock(int fd);

/* Change the lock held on fd to exclusive or shared, never blocking;
 * BS_EBUSY if another process holds a conflicting lock. */
int bs_os_relock(int fd, int exclusive);

/* Remove the empty directory dir; BS_OK if it is gone or not empty. */
int bs_os_rmdir(const char *dir);

#endif
