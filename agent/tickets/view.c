/*
 * view.c - from rows to the JSON of schema/cli-json.md: SLA profiles as
 * data, a ticket's SLA record and its state now, and the ticket summary
 * that the queue, search and show share.
 *
 * The SLA state is computed here, not stored: due times, percent used
 * and warnings move with the clock, and the clock itself is the device's
 * corrected by the hub's offset, trusted or not (the JSON says which).
 */
#include <stdio.h>
#include <string.h>

#include "agent/core/common.h"
#include "tickets_internal.h"

/* Read the JSON rules of the sla_profile table into *p (see the comment
 * on that table in schema/agent/001_init.sql).  1 if they are complete
 * and valid. */
static int parse_rules(struct bs__sla_profile *p, const char *text)
{
	static const char *const prio[BS__PRIORITY_COUNT] = {
		"urgent", "high", "normal", "low"
	};
	cJSON *j = cJSON_Parse(text), *fr, *days, *warn, *v;
	int64_t x;
	int i, ok = 0;

	if (j == NULL)
		return 0;
	fr = cJSON_GetObjectItemCaseSensitive(j, "first_response_min");
	days = cJSON_GetObjectItemCaseSensitive(j, "resolution_days");
	warn = cJSON_GetObjectItemCaseSensitive(j, "warn_pct");
	v = cJSON_GetObjectItemCaseSensitive(j, "max_ext");
	if (!bs__json_int(v, 0, BS__SLA_MAX_EXT, &x))
		goto cleanup;
	p->max_ext = (int)x;
	for (i = 0; i < BS__PRIORITY_COUNT; i++) {
		v = cJSON_GetObjectItemCaseSensitive(fr, prio[i]);
		if (!bs__json_int(v, 1, INT32_MAX, &x))
			goto cleanup;
		p->first_response_min[i] = (int32_t)x;
	}
	for (i = 0; i <= BS__SLA_MAX_EXT; i++) {
		v = cJSON_GetArrayItem(days, i);
		if (v == NULL && i > p->max_ext) {
			p->resolution_days[i] = p->resolution_days[i - 1];
			continue;
		}
		if (!bs__json_int(v, 1, INT32_MAX, &x))
			goto cleanup;
		p->resolution_days[i] = (int32_t)x;
	}
	for (i = 0; i < 2; i++) {
		if (!bs__json_int(cJSON_GetArrayItem(warn, i), 1, 99, &x))
			goto cleanup;
		p->warn_pct[i] = (int)x;
	}
	ok = bs__sla_profile_check(p) == BS_OK;
cleanup:
	cJSON_Delete(j);
	return ok;
}

void bs__tk_profile(struct bs__tk *tk, const char *name,
		    struct bs__sla_profile *buf,
		    char name_buf[BS__TK_CODE_MAX + 1],
		    const struct bs__sla_profile **p)
{
	const struct bs__sla_profile *builtin;
	sqlite3_stmt *s = NULL;
	int found = 0;

	if (name == NULL || name[0] == '\0' ||
	    strlen(name) > BS__TK_CODE_MAX)
		name = BS__TK_DEFAULT_PROFILE;
	if (sqlite3_prepare_v2(tk->db,
			       "SELECT rules FROM sla_profile WHERE id = ?1 "
			       "AND active = 1",
			       -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW) {
			snprintf(name_buf, BS__TK_CODE_MAX + 1, "%s", name);
			memset(buf, 0, sizeof(*buf));
			buf->name = name_buf;
			found = parse_rules(
				buf, (const char *)sqlite3_column_text(s, 0));
		}
	}
	sqlite3_finalize(s);
	bs__error_clear();
	if (found) {
		*p = buf;
		return;
	}
	builtin = bs__sla_profile_find(name);
	*p = builtin != NULL ? builtin
			     : bs__sla_profile_find(BS__TK_DEFAULT_PROFILE);
}

static int64_t opt_time(sqlite3_stmt *s, int col)
{
	int64_t v;

	if (sqlite3_column_type(s, col) != SQLITE_INTEGER)
		return BS__SLA_NONE;
	v = sqlite3_column_int64(s, col);
	if (v < 0)
		return 0;
	if (v > BS__HLC_MAX_MS)
		return BS__HLC_MAX_MS;
	return v;
}

void bs__tk_sla_from_row(struct bs__tk *tk, sqlite3_stmt *s, int col,
			 struct bs__tk_sla *out)
{
	enum bs__priority prio = BS__PRIORITY_NORMAL;
	enum bs__status status = BS__STATUS_RECEIVED;
	const char *name;
	int64_t t0, v;

	name = (const char *)sqlite3_column_text(s, col + 3);
	if (name == NULL)
		name = (const char *)sqlite3_column_text(s, col + 4);
	bs__tk_profile(tk, name, &out->buf, out->name, &out->p);

