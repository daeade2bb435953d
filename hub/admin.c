/*
 * admin.c - the head office's commands, run against the same database
 * the server uses (several may run while it serves: each is a few
 * short transactions).  enroll-code, devices, revoke; import of the
 * head-office export (schema/import.md); assign and move, head office's
 * own changes, through the same history and change numbering as a
 * device's push; export of responses and history; the report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/core/common.h"
#include "agent/core/json.h"
#include "agent/core/sla.h"
#include "agent/core/utf8.h"
#include "hub/admin.h"
#include "hub/hub.h"
#include "platform/os.h"

#define LINE_MAX_BYTES ((size_t)1 << 20)

int bs__hub_admin_enroll_code(bs_hub_store *st, const char *dir,
			      const char *branch, const char *staff,
			      const char *role, int64_t ttl_ms)
{
	struct bs_hub h;
	char code[BS__WIRE_CODE_TEXT_LEN + 1];
	int64_t now = bs_os_now_ms();
	int rc;

	memset(&h, 0, sizeof(h));
	if ((rc = bs__hub_pki_load_ca(&h, dir)) != BS_OK)
		goto cleanup;
	if ((rc = bs__hub_code_new(st, h.ca_der, h.ca_der_len, code, branch,
				   staff, role, now, ttl_ms)) != BS_OK)
		goto cleanup;
	printf("%s\n", code);
	fprintf(stderr, "one-time code for %s at %s (%s), valid %lld "
		"minutes\n", staff, branch, role,
		(long long)(ttl_ms / 60000));
cleanup:
	bs__free(h.ca_der);
	bs__free(h.ca_pem);
	return rc;
}

int bs__hub_admin_devices(bs_hub_store *st)
{
	struct bs_hub_res *r = NULL;
	bs_hub_conn *c = NULL;
	int rc, i;

	if ((rc = bs__hub_conn_get(&c, st)) != BS_OK)
		return rc;
	rc = bs__hub_q(c, &r, NULL, "SELECT id, branch, staff, role, "
		       "enrolled_ms, coalesce(last_seen_ms, 0), "
		       "revoked_ms FROM device ORDER BY branch, staff, id", "");
	if (rc == BS_OK) {
		printf("%-36s  %-10s %-12s %-8s %-15s %-15s %s\n", "DEVICE",
		       "BRANCH", "STAFF", "ROLE", "ENROLLED_MS",
		       "LAST_SEEN_MS", "STATE");
		for (i = 0; i < r->nrows; i++)
			printf("%-36s  %-10s %-12s %-8s %-15s %-15s %s\n",
			       bs__hub_text(r, i, 0), bs__hub_text(r, i, 1),
			       bs__hub_text(r, i, 2), bs__hub_text(r, i, 3),
			       bs__hub_text(r, i, 4), bs__hub_text(r, i, 5),
			       bs__hub_text(r, i, 6) ? "revoked" : "active");
	}
	bs__hub_res_free(r);
	bs__hub_conn_put(c);
	return rc;
}

int bs__hub_admin_revoke(bs_hub_store *st, const char *device)
{
	bs_hub_conn *c = NULL;
	int rc, n = 0;

	if ((rc = bs__hub_conn_get(&c, st)) != BS_OK)
		return rc;
	rc = bs__hub_q(c, NULL, &n, "UPDATE device SET revoked_ms = $2 WHERE "
		       "id = $1 AND revoked_ms IS NULL", "ti", device,
		       bs_os_now_ms());
	if (rc == BS_OK && n == 0)
		rc = bs__error(BS_ENOTFOUND, "no active device %s", device);
	bs__hub_conn_put(c);
	if (rc == BS_OK)
		fprintf(stderr, "device %s revoked: it is refused from now on "
			"and wipes itself at its next contact\n", device);
	return rc;
}

/* The id of the ticket named name (id or reference), into out. */
static int resolve(bs_hub_conn *c, const char *name,
		   char out[BS__UUID_TEXT_LEN + 1])
{
	struct bs_hub_res *r = NULL;
	int rc;

	rc = bs__hub_q(c, &r, NULL, "SELECT id FROM ticket WHERE id = $1 OR "
		       "ref = $1", "t", name);
	if (rc == BS_OK && r->nrows != 1)
		rc = bs__error(BS_ENOTFOUND, "no ticket %s", name);
	if (rc == BS_OK)
		snprintf(out, BS__UUID_TEXT_LEN + 1, "%s",
			 bs__hub_text(r, 0, 0));
	bs__hub_res_free(r);
	return rc;
}

