/*
 * pull.c - changes from the hub (protocol.md, "Pull"), page by page.
 *
 * Pages are applied in transactions that also store the new cursor (a
 * transaction takes the pages already at hand, see batch_begin): a cut
 * link or a killed process leaves either the pages and their cursor or
 * neither, and the next round asks again from where the store says it
 * stopped.  Pages are fetched ahead while one is applied.  The cursor
 * never goes backwards, and a page whose changes are not after the
 * cursor is refused whole.
 *
 * A ticket from the hub is head office's merged state, so it replaces
 * the device's copy, except the fields the device has changed and not
 * yet had answered (outbox operations still waiting): those keep the
 * device's value until the hub has answered them, after which the next
 * pull brings the merged result.  Timelines are a set: entries are added
 * by id and never replaced; the device's own entries come back with the
 * hub's receipt time, which is set once.  Every remote clock stamp moves
 * the device's hybrid logical clock past it.
 *
 * A ticket that left the scope is purged with its timeline and the
 * customers no ticket refers to any more, through the store's purge
 * switch; work not yet answered stays in the outbox, and becomes a
 * conflict with its text when the hub refuses it.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/core/common.h"
#include "agent/core/json.h"
#include "agent/core/wire.h"
#include "agent/tickets/tickets_internal.h"
#include "platform/os.h"
#include "sync_internal.h"

/* Bits of the keep mask: fields whose local value stands. */
#define KEEP_STATUS 0x01
#define KEEP_SUBJECT 0x02
#define KEEP_DESCRIPTION 0x04
#define KEEP_TRANSCRIPT 0x08
#define KEEP_OUTCOME 0x10
#define KEEP_SLA 0x20

static const struct {
	const char *name;
	int bit;
} keepable[] = {
	{ "status", KEEP_STATUS },
	{ "subject", KEEP_SUBJECT },
	{ "description", KEEP_DESCRIPTION },
	{ "transcript", KEEP_TRANSCRIPT },
	{ "outcome", KEEP_OUTCOME },
	{ "first_response_ms", KEEP_SLA },
	{ "paused_ms_total", KEEP_SLA },
	{ "paused_since_ms", KEEP_SLA },
	{ "extension_level", KEEP_SLA },
	{ "closed_ms", KEEP_SLA },
};

/*
 * The statements a pull runs for every change, prepared on first use
 * and kept until the pull ends: preparing costs more than running most
 * of them.  Each is reset when handed out and again before a page
 * commits, so none is left running across a commit.
 */
enum q {
	Q_OUTBOX_ANY,
	Q_CONFLICT_ANY,
	Q_PENDING,
	Q_OLD,
	Q_CUSTOMER,
	Q_ARCHIVE,
	Q_ARCHIVE_MOVE,
	Q_CUSTOMER_STUB,
	Q_REF_FREE,
	Q_CATEGORY,
	Q_TICKET,
	Q_TICKET_NEW,
	Q_CLOCK,
	Q_CONFLICT,
	Q_KIND,
	Q_ACTIVITY,
	Q_COUNT
};

/* A pulled ticket; a new one is inserted without the upsert, so that
 * the statement carries no update trigger (see batch_begin). */
#define TICKET_INSERT \
	"INSERT INTO ticket (id, ref, external_ref, customer_id, " \
	"channel, category_code, risk_class, priority, status, " \
	"subject, description, transcript, outcome, branch, assignee, " \
	"merged_into, sla_profile, t0_ms, created_ms, updated_ms, " \
	"first_response_due_ms, resolution_due_ms, first_response_ms, " \
	"paused_ms_total, paused_since_ms, extension_level, closed_ms, " \
	"server_version, local_dirty, flags) VALUES (?1, ?2, ?3, ?4, " \
	"?5, ?6, ?7, coalesce(?8, 'normal'), ?9, coalesce(?10, ''), " \
	"?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, coalesce(?19, ?18), " \
	"coalesce(?20, ?18), ?21, ?22, ?23, coalesce(?24, 0), ?25, " \
	"coalesce(?26, 0), ?27, ?28, ?29, ?30) " \

static const char *const q_sql[Q_COUNT] = {
	[Q_OUTBOX_ANY] = "SELECT EXISTS (SELECT 1 FROM outbox WHERE "
			 "state <> 'answered')",
	[Q_CONFLICT_ANY] = "SELECT EXISTS (SELECT 1 FROM conflict WHERE "
			   "theirs IS NULL AND resolved_ms IS NULL AND "
			   "reason = 'last_writer_wins')",
	[Q_PENDING] = "SELECT op, fields FROM outbox WHERE ticket_id = ?1 "
		      "AND state <> 'answered'",
	[Q_OLD] = "SELECT status, subject, description, transcript, "
		  "outcome FROM ticket WHERE id = ?1",
	[Q_CUSTOMER] =
		"INSERT INTO customer (id, name_masked, phone_masked, "
		"id_number_masked, segment, branch, created_ms, updated_ms) "
		"VALUES (?1, coalesce(?2, ''), ?3, ?4, ?5, ?6, ?7, ?7) "
		"ON CONFLICT (id) DO UPDATE SET "
		"name_masked = excluded.name_masked, "
		"phone_masked = excluded.phone_masked, "
		"id_number_masked = excluded.id_number_masked, "
		"segment = excluded.segment, branch = excluded.branch, "
		"updated_ms = excluded.updated_ms",
	/* An entry that moved to another customer is updated by
	 * Q_ARCHIVE_MOVE: an upsert that may change customer_id checks
	 * the foreign key inside a statement journal of its own, which
	 * would cost every entry of a pull (see batch_triggers). */
	[Q_ARCHIVE] =
		"INSERT INTO customer_archive (id, customer_id, ticket_id, "
		"ticket_ref, channel, received_ms, closed_ms, category_code, "
		"summary, outcome, branch) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
		"?7, ?8, ?9, ?10, ?11) ON CONFLICT (id) DO UPDATE SET "
		"ticket_id = excluded.ticket_id, "
		"ticket_ref = excluded.ticket_ref, "
		"channel = excluded.channel, "
		"received_ms = excluded.received_ms, "
		"closed_ms = excluded.closed_ms, "
		"category_code = excluded.category_code, "
		"summary = excluded.summary, outcome = excluded.outcome, "
		"branch = excluded.branch "
		"WHERE customer_archive.customer_id = excluded.customer_id",
	[Q_ARCHIVE_MOVE] =
		"UPDATE customer_archive SET customer_id = ?2, ticket_id = ?3, "
		"ticket_ref = ?4, channel = ?5, received_ms = ?6, "
		"closed_ms = ?7, category_code = ?8, summary = ?9, "
		"outcome = ?10, branch = ?11 WHERE id = ?1",
	[Q_CUSTOMER_STUB] = "INSERT OR IGNORE INTO customer (id, "
			    "name_masked, created_ms, updated_ms) VALUES "
			    "(?1, '', ?2, ?2)",
	[Q_REF_FREE] = "UPDATE ticket SET ref = NULL WHERE ref = ?1 AND "
		       "id <> ?2",
	[Q_CATEGORY] = "SELECT sla_profile FROM catalogue_category WHERE "
		       "code = ?1",
	[Q_TICKET] = TICKET_INSERT
		"ON CONFLICT (id) DO UPDATE SET ref = excluded.ref, "
		"external_ref = excluded.external_ref, "
		"customer_id = coalesce(excluded.customer_id, "
		"ticket.customer_id), channel = excluded.channel, "
		"category_code = excluded.category_code, "
		"risk_class = excluded.risk_class, "
		"priority = excluded.priority, "
		"status = CASE WHEN ?31 & 1 THEN ticket.status "
		"ELSE excluded.status END, "
		"subject = CASE WHEN ?31 & 2 THEN ticket.subject "
		"ELSE excluded.subject END, "
		"description = CASE WHEN ?31 & 4 THEN ticket.description "
		"ELSE excluded.description END, "
		"transcript = CASE WHEN ?31 & 8 THEN ticket.transcript "
		"ELSE excluded.transcript END, "
		"outcome = CASE WHEN ?31 & 16 THEN ticket.outcome "
		"ELSE excluded.outcome END, "
		"branch = excluded.branch, assignee = excluded.assignee, "
		"merged_into = excluded.merged_into, "
		"sla_profile = excluded.sla_profile, t0_ms = excluded.t0_ms, "
		"created_ms = excluded.created_ms, "
		"updated_ms = max(ticket.updated_ms, excluded.updated_ms), "
		"first_response_due_ms = excluded.first_response_due_ms, "
		"resolution_due_ms = excluded.resolution_due_ms, "
		"first_response_ms = CASE WHEN ?31 & 32 THEN "
		"ticket.first_response_ms ELSE excluded.first_response_ms END, "
		"paused_ms_total = CASE WHEN ?31 & 32 THEN "
		"ticket.paused_ms_total ELSE excluded.paused_ms_total END, "
		"paused_since_ms = CASE WHEN ?31 & 32 THEN "
		"ticket.paused_since_ms ELSE excluded.paused_since_ms END, "
		"extension_level = CASE WHEN ?31 & 32 THEN "
		"ticket.extension_level ELSE excluded.extension_level END, "
		"closed_ms = CASE WHEN ?31 & 32 THEN ticket.closed_ms "
		"ELSE excluded.closed_ms END, "
		"server_version = excluded.server_version, "
		"local_dirty = excluded.local_dirty, "
		"flags = ticket.flags | excluded.flags",
	[Q_TICKET_NEW] = TICKET_INSERT,
	[Q_CLOCK] = "INSERT INTO ticket_clock (ticket_id, field, hlc, node) "
		    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (ticket_id, field) "
		    "DO UPDATE SET hlc = excluded.hlc, node = excluded.node",
	[Q_CONFLICT] = "UPDATE conflict SET theirs = json_quote(?3) WHERE "
		       "ticket_id = ?1 AND field = ?2 AND theirs IS NULL AND "
		       "resolved_ms IS NULL AND reason = 'last_writer_wins'",
	[Q_KIND] = "SELECT 1 FROM activity_kind WHERE name = ?1",
	[Q_ACTIVITY] =
		"INSERT INTO activity (id, ticket_id, kind, visibility, body, "
		"author, device_id, device_time_ms, hub_time_ms, hlc, "
		"from_status, to_status, detail) VALUES (?1, ?2, ?3, ?4, ?5, "
		"coalesce(?6, 'head-office'), ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
		"ON CONFLICT (id) DO UPDATE SET hub_time_ms = "
		"excluded.hub_time_ms WHERE activity.hub_time_ms IS NULL AND "
		"excluded.hub_time_ms IS NOT NULL",
};

