/*
 * push.c - the outbox to the hub (protocol.md, "Push").
 *
 * Operations go in seq order, in batches.  Before a batch is sent its
 * rows are marked "sent" (with an attempt count), so that a round killed
 * while waiting knows the hub may have them; they stay in the outbox
 * until the hub's answer to each is stored, and a batch sent again is
 * answered from the hub's memory of the first time, changing nothing.
 *
 * A row's fields are the operation's fields exactly as the wire carries
 * them (schema/outbox.md); translate() adds the envelope and, for a
 * walk-in, the customer's contact from the row's sensitive part,
 * which is erased in the transaction that stores the answer.
 * Operations protocol version 1 has no form for are held: never sent,
 * never dropped, marked with why.
 *
 * An operation the hub refuses makes a conflict with the user's text; a
 * batch the hub refuses because one operation in it is malformed would
 * otherwise block the queue for good, so that one operation is answered
 * locally as refused (and made a conflict) and the rest go again.
 */
#include <stdio.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "agent/core/common.h"
#include "agent/core/hlc.h"
#include "agent/core/json.h"
#include "agent/core/state.h"
#include "agent/core/wire.h"
#include "platform/os.h"
#include "sync_internal.h"

/* translate() for an operation that is not sent. */
#define HELD 1

/* One outbox row of a batch. */
struct row {
	int64_t seq;
	char *op_id, *entity, *entity_id, *ticket_id, *op, *hlc, *author;
	int64_t base_version, device_ms;
	int have_base;
	cJSON *fields;    /* as stored: the wire's fields */
	cJSON *sensitive; /* what only head office may keep, or NULL */
	cJSON *wire;      /* the protocol's operation, or NULL if held */
};

static void row_free(struct row *r)
{
	bs__free(r->op_id);
	bs__free(r->entity);
	bs__free(r->entity_id);
	bs__free(r->ticket_id);
	bs__free(r->op);
	bs__free(r->hlc);
	bs__free(r->author);
	cJSON_Delete(r->fields);
	if (r->sensitive != NULL) {
		/* Full names and phone numbers: not left in freed memory. */
		char *t = cJSON_PrintUnformatted(r->sensitive);

		cJSON_Delete(r->sensitive);
		if (t != NULL) {
			mbedtls_platform_zeroize(t, strlen(t));
			bs__free(t);
		}
	}
	cJSON_Delete(r->wire);
	memset(r, 0, sizeof(*r));
}

static char *col_dup(sqlite3_stmt *s, int i, int *oom)
{
	char *v;

	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return NULL;
	v = bs__strdup((const char *)sqlite3_column_text(s, i));
	if (v == NULL)
		*oom = 1;
	return v;
}

/* Rows after seq `after`, at most max, that are not answered. */
static int load(struct bs__round *r, int64_t after, unsigned max,
		struct row *rows, unsigned *n)
{
	sqlite3_stmt *s = NULL;
	int src, oom = 0, rc = BS_OK;

