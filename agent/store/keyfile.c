/*
 * keyfile.c - reading, writing and opening key slots (see keyfile.h for
 * the format).  Every derived key and unwrapped DEK lives in buffers on
 * the stack that are wiped before return, on every path.
 */
#include <string.h>

#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/sha256.h>

#include "agent/core/common.h"
#include "platform/os.h"
#include "keyfile.h"

#define MAGIC "BSKEYS01"
#define HDR_LEN 32
#define SLOT_LEN (1 + 1 + BS_SLOT_NAME_MAX + 4 + BS_SALT_LEN + BS_NONCE_LEN + \
		  BS_KEY_LEN + BS_TAG_LEN)
#define SUM_LEN 32
#define FILE_MAX (HDR_LEN + BS_KEYFILE_MAX_SLOTS * SLOT_LEN + SUM_LEN)
#define AAD_LABEL "branchsync keyslot v1"
/* AAD: label, header bytes 8..29, then the slot up to and with its salt. */
#define AAD_LEN (sizeof(AAD_LABEL) - 1 + 22 + 1 + 1 + BS_SLOT_NAME_MAX + 4 + \
		 BS_SALT_LEN)

static void encode_header(uint8_t *p, const bs__keyfile *kf)
{
	memcpy(p, MAGIC, 8);
	memcpy(p + 8, kf->db_id, BS_DBID_LEN);
	bs__put_be32(p + 24, kf->epoch);
	p[28] = kf->cipher;
	p[29] = kf->page_shift;
	bs__put_be16(p + 30, (uint16_t)kf->nslots);
}

/* The slot's fields before the nonce, in their on-disk layout. */
static size_t encode_slot_head(uint8_t *p, const bs__slot *s)
{
	size_t n = strlen(s->name);

	p[0] = s->kind;
	p[1] = (uint8_t)n;
	memset(p + 2, 0, BS_SLOT_NAME_MAX);
	memcpy(p + 2, s->name, n);
	bs__put_be32(p + 2 + BS_SLOT_NAME_MAX, s->iterations);
	memcpy(p + 6 + BS_SLOT_NAME_MAX, s->salt, BS_SALT_LEN);
	return 6 + BS_SLOT_NAME_MAX + BS_SALT_LEN;
}

static void slot_aad(uint8_t aad[AAD_LEN], const bs__keyfile *kf,
		     const bs__slot *s)
{
	uint8_t hdr[HDR_LEN];
	size_t o = sizeof(AAD_LABEL) - 1;

	encode_header(hdr, kf);
	memcpy(aad, AAD_LABEL, o);
	memcpy(aad + o, hdr + 8, 22);
	encode_slot_head(aad + o + 22, s);
}

/* The key-encryption key of a slot. */
static int slot_kek(uint8_t kek[BS_KEY_LEN], const bs__slot *s,
		    const uint8_t *secret, size_t secret_len)
{
	const mbedtls_md_info_t *md;
	mbedtls_md_context_t ctx;
	int r;

	if (s->kind == BS_KEY_DEVICE) {
		static const char info[] = "branchsync device slot v1";
		if (secret_len != BS_KEY_LEN)
			return bs__error(BS_EINVAL, "device key must be 32 bytes");
		md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
		r = mbedtls_hkdf(md, s->salt, BS_SALT_LEN, secret, secret_len,
				 (const uint8_t *)info, sizeof(info) - 1, kek,
				 BS_KEY_LEN);
		return r == 0 ? BS_OK : bs__error(BS_ERR, "key derivation failed");
	}
	md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA512);
	mbedtls_md_init(&ctx);
	r = mbedtls_md_setup(&ctx, md, 1);
	if (r == 0)
		r = mbedtls_pkcs5_pbkdf2_hmac(&ctx, secret, secret_len, s->salt,
					      BS_SALT_LEN, s->iterations,
					      BS_KEY_LEN, kek);
	mbedtls_md_free(&ctx);
	return r == 0 ? BS_OK : bs__error(BS_ERR, "key derivation failed");
}

static int valid_name(const char *name)
{
	size_t n = strlen(name);
	size_t i;

	if (n == 0 || n > BS_SLOT_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x21 || c == 0x7f)
			return 0;
	}
	return 1;
}

