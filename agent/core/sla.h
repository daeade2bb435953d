/*
 * sla.h - SLA arithmetic: the first-response and resolution clocks of a
 * ticket, from its T0 (first receipt on any channel, never dispatch),
 * with extensions and paused time, evaluated against a profile that is
 * data.  schema/sla.md describes the rules and the built-in profiles.
 *
 * Three parts: profiles (built-in "cn2020", "fca", "cfpb", or any that
 * passes bs__sla_profile_check), the clock record of one ticket and the
 * state-machine effects that move it (bs__sla_apply), and evaluation at
 * a moment (bs__sla_eval) into due times, fraction used and a warning
 * level, carrying a flag that says whether the moment can be trusted.
 *
 * All times are int64_t milliseconds since the Unix epoch, counted in
 * calendar time: a day is 86,400,000 ms and there is no business-hours
 * calendar yet.  Pure: the caller supplies every time.
 */
#ifndef BS_CORE_SLA_H
#define BS_CORE_SLA_H

#include <stdint.h>

/* "Not happened": the value of an unset time in struct bs__sla_ticket. */
#define BS__SLA_NONE INT64_MIN

#define BS__SLA_MINUTE_MS ((int64_t)60 * 1000)
#define BS__SLA_DAY_MS ((int64_t)24 * 3600 * 1000)

/* The highest extension level any profile may have. */
#define BS__SLA_MAX_EXT 2

/*
 * How long the hub offset learned at a sync is trusted: after this the
 * device clock may have drifted or been changed unnoticed.  Matches the
 * offline lease in the research notes.
 */
#define BS__SLA_TRUST_MAX_AGE_MS ((int64_t)72 * 3600 * 1000)

enum bs__priority {
	BS__PRIORITY_URGENT,
	BS__PRIORITY_HIGH,
	BS__PRIORITY_NORMAL,
	BS__PRIORITY_LOW,
	BS__PRIORITY_COUNT
};

struct bs__sla_profile {
	const char *name;
	/* First-response target per priority, in minutes. */
	int32_t first_response_min[BS__PRIORITY_COUNT];
	/* Resolution deadline in days from T0, by extension level; only
	 * levels 0..max_ext are used, and they must increase. */
	int32_t resolution_days[BS__SLA_MAX_EXT + 1];
	int max_ext;     /* 0 (no extension), 1 or 2 */
	int warn_pct[2]; /* first and second warning, e.g. 50 and 80 */
};

/*
 * The clock record of one ticket, as the store keeps it.  Times not yet
 * reached are BS__SLA_NONE; bs__sla_ticket_init() sets that up.
 */
struct bs__sla_ticket {
	int64_t t0_ms;             /* first receipt on any channel */
	enum bs__priority priority;
	int ext_level;             /* extension level granted, 0..2 */
	int64_t paused_ms;         /* total of finished pauses */
	int64_t pause_start_ms;    /* start of the pause under way */
	int64_t first_response_at; /* first contact with the customer */
	int64_t stopped_at;        /* closed, merged or withdrawn */
};

enum bs__sla_state {
	BS__SLA_RUNNING,
	BS__SLA_PAUSED,
	BS__SLA_STOPPED
};

enum bs__sla_level {
	BS__SLA_OK,       /* running below the first warning, or met */
	BS__SLA_WARN_1,   /* at or past the first warning (50 %) */
	BS__SLA_WARN_2,   /* at or past the second warning (80 %) */
	BS__SLA_BREACHED, /* past the due time, running or stopped late */
};

enum bs__sla_trust {
	BS__TRUST_OK,           /* corrected by a recent hub offset */
	BS__TRUST_NEVER_SYNCED, /* no hub offset known */
	BS__TRUST_CLOCK_BACK,   /* device clock is before the last sync */
	BS__TRUST_STALE,        /* last sync is too long ago */
};

