/*
 * bundle.c - making and checking signed release bundles (bundle.h).
 * Keys and signatures are mbedTLS's ECDSA P-256; randomness comes from
 * the OS seam.  Everything read from a bundle is checked before use: the
 * lengths against the file, the manifest's fields one by one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "agent/core/common.h"
#include "platform/os.h"
#include "bundle.h"

#define MAGIC "BSBUNDLE1\n"
#define MAGIC_LEN 10
#define MANIFEST_MAX 4096
#define SIG_MAX MBEDTLS_PK_SIGNATURE_MAX_SIZE
#define PAYLOAD_MAX (256u << 20)

/* The target is what the compiler built for, never the machine the
 * build ran on. */
#if defined(__x86_64__)
#define BS_TARGET "amd64"
#elif defined(__aarch64__)
#define BS_TARGET "aarch64"
#elif defined(__arm__) && defined(__ARM_PCS_VFP)
#define BS_TARGET "armhf"
#else
#error "unknown target: add it to agent/update/bundle.c and platform/"
#endif

const char *bs__build_target(void)
{
	return BS_TARGET;
}

static int os_rng(void *ctx, unsigned char *out, size_t n)
{
	(void)ctx;
	return bs_os_random(out, n) == BS_OK ? 0 : -1;
}

int bs__release_keygen(const char *priv_path, const char *pub_path)
{
	mbedtls_pk_context pk;
	unsigned char pem[1600];
	int rc;

	mbedtls_pk_init(&pk);
	if (bs_os_exists(priv_path)) {
		rc = bs__error(BS_EEXISTS, "%s already exists; a release key "
					   "is never overwritten",
			       priv_path);
		goto cleanup;
	}
	if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) !=
		    0 ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk),
				os_rng, NULL) != 0) {
		rc = bs__error(BS_ERR, "cannot generate the release key");
		goto cleanup;
	}
	if (mbedtls_pk_write_key_pem(&pk, pem, sizeof(pem)) != 0) {
		rc = bs__error(BS_ERR, "cannot encode the release key");
		goto cleanup;
	}
	rc = bs_os_write_atomic(priv_path, pem, strlen((char *)pem), 0600);
	if (rc != BS_OK)
		goto cleanup;
	if (mbedtls_pk_write_pubkey_pem(&pk, pem, sizeof(pem)) != 0) {
		rc = bs__error(BS_ERR, "cannot encode the public key");
		goto cleanup;
	}
	rc = bs_os_write_atomic(pub_path, pem, strlen((char *)pem), 0644);
cleanup:
	mbedtls_platform_zeroize(pem, sizeof(pem));
	mbedtls_pk_free(&pk);
	return rc;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int valid_word(const char *s, size_t max)
{
	size_t n = strlen(s);
	size_t i;

	if (n == 0 || n >= max)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' ||
		      s[i] == '_'))
			return 0;
	return 1;
}

int bs__bundle_make(const char *out_path, const char *payload_path,
		    const char *name, const char *version, const char *target,
		    const char *key_path)
{
	mbedtls_pk_context pk;
	uint8_t *payload = NULL, *out = NULL;
	uint8_t digest[32], mdigest[32], sig[SIG_MAX];
	char manifest[MANIFEST_MAX], sum[65];
	size_t len = 0, sig_len = 0, mlen, total;
	int ok = 0;
	int rc;

	mbedtls_pk_init(&pk);
	if (!valid_word(name, 64) || !valid_word(target, 32) ||
	    (bs__version_cmp(version, version, &ok), !ok)) {
		rc = bs__error(BS_EINVAL, "bad name, version or target");
		goto cleanup;
	}
	rc = bs_os_read_file(&payload, &len, payload_path, PAYLOAD_MAX);
	if (rc != BS_OK)
		goto cleanup;
	if (mbedtls_pk_parse_keyfile(&pk, key_path, NULL) != 0 ||
	    !mbedtls_pk_can_do(&pk, MBEDTLS_PK_ECDSA)) {
		rc = bs__error(BS_EBADKEY, "%s is not an ECDSA release key",
			       key_path);
		goto cleanup;
	}
	mbedtls_sha256_ret(payload, len, digest, 0);
	hex(sum, digest, 32);
	mlen = (size_t)snprintf(manifest, sizeof(manifest),
				"format=branchsync-bundle-1\nname=%s\n"
				"version=%s\ntarget=%s\nsize=%zu\nsha256=%s\n",
				name, version, target, len, sum);
	mbedtls_sha256_ret((const uint8_t *)manifest, mlen, mdigest, 0);
	if (mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, mdigest, 0, sig, &sig_len,
			    os_rng, NULL) != 0) {
		rc = bs__error(BS_ERR, "cannot sign the manifest");
		goto cleanup;
	}
	total = MAGIC_LEN + 4 + mlen + 4 + sig_len + len;
	if ((out = bs__malloc(total)) == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	memcpy(out, MAGIC, MAGIC_LEN);
	bs__put_be32(out + MAGIC_LEN, (uint32_t)mlen);
	memcpy(out + MAGIC_LEN + 4, manifest, mlen);
	bs__put_be32(out + MAGIC_LEN + 4 + mlen, (uint32_t)sig_len);
	memcpy(out + MAGIC_LEN + 8 + mlen, sig, sig_len);
	memcpy(out + MAGIC_LEN + 8 + mlen + sig_len, payload, len);
	rc = bs_os_write_atomic(out_path, out, total, 0644);
cleanup:
	bs__free(out);
	bs__free(payload);
	mbedtls_pk_free(&pk);
	return rc;
}

