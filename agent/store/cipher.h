/*
 * cipher.h - the page cipher: authenticated encryption of one database
 * page image with AES-256-GCM or ChaCha20-Poly1305, and the key schedule
 * that turns the data key into the page key of one key epoch.
 *
 * A context is caller-owned and holds expanded key material; wipe it with
 * bs__cipher_free() on every exit path.  A context is not thread-safe:
 * each open file has its own.
 */
#ifndef BS_STORE_CIPHER_H
#define BS_STORE_CIPHER_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/chachapoly.h>
#include <mbedtls/gcm.h>

#define BS_KEY_LEN 32
#define BS_DBID_LEN 16
#define BS_NONCE_LEN 12
#define BS_TAG_LEN 16

typedef struct bs__cipher {
	int kind; /* BS_CIPHER_AES256GCM or BS_CIPHER_CHACHA20POLY1305 */
	union {
		mbedtls_gcm_context gcm;
		mbedtls_chachapoly_context chachapoly;
	} u;
} bs__cipher;

/* Name of a cipher ("aes-256-gcm"), or NULL if kind is unknown. */
const char *bs__cipher_name(int kind);

/*
 * Derive the page key of epoch from the data key: HKDF-SHA256 with the
 * database id as salt and "branchsync pages v1" || cipher || epoch as
 * info, so each epoch and each cipher has its own key.
 */
int bs__cipher_page_key(uint8_t out[BS_KEY_LEN], const uint8_t dek[BS_KEY_LEN],
			const uint8_t db_id[BS_DBID_LEN], int kind,
			uint32_t epoch);

/* Set up ctx with key.  BS_EINVAL for an unknown kind. */
int bs__cipher_init(bs__cipher *ctx, int kind, const uint8_t key[BS_KEY_LEN]);

/* Wipe ctx.  Accepts a context that was never initialised if zeroed. */
void bs__cipher_free(bs__cipher *ctx);

/* Seal in[0..len) into out (may not alias in) with nonce and aad,
 * writing the tag.  Cannot fail for valid arguments; BS_ERR otherwise. */
int bs__cipher_seal(bs__cipher *ctx, uint8_t *out, const uint8_t *in,
		    size_t len, const uint8_t nonce[BS_NONCE_LEN],
		    const uint8_t *aad, size_t aad_len,
		    uint8_t tag[BS_TAG_LEN]);

/* Open in[0..len) into out (may not alias in).  BS_EDAMAGED if the tag
 * does not verify; out is then zeroed. */
int bs__cipher_open(bs__cipher *ctx, uint8_t *out, const uint8_t *in,
		    size_t len, const uint8_t nonce[BS_NONCE_LEN],
		    const uint8_t *aad, size_t aad_len,
		    const uint8_t tag[BS_TAG_LEN]);

/*
 * The page cipher for a new store on this device: ChaCha20-Poly1305
 * where the CPU has no AES instructions, else whichever of the two seals
 * a page faster here (measured now, in about a millisecond).
 */
int bs__cipher_pick(void);

/* Wipe n bytes at p so the compiler cannot drop it. */
void bs__wipe(void *p, size_t n);

#endif
