/*
 * ticket.c - what every change of a ticket at the hub does, whoever
 * makes it (a device's push, an admin command): a change number, the
 * version, scope exits when it changes hands, the hash-chained history,
 * the hub's clock and ids, and head office's own transitions.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "agent/core/common.h"
#include "agent/core/json.h"
#include "agent/core/sla.h"
#include "hub/hub.h"
#include "platform/os.h"

static pthread_mutex_t clock_mu = PTHREAD_MUTEX_INITIALIZER;
static struct bs__hlc hub_clock;
static struct bs__uuid_gen hub_ids;

void bs__hub_stamp(char out[BS__HLC_TEXT_LEN + 1], int64_t now_ms)
{
	uint64_t s = 0;

	pthread_mutex_lock(&clock_mu);
	if (bs__hlc_now(&s, &hub_clock, now_ms) != BS_OK)
		s = hub_clock.last;
	pthread_mutex_unlock(&clock_mu);
	bs__hlc_format(out, s);
}

void bs__hub_witness(uint64_t stamp, int64_t now_ms)
{
	pthread_mutex_lock(&clock_mu);
	/* Stamps reaching here passed the future check already. */
	(void)bs__hlc_update(NULL, &hub_clock, stamp, now_ms);
	pthread_mutex_unlock(&clock_mu);
}

int bs__hub_new_id(char out[BS__UUID_TEXT_LEN + 1], int64_t now_ms)
{
	uint8_t rnd[BS__UUID_RANDOM_LEN], u[BS__UUID_LEN];
	int rc;

	if ((rc = bs_os_random(rnd, sizeof(rnd))) != BS_OK)
		return rc;
	pthread_mutex_lock(&clock_mu);
	rc = bs__uuid_next(u, &hub_ids, now_ms, rnd);
	pthread_mutex_unlock(&clock_mu);
	if (rc == BS_OK)
		bs__uuid_format(out, u);
	return rc;
}

int bs__hub_change_seq(bs_hub_conn *c, int64_t *seq)
{
	return bs__hub_next(c, "change", seq);
}

static int same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int scope_exit(bs_hub_conn *c, int64_t seq, const char *ticket_id,
		      const char *branch, const char *assignee,
		      const char *reason)
{
	return bs__hub_q(c, NULL, NULL,
			 "INSERT INTO scope_exit (seq, ticket_id, branch, "
			 "assignee, reason) VALUES ($1, $2, $3, $4, $5)",
			 "itttt", seq, ticket_id, branch, assignee, reason);
}

int bs__hub_ticket_touch(bs_hub_conn *c, const char *ticket_id, int64_t seq,
			 const char *old_branch, const char *old_assignee,
			 int is_new, int64_t now_ms)
{
	struct bs_hub_res *r = NULL;
	const char *nb, *na;
	int rc, moved;

	rc = bs__hub_q(c, &r, NULL, "SELECT branch, assignee FROM ticket "
		       "WHERE id = $1", "t", ticket_id);
	if (rc != BS_OK)
		return rc;
	if (r->nrows != 1) {
		rc = bs__error(BS_ENOTFOUND, "ticket %s not found",
			       ticket_id);
		goto cleanup;
	}
	nb = bs__hub_text(r, 0, 0);
	na = bs__hub_text(r, 0, 1);
	moved = is_new || !same(old_branch, nb) || !same(old_assignee, na);
	if (!is_new && old_branch != NULL && !same(old_branch, nb)) {
		/* The whole branch lost it: managers and its assignee. */
		if ((rc = scope_exit(c, seq, ticket_id, old_branch, "*",
				     "branch")) != BS_OK)
			goto cleanup;
		if (old_assignee != NULL &&
		    (rc = scope_exit(c, seq, ticket_id, old_branch,
				     old_assignee, "branch")) != BS_OK)
			goto cleanup;
	} else if (!is_new && old_branch != NULL && old_assignee != NULL &&
		   !same(old_assignee, na)) {
		if ((rc = scope_exit(c, seq, ticket_id, old_branch,
				     old_assignee, "reassigned")) != BS_OK)
			goto cleanup;
	}
	rc = bs__hub_q(c, NULL, NULL,
		       "UPDATE ticket SET version = version + $2, seq = $3, "
		       "updated_ms = $4, scope_seq = CASE WHEN $5 = 1 THEN $3 "
		       "ELSE scope_seq END WHERE id = $1", "tiiii", ticket_id,
		       (int64_t)(is_new ? 0 : 1), seq, now_ms,
		       (int64_t)moved);
cleanup:
	bs__hub_res_free(r);
	return rc;
}

