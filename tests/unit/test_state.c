/*
 * test_state.c - the ticket state machine.  The allowed edges are
 * written out again below, independently of agent/core/state.c, as in
 * schema/states.md; every pair of statuses is checked for every actor,
 * online and offline, against that list.  Then the preconditions and
 * their messages, the SLA effects of each edge, the names, and the
 * merge of concurrent transitions: a table of the written rules and
 * properties over every combination.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/core/common.h"
#include "agent/core/state.h"

#define N BS__STATUS_COUNT

/*
 * "from to who offline": who is any of H (head office), B (branch
 * staff), M (branch manager); offline is o if branch actors may take the
 * edge offline.  Close, merge and withdraw from open statuses are added
 * by spec_allows().
 */
static const char *const spec[] = {
	"received dispatched H -",
	"transfer_requested dispatched H -",
	"review dispatched H -",
	"dispatched transfer_requested BM o",
	"acknowledged transfer_requested BM o",
	"received acknowledged BM o",
	"dispatched acknowledged BM o",
	"dispatched in_progress BM o",
	"acknowledged in_progress BM o",
	"returned in_progress BM o",
	"review in_progress BM o",
	"in_progress pending_external HBM o",
	"pending_external in_progress HBM o",
	"in_progress resolution_proposed BM o",
	"pending_external resolution_proposed BM o",
	"resolution_proposed closed H -",
	"resolution_proposed returned H -",
	"in_progress extension_requested BM o",
	"extension_requested in_progress HM -",
	"closed review H -",
};

static const char actor_letter[BS__ACTOR_COUNT] = { 'H', 'B', 'M' };

static int is_open(enum bs__status s)
{
	return s != BS__STATUS_CLOSED && s != BS__STATUS_MERGED &&
	       s != BS__STATUS_WITHDRAWN;
}

/*
 * Look the edge up in the spec: 1 and *who, *offline filled if it
 * exists.  Every open status may be closed and merged by head office
 * and withdrawn by anyone (branch offline).
 */
static int spec_edge(enum bs__status from, enum bs__status to, char *who,
		     int *offline)
{
	char line[128];
	size_t i;

	if (is_open(from) && from != to) {
		if (to == BS__STATUS_CLOSED || to == BS__STATUS_MERGED) {
			strcpy(who, "H");
			*offline = 0;
			return 1;
		}
		if (to == BS__STATUS_WITHDRAWN) {
			strcpy(who, "HBM");
			*offline = 1;
			return 1;
		}
	}
	snprintf(line, sizeof(line), "%s %s ", bs__status_name(from),
		 bs__status_name(to));
	for (i = 0; i < BS__ARRAY_LEN(spec); i++) {
		const char *rest;

		if (strncmp(spec[i], line, strlen(line)) != 0)
			continue;
		rest = spec[i] + strlen(line);
		*offline = strchr(rest, 'o') != NULL;
		memcpy(who, rest, strcspn(rest, " "));
		who[strcspn(rest, " ")] = '\0';
		return 1;
	}
	return 0;
}

static int spec_allows(enum bs__status from, enum bs__status to,
		       enum bs__actor a, int offline)
{
	char who[8];
	int off;

	if (!spec_edge(from, to, who, &off))
		return 0;
	if (strchr(who, actor_letter[a]) == NULL)
		return 0;
	if (!offline)
		return 1;
	return a != BS__ACTOR_HO && off;
}

/* Every precondition met, extension level 1 of 2. */
static const struct bs__transition_ctx full = {
	.has_reason = 1,
	.has_evidence = 1,
	.customer_notified = 1,
	.has_branch = 1,
	.has_target = 1,
	.ext_granted = 0,
	.ext_level = 1,
	.ext_max = 2,
};

static void test_state__every_pair_every_actor(void **st)
{
	int from, to, a, off;
	int allowed = 0, refused = 0;

	(void)st;
	for (from = 0; from < N; from++)
		for (to = 0; to < N; to++)
			for (a = 0; a < BS__ACTOR_COUNT; a++)
				for (off = 0; off <= 1; off++) {
					int want = spec_allows(
						(enum bs__status)from,
						(enum bs__status)to,
						(enum bs__actor)a, off);
					int rc = bs__state_check(
						(enum bs__status)from,
						(enum bs__status)to,
						(enum bs__actor)a, off, &full);

					if (want != (rc == BS_OK))
						fail_msg("%s -> %s by %s%s: "
							 "got %d (%s)",
							 bs__status_name(from),
							 bs__status_name(to),
							 bs__actor_name(a),
							 off ? " offline" : "",
							 rc, bs_last_error());
					if (!want)
						assert_int_equal(rc,
								 BS_EREFUSED);
					allowed += want;
					refused += !want;
				}
	/* 13 * 13 * 3 * 2 = 1014 cases; the counts pin the spec down. */
	assert_int_equal(allowed + refused, N * N * BS__ACTOR_COUNT * 2);
	assert_int_equal(allowed, 131);
}

