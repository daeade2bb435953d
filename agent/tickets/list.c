/*
 * list.c - reading tickets: the queue (bs_ticket_list), most urgent
 * first, and one ticket with its timeline, customer and the customer's
 * earlier complaints (bs_ticket_show).
 *
 * The queue is ordered in C, after the SLA state of each ticket is
 * evaluated at the current time: the order depends on "now", which SQL
 * cannot know, and a device holds a few thousand tickets at most.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/core/common.h"
#include "tickets_internal.h"

struct item {
	cJSON *o;
	int overdue;
	int64_t due;
	int64_t t0;
	const char *id; /* inside o */
};

/* Overdue first, then the deadline that falls next, then the oldest
 * complaint, then the id so that the order is total. */
static int by_urgency(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;

	if (a->overdue != b->overdue)
		return a->overdue ? -1 : 1;
	if (a->due != b->due)
		return a->due < b->due ? -1 : 1;
	if (a->t0 != b->t0)
		return a->t0 < b->t0 ? -1 : 1;
	return strcmp(a->id, b->id);
}

int bs_ticket_list(bs_store *st, const bs_list_opts *opts, char **json_out)
{
	static const bs_list_opts defaults = { BS_LIST_MINE, 0, NULL, 0 };
	struct bs__tk tk;
	struct item *items = NULL, *grown;
	size_t n = 0, cap = 0, i;
	enum bs__status status;
	sqlite3_stmt *s = NULL;
	cJSON *arr = NULL;
	int rc, src;

	if (json_out == NULL)
		return bs__error(BS_EINVAL, "no place for the result");
	*json_out = NULL;
	if (opts == NULL)
		opts = &defaults;
	if (opts->scope != BS_LIST_MINE && opts->scope != BS_LIST_BRANCH)
		return bs__error(BS_EINVAL, "unknown list scope %d",
				 (int)opts->scope);
	if (opts->status != NULL && bs__status_parse(&status, opts->status))
		return bs__error(BS_EINVAL, "'%.40s' is not a ticket status",
				 opts->status);
	if ((rc = bs__tk_load(&tk, st, 0)) != BS_OK)
		return rc;
	rc = bs__tk_prepare(&tk, &s,
			    "SELECT " BS__TK_SUMMARY_COLS BS__TK_SUMMARY_FROM
			    "WHERE (?1 IS NULL OR t.assignee = ?1) "
			    "AND (?2 IS NULL OR t.branch = ?2) "
			    "AND (?3 IS NOT NULL OR ?4 = 1 OR s.open = 1) "
			    "AND (?3 IS NULL OR t.status = ?3)");
	if (rc != BS_OK)
		return rc;
	if (opts->scope == BS_LIST_MINE)
		bs__tk_bind_text(s, 1, tk.actor_staff);
	else if (tk.branch[0] != '\0')
		bs__tk_bind_text(s, 2, tk.branch);
	bs__tk_bind_text(s, 3, opts->status);
	sqlite3_bind_int(s, 4, opts->include_closed ? 1 : 0);
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			grown = bs__realloc(items, cap * sizeof(*items));
			if (grown == NULL) {
				rc = bs__error_code(BS_ENOMEM);
				goto cleanup;
			}
			items = grown;
		}
		rc = bs__tk_summary(&tk, s, &items[n].o, &items[n].due,
				    &items[n].overdue);
		if (rc != BS_OK)
			goto cleanup;
		items[n].t0 = sqlite3_column_int64(s, 14);
		items[n].id = cJSON_GetObjectItemCaseSensitive(items[n].o,
							       "id")
				      ->valuestring;
		n++;
	}
	if (src != SQLITE_DONE) {
		rc = bs__tk_sqlerr(&tk, src, "list tickets");
		goto cleanup;
	}
	if (n > 1)
		qsort(items, n, sizeof(*items), by_urgency);
	if ((arr = cJSON_CreateArray()) == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		if (opts->limit != 0 && i >= opts->limit)
			break;
		rc = bs__json_push(arr, items[i].o);
		items[i].o = NULL;
		if (rc != BS_OK)
			goto cleanup;
	}
	rc = bs__json_print(json_out, arr);
cleanup:
	for (i = 0; i < n; i++)
		cJSON_Delete(items[i].o);
	bs__free(items);
	cJSON_Delete(arr);
	sqlite3_finalize(s);
	return rc;
}

