/*
 * test_sla.c - SLA arithmetic: the built-in profiles and the validation
 * of profiles as data; due times with extension levels 1 and 2; paused
 * time; the warning thresholds at exactly 50 % and 80 % and the breach
 * one millisecond after the due time; first response; stopping; clocks
 * that were slow; the trust flag; and a ticket driven through the state
 * machine's own effects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/core/common.h"
#include "agent/core/sla.h"
#include "agent/core/state.h"

#define MIN ((int64_t)60 * 1000)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
/* 2026-11-22 12:25 UTC: the seed case's call was logged at 12:25. */
#define T0 ((int64_t)1795334400000 + 4 * HOUR + 25 * MIN)

static const struct bs__sla_profile *cn(void)
{
	const struct bs__sla_profile *p = bs__sla_profile_find("cn2020");

	assert_non_null(p);
	return p;
}

static struct bs__sla_status eval_at(const struct bs__sla_profile *p,
				     const struct bs__sla_ticket *t,
				     int64_t now)
{
	struct bs__sla_status s;

	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(bs__sla_eval(&s, p, t, now, BS__TRUST_OK), BS_OK);
	return s;
}

static void test_sla__builtin_profiles(void **st)
{
	const struct bs__sla_profile *p;

	(void)st;
	p = cn();
	assert_int_equal(bs__sla_profile_check(p), BS_OK);
	assert_int_equal(p->resolution_days[0], 15);
	assert_int_equal(p->resolution_days[1], 30);
	assert_int_equal(p->resolution_days[2], 60);
	assert_int_equal(p->max_ext, 2);
	assert_int_equal(p->first_response_min[BS__PRIORITY_URGENT], 30);
	assert_int_equal(p->first_response_min[BS__PRIORITY_HIGH], 120);
	assert_int_equal(p->first_response_min[BS__PRIORITY_NORMAL], 240);
	assert_int_equal(p->first_response_min[BS__PRIORITY_LOW], 1440);
	assert_int_equal(p->warn_pct[0], 50);
	assert_int_equal(p->warn_pct[1], 80);

	p = bs__sla_profile_find("fca");
	assert_non_null(p);
	assert_int_equal(bs__sla_profile_check(p), BS_OK);
	assert_int_equal(p->resolution_days[0], 56);
	assert_int_equal(p->max_ext, 0);

	p = bs__sla_profile_find("cfpb");
	assert_non_null(p);
	assert_int_equal(bs__sla_profile_check(p), BS_OK);
	assert_int_equal(p->resolution_days[0], 15);
	assert_int_equal(p->resolution_days[1], 60);
	assert_int_equal(p->max_ext, 1);

	assert_null(bs__sla_profile_find("CN2020"));
	assert_null(bs__sla_profile_find(""));
	assert_null(bs__sla_profile_find(NULL));
}

static void test_sla__profile_check_rejects(void **st)
{
	struct bs__sla_profile p;

	(void)st;
	p = *cn();
	p.name = "";
	assert_int_equal(bs__sla_profile_check(&p), BS_EINVAL);
	p = *cn();
	p.first_response_min[BS__PRIORITY_LOW] = 0;
	assert_int_equal(bs__sla_profile_check(&p), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "low"));
	p = *cn();
	p.max_ext = 3;
	assert_int_equal(bs__sla_profile_check(&p), BS_EINVAL);
	p = *cn();
	p.resolution_days[2] = 30;
	assert_int_equal(bs__sla_profile_check(&p), BS_EINVAL);
	assert_non_null(strstr(bs_last_error(), "level 2"));
	p = *cn();
	p.resolution_days[0] = 0;
	assert_int_equal(bs__sla_profile_check(&p), BS_EINVAL);
	p = *cn();
	p.resolution_days[0] = 3651;
	assert_int_equal(bs__sla_profile_check(&p), BS_EINVAL);
	p = *cn();
	p.warn_pct[0] = 80;
	p.warn_pct[1] = 50;
	assert_int_equal(bs__sla_profile_check(&p), BS_EINVAL);
	p = *cn();
	p.warn_pct[1] = 100;
	assert_int_equal(bs__sla_profile_check(&p), BS_EINVAL);
	p = *cn();
	p.warn_pct[0] = 0;
	assert_int_equal(bs__sla_profile_check(&p), BS_EINVAL);
	assert_int_equal(bs__sla_profile_check(NULL), BS_EINVAL);
	/* Levels past max_ext are not looked at. */
	p = *cn();
	p.max_ext = 0;
	p.resolution_days[1] = p.resolution_days[2] = -1;
	assert_int_equal(bs__sla_profile_check(&p), BS_OK);
}