/* An SLA profile as bs__tk_profile() found it, kept for the page:
 * reading one parses its rules. */
#define PROFILES 8

struct profile {
	char key[BS__TK_CODE_MAX + 1];   /* the name asked for */
	struct bs__sla_profile buf;
	char name[BS__TK_CODE_MAX + 1];
	const struct bs__sla_profile *p; /* buf or a built-in profile */
};

/* Timeline kinds the schema knows, as found; the table never changes. */
#define KINDS 16

/*
 * One pull's context: its statements, and the batch of pages under way
 * (see batch_begin).  What the batch reads once (whether any outbox
 * operation is unanswered, any conflict waits for the hub's text) holds
 * for the whole batch, because applying pulled changes only removes
 * such rows.
 */
#define BATCH_TRIGGERS 6 /* triggers a batch turns off (batch_triggers) */

struct page {
	struct bs__round *r;
	struct bs__tk tk;
	sqlite3 *db;
	sqlite3_stmt *q[Q_COUNT];
	char *batch_trigger[BATCH_TRIGGERS]; /* SQL of the triggers a
					      * batch turns off */
	int catalogue;
	int outbox_any;
	int conflict_any;
	struct profile prof[PROFILES];
	int nprof;
	char kinds[KINDS][24];
	int nkinds;
	int first;               /* the store's first pull (cursor 0) */
	int open;                /* a batch's transaction is open */
	int64_t batch_t0;        /* when it began (monotonic ns) */
	unsigned long batch_changes, batch_pages;
	int64_t batch_cursor;    /* after the batch's last page */
	int failed;              /* an error batch_wait() met */
	struct bs__hub_clock batch_clock; /* what its answer taught */
};

/*
 * Members are mostly looked up in the order the hub writes them, so a
 * lookup first tries the member right after the one found last in the
 * same object: one comparison instead of a walk from the first member
 * (looking members up was a tenth of applying a page).  The answer is
 * the same, keys being unique in a decoded document.  The hint is
 * cleared before each change, whose objects outlive every lookup.
 */
static _Thread_local struct {
	const cJSON *o, *at;
} hint;