static void test_state__table_matches_spec(void **st)
{
	const struct bs__edge *e;
	size_t n, i;
	int from, to, edges = 0;

	(void)st;
	e = bs__state_edges(&n);
	for (i = 0; i < n; i++) {
		char who[8];
		int off, a;

		if (!spec_edge(e[i].from, e[i].to, who, &off))
			fail_msg("edge %s -> %s is not in the spec",
				 bs__status_name(e[i].from),
				 bs__status_name(e[i].to));
		for (a = 0; a < BS__ACTOR_COUNT; a++)
			assert_int_equal(!!(e[i].actors & (1u << a)),
					 strchr(who, actor_letter[a]) != NULL);
		assert_int_equal(e[i].offline, off);
		assert_non_null(e[i].verb);
		assert_ptr_equal(bs__state_edge(e[i].from, e[i].to), &e[i]);
	}
	for (from = 0; from < N; from++)
		for (to = 0; to < N; to++) {
			char who[8];
			int off;

			edges += spec_edge(from, to, who, &off);
		}
	assert_int_equal(n, (size_t)edges);
	assert_int_equal(n, 49);
	assert_null(bs__state_edge(BS__STATUS_CLOSED, BS__STATUS_IN_PROGRESS));
}

static void test_state__next_lists_the_allowed(void **st)
{
	enum bs__status out[N];
	int from, a, off;

	(void)st;
	for (from = 0; from < N; from++)
		for (a = 0; a < BS__ACTOR_COUNT; a++)
			for (off = 0; off <= 1; off++) {
				size_t n = bs__state_next(out, N, from, a, off);
				size_t want = 0, i;
				int to;

				for (to = 0; to < N; to++)
					want += spec_allows(from, to, a, off);
				assert_int_equal(n, want);
				for (i = 0; i < n; i++)
					assert_true(spec_allows(from, out[i],
								a, off));
			}
	/* A short buffer: the count is still the whole. */
	assert_int_equal(bs__state_next(out, 1, BS__STATUS_IN_PROGRESS,
					BS__ACTOR_BR, 1),
			 4);
	assert_int_equal(bs__state_next(NULL, 0, BS__STATUS_MERGED,
					BS__ACTOR_HO, 0),
			 0);
	assert_int_equal(bs__state_next(out, N, BS__STATUS_CLOSED,
					BS__ACTOR_BR, 0),
			 0);
}

/* The effects each edge must have, written independently. */
static unsigned spec_effects(enum bs__status from, enum bs__status to)
{
	switch (to) {
	case BS__STATUS_CLOSED:
	case BS__STATUS_MERGED:
	case BS__STATUS_WITHDRAWN:
		return BS__EFF_STOP;
	case BS__STATUS_PENDING_EXTERNAL:
		return BS__EFF_PAUSE;
	case BS__STATUS_EXTENSION_REQUESTED:
		return BS__EFF_EXT_ASK;
	case BS__STATUS_IN_PROGRESS:
		if (from == BS__STATUS_DISPATCHED ||
		    from == BS__STATUS_ACKNOWLEDGED)
			return BS__EFF_FIRST_RESPONSE;
		if (from == BS__STATUS_PENDING_EXTERNAL)
			return BS__EFF_RESUME;
		if (from == BS__STATUS_EXTENSION_REQUESTED)
			return BS__EFF_EXT_DECIDE;
		return 0;
	case BS__STATUS_RESOLUTION_PROPOSED:
		return from == BS__STATUS_PENDING_EXTERNAL ? BS__EFF_RESUME : 0;
	default:
		return 0;
	}
}

static void test_state__effects(void **st)
{
	const struct bs__edge *e;
	size_t n, i;

	(void)st;
	e = bs__state_edges(&n);
	for (i = 0; i < n; i++)
		if (e[i].effects != spec_effects(e[i].from, e[i].to))
			fail_msg("%s -> %s has effects %#x, want %#x",
				 bs__status_name(e[i].from),
				 bs__status_name(e[i].to), e[i].effects,
				 spec_effects(e[i].from, e[i].to));
}

