/*
 * pg.h - a throwaway PostgreSQL server for the hub's tests.
 *
 * tu_pg_start() makes a private folder, runs initdb in it and starts the
 * server on a free loopback port with its socket in the same folder.
 * Under root the server runs as the unprivileged user "postgres" (made
 * by Debian's package), else "nobody"; the folder is theirs.  The server
 * is stopped and its folder removed by tu_pg_stop(), which also runs at
 * exit and on SIGINT, SIGTERM and SIGHUP; a test process that dies any
 * other way (SIGKILL, a sanitizer's abort) takes the server with it,
 * which is started to receive SIGQUIT when its parent dies.
 *
 * The server's programs are found under /usr/lib/postgresql/VERSION/bin
 * (the newest), or in $BS_TEST_PG_BINDIR.  `make check` installs them
 * (platform/deps.sh check).  A test that cannot have a server fails,
 * loudly: these functions print why on stderr and return -1.
 */
#ifndef BS_TEST_PG_H
#define BS_TEST_PG_H

#include <stddef.h>

/* Start the server, once per process.  0, or -1 (see above). */
int tu_pg_start(void);

/*
 * Create database name (letters, digits, _) on the server; its
 * postgresql:// URL into url.  0, or -1.
 */
int tu_pg_createdb(char *url, size_t cap, const char *name);

/*
 * Run sql on database name through psql: the rows it prints, one a line,
 * columns separated by '|', in a malloc'd string (free it); NULL if psql
 * failed (its message is on stderr).
 */
char *tu_pg_sql(const char *name, const char *sql);

/* Stop the server and remove its folder.  Safe to call more than once,
 * and a no-op in a child process of the one that started it. */
void tu_pg_stop(void);

#endif
