/*
 * hlc.c - hybrid logical clock (Kulkarni et al., "Logical Physical
 * Clocks", 2014) packed into one 64-bit number.
 *
 * With physical time in the high 48 bits and the counter in the low 16,
 * the paper's rules collapse into integer arithmetic: "same millisecond,
 * counter plus one" is stamp + 1, and a counter that would pass 65535
 * carries into the millisecond instead of wrapping, which keeps every
 * stamp greater than the last.  The text form and its parser follow.
 */
#include <string.h>

#include "common.h"
#include "hlc.h"

void bs__hlc_init(struct bs__hlc *c, uint64_t last, int64_t max_ahead_ms)
{
	c->last = last;
	c->max_ahead_ms = max_ahead_ms > 0 ? max_ahead_ms : 0;
}

static int check_wall(int64_t wall_ms)
{
	if (wall_ms < 0 || wall_ms > BS__HLC_MAX_MS)
		return bs__error(BS_EINVAL,
				 "wall clock %lld ms is outside the range "
				 "of a clock stamp",
				 (long long)wall_ms);
	return BS_OK;
}

/*
 * The stamp that follows floor on a clock reading wall_ms: wall_ms with
 * counter 0 if the wall clock is ahead, else floor + 1.
 */
static int next_after(uint64_t *out, uint64_t floor, int64_t wall_ms)
{
	if (wall_ms > bs__hlc_ms(floor)) {
		*out = bs__hlc_make(wall_ms, 0);
		return BS_OK;
	}
	if (floor == UINT64_MAX)
		return bs__error(BS_EINVAL, "clock stamp range exhausted");
	*out = floor + 1;
	return BS_OK;
}

int bs__hlc_now(uint64_t *out, struct bs__hlc *c, int64_t wall_ms)
{
	uint64_t s = 0;
	int rc;

	if ((rc = check_wall(wall_ms)) != BS_OK)
		return rc;
	if ((rc = next_after(&s, c->last, wall_ms)) != BS_OK)
		return rc;
	c->last = s;
	*out = s;
	return BS_OK;
}

int bs__hlc_check_ahead(uint64_t stamp, int64_t wall_ms, int64_t max_ahead_ms)
{
	int64_t ahead;

	if (max_ahead_ms <= 0)
		return BS_OK;
	ahead = bs__hlc_ms(stamp) - wall_ms;
	if (ahead <= max_ahead_ms)
		return BS_OK;
	return bs__error(BS_EINVAL,
			 "clock stamp %016llx is %lld min ahead of this "
			 "clock, more than the %lld min allowed",
			 (unsigned long long)stamp,
			 (long long)(ahead / 60000),
			 (long long)(max_ahead_ms / 60000));
}

int bs__hlc_update(uint64_t *out, struct bs__hlc *c, uint64_t remote,
		   int64_t wall_ms)
{
	uint64_t s = 0;
	int rc;

	if ((rc = check_wall(wall_ms)) != BS_OK)
		return rc;
	if ((rc = bs__hlc_check_ahead(remote, wall_ms, c->max_ahead_ms)))
		return rc;
	if ((rc = next_after(&s, c->last > remote ? c->last : remote,
			     wall_ms)) != BS_OK)
		return rc;
	c->last = s;
	if (out != NULL)
		*out = s;
	return BS_OK;
}

int bs__hlc_cmp(uint64_t a, const char *node_a, uint64_t b,
		const char *node_b)
{
	int r;

	if (a != b)
		return a < b ? -1 : 1;
	r = strcmp(node_a ? node_a : "", node_b ? node_b : "");
	return (r > 0) - (r < 0);
}

static const char hex[] = "0123456789abcdef";

void bs__hlc_format(char out[BS__HLC_TEXT_LEN + 1], uint64_t stamp)
{
	int i;

	for (i = BS__HLC_TEXT_LEN - 1; i >= 0; i--) {
		out[i] = hex[stamp & 0xf];
		stamp >>= 4;
	}
	out[BS__HLC_TEXT_LEN] = '\0';
}

int bs__hlc_parse(uint64_t *out, const char *s, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || len != BS__HLC_TEXT_LEN)
		return bs__error(BS_EINVAL,
				 "clock stamp must be %d hex digits, got %zu "
				 "characters",
				 BS__HLC_TEXT_LEN, s == NULL ? 0 : len);
	for (i = 0; i < len; i++) {
		char ch = s[i];
		unsigned d;

		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else
			return bs__error(BS_EINVAL,
					 "clock stamp has a character that is "
					 "not a lowercase hex digit at %zu",
					 i);
		v = (v << 4) | d;
	}
	*out = v;
	return BS_OK;
}
