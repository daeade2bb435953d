/*
 * change.c - what staff change offline: a reply, note or call log added
 * to a ticket's timeline, a status move, a new walk-in complaint.
 *
 * Each function is one transaction that writes the rows, the SLA effects
 * (through agent/core/sla.h), the outbox operation for head office, the
 * clocks of the ticket fields it set, and an audit row; a failure
 * anywhere rolls all of it back.  The shapes of the operations are in
 * schema/outbox.md.
 */
#include <stdio.h>
#include <string.h>

#include "agent/core/common.h"
#include "agent/core/mask.h"
#include "tickets_internal.h"

/* The ticket a change applies to, as read inside its transaction. */
struct target {
	char id[BS__UUID_TEXT_LEN + 1];
	enum bs__status status;
	int64_t server_version;
	struct bs__tk_sla sla;
};

static int load_target(struct bs__tk *tk, const char *name, struct target *t)
{
	sqlite3_stmt *s = NULL;
	int rc, src;

	memset(t, 0, sizeof(*t));
	if ((rc = bs__tk_resolve(tk, name, t->id)) != BS_OK)
		return rc;
	rc = bs__tk_prepare(tk, &s,
			    "SELECT t.status, t.server_version, "
			    BS__TK_SLA_COLS " FROM ticket t LEFT JOIN "
			    "catalogue_category c ON c.code = "
			    "t.category_code WHERE t.id = ?1");
	if (rc != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, t->id, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src != SQLITE_ROW) {
		rc = src == SQLITE_DONE
			     ? bs__error(BS_ENOTFOUND, "no ticket '%s'", name)
			     : bs__tk_sqlerr(tk, src, "read ticket");
		goto cleanup;
	}
	if (bs__status_parse(&t->status, (const char *)sqlite3_column_text(
						 s, 0)) != BS_OK) {
		rc = bs__error(BS_EDAMAGED, "ticket %s has an unknown status",
			       t->id);
		goto cleanup;
	}
	t->server_version = sqlite3_column_int64(s, 1);
	bs__tk_sla_from_row(tk, s, 2, &t->sla);
cleanup:
	sqlite3_finalize(s);
	return rc;
}

/* An activity row to write. */
struct activity {
	char id[BS__UUID_TEXT_LEN + 1];
	const char *ticket_id;
	const char *kind;
	const char *visibility;
	const char *body;
	const char *hlc;
	const char *from_status, *to_status;
	const cJSON *detail; /* borrowed, or NULL */
};

static int write_activity(struct bs__tk *tk, const struct activity *a)
{
	sqlite3_stmt *s = NULL;
	char *detail = NULL;
	int rc;

	if (a->detail != NULL &&
	    (rc = bs__json_print(&detail, a->detail)) != BS_OK)
		return rc;
	rc = bs__tk_prepare(tk, &s,
			    "INSERT INTO activity (id, ticket_id, kind, "
			    "visibility, body, author, device_id, "
			    "device_time_ms, hlc, from_status, to_status, "
			    "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
			    "?9, ?10, ?11, ?12)");
	if (rc != BS_OK)
		goto cleanup;
	bs__tk_bind_text(s, 1, a->id);
	bs__tk_bind_text(s, 2, a->ticket_id);
	bs__tk_bind_text(s, 3, a->kind);
	bs__tk_bind_text(s, 4, a->visibility);
	bs__tk_bind_text(s, 5, a->body);
	bs__tk_bind_text(s, 6, tk->author);
	bs__tk_bind_text(s, 7, tk->device_id);
	sqlite3_bind_int64(s, 8, tk->device_ms);
	bs__tk_bind_text(s, 9, a->hlc);
	bs__tk_bind_text(s, 10, a->from_status);
	bs__tk_bind_text(s, 11, a->to_status);
	bs__tk_bind_text(s, 12, detail);
	rc = bs__tk_step_done(tk, s, "write activity");
cleanup:
	sqlite3_finalize(s);
	bs__free(detail);
	return rc;
}

/* Put an optional SLA time: BS__SLA_NONE is null. */
static int put_time(cJSON *o, const char *k, int64_t v)
{
	if (v == BS__SLA_NONE)
		return bs__json_put_null(o, k);
	return bs__json_put_int(o, k, v);
}

