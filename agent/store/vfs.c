/*
 * vfs.c - the encrypting VFS shim (format in vfs.h).
 *
 * The file is divided into: page sealing and opening; the I/O methods of
 * the main database, the WAL, and the journals; and the VFS methods that
 * open files and pass everything else to the default VFS.
 *
 * Two rules keep SQLite's own crash recovery intact:
 *  - The buffer SQLite hands to xWrite is never modified: pages are
 *    sealed into a scratch buffer.  SQLite computes WAL frame and journal
 *    checksums over the plaintext it sees; a shim that wrote its tag into
 *    SQLite's buffer would make recovery silently drop committed frames.
 *  - xRead returns plaintext with the reserve bytes zeroed, which is
 *    exactly what SQLite wrote, so those checksums verify on recovery.
 * A page that fails to authenticate is an error (SQLITE_IOERR_DATA) when
 * SQLite reads it as data.  During WAL recovery (whole-frame reads) and
 * journal playback it is handed back as zeros instead: SQLite's checksum
 * then rejects the record, which is how it ends a log torn by a crash.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "agent/core/common.h"
#include "branchsync/store.h"
#include "platform/os.h"
#include "vfs.h"

#define P BS_PAGE_SIZE
#define U (BS_PAGE_SIZE - BS_RESERVE)
#define WAL_HDR 32
#define FRAME_HDR 24
#define FRAME (FRAME_HDR + P)
#define KID_FORMAT 1

static const char sqlite_magic[16] = "SQLite format 3";

struct bs__vfs {
	sqlite3_vfs base;
	sqlite3_vfs *root;
	char name[48];
	char *path;
	uint8_t db_id[BS_DBID_LEN];
	uint8_t page_key[BS_KEY_LEN];
	uint8_t kid[4];
	int registered;
	/* Connections on other threads share the VFS (the store's own
	 * checkpoints run on a thread of their own): lock guards what
	 * follows. */
	pthread_mutex_t lock;
	/* Last authentication failure. */
	int fault;
	uint32_t fault_pgno;
	const char *fault_what;
	bs__vfs_stats stats;
};

/*
 * The VFS whose checkpoint this thread is running, between
 * SQLITE_FCNTL_CKPT_START and _DONE (see main_write).  SQLite runs a
 * checkpoint on the thread that asked for it, start to end; kept per
 * thread, a checkpoint never changes what another connection of the
 * same store reads meanwhile.
 */
static _Thread_local const bs__vfs *checkpointing;

static void count(bs__vfs *v, uint64_t *n, int64_t t0)
{
	pthread_mutex_lock(&v->lock);
	(*n)++;
	if (t0 != 0)
		v->stats.crypto_ns += (uint64_t)(bs_os_monotonic_ns() - t0);
	pthread_mutex_unlock(&v->lock);
}

enum file_kind { F_MAIN, F_WAL, F_JOURNAL, F_SUBJOURNAL };

typedef struct bs_file {
	sqlite3_file base;
	bs__vfs *vfs;
	enum file_kind kind;
	bs__cipher cipher;
	uint8_t *scratch; /* two pages: raw and sealed/opened */
	/* Page number of the last WAL frame header or journal record
	 * written, and where, so the page that follows needs no read. */
	sqlite3_int64 last_hdr_off;
	uint32_t last_pgno;
	sqlite3_file *real; /* the default VFS's file, right after us */
} bs_file;

static _Thread_local long fail_write_countdown;

void bs__vfs_fail_write_after(long n)
{
	fail_write_countdown = n;
}

static int injected_write_failure(void)
{
	if (fail_write_countdown <= 0)
		return 0;
	return --fail_write_countdown == 0;
}

/* --- sealing and opening one page image ------------------------------- */

static size_t page_aad(uint8_t *aad, const bs__vfs *v, uint32_t pgno,
		       const uint8_t *kid, const uint8_t *hdr16)
{
	memcpy(aad, v->db_id, BS_DBID_LEN);
	bs__put_be32(aad + 16, pgno);
	memcpy(aad + 20, kid, 4);
	if (pgno != 1)
		return 24;
	memcpy(aad + 24, hdr16, 8);
	return 32;
}

