/*
 * sla.c - SLA profiles, the per-ticket clock record and its evaluation.
 *
 * Divided into: the built-in profiles and their validation; names;
 * bs__sla_apply(), which turns state-machine effects into clock events;
 * bs__sla_eval(), which computes both clocks at a moment; and the
 * device-side hub time with its trust flag.
 *
 * The arithmetic stays exact in 64-bit integers: every time is checked
 * to lie in [0, 2^48) ms, so the largest product formed (elapsed times
 * 1000) stays far below 2^63.
 */
#include <string.h>

#include "common.h"
#include "sla.h"
#include "state.h"

#define TIME_MAX ((int64_t)0xffffffffffff)
#define MAX_DAYS 3650
#define MAX_MINUTES (MAX_DAYS * 24 * 60)

/*
 * First-response targets are the bank's own (no regulation sets them):
 * urgent 30 min, high 2 h, normal 4 h, low 24 h, in calendar time.
 */
#define FIRST_RESPONSE_MIN { 30, 120, 240, 1440 }

static const struct bs__sla_profile profiles[] = {
	/* CBIRC Order 2020 No. 3: 15 days, 30 if complex, 60 with head
	 * office's approval; appraisal time excluded. */
	{ "cn2020", FIRST_RESPONSE_MIN, { 15, 30, 60 }, 2, { 50, 80 } },
	/* FCA DISP 1.6: final response within 8 weeks, no extension. */
	{ "fca", FIRST_RESPONSE_MIN, { 56, 56, 56 }, 0, { 50, 80 } },
	/* CFPB portal: 15 days, or 60 once the company has answered "in
	 * progress" (level 1). */
	{ "cfpb", FIRST_RESPONSE_MIN, { 15, 60, 60 }, 1, { 50, 80 } },
};

const struct bs__sla_profile *bs__sla_profile_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < BS__ARRAY_LEN(profiles); i++)
		if (strcmp(name, profiles[i].name) == 0)
			return &profiles[i];
	return NULL;
}

int bs__sla_profile_check(const struct bs__sla_profile *p)
{
	int i;

	if (p == NULL || p->name == NULL || p->name[0] == '\0')
		return bs__error(BS_EINVAL, "SLA profile has no name");
	for (i = 0; i < BS__PRIORITY_COUNT; i++)
		if (p->first_response_min[i] <= 0 ||
		    p->first_response_min[i] > MAX_MINUTES)
			return bs__error(BS_EINVAL,
					 "SLA profile %.40s: first response "
					 "for %s must be 1..%d minutes",
					 p->name,
					 bs__priority_name(
						 (enum bs__priority)i),
					 MAX_MINUTES);
	if (p->max_ext < 0 || p->max_ext > BS__SLA_MAX_EXT)
		return bs__error(BS_EINVAL,
				 "SLA profile %.40s: max_ext must be 0..%d",
				 p->name, BS__SLA_MAX_EXT);
	for (i = 0; i <= p->max_ext; i++) {
		if (p->resolution_days[i] <= 0 ||
		    p->resolution_days[i] > MAX_DAYS)
			return bs__error(BS_EINVAL,
					 "SLA profile %.40s: resolution days "
					 "at level %d must be 1..%d",
					 p->name, i, MAX_DAYS);
		if (i > 0 &&
		    p->resolution_days[i] <= p->resolution_days[i - 1])
			return bs__error(BS_EINVAL,
					 "SLA profile %.40s: extension level "
					 "%d does not add time",
					 p->name, i);
	}
	if (p->warn_pct[0] <= 0 || p->warn_pct[0] >= p->warn_pct[1] ||
	    p->warn_pct[1] >= 100)
		return bs__error(BS_EINVAL,
				 "SLA profile %.40s: warnings must satisfy "
				 "0 < first < second < 100 %%",
				 p->name);
	return BS_OK;
}

static const char *const priority_names[BS__PRIORITY_COUNT] = {
	"urgent", "high", "normal", "low"
};

const char *bs__priority_name(enum bs__priority p)
{
	if ((unsigned)p >= BS__PRIORITY_COUNT)
		return "unknown";
	return priority_names[p];
}

int bs__priority_parse(enum bs__priority *out, const char *name)
{
	int i;

	for (i = 0; name != NULL && i < BS__PRIORITY_COUNT; i++) {
		if (strcmp(name, priority_names[i]) == 0) {
			*out = (enum bs__priority)i;
			return BS_OK;
		}
	}
	return bs__error(BS_EINVAL, "unknown priority '%.40s'",
			 name ? name : "");
}