int bs__hub_admin_move(bs_hub_store *st, const char *ticket,
		       const char *state, const char *reason,
		       const char *target)
{
	char id[BS__UUID_TEXT_LEN + 1], tid[BS__UUID_TEXT_LEN + 1];
	bs_hub_conn *c = NULL;
	enum bs__status to;
	int rc;

	if (bs__status_parse(&to, state) != BS_OK)
		return bs__error(BS_EINVAL, "'%s' is not a ticket state "
				 "(schema/states.md)", state);
	if ((rc = bs__hub_conn_get(&c, st)) != BS_OK)
		return rc;
	if ((rc = bs__hub_begin(c, 1)) != BS_OK ||
	    (rc = resolve(c, ticket, id)) != BS_OK ||
	    (target != NULL && (rc = resolve(c, target, tid)) != BS_OK) ||
	    (rc = bs__hub_ho_move(c, id, to, reason, target ? tid : NULL,
				  NULL, "head-office", bs_os_now_ms())) !=
		    BS_OK ||
	    (rc = bs__hub_commit(c)) != BS_OK)
		goto cleanup;
	printf("%s %s\n", id, state);
cleanup:
	bs__hub_conn_put(c);
	return rc;
}

int bs__hub_admin_assign(bs_hub_store *st, const char *ticket,
			 const char *branch, const char *staff)
{
	struct bs_hub_res *r = NULL;
	struct bs_hub_who who;
	char id[BS__UUID_TEXT_LEN + 1], hlc[BS__HLC_TEXT_LEN + 1];
	char *ob = NULL, *oa = NULL;
	bs_hub_conn *c = NULL;
	enum bs__status s;
	cJSON *body = NULL;
	int64_t now = bs_os_now_ms(), seq;
	int rc;

	if (!bs__wire_is_code(branch) ||
	    (staff != NULL && !bs__wire_is_code(staff)))
		return bs__error(BS_EINVAL, "branch and staff must be codes");
	if ((rc = bs__hub_conn_get(&c, st)) != BS_OK)
		return rc;
	if ((rc = bs__hub_begin(c, 1)) != BS_OK ||
	    (rc = resolve(c, ticket, id)) != BS_OK)
		goto cleanup;
	rc = bs__hub_q(c, &r, NULL, "SELECT status, branch, assignee FROM "
		       "ticket WHERE id = $1", "t", id);
	if (rc != BS_OK)
		goto cleanup;
	bs__status_parse(&s, bs__hub_text(r, 0, 0));
	/* A ticket not yet with a branch (or sent back for re-routing) is
	 * dispatched: the state machine's edge, with its checks. */
	if (s == BS__STATUS_RECEIVED || s == BS__STATUS_TRANSFER_REQUESTED ||
	    s == BS__STATUS_REVIEW) {
		if ((rc = bs__hub_ho_move(c, id, BS__STATUS_DISPATCHED, NULL,
					  NULL, branch, "head-office", now)) !=
		    BS_OK)
			goto cleanup;
		bs__hub_res_free(r);
		rc = bs__hub_q(c, &r, NULL, "SELECT status, branch, assignee "
			       "FROM ticket WHERE id = $1", "t", id);
		if (rc != BS_OK)
			goto cleanup;
	}
	if ((bs__hub_text(r, 0, 1) &&
	     (ob = bs__strdup(bs__hub_text(r, 0, 1))) == NULL) ||
	    (bs__hub_text(r, 0, 2) &&
	     (oa = bs__strdup(bs__hub_text(r, 0, 2))) == NULL)) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if ((rc = bs__hub_change_seq(c, &seq)) != BS_OK ||
	    (rc = bs__hub_q(c, NULL, NULL, "UPDATE ticket SET branch = $2, "
			    "assignee = $3 WHERE id = $1", "ttt", id, branch,
			    staff)) != BS_OK)
		goto cleanup;
	bs__hub_stamp(hlc, now);
	body = cJSON_CreateObject();
	if (body == NULL || bs__json_put_str(body, "branch", branch) ||
	    bs__json_put_str(body, "assignee", staff) ||
	    bs__json_put_str(body, "old_branch", ob) ||
	    bs__json_put_str(body, "old_assignee", oa)) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	who.op_id = NULL;
	who.author = "head-office";
	who.device_id = NULL;
	who.device_ms = now;
	who.hub_ms = now;
	who.hlc = hlc;
	if ((rc = bs__hub_q(c, NULL, NULL, "INSERT INTO ticket_clock "
			    "(ticket_id, field, hlc, node) VALUES ($1, "
			    "'assignee', $2, 'hub') ON CONFLICT (ticket_id, "
			    "field) DO UPDATE SET hlc = excluded.hlc, node = "
			    "excluded.node", "tt", id, hlc)) != BS_OK ||
	    (rc = bs__hub_history_add(c, id, "ticket.assign", &who, body)) !=
		    BS_OK ||
	    (rc = bs__hub_ticket_touch(c, id, seq, ob, oa, 0, now)) !=
		    BS_OK ||
	    (rc = bs__hub_commit(c)) != BS_OK)
		goto cleanup;
	printf("%s %s %s\n", id, branch, staff ? staff : "-");
cleanup:
	cJSON_Delete(body);
	bs__free(ob);
	bs__free(oa);
	bs__hub_res_free(r);
	bs__hub_conn_put(c);
	return rc;
}