/* Seal the plaintext page in into out (both P bytes). */
static int seal_page(bs_file *f, uint8_t *out, const uint8_t *in,
		     uint32_t pgno)
{
	bs__vfs *v = f->vfs;
	uint8_t aad[32];
	size_t aad_len;
	size_t skip = pgno == 1 ? 24 : 0;
	int64_t t0 = bs_os_monotonic_ns();
	int rc;

	if (pgno == 1) {
		/* The page size and reserve are fixed for a store's life:
		 * refusing other values here refuses page_size changes and
		 * backups from databases with another reserve. */
		if (bs__get_be16(in + 16) != P || in[20] != BS_RESERVE)
			return SQLITE_IOERR_WRITE;
		memcpy(out, v->db_id, BS_DBID_LEN);
		memcpy(out + 16, in + 16, 8);
	}
	memcpy(out + U + 28, v->kid, 4);
	if (bs_os_random(out + U, BS_NONCE_LEN) != BS_OK)
		return SQLITE_IOERR_WRITE;
	aad_len = page_aad(aad, v, pgno, v->kid, in + 16);
	rc = bs__cipher_seal(&f->cipher, out + skip, in + skip, U - skip,
			     out + U, aad, aad_len, out + U + 12);
	if (rc != BS_OK)
		return SQLITE_IOERR_WRITE;
	count(v, &v->stats.pages_sealed, t0);
	return SQLITE_OK;
}

static void set_fault(bs__vfs *v, int fault, uint32_t pgno, const char *what)
{
	pthread_mutex_lock(&v->lock);
	v->fault = fault;
	v->fault_pgno = pgno;
	v->fault_what = what;
	pthread_mutex_unlock(&v->lock);
}

/*
 * Open the sealed page raw into out.  SQLITE_OK, or SQLITE_IOERR_DATA
 * with the fault recorded.
 */
static int open_page(bs_file *f, uint8_t *out, const uint8_t *raw,
		     uint32_t pgno)
{
	bs__vfs *v = f->vfs;
	uint8_t aad[32];
	size_t aad_len;
	size_t skip = pgno == 1 ? 24 : 0;
	int64_t t0 = bs_os_monotonic_ns();

	if (pgno == 1 && memcmp(raw, sqlite_magic, 16) == 0) {
		set_fault(v, BS_ENOTSTORE, 1, "a plain SQLite database");
		return SQLITE_IOERR_DATA;
	}
	if (raw[U + 28] != KID_FORMAT || raw[U + 29] != v->kid[1] ||
	    raw[U + 30] != v->kid[2] || raw[U + 31] != v->kid[3] ||
	    (pgno == 1 && memcmp(raw, v->db_id, BS_DBID_LEN) != 0)) {
		set_fault(v, BS_EDAMAGED, pgno,
			  pgno == 1 ? "header does not belong to this store"
				    : "bad key id");
		return SQLITE_IOERR_DATA;
	}
	aad_len = page_aad(aad, v, pgno, raw + U + 28, raw + 16);
	if (bs__cipher_open(&f->cipher, out + skip, raw + skip, U - skip,
			    raw + U, aad, aad_len, raw + U + 12) != BS_OK) {
		set_fault(v, BS_EDAMAGED, pgno, "fails authentication");
		return SQLITE_IOERR_DATA;
	}
	if (pgno == 1) {
		memcpy(out, sqlite_magic, 16);
		memcpy(out + 16, raw + 16, 8);
	}
	memset(out + U, 0, BS_RESERVE);
	count(v, &v->stats.pages_opened, t0);
	return SQLITE_OK;
}

static int all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

/* Read raw bytes from the real file; a short read leaves zeros. */
static int raw_read(bs_file *f, void *buf, int amt, sqlite3_int64 off)
{
	return f->real->pMethods->xRead(f->real, buf, amt, off);
}