int bs__keyfile_read(bs__keyfile *out, const char *path)
{
	uint8_t *buf = NULL;
	uint8_t sum[SUM_LEN];
	size_t len = 0;
	unsigned i;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = bs_os_read_file(&buf, &len, path, FILE_MAX + 1);
	if (rc == BS_EINVAL)
		rc = bs__error(BS_ENOTSTORE, "%s is not a branchsync key file",
			       path);
	if (rc != BS_OK)
		return rc;
	if (len < 8 || memcmp(buf, MAGIC, 8) != 0) {
		rc = bs__error(BS_ENOTSTORE, "%s is not a branchsync key file",
			       path);
		goto cleanup;
	}
	if (len < HDR_LEN + SUM_LEN) {
		rc = bs__error(BS_EDAMAGED, "key file %s is truncated", path);
		goto cleanup;
	}
	mbedtls_sha256_ret(buf, len - SUM_LEN, sum, 0);
	if (memcmp(sum, buf + len - SUM_LEN, SUM_LEN) != 0) {
		rc = bs__error(BS_EDAMAGED, "key file %s is damaged", path);
		goto cleanup;
	}
	memcpy(out->db_id, buf + 8, BS_DBID_LEN);
	out->epoch = bs__get_be32(buf + 24);
	out->cipher = buf[28];
	out->page_shift = buf[29];
	out->nslots = bs__get_be16(buf + 30);
	if (out->nslots > BS_KEYFILE_MAX_SLOTS ||
	    len != HDR_LEN + out->nslots * SLOT_LEN + SUM_LEN ||
	    bs__cipher_name(out->cipher) == NULL || out->page_shift != 12) {
		rc = bs__error(BS_EDAMAGED, "key file %s has a bad header",
			       path);
		goto cleanup;
	}
	for (i = 0; i < out->nslots; i++) {
		const uint8_t *p = buf + HDR_LEN + i * SLOT_LEN;
		bs__slot *s = &out->slots[i];
		size_t o = 2 + BS_SLOT_NAME_MAX;

		s->kind = p[0];
		if ((s->kind != BS_KEY_PIN && s->kind != BS_KEY_DEVICE) ||
		    p[1] > BS_SLOT_NAME_MAX) {
			rc = bs__error(BS_EDAMAGED, "key file %s: bad slot %u",
				       path, i);
			goto cleanup;
		}
		memcpy(s->name, p + 2, p[1]);
		s->name[p[1]] = '\0';
		s->iterations = bs__get_be32(p + o);
		o += 4;
		memcpy(s->salt, p + o, BS_SALT_LEN);
		o += BS_SALT_LEN;
		memcpy(s->nonce, p + o, BS_NONCE_LEN);
		o += BS_NONCE_LEN;
		memcpy(s->wrapped, p + o, BS_KEY_LEN);
		o += BS_KEY_LEN;
		memcpy(s->tag, p + o, BS_TAG_LEN);
	}
cleanup:
	bs__free(buf);
	return rc;
}

int bs__keyfile_write(const bs__keyfile *kf, const char *path)
{
	uint8_t buf[FILE_MAX];
	size_t len = HDR_LEN;
	unsigned i;

	encode_header(buf, kf);
	for (i = 0; i < kf->nslots; i++) {
		const bs__slot *s = &kf->slots[i];
		uint8_t *p = buf + len;
		size_t o = encode_slot_head(p, s);

		memcpy(p + o, s->nonce, BS_NONCE_LEN);
		o += BS_NONCE_LEN;
		memcpy(p + o, s->wrapped, BS_KEY_LEN);
		o += BS_KEY_LEN;
		memcpy(p + o, s->tag, BS_TAG_LEN);
		len += SLOT_LEN;
	}
	mbedtls_sha256_ret(buf, len, buf + len, 0);
	len += SUM_LEN;
	return bs_os_write_atomic(path, buf, len, 0600);
}

/* Try one slot; BS_EBADKEY if the secret does not open it. */
static int open_slot(uint8_t dek[BS_KEY_LEN], const bs__keyfile *kf,
		     const bs__slot *s, const uint8_t *secret,
		     size_t secret_len)
{
	uint8_t kek[BS_KEY_LEN];
	uint8_t aad[AAD_LEN];
	bs__cipher c;
	int rc;

	memset(&c, 0, sizeof(c));
	rc = slot_kek(kek, s, secret, secret_len);
	if (rc == BS_OK)
		rc = bs__cipher_init(&c, BS_CIPHER_CHACHA20POLY1305, kek);
	if (rc == BS_OK) {
		slot_aad(aad, kf, s);
		rc = bs__cipher_open(&c, dek, s->wrapped, BS_KEY_LEN, s->nonce,
				     aad, sizeof(aad), s->tag);
		if (rc == BS_EDAMAGED)
			rc = BS_EBADKEY;
	}
	bs__cipher_free(&c);
	bs__wipe(kek, sizeof(kek));
	return rc;
}

int bs__keyfile_unlock(uint8_t dek[BS_KEY_LEN], unsigned *slot_out,
		       const bs__keyfile *kf, int kind, const char *staff,
		       const uint8_t *secret, size_t secret_len)
{
	unsigned i;
	int tried = 0;
	int rc;

	for (i = 0; i < kf->nslots; i++) {
		const bs__slot *s = &kf->slots[i];

		if (s->kind != kind)
			continue;
		if (kind == BS_KEY_PIN && staff != NULL &&
		    strcmp(s->name, staff) != 0)
			continue;
		tried++;
		rc = open_slot(dek, kf, s, secret, secret_len);
		if (rc == BS_OK) {
			*slot_out = i;
			return BS_OK;
		}
		if (rc != BS_EBADKEY)
			return rc;
	}
	bs__wipe(dek, BS_KEY_LEN);
	if (tried == 0 && kind == BS_KEY_PIN && staff != NULL)
		return bs__error(BS_EBADKEY, "no key slot for staff %s", staff);
	if (tried == 0)
		return bs__error(BS_EBADKEY, "this store has no %s slot",
				 kind == BS_KEY_PIN ? "PIN" : "device key");
	return bs__error(BS_EBADKEY, kind == BS_KEY_PIN ? "wrong PIN"
							: "wrong device key");
}

