/*
 * store.c - the store as a whole: a directory with the key file, the
 * encrypted database of the current key epoch, and a lock file.
 *
 *   DIR/keys            key slots (keyfile.h), replaced atomically
 *   DIR/store-N.db      the database of key epoch N (+ -wal, -shm)
 *   DIR/lock            shared while open, exclusive to rekey or wipe
 *
 * The key file names the epoch, so it is the single commit point of a
 * data-key rotation: the new database is written and made durable under
 * its own name first, then the key file is replaced.  Whatever the
 * moment of a crash, the key file and the database it names agree.
 *
 * This file is divided into: paths and errors; opening (unlock, the
 * connection and its settings); slot management; rotation; wipe; check.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "agent/core/common.h"
#include "agent/core/embed.h"
#include "agent/core/sqlite.h"
#include "branchsync/store.h"
#include "platform/os.h"
#include "checkpoint.h"
#include "keyfile.h"
#include "migrate.h"
#include "schema_fns.h"
#include "store_internal.h"
#include "vfs.h"

/* Page cache per connection: big enough for a staff member's working
 * set, so warm reads cost no decryption. */
#define CACHE_KIB 32768

/* Bytes of WAL file kept once the WAL starts over: what SQLite's own
 * checkpoints keep it to (checkpoint.h); a bigger file is cut back. */
#define WAL_KEEP 4194304

struct bs_store {
	char dir[PATH_MAX];
	char keys_path[PATH_MAX];
	char db_path[PATH_MAX];
	int lock_fd;
	bs__keyfile kf;
	uint8_t dek[BS_KEY_LEN];
	char opened_by[BS_SLOT_NAME_MAX + 1];
	int opened_kind;
	bs__vfs *vfs;
	sqlite3 *db;
	bs__ckpt *ckpt;          /* db's checkpoints (checkpoint.h) */
};

/* --- paths and errors ------------------------------------------------- */

static int join(char *out, const char *dir, const char *name)
{
	if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
		return bs__error(BS_EINVAL, "store path is too long");
	return BS_OK;
}

static int db_name(char *out, const char *dir, uint32_t epoch)
{
	if (snprintf(out, PATH_MAX, "%s/store-%u.db", dir, (unsigned)epoch) >=
	    PATH_MAX)
		return bs__error(BS_EINVAL, "store path is too long");
	return BS_OK;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Name of a store's device key in the platform key store. */
static void device_key_name(char out[2 * BS_DBID_LEN + 1],
			    const uint8_t db_id[BS_DBID_LEN])
{
	hex(out, db_id, BS_DBID_LEN);
}

static int sqlite_error(sqlite3 *db, bs__vfs *vfs, int src, const char *what)
{
	uint32_t pgno = 0;
	const char *detail = NULL;
	int fault = vfs != NULL ? bs__vfs_fault(vfs, &pgno, &detail) : BS_OK;
	int prim = src & 0xff;

	if (fault == BS_ENOTSTORE)
		return bs__error(BS_ENOTSTORE, "not a branchsync store: %s",
				 detail);
	if (fault == BS_EDAMAGED)
		return bs__error(BS_EDAMAGED, "store is damaged: page %u %s",
				 (unsigned)pgno, detail);
	switch (prim) {
	case SQLITE_NOMEM:
		return bs__error_code(BS_ENOMEM);
	case SQLITE_NOTADB:
		return bs__error(BS_ENOTSTORE, "not a branchsync store");
	case SQLITE_CORRUPT:
		return bs__error(BS_EDAMAGED, "store is damaged: %s",
				 db ? sqlite3_errmsg(db) : "corrupt");
	case SQLITE_FULL:
		return bs__error(BS_EIO, "%s: disk is full", what);
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return bs__error(BS_EBUSY, "%s: store is busy", what);
	case SQLITE_CONSTRAINT:
		return bs__error(BS_EINVAL, "%s: %s", what,
				 db ? sqlite3_errmsg(db) : "constraint");
	}
	return bs__error(BS_EIO, "%s: %s", what,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(src));
}

int bs__store_error(bs_store *st, int src, const char *what)
{
	return sqlite_error(st->db, st->vfs, src, what);
}

static int exec(sqlite3 *db, bs__vfs *vfs, const char *sql)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return sqlite_error(db, vfs, rc, sql);
	return BS_OK;
}