/* --- import --------------------------------------------------------- */

static const char *js(const cJSON *o, const char *k)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

static int64_t ji(const cJSON *o, const char *k, int64_t dflt)
{
	int64_t v;

	if (bs__json_int(cJSON_GetObjectItemCaseSensitive(o, k), 0,
			 BS__HLC_MAX_MS, &v))
		return v;
	return dflt;
}

static int import_ticket(bs_hub_conn *c, const cJSON *o, int64_t now)
{
	struct bs_hub_res *r = NULL;
	struct bs_hub_who who;
	enum bs__status s;
	const char *id = js(o, "id");
	char *ob = NULL, *oa = NULL, hlc[BS__HLC_TEXT_LEN + 1];
	int64_t seq;
	int rc, is_new;

	if (id == NULL || bs__uuid_parse(NULL, id, strlen(id)) != BS_OK ||
	    js(o, "channel") == NULL || js(o, "status") == NULL ||
	    bs__status_parse(&s, js(o, "status")) != BS_OK ||
	    ji(o, "t0_ms", -1) < 0)
		return bs__error(BS_EINVAL, "a ticket needs an id (UUIDv7), "
				 "channel, status and t0_ms");
	if ((rc = bs__hub_q(c, &r, NULL, "SELECT branch, assignee FROM ticket "
			    "WHERE id = $1", "t", id)) != BS_OK)
		return rc;
	is_new = r->nrows == 0;
	if (!is_new && ((bs__hub_text(r, 0, 0) &&
			 !(ob = bs__strdup(bs__hub_text(r, 0, 0)))) ||
			(bs__hub_text(r, 0, 1) &&
			 !(oa = bs__strdup(bs__hub_text(r, 0, 1)))))) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if ((rc = bs__hub_change_seq(c, &seq)) != BS_OK)
		goto cleanup;
	rc = bs__hub_q(c, NULL, NULL,
		"INSERT INTO ticket (id, ref, external_ref, customer_id, "
		"channel, category_code, risk_class, priority, status, "
		"subject, description, transcript, branch, assignee, "
		"sla_profile, t0_ms, created_ms, updated_ms, version, seq, "
		"scope_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, "
		"coalesce($8, 'normal'), $9, coalesce($10, ''), $11, $12, $13, "
		"$14, $15, $16, $17, $17, 1, $18, $18) ON CONFLICT (id) DO "
		"UPDATE SET ref = excluded.ref, external_ref = "
		"excluded.external_ref, customer_id = excluded.customer_id, "
		"category_code = excluded.category_code, risk_class = "
		"excluded.risk_class, priority = excluded.priority, branch = "
		"excluded.branch, assignee = excluded.assignee, sla_profile = "
		"excluded.sla_profile", "tttttttttttttttiii", id, js(o, "ref"),
		js(o, "external_ref"), js(o, "customer_id"), js(o, "channel"),
		js(o, "category"), js(o, "risk_class"), js(o, "priority"),
		js(o, "status"), js(o, "subject"), js(o, "description"),
		js(o, "transcript"), js(o, "branch"), js(o, "assignee"),
		js(o, "sla_profile"), ji(o, "t0_ms", now), now, seq);
	if (rc != BS_OK)
		goto cleanup;
	bs__hub_stamp(hlc, now);
	who.op_id = NULL;
	who.author = "import";
	who.device_id = NULL;
	who.device_ms = now;
	who.hub_ms = now;
	who.hlc = hlc;
	if ((rc = bs__hub_history_add(c, id, "ticket.import", &who, o)) !=
	    BS_OK)
		goto cleanup;
	rc = bs__hub_ticket_touch(c, id, seq, ob, oa, is_new, now);
cleanup:
	bs__free(ob);
	bs__free(oa);
	bs__hub_res_free(r);
	return rc;
}