int bs__version_cmp(const char *a, const char *b, int *ok)
{
	unsigned long va[3], vb[3];
	const char *s[2] = { a, b };
	unsigned long *v[2] = { va, vb };
	int i, k;

	*ok = 0;
	for (i = 0; i < 2; i++) {
		const char *p = s[i];
		for (k = 0; k < 3; k++) {
			char *end = NULL;
			if (*p < '0' || *p > '9')
				return 0;
			v[i][k] = strtoul(p, &end, 10);
			if (v[i][k] > 99999 || (k < 2 && *end != '.') ||
			    (k == 2 && *end != '\0'))
				return 0;
			p = end + (k < 2);
		}
	}
	*ok = 1;
	for (k = 0; k < 3; k++)
		if (va[k] != vb[k])
			return va[k] < vb[k] ? -1 : 1;
	return 0;
}

/* Parse "key=value\n" lines into m; every field required exactly once. */
static int parse_manifest(struct bs__manifest *m, const char *text,
			  size_t len)
{
	char buf[MANIFEST_MAX + 1];
	char *line, *save = NULL;
	unsigned seen = 0;

	memset(m, 0, sizeof(*m));
	if (len == 0 || len > MANIFEST_MAX || memchr(text, '\0', len) != NULL)
		return bs__error(BS_EINVAL, "bundle manifest is malformed");
	memcpy(buf, text, len);
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		const char *v;
		unsigned bit;

		if (eq == NULL)
			return bs__error(BS_EINVAL, "bundle manifest: bad line");
		*eq = '\0';
		v = eq + 1;
		if (strcmp(line, "format") == 0) {
			bit = 1;
			if (strcmp(v, "branchsync-bundle-1") != 0)
				return bs__error(BS_EINVAL, "unknown bundle "
							    "format '%s'",
						 v);
		} else if (strcmp(line, "name") == 0 && valid_word(v, 64)) {
			bit = 2;
			strcpy(m->name, v);
		} else if (strcmp(line, "version") == 0 && valid_word(v, 32)) {
			bit = 4;
			strcpy(m->version, v);
		} else if (strcmp(line, "target") == 0 && valid_word(v, 32)) {
			bit = 8;
			strcpy(m->target, v);
		} else if (strcmp(line, "size") == 0) {
			char *end = NULL;
			bit = 16;
			m->size = strtoull(v, &end, 10);
			if (*v < '0' || *v > '9' || *end != '\0' ||
			    m->size > PAYLOAD_MAX)
				return bs__error(BS_EINVAL, "bundle manifest: "
							    "bad size");
		} else if (strcmp(line, "sha256") == 0 && strlen(v) == 64) {
			int i;
			bit = 32;
			for (i = 0; i < 32; i++) {
				unsigned x;
				if (sscanf(v + 2 * i, "%2x", &x) != 1 ||
				    !strchr("0123456789abcdef", v[2 * i]) ||
				    !strchr("0123456789abcdef", v[2 * i + 1]))
					return bs__error(BS_EINVAL,
							 "bundle manifest: bad "
							 "sha256");
				m->sha256[i] = (uint8_t)x;
			}
		} else {
			return bs__error(BS_EINVAL, "bundle manifest: bad field "
						    "'%s'",
					 line);
		}
		if (seen & bit)
			return bs__error(BS_EINVAL, "bundle manifest: '%s' "
						    "twice",
					 line);
		seen |= bit;
	}
	if (seen != 63)
		return bs__error(BS_EINVAL, "bundle manifest is incomplete");
	return BS_OK;
}