/* The text an entry's hash covers: fields one per line, none of which
 * can hold a newline (codes, numbers, compact JSON). */
static int entry_hash(char out[65], const char *prev, const char *ticket_id,
		      int64_t n, const char *op_id, const char *action,
		      const char *author, const char *device,
		      int64_t device_ms, int64_t hub_ms, const char *hlc,
		      const char *body)
{
	size_t len = strlen(prev) + strlen(ticket_id) + strlen(action) +
		     strlen(author) + strlen(body) + 256 +
		     (op_id ? strlen(op_id) : 0) +
		     (device ? strlen(device) : 0);
	char *s = bs__malloc(len);
	uint8_t h[32];

	if (s == NULL)
		return bs__error_code(BS_ENOMEM);
	snprintf(s, len, "branchsync-history-1\n%s\n%s\n%lld\n%s\n%s\n%s\n"
		 "%s\n%lld\n%lld\n%s\n%s", prev, ticket_id, (long long)n,
		 op_id ? op_id : "", action, author, device ? device : "",
		 (long long)device_ms, (long long)hub_ms, hlc ? hlc : "",
		 body);
	bs__wire_sha256(h, s, strlen(s));
	bs__free(s);
	bs__wire_hex(out, h, 32);
	return BS_OK;
}

#define GENESIS \
	"0000000000000000000000000000000000000000000000000000000000000000"

int bs__hub_history_add(bs_hub_conn *c, const char *ticket_id,
			const char *action, const struct bs_hub_who *who,
			const cJSON *body)
{
	struct bs_hub_res *r = NULL;
	char *text = NULL, hash[65], prev[65];
	int64_t n;
	int rc;

	if ((rc = bs__json_print(&text, body)) != BS_OK)
		return rc;
	rc = bs__hub_q(c, &r, NULL, "SELECT n, hash FROM history WHERE "
		       "ticket_id = $1 ORDER BY n DESC LIMIT 1", "t",
		       ticket_id);
	if (rc != BS_OK)
		goto cleanup;
	n = r->nrows ? bs__hub_int(r, 0, 0, 0) + 1 : 1;
	snprintf(prev, sizeof(prev), "%s",
		 r->nrows ? bs__hub_text(r, 0, 1) : GENESIS);
	if ((rc = entry_hash(hash, prev, ticket_id, n, who->op_id, action,
			     who->author, who->device_id, who->device_ms,
			     who->hub_ms, who->hlc, text)) != BS_OK)
		goto cleanup;
	rc = bs__hub_q(c, NULL, NULL,
		       "INSERT INTO history (ticket_id, n, op_id, action, "
		       "author, device_id, device_time_ms, hub_time_ms, hlc, "
		       "body, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, "
		       "$6, $7, $8, $9, $10, $11, $12)", "tittttiitttt",
		       ticket_id, n, who->op_id, action, who->author,
		       who->device_id, who->device_ms, who->hub_ms, who->hlc,
		       text, prev, hash);
cleanup:
	bs__hub_res_free(r);
	bs__free(text);
	return rc;
}

