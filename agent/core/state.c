/*
 * state.c - the ticket state machine: the table of edges, the check of
 * one transition with its refusal messages, and the merge of a branch
 * transition with what the hub did meanwhile.
 *
 * The table is the single source of truth; schema/states.md describes
 * it row by row and tests/unit/test_state.c holds an independent copy
 * that every pair of statuses, every actor and both connectivity modes
 * are checked against.
 */
#include <string.h>

#include "common.h"
#include "state.h"

static const char *const status_names[BS__STATUS_COUNT] = {
	[BS__STATUS_RECEIVED] = "received",
	[BS__STATUS_DISPATCHED] = "dispatched",
	[BS__STATUS_ACKNOWLEDGED] = "acknowledged",
	[BS__STATUS_IN_PROGRESS] = "in_progress",
	[BS__STATUS_PENDING_EXTERNAL] = "pending_external",
	[BS__STATUS_RESOLUTION_PROPOSED] = "resolution_proposed",
	[BS__STATUS_RETURNED] = "returned",
	[BS__STATUS_TRANSFER_REQUESTED] = "transfer_requested",
	[BS__STATUS_EXTENSION_REQUESTED] = "extension_requested",
	[BS__STATUS_CLOSED] = "closed",
	[BS__STATUS_MERGED] = "merged",
	[BS__STATUS_WITHDRAWN] = "withdrawn",
	[BS__STATUS_REVIEW] = "review",
};

static const char *const actor_names[BS__ACTOR_COUNT] = {
	[BS__ACTOR_HO] = "head_office",
	[BS__ACTOR_BR] = "branch",
	[BS__ACTOR_BR_MANAGER] = "branch_manager",
};

#define S(x) BS__STATUS_##x
#define HO BS__BY_HO
#define BRANCH BS__BY_BRANCH
#define MGR BS__BY_MGR

/* Row shorthands for the edges every open status has. */
#define CLOSE(f) { S(f), S(CLOSED), HO, 0, BS__NEED_REASON, \
		   BS__EFF_STOP, "close a ticket" }
#define MERGE(f) { S(f), S(MERGED), HO, 0, BS__NEED_TARGET, \
		   BS__EFF_STOP, "merge a ticket" }
#define WITHDRAW(f) { S(f), S(WITHDRAWN), HO | BRANCH, 1, \
		      BS__NEED_EVIDENCE, BS__EFF_STOP, \
		      "record a withdrawal" }

