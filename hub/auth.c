/*
 * auth.c - who may talk to the hub: one-time enrollment codes, the CA
 * handed out under the code's MAC, device enrollment, and the check of
 * every signed request (device, clock, signature, revocation, nonce).
 * protocol.md, "Enrollment" and "Signed requests", is the contract.
 *
 * The hub never keeps a code's secret part: when a code is made it
 * stores a hash of the code (to recognise it at enrollment) and the MAC
 * of its CA certificate keyed by the secret (to hand out before the
 * device trusts anything).  Neither lets someone who reads the database
 * enroll a device or forge the MAC of another CA.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "agent/core/common.h"
#include "agent/core/json.h"
#include "hub/hub.h"
#include "platform/os.h"

int bs__hub_code_new(bs_hub_store *st, const uint8_t *ca_der, size_t ca_len,
		     char out[BS__WIRE_CODE_TEXT_LEN + 1],
		     const char *branch, const char *staff, const char *role,
		     int64_t now_ms, int64_t ttl_ms)
{
	uint8_t rnd[BS__WIRE_CODE_RANDOM_LEN], h[32], mac[32];
	char id[BS__WIRE_CODE_ID_CHARS + 1];
	char secret[BS__WIRE_CODE_SECRET_CHARS + 1], hex[65], machex[65];
	bs_hub_conn *c = NULL;
	int rc, tries;

	if (!bs__wire_is_code(branch) || !bs__wire_is_code(staff))
		return bs__error(BS_EINVAL, "branch and staff must be codes: "
				 "1 to %d of A-Z a-z 0-9 . _ : @ -",
				 BS__WIRE_CODE_MAX);
	if (strcmp(role, "staff") != 0 && strcmp(role, "manager") != 0)
		return bs__error(BS_EINVAL, "role must be staff or manager");
	if (ttl_ms <= 0)
		return bs__error(BS_EINVAL, "a code must live a while");
	if ((rc = bs__hub_conn_get(&c, st)) != BS_OK)
		return rc;
	/* The id part has 20 bits: a clash with a live code is possible,
	 * and answered by drawing again. */
	for (tries = 0; tries < 8; tries++) {
		if ((rc = bs_os_random(rnd, sizeof(rnd))) != BS_OK)
			goto cleanup;
		bs__wire_code_make(out, id, secret, rnd);
		bs__wire_code_hash(h, id, secret);
		bs__wire_hex(hex, h, 32);
		bs__wire_ca_mac(mac, secret, ca_der, ca_len);
		bs__wire_hex(machex, mac, 32);
		if ((rc = bs__hub_begin(c, 1)) != BS_OK)
			goto cleanup;
		/* A code that was used or expired gives its id back. */
		rc = bs__hub_q(c, NULL, NULL, "DELETE FROM enroll_code WHERE "
			       "id = $1 AND (used_ms IS NOT NULL OR "
			       "expires_ms < $2)", "ti", id, now_ms);
		if (rc == BS_OK)
			rc = bs__hub_q(c, NULL, NULL,
				"INSERT INTO enroll_code (id, hash, ca_mac, "
				"branch, staff, role, created_ms, expires_ms) "
				"VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
				"ttttttii", id, hex, machex, branch, staff,
				role, now_ms, now_ms + ttl_ms);
		if (rc == BS_OK)
			rc = bs__hub_commit(c);
		bs__hub_rollback(c);
		if (rc != BS_EEXISTS)
			break;
	}
cleanup:
	mbedtls_platform_zeroize(secret, sizeof(secret));
	mbedtls_platform_zeroize(rnd, sizeof(rnd));
	bs__hub_conn_put(c);
	return rc;
}

/* Fill rs with an error: rc, cause, status; message from last error. */
static int refuse(struct bs_hub_resp *rs, int rc, int status,
		  const char *cause)
{
	struct bs__wire_fault f = { status, cause };

	bs__hub_error(rs, BS__WIRE_VERSION, rc, &f);
	return rc;
}

static int fail(struct bs_hub_resp *rs, int rc)
{
	bs__hub_error(rs, BS__WIRE_VERSION, rc, NULL);
	return rc;
}

/*
 * The enrollment code row for id (canonical), checked: exists, unused,
 * not expired.  *r is owned by the caller.  Columns: hash, branch,
 * staff, role, expires_ms, used_ms, ca_mac.
 */