int bs__hub_history_verify(bs_hub_conn *c, const char *ticket_id,
			   int64_t *entries)
{
	struct bs_hub_res *r = NULL;
	char prev[65] = GENESIS, hash[65];
	int i, rc;

	*entries = 0;
	rc = bs__hub_q(c, &r, NULL, "SELECT n, op_id, action, author, "
		       "device_id, device_time_ms, hub_time_ms, hlc, body, "
		       "prev_hash, hash FROM history WHERE ticket_id = $1 "
		       "ORDER BY n", "t", ticket_id);
	if (rc != BS_OK)
		return rc;
	for (i = 0; i < r->nrows; i++) {
		const char *sp = bs__hub_text(r, i, 9);

		if (bs__hub_int(r, i, 0, -1) != i + 1 || sp == NULL ||
		    strcmp(sp, prev) != 0) {
			rc = bs__error(BS_EDAMAGED, "history of %s breaks at "
				       "entry %d", ticket_id, i + 1);
			goto cleanup;
		}
		if ((rc = entry_hash(hash, prev, ticket_id, i + 1,
				     bs__hub_text(r, i, 1),
				     bs__hub_text(r, i, 2),
				     bs__hub_text(r, i, 3),
				     bs__hub_text(r, i, 4),
				     bs__hub_int(r, i, 5, 0),
				     bs__hub_int(r, i, 6, 0),
				     bs__hub_text(r, i, 7),
				     bs__hub_text(r, i, 8))) != BS_OK)
			goto cleanup;
		if (bs__hub_text(r, i, 10) == NULL ||
		    strcmp(hash, bs__hub_text(r, i, 10)) != 0) {
			rc = bs__error(BS_EDAMAGED, "history of %s: entry %d "
				       "does not match its hash", ticket_id,
				       i + 1);
			goto cleanup;
		}
		memcpy(prev, hash, sizeof(prev));
	}
	*entries = r->nrows;
cleanup:
	bs__hub_res_free(r);
	return rc;
}

/* --- head office's transitions -------------------------------------- */