/* Every status is reachable from received, and every open one can end. */
static void test_state__reachable_and_ends(void **st)
{
	const struct bs__edge *e;
	int seen[N] = { 0 }, ends[N] = { 0 };
	size_t n, i;
	int changed, s;

	(void)st;
	e = bs__state_edges(&n);
	seen[BS__STATUS_RECEIVED] = 1;
	for (s = 0; s < N; s++)
		ends[s] = !is_open(s);
	do {
		changed = 0;
		for (i = 0; i < n; i++) {
			if (seen[e[i].from] && !seen[e[i].to])
				changed = seen[e[i].to] = 1;
			if (ends[e[i].to] && !ends[e[i].from])
				changed = ends[e[i].from] = 1;
		}
	} while (changed);
	for (s = 0; s < N; s++) {
		assert_true(seen[s]);
		assert_true(ends[s]);
	}
	/* Only head office closes: no edge into closed has a branch actor. */
	for (i = 0; i < n; i++)
		if (e[i].to == BS__STATUS_CLOSED)
			assert_int_equal(e[i].actors, BS__BY_HO);
	/* Merged and withdrawn are the end. */
	assert_int_equal(bs__state_next(NULL, 0, BS__STATUS_WITHDRAWN,
					BS__ACTOR_HO, 0),
			 0);
}

static void expect_refused(enum bs__status from, enum bs__status to,
			   enum bs__actor who, int offline,
			   const struct bs__transition_ctx *c, const char *msg)
{
	int rc = bs__state_check(from, to, who, offline, c);

	if (rc != BS_EREFUSED || strcmp(bs_last_error(), msg) != 0)
		fail_msg("%s -> %s: rc %d, message \"%s\", want \"%s\"",
			 bs__status_name(from), bs__status_name(to), rc,
			 bs_last_error(), msg);
}

static void test_state__refusal_messages(void **st)
{
	(void)st;
	expect_refused(BS__STATUS_RESOLUTION_PROPOSED, BS__STATUS_CLOSED,
		       BS__ACTOR_BR, 1, &full,
		       "only head office can close a ticket");
	expect_refused(BS__STATUS_RESOLUTION_PROPOSED, BS__STATUS_CLOSED,
		       BS__ACTOR_BR_MANAGER, 0, &full,
		       "only head office can close a ticket");
	expect_refused(BS__STATUS_DISPATCHED, BS__STATUS_ACKNOWLEDGED,
		       BS__ACTOR_HO, 0, &full,
		       "only branch staff can acknowledge a ticket");
	expect_refused(BS__STATUS_EXTENSION_REQUESTED, BS__STATUS_IN_PROGRESS,
		       BS__ACTOR_BR, 0, &full,
		       "only the branch manager or head office can decide an "
		       "extension request");
	expect_refused(BS__STATUS_CLOSED, BS__STATUS_IN_PROGRESS, BS__ACTOR_BR,
		       1, &full,
		       "a ticket cannot go from closed to in_progress");
	expect_refused(BS__STATUS_IN_PROGRESS, BS__STATUS_IN_PROGRESS,
		       BS__ACTOR_BR, 1, &full,
		       "the ticket is already in_progress");
	expect_refused(BS__STATUS_RECEIVED, BS__STATUS_DISPATCHED,
		       BS__ACTOR_HO, 1, &full,
		       "head office acts only at the hub, never offline");
	expect_refused(BS__STATUS_EXTENSION_REQUESTED, BS__STATUS_IN_PROGRESS,
		       BS__ACTOR_BR_MANAGER, 1, &full,
		       "a connection to head office is needed to decide an "
		       "extension request");
}