static void test_sla__resolution_base(void **st)
{
	struct bs__sla_ticket t;
	struct bs__sla_status s;

	(void)st;
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	s = eval_at(cn(), &t, T0 + DAY);
	assert_int_equal(s.resolution.state, BS__SLA_RUNNING);
	assert_int_equal(s.resolution.due_ms, T0 + 15 * DAY);
	assert_int_equal(s.resolution.budget_ms, 15 * DAY);
	assert_int_equal(s.resolution.elapsed_ms, DAY);
	assert_int_equal(s.resolution.remaining_ms, 14 * DAY);
	assert_int_equal(s.resolution.permille, 66);
	assert_int_equal(s.resolution.level, BS__SLA_OK);
	assert_int_equal(s.trust, BS__TRUST_OK);
	/* At T0 exactly nothing is used. */
	s = eval_at(cn(), &t, T0);
	assert_int_equal(s.resolution.elapsed_ms, 0);
	assert_int_equal(s.first_response.elapsed_ms, 0);
	assert_int_equal(s.resolution.permille, 0);
}

static void test_sla__extension_levels(void **st)
{
	const struct bs__sla_profile *p = cn();
	struct bs__sla_ticket t, before;
	struct bs__sla_status s;

	(void)st;
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_EXT_DECIDE, T0 + 10 * DAY,
				       1),
			 BS_OK);
	assert_int_equal(t.ext_level, 1);
	s = eval_at(p, &t, T0 + 20 * DAY);
	assert_int_equal(s.resolution.due_ms, T0 + 30 * DAY);
	assert_int_equal(s.resolution.level, BS__SLA_WARN_1);
	assert_int_equal(s.resolution.permille, 666);

	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_EXT_DECIDE, T0 + 25 * DAY,
				       2),
			 BS_OK);
	s = eval_at(p, &t, T0 + 31 * DAY);
	assert_int_equal(s.resolution.due_ms, T0 + 60 * DAY);
	assert_int_equal(s.resolution.level, BS__SLA_WARN_1);
	assert_int_equal(s.resolution.remaining_ms, 29 * DAY);

	/* No level 3, never back down; a refusal keeps the level. */
	before = t;
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_EXT_DECIDE, T0, 3),
			 BS_EINVAL);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_EXT_DECIDE, T0, 1),
			 BS_EINVAL);
	assert_memory_equal(&t, &before, sizeof(t));
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_EXT_DECIDE, T0, 2),
			 BS_OK);
	/* Asking changes nothing until decided. */
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_EXT_ASK, T0 + DAY, 0),
			 BS_OK);
	assert_int_equal(t.ext_level, 0);

	/* FCA has no extension; CFPB's one level is 60 days. */
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	assert_int_equal(bs__sla_apply(&t, bs__sla_profile_find("fca"),
				       BS__EFF_EXT_DECIDE, T0, 1),
			 BS_EINVAL);
	s = eval_at(bs__sla_profile_find("fca"), &t, T0);
	assert_int_equal(s.resolution.due_ms, T0 + 56 * DAY);
	assert_int_equal(bs__sla_apply(&t, bs__sla_profile_find("cfpb"),
				       BS__EFF_EXT_DECIDE, T0, 1),
			 BS_OK);
	s = eval_at(bs__sla_profile_find("cfpb"), &t, T0);
	assert_int_equal(s.resolution.due_ms, T0 + 60 * DAY);
	/* A record at a level its profile does not have is refused. */
	t.ext_level = 2;
	assert_int_equal(bs__sla_eval(&s, bs__sla_profile_find("cfpb"), &t, T0,
				      BS__TRUST_OK),
			 BS_EINVAL);
}

