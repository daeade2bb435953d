/*
 * sync.c - push and pull, the two halves of a sync round, and hello.
 *
 * Push: the whole batch is checked first (shape, sizes, that every op
 * id belongs to the signing device); one malformed operation refuses the
 * batch with nothing applied.  Then each operation is applied in its own
 * write transaction, all or nothing: a replayed op id returns the answer
 * stored the first time; otherwise the op is checked against the
 * device's scope and role, merged by the rules of agent/core/state.c
 * and the field rules of protocol.md, recorded in the ticket's history
 * and answered applied, merged or rejected.
 *
 * Pull: one read transaction, so a page is one snapshot; the rows after
 * the cursor in the device's scope, in change-number order, each with
 * the ticket's current state, the timeline entries the device lacks,
 * and its masked customer and archive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/core/common.h"
#include "agent/core/json.h"
#include "agent/core/mask.h"
#include "agent/core/sla.h"
#include "hub/hub.h"

static const char *const entities[] = { "ticket", "activity", NULL };
static const char *const channels[] = { "phone", "app", "branch", "online",
					"social", "regulator", NULL };
static const char *const priorities[] = { "urgent", "high", "normal", "low",
					  NULL };
static const char *const risks[] = { "personnel_service", "product_dispute",
				     "operational_risk", "system_fault",
				     "regulator_inquiry", NULL };
static const char *const kinds[] = { "customer_reply", "internal_note",
				     "call_log", "attachment", NULL };
static const char *const visibilities[] = { "internal", "customer", NULL };

/* Free-text fields: last writer by clock wins, the loser is kept. */
static const char *const free_text[] = { "subject", "description",
					 "transcript", "outcome", NULL };
static const size_t free_text_max[] = { 2000, BS__WIRE_TEXT_MAX,
					BS__WIRE_TRANSCRIPT_MAX,
					8000 };
/* Fields head office owns: a branch op that sets one is refused. */
static const char *const ho_owned[] = {
	"priority", "category", "risk_class", "branch", "assignee",
	"sla_profile", "customer_id", "channel", "ref", "external_ref",
	"status", "merged_into", "extension_level", "t0_ms",
	"first_response_due_ms", "resolution_due_ms", NULL
};

enum op_kind { OP_CREATE, OP_UPDATE, OP_MOVE, OP_APPEND };

/* One operation of a batch, checked. */
struct op {
	const cJSON *j;
	const char *op_id, *entity_id, *ticket_id, *author;
	const cJSON *fields;
	enum op_kind kind;
	uint64_t hlc;
	char hlc_text[BS__HLC_TEXT_LEN + 1];
	int64_t base_version; /* -1: none */
	int64_t device_ms;
	const char *ho_field; /* a head-office field it tries to set */
	const cJSON *customer; /* a walk-in's full contact (create only) */
};

static int in_list(const char *s, const char *const *list)
{
	int i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return i;
	return -1;
}

/* --- pass 1: the batch's shape ------------------------------------- */

static int check_create(const cJSON *f)
{
	const char *s;
	int64_t n;
	int i, rc;

	if ((rc = bs__wire_enum(&i, f, "channel", channels, 0)) ||
	    (rc = bs__wire_str(&s, f, "subject", 2000, 0)) ||
	    (rc = bs__wire_str(&s, f, "description", BS__WIRE_TEXT_MAX, 1)) ||
	    (rc = bs__wire_str(&s, f, "transcript", BS__WIRE_TRANSCRIPT_MAX,
			       1)) ||
	    (rc = bs__wire_code(&s, f, "customer_id", 1)) ||
	    (rc = bs__wire_code(&s, f, "category", 1)) ||
	    (rc = bs__wire_enum(&i, f, "risk_class", risks, 1)) ||
	    (rc = bs__wire_enum(&i, f, "priority", priorities, 1)) ||
	    (rc = bs__wire_int(&n, NULL, f, "t0_ms", 0, BS__HLC_MAX_MS, 0)))
		return rc;
	return BS_OK;
}

static int check_update(const cJSON *f, const char **ho)
{
	const cJSON *c;
	const char *s;
	int i, rc;

	*ho = NULL;
	if (f->child == NULL)
		return bs__error(BS_EINVAL, "an update changes no field");
	for (c = f->child; c != NULL; c = c->next) {
		if ((i = in_list(c->string, free_text)) >= 0) {
			if ((rc = bs__wire_str(&s, f, c->string,
					       free_text_max[i], 1)) != BS_OK)
				return rc;
		} else if (in_list(c->string, ho_owned) >= 0) {
			if (*ho == NULL)
				*ho = c->string;
		} else {
			return bs__error(BS_EINVAL, "field '%.64s' is not a "
					 "ticket field", c->string);
		}
	}
	return BS_OK;
}

static int check_move(const cJSON *f)
{
	enum bs__status st;
	const char *from, *to, *s;
	int b, rc;
	int64_t n;

	if ((rc = bs__wire_str(&from, f, "from", 32, 0)) ||
	    (rc = bs__wire_str(&to, f, "to", 32, 0)))
		return rc;
	if (bs__status_parse(&st, from) != BS_OK ||
	    bs__status_parse(&st, to) != BS_OK)
		return bs__error(BS_EINVAL, "fields 'from' and 'to' must be "
				 "ticket states (schema/states.md)");
	if ((rc = bs__wire_str(&s, f, "reason", 4000, 1)) ||
	    (rc = bs__wire_bool(&b, f, "evidence", 1)) ||
	    (rc = bs__wire_bool(&b, f, "customer_notified", 1)) ||
	    (rc = bs__wire_int(&n, NULL, f, "ext_level", 1, 2, 1)) ||
	    (rc = bs__wire_uuid(&s, f, "activity_id", 1)))
		return rc;
	return BS_OK;
}

static int check_append(const cJSON *f)
{
	const char *s;
	int i, rc;
	int64_t n;
	enum bs__status st;

	if ((rc = bs__wire_enum(&i, f, "kind", kinds, 0)) ||
	    (rc = bs__wire_enum(&i, f, "visibility", visibilities, 1)) ||
	    (rc = bs__wire_str(&s, f, "body", BS__WIRE_TEXT_MAX, 1)) ||
	    (rc = bs__wire_str(&s, f, "status", 32, 1)) ||
	    (rc = bs__wire_str(&s, f, "attachment_hash", 64, 1)) ||
	    (rc = bs__wire_str(&s, f, "attachment_name", 400, 1)) ||
	    (rc = bs__wire_int(&n, NULL, f, "attachment_size", 0,
			       (int64_t)1 << 40, 1)) ||
	    (rc = bs__wire_str(&s, f, "attachment_mime", 128, 1)))
		return rc;
	if (bs__wire_str(&s, f, "status", 32, 1) == BS_OK && s != NULL &&
	    bs__status_parse(&st, s) != BS_OK)
		return bs__error(BS_EINVAL, "field 'status' must be a ticket "
				 "state");
	return BS_OK;
}

/* Check one op; BS_EINVAL with a message naming the field. */
/*
 * A ticket/create may carry "customer": the full contact a branch took
 * from a walk-in customer, {"id", "name", "phone"}, each optional.  It is
 * kept apart from "fields": head office stores it for the complaint
 * system, and devices get only the masked customer.
 */
static int check_customer(const cJSON **out, const cJSON *j)
{
	const cJSON *c = NULL;
	const char *s;
	int rc;

	*out = NULL;
	if ((rc = bs__wire_object(&c, j, "customer", 1)) != BS_OK || c == NULL)
		return rc;
	if ((rc = bs__wire_code(&s, c, "id", 1)) ||
	    (rc = bs__wire_str(&s, c, "name", 200, 1)) ||
	    (rc = bs__wire_str(&s, c, "phone", 32, 1)))
		return rc;
	*out = c;
	return BS_OK;
}

