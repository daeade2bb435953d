/*
 * init.c - a new store's ticket side (device identity, staff member,
 * default catalogue) and the facts `branchsync status` shows.
 *
 * The device id is minted here, once: it names this device in every
 * outbox operation ("device:seq") and in every field clock, so it must
 * never change for the life of the store.  The default catalogue goes
 * through the import code, so that the shipped files obey exactly the
 * format head office's exports do.
 */
#include <string.h>

#include "agent/core/common.h"
#include "agent/core/embed.h"
#include "tickets_internal.h"

void bs_free(void *p)
{
	bs__free(p);
}

static int put_setting(struct bs__tk *tk, const char *key, const char *value)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = bs__tk_prepare(tk, &s,
			    "INSERT INTO sync_state (key, value, updated_ms) "
			    "VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE "
			    "SET value = excluded.value, "
			    "updated_ms = excluded.updated_ms");
	if (rc != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, tk->device_ms);
	rc = bs__tk_step_done(tk, s, "save device settings");
	sqlite3_finalize(s);
	return rc;
}

static int load_catalogue(struct bs__tk *tk, cJSON *detail)
{
	struct bs__importer *im = NULL;
	bs_import_report rep;
	const struct bs__embedded *e;
	int rc;

	if ((rc = bs__import_new(&im, tk, &rep)) != BS_OK)
		return rc;
	for (e = bs__default_catalogue; e->name != NULL; e++) {
		rc = bs__import_text(im, e->name, e->text, strlen(e->text));
		if (rc != BS_OK)
			goto cleanup;
	}
	if ((rc = bs__import_finish(im, "default catalogue")) ||
	    (rc = bs__json_put_int(detail, "categories",
				   (int64_t)rep.categories)) ||
	    (rc = bs__json_put_int(detail, "templates",
				   (int64_t)rep.templates)))
		goto cleanup;
cleanup:
	bs__import_free(im);
	return rc;
}

int bs_tickets_init(bs_store *st, const char *staff, const char *branch,
		    const char *role)
{
	struct bs__tk tk;
	cJSON *detail = NULL;
	char device[BS__UUID_TEXT_LEN + 1];
	int rc;

	if (!bs__tk_is_code(staff))
		return bs__error(BS_EINVAL,
				 "staff id must be 1 to %d letters, digits "
				 "or ._:@-",
				 BS__TK_CODE_MAX);
	if (!bs__tk_is_code(branch))
		return bs__error(BS_EINVAL,
				 "branch code must be 1 to %d letters, digits "
				 "or ._:@-",
				 BS__TK_CODE_MAX);
	if (role == NULL ||
	    (strcmp(role, "staff") != 0 && strcmp(role, "manager") != 0))
		return bs__error(BS_EINVAL,
				 "role must be 'staff' or 'manager'");
	if ((rc = bs__tk_begin(&tk, st, 0)) != BS_OK)
		return rc;
	if (tk.have_device) {
		rc = bs__error(BS_EEXISTS,
			       "the store is already set up for staff '%s'",
			       tk.staff);
		goto cleanup;
	}
	if (strcmp(tk.author, "device") != 0 && strcmp(tk.author, staff)) {
		rc = bs__error(BS_EINVAL,
			       "the store was opened by '%s', not by '%s'",
			       tk.author, staff);
		goto cleanup;
	}
	if ((rc = bs__tk_new_id(&tk, device)) ||
	    (rc = put_setting(&tk, "device_id", device)) ||
	    (rc = put_setting(&tk, "staff", staff)) ||
	    (rc = put_setting(&tk, "branch", branch)) ||
	    (rc = put_setting(&tk, "role", role)))
		goto cleanup;
	memcpy(tk.device_id, device, sizeof(device));
	tk.have_device = 1;
	if ((detail = cJSON_CreateObject()) == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if ((rc = bs__json_put_str(detail, "device_id", device)) ||
	    (rc = bs__json_put_str(detail, "staff", staff)) ||
	    (rc = bs__json_put_str(detail, "branch", branch)) ||
	    (rc = bs__json_put_str(detail, "role", role)) ||
	    (rc = load_catalogue(&tk, detail)) ||
	    (rc = bs__tk_audit(&tk, "init", "device", device, detail)))
		goto cleanup;
	rc = bs__tk_commit(&tk);
cleanup:
	bs__tk_rollback(&tk);
	cJSON_Delete(detail);
	return rc;
}

/* Run sql (no parameters) and put its first column as an integer. */
static int put_count(struct bs__tk *tk, cJSON *o, const char *key,
		     const char *sql)
{
	sqlite3_stmt *s = NULL;
	int rc, src;

	if ((rc = bs__tk_prepare(tk, &s, sql)) != BS_OK)
		return rc;
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		if (sqlite3_column_type(s, 0) == SQLITE_NULL)
			rc = bs__json_put_null(o, key);
		else
			rc = bs__json_put_int(o, key,
					      sqlite3_column_int64(s, 0));
	} else {
		rc = bs__tk_sqlerr(tk, src, "status");
	}
	sqlite3_finalize(s);
	return rc;
}