static void expect_level(const struct bs__sla_ticket *t, int64_t now,
			 int first_response, enum bs__sla_level want)
{
	struct bs__sla_status s = eval_at(cn(), t, now);
	const struct bs__sla_clock *c =
		first_response ? &s.first_response : &s.resolution;

	if (c->level != want)
		fail_msg("at T0%+lld ms: level %s, want %s",
			 (long long)(now - T0), bs__sla_level_name(c->level),
			 bs__sla_level_name(want));
}

static void test_sla__warning_boundaries(void **st)
{
	struct bs__sla_ticket t;
	const int64_t b = 15 * DAY;
	struct bs__sla_status s;

	(void)st;
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_URGENT);
	expect_level(&t, T0 + b / 2 - 1, 0, BS__SLA_OK);
	expect_level(&t, T0 + b / 2, 0, BS__SLA_WARN_1);
	expect_level(&t, T0 + b * 8 / 10 - 1, 0, BS__SLA_WARN_1);
	expect_level(&t, T0 + b * 8 / 10, 0, BS__SLA_WARN_2);
	expect_level(&t, T0 + b, 0, BS__SLA_WARN_2);
	expect_level(&t, T0 + b + 1, 0, BS__SLA_BREACHED);
	s = eval_at(cn(), &t, T0 + b + 1);
	assert_int_equal(s.resolution.remaining_ms, -1);
	assert_int_equal(s.resolution.permille, 1000);
	s = eval_at(cn(), &t, T0 + 2 * b);
	assert_int_equal(s.resolution.permille, 2000);
	assert_int_equal(s.resolution.level, BS__SLA_BREACHED);

	/* Urgent first response: 30 minutes. */
	expect_level(&t, T0 + 15 * MIN - 1, 1, BS__SLA_OK);
	expect_level(&t, T0 + 15 * MIN, 1, BS__SLA_WARN_1);
	expect_level(&t, T0 + 24 * MIN - 1, 1, BS__SLA_WARN_1);
	expect_level(&t, T0 + 24 * MIN, 1, BS__SLA_WARN_2);
	expect_level(&t, T0 + 30 * MIN, 1, BS__SLA_WARN_2);
	expect_level(&t, T0 + 30 * MIN + 1, 1, BS__SLA_BREACHED);

	/* A profile's own thresholds are used, not 50 and 80. */
	{
		struct bs__sla_profile p = *cn();

		p.warn_pct[0] = 25;
		p.warn_pct[1] = 90;
		s = eval_at(&p, &t, T0 + b / 4);
		assert_int_equal(s.resolution.level, BS__SLA_WARN_1);
		s = eval_at(&p, &t, T0 + b * 9 / 10 - 1);
		assert_int_equal(s.resolution.level, BS__SLA_WARN_1);
		s = eval_at(&p, &t, T0 + b * 9 / 10);
		assert_int_equal(s.resolution.level, BS__SLA_WARN_2);
	}
}