/* Read and check a bundle; on success *payload points into *file. */
static int open_bundle(struct bs__manifest *m, uint8_t **file,
		       const uint8_t **payload, const char *path,
		       const char *pub_path)
{
	mbedtls_pk_context pk;
	uint8_t digest[32];
	size_t len = 0, mlen, slen, off;
	uint8_t *buf = NULL;
	int rc;

	*file = NULL;
	mbedtls_pk_init(&pk);
	rc = bs_os_read_file(&buf, &len, path, PAYLOAD_MAX + MANIFEST_MAX + 1024);
	if (rc != BS_OK)
		goto cleanup;
	if (len < MAGIC_LEN + 8 || memcmp(buf, MAGIC, MAGIC_LEN) != 0) {
		rc = bs__error(BS_EINVAL, "%s is not a branchsync bundle", path);
		goto cleanup;
	}
	mlen = bs__get_be32(buf + MAGIC_LEN);
	if (mlen > MANIFEST_MAX || MAGIC_LEN + 8 + mlen > len) {
		rc = bs__error(BS_EINVAL, "bundle is truncated");
		goto cleanup;
	}
	slen = bs__get_be32(buf + MAGIC_LEN + 4 + mlen);
	off = MAGIC_LEN + 8 + mlen + slen;
	if (slen > SIG_MAX || off > len) {
		rc = bs__error(BS_EINVAL, "bundle is truncated");
		goto cleanup;
	}
	if (mbedtls_pk_parse_public_keyfile(&pk, pub_path) != 0 ||
	    !mbedtls_pk_can_do(&pk, MBEDTLS_PK_ECDSA)) {
		rc = bs__error(BS_EBADKEY, "%s is not an ECDSA public key",
			       pub_path);
		goto cleanup;
	}
	/* The signature first: nothing else in the file is trusted before. */
	mbedtls_sha256_ret(buf + MAGIC_LEN + 4, mlen, digest, 0);
	if (mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, digest, 0,
			      buf + MAGIC_LEN + 8 + mlen, slen) != 0) {
		rc = bs__error(BS_EBADKEY, "the bundle's signature does not "
					   "verify with this release key");
		goto cleanup;
	}
	rc = parse_manifest(m, (const char *)buf + MAGIC_LEN + 4, mlen);
	if (rc != BS_OK)
		goto cleanup;
	mbedtls_sha256_ret(buf + off, len - off, digest, 0);
	if (len - off != m->size || memcmp(digest, m->sha256, 32) != 0) {
		rc = bs__error(BS_EDAMAGED, "the bundle's binary does not match "
					    "its signed manifest");
		goto cleanup;
	}
	*file = buf;
	*payload = buf + off;
	buf = NULL;
cleanup:
	bs__free(buf);
	mbedtls_pk_free(&pk);
	return rc;
}

static int check_fit(const struct bs__manifest *m, const char *target,
		     const char *version)
{
	int ok = 0;

	if (strcmp(m->target, target) != 0)
		return bs__error(BS_EREFUSED, "the bundle is for %s, this "
					      "device is %s",
				 m->target, target);
	if (bs__version_cmp(m->version, version, &ok) <= 0 || !ok)
		return bs__error(BS_EREFUSED, "the bundle's version %s is not "
					      "newer than %s",
				 m->version, version);
	return BS_OK;
}

int bs__bundle_verify(struct bs__manifest *out, const char *path,
		      const char *pub_path, const char *target,
		      const char *version)
{
	struct bs__manifest m;
	const uint8_t *payload;
	uint8_t *file = NULL;
	int rc = open_bundle(&m, &file, &payload, path, pub_path);

	if (rc == BS_OK)
		rc = check_fit(&m, target, version);
	if (out != NULL)
		*out = m;
	bs__free(file);
	return rc;
}

int bs__bundle_install(const char *path, const char *pub_path,
		       const char *target, const char *version,
		       const char *dest)
{
	struct bs__manifest m;
	const uint8_t *payload;
	uint8_t *file = NULL;
	int rc = open_bundle(&m, &file, &payload, path, pub_path);

	if (rc == BS_OK)
		rc = check_fit(&m, target, version);
	if (rc == BS_OK)
		rc = bs_os_write_atomic(dest, payload, (size_t)m.size, 0755);
	bs__free(file);
	return rc;
}