static void test_state__preconditions(void **st)
{
	struct bs__transition_ctx c;

	(void)st;
	/* Reason: closing from anywhere but a proposal, returning. */
	c = full;
	c.has_reason = 0;
	expect_refused(BS__STATUS_IN_PROGRESS, BS__STATUS_CLOSED, BS__ACTOR_HO,
		       0, &c, "a reason is needed to close a ticket");
	assert_int_equal(bs__state_check(BS__STATUS_RESOLUTION_PROPOSED,
					 BS__STATUS_CLOSED, BS__ACTOR_HO, 0,
					 &c),
			 BS_OK);
	expect_refused(BS__STATUS_RESOLUTION_PROPOSED, BS__STATUS_RETURNED,
		       BS__ACTOR_HO, 0, &c,
		       "a reason is needed to return a proposed resolution");
	expect_refused(BS__STATUS_DISPATCHED, BS__STATUS_TRANSFER_REQUESTED,
		       BS__ACTOR_BR, 1, &c,
		       "a reason is needed to ask for a transfer");
	expect_refused(BS__STATUS_CLOSED, BS__STATUS_REVIEW, BS__ACTOR_HO, 0,
		       &c, "a reason is needed to reopen a ticket for review");

	/* Evidence for a withdrawal, whoever records it. */
	c = full;
	c.has_evidence = 0;
	expect_refused(BS__STATUS_IN_PROGRESS, BS__STATUS_WITHDRAWN,
		       BS__ACTOR_BR, 1, &c,
		       "evidence of the customer's withdrawal is needed to "
		       "record a withdrawal");
	expect_refused(BS__STATUS_RECEIVED, BS__STATUS_WITHDRAWN, BS__ACTOR_HO,
		       0, &c,
		       "evidence of the customer's withdrawal is needed to "
		       "record a withdrawal");
	c.has_evidence = 1;
	assert_int_equal(bs__state_check(BS__STATUS_IN_PROGRESS,
					 BS__STATUS_WITHDRAWN, BS__ACTOR_BR, 1,
					 &c),
			 BS_OK);

	/* The customer is told before a pause or a proposal. */
	c = full;
	c.customer_notified = 0;
	expect_refused(BS__STATUS_IN_PROGRESS, BS__STATUS_PENDING_EXTERNAL,
		       BS__ACTOR_BR, 1, &c,
		       "the customer must be told before you put a ticket on "
		       "hold for an external party");
	expect_refused(BS__STATUS_IN_PROGRESS, BS__STATUS_RESOLUTION_PROPOSED,
		       BS__ACTOR_BR, 1, &c,
		       "the customer must be told before you propose a "
		       "resolution");
	expect_refused(BS__STATUS_IN_PROGRESS, BS__STATUS_EXTENSION_REQUESTED,
		       BS__ACTOR_BR, 1, &c,
		       "the customer must be told before you ask for an "
		       "extension");
	/* Resuming needs nothing. */
	assert_int_equal(bs__state_check(BS__STATUS_PENDING_EXTERNAL,
					 BS__STATUS_IN_PROGRESS, BS__ACTOR_BR,
					 1, NULL),
			 BS_OK);

	c = full;
	c.has_branch = 0;
	expect_refused(BS__STATUS_RECEIVED, BS__STATUS_DISPATCHED,
		       BS__ACTOR_HO, 0, &c,
		       "a branch must be named to dispatch a ticket");
	c = full;
	c.has_target = 0;
	expect_refused(BS__STATUS_REVIEW, BS__STATUS_MERGED, BS__ACTOR_HO, 0,
		       &c,
		       "the ticket to merge into must be named to merge a "
		       "ticket");

	/* A NULL context: only edges that need nothing pass. */
	assert_int_equal(bs__state_check(BS__STATUS_DISPATCHED,
					 BS__STATUS_ACKNOWLEDGED, BS__ACTOR_BR,
					 1, NULL),
			 BS_OK);
	assert_int_equal(bs__state_check(BS__STATUS_IN_PROGRESS,
					 BS__STATUS_PENDING_EXTERNAL,
					 BS__ACTOR_BR, 1, NULL),
			 BS_EREFUSED);
}

static int ext(enum bs__status from, enum bs__status to, enum bs__actor who,
	       int offline, int granted, int level, int max)
{
	struct bs__transition_ctx c = full;

	c.ext_granted = granted;
	c.ext_level = level;
	c.ext_max = max;
	return bs__state_check(from, to, who, offline, &c);
}

static void test_state__extensions(void **st)
{
	const enum bs__status ip = BS__STATUS_IN_PROGRESS;
	const enum bs__status er = BS__STATUS_EXTENSION_REQUESTED;

	(void)st;
	/* Asking: the next level, within the profile. */
	assert_int_equal(ext(ip, er, BS__ACTOR_BR, 1, 0, 1, 2), BS_OK);
	assert_int_equal(ext(ip, er, BS__ACTOR_BR, 1, 1, 2, 2), BS_OK);
	assert_int_equal(ext(ip, er, BS__ACTOR_BR, 1, 0, 2, 2), BS_EREFUSED);
	assert_string_equal(bs_last_error(),
			    "extension level 2 does not follow the level "
			    "already granted (0)");
	assert_int_equal(ext(ip, er, BS__ACTOR_BR, 1, 1, 1, 2), BS_EREFUSED);
	assert_int_equal(ext(ip, er, BS__ACTOR_BR, 1, 2, 3, 2), BS_EREFUSED);
	assert_string_equal(bs_last_error(),
			    "no further extension: level 2 is the highest "
			    "the SLA profile allows");
	assert_int_equal(ext(ip, er, BS__ACTOR_BR, 1, 0, 1, 0), BS_EREFUSED);
	assert_string_equal(bs_last_error(),
			    "the ticket's SLA profile allows no extension");
	assert_int_equal(ext(ip, er, BS__ACTOR_BR, 1, 1, 2, 1), BS_EREFUSED);
	/* A profile claiming more than two levels is held to two. */
	assert_int_equal(ext(ip, er, BS__ACTOR_BR, 1, 2, 3, 9), BS_EREFUSED);

	/* Deciding: level 1 by the manager (online) or HO; level 2 by HO. */
	assert_int_equal(ext(er, ip, BS__ACTOR_BR_MANAGER, 0, 0, 1, 2), BS_OK);
	assert_int_equal(ext(er, ip, BS__ACTOR_HO, 0, 0, 1, 2), BS_OK);
	assert_int_equal(ext(er, ip, BS__ACTOR_HO, 0, 1, 2, 2), BS_OK);
	assert_int_equal(ext(er, ip, BS__ACTOR_BR_MANAGER, 0, 1, 2, 2),
			 BS_EREFUSED);
	assert_string_equal(bs_last_error(),
			    "only head office can decide a level 2 extension");
	assert_int_equal(ext(er, ip, BS__ACTOR_BR_MANAGER, 1, 0, 1, 2),
			 BS_EREFUSED);
	assert_int_equal(ext(er, ip, BS__ACTOR_BR, 0, 0, 1, 2), BS_EREFUSED);
	assert_int_equal(ext(er, ip, BS__ACTOR_HO, 0, 2, 3, 2), BS_EREFUSED);
}