static int import_line(bs_hub_conn *c, const cJSON *o, int64_t now)
{
	const char *type = js(o, "type");
	char *doc = NULL;
	int64_t seq;
	int rc;

	if (type == NULL)
		return bs__error(BS_EINVAL, "a line needs a \"type\"");
	if (strcmp(type, "header") == 0) {
		if (js(o, "format") == NULL ||
		    strcmp(js(o, "format"), "branchsync-export") != 0 ||
		    ji(o, "version", 0) != 1)
			return bs__error(BS_EINVAL, "not a branchsync-export "
					 "of version 1");
		return BS_OK;
	}
	if (strcmp(type, "ticket") == 0)
		return import_ticket(c, o, now);
	if (strcmp(type, "customer") == 0) {
		if (js(o, "id") == NULL)
			return bs__error(BS_EINVAL, "a customer needs an id");
		if ((rc = bs__hub_change_seq(c, &seq)) != BS_OK)
			return rc;
		return bs__hub_q(c, NULL, NULL,
			"INSERT INTO customer (id, name_masked, phone_masked, "
			"id_number_masked, segment, branch, created_ms, "
			"updated_ms, seq) VALUES ($1, coalesce($2, ''), $3, "
			"$4, $5, $6, $7, $7, $8) ON CONFLICT (id) DO UPDATE SET "
			"name_masked = excluded.name_masked, phone_masked = "
			"excluded.phone_masked, id_number_masked = "
			"excluded.id_number_masked, segment = excluded.segment, "
			"branch = excluded.branch, updated_ms = "
			"excluded.updated_ms, seq = excluded.seq",
			"ttttttii", js(o, "id"), js(o, "name_masked"),
			js(o, "phone_masked"), js(o, "id_number_masked"),
			js(o, "segment"), js(o, "branch"), now, seq);
	}
	if (strcmp(type, "archive") == 0) {
		if (js(o, "id") == NULL || js(o, "customer_id") == NULL)
			return bs__error(BS_EINVAL, "an archive entry needs "
					 "an id and a customer_id");
		return bs__hub_q(c, NULL, NULL,
			"INSERT INTO customer_archive (id, customer_id, "
			"ticket_id, ticket_ref, channel, received_ms, "
			"closed_ms, category_code, summary, outcome, branch) "
			"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
			"ON CONFLICT (id) DO NOTHING", "tttttnntttt",
			js(o, "id"), js(o, "customer_id"), js(o, "ticket_id"),
			js(o, "ticket_ref"), js(o, "channel"),
			ji(o, "received_ms", -1), ji(o, "closed_ms", -1),
			js(o, "category"), js(o, "summary"), js(o, "outcome"),
			js(o, "branch"));
	}
	if (strcmp(type, "activity") == 0) {
		const char *id = js(o, "id"), *tid = js(o, "ticket_id");
		char hlc[BS__HLC_TEXT_LEN + 1];

		if (id == NULL || tid == NULL || js(o, "kind") == NULL)
			return bs__error(BS_EINVAL, "an activity needs id, "
					 "ticket_id and kind");
		if ((rc = bs__hub_change_seq(c, &seq)) != BS_OK)
			return rc;
		bs__hlc_format(hlc, bs__hlc_make(ji(o, "device_time_ms", now),
						 0));
		rc = bs__hub_q(c, NULL, NULL,
			"INSERT INTO activity (id, ticket_id, kind, visibility, "
			"body, author, device_time_ms, hub_time_ms, hlc, seq) "
			"VALUES ($1, $2, $3, coalesce($4, 'internal'), $5, "
			"coalesce($6, 'head-office'), $7, $8, $9, $10) ON "
			"CONFLICT (id) DO NOTHING", "ttttttiiti", id, tid,
			js(o, "kind"), js(o, "visibility"), js(o, "body"),
			js(o, "author"), ji(o, "device_time_ms", now),
			ji(o, "hub_time_ms", now), hlc, seq);
		if (rc == BS_OK)
			rc = bs__hub_q(c, NULL, NULL, "UPDATE ticket SET seq = "
				       "$2 WHERE id = $1", "ti", tid, seq);
		return rc;
	}
	/* Everything else is head office's catalogue: categories,
	 * templates, SLA profiles, branches, staff. */
	{
		const char *key = js(o, "code") ? js(o, "code") : js(o, "id");

		if (key == NULL)
			return bs__error(BS_EINVAL, "a %s line needs a code or "
					 "an id", type);
		if ((rc = bs__json_print(&doc, o)) != BS_OK ||
		    (rc = bs__hub_change_seq(c, &seq)) != BS_OK) {
			bs__free(doc);
			return rc;
		}
		rc = bs__hub_q(c, NULL, NULL, "INSERT INTO catalogue (kind, "
			       "id, doc, seq) VALUES ($1, $2, $3, $4) ON "
			       "CONFLICT (kind, id) DO UPDATE SET doc = "
			       "excluded.doc, seq = excluded.seq", "ttti",
			       type, key, doc, seq);
		bs__free(doc);
		return rc;
	}
}

