/*
 * state.h - the ticket state machine and the rule that settles two
 * transitions made concurrently, shared by the agent and the hub so that
 * both enforce exactly the same rules.  schema/states.md is the same
 * machine in prose; keep the two in step.
 *
 * The machine is data: a table with one row per allowed edge (from, to,
 * who may take it, whether a branch may take it offline, what it needs,
 * what it does to the SLA clocks).  bs__state_check() answers "may this
 * actor do this now", bs__state_next() lists what the screen may offer,
 * and bs__state_merge() decides what happens when a branch transition
 * made offline reaches a hub where the ticket has moved meanwhile.
 *
 * Pure: no I/O, no clock; the caller supplies every fact.
 */
#ifndef BS_CORE_STATE_H
#define BS_CORE_STATE_H

#include <stddef.h>

enum bs__status {
	BS__STATUS_RECEIVED,            /* registered; T0 */
	BS__STATUS_DISPATCHED,          /* assigned to a branch */
	BS__STATUS_ACKNOWLEDGED,        /* the branch has taken it */
	BS__STATUS_IN_PROGRESS,         /* the customer has been contacted */
	BS__STATUS_PENDING_EXTERNAL,    /* waiting on an external party */
	BS__STATUS_RESOLUTION_PROPOSED, /* branch's decision, for HO */
	BS__STATUS_RETURNED,            /* HO sent the proposal back */
	BS__STATUS_TRANSFER_REQUESTED,  /* branch asks for another branch */
	BS__STATUS_EXTENSION_REQUESTED, /* branch asks for more time */
	BS__STATUS_CLOSED,              /* decided; only HO closes */
	BS__STATUS_MERGED,              /* folded into another ticket */
	BS__STATUS_WITHDRAWN,           /* the customer withdrew */
	BS__STATUS_REVIEW,              /* reopened: customer disputes */
	BS__STATUS_COUNT
};

enum bs__actor {
	BS__ACTOR_HO,         /* head-office complaint team, at the hub */
	BS__ACTOR_BR,         /* branch staff */
	BS__ACTOR_BR_MANAGER, /* branch manager: branch staff and more */
	BS__ACTOR_COUNT
};

/* Who may take an edge: a mask of these. */
#define BS__BY_HO (1u << BS__ACTOR_HO)
#define BS__BY_BR (1u << BS__ACTOR_BR)
#define BS__BY_MGR (1u << BS__ACTOR_BR_MANAGER)
#define BS__BY_BRANCH (BS__BY_BR | BS__BY_MGR)

/* What an edge needs before it may be taken (struct bs__transition_ctx). */
#define BS__NEED_REASON 0x01u     /* a reason or decision text */
#define BS__NEED_EVIDENCE 0x02u   /* the customer's withdrawal, recorded */
#define BS__NEED_NOTIFIED 0x04u   /* the customer has been told */
#define BS__NEED_BRANCH 0x08u     /* a branch to dispatch to */
#define BS__NEED_TARGET 0x10u     /* the ticket it is merged into */
#define BS__NEED_EXT_ASK 0x20u    /* a valid next extension level */
#define BS__NEED_EXT_DECIDE 0x40u /* an approver of sufficient rank */

/* What an edge does to the SLA clocks (applied by bs__sla_apply()). */
#define BS__EFF_FIRST_RESPONSE 0x01u /* stops the first-response clock */
#define BS__EFF_PAUSE 0x02u          /* pauses the resolution clock */
#define BS__EFF_RESUME 0x04u         /* resumes it */
#define BS__EFF_EXT_ASK 0x08u        /* an extension is asked for */
#define BS__EFF_EXT_DECIDE 0x10u     /* an extension is granted or not */
#define BS__EFF_STOP 0x20u           /* stops every clock */

struct bs__edge {
	enum bs__status from;
	enum bs__status to;
	unsigned actors;  /* BS__BY_* */
	int offline;      /* branch actors may take it offline */
	unsigned needs;   /* BS__NEED_* */
	unsigned effects; /* BS__EFF_* */
	const char *verb; /* "close a ticket", for messages */
};

/*
 * The facts a transition is checked against; a NULL pointer means all
 * zero.  ext_max comes from the ticket's SLA profile.
 */
