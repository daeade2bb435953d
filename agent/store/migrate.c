/*
 * migrate.c - the schema migration runner.
 *
 * First the list is checked (names, numbering), because a bad list is a
 * bug in the build and must never touch a store.  Then each missing
 * migration runs in a transaction of its own.  The version is read again
 * once that transaction holds the write lock: two processes opening the
 * same store at once must not both apply migration N, and the second one
 * finds the work done and simply moves on.  SQLite's failures are mapped
 * onto branchsync's codes at the end of the file.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/core/common.h"
#include "migrate.h"

static int sql_error(sqlite3 *db, const char *fmt, ...) BS__PRINTF(2, 3);

/*
 * The version a migration file name stands for: NNN of "NNN_x.sql", or
 * -1 if the name does not have that shape.  Exactly three digits, so that
 * sorting names as text (the build does) sorts them by number too.
 */
static int name_version(const char *name)
{
	size_t len;
	int i, v = 0;

	if (name == NULL)
		return -1;
	len = strlen(name);
	/* "NNN_" + at least one character + ".sql" */
	if (len < 9 || name[3] != '_' || strcmp(name + len - 4, ".sql") != 0)
		return -1;
	for (i = 0; i < 3; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	return v;
}

int bs__migrate_latest(const struct bs__embedded *list)
{
	int i, v;

	if (list == NULL)
		return bs__error(BS_EINVAL, "no migration list");
	for (i = 0; list[i].name != NULL; i++) {
		v = name_version(list[i].name);
		if (v < 0)
			return bs__error(BS_EINVAL,
					 "migration file name \"%s\" is not "
					 "NNN_name.sql",
					 list[i].name);
		if (v != i + 1)
			return bs__error(BS_EINVAL,
					 "migration %s is number %d but should "
					 "be %d: numbers run 1, 2, 3... "
					 "without gaps",
					 list[i].name, v, i + 1);
		if (list[i].text == NULL)
			return bs__error(BS_EINVAL, "migration %s has no text",
					 list[i].name);
	}
	return i;
}

/*
 * Run one statement that returns nothing; on failure the message is
 * "what name: reason".
 */
static int exec(sqlite3 *db, const char *sql, const char *what,
		const char *name)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sql_error(db, "%s %s", what, name);
	return BS_OK;
}

/* Read the integer a pragma such as "PRAGMA user_version" returns. */
static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
	sqlite3_stmt *st = NULL;
	int rc = BS_OK;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		rc = sql_error(db, "cannot read %s", sql);
		goto cleanup;
	}
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		*out = sqlite3_column_int(st, 0);
		break;
	case SQLITE_DONE:
		*out = 0;
		break;
	default:
		rc = sql_error(db, "cannot read %s", sql);
		goto cleanup;
	}
cleanup:
	sqlite3_finalize(st);
	return rc;
}

/*
 * The store's version, refused if this build cannot work with it.  A
 * newer store is not an error of the store: it was written by a newer
 * build and this one must not guess at tables it does not know.
 */
static int store_version(sqlite3 *db, int latest, int *out)
{
	int rc;

	if ((rc = pragma_int(db, "PRAGMA user_version", out)) != BS_OK)
		return rc;
	if (*out < 0)
		return bs__error(BS_EINVAL, "store schema version %d is not "
					    "valid", *out);
	if (*out > latest)
		return bs__error(BS_EINVAL,
				 "store schema version %d is newer than this "
				 "build (%d)",
				 *out, latest);
	return BS_OK;
}

/*
 * A migration may rebuild a table with foreign keys switched off; this
 * is where a mistake in such a rebuild is caught, before it commits.
 */
static int check_foreign_keys(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = NULL;
	int rc = BS_OK;

	if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st,
			       NULL) != SQLITE_OK) {
		rc = sql_error(db, "cannot check foreign keys after %s",
			       name);
		goto cleanup;
	}
	switch (sqlite3_step(st)) {
	case SQLITE_DONE:
		break;
	case SQLITE_ROW:
		rc = bs__error(BS_EIO,
			       "migration %s failed: a row of table %s "
			       "breaks a foreign key to table %s",
			       name, (const char *)sqlite3_column_text(st, 0),
			       (const char *)sqlite3_column_text(st, 2));
		goto cleanup;
	default:
		rc = sql_error(db, "cannot check foreign keys after %s",
			       name);
		goto cleanup;
	}
