/*
 * schema_fns.c - the tokenizer and CHECK functions of the store's schema
 * (see schema_fns.h).
 */
#include <string.h>

#include <sqlite3.h>

#include "agent/core/common.h"
#include "schema_fns.h"
#include "trigram.h"

static int is_hex_digit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* The text of v up to its first NUL, or NULL with the result set: NULL
 * for NULL, 0 for a BLOB (a STRICT table refuses a BLOB in a TEXT
 * column before any CHECK), an error if SQLite ran out of memory. */
static const char *text_of(sqlite3_context *ctx, sqlite3_value *v)
{
	const char *s;

	if (sqlite3_value_type(v) == SQLITE_NULL) {
		sqlite3_result_null(ctx);
		return NULL;
	}
	if (sqlite3_value_type(v) == SQLITE_BLOB) {
		sqlite3_result_int(ctx, 0);
		return NULL;
	}
	s = (const char *)sqlite3_value_text(v);
	if (s == NULL)
		sqlite3_result_error_nomem(ctx);
	return s;
}

static void fn_is_uuid(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *s = text_of(ctx, argv[0]);
	int i, ok = 1;

	(void)argc;
	if (s == NULL)
		return;
	for (i = 0; i < 36 && ok; i++)
		ok = (i == 8 || i == 13 || i == 18 || i == 23)
			     ? s[i] == '-'
			     : is_hex_digit(s[i]);
	sqlite3_result_int(ctx, ok && s[36] == '\0');
}

static void fn_is_hex(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *s = text_of(ctx, argv[0]);
	sqlite3_int64 n = sqlite3_value_int64(argv[1]);
	sqlite3_int64 i;

	(void)argc;
	if (s == NULL)
		return;
	for (i = 0; i < n && is_hex_digit(s[i]); i++)
		;
	sqlite3_result_int(ctx, i == n && s[i] == '\0');
}

int bs__schema_fns(sqlite3 *db)
{
	const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC |
			  SQLITE_INNOCUOUS;
	int rc;

	if ((rc = bs__trigram_register(db)) != BS_OK)
		return rc;
	if (sqlite3_create_function(db, "bs_is_uuid", 1, flags, NULL,
				    fn_is_uuid, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(db, "bs_is_hex", 2, flags, NULL,
				    fn_is_hex, NULL, NULL) != SQLITE_OK)
		return bs__error(BS_ERR, "register the store's SQL functions: "
					 "%s",
				 sqlite3_errmsg(db));
	return BS_OK;
}