struct bs__transition_ctx {
	int has_reason;        /* a non-empty reason or decision text */
	int has_evidence;      /* withdrawal evidence attached */
	int customer_notified; /* the customer has been told */
	int has_branch;        /* a branch is named (dispatch) */
	int has_target;        /* the surviving ticket is named (merge) */
	int ext_granted;       /* extension level already granted, 0..2 */
	int ext_level;         /* level asked for or being decided */
	int ext_max;           /* highest level the SLA profile allows */
};

/* Names as used in the store, on the wire and on the command line. */
const char *bs__status_name(enum bs__status s);
int bs__status_parse(enum bs__status *out, const char *name);
const char *bs__actor_name(enum bs__actor a);
int bs__actor_parse(enum bs__actor *out, const char *name);

/* 1 for closed, merged and withdrawn: head office's final decisions. */
int bs__status_is_final(enum bs__status s);

/* The whole table, *n rows.  Static, never NULL. */
const struct bs__edge *bs__state_edges(size_t *n);

/* The row for from -> to, or NULL if there is no such edge. */
const struct bs__edge *bs__state_edge(enum bs__status from,
				      enum bs__status to);

/*
 * May who move a ticket from `from` to `to`?  offline says the move is
 * made without the hub confirming the current status (a device working
 * from its own copy); head office is never offline.  BS_OK, or
 * BS_EREFUSED with a message a user can read ("only head office can
 * close a ticket"), or BS_EINVAL for an out-of-range argument.
 */
int bs__state_check(enum bs__status from, enum bs__status to,
		    enum bs__actor who, int offline,
		    const struct bs__transition_ctx *ctx);

/*
 * The statuses who may move a ticket to from `from` (offline or not),
 * preconditions aside: what a screen may offer.  Writes at most cap of
 * them to out and returns how many there are.
 */
size_t bs__state_next(enum bs__status *out, size_t cap, enum bs__status from,
		      enum bs__actor who, int offline);

/* What a branch op carried besides its status change, for the merge. */
#define BS__ACT_CUSTOMER 0x1u /* a customer-visible reply or contact */
#define BS__ACT_INTERNAL 0x2u /* an internal note or call log */

/* The outcome of a merge (flags). */
#define BS__MERGE_APPLIED 0x01u    /* the branch's transition took effect */
#define BS__MERGE_CONVERGED 0x02u  /* the hub was already there */
#define BS__MERGE_REBASED 0x04u    /* applied from the hub's new status */
#define BS__MERGE_SUPERSEDED 0x08u /* not applied; kept in the timeline */
#define BS__MERGE_REVIEW 0x10u     /* head office must look at it */
#define BS__MERGE_CONFLICT 0x20u   /* shown on the device to resolve */

struct bs__merge_result {
	enum bs__status status; /* the ticket's status afterwards */
	enum bs__status from;   /* with APPLIED: the edge was from -> status */
	unsigned flags;         /* BS__MERGE_* */
	unsigned effects;       /* BS__EFF_* the caller applies to the SLA */
	const char *rule;       /* which written rule decided; static text */
};

/*
 * Settle a branch operation against the hub.  The operation was made
 * from status `base` (what the device saw) and moves to `branch_to`
 * (equal to base when it only adds activities, described by `activity`,
 * BS__ACT_*).  The hub's status is now `hub_now`.  who is the branch
 * actor and ctx the facts of the branch's transition.
 *
 * Activities are never dropped: the caller keeps them whatever the
 * outcome; this decides the status and the flags.  Returns BS_OK with
 * *out filled; BS_EREFUSED if base -> branch_to is not an edge the actor
 * may take at all (the operation is invalid in itself; *out is still
 * filled, the hub's status stands, CONFLICT set, so the text is kept);
 * BS_EINVAL for out-of-range arguments or who = head office (head office
 * acts on the hub's current status and never needs a merge).
 */
int bs__state_merge(struct bs__merge_result *out, enum bs__status base,
		    enum bs__status branch_to, enum bs__status hub_now,
		    enum bs__actor who, unsigned activity,
		    const struct bs__transition_ctx *ctx);

#endif
