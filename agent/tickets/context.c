/*
 * context.c - the context every ticket call starts from: the device's
 * settings (sync_state), who acts and with which role, what time it is
 * (the device clock corrected by the hub's offset when a sync taught
 * it), the hybrid logical clock, and the transaction around a change.
 *
 * Also the small SQLite and validation helpers the other files share,
 * and the lookup of a ticket by id, reference or id prefix.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "agent/core/common.h"
#include "agent/core/utf8.h"
#include "agent/store/store_internal.h"
#include "platform/os.h"
#include "tickets_internal.h"

int bs__tk_sqlerr(struct bs__tk *tk, int src, const char *what)
{
	return bs__store_error(tk->st, src, what);
}

int bs__tk_prepare(struct bs__tk *tk, sqlite3_stmt **s, const char *sql)
{
	int src = sqlite3_prepare_v2(tk->db, sql, -1, s, NULL);

	if (src != SQLITE_OK) {
		*s = NULL;
		return bs__tk_sqlerr(tk, src, "prepare");
	}
	return BS_OK;
}

int bs__tk_step_done(struct bs__tk *tk, sqlite3_stmt *s, const char *what)
{
	int src = sqlite3_step(s);

	if (src != SQLITE_DONE && src != SQLITE_ROW)
		return bs__tk_sqlerr(tk, src, what);
	return BS_OK;
}

int bs__tk_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v == NULL)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
}

int bs__tk_bind_opt_int(sqlite3_stmt *s, int i, int64_t v, int present)
{
	if (!present)
		return sqlite3_bind_null(s, i);
	return sqlite3_bind_int64(s, i, v);
}

int bs__tk_check_text(const char *what, const char *s, size_t max,
		      int optional)
{
	size_t len, bad;

	if (s == NULL || s[0] == '\0') {
		if (optional)
			return BS_OK;
		return bs__error(BS_EINVAL, "%s is required", what);
	}
	len = strlen(s);
	if (!bs__utf8_valid(s, len, &bad))
		return bs__error(BS_EINVAL,
				 "%s is not valid UTF-8 (byte %zu)", what,
				 bad + 1);
	if (len > max)
		return bs__error(BS_EINVAL,
				 "%s is too long: %zu bytes, at most %zu",
				 what, len, max);
	return BS_OK;
}

int bs__tk_is_code(const char *s)
{
	size_t n;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (n = 0; s[n] != '\0'; n++) {
		char c = s[n];

		if (n == BS__TK_CODE_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-' || c == ':' || c == '@'))
			return 0;
	}
	return 1;
}

/* Copy the text column of row 0 of sql (one text parameter) into out,
 * "" if there is no row or it is NULL. */
static int state_text(struct bs__tk *tk, const char *key, char *out,
		      size_t cap)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *v;
	int rc, src;

	out[0] = '\0';
	rc = bs__tk_prepare(tk, &s,
			    "SELECT value FROM sync_state WHERE key = ?1");
	if (rc != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		v = sqlite3_column_text(s, 0);
		if (v != NULL && strlen((const char *)v) < cap)
			strcpy(out, (const char *)v);
	} else if (src != SQLITE_DONE) {
		rc = bs__tk_sqlerr(tk, src, "read device settings");
	}
	sqlite3_finalize(s);
	return rc;
}

int bs__tk_state_int(struct bs__tk *tk, const char *key, int64_t *out,
		     int *present)
{
	sqlite3_stmt *s = NULL;
	int rc, src;

	*present = 0;
	*out = 0;
	rc = bs__tk_prepare(tk, &s,
			    "SELECT value FROM sync_state WHERE key = ?1");
	if (rc != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		if (sqlite3_column_type(s, 0) == SQLITE_INTEGER) {
			*out = sqlite3_column_int64(s, 0);
			*present = 1;
		}
	} else if (src != SQLITE_DONE) {
		rc = bs__tk_sqlerr(tk, src, "read device settings");
	}
	sqlite3_finalize(s);
	return rc;
}

/* The role of actor_staff: the device's own role, or what the staff
 * directory says of another staff member who opened the store. */