const char *bs__sla_level_name(enum bs__sla_level l)
{
	switch (l) {
	case BS__SLA_OK:
		return "ok";
	case BS__SLA_WARN_1:
		return "warning";
	case BS__SLA_WARN_2:
		return "urgent_warning";
	case BS__SLA_BREACHED:
		return "breached";
	}
	return "unknown";
}

const char *bs__sla_trust_name(enum bs__sla_trust t)
{
	switch (t) {
	case BS__TRUST_OK:
		return "trusted";
	case BS__TRUST_NEVER_SYNCED:
		return "untrusted: never synced with head office";
	case BS__TRUST_CLOCK_BACK:
		return "untrusted: device clock was set back";
	case BS__TRUST_STALE:
		return "untrusted: last sync too long ago";
	}
	return "untrusted";
}

void bs__sla_ticket_init(struct bs__sla_ticket *t, int64_t t0_ms,
			 enum bs__priority priority)
{
	t->t0_ms = t0_ms;
	t->priority = priority;
	t->ext_level = 0;
	t->paused_ms = 0;
	t->pause_start_ms = BS__SLA_NONE;
	t->first_response_at = BS__SLA_NONE;
	t->stopped_at = BS__SLA_NONE;
}

static int time_ok(int64_t ms)
{
	return ms >= 0 && ms <= TIME_MAX;
}

static int opt_time_ok(int64_t ms)
{
	return ms == BS__SLA_NONE || time_ok(ms);
}

static int check_ticket(const struct bs__sla_ticket *t,
			const struct bs__sla_profile *p)
{
	if (!time_ok(t->t0_ms))
		return bs__error(BS_EINVAL, "SLA: T0 %lld out of range",
				 (long long)t->t0_ms);
	if ((unsigned)t->priority >= BS__PRIORITY_COUNT)
		return bs__error(BS_EINVAL, "SLA: priority %d out of range",
				 (int)t->priority);
	if (t->ext_level < 0 || t->ext_level > p->max_ext)
		return bs__error(BS_EINVAL,
				 "SLA: extension level %d, profile %.40s "
				 "allows up to %d",
				 t->ext_level, p->name, p->max_ext);
	if (t->paused_ms < 0 || t->paused_ms > TIME_MAX ||
	    !opt_time_ok(t->pause_start_ms) ||
	    !opt_time_ok(t->first_response_at) ||
	    !opt_time_ok(t->stopped_at))
		return bs__error(BS_EINVAL, "SLA: clock record out of range");
	return BS_OK;
}

int bs__sla_apply(struct bs__sla_ticket *t, const struct bs__sla_profile *p,
		  unsigned effects, int64_t at_ms, int new_ext_level)
{
	struct bs__sla_ticket n = *t;
	int stopped = t->stopped_at != BS__SLA_NONE;
	int rc;

	if ((rc = bs__sla_profile_check(p)) || (rc = check_ticket(t, p)))
		return rc;
	if (!time_ok(at_ms))
		return bs__error(BS_EINVAL, "SLA: event time %lld out of range",
				 (long long)at_ms);
	if (at_ms < t->t0_ms)
		at_ms = t->t0_ms;

	if ((effects & BS__EFF_RESUME) && !stopped) {
		if (n.pause_start_ms == BS__SLA_NONE)
			return bs__error(BS_EINVAL,
					 "SLA: resume without a pause");
		if (at_ms > n.pause_start_ms)
			n.paused_ms += at_ms - n.pause_start_ms;
		n.pause_start_ms = BS__SLA_NONE;
	}
	if ((effects & BS__EFF_FIRST_RESPONSE) && !stopped &&
	    n.first_response_at == BS__SLA_NONE)
		n.first_response_at = at_ms;
	if ((effects & BS__EFF_PAUSE) && !stopped) {
		if (n.pause_start_ms != BS__SLA_NONE)
			return bs__error(BS_EINVAL,
					 "SLA: the clock is already paused");
		n.pause_start_ms = at_ms;
	}
	if (effects & BS__EFF_EXT_DECIDE) {
		if (new_ext_level < t->ext_level ||
		    new_ext_level > p->max_ext)
			return bs__error(BS_EINVAL,
					 "SLA: extension level %d is not "
					 "between %d and %d",
					 new_ext_level, t->ext_level,
					 p->max_ext);
		n.ext_level = new_ext_level;
	}
	if ((effects & BS__EFF_STOP) && !stopped) {
		if (n.pause_start_ms != BS__SLA_NONE) {
			if (at_ms > n.pause_start_ms)
				n.paused_ms += at_ms - n.pause_start_ms;
			n.pause_start_ms = BS__SLA_NONE;
		}
		n.stopped_at = at_ms;
	}
	*t = n;
	return BS_OK;
}

