/*
 * os_unix.c - the OS seam for Linux (glibc).  Randomness comes from
 * getrandom(2), durability from fsync(2) on files and their directories,
 * and the key store is a private file per key outside the store.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../agent/core/common.h"
#include "../os.h"

int bs_os_random(void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return bs__error(BS_EIO, "getrandom: %s", strerror(errno));
		}
		p += got;
		n -= (size_t)got;
	}
	return BS_OK;
}

int64_t bs_os_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t bs_os_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int bs_os_fsync_fd(int fd)
{
	while (fsync(fd) != 0) {
		if (errno != EINTR)
			return bs__error(BS_EIO, "fsync: %s", strerror(errno));
	}
	return BS_OK;
}

int bs_os_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return bs__error(BS_EIO, "open %s: %s", dir, strerror(errno));
	rc = bs_os_fsync_fd(fd);
	close(fd);
	return rc;
}

static void dir_of(char *out, size_t cap, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		snprintf(out, cap, ".");
	} else if (slash == path) {
		snprintf(out, cap, "/");
	} else {
		snprintf(out, cap, "%.*s", (int)(slash - path), path);
	}
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int bs_os_write_atomic(const char *path, const void *data, size_t len,
		       unsigned mode)
{
	char tmp[PATH_MAX];
	char dir[PATH_MAX];
	int fd = -1;
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return bs__error(BS_EINVAL, "path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return bs__error(BS_EIO, "create %s: %s", tmp, strerror(errno));
	if (write_all(fd, data, len) != 0) {
		rc = bs__error(BS_EIO, "write %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	if ((rc = bs_os_fsync_fd(fd)) != BS_OK)
		goto cleanup;
	close(fd);
	fd = -1;
	/* The rename is the commit point; the directory fsync makes it
	 * survive power loss. */
	if (rename(tmp, path) != 0) {
		rc = bs__error(BS_EIO, "rename %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	dir_of(dir, sizeof(dir), path);
	return bs_os_fsync_dir(dir);

cleanup:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int bs_os_read_file(uint8_t **out, size_t *len, const char *path, size_t max)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd;
	int rc = BS_OK;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return bs__error(BS_ENOTFOUND, "%s does not exist", path);
		return bs__error(BS_EIO, "open %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		rc = bs__error(BS_EIO, "stat %s: %s", path, strerror(errno));
		goto cleanup;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > max) {
		rc = bs__error(BS_EINVAL, "%s is too large", path);
		goto cleanup;
	}
	buf = bs__malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = bs__error(BS_EIO, "read %s: %s", path,
				       strerror(errno));
			goto cleanup;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	buf[got] = 0;
	*out = buf;
	*len = got;
	buf = NULL;
cleanup:
	bs__free(buf);
	close(fd);
	return rc;
}

int bs_os_mkdir_private(const char *dir)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);
	size_t i;

	if (n == 0 || n >= sizeof(path))
		return bs__error(BS_EINVAL, "bad directory name");
	memcpy(path, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return bs__error(BS_EIO, "mkdir %s: %s", path,
					 strerror(errno));
		path[i] = dir[i];
	}
	return BS_OK;
}

int bs_os_create_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return bs__error(BS_EIO, "create %s: %s", path, strerror(errno));
	close(fd);
	return BS_OK;
}

int bs_os_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

int bs_os_remove(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		return bs__error(BS_EIO, "remove %s: %s", path, strerror(errno));
	return BS_OK;
}

/* $env, else $xdg/suffix, else $HOME/fallback/suffix. */
static int xdg_path(char *out, size_t cap, const char *env, const char *xdg,
		    const char *fallback, const char *suffix)
{
	const char *v = getenv(env);
	int n;

	if (v != NULL && v[0] != '\0') {
		n = snprintf(out, cap, "%s", v);
	} else if ((v = getenv(xdg)) != NULL && v[0] == '/') {
		n = snprintf(out, cap, "%s/%s", v, suffix);
	} else if ((v = getenv("HOME")) != NULL && v[0] != '\0') {
		n = snprintf(out, cap, "%s/%s/%s", v, fallback, suffix);
	} else {
		return bs__error(BS_EINVAL, "neither %s nor HOME is set", env);
	}
	if (n < 0 || (size_t)n >= cap)
		return bs__error(BS_EINVAL, "path from %s is too long", env);
	return BS_OK;
}

int bs_os_default_store_dir(char *out, size_t cap)
{
	return xdg_path(out, cap, "BRANCHSYNC_STORE", "XDG_DATA_HOME",
			".local/share", "branchsync/store");
}

