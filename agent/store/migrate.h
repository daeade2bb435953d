/*
 * migrate.h - brings a store's schema up to the version this build
 * knows, one numbered SQL file at a time.
 *
 * The migrations are schema/agent/NNN_name.sql, compiled into the binary
 * (bs__migrations in agent/core/embed.h).  File NNN takes the store to
 * schema version NNN, recorded in PRAGMA user_version.  Files are only
 * ever added: a file that has shipped is never edited, because stores in
 * the field have already run it.  schema/agent/README.md has the rules.
 */
#ifndef BS_STORE_MIGRATE_H
#define BS_STORE_MIGRATE_H

#include <sqlite3.h>

#include "agent/core/embed.h"

/*
 * Apply to db, in order, every migration of list whose number is greater
 * than the store's user_version.  Each runs in its own BEGIN IMMEDIATE
 * transaction together with the new user_version, and is checked with
 * PRAGMA foreign_key_check before it commits, so a store is always at
 * exactly one version: a failure rolls that migration back and leaves
 * the store at the version before it.  Foreign key enforcement is
 * switched off while migrations run (so that a migration may rebuild a
 * table) and restored afterwards.
 *
 * db must not be inside a transaction.  list is the NULL-terminated array
 * of struct bs__embedded, normally bs__migrations, borrowed for the call.
 *
 * Returns BS_OK (also when there was nothing to do) or:
 *   BS_EINVAL   list is malformed (see bs__migrate_latest()), db is inside
 *               a transaction, or the store's version is newer than the
 *               newest migration of list (a store written by a newer
 *               build) or negative;
 *   BS_ENOMEM, BS_EDAMAGED, BS_EBUSY, BS_EIO   SQLite failed; the
 *               message names the migration file and SQLite's reason.
 * bs_last_error() holds a one-line message in every case.
 */
int bs__migrate(sqlite3 *db, const struct bs__embedded *list);

/*
 * The newest schema version list describes, that is the number of its
 * last file (0 for an empty list).  Returns BS_EINVAL with a message if
 * list is malformed: a name that is not NNN_name.sql (three digits, an
 * underscore, at least one character, ".sql"), text missing, or numbers
 * that do not run 1, 2, 3... in order.  Such a list is a mistake in the
 * build, never in a store.
 */
int bs__migrate_latest(const struct bs__embedded *list);

#endif