static int load_role(struct bs__tk *tk)
{
	sqlite3_stmt *s = NULL;
	const char *role = tk->role;
	char other[32] = "";
	int rc;

	if (strcmp(tk->actor_staff, tk->staff) != 0) {
		rc = bs__tk_prepare(tk, &s,
				    "SELECT role FROM staff WHERE id = ?1");
		if (rc != BS_OK)
			return rc;
		sqlite3_bind_text(s, 1, tk->actor_staff, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW &&
		    sqlite3_column_bytes(s, 0) < (int)sizeof(other))
			strcpy(other, (const char *)sqlite3_column_text(s, 0));
		sqlite3_finalize(s);
		role = other;
	}
	tk->actor = strcmp(role, "manager") == 0 ||
				    strcmp(role, "branch_manager") == 0
			    ? BS__ACTOR_BR_MANAGER
			    : BS__ACTOR_BR;
	return BS_OK;
}

int bs__tk_load(struct bs__tk *tk, bs_store *st, int need_device)
{
	char hlc[BS__HLC_TEXT_LEN + 8];
	int64_t offset, synced;
	int have_offset, have_synced;
	uint64_t last = 0;
	int rc;

	memset(tk, 0, sizeof(*tk));
	bs__json_init();
	if (st == NULL || bs_store_db(st) == NULL)
		return bs__error(BS_EINVAL, "no open store");
	tk->st = st;
	tk->db = bs_store_db(st);
	if ((rc = state_text(tk, "device_id", tk->device_id,
			     sizeof(tk->device_id))) ||
	    (rc = state_text(tk, "staff", tk->staff, sizeof(tk->staff))) ||
	    (rc = state_text(tk, "branch", tk->branch, sizeof(tk->branch))) ||
	    (rc = state_text(tk, "role", tk->role, sizeof(tk->role))) ||
	    (rc = state_text(tk, "hlc_last", hlc, sizeof(hlc))))
		return rc;
	tk->have_device = tk->device_id[0] != '\0';
	if (need_device && !tk->have_device)
		return bs__error(BS_EINVAL,
				 "the store has no device identity yet: run "
				 "'branchsync init' first");
	tk->author = bs_store_opened_by(st);
	if (tk->author == NULL)
		tk->author = "device";
	snprintf(tk->actor_staff, sizeof(tk->actor_staff), "%s",
		 strcmp(tk->author, "device") == 0 && tk->staff[0]
			 ? tk->staff
			 : tk->author);
	if ((rc = load_role(tk)) != BS_OK)
		return rc;

	tk->device_ms = bs_os_now_ms();
	if ((rc = bs__tk_state_int(tk, "hub_clock_offset_ms", &offset,
				   &have_offset)) ||
	    (rc = bs__tk_state_int(tk, "last_sync_ms", &synced,
				   &have_synced)))
		return rc;
	tk->now_ms = bs__sla_hub_now(&tk->trust, tk->device_ms,
				     have_offset ? offset : 0,
				     have_offset && have_synced
					     ? synced
					     : BS__SLA_NONE,
				     BS__SLA_TRUST_MAX_AGE_MS);
	if (tk->now_ms < 0 || tk->now_ms > BS__HLC_MAX_MS)
		tk->now_ms = tk->device_ms;

	if (hlc[0] != '\0' && bs__hlc_parse(&last, hlc, strlen(hlc)) != BS_OK)
		last = 0; /* a damaged value restarts from the wall clock */
	bs__error_clear();
	bs__hlc_init(&tk->clock, last, 0);
	tk->clock_loaded = last;
	return BS_OK;
}

int bs__tk_begin(struct bs__tk *tk, bs_store *st, int need_device)
{
	sqlite3 *db = st != NULL ? bs_store_db(st) : NULL;
	int src, rc;

	if (db == NULL)
		return bs__error(BS_EINVAL, "no open store");
	src = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (src != SQLITE_OK)
		return bs__store_error(st, src, "begin");
	rc = bs__tk_load(tk, st, need_device);
	tk->in_tx = 1;
	tk->st = st;
	tk->db = db;
	if (rc != BS_OK)
		bs__tk_rollback(tk);
	return rc;
}

