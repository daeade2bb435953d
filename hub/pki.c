/*
 * pki.c - the hub's keys and certificates, made with mbedTLS: an ECDSA
 * P-256 CA (self-signed, ten years) that devices pin at enrollment, and
 * a server certificate it signs (two years, subjectAltNames for the
 * loopback names and --host names); the check of the P-256 keys devices
 * enroll with, and the verification of their requests (GnuTLS, below).
 *
 * mbedTLS 2.28 has no setter for subjectAltName, so the extension is
 * DER-encoded here (RFC 5280 §4.2.1.6: dNSName [2], iPAddress [7]).
 * Private keys are written 0600 and wiped from memory after use.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>

#include "agent/core/common.h"
#include "hub/hub.h"
#include "platform/os.h"

#define PEM_MAX 4096
#define SAN_MAX 2048

static int rng(void *ctx, unsigned char *buf, size_t n)
{
	(void)ctx;
	return bs_os_random(buf, n) == BS_OK ? 0 : -1;
}

static int tls_err(int mrc, const char *what)
{
	char buf[128];

	mbedtls_strerror(mrc, buf, sizeof(buf));
	return bs__error(mrc == MBEDTLS_ERR_PK_ALLOC_FAILED ? BS_ENOMEM
							     : BS_ERR,
			 "%s: %s", what, buf);
}

static int gen_key(mbedtls_pk_context *k)
{
	int mrc;

	mrc = mbedtls_pk_setup(k, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (mrc == 0)
		mrc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
					  mbedtls_pk_ec(*k), rng, NULL);
	return mrc ? tls_err(mrc, "cannot generate a P-256 key") : BS_OK;
}

/* "YYYYMMDDhhmmss" for now + days. */
static void when(char out[16], long days)
{
	time_t t = time(NULL) + (time_t)days * 86400;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 16, "%Y%m%d%H%M%S", &tm);
}

/* Append a DER length to p at *n. */
static int put_len(uint8_t *p, size_t *n, size_t cap, size_t len)
{
	if (len < 128) {
		if (*n + 1 > cap)
			return -1;
		p[(*n)++] = (uint8_t)len;
	} else if (len < 256) {
		if (*n + 2 > cap)
			return -1;
		p[(*n)++] = 0x81;
		p[(*n)++] = (uint8_t)len;
	} else {
		if (*n + 3 > cap)
			return -1;
		p[(*n)++] = 0x82;
		p[(*n)++] = (uint8_t)(len >> 8);
		p[(*n)++] = (uint8_t)len;
	}
	return 0;
}

static int put_name(uint8_t *p, size_t *n, size_t cap, const char *name)
{
	uint8_t ip[16];
	size_t len;
	int tag;

	if (inet_pton(AF_INET, name, ip) == 1) {
		tag = 0x87;
		len = 4;
	} else if (inet_pton(AF_INET6, name, ip) == 1) {
		tag = 0x87;
		len = 16;
	} else {
		tag = 0x82;
		len = strlen(name);
	}
	if (*n + 1 > cap)
		return -1;
	p[(*n)++] = (uint8_t)tag;
	if (put_len(p, n, cap, len) || *n + len > cap)
		return -1;
	memcpy(p + *n, tag == 0x87 ? (const void *)ip : (const void *)name,
	       len);
	*n += len;
	return 0;
}

/* GeneralNames for the names, into out; its length or -1. */
static long san_der(uint8_t *out, size_t cap, const char *const *hosts,
		    int nhosts)
{
	static const char *const fixed[] = { "localhost", "127.0.0.1",
					     "::1" };
	uint8_t body[SAN_MAX];
	size_t n = 0, o = 0, i;

	for (i = 0; i < BS__ARRAY_LEN(fixed); i++)
		if (put_name(body, &n, sizeof(body), fixed[i]))
			return -1;
	for (i = 0; i < (size_t)nhosts; i++)
		if (put_name(body, &n, sizeof(body), hosts[i]))
			return -1;
	if (cap < 4)
		return -1;
	out[o++] = 0x30;
	if (put_len(out, &o, cap, n) || o + n > cap)
		return -1;
	memcpy(out + o, body, n);
	return (long)(o + n);
}

static int write_pem(const char *dir, const char *name, const char *pem,
		     unsigned mode)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return bs_os_write_atomic(path, pem, strlen(pem), mode);
}

/*
 * Make and write one certificate: subject key sk, issuer key ik (the
 * same for the CA), names, CA or server.
 */
