/*
 * conflict.c - what the hub refused or a merge overruled, kept with both
 * sides until a person decides: recording one (push and pull), listing,
 * showing, and resolving.
 *
 * Nothing here deletes text.  A resolution is written beside the
 * conflict (resolved_ms, resolution, resolved_by); keeping one's own
 * version or editing it makes a new change through the ticket code,
 * with its own outbox operation, so it reaches the hub like any other.
 */
#include <stdio.h>
#include <string.h>

#include "agent/core/common.h"
#include "agent/core/json.h"
#include "agent/tickets/tickets_internal.h"
#include "branchsync/tickets.h"
#include "platform/os.h"
#include "sync_internal.h"

static char *print(const cJSON *v, int *oom)
{
	char *t;

	if (v == NULL)
		return NULL;
	if ((t = cJSON_PrintUnformatted(v)) == NULL)
		*oom = 1;
	return t;
}

int bs__conflict_add(sqlite3 *db, const struct bs__conflict *c,
		     int64_t now_ms)
{
	char *mine, *theirs;
	int oom = 0, rc;

	mine = print(c->mine, &oom);
	theirs = print(c->theirs, &oom);
	if (oom) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	rc = bs__sync_q(db, "record a conflict",
			"INSERT INTO conflict (ticket_id, entity, entity_id, "
			"op_id, field, mine, theirs, mine_hlc, theirs_hlc, "
			"theirs_author, reason, detail, created_ms) VALUES "
			"(?1, coalesce(?2, 'ticket'), ?3, ?4, ?5, ?6, ?7, ?8, "
			"?9, ?10, ?11, ?12, ?13)", "tttttttttttti",
			c->ticket_id, c->entity, c->entity_id, c->op_id,
			c->field, mine, theirs, c->mine_hlc, c->theirs_hlc,
			c->theirs_author, c->reason, c->detail, now_ms);
	if (rc == BS_OK && c->ticket_id != NULL)
		rc = bs__sync_q(db, "record a conflict", "UPDATE ticket SET "
				"flags = flags | 1 WHERE id = ?1", "t",
				c->ticket_id);
cleanup:
	bs__free(mine);
	bs__free(theirs);
	return rc;
}

/* --- reading ---------------------------------------------------------- */

#define CONFLICT_COLS                                                        \
	"c.id, c.ticket_id, t.ref, t.subject, t.status, c.entity, "          \
	"c.entity_id, c.op_id, c.field, c.mine, c.theirs, c.mine_hlc, "      \
	"c.theirs_hlc, c.theirs_author, c.reason, c.detail, c.created_ms, "  \
	"c.resolved_ms, c.resolution, c.resolved_by"
#define CONFLICT_FROM                                                        \
	" FROM conflict c LEFT JOIN ticket t ON t.id = c.ticket_id "

static const char *const conflict_names[] = {
	"id",	     "ticket_id",  "ticket_ref",    "subject",
	"status",    "entity",	   "entity_id",	    "op_id",
	"field",     "mine",	   "theirs",	    "mine_hlc",
	"theirs_hlc", "theirs_author", "reason",     "detail",
	"created_ms", "resolved_ms", "resolution",   "resolved_by",
};

/* A conflict row as JSON: mine and theirs as the values they hold. */
static int conflict_json(sqlite3_stmt *s, cJSON **out)
{
	cJSON *o = cJSON_CreateObject(), *v;
	size_t i;
	int rc = BS_OK;

	*out = NULL;
	if (o == NULL)
		return bs__error_code(BS_ENOMEM);
	for (i = 0; rc == BS_OK && i < BS__ARRAY_LEN(conflict_names); i++) {
		int type = sqlite3_column_type(s, (int)i);

		if (type == SQLITE_NULL) {
			rc = bs__json_put_null(o, conflict_names[i]);
		} else if (type == SQLITE_INTEGER) {
			rc = bs__json_put_int(o, conflict_names[i],
					      sqlite3_column_int64(s, (int)i));
		} else if (i == 9 || i == 10) {
			v = cJSON_Parse((const char *)sqlite3_column_text(
				s, (int)i));
			rc = bs__json_put(o, conflict_names[i],
					  v != NULL ? v : cJSON_CreateNull());
		} else {
			rc = bs__json_put_str(o, conflict_names[i],
					      (const char *)sqlite3_column_text(
						      s, (int)i));
		}
	}
	if (rc != BS_OK) {
		cJSON_Delete(o);
		return rc;
	}
	*out = o;
	return BS_OK;
}