static int raw_write(bs_file *f, const void *buf, int amt, sqlite3_int64 off)
{
	if (injected_write_failure())
		return SQLITE_FULL;
	return f->real->pMethods->xWrite(f->real, buf, amt, off);
}

/* The 4-byte big-endian page number stored at off, via the cache. */
static int pgno_at(bs_file *f, sqlite3_int64 off, uint32_t *pgno)
{
	uint8_t b[4];
	int rc;

	if (off == f->last_hdr_off) {
		*pgno = f->last_pgno;
		return SQLITE_OK;
	}
	rc = raw_read(f, b, 4, off);
	if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
		return rc;
	*pgno = bs__get_be32(b);
	return SQLITE_OK;
}

/* --- main database file ------------------------------------------------ */

static int main_read(bs_file *f, uint8_t *buf, int amt, sqlite3_int64 off)
{
	uint8_t *raw = f->scratch;
	uint8_t *plain = f->scratch + P;
	sqlite3_int64 end = off + amt;
	int result = SQLITE_OK;

	while (off < end) {
		sqlite3_int64 base = off - off % P;
		int in_page = (int)(off - base);
		int n = (int)((end < base + P ? end : base + P) - off);
		uint32_t pgno = (uint32_t)(base / P) + 1;
		int rc = raw_read(f, raw, P, base);

		if (rc == SQLITE_IOERR_SHORT_READ && all_zero(raw, P)) {
			/* Past the end of the file: nothing was written. */
			memset(buf, 0, (size_t)n);
			result = rc;
		} else if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) {
			return rc;
		} else {
			rc = open_page(f, plain, raw, pgno);
			if (rc != SQLITE_OK) {
				memset(buf, 0, (size_t)n);
				return rc;
			}
			memcpy(buf, plain + in_page, (size_t)n);
		}
		buf += n;
		off += n;
	}
	return result;
}

static int main_write(bs_file *f, const uint8_t *buf, int amt,
		      sqlite3_int64 off)
{
	uint8_t *sealed = f->scratch;
	int rc;

	/* SQLite writes database pages whole; anything else would be a
	 * change of page size, which a store refuses. */
	if (amt != P || off % P != 0)
		return SQLITE_IOERR_WRITE;
	/* A checkpoint copies WAL frames into the database file, and
	 * wal_read handed it the frames still sealed: the authentication
	 * binds the page number, not the position in a file, so the sealed
	 * image is as valid here as in the WAL.  Plaintext from SQLite
	 * always has a zero reserve, so it can never carry our key id. */
	if (checkpointing == f->vfs &&
	    memcmp(buf + U + 28, f->vfs->kid, 4) == 0) {
		count(f->vfs, &f->vfs->stats.pages_passed, 0);
		return raw_write(f, buf, P, off);
	}
	rc = seal_page(f, sealed, buf, (uint32_t)(off / P) + 1);
	if (rc != SQLITE_OK)
		return rc;
	return raw_write(f, sealed, P, off);
}

/* --- WAL ------------------------------------------------------------- */

/* Index of the frame holding off, or -1 inside the WAL header. */
static sqlite3_int64 frame_of(sqlite3_int64 off)
{
	return off < WAL_HDR ? -1 : (off - WAL_HDR) / FRAME;
}

static sqlite3_int64 frame_start(sqlite3_int64 k)
{
	return WAL_HDR + k * FRAME;
}