/*
 * Update the ticket row: its status (unless NULL) and SLA fields, and
 * updated_ms and local_dirty, which stay on the device.
 */
static int update_ticket(struct bs__tk *tk, const char *id,
			 const struct bs__sla_ticket *t, const char *status)
{
	sqlite3_stmt *s = NULL;
	int rc;

	rc = bs__tk_prepare(tk, &s,
			    "UPDATE ticket SET status = coalesce(?2, status), "
			    "first_response_ms = ?3, paused_since_ms = ?4, "
			    "paused_ms_total = ?5, closed_ms = ?6, "
			    "extension_level = ?7, updated_ms = ?8, "
			    "local_dirty = 1 WHERE id = ?1");
	if (rc != BS_OK)
		return rc;
	bs__tk_bind_text(s, 1, id);
	bs__tk_bind_text(s, 2, status);
	bs__tk_bind_opt_int(s, 3, t->first_response_at,
			    t->first_response_at != BS__SLA_NONE);
	bs__tk_bind_opt_int(s, 4, t->pause_start_ms,
			    t->pause_start_ms != BS__SLA_NONE);
	sqlite3_bind_int64(s, 5, t->paused_ms);
	bs__tk_bind_opt_int(s, 6, t->stopped_at,
			    t->stopped_at != BS__SLA_NONE);
	sqlite3_bind_int64(s, 7, t->ext_level);
	sqlite3_bind_int64(s, 8, tk->now_ms);
	rc = bs__tk_step_done(tk, s, "update ticket");
	sqlite3_finalize(s);
	return rc;
}

/* Put into set the SLA fields that differ between a and b. */
static int sla_changes(cJSON *set, const struct bs__sla_ticket *a,
		       const struct bs__sla_ticket *b)
{
	int rc = BS_OK;

	if (a->first_response_at != b->first_response_at)
		rc = put_time(set, "first_response_ms", b->first_response_at);
	if (!rc && a->pause_start_ms != b->pause_start_ms)
		rc = put_time(set, "paused_since_ms", b->pause_start_ms);
	if (!rc && a->paused_ms != b->paused_ms)
		rc = bs__json_put_int(set, "paused_ms_total", b->paused_ms);
	if (!rc && a->stopped_at != b->stopped_at)
		rc = put_time(set, "closed_ms", b->stopped_at);
	if (!rc && a->ext_level != b->ext_level)
		rc = bs__json_put_int(set, "extension_level", b->ext_level);
	return rc;
}

/* Text that holds something besides white space. */
static int has_content(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 1;
	return 0;
}

