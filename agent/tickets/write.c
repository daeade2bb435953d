/*
 * write.c - the three records every local change leaves besides its own
 * rows, all inside the change's transaction: the outbox operation that
 * carries it to head office (schema/outbox.md), the clock of each ticket
 * field it set (ticket_clock, for last-writer-wins merges), and a row of
 * the local audit log.
 */
#include <stdio.h>
#include <string.h>

#include "agent/core/common.h"
#include "tickets_internal.h"

int bs__tk_audit(struct bs__tk *tk, const char *action, const char *entity,
		 const char *entity_id, const cJSON *detail)
{
	sqlite3_stmt *s = NULL;
	char *text = NULL;
	int rc;

	if (detail != NULL && (rc = bs__json_print(&text, detail)) != BS_OK)
		return rc;
	rc = bs__tk_prepare(tk, &s,
			    "INSERT INTO audit (at_ms, actor, action, entity, "
			    "entity_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, "
			    "?6)");
	if (rc != BS_OK)
		goto cleanup;
	sqlite3_bind_int64(s, 1, tk->device_ms);
	sqlite3_bind_text(s, 2, tk->author, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, action, -1, SQLITE_STATIC);
	bs__tk_bind_text(s, 4, entity);
	bs__tk_bind_text(s, 5, entity_id);
	bs__tk_bind_text(s, 6, text);
	rc = bs__tk_step_done(tk, s, "write audit");
cleanup:
	sqlite3_finalize(s);
	bs__free(text);
	return rc;
}

int bs__tk_clocks(struct bs__tk *tk, const char *ticket_id, const cJSON *set,
		  const char *hlc, const char *node)
{
	sqlite3_stmt *s = NULL;
	const cJSON *f;
	int rc;

	rc = bs__tk_prepare(tk, &s,
			    "INSERT INTO ticket_clock (ticket_id, field, hlc, "
			    "node) VALUES (?1, ?2, ?3, ?4) "
			    "ON CONFLICT (ticket_id, field) DO UPDATE SET "
			    "hlc = excluded.hlc, node = excluded.node");
	if (rc != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, ticket_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, hlc, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, node, -1, SQLITE_STATIC);
	cJSON_ArrayForEach(f, set)
	{
		sqlite3_bind_text(s, 2, f->string, -1, SQLITE_STATIC);
		if ((rc = bs__tk_step_done(tk, s, "write field clock")))
			break;
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	return rc;
}

/* The audit detail of an operation: its id and clock, and the names of
 * the ticket fields it set (the values are in the outbox and the rows). */
static int op_detail(cJSON **out, const struct bs__tk_op *op,
		     const char *op_id)
{
	const cJSON *set = op->set;
	cJSON *d = cJSON_CreateObject(), *names = NULL;
	const cJSON *f;
	int rc;

	*out = NULL;
	if (d == NULL)
		return bs__error_code(BS_ENOMEM);
	if ((rc = bs__json_put_str(d, "op_id", op_id)) ||
	    (rc = bs__json_put_str(d, "hlc", op->hlc)) ||
	    (rc = bs__json_put_str(d, "ticket_id", op->ticket_id)))
		goto cleanup;
	if (cJSON_IsObject(set)) {
		names = cJSON_CreateArray();
		if ((rc = bs__json_put(d, "set", names)) != BS_OK)
			goto cleanup;
		cJSON_ArrayForEach(f, set)
		{
			if ((rc = bs__json_push(names,
						cJSON_CreateString(f->string))))
				goto cleanup;
		}
	}
	*out = d;
	d = NULL;
cleanup:
	cJSON_Delete(d);
	return rc;
}

int bs__tk_outbox(struct bs__tk *tk, const struct bs__tk_op *op,
		  char op_id[BS__UUID_TEXT_LEN + 24])
{
	char id[BS__UUID_TEXT_LEN + 24] = "";
	char action[48];
	sqlite3_stmt *s = NULL;
	char *fields = NULL, *sensitive = NULL;
	cJSON *detail = NULL;
	int rc, src;

	if ((rc = bs__json_print(&fields, op->fields)) != BS_OK)
		goto cleanup;
	if (op->sensitive != NULL &&
	    (rc = bs__json_print(&sensitive, op->sensitive)) != BS_OK)
		goto cleanup;
	rc = bs__tk_prepare(tk, &s,
			    "INSERT INTO outbox (device_id, entity, entity_id, "
			    "ticket_id, op, fields, sensitive, hlc, "
			    "base_version, author, device_time_ms, "
			    "created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
			    "?8, ?9, ?10, ?11, ?11) RETURNING op_id");
	if (rc != BS_OK)
		goto cleanup;
	sqlite3_bind_text(s, 1, tk->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, op->entity, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, op->entity_id, -1, SQLITE_STATIC);
	bs__tk_bind_text(s, 4, op->ticket_id);
	sqlite3_bind_text(s, 5, op->op, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, fields, -1, SQLITE_STATIC);
	bs__tk_bind_text(s, 7, sensitive);
	sqlite3_bind_text(s, 8, op->hlc, -1, SQLITE_STATIC);
	bs__tk_bind_opt_int(s, 9, op->base_version, op->base_version >= 0);
	sqlite3_bind_text(s, 10, tk->author, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 11, tk->device_ms);
	src = sqlite3_step(s);
	if (src != SQLITE_ROW) {
		rc = bs__tk_sqlerr(tk, src, "write outbox");
		goto cleanup;
	}
	snprintf(id, sizeof(id), "%s",
		 (const char *)sqlite3_column_text(s, 0));
	if ((rc = bs__tk_step_done(tk, s, "write outbox")) != BS_OK)
		goto cleanup;
	if (op->set != NULL && op->ticket_id != NULL &&
	    (rc = bs__tk_clocks(tk, op->ticket_id, op->set, op->hlc,
				tk->device_id)) != BS_OK)
		goto cleanup;
	if ((rc = op_detail(&detail, op, id)) != BS_OK)
		goto cleanup;
	snprintf(action, sizeof(action), "%s.%s", op->entity, op->op);
	rc = bs__tk_audit(tk, action, op->entity, op->entity_id, detail);
	if (rc == BS_OK && op_id != NULL)
		memcpy(op_id, id, sizeof(id));
cleanup:
	sqlite3_finalize(s);
	cJSON_Delete(detail);
	bs__free(fields);
	bs__free(sensitive);
	return rc;
}
