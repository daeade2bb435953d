/*
 * schema_fns.h - what the store's schema needs from the program on every
 * connection: the "bs_trigram" full-text tokenizer (trigram.h) and the
 * functions its CHECK constraints call.
 *
 * bs_is_uuid(x) is 1 if x is a UUID in canonical text form (36
 *   characters, lower-case hex, dashes after the 8th, 12th, 16th and
 *   20th digit), else 0.
 * bs_is_hex(x, n) is 1 if x is exactly n lower-case hex digits, else 0.
 *
 * Both are NULL for a NULL x, so that a CHECK on a column that may be
 * NULL passes it; 0 for a BLOB; and both look at a text (or the text
 * of a number) up to its first NUL byte only.  That is what the SQL they replace accepted: schema version 6
 * (006_id_checks.sql) rebuilt ticket and activity with them in place of
 * GLOB patterns, which cost about 6 % of a pull's applying thread.
 *
 * A connection without them cannot write those tables ("no such
 * function"), and one without the tokenizer cannot use the full-text
 * indexes: the store registers both when it opens its connection,
 * before the schema is migrated.
 */
#ifndef BS_STORE_SCHEMA_FNS_H
#define BS_STORE_SCHEMA_FNS_H

#include <sqlite3.h>

/* Register the tokenizer and the functions on db.  BS_OK or BS_ERR. */
int bs__schema_fns(sqlite3 *db);

#endif