int bs_conflict_list(bs_store *st, int all, char **json_out)
{
	sqlite3 *db = st != NULL ? bs_store_db(st) : NULL;
	sqlite3_stmt *s = NULL;
	cJSON *arr = NULL, *o;
	int rc = BS_OK, src;

	bs__json_init();
	*json_out = NULL;
	if (db == NULL)
		return bs__error(BS_EINVAL, "no open store");
	src = sqlite3_prepare_v2(db, "SELECT " CONFLICT_COLS CONFLICT_FROM
				 "WHERE ?1 OR c.resolved_ms IS NULL ORDER BY "
				 "c.id DESC", -1, &s, NULL);
	if (src != SQLITE_OK)
		return bs__sync_sqlerr(db, src, "read conflicts");
	sqlite3_bind_int(s, 1, all != 0);
	if ((arr = cJSON_CreateArray()) == NULL)
		rc = bs__error_code(BS_ENOMEM);
	while (rc == BS_OK && (src = sqlite3_step(s)) == SQLITE_ROW) {
		if ((rc = conflict_json(s, &o)) == BS_OK)
			rc = bs__json_push(arr, o);
	}
	if (rc == BS_OK && src != SQLITE_DONE)
		rc = bs__sync_sqlerr(db, src, "read conflicts");
	sqlite3_finalize(s);
	if (rc == BS_OK)
		rc = bs__json_print(json_out, arr);
	cJSON_Delete(arr);
	return rc;
}

static int is_free_text(const char *f)
{
	return f != NULL &&
	       (strcmp(f, "subject") == 0 || strcmp(f, "description") == 0 ||
		strcmp(f, "transcript") == 0 || strcmp(f, "outcome") == 0);
}

/* Conflict id as JSON (*out), with "current": the ticket's value of a
 * free-text field now, when the ticket is here. */
