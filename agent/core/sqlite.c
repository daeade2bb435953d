/*
 * sqlite.c - process-wide SQLite set-up (see sqlite.h).
 */
#include <pthread.h>

#include <sqlite3.h>

#include "sqlite.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void setup(void)
{
	/* SQLITE_MISUSE if SQLite was initialised already: then its
	 * settings stay as they are. */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	(void)sqlite3_initialize();
}

void bs__sqlite_setup(void)
{
	(void)pthread_once(&once, setup);
}
