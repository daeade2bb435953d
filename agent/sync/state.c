/*
 * state.c - the device's sync settings, kept in the encrypted store's
 * sync_state table: the hub's URL and pinned CA, the device's private
 * key, the pull cursor, the hub's clock offset, when the device last
 * heard from the hub and head office's offline policy.  Values keep their own SQLite type (text, integer,
 * BLOB for the key).
 *
 * Also the small helpers every file of agent/sync uses: SQLite errors,
 * the random source for mbedTLS, and opening the connection of an
 * enrolled store.
 */
#include <stdarg.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "agent/core/common.h"
#include "platform/os.h"
#include "sync_internal.h"

int bs__sync_sqlerr(sqlite3 *db, int src, const char *what)
{
	if (src == SQLITE_FULL || src == SQLITE_IOERR ||
	    (src & 0xff) == SQLITE_IOERR)
		return bs__error(BS_EIO, "%s: %s", what, sqlite3_errmsg(db));
	if (src == SQLITE_BUSY || src == SQLITE_LOCKED)
		return bs__error(BS_EBUSY, "%s: the store is busy", what);
	if (src == SQLITE_NOMEM)
		return bs__error_code(BS_ENOMEM);
	if (src == SQLITE_CORRUPT || src == SQLITE_NOTADB)
		return bs__error(BS_EDAMAGED, "%s: %s", what,
				 sqlite3_errmsg(db));
	if ((src & 0xff) == SQLITE_CONSTRAINT)
		return bs__error(BS_EINVAL, "%s: %s", what,
				 sqlite3_errmsg(db));
	return bs__error(BS_ERR, "%s: %s", what, sqlite3_errmsg(db));
}

int bs__sync_because(int rc, const char *fmt, ...)
{
	char head[512], why[512];
	va_list ap;

	/* Copied first: the last error is the buffer bs__error() writes. */
	snprintf(why, sizeof(why), "%s", bs_last_error());
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	return bs__error(rc, "%s: %s", head, why);
}

int bs__sync_exec(sqlite3 *db, const char *sql, const char *what)
{
	int src = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return src == SQLITE_OK ? BS_OK : bs__sync_sqlerr(db, src, what);
}

int bs__sync_rng(void *ctx, unsigned char *buf, size_t n)
{
	(void)ctx;
	return bs_os_random(buf, n) == BS_OK ? 0 : -1;
}

/* Step a SELECT value FROM sync_state for key; SQLITE_ROW or DONE. */
static int get(sqlite3 *db, const char *key, sqlite3_stmt **s)
{
	int src;

	src = sqlite3_prepare_v2(db, "SELECT value FROM sync_state WHERE "
				 "key = ?1", -1, s, NULL);
	if (src != SQLITE_OK) {
		*s = NULL;
		return bs__sync_sqlerr(db, src, "read sync settings");
	}
	sqlite3_bind_text(*s, 1, key, -1, SQLITE_STATIC);
	src = sqlite3_step(*s);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		return bs__sync_sqlerr(db, src, "read sync settings");
	return src == SQLITE_ROW ? 1 : 0;
}