static int check_op(struct op *o, const cJSON *j,
		    const struct bs_hub_device *dev)
{
	size_t dl = strlen(dev->id);
	const char *op_name;
	int ent, rc;
	int64_t bv;
	int present;

	memset(o, 0, sizeof(*o));
	o->j = j;
	if (!cJSON_IsObject(j))
		return bs__error(BS_EINVAL, "an operation must be an object");
	if ((rc = bs__wire_str(&o->op_id, j, "op_id", 100, 0)) != BS_OK)
		return rc;
	if (strncmp(o->op_id, dev->id, dl) != 0 || o->op_id[dl] != ':' ||
	    o->op_id[dl + 1] == '\0' ||
	    strspn(o->op_id + dl + 1, "0123456789") !=
		    strlen(o->op_id + dl + 1) ||
	    strlen(o->op_id + dl + 1) > 18 || o->op_id[dl + 1] == '0')
		return bs__error(BS_EINVAL, "op_id must be this device's id, "
				 "':' and its outbox sequence number");
	if ((rc = bs__wire_enum(&ent, j, "entity", entities, 0)) ||
	    (rc = bs__wire_str(&op_name, j, "op", 16, 0)) ||
	    (rc = bs__wire_uuid(&o->entity_id, j, "entity_id", 0)) ||
	    (rc = bs__wire_uuid(&o->ticket_id, j, "ticket_id", ent == 0)) ||
	    (rc = bs__wire_hlc(&o->hlc, j, "hlc")) ||
	    (rc = bs__wire_int(&bv, &present, j, "base_version", 0,
			       INT64_MAX / 2, 1)) ||
	    (rc = bs__wire_code(&o->author, j, "author", 0)) ||
	    (rc = bs__wire_int(&o->device_ms, NULL, j, "device_time_ms", 0,
			       BS__HLC_MAX_MS, 0)) ||
	    (rc = bs__wire_object(&o->fields, j, "fields", 0)))
		return rc;
	o->base_version = present ? bv : -1;
	bs__hlc_format(o->hlc_text, o->hlc);
	if (ent == 0) {
		if (o->ticket_id == NULL)
			o->ticket_id = o->entity_id;
		if (strcmp(o->ticket_id, o->entity_id) != 0)
			return bs__error(BS_EINVAL, "a ticket op's ticket_id "
					 "is its entity_id");
		if (strcmp(op_name, "create") == 0) {
			o->kind = OP_CREATE;
			if ((rc = check_customer(&o->customer, j)) != BS_OK)
				return rc;
			return check_create(o->fields);
		}
		if (strcmp(op_name, "update") == 0) {
			o->kind = OP_UPDATE;
			return check_update(o->fields, &o->ho_field);
		}
		if (strcmp(op_name, "move") == 0) {
			o->kind = OP_MOVE;
			return check_move(o->fields);
		}
		return bs__error(BS_EINVAL, "op '%.16s' is not create, update "
				 "or move", op_name);
	}
	if (strcmp(op_name, "append") != 0)
		return bs__error(BS_EINVAL, "an activity op is 'append'");
	o->kind = OP_APPEND;
	return check_append(o->fields);
}

/* --- pass 2: applying ----------------------------------------------- */

/* The answer under construction. */
struct answer {
	cJSON *doc;
	const char *result; /* "applied", "merged", "rejected" */
	int oom;
};

static void ans_str(struct answer *a, const char *k, const char *v)
{
	if (!a->oom && bs__json_put_str(a->doc, k, v) != BS_OK)
		a->oom = 1;
}

static void ans_int(struct answer *a, const char *k, int64_t v)
{
	if (!a->oom && bs__json_put_int(a->doc, k, v) != BS_OK)
		a->oom = 1;
}

/* Reject: reason from rc, message from the last error. */
static int reject(struct answer *a, int rc)
{
	a->result = "rejected";
	ans_str(a, "reason", bs_error_reason(rc));
	ans_str(a, "message", bs_last_error());
	return BS_OK;
}

/* Ticket columns a change needs, read at the start of an op. */
struct tk {
	int found;
	char status[32];
	char *branch, *assignee;
	int64_t version;
	struct bs__sla_ticket sla;
	const struct bs__sla_profile *prof;
};

static void tk_free(struct tk *t)
{
	bs__free(t->branch);
	bs__free(t->assignee);
}

static int tk_load(bs_hub_conn *c, const char *id, struct tk *t,
		   int64_t now_ms)
{
	struct bs_hub_res *r = NULL;
	enum bs__priority prio;
	int rc;

	memset(t, 0, sizeof(*t));
	rc = bs__hub_q(c, &r, NULL, "SELECT status, branch, assignee, "
		       "version, sla_profile, priority, t0_ms, "
		       "extension_level, paused_ms_total, paused_since_ms, "
		       "first_response_ms, closed_ms FROM ticket WHERE id = $1",
		       "t", id);
	if (rc != BS_OK)
		return rc;
	if (r->nrows == 1) {
		t->found = 1;
		snprintf(t->status, sizeof(t->status), "%s",
			 bs__hub_text(r, 0, 0));
		if (bs__hub_text(r, 0, 1) != NULL)
			t->branch = bs__strdup(bs__hub_text(r, 0, 1));
		if (bs__hub_text(r, 0, 2) != NULL)
			t->assignee = bs__strdup(bs__hub_text(r, 0, 2));
		if ((bs__hub_text(r, 0, 1) != NULL && t->branch == NULL) ||
		    (bs__hub_text(r, 0, 2) != NULL && t->assignee == NULL))
			rc = bs__error_code(BS_ENOMEM);
		t->version = bs__hub_int(r, 0, 3, 0);
		t->prof = bs__sla_profile_find(bs__hub_text(r, 0, 4) ?
					       bs__hub_text(r, 0, 4) :
					       "cn2020");
		if (t->prof == NULL)
			t->prof = bs__sla_profile_find("cn2020");
		if (bs__priority_parse(&prio, bs__hub_text(r, 0, 5)) != BS_OK)
			prio = BS__PRIORITY_NORMAL;
		bs__sla_ticket_init(&t->sla, bs__hub_int(r, 0, 6, now_ms),
				    prio);
		t->sla.ext_level = (int)bs__hub_int(r, 0, 7, 0);
		t->sla.paused_ms = bs__hub_int(r, 0, 8, 0);
		t->sla.pause_start_ms = bs__hub_int(r, 0, 9, BS__SLA_NONE);
		t->sla.first_response_at = bs__hub_int(r, 0, 10,
						       BS__SLA_NONE);
		t->sla.stopped_at = bs__hub_int(r, 0, 11, BS__SLA_NONE);
	}
	bs__hub_res_free(r);
	return rc;
}

/* Is the ticket in the device's scope?  BS_OK, or an error recorded. */
static int in_scope(const struct tk *t, const struct bs_hub_device *dev,
		    const char *id)
{
	if (!t->found)
		return bs__error(BS_ENOTFOUND, "the hub has no ticket %s", id);
	if (t->branch == NULL || strcmp(t->branch, dev->branch) != 0 ||
	    (dev->actor != BS__ACTOR_BR_MANAGER &&
	     (t->assignee == NULL || strcmp(t->assignee, dev->staff) != 0)))
		return bs__error(BS_ESCOPE, "ticket %s is not in this "
				 "device's scope (reassigned or another "
				 "branch's)", id);
	return BS_OK;
}

/* An optional time: BS__SLA_NONE is null. */
static int put_opt_ms(cJSON *o, const char *k, int64_t v)
{
	return v == BS__SLA_NONE ? bs__json_put_null(o, k)
				 : bs__json_put_int(o, k, v);
}

static int64_t nul(int64_t v)
{
	return v == BS__SLA_NONE ? -1 : v;
}