	if (bs__priority_parse(&prio, (const char *)sqlite3_column_text(
					      s, col)) != BS_OK)
		prio = BS__PRIORITY_NORMAL;
	t0 = opt_time(s, col + 1);
	bs__sla_ticket_init(&out->t, t0 == BS__SLA_NONE ? 0 : t0, prio);
	v = sqlite3_column_int64(s, col + 5);
	out->t.ext_level = v < 0 ? 0 : v > out->p->max_ext ? out->p->max_ext
							    : (int)v;
	v = sqlite3_column_int64(s, col + 6);
	out->t.paused_ms = v < 0 ? 0 : v > BS__HLC_MAX_MS ? BS__HLC_MAX_MS : v;
	out->t.pause_start_ms = opt_time(s, col + 7);
	out->t.first_response_at = opt_time(s, col + 8);
	out->t.stopped_at = opt_time(s, col + 9);
	/* A final status stops every clock even if head office sent no
	 * closing time: the last update is the best guess. */
	if (out->t.stopped_at == BS__SLA_NONE &&
	    bs__status_parse(&status, (const char *)sqlite3_column_text(
					      s, col + 2)) == BS_OK &&
	    bs__status_is_final(status))
		out->t.stopped_at = opt_time(s, col + 10);
	bs__error_clear();
}

static const char *state_name(enum bs__sla_state st)
{
	switch (st) {
	case BS__SLA_RUNNING:
		return "running";
	case BS__SLA_PAUSED:
		return "paused";
	case BS__SLA_STOPPED:
		return "stopped";
	}
	return "unknown";
}

static int clock_json(cJSON *o, const char *key,
		      const struct bs__sla_clock *c,
		      const struct bs__sla_profile *p, int64_t stopped_ms)
{
	cJSON *j = cJSON_CreateObject();
	int warn = 0, rc;

	if ((rc = bs__json_put(o, key, j)) != BS_OK)
		return rc;
	if (c->level == BS__SLA_WARN_1)
		warn = p->warn_pct[0];
	else if (c->level == BS__SLA_WARN_2 || c->level == BS__SLA_BREACHED)
		warn = p->warn_pct[1];
	if ((rc = bs__json_put_str(j, "state", state_name(c->state))) ||
	    (rc = bs__json_put_int(j, "due_ms", c->due_ms)) ||
	    (rc = bs__json_put_int(j, "budget_ms", c->budget_ms)) ||
	    (rc = bs__json_put_int(j, "elapsed_ms", c->elapsed_ms)) ||
	    (rc = bs__json_put_int(j, "remaining_ms", c->remaining_ms)) ||
	    (rc = bs__json_put_int(j, "percent", c->permille / 10)) ||
	    (rc = bs__json_put_str(j, "level", bs__sla_level_name(c->level))) ||
	    (rc = bs__json_put_int(j, "warning", warn)) ||
	    (rc = bs__json_put_bool(j, "breached",
				    c->level == BS__SLA_BREACHED)))
		return rc;
	if (c->state == BS__SLA_STOPPED && stopped_ms != BS__SLA_NONE)
		return bs__json_put_int(j, "stopped_ms", stopped_ms);
	return bs__json_put_null(j, "stopped_ms");
}

int bs__tk_clock_json(struct bs__tk *tk, cJSON *o)
{
	int rc;

	if ((rc = bs__json_put_int(o, "now_ms", tk->now_ms)) ||
	    (rc = bs__json_put_bool(o, "clock_trusted",
				    tk->trust == BS__TRUST_OK)))
		return rc;
	return bs__json_put_str(o, "clock", bs__sla_trust_name(tk->trust));
}

int bs__tk_sla_json(struct bs__tk *tk, const struct bs__tk_sla *sla,
		    cJSON **out, int64_t *next_due, int *overdue)
{
	const struct bs__sla_ticket *t = &sla->t;
	struct bs__sla_status st;
	cJSON *o = NULL;
	int64_t due, fr_stop;
	int late, rc;

	*out = NULL;
	if ((rc = bs__sla_eval(&st, sla->p, t, tk->now_ms, tk->trust)))
		return rc;
	due = bs__sla_next_due(&st);
	late = (st.first_response.state != BS__SLA_STOPPED &&
		st.first_response.level == BS__SLA_BREACHED) ||
	       (st.resolution.state != BS__SLA_STOPPED &&
		st.resolution.level == BS__SLA_BREACHED);
	fr_stop = t->first_response_at;
	if (fr_stop == BS__SLA_NONE ||
	    (t->stopped_at != BS__SLA_NONE && t->stopped_at < fr_stop))
		fr_stop = t->stopped_at;
	if ((o = cJSON_CreateObject()) == NULL)
		return bs__error_code(BS_ENOMEM);
	if ((rc = bs__json_put_str(o, "profile", sla->p->name)) ||
	    (rc = bs__json_put_int(o, "extension_level", t->ext_level)) ||
	    (rc = bs__json_put_bool(o, "paused",
				    st.resolution.state == BS__SLA_PAUSED)) ||
	    (rc = bs__json_put_int(o, "paused_ms", t->paused_ms)) ||
	    (rc = clock_json(o, "first_response", &st.first_response, sla->p,
			     fr_stop)) ||
	    (rc = clock_json(o, "resolution", &st.resolution, sla->p,
			     t->stopped_at)))
		goto cleanup;
	rc = due == INT64_MAX ? bs__json_put_null(o, "next_due_ms")
			      : bs__json_put_int(o, "next_due_ms", due);
	if (rc || (rc = bs__json_put_bool(o, "overdue", late)) ||
	    (rc = bs__json_put_bool(
		     o, "breached",
		     st.first_response.level == BS__SLA_BREACHED ||
			     st.resolution.level == BS__SLA_BREACHED)) ||
	    (rc = bs__tk_clock_json(tk, o)))
		goto cleanup;
	if (next_due != NULL)
		*next_due = due;
	if (overdue != NULL)
		*overdue = late;
	*out = o;
	o = NULL;
cleanup:
	cJSON_Delete(o);
	return rc;
}