static const struct bs__edge edges[] = {
	/* Dispatch and transfer: head office owns assignment. */
	{ S(RECEIVED), S(DISPATCHED), HO, 0, BS__NEED_BRANCH, 0,
	  "dispatch a ticket" },
	{ S(TRANSFER_REQUESTED), S(DISPATCHED), HO, 0, BS__NEED_BRANCH, 0,
	  "dispatch a ticket" },
	{ S(REVIEW), S(DISPATCHED), HO, 0, BS__NEED_BRANCH, 0,
	  "dispatch a ticket" },
	{ S(DISPATCHED), S(TRANSFER_REQUESTED), BRANCH, 1, BS__NEED_REASON,
	  0, "ask for a transfer" },
	{ S(ACKNOWLEDGED), S(TRANSFER_REQUESTED), BRANCH, 1,
	  BS__NEED_REASON, 0, "ask for a transfer" },

	/* The branch takes the ticket and reaches the customer. */
	{ S(RECEIVED), S(ACKNOWLEDGED), BRANCH, 1, 0, 0,
	  "acknowledge a ticket" },
	{ S(DISPATCHED), S(ACKNOWLEDGED), BRANCH, 1, 0, 0,
	  "acknowledge a ticket" },
	{ S(DISPATCHED), S(IN_PROGRESS), BRANCH, 1, 0,
	  BS__EFF_FIRST_RESPONSE, "start work on a ticket" },
	{ S(ACKNOWLEDGED), S(IN_PROGRESS), BRANCH, 1, 0,
	  BS__EFF_FIRST_RESPONSE, "start work on a ticket" },
	{ S(RETURNED), S(IN_PROGRESS), BRANCH, 1, 0, 0,
	  "resume work on a ticket" },
	{ S(REVIEW), S(IN_PROGRESS), BRANCH, 1, 0, 0,
	  "resume work on a ticket" },

	/* External appraisal pauses the resolution clock. */
	{ S(IN_PROGRESS), S(PENDING_EXTERNAL), HO | BRANCH, 1,
	  BS__NEED_REASON | BS__NEED_NOTIFIED, BS__EFF_PAUSE,
	  "put a ticket on hold for an external party" },
	{ S(PENDING_EXTERNAL), S(IN_PROGRESS), HO | BRANCH, 1, 0,
	  BS__EFF_RESUME, "resume work on a ticket" },

	/* The branch proposes; head office closes or returns. */
	{ S(IN_PROGRESS), S(RESOLUTION_PROPOSED), BRANCH, 1,
	  BS__NEED_REASON | BS__NEED_NOTIFIED, 0, "propose a resolution" },
	{ S(PENDING_EXTERNAL), S(RESOLUTION_PROPOSED), BRANCH, 1,
	  BS__NEED_REASON | BS__NEED_NOTIFIED, BS__EFF_RESUME,
	  "propose a resolution" },
	{ S(RESOLUTION_PROPOSED), S(CLOSED), HO, 0, 0, BS__EFF_STOP,
	  "close a ticket" },
	{ S(RESOLUTION_PROPOSED), S(RETURNED), HO, 0, BS__NEED_REASON, 0,
	  "return a proposed resolution" },

	/* Extensions: level 1 by the branch manager, level 2 by HO. */
	{ S(IN_PROGRESS), S(EXTENSION_REQUESTED), BRANCH, 1,
	  BS__NEED_REASON | BS__NEED_NOTIFIED | BS__NEED_EXT_ASK,
	  BS__EFF_EXT_ASK, "ask for an extension" },
	{ S(EXTENSION_REQUESTED), S(IN_PROGRESS), HO | MGR, 0,
	  BS__NEED_EXT_DECIDE, BS__EFF_EXT_DECIDE,
	  "decide an extension request" },

	/* A dispute after closing. */
	{ S(CLOSED), S(REVIEW), HO, 0, BS__NEED_REASON, 0,
	  "reopen a ticket for review" },

	/* Head office may close, merge or record a withdrawal from every
	 * open status; a branch may record a withdrawal with evidence. */
	CLOSE(RECEIVED), CLOSE(DISPATCHED), CLOSE(ACKNOWLEDGED),
	CLOSE(IN_PROGRESS), CLOSE(PENDING_EXTERNAL), CLOSE(RETURNED),
	CLOSE(TRANSFER_REQUESTED), CLOSE(EXTENSION_REQUESTED), CLOSE(REVIEW),
	MERGE(RECEIVED), MERGE(DISPATCHED), MERGE(ACKNOWLEDGED),
	MERGE(IN_PROGRESS), MERGE(PENDING_EXTERNAL),
	MERGE(RESOLUTION_PROPOSED), MERGE(RETURNED),
	MERGE(TRANSFER_REQUESTED), MERGE(EXTENSION_REQUESTED), MERGE(REVIEW),
	WITHDRAW(RECEIVED), WITHDRAW(DISPATCHED), WITHDRAW(ACKNOWLEDGED),
	WITHDRAW(IN_PROGRESS), WITHDRAW(PENDING_EXTERNAL),
	WITHDRAW(RESOLUTION_PROPOSED), WITHDRAW(RETURNED),
	WITHDRAW(TRANSFER_REQUESTED), WITHDRAW(EXTENSION_REQUESTED),
	WITHDRAW(REVIEW),
};

#undef S
#undef HO
#undef BRANCH
#undef MGR
#undef CLOSE
#undef MERGE
#undef WITHDRAW

const char *bs__status_name(enum bs__status s)
{
	if ((unsigned)s >= BS__STATUS_COUNT)
		return "unknown";
	return status_names[s];
}

int bs__status_parse(enum bs__status *out, const char *name)
{
	int i;

	for (i = 0; name != NULL && i < BS__STATUS_COUNT; i++) {
		if (strcmp(name, status_names[i]) == 0) {
			*out = (enum bs__status)i;
			return BS_OK;
		}
	}
	return bs__error(BS_EINVAL, "unknown ticket status '%.40s'",
			 name ? name : "");
}

