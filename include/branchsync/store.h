/*
 * branchsync/store.h - the encrypted local ticket store.
 *
 * A store is a directory holding one SQLite database whose pages are
 * encrypted and authenticated one by one, and a key file with the key
 * slots that wrap its data key.  It opens with a staff member's PIN or
 * with the device key kept by the platform key store.
 *
 * All functions return BS_OK or a negative bs_error code and leave a
 * one-line message in bs_last_error().
 */
#ifndef BRANCHSYNC_STORE_H
#define BRANCHSYNC_STORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bs_store bs_store;

/* What unlocks a store. */
typedef enum bs_key_kind {
	BS_KEY_PIN = 1,    /* a staff member's PIN or password */
	BS_KEY_DEVICE = 2  /* the device key from the platform key store */
} bs_key_kind;

/*
 * A secret that unlocks a store.  For BS_KEY_PIN, staff names the slot
 * (NULL tries every PIN slot) and secret/secret_len is the PIN.  For
 * BS_KEY_DEVICE, staff and secret are ignored.  Borrowed for the call.
 */
typedef struct bs_key {
	bs_key_kind kind;
	const char *staff;
	const char *secret;
	size_t secret_len;
} bs_key;

/* Options for bs_store_create(); zeroed means defaults. */
typedef struct bs_store_opts {
	/*
	 * Target time of one PIN derivation in milliseconds; 0 means 500.
	 * The iteration count is calibrated on this device and kept in the
	 * slot.  Tests may lower it; the product never does.
	 */
	unsigned kdf_ms;
	/* Add a device slot as well as the PIN slot. */
	int device_slot;
	/* Force a page cipher (BS_CIPHER_*); 0 takes ChaCha20-Poly1305
	 * without AES instructions, else the faster of the two here. */
	int cipher;
} bs_store_opts;

#define BS_CIPHER_AES256GCM 1
#define BS_CIPHER_CHACHA20POLY1305 2

/*
 * Create a new store in dir (created 0700 if missing) for staff,
 * protected by the PIN in key.  BS_EEXISTS if dir already holds a store.
 * On success *out is open and owned by the caller.
 */
int bs_store_create(bs_store **out, const char *dir, const bs_key *key,
		    const bs_store_opts *opts);

/*
 * Open the store in dir.  BS_ENOTFOUND if there is none, BS_EBADKEY if
 * key opens no slot, BS_ENOTSTORE if the files are not a branchsync
 * store, BS_EDAMAGED if the key file or a page fails authentication.
 */
int bs_store_open(bs_store **out, const char *dir, const bs_key *key);

/* Close the store and wipe its keys.  Accepts NULL; cannot fail. */
void bs_store_close(bs_store *st);

/*
 * The store's SQLite connection, valid until bs_store_close().  Every
 * connection the store makes keeps temporary data in memory only.
 */
struct sqlite3 *bs_store_db(bs_store *st);

/* Schema version of the open store (PRAGMA user_version). */
int bs_store_schema_version(bs_store *st);

/* Staff member whose PIN opened the store, or "device". */
const char *bs_store_opened_by(bs_store *st);

/* Key epoch of the data key (1 at creation, +1 per rekey). */
uint32_t bs_store_epoch(bs_store *st);

/* Cipher in use, BS_CIPHER_*; its name in *name_out if not NULL. */
int bs_store_cipher(bs_store *st, const char **name_out);

/* Add a PIN slot for staff, calibrated like bs_store_create(). */
int bs_store_add_pin(bs_store *st, const char *staff, const char *pin,
		     size_t pin_len, unsigned kdf_ms);

/* Add (or replace) the device slot. */
int bs_store_add_device(bs_store *st);

/* Remove the slot of staff (or the device slot when staff is NULL).
 * Refused with BS_EREFUSED if it is the last slot. */
int bs_store_remove_slot(bs_store *st, const char *staff);

/*
 * Change the PIN of the staff member who opened the store: the data key
 * is rewrapped under the new PIN, nothing else is rewritten.
 * BS_EREFUSED if the store was opened with the device key.
 */
int bs_store_change_pin(bs_store *st, const char *pin, size_t pin_len,
			unsigned kdf_ms);

/*
 * Rotate the data key: every page is re-encrypted into a new file under
 * a new key and epoch, and the two are swapped atomically: after a crash
 * the store opens with the old key or the new one, never neither.  key
 * must open a slot (it is asked again so that no PIN is kept in memory);
 * that slot and the device slot are rewrapped, other PIN slots cannot
 * be (their PINs are unknown here) and are dropped, their count in
 * *dropped if not NULL.  BS_EBUSY if another process has the store open.
 */
int bs_store_rekey(bs_store *st, const bs_key *key, unsigned *dropped);

/*
 * Destroy the store in dir: key slots first (after which the data is
 * unreadable), then the database files.  The store must not be open.
 */
int bs_store_wipe(const char *dir);

/*
 * Check the whole store: every page authenticates and SQLite's
 * integrity_check passes.  BS_EDAMAGED names the first bad page.
 */
int bs_store_check(bs_store *st);

#ifdef __cplusplus
}
#endif
#endif