/* --- opening ----------------------------------------------------------- */

/*
 * Open a connection to the database at path through a new VFS for the
 * key material in kf/dek, set it up, and create its first page if the
 * file is new.  On failure nothing stays open.
 */
static int connect(sqlite3 **db_out, bs__vfs **vfs_out, const char *path,
		   const bs__keyfile *kf, const uint8_t dek[BS_KEY_LEN])
{
	uint8_t page_key[BS_KEY_LEN];
	sqlite3 *db = NULL;
	bs__vfs *vfs = NULL;
	int reserve = BS_RESERVE;
	int rc;
	int src;

	*db_out = NULL;
	*vfs_out = NULL;
	bs__sqlite_setup();
	rc = bs__cipher_page_key(page_key, dek, kf->db_id, kf->cipher,
				 kf->epoch);
	if (rc == BS_OK)
		rc = bs__vfs_create(&vfs, path, kf->db_id, page_key, kf->cipher,
				    kf->epoch);
	bs__wipe(page_key, sizeof(page_key));
	if (rc != BS_OK)
		return rc;
	/* SQLite gives the WAL and journals the mode of the database file:
	 * create it private. */
	if (!bs_os_exists(path) && (rc = bs_os_create_private(path)) != BS_OK)
		goto fail;
	src = sqlite3_open_v2(path, &db,
			      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				      SQLITE_OPEN_NOMUTEX,
			      bs__vfs_name(vfs));
	if (src != SQLITE_OK) {
		rc = sqlite_error(db, vfs, src, "open store");
		goto fail;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 5000);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	if ((rc = bs__schema_fns(db)) != BS_OK)
		goto fail;
	/* The schema itself is authenticated page by page, so it is trusted
	 * (its CHECK constraints use the JSON functions). */
	/* The reserve must be in place before the first page is written;
	 * on an existing file it is a no-op. */
	sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
	/* temp_store first: nothing may ever spill to a plaintext file.
	 * synchronous=FULL: a committed reply survives power loss too. */
	rc = exec(db, vfs,
		  "PRAGMA temp_store=MEMORY;"
		  "PRAGMA page_size=4096;"
		  "PRAGMA cache_size=-" BS__STR(CACHE_KIB) ";"
		  "PRAGMA foreign_keys=ON;"
		  "PRAGMA journal_mode=WAL;"
		  "PRAGMA journal_size_limit=" BS__STR(WAL_KEEP) ";"
		  "PRAGMA synchronous=FULL;");
	if (rc != BS_OK)
		goto fail;
	*db_out = db;
	*vfs_out = vfs;
	return BS_OK;
fail:
	sqlite3_close(db);
	bs__vfs_destroy(vfs);
	return rc;
}

/* Remove database files of epochs other than the current one: what an
 * interrupted rotation leaves behind. */
static void remove_stale(const char *dir, uint32_t epoch)
{
	char keep[64];
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	snprintf(keep, sizeof(keep), "store-%u.db", (unsigned)epoch);
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "store-", 6) != 0 ||
		    strncmp(e->d_name, keep, strlen(keep)) == 0)
			continue;
		if (join(path, dir, e->d_name) == BS_OK)
			(void)bs_os_remove(path);
	}
	closedir(d);
}