/* The time an op's SLA effects count from: its clock's physical time,
 * never later than the hub's receipt. */
static int64_t op_time(const struct op *o, int64_t now_ms)
{
	int64_t t = bs__hlc_ms(o->hlc);

	return t > now_ms ? now_ms : t;
}

static int history(bs_hub_conn *c, const struct op *o,
		   const struct bs_hub_device *dev, int64_t now_ms,
		   const char *action, const cJSON *body)
{
	struct bs_hub_who who;

	who.op_id = o->op_id;
	who.author = o->author;
	who.device_id = dev->id;
	who.device_ms = o->device_ms;
	who.hub_ms = now_ms;
	who.hlc = o->hlc_text;
	return bs__hub_history_add(c, o->ticket_id, action, &who, body);
}

static const char *fstr(const cJSON *f, const char *k)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(f, k);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

static int fbool(const cJSON *f, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, k));
}

/*
 * Store a walk-in's contact: the full values for head office (table
 * contact), and a masked customer row, the only form devices receive.
 * *cust_id is the customer's id: the one the device gave, else one made
 * from the ticket's id.
 */
static int put_contact(bs_hub_conn *c, const struct op *o,
		       const struct bs_hub_device *dev, const char **cust_id,
		       int64_t now_ms)
{
	static char made[BS__WIRE_CODE_MAX + 1];
	const char *id = fstr(o->customer, "id");
	const char *name = fstr(o->customer, "name");
	const char *phone = fstr(o->customer, "phone");
	char name_m[256], phone_m[64];
	int rc;

	if (id == NULL) {
		snprintf(made, sizeof(made), "W-%.32s", o->ticket_id);
		id = made;
	}
	name_m[0] = phone_m[0] = '\0';
	if (name != NULL && bs__mask_name(name_m, sizeof(name_m), name) != BS_OK)
		name_m[0] = '\0';
	if (phone != NULL &&
	    bs__mask_phone(phone_m, sizeof(phone_m), phone) != BS_OK)
		snprintf(phone_m, sizeof(phone_m), "****");
	rc = bs__hub_q(c, NULL, NULL,
		       "INSERT INTO customer (id, name_masked, phone_masked, "
		       "branch, created_ms, updated_ms) VALUES ($1, $2, $3, "
		       "$4, $5, $5) ON CONFLICT (id) DO NOTHING",
		       "tttti", id, name_m, phone != NULL ? phone_m : NULL,
		       dev->branch, now_ms);
	if (rc == BS_OK)
		rc = bs__hub_q(c, NULL, NULL,
			       "INSERT INTO contact (ticket_id, customer_id, "
			       "name, phone, device_id, received_ms) VALUES "
			       "($1, $2, $3, $4, $5, $6)",
			       "ttttti", o->ticket_id, id, name, phone, dev->id,
			       now_ms);
	*cust_id = id;
	return rc;
}

static int apply_create(bs_hub_conn *c, const struct op *o,
			const struct bs_hub_device *dev, int64_t now_ms,
			struct answer *a)
{
	const cJSON *f = o->fields, *it;
	const char *cust_id = NULL;
	struct tk t;
	char ref[96];
	int64_t seq, refn, t0;
	int rc;

	if ((rc = tk_load(c, o->ticket_id, &t, now_ms)) != BS_OK)
		return rc;
	tk_free(&t);
	if (t.found)
		return reject(a, bs__error(BS_EEXISTS, "a ticket %s exists "
				   "already", o->ticket_id));
	if ((rc = bs__hub_next(c, "ref", &refn)) != BS_OK ||
	    (rc = bs__hub_change_seq(c, &seq)) != BS_OK)
		return rc;
	snprintf(ref, sizeof(ref), "W-%s-%06lld", dev->branch,
		 (long long)refn);
	t0 = (int64_t)cJSON_GetObjectItemCaseSensitive(f, "t0_ms")
		     ->valuedouble;
	if (o->customer != NULL &&
	    (rc = put_contact(c, o, dev, &cust_id, now_ms)) != BS_OK)
		return rc;
	rc = bs__hub_q(c, NULL, NULL,
		"INSERT INTO ticket (id, ref, customer_id, channel, "
		"category_code, risk_class, priority, status, subject, "
		"description, transcript, branch, assignee, sla_profile, "
		"t0_ms, created_ms, updated_ms, version, seq, scope_seq) "
		"VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, 'normal'), "
		"'received', $8, $9, $10, $11, $12, 'cn2020', $13, $14, $14, "
		"1, $15, $15)", "ttttttttttttiii", o->ticket_id, ref,
		cust_id != NULL ? cust_id : fstr(f, "customer_id"),
		fstr(f, "channel"), fstr(f, "category"), fstr(f, "risk_class"),
		fstr(f, "priority"), fstr(f, "subject"),
		fstr(f, "description"), fstr(f, "transcript"), dev->branch,
		dev->staff, t0, now_ms, seq);
	if (rc != BS_OK)
		return rc;
	for (it = f->child; it != NULL; it = it->next) {
		rc = bs__hub_q(c, NULL, NULL, "INSERT INTO ticket_clock "
			       "(ticket_id, field, hlc, node) VALUES ($1, $2, "
			       "$3, $4)", "tttt", o->ticket_id, it->string,
			       o->hlc_text, dev->id);
		if (rc != BS_OK)
			return rc;
	}
	if ((rc = history(c, o, dev, now_ms, "ticket.create", f)) != BS_OK ||
	    (rc = bs__hub_ticket_touch(c, o->ticket_id, seq, NULL, NULL, 1,
				       now_ms)) != BS_OK)
		return rc;
	a->result = "applied";
	ans_str(a, "ref", ref);
	ans_int(a, "version", 1);
	ans_str(a, "status", "received");
	return BS_OK;
}

static int apply_update(bs_hub_conn *c, const struct op *o,
			const struct bs_hub_device *dev, int64_t now_ms,
			struct answer *a)
{
	struct bs_hub_res *r = NULL, *cur = NULL;
	const cJSON *it;
	cJSON *lost = NULL, *won = NULL;
	struct tk t;
	int64_t seq;
	int rc, merged = 0;