static int wal_read(bs_file *f, uint8_t *buf, int amt, sqlite3_int64 off)
{
	uint8_t *raw = f->scratch;
	uint8_t *plain = f->scratch + P;
	sqlite3_int64 end = off + amt;
	sqlite3_int64 k;
	/* Whole-frame reads come from recovery (see the top of the file). */
	int lenient = amt == FRAME && frame_of(off) >= 0 &&
		      off == frame_start(frame_of(off));
	int result = raw_read(f, buf, amt, off);

	if (result != SQLITE_OK && result != SQLITE_IOERR_SHORT_READ)
		return result;
	/* A checkpoint reads whole pages to copy them into the database
	 * file: hand them over sealed (main_write passes them through).
	 * A damaged frame is then caught when the page is read as data. */
	if (checkpointing == f->vfs && result == SQLITE_OK && amt == P &&
	    frame_of(off) >= 0 && off == frame_start(frame_of(off)) + FRAME_HDR &&
	    memcmp(buf + U + 28, f->vfs->kid, 4) == 0)
		return SQLITE_OK;
	for (k = frame_of(off) < 0 ? 0 : frame_of(off); frame_start(k) < end;
	     k++) {
		sqlite3_int64 c = frame_start(k) + FRAME_HDR;
		sqlite3_int64 lo = off > c ? off : c;
		sqlite3_int64 hi = end < c + P ? end : c + P;
		uint32_t pgno;
		int rc;

		if (lo >= hi)
			continue;
		if (c >= off && c + P <= end) {
			memcpy(raw, buf + (c - off), P);
		} else {
			rc = raw_read(f, raw, P, c);
			if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
				return rc;
		}
		if (c - FRAME_HDR >= off)
			pgno = bs__get_be32(buf + (c - FRAME_HDR - off));
		else if ((rc = pgno_at(f, c - FRAME_HDR, &pgno)) != SQLITE_OK)
			return rc;
		if (all_zero(raw, P) && result == SQLITE_IOERR_SHORT_READ) {
			memset(buf + (lo - off), 0, (size_t)(hi - lo));
			continue;
		}
		rc = open_page(f, plain, raw, pgno);
		if (rc != SQLITE_OK) {
			if (!lenient)
				return rc;
			count(f->vfs, &f->vfs->stats.lenient_failures, 0);
			memset(plain, 0, P);
		}
		memcpy(buf + (lo - off), plain + (lo - c), (size_t)(hi - lo));
	}
	return result;
}

static int wal_write(bs_file *f, const uint8_t *buf, int amt,
		     sqlite3_int64 off)
{
	uint8_t *sealed = f->scratch;
	sqlite3_int64 k = frame_of(off);
	sqlite3_int64 c = k < 0 ? 0 : frame_start(k) + FRAME_HDR;
	uint32_t pgno;
	int rc;

	if (k >= 0 && off == frame_start(k) && amt == FRAME) {
		/* A frame header and its page in one write. */
		pgno = bs__get_be32(buf);
		rc = seal_page(f, sealed, buf + FRAME_HDR, pgno);
		if (rc == SQLITE_OK)
			rc = raw_write(f, buf, FRAME_HDR, off);
		if (rc == SQLITE_OK)
			rc = raw_write(f, sealed, P, off + FRAME_HDR);
		return rc;
	}
	if (k >= 0 && off == c && amt == P) {
		if ((rc = pgno_at(f, off - FRAME_HDR, &pgno)) != SQLITE_OK)
			return rc;
		rc = seal_page(f, sealed, buf, pgno);
		if (rc != SQLITE_OK)
			return rc;
		return raw_write(f, sealed, P, off);
	}
	/* Anything else must lie inside the WAL header or a frame header. */
	if ((k < 0 && off + amt <= WAL_HDR) ||
	    (k >= 0 && off + amt <= c)) {
		if (k >= 0 && off == frame_start(k) && amt >= 4) {
			f->last_hdr_off = off;
			f->last_pgno = bs__get_be32(buf);
		}
		return raw_write(f, buf, amt, off);
	}
	/* A partial page (psow=0 splits frames at sector boundaries) is
	 * refused rather than written in plaintext. */
	return SQLITE_IOERR_WRITE;
}

/* --- rollback journal and sub-journal --------------------------------- */

/*
 * Is [off, off+amt) the page image of a journal record?  In the rollback
 * journal a record is pgno (4), page (P), checksum (4) after headers that
 * start on sector boundaries (multiples of 512), so page images start at
 * offsets that are 4 modulo 8 and nothing else does.  In the sub-journal
 * records are pgno (4) and page (P) back to back from offset 0.
 */