int bs__hub_admin_import(bs_hub_store *st, const char *file)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	bs_hub_conn *c = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0, count = 0;
	int64_t now = bs_os_now_ms();
	int rc;

	if (f == NULL)
		return bs__error(BS_ENOTFOUND, "cannot open %s", file);
	bs__json_init();
	if ((rc = bs__hub_conn_get(&c, st)) != BS_OK ||
	    (rc = bs__hub_begin(c, 1)) != BS_OK)
		goto cleanup;
	/* One transaction: an import lands whole or not at all. */
	while ((n = getline(&line, &cap, f)) > 0) {
		cJSON *o;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		if ((size_t)n > LINE_MAX_BYTES ||
		    !bs__utf8_valid(line, (size_t)n, NULL)) {
			rc = bs__error(BS_EINVAL, "%s:%ld: not UTF-8 or longer "
				       "than 1 MiB", file, lineno);
			goto cleanup;
		}
		o = cJSON_ParseWithLength(line, (size_t)n);
		if (!cJSON_IsObject(o)) {
			cJSON_Delete(o);
			rc = bs__error(BS_EINVAL, "%s:%ld: not a JSON object",
				       file, lineno);
			goto cleanup;
		}
		rc = import_line(c, o, now);
		cJSON_Delete(o);
		if (rc != BS_OK) {
			char msg[300];

			snprintf(msg, sizeof(msg), "%s", bs_last_error());
			rc = bs__error(rc, "%s:%ld: %s; nothing was imported",
				       file, lineno, msg);
			goto cleanup;
		}
		count++;
	}
	if ((rc = bs__hub_commit(c)) != BS_OK)
		goto cleanup;
	fprintf(stderr, "imported %ld records from %s\n", count, file);
cleanup:
	if (c != NULL)
		bs__hub_rollback(c);
	bs__hub_conn_put(c);
	free(line);
	if (f != stdin)
		fclose(f);
	return rc;
}

/* --- export and report ---------------------------------------------- */