static enum bs__sla_level level_of(const struct bs__sla_clock *c,
				   const struct bs__sla_profile *p)
{
	if (c->elapsed_ms > c->budget_ms)
		return BS__SLA_BREACHED;
	if (c->state == BS__SLA_STOPPED)
		return BS__SLA_OK;
	if (c->elapsed_ms * 100 >= (int64_t)p->warn_pct[1] * c->budget_ms)
		return BS__SLA_WARN_2;
	if (c->elapsed_ms * 100 >= (int64_t)p->warn_pct[0] * c->budget_ms)
		return BS__SLA_WARN_1;
	return BS__SLA_OK;
}

/* Fill the derived fields of c from its budget and elapsed time. */
static void finish(struct bs__sla_clock *c, const struct bs__sla_profile *p)
{
	int64_t pm;

	if (c->elapsed_ms < 0)
		c->elapsed_ms = 0;
	c->remaining_ms = c->budget_ms - c->elapsed_ms;
	pm = c->elapsed_ms * 1000 / c->budget_ms;
	c->permille = pm > 999999 ? 999999 : (int)pm;
	c->level = level_of(c, p);
}

int bs__sla_eval(struct bs__sla_status *out, const struct bs__sla_profile *p,
		 const struct bs__sla_ticket *t, int64_t now_ms,
		 enum bs__sla_trust trust)
{
	struct bs__sla_clock *fr = &out->first_response;
	struct bs__sla_clock *res = &out->resolution;
	int64_t end, paused;
	int rc;

	if ((rc = bs__sla_profile_check(p)) || (rc = check_ticket(t, p)))
		return rc;
	if (!time_ok(now_ms))
		return bs__error(BS_EINVAL, "SLA: time %lld out of range",
				 (long long)now_ms);

	/* First response: contact, or the end of the ticket, stops it. */
	end = now_ms;
	fr->state = BS__SLA_RUNNING;
	if (t->first_response_at != BS__SLA_NONE) {
		end = t->first_response_at;
		fr->state = BS__SLA_STOPPED;
	}
	if (t->stopped_at != BS__SLA_NONE &&
	    (fr->state == BS__SLA_RUNNING || t->stopped_at < end)) {
		end = t->stopped_at;
		fr->state = BS__SLA_STOPPED;
	}
	fr->budget_ms =
		(int64_t)p->first_response_min[t->priority] * BS__SLA_MINUTE_MS;
	fr->due_ms = t->t0_ms + fr->budget_ms;
	fr->elapsed_ms = end - t->t0_ms;
	finish(fr, p);

	/* Resolution: paused time is added to the deadline, not used. */
	end = now_ms;
	res->state = BS__SLA_RUNNING;
	if (t->stopped_at != BS__SLA_NONE) {
		end = t->stopped_at;
		res->state = BS__SLA_STOPPED;
	}
	paused = t->paused_ms;
	if (t->pause_start_ms != BS__SLA_NONE) {
		if (end > t->pause_start_ms)
			paused += end - t->pause_start_ms;
		if (res->state == BS__SLA_RUNNING)
			res->state = BS__SLA_PAUSED;
	}
	res->budget_ms =
		(int64_t)p->resolution_days[t->ext_level] * BS__SLA_DAY_MS;
	res->due_ms = t->t0_ms + res->budget_ms + paused;
	res->elapsed_ms = end - t->t0_ms - paused;
	finish(res, p);

	out->trust = trust;
	return BS_OK;
}

int64_t bs__sla_hub_now(enum bs__sla_trust *trust, int64_t device_ms,
			int64_t offset_ms, int64_t synced_at_ms,
			int64_t max_age_ms)
{
	if (synced_at_ms == BS__SLA_NONE) {
		*trust = BS__TRUST_NEVER_SYNCED;
		return device_ms;
	}
	if (device_ms < synced_at_ms)
		*trust = BS__TRUST_CLOCK_BACK;
	else if (device_ms - synced_at_ms > max_age_ms)
		*trust = BS__TRUST_STALE;
	else
		*trust = BS__TRUST_OK;
	return device_ms + offset_ms;
}

int64_t bs__sla_next_due(const struct bs__sla_status *s)
{
	int64_t due = INT64_MAX;

	if (s->first_response.state != BS__SLA_STOPPED)
		due = s->first_response.due_ms;
	if (s->resolution.state != BS__SLA_STOPPED &&
	    s->resolution.due_ms < due)
		due = s->resolution.due_ms;
	return due;
}