/* How many open tickets are overdue now (a running clock is late). */
static int put_overdue(struct bs__tk *tk, cJSON *o)
{
	sqlite3_stmt *s = NULL;
	struct bs__tk_sla sla;
	cJSON *j = NULL;
	int64_t n = 0, due;
	int late, rc, src;

	rc = bs__tk_prepare(tk, &s,
			    "SELECT " BS__TK_SLA_COLS " FROM ticket t "
			    "LEFT JOIN catalogue_category c "
			    "ON c.code = t.category_code JOIN ticket_state s "
			    "ON s.name = t.status WHERE s.open = 1");
	if (rc != BS_OK)
		return rc;
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		bs__tk_sla_from_row(tk, s, 0, &sla);
		if (bs__tk_sla_json(tk, &sla, &j, &due, &late) == BS_OK &&
		    late)
			n++;
		cJSON_Delete(j);
		j = NULL;
	}
	if (src != SQLITE_DONE)
		rc = bs__tk_sqlerr(tk, src, "status");
	sqlite3_finalize(s);
	bs__error_clear();
	return rc ? rc : bs__json_put_int(o, "overdue", n);
}

static int put_setting_json(struct bs__tk *tk, cJSON *o, const char *key)
{
	sqlite3_stmt *s = NULL;
	int rc, src;

	rc = bs__tk_prepare(tk, &s,
			    "SELECT value FROM sync_state WHERE key = ?1");
	if (rc != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) == SQLITE_INTEGER)
		rc = bs__json_put_int(o, key, sqlite3_column_int64(s, 0));
	else if (src == SQLITE_ROW &&
		 sqlite3_column_type(s, 0) == SQLITE_TEXT)
		rc = bs__json_put_str(o, key,
				      (const char *)sqlite3_column_text(s, 0));
	else if (src == SQLITE_ROW || src == SQLITE_DONE)
		rc = bs__json_put_null(o, key);
	else
		rc = bs__tk_sqlerr(tk, src, "status");
	sqlite3_finalize(s);
	return rc;
}