int bs__keyfile_find(const bs__keyfile *kf, int kind, const char *name)
{
	unsigned i;

	for (i = 0; i < kf->nslots; i++)
		if (kf->slots[i].kind == kind &&
		    strcmp(kf->slots[i].name, name) == 0)
			return (int)i;
	return -1;
}

int bs__keyfile_add(bs__keyfile *kf, const uint8_t dek[BS_KEY_LEN], int kind,
		    const char *name, const uint8_t *secret, size_t secret_len,
		    uint32_t iterations)
{
	uint8_t kek[BS_KEY_LEN];
	uint8_t aad[AAD_LEN];
	bs__slot s;
	bs__cipher c;
	int at;
	int rc;

	memset(&c, 0, sizeof(c));
	memset(&s, 0, sizeof(s));
	if (kind != BS_KEY_PIN && kind != BS_KEY_DEVICE)
		return bs__error(BS_EINVAL, "unknown slot kind");
	if (!valid_name(name))
		return bs__error(BS_EINVAL, "bad slot name: 1 to %d printable "
					    "characters, no spaces",
				 BS_SLOT_NAME_MAX);
	if (kind == BS_KEY_PIN && (secret_len == 0 || secret_len > 1024))
		return bs__error(BS_EINVAL, "PIN must be 1 to 1024 bytes");
	if (kind == BS_KEY_PIN && iterations == 0)
		return bs__error(BS_EINVAL, "PIN slot needs iterations");
	at = bs__keyfile_find(kf, kind, name);
	if (at < 0 && kf->nslots >= BS_KEYFILE_MAX_SLOTS)
		return bs__error(BS_EREFUSED, "all %d key slots are in use",
				 BS_KEYFILE_MAX_SLOTS);
	s.kind = (uint8_t)kind;
	memcpy(s.name, name, strlen(name) + 1);
	s.iterations = kind == BS_KEY_PIN ? iterations : 0;
	if ((rc = bs_os_random(s.salt, sizeof(s.salt))) != BS_OK ||
	    (rc = bs_os_random(s.nonce, sizeof(s.nonce))) != BS_OK)
		goto cleanup;
	if ((rc = slot_kek(kek, &s, secret, secret_len)) != BS_OK)
		goto cleanup;
	if ((rc = bs__cipher_init(&c, BS_CIPHER_CHACHA20POLY1305, kek)) != BS_OK)
		goto cleanup;
	/* The AAD covers the header with the final slot count. */
	if (at < 0)
		kf->nslots++;
	slot_aad(aad, kf, &s);
	rc = bs__cipher_seal(&c, s.wrapped, dek, BS_KEY_LEN, s.nonce, aad,
			     sizeof(aad), s.tag);
	if (rc != BS_OK) {
		if (at < 0)
			kf->nslots--;
		goto cleanup;
	}
	kf->slots[at < 0 ? kf->nslots - 1 : (unsigned)at] = s;
cleanup:
	bs__cipher_free(&c);
	bs__wipe(kek, sizeof(kek));
	bs__wipe(&s, sizeof(s));
	return rc;
}

void bs__keyfile_remove(bs__keyfile *kf, unsigned i)
{
	if (i >= kf->nslots)
		return;
	memmove(&kf->slots[i], &kf->slots[i + 1],
		(kf->nslots - i - 1) * sizeof(kf->slots[0]));
	kf->nslots--;
	bs__wipe(&kf->slots[kf->nslots], sizeof(kf->slots[0]));
}

uint32_t bs__kdf_calibrate(unsigned ms)
{
	static const uint8_t salt[BS_SALT_LEN];
	const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA512);
	mbedtls_md_context_t ctx;
	uint8_t out[BS_KEY_LEN];
	uint32_t n = 1000;
	int64_t t0;
	int64_t dt = 0;
	uint64_t want;

	mbedtls_md_init(&ctx);
	if (mbedtls_md_setup(&ctx, md, 1) != 0) {
		mbedtls_md_free(&ctx);
		return 100000;
	}
	/* Grow the probe until it runs long enough to time reliably. */
	for (;;) {
		t0 = bs_os_monotonic_ns();
		mbedtls_pkcs5_pbkdf2_hmac(&ctx, (const uint8_t *)"probe", 5,
					  salt, sizeof(salt), n, sizeof(out),
					  out);
		dt = bs_os_monotonic_ns() - t0;
		if (dt >= 20000000 || n >= (1u << 24))
			break;
		n *= 4;
	}
	mbedtls_md_free(&ctx);
	if (dt <= 0)
		dt = 1;
	want = (uint64_t)n * ms * 1000000u / (uint64_t)dt;
	if (ms >= 100 && want < 100000)
		want = 100000;
	if (want < 1000)
		want = 1000;
	if (want > 0x7fffffff)
		want = 0x7fffffff;
	return (uint32_t)want;
}
