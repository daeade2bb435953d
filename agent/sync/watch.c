/*
 * watch.c - `branchsync sync --watch`: stay running, sync soon after a
 * local change (once it has settled, so that a burst of edits goes in
 * one round) and periodically otherwise, and back off exponentially,
 * with jitter, while the hub cannot be reached.  Queued operations are
 * never given up: a failed round is followed by another, however long
 * the outage.
 *
 * Local changes are noticed by the outbox's highest sequence number,
 * which every change of any process using the store moves.
 */
#include <string.h>
#include <time.h>

#include "agent/core/common.h"
#include "platform/os.h"
#include "sync_internal.h"

int64_t bs_sync_backoff_ms(unsigned failures, int64_t min_ms, int64_t max_ms,
			   uint32_t rnd)
{
	int64_t base, half;
	unsigned i;

	if (min_ms <= 0)
		min_ms = 1;
	if (max_ms < min_ms)
		max_ms = min_ms;
	base = min_ms;
	for (i = 0; i < failures && base < max_ms; i++)
		base = base > max_ms / 2 ? max_ms : base * 2;
	if (base > max_ms)
		base = max_ms;
	half = base / 2;
	return half + (int64_t)(rnd % (uint64_t)(base - half + 1));
}

static int64_t mono_ms(void)
{
	return bs_os_monotonic_ns() / 1000000;
}

static void nap(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* The outbox's highest sequence number, or -1 if it cannot be read. */
static int64_t outbox_mark(bs_store *st)
{
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_prepare_v2(bs_store_db(st), "SELECT coalesce(max(seq), 0) "
			       "FROM outbox", -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Failures no later round can cure. */
static int fatal(int rc)
{
	return rc == BS_EREVOKED || rc == BS_EDAMAGED || rc == BS_ENOMEM ||
	       rc == BS_ENOTSTORE;
}

int bs_sync_watch(bs_store **st, const bs_sync_watch_opts *opts)
{
	bs_sync_watch_opts o;
	bs_sync_report rep;
	int64_t now, next, changed = -1, mark, seen, wait;
	unsigned failures = 0;
	uint32_t rnd;
	int rc;

	memset(&o, 0, sizeof(o));
	if (opts != NULL)
		o = *opts;
	if (o.interval_ms <= 0)
		o.interval_ms = 5 * 60 * 1000;
	if (o.poll_ms <= 0)
		o.poll_ms = 1000;
	if (o.settle_ms <= 0)
		o.settle_ms = 2000;
	if (o.backoff_min_ms <= 0)
		o.backoff_min_ms = 1000;
	if (o.backoff_max_ms <= 0)
		o.backoff_max_ms = 5 * 60 * 1000;
	if (st == NULL || *st == NULL)
		return bs__error(BS_EINVAL, "no open store");
	seen = outbox_mark(*st);
	next = mono_ms();
	for (;;) {
		if (o.stop != NULL && o.stop(o.ud))
			return BS_OK;
		now = mono_ms();
		mark = outbox_mark(*st);
		if (mark != seen) {
			/* A local change: sync once it has settled, unless
			 * the hub is being waited for anyway. */
			seen = mark;
			changed = now;
			if (failures == 0 && next > now + o.settle_ms)
				next = now + o.settle_ms;
		}
		if (now >= next) {
			rc = bs_sync_round(st, &o.sync, &rep);
			now = mono_ms();
			if (rc == BS_OK) {
				failures = 0;
				next = now + o.interval_ms;
				/* Changes made during the round go soon. */
				seen = outbox_mark(*st);
				if (changed > 0 && seen != mark)
					next = now + o.settle_ms;
				changed = -1;
			} else if (fatal(rc)) {
				if (o.event != NULL)
					o.event(rc, &rep, -1, o.ud);
				return rc;
			} else {
				if (bs_os_random(&rnd, sizeof(rnd)) != BS_OK)
					rnd = (uint32_t)now;
				/* A failure a retry cannot cure soon waits as
				 * long as the backoff allows. */
				next = now + bs_sync_backoff_ms(
						     bs__sync_retryable(rc)
							     ? failures
							     : 64,
						     o.backoff_min_ms,
						     o.backoff_max_ms, rnd);
				failures++;
			}
			if (o.event != NULL)
				o.event(rc, &rep, next - now, o.ud);
			continue;
		}
		wait = next - now;
		nap(wait < o.poll_ms ? wait : o.poll_ms);
	}
}
