/*
 * trigram.c - the "bs_trigram" FTS5 tokenizer (see trigram.h).
 *
 * One pass over the text keeps where the last three characters began.
 * Each character completes the trigram that starts two characters back,
 * which is handed to FTS5 as bytes of the text itself, or of a copy with
 * ASCII upper case folded if the text has any.  A byte that cannot start
 * a UTF-8 sequence counts as one character, and a sequence cut short by
 * the end of the text ends there: the store only holds valid UTF-8, and
 * whatever the bytes, the same text always gives the same tokens, which
 * is all an index and its queries need.
 */
#include <string.h>

#include <sqlite3.h>

#include "agent/core/common.h"
#include "trigram.h"

#define FOLD_STACK 1024 /* texts up to this are folded on the stack */

/* The one tokenizer object: it has no options and no state. */
static int tokenizer_object;

static int tri_create(void *ctx, const char **argv, int argc,
		      Fts5Tokenizer **out)
{
	(void)ctx;
	(void)argv;
	*out = NULL;
	if (argc != 0)
		return SQLITE_ERROR; /* bs_trigram takes no options */
	*out = (Fts5Tokenizer *)&tokenizer_object;
	return SQLITE_OK;
}

static void tri_delete(Fts5Tokenizer *t)
{
	(void)t;
}

/* Bytes in the UTF-8 sequence whose first byte is b. */
static int seq_len(unsigned char b)
{
	if (b < 0xc0)
		return 1; /* ASCII, or a stray continuation byte */
	if (b < 0xe0)
		return 2;
	if (b < 0xf0)
		return 3;
	return 4;
}

static int tri_tokenize(Fts5Tokenizer *t, void *ctx, int flags,
			const char *text, int n,
			int (*token)(void *, int, const char *, int, int, int))
{
	char stack[FOLD_STACK];
	char *folded = NULL;
	const char *s = text;
	int start[3]; /* where the last three characters began */
	int i, k, len, rc = SQLITE_OK;

	(void)t;
	(void)flags;
	if (text == NULL || n < 3)
		return SQLITE_OK;
	for (i = 0; i < n; i++)
		if (text[i] >= 'A' && text[i] <= 'Z')
			break;
	if (i < n) {
		folded = n <= FOLD_STACK ? stack : sqlite3_malloc(n);
		if (folded == NULL)
			return SQLITE_NOMEM;
		memcpy(folded, text, (size_t)n);
		for (; i < n; i++)
			if (folded[i] >= 'A' && folded[i] <= 'Z')
				folded[i] = (char)(folded[i] + ('a' - 'A'));
		s = folded;
	}
	for (i = 0, k = 0; i < n && rc == SQLITE_OK; k++) {
		start[k % 3] = i;
		len = seq_len((unsigned char)s[i]);
		i = len < n - i ? i + len : n;
		if (k >= 2) {
			int from = start[(k - 2) % 3];

			rc = token(ctx, 0, s + from, i - from, from, i);
		}
	}
	if (folded != NULL && folded != stack)
		sqlite3_free(folded);
	return rc;
}

int bs__trigram_register(sqlite3 *db)
{
	static fts5_tokenizer tri = { tri_create, tri_delete, tri_tokenize };
	fts5_api *api = NULL;
	sqlite3_stmt *st = NULL;
	int src;

	src = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL);
	if (src == SQLITE_OK) {
		sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
		(void)sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (api == NULL)
		return bs__error(BS_ERR, "this SQLite has no full-text search "
					 "(FTS5)");
	src = api->xCreateTokenizer(api, "bs_trigram", NULL, &tri, NULL);
	if (src != SQLITE_OK)
		return bs__error(BS_ERR, "full-text tokenizer: %s",
				 sqlite3_errstr(src));
	return BS_OK;
}