int bs__tk_commit(struct bs__tk *tk)
{
	char text[BS__HLC_TEXT_LEN + 1];
	sqlite3_stmt *s = NULL;
	int rc = BS_OK, src;

	if (tk->clock.last != tk->clock_loaded) {
		bs__hlc_format(text, tk->clock.last);
		rc = bs__tk_prepare(tk, &s,
				    "INSERT INTO sync_state (key, value, "
				    "updated_ms) VALUES ('hlc_last', ?1, ?2) "
				    "ON CONFLICT (key) DO UPDATE SET "
				    "value = excluded.value, "
				    "updated_ms = excluded.updated_ms");
		if (rc == BS_OK) {
			sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 2, tk->device_ms);
			rc = bs__tk_step_done(tk, s, "save clock");
		}
		sqlite3_finalize(s);
	}
	if (rc == BS_OK) {
		src = sqlite3_exec(tk->db, "COMMIT", NULL, NULL, NULL);
		if (src != SQLITE_OK)
			rc = bs__tk_sqlerr(tk, src, "commit");
		else
			tk->in_tx = 0;
	}
	if (rc != BS_OK)
		bs__tk_rollback(tk);
	return rc;
}

void bs__tk_rollback(struct bs__tk *tk)
{
	if (tk->in_tx && tk->db != NULL && !sqlite3_get_autocommit(tk->db))
		sqlite3_exec(tk->db, "ROLLBACK", NULL, NULL, NULL);
	tk->in_tx = 0;
}

int bs__tk_stamp(struct bs__tk *tk, uint64_t *stamp,
		 char text[BS__HLC_TEXT_LEN + 1])
{
	uint64_t v;
	int rc = bs__hlc_now(&v, &tk->clock, tk->now_ms);

	if (rc != BS_OK)
		return rc;
	if (stamp != NULL)
		*stamp = v;
	if (text != NULL)
		bs__hlc_format(text, v);
	return BS_OK;
}

int bs__tk_witness(struct bs__tk *tk, uint64_t stamp)
{
	if (stamp > tk->clock.last)
		tk->clock.last = stamp;
	return BS_OK;
}

int bs__tk_new_id(struct bs__tk *tk, char out[BS__UUID_TEXT_LEN + 1])
{
	uint8_t rnd[BS__UUID_RANDOM_LEN], u[BS__UUID_LEN];
	int rc;

	if ((rc = bs_os_random(rnd, sizeof(rnd))) != BS_OK)
		return rc;
	if ((rc = bs__uuid_next(u, &tk->ids, tk->device_ms, rnd)) != BS_OK)
		return rc;
	bs__uuid_format(out, u);
	return BS_OK;
}

static int is_id_prefix(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 8 || n > BS__UUID_TEXT_LEN)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f') || s[i] == '-'))
			return 0;
	return 1;
}

int bs__tk_resolve(struct bs__tk *tk, const char *name,
		   char id[BS__UUID_TEXT_LEN + 1])
{
	static const char *const sql[] = {
		"SELECT id FROM ticket WHERE id = ?1",
		"SELECT id FROM ticket WHERE ref = ?1",
		"SELECT id FROM ticket WHERE id >= ?1 AND id < ?1 || '~' "
		"ORDER BY id LIMIT 2",
	};
	sqlite3_stmt *s = NULL;
	int rc, src, rows;
	size_t q;

	if ((rc = bs__tk_check_text("ticket", name, BS__TK_CODE_MAX, 0)))
		return rc;
	for (q = 0; q < BS__ARRAY_LEN(sql); q++) {
		if (q == 2 && !is_id_prefix(name))
			break;
		if ((rc = bs__tk_prepare(tk, &s, sql[q])) != BS_OK)
			return rc;
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		rows = 0;
		while ((src = sqlite3_step(s)) == SQLITE_ROW) {
			if (rows++ == 0)
				snprintf(id, BS__UUID_TEXT_LEN + 1, "%s",
					 (const char *)sqlite3_column_text(s,
									   0));
		}
		sqlite3_finalize(s);
		if (src != SQLITE_DONE)
			return bs__tk_sqlerr(tk, src, "find ticket");
		if (rows == 1)
			return BS_OK;
		if (rows > 1)
			return bs__error(BS_EINVAL,
					 "ticket '%s' is ambiguous: more than "
					 "one ticket id starts with it",
					 name);
	}
	return bs__error(BS_ENOTFOUND, "no ticket '%s'", name);
}