static const cJSON *member(const cJSON *o, const char *k)
{
	const cJSON *c;

	if (o != NULL && hint.o == o && (c = hint.at->next) != NULL &&
	    c->string != NULL && strcmp(c->string, k) == 0) {
		hint.at = c;
		return c;
	}
	c = cJSON_GetObjectItemCaseSensitive(o, k);
	if (c != NULL) {
		hint.o = o;
		hint.at = c;
	}
	return c;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *j = member(o, k);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* Bind member k of o: a string as text, a number as an integer, a
 * boolean as 0/1, anything else (or nothing) as NULL.  Text is bound
 * without a copy: the page's document outlives every step. */
static void bind_json(sqlite3_stmt *s, int i, const cJSON *o, const char *k)
{
	const cJSON *j = member(o, k);
	int64_t v;

	if (cJSON_IsString(j))
		sqlite3_bind_text(s, i, j->valuestring, -1, SQLITE_STATIC);
	else if (cJSON_IsBool(j))
		sqlite3_bind_int(s, i, cJSON_IsTrue(j));
	else if (bs__json_int(j, INT64_MIN / 2, INT64_MAX / 2, &v))
		sqlite3_bind_int64(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

static int prepare(struct page *p, sqlite3_stmt **s, const char *sql)
{
	int src = sqlite3_prepare_v2(p->db, sql, -1, s, NULL);

	if (src != SQLITE_OK) {
		*s = NULL;
		return bs__sync_sqlerr(p->db, src, "apply pulled changes");
	}
	return BS_OK;
}

/*
 * Statement id of the pull in *out, prepared on first use, otherwise
 * reset with its parameters cleared.  It stays owned by p.  Fails only
 * if it cannot be prepared.
 */
static int stmt(struct page *p, enum q id, sqlite3_stmt **out)
{
	int src;

	if (p->q[id] == NULL) {
		src = sqlite3_prepare_v3(p->db, q_sql[id], -1,
					 SQLITE_PREPARE_PERSISTENT, &p->q[id],
					 NULL);
		if (src != SQLITE_OK) {
			p->q[id] = NULL;
			*out = NULL;
			return bs__sync_sqlerr(p->db, src,
					       "apply pulled changes");
		}
	} else {
		sqlite3_reset(p->q[id]);
		sqlite3_clear_bindings(p->q[id]);
	}
	*out = p->q[id];
	return BS_OK;
}

/* Reset every kept statement, so that none is running when the page's
 * transaction ends.  Cannot fail. */
static void stmts_reset(struct page *p)
{
	int i;

	for (i = 0; i < Q_COUNT; i++)
		if (p->q[i] != NULL)
			sqlite3_reset(p->q[i]);
}

static void stmts_free(struct page *p)
{
	int i;

	for (i = 0; i < Q_COUNT; i++) {
		sqlite3_finalize(p->q[i]);
		p->q[i] = NULL;
	}
}

/* Step a statement that writes, once, and reset it. */
static int step(struct page *p, sqlite3_stmt *s, const char *what)
{
	int src = sqlite3_step(s), rc = BS_OK;

	if (src != SQLITE_DONE && src != SQLITE_ROW)
		rc = bs__sync_sqlerr(p->db, src, what);
	sqlite3_reset(s);
	return rc;
}

/* A yes-or-no query of the pull (no parameters). */
static int ask(struct page *p, enum q id, int *out)
{
	sqlite3_stmt *s;
	int rc, src;

	*out = 0;
	if ((rc = stmt(p, id, &s)) != BS_OK)
		return rc;
	src = sqlite3_step(s);
	if (src == SQLITE_ROW)
		*out = sqlite3_column_int(s, 0) != 0;
	else if (src != SQLITE_DONE)
		rc = bs__sync_sqlerr(p->db, src, "apply pulled changes");
	sqlite3_reset(s);
	return rc;
}

/*
 * The fields the device changed and the hub has not answered yet, from
 * the operations still in the outbox (schema/outbox.md): a move sets the
 * status and SLA columns, a reply or call the first response, an update
 * its free-text fields, a creation all of them.
 */
static int pending_mask(struct page *p, const char *ticket, int *mask)
{
	sqlite3_stmt *s = NULL;
	const cJSON *it;
	const char *op;
	cJSON *f;
	size_t k;
	int rc, src;

	*mask = 0;
	if (!p->outbox_any)
		return BS_OK;
	if ((rc = stmt(p, Q_PENDING, &s)) != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, ticket, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		op = (const char *)sqlite3_column_text(s, 0);
		if (strcmp(op, "create") == 0) {
			*mask |= KEEP_STATUS | KEEP_SUBJECT |
				 KEEP_DESCRIPTION | KEEP_TRANSCRIPT |
				 KEEP_OUTCOME | KEEP_SLA;
			continue;
		}
		if (strcmp(op, "move") == 0 || strcmp(op, "append") == 0) {
			*mask |= (strcmp(op, "move") == 0 ? KEEP_STATUS : 0) |
				 KEEP_SLA;
			continue;
		}
		f = cJSON_Parse((const char *)sqlite3_column_text(s, 1));
		cJSON_ArrayForEach(it, f)
		{
			for (k = 0; k < BS__ARRAY_LEN(keepable); k++)
				if (strcmp(it->string, keepable[k].name) == 0)
					*mask |= keepable[k].bit;
		}
		cJSON_Delete(f);
	}
	rc = src == SQLITE_DONE ? BS_OK
				: bs__sync_sqlerr(p->db, src, "read outbox");
	sqlite3_reset(s);
	return rc;
}

/* --- customers and archives ----------------------------------------- */

static int put_customer(struct page *p, const cJSON *c)
{
	sqlite3_stmt *s;
	const char *id;
	int rc;

	if (bs__wire_code(&id, c, "id", 0) != BS_OK)
		return bs__error(BS_EINVAL, "pulled customer: %s",
				 bs_last_error());
	if ((rc = stmt(p, Q_CUSTOMER, &s)) != BS_OK)
		return rc;
	bind_json(s, 1, c, "id");
	bind_json(s, 2, c, "name_masked");
	bind_json(s, 3, c, "phone_masked");
	bind_json(s, 4, c, "id_number_masked");
	bind_json(s, 5, c, "segment");
	bind_json(s, 6, c, "branch");
	sqlite3_bind_int64(s, 7, p->tk.device_ms);
	return step(p, s, "store a pulled customer");
}

/* Bind archive entry a of customer to s (Q_ARCHIVE, Q_ARCHIVE_MOVE). */
static void bind_archive(sqlite3_stmt *s, const char *customer,
			 const cJSON *a)
{
	bind_json(s, 1, a, "id");
	sqlite3_bind_text(s, 2, customer, -1, SQLITE_STATIC);
	bind_json(s, 3, a, "ticket_id");
	bind_json(s, 4, a, "ticket_ref");
	bind_json(s, 5, a, "channel");
	bind_json(s, 6, a, "received_ms");
	bind_json(s, 7, a, "closed_ms");
	bind_json(s, 8, a, "category_code");
	bind_json(s, 9, a, "summary");
	bind_json(s, 10, a, "outcome");
	bind_json(s, 11, a, "branch");
}

static int put_archive(struct page *p, const char *customer,
		       const cJSON *arr)
{
	static const char what[] = "store a pulled archive entry";
	sqlite3_stmt *s;
	const cJSON *a;
	int rc;

	cJSON_ArrayForEach(a, arr)
	{
		if (jstr(a, "id") == NULL)
			return bs__error(BS_EINVAL, "a pulled archive entry "
					 "has no id");
		if ((rc = stmt(p, Q_ARCHIVE, &s)) != BS_OK)
			return rc;
		bind_archive(s, customer, a);
		if ((rc = step(p, s, what)))
			return rc;
		/* Nothing inserted or updated: the entry is here under
		 * another customer. */
		if (sqlite3_changes(p->db) != 0)
			continue;
		if ((rc = stmt(p, Q_ARCHIVE_MOVE, &s)) != BS_OK)
			return rc;
		bind_archive(s, customer, a);
		if ((rc = step(p, s, what)))
			return rc;
	}
	return BS_OK;
}

/* --- timelines ------------------------------------------------------- */

/* Whether the schema knows timeline kind kind; known names are kept for
 * the pull.  A failed lookup counts as unknown. */
static int known_kind(struct page *p, const char *kind)
{
	sqlite3_stmt *s;
	int i, found;

	for (i = 0; i < p->nkinds; i++)
		if (strcmp(p->kinds[i], kind) == 0)
			return 1;
	if (stmt(p, Q_KIND, &s) != BS_OK)
		return 0;
	sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
	found = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_reset(s);
	if (found && p->nkinds < KINDS && strlen(kind) < sizeof(p->kinds[0]))
		snprintf(p->kinds[p->nkinds++], sizeof(p->kinds[0]), "%s",
			 kind);
	return found;
}

/*
 * One timeline entry.  What the device's schema cannot hold as it came
 * (a kind it does not know, a status change without its states) is kept
 * as a "system" entry with the original in detail, rather than refusing
 * the page and stopping the sync.
 */
static int put_activity(struct page *p, const char *ticket, const cJSON *a)
{
	enum bs__status st;
	sqlite3_stmt *s = NULL;
	const char *id = jstr(a, "id"), *kind = jstr(a, "kind");
	const char *vis = jstr(a, "visibility"), *h = jstr(a, "hlc");
	const char *from = jstr(a, "from_status"), *to = jstr(a, "to_status");
	const cJSON *det = member(a, "detail");
	cJSON *extra = NULL;
	char *detail = NULL, stamp_text[BS__HLC_TEXT_LEN + 1];
	uint64_t stamp;
	int64_t dev_ms = 0, hub_ms = 0;
	int have_hub, rc;

	if (id == NULL || bs__uuid_parse(NULL, id, strlen(id)) != BS_OK)
		return bs__error(BS_EINVAL, "a pulled activity of ticket %s "
				 "has no valid id", ticket);
	bs__json_int(member(a, "device_time_ms"), 0, BS__HLC_MAX_MS, &dev_ms);
	have_hub = bs__json_int(member(a, "hub_time_ms"), 0, BS__HLC_MAX_MS,
				&hub_ms);
	if (h == NULL || bs__hlc_parse(&stamp, h, strlen(h)) != BS_OK)
		stamp = bs__hlc_make(dev_ms, 0);
	bs__error_clear();
	/* The hub vouches for the stamps it passes on: no future limit. */
	if (bs__hlc_update(NULL, &p->tk.clock, stamp, p->tk.now_ms) != BS_OK)
		bs__error_clear();
	bs__hlc_format(stamp_text, stamp);

	if (cJSON_IsString(det)) {
		/* The hub sends detail as the JSON text it stores. */
		cJSON *d = cJSON_Parse(det->valuestring);

		extra = cJSON_IsObject(d) ? d : NULL;
		if (extra == NULL)
			cJSON_Delete(d);
	} else if (cJSON_IsObject(det)) {
		extra = cJSON_Duplicate(det, 1);
	}
	if (kind == NULL || !known_kind(p, kind) ||
	    (strcmp(kind, "status_change") == 0 &&
	     (to == NULL || bs__status_parse(&st, to) != BS_OK ||
	      (from != NULL && bs__status_parse(&st, from) != BS_OK))) ||
	    strcmp(kind, "attachment") == 0) {
		if (extra == NULL && (extra = cJSON_CreateObject()) == NULL)
			return bs__error_code(BS_ENOMEM);
		if (bs__json_put_str(extra, "kind", kind) ||
		    (from && bs__json_put_str(extra, "from_status", from)) ||
		    (to && bs__json_put_str(extra, "to_status", to))) {
			cJSON_Delete(extra);
			return bs__error_code(BS_ENOMEM);
		}
		kind = "system";
	}
	if (strcmp(kind, "status_change") != 0)
		from = to = NULL;
	if (vis == NULL ||
	    (strcmp(vis, "internal") != 0 && strcmp(vis, "customer") != 0))
		vis = "internal";
	if (extra != NULL && (detail = cJSON_PrintUnformatted(extra)) == NULL) {
		cJSON_Delete(extra);
		return bs__error_code(BS_ENOMEM);
	}
	cJSON_Delete(extra);
	if ((rc = stmt(p, Q_ACTIVITY, &s)) == BS_OK) {
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, ticket, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, vis, -1, SQLITE_STATIC);
		bind_json(s, 5, a, "body");
		bind_json(s, 6, a, "author");
		bind_json(s, 7, a, "device_id");
		sqlite3_bind_int64(s, 8, dev_ms);
		if (have_hub)
			sqlite3_bind_int64(s, 9, hub_ms);
		sqlite3_bind_text(s, 10, stamp_text, -1, SQLITE_STATIC);
		if (from != NULL)
			sqlite3_bind_text(s, 11, from, -1, SQLITE_STATIC);
		if (to != NULL)
			sqlite3_bind_text(s, 12, to, -1, SQLITE_STATIC);
		if (detail != NULL)
			sqlite3_bind_text(s, 13, detail, -1, SQLITE_STATIC);
		rc = step(p, s, "store a pulled activity");
	}
	bs__free(detail);
	return rc;
}

/* --- tickets --------------------------------------------------------- */

/* What the device had of a ticket before the page. */
struct old {
	int found;
	char status[32];
	char *text[4]; /* subject, description, transcript, outcome */
};

static void old_free(struct old *o)
{
	int i;

	for (i = 0; i < 4; i++)
		bs__free(o->text[i]);
}

static int load_old(struct page *p, const char *id, struct old *o)
{
	sqlite3_stmt *s = NULL;
	int rc, i;

	memset(o, 0, sizeof(*o));
	if ((rc = stmt(p, Q_OLD, &s)) != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		o->found = 1;
		snprintf(o->status, sizeof(o->status), "%s",
			 sqlite3_column_text(s, 0));
		for (i = 0; i < 4; i++) {
			if (sqlite3_column_type(s, i + 1) == SQLITE_NULL)
				continue;
			o->text[i] = bs__strdup(
				(const char *)sqlite3_column_text(s, i + 1));
			if (o->text[i] == NULL)
				rc = bs__error_code(BS_ENOMEM);
		}
	}
	sqlite3_reset(s);
	return rc;
}

static int same_text(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/*
 * The SLA profile called name, as bs__tk_profile() finds it, read once
 * a page (while more than PROFILES are in use, the last is read again
 * as needed).  The pointer lives until the next call.  Cannot fail.
 */
static const struct bs__sla_profile *profile_of(struct page *p,
						const char *name)
{
	struct profile *e;
	int i;

	/* bs__tk_profile() reads all of these as the default. */
	if (name == NULL || strlen(name) > BS__TK_CODE_MAX)
		name = "";
	for (i = 0; i < p->nprof; i++)
		if (strcmp(p->prof[i].key, name) == 0)
			return p->prof[i].p;
	if (p->nprof < PROFILES)
		p->nprof++;
	e = &p->prof[p->nprof - 1];
	snprintf(e->key, sizeof(e->key), "%s", name);
	bs__tk_profile(&p->tk, name, &e->buf, e->name, &e->p);
	return e->p;
}

/* Due times at T0 under the ticket's profile (the queue orders by
 * them); the hub does not send them. */
static void due_times(struct page *p, const cJSON *t, int64_t *fr,
		      int64_t *res)
{
	const struct bs__sla_profile *sp;
	struct bs__sla_ticket sla;
	struct bs__sla_status st;
	enum bs__priority prio;
	sqlite3_stmt *s;
	char cat_profile[BS__TK_CODE_MAX + 1] = "";
	const char *profile = jstr(t, "sla_profile");
	int64_t t0 = 0, x;

	bs__json_int(member(t, "t0_ms"), 0, BS__HLC_MAX_MS, &t0);
	*fr = *res = t0;
	if (profile == NULL && jstr(t, "category_code") != NULL &&
	    stmt(p, Q_CATEGORY, &s) == BS_OK) {
		sqlite3_bind_text(s, 1, jstr(t, "category_code"), -1,
				  SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW &&
		    sqlite3_column_type(s, 0) == SQLITE_TEXT)
			snprintf(cat_profile, sizeof(cat_profile), "%s",
				 sqlite3_column_text(s, 0));
		sqlite3_reset(s);
		if (cat_profile[0])
			profile = cat_profile;
	}
	sp = profile_of(p, profile);
	if (jstr(t, "priority") == NULL ||
	    bs__priority_parse(&prio, jstr(t, "priority")) != BS_OK)
		prio = BS__PRIORITY_NORMAL;
	bs__sla_ticket_init(&sla, t0, prio);
	if (bs__json_int(member(t, "extension_level"), 0, sp->max_ext, &x))
		sla.ext_level = (int)x;
	if (bs__json_int(member(t, "paused_ms_total"), 0, BS__HLC_MAX_MS, &x))
		sla.paused_ms = x;
	if (bs__sla_eval(&st, sp, &sla, t0, BS__TRUST_NEVER_SYNCED) ==
	    BS_OK) {
		*fr = st.first_response.due_ms;
		*res = st.resolution.due_ms;
	}
	bs__error_clear();
}

static const char *const text_cols[] = { "subject", "description",
					 "transcript", "outcome" };

/* The clock of a field head office changed: the hub's, at stamp. */
static int put_clock(struct page *p, const char *id, const char *field,
		     const char *stamp)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = stmt(p, Q_CLOCK, &s)) != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, field, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, stamp, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, BS__TK_HUB_NODE, -1, SQLITE_STATIC);
	return step(p, s, "store a pulled ticket");
}