static int get_secret(const bs_store *st, const bs_key *key,
		      uint8_t device_key[BS_OS_KEY_LEN], const uint8_t **secret,
		      size_t *len)
{
	char name[2 * BS_DBID_LEN + 1];
	int rc;

	if (key == NULL)
		return bs__error(BS_EINVAL, "no key given");
	if (key->kind == BS_KEY_PIN) {
		if (key->secret == NULL || key->secret_len == 0)
			return bs__error(BS_EBADKEY, "empty PIN");
		*secret = (const uint8_t *)key->secret;
		*len = key->secret_len;
		return BS_OK;
	}
	if (key->kind != BS_KEY_DEVICE)
		return bs__error(BS_EINVAL, "unknown key kind");
	device_key_name(name, st->kf.db_id);
	rc = bs_os_keystore_get(name, device_key);
	if (rc == BS_ENOTFOUND)
		return bs__error(BS_EBADKEY, "this device holds no key for the "
					     "store");
	*secret = device_key;
	*len = BS_OS_KEY_LEN;
	return rc;
}

static int unlock(bs_store *st, const bs_key *key)
{
	uint8_t device_key[BS_OS_KEY_LEN];
	const uint8_t *secret = NULL;
	size_t len = 0;
	unsigned slot = 0;
	int rc;

	rc = get_secret(st, key, device_key, &secret, &len);
	if (rc == BS_OK)
		rc = bs__keyfile_unlock(st->dek, &slot, &st->kf, key->kind,
					key->kind == BS_KEY_PIN ? key->staff
								: NULL,
					secret, len);
	bs__wipe(device_key, sizeof(device_key));
	if (rc != BS_OK)
		return rc;
	st->opened_kind = key->kind;
	memcpy(st->opened_by, st->kf.slots[slot].name,
	       sizeof(st->opened_by));
	return BS_OK;
}

static int store_new(bs_store **out, const char *dir)
{
	bs_store *st = bs__calloc(1, sizeof(*st));
	int rc;

	*out = NULL;
	if (st == NULL)
		return bs__error_code(BS_ENOMEM);
	st->lock_fd = -1;
	bs_os_lock_memory(st->dek, sizeof(st->dek));
	if (dir == NULL || dir[0] == '\0' ||
	    snprintf(st->dir, sizeof(st->dir), "%s", dir) >= PATH_MAX - 32) {
		bs_store_close(st);
		return bs__error(BS_EINVAL, "bad store directory");
	}
	if ((rc = join(st->keys_path, dir, "keys")) != BS_OK) {
		bs_store_close(st);
		return rc;
	}
	*out = st;
	return BS_OK;
}

/*
 * Take the store's shared lock.  It comes before the key file is read:
 * a rotation finishing between the read and the lock would otherwise
 * leave this process with the old epoch, and its clean-up would remove
 * the new database.
 */
static int lock_shared(bs_store *st)
{
	char lock_path[PATH_MAX];
	int rc;

	if ((rc = join(lock_path, st->dir, "lock")) != BS_OK)
		return rc;
	return bs_os_lock(&st->lock_fd, lock_path, 0);
}

/* Hand db's checkpoints to the store's own thread (checkpoint.h), and
 * take them back; while none is started, commits checkpoint in place. */
static int checkpoints_on(bs_store *st)
{
	return bs__ckpt_start(&st->ckpt, st->db, st->db_path,
			      bs__vfs_name(st->vfs));
}

static void checkpoints_off(bs_store *st)
{
	bs__ckpt_stop(st->ckpt);
	st->ckpt = NULL;
}

/* Connect and migrate an unlocked store, under its shared lock. */
static int attach_db(bs_store *st)
{
	int rc;
	int src;

	remove_stale(st->dir, st->kf.epoch);
	if ((rc = db_name(st->db_path, st->dir, st->kf.epoch)) != BS_OK)
		return rc;
	if ((rc = connect(&st->db, &st->vfs, st->db_path, &st->kf, st->dek)) !=
	    BS_OK)
		return rc;
	/* Read page 1 now, so a wrong file is reported at open. */
	src = sqlite3_exec(st->db, "SELECT count(*) FROM sqlite_schema", NULL,
			   NULL, NULL);
	if (src != SQLITE_OK)
		return bs__store_error(st, src, "open store");
	if ((rc = bs__migrate(st->db, bs__migrations)) != BS_OK)
		return rc;
	return checkpoints_on(st);
}