static int code_row(bs_hub_conn *c, struct bs_hub_res **r, const char *id,
		    int64_t now_ms, struct bs_hub_resp *rs)
{
	int rc;

	rc = bs__hub_q(c, r, NULL, "SELECT hash, branch, staff, role, "
		       "expires_ms, used_ms, ca_mac FROM enroll_code WHERE "
		       "id = $1", "t", id);
	if (rc != BS_OK)
		return fail(rs, rc);
	if ((*r)->nrows != 1)
		return refuse(rs, bs__error(BS_EREFUSED, "no such enrollment "
			      "code"), 403, "code_unknown");
	if (bs__hub_text(*r, 0, 5) != NULL)
		return refuse(rs, bs__error(BS_EREFUSED, "this enrollment "
			      "code has been used; ask IT for a new one"),
			      403, "code_used");
	if (bs__hub_int(*r, 0, 4, 0) < now_ms)
		return refuse(rs, bs__error(BS_EREFUSED, "this enrollment "
			      "code has expired; ask IT for a new one"),
			      403, "code_expired");
	return BS_OK;
}

int bs__hub_enroll_ca(struct bs_hub *h, const struct bs_hub_req *rq,
		      struct bs_hub_resp *rs)
{
	struct bs_hub_res *r = NULL;
	bs_hub_conn *c = NULL;
	char id[16];
	int rc;

	if (bs__hub_query_param(rq->query, "code", id, sizeof(id)) !=
		    BS_OK ||
	    !bs__wire_code_id_valid(id))
		return refuse(rs, bs__error(BS_EINVAL, "query parameter "
			      "'code' must be the first %d characters of an "
			      "enrollment code", BS__WIRE_CODE_ID_CHARS), 400,
			      "field");
	if ((rc = bs__hub_conn_get(&c, h->store)) != BS_OK)
		return fail(rs, rc);
	if ((rc = code_row(c, &r, id, rq->now_ms, rs)) != BS_OK)
		goto cleanup;
	rs->status = 200;
	rs->doc = bs__wire_doc(BS__WIRE_VERSION);
	if (rs->doc == NULL ||
	    bs__json_put_str(rs->doc, "ca_pem", h->ca_pem) ||
	    bs__json_put_str(rs->doc, "ca_mac", bs__hub_text(r, 0, 6)) ||
	    bs__json_put_int(rs->doc, "hub_time_ms", rq->now_ms)) {
		cJSON_Delete(rs->doc);
		rs->doc = NULL;
		rc = fail(rs, bs__error_code(BS_ENOMEM));
	}
cleanup:
	bs__hub_res_free(r);
	bs__hub_conn_put(c);
	return rc;
}

int bs__hub_enroll(struct bs_hub *h, const struct bs_hub_req *rq,
		   struct bs_hub_resp *rs)
{
	struct bs__wire_fault f = { 0, NULL };
	struct bs_hub_res *r = NULL;
	bs_hub_conn *c = NULL;
	cJSON *doc = NULL;
	const char *code, *dev_id, *key;
	char id[BS__WIRE_CODE_ID_CHARS + 1];
	char secret[BS__WIRE_CODE_SECRET_CHARS + 1], hex[65];
	uint8_t hash[32], *der = NULL;
	size_t der_len = 0;
	int rc, n = 0;