static int col_str(cJSON *o, const char *k, sqlite3_stmt *s, int i)
{
	return bs__json_put_str(o, k, (const char *)sqlite3_column_text(s, i));
}

static int col_int(cJSON *o, const char *k, sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return bs__json_put_null(o, k);
	return bs__json_put_int(o, k, sqlite3_column_int64(s, i));
}

int bs__tk_summary(struct bs__tk *tk, sqlite3_stmt *s, cJSON **out,
		   int64_t *next_due, int *overdue)
{
	struct bs__tk_sla sla;
	cJSON *o = cJSON_CreateObject(), *j = NULL;
	int64_t due = INT64_MAX;
	int late = 0, rc;

	*out = NULL;
	if (o == NULL)
		return bs__error_code(BS_ENOMEM);
	if ((rc = col_str(o, "id", s, 0)) || (rc = col_str(o, "ref", s, 1)) ||
	    (rc = col_str(o, "external_ref", s, 2)) ||
	    (rc = col_str(o, "status", s, 3)) ||
	    (rc = bs__json_put_bool(o, "open", sqlite3_column_int(s, 20))) ||
	    (rc = col_str(o, "priority", s, 4)) ||
	    (rc = col_str(o, "channel", s, 5)) ||
	    (rc = col_str(o, "category", s, 6)) ||
	    (rc = col_str(o, "category_name", s, 7)) ||
	    (rc = col_str(o, "risk_class", s, 8)) ||
	    (rc = col_str(o, "subject", s, 9)) ||
	    (rc = col_str(o, "branch", s, 10)) ||
	    (rc = col_str(o, "assignee", s, 11)) ||
	    (rc = col_str(o, "customer_id", s, 12)) ||
	    (rc = col_str(o, "customer_name", s, 13)) ||
	    (rc = col_int(o, "t0_ms", s, 14)) ||
	    (rc = col_int(o, "created_ms", s, 15)) ||
	    (rc = col_int(o, "updated_ms", s, 16)) ||
	    (rc = bs__json_put_bool(o, "pending_sync",
				    sqlite3_column_int(s, 17))) ||
	    (rc = bs__json_put_bool(o, "conflict",
				    sqlite3_column_int(s, 18) & 1)) ||
	    (rc = col_int(o, "server_version", s, 19)))
		goto cleanup;
	bs__tk_sla_from_row(tk, s, 21, &sla);
	rc = bs__tk_sla_json(tk, &sla, &j, &due, &late);
	if (rc == BS_ENOMEM)
		goto cleanup;
	/* A record the SLA code cannot evaluate (a damaged import) shows
	 * no SLA rather than hiding the ticket. */
	if ((rc = bs__json_put(o, "sla", j != NULL ? j : cJSON_CreateNull())))
		goto cleanup;
	if (next_due != NULL)
		*next_due = due;
	if (overdue != NULL)
		*overdue = late;
	*out = o;
	o = NULL;
cleanup:
	cJSON_Delete(o);
	return rc;
}

cJSON *bs__tk_column(sqlite3_stmt *s, int i)
{
	switch (sqlite3_column_type(s, i)) {
	case SQLITE_INTEGER:
		return cJSON_CreateNumber((double)sqlite3_column_int64(s, i));
	case SQLITE_TEXT:
		return cJSON_CreateString(
			(const char *)sqlite3_column_text(s, i));
	default:
		return cJSON_CreateNull();
	}
}

int bs__tk_rows(struct bs__tk *tk, cJSON *arr, const char *sql,
		const char *a, const char *b)
{
	sqlite3_stmt *s = NULL;
	cJSON *o;
	int rc, src, i, n;

	if ((rc = bs__tk_prepare(tk, &s, sql)) != BS_OK)
		return rc;
	bs__tk_bind_text(s, 1, a);
	bs__tk_bind_text(s, 2, b);
	n = sqlite3_column_count(s);
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		o = cJSON_CreateObject();
		if ((rc = bs__json_push(arr, o)) != BS_OK)
			goto cleanup;
		for (i = 0; i < n; i++)
			if ((rc = bs__json_put(o, sqlite3_column_name(s, i),
					       bs__tk_column(s, i))))
				goto cleanup;
	}
	if (src != SQLITE_DONE)
		rc = bs__tk_sqlerr(tk, src, "read");
cleanup:
	sqlite3_finalize(s);
	return rc;
}