int bs_tickets_status(bs_store *st, char **json_out)
{
	struct bs__tk tk;
	cJSON *o = NULL, *t, *ob, *sy, *cat;
	const char *cipher = NULL;
	char mine[160 + BS__TK_CODE_MAX];
	int rc;

	if (json_out == NULL)
		return bs__error(BS_EINVAL, "no place for the result");
	*json_out = NULL;
	if ((rc = bs__tk_load(&tk, st, 0)) != BS_OK)
		return rc;
	bs_store_cipher(st, &cipher);
	if ((o = cJSON_CreateObject()) == NULL)
		return bs__error_code(BS_ENOMEM);
	if ((rc = bs__json_put_str(o, "device_id",
				   tk.have_device ? tk.device_id : NULL)) ||
	    (rc = bs__json_put_str(o, "staff",
				   tk.staff[0] ? tk.staff : NULL)) ||
	    (rc = bs__json_put_str(o, "branch",
				   tk.branch[0] ? tk.branch : NULL)) ||
	    (rc = bs__json_put_str(o, "role", tk.role[0] ? tk.role : NULL)) ||
	    (rc = bs__json_put_str(o, "opened_by", tk.author)) ||
	    (rc = bs__json_put_str(o, "actor", bs__actor_name(tk.actor))) ||
	    (rc = bs__json_put_int(o, "schema_version",
				   bs_store_schema_version(st))) ||
	    (rc = bs__json_put_str(o, "cipher", cipher)) ||
	    (rc = bs__tk_clock_json(&tk, o)))
		goto cleanup;

	t = cJSON_CreateObject();
	if ((rc = bs__json_put(o, "tickets", t)) ||
	    (rc = put_count(&tk, t, "total", "SELECT count(*) FROM ticket")) ||
	    (rc = put_count(&tk, t, "open",
			    "SELECT count(*) FROM ticket t JOIN ticket_state "
			    "s ON s.name = t.status WHERE s.open = 1")))
		goto cleanup;
	sqlite3_snprintf((int)sizeof(mine), mine,
			 "SELECT count(*) FROM ticket t JOIN ticket_state s "
			 "ON s.name = t.status WHERE s.open = 1 AND "
			 "t.assignee = %Q",
			 tk.actor_staff);
	if ((rc = put_count(&tk, t, "mine_open", mine)) ||
	    (rc = put_overdue(&tk, t)) ||
	    (rc = put_count(&tk, t, "pending_sync",
			    "SELECT count(*) FROM ticket WHERE local_dirty = "
			    "1")))
		goto cleanup;

	ob = cJSON_CreateObject();
	if ((rc = bs__json_put(o, "outbox", ob)) ||
	    (rc = put_count(&tk, ob, "queued",
			    "SELECT count(*) FROM outbox WHERE state = "
			    "'queued'")) ||
	    (rc = put_count(&tk, ob, "sent",
			    "SELECT count(*) FROM outbox WHERE state = "
			    "'sent'")) ||
	    (rc = put_count(&tk, ob, "oldest_ms",
			    "SELECT min(device_time_ms) FROM outbox WHERE "
			    "state <> 'answered'")) ||
	    (rc = put_count(&tk, ob, "holding_sensitive",
			    "SELECT count(*) FROM outbox WHERE sensitive IS "
			    "NOT NULL")))
		goto cleanup;
	if ((rc = put_count(&tk, o, "conflicts",
			    "SELECT count(*) FROM conflict WHERE resolved_ms "
			    "IS NULL")))
		goto cleanup;

	sy = cJSON_CreateObject();
	if ((rc = bs__json_put(o, "sync", sy)) ||
	    (rc = put_setting_json(&tk, sy, "hub_url")) ||
	    (rc = put_setting_json(&tk, sy, "last_sync_ms")) ||
	    (rc = put_setting_json(&tk, sy, "hub_clock_offset_ms")))
		goto cleanup;

	cat = cJSON_CreateObject();
	if ((rc = bs__json_put(o, "catalogue", cat)) ||
	    (rc = put_count(&tk, cat, "version",
			    "SELECT version FROM catalogue_meta WHERE id = "
			    "1")) ||
	    (rc = put_count(&tk, cat, "updated_ms",
			    "SELECT updated_ms FROM catalogue_meta WHERE id "
			    "= 1")) ||
	    (rc = put_count(&tk, cat, "categories",
			    "SELECT count(*) FROM catalogue_category WHERE "
			    "active = 1")) ||
	    (rc = put_count(&tk, cat, "templates",
			    "SELECT count(*) FROM catalogue_template WHERE "
			    "active = 1")))
		goto cleanup;
	rc = bs__json_print(json_out, o);
cleanup:
	cJSON_Delete(o);
	return rc;
}