int bs_store_create(bs_store **out, const char *dir, const bs_key *key,
		    const bs_store_opts *opts)
{
	static const bs_store_opts defaults;
	bs_store *st = NULL;
	uint8_t device_key[BS_OS_KEY_LEN];
	char name[2 * BS_DBID_LEN + 1];
	int rc;

	*out = NULL;
	bs__error_clear();
	if (opts == NULL)
		opts = &defaults;
	if (key == NULL || key->kind != BS_KEY_PIN || key->staff == NULL)
		return bs__error(BS_EINVAL, "a new store needs a staff member "
					    "and a PIN");
	if ((rc = store_new(&st, dir)) != BS_OK)
		return rc;
	if (bs_os_exists(st->keys_path)) {
		rc = bs__error(BS_EEXISTS, "%s already holds a store", dir);
		goto fail;
	}
	if ((rc = bs_os_mkdir_private(dir)) != BS_OK ||
	    (rc = lock_shared(st)) != BS_OK)
		goto fail;
	if (bs_os_exists(st->keys_path)) {
		rc = bs__error(BS_EEXISTS, "%s already holds a store", dir);
		goto fail;
	}
	st->kf.cipher = (uint8_t)(opts->cipher ? opts->cipher
						: bs__cipher_pick());
	if (bs__cipher_name(st->kf.cipher) == NULL) {
		rc = bs__error(BS_EINVAL, "unknown cipher %d", opts->cipher);
		goto fail;
	}
	st->kf.epoch = 1;
	st->kf.page_shift = 12;
	if ((rc = bs_os_random(st->kf.db_id, BS_DBID_LEN)) != BS_OK ||
	    (rc = bs_os_random(st->dek, BS_KEY_LEN)) != BS_OK)
		goto fail;
	rc = bs__keyfile_add(&st->kf, st->dek, BS_KEY_PIN, key->staff,
			     (const uint8_t *)key->secret, key->secret_len,
			     bs__kdf_calibrate(opts->kdf_ms ? opts->kdf_ms
							    : 500));
	if (rc != BS_OK)
		goto fail;
	if (opts->device_slot) {
		device_key_name(name, st->kf.db_id);
		rc = bs_os_random(device_key, sizeof(device_key));
		if (rc == BS_OK)
			rc = bs_os_keystore_put(name, device_key);
		if (rc == BS_OK)
			rc = bs__keyfile_add(&st->kf, st->dek, BS_KEY_DEVICE,
					     "device", device_key,
					     sizeof(device_key), 0);
		bs__wipe(device_key, sizeof(device_key));
		if (rc != BS_OK)
			goto fail;
	}
	/* The key file first: a database without one would be unreadable. */
	if ((rc = bs__keyfile_write(&st->kf, st->keys_path)) != BS_OK)
		goto fail;
	st->opened_kind = BS_KEY_PIN;
	snprintf(st->opened_by, sizeof(st->opened_by), "%s", key->staff);
	if ((rc = attach_db(st)) != BS_OK)
		goto fail;
	*out = st;
	return BS_OK;
fail:
	bs_store_close(st);
	return rc;
}

int bs_store_open(bs_store **out, const char *dir, const bs_key *key)
{
	bs_store *st = NULL;
	int rc;

	*out = NULL;
	bs__error_clear();
	if ((rc = store_new(&st, dir)) != BS_OK)
		return rc;
	if (!bs_os_exists(st->keys_path)) {
		bs_store_close(st);
		return bs__error(BS_ENOTFOUND, "no store in %s", dir);
	}
	rc = lock_shared(st);
	if (rc == BS_OK)
		rc = bs__keyfile_read(&st->kf, st->keys_path);
	if (rc == BS_ENOTFOUND)
		rc = bs__error(BS_ENOTFOUND, "no store in %s", dir);
	if (rc == BS_OK)
		rc = unlock(st, key);
	if (rc == BS_OK)
		rc = attach_db(st);
	if (rc != BS_OK) {
		bs_store_close(st);
		return rc;
	}
	*out = st;
	return BS_OK;
}

