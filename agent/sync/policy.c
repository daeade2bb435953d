/*
 * policy.c - head office's "max days offline" policy on the device
 * (protocol.md, "Offline policy").
 *
 * Every 200 answer to a signed request carries max_offline_ms; the
 * round stores the latest in sync_state (state.c) together with the
 * clock it learned.  The span is counted on the device's own clock from
 * the end of the last successful round (or from enrollment, for a
 * device that has not finished one yet), because that is the only clock
 * a device offline has.  A clock set back before that point could
 * otherwise stretch the span for ever, so it locks too.
 *
 * The lock is a policy aid that makes a device come back to head office
 * (where a revocation or a scope change reaches it), not a security
 * boundary: the store's encryption is that.  It only refuses; nothing
 * queued is touched.
 */
#include <stdio.h>
#include <string.h>

#include "agent/core/common.h"
#include "platform/os.h"
#include "sync_internal.h"

int bs_sync_policy_get(bs_store *st, bs_sync_policy *out)
{
	sqlite3 *db;
	int64_t v;
	int have, rc;

	if (out == NULL)
		return bs__error(BS_EINVAL, "no policy to fill in");
	memset(out, 0, sizeof(*out));
	if (st == NULL || (db = bs_store_db(st)) == NULL)
		return bs__error(BS_EINVAL, "no open store");
	out->now_ms = bs_os_now_ms();
	if ((rc = bs__ss_int(db, BS__SK_MAX_OFFLINE, &v, &have)) != BS_OK)
		return rc;
	/* A value outside the protocol's range was never stored by this
	 * code: treat the setting as damaged rather than as no limit. */
	if (have && (v < 0 || v > BS__SYNC_MAX_OFFLINE_MS))
		return bs__error(BS_EDAMAGED, "the stored offline policy "
				 "(%lld ms) is out of range", (long long)v);
	out->known = have;
	out->max_offline_ms = have ? v : 0;
	if ((rc = bs__ss_int(db, BS__SK_LAST_ROUND, &v, &have)) != BS_OK)
		return rc;
	if (!have && (rc = bs__ss_int(db, BS__SK_ENROLLED, &v, &have)))
		return rc;
	out->since_ms = have ? v : 0;
	if (out->max_offline_ms == 0 || out->since_ms <= 0)
		return BS_OK;
	out->lock_at_ms = out->since_ms + out->max_offline_ms;
	if (out->now_ms < out->since_ms) {
		out->locked = 1;
		out->clock_behind = 1;
	} else if (out->now_ms > out->lock_at_ms) {
		out->locked = 1;
	}
	return BS_OK;
}

void bs__sync_span(char *out, size_t cap, int64_t ms)
{
	static const struct {
		int64_t ms;
		const char *one, *many;
	} unit[] = {
		{ 86400000, "day", "days" },
		{ 3600000, "hour", "hours" },
		{ 60000, "minute", "minutes" },
		{ 1000, "second", "seconds" },
	};
	size_t i, len = 0;
	int parts = 0;

	if (out == NULL || cap == 0)
		return;
	out[0] = '\0';
	if (ms < 0)
		ms = -ms;
	/* The two largest units that are not zero: "15 days 3 hours". */
	for (i = 0; i < BS__ARRAY_LEN(unit) && parts < 2; i++) {
		int64_t n = ms / unit[i].ms;
		int w;

		if (n == 0 && parts == 0)
			continue;
		ms -= n * unit[i].ms;
		if (n == 0)
			break;
		w = snprintf(out + len, cap - len, "%s%lld %s",
			     parts ? " " : "", (long long)n,
			     n == 1 ? unit[i].one : unit[i].many);
		if (w < 0 || (size_t)w >= cap - len)
			return;
		len += (size_t)w;
		parts++;
	}
	if (parts == 0)
		snprintf(out, cap, "%lld ms", (long long)ms);
}

int bs_sync_check_lock(bs_store *st)
{
	bs_sync_policy p;
	char ago[64], limit[64];
	int rc;

	if ((rc = bs_sync_policy_get(st, &p)) != BS_OK)
		return rc;
	if (!p.locked)
		return BS_OK;
	bs__sync_span(limit, sizeof(limit), p.max_offline_ms);
	if (p.clock_behind) {
		bs__sync_span(ago, sizeof(ago), p.since_ms - p.now_ms);
		return bs__error(BS_ELOCKED, "locked by head office's offline "
				 "policy: this device's clock is %s behind "
				 "its last sync, so the time offline cannot "
				 "be told; sync with head office to unlock",
				 ago);
	}
	bs__sync_span(ago, sizeof(ago), p.now_ms - p.since_ms);
	return bs__error(BS_ELOCKED, "locked by head office's offline "
			 "policy: last synced %s ago, beyond the limit of %s; "
			 "sync with head office to unlock", ago, limit);
}