/* Print each row of sql as a JSON line with type and cols. */
static int dump(bs_hub_conn *c, const char *type, const char *sql,
		const char *const *cols, const char *int_cols)
{
	struct bs_hub_res *r = NULL;
	int rc, i, k;

	if ((rc = bs__hub_q(c, &r, NULL, sql, "")) != BS_OK)
		return rc;
	for (i = 0; i < r->nrows && rc == BS_OK; i++) {
		cJSON *o = cJSON_CreateObject();
		char *text = NULL;

		rc = bs__json_put_str(o, "type", type);
		for (k = 0; cols[k] != NULL && rc == BS_OK; k++) {
			const char *v = bs__hub_text(r, i, k);

			if (v == NULL)
				continue;
			if (int_cols[k] == 'i')
				rc = bs__json_put_int(o, cols[k],
						      bs__hub_int(r, i, k, 0));
			else if (int_cols[k] == 'j')
				rc = bs__json_put(o, cols[k], cJSON_Parse(v));
			else
				rc = bs__json_put_str(o, cols[k], v);
		}
		if (rc == BS_OK && (rc = bs__json_print(&text, o)) == BS_OK)
			printf("%s\n", text);
		bs__free(text);
		cJSON_Delete(o);
	}
	bs__hub_res_free(r);
	return rc;
}

int bs__hub_admin_export(bs_hub_store *st)
{
	static const char *const tcols[] = { "id", "ref", "external_ref",
		"status", "branch", "assignee", "outcome", "t0_ms",
		"first_response_ms", "closed_ms", "version", "review", NULL };
	static const char *const acols[] = { "id", "ticket_id", "kind",
		"visibility", "body", "author", "device_id", "device_time_ms",
		"hub_time_ms", "hlc", "from_status", "to_status", NULL };
	static const char *const hcols[] = { "ticket_id", "n", "op_id",
		"action", "author", "device_id", "device_time_ms",
		"hub_time_ms", "hlc", "body", "prev_hash", "hash", NULL };
	static const char *const kcols[] = { "ticket_id", "customer_id",
		"name", "phone", "device_id", "received_ms", NULL };
	static const char *const ccols[] = { "ticket_id", "field", "kept",
		"lost", "kept_hlc", "lost_hlc", "lost_author", "lost_device",
		"op_id", "created_ms", NULL };
	bs_hub_conn *c = NULL;
	int rc;

	bs__json_init();
	if ((rc = bs__hub_conn_get(&c, st)) != BS_OK ||
	    (rc = bs__hub_begin(c, 0)) != BS_OK)
		goto cleanup;
	printf("{\"type\":\"header\",\"format\":\"branchsync-hub-export\","
	       "\"version\":1,\"generated_ms\":%lld}\n",
	       (long long)bs_os_now_ms());
	if ((rc = dump(c, "ticket", "SELECT id, ref, external_ref, status, "
		       "branch, assignee, outcome, t0_ms, first_response_ms, "
		       "closed_ms, version, review FROM ticket ORDER BY id",
		       tcols, "tttttttiiiii")) ||
	    (rc = dump(c, "response", "SELECT id, ticket_id, kind, "
		       "visibility, body, author, device_id, device_time_ms, "
		       "hub_time_ms, hlc, from_status, to_status FROM activity "
		       "WHERE device_id IS NOT NULL OR kind = 'status_change' "
		       "ORDER BY ticket_id, hlc, id", acols, "tttttttiittt")) ||
	    (rc = dump(c, "history", "SELECT ticket_id, n, op_id, action, "
		       "author, device_id, device_time_ms, hub_time_ms, hlc, "
		       "body, prev_hash, hash FROM history ORDER BY "
		       "ticket_id, n", hcols, "tittttiitjtt")) ||
	    (rc = dump(c, "contact", "SELECT ticket_id, customer_id, name, "
		       "phone, device_id, received_ms FROM contact ORDER BY "
		       "ticket_id", kcols, "tttttti")) ||
	    (rc = dump(c, "conflict", "SELECT ticket_id, field, kept, lost, "
		       "kept_hlc, lost_hlc, lost_author, lost_device, op_id, "
		       "created_ms FROM conflict ORDER BY id", ccols,
		       "ttttttttti")))
		goto cleanup;
cleanup:
	bs__hub_conn_put(c);
	return rc;
}