static void test_sla__pauses_are_excluded(void **st)
{
	const struct bs__sla_profile *p = cn();
	struct bs__sla_ticket t;
	struct bs__sla_status s;

	(void)st;
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_PAUSE, T0 + 5 * DAY, 0),
			 BS_OK);
	/* While paused the used time stands still and the due time moves. */
	s = eval_at(p, &t, T0 + 7 * DAY);
	assert_int_equal(s.resolution.state, BS__SLA_PAUSED);
	assert_int_equal(s.resolution.elapsed_ms, 5 * DAY);
	assert_int_equal(s.resolution.due_ms, T0 + 17 * DAY);
	s = eval_at(p, &t, T0 + 7 * DAY + HOUR);
	assert_int_equal(s.resolution.elapsed_ms, 5 * DAY);
	assert_int_equal(s.resolution.due_ms, T0 + 17 * DAY + HOUR);
	assert_int_equal(s.resolution.remaining_ms, 10 * DAY);

	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_RESUME, T0 + 8 * DAY, 0),
			 BS_OK);
	assert_int_equal(t.paused_ms, 3 * DAY);
	assert_int_equal(t.pause_start_ms, BS__SLA_NONE);
	s = eval_at(p, &t, T0 + 10 * DAY);
	assert_int_equal(s.resolution.state, BS__SLA_RUNNING);
	assert_int_equal(s.resolution.elapsed_ms, 7 * DAY);
	assert_int_equal(s.resolution.due_ms, T0 + 18 * DAY);

	/* A second pause adds up; the warnings follow used time only. */
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_PAUSE, T0 + 10 * DAY, 0),
			 BS_OK);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_RESUME, T0 + 12 * DAY,
				       0),
			 BS_OK);
	s = eval_at(p, &t, T0 + 17 * DAY);
	assert_int_equal(s.resolution.elapsed_ms, 12 * DAY);
	assert_int_equal(s.resolution.due_ms, T0 + 20 * DAY);
	assert_int_equal(s.resolution.level, BS__SLA_WARN_2);
	expect_level(&t, T0 + 20 * DAY, 0, BS__SLA_WARN_2);
	expect_level(&t, T0 + 20 * DAY + 1, 0, BS__SLA_BREACHED);

	/* Pauses do not touch the first-response clock. */
	s = eval_at(p, &t, T0 + 17 * DAY);
	assert_int_equal(s.first_response.due_ms, T0 + 4 * HOUR);
	assert_int_equal(s.first_response.level, BS__SLA_BREACHED);

	/* With an extension the pause still adds. */
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_EXT_DECIDE, T0, 1),
			 BS_OK);
	s = eval_at(p, &t, T0 + 17 * DAY);
	assert_int_equal(s.resolution.due_ms, T0 + 35 * DAY);
}

static void test_sla__pause_misuse(void **st)
{
	const struct bs__sla_profile *p = cn();
	struct bs__sla_ticket t, before;

	(void)st;
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_RESUME, T0 + DAY, 0),
			 BS_EINVAL);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_PAUSE, T0 + DAY, 0),
			 BS_OK);
	before = t;
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_PAUSE, T0 + 2 * DAY, 0),
			 BS_EINVAL);
	assert_string_equal(bs_last_error(),
			    "SLA: the clock is already paused");
	assert_memory_equal(&t, &before, sizeof(t));
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_PAUSE, -1, 0), BS_EINVAL);
	assert_int_equal(bs__sla_apply(&t, NULL, BS__EFF_PAUSE, T0, 0),
			 BS_EINVAL);
	assert_memory_equal(&t, &before, sizeof(t));
}

/* The seed case: call logged 12:25, branch's first response 13:03. */
static void test_sla__first_response(void **st)
{
	const struct bs__sla_profile *p = cn();
	struct bs__sla_ticket t;
	struct bs__sla_status s;

	(void)st;
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_HIGH);
	s = eval_at(p, &t, T0 + 20 * MIN);
	assert_int_equal(s.first_response.state, BS__SLA_RUNNING);
	assert_int_equal(s.first_response.due_ms, T0 + 2 * HOUR);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_FIRST_RESPONSE,
				       T0 + 38 * MIN, 0),
			 BS_OK);
	s = eval_at(p, &t, T0 + 5 * HOUR);
	assert_int_equal(s.first_response.state, BS__SLA_STOPPED);
	assert_int_equal(s.first_response.elapsed_ms, 38 * MIN);
	assert_int_equal(s.first_response.level, BS__SLA_OK);
	/* A second contact does not move the first. */
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_FIRST_RESPONSE,
				       T0 + 3 * HOUR, 0),
			 BS_OK);
	assert_int_equal(t.first_response_at, T0 + 38 * MIN);

	/* The same 38 minutes miss an urgent ticket's 30. */
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_URGENT);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_FIRST_RESPONSE,
				       T0 + 38 * MIN, 0),
			 BS_OK);
	s = eval_at(p, &t, T0 + 5 * HOUR);
	assert_int_equal(s.first_response.level, BS__SLA_BREACHED);
	assert_int_equal(s.first_response.remaining_ms, -8 * MIN);

	/* A ticket closed at intake needs no first response after. */
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_LOW);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_STOP, T0 + 10 * MIN, 0),
			 BS_OK);
	s = eval_at(p, &t, T0 + 3 * DAY);
	assert_int_equal(s.first_response.state, BS__SLA_STOPPED);
	assert_int_equal(s.first_response.elapsed_ms, 10 * MIN);
	assert_int_equal(s.first_response.level, BS__SLA_OK);

	/* A record whose contact is stamped after its stop (two devices'
	 * clocks): whichever came first stops the clock. */
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_URGENT);
	t.stopped_at = T0 + 20 * MIN;
	t.first_response_at = T0 + 2 * HOUR;
	s = eval_at(p, &t, T0 + 3 * DAY);
	assert_int_equal(s.first_response.elapsed_ms, 20 * MIN);
	assert_int_equal(s.first_response.level, BS__SLA_OK);
}