	if ((rc = tk_load(c, o->ticket_id, &t, now_ms)) != BS_OK)
		goto cleanup;
	if ((rc = in_scope(&t, dev, o->ticket_id)) != BS_OK) {
		rc = reject(a, rc);
		goto cleanup;
	}
	if (o->ho_field != NULL) {
		rc = reject(a, bs__error(BS_EREFUSED, "head office owns '%s'; "
					 "a branch cannot change it",
					 o->ho_field));
		goto cleanup;
	}
	lost = cJSON_CreateArray();
	won = cJSON_CreateObject();
	if (lost == NULL || won == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if ((rc = bs__hub_change_seq(c, &seq)) != BS_OK)
		goto cleanup;
	for (it = o->fields->child; it != NULL; it = it->next) {
		const char *k = it->string;
		const char *v = cJSON_IsString(it) ? it->valuestring : NULL;
		char sql[160];
		int newer;
		uint64_t h = 0;

		bs__hub_res_free(r);
		r = NULL;
		rc = bs__hub_q(c, &r, NULL, "SELECT hlc, node FROM "
			       "ticket_clock WHERE ticket_id = $1 AND "
			       "field = $2", "tt", o->ticket_id, k);
		if (rc != BS_OK)
			goto cleanup;
		if (r->nrows == 1 &&
		    bs__hlc_parse(&h, bs__hub_text(r, 0, 0), 16) == BS_OK)
			newer = bs__hlc_cmp(o->hlc, dev->id, h,
					    bs__hub_text(r, 0, 1)) > 0;
		else
			newer = 1;
		snprintf(sql, sizeof(sql), "SELECT %s FROM ticket WHERE "
			 "id = $1", k); /* k is one of free_text */
		bs__hub_res_free(cur);
		cur = NULL;
		if ((rc = bs__hub_q(c, &cur, NULL, sql, "t", o->ticket_id)) !=
		    BS_OK)
			goto cleanup;
		/* Concurrent: the device did not see the value it replaces
		 * (its base version is older than the ticket's). */
		if (!newer || (o->base_version >= 0 &&
			       o->base_version < t.version &&
			       !(bs__hub_text(cur, 0, 0) == NULL && v == NULL) &&
			       (bs__hub_text(cur, 0, 0) == NULL || v == NULL ||
				strcmp(bs__hub_text(cur, 0, 0), v) != 0))) {
			const char *kept = newer ? v : bs__hub_text(cur, 0, 0);
			const char *loser = newer ? bs__hub_text(cur, 0, 0)
						  : v;
			cJSON *e = cJSON_CreateObject();

			merged = 1;
			if (bs__json_push(lost, e) ||
			    bs__json_put_str(e, "field", k) ||
			    bs__json_put_str(e, "kept", newer ? "yours" :
								"theirs")) {
				rc = bs__error_code(BS_ENOMEM);
				goto cleanup;
			}
			rc = bs__hub_q(c, NULL, NULL,
				"INSERT INTO conflict (ticket_id, field, kept, "
				"lost, kept_hlc, lost_hlc, lost_author, "
				"lost_device, op_id, created_ms) VALUES ($1, "
				"$2, $3, $4, $5, $6, $7, $8, $9, $10)",
				"ttttttttti",
				o->ticket_id, k, kept, loser,
				newer ? o->hlc_text : bs__hub_text(r, 0, 0),
				newer ? bs__hub_text(r, 0, 0) : o->hlc_text,
				newer ? NULL : o->author,
				newer ? NULL : dev->id, o->op_id, now_ms);
			if (rc != BS_OK)
				goto cleanup;
		}
		if (!newer)
			continue;
		snprintf(sql, sizeof(sql), "UPDATE ticket SET %s = $2 WHERE "
			 "id = $1", k);
		if ((rc = bs__hub_q(c, NULL, NULL, sql, "tt", o->ticket_id,
				    v)) != BS_OK ||
		    (rc = bs__hub_q(c, NULL, NULL,
			"INSERT INTO ticket_clock (ticket_id, field, hlc, "
			"node) VALUES ($1, $2, $3, $4) ON CONFLICT (ticket_id, "
			"field) DO UPDATE SET hlc = excluded.hlc, node = "
			"excluded.node", "tttt", o->ticket_id, k, o->hlc_text,
			dev->id)) != BS_OK)
			goto cleanup;
		if (bs__json_put_str(won, k, v) != BS_OK) {
			rc = bs__error_code(BS_ENOMEM);
			goto cleanup;
		}
	}
	if ((rc = history(c, o, dev, now_ms, "ticket.update", won)) !=
		    BS_OK ||
	    (rc = bs__hub_ticket_touch(c, o->ticket_id, seq, t.branch,
				       t.assignee, 0, now_ms)) != BS_OK)
		goto cleanup;
	a->result = merged ? "merged" : "applied";
	ans_int(a, "version", t.version + 1);
	ans_str(a, "status", t.status);
	if (merged) {
		ans_str(a, "rule", "last_writer_wins");
		if (!a->oom && bs__json_put(a->doc, "conflicts", lost) != BS_OK)
			a->oom = 1;
		lost = NULL;
	}
cleanup:
	cJSON_Delete(lost);
	cJSON_Delete(won);
	bs__hub_res_free(r);
	bs__hub_res_free(cur);
	tk_free(&t);
	return rc;
}

/* Flags of a merge as names, for answers and history. */
static cJSON *flag_names(unsigned flags)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ BS__MERGE_APPLIED, "applied" },
		{ BS__MERGE_CONVERGED, "converged" },
		{ BS__MERGE_REBASED, "rebased" },
		{ BS__MERGE_SUPERSEDED, "superseded" },
		{ BS__MERGE_REVIEW, "review" },
		{ BS__MERGE_CONFLICT, "conflict" },
	};
	cJSON *a = cJSON_CreateArray();
	size_t i;

	for (i = 0; a != NULL && i < BS__ARRAY_LEN(names); i++)
		if ((flags & names[i].bit) &&
		    bs__json_push(a, cJSON_CreateString(names[i].name)) !=
			    BS_OK) {
			cJSON_Delete(a);
			return NULL;
		}
	return a;
}

static int put_activity(bs_hub_conn *c, const char *id, const struct op *o,
			const struct bs_hub_device *dev, int64_t now_ms,
			int64_t seq, const char *kind, const char *visibility,
			const char *body, const char *from, const char *to,
			const char *detail)
{
	return bs__hub_q(c, NULL, NULL,
		"INSERT INTO activity (id, ticket_id, kind, visibility, body, "
		"author, device_id, device_time_ms, hub_time_ms, hlc, "
		"from_status, to_status, detail, op_id, seq) VALUES ($1, $2, "
		"$3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
		"ON CONFLICT (id) DO NOTHING", "tttttttiittttti", id,
		o->ticket_id, kind, visibility, body, o->author, dev->id,
		o->device_ms, now_ms, o->hlc_text, from, to,
		detail, 		o->op_id, seq);
}

static int apply_move(bs_hub_conn *c, const struct op *o,
		      const struct bs_hub_device *dev, int64_t now_ms,
		      struct answer *a)
{
	const cJSON *f = o->fields;
	struct bs__transition_ctx ctx;
	struct bs__merge_result mr;
	enum bs__status from, to, hub;
	struct tk t;
	cJSON *body = NULL, *flags = NULL;
	char act_id[BS__UUID_TEXT_LEN + 1], detail[160];
	int64_t seq, at, n;
	int rc, present, ext;

