/*
 * admin.h - the admin commands of branchsync-hub (admin.c).  Each runs
 * against the store the server uses, prints its result on stdout and
 * returns BS_OK or an error with a one-line message.
 */
#ifndef BS_HUB_ADMIN_H
#define BS_HUB_ADMIN_H

#include <stdint.h>

#include "hub/store.h"

int bs__hub_admin_enroll_code(bs_hub_store *st, const char *dir,
			      const char *branch, const char *staff,
			      const char *role, int64_t ttl_ms);
int bs__hub_admin_devices(bs_hub_store *st);
int bs__hub_admin_revoke(bs_hub_store *st, const char *device);
int bs__hub_admin_import(bs_hub_store *st, const char *file);
int bs__hub_admin_assign(bs_hub_store *st, const char *ticket,
			 const char *branch, const char *staff);
int bs__hub_admin_move(bs_hub_store *st, const char *ticket,
		       const char *state, const char *reason,
		       const char *target);
int bs__hub_admin_export(bs_hub_store *st);
int bs__hub_admin_report(bs_hub_store *st);

#endif