static int make_cert(char *pem, size_t cap, mbedtls_pk_context *sk,
		     mbedtls_pk_context *ik, const char *subject,
		     const char *issuer, int is_ca, long days,
		     const char *const *hosts, int nhosts)
{
	mbedtls_x509write_cert w;
	mbedtls_mpi serial;
	uint8_t sn[16], san[SAN_MAX + 8];
	char from[16], to[16];
	long san_len;
	int mrc, rc = BS_OK;

	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&serial);
	if ((rc = bs_os_random(sn, sizeof(sn))) != BS_OK)
		goto cleanup;
	sn[0] &= 0x7f; /* a positive serial */
	sn[0] |= 0x01;
	when(from, -1);
	when(to, days);
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, sk);
	mbedtls_x509write_crt_set_issuer_key(&w, ik);
	if ((mrc = mbedtls_mpi_read_binary(&serial, sn, sizeof(sn))) ||
	    (mrc = mbedtls_x509write_crt_set_serial(&w, &serial)) ||
	    (mrc = mbedtls_x509write_crt_set_subject_name(&w, subject)) ||
	    (mrc = mbedtls_x509write_crt_set_issuer_name(&w, issuer)) ||
	    (mrc = mbedtls_x509write_crt_set_validity(&w, from, to)) ||
	    (mrc = mbedtls_x509write_crt_set_basic_constraints(&w, is_ca,
							       is_ca ? 0 :
								       -1)) ||
	    (mrc = mbedtls_x509write_crt_set_subject_key_identifier(&w)) ||
	    (mrc = mbedtls_x509write_crt_set_authority_key_identifier(&w)) ||
	    (mrc = mbedtls_x509write_crt_set_key_usage(&w, is_ca ?
		   MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN :
		   MBEDTLS_X509_KU_DIGITAL_SIGNATURE))) {
		rc = tls_err(mrc, "cannot make a certificate");
		goto cleanup;
	}
	if (!is_ca) {
		san_len = san_der(san, sizeof(san), hosts, nhosts);
		if (san_len < 0) {
			rc = bs__error(BS_EINVAL, "too many or too long "
				       "--host names");
			goto cleanup;
		}
		mrc = mbedtls_x509write_crt_set_extension(&w,
			MBEDTLS_OID_SUBJECT_ALT_NAME,
			MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, san,
			(size_t)san_len);
		if (mrc) {
			rc = tls_err(mrc, "cannot add subjectAltName");
			goto cleanup;
		}
	}
	mrc = mbedtls_x509write_crt_pem(&w, (unsigned char *)pem, cap, rng,
					NULL);
	if (mrc)
		rc = tls_err(mrc, "cannot sign a certificate");
cleanup:
	mbedtls_mpi_free(&serial);
	mbedtls_x509write_crt_free(&w);
	return rc;
}

int bs__hub_pki_init(const char *dir, const char *const *hosts,
		     int nhosts)
{
	mbedtls_pk_context ca, srv;
	char pem[PEM_MAX], keypem[PEM_MAX], path[4096];
	int i, rc;

	for (i = 0; i < nhosts; i++)
		if (hosts[i][0] == '\0' || strlen(hosts[i]) > 253 ||
		    strpbrk(hosts[i], " ,/\\\"") != NULL)
			return bs__error(BS_EINVAL, "'%s' is not a host name "
					 "or address", hosts[i]);
	snprintf(path, sizeof(path), "%s/%s", dir, BS_HUB_CA_KEY);
	if (bs_os_exists(path))
		return bs__error(BS_EEXISTS, "%s already holds a hub CA; a "
				 "new one would strand every enrolled device",
				 dir);
	if ((rc = bs_os_mkdir_private(dir)) != BS_OK)
		return rc;
	mbedtls_pk_init(&ca);
	mbedtls_pk_init(&srv);
	if ((rc = gen_key(&ca)) != BS_OK || (rc = gen_key(&srv)) != BS_OK)
		goto cleanup;
	if ((rc = make_cert(pem, sizeof(pem), &ca, &ca,
			    "CN=branchsync hub CA,O=branchsync",
			    "CN=branchsync hub CA,O=branchsync", 1, 3650,
			    NULL, 0)) != BS_OK ||
	    (rc = write_pem(dir, BS_HUB_CA_CERT, pem, 0644)) != BS_OK)
		goto cleanup;
	if ((rc = make_cert(pem, sizeof(pem), &srv, &ca,
			    "CN=branchsync hub,O=branchsync",
			    "CN=branchsync hub CA,O=branchsync", 0, 730,
			    hosts, nhosts)) != BS_OK ||
	    (rc = write_pem(dir, BS_HUB_CERT, pem, 0644)) != BS_OK)
		goto cleanup;
	/* Server key, then CA key last: its presence means "done". */
	if (mbedtls_pk_write_key_pem(&srv, (unsigned char *)keypem,
				     sizeof(keypem)) != 0 ||
	    (rc = write_pem(dir, BS_HUB_KEY, keypem, 0600)) != BS_OK) {
		if (rc == BS_OK)
			rc = bs__error(BS_ERR, "cannot write the server key");
		goto cleanup;
	}
	if (mbedtls_pk_write_key_pem(&ca, (unsigned char *)keypem,
				     sizeof(keypem)) != 0 ||
	    (rc = write_pem(dir, BS_HUB_CA_KEY, keypem, 0600)) != BS_OK) {
		if (rc == BS_OK)
			rc = bs__error(BS_ERR, "cannot write the CA key");
		goto cleanup;
	}
cleanup:
	mbedtls_platform_zeroize(keypem, sizeof(keypem));
	mbedtls_pk_free(&ca);
	mbedtls_pk_free(&srv);
	return rc;
}

