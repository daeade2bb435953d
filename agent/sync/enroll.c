/*
 * enroll.c - enrollment (protocol.md, "Enrollment"): trust nothing, fetch
 * the hub's CA under the code's id, accept it only if its MAC under the
 * code's secret matches, pin it, make the device's ECDSA P-256 key, and
 * register the key over a connection that trusts the pinned CA alone.
 *
 * The key and the CA are stored (state "pending") before the key is
 * registered, so that a process killed after the hub took the key but
 * before the answer was stored does not leave a device the hub knows
 * and the store cannot sign for: run again, the pending enrollment is
 * completed with a signed hello instead of a second, refused, use of
 * the code.
 */
#include <stdio.h>
#include <string.h>

#include <mbedtls/ecp.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "agent/core/common.h"
#include "agent/core/json.h"
#include "agent/core/wire.h"
#include "platform/os.h"
#include "sync_internal.h"

/* DER of a P-256 private key is about 121 bytes, of its public key 91. */
#define KEY_DER_MAX 512

/*
 * Check the CA the hub sent against the code: parse the PEM, MAC its DER
 * with the secret, compare with the MAC the hub holds for the code.
 */
static int check_ca(const char *pem, const char *mac_hex, const char *secret)
{
	mbedtls_x509_crt crt;
	uint8_t want[32], got[32];
	int rc;

	mbedtls_x509_crt_init(&crt);
	if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem,
				   strlen(pem) + 1) != 0) {
		rc = bs__error(BS_EINVAL, "the hub sent a CA certificate that "
			       "cannot be read");
		goto cleanup;
	}
	if (bs__wire_unhex(want, sizeof(want), mac_hex, strlen(mac_hex))) {
		rc = bs__error(BS_EINVAL, "the hub sent a malformed ca_mac");
		goto cleanup;
	}
	bs__wire_ca_mac(got, secret, crt.raw.p, crt.raw.len);
	if (!bs__wire_ct_equal(want, got, sizeof(got))) {
		rc = bs__error(BS_EBADKEY, "the hub's CA certificate does not "
			       "match the enrollment code: the code was "
			       "mistyped, or someone is in the middle; nothing "
			       "was stored");
		goto cleanup;
	}
	if (!crt.ca_istrue) {
		rc = bs__error(BS_EINVAL, "the hub's certificate is not a CA");
		goto cleanup;
	}
	rc = BS_OK;
cleanup:
	mbedtls_x509_crt_free(&crt);
	return rc;
}

/* A new P-256 key: its private DER into priv (*priv_len bytes) and its
 * public SubjectPublicKeyInfo as base64 (*pub_b64, bs__malloc'd). */
static int make_key(uint8_t priv[KEY_DER_MAX], size_t *priv_len,
		    char **pub_b64)
{
	mbedtls_pk_context pk;
	uint8_t buf[KEY_DER_MAX];
	int n, rc;

	*pub_b64 = NULL;
	mbedtls_pk_init(&pk);
	if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(
					  MBEDTLS_PK_ECKEY)) != 0 ||
	    mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk),
				bs__sync_rng, NULL) != 0) {
		rc = bs__error(BS_ERR, "cannot make the device key");
		goto cleanup;
	}
	/* mbedTLS writes DER at the end of the buffer. */
	n = mbedtls_pk_write_key_der(&pk, buf, sizeof(buf));
	if (n <= 0) {
		rc = bs__error(BS_ERR, "cannot encode the device key");
		goto cleanup;
	}
	memcpy(priv, buf + sizeof(buf) - n, (size_t)n);
	*priv_len = (size_t)n;
	n = mbedtls_pk_write_pubkey_der(&pk, buf, sizeof(buf));
	if (n <= 0) {
		rc = bs__error(BS_ERR, "cannot encode the device's public "
			       "key");
		goto cleanup;
	}
	rc = bs__wire_b64(pub_b64, buf + sizeof(buf) - n, (size_t)n);