int bs_ticket_add(bs_store *st, const char *ticket, bs_activity_kind kind,
		  const char *text, char id_out[37])
{
	struct bs__tk tk;
	struct target t;
	struct activity a;
	struct bs__sla_ticket before;
	char hlc[BS__HLC_TEXT_LEN + 1];
	cJSON *fields = NULL, *set = NULL;
	struct bs__tk_op op;
	int rc;

	memset(&tk, 0, sizeof(tk));
	if (kind != BS_ACT_REPLY && kind != BS_ACT_NOTE && kind != BS_ACT_CALL)
		return bs__error(BS_EINVAL, "unknown activity kind %d",
				 (int)kind);
	if ((rc = bs__tk_check_text("text", text, BS__TK_TEXT_MAX, 0)))
		return rc;
	if (!has_content(text))
		return bs__error(BS_EINVAL, "text is empty");
	if ((rc = bs__tk_begin(&tk, st, 1)) != BS_OK)
		return rc;
	if ((rc = load_target(&tk, ticket, &t)) != BS_OK)
		goto cleanup;

	memset(&a, 0, sizeof(a));
	a.ticket_id = t.id;
	a.kind = kind == BS_ACT_REPLY	? "customer_reply"
		 : kind == BS_ACT_NOTE ? "internal_note"
				       : "call_log";
	a.visibility = kind == BS_ACT_REPLY ? "customer" : "internal";
	a.body = text;
	a.hlc = hlc;
	if ((rc = bs__tk_new_id(&tk, a.id)) ||
	    (rc = bs__tk_stamp(&tk, NULL, hlc)) ||
	    (rc = write_activity(&tk, &a)))
		goto cleanup;

	/* A reply or a call is contact with the customer. */
	before = t.sla.t;
	if (kind != BS_ACT_NOTE &&
	    t.sla.t.first_response_at == BS__SLA_NONE &&
	    t.sla.t.stopped_at == BS__SLA_NONE &&
	    (rc = bs__sla_apply(&t.sla.t, t.sla.p, BS__EFF_FIRST_RESPONSE,
				tk.now_ms, t.sla.t.ext_level)) != BS_OK)
		goto cleanup;

	fields = cJSON_CreateObject();
	set = cJSON_CreateObject();
	if (fields == NULL || set == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if ((rc = bs__json_put_str(fields, "kind", a.kind)) ||
	    (rc = bs__json_put_str(fields, "visibility", a.visibility)) ||
	    (rc = bs__json_put_str(fields, "body", text)) ||
	    (rc = bs__json_put_str(fields, "status",
				   bs__status_name(t.status))) ||
	    (rc = sla_changes(set, &before, &t.sla.t)) ||
	    (rc = update_ticket(&tk, t.id, &t.sla.t, NULL)))
		goto cleanup;
	op.entity = "activity";
	op.entity_id = a.id;
	op.ticket_id = t.id;
	op.op = "append";
	op.fields = fields;
	op.sensitive = NULL;
	op.set = set;
	op.hlc = hlc;
	op.base_version = t.server_version;
	if ((rc = bs__tk_outbox(&tk, &op, NULL)) ||
	    (rc = bs__tk_commit(&tk)))
		goto cleanup;
	if (id_out != NULL)
		memcpy(id_out, a.id, sizeof(a.id));
cleanup:
	bs__tk_rollback(&tk);
	cJSON_Delete(fields);
	cJSON_Delete(set);
	return rc;
}

/*
 * Whether the customer counts as told for a move: a reply or a logged
 * call since the ticket's last status change (schema/outbox.md).
 */
static int customer_told(struct bs__tk *tk, const char *id, int *told)
{
	sqlite3_stmt *s = NULL;
	int rc, src;

	*told = 0;
	rc = bs__tk_prepare(tk, &s,
			    "SELECT EXISTS (SELECT 1 FROM activity "
			    "WHERE ticket_id = ?1 AND kind IN "
			    "('customer_reply', 'call_log') AND hlc > "
			    "coalesce((SELECT max(hlc) FROM activity WHERE "
			    "ticket_id = ?1 AND kind = 'status_change'), ''))");
	if (rc != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW)
		*told = sqlite3_column_int(s, 0);
	else
		rc = bs__tk_sqlerr(tk, src, "read timeline");
	sqlite3_finalize(s);
	return rc;
}

int bs_ticket_move(bs_store *st, const char *ticket, const char *state,
		   const char *reason)
{
	struct bs__transition_ctx ctx;
	struct bs__tk tk;
	struct target t;
	struct activity a;
	struct bs__sla_ticket before;
	const struct bs__edge *edge;
	enum bs__status to;
	char hlc[BS__HLC_TEXT_LEN + 1];
	cJSON *fields = NULL, *set = NULL, *detail = NULL;
	struct bs__tk_op op;
	unsigned effects;
	int rc;

	memset(&tk, 0, sizeof(tk));
	if (state == NULL || bs__status_parse(&to, state) != BS_OK)
		return bs__error(BS_EINVAL, "'%.40s' is not a ticket status",
				 state != NULL ? state : "");
	if ((rc = bs__tk_check_text("reason", reason, BS__TK_REASON_MAX, 1)))
		return rc;
	if (!has_content(reason))
		reason = NULL;
	if ((rc = bs__tk_begin(&tk, st, 1)) != BS_OK)
		return rc;
	if ((rc = load_target(&tk, ticket, &t)) != BS_OK)
		goto cleanup;

	/* The facts the state machine checks.  A withdrawal's reason is
	 * the record of the customer's withdrawal: its evidence. */
	memset(&ctx, 0, sizeof(ctx));
	ctx.has_reason = reason != NULL;
	ctx.has_evidence = reason != NULL;
	ctx.ext_granted = t.sla.t.ext_level;
	ctx.ext_level = t.sla.t.ext_level + 1;
	ctx.ext_max = t.sla.p->max_ext;
	if ((rc = customer_told(&tk, t.id, &ctx.customer_notified)) ||
	    (rc = bs__state_check(t.status, to, tk.actor, 1, &ctx)))
		goto cleanup;
	edge = bs__state_edge(t.status, to);

	/* The SLA effects of the edge; a pause or resume the clock record
	 * already reflects (an import that disagrees with itself) is
	 * skipped rather than blocking the move. */
	effects = edge->effects;
	if ((effects & BS__EFF_RESUME) &&
	    t.sla.t.pause_start_ms == BS__SLA_NONE)
		effects &= ~BS__EFF_RESUME;
	if ((effects & BS__EFF_PAUSE) &&
	    t.sla.t.pause_start_ms != BS__SLA_NONE)
		effects &= ~BS__EFF_PAUSE;
	before = t.sla.t;
	if ((rc = bs__sla_apply(&t.sla.t, t.sla.p, effects, tk.now_ms,
				t.sla.t.ext_level)) != BS_OK)
		goto cleanup;

	memset(&a, 0, sizeof(a));
	a.ticket_id = t.id;
	a.kind = "status_change";
	a.visibility = "internal";
	a.body = reason;
	a.hlc = hlc;
	a.from_status = bs__status_name(t.status);
	a.to_status = bs__status_name(to);
	if (effects & BS__EFF_EXT_ASK) {
		if ((detail = cJSON_CreateObject()) == NULL) {
			rc = bs__error_code(BS_ENOMEM);
			goto cleanup;
		}
		if ((rc = bs__json_put_int(detail, "extension_level",
					   ctx.ext_level)))
			goto cleanup;
		a.detail = detail;
	}
	if ((rc = bs__tk_new_id(&tk, a.id)) ||
	    (rc = bs__tk_stamp(&tk, NULL, hlc)) ||
	    (rc = write_activity(&tk, &a)))
		goto cleanup;

	fields = cJSON_CreateObject();
	set = cJSON_CreateObject();
	if (fields == NULL || set == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if ((rc = bs__json_put_str(fields, "from", a.from_status)) ||
	    (rc = bs__json_put_str(fields, "to", a.to_status)) ||
	    (reason != NULL &&
	     (rc = bs__json_put_str(fields, "reason", reason))) ||
	    (to == BS__STATUS_WITHDRAWN &&
	     (rc = bs__json_put_bool(fields, "evidence", ctx.has_evidence))) ||
	    (rc = bs__json_put_bool(fields, "customer_notified",
				    ctx.customer_notified)) ||
	    ((effects & BS__EFF_EXT_ASK) &&
	     (rc = bs__json_put_int(fields, "ext_level", ctx.ext_level))) ||
	    (rc = bs__json_put_str(fields, "activity_id", a.id)))
		goto cleanup;
	if ((rc = bs__json_put_str(set, "status", a.to_status)) ||
	    (rc = sla_changes(set, &before, &t.sla.t)) ||
	    (rc = update_ticket(&tk, t.id, &t.sla.t, a.to_status)))
		goto cleanup;
	op.entity = "ticket";
	op.entity_id = t.id;
	op.ticket_id = t.id;
	op.op = "move";
	op.fields = fields;
	op.sensitive = NULL;
	op.set = set;
	op.hlc = hlc;
	op.base_version = t.server_version;
	if ((rc = bs__tk_outbox(&tk, &op, NULL)) != BS_OK)
		goto cleanup;
	rc = bs__tk_commit(&tk);
cleanup:
	bs__tk_rollback(&tk);
	cJSON_Delete(detail);
	cJSON_Delete(fields);
	cJSON_Delete(set);
	return rc;
}

/* --- a new walk-in complaint ------------------------------------------- */

static const char *const channels[] = { "phone",  "app",    "branch",
					"online", "social", "regulator" };

static int check_new(const bs_new_ticket *t)
{
	enum bs__priority prio;
	size_t i;
	int rc;

	if (t == NULL)
		return bs__error(BS_EINVAL, "no ticket to register");
	if (!bs__tk_is_code(t->category))
		return bs__error(BS_EINVAL, "a category code is required");
	for (i = 0; t->channel != NULL && i < BS__ARRAY_LEN(channels); i++)
		if (strcmp(t->channel, channels[i]) == 0)
			break;
	if (t->channel == NULL || i == BS__ARRAY_LEN(channels))
		return bs__error(BS_EINVAL,
				 "'%.40s' is not a channel (phone, app, "
				 "branch, online, social, regulator)",
				 t->channel != NULL ? t->channel : "");
	if ((rc = bs__tk_check_text("subject", t->subject,
				    BS__TK_SUBJECT_MAX, 0)) ||
	    (rc = bs__tk_check_text("description", t->description,
				    BS__TK_TEXT_MAX, 0)) ||
	    (rc = bs__tk_check_text("customer name", t->customer_name,
				    BS__TK_NAME_MAX, 1)) ||
	    (rc = bs__tk_check_text("customer phone", t->customer_phone,
				    BS__TK_CODE_MAX, 1)) ||
	    (rc = bs__tk_check_text("customer id", t->customer_id,
				    BS__TK_CODE_MAX, 1)))
		return rc;
	if (!has_content(t->subject))
		return bs__error(BS_EINVAL, "subject is empty");
	if (!has_content(t->description))
		return bs__error(BS_EINVAL, "description is empty");
	if (t->priority != NULL && bs__priority_parse(&prio, t->priority))
		return bs__error(BS_EINVAL,
				 "'%.40s' is not a priority (urgent, high, "
				 "normal, low)",
				 t->priority);
	if (t->customer_id != NULL && t->customer_id[0] != '\0' &&
	    ((t->customer_name != NULL && t->customer_name[0] != '\0') ||
	     (t->customer_phone != NULL && t->customer_phone[0] != '\0')))
		return bs__error(BS_EINVAL,
				 "name a known customer by id, or a walk-in "
				 "customer by name and phone, not both");
	return BS_OK;
}

struct category {
	char risk[32];
	char priority[16];
	char profile[BS__TK_CODE_MAX + 1];
};

static int load_category(struct bs__tk *tk, const char *code,
			 struct category *c)
{
	sqlite3_stmt *s = NULL;
	int rc, src;

	memset(c, 0, sizeof(*c));
	rc = bs__tk_prepare(tk, &s,
			    "SELECT risk_class, default_priority, sla_profile "
			    "FROM catalogue_category WHERE code = ?1 AND "
			    "active = 1");
	if (rc != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, code, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		snprintf(c->risk, sizeof(c->risk), "%s",
			 sqlite3_column_text(s, 0));
		snprintf(c->priority, sizeof(c->priority), "%s",
			 sqlite3_column_text(s, 1));
		snprintf(c->profile, sizeof(c->profile), "%s",
			 sqlite3_column_type(s, 2) == SQLITE_TEXT
				 ? (const char *)sqlite3_column_text(s, 2)
				 : BS__TK_DEFAULT_PROFILE);
	} else if (src == SQLITE_DONE) {
		rc = bs__error(BS_EINVAL,
			       "'%s' is not a category of the catalogue",
			       code);
	} else {
		rc = bs__tk_sqlerr(tk, src, "read catalogue");
	}
	sqlite3_finalize(s);
	return rc;
}

static int customer_exists(struct bs__tk *tk, const char *id)
{
	sqlite3_stmt *s = NULL;
	int rc, src;

	rc = bs__tk_prepare(tk, &s, "SELECT 1 FROM customer WHERE id = ?1");
	if (rc != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_DONE)
		rc = bs__error(BS_ENOTFOUND, "no customer '%s'", id);
	else if (src != SQLITE_ROW)
		rc = bs__tk_sqlerr(tk, src, "read customer");
	sqlite3_finalize(s);
	return rc;
}

/* Trimmed copy of an optional argument, or NULL if it has no content. */
static int trimmed(char **out, const char *s)
{
	size_t n;

	*out = NULL;
	if (!has_content(s))
		return BS_OK;
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
			 s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	if ((*out = bs__malloc(n + 1)) == NULL)
		return bs__error_code(BS_ENOMEM);
	memcpy(*out, s, n);
	(*out)[n] = '\0';
	return BS_OK;
}

/*
 * The walk-in customer: a new customer row with masked values only.
 * The full values go to *sensitive, {"customer": {"id", "name",
 * "phone"}}, which the ticket's operation carries to head office.
 */
static int new_customer(struct bs__tk *tk, const char *name,
			const char *phone, char id[BS__UUID_TEXT_LEN + 1],
			cJSON **sensitive)
{
	char mname[BS__MASK_MAX] = "", mphone[BS__MASK_MAX] = "";
	sqlite3_stmt *s = NULL;
	cJSON *sens = NULL, *c;
	int rc;

	*sensitive = NULL;
	if ((name != NULL &&
	     (rc = bs__mask_name(mname, sizeof(mname), name))) ||
	    (phone != NULL &&
	     (rc = bs__mask_phone(mphone, sizeof(mphone), phone))) ||
	    (rc = bs__tk_new_id(tk, id)))
		return rc;
	rc = bs__tk_prepare(tk, &s,
			    "INSERT INTO customer (id, name_masked, "
			    "phone_masked, branch, created_ms, updated_ms) "
			    "VALUES (?1, ?2, ?3, ?4, ?5, ?5)");
	if (rc != BS_OK)
		return rc;
	bs__tk_bind_text(s, 1, id);
	bs__tk_bind_text(s, 2, mname);
	bs__tk_bind_text(s, 3, mphone[0] ? mphone : NULL);
	bs__tk_bind_text(s, 4, tk->branch);
	sqlite3_bind_int64(s, 5, tk->now_ms);
	rc = bs__tk_step_done(tk, s, "write customer");
	sqlite3_finalize(s);
	if (rc != BS_OK)
		return rc;

	if ((sens = cJSON_CreateObject()) == NULL)
		return bs__error_code(BS_ENOMEM);
	c = cJSON_CreateObject();
	if ((rc = bs__json_put(sens, "customer", c)) ||
	    (rc = bs__json_put_str(c, "id", id)) ||
	    (name != NULL && (rc = bs__json_put_str(c, "name", name))) ||
	    (phone != NULL && (rc = bs__json_put_str(c, "phone", phone)))) {
		cJSON_Delete(sens);
		return rc;
	}
	*sensitive = sens;
	return BS_OK;
}

/* Put k: v into both objects (v NULL: left out of a, null in b). */
static int put2(cJSON *a, cJSON *b, const char *k, const char *v)
{
	int rc = BS_OK;

	if (v != NULL)
		rc = bs__json_put_str(a, k, v);
	return rc ? rc : bs__json_put_str(b, k, v);
}

int bs_ticket_new(bs_store *st, const bs_new_ticket *t, char id_out[37])
{
	struct bs__tk tk;
	struct category cat;
	struct bs__tk_sla sla;
	struct bs__sla_status due;
	enum bs__priority prio;
	char id[BS__UUID_TEXT_LEN + 1], cid[BS__UUID_TEXT_LEN + 1] = "";
	char hlc[BS__HLC_TEXT_LEN + 1];
	char *name = NULL, *phone = NULL;
	const char *priority, *customer = NULL;
	cJSON *fields = NULL, *set = NULL, *sens = NULL;
	sqlite3_stmt *s = NULL;
	struct bs__tk_op op;
	int rc;

	memset(&tk, 0, sizeof(tk));
	if ((rc = check_new(t)) != BS_OK)
		return rc;
	if ((rc = trimmed(&name, t->customer_name)) ||
	    (rc = trimmed(&phone, t->customer_phone)))
		goto cleanup;
	if ((rc = bs__tk_begin(&tk, st, 1)) ||
	    (rc = load_category(&tk, t->category, &cat)))
		goto cleanup;
	priority = t->priority != NULL ? t->priority : cat.priority;
	if (bs__priority_parse(&prio, priority) != BS_OK)
		prio = BS__PRIORITY_NORMAL;
	priority = bs__priority_name(prio);
	if ((rc = bs__tk_new_id(&tk, id)) != BS_OK)
		goto cleanup;
	if (t->customer_id != NULL && t->customer_id[0] != '\0') {
		if ((rc = customer_exists(&tk, t->customer_id)) != BS_OK)
			goto cleanup;
		customer = t->customer_id;
	} else if (name != NULL || phone != NULL) {
		if ((rc = new_customer(&tk, name, phone, cid, &sens)))
			goto cleanup;
		customer = cid;
	}

	/* Due times from T0 = now under the category's profile. */
	bs__tk_profile(&tk, cat.profile, &sla.buf, sla.name, &sla.p);
	bs__sla_ticket_init(&sla.t, tk.now_ms, prio);
	if ((rc = bs__sla_eval(&due, sla.p, &sla.t, tk.now_ms, tk.trust)))
		goto cleanup;

	rc = bs__tk_prepare(&tk, &s,
			    "INSERT INTO ticket (id, channel, category_code, "
			    "risk_class, priority, status, subject, "
			    "description, branch, assignee, customer_id, "
			    "sla_profile, t0_ms, created_ms, updated_ms, "
			    "first_response_due_ms, resolution_due_ms, "
			    "local_dirty) VALUES (?1, ?2, ?3, ?4, ?5, "
			    "'received', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, "
			    "?12, ?13, ?14, 1)");
	if (rc != BS_OK)
		goto cleanup;
	bs__tk_bind_text(s, 1, id);
	bs__tk_bind_text(s, 2, t->channel);
	bs__tk_bind_text(s, 3, t->category);
	bs__tk_bind_text(s, 4, cat.risk);
	bs__tk_bind_text(s, 5, priority);
	bs__tk_bind_text(s, 6, t->subject);
	bs__tk_bind_text(s, 7, t->description);
	bs__tk_bind_text(s, 8, tk.branch);
	bs__tk_bind_text(s, 9, tk.actor_staff);
	bs__tk_bind_text(s, 10, customer);
	bs__tk_bind_text(s, 11, sla.p->name);
	sqlite3_bind_int64(s, 12, tk.now_ms);
	sqlite3_bind_int64(s, 13, due.first_response.due_ms);
	sqlite3_bind_int64(s, 14, due.resolution.due_ms);
	if ((rc = bs__tk_step_done(&tk, s, "write ticket")) ||
	    (rc = bs__tk_stamp(&tk, NULL, hlc)))
		goto cleanup;

	/* What the wire carries (schema/protocol.md, ticket/create), and
	 * every column this device set, for the clocks.  A walk-in's
	 * customer id is the device's own: it travels with the customer
	 * in the sensitive part, not as a known customer. */
	fields = cJSON_CreateObject();
	set = cJSON_CreateObject();
	if (fields == NULL || set == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if ((rc = put2(fields, set, "channel", t->channel)) ||
	    (rc = put2(fields, set, "subject", t->subject)) ||
	    (rc = bs__json_put_int(fields, "t0_ms", tk.now_ms)) ||
	    (rc = bs__json_put_int(set, "t0_ms", tk.now_ms)) ||
	    (rc = put2(fields, set, "description", t->description)) ||
	    (rc = bs__json_put_str(fields, "category", t->category)) ||
	    (rc = bs__json_put_str(set, "category_code", t->category)) ||
	    (rc = put2(fields, set, "risk_class", cat.risk)) ||
	    (rc = put2(fields, set, "priority", priority)) ||
	    (sens == NULL && customer != NULL &&
	     (rc = bs__json_put_str(fields, "customer_id", customer))) ||
	    (rc = bs__json_put_str(set, "customer_id", customer)) ||
	    (rc = bs__json_put_str(set, "status", "received")) ||
	    (rc = bs__json_put_str(set, "branch", tk.branch)) ||
	    (rc = bs__json_put_str(set, "assignee", tk.actor_staff)) ||
	    (rc = bs__json_put_str(set, "sla_profile", sla.p->name)) ||
	    (rc = bs__json_put_int(set, "first_response_due_ms",
				   due.first_response.due_ms)) ||
	    (rc = bs__json_put_int(set, "resolution_due_ms",
				   due.resolution.due_ms)))
		goto cleanup;
	op.entity = "ticket";
	op.entity_id = id;
	op.ticket_id = id;
	op.op = "create";
	op.fields = fields;
	op.sensitive = sens;
	op.set = set;
	op.hlc = hlc;
	op.base_version = -1;
	if ((rc = bs__tk_outbox(&tk, &op, NULL)) ||
	    (rc = bs__tk_commit(&tk)))
		goto cleanup;
	if (id_out != NULL)
		memcpy(id_out, id, sizeof(id));
cleanup:
	sqlite3_finalize(s);
	bs__tk_rollback(&tk);
	cJSON_Delete(set);
	cJSON_Delete(fields);
	cJSON_Delete(sens);
	bs__free(name);
	bs__free(phone);
	return rc;
}