int bs__hub_ho_move(bs_hub_conn *c, const char *ticket_id,
		    enum bs__status to, const char *reason,
		    const char *target, const char *branch,
		    const char *author, int64_t now_ms)
{
	struct bs_hub_res *r = NULL;
	struct bs__transition_ctx ctx;
	struct bs__sla_ticket sla;
	const struct bs__sla_profile *prof;
	const struct bs__edge *edge;
	enum bs__status from;
	enum bs__priority prio;
	struct bs_hub_who who;
	char act_id[BS__UUID_TEXT_LEN + 1], hlc[BS__HLC_TEXT_LEN + 1];
	char *old_branch = NULL, *old_assignee = NULL;
	cJSON *body = NULL;
	int64_t seq;
	int rc, ext_level;

	rc = bs__hub_q(c, &r, NULL, "SELECT status, branch, assignee, "
		       "sla_profile, priority, t0_ms, extension_level, "
		       "paused_ms_total, paused_since_ms, first_response_ms, "
		       "closed_ms FROM ticket WHERE id = $1", "t", ticket_id);
	if (rc != BS_OK)
		return rc;
	if (r->nrows != 1) {
		rc = bs__error(BS_ENOTFOUND, "no ticket %s", ticket_id);
		goto cleanup;
	}
	if (bs__status_parse(&from, bs__hub_text(r, 0, 0)) != BS_OK ||
	    bs__priority_parse(&prio, bs__hub_text(r, 0, 4)) != BS_OK) {
		rc = bs__error(BS_EDAMAGED, "ticket %s has a bad status or "
			       "priority", ticket_id);
		goto cleanup;
	}
	prof = bs__sla_profile_find(bs__hub_text(r, 0, 3) ?
				    bs__hub_text(r, 0, 3) : "cn2020");
	if (prof == NULL)
		prof = bs__sla_profile_find("cn2020");
	bs__sla_ticket_init(&sla, bs__hub_int(r, 0, 5, now_ms), prio);
	sla.ext_level = (int)bs__hub_int(r, 0, 6, 0);
	sla.paused_ms = bs__hub_int(r, 0, 7, 0);
	sla.pause_start_ms = bs__hub_int(r, 0, 8, BS__SLA_NONE);
	sla.first_response_at = bs__hub_int(r, 0, 9, BS__SLA_NONE);
	sla.stopped_at = bs__hub_int(r, 0, 10, BS__SLA_NONE);
	memset(&ctx, 0, sizeof(ctx));
	ctx.has_reason = reason != NULL && reason[0] != '\0';
	ctx.has_target = target != NULL;
	ctx.has_branch = branch != NULL ||
			 (to == BS__STATUS_DISPATCHED && bs__hub_text(r, 0, 1));
	/* Head office's command asserts the customer has been told. */
	ctx.customer_notified = 1;
	ctx.ext_granted = sla.ext_level;
	ctx.ext_level = sla.ext_level + 1;
	ctx.ext_max = prof->max_ext;
	if ((rc = bs__state_check(from, to, BS__ACTOR_HO, 0, &ctx)) != BS_OK)
		goto cleanup;
	edge = bs__state_edge(from, to);
	ext_level = (edge->effects & BS__EFF_EXT_DECIDE) ? ctx.ext_level :
							   sla.ext_level;
	if ((rc = bs__sla_apply(&sla, prof, edge->effects, now_ms,
				ext_level)) != BS_OK)
		goto cleanup;
	if (bs__hub_text(r, 0, 1) != NULL &&
	    (old_branch = bs__strdup(bs__hub_text(r, 0, 1))) == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if (bs__hub_text(r, 0, 2) != NULL &&
	    (old_assignee = bs__strdup(bs__hub_text(r, 0, 2))) == NULL) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	if ((rc = bs__hub_change_seq(c, &seq)) != BS_OK)
		goto cleanup;
	rc = bs__hub_q(c, NULL, NULL,
		"UPDATE ticket SET status = $2, merged_into = "
		"coalesce($3, merged_into), branch = coalesce($4, branch), "
		"assignee = CASE WHEN $4 IS NOT NULL AND $4 <> "
		"coalesce(branch, '') THEN NULL ELSE assignee END, "
		"extension_level = $5, paused_ms_total = $6, "
		"paused_since_ms = $7, first_response_ms = $8, "
		"closed_ms = $9 WHERE id = $1", "ttttiinnn", ticket_id,
		bs__status_name(to), target, branch, (int64_t)sla.ext_level,
		sla.paused_ms,
		sla.pause_start_ms == BS__SLA_NONE ? -1 : sla.pause_start_ms,
		sla.first_response_at == BS__SLA_NONE ? -1 :
							sla.first_response_at,
		sla.stopped_at == BS__SLA_NONE ? -1 : sla.stopped_at);
	if (rc != BS_OK)
		goto cleanup;
	if ((rc = bs__hub_new_id(act_id, now_ms)) != BS_OK)
		goto cleanup;
	bs__hub_stamp(hlc, now_ms);
	rc = bs__hub_q(c, NULL, NULL,
		       "INSERT INTO activity (id, ticket_id, kind, visibility, "
		       "body, author, device_id, device_time_ms, hub_time_ms, "
		       "hlc, from_status, to_status, seq) VALUES ($1, $2, "
		       "'status_change', 'internal', $3, $4, NULL, $5, $5, $6, "
		       "$7, $8, $9)", "ttttittti", act_id, ticket_id,
		       reason, author, now_ms, hlc, bs__status_name(from),
		       bs__status_name(to), seq);
	if (rc != BS_OK)
		goto cleanup;
	body = cJSON_CreateObject();
	if (body == NULL || bs__json_put_str(body, "from",
					     bs__status_name(from)) ||
	    bs__json_put_str(body, "to", bs__status_name(to)) ||
	    bs__json_put_str(body, "reason", reason) ||
	    bs__json_put_str(body, "activity", act_id) ||
	    (target && bs__json_put_str(body, "merged_into", target)) ||
	    (branch && bs__json_put_str(body, "branch", branch))) {
		rc = bs__error_code(BS_ENOMEM);
		goto cleanup;
	}
	who.op_id = NULL;
	who.author = author;
	who.device_id = NULL;
	who.device_ms = now_ms;
	who.hub_ms = now_ms;
	who.hlc = hlc;
	if ((rc = bs__hub_history_add(c, ticket_id, "ticket.move", &who,
				      body)) != BS_OK)
		goto cleanup;
	rc = bs__hub_ticket_touch(c, ticket_id, seq, old_branch, old_assignee,
				  0, now_ms);
cleanup:
	cJSON_Delete(body);
	bs__free(old_branch);
	bs__free(old_assignee);
	bs__hub_res_free(r);
	return rc;
}