const char *bs__actor_name(enum bs__actor a)
{
	if ((unsigned)a >= BS__ACTOR_COUNT)
		return "unknown";
	return actor_names[a];
}

int bs__actor_parse(enum bs__actor *out, const char *name)
{
	int i;

	for (i = 0; name != NULL && i < BS__ACTOR_COUNT; i++) {
		if (strcmp(name, actor_names[i]) == 0) {
			*out = (enum bs__actor)i;
			return BS_OK;
		}
	}
	return bs__error(BS_EINVAL, "unknown actor '%.40s'", name ? name : "");
}

int bs__status_is_final(enum bs__status s)
{
	return s == BS__STATUS_CLOSED || s == BS__STATUS_MERGED ||
	       s == BS__STATUS_WITHDRAWN;
}

const struct bs__edge *bs__state_edges(size_t *n)
{
	*n = BS__ARRAY_LEN(edges);
	return edges;
}

const struct bs__edge *bs__state_edge(enum bs__status from,
				      enum bs__status to)
{
	size_t i;

	for (i = 0; i < BS__ARRAY_LEN(edges); i++)
		if (edges[i].from == from && edges[i].to == to)
			return &edges[i];
	return NULL;
}

/* Why a transition is refused; the messages live in refuse(). */
enum why {
	WHY_OK,
	WHY_SAME,
	WHY_NO_EDGE,
	WHY_ACTOR,
	WHY_HO_OFFLINE,
	WHY_ONLINE_ONLY,
	WHY_REASON,
	WHY_EVIDENCE,
	WHY_NOTIFIED,
	WHY_BRANCH,
	WHY_TARGET,
	WHY_EXT_NONE,
	WHY_EXT_LEVEL,
	WHY_EXT_RANK,
};

static int offline_ok(const struct bs__edge *e, enum bs__actor who,
		      int offline)
{
	if (!offline)
		return 1;
	return who != BS__ACTOR_HO && e->offline;
}

static enum why check_ext(const struct bs__edge *e, enum bs__actor who,
			  const struct bs__transition_ctx *c)
{
	int max = c->ext_max < 0 ? 0 : c->ext_max > 2 ? 2 : c->ext_max;

	if (c->ext_granted >= max)
		return WHY_EXT_NONE;
	if (c->ext_level != c->ext_granted + 1)
		return WHY_EXT_LEVEL;
	if ((e->needs & BS__NEED_EXT_DECIDE) && c->ext_level >= 2 &&
	    who != BS__ACTOR_HO)
		return WHY_EXT_RANK;
	return WHY_OK;
}

/*
 * The decision of bs__state_check() without a message, so that the
 * merge can try a transition without disturbing the last error.
 * Arguments are in range.
 */
static enum why why_refused(enum bs__status from, enum bs__status to,
			    enum bs__actor who, int offline,
			    const struct bs__transition_ctx *c,
			    const struct bs__edge **edge)
{
	const struct bs__edge *e;

	*edge = NULL;
	if (from == to)
		return WHY_SAME;
	if ((e = bs__state_edge(from, to)) == NULL)
		return WHY_NO_EDGE;
	*edge = e;
	if (!(e->actors & (1u << who)))
		return WHY_ACTOR;
	if (!offline_ok(e, who, offline))
		return who == BS__ACTOR_HO ? WHY_HO_OFFLINE : WHY_ONLINE_ONLY;
	if ((e->needs & BS__NEED_REASON) && !c->has_reason)
		return WHY_REASON;
	if ((e->needs & BS__NEED_EVIDENCE) && !c->has_evidence)
		return WHY_EVIDENCE;
	if ((e->needs & BS__NEED_NOTIFIED) && !c->customer_notified)
		return WHY_NOTIFIED;
	if ((e->needs & BS__NEED_BRANCH) && !c->has_branch)
		return WHY_BRANCH;
	if ((e->needs & BS__NEED_TARGET) && !c->has_target)
		return WHY_TARGET;
	if (e->needs & (BS__NEED_EXT_ASK | BS__NEED_EXT_DECIDE))
		return check_ext(e, who, c);
	return WHY_OK;
}