	if ((rc = tk_load(c, o->ticket_id, &t, now_ms)) != BS_OK)
		goto cleanup;
	if ((rc = in_scope(&t, dev, o->ticket_id)) != BS_OK) {
		rc = reject(a, rc);
		goto cleanup;
	}
	bs__status_parse(&from, fstr(f, "from"));
	bs__status_parse(&to, fstr(f, "to"));
	if (bs__status_parse(&hub, t.status) != BS_OK) {
		rc = bs__error(BS_EDAMAGED, "ticket %s has a bad status",
			       o->ticket_id);
		goto cleanup;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.has_reason = fstr(f, "reason") != NULL &&
			 fstr(f, "reason")[0] != '\0';
	ctx.has_evidence = fbool(f, "evidence");
	ctx.customer_notified = fbool(f, "customer_notified");
	ctx.ext_granted = t.sla.ext_level;
	bs__wire_int(&n, &present, f, "ext_level", 1, 2, 1);
	ctx.ext_level = present ? (int)n : t.sla.ext_level + 1;
	ctx.ext_max = t.prof->max_ext;
	rc = bs__state_merge(&mr, from, to, hub, dev->actor, 0, &ctx);
	if (rc != BS_OK) {
		rc = reject(a, rc == BS_EREFUSED ? rc : BS_EINVAL);
		goto cleanup;
	}
	if ((rc = bs__hub_change_seq(c, &seq)) != BS_OK)
		goto cleanup;
	if (mr.flags & BS__MERGE_APPLIED) {
		at = op_time(o, now_ms);
		ext = (mr.effects & BS__EFF_EXT_DECIDE) ? ctx.ext_level :
							  t.sla.ext_level;
		if (bs__sla_apply(&t.sla, t.prof, mr.effects, at, ext) !=
		    BS_OK) {
			rc = reject(a, BS_ECONFLICT);
			goto cleanup;
		}
		rc = bs__hub_q(c, NULL, NULL,
			"UPDATE ticket SET status = $2, extension_level = $3, "
			"paused_ms_total = $4, paused_since_ms = $5, "
			"first_response_ms = $6, closed_ms = $7, review = "
			"CASE WHEN $8 = 1 THEN 1 ELSE review END WHERE id = $1",
			"ttiinnni",
			o->ticket_id, bs__status_name(mr.status),
			(int64_t)t.sla.ext_level, t.sla.paused_ms,
			nul(t.sla.pause_start_ms),
			nul(t.sla.first_response_at), nul(t.sla.stopped_at),
			(int64_t)((mr.flags & BS__MERGE_REVIEW) != 0));
	} else {
		rc = bs__hub_q(c, NULL, NULL, "UPDATE ticket SET review = "
			       "CASE WHEN $2 = 1 THEN 1 ELSE review END "
			       "WHERE id = $1", "ti", o->ticket_id,
			       (int64_t)((mr.flags & BS__MERGE_REVIEW) != 0));
	}
	if (rc != BS_OK)
		goto cleanup;
	if (fstr(f, "activity_id") != NULL)
		snprintf(act_id, sizeof(act_id), "%s", fstr(f, "activity_id"));
	else if ((rc = bs__hub_new_id(act_id, now_ms)) != BS_OK)
		goto cleanup;
	snprintf(detail, sizeof(detail), "{\"rule\":\"%s\",\"superseded\":%s}",
		 mr.rule, (mr.flags & BS__MERGE_SUPERSEDED) ? "true" :
							      "false");
	if ((rc = put_activity(c, act_id, o, dev, now_ms, seq,
			       "status_change", "internal",
			       fstr(f, "reason"), bs__status_name(from),
			       bs__status_name(to), detail)) != BS_OK)
		goto cleanup;
	body = cJSON_CreateObject();
	flags = flag_names(mr.flags);
	if (body == NULL || flags == NULL ||
	    bs__json_put_str(body, "from", bs__status_name(from)) ||
	    bs__json_put_str(body, "to", bs__status_name(to)) ||
	    bs__json_put_str(body, "hub_before", t.status) ||
	    bs__json_put_str(body, "status", bs__status_name(mr.status)) ||
	    bs__json_put_str(body, "rule", mr.rule) ||
	    bs__json_put_str(body, "reason", fstr(f, "reason")) ||
	    bs__json_put_str(body, "activity", act_id) ||
	    bs__json_put(body, "flags", cJSON_Duplicate(flags, 1))) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if ((rc = history(c, o, dev, now_ms, "ticket.move", body)) != BS_OK ||
	    (rc = bs__hub_ticket_touch(c, o->ticket_id, seq, t.branch,
				       t.assignee, 0, now_ms)) != BS_OK)
		goto cleanup;
	a->result = mr.flags == BS__MERGE_APPLIED ? "applied" : "merged";
	ans_str(a, "status", bs__status_name(mr.status));
	ans_int(a, "version", t.version + 1);
	ans_str(a, "rule", mr.rule);
	if (!a->oom && bs__json_put(a->doc, "flags", flags) != BS_OK)
		a->oom = 1;
	flags = NULL;
cleanup:
	cJSON_Delete(body);
	cJSON_Delete(flags);
	tk_free(&t);
	return rc;
}

static int apply_append(bs_hub_conn *c, const struct op *o,
			const struct bs_hub_device *dev, int64_t now_ms,
			struct answer *a)
{
	const cJSON *f = o->fields;
	struct bs__merge_result mr;
	struct bs_hub_res *r = NULL;
	enum bs__status hub, base;
	const char *vis = fstr(f, "visibility"), *kind = fstr(f, "kind");
	struct tk t;
	cJSON *flags = NULL;
	int64_t seq;
	unsigned act;
	int rc;

	if ((rc = tk_load(c, o->ticket_id, &t, now_ms)) != BS_OK)
		goto cleanup;
	if ((rc = in_scope(&t, dev, o->ticket_id)) != BS_OK) {
		rc = reject(a, rc);
		goto cleanup;
	}
	rc = bs__hub_q(c, &r, NULL, "SELECT ticket_id FROM activity WHERE "
		       "id = $1", "t", o->entity_id);
	if (rc != BS_OK)
		goto cleanup;
	if (r->nrows == 1) {
		/* A set: the same entry twice is one entry. */
		if (strcmp(bs__hub_text(r, 0, 0), o->ticket_id) != 0) {
			rc = reject(a, bs__error(BS_ECONFLICT, "activity %s "
					 "belongs to another ticket",
					 o->entity_id));
			goto cleanup;
		}
		a->result = "applied";
		ans_str(a, "status", t.status);
		ans_int(a, "version", t.version);
		goto cleanup;
	}
	if (vis == NULL)
		vis = strcmp(kind, "customer_reply") == 0 ? "customer" :
							    "internal";
	act = strcmp(vis, "customer") == 0 ||
			      strcmp(kind, "customer_reply") == 0 ?
		      BS__ACT_CUSTOMER :
		      BS__ACT_INTERNAL;
	bs__status_parse(&hub, t.status);
	if (fstr(f, "status") == NULL ||
	    bs__status_parse(&base, fstr(f, "status")) != BS_OK)
		base = hub;
	if ((rc = bs__state_merge(&mr, base, base, hub, dev->actor, act,
				  NULL)) != BS_OK) {
		rc = reject(a, rc);
		goto cleanup;
	}
	if ((rc = bs__hub_change_seq(c, &seq)) != BS_OK ||
	    (rc = put_activity(c, o->entity_id, o, dev, now_ms, seq, kind,
			       vis, fstr(f, "body"), NULL, NULL, NULL)) !=
		    BS_OK)
		goto cleanup;
	if ((mr.flags & BS__MERGE_REVIEW) &&
	    (rc = bs__hub_q(c, NULL, NULL, "UPDATE ticket SET review = 1 "
			    "WHERE id = $1", "t", o->ticket_id)) != BS_OK)
		goto cleanup;
	if ((rc = history(c, o, dev, now_ms, "activity.append", f)) !=
		    BS_OK ||
	    (rc = bs__hub_ticket_touch(c, o->ticket_id, seq, t.branch,
				       t.assignee, 0, now_ms)) != BS_OK)
		goto cleanup;
	a->result = "applied";
	ans_str(a, "status", t.status);
	ans_int(a, "version", t.version + 1);
	if (mr.flags & BS__MERGE_REVIEW) {
		ans_str(a, "rule", mr.rule);
		flags = flag_names(BS__MERGE_REVIEW);
		if (!a->oom && bs__json_put(a->doc, "flags", flags) != BS_OK)
			a->oom = 1;
		flags = NULL;
	}
cleanup:
	bs__hub_res_free(r);
	tk_free(&t);
	return rc;
}

/*
 * A rejected op's answer carries the ticket as the hub holds it, status
 * and SLA fields (protocol.md, "Push"), when it is in the device's
 * scope: the device showed the op's effects at once and takes them back
 * to these.  A ticket out of scope or unknown carries nothing.
 */
static int answer_state(bs_hub_conn *c, const struct op *o,
			const struct bs_hub_device *dev, int64_t now_ms,
			struct answer *a)
{
	const struct bs__sla_ticket *x;
	struct tk t;
	cJSON *j;
	int rc;