/* The ticket id's ref, if it has one, taken from any other ticket that
 * holds it: the hub has given it to this one. */
static int ref_free(struct page *p, const cJSON *t, const char *id)
{
	sqlite3_stmt *s;
	int rc;

	if (jstr(t, "ref") == NULL)
		return BS_OK;
	if ((rc = stmt(p, Q_REF_FREE, &s)) != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, jstr(t, "ref"), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
	return step(p, s, "store a pulled ticket");
}

/*
 * Insert ticket t, or update it if old says the device has it; mask
 * says which fields keep the device's value.  With taken set, an insert
 * that finds the id or the ref taken sets *taken and changes nothing
 * (no error is left).
 */
static int put_ticket(struct page *p, const cJSON *t, const struct old *old,
		      int mask, int64_t version, int *taken)
{
	const char *status = jstr(t, "status");
	sqlite3_stmt *s;
	int64_t fr, res;
	int rc, src, flags;

	due_times(p, t, &fr, &res);
	flags = !old->found || (!(mask & KEEP_STATUS) &&
				strcmp(old->status, status) != 0)
			? 2
			: 0;
	if ((rc = stmt(p, old->found ? Q_TICKET : Q_TICKET_NEW, &s)) != BS_OK)
		return rc;
	bind_json(s, 1, t, "id");
	bind_json(s, 2, t, "ref");
	bind_json(s, 3, t, "external_ref");
	bind_json(s, 4, t, "customer_id");
	bind_json(s, 5, t, "channel");
	bind_json(s, 6, t, "category_code");
	bind_json(s, 7, t, "risk_class");
	bind_json(s, 8, t, "priority");
	bind_json(s, 9, t, "status");
	bind_json(s, 10, t, "subject");
	bind_json(s, 11, t, "description");
	bind_json(s, 12, t, "transcript");
	bind_json(s, 13, t, "outcome");
	bind_json(s, 14, t, "branch");
	bind_json(s, 15, t, "assignee");
	bind_json(s, 16, t, "merged_into");
	bind_json(s, 17, t, "sla_profile");
	bind_json(s, 18, t, "t0_ms");
	bind_json(s, 19, t, "created_ms");
	bind_json(s, 20, t, "updated_ms");
	sqlite3_bind_int64(s, 21, fr);
	sqlite3_bind_int64(s, 22, res);
	bind_json(s, 23, t, "first_response_ms");
	bind_json(s, 24, t, "paused_ms_total");
	bind_json(s, 25, t, "paused_since_ms");
	bind_json(s, 26, t, "extension_level");
	bind_json(s, 27, t, "closed_ms");
	sqlite3_bind_int64(s, 28, version);
	sqlite3_bind_int(s, 29, mask != 0);
	sqlite3_bind_int(s, 30, flags);
	if (old->found)
		sqlite3_bind_int(s, 31, mask);
	src = sqlite3_step(s);
	if (src == SQLITE_DONE || src == SQLITE_ROW) {
		rc = BS_OK;
	} else if (taken != NULL &&
		   sqlite3_extended_errcode(p->db) == SQLITE_CONSTRAINT_UNIQUE) {
		*taken = 1;
		rc = BS_OK;
	} else {
		rc = bs__sync_sqlerr(p->db, src, "store a pulled ticket");
	}
	sqlite3_reset(s);
	return rc;
}

static int apply_ticket(struct page *p, const cJSON *ch)
{
	const cJSON *t = member(ch, "ticket"), *c;
	const char *id, *status, *cust, *put = NULL;
	char stamp[BS__HLC_TEXT_LEN + 1];
	enum bs__status st;
	struct old old;
	sqlite3_stmt *s;
	int64_t version;
	int mask, rc, i, taken = 0;

	memset(&old, 0, sizeof(old));
	if (!cJSON_IsObject(t) || bs__wire_uuid(&id, t, "id", 0) != BS_OK ||
	    bs__wire_str(&status, t, "status", 32, 0) != BS_OK ||
	    bs__status_parse(&st, status) != BS_OK ||
	    bs__wire_int(&version, NULL, t, "version", 0, INT64_MAX / 2, 0))
		return bs__error(BS_EINVAL, "a pulled ticket is malformed: %s",
				 bs_last_error());
	/* A store's first pull mostly brings tickets the device does not
	 * have: it tries to insert each one as new, and only when the id
	 * or the ref is taken (a ticket sent again, a ref the hub moved)
	 * does what every other pull does, after the same insert found
	 * nothing to change. */
	if ((rc = pending_mask(p, id, &mask)) ||
	    (!p->first && (rc = load_old(p, id, &old))))
		goto cleanup;

	/* The customer first: the ticket refers to it. */
	if (cJSON_IsObject(c = member(ch, "customer"))) {
		if ((rc = put_customer(p, c)) != BS_OK)
			goto cleanup;
		put = jstr(c, "id");
		if (cJSON_IsArray(member(ch, "archive")) &&
		    (rc = put_archive(p, put, member(ch, "archive"))) != BS_OK)
			goto cleanup;
	}
	/* A customer the change did not carry is kept as a stub. */
	cust = jstr(t, "customer_id");
	if (cust != NULL && (put == NULL || strcmp(put, cust) != 0)) {
		if ((rc = stmt(p, Q_CUSTOMER_STUB, &s)) != BS_OK)
			goto cleanup;
		sqlite3_bind_text(s, 1, cust, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, p->tk.device_ms);
		if ((rc = step(p, s, "store a pulled ticket")) != BS_OK)
			goto cleanup;
	}
	if (p->first) {
		if ((rc = put_ticket(p, t, &old, mask, version, &taken)))
			goto cleanup;
		if (taken && (rc = load_old(p, id, &old)) != BS_OK)
			goto cleanup;
	}
	if ((!p->first || taken) &&
	    ((rc = ref_free(p, t, id)) != BS_OK ||
	     (rc = put_ticket(p, t, &old, mask, version, NULL)) != BS_OK))
		goto cleanup;

	/* Field clocks of what head office changed, and the other side of
	 * the free-text conflicts the push recorded. */
	if ((rc = bs__tk_stamp(&p->tk, NULL, stamp)) != BS_OK)
		goto cleanup;
	for (i = 0; i < 4; i++) {
		const char *v = jstr(t, text_cols[i]);

		if (mask & (KEEP_SUBJECT << i))
			continue;
		if (old.found && !same_text(old.text[i], v) &&
		    (rc = put_clock(p, id, text_cols[i], stamp)) != BS_OK)
			goto cleanup;
		if (!p->conflict_any)
			continue;
		if ((rc = stmt(p, Q_CONFLICT, &s)) != BS_OK)
			goto cleanup;
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, text_cols[i], -1, SQLITE_STATIC);
		if (v != NULL)
			sqlite3_bind_text(s, 3, v, -1, SQLITE_STATIC);
		if ((rc = step(p, s, "store a pulled ticket")) != BS_OK)
			goto cleanup;
	}
	if (!(mask & KEEP_STATUS) && old.found &&
	    strcmp(old.status, status) != 0 &&
	    (rc = put_clock(p, id, "status", stamp)) != BS_OK)
		goto cleanup;

	cJSON_ArrayForEach(c, member(ch, "activities"))
	{
		if ((rc = put_activity(p, id, c)) != BS_OK)
			goto cleanup;
	}
	p->r->rep->tickets++;
cleanup:
	old_free(&old);
	return rc;
}

/* --- scope exits ----------------------------------------------------- */

/*
 * After a purge, the full-text marks come down to just past the largest
 * rid left.  The index holds exactly the rows below a mark; no row lies
 * between the old mark and the new one, so that stays true.  But a row
 * inserted next may take a rid freed below the old mark, and the batch's
 * insert triggers are off (batch_begin): with the mark lowered, it is at
 * or above it, and the batch's INSERT ... SELECT indexes it.
 */