void bs_store_close(bs_store *st)
{
	if (st == NULL)
		return;
	checkpoints_off(st);
	if (st->db != NULL)
		sqlite3_close_v2(st->db);
	bs__vfs_destroy(st->vfs);
	bs_os_unlock(st->lock_fd);
	bs__wipe(st->dek, sizeof(st->dek));
	bs_os_unlock_memory(st->dek, sizeof(st->dek));
	bs__wipe(st, sizeof(*st));
	bs__free(st);
}

sqlite3 *bs_store_db(bs_store *st)
{
	return st->db;
}

int bs_store_schema_version(bs_store *st)
{
	sqlite3_stmt *s = NULL;
	int v = -1;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) ==
		    SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

const char *bs_store_opened_by(bs_store *st)
{
	return st->opened_by;
}

uint32_t bs_store_epoch(bs_store *st)
{
	return st->kf.epoch;
}

int bs_store_cipher(bs_store *st, const char **name_out)
{
	if (name_out != NULL)
		*name_out = bs__cipher_name(st->kf.cipher);
	return st->kf.cipher;
}

bs__vfs *bs__store_vfs(bs_store *st)
{
	return st->vfs;
}

const char *bs__store_db_path(bs_store *st)
{
	return st->db_path;
}

unsigned long bs__store_checkpoints(bs_store *st)
{
	return st->ckpt != NULL ? bs__ckpt_runs(st->ckpt) : 0;
}

void bs__store_set_checkpoint_limit(int pages)
{
	bs__ckpt_set_limit(pages);
}

/* --- slots ------------------------------------------------------------- */

/* Write a changed copy of the key file; adopt it only once durable. */
static int commit_keyfile(bs_store *st, const bs__keyfile *kf)
{
	int rc = bs__keyfile_write(kf, st->keys_path);

	if (rc == BS_OK)
		st->kf = *kf;
	return rc;
}

int bs_store_add_pin(bs_store *st, const char *staff, const char *pin,
		     size_t pin_len, unsigned kdf_ms)
{
	bs__keyfile kf = st->kf;
	int rc;

	bs__error_clear();
	if (staff == NULL || pin == NULL)
		return bs__error(BS_EINVAL, "staff and PIN are required");
	if (bs__keyfile_find(&kf, BS_KEY_PIN, staff) >= 0)
		return bs__error(BS_EEXISTS, "staff %s already has a slot",
				 staff);
	rc = bs__keyfile_add(&kf, st->dek, BS_KEY_PIN, staff,
			     (const uint8_t *)pin, pin_len,
			     bs__kdf_calibrate(kdf_ms ? kdf_ms : 500));
	if (rc == BS_OK)
		rc = commit_keyfile(st, &kf);
	bs__wipe(&kf, sizeof(kf));
	return rc;
}

int bs_store_add_device(bs_store *st)
{
	uint8_t device_key[BS_OS_KEY_LEN];
	char name[2 * BS_DBID_LEN + 1];
	bs__keyfile kf = st->kf;
	int rc;

	bs__error_clear();
	device_key_name(name, st->kf.db_id);
	rc = bs_os_random(device_key, sizeof(device_key));
	if (rc == BS_OK)
		rc = bs__keyfile_add(&kf, st->dek, BS_KEY_DEVICE, "device",
				     device_key, sizeof(device_key), 0);
	/* Key store first: a slot whose key is nowhere would be dead. */
	if (rc == BS_OK)
		rc = bs_os_keystore_put(name, device_key);
	if (rc == BS_OK)
		rc = commit_keyfile(st, &kf);
	bs__wipe(device_key, sizeof(device_key));
	bs__wipe(&kf, sizeof(kf));
	return rc;
}

