/*
 * store_postgres.c - the PostgreSQL backend of store.h.  Not written
 * yet: a hub asked for a postgresql:// database says so clearly.
 */
#include <stddef.h>

#include "hub/store.h"

const struct bs_hub_store_ops *bs__hub_postgres_ops_get(void)
{
	return NULL;
}
