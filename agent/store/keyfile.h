/*
 * keyfile.h - the key file of a store: the database id, the key epoch,
 * the page cipher, and key slots, each wrapping the data key (DEK) under
 * a key-encryption key derived from one secret: a staff member's PIN
 * (PBKDF2-HMAC-SHA512, iterations calibrated per device and kept in the
 * slot) or the device key from the platform key store.  Like LUKS key
 * slots: the DEK never touches the disk unwrapped, and a PIN change only
 * rewraps it.
 *
 * On disk (all integers big-endian):
 *   0   8  magic "BSKEYS01"
 *   8  16  database id            24  4  key epoch
 *  28   1  page cipher            29  1  log2 of the page size
 *  30   2  number of slots        32 ... slots, 146 bytes each
 *  end 32  SHA-256 of everything before it (tells damage from a wrong PIN)
 * A slot: kind (1), name length (1), name (64, zero-padded), PBKDF2
 * iterations (4), salt (16), nonce (12), wrapped DEK (32), tag (16).
 * The wrap is ChaCha20-Poly1305 (constant-time on every CPU) with the
 * file header and the slot's own fields as associated data, so neither
 * can be altered without the slot failing to open.
 */
#ifndef BS_STORE_KEYFILE_H
#define BS_STORE_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "branchsync/store.h"
#include "cipher.h"

#define BS_KEYFILE_MAX_SLOTS 16
#define BS_SLOT_NAME_MAX 64
#define BS_SALT_LEN 16

typedef struct bs__slot {
	uint8_t kind; /* BS_KEY_PIN or BS_KEY_DEVICE */
	char name[BS_SLOT_NAME_MAX + 1];
	uint32_t iterations;
	uint8_t salt[BS_SALT_LEN];
	uint8_t nonce[BS_NONCE_LEN];
	uint8_t wrapped[BS_KEY_LEN];
	uint8_t tag[BS_TAG_LEN];
} bs__slot;

typedef struct bs__keyfile {
	uint8_t db_id[BS_DBID_LEN];
	uint32_t epoch;
	uint8_t cipher;
	uint8_t page_shift;
	unsigned nslots;
	bs__slot slots[BS_KEYFILE_MAX_SLOTS];
} bs__keyfile;

/*
 * Read and check the key file at path.  BS_ENOTFOUND if missing,
 * BS_ENOTSTORE if it is not a branchsync key file, BS_EDAMAGED if it is
 * truncated or its checksum fails.
 */
int bs__keyfile_read(bs__keyfile *out, const char *path);

/* Write kf to path atomically and durably (0600). */
int bs__keyfile_write(const bs__keyfile *kf, const char *path);

/*
 * Unwrap the DEK with a secret.  For BS_KEY_PIN, every PIN slot named
 * staff (every PIN slot if staff is NULL) is tried; for BS_KEY_DEVICE,
 * secret is the 32-byte device key.  *slot_out gets the slot's index.
 * BS_EBADKEY if no slot opens.  dek is wiped on failure.
 */
int bs__keyfile_unlock(uint8_t dek[BS_KEY_LEN], unsigned *slot_out,
		       const bs__keyfile *kf, int kind, const char *staff,
		       const uint8_t *secret, size_t secret_len);

/*
 * Add a slot wrapping dek under secret, replacing a slot of the same
 * kind and name.  For BS_KEY_PIN, iterations is the PBKDF2 count; for
 * BS_KEY_DEVICE, secret is the 32-byte device key and name is "device".
 * BS_EINVAL for a bad name or secret, BS_EREFUSED if the file is full.
 */
int bs__keyfile_add(bs__keyfile *kf, const uint8_t dek[BS_KEY_LEN], int kind,
		    const char *name, const uint8_t *secret, size_t secret_len,
		    uint32_t iterations);

/* Index of the slot of kind named name, or -1. */
int bs__keyfile_find(const bs__keyfile *kf, int kind, const char *name);

/* Remove slot i (the caller checks it is not the last). */
void bs__keyfile_remove(bs__keyfile *kf, unsigned i);

/*
 * PBKDF2 iterations that take about ms milliseconds on this device,
 * measured now.  Never fewer than 100,000 when ms >= 100 (the product's
 * floor); lower targets exist for tests only.
 */
uint32_t bs__kdf_calibrate(unsigned ms);

#endif