static void test_sla__stop(void **st)
{
	const struct bs__sla_profile *p = cn();
	struct bs__sla_ticket t;
	struct bs__sla_status s;

	(void)st;
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_FIRST_RESPONSE,
				       T0 + HOUR, 0),
			 BS_OK);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_PAUSE, T0 + 2 * DAY, 0),
			 BS_OK);
	/* Closed while paused: the pause ends at the stop. */
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_STOP, T0 + 4 * DAY, 0),
			 BS_OK);
	assert_int_equal(t.pause_start_ms, BS__SLA_NONE);
	assert_int_equal(t.paused_ms, 2 * DAY);
	s = eval_at(p, &t, T0 + 100 * DAY);
	assert_int_equal(s.resolution.state, BS__SLA_STOPPED);
	assert_int_equal(s.resolution.elapsed_ms, 2 * DAY);
	assert_int_equal(s.resolution.level, BS__SLA_OK);
	assert_int_equal(bs__sla_next_due(&s), INT64_MAX);

	/* A stopped record ignores pause, resume and a second stop. */
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_PAUSE, T0 + 5 * DAY, 0),
			 BS_OK);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_RESUME, T0 + 5 * DAY, 0),
			 BS_OK);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_STOP, T0 + 9 * DAY, 0),
			 BS_OK);
	assert_int_equal(t.stopped_at, T0 + 4 * DAY);
	assert_int_equal(t.pause_start_ms, BS__SLA_NONE);

	/* Stopped late: breached for good, at evaluation time or later. */
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_STOP, T0 + 16 * DAY, 0),
			 BS_OK);
	s = eval_at(p, &t, T0 + 200 * DAY);
	assert_int_equal(s.resolution.level, BS__SLA_BREACHED);
	assert_int_equal(s.resolution.remaining_ms, -DAY);
	/* Stopped at the due instant: met. */
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_STOP, T0 + 15 * DAY, 0),
			 BS_OK);
	s = eval_at(p, &t, T0 + 200 * DAY);
	assert_int_equal(s.resolution.level, BS__SLA_OK);
}

static void test_sla__slow_clocks_clamp(void **st)
{
	const struct bs__sla_profile *p = cn();
	struct bs__sla_ticket t;
	struct bs__sla_status s;

	(void)st;
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	/* A device three days slow reports contact before T0. */
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_FIRST_RESPONSE,
				       T0 - 3 * DAY, 0),
			 BS_OK);
	assert_int_equal(t.first_response_at, T0);
	/* A resume stamped before its pause: a pause of no length. */
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_PAUSE, T0 + DAY, 0),
			 BS_OK);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_RESUME, T0 + HOUR, 0),
			 BS_OK);
	assert_int_equal(t.paused_ms, 0);
	/* Evaluated on a clock before T0: nothing used, not negative. */
	s = eval_at(p, &t, T0 - DAY);
	assert_int_equal(s.resolution.elapsed_ms, 0);
	assert_int_equal(s.resolution.remaining_ms, 15 * DAY);
	assert_int_equal(s.resolution.level, BS__SLA_OK);
	/* A pause start after "now": nothing of it counted yet. */
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_PAUSE, T0 + 2 * DAY, 0),
			 BS_OK);
	s = eval_at(p, &t, T0 + DAY);
	assert_int_equal(s.resolution.elapsed_ms, DAY);
	assert_int_equal(s.resolution.due_ms, T0 + 15 * DAY);
}