cleanup:
	mbedtls_platform_zeroize(buf, sizeof(buf));
	mbedtls_pk_free(&pk);
	return rc;
}

/* What the hub says this device is (the enroll answer or a hello). */
struct who {
	const char *branch, *staff, *role;
};

static int read_who(struct who *w, const cJSON *doc)
{
	int rc;

	if ((rc = bs__wire_code(&w->branch, doc, "branch", 0)) ||
	    (rc = bs__wire_code(&w->staff, doc, "staff", 0)) ||
	    (rc = bs__wire_code(&w->role, doc, "role", 0)))
		return bs__sync_because(BS_ENETWORK, "the hub's enrollment "
					"answer is incomplete");
	if (strcmp(w->role, "staff") != 0 && strcmp(w->role, "manager") != 0)
		return bs__error(BS_ENETWORK, "the hub names an unknown role "
				 "'%s'", w->role);
	return BS_OK;
}

/*
 * Finish in one transaction: the hub's view of the device becomes the
 * store's (branch, staff, role, scope), the clock it taught, the state.
 */
static int finish(bs_store *st, const struct who *w,
		  const struct bs__net *n, const char *url)
{
	sqlite3 *db = bs_store_db(st);
	cJSON *scope = cJSON_CreateObject(), *detail = NULL;
	char *text = NULL;
	int64_t cur;
	int rc, have;

	if (scope == NULL ||
	    bs__json_put_str(scope, "branch", w->branch) ||
	    bs__json_put_str(scope, "staff", strcmp(w->role, "manager") == 0
						    ? NULL
						    : w->staff) ||
	    (text = cJSON_PrintUnformatted(scope)) == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if ((detail = cJSON_Duplicate(scope, 1)) == NULL ||
	    bs__json_put_str(detail, "hub_url", url) ||
	    bs__json_put_str(detail, "role", w->role)) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if ((rc = bs__sync_exec(db, "BEGIN IMMEDIATE", "enroll")) != BS_OK)
		goto cleanup;
	if ((rc = bs__ss_put_text(db, "branch", w->branch)) ||
	    (rc = bs__ss_put_text(db, "staff", w->staff)) ||
	    (rc = bs__ss_put_text(db, "role", w->role)) ||
	    (rc = bs__ss_put_text(db, BS__SK_SCOPE, text)) ||
	    (rc = bs__ss_put_int(db, BS__SK_ENROLLED, bs_os_now_ms())) ||
	    (rc = bs__ss_put_text(db, BS__SK_ENROLL, "done")) ||
	    (rc = bs__ss_int(db, BS__SK_CURSOR, &cur, &have)) ||
	    (!have && (rc = bs__ss_put_int(db, BS__SK_CURSOR, 0))) ||
	    (rc = bs__sync_save_clock(db, &n->clock)) ||
	    (rc = bs__sync_audit(db, bs_store_opened_by(st), "sync.enroll",
				 "device", n->device, detail)) ||
	    (rc = bs__sync_exec(db, "COMMIT", "enroll")))
		goto rollback;
	goto cleanup;
rollback:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
cleanup:
	cJSON_Delete(scope);
	cJSON_Delete(detail);
	bs__free(text);
	return rc;
}

/*
 * A pending enrollment with url: if the hub knows the stored key (a
 * signed hello passes), finish it.  *done says whether it did; an
 * unknown device means the registration never arrived, and the caller
 * starts again.
 */
static int resume(bs_store *st, const bs_sync_opts *o, const char *url,
		  int *done)
{
	sqlite3 *db = bs_store_db(st);
	struct bs__net n;
	struct bs__resp r;
	struct who w;
	int rc;

	*done = 0;
	memset(&r, 0, sizeof(r));
	/* bs__sync_connect() wants a finished enrollment; mark it so for
	 * the connection only, in a transaction rolled back at once. */
	if ((rc = bs__sync_exec(db, "SAVEPOINT resume", "enroll")) != BS_OK)
		return rc;
	rc = bs__ss_put_text(db, BS__SK_ENROLL, "done");
	if (rc == BS_OK)
		rc = bs__sync_connect(&n, db, o);
	sqlite3_exec(db, "ROLLBACK TO resume; RELEASE resume", NULL, NULL,
		     NULL);
	if (rc != BS_OK)
		return rc;
	rc = bs__net_request(&n, &r, "GET", "/v1/hello", NULL, 1);
	if (rc == BS_EBADKEY && r.cause != NULL &&
	    strcmp(r.cause, "unknown_device") == 0) {
		bs__error_clear();
		rc = BS_OK;
		goto cleanup;
	}
	if (rc != BS_OK || (rc = read_who(&w, r.doc)) != BS_OK)
		goto cleanup;
	if ((rc = finish(st, &w, &n, url)) == BS_OK)
		*done = 1;
cleanup:
	bs__resp_free(&r);
	bs__net_close(&n);
	return rc;
}

/* Forget a pending enrollment the hub refused. */
static void forget(sqlite3 *db)
{
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return;
	if (bs__ss_delete(db, BS__SK_KEY) || bs__ss_delete(db, BS__SK_CA) ||
	    bs__ss_delete(db, BS__SK_ENROLL) ||
	    bs__ss_delete(db, BS__SK_HUB_URL) ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int bs_sync_enroll(bs_store *st, const char *hub_url, const char *code,
		   const bs_sync_opts *opts)
{
	char id[BS__WIRE_CODE_ID_CHARS + 1];
	char secret[BS__WIRE_CODE_SECRET_CHARS + 1];
	char target[64], text[BS__WIRE_CODE_TEXT_LEN + 8];
	uint8_t priv[KEY_DER_MAX];
	size_t priv_len = 0;
	char *dev = NULL, *state = NULL, *url = NULL, *pub = NULL;
	const char *pem, *mac;
	struct bs__net n;
	struct bs__resp r;
	struct who w;
	bs_sync_opts o;
	cJSON *body = NULL;
	sqlite3 *db;
	int rc, done, i;

	bs__json_init();
	memset(&n, 0, sizeof(n));
	memset(&r, 0, sizeof(r));
	mbedtls_pk_init(&n.key);
	bs__sync_defaults(&o, opts);
	if (st == NULL || (db = bs_store_db(st)) == NULL)
		return bs__error(BS_EINVAL, "no open store");
	if (code == NULL || bs__wire_code_parse(id, secret, code) != BS_OK)
		return bs__error(BS_EINVAL, "'%.40s' is not an enrollment "
				 "code: 20 letters and digits, like "
				 "7KQD-9XG2-M4TB-HW0C-ZR5E",
				 code != NULL ? code : "");
	if (hub_url == NULL || strncmp(hub_url, "https://", 8) != 0 ||
	    hub_url[8] == '\0') {
		rc = bs__error(BS_EINVAL, "the hub's URL must start with "
			       "https://");
		goto cleanup;
	}
	if ((rc = bs__ss_text(db, "device_id", &dev)) ||
	    (rc = bs__ss_text(db, BS__SK_ENROLL, &state)) ||
	    (rc = bs__ss_text(db, BS__SK_HUB_URL, &url)))
		goto cleanup;
	if (dev == NULL) {
		rc = bs__error(BS_EINVAL, "the store has no device identity "
			       "yet: run 'branchsync init' first");
		goto cleanup;
	}
	if (state != NULL && strcmp(state, "done") == 0) {
		rc = bs__error(BS_EEXISTS, "this device is already enrolled "
			       "with %s", url ? url : "a hub");
		goto cleanup;
	}
	if (state != NULL && url != NULL && strcmp(url, hub_url) == 0) {
		if ((rc = resume(st, &o, hub_url, &done)) != BS_OK || done)
			goto cleanup;
	}

	/* 1. The CA, fetched without trusting anything. */
	snprintf(target, sizeof(target), "/v1/enroll/ca?code=%s", id);
	if ((rc = bs__net_open(&n, hub_url, NULL, o.connect_timeout_ms,
			       o.timeout_ms)) != BS_OK ||
	    (rc = bs__net_request(&n, &r, "GET", target, NULL, 0)) != BS_OK)
		goto cleanup;
	if (bs__wire_str(&pem, r.doc, "ca_pem", 16384, 0) != BS_OK ||
	    bs__wire_str(&mac, r.doc, "ca_mac", 64, 0) != BS_OK) {
		rc = bs__sync_because(BS_ENETWORK, "the hub's CA answer is "
				      "incomplete");
		goto cleanup;
	}
	/* 2. Checked against the code: only then is it trusted. */
	if ((rc = check_ca(pem, mac, secret)) != BS_OK)
		goto cleanup;

	/* 3. The key, stored with the pinned CA before it is sent. */
	if ((rc = make_key(priv, &priv_len, &pub)) != BS_OK)
		goto cleanup;
	if ((rc = bs__sync_exec(db, "BEGIN IMMEDIATE", "enroll")) != BS_OK)
		goto cleanup;
	if ((rc = bs__ss_put_text(db, BS__SK_HUB_URL, hub_url)) ||
	    (rc = bs__ss_put_text(db, BS__SK_CA, pem)) ||
	    (rc = bs__ss_put_blob(db, BS__SK_KEY, priv, priv_len)) ||
	    (rc = bs__ss_put_text(db, BS__SK_ENROLL, "pending")) ||
	    (rc = bs__sync_exec(db, "COMMIT", "enroll"))) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		goto cleanup;
	}

	/* 4. Registered over a connection that trusts the pinned CA. */
	{
		char *ca = bs__strdup(pem);

		bs__resp_free(&r);
		bs__net_close(&n);
		if (ca == NULL) {
			rc = bs__error_code(BS_ENOMEM);
			goto cleanup;
		}
		rc = bs__net_open(&n, hub_url, ca, o.connect_timeout_ms,
				  o.timeout_ms);
		bs__free(ca);
		if (rc != BS_OK)
			goto cleanup;
	}
	snprintf(n.device, sizeof(n.device), "%s", dev);
	/* The code in its canonical spelling, in groups of four. */
	for (i = 0; i < 5; i++)
		snprintf(text + 5 * i, sizeof(text) - 5 * (size_t)i, "%.4s%s",
			 i == 0 ? id : secret + 4 * (i - 1), i < 4 ? "-" : "");
	body = bs__wire_doc(BS__WIRE_VERSION);
	if (body == NULL || bs__json_put_str(body, "code", text) ||
	    bs__json_put_str(body, "device_id", dev) ||
	    bs__json_put_str(body, "public_key", pub)) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	rc = bs__net_request(&n, &r, "POST", "/v1/enroll", body, 0);
	if (rc != BS_OK) {
		/* A refusal is final for this key; a lost answer is not
		 * (resume() finds out which it was). */
		if (!bs__sync_retryable(rc)) {
			char msg[512];

			snprintf(msg, sizeof(msg), "%s", bs_last_error());
			forget(db);
			bs__error(rc, "%s", msg);
		}
		goto cleanup;
	}
	if ((rc = read_who(&w, r.doc)) != BS_OK)
		goto cleanup;
	rc = finish(st, &w, &n, hub_url);
cleanup:
	mbedtls_platform_zeroize(secret, sizeof(secret));
	mbedtls_platform_zeroize(priv, sizeof(priv));
	mbedtls_platform_zeroize(text, sizeof(text));
	cJSON_Delete(body);
	bs__resp_free(&r);
	bs__net_close(&n);
	bs__free(dev);
	bs__free(state);
	bs__free(url);
	bs__free(pub);
	return rc;
}