	if ((rc = bs__wire_decode(&doc, NULL, rq->body, rq->body_len,
				  rq->encoding, &f)) != BS_OK)
		return refuse(rs, rc, f.status, f.cause);
	if ((rc = bs__wire_str(&code, doc, "code", 64, 0)) != BS_OK ||
	    (rc = bs__wire_uuid(&dev_id, doc, "device_id", 0)) != BS_OK ||
	    (rc = bs__wire_str(&key, doc, "public_key", 1024, 0)) !=
		    BS_OK) {
		refuse(rs, rc, 400, "field");
		goto cleanup;
	}
	if ((rc = bs__wire_code_parse(id, secret, code)) != BS_OK) {
		refuse(rs, rc, 400, "field");
		goto cleanup;
	}
	if ((rc = bs__wire_unb64(&der, &der_len, key, strlen(key),
				 BS__WIRE_KEY_MAX)) != BS_OK ||
	    (rc = bs__hub_pki_check_key(der, der_len)) != BS_OK) {
		rc = refuse(rs, bs__error(BS_EINVAL, "public_key must be an "
			    "ECDSA P-256 SubjectPublicKeyInfo, DER, base64"),
			    400, "field");
		goto cleanup;
	}
	if ((rc = bs__hub_conn_get(&c, h->store)) != BS_OK ||
	    (rc = bs__hub_begin(c, 1)) != BS_OK) {
		fail(rs, rc);
		goto cleanup;
	}
	if ((rc = code_row(c, &r, id, rq->now_ms, rs)) != BS_OK)
		goto cleanup;
	bs__wire_code_hash(hash, id, secret);
	bs__wire_hex(hex, hash, 32);
	if (!bs__wire_ct_equal(hex, bs__hub_text(r, 0, 0), 64)) {
		/* The same answer as an unknown id: a guess learns nothing
		 * about which half was wrong. */
		rc = refuse(rs, bs__error(BS_EREFUSED, "no such enrollment "
			    "code"), 403, "code_unknown");
		goto cleanup;
	}
	rc = bs__hub_q(c, NULL, &n, "UPDATE enroll_code SET used_ms = $2, "
		       "device_id = $3 WHERE id = $1 AND used_ms IS NULL",
		       "tit", id, rq->now_ms, dev_id);
	if (rc == BS_OK && n != 1)
		rc = refuse(rs, bs__error(BS_EREFUSED, "this enrollment code "
			    "has been used; ask IT for a new one"), 403,
			    "code_used");
	else if (rc != BS_OK)
		fail(rs, rc);
	if (rc != BS_OK)
		goto cleanup;
	rc = bs__hub_q(c, NULL, NULL, "INSERT INTO device (id, public_key, "
		       "branch, staff, role, code_id, enrolled_ms) VALUES ($1, "
		       "$2, $3, $4, $5, $6, $7)", "tttttti", dev_id, key,
		       bs__hub_text(r, 0, 1), bs__hub_text(r, 0, 2),
		       bs__hub_text(r, 0, 3), id, rq->now_ms);
	if (rc == BS_EEXISTS) {
		rc = refuse(rs, bs__error(BS_EEXISTS, "device %s is already "
			    "enrolled; a new device id is needed", dev_id),
			    409, "device_exists");
		goto cleanup;
	}
	if (rc != BS_OK || (rc = bs__hub_commit(c)) != BS_OK) {
		fail(rs, rc);
		goto cleanup;
	}
	rs->status = 200;
	rs->doc = bs__wire_doc(BS__WIRE_VERSION);
	{
		cJSON *scope = cJSON_CreateObject();

		if (rs->doc == NULL ||
		    bs__json_put_str(rs->doc, "device_id", dev_id) ||
		    bs__json_put_str(rs->doc, "branch",
				     bs__hub_text(r, 0, 1)) ||
		    bs__json_put_str(rs->doc, "staff",
				     bs__hub_text(r, 0, 2)) ||
		    bs__json_put_str(rs->doc, "role",
				     bs__hub_text(r, 0, 3)) ||
		    bs__json_put(rs->doc, "scope", scope) ||
		    bs__json_put_str(scope, "branch",
				     bs__hub_text(r, 0, 1)) ||
		    bs__json_put_str(scope, "staff",
				     strcmp(bs__hub_text(r, 0, 3),
					    "manager") == 0 ?
					     NULL :
					     bs__hub_text(r, 0, 2)) ||
		    bs__json_put_int(rs->doc, "hub_time_ms", rq->now_ms)) {
			cJSON_Delete(rs->doc);
			rs->doc = NULL;
			rc = fail(rs, bs__error_code(BS_ENOMEM));
		}
	}
cleanup:
	if (c != NULL)
		bs__hub_rollback(c);
	mbedtls_platform_zeroize(secret, sizeof(secret));
	bs__hub_conn_put(c);
	bs__hub_res_free(r);
	bs__free(der);
	cJSON_Delete(doc);
	return rc;
}

/* Parse a decimal time, digits only, at most 15 of them. */
static int parse_ms(const char *s, int64_t *out)
{
	size_t i, n = s ? strlen(s) : 0;
	int64_t v = 0;

	if (n == 0 || n > 15)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 1;
}

/* Last seen is written when it is older than this. */
#define LAST_SEEN_MS 60000

static int unauthorized(struct bs_hub_resp *rs, const char *cause,
			const char *msg)
{
	return refuse(rs, bs__error(BS_EBADKEY, "%s", msg), 401, cause);
}

int bs__hub_authenticate(struct bs_hub *h, const struct bs_hub_req *rq,
			 struct bs_hub_device *dev, struct bs_hub_resp *rs)
{
	struct bs_hub_res *r = NULL;
	bs_hub_conn *c = NULL;
	char *canon = NULL;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	int64_t t, expires, seen;
	int rc, stale;