static int keystore_file(char *out, size_t cap, const char *name, int mkdirs)
{
	char dir[PATH_MAX];
	int rc;
	size_t i;

	for (i = 0; name[i] != '\0'; i++) {
		if (!((name[i] >= '0' && name[i] <= '9') ||
		      (name[i] >= 'a' && name[i] <= 'z') || name[i] == '-'))
			return bs__error(BS_EINVAL, "bad key name");
	}
	if (i == 0 || i > 64)
		return bs__error(BS_EINVAL, "bad key name");
	rc = xdg_path(dir, sizeof(dir), "BRANCHSYNC_KEYSTORE",
		      "XDG_CONFIG_HOME", ".config", "branchsync/keys");
	if (rc != BS_OK)
		return rc;
	if (mkdirs && (rc = bs_os_mkdir_private(dir)) != BS_OK)
		return rc;
	if (snprintf(out, cap, "%s/%s.key", dir, name) >= (int)cap)
		return bs__error(BS_EINVAL, "key store path too long");
	return BS_OK;
}

int bs_os_keystore_put(const char *name, const uint8_t key[BS_OS_KEY_LEN])
{
	char path[PATH_MAX];
	int rc = keystore_file(path, sizeof(path), name, 1);

	if (rc != BS_OK)
		return rc;
	return bs_os_write_atomic(path, key, BS_OS_KEY_LEN, 0600);
}

int bs_os_keystore_get(const char *name, uint8_t key[BS_OS_KEY_LEN])
{
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = keystore_file(path, sizeof(path), name, 0);

	if (rc != BS_OK)
		return rc;
	rc = bs_os_read_file(&buf, &len, path, 4096);
	if (rc != BS_OK)
		return rc;
	if (len != BS_OS_KEY_LEN) {
		rc = bs__error(BS_EDAMAGED, "device key %s is damaged", path);
	} else {
		memcpy(key, buf, BS_OS_KEY_LEN);
	}
	explicit_bzero(buf, len);
	bs__free(buf);
	return rc;
}

int bs_os_keystore_delete(const char *name)
{
	char path[PATH_MAX];
	int rc = keystore_file(path, sizeof(path), name, 0);
	int fd;

	if (rc != BS_OK)
		return rc;
	/* Overwrite before unlinking: best effort on flash, which may keep
	 * the old block, but it costs nothing. */
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		uint8_t junk[BS_OS_KEY_LEN];
		if (bs_os_random(junk, sizeof(junk)) == BS_OK &&
		    write_all(fd, junk, sizeof(junk)) == 0)
			(void)bs_os_fsync_fd(fd);
		close(fd);
	}
	return bs_os_remove(path);
}

void bs_os_lock_memory(void *p, size_t n)
{
	(void)mlock(p, n);
#ifdef MADV_DONTDUMP
	{
		/* madvise needs a page-aligned start. */
		long pg = sysconf(_SC_PAGESIZE);
		uintptr_t start = (uintptr_t)p & ~((uintptr_t)pg - 1);
		(void)madvise((void *)start, n + ((uintptr_t)p - start),
			      MADV_DONTDUMP);
	}
#endif
}

void bs_os_reuse_freed_memory(size_t n)
{
#if defined(__GLIBC__) && defined(M_TRIM_THRESHOLD) && defined(M_MMAP_THRESHOLD)
	/* A value glibc refuses leaves its own, adaptive, setting. */
	if (n > INT_MAX)
		n = INT_MAX;
	(void)mallopt(M_MMAP_THRESHOLD, (int)(n / 4));
	(void)mallopt(M_TRIM_THRESHOLD, (int)n);
#else
	(void)n;
#endif
}

/* How far below its process a thread that yields priority runs: enough
 * that it gets about a tenth of a CPU it shares with a busy thread. */
#define YIELD_NICE 10

void bs_os_thread_yield_priority(void)
{
#if defined(__linux__) && defined(SYS_gettid)
	id_t tid = (id_t)syscall(SYS_gettid);
	int nice;

	errno = 0;
	nice = getpriority(PRIO_PROCESS, tid);
	if (nice == -1 && errno != 0)
		return;
	(void)setpriority(PRIO_PROCESS, tid,
			  nice + YIELD_NICE > 19 ? 19 : nice + YIELD_NICE);
#endif
}

void bs_os_unlock_memory(void *p, size_t n)
{
	(void)munlock(p, n);
}

int bs_os_lock(int *out_fd, const char *path, int exclusive)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	*out_fd = -1;
	if (fd < 0)
		return bs__error(BS_EIO, "open %s: %s", path, strerror(errno));
	if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
		int e = errno;
		close(fd);
		if (e == EWOULDBLOCK)
			return bs__error(BS_EBUSY,
					 "store is in use by another process");
		return bs__error(BS_EIO, "lock %s: %s", path, strerror(e));
	}
	*out_fd = fd;
	return BS_OK;
}

void bs_os_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int bs_os_relock(int fd, int exclusive)
{
	if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return bs__error(BS_EBUSY,
					 "store is in use by another process");
		return bs__error(BS_EIO, "lock: %s", strerror(errno));
	}
	return BS_OK;
}

int bs_os_rmdir(const char *dir)
{
	if (rmdir(dir) != 0 && errno != ENOENT && errno != ENOTEMPTY &&
	    errno != EEXIST)
		return bs__error(BS_EIO, "rmdir %s: %s", dir, strerror(errno));
	return BS_OK;
}