int bs_store_remove_slot(bs_store *st, const char *staff)
{
	char name[2 * BS_DBID_LEN + 1];
	bs__keyfile kf = st->kf;
	int i;
	int rc;

	bs__error_clear();
	i = staff == NULL ? bs__keyfile_find(&kf, BS_KEY_DEVICE, "device")
			  : bs__keyfile_find(&kf, BS_KEY_PIN, staff);
	if (i < 0)
		return bs__error(BS_ENOTFOUND, "no slot for %s",
				 staff ? staff : "the device");
	if (kf.nslots == 1)
		return bs__error(BS_EREFUSED, "the last key slot cannot be "
					      "removed");
	bs__keyfile_remove(&kf, (unsigned)i);
	rc = commit_keyfile(st, &kf);
	bs__wipe(&kf, sizeof(kf));
	if (rc == BS_OK && staff == NULL) {
		device_key_name(name, st->kf.db_id);
		rc = bs_os_keystore_delete(name);
	}
	return rc;
}

int bs_store_change_pin(bs_store *st, const char *pin, size_t pin_len,
			unsigned kdf_ms)
{
	bs__keyfile kf = st->kf;
	int rc;

	bs__error_clear();
	if (st->opened_kind != BS_KEY_PIN)
		return bs__error(BS_EREFUSED, "open the store with a PIN to "
					      "change it");
	if (pin == NULL || pin_len == 0)
		return bs__error(BS_EINVAL, "the new PIN is empty");
	rc = bs__keyfile_add(&kf, st->dek, BS_KEY_PIN, st->opened_by,
			     (const uint8_t *)pin, pin_len,
			     bs__kdf_calibrate(kdf_ms ? kdf_ms : 500));
	if (rc == BS_OK)
		rc = commit_keyfile(st, &kf);
	bs__wipe(&kf, sizeof(kf));
	return rc;
}

/* --- rotation ------------------------------------------------------------ */

/* Copy every page of st's database into the file at path under the new
 * key, checkpoint it into the main file and make it durable. */
static int copy_to(bs_store *st, const char *path, const bs__keyfile *kf,
		   const uint8_t dek[BS_KEY_LEN])
{
	sqlite3 *db = NULL;
	bs__vfs *vfs = NULL;
	sqlite3_backup *b;
	int rc;
	int src;

	if ((rc = connect(&db, &vfs, path, kf, dek)) != BS_OK)
		return rc;
	b = sqlite3_backup_init(db, "main", st->db, "main");
	if (b == NULL) {
		rc = sqlite_error(db, vfs, sqlite3_errcode(db), "rekey");
		goto cleanup;
	}
	src = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (src != SQLITE_DONE) {
		rc = sqlite_error(db, vfs, src, "rekey copy");
		goto cleanup;
	}
	src = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL,
			   NULL);
	if (src != SQLITE_OK)
		rc = sqlite_error(db, vfs, src, "rekey checkpoint");
cleanup:
	/* Closing the last connection checkpoints and syncs the file. */
	if (sqlite3_close(db) != SQLITE_OK && rc == BS_OK)
		rc = bs__error(BS_EIO, "rekey: cannot close the new file");
	bs__vfs_destroy(vfs);
	return rc;
}

