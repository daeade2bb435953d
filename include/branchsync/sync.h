/*
 * branchsync/sync.h - the sync client: enrollment with head office's
 * hub, sync rounds that push the outbox and pull the changes in this
 * device's scope, a watch loop that keeps doing so over a link that
 * comes and goes, and the conflicts a person must decide.
 *
 * The protocol is schema/protocol.md.  The hub's CA certificate is
 * pinned at enrollment and is the only one ever trusted; the device's
 * signing key is made here and never leaves the encrypted store.
 *
 * All functions return BS_OK or a negative bs_error code and leave a
 * one-line message in bs_last_error().  Failures a later attempt may
 * cure (BS_ENETWORK, BS_ETIMEOUT, BS_EBUSY) lose nothing: operations stay
 * in the outbox until the hub's answer to them is stored, and the pull
 * cursor only moves together with the changes it covers.
 */
#ifndef BRANCHSYNC_SYNC_H
#define BRANCHSYNC_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "branchsync/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The phase a progress report is about. */
typedef enum bs_sync_phase {
	BS_SYNC_PUSH = 1, /* sending the outbox */
	BS_SYNC_PULL = 2  /* applying pages of changes */
} bs_sync_phase;

/* Where a round is; borrowed for the duration of the callback. */
typedef struct bs_sync_progress {
	bs_sync_phase phase;
	uint64_t done;  /* operations answered, or changes applied */
	uint64_t total; /* operations to send; 0 while pulling (unknown) */
	int64_t cursor; /* the pull cursor after the last page */
	int more;       /* the hub has more pages */
} bs_sync_progress;

typedef void (*bs_sync_progress_fn)(const bs_sync_progress *p, void *ud);

/* Options of enrollment and of a round; zeroed means defaults. */
typedef struct bs_sync_opts {
	long connect_timeout_ms; /* 0: 10 seconds */
	long timeout_ms;         /* one whole request; 0: 120 seconds */
	unsigned batch;          /* operations per push; 0: 200 (max 500) */
	unsigned page;           /* changes per pull page; 0: 500 (max 1000) */
	bs_sync_progress_fn progress; /* may be NULL */
	void *ud;
} bs_sync_opts;

/* What one round did. */
typedef struct bs_sync_report {
	unsigned long pushed;    /* operations answered by the hub */
	unsigned long applied, merged, rejected;
	unsigned long held;      /* queued operations protocol 1 cannot carry */
	unsigned long changes;   /* pulled changes applied */
	unsigned long tickets;   /* of which tickets */
	unsigned long dropped;   /* tickets purged as they left the scope */
	unsigned long conflicts; /* new conflicts recorded */
	unsigned long pages;
	int64_t cursor;          /* the pull cursor afterwards */
	int64_t offset_ms;       /* hub clock minus device clock */
} bs_sync_report;

/*
 * Enroll this device with the hub at hub_url ("https://host:port") using
 * the one-time code IT gave (e.g. "7KQD-9XG2-M4TB-HW0C-ZR5E", typed
 * leniently).  The store must have been set up (bs_tickets_init()).
 *
 * The hub's CA certificate is fetched without trusting anything, then
 * checked against a MAC keyed by the code's secret part: a certificate
 * from anyone who does not know the code is refused (BS_EBADKEY) and
 * nothing is stored.  Then an ECDSA P-256 key is made, kept inside the
 * store, and registered; branch, staff, role and scope come from the
 * hub.  BS_EEXISTS if the store is enrolled already; BS_EREFUSED for an
 * unknown, used or expired code; BS_ENETWORK/BS_ETIMEOUT if the hub
 * cannot be reached.  Enrollment interrupted after the hub registered
 * the key completes when it is run again with the same URL.
 */
int bs_sync_enroll(bs_store *st, const char *hub_url, const char *code,
		   const bs_sync_opts *opts);

/*
 * One sync round with the hub the store is enrolled with: push the
 * outbox in batches, storing the hub's answer to every operation (a
 * refused one becomes a conflict with the user's text), then pull pages
 * of changes until the hub has no more, each page applied together
 * with the new cursor in one transaction.  report (may be NULL) says
 * what happened, also on failure.
 *
 * If the hub says the device is revoked, the store is closed, its keys
 * destroyed and its files removed; *st is then NULL and the return is
 * BS_EREVOKED.  Otherwise *st stays open and owned by the caller.
 */
int bs_sync_round(bs_store **st, const bs_sync_opts *opts,
		  bs_sync_report *report);