/* "head office", "branch staff or head office", ... for a mask. */
static const char *who_can(unsigned actors)
{
	switch (actors) {
	case BS__BY_HO:
		return "head office";
	case BS__BY_BRANCH:
		return "branch staff";
	case BS__BY_MGR:
		return "the branch manager";
	case BS__BY_HO | BS__BY_MGR:
		return "the branch manager or head office";
	default:
		return "branch staff or head office";
	}
}

static int refuse(enum why why, enum bs__status from, enum bs__status to,
		  const struct bs__edge *e, const struct bs__transition_ctx *c)
{
	const char *f = bs__status_name(from), *t = bs__status_name(to);

	switch (why) {
	case WHY_OK:
		return BS_OK;
	case WHY_SAME:
		return bs__error(BS_EREFUSED, "the ticket is already %s", f);
	case WHY_NO_EDGE:
		return bs__error(BS_EREFUSED,
				 "a ticket cannot go from %s to %s", f, t);
	case WHY_ACTOR:
		return bs__error(BS_EREFUSED, "only %s can %s",
				 who_can(e->actors), e->verb);
	case WHY_HO_OFFLINE:
		return bs__error(BS_EREFUSED,
				 "head office acts only at the hub, never "
				 "offline");
	case WHY_ONLINE_ONLY:
		return bs__error(BS_EREFUSED,
				 "a connection to head office is needed to %s",
				 e->verb);
	case WHY_REASON:
		return bs__error(BS_EREFUSED, "a reason is needed to %s",
				 e->verb);
	case WHY_EVIDENCE:
		return bs__error(BS_EREFUSED,
				 "evidence of the customer's withdrawal is "
				 "needed to %s",
				 e->verb);
	case WHY_NOTIFIED:
		return bs__error(BS_EREFUSED,
				 "the customer must be told before you %s",
				 e->verb);
	case WHY_BRANCH:
		return bs__error(BS_EREFUSED, "a branch must be named to %s",
				 e->verb);
	case WHY_TARGET:
		return bs__error(BS_EREFUSED,
				 "the ticket to merge into must be named to "
				 "%s",
				 e->verb);
	case WHY_EXT_NONE:
		if (c->ext_max <= 0)
			return bs__error(BS_EREFUSED,
					 "the ticket's SLA profile allows no "
					 "extension");
		return bs__error(BS_EREFUSED,
				 "no further extension: level %d is the "
				 "highest the SLA profile allows",
				 c->ext_max > 2 ? 2 : c->ext_max);
	case WHY_EXT_LEVEL:
		return bs__error(BS_EREFUSED,
				 "extension level %d does not follow the "
				 "level already granted (%d)",
				 c->ext_level, c->ext_granted);
	case WHY_EXT_RANK:
		return bs__error(BS_EREFUSED,
				 "only head office can decide a level 2 "
				 "extension");
	}
	return bs__error(BS_ERR, "unhandled refusal");
}

static const struct bs__transition_ctx no_ctx;

static int in_range(enum bs__status a, enum bs__status b, enum bs__actor who)
{
	return (unsigned)a < BS__STATUS_COUNT &&
	       (unsigned)b < BS__STATUS_COUNT &&
	       (unsigned)who < BS__ACTOR_COUNT;
}

int bs__state_check(enum bs__status from, enum bs__status to,
		    enum bs__actor who, int offline,
		    const struct bs__transition_ctx *ctx)
{
	const struct bs__edge *e;
	enum why why;

	if (!in_range(from, to, who))
		return bs__error(BS_EINVAL,
				 "status or actor out of range (%d, %d, %d)",
				 (int)from, (int)to, (int)who);
	if (ctx == NULL)
		ctx = &no_ctx;
	why = why_refused(from, to, who, offline, ctx, &e);
	return refuse(why, from, to, e, ctx);
}

size_t bs__state_next(enum bs__status *out, size_t cap, enum bs__status from,
		      enum bs__actor who, int offline)
{
	size_t i, n = 0;