	if (rq->device == NULL || rq->time == NULL || rq->nonce == NULL ||
	    rq->signature == NULL)
		return unauthorized(rs, "unsigned", "request is not signed: "
				    "X-BS-Device, X-BS-Time, X-BS-Nonce and "
				    "X-BS-Signature are needed");
	if (!parse_ms(rq->time, &t))
		return unauthorized(rs, "unsigned", "X-BS-Time must be "
				    "milliseconds since the epoch");
	if (bs__wire_canonical(&canon, rq->method, rq->target, rq->device, t,
			       rq->nonce, rq->body, rq->body_len) != BS_OK)
		return unauthorized(rs, "unsigned", "X-BS-Device or "
				    "X-BS-Nonce is malformed");
	if ((rc = bs__hub_conn_get(&c, h->store)) != BS_OK) {
		fail(rs, rc);
		goto cleanup;
	}
	rc = bs__hub_q(c, &r, NULL, "SELECT public_key, branch, staff, role, "
		       "revoked_ms, last_seen_ms FROM device WHERE id = $1",
		       "t", rq->device);
	if (rc != BS_OK) {
		fail(rs, rc);
		goto cleanup;
	}
	if (r->nrows != 1) {
		rc = unauthorized(rs, "unknown_device", "this device is not "
				  "enrolled here");
		goto cleanup;
	}
	if (llabs(t - rq->now_ms) > h->skew_ms) {
		rc = unauthorized(rs, "clock_skew", "request time is too far "
				  "from the hub's; sign with hub_time_ms");
		goto cleanup;
	}
	/* Nonces in memory begin empty: what was signed before this
	 * process started could be a replay it cannot recognise. */
	if (h->replay != NULL && t < h->start_ms) {
		rc = unauthorized(rs, "clock_skew", "request was signed before "
				  "the hub started; sign again with "
				  "hub_time_ms");
		goto cleanup;
	}
	if (bs__wire_unb64(&sig, &sig_len, rq->signature,
			   strlen(rq->signature), 160) != BS_OK ||
	    bs__hub_pki_verify(bs__hub_text(r, 0, 0), canon, sig,
			       sig_len) != BS_OK) {
		rc = unauthorized(rs, "signature", "signature does not "
				  "verify with this device's key");
		goto cleanup;
	}
	if (bs__hub_text(r, 0, 4) != NULL) {
		rc = refuse(rs, bs__error(BS_EREVOKED, "this device has been "
			    "revoked; its data must be wiped"), 403,
			    "revoked");
		goto cleanup;
	}
	/*
	 * The nonce is remembered for as long as a request carrying it
	 * could still pass the clock check: in the memory of the only hub
	 * serving a SQLite database, or else in the database, so that every
	 * hub process sharing it refuses the replay.  The latter is a light
	 * transaction, not waiting for the disk: a crash of the machine may
	 * forget the nonces of its last moments, and for the five minutes
	 * of their window a copy of such a request would be accepted once
	 * more.  A replayed push changes nothing (operations are
	 * idempotent); a replayed pull reads what its device could read.
	 * Last seen is written, and the device's expired nonces deleted,
	 * when it is a minute old, not every time.
	 */
	expires = (t > rq->now_ms ? t : rq->now_ms) + h->skew_ms + 1;
	seen = bs__hub_int(r, 0, 5, 0);
	stale = rq->now_ms - seen >= LAST_SEEN_MS || seen > rq->now_ms;
	if (h->replay != NULL)
		rc = bs__hub_replay_check(h->replay, rq->device, rq->nonce,
					  expires, rq->now_ms);
	if (rc == BS_OK && (h->replay == NULL || stale) &&
	    (rc = bs__hub_begin(c, BS_HUB_LIGHT)) == BS_OK) {
		if (h->replay == NULL && stale)
			rc = bs__hub_q(c, NULL, NULL, "DELETE FROM nonce WHERE "
				       "device_id = $1 AND expires_ms < $2",
				       "ti", rq->device, rq->now_ms);
		if (rc == BS_OK && h->replay == NULL)
			rc = bs__hub_q(c, NULL, NULL, "INSERT INTO nonce "
				       "(device_id, nonce, expires_ms) VALUES "
				       "($1, $2, $3)", "tti", rq->device,
				       rq->nonce, expires);
		if (rc == BS_OK && stale)
			rc = bs__hub_q(c, NULL, NULL, "UPDATE device SET "
				       "last_seen_ms = $2 WHERE id = $1",
				       "ti", rq->device, rq->now_ms);
		if (rc == BS_OK)
			rc = bs__hub_commit(c);
	}
	if (rc == BS_EEXISTS) {
		rc = unauthorized(rs, "replayed", "this request was already "
				  "received (nonce seen before)");
		goto cleanup;
	}
	if (rc != BS_OK) {
		fail(rs, rc);
		goto cleanup;
	}
	snprintf(dev->id, sizeof(dev->id), "%s", rq->device);
	snprintf(dev->branch, sizeof(dev->branch), "%s",
		 bs__hub_text(r, 0, 1));
	snprintf(dev->staff, sizeof(dev->staff), "%s",
		 bs__hub_text(r, 0, 2));
	snprintf(dev->role, sizeof(dev->role), "%s", bs__hub_text(r, 0, 3));
	dev->actor = strcmp(dev->role, "manager") == 0 ?
			     BS__ACTOR_BR_MANAGER : BS__ACTOR_BR;
cleanup:
	if (c != NULL)
		bs__hub_rollback(c);
	bs__hub_conn_put(c);
	bs__hub_res_free(r);
	bs__free(sig);
	bs__free(canon);
	return rc;
}
