/*
 * round.c - one sync round: connect with the enrolled identity, push the
 * outbox, pull to the end, and what a revocation means for the device:
 * its store is closed and destroyed, keys first.
 *
 * The revocation is noted in the store before the store is destroyed,
 * so that a device that dies in between destroys itself at the next
 * round even without reaching the hub again.
 */
#include <stdio.h>
#include <string.h>

#include "agent/core/common.h"
#include "agent/core/json.h"
#include "agent/core/wire.h"
#include "agent/store/store_internal.h"
#include "platform/os.h"
#include "sync_internal.h"

void bs__sync_defaults(bs_sync_opts *o, const bs_sync_opts *in)
{
	memset(o, 0, sizeof(*o));
	if (in != NULL)
		*o = *in;
	if (o->connect_timeout_ms <= 0)
		o->connect_timeout_ms = BS__SYNC_CONNECT_MS;
	if (o->timeout_ms <= 0)
		o->timeout_ms = BS__SYNC_TIMEOUT_MS;
	if (o->batch == 0)
		o->batch = BS__SYNC_BATCH;
	if (o->batch > BS__WIRE_MAX_BATCH)
		o->batch = BS__WIRE_MAX_BATCH;
	if (o->page == 0)
		o->page = BS__SYNC_PAGE;
	if (o->page > BS__WIRE_MAX_PAGE)
		o->page = BS__WIRE_MAX_PAGE;
}

/* Close and destroy the store of a revoked device; *stp becomes NULL. */
static int wipe(bs_store **stp)
{
	char dir[4096];
	const char *path = bs__store_db_path(*stp);
	char *slash;
	int rc;

	if (path == NULL || strlen(path) >= sizeof(dir))
		return bs__error(BS_ERR, "cannot find the store's folder");
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	bs_store_close(*stp);
	*stp = NULL;
	rc = bs_store_wipe(dir);
	if (rc != BS_OK)
		return bs__sync_because(BS_EREVOKED, "head office has revoked "
					"this device, but its store could not "
					"be wiped");
	return bs__error(BS_EREVOKED, "head office has revoked this device: "
			 "its store has been wiped");
}

int bs_sync_round(bs_store **stp, const bs_sync_opts *opts,
		  bs_sync_report *report)
{
	bs_sync_report local;
	struct bs__round r;
	int64_t revoked;
	int rc, have;

	bs__json_init();
	memset(&r, 0, sizeof(r));
	mbedtls_pk_init(&r.net.key);
	r.rep = report != NULL ? report : &local;
	memset(r.rep, 0, sizeof(*r.rep));
	if (stp == NULL || *stp == NULL || bs_store_db(*stp) == NULL)
		return bs__error(BS_EINVAL, "no open store");
	r.st = *stp;
	r.db = bs_store_db(r.st);
	bs__sync_defaults(&r.o, opts);
	if ((rc = bs__ss_int(r.db, BS__SK_REVOKED, &revoked, &have)) != BS_OK)
		return rc;
	if (have && revoked)
		return wipe(stp);
	if ((rc = bs__sync_connect(&r.net, r.db, &r.o)) != BS_OK)
		return rc;
	rc = bs__sync_push(&r);
	if (rc == BS_OK)
		rc = bs__sync_pull(&r);
	r.rep->offset_ms = r.net.clock.offset_ms;
	if (rc == BS_EREVOKED) {
		bs__net_close(&r.net);
		/* Best effort: if it fails, the hub says it again. */
		bs__ss_put_int(r.db, BS__SK_REVOKED, 1);
		return wipe(stp);
	}
	if (rc == BS_OK) {
		int64_t cur;

		if ((rc = bs__ss_put_int(r.db, BS__SK_LAST_ROUND,
					 bs_os_now_ms())) == BS_OK &&
		    (rc = bs__ss_int(r.db, BS__SK_CURSOR, &cur, &have)) ==
			    BS_OK)
			r.rep->cursor = cur;
	} else {
		/* What the answers taught about the clock is worth keeping
		 * even when the round failed. */
		char msg[600];

		snprintf(msg, sizeof(msg), "%s", bs_last_error());
		bs__sync_save_clock(r.db, &r.net.clock);
		bs__error(rc, "%s", msg);
	}
	bs__net_close(&r.net);
	return rc;
}