struct bs__sla_clock {
	enum bs__sla_state state;
	enum bs__sla_level level;
	int64_t due_ms;       /* deadline, paused time added */
	int64_t budget_ms;    /* time allowed, pauses excluded */
	int64_t elapsed_ms;   /* time used, pauses excluded, >= 0 */
	int64_t remaining_ms; /* budget - elapsed; negative when late */
	int permille;         /* elapsed / budget in 1/1000, may pass 1000 */
};

struct bs__sla_status {
	struct bs__sla_clock first_response;
	struct bs__sla_clock resolution;
	enum bs__sla_trust trust; /* as given to bs__sla_eval() */
};

/* Built-in profile by name ("cn2020", "fca", "cfpb"), or NULL. */
const struct bs__sla_profile *bs__sla_profile_find(const char *name);

/*
 * Validate a profile that came as data: a name, positive targets, at
 * most 10 years, increasing deadlines per level, 0 < warn_pct[0] <
 * warn_pct[1] < 100.  BS_OK or BS_EINVAL saying which field is wrong.
 */
int bs__sla_profile_check(const struct bs__sla_profile *p);

/* Names for the store, wire and command line. */
const char *bs__priority_name(enum bs__priority p);
int bs__priority_parse(enum bs__priority *out, const char *name);
const char *bs__sla_level_name(enum bs__sla_level l);
const char *bs__sla_trust_name(enum bs__sla_trust t);

/* A record with T0 and priority set and nothing else happened. */
void bs__sla_ticket_init(struct bs__sla_ticket *t, int64_t t0_ms,
			 enum bs__priority priority);

/*
 * Apply the SLA effects of a state transition (BS__EFF_* from the edge,
 * or from bs__state_merge()) made at at_ms.  new_ext_level is the
 * extension level in force afterwards and is read only with
 * BS__EFF_EXT_DECIDE (the current level for a refusal).
 *
 * Times before T0, or a resume before its pause began, are taken as T0
 * or the pause start: a clock that was slow must not make time negative.
 * Once stopped, a record only changes by extension; a second stop keeps
 * the first.  BS_EINVAL, with *t unchanged, for a pause while paused, a
 * resume while not paused, an extension level that goes down or passes
 * the profile's max_ext, or a time out of range.
 */
int bs__sla_apply(struct bs__sla_ticket *t, const struct bs__sla_profile *p,
		  unsigned effects, int64_t at_ms, int new_ext_level);

/*
 * Evaluate both clocks of t at now_ms under profile p.  trust is passed
 * through to out->trust so that what is shown always says whether the
 * moment came from a trusted clock.  BS_EINVAL for an invalid profile or
 * record.
 *
 * A running clock is breached once elapsed passes the budget (the due
 * instant itself is still in time) and warns at exactly warn_pct of it.
 * A stopped clock is OK if it stopped in time, else BREACHED.  The
 * first-response clock stops at first contact, or when the ticket stops
 * before any contact; pauses do not apply to it.
 */
int bs__sla_eval(struct bs__sla_status *out, const struct bs__sla_profile *p,
		 const struct bs__sla_ticket *t, int64_t now_ms,
		 enum bs__sla_trust trust);

/*
 * The hub's time as the device best knows it: device_ms + offset_ms,
 * where offset_ms (hub minus device) was learned at the last sync, made
 * at device time synced_at_ms (BS__SLA_NONE if never).  *trust says
 * whether it can be shown as fact: not if never synced, if the device
 * clock now reads before the last sync (it was set back), or if the last
 * sync is more than max_age_ms ago.  Cannot fail.
 */
int64_t bs__sla_hub_now(enum bs__sla_trust *trust, int64_t device_ms,
			int64_t offset_ms, int64_t synced_at_ms,
			int64_t max_age_ms);

/*
 * The key a queue sorts by: the earliest due time among the clocks
 * still running or paused, INT64_MAX if both have stopped.
 */
int64_t bs__sla_next_due(const struct bs__sla_status *s);

#endif