	if ((unsigned)who >= BS__ACTOR_COUNT)
		return 0;
	for (i = 0; i < BS__ARRAY_LEN(edges); i++) {
		const struct bs__edge *e = &edges[i];

		if (e->from != from || !(e->actors & (1u << who)) ||
		    !offline_ok(e, who, offline))
			continue;
		if (n < cap)
			out[n] = e->to;
		n++;
	}
	return n;
}

/* Fill *out for a branch transition that takes effect as from -> to. */
static void take(struct bs__merge_result *out, enum bs__status from,
		 enum bs__status to, unsigned flags, const char *rule)
{
	out->status = to;
	out->from = from;
	out->flags = BS__MERGE_APPLIED | flags;
	out->effects = bs__state_edge(from, to)->effects;
	out->rule = rule;
}

int bs__state_merge(struct bs__merge_result *out, enum bs__status base,
		    enum bs__status branch_to, enum bs__status hub_now,
		    enum bs__actor who, unsigned activity,
		    const struct bs__transition_ctx *ctx)
{
	const struct bs__edge *e;
	int moved = branch_to != base;
	int rc;

	if (!in_range(base, branch_to, who) ||
	    (unsigned)hub_now >= BS__STATUS_COUNT)
		return bs__error(BS_EINVAL,
				 "status or actor out of range (%d, %d, %d, "
				 "%d)",
				 (int)base, (int)branch_to, (int)hub_now,
				 (int)who);
	if (who == BS__ACTOR_HO)
		return bs__error(BS_EINVAL,
				 "head office changes are made on the hub's "
				 "status and are never merged");
	if (ctx == NULL)
		ctx = &no_ctx;

	/* By default the hub's status stands and nothing is applied. */
	out->status = hub_now;
	out->from = hub_now;
	out->flags = 0;
	out->effects = 0;
	out->rule = "activity";

	/* Rule 0: the branch's transition must be valid in itself.  It
	 * is judged as if online: whether it may be taken offline is a
	 * question only when the hub has moved (rule 6). */
	if (moved && (rc = bs__state_check(base, branch_to, who, 0, ctx))) {
		out->flags = BS__MERGE_SUPERSEDED | BS__MERGE_CONFLICT;
		out->rule = "invalid";
		return rc;
	}

	/* Rule 1: nothing happened at the hub meanwhile. */
	if (hub_now == base) {
		out->rule = "sequential";
		if (moved)
			take(out, base, branch_to, 0, "sequential");
		return BS_OK;
	}

	/* Rule 2: activities only.  They are a set and always kept; a
	 * customer-facing one on a ticket decided meanwhile goes in front
	 * of head office. */
	if (!moved) {
		if (bs__status_is_final(hub_now) &&
		    (activity & BS__ACT_CUSTOMER)) {
			out->flags = BS__MERGE_REVIEW;
			out->rule = "customer-activity-after-final";
		}
		return BS_OK;
	}

	/* Rule 3: both sides arrived at the same status. */
	if (branch_to == hub_now) {
		out->flags = BS__MERGE_CONVERGED;
		out->rule = "converged";
		return BS_OK;
	}

	/* Rule 4: head office's final decision beats branch progress. */
	if (bs__status_is_final(hub_now)) {
		out->flags = BS__MERGE_SUPERSEDED | BS__MERGE_REVIEW;
		out->rule = "final-wins";
		return BS_OK;
	}

	/* Rule 5: a customer's withdrawal ends the procedure (CBIRC 2020
	 * Art. 15) whatever routing head office changed meanwhile. */
	if (branch_to == BS__STATUS_WITHDRAWN) {
		take(out, hub_now, branch_to, BS__MERGE_REVIEW,
		     "withdrawal-ends");
		return BS_OK;
	}

	/* Rule 6: the branch's move is still one it may make, offline,
	 * from where the hub is now. */
	if (why_refused(hub_now, branch_to, who, 1, ctx, &e) == WHY_OK) {
		take(out, hub_now, branch_to, BS__MERGE_REBASED, "rebased");
		return BS_OK;
	}

	/* Rule 7: otherwise the hub's status stands and the device shows
	 * a conflict, the user's text kept. */
	out->flags = BS__MERGE_SUPERSEDED | BS__MERGE_CONFLICT;
	out->rule = "hub-stands";
	return BS_OK;
}