static void test_state__bad_arguments(void **st)
{
	(void)st;
	assert_int_equal(bs__state_check(N, BS__STATUS_CLOSED, BS__ACTOR_HO, 0,
					 &full),
			 BS_EINVAL);
	assert_int_equal(bs__state_check(BS__STATUS_RECEIVED, N, BS__ACTOR_HO,
					 0, &full),
			 BS_EINVAL);
	assert_int_equal(bs__state_check(BS__STATUS_RECEIVED,
					 BS__STATUS_DISPATCHED,
					 (enum bs__actor)BS__ACTOR_COUNT, 0,
					 &full),
			 BS_EINVAL);
	assert_int_equal(bs__state_check((enum bs__status)-1,
					 BS__STATUS_DISPATCHED, BS__ACTOR_HO, 0,
					 &full),
			 BS_EINVAL);
	assert_int_equal(bs__state_next(NULL, 0, BS__STATUS_RECEIVED,
					(enum bs__actor)7, 0),
			 0);
}

static void test_state__names(void **st)
{
	enum bs__status s;
	enum bs__actor a;
	int i;

	(void)st;
	for (i = 0; i < N; i++) {
		assert_int_equal(bs__status_parse(&s, bs__status_name(i)),
				 BS_OK);
		assert_int_equal(s, i);
	}
	for (i = 0; i < BS__ACTOR_COUNT; i++) {
		assert_int_equal(bs__actor_parse(&a, bs__actor_name(i)), BS_OK);
		assert_int_equal(a, i);
	}
	assert_string_equal(bs__status_name(BS__STATUS_IN_PROGRESS),
			    "in_progress");
	assert_string_equal(bs__status_name(N), "unknown");
	assert_string_equal(bs__actor_name(BS__ACTOR_HO), "head_office");
	assert_int_equal(bs__status_parse(&s, "In_Progress"), BS_EINVAL);
	assert_string_equal(bs_last_error(),
			    "unknown ticket status 'In_Progress'");
	assert_int_equal(bs__status_parse(&s, ""), BS_EINVAL);
	assert_int_equal(bs__status_parse(&s, "in_progress "), BS_EINVAL);
	assert_int_equal(bs__status_parse(&s, NULL), BS_EINVAL);
	assert_int_equal(bs__actor_parse(&a, "HO"), BS_EINVAL);
	assert_int_equal(bs__actor_parse(&a, NULL), BS_EINVAL);
	assert_true(bs__status_is_final(BS__STATUS_CLOSED));
	assert_true(bs__status_is_final(BS__STATUS_MERGED));
	assert_true(bs__status_is_final(BS__STATUS_WITHDRAWN));
	assert_false(bs__status_is_final(BS__STATUS_REVIEW));
	assert_false(bs__status_is_final(BS__STATUS_RESOLUTION_PROPOSED));
}

/* One written merge rule: inputs and the outcome it must give. */
struct merge_case {
	const char *what;
	enum bs__status base, branch, hub;
	enum bs__actor who;
	unsigned activity;
	int rc;
	enum bs__status status;
	enum bs__status from;
	unsigned flags;
	unsigned effects;
	const char *rule;
};

#define S(x) BS__STATUS_##x
#define F(x) BS__MERGE_##x
#define BR BS__ACTOR_BR
#define MGR BS__ACTOR_BR_MANAGER