static const char marks_down[] =
	"UPDATE maintenance SET "
	"fts_ticket_rid = min(fts_ticket_rid, "
	"(SELECT coalesce(max(rid), 0) + 1 FROM ticket)), "
	"fts_activity_rid = min(fts_activity_rid, "
	"(SELECT coalesce(max(rid), 0) + 1 FROM activity)) WHERE id = 1";

static int apply_drop(struct page *p, const cJSON *ch)
{
	const char *id, *reason = jstr(ch, "reason");
	static const char what[] = "purge a ticket that left the scope";
	sqlite3_stmt *s = NULL;
	char cust[BS__TK_CODE_MAX + 1] = "";
	cJSON *d = NULL;
	int rc, present = 0;

	if (bs__wire_uuid(&id, ch, "ticket_id", 0) != BS_OK)
		return bs__error(BS_EINVAL, "a pulled scope exit is "
				 "malformed: %s", bs_last_error());
	if ((rc = prepare(p, &s, "SELECT customer_id FROM ticket WHERE id = "
			  "?1")) != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW) {
		present = 1;
		if (sqlite3_column_type(s, 0) == SQLITE_TEXT)
			snprintf(cust, sizeof(cust), "%s",
				 sqlite3_column_text(s, 0));
	}
	sqlite3_finalize(s);
	if (!present)
		return BS_OK;
	/* The audit row first: the purge switch closes the log. */
	if ((d = cJSON_CreateObject()) == NULL ||
	    bs__json_put_str(d, "reason", reason)) {
		cJSON_Delete(d);
		return bs__error_code(BS_ENOMEM);
	}
	rc = bs__sync_audit(p->db, "head-office", "sync.drop", "ticket", id,
			    d);
	cJSON_Delete(d);
	if (rc != BS_OK ||
	    (rc = bs__sync_exec(p->db, "UPDATE maintenance SET purge = 1 "
				"WHERE id = 1", what)) ||
	    (rc = bs__sync_q(p->db, what, "DELETE FROM ticket WHERE id = ?1",
			     "t", id)) ||
	    (cust[0] &&
	     (rc = bs__sync_q(p->db, what, "DELETE FROM customer WHERE id = "
			      "?1 AND NOT EXISTS (SELECT 1 FROM ticket WHERE "
			      "customer_id = ?1)", "t", cust))) ||
	    (rc = bs__sync_exec(p->db, "UPDATE maintenance SET purge = 0 "
				"WHERE id = 1", what)) ||
	    (rc = bs__sync_exec(p->db, marks_down, what)))
		return rc;
	p->r->rep->dropped++;
	return BS_OK;
}

/* --- catalogue ------------------------------------------------------- */

static int active(const cJSON *o)
{
	return !cJSON_IsFalse(member(o, "active"));
}

/*
 * One catalogue line in the import format.  A line the device's schema
 * cannot take (a category without a risk class) is skipped with a note
 * in the audit log: the catalogue must never stop tickets from syncing.
 */
static int apply_catalogue(struct page *p, const cJSON *ch)
{
	const cJSON *it = member(ch, "item");
	const char *type = jstr(it, "type");
	sqlite3_stmt *s = NULL;
	int rc = BS_OK, src;

	if (type == NULL)
		return BS_OK;
	if (strcmp(type, "category") == 0) {
		rc = prepare(p, &s, "INSERT INTO catalogue_category (code, "
			     "parent, name, risk_class, default_priority, "
			     "sla_profile, active, sort_order) VALUES (?1, ?2, "
			     "?3, ?4, coalesce(?5, 'normal'), ?6, ?7, "
			     "coalesce(?8, 0)) ON CONFLICT (code) DO UPDATE "
			     "SET parent = excluded.parent, name = "
			     "excluded.name, risk_class = excluded.risk_class, "
			     "default_priority = excluded.default_priority, "
			     "sla_profile = excluded.sla_profile, active = "
			     "excluded.active, sort_order = "
			     "excluded.sort_order");
		if (rc == BS_OK) {
			bind_json(s, 1, it, "code");
			bind_json(s, 2, it, "parent");
			bind_json(s, 3, it, "name");
			bind_json(s, 4, it, "risk_class");
			bind_json(s, 5, it, "default_priority");
			bind_json(s, 6, it, "sla_profile");
			sqlite3_bind_int(s, 7, active(it));
			bind_json(s, 8, it, "sort_order");
		}
	} else if (strcmp(type, "template") == 0) {
		rc = prepare(p, &s, "INSERT INTO catalogue_template (id, "
			     "category_code, title, body, language, active, "
			     "sort_order) VALUES (?1, ?2, ?3, ?4, coalesce(?5, "
			     "'zh-CN'), ?6, coalesce(?7, 0)) ON CONFLICT (id) "
			     "DO UPDATE SET category_code = "
			     "excluded.category_code, title = excluded.title, "
			     "body = excluded.body, language = "
			     "excluded.language, active = excluded.active, "
			     "sort_order = excluded.sort_order");
		if (rc == BS_OK) {
			bind_json(s, 1, it, "id");
			bind_json(s, 2, it, "category");
			bind_json(s, 3, it, "title");
			bind_json(s, 4, it, "body");
			bind_json(s, 5, it, "language");
			sqlite3_bind_int(s, 6, active(it));
			bind_json(s, 7, it, "sort_order");
		}
	} else if (strcmp(type, "branch") == 0) {
		rc = prepare(p, &s, "INSERT INTO branch (code, name, parent, "
			     "active) VALUES (?1, coalesce(?2, ?1), ?3, ?4) "
			     "ON CONFLICT (code) DO UPDATE SET name = "
			     "excluded.name, parent = excluded.parent, "
			     "active = excluded.active");
		if (rc == BS_OK) {
			bind_json(s, 1, it, "code");
			bind_json(s, 2, it, "name");
			bind_json(s, 3, it, "parent");
			sqlite3_bind_int(s, 4, active(it));
		}
	} else if (strcmp(type, "staff") == 0) {
		rc = prepare(p, &s, "INSERT INTO staff (id, name, branch, "
			     "role, active) VALUES (?1, coalesce(?2, ?1), ?3, "
			     "coalesce(?4, 'staff'), ?5) ON CONFLICT (id) DO "
			     "UPDATE SET name = excluded.name, branch = "
			     "excluded.branch, role = excluded.role, active = "
			     "excluded.active");
		if (rc == BS_OK) {
			bind_json(s, 1, it, "id");
			bind_json(s, 2, it, "name");
			bind_json(s, 3, it, "branch");
			bind_json(s, 4, it, "role");
			sqlite3_bind_int(s, 5, active(it));
		}
	} else {
		return BS_OK; /* a kind this build does not keep */
	}
	if (rc != BS_OK)
		return rc;
	src = sqlite3_step(s);
	sqlite3_finalize(s);
	if ((src & 0xff) == SQLITE_CONSTRAINT) {
		/* Only this statement failed; the page goes on. */
		return bs__sync_audit(p->db, "head-office",
				      "sync.catalogue_skipped", type,
				      jstr(it, "code") ? jstr(it, "code")
						       : jstr(it, "id"),
				      it);
	}
	if (src != SQLITE_DONE)
		return bs__sync_sqlerr(p->db, src, "store the catalogue");
	p->catalogue = 1;
	return BS_OK;
}

/* --- pages ----------------------------------------------------------- */

static void progress(struct bs__round *r, unsigned long done, int64_t cursor,
		     int more)
{
	bs_sync_progress pr;

	if (r->o.progress == NULL)
		return;
	memset(&pr, 0, sizeof(pr));
	pr.phase = BS_SYNC_PULL;
	pr.done = done;
	pr.cursor = cursor;
	pr.more = more;
	r->o.progress(&pr, r->o.ud);
}

/*
 * Check a page against the cursor it was asked from: its own cursor not
 * behind, every change after the old cursor, ascending, none after the
 * new one.
 */
static int check_page(const cJSON *changes, int64_t from, int64_t to)
{
	const cJSON *ch;
	int64_t last = from, seq;

	if (to < from)
		return bs__error(BS_ENETWORK, "the hub's cursor went back "
				 "from %lld to %lld", (long long)from,
				 (long long)to);
	cJSON_ArrayForEach(ch, changes)
	{
		if (bs__wire_int(&seq, NULL, ch, "seq", 1, INT64_MAX / 2, 0))
			return bs__error(BS_ENETWORK, "a pulled change has no "
					 "valid seq");
		if (seq <= last || seq > to)
			return bs__error(BS_ENETWORK, "pulled changes out of "
					 "order (%lld after %lld, cursor "
					 "%lld)", (long long)seq,
					 (long long)last, (long long)to);
		last = seq;
	}
	return BS_OK;
}

/*
 * The full-text index of the rows a batch adds is written in bulk:
 * indexed row by row, each statement's savepoint makes FTS5 write a
 * segment of its own (schema/agent/002_fts_deferred.sql).  The marks are
 * set past the largest rid when the batch starts.  While the next page
 * is still on its way, the rows added so far are indexed and the marks
 * moved past them (fts_advance), so the wait is put to use; what is left
 * is indexed, and the marks cleared, before the batch commits.
 */
#define FTS_INDEX_NEW \
	"INSERT INTO ticket_fts (rowid, subject, description, transcript) " \
	"SELECT rid, subject, description, transcript FROM ticket WHERE " \
	"rid >= (SELECT fts_ticket_rid FROM maintenance WHERE id = 1);" \
	"INSERT INTO activity_fts (rowid, body, attachment_name) " \
	"SELECT rid, body, attachment_name FROM activity WHERE " \
	"rid >= (SELECT fts_activity_rid FROM maintenance WHERE id = 1);"