static int is_record_page(const bs_file *f, int amt, sqlite3_int64 off)
{
	if (amt != P)
		return 0;
	if (f->kind == F_JOURNAL)
		return (off & 7) == 4;
	return off % (P + 4) == 4;
}

static int journal_read(bs_file *f, uint8_t *buf, int amt, sqlite3_int64 off)
{
	uint8_t *plain = f->scratch + P;
	uint32_t pgno;
	int rc = raw_read(f, buf, amt, off);

	if (!is_record_page(f, amt, off))
		return rc;
	if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ)
		return rc;
	if (rc == SQLITE_IOERR_SHORT_READ && all_zero(buf, P))
		return rc;
	if ((rc = pgno_at(f, off - 4, &pgno)) != SQLITE_OK)
		return rc;
	rc = open_page(f, plain, buf, pgno);
	if (rc != SQLITE_OK) {
		if (f->kind == F_SUBJOURNAL)
			return rc;
		/* The record's checksum will fail and end the playback. */
		count(f->vfs, &f->vfs->stats.lenient_failures, 0);
		memset(plain, 0, P);
	}
	memcpy(buf, plain, P);
	return SQLITE_OK;
}

static int journal_write(bs_file *f, const uint8_t *buf, int amt,
			 sqlite3_int64 off)
{
	uint8_t *sealed = f->scratch;
	uint32_t pgno;
	int rc;

	if (!is_record_page(f, amt, off)) {
		if (amt == 4) {
			f->last_hdr_off = off;
			f->last_pgno = bs__get_be32(buf);
		}
		return raw_write(f, buf, amt, off);
	}
	if ((rc = pgno_at(f, off - 4, &pgno)) != SQLITE_OK)
		return rc;
	if ((rc = seal_page(f, sealed, buf, pgno)) != SQLITE_OK)
		return rc;
	return raw_write(f, sealed, P, off);
}

/* --- I/O methods ------------------------------------------------------- */

static int x_close(sqlite3_file *pf)
{
	bs_file *f = (bs_file *)pf;
	int rc = SQLITE_OK;

	if (f->real->pMethods != NULL)
		rc = f->real->pMethods->xClose(f->real);
	bs__cipher_free(&f->cipher);
	if (f->scratch != NULL) {
		bs__wipe(f->scratch, 2 * P);
		sqlite3_free(f->scratch);
		f->scratch = NULL;
	}
	return rc;
}

static int x_read(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 off)
{
	bs_file *f = (bs_file *)pf;

	switch (f->kind) {
	case F_MAIN:
		return main_read(f, buf, amt, off);
	case F_WAL:
		return wal_read(f, buf, amt, off);
	default:
		return journal_read(f, buf, amt, off);
	}
}

static int x_write(sqlite3_file *pf, const void *buf, int amt,
		   sqlite3_int64 off)
{
	bs_file *f = (bs_file *)pf;

	switch (f->kind) {
	case F_MAIN:
		return main_write(f, buf, amt, off);
	case F_WAL:
		return wal_write(f, buf, amt, off);
	default:
		return journal_write(f, buf, amt, off);
	}
}

static int x_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	bs_file *f = (bs_file *)pf;

	f->last_hdr_off = -1;
	return f->real->pMethods->xTruncate(f->real, size);
}

static int x_sync(sqlite3_file *pf, int flags)
{
	bs_file *f = (bs_file *)pf;

	return f->real->pMethods->xSync(f->real, flags);
}

static int x_file_size(sqlite3_file *pf, sqlite3_int64 *size)
{
	bs_file *f = (bs_file *)pf;

	return f->real->pMethods->xFileSize(f->real, size);
}

static int x_lock(sqlite3_file *pf, int level)
{
	bs_file *f = (bs_file *)pf;

	return f->real->pMethods->xLock(f->real, level);
}

static int x_unlock(sqlite3_file *pf, int level)
{
	bs_file *f = (bs_file *)pf;

	return f->real->pMethods->xUnlock(f->real, level);
}