static const struct merge_case merge_cases[] = {
	{ "no concurrency: the branch's move applies",
	  S(IN_PROGRESS), S(RESOLUTION_PROPOSED), S(IN_PROGRESS), BR, 0,
	  BS_OK, S(RESOLUTION_PROPOSED), S(IN_PROGRESS), F(APPLIED), 0,
	  "sequential" },
	{ "no concurrency, first contact stops the clock",
	  S(DISPATCHED), S(IN_PROGRESS), S(DISPATCHED), BR, BS__ACT_CUSTOMER,
	  BS_OK, S(IN_PROGRESS), S(DISPATCHED), F(APPLIED),
	  BS__EFF_FIRST_RESPONSE, "sequential" },
	{ "HO close beats BR in_progress",
	  S(ACKNOWLEDGED), S(IN_PROGRESS), S(CLOSED), BR, BS__ACT_CUSTOMER,
	  BS_OK, S(CLOSED), S(CLOSED), F(SUPERSEDED) | F(REVIEW), 0,
	  "final-wins" },
	{ "HO merge beats BR proposal",
	  S(IN_PROGRESS), S(RESOLUTION_PROPOSED), S(MERGED), BR, 0, BS_OK,
	  S(MERGED), S(MERGED), F(SUPERSEDED) | F(REVIEW), 0, "final-wins" },
	{ "HO close beats BR withdrawal; evidence goes to HO",
	  S(IN_PROGRESS), S(WITHDRAWN), S(CLOSED), BR, 0, BS_OK, S(CLOSED),
	  S(CLOSED), F(SUPERSEDED) | F(REVIEW), 0, "final-wins" },
	{ "customer reply on a ticket closed meanwhile: kept, flagged",
	  S(RESOLUTION_PROPOSED), S(RESOLUTION_PROPOSED), S(CLOSED), BR,
	  BS__ACT_CUSTOMER, BS_OK, S(CLOSED), S(CLOSED), F(REVIEW), 0,
	  "customer-activity-after-final" },
	{ "internal note on a ticket closed meanwhile: kept, no flag",
	  S(IN_PROGRESS), S(IN_PROGRESS), S(CLOSED), BR, BS__ACT_INTERNAL,
	  BS_OK, S(CLOSED), S(CLOSED), 0, 0, "activity" },
	{ "customer reply while HO paused: nothing to settle",
	  S(IN_PROGRESS), S(IN_PROGRESS), S(PENDING_EXTERNAL), BR,
	  BS__ACT_CUSTOMER, BS_OK, S(PENDING_EXTERNAL), S(PENDING_EXTERNAL),
	  0, 0, "activity" },
	{ "customer reply after HO returned the proposal",
	  S(RESOLUTION_PROPOSED), S(RESOLUTION_PROPOSED), S(RETURNED), BR,
	  BS__ACT_CUSTOMER, BS_OK, S(RETURNED), S(RETURNED), 0, 0,
	  "activity" },
	{ "both paused: converged, the clock paused once",
	  S(IN_PROGRESS), S(PENDING_EXTERNAL), S(PENDING_EXTERNAL), BR, 0,
	  BS_OK, S(PENDING_EXTERNAL), S(PENDING_EXTERNAL), F(CONVERGED), 0,
	  "converged" },
	{ "both resumed: converged",
	  S(PENDING_EXTERNAL), S(IN_PROGRESS), S(IN_PROGRESS), MGR, 0, BS_OK,
	  S(IN_PROGRESS), S(IN_PROGRESS), F(CONVERGED), 0, "converged" },
	{ "withdrawal ends the procedure though HO paused",
	  S(IN_PROGRESS), S(WITHDRAWN), S(PENDING_EXTERNAL), BR, 0, BS_OK,
	  S(WITHDRAWN), S(PENDING_EXTERNAL), F(APPLIED) | F(REVIEW),
	  BS__EFF_STOP, "withdrawal-ends" },
	{ "withdrawal ends the procedure though HO returned",
	  S(RESOLUTION_PROPOSED), S(WITHDRAWN), S(RETURNED), BR, 0, BS_OK,
	  S(WITHDRAWN), S(RETURNED), F(APPLIED) | F(REVIEW), BS__EFF_STOP,
	  "withdrawal-ends" },
	{ "proposal made while HO paused: rebased, clock resumes",
	  S(IN_PROGRESS), S(RESOLUTION_PROPOSED), S(PENDING_EXTERNAL), BR, 0,
	  BS_OK, S(RESOLUTION_PROPOSED), S(PENDING_EXTERNAL),
	  F(APPLIED) | F(REBASED), BS__EFF_RESUME, "rebased" },
	{ "walk-in acknowledged while HO dispatched it: rebased",
	  S(RECEIVED), S(ACKNOWLEDGED), S(DISPATCHED), BR, 0, BS_OK,
	  S(ACKNOWLEDGED), S(DISPATCHED), F(APPLIED) | F(REBASED), 0,
	  "rebased" },
	{ "review taken up while HO re-dispatched: rebased",
	  S(REVIEW), S(IN_PROGRESS), S(DISPATCHED), BR, BS__ACT_CUSTOMER,
	  BS_OK, S(IN_PROGRESS), S(DISPATCHED), F(APPLIED) | F(REBASED),
	  BS__EFF_FIRST_RESPONSE, "rebased" },
	{ "extension asked while HO paused: HO stands, conflict",
	  S(IN_PROGRESS), S(EXTENSION_REQUESTED), S(PENDING_EXTERNAL), BR, 0,
	  BS_OK, S(PENDING_EXTERNAL), S(PENDING_EXTERNAL),
	  F(SUPERSEDED) | F(CONFLICT), 0, "hub-stands" },
	{ "two devices: proposal arrived first, the pause conflicts",
	  S(IN_PROGRESS), S(PENDING_EXTERNAL), S(RESOLUTION_PROPOSED), BR, 0,
	  BS_OK, S(RESOLUTION_PROPOSED), S(RESOLUTION_PROPOSED),
	  F(SUPERSEDED) | F(CONFLICT), 0, "hub-stands" },
	{ "transfer asked while a colleague started work: conflict",
	  S(DISPATCHED), S(TRANSFER_REQUESTED), S(IN_PROGRESS), BR, 0, BS_OK,
	  S(IN_PROGRESS), S(IN_PROGRESS), F(SUPERSEDED) | F(CONFLICT), 0,
	  "hub-stands" },
	{ "a branch close is invalid in itself",
	  S(RESOLUTION_PROPOSED), S(CLOSED), S(RESOLUTION_PROPOSED), BR, 0,
	  BS_EREFUSED, S(RESOLUTION_PROPOSED), S(RESOLUTION_PROPOSED),
	  F(SUPERSEDED) | F(CONFLICT), 0, "invalid" },
	{ "a withdrawal without evidence is invalid",
	  S(IN_PROGRESS), S(WITHDRAWN), S(CLOSED), MGR, 0, BS_EREFUSED,
	  S(CLOSED), S(CLOSED), F(SUPERSEDED) | F(CONFLICT), 0, "invalid" },
};