/* --- one ticket -------------------------------------------------------- */

static int timeline(struct bs__tk *tk, cJSON *o, const char *id)
{
	sqlite3_stmt *s = NULL;
	cJSON *arr = cJSON_CreateArray(), *a, *att, *detail;
	int rc, src, i;

	if ((rc = bs__json_put(o, "timeline", arr)) != BS_OK)
		return rc;
	rc = bs__tk_prepare(tk, &s,
			    "SELECT id, kind, visibility, body, author, "
			    "device_id, device_time_ms, hub_time_ms, hlc, "
			    "from_status, to_status, attachment_hash AS hash, "
			    "attachment_name AS name, attachment_size AS size, "
			    "attachment_mime AS mime, detail FROM activity "
			    "WHERE ticket_id = ?1 ORDER BY hlc, rid");
	if (rc != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		a = cJSON_CreateObject();
		if ((rc = bs__json_push(arr, a)) != BS_OK)
			goto cleanup;
		for (i = 0; i <= 10; i++)
			if ((rc = bs__json_put(a, sqlite3_column_name(s, i),
					       bs__tk_column(s, i))))
				goto cleanup;
		if ((rc = bs__json_put_bool(a, "synced",
					    sqlite3_column_type(s, 7) !=
						    SQLITE_NULL)))
			goto cleanup;
		att = sqlite3_column_type(s, 11) == SQLITE_NULL
			      ? cJSON_CreateNull()
			      : cJSON_CreateObject();
		if ((rc = bs__json_put(a, "attachment", att)) != BS_OK)
			goto cleanup;
		for (i = 11; i <= 14 && cJSON_IsObject(att); i++)
			if ((rc = bs__json_put(att, sqlite3_column_name(s, i),
					       bs__tk_column(s, i))))
				goto cleanup;
		detail = NULL;
		if (sqlite3_column_type(s, 15) == SQLITE_TEXT)
			detail = cJSON_Parse(
				(const char *)sqlite3_column_text(s, 15));
		if ((rc = bs__json_put(a, "detail",
				       detail ? detail : cJSON_CreateNull())))
			goto cleanup;
	}
	if (src != SQLITE_DONE)
		rc = bs__tk_sqlerr(tk, src, "read timeline");
cleanup:
	sqlite3_finalize(s);
	return rc;
}

/* "customer": the masked customer, or null. */
static int customer(struct bs__tk *tk, cJSON *o, const char *cid)
{
	cJSON *arr = cJSON_CreateArray(), *c;
	int rc;

	if (arr == NULL)
		return bs__error_code(BS_ENOMEM);
	rc = bs__tk_rows(tk, arr,
		  "SELECT id, name_masked AS name, phone_masked AS phone, "
		  "id_number_masked AS id_number, segment, branch "
		  "FROM customer WHERE id = ?1",
		  cid, NULL);
	if (rc != BS_OK) {
		cJSON_Delete(arr);
		return rc;
	}
	c = cJSON_DetachItemFromArray(arr, 0);
	cJSON_Delete(arr);
	return bs__json_put(o, "customer", c != NULL ? c : cJSON_CreateNull());
}

static int next_states(struct bs__tk *tk, cJSON *o, const char *status)
{
	enum bs__status from, to[BS__STATUS_COUNT];
	cJSON *arr = cJSON_CreateArray();
	size_t n, i;
	int rc;

	if ((rc = bs__json_put(o, "next_states", arr)) != BS_OK)
		return rc;
	if (bs__status_parse(&from, status) != BS_OK) {
		bs__error_clear();
		return BS_OK;
	}
	n = bs__state_next(to, BS__ARRAY_LEN(to), from, tk->actor, 1);
	for (i = 0; i < n && i < BS__ARRAY_LEN(to); i++)
		if ((rc = bs__json_push(arr, cJSON_CreateString(
						     bs__status_name(to[i])))))
			return rc;
	return BS_OK;
}

/* Put the first column of sql (?1 = id) as an integer under key. */
static int count(struct bs__tk *tk, cJSON *o, const char *key,
		 const char *sql, const char *id)
{
	sqlite3_stmt *s = NULL;
	int rc, src;

	if ((rc = bs__tk_prepare(tk, &s, sql)) != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW)
		rc = bs__json_put_int(o, key, sqlite3_column_int64(s, 0));
	else
		rc = bs__tk_sqlerr(tk, src, "read ticket");
	sqlite3_finalize(s);
	return rc;
}

