/*
 * cipher.c - page cipher and page-key schedule on mbedTLS.
 *
 * AES-256-GCM is used where mbedTLS has AES instructions (AES-NI on
 * x86-64); ChaCha20-Poly1305 elsewhere, because mbedTLS 2.28 on ARM has
 * only table-based AES, which is slow and leaks timing.  Both give a
 * 128-bit tag over ciphertext and associated data.
 */
#include <string.h>

#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "agent/core/common.h"
#include "branchsync/store.h"
#include "cipher.h"
#include "platform/os.h"

const char *bs__cipher_name(int kind)
{
	switch (kind) {
	case BS_CIPHER_AES256GCM:
		return "aes-256-gcm";
	case BS_CIPHER_CHACHA20POLY1305:
		return "chacha20-poly1305";
	}
	return NULL;
}

void bs__wipe(void *p, size_t n)
{
	mbedtls_platform_zeroize(p, n);
}

int bs__cipher_page_key(uint8_t out[BS_KEY_LEN], const uint8_t dek[BS_KEY_LEN],
			const uint8_t db_id[BS_DBID_LEN], int kind,
			uint32_t epoch)
{
	static const char label[] = "branchsync pages v1";
	uint8_t info[sizeof(label) - 1 + 1 + 4];
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);

	memcpy(info, label, sizeof(label) - 1);
	info[sizeof(label) - 1] = (uint8_t)kind;
	bs__put_be32(info + sizeof(label), epoch);
	if (md == NULL || mbedtls_hkdf(md, db_id, BS_DBID_LEN, dek, BS_KEY_LEN,
				       info, sizeof(info), out,
				       BS_KEY_LEN) != 0)
		return bs__error(BS_ERR, "page key derivation failed");
	return BS_OK;
}

int bs__cipher_init(bs__cipher *ctx, int kind, const uint8_t key[BS_KEY_LEN])
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->kind = kind;
	switch (kind) {
	case BS_CIPHER_AES256GCM:
		mbedtls_gcm_init(&ctx->u.gcm);
		if (mbedtls_gcm_setkey(&ctx->u.gcm, MBEDTLS_CIPHER_ID_AES, key,
				       256) != 0)
			goto fail;
		return BS_OK;
	case BS_CIPHER_CHACHA20POLY1305:
		mbedtls_chachapoly_init(&ctx->u.chachapoly);
		if (mbedtls_chachapoly_setkey(&ctx->u.chachapoly, key) != 0)
			goto fail;
		return BS_OK;
	}
	ctx->kind = 0;
	return bs__error(BS_EINVAL, "unknown page cipher %d", kind);
fail:
	bs__cipher_free(ctx);
	return bs__error(BS_ERR, "cannot set the page key");
}

void bs__cipher_free(bs__cipher *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->kind == BS_CIPHER_AES256GCM)
		mbedtls_gcm_free(&ctx->u.gcm);
	else if (ctx->kind == BS_CIPHER_CHACHA20POLY1305)
		mbedtls_chachapoly_free(&ctx->u.chachapoly);
	bs__wipe(ctx, sizeof(*ctx));
}

int bs__cipher_seal(bs__cipher *ctx, uint8_t *out, const uint8_t *in,
		    size_t len, const uint8_t nonce[BS_NONCE_LEN],
		    const uint8_t *aad, size_t aad_len,
		    uint8_t tag[BS_TAG_LEN])
{
	int r = -1;

	if (ctx->kind == BS_CIPHER_AES256GCM)
		r = mbedtls_gcm_crypt_and_tag(&ctx->u.gcm, MBEDTLS_GCM_ENCRYPT,
					      len, nonce, BS_NONCE_LEN, aad,
					      aad_len, in, out, BS_TAG_LEN, tag);
	else if (ctx->kind == BS_CIPHER_CHACHA20POLY1305)
		r = mbedtls_chachapoly_encrypt_and_tag(&ctx->u.chachapoly, len,
						       nonce, aad, aad_len, in,
						       out, tag);
	if (r != 0)
		return bs__error(BS_ERR, "page encryption failed");
	return BS_OK;
}

int bs__cipher_open(bs__cipher *ctx, uint8_t *out, const uint8_t *in,
		    size_t len, const uint8_t nonce[BS_NONCE_LEN],
		    const uint8_t *aad, size_t aad_len,
		    const uint8_t tag[BS_TAG_LEN])
{
	int r = -1;

	if (ctx->kind == BS_CIPHER_AES256GCM)
		r = mbedtls_gcm_auth_decrypt(&ctx->u.gcm, len, nonce,
					     BS_NONCE_LEN, aad, aad_len, tag,
					     BS_TAG_LEN, in, out);
	else if (ctx->kind == BS_CIPHER_CHACHA20POLY1305)
		r = mbedtls_chachapoly_auth_decrypt(&ctx->u.chachapoly, len,
						    nonce, aad, aad_len, tag,
						    in, out);
	if (r != 0) {
		bs__wipe(out, len);
		return BS_EDAMAGED;
	}
	return BS_OK;
}

/* Nanoseconds to seal a page with kind, best of a few rounds. */
static int64_t seal_cost(int kind)
{
	static uint8_t page[4064], out[4064];
	uint8_t key[BS_KEY_LEN] = { 0 }, nonce[BS_NONCE_LEN] = { 0 };
	uint8_t tag[BS_TAG_LEN];
	int64_t best = INT64_MAX;
	bs__cipher c;
	int round, i;

	if (bs__cipher_init(&c, kind, key) != BS_OK)
		return INT64_MAX;
	for (round = 0; round < 5; round++) {
		int64_t t0 = bs_os_monotonic_ns(), dt;
		for (i = 0; i < 8; i++)
			(void)bs__cipher_seal(&c, out, page, sizeof(page), nonce,
					      key, sizeof(key), tag);
		dt = bs_os_monotonic_ns() - t0;
		if (dt < best)
			best = dt;
	}
	bs__cipher_free(&c);
	return best;
}

int bs__cipher_pick(void)
{
	/* Without AES instructions, AES is table-based: slow, and its timing
	 * leaks the key.  With them, the faster of the two on this device
	 * wins: mbedTLS 2.28's GCM, for one, is slower than its
	 * ChaCha20-Poly1305 even with AES-NI. */
	if (!bs_os_cpu_has_aes())
		return BS_CIPHER_CHACHA20POLY1305;
	return seal_cost(BS_CIPHER_AES256GCM) <
			       seal_cost(BS_CIPHER_CHACHA20POLY1305)
		       ? BS_CIPHER_AES256GCM
		       : BS_CIPHER_CHACHA20POLY1305;
}