int bs__ss_text(sqlite3 *db, const char *key, char **out)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*out = NULL;
	rc = get(db, key, &s);
	if (rc == 1 && sqlite3_column_type(s, 0) == SQLITE_TEXT) {
		*out = bs__strdup((const char *)sqlite3_column_text(s, 0));
		rc = *out != NULL ? BS_OK : bs__error_code(BS_ENOMEM);
	} else if (rc > 0) {
		rc = BS_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

int bs__ss_int(sqlite3 *db, const char *key, int64_t *out, int *present)
{
	sqlite3_stmt *s = NULL;
	int rc;

	*out = 0;
	if (present != NULL)
		*present = 0;
	rc = get(db, key, &s);
	if (rc == 1 && sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
		*out = sqlite3_column_int64(s, 0);
		if (present != NULL)
			*present = 1;
	}
	sqlite3_finalize(s);
	return rc < 0 ? rc : BS_OK;
}

int bs__ss_blob(sqlite3 *db, const char *key, uint8_t **out, size_t *len)
{
	sqlite3_stmt *s = NULL;
	int rc, n;

	*out = NULL;
	*len = 0;
	rc = get(db, key, &s);
	if (rc == 1 && sqlite3_column_type(s, 0) == SQLITE_BLOB &&
	    (n = sqlite3_column_bytes(s, 0)) > 0) {
		if ((*out = bs__malloc((size_t)n)) == NULL) {
			rc = bs__error_code(BS_ENOMEM);
		} else {
			memcpy(*out, sqlite3_column_blob(s, 0), (size_t)n);
			*len = (size_t)n;
			rc = BS_OK;
		}
	} else if (rc > 0) {
		rc = BS_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

static int put(sqlite3 *db, const char *key, int type, const char *text,
	       int64_t i, const void *blob, size_t len)
{
	sqlite3_stmt *s = NULL;
	int src;

	src = sqlite3_prepare_v2(db, "INSERT INTO sync_state (key, value, "
				 "updated_ms) VALUES (?1, ?2, ?3) ON CONFLICT "
				 "(key) DO UPDATE SET value = excluded.value, "
				 "updated_ms = excluded.updated_ms", -1, &s,
				 NULL);
	if (src != SQLITE_OK)
		return bs__sync_sqlerr(db, src, "write sync settings");
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (type == SQLITE_TEXT)
		sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
	else if (type == SQLITE_INTEGER)
		sqlite3_bind_int64(s, 2, i);
	else
		sqlite3_bind_blob(s, 2, blob, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, bs_os_now_ms());
	src = sqlite3_step(s);
	sqlite3_finalize(s);
	if (src != SQLITE_DONE)
		return bs__sync_sqlerr(db, src, "write sync settings");
	return BS_OK;
}

int bs__ss_put_text(sqlite3 *db, const char *key, const char *v)
{
	return put(db, key, SQLITE_TEXT, v, 0, NULL, 0);
}

int bs__ss_put_int(sqlite3 *db, const char *key, int64_t v)
{
	return put(db, key, SQLITE_INTEGER, NULL, v, NULL, 0);
}

int bs__ss_put_blob(sqlite3 *db, const char *key, const void *v, size_t len)
{
	return put(db, key, SQLITE_BLOB, NULL, 0, v, len);
}

int bs__ss_delete(sqlite3 *db, const char *key)
{
	sqlite3_stmt *s = NULL;
	int src;

	src = sqlite3_prepare_v2(db, "DELETE FROM sync_state WHERE key = ?1",
				 -1, &s, NULL);
	if (src != SQLITE_OK)
		return bs__sync_sqlerr(db, src, "write sync settings");
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	sqlite3_finalize(s);
	return src == SQLITE_DONE ? BS_OK
				  : bs__sync_sqlerr(db, src,
						    "write sync settings");
}

int bs__sync_connect(struct bs__net *n, sqlite3 *db, const bs_sync_opts *o)
{
	char *url = NULL, *ca = NULL, *dev = NULL, *state = NULL;
	uint8_t *key = NULL;
	size_t klen = 0;
	int64_t off;
	int rc, have;

	memset(n, 0, sizeof(*n));
	mbedtls_pk_init(&n->key);
	if ((rc = bs__ss_text(db, BS__SK_HUB_URL, &url)) ||
	    (rc = bs__ss_text(db, BS__SK_CA, &ca)) ||
	    (rc = bs__ss_text(db, "device_id", &dev)) ||
	    (rc = bs__ss_text(db, BS__SK_ENROLL, &state)) ||
	    (rc = bs__ss_blob(db, BS__SK_KEY, &key, &klen)) ||
	    (rc = bs__ss_int(db, BS__SK_OFFSET, &off, &have)))
		goto cleanup;
	if (url == NULL || ca == NULL || dev == NULL || key == NULL ||
	    state == NULL || strcmp(state, "done") != 0 ||
	    strlen(dev) != BS__UUID_TEXT_LEN) {
		rc = bs__error(BS_EINVAL, "this device is not enrolled with a "
			       "hub: run 'branchsync enroll HUB_URL CODE' "
			       "first");
		goto cleanup;
	}
	if ((rc = bs__net_open(n, url, ca, o->connect_timeout_ms,
			       o->timeout_ms)) != BS_OK)
		goto cleanup;
	memcpy(n->device, dev, BS__UUID_TEXT_LEN + 1);
	n->clock.offset_ms = have ? off : 0;
	if (mbedtls_pk_parse_key(&n->key, key, klen, NULL, 0) != 0 ||
	    !mbedtls_pk_can_do(&n->key, MBEDTLS_PK_ECDSA)) {
		rc = bs__error(BS_EDAMAGED, "the device key in the store "
			       "cannot be read");
		bs__net_close(n);
		goto cleanup;
	}
	n->have_key = 1;
cleanup:
	if (key != NULL)
		mbedtls_platform_zeroize(key, klen);
	bs__free(key);
	bs__free(url);
	bs__free(ca);
	bs__free(dev);
	bs__free(state);
	return rc;
}

int bs__sync_save_clock(sqlite3 *db, const struct bs__hub_clock *c)
{
	int rc;

	if (c->have_policy &&
	    (rc = bs__ss_put_int(db, BS__SK_MAX_OFFLINE, c->max_offline_ms)))
		return rc;
	if (!c->have_offset)
		return BS_OK;
	if ((rc = bs__ss_put_int(db, BS__SK_OFFSET, c->offset_ms)) != BS_OK)
		return rc;
	return bs__ss_put_int(db, BS__SK_LAST_SYNC, bs_os_now_ms());
}

int bs__sync_audit(sqlite3 *db, const char *actor, const char *action,
		   const char *entity, const char *entity_id,
		   const cJSON *detail)
{
	sqlite3_stmt *s = NULL;
	char *text = NULL;
	int rc = BS_OK, src;

	if (detail != NULL && (text = cJSON_PrintUnformatted(detail)) == NULL)
		return bs__error_code(BS_ENOMEM);
	src = sqlite3_prepare_v2(db, "INSERT INTO audit (at_ms, actor, "
				 "action, entity, entity_id, detail) VALUES "
				 "(?1, ?2, ?3, ?4, ?5, ?6)", -1, &s, NULL);
	if (src == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, bs_os_now_ms());
		sqlite3_bind_text(s, 2, actor ? actor : "sync", -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(s, 3, action, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, entity, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, entity_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 6, text, -1, SQLITE_STATIC);
		src = sqlite3_step(s);
	}
	if (src != SQLITE_DONE)
		rc = bs__sync_sqlerr(db, src, "write audit");
	sqlite3_finalize(s);
	bs__free(text);
	return rc;
}

int bs__sync_q(sqlite3 *db, const char *what, const char *sql,
	       const char *types, ...)
{
	sqlite3_stmt *s = NULL;
	va_list ap;
	int src, i;

	src = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (src != SQLITE_OK)
		return bs__sync_sqlerr(db, src, what);
	va_start(ap, types);
	for (i = 0; types[i] != '\0'; i++) {
		if (types[i] == 'i') {
			sqlite3_bind_int64(s, i + 1, va_arg(ap, int64_t));
		} else {
			const char *v = va_arg(ap, const char *);

			if (v == NULL)
				sqlite3_bind_null(s, i + 1);
			else
				sqlite3_bind_text(s, i + 1, v, -1,
						  SQLITE_TRANSIENT);
		}
	}
	va_end(ap);
	while ((src = sqlite3_step(s)) == SQLITE_ROW)
		;
	sqlite3_finalize(s);
	return src == SQLITE_DONE ? BS_OK : bs__sync_sqlerr(db, src, what);
}