	*n = 0;
	src = sqlite3_prepare_v2(r->db,
				 "SELECT seq, op_id, entity, entity_id, "
				 "ticket_id, op, fields, hlc, base_version, "
				 "author, device_time_ms, sensitive FROM "
				 "outbox WHERE "
				 "state <> 'answered' AND seq > ?1 ORDER BY "
				 "seq LIMIT ?2", -1, &s, NULL);
	if (src != SQLITE_OK)
		return bs__sync_sqlerr(r->db, src, "read outbox");
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, max);
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		struct row *o = &rows[*n];

		memset(o, 0, sizeof(*o));
		o->seq = sqlite3_column_int64(s, 0);
		o->op_id = col_dup(s, 1, &oom);
		o->entity = col_dup(s, 2, &oom);
		o->entity_id = col_dup(s, 3, &oom);
		o->ticket_id = col_dup(s, 4, &oom);
		o->op = col_dup(s, 5, &oom);
		o->fields = cJSON_Parse((const char *)sqlite3_column_text(s,
									  6));
		o->hlc = col_dup(s, 7, &oom);
		o->have_base = sqlite3_column_type(s, 8) != SQLITE_NULL;
		o->base_version = sqlite3_column_int64(s, 8);
		o->author = col_dup(s, 9, &oom);
		o->device_ms = sqlite3_column_int64(s, 10);
		if (sqlite3_column_type(s, 11) == SQLITE_TEXT &&
		    (o->sensitive = cJSON_Parse((const char *)
				sqlite3_column_text(s, 11))) == NULL)
			oom = 1;
		(*n)++;
		if (oom || o->fields == NULL) {
			rc = oom || bs__json_oom()
				     ? bs__error_code(BS_ENOMEM)
				     : bs__error(BS_EDAMAGED, "outbox "
						 "operation %lld has damaged "
						 "fields", (long long)o->seq);
			break;
		}
	}
	if (rc == BS_OK && src != SQLITE_DONE)
		rc = bs__sync_sqlerr(r->db, src, "read outbox");
	sqlite3_finalize(s);
	return rc;
}

static const cJSON *member(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

/*
 * Build o->wire, or leave it NULL for an operation that is held: the
 * row's fields as they are (schema/outbox.md), and for a walk-in the
 * customer's full contact from the sensitive part, as the operation's
 * "customer" member beside its fields (protocol.md, ticket/create).
 */
static int translate(struct row *o)
{
	const cJSON *cust = member(o->sensitive, "customer");
	cJSON *w = NULL, *f = NULL;
	int rc;

	if (!(strcmp(o->entity, "activity") == 0 &&
	      strcmp(o->op, "append") == 0) &&
	    !(strcmp(o->entity, "ticket") == 0 &&
	      (strcmp(o->op, "create") == 0 || strcmp(o->op, "move") == 0 ||
	       strcmp(o->op, "update") == 0)))
		return HELD;
	if ((f = cJSON_Duplicate(o->fields, 1)) == NULL)
		return bs__error_code(BS_ENOMEM);
	if ((w = cJSON_CreateObject()) == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto fail;
	}
	if ((rc = bs__json_put_str(w, "op_id", o->op_id)) ||
	    (rc = bs__json_put_str(w, "entity", o->entity)) ||
	    (rc = bs__json_put_str(w, "op", o->op)) ||
	    (rc = bs__json_put_str(w, "entity_id", o->entity_id)) ||
	    (rc = bs__json_put_str(w, "ticket_id", o->ticket_id)))
		goto fail;
	rc = bs__json_put(w, "fields", f);
	f = NULL; /* w's now, or freed */
	if (rc != BS_OK ||
	    (rc = bs__json_put_str(w, "hlc", o->hlc)) ||
	    (rc = o->have_base
			  ? bs__json_put_int(w, "base_version", o->base_version)
			  : bs__json_put_null(w, "base_version")) ||
	    (rc = bs__json_put_str(w, "author", o->author)) ||
	    (rc = bs__json_put_int(w, "device_time_ms", o->device_ms)))
		goto fail;
	/* Beside the fields: not a ticket field, never merged. */
	if (strcmp(o->op, "create") == 0 && cJSON_IsObject(cust) &&
	    (rc = bs__json_put(w, "customer", cJSON_Duplicate(cust, 1))))
		goto fail;
	o->wire = w;
	return BS_OK;
fail:
	cJSON_Delete(f);
	cJSON_Delete(w);
	return rc;
}

/* --- answers -------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *j = member(o, k);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

static int has_flag(const cJSON *res, const char *name)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, member(res, "flags"))
	{
		if (cJSON_IsString(f) && strcmp(f->valuestring, name) == 0)
			return 1;
	}
	return 0;
}

/* A reason word as the conflict table takes it ([a-z_]+), else a
 * fallback. */
static const char *reason_word(const char *s, const char *dflt)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || strlen(s) > 32)
		return dflt;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return dflt;
	return s;
}