/* A ticket walked through the state machine's own edges. */
static void test_sla__driven_by_state_effects(void **st)
{
	static const enum bs__status path[] = {
		BS__STATUS_RECEIVED,         BS__STATUS_DISPATCHED,
		BS__STATUS_ACKNOWLEDGED,     BS__STATUS_IN_PROGRESS,
		BS__STATUS_EXTENSION_REQUESTED, BS__STATUS_IN_PROGRESS,
		BS__STATUS_PENDING_EXTERNAL, BS__STATUS_RESOLUTION_PROPOSED,
		BS__STATUS_CLOSED,
	};
	static const int64_t at[] = { 0,       10 * MIN, 30 * MIN,
				      38 * MIN, 10 * DAY, 11 * DAY,
				      12 * DAY, 20 * DAY, 21 * DAY };
	const struct bs__sla_profile *p = cn();
	struct bs__sla_ticket t;
	struct bs__sla_status s;
	size_t i;

	(void)st;
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_HIGH);
	for (i = 1; i < BS__ARRAY_LEN(path); i++) {
		const struct bs__edge *e = bs__state_edge(path[i - 1], path[i]);

		assert_non_null(e);
		assert_int_equal(bs__sla_apply(&t, p, e->effects, T0 + at[i],
					       1),
				 BS_OK);
	}
	assert_int_equal(t.first_response_at, T0 + 38 * MIN);
	assert_int_equal(t.ext_level, 1);
	assert_int_equal(t.paused_ms, 8 * DAY);
	assert_int_equal(t.stopped_at, T0 + 21 * DAY);
	s = eval_at(p, &t, T0 + 40 * DAY);
	/* 21 days minus 8 paused = 13 used of 30. */
	assert_int_equal(s.resolution.elapsed_ms, 13 * DAY);
	assert_int_equal(s.resolution.due_ms, T0 + 38 * DAY);
	assert_int_equal(s.resolution.level, BS__SLA_OK);
	assert_int_equal(s.first_response.level, BS__SLA_OK);
}

static void test_sla__trust(void **st)
{
	const int64_t dev = T0, off = 5 * MIN, age = BS__SLA_TRUST_MAX_AGE_MS;
	enum bs__sla_trust tr = BS__TRUST_OK;
	struct bs__sla_ticket t;
	struct bs__sla_status s;

	(void)st;
	assert_int_equal(bs__sla_hub_now(&tr, dev, off, BS__SLA_NONE, age),
			 dev);
	assert_int_equal(tr, BS__TRUST_NEVER_SYNCED);
	assert_int_equal(bs__sla_hub_now(&tr, dev, off, dev - HOUR, age),
			 dev + off);
	assert_int_equal(tr, BS__TRUST_OK);
	assert_int_equal(bs__sla_hub_now(&tr, dev, -3 * DAY, dev - age, age),
			 dev - 3 * DAY);
	assert_int_equal(tr, BS__TRUST_OK);
	assert_int_equal(bs__sla_hub_now(&tr, dev, off, dev - age - 1, age),
			 dev + off);
	assert_int_equal(tr, BS__TRUST_STALE);
	assert_int_equal(bs__sla_hub_now(&tr, dev, off, dev + 1, age),
			 dev + off);
	assert_int_equal(tr, BS__TRUST_CLOCK_BACK);

	/* The evaluation carries the flag it was given. */
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	assert_int_equal(bs__sla_eval(&s, cn(), &t, T0, BS__TRUST_STALE),
			 BS_OK);
	assert_int_equal(s.trust, BS__TRUST_STALE);
	assert_string_equal(bs__sla_trust_name(BS__TRUST_OK), "trusted");
	assert_non_null(strstr(bs__sla_trust_name(BS__TRUST_NEVER_SYNCED),
			       "untrusted"));
	assert_non_null(strstr(bs__sla_trust_name(BS__TRUST_CLOCK_BACK),
			       "untrusted"));
	assert_non_null(strstr(bs__sla_trust_name(BS__TRUST_STALE),
			       "untrusted"));
}

