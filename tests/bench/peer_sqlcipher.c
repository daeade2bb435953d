/*
 * peer_sqlcipher.c - the store benchmark's peer: the workload of
 * workload.c on Debian's SQLCipher (libsqlcipher-dev), run by
 * bench_store as "peer_sqlcipher --engine sqlcipher DIR".
 *
 * It is built against SQLCipher's sqlite3.h and library only, never with
 * libsqlite3 or libbranchsync: both libraries export the same symbols.
 *
 * The key is given raw (x'...'), so SQLCipher runs no key derivation, as
 * the store's derivation is not measured either.  Debian's SQLCipher is
 * 3.4.1 and defaults to 1 KiB pages; cipher_page_size=4096 gives it the
 * store's and plain SQLite's page size, so that the three engines move
 * the same number of pages.  Its other settings are its defaults:
 * AES-256-CBC with HMAC-SHA1 per page, through OpenSSL.
 *
 * "--engine sqlite315 DIR" runs the same library without a key, which is
 * plain SQLite 3.15.2: the control that tells SQLCipher's cipher apart
 * from the older SQLite it is built on.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "workload.h"

/* A fixed raw key: the benchmark protects nothing. */
#define RAW_KEY                                                           \
	"\"x'2dd29ca851e7b56e4697b0e1f085072"                                \
	"93d761a05ce4d1b628663f411a8086d99'\""

static int exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "bench: sqlcipher: %s: %s\n", sql,
			err ? err : "?");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

/* The first row of a pragma, or "?". */
static void pragma(sqlite3 *db, const char *sql, char *buf, size_t cap)
{
	sqlite3_stmt *st = NULL;

	snprintf(buf, cap, "?");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(buf, cap, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

/* Run the workload in dir, with SQLCipher's cipher if keyed. */
static int run(const char *dir, int keyed)
{
	char path[PATH_MAX];
	char version[64];
	char cipher[64];
	char provider[96];
	wl_engine e = { keyed ? "sqlcipher" : "sqlite315", NULL, NULL, NULL };
	sqlite3 *db = NULL;
	int rc = 1;

	snprintf(path, sizeof(path), "%s/%s.db", dir, e.name);
	if (mkdir(dir, 0700) != 0 ||
	    sqlite3_open_v2(path, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		fprintf(stderr, "bench: %s: cannot open %s\n", e.name, path);
		goto cleanup;
	}
	sqlite3_busy_timeout(db, 5000);
	if (!keyed) {
		printf("info cipher none (SQLCipher's library without a "
		       "key)\n");
	} else {
		/* The key and the page size come before anything touches
		 * the file. */
		if (exec(db, "PRAGMA key = " RAW_KEY ";"
			     "PRAGMA cipher_page_size = 4096;") != 0)
			goto cleanup;
		pragma(db, "PRAGMA cipher_version", version, sizeof(version));
		pragma(db, "PRAGMA cipher", cipher, sizeof(cipher));
		pragma(db, "PRAGMA cipher_provider_version", provider,
		       sizeof(provider));
		printf("info cipher %s + HMAC-SHA1, SQLCipher %s (%s)\n",
		       cipher, version, provider);
	}
	e.db = db;
	if (wl_pragmas(db) == 0 && wl_serve(&e, path, stdin, stdout) == 0)
		rc = 0;
cleanup:
	sqlite3_close(db);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--engine") == 0 &&
	    strcmp(argv[2], "sqlcipher") == 0)
		return run(argv[3], 1);
	if (argc == 4 && strcmp(argv[1], "--engine") == 0 &&
	    strcmp(argv[2], "sqlite315") == 0)
		return run(argv[3], 0);
	fprintf(stderr, "usage: %s --engine sqlcipher|sqlite315 DIR\n",
		argv[0]);
	return 2;
}