/*
 * A rejected move leaves the device showing a status the hub never
 * took: back to where it came from, unless the device moved on since
 * (a later move of its own, which the hub answers for itself).
 */
static int undo_move(sqlite3 *db, const struct row *o)
{
	const char *from = jstr(o->fields, "from");
	const char *to = jstr(o->fields, "to");

	if (from == NULL || to == NULL)
		return BS_OK;
	return bs__sync_q(db, "undo a refused move",
			  "UPDATE ticket SET status = ?1 WHERE id = ?2 AND "
			  "status = ?3 AND NOT EXISTS (SELECT 1 FROM outbox "
			  "WHERE ticket_id = ?2 AND op = 'move' AND seq > ?4)",
			  "ttti", from, o->ticket_id, to, o->seq);
}

/*
 * A rejected op's effects (a status, a first response, a paused clock)
 * were shown on the device at once; the answer carries the ticket as
 * the hub holds it, and the device takes those fields back, unless a
 * later operation of its own on the ticket still waits (its answer and
 * the pull after it settle the ticket).  Without the state (an older
 * hub), or with a state that does not check, a refused move goes back
 * to where it came from.
 */
static int restore_state(sqlite3 *db, const struct row *o, const cJSON *res)
{
	static const char *const ms[] = { "first_response_ms",
					  "paused_since_ms", "closed_ms" };
	const cJSON *t = member(res, "ticket");
	const char *status = NULL;
	enum bs__status st;
	int64_t v[3], paused = 0, ext = 0;
	int have[3], i, src;
	sqlite3_stmt *s = NULL;

	if (!cJSON_IsObject(t) ||
	    bs__wire_str(&status, t, "status", 64, 0) != BS_OK ||
	    bs__status_parse(&st, status) != BS_OK ||
	    bs__wire_int(&paused, NULL, t, "paused_ms_total", 0,
			 BS__HLC_MAX_MS, 0) != BS_OK ||
	    bs__wire_int(&ext, NULL, t, "extension_level", 0, 100, 0) !=
		    BS_OK)
		goto no_state;
	for (i = 0; i < 3; i++) {
		have[i] = 0;
		if (bs__wire_int(&v[i], &have[i], t, ms[i], 0, BS__HLC_MAX_MS,
				 1) != BS_OK)
			goto no_state;
	}
	src = sqlite3_prepare_v2(db, "UPDATE ticket SET status = ?2, "
				 "first_response_ms = ?3, paused_since_ms = ?4, "
				 "closed_ms = ?5, paused_ms_total = ?6, "
				 "extension_level = ?7 WHERE id = ?1 AND NOT "
				 "EXISTS (SELECT 1 FROM outbox WHERE ticket_id "
				 "= ?1 AND seq > ?8 AND state <> 'answered')",
				 -1, &s, NULL);
	if (src != SQLITE_OK)
		return bs__sync_sqlerr(db, src, "take back a refused change");
	sqlite3_bind_text(s, 1, o->ticket_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, status, -1, SQLITE_STATIC);
	for (i = 0; i < 3; i++)
		if (have[i])
			sqlite3_bind_int64(s, 3 + i, v[i]);
	sqlite3_bind_int64(s, 6, paused);
	sqlite3_bind_int64(s, 7, ext);
	sqlite3_bind_int64(s, 8, o->seq);
	src = sqlite3_step(s);
	sqlite3_finalize(s);
	return src == SQLITE_DONE ? BS_OK
		: bs__sync_sqlerr(db, src, "take back a refused change");
no_state:
	bs__error_clear();
	return strcmp(o->op, "move") == 0 ? undo_move(db, o) : BS_OK;
}