static void test_sla__next_due_orders_the_queue(void **st)
{
	const struct bs__sla_profile *p = cn();
	struct bs__sla_ticket t;
	struct bs__sla_status s;

	(void)st;
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_LOW);
	s = eval_at(p, &t, T0 + HOUR);
	assert_int_equal(bs__sla_next_due(&s), T0 + DAY);
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_FIRST_RESPONSE,
				       T0 + 2 * HOUR, 0),
			 BS_OK);
	s = eval_at(p, &t, T0 + 3 * HOUR);
	assert_int_equal(bs__sla_next_due(&s), T0 + 15 * DAY);
	/* A paused ticket's due time keeps moving. */
	assert_int_equal(bs__sla_apply(&t, p, BS__EFF_PAUSE, T0 + DAY, 0),
			 BS_OK);
	s = eval_at(p, &t, T0 + 3 * DAY);
	assert_int_equal(bs__sla_next_due(&s), T0 + 17 * DAY);
}

static void test_sla__invalid_records(void **st)
{
	const struct bs__sla_profile *p = cn();
	struct bs__sla_ticket t;
	struct bs__sla_status s;

	(void)st;
	bs__sla_ticket_init(&t, -1, BS__PRIORITY_NORMAL);
	assert_int_equal(bs__sla_eval(&s, p, &t, T0, BS__TRUST_OK), BS_EINVAL);
	bs__sla_ticket_init(&t, T0, (enum bs__priority)BS__PRIORITY_COUNT);
	assert_int_equal(bs__sla_eval(&s, p, &t, T0, BS__TRUST_OK), BS_EINVAL);
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	assert_int_equal(bs__sla_eval(&s, p, &t, -5, BS__TRUST_OK), BS_EINVAL);
	assert_int_equal(bs__sla_eval(&s, p, &t, (int64_t)1 << 48,
				      BS__TRUST_OK),
			 BS_EINVAL);
	assert_int_equal(bs__sla_eval(&s, NULL, &t, T0, BS__TRUST_OK),
			 BS_EINVAL);
	t.ext_level = -1;
	assert_int_equal(bs__sla_eval(&s, p, &t, T0, BS__TRUST_OK), BS_EINVAL);
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	t.paused_ms = -DAY;
	assert_int_equal(bs__sla_eval(&s, p, &t, T0, BS__TRUST_OK), BS_EINVAL);
	bs__sla_ticket_init(&t, T0, BS__PRIORITY_NORMAL);
	t.stopped_at = -7;
	assert_int_equal(bs__sla_eval(&s, p, &t, T0, BS__TRUST_OK), BS_EINVAL);
}

static void test_sla__names(void **st)
{
	enum bs__priority pr;
	int i;

	(void)st;
	for (i = 0; i < BS__PRIORITY_COUNT; i++) {
		assert_int_equal(bs__priority_parse(&pr, bs__priority_name(i)),
				 BS_OK);
		assert_int_equal(pr, i);
	}
	assert_string_equal(bs__priority_name(BS__PRIORITY_URGENT), "urgent");
	assert_int_equal(bs__priority_parse(&pr, "Urgent"), BS_EINVAL);
	assert_int_equal(bs__priority_parse(&pr, NULL), BS_EINVAL);
	assert_string_equal(bs__priority_name(BS__PRIORITY_COUNT), "unknown");
	assert_string_equal(bs__sla_level_name(BS__SLA_BREACHED), "breached");
	assert_string_equal(bs__sla_level_name(BS__SLA_WARN_1), "warning");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sla__builtin_profiles),
		cmocka_unit_test(test_sla__profile_check_rejects),
		cmocka_unit_test(test_sla__resolution_base),
		cmocka_unit_test(test_sla__extension_levels),
		cmocka_unit_test(test_sla__warning_boundaries),
		cmocka_unit_test(test_sla__pauses_are_excluded),
		cmocka_unit_test(test_sla__pause_misuse),
		cmocka_unit_test(test_sla__first_response),
		cmocka_unit_test(test_sla__stop),
		cmocka_unit_test(test_sla__slow_clocks_clamp),
		cmocka_unit_test(test_sla__driven_by_state_effects),
		cmocka_unit_test(test_sla__trust),
		cmocka_unit_test(test_sla__next_due_orders_the_queue),
		cmocka_unit_test(test_sla__invalid_records),
		cmocka_unit_test(test_sla__names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
