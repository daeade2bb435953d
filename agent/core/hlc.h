/*
 * hlc.h - hybrid logical clock: the stamp every operation carries, so
 * that edits made on devices whose clocks are days off still order
 * after everything their authors had seen.
 *
 * A stamp is one 64-bit number: the high 48 bits are physical time in
 * milliseconds since the Unix epoch (enough until the year 10889), the
 * low 16 bits a logical counter that orders events inside one
 * millisecond.  Comparing two stamps as unsigned integers compares them
 * in time.  Two writers can mint the same stamp, so a total order adds
 * the writer's id (its node) as a tie-break: bs__hlc_cmp().
 *
 * On the wire and in the database a stamp is 16 lowercase hex digits,
 * which sort as text exactly as the numbers sort.
 *
 * The hub refuses stamps too far ahead of its own wall clock
 * (max_ahead_ms); otherwise one device with its clock set to next year
 * would drag every clock in the system along.  A device, which receives
 * stamps only through its hub, runs with no such limit: the hub has
 * already checked them, and a device whose own clock is slow must still
 * accept them.
 *
 * Everything here is pure: the caller reads the wall clock
 * (bs_os_now_ms, corrected by the hub offset where it has one) and keeps
 * the state, persisting the last stamp so a restart never goes back.
 */
#ifndef BS_CORE_HLC_H
#define BS_CORE_HLC_H

#include <stddef.h>
#include <stdint.h>

/* Largest physical time a stamp can carry: 2^48 - 1 milliseconds. */
#define BS__HLC_MAX_MS ((int64_t)0xffffffffffff)

/*
 * Default limit the hub applies to incoming stamps: a week ahead of its
 * wall clock.  Device clocks a few days fast (a tablet whose battery ran
 * flat, a date typed by hand) are tolerated; a stamp further ahead is
 * "absurdly in the future" and refused.
 */
#define BS__HLC_HUB_MAX_AHEAD_MS ((int64_t)7 * 24 * 3600 * 1000)

/* Length of the text form, without the terminating NUL. */
#define BS__HLC_TEXT_LEN 16

struct bs__hlc {
	uint64_t last;        /* the greatest stamp issued or seen */
	int64_t max_ahead_ms; /* limit on remote stamps; 0 = none */
};

/* Pack and unpack a stamp.  bs__hlc_make() truncates ms to 48 bits. */
static inline uint64_t bs__hlc_make(int64_t ms, uint16_t counter)
{
	return ((uint64_t)ms << 16) | counter;
}

static inline int64_t bs__hlc_ms(uint64_t stamp)
{
	return (int64_t)(stamp >> 16);
}

static inline uint16_t bs__hlc_counter(uint64_t stamp)
{
	return (uint16_t)(stamp & 0xffff);
}

/*
 * Start a clock that continues after last (0 for a fresh one; a stored
 * clock passes the last stamp it persisted).  max_ahead_ms limits remote
 * stamps in bs__hlc_update(); 0 disables the limit.  Cannot fail.
 */
void bs__hlc_init(struct bs__hlc *c, uint64_t last, int64_t max_ahead_ms);

/*
 * Stamp a local event: *out is greater than every stamp this clock has
 * issued or seen, and its physical part is wall_ms unless the clock is
 * already ahead of wall_ms (a wall clock that went backwards).
 * BS_EINVAL if wall_ms is negative or beyond BS__HLC_MAX_MS; the clock
 * is then unchanged.
 */
int bs__hlc_now(uint64_t *out, struct bs__hlc *c, int64_t wall_ms);

/*
 * Take in a stamp received from elsewhere and stamp the receipt: *out
 * (may be NULL) is greater than both remote and every earlier stamp of
 * this clock.  BS_EINVAL, with the clock unchanged, if wall_ms is out of
 * range or remote is more than max_ahead_ms ahead of wall_ms.
 */
int bs__hlc_update(uint64_t *out, struct bs__hlc *c, uint64_t remote,
		   int64_t wall_ms);

/*
 * The future check alone, for a hub that validates a whole batch before
 * applying any of it: BS_OK if stamp's physical time is at most
 * max_ahead_ms after wall_ms (max_ahead_ms 0 = no limit), else BS_EINVAL
 * with a message saying how far ahead it is.
 */
int bs__hlc_check_ahead(uint64_t stamp, int64_t wall_ms, int64_t max_ahead_ms);

/*
 * Total order of (stamp, node) pairs: by stamp, then by node id compared
 * bytewise (a NULL node counts as "").  Returns <0, 0 or >0.
 */
int bs__hlc_cmp(uint64_t a, const char *node_a, uint64_t b,
		const char *node_b);

/* Write the 16 hex digits and a NUL into out.  Cannot fail. */
void bs__hlc_format(char out[BS__HLC_TEXT_LEN + 1], uint64_t stamp);

/*
 * Parse exactly len bytes of s (no NUL needed) as a stamp.  Only the
 * canonical form is accepted: 16 lowercase hex digits, so one stamp has
 * one spelling.  BS_EINVAL with a message otherwise.
 */
int bs__hlc_parse(uint64_t *out, const char *s, size_t len);

#endif