int bs_store_rekey(bs_store *st, const bs_key *key, unsigned *dropped)
{
	uint8_t device_key[BS_OS_KEY_LEN];
	uint8_t dek[BS_KEY_LEN];
	uint8_t check[BS_KEY_LEN];
	char new_path[PATH_MAX];
	const uint8_t *secret = NULL;
	size_t len = 0;
	bs__keyfile kf;
	unsigned slot = 0;
	unsigned i;
	int rc;

	bs__error_clear();
	memset(&kf, 0, sizeof(kf));
	if (dropped != NULL)
		*dropped = 0;
	if ((rc = bs_os_relock(st->lock_fd, 1)) != BS_OK)
		return rc;
	rc = get_secret(st, key, device_key, &secret, &len);
	if (rc == BS_OK)
		rc = bs__keyfile_unlock(check, &slot, &st->kf, key->kind,
					key->kind == BS_KEY_PIN ? key->staff
								: NULL,
					secret, len);
	bs__wipe(check, sizeof(check));
	if (rc != BS_OK)
		goto cleanup;
	memcpy(kf.db_id, st->kf.db_id, BS_DBID_LEN);
	kf.cipher = st->kf.cipher;
	kf.page_shift = st->kf.page_shift;
	kf.epoch = st->kf.epoch + 1;
	if (kf.epoch > 0xffff) {
		rc = bs__error(BS_EREFUSED, "key epochs are exhausted");
		goto cleanup;
	}
	if ((rc = bs_os_random(dek, sizeof(dek))) != BS_OK)
		goto cleanup;
	rc = bs__keyfile_add(&kf, dek, key->kind, st->kf.slots[slot].name,
			     secret, len, st->kf.slots[slot].iterations);
	if (rc != BS_OK)
		goto cleanup;
	for (i = 0; i < st->kf.nslots; i++) {
		const bs__slot *s = &st->kf.slots[i];
		bs_key dev = { BS_KEY_DEVICE, NULL, NULL, 0 };

		if (i == slot)
			continue;
		if (s->kind == BS_KEY_DEVICE) {
			rc = get_secret(st, &dev, device_key, &secret, &len);
			if (rc == BS_OK)
				rc = bs__keyfile_add(&kf, dek, BS_KEY_DEVICE,
						     "device", secret, len, 0);
			if (rc != BS_OK)
				goto cleanup;
		} else if (dropped != NULL) {
			(*dropped)++;
		}
	}
	if ((rc = db_name(new_path, st->dir, kf.epoch)) != BS_OK)
		goto cleanup;
	remove_stale(st->dir, st->kf.epoch);
	if ((rc = copy_to(st, new_path, &kf, dek)) != BS_OK ||
	    (rc = bs_os_fsync_dir(st->dir)) != BS_OK)
		goto cleanup;
	/* The commit point: from here on the new epoch is the store. */
	if ((rc = bs__keyfile_write(&kf, st->keys_path)) != BS_OK)
		goto cleanup;
	checkpoints_off(st);
	sqlite3_close_v2(st->db);
	st->db = NULL;
	bs__vfs_destroy(st->vfs);
	st->vfs = NULL;
	st->kf = kf;
	memcpy(st->dek, dek, sizeof(dek));
	remove_stale(st->dir, st->kf.epoch);
	if ((rc = db_name(st->db_path, st->dir, kf.epoch)) == BS_OK)
		rc = connect(&st->db, &st->vfs, st->db_path, &st->kf, st->dek);
	if (rc == BS_OK)
		rc = checkpoints_on(st);
cleanup:
	if (st->lock_fd >= 0)
		(void)bs_os_relock(st->lock_fd, 0);
	bs__wipe(dek, sizeof(dek));
	bs__wipe(device_key, sizeof(device_key));
	bs__wipe(&kf, sizeof(kf));
	return rc;
}

/* --- wipe ---------------------------------------------------------------- */

/* Overwrite a file with random bytes and sync it before it is removed. */
static void scrub(const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	if (bs_os_read_file(&buf, &len, path, 1 << 20) != BS_OK)
		return;
	if (bs_os_random(buf, len) == BS_OK)
		(void)bs_os_write_atomic(path, buf, len, 0600);
	bs__free(buf);
}