static const char fts_defer[] =
	"UPDATE maintenance SET "
	"fts_ticket_rid = (SELECT coalesce(max(rid), 0) + 1 FROM ticket), "
	"fts_activity_rid = (SELECT coalesce(max(rid), 0) + 1 FROM activity) "
	"WHERE id = 1";

/*
 * The text of rows below the marks that the batch changed or deleted
 * (noted by the TEMP triggers of fts_note, below) leaves the index, and
 * the rows still below the marks go back in as they are now.  A rid
 * freed by a purge and taken by a new row is then at or above the marks
 * (marks_down), and FTS_INDEX_NEW indexes that row afterwards.
 */
#define FTS_RENEW \
	"INSERT INTO main.ticket_fts (ticket_fts, rowid, subject, " \
	"description, transcript) SELECT 'delete', rid, subject, " \
	"description, transcript FROM fts_old;" \
	"INSERT INTO main.ticket_fts (rowid, subject, description, " \
	"transcript) SELECT rid, subject, description, transcript FROM " \
	"main.ticket WHERE rid IN (SELECT rid FROM fts_old) AND rid < " \
	"(SELECT fts_ticket_rid FROM main.maintenance WHERE id = 1);" \
	"DELETE FROM fts_old;"

static const char fts_advance[] = FTS_RENEW FTS_INDEX_NEW
	"UPDATE maintenance SET "
	"fts_ticket_rid = (SELECT coalesce(max(rid), 0) + 1 FROM ticket), "
	"fts_activity_rid = (SELECT coalesce(max(rid), 0) + 1 FROM activity) "
	"WHERE id = 1";

static const char fts_catch_up[] = FTS_RENEW FTS_INDEX_NEW
	"UPDATE maintenance SET fts_ticket_rid = NULL, "
	"fts_activity_rid = NULL WHERE id = 1";

/*
 * Pages are applied in batches: one transaction takes the pages that
 * are already at hand, up to BATCH_NS of work, and ends with the cursor
 * of the last.  Every transaction writes the index pages that its rows
 * touch, and rows land all over the indexes, so each commit costs about
 * as much as the store's indexes, however few rows it adds; fewer and
 * larger commits save most of that.  A batch never waits on the link:
 * when the next page has not arrived, the batch commits first, so a cut
 * link or a killed process loses at most the batch being applied, which
 * the next round asks for again.
 */
#define BATCH_NS 500000000LL

static int64_t batch_ns = BATCH_NS;
static long batch_wait_ms = -1; /* -1: FETCH_WAIT_MS */

void bs__sync_batch(int64_t ns, long wait_ms)
{
	batch_ns = ns < 0 ? BATCH_NS : ns;
	batch_wait_ms = wait_ms;
}

/*
 * A statement that may fire a trigger writing a full-text table joins
 * that virtual table to the transaction before it runs, whether the
 * trigger's WHEN lets it write or not, and from then on every statement
 * of the transaction calls FTS5 at its savepoint and again at its
 * release, which writes what the statement indexed as a segment of its
 * own: a tenth of a first pull's time, and most of a later pull's, whose
 * tickets are updates.  So a batch drops the ticket table's full-text
 * triggers, and the activity table's insert trigger, when it begins, and
 * puts them back, as schema/agent wrote them, before it commits; a
 * rollback puts them back too.
 *
 * The insert triggers would leave out every row a batch adds anyway
 * (its rids are at or above the marks).  The update and delete triggers
 * kept the index right for the rows below the marks; in their place, the
 * batch's own TEMP triggers note each such row's text as the index holds
 * it, the first time the batch changes or deletes the row (fts_note).
 * Before the batch commits, that text leaves the index and what the rows
 * hold now goes in, with one statement each (FTS_RENEW).  A pull never
 * changes a rid; a statement that did would fail rather than leave the
 * index wrong.  The activity table's delete trigger stays: activities
 * are deleted only when a scope exit purges a ticket.
 *
 * Two of the timeline's guards are off during a batch too.  A statement
 * that may fire any trigger, and may fail once it has written, runs in
 * a statement journal of its own: SQLite copies every page the statement
 * touches first, and drops the copies at its end.  For each timeline
 * entry of a pull that was about a tenth of the applying thread.  The
 * activity insert (Q_ACTIVITY) would fire activity_no_insert_in_purge,
 * and its upsert activity_hub_time_once.  A batch inserts no activity
 * while it purges (apply_drop switches the purge on and off around its
 * deletes), and Q_ACTIVITY sets hub_time_ms only where it is NULL, which
 * is the rule the second guard enforces.  Both are back before the batch
 * commits, like the full-text triggers.
 */
static const char *const batch_triggers[BATCH_TRIGGERS] = {
	"ticket_fts_insert",	       "activity_fts_insert",
	"ticket_fts_update",	       "ticket_fts_delete",
	"activity_no_insert_in_purge", "activity_hub_time_once"
};

static const char fts_note[] =
	"CREATE TEMP TABLE fts_old (rid INTEGER PRIMARY KEY, subject, "
	"description, transcript);"
	"CREATE TEMP TRIGGER fts_old_update AFTER UPDATE OF subject, "
	"description, transcript ON main.ticket "
	"WHEN OLD.rid < (SELECT fts_ticket_rid FROM main.maintenance "
	"WHERE id = 1) BEGIN "
	"INSERT OR IGNORE INTO fts_old VALUES (OLD.rid, OLD.subject, "
	"OLD.description, OLD.transcript); END;"
	"CREATE TEMP TRIGGER fts_old_delete AFTER DELETE ON main.ticket "
	"WHEN OLD.rid < (SELECT fts_ticket_rid FROM main.maintenance "
	"WHERE id = 1) BEGIN "
	"INSERT OR IGNORE INTO fts_old VALUES (OLD.rid, OLD.subject, "
	"OLD.description, OLD.transcript); END;"
	"CREATE TEMP TRIGGER fts_old_rid BEFORE UPDATE OF rid ON main.ticket "
	"WHEN NEW.rid IS NOT OLD.rid BEGIN "
	"SELECT RAISE(ABORT, 'a pulled change may not renumber a ticket'); "
	"END";

static const char fts_note_off[] =
	"DROP TRIGGER fts_old_update;"
	"DROP TRIGGER fts_old_delete;"
	"DROP TRIGGER fts_old_rid;"
	"DROP TABLE fts_old";

/* The CREATE statement of trigger name in *out (NULL if there is no
 * such trigger). */
static int trigger_sql(struct page *p, const char *name, char **out)
{
	sqlite3_stmt *s = NULL;
	int rc, src;

	*out = NULL;
	if ((rc = prepare(p, &s, "SELECT sql FROM sqlite_schema WHERE type = "
			  "'trigger' AND name = ?1")) != BS_OK)
		return rc;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL &&
	    (*out = bs__strdup((const char *)sqlite3_column_text(s, 0))) ==
		    NULL)
		rc = bs__error_code(BS_ENOMEM);
	else if (src != SQLITE_ROW && src != SQLITE_DONE)
		rc = bs__sync_sqlerr(p->db, src, "apply pulled changes");
	sqlite3_finalize(s);
	return rc;
}

static int triggers_off(struct page *p)
{
	char sql[96];
	size_t i;
	int rc;

	for (i = 0; i < BS__ARRAY_LEN(batch_triggers); i++) {
		if (p->batch_trigger[i] == NULL &&
		    (rc = trigger_sql(p, batch_triggers[i],
				      &p->batch_trigger[i])) != BS_OK)
			return rc;
		if (p->batch_trigger[i] == NULL)
			continue;
		snprintf(sql, sizeof(sql), "DROP TRIGGER %s",
			 batch_triggers[i]);
		if ((rc = bs__sync_exec(p->db, sql, "apply pulled changes")))
			return rc;
	}
	return bs__sync_exec(p->db, fts_note, "apply pulled changes");
}

static int triggers_on(struct page *p)
{
	size_t i;
	int rc;

	if ((rc = bs__sync_exec(p->db, fts_note_off, "index pulled text")))
		return rc;
	for (i = 0; i < BS__ARRAY_LEN(batch_triggers); i++)
		if (p->batch_trigger[i] != NULL &&
		    (rc = bs__sync_exec(p->db, p->batch_trigger[i],
					"index pulled text")) != BS_OK)
			return rc;
	return BS_OK;
}

/* Begin the batch's transaction (p->r and p->db set). */
static int batch_begin(struct page *p)
{
	int rc;

	p->catalogue = 0;
	p->failed = BS_OK;
	p->batch_changes = 0;
	p->batch_pages = 0;
	p->batch_t0 = bs_os_monotonic_ns();
	if ((rc = bs__tk_begin(&p->tk, p->r->st, 1)) != BS_OK)
		return rc;
	if ((rc = ask(p, Q_OUTBOX_ANY, &p->outbox_any)) != BS_OK ||
	    (rc = ask(p, Q_CONFLICT_ANY, &p->conflict_any)) != BS_OK ||
	    (rc = bs__sync_exec(p->db, fts_defer, "apply pulled changes")) ||
	    (rc = triggers_off(p)) != BS_OK) {
		stmts_reset(p);
		bs__tk_rollback(&p->tk);
		return rc;
	}
	p->open = 1;
	return BS_OK;
}

/* Roll the batch back; rc and its message stand. */
static int batch_fail(struct page *p, int rc)
{
	char msg[600];

	snprintf(msg, sizeof(msg), "%s", bs_last_error());
	stmts_reset(p);
	bs__tk_rollback(&p->tk);
	p->open = 0;
	return bs__error(rc, "%s", msg);
}