/*
 * The delay before attempt failures + 1 after that many failures in a
 * row: exponential from min_ms, capped at max_ms, with half of it
 * random ("equal jitter", from rnd) so that a fleet of devices coming
 * back after an outage does not hit the hub in step.  Cannot fail.
 */
int64_t bs_sync_backoff_ms(unsigned failures, int64_t min_ms,
			   int64_t max_ms, uint32_t rnd);

/*
 * Head office's offline policy as this device knows it (protocol.md,
 * "Offline policy").  Times are the device's own clock, in milliseconds
 * since the epoch.
 */
typedef struct bs_sync_policy {
	int known;              /* a hub has told this device its policy */
	int64_t max_offline_ms; /* the limit; 0: none */
	int64_t since_ms;       /* end of the last successful round (or
				 * enrollment before the first); 0: never */
	int64_t lock_at_ms;     /* when the lock engages; 0: it does not */
	int64_t now_ms;         /* the device clock when it was read */
	int locked;             /* ticket work is refused until a sync */
	int clock_behind;       /* locked because now_ms < since_ms */
} bs_sync_policy;

/*
 * Read the policy.  A store that was never enrolled, or whose hub sets
 * no limit, is never locked.  BS_EINVAL without a store.
 */
int bs_sync_policy_get(bs_store *st, bs_sync_policy *out);

/*
 * BS_OK while ticket work may go on; BS_ELOCKED, with a one-line message
 * saying how long the device has been offline and that a sync unlocks
 * it, once the time since the last successful round exceeds the policy,
 * or the device clock is behind that round.  Callers that read or change
 * tickets ask this first (the branchsync command does); sync, status and
 * the conflict list do not.  A successful bs_sync_round() lifts it.
 */
int bs_sync_check_lock(bs_store *st);

/* Options of bs_sync_watch(); zeroed means defaults. */
typedef struct bs_sync_watch_opts {
	bs_sync_opts sync;
	int64_t interval_ms;    /* periodic round; 0: 5 minutes */
	int64_t poll_ms;        /* look for local changes; 0: 1 second */
	int64_t settle_ms;      /* wait after a change; 0: 2 seconds */
	int64_t backoff_min_ms; /* 0: 1 second */
	int64_t backoff_max_ms; /* 0: 5 minutes */
	/* Asked between steps: nonzero ends the loop.  May be NULL. */
	int (*stop)(void *ud);
	/* Told after every round: its result, what it did and how long
	 * until the next one.  May be NULL. */
	void (*event)(int rc, const bs_sync_report *r, int64_t next_ms,
		      void *ud);
	void *ud;
} bs_sync_watch_opts;

/*
 * Keep syncing until stop says so: a round soon after a local change,
 * one every interval otherwise, and while the hub cannot be reached or
 * fails, rounds spaced by bs_sync_backoff_ms().  Queued operations are
 * never given up.  Returns BS_OK when stopped; BS_EREVOKED (the store is
 * wiped and *st NULL, as for bs_sync_round()), or the error of a failure
 * no retry can cure (a key the hub refuses, a damaged store).
 */
int bs_sync_watch(bs_store **st, const bs_sync_watch_opts *opts);

/*
 * Conflicts: what the hub refused or a merge overruled, with both sides
 * kept until a person decides.  Text is never deleted: resolving records
 * the decision beside it.
 *
 * bs_conflict_list(): JSON array of conflicts, open ones only unless
 * all is set, newest first.  bs_conflict_show(): one, as a JSON object
 * with both sides and the ticket's current value.  BS_ENOTFOUND for an
 * unknown id.
 */
int bs_conflict_list(bs_store *st, int all, char **json_out);
int bs_conflict_show(bs_store *st, int64_t id, char **json_out);

typedef enum bs_resolve {
	BS_RESOLVE_KEEP_MINE = 1,  /* redo my change (a new operation) */
	BS_RESOLVE_TAKE_THEIRS = 2, /* accept what the hub has */
	BS_RESOLVE_EDIT = 3        /* send text instead (a new operation) */
} bs_resolve;

/*
 * Decide conflict id.  Keeping mine or editing writes a new change (a
 * reply, a free-text edit) with its outbox operation where the ticket
 * is still on this device; for a ticket that has left the device's
 * scope keeping mine only records that the text was kept.  text is
 * required for BS_RESOLVE_EDIT and ignored otherwise.  BS_ENOTFOUND,
 * BS_EEXISTS if it is resolved already, BS_EINVAL for an edit that makes
 * no sense here (a refused status move).
 */
int bs_conflict_resolve(bs_store *st, int64_t id, bs_resolve how,
			const char *text);

#ifdef __cplusplus
}
#endif
#endif
