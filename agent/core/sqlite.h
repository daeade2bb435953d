/*
 * sqlite.h - how every SQLite connection of the process is set up before
 * the first one opens: the agent's store and the hub's embedded default
 * share it.
 *
 * SQLite keeps a count of the memory it has allocated, under one mutex
 * for the whole process, for sqlite3_memory_used() and the soft heap
 * limit, neither of which branchsync uses.  Every allocation and free
 * took that mutex (its lock and unlock were about 4 % of the profile of
 * the thread applying a pull), and every worker thread of the hub
 * contended for it.  The count is turned off.
 */
#ifndef BS_CORE_SQLITE_H
#define BS_CORE_SQLITE_H

/*
 * Configure and initialise SQLite, once per process; call it before
 * opening a connection.  If the process initialised SQLite already (a
 * program that embeds the library and opened a database of its own),
 * that configuration stands.  Cannot fail.
 */
void bs__sqlite_setup(void);

#endif