int bs_ticket_show(bs_store *st, const char *ticket, char **json_out)
{
	char id[BS__UUID_TEXT_LEN + 1];
	char *cid = NULL, *status = NULL;
	struct bs__tk tk;
	sqlite3_stmt *s = NULL;
	cJSON *o = NULL, *arr;
	int rc, src, k = BS__TK_SUMMARY_NCOLS;

	if (json_out == NULL)
		return bs__error(BS_EINVAL, "no place for the result");
	*json_out = NULL;
	if ((rc = bs__tk_load(&tk, st, 0)) ||
	    (rc = bs__tk_resolve(&tk, ticket, id)))
		return rc;
	rc = bs__tk_prepare(&tk, &s,
			    "SELECT " BS__TK_SUMMARY_COLS
			    ", t.description, t.transcript, t.outcome, "
			    "t.merged_into, t.closed_ms" BS__TK_SUMMARY_FROM
			    "WHERE t.id = ?1");
	if (rc != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src != SQLITE_ROW) {
		rc = src == SQLITE_DONE
			     ? bs__error(BS_ENOTFOUND, "no ticket '%s'", ticket)
			     : bs__tk_sqlerr(&tk, src, "read ticket");
		goto cleanup;
	}
	if ((rc = bs__tk_summary(&tk, s, &o, NULL, NULL)) ||
	    (rc = bs__json_put(o, "description", bs__tk_column(s, k))) ||
	    (rc = bs__json_put(o, "transcript", bs__tk_column(s, k + 1))) ||
	    (rc = bs__json_put(o, "outcome", bs__tk_column(s, k + 2))) ||
	    (rc = bs__json_put(o, "merged_into", bs__tk_column(s, k + 3))) ||
	    (rc = bs__json_put(o, "closed_ms", bs__tk_column(s, k + 4))))
		goto cleanup;
	status = bs__strdup((const char *)sqlite3_column_text(s, 3));
	if (sqlite3_column_type(s, 12) == SQLITE_TEXT)
		cid = bs__strdup((const char *)sqlite3_column_text(s, 12));
	if (status == NULL ||
	    (sqlite3_column_type(s, 12) == SQLITE_TEXT && cid == NULL)) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	sqlite3_finalize(s);
	s = NULL;

	if ((rc = next_states(&tk, o, status)) ||
	    (rc = timeline(&tk, o, id)) || (rc = customer(&tk, o, cid)))
		goto cleanup;
	arr = cJSON_CreateArray();
	if ((rc = bs__json_put(o, "archive", arr)) ||
	    (cid != NULL &&
	     (rc = bs__tk_rows(&tk, arr,
			"SELECT a.id, a.ticket_id, a.ticket_ref, a.channel, "
			"a.received_ms, a.closed_ms, a.category_code AS "
			"category, c.name AS category_name, a.summary, "
			"a.outcome, a.branch FROM customer_archive a "
			"LEFT JOIN catalogue_category c ON c.code = "
			"a.category_code WHERE a.customer_id = ?1 AND "
			"a.ticket_id IS NOT ?2 ORDER BY a.received_ms DESC",
			cid, id))))
		goto cleanup;
	arr = cJSON_CreateArray();
	if ((rc = bs__json_put(o, "other_tickets", arr)) ||
	    (cid != NULL &&
	     (rc = bs__tk_rows(&tk, arr,
			"SELECT t.id, t.ref, t.status, t.subject, t.t0_ms, "
			"t.category_code AS category, c.name AS "
			"category_name FROM ticket t LEFT JOIN "
			"catalogue_category c ON c.code = t.category_code "
			"WHERE t.customer_id = ?1 AND t.id <> ?2 "
			"ORDER BY t.t0_ms DESC",
			cid, id))))
		goto cleanup;
	if ((rc = count(&tk, o, "queued_ops",
			"SELECT count(*) FROM outbox WHERE ticket_id = ?1 "
			"AND state <> 'answered'",
			id)) ||
	    (rc = count(&tk, o, "open_conflicts",
			"SELECT count(*) FROM conflict WHERE ticket_id = ?1 "
			"AND resolved_ms IS NULL",
			id)))
		goto cleanup;
	rc = bs__json_print(json_out, o);
cleanup:
	sqlite3_finalize(s);
	cJSON_Delete(o);
	bs__free(cid);
	bs__free(status);
	return rc;
}
