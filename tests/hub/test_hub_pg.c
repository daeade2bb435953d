/*
 * test_hub_pg.c - the hub's protocol suite (test_hub.c) again, with the
 * hub on PostgreSQL: a throwaway server that the suite starts on a
 * loopback port and stops at the end (tests/support/pg.h).  Every case,
 * every expected status and reason is the same as on SQLite: the two
 * backends must not be told apart from outside.
 */
#define BS_TEST_HUB_DB_DEFAULT "postgres"
#include "test_hub.c"