/*
 * Apply one page in the batch's transaction; cursor and clock are the
 * page's.  A page that cannot be applied rolls the whole batch back
 * (undoing a page alone would take a savepoint around it, which doubles
 * what SQLite does for every row); the next round asks again.
 */
static int batch_add(struct page *p, const cJSON *changes, int64_t cursor,
		     const struct bs__hub_clock *clock)
{
	const cJSON *ch;
	const char *kind;
	int rc = BS_OK;

	p->nprof = 0;
	cJSON_ArrayForEach(ch, changes)
	{
		hint.o = hint.at = NULL;
		kind = jstr(ch, "kind");
		if (kind == NULL)
			rc = bs__error(BS_ENETWORK, "a pulled change has no "
				       "kind");
		else if (strcmp(kind, "ticket") == 0)
			rc = apply_ticket(p, ch);
		else if (strcmp(kind, "drop") == 0)
			rc = apply_drop(p, ch);
		else if (strcmp(kind, "catalogue") == 0)
			rc = apply_catalogue(p, ch);
		/* else: a kind a newer hub added; ignored (protocol.md) */
		if (rc != BS_OK)
			return batch_fail(p, rc);
		p->batch_changes++;
	}
	p->batch_pages++;
	p->batch_cursor = cursor;
	p->batch_clock = *clock;
	return BS_OK;
}

/* Index the batch's text, store the cursor of its last page and what
 * the hub's clock taught, and commit. */
static int batch_commit(struct page *p)
{
	struct bs__round *r = p->r;
	int rc;

	if (p->catalogue &&
	    (rc = bs__sync_q(p->db, "store the catalogue", "UPDATE "
			     "catalogue_meta SET updated_ms = ?1 WHERE id = 1",
			     "i", p->tk.device_ms)))
		return batch_fail(p, rc);
	stmts_reset(p);
	if ((rc = bs__sync_exec(p->db, fts_catch_up, "index pulled text")) ||
	    (rc = triggers_on(p)) != BS_OK ||
	    (rc = bs__ss_put_int(p->db, BS__SK_CURSOR, p->batch_cursor)) ||
	    (rc = bs__sync_save_clock(p->db, &p->batch_clock)))
		return batch_fail(p, rc);
	p->open = 0;
	if ((rc = bs__tk_commit(&p->tk)) != BS_OK)
		return rc;
	r->rep->changes += p->batch_changes;
	r->rep->pages += p->batch_pages;
	r->rep->cursor = p->batch_cursor;
	return BS_OK;
}

/* The pull stops with rc, for a reason other than a page that could not
 * be applied (the link, the hub's answer): the batch's pages are kept if
 * they can be, and rc with its message is what the pull answers. */
static int batch_end(struct page *p, int rc)
{
	char msg[600];

	if (!p->open)
		return rc;
	snprintf(msg, sizeof(msg), "%s", bs_last_error());
	if (p->batch_pages == 0 || batch_commit(p) != BS_OK)
		bs__tk_rollback(&p->tk);
	p->open = 0;
	return bs__error(rc, "%s", msg);
}

/*
 * Pages are fetched ahead of the one being applied, by a thread of their
 * own: it asks for the next page as soon as an answer arrives, whose
 * headers say where the next page starts, so the hub builds the next
 * page while a second thread inflates and parses this one and the
 * store applies the one before, up to AHEAD pages in hand.  Only the
 * fetching thread touches the connection until it is joined; each page
 * carries a copy of what its answer taught about the hub's clock.  The
 * fetching thread also frees the pages already applied.  An answer
 * without the headers is decoded where it arrived.  Without threads,
 * each page is fetched and decoded in place when it is wanted.
 */
#define AHEAD 2

/* A fetched page, or why there is none. */
struct slot {
	struct bs__raw raw;      /* as it came, while not ready */
	struct bs__resp resp;
	struct bs__hub_clock clock;
	int ready;               /* decoded (or failed) */
	int rc;
	char msg[600];
};

struct fetch {
	struct bs__net *net;
	struct bs__json_pool *pool; /* for pages' trees; NULL: none */
	int64_t cursor;          /* where the next request starts */
	unsigned limit, page;    /* its size; the size after it */
	pthread_t thread, decoder;
	int running, decoding;
	pthread_mutex_t mu;
	pthread_cond_t cv;       /* a page queued, decoded or taken; stop */
	/* Under mu: */
	struct slot q[AHEAD];    /* ring of pages fetched, not yet taken */
	int head, count;
	int ended;               /* no more pages will be queued */
	int stop;                /* the pull wants no more */
	struct bs__resp trash[AHEAD + 2]; /* applied pages to free */
	int ntrash;
	/* What the last page decoded apart taught about the hub's clock,
	 * for the fetching thread to sign its next requests with. */
	struct bs__hub_clock learned;
	int have_learned;
};

/* How long a batch waits for the next page before it commits and lets
 * go of the store: about the time the hub takes to build a page. */
#define FETCH_WAIT_MS 250

/* The first page of a store's first pull. */
#define FIRST_PAGE 50u

static void slot_failed(struct slot *s, int rc)
{
	s->rc = rc;
	snprintf(s->msg, sizeof(s->msg), "%s", bs_last_error());
}

/* Decode the page that arrived in s; the caller marks it ready. */
static void slot_decode(struct fetch *f, struct slot *s)
{
	int rc = bs__net_decode(&s->raw, f->pool, &s->resp, &s->clock);

	if (rc != BS_OK)
		slot_failed(s, rc);
}

/* Decode s on the thread that holds the connection, which then signs
 * with what the page taught about the hub's clock, as it does with
 * what the decoding thread learns. */
static void decode_here(struct fetch *f, struct slot *s)
{
	slot_decode(f, s);
	s->ready = 1;
	if (s->rc == BS_OK)
		f->net->clock = s->clock;
}

/* Fetch the page at f->cursor into *s and say whether another follows;
 * on a page that cannot say where the next starts, none does (the pull
 * reports what is wrong with it).  The page is left to decode if its
 * headers said where the next one starts. */
static int fetch_one(struct fetch *f, struct slot *s)
{
	char target[96];
	int64_t next = 0;
	int more = 0, rc;

	memset(s, 0, sizeof(*s));
	snprintf(target, sizeof(target), "/v1/sync/pull?cursor=%lld&limit=%u",
		 (long long)f->cursor, f->limit);
	rc = bs__net_get_page(f->net, &s->raw, &s->resp, target);
	s->clock = f->net->clock;
	if (rc != BS_OK) {
		slot_failed(s, rc);
		s->ready = 1;
		return 0;
	}
	if (s->raw.body != NULL) {
		next = s->raw.cursor;
		more = s->raw.more;
	} else {
		s->ready = 1;
		if (bs__wire_int(&next, NULL, s->resp.doc, "cursor", 0,
				 INT64_MAX / 2, 0) != BS_OK ||
		    bs__wire_bool(&more, s->resp.doc, "more", 0) != BS_OK) {
			bs__error_clear();
			return 0;
		}
	}
	if (!more || next == f->cursor)
		return 0;
	f->cursor = next;
	f->limit = f->page;
	return 1;
}