static int x_check_reserved(sqlite3_file *pf, int *out)
{
	bs_file *f = (bs_file *)pf;

	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int x_file_control(sqlite3_file *pf, int op, void *arg)
{
	bs_file *f = (bs_file *)pf;

	switch (op) {
	case SQLITE_FCNTL_MMAP_SIZE:
		/* Memory-mapped pages would bypass decryption. */
		*(sqlite3_int64 *)arg = 0;
		return SQLITE_OK;
	case SQLITE_FCNTL_PRAGMA: {
		char **a = arg;
		if (a[1] != NULL && sqlite3_stricmp(a[1], "page_size") == 0 &&
		    a[2] != NULL && sqlite3_strglob("4096", a[2]) != 0) {
			a[0] = sqlite3_mprintf("the page size of a branchsync "
					       "store is fixed at %d",
					       P);
			return SQLITE_ERROR;
		}
		if (a[1] != NULL && sqlite3_stricmp(a[1], "mmap_size") == 0 &&
		    a[2] != NULL) {
			a[0] = sqlite3_mprintf("0");
			return SQLITE_OK;
		}
		break;
	}
	case SQLITE_FCNTL_CKPT_START:
		checkpointing = f->vfs;
		break;
	case SQLITE_FCNTL_CKPT_DONE:
		checkpointing = NULL;
		break;
	case SQLITE_FCNTL_VFSNAME:
		*(char **)arg = sqlite3_mprintf("%s", f->vfs->name);
		return SQLITE_OK;
	}
	return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int x_sector_size(sqlite3_file *pf)
{
	bs_file *f = (bs_file *)pf;

	return f->real->pMethods->xSectorSize(f->real);
}

static int x_device_characteristics(sqlite3_file *pf)
{
	bs_file *f = (bs_file *)pf;

	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int x_shm_map(sqlite3_file *pf, int pg, int pgsz, int extend,
		     void volatile **pp)
{
	bs_file *f = (bs_file *)pf;

	return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, pp);
}

static int x_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
	bs_file *f = (bs_file *)pf;

	return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void x_shm_barrier(sqlite3_file *pf)
{
	bs_file *f = (bs_file *)pf;

	f->real->pMethods->xShmBarrier(f->real);
}

static int x_shm_unmap(sqlite3_file *pf, int del)
{
	bs_file *f = (bs_file *)pf;

	return f->real->pMethods->xShmUnmap(f->real, del);
}

/*
 * Version 2: the WAL needs the shared-memory methods, and leaving out
 * xFetch/xUnfetch (version 3) is what keeps SQLite from ever mapping
 * the file into memory, whatever PRAGMA mmap_size says.
 */
static const sqlite3_io_methods io_methods = {
	2,
	x_close,
	x_read,
	x_write,
	x_truncate,
	x_sync,
	x_file_size,
	x_lock,
	x_unlock,
	x_check_reserved,
	x_file_control,
	x_sector_size,
	x_device_characteristics,
	x_shm_map,
	x_shm_lock,
	x_shm_barrier,
	x_shm_unmap,
	NULL,
	NULL,
};

/* --- VFS methods ------------------------------------------------------- */

static int has_suffix_of(const char *name, const char *path,
			 const char *suffix)
{
	size_t n = strlen(path);

	return strncmp(name, path, n) == 0 && strcmp(name + n, suffix) == 0;
}

static int x_open(sqlite3_vfs *pv, sqlite3_filename name, sqlite3_file *pf,
		  int flags, int *out_flags)
{
	bs__vfs *v = pv->pAppData;
	bs_file *f = (bs_file *)pf;
	int type = flags & 0x0FFF00;
	int rc;

	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	f->vfs = v;
	f->last_hdr_off = -1;
	switch (type) {
	case SQLITE_OPEN_MAIN_DB:
		f->kind = F_MAIN;
		if (name == NULL || strcmp(name, v->path) != 0)
			return SQLITE_CANTOPEN;
		break;
	case SQLITE_OPEN_WAL:
		f->kind = F_WAL;
		if (name == NULL || !has_suffix_of(name, v->path, "-wal"))
			return SQLITE_CANTOPEN;
		break;
	case SQLITE_OPEN_MAIN_JOURNAL:
		f->kind = F_JOURNAL;
		if (name == NULL || !has_suffix_of(name, v->path, "-journal"))
			return SQLITE_CANTOPEN;
		break;
	case SQLITE_OPEN_SUBJOURNAL:
		f->kind = F_SUBJOURNAL;
		break;
	default:
		/* Temporary databases and journals would be written in
		 * plaintext: every connection runs with temp_store=MEMORY,
		 * and anything that still asks for one is refused. */
		return SQLITE_CANTOPEN;
	}
	f->scratch = sqlite3_malloc(2 * P);
	if (f->scratch == NULL)
		return SQLITE_NOMEM;
	if (bs__cipher_init(&f->cipher, v->kid[1], v->page_key) != BS_OK) {
		sqlite3_free(f->scratch);
		f->scratch = NULL;
		return SQLITE_CANTOPEN;
	}
	rc = v->root->xOpen(v->root, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		bs__cipher_free(&f->cipher);
		sqlite3_free(f->scratch);
		f->scratch = NULL;
		return rc;
	}
	f->base.pMethods = &io_methods;
	return SQLITE_OK;
}

static int x_delete(sqlite3_vfs *pv, const char *name, int sync_dir)
{
	bs__vfs *v = pv->pAppData;

	return v->root->xDelete(v->root, name, sync_dir);
}

static int x_access(sqlite3_vfs *pv, const char *name, int flags, int *out)
{
	bs__vfs *v = pv->pAppData;

	return v->root->xAccess(v->root, name, flags, out);
}

static int x_full_pathname(sqlite3_vfs *pv, const char *name, int n,
			   char *out)
{
	bs__vfs *v = pv->pAppData;

	return v->root->xFullPathname(v->root, name, n, out);
}

static void *x_dl_open(sqlite3_vfs *pv, const char *name)
{
	(void)pv;
	(void)name;
	return NULL; /* no loadable extensions in a store */
}

static void x_dl_error(sqlite3_vfs *pv, int n, char *msg)
{
	(void)pv;
	if (n > 0)
		snprintf(msg, (size_t)n, "extensions are disabled");
}

static void (*x_dl_sym(sqlite3_vfs *pv, void *h, const char *sym))(void)
{
	(void)pv;
	(void)h;
	(void)sym;
	return NULL;
}

static void x_dl_close(sqlite3_vfs *pv, void *h)
{
	(void)pv;
	(void)h;
}

static int x_randomness(sqlite3_vfs *pv, int n, char *out)
{
	bs__vfs *v = pv->pAppData;

	return v->root->xRandomness(v->root, n, out);
}

static int x_sleep(sqlite3_vfs *pv, int us)
{
	bs__vfs *v = pv->pAppData;

	return v->root->xSleep(v->root, us);
}

static int x_current_time(sqlite3_vfs *pv, double *out)
{
	bs__vfs *v = pv->pAppData;

	return v->root->xCurrentTime(v->root, out);
}

static int x_last_error(sqlite3_vfs *pv, int n, char *out)
{
	bs__vfs *v = pv->pAppData;

	return v->root->xGetLastError(v->root, n, out);
}

static int x_current_time_i64(sqlite3_vfs *pv, sqlite3_int64 *out)
{
	bs__vfs *v = pv->pAppData;

	return v->root->xCurrentTimeInt64(v->root, out);
}

int bs__vfs_create(bs__vfs **out, const char *path,
		   const uint8_t db_id[BS_DBID_LEN],
		   const uint8_t page_key[BS_KEY_LEN], int cipher,
		   uint32_t epoch)
{
	sqlite3_vfs *root = sqlite3_vfs_find(NULL);
	bs__vfs *v;

	*out = NULL;
	if (root == NULL || root->iVersion < 2)
		return bs__error(BS_ERR, "no usable default SQLite VFS");
	if (bs__cipher_name(cipher) == NULL || epoch > 0xffff)
		return bs__error(BS_EINVAL, "bad cipher or key epoch");
	v = bs__calloc(1, sizeof(*v));
	if (v == NULL)
		return bs__error_code(BS_ENOMEM);
	/* x_open gets the name as SQLite made it full: compare with that
	 * (a relative store folder, a symbolic link on the way). */
	v->path = bs__malloc((size_t)root->mxPathname + 1);
	/* SQLITE_OK_SYMLINK is a success too. */
	if (v->path != NULL &&
	    (root->xFullPathname(root, path, root->mxPathname + 1, v->path) &
	     0xff) != SQLITE_OK) {
		bs__free(v->path);
		bs__free(v);
		return bs__error(BS_EINVAL, "store path %s cannot be resolved",
				 path);
	}
	if (v->path == NULL || pthread_mutex_init(&v->lock, NULL) != 0) {
		bs__free(v->path);
		bs__free(v);
		return bs__error_code(BS_ENOMEM);
	}
	bs_os_lock_memory(v->page_key, sizeof(v->page_key));
	memcpy(v->page_key, page_key, BS_KEY_LEN);
	memcpy(v->db_id, db_id, BS_DBID_LEN);
	v->kid[0] = KID_FORMAT;
	v->kid[1] = (uint8_t)cipher;
	bs__put_be16(v->kid + 2, (uint16_t)epoch);
	v->root = root;
	snprintf(v->name, sizeof(v->name), "branchsync-%p", (void *)v);
	v->base.iVersion = 2;
	v->base.szOsFile = (int)sizeof(bs_file) + root->szOsFile;
	v->base.mxPathname = root->mxPathname;
	v->base.zName = v->name;
	v->base.pAppData = v;
	v->base.xOpen = x_open;
	v->base.xDelete = x_delete;
	v->base.xAccess = x_access;
	v->base.xFullPathname = x_full_pathname;
	v->base.xDlOpen = x_dl_open;
	v->base.xDlError = x_dl_error;
	v->base.xDlSym = x_dl_sym;
	v->base.xDlClose = x_dl_close;
	v->base.xRandomness = x_randomness;
	v->base.xSleep = x_sleep;
	v->base.xCurrentTime = x_current_time;
	v->base.xGetLastError = x_last_error;
	v->base.xCurrentTimeInt64 = x_current_time_i64;
	if (sqlite3_vfs_register(&v->base, 0) != SQLITE_OK) {
		bs__vfs_destroy(v);
		return bs__error(BS_ERR, "cannot register the store VFS");
	}
	v->registered = 1;
	*out = v;
	return BS_OK;
}

void bs__vfs_destroy(bs__vfs *v)
{
	if (v == NULL)
		return;
	if (v->registered)
		sqlite3_vfs_unregister(&v->base);
	pthread_mutex_destroy(&v->lock);
	bs__wipe(v->page_key, sizeof(v->page_key));
	bs_os_unlock_memory(v->page_key, sizeof(v->page_key));
	bs__free(v->path);
	bs__wipe(v, sizeof(*v));
	bs__free(v);
}

const char *bs__vfs_name(const bs__vfs *v)
{
	return v->name;
}

int bs__vfs_fault(bs__vfs *v, uint32_t *pgno, const char **what)
{
	int fault;

	pthread_mutex_lock(&v->lock);
	if (pgno != NULL)
		*pgno = v->fault_pgno;
	if (what != NULL)
		*what = v->fault_what;
	fault = v->fault;
	pthread_mutex_unlock(&v->lock);
	return fault;
}

void bs__vfs_clear_fault(bs__vfs *v)
{
	set_fault(v, BS_OK, 0, NULL);
}

void bs__vfs_stats_get(bs__vfs *v, bs__vfs_stats *out)
{
	pthread_mutex_lock(&v->lock);
	*out = v->stats;
	pthread_mutex_unlock(&v->lock);
}