	if ((rc = tk_load(c, o->ticket_id, &t, now_ms)) != BS_OK)
		goto done;
	if (in_scope(&t, dev, o->ticket_id) != BS_OK) {
		bs__error_clear();
		goto done;
	}
	x = &t.sla;
	j = cJSON_CreateObject();
	if (bs__json_put(a->doc, "ticket", j) != BS_OK ||
	    bs__json_put_str(j, "status", t.status) ||
	    bs__json_put_int(j, "version", t.version) ||
	    put_opt_ms(j, "first_response_ms", x->first_response_at) ||
	    bs__json_put_int(j, "paused_ms_total", x->paused_ms) ||
	    put_opt_ms(j, "paused_since_ms", x->pause_start_ms) ||
	    bs__json_put_int(j, "extension_level", x->ext_level) ||
	    put_opt_ms(j, "closed_ms", x->stopped_at))
		a->oom = 1;
done:
	tk_free(&t);
	return rc;
}

/* Apply one checked op in its own transaction; *out is its answer. */
static int apply_one(struct bs_hub *h, bs_hub_conn *c, const struct op *o,
		     const struct bs_hub_device *dev, int64_t now_ms,
		     cJSON **out)
{
	struct bs_hub_res *r = NULL;
	struct answer a = { NULL, "rejected", 0 };
	char *text = NULL;
	int rc;

	*out = NULL;
	if ((rc = bs__hub_savepoint(c)) != BS_OK)
		return rc;
	rc = bs__hub_q(c, &r, NULL, "SELECT answer FROM op WHERE op_id = $1",
		       "t", o->op_id);
	if (rc != BS_OK)
		goto cleanup;
	if (r->nrows == 1) {
		/* A replay: the answer given the first time, nothing else. */
		*out = cJSON_Parse(bs__hub_text(r, 0, 0));
		rc = *out != NULL ? BS_OK : bs__error(BS_EDAMAGED, "stored "
						      "answer is damaged");
		goto cleanup;
	}
	a.doc = cJSON_CreateObject();
	if (a.doc == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	ans_str(&a, "op_id", o->op_id);
	ans_str(&a, "ticket_id", o->ticket_id);
	if (bs__hlc_check_ahead(o->hlc, now_ms, h->max_ahead_ms) != BS_OK) {
		reject(&a, BS_EINVAL);
	} else {
		bs__hub_witness(o->hlc, now_ms);
		switch (o->kind) {
		case OP_CREATE:
			rc = apply_create(c, o, dev, now_ms, &a);
			break;
		case OP_UPDATE:
			rc = apply_update(c, o, dev, now_ms, &a);
			break;
		case OP_MOVE:
			rc = apply_move(c, o, dev, now_ms, &a);
			break;
		case OP_APPEND:
			rc = apply_append(c, o, dev, now_ms, &a);
			break;
		}
		if (rc != BS_OK)
			goto cleanup;
	}
	/* A rejection changes nothing but is remembered: its replay gets
	 * the same answer.  Undo whatever the op began before refusing. */
	if (strcmp(a.result, "rejected") == 0) {
		if ((rc = bs__hub_undo(c)) != BS_OK ||
		    (rc = bs__hub_savepoint(c)) != BS_OK ||
		    (rc = answer_state(c, o, dev, now_ms, &a)) != BS_OK)
			goto cleanup;
	}
	ans_str(&a, "result", a.result);
	ans_int(&a, "hub_time_ms", now_ms);
	if (a.oom || (rc = bs__json_print(&text, a.doc)) != BS_OK) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if ((rc = bs__hub_q(c, NULL, NULL, "INSERT INTO op (op_id, device_id, "
			    "ticket_id, result, answer, received_ms) VALUES "
			    "($1, $2, $3, $4, $5, $6)", "ttttti", o->op_id,
			    dev->id, o->ticket_id, a.result, text,
			    now_ms)) != BS_OK)
		goto cleanup;
	*out = a.doc;
	a.doc = NULL;
cleanup:
	if (rc == BS_OK)
		rc = bs__hub_release(c);
	else
		bs__hub_undo(c);
	if (rc != BS_OK) {
		cJSON_Delete(*out);
		*out = NULL;
	}
	bs__hub_res_free(r);
	cJSON_Delete(a.doc);
	bs__free(text);
	return rc;
}

/* A push's ops, applied by whichever thread leads its group commit. */
struct push_job {
	struct bs_hub *h;
	const struct op *ops;
	int n;
	const struct bs_hub_device *dev;
	int64_t now_ms;
	cJSON *results;
	int failed; /* the op that could not be applied, or -1 */
	int rc;     /* and why */
	char msg[400];
};

static int push_apply(bs_hub_conn *c, void *arg)
{
	struct push_job *pj = arg;
	cJSON *ans;
	int i, rc;

	for (i = 0; i < pj->n; i++) {
		rc = apply_one(pj->h, c, &pj->ops[i], pj->dev, pj->now_ms,
			       &ans);
		if (rc == BS_OK && bs__json_push(pj->results, ans) != BS_OK)
			rc = bs__error_code(BS_ENOMEM);
		if (rc != BS_OK) {
			/* What came before is kept: not a failure of the
			 * job, which would undo it. */
			pj->failed = i;
			pj->rc = rc;
			snprintf(pj->msg, sizeof(pj->msg), "%s",
				 bs_last_error());
			return BS_OK;
		}
	}
	return BS_OK;
}

/* A 200 answer to a device: the hub's clock and its offline policy. */
static int ok_doc(const struct bs_hub *h, struct bs_hub_resp *rs,
		  int64_t now_ms)
{
	rs->status = 200;
	rs->doc = bs__wire_doc(BS__WIRE_VERSION);
	if (rs->doc == NULL ||
	    bs__json_put_int(rs->doc, "hub_time_ms", now_ms) != BS_OK ||
	    bs__json_put_int(rs->doc, "max_offline_ms", h->max_offline_ms) !=
		    BS_OK)
		return bs__error_code(BS_ENOMEM);
	return BS_OK;
}

int bs__hub_hello(struct bs_hub *h, const struct bs_hub_req *rq,
		  const struct bs_hub_device *dev, struct bs_hub_resp *rs)
{
	int rc;

	if ((rc = ok_doc(h, rs, rq->now_ms)) != BS_OK ||
	    (rc = bs__json_put_str(rs->doc, "device_id", dev->id)) ||
	    (rc = bs__json_put_str(rs->doc, "branch", dev->branch)) ||
	    (rc = bs__json_put_str(rs->doc, "staff", dev->staff)) ||
	    (rc = bs__json_put_str(rs->doc, "role", dev->role)) ||
	    (rc = bs__json_put_int(rs->doc, "protocol", BS__WIRE_VERSION)) ||
	    (rc = bs__json_put_int(rs->doc, "protocol_min",
				   BS__WIRE_VERSION_MIN)))
		return bs__hub_error(rs, BS__WIRE_VERSION, rc, NULL), rc;
	return BS_OK;
}

int bs__hub_push(struct bs_hub *h, const struct bs_hub_req *rq,
		 const struct bs_hub_device *dev, struct bs_hub_resp *rs)
{
	struct bs__wire_fault f = { 0, NULL };
	struct op *ops = NULL;
	const cJSON *arr, *j;
	cJSON *doc = NULL, *results = NULL;
	struct push_job pj;
	int rc, n, i = 0;

	if ((rc = bs__wire_decode(&doc, NULL, rq->body, rq->body_len,
				  rq->encoding, &f)) != BS_OK) {
		bs__hub_error(rs, BS__WIRE_VERSION, rc, &f);
		return rc;
	}
	if ((rc = bs__wire_array(&arr, doc, "ops", BS__WIRE_MAX_BATCH, 0)) !=
	    BS_OK) {
		f.status = cJSON_IsArray(cJSON_GetObjectItem(doc, "ops")) ?
				   413 : 400;
		f.cause = f.status == 413 ? "too_large" : "field";
		bs__hub_error(rs, BS__WIRE_VERSION, rc, &f);
		goto cleanup;
	}
	n = cJSON_GetArraySize(arr);
	ops = bs__calloc((size_t)n + 1, sizeof(*ops));
	results = cJSON_CreateArray();
	if (ops == NULL || results == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		bs__hub_error(rs, BS__WIRE_VERSION, rc, NULL);
		goto cleanup;
	}
	/* Pass 1: every op well formed, or nothing is applied. */
	cJSON_ArrayForEach(j, arr) {
		if ((rc = check_op(&ops[i], j, dev)) != BS_OK) {
			char msg[400];

			snprintf(msg, sizeof(msg), "%s", bs_last_error());
			bs__error(rc, "op %d: %s; nothing was applied", i,
				  msg);
			f.status = 400;
			f.cause = "field";
			bs__hub_error(rs, BS__WIRE_VERSION, rc, &f);
			if (rs->doc != NULL)
				bs__json_put_int(rs->doc, "index", i);
			goto cleanup;
		}
		i++;
	}
	/*
	 * Pass 2: each op all or nothing (a savepoint), in order, the batch
	 * in one transaction that other pushes may share (group commit).
	 * When an op cannot be applied, the ops before it are kept; a
	 * retry of the batch replays them and resumes there.
	 */
	pj.h = h;
	pj.ops = ops;
	pj.n = n;
	pj.dev = dev;
	pj.now_ms = rq->now_ms;
	pj.results = results;
	pj.failed = -1;
	if ((rc = bs__hub_write(h->store, push_apply, &pj)) == BS_OK &&
	    pj.failed >= 0) {
		rc = pj.rc;
		bs__error(rc, "op %d (%s) could not be applied: %s; retry the "
			  "batch", pj.failed, ops[pj.failed].op_id, pj.msg);
	}
	if (rc != BS_OK) {
		bs__hub_error(rs, BS__WIRE_VERSION, rc, NULL);
		goto cleanup;
	}
	if ((rc = ok_doc(h, rs, rq->now_ms)) != BS_OK ||
	    (rc = bs__json_put(rs->doc, "results", results)) != BS_OK) {
		results = NULL;
		bs__hub_error(rs, BS__WIRE_VERSION, rc, NULL);
		goto cleanup;
	}
	results = NULL;
cleanup:
	cJSON_Delete(results);
	cJSON_Delete(doc);
	bs__free(ops);
	return rc;
}

/* --- pull ----------------------------------------------------------- */

static const char *const ticket_cols[] = {
	"id", "ref", "external_ref", "customer_id", "channel",
	"category_code", "risk_class", "priority", "status", "subject",
	"description", "transcript", "outcome", "branch", "assignee",
	"merged_into", "sla_profile", "t0_ms", "created_ms", "updated_ms",
	"first_response_ms", "paused_ms_total", "paused_since_ms",
	"extension_level", "closed_ms", "review", "version", "scope_seq",
	NULL
};
/* Which of ticket_cols are integers (from t0_ms on). */
#define TICKET_FIRST_INT 17

/*
 * A pull page is written as text as its rows are read (json.h, struct
 * bs__jw), never built as a cJSON tree: building, printing and freeing
 * the tree of a page cost the hub more than reading its rows.
 */

/* Row i of r, from column off on, as members named cols of an object
 * already opened (*first: no member yet); ints from cols[first_int] on,
 * the last column left out if skip_last. */
static void put_row(struct bs__jw *w, int *first, const struct bs_hub_res *r,
		    int i, int off, const char *const *cols, int first_int,
		    int skip_last)
{
	int k;

	for (k = 0; cols[k] != NULL; k++) {
		const char *v = bs__hub_text(r, i, off + k);

		if (skip_last && cols[k + 1] == NULL)
			break;
		bs__jw_key(w, first, cols[k]);
		if (v != NULL && k >= first_int)
			bs__jw_int(w, bs__hub_int(r, i, off + k, 0));
		else
			bs__jw_str(w, v);
	}
}

static const char *const activity_cols[] = {
	"id", "kind", "visibility", "body", "author", "device_id", "hlc",
	"from_status", "to_status", "detail", "device_time_ms",
	"hub_time_ms", NULL
};

static const char *const customer_cols[] = {
	"id", "name_masked", "phone_masked", "id_number_masked", "segment",
	"branch", NULL
};

static const char *const archive_cols[] = {
	"id", "ticket_id", "ticket_ref", "channel", "category_code",
	"summary", "outcome", "branch", "received_ms", "closed_ms", NULL
};

/* Member key of an object already opened: the first row of r, from
 * column off on, as an object put_row() fills. */
static void put_object(struct bs__jw *w, int *first, const char *key,
		       const struct bs_hub_res *r, int off,
		       const char *const *cols, int first_int, int skip_last)
{
	int ofirst = 1;

	bs__jw_key(w, first, key);
	bs__jw_raw(w, "{", 1);
	put_row(w, &ofirst, r, 0, off, cols, first_int, skip_last);
	bs__jw_raw(w, "}", 1);
}

/* The rows of sql as an array of objects with members cols. */
static int rows_into(bs_hub_conn *c, struct bs__jw *w, const char *const *cols,
		     int first_int, const char *sql, const char *types,
		     const char *a1, int64_t a2)
{
	struct bs_hub_res *r = NULL;
	int i, rc, first;

	rc = bs__hub_q(c, &r, NULL, sql, types, a1, a2);
	bs__jw_raw(w, "[", 1);
	for (i = 0; rc == BS_OK && i < r->nrows; i++) {
		bs__jw_raw(w, i > 0 ? ",{" : "{", i > 0 ? 2 : 1);
		first = 1;
		put_row(w, &first, r, i, 0, cols, first_int, 0);
		bs__jw_raw(w, "}", 1);
	}
	bs__jw_raw(w, "]", 1);
	bs__hub_res_free(r);
	return rc;
}

/* The change row for ticket id, as of cursor, from its "ticket" member
 * on (the object is open, with seq and kind in it).  The ticket and its
 * customer come in one row: columns from CUSTOMER_COL on are the
 * customer's (NULL without one). */
#define CUSTOMER_COL 28

static int ticket_change(bs_hub_conn *c, struct bs__jw *w, const char *id,
			 int64_t cursor)
{
	struct bs_hub_res *r = NULL;
	const char *cid;
	int64_t scope_seq;
	int rc, whole, first = 0;

	rc = bs__hub_q(c, &r, NULL, "SELECT t.id, t.ref, t.external_ref, "
		"t.customer_id, t.channel, t.category_code, t.risk_class, "
		"t.priority, t.status, t.subject, t.description, t.transcript, "
		"t.outcome, t.branch, t.assignee, t.merged_into, "
		"t.sla_profile, t.t0_ms, t.created_ms, t.updated_ms, "
		"t.first_response_ms, t.paused_ms_total, t.paused_since_ms, "
		"t.extension_level, t.closed_ms, t.review, t.version, "
		"t.scope_seq, cu.id, cu.name_masked, cu.phone_masked, "
		"cu.id_number_masked, cu.segment, cu.branch, cu.seq "
		"FROM ticket t LEFT JOIN customer cu ON cu.id = t.customer_id "
		"WHERE t.id = $1", "t", id);
	if (rc != BS_OK)
		return rc;
	if (r->nrows != 1) {
		rc = bs__error(BS_EDAMAGED, "ticket %s vanished", id);
		goto cleanup;
	}
	scope_seq = bs__hub_int(r, 0, 27, 0);
	whole = scope_seq > cursor;
	put_object(w, &first, "ticket", r, 0, ticket_cols, TICKET_FIRST_INT,
		   1);
	bs__jw_key(w, &first, "activities");
	rc = rows_into(c, w, activity_cols, 10,
		"SELECT id, kind, visibility, body, author, device_id, hlc, "
		"from_status, to_status, detail, device_time_ms, hub_time_ms "
		"FROM activity WHERE ticket_id = $1 AND seq > $2 ORDER BY "
		"seq, hlc, id", "ti", id, whole ? -1 : cursor);
	if (rc != BS_OK)
		goto cleanup;
	bs__jw_key(w, &first, "whole");
	bs__jw_bool(w, whole);
	/* The customer, if the ticket has one and the device lacks it. */
	cid = bs__hub_text(r, 0, CUSTOMER_COL);
	if (cid == NULL ||
	    !(whole || bs__hub_int(r, 0, CUSTOMER_COL + 6, 0) > cursor))
		goto cleanup;
	put_object(w, &first, "customer", r, CUSTOMER_COL, customer_cols, 99,
		   0);
	bs__jw_key(w, &first, "archive");
	rc = rows_into(c, w, archive_cols, 8,
		"SELECT id, ticket_id, ticket_ref, channel, "
		"category_code, summary, outcome, branch, received_ms, "
		"closed_ms FROM customer_archive WHERE customer_id = $1 "
		"AND $2 = $2 ORDER BY received_ms, id", "ti", cid, 0);
cleanup:
	bs__hub_res_free(r);
	return rc;
}

/* A catalogue line's stored document, as its "item" member. */
static int catalogue_item(bs_hub_conn *c, struct bs__jw *w, const char *kind,
			  const char *id)
{
	struct bs_hub_res *r = NULL;
	cJSON *doc = NULL;
	char *text = NULL;
	int rc, first = 0;

	rc = bs__hub_q(c, &r, NULL, "SELECT doc FROM catalogue WHERE kind = "
		       "$1 AND id = $2", "tt", kind, id);
	if (rc != BS_OK)
		return rc;
	/* Stored by the import as valid JSON; parsed again all the same,
	 * so that a damaged row cannot break the page. */
	if (r->nrows != 1 ||
	    (doc = cJSON_Parse(bs__hub_text(r, 0, 0))) == NULL) {
		rc = bs__error(BS_EDAMAGED, "catalogue line %s/%s is not a "
			       "JSON document", kind, id);
	} else if ((rc = bs__json_print(&text, doc)) == BS_OK) {
		bs__jw_key(w, &first, "item");
		bs__jw_raw(w, text, strlen(text));
	}
	bs__free(text);
	cJSON_Delete(doc);
	bs__hub_res_free(r);
	return rc;
}

int bs__hub_pull(struct bs_hub *h, const struct bs_hub_req *rq,
		 const struct bs_hub_device *dev, struct bs_hub_resp *rs)
{
	struct bs__wire_fault f = { 400, "field" };
	struct bs_hub_res *r = NULL;
	struct bs__jw w = { NULL, 0, 0, 0 };
	bs_hub_conn *c = NULL;
	char buf[24], *end;
	int64_t cursor = 0, limit = BS__WIRE_DEFAULT_PAGE, last;
	size_t start;
	int rc, i, more, first, mgr = dev->actor == BS__ACTOR_BR_MANAGER;

	rc = bs__hub_query_param(rq->query, "cursor", buf, sizeof(buf));
	if (rc == BS_OK) {
		cursor = strtoll(buf, &end, 10);
		if (*end != '\0' || buf[0] == '\0' || buf[0] == '-' ||
		    cursor < 0 || strlen(buf) > 16)
			rc = BS_EINVAL;
	}
	if (rc != BS_OK && rc != BS_ENOTFOUND)
		return bs__hub_error(rs, BS__WIRE_VERSION, bs__error(BS_EINVAL,
			"cursor must be a change number of 0 or more"), &f),
		       BS_EINVAL;
	rc = bs__hub_query_param(rq->query, "limit", buf, sizeof(buf));
	if (rc == BS_OK) {
		limit = strtoll(buf, &end, 10);
		if (*end != '\0' || buf[0] == '\0' || limit < 1 ||
		    limit > BS__WIRE_MAX_PAGE)
			rc = BS_EINVAL;
	}
	if (rc != BS_OK && rc != BS_ENOTFOUND)
		return bs__hub_error(rs, BS__WIRE_VERSION, bs__error(BS_EINVAL,
			"limit must be from 1 to %d", BS__WIRE_MAX_PAGE), &f),
		       BS_EINVAL;
	if ((rc = bs__hub_conn_get(&c, h->store)) != BS_OK ||
	    (rc = bs__hub_begin(c, 0)) != BS_OK)
		goto fail;
	rc = bs__hub_q(c, &r, NULL,
		"SELECT seq, 'ticket', id, '' FROM ticket WHERE seq > $1 AND "
		"branch = $2 AND ($3 = 1 OR assignee = $4) "
		"UNION ALL SELECT seq, 'drop', ticket_id, reason FROM "
		"scope_exit WHERE seq > $1 AND branch = $2 AND assignee = $5 "
		"UNION ALL SELECT seq, 'catalogue', kind, id FROM catalogue "
		"WHERE seq > $1 ORDER BY 1 LIMIT $6", "ititti", cursor, dev->branch, (int64_t)mgr, dev->staff,
		mgr ? "*" : dev->staff, limit + 1);
	if (rc != BS_OK)
		goto fail;
	more = r->nrows > limit;
	first = 1;
	bs__jw_raw(&w, "{", 1);
	bs__jw_key(&w, &first, "v");
	bs__jw_int(&w, BS__WIRE_VERSION);
	bs__jw_key(&w, &first, "hub_time_ms");
	bs__jw_int(&w, rq->now_ms);
	bs__jw_key(&w, &first, "max_offline_ms");
	bs__jw_int(&w, h->max_offline_ms);
	bs__jw_key(&w, &first, "changes");
	bs__jw_raw(&w, "[", 1);
	start = w.len;
	last = cursor;
	for (i = 0; i < r->nrows && i < limit; i++) {
		const char *what = bs__hub_text(r, i, 1);
		int cf = 1;

		/* A page also ends once its changes fill the byte budget,
		 * so that it stays within what a device accepts; it holds
		 * one change at least, so the cursor always moves. */
		if (i > 0 && w.len - start >= BS__WIRE_PAGE_BYTES) {
			more = 1;
			break;
		}
		last = bs__hub_int(r, i, 0, last);
		bs__jw_raw(&w, i > 0 ? ",{" : "{", i > 0 ? 2 : 1);
		bs__jw_key(&w, &cf, "seq");
		bs__jw_int(&w, last);
		bs__jw_key(&w, &cf, "kind");
		bs__jw_str(&w, what);
		if (strcmp(what, "ticket") == 0) {
			rc = ticket_change(c, &w, bs__hub_text(r, i, 2),
					   cursor);
		} else if (strcmp(what, "drop") == 0) {
			bs__jw_key(&w, &cf, "ticket_id");
			bs__jw_str(&w, bs__hub_text(r, i, 2));
			bs__jw_key(&w, &cf, "reason");
			bs__jw_str(&w, bs__hub_text(r, i, 3));
		} else {
			rc = catalogue_item(c, &w, bs__hub_text(r, i, 2),
					    bs__hub_text(r, i, 3));
		}
		if (rc != BS_OK)
			goto fail;
		bs__jw_raw(&w, "}", 1);
	}
	bs__hub_rollback(c);
	bs__jw_raw(&w, "]", 1);
	bs__jw_key(&w, &first, "cursor");
	bs__jw_int(&w, last);
	bs__jw_key(&w, &first, "more");
	bs__jw_bool(&w, more);
	bs__jw_raw(&w, "}", 1);
	if (w.failed) {
		rc = bs__error_code(BS_ENOMEM);
		goto fail;
	}
	rs->status = 200;
	rs->body = w.buf;
	rs->body_len = w.len;
	rs->paged = 1;
	rs->page_cursor = last;
	rs->page_more = more;
	bs__hub_res_free(r);
	bs__hub_conn_put(c);
	return BS_OK;
fail:
	bs__jw_free(&w);
	bs__hub_res_free(r);
	bs__hub_conn_put(c);
	bs__hub_error(rs, BS__WIRE_VERSION, rc, NULL);
	return rc;
}