/* Conflicts a merged or rejected answer asks for. */
static int answer_conflicts(struct bs__round *r, const struct row *o,
			    const cJSON *res, const char *result)
{
	/* Mine is what the row holds: never the sensitive part. */
	const cJSON *fields = o->fields, *c;
	struct bs__conflict k;
	char detail[600];
	int64_t now = bs_os_now_ms();
	int rc;

	memset(&k, 0, sizeof(k));
	k.ticket_id = o->ticket_id;
	k.entity = o->entity;
	k.entity_id = o->entity_id;
	k.op_id = o->op_id;
	k.mine_hlc = o->hlc;
	if (strcmp(result, "rejected") == 0) {
		k.mine = fields;
		k.reason = reason_word(jstr(res, "reason"), "rejected");
		snprintf(detail, sizeof(detail), "head office refused this "
			 "change: %s",
			 jstr(res, "message") ? jstr(res, "message") : "-");
		k.detail = detail;
		if (strcmp(o->op, "move") == 0)
			k.field = "status";
		if ((rc = bs__conflict_add(r->db, &k, now)) != BS_OK)
			return rc;
		r->rep->conflicts++;
		return restore_state(r->db, o, res);
	}
	/* Free text: a later edit was kept, mine goes to the record. */
	cJSON_ArrayForEach(c, member(res, "conflicts"))
	{
		const char *field = jstr(c, "field"), *kept = jstr(c, "kept");

		if (field == NULL || kept == NULL ||
		    strcmp(kept, "theirs") != 0)
			continue;
		k.field = field;
		k.mine = member(fields, field);
		k.theirs = NULL; /* the pull that follows brings it */
		k.reason = "last_writer_wins";
		snprintf(detail, sizeof(detail), "someone else's later edit "
			 "of the %s was kept; your text is kept here", field);
		k.detail = detail;
		if ((rc = bs__conflict_add(r->db, &k, now)) != BS_OK)
			return rc;
		r->rep->conflicts++;
	}
	if (has_flag(res, "conflict") || has_flag(res, "superseded")) {
		cJSON *theirs = cJSON_CreateObject();

		if (theirs == NULL ||
		    bs__json_put_str(theirs, "status", jstr(res, "status"))) {
			cJSON_Delete(theirs);
			return bs__error_code(BS_ENOMEM);
		}
		k.field = "status";
		k.mine = fields;
		k.theirs = theirs;
		k.reason = "superseded";
		snprintf(detail, sizeof(detail), "the ticket had moved to %s "
			 "at head office; your move to %s did not take effect "
			 "(%s), its text is kept in the timeline",
			 jstr(res, "status") ? jstr(res, "status") : "?",
			 jstr(fields, "to") ? jstr(fields, "to") : "?",
			 jstr(res, "rule") ? jstr(res, "rule") : "-");
		k.detail = detail;
		rc = bs__conflict_add(r->db, &k, now);
		cJSON_Delete(theirs);
		if (rc != BS_OK)
			return rc;
		r->rep->conflicts++;
	}
	return BS_OK;
}