static int load_conflict(sqlite3 *db, int64_t id, cJSON **out)
{
	sqlite3_stmt *s = NULL;
	const cJSON *field, *tid;
	char sql[128];
	int rc, src;

	*out = NULL;
	src = sqlite3_prepare_v2(db, "SELECT " CONFLICT_COLS CONFLICT_FROM
				 "WHERE c.id = ?1", -1, &s, NULL);
	if (src != SQLITE_OK)
		return bs__sync_sqlerr(db, src, "read conflicts");
	sqlite3_bind_int64(s, 1, id);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW)
		rc = conflict_json(s, out);
	else if (src == SQLITE_DONE)
		rc = bs__error(BS_ENOTFOUND, "no conflict %lld",
			       (long long)id);
	else
		rc = bs__sync_sqlerr(db, src, "read conflicts");
	sqlite3_finalize(s);
	if (rc != BS_OK)
		return rc;
	field = cJSON_GetObjectItemCaseSensitive(*out, "field");
	tid = cJSON_GetObjectItemCaseSensitive(*out, "ticket_id");
	if (!cJSON_IsString(field) || !is_free_text(field->valuestring) ||
	    !cJSON_IsString(tid))
		return BS_OK;
	/* field is one of four column names, checked above. */
	snprintf(sql, sizeof(sql), "SELECT %s FROM ticket WHERE id = ?1",
		 field->valuestring);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		return BS_OK;
	sqlite3_bind_text(s, 1, tid->valuestring, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_type(s, 0) == SQLITE_TEXT)
		rc = bs__json_put_str(*out, "current",
				      (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return rc;
}

int bs_conflict_show(bs_store *st, int64_t id, char **json_out)
{
	sqlite3 *db = st != NULL ? bs_store_db(st) : NULL;
	cJSON *o = NULL;
	int rc;

	bs__json_init();
	*json_out = NULL;
	if (db == NULL)
		return bs__error(BS_EINVAL, "no open store");
	if ((rc = load_conflict(db, id, &o)) == BS_OK)
		rc = bs__json_print(json_out, o);
	cJSON_Delete(o);
	return rc;
}

/* --- resolving -------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

static int mark(sqlite3 *db, int64_t id, const char *resolution,
		const char *by)
{
	return bs__sync_q(db, "resolve a conflict",
			  "UPDATE conflict SET resolved_ms = ?1, resolution = "
			  "?2, resolved_by = ?3 WHERE id = ?4 AND resolved_ms "
			  "IS NULL", "itti", bs_os_now_ms(), resolution, by,
			  id);
}

/*
 * A free-text edit as a new local change: the ticket's field, its clock
 * and an outbox operation (ticket/update, fields {field: text} as the
 * wire carries them),
 * and the conflict marked, all in one transaction.
 */
static int redo_text(bs_store *st, int64_t id, const char *ticket,
		     const char *field, const char *text,
		     const char *resolution)
{
	struct bs__tk tk;
	struct bs__tk_op op;
	sqlite3_stmt *s = NULL;
	char hlc[BS__HLC_TEXT_LEN + 1], sql[160];
	cJSON *fields = NULL;
	int64_t base = 0;
	int rc;

	if ((rc = bs__tk_check_text(field, text,
				    strcmp(field, "transcript") == 0
					    ? BS__TK_TRANSCRIPT_MAX
					    : BS__TK_TEXT_MAX, 1)) != BS_OK)
		return rc;
	if ((rc = bs__tk_begin(&tk, st, 1)) != BS_OK)
		return rc;
	if ((rc = bs__tk_prepare(&tk, &s, "SELECT server_version FROM ticket "
				 "WHERE id = ?1")) != BS_OK)
		goto cleanup;
	sqlite3_bind_text(s, 1, ticket, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_ROW) {
		rc = bs__error(BS_ENOTFOUND, "ticket %s is no longer on this "
			       "device", ticket);
		goto cleanup;
	}
	base = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	s = NULL;
	snprintf(sql, sizeof(sql), "UPDATE ticket SET %s = ?2, updated_ms = "
		 "?3, local_dirty = 1 WHERE id = ?1", field);
	if ((rc = bs__tk_prepare(&tk, &s, sql)) != BS_OK)
		goto cleanup;
	sqlite3_bind_text(s, 1, ticket, -1, SQLITE_STATIC);
	bs__tk_bind_text(s, 2, text);
	sqlite3_bind_int64(s, 3, tk.now_ms);
	if ((rc = bs__tk_step_done(&tk, s, "edit ticket")) != BS_OK)
		goto cleanup;
	if ((fields = cJSON_CreateObject()) == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if ((rc = bs__json_put_str(fields, field, text)) ||
	    (rc = bs__tk_stamp(&tk, NULL, hlc)) ||
	    (rc = bs__tk_clocks(&tk, ticket, fields, hlc, tk.device_id)))
		goto cleanup;
	memset(&op, 0, sizeof(op));
	op.entity = "ticket";
	op.entity_id = ticket;
	op.ticket_id = ticket;
	op.op = "update";
	op.fields = fields;
	op.hlc = hlc;
	op.base_version = base;
	if ((rc = bs__tk_outbox(&tk, &op, NULL)) ||
	    (rc = mark(tk.db, id, resolution, tk.author)))
		goto cleanup;
	rc = bs__tk_commit(&tk);
cleanup:
	sqlite3_finalize(s);
	bs__tk_rollback(&tk);
	cJSON_Delete(fields);
	return rc;
}

static int ticket_here(sqlite3 *db, const char *ticket)
{
	sqlite3_stmt *s = NULL;
	int found = 0;

	if (ticket == NULL || sqlite3_prepare_v2(db, "SELECT 1 FROM ticket "
						 "WHERE id = ?1", -1, &s,
						 NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(s, 1, ticket, -1, SQLITE_STATIC);
	found = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return found;
}

int bs_conflict_resolve(bs_store *st, int64_t id, bs_resolve how,
			const char *text)
{
	sqlite3 *db = st != NULL ? bs_store_db(st) : NULL;
	const char *field, *ticket, *entity, *by, *resolution;
	const cJSON *mine;
	cJSON *c = NULL;
	int rc, here;

	bs__json_init();
	if (db == NULL)
		return bs__error(BS_EINVAL, "no open store");
	if (how != BS_RESOLVE_KEEP_MINE && how != BS_RESOLVE_TAKE_THEIRS &&
	    how != BS_RESOLVE_EDIT)
		return bs__error(BS_EINVAL, "unknown resolution %d", (int)how);
	if (how == BS_RESOLVE_EDIT && (text == NULL || text[0] == '\0'))
		return bs__error(BS_EINVAL, "an edit needs its text");
	if ((rc = load_conflict(db, id, &c)) != BS_OK)
		return rc;
	if (!cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c,
							   "resolved_ms"))) {
		rc = bs__error(BS_EEXISTS, "conflict %lld is resolved already",
			       (long long)id);
		goto cleanup;
	}
	field = jstr(c, "field");
	ticket = jstr(c, "ticket_id");
	entity = jstr(c, "entity");
	mine = cJSON_GetObjectItemCaseSensitive(c, "mine");
	by = bs_store_opened_by(st);
	here = ticket_here(db, ticket);
	resolution = how == BS_RESOLVE_KEEP_MINE    ? "keep_mine"
		     : how == BS_RESOLVE_TAKE_THEIRS ? "take_theirs"
						     : "edit";
	if (how == BS_RESOLVE_TAKE_THEIRS) {
		rc = mark(db, id, resolution, by);
		goto cleanup;
	}
	/* A free-text field: mine (or the edit) becomes a new edit. */
	if (is_free_text(field) && here) {
		const char *t = how == BS_RESOLVE_EDIT ? text
			      : cJSON_IsString(mine) ? mine->valuestring
						     : NULL;

		rc = redo_text(st, id, ticket, field, t, resolution);
		goto cleanup;
	}
	/* A refused reply, note or call: sent again as a new entry. */
	if (entity != NULL && strcmp(entity, "activity") == 0 && here &&
	    jstr(mine, "kind") != NULL) {
		const char *kind = jstr(mine, "kind");
		const char *t = how == BS_RESOLVE_EDIT ? text
							: jstr(mine, "body");
		bs_activity_kind k = strcmp(kind, "customer_reply") == 0
					     ? BS_ACT_REPLY
				     : strcmp(kind, "call_log") == 0
					     ? BS_ACT_CALL
					     : BS_ACT_NOTE;

		if ((rc = bs_ticket_add(st, ticket, k, t, NULL)) == BS_OK)
			rc = mark(db, id, resolution, by);
		goto cleanup;
	}
	/* A status move overtaken or refused: redo it from where the
	 * ticket is now, if the state machine allows. */
	if (field != NULL && strcmp(field, "status") == 0 && here &&
	    how == BS_RESOLVE_KEEP_MINE && jstr(mine, "to") != NULL) {
		if ((rc = bs_ticket_move(st, ticket, jstr(mine, "to"),
					 jstr(mine, "reason"))) == BS_OK)
			rc = mark(db, id, resolution, by);
		goto cleanup;
	}
	if (how == BS_RESOLVE_EDIT) {
		rc = bs__error(BS_EINVAL, here ? "only text can be edited; "
			       "keep yours or take theirs"
					       : "the ticket is no longer on "
						 "this device; keep yours (the "
						 "text stays here) or take "
						 "theirs");
		goto cleanup;
	}
	/* Nothing to redo here (the ticket left the device's scope, or
	 * the change cannot be made again): the text stays in the record
	 * and the decision is noted. */
	rc = mark(db, id, resolution, by);
cleanup:
	cJSON_Delete(c);
	return rc;
}