#undef S
#undef F
#undef BR
#undef MGR

static void test_state__merge_rules(void **st)
{
	size_t i;

	(void)st;
	for (i = 0; i < BS__ARRAY_LEN(merge_cases); i++) {
		const struct merge_case *m = &merge_cases[i];
		struct bs__transition_ctx c = full;
		struct bs__merge_result r;
		int rc;

		if (strstr(m->what, "without evidence"))
			c.has_evidence = 0;
		rc = bs__state_merge(&r, m->base, m->branch, m->hub, m->who,
				     m->activity, &c);
		if (rc != m->rc || r.status != m->status ||
		    r.flags != m->flags || r.effects != m->effects ||
		    strcmp(r.rule, m->rule) != 0 ||
		    ((r.flags & BS__MERGE_APPLIED) && r.from != m->from))
			fail_msg("%s: rc %d status %s from %s flags %#x "
				 "effects %#x rule %s",
				 m->what, rc, bs__status_name(r.status),
				 bs__status_name(r.from), r.flags, r.effects,
				 r.rule);
	}
	/* The refusal of an invalid op carries the state machine's words. */
	{
		struct bs__merge_result r;

		assert_int_equal(bs__state_merge(&r, BS__STATUS_IN_PROGRESS,
						 BS__STATUS_CLOSED,
						 BS__STATUS_IN_PROGRESS,
						 BS__ACTOR_BR, 0, &full),
				 BS_EREFUSED);
		assert_string_equal(bs_last_error(),
				    "only head office can close a ticket");
	}
}

/*
 * A manager's extension decision needs the hub's current status.  And a
 * branch move must never be rebased into a different decision: a resume
 * (pending_external -> in_progress) that meets a ticket another device
 * has meanwhile put in extension_requested would, from there, be the
 * extension decision, which is online-only and no branch user took.
 */
static void test_state__merge_online_only(void **st)
{
	struct bs__merge_result r;
	int who;

	(void)st;
	assert_int_equal(bs__state_merge(&r, BS__STATUS_EXTENSION_REQUESTED,
					 BS__STATUS_IN_PROGRESS,
					 BS__STATUS_EXTENSION_REQUESTED,
					 BS__ACTOR_BR_MANAGER, 0, &full),
			 BS_OK);
	assert_int_equal(r.status, BS__STATUS_IN_PROGRESS);
	assert_int_equal(r.flags, BS__MERGE_APPLIED);
	assert_int_equal(r.effects, BS__EFF_EXT_DECIDE);

	for (who = BS__ACTOR_BR; who <= BS__ACTOR_BR_MANAGER; who++) {
		assert_int_equal(bs__state_merge(&r,
						 BS__STATUS_PENDING_EXTERNAL,
						 BS__STATUS_IN_PROGRESS,
						 BS__STATUS_EXTENSION_REQUESTED,
						 who, 0, &full),
				 BS_OK);
		assert_int_equal(r.status, BS__STATUS_EXTENSION_REQUESTED);
		assert_int_equal(r.flags,
				 BS__MERGE_SUPERSEDED | BS__MERGE_CONFLICT);
		assert_int_equal(r.effects, 0);
		assert_string_equal(r.rule, "hub-stands");
	}
}