/* Store the answer res to operation o (inside the batch's transaction). */
static int store_answer(struct bs__round *r, const struct row *o,
			const cJSON *res)
{
	static const char what[] = "store the hub's answer";
	const char *result = jstr(res, "result"), *ref = jstr(res, "ref");
	const char *act = jstr(o->fields, "activity_id");
	char *text = NULL;
	int64_t hub_ms = 0, now = bs_os_now_ms();
	int rc;

	if (result == NULL || (strcmp(result, "applied") != 0 &&
			       strcmp(result, "merged") != 0 &&
			       strcmp(result, "rejected") != 0))
		return bs__error(BS_ENETWORK, "the hub's answer to %s has no "
				 "result", o->op_id);
	if ((text = cJSON_PrintUnformatted(res)) == NULL)
		return bs__error_code(BS_ENOMEM);
	bs__json_int(member(res, "hub_time_ms"), 0, BS__HLC_MAX_MS, &hub_ms);
	rc = bs__sync_q(r->db, what, "UPDATE outbox SET state = 'answered', "
			"result = ?1, answer = ?2, answered_ms = ?3, "
			"sensitive = NULL, last_error = NULL WHERE seq = ?4",
			"ttii", result, text, now, o->seq);
	if (rc != BS_OK)
		goto cleanup;
	/* When the hub received it: regulators ask both times. */
	if (hub_ms > 0 && strcmp(result, "rejected") != 0) {
		if (strcmp(o->entity, "activity") == 0 &&
		    (rc = bs__sync_q(r->db, what, "UPDATE activity SET "
				     "hub_time_ms = ?2 WHERE id = ?1 AND "
				     "hub_time_ms IS NULL", "ti",
				     o->entity_id, hub_ms)))
			goto cleanup;
		if (act != NULL &&
		    (rc = bs__sync_q(r->db, what, "UPDATE activity SET "
				     "hub_time_ms = ?2 WHERE id = ?1 AND "
				     "hub_time_ms IS NULL", "ti", act,
				     hub_ms)))
			goto cleanup;
	}
	if (ref != NULL && strcmp(o->op, "create") == 0 &&
	    (rc = bs__sync_q(r->db, what, "UPDATE OR IGNORE ticket SET ref "
			     "= ?1 WHERE id = ?2 AND ref IS NULL", "tt", ref,
			     o->ticket_id)))
		goto cleanup;
	if (strcmp(result, "applied") == 0)
		r->rep->applied++;
	else if (strcmp(result, "merged") == 0)
		r->rep->merged++;
	else
		r->rep->rejected++;
	r->rep->pushed++;
	if (strcmp(result, "applied") != 0 &&
	    (rc = answer_conflicts(r, o, res, result)) != BS_OK)
		goto cleanup;
	if (has_flag(res, "review")) {
		/* Head office must look at it: the ticket had ended.  Not a
		 * conflict here (nothing was refused); shown as a change. */
		if ((rc = bs__sync_q(r->db, what, "UPDATE ticket SET flags = "
				     "flags | 2 WHERE id = ?1", "t",
				     o->ticket_id)) ||
		    (rc = bs__sync_audit(r->db, o->author, "sync.review",
					 "ticket", o->ticket_id, res)))
			goto cleanup;
	}
	rc = bs__sync_q(r->db, what, "UPDATE ticket SET local_dirty = EXISTS "
			"(SELECT 1 FROM outbox WHERE ticket_id = ?1 AND state "
			"<> 'answered') WHERE id = ?1", "t", o->ticket_id);
cleanup:
	bs__free(text);
	return rc;
}

/* --- batches -------------------------------------------------------- */

static int begin(sqlite3 *db)
{
	return bs__sync_exec(db, "BEGIN IMMEDIATE", "push");
}