int bs__hub_pki_load_ca(struct bs_hub *h, const char *dir)
{
	mbedtls_x509_crt crt;
	char path[4096];
	uint8_t *pem = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, BS_HUB_CA_CERT);
	mbedtls_x509_crt_init(&crt);
	if ((rc = bs_os_read_file(&pem, &len, path, 65536)) != BS_OK) {
		if (rc == BS_ENOTFOUND)
			rc = bs__error(BS_ENOTFOUND, "%s has no hub CA; run "
				       "branchsync-hub init first", dir);
		goto cleanup;
	}
	h->ca_pem = bs__malloc(len + 1);
	if (h->ca_pem == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	memcpy(h->ca_pem, pem, len);
	h->ca_pem[len] = '\0';
	if (mbedtls_x509_crt_parse(&crt, (const uint8_t *)h->ca_pem,
				   len + 1) != 0) {
		rc = bs__error(BS_EDAMAGED, "%s is not a certificate", path);
		goto cleanup;
	}
	h->ca_der = bs__malloc(crt.raw.len);
	if (h->ca_der == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	memcpy(h->ca_der, crt.raw.p, crt.raw.len);
	h->ca_der_len = crt.raw.len;
cleanup:
	mbedtls_x509_crt_free(&crt);
	bs__free(pem);
	return rc;
}

static int parse_p256(mbedtls_pk_context *pk, const uint8_t *der,
		      size_t len)
{
	if (mbedtls_pk_parse_public_key(pk, der, len) != 0 ||
	    mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY ||
	    mbedtls_pk_ec(*pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1)
		return bs__error(BS_EINVAL, "public_key must be an ECDSA "
				 "P-256 SubjectPublicKeyInfo, DER, base64");
	return BS_OK;
}

int bs__hub_pki_check_key(const uint8_t *der, size_t len)
{
	mbedtls_pk_context pk;
	int rc;

	mbedtls_pk_init(&pk);
	rc = parse_p256(&pk, der, len);
	mbedtls_pk_free(&pk);
	return rc;
}

/*
 * Requests are verified with GnuTLS (Nettle underneath), the TLS library
 * the hub's HTTP server already brings: its P-256 verification takes a
 * tenth of mbedTLS 2.28's, and it is the hub's largest cost a request.
 * Keys were checked with mbedTLS at enrollment; both read the same
 * SubjectPublicKeyInfo DER and the same DER-encoded ECDSA signature.
 */
int bs__hub_pki_verify(const char *key_b64, const char *msg,
		       const uint8_t *sig, size_t sig_len)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t kd, md, sd;
	uint8_t *der = NULL;
	size_t len = 0;
	int rc;

	rc = bs__wire_unb64(&der, &len, key_b64, strlen(key_b64),
			    BS__WIRE_KEY_MAX);
	kd.data = der;
	kd.size = (unsigned)len;
	if (rc != BS_OK || gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import(pub, &kd, GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_pubkey_get_pk_algorithm(pub, NULL) != GNUTLS_PK_ECDSA) {
		rc = bs__error(BS_EDAMAGED, "stored device key is damaged");
		goto cleanup;
	}
	md.data = (unsigned char *)msg;
	md.size = (unsigned)strlen(msg);
	sd.data = (unsigned char *)sig;
	sd.size = (unsigned)sig_len;
	if (gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &md,
				       &sd) < 0)
		rc = bs__error(BS_EBADKEY, "signature does not verify");
cleanup:
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	bs__free(der);
	return rc;
}