cleanup:
	sqlite3_finalize(st);
	return rc;
}

/*
 * Take the store from version - 1 to version with migration m, in one
 * transaction.  On failure that transaction is rolled back, so nothing
 * of m stays behind, and the error is returned.
 */
static int apply_one(sqlite3 *db, const struct bs__embedded *m, int version,
		     int latest)
{
	char sql[48];
	int rc, cur;

	if ((rc = exec(db, "BEGIN IMMEDIATE", "cannot start migration",
		       m->name)) != BS_OK)
		return rc;
	if ((rc = store_version(db, latest, &cur)) != BS_OK)
		goto cleanup;
	if (cur >= version)
		goto cleanup; /* Another connection got here first. */
	if (sqlite3_exec(db, m->text, NULL, NULL, NULL) != SQLITE_OK) {
		rc = sql_error(db, "migration %s failed", m->name);
		goto cleanup;
	}
	if (sqlite3_get_autocommit(db)) {
		/* Its work is committed without the version: a build bug. */
		rc = bs__error(BS_EINVAL,
			       "migration %s ended its own transaction; "
			       "migrations must not use BEGIN, COMMIT or "
			       "ROLLBACK",
			       m->name);
		goto cleanup;
	}
	if ((rc = check_foreign_keys(db, m->name)) != BS_OK)
		goto cleanup;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version);
	if ((rc = exec(db, sql, "cannot record the version of", m->name)) !=
	    BS_OK)
		goto cleanup;
	rc = exec(db, "COMMIT", "cannot commit migration", m->name);
cleanup:
	/*
	 * Some failures (I/O, out of memory) make SQLite roll back by
	 * itself; only a transaction still open needs ending here.  The
	 * message of the first failure is kept.
	 */
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

int bs__migrate(sqlite3 *db, const struct bs__embedded *list)
{
	int latest, cur, fk = 0, fk_was_on = 0, rc, v;

	if (db == NULL)
		return bs__error(BS_EINVAL, "no database to migrate");
	if ((latest = bs__migrate_latest(list)) < 0)
		return latest;
	if (!sqlite3_get_autocommit(db))
		return bs__error(BS_EINVAL, "schema migrations must run "
					    "outside a transaction");
	if ((rc = store_version(db, latest, &cur)) != BS_OK)
		return rc;
	if (cur == latest)
		return BS_OK;

	/*
	 * PRAGMA foreign_keys is ignored inside a transaction, so it is
	 * switched here, around all of them, as SQLite's own procedure for
	 * rebuilding a table asks.  check_foreign_keys() still runs in each
	 * transaction.
	 */
	if ((rc = pragma_int(db, "PRAGMA foreign_keys", &fk)) != BS_OK)
		return rc;
	if (fk) {
		if ((rc = exec(db, "PRAGMA foreign_keys = OFF",
			       "cannot switch foreign keys off for",
			       list[cur].name)) != BS_OK)
			return rc;
		fk_was_on = 1;
	}
	for (v = cur + 1; v <= latest; v++) {
		if ((rc = apply_one(db, &list[v - 1], v, latest)) != BS_OK)
			goto cleanup;
	}
cleanup:
	if (fk_was_on &&
	    sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) !=
		    SQLITE_OK &&
	    rc == BS_OK)
		rc = sql_error(db, "cannot switch foreign keys back on "
				   "after %s",
			       list[latest - 1].name);
	return rc;
}

/*
 * SQLite's result codes mapped onto branchsync's.  The extended code is
 * read from the connection because SQLITE_IOERR_DATA, which a page that
 * fails authentication produces, is what tells a damaged store from an
 * ordinary I/O failure.
 */
static int map_code(int xrc)
{
	switch (xrc & 0xff) {
	case SQLITE_NOMEM:
		return BS_ENOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return BS_EDAMAGED;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return BS_EBUSY;
	case SQLITE_IOERR:
		if (xrc == SQLITE_IOERR_DATA)
			return BS_EDAMAGED;
		if (xrc == SQLITE_IOERR_NOMEM)
			return BS_ENOMEM;
		return BS_EIO;
	}
	return BS_EIO;
}

/*
 * Record SQLite's last failure on db as "<fmt...>: <SQLite's reason>" and
 * return the mapped code.
 */
static int sql_error(sqlite3 *db, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	int xrc = sqlite3_extended_errcode(db);

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return bs__error(map_code(xrc), "%s: %s", what, sqlite3_errmsg(db));
}