static int commit(sqlite3 *db, int rc)
{
	if (rc == BS_OK)
		rc = bs__sync_exec(db, "COMMIT", "push");
	if (rc != BS_OK && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/*
 * Answer o here, without the hub: result, and for a refusal the reason
 * and a message.  Used for an operation the hub refused inside a batch
 * (the batch would otherwise never pass) and for one with nothing left
 * to send.  Inside the caller's transaction.
 */
static int local_answer(struct bs__round *r, const struct row *o,
			const char *result, const char *reason,
			const char *message)
{
	cJSON *res = cJSON_CreateObject();
	int rc;

	if (res == NULL || bs__json_put_str(res, "op_id", o->op_id) ||
	    bs__json_put_str(res, "ticket_id", o->ticket_id) ||
	    bs__json_put_str(res, "result", result) ||
	    (reason && bs__json_put_str(res, "reason", reason)) ||
	    (message && bs__json_put_str(res, "message", message)) ||
	    bs__json_put_bool(res, "local", 1)) {
		cJSON_Delete(res);
		return bs__error_code(BS_ENOMEM);
	}
	rc = store_answer(r, o, res);
	cJSON_Delete(res);
	return rc;
}

/* An update whose fields held nothing the protocol carries. */
static int empty_update(const struct row *o)
{
	const cJSON *f = member(o->wire, "fields");

	return strcmp(o->op, "update") == 0 && f != NULL && f->child == NULL;
}

static int note_error(sqlite3 *db, const struct row *rows, unsigned n,
		      const char *msg)
{
	unsigned i;
	int rc;

	if ((rc = begin(db)) != BS_OK)
		return rc;
	for (i = 0; rc == BS_OK && i < n; i++)
		if (rows[i].wire != NULL)
			rc = bs__sync_q(db, "push", "UPDATE outbox SET "
					"last_error = ?1 WHERE seq = ?2", "ti",
					msg, rows[i].seq);
	return commit(db, rc);
}

/* Check the hub's results against the batch sent: one per operation,
 * in order. */
static int check_results(const cJSON *results, struct row *rows, unsigned n)
{
	const cJSON *res = results ? results->child : NULL;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (rows[i].wire == NULL || empty_update(&rows[i]))
			continue;
		if (res == NULL || jstr(res, "op_id") == NULL ||
		    strcmp(jstr(res, "op_id"), rows[i].op_id) != 0)
			return bs__error(BS_ENETWORK, "the hub's answer does "
					 "not match the operations sent "
					 "(at %s)", rows[i].op_id);
		res = res->next;
	}
	if (res != NULL)
		return bs__error(BS_ENETWORK, "the hub answered more "
				 "operations than were sent");
	return BS_OK;
}

static void progress(struct bs__round *r, uint64_t done, uint64_t total)
{
	bs_sync_progress p;

	if (r->o.progress == NULL)
		return;
	memset(&p, 0, sizeof(p));
	p.phase = BS_SYNC_PUSH;
	p.done = done;
	p.total = total;
	r->o.progress(&p, r->o.ud);
}

static int count_pending(sqlite3 *db, int64_t *n)
{
	sqlite3_stmt *s = NULL;
	int src;

	*n = 0;
	src = sqlite3_prepare_v2(db, "SELECT count(*) FROM outbox WHERE "
				 "state <> 'answered' AND entity IN "
				 "('ticket', 'activity')", -1, &s, NULL);
	if (src != SQLITE_OK)
		return bs__sync_sqlerr(db, src, "read outbox");
	if ((src = sqlite3_step(s)) == SQLITE_ROW)
		*n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return src == SQLITE_ROW ? BS_OK
				 : bs__sync_sqlerr(db, src, "read outbox");
}

int bs__sync_push(struct bs__round *r)
{
	struct row *rows = NULL;
	struct bs__resp resp;
	unsigned batch = r->o.batch, n = 0, i, sent;
	int64_t after = 0, first, total, index;
	cJSON *doc = NULL, *ops;
	char msg[600];
	int rc;

	memset(&resp, 0, sizeof(resp));
	if ((rc = count_pending(r->db, &total)) != BS_OK)
		return rc;
	rows = bs__calloc(batch, sizeof(*rows));
	if (rows == NULL)
		return bs__error_code(BS_ENOMEM);
	progress(r, 0, (uint64_t)total);
	for (;;) {
		for (i = 0; i < n; i++)
			row_free(&rows[i]);
		cJSON_Delete(doc);
		doc = NULL;
		bs__resp_free(&resp);
		if ((rc = load(r, after, batch, rows, &n)) != BS_OK ||
		    n == 0)
			break;
		first = rows[0].seq;
		after = rows[n - 1].seq;
		doc = bs__wire_doc(BS__WIRE_VERSION);
		ops = cJSON_CreateArray();
		if (doc == NULL || bs__json_put(doc, "ops", ops) != BS_OK) {
			rc = bs__error_code(BS_ENOMEM);
			break;
		}
		sent = 0;
		for (i = 0; i < n; i++) {
			rc = translate(&rows[i]);
			if (rc == HELD) {
				r->rep->held++;
				rc = BS_OK;
				continue;
			}
			if (rc != BS_OK)
				break;
			if (empty_update(&rows[i]))
				continue;
			if ((rc = bs__json_push(ops, cJSON_Duplicate(
						     rows[i].wire, 1))))
				break;
			sent++;
		}
		if (rc != BS_OK)
			break;
		/* Mark what goes out: from here the hub may have it. */
		if ((rc = begin(r->db)) != BS_OK)
			break;
		for (i = 0; rc == BS_OK && i < n; i++) {
			if (rows[i].wire == NULL)
				rc = bs__sync_q(r->db, "push", "UPDATE outbox "
						"SET last_error = ?1 WHERE "
						"seq = ?2 AND last_error IS "
						"NULL", "ti", "held: protocol "
						"version 1 has no operation "
						"for this change", rows[i].seq);
			else if (empty_update(&rows[i]))
				rc = local_answer(r, &rows[i], "applied", NULL,
						  NULL);
			else
				rc = bs__sync_q(r->db, "push", "UPDATE outbox "
						"SET state = 'sent', attempts "
						"= attempts + 1, sent_ms = ?1 "
						"WHERE seq = ?2", "ii",
						bs_os_now_ms(), rows[i].seq);
		}
		if ((rc = commit(r->db, rc)) != BS_OK)
			break;
		if (sent == 0)
			continue;
		rc = bs__net_request(&r->net, &resp, "POST", "/v1/sync/push",
				     doc, 1);
		if (rc == BS_OK) {
			const cJSON *res;

			if ((rc = check_results(member(resp.doc, "results"),
						rows, n)) != BS_OK)
				break;
			res = member(resp.doc, "results")->child;
			if ((rc = begin(r->db)) != BS_OK)
				break;
			for (i = 0; rc == BS_OK && i < n; i++) {
				if (rows[i].wire == NULL ||
				    empty_update(&rows[i]))
					continue;
				rc = store_answer(r, &rows[i], res);
				res = res->next;
			}
			if (rc == BS_OK)
				rc = bs__sync_save_clock(r->db, &r->net.clock);
			if ((rc = commit(r->db, rc)) != BS_OK)
				break;
			progress(r, r->rep->pushed, (uint64_t)total);
			continue;
		}
		snprintf(msg, sizeof(msg), "%s", bs_last_error());
		index = -1;
		if (resp.status == 400 && resp.doc != NULL)
			bs__json_int(member(resp.doc, "index"), 0, sent - 1,
				     &index);
		if (resp.status == 413 && batch > 1) {
			/* Too large as a whole: smaller batches. */
			batch = (batch + 1) / 2;
			after = first - 1;
			rc = BS_OK;
			continue;
		}
		if (resp.status == 413)
			index = 0;
		if (index >= 0) {
			/* One operation the hub cannot take: answer it here,
			 * as refused, and send the rest again. */
			struct row *bad = NULL;
			int64_t k = 0;

			for (i = 0; i < n && bad == NULL; i++) {
				if (rows[i].wire == NULL ||
				    empty_update(&rows[i]))
					continue;
				if (k++ == index)
					bad = &rows[i];
			}
			if (bad == NULL)
				break;
			if ((rc = begin(r->db)) == BS_OK)
				rc = local_answer(r, bad, "rejected",
						  resp.status == 413
							  ? "too_large"
							  : "invalid",
						  msg);
			if ((rc = commit(r->db, rc)) != BS_OK)
				break;
			after = first - 1;
			continue;
		}
		note_error(r->db, rows, n, msg);
		bs__error(rc, "%s", msg);
		break;
	}
	for (i = 0; i < n; i++)
		row_free(&rows[i]);
	bs__free(rows);
	cJSON_Delete(doc);
	bs__resp_free(&resp);
	return rc;
}