static void test_state__merge_bad_arguments(void **st)
{
	struct bs__merge_result r;

	(void)st;
	assert_int_equal(bs__state_merge(&r, BS__STATUS_IN_PROGRESS,
					 BS__STATUS_CLOSED,
					 BS__STATUS_IN_PROGRESS, BS__ACTOR_HO,
					 0, &full),
			 BS_EINVAL);
	assert_int_equal(bs__state_merge(&r, N, BS__STATUS_CLOSED,
					 BS__STATUS_IN_PROGRESS, BS__ACTOR_BR,
					 0, &full),
			 BS_EINVAL);
	assert_int_equal(bs__state_merge(&r, BS__STATUS_IN_PROGRESS,
					 BS__STATUS_CLOSED, N, BS__ACTOR_BR, 0,
					 &full),
			 BS_EINVAL);
	assert_int_equal(bs__state_merge(&r, BS__STATUS_IN_PROGRESS,
					 BS__STATUS_IN_PROGRESS,
					 BS__STATUS_IN_PROGRESS,
					 (enum bs__actor)3, 0, &full),
			 BS_EINVAL);
}

/*
 * Properties over every (base, branch target, hub status, branch actor,
 * activity): nothing is silently dropped, head office's final decisions
 * are never overridden, the result is one of the two sides, and what is
 * applied is an edge of the machine with its own effects.
 */
static void test_state__merge_properties(void **st)
{
	int base, to, hub, who, act;
	int outcomes[4] = { 0 };

	(void)st;
	for (base = 0; base < N; base++)
	for (to = 0; to < N; to++)
	for (hub = 0; hub < N; hub++)
	for (who = BS__ACTOR_BR; who <= BS__ACTOR_BR_MANAGER; who++)
	for (act = 0; act < 4; act++) {
		struct bs__merge_result r;
		int moved = to != base;
		int valid = !moved ||
			    bs__state_check(base, to, who, 0, &full) == BS_OK;
		unsigned f;
		int rc;

		rc = bs__state_merge(&r, base, to, hub, who, (unsigned)act,
				     &full);
		f = r.flags;
		assert_int_equal(rc, valid ? BS_OK : BS_EREFUSED);
		assert_non_null(r.rule);
		assert_true(r.status == (enum bs__status)hub ||
			    r.status == (enum bs__status)to);
		if (moved) {
			/* Exactly one of applied, converged, superseded. */
			int n = !!(f & BS__MERGE_APPLIED) +
				!!(f & BS__MERGE_CONVERGED) +
				!!(f & BS__MERGE_SUPERSEDED);

			assert_int_equal(n, 1);
		}
		if (f & BS__MERGE_SUPERSEDED)
			assert_true(f &
				    (BS__MERGE_REVIEW | BS__MERGE_CONFLICT));
		if (f & BS__MERGE_APPLIED) {
			const struct bs__edge *e =
				bs__state_edge(r.from, r.status);

			assert_non_null(e);
			assert_int_equal(r.effects, e->effects);
			assert_int_equal(r.status, to);
			assert_true(r.from == (enum bs__status)hub);
			outcomes[0]++;
		} else {
			assert_int_equal(r.effects, 0);
			assert_int_equal(r.status, hub);
		}
		if (bs__status_is_final(hub) && to != hub)
			assert_int_equal(r.status, hub);
		if (valid && bs__status_is_final(hub) && hub != base &&
		    !(f & BS__MERGE_CONVERGED) &&
		    (moved || (act & BS__ACT_CUSTOMER)))
			assert_true(f & BS__MERGE_REVIEW);
		if (f & BS__MERGE_CONFLICT)
			outcomes[1]++;
		if (f & BS__MERGE_REVIEW)
			outcomes[2]++;
		if (f & BS__MERGE_CONVERGED)
			outcomes[3]++;
	}
	/* Every kind of outcome occurs. */
	assert_true(outcomes[0] > 0 && outcomes[1] > 0 && outcomes[2] > 0 &&
		    outcomes[3] > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state__every_pair_every_actor),
		cmocka_unit_test(test_state__table_matches_spec),
		cmocka_unit_test(test_state__next_lists_the_allowed),
		cmocka_unit_test(test_state__effects),
		cmocka_unit_test(test_state__reachable_and_ends),
		cmocka_unit_test(test_state__refusal_messages),
		cmocka_unit_test(test_state__preconditions),
		cmocka_unit_test(test_state__extensions),
		cmocka_unit_test(test_state__bad_arguments),
		cmocka_unit_test(test_state__names),
		cmocka_unit_test(test_state__merge_rules),
		cmocka_unit_test(test_state__merge_online_only),
		cmocka_unit_test(test_state__merge_bad_arguments),
		cmocka_unit_test(test_state__merge_properties),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