int bs__hub_admin_report(bs_hub_store *st)
{
	struct bs_hub_res *r = NULL;
	bs_hub_conn *c = NULL;
	int64_t now = bs_os_now_ms();
	int rc, i;
	struct row {
		char branch[BS__WIRE_CODE_MAX + 1];
		long tickets, closed, responded, fr_breach, res_breach;
		int64_t fr_total_ms;
	} rows[256], *cur = NULL;
	int nrows = 0;

	if ((rc = bs__hub_conn_get(&c, st)) != BS_OK)
		return rc;
	rc = bs__hub_q(c, &r, NULL, "SELECT coalesce(branch, '-'), priority, "
		       "sla_profile, t0_ms, extension_level, paused_ms_total, "
		       "paused_since_ms, first_response_ms, closed_ms, status "
		       "FROM ticket ORDER BY 1", "");
	if (rc != BS_OK)
		goto cleanup;
	for (i = 0; i < r->nrows; i++) {
		const struct bs__sla_profile *p;
		struct bs__sla_ticket t;
		struct bs__sla_status s;
		enum bs__priority prio;
		enum bs__status status;

		if (cur == NULL || strcmp(cur->branch,
					  bs__hub_text(r, i, 0)) != 0) {
			if (nrows == (int)BS__ARRAY_LEN(rows))
				break;
			cur = &rows[nrows++];
			memset(cur, 0, sizeof(*cur));
			snprintf(cur->branch, sizeof(cur->branch), "%s",
				 bs__hub_text(r, i, 0));
		}
		if (bs__priority_parse(&prio, bs__hub_text(r, i, 1)) != BS_OK)
			prio = BS__PRIORITY_NORMAL;
		p = bs__sla_profile_find(bs__hub_text(r, i, 2) ?
					 bs__hub_text(r, i, 2) : "cn2020");
		if (p == NULL)
			p = bs__sla_profile_find("cn2020");
		bs__sla_ticket_init(&t, bs__hub_int(r, i, 3, now), prio);
		t.ext_level = (int)bs__hub_int(r, i, 4, 0);
		t.paused_ms = bs__hub_int(r, i, 5, 0);
		t.pause_start_ms = bs__hub_int(r, i, 6, BS__SLA_NONE);
		t.first_response_at = bs__hub_int(r, i, 7, BS__SLA_NONE);
		t.stopped_at = bs__hub_int(r, i, 8, BS__SLA_NONE);
		cur->tickets++;
		if (bs__status_parse(&status, bs__hub_text(r, i, 9)) ==
			    BS_OK &&
		    bs__status_is_final(status))
			cur->closed++;
		if (t.first_response_at != BS__SLA_NONE) {
			cur->responded++;
			cur->fr_total_ms += t.first_response_at - t.t0_ms;
		}
		if (bs__sla_eval(&s, p, &t, now, BS__TRUST_OK) == BS_OK) {
			if (s.first_response.level == BS__SLA_BREACHED)
				cur->fr_breach++;
			if (s.resolution.level == BS__SLA_BREACHED)
				cur->res_breach++;
		}
	}
	printf("%-10s %8s %8s %9s %10s %14s %9s %9s\n", "BRANCH", "TICKETS",
	       "CLOSED", "CLOSE_%", "RESPONDED", "AVG_FIRST_MIN",
	       "FR_LATE", "RES_LATE");
	for (i = 0; i < nrows; i++)
		printf("%-10s %8ld %8ld %8.1f%% %10ld %14.1f %9ld %9ld\n",
		       rows[i].branch, rows[i].tickets, rows[i].closed,
		       rows[i].tickets ? 100.0 * (double)rows[i].closed /
						 (double)rows[i].tickets : 0.0,
		       rows[i].responded,
		       rows[i].responded ? (double)rows[i].fr_total_ms /
						   (double)rows[i].responded /
						   60000.0 : 0.0,
		       rows[i].fr_breach, rows[i].res_breach);
cleanup:
	bs__hub_res_free(r);
	bs__hub_conn_put(c);
	return rc;
}
