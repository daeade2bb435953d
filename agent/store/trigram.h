/*
 * trigram.h - the tokenizer of the store's full-text indexes.
 *
 * "bs_trigram" cuts a text into every run of three characters (code
 * points), as SQLite's own "trigram" tokenizer does, and folds ASCII
 * letters to lower case.  It reads each character once; the built-in
 * one decodes and case-folds every character three times, once for each
 * trigram it is part of, which was half of what indexing a pulled page
 * cost.
 *
 * Only ASCII is folded.  Search checks every row the index finds with
 * LIKE against the text itself, and LIKE ignores the case of ASCII
 * letters only, so folding other scripts in the index (as the built-in
 * tokenizer does) let it find rows that the check then refused: results
 * are the same either way.  schema/agent/README.md has the search rules.
 *
 * Every connection that writes tickets or timeline entries, or searches
 * them, needs the tokenizer: the store registers it when it opens its
 * connection, before the schema is migrated.
 */
#ifndef BS_STORE_TRIGRAM_H
#define BS_STORE_TRIGRAM_H

#include <sqlite3.h>

/*
 * Register "bs_trigram" with FTS5 on db.  BS_OK, or BS_ERR with the
 * error set if this SQLite has no FTS5.
 */
int bs__trigram_register(sqlite3 *db);

#endif