static void *fetch_run(void *arg)
{
	struct fetch *f = arg;
	struct bs__resp trash[AHEAD + 2];
	struct slot s;
	int i, n, more = 1;

	bs_os_thread_yield_priority();
	while (more) {
		pthread_mutex_lock(&f->mu);
		while (f->count == AHEAD && !f->stop)
			pthread_cond_wait(&f->cv, &f->mu);
		n = f->ntrash;
		memcpy(trash, f->trash, (size_t)n * sizeof(trash[0]));
		f->ntrash = 0;
		if (f->have_learned) {
			f->net->clock = f->learned;
			f->have_learned = 0;
		}
		if (f->stop) {
			pthread_mutex_unlock(&f->mu);
			break;
		}
		pthread_mutex_unlock(&f->mu);
		for (i = 0; i < n; i++)
			bs__resp_free(&trash[i]);
		n = 0;
		more = fetch_one(f, &s);
		if (!s.ready && !f->decoding)
			decode_here(f, &s);
		pthread_mutex_lock(&f->mu);
		f->q[(f->head + f->count) % AHEAD] = s;
		f->count++;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
	}
	for (i = 0; i < n; i++)
		bs__resp_free(&trash[i]);
	pthread_mutex_lock(&f->mu);
	f->ended = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* The first page queued and not yet decoded, or NULL; under mu.  Only
 * this thread changes a slot that is not ready, and no one else takes
 * it until it is. */
static struct slot *to_decode(struct fetch *f)
{
	int i;

	for (i = 0; i < f->count; i++) {
		struct slot *s = &f->q[(f->head + i) % AHEAD];

		if (!s->ready)
			return s;
	}
	return NULL;
}

static void *decode_run(void *arg)
{
	struct fetch *f = arg;
	struct slot *s;

	bs_os_thread_yield_priority();
	pthread_mutex_lock(&f->mu);
	for (;;) {
		while ((s = to_decode(f)) == NULL && !f->ended && !f->stop)
			pthread_cond_wait(&f->cv, &f->mu);
		if (s == NULL || f->stop)
			break;
		pthread_mutex_unlock(&f->mu);
		slot_decode(f, s);
		pthread_mutex_lock(&f->mu);
		s->ready = 1;
		if (s->rc == BS_OK) {
			f->learned = s->clock;
			f->have_learned = 1;
		}
		pthread_cond_broadcast(&f->cv);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* Start fetching at cursor, the first page of at most first changes and
 * the others of at most page. */
static int fetch_start(struct fetch *f, struct bs__round *r, int64_t cursor,
		       unsigned first, unsigned page)
{
	pthread_condattr_t ca;
	int ok;

	memset(f, 0, sizeof(*f));
	f->net = &r->net;
	/* Without a pool, pages' trees come from fresh memory: slower,
	 * not wrong. */
	f->pool = bs__json_pool_new();
	f->cursor = cursor;
	f->limit = first;
	f->page = page;
	if (pthread_condattr_init(&ca) != 0) {
		bs__json_pool_free(f->pool);
		return bs__error_code(BS_ENOMEM);
	}
	ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	     pthread_cond_init(&f->cv, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok) {
		bs__json_pool_free(f->pool);
		return bs__error_code(BS_ENOMEM);
	}
	if (pthread_mutex_init(&f->mu, NULL) != 0) {
		pthread_cond_destroy(&f->cv);
		bs__json_pool_free(f->pool);
		return bs__error_code(BS_ENOMEM);
	}
	/* The decoder first: the fetcher decodes in place without it. */
	f->decoding = pthread_create(&f->decoder, NULL, decode_run, f) == 0;
	f->running = pthread_create(&f->thread, NULL, fetch_run, f) == 0;
	return BS_OK;
}

/* Under mu: whether the next page is there to take, or the end. */
static int page_ready(const struct fetch *f)
{
	return f->count > 0 ? f->q[f->head].ready : f->ended;
}

/* Whether a page (or the end of fetching) is there, waiting up to ms
 * for it.  Without a thread, a page is always to be had. */
static int fetch_ready(struct fetch *f, long ms)
{
	struct timespec until;
	int ready;

	if (!f->running)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&f->mu);
	while (!page_ready(f) &&
	       pthread_cond_timedwait(&f->cv, &f->mu, &until) == 0)
		;
	ready = page_ready(f);
	pthread_mutex_unlock(&f->mu);
	return ready;
}

/* The next page, moved to *out (which the caller frees), with what its
 * answer taught about the hub's clock (*clock is left alone when the
 * page failed); only asked for while the pages so far said more
 * follow. */
static int fetch_wait(struct fetch *f, struct bs__resp *out,
		      struct bs__hub_clock *clock)
{
	struct slot s;

	memset(out, 0, sizeof(*out));
	if (!f->running) {
		fetch_one(f, &s);
		if (!s.ready)
			decode_here(f, &s);
	} else {
		pthread_mutex_lock(&f->mu);
		while (!page_ready(f))
			pthread_cond_wait(&f->cv, &f->mu);
		if (f->count == 0) {
			pthread_mutex_unlock(&f->mu);
			return bs__error(BS_ENETWORK, "the hub's pages ended "
					 "early");
		}
		s = f->q[f->head];
		f->head = (f->head + 1) % AHEAD;
		f->count--;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
	}
	*out = s.resp;
	if (s.rc != BS_OK)
		return bs__error(s.rc, "%s", s.msg);
	*clock = s.clock;
	return BS_OK;
}

/* Hand an applied page to the thread to free (or free it here). */
static void fetch_trash(struct fetch *f, struct bs__resp *page)
{
	int kept = 0;

	if (f->running) {
		pthread_mutex_lock(&f->mu);
		if (f->ntrash < (int)BS__ARRAY_LEN(f->trash)) {
			f->trash[f->ntrash++] = *page;
			kept = 1;
		}
		pthread_mutex_unlock(&f->mu);
	}
	if (!kept)
		bs__resp_free(page);
	memset(page, 0, sizeof(*page));
}

/* Stop fetching and let go of every page not taken, and of the pool
 * their trees came from (the page the pull holds is freed first); a
 * request or a decoding under way is finished first. */
static void fetch_free(struct fetch *f)
{
	int i;

	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	if (f->running)
		pthread_join(f->thread, NULL);
	if (f->decoding)
		pthread_join(f->decoder, NULL);
	f->running = f->decoding = 0;
	for (i = 0; i < f->count; i++) {
		struct slot *s = &f->q[(f->head + i) % AHEAD];

		bs__raw_free(&s->raw);
		bs__resp_free(&s->resp);
	}
	for (i = 0; i < f->ntrash; i++)
		bs__resp_free(&f->trash[i]);
	f->count = f->ntrash = 0;
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	bs__json_pool_free(f->pool);
	f->pool = NULL;
}

/*
 * How long a batch waits for the next page before it indexes the text
 * added so far.  Indexing joins the full-text tables to the transaction,
 * and from then on every statement of the batch that opens a savepoint
 * calls FTS5 twice, which costs a pull about a tenth of its time: worth
 * it to fill a wait on a slow link, not to fill the short gaps between
 * pages that come as fast as they are applied.
 */
#define INDEX_AFTER_MS 20

static long index_after_ms = -1; /* -1: INDEX_AFTER_MS */

void bs__sync_index_after(long ms)
{
	index_after_ms = ms;
}

/*
 * Whether the next page arrives in time for the batch to take it.  While
 * it is still on its way after a short wait, the text the batch added so
 * far is indexed; if that fails, p->failed says so and the batch is to
 * be rolled back.
 */
static int batch_wait(struct page *p, struct fetch *f)
{
	long wait = batch_wait_ms < 0 ? FETCH_WAIT_MS : batch_wait_ms;
	long first = index_after_ms < 0 ? INDEX_AFTER_MS : index_after_ms;
	int rc;

	if (first > wait)
		first = wait;
	if (fetch_ready(f, first))
		return 1;
	if (first == wait)
		return 0;
	stmts_reset(p);
	if ((rc = bs__sync_exec(p->db, fts_advance, "index pulled text"))) {
		p->failed = rc;
		return 1;
	}
	return fetch_ready(f, wait - first);
}

/* Commits wait for the disk again (store.c's setting); rc, the pull's
 * result, and its message stand.  If the setting cannot be made, the
 * next time the store opens makes it. */
static int restore_sync(struct page *p, int rc)
{
	char msg[600];

	snprintf(msg, sizeof(msg), "%s", bs_last_error());
	sqlite3_exec(p->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	return rc == BS_OK ? BS_OK : bs__error(rc, "%s", msg);
}

int bs__sync_pull(struct bs__round *r)
{
	struct page p;
	struct fetch f;
	struct bs__resp resp;
	struct bs__hub_clock clock;
	const cJSON *changes;
	int64_t cursor, next;
	int rc, i, more, have, stuck, taken = 0;

	memset(&resp, 0, sizeof(resp));
	if ((rc = bs__ss_int(r->db, BS__SK_CURSOR, &cursor, &have)) != BS_OK)
		return rc;
	memset(&p, 0, sizeof(p));
	p.r = r;
	p.db = r->db;
	/* What a pull writes can be pulled again, and its cursor rolls back
	 * with it: its commits need not wait for the disk (the store's
	 * own writes, replies and answers, do). */
	if ((rc = bs__sync_exec(p.db, "PRAGMA synchronous=NORMAL",
				"apply pulled changes")) != BS_OK)
		return rc;
	/* A store's first pull starts with a small page, so that applying
	 * starts at once; later pulls are mostly one page, and one request
	 * saves a round trip on a slow link. */
	p.first = cursor == 0;
	if ((rc = fetch_start(&f, r, cursor,
			      cursor == 0 && r->o.page > FIRST_PAGE ?
			      FIRST_PAGE : r->o.page, r->o.page)) != BS_OK)
		return restore_sync(&p, rc);
	for (;;) {
		/* The page before is applied: its text is no longer bound. */
		fetch_trash(&f, &resp);
		if ((rc = fetch_wait(&f, &resp, &clock)) != BS_OK)
			break;
		taken = 1;
		if (bs__wire_array(&changes, resp.doc, "changes",
				   BS__WIRE_MAX_PAGE, 0) ||
		    bs__wire_int(&next, NULL, resp.doc, "cursor", 0,
				 INT64_MAX / 2, 0) ||
		    bs__wire_bool(&more, resp.doc, "more", 0)) {
			rc = bs__error(BS_ENETWORK, "the hub's page is "
				       "malformed: %s", bs_last_error());
			break;
		}
		if ((rc = check_page(changes, cursor, next)) != BS_OK)
			break;
		stuck = more && next == cursor;
		if ((!p.open && (rc = batch_begin(&p)) != BS_OK) ||
		    (rc = batch_add(&p, changes, next, &clock)) != BS_OK)
			break;
		if (!more || stuck ||
		    bs_os_monotonic_ns() - p.batch_t0 >= batch_ns ||
		    !batch_wait(&p, &f)) {
			if ((rc = batch_commit(&p)) != BS_OK)
				break;
		} else if (p.failed) {
			rc = batch_fail(&p, p.failed);
			break;
		}
		progress(r, r->rep->changes + (p.open ? p.batch_changes : 0),
			 next, more);
		if (!more)
			break;
		if (stuck) {
			rc = bs__error(BS_ENETWORK, "the hub says more changes "
				       "follow but its cursor did not move");
			break;
		}
		cursor = next;
	}
	rc = batch_end(&p, rc);
	rc = restore_sync(&p, rc);
	/* The page's tree goes back to the pool before the pool goes. */
	bs__resp_free(&resp);
	fetch_free(&f);
	/* Pages decoded apart taught their own copy of the clock; the
	 * round reports and keeps the last good page's (a failed answer
	 * after it would only have measured the same offset again). */
	if (taken)
		r->net.clock = clock;
	stmts_free(&p);
	for (i = 0; i < (int)BS__ARRAY_LEN(p.batch_trigger); i++)
		bs__free(p.batch_trigger[i]);
	bs__resp_free(&resp);
	return rc;
}