int bs_store_wipe(const char *dir)
{
	char path[PATH_MAX];
	char name[2 * BS_DBID_LEN + 1];
	bs__keyfile kf;
	struct dirent *e;
	DIR *d;
	int lock_fd = -1;
	int rc;

	bs__error_clear();
	if (dir == NULL || (rc = join(path, dir, "lock")) != BS_OK)
		return bs__error(BS_EINVAL, "bad store directory");
	if (!bs_os_exists(dir))
		return bs__error(BS_ENOTFOUND, "no store in %s", dir);
	if ((rc = bs_os_lock(&lock_fd, path, 1)) != BS_OK)
		return rc;
	/* Keys first: once the slots and the device key are gone, what is
	 * left of the database is ciphertext nobody can open. */
	if ((rc = join(path, dir, "keys")) != BS_OK)
		goto cleanup;
	if (bs__keyfile_read(&kf, path) == BS_OK) {
		device_key_name(name, kf.db_id);
		(void)bs_os_keystore_delete(name);
	}
	bs__wipe(&kf, sizeof(kf));
	scrub(path);
	if ((rc = bs_os_remove(path)) != BS_OK ||
	    (rc = bs_os_fsync_dir(dir)) != BS_OK)
		goto cleanup;
	d = opendir(dir);
	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strncmp(e->d_name, "store-", 6) != 0 &&
			    strcmp(e->d_name, "keys.tmp") != 0)
				continue;
			if (join(path, dir, e->d_name) == BS_OK &&
			    (rc = bs_os_remove(path)) != BS_OK)
				break;
		}
		closedir(d);
	}
	if (rc == BS_OK && (rc = join(path, dir, "lock")) == BS_OK)
		rc = bs_os_remove(path);
	if (rc == BS_OK)
		rc = bs_os_fsync_dir(dir);
	if (rc == BS_OK)
		rc = bs_os_rmdir(dir);
cleanup:
	bs_os_unlock(lock_fd);
	return rc;
}

/* --- check --------------------------------------------------------------- */

int bs_store_check(bs_store *st)
{
	sqlite3_file *f = NULL;
	sqlite3_int64 size = 0;
	sqlite3_stmt *s = NULL;
	uint8_t *page = NULL;
	sqlite3_int64 off;
	int rc = BS_OK;
	int src;

	bs__error_clear();
	/* The pages are read from the file below SQLite, which must not be
	 * writing them meanwhile: no checkpoint runs during the check (and
	 * none can leave a fault behind once it is cleared). */
	checkpoints_off(st);
	bs__vfs_clear_fault(st->vfs);
	/* Every page of the main file must authenticate, free pages too. */
	src = sqlite3_file_control(st->db, "main", SQLITE_FCNTL_FILE_POINTER,
				   &f);
	if (src != SQLITE_OK || f == NULL || f->pMethods == NULL)
		return bs__error(BS_ERR, "cannot reach the store file");
	if ((page = bs__malloc(BS_PAGE_SIZE)) == NULL)
		return bs__error_code(BS_ENOMEM);
	if ((src = f->pMethods->xFileSize(f, &size)) != SQLITE_OK) {
		rc = bs__store_error(st, src, "check");
		goto cleanup;
	}
	for (off = 0; off + BS_PAGE_SIZE <= size; off += BS_PAGE_SIZE) {
		src = f->pMethods->xRead(f, page, BS_PAGE_SIZE, off);
		if (src != SQLITE_OK) {
			rc = bs__store_error(st, src, "check");
			goto cleanup;
		}
	}
	src = sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &s,
				 NULL);
	if (src == SQLITE_OK)
		src = sqlite3_step(s);
	if (src != SQLITE_ROW) {
		rc = bs__store_error(st, src, "integrity check");
	} else if (strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0) {
		rc = bs__error(BS_EDAMAGED, "integrity check: %s",
			       (const char *)sqlite3_column_text(s, 0));
	}
cleanup:
	sqlite3_finalize(s);
	bs__free(page);
	/* Without the thread (no memory for it), commits checkpoint in
	 * place, as SQLite's own do. */
	(void)checkpoints_on(st);
	return rc;
}
